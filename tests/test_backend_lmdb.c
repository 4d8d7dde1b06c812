/* Tests of the `manager` backend (bus/backend_lmdb*.c): the shared backend suite
 * on a real LMDB environment in a fresh temp folder per test, plus what only
 * LMDB has: persistence across a reopen, a full map, several processes
 * writing one environment at once, a map grown by another process, stale
 * readers of dead processes, hashed keys of long chains and eviction order
 * that survives a restart. */
#include "backend_suite.h"
#include "xbt.h"
#include "xmlbus/backend.h"
#include "log.h"
#include "xbt_main.h"

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_TIMEOUT_S 120

/* ---- helpers -------------------------------------------------------------------- */

static void manager_config(xb_backend_config_t *cfg, const char *path)
{
    xb_backend_config_defaults(cfg);
    cfg->type = XB_BACKEND_MANAGER;
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
}

static xb_backend_t *open_at(const char *path, size_t map_size)
{
    xb_backend_config_t cfg;
    manager_config(&cfg, path);
    cfg.map_size = map_size;
    xb_error_t err;
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    if (!b)
        fprintf(stderr, "open %s failed: %s\n", path, err.message);
    return b;
}

static xb_backend_t *open_cfg(const xb_backend_config_t *cfg)
{
    xb_error_t err;
    xb_backend_t *b = xb_backend_new(cfg, &err);
    if (!b)
        fprintf(stderr, "open %s failed: %s\n", cfg->path, err.message);
    return b;
}

/* Every test of the "lmdb" suite gets a fresh temp folder, made by the suite's
 * setup and removed by its teardown, even when a fatal assertion ends the
 * test early. */
static char test_dir[256];

static void dir_setup(void)
{
    if (xbt_tmpdir_make(test_dir, sizeof test_dir, "lmdb") != 0) {
        test_dir[0] = '\0';
        fprintf(stderr, "cannot make a temp folder: %s\n", strerror(errno));
    }
}

static void dir_teardown(void)
{
    if (test_dir[0] && xbt_rmtree(test_dir) != 0)
        fprintf(stderr, "cannot remove %s: %s\n", test_dir, strerror(errno));
    test_dir[0] = '\0';
}

/* The test's folder; fails the test when setup could not make it. */
#define TEST_DIR(dir)           \
    const char *dir = test_dir; \
    CU_ASSERT_FATAL(dir[0] != '\0')

static int append_str(xb_backend_t *b, const char *thread, const char *text, long *index)
{
    xb_error_t err;
    long ignored;
    int rc = xb_backend_buffer_append(b, thread, text, strlen(text), index ? index : &ignored,
                                      &err);
    if (rc != 0)
        fprintf(stderr, "append to %s failed: %s\n", thread, err.message);
    return rc;
}

static long len_of(xb_backend_t *b, const char *thread)
{
    xb_error_t err;
    long len = -1;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(b, thread, &len, &err), 0);
    return len;
}

static bool exists(xb_backend_t *b, const char *thread)
{
    xb_error_t err;
    bool e = false;
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_exists(b, thread, &e, &err), 0);
    return e;
}

static bool slot_is(xb_backend_t *b, const char *thread, long index, const char *text)
{
    xb_error_t err;
    xb_blob_t blob = {0};
    if (xb_backend_buffer_get_slot(b, thread, index, &blob, &err) != 0)
        return false;
    bool same = blob.len == strlen(text) && memcmp(blob.data, text, blob.len) == 0;
    free(blob.data);
    return same;
}

static char *uuid_of(xb_backend_t *b, const char *chain)
{
    xb_error_t err;
    char *uuid = NULL;
    if (xb_backend_registry_get_uuid(b, chain, &uuid, &err) != 0) {
        CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
        return NULL;
    }
    return uuid;
}

static char *chain_of(xb_backend_t *b, const char *uuid)
{
    xb_error_t err;
    char *chain = NULL;
    if (xb_backend_registry_get_chain(b, uuid, &chain, &err) != 0) {
        CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
        return NULL;
    }
    return chain;
}

static bool pair_is(xb_backend_t *b, const char *chain, const char *uuid)
{
    char *u = uuid_of(b, chain), *c = chain_of(b, uuid);
    bool ok = u && c && strcmp(u, uuid) == 0 && strcmp(c, chain) == 0;
    free(u);
    free(c);
    return ok;
}

static bool info_of(xb_backend_t *b, xb_backend_info_t *info)
{
    xb_error_t err;
    int rc = xb_backend_info(b, info, &err);
    CU_ASSERT_EQUAL(rc, 0);
    return rc == 0;
}

/* ---- child processes --------------------------------------------------------------- */

typedef int (*child_fn)(const char *dir, int k, void *arg);

/* Forks a child that waits until the parent closes the start pipe (NULL: no
 * wait), runs fn and leaves with its result through _exit (no atexit
 * handlers, no CUnit, nothing of the parent's state). */
static pid_t spawn(child_fn fn, const char *dir, int k, void *arg, const int *start)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (start) {
        close(start[1]); /* else this child's own copy keeps the pipe open */
        char c;
        while (read(start[0], &c, 1) < 0 && errno == EINTR)
            ;
    }
    _exit(fn(dir, k, arg));
}

