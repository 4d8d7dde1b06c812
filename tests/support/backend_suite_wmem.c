/* The working memory part of the shared backend suite (backend_suite.h):
 * xb_backend_wmem_put / get / list / drop of include/xmlbus/wmem.h, the same
 * on every backend. */
#include "backend_suite.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ----------------------------------------------------------------- */

static xb_backend_t *open_wmem_limited(long max_entries, size_t max_entry_bytes)
{
    xb_backend_config_t limits;
    xb_backend_config_defaults(&limits);
    limits.max_wmem_entries = max_entries;
    limits.max_wmem_entry_bytes = max_entry_bytes;
    return xb_backend_suite_open(&limits);
}

static xb_wmem_entry_t entry(const char *name, const char *text)
{
    return (xb_wmem_entry_t){name, text, strlen(text)};
}

static int put1(xb_backend_t *b, const char *conv, const char *name, const char *text)
{
    xb_wmem_entry_t e = entry(name, text);
    xb_error_t err;
    int rc = xb_backend_wmem_put(b, conv, 1, &e, &err);
    if (rc != 0)
        fprintf(stderr, "put %s/%s failed: %s\n", conv, name, err.message);
    return rc;
}

/* True when entry name of conv holds exactly text. */
static bool holds(xb_backend_t *b, const char *conv, const char *name, const char *text)
{
    xb_blob_t out = {0};
    xb_error_t err;
    int rc = xb_backend_wmem_get(b, conv, name, &out, &err);
    bool same = rc == 0 && out.len == strlen(text) && memcmp(out.data, text, out.len) == 0;
    free(out.data);
    return same;
}

/* True when conv has no entry name (get answers 1, not found). */
static bool absent(xb_backend_t *b, const char *conv, const char *name)
{
    xb_blob_t out = {(char *)"x", 1};
    xb_error_t err;
    int rc = xb_backend_wmem_get(b, conv, name, &out, &err);
    return rc == 1 && out.data == NULL && out.len == 0;
}

static size_t count_of(xb_backend_t *b, const char *conv)
{
    xb_wmem_list_t l = {0};
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_wmem_list(b, conv, &l, &err), 0);
    size_t n = l.count;
    xb_wmem_list_free(&l);
    return n;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_wmem_round_trip(void)
{
    xb_backend_t *b = xb_backend_suite_open(NULL);
    const char *conv = "system.hello.c-3f2a";
    static const char bin[] = {'<', 'b', '>', 0, 1, '<', '/', 'b', '>'};
    xb_wmem_entry_t es[] = {
        entry("zeta", "<z/>"), {"alpha.1", bin, sizeof bin}, entry("Mid_dle-2", "<m>middle</m>")};
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_backend_wmem_put(b, conv, 3, es, &err), 0);
    CU_ASSERT_TRUE(holds(b, conv, "zeta", "<z/>"));
    CU_ASSERT_TRUE(holds(b, conv, "Mid_dle-2", "<m>middle</m>"));
    xb_blob_t out = {0};
    CU_ASSERT_EQUAL(xb_backend_wmem_get(b, conv, "alpha.1", &out, &err), 0);
    CU_ASSERT_TRUE(out.len == sizeof bin && memcmp(out.data, bin, sizeof bin) == 0);
    free(out.data);
    CU_ASSERT_TRUE(absent(b, conv, "other"));

    xb_wmem_list_t l = {0};
    CU_ASSERT_EQUAL_FATAL(xb_backend_wmem_list(b, conv, &l, &err), 0);
    CU_ASSERT_EQUAL_FATAL(l.count, 3);
    CU_ASSERT_STRING_EQUAL(l.items[0].name, "Mid_dle-2"); /* strcmp order */
    CU_ASSERT_STRING_EQUAL(l.items[1].name, "alpha.1");
    CU_ASSERT_STRING_EQUAL(l.items[2].name, "zeta");
    CU_ASSERT_TRUE(l.items[1].data.len == sizeof bin &&
                   memcmp(l.items[1].data.data, bin, sizeof bin) == 0);
    xb_wmem_list_free(&l);
    CU_ASSERT_EQUAL(l.count, 0);

    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, conv, &err), 0);
    CU_ASSERT_EQUAL(count_of(b, conv), 0);
    CU_ASSERT_TRUE(absent(b, conv, "zeta"));
    CU_ASSERT_EQUAL(put1(b, conv, "zeta", "<again/>"), 0); /* a dropped memory starts anew */
    CU_ASSERT_TRUE(holds(b, conv, "zeta", "<again/>"));
    CU_ASSERT_EQUAL(count_of(b, conv), 1);
    xb_backend_suite_close(b);
}

