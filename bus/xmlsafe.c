/* Hardened XML intake (see include/xmlbus/xmlsafe.h and docs/envelope.md). */
#include "xmlbus/xmlsafe.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libxml/xmlIO.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemastypes.h>

/* Never XML_PARSE_NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE, HUGE, and no
 * COMPACT (it forbids later tree edits). NODICT keeps documents independent of
 * the context so that they can be freed in another thread. */
#define XB_XML_PARSE_OPTIONS                                                        \
    (XML_PARSE_NONET | XML_PARSE_NODICT | XML_PARSE_IGNORE_ENC | XML_PARSE_NOERROR | \
     XML_PARSE_NOWARNING)

/* ---- limits ----------------------------------------------------------- */

void xb_parse_limits_defaults(xb_parse_limits_t *limits)
{
    if (!limits)
        return;
    limits->max_bytes = XB_PARSE_DEFAULT_MAX_BYTES;
    limits->max_depth = XB_PARSE_DEFAULT_MAX_DEPTH;
    limits->max_attributes = XB_PARSE_DEFAULT_MAX_ATTRIBUTES;
    limits->max_namespaces = XB_PARSE_DEFAULT_MAX_NAMESPACES;
}

int xb_parse_limits_check(const xb_parse_limits_t *l, xb_error_t *err)
{
    if (!l)
        return xb_error_set(err, XB_ERR_ARG, 0, "parse limits missing");
    if (l->max_bytes == 0 || l->max_bytes > INT_MAX)
        return xb_error_set(err, XB_ERR_ARG, 0, "max_bytes must be between 1 and %d", INT_MAX);
    if (l->max_depth < 1 || l->max_attributes < 1 || l->max_namespaces < 1)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "max_depth, max_attributes and max_namespaces must be positive");
    return 0;
}

static const xb_parse_limits_t *limits_or_default(const xb_parse_limits_t *l,
                                                  xb_parse_limits_t *storage)
{
    if (l)
        return l;
    xb_parse_limits_defaults(storage);
    return storage;
}

/* ---- error collection ------------------------------------------------- */

/* The first error (never a warning) libxml2 reported during one call. */
typedef struct {
    bool set;
    int line;
    int column;
    char file[160];
    char message[300];
} capture_t;

static void capture_store(capture_t *cap, const xmlError *e)
{
    if (!cap || !e || cap->set || e->level < XML_ERR_ERROR)
        return;
    cap->set = true;
    cap->line = e->line;
    cap->column = e->int2;
    snprintf(cap->file, sizeof cap->file, "%s", e->file ? e->file : "");
    snprintf(cap->message, sizeof cap->message, "%s", e->message ? e->message : "error");
    /* libxml2 messages end with a newline. */
    size_t n = strlen(cap->message);
    while (n > 0 && (cap->message[n - 1] == '\n' || cap->message[n - 1] == ' '))
        cap->message[--n] = '\0';
}

/* Schema contexts pass our capture_t as data. */
static void capture_error(void *data, xmlErrorPtr e)
{
    capture_store(data, e);
}

/* Swallows errors between calls, so that nothing ever reaches stderr. */
static void discard_error(void *data, xmlErrorPtr e)
{
    (void)data;
    (void)e;
}

/* Parser contexts pass themselves (userData); the capture of the running
 * xb_xml_read sits in _private. Being the serror of a context is also what
 * marks it as hardened for the entity loader. */
static void parser_error(void *data, xmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = data;
    if (ctxt)
        capture_store(ctxt->_private, e);
}

/* ---- process set-up --------------------------------------------------- */

bool xb_xml_ctxt_is_hardened(xmlParserCtxtPtr ctxt)
{
    return ctxt && ctxt->sax && ctxt->sax->initialized == XML_SAX2_MAGIC &&
           ctxt->sax->serror == parser_error;
}

static xmlParserInputPtr refusing_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    if (xb_xml_ctxt_is_hardened(ctxt))
        return NULL; /* a message never loads anything */
    /* Everyone else (XSD compilation at start-up): local files only. */
    return xmlNoNetExternalEntityLoader(url, id, ctxt);
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
    xmlInitParser();
    xmlSchemaInitTypes();
    xmlSetExternalEntityLoader(refusing_loader);
}

void xb_xml_init(void)
{
    pthread_once(&xml_once, xml_init_once);
}

/* ---- UTF-8 -------------------------------------------------------------- */

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

/* Offset of the first invalid UTF-8 sequence or character XML does not
 * allow, or len. libxml2 refuses such characters too, except NUL: there it
 * stops reading as if the document ended, and would accept "<a/>\0junk". */
static size_t text_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] >= 0x20 && s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n == 0 || !xml_char_ok(cp))
            return i;
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

