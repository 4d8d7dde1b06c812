/* The shared backend suite (see backend_suite.h). CUnit test functions take
 * no argument, so the suite's init selects the factory the tests then use. */
#include "backend_suite.h"

#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    xb_backend_suite_open_fn open_fresh;
    xb_backend_suite_close_fn close;
} factory_t;

static factory_t current; /* the backend the running suite checks */

int xb_backend_suite_use(xb_backend_suite_open_fn open_fresh, xb_backend_suite_close_fn close)
{
    if (!open_fresh || !close)
        return -1;
    current.open_fresh = open_fresh;
    current.close = close;
    return 0;
}

int xb_backend_suite_done(void)
{
    current.open_fresh = NULL;
    current.close = NULL;
    return 0;
}

void xb_backend_suite_apply_limits(xb_backend_config_t *cfg, const xb_backend_config_t *limits)
{
    if (!cfg || !limits)
        return;
    cfg->max_slots_per_thread = limits->max_slots_per_thread;
    cfg->max_threads = limits->max_threads;
    cfg->max_slot_bytes = limits->max_slot_bytes;
    cfg->max_wmem_entries = limits->max_wmem_entries;
    cfg->max_wmem_entry_bytes = limits->max_wmem_entry_bytes;
}

xb_backend_t *xb_backend_suite_open(const xb_backend_config_t *limits)
{
    xb_backend_t *b = current.open_fresh ? current.open_fresh(limits) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    return b;
}

void xb_backend_suite_close(xb_backend_t *b)
{
    if (b && current.close)
        current.close(b);
}

/* ---- helpers ----------------------------------------------------------------- */

static xb_backend_t *fresh(void)
{
    xb_backend_t *b = current.open_fresh ? current.open_fresh(NULL) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    return b;
}

static xb_backend_t *fresh_limited(long max_slots, size_t max_bytes)
{
    xb_backend_config_t limits;
    xb_backend_config_defaults(&limits);
    limits.max_slots_per_thread = max_slots;
    limits.max_slot_bytes = max_bytes;
    xb_backend_t *b = current.open_fresh ? current.open_fresh(&limits) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    return b;
}

static void done(xb_backend_t *b)
{
    if (b && current.close)
        current.close(b);
}

static long append_str(xb_backend_t *b, const char *thread, const char *text)
{
    xb_error_t err;
    long index = -99;
    int rc = xb_backend_buffer_append(b, thread, text, strlen(text), &index, &err);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "append to %s failed: %s\n", thread, err.message);
        return -1;
    }
    return index;
}

static bool blob_is(const xb_blob_t *blob, const void *data, size_t len)
{
    return blob->len == len && (len == 0 || memcmp(blob->data, data, len) == 0);
}

static bool blob_is_str(const xb_blob_t *blob, const char *text)
{
    return blob_is(blob, text, strlen(text));
}

static bool str_list_has(const xb_str_list_t *l, const char *s)
{
    for (size_t i = 0; i < l->count; i++) {
        if (strcmp(l->items[i], s) == 0)
            return true;
    }
    return false;
}

static long thread_len(xb_backend_t *b, const char *thread)
{
    xb_error_t err;
    long len = -1;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(b, thread, &len, &err), 0);
    return len;
}

static bool thread_exists(xb_backend_t *b, const char *thread)
{
    xb_error_t err;
    bool exists = false;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_exists(b, thread, &exists, &err), 0);
    return exists;
}

static bool info_of(xb_backend_t *b, xb_backend_info_t *info)
{
    xb_error_t err;
    int rc = xb_backend_info(b, info, &err);
    CU_ASSERT_EQUAL(rc, 0);
    return rc == 0;
}

/* ---- journal ----------------------------------------------------------------- */

/* The entry of id in l, or NULL. */
static const xb_journal_item_t *journal_find(const xb_journal_list_t *l, const char *id)
{
    for (size_t i = 0; i < l->count; i++) {
        if (strcmp(l->items[i].id, id) == 0)
            return &l->items[i];
    }
    return NULL;
}

static size_t journal_count(xb_backend_t *b)
{
    xb_journal_list_t l = {0};
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_journal_list(b, &l, &err), 0);
    size_t n = l.count;
    xb_journal_list_free(&l);
    return n;
}

