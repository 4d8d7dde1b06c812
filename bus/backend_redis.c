/* The redis backend (docs/backend-redis.md).
 *
 * Key layout, for a prefix P (default "xp:"):
 *   P buffer:THREAD  LIST of encoded slots (RPUSH), expires redis_ttl after
 *                    the last append
 *   P chain:CHAIN    STRING -> uuid
 *   P uuid:UUID      STRING -> chain
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
 * to EVAL of the same call. */
#include "backend_impl.h"
#include "log.h"
#include "redis_url.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMP "backend.redis"
#define DEFAULT_URL "redis://127.0.0.1:6379"
#define DEFAULT_PREFIX "xp:"
#define CONNECT_TIMEOUT_MS 2000
#define COMMAND_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define SCAN_COUNT "1000"
/* A batch is sent as one script call per chunk of at most CHUNK_ITEMS
 * items (slots, registry changes) and CHUNK_BYTES of slot bytes (or chain
 * and uuid bytes), so no call carries an unbounded argument list. */
#define CHUNK_ITEMS 512
#define CHUNK_BYTES ((size_t)8 << 20)
#define MGET_CHUNK 256

/* ---- Lua scripts ------------------------------------------------------ */

enum { SCRIPT_APPEND, SCRIPT_REGISTRY, SCRIPT__COUNT };

/* KEYS[i] the buffer list of slot i; ARGV: ttl, max slots (0 = unlimited),
 * then slot i's bytes at ARGV[2 + i]. Appends the slots in order and stops
 * at the first one whose thread is full, like the memory backend's batch.
 * The limit is checked after the RPUSH, whose answer is the new length (one
 * command less per slot than asking LLEN first): a slot over the limit is
 * popped again in the same atomic script, so nobody ever sees it.
 * Returns the indexes of the stored slots: a reply shorter than KEYS means
 * the slot after the last stored one was refused and none after it stored. */
static const char SCRIPT_APPEND_SRC[] =
    "local ttl, max = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local out = {}\n"
    "for i, key in ipairs(KEYS) do\n"
    "  local n = redis.call('RPUSH', key, ARGV[i + 2])\n"
    "  if max > 0 and n > max then\n"
    "    redis.call('RPOP', key)\n"
    "    return out\n"
    "  end\n"
    "  out[i] = n - 1\n"
    "  if ttl > 0 then redis.call('EXPIRE', key, ttl)\n"
    "  else redis.call('PERSIST', key) end\n"
    "end\n"
    "return out\n";

/* Registry changes in order. ARGV: prefix, ttl, then three per change: kind
 * ("s" set, "d" delete), chain ("" for a delete), uuid. KEYS: per set its
 * chain key and uuid key, per delete its uuid key. Returns one integer per
 * change (a delete: 1 if the pair existed).
 * A set keeps chain <-> uuid a bijection: a chain's old uuid and a uuid's old
 * chain lose their reverse key, in the same atomic step. A delete drops the
 * chain key only if it still points back at that uuid. */
static const char SCRIPT_REGISTRY_SRC[] =
    "local p, ttl = ARGV[1], tonumber(ARGV[2])\n"
    "local function set(ck, uk, chain, uuid)\n"
    "  local old_uuid = redis.call('GET', ck)\n"
    "  if old_uuid and old_uuid ~= uuid then\n"
    "    local k = p .. 'uuid:' .. old_uuid\n"
    "    if redis.call('GET', k) == chain then redis.call('DEL', k) end\n"
    "  end\n"
    "  local old_chain = redis.call('GET', uk)\n"
    "  if old_chain and old_chain ~= chain then\n"
    "    local k = p .. 'chain:' .. old_chain\n"
    "    if redis.call('GET', k) == uuid then redis.call('DEL', k) end\n"
    "  end\n"
    "  if ttl > 0 then\n"
    "    redis.call('SET', ck, uuid, 'EX', ttl)\n"
    "    redis.call('SET', uk, chain, 'EX', ttl)\n"
    "  else\n"
    "    redis.call('SET', ck, uuid)\n"
    "    redis.call('SET', uk, chain)\n"
    "  end\n"
    "  return 1\n"
    "end\n"
    "local function delete(uk, uuid)\n"
    "  local chain = redis.call('GET', uk)\n"
    "  if not chain then return 0 end\n"
    "  redis.call('DEL', uk)\n"
    "  local k = p .. 'chain:' .. chain\n"
    "  if redis.call('GET', k) == uuid then redis.call('DEL', k) end\n"
    "  return 1\n"
    "end\n"
    "local out, k = {}, 1\n"
    "for a = 3, #ARGV, 3 do\n"
    "  if ARGV[a] == 's' then\n"
    "    out[#out + 1] = set(KEYS[k], KEYS[k + 1], ARGV[a + 1], ARGV[a + 2])\n"
    "    k = k + 2\n"
    "  else\n"
    "    out[#out + 1] = delete(KEYS[k], ARGV[a + 2])\n"
    "    k = k + 1\n"
    "  end\n"
    "end\n"
    "return out\n";

static const char *const script_src[SCRIPT__COUNT] = {SCRIPT_APPEND_SRC, SCRIPT_REGISTRY_SRC};
static const size_t script_len[SCRIPT__COUNT] = {sizeof SCRIPT_APPEND_SRC - 1,
                                                 sizeof SCRIPT_REGISTRY_SRC - 1};
