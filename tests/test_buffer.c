/* The context buffer over the real memory backend: append and index,
 * isolation, every limit, eviction, stats, immutability, concurrency. */
#include "xmlbus/buffer.h"
#include "log.h"
#include "xbt.h"
#include "xbt_main.h"

#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    xb_backend_t *backend;
    xb_buffer_t *buffer;
} fixture_t;

/* A memory backend with the given backend limits and a buffer over it. */
static fixture_t open_fixture(long max_slots, long max_threads, size_t max_slot_bytes,
                              size_t max_payload)
{
    fixture_t f = {0};
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.max_slots_per_thread = max_slots;
    cfg.max_threads = max_threads;
    cfg.max_slot_bytes = max_slot_bytes;
    xb_error_t err;
    f.backend = xb_backend_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.backend);
    xb_buffer_limits_t limits = {max_payload};
    f.buffer = xb_buffer_new(f.backend, &limits, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.buffer);
    return f;
}

static void close_fixture(fixture_t *f)
{
    xb_buffer_destroy(&f->buffer);
    CU_ASSERT_PTR_NULL(f->buffer);
    xb_backend_destroy(&f->backend);
}

static int add(fixture_t *f, const char *thread, const char *payload, long *index, xb_error_t *err)
{
    return xb_buffer_append(f->buffer, thread, "console", "greeter", "greeting", "msg-id", 1000,
                            payload, strlen(payload), index, err);
}

static long add_ok(fixture_t *f, const char *thread, const char *payload)
{
    xb_error_t err;
    long index = -1;
    CU_ASSERT_EQUAL(add(f, thread, payload, &index, &err), 0);
    return index;
}

