/* Temporary folders for tests that need real files (LMDB environments, a
 * pump's organism.yaml and log, a redis-server's directory ...).
 *
 * xbt_tmpdir_make creates a fresh, empty folder /tmp/xb-<tag>-XXXXXX (mode
 * 0700); xbt_rmtree deletes a folder under /tmp and everything below it,
 * without following symbolic links.
 *
 * Header only, because tests/support/redis_server.c is also built into the
 * benchmark without the rest of the test helpers. */
#ifndef XBT_TMP_H
#define XBT_TMP_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes the new folder's path into buf (size bytes). tag names the test in
 * the folder name (letters, digits, '-'; NULL = "test"). Returns 0, or -1
 * with errno set. */
static inline int xbt_tmpdir_make(char *buf, size_t size, const char *tag)
{
    if (!buf) {
        errno = EINVAL;
        return -1;
    }
    int n = snprintf(buf, size, "/tmp/xb-%s-XXXXXX", tag && *tag ? tag : "test");
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(buf) ? 0 : -1;
}

/* The same as a string the caller frees, or NULL. */
static inline char *xbt_tmpdir(const char *tag)
{
    char buf[256];
    return xbt_tmpdir_make(buf, sizeof buf, tag) == 0 ? strdup(buf) : NULL;
}

static inline int xbt_rmtree_entry_(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes path recursively. A missing path (or NULL) is not an error.
 * Refuses (returns -1, errno EINVAL) anything outside /tmp/. Returns 0 or -1. */
static inline int xbt_rmtree(const char *path)
{
    if (!path)
        return 0;
    /* A guard: this deletes trees, so only ever temporary ones. */
    if (strncmp(path, "/tmp/", 5) != 0 || strstr(path, "/..")) {
        errno = EINVAL;
        return -1;
    }
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    return nftw(path, xbt_rmtree_entry_, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
