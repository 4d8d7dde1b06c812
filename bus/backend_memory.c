/* The `memory` backend: hash tables inside the pump, guarded by one mutex.
 *
 * Threads live in a string-keyed hash map and, at the same time, in a doubly
 * linked list ordered by creation, so that evicting the oldest thread when
 * max_threads is reached costs O(1). Each thread is a growable array of blobs
 * (amortised O(1) append). The registry is two maps, chain -> uuid and
 * uuid -> chain, kept a bijection: setting a pair removes any stale pair of
 * either side. Slot bytes are copied before the lock is taken so that the
 * critical section stays short. Working memory: backend_memory_wmem.c
 * (the files: backend_memory_internal.h). See docs/storage.md. */
#include "backend_memory_internal.h"
#include "log.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets *err to out of memory; returns -1. */
static int mem_nomem(xb_error_t *err)
{
    return xb_error_set(err, XB_ERR_NOMEM, 0, "backend memory: out of memory");
}

/* ---- threads -------------------------------------------------------------- */

static void thread_free(void *p)
{
    mem_thread_t *t = p;
    if (!t)
        return;
    for (size_t i = 0; i < t->len; i++)
        free(t->slots[i].data);
    free(t->slots);
    free(t->name);
    free(t);
}

static void list_unlink(mem_t *m, mem_thread_t *t)
{
    if (t->older)
        t->older->newer = t->newer;
    else
        m->oldest = t->newer;
    if (t->newer)
        t->newer->older = t->older;
    else
        m->newest = t->older;
    t->older = t->newer = NULL;
}

static void list_push_newest(mem_t *m, mem_thread_t *t)
{
    t->seq = ++m->last_seq;
    t->older = m->newest;
    t->newer = NULL;
    if (m->newest)
        m->newest->newer = t;
    else
        m->oldest = t;
    m->newest = t;
}

/* Unlinks and frees t (lock held). */
static void thread_drop(mem_t *m, mem_thread_t *t)
{
    list_unlink(m, t);
    m->total_slots -= (long)t->len;
    m->total_bytes -= t->bytes;
    xb_strmap_delete(m->threads, t->name); /* frees t */
}

/* Evicts t, the oldest thread (or the oldest but the one being written),
 * because of the limit named by why. */
static void evict(mem_t *m, mem_thread_t *t, const char *why)
{
    m->evicted_threads++;
    /* Evictions are silent for senders; log the first and every 1000th at
     * WARN so that a bus at its limit does not flood the log. */
    if (m->evicted_threads == 1 || m->evicted_threads % 1000 == 0)
        XB_WARN("backend",
                "memory: %s reached, evicted oldest thread %s "
                "(%ld evictions so far)",
                why, t->name, m->evicted_threads);
    else
        XB_DEBUG("backend", "memory: evicted oldest thread %s", t->name);
    thread_drop(m, t);
}

static void evict_oldest(mem_t *m)
{
    if (m->oldest)
        evict(m, m->oldest, "max_threads");
}

bool xb_mem_make_room(mem_t *m, mem_thread_t *t, size_t len)
{
    while (m->total_bytes + len > m->cfg.max_bytes) {
        mem_thread_t *old = t && m->oldest == t ? t->newer : m->oldest;
        if (!old)
            return false;
        evict(m, old, "max_bytes");
    }
    return true;
}

/* Finds or creates the thread (lock held). Creating may evict the oldest. */
static mem_thread_t *thread_get_or_create(mem_t *m, const char *name, bool *created,
                                          xb_error_t *err)
{
    *created = false;
    mem_thread_t *t = xb_strmap_get(m->threads, name);
    if (t)
        return t;
    while (m->cfg.max_threads > 0 && (long)xb_strmap_count(m->threads) >= m->cfg.max_threads &&
           m->oldest)
        evict_oldest(m);
    t = calloc(1, sizeof *t);
    if (t)
        t->name = strdup(name);
    if (!t || !t->name || xb_strmap_put(m->threads, name, t) != 0) {
        thread_free(t);
        xb_error_set(err, XB_ERR_NOMEM, 0, "backend memory: out of memory creating thread %s",
                     name);
        return NULL;
    }
    list_push_newest(m, t);
    *created = true;
    return t;
}

/* Appends an already copied blob (lock held), making room under max_bytes
 * for extra bytes more (the working memory written with the slot). Takes
 * ownership of data on success only. */
