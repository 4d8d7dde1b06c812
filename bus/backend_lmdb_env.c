/* The `manager` backend's LMDB environment (docs/backend-manager.md).
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
#include "backend_lmdb_internal.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define LM_DEFAULT_MAP_SIZE ((size_t)1 << 30)
#define LM_MAX_READERS 1024
#define LM_FORMAT "1"
#define LM_RESIZE_RETRIES 4
/* MDB_NOTLS: read transactions are not tied to a thread. MDB_NOSYNC: a commit
 * does not wait for the disk; the backend's flush op (called by the pump
 * every 50 ms) and closing the environment write what was committed. A
 * process crash loses nothing committed (the data is in the operating
 * system's cache); an operating-system crash or power loss may undo the
 * commits since the last flush, never corrupt the file. Waiting for the disk
 * at every commit made the pump ~50x slower. */
#define LM_ENV_FLAGS (MDB_NOTLS | MDB_NOSYNC)

static const char *const db_names[DB__COUNT] = {
    [DB_SLOTS] = "xb.slots",      [DB_THREADS] = "xb.threads", [DB_AGE] = "xb.age",
    [DB_CHAIN] = "xb.chain2uuid", [DB_UUID] = "xb.uuid2chain", [DB_META] = "xb.meta",
    [DB_JOURNAL] = "xb.journal",  [DB_WMEM] = "xb.wmem",       [DB_WMEM_AGE] = "xb.wmem.age",
};

/* Process-wide table of open environments (see the file comment). */
static pthread_mutex_t lm_envs_lock = PTHREAD_MUTEX_INITIALIZER;
static lm_env_t *lm_envs;

/* ---- errors ------------------------------------------------------------------ */

int xb_lm_nomem(xb_error_t *err)
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

int xb_lm_fail(const lm_env_t *e, int rc, const char *what, xb_error_t *err)
{
    if (rc == MDB_MAP_FULL)
        return xb_error_set(err, XB_ERR_BACKEND, 0,
                            "LMDB map full at %s (map_size %zu bytes); raise backend.map_size",
                            e->path, lm_map_size(e));
    return xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: %s failed at %s: %s", what,
                        e->path, mdb_strerror(rc));
}

int xb_lm_corrupt(const lm_env_t *e, const char *what, const char *name, xb_error_t *err)
{
    return xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: corrupt %s for %s at %s", what,
                        name, e->path);
}

int xb_lm_check_pid(const lm_t *h, xb_error_t *err)
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
        return xb_lm_fail(e, rc, "adopting the grown map size", err);
    XB_INFO("backend", "manager: map of %s grown by another process to %zu bytes", e->path,
            lm_map_size(e));
    return 0;
}

/* Begins a transaction and holds the resize lock (shared) until xb_lm_abort or
 * xb_lm_commit. */
int xb_lm_begin(lm_env_t *e, bool write, MDB_txn **txn, xb_error_t *err)
{
    for (int attempt = 0;; attempt++) {
        if (pthread_rwlock_rdlock(&e->resize) != 0)
            return xb_error_set(err, XB_ERR_BACKEND, 0, "backend manager: cannot lock %s", e->path);
        int rc = mdb_txn_begin(e->env, NULL, write ? 0 : MDB_RDONLY, txn);
        if (rc == 0)
            return 0;
        pthread_rwlock_unlock(&e->resize);
        if (rc != MDB_MAP_RESIZED || attempt >= LM_RESIZE_RETRIES)
            return xb_lm_fail(
                e, rc, write ? "beginning a write transaction" : "beginning a read transaction",
                err);
        if (lm_adopt_map_size(e, err) != 0)
            return -1;
    }
}

void xb_lm_abort(lm_env_t *e, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&e->resize);
}

int xb_lm_commit(lm_env_t *e, MDB_txn *txn, xb_error_t *err)
{
    int rc = mdb_txn_commit(txn); /* frees txn even when it fails */
    if (rc == 0)
        atomic_store(&e->dirty, true);
    pthread_rwlock_unlock(&e->resize);
    return rc == 0 ? 0 : xb_lm_fail(e, rc, "committing", err);
}

int xb_lm_start(lm_t *h, lm_key_fn keylen, const char *key, size_t *len, bool write, MDB_txn **txn,
                xb_error_t *err)
{
    if (xb_lm_check_pid(h, err) != 0 || (keylen && keylen(h->e, key, len, err) != 0))
        return -1;
    return xb_lm_begin(h->e, write, txn, err);
}

/* ---- whole DBs ---------------------------------------------------------------- */