/* A backend without a journal (memory) refuses every journal call. */
static bool no_journal(xb_backend_t *b)
{
    if (xb_backend_has_journal(b))
        return false;
    xb_error_t err;
    xb_journal_list_t l = {0};
    CU_ASSERT_EQUAL(xb_backend_journal_list(b, &l, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    xb_journal_entry_t e = {"id", "x", 1};
    CU_ASSERT_EQUAL(xb_backend_journal_put(b, &e, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    const char *ids[] = {"id"};
    CU_ASSERT_EQUAL(xb_backend_journal_remove(b, 1, ids, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    return true;
}

static void test_journal_append(void)
{
    xb_backend_t *b = fresh();
    if (no_journal(b)) {
        done(b);
        return;
    }
    const char *threads[] = {"t1", "t2", "t1"};
    xb_blob_t slots[] = {{(char *)"a", 1}, {(char *)"b", 1}, {(char *)"c", 1}};
    const char bin[] = {'e', '\0', 'f'};
    xb_journal_entry_t journal[] = {{"m1", bin, 3}, {NULL, NULL, 0}, {"m3", "three", 5}};
    long idx[3] = {-9, -9, -9};
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(
        xb_backend_buffer_append_journal(b, 3, threads, slots, journal, idx, &err), 0);
    CU_ASSERT(idx[0] == 0 && idx[1] == 0 && idx[2] == 1);
    xb_journal_list_t l = {0};
    CU_ASSERT_EQUAL_FATAL(xb_backend_journal_list(b, &l, &err), 0);
    CU_ASSERT_EQUAL(l.count, 2);
    const xb_journal_item_t *m1 = journal_find(&l, "m1"), *m3 = journal_find(&l, "m3");
    CU_ASSERT(m1 && blob_is(&m1->data, bin, 3));
    CU_ASSERT(m3 && blob_is_str(&m3->data, "three"));
    xb_journal_list_free(&l);
    CU_ASSERT_EQUAL(l.count, 0);
    /* A put replaces the entry of its id (a redelivery mark). */
    xb_journal_entry_t again = {"m1", "redelivered", 11};
    CU_ASSERT_EQUAL(xb_backend_journal_put(b, &again, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_backend_journal_list(b, &l, &err), 0);
    m1 = journal_find(&l, "m1");
    CU_ASSERT(l.count == 2 && m1 && blob_is_str(&m1->data, "redelivered"));
    xb_journal_list_free(&l);
    /* Removal in one call; unknown ids are no error. */
    const char *ids[] = {"m1", "unknown", "m3"};
    CU_ASSERT_EQUAL(xb_backend_journal_remove(b, 3, ids, &err), 0);
    CU_ASSERT_EQUAL(journal_count(b), 0);
    CU_ASSERT_EQUAL(xb_backend_journal_remove(b, 0, NULL, &err), 0);
    /* Slots are untouched by the journal. */
    CU_ASSERT_EQUAL(thread_len(b, "t1"), 2);
    done(b);
}

/* The entry of a refused slot is not written: it shares the slot's fate. */
static void test_journal_refused_slot(void)
{
    xb_backend_t *b = fresh_limited(1, 0);
    if (no_journal(b)) {
        done(b);
        return;
    }
    CU_ASSERT_EQUAL(append_str(b, "full", "s"), 0);
    const char *threads[] = {"other", "full"};
    xb_blob_t slots[] = {{(char *)"p", 1}, {(char *)"q", 1}};
    xb_journal_entry_t journal[] = {{"p1", "P", 1}, {"q1", "Q", 1}};
    long idx[2];
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_buffer_append_journal(b, 2, threads, slots, journal, idx, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    xb_journal_list_t l = {0};
    CU_ASSERT_EQUAL_FATAL(xb_backend_journal_list(b, &l, &err), 0);
    CU_ASSERT(idx[0] < 0 || journal_find(&l, "p1") != NULL);
    CU_ASSERT_PTR_NULL(journal_find(&l, "q1"));
    xb_journal_list_free(&l);
    done(b);
}

static void test_journal_bad_arguments(void)
{
    xb_backend_t *b = fresh();
    if (no_journal(b)) {
        done(b);
        return;
    }
    xb_error_t err;
    xb_journal_entry_t empty_id = {"", "x", 1}, empty_data = {"id", "", 0};
    CU_ASSERT_EQUAL(xb_backend_journal_put(b, &empty_id, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(xb_backend_journal_put(b, &empty_data, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    const char *ids[] = {""};
    CU_ASSERT_EQUAL(xb_backend_journal_remove(b, 1, ids, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    const char *threads[] = {"t"};
    xb_blob_t slots[] = {{(char *)"a", 1}};
    long idx[1];
    CU_ASSERT_EQUAL(xb_backend_buffer_append_journal(b, 1, threads, slots, &empty_id, idx, &err),
                    -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(thread_len(b, "t"), 0);
    CU_ASSERT_EQUAL(journal_count(b), 0);
    /* buffer_clear empties the journal too (it belongs to the buffer). */
    xb_journal_entry_t e = {"id", "x", 1};
    CU_ASSERT_EQUAL(xb_backend_journal_put(b, &e, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_buffer_clear(b, &err), 0);
    CU_ASSERT_EQUAL(journal_count(b), 0);
    done(b);
}

/* ---- buffer ------------------------------------------------------------------ */

static void test_append_index(void)
{
    xb_backend_t *b = fresh();
    CU_ASSERT_EQUAL(append_str(b, "t1", "a"), 0);
    CU_ASSERT_EQUAL(append_str(b, "t1", "b"), 1);
    CU_ASSERT_EQUAL(append_str(b, "t2", "x"), 0);
    CU_ASSERT_EQUAL(append_str(b, "t1", "c"), 2);
    CU_ASSERT_EQUAL(append_str(b, "t2", "y"), 1);
    done(b);
}

static void test_get_thread(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    const char *texts[] = {"<a/>", "<b>two</b>", "<c x=\"3\"/>"};
    for (int i = 0; i < 3; i++)
        append_str(b, "hist", texts[i]);
    append_str(b, "other", "<z/>");
    xb_blob_list_t list = {0};
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_get_thread(b, "hist", &list, &err), 0);
    CU_ASSERT_EQUAL_FATAL(list.count, 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_TRUE(blob_is_str(&list.items[i], texts[i]));
    xb_blob_list_free(&list);
    CU_ASSERT_EQUAL(list.count, 0);
    CU_ASSERT_PTR_NULL(list.items);

    CU_ASSERT_EQUAL(xb_backend_buffer_get_thread(b, "nobody", &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 0);
    xb_blob_list_free(&list);
    done(b);
}

static void test_get_slot(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    append_str(b, "t", "zero");
    append_str(b, "t", "one");
    xb_blob_t blob = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, "t", 1, &blob, &err), 0);
    CU_ASSERT_TRUE(blob_is_str(&blob, "one"));
    free(blob.data);
    CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, "t", 0, &blob, &err), 0);
    CU_ASSERT_TRUE(blob_is_str(&blob, "zero"));
    free(blob.data);

    long bad[] = {2, 3, 1000, -1, -2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.code = XB_OK;
        CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, "t", bad[i], &blob, &err), -1);
        CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
        CU_ASSERT_PTR_NULL(blob.data);
    }
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, "nobody", 0, &blob, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    done(b);
}

static void test_len_exists(void)
{
    xb_backend_t *b = fresh();
    CU_ASSERT_EQUAL(thread_len(b, "t"), 0);
    CU_ASSERT_FALSE(thread_exists(b, "t"));
    for (int i = 0; i < 5; i++)
        append_str(b, "t", "s");
    CU_ASSERT_EQUAL(thread_len(b, "t"), 5);
    CU_ASSERT_TRUE(thread_exists(b, "t"));
    CU_ASSERT_FALSE(thread_exists(b, "t2"));
    done(b);
}

static void test_delete_thread(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    append_str(b, "gone", "1");
    append_str(b, "gone", "2");
    append_str(b, "kept", "k");
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_backend_buffer_delete_thread(b, "gone", &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    CU_ASSERT_FALSE(thread_exists(b, "gone"));
    CU_ASSERT_EQUAL(thread_len(b, "gone"), 0);
    CU_ASSERT_EQUAL(thread_len(b, "kept"), 1);
    deleted = true;
    CU_ASSERT_EQUAL(xb_backend_buffer_delete_thread(b, "gone", &deleted, &err), 0);
    CU_ASSERT_FALSE(deleted);
    /* A thread that comes back starts from index 0. */
    CU_ASSERT_EQUAL(append_str(b, "gone", "again"), 0);
    xb_blob_t blob = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, "gone", 0, &blob, &err), 0);
    CU_ASSERT_TRUE(blob_is_str(&blob, "again"));
    free(blob.data);
    done(b);
}

static void test_list_threads(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    xb_str_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_list_threads(b, &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 0);
    xb_str_list_free(&list);

    const char *names[] = {"alpha", "beta", "6a1f0c2e-1b2c-4d5e-8f90-0123456789ab"};
    for (int i = 0; i < 3; i++) {
        append_str(b, names[i], "x");
        append_str(b, names[i], "y");
    }
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_list_threads(b, &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_TRUE(str_list_has(&list, names[i]));
    xb_str_list_free(&list);
    CU_ASSERT_EQUAL(list.count, 0);
    done(b);
}

enum { SCAN_N = 300 };

/* Pages through every thread "sNNNN" with pages of `count`, counting each
 * name in seen[]; with drop, deletes the last name of each page once the
 * page is read. Returns the number of pages, 0 on a failure. */
static size_t scan_all(xb_backend_t *b, size_t count, int seen[SCAN_N], bool drop)
{
    bool redis = xb_backend_config(b)->type == XB_BACKEND_REDIS;
    char cursor[XB_BACKEND_CURSOR_MAX] = "0", next[XB_BACKEND_CURSOR_MAX];
    size_t pages = 0;
    xb_error_t err;
    do {
        xb_str_list_t page = {0};
        if (xb_backend_buffer_scan_threads(b, cursor, count, &page, next, &err) != 0) {
            fprintf(stderr, "\n  scan_threads: %s\n", err.message);
            return 0;
        }
        pages++;
        CU_ASSERT(redis || page.count <= count);
        CU_ASSERT(redis || page.count > 0 || strcmp(next, "0") == 0);
        for (size_t i = 0; i < page.count; i++) {
            int k = -1;
            CU_ASSERT(sscanf(page.items[i], "s%d", &k) == 1 && k >= 0 && k < SCAN_N);
            if (k >= 0 && k < SCAN_N)
                seen[k]++;
        }
        if (drop && page.count > 0)
            CU_ASSERT_EQUAL(
                xb_backend_buffer_delete_thread(b, page.items[page.count - 1], NULL, &err), 0);
        xb_str_list_free(&page);
        CU_ASSERT(strlen(next) < XB_BACKEND_CURSOR_MAX);
        memcpy(cursor, next, sizeof cursor);
    } while (strcmp(cursor, "0") != 0 && pages < 100000);
    return pages;
}

/* scan_threads: bounded pages that together list every thread exactly once
 * (redis: at least once), also when threads are deleted between pages;
 * bad page sizes and cursors are XB_ERR_ARG. */
static void test_scan_threads(void)
{
    xb_backend_t *b = fresh();
    bool redis = xb_backend_config(b)->type == XB_BACKEND_REDIS;
    int seen[SCAN_N] = {0};
    CU_ASSERT(scan_all(b, 7, seen, false) >= 1);
    for (int k = 0; k < SCAN_N; k++)
        CU_ASSERT_EQUAL(seen[k], 0);
    static char names[SCAN_N][8];
    const char *threads[SCAN_N];
    xb_blob_t slots[SCAN_N];
    long index[SCAN_N];
    for (int k = 0; k < SCAN_N; k++) {
        snprintf(names[k], sizeof names[k], "s%04d", k);
        threads[k] = names[k];
        slots[k] = (xb_blob_t){names[k], 5};
    }
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_append_batch(b, SCAN_N, threads, slots, index, &err),
                          0);
    size_t pages = scan_all(b, 7, seen, false);
    CU_ASSERT(pages >= (redis ? 2 : SCAN_N / 7));
    int wrong = 0;
    for (int k = 0; k < SCAN_N; k++)
        wrong += redis ? seen[k] < 1 : seen[k] != 1;
    CU_ASSERT_EQUAL(wrong, 0);
    /* Deleting the name a cursor stands on loses nothing. */
    memset(seen, 0, sizeof seen);
    CU_ASSERT(scan_all(b, 7, seen, true) >= 2);
    wrong = 0;
    for (int k = 0; k < SCAN_N; k++)
        wrong += redis ? seen[k] < 1 : seen[k] != 1;
    CU_ASSERT_EQUAL(wrong, 0);

    xb_str_list_t page = {0};
    char next[XB_BACKEND_CURSOR_MAX];
    CU_ASSERT_EQUAL(xb_backend_buffer_scan_threads(b, "0", 0, &page, next, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(
        xb_backend_buffer_scan_threads(b, "0", XB_BACKEND_SCAN_MAX + 1, &page, next, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(xb_backend_buffer_scan_threads(b, "no cursor!", 5, &page, next, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(page.count, 0);
    CU_ASSERT_STRING_EQUAL(next, "0");
    done(b);
}

static void test_clear(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    append_str(b, "t1", "a");
    append_str(b, "t2", "b");
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.a", "u-1", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_buffer_clear(b, &err), 0);
    CU_ASSERT_FALSE(thread_exists(b, "t1"));
    CU_ASSERT_FALSE(thread_exists(b, "t2"));
    xb_str_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_list_threads(b, &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 0);
    xb_str_list_free(&list);
    /* The registry is not part of the buffer. */
    char *uuid = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_uuid(b, "system.o.c-1.a", &uuid, &err), 0);
    CU_ASSERT_STRING_EQUAL(uuid ? uuid : "", "u-1");
    free(uuid);
    /* Clearing an empty buffer is fine, and appends work afterwards. */
    CU_ASSERT_EQUAL(xb_backend_buffer_clear(b, &err), 0);
    CU_ASSERT_EQUAL(append_str(b, "t1", "new"), 0);
    done(b);
}

static void test_batch(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    append_str(b, "p", "first");
    const char *threads[] = {"p", "q", "p", "q", "r"};
    xb_blob_t slots[5];
    char text[5][32];
    for (int i = 0; i < 5; i++) {
        snprintf(text[i], sizeof text[i], "batch-%d", i);
        slots[i].data = text[i];
        slots[i].len = strlen(text[i]);
    }
    long index[5] = {-1, -1, -1, -1, -1};
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_append_batch(b, 5, threads, slots, index, &err), 0);
    CU_ASSERT_EQUAL(index[0], 1);
    CU_ASSERT_EQUAL(index[1], 0);
    CU_ASSERT_EQUAL(index[2], 2);
    CU_ASSERT_EQUAL(index[3], 1);
    CU_ASSERT_EQUAL(index[4], 0);
    CU_ASSERT_EQUAL(thread_len(b, "p"), 3);
    CU_ASSERT_EQUAL(thread_len(b, "q"), 2);
    CU_ASSERT_EQUAL(thread_len(b, "r"), 1);
    for (int i = 0; i < 5; i++) {
        xb_blob_t blob = {0};
        CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, threads[i], index[i], &blob, &err), 0);
        CU_ASSERT_TRUE(blob_is_str(&blob, text[i]));
        free(blob.data);
    }
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, 0, NULL, NULL, NULL, &err), 0);
    done(b);
}

static void test_binary_unicode(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    unsigned char bin[512];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7);
    bin[0] = 0;
    bin[100] = 0;
    bin[sizeof bin - 1] = 0;
    const char *utf8 = "<g>Grüße, 世界, \xF0\x9F\x98\x80</g>";
    size_t big_len = 300 * 1024;
    char *big = malloc(big_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + i % 26);
    long index = -1;
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "bin", bin, sizeof bin, &index, &err), 0);
    CU_ASSERT_EQUAL(index, 0);
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "bin", utf8, strlen(utf8), &index, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "bin", big, big_len, &index, &err), 0);
    CU_ASSERT_EQUAL(index, 2);
    xb_blob_list_t list = {0};
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_get_thread(b, "bin", &list, &err), 0);
    CU_ASSERT_EQUAL_FATAL(list.count, 3);
    CU_ASSERT_TRUE(blob_is(&list.items[0], bin, sizeof bin));
    CU_ASSERT_TRUE(blob_is_str(&list.items[1], utf8));
    CU_ASSERT_TRUE(blob_is(&list.items[2], big, big_len));
    xb_blob_list_free(&list);
    xb_blob_t blob = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, "bin", 0, &blob, &err), 0);
    CU_ASSERT_TRUE(blob_is(&blob, bin, sizeof bin));
    free(blob.data);
    free(big);
    done(b);
}

/* Names with characters that mean something to glob patterns, key
 * separators or shells must stay plain names. */
static void test_odd_names(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    const char *names[] = {"a*", "a?", "[a]", "a:b", "a b", "ä-ü_ß"};
    size_t n = sizeof names / sizeof names[0];
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(append_str(b, names[i], names[i]), 0);
    CU_ASSERT_EQUAL(append_str(b, "a", "plain"), 0);
    CU_ASSERT_EQUAL(thread_len(b, "a*"), 1);
    CU_ASSERT_EQUAL(thread_len(b, "a"), 1);
    xb_str_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_list_threads(b, &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, n + 1);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_TRUE(str_list_has(&list, names[i]));
    xb_str_list_free(&list);
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_backend_buffer_delete_thread(b, "a*", &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    CU_ASSERT_TRUE(thread_exists(b, "a"));
    CU_ASSERT_TRUE(thread_exists(b, "a?"));

    const char *chain = "system.my-org.c-0a1b2c3d.con_sole.greet-er";
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, chain, "u*", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.my-org.c-0a1b2c3d.con_sole", "u", &err), 0);
    char *s = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_chain(b, "u*", &s, &err), 0);
    CU_ASSERT_STRING_EQUAL(s ? s : "", chain);
    free(s);
    s = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_uuid(b, chain, &s, &err), 0);
    CU_ASSERT_STRING_EQUAL(s ? s : "", "u*");
    free(s);
    done(b);
}

static void test_bad_arguments(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    long index;
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, NULL, "x", 1, &index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "", "x", 1, &index, &err), -1);
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "t", NULL, 1, &index, &err), -1);
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "t", "x", 0, &index, &err), -1);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "", "u", &err), -1);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "c", NULL, &err), -1);
    CU_ASSERT_EQUAL(xb_backend_buffer_get_thread(b, "t", NULL, &err), -1);
    CU_ASSERT_EQUAL(xb_backend_buffer_append(NULL, "t", "x", 1, &index, &err), -1);
    CU_ASSERT_FALSE(thread_exists(b, "t"));
    done(b);
}

