/* The linear pre-scan of the hardened XML intake, run before libxml2 sees a
 * document (include/xmlbus/xmlsafe.h, docs/envelope.md). */
#include "xmlsafe_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const unsigned char *start;
    const unsigned char *end;
    const xb_parse_limits_t *limits;
    xb_error_t *err;
} scan_t;

static int line_at(const unsigned char *start, const unsigned char *at)
{
    int line = 1;
    const unsigned char *p = start;
    while (p < at) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(at - p));
        if (!nl)
            break;
        if (line < INT_MAX)
            line++;
        p = nl + 1;
    }
    return line;
}

static int scan_fail(const scan_t *s, xb_code_t code, const unsigned char *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int scan_fail(const scan_t *s, xb_code_t code, const unsigned char *at, const char *fmt, ...)
{
    char what[XB_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int line = line_at(s->start, at);
    return xb_error_set(s->err, code, line, "line %d: %s", line, what);
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

static bool starts_with(const unsigned char *p, const unsigned char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

static const unsigned char *find(const unsigned char *p, const unsigned char *end, const char *lit)
{
    return memmem(p, (size_t)(end - p), lit, strlen(lit));
}

/* An XML declaration may only name UTF-8 (or its subset US-ASCII): the bytes
 * are parsed as UTF-8 whatever the document says. */
static int scan_xml_decl(const scan_t *s, const unsigned char *p)
{
    if (!starts_with(p, s->end, "<?xml") || p + 5 >= s->end || !is_ws(p[5]))
        return 0;
    const unsigned char *close = find(p, s->end, "?>");
    if (!close)
        return 0; /* libxml2 reports the unterminated declaration */
    const unsigned char *enc = memmem(p, (size_t)(close - p), "encoding", 8);
    if (!enc)
        return 0;
    const unsigned char *q = skip_ws(enc + 8, close);
    if (q >= close || *q != '=')
        return 0;
    q = skip_ws(q + 1, close);
    if (q >= close || (*q != '"' && *q != '\''))
        return 0;
    const unsigned char *v = q + 1;
    const unsigned char *ve = memchr(v, *q, (size_t)(close - v));
    if (!ve)
        return 0;
    static const char *const ok[] = {"UTF-8", "UTF8", "US-ASCII", "ASCII"};
    size_t n = (size_t)(ve - v);
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (strlen(ok[i]) == n && strncasecmp((const char *)v, ok[i], n) == 0)
            return 0;
    }
    return scan_fail(s, XB_ERR_PARSE, enc, "encoding '%.*s' is not supported (only UTF-8)",
                     (int)(n > 40 ? 40 : n), (const char *)v);
}

/* `<!`: comments and CDATA sections are skipped, anything else (DOCTYPE,
 * ENTITY, ...) is refused before libxml2 could expand a single entity.
 * Returns the position after the construct, or NULL (error set, or end of
 * input reached: *stop tells which). */
static const unsigned char *scan_bang(const scan_t *s, const unsigned char *lt, bool *stop)
{
    const unsigned char *p = lt + 1;
    *stop = false;
    if (starts_with(p, s->end, "!--") || starts_with(p, s->end, "![CDATA[")) {
        bool comment = p[1] == '-';
        const unsigned char *q = find(p + (comment ? 3 : 8), s->end, comment ? "-->" : "]]>");
        if (q)
            return q + 3;
        *stop = true; /* unterminated: libxml2 reports it */
        return NULL;
    }
    if (starts_with(p, s->end, "!DOCTYPE"))
        scan_fail(s, XB_ERR_PARSE, lt, "DOCTYPE is not allowed (no DTDs, no entities)");
    else
        scan_fail(s, XB_ERR_PARSE, lt,
                  "markup declaration '<!' is not allowed outside "
                  "comments and CDATA (no DTDs, no entities)");
    return NULL;
}

static bool is_xmlns_name(const unsigned char *n, size_t len)
{
    return (len == 5 && memcmp(n, "xmlns", 5) == 0) || (len > 6 && memcmp(n, "xmlns:", 6) == 0);
}

/* One start tag from its '<'. Counts its attributes and namespace
 * declarations, and the depth it opens. Returns the position after it, or
 * NULL (error set, or end of input: *stop). */
static const unsigned char *scan_start_tag(const scan_t *s, const unsigned char *lt, int *depth,
                                           int *namespaces, bool *stop)
{
    const unsigned char *p = lt + 1, *end = s->end;
    const unsigned char *name = p;
    *stop = false;
    while (p < end && !is_ws(*p) && *p != '>' && *p != '/' && *p != '<')
        p++;
    if (p == name) {
        if (p >= end)
            *stop = true;
        else
            scan_fail(s, XB_ERR_PARSE, lt, "'<' not followed by a tag name");
        return NULL;
    }
    if (*depth + 1 > s->limits->max_depth) {
        scan_fail(s, XB_ERR_LIMIT, lt, "elements nested deeper than the limit of %d",
                  s->limits->max_depth);
        return NULL;
    }
    int attributes = 0;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end) {
            *stop = true;
            return NULL;
        }
        if (*p == '>') {
            (*depth)++;
            return p + 1;
        }
        if (*p == '/') {
            if (p + 1 < end && p[1] == '>')
                return p + 2; /* empty element: opens and closes */
            if (p + 1 >= end)
                *stop = true;
            else
                scan_fail(s, XB_ERR_PARSE, p, "malformed tag: '/' not followed by '>'");
            return NULL;
        }
        const unsigned char *an = p;
        while (p < end && !is_ws(*p) && *p != '=' && *p != '>' && *p != '/' && *p != '<' &&
               *p != '"' && *p != '\'')
            p++;
        if (p == an) {
            scan_fail(s, XB_ERR_PARSE, p, "malformed tag: attribute name expected");
            return NULL;
        }
        size_t an_len = (size_t)(p - an);
        p = skip_ws(p, end);
        if (p >= end) {
            *stop = true;
            return NULL;
        }
        if (*p != '=') {
            scan_fail(s, XB_ERR_PARSE, p, "malformed tag: '=' expected after attribute name");
            return NULL;
        }
        p = skip_ws(p + 1, end);
        if (p >= end) {
            *stop = true;
            return NULL;
        }
        if (*p != '"' && *p != '\'') {
            scan_fail(s, XB_ERR_PARSE, p, "malformed tag: attribute value must be quoted");
            return NULL;
        }
        const unsigned char *close = memchr(p + 1, *p, (size_t)(end - p - 1));
        if (!close) {
            *stop = true;
            return NULL;
        }
        const unsigned char *bad = memchr(p + 1, '<', (size_t)(close - p - 1));
        if (bad) {
            scan_fail(s, XB_ERR_PARSE, bad, "'<' is not allowed in an attribute value");
            return NULL;
        }
        if (++attributes > s->limits->max_attributes) {
            scan_fail(s, XB_ERR_LIMIT, an, "more than %d attributes on one element",
                      s->limits->max_attributes);
            return NULL;
        }
        if (is_xmlns_name(an, an_len) && ++*namespaces > s->limits->max_namespaces) {
            scan_fail(s, XB_ERR_LIMIT, an, "more than %d namespace declarations in the document",
                      s->limits->max_namespaces);
            return NULL;
        }
        p = close + 1;
    }
}

/* The tag scanner accepts a superset of XML's tags, so it never refuses a
 * well-formed document; whatever it cannot follow is not well-formed and is
 * refused at once, so that no uncounted content reaches libxml2. */
static int scan_markup(const scan_t *s, const unsigned char *p)
{
    int depth = 0, namespaces = 0;
    const unsigned char *end = s->end;
    while (p < end) {
        const unsigned char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt || lt + 1 >= end)
            return 0;
        bool stop = false;
        const unsigned char *next;
        if (lt[1] == '?') {
            const unsigned char *q = find(lt + 2, end, "?>");
            next = q ? q + 2 : NULL;
            stop = !q;
        } else if (lt[1] == '!') {
            next = scan_bang(s, lt, &stop);
        } else if (lt[1] == '/') {
            const unsigned char *q = lt + 2;
            while (q < end && *q != '>' && *q != '<')
                q++;
            if (q < end && *q == '<')
                return scan_fail(s, XB_ERR_PARSE, lt, "malformed end tag");
            next = q < end ? q + 1 : NULL;
            stop = !next;
            if (depth > 0)
                depth--;
        } else {
            next = scan_start_tag(s, lt, &depth, &namespaces, &stop);
        }
        if (!next)
            return stop ? 0 : -1; /* end of input: libxml2 reports what is missing */
        p = next;
    }
    return 0;
}

