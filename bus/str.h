/* Small string helpers for fixed-size buffers. */
#ifndef XMLBUS_STR_H
#define XMLBUS_STR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Copies src into dst (cap bytes, cap > 0), cutting it to cap - 1 bytes,
 * and NUL-terminates. NULL src copies "". Returns the bytes copied. The
 * same as snprintf(dst, cap, "%s", src) without the format machinery,
 * which costs as much as the rest of a routed message's bookkeeping. */
size_t xb_strlcpy(char *dst, const char *src, size_t cap);

/* Writes v in decimal and a NUL into buf (at least 21 bytes); returns the
 * digits written. */
size_t xb_u64_to_dec(char *buf, unsigned long long v);

#ifdef __cplusplus
}
#endif
#endif
