/* UUIDs as xmlbus writes them: canonical, lower-case, version 7.
 *
 * Threads and message ids are UUID strings of exactly 36 characters,
 * "xxxxxxxx-xxxx-Vxxx-Yxxx-xxxxxxxxxxxx" with lower-case hex digits, V the
 * version (4 or 7) and Y one of 8, 9, a, b (the RFC 9562 variant). xmlbus
 * makes version 7 (RFC 9562): 48 bits of Unix time in milliseconds, 12 bits
 * of the millisecond's fraction, 62 random bits, so that ids made later sort
 * later and the backends' indexes grow at one end. It accepts version 4
 * (random) from senders and older stores. All functions are thread-safe. */
#ifndef XMLBUS_UUID_H
#define XMLBUS_UUID_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_UUID_LEN 36 /* characters, without the terminating NUL */

/* True if s is exactly a canonical lower-case UUID of version 4 or 7 (no
 * surrounding spaces, no braces, no upper case). NULL is not canonical. */
XB_EXPORT bool xb_uuid_is_canonical(const char *s);

/* Fills out with n (at most 256) random bytes from a per-thread pool that
 * the kernel refills a page at a time (getrandom) and that a forked child
 * never shares. Returns 0, or -1 when no randomness is available. */
XB_EXPORT int xb_random_bytes(void *out, size_t n);

/* Writes a fresh version 7 UUID (lower case) and a NUL into out; a random
 * version 4 from libuuid when the kernel gives no random bytes. */
XB_EXPORT void xb_uuid_new(char out[XB_UUID_LEN + 1]);

/* Writes a fresh version 4 UUID (122 random bits, lower case) and a NUL into
 * out: for what must not be guessed or dated (process tokens, routing ids). */
XB_EXPORT void xb_uuid_new_random(char out[XB_UUID_LEN + 1]);

#ifdef __cplusplus
}
#endif
#endif