/* ---- state ------------------------------------------------------------ */

typedef struct {
    pthread_mutex_t lock;
    redisContext *ctx;          /* NULL while disconnected */
    xb_redis_url_t url;
    char where[300];            /* "host:port" for messages */
    char location[256];         /* "host:port/db" for info */
    char prefix[128];
    size_t prefix_len;
    char pattern[300];          /* prefix with glob characters escaped */
    char ttl_arg[24];
    char max_slots_arg[24];
    long ttl;
    long max_slots;
    size_t max_slot_bytes;
    char sha[SCRIPT__COUNT][41];
    bool no_unlink;             /* server older than 4.0: use DEL */
    bool outage;                /* between a failure and the next success */
    long backoff_ms;
    uint64_t next_attempt_ms;   /* monotonic; no reconnect before it */
    char last_error[200];
    atomic_long limit_refusals;
} xb_redis_t;

/* ---- helpers ---------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A write to a socket the server closed raises SIGPIPE, which kills a
 * process that did not ignore it. A library must not change the process's
 * signal handling, so SIGPIPE is blocked in the calling thread during I/O
 * and a SIGPIPE raised meanwhile is consumed (the technique of libpq). */
typedef struct {
    sigset_t old;
    bool was_pending;
} sigpipe_guard_t;

