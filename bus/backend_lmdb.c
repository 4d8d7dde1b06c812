/* The `manager` backend: one LMDB environment (a folder) shared by the pump and
 * the listener/worker processes of one machine (docs/backend-manager.md).
 *
 * On-disk layout (byte for byte in docs/backend-manager.md): six named DBs,
 *   xb.slots       thread '\0' u64be(index)  -> slot bytes
 *   xb.threads     thread                    -> u64be count, u64be created_ms, u64be seq
 *   xb.age         u64be(seq)                -> thread   (creation order, for eviction)
 *   xb.chain2uuid  chain (or hashed key)     -> uuid
 *   xb.uuid2chain  uuid                      -> chain
 *   xb.meta        "format"                  -> "1"
 * Every change that touches more than one record happens in one write
 * transaction, so that other processes never see half of it.
 *
 * LMDB forbids opening one environment twice in one process (closing the
 * second copy drops the first one's file locks), so the environments are
 * shared per process through a small table keyed by (device, inode, pid):
 * this file's one piece of process-wide state, required for correctness. The
 * pid in the key keeps a forked child from reusing its parent's environment.
 *
 * Threads: MDB_NOTLS lets any thread run read transactions; LMDB itself
 * serialises write transactions (across processes too). A per-environment
 * rwlock is held (shared) around every transaction so that adopting a map
 * grown by another process (MDB_MAP_RESIZED -> mdb_env_set_mapsize(env, 0),
 * which needs no live transaction in this process) can take it exclusively. */
#include "backend_impl.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define LM_DEFAULT_MAP_SIZE ((size_t)1 << 30)
#define LM_MAX_READERS 1024
#define LM_FORMAT "1"
#define LM_INDEX_BYTES 8
#define LM_THREAD_REC_BYTES 24
#define LM_HASH_BYTES 16
#define LM_KEY_CAP 1024 /* our buffers; LMDB's default maximum key is 511 */
#define LM_RESIZE_RETRIES 4
/* MDB_NOTLS: read transactions are not tied to a thread. MDB_NOSYNC: a commit
 * does not wait for the disk; the backend's flush op (called by the pump
 * every 50 ms) and closing the environment write what was committed. A
 * process crash loses nothing committed (the data is in the operating
 * system's cache); an operating-system crash or power loss may undo the
 * commits since the last flush, never corrupt the file. Waiting for the disk
 * at every commit made the pump ~50x slower. */
#define LM_ENV_FLAGS (MDB_NOTLS | MDB_NOSYNC)

enum { DB_SLOTS, DB_THREADS, DB_AGE, DB_CHAIN, DB_UUID, DB_META, DB__COUNT };

static const char *const db_names[DB__COUNT] = {
    [DB_SLOTS] = "xb.slots",     [DB_THREADS] = "xb.threads",     [DB_AGE] = "xb.age",
    [DB_CHAIN] = "xb.chain2uuid", [DB_UUID] = "xb.uuid2chain", [DB_META] = "xb.meta",
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
} lm_env_t;

/* Process-wide table of open environments (see the file comment). */
static pthread_mutex_t lm_envs_lock = PTHREAD_MUTEX_INITIALIZER;
static lm_env_t *lm_envs;

/* One backend handle. */
typedef struct {
    lm_env_t *e;
    pid_t pid;
    long max_slots_per_thread;
    long max_threads;
    size_t max_slot_bytes;
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

static void put_u64be(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t get_u64be(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *dup_bytes(const void *p, size_t len)
{
    char *c = malloc(len + 1);
    if (!c)
        return NULL;
    if (len)
        memcpy(c, p, len);
    c[len] = '\0';
    return c;
}

static bool val_equals(const MDB_val *v, const char *s, size_t len)
{
    return v->mv_size == len && (len == 0 || memcmp(v->mv_data, s, len) == 0);
}

static int lm_nomem(xb_error_t *err)
{
    return xb_error_set(err, XB_ERR_NOMEM, 0, "backend manager: out of memory");
}

static size_t lm_map_size(const lm_env_t *e)
{
    MDB_envinfo info;
    if (mdb_env_info(e->env, &info) != 0)
        return 0;
    return info.me_mapsize;
}

/* Turns an LMDB return code into an XB_ERR_BACKEND error naming the path. */
static int lm_fail(const lm_env_t *e, int rc, const char *what, xb_error_t *err)
{
    if (rc == MDB_MAP_FULL)
        return xb_error_set(err, XB_ERR_BACKEND, 0,
                            "LMDB map full at %s (map_size %zu bytes); raise backend.map_size",
                            e->path, lm_map_size(e));
    return xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: %s failed at %s: %s", what,
                        e->path, mdb_strerror(rc));
}

static int lm_corrupt(const lm_env_t *e, const char *what, const char *name, xb_error_t *err)
{
    return xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: corrupt %s for %s at %s", what,
                        name, e->path);
}

/* A handle must not be used in a process forked after it was opened: LMDB
 * state (locks, reader slots) belongs to the opening process. */
static int lm_check_pid(const lm_t *h, xb_error_t *err)
{
    pid_t me = getpid();
    if (h->pid == me)
        return 0;
    return xb_error_set(err, XB_ERR_BACKEND, 0,
                        "backend manager: LMDB environment %s was opened by process %ld and "
                        "cannot be used in forked process %ld; open a new backend there",
                        h->e->path, (long)h->pid, (long)me);
}

/* ---- transactions ---------------------------------------------------------- */

/* Adopts the map size another process has grown the file to. */
static int lm_adopt_map_size(lm_env_t *e, xb_error_t *err)
{
    if (pthread_rwlock_wrlock(&e->resize) != 0)
        return xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: cannot lock %s", e->path);
    int rc = mdb_env_set_mapsize(e->env, 0);
    pthread_rwlock_unlock(&e->resize);
    if (rc != 0)
        return lm_fail(e, rc, "adopting the grown map size", err);
    XB_INFO("backend", "manager: map of %s grown by another process to %zu bytes", e->path,
            lm_map_size(e));
    return 0;
}

/* Begins a transaction and holds the resize lock (shared) until lm_abort or
 * lm_commit. */
static int lm_begin(lm_env_t *e, bool write, MDB_txn **txn, xb_error_t *err)
{
    for (int attempt = 0;; attempt++) {
        if (pthread_rwlock_rdlock(&e->resize) != 0)
            return xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: cannot lock %s",
                                e->path);
        int rc = mdb_txn_begin(e->env, NULL, write ? 0 : MDB_RDONLY, txn);
        if (rc == 0)
            return 0;
        pthread_rwlock_unlock(&e->resize);
        if (rc != MDB_MAP_RESIZED || attempt >= LM_RESIZE_RETRIES)
            return lm_fail(e, rc, write ? "beginning a write transaction"
                                        : "beginning a read transaction", err);
        if (lm_adopt_map_size(e, err) != 0)
            return -1;
    }
}