/* Waits for a child (killing it after CHILD_TIMEOUT_S); its exit code or -1. */
static int wait_child(pid_t pid)
{
    int status = xbt_wait_exit(pid, CHILD_TIMEOUT_S * 1000);
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_child(child_fn fn, const char *dir, int k, void *arg)
{
    return wait_child(spawn(fn, dir, k, arg, NULL));
}

/* ---- the shared suite ---------------------------------------------------------------- */

static xb_backend_t *suite_open(const xb_backend_config_t *limits)
{
    char dir[256];
    if (xbt_tmpdir_make(dir, sizeof dir, "lmdb-suite") != 0)
        return NULL;
    xb_backend_config_t cfg;
    manager_config(&cfg, dir);
    xb_backend_suite_apply_limits(&cfg, limits);
    xb_backend_t *b = open_cfg(&cfg);
    if (!b)
        xbt_rmtree(dir);
    return b;
}

static void suite_close(xb_backend_t *b)
{
    char dir[XB_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", xb_backend_config(b)->path);
    xb_backend_destroy(&b);
    xbt_rmtree(dir);
}

/* ---- opening ------------------------------------------------------------------------- */

static void test_open_creates_folder(void)
{
    TEST_DIR(dir);
    char path[512], sub[512];
    snprintf(sub, sizeof sub, "%s/a", dir);
    snprintf(path, sizeof path, "%s/a/b/env", dir);
    xb_backend_t *b = open_at(path, 0);
    CU_ASSERT_PTR_NOT_NULL(b);
    struct stat st;
    const char *made[] = {sub, path};
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(stat(made[i], &st), 0);
        CU_ASSERT_TRUE(S_ISDIR(st.st_mode));
        CU_ASSERT_EQUAL(st.st_mode & 0077, 0); /* 0700: only the owner */
    }
    char data[600];
    snprintf(data, sizeof data, "%s/data.mdb", path);
    CU_ASSERT_EQUAL(stat(data, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0077, 0);
    xb_backend_destroy(&b);
    CU_ASSERT_PTR_NULL(b);
}

static void test_open_errors(void)
{
    TEST_DIR(dir);
    char file[512];
    snprintf(file, sizeof file, "%s/plain-file", dir);
    FILE *f = fopen(file, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    xb_backend_config_t cfg;
    manager_config(&cfg, file);
    xb_error_t err;
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, file));
    manager_config(&cfg, "");
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    /* A folder holding data of another format is refused, not misread. */
    char envdir[512];
    snprintf(envdir, sizeof envdir, "%s/env", dir);
    xb_backend_t *b = open_at(envdir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_backend_destroy(&b);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    CU_ASSERT_EQUAL_FATAL(mdb_env_create(&env), 0);
    CU_ASSERT_EQUAL(mdb_env_set_maxdbs(env, 8), 0);
    CU_ASSERT_EQUAL_FATAL(mdb_env_open(env, envdir, 0, 0600), 0);
    CU_ASSERT_EQUAL_FATAL(mdb_txn_begin(env, NULL, 0, &txn), 0);
    CU_ASSERT_EQUAL(mdb_dbi_open(txn, "xb.meta", 0, &dbi), 0);
    MDB_val k = {6, "format"}, v = {2, "99"};
    CU_ASSERT_EQUAL(mdb_put(txn, dbi, &k, &v, 0), 0);
    CU_ASSERT_EQUAL(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    manager_config(&cfg, envdir);
    CU_ASSERT_PTR_NULL(xb_backend_new(&cfg, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "format 99"));
}

static void test_info(void)
{
    TEST_DIR(dir);
    char real[PATH_MAX];
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(append_str(b, "t1", "a", NULL), 0);
    CU_ASSERT_EQUAL(append_str(b, "t1", "b", NULL), 0);
    CU_ASSERT_EQUAL(append_str(b, "t2", "c", NULL), 0);
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1", "u1", &err), 0);
    xb_backend_info_t info;
    if (info_of(b, &info)) {
        CU_ASSERT_EQUAL(info.threads, 2);
        CU_ASSERT_EQUAL(info.slots, 3);
        CU_ASSERT_EQUAL(info.registry_entries, 1);
        CU_ASSERT_EQUAL(info.ttl, -1);
        CU_ASSERT_STRING_EQUAL(info.type, "manager");
        CU_ASSERT_EQUAL(strncmp(info.server_version, "LMDB 0.9", 8), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(dir, real));
        CU_ASSERT_STRING_EQUAL(info.location, real);
    }
    CU_ASSERT_EQUAL(xb_backend_ping(b, &err), 0);
    xb_backend_destroy(&b);
}

/* ---- persistence ----------------------------------------------------------------------- */

static void test_reopen_persists(void)
{
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err;
    CU_ASSERT_EQUAL(append_str(b, "t", "zero", NULL), 0);
    CU_ASSERT_EQUAL(append_str(b, "t", "one", NULL), 0);
    CU_ASSERT_EQUAL(append_str(b, "u", "other", NULL), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.a", "uuid-a", &err), 0);
    xb_backend_destroy(&b);

    b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(len_of(b, "t"), 2);
    CU_ASSERT_TRUE(slot_is(b, "t", 0, "zero"));
    CU_ASSERT_TRUE(slot_is(b, "t", 1, "one"));
    CU_ASSERT_TRUE(slot_is(b, "u", 0, "other"));
    CU_ASSERT_TRUE(pair_is(b, "system.o.c-1.a", "uuid-a"));
    long index = -1;
    CU_ASSERT_EQUAL(append_str(b, "t", "two", &index), 0);
    CU_ASSERT_EQUAL(index, 2); /* the count was persisted too */
    xb_backend_destroy(&b);
}

/* Working memory lives in xb.wmem of the environment: it survives closing
 * and reopening, and a drop is committed like any write. */
static void test_wmem_reopen_persists(void)
{
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err;
    xb_wmem_entry_t es[] = {{"plan", "<plan/>", 7}, {"note", "<n>1</n>", 8}};
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "conv-a", 2, es, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "conv-b", 1, es, &err), 0);
    xb_backend_destroy(&b);

    b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_wmem_list_t l = {0};
    CU_ASSERT_EQUAL(xb_backend_wmem_list(b, "conv-a", &l, &err), 0);
    CU_ASSERT_EQUAL_FATAL(l.count, 2);
    CU_ASSERT_STRING_EQUAL(l.items[0].name, "note");
    CU_ASSERT_STRING_EQUAL(l.items[1].name, "plan");
    CU_ASSERT_TRUE(l.items[1].data.len == 7 && memcmp(l.items[1].data.data, "<plan/>", 7) == 0);
    xb_wmem_list_free(&l);
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "conv-a", &err), 0);
    xb_backend_destroy(&b);

    b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(xb_backend_wmem_list(b, "conv-a", &l, &err), 0);
    CU_ASSERT_EQUAL(l.count, 0);
    xb_blob_t out = {0};
    CU_ASSERT_EQUAL(xb_backend_wmem_get(b, "conv-b", "plan", &out, &err), 0);
    CU_ASSERT_TRUE(out.len == 7 && memcmp(out.data, "<plan/>", 7) == 0);
    free(out.data);
    xb_backend_destroy(&b);
}