/* ---- pre-scan ----------------------------------------------------------- */

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
        scan_fail(s, XB_ERR_PARSE, lt, "markup declaration '<!' is not allowed outside "
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

int xb_xml_prescan(const void *bytes, size_t len, const xb_parse_limits_t *limits,
                   xb_error_t *err)
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
                         "document of %zu bytes exceeds the limit of %zu bytes", len,
                         l->max_bytes);
    size_t bad = text_invalid_at(b, len);
    uint32_t cp;
    if (bad < len && utf8_decode(b + bad, len - bad, &cp) > 0)
        return scan_fail(&s, XB_ERR_PARSE, b + bad,
                         "character U+%04X is not allowed in XML (offset %zu)", (unsigned)cp, bad);
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

/* ---- parsing ------------------------------------------------------------ */

xmlParserCtxtPtr xb_xml_ctxt_new(void)
{
    xb_xml_init();
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return NULL;
    if (!ctxt->sax) {
        xmlFreeParserCtxt(ctxt);
        return NULL;
    }
    ctxt->sax->serror = parser_error;
    ctxt->_private = NULL;
    return ctxt;
}

void xb_xml_ctxt_free(xmlParserCtxtPtr *ctxt)
{
    if (!ctxt || !*ctxt)
        return;
    xmlFreeParserCtxt(*ctxt);
    *ctxt = NULL;
}

xmlDocPtr xb_xml_read(xmlParserCtxtPtr ctxt, const void *bytes, size_t len,
                      const xb_parse_limits_t *limits, xb_error_t *err)
{
    if (!xb_xml_ctxt_is_hardened(ctxt)) {
        xb_error_set(err, XB_ERR_ARG, 0, "parser context not made by xb_xml_ctxt_new");
        return NULL;
    }
    xb_parse_limits_t storage;
    const xb_parse_limits_t *l = limits_or_default(limits, &storage);
    if (xb_parse_limits_check(l, err) < 0 || xb_xml_prescan(bytes, len, l, err) < 0)
        return NULL;

    capture_t cap = {0};
    ctxt->_private = &cap;
    /* Some errors (the encoding converter's) are raised without the context
     * and would go to the thread's handler, stderr by default: for this call
     * the thread's handler is the context's too. */
    xmlStructuredErrorFunc old_handler = xmlStructuredError;
    void *old_data = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(ctxt, parser_error);
    /* No forced encoding: the prescan admits only documents that declare
     * UTF-8 or US-ASCII (or nothing) and are valid UTF-8, which libxml2
     * reads as UTF-8 anyway, without the converter a forced one sets up. */
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, bytes, (int)len, NULL, NULL, XB_XML_PARSE_OPTIONS);
    xmlSetStructuredErrorFunc(old_data, old_handler);
    ctxt->_private = NULL;

    if (!doc || cap.set || !ctxt->wellFormed || !ctxt->nsWellFormed) {
        xmlFreeDoc(doc);
        if (cap.set) {
            xb_error_set(err, XB_ERR_PARSE, cap.line, "line %d: %s", cap.line, cap.message);
            if (err)
                err->column = cap.column;
        } else {
            xb_error_set(err, XB_ERR_PARSE, 0, "line 0: document is not well-formed XML");
        }
        return NULL;
    }
    if (doc->intSubset || doc->extSubset) {
        xmlFreeDoc(doc);
        xb_error_set(err, XB_ERR_PARSE, 1, "line 1: DOCTYPE is not allowed (no DTDs, no entities)");
        return NULL;
    }
    if (!xmlDocGetRootElement(doc)) {
        xmlFreeDoc(doc);
        xb_error_set(err, XB_ERR_PARSE, 1, "line 1: document has no root element");
        return NULL;
    }
    return doc;
}

/* ---- schemas -------------------------------------------------------------- */

static pthread_mutex_t schema_lock = PTHREAD_MUTEX_INITIALIZER;

xmlSchemaPtr xb_xml_schema_compile(const char *path, xb_error_t *err)
{
    if (!path) {
        xb_error_set(err, XB_ERR_ARG, 0, "no schema path");
        return NULL;
    }
    xb_xml_init();
    if (access(path, R_OK) != 0) {
        xb_error_set(err, XB_ERR_IO, 0, "cannot read schema %s", path);
        return NULL;
    }
    capture_t cap = {0};
    xmlSchemaPtr schema = NULL;
    pthread_mutex_lock(&schema_lock);
    xmlSchemaParserCtxtPtr pctxt = xmlSchemaNewParserCtxt(path);
    if (pctxt) {
        xmlSchemaSetParserStructuredErrors(pctxt, capture_error, &cap);
        schema = xmlSchemaParse(pctxt);
        xmlSchemaFreeParserCtxt(pctxt);
    }
    pthread_mutex_unlock(&schema_lock);
    if (schema)
        return schema;
    if (!pctxt)
        xb_error_set(err, XB_ERR_NOMEM, 0, "no memory to compile schema %s", path);
    else if (cap.set)
        xb_error_set(err, XB_ERR_CONFIG, cap.line, "%s:%d: %s", cap.file[0] ? cap.file : path,
                     cap.line, cap.message);
    else
        xb_error_set(err, XB_ERR_CONFIG, 0, "%s: schema does not compile", path);
    return NULL;
}