/* ---- registry ----------------------------------------------------------------- */

static char *get_uuid(xb_backend_t *b, const char *chain)
{
    xb_error_t err;
    char *uuid = NULL;
    if (xb_backend_registry_get_uuid(b, chain, &uuid, &err) != 0) {
        CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
        CU_ASSERT_PTR_NULL(uuid);
        return NULL;
    }
    return uuid;
}

static char *get_chain(xb_backend_t *b, const char *uuid)
{
    xb_error_t err;
    char *chain = NULL;
    if (xb_backend_registry_get_chain(b, uuid, &chain, &err) != 0) {
        CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
        CU_ASSERT_PTR_NULL(chain);
        return NULL;
    }
    return chain;
}

/* Asserts chain <-> uuid in both directions. */
static void assert_pair(xb_backend_t *b, const char *chain, const char *uuid)
{
    char *u = get_uuid(b, chain);
    char *c = get_chain(b, uuid);
    CU_ASSERT_STRING_EQUAL(u ? u : "(none)", uuid);
    CU_ASSERT_STRING_EQUAL(c ? c : "(none)", chain);
    free(u);
    free(c);
}

static void assert_no_uuid(xb_backend_t *b, const char *chain)
{
    char *u = get_uuid(b, chain);
    CU_ASSERT_PTR_NULL(u);
    free(u);
}

