/* UUIDs as xmlbus writes them: canonical, lower-case, version 4 (random).
 *
 * Threads and message ids are UUID4 strings of exactly 36 characters,
 * "xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx" with lower-case hex digits and Y one
 * of 8, 9, a, b (the RFC 4122 variant). Both functions are thread-safe. */
#ifndef XMLBUS_UUID_H
#define XMLBUS_UUID_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_UUID_LEN 36 /* characters, without the terminating NUL */

/* True if s is exactly a canonical lower-case UUID4 (no surrounding spaces,
 * no braces, no upper case). NULL is not canonical. */
XB_EXPORT bool xb_uuid_is_canonical(const char *s);

/* Fills out with n (at most 256) random bytes from a per-thread pool that
 * the kernel refills a page at a time (getrandom) and that a forked child
 * never shares. Returns 0, or -1 when no randomness is available. */
XB_EXPORT int xb_random_bytes(void *out, size_t n);

/* Writes a fresh random UUID4 (libuuid, lower case) and a NUL into out. */
XB_EXPORT void xb_uuid_new(char out[XB_UUID_LEN + 1]);

#ifdef __cplusplus
}
#endif
#endif
