/* The redis backend's buffer ops (docs/backend-redis.md): the slots of a
 * thread are the LIST "prefix buffer:THREAD", appended by script chunks. */
#include "backend_redis_internal.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return xb_error_set(err, XB_ERR_LIMIT, 0, "thread %s: max_slots_per_thread %ld reached", thread,
                        r->max_slots);
}

static int check_slot(xb_redis_t *r, const char *thread, const void *slot, size_t len,
                      xb_error_t *err)
{
    if (xb_redis_check_name("thread", thread, err) != 0)
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

/* Appends slots [0, m) and the journal entries of the stored ones (journal
 * NULL: none) by one script call; index[i] receives each stored slot's
 * index. Returns the number stored (m when all were; fewer when the thread
 * of the next one is full), or -1 with *err set: an error reply, or a lost
 * connection (the chunk may have been stored). */
static long append_chunk(xb_redis_t *r, call_t *c, const char *const *threads,
                         const xb_blob_t *slots, const xb_journal_entry_t *journal, size_t m,
                         long *index, xb_error_t *err)
{
    xb_redis_call_reset(c);
    size_t entries = 0;
    for (size_t i = 0; journal && i < m; i++)
        entries += journal[i].id != NULL;
    for (size_t i = 0; i < m; i++)
        if (xb_redis_call_key(r, c, "buffer:", threads[i], err) != 0)
            return -1;
    if (entries > 0 && xb_redis_call_key(r, c, "journal", "", err) != 0)
        return -1;
    xb_redis_call_end_keys(c);
    char count[24];
    int clen = snprintf(count, sizeof count, "%zu", m);
    char pos[CHUNK_ITEMS][8];
    xb_redis_call_arg(c, r->ttl_arg, strlen(r->ttl_arg));
    xb_redis_call_arg(c, r->max_slots_arg, strlen(r->max_slots_arg));
    xb_redis_call_arg(c, count, (size_t)clen);
    for (size_t i = 0; i < m; i++)
        xb_redis_call_arg(c, slots[i].data ? slots[i].data : "", slots[i].len);
    for (size_t i = 0; entries > 0 && i < m; i++) {
        if (!journal[i].id)
            continue;
        int plen = snprintf(pos[i], sizeof pos[i], "%zu", i + 1);
        xb_redis_call_arg(c, pos[i], (size_t)plen);
        xb_redis_call_arg(c, journal[i].id, strlen(journal[i].id));
        xb_redis_call_arg(c, journal[i].data, journal[i].len);
    }
    /* Not retried: a chunk whose reply was lost may have been stored. */
    redisReply *rep = xb_redis_run_script(r, SCRIPT_APPEND, false, c, err);
    if (!rep)
        return -1;
    long stored = -1;
    if (xb_redis_reply_is_counts(rep, m)) {
        stored = (long)rep->elements;
        for (size_t i = 0; i < rep->elements; i++)
            index[i] = (long)rep->element[i]->integer;
    } else if (m == 1) {
        xb_redis_reply_error(r, rep, "append to thread", threads[0], err);
    } else {
        char what[300];
        snprintf(what, sizeof what, "%s (first of %zu slots)", threads[0], m);
        xb_redis_reply_error(r, rep, "append to thread", what, err);
    }
    freeReplyObject(rep);
    return stored;
}

/* One script call per chunk, one chunk after the other: after a refusal or
 * a lost connection nothing more is sent, so a batch stops at its first
 * refused slot without any state on the server. */
int xb_redis_buffer_append_journal(void *self, size_t n, const char *const *threads,
                                   const xb_blob_t *slots, const xb_journal_entry_t *journal,
                                   long *index, xb_error_t *err)
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
    if (xb_redis_call_init(&c, 7 + 5 * most, err) != 0)
        return -1;
    size_t at = 0, m = 0;
    long stored = 0;
    xb_redis_enter(r, &g);
    for (; at < n; at += m) {
        m = append_chunk_len(slots + at, n - at);
        stored = append_chunk(r, &c, threads + at, slots + at, journal ? journal + at : NULL, m,
                              index + at, err);
        if (stored != (long)m)
            break;
    }
    xb_redis_leave(r, &g);
    xb_redis_call_free(&c);
    if (at == n)
        return 0;
    if (stored < 0)
        return -1;
    return refuse_full(r, threads[at + (size_t)stored], err);
}

int xb_redis_buffer_append_batch(void *self, size_t n, const char *const *threads,
                                 const xb_blob_t *slots, long *index, xb_error_t *err)
{
    return xb_redis_buffer_append_journal(self, n, threads, slots, NULL, index, err);
}

/* A batch of one: the same script and rules (never resent). */
int xb_redis_buffer_append(void *self, const char *thread, const void *slot, size_t len,
                           long *index, xb_error_t *err)
{
    const char *threads[1] = {thread};
    xb_blob_t slots[1] = {{(char *)slot, len}};
    long idx = -1;
    if (xb_redis_buffer_append_batch(self, 1, threads, slots, &idx, err) != 0)
        return -1;
    if (index)
        *index = idx;
    return 0;
}