static int append_locked(mem_t *m, const char *thread, char *data, size_t len, size_t extra,
                         long *index, xb_error_t *err)
{
    if (m->cfg.max_slot_bytes > 0 && len > m->cfg.max_slot_bytes) {
        m->limit_refusals++;
        return xb_error_set(err, XB_ERR_LIMIT, 0,
                            "backend memory: slot of %zu bytes for thread %s exceeds "
                            "max_slot_bytes %zu",
                            len, thread, m->cfg.max_slot_bytes);
    }
    if (m->cfg.max_bytes > 0 && len > m->cfg.max_bytes) {
        m->limit_refusals++;
        return xb_error_set(err, XB_ERR_LIMIT, 0,
                            "backend memory: slot of %zu bytes for thread %s exceeds "
                            "max_bytes %zu",
                            len, thread, m->cfg.max_bytes);
    }
    mem_thread_t *existing = xb_strmap_get(m->threads, thread);
    if (existing && m->cfg.max_slots_per_thread > 0 &&
        (long)existing->len >= m->cfg.max_slots_per_thread) {
        m->limit_refusals++;
        return xb_error_set(err, XB_ERR_LIMIT, 0,
                            "backend memory: thread %s is full (max_slots_per_thread %ld)", thread,
                            m->cfg.max_slots_per_thread);
    }
    bool created;
    mem_thread_t *t = existing ? existing : thread_get_or_create(m, thread, &created, err);
    if (!t)
        return -1;
    if (m->cfg.max_bytes > 0 && !xb_mem_make_room(m, t, len + extra)) {
        m->limit_refusals++;
        xb_error_set(err, XB_ERR_LIMIT, 0,
                     "backend memory: thread %s holds %zu bytes, working memory %zu: one more "
                     "slot of %zu (and %zu bytes of working memory) exceeds max_bytes %zu",
                     thread, t->bytes, m->wmem_bytes, len, extra, m->cfg.max_bytes);
        if (t->len == 0) /* new, and the rest is working memory, which is never evicted */
            thread_drop(m, t);
        return -1;
    }
    if (t->len == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        xb_blob_t *s = realloc(t->slots, cap * sizeof *s);
        if (!s) {
            if (t->len == 0)
                thread_drop(m, t);
            return xb_error_set(err, XB_ERR_NOMEM, 0,
                                "backend memory: out of memory appending to thread %s", thread);
        }
        t->slots = s;
        t->cap = cap;
    }
    t->slots[t->len].data = data;
    t->slots[t->len].len = len;
    *index = (long)t->len++;
    t->bytes += len;
    m->total_slots++;
    m->total_bytes += len;
    return 0;
}

static char *copy_bytes(const void *p, size_t len)
{
    char *c = malloc(len ? len : 1);
    if (c && len)
        memcpy(c, p, len);
    return c;
}

static int mem_append(void *self, const char *thread, const void *slot, size_t len, long *index,
                      xb_error_t *err)
{
    mem_t *m = self;
    char *copy = copy_bytes(slot, len);
    if (!copy)
        return mem_nomem(err);
    pthread_mutex_lock(&m->lock);
    int rc = append_locked(m, thread, copy, len, 0, index, err);
    pthread_mutex_unlock(&m->lock);
    if (rc != 0)
        free(copy);
    return rc;
}

/* Takes back the slot just appended to t (lock held); its bytes go back to
 * the caller, who owns them again. The thread goes too when that slot was
 * its only one. */
static void append_undo(mem_t *m, mem_thread_t *t)
{
    const xb_blob_t *s = &t->slots[--t->len];
    t->bytes -= s->len;
    m->total_slots--;
    m->total_bytes -= s->len;
    if (t->len == 0)
        thread_drop(m, t);
}

/* Slot i and its working-memory writes w (may be NULL), all or none (lock
 * held): the writes' limits are checked before anything changes. Takes
 * ownership of data on success only, like append_locked. */
static int append_with_wmem(mem_t *m, const char *thread, char *data, size_t len, mem_wmem_put_t *w,
                            long *index, xb_error_t *err)
{
    size_t grow = 0;
    if (w && xb_mem_wmem_check(m, w, &grow, err) != 0)
        return -1; /* not counted in limit_refusals, as for a put */
    if (append_locked(m, thread, data, len, grow, index, err) != 0)
        return -1;
    mem_thread_t *t = xb_strmap_get(m->threads, thread);
    if (w && xb_mem_wmem_write(m, w, t, err) != 0) { /* out of memory only */
        append_undo(m, t);
        *index = -1;
        return -1;
    }
    return 0;
}

