/* Pieces shared by the files of the redis backend (docs/backend-redis.md):
 *   backend_redis.c           the ops table, open and close, ping and info
 *   backend_redis_conn.c      the connection: SIGPIPE guard, reconnect with
 *                             backoff, one command, keys and error helpers
 *   backend_redis_script.c    the Lua scripts and the calls that run them
 *   backend_redis_scan.c      SCAN over a key kind: names, deletes
 *   backend_redis_buffer.c    the buffer ops (threads of slots)
 *   backend_redis_registry.c  the registry ops (chain <-> uuid)
 *   backend_redis_journal.c   the journal ops (the HASH "prefix journal")
 *   backend_redis_wmem.c      working memory (a HASH per conversation)
 * Nothing here is public API. */
#ifndef XMLBUS_BACKEND_REDIS_INTERNAL_H
#define XMLBUS_BACKEND_REDIS_INTERNAL_H

#include "backend_impl.h"
#include "redis_url.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMP "backend.redis"
/* A batch is sent as one script call per chunk of at most CHUNK_ITEMS
 * items (slots, registry changes) and CHUNK_BYTES of slot bytes (or chain
 * and uuid bytes), so no call carries an unbounded argument list. */
#define CHUNK_ITEMS 512
#define CHUNK_BYTES ((size_t)8 << 20)

/* The Lua scripts (backend_redis_script.c). */
enum { SCRIPT_APPEND, SCRIPT_REGISTRY, SCRIPT_WMEM, SCRIPT__COUNT };

/* ---- state ------------------------------------------------------------ */

typedef struct {
    pthread_mutex_t lock;
    redisContext *ctx; /* NULL while disconnected */
    xb_redis_url_t url;
    char where[300];    /* "host:port" for messages */
    char location[256]; /* "host:port/db" for info */
    char prefix[128];
    size_t prefix_len;
    char pattern[300]; /* prefix with glob characters escaped */
    char ttl_arg[24];
    char max_slots_arg[24];
    char max_wmem_arg[24];
    long max_wmem_entries;
    long ttl;
    long max_slots;
    size_t max_slot_bytes;
    char sha[SCRIPT__COUNT][41];
    bool no_unlink; /* server older than 4.0: use DEL */
    bool outage;    /* between a failure and the next success */
    long backoff_ms;
    uint64_t next_attempt_ms; /* monotonic; no reconnect before it */
    char last_error[200];
    atomic_long limit_refusals;
} xb_redis_t;

/* ---- connection (backend_redis_conn.c) -------------------------------- */

/* A write to a socket the server closed raises SIGPIPE, which kills a
 * process that did not ignore it. A library must not change the process's
 * signal handling, so SIGPIPE is blocked in the calling thread during I/O
 * and a SIGPIPE raised meanwhile is consumed (the technique of libpq). */
typedef struct {
    sigset_t old;
    bool was_pending;
} sigpipe_guard_t;

void xb_redis_sigpipe_block(sigpipe_guard_t *g);
void xb_redis_sigpipe_restore(sigpipe_guard_t *g);

/* Takes the connection's lock and blocks SIGPIPE; leave undoes both. */
void xb_redis_enter(xb_redis_t *r, sigpipe_guard_t *g);
void xb_redis_leave(xb_redis_t *r, sigpipe_guard_t *g);

/* Returns prefix + kind + name as a malloc'd string the caller frees. */
char *xb_redis_key(const xb_redis_t *r, const char *kind, const char *name, size_t *len);

/* XB_ERR_ARG when name is NULL or empty; `what` names it. */
int xb_redis_check_name(const char *what, const char *name, xb_error_t *err);

/* Sets XB_ERR_NOMEM about `what`; returns -1. */
int xb_redis_nomem(xb_error_t *err, const char *what);

/* Copies pair i of an HGETALL reply rep into *field and *value (malloc'd,
 * set even on failure so that the caller frees them). -1 with *err set: not
 * a pair of strings (`what` names the entry in the message), no memory. */
