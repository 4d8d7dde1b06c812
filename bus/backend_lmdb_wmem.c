/* The `manager` backend's working memory (docs/backend-manager.md): xb.wmem
 * maps conversation '\0' name -> the entry's bytes. The '\0' ends the
 * conversation, so one conversation's entries are one range of keys, in
 * name order (LMDB compares keys bytewise, as strcmp does names): list and
 * drop walk that range with a cursor. A put checks the entry limit before it
 * writes anything, then writes: in its own write transaction, or in the one
 * of the slot it goes with (xb_lm_append_all).
 *
 * Retention, as the buffer's (max_threads): the key conversation '\0' (no
 * name: no entry has it) holds u64be(seq), its key in xb.wmem.age (seq ->
 * conversation, in the order of first writes). A put that gives one more
 * conversation memory when max_threads conversations hold some first drops
 * the oldest's, so that memory a conversation never dropped (a pump killed
 * in its middle) does not stay for ever. */
#include "backend_lmdb_internal.h"

#include <stdio.h>

#include "log.h"

/* Checks that every key of the conversation fits LMDB: the conversation,
 * '\0' and the longest name. */
static int lm_wmem_conv_len(const lm_env_t *e, const char *conversation, size_t *len,
                            xb_error_t *err)
{
    *len = strlen(conversation);
    if (*len + 1 + XB_WMEM_NAME_MAX > e->maxkey)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "backend manager: conversation of %zu bytes is too long for working "
                            "memory (at most %zu bytes: LMDB keys are at most %zu)",
                            *len, e->maxkey - 1 - XB_WMEM_NAME_MAX, e->maxkey);
    return 0;
}

/* buf (LM_KEY_CAP bytes) <- conversation '\0' name. */
static MDB_val lm_wmem_key(unsigned char *buf, const char *conversation, size_t clen,
                           const char *name)
{
    size_t nlen = strlen(name);
    memcpy(buf, conversation, clen);
    buf[clen] = '\0';
    memcpy(buf + clen + 1, name, nlen);
    return (MDB_val){.mv_size = clen + 1 + nlen, .mv_data = buf};
}

/* Called for each entry of the range; non-zero stops the walk with that
 * value (-1 with *err set). */
typedef int (*lm_wmem_fn)(void *ctx, MDB_cursor *cur, const MDB_val *k, const MDB_val *v,
                          size_t prefix, xb_error_t *err);

/* Walks the entries of the conversation in txn, in name order. */
static int lm_wmem_range(lm_env_t *e, MDB_txn *txn, const char *conversation, size_t clen,
                         lm_wmem_fn fn, void *ctx, xb_error_t *err)
{
    unsigned char buf[LM_KEY_CAP];
    MDB_val start = lm_wmem_key(buf, conversation, clen, ""), k = start, v;
    MDB_cursor *cur;
    int mrc = mdb_cursor_open(txn, e->dbi[DB_WMEM], &cur);
    if (mrc != 0)
        return xb_lm_fail(e, mrc, "opening a cursor", err);
    int rc = 0;
    for (MDB_cursor_op op = MDB_SET_RANGE; rc == 0; op = MDB_NEXT) {
        mrc = mdb_cursor_get(cur, &k, &v, op);
        if (mrc == MDB_NOTFOUND)
            break;
        if (mrc != 0) {
            rc = xb_lm_fail(e, mrc, "walking working memory", err);
            break;
        }
        if (k.mv_size < start.mv_size || memcmp(k.mv_data, buf, start.mv_size) != 0)
            break;
        if (k.mv_size > start.mv_size) /* not the age record */
            rc = fn(ctx, cur, &k, &v, start.mv_size, err);
    }
    mdb_cursor_close(cur);
    return rc < 0 ? -1 : 0;
}

static int lm_count_entry(void *ctx, MDB_cursor *cur, const MDB_val *k, const MDB_val *v,
                          size_t prefix, xb_error_t *err)
{
    (void)cur, (void)k, (void)v, (void)prefix, (void)err;
    (*(long *)ctx)++;
    return 0;
}

int xb_lm_wmem_check_in(lm_t *h, MDB_txn *txn, const char *conversation, size_t n,
                        const xb_wmem_entry_t *entries, size_t *clen, xb_error_t *err)
{
    lm_env_t *e = h->e;
    if (lm_wmem_conv_len(e, conversation, clen, err) != 0)
        return 1;
    if (h->max_wmem_entries <= 0)
        return 0;
    long count = 0;
    if (lm_wmem_range(e, txn, conversation, *clen, lm_count_entry, &count, err) != 0)
        return -1;
    unsigned char buf[LM_KEY_CAP];
    for (size_t i = 0; i < n; i++) {
        if (xb_wmem_superseded(n, entries, i))
            continue;
        MDB_val k = lm_wmem_key(buf, conversation, *clen, entries[i].name), old;
        int found = xb_lm_read(e, txn, DB_WMEM, &k, &old, "reading working memory", err);
        if (found < 0)
            return -1;
        if (!found && ++count > h->max_wmem_entries) {
            xb_wmem_refuse(err, "manager", conversation, entries[i].name, h->max_wmem_entries);
            return 1;
        }
    }
    return 0;
}

