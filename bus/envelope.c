/* The envelope: parse, validate, read, edit, build, serialize
 * (see include/xmlbus/envelope.h and docs/envelope.md). */
#include "xmlbus/envelope.h"
#include "envwrite.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A parser context's dictionary keeps every name it ever saw (documents do
 * not use it, see xb_xml_read); past this many entries the context is
 * replaced so that a stream of distinct names cannot grow it forever. */
#define XB_PARSER_DICT_MAX 20000

#define ENV_NS BAD_CAST XB_ENVELOPE_NS
#define META_NS BAD_CAST XB_META_NS

struct xb_parser_t {
    xb_parse_limits_t limits;
    xmlParserCtxtPtr ctxt; /* NULL after a failed renewal: made again on use */
    xmlSchemaPtr schema;
    xmlSchemaValidCtxtPtr vctxt;
    bool trusted;          /* skip envelope.xsd: the pump wrote the message */
};

struct xb_envelope_t {
    xmlDocPtr doc;
    xmlNodePtr message, meta, from, to, thread, payload;
    xmlNodePtr id, ts, depth; /* xmlbus meta, NULL when absent */
    char *from_s, *to_s, *thread_s, *id_s;
    char *type_s;      /* "local" or "{ns}local" */
    char *thread_orig; /* non-NULL iff the thread was replaced */
    int64_t ts_v;
    int depth_v;
};

/* ---- small helpers -------------------------------------------------------- */

static int nomem(xb_error_t *err)
{
    return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
}

static int node_line(const xmlNode *n)
{
    long line = n ? xmlGetLineNo(n) : 0;
    return line > 0 && line < INT_MAX ? (int)line : 0;
}