/* A conversation must leave room in an LMDB key for '\0' and the longest
 * name: a longer one is refused (XB_ERR_ARG), not truncated. */
static void test_wmem_long_conversation(void)
{
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char conv[600];
    memset(conv, 'c', sizeof conv - 1);
    conv[sizeof conv - 1] = '\0';
    xb_error_t err;
    xb_wmem_entry_t e = {"a", "<a/>", 4};
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, conv, 1, &e, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "too long"));
    conv[511 - 1 - XB_WMEM_NAME_MAX] = '\0'; /* LMDB's default maximum key: 511 */
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, conv, 1, &e, &err), 0);
    xb_backend_destroy(&b);
}

/* The map size stored in the environment, read the way a new process sees it. */
static size_t stored_map_size(const char *dir)
{
    MDB_env *env;
    MDB_envinfo info = {0};
    if (mdb_env_create(&env) != 0)
        return 0;
    if (mdb_env_open(env, dir, MDB_RDONLY, 0600) != 0 || mdb_env_info(env, &info) != 0)
        info.me_mapsize = 0;
    mdb_env_close(env);
    return info.me_mapsize;
}

/* map_size 0 is 1 GiB for a new environment; an explicit size is applied.
 * (LMDB persists only increases of the size, so a larger map configured by
 * another process is never shrunk by a later opener.) */
static void test_default_map_size(void)
{
    TEST_DIR(dir);
    char sub[512];
    snprintf(sub, sizeof sub, "%s/small", dir);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(append_str(b, "t", "a", NULL), 0); /* a commit records the size */
    xb_backend_destroy(&b);
    CU_ASSERT_EQUAL(stored_map_size(dir), (size_t)1 << 30);
    b = open_at(sub, 2 * 1024 * 1024);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(append_str(b, "t", "a", NULL), 0);
    xb_backend_destroy(&b);
    CU_ASSERT_EQUAL(stored_map_size(sub), 2 * 1024 * 1024);
}

/* ---- a full map --------------------------------------------------------------------------- */

#define TINY_MAP (64 * 1024)

static void test_map_full(void)
{
    TEST_DIR(dir);
    char real[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(dir, real));
    xb_backend_t *b = open_at(dir, TINY_MAP);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char slot[1000];
    memset(slot, 's', sizeof slot);
    xb_error_t err = {0};

    /* A batch larger than the map stores none of its slots: it is one
     * transaction (one commit per slot would store the first few dozen). */
    enum { BATCH = 100 };
    const char *threads[BATCH];
    xb_blob_t slots[BATCH];
    long idx[BATCH];
    for (int i = 0; i < BATCH; i++) {
        threads[i] = i % 2 ? "batch-a" : "batch-b";
        slots[i].data = slot;
        slots[i].len = sizeof slot;
    }
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, BATCH, threads, slots, idx, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "LMDB map full at"));
    CU_ASSERT_EQUAL(idx[0], -1);
    CU_ASSERT_FALSE(exists(b, "batch-a"));
    CU_ASSERT_FALSE(exists(b, "batch-b"));

    /* Single appends until the map is full. */
    long stored = 0, index = -1;
    int rc = 0;
    for (int i = 0; i < 1000 && rc == 0; i++) {
        rc = xb_backend_buffer_append(b, "full", slot, sizeof slot, &index, &err);
        if (rc == 0)
            stored++;
    }
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_TRUE(stored > 0);
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "LMDB map full at"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, real));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "map_size 65536 bytes"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "backend.map_size"));

    /* The aborted transaction left everything readable and consistent. */
    CU_ASSERT_EQUAL(len_of(b, "full"), stored);
    xb_blob_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_get_thread(b, "full", &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, (size_t)stored);
    xb_blob_list_free(&list);
    CU_ASSERT_EQUAL(xb_backend_ping(b, &err), 0);
    xb_backend_info_t info;
    if (info_of(b, &info))
        CU_ASSERT_EQUAL(info.slots, stored);
    xb_backend_destroy(&b);

    /* And it reopens with everything committed before the failure. */
    b = open_at(dir, TINY_MAP);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(len_of(b, "full"), stored);
    xb_backend_destroy(&b);
}

/* ---- several processes ---------------------------------------------------------------------- */

#define PROCS 4
#define PER_PROC 500

/* Child k: its own environment, PER_PROC slots to "shared" and to "own-k",
 * interleaved. 0 = all stored. */
static int child_writer(const char *dir, int k, void *arg)
{
    (void)arg;
    xb_backend_t *b = open_at(dir, 0);
    if (!b)
        return 10;
    char own[32], text[64];
    snprintf(own, sizeof own, "own-%d", k);
    for (int i = 0; i < PER_PROC; i++) {
        snprintf(text, sizeof text, "p%d:%d", k, i);
        if (append_str(b, "shared", text, NULL) != 0 || append_str(b, own, text, NULL) != 0)
            return 11;
    }
    xb_backend_destroy(&b);
    return 0;
}

