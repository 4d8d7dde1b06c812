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

/* ---- working memory with the slots of a batch (append_all) ------------------ */

static long len_of(xb_backend_t *b, const char *thread)
{
    long n = -1;
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(b, thread, &n, &err), 0);
    return n;
}

/* The slots of a batch, "<s>i</s>" on threads[i]. */
typedef struct {
    char text[16];
} slot_text_t;

static void fill_slots(size_t n, slot_text_t *text, xb_blob_t *slots)
{
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(text[i].text, sizeof text[i].text, "<s>%zu</s>", i);
        slots[i] = (xb_blob_t){text[i].text, (size_t)len};
    }
}

/* Slot 1 carries writes: after the call the slots and the entries are there. */
static void test_wmem_batch_stores_writes(void)
{
    xb_backend_t *b = xb_backend_suite_open(NULL);
    const char *threads[] = {"wb-0", "wb-1", "wb-0"};
    slot_text_t text[3];
    xb_blob_t slots[3];
    fill_slots(3, text, slots);
    xb_wmem_entry_t es[] = {entry("mood", "<mood>calm</mood>"), entry("step", "<step>2</step>")};
    xb_wmem_batch_t wmem[3] = {{NULL, 0, NULL}, {"c-batch", 2, es}, {NULL, 0, NULL}};
    long idx[3] = {9, 9, 9};
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_append_all(b, 3, threads, slots, NULL, wmem, idx, &err),
                          0);
    CU_ASSERT_EQUAL(idx[0], 0);
    CU_ASSERT_EQUAL(idx[1], 0);
    CU_ASSERT_EQUAL(idx[2], 1);
    CU_ASSERT_EQUAL(len_of(b, "wb-0"), 2);
    CU_ASSERT_EQUAL(len_of(b, "wb-1"), 1);
    CU_ASSERT_TRUE(holds(b, "c-batch", "mood", "<mood>calm</mood>"));
    CU_ASSERT_TRUE(holds(b, "c-batch", "step", "<step>2</step>"));
    CU_ASSERT_EQUAL(count_of(b, "c-batch"), 2);
    /* A batch without writes, and writes that replace by name. */
    xb_wmem_entry_t again = entry("mood", "<mood>glad</mood>");
    xb_wmem_batch_t one = {"c-batch", 1, &again};
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, 1, threads, slots, NULL, &one, idx, &err), 0);
    CU_ASSERT_TRUE(holds(b, "c-batch", "mood", "<mood>glad</mood>"));
    CU_ASSERT_EQUAL(count_of(b, "c-batch"), 2);
    CU_ASSERT_EQUAL(len_of(b, "wb-0"), 3);
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, 0, NULL, NULL, NULL, NULL, NULL, &err), 0);
    xb_backend_suite_close(b);
}

/* Slot 2's writes exceed max_wmem_entries: slots 0 and 1 and their writes
 * are stored (two slots writing one conversation count together), slot 2,
 * its writes and every later slot are not. */
static void test_wmem_batch_refuses_slot(void)
{
    xb_backend_t *b = open_wmem_limited(2, 0);
    const char *threads[] = {"wr-0", "wr-1", "wr-2", "wr-0"};
    slot_text_t text[4];
    xb_blob_t slots[4];
    fill_slots(4, text, slots);
    xb_wmem_entry_t x = entry("x", "<x/>"), y = entry("y", "<y/>"), z = entry("z", "<z/>");
    xb_wmem_batch_t wmem[4] = {
        {"c-refuse", 1, &x}, {"c-refuse", 1, &y}, {"c-refuse", 1, &z}, {NULL, 0, NULL}};
    long idx[4] = {9, 9, 9, 9};
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, 4, threads, slots, NULL, wmem, idx, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "c-refuse"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "entry z "));
    CU_ASSERT_EQUAL(idx[0], 0);
    CU_ASSERT_EQUAL(idx[1], 0);
    CU_ASSERT_EQUAL(idx[2], -1);
    CU_ASSERT_EQUAL(idx[3], -1);
    CU_ASSERT_EQUAL(len_of(b, "wr-0"), 1);
    CU_ASSERT_EQUAL(len_of(b, "wr-1"), 1);
    bool exists = true;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_exists(b, "wr-2", &exists, &err), 0);
    CU_ASSERT_FALSE(exists);
    CU_ASSERT_TRUE(holds(b, "c-refuse", "x", "<x/>"));
    CU_ASSERT_TRUE(holds(b, "c-refuse", "y", "<y/>"));
    CU_ASSERT_TRUE(absent(b, "c-refuse", "z"));
    CU_ASSERT_EQUAL(count_of(b, "c-refuse"), 2);
    xb_backend_suite_close(b);
}