static void sigpipe_block(sigpipe_guard_t *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

static void sigpipe_restore(sigpipe_guard_t *g)
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

static void enter(xb_redis_t *r, sigpipe_guard_t *g)
{
    pthread_mutex_lock(&r->lock);
    sigpipe_block(g);
}

static void leave(xb_redis_t *r, sigpipe_guard_t *g)
{
    sigpipe_restore(g);
    pthread_mutex_unlock(&r->lock);
}

/* Returns prefix + kind + name as a malloc'd string the caller frees. */
static char *make_key(const xb_redis_t *r, const char *kind, const char *name, size_t *len)
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

static int check_name(const char *what, const char *name, xb_error_t *err)
{
    if (!name || !name[0])
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: empty or NULL %s", what);
    return 0;
}

static int nomem(xb_error_t *err, const char *what)
{
    return xb_error_set(err, XB_ERR_NOMEM, 0, "redis backend: out of memory (%s)", what);
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

static int reply_is_error(const redisReply *rep)
{
    return !rep || rep->type == REDIS_REPLY_ERROR;
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
        if (reply_is_error(rep)) {
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
        if (reply_is_error(rep)) {
            snprintf(why, size, "SELECT %s failed: %s", db, rep ? rep->str : c->errstr);
            freeReplyObject(rep);
            return -1;
        }
        freeReplyObject(rep);
    }
    for (int i = 0; i < SCRIPT__COUNT; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", script_src[i]};
        size_t lens[3] = {6, 4, script_len[i]};
        rep = redisCommandArgv(c, 3, argv, lens);
        if (reply_is_error(rep) || rep->type != REDIS_REPLY_STRING || rep->len != 40) {
            snprintf(why, size, "SCRIPT LOAD failed: %s",
                     rep ? (rep->str ? rep->str : "unexpected reply") : c->errstr);
            freeReplyObject(rep);
            return -1;
        }
        memcpy(r->sha[i], rep->str, 40);
        r->sha[i][40] = '\0';
        freeReplyObject(rep);
    }
    return 0;
}

static int conn_open(xb_redis_t *r, char *why, size_t size)
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
    if (conn_open(r, why, sizeof why) == 0) {
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

/* Runs one command. Returns the reply (caller frees it; it may be an error
 * reply) or NULL with *err set. `retry`: the command is idempotent, so a
 * connection found broken is replaced and the command sent once more. */
static redisReply *command(xb_redis_t *r, bool retry, int argc, const char **argv,
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

static int reply_error(xb_redis_t *r, const redisReply *rep, const char *cmd, const char *key,
                       xb_error_t *err)
{
    if (rep->type == REDIS_REPLY_ERROR)
        return xb_error_set(err, XB_ERR_BACKEND, 0, "redis at %s: %s %s: %s", r->where, cmd,
                            key ? key : "", rep->str);
    return xb_error_set(err, XB_ERR_BACKEND, 0, "redis at %s: %s %s: unexpected reply type %d",
                        r->where, cmd, key ? key : "", rep->type);
}

static bool is_noscript(const redisReply *rep)
{
    return rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

/* The argument vector of one script call: EVALSHA sha numkeys KEYS...
 * ARGV... Values are borrowed, except the keys made by call_key, which the
 * call owns until call_reset. */
typedef struct {
    const char **argv;
    size_t *lens;
    char **owned;
    size_t argc, nowned;
    char numkeys[24];
} call_t;

/* Room for `cap` arguments in all, EVALSHA sha numkeys included. */
static int call_init(call_t *c, size_t cap, xb_error_t *err)
{
    memset(c, 0, sizeof *c);
    c->argv = malloc(cap * sizeof *c->argv);
    c->lens = malloc(cap * sizeof *c->lens);
    c->owned = malloc(cap * sizeof *c->owned);
    if (!c->argv || !c->lens || !c->owned) {
        free(c->argv);
        free(c->lens);
        free(c->owned);
        return nomem(err, "script call");
    }
    c->argc = 3;
    return 0;
}

static void call_reset(call_t *c)
{
    for (size_t i = 0; i < c->nowned; i++)
        free(c->owned[i]);
    c->nowned = 0;
    c->argc = 3;
}

static void call_free(call_t *c)
{
    call_reset(c);
    free(c->argv);
    free(c->lens);
    free(c->owned);
}

static void call_arg(call_t *c, const char *value, size_t len)
{
    c->argv[c->argc] = value;
    c->lens[c->argc++] = len;
}

/* Adds the key prefix kind name. */
static int call_key(const xb_redis_t *r, call_t *c, const char *kind, const char *name,
                    xb_error_t *err)
{
    size_t len;
    char *key = make_key(r, kind, name, &len);
    if (!key)
        return nomem(err, "key");
    c->owned[c->nowned++] = key;
    call_arg(c, key, len);
    return 0;
}

/* Ends the keys: every argument added from now on is an ARGV. */
static void call_end_keys(call_t *c)
{
    int n = snprintf(c->numkeys, sizeof c->numkeys, "%zu", c->argc - 3);
    c->argv[2] = c->numkeys;
    c->lens[2] = (size_t)n;
}

/* Runs the call of script `id` by EVALSHA, falling back to EVAL when the
 * server lost its script cache (NOSCRIPT: nothing of the call ran, so the
 * EVAL is no resend even for appends). `retry` as for command(). */
static redisReply *run_script(xb_redis_t *r, int id, bool retry, call_t *c, xb_error_t *err)
{
    c->argv[0] = "EVALSHA";
    c->lens[0] = 7;
    c->argv[1] = r->sha[id];
    c->lens[1] = 40;
    redisReply *rep = command(r, retry, (int)c->argc, c->argv, c->lens, err);
    if (!is_noscript(rep))
        return rep;
    freeReplyObject(rep);
    c->argv[0] = "EVAL";
    c->lens[0] = 4;
    c->argv[1] = script_src[id];
    c->lens[1] = script_len[id];
    return command(r, retry, (int)c->argc, c->argv, c->lens, err);
}

/* Checks that rep is an array of at most `most` integers >= 0. */
static bool reply_is_counts(const redisReply *rep, size_t most)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements > most)
        return false;
    for (size_t i = 0; i < rep->elements; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER || rep->element[i]->integer < 0)
            return false;
    return true;
}
/* ---- SCAN ------------------------------------------------------------- */

typedef int (*scan_fn)(xb_redis_t *r, redisReply *keys, void *arg, xb_error_t *err);

/* Calls fn for every batch of keys "prefix kind *". SCAN may return a key
 * twice; callers that count or list deduplicate. */
static int scan_each(xb_redis_t *r, const char *kind, scan_fn fn, void *arg, xb_error_t *err)
{
    char pattern[340];
    char cursor[32] = "0";
    snprintf(pattern, sizeof pattern, "%s%s*", r->pattern, kind);
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT};
        redisReply *rep = command(r, true, 6, argv, NULL, err);
        if (!rep)
            return -1;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_ARRAY ||
            rep->element[0]->len >= sizeof cursor) {
            reply_error(r, rep, "SCAN", pattern, err);
            freeReplyObject(rep);
            return -1;
        }
        memcpy(cursor, rep->element[0]->str, rep->element[0]->len + 1);
        int rc = fn(r, rep->element[1], arg, err);
        freeReplyObject(rep);
        if (rc != 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* A growable list of the names (key minus prefix and kind) seen by SCAN. */
typedef struct {
    size_t skip;   /* bytes of prefix + kind */
    char **items;
    size_t count, cap;
} name_set_t;

static int collect_names(xb_redis_t *r, redisReply *keys, void *arg, xb_error_t *err)
{
    (void)r;
    name_set_t *set = arg;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len <= set->skip ||
            memchr(k->str, '\0', k->len))
            continue; /* not representable as a C string: not ours */
        if (set->count == set->cap) {
            size_t cap = set->cap ? set->cap * 2 : 64;
            char **items = realloc(set->items, cap * sizeof *items);
            if (!items)
                return nomem(err, "SCAN result");
            set->items = items;
            set->cap = cap;
        }
        char *name = strndup(k->str + set->skip, k->len - set->skip);
        if (!name)
            return nomem(err, "SCAN result");
        set->items[set->count++] = name;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the names and drops the duplicates SCAN may produce. */
static void names_unique(name_set_t *set)
{
    if (set->count < 2)
        return;
    qsort(set->items, set->count, sizeof *set->items, cmp_str);
    size_t o = 1;
    for (size_t i = 1; i < set->count; i++) {
        if (strcmp(set->items[i], set->items[o - 1]) == 0)
            free(set->items[i]);
        else
            set->items[o++] = set->items[i];
    }
    set->count = o;
}

static void names_free(name_set_t *set)
{
    for (size_t i = 0; i < set->count; i++)
        free(set->items[i]);
    free(set->items);
    set->items = NULL;
    set->count = set->cap = 0;
}

static int scan_names(xb_redis_t *r, const char *kind, name_set_t *set, xb_error_t *err)
{
    memset(set, 0, sizeof *set);
    set->skip = r->prefix_len + strlen(kind);
    if (scan_each(r, kind, collect_names, set, err) != 0) {
        names_free(set);
        return -1;
    }
    names_unique(set);
    return 0;
}

/* Deletes one SCAN batch with UNLINK (DEL on servers before 4.0). */
static int delete_keys(xb_redis_t *r, redisReply *keys, void *arg, xb_error_t *err)
{
    (void)arg;
    if (keys->elements == 0)
        return 0;
    size_t argc = keys->elements + 1;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        return nomem(err, "delete batch");
    }
    for (size_t i = 0; i < keys->elements; i++) {
        argv[i + 1] = keys->element[i]->str;
        lens[i + 1] = keys->element[i]->len;
    }
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        argv[0] = r->no_unlink ? "DEL" : "UNLINK";
        lens[0] = strlen(argv[0]);
        redisReply *rep = command(r, true, (int)argc, argv, lens, err);
        if (!rep)
            break;
        if (rep->type == REDIS_REPLY_ERROR && !r->no_unlink &&
            strstr(rep->str, "unknown command")) {
            r->no_unlink = true;
            freeReplyObject(rep);
            continue;
        }
        rc = rep->type == REDIS_REPLY_INTEGER ? 0 : reply_error(r, rep, argv[0], "", err);
        freeReplyObject(rep);
        break;
    }
    free(argv);
    free(lens);
    return rc;
}

/* ---- buffer ----------------------------------------------------------- */

static int refuse_size(xb_redis_t *r, const char *thread, size_t len, xb_error_t *err)
{
    atomic_fetch_add(&r->limit_refusals, 1);
    XB_WARN(COMP, "thread %s: slot of %zu bytes refused (max_slot_bytes %zu)", thread, len,
            r->max_slot_bytes);
    return xb_error_set(err, XB_ERR_LIMIT, 0,
                        "thread %s: slot of %zu bytes exceeds max_slot_bytes %zu", thread, len,
                        r->max_slot_bytes);
}

static int refuse_full(xb_redis_t *r, const char *thread, xb_error_t *err)
{
    atomic_fetch_add(&r->limit_refusals, 1);
    XB_WARN(COMP, "thread %s: append refused, max_slots_per_thread %ld reached", thread,
            r->max_slots);
    return xb_error_set(err, XB_ERR_LIMIT, 0,
                        "thread %s: max_slots_per_thread %ld reached", thread, r->max_slots);
}

static int check_slot(xb_redis_t *r, const char *thread, const void *slot, size_t len,
                      xb_error_t *err)
{
    if (check_name("thread", thread, err) != 0)
        return -1;
    if (!slot && len > 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL slot for thread %s", thread);
    if (r->max_slot_bytes > 0 && len > r->max_slot_bytes)
        return refuse_size(r, thread, len, err);
    return 0;
}

/* Number of slots from `slots` (n > 0 left) in the next chunk: at most
 * CHUNK_ITEMS and CHUNK_BYTES of slot bytes, but at least one. */
static size_t append_chunk_len(const xb_blob_t *slots, size_t n)
{
    size_t m = 1, bytes = slots[0].len;
    while (m < n && m < CHUNK_ITEMS && bytes + slots[m].len <= CHUNK_BYTES)
        bytes += slots[m++].len;
    return m;
}

/* Appends slots [0, m) by one script call; index[i] receives each stored
 * slot's index. Returns the number stored (m when all were; fewer when the
 * thread of the next one is full), or -1 with *err set: an error reply, or
 * a lost connection (the chunk may have been stored). */
static long append_chunk(xb_redis_t *r, call_t *c, const char *const *threads,
                         const xb_blob_t *slots, size_t m, long *index, xb_error_t *err)
{
    call_reset(c);
    for (size_t i = 0; i < m; i++)
        if (call_key(r, c, "buffer:", threads[i], err) != 0)
            return -1;
    call_end_keys(c);
    call_arg(c, r->ttl_arg, strlen(r->ttl_arg));
    call_arg(c, r->max_slots_arg, strlen(r->max_slots_arg));
    for (size_t i = 0; i < m; i++)
        call_arg(c, slots[i].data ? slots[i].data : "", slots[i].len);
    /* Not retried: a chunk whose reply was lost may have been stored. */
    redisReply *rep = run_script(r, SCRIPT_APPEND, false, c, err);
    if (!rep)
        return -1;
    long stored = -1;
    if (reply_is_counts(rep, m)) {
        stored = (long)rep->elements;
        for (size_t i = 0; i < rep->elements; i++)
            index[i] = (long)rep->element[i]->integer;
    } else if (m == 1) {
        reply_error(r, rep, "append to thread", threads[0], err);
    } else {
        char what[300];
        snprintf(what, sizeof what, "%s (first of %zu slots)", threads[0], m);
        reply_error(r, rep, "append to thread", what, err);
    }
    freeReplyObject(rep);
    return stored;
}

/* One script call per chunk, one chunk after the other: after a refusal or
 * a lost connection nothing more is sent, so a batch stops at its first
 * refused slot without any state on the server. */
static int redis_buffer_append_batch(void *self, size_t n, const char *const *threads,
                                     const xb_blob_t *slots, long *index, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    call_t c;
    if (n == 0)
        return 0;
    if (!threads || !slots || !index)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL batch argument");
    /* Size limits refuse the whole batch before anything is sent. */
    for (size_t i = 0; i < n; i++) {
        if (check_slot(r, threads[i], slots[i].data, slots[i].len, err) != 0)
            return -1;
        index[i] = -1;
    }
    size_t most = n < CHUNK_ITEMS ? n : CHUNK_ITEMS;
    if (call_init(&c, 5 + 2 * most, err) != 0)
        return -1;
    size_t at = 0, m = 0;
    long stored = 0;
    enter(r, &g);
    for (; at < n; at += m) {
        m = append_chunk_len(slots + at, n - at);
        stored = append_chunk(r, &c, threads + at, slots + at, m, index + at, err);
        if (stored != (long)m)
            break;
    }
    leave(r, &g);
    call_free(&c);
    if (at == n)
        return 0;
    if (stored < 0)
        return -1;
    return refuse_full(r, threads[at + (size_t)stored], err);
}

/* A batch of one: the same script and rules (never resent). */
static int redis_buffer_append(void *self, const char *thread, const void *slot, size_t len,
                               long *index, xb_error_t *err)
{
    const char *threads[1] = {thread};
    xb_blob_t slots[1] = {{(char *)slot, len}};
    long idx = -1;
    if (redis_buffer_append_batch(self, 1, threads, slots, &idx, err) != 0)
        return -1;
    if (index)
        *index = idx;
    return 0;
}

static int redis_buffer_get_thread(void *self, const char *thread, xb_blob_list_t *out,
                                   xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    if (check_name("thread", thread, err) != 0)
        return -1;
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL output list");
    out->items = NULL;
    out->count = 0;
    size_t klen;
    char *key = make_key(r, "buffer:", thread, &klen);
    if (!key)
        return nomem(err, "key");
    const char *argv[4] = {"LRANGE", key, "0", "-1"};
    size_t lens[4] = {6, klen, 1, 2};
    enter(r, &g);
    redisReply *rep = command(r, true, 4, argv, lens, err);
    leave(r, &g);
    int rc = -1;
    if (!rep)
        goto done;
    if (rep->type != REDIS_REPLY_ARRAY) {
        reply_error(r, rep, "LRANGE", key, err);
        goto done;
    }
    if (rep->elements > 0) {
        out->items = calloc(rep->elements, sizeof *out->items);
        if (!out->items) {
            nomem(err, "thread slots");
            goto done;
        }
    }
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        char *data = malloc(e->len + 1);
        if (e->type != REDIS_REPLY_STRING || !data) {
            free(data);
            xb_blob_list_free(out);
            if (e->type != REDIS_REPLY_STRING)
                reply_error(r, e, "LRANGE", key, err);
            else
                nomem(err, "slot");
            goto done;
        }
        memcpy(data, e->str, e->len);
        data[e->len] = '\0';
        out->items[i].data = data;
        out->items[i].len = e->len;
        out->count = i + 1;
    }
    rc = 0;
done:
    freeReplyObject(rep);
    free(key);
    return rc;
}

static int redis_buffer_get_slot(void *self, const char *thread, long index, xb_blob_t *out,
                                 xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    if (check_name("thread", thread, err) != 0)
        return -1;
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL output blob");
    out->data = NULL;
    out->len = 0;
    if (index < 0)
        return xb_error_set(err, XB_ERR_NOTFOUND, 0, "thread %s has no slot %ld", thread, index);
    size_t klen;
    char *key = make_key(r, "buffer:", thread, &klen);
    if (!key)
        return nomem(err, "key");
    char idx[24];
    snprintf(idx, sizeof idx, "%ld", index);
    const char *argv[3] = {"LINDEX", key, idx};
    enter(r, &g);
    redisReply *rep = command(r, true, 3, argv, (size_t[]){6, klen, strlen(idx)}, err);
    leave(r, &g);
    int rc = -1;
    if (!rep)
        goto done;
    if (rep->type == REDIS_REPLY_NIL) {
        xb_error_set(err, XB_ERR_NOTFOUND, 0, "thread %s has no slot %ld", thread, index);
        goto done;
    }
    if (rep->type != REDIS_REPLY_STRING) {
        reply_error(r, rep, "LINDEX", key, err);
        goto done;
    }
    out->data = malloc(rep->len + 1);
    if (!out->data) {
        nomem(err, "slot");
        goto done;
    }
    memcpy(out->data, rep->str, rep->len);
    out->data[rep->len] = '\0';
    out->len = rep->len;
    rc = 0;
done:
    freeReplyObject(rep);
    free(key);
    return rc;
}

/* Runs `cmd KEY` where KEY = prefix kind name and expects an integer. */
static int key_integer(xb_redis_t *r, const char *cmd, const char *kind, const char *name,
                       long long *value, xb_error_t *err)
{
    sigpipe_guard_t g;
    size_t klen;
    char *key = make_key(r, kind, name, &klen);
    if (!key)
        return nomem(err, "key");
    int rc = -1;
    enter(r, &g);
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *c = cmd;
        if (strcmp(cmd, "UNLINK") == 0 && r->no_unlink)
            c = "DEL";
        const char *argv[2] = {c, key};
        redisReply *rep = command(r, true, 2, argv, (size_t[]){strlen(c), klen}, err);
        if (!rep)
            break;
        if (rep->type == REDIS_REPLY_ERROR && strcmp(c, "UNLINK") == 0 &&
            strstr(rep->str, "unknown command")) {
            r->no_unlink = true;
            freeReplyObject(rep);
            continue;
        }
        if (rep->type == REDIS_REPLY_INTEGER) {
            *value = rep->integer;
            rc = 0;
        } else {
            reply_error(r, rep, c, key, err);
        }
        freeReplyObject(rep);
        break;
    }
    leave(r, &g);
    free(key);
    return rc;
}

