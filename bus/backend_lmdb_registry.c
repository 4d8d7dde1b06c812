/* The `manager` backend's registry ops (docs/backend-manager.md):
 * xb.chain2uuid (a long chain under a hashed key) and xb.uuid2chain, always
 * changed together in one write transaction. */
#include "backend_lmdb_internal.h"

#include <stdio.h>

static int lm_uuid_len(const lm_env_t *e, const char *uuid, size_t *len, xb_error_t *err)
{
    if (!uuid || !*uuid)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: empty uuid");
    size_t n = strlen(uuid);
    if (n > e->maxkey)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "backend manager: uuid of %zu bytes is longer than the %zu bytes "
                            "LMDB allows at %s",
                            n, e->maxkey, e->path);
    *len = n;
    return 0;
}

/* 128-bit FNV-1a of a chain, big-endian into out. */
static void lm_fnv128(const char *s, size_t len, unsigned char *out)
{
    unsigned __int128 h = ((unsigned __int128)0x6c62272e07bb0142ULL << 64) | 0x62b821756295c58dULL;
    const unsigned __int128 prime = ((unsigned __int128)1 << 88) | 0x13bu;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= prime;
    }
    put_u64be(out, (uint64_t)(h >> 64));
    put_u64be(out + 8, (uint64_t)h);
}

/* Key of a chain in xb.chain2uuid: the chain itself when it fits LMDB's key
 * size, else its first bytes + '\0' + a 128-bit hash (a chain never contains
 * '\0', so the two forms never meet). *hashed says which. */
static MDB_val lm_chain_key(const lm_env_t *e, unsigned char *buf, const char *chain, size_t clen,
                            bool *hashed)
{
    if (clen <= e->maxkey) {
        *hashed = false;
        return (MDB_val){.mv_size = clen, .mv_data = (void *)chain};
    }
    size_t keep = e->maxkey - 1 - LM_HASH_BYTES;
    memcpy(buf, chain, keep);
    buf[keep] = '\0';
    lm_fnv128(chain, clen, buf + keep + 1);
    *hashed = true;
    return (MDB_val){.mv_size = e->maxkey, .mv_data = buf};
}

/* Looks a chain up in xb.chain2uuid. For a hashed key the uuid's reverse entry
 * must name the same chain (else it belongs to a colliding chain). Returns 1
 * with *uuid (malloc'd, NULL allowed to skip), 0 absent, -1 error,
 * -2 hash collision. */
static int lm_chain_lookup(lm_env_t *e, MDB_txn *txn, const char *chain, size_t clen, char **uuid,
                           xb_error_t *err)
{
    unsigned char kb[LM_KEY_CAP];
    bool hashed;
    MDB_val k = lm_chain_key(e, kb, chain, clen, &hashed), v;
    int rc = xb_lm_read(e, txn, DB_CHAIN, &k, &v, "reading the registry", err);
    if (rc <= 0)
        return rc;
    char *u = dup_bytes(v.mv_data, v.mv_size);
    if (!u)
        return xb_lm_nomem(err);
    if (hashed) {
        MDB_val uk = {.mv_size = v.mv_size, .mv_data = u}, cv;
        rc = mdb_get(txn, e->dbi[DB_UUID], &uk, &cv);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            free(u);
            return xb_lm_fail(e, rc, "reading the registry", err);
        }
        if (rc == MDB_NOTFOUND || !val_equals(&cv, chain, clen)) {
            free(u);
            return -2;
        }
    }
    if (uuid)
        *uuid = u;
    else
        free(u);
    return 1;
}

/* Deletes key k of DB db if (and only if) it maps to want[0..wlen). */
static int lm_unlink_if(lm_env_t *e, MDB_txn *txn, int db, MDB_val *k, const char *want,
                        size_t wlen, xb_error_t *err)
{
    MDB_val v;
    int rc = xb_lm_read(e, txn, db, k, &v, "reading the registry", err);
    if (rc <= 0)
        return rc;
    if (!val_equals(&v, want, wlen))
        return 0;
    rc = mdb_del(txn, e->dbi[db], k, NULL);
    return rc == 0 ? 0 : xb_lm_fail(e, rc, "deleting a registry entry", err);
}

/* Deletes chain -> uuid if (and only if) it maps to that uuid. */
static int lm_unlink_chain(lm_env_t *e, MDB_txn *txn, const char *chain, size_t clen,
                           const char *uuid, size_t ulen, xb_error_t *err)
{
    unsigned char kb[LM_KEY_CAP];
    bool hashed;
    MDB_val k = lm_chain_key(e, kb, chain, clen, &hashed);
    return lm_unlink_if(e, txn, DB_CHAIN, &k, uuid, ulen, err);
}

