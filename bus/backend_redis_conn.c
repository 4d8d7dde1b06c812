/* The redis backend's connection (docs/backend-redis.md): one blocking
 * redisContext guarded by a mutex, SIGPIPE blocked around its I/O, and a
 * reconnect after a failure no more often than a backoff that doubles from
 * BACKOFF_MIN_MS to BACKOFF_MAX_MS. */
#include "backend_redis_internal.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONNECT_TIMEOUT_MS 2000
#define COMMAND_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

/* ---- helpers ---------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void xb_redis_sigpipe_block(sigpipe_guard_t *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

void xb_redis_sigpipe_restore(sigpipe_guard_t *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

void xb_redis_enter(xb_redis_t *r, sigpipe_guard_t *g)
{
    pthread_mutex_lock(&r->lock);
    xb_redis_sigpipe_block(g);
}

void xb_redis_leave(xb_redis_t *r, sigpipe_guard_t *g)
{
    xb_redis_sigpipe_restore(g);
    pthread_mutex_unlock(&r->lock);
}

char *xb_redis_key(const xb_redis_t *r, const char *kind, const char *name, size_t *len)
{
    size_t klen = strlen(kind), nlen = strlen(name);
    size_t total = r->prefix_len + klen + nlen;
    char *key = malloc(total + 1);
    if (!key)
        return NULL;
    memcpy(key, r->prefix, r->prefix_len);
    memcpy(key + r->prefix_len, kind, klen);
    memcpy(key + r->prefix_len + klen, name, nlen + 1);
    if (len)
        *len = total;
    return key;
}

int xb_redis_check_name(const char *what, const char *name, xb_error_t *err)
{
    if (!name || !name[0])
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: empty or NULL %s", what);
    return 0;
}

int xb_redis_nomem(xb_error_t *err, const char *what)
{
    return xb_error_set(err, XB_ERR_NOMEM, 0, "redis backend: out of memory (%s)", what);
}

static char *dup_reply(const redisReply *e)
{
    char *s = malloc(e->len + 1);
    if (s) {
        memcpy(s, e->str, e->len);
        s[e->len] = '\0';
    }
    return s;
}

int xb_redis_hash_item(const redisReply *rep, size_t i, char **field, xb_blob_t *value,
                       const char *what, xb_error_t *err)
{
    const redisReply *k = rep->element[2 * i], *v = rep->element[2 * i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
        return xb_error_set(err, XB_ERR_BACKEND, 0, "redis backend: bad %s", what);
    *field = dup_reply(k);
    value->data = dup_reply(v);
    value->len = v->len;
    return *field && value->data ? 0 : xb_redis_nomem(err, what);
}

/* ---- connection ------------------------------------------------------- */

/* Frees the broken context and records the failure. The next call may try
 * to reconnect at once: the server may simply have closed an idle socket. */
static int conn_lost(xb_redis_t *r, const char *cmd, xb_error_t *err)
{
    char why[160];
    const char *errstr = r->ctx ? r->ctx->errstr : "no connection";
    if (r->ctx && r->ctx->err == REDIS_ERR_IO && strstr(errstr, "temporarily unavailable"))
        snprintf(why, sizeof why, "no answer to %s within %d ms", cmd, COMMAND_TIMEOUT_MS);
    else
        snprintf(why, sizeof why, "%s during %s", errstr[0] ? errstr : "I/O error", cmd);
    if (r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    if (!r->outage)
        XB_WARN(COMP, "redis at %s: connection lost: %s", r->where, why);
    r->outage = true;
    r->next_attempt_ms = now_ms();
    snprintf(r->last_error, sizeof r->last_error, "connection lost: %s", why);
    return xb_error_set(err, XB_ERR_BACKEND, 0, "redis at %s: connection lost: %s", r->where, why);
}

/* AUTH, SELECT and SCRIPT LOAD on a new connection. */
static int conn_setup(xb_redis_t *r, redisContext *c, char *why, size_t size)
{
    redisReply *rep;
    if (r->url.password[0]) {
        const char *argv[3] = {"AUTH", r->url.username, r->url.password};
        int argc = 3;
        if (!r->url.username[0]) {
            argv[1] = r->url.password;
            argc = 2;
        }
        rep = redisCommandArgv(c, argc, argv, NULL);
        if (xb_redis_reply_is_error(rep)) {
            snprintf(why, size, "AUTH failed: %s", rep ? rep->str : c->errstr);
            freeReplyObject(rep);
            return -1;
        }
        freeReplyObject(rep);
    }
    if (r->url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->url.db);
        const char *argv[2] = {"SELECT", db};
        rep = redisCommandArgv(c, 2, argv, NULL);
        if (xb_redis_reply_is_error(rep)) {
            snprintf(why, size, "SELECT %s failed: %s", db, rep ? rep->str : c->errstr);
            freeReplyObject(rep);
            return -1;
        }
        freeReplyObject(rep);
    }
    return xb_redis_scripts_load(r, c, why, size);
}