static void test_processes_lose_nothing(void)
{
    TEST_DIR(dir);
    /* The parent keeps its own environment open across the forks: the
     * children must not reuse it. */
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    int start[2];
    CU_ASSERT_EQUAL_FATAL(pipe(start), 0);
    pid_t pids[PROCS];
    for (int k = 0; k < PROCS; k++)
        pids[k] = spawn(child_writer, dir, k, NULL, start);
    close(start[1]); /* all children start writing at once */
    close(start[0]);
    for (int k = 0; k < PROCS; k++)
        CU_ASSERT_EQUAL(wait_child(pids[k]), 0);
    /* The parent's environment sees the children's commits... */
    CU_ASSERT_EQUAL(len_of(b, "shared"), PROCS * PER_PROC);
    xb_backend_destroy(&b);

    /* ...and so does a fresh one. */
    b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(len_of(b, "shared"), PROCS * PER_PROC);
    xb_error_t err;
    xb_blob_list_t list = {0};
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_get_thread(b, "shared", &list, &err), 0);
    CU_ASSERT_EQUAL_FATAL(list.count, (size_t)(PROCS * PER_PROC));
    /* Every (child, i) exactly once, each child's slots in its own order. */
    int next[PROCS] = {0};
    int bad = 0;
    for (size_t n = 0; n < list.count; n++) {
        char text[64];
        int k = -1, i = -1;
        size_t len = list.items[n].len < sizeof text - 1 ? list.items[n].len : sizeof text - 1;
        memcpy(text, list.items[n].data, len);
        text[len] = '\0';
        if (sscanf(text, "p%d:%d", &k, &i) != 2 || k < 0 || k >= PROCS || i != next[k])
            bad++;
        else
            next[k]++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    for (int k = 0; k < PROCS; k++)
        CU_ASSERT_EQUAL(next[k], PER_PROC);
    xb_blob_list_free(&list);
    /* Indexes are contiguous: the last one is there, one past it is not. */
    xb_blob_t blob = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, "shared", PROCS * PER_PROC - 1, &blob, &err), 0);
    free(blob.data);
    blob.data = NULL;
    CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, "shared", PROCS * PER_PROC, &blob, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    for (int k = 0; k < PROCS; k++) {
        char own[32], text[64];
        snprintf(own, sizeof own, "own-%d", k);
        CU_ASSERT_EQUAL(len_of(b, own), PER_PROC);
        snprintf(text, sizeof text, "p%d:%d", k, PER_PROC - 1);
        CU_ASSERT_TRUE(slot_is(b, own, PER_PROC - 1, text));
    }
    xb_backend_info_t info;
    if (info_of(b, &info)) {
        CU_ASSERT_EQUAL(info.threads, PROCS + 1);
        CU_ASSERT_EQUAL(info.slots, 2 * PROCS * PER_PROC);
    }
    xb_backend_destroy(&b);
}

/* A handle used in a forked child fails cleanly instead of corrupting LMDB's
 * lock state. 0 = refused as expected. */
static int child_uses_parent_handle(const char *dir, int k, void *arg)
{
    (void)dir;
    (void)k;
    xb_backend_t *b = arg;
    xb_error_t err;
    if (xb_backend_ping(b, &err) != -1 || err.code != XB_ERR_BACKEND ||
        !strstr(err.message, "forked"))
        return 1;
    long index;
    if (xb_backend_buffer_append(b, "t", "x", 1, &index, &err) != -1)
        return 2;
    xb_backend_destroy(&b); /* frees the handle only */
    return 0;
}

static void test_fork_refuses_parent_handle(void)
{
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(run_child(child_uses_parent_handle, dir, 0, b), 0);
    CU_ASSERT_EQUAL(append_str(b, "t", "parent", NULL), 0); /* still fine here */
    CU_ASSERT_EQUAL(len_of(b, "t"), 1);
    xb_backend_destroy(&b);
}

/* Commits do not wait for the disk; flush has them written (the pump calls
 * it every 50 ms) by the environment's flusher thread, so it returns at
 * once. It succeeds with and without pending commits, flushes asked for
 * while one runs are all answered, a handle used after a fork refuses it
 * like everything else, and closing waits for the flusher and writes the
 * rest. */
static void test_flush(void)
{
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_flush(b, &err), 0); /* nothing to flush */
    CU_ASSERT_EQUAL(append_str(b, "t", "one", NULL), 0);
    CU_ASSERT_EQUAL(xb_backend_flush(b, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_flush(b, &err), 0);
    int failed = 0;
    for (int i = 0; i < 50; i++) {
        failed += append_str(b, "u", "more", NULL) != 0;
        failed += xb_backend_flush(b, &err) != 0;
    }
    CU_ASSERT_EQUAL(failed, 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        xb_error_t e;
        _exit(xb_backend_flush(b, &e) == -1 && e.code == XB_ERR_BACKEND ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    xb_backend_destroy(&b);
    b = open_at(dir, 0); /* what was flushed and closed is there */
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_TRUE(slot_is(b, "t", 0, "one"));
    CU_ASSERT_EQUAL(len_of(b, "u"), 50);
    xb_backend_destroy(&b);
}

/* Child: opens its own environment with a much larger map and fills more than
 * the parent's map holds. */
static int child_grows_map(const char *dir, int k, void *arg)
{
    (void)k;
    (void)arg;
    xb_backend_t *b = open_at(dir, 16u * 1024 * 1024);
    if (!b)
        return 10;
    static char slot[8192];
    memset(slot, 'g', sizeof slot);
    xb_error_t err;
    long index;
    for (int i = 0; i < 100; i++) {
        if (xb_backend_buffer_append(b, "grown", slot, sizeof slot, &index, &err) != 0) {
            fprintf(stderr, "child append failed: %s\n", err.message);
            return 11;
        }
    }
    xb_backend_destroy(&b);
    return 0;
}

static void test_map_grown_by_other_process(void)
{
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, 128 * 1024);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(append_str(b, "p", "before", NULL), 0);
    CU_ASSERT_EQUAL(run_child(child_grows_map, dir, 0, NULL), 0);
    /* 800 KiB of data now lies beyond this process's 128 KiB map: it must
     * adopt the grown map (MDB_MAP_RESIZED) and read and write on. */
    xb_error_t err;
    xb_blob_list_t list = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_get_thread(b, "grown", &list, &err), 0);
    CU_ASSERT_EQUAL(list.count, 100);
    xb_blob_list_free(&list);
    CU_ASSERT_EQUAL(append_str(b, "p", "after", NULL), 0);
    CU_ASSERT_TRUE(slot_is(b, "p", 1, "after"));
    xb_backend_destroy(&b);
}

/* Child: leaves a read transaction behind by dying with it open. */
static int child_dies_reading(const char *dir, int k, void *arg)
{
    (void)k;
    (void)arg;
    MDB_env *env;
    MDB_txn *txn;
    if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 8) != 0 ||
        mdb_env_open(env, dir, MDB_NOTLS, 0600) != 0 ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
        return 10;
    return 0; /* _exit with the reader slot still taken */
}

