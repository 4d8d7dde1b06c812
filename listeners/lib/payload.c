/* Building and serializing payload elements (see include/xmlbus/listener.h).
 *
 * Every value goes into the tree as a text node or attribute value through
 * the libxml2 tree API, which escapes it when the tree is written: a C string
 * can never become markup. Bytes XML cannot carry are replaced first
 * (xb_xml_text_sanitize), so that a payload built here always serializes to
 * well-formed XML. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "xmlbus/listener.h"
#include "xmlbus/xmlsafe.h"

static bool ncname_ok(const char *name)
{
    return name && name[0] && xmlValidateNCName((const xmlChar *)name, 0) == 0;
}

xmlNodePtr xb_payload_new(const char *tag)
{
    if (!ncname_ok(tag))
        return NULL;
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    if (!doc)
        return NULL;
    xmlNodePtr node = xmlNewDocNode(doc, NULL, (const xmlChar *)tag, NULL);
    if (!node) {
        xmlFreeDoc(doc);
        return NULL;
    }
    xmlDocSetRootElement(doc, node);
    return node;
}

void xb_payload_free(xmlNodePtr node)
{
    if (!node)
        return;
    if (node->doc && xmlDocGetRootElement(node->doc) == node) {
        xmlFreeDoc(node->doc);
        return;
    }
    xmlUnlinkNode(node);
    xmlFreeNode(node);
}

/* The formatted text, made safe for XML. Caller frees. */
static char *format_text(const char *fmt, va_list ap)
{
    char *raw = NULL;
    if (vasprintf(&raw, fmt, ap) < 0)
        return NULL;
    char *clean = xb_xml_text_sanitize(raw);
    free(raw);
    return clean;
}

xmlNodePtr xb_payload_add_child(xmlNodePtr parent, const char *child)
{
    if (!parent || parent->type != XML_ELEMENT_NODE || !ncname_ok(child))
        return NULL;
    xmlNodePtr node = xmlNewDocNode(parent->doc, NULL, (const xmlChar *)child, NULL);
    if (!node)
        return NULL;
    if (!xmlAddChild(parent, node)) {
        xmlFreeNode(node);
        return NULL;
    }
    return node;
}

xmlNodePtr xb_payload_add_text(xmlNodePtr parent, const char *child, const char *fmt, ...)
{
    if (!parent || parent->type != XML_ELEMENT_NODE || !fmt || (child && !ncname_ok(child)))
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    char *text = format_text(fmt, ap);
    va_end(ap);
    if (!text)
        return NULL;
    xmlNodePtr target = child ? xb_payload_add_child(parent, child) : parent;
    if (!target) {
        free(text);
        return NULL;
    }
    /* A text node holds its content literally; escaping happens on output. */
    xmlNodePtr t = text[0] ? xmlNewDocText(parent->doc, (const xmlChar *)text) : NULL;
    free(text);
    if (t && !xmlAddChild(target, t)) {
        xmlFreeNode(t);
        return NULL;
    }
    return target;
}

int xb_payload_set_attr(xmlNodePtr node, const char *name, const char *fmt, ...)
{
    if (!node || node->type != XML_ELEMENT_NODE || !ncname_ok(name) || !fmt)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *value = format_text(fmt, ap);
    va_end(ap);
    if (!value)
        return -1;
    /* xmlSetProp stores the value as a text child: no entity parsing. */
    xmlAttrPtr a = xmlSetProp(node, (const xmlChar *)name, (const xmlChar *)value);
    free(value);
    return a ? 0 : -1;
}

xmlNodePtr xb_payload_copy(const xmlNode *node)
{
    if (!node || node->type != XML_ELEMENT_NODE)
        return NULL;
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    if (!doc)
        return NULL;
    /* The copy declares on itself every namespace it inherited from the
     * source tree (libxml2 reconciles them while copying). */
    xmlNodePtr copy = xmlDocCopyNode((xmlNodePtr)node, doc, 1);
    if (!copy) {
        xmlFreeDoc(doc);
        return NULL;
    }
    xmlDocSetRootElement(doc, copy);
    return copy;
}

int xb_payload_serialize(const xmlNode *node, char **out, size_t *len)
{
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (!node || !out || node->type != XML_ELEMENT_NODE)
        return -1;
    /* A node inside a bigger tree may use namespaces declared on its
     * ancestors: write a standalone copy so that they are declared. */
    if (node->parent && node->parent->type != XML_DOCUMENT_NODE) {
        xmlNodePtr copy = xb_payload_copy(node);
        if (!copy)
            return -1;
        int rc = xb_xml_dump_node(NULL, copy, out, len);
        xb_payload_free(copy);
        return rc;
    }
    return xb_xml_dump_node(NULL, node, out, len);
}
