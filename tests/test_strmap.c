/* Tests of bus/strmap.c: the string-keyed hash map of the pump and the memory
 * backend (put, get, replace, remove, delete, clear, growth, foreach, count,
 * owned values). */
#include <CUnit/Basic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "xbt_main.h"

/* ---- borrowed values ------------------------------------------------------ */

static void test_put_get(void)
{
    xb_strmap_t *m = xb_strmap_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    int a = 1, b = 2;
    CU_ASSERT_EQUAL(xb_strmap_count(m), 0);
    CU_ASSERT_PTR_NULL(xb_strmap_get(m, "a"));
    CU_ASSERT_EQUAL(xb_strmap_put(m, "a", &a), 0);
    CU_ASSERT_EQUAL(xb_strmap_put(m, "b", &b), 0);
    CU_ASSERT_PTR_EQUAL(xb_strmap_get(m, "a"), &a);
    CU_ASSERT_PTR_EQUAL(xb_strmap_get(m, "b"), &b);
    CU_ASSERT_PTR_NULL(xb_strmap_get(m, "c"));
    CU_ASSERT_PTR_NULL(xb_strmap_get(m, "")); /* "" is a key like any other */
    CU_ASSERT_EQUAL(xb_strmap_put(m, "", &b), 0);
    CU_ASSERT_PTR_EQUAL(xb_strmap_get(m, ""), &b);
    CU_ASSERT_EQUAL(xb_strmap_count(m), 3);
    xb_strmap_destroy(&m);
    CU_ASSERT_PTR_NULL(m);
    xb_strmap_destroy(&m); /* twice is harmless */
}

static void test_keys_are_copied(void)
{
    xb_strmap_t *m = xb_strmap_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char key[16];
    int v = 7;
    snprintf(key, sizeof key, "thread-1");
    CU_ASSERT_EQUAL(xb_strmap_put(m, key, &v), 0);
    snprintf(key, sizeof key, "changed");
    CU_ASSERT_PTR_EQUAL(xb_strmap_get(m, "thread-1"), &v);
    CU_ASSERT_PTR_NULL(xb_strmap_get(m, "changed"));
    xb_strmap_destroy(&m);
}

static void test_replace(void)
{
    xb_strmap_t *m = xb_strmap_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    int a = 1, b = 2;
    CU_ASSERT_EQUAL(xb_strmap_put(m, "k", &a), 0);
    CU_ASSERT_EQUAL(xb_strmap_put(m, "k", &b), 0);
    CU_ASSERT_PTR_EQUAL(xb_strmap_get(m, "k"), &b);
    CU_ASSERT_EQUAL(xb_strmap_count(m), 1);
    xb_strmap_destroy(&m);
}

static void test_remove(void)
{
    xb_strmap_t *m = xb_strmap_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    int a = 1, b = 2;
    CU_ASSERT_EQUAL(xb_strmap_put(m, "a", &a), 0);
    CU_ASSERT_EQUAL(xb_strmap_put(m, "b", &b), 0);
    CU_ASSERT_PTR_EQUAL(xb_strmap_remove(m, "a"), &a);
    CU_ASSERT_PTR_NULL(xb_strmap_get(m, "a"));
    CU_ASSERT_PTR_EQUAL(xb_strmap_get(m, "b"), &b);
    CU_ASSERT_EQUAL(xb_strmap_count(m), 1);
    CU_ASSERT_PTR_NULL(xb_strmap_remove(m, "a")); /* already gone */
    CU_ASSERT_FALSE(xb_strmap_delete(m, "a"));
    CU_ASSERT_TRUE(xb_strmap_delete(m, "b")); /* borrowed: nothing freed */
    CU_ASSERT_EQUAL(b, 2);
    CU_ASSERT_EQUAL(xb_strmap_count(m), 0);
    CU_ASSERT_EQUAL(xb_strmap_put(m, "a", &b), 0); /* a removed key comes back */
    CU_ASSERT_PTR_EQUAL(xb_strmap_get(m, "a"), &b);
    xb_strmap_destroy(&m);
}

