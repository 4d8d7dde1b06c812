/* Temporary folders for tests (see lmdb_tmp.h). */
#include "lmdb_tmp.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TMP_PREFIX "/tmp/xb-"

int xb_lmdb_tmp_make(char *buf, size_t size, const char *tag)
{
    if (!buf) {
        errno = EINVAL;
        return -1;
    }
    int n = snprintf(buf, size, TMP_PREFIX "%s-XXXXXX", tag && *tag ? tag : "test");
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(buf) ? 0 : -1; /* mkdtemp creates it with mode 0700 */
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int xb_lmdb_tmp_remove(const char *path)
{
    /* A guard: this deletes trees, so only ever ones that xb_lmdb_tmp_make made. */
    if (!path || strncmp(path, TMP_PREFIX, strlen(TMP_PREFIX)) != 0 || strstr(path, "/..")) {
        errno = EINVAL;
        return -1;
    }
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