static int validate(xmlSchemaValidCtxtPtr vctxt, xmlDocPtr doc, xmlNodePtr elem, xb_code_t code,
                    const char *what, xb_error_t *err)
{
    if (!vctxt || (!doc && !elem))
        return xb_error_set(err, XB_ERR_ARG, 0, "nothing to validate");
    capture_t cap = {0};
    xmlSchemaSetValidStructuredErrors(vctxt, capture_error, &cap);
    int rc = doc ? xmlSchemaValidateDoc(vctxt, doc) : xmlSchemaValidateOneElement(vctxt, elem);
    xmlSchemaSetValidStructuredErrors(vctxt, discard_error, NULL);
    if (rc == 0)
        return 0;
    what = what ? what : "schema";
    if (!cap.set)
        return xb_error_set(err, code, 0, "line 0: %s: validation failed (internal error %d)",
                            what, rc);
    xb_error_set(err, code, cap.line, "line %d: %s: %s", cap.line, what, cap.message);
    if (err)
        err->column = cap.column;
    return -1;
}

int xb_xml_validate_doc(xmlSchemaValidCtxtPtr vctxt, xmlDocPtr doc, xb_code_t code,
                        const char *what, xb_error_t *err)
{
    if (!doc)
        return xb_error_set(err, XB_ERR_ARG, 0, "no document to validate");
    return validate(vctxt, doc, NULL, code, what, err);
}

int xb_xml_validate_element(xmlSchemaValidCtxtPtr vctxt, xmlNodePtr elem, xb_code_t code,
                            const char *what, xb_error_t *err)
{
    if (!elem || elem->type != XML_ELEMENT_NODE)
        return xb_error_set(err, XB_ERR_ARG, 0, "no element to validate");
    return validate(vctxt, NULL, elem, code, what, err);
}

/* ---- checking program-built trees ------------------------------------------ */

static bool text_ok(const xmlChar *s)
{
    return !s || xb_xml_text_ok((const char *)s, strlen((const char *)s));
}

static bool ncname_ok(const xmlChar *s)
{
    return s && s[0] && xmlValidateNCName(s, 0) == 0;
}

static bool prefix_ok(const xmlChar *prefix)
{
    return !prefix || (ncname_ok(prefix) && !xmlStrEqual(prefix, BAD_CAST "xmlns"));
}

static int check_ns(const xmlNs *ns, int line, xb_error_t *err)
{
    if (!ns->href || !prefix_ok(ns->prefix) || !text_ok(ns->href) ||
        (ns->prefix && !ns->href[0]))
        return xb_error_set(err, XB_ERR_ARG, line, "line %d: invalid namespace (prefix '%s')",
                            line, ns->prefix ? (const char *)ns->prefix : "");
    return 0;
}

static const xmlChar *ns_href(const xmlNs *ns)
{
    return ns && ns->href ? ns->href : BAD_CAST "";
}

static int check_attributes(const xmlNode *el, int line, const xb_parse_limits_t *l,
                            int *namespaces, xb_error_t *err)
{
    int count = 0;
    for (const xmlNs *ns = el->nsDef; ns; ns = ns->next) {
        if (check_ns(ns, line, err) < 0)
            return -1;
        for (const xmlNs *o = el->nsDef; o != ns; o = o->next) {
            if (xmlStrEqual(o->prefix, ns->prefix))
                return xb_error_set(err, XB_ERR_ARG, line,
                                    "line %d: namespace prefix declared twice on '%s'", line,
                                    (const char *)el->name);
        }
        if (++count > l->max_attributes || ++*namespaces > l->max_namespaces)
            return xb_error_set(err, XB_ERR_ARG, line,
                                "line %d: too many attributes or namespace declarations", line);
    }
    for (const xmlAttr *a = el->properties; a; a = a->next) {
        if (!ncname_ok(a->name) || (a->ns && check_ns(a->ns, line, err) < 0))
            return xb_error_set(err, XB_ERR_ARG, line, "line %d: invalid attribute name on '%s'",
                                line, (const char *)el->name);
        for (const xmlNode *c = a->children; c; c = c->next) {
            if (c->type != XML_TEXT_NODE || !text_ok(c->content))
                return xb_error_set(err, XB_ERR_ARG, line,
                                    "line %d: attribute '%s' has an invalid value", line,
                                    (const char *)a->name);
        }
        for (const xmlAttr *o = el->properties; o != a; o = o->next) {
            if (xmlStrEqual(o->name, a->name) && xmlStrEqual(ns_href(o->ns), ns_href(a->ns)))
                return xb_error_set(err, XB_ERR_ARG, line, "line %d: attribute '%s' repeated",
                                    line, (const char *)a->name);
        }
        if (++count > l->max_attributes)
            return xb_error_set(err, XB_ERR_ARG, line, "line %d: more than %d attributes", line,
                                l->max_attributes);
    }
    return 0;
}

