/* UTF-8 and the characters XML 1.0 can carry, for the hardened XML intake
 * (include/xmlbus/xmlsafe.h, docs/envelope.md). */
#include "xmlsafe_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Decodes one UTF-8 sequence of s (n > 0 bytes available). Returns its length
 * and the code point, or 0 if the sequence is invalid (truncated, overlong,
 * surrogate, above U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xC2 || c > 0xF4)
        return 0;
    size_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n < len)
        return 0;
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) || v > 0x10FFFF ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static bool xml_char_ok(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* True when the 8 bytes at p are all printable ASCII (0x20 to 0x7F), read
 * as one word: a byte of 0x80 or more sets its top bit in w, and the lowest
 * byte below 0x20 sets it in w - 0x20.. (no borrow reaches it from the
 * bytes below, which are 0x20 or more). A borrow may flag a byte above it
 * that is fine: the caller then looks byte by byte, never the other way. */
static bool printable8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return ((w | (w - 0x2020202020202020ull)) & 0x8080808080808080ull) == 0;
}

/* i moved past the whole words of printable ASCII that start at s + i. */
static size_t skip_printable(const unsigned char *s, size_t i, size_t len)
{
    while (len - i >= 8 && printable8(s + i))
        i += 8;
    return i;
}

/* Offset of the first invalid UTF-8 sequence or character XML does not
 * allow, or len. libxml2 refuses such characters too, except NUL: there it
 * stops reading as if the document ended, and would accept "<a/>\0junk".
 * *cp gets the character when the bytes were valid UTF-8, else -1. */
size_t xb_xml_text_invalid_at(const unsigned char *s, size_t len, long *cp)
{
    size_t i = 0;
    *cp = -1;
    while (i < len) {
        i = skip_printable(s, i, len);
        if (i == len)
            break;
        if (s[i] >= 0x20 && s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t c;
        size_t n = utf8_decode(s + i, len - i, &c);
        if (n == 0)
            return i;
        if (!xml_char_ok(c)) {
            *cp = (long)c;
            return i;
        }
        i += n;
    }
    return len;
}

bool xb_xml_text_ok(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    if (!s)
        return len == 0;
    size_t i = 0;
    while (i < len) {
        i = skip_printable(u, i, len);
        if (i == len)
            break;
        uint32_t cp;
        size_t n = utf8_decode(u + i, len - i, &cp);
        if (n == 0 || !xml_char_ok(cp))
            return false;
        i += n;
    }
    return true;
}

char *xb_xml_text_sanitize(const char *s)
{
    if (!s)
        s = "";
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1); /* each bad byte may become 3 bytes */
    if (!out)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(u + i, len - i, &cp);
        if (n > 0 && xml_char_ok(cp)) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
            continue;
        }
        memcpy(out + o, "\xEF\xBF\xBD", 3); /* U+FFFD */
        o += 3;
        i += n > 0 ? n : 1;
    }
    out[o] = '\0';
    return out;
}
