/* The redis backend (bus/backend_redis*.c) and its URL parser
 * (bus/redis_url.c) against real redis-server processes started on free
 * loopback ports: the shared backend suite, then the Redis specifics (key
 * layout, prefixes, TTL, URLs, atomic scripts, batches, outages). */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend_suite.h"
#include "redis_server.h"
#include "xbt.h"
#include "xmlbus/backend.h"
#include "log.h"
#include "redis_url.h"
#include "xbt_main.h"

static xb_redis_server_t *g_srv; /* xb_redis_server_shared: every test but the outage ones */
static char g_start_error[XB_ERROR_MESSAGE_MAX];
static int g_prefix_counter;

/* ---- helpers ------------------------------------------------------------ */

static bool have_server(void)
{
    if (!g_srv)
        fprintf(stderr, "\n  no redis-server: %s\n", g_start_error);
    return g_srv != NULL;
}

static void unique_prefix(char *out, size_t size, const char *stem)
{
    snprintf(out, size, "%s-%d:", stem, ++g_prefix_counter);
}

/* Opens a redis backend on url with prefix and ttl; NULL fails the test. */
static xb_backend_t *open_redis(const char *url, const char *prefix, long ttl,
                                const xb_backend_config_t *limits)
{
    xb_backend_config_t cfg;
    xb_error_t err = {0};
    xb_backend_config_defaults(&cfg);
    cfg.type = XB_BACKEND_REDIS;
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "%s", url);
    snprintf(cfg.redis_prefix, sizeof cfg.redis_prefix, "%s", prefix);
    cfg.redis_ttl = ttl;
    xb_backend_suite_apply_limits(&cfg, limits);
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    if (!b)
        fprintf(stderr, "\n  open %s (%s): %s\n", url, prefix, err.message);
    return b;
}

static xb_backend_t *open_shared(const char *prefix, long ttl)
{
    return have_server() ? open_redis(xb_redis_server_url(g_srv), prefix, ttl, NULL) : NULL;
}

/* A backend on the shared server under a fresh prefix (written to prefix)
 * with max_slots_per_thread and max_threads (0: no limit); NULL fails. */
static xb_backend_t *open_limited(const char *stem, long max_slots, long max_threads,
                                  char prefix[64])
{
    unique_prefix(prefix, 64, stem);
    xb_backend_config_t limits;
    xb_backend_config_defaults(&limits);
    limits.max_slots_per_thread = max_slots;
    limits.max_threads = max_threads;
    return have_server() ? open_redis(xb_redis_server_url(g_srv), prefix, 100, &limits) : NULL;
}

/* A direct hiredis connection to look at the keys the backend wrote. */
static redisContext *raw_connect(const xb_redis_server_t *srv, const char *password)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", xb_redis_server_port(srv), tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    if (password) {
        redisReply *r = redisCommand(c, "AUTH %s", password);
        freeReplyObject(r);
    }
    return c;
}

static long long raw_integer(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = (r && r->type == REDIS_REPLY_INTEGER) ? r->integer : -999;
    freeReplyObject(r);
    return v;
}

/* The string reply of a command, malloc'd, or NULL. */
static char *raw_string(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    char *s = NULL;
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
        s = strndup(r->str, r->len);
    freeReplyObject(r);
    return s;
}

static bool raw_string_is(redisContext *c, const char *want, const char *fmt, const char *arg)
{
    char *s = raw_string(c, fmt, arg);
    bool ok = s && strcmp(s, want) == 0;
    free(s);
    return ok;
}

static void destroy_clean(xb_backend_t **b)
{
    xb_error_t err;
    if (b && *b) {
        xb_backend_buffer_clear(*b, &err);
        xb_backend_registry_clear(*b, &err);
    }
    xb_backend_destroy(b);
}

/* A backend on a fresh prefix ("stem-N:") of the shared server, and a raw
 * connection to look at the keys it writes. False when either is missing. */
static bool open_pair(const char *stem, long ttl, char prefix[64], xb_backend_t **b,
                      redisContext **c)
{
    unique_prefix(prefix, 64, stem);
    *b = open_shared(prefix, ttl);
    *c = *b ? raw_connect(g_srv, NULL) : NULL;
    return *b && *c;
}

static void close_pair(xb_backend_t **b, redisContext *c)
{
    if (c)
        redisFree(c);
    destroy_clean(b);
}

static int append_text(xb_backend_t *b, const char *thread, const char *text, long *index,
                       xb_error_t *err)
{
    return xb_backend_buffer_append(b, thread, text, strlen(text), index, err);
}

/* ---- shared suite ------------------------------------------------------- */

static xb_backend_t *suite_open(const xb_backend_config_t *limits)
{
    char prefix[64];
    unique_prefix(prefix, sizeof prefix, "suite");
    return have_server() ? open_redis(xb_redis_server_url(g_srv), prefix, 86400, limits) : NULL;
}

static void suite_close(xb_backend_t *b)
{
    destroy_clean(&b);
}

/* ---- key layout, prefixes ----------------------------------------------- */

static void test_key_layout(void)
{
    xb_backend_t *b = open_shared("lay:", 100);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    redisContext *c = raw_connect(g_srv, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    xb_error_t err;
    long index = -1;
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "t1", "a\0b", 3, &index, &err), 0);
    CU_ASSERT_EQUAL(append_text(b, "t1", "second", &index, &err), 0);
    CU_ASSERT_TRUE(raw_string_is(c, "list", "TYPE %s", "lay:buffer:t1"));
    redisReply *r = redisCommand(c, "LINDEX lay:buffer:t1 0");
    CU_ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING && r->len == 3 &&
                   memcmp(r->str, "a\0b", 3) == 0);
    freeReplyObject(r);
    CU_ASSERT_EQUAL(raw_integer(c, "LLEN lay:buffer:t1"), 2);

    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.a", "u-1", &err), 0);
    CU_ASSERT_TRUE(raw_string_is(c, "u-1", "GET %s", "lay:chain:system.o.c-1.a"));
    CU_ASSERT_TRUE(raw_string_is(c, "system.o.c-1.a", "GET %s", "lay:uuid:u-1"));
    /* Nothing else: exactly three keys under the prefix. */
    redisReply *k = redisCommand(c, "SCAN 0 MATCH lay:* COUNT 1000");
    CU_ASSERT_TRUE(k && k->type == REDIS_REPLY_ARRAY && k->element[1]->elements == 3);
    freeReplyObject(k);
    close_pair(&b, c);
}

static bool str_list_has(const xb_str_list_t *l, const char *s)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i], s) == 0)
            return true;
    return false;
}

static void check_threads(xb_backend_t *b, size_t count, const char *must, const char *must_not)
{
    xb_error_t err;
    xb_str_list_t list = {0};
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_list_threads(b, &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, count);
    if (must)
        CU_ASSERT_TRUE(str_list_has(&list, must));
    if (must_not)
        CU_ASSERT_FALSE(str_list_has(&list, must_not));
    xb_str_list_free(&list);
}

static void test_prefix_isolation(void)
{
    xb_backend_t *a = open_shared("tenant-a:", 100);
    xb_backend_t *b = open_shared("tenant-b:", 100);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err;
    long index = -1;
    CU_ASSERT_EQUAL(append_text(a, "same", "a1", &index, &err), 0);
    CU_ASSERT_EQUAL(append_text(a, "only-a", "a2", &index, &err), 0);
    CU_ASSERT_EQUAL(append_text(b, "same", "b1", &index, &err), 0);
    CU_ASSERT_EQUAL(index, 0); /* b's "same" is its own thread */
    CU_ASSERT_EQUAL(append_text(b, "only-b", "b2", &index, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(a, "chain", "uuid-a", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "chain", "uuid-b", &err), 0);

    check_threads(a, 2, "only-a", "only-b");
    check_threads(b, 2, "only-b", "only-a");
    char *s = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_uuid(a, "chain", &s, &err), 0);
    CU_ASSERT_STRING_EQUAL(s ? s : "", "uuid-a");
    free(s);
    CU_ASSERT_EQUAL(xb_backend_registry_get_chain(a, "uuid-b", &s, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    xb_pair_list_t pairs = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(b, &pairs, &err), 0);
    CU_ASSERT_EQUAL(pairs.count, 1);
    if (pairs.count == 1)
        CU_ASSERT_STRING_EQUAL(pairs.items[0].uuid, "uuid-b");
    xb_pair_list_free(&pairs);

    /* Clearing a's buffer and registry leaves b alone. */
    CU_ASSERT_EQUAL(xb_backend_buffer_clear(a, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_clear(a, &err), 0);
    check_threads(a, 0, NULL, "same");
    check_threads(b, 2, "same", NULL);
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(b, &pairs, &err), 0);
    CU_ASSERT_EQUAL(pairs.count, 1);
    xb_pair_list_free(&pairs);
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.threads, 2);
    CU_ASSERT_EQUAL(info.registry_entries, 1);
    destroy_clean(&a);
    destroy_clean(&b);
}

