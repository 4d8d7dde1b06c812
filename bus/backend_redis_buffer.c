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

/* The argument and byte cost of slot i of a batch: its bytes, its journal
 * entry, its working-memory writes. */
static size_t slot_args(const xb_journal_entry_t *journal, const xb_wmem_batch_t *wmem, size_t i)
{
    const xb_wmem_batch_t *w = xb_wmem_of(wmem, i);
    return 2 + (journal && journal[i].id ? 3 : 0) + (w ? 3 + 2 * w->n : 0);
}

static size_t slot_bytes(const xb_blob_t *slots, const xb_journal_entry_t *journal,
                         const xb_wmem_batch_t *wmem, size_t i)
{
    const xb_wmem_batch_t *w = xb_wmem_of(wmem, i);
    size_t bytes = slots[i].len + (journal && journal[i].id ? journal[i].len : 0);
    for (size_t e = 0; w && e < w->n; e++)
        bytes += w->entries[e].len;
    return bytes;
}

/* Number of slots from `slots` (n > 0 left) in the next chunk: at most
 * CHUNK_ITEMS and CHUNK_BYTES of bytes (a slot's journal entry and writes
 * counted with it: they always go in its chunk), but at least one. */
static size_t append_chunk_len(const xb_blob_t *slots, const xb_journal_entry_t *journal,
                               const xb_wmem_batch_t *wmem, size_t n)
{
    size_t m = 1, bytes = slot_bytes(slots, journal, wmem, 0);
    while (m < n && m < CHUNK_ITEMS && bytes + slot_bytes(slots, journal, wmem, m) <= CHUNK_BYTES)
        bytes += slot_bytes(slots, journal, wmem, m++);
    return m;
}

/* One chunk of a batch: slots [0, m) with their journal entries and writes
 * (journal, wmem may be NULL), pointers into the batch. */
typedef struct {
    const char *const *threads;
    const xb_blob_t *slots;
    const xb_journal_entry_t *journal;
    const xb_wmem_batch_t *wmem;
    size_t m;
} chunk_t;

/* Numbers written into a call's arguments (slot numbers, counts). */
typedef char num_t[24];

/* Adds the decimal v as an argument, written into the next of nums. */
static void call_num(call_t *c, num_t *nums, size_t *used, size_t v)
{
    int len = snprintf(nums[*used], sizeof nums[*used], "%zu", v);
    xb_redis_call_arg(c, nums[(*used)++], (size_t)len);
}

/* The KEYS and ARGV of SCRIPT_APPEND for chunk k (see its comment); nums
 * holds 2 + 3 * k->m numbers. */
static int append_args(xb_redis_t *r, call_t *c, const chunk_t *k, num_t *nums, xb_error_t *err)
{
    size_t m = k->m, entries = 0, used = 0;
    for (size_t i = 0; k->journal && i < m; i++)
        entries += k->journal[i].id != NULL;
    for (size_t i = 0; i < m; i++)
        if (xb_redis_call_key(r, c, "buffer:", k->threads[i], err) != 0)
            return -1;
    if (entries > 0 && xb_redis_call_key(r, c, "journal", "", err) != 0)
        return -1;
    for (size_t i = 0; i < m; i++) {
        const xb_wmem_batch_t *w = xb_wmem_of(k->wmem, i);
        if (w && xb_redis_call_key(r, c, "memory:", w->conversation, err) != 0)
            return -1;
    }
    xb_redis_call_end_keys(c);
    xb_redis_call_arg(c, r->ttl_arg, strlen(r->ttl_arg));
    xb_redis_call_arg(c, r->max_slots_arg, strlen(r->max_slots_arg));
    xb_redis_call_arg(c, r->max_wmem_arg, strlen(r->max_wmem_arg));
    call_num(c, nums, &used, m);
    call_num(c, nums, &used, entries);
    for (size_t i = 0; i < m; i++)
        xb_redis_call_arg(c, k->slots[i].data ? k->slots[i].data : "", k->slots[i].len);
    for (size_t i = 0; entries > 0 && i < m; i++) {
        const xb_journal_entry_t *j = &k->journal[i];
        if (!j->id)
            continue;
        call_num(c, nums, &used, i + 1);
        xb_redis_call_arg(c, j->id, strlen(j->id));
        xb_redis_call_arg(c, j->data, j->len);
    }
    for (size_t i = 0; i < m; i++) {
        const xb_wmem_batch_t *w = xb_wmem_of(k->wmem, i);
        if (!w)
            continue;
        call_num(c, nums, &used, i + 1);
        call_num(c, nums, &used, w->n);
        for (size_t e = 0; e < w->n; e++) {
            xb_redis_call_arg(c, w->entries[e].name, strlen(w->entries[e].name));
            xb_redis_call_arg(c, w->entries[e].data, w->entries[e].len);
        }
    }
    return 0;
}