typedef struct {
    pid_t pid;
    bool seen;
} reader_search_t;

static int reader_line(const char *msg, void *ctx)
{
    reader_search_t *s = ctx;
    int pid;
    if (sscanf(msg, "%d", &pid) == 1 && pid == (int)s->pid)
        s->seen = true;
    return 0;
}

/* Child: 1 if the reader table lists process *arg, 0 if not. */
static int child_lists_reader(const char *dir, int k, void *arg)
{
    (void)k;
    reader_search_t s = {.pid = *(pid_t *)arg};
    MDB_env *env;
    if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 8) != 0 ||
        mdb_env_open(env, dir, MDB_NOTLS, 0600) != 0 || mdb_reader_list(env, reader_line, &s) < 0)
        return 10;
    mdb_env_close(env);
    return s.seen ? 1 : 0;
}

static int child_opens_backend(const char *dir, int k, void *arg)
{
    (void)k;
    (void)arg;
    xb_backend_t *b = open_at(dir, 0);
    if (!b)
        return 10;
    xb_backend_destroy(&b);
    return 0;
}

static void test_stale_readers_cleared(void)
{
    TEST_DIR(dir);
    /* Held open throughout so that the lock file (and its reader table) is
     * not reset by a later first opener. */
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    pid_t dead = spawn(child_dies_reading, dir, 0, NULL, NULL);
    CU_ASSERT_EQUAL(wait_child(dead), 0);
    CU_ASSERT_EQUAL(run_child(child_lists_reader, dir, 0, &dead), 1); /* stale slot there */
    CU_ASSERT_EQUAL(run_child(child_opens_backend, dir, 0, NULL), 0);
    CU_ASSERT_EQUAL(run_child(child_lists_reader, dir, 0, &dead), 0); /* cleared at open */
    xb_backend_destroy(&b);
}

/* ---- one process -------------------------------------------------------------------------- */

/* Child: 0 if process *arg holds LMDB's "environment in use" lock (a shared
 * fcntl lock on byte 0 of lock.mdb), 1 if not. */
static int child_checks_lock(const char *dir, int k, void *arg)
{
    (void)k;
    char path[512];
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return 10;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    int rc = fcntl(fd, F_GETLK, &fl);
    close(fd);
    if (rc != 0)
        return 11;
    return fl.l_type != F_UNLCK && fl.l_pid == *(pid_t *)arg ? 0 : 1;
}

static void test_two_handles_share(void)
{
    TEST_DIR(dir);
    xb_backend_t *a = open_at(dir, 0);
    char again[512];
    snprintf(again, sizeof again, "%s/./", dir); /* another spelling, same folder */
    xb_backend_t *b = open_at(again, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(append_str(a, "t", "from a", NULL), 0);
    CU_ASSERT_TRUE(slot_is(b, "t", 0, "from a"));
    pid_t me = getpid();
    CU_ASSERT_EQUAL(run_child(child_checks_lock, dir, 0, &me), 0);
    /* Closing a must not close the environment under b: with two LMDB
     * environments on one file, that close would drop this process's file
     * locks, and the next process to open would reset the lock table. */
    xb_backend_destroy(&a);
    CU_ASSERT_EQUAL(run_child(child_checks_lock, dir, 0, &me), 0);
    CU_ASSERT_EQUAL(append_str(b, "t", "from b", NULL), 0);
    CU_ASSERT_EQUAL(len_of(b, "t"), 2);
    xb_backend_destroy(&b);
    a = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_TRUE(slot_is(a, "t", 1, "from b"));
    xb_backend_destroy(&a);
}

static void test_batch_indexes(void)
{
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(append_str(b, "y", "before", NULL), 0);
    enum { N = 60 };
    const char *threads[N];
    xb_blob_t slots[N];
    long idx[N];
    char text[N][16];
    for (int i = 0; i < N; i++) {
        threads[i] = i % 3 == 0 ? "x" : i % 3 == 1 ? "y" : "z";
        snprintf(text[i], sizeof text[i], "b%d", i);
        slots[i].data = text[i];
        slots[i].len = strlen(text[i]);
    }
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_backend_buffer_append_batch(b, N, threads, slots, idx, &err), 0);
    for (int i = 0; i < N; i++) {
        long want = i / 3 + (i % 3 == 1 ? 1 : 0); /* "y" already had one slot */
        CU_ASSERT_EQUAL(idx[i], want);
        CU_ASSERT_TRUE(slot_is(b, threads[i], idx[i], text[i]));
    }
    CU_ASSERT_EQUAL(len_of(b, "x"), N / 3);
    CU_ASSERT_EQUAL(len_of(b, "y"), N / 3 + 1);
    xb_backend_destroy(&b);
}

/* A limit refusal inside a batch keeps the slots before it and marks the
 * unstored ones with index -1. */
static void test_batch_refusal(void)
{
    TEST_DIR(dir);
    xb_backend_config_t cfg;
    manager_config(&cfg, dir);
    cfg.max_slots_per_thread = 2;
    xb_backend_t *b = open_cfg(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    const char *threads[] = {"x", "y", "x", "x", "y"};
    xb_blob_t slots[5];
    for (int i = 0; i < 5; i++) {
        slots[i].data = (char *)"s";
        slots[i].len = 1;
    }
    long idx[5];
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(b, 5, threads, slots, idx, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "thread x is full"));
    CU_ASSERT_EQUAL(idx[0], 0);
    CU_ASSERT_EQUAL(idx[1], 0);
    CU_ASSERT_EQUAL(idx[2], 1);
    CU_ASSERT_EQUAL(idx[3], -1);
    CU_ASSERT_EQUAL(idx[4], -1);
    CU_ASSERT_EQUAL(len_of(b, "x"), 2);
    CU_ASSERT_EQUAL(len_of(b, "y"), 1);
    xb_backend_info_t info;
    if (info_of(b, &info))
        CU_ASSERT_EQUAL(info.limit_refusals, 1);
    xb_backend_destroy(&b);
}