int xb_xml_prescan(const void *bytes, size_t len, const xb_parse_limits_t *limits, xb_error_t *err)
{
    xb_parse_limits_t storage;
    const xb_parse_limits_t *l = limits_or_default(limits, &storage);
    if (!bytes && len > 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "no document bytes");
    const unsigned char *b = bytes;
    scan_t s = {b, b + len, l, err};
    if (len == 0)
        return xb_error_set(err, XB_ERR_PARSE, 1, "line 1: empty document");
    if (len > l->max_bytes)
        return scan_fail(&s, XB_ERR_LIMIT, b + l->max_bytes,
                         "document of %zu bytes exceeds the limit of %zu bytes", len, l->max_bytes);
    long cp;
    size_t bad = xb_xml_text_invalid_at(b, len, &cp);
    if (bad < len && cp >= 0)
        return scan_fail(&s, XB_ERR_PARSE, b + bad,
                         "character U+%04lX is not allowed in XML (offset %zu)", cp, bad);
    if (bad < len)
        return scan_fail(&s, XB_ERR_PARSE, b + bad, "invalid UTF-8 (byte 0x%02X at offset %zu)",
                         b[bad], bad);
    const unsigned char *p = b;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    if (scan_xml_decl(&s, p) < 0)
        return -1;
    return scan_markup(&s, p);
}