static int env_error(xb_error_t *err, const xmlNode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int env_error(xb_error_t *err, const xmlNode *at, const char *fmt, ...)
{
    char what[XB_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int line = node_line(at);
    return xb_error_set(err, XB_ERR_ENVELOPE, line, "line %d: %s", line, what);
}

static bool is_xml_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A malloc'd copy of s[0..len) without surrounding XML whitespace. */
static char *trimmed_dup(const char *s, size_t len)
{
    while (len > 0 && is_xml_ws(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_xml_ws(s[len - 1]))
        len--;
    return strndup(s, len);
}

/* The text of an element, trimmed, malloc'd. NULL on no memory. */
static char *node_text(const xmlNode *n)
{
    xmlChar *c = xmlNodeGetContent(n);
    const char *s = c ? (const char *)c : "";
    char *t = trimmed_dup(s, strlen(s));
    xmlFree(c);
    return t;
}

/* Replaces the children of an element by one text node holding value as
 * text (escaped on output, never parsed as markup). Old children are only
 * freed once the new text exists. */
static int set_text(xmlNodePtr el, const char *value, xb_error_t *err)
{
    xmlNodePtr text = xmlNewDocText(el->doc, BAD_CAST value);
    if (!text)
        return nomem(err);
    xmlNodePtr c = el->children;
    while (c) {
        xmlNodePtr next = c->next;
        xmlUnlinkNode(c);
        xmlFreeNode(c);
        c = next;
    }
    if (!xmlAddChild(el, text)) {
        xmlFreeNode(text);
        return nomem(err);
    }
    return 0;
}

static bool in_ns(const xmlNode *n, const xmlChar *href)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && xmlStrEqual(n->ns->href, href);
}

static bool is_env(const xmlNode *n, const char *local)
{
    return in_ns(n, ENV_NS) && xmlStrEqual(n->name, BAD_CAST local);
}

static xmlNodePtr next_element(xmlNodePtr n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

/* A name for from/to: non-empty, characters XML can carry, no surrounding
 * whitespace (so that reading it back gives the same string). */
static int check_name(const char *what, const char *v, xb_error_t *err)
{
    if (!v || !v[0])
        return xb_error_set(err, XB_ERR_ARG, 0, "%s must not be empty", what);
    size_t len = strlen(v);
    if (!xb_xml_text_ok(v, len))
        return xb_error_set(err, XB_ERR_ARG, 0, "%s contains characters XML cannot carry", what);
    if (is_xml_ws(v[0]) || is_xml_ws(v[len - 1]))
        return xb_error_set(err, XB_ERR_ARG, 0, "%s has surrounding whitespace", what);
    return 0;
}

/* Decimal digits only, at most max. */
static bool parse_count(const char *s, int64_t max, int64_t *out)
{
    if (!s || !s[0])
        return false;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        int d = *p - '0';
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* ---- parser ------------------------------------------------------------- */

xb_parser_t *xb_parser_new(const xb_parse_limits_t *limits, xb_error_t *err)
{
    xb_xml_init();
    xb_parse_limits_t l;
    if (limits)
        l = *limits;
    else
        xb_parse_limits_defaults(&l);
    if (xb_parse_limits_check(&l, err) < 0)
        return NULL;
    xb_parser_t *p = calloc(1, sizeof *p);
    if (!p) {
        nomem(err);
        return NULL;
    }
    p->limits = l;
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/envelope.xsd", xb_schema_dir());
    if (n < 0 || (size_t)n >= sizeof path) {
        xb_error_set(err, XB_ERR_CONFIG, 0, "schema folder path too long");
        goto fail;
    }
    p->schema = xb_xml_schema_compile(path, err);
    if (!p->schema)
        goto fail;
    p->ctxt = xb_xml_ctxt_new();
    p->vctxt = xmlSchemaNewValidCtxt(p->schema);
    if (!p->ctxt || !p->vctxt) {
        nomem(err);
        goto fail;
    }
    return p;
fail:
    xb_parser_destroy(&p);
    return NULL;
}

void xb_parser_destroy(xb_parser_t **pp)
{
    if (!pp || !*pp)
        return;
    xb_parser_t *p = *pp;
    if (p->vctxt)
        xmlSchemaFreeValidCtxt(p->vctxt);
    if (p->schema)
        xmlSchemaFree(p->schema);
    xb_xml_ctxt_free(&p->ctxt);
    free(p);
    *pp = NULL;
}

void xb_parser_trust(xb_parser_t *p, bool trusted)
{
    if (p)
        p->trusted = trusted;
}

const xb_parse_limits_t *xb_parser_limits(const xb_parser_t *p)
{
    return p ? &p->limits : NULL;
}

static xmlDocPtr parser_read(xb_parser_t *p, const void *bytes, size_t len,
                             const xb_parse_limits_t *limits, xb_error_t *err)
{
    if (!p->ctxt && !(p->ctxt = xb_xml_ctxt_new())) {
        nomem(err);
        return NULL;
    }
    xmlDocPtr doc = xb_xml_read(p->ctxt, bytes, len, limits, err);
    if (p->ctxt->dict && xmlDictSize(p->ctxt->dict) > XB_PARSER_DICT_MAX)
        xb_xml_ctxt_free(&p->ctxt); /* made again on the next read */
    return doc;
}

xmlDocPtr xb_parser_read(xb_parser_t *p, const void *bytes, size_t len, xb_error_t *err)
{
    if (!p) {
        xb_error_set(err, XB_ERR_ARG, 0, "no parser");
        return NULL;
    }
    return parser_read(p, bytes, len, &p->limits, err);
}

/* ---- envelope structure -------------------------------------------------- */

void xb_envelope_destroy(xb_envelope_t **pe)
{
    if (!pe || !*pe)
        return;
    xb_envelope_t *e = *pe;
    xmlFreeDoc(e->doc);
    free(e->from_s);
    free(e->to_s);
    free(e->thread_s);
    free(e->id_s);
    free(e->type_s);
    free(e->thread_orig);
    free(e);
    *pe = NULL;
}

static bool is_meta_field(const xmlNode *n, const char *local)
{
    return in_ns(n, META_NS) && xmlStrEqual(n->name, BAD_CAST local);
}

static bool is_extension(const xmlNode *n)
{
    if (!n || n->type != XML_ELEMENT_NODE || in_ns(n, ENV_NS))
        return false;
    return !is_meta_field(n, "id") && !is_meta_field(n, "ts") && !is_meta_field(n, "depth");
}

/* Finds from/to/thread and the xmlbus meta in <meta>. */
static int index_meta(xb_envelope_t *e, xb_error_t *err)
{
    for (xmlNodePtr n = next_element(e->meta->children); n; n = next_element(n->next)) {
        xmlNodePtr *slot = NULL;
        if (in_ns(n, ENV_NS)) {
            slot = is_env(n, "from") ? &e->from : is_env(n, "to") ? &e->to
                   : is_env(n, "thread") ? &e->thread : NULL;
            if (!slot)
                return env_error(err, n, "unexpected element <%s> in <meta>", (const char *)n->name);
        } else if (in_ns(n, META_NS)) {
            slot = is_meta_field(n, "id") ? &e->id : is_meta_field(n, "ts") ? &e->ts
                   : is_meta_field(n, "depth") ? &e->depth : NULL;
            if (!slot)
                continue; /* a future xmlbus field: passes through as an extension */
        } else {
            continue; /* extension */
        }
        if (*slot)
            return env_error(err, n, "<%s> appears twice in <meta>", (const char *)n->name);
        *slot = n;
    }
    if (!e->from)
        return env_error(err, e->meta, "<meta> has no <from>");
    if (!e->thread)
        return env_error(err, e->meta, "<meta> has no <thread>");
    return 0;
}

/* The trimmed text of an optional meta element as a count in [0, max]. */
static int read_count(const xmlNode *n, const char *name, int64_t max, int64_t *out,
                      xb_error_t *err)
{
    if (!n)
        return 0;
    char *t = node_text(n);
    if (!t)
        return nomem(err);
    bool ok = parse_count(t, max, out);
    free(t);
    if (!ok)
        return env_error(err, n, "xmlbus meta <%s> is not a non-negative decimal integer", name);
    return 0;
}

static int read_meta_values(xb_envelope_t *e, xb_error_t *err)
{
    if (!(e->from_s = node_text(e->from)))
        return nomem(err);
    if (!e->from_s[0])
        return env_error(err, e->from, "<from> is empty");
    if (e->to) {
        if (!(e->to_s = node_text(e->to)))
            return nomem(err);
        if (!e->to_s[0])
            return env_error(err, e->to, "<to> is empty (leave it out to route by payload)");
    }
    if (e->id) {
        if (!(e->id_s = node_text(e->id)))
            return nomem(err);
        if (!e->id_s[0])
            return env_error(err, e->id, "xmlbus meta <id> is empty");
    }
    int64_t depth = 0;
    if (read_count(e->ts, "ts", INT64_MAX, &e->ts_v, err) < 0 ||
        read_count(e->depth, "depth", INT_MAX, &depth, err) < 0)
        return -1;
    e->depth_v = (int)depth;
    return 0;
}

/* A thread that is not a canonical UUID4 gets a fresh one; the original
 * text is kept for the report. */
static int normalize_thread(xb_envelope_t *e, xb_error_t *err)
{
    char *t = node_text(e->thread);
    if (!t)
        return nomem(err);
    if (xb_uuid_is_canonical(t)) {
        xmlChar *raw = xmlNodeGetContent(e->thread);
        bool padded = !raw || strcmp((const char *)raw, t) != 0;
        xmlFree(raw);
        if (padded && set_text(e->thread, t, err) < 0) {
            free(t);
            return -1;
        }
        e->thread_s = t;
        return 0;
    }
    char fresh[XB_UUID_LEN + 1];
    xb_uuid_new(fresh);
    e->thread_s = strdup(fresh);
    if (!e->thread_s) {
        free(t);
        return nomem(err);
    }
    if (set_text(e->thread, fresh, err) < 0) {
        free(t);
        return -1;
    }
    free(e->thread_orig);
    e->thread_orig = t;
    return 0;
}

static int make_type(xb_envelope_t *e, xb_error_t *err)
{
    const xmlNode *pl = e->payload;
    const char *local = (const char *)pl->name;
    if (!pl->ns || !pl->ns->href || !pl->ns->href[0]) {
        e->type_s = strdup(local);
    } else {
        size_t n = strlen((const char *)pl->ns->href) + strlen(local) + 3;
        e->type_s = malloc(n);
        if (e->type_s)
            snprintf(e->type_s, n, "{%s}%s", (const char *)pl->ns->href, local);
    }
    return e->type_s ? 0 : nomem(err);
}

/* A payload's namespace: not the envelope's, and one that envelope.xsd
 * takes (xb_payload_ns_ok). */
static int check_payload_ns(const xmlNode *payload, xb_error_t *err)
{
    if (in_ns(payload, ENV_NS))
        return env_error(err, payload, "payload <%s> must not be in the envelope namespace",
                         (const char *)payload->name);
    if (payload->ns && !xb_payload_ns_ok((const char *)payload->ns->href))
        return env_error(err, payload,
                         "payload <%s> is in namespace '%.200s', which is not supported (it "
                         "starts with '*')",
                         (const char *)payload->name, (const char *)payload->ns->href);
    return 0;
}

/* The message's shape: root, <meta> first, exactly one payload outside the
 * envelope namespace. Runs before envelope.xsd (clearer messages for the
 * usual mistakes) and checks what the schema cannot say. */
static int check_structure(xb_envelope_t *e, xb_error_t *err)
{
    e->message = xmlDocGetRootElement(e->doc);
    if (!is_env(e->message, "message"))
        return env_error(err, e->message, "root element must be <message> in namespace %s",
                         XB_ENVELOPE_NS);
    e->meta = next_element(e->message->children);
    if (!is_env(e->meta, "meta"))
        return env_error(err, e->meta ? e->meta : e->message,
                         "<message> must start with <meta>");
    e->payload = next_element(e->meta->next);
    if (!e->payload)
        return env_error(err, e->message, "envelope has no payload element");
    xmlNodePtr extra = next_element(e->payload->next);
    if (extra)
        return env_error(err, extra, "envelope has more than one payload element");
    return check_payload_ns(e->payload, err);
}

/* Fills the envelope's fields from its (structurally checked) document. */
static int index_envelope(xb_envelope_t *e, xb_error_t *err)
{
    if (index_meta(e, err) < 0 || read_meta_values(e, err) < 0)
        return -1;
    if (normalize_thread(e, err) < 0 || make_type(e, err) < 0)
        return -1;
    return 0;
}

/* ---- namespaces of the payload --------------------------------------------- */

/* Declares on the payload every namespace of <message> that the payload's
 * subtree uses, so that the payload serializes standalone (slot bytes). */
static int payload_standalone(xb_envelope_t *e, xb_error_t *err)
{
    size_t k = 0;
    for (xmlNsPtr d = e->message->nsDef; d; d = d->next)
        k++;
    if (k == 0)
        return 0;
    bool small[8] = {false};
    bool *used = k <= 8 ? small : calloc(k, sizeof *used);
    if (!used)
        return nomem(err);
    /* Iterative walk: element and attribute namespaces that point at a
     * declaration of <message>. */
    xmlNodePtr root = e->payload, n = root;
    for (;;) {
        if (n->type == XML_ELEMENT_NODE) {
            size_t i = 0;
            for (xmlNsPtr d = e->message->nsDef; d; d = d->next, i++) {
                if (n->ns == d)
                    used[i] = true;
                for (xmlAttrPtr a = n->properties; a; a = a->next) {
                    if (a->ns == d)
                        used[i] = true;
                }
            }
            if (n->children) {
                n = n->children;
                continue;
            }
        }
        while (n != root && !n->next)
            n = n->parent;
        if (n == root)
            break;
        n = n->next;
    }
    int rc = 0;
    size_t i = 0;
    for (xmlNsPtr d = e->message->nsDef; d && rc == 0; d = d->next, i++) {
        if (used[i] && !xmlNewNs(e->payload, d->href, d->prefix))
            rc = nomem(err);
    }
    if (used != small)
        free(used);
    return rc;
}

/* Gives every element the default namespace its tree says it has: an element
 * in no namespace under an in-scope default gets xmlns="" (otherwise it would
 * re-parse into that namespace), and a default-namespace element gets its
 * declaration where the scope differs. inherited is the in-scope default
 * ("" for none). Depth is bounded by the checks made before. */
static int fix_default_ns(xmlNodePtr el, const xmlChar *inherited, xb_error_t *err)
{
    const xmlChar *scope = inherited;
    xmlNsPtr own = NULL;
    for (xmlNsPtr d = el->nsDef; d; d = d->next) {
        if (!d->prefix) {
            own = d;
            scope = d->href ? d->href : BAD_CAST "";
        }
    }
    if (!el->ns || !el->ns->prefix) {
        const xmlChar *want = el->ns && el->ns->href ? el->ns->href : BAD_CAST "";
        if (!xmlStrEqual(scope, want)) {
            if (own)
                return xb_error_set(err, XB_ERR_ARG, node_line(el),
                                    "element <%s> declares a default namespace it is not in",
                                    (const char *)el->name);
            xmlNsPtr d = xmlNewNs(el, want, NULL);
            if (!d)
                return nomem(err);
            if (el->ns)
                xmlSetNs(el, d);
            scope = want;
        }
    }
    for (xmlNodePtr c = el->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && fix_default_ns(c, scope, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- parse ------------------------------------------------------------- */

/* A new envelope around doc, not checked or indexed yet. Takes doc: frees it
 * when there is no memory for the envelope. */
static xb_envelope_t *envelope_wrap(xmlDocPtr doc, xb_error_t *err)
{
    xb_envelope_t *e = calloc(1, sizeof *e);
    if (!e) {
        xmlFreeDoc(doc);
        nomem(err);
        return NULL;
    }
    e->doc = doc;
    return e;
}

xb_envelope_t *xb_envelope_parse(xb_parser_t *p, const void *bytes, size_t len, xb_error_t *err)
{
    if (!p) {
        xb_error_set(err, XB_ERR_ARG, 0, "no parser");
        return NULL;
    }
    xmlDocPtr doc = parser_read(p, bytes, len, &p->limits, err);
    if (!doc)
        return NULL;
    xb_envelope_t *e = envelope_wrap(doc, err);
    if (!e)
        return NULL;
    if (check_structure(e, err) < 0 ||
        (!p->trusted && xb_xml_validate_doc(p->vctxt, doc, XB_ERR_ENVELOPE, "envelope.xsd", err) < 0) ||
        index_envelope(e, err) < 0 || payload_standalone(e, err) < 0)
        xb_envelope_destroy(&e);
    return e;
}

/* ---- read --------------------------------------------------------------- */

const char *xb_envelope_from(const xb_envelope_t *e)
{
    return e ? e->from_s : NULL;
}

const char *xb_envelope_to(const xb_envelope_t *e)
{
    return e ? e->to_s : NULL;
}

const char *xb_envelope_thread(const xb_envelope_t *e)
{
    return e ? e->thread_s : NULL;
}

bool xb_envelope_thread_replaced(const xb_envelope_t *e)
{
    return e && e->thread_orig;
}

const char *xb_envelope_thread_original(const xb_envelope_t *e)
{
    return e ? e->thread_orig : NULL;
}

xmlNodePtr xb_envelope_payload(const xb_envelope_t *e)
{
    return e ? e->payload : NULL;
}

const char *xb_envelope_payload_type(const xb_envelope_t *e)
{
    return e ? e->type_s : NULL;
}

const char *xb_envelope_payload_ns(const xb_envelope_t *e)
{
    if (!e || !e->payload->ns || !e->payload->ns->href || !e->payload->ns->href[0])
        return NULL;
    return (const char *)e->payload->ns->href;
}

const char *xb_envelope_payload_name(const xb_envelope_t *e)
{
    return e ? (const char *)e->payload->name : NULL;
}

const char *xb_envelope_id(const xb_envelope_t *e)
{
    return e ? e->id_s : NULL;
}

int64_t xb_envelope_ts(const xb_envelope_t *e)
{
    return e ? e->ts_v : 0;
}

int xb_envelope_depth(const xb_envelope_t *e)
{
    return e ? e->depth_v : 0;
}

xmlNodePtr xb_envelope_extension_first(const xb_envelope_t *e)
{
    if (!e)
        return NULL;
    xmlNodePtr n = e->meta->children;
    while (n && !is_extension(n))
        n = n->next;
    return n;
}

xmlNodePtr xb_envelope_extension_next(const xb_envelope_t *e, xmlNodePtr prev)
{
    if (!e || !prev)
        return NULL;
    xmlNodePtr n = prev->next;
    while (n && !is_extension(n))
        n = n->next;
    return n;
}

size_t xb_envelope_extension_count(const xb_envelope_t *e)
{
    size_t count = 0;
    for (xmlNodePtr x = xb_envelope_extension_first(e); x; x = xb_envelope_extension_next(e, x))
        count++;
    return count;
}

xmlDocPtr xb_envelope_doc(const xb_envelope_t *e)
{
    return e ? e->doc : NULL;
}

/* ---- write -------------------------------------------------------------- */

/* Sets the text of el and the envelope's cached copy *cache of it (the
 * cache changes only when the text did). */
static int set_cached_text(xmlNodePtr el, const char *value, char **cache, xb_error_t *err)
{
    char *copy = strdup(value);
    if (!copy)
        return nomem(err);
    if (set_text(el, value, err) < 0) {
        free(copy);
        return -1;
    }
    free(*cache);
    *cache = copy;
    return 0;
}

int xb_envelope_set_from(xb_envelope_t *e, const char *from, xb_error_t *err)
{
    if (!e)
        return xb_error_set(err, XB_ERR_ARG, 0, "no envelope");
    if (check_name("from", from, err) < 0)
        return -1;
    return set_cached_text(e->from, from, &e->from_s, err);
}

int xb_envelope_set_to(xb_envelope_t *e, const char *to, xb_error_t *err)
{
    if (!e)
        return xb_error_set(err, XB_ERR_ARG, 0, "no envelope");
    if (!to) {
        if (e->to) {
            xmlUnlinkNode(e->to);
            xmlFreeNode(e->to);
            e->to = NULL;
        }
        free(e->to_s);
        e->to_s = NULL;
        return 0;
    }
    if (check_name("to", to, err) < 0)
        return -1;
    if (!e->to) {
        xmlNodePtr el = xmlNewDocNode(e->doc, e->meta->ns, BAD_CAST "to", NULL);
        if (!el || !xmlAddNextSibling(e->from, el)) {
            xmlFreeNode(el);
            return nomem(err);
        }
        e->to = el;
    }
    return set_cached_text(e->to, to, &e->to_s, err);
}

int xb_envelope_set_thread(xb_envelope_t *e, const char *thread, xb_error_t *err)
{
    if (!e)
        return xb_error_set(err, XB_ERR_ARG, 0, "no envelope");
    if (!xb_uuid_is_canonical(thread))
        return xb_error_set(err, XB_ERR_ARG, 0, "thread '%.40s' is not a canonical UUID4",
                            thread ? thread : "(null)");
    return set_cached_text(e->thread, thread, &e->thread_s, err);
}

/* The xmlbus meta element *slot, made at the end of <meta> when missing. */
static int meta_element(xb_envelope_t *e, xmlNodePtr *slot, const char *local, xb_error_t *err)
{
    if (*slot)
        return 0;
    xmlNodePtr el = xmlNewDocNode(e->doc, NULL, BAD_CAST local, NULL);
    if (!el)
        return nomem(err);
    xmlNsPtr ns = xmlSearchNsByHref(e->doc, e->meta, META_NS);
    if (!ns || !ns->prefix)
        ns = xmlNewNs(el, META_NS, BAD_CAST "x");
    if (!ns || !xmlAddChild(e->meta, el)) {
        xmlFreeNode(el);
        return nomem(err);
    }
    xmlSetNs(el, ns);
    *slot = el;
    return 0;
}

int xb_envelope_set_id(xb_envelope_t *e, const char *id, xb_error_t *err)
{
    if (!e)
        return xb_error_set(err, XB_ERR_ARG, 0, "no envelope");
    if (check_name("id", id, err) < 0 || meta_element(e, &e->id, "id", err) < 0)
        return -1;
    return set_cached_text(e->id, id, &e->id_s, err);
}

int xb_envelope_set_ts(xb_envelope_t *e, int64_t ts_us, xb_error_t *err)
{
    if (!e || ts_us < 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "ts must be >= 0");
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)ts_us);
    if (meta_element(e, &e->ts, "ts", err) < 0 || set_text(e->ts, buf, err) < 0)
        return -1;
    e->ts_v = ts_us;
    return 0;
}

int xb_envelope_set_depth(xb_envelope_t *e, int depth, xb_error_t *err)
{
    if (!e || depth < 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "depth must be >= 0");
    char buf[16];
    snprintf(buf, sizeof buf, "%d", depth);
    if (meta_element(e, &e->depth, "depth", err) < 0 || set_text(e->depth, buf, err) < 0)
        return -1;
    e->depth_v = depth;
    return 0;
}

/* ---- build -------------------------------------------------------------- */

static xmlNodePtr add_element(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
    xmlNodePtr el = xmlNewDocNode(parent->doc, ns, BAD_CAST name, NULL);
    if (!el)
        return NULL;
    if (!xmlAddChild(parent, el)) {
        xmlFreeNode(el);
        return NULL;
    }
    if (text) {
        xmlNodePtr t = xmlNewDocText(parent->doc, BAD_CAST text);
        if (!t || !xmlAddChild(el, t)) {
            xmlFreeNode(t);
            return NULL;
        }
    }
    return el;
}

/* A document <message xmlns=ENV><meta>from, to, thread</meta></message>
 * (thread canonical already). Returns it with *message set, or NULL. */
static xmlDocPtr new_envelope_doc(const char *from, const char *to, const char *thread,
                                  xmlNodePtr *message)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    if (!doc)
        return NULL;
    doc->encoding = xmlStrdup(BAD_CAST "UTF-8"); /* non-ASCII stays raw UTF-8 */
    xmlNodePtr msg = xmlNewDocNode(doc, NULL, BAD_CAST "message", NULL);
    if (!doc->encoding || !msg) {
        xmlFreeNode(msg);
        xmlFreeDoc(doc);
        return NULL;
    }
    xmlDocSetRootElement(doc, msg);
    xmlNsPtr ns = xmlNewNs(msg, ENV_NS, NULL);
    if (!ns) {
        xmlFreeDoc(doc);
        return NULL;
    }
    xmlSetNs(msg, ns);
    xmlNodePtr meta = add_element(msg, ns, "meta", NULL);
    if (!meta || !add_element(meta, ns, "from", from) || (to && !add_element(meta, ns, "to", to)) ||
        !add_element(meta, ns, "thread", thread)) {
        xmlFreeDoc(doc);
        return NULL;
    }
    *message = msg;
    return doc;
}

/* Wraps a finished document in an envelope, indexing it. Takes doc. */
static xb_envelope_t *envelope_from_doc(xmlDocPtr doc, const char *given_thread, bool replaced,
                                        xb_error_t *err)
{
    xb_envelope_t *e = envelope_wrap(doc, err);
    if (!e)
        return NULL;
    if (check_structure(e, err) < 0 || index_envelope(e, err) < 0) {
        xb_envelope_destroy(&e);
        return NULL;
    }
    if (replaced && !(e->thread_orig = strdup(given_thread))) {
        xb_envelope_destroy(&e);
        nomem(err);
    }
    return e;
}

static xb_envelope_t *build(const char *from, const char *to, const char *thread,
                            xmlNodePtr payload, bool check, xb_error_t *err)
{
    if (check_name("from", from, err) < 0 || (to && check_name("to", to, err) < 0))
        return NULL;
    if (!payload || payload->type != XML_ELEMENT_NODE) {
        xb_error_set(err, XB_ERR_ARG, 0, "payload must be an element");
        return NULL;
    }
    if (check) {
        xb_parse_limits_t l;
        xb_parse_limits_defaults(&l);
        l.max_depth -= 2; /* <message> and its child level */
        if (xb_xml_check_tree(payload, &l, err) < 0)
            return NULL;
    }
    if (check_payload_ns(payload, err) < 0)
        return NULL;
    char fresh[XB_UUID_LEN + 1];
    bool replaced = !xb_uuid_is_canonical(thread);
    if (replaced)
        xb_uuid_new(fresh);
    xmlNodePtr msg = NULL;
    xmlDocPtr doc = new_envelope_doc(from, to, replaced ? fresh : thread, &msg);
    if (!doc) {
        nomem(err);
        return NULL;
    }
    xmlNodePtr copy = xmlDocCopyNode(payload, doc, 1);
    if (!copy || !xmlAddChild(msg, copy)) {
        xmlFreeNode(copy);
        xmlFreeDoc(doc);
        nomem(err);
        return NULL;
    }
    if (fix_default_ns(copy, ENV_NS, err) < 0) {
        xmlFreeDoc(doc);
        return NULL;
    }
    return envelope_from_doc(doc, thread, replaced && thread, err);
}

xb_envelope_t *xb_envelope_build(const char *from, const char *to, const char *thread,
                                 xmlNodePtr payload, xb_error_t *err)
{
    return build(from, to, thread, payload, true, err);
}

xb_envelope_t *xb_envelope_build_bytes(const char *from, const char *to, const char *thread,
                                       const void *payload_xml, size_t len, xb_parser_t *p,
                                       xb_error_t *err)
{
    if (!p) {
        xb_error_set(err, XB_ERR_ARG, 0, "no parser");
        return NULL;
    }
    xb_parse_limits_t l = p->limits;
    l.max_depth = l.max_depth > 2 ? l.max_depth - 2 : 1;
    xmlDocPtr pdoc = parser_read(p, payload_xml, len, &l, err);
    if (!pdoc)
        return NULL;
    /* The parser guarantees names, text and limits: no second check. */
    xb_envelope_t *e = build(from, to, thread, xmlDocGetRootElement(pdoc), false, err);
    xmlFreeDoc(pdoc);
    return e;
}

xb_envelope_t *xb_envelope_system_error(const char *to, const char *thread, xb_code_t code,
                                        const char *message, bool retry_allowed)
{
    char *safe_msg = xb_xml_text_sanitize(message);
    char *safe_to = to ? xb_xml_text_sanitize(to) : NULL;
    char *to_trim = safe_to ? trimmed_dup(safe_to, strlen(safe_to)) : NULL;
    xb_envelope_t *e = NULL;
    xmlDocPtr doc = NULL;
    if (!safe_msg || (to && (!safe_to || !to_trim)))
        goto done;
    char fresh[XB_UUID_LEN + 1];
    bool replaced = !xb_uuid_is_canonical(thread);
    if (replaced)
        xb_uuid_new(fresh);
    xmlNodePtr msg = NULL;
    doc = new_envelope_doc(XB_SYSTEM_FROM, to_trim && to_trim[0] ? to_trim : NULL,
                           replaced ? fresh : thread, &msg);
    if (!doc)
        goto done;
    xmlNodePtr se = add_element(msg, NULL, XB_SYSTEM_ERROR_TYPE, NULL);
    if (!se || !xmlNewNs(se, BAD_CAST "", NULL) ||
        !add_element(se, NULL, "code", xb_code_name(xb_code_wire(code))) ||
        !add_element(se, NULL, "message", safe_msg) ||
        !add_element(se, NULL, "retry-allowed", retry_allowed ? "true" : "false"))
        goto done;
    e = envelope_from_doc(doc, thread, replaced && thread, NULL);
    doc = NULL; /* taken */
done:
    xmlFreeDoc(doc);
    free(safe_msg);
    free(safe_to);
    free(to_trim);
    return e;
}

int xb_envelope_read_system_error(const xb_envelope_t *e, xb_code_t *code, char **message,
                                  bool *retry_allowed, xb_error_t *err)
{
    if (message)
        *message = NULL;
    if (!e)
        return xb_error_set(err, XB_ERR_ARG, 0, "no envelope");
    xmlNodePtr pl = e->payload;
    if (xb_envelope_payload_ns(e) || !xmlStrEqual(pl->name, BAD_CAST XB_SYSTEM_ERROR_TYPE))
        return env_error(err, pl, "payload <%s> is not a SystemError", (const char *)pl->name);
    xmlNodePtr c = next_element(pl->children);
    xmlNodePtr m = c ? next_element(c->next) : NULL;
    xmlNodePtr r = m ? next_element(m->next) : NULL;
    if (!c || !m || !r || next_element(r->next) || c->ns || m->ns || r->ns ||
        !xmlStrEqual(c->name, BAD_CAST "code") || !xmlStrEqual(m->name, BAD_CAST "message") ||
        !xmlStrEqual(r->name, BAD_CAST "retry-allowed"))
        return env_error(err, pl, "SystemError must hold <code>, <message>, <retry-allowed>");
    char *cs = node_text(c), *rs = node_text(r);
    xb_code_t parsed = XB_OK;
    bool code_ok = cs && xb_code_from_name(cs, &parsed) == 0 && parsed > XB_OK &&
                   parsed <= XB_ERR_SHUTDOWN;
    bool retry = rs && (strcmp(rs, "true") == 0 || strcmp(rs, "1") == 0);
    bool retry_ok = rs && (retry || strcmp(rs, "false") == 0 || strcmp(rs, "0") == 0);
    free(cs);
    free(rs);
    if (!code_ok)
        return env_error(err, c, "SystemError <code> is not a known code");
    if (!retry_ok)
        return env_error(err, r, "SystemError <retry-allowed> is not a boolean");
    if (message) {
        xmlChar *text = xmlNodeGetContent(m);
        *message = strdup(text ? (const char *)text : "");
        xmlFree(text);
        if (!*message)
            return nomem(err);
    }
    if (code)
        *code = parsed;
    if (retry_allowed)
        *retry_allowed = retry;
    return 0;
}

/* ---- serialize ---------------------------------------------------------- */

int xb_envelope_serialize(const xb_envelope_t *e, char **out, size_t *len)
{
    return xb_xml_dump_node(e ? e->doc : NULL, e ? e->message : NULL, out, len);
}

int xb_envelope_payload_serialize(const xb_envelope_t *e, char **out, size_t *len)
{
    return xb_xml_dump_node(e ? e->doc : NULL, e ? e->payload : NULL, out, len);
}
