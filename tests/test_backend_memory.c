/* The memory backend: the shared backend suite, plus what only `memory`
 * does (eviction of the oldest thread at max_threads) and the dispatch and
 * helpers of bus/backend.c. */
#include "backend_suite.h"
#include "xbt.h"

#include "xmlbus/backend.h"
#include "xmlbus/config.h"
#include "log.h"
#include "xbt_main.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static xb_backend_t *open_memory(const xb_backend_config_t *limits)
{
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    xb_backend_suite_apply_limits(&cfg, limits);
    xb_error_t err;
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    if (!b)
        fprintf(stderr, "memory backend: %s\n", err.message);
    return b;
}

static void close_memory(xb_backend_t *b)
{
    xb_backend_destroy(&b);
}

static xb_backend_t *open_max_threads(long max_threads)
{
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.max_threads = max_threads;
    xb_error_t err;
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    return b;
}

static void append(xb_backend_t *b, const char *thread)
{
    xb_error_t err;
    long index;
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, thread, "x", 1, &index, &err), 0);
}

static bool exists(xb_backend_t *b, const char *thread)
{
    xb_error_t err;
    bool e = false;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_exists(b, thread, &e, &err), 0);
    return e;
}

static long evicted(xb_backend_t *b)
{
    xb_error_t err;
    xb_backend_info_t info;
    CU_ASSERT_EQUAL_FATAL(xb_backend_info(b, &info, &err), 0);
    return info.evicted_threads;
}

/* The oldest thread by creation goes, even when it was written to last. */
static void test_evict_oldest(void)
{
    xb_backend_t *b = open_max_threads(3);
    append(b, "t1");
    append(b, "t2");
    append(b, "t3");
    append(b, "t1"); /* recent use does not make t1 younger */
    CU_ASSERT_EQUAL(evicted(b), 0);
    append(b, "t4");
    CU_ASSERT_FALSE(exists(b, "t1"));
    CU_ASSERT_TRUE(exists(b, "t2"));
    CU_ASSERT_TRUE(exists(b, "t3"));
    CU_ASSERT_TRUE(exists(b, "t4"));
    CU_ASSERT_EQUAL(evicted(b), 1);
    append(b, "t5");
    CU_ASSERT_FALSE(exists(b, "t2"));
    CU_ASSERT_EQUAL(evicted(b), 2);

    xb_error_t err;
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.threads, 3);
    CU_ASSERT_EQUAL(info.slots, 3);
    /* Appending to a thread that exists never evicts. */
    append(b, "t3");
    CU_ASSERT_EQUAL(evicted(b), 2);
    xb_backend_destroy(&b);
    CU_ASSERT_PTR_NULL(b);
}

/* A deleted thread leaves the creation order; a thread that comes back is new. */
static void test_evict_after_delete(void)
{
    xb_backend_t *b = open_max_threads(2);
    xb_error_t err;
    append(b, "a");
    append(b, "b");
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_backend_buffer_delete_thread(b, "a", &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    append(b, "a"); /* now the youngest: no eviction, two threads */
    CU_ASSERT_EQUAL(evicted(b), 0);
    append(b, "c"); /* evicts b, the oldest */
    CU_ASSERT_FALSE(exists(b, "b"));
    CU_ASSERT_TRUE(exists(b, "a"));
    CU_ASSERT_TRUE(exists(b, "c"));
    CU_ASSERT_EQUAL(evicted(b), 1);
    /* The list stays in creation order: oldest first. */
    xb_str_list_t list = {0};
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_list_threads(b, &list, &err), 0);
    CU_ASSERT_EQUAL_FATAL(list.count, 2);
    CU_ASSERT_STRING_EQUAL(list.items[0], "a");
    CU_ASSERT_STRING_EQUAL(list.items[1], "c");
    xb_str_list_free(&list);
    /* buffer_clear empties the order as well. */
    CU_ASSERT_EQUAL(xb_backend_buffer_clear(b, &err), 0);
    append(b, "x");
    append(b, "y");
    CU_ASSERT_EQUAL(evicted(b), 1);
    append(b, "z");
    CU_ASSERT_FALSE(exists(b, "x"));
    CU_ASSERT_EQUAL(evicted(b), 2);
    xb_backend_destroy(&b);
}

