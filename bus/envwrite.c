/* Fast envelope writing around checked payload bytes (see envwrite.h). */
#include "envwrite.h"
#include "str.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmlbus/envelope.h"

/* Bytes text takes once escaped (& < > are all an element's text needs). */
static size_t escaped_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '&' ? 5 : (*s == '<' || *s == '>') ? 4 : 1;
    return n;
}

static char *put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

static char *put_escaped(char *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            o = put(o, "&amp;", 5);
        else if (*s == '<')
            o = put(o, "&lt;", 4);
        else if (*s == '>')
            o = put(o, "&gt;", 4);
        else
            *o++ = *s;
    }
    return o;
}

/* <q>text</q>; n is strlen(q). */
static char *put_element(char *o, const char *q, size_t n, const char *text)
{
    *o++ = '<';
    o = put(o, q, n);
    *o++ = '>';
    o = put_escaped(o, text);
    *o++ = '<';
    *o++ = '/';
    o = put(o, q, n);
    *o++ = '>';
    return o;
}

static size_t element_len(size_t qlen, const char *text)
{
    return 2 * qlen + 5 + escaped_len(text);
}

#define OPEN "<e:message xmlns:e=\"" XB_ENVELOPE_NS "\" xmlns:x=\"" XB_META_NS "\"><e:meta>"
#define CLOSE_META "</e:meta>"
#define CLOSE XB_ENVELOPE_CLOSE

/* One allocation of the exact size, then straight copies: this runs for
 * every delivery. */
int xb_envelope_write(const xb_envelope_fields_t *f, const char *payload, size_t payload_len,
                      char **out, size_t *len, xb_error_t *err)
{
    *out = NULL;
    if (!f || !f->from || !f->thread || !payload || payload_len == 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "an envelope needs from, thread and a payload");
    bool has_to = f->to && f->to[0];
    char ts[24], depth[16], again[16] = "";
    if (f->id && f->ts_us >= 0 && f->depth >= 0) {
        xb_u64_to_dec(ts, (unsigned long long)f->ts_us);
        xb_u64_to_dec(depth, (unsigned long long)f->depth);
    } else if (f->id) {
        snprintf(ts, sizeof ts, "%" PRId64, f->ts_us);
        snprintf(depth, sizeof depth, "%d", f->depth);
    }
    bool has_again = f->id && f->redelivered > 0;
    if (has_again)
        xb_u64_to_dec(again, (unsigned long long)f->redelivered);
    size_t n = sizeof OPEN - 1 + element_len(6, f->from) + (has_to ? element_len(4, f->to) : 0) +
               element_len(8, f->thread) +
               (f->id ? element_len(4, f->id) + element_len(4, ts) + element_len(7, depth) : 0) +
               (has_again ? element_len(13, again) : 0) + sizeof CLOSE_META - 1 + payload_len +
               sizeof CLOSE - 1;
    char *buf = malloc(n + 1);
    if (!buf)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "no memory for an envelope");
    char *o = put(buf, OPEN, sizeof OPEN - 1);
    o = put_element(o, "e:from", 6, f->from);
    if (has_to)
        o = put_element(o, "e:to", 4, f->to);
    o = put_element(o, "e:thread", 8, f->thread);
    if (f->id) {
        o = put_element(o, "x:id", 4, f->id);
        o = put_element(o, "x:ts", 4, ts);
        o = put_element(o, "x:depth", 7, depth);
    }
    if (has_again)
        o = put_element(o, "x:redelivered", 13, again);
    o = put(o, CLOSE_META, sizeof CLOSE_META - 1);
    o = put(o, payload, payload_len);
    o = put(o, CLOSE, sizeof CLOSE - 1);
    *o = '\0';
    *out = buf;
    *len = (size_t)(o - buf);
    return 0;
}

#define MARK_OPEN "<x:redelivered"
#define MARK_CLOSE "</x:redelivered>"

/* The end of the envelope's meta: "</e:meta>" as xb_envelope_write writes
 * it, or "</meta>" as libxml2 serializes a parsed envelope (the meta comes
 * before the payload, so the first one is the meta's). NULL: none. */