/* key_integer on the buffer list of a checked thread name. */
static int thread_integer(xb_redis_t *r, const char *cmd, const char *thread, long long *value,
                          xb_error_t *err)
{
    if (check_name("thread", thread, err) != 0)
        return -1;
    return key_integer(r, cmd, "buffer:", thread, value, err);
}

static int redis_buffer_thread_len(void *self, const char *thread, long *len, xb_error_t *err)
{
    long long v;
    if (thread_integer(self, "LLEN", thread, &v, err) != 0)
        return -1;
    if (len)
        *len = (long)v;
    return 0;
}

static int redis_buffer_thread_exists(void *self, const char *thread, bool *exists,
                                      xb_error_t *err)
{
    long long v;
    if (thread_integer(self, "EXISTS", thread, &v, err) != 0)
        return -1;
    if (exists)
        *exists = v > 0;
    return 0;
}

static int redis_buffer_delete_thread(void *self, const char *thread, bool *deleted,
                                      xb_error_t *err)
{
    long long v;
    if (thread_integer(self, "UNLINK", thread, &v, err) != 0)
        return -1;
    if (deleted)
        *deleted = v > 0;
    return 0;
}

static int redis_buffer_list_threads(void *self, xb_str_list_t *out, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    name_set_t set;
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL output list");
    out->items = NULL;
    out->count = 0;
    enter(r, &g);
    int rc = scan_names(r, "buffer:", &set, err);
    leave(r, &g);
    if (rc != 0)
        return -1;
    out->items = set.items; /* ownership moves to the caller */
    out->count = set.count;
    return 0;
}

