/* The envelope: parse, validate, read, edit, build, serialize
 * (see include/xmlbus/envelope.h and docs/envelope.md). This file parses;
 * envelope_internal.h lists the others. */
#include "envelope_internal.h"
#include "envwrite.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers -------------------------------------------------------- */

int xb_env_node_line(const xmlNode *n)
{
    long line = n ? xmlGetLineNo(n) : 0;
    return line > 0 && line < INT_MAX ? (int)line : 0;
}

int xb_env_error(xb_error_t *err, const xmlNode *at, const char *fmt, ...)
{
    char what[XB_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int line = xb_env_node_line(at);
    return xb_error_set(err, XB_ERR_ENVELOPE, line, "line %d: %s", line, what);
}

char *xb_env_trimmed_dup(const char *s, size_t len)
{
    while (len > 0 && is_xml_ws(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_xml_ws(s[len - 1]))
        len--;
    return strndup(s, len);
}

char *xb_env_node_text(const xmlNode *n)
{
    xmlChar *c = xmlNodeGetContent(n);
    const char *s = c ? (const char *)c : "";
    char *t = xb_env_trimmed_dup(s, strlen(s));
    xmlFree(c);
    return t;
}

int xb_env_set_text(xmlNodePtr el, const char *value, xb_error_t *err)
{
    xmlNodePtr text = xmlNewDocText(el->doc, BAD_CAST value);
    if (!text)
        return xb_env_nomem(err);
    xmlNodePtr c = el->children;
    while (c) {
        xmlNodePtr next = c->next;
        xmlUnlinkNode(c);
        xmlFreeNode(c);
        c = next;
    }
    if (!xmlAddChild(el, text)) {
        xmlFreeNode(text);
        return xb_env_nomem(err);
    }
    return 0;
}

int xb_env_check_name(const char *what, const char *v, xb_error_t *err)
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

/* Finds from/to/thread and the xmlbus meta in <meta>. */
static int index_meta(xb_envelope_t *e, xb_error_t *err)
{
    for (xmlNodePtr n = next_element(e->meta->children); n; n = next_element(n->next)) {
        xmlNodePtr *slot = NULL;
        if (in_ns(n, ENV_NS)) {
            slot = is_env(n, "from")     ? &e->from
                   : is_env(n, "to")     ? &e->to
                   : is_env(n, "thread") ? &e->thread
                                         : NULL;
            if (!slot)
                return xb_env_error(err, n, "unexpected element <%s> in <meta>",
                                    (const char *)n->name);
        } else if (in_ns(n, META_NS)) {
            slot = is_meta_field(n, "id")      ? &e->id
                   : is_meta_field(n, "ts")    ? &e->ts
                   : is_meta_field(n, "depth") ? &e->depth
                                               : NULL;
            if (!slot)
                continue; /* a future xmlbus field: passes through as an extension */
        } else {
            continue; /* extension */
        }
        if (*slot)
            return xb_env_error(err, n, "<%s> appears twice in <meta>", (const char *)n->name);
        *slot = n;
    }
    if (!e->from)
        return xb_env_error(err, e->meta, "<meta> has no <from>");
    if (!e->thread)
        return xb_env_error(err, e->meta, "<meta> has no <thread>");
    return 0;
}

/* The trimmed text of an optional meta element as a count in [0, max]. */
static int read_count(const xmlNode *n, const char *name, int64_t max, int64_t *out,
                      xb_error_t *err)
{
    if (!n)
        return 0;
    char *t = xb_env_node_text(n);
    if (!t)
        return xb_env_nomem(err);
    bool ok = parse_count(t, max, out);
    free(t);
    if (!ok)
        return xb_env_error(err, n, "xmlbus meta <%s> is not a non-negative decimal integer", name);
    return 0;
}

static int read_meta_values(xb_envelope_t *e, xb_error_t *err)
{
    if (!(e->from_s = xb_env_node_text(e->from)))
        return xb_env_nomem(err);
    if (!e->from_s[0])
        return xb_env_error(err, e->from, "<from> is empty");
    if (e->to) {
        if (!(e->to_s = xb_env_node_text(e->to)))
            return xb_env_nomem(err);
        if (!e->to_s[0])
            return xb_env_error(err, e->to, "<to> is empty (leave it out to route by payload)");
    }
    if (e->id) {
        if (!(e->id_s = xb_env_node_text(e->id)))
            return xb_env_nomem(err);
        if (!e->id_s[0])
            return xb_env_error(err, e->id, "xmlbus meta <id> is empty");
    }
    int64_t depth = 0;
    if (read_count(e->ts, "ts", INT64_MAX, &e->ts_v, err) < 0 ||
        read_count(e->depth, "depth", INT_MAX, &depth, err) < 0)
        return -1;
    e->depth_v = (int)depth;
    return 0;
}

/* A thread that is not a canonical UUID gets a fresh one; the original
 * text is kept for the report. */
static int normalize_thread(xb_envelope_t *e, xb_error_t *err)
{
    char *t = xb_env_node_text(e->thread);
    if (!t)
        return xb_env_nomem(err);
    if (xb_uuid_is_canonical(t)) {
        xmlChar *raw = xmlNodeGetContent(e->thread);
        bool padded = !raw || strcmp((const char *)raw, t) != 0;
        xmlFree(raw);
        if (padded && xb_env_set_text(e->thread, t, err) < 0) {
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
        return xb_env_nomem(err);
    }
    if (xb_env_set_text(e->thread, fresh, err) < 0) {
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
    return e->type_s ? 0 : xb_env_nomem(err);
}

int xb_env_check_structure(xb_envelope_t *e, xb_error_t *err)
{
    e->message = xmlDocGetRootElement(e->doc);
    if (!is_env(e->message, "message"))
        return xb_env_error(err, e->message, "root element must be <message> in namespace %s",
                            XB_ENVELOPE_NS);
    e->meta = next_element(e->message->children);
    if (!is_env(e->meta, "meta"))
        return xb_env_error(err, e->meta ? e->meta : e->message,
                            "<message> must start with <meta>");
    e->payload = next_element(e->meta->next);
    if (!e->payload)
        return xb_env_error(err, e->message, "envelope has no payload element");
    xmlNodePtr extra = next_element(e->payload->next);
    if (extra)
        return xb_env_error(err, extra, "envelope has more than one payload element");
    return xb_env_check_payload_ns(e->payload, err);
}

int xb_env_check_payload_ns(const xmlNode *payload, xb_error_t *err)
{
    if (in_ns(payload, ENV_NS))
        return xb_env_error(err, payload, "payload <%s> must not be in the envelope namespace",
                            (const char *)payload->name);
    if (payload->ns && !xb_payload_ns_ok((const char *)payload->ns->href))
        return xb_env_error(err, payload,
                            "payload <%s> is in namespace '%.200s', which is not supported (it "
                            "starts with '*')",
                            (const char *)payload->name, (const char *)payload->ns->href);
    return 0;
}

int xb_env_index(xb_envelope_t *e, xb_error_t *err)
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
        return xb_env_nomem(err);
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
            rc = xb_env_nomem(err);
    }
    if (used != small)
        free(used);
    return rc;
}

/* ---- parse ------------------------------------------------------------- */

xb_envelope_t *xb_env_wrap(xmlDocPtr doc, xb_error_t *err)
{
    xb_envelope_t *e = calloc(1, sizeof *e);
    if (!e) {
        xmlFreeDoc(doc);
        xb_env_nomem(err);
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
    xmlDocPtr doc = xb_parser_read_limits(p, bytes, len, &p->limits, err);
    if (!doc)
        return NULL;
    xb_envelope_t *e = xb_env_wrap(doc, err);
    if (!e)
        return NULL;
    if (xb_env_check_structure(e, err) < 0 ||
        (!p->trusted &&
         xb_xml_validate_doc(p->vctxt, doc, XB_ERR_ENVELOPE, "envelope.xsd", err) < 0) ||
        xb_env_index(e, err) < 0 || payload_standalone(e, err) < 0)
        xb_envelope_destroy(&e);
    return e;
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