/* A prefix with glob characters must not match other tenants' keys. */
static void test_prefix_glob_characters(void)
{
    xb_backend_t *glob = open_shared("g*[x]?:", 100);
    xb_backend_t *other = open_shared("gzx1:", 100);
    CU_ASSERT_PTR_NOT_NULL_FATAL(glob);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    xb_error_t err;
    long index;
    CU_ASSERT_EQUAL(append_text(other, "t", "x", &index, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(other, "c", "u", &err), 0);
    check_threads(glob, 0, NULL, "t");
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(glob, &info, &err), 0);
    CU_ASSERT_EQUAL(info.threads, 0);
    CU_ASSERT_EQUAL(info.registry_entries, 0);
    CU_ASSERT_EQUAL(xb_backend_buffer_clear(glob, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_clear(glob, &err), 0);
    check_threads(other, 1, "t", NULL);
    char *s = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_uuid(other, "c", &s, &err), 0);
    free(s);
    /* And the glob prefix still sees its own keys. */
    CU_ASSERT_EQUAL(append_text(glob, "mine", "y", &index, &err), 0);
    check_threads(glob, 1, "mine", NULL);
    destroy_clean(&glob);
    destroy_clean(&other);
}

/* ---- TTL ---------------------------------------------------------------- */

static void test_ttl_set_on_write(void)
{
    char prefix[64], key[128];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("ttl", 100, prefix, &b, &c));
    xb_error_t err;
    long index;
    CU_ASSERT_EQUAL(append_text(b, "t", "x", &index, &err), 0);
    snprintf(key, sizeof key, "%sbuffer:t", prefix);
    long long ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 0 && ttl <= 100);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "ch", "uu", &err), 0);
    snprintf(key, sizeof key, "%schain:ch", prefix);
    ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 0 && ttl <= 100);
    snprintf(key, sizeof key, "%suuid:uu", prefix);
    ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 0 && ttl <= 100);
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.ttl, 100);
    close_pair(&b, c);
}

/* Working memory is the HASH "prefix memory:CONVERSATION", field = name,
 * with the TTL of the thread keys after every put (none when redis_ttl is
 * 0); drop deletes the key. */
static void test_wmem_key_and_ttl(void)
{
    char prefix[64], key[160];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("wmem", 100, prefix, &b, &c));
    xb_error_t err;
    xb_wmem_entry_t es[] = {{"plan", "<plan/>", 7}, {"note", "<n>1</n>", 8}};
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "system.hello.c-1", 2, es, &err), 0);
    snprintf(key, sizeof key, "%smemory:system.hello.c-1", prefix);
    CU_ASSERT_TRUE(raw_string_is(c, "hash", "TYPE %s", key));
    CU_ASSERT_EQUAL(raw_integer(c, "HLEN %s", key), 2);
    char *v = raw_string(c, "HGET %s plan", key);
    CU_ASSERT_TRUE(v && strcmp(v, "<plan/>") == 0);
    free(v);
    long long ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 0 && ttl <= 100);
    CU_ASSERT_EQUAL(raw_integer(c, "EXPIRE %s 5", key), 1); /* time passes */
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "system.hello.c-1", 1, es, &err), 0);
    ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 5 && ttl <= 100); /* a put refreshes it */
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "system.hello.c-1", &err), 0);
    CU_ASSERT_EQUAL(raw_integer(c, "EXISTS %s", key), 0);
    close_pair(&b, c);

    CU_ASSERT_TRUE_FATAL(open_pair("wmem0", 0, prefix, &b, &c));
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "c", 1, es, &err), 0);
    snprintf(key, sizeof key, "%smemory:c", prefix);
    CU_ASSERT_EQUAL(raw_integer(c, "EXISTS %s", key), 1);
    CU_ASSERT_EQUAL(raw_integer(c, "TTL %s", key), -1);
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "c", &err), 0);
    close_pair(&b, c);
}

/* append_all writes the memory hash of a slot in the append script, with
 * the same key and TTL as a put; after SCRIPT FLUSH (NOSCRIPT) the EVAL
 * fallback runs the same script. */
static void test_append_all_memory_key(void)
{
    char prefix[64], key[160];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("wmemall", 100, prefix, &b, &c));
    xb_error_t err;
    xb_wmem_entry_t es[] = {{"plan", "<plan/>", 7}, {"note", "<n>1</n>", 8}};
    const char *threads[] = {"t1", "t2"};
    xb_blob_t slots[] = {{"<a/>", 4}, {"<b/>", 4}};
    xb_wmem_batch_t w[] = {{NULL, 0, NULL}, {"system.hello.c-2", 2, es}};
    long idx[2];
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            CU_ASSERT_TRUE(raw_string_is(c, "OK", "SCRIPT %s", "FLUSH"));
        CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, 2, threads, slots, NULL, w, idx, &err), 0);
        CU_ASSERT_EQUAL(idx[1], round);
        snprintf(key, sizeof key, "%smemory:system.hello.c-2", prefix);
        CU_ASSERT_EQUAL(raw_integer(c, "HLEN %s", key), 2);
        long long ttl = raw_integer(c, "TTL %s", key);
        CU_ASSERT_TRUE(ttl > (round ? 5 : 0) && ttl <= 100);    /* round 1: refreshed */
        CU_ASSERT_EQUAL(raw_integer(c, "EXPIRE %s 5", key), 1); /* time passes */
    }
    close_pair(&b, c);
}

/* Time passing is simulated by lowering the TTL on the server. */
static void test_ttl_refreshed_on_append(void)
{
    char prefix[64], key[128];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("ttlr", 1000, prefix, &b, &c));
    xb_error_t err;
    long index;
    snprintf(key, sizeof key, "%sbuffer:t", prefix);
    CU_ASSERT_EQUAL(append_text(b, "t", "1", &index, &err), 0);
    CU_ASSERT_EQUAL(raw_integer(c, "EXPIRE %s 5", key), 1);
    long long ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 0 && ttl <= 5);
    CU_ASSERT_EQUAL(append_text(b, "t", "2", &index, &err), 0);
    ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 5 && ttl <= 1000);

    /* A batch refreshes too. */
    CU_ASSERT_EQUAL(raw_integer(c, "EXPIRE %s 5", key), 1);
    const char *threads[] = {"t"};
    xb_blob_t slots[] = {{(char *)"3", 1}};
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, 1, threads, slots, &index, &err), 0);
    ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 5 && ttl <= 1000);

    /* Reading does not refresh. */
    CU_ASSERT_EQUAL(raw_integer(c, "EXPIRE %s 5", key), 1);
    xb_blob_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_get_thread(b, "t", &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 3);
    xb_blob_list_free(&list);
    ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 0 && ttl <= 5);
    close_pair(&b, c);
}

static void test_ttl_zero_never_expires(void)
{
    char prefix[64], key[128];
    unique_prefix(prefix, sizeof prefix, "ttl0");
    xb_backend_t *with_ttl = open_shared(prefix, 100);
    xb_backend_t *b = open_shared(prefix, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(with_ttl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    redisContext *c = raw_connect(g_srv, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    xb_error_t err;
    long index;
    CU_ASSERT_EQUAL(append_text(b, "t", "x", &index, &err), 0);
    snprintf(key, sizeof key, "%sbuffer:t", prefix);
    CU_ASSERT_EQUAL(raw_integer(c, "TTL %s", key), -1);
    /* A thread that had a TTL loses it on the next write with ttl 0. */
    CU_ASSERT_EQUAL(append_text(with_ttl, "t2", "x", &index, &err), 0);
    snprintf(key, sizeof key, "%sbuffer:t2", prefix);
    CU_ASSERT_TRUE(raw_integer(c, "TTL %s", key) > 0);
    CU_ASSERT_EQUAL(append_text(b, "t2", "y", &index, &err), 0);
    CU_ASSERT_EQUAL(raw_integer(c, "TTL %s", key), -1);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "ch", "uu", &err), 0);
    snprintf(key, sizeof key, "%schain:ch", prefix);
    CU_ASSERT_EQUAL(raw_integer(c, "TTL %s", key), -1);
    snprintf(key, sizeof key, "%suuid:uu", prefix);
    CU_ASSERT_EQUAL(raw_integer(c, "TTL %s", key), -1);
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.ttl, 0);
    redisFree(c);
    xb_backend_destroy(&with_ttl);
    destroy_clean(&b);
}

/* ---- URLs ---------------------------------------------------------------- */