static int clear_kinds(xb_redis_t *r, const char *const *kinds, size_t n, xb_error_t *err)
{
    sigpipe_guard_t g;
    int rc = 0;
    enter(r, &g);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = scan_each(r, kinds[i], delete_keys, NULL, err);
    leave(r, &g);
    return rc;
}

static int redis_buffer_clear(void *self, xb_error_t *err)
{
    static const char *const kinds[] = {"buffer:"};
    return clear_kinds(self, kinds, 1, err);
}

/* ---- registry --------------------------------------------------------- */

/* Checks one change (SET: chain and uuid, DELETE: uuid); every change of a
 * batch is checked before anything is sent. */
static int reg_check(const xb_registry_op_t *op, xb_error_t *err)
{
    if (op->kind == XB_REGISTRY_OP_SET)
        return check_name("chain", op->chain, err) != 0 ? -1 : check_name("uuid", op->uuid, err);
    if (op->kind == XB_REGISTRY_OP_DELETE)
        return check_name("uuid", op->uuid, err);
    return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: unknown registry op kind %d",
                        (int)op->kind);
}

/* Number of changes from ops (n > 0 left) in the next chunk: at most
 * CHUNK_ITEMS and CHUNK_BYTES of chain and uuid bytes, but at least one. */
static size_t reg_chunk_len(const xb_registry_op_t *ops, size_t n)
{
    size_t m = 0, bytes = 0;
    while (m < n && m < CHUNK_ITEMS) {
        size_t len = strlen(ops[m].uuid);
        if (ops[m].kind == XB_REGISTRY_OP_SET)
            len += strlen(ops[m].chain);
        if (m > 0 && bytes + len > CHUNK_BYTES)
            break;
        bytes += len;
        m++;
    }
    return m;
}