/* Far past the initial 64 buckets: every key stays reachable through the
 * doublings, and removing every other one leaves exactly the rest. */
static void test_grow_many(void)
{
    enum { N = 20000 };
    xb_strmap_t *m = xb_strmap_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    static int values[N];
    char key[32];
    for (int i = 0; i < N; i++) {
        values[i] = i;
        snprintf(key, sizeof key, "key-%d", i);
        CU_ASSERT_EQUAL_FATAL(xb_strmap_put(m, key, &values[i]), 0);
    }
    CU_ASSERT_EQUAL(xb_strmap_count(m), N);
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        wrong += xb_strmap_get(m, key) != &values[i];
    }
    CU_ASSERT_EQUAL(wrong, 0);
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof key, "key-%d", i);
        wrong += xb_strmap_remove(m, key) != &values[i];
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(xb_strmap_count(m), N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        void *want = i % 2 ? &values[i] : NULL;
        wrong += xb_strmap_get(m, key) != want;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    xb_strmap_destroy(&m);
}

typedef struct {
    size_t calls;
    long sum;
    bool bad_key;
} walk_t;

static void sum_cb(const char *key, void *value, void *user)
{
    walk_t *w = user;
    int v = *(int *)value;
    char want[32];
    snprintf(want, sizeof want, "k%d", v);
    w->bad_key |= strcmp(key, want) != 0;
    w->calls++;
    w->sum += v;
}

static void test_foreach_count(void)
{
    enum { N = 500 };
    xb_strmap_t *m = xb_strmap_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    static int values[N];
    char key[32];
    long want = 0;
    for (int i = 0; i < N; i++) {
        values[i] = i;
        want += i;
        snprintf(key, sizeof key, "k%d", i);
        CU_ASSERT_EQUAL(xb_strmap_put(m, key, &values[i]), 0);
    }
    CU_ASSERT_EQUAL(xb_strmap_remove(m, "k0"), &values[0]);
    CU_ASSERT_EQUAL(xb_strmap_remove(m, "k499"), &values[499]);
    want -= 499;
    walk_t w = {0};
    xb_strmap_foreach(m, sum_cb, &w);
    CU_ASSERT_EQUAL(w.calls, N - 2);
    CU_ASSERT_EQUAL(w.calls, xb_strmap_count(m));
    CU_ASSERT_EQUAL(w.sum, want);
    CU_ASSERT_FALSE(w.bad_key);
    xb_strmap_clear(m);
    CU_ASSERT_EQUAL(xb_strmap_count(m), 0);
    walk_t none = {0};
    xb_strmap_foreach(m, sum_cb, &none);
    CU_ASSERT_EQUAL(none.calls, 0);
    CU_ASSERT_EQUAL(xb_strmap_put(m, "k3", &values[3]), 0); /* usable after clear */
    CU_ASSERT_PTR_EQUAL(xb_strmap_get(m, "k3"), &values[3]);
    xb_strmap_destroy(&m);
}

static void test_null_arguments(void)
{
    int v = 1;
    CU_ASSERT_EQUAL(xb_strmap_put(NULL, "k", &v), -1);
    CU_ASSERT_PTR_NULL(xb_strmap_get(NULL, "k"));
    CU_ASSERT_PTR_NULL(xb_strmap_remove(NULL, "k"));
    CU_ASSERT_FALSE(xb_strmap_delete(NULL, "k"));
    CU_ASSERT_EQUAL(xb_strmap_count(NULL), 0);
    xb_strmap_clear(NULL);
    xb_strmap_foreach(NULL, sum_cb, NULL);
    xb_strmap_destroy(NULL);
    xb_strmap_t *m = xb_strmap_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(xb_strmap_put(m, NULL, &v), -1);
    CU_ASSERT_EQUAL(xb_strmap_count(m), 0);
    CU_ASSERT_PTR_NULL(xb_strmap_get(m, NULL));
    CU_ASSERT_PTR_NULL(xb_strmap_remove(m, NULL));
    xb_strmap_foreach(m, NULL, NULL);
    xb_strmap_destroy(&m);
}