static void test_max_threads_evicts_oldest(void)
{
    TEST_DIR(dir);
    xb_backend_config_t cfg;
    manager_config(&cfg, dir);
    cfg.max_threads = 3;
    xb_backend_t *b = open_cfg(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    const char *names[] = {"t1", "t2", "t3"};
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(append_str(b, names[i], "a", NULL), 0);
        CU_ASSERT_EQUAL(append_str(b, names[i], "b", NULL), 0);
    }
    CU_ASSERT_EQUAL(append_str(b, "t1", "c", NULL), 0); /* a write does not make it younger */
    CU_ASSERT_EQUAL(append_str(b, "t4", "a", NULL), 0);
    CU_ASSERT_FALSE(exists(b, "t1"));
    CU_ASSERT_TRUE(exists(b, "t2"));
    CU_ASSERT_TRUE(exists(b, "t4"));
    xb_error_t err;
    xb_blob_t blob = {0};
    CU_ASSERT_EQUAL(xb_backend_buffer_get_slot(b, "t1", 0, &blob, &err), -1); /* slots gone */
    xb_backend_info_t info;
    if (info_of(b, &info)) {
        CU_ASSERT_EQUAL(info.threads, 3);
        CU_ASSERT_EQUAL(info.slots, 5);
        CU_ASSERT_EQUAL(info.evicted_threads, 1);
    }
    xb_backend_destroy(&b);

    /* The creation order is stored: after a restart t2 is the oldest. */
    b = open_cfg(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(append_str(b, "t5", "a", NULL), 0);
    CU_ASSERT_FALSE(exists(b, "t2"));
    CU_ASSERT_TRUE(exists(b, "t3"));
    /* A deleted thread leaves the order too; recreating it makes it newest. */
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_backend_buffer_delete_thread(b, "t3", &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    CU_ASSERT_EQUAL(append_str(b, "t3", "again", NULL), 0);
    CU_ASSERT_EQUAL(append_str(b, "t6", "a", NULL), 0);
    CU_ASSERT_FALSE(exists(b, "t4"));
    CU_ASSERT_TRUE(exists(b, "t3"));
    CU_ASSERT_TRUE(exists(b, "t5"));
    xb_backend_destroy(&b);
}

static void test_name_limits(void)
{
    TEST_DIR(dir);
    MDB_env *probe;
    CU_ASSERT_EQUAL_FATAL(mdb_env_create(&probe), 0);
    size_t maxkey = (size_t)mdb_env_get_maxkeysize(probe);
    mdb_env_close(probe);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char *name = malloc(maxkey + 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(name);
    size_t longest = maxkey - 9; /* thread + '\0' + 8 index bytes */
    memset(name, 't', longest);
    name[longest] = '\0';
    CU_ASSERT_EQUAL(append_str(b, name, "fits", NULL), 0);
    CU_ASSERT_TRUE(slot_is(b, name, 0, "fits"));
    name[longest] = 't';
    name[longest + 1] = '\0';
    xb_error_t err;
    long index;
    CU_ASSERT_EQUAL(xb_backend_buffer_append(b, name, "x", 1, &index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(xb_backend_buffer_thread_len(b, name, &index, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    /* uuids are keys too */
    memset(name, 'u', maxkey + 1);
    name[maxkey + 1] = '\0';
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "c", name, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    free(name);
    xb_backend_destroy(&b);
}

/* Chains longer than LMDB's key size are stored under a hashed key; they
 * still behave like any chain. */
static void test_long_chains(void)
{
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    size_t n = 5000;
    char *a = malloc(n + 8), *c = malloc(n + 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    for (size_t i = 0; i < n; i++)
        a[i] = c[i] = (char)('a' + i % 26);
    strcpy(a + n, ".alpha");
    strcpy(c + n, ".gamma"); /* same first 5000 bytes */
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, a, "ua", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, c, "uc", &err), 0);
    CU_ASSERT_TRUE(pair_is(b, a, "ua"));
    CU_ASSERT_TRUE(pair_is(b, c, "uc"));
    xb_pair_list_t pairs = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(b, &pairs, &err), 0);
    CU_ASSERT_EQUAL(pairs.count, 2);
    for (size_t i = 0; i < pairs.count; i++) {
        const char *want = strcmp(pairs.items[i].uuid, "ua") == 0 ? a : c;
        CU_ASSERT_STRING_EQUAL(pairs.items[i].chain, want);
    }
    xb_pair_list_free(&pairs);
    /* Replacing the uuid of a long chain drops the stale reverse entry. */
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, a, "ua2", &err), 0);
    CU_ASSERT_TRUE(pair_is(b, a, "ua2"));
    char *s = chain_of(b, "ua");
    CU_ASSERT_PTR_NULL(s);
    free(s);
    /* Moving a uuid from a long chain to a short one. */
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "short", "uc", &err), 0);
    s = uuid_of(b, c);
    CU_ASSERT_PTR_NULL(s);
    free(s);
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_backend_registry_delete(b, "ua2", &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    s = uuid_of(b, a);
    CU_ASSERT_PTR_NULL(s);
    free(s);
    xb_backend_info_t info;
    if (info_of(b, &info))
        CU_ASSERT_EQUAL(info.registry_entries, 1);
    free(a);
    free(c);
    xb_backend_destroy(&b);
}

/* Both directions of the registry are written in one transaction, so a
 * reader in another process sees both or neither. Here: a replace, checked
 * from a fresh environment after a restart. */
static void test_registry_pairs_after_replace(void)
{
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.a", "u1", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.a", "u2", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.b", "u3", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "system.o.c-1.c", "u3", &err), 0);
    xb_backend_destroy(&b);
    b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_TRUE(pair_is(b, "system.o.c-1.a", "u2"));
    CU_ASSERT_TRUE(pair_is(b, "system.o.c-1.c", "u3"));
    char *s = chain_of(b, "u1");
    CU_ASSERT_PTR_NULL(s);
    free(s);
    s = uuid_of(b, "system.o.c-1.b");
    CU_ASSERT_PTR_NULL(s);
    free(s);
    xb_pair_list_t pairs = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(b, &pairs, &err), 0);
    CU_ASSERT_EQUAL(pairs.count, 2);
    xb_pair_list_free(&pairs);
    /* Every chain -> uuid entry has its uuid -> chain partner. Read the raw
     * chain2uuid DB after closing the backend (one env per process). */
    xb_backend_destroy(&b);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi c2u, u2c;
    MDB_cursor *cur;
    CU_ASSERT_EQUAL_FATAL(mdb_env_create(&env), 0);
    CU_ASSERT_EQUAL(mdb_env_set_maxdbs(env, 8), 0);
    CU_ASSERT_EQUAL_FATAL(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    CU_ASSERT_EQUAL_FATAL(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    CU_ASSERT_EQUAL_FATAL(mdb_dbi_open(txn, "xb.chain2uuid", 0, &c2u), 0);
    CU_ASSERT_EQUAL_FATAL(mdb_dbi_open(txn, "xb.uuid2chain", 0, &u2c), 0);
    CU_ASSERT_EQUAL_FATAL(mdb_cursor_open(txn, c2u, &cur), 0);
    MDB_val k, v, back;
    int entries = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        entries++;
        CU_ASSERT_EQUAL(mdb_get(txn, u2c, &v, &back), 0);
        CU_ASSERT_TRUE(back.mv_size == k.mv_size &&
                       memcmp(back.mv_data, k.mv_data, k.mv_size) == 0);
    }
    CU_ASSERT_EQUAL(entries, 2);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

/* ---- registry batches --------------------------------------------------------------------- */

/* A registry batch is one transaction: when the map fills up in the middle,
 * none of it is applied (the pairs set before stay), and the error is the
 * single ops' clear map-full message. */
static void test_registry_apply_map_full(void)
{
    enum { N = 2000 };
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, TINY_MAP);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_set(b, "before", "u-before", &err), 0);
    char(*chains)[96] = calloc(N, sizeof *chains);
    char(*uuids)[64] = calloc(N, sizeof *uuids);
    xb_registry_op_t *ops = calloc(N + 1, sizeof *ops);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chains);
    CU_ASSERT_PTR_NOT_NULL_FATAL(uuids);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ops);
    ops[0] = (xb_registry_op_t){XB_REGISTRY_OP_DELETE, NULL, "u-before"};
    for (int i = 0; i < N; i++) {
        snprintf(chains[i], sizeof chains[i], "system.organism.conversation-%06d.alpha.beta", i);
        snprintf(uuids[i], sizeof uuids[i], "6a1f0c2e-1b2c-4d5e-8f90-%012d", i);
        ops[i + 1] = (xb_registry_op_t){XB_REGISTRY_OP_SET, chains[i], uuids[i]};
    }
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, N + 1, ops, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "LMDB map full at"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "backend.map_size"));
    CU_ASSERT_TRUE(pair_is(b, "before", "u-before"));
    char *s = uuid_of(b, chains[0]);
    CU_ASSERT_PTR_NULL(s);
    free(s);
    xb_backend_info_t info;
    if (info_of(b, &info))
        CU_ASSERT_EQUAL(info.registry_entries, 1);
    /* A batch that fits still works after the aborted one. */
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 11, ops, &err), 0);
    CU_ASSERT_TRUE(pair_is(b, chains[9], uuids[9]));
    if (info_of(b, &info))
        CU_ASSERT_EQUAL(info.registry_entries, 10);
    free(chains);
    free(uuids);
    free(ops);
    xb_backend_destroy(&b);
}