static void assert_no_chain(xb_backend_t *b, const char *uuid)
{
    char *c = get_chain(b, uuid);
    CU_ASSERT_PTR_NULL(c);
    free(c);
}

static void test_registry_set_get(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.a", "u-a", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.a.b", "u-ab", &err), 0);
    assert_pair(b, "system.o.c-1.a", "u-a");
    assert_pair(b, "system.o.c-1.a.b", "u-ab");
    assert_no_uuid(b, "system.o.c-1");
    assert_no_chain(b, "u-x");
    char *s = NULL;
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_registry_get_uuid(b, "system.o.c-2.a", &s, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_registry_get_chain(b, "u-none", &s, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    /* Setting the same pair twice changes nothing. */
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.a", "u-a", &err), 0);
    assert_pair(b, "system.o.c-1.a", "u-a");
    xb_backend_info_t info;
    if (info_of(b, &info))
        CU_ASSERT_EQUAL(info.registry_entries, 2);
    done(b);
}

static void test_registry_replace(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    /* A chain that gets a new uuid: the old uuid no longer names it. */
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "c1", "u1", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "c1", "u2", &err), 0);
    assert_pair(b, "c1", "u2");
    assert_no_chain(b, "u1");
    /* A uuid that moves to another chain: the old chain loses it. */
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "c2", "u2", &err), 0);
    assert_pair(b, "c2", "u2");
    assert_no_uuid(b, "c1");
    xb_pair_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(b, &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 1);
    xb_pair_list_free(&list);
    xb_backend_info_t info;
    if (info_of(b, &info))
        CU_ASSERT_EQUAL(info.registry_entries, 1);
    done(b);
}

