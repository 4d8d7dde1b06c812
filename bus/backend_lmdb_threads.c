/* Thread records of the `manager` backend (docs/backend-manager.md): the
 * record of a thread in xb.threads, its creation order in xb.age, and the
 * eviction of the oldest thread when max_threads is reached. */
#include "backend_lmdb_internal.h"
#include "log.h"

#include <time.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int xb_lm_thread_len(const lm_env_t *e, const char *thread, size_t *len, xb_error_t *err)
{
    if (!thread || !*thread)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: empty thread name");
    size_t n = strlen(thread);
    if (n + 1 + LM_INDEX_BYTES > e->maxkey)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "backend manager: thread name of %zu bytes is longer than the "
                            "%zu bytes LMDB allows at %s",
                            n, e->maxkey - 1 - LM_INDEX_BYTES, e->path);
    *len = n;
    return 0;
}

static void lm_rec_encode(const lm_thread_rec_t *r, unsigned char *out)
{
    put_u64be(out, r->count);
    put_u64be(out + 8, r->created_ms);
    put_u64be(out + 16, r->seq);
}

int xb_lm_rec_get(lm_env_t *e, MDB_txn *txn, const char *thread, size_t tlen, lm_thread_rec_t *r,
                  xb_error_t *err)
{
    MDB_val k = {.mv_size = tlen, .mv_data = (void *)thread}, v;
    int rc = xb_lm_read(e, txn, DB_THREADS, &k, &v, "reading a thread record", err);
    if (rc <= 0)
        return rc;
    if (v.mv_size != LM_THREAD_REC_BYTES)
        return xb_lm_corrupt(e, "thread record", thread, err);
    const unsigned char *p = v.mv_data;
    r->count = get_u64be(p);
    r->created_ms = get_u64be(p + 8);
    r->seq = get_u64be(p + 16);
    return 1;
}

int xb_lm_rec_put(lm_env_t *e, MDB_txn *txn, const char *thread, size_t tlen,
                  const lm_thread_rec_t *r, xb_error_t *err)
{
    unsigned char buf[LM_THREAD_REC_BYTES];
    lm_rec_encode(r, buf);
    MDB_val k = {.mv_size = tlen, .mv_data = (void *)thread};
    MDB_val v = {.mv_size = sizeof buf, .mv_data = buf};
    int rc = mdb_put(txn, e->dbi[DB_THREADS], &k, &v, 0);
    return rc == 0 ? 0 : xb_lm_fail(e, rc, "writing a thread record", err);
}

/* ---- creation and eviction ----------------------------------------------------- */

int xb_lm_delete_in(lm_env_t *e, MDB_txn *txn, const char *thread, size_t tlen, bool *deleted,
                    xb_error_t *err)
{
    lm_thread_rec_t r;
    int found = xb_lm_rec_get(e, txn, thread, tlen, &r, err);
    *deleted = found == 1;
    if (found <= 0)
        return found;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, e->dbi[DB_SLOTS], &cur);
    if (rc != 0)
        return xb_lm_fail(e, rc, "opening a cursor", err);
    unsigned char prefix[LM_KEY_CAP];
    for (;;) {
        /* Seek afresh after each delete: simple and always correct. */
        MDB_val k = lm_slot_key(prefix, thread, tlen, 0), v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND || (rc == 0 && !lm_is_slot_of(&k, prefix, tlen))) {
            rc = 0;
            break;
        }
        if (rc != 0 || (rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (rc != 0)
        return xb_lm_fail(e, rc, "deleting slots", err);
    unsigned char seq[8];
    put_u64be(seq, r.seq);
    MDB_val ak = {.mv_size = sizeof seq, .mv_data = seq};
    rc = mdb_del(txn, e->dbi[DB_AGE], &ak, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return xb_lm_fail(e, rc, "deleting an age entry", err);
    MDB_val tk = {.mv_size = tlen, .mv_data = (void *)thread};
    rc = mdb_del(txn, e->dbi[DB_THREADS], &tk, NULL);
    return rc == 0 ? 0 : xb_lm_fail(e, rc, "deleting a thread record", err);
}

int xb_lm_age_end(lm_env_t *e, MDB_txn *txn, int db, MDB_cursor_op op, MDB_val *k, MDB_val *v,
                  const char *what, xb_error_t *err)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, e->dbi[db], &cur);
    if (rc != 0)
        return xb_lm_fail(e, rc, "opening a cursor", err);
    rc = mdb_cursor_get(cur, k, v, op);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc == 0 ? 1 : xb_lm_fail(e, rc, what, err);
}

