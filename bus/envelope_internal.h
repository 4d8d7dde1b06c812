/* Pieces shared by the files of the envelope (include/xmlbus/envelope.h,
 * docs/envelope.md):
 *   envelope.c         parse: structure checks, meta fields, the payload's
 *                      namespaces; destroy, serialize; the shared helpers
 *   envelope_parser.c  the parser object (xb_parser_t)
 *   envelope_access.c  reading and editing the fields of an envelope
 *   envelope_build.c   building envelopes (and SystemErrors) from parts
 * Nothing here is public API. */
#ifndef XMLBUS_ENVELOPE_INTERNAL_H
#define XMLBUS_ENVELOPE_INTERNAL_H

#include "xmlbus/envelope.h"

#define ENV_NS BAD_CAST XB_ENVELOPE_NS
#define META_NS BAD_CAST XB_META_NS

struct xb_parser_t {
    xb_parse_limits_t limits;
    xmlParserCtxtPtr ctxt; /* NULL after a failed renewal: made again on use */
    xmlSchemaPtr schema;
    xmlSchemaValidCtxtPtr vctxt;
    bool trusted; /* skip envelope.xsd: the pump wrote the message */
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

/* ---- small helpers (envelope.c) ------------------------------------------ */

static inline bool is_xml_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline bool in_ns(const xmlNode *n, const xmlChar *href)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && xmlStrEqual(n->ns->href, href);
}

static inline bool is_env(const xmlNode *n, const char *local)
{
    return in_ns(n, ENV_NS) && xmlStrEqual(n->name, BAD_CAST local);
}

static inline bool is_meta_field(const xmlNode *n, const char *local)
{
    return in_ns(n, META_NS) && xmlStrEqual(n->name, BAD_CAST local);
}

static inline xmlNodePtr next_element(xmlNodePtr n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

/* Sets XB_ERR_NOMEM; returns -1. */
static inline int xb_env_nomem(xb_error_t *err)
{
    return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
}

/* The line of node n in its source document, 0 when unknown. */
int xb_env_node_line(const xmlNode *n);

/* Sets an XB_ERR_ENVELOPE error "line N: ..." at node `at`; returns -1. */
int xb_env_error(xb_error_t *err, const xmlNode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A malloc'd copy of s[0..len) without surrounding XML whitespace. */
char *xb_env_trimmed_dup(const char *s, size_t len);

/* The text of an element, trimmed, malloc'd. NULL on no memory. */
char *xb_env_node_text(const xmlNode *n);

/* Replaces the children of an element by one text node holding value as
 * text (escaped on output, never parsed as markup). Old children are only
 * freed once the new text exists. */
int xb_env_set_text(xmlNodePtr el, const char *value, xb_error_t *err);

/* A name for from/to: non-empty, characters XML can carry, no surrounding
 * whitespace (so that reading it back gives the same string). */
int xb_env_check_name(const char *what, const char *v, xb_error_t *err);

/* ---- parse (envelope.c, envelope_parser.c) ---------------------------------- */

/* Reads bytes with p's context under `limits` (p's own or tighter). */
xmlDocPtr xb_parser_read_limits(xb_parser_t *p, const void *bytes, size_t len,
                                const xb_parse_limits_t *limits, xb_error_t *err);

/* A new envelope around doc, not checked or indexed yet. Takes doc: frees it
 * when there is no memory for the envelope. */
xb_envelope_t *xb_env_wrap(xmlDocPtr doc, xb_error_t *err);

/* The message's shape: root, <meta> first, exactly one payload outside the
 * envelope namespace. Runs before envelope.xsd (clearer messages for the
 * usual mistakes) and checks what the schema cannot say. */
int xb_env_check_structure(xb_envelope_t *e, xb_error_t *err);

/* Fills the envelope's fields from its (structurally checked) document. */
int xb_env_index(xb_envelope_t *e, xb_error_t *err);

/* A payload's namespace: not the envelope's, and one that envelope.xsd
 * takes (xb_payload_ns_ok). Returns 0, or -1 with err set. */
int xb_env_check_payload_ns(const xmlNode *payload, xb_error_t *err);

#endif