static void test_registry_delete(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "c1", "u1", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "c2", "u2", &err), 0);
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_backend_registry_delete(b, "u1", &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    assert_no_chain(b, "u1");
    assert_no_uuid(b, "c1");
    assert_pair(b, "c2", "u2");
    deleted = true;
    CU_ASSERT_EQUAL(xb_backend_registry_delete(b, "u1", &deleted, &err), 0);
    CU_ASSERT_FALSE(deleted);
    CU_ASSERT_EQUAL(xb_backend_registry_delete(b, "never", &deleted, &err), 0);
    CU_ASSERT_FALSE(deleted);
    done(b);
}

static bool pair_list_has(const xb_pair_list_t *l, const char *chain, const char *uuid)
{
    for (size_t i = 0; i < l->count; i++) {
        if (strcmp(l->items[i].chain, chain) == 0 && strcmp(l->items[i].uuid, uuid) == 0)
            return true;
    }
    return false;
}

static void test_registry_list_clear(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    xb_pair_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(b, &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 0);
    xb_pair_list_free(&list);
    char chain[64], uuid[64];
    for (int i = 0; i < 50; i++) {
        snprintf(chain, sizeof chain, "system.o.c-%d.a", i);
        snprintf(uuid, sizeof uuid, "uuid-%d", i);
        CU_ASSERT_EQUAL(xb_backend_registry_set(b, chain, uuid, &err), 0);
    }
    append_str(b, "buffer-thread", "kept");
    CU_ASSERT_EQUAL_FATAL(xb_backend_registry_list_all(b, &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 50);
    for (int i = 0; i < 50; i++) {
        snprintf(chain, sizeof chain, "system.o.c-%d.a", i);
        snprintf(uuid, sizeof uuid, "uuid-%d", i);
        CU_ASSERT_TRUE(pair_list_has(&list, chain, uuid));
    }
    xb_pair_list_free(&list);
    CU_ASSERT_EQUAL(list.count, 0);
    CU_ASSERT_EQUAL(xb_backend_registry_clear(b, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(b, &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 0);
    xb_pair_list_free(&list);
    assert_no_uuid(b, "system.o.c-3.a");
    assert_no_chain(b, "uuid-3");
    CU_ASSERT_EQUAL(thread_len(b, "buffer-thread"), 1);
    done(b);
}

/* ---- registry batches (registry_apply) -------------------------------------------- */

static int apply(xb_backend_t *b, size_t n, const xb_registry_op_t *ops, xb_error_t *err)
{
    int rc = xb_backend_registry_apply(b, n, ops, err);
    if (rc != 0)
        fprintf(stderr, "\n  registry_apply of %zu ops failed: %s\n", n, err->message);
    return rc;
}

/* list_all and info agree on the number of pairs, and it is `want`. */
static void assert_registry_count(xb_backend_t *b, size_t want)
{
    xb_error_t err;
    xb_pair_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(b, &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, want);
    xb_pair_list_free(&list);
    xb_backend_info_t info;
    if (info_of(b, &info))
        CU_ASSERT_EQUAL(info.registry_entries, (long)want);
}

static void test_registry_apply_sets(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    const xb_registry_op_t ops[] = {
        {XB_REGISTRY_OP_SET, "system.o.c-1.a", "u-a"},
        {XB_REGISTRY_OP_SET, "system.o.c-1.a.b", "u-ab"},
        {XB_REGISTRY_OP_SET, "a*b?[c]:d", "u:*"},
    };
    CU_ASSERT_EQUAL(apply(b, 3, ops, &err), 0);
    assert_pair(b, "system.o.c-1.a", "u-a");
    assert_pair(b, "system.o.c-1.a.b", "u-ab");
    assert_pair(b, "a*b?[c]:d", "u:*");
    assert_no_uuid(b, "system.o.c-1");
    assert_registry_count(b, 3);
    /* The same batch again changes nothing: every change is idempotent. */
    CU_ASSERT_EQUAL(apply(b, 3, ops, &err), 0);
    assert_pair(b, "system.o.c-1.a", "u-a");
    assert_registry_count(b, 3);
    /* Pairs of registry_set and of a batch are the same pairs. */
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "single", "u-single", &err), 0);
    const xb_registry_op_t del[] = {{XB_REGISTRY_OP_DELETE, NULL, "u-single"},
                                    {XB_REGISTRY_OP_DELETE, "ignored", "u-a"}};
    CU_ASSERT_EQUAL(apply(b, 2, del, &err), 0);
    assert_no_uuid(b, "single");
    assert_no_chain(b, "u-single");
    assert_no_uuid(b, "system.o.c-1.a");
    assert_registry_count(b, 2);
    done(b);
}

static void test_registry_apply_set_then_delete(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "keep", "u-keep", &err), 0);
    const xb_registry_op_t ops[] = {
        {XB_REGISTRY_OP_SET, "c1", "u1"},
        {XB_REGISTRY_OP_DELETE, NULL, "u1"},
        {XB_REGISTRY_OP_DELETE, NULL, "never-registered"},
        {XB_REGISTRY_OP_DELETE, NULL, "u1"}, /* a second delete: still fine */
    };
    CU_ASSERT_EQUAL(apply(b, 4, ops, &err), 0);
    assert_no_uuid(b, "c1");
    assert_no_chain(b, "u1");
    assert_pair(b, "keep", "u-keep");
    assert_registry_count(b, 1);
    /* Delete then set in one batch: the pair exists afterwards. */
    const xb_registry_op_t again[] = {{XB_REGISTRY_OP_DELETE, NULL, "u-keep"},
                                      {XB_REGISTRY_OP_SET, "keep", "u-keep"}};
    CU_ASSERT_EQUAL(apply(b, 2, again, &err), 0);
    assert_pair(b, "keep", "u-keep");
    assert_registry_count(b, 1);
    /* A batch of deletes of unknown uuids only. */
    const xb_registry_op_t unknown[] = {{XB_REGISTRY_OP_DELETE, NULL, "x1"},
                                        {XB_REGISTRY_OP_DELETE, NULL, "x2"}};
    CU_ASSERT_EQUAL(apply(b, 2, unknown, &err), 0);
    assert_registry_count(b, 1);
    done(b);
}