static void release_all(size_t n, char **copies, mem_wmem_put_t *puts)
{
    for (size_t i = 0; i < n; i++) {
        free(copies[i]);
        if (puts)
            xb_mem_wmem_release(&puts[i]);
    }
    free(copies);
    free(puts);
}

/* Copies the slots and the writes (no lock needed). */
static int copy_all(size_t n, const xb_blob_t *slots, const xb_wmem_batch_t *wmem, char **copies,
                    mem_wmem_put_t *puts, xb_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!(copies[i] = copy_bytes(slots[i].data, slots[i].len)))
            return mem_nomem(err);
        const xb_wmem_batch_t *w = xb_wmem_of(wmem, i);
        if (w && xb_mem_wmem_prepare(&puts[i], w->conversation, w->n, w->entries, err) != 0)
            return -1;
    }
    return 0;
}

/* One lock for the whole batch; stops at the first refusal (the slots before
 * it stay stored, as documented in docs/storage.md). The memory backend
 * keeps no journal: journal is always NULL. */
static int mem_append_all(void *self, size_t n, const char *const *threads, const xb_blob_t *slots,
                          const xb_journal_entry_t *journal, const xb_wmem_batch_t *wmem,
                          long *index, xb_error_t *err)
{
    (void)journal;
    mem_t *m = self;
    char **copies = calloc(n, sizeof *copies);
    mem_wmem_put_t *puts = wmem ? calloc(n, sizeof *puts) : NULL;
    if (!copies || (wmem && !puts)) {
        free(copies);
        free(puts);
        return mem_nomem(err);
    }
    int rc = copy_all(n, slots, wmem, copies, puts, err);
    if (rc == 0) {
        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < n; i++) {
            mem_wmem_put_t *w = xb_wmem_of(wmem, i) ? &puts[i] : NULL;
            rc = append_with_wmem(m, threads[i], copies[i], slots[i].len, w, &index[i], err);
            if (rc != 0)
                break;
            copies[i] = NULL; /* the thread owns it now */
        }
        pthread_mutex_unlock(&m->lock);
    }
    release_all(n, copies, puts);
    return rc;
}

static int mem_append_batch(void *self, size_t n, const char *const *threads,
                            const xb_blob_t *slots, long *index, xb_error_t *err)
{
    return mem_append_all(self, n, threads, slots, NULL, NULL, index, err);
}