int xb_redis_conn_open(xb_redis_t *r, char *why, size_t size)
{
    struct timeval ct = {CONNECT_TIMEOUT_MS / 1000, (CONNECT_TIMEOUT_MS % 1000) * 1000};
    struct timeval tv = {COMMAND_TIMEOUT_MS / 1000, (COMMAND_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = r->url.is_unix ? redisConnectUnixWithTimeout(r->url.path, ct)
                                     : redisConnectWithTimeout(r->url.host, r->url.port, ct);
    if (!c) {
        snprintf(why, size, "cannot connect: out of memory");
        return -1;
    }
    if (c->err) {
        snprintf(why, size, "cannot connect: %s", c->errstr);
        redisFree(c);
        return -1;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(why, size, "cannot set the command timeout: %s", c->errstr);
        redisFree(c);
        return -1;
    }
    if (!r->url.is_unix && redisEnableKeepAlive(c) != REDIS_OK) {
        snprintf(why, size, "cannot enable TCP keep-alive: %s", c->errstr);
        redisFree(c);
        return -1;
    }
    if (conn_setup(r, c, why, size) != 0) {
        redisFree(c);
        return -1;
    }
    r->ctx = c;
    return 0;
}

/* True when the idle connection was closed by the server: with no reply
 * pending, anything readable on the socket is EOF or a reset. Detecting it
 * before sending means a Redis restart (or an idle-client timeout) between
 * two calls costs even a non-idempotent append nothing. */
static bool conn_closed_by_peer(const redisContext *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
    int n;
    while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR)
        ;
    return n > 0 && p.revents != 0;
}

/* Makes sure r->ctx is usable: reconnects when the backoff allows it. */
static int conn_ensure(xb_redis_t *r, xb_error_t *err)
{
    char why[200];
    if (r->ctx && conn_closed_by_peer(r->ctx)) {
        XB_INFO(COMP, "redis at %s: the server closed the connection; reconnecting", r->where);
        redisFree(r->ctx);
        r->ctx = NULL;
        r->next_attempt_ms = now_ms();
    }
    if (r->ctx)
        return 0;
    uint64_t now = now_ms();
    if (now < r->next_attempt_ms)
        return xb_error_set(err, XB_ERR_BACKEND, 0,
                            "redis at %s: unavailable (%s); next reconnect attempt in %llu ms",
                            r->where, r->last_error,
                            (unsigned long long)(r->next_attempt_ms - now));
    if (xb_redis_conn_open(r, why, sizeof why) == 0) {
        if (r->outage)
            XB_INFO(COMP, "redis at %s: connection re-established", r->where);
        r->outage = false;
        r->backoff_ms = 0;
        return 0;
    }
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (r->backoff_ms > BACKOFF_MAX_MS)
        r->backoff_ms = BACKOFF_MAX_MS;
    r->next_attempt_ms = now_ms() + (uint64_t)r->backoff_ms;
    if (!r->outage)
        XB_WARN(COMP, "redis at %s: %s", r->where, why);
    r->outage = true;
    snprintf(r->last_error, sizeof r->last_error, "%s", why);
    return xb_error_set(err, XB_ERR_BACKEND, 0, "redis at %s: %s", r->where, why);
}

redisReply *xb_redis_command(xb_redis_t *r, bool retry, int argc, const char **argv,
                             const size_t *lens, xb_error_t *err)
{
    for (int attempt = 0;; attempt++) {
        bool had_connection = r->ctx != NULL;
        if (conn_ensure(r, err) != 0)
            return NULL;
        redisReply *rep = redisCommandArgv(r->ctx, argc, argv, lens);
        if (rep)
            return rep;
        conn_lost(r, argv[0], err);
        if (!retry || !had_connection || attempt > 0)
            return NULL;
    }
}

int xb_redis_reply_error(xb_redis_t *r, const redisReply *rep, const char *cmd, const char *key,
                         xb_error_t *err)
{
    if (rep->type == REDIS_REPLY_ERROR)
        return xb_error_set(err, XB_ERR_BACKEND, 0, "redis at %s: %s %s: %s", r->where, cmd,
                            key ? key : "", rep->str);
    return xb_error_set(err, XB_ERR_BACKEND, 0, "redis at %s: %s %s: unexpected reply type %d",
                        r->where, cmd, key ? key : "", rep->type);
}

redisReply *xb_redis_key_command(xb_redis_t *r, const char *kind, const char *name, int argc,
                                 const char **argv, size_t *lens, int type, xb_error_t *err)
{
    size_t klen;
    char *key = xb_redis_key(r, kind, name, &klen);
    if (!key) {
        xb_redis_nomem(err, "key");
        return NULL;
    }
    argv[1] = key;
    lens[1] = klen;
    sigpipe_guard_t g;
    xb_redis_enter(r, &g);
    redisReply *rep = xb_redis_command(r, true, argc, argv, lens, err);
    xb_redis_leave(r, &g);
    if (rep && (rep->type == REDIS_REPLY_ERROR || (type && rep->type != type))) {
        xb_redis_reply_error(r, rep, argv[0], key, err);
        freeReplyObject(rep);
        rep = NULL;
    }
    free(key);
    return rep;
}