static void lm_abort(lm_env_t *e, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&e->resize);
}

static int lm_commit(lm_env_t *e, MDB_txn *txn, xb_error_t *err)
{
    int rc = mdb_txn_commit(txn); /* frees txn even when it fails */
    if (rc == 0)
        atomic_store(&e->dirty, true);
    pthread_rwlock_unlock(&e->resize);
    return rc == 0 ? 0 : lm_fail(e, rc, "committing", err);
}

/* ---- keys and records -------------------------------------------------------- */

/* Checks a thread name and returns its length: slot keys are thread + '\0' +
 * 8 index bytes and must fit LMDB's maximum key size. */
static int lm_thread_len(const lm_env_t *e, const char *thread, size_t *len, xb_error_t *err)
{
    if (!thread || !*thread)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: empty thread name");
    size_t n = strlen(thread);
    if (n + 1 + LM_INDEX_BYTES > e->maxkey)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "backend manager: thread name of %zu bytes is longer than the "
                            "%zu bytes LMDB allows at %s", n, e->maxkey - 1 - LM_INDEX_BYTES,
                            e->path);
    *len = n;
    return 0;
}

static int lm_uuid_len(const lm_env_t *e, const char *uuid, size_t *len, xb_error_t *err)
{
    if (!uuid || !*uuid)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: empty uuid");
    size_t n = strlen(uuid);
    if (n > e->maxkey)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "backend manager: uuid of %zu bytes is longer than the %zu bytes "
                            "LMDB allows at %s", n, e->maxkey, e->path);
    *len = n;
    return 0;
}

/* Checks a key (lm_thread_len, lm_uuid_len) and returns its length. */
typedef int (*lm_key_fn)(const lm_env_t *e, const char *key, size_t *len, xb_error_t *err);

/* How an operation starts: the handle belongs to this process, then the key
 * (when keylen is not NULL) fits LMDB and *len is its length, then a
 * transaction begins (lm_begin: lm_abort or lm_commit ends it). */
static int lm_start(lm_t *h, lm_key_fn keylen, const char *key, size_t *len, bool write,
                    MDB_txn **txn, xb_error_t *err)
{
    if (lm_check_pid(h, err) != 0 || (keylen && keylen(h->e, key, len, err) != 0))
        return -1;
    return lm_begin(h->e, write, txn, err);
}

/* buf (LM_KEY_CAP bytes) <- thread '\0' u64be(index). */
static MDB_val lm_slot_key(unsigned char *buf, const char *thread, size_t tlen, uint64_t index)
{
    memcpy(buf, thread, tlen);
    buf[tlen] = '\0';
    put_u64be(buf + tlen + 1, index);
    return (MDB_val){.mv_size = tlen + 1 + LM_INDEX_BYTES, .mv_data = buf};
}