static void test_registry_apply_replace(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    /* A chain gets a new uuid within one batch: u1 no longer names it. */
    const xb_registry_op_t ops[] = {
        {XB_REGISTRY_OP_SET, "chain", "u1"},
        {XB_REGISTRY_OP_SET, "chain", "u2"},
    };
    CU_ASSERT_EQUAL(apply(b, 2, ops, &err), 0);
    assert_pair(b, "chain", "u2");
    assert_no_chain(b, "u1");
    assert_registry_count(b, 1);
    /* A uuid moves to another chain: the old chain loses it. */
    const xb_registry_op_t move[] = {
        {XB_REGISTRY_OP_SET, "c1", "u9"},
        {XB_REGISTRY_OP_SET, "c2", "u9"},
        {XB_REGISTRY_OP_SET, "chain", "u3"}, /* replaces u2 set by the last batch */
    };
    CU_ASSERT_EQUAL(apply(b, 3, move, &err), 0);
    assert_pair(b, "c2", "u9");
    assert_no_uuid(b, "c1");
    assert_pair(b, "chain", "u3");
    assert_no_chain(b, "u2");
    assert_registry_count(b, 2);
    done(b);
}

static void test_registry_apply_bad_op(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "old", "u-old", &err), 0);
    const xb_registry_op_t bad[][3] = {
        {{XB_REGISTRY_OP_SET, "new", "u-new"},
         {XB_REGISTRY_OP_DELETE, NULL, "u-old"},
         {XB_REGISTRY_OP_SET, NULL, "u-x"}},
        {{XB_REGISTRY_OP_SET, "new", "u-new"},
         {XB_REGISTRY_OP_DELETE, NULL, "u-old"},
         {XB_REGISTRY_OP_SET, "", "u-x"}},
        {{XB_REGISTRY_OP_SET, "new", "u-new"},
         {XB_REGISTRY_OP_DELETE, NULL, "u-old"},
         {XB_REGISTRY_OP_SET, "c-x", NULL}},
        {{XB_REGISTRY_OP_SET, "new", "u-new"},
         {XB_REGISTRY_OP_DELETE, NULL, "u-old"},
         {XB_REGISTRY_OP_SET, "c-x", ""}},
        {{XB_REGISTRY_OP_SET, "new", "u-new"},
         {XB_REGISTRY_OP_DELETE, NULL, "u-old"},
         {XB_REGISTRY_OP_DELETE, "c-x", NULL}},
        {{XB_REGISTRY_OP_SET, "new", "u-new"},
         {XB_REGISTRY_OP_DELETE, NULL, "u-old"},
         {XB_REGISTRY_OP_DELETE, NULL, ""}},
        {{XB_REGISTRY_OP_SET, "new", "u-new"},
         {XB_REGISTRY_OP_DELETE, NULL, "u-old"},
         {(xb_registry_op_kind_t)7, "c-x", "u-x"}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.code = XB_OK;
        CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 3, bad[i], &err), -1);
        CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
        /* Nothing of the batch was applied, not even the valid ops before it. */
        assert_no_uuid(b, "new");
        assert_no_chain(b, "u-new");
        assert_pair(b, "old", "u-old");
    }
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 1, NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_registry_apply(NULL, 1, bad[0], &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    assert_registry_count(b, 1);
    done(b);
}