static void test_url_parse_good(void)
{
    xb_redis_url_t u;
    xb_error_t err;
    char loc[400];
    CU_ASSERT_EQUAL_FATAL(xb_redis_url_parse("redis://127.0.0.1:6380/2", &u, &err), 0);
    CU_ASSERT_FALSE(u.is_unix);
    CU_ASSERT_STRING_EQUAL(u.host, "127.0.0.1");
    CU_ASSERT_EQUAL(u.port, 6380);
    CU_ASSERT_EQUAL(u.db, 2);
    CU_ASSERT_STRING_EQUAL(u.password, "");
    xb_redis_url_location(&u, loc, sizeof loc);
    CU_ASSERT_STRING_EQUAL(loc, "127.0.0.1:6380/2");

    CU_ASSERT_EQUAL_FATAL(xb_redis_url_parse("redis://localhost", &u, &err), 0);
    CU_ASSERT_STRING_EQUAL(u.host, "localhost");
    CU_ASSERT_EQUAL(u.port, 6379);
    CU_ASSERT_EQUAL(u.db, 0);

    CU_ASSERT_EQUAL_FATAL(xb_redis_url_parse("redis://:s3cret@redis.example:7000/", &u, &err), 0);
    CU_ASSERT_STRING_EQUAL(u.password, "s3cret");
    CU_ASSERT_STRING_EQUAL(u.username, "");
    CU_ASSERT_EQUAL(u.port, 7000);
    xb_redis_url_where(&u, loc, sizeof loc);
    CU_ASSERT_STRING_EQUAL(loc, "redis.example:7000");

    CU_ASSERT_EQUAL_FATAL(xb_redis_url_parse("REDIS://app:p%40ss%3Aw@h:1/15", &u, &err), 0);
    CU_ASSERT_STRING_EQUAL(u.username, "app");
    CU_ASSERT_STRING_EQUAL(u.password, "p@ss:w");
    CU_ASSERT_EQUAL(u.db, 15);

    CU_ASSERT_EQUAL_FATAL(xb_redis_url_parse("redis://[::1]:6390/1", &u, &err), 0);
    CU_ASSERT_STRING_EQUAL(u.host, "::1");
    CU_ASSERT_EQUAL(u.port, 6390);
    xb_redis_url_location(&u, loc, sizeof loc);
    CU_ASSERT_STRING_EQUAL(loc, "[::1]:6390/1");

    CU_ASSERT_EQUAL_FATAL(xb_redis_url_parse("unix:///run/redis/redis.sock", &u, &err), 0);
    CU_ASSERT_TRUE(u.is_unix);
    CU_ASSERT_STRING_EQUAL(u.path, "/run/redis/redis.sock");
    CU_ASSERT_EQUAL(u.db, 0);

    CU_ASSERT_EQUAL_FATAL(xb_redis_url_parse("unix:///tmp/r.sock?db=4&password=pw%26x", &u, &err),
                          0);
    CU_ASSERT_EQUAL(u.db, 4);
    CU_ASSERT_STRING_EQUAL(u.password, "pw&x");
    xb_redis_url_location(&u, loc, sizeof loc);
    CU_ASSERT_STRING_EQUAL(loc, "unix:/tmp/r.sock?db=4");
}

static void test_url_parse_bad(void)
{
    const char *bad[] = {
        "",
        "localhost:6379",
        "http://localhost",
        "rediss://localhost",
        "redis://",
        "redis://:6379",
        "redis://host:0",
        "redis://host:65536",
        "redis://host:port",
        "redis://host:6379/x",
        "redis://host:6379/1/2",
        "redis://host/-1",
        "redis://user@host",
        "redis://:@host",
        "redis://ho st",
        "redis://host#frag",
        "redis://[::1",
        "redis://:%zz@host",
        "redis://host?db=1&db=2",
        "redis://host/1?db=2",
        "redis://host?color=red",
        "unix://relative/path",
        "unix://",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xb_redis_url_t u;
        xb_error_t err = {0};
        int rc = xb_redis_url_parse(bad[i], &u, &err);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
        CU_ASSERT_TRUE(strlen(err.message) > 0);
        if (rc == 0)
            fprintf(stderr, "\n  accepted bad URL \"%s\"\n", bad[i]);
    }
    xb_error_t err;
    xb_redis_url_t u;
    CU_ASSERT_EQUAL(xb_redis_url_parse(NULL, &u, &err), -1);
    /* The password never shows in the message. */
    CU_ASSERT_EQUAL(xb_redis_url_parse("redis://:topsecret@host:bad", &u, &err), -1);
    CU_ASSERT_PTR_NULL(strstr(err.message, "topsecret"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "port"));
    CU_ASSERT_EQUAL(xb_redis_url_parse("unix:///s?password=topsecret&x=1", &u, &err), -1);
    CU_ASSERT_PTR_NULL(strstr(err.message, "topsecret"));
}

static void test_open_bad_url_and_unreachable(void)
{
    xb_backend_config_t cfg;
    xb_error_t err = {0};
    xb_backend_config_defaults(&cfg);
    cfg.type = XB_BACKEND_REDIS;
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "redis://:hidden@host:99999");
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "bad redis_url"));
    CU_ASSERT_PTR_NULL(strstr(err.message, "hidden"));

    cfg.redis_ttl = -5;
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "redis://127.0.0.1:1");
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);

    /* Nobody listens on port 1: open fails fast and names the address. */
    cfg.redis_ttl = 10;
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "redis at 127.0.0.1:1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "refused"));
}

static void test_url_password_and_db(void)
{
    const char *password = "p@ss:w0rd";
    xb_redis_server_opts_t opts = {.password = password};
    xb_error_t err = {0};
    xb_redis_server_t *srv = xb_redis_server_start(&opts, &err);
    if (!srv)
        fprintf(stderr, "\n  %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    int port = xb_redis_server_port(srv);
    char url[256];

    snprintf(url, sizeof url, "redis://:p%%40ss%%3Aw0rd@127.0.0.1:%d/3", port);
    xb_backend_t *b = open_redis(url, "pw:", 100, NULL);
    CU_ASSERT_PTR_NOT_NULL(b);
    if (b) {
        long index;
        CU_ASSERT_EQUAL(append_text(b, "t", "x", &index, &err), 0);
        redisContext *c = raw_connect(srv, password);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        CU_ASSERT_EQUAL(raw_integer(c, "EXISTS pw:buffer:t"), 0); /* not in db 0 */
        freeReplyObject(redisCommand(c, "SELECT 3"));
        CU_ASSERT_EQUAL(raw_integer(c, "EXISTS pw:buffer:t"), 1);
        redisFree(c);
        xb_backend_info_t info;
        CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
        char loc[64];
        snprintf(loc, sizeof loc, "127.0.0.1:%d/3", port);
        CU_ASSERT_STRING_EQUAL(info.location, loc);
        xb_backend_destroy(&b);
    }
    /* ACL form user:password with the default user works as well. */
    snprintf(url, sizeof url, "redis://default:p%%40ss%%3Aw0rd@127.0.0.1:%d", port);
    b = open_redis(url, "pw:", 100, NULL);
    CU_ASSERT_PTR_NOT_NULL(b);
    xb_backend_destroy(&b);

    /* Wrong or missing password: a clear error that does not echo it. */
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.type = XB_BACKEND_REDIS;
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "redis://:wrongpass@127.0.0.1:%d", port);
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "AUTH failed"));
    CU_ASSERT_PTR_NULL(strstr(err.message, "wrongpass"));
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "redis://127.0.0.1:%d", port);
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    /* A database the server does not have. */
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "redis://:p%%40ss%%3Aw0rd@127.0.0.1:%d/999",
             port);
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "SELECT 999"));
    xb_redis_server_destroy(&srv);
}

static void test_url_unix_socket(void)
{
    xb_redis_server_opts_t opts = {.unix_socket = true};
    xb_error_t err = {0};
    xb_redis_server_t *srv = xb_redis_server_start(&opts, &err);
    if (!srv)
        fprintf(stderr, "\n  %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    char url[400], loc[400];
    snprintf(url, sizeof url, "unix://%s?db=2", xb_redis_server_socket(srv));
    xb_backend_t *b = open_redis(url, "sock:", 100, NULL);
    CU_ASSERT_PTR_NOT_NULL(b);
    if (b) {
        long index;
        CU_ASSERT_EQUAL(xb_backend_ping(b, &err), 0);
        CU_ASSERT_EQUAL(append_text(b, "t", "x", &index, &err), 0);
        redisContext *c = raw_connect(srv, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        freeReplyObject(redisCommand(c, "SELECT 2"));
        CU_ASSERT_EQUAL(raw_integer(c, "LLEN sock:buffer:t"), 1);
        redisFree(c);
        xb_backend_info_t info;
        CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
        snprintf(loc, sizeof loc, "unix:%s?db=2", xb_redis_server_socket(srv));
        CU_ASSERT_STRING_EQUAL(info.location, loc);
        xb_backend_destroy(&b);
    }
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.type = XB_BACKEND_REDIS;
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "unix://%s/missing.sock",
             xb_redis_server_dir(srv));
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "missing.sock"));
    xb_redis_server_destroy(&srv);
}

/* ---- atomic scripts ------------------------------------------------------- */

#define REG_WORKERS 4
#define REG_ROUNDS 400

typedef struct {
    xb_backend_t *b;
    unsigned seed;
    int failures;
} reg_worker_t;