static void test_wmem_replace(void)
{
    xb_backend_t *b = xb_backend_suite_open(NULL);
    const char *conv = "c-replace";
    CU_ASSERT_EQUAL(put1(b, conv, "a", "<a>1</a>"), 0);
    xb_wmem_entry_t es[] = {entry("a", "<a>2</a>"), entry("b", "<b/>")};
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, conv, 2, es, &err), 0);
    CU_ASSERT_TRUE(holds(b, conv, "a", "<a>2</a>"));
    CU_ASSERT_TRUE(holds(b, conv, "b", "<b/>"));
    CU_ASSERT_EQUAL(count_of(b, conv), 2);
    /* One name twice in a put: the later entry wins, counted once. */
    xb_wmem_entry_t twice[] = {entry("c", "<c>first</c>"), entry("c", "<c>second</c>")};
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, conv, 2, twice, &err), 0);
    CU_ASSERT_TRUE(holds(b, conv, "c", "<c>second</c>"));
    CU_ASSERT_EQUAL(count_of(b, conv), 3);
    xb_backend_suite_close(b);
}

/* A put that would exceed max_wmem_entries is refused whole: nothing of it
 * is written, not even the replacements before the refused entry. */
static void test_wmem_limit_entries(void)
{
    xb_backend_t *b = open_wmem_limited(2, 0);
    const char *conv = "c-limit";
    xb_wmem_entry_t first[] = {entry("a", "<a>1</a>"), entry("b", "<b>1</b>")};
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_backend_wmem_put(b, conv, 2, first, &err), 0);
    xb_wmem_entry_t over[] = {entry("a", "<a>2</a>"), entry("c", "<c/>")};
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, conv, 2, over, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, conv));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "entry c "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "max_wmem_entries 2"));
    CU_ASSERT_TRUE(holds(b, conv, "a", "<a>1</a>"));
    CU_ASSERT_TRUE(absent(b, conv, "c"));
    CU_ASSERT_EQUAL(count_of(b, conv), 2);
    /* Replacing at the limit is fine; the limit is per conversation. */
    CU_ASSERT_EQUAL(put1(b, conv, "b", "<b>2</b>"), 0);
    CU_ASSERT_TRUE(holds(b, conv, "b", "<b>2</b>"));
    CU_ASSERT_EQUAL(put1(b, "c-other", "c", "<c/>"), 0);
    xb_backend_suite_close(b);
}

static void test_wmem_limit_bytes(void)
{
    xb_backend_t *b = open_wmem_limited(0, 8);
    const char *conv = "c-bytes";
    xb_wmem_entry_t es[] = {entry("small", "<s/>"), entry("big", "<b>123</b>")};
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, conv, 2, es, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, conv));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "entry big "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "max_wmem_entry_bytes 8"));
    CU_ASSERT_TRUE(absent(b, conv, "small"));
    CU_ASSERT_EQUAL(count_of(b, conv), 0);
    CU_ASSERT_EQUAL(put1(b, conv, "exact", "<e>.</e>"), 0); /* 8 bytes fit */
    xb_backend_suite_close(b);
}

/* Conversations whose names are prefixes of each other never see each
 * other's entries, nor lose them to a drop. */
static void test_wmem_conversations_apart(void)
{
    xb_backend_t *b = xb_backend_suite_open(NULL);
    const char *convs[] = {"conv", "conv.a", "con", "conv*", "conv:x"};
    for (int i = 0; i < 5; i++) {
        char text[32];
        snprintf(text, sizeof text, "<v>%d</v>", i);
        CU_ASSERT_EQUAL(put1(b, convs[i], "x", text), 0);
        if (i % 2 == 0)
            CU_ASSERT_EQUAL(put1(b, convs[i], "only_even", text), 0);
    }
    for (int i = 0; i < 5; i++) {
        char text[32];
        snprintf(text, sizeof text, "<v>%d</v>", i);
        CU_ASSERT_TRUE(holds(b, convs[i], "x", text));
        CU_ASSERT_EQUAL(count_of(b, convs[i]), i % 2 == 0 ? 2u : 1u);
    }
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "conv", &err), 0);
    CU_ASSERT_EQUAL(count_of(b, "conv"), 0);
    CU_ASSERT_TRUE(holds(b, "conv.a", "x", "<v>1</v>"));
    CU_ASSERT_TRUE(holds(b, "con", "x", "<v>2</v>"));
    CU_ASSERT_EQUAL(count_of(b, "con"), 2);
    CU_ASSERT_EQUAL(count_of(b, "conv*"), 1);
    CU_ASSERT_EQUAL(count_of(b, "conv:x"), 2);
    /* Working memory is not a thread: the buffer does not see it. */
    xb_str_list_t threads = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_list_threads(b, &threads, &err), 0);
    CU_ASSERT_EQUAL(threads.count, 0);
    xb_str_list_free(&threads);
    xb_backend_suite_close(b);
}