static void test_registry_apply_empty(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "c", "u", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 0, NULL, &err), 0);
    const xb_registry_op_t ops[] = {{XB_REGISTRY_OP_DELETE, NULL, "u"}};
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 0, ops, &err), 0);
    assert_pair(b, "c", "u");
    assert_registry_count(b, 1);
    done(b);
}

/* 2000 changes in one batch (more than one Redis pipeline chunk): 1200 sets,
 * 400 deletes of some of them, 400 sets that move uuids to new chains. */
static void test_registry_apply_large(void)
{
    enum { SETS = 1200, DELETES = 400, MOVES = 400, N = SETS + DELETES + MOVES };
    xb_backend_t *b = fresh();
    xb_error_t err;
    char(*chains)[48] = calloc(N, sizeof *chains);
    char(*uuids)[48] = calloc(N, sizeof *uuids);
    xb_registry_op_t *ops = calloc(N, sizeof *ops);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chains);
    CU_ASSERT_PTR_NOT_NULL_FATAL(uuids);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
    for (int i = 0; i < SETS; i++) {
        snprintf(chains[i], sizeof chains[i], "system.o.c-%d.a", i);
        snprintf(uuids[i], sizeof uuids[i], "uuid-%d", i);
        ops[i] = (xb_registry_op_t){XB_REGISTRY_OP_SET, chains[i], uuids[i]};
    }
    for (int i = 0; i < DELETES; i++) /* uuid-0 .. uuid-399 */
        ops[SETS + i] = (xb_registry_op_t){XB_REGISTRY_OP_DELETE, NULL, uuids[i]};
    for (int i = 0; i < MOVES; i++) { /* uuid-400 .. uuid-799 to new chains */
        int k = SETS + DELETES + i;
        snprintf(chains[k], sizeof chains[k], "system.o.c-%d.moved", i);
        ops[k] = (xb_registry_op_t){XB_REGISTRY_OP_SET, chains[k], uuids[DELETES + i]};
    }
    CU_ASSERT_EQUAL(apply(b, N, ops, &err), 0);
    assert_registry_count(b, SETS - DELETES);
    assert_no_chain(b, "uuid-0");
    assert_no_chain(b, "uuid-399");
    assert_no_uuid(b, "system.o.c-0.a");
    assert_no_uuid(b, "system.o.c-400.a");
    assert_pair(b, "system.o.c-0.moved", "uuid-400");
    assert_pair(b, "system.o.c-399.moved", "uuid-799");
    assert_pair(b, "system.o.c-800.a", "uuid-800");
    assert_pair(b, "system.o.c-1199.a", "uuid-1199");
    xb_pair_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(b, &list, &err), 0);
    size_t found = 0;
    for (int i = 0; i < MOVES; i++)
        found += pair_list_has(&list, chains[SETS + DELETES + i], uuids[DELETES + i]);
    for (int i = DELETES + MOVES; i < SETS; i++)
        found += pair_list_has(&list, chains[i], uuids[i]);
    CU_ASSERT_EQUAL(found, (size_t)(SETS - DELETES));
    xb_pair_list_free(&list);
    /* Deleting everything in one batch empties the registry. */
    for (int i = 0; i < SETS; i++)
        ops[i] = (xb_registry_op_t){XB_REGISTRY_OP_DELETE, NULL, uuids[i]};
    CU_ASSERT_EQUAL(apply(b, SETS, ops, &err), 0);
    assert_registry_count(b, 0);
    free(chains);
    free(uuids);
    free(ops);
    done(b);
}

/* ---- ping, info, limits ---------------------------------------------------------- */

static void test_ping_info(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_ping(b, &err), 0);
    xb_backend_info_t info;
    if (info_of(b, &info)) {
        CU_ASSERT_EQUAL(info.threads, 0);
        CU_ASSERT_TRUE(info.slots == 0 || info.slots == -1);
        CU_ASSERT_EQUAL(info.registry_entries, 0);
        CU_ASSERT_EQUAL(info.limit_refusals, 0);
        CU_ASSERT_EQUAL(info.evicted_threads, 0);
        CU_ASSERT_STRING_EQUAL(info.type, xb_backend_type_name(xb_backend_config(b)->type));
    }
    append_str(b, "t1", "a");
    append_str(b, "t1", "b");
    append_str(b, "t2", "c");
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "c1", "u1", &err), 0);
    if (info_of(b, &info)) {
        CU_ASSERT_EQUAL(info.threads, 2);
        CU_ASSERT_TRUE(info.slots == 3 || info.slots == -1);
        CU_ASSERT_EQUAL(info.registry_entries, 1);
    }
    done(b);
}

static void test_limit_slots(void)
{
    xb_backend_t *b = fresh_limited(3, 0);
    xb_error_t err;
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(append_str(b, "full", "s"), i);
    long index = -1;
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "full", "x", 1, &index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_EQUAL(thread_len(b, "full"), 3);
    /* Other threads are not affected. */
    CU_ASSERT_EQUAL(append_str(b, "other", "o"), 0);
    /* A batch that runs into the limit is refused as well. */
    const char *threads[] = {"other", "full"};
    xb_blob_t slots[] = {{(char *)"p", 1}, {(char *)"q", 1}};
    long idx[2];
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, 2, threads, slots, idx, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_EQUAL(thread_len(b, "full"), 3);
    xb_backend_info_t info;
    if (info_of(b, &info))
        CU_ASSERT_EQUAL(info.limit_refusals, 2);
    done(b);
}

static void test_limit_bytes(void)
{
    xb_backend_t *b = fresh_limited(0, 64);
    xb_error_t err;
    char data[65];
    memset(data, 'x', sizeof data);
    long index = -1;
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "t", data, 64, &index, &err), 0);
    CU_ASSERT_EQUAL(index, 0);
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "t", data, 65, &index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_EQUAL(thread_len(b, "t"), 1);
    /* A refused append to a new thread creates no thread. */
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "new", data, 65, &index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_FALSE(thread_exists(b, "new"));
    xb_backend_info_t info;
    if (info_of(b, &info)) {
        CU_ASSERT_EQUAL(info.limit_refusals, 2);
        CU_ASSERT_EQUAL(info.threads, 1);
    }
    done(b);
}