static void *reg_worker(void *arg)
{
    reg_worker_t *w = arg;
    char chain[32], uuid[32];
    for (int i = 0; i < REG_ROUNDS; i++) {
        xb_error_t err;
        snprintf(chain, sizeof chain, "c%d", rand_r(&w->seed) % 12);
        snprintf(uuid, sizeof uuid, "u%d", rand_r(&w->seed) % 12);
        if (rand_r(&w->seed) % 5 == 0) {
            if (xb_backend_registry_delete(w->b, uuid, NULL, &err) != 0)
                w->failures++;
        } else if (xb_backend_registry_set(w->b, chain, uuid, &err) != 0) {
            w->failures++;
        }
    }
    return NULL;
}

/* Checks on the server that chain and uuid keys under prefix form a
 * bijection; returns the number of pairs, or -1 on inconsistency. */
static long check_bijection(redisContext *c, const char *prefix)
{
    long pairs = 0, uuids = 0;
    for (int i = 0; i < 12; i++) {
        char *u = raw_string(c, "GET %schain:c%d", prefix, i);
        if (u) {
            char want[16];
            snprintf(want, sizeof want, "c%d", i);
            char *back = raw_string(c, "GET %suuid:%s", prefix, u);
            bool ok = back && strcmp(back, want) == 0;
            free(back);
            free(u);
            if (!ok)
                return -1;
            pairs++;
        }
        char *ch = raw_string(c, "GET %suuid:u%d", prefix, i);
        uuids += ch != NULL;
        free(ch);
    }
    return pairs == uuids ? pairs : -1;
}

static void test_registry_atomic_under_concurrency(void)
{
    char prefix[64];
    unique_prefix(prefix, sizeof prefix, "reg");
    reg_worker_t w[REG_WORKERS];
    pthread_t tid[REG_WORKERS];
    for (int i = 0; i < REG_WORKERS; i++) {
        /* One backend (one connection) per worker: truly concurrent scripts. */
        w[i].b = open_shared(prefix, 100);
        w[i].seed = 1234u + (unsigned)i;
        w[i].failures = 0;
        CU_ASSERT_PTR_NOT_NULL_FATAL(w[i].b);
    }
    for (int i = 0; i < REG_WORKERS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&tid[i], NULL, reg_worker, &w[i]), 0);
    for (int i = 0; i < REG_WORKERS; i++)
        pthread_join(tid[i], NULL);
    for (int i = 0; i < REG_WORKERS; i++)
        CU_ASSERT_EQUAL(w[i].failures, 0);
    redisContext *c = raw_connect(g_srv, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    long pairs = check_bijection(c, prefix);
    CU_ASSERT_TRUE(pairs >= 0);
    xb_pair_list_t list = {0};
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(w[0].b, &list, &err), 0);
    CU_ASSERT_EQUAL((long)list.count, pairs);
    xb_pair_list_free(&list);
    /* Replacing keeps it consistent: every chain to one uuid in turn. */
    for (int i = 0; i < 12; i++) {
        char chain[16];
        snprintf(chain, sizeof chain, "c%d", i);
        CU_ASSERT_EQUAL(xb_backend_registry_set(w[0].b, chain, "u0", &err), 0);
    }
    CU_ASSERT_EQUAL(check_bijection(c, prefix), 1);
    char key[96];
    snprintf(key, sizeof key, "%suuid:u0", prefix);
    CU_ASSERT_TRUE(raw_string_is(c, "c11", "GET %s", key));
    redisFree(c);
    for (int i = 0; i < REG_WORKERS; i++) {
        if (i == 0)
            destroy_clean(&w[i].b);
        else
            xb_backend_destroy(&w[i].b);
    }
}

#define LIMIT_WORKERS 4
#define LIMIT_TRIES 100
#define LIMIT_MAX 50

typedef struct {
    xb_backend_t *b;
    int stored;
    int refused;
    int other;
} limit_worker_t;

static void *limit_worker(void *arg)
{
    limit_worker_t *w = arg;
    for (int i = 0; i < LIMIT_TRIES; i++) {
        xb_error_t err;
        long index;
        if (append_text(w->b, "crowded", "slot", &index, &err) == 0)
            w->stored++;
        else if (err.code == XB_ERR_LIMIT)
            w->refused++;
        else
            w->other++;
    }
    return NULL;
}

static void test_slot_limit_atomic_under_concurrency(void)
{
    char prefix[64];
    unique_prefix(prefix, sizeof prefix, "lim");
    xb_backend_config_t limits;
    xb_backend_config_defaults(&limits);
    limits.max_slots_per_thread = LIMIT_MAX;
    CU_ASSERT_TRUE_FATAL(have_server());
    limit_worker_t w[LIMIT_WORKERS] = {{0}};
    pthread_t tid[LIMIT_WORKERS];
    for (int i = 0; i < LIMIT_WORKERS; i++) {
        w[i].b = open_redis(xb_redis_server_url(g_srv), prefix, 100, &limits);
        CU_ASSERT_PTR_NOT_NULL_FATAL(w[i].b);
    }
    for (int i = 0; i < LIMIT_WORKERS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&tid[i], NULL, limit_worker, &w[i]), 0);
    for (int i = 0; i < LIMIT_WORKERS; i++)
        pthread_join(tid[i], NULL);
    int stored = 0, refused = 0, other = 0;
    long counted = 0;
    for (int i = 0; i < LIMIT_WORKERS; i++) {
        xb_backend_info_t info;
        xb_error_t err;
        stored += w[i].stored;
        refused += w[i].refused;
        other += w[i].other;
        CU_ASSERT_EQUAL(xb_backend_info(w[i].b, &info, &err), 0);
        counted += info.limit_refusals;
    }
    CU_ASSERT_EQUAL(stored, LIMIT_MAX);
    CU_ASSERT_EQUAL(refused, LIMIT_WORKERS * LIMIT_TRIES - LIMIT_MAX);
    CU_ASSERT_EQUAL(other, 0);
    CU_ASSERT_EQUAL(counted, refused);
    long len = -1;
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(w[0].b, "crowded", &len, &err), 0);
    CU_ASSERT_EQUAL(len, LIMIT_MAX);
    for (int i = 0; i < LIMIT_WORKERS; i++) {
        if (i == 0)
            destroy_clean(&w[i].b);
        else
            xb_backend_destroy(&w[i].b);
    }
}

/* ---- batches: one script call per chunk ---------------------------------------- */

/* Script calls (EVALSHA and EVAL) the server has run, from INFO commandstats. */
static long long script_calls(redisContext *c)
{
    static const char *const fields[] = {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="};
    char *s = raw_string(c, "INFO commandstats");
    if (!s)
        return -1;
    long long n = 0;
    for (int i = 0; i < 2; i++) {
        const char *p = strstr(s, fields[i]);
        if (p)
            n += atoll(p + strlen(fields[i]));
    }
    free(s);
    return n;
}

#define BATCH_N 1000

/* 1000 slots are two script calls (512 slots per chunk), not one per slot. */
static void test_batch_one_call_per_chunk(void)
{
    char prefix[64];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("chunk", 100, prefix, &b, &c));
    static const char *threads[BATCH_N];
    static xb_blob_t slots[BATCH_N];
    static char text[BATCH_N][24];
    static long index[BATCH_N];
    const char *names[] = {"p0", "p1", "p2"};
    for (int i = 0; i < BATCH_N; i++) {
        threads[i] = names[i % 3];
        snprintf(text[i], sizeof text[i], "slot-%d", i);
        slots[i].data = text[i];
        slots[i].len = strlen(text[i]);
    }
    xb_error_t err;
    long long before = script_calls(c);
    CU_ASSERT_TRUE_FATAL(before >= 0);
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_append_batch(b, BATCH_N, threads, slots, index, &err),
                          0);
    long long calls = script_calls(c) - before;
    CU_ASSERT_TRUE(calls >= 1 && calls <= 2);
    int wrong = 0;
    for (int i = 0; i < BATCH_N; i++)
        wrong += index[i] != i / 3;
    CU_ASSERT_EQUAL(wrong, 0);
    xb_blob_list_t list = {0};
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_get_thread(b, "p1", &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, BATCH_N / 3);
    for (size_t k = 0; k < list.count; k++) {
        char want[24];
        snprintf(want, sizeof want, "slot-%zu", 3 * k + 1);
        CU_ASSERT_TRUE(list.items[k].len == strlen(want) &&
                       memcmp(list.items[k].data, want, strlen(want)) == 0);
    }
    xb_blob_list_free(&list);
    /* The TTL is set by the batch as by a single append. */
    char key[128];
    snprintf(key, sizeof key, "%sbuffer:p2", prefix);
    long long ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 0 && ttl <= 100);
    close_pair(&b, c);
}

/* A chunk also carries at most 8 MiB of slot bytes: three slots of 5 MiB
 * are three script calls, and a slot larger than that still goes alone. */