/* Eviction touches buffers only, never the registry; a batch evicts too. */
static void test_evict_keeps_registry(void)
{
    xb_backend_t *b = open_max_threads(1);
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.a", "u1", &err), 0);
    append(b, "u1");
    const char *threads[] = {"u2", "u3"};
    xb_blob_t slots[] = {{(char *)"p", 1}, {(char *)"q", 1}};
    long index[2] = {-1, -1};
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, 2, threads, slots, index, &err), 0);
    CU_ASSERT_EQUAL(index[0], 0);
    CU_ASSERT_EQUAL(index[1], 0);
    CU_ASSERT_FALSE(exists(b, "u1"));
    CU_ASSERT_FALSE(exists(b, "u2"));
    CU_ASSERT_TRUE(exists(b, "u3"));
    CU_ASSERT_EQUAL(evicted(b), 2);
    char *chain = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_chain(b, "u1", &chain, &err), 0);
    CU_ASSERT_STRING_EQUAL(chain ? chain : "", "system.o.c-1.a");
    free(chain);
    xb_backend_destroy(&b);
}

/* Many threads and registry entries: the hash tables grow and stay right. */
static void test_many_keys(void)
{
    xb_backend_t *b = open_memory(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err;
    char name[32], uuid[32];
    int bad = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "thread-%d", i);
        snprintf(uuid, sizeof uuid, "uuid-%d", i);
        long index = -1;
        bad += xb_backend_buffer_append(b, name, name, strlen(name), &index, &err) != 0;
        bad += index != 0;
        bad += xb_backend_registry_set(b, name, uuid, &err) != 0;
    }
    for (int i = 0; i < 5000; i += 2) {
        snprintf(name, sizeof name, "thread-%d", i);
        snprintf(uuid, sizeof uuid, "uuid-%d", i);
        bool deleted = false;
        bad += xb_backend_buffer_delete_thread(b, name, &deleted, &err) != 0 || !deleted;
        bad += xb_backend_registry_delete(b, uuid, &deleted, &err) != 0 || !deleted;
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "thread-%d", i);
        long len = -1;
        bad += xb_backend_buffer_thread_len(b, name, &len, &err) != 0;
        bad += len != (i % 2 ? 1 : 0);
        char *u = NULL;
        int rc = xb_backend_registry_get_uuid(b, name, &u, &err);
        bad += (i % 2) ? rc != 0 : rc != -1;
        free(u);
    }
    CU_ASSERT_EQUAL(bad, 0);
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.threads, 2500);
    CU_ASSERT_EQUAL(info.slots, 2500);
    CU_ASSERT_EQUAL(info.registry_entries, 2500);
    CU_ASSERT_STRING_EQUAL(info.type, "memory");
    CU_ASSERT_EQUAL(info.ttl, -1);
    xb_backend_destroy(&b);
}

/* ---- bus/backend.c ----------------------------------------------------------- */

static void test_config_defaults(void)
{
    xb_backend_config_t cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    xb_backend_config_defaults(&cfg);
    CU_ASSERT_EQUAL(cfg.type, XB_BACKEND_MEMORY);
    CU_ASSERT_STRING_EQUAL(cfg.redis_prefix, "xp:");
    CU_ASSERT_EQUAL(cfg.redis_ttl, 86400);
    CU_ASSERT_EQUAL(cfg.max_slots_per_thread, 0);
    CU_ASSERT_EQUAL(cfg.max_threads, 0);
    CU_ASSERT_EQUAL(cfg.max_slot_bytes, 0);
    CU_ASSERT_EQUAL(cfg.max_bytes, (size_t)1 << 30);
    CU_ASSERT_EQUAL(cfg.max_wmem_entries, 256);
    CU_ASSERT_EQUAL(cfg.max_wmem_entry_bytes, (size_t)1 << 20);
    CU_ASSERT_EQUAL(cfg.map_size, 0);
    CU_ASSERT_STRING_EQUAL(cfg.path, "");
}

static void test_type_names(void)
{
    const char *names[] = {"memory", "manager", "redis"};
    for (int i = 0; i < 3; i++) {
        xb_backend_type_t t = (xb_backend_type_t)99;
        CU_ASSERT_EQUAL(xb_backend_type_parse(names[i], &t), 0);
        CU_ASSERT_EQUAL((int)t, i);
        CU_ASSERT_STRING_EQUAL(xb_backend_type_name(t), names[i]);
    }
    xb_backend_type_t t;
    CU_ASSERT_EQUAL(xb_backend_type_parse("lmdb", &t), -1);
    CU_ASSERT_EQUAL(xb_backend_type_parse("Memory", &t), -1);
    CU_ASSERT_EQUAL(xb_backend_type_parse(NULL, &t), -1);
    CU_ASSERT_STRING_EQUAL(xb_backend_type_name((xb_backend_type_t)42), "unknown");
}

