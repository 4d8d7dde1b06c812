/* The redis backend (docs/backend-redis.md).
 *
 * Key layout, for a prefix P (default "xp:"):
 *   P buffer:THREAD  LIST of encoded slots (RPUSH), expires redis_ttl after
 *                    the last append
 *   P chain:CHAIN    STRING -> uuid
 *   P uuid:UUID      STRING -> chain
 *   P journal        HASH id -> journal entry
 *   P memory:CONV    HASH name -> working memory entry of conversation CONV,
 *                    expires redis_ttl after the last put
 *
 * One blocking redisContext guarded by a mutex: hiredis 0.14 has no adapter
 * for the pump's ZeroMQ poll loop, and a blocking connection is simple and
 * fast enough when a batch costs one script call. When the connection
 * breaks, the failing call returns XB_ERR_BACKEND, the context is freed (a
 * context with ->err set is unusable), and later calls reconnect, no more
 * often than a backoff that doubles from 100 ms to 2 s (CLOCK_MONOTONIC).
 *
 * Every write is one Lua script call per chunk of up to CHUNK_ITEMS items,
 * so each item is atomic on the server: append (limit check + RPUSH +
 * EXPIRE per slot, stopping at the first full thread) and registry changes
 * (set: both keys, dropping the stale reverse keys of a replaced pair;
 * delete). A script call costs the server far more than one item inside
 * it, hence one call per chunk rather than per item. Scripts run by
 * EVALSHA; a NOSCRIPT answer (script cache flushed, nothing ran) falls back
 * to EVAL of the same call.
 *
 * The backend is split over backend_redis*.c; backend_redis_internal.h lists
 * the files and holds what they share. */
#include "backend_redis_internal.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_URL "redis://127.0.0.1:6379"
#define DEFAULT_PREFIX "xp:"

/* ---- ping, info, close ------------------------------------------------ */

static int redis_ping(void *self, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    const char *argv[1] = {"PING"};
    xb_redis_enter(r, &g);
    redisReply *rep = xb_redis_command(r, true, 1, argv, NULL, err);
    xb_redis_leave(r, &g);
    int rc = -1;
    if (rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0)
        rc = 0;
    else if (rep)
        xb_redis_reply_error(r, rep, "PING", "", err);
    freeReplyObject(rep);
    return rc;
}