static int check_node(const xmlNode *n, const xb_parse_limits_t *l, int *namespaces,
                      xb_error_t *err)
{
    int line = (int)xmlGetLineNo(n);
    if (line < 0)
        line = 0;
    switch (n->type) {
    case XML_ELEMENT_NODE:
        if (!ncname_ok(n->name) || (n->ns && check_ns(n->ns, line, err) < 0))
            return xb_error_set(err, XB_ERR_ARG, line, "line %d: invalid element name", line);
        return check_attributes(n, line, l, namespaces, err);
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
        if (!text_ok(n->content))
            return xb_error_set(err, XB_ERR_ARG, line,
                                "line %d: text with characters XML does not allow", line);
        return 0;
    case XML_COMMENT_NODE: {
        const char *c = n->content ? (const char *)n->content : "";
        size_t len = strlen(c);
        if (!text_ok(n->content) || strstr(c, "--") || (len > 0 && c[len - 1] == '-'))
            return xb_error_set(err, XB_ERR_ARG, line, "line %d: invalid comment", line);
        return 0;
    }
    case XML_PI_NODE:
        if (!ncname_ok(n->name) || xmlStrcasecmp(n->name, BAD_CAST "xml") == 0 ||
            !text_ok(n->content) || (n->content && strstr((const char *)n->content, "?>")))
            return xb_error_set(err, XB_ERR_ARG, line, "line %d: invalid processing instruction",
                                line);
        return 0;
    default:
        return xb_error_set(err, XB_ERR_ARG, line,
                            "line %d: node type %d is not allowed in a message", line,
                            (int)n->type);
    }
}

int xb_xml_check_tree(xmlNodePtr root, const xb_parse_limits_t *limits, xb_error_t *err)
{
    xb_parse_limits_t storage;
    const xb_parse_limits_t *l = limits_or_default(limits, &storage);
    if (!root || root->type != XML_ELEMENT_NODE)
        return xb_error_set(err, XB_ERR_ARG, 0, "not an element");
    int depth = 1, namespaces = 0;
    const xmlNode *n = root;
    for (;;) {
        if (n->type == XML_ELEMENT_NODE && depth > l->max_depth)
            return xb_error_set(err, XB_ERR_ARG, 0, "elements nested deeper than %d",
                                l->max_depth);
        if (check_node(n, l, &namespaces, err) < 0)
            return -1;
        if (n->type == XML_ELEMENT_NODE && n->children) {
            depth++;
            n = n->children;
            continue;
        }
        while (n != root && !n->next) {
            n = n->parent;
            depth--;
        }
        if (n == root)
            return 0;
        n = n->next;
    }
}

/* ---- serializing ------------------------------------------------------------ */

/* libxml2 writes into this growing buffer (doubling: linear overall). */
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} sink_t;

static int sink_write(void *ctx, const char *buf, int n)
{
    sink_t *s = ctx;
    if (n < 0 || s->failed)
        return -1;
    size_t need = s->len + (size_t)n + 1;
    if (need > s->cap) {
        size_t cap = s->cap ? s->cap : 512;
        while (cap < need)
            cap *= 2;
        char *grown = realloc(s->data, cap);
        if (!grown) {
            s->failed = true;
            return -1;
        }
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->len, buf, (size_t)n);
    s->len += (size_t)n;
    return n;
}

static int sink_close(void *ctx)
{
    (void)ctx;
    return 0;
}

int xb_xml_dump_node(xmlDocPtr doc, const xmlNode *node, char **out, size_t *len)
{
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (!node || !out)
        return -1;
    sink_t s = {0};
    xmlOutputBufferPtr ob = xmlOutputBufferCreateIO(sink_write, sink_close, &s, NULL);
    if (!ob)
        return -1;
    /* An explicit UTF-8 encoding keeps non-ASCII characters as they are
     * (without it libxml2 writes character references). */
    xmlNodeDumpOutput(ob, doc ? doc : node->doc, (xmlNodePtr)node, 0, 0, "UTF-8");
    if (xmlOutputBufferClose(ob) < 0 || s.failed || !s.data) {
        free(s.data);
        return -1;
    }
    s.data[s.len] = '\0';
    *out = s.data;
    if (len)
        *len = s.len;
    return 0;
}