static void test_batch_chunk_byte_bound(void)
{
    enum { BIG = 5 * 1024 * 1024, HUGE = 9 * 1024 * 1024 };
    char prefix[64];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("bytes", 100, prefix, &b, &c));
    char *big = malloc(HUGE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'b', HUGE);
    const char *threads[] = {"big", "big", "big", "big", "small"};
    xb_blob_t slots[] = {{big, BIG}, {big, BIG}, {big, BIG}, {big, HUGE}, {(char *)"s", 1}};
    long idx[5] = {7, 7, 7, 7, 7};
    xb_error_t err;
    long long before = script_calls(c);
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, 5, threads, slots, idx, &err), 0);
    CU_ASSERT_EQUAL(script_calls(c) - before, 5);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(idx[i], i);
    CU_ASSERT_EQUAL(idx[4], 0);
    long len = -1;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(b, "big", &len, &err), 0);
    CU_ASSERT_EQUAL(len, 4);
    free(big);
    close_pair(&b, c);
}

/* More slots than one chunk keep their order and indexes, also when the
 * script cache was flushed before (EVAL for the first chunk). */
static void test_batch_large(void)
{
    enum { N = 1500 };
    char prefix[64];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("big", 100, prefix, &b, &c));
    const char **threads = calloc(N, sizeof *threads);
    xb_blob_t *slots = calloc(N, sizeof *slots);
    long *index = calloc(N, sizeof *index);
    char(*text)[16] = calloc(N, sizeof *text);
    CU_ASSERT_FATAL(threads && slots && index && text);
    for (int i = 0; i < N; i++) {
        threads[i] = "one";
        snprintf(text[i], sizeof text[i], "%d", i);
        slots[i].data = text[i];
        slots[i].len = strlen(text[i]);
    }
    xb_error_t err;
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
        CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, N, threads, slots, index, &err), 0);
        int wrong = 0;
        for (int i = 0; i < N; i++)
            wrong += index[i] != round * N + i;
        CU_ASSERT_EQUAL(wrong, 0);
    }
    xb_blob_t blob = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, "one", 2 * N - 1, &blob, &err), 0);
    CU_ASSERT_TRUE(blob.len == strlen(text[N - 1]) &&
                   memcmp(blob.data, text[N - 1], blob.len) == 0);
    free(blob.data);
    free(threads);
    free(slots);
    free(index);
    free(text);
    close_pair(&b, c);
}

/* True when every key under prefix is a buffer key. */
static bool only_buffer_keys(redisContext *c, const char *prefix)
{
    char pattern[96], want[96];
    snprintf(pattern, sizeof pattern, "%s*", prefix);
    snprintf(want, sizeof want, "%sbuffer:", prefix);
    redisReply *r = redisCommand(c, "SCAN 0 MATCH %s COUNT 10000", pattern);
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
    for (size_t i = 0; ok && i < r->element[1]->elements; i++)
        ok = strncmp(r->element[1]->element[i]->str, want, strlen(want)) == 0;
    freeReplyObject(r);
    return ok;
}

/* A batch stops at its first refused slot, like the memory backend's. */
static void test_batch_stops_at_refusal(void)
{
    char prefix[64];
    xb_backend_t *b = open_limited("stop", 2, 0, prefix);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err;
    long index;
    CU_ASSERT_EQUAL(append_text(b, "full", "1", &index, &err), 0);
    CU_ASSERT_EQUAL(append_text(b, "full", "2", &index, &err), 0);
    const char *threads[] = {"a", "full", "a", "b"};
    xb_blob_t slots[] = {{(char *)"x", 1}, {(char *)"y", 1}, {(char *)"z", 1}, {(char *)"w", 1}};
    long idx[4] = {7, 7, 7, 7};
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, 4, threads, slots, idx, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "full"));
    CU_ASSERT_EQUAL(idx[0], 0);
    CU_ASSERT_EQUAL(idx[1], -1);
    CU_ASSERT_EQUAL(idx[2], -1);
    CU_ASSERT_EQUAL(idx[3], -1);
    long len = -1;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(b, "a", &len, &err), 0);
    CU_ASSERT_EQUAL(len, 1);
    bool exists = true;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_exists(b, "b", &exists, &err), 0);
    CU_ASSERT_FALSE(exists);
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.limit_refusals, 1);
    /* The refusal left nothing on the server but the buffers. */
    redisContext *c = raw_connect(g_srv, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_TRUE(only_buffer_keys(c, prefix));
    redisFree(c);
    /* The next batch is not affected. */
    const char *t2[] = {"a", "b"};
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, 2, t2, slots, idx, &err), 0);
    CU_ASSERT_EQUAL(idx[0], 1);
    CU_ASSERT_EQUAL(idx[1], 0);
    destroy_clean(&b);
}

/* A refusal in the second chunk of a batch: exactly the slots before it are
 * stored (the whole first chunk, the second up to the refused slot), and
 * the third chunk is never sent. */
static void test_batch_refused_in_later_chunk(void)
{
    enum { N = 1500, MAX = 600, OTHER = 700, LATER = 1024 };
    char prefix[64];
    xb_backend_t *b = open_limited("later", MAX, 0, prefix);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    redisContext *c = raw_connect(g_srv, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    static const char *threads[N];
    static xb_blob_t slots[N];
    static long idx[N];
    /* Slots 0..1023 (chunks 1 and 2) go to "a", which takes 600, except
     * slot 700 ("b", after the refusal); chunk 3 goes to "c". */
    for (int i = 0; i < N; i++) {
        threads[i] = i >= LATER ? "c" : i == OTHER ? "b" : "a";
        slots[i].data = (char *)"x";
        slots[i].len = 1;
    }
    xb_error_t err = {0};
    long long before = script_calls(c);
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, N, threads, slots, idx, &err), -1);
    CU_ASSERT_EQUAL(script_calls(c) - before, 2);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "thread a:"));
    int wrong = 0;
    for (int i = 0; i < N; i++)
        wrong += idx[i] != (i < MAX ? i : -1);
    CU_ASSERT_EQUAL(wrong, 0);
    long len = -1;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(b, "a", &len, &err), 0);
    CU_ASSERT_EQUAL(len, MAX);
    bool exists = true;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_exists(b, "b", &exists, &err), 0);
    CU_ASSERT_FALSE(exists);
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_exists(b, "c", &exists, &err), 0);
    CU_ASSERT_FALSE(exists);
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.limit_refusals, 1);
    CU_ASSERT_TRUE(only_buffer_keys(c, prefix));
    close_pair(&b, c);
}

/* ---- SCAN, scripts, info ----------------------------------------------------- */

static void test_scan_never_keys(void)
{
    char prefix[64];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("scan", 100, prefix, &b, &c));
    freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
    xb_error_t err;
    long index;
    for (int i = 0; i < 30; i++) {
        char t[16];
        snprintf(t, sizeof t, "t%d", i);
        CU_ASSERT_EQUAL(append_text(b, t, "x", &index, &err), 0);
        CU_ASSERT_EQUAL(xb_backend_registry_set(b, t, t, &err), 0);
    }
    xb_str_list_t threads = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_list_threads(b, &threads, &err), 0);
    CU_ASSERT_EQUAL(threads.count, 30);
    xb_str_list_free(&threads);
    xb_pair_list_t pairs = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(b, &pairs, &err), 0);
    CU_ASSERT_EQUAL(pairs.count, 30);
    xb_pair_list_free(&pairs);
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_buffer_clear(b, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_clear(b, &err), 0);
    char *stats = raw_string(c, "INFO commandstats");
    CU_ASSERT_PTR_NOT_NULL_FATAL(stats);
    CU_ASSERT_PTR_NULL(strstr(stats, "cmdstat_keys:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(stats, "cmdstat_scan:"));
    free(stats);
    close_pair(&b, c);
}

/* The calls of cmd since the last CONFIG RESETSTAT, -1 when unreadable. */
static long command_calls(redisContext *c, const char *cmd)
{
    char *stats = raw_string(c, "INFO commandstats");
    char needle[64];
    snprintf(needle, sizeof needle, "cmdstat_%s:calls=", cmd);
    const char *at = stats ? strstr(stats, needle) : NULL;
    long n = at ? strtol(at + strlen(needle), NULL, 10) : stats ? 0 : -1;
    free(stats);
    return n;
}

/* CONTROL threads used to SCAN every key in the pump's loop (0.4 s at
 * 200 000 threads). With 20 000 threads: one page is one SCAN step of about
 * `count` keys with a cursor to go on, paging lists every thread exactly
 * once, and info stops counting after 16 steps (threads unknown). */
static void test_scan_threads_paged(void)
{
    enum { N = 20000, PAGE = 1000 };
    char prefix[64];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("pages", 100, prefix, &b, &c));
    for (int i = 0; i < N; i++) /* one pipeline: fast */
        redisAppendCommand(c, "RPUSH %sbuffer:p%05d x", prefix, i);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        redisReply *r = NULL;
        bad += redisGetReply(c, (void **)&r) != REDIS_OK || !r || r->type != REDIS_REPLY_INTEGER;
        freeReplyObject(r);
    }
    CU_ASSERT_EQUAL_FATAL(bad, 0);
    xb_error_t err;
    xb_str_list_t page = {0};
    char next[XB_BACKEND_CURSOR_MAX];
    freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_scan_threads(b, "0", PAGE, &page, next, &err), 0);
    CU_ASSERT_EQUAL(command_calls(c, "scan"), 1);
    CU_ASSERT(page.count <= 2 * PAGE); /* COUNT is a hint: about PAGE */
    CU_ASSERT_STRING_NOT_EQUAL(next, "0");
    xb_str_list_free(&page);

    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    char cursor[XB_BACKEND_CURSOR_MAX] = "0";
    long pages = 0, names = 0;
    freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
    do {
        CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_scan_threads(b, cursor, PAGE, &page, next, &err),
                              0);
        for (size_t i = 0; i < page.count; i++) {
            int k = -1;
            if (sscanf(page.items[i], "p%d", &k) == 1 && k >= 0 && k < N && seen[k] < 255)
                seen[k]++;
        }
        names += (long)page.count;
        xb_str_list_free(&page);
        memcpy(cursor, next, sizeof cursor);
        pages++;
    } while (strcmp(cursor, "0") != 0 && pages < 10 * N);
    CU_ASSERT_EQUAL(command_calls(c, "scan"), pages);
    CU_ASSERT(pages >= N / (2 * PAGE));
    CU_ASSERT_EQUAL(names, N);
    int wrong = 0;
    for (int k = 0; k < N; k++)
        wrong += seen[k] != 1;
    CU_ASSERT_EQUAL(wrong, 0);

    xb_backend_info_t info;
    freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.threads, -1);
    long scans = command_calls(c, "scan");
    CU_ASSERT(scans >= 1 && scans <= 2 * 16);
    close_pair(&b, c);
}