int xb_lm_entries(lm_env_t *e, MDB_txn *txn, int db, size_t *n, xb_error_t *err)
{
    MDB_stat st;
    int rc = mdb_stat(txn, e->dbi[db], &st);
    if (rc != 0)
        return xb_lm_fail(e, rc, "reading statistics", err);
    *n = st.ms_entries;
    return 0;
}

int xb_lm_walk(lm_t *h, int db, lm_walk_fn fn, void *ctx, xb_error_t *err)
{
    lm_env_t *e = h->e;
    MDB_txn *txn;
    if (xb_lm_start(h, NULL, NULL, NULL, false, &txn, err) != 0)
        return -1;
    MDB_cursor *cur = NULL;
    int rc = 0, mrc = mdb_cursor_open(txn, e->dbi[db], &cur);
    if (mrc != 0)
        rc = xb_lm_fail(e, mrc, "opening a cursor", err);
    MDB_val k, v;
    for (MDB_cursor_op op = MDB_FIRST; rc == 0; op = MDB_NEXT) {
        mrc = mdb_cursor_get(cur, &k, &v, op);
        if (mrc == MDB_NOTFOUND)
            break;
        if (mrc != 0)
            rc = xb_lm_fail(e, mrc, "walking a database", err);
        else if (fn(ctx, &k, &v) != 0)
            rc = xb_lm_nomem(err);
    }
    if (cur)
        mdb_cursor_close(cur);
    xb_lm_abort(e, txn);
    return rc == 0 ? 0 : -1;
}

int xb_lm_drop(lm_t *h, const int *dbs, size_t n, xb_error_t *err)
{
    MDB_txn *txn;
    if (xb_lm_start(h, NULL, NULL, NULL, true, &txn, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int rc = mdb_drop(txn, h->e->dbi[dbs[i]], 0);
        if (rc != 0) {
            xb_lm_abort(h->e, txn);
            return xb_lm_fail(h->e, rc, "clearing a database", err);
        }
    }
    return xb_lm_commit(h->e, txn, err);
}

/* ---- opening and closing ------------------------------------------------------------ */

int xb_lm_mkdirs(const char *path, xb_error_t *err)
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
                            "environment folder)",
                            path);
    return 0;
}

/* Opens the DBs (creating them) and checks the format marker, in one write
 * transaction. */
static int lm_open_dbs(lm_env_t *e, xb_error_t *err)
{
    MDB_txn *txn;
    if (xb_lm_begin(e, true, &txn, err) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < DB__COUNT && rc == 0; i++) {
        rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &e->dbi[i]);
        if (rc != 0) {
            xb_lm_abort(e, txn);
            return xb_lm_fail(e, rc, "opening a database", err);
        }
    }
    MDB_val k = {.mv_size = 6, .mv_data = "format"}, v;
    rc = mdb_get(txn, e->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        v = (MDB_val){.mv_size = strlen(LM_FORMAT), .mv_data = LM_FORMAT};
        rc = mdb_put(txn, e->dbi[DB_META], &k, &v, 0);
    } else if (rc == 0 && !val_equals(&v, LM_FORMAT, strlen(LM_FORMAT))) {
        xb_lm_abort(e, txn);
        return xb_error_set(err, XB_ERR_BACKEND, 0,
                            "backend manager: %s holds data of format %.*s; this xmlbus reads "
                            "format %s",
                            e->path, (int)(v.mv_size > 16 ? 16 : v.mv_size),
                            (const char *)v.mv_data, LM_FORMAT);
    }
    if (rc != 0) {
        xb_lm_abort(e, txn);
        return xb_lm_fail(e, rc, "writing the format marker", err);
    }
    return xb_lm_commit(e, txn, err);
}

/* Writes what was committed since the last sync to disk (MDB_NOSYNC) and
 * waits for it. Returns 0 or LMDB's error (then still dirty). */
static int lm_sync(lm_env_t *e)
{
    if (!atomic_exchange(&e->dirty, false))
        return 0;
    /* Held shared like a transaction: adopting a grown map remaps it, and a
     * sync may read the map (it does with MDB_WRITEMAP, and in LMDB 1.0). */
    pthread_rwlock_rdlock(&e->resize);
    int rc = mdb_env_sync(e->env, 1);
    pthread_rwlock_unlock(&e->resize);
    if (rc != 0)
        atomic_store(&e->dirty, true);
    return rc;
}

/* The flusher thread: one sync per request. fdatasync takes the disk's time
 * (2 ms and more on a VM), which the pump's loop used to wait for every 50
 * ms; mdb_env_sync needs no lock beside a write transaction. */