/* Deletes the oldest thread (first entry of xb.age) inside txn. */
static int lm_evict_oldest(lm_t *h, MDB_txn *txn, xb_error_t *err)
{
    lm_env_t *e = h->e;
    MDB_val k, v;
    int found = xb_lm_age_end(e, txn, DB_AGE, MDB_FIRST, &k, &v, "finding the oldest thread", err);
    if (found < 0)
        return -1;
    if (found == 0) /* called only when max_threads is reached: xb.age is not empty */
        return xb_lm_fail(e, MDB_NOTFOUND, "finding the oldest thread", err);
    char name[LM_KEY_CAP];
    size_t len = v.mv_size;
    if (len == 0 || len >= sizeof name)
        return xb_lm_corrupt(e, "age entry", "the oldest thread", err);
    memcpy(name, v.mv_data, len);
    name[len] = '\0';
    bool deleted;
    if (xb_lm_delete_in(e, txn, name, len, &deleted, err) != 0)
        return -1;
    if (!deleted) /* an age entry without its thread: the DBs disagree */
        return xb_lm_corrupt(e, "age entry", name, err);
    long n = atomic_fetch_add(&h->evicted_threads, 1) + 1;
    /* Log the first eviction and every 1000th at WARN, the others at DEBUG. */
    if (n == 1 || n % 1000 == 0)
        XB_WARN("backend",
                "manager: max_threads %ld reached at %s, evicted oldest thread %s "
                "(%ld evictions by this process)",
                h->max_threads, e->path, name, n);
    else
        XB_DEBUG("backend", "manager: evicted oldest thread %s", name);
    return 0;
}

/* Sequence number for a new thread: one past the newest in xb.age. */
static int lm_next_seq(lm_env_t *e, MDB_txn *txn, uint64_t *seq, xb_error_t *err)
{
    MDB_val k, v;
    *seq = 0;
    int found = xb_lm_age_end(e, txn, DB_AGE, MDB_LAST, &k, &v, "finding the newest thread", err);
    if (found <= 0)
        return found;
    if (k.mv_size != 8)
        return xb_lm_corrupt(e, "age key", "the newest thread", err);
    *seq = get_u64be(k.mv_data) + 1;
    return 0;
}

int xb_lm_create_thread(lm_t *h, MDB_txn *txn, const char *thread, size_t tlen, lm_thread_rec_t *r,
                        xb_error_t *err)
{
    lm_env_t *e = h->e;
    if (h->max_threads > 0) {
        for (;;) {
            size_t n = 0;
            if (xb_lm_entries(e, txn, DB_THREADS, &n, err) != 0)
                return -1;
            if (n < (size_t)h->max_threads)
                break;
            if (lm_evict_oldest(h, txn, err) != 0)
                return -1;
        }
    }
    r->count = 0;
    r->created_ms = now_ms();
    if (lm_next_seq(e, txn, &r->seq, err) != 0)
        return -1;
    unsigned char seq[8];
    put_u64be(seq, r->seq);
    MDB_val k = {.mv_size = sizeof seq, .mv_data = seq};
    MDB_val v = {.mv_size = tlen, .mv_data = (void *)thread};
    int rc = mdb_put(txn, e->dbi[DB_AGE], &k, &v, MDB_NOOVERWRITE);
    return rc == 0 ? 0 : xb_lm_fail(e, rc, "writing an age entry", err);
}
