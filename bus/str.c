/* Small string helpers (see include/xmlbus/str.h). */
#include "str.h"

#include <string.h>

size_t xb_strlcpy(char *dst, const char *src, size_t cap)
{
    if (!dst || cap == 0)
        return 0;
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

size_t xb_u64_to_dec(char *buf, unsigned long long v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}
