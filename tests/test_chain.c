/* Call chains: roots, extend, prune, last hop, counting, validation. */
#include "chain.h"
#include "xbt_main.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

static void test_root(void)
{
    xb_error_t err;
    char *root = xb_chain_root("hello", "4f2a9b0c", &err);
    CU_ASSERT_STRING_EQUAL(root ? root : "", "system.hello.c-4f2a9b0c");
    CU_ASSERT_EQUAL(xb_chain_hops(root), 0);
    CU_ASSERT_TRUE(xb_chain_is_valid(root));
    CU_ASSERT_PTR_NULL(xb_chain_last_hop(root));
    free(root);
    /* Organism names follow the name rule: dashes and underscores are fine. */
    root = xb_chain_root("my-org_2", "ab", &err);
    CU_ASSERT_STRING_EQUAL(root ? root : "", "system.my-org_2.c-ab");
    free(root);
}

static bool is_token(const char *s)
{
    if (strlen(s) != XB_CHAIN_TOKEN_LEN)
        return false;
    for (int i = 0; i < XB_CHAIN_TOKEN_LEN; i++) {
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

static void test_random_roots(void)
{
    xb_error_t err;
    char *a = xb_chain_root("hello", NULL, &err);
    char *b = xb_chain_root("hello", NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(strncmp(a, "system.hello.c-", 15), 0);
    CU_ASSERT_TRUE(is_token(a + 15));
    CU_ASSERT_TRUE(is_token(b + 15));
    /* 64 random bits each: equal tokens would mean no randomness at all. */
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    free(a);
    free(b);
    char tok[XB_CHAIN_TOKEN_LEN + 1];
    CU_ASSERT_EQUAL(xb_chain_new_token(tok, &err), 0);
    CU_ASSERT_TRUE(is_token(tok));
}

static void test_bad_roots(void)
{
    xb_error_t err;
    const char *orgs[] = {"a.b", "", "1abc", "-x", "sp ace", NULL};
    for (size_t i = 0; i < sizeof orgs / sizeof orgs[0]; i++) {
        err.code = XB_OK;
        CU_ASSERT_PTR_NULL(xb_chain_root(orgs[i], "abcd", &err));
        CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    }
    const char *tokens[] = {"", "a.b", "a-b", "0123456789abcdef0123456789abcdef0"};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        err.code = XB_OK;
        CU_ASSERT_PTR_NULL(xb_chain_root("org", tokens[i], &err));
        CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    }
    char name[80];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    CU_ASSERT_PTR_NULL(xb_chain_root(name, "ab", &err));
    name[XB_CHAIN_NAME_MAX] = '\0';
    char *ok = xb_chain_root(name, "ab", &err);
    CU_ASSERT_PTR_NOT_NULL(ok);
    free(ok);
}

static void test_extend(void)
{
    xb_error_t err;
    char *c1 = xb_chain_extend("system.hello.c-1a", "console", &err);
    CU_ASSERT_STRING_EQUAL(c1 ? c1 : "", "system.hello.c-1a.console");
    char *c2 = xb_chain_extend(c1, "greet-er_2", &err);
    CU_ASSERT_STRING_EQUAL(c2 ? c2 : "", "system.hello.c-1a.console.greet-er_2");
    CU_ASSERT_EQUAL(xb_chain_hops(c2), 2);
    CU_ASSERT_STRING_EQUAL(xb_chain_last_hop(c2), "greet-er_2");
    /* A hop with a dot would break pruning: refused. */
    err.code = XB_OK;
    CU_ASSERT_PTR_NULL(xb_chain_extend(c2, "a.b", &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NULL(xb_chain_extend(c2, "", &err));
    CU_ASSERT_PTR_NULL(xb_chain_extend(c2, NULL, &err));
    CU_ASSERT_PTR_NULL(xb_chain_extend("not.a.chain", "x", &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    free(c1);
    free(c2);
}

static void test_prune(void)
{
    xb_error_t err;
    const char *chain = "system.hello.c-1a.console.greet-er.shout_er";
    char *p1 = xb_chain_prune(chain, &err);
    CU_ASSERT_STRING_EQUAL(p1 ? p1 : "", "system.hello.c-1a.console.greet-er");
    CU_ASSERT_STRING_EQUAL(xb_chain_last_hop(p1), "greet-er");
    char *p2 = xb_chain_prune(p1, &err);
    CU_ASSERT_STRING_EQUAL(p2 ? p2 : "", "system.hello.c-1a.console");
    /* Responding from the first hop: nobody to respond to. */
    err.code = XB_OK;
    CU_ASSERT_PTR_NULL(xb_chain_prune(p2, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    err.code = XB_OK;
    CU_ASSERT_PTR_NULL(xb_chain_prune("system.hello.c-1a", &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    err.code = XB_OK;
    CU_ASSERT_PTR_NULL(xb_chain_prune("garbage", &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    free(p1);
    free(p2);
}

static void test_conversation_root(void)
{
    xb_error_t err;
    char *r = xb_chain_conversation_root("system.o-1.c-ab12.console.greeter", &err);
    CU_ASSERT_STRING_EQUAL(r ? r : "", "system.o-1.c-ab12");
    free(r);
    r = xb_chain_conversation_root("system.o-1.c-ab12", &err);
    CU_ASSERT_STRING_EQUAL(r ? r : "", "system.o-1.c-ab12");
    free(r);
    CU_ASSERT_PTR_NULL(xb_chain_conversation_root("system.o-1", &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);

    CU_ASSERT_TRUE(xb_chain_in_conversation("system.o.c-12.a", "system.o.c-12"));
    CU_ASSERT_TRUE(xb_chain_in_conversation("system.o.c-12", "system.o.c-12"));
    /* A token that merely starts the same is another conversation. */
    CU_ASSERT_FALSE(xb_chain_in_conversation("system.o.c-123.a", "system.o.c-12"));
    CU_ASSERT_FALSE(xb_chain_in_conversation("system.o.c-1.a", "system.o.c-12"));
    CU_ASSERT_FALSE(xb_chain_in_conversation("system.o.c-12.a", "system.o.c-12.a"));
    CU_ASSERT_FALSE(xb_chain_in_conversation("system.p.c-12.a", "system.o.c-12"));
}

static void test_validity(void)
{
    const char *good[] = {
        "system.o.c-1",
        "system.hello.c-4f2a9b0c.console",
        "system.hello.c-4f2a9b0c.console.greeter.x-y_z",
        "system.system.c-A1.system",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CU_ASSERT_TRUE(xb_chain_is_valid(good[i]));
    const char *bad[] = {
        NULL,
        "",
        "system",
        "system.o",
        "system.o.c-",
        "system.o.x-1",
        "System.o.c-1",
        "system..c-1",
        "system.o.c-1.",
        "system.o.c-1..a",
        "system.o.c-1.a.",
        ".system.o.c-1",
        "system.o.c-1.9a",
        "system.o.c-1.a b",
        "system.o.c-1.a/b",
        "other.o.c-1.a",
        "system.o.c-1-2.a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_FALSE(xb_chain_is_valid(bad[i]));
        CU_ASSERT_EQUAL(xb_chain_hops(bad[i]), -1);
        CU_ASSERT_PTR_NULL(xb_chain_last_hop(bad[i]));
    }
    CU_ASSERT_EQUAL(xb_chain_hops("system.o.c-1.a.b.c"), 3);
    CU_ASSERT_TRUE(xb_chain_valid_name("list-ener_1"));
    CU_ASSERT_FALSE(xb_chain_valid_name("a.b"));
    CU_ASSERT_FALSE(xb_chain_valid_name("_a"));
    CU_ASSERT_FALSE(xb_chain_valid_name(NULL));
}

static const xbt_test_t chain_tests[] = {
    {"root", test_root},
    {"random roots differ", test_random_roots},
    {"bad organism or token", test_bad_roots},
    {"extend", test_extend},
    {"prune", test_prune},
    {"conversation root", test_conversation_root},
    {"validity", test_validity},
    {NULL, NULL},
};

XBT_SUITES({"chain", NULL, NULL, NULL, NULL, chain_tests});
