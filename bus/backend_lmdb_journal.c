/* The `manager` backend's journal (docs/backend-manager.md): xb.journal maps
 * an id (the pump's message id) to the entry's bytes. Entries are written in
 * the transaction of their slot (xb_lm_append_all) and removed in one
 * transaction per batch of ids. */
#include "backend_lmdb_internal.h"

static int lm_journal_key(const lm_env_t *e, const char *id, MDB_val *k, xb_error_t *err)
{
    size_t n = strlen(id);
    if (n > e->maxkey)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "backend manager: journal id of %zu bytes is longer than the %zu "
                            "bytes LMDB allows",
                            n, e->maxkey);
    *k = (MDB_val){.mv_size = n, .mv_data = (void *)id};
    return 0;
}

int xb_lm_journal_put_in(lm_env_t *e, MDB_txn *txn, const xb_journal_entry_t *j, xb_error_t *err)
{
    MDB_val k, v = {.mv_size = j->len, .mv_data = (void *)j->data};
    if (lm_journal_key(e, j->id, &k, err) != 0)
        return -1;
    int rc = mdb_put(txn, e->dbi[DB_JOURNAL], &k, &v, 0);
    return rc == 0 ? 0 : xb_lm_fail(e, rc, "writing a journal entry", err);
}

int xb_lm_journal_put(void *self, const xb_journal_entry_t *entry, xb_error_t *err)
{
    lm_t *h = self;
    MDB_txn *txn;
    if (xb_lm_start(h, NULL, NULL, NULL, true, &txn, err) != 0)
        return -1;
    if (xb_lm_journal_put_in(h->e, txn, entry, err) != 0) {
        xb_lm_abort(h->e, txn);
        return -1;
    }
    return xb_lm_commit(h->e, txn, err);
}

int xb_lm_journal_remove(void *self, size_t n, const char *const *ids, xb_error_t *err)
{
    lm_t *h = self;
    MDB_txn *txn;
    if (xb_lm_start(h, NULL, NULL, NULL, true, &txn, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        MDB_val k;
        if (lm_journal_key(h->e, ids[i], &k, err) != 0) {
            rc = -1;
            break;
        }
        int mrc = mdb_del(txn, h->e->dbi[DB_JOURNAL], &k, NULL);
        if (mrc != 0 && mrc != MDB_NOTFOUND)
            rc = xb_lm_fail(h->e, mrc, "removing a journal entry", err);
    }
    if (rc != 0) {
        xb_lm_abort(h->e, txn);
        return -1;
    }
    return xb_lm_commit(h->e, txn, err);
}

typedef struct {
    xb_journal_list_t *out;
    size_t cap;
} lm_journal_ctx_t;

static int lm_collect_entry(void *ctx, const MDB_val *k, const MDB_val *v)
{
    lm_journal_ctx_t *c = ctx;
    if (c->out->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        xb_journal_item_t *items = realloc(c->out->items, cap * sizeof *items);
        if (!items)
            return -1;
        c->out->items = items;
        c->cap = cap;
    }
    xb_journal_item_t *j = &c->out->items[c->out->count];
    j->id = dup_bytes(k->mv_data, k->mv_size);
    j->data.data = dup_bytes(v->mv_data, v->mv_size);
    j->data.len = v->mv_size;
    c->out->count++; /* counted first so that a failure frees both */
    return j->id && j->data.data ? 0 : -1;
}

int xb_lm_journal_list(void *self, xb_journal_list_t *out, xb_error_t *err)
{
    lm_journal_ctx_t c = {.out = out};
    if (xb_lm_walk(self, DB_JOURNAL, lm_collect_entry, &c, err) != 0) {
        xb_journal_list_free(out);
        return -1;
    }
    return 0;
}