/* Copies redis_version from the INFO server text into out. */
static void parse_version(const char *info, char *out, size_t size)
{
    const char *p = strstr(info, "redis_version:");
    out[0] = '\0';
    if (!p)
        return;
    p += strlen("redis_version:");
    size_t n = strcspn(p, "\r\n");
    if (n >= size)
        n = size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static int server_version(xb_redis_t *r, char *out, size_t size, xb_error_t *err)
{
    const char *argv[2] = {"INFO", "server"};
    redisReply *rep = xb_redis_command(r, true, 2, argv, NULL, err);
    if (!rep)
        return -1;
    int rc = 0;
    if (rep->type == REDIS_REPLY_STRING)
        parse_version(rep->str, out, size);
    else
        rc = xb_redis_reply_error(r, rep, "INFO", "server", err);
    freeReplyObject(rep);
    return rc;
}

/* SCAN steps (of COUNT 1000) info may spend on each count: the pump asks in
 * its loop, so a large store answers "unknown" (-1) instead of being walked
 * whole (about 0.4 s per 200 000 keys). */
#define INFO_SCAN_STEPS 16

static int redis_info(void *self, xb_backend_info_t *out, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    memset(out, 0, sizeof *out);
    snprintf(out->type, sizeof out->type, "redis");
    snprintf(out->location, sizeof out->location, "%s", r->location);
    out->ttl = r->ttl;
    out->slots = -1; /* summing LLEN over every thread is not cheap */
    out->evicted_threads = 0;
    out->limit_refusals = atomic_load(&r->limit_refusals);
    xb_redis_enter(r, &g);
    int rc = server_version(r, out->server_version, sizeof out->server_version, err);
    if (rc == 0)
        rc = xb_redis_count_names(r, "buffer:", INFO_SCAN_STEPS, &out->threads, err);
    if (rc == 0)
        rc = xb_redis_count_names(r, "chain:", INFO_SCAN_STEPS, &out->registry_entries, err);
    xb_redis_leave(r, &g);
    return rc;
}

static void redis_close(void *self)
{
    xb_redis_t *r = self;
    if (!r)
        return;
    if (r->ctx)
        redisFree(r->ctx);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static const xb_backend_ops_t redis_ops = {
    .name = "redis",
    .buffer_append = xb_redis_buffer_append,
    .buffer_append_batch = xb_redis_buffer_append_batch,
    .buffer_get_thread = xb_redis_buffer_get_thread,
    .buffer_get_slot = xb_redis_buffer_get_slot,
    .buffer_thread_len = xb_redis_buffer_thread_len,
    .buffer_thread_exists = xb_redis_buffer_thread_exists,
    .buffer_delete_thread = xb_redis_buffer_delete_thread,
    .buffer_list_threads = xb_redis_buffer_list_threads,
    .buffer_scan_threads = xb_redis_buffer_scan_threads,
    .buffer_clear = xb_redis_buffer_clear,
    .registry_set = xb_redis_registry_set,
    .registry_get_uuid = xb_redis_registry_get_uuid,
    .registry_get_chain = xb_redis_registry_get_chain,
    .registry_delete = xb_redis_registry_delete,
    .registry_apply = xb_redis_registry_apply,
    .registry_list_all = xb_redis_registry_list_all,
    .registry_clear = xb_redis_registry_clear,
    .buffer_append_all = xb_redis_buffer_append_all,
    .journal_put = xb_redis_journal_put,
    .journal_remove = xb_redis_journal_remove,
    .journal_list = xb_redis_journal_list,
    .wmem_put = xb_redis_wmem_put,
    .wmem_get = xb_redis_wmem_get,
    .wmem_list = xb_redis_wmem_list,
    .wmem_drop = xb_redis_wmem_drop,
    .ping = redis_ping,
    .info = redis_info,
    .close = redis_close,
};

/* ---- open ------------------------------------------------------------- */

/* Escapes the glob characters of SCAN MATCH so that a prefix like "t*:"
 * matches itself only. */
static int escape_glob(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        if (strchr("*?[]\\", *p)) {
            if (o + 1 >= size)
                return -1;
            out[o++] = '\\';
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = *p;
    }
    out[o] = '\0';
    return 0;
}

static int apply_config(xb_redis_t *r, const xb_backend_config_t *cfg, xb_error_t *err)
{
    const char *url = cfg->redis_url[0] ? cfg->redis_url : DEFAULT_URL;
    if (memchr(cfg->redis_url, '\0', sizeof cfg->redis_url) == NULL ||
        memchr(cfg->redis_prefix, '\0', sizeof cfg->redis_prefix) == NULL)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "redis backend: unterminated url or prefix");
    if (xb_redis_url_parse(url, &r->url, err) != 0)
        return -1;
    const char *prefix = cfg->redis_prefix[0] ? cfg->redis_prefix : DEFAULT_PREFIX;
    for (const char *p = prefix; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            return xb_error_set(err, XB_ERR_CONFIG, 0, "redis_prefix contains a control character");
    if (cfg->redis_ttl < 0)
        return xb_error_set(err, XB_ERR_CONFIG, 0,
                            "redis_ttl must be >= 0 (0 = no expiry), not %ld", cfg->redis_ttl);
    if (cfg->max_slots_per_thread < 0 || cfg->max_threads < 0)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "backend limits must be >= 0");
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
    r->prefix_len = strlen(r->prefix);
    if (escape_glob(r->prefix, r->pattern, sizeof r->pattern) != 0)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "redis_prefix too long");
    r->ttl = cfg->redis_ttl;
    r->max_slots = cfg->max_slots_per_thread;
    r->max_slot_bytes = cfg->max_slot_bytes;
    snprintf(r->ttl_arg, sizeof r->ttl_arg, "%ld", r->ttl);
    snprintf(r->max_slots_arg, sizeof r->max_slots_arg, "%ld", r->max_slots);
    r->max_wmem_entries = cfg->max_wmem_entries;
    snprintf(r->max_wmem_arg, sizeof r->max_wmem_arg, "%ld", r->max_wmem_entries);
    xb_redis_url_where(&r->url, r->where, sizeof r->where);
    xb_redis_url_location(&r->url, r->location, sizeof r->location);
    if (cfg->max_threads > 0)
        XB_INFO(COMP,
                "max_threads %ld does not evict on redis: retention is redis_ttl (%ld s), "
                "see docs/backend-redis.md",
                cfg->max_threads, r->ttl);
    return 0;
}

void *xb_backend_redis_open(const xb_backend_config_t *cfg, const xb_backend_ops_t **ops,
                            xb_error_t *err)
{
    char why[200];
    sigpipe_guard_t g;
    xb_redis_t *r = calloc(1, sizeof *r);
    if (!r) {
        xb_redis_nomem(err, "redis backend");
        return NULL;
    }
    if (apply_config(r, cfg, err) != 0) {
        free(r);
        return NULL;
    }
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        xb_error_set(err, XB_ERR_BACKEND, 0, "redis backend: cannot create its mutex");
        free(r);
        return NULL;
    }
    atomic_init(&r->limit_refusals, 0);
    /* Fail fast: a pump whose Redis is unreachable at start-up says so. */
    xb_redis_sigpipe_block(&g);
    int rc = xb_redis_conn_open(r, why, sizeof why);
    xb_redis_sigpipe_restore(&g);
    if (rc != 0) {
        xb_error_set(err, XB_ERR_BACKEND, 0, "redis at %s: %s", r->where, why);
        redis_close(r);
        return NULL;
    }
    *ops = &redis_ops;
    return r;
}