/* A full thread refuses its slot's writes with it. */
static void test_wmem_batch_full_thread(void)
{
    xb_backend_config_t limits;
    xb_backend_config_defaults(&limits);
    limits.max_slots_per_thread = 1;
    xb_backend_t *b = xb_backend_suite_open(&limits);
    const char *threads[] = {"wf-0", "wf-0"};
    slot_text_t text[2];
    xb_blob_t slots[2];
    fill_slots(2, text, slots);
    xb_wmem_entry_t x = entry("x", "<x/>"), y = entry("y", "<y/>");
    xb_wmem_batch_t wmem[2] = {{"c-full", 1, &x}, {"c-full", 1, &y}};
    long idx[2] = {9, 9};
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, 2, threads, slots, NULL, wmem, idx, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_EQUAL(idx[0], 0);
    CU_ASSERT_EQUAL(idx[1], -1);
    CU_ASSERT_EQUAL(len_of(b, "wf-0"), 1);
    CU_ASSERT_TRUE(holds(b, "c-full", "x", "<x/>"));
    CU_ASSERT_TRUE(absent(b, "c-full", "y"));
    xb_backend_suite_close(b);
}

/* Malformed or oversized writes refuse their slot like a full thread: the
 * slots before stay stored with their writes. */
static void test_wmem_batch_bad_writes(void)
{
    xb_backend_t *b = open_wmem_limited(0, 8);
    const char *threads[] = {"wx-0", "wx-1", "wx-2"};
    slot_text_t text[3];
    xb_blob_t slots[3];
    fill_slots(3, text, slots);
    xb_wmem_entry_t ok = entry("ok", "<o/>"), big = entry("big", "<b>123</b>");
    xb_wmem_batch_t wmem[3] = {{"c-bad", 1, &ok}, {"c-bad", 1, &big}, {NULL, 0, NULL}};
    long idx[3] = {9, 9, 9};
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, 3, threads, slots, NULL, wmem, idx, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "entry big "));
    CU_ASSERT_EQUAL(idx[0], 0);
    CU_ASSERT_EQUAL(idx[1], -1);
    CU_ASSERT_EQUAL(idx[2], -1);
    CU_ASSERT_EQUAL(len_of(b, "wx-0"), 1);
    CU_ASSERT_EQUAL(len_of(b, "wx-1"), 0);
    CU_ASSERT_EQUAL(len_of(b, "wx-2"), 0);
    CU_ASSERT_TRUE(holds(b, "c-bad", "ok", "<o/>"));
    CU_ASSERT_TRUE(absent(b, "c-bad", "big"));
    /* A bad name on the first slot, an empty conversation: nothing stored. */
    xb_wmem_entry_t bad = entry("9bad", "<n/>");
    xb_wmem_batch_t named = {"c-bad", 1, &bad}, empty = {"", 1, &ok};
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, 1, threads + 2, slots, NULL, &named, idx, &err),
                    -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(idx[0], -1);
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, 1, threads + 2, slots, NULL, &empty, idx, &err),
                    -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(len_of(b, "wx-2"), 0);
    xb_backend_suite_close(b);
}

/* A batch larger than one script call of the redis backend (512 slots a
 * chunk): writes on the last slot of a chunk and the first of the next go
 * with their slots; a refusal on the last slot of the second chunk stops
 * the batch there (the third chunk is never sent). */