static void test_script_cache_flushed(void)
{
    char prefix[64];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("flush", 100, prefix, &b, &c));
    xb_error_t err;
    long index = -1;
    CU_ASSERT_EQUAL(append_text(b, "t", "0", &index, &err), 0);
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    CU_ASSERT_EQUAL(append_text(b, "t", "1", &index, &err), 0);
    CU_ASSERT_EQUAL(index, 1);
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "c", "u", &err), 0);
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_backend_registry_delete(b, "u", &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    const char *threads[] = {"t", "t", "v"};
    xb_blob_t slots[] = {{(char *)"2", 1}, {(char *)"3", 1}, {(char *)"4", 1}};
    long idx[3];
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, 3, threads, slots, idx, &err), 0);
    CU_ASSERT_EQUAL(idx[0], 2);
    CU_ASSERT_EQUAL(idx[1], 3);
    CU_ASSERT_EQUAL(idx[2], 0);
    close_pair(&b, c);
}

static void test_foreign_value_is_backend_error(void)
{
    char prefix[64], key[128];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("wrong", 100, prefix, &b, &c));
    snprintf(key, sizeof key, "%sbuffer:str", prefix);
    freeReplyObject(redisCommand(c, "SET %s notalist", key));
    xb_error_t err;
    long index;
    CU_ASSERT_EQUAL(append_text(b, "str", "x", &index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "WRONGTYPE"));
    xb_blob_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_get_thread(b, "str", &list, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    /* The connection is still fine. */
    CU_ASSERT_EQUAL(append_text(b, "ok", "x", &index, &err), 0);
    close_pair(&b, c);
}

static void test_info_fields(void)
{
    char prefix[64], loc[64];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("info", 1234, prefix, &b, &c));
    xb_error_t err;
    xb_backend_info_t info;
    long index;
    CU_ASSERT_EQUAL(append_text(b, "t", "x", &index, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_STRING_EQUAL(info.type, "redis");
    CU_ASSERT_EQUAL(info.ttl, 1234);
    CU_ASSERT_EQUAL(info.threads, 1);
    CU_ASSERT_EQUAL(info.slots, -1);
    snprintf(loc, sizeof loc, "127.0.0.1:%d/0", xb_redis_server_port(g_srv));
    CU_ASSERT_STRING_EQUAL(info.location, loc);
    char *server = raw_string(c, "INFO server");
    char want[80];
    snprintf(want, sizeof want, "redis_version:%s\r\n", info.server_version);
    CU_ASSERT_TRUE(info.server_version[0] != '\0');
    CU_ASSERT_PTR_NOT_NULL(server ? strstr(server, want) : NULL);
    free(server);
    close_pair(&b, c);
}

/* max_threads does not evict on redis (retention is the TTL): documented. */
static void test_max_threads_not_enforced(void)
{
    char prefix[64];
    xb_backend_t *b = open_limited("maxt", 0, 1, prefix);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err;
    long index;
    CU_ASSERT_EQUAL(append_text(b, "one", "x", &index, &err), 0);
    CU_ASSERT_EQUAL(append_text(b, "two", "x", &index, &err), 0);
    check_threads(b, 2, "one", NULL);
    destroy_clean(&b);
}

/* ---- registry batches (registry_apply) ------------------------------------ */

#define REG_N 200

/* Fills ops with n SETs "rc-i" -> "ru-i" (names stored in chains/uuids). */
static void reg_sets(xb_registry_op_t *ops, char (*chains)[32], char (*uuids)[32], int n)
{
    for (int i = 0; i < n; i++) {
        snprintf(chains[i], sizeof chains[i], "rc-%d", i);
        snprintf(uuids[i], sizeof uuids[i], "ru-%d", i);
        ops[i] = (xb_registry_op_t){XB_REGISTRY_OP_SET, chains[i], uuids[i]};
    }
}

static bool reg_pair_is(xb_backend_t *b, const char *chain, const char *uuid)
{
    xb_error_t err;
    char *u = NULL, *c = NULL;
    bool ok = xb_backend_registry_get_uuid(b, chain, &u, &err) == 0 && strcmp(u, uuid) == 0 &&
              xb_backend_registry_get_chain(b, uuid, &c, &err) == 0 && strcmp(c, chain) == 0;
    free(u);
    free(c);
    return ok;
}

/* 1000 changes are at most two script calls (512 per chunk), not one per
 * change, and their keys get the same TTL as registry_set's. */
static void test_registry_apply_one_call_per_chunk(void)
{
    enum { N = 1000 };
    char prefix[64], key[128];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("regchunk", 100, prefix, &b, &c));
    static xb_registry_op_t ops[N];
    static char chains[N][32], uuids[N][32];
    reg_sets(ops, chains, uuids, N);
    /* Some deletes in the middle, of pairs set earlier in the batch. */
    for (int i = 600; i < 610; i++)
        ops[i] = (xb_registry_op_t){XB_REGISTRY_OP_DELETE, NULL, uuids[i - 600]};
    xb_error_t err;
    long long before = script_calls(c);
    CU_ASSERT_TRUE_FATAL(before >= 0);
    CU_ASSERT_EQUAL_FATAL(xb_backend_registry_apply(b, N, ops, &err), 0);
    long long calls = script_calls(c) - before;
    CU_ASSERT_TRUE(calls >= 1 && calls <= 2);
    CU_ASSERT_TRUE(reg_pair_is(b, "rc-10", "ru-10"));
    CU_ASSERT_TRUE(reg_pair_is(b, "rc-999", "ru-999"));
    char *s = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_uuid(b, "rc-3", &s, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    free(s);
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.registry_entries, N - 20);
    snprintf(key, sizeof key, "%schain:rc-7", prefix);
    CU_ASSERT_EQUAL(raw_integer(c, "EXISTS %s", key), 0);
    snprintf(key, sizeof key, "%schain:rc-17", prefix);
    long long ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 0 && ttl <= 100);
    snprintf(key, sizeof key, "%suuid:ru-17", prefix);
    ttl = raw_integer(c, "TTL %s", key);
    CU_ASSERT_TRUE(ttl > 0 && ttl <= 100);
    /* ttl 0: the batch's keys never expire, and lose a TTL they had. */
    xb_backend_t *no_ttl = open_shared(prefix, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(no_ttl);
    const xb_registry_op_t again[] = {{XB_REGISTRY_OP_SET, "rc-17", "ru-17"},
                                      {XB_REGISTRY_OP_SET, "fresh", "ru-fresh"}};
    CU_ASSERT_EQUAL(xb_backend_registry_apply(no_ttl, 2, again, &err), 0);
    CU_ASSERT_EQUAL(raw_integer(c, "TTL %s", key), -1);
    snprintf(key, sizeof key, "%schain:fresh", prefix);
    CU_ASSERT_EQUAL(raw_integer(c, "TTL %s", key), -1);
    xb_backend_destroy(&no_ttl);
    close_pair(&b, c);
}

/* A flushed script cache: the batch falls back to EVAL and keeps its order,
 * across more than one chunk. */