/* A uuid longer than an LMDB key anywhere in a batch refuses the whole
 * batch before anything is written; long chains are fine (hashed keys). */
static void test_registry_apply_name_limits(void)
{
    TEST_DIR(dir);
    MDB_env *probe;
    CU_ASSERT_EQUAL_FATAL(mdb_env_create(&probe), 0);
    size_t maxkey = (size_t)mdb_env_get_maxkeysize(probe);
    mdb_env_close(probe);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char *longname = malloc(maxkey + 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(longname);
    memset(longname, 'u', maxkey + 1);
    longname[maxkey + 1] = '\0';
    xb_error_t err = {0};
    const xb_registry_op_t set_long[] = {{XB_REGISTRY_OP_SET, "c1", "u1"},
                                         {XB_REGISTRY_OP_SET, "c2", longname}};
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 2, set_long, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    const xb_registry_op_t del_long[] = {{XB_REGISTRY_OP_SET, "c1", "u1"},
                                         {XB_REGISTRY_OP_DELETE, NULL, longname}};
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 2, del_long, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    char *s = uuid_of(b, "c1");
    CU_ASSERT_PTR_NULL(s);
    free(s);
    const xb_registry_op_t long_chain[] = {{XB_REGISTRY_OP_SET, longname, "u-long"},
                                           {XB_REGISTRY_OP_SET, "c1", "u1"}};
    CU_ASSERT_EQUAL(xb_backend_registry_apply(b, 2, long_chain, &err), 0);
    CU_ASSERT_TRUE(pair_is(b, longname, "u-long"));
    CU_ASSERT_TRUE(pair_is(b, "c1", "u1"));
    free(longname);
    xb_backend_destroy(&b);
}

/* ---- threads of one process ------------------------------------------------------------------ */

#define WRITERS 4
#define PER_WRITER 200

typedef struct {
    xb_backend_t *b;
    int failures;
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    for (int i = 0; i < PER_WRITER; i++) {
        xb_error_t err;
        xb_blob_list_t list = {0};
        if (append_str(w->b, "shared", "w", NULL) != 0 ||
            xb_backend_buffer_get_thread(w->b, "shared", &list, &err) != 0)
            w->failures++;
        xb_blob_list_free(&list);
    }
    return NULL;
}

static void test_threads_read_and_write(void)
{
    TEST_DIR(dir);
    xb_backend_t *b = open_at(dir, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    writer_t w[WRITERS] = {{0}};
    pthread_t tid[WRITERS];
    int started = 0;
    for (int k = 0; k < WRITERS; k++) {
        w[k].b = b;
        if (pthread_create(&tid[k], NULL, writer_main, &w[k]) == 0)
            started++;
    }
    CU_ASSERT_EQUAL_FATAL(started, WRITERS);
    for (int k = 0; k < WRITERS; k++) {
        pthread_join(tid[k], NULL);
        CU_ASSERT_EQUAL(w[k].failures, 0);
    }
    CU_ASSERT_EQUAL(len_of(b, "shared"), WRITERS * PER_WRITER);
    xb_backend_destroy(&b);
}

/* ---- suites ---------------------------------------------------------------------- */

static long wmem_count(xb_backend_t *b, const char *conversation)
{
    xb_wmem_list_t l = {0};
    xb_error_t err;
    long n = xb_backend_wmem_list(b, conversation, &l, &err) == 0 ? (long)l.count : -1;
    xb_wmem_list_free(&l);
    return n;
}

/* Working memory follows max_threads too: a put that gives one more
 * conversation memory drops the oldest conversation's (by first put, across
 * restarts); a drop takes a conversation out of the order. */
static void test_max_threads_evicts_oldest_memory(void)
{
    TEST_DIR(dir);
    xb_backend_config_t cfg;
    manager_config(&cfg, dir);
    cfg.max_threads = 2;
    xb_backend_t *b = open_cfg(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err;
    xb_wmem_entry_t es[] = {{"plan", "<plan/>", 7}, {"note", "<n>1</n>", 8}};
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "conv-a", 2, es, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "conv-b", 1, es, &err), 0);
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "conv-a", 1, es, &err), 0); /* not made younger */
    CU_ASSERT_EQUAL(wmem_count(b, "conv-a"), 2);
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "conv-c", 1, es, &err), 0);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-a"), 0);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-b"), 1);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-c"), 1);
    xb_backend_destroy(&b);

    b = open_cfg(&cfg); /* the order is stored: conv-b is the oldest */
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "conv-c", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "conv-d", 2, es, &err), 0); /* room: nothing goes */
    CU_ASSERT_EQUAL(wmem_count(b, "conv-b"), 1);
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "conv-a", 1, es, &err), 0);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-b"), 0);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-d"), 2);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-a"), 1);
    xb_backend_destroy(&b);
}