int xb_redis_hash_item(const redisReply *rep, size_t i, char **field, xb_blob_t *value,
                       const char *what, xb_error_t *err);

static inline int xb_redis_reply_is_error(const redisReply *rep)
{
    return !rep || rep->type == REDIS_REPLY_ERROR;
}

/* Opens a connection into r->ctx (AUTH, SELECT, SCRIPT LOAD). Returns 0,
 * or -1 with the reason in why. */
int xb_redis_conn_open(xb_redis_t *r, char *why, size_t size);

/* Runs one command. Returns the reply (caller frees it; it may be an error
 * reply) or NULL with *err set. `retry`: the command is idempotent, so a
 * connection found broken is replaced and the command sent once more. */
redisReply *xb_redis_command(xb_redis_t *r, bool retry, int argc, const char **argv,
                             const size_t *lens, xb_error_t *err);

/* Runs the idempotent command argv on the key `prefix kind name` (which
 * fills argv[1] and lens[1]), with the connection's guard. type: the reply
 * type it must have, 0 for any but an error. Returns the reply (caller
 * frees it) or NULL with *err set. */
redisReply *xb_redis_key_command(xb_redis_t *r, const char *kind, const char *name, int argc,
                                 const char **argv, size_t *lens, int type, xb_error_t *err);

/* Sets XB_ERR_BACKEND for an error or unexpected reply to cmd on key. */
int xb_redis_reply_error(xb_redis_t *r, const redisReply *rep, const char *cmd, const char *key,
                         xb_error_t *err);

/* ---- scripts (backend_redis_script.c) --------------------------------- */

/* SCRIPT LOAD of every script on a new connection c; the shas go to r->sha.
 * Returns 0, or -1 with the reason in why. */
int xb_redis_scripts_load(xb_redis_t *r, redisContext *c, char *why, size_t size);

/* The argument vector of one script call: EVALSHA sha numkeys KEYS...
 * ARGV... Values are borrowed, except the keys made by xb_redis_call_key,
 * which the call owns until xb_redis_call_reset. */
typedef struct {
    const char **argv;
    size_t *lens;
    char **owned;
    size_t argc, nowned;
    char numkeys[24];
} call_t;

/* Room for `cap` arguments in all, EVALSHA sha numkeys included. */
int xb_redis_call_init(call_t *c, size_t cap, xb_error_t *err);
void xb_redis_call_reset(call_t *c);
void xb_redis_call_free(call_t *c);
void xb_redis_call_arg(call_t *c, const char *value, size_t len);
/* Adds the key prefix kind name. */
int xb_redis_call_key(const xb_redis_t *r, call_t *c, const char *kind, const char *name,
                      xb_error_t *err);
/* Ends the keys: every argument added from now on is an ARGV. */
void xb_redis_call_end_keys(call_t *c);

/* Runs the call of script `id` by EVALSHA, falling back to EVAL when the
 * server lost its script cache (NOSCRIPT: nothing of the call ran, so the
 * EVAL is no resend even for appends). `retry` as for xb_redis_command. */
redisReply *xb_redis_run_script(xb_redis_t *r, int id, bool retry, call_t *c, xb_error_t *err);

/* Checks that rep is an array of at most `most` integers >= 0. */
bool xb_redis_reply_is_counts(const redisReply *rep, size_t most);

/* ---- SCAN (backend_redis_scan.c) -------------------------------------- */

/* A growable list of the names (key minus prefix and kind) seen by SCAN. */
typedef struct {
    size_t skip; /* bytes of prefix + kind */
    char **items;
    size_t count, cap;
} name_set_t;

/* The sorted, unique names of the keys "prefix kind *" into *set (freed by
 * xb_redis_names_free). Call with the connection entered. */
int xb_redis_scan_names(xb_redis_t *r, const char *kind, name_set_t *set, xb_error_t *err);
void xb_redis_names_free(name_set_t *set);