static void test_registry_apply_script_flushed(void)
{
    enum { N = 600 };
    char prefix[64];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("regflush", 100, prefix, &b, &c));
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_ping(b, &err), 0);
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    const xb_registry_op_t ops[] = {{XB_REGISTRY_OP_SET, "c", "u1"},
                                    {XB_REGISTRY_OP_DELETE, NULL, "u1"},
                                    {XB_REGISTRY_OP_SET, "c", "u2"},
                                    {XB_REGISTRY_OP_SET, "d", "u3"},
                                    {XB_REGISTRY_OP_SET, "e", "u3"}};
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 5, ops, &err), 0);
    CU_ASSERT_TRUE(reg_pair_is(b, "c", "u2"));
    CU_ASSERT_TRUE(reg_pair_is(b, "e", "u3"));
    char *s = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_chain(b, "u1", &s, &err), -1);
    CU_ASSERT_EQUAL(xb_backend_registry_get_uuid(b, "d", &s, &err), -1);
    free(s);
    static xb_registry_op_t big[N];
    static char chains[N][32], uuids[N][32];
    reg_sets(big, chains, uuids, N);
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, N, big, &err), 0);
    CU_ASSERT_TRUE(reg_pair_is(b, "rc-0", "ru-0"));
    CU_ASSERT_TRUE(reg_pair_is(b, "rc-599", "ru-599"));
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.registry_entries, N + 2);
    close_pair(&b, c);
}

/* An error reply inside a batch (a foreign value under a chain key) is an
 * XB_ERR_BACKEND naming the cause; the connection stays usable. */
static void test_registry_apply_error_reply(void)
{
    char prefix[64], key[128];
    xb_backend_t *b = NULL;
    redisContext *c = NULL;
    CU_ASSERT_TRUE_FATAL(open_pair("regwrong", 100, prefix, &b, &c));
    snprintf(key, sizeof key, "%schain:listed", prefix);
    freeReplyObject(redisCommand(c, "RPUSH %s x", key));
    const xb_registry_op_t ops[] = {{XB_REGISTRY_OP_SET, "a", "ua"},
                                    {XB_REGISTRY_OP_SET, "listed", "ul"},
                                    {XB_REGISTRY_OP_SET, "b", "ub"}};
    xb_error_t err = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 3, ops, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "WRONGTYPE"));
    freeReplyObject(redisCommand(c, "DEL %s", key));
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 3, ops, &err), 0);
    CU_ASSERT_TRUE(reg_pair_is(b, "listed", "ul"));
    CU_ASSERT_TRUE(reg_pair_is(b, "b", "ub"));
    close_pair(&b, c);
}

/* ---- outage --------------------------------------------------------------------- */

typedef struct {
    xb_backend_t *b;
    atomic_int stop;
    atomic_long ok;
    atomic_long failed;
    atomic_long wrong_code;
    char last_error[XB_ERROR_MESSAGE_MAX];
} traffic_t;

static void *traffic_main(void *arg)
{
    traffic_t *t = arg;
    char text[32];
    long n = 0;
    while (!atomic_load(&t->stop)) {
        xb_error_t err;
        long index;
        snprintf(text, sizeof text, "m%ld", n++);
        if (append_text(t->b, "live", text, &index, &err) == 0) {
            atomic_fetch_add(&t->ok, 1);
        } else {
            if (err.code != XB_ERR_BACKEND)
                atomic_fetch_add(&t->wrong_code, 1);
            snprintf(t->last_error, sizeof t->last_error, "%s", err.message);
            atomic_fetch_add(&t->failed, 1);
            xbt_let_time_pass_ms(5); /* paces the traffic while Redis is away: no busy loop */
        }
    }
    return NULL;
}

/* Polls until *counter >= target or timeout_ms passes. */
static bool wait_count(atomic_long *counter, long target, long timeout_ms)
{
    XBT_WAIT_UNTIL(atomic_load(counter) >= target, timeout_ms);
    return atomic_load(counter) >= target;
}

static void expect_backend_error(int rc, const xb_error_t *err, const char *where)
{
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_EQUAL(err->code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err->message, where));
}

static void test_outage_and_recovery(void)
{
    xb_error_t err = {0};
    xb_redis_server_t *srv = xb_redis_server_start(NULL, &err);
    if (!srv)
        fprintf(stderr, "\n  %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    char where[64];
    snprintf(where, sizeof where, "redis at 127.0.0.1:%d", xb_redis_server_port(srv));
    traffic_t t = {0};
    t.b = open_redis(xb_redis_server_url(srv), "out:", 100, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t.b);
    xb_backend_t *probe = open_redis(xb_redis_server_url(srv), "out:", 100, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(probe);
    pthread_t tid;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&tid, NULL, traffic_main, &t), 0);
    CU_ASSERT_TRUE(wait_count(&t.ok, 50, 20000));

    /* Redis dies in the middle of the traffic. */
    CU_ASSERT_EQUAL(xb_redis_server_kill(srv), 0);
    CU_ASSERT_TRUE(wait_count(&t.failed, 5, 20000));
    long ok_during = atomic_load(&t.ok);

    int rc = xb_backend_ping(probe, &err);
    expect_backend_error(rc, &err, where);
    long index;
    rc = append_text(probe, "x", "y", &index, &err);
    expect_backend_error(rc, &err, where);
    xb_str_list_t threads = {0};
    rc = xb_backend_buffer_list_threads(probe, &threads, &err);
    expect_backend_error(rc, &err, where);
    xb_str_list_free(&threads);
    rc = xb_backend_registry_set(probe, "c", "u", &err);
    expect_backend_error(rc, &err, where);
    xb_backend_info_t info;
    rc = xb_backend_info(probe, &info, &err);
    expect_backend_error(rc, &err, where);
    xb_blob_list_t list = {0};
    rc = xb_backend_buffer_get_thread(probe, "live", &list, &err);
    expect_backend_error(rc, &err, where);
    xb_blob_list_free(&list);
    /* Calls that come quickly do not each try to reconnect: backoff. */
    bool saw_backoff = false;
    for (int i = 0; i < 50 && !saw_backoff; i++) {
        if (xb_backend_ping(probe, &err) != 0 && strstr(err.message, "next reconnect attempt"))
            saw_backoff = true;
    }
    CU_ASSERT_TRUE(saw_backoff);
    CU_ASSERT_EQUAL(atomic_load(&t.wrong_code), 0);

    /* Redis comes back on the same port: both recover on their own. */
    xb_error_t serr = {0};
    rc = xb_redis_server_restart(srv, &serr);
    if (rc != 0)
        fprintf(stderr, "\n  restart: %s\n", serr.message);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    XBT_WAIT_UNTIL(xb_backend_ping(probe, &err) == 0, 15000);
    CU_ASSERT_EQUAL(xb_backend_ping(probe, &err), 0);
    CU_ASSERT_TRUE(wait_count(&t.ok, ok_during + 20, 15000));
    atomic_store(&t.stop, 1);
    pthread_join(tid, NULL);
    if (atomic_load(&t.failed) > 0)
        printf("\n  traffic: %ld ok, %ld failed, last error: %s\n", atomic_load(&t.ok),
               atomic_load(&t.failed), t.last_error);
    CU_ASSERT_EQUAL(append_text(probe, "after", "z", &index, &err), 0);
    CU_ASSERT_EQUAL(index, 0);
    char *s = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_set(probe, "c", "u", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_get_uuid(probe, "c", &s, &err), 0);
    free(s);
    xb_backend_destroy(&t.b);
    xb_backend_destroy(&probe);
    xb_redis_server_destroy(&srv);
}

/* Redis restarted while the backend was idle: the next call, even a
 * non-idempotent append, notices the closed socket before sending and
 * reconnects, so it succeeds at once. */
