/* Pieces shared by the files of the `manager` backend, one LMDB environment
 * (docs/backend-manager.md):
 *   backend_lmdb.c          the ops table, open and close, ping, flush, info
 *   backend_lmdb_env.c      the environment: the per-process table, opening
 *                           (folder, DBs, format), map size, transactions,
 *                           errors, walking and emptying a DB
 *   backend_lmdb_threads.c  thread records, creation order and eviction
 *   backend_lmdb_slots.c    the buffer ops (slots of a thread)
 *   backend_lmdb_registry.c the registry ops (chain <-> uuid)
 *   backend_lmdb_journal.c  the journal ops (unanswered deliveries)
 *   backend_lmdb_wmem.c     working memory of conversations
 * Nothing here is public API. */
#ifndef XMLBUS_BACKEND_LMDB_INTERNAL_H
#define XMLBUS_BACKEND_LMDB_INTERNAL_H

#include "backend_impl.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define LM_INDEX_BYTES 8
#define LM_THREAD_REC_BYTES 24
#define LM_HASH_BYTES 16
#define LM_KEY_CAP 1024 /* our buffers; LMDB's default maximum key is 511 */

enum {
    DB_SLOTS,
    DB_THREADS,
    DB_AGE,
    DB_CHAIN,
    DB_UUID,
    DB_META,
    DB_JOURNAL,
    DB_WMEM,
    DB_WMEM_AGE,
    DB__COUNT
};

/* One open environment, shared by every handle of this process on that path. */
typedef struct lm_env {
    struct lm_env *next;
    dev_t dev;
    ino_t ino;
    pid_t pid;
    int refs;
    MDB_env *env;
    MDB_dbi dbi[DB__COUNT];
    size_t maxkey;
    pthread_rwlock_t resize; /* shared: any transaction; exclusive: set_mapsize */
    char path[XB_PATH_MAX];  /* absolute */
    atomic_bool dirty;       /* committed since the last flush */
    /* The flusher: a thread of its own, started by the first flush of the
     * process, that waits for the disk so that the caller does not. */
    pthread_mutex_t fl_lock;
    pthread_cond_t fl_cond;
    pthread_t fl_thread;
    bool fl_started, fl_wanted, fl_stop;
    int fl_failed; /* LMDB's error of a flush in the background, 0 for none */
} lm_env_t;

/* One backend handle. */
typedef struct {
    lm_env_t *e;
    pid_t pid;
    long max_slots_per_thread;
    long max_threads;
    size_t max_slot_bytes;
    long max_wmem_entries;
    atomic_long evicted_threads;
    atomic_long limit_refusals;
} lm_t;

/* A thread record of xb.threads. */
typedef struct {
    uint64_t count;
    uint64_t created_ms;
    uint64_t seq;
} lm_thread_rec_t;

/* ---- small helpers --------------------------------------------------------- */