static void test_wmem_empty_conversation(void)
{
    xb_backend_t *b = xb_backend_suite_open(NULL);
    xb_error_t err;
    xb_wmem_list_t l = {0};
    CU_ASSERT_EQUAL(xb_backend_wmem_list(b, "never-written", &l, &err), 0);
    CU_ASSERT_EQUAL(l.count, 0);
    CU_ASSERT_PTR_NULL(l.items);
    CU_ASSERT_TRUE(absent(b, "never-written", "a"));
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "never-written", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "never-written", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "never-written", 0, NULL, &err), 0);
    CU_ASSERT_EQUAL(count_of(b, "never-written"), 0);
    xb_backend_suite_close(b);
}

static void assert_arg_error(int rc, const xb_error_t *err)
{
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_EQUAL(err->code, XB_ERR_ARG);
}

static void test_wmem_bad_arguments(void)
{
    xb_backend_t *b = xb_backend_suite_open(NULL);
    xb_error_t err;
    const char *bad_names[] = {"",
                               "1abc",
                               "a b",
                               "a/b",
                               "é",
                               "<x>",
                               "a123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        xb_wmem_entry_t es[] = {entry("good", "<g/>"), entry(bad_names[i], "<x/>")};
        assert_arg_error(xb_backend_wmem_put(b, "c", 2, es, &err), &err);
        xb_blob_t out = {0};
        assert_arg_error(xb_backend_wmem_get(b, "c", bad_names[i], &out, &err), &err);
    }
    CU_ASSERT_TRUE(absent(b, "c", "good")); /* a bad entry refuses the whole put */
    xb_wmem_entry_t empty = {"e", "", 0}, null_name = {NULL, "<x/>", 4};
    assert_arg_error(xb_backend_wmem_put(b, "c", 1, &empty, &err), &err);
    assert_arg_error(xb_backend_wmem_put(b, "c", 1, &null_name, &err), &err);
    assert_arg_error(xb_backend_wmem_put(b, "c", 1, NULL, &err), &err);
    xb_wmem_entry_t ok = entry("ok", "<ok/>");
    assert_arg_error(xb_backend_wmem_put(b, "", 1, &ok, &err), &err);
    assert_arg_error(xb_backend_wmem_put(b, NULL, 1, &ok, &err), &err);
    assert_arg_error(xb_backend_wmem_get(b, "c", "ok", NULL, &err), &err);
    assert_arg_error(xb_backend_wmem_list(b, "", &(xb_wmem_list_t){0}, &err), &err);
    assert_arg_error(xb_backend_wmem_drop(b, NULL, &err), &err);
    CU_ASSERT_EQUAL(count_of(b, "c"), 0);
    /* The longest name is 63 bytes. */
    CU_ASSERT_EQUAL(
        put1(b, "c", "a12345678901234567890123456789012345678901234567890123456789012", "<l/>"), 0);
    xb_backend_suite_close(b);
}

static void test_wmem_name_valid(void)
{
    CU_ASSERT_TRUE(xb_wmem_name_valid("a"));
    CU_ASSERT_TRUE(xb_wmem_name_valid("_"));
    CU_ASSERT_TRUE(xb_wmem_name_valid("Plan.step-2_b"));
    CU_ASSERT_FALSE(xb_wmem_name_valid(NULL));
    CU_ASSERT_FALSE(xb_wmem_name_valid(""));
    CU_ASSERT_FALSE(xb_wmem_name_valid("-a"));
    CU_ASSERT_FALSE(xb_wmem_name_valid(".a"));
    CU_ASSERT_FALSE(xb_wmem_name_valid("a:b"));
    char name[XB_WMEM_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    name[XB_WMEM_NAME_MAX] = '\0';
    CU_ASSERT_TRUE(xb_wmem_name_valid(name));
    name[XB_WMEM_NAME_MAX] = 'n';
    name[XB_WMEM_NAME_MAX + 1] = '\0';
    CU_ASSERT_FALSE(xb_wmem_name_valid(name));
    xb_wmem_list_free(NULL);
}

const xbt_test_t xb_backend_suite_wmem_tests[] = {
    {"working memory put, get, list, drop", test_wmem_round_trip},
    {"working memory replaces by name", test_wmem_replace},
    {"working memory max_wmem_entries refuses a put whole", test_wmem_limit_entries},
    {"working memory max_wmem_entry_bytes refuses a put whole", test_wmem_limit_bytes},
    {"working memory of two conversations never mixes", test_wmem_conversations_apart},
    {"working memory of an unknown conversation", test_wmem_empty_conversation},
    {"working memory bad arguments", test_wmem_bad_arguments},
    {"working memory entry names", test_wmem_name_valid},
    {NULL, NULL},
};
