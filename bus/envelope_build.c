/* Building envelopes from parts (include/xmlbus/envelope.h,
 * docs/envelope.md): a payload element or payload bytes, and the pump's
 * SystemError; reading a SystemError back. */
#include "envelope_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
                return xb_error_set(err, XB_ERR_ARG, xb_env_node_line(el),
                                    "element <%s> declares a default namespace it is not in",
                                    (const char *)el->name);
            xmlNsPtr d = xmlNewNs(el, want, NULL);
            if (!d)
                return xb_env_nomem(err);
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

/* A document <message xmlns=ENV><meta>from, to, thread</meta></message>,
 * the thread replaced by a fresh UUID when it is not a canonical one
 * (*replaced says so). Returns it with *message set, or NULL. */
static xmlDocPtr new_envelope_doc(const char *from, const char *to, const char *thread,
                                  xmlNodePtr *message, bool *replaced)
{
    char fresh[XB_UUID_LEN + 1];
    *replaced = !xb_uuid_is_canonical(thread);
    if (*replaced) {
        xb_uuid_new(fresh);
        thread = fresh;
    }
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
    xb_envelope_t *e = xb_env_wrap(doc, err);
    if (!e)
        return NULL;
    if (xb_env_check_structure(e, err) < 0 || xb_env_index(e, err) < 0) {
        xb_envelope_destroy(&e);
        return NULL;
    }
    if (replaced && !(e->thread_orig = strdup(given_thread))) {
        xb_envelope_destroy(&e);
        xb_env_nomem(err);
    }
    return e;
}

static xb_envelope_t *build(const char *from, const char *to, const char *thread,
                            xmlNodePtr payload, bool check, xb_error_t *err)
{
    if (xb_env_check_name("from", from, err) < 0 || (to && xb_env_check_name("to", to, err) < 0))
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
    if (xb_env_check_payload_ns(payload, err) < 0)
        return NULL;
    bool replaced;
    xmlNodePtr msg = NULL;
    xmlDocPtr doc = new_envelope_doc(from, to, thread, &msg, &replaced);
    if (!doc) {
        xb_env_nomem(err);
        return NULL;
    }
    xmlNodePtr copy = xmlDocCopyNode(payload, doc, 1);
    if (!copy || !xmlAddChild(msg, copy)) {
        xmlFreeNode(copy);
        xmlFreeDoc(doc);
        xb_env_nomem(err);
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
    xmlDocPtr pdoc = xb_parser_read_limits(p, payload_xml, len, &l, err);
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
    char *to_trim = safe_to ? xb_env_trimmed_dup(safe_to, strlen(safe_to)) : NULL;
    xb_envelope_t *e = NULL;
    xmlDocPtr doc = NULL;
    if (!safe_msg || (to && (!safe_to || !to_trim)))
        goto done;
    bool replaced;
    xmlNodePtr msg = NULL;
    doc = new_envelope_doc(XB_SYSTEM_FROM, to_trim && to_trim[0] ? to_trim : NULL, thread, &msg,
                           &replaced);
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
        return xb_env_error(err, pl, "payload <%s> is not a SystemError", (const char *)pl->name);
    xmlNodePtr c = next_element(pl->children);
    xmlNodePtr m = c ? next_element(c->next) : NULL;
    xmlNodePtr r = m ? next_element(m->next) : NULL;
    if (!c || !m || !r || next_element(r->next) || c->ns || m->ns || r->ns ||
        !xmlStrEqual(c->name, BAD_CAST "code") || !xmlStrEqual(m->name, BAD_CAST "message") ||
        !xmlStrEqual(r->name, BAD_CAST "retry-allowed"))
        return xb_env_error(err, pl, "SystemError must hold <code>, <message>, <retry-allowed>");
    char *cs = xb_env_node_text(c), *rs = xb_env_node_text(r);
    xb_code_t parsed = XB_OK;
    bool code_ok = cs && xb_code_from_name(cs, &parsed) == 0 && parsed > XB_OK &&
                   parsed <= XB_ERR_MISSING_INPUT;
    bool retry = rs && (strcmp(rs, "true") == 0 || strcmp(rs, "1") == 0);
    bool retry_ok = rs && (retry || strcmp(rs, "false") == 0 || strcmp(rs, "0") == 0);
    free(cs);
    free(rs);
    if (!code_ok)
        return xb_env_error(err, c, "SystemError <code> is not a known code");
    if (!retry_ok)
        return xb_env_error(err, r, "SystemError <retry-allowed> is not a boolean");
    if (message) {
        xmlChar *text = xmlNodeGetContent(m);
        *message = strdup(text ? (const char *)text : "");
        xmlFree(text);
        if (!*message)
            return xb_env_nomem(err);
    }
    if (code)
        *code = parsed;
    if (retry_allowed)
        *retry_allowed = retry;
    return 0;
}