static void test_restart_between_calls(void)
{
    xb_error_t err = {0};
    xb_redis_server_t *srv = xb_redis_server_start(NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    xb_backend_t *b = open_redis(xb_redis_server_url(srv), "idle:", 100, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    long index = -1;
    CU_ASSERT_EQUAL(append_text(b, "t", "before", &index, &err), 0);
    CU_ASSERT_EQUAL(xb_redis_server_stop(srv), 0);
    xb_error_t serr = {0};
    CU_ASSERT_EQUAL_FATAL(xb_redis_server_restart(srv, &serr), 0);
    int rc = append_text(b, "t", "after", &index, &err);
    if (rc != 0)
        fprintf(stderr, "\n  append after restart: %s\n", err.message);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(index, 0); /* no persistence: the thread starts again */
    CU_ASSERT_EQUAL(xb_redis_server_stop(srv), 0);
    CU_ASSERT_EQUAL_FATAL(xb_redis_server_restart(srv, &serr), 0);
    long len = -1;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(b, "t", &len, &err), 0);
    CU_ASSERT_EQUAL(len, 0);
    xb_backend_destroy(&b);
    xb_redis_server_destroy(&srv);
}

/* A server that closes the connection while the backend is still writing
 * makes write() raise SIGPIPE (always on a unix socket; on TCP when the
 * peer's FIN came first). Here Redis closes on purpose: a bulk longer than
 * proto-max-bulk-len is a protocol error after which it drops the client.
 * The backend must survive, report a backend error and reconnect for the
 * next call, over TCP and over a unix socket. */
static void test_closed_mid_write_no_sigpipe(void)
{
    enum { BIG = 32 * 1024 * 1024 };
    xb_redis_server_opts_t opts = {.unix_socket = true};
    xb_error_t err = {0};
    xb_redis_server_t *srv = xb_redis_server_start(&opts, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    redisContext *c = raw_connect(srv, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_TRUE(raw_string_is(c, "OK", "CONFIG SET proto-max-bulk-len %s", "1048576"));
    redisFree(c);
    char *big = malloc(BIG);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'q', BIG);
    char urls[2][400];
    snprintf(urls[0], sizeof urls[0], "unix://%s", xb_redis_server_socket(srv));
    snprintf(urls[1], sizeof urls[1], "%s", xb_redis_server_url(srv));
    for (int u = 0; u < 2; u++) {
        xb_backend_t *b = open_redis(urls[u], u == 0 ? "unix:" : "tcp:", 100, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        long index;
        for (int round = 0; round < 3; round++) {
            err.code = XB_OK;
            CU_ASSERT_EQUAL(xb_backend_buffer_append(b, "t", big, BIG, &index, &err), -1);
            CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
        }
        const char *threads[] = {"t", "t"};
        xb_blob_t slots[] = {{big, BIG}, {big, BIG}};
        long idx[2];
        CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, 2, threads, slots, idx, &err), -1);
        CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
        CU_ASSERT_EQUAL(append_text(b, "t", "small", &index, &err), 0);
        CU_ASSERT_EQUAL(index, 0);
        xb_backend_destroy(&b);
    }
    free(big);
    xb_redis_server_destroy(&srv);
}

/* Redis stopped under a registry batch: a backend error naming the server,
 * no crash, also while the backoff holds; after a restart the same batch
 * applies in full. */
static void test_registry_apply_outage(void)
{
    xb_error_t err = {0};
    xb_redis_server_t *srv = xb_redis_server_start(NULL, &err);
    if (!srv)
        fprintf(stderr, "\n  %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    char where[64];
    snprintf(where, sizeof where, "redis at 127.0.0.1:%d", xb_redis_server_port(srv));
    xb_backend_t *b = open_redis(xb_redis_server_url(srv), "regout:", 100, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    static xb_registry_op_t ops[REG_N];
    static char chains[REG_N][32], uuids[REG_N][32];
    reg_sets(ops, chains, uuids, REG_N);
    ops[REG_N - 1] = (xb_registry_op_t){XB_REGISTRY_OP_DELETE, NULL, "ru-0"};
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, REG_N, ops, &err), 0);

    CU_ASSERT_EQUAL(xb_redis_server_stop(srv), 0);
    for (int i = 0; i < 5; i++) {
        err.code = XB_OK;
        int rc = xb_backend_registry_apply(b, REG_N, ops, &err);
        expect_backend_error(rc, &err, where);
    }

    xb_error_t serr = {0};
    int rc = xb_redis_server_restart(srv, &serr);
    if (rc != 0)
        fprintf(stderr, "\n  restart: %s\n", serr.message);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    /* The backoff may hold the next attempt back for up to 2 s; until then
     * every attempt is a backend error, and any other error ends the wait. */
    XBT_WAIT_UNTIL((rc = xb_backend_registry_apply(b, REG_N, ops, &err)) == 0 ||
                       err.code != XB_ERR_BACKEND,
                   15000);
    if (rc != 0)
        fprintf(stderr, "\n  apply after restart: %s\n", err.message);
    CU_ASSERT_EQUAL(rc, 0);
    /* The restarted server was empty: everything came from the batch. */
    CU_ASSERT_TRUE(reg_pair_is(b, "rc-1", "ru-1"));
    CU_ASSERT_TRUE(reg_pair_is(b, "rc-198", "ru-198"));
    char *s = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_chain(b, "ru-0", &s, &err), -1);
    free(s);
    xb_backend_info_t info;
    CU_ASSERT_EQUAL(xb_backend_info(b, &info, &err), 0);
    CU_ASSERT_EQUAL(info.registry_entries, REG_N - 2);
    xb_backend_destroy(&b);
    xb_redis_server_destroy(&srv);
}

/* The server drops the connection in the middle of a batch (a chunk with a
 * bulk over proto-max-bulk-len): a backend error, no SIGPIPE, and the next
 * batch works on a new connection. */
static void test_registry_apply_closed_mid_batch(void)
{
    enum { BIG = 32 * 1024 * 1024 };
    xb_error_t err = {0};
    xb_redis_server_t *srv = xb_redis_server_start(NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    redisContext *c = raw_connect(srv, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_TRUE(raw_string_is(c, "OK", "CONFIG SET proto-max-bulk-len %s", "1048576"));
    redisFree(c);
    char *big = malloc(BIG + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'q', BIG);
    big[BIG] = '\0';
    xb_backend_t *b = open_redis(xb_redis_server_url(srv), "regcut:", 100, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    const xb_registry_op_t ops[] = {{XB_REGISTRY_OP_SET, "small", "u-small"},
                                    {XB_REGISTRY_OP_SET, big, "u-big"},
                                    {XB_REGISTRY_OP_SET, "after", "u-after"}};
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 3, ops, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    const xb_registry_op_t ok[] = {{XB_REGISTRY_OP_SET, "small", "u-small"},
                                   {XB_REGISTRY_OP_SET, "after", "u-after"}};
    int rc = xb_backend_registry_apply(b, 2, ok, &err);
    if (rc != 0)
        fprintf(stderr, "\n  apply after the cut: %s\n", err.message);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_TRUE(reg_pair_is(b, "after", "u-after"));
    xb_backend_destroy(&b);
    free(big);
    xb_redis_server_destroy(&srv);
}

/* ---- suites ---------------------------------------------------------------------- */

static const xbt_test_t redis_url_tests[] = {
    {"parse good URLs", test_url_parse_good},
    {"refuse bad URLs without echoing secrets", test_url_parse_bad},
    {"open: bad URL is config, unreachable is backend", test_open_bad_url_and_unreachable},
    {"password (percent-encoded) and db", test_url_password_and_db},
    {"unix socket", test_url_unix_socket},
    {NULL, NULL},
};

static const xbt_test_t redis_specifics_tests[] = {
    {"key layout", test_key_layout},
    {"two prefixes never see each other", test_prefix_isolation},
    {"glob characters in a prefix", test_prefix_glob_characters},
    {"TTL set on write", test_ttl_set_on_write},
    {"TTL refreshed on append", test_ttl_refreshed_on_append},
    {"working memory key, TTL and drop", test_wmem_key_and_ttl},
    {"append_all: memory key, TTL, NOSCRIPT", test_append_all_memory_key},
    {"TTL 0 never expires", test_ttl_zero_never_expires},
    {"registry stays a bijection under concurrency", test_registry_atomic_under_concurrency},
    {"slot limit atomic under concurrency", test_slot_limit_atomic_under_concurrency},
    {"batch append is one script call per chunk", test_batch_one_call_per_chunk},
    {"a chunk carries at most 8 MiB of slots", test_batch_chunk_byte_bound},
    {"batch larger than a chunk, after a script flush", test_batch_large},
    {"batch stops at the first refusal", test_batch_stops_at_refusal},
    {"refusal in a later chunk: no chunk after it is sent", test_batch_refused_in_later_chunk},
    {"SCAN, never KEYS", test_scan_never_keys},
    {"threads page by page: one SCAN step a page; info bounded", test_scan_threads_paged},
    {"script cache flushed: EVAL fallback", test_script_cache_flushed},
    {"foreign value type is a backend error", test_foreign_value_is_backend_error},
    {"info fields", test_info_fields},
    {"max_threads does not evict", test_max_threads_not_enforced},
    {"registry batch is one script call per chunk, with the TTL",
     test_registry_apply_one_call_per_chunk},
    {"registry batch after a script flush", test_registry_apply_script_flushed},
    {"registry batch meets an error reply", test_registry_apply_error_reply},
    {NULL, NULL},
};

static const xbt_test_t redis_outages_tests[] = {
    {"killed and restarted during traffic", test_outage_and_recovery},
    {"restart between two calls costs no error", test_restart_between_calls},
    {"connection closed mid-write raises no SIGPIPE", test_closed_mid_write_no_sigpipe},
    {"registry batch while stopped, again after restart", test_registry_apply_outage},
    {"registry batch cut mid-batch", test_registry_apply_closed_mid_batch},
    {NULL, NULL},
};

/* A missing redis-server fails the tests that need it (never a skip). */
static int redis_init(void)
{
    xbt_log_errors_only();
    xb_error_t err = {0};
    g_srv = xb_redis_server_shared(&err);
    if (!g_srv)
        snprintf(g_start_error, sizeof g_start_error, "%s", err.message);
    return 0;
}

static int contract_init(void)
{
    redis_init();
    return xb_backend_suite_use(suite_open, suite_close);
}

XBT_SUITES({"redis backend contract", contract_init, xb_backend_suite_done, NULL, NULL,
            xb_backend_suite_tests},
           {"redis working memory", contract_init, xb_backend_suite_done, NULL, NULL,
            xb_backend_suite_wmem_tests},
           {"redis url", redis_init, NULL, NULL, NULL, redis_url_tests},
           {"redis specifics", redis_init, NULL, NULL, NULL, redis_specifics_tests},
           {"redis outages", redis_init, NULL, NULL, NULL, redis_outages_tests});
