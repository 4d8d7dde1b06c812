/* The `manager` backend: one LMDB environment (a folder) shared by the pump and
 * the listener/worker processes of one machine (docs/backend-manager.md).
 *
 * On-disk layout (byte for byte in docs/backend-manager.md): nine named DBs,
 *   xb.slots       thread '\0' u64be(index)  -> slot bytes
 *   xb.threads     thread                    -> u64be count, u64be created_ms, u64be seq
 *   xb.age         u64be(seq)                -> thread   (creation order, for eviction)
 *   xb.chain2uuid  chain (or hashed key)     -> uuid
 *   xb.uuid2chain  uuid                      -> chain
 *   xb.meta        "format"                  -> "1"
 *   xb.journal     id                        -> journal entry bytes
 *   xb.wmem        conversation '\0' name     -> working memory entry bytes
 *                  conversation '\0'          -> u64be seq (its key in xb.wmem.age)
 *   xb.wmem.age    u64be(seq)                -> conversation (for eviction)
 * Every change that touches more than one record happens in one write
 * transaction, so that other processes never see half of it.
 *
 * The backend is split over backend_lmdb*.c; backend_lmdb_internal.h lists
 * the files and holds what they share. How environments are shared within a
 * process and between threads: backend_lmdb_env.c. */
#include "backend_lmdb_internal.h"

#include <unistd.h>

static int lm_ping(void *self, xb_error_t *err)
{
    lm_t *h = self;
    MDB_txn *txn;
    if (xb_lm_start(h, NULL, NULL, NULL, false, &txn, err) != 0)
        return -1;
    xb_lm_abort(h->e, txn);
    return 0;
}

static int lm_flush(void *self, xb_error_t *err)
{
    lm_t *h = self;
    if (h->pid != getpid())
        return xb_error_set(err, XB_ERR_BACKEND, 0,
                            "backend manager: handle used after a fork; open a new one");
    return xb_lm_flush_env(h->e, err);
}

static int lm_info(void *self, xb_backend_info_t *out, xb_error_t *err)
{
    lm_t *h = self;
    lm_env_t *e = h->e;
    MDB_txn *txn;
    if (xb_lm_start(h, NULL, NULL, NULL, false, &txn, err) != 0)
        return -1;
    size_t threads = 0, slots = 0, pairs = 0;
    int rc = 0;
    if (xb_lm_entries(e, txn, DB_THREADS, &threads, err) != 0 ||
        xb_lm_entries(e, txn, DB_SLOTS, &slots, err) != 0 ||
        xb_lm_entries(e, txn, DB_UUID, &pairs, err) != 0)
        rc = -1;
    xb_lm_abort(e, txn);
    if (rc != 0)
        return -1;
    out->threads = (long)threads;
    out->slots = (long)slots;
    out->registry_entries = (long)pairs;
    out->ttl = -1;
    out->evicted_threads = atomic_load(&h->evicted_threads);
    out->limit_refusals = atomic_load(&h->limit_refusals);
    copy_str(out->type, sizeof out->type, "manager");
    copy_str(out->server_version, sizeof out->server_version, mdb_version(NULL, NULL, NULL));
    copy_str(out->location, sizeof out->location, e->path);
    return 0;
}

/* ---- opening and closing ------------------------------------------------------------ */

static void lm_close(void *self)
{
    lm_t *h = self;
    if (!h)
        return;
    /* In a forked child the environment is the parent's: leave it alone. */
    if (h->pid == getpid())
        xb_lm_env_release(h->e);
    free(h);
}

static const xb_backend_ops_t lmdb_ops = {
    .name = "manager",
    .buffer_append = xb_lm_append,
    .buffer_append_batch = xb_lm_append_batch,
    .buffer_get_thread = xb_lm_get_thread,
    .buffer_get_slot = xb_lm_get_slot,
    .buffer_thread_len = xb_lm_thread_len_op,
    .buffer_thread_exists = xb_lm_thread_exists,
    .buffer_delete_thread = xb_lm_delete_thread,
    .buffer_list_threads = xb_lm_list_threads,
    .buffer_scan_threads = xb_lm_scan_threads,
    .buffer_clear = xb_lm_clear,
    .registry_set = xb_lm_registry_set,
    .registry_get_uuid = xb_lm_registry_get_uuid,
    .registry_get_chain = xb_lm_registry_get_chain,
    .registry_delete = xb_lm_registry_delete,
    .registry_apply = xb_lm_registry_apply,
    .registry_list_all = xb_lm_registry_list_all,
    .registry_clear = xb_lm_registry_clear,
    .ping = lm_ping,
    .info = lm_info,
    .flush = lm_flush,
    .buffer_append_all = xb_lm_append_all,
    .journal_put = xb_lm_journal_put,
    .journal_remove = xb_lm_journal_remove,
    .journal_list = xb_lm_journal_list,
    .wmem_put = xb_lm_wmem_put,
    .wmem_get = xb_lm_wmem_get,
    .wmem_list = xb_lm_wmem_list,
    .wmem_drop = xb_lm_wmem_drop,
    .close = lm_close,
};

void *xb_backend_lmdb_open(const xb_backend_config_t *cfg, const xb_backend_ops_t **ops,
                           xb_error_t *err)
{
    if (!cfg->path[0] || !memchr(cfg->path, '\0', sizeof cfg->path)) {
        xb_error_set(err, XB_ERR_CONFIG, 0,
                     "backend manager: backend.path (the LMDB folder) is not set");
        return NULL;
    }
    if (cfg->max_slots_per_thread < 0 || cfg->max_threads < 0) {
        xb_error_set(err, XB_ERR_CONFIG, 0, "backend manager: limits must not be negative");
        return NULL;
    }
    if (xb_lm_mkdirs(cfg->path, err) != 0)
        return NULL;
    lm_t *h = calloc(1, sizeof *h);
    if (!h) {
        xb_lm_nomem(err);
        return NULL;
    }
    h->pid = getpid();
    h->max_slots_per_thread = cfg->max_slots_per_thread;
    h->max_threads = cfg->max_threads;
    h->max_slot_bytes = cfg->max_slot_bytes;
    h->max_wmem_entries = cfg->max_wmem_entries;
    atomic_init(&h->evicted_threads, 0);
    atomic_init(&h->limit_refusals, 0);
    h->e = xb_lm_env_acquire(cfg->path, cfg->map_size, err);
    if (!h->e) {
        free(h);
        return NULL;
    }
    *ops = &lmdb_ops;
    return h;
}