static void *lm_flusher(void *arg)
{
    lm_env_t *e = arg;
    pthread_mutex_lock(&e->fl_lock);
    for (;;) {
        while (!e->fl_stop && !e->fl_wanted)
            pthread_cond_wait(&e->fl_cond, &e->fl_lock);
        if (e->fl_stop)
            break;
        e->fl_wanted = false;
        pthread_mutex_unlock(&e->fl_lock);
        int rc = lm_sync(e);
        pthread_mutex_lock(&e->fl_lock);
        if (rc != 0)
            e->fl_failed = rc;
    }
    pthread_mutex_unlock(&e->fl_lock);
    return NULL;
}

/* Starts the flusher (fl_lock held); false when it cannot run. It takes no
 * signal: the process's handlers run in its other threads. */
static bool lm_flusher_start(lm_env_t *e)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e->fl_started = pthread_create(&e->fl_thread, NULL, lm_flusher, e) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e->fl_started;
}

/* Asks for what was committed since the last flush to be written to disk:
 * the pump calls it every LM_SYNC_MS through the backend's flush op. The
 * flusher thread waits for the disk; this returns at once, with the error
 * of an earlier flush that failed (its commits are written by the next).
 * Without the thread it syncs here. */
int xb_lm_flush_env(lm_env_t *e, xb_error_t *err)
{
    pthread_mutex_lock(&e->fl_lock);
    int failed = e->fl_failed;
    e->fl_failed = 0;
    bool background = e->fl_started || lm_flusher_start(e);
    if (background) {
        e->fl_wanted = true;
        pthread_cond_signal(&e->fl_cond);
    }
    pthread_mutex_unlock(&e->fl_lock);
    if (!background && !failed)
        failed = lm_sync(e);
    return failed ? xb_lm_fail(e, failed, "flushing to disk", err) : 0;
}

/* Stops this process's flusher, if it runs (a forked child has none). */
static void lm_flusher_stop(lm_env_t *e)
{
    if (!e->fl_started || e->pid != getpid())
        return;
    pthread_mutex_lock(&e->fl_lock);
    e->fl_stop = true;
    pthread_cond_signal(&e->fl_cond);
    pthread_mutex_unlock(&e->fl_lock);
    pthread_join(e->fl_thread, NULL);
    e->fl_started = false;
}

static void lm_env_free(lm_env_t *e)
{
    if (!e)
        return;
    lm_flusher_stop(e);
    if (e->env && e->pid == getpid())
        lm_sync(e);
    if (e->env)
        mdb_env_close(e->env);
    pthread_cond_destroy(&e->fl_cond);
    pthread_mutex_destroy(&e->fl_lock);
    pthread_rwlock_destroy(&e->resize);
    free(e);
}

/* The environment's locks and the flusher's condition. Returns 0, or -1
 * with none of them made. */
static int lm_env_locks_init(lm_env_t *e)
{
    if (pthread_rwlock_init(&e->resize, NULL) != 0)
        return -1;
    if (pthread_mutex_init(&e->fl_lock, NULL) == 0) {
        if (pthread_cond_init(&e->fl_cond, NULL) == 0)
            return 0;
        pthread_mutex_destroy(&e->fl_lock);
    }
    pthread_rwlock_destroy(&e->resize);
    return -1;
}

/* Creates and opens a new environment (lm_envs_lock held). */
static lm_env_t *lm_env_open(const char *path, const struct stat *st, size_t map_size,
                             xb_error_t *err)
{
    lm_env_t *e = calloc(1, sizeof *e);
    if (!e) {
        xb_lm_nomem(err);
        return NULL;
    }
    if (lm_env_locks_init(e) != 0) {
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
        xb_lm_fail(e, rc, "creating the environment", err);
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
        xb_lm_fail(e, rc, step, err);
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

/* Frees the reader slots that dead processes left taken (a process that died
 * inside a read transaction); done at every open. */
static int lm_clear_stale_readers(lm_env_t *e, xb_error_t *err)
{
    int dead = 0;
    int rc = mdb_reader_check(e->env, &dead);
    if (rc != 0)
        return xb_lm_fail(e, rc, "clearing stale readers", err);
    if (dead > 0)
        XB_INFO("backend", "manager: cleared %d stale reader slot(s) of dead processes at %s", dead,
                e->path);
    return 0;
}

/* Finds this process's environment for the folder or opens it (map_size 0 =
 * default; ignored when the environment is open in this process already). */
lm_env_t *xb_lm_env_acquire(const char *path, size_t map_size, xb_error_t *err)
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
        xb_lm_env_release(e);
        return NULL;
    }
    return e;
}

void xb_lm_env_release(lm_env_t *e)
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