static int mem_get_thread(void *self, const char *thread, xb_blob_list_t *out, xb_error_t *err)
{
    mem_t *m = self;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    mem_thread_t *t = xb_strmap_get(m->threads, thread);
    if (t && t->len > 0) {
        out->items = calloc(t->len, sizeof *out->items);
        if (!out->items)
            rc = mem_nomem(err);
        for (size_t i = 0; rc == 0 && i < t->len; i++) {
            out->items[i].data = copy_bytes(t->slots[i].data, t->slots[i].len);
            if (!out->items[i].data) {
                rc = mem_nomem(err);
                break;
            }
            out->items[i].len = t->slots[i].len;
            out->count++;
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (rc != 0)
        xb_blob_list_free(out);
    return rc;
}

static int mem_get_slot(void *self, const char *thread, long index, xb_blob_t *out, xb_error_t *err)
{
    mem_t *m = self;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    mem_thread_t *t = xb_strmap_get(m->threads, thread);
    if (!t || index < 0 || (size_t)index >= t->len) {
        rc = xb_error_set(err, XB_ERR_NOTFOUND, 0, "backend memory: thread %s has no slot %ld",
                          thread, index);
    } else {
        out->data = copy_bytes(t->slots[index].data, t->slots[index].len);
        out->len = t->slots[index].len;
        if (!out->data)
            rc = mem_nomem(err);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_thread_len(void *self, const char *thread, long *len, xb_error_t *err)
{
    (void)err;
    mem_t *m = self;
    pthread_mutex_lock(&m->lock);
    mem_thread_t *t = xb_strmap_get(m->threads, thread);
    *len = t ? (long)t->len : 0;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int mem_thread_exists(void *self, const char *thread, bool *exists, xb_error_t *err)
{
    (void)err;
    mem_t *m = self;
    pthread_mutex_lock(&m->lock);
    *exists = xb_strmap_get(m->threads, thread) != NULL;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int mem_delete_thread(void *self, const char *thread, bool *deleted, xb_error_t *err)
{
    (void)err;
    mem_t *m = self;
    pthread_mutex_lock(&m->lock);
    mem_thread_t *t = xb_strmap_get(m->threads, thread);
    *deleted = t != NULL;
    if (t)
        thread_drop(m, t);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* Oldest first. */
static int mem_list_threads(void *self, xb_str_list_t *out, xb_error_t *err)
{
    mem_t *m = self;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    size_t n = xb_strmap_count(m->threads);
    if (n > 0) {
        out->items = calloc(n, sizeof *out->items);
        if (!out->items)
            rc = mem_nomem(err);
        for (mem_thread_t *t = m->oldest; rc == 0 && t; t = t->newer) {
            out->items[out->count] = strdup(t->name);
            if (!out->items[out->count])
                rc = mem_nomem(err);
            else
                out->count++;
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (rc != 0)
        xb_str_list_free(out);
    return rc;
}

/* The first thread of the page after cursor "SEQ[:NAME]" (lock held): the
 * thread after NAME when it is still there (O(1)), else the oldest thread
 * created after SEQ, looked for from the newest end. */
static mem_thread_t *scan_start(mem_t *m, uint64_t seq, const char *name)
{
    if (seq == 0)
        return m->oldest;
    mem_thread_t *t = name ? xb_strmap_get(m->threads, name) : NULL;
    if (t && t->seq == seq)
        return t->newer;
    t = m->newest;
    if (!t || t->seq <= seq)
        return NULL;
    while (t->older && t->older->seq > seq)
        t = t->older;
    return t;
}

/* Pages in creation order; the cursor is "SEQ:NAME" of the last thread
 * listed (just "SEQ" when NAME is too long to fit). */
static int mem_scan_threads(void *self, const char *cursor, size_t count, xb_str_list_t *out,
                            char *next, xb_error_t *err)
{
    mem_t *m = self;
    int rc = 0;
    char *end = NULL;
    uint64_t seq = cursor[0] >= '0' && cursor[0] <= '9' ? strtoull(cursor, &end, 10) : 0;
    if (!end || (*end && *end != ':'))
        return xb_error_set(err, XB_ERR_ARG, 0, "backend memory: not a cursor: %.64s", cursor);
    out->items = calloc(count, sizeof *out->items);
    if (!out->items)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "backend memory: out of memory");
    pthread_mutex_lock(&m->lock);
    mem_thread_t *t = scan_start(m, seq, *end == ':' ? end + 1 : NULL), *last = NULL;
    for (; rc == 0 && t && out->count < count; t = t->newer) {
        out->items[out->count] = strdup(t->name);
        if (!out->items[out->count])
            rc = xb_error_set(err, XB_ERR_NOMEM, 0, "backend memory: out of memory");
        else
            out->count++;
        last = t;
    }
    if (rc == 0 && t && last) {
        int n = snprintf(next, XB_BACKEND_CURSOR_MAX, "%llu:%s", (unsigned long long)last->seq,
                         last->name);
        if (n < 0 || n >= XB_BACKEND_CURSOR_MAX)
            snprintf(next, XB_BACKEND_CURSOR_MAX, "%llu", (unsigned long long)last->seq);
    }
    pthread_mutex_unlock(&m->lock);
    if (rc != 0)
        xb_str_list_free(out);
    return rc;
}

static int mem_clear(void *self, xb_error_t *err)
{
    (void)err;
    mem_t *m = self;
    pthread_mutex_lock(&m->lock);
    xb_strmap_clear(m->threads);
    m->oldest = m->newest = NULL;
    m->total_slots = 0;
    m->total_bytes = m->wmem_bytes; /* the buffer is cleared, working memory stays */
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* ---- registry -------------------------------------------------------------- */

/* Removes the pair of `key` in `from` and the reverse entry in `to` if it
 * points back at key (lock held). */
static void unpair(xb_strmap_t *from, xb_strmap_t *to, const char *key)
{
    const char *other = xb_strmap_get(from, key);
    if (!other)
        return;
    const char *back = xb_strmap_get(to, other);
    if (back && strcmp(back, key) == 0)
        xb_strmap_delete(to, other);
    xb_strmap_delete(from, key);
}

/* Sets chain <-> uuid (lock held). u and c are the malloc'd copies of uuid
 * and chain the maps keep; ownership moves to the maps on success only. */
static int set_locked(mem_t *m, const char *chain, const char *uuid, char *u, char *c,
                      xb_error_t *err)
{
    /* Keep the two maps a bijection: drop the old pair of either side. */
    unpair(m->chain_to_uuid, m->uuid_to_chain, chain);
    unpair(m->uuid_to_chain, m->chain_to_uuid, uuid);
    if (xb_strmap_put(m->chain_to_uuid, chain, u) != 0)
        return mem_nomem(err);
    if (xb_strmap_put(m->uuid_to_chain, uuid, c) != 0) {
        xb_strmap_remove(m->chain_to_uuid, chain); /* u goes back to the caller */
        return mem_nomem(err);
    }
    return 0;
}

static int mem_registry_set(void *self, const char *chain, const char *uuid, xb_error_t *err)
{
    mem_t *m = self;
    char *u = strdup(uuid);
    char *c = strdup(chain);
    if (!u || !c) {
        free(u);
        free(c);
        return mem_nomem(err);
    }
    pthread_mutex_lock(&m->lock);
    int rc = set_locked(m, chain, uuid, u, c, err);
    pthread_mutex_unlock(&m->lock);
    if (rc != 0) {
        free(u);
        free(c);
    }
    return rc;
}

static int lookup(mem_t *m, const xb_strmap_t *map, const char *key, char **out, const char *what,
                  xb_error_t *err)
{
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    const char *v = xb_strmap_get(map, key);
    if (!v) {
        rc = xb_error_set(err, XB_ERR_NOTFOUND, 0, "backend memory: no %s registered for %s", what,
                          key);
    } else if (!(*out = strdup(v))) {
        rc = mem_nomem(err);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_registry_get_uuid(void *self, const char *chain, char **uuid, xb_error_t *err)
{
    mem_t *m = self;
    return lookup(m, m->chain_to_uuid, chain, uuid, "uuid", err);
}

static int mem_registry_get_chain(void *self, const char *uuid, char **chain, xb_error_t *err)
{
    mem_t *m = self;
    return lookup(m, m->uuid_to_chain, uuid, chain, "chain", err);
}

static int mem_registry_delete(void *self, const char *uuid, bool *deleted, xb_error_t *err)
{
    (void)err;
    mem_t *m = self;
    pthread_mutex_lock(&m->lock);
    *deleted = xb_strmap_get(m->uuid_to_chain, uuid) != NULL;
    unpair(m->uuid_to_chain, m->chain_to_uuid, uuid);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* All n changes under one lock hold. The copies a SET keeps are made before
 * the lock is taken; running out of memory midway leaves the earlier
 * changes applied (the caller applies the batch again). */
static int mem_registry_apply(void *self, size_t n, const xb_registry_op_t *ops, xb_error_t *err)
{
    mem_t *m = self;
    char **copies = calloc(2 * n, sizeof *copies); /* [2i] uuid, [2i+1] chain of a SET */
    if (!copies)
        return mem_nomem(err);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (ops[i].kind != XB_REGISTRY_OP_SET)
            continue;
        copies[2 * i] = strdup(ops[i].uuid);
        copies[2 * i + 1] = strdup(ops[i].chain);
        if (!copies[2 * i] || !copies[2 * i + 1])
            rc = mem_nomem(err);
    }
    size_t done = 0;
    if (rc == 0) {
        pthread_mutex_lock(&m->lock);
        for (; done < n && rc == 0; done++) {
            const xb_registry_op_t *op = &ops[done];
            if (op->kind == XB_REGISTRY_OP_DELETE) {
                unpair(m->uuid_to_chain, m->chain_to_uuid, op->uuid);
                continue;
            }
            rc = set_locked(m, op->chain, op->uuid, copies[2 * done], copies[2 * done + 1], err);
            if (rc == 0)
                copies[2 * done] = copies[2 * done + 1] = NULL; /* the maps own them */
        }
        pthread_mutex_unlock(&m->lock);
    }
    for (size_t i = 0; i < 2 * n; i++)
        free(copies[i]);
    free(copies);
    return rc;
}

typedef struct {
    xb_pair_list_t *out;
    int rc;
    xb_error_t *err;
} pair_walk_t;

/* Copies one chain -> uuid pair into the list; stops copying after a failure. */
static void copy_pair(const char *chain, void *uuid, void *user)
{
    pair_walk_t *w = user;
    if (w->rc != 0)
        return;
    xb_registry_pair_t *p = &w->out->items[w->out->count];
    p->chain = strdup(chain);
    p->uuid = strdup(uuid);
    w->out->count++; /* counted first so that a failure frees both */
    if (!p->chain || !p->uuid)
        w->rc = mem_nomem(w->err);
}

static int mem_registry_list_all(void *self, xb_pair_list_t *out, xb_error_t *err)
{
    mem_t *m = self;
    pair_walk_t w = {.out = out, .rc = 0, .err = err};
    pthread_mutex_lock(&m->lock);
    size_t n = xb_strmap_count(m->chain_to_uuid);
    if (n > 0) {
        out->items = calloc(n, sizeof *out->items);
        if (!out->items)
            w.rc = mem_nomem(err);
    }
    if (w.rc == 0)
        xb_strmap_foreach(m->chain_to_uuid, copy_pair, &w);
    int rc = w.rc;
    pthread_mutex_unlock(&m->lock);
    if (rc != 0)
        xb_pair_list_free(out);
    return rc;
}

static int mem_registry_clear(void *self, xb_error_t *err)
{
    (void)err;
    mem_t *m = self;
    pthread_mutex_lock(&m->lock);
    xb_strmap_clear(m->chain_to_uuid);
    xb_strmap_clear(m->uuid_to_chain);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* ---- the rest -------------------------------------------------------------- */

static int mem_ping(void *self, xb_error_t *err)
{
    (void)self;
    (void)err;
    return 0;
}

static int mem_info(void *self, xb_backend_info_t *out, xb_error_t *err)
{
    (void)err;
    mem_t *m = self;
    pthread_mutex_lock(&m->lock);
    out->threads = (long)xb_strmap_count(m->threads);
    out->slots = m->total_slots;
    out->registry_entries = (long)xb_strmap_count(m->chain_to_uuid);
    out->ttl = -1;
    out->evicted_threads = m->evicted_threads;
    out->limit_refusals = m->limit_refusals;
    pthread_mutex_unlock(&m->lock);
    snprintf(out->type, sizeof out->type, "memory");
    out->server_version[0] = '\0';
    out->location[0] = '\0';
    return 0;
}

/* Frees the maps of m and m itself (the mutex is the caller's). */
static void mem_free(mem_t *m)
{
    xb_strmap_destroy(&m->threads);
    xb_strmap_destroy(&m->chain_to_uuid);
    xb_strmap_destroy(&m->uuid_to_chain);
    xb_strmap_destroy(&m->wmem);
    free(m);
}

static void mem_close(void *self)
{
    mem_t *m = self;
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    mem_free(m);
}

static const xb_backend_ops_t memory_ops = {
    .name = "memory",
    .buffer_append = mem_append,
    .buffer_append_batch = mem_append_batch,
    .buffer_append_all = mem_append_all,
    .buffer_get_thread = mem_get_thread,
    .buffer_get_slot = mem_get_slot,
    .buffer_thread_len = mem_thread_len,
    .buffer_thread_exists = mem_thread_exists,
    .buffer_delete_thread = mem_delete_thread,
    .buffer_list_threads = mem_list_threads,
    .buffer_scan_threads = mem_scan_threads,
    .buffer_clear = mem_clear,
    .registry_set = mem_registry_set,
    .registry_get_uuid = mem_registry_get_uuid,
    .registry_get_chain = mem_registry_get_chain,
    .registry_delete = mem_registry_delete,
    .registry_apply = mem_registry_apply,
    .registry_list_all = mem_registry_list_all,
    .registry_clear = mem_registry_clear,
    .ping = mem_ping,
    .info = mem_info,
    .wmem_put = xb_mem_wmem_put,
    .wmem_get = xb_mem_wmem_get,
    .wmem_list = xb_mem_wmem_list,
    .wmem_drop = xb_mem_wmem_drop,
    .close = mem_close,
};

void *xb_backend_memory_open(const xb_backend_config_t *cfg, const xb_backend_ops_t **ops,
                             xb_error_t *err)
{
    mem_t *m = calloc(1, sizeof *m);
    if (!m) {
        mem_nomem(err);
        return NULL;
    }
    m->cfg = *cfg;
    m->threads = xb_strmap_new_owning(thread_free);
    m->chain_to_uuid = xb_strmap_new_owning(free);
    m->uuid_to_chain = xb_strmap_new_owning(free);
    m->wmem = xb_strmap_new_owning(xb_mem_conv_free);
    if (!m->threads || !m->chain_to_uuid || !m->uuid_to_chain || !m->wmem) {
        mem_free(m);
        mem_nomem(err);
        return NULL;
    }
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        mem_free(m);
        xb_error_set(err, XB_ERR_BACKEND, 0, "backend memory: cannot create its mutex");
        return NULL;
    }
    *ops = &memory_ops;
    return m;
}