static void test_new_refuses_bad_config(void)
{
    xb_error_t err;
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.type = (xb_backend_type_t)7;
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    xb_backend_config_defaults(&cfg);
    cfg.max_threads = -1;
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    xb_backend_config_defaults(&cfg);
    cfg.max_wmem_entries = -1;
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    CU_ASSERT_PTR_NULL(xb_backend_new(NULL, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    xb_backend_t *none = NULL;
    xb_backend_destroy(&none);
    xb_backend_destroy(NULL);
    CU_ASSERT_PTR_NULL(xb_backend_config(NULL));
}

static void test_config_is_kept(void)
{
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.max_slots_per_thread = 17;
    xb_error_t err;
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    cfg.max_slots_per_thread = 99; /* the backend keeps its own copy */
    CU_ASSERT_EQUAL(xb_backend_config(b)->max_slots_per_thread, 17);
    CU_ASSERT_EQUAL(xb_backend_config(b)->type, XB_BACKEND_MEMORY);
    xb_backend_destroy(&b);
}

static void test_list_free_resets(void)
{
    xb_blob_list_t bl = {calloc(2, sizeof(xb_blob_t)), 2};
    CU_ASSERT_PTR_NOT_NULL_FATAL(bl.items);
    bl.items[0].data = strdup("a");
    xb_blob_list_free(&bl);
    CU_ASSERT_PTR_NULL(bl.items);
    CU_ASSERT_EQUAL(bl.count, 0);
    xb_blob_list_free(&bl); /* twice is fine */
    xb_str_list_t sl = {calloc(1, sizeof(char *)), 1};
    CU_ASSERT_PTR_NOT_NULL_FATAL(sl.items);
    sl.items[0] = strdup("s");
    xb_str_list_free(&sl);
    CU_ASSERT_EQUAL(sl.count, 0);
    xb_pair_list_t pl = {calloc(1, sizeof(xb_registry_pair_t)), 1};
    CU_ASSERT_PTR_NOT_NULL_FATAL(pl.items);
    pl.items[0].chain = strdup("c");
    pl.items[0].uuid = strdup("u");
    xb_pair_list_free(&pl);
    CU_ASSERT_EQUAL(pl.count, 0);
    xb_blob_list_free(NULL);
    xb_str_list_free(NULL);
    xb_pair_list_free(NULL);
}

static xb_backend_t *open_max_bytes(size_t max_bytes)
{
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.max_bytes = max_bytes;
    xb_error_t err;
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    return b;
}

static int append_n(xb_backend_t *b, const char *thread, size_t n, xb_error_t *err)
{
    char buf[1024];
    memset(buf, 'x', sizeof buf);
    long index;
    return xb_backend_buffer_append(b, thread, buf, n, &index, err);
}

static long refusals(xb_backend_t *b)
{
    xb_error_t err;
    xb_backend_info_t info;
    CU_ASSERT_EQUAL_FATAL(xb_backend_info(b, &info, &err), 0);
    return info.limit_refusals;
}

/* max_bytes evicts the oldest threads, like max_threads, until the slot fits. */
static void test_max_bytes_evicts_oldest(void)
{
    xb_backend_t *b = open_max_bytes(1000);
    xb_error_t err;
    CU_ASSERT_EQUAL(append_n(b, "t1", 400, &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "t2", 400, &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "t3", 200, &err), 0); /* exactly 1000: no eviction */
    CU_ASSERT_EQUAL(evicted(b), 0);
    CU_ASSERT_EQUAL(append_n(b, "t4", 500, &err), 0); /* t1 and t2 go: 200 + 500 */
    CU_ASSERT_FALSE(exists(b, "t1"));
    CU_ASSERT_FALSE(exists(b, "t2"));
    CU_ASSERT_TRUE(exists(b, "t3"));
    CU_ASSERT_TRUE(exists(b, "t4"));
    CU_ASSERT_EQUAL(evicted(b), 2);
    /* a thread that grows evicts the others, oldest first, never itself */
    CU_ASSERT_EQUAL(append_n(b, "t4", 400, &err), 0);
    CU_ASSERT_FALSE(exists(b, "t3"));
    CU_ASSERT_TRUE(exists(b, "t4"));
    CU_ASSERT_EQUAL(evicted(b), 3);
    /* a delete gives its bytes back */
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_backend_buffer_delete_thread(b, "t4", &deleted, &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "t5", 1000, &err), 0);
    CU_ASSERT_EQUAL(evicted(b), 3);
    CU_ASSERT_EQUAL(refusals(b), 0);
    xb_backend_destroy(&b);
}

/* What cannot fit even alone is refused with a limit, stores nothing and is
 * counted: a slot larger than max_bytes, or one more slot of a thread that
 * holds the whole budget. */
static void test_max_bytes_refuses(void)
{
    xb_backend_t *b = open_max_bytes(1000);
    xb_error_t err;
    CU_ASSERT_EQUAL(append_n(b, "t1", 300, &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "big", 1001, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "max_bytes"));
    CU_ASSERT_FALSE(exists(b, "big"));
    CU_ASSERT_TRUE(exists(b, "t1")); /* a refusal evicts nothing */
    CU_ASSERT_EQUAL(refusals(b), 1);
    CU_ASSERT_EQUAL(append_n(b, "t1", 700, &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "t1", 1, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_EQUAL(refusals(b), 2);
    long len = 0;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(b, "t1", &len, &err), 0);
    CU_ASSERT_EQUAL(len, 2);
    /* after clear the whole budget is free again */
    CU_ASSERT_EQUAL(xb_backend_buffer_clear(b, &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "t2", 1000, &err), 0);
    xb_backend_destroy(&b);
}

static int wmem_put_n(xb_backend_t *b, const char *conv, const char *name, size_t n,
                      xb_error_t *err)
{
    char buf[1024];
    memset(buf, 'w', sizeof buf);
    xb_wmem_entry_t e = {name, buf, n};
    return xb_backend_wmem_put(b, conv, 1, &e, err);
}

/* Working memory counts against max_bytes with the slots: a put evicts the
 * oldest threads to fit, working memory itself is never evicted (what it
 * alone cannot fit is refused whole), and a drop or replace gives bytes
 * back. */
static void test_max_bytes_counts_wmem(void)
{
    xb_backend_t *b = open_max_bytes(1000);
    xb_error_t err;
    CU_ASSERT_EQUAL(append_n(b, "t1", 400, &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "t2", 400, &err), 0);
    CU_ASSERT_EQUAL(wmem_put_n(b, "c1", "a", 300, &err), 0); /* t1 goes: 400 + 300 */
    CU_ASSERT_FALSE(exists(b, "t1"));
    CU_ASSERT_TRUE(exists(b, "t2"));
    CU_ASSERT_EQUAL(wmem_put_n(b, "c1", "a", 600, &err), 0); /* replaced: 400 + 600 */
    CU_ASSERT_TRUE(exists(b, "t2"));
    CU_ASSERT_EQUAL(wmem_put_n(b, "c2", "b", 401, &err), -1); /* 600 + 401 > 1000 */
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "max_bytes 1000"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "c2"));
    CU_ASSERT_TRUE(exists(b, "t2"));                   /* a refusal evicts nothing */
    CU_ASSERT_EQUAL(append_n(b, "t3", 401, &err), -1); /* working memory is not evicted */
    CU_ASSERT_EQUAL(xb_backend_buffer_clear(b, &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "t4", 401, &err), -1); /* clear keeps working memory */
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "c1", &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "t4", 1000, &err), 0); /* the drop gave the bytes back */
    xb_backend_destroy(&b);
}