#define WB_N 1030
static void test_wmem_batch_chunks(void)
{
    xb_backend_t *b = open_wmem_limited(3, 0);
    static slot_text_t text[WB_N];
    static xb_blob_t slots[WB_N];
    static const char *threads[WB_N];
    static xb_wmem_batch_t wmem[WB_N];
    static long idx[WB_N];
    static const char *names[] = {"wc-a", "wc-b", "wc-c"};
    fill_slots(WB_N, text, slots);
    memset(wmem, 0, sizeof wmem);
    for (size_t i = 0; i < WB_N; i++)
        threads[i] = names[i % 3];
    xb_wmem_entry_t full[] = {entry("f1", "<f/>"), entry("f2", "<f/>"), entry("f3", "<f/>")};
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_backend_wmem_put(b, "c-crowded", 3, full, &err), 0);
    xb_wmem_entry_t e511 = entry("e511", "<e>511</e>"), e512 = entry("e512", "<e>512</e>");
    xb_wmem_entry_t e1023 = entry("e1023", "<e>1023</e>");
    wmem[511] = (xb_wmem_batch_t){"c-chunk", 1, &e511};
    wmem[512] = (xb_wmem_batch_t){"c-chunk", 1, &e512};
    wmem[1023] = (xb_wmem_batch_t){"c-crowded", 1, &e1023};
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, WB_N, threads, slots, NULL, wmem, idx, &err),
                    -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "entry e1023 "));
    CU_ASSERT_EQUAL(idx[511], 511 / 3);
    CU_ASSERT_EQUAL(idx[1022], 1022 / 3);
    CU_ASSERT_EQUAL(idx[1023], -1);
    CU_ASSERT_EQUAL(idx[1029], -1);
    CU_ASSERT_EQUAL(len_of(b, "wc-a") + len_of(b, "wc-b") + len_of(b, "wc-c"), 1023);
    CU_ASSERT_TRUE(holds(b, "c-chunk", "e511", "<e>511</e>"));
    CU_ASSERT_TRUE(holds(b, "c-chunk", "e512", "<e>512</e>"));
    CU_ASSERT_TRUE(absent(b, "c-crowded", "e1023"));
    CU_ASSERT_EQUAL(count_of(b, "c-crowded"), 3);
    /* Refused on the first slot of a chunk: that chunk stores nothing. */
    wmem[512] = (xb_wmem_batch_t){"c-crowded", 1, &e512};
    wmem[1023] = (xb_wmem_batch_t){NULL, 0, NULL};
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, WB_N, threads, slots, NULL, wmem, idx, &err),
                    -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "entry e512 "));
    CU_ASSERT_EQUAL(idx[511], 341 + 511 / 3);
    CU_ASSERT_EQUAL(idx[512], -1);
    CU_ASSERT_EQUAL(len_of(b, "wc-a") + len_of(b, "wc-b") + len_of(b, "wc-c"), 1023 + 512);
    CU_ASSERT_TRUE(absent(b, "c-crowded", "e512"));
    xb_backend_suite_close(b);
}

/* Journal and writes together (journal backends); memory keeps no journal. */
static void test_wmem_batch_with_journal(void)
{
    xb_backend_t *b = open_wmem_limited(1, 0);
    const char *threads[] = {"wj-0", "wj-1"};
    slot_text_t text[2];
    xb_blob_t slots[2];
    fill_slots(2, text, slots);
    xb_wmem_entry_t x = entry("x", "<x/>"), y = entry("y", "<y/>");
    xb_wmem_batch_t wmem[2] = {{"c-journal", 1, &x}, {"c-journal", 1, &y}};
    xb_journal_entry_t journal[2] = {{"j0", "J0", 2}, {"j1", "J1", 2}};
    long idx[2] = {9, 9};
    xb_error_t err;
    int rc = xb_backend_buffer_append_all(b, 2, threads, slots, journal, wmem, idx, &err);
    CU_ASSERT_EQUAL(rc, -1);
    if (!xb_backend_has_journal(b)) {
        CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
        CU_ASSERT_EQUAL(len_of(b, "wj-0"), 0);
        xb_backend_suite_close(b);
        return;
    }
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_EQUAL(idx[0], 0);
    CU_ASSERT_EQUAL(idx[1], -1);
    xb_journal_list_t l = {0};
    CU_ASSERT_EQUAL_FATAL(xb_backend_journal_list(b, &l, &err), 0);
    CU_ASSERT_EQUAL(l.count, 1);
    if (l.count == 1)
        CU_ASSERT_STRING_EQUAL(l.items[0].id, "j0");
    xb_journal_list_free(&l);
    CU_ASSERT_TRUE(holds(b, "c-journal", "x", "<x/>"));
    CU_ASSERT_TRUE(absent(b, "c-journal", "y"));
    CU_ASSERT_EQUAL(len_of(b, "wj-1"), 0);
    xb_backend_suite_close(b);
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
    {"append_all stores a slot's writes with it", test_wmem_batch_stores_writes},
    {"append_all: writes over max_wmem_entries refuse their slot", test_wmem_batch_refuses_slot},
    {"append_all: a full thread refuses its slot's writes", test_wmem_batch_full_thread},
    {"append_all: bad writes refuse their slot", test_wmem_batch_bad_writes},
    {"append_all across script chunks", test_wmem_batch_chunks},
    {"append_all with the journal", test_wmem_batch_with_journal},
    {NULL, NULL},
};