static bool lm_is_slot_of(const MDB_val *k, const unsigned char *prefix, size_t tlen)
{
    return k->mv_size == tlen + 1 + LM_INDEX_BYTES && memcmp(k->mv_data, prefix, tlen + 1) == 0;
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

static void lm_rec_encode(const lm_thread_rec_t *r, unsigned char *out)
{
    put_u64be(out, r->count);
    put_u64be(out + 8, r->created_ms);
    put_u64be(out + 16, r->seq);
}

/* Reads the thread record: 1 found, 0 absent, -1 error. */
static int lm_rec_get(lm_env_t *e, MDB_txn *txn, const char *thread, size_t tlen,
                      lm_thread_rec_t *r, xb_error_t *err)
{
    MDB_val k = {.mv_size = tlen, .mv_data = (void *)thread}, v;
    int rc = mdb_get(txn, e->dbi[DB_THREADS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return lm_fail(e, rc, "reading a thread record", err);
    if (v.mv_size != LM_THREAD_REC_BYTES)
        return lm_corrupt(e, "thread record", thread, err);
    const unsigned char *p = v.mv_data;
    r->count = get_u64be(p);
    r->created_ms = get_u64be(p + 8);
    r->seq = get_u64be(p + 16);
    return 1;
}

static int lm_rec_put(lm_env_t *e, MDB_txn *txn, const char *thread, size_t tlen,
                      const lm_thread_rec_t *r, xb_error_t *err)
{
    unsigned char buf[LM_THREAD_REC_BYTES];
    lm_rec_encode(r, buf);
    MDB_val k = {.mv_size = tlen, .mv_data = (void *)thread};
    MDB_val v = {.mv_size = sizeof buf, .mv_data = buf};
    int rc = mdb_put(txn, e->dbi[DB_THREADS], &k, &v, 0);
    return rc == 0 ? 0 : lm_fail(e, rc, "writing a thread record", err);
}

static int lm_entries(lm_env_t *e, MDB_txn *txn, int db, size_t *n, xb_error_t *err)
{
    MDB_stat st;
    int rc = mdb_stat(txn, e->dbi[db], &st);
    if (rc != 0)
        return lm_fail(e, rc, "reading statistics", err);
    *n = st.ms_entries;
    return 0;
}

/* ---- buffer ------------------------------------------------------------------ */

/* Deletes a thread's slots, record and age entry inside txn. */
static int lm_delete_in(lm_env_t *e, MDB_txn *txn, const char *thread, size_t tlen,
                        bool *deleted, xb_error_t *err)
{
    lm_thread_rec_t r;
    int found = lm_rec_get(e, txn, thread, tlen, &r, err);
    *deleted = found == 1;
    if (found <= 0)
        return found;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, e->dbi[DB_SLOTS], &cur);
    if (rc != 0)
        return lm_fail(e, rc, "opening a cursor", err);
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
        return lm_fail(e, rc, "deleting slots", err);
    unsigned char seq[8];
    put_u64be(seq, r.seq);
    MDB_val ak = {.mv_size = sizeof seq, .mv_data = seq};
    rc = mdb_del(txn, e->dbi[DB_AGE], &ak, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return lm_fail(e, rc, "deleting an age entry", err);
    MDB_val tk = {.mv_size = tlen, .mv_data = (void *)thread};
    rc = mdb_del(txn, e->dbi[DB_THREADS], &tk, NULL);
    return rc == 0 ? 0 : lm_fail(e, rc, "deleting a thread record", err);
}

/* Deletes the oldest thread (first entry of xb.age) inside txn. */
static int lm_evict_oldest(lm_t *h, MDB_txn *txn, xb_error_t *err)
{
    lm_env_t *e = h->e;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, e->dbi[DB_AGE], &cur);
    if (rc != 0)
        return lm_fail(e, rc, "opening a cursor", err);
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    char name[LM_KEY_CAP];
    size_t len = rc == 0 ? v.mv_size : 0;
    if (rc == 0 && (len == 0 || len >= sizeof name))
        rc = -1;
    if (rc == 0)
        memcpy(name, v.mv_data, len);
    mdb_cursor_close(cur);
    if (rc == -1)
        return lm_corrupt(e, "age entry", "the oldest thread", err);
    if (rc != 0)
        return lm_fail(e, rc, "finding the oldest thread", err);
    name[len] = '\0';
    bool deleted;
    if (lm_delete_in(e, txn, name, len, &deleted, err) != 0)
        return -1;
    if (!deleted) /* an age entry without its thread: the DBs disagree */
        return lm_corrupt(e, "age entry", name, err);
    long n = atomic_fetch_add(&h->evicted_threads, 1) + 1;
    /* Log the first eviction and every 1000th at WARN, the others at DEBUG. */
    if (n == 1 || n % 1000 == 0)
        XB_WARN("backend", "manager: max_threads %ld reached at %s, evicted oldest thread %s "
                "(%ld evictions by this process)", h->max_threads, e->path, name, n);
    else
        XB_DEBUG("backend", "manager: evicted oldest thread %s", name);
    return 0;
}

/* Sequence number for a new thread: one past the newest in xb.age. */
static int lm_next_seq(lm_env_t *e, MDB_txn *txn, uint64_t *seq, xb_error_t *err)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, e->dbi[DB_AGE], &cur);
    if (rc != 0)
        return lm_fail(e, rc, "opening a cursor", err);
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    *seq = 0;
    if (rc == 0 && k.mv_size == 8)
        *seq = get_u64be(k.mv_data) + 1;
    else if (rc == 0)
        rc = -1;
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == -1)
        return lm_corrupt(e, "age key", "the newest thread", err);
    return rc == 0 ? 0 : lm_fail(e, rc, "finding the newest thread", err);
}

/* Creates the record (and age entry) of a new thread, evicting first if
 * max_threads is reached. */