/* Reads the reply of a chunk of m slots: the indexes of the stored ones into
 * index, their number into *stored, and, when the writes of the next one
 * refused it, the number (1-based) of their refused entry into *over
 * (else 0). False for any other reply. */
static bool append_reply(const redisReply *rep, size_t m, long *index, long *stored, long *over)
{
    *over = 0;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements > m)
        return false;
    size_t n = rep->elements;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_INTEGER || (e->integer < 0 && i + 1 < n))
            return false;
        if (e->integer < 0) {
            *over = (long)-e->integer;
            n--;
        }
    }
    for (size_t i = 0; i < n; i++)
        index[i] = (long)rep->element[i]->integer;
    *stored = (long)n;
    return true;
}

/* Appends the chunk by one script call; index[i] receives each stored
 * slot's index. Returns the number stored (m when all were; fewer when the
 * next one was refused: *over as for append_reply), or -1 with *err set: an
 * error reply, or a lost connection (the chunk may have been stored). */
static long append_chunk(xb_redis_t *r, call_t *c, const chunk_t *k, num_t *nums, long *index,
                         long *over, xb_error_t *err)
{
    xb_redis_call_reset(c);
    if (append_args(r, c, k, nums, err) != 0)
        return -1;
    /* Not retried: a chunk whose reply was lost may have been stored. */
    redisReply *rep = xb_redis_run_script(r, SCRIPT_APPEND, false, c, err);
    if (!rep)
        return -1;
    long stored = -1;
    if (!append_reply(rep, k->m, index, &stored, over)) {
        char what[300];
        snprintf(what, sizeof what, "%s (first of %zu slots)", k->threads[0], k->m);
        xb_redis_reply_error(r, rep, "append to thread", k->m == 1 ? k->threads[0] : what, err);
        stored = -1;
    }
    freeReplyObject(rep);
    return stored;
}

/* The refusal of a slot by entry number `over` of its writes (not counted
 * in limit_refusals nor logged, as for a put). */
static int refuse_wmem(xb_redis_t *r, const xb_wmem_batch_t *w, long over, xb_error_t *err)
{
    const char *name = over <= (long)w->n ? w->entries[over - 1].name : "?";
    return xb_wmem_refuse(err, "redis", w->conversation, name, r->max_wmem_entries);
}

/* One script call per chunk, one chunk after the other: after a refusal or
 * a lost connection nothing more is sent, so a batch stops at its first
 * refused slot without any state on the server. */
int xb_redis_buffer_append_all(void *self, size_t n, const char *const *threads,
                               const xb_blob_t *slots, const xb_journal_entry_t *journal,
                               const xb_wmem_batch_t *wmem, long *index, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    call_t c;
    if (n == 0)
        return 0;
    if (!threads || !slots || !index)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL batch argument");
    /* Size limits refuse the whole batch before anything is sent. */
    size_t args = 0;
    for (size_t i = 0; i < n; i++) {
        if (check_slot(r, threads[i], slots[i].data, slots[i].len, err) != 0)
            return -1;
        index[i] = -1;
        args += slot_args(journal, wmem, i);
    }
    size_t most = n < CHUNK_ITEMS ? n : CHUNK_ITEMS;
    num_t *nums = malloc((2 + 3 * most) * sizeof *nums);
    if (!nums)
        return xb_redis_nomem(err, "script call");
    if (xb_redis_call_init(&c, 9 + args, err) != 0) {
        free(nums);
        return -1;
    }
    size_t at = 0, m = 0;
    long stored = 0, over = 0;
    xb_redis_enter(r, &g);
    for (; at < n; at += m) {
        m = append_chunk_len(slots + at, journal ? journal + at : NULL, wmem ? wmem + at : NULL,
                             n - at);
        chunk_t k = {threads + at, slots + at, journal ? journal + at : NULL,
                     wmem ? wmem + at : NULL, m};
        stored = append_chunk(r, &c, &k, nums, index + at, &over, err);
        if (stored != (long)m)
            break;
    }
    xb_redis_leave(r, &g);
    xb_redis_call_free(&c);
    free(nums);
    if (at == n)
        return 0;
    if (stored < 0)
        return -1;
    size_t refused = at + (size_t)stored;
    if (over > 0 && xb_wmem_of(wmem, refused))
        return refuse_wmem(r, &wmem[refused], over, err);
    return refuse_full(r, threads[refused], err);
}

int xb_redis_buffer_append_batch(void *self, size_t n, const char *const *threads,
                                 const xb_blob_t *slots, long *index, xb_error_t *err)
{
    return xb_redis_buffer_append_all(self, n, threads, slots, NULL, NULL, index, err);
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