static int reg_reply_error(xb_redis_t *r, const redisReply *rep, const xb_registry_op_t *ops,
                           size_t m, xb_error_t *err)
{
    char what[64];
    if (m > 1) {
        snprintf(what, sizeof what, "of %zu changes", m);
        return reply_error(r, rep, "registry batch", what, err);
    }
    if (ops[0].kind == XB_REGISTRY_OP_SET)
        return reply_error(r, rep, "registry set", ops[0].chain, err);
    return reply_error(r, rep, "registry delete", ops[0].uuid, err);
}

/* Applies changes [0, m) by one script call; values[i] (if not NULL)
 * receives each change's result. Sent once more on a fresh connection when
 * the connection broke: every change is idempotent. */
static int reg_chunk(xb_redis_t *r, call_t *c, const xb_registry_op_t *ops, size_t m,
                     long long *values, xb_error_t *err)
{
    call_reset(c);
    for (size_t i = 0; i < m; i++) {
        bool set = ops[i].kind == XB_REGISTRY_OP_SET;
        if ((set && call_key(r, c, "chain:", ops[i].chain, err) != 0) ||
            call_key(r, c, "uuid:", ops[i].uuid, err) != 0)
            return -1;
    }
    call_end_keys(c);
    call_arg(c, r->prefix, r->prefix_len);
    call_arg(c, r->ttl_arg, strlen(r->ttl_arg));
    for (size_t i = 0; i < m; i++) {
        bool set = ops[i].kind == XB_REGISTRY_OP_SET;
        call_arg(c, set ? "s" : "d", 1);
        call_arg(c, set ? ops[i].chain : "", set ? strlen(ops[i].chain) : 0);
        call_arg(c, ops[i].uuid, strlen(ops[i].uuid));
    }
    redisReply *rep = run_script(r, SCRIPT_REGISTRY, true, c, err);
    if (!rep)
        return -1;
    int rc = 0;
    if (reply_is_counts(rep, m) && rep->elements == m) {
        for (size_t i = 0; values && i < m; i++)
            values[i] = rep->element[i]->integer;
    } else {
        rc = reg_reply_error(r, rep, ops, m, err);
    }
    freeReplyObject(rep);
    return rc;
}