static void test_append_and_read(void)
{
    fixture_t f = open_fixture(0, 0, 0, 0);
    xb_error_t err;
    long index = -1;
    CU_ASSERT_EQUAL(xb_buffer_append(f.buffer, "t1", "console", NULL, "greeting", "m-0", 111,
                                     "<greeting/>", 11, &index, &err),
                    0);
    CU_ASSERT_EQUAL(index, 0);
    CU_ASSERT_EQUAL(xb_buffer_append(f.buffer, "t1", "greeter", "console", "reply", "m-1", 222,
                                     "<reply>hi</reply>", 17, &index, &err),
                    0);
    CU_ASSERT_EQUAL(index, 1);

    xb_slot_list_t list = {0};
    CU_ASSERT_EQUAL_FATAL(xb_buffer_get_thread(f.buffer, "t1", &list, &err), 0);
    CU_ASSERT_EQUAL_FATAL(list.count, 2);
    xb_slot_t *s0 = list.items[0], *s1 = list.items[1];
    CU_ASSERT_EQUAL(xb_slot_index(s0), 0);
    CU_ASSERT_STRING_EQUAL(xb_slot_thread(s0), "t1");
    CU_ASSERT_STRING_EQUAL(xb_slot_from(s0), "console");
    CU_ASSERT_STRING_EQUAL(xb_slot_to(s0), "");
    CU_ASSERT_STRING_EQUAL(xb_slot_payload_type(s0), "greeting");
    CU_ASSERT_STRING_EQUAL(xb_slot_message_id(s0), "m-0");
    CU_ASSERT_EQUAL(xb_slot_timestamp_us(s0), 111);
    CU_ASSERT_EQUAL(xb_slot_index(s1), 1);
    CU_ASSERT_STRING_EQUAL(xb_slot_to(s1), "console");
    CU_ASSERT_STRING_EQUAL(xb_slot_payload(s1, NULL), "<reply>hi</reply>");
    xb_slot_list_free(&list);

    xb_slot_t *one = xb_buffer_get_slot(f.buffer, "t1", 1, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(one);
    CU_ASSERT_EQUAL(xb_slot_index(one), 1);
    CU_ASSERT_STRING_EQUAL(xb_slot_message_id(one), "m-1");
    xb_slot_destroy(&one);

    err.code = XB_OK;
    CU_ASSERT_PTR_NULL(xb_buffer_get_slot(f.buffer, "t1", 2, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    CU_ASSERT_PTR_NULL(xb_buffer_get_slot(f.buffer, "nobody", 0, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(xb_buffer_get_thread(f.buffer, "nobody", &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 0);

    long len = -1;
    bool exists = false;
    CU_ASSERT_EQUAL(xb_buffer_thread_len(f.buffer, "t1", &len, &err), 0);
    CU_ASSERT_EQUAL(len, 2);
    CU_ASSERT_EQUAL(xb_buffer_thread_exists(f.buffer, "t1", &exists, &err), 0);
    CU_ASSERT_TRUE(exists);
    close_fixture(&f);
}

static void test_isolation(void)
{
    fixture_t f = open_fixture(0, 0, 0, 0);
    xb_error_t err;
    CU_ASSERT_EQUAL(add_ok(&f, "a", "<a1/>"), 0);
    CU_ASSERT_EQUAL(add_ok(&f, "b", "<b1/>"), 0);
    CU_ASSERT_EQUAL(add_ok(&f, "a", "<a2/>"), 1);
    xb_slot_list_t la = {0}, lb = {0};
    CU_ASSERT_EQUAL_FATAL(xb_buffer_get_thread(f.buffer, "a", &la, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_buffer_get_thread(f.buffer, "b", &lb, &err), 0);
    CU_ASSERT_EQUAL_FATAL(la.count, 2);
    CU_ASSERT_EQUAL_FATAL(lb.count, 1);
    CU_ASSERT_STRING_EQUAL(xb_slot_payload(la.items[1], NULL), "<a2/>");
    CU_ASSERT_STRING_EQUAL(xb_slot_payload(lb.items[0], NULL), "<b1/>");
    CU_ASSERT_STRING_EQUAL(xb_slot_thread(lb.items[0]), "b");
    xb_slot_list_free(&la);
    xb_slot_list_free(&lb);

    bool deleted = false;
    CU_ASSERT_EQUAL(xb_buffer_delete_thread(f.buffer, "a", &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    long len = -1;
    CU_ASSERT_EQUAL(xb_buffer_thread_len(f.buffer, "b", &len, &err), 0);
    CU_ASSERT_EQUAL(len, 1);
    xb_str_list_t names = {0};
    CU_ASSERT_EQUAL(xb_buffer_list_threads(f.buffer, &names, &err), 0);
    CU_ASSERT_EQUAL_FATAL(names.count, 1);
    CU_ASSERT_STRING_EQUAL(names.items[0], "b");
    xb_str_list_free(&names);
    CU_ASSERT_EQUAL(xb_buffer_clear(f.buffer, &err), 0);
    CU_ASSERT_EQUAL(xb_buffer_list_threads(f.buffer, &names, &err), 0);
    CU_ASSERT_EQUAL(names.count, 0);
    close_fixture(&f);
}

/* Slots handed out are copies: later appends, deletes and other readers
 * never change a slot a caller holds. */
static void test_immutability(void)
{
    fixture_t f = open_fixture(0, 0, 0, 0);
    xb_error_t err;
    char payload[] = "<first/>";
    add_ok(&f, "t", payload);
    payload[1] = 'X'; /* the caller's buffer is not the stored one */
    xb_slot_t *a = xb_buffer_get_slot(f.buffer, "t", 0, &err);
    xb_slot_t *b = xb_buffer_get_slot(f.buffer, "t", 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    CU_ASSERT_STRING_EQUAL(xb_slot_payload(a, NULL), "<first/>");
    for (int i = 0; i < 50; i++)
        add_ok(&f, "t", "<later/>");
    xb_slot_destroy(&b);
    bool deleted;
    CU_ASSERT_EQUAL(xb_buffer_delete_thread(f.buffer, "t", &deleted, &err), 0);
    CU_ASSERT_STRING_EQUAL(xb_slot_payload(a, NULL), "<first/>");
    CU_ASSERT_EQUAL(xb_slot_index(a), 0);
    CU_ASSERT_STRING_EQUAL(xb_slot_thread(a), "t");
    xb_slot_destroy(&a);
    close_fixture(&f);
}

static void test_limit_payload(void)
{
    fixture_t f = open_fixture(0, 0, 0, 10);
    xb_error_t err;
    long index = -1;
    CU_ASSERT_EQUAL(add(&f, "t", "<x>56</x>", &index, &err), 0);  /* 9 bytes */
    CU_ASSERT_EQUAL(add(&f, "t", "<x>567</x>", &index, &err), 0); /* 10 bytes */
    err.code = XB_OK;
    CU_ASSERT_EQUAL(add(&f, "t", "<x>5678</x>", &index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "max_payload_bytes"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "thread t"));
    long len = -1;
    CU_ASSERT_EQUAL(xb_buffer_thread_len(f.buffer, "t", &len, &err), 0);
    CU_ASSERT_EQUAL(len, 2);
    xb_buffer_stats_t st;
    xb_buffer_stats(f.buffer, &st);
    CU_ASSERT_EQUAL(st.refused_payload_bytes, 1);
    CU_ASSERT_EQUAL(st.appends, 2);
    close_fixture(&f);
}

static void test_limit_slot_bytes(void)
{
    /* The encoding of one slot here is 36 + 1 + 7 + 7 + 8 + 6 + payload. */
    size_t overhead = XB_SLOT_HEADER_BYTES + 1 + 7 + 7 + 8 + 6;
    fixture_t f = open_fixture(0, 0, overhead + 4, 0);
    xb_error_t err;
    long index = -1;
    CU_ASSERT_EQUAL(add(&f, "t", "<x/>", &index, &err), 0);
    err.code = XB_OK;
    CU_ASSERT_EQUAL(add(&f, "t", "<xx/>", &index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "max_slot_bytes"));
    xb_buffer_stats_t st;
    xb_buffer_stats(f.buffer, &st);
    CU_ASSERT_EQUAL(st.refused_slot_bytes, 1);
    CU_ASSERT_EQUAL(st.appends, 1);
    CU_ASSERT_EQUAL(st.stored_bytes, (long)(overhead + 4));
    close_fixture(&f);
}

static void test_limit_slots_per_thread(void)
{
    fixture_t f = open_fixture(2, 0, 0, 0);
    xb_error_t err;
    long index = -1;
    add_ok(&f, "t", "<a/>");
    add_ok(&f, "t", "<b/>");
    err.code = XB_OK;
    CU_ASSERT_EQUAL(add(&f, "t", "<c/>", &index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_EQUAL(add_ok(&f, "u", "<c/>"), 0);
    xb_buffer_stats_t st;
    xb_buffer_stats(f.buffer, &st);
    CU_ASSERT_EQUAL(st.refused_backend_limit, 1);
    CU_ASSERT_EQUAL(st.backend_limit_refusals, 1);
    CU_ASSERT_EQUAL(st.errors, 0);
    CU_ASSERT_EQUAL(st.appends, 3);
    close_fixture(&f);
}

static void test_eviction(void)
{
    fixture_t f = open_fixture(0, 2, 0, 0);
    xb_error_t err;
    add_ok(&f, "old", "<a/>");
    add_ok(&f, "mid", "<b/>");
    add_ok(&f, "new", "<c/>");
    bool exists = true;
    CU_ASSERT_EQUAL(xb_buffer_thread_exists(f.buffer, "old", &exists, &err), 0);
    CU_ASSERT_FALSE(exists);
    CU_ASSERT_EQUAL(xb_buffer_thread_exists(f.buffer, "mid", &exists, &err), 0);
    CU_ASSERT_TRUE(exists);
    xb_buffer_stats_t st;
    xb_buffer_stats(f.buffer, &st);
    CU_ASSERT_EQUAL(st.evicted_threads, 1);
    close_fixture(&f);
}

static void test_stats(void)
{
    fixture_t f = open_fixture(0, 0, 0, 0);
    xb_error_t err;
    xb_buffer_stats_t st;
    xb_buffer_stats(f.buffer, &st);
    CU_ASSERT_EQUAL(st.appends, 0);
    CU_ASSERT_EQUAL(st.evicted_threads, 0);
    add_ok(&f, "t", "<abc/>");
    add_ok(&f, "t", "<de/>");
    xb_slot_list_t list = {0};
    CU_ASSERT_EQUAL(xb_buffer_get_thread(f.buffer, "t", &list, &err), 0);
    xb_slot_list_free(&list);
    xb_slot_t *s = xb_buffer_get_slot(f.buffer, "t", 0, &err);
    xb_slot_destroy(&s);
    xb_buffer_stats(f.buffer, &st);
    CU_ASSERT_EQUAL(st.appends, 2);
    CU_ASSERT_EQUAL(st.payload_bytes, 6 + 5);
    CU_ASSERT_EQUAL(st.stored_bytes, 2 * (XB_SLOT_HEADER_BYTES + 1 + 7 + 7 + 8 + 6) + 11);
    CU_ASSERT_EQUAL(st.reads, 2);
    CU_ASSERT_EQUAL(st.errors, 0);
    CU_ASSERT_EQUAL(st.refused_payload_bytes + st.refused_slot_bytes + st.refused_backend_limit, 0);
    close_fixture(&f);
}

/* Bytes in the backend that are not a slot: reported and counted, no crash. */
static void test_corrupt_backend_data(void)
{
    fixture_t f = open_fixture(0, 0, 0, 0);
    xb_error_t err;
    add_ok(&f, "t", "<ok/>");
    long index;
    CU_ASSERT_EQUAL(xb_backend_buffer_append(f.backend, "t", "XBS1garbage", 11, &index, &err), 0);
    xb_slot_list_t list = {0};
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_buffer_get_thread(f.buffer, "t", &list, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_EQUAL(list.count, 0);
    CU_ASSERT_PTR_NULL(xb_buffer_get_slot(f.buffer, "t", 1, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    xb_slot_t *ok = xb_buffer_get_slot(f.buffer, "t", 0, &err);
    CU_ASSERT_PTR_NOT_NULL(ok);
    xb_slot_destroy(&ok);
    xb_buffer_stats_t st;
    xb_buffer_stats(f.buffer, &st);
    CU_ASSERT_EQUAL(st.errors, 2);
    close_fixture(&f);
}

static void test_batch(void)
{
    fixture_t f = open_fixture(0, 0, 0, 8);
    xb_error_t err;
    add_ok(&f, "a", "<x/>");
    xb_slot_fields_t slots[3] = {
        {"a", "f", "", "x", "id1", 1, "<y/>", 4},
        {"b", "f", "", "x", "id2", 2, "<z/>", 4},
        {"a", "f", "", "x", "id3", 3, "<w/>", 4},
    };
    long index[3] = {-1, -1, -1};
    CU_ASSERT_EQUAL_FATAL(xb_buffer_append_batch(f.buffer, 3, slots, index, &err), 0);
    CU_ASSERT_EQUAL(index[0], 1);
    CU_ASSERT_EQUAL(index[1], 0);
    CU_ASSERT_EQUAL(index[2], 2);
    xb_slot_t *s = xb_buffer_get_slot(f.buffer, "a", 2, &err);
    CU_ASSERT_STRING_EQUAL(s ? xb_slot_message_id(s) : "", "id3");
    xb_slot_destroy(&s);
    /* One slot over the payload limit: nothing of the batch is stored. */
    slots[1].payload = "<toolong/>";
    slots[1].payload_len = 10;
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_buffer_append_batch(f.buffer, 3, slots, index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    long len = -1;
    CU_ASSERT_EQUAL(xb_buffer_thread_len(f.buffer, "a", &len, &err), 0);
    CU_ASSERT_EQUAL(len, 3);
    xb_buffer_stats_t st;
    xb_buffer_stats(f.buffer, &st);
    CU_ASSERT_EQUAL(st.appends, 4);
    CU_ASSERT_EQUAL(st.refused_payload_bytes, 1);
    CU_ASSERT_EQUAL(xb_buffer_append_batch(f.buffer, 0, NULL, NULL, &err), 0);
    close_fixture(&f);
}

/* append_all: a slot's working memory is written with it, and a slot whose
 * writes are refused stops the batch there (the slots before are stored and
 * counted by the backend, the call fails). */
static void test_batch_wmem(void)
{
    fixture_t f = open_fixture(0, 0, 0, 0);
    xb_error_t err;
    xb_slot_fields_t slots[2] = {
        {"a", "f", "", "x", "id1", 1, "<y/>", 4},
        {"b", "f", "", "x", "id2", 2, "<z/>", 4},
    };
    xb_wmem_entry_t e = {"mood", "<mood/>", 7}, bad = {"9", "<n/>", 4};
    xb_wmem_batch_t wmem[2] = {{NULL, 0, NULL}, {"conv", 1, &e}};
    long index[2] = {-1, -1};
    CU_ASSERT_EQUAL_FATAL(xb_buffer_append_all(f.buffer, 2, slots, NULL, wmem, index, &err), 0);
    CU_ASSERT_EQUAL(index[1], 0);
    xb_blob_t out = {0};
    CU_ASSERT_EQUAL(xb_backend_wmem_get(f.backend, "conv", "mood", &out, &err), 0);
    CU_ASSERT_TRUE(out.len == 7 && memcmp(out.data, "<mood/>", 7) == 0);
    free(out.data);
    wmem[1].entries = &bad;
    CU_ASSERT_EQUAL(xb_buffer_append_all(f.buffer, 2, slots, NULL, wmem, index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(index[0], 1);
    CU_ASSERT_EQUAL(index[1], -1);
    long len = -1;
    CU_ASSERT_EQUAL(xb_buffer_thread_len(f.buffer, "b", &len, &err), 0);
    CU_ASSERT_EQUAL(len, 1);
    close_fixture(&f);
}

static void test_bad_arguments(void)
{
    xb_error_t err;
    CU_ASSERT_PTR_NULL(xb_buffer_new(NULL, NULL, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    fixture_t f = open_fixture(0, 0, 0, 0);
    long index;
    CU_ASSERT_EQUAL(xb_buffer_append(f.buffer, NULL, "f", "", "t", "i", 0, "<x/>", 4, &index, &err),
                    -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(xb_buffer_append(NULL, "t", "f", "", "t", "i", 0, "<x/>", 4, &index, &err), -1);
    CU_ASSERT_EQUAL(xb_buffer_get_thread(f.buffer, "t", NULL, &err), -1);
    CU_ASSERT_PTR_EQUAL(xb_buffer_backend(f.buffer), f.backend);
    xb_buffer_t *none = NULL;
    xb_buffer_destroy(&none);
    close_fixture(&f);
}

#define WRITERS 4
#define PER_WRITER 500

static void *writer(void *arg)
{
    xb_buffer_t *b = arg;
    for (int i = 0; i < PER_WRITER; i++) {
        xb_error_t err;
        if (xb_buffer_append(b, i % 2 ? "shared" : "other", "f", "", "x", "id", i, "<p/>", 4, NULL,
                             &err) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_stats(void)
{
    fixture_t f = open_fixture(0, 0, 0, 0);
    pthread_t tid[WRITERS];
    for (int k = 0; k < WRITERS; k++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&tid[k], NULL, writer, f.buffer), 0);
    int failed = 0;
    for (int k = 0; k < WRITERS; k++) {
        void *rv = NULL;
        pthread_join(tid[k], &rv);
        failed += rv != NULL;
    }
    CU_ASSERT_EQUAL(failed, 0);
    xb_buffer_stats_t st;
    xb_buffer_stats(f.buffer, &st);
    CU_ASSERT_EQUAL(st.appends, WRITERS * PER_WRITER);
    CU_ASSERT_EQUAL(st.payload_bytes, WRITERS * PER_WRITER * 4);
    xb_error_t err;
    long a = 0, b = 0;
    CU_ASSERT_EQUAL(xb_buffer_thread_len(f.buffer, "shared", &a, &err), 0);
    CU_ASSERT_EQUAL(xb_buffer_thread_len(f.buffer, "other", &b, &err), 0);
    CU_ASSERT_EQUAL(a + b, WRITERS * PER_WRITER);
    close_fixture(&f);
}

static const xbt_test_t buffer_tests[] = {
    {"append and read", test_append_and_read},
    {"threads are isolated", test_isolation},
    {"slots are immutable copies", test_immutability},
    {"limit max_payload_bytes", test_limit_payload},
    {"limit max_slot_bytes", test_limit_slot_bytes},
    {"limit max_slots_per_thread", test_limit_slots_per_thread},
    {"eviction at max_threads", test_eviction},
    {"stats", test_stats},
    {"corrupt backend data", test_corrupt_backend_data},
    {"batch", test_batch},
    {"batch with working memory", test_batch_wmem},
    {"bad arguments", test_bad_arguments},
    {"concurrent appends and stats", test_concurrent_stats},
    {NULL, NULL},
};

XBT_SUITES({"buffer", xbt_log_errors_only, NULL, NULL, NULL, buffer_tests});