static const char *meta_end(const char *env, size_t len)
{
    const char *m = memmem(env, len, CLOSE_META, sizeof CLOSE_META - 1);
    return m ? m : memmem(env, len, "</meta>", 7);
}

char *xb_envelope_mark_redelivered(const char *env, size_t len, long n, size_t *out_len)
{
    const char *meta = meta_end(env, len);
    /* xb_envelope_write declares x: at the root; a serialized one may not */
    bool ours = meta && memcmp(meta, CLOSE_META, sizeof CLOSE_META - 1) == 0;
    char mark[128];
    int m = snprintf(mark, sizeof mark, "%s%ld" MARK_CLOSE,
                     ours ? MARK_OPEN ">" : MARK_OPEN " xmlns:x=\"" XB_META_NS "\">", n);
    const char *old = meta ? memmem(env, (size_t)(meta - env), MARK_OPEN, sizeof MARK_OPEN - 1)
                           : NULL;
    const char *old_end = old ? memmem(old, (size_t)(meta - old), MARK_CLOSE, sizeof MARK_CLOSE - 1)
                              : NULL;
    size_t pre = meta ? (size_t)(meta - env) : len, post = pre;
    if (old && old_end) {
        pre = (size_t)(old - env);
        post = (size_t)(old_end - env) + sizeof MARK_CLOSE - 1;
    }
    if (!meta)
        m = 0; /* not an envelope: as it was */
    size_t total = pre + (size_t)m + (len - post);
    char *out = malloc(total + 1);
    if (!out)
        return NULL;
    memcpy(out, env, pre);
    memcpy(out + pre, mark, (size_t)m);
    memcpy(out + pre + (size_t)m, env + post, len - post);
    out[total] = '\0';
    *out_len = total;
    return out;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skips a BOM, an XML declaration and white space. */
static const char *skip_prolog(const char *s, const char *end)
{
    if (end - s >= 3 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
        s += 3;
    while (s < end && is_ws(*s))
        s++;
    if (end - s >= 5 && memcmp(s, "<?xml", 5) == 0) {
        const char *q = memmem(s, (size_t)(end - s), "?>", 2);
        if (!q)
            return end;
        s = q + 2;
    }
    while (s < end && is_ws(*s))
        s++;
    return s;
}

bool xb_payload_ns_ok(const char *href)
{
    return !href || href[0] != '*' || href[1] == '\0';
}

int xb_payload_embeddable_bytes(const char *bytes, size_t len, const char **start, size_t *n)
{
    const char *end = bytes + len;
    const char *s = skip_prolog(bytes, end);
    while (end > s && is_ws(end[-1]))
        end--;
    if (end - s <= 1 || s[0] != '<' || s[1] == '?' || s[1] == '!')
        return -1;
    *start = s;
    *n = (size_t)(end - s);
    return 0;
}

int xb_payload_embeddable(xmlDocPtr doc, const char *bytes, size_t len, const char **start,
                          size_t *n, char **owned, xb_error_t *err)
{
    *owned = NULL;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root)
        return xb_error_set(err, XB_ERR_ARG, 0, "no payload element");
    if (root->ns && !xb_payload_ns_ok((const char *)root->ns->href))
        return xb_error_set(err, XB_ERR_ENVELOPE, 0,
                            "payload namespace '%.200s' is not supported (it starts with '*')",
                            (const char *)root->ns->href);
    if (!root->prev && !root->next && xb_payload_embeddable_bytes(bytes, len, start, n) == 0)
        return 0;
    /* Comments or processing instructions around the root: write it anew. */
    xmlBufferPtr buf = xmlBufferCreate();
    if (!buf || xmlNodeDump(buf, doc, root, 0, 0) < 0) {
        if (buf)
            xmlBufferFree(buf);
        return xb_error_set(err, XB_ERR_NOMEM, 0, "could not serialize the payload");
    }
    *n = (size_t)xmlBufferLength(buf);
    *owned = malloc(*n + 1);
    if (*owned)
        memcpy(*owned, xmlBufferContent(buf), *n + 1);
    xmlBufferFree(buf);
    if (!*owned)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "no memory for the payload");
    *start = *owned;
    return 0;
}
