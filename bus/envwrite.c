/* Fast envelope writing around checked payload bytes (see envwrite.h). */
#include "xmlbus/envwrite.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmlbus/envelope.h"

typedef struct {
    char *p;
    size_t len, cap;
} sbuf_t;

static int sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int sb_str(sbuf_t *b, const char *s) { return sb_put(b, s, strlen(s)); }

/* Text content, escaped: & < > are all an element's text needs. */
static int sb_text(sbuf_t *b, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
        if (!rep)
            continue;
        if (sb_put(b, run, (size_t)(s - run)) != 0 || sb_str(b, rep) != 0)
            return -1;
        run = s + 1;
    }
    return sb_put(b, run, (size_t)(s - run));
}

static int sb_element(sbuf_t *b, const char *qname, const char *text)
{
    return sb_str(b, "<") || sb_str(b, qname) || sb_str(b, ">") || sb_text(b, text) ||
                   sb_str(b, "</") || sb_str(b, qname) || sb_str(b, ">")
               ? -1
               : 0;
}

int xb_envelope_write(const xb_envelope_fields_t *f, const char *payload, size_t payload_len,
                      char **out, size_t *len, xb_error_t *err)
{
    *out = NULL;
    if (!f || !f->from || !f->thread || !payload || payload_len == 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "an envelope needs from, thread and a payload");
    sbuf_t b = {NULL, 0, 0};
    char num[32];
    size_t guess = payload_len + 420;
    b.p = malloc(guess);
    if (!b.p)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "no memory for an envelope");
    b.cap = guess;
    int rc = sb_str(&b, "<e:message xmlns:e=\"" XB_ENVELOPE_NS "\" xmlns:x=\"" XB_META_NS "\"><e:meta>") ||
             sb_element(&b, "e:from", f->from) ||
             (f->to && f->to[0] && sb_element(&b, "e:to", f->to)) ||
             sb_element(&b, "e:thread", f->thread);
    if (rc == 0 && f->id) {
        rc = sb_element(&b, "x:id", f->id);
        snprintf(num, sizeof num, "%" PRId64, f->ts_us);
        rc = rc || sb_element(&b, "x:ts", num);
        snprintf(num, sizeof num, "%d", f->depth);
        rc = rc || sb_element(&b, "x:depth", num);
    }
    rc = rc || sb_str(&b, "</e:meta>") || sb_put(&b, payload, payload_len) ||
         sb_str(&b, "</e:message>");
    if (rc != 0) {
        free(b.p);
        return xb_error_set(err, XB_ERR_NOMEM, 0, "no memory for an envelope");
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

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

int xb_payload_embeddable(xmlDocPtr doc, const char *bytes, size_t len, const char **start,
                          size_t *n, char **owned, xb_error_t *err)
{
    *owned = NULL;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root)
        return xb_error_set(err, XB_ERR_ARG, 0, "no payload element");
    if (!root->prev && !root->next) {
        const char *end = bytes + len;
        const char *s = skip_prolog(bytes, end);
        while (end > s && is_ws(end[-1]))
            end--;
        if (end - s > 1 && s[0] == '<' && s[1] != '?' && s[1] != '!') {
            *start = s;
            *n = (size_t)(end - s);
            return 0;
        }
    }
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
