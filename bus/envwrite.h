/* The pump's fast path for envelopes: an escaping writer that wraps payload
 * bytes which were already parsed and checked, instead of building and
 * serializing a libxml2 tree for every delivery.
 *
 * The envelope is written with prefixes, which docs/envelope.md makes
 * equivalent to the default-namespace form:
 *
 *   <e:message xmlns:e="https://xml-pipeline.org/ns/envelope/v1"
 *              xmlns:x="urn:xmlbus:meta:v1"><e:meta><e:from>..</e:from>
 *   <e:to>..</e:to><e:thread>..</e:thread><x:id>..</x:id><x:ts>..</x:ts>
 *   <x:depth>..</x:depth></e:meta>PAYLOAD</e:message>
 *
 * With no default namespace in scope, a payload in no namespace stays in no
 * namespace without an xmlns="" of its own, and a payload that parsed on its
 * own carries every declaration it needs: its bytes are embedded verbatim. */
#ifndef XMLBUS_ENVWRITE_H
#define XMLBUS_ENVWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "xmlbus/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The bytes every written envelope ends with, right after the payload. */
#define XB_ENVELOPE_CLOSE "</e:message>"

typedef struct {
    const char *from;   /* required */
    const char *to;     /* NULL or "" for none */
    const char *thread; /* required */
    const char *id;     /* NULL for none */
    int64_t ts_us;      /* written when id is set */
    int depth;          /* written when id is set */
    int redelivered;    /* > 0: <x:redelivered>, written when id is set */
} xb_envelope_fields_t;

/* Writes the envelope of fields around payload (the bytes of exactly one
 * element that parses on its own, see xb_payload_embeddable). Text fields are
 * escaped. *out is malloc'd and NUL-terminated (caller frees); *len excludes
 * the NUL. Returns 0, or -1 with XB_ERR_ARG / XB_ERR_NOMEM. */
int xb_envelope_write(const xb_envelope_fields_t *fields, const char *payload, size_t payload_len,
                      char **out, size_t *len, xb_error_t *err);

/* A copy of the envelope env (len bytes, written by xb_envelope_write: its
 * meta ends with </e:meta>) with <x:redelivered>n</x:redelivered> in its
 * meta: in place of the one it has, else before </e:meta>; unchanged when
 * it has no </e:meta>. NUL-terminated, *out_len its length; the caller
 * frees it. NULL on no memory. */
char *xb_envelope_mark_redelivered(const char *env, size_t len, long n, size_t *out_len);

/* True when an element in namespace href (NULL or "" for none) can be the
 * payload of an envelope that parses again. libxml2's XML Schema validator
 * compares namespace names with its own '*' wildcard, so envelope.xsd
 * refuses an element whose namespace starts with '*' (except "*" alone)
 * although its ##any admits every namespace: such payloads are refused on
 * the way in (docs/envelope.md). */
bool xb_payload_ns_ok(const char *href);

/* The bytes of the root element of doc, which was parsed from bytes[0..len):
 * when the document holds nothing but its root element (an XML declaration,
 * a BOM and white space aside), *start points into bytes; otherwise the root
 * is serialized and *owned receives the malloc'd copy that *start points to
 * (caller frees *owned; it is NULL when nothing was allocated).
 * Returns 0, or -1 with XB_ERR_ARG / XB_ERR_NOMEM, or XB_ERR_ENVELOPE for a
 * root whose namespace xb_payload_ns_ok refuses. */
int xb_payload_embeddable(xmlDocPtr doc, const char *bytes, size_t len, const char **start,
                          size_t *n, char **owned, xb_error_t *err);

/* The same for a payload checked by xb_xml_scan without a tree, which found
 * nothing around its root element: *start and *n point into bytes, past a
 * BOM, an XML declaration and white space. Returns 0, or -1 (nothing left). */
int xb_payload_embeddable_bytes(const char *bytes, size_t len, const char **start, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
