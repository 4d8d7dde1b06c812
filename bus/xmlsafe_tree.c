/* Trees a program built, for the hardened XML intake
 * (include/xmlbus/xmlsafe.h, docs/envelope.md): checking them against what
 * a parsed document guarantees, and serializing an element. */
#include "xmlsafe_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlIO.h>

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
    if (!ns->href || !prefix_ok(ns->prefix) || !text_ok(ns->href) || (ns->prefix && !ns->href[0]))
        return xb_error_set(err, XB_ERR_ARG, line, "line %d: invalid namespace (prefix '%s')", line,
                            ns->prefix ? (const char *)ns->prefix : "");
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
                return xb_error_set(err, XB_ERR_ARG, line, "line %d: attribute '%s' repeated", line,
                                    (const char *)a->name);
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
            return xb_error_set(err, XB_ERR_ARG, 0, "elements nested deeper than %d", l->max_depth);
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