/* ---- retention ------------------------------------------------------------------ */

static int lm_delete_entry(void *ctx, MDB_cursor *cur, const MDB_val *k, const MDB_val *v,
                           size_t prefix, xb_error_t *err)
{
    (void)k, (void)v, (void)prefix;
    int rc = mdb_cursor_del(cur, 0); /* the next MDB_NEXT reads the entry after it */
    return rc == 0 ? 0 : xb_lm_fail(ctx, rc, "dropping working memory", err);
}

/* Removes the conversation's entries, its age record and its xb.wmem.age key. */
static int lm_wmem_drop_in(lm_env_t *e, MDB_txn *txn, const char *conversation, size_t clen,
                           xb_error_t *err)
{
    if (lm_wmem_range(e, txn, conversation, clen, lm_delete_entry, e, err) != 0)
        return -1;
    unsigned char buf[LM_KEY_CAP];
    MDB_val k = lm_wmem_key(buf, conversation, clen, ""), v;
    int found = xb_lm_read(e, txn, DB_WMEM, &k, &v, "reading working memory", err);
    if (found <= 0)
        return found;
    if (v.mv_size != 8)
        return xb_lm_corrupt(e, "working-memory age record", conversation, err);
    MDB_val ak = {.mv_size = 8, .mv_data = v.mv_data};
    int rc = mdb_del(txn, e->dbi[DB_WMEM_AGE], &ak, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return xb_lm_fail(e, rc, "deleting a working-memory age entry", err);
    rc = mdb_del(txn, e->dbi[DB_WMEM], &k, NULL);
    return rc == 0 ? 0 : xb_lm_fail(e, rc, "deleting a working-memory age record", err);
}

/* Drops the memory of the conversation written first (xb.wmem.age). */
static int lm_wmem_evict_oldest(lm_t *h, MDB_txn *txn, xb_error_t *err)
{
    lm_env_t *e = h->e;
    MDB_val k, v;
    int found = xb_lm_age_end(e, txn, DB_WMEM_AGE, MDB_FIRST, &k, &v,
                              "finding the oldest working memory", err);
    if (found <= 0) /* called only when the DB is full: empty means it disagrees */
        return found < 0 ? -1 : xb_lm_corrupt(e, "working-memory age", "the oldest", err);
    char name[LM_KEY_CAP];
    if (v.mv_size == 0 || v.mv_size >= sizeof name)
        return xb_lm_corrupt(e, "working-memory age entry", "the oldest", err);
    memcpy(name, v.mv_data, v.mv_size);
    name[v.mv_size] = '\0';
    size_t before = 0, after = 0;
    if (xb_lm_entries(e, txn, DB_WMEM_AGE, &before, err) != 0 ||
        lm_wmem_drop_in(e, txn, name, v.mv_size, err) != 0 ||
        xb_lm_entries(e, txn, DB_WMEM_AGE, &after, err) != 0)
        return -1;
    if (after >= before) /* an age entry without its record: the DBs disagree */
        return xb_lm_corrupt(e, "working-memory age entry", name, err);
    XB_DEBUG("backend", "manager: max_threads %ld reached, dropped the working memory of %s",
             h->max_threads, name);
    return 0;
}

/* A conversation without an age record gets one (its first put), after
 * the oldest conversations' memory made room under max_threads. */
static int lm_wmem_admit(lm_t *h, MDB_txn *txn, const char *conversation, size_t clen,
                         xb_error_t *err)
{
    lm_env_t *e = h->e;
    unsigned char buf[LM_KEY_CAP];
    MDB_val k = lm_wmem_key(buf, conversation, clen, ""), v;
    int found = xb_lm_read(e, txn, DB_WMEM, &k, &v, "reading working memory", err);
    if (found != 0)
        return found < 0 ? -1 : 0;
    for (size_t n = 0; h->max_threads > 0; n = 0) {
        if (xb_lm_entries(e, txn, DB_WMEM_AGE, &n, err) != 0)
            return -1;
        if (n < (size_t)h->max_threads)
            break;
        if (lm_wmem_evict_oldest(h, txn, err) != 0)
            return -1;
    }
    MDB_val last;
    uint64_t seq = 0;
    found = xb_lm_age_end(e, txn, DB_WMEM_AGE, MDB_LAST, &last, &v,
                          "finding the newest working "
                          "memory",
                          err);
    if (found < 0)
        return -1;
    if (found)
        seq = (last.mv_size == 8 ? get_u64be(last.mv_data) : 0) + 1;
    unsigned char sq[8];
    put_u64be(sq, seq);
    MDB_val ak = {.mv_size = 8, .mv_data = sq};
    MDB_val av = {.mv_size = clen, .mv_data = (void *)conversation};
    int rc = mdb_put(txn, e->dbi[DB_WMEM_AGE], &ak, &av, MDB_NOOVERWRITE);
    if (rc == 0)
        rc = mdb_put(txn, e->dbi[DB_WMEM], &k, &ak, 0);
    return rc == 0 ? 0 : xb_lm_fail(e, rc, "writing a working-memory age entry", err);
}

int xb_lm_wmem_write_in(lm_t *h, MDB_txn *txn, const char *conversation, size_t clen, size_t n,
                        const xb_wmem_entry_t *entries, xb_error_t *err)
{
    lm_env_t *e = h->e;
    if (lm_wmem_admit(h, txn, conversation, clen, err) != 0)
        return -1;
    unsigned char buf[LM_KEY_CAP];
    for (size_t i = 0; i < n; i++) {
        MDB_val k = lm_wmem_key(buf, conversation, clen, entries[i].name);
        MDB_val v = {.mv_size = entries[i].len, .mv_data = (void *)entries[i].data};
        int rc = mdb_put(txn, e->dbi[DB_WMEM], &k, &v, 0);
        if (rc != 0)
            return xb_lm_fail(e, rc, "writing working memory", err);
    }
    return 0;
}

int xb_lm_wmem_put(void *self, const char *conversation, size_t n, const xb_wmem_entry_t *entries,
                   xb_error_t *err)
{
    lm_t *h = self;
    MDB_txn *txn;
    size_t clen;
    if (xb_lm_start(h, lm_wmem_conv_len, conversation, &clen, true, &txn, err) != 0)
        return -1;
    if (xb_lm_wmem_check_in(h, txn, conversation, n, entries, &clen, err) != 0 ||
        xb_lm_wmem_write_in(h, txn, conversation, clen, n, entries, err) != 0) {
        xb_lm_abort(h->e, txn);
        return -1;
    }
    return xb_lm_commit(h->e, txn, err);
}

int xb_lm_wmem_get(void *self, const char *conversation, const char *name, xb_blob_t *out,
                   xb_error_t *err)
{
    lm_t *h = self;
    MDB_txn *txn;
    size_t clen;
    if (xb_lm_start(h, lm_wmem_conv_len, conversation, &clen, false, &txn, err) != 0)
        return -1;
    unsigned char buf[LM_KEY_CAP];
    MDB_val k = lm_wmem_key(buf, conversation, clen, name), v;
    int found = xb_lm_read(h->e, txn, DB_WMEM, &k, &v, "reading working memory", err);
    int rc = found < 0 ? -1 : found ? 0 : 1;
    if (found > 0) {
        out->data = dup_bytes(v.mv_data, v.mv_size);
        out->len = v.mv_size;
        if (!out->data)
            rc = xb_lm_nomem(err);
    }
    xb_lm_abort(h->e, txn);
    return rc;
}

typedef struct {
    xb_wmem_list_t *out;
    size_t cap;
} lm_wmem_list_t;

static int lm_collect_wmem(void *ctx, MDB_cursor *cur, const MDB_val *k, const MDB_val *v,
                           size_t prefix, xb_error_t *err)
{
    (void)cur;
    lm_wmem_list_t *c = ctx;
    if (c->out->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        xb_wmem_item_t *items = realloc(c->out->items, cap * sizeof *items);
        if (!items)
            return xb_lm_nomem(err);
        c->out->items = items;
        c->cap = cap;
    }
    xb_wmem_item_t *it = &c->out->items[c->out->count++]; /* counted first: a failure frees it */
    it->name = dup_bytes((const char *)k->mv_data + prefix, k->mv_size - prefix);
    it->data.data = dup_bytes(v->mv_data, v->mv_size);
    it->data.len = v->mv_size;
    return it->name && it->data.data ? 0 : xb_lm_nomem(err);
}

int xb_lm_wmem_list(void *self, const char *conversation, xb_wmem_list_t *out, xb_error_t *err)
{
    lm_t *h = self;
    MDB_txn *txn;
    size_t clen;
    if (xb_lm_start(h, lm_wmem_conv_len, conversation, &clen, false, &txn, err) != 0)
        return -1;
    lm_wmem_list_t c = {.out = out};
    int rc = lm_wmem_range(h->e, txn, conversation, clen, lm_collect_wmem, &c, err);
    xb_lm_abort(h->e, txn);
    if (rc != 0)
        xb_wmem_list_free(out);
    return rc; /* in name order already: keys sort as the names do */
}

int xb_lm_wmem_drop(void *self, const char *conversation, xb_error_t *err)
{
    lm_t *h = self;
    MDB_txn *txn;
    size_t clen;
    if (xb_lm_start(h, lm_wmem_conv_len, conversation, &clen, true, &txn, err) != 0)
        return -1;
    if (lm_wmem_drop_in(h->e, txn, conversation, clen, err) != 0) {
        xb_lm_abort(h->e, txn);
        return -1;
    }
    return xb_lm_commit(h->e, txn, err);
}