/* ---- owned values ------------------------------------------------------------ */

/* Values that record their own release in a shared counter. */
typedef struct {
    int *freed;
    char name[16];
} owned_t;

static owned_t *owned_new(int *freed, const char *name)
{
    owned_t *o = calloc(1, sizeof *o);
    if (o) {
        o->freed = freed;
        snprintf(o->name, sizeof o->name, "%s", name);
    }
    return o;
}

static void owned_free(void *p)
{
    owned_t *o = p;
    (*o->freed)++;
    free(o);
}

static void test_owning_frees_values(void)
{
    int freed = 0;
    xb_strmap_t *m = xb_strmap_new_owning(owned_free);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    owned_t *a = owned_new(&freed, "a");
    owned_t *a2 = owned_new(&freed, "a2");
    owned_t *b = owned_new(&freed, "b");
    owned_t *c = owned_new(&freed, "c");
    CU_ASSERT_FATAL(a && a2 && b && c);
    CU_ASSERT_EQUAL(xb_strmap_put(m, "a", a), 0);
    CU_ASSERT_EQUAL(xb_strmap_put(m, "a", a), 0); /* the same pointer again: kept */
    CU_ASSERT_EQUAL(freed, 0);
    CU_ASSERT_EQUAL(xb_strmap_put(m, "a", a2), 0); /* replacing frees the old value */
    CU_ASSERT_EQUAL(freed, 1);
    CU_ASSERT_PTR_EQUAL(xb_strmap_get(m, "a"), a2);
    CU_ASSERT_EQUAL(xb_strmap_put(m, "b", b), 0);
    CU_ASSERT_EQUAL(xb_strmap_put(m, "c", c), 0);
    /* remove hands the value back without freeing it */
    CU_ASSERT_PTR_EQUAL(xb_strmap_remove(m, "c"), c);
    CU_ASSERT_EQUAL(freed, 1);
    owned_free(c);
    CU_ASSERT_EQUAL(freed, 2);
    /* delete frees it; the key may live inside the value */
    CU_ASSERT_TRUE(xb_strmap_delete(m, b->name));
    CU_ASSERT_EQUAL(freed, 3);
    CU_ASSERT_EQUAL(xb_strmap_count(m), 1);
    xb_strmap_destroy(&m); /* frees a2 */
    CU_ASSERT_EQUAL(freed, 4);
}

static void test_owning_clear(void)
{
    enum { N = 300 };
    int freed = 0;
    xb_strmap_t *m = xb_strmap_new_owning(owned_free);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char key[16];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "t%d", i);
        owned_t *o = owned_new(&freed, key);
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        CU_ASSERT_EQUAL_FATAL(xb_strmap_put(m, key, o), 0);
    }
    xb_strmap_clear(m);
    CU_ASSERT_EQUAL(freed, N);
    CU_ASSERT_EQUAL(xb_strmap_count(m), 0);
    CU_ASSERT_PTR_NULL(xb_strmap_get(m, "t0"));
    xb_strmap_destroy(&m);
    CU_ASSERT_EQUAL(freed, N);
}

static const xbt_test_t strmap_tests[] = {
    {"put and get", test_put_get},
    {"keys are copied", test_keys_are_copied},
    {"put replaces", test_replace},
    {"remove and delete", test_remove},
    {"grows past many entries", test_grow_many},
    {"foreach visits every entry once", test_foreach_count},
    {"NULL arguments", test_null_arguments},
    {"owning map frees replaced and deleted values", test_owning_frees_values},
    {"owning map clear frees every value", test_owning_clear},
    {NULL, NULL},
};

XBT_SUITES({"strmap", NULL, NULL, NULL, NULL, strmap_tests});