/* One slot with its working memory (append_all), sizes in bytes. */
static int append_wmem_n(xb_backend_t *b, const char *thread, size_t slot, const char *conv,
                         size_t entry, xb_error_t *err)
{
    char buf[1024], wbuf[1024];
    memset(buf, 'x', sizeof buf);
    memset(wbuf, 'w', sizeof wbuf);
    xb_blob_t s = {buf, slot};
    xb_wmem_entry_t e = {"e", wbuf, entry};
    xb_wmem_batch_t w = {conv, 1, &e};
    long index;
    return xb_backend_buffer_append_all(b, 1, &thread, &s, NULL, &w, &index, err);
}

/* A slot and its writes need room together: the oldest threads (never the
 * slot's own) are evicted for both; what working memory alone cannot fit
 * refuses the slot before anything changes; the bytes are counted as a put
 * counts them (a drop gives them back). */
static void test_max_bytes_append_all(void)
{
    xb_backend_t *b = open_max_bytes(1000);
    xb_error_t err;
    CU_ASSERT_EQUAL(append_n(b, "t1", 300, &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "t2", 300, &err), 0);
    CU_ASSERT_EQUAL(append_wmem_n(b, "t2", 200, "c1", 300, &err), 0); /* t1 goes */
    CU_ASSERT_FALSE(exists(b, "t1"));
    CU_ASSERT_TRUE(exists(b, "t2"));
    CU_ASSERT_EQUAL(evicted(b), 1);
    CU_ASSERT_EQUAL(append_wmem_n(b, "t3", 10, "c2", 701, &err), -1); /* 300 + 701 */
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "c2"));
    CU_ASSERT_FALSE(exists(b, "t3"));
    CU_ASSERT_TRUE(exists(b, "t2")); /* a refusal evicts nothing */
    CU_ASSERT_EQUAL(append_wmem_n(b, "t2", 200, "c1", 500, &err), -1); /* t2 alone: 700 + 500 */
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    long len = 0;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(b, "t2", &len, &err), 0);
    CU_ASSERT_EQUAL(len, 2);
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "c1", &err), 0);
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_backend_buffer_delete_thread(b, "t2", &deleted, &err), 0);
    CU_ASSERT_EQUAL(append_n(b, "t4", 1000, &err), 0); /* every byte was given back */
    xb_backend_destroy(&b);
}