/* One SCAN step with COUNT count from cursor (a decimal, "0" starts; at least
 * XB_BACKEND_CURSOR_MAX bytes, replaced by the next cursor, "0" at the end):
 * the names it found into *set, unsorted, maybe with a name of an earlier
 * step again. Call with the connection entered. */
int xb_redis_scan_page(xb_redis_t *r, const char *kind, char *cursor, size_t count, name_set_t *set,
                       xb_error_t *err);

/* The number of keys "prefix kind *" into *count, read with at most `steps`
 * SCAN steps (of COUNT 1000): -1 when they did not finish, so that a large
 * store is not walked whole. Call with the connection entered. */
int xb_redis_count_names(xb_redis_t *r, const char *kind, int steps, long *count, xb_error_t *err);

/* Deletes every key "prefix kind *" of the n kinds. */
int xb_redis_clear_kinds(xb_redis_t *r, const char *const *kinds, size_t n, xb_error_t *err);

/* ---- ops (backend_redis_buffer.c, backend_redis_registry.c) ----------- */

int xb_redis_buffer_append(void *self, const char *thread, const void *slot, size_t len,
                           long *index, xb_error_t *err);
int xb_redis_buffer_append_batch(void *self, size_t n, const char *const *threads,
                                 const xb_blob_t *slots, long *index, xb_error_t *err);
int xb_redis_buffer_append_all(void *self, size_t n, const char *const *threads,
                               const xb_blob_t *slots, const xb_journal_entry_t *journal,
                               const xb_wmem_batch_t *wmem, long *index, xb_error_t *err);
int xb_redis_buffer_get_thread(void *self, const char *thread, xb_blob_list_t *out,
                               xb_error_t *err);
int xb_redis_buffer_get_slot(void *self, const char *thread, long index, xb_blob_t *out,
                             xb_error_t *err);
int xb_redis_buffer_thread_len(void *self, const char *thread, long *len, xb_error_t *err);
int xb_redis_buffer_thread_exists(void *self, const char *thread, bool *exists, xb_error_t *err);
int xb_redis_buffer_delete_thread(void *self, const char *thread, bool *deleted, xb_error_t *err);
int xb_redis_buffer_list_threads(void *self, xb_str_list_t *out, xb_error_t *err);
int xb_redis_buffer_scan_threads(void *self, const char *cursor, size_t count, xb_str_list_t *out,
                                 char *next, xb_error_t *err);
int xb_redis_buffer_clear(void *self, xb_error_t *err);

int xb_redis_registry_set(void *self, const char *chain, const char *uuid, xb_error_t *err);
int xb_redis_registry_get_uuid(void *self, const char *chain, char **uuid, xb_error_t *err);
int xb_redis_registry_get_chain(void *self, const char *uuid, char **chain, xb_error_t *err);
int xb_redis_registry_delete(void *self, const char *uuid, bool *deleted, xb_error_t *err);
int xb_redis_registry_apply(void *self, size_t n, const xb_registry_op_t *ops, xb_error_t *err);
int xb_redis_registry_list_all(void *self, xb_pair_list_t *out, xb_error_t *err);
int xb_redis_registry_clear(void *self, xb_error_t *err);

int xb_redis_journal_put(void *self, const xb_journal_entry_t *entry, xb_error_t *err);
int xb_redis_journal_remove(void *self, size_t n, const char *const *ids, xb_error_t *err);
int xb_redis_journal_list(void *self, xb_journal_list_t *out, xb_error_t *err);

int xb_redis_wmem_put(void *self, const char *conversation, size_t n,
                      const xb_wmem_entry_t *entries, xb_error_t *err);
int xb_redis_wmem_get(void *self, const char *conversation, const char *name, xb_blob_t *out,
                      xb_error_t *err);
int xb_redis_wmem_list(void *self, const char *conversation, xb_wmem_list_t *out, xb_error_t *err);
int xb_redis_wmem_drop(void *self, const char *conversation, xb_error_t *err);

#endif
