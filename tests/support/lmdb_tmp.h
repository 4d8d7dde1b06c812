/* Temporary folders for tests that need real files (LMDB environments, ...).
 *
 * xb_lmdb_tmp_make creates a fresh, empty folder /tmp/xb-<tag>-XXXXXX (mode
 * 0700) and xb_lmdb_tmp_remove deletes a folder and everything below it,
 * without following symbolic links. */
#ifndef XB_TEST_LMDB_TMP_H
#define XB_TEST_LMDB_TMP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the new folder's path into buf (size bytes). tag names the test in
 * the folder name (letters, digits, '-'; NULL = "test"). Returns 0, or -1
 * with errno set. */
int xb_lmdb_tmp_make(char *buf, size_t size, const char *tag);

/* Removes path recursively. A missing path is not an error. Refuses (returns
 * -1, errno EINVAL) anything outside /tmp/xb-. Returns 0 or -1. */
int xb_lmdb_tmp_remove(const char *path);

#ifdef __cplusplus
}
#endif
#endif