/* max_bytes comes from the backend section of organism.yaml. */
static void test_max_bytes_config(void)
{
    const char *yaml = "organism:\n  name: t\nbackend:\n  type: memory\n  max_bytes: 2KiB\n"
                       "listeners:\n  - name: a\n    payload: a\n";
    xb_error_t err;
    xb_config_t *cfg = xb_config_load_string(yaml, strlen(yaml), "t.yaml", "/tmp", &err);
    if (!cfg)
        fprintf(stderr, "max_bytes config: %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(cfg->backend.max_bytes, 2048);
    xb_config_destroy(&cfg);
    const char *lmdb = "organism:\n  name: t\nbackend:\n  type: manager\n  max_bytes: 2KiB\n"
                       "listeners:\n  - name: a\n    payload: a\n";
    cfg = xb_config_load_string(lmdb, strlen(lmdb), "t.yaml", "/tmp", &err);
    CU_ASSERT_PTR_NULL(cfg);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "applies to backend type 'memory' only"));
}

static const xbt_test_t memory_only_tests[] = {
    {"max_bytes evicts the oldest threads", test_max_bytes_evicts_oldest},
    {"max_bytes refuses what cannot fit", test_max_bytes_refuses},
    {"max_bytes counts working memory", test_max_bytes_counts_wmem},
    {"max_bytes with a slot and its working memory", test_max_bytes_append_all},
    {"max_bytes from organism.yaml", test_max_bytes_config},
    {"evicts the oldest thread", test_evict_oldest},
    {"eviction order after delete and clear", test_evict_after_delete},
    {"eviction keeps the registry, batch evicts", test_evict_keeps_registry},
    {"thousands of keys", test_many_keys},
    {NULL, NULL},
};

static const xbt_test_t backend_dispatch_tests[] = {
    {"config defaults", test_config_defaults},           {"type names", test_type_names},
    {"bad config refused", test_new_refuses_bad_config}, {"config copied", test_config_is_kept},
    {"list free resets", test_list_free_resets},         {NULL, NULL},
};

static int contract_init(void)
{
    xbt_log_errors_only();
    return xb_backend_suite_use(open_memory, close_memory);
}

XBT_SUITES({"backend suite: memory", contract_init, xb_backend_suite_done, NULL, NULL,
            xb_backend_suite_tests},
           {"working memory: memory", contract_init, xb_backend_suite_done, NULL, NULL,
            xb_backend_suite_wmem_tests},
           {"memory only", xbt_log_errors_only, NULL, NULL, NULL, memory_only_tests},
           {"backend dispatch", xbt_log_errors_only, NULL, NULL, NULL, backend_dispatch_tests});