/* Applies ops in order, one script call per chunk, one chunk after the
 * other; stops at the first chunk that failed (the chunks before it stay
 * applied, and so may the changes of the failed chunk before its error). */
static int reg_apply(xb_redis_t *r, size_t n, const xb_registry_op_t *ops, long long *values,
                     xb_error_t *err)
{
    sigpipe_guard_t g;
    call_t c;
    for (size_t i = 0; i < n; i++)
        if (reg_check(&ops[i], err) != 0)
            return -1;
    size_t most = n < CHUNK_ITEMS ? n : CHUNK_ITEMS;
    if (call_init(&c, 5 + 5 * most, err) != 0)
        return -1;
    int rc = 0;
    enter(r, &g);
    for (size_t at = 0, m = 0; at < n && rc == 0; at += m) {
        m = reg_chunk_len(ops + at, n - at);
        rc = reg_chunk(r, &c, ops + at, m, values ? values + at : NULL, err);
    }
    leave(r, &g);
    call_free(&c);
    return rc;
}

/* registry_set and registry_delete are batches of one. */
static int redis_registry_set(void *self, const char *chain, const char *uuid, xb_error_t *err)
{
    xb_registry_op_t op = {XB_REGISTRY_OP_SET, chain, uuid};
    return reg_apply(self, 1, &op, NULL, err);
}

static int redis_registry_delete(void *self, const char *uuid, bool *deleted, xb_error_t *err)
{
    xb_registry_op_t op = {XB_REGISTRY_OP_DELETE, NULL, uuid};
    long long v = 0;
    if (reg_apply(self, 1, &op, &v, err) != 0)
        return -1;
    if (deleted)
        *deleted = v > 0;
    return 0;
}

static int redis_registry_apply(void *self, size_t n, const xb_registry_op_t *ops,
                                xb_error_t *err)
{
    if (n == 0)
        return 0;
    if (!ops)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL registry batch");
    return reg_apply(self, n, ops, NULL, err);
}

/* GET prefix kind name into a malloc'd string. */
static int get_string(xb_redis_t *r, const char *kind, const char *name, const char *what,
                      char **value, xb_error_t *err)
{
    sigpipe_guard_t g;
    size_t klen;
    if (!value)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL output string");
    *value = NULL;
    char *key = make_key(r, kind, name, &klen);
    if (!key)
        return nomem(err, "key");
    const char *argv[2] = {"GET", key};
    enter(r, &g);
    redisReply *rep = command(r, true, 2, argv, (size_t[]){3, klen}, err);
    leave(r, &g);
    int rc = -1;
    if (!rep)
        goto done;
    if (rep->type == REDIS_REPLY_NIL) {
        xb_error_set(err, XB_ERR_NOTFOUND, 0, "registry: no %s for %s %s", what,
                     strcmp(kind, "chain:") == 0 ? "chain" : "uuid", name);
        goto done;
    }
    if (rep->type != REDIS_REPLY_STRING) {
        reply_error(r, rep, "GET", key, err);
        goto done;
    }
    *value = strndup(rep->str, rep->len);
    rc = *value ? 0 : nomem(err, "registry value");
done:
    freeReplyObject(rep);
    free(key);
    return rc;
}

static int redis_registry_get_uuid(void *self, const char *chain, char **uuid, xb_error_t *err)
{
    if (check_name("chain", chain, err) != 0)
        return -1;
    return get_string(self, "chain:", chain, "uuid", uuid, err);
}

static int redis_registry_get_chain(void *self, const char *uuid, char **chain, xb_error_t *err)
{
    if (check_name("uuid", uuid, err) != 0)
        return -1;
    return get_string(self, "uuid:", uuid, "chain", chain, err);
}

/* Fetches the uuids of chains[0..n) with one MGET and appends the pairs
 * that still exist (a key may expire between SCAN and MGET). */
static int fetch_pairs(xb_redis_t *r, char **chains, size_t n, xb_pair_list_t *out,
                       xb_error_t *err)
{
    const char **argv = calloc(n + 1, sizeof *argv);
    size_t *lens = calloc(n + 1, sizeof *lens);
    int rc = -1;
    redisReply *rep = NULL;
    if (!argv || !lens) {
        nomem(err, "MGET");
        goto done;
    }
    argv[0] = "MGET";
    lens[0] = 4;
    for (size_t i = 0; i < n; i++) {
        argv[i + 1] = make_key(r, "chain:", chains[i], &lens[i + 1]);
        if (!argv[i + 1]) {
            nomem(err, "key");
            goto done;
        }
    }
    rep = command(r, true, (int)n + 1, argv, lens, err);
    if (!rep)
        goto done;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        reply_error(r, rep, "MGET", "", err);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = rep->element[i];
        if (v->type != REDIS_REPLY_STRING)
            continue;
        xb_registry_pair_t *p = &out->items[out->count];
        p->chain = strdup(chains[i]);
        p->uuid = strndup(v->str, v->len);
        if (!p->chain || !p->uuid) {
            free(p->chain);
            free(p->uuid);
            nomem(err, "registry pair");
            goto done;
        }
        out->count++;
    }
    rc = 0;