static inline void put_u64be(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static inline uint64_t get_u64be(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline char *dup_bytes(const void *p, size_t len)
{
    char *c = malloc(len + 1);
    if (!c)
        return NULL;
    if (len)
        memcpy(c, p, len);
    c[len] = '\0';
    return c;
}

static inline bool val_equals(const MDB_val *v, const char *s, size_t len)
{
    return v->mv_size == len && (len == 0 || memcmp(v->mv_data, s, len) == 0);
}

static inline void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* buf (LM_KEY_CAP bytes) <- thread '\0' u64be(index). */
static inline MDB_val lm_slot_key(unsigned char *buf, const char *thread, size_t tlen,
                                  uint64_t index)
{
    memcpy(buf, thread, tlen);
    buf[tlen] = '\0';
    put_u64be(buf + tlen + 1, index);
    return (MDB_val){.mv_size = tlen + 1 + LM_INDEX_BYTES, .mv_data = buf};
}

static inline bool lm_is_slot_of(const MDB_val *k, const unsigned char *prefix, size_t tlen)
{
    return k->mv_size == tlen + 1 + LM_INDEX_BYTES && memcmp(k->mv_data, prefix, tlen + 1) == 0;
}

/* ---- the environment (backend_lmdb_env.c) ---------------------------------- */

int xb_lm_nomem(xb_error_t *err);
/* Turns an LMDB return code into an XB_ERR_BACKEND error naming the path. */
int xb_lm_fail(const lm_env_t *e, int rc, const char *what, xb_error_t *err);
int xb_lm_corrupt(const lm_env_t *e, const char *what, const char *name, xb_error_t *err);

/* mdb_get of key k in DB db: 1 found (*v set), 0 absent, -1 error (what
 * names the read in the message). Inline: the append path reads so. */
static inline int xb_lm_read(lm_env_t *e, MDB_txn *txn, int db, MDB_val *k, MDB_val *v,
                             const char *what, xb_error_t *err)
{
    int rc = mdb_get(txn, e->dbi[db], k, v);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc == 0 ? 1 : xb_lm_fail(e, rc, what, err);
}
/* A handle must not be used in a process forked after it was opened: LMDB
 * state (locks, reader slots) belongs to the opening process. */
int xb_lm_check_pid(const lm_t *h, xb_error_t *err);

/* Begins a transaction and holds the resize lock (shared) until
 * xb_lm_abort or xb_lm_commit. */
int xb_lm_begin(lm_env_t *e, bool write, MDB_txn **txn, xb_error_t *err);
void xb_lm_abort(lm_env_t *e, MDB_txn *txn);
int xb_lm_commit(lm_env_t *e, MDB_txn *txn, xb_error_t *err);

/* Checks a key (xb_lm_thread_len, the registry's lm_uuid_len) and returns its
 * length. */
typedef int (*lm_key_fn)(const lm_env_t *e, const char *key, size_t *len, xb_error_t *err);

/* How an operation starts: the handle belongs to this process, then the key
 * (when keylen is not NULL) fits LMDB and *len is its length, then a
 * transaction begins (xb_lm_begin: xb_lm_abort or xb_lm_commit ends it). */
int xb_lm_start(lm_t *h, lm_key_fn keylen, const char *key, size_t *len, bool write, MDB_txn **txn,
                xb_error_t *err);

/* The number of entries of DB db into *n. */
int xb_lm_entries(lm_env_t *e, MDB_txn *txn, int db, size_t *n, xb_error_t *err);

/* Walks every key of one DB; fn copies what it needs (non-zero: no memory). */
typedef int (*lm_walk_fn)(void *ctx, const MDB_val *k, const MDB_val *v);
int xb_lm_walk(lm_t *h, int db, lm_walk_fn fn, void *ctx, xb_error_t *err);

/* Empties the given DBs in one write transaction. */
int xb_lm_drop(lm_t *h, const int *dbs, size_t n, xb_error_t *err);

/* Flushes what was committed since the last flush (MDB_NOSYNC). */
int xb_lm_flush_env(lm_env_t *e, xb_error_t *err);

/* mkdir -p with mode 0700 for every folder it creates. */
int xb_lm_mkdirs(const char *path, xb_error_t *err);

/* Finds this process's environment for the folder or opens it (map_size 0 =
 * default; ignored when the environment is open in this process already).
 * xb_lm_env_release gives it back. */
lm_env_t *xb_lm_env_acquire(const char *path, size_t map_size, xb_error_t *err);
void xb_lm_env_release(lm_env_t *e);

/* ---- threads (backend_lmdb_threads.c) --------------------------------------- */

/* Checks a thread name and returns its length: slot keys are thread + '\0' +
 * 8 index bytes and must fit LMDB's maximum key size. */
int xb_lm_thread_len(const lm_env_t *e, const char *thread, size_t *len, xb_error_t *err);

/* Reads the thread record: 1 found, 0 absent, -1 error. */
int xb_lm_rec_get(lm_env_t *e, MDB_txn *txn, const char *thread, size_t tlen, lm_thread_rec_t *r,
                  xb_error_t *err);
int xb_lm_rec_put(lm_env_t *e, MDB_txn *txn, const char *thread, size_t tlen,
                  const lm_thread_rec_t *r, xb_error_t *err);

/* Deletes a thread's slots, record and age entry inside txn. */
int xb_lm_delete_in(lm_env_t *e, MDB_txn *txn, const char *thread, size_t tlen, bool *deleted,
                    xb_error_t *err);

/* The first (op MDB_FIRST) or last (MDB_LAST) entry of an age DB (DB_AGE,
 * DB_WMEM_AGE): 1 with *k and *v (valid until txn changes), 0 when it is
 * empty, -1 error (what names the search). */
int xb_lm_age_end(lm_env_t *e, MDB_txn *txn, int db, MDB_cursor_op op, MDB_val *k, MDB_val *v,
                  const char *what, xb_error_t *err);

/* Creates the record (and age entry) of a new thread, evicting first if
 * max_threads is reached. */
int xb_lm_create_thread(lm_t *h, MDB_txn *txn, const char *thread, size_t tlen, lm_thread_rec_t *r,
                        xb_error_t *err);

/* ---- ops (backend_lmdb_slots.c, backend_lmdb_registry.c) --------------------- */

int xb_lm_append(void *self, const char *thread, const void *slot, size_t len, long *index,
                 xb_error_t *err);
int xb_lm_append_batch(void *self, size_t n, const char *const *threads, const xb_blob_t *slots,
                       long *index, xb_error_t *err);
int xb_lm_append_all(void *self, size_t n, const char *const *threads, const xb_blob_t *slots,
                     const xb_journal_entry_t *journal, const xb_wmem_batch_t *wmem, long *index,
                     xb_error_t *err);
int xb_lm_get_thread(void *self, const char *thread, xb_blob_list_t *out, xb_error_t *err);
int xb_lm_get_slot(void *self, const char *thread, long index, xb_blob_t *out, xb_error_t *err);
int xb_lm_thread_len_op(void *self, const char *thread, long *len, xb_error_t *err);
int xb_lm_thread_exists(void *self, const char *thread, bool *exists, xb_error_t *err);
int xb_lm_delete_thread(void *self, const char *thread, bool *deleted, xb_error_t *err);
int xb_lm_list_threads(void *self, xb_str_list_t *out, xb_error_t *err);
int xb_lm_scan_threads(void *self, const char *cursor, size_t count, xb_str_list_t *out, char *next,
                       xb_error_t *err);
int xb_lm_clear(void *self, xb_error_t *err);

int xb_lm_registry_set(void *self, const char *chain, const char *uuid, xb_error_t *err);
int xb_lm_registry_get_uuid(void *self, const char *chain, char **uuid, xb_error_t *err);
int xb_lm_registry_get_chain(void *self, const char *uuid, char **chain, xb_error_t *err);
int xb_lm_registry_delete(void *self, const char *uuid, bool *deleted, xb_error_t *err);
int xb_lm_registry_apply(void *self, size_t n, const xb_registry_op_t *ops, xb_error_t *err);
int xb_lm_registry_list_all(void *self, xb_pair_list_t *out, xb_error_t *err);
int xb_lm_registry_clear(void *self, xb_error_t *err);

/* ---- journal (backend_lmdb_journal.c) ---------------------------------------- */

/* Writes one journal entry inside txn (0 or -1: the txn must be aborted). */
int xb_lm_journal_put_in(lm_env_t *e, MDB_txn *txn, const xb_journal_entry_t *j, xb_error_t *err);
int xb_lm_journal_put(void *self, const xb_journal_entry_t *entry, xb_error_t *err);
int xb_lm_journal_remove(void *self, size_t n, const char *const *ids, xb_error_t *err);
int xb_lm_journal_list(void *self, xb_journal_list_t *out, xb_error_t *err);

/* ---- working memory (backend_lmdb_wmem.c) ------------------------------------ */

/* The checks of a put inside txn, before anything is written: the
 * conversation fits LMDB (*clen its length) and max_wmem_entries. 0 fine,
 * 1 refused (XB_ERR_ARG or XB_ERR_LIMIT in *err, txn untouched), -1 storage
 * failure. */
int xb_lm_wmem_check_in(lm_t *h, MDB_txn *txn, const char *conversation, size_t n,
                        const xb_wmem_entry_t *entries, size_t *clen, xb_error_t *err);
/* Writes a checked put inside txn (the age bookkeeping of a conversation's
 * first put included). 0 or -1: the txn must be aborted. */
int xb_lm_wmem_write_in(lm_t *h, MDB_txn *txn, const char *conversation, size_t clen, size_t n,
                        const xb_wmem_entry_t *entries, xb_error_t *err);
int xb_lm_wmem_put(void *self, const char *conversation, size_t n, const xb_wmem_entry_t *entries,
                   xb_error_t *err);
int xb_lm_wmem_get(void *self, const char *conversation, const char *name, xb_blob_t *out,
                   xb_error_t *err);
int xb_lm_wmem_list(void *self, const char *conversation, xb_wmem_list_t *out, xb_error_t *err);
int xb_lm_wmem_drop(void *self, const char *conversation, xb_error_t *err);

#endif