/* Deletes uuid -> chain if (and only if) it maps to that chain. */
static int lm_unlink_uuid(lm_env_t *e, MDB_txn *txn, const char *uuid, size_t ulen,
                          const char *chain, size_t clen, xb_error_t *err)
{
    MDB_val k = {.mv_size = ulen, .mv_data = (void *)uuid};
    return lm_unlink_if(e, txn, DB_UUID, &k, chain, clen, err);
}

/* Reads uuid -> chain: 1 with *chain (malloc'd), 0 absent, -1 error. */
static int lm_uuid_lookup(lm_env_t *e, MDB_txn *txn, const char *uuid, size_t ulen, char **chain,
                          xb_error_t *err)
{
    MDB_val k = {.mv_size = ulen, .mv_data = (void *)uuid}, v;
    int rc = xb_lm_read(e, txn, DB_UUID, &k, &v, "reading the registry", err);
    if (rc <= 0)
        return rc;
    if (!(*chain = dup_bytes(v.mv_data, v.mv_size)))
        return xb_lm_nomem(err);
    return 1;
}

/* The body of registry_set inside txn: drops the stale pair of either side,
 * then writes both directions. */
static int lm_set_in(lm_env_t *e, MDB_txn *txn, const char *chain, size_t clen, const char *uuid,
                     size_t ulen, xb_error_t *err)
{
    char *old_uuid = NULL, *old_chain = NULL;
    int rc = lm_chain_lookup(e, txn, chain, clen, &old_uuid, err);
    if (rc == -2)
        return xb_error_set(err, XB_ERR_BACKEND, 0,
                            "backend manager: hash collision for a "
                            "%zu-byte chain at %s",
                            clen, e->path);
    if (rc == 1 && strcmp(old_uuid, uuid) != 0)
        rc = lm_unlink_uuid(e, txn, old_uuid, strlen(old_uuid), chain, clen, err);
    free(old_uuid);
    if (rc < 0)
        return -1;
    rc = lm_uuid_lookup(e, txn, uuid, ulen, &old_chain, err);
    if (rc == 1 && strcmp(old_chain, chain) != 0)
        rc = lm_unlink_chain(e, txn, old_chain, strlen(old_chain), uuid, ulen, err);
    free(old_chain);
    if (rc < 0)
        return -1;
    unsigned char kb[LM_KEY_CAP];
    bool hashed;
    MDB_val ck = lm_chain_key(e, kb, chain, clen, &hashed);
    MDB_val cv = {.mv_size = ulen, .mv_data = (void *)uuid};
    MDB_val uk = {.mv_size = ulen, .mv_data = (void *)uuid};
    MDB_val uv = {.mv_size = clen, .mv_data = (void *)chain};
    if ((rc = mdb_put(txn, e->dbi[DB_CHAIN], &ck, &cv, 0)) != 0 ||
        (rc = mdb_put(txn, e->dbi[DB_UUID], &uk, &uv, 0)) != 0)
        return xb_lm_fail(e, rc, "writing the registry", err);
    return 0;
}

int xb_lm_registry_set(void *self, const char *chain, const char *uuid, xb_error_t *err)
{
    lm_t *h = self;
    size_t ulen = 0;
    if (xb_lm_check_pid(h, err) != 0 || lm_uuid_len(h->e, uuid, &ulen, err) != 0)
        return -1;
    if (!chain || !*chain)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: empty chain");
    MDB_txn *txn;
    if (xb_lm_begin(h->e, true, &txn, err) != 0)
        return -1;
    if (lm_set_in(h->e, txn, chain, strlen(chain), uuid, ulen, err) != 0) {
        xb_lm_abort(h->e, txn);
        return -1;
    }
    return xb_lm_commit(h->e, txn, err);
}

int xb_lm_registry_get_uuid(void *self, const char *chain, char **uuid, xb_error_t *err)
{
    lm_t *h = self;
    if (xb_lm_check_pid(h, err) != 0)
        return -1;
    if (!chain || !*chain)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: empty chain");
    MDB_txn *txn;
    if (xb_lm_begin(h->e, false, &txn, err) != 0)
        return -1;
    int rc = lm_chain_lookup(h->e, txn, chain, strlen(chain), uuid, err);
    xb_lm_abort(h->e, txn);
    if (rc == 0 || rc == -2)
        return xb_error_set(err, XB_ERR_NOTFOUND, 0, "backend manager: no uuid registered for %s",
                            chain);
    return rc == 1 ? 0 : -1;
}

int xb_lm_registry_get_chain(void *self, const char *uuid, char **chain, xb_error_t *err)
{
    lm_t *h = self;
    size_t ulen = 0;
    MDB_txn *txn;
    if (xb_lm_start(h, lm_uuid_len, uuid, &ulen, false, &txn, err) != 0)
        return -1;
    int rc = lm_uuid_lookup(h->e, txn, uuid, ulen, chain, err);
    xb_lm_abort(h->e, txn);
    if (rc == 0)
        return xb_error_set(err, XB_ERR_NOTFOUND, 0, "backend manager: no chain registered for %s",
                            uuid);
    return rc == 1 ? 0 : -1;
}