done:
    freeReplyObject(rep);
    if (argv)
        for (size_t i = 1; i <= n; i++)
            free((char *)argv[i]);
    free(argv);
    free(lens);
    return rc;
}

static int redis_registry_list_all(void *self, xb_pair_list_t *out, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    name_set_t set;
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL output list");
    out->items = NULL;
    out->count = 0;
    enter(r, &g);
    int rc = scan_names(r, "chain:", &set, err);
    if (rc == 0 && set.count > 0) {
        out->items = calloc(set.count, sizeof *out->items);
        if (!out->items)
            rc = nomem(err, "registry list");
    }
    for (size_t at = 0; rc == 0 && at < set.count; at += MGET_CHUNK) {
        size_t m = set.count - at < MGET_CHUNK ? set.count - at : MGET_CHUNK;
        rc = fetch_pairs(r, set.items + at, m, out, err);
    }
    leave(r, &g);
    names_free(&set);
    if (rc != 0)
        xb_pair_list_free(out);
    return rc;
}

static int redis_registry_clear(void *self, xb_error_t *err)
{
    static const char *const kinds[] = {"chain:", "uuid:"};
    return clear_kinds(self, kinds, 2, err);
}

/* ---- ping, info, close ------------------------------------------------ */

static int redis_ping(void *self, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    const char *argv[1] = {"PING"};
    enter(r, &g);
    redisReply *rep = command(r, true, 1, argv, NULL, err);
    leave(r, &g);
    int rc = -1;
    if (rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0)
        rc = 0;
    else if (rep)
        reply_error(r, rep, "PING", "", err);
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
    redisReply *rep = command(r, true, 2, argv, NULL, err);
    if (!rep)
        return -1;
    int rc = 0;
    if (rep->type == REDIS_REPLY_STRING)
        parse_version(rep->str, out, size);
    else
        rc = reply_error(r, rep, "INFO", "server", err);
    freeReplyObject(rep);
    return rc;
}

static int redis_info(void *self, xb_backend_info_t *out, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    name_set_t threads, chains;
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL info");
    memset(out, 0, sizeof *out);
    snprintf(out->type, sizeof out->type, "redis");
    snprintf(out->location, sizeof out->location, "%s", r->location);
    out->ttl = r->ttl;
    out->slots = -1; /* summing LLEN over every thread is not cheap */
    out->evicted_threads = 0;
    out->limit_refusals = atomic_load(&r->limit_refusals);
    enter(r, &g);
    int rc = server_version(r, out->server_version, sizeof out->server_version, err);
    if (rc == 0 && scan_names(r, "buffer:", &threads, err) == 0) {
        out->threads = (long)threads.count;
        names_free(&threads);
    } else {
        rc = -1;
    }
    if (rc == 0 && scan_names(r, "chain:", &chains, err) == 0) {
        out->registry_entries = (long)chains.count;
        names_free(&chains);
    } else {
        rc = -1;
    }
    leave(r, &g);
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
    .buffer_append = redis_buffer_append,
    .buffer_append_batch = redis_buffer_append_batch,
    .buffer_get_thread = redis_buffer_get_thread,
    .buffer_get_slot = redis_buffer_get_slot,
    .buffer_thread_len = redis_buffer_thread_len,
    .buffer_thread_exists = redis_buffer_thread_exists,
    .buffer_delete_thread = redis_buffer_delete_thread,
    .buffer_list_threads = redis_buffer_list_threads,
    .buffer_clear = redis_buffer_clear,
    .registry_set = redis_registry_set,
    .registry_get_uuid = redis_registry_get_uuid,
    .registry_get_chain = redis_registry_get_chain,
    .registry_delete = redis_registry_delete,
    .registry_apply = redis_registry_apply,
    .registry_list_all = redis_registry_list_all,
    .registry_clear = redis_registry_clear,
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
            return xb_error_set(err, XB_ERR_CONFIG, 0,
                                "redis_prefix contains a control character");
    if (cfg->redis_ttl < 0)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "redis_ttl must be >= 0 (0 = no expiry), not %ld",
                            cfg->redis_ttl);
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
    if (!cfg || !ops) {
        xb_error_set(err, XB_ERR_ARG, 0, "xb_backend_redis_open: NULL argument");
        return NULL;
    }
    xb_redis_t *r = calloc(1, sizeof *r);
    if (!r) {
        nomem(err, "redis backend");
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
    sigpipe_block(&g);
    int rc = conn_open(r, why, sizeof why);
    sigpipe_restore(&g);
    if (rc != 0) {
        xb_error_set(err, XB_ERR_BACKEND, 0, "redis at %s: %s", r->where, why);
        redis_close(r);
        return NULL;
    }
    *ops = &redis_ops;
    return r;
}