/* Memory first written with a slot (append_all) enters the age order like a
 * put's: max_threads drops the oldest conversation's memory. */
static void test_append_all_memory_age(void)
{
    TEST_DIR(dir);
    xb_backend_config_t cfg;
    manager_config(&cfg, dir);
    cfg.max_threads = 2;
    xb_backend_t *b = open_cfg(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    xb_error_t err;
    xb_wmem_entry_t e = {"plan", "<plan/>", 7};
    const char *threads[] = {"t-a", "t-b"};
    xb_blob_t slots[] = {{"<a/>", 4}, {"<b/>", 4}};
    xb_wmem_batch_t w[] = {{"conv-a", 1, &e}, {"conv-b", 1, &e}};
    long idx[2];
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, 2, threads, slots, NULL, w, idx, &err), 0);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-a"), 1);
    CU_ASSERT_EQUAL(xb_backend_wmem_put(b, "conv-c", 1, &e, &err), 0);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-a"), 0);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-b"), 1);
    xb_wmem_batch_t d = {"conv-d", 1, &e};
    CU_ASSERT_EQUAL(xb_backend_buffer_append_all(b, 1, threads, slots, NULL, &d, idx, &err), 0);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-b"), 0);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-c"), 1);
    CU_ASSERT_EQUAL(wmem_count(b, "conv-d"), 1);
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "conv-c", &err), 0);
    CU_ASSERT_EQUAL(xb_backend_wmem_drop(b, "conv-d", &err), 0);
    xb_backend_destroy(&b);
}

static const xbt_test_t lmdb_tests[] = {
    {"open creates the folder with parents, mode 0700", test_open_creates_folder},
    {"open errors: a file, no path, another format", test_open_errors},
    {"info", test_info},
    {"flush writes commits; refused after a fork", test_flush},
    {"reopen keeps slots, counts and the registry", test_reopen_persists},
    {"reopen keeps working memory", test_wmem_reopen_persists},
    {"working memory of a too long conversation", test_wmem_long_conversation},
    {"append_all: memory enters the age order", test_append_all_memory_age},
    {"map_size: 0 is 1 GiB, a given size is applied", test_default_map_size},
    {"a full map is an error, reads still work", test_map_full},
    {"4 processes x 500 appends lose nothing", test_processes_lose_nothing},
    {"a forked child cannot use its parent's handle", test_fork_refuses_parent_handle},
    {"a map grown by another process is adopted", test_map_grown_by_other_process},
    {"stale readers of dead processes are cleared at open", test_stale_readers_cleared},
    {"two handles in one process share the environment", test_two_handles_share},
    {"batch append indexes", test_batch_indexes},
    {"a refusal inside a batch", test_batch_refusal},
    {"max_threads evicts the oldest, across restarts", test_max_threads_evicts_oldest},
    {"max_threads evicts the oldest working memory too", test_max_threads_evicts_oldest_memory},
    {"thread and uuid length limits", test_name_limits},
    {"chains longer than a key", test_long_chains},
    {"registry pairs stay consistent after replace", test_registry_pairs_after_replace},
    {"a registry batch that fills the map applies nothing", test_registry_apply_map_full},
    {"a registry batch with a too long uuid applies nothing", test_registry_apply_name_limits},
    {"threads read and write at once", test_threads_read_and_write},
    {NULL, NULL},
};

static int contract_init(void)
{
    xbt_log_errors_only();
    return xb_backend_suite_use(suite_open, suite_close);
}

XBT_SUITES({"backend suite on lmdb", contract_init, xb_backend_suite_done, NULL, NULL,
            xb_backend_suite_tests},
           {"working memory on lmdb", contract_init, xb_backend_suite_done, NULL, NULL,
            xb_backend_suite_wmem_tests},
           {"lmdb", xbt_log_errors_only, NULL, dir_setup, dir_teardown, lmdb_tests});