/* The body of registry_delete inside txn: removes uuid -> chain and its
 * chain -> uuid partner. *deleted says whether the uuid was registered. */
static int lm_unregister_in(lm_env_t *e, MDB_txn *txn, const char *uuid, size_t ulen, bool *deleted,
                            xb_error_t *err)
{
    *deleted = false;
    char *chain = NULL;
    int rc = lm_uuid_lookup(e, txn, uuid, ulen, &chain, err);
    if (rc <= 0)
        return rc;
    MDB_val k = {.mv_size = ulen, .mv_data = (void *)uuid};
    int mrc = mdb_del(txn, e->dbi[DB_UUID], &k, NULL);
    rc = mrc != 0 ? xb_lm_fail(e, mrc, "deleting a registry entry", err)
                  : lm_unlink_chain(e, txn, chain, strlen(chain), uuid, ulen, err);
    free(chain);
    if (rc != 0)
        return -1;
    *deleted = true;
    return 0;
}

int xb_lm_registry_delete(void *self, const char *uuid, bool *deleted, xb_error_t *err)
{
    lm_t *h = self;
    size_t ulen = 0;
    bool found = false;
    MDB_txn *txn;
    if (xb_lm_start(h, lm_uuid_len, uuid, &ulen, true, &txn, err) != 0)
        return -1;
    if (lm_unregister_in(h->e, txn, uuid, ulen, &found, err) != 0) {
        xb_lm_abort(h->e, txn);
        return -1;
    }
    if (!found) {
        xb_lm_abort(h->e, txn); /* nothing changed */
        return 0;
    }
    if (xb_lm_commit(h->e, txn, err) != 0)
        return -1;
    *deleted = true;
    return 0;
}

/* Checks one change of a batch like registry_set / registry_delete do. */
static int lm_check_op(const lm_env_t *e, const xb_registry_op_t *op, xb_error_t *err)
{
    size_t ulen;
    if (lm_uuid_len(e, op->uuid, &ulen, err) != 0)
        return -1;
    if (op->kind == XB_REGISTRY_OP_SET && (!op->chain || !*op->chain))
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: empty chain");
    if (op->kind != XB_REGISTRY_OP_SET && op->kind != XB_REGISTRY_OP_DELETE)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: unknown registry op kind %d",
                            (int)op->kind);
    return 0;
}

/* All n changes in one write transaction: every change or none. Every op is
 * checked before the transaction begins. */
int xb_lm_registry_apply(void *self, size_t n, const xb_registry_op_t *ops, xb_error_t *err)
{
    lm_t *h = self;
    if (n == 0)
        return 0;
    if (!ops)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL registry batch");
    if (xb_lm_check_pid(h, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (lm_check_op(h->e, &ops[i], err) != 0)
            return -1;
    }
    MDB_txn *txn;
    if (xb_lm_begin(h->e, true, &txn, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const xb_registry_op_t *op = &ops[i];
        size_t ulen = strlen(op->uuid);
        bool deleted;
        rc = op->kind == XB_REGISTRY_OP_SET
                 ? lm_set_in(h->e, txn, op->chain, strlen(op->chain), op->uuid, ulen, err)
                 : lm_unregister_in(h->e, txn, op->uuid, ulen, &deleted, err);
    }
    if (rc != 0) {
        xb_lm_abort(h->e, txn);
        return -1;
    }
    return xb_lm_commit(h->e, txn, err);
}

typedef struct {
    xb_pair_list_t *out;
    size_t cap;
} lm_pair_ctx_t;

static int lm_collect_pair(void *ctx, const MDB_val *k, const MDB_val *v)
{
    lm_pair_ctx_t *c = ctx;
    if (c->out->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        xb_registry_pair_t *items = realloc(c->out->items, cap * sizeof *items);
        if (!items)
            return -1;
        c->out->items = items;
        c->cap = cap;
    }
    xb_registry_pair_t *p = &c->out->items[c->out->count];
    p->uuid = dup_bytes(k->mv_data, k->mv_size);
    p->chain = dup_bytes(v->mv_data, v->mv_size);
    c->out->count++; /* counted first so that a failure frees both */
    return p->uuid && p->chain ? 0 : -1;
}

/* Lists xb.uuid2chain: it holds every full chain (chain2uuid keys may be
 * hashed). */
int xb_lm_registry_list_all(void *self, xb_pair_list_t *out, xb_error_t *err)
{
    lm_pair_ctx_t c = {.out = out};
    if (xb_lm_walk(self, DB_UUID, lm_collect_pair, &c, err) != 0) {
        xb_pair_list_free(out);
        return -1;
    }
    return 0;
}

int xb_lm_registry_clear(void *self, xb_error_t *err)
{
    static const int dbs[] = {DB_CHAIN, DB_UUID};
    return xb_lm_drop(self, dbs, sizeof dbs / sizeof dbs[0], err);
}