static int lm_create_thread(lm_t *h, MDB_txn *txn, const char *thread, size_t tlen,
                            lm_thread_rec_t *r, xb_error_t *err)
{
    lm_env_t *e = h->e;
    if (h->max_threads > 0) {
        for (;;) {
            size_t n = 0;
            if (lm_entries(e, txn, DB_THREADS, &n, err) != 0)
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
    return rc == 0 ? 0 : lm_fail(e, rc, "writing an age entry", err);
}

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
    if (lm_thread_len(e, thread, &tlen, err) != 0)
        return LM_REFUSED;
    if (!slot && len > 0) {
        xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL slot for thread %s", thread);
        return LM_REFUSED;
    }
    if (h->max_slot_bytes > 0 && len > h->max_slot_bytes) {
        xb_error_set(&why, XB_ERR_LIMIT, 0, "backend manager: slot of %zu bytes for thread %s "
                     "exceeds max_slot_bytes %zu", len, thread, h->max_slot_bytes);
        return lm_refused(h, &why, err);
    }
    lm_thread_rec_t r;
    int found = lm_rec_get(e, txn, thread, tlen, &r, err);
    if (found < 0)
        return LM_TXN_BAD;
    if (found && h->max_slots_per_thread > 0 && r.count >= (uint64_t)h->max_slots_per_thread) {
        xb_error_set(&why, XB_ERR_LIMIT, 0, "backend manager: thread %s is full "
                     "(max_slots_per_thread %ld)", thread, h->max_slots_per_thread);
        return lm_refused(h, &why, err);
    }
    if (found && r.count >= (uint64_t)LONG_MAX) {
        xb_error_set(&why, XB_ERR_LIMIT, 0, "backend manager: thread %s is full", thread);
        return lm_refused(h, &why, err);
    }
    if (!found && lm_create_thread(h, txn, thread, tlen, &r, err) != 0)
        return LM_TXN_BAD;
    unsigned char kb[LM_KEY_CAP];
    MDB_val k = lm_slot_key(kb, thread, tlen, r.count);
    MDB_val v = {.mv_size = len, .mv_data = (void *)slot};
    int rc = mdb_put(txn, e->dbi[DB_SLOTS], &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return lm_corrupt(e, "slot count", thread, err);
    if (rc != 0)
        return lm_fail(e, rc, "writing a slot", err);
    *index = (long)r.count;
    r.count++;
    return lm_rec_put(e, txn, thread, tlen, &r, err);
}

static int lm_append(void *self, const char *thread, const void *slot, size_t len, long *index,
                     xb_error_t *err)
{
    lm_t *h = self;
    MDB_txn *txn;
    if (lm_start(h, NULL, NULL, NULL, true, &txn, err) != 0)
        return -1;
    long ignored;
    if (lm_append_in(h, txn, thread, slot, len, index ? index : &ignored, err) != 0) {
        /* Even a refusal leaves nothing worth committing. */
        lm_abort(h->e, txn);
        return -1;
    }
    return lm_commit(h->e, txn, err);
}

/* All n slots in one write transaction. A limit refusal stops the batch and
 * commits the slots before it (like the memory backend); a storage failure
 * stores none. index[i] is -1 for every slot not stored. */
static int lm_append_batch(void *self, size_t n, const char *const *threads,
                           const xb_blob_t *slots, long *index, xb_error_t *err)
{
    lm_t *h = self;
    if (n == 0)
        return 0;
    if (!threads || !slots || !index)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL batch");
    if (lm_check_pid(h, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        index[i] = -1;
    MDB_txn *txn;
    if (lm_begin(h->e, true, &txn, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = lm_append_in(h, txn, threads[i], slots[i].data, slots[i].len, &index[i], err);
    xb_error_t cerr;
    if (rc == LM_TXN_BAD || lm_commit(h->e, txn, &cerr) != 0) {
        if (rc == LM_TXN_BAD)
            lm_abort(h->e, txn);
        else if (err)
            *err = cerr; /* keep a refusal's message only if the commit worked */
        for (size_t i = 0; i < n; i++)
            index[i] = -1;
        return -1;
    }
    return rc == 0 ? 0 : -1; /* on a refusal err names the refused slot */
}

/* Reads every slot of a thread in index order with one cursor walk. */
static int lm_get_thread(void *self, const char *thread, xb_blob_list_t *out, xb_error_t *err)
{
    lm_t *h = self;
    lm_env_t *e = h->e;
    size_t tlen = 0;
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL result pointer");
    out->items = NULL;
    out->count = 0;
    MDB_txn *txn;
    if (lm_start(h, lm_thread_len, thread, &tlen, false, &txn, err) != 0)
        return -1;
    lm_thread_rec_t r;
    int found = lm_rec_get(e, txn, thread, tlen, &r, err);
    if (found <= 0) {
        lm_abort(e, txn);
        return found;
    }
    int rc = 0;
    if (r.count > 0 && !(out->items = calloc((size_t)r.count, sizeof *out->items)))
        rc = lm_nomem(err);
    MDB_cursor *cur = NULL;
    int mrc = rc == 0 ? mdb_cursor_open(txn, e->dbi[DB_SLOTS], &cur) : 0;
    if (mrc != 0)
        rc = lm_fail(e, mrc, "opening a cursor", err);
    unsigned char prefix[LM_KEY_CAP];
    MDB_val k = lm_slot_key(prefix, thread, tlen, 0), v;
    MDB_cursor_op op = MDB_SET_RANGE;
    while (rc == 0 && out->count < r.count) {
        mrc = mdb_cursor_get(cur, &k, &v, op);
        op = MDB_NEXT;
        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = lm_fail(e, mrc, "reading slots", err);
        } else if (mrc == MDB_NOTFOUND || !lm_is_slot_of(&k, prefix, tlen) ||
                   get_u64be((const unsigned char *)k.mv_data + tlen + 1) != out->count) {
            rc = lm_corrupt(e, "slot sequence", thread, err);
        } else if (!(out->items[out->count].data = dup_bytes(v.mv_data, v.mv_size))) {
            rc = lm_nomem(err);
        } else {
            out->items[out->count++].len = v.mv_size;
        }
    }
    if (cur)
        mdb_cursor_close(cur);
    lm_abort(e, txn);
    if (rc != 0) {
        xb_blob_list_free(out);
        return -1;
    }
    return 0;
}

static int lm_get_slot(void *self, const char *thread, long index, xb_blob_t *out,
                       xb_error_t *err)
{
    lm_t *h = self;
    lm_env_t *e = h->e;
    size_t tlen = 0;
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL result pointer");
    out->data = NULL;
    out->len = 0;
    if (lm_check_pid(h, err) != 0 || lm_thread_len(e, thread, &tlen, err) != 0)
        return -1;
    if (index < 0)
        return xb_error_set(err, XB_ERR_NOTFOUND, 0, "backend manager: thread %s has no slot %ld",
                            thread, index);
    MDB_txn *txn;
    if (lm_begin(e, false, &txn, err) != 0)
        return -1;
    unsigned char kb[LM_KEY_CAP];
    MDB_val k = lm_slot_key(kb, thread, tlen, (uint64_t)index), v;
    int rc = mdb_get(txn, e->dbi[DB_SLOTS], &k, &v);
    if (rc == MDB_NOTFOUND)
        rc = xb_error_set(err, XB_ERR_NOTFOUND, 0, "backend manager: thread %s has no slot %ld",
                          thread, index);
    else if (rc != 0)
        rc = lm_fail(e, rc, "reading a slot", err);
    else if (!(out->data = dup_bytes(v.mv_data, v.mv_size)))
        rc = lm_nomem(err);
    else
        out->len = v.mv_size;
    lm_abort(e, txn);
    return rc == 0 ? 0 : -1;
}

/* Reads a thread record in its own read transaction. */
static int lm_read_rec(lm_t *h, const char *thread, lm_thread_rec_t *r, bool *found,
                       xb_error_t *err)
{
    lm_env_t *e = h->e;
    size_t tlen = 0;
    MDB_txn *txn;
    if (lm_start(h, lm_thread_len, thread, &tlen, false, &txn, err) != 0)
        return -1;
    int rc = lm_rec_get(e, txn, thread, tlen, r, err);
    lm_abort(e, txn);
    if (rc < 0)
        return -1;
    *found = rc == 1;
    return 0;
}

static int lm_thread_len_op(void *self, const char *thread, long *len, xb_error_t *err)
{
    lm_thread_rec_t r;
    bool found;
    if (!len)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL result pointer");
    if (lm_read_rec(self, thread, &r, &found, err) != 0)
        return -1;
    *len = found ? (long)r.count : 0;
    return 0;
}

static int lm_thread_exists(void *self, const char *thread, bool *exists, xb_error_t *err)
{
    lm_thread_rec_t r;
    if (!exists)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL result pointer");
    return lm_read_rec(self, thread, &r, exists, err);
}

static int lm_delete_thread(void *self, const char *thread, bool *deleted, xb_error_t *err)
{
    lm_t *h = self;
    size_t tlen = 0;
    bool ignored;
    if (!deleted)
        deleted = &ignored;
    *deleted = false;
    MDB_txn *txn;
    if (lm_start(h, lm_thread_len, thread, &tlen, true, &txn, err) != 0)
        return -1;
    if (lm_delete_in(h->e, txn, thread, tlen, deleted, err) != 0) {
        lm_abort(h->e, txn);
        *deleted = false;
        return -1;
    }
    if (!*deleted) { /* nothing changed */
        lm_abort(h->e, txn);
        return 0;
    }
    if (lm_commit(h->e, txn, err) != 0) {
        *deleted = false;
        return -1;
    }
    return 0;
}

/* Walks every key of one DB; fn copies what it needs. */
typedef int (*lm_walk_fn)(void *ctx, const MDB_val *k, const MDB_val *v);

static int lm_walk(lm_t *h, int db, lm_walk_fn fn, void *ctx, xb_error_t *err)
{
    lm_env_t *e = h->e;
    MDB_txn *txn;
    if (lm_start(h, NULL, NULL, NULL, false, &txn, err) != 0)
        return -1;
    MDB_cursor *cur = NULL;
    int rc = 0, mrc = mdb_cursor_open(txn, e->dbi[db], &cur);
    if (mrc != 0)
        rc = lm_fail(e, mrc, "opening a cursor", err);
    MDB_val k, v;
    for (MDB_cursor_op op = MDB_FIRST; rc == 0; op = MDB_NEXT) {
        mrc = mdb_cursor_get(cur, &k, &v, op);
        if (mrc == MDB_NOTFOUND)
            break;
        if (mrc != 0)
            rc = lm_fail(e, mrc, "walking a database", err);
        else if (fn(ctx, &k, &v) != 0)
            rc = lm_nomem(err);
    }
    if (cur)
        mdb_cursor_close(cur);
    lm_abort(e, txn);
    return rc == 0 ? 0 : -1;
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

static int lm_list_threads(void *self, xb_str_list_t *out, xb_error_t *err)
{
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL result pointer");
    out->items = NULL;
    out->count = 0;
    lm_str_ctx_t c = {.out = out};
    if (lm_walk(self, DB_THREADS, lm_collect_key, &c, err) != 0) {
        xb_str_list_free(out);
        return -1;
    }
    return 0;
}

/* Empties the given DBs in one write transaction. */
static int lm_drop(lm_t *h, const int *dbs, size_t n, xb_error_t *err)
{
    MDB_txn *txn;
    if (lm_start(h, NULL, NULL, NULL, true, &txn, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int rc = mdb_drop(txn, h->e->dbi[dbs[i]], 0);
        if (rc != 0) {
            lm_abort(h->e, txn);
            return lm_fail(h->e, rc, "clearing a database", err);
        }
    }
    return lm_commit(h->e, txn, err);
}

static int lm_clear(void *self, xb_error_t *err)
{
    static const int dbs[] = {DB_SLOTS, DB_THREADS, DB_AGE};
    return lm_drop(self, dbs, sizeof dbs / sizeof dbs[0], err);
}

/* ---- registry ------------------------------------------------------------------ */

/* Looks a chain up in xb.chain2uuid. For a hashed key the uuid's reverse entry
 * must name the same chain (else it belongs to a colliding chain). Returns 1
 * with *uuid (malloc'd, NULL allowed to skip), 0 absent, -1 error,
 * -2 hash collision. */
static int lm_chain_lookup(lm_env_t *e, MDB_txn *txn, const char *chain, size_t clen,
                           char **uuid, xb_error_t *err)
{
    unsigned char kb[LM_KEY_CAP];
    bool hashed;
    MDB_val k = lm_chain_key(e, kb, chain, clen, &hashed), v;
    int rc = mdb_get(txn, e->dbi[DB_CHAIN], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return lm_fail(e, rc, "reading the registry", err);
    char *u = dup_bytes(v.mv_data, v.mv_size);
    if (!u)
        return lm_nomem(err);
    if (hashed) {
        MDB_val uk = {.mv_size = v.mv_size, .mv_data = u}, cv;
        rc = mdb_get(txn, e->dbi[DB_UUID], &uk, &cv);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            free(u);
            return lm_fail(e, rc, "reading the registry", err);
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

/* Deletes chain -> uuid if (and only if) it maps to that uuid. */
static int lm_unlink_chain(lm_env_t *e, MDB_txn *txn, const char *chain, size_t clen,
                           const char *uuid, size_t ulen, xb_error_t *err)
{
    unsigned char kb[LM_KEY_CAP];
    bool hashed;
    MDB_val k = lm_chain_key(e, kb, chain, clen, &hashed), v;
    int rc = mdb_get(txn, e->dbi[DB_CHAIN], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return lm_fail(e, rc, "reading the registry", err);
    if (!val_equals(&v, uuid, ulen))
        return 0;
    rc = mdb_del(txn, e->dbi[DB_CHAIN], &k, NULL);
    return rc == 0 ? 0 : lm_fail(e, rc, "deleting a registry entry", err);
}

/* Deletes uuid -> chain if (and only if) it maps to that chain. */
static int lm_unlink_uuid(lm_env_t *e, MDB_txn *txn, const char *uuid, size_t ulen,
                          const char *chain, size_t clen, xb_error_t *err)
{
    MDB_val k = {.mv_size = ulen, .mv_data = (void *)uuid}, v;
    int rc = mdb_get(txn, e->dbi[DB_UUID], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return lm_fail(e, rc, "reading the registry", err);
    if (!val_equals(&v, chain, clen))
        return 0;
    rc = mdb_del(txn, e->dbi[DB_UUID], &k, NULL);
    return rc == 0 ? 0 : lm_fail(e, rc, "deleting a registry entry", err);
}

/* Reads uuid -> chain: 1 with *chain (malloc'd), 0 absent, -1 error. */
static int lm_uuid_lookup(lm_env_t *e, MDB_txn *txn, const char *uuid, size_t ulen, char **chain,
                          xb_error_t *err)
{
    MDB_val k = {.mv_size = ulen, .mv_data = (void *)uuid}, v;
    int rc = mdb_get(txn, e->dbi[DB_UUID], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return lm_fail(e, rc, "reading the registry", err);
    if (!(*chain = dup_bytes(v.mv_data, v.mv_size)))
        return lm_nomem(err);
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
        return xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: hash collision for a "
                            "%zu-byte chain at %s", clen, e->path);
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
        return lm_fail(e, rc, "writing the registry", err);
    return 0;
}

static int lm_registry_set(void *self, const char *chain, const char *uuid, xb_error_t *err)
{
    lm_t *h = self;
    size_t ulen = 0;
    if (lm_check_pid(h, err) != 0 || lm_uuid_len(h->e, uuid, &ulen, err) != 0)
        return -1;
    if (!chain || !*chain)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: empty chain");
    MDB_txn *txn;
    if (lm_begin(h->e, true, &txn, err) != 0)
        return -1;
    if (lm_set_in(h->e, txn, chain, strlen(chain), uuid, ulen, err) != 0) {
        lm_abort(h->e, txn);
        return -1;
    }
    return lm_commit(h->e, txn, err);
}

static int lm_registry_get_uuid(void *self, const char *chain, char **uuid, xb_error_t *err)
{
    lm_t *h = self;
    if (!uuid)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL result pointer");
    *uuid = NULL;
    if (lm_check_pid(h, err) != 0)
        return -1;
    if (!chain || !*chain)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: empty chain");
    MDB_txn *txn;
    if (lm_begin(h->e, false, &txn, err) != 0)
        return -1;
    int rc = lm_chain_lookup(h->e, txn, chain, strlen(chain), uuid, err);
    lm_abort(h->e, txn);
    if (rc == 0 || rc == -2)
        return xb_error_set(err, XB_ERR_NOTFOUND, 0,
                            "backend manager: no uuid registered for %s", chain);
    return rc == 1 ? 0 : -1;
}

static int lm_registry_get_chain(void *self, const char *uuid, char **chain, xb_error_t *err)
{
    lm_t *h = self;
    size_t ulen = 0;
    if (!chain)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL result pointer");
    *chain = NULL;
    MDB_txn *txn;
    if (lm_start(h, lm_uuid_len, uuid, &ulen, false, &txn, err) != 0)
        return -1;
    int rc = lm_uuid_lookup(h->e, txn, uuid, ulen, chain, err);
    lm_abort(h->e, txn);
    if (rc == 0)
        return xb_error_set(err, XB_ERR_NOTFOUND, 0,
                            "backend manager: no chain registered for %s", uuid);
    return rc == 1 ? 0 : -1;
}

/* The body of registry_delete inside txn: removes uuid -> chain and its
 * chain -> uuid partner. *deleted says whether the uuid was registered. */
static int lm_unregister_in(lm_env_t *e, MDB_txn *txn, const char *uuid, size_t ulen,
                            bool *deleted, xb_error_t *err)
{
    *deleted = false;
    char *chain = NULL;
    int rc = lm_uuid_lookup(e, txn, uuid, ulen, &chain, err);
    if (rc <= 0)
        return rc;
    MDB_val k = {.mv_size = ulen, .mv_data = (void *)uuid};
    int mrc = mdb_del(txn, e->dbi[DB_UUID], &k, NULL);
    rc = mrc != 0 ? lm_fail(e, mrc, "deleting a registry entry", err)
                  : lm_unlink_chain(e, txn, chain, strlen(chain), uuid, ulen, err);
    free(chain);
    if (rc != 0)
        return -1;
    *deleted = true;
    return 0;
}

static int lm_registry_delete(void *self, const char *uuid, bool *deleted, xb_error_t *err)
{
    lm_t *h = self;
    size_t ulen = 0;
    bool ignored, found = false;
    if (!deleted)
        deleted = &ignored;
    *deleted = false;
    MDB_txn *txn;
    if (lm_start(h, lm_uuid_len, uuid, &ulen, true, &txn, err) != 0)
        return -1;
    if (lm_unregister_in(h->e, txn, uuid, ulen, &found, err) != 0) {
        lm_abort(h->e, txn);
        return -1;
    }
    if (!found) {
        lm_abort(h->e, txn); /* nothing changed */
        return 0;
    }
    if (lm_commit(h->e, txn, err) != 0)
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
static int lm_registry_apply(void *self, size_t n, const xb_registry_op_t *ops, xb_error_t *err)
{
    lm_t *h = self;
    if (n == 0)
        return 0;
    if (!ops)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL registry batch");
    if (lm_check_pid(h, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (lm_check_op(h->e, &ops[i], err) != 0)
            return -1;
    }
    MDB_txn *txn;
    if (lm_begin(h->e, true, &txn, err) != 0)
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
        lm_abort(h->e, txn);
        return -1;
    }
    return lm_commit(h->e, txn, err);
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
static int lm_registry_list_all(void *self, xb_pair_list_t *out, xb_error_t *err)
{
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL result pointer");
    out->items = NULL;
    out->count = 0;
    lm_pair_ctx_t c = {.out = out};
    if (lm_walk(self, DB_UUID, lm_collect_pair, &c, err) != 0) {
        xb_pair_list_free(out);
        return -1;
    }
    return 0;
}

static int lm_registry_clear(void *self, xb_error_t *err)
{
    static const int dbs[] = {DB_CHAIN, DB_UUID};
    return lm_drop(self, dbs, sizeof dbs / sizeof dbs[0], err);
}

/* ---- the rest -------------------------------------------------------------------- */

static int lm_ping(void *self, xb_error_t *err)
{
    lm_t *h = self;
    MDB_txn *txn;
    if (lm_start(h, NULL, NULL, NULL, false, &txn, err) != 0)
        return -1;
    lm_abort(h->e, txn);
    return 0;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int lm_flush_env(lm_env_t *e, xb_error_t *err);

static int lm_flush(void *self, xb_error_t *err)
{
    lm_t *h = self;
    if (h->pid != getpid())
        return xb_error_set(err, XB_ERR_BACKEND, 0,
                            "backend manager: handle used after a fork; open a new one");
    return lm_flush_env(h->e, err);
}

static int lm_info(void *self, xb_backend_info_t *out, xb_error_t *err)
{
    lm_t *h = self;
    lm_env_t *e = h->e;
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL result pointer");
    MDB_txn *txn;
    if (lm_start(h, NULL, NULL, NULL, false, &txn, err) != 0)
        return -1;
    size_t threads = 0, slots = 0, pairs = 0;
    int rc = 0;
    if (lm_entries(e, txn, DB_THREADS, &threads, err) != 0 ||
        lm_entries(e, txn, DB_SLOTS, &slots, err) != 0 ||
        lm_entries(e, txn, DB_UUID, &pairs, err) != 0)
        rc = -1;
    lm_abort(e, txn);
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

/* mkdir -p with mode 0700 for every folder it creates. */
static int lm_mkdirs(const char *path, xb_error_t *err)
{
    char buf[XB_PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "backend manager: path too long: %.64s...",
                            path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: cannot create %s: %s",
                                buf, strerror(errno));
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: cannot stat %s: %s", path,
                            strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return xb_error_set(err, XB_ERR_BACKEND, 0,
                            "backend manager: %s is not a folder (backend.path names the LMDB "
                            "environment folder)", path);
    return 0;
}

/* Opens the DBs (creating them) and checks the format marker, in one write
 * transaction. */
static int lm_open_dbs(lm_env_t *e, xb_error_t *err)
{
    MDB_txn *txn;
    if (lm_begin(e, true, &txn, err) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < DB__COUNT && rc == 0; i++) {
        rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &e->dbi[i]);
        if (rc != 0) {
            lm_abort(e, txn);
            return lm_fail(e, rc, "opening a database", err);
        }
    }
    MDB_val k = {.mv_size = 6, .mv_data = "format"}, v;
    rc = mdb_get(txn, e->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        v = (MDB_val){.mv_size = strlen(LM_FORMAT), .mv_data = LM_FORMAT};
        rc = mdb_put(txn, e->dbi[DB_META], &k, &v, 0);
    } else if (rc == 0 && !val_equals(&v, LM_FORMAT, strlen(LM_FORMAT))) {
        lm_abort(e, txn);
        return xb_error_set(err, XB_ERR_BACKEND, 0,
                            "backend manager: %s holds data of format %.*s; this xmlbus reads "
                            "format %s", e->path, (int)(v.mv_size > 16 ? 16 : v.mv_size),
                            (const char *)v.mv_data, LM_FORMAT);
    }
    if (rc != 0) {
        lm_abort(e, txn);
        return lm_fail(e, rc, "writing the format marker", err);
    }
    return lm_commit(e, txn, err);
}

/* Flushes what was committed since the last flush (MDB_NOSYNC): the pump
 * calls it every LM_SYNC_MS through the backend's flush op. */
static int lm_flush_env(lm_env_t *e, xb_error_t *err)
{
    if (!atomic_exchange(&e->dirty, false))
        return 0;
    int rc = mdb_env_sync(e->env, 1);
    if (rc != 0) {
        atomic_store(&e->dirty, true);
        return lm_fail(e, rc, "flushing to disk", err);
    }
    return 0;
}

static void lm_env_free(lm_env_t *e)
{
    if (!e)
        return;
    if (e->env && e->pid == getpid())
        lm_flush_env(e, NULL);
    if (e->env)
        mdb_env_close(e->env);
    pthread_rwlock_destroy(&e->resize);
    free(e);
}

/* Creates and opens a new environment (lm_envs_lock held). */
static lm_env_t *lm_env_open(const char *path, const struct stat *st, size_t map_size,
                             xb_error_t *err)
{
    lm_env_t *e = calloc(1, sizeof *e);
    if (!e) {
        lm_nomem(err);
        return NULL;
    }
    if (pthread_rwlock_init(&e->resize, NULL) != 0) {
        free(e);
        xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: cannot create a lock");
        return NULL;
    }
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->pid = getpid();
    copy_str(e->path, sizeof e->path, path);
    int rc = mdb_env_create(&e->env);
    if (rc != 0) {
        e->env = NULL;
        lm_fail(e, rc, "creating the environment", err);
        lm_env_free(e);
        return NULL;
    }
    /* map_size 0: keep the size stored in an existing environment (another
     * process may have configured more) but never less than the default. A
     * configured size is applied as given (LMDB keeps it >= the used size). */
    const char *step = "configuring the environment";
    if ((rc = mdb_env_set_maxdbs(e->env, DB__COUNT)) == 0 &&
        (rc = mdb_env_set_maxreaders(e->env, LM_MAX_READERS)) == 0 &&
        (map_size == 0 || (rc = mdb_env_set_mapsize(e->env, map_size)) == 0)) {
        step = "opening the environment";
        rc = mdb_env_open(e->env, path, LM_ENV_FLAGS, 0600);
    }
    if (rc == 0 && map_size == 0 && lm_map_size(e) < LM_DEFAULT_MAP_SIZE) {
        step = "setting the map size";
        rc = mdb_env_set_mapsize(e->env, LM_DEFAULT_MAP_SIZE);
    }
    if (rc != 0) {
        lm_fail(e, rc, step, err);
        lm_env_free(e);
        return NULL;
    }
    size_t maxkey = (size_t)mdb_env_get_maxkeysize(e->env);
    e->maxkey = maxkey < LM_KEY_CAP ? maxkey : LM_KEY_CAP;
    if (lm_open_dbs(e, err) != 0) {
        lm_env_free(e);
        return NULL;
    }
    e->refs = 1;
    return e;
}

static void lm_env_release(lm_env_t *e);

/* Frees the reader slots that dead processes left taken (a process that died
 * inside a read transaction); done at every open. */
static int lm_clear_stale_readers(lm_env_t *e, xb_error_t *err)
{
    int dead = 0;
    int rc = mdb_reader_check(e->env, &dead);
    if (rc != 0)
        return lm_fail(e, rc, "clearing stale readers", err);
    if (dead > 0)
        XB_INFO("backend", "manager: cleared %d stale reader slot(s) of dead processes at %s",
                dead, e->path);
    return 0;
}

/* Finds this process's environment for the folder or opens it (map_size 0 =
 * default; ignored when the environment is open in this process already). */
static lm_env_t *lm_env_acquire(const char *path, size_t map_size, xb_error_t *err)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(path, real)) {
        xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: cannot resolve %s: %s", path,
                     strerror(errno));
        return NULL;
    }
    if (stat(real, &st) != 0) {
        xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: cannot stat %s: %s", real,
                     strerror(errno));
        return NULL;
    }
    pid_t me = getpid();
    pthread_mutex_lock(&lm_envs_lock);
    lm_env_t *e = lm_envs;
    while (e && !(e->dev == st.st_dev && e->ino == st.st_ino && e->pid == me))
        e = e->next;
    if (e) {
        e->refs++;
    } else if ((e = lm_env_open(real, &st, map_size, err))) {
        e->next = lm_envs;
        lm_envs = e;
    }
    pthread_mutex_unlock(&lm_envs_lock);
    if (e && lm_clear_stale_readers(e, err) != 0) {
        lm_env_release(e);
        return NULL;
    }
    return e;
}

static void lm_env_release(lm_env_t *e)
{
    pthread_mutex_lock(&lm_envs_lock);
    if (--e->refs > 0) {
        pthread_mutex_unlock(&lm_envs_lock);
        return;
    }
    for (lm_env_t **p = &lm_envs; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    pthread_mutex_unlock(&lm_envs_lock);
    lm_env_free(e);
}

static void lm_close(void *self)
{
    lm_t *h = self;
    if (!h)
        return;
    /* In a forked child the environment is the parent's: leave it alone. */
    if (h->pid == getpid())
        lm_env_release(h->e);
    free(h);
}

static const xb_backend_ops_t lmdb_ops = {
    .name = "manager",
    .buffer_append = lm_append,
    .buffer_append_batch = lm_append_batch,
    .buffer_get_thread = lm_get_thread,
    .buffer_get_slot = lm_get_slot,
    .buffer_thread_len = lm_thread_len_op,
    .buffer_thread_exists = lm_thread_exists,
    .buffer_delete_thread = lm_delete_thread,
    .buffer_list_threads = lm_list_threads,
    .buffer_clear = lm_clear,
    .registry_set = lm_registry_set,
    .registry_get_uuid = lm_registry_get_uuid,
    .registry_get_chain = lm_registry_get_chain,
    .registry_delete = lm_registry_delete,
    .registry_apply = lm_registry_apply,
    .registry_list_all = lm_registry_list_all,
    .registry_clear = lm_registry_clear,
    .ping = lm_ping,
    .info = lm_info,
    .flush = lm_flush,
    .close = lm_close,
};

void *xb_backend_lmdb_open(const xb_backend_config_t *cfg, const xb_backend_ops_t **ops,
                           xb_error_t *err)
{
    if (!cfg || !ops) {
        xb_error_set(err, XB_ERR_ARG, 0, "backend manager: NULL argument");
        return NULL;
    }
    if (!cfg->path[0] || !memchr(cfg->path, '\0', sizeof cfg->path)) {
        xb_error_set(err, XB_ERR_CONFIG, 0,
                     "backend manager: backend.path (the LMDB folder) is not set");
        return NULL;
    }
    if (cfg->max_slots_per_thread < 0 || cfg->max_threads < 0) {
        xb_error_set(err, XB_ERR_CONFIG, 0, "backend manager: limits must not be negative");
        return NULL;
    }
    if (lm_mkdirs(cfg->path, err) != 0)
        return NULL;
    lm_t *h = calloc(1, sizeof *h);
    if (!h) {
        lm_nomem(err);
        return NULL;
    }
    h->pid = getpid();
    h->max_slots_per_thread = cfg->max_slots_per_thread;
    h->max_threads = cfg->max_threads;
    h->max_slot_bytes = cfg->max_slot_bytes;
    atomic_init(&h->evicted_threads, 0);
    atomic_init(&h->limit_refusals, 0);
    h->e = lm_env_acquire(cfg->path, cfg->map_size, err);
    if (!h->e) {
        free(h);
        return NULL;
    }
    *ops = &lmdb_ops;
    return h;
}