/* ---- concurrency ------------------------------------------------------------------ */

#define WRITERS 4
#define PER_WRITER 2000

typedef struct {
    xb_backend_t *b;
    int id;
    long shared_index[PER_WRITER / 2];
    long own_index[PER_WRITER / 2];
    int failures;
    char first_error[XB_ERROR_MESSAGE_MAX];
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    char own[32], text[64];
    snprintf(own, sizeof own, "own-%d", w->id);
    for (int i = 0; i < PER_WRITER; i++) {
        const char *thread = (i % 2 == 0) ? "shared" : own;
        long *slot = (i % 2 == 0) ? &w->shared_index[i / 2] : &w->own_index[i / 2];
        snprintf(text, sizeof text, "w%d:%d", w->id, i);
        xb_error_t err;
        if (xb_backend_buffer_append(w->b, thread, text, strlen(text), slot, &err) != 0) {
            if (w->failures++ == 0)
                snprintf(w->first_error, sizeof w->first_error, "%s", err.message);
            *slot = -1;
        }
    }
    return NULL;
}

static void test_concurrent_appends(void)
{
    xb_backend_t *b = fresh();
    xb_error_t err;
    writer_t *w = calloc(WRITERS, sizeof *w);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    pthread_t tid[WRITERS];
    int started = 0;
    for (int k = 0; k < WRITERS; k++) {
        w[k].b = b;
        w[k].id = k;
        if (pthread_create(&tid[k], NULL, writer_main, &w[k]) == 0)
            started++;
    }
    CU_ASSERT_EQUAL_FATAL(started, WRITERS);
    for (int k = 0; k < WRITERS; k++)
        pthread_join(tid[k], NULL);
    for (int k = 0; k < WRITERS; k++) {
        CU_ASSERT_EQUAL(w[k].failures, 0);
        if (w[k].failures)
            fprintf(stderr, "writer %d: %d failures, first: %s\n", k, w[k].failures,
                    w[k].first_error);
    }
    const long shared_total = WRITERS * PER_WRITER / 2;
    CU_ASSERT_EQUAL(thread_len(b, "shared"), shared_total);

    /* Every index 0..n-1 handed out exactly once, and the stored slot at
     * each index is the one its writer appended. */
    char *seen = calloc((size_t)shared_total, 1);
    xb_blob_list_t list = {0};
    CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_get_thread(b, "shared", &list, &err), 0);
    CU_ASSERT_EQUAL_FATAL(list.count, (size_t)shared_total);
    int dup = 0, out_of_range = 0, mismatched = 0;
    char text[64];
    for (int k = 0; k < WRITERS; k++) {
        long prev = -1;
        for (int i = 0; i < PER_WRITER / 2; i++) {
            long idx = w[k].shared_index[i];
            if (idx < 0 || idx >= shared_total) {
                out_of_range++;
                continue;
            }
            if (seen[idx]++)
                dup++;
            if (idx <= prev) /* one writer's appends keep their order */
                mismatched++;
            prev = idx;
            snprintf(text, sizeof text, "w%d:%d", k, 2 * i);
            if (!blob_is_str(&list.items[idx], text))
                mismatched++;
        }
    }
    CU_ASSERT_EQUAL(dup, 0);
    CU_ASSERT_EQUAL(out_of_range, 0);
    CU_ASSERT_EQUAL(mismatched, 0);
    xb_blob_list_free(&list);
    free(seen);

    for (int k = 0; k < WRITERS; k++) {
        char own[32];
        snprintf(own, sizeof own, "own-%d", k);
        CU_ASSERT_EQUAL(thread_len(b, own), PER_WRITER / 2);
        int wrong = 0;
        for (int i = 0; i < PER_WRITER / 2; i++)
            wrong += w[k].own_index[i] != i;
        CU_ASSERT_EQUAL(wrong, 0);
    }
    free(w);
    done(b);
}

/* ---- the test table ---------------------------------------------------------------- */

const xbt_test_t xb_backend_suite_tests[] = {
    {"append returns per-thread indexes", test_append_index},
    {"get thread", test_get_thread},
    {"get slot and bad index", test_get_slot},
    {"thread length and exists", test_len_exists},
    {"delete thread", test_delete_thread},
    {"list threads", test_list_threads},
    {"scan threads page by page", test_scan_threads},
    {"buffer clear keeps registry", test_clear},
    {"batch append", test_batch},
    {"binary, unicode and large slots", test_binary_unicode},
    {"glob and separator characters in names", test_odd_names},
    {"bad arguments", test_bad_arguments},
    {"registry set and get both ways", test_registry_set_get},
    {"registry replace keeps a bijection", test_registry_replace},
    {"registry delete", test_registry_delete},
    {"registry list and clear", test_registry_list_clear},
    {"registry batch of sets", test_registry_apply_sets},
    {"registry batch: set then delete, unknown deletes", test_registry_apply_set_then_delete},
    {"registry batch keeps a bijection", test_registry_apply_replace},
    {"registry batch with a bad op applies nothing", test_registry_apply_bad_op},
    {"registry batch of no ops", test_registry_apply_empty},
    {"registry batch of 2000 ops", test_registry_apply_large},
    {"ping and info", test_ping_info},
    {"limit max_slots_per_thread", test_limit_slots},
    {"limit max_slot_bytes", test_limit_bytes},
    {"4 writers x 2000 concurrent appends", test_concurrent_appends},
    {"journal entries written with their slots, replaced, removed", test_journal_append},
    {"journal entry of a refused slot is not written", test_journal_refused_slot},
    {"journal bad arguments, cleared with the buffer", test_journal_bad_arguments},
    {NULL, NULL},
};
