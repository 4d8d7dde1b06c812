/* The `manager` backend's buffer ops (docs/backend-manager.md): slots in
 * xb.slots under thread '\0' u64be(index), counted by the thread record. */
#include "backend_lmdb_internal.h"
#include "log.h"

#include <limits.h>
#include <stdio.h>

/* Results of lm_append_in besides 0. */
#define LM_TXN_BAD (-1) /* storage failure: the transaction must be aborted */
#define LM_REFUSED (-2) /* refused before anything was written: txn still good */

/* Counts and logs a limit refusal described by *why, copies it to *err. The
 * first refusal and every 1000th are logged at WARN so that a bus at its
 * limit does not flood the log. */
static int lm_refused(lm_t *h, const xb_error_t *why, xb_error_t *err)
{
    long n = atomic_fetch_add(&h->limit_refusals, 1) + 1;
    if (n == 1 || n % 1000 == 0)
        XB_WARN("backend", "%s (%ld refusals by this process)", why->message, n);
    else
        XB_DEBUG("backend", "%s", why->message);
    if (err)
        *err = *why;
    return LM_REFUSED;
}

/* Appends one slot inside txn: 0, LM_TXN_BAD or LM_REFUSED. */
static int lm_append_in(lm_t *h, MDB_txn *txn, const char *thread, const void *slot, size_t len,
                        long *index, xb_error_t *err)
{
    lm_env_t *e = h->e;
    xb_error_t why;
    size_t tlen = 0;
    if (xb_lm_thread_len(e, thread, &tlen, err) != 0)
        return LM_REFUSED;
    if (!slot && len > 0) {
        xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL slot for thread %s", thread);
        return LM_REFUSED;
    }
    if (h->max_slot_bytes > 0 && len > h->max_slot_bytes) {
        xb_error_set(&why, XB_ERR_LIMIT, 0,
                     "backend manager: slot of %zu bytes for thread %s "
                     "exceeds max_slot_bytes %zu",
                     len, thread, h->max_slot_bytes);
        return lm_refused(h, &why, err);
    }
    lm_thread_rec_t r;
    int found = xb_lm_rec_get(e, txn, thread, tlen, &r, err);
    if (found < 0)
        return LM_TXN_BAD;
    if (found && h->max_slots_per_thread > 0 && r.count >= (uint64_t)h->max_slots_per_thread) {
        xb_error_set(&why, XB_ERR_LIMIT, 0,
                     "backend manager: thread %s is full "
                     "(max_slots_per_thread %ld)",
                     thread, h->max_slots_per_thread);
        return lm_refused(h, &why, err);
    }
    if (found && r.count >= (uint64_t)LONG_MAX) {
        xb_error_set(&why, XB_ERR_LIMIT, 0, "backend manager: thread %s is full", thread);
        return lm_refused(h, &why, err);
    }
    if (!found && xb_lm_create_thread(h, txn, thread, tlen, &r, err) != 0)
        return LM_TXN_BAD;
    unsigned char kb[LM_KEY_CAP];
    MDB_val k = lm_slot_key(kb, thread, tlen, r.count);
    MDB_val v = {.mv_size = len, .mv_data = (void *)slot};
    int rc = mdb_put(txn, e->dbi[DB_SLOTS], &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return xb_lm_corrupt(e, "slot count", thread, err);
    if (rc != 0)
        return xb_lm_fail(e, rc, "writing a slot", err);
    *index = (long)r.count;
    r.count++;
    return xb_lm_rec_put(e, txn, thread, tlen, &r, err);
}

int xb_lm_append(void *self, const char *thread, const void *slot, size_t len, long *index,
                 xb_error_t *err)
{
    lm_t *h = self;
    MDB_txn *txn;
    if (xb_lm_start(h, NULL, NULL, NULL, true, &txn, err) != 0)
        return -1;
    long ignored;
    if (lm_append_in(h, txn, thread, slot, len, index ? index : &ignored, err) != 0) {
        /* Even a refusal leaves nothing worth committing. */
        xb_lm_abort(h->e, txn);
        return -1;
    }
    return xb_lm_commit(h->e, txn, err);
}

/* All n slots in one write transaction. A limit refusal stops the batch and
 * commits the slots before it (like the memory backend); a storage failure
 * stores none. index[i] is -1 for every slot not stored. */
int xb_lm_append_batch(void *self, size_t n, const char *const *threads, const xb_blob_t *slots,
                       long *index, xb_error_t *err)
{
    return xb_lm_append_all(self, n, threads, slots, NULL, NULL, index, err);
}

/* Slot i of a batch with its journal entry and working-memory writes inside
 * txn: 0, LM_TXN_BAD or LM_REFUSED. The writes' limit is checked before
 * anything of the slot is written. */
static int lm_append_one(lm_t *h, MDB_txn *txn, const char *thread, const xb_blob_t *slot,
                         const xb_journal_entry_t *j, const xb_wmem_batch_t *w, long *index,
                         xb_error_t *err)
{
    size_t clen = 0;
    if (w) { /* a refusal is not counted in limit_refusals, as for a put */
        int rc = xb_lm_wmem_check_in(h, txn, w->conversation, w->n, w->entries, &clen, err);
        if (rc != 0)
            return rc < 0 ? LM_TXN_BAD : LM_REFUSED;
    }
    int rc = lm_append_in(h, txn, thread, slot->data, slot->len, index, err);
    if (rc != 0)
        return rc;
    if (j && j->id && xb_lm_journal_put_in(h->e, txn, j, err) != 0)
        return LM_TXN_BAD;
    if (w && xb_lm_wmem_write_in(h, txn, w->conversation, clen, w->n, w->entries, err) != 0)
        return LM_TXN_BAD;
    return 0;
}

/* The batch, and with every stored slot its journal entry and its
 * working-memory writes (journal and wmem may be NULL), in the same write
 * transaction. */
int xb_lm_append_all(void *self, size_t n, const char *const *threads, const xb_blob_t *slots,
                     const xb_journal_entry_t *journal, const xb_wmem_batch_t *wmem, long *index,
                     xb_error_t *err)
{
    lm_t *h = self;
    if (n == 0)
        return 0;
    if (!threads || !slots || !index)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL batch");
    if (xb_lm_check_pid(h, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        index[i] = -1;
    MDB_txn *txn;
    if (xb_lm_begin(h->e, true, &txn, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = lm_append_one(h, txn, threads[i], &slots[i], journal ? &journal[i] : NULL,
                           xb_wmem_of(wmem, i), &index[i], err);
    xb_error_t cerr;
    if (rc == LM_TXN_BAD || xb_lm_commit(h->e, txn, &cerr) != 0) {
        if (rc == LM_TXN_BAD)
            xb_lm_abort(h->e, txn);
        else if (err)
            *err = cerr; /* keep a refusal's message only if the commit worked */
        for (size_t i = 0; i < n; i++)
            index[i] = -1;
        return -1;
    }
    return rc == 0 ? 0 : -1; /* on a refusal err names the refused slot */
}

/* Reads every slot of a thread in index order with one cursor walk. */
int xb_lm_get_thread(void *self, const char *thread, xb_blob_list_t *out, xb_error_t *err)
{
    lm_t *h = self;
    lm_env_t *e = h->e;
    size_t tlen = 0;
    MDB_txn *txn;
    if (xb_lm_start(h, xb_lm_thread_len, thread, &tlen, false, &txn, err) != 0)
        return -1;
    lm_thread_rec_t r;
    int found = xb_lm_rec_get(e, txn, thread, tlen, &r, err);
    if (found <= 0) {
        xb_lm_abort(e, txn);
        return found;
    }
    int rc = 0;
    if (r.count > 0 && !(out->items = calloc((size_t)r.count, sizeof *out->items)))
        rc = xb_lm_nomem(err);
    MDB_cursor *cur = NULL;
    int mrc = rc == 0 ? mdb_cursor_open(txn, e->dbi[DB_SLOTS], &cur) : 0;
    if (mrc != 0)
        rc = xb_lm_fail(e, mrc, "opening a cursor", err);
    unsigned char prefix[LM_KEY_CAP];
    MDB_val k = lm_slot_key(prefix, thread, tlen, 0), v;
    MDB_cursor_op op = MDB_SET_RANGE;
    while (rc == 0 && out->count < r.count) {
        mrc = mdb_cursor_get(cur, &k, &v, op);
        op = MDB_NEXT;
        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = xb_lm_fail(e, mrc, "reading slots", err);
        } else if (mrc == MDB_NOTFOUND || !lm_is_slot_of(&k, prefix, tlen) ||
                   get_u64be((const unsigned char *)k.mv_data + tlen + 1) != out->count) {
            rc = xb_lm_corrupt(e, "slot sequence", thread, err);
        } else if (!(out->items[out->count].data = dup_bytes(v.mv_data, v.mv_size))) {
            rc = xb_lm_nomem(err);
        } else {
            out->items[out->count++].len = v.mv_size;
        }
    }
    if (cur)
        mdb_cursor_close(cur);
    xb_lm_abort(e, txn);
    if (rc != 0) {
        xb_blob_list_free(out);
        return -1;
    }
    return 0;
}

int xb_lm_get_slot(void *self, const char *thread, long index, xb_blob_t *out, xb_error_t *err)
{
    lm_t *h = self;
    lm_env_t *e = h->e;
    size_t tlen = 0;
    if (xb_lm_check_pid(h, err) != 0 || xb_lm_thread_len(e, thread, &tlen, err) != 0)
        return -1;
    if (index < 0)
        return xb_error_set(err, XB_ERR_NOTFOUND, 0, "backend manager: thread %s has no slot %ld",
                            thread, index);
    MDB_txn *txn;
    if (xb_lm_begin(e, false, &txn, err) != 0)
        return -1;
    unsigned char kb[LM_KEY_CAP];
    MDB_val k = lm_slot_key(kb, thread, tlen, (uint64_t)index), v;
    int rc = mdb_get(txn, e->dbi[DB_SLOTS], &k, &v);
    if (rc == MDB_NOTFOUND)
        rc = xb_error_set(err, XB_ERR_NOTFOUND, 0, "backend manager: thread %s has no slot %ld",
                          thread, index);
    else if (rc != 0)
        rc = xb_lm_fail(e, rc, "reading a slot", err);
    else if (!(out->data = dup_bytes(v.mv_data, v.mv_size)))
        rc = xb_lm_nomem(err);
    else
        out->len = v.mv_size;
    xb_lm_abort(e, txn);
    return rc == 0 ? 0 : -1;
}

/* Reads a thread record in its own read transaction. */
static int lm_read_rec(lm_t *h, const char *thread, lm_thread_rec_t *r, bool *found,
                       xb_error_t *err)
{
    lm_env_t *e = h->e;
    size_t tlen = 0;
    MDB_txn *txn;
    if (xb_lm_start(h, xb_lm_thread_len, thread, &tlen, false, &txn, err) != 0)
        return -1;
    int rc = xb_lm_rec_get(e, txn, thread, tlen, r, err);
    xb_lm_abort(e, txn);
    if (rc < 0)
        return -1;
    *found = rc == 1;
    return 0;
}

int xb_lm_thread_len_op(void *self, const char *thread, long *len, xb_error_t *err)
{
    lm_thread_rec_t r;
    bool found;
    if (lm_read_rec(self, thread, &r, &found, err) != 0)
        return -1;
    *len = found ? (long)r.count : 0;
    return 0;
}

int xb_lm_thread_exists(void *self, const char *thread, bool *exists, xb_error_t *err)
{
    lm_thread_rec_t r;
    return lm_read_rec(self, thread, &r, exists, err);
}

int xb_lm_delete_thread(void *self, const char *thread, bool *deleted, xb_error_t *err)
{
    lm_t *h = self;
    size_t tlen = 0;
    MDB_txn *txn;
    if (xb_lm_start(h, xb_lm_thread_len, thread, &tlen, true, &txn, err) != 0)
        return -1;
    if (xb_lm_delete_in(h->e, txn, thread, tlen, deleted, err) != 0) {
        xb_lm_abort(h->e, txn);
        *deleted = false;
        return -1;
    }
    if (!*deleted) { /* nothing changed */
        xb_lm_abort(h->e, txn);
        return 0;
    }
    if (xb_lm_commit(h->e, txn, err) != 0) {
        *deleted = false;
        return -1;
    }
    return 0;
}

typedef struct {
    xb_str_list_t *out;
    size_t cap;
} lm_str_ctx_t;

static int lm_collect_key(void *ctx, const MDB_val *k, const MDB_val *v)
{
    (void)v;
    lm_str_ctx_t *c = ctx;
    if (c->out->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        char **items = realloc(c->out->items, cap * sizeof *items);
        if (!items)
            return -1;
        c->out->items = items;
        c->cap = cap;
    }
    char *s = dup_bytes(k->mv_data, k->mv_size);
    if (!s)
        return -1;
    c->out->items[c->out->count++] = s;
    return 0;
}

int xb_lm_list_threads(void *self, xb_str_list_t *out, xb_error_t *err)
{
    lm_str_ctx_t c = {.out = out};
    if (xb_lm_walk(self, DB_THREADS, lm_collect_key, &c, err) != 0) {
        xb_str_list_free(out);
        return -1;
    }
    return 0;
}

/* Pages in key order; the cursor is ":" and the last name listed, and the
 * next page starts after it with one MDB_SET_RANGE. */
int xb_lm_scan_threads(void *self, const char *cursor, size_t count, xb_str_list_t *out, char *next,
                       xb_error_t *err)
{
    lm_t *h = self;
    lm_env_t *e = h->e;
    bool first = strcmp(cursor, "0") == 0;
    if (!first && (cursor[0] != ':' || !cursor[1]))
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: not a cursor: %.64s", cursor);
    if (!(out->items = calloc(count, sizeof *out->items)))
        return xb_lm_nomem(err);
    MDB_txn *txn;
    if (xb_lm_start(h, NULL, NULL, NULL, false, &txn, err) != 0) {
        xb_str_list_free(out);
        return -1;
    }
    MDB_cursor *cur = NULL;
    int rc = 0, mrc = mdb_cursor_open(txn, e->dbi[DB_THREADS], &cur);
    if (mrc != 0)
        rc = xb_lm_fail(e, mrc, "opening a cursor", err);
    MDB_val k = {first ? 0 : strlen(cursor + 1), (void *)(cursor + 1)}, v;
    MDB_cursor_op op = first ? MDB_FIRST : MDB_SET_RANGE;
    bool more = false;
    while (rc == 0) {
        mrc = mdb_cursor_get(cur, &k, &v, op);
        op = MDB_NEXT;
        if (mrc == MDB_NOTFOUND)
            break;
        if (mrc != 0) {
            rc = xb_lm_fail(e, mrc, "walking the threads", err);
        } else if (!first && out->count == 0 && k.mv_size == strlen(cursor + 1) &&
                   memcmp(k.mv_data, cursor + 1, k.mv_size) == 0) {
            continue; /* the last name of the page before */
        } else if (out->count == count) {
            more = true;
            break;
        } else if (!(out->items[out->count] = dup_bytes(k.mv_data, k.mv_size))) {
            rc = xb_lm_nomem(err);
        } else {
            out->count++;
        }
    }
    if (cur)
        mdb_cursor_close(cur);
    xb_lm_abort(e, txn);
    if (rc != 0) {
        xb_str_list_free(out);
        return -1;
    }
    if (more) {
        const char *last = out->items[out->count - 1];
        int n = snprintf(next, XB_BACKEND_CURSOR_MAX, ":%s", last);
        if (n < 0 || n >= XB_BACKEND_CURSOR_MAX) /* resume at a prefix: some names come again */
            snprintf(next, XB_BACKEND_CURSOR_MAX, ":%.*s", XB_BACKEND_CURSOR_MAX - 2, last);
    }
    return 0;
}

int xb_lm_clear(void *self, xb_error_t *err)
{
    static const int dbs[] = {DB_SLOTS, DB_THREADS, DB_AGE, DB_JOURNAL};
    return xb_lm_drop(self, dbs, sizeof dbs / sizeof dbs[0], err);
}