int xb_redis_buffer_get_thread(void *self, const char *thread, xb_blob_list_t *out, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    if (xb_redis_check_name("thread", thread, err) != 0)
        return -1;
    size_t klen;
    char *key = xb_redis_key(r, "buffer:", thread, &klen);
    if (!key)
        return xb_redis_nomem(err, "key");
    const char *argv[4] = {"LRANGE", key, "0", "-1"};
    size_t lens[4] = {6, klen, 1, 2};
    xb_redis_enter(r, &g);
    redisReply *rep = xb_redis_command(r, true, 4, argv, lens, err);
    xb_redis_leave(r, &g);
    int rc = -1;
    if (!rep)
        goto done;
    if (rep->type != REDIS_REPLY_ARRAY) {
        xb_redis_reply_error(r, rep, "LRANGE", key, err);
        goto done;
    }
    if (rep->elements > 0) {
        out->items = calloc(rep->elements, sizeof *out->items);
        if (!out->items) {
            xb_redis_nomem(err, "thread slots");
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
                xb_redis_reply_error(r, e, "LRANGE", key, err);
            else
                xb_redis_nomem(err, "slot");
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

int xb_redis_buffer_get_slot(void *self, const char *thread, long index, xb_blob_t *out,
                             xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    if (xb_redis_check_name("thread", thread, err) != 0)
        return -1;
    if (index < 0)
        return xb_error_set(err, XB_ERR_NOTFOUND, 0, "thread %s has no slot %ld", thread, index);
    size_t klen;
    char *key = xb_redis_key(r, "buffer:", thread, &klen);
    if (!key)
        return xb_redis_nomem(err, "key");
    char idx[24];
    snprintf(idx, sizeof idx, "%ld", index);
    const char *argv[3] = {"LINDEX", key, idx};
    xb_redis_enter(r, &g);
    redisReply *rep = xb_redis_command(r, true, 3, argv, (size_t[]){6, klen, strlen(idx)}, err);
    xb_redis_leave(r, &g);
    int rc = -1;
    if (!rep)
        goto done;
    if (rep->type == REDIS_REPLY_NIL) {
        xb_error_set(err, XB_ERR_NOTFOUND, 0, "thread %s has no slot %ld", thread, index);
        goto done;
    }
    if (rep->type != REDIS_REPLY_STRING) {
        xb_redis_reply_error(r, rep, "LINDEX", key, err);
        goto done;
    }
    out->data = malloc(rep->len + 1);
    if (!out->data) {
        xb_redis_nomem(err, "slot");
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
    char *key = xb_redis_key(r, kind, name, &klen);
    if (!key)
        return xb_redis_nomem(err, "key");
    int rc = -1;
    xb_redis_enter(r, &g);
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *c = cmd;
        if (strcmp(cmd, "UNLINK") == 0 && r->no_unlink)
            c = "DEL";
        const char *argv[2] = {c, key};
        redisReply *rep = xb_redis_command(r, true, 2, argv, (size_t[]){strlen(c), klen}, err);
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
            xb_redis_reply_error(r, rep, c, key, err);
        }
        freeReplyObject(rep);
        break;
    }
    xb_redis_leave(r, &g);
    free(key);
    return rc;
}

/* key_integer on the buffer list of a checked thread name. */
static int thread_integer(xb_redis_t *r, const char *cmd, const char *thread, long long *value,
                          xb_error_t *err)
{
    if (xb_redis_check_name("thread", thread, err) != 0)
        return -1;
    return key_integer(r, cmd, "buffer:", thread, value, err);
}

/* thread_integer for the commands whose integer counts keys (EXISTS, UNLINK). */
static int thread_flag(xb_redis_t *r, const char *cmd, const char *thread, bool *flag,
                       xb_error_t *err)
{
    long long v;
    if (thread_integer(r, cmd, thread, &v, err) != 0)
        return -1;
    *flag = v > 0;
    return 0;
}

int xb_redis_buffer_thread_len(void *self, const char *thread, long *len, xb_error_t *err)
{
    long long v;
    if (thread_integer(self, "LLEN", thread, &v, err) != 0)
        return -1;
    *len = (long)v;
    return 0;
}

int xb_redis_buffer_thread_exists(void *self, const char *thread, bool *exists, xb_error_t *err)
{
    return thread_flag(self, "EXISTS", thread, exists, err);
}

int xb_redis_buffer_delete_thread(void *self, const char *thread, bool *deleted, xb_error_t *err)
{
    return thread_flag(self, "UNLINK", thread, deleted, err);
}

int xb_redis_buffer_list_threads(void *self, xb_str_list_t *out, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    name_set_t set;
    xb_redis_enter(r, &g);
    int rc = xb_redis_scan_names(r, "buffer:", &set, err);
    xb_redis_leave(r, &g);
    if (rc != 0)
        return -1;
    out->items = set.items; /* ownership moves to the caller */
    out->count = set.count;
    return 0;
}

int xb_redis_buffer_scan_threads(void *self, const char *cursor, size_t count, xb_str_list_t *out,
                                 char *next, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    name_set_t set;
    snprintf(next, XB_BACKEND_CURSOR_MAX, "%s", cursor);
    xb_redis_enter(r, &g);
    int rc = xb_redis_scan_page(r, "buffer:", next, count, &set, err);
    xb_redis_leave(r, &g);
    if (rc != 0) {
        snprintf(next, XB_BACKEND_CURSOR_MAX, "0");
        return -1;
    }
    out->items = set.items; /* ownership moves to the caller */
    out->count = set.count;
    return 0;
}

int xb_redis_buffer_clear(void *self, xb_error_t *err)
{
    static const char *const kinds[] = {"buffer:", "journal"};
    return xb_redis_clear_kinds(self, kinds, 2, err);
}
