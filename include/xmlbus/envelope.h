/* The xmlbus envelope (docs/envelope.md).
 *
 *     <message xmlns="https://xml-pipeline.org/ns/envelope/v1">
 *       <meta>
 *         <from>console</from>
 *         <to>greeter</to>                       (optional)
 *         <thread>0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e</thread>
 *         <x:id xmlns:x="urn:xmlbus:meta:v1">...</x:id>      (xmlbus meta)
 *         ... elements of other namespaces (extensions) ...
 *       </meta>
 *       <greeting xmlns=""><name>World</name></greeting>   (the one payload)
 *     </message>
 *
 * Parsing goes through an xb_parser_t: a hardened libxml2 context plus the
 * compiled envelope.xsd and its validation context, all reused from message
 * to message. A parser is NOT thread-safe: use one per thread. Call
 * xb_xml_init() (xmlbus/xmlsafe.h) in main() before starting threads.
 *
 * An xb_envelope_t owns its libxml2 document. It is independent of the parser
 * that made it (it may outlive it and move to another thread), but it is not
 * safe to use one envelope from two threads at once. */
#ifndef XMLBUS_ENVELOPE_H
#define XMLBUS_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "xmlbus/error.h"
#include "xmlbus/export.h"
#include "xmlbus/uuid.h"
#include "xmlbus/xmlsafe.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_ENVELOPE_NS "https://xml-pipeline.org/ns/envelope/v1"
#define XB_META_NS "urn:xmlbus:meta:v1"
#define XB_SYSTEM_FROM "system"
#define XB_SYSTEM_ERROR_TYPE "SystemError"

/* ---- parser ------------------------------------------------------------- */

typedef struct xb_parser_t xb_parser_t;

/* A parser with the given limits (NULL: xb_parse_limits_defaults). Compiles
 * <xb_schema_dir()>/envelope.xsd. Calls xb_xml_init() if nobody did.
 * Returns the parser (caller owns it, xb_parser_destroy) or NULL with *err set
 * (XB_ERR_ARG for bad limits, XB_ERR_IO / XB_ERR_CONFIG for the schema,
 * XB_ERR_NOMEM). */
XB_EXPORT xb_parser_t *xb_parser_new(const xb_parse_limits_t *limits, xb_error_t *err);

/* Frees *p and sets it to NULL. NULL and *p NULL are allowed. */
XB_EXPORT void xb_parser_destroy(xb_parser_t **p);

/* Trusted input (a DELIVER written by the pump, which validated it) skips the
 * envelope.xsd validation; the hardening, the limits and the structure checks
 * (meta, from, thread, one payload) still apply. Default: not trusted. */
XB_EXPORT void xb_parser_trust(xb_parser_t *p, bool trusted);

/* The limits the parser applies. Borrowed. */
XB_EXPORT const xb_parse_limits_t *xb_parser_limits(const xb_parser_t *p);

/* Parses any document with the parser's hardening and limits (no envelope
 * checks): for bare payloads. Returns the document (caller owns it,
 * xmlFreeDoc; it does not depend on the parser) or NULL with *err set
 * (XB_ERR_PARSE, XB_ERR_LIMIT). */
XB_EXPORT xmlDocPtr xb_parser_read(xb_parser_t *p, const void *bytes, size_t len, xb_error_t *err);

/* ---- parse -------------------------------------------------------------- */

typedef struct xb_envelope_t xb_envelope_t;

/* Parses and validates one envelope: hardened parse (XB_ERR_PARSE,
 * XB_ERR_LIMIT), envelope.xsd, exactly one payload element, payload not in the
 * envelope namespace, well-formed xmlbus meta (XB_ERR_ENVELOPE). Every error
 * message starts with "line N: " and err->line is N.
 *
 * A thread that is not a canonical lower-case UUID (missing text, upper
 * case, another version, garbage) is replaced by a fresh UUID in the
 * document; xb_envelope_thread_replaced() then tells so and
 * xb_envelope_thread_original() keeps the text that was there.
 *
 * Returns the envelope (caller owns it, xb_envelope_destroy) or NULL. */
XB_EXPORT xb_envelope_t *xb_envelope_parse(xb_parser_t *p, const void *bytes, size_t len,
                                           xb_error_t *err);

/* Frees *e and sets it to NULL. NULL and *e NULL are allowed. */
XB_EXPORT void xb_envelope_destroy(xb_envelope_t **e);

/* ---- read --------------------------------------------------------------- */
/* Strings are borrowed, valid until the next setter on the same field or
 * destroy, with surrounding whitespace removed. */

XB_EXPORT const char *xb_envelope_from(const xb_envelope_t *e);
XB_EXPORT const char *xb_envelope_to(const xb_envelope_t *e);     /* NULL if absent */
XB_EXPORT const char *xb_envelope_thread(const xb_envelope_t *e); /* always canonical */

/* True if parse or build replaced the thread it was given; the original text
 * (possibly "", never NULL when replaced) is kept. NULL when not replaced. */
XB_EXPORT bool xb_envelope_thread_replaced(const xb_envelope_t *e);
XB_EXPORT const char *xb_envelope_thread_original(const xb_envelope_t *e);

/* The payload element (borrowed, owned by the envelope's document). */
XB_EXPORT xmlNodePtr xb_envelope_payload(const xb_envelope_t *e);

/* The payload's type: its local name when it is in no namespace
 * ("greeting"), "{namespace}local" otherwise. */
XB_EXPORT const char *xb_envelope_payload_type(const xb_envelope_t *e);
/* The payload's namespace (NULL for none) and local name. */
XB_EXPORT const char *xb_envelope_payload_ns(const xb_envelope_t *e);
XB_EXPORT const char *xb_envelope_payload_name(const xb_envelope_t *e);

/* xmlbus meta (urn:xmlbus:meta:v1 inside <meta>): message id (NULL when
 * absent), timestamp in microseconds since the epoch (0 when absent) and hop
 * depth (0 when absent). */
XB_EXPORT const char *xb_envelope_id(const xb_envelope_t *e);
XB_EXPORT int64_t xb_envelope_ts(const xb_envelope_t *e);
XB_EXPORT int xb_envelope_depth(const xb_envelope_t *e);

/* Extension elements of <meta>: every child element that is neither
 * from/to/thread nor xmlbus's id/ts/depth. They are kept untouched and
 * re-serialized as they came. Borrowed nodes; iterate with
 *     for (xmlNodePtr x = xb_envelope_extension_first(e); x;
 *          x = xb_envelope_extension_next(e, x)) ...
 * Setters keep extension nodes valid. */
XB_EXPORT xmlNodePtr xb_envelope_extension_first(const xb_envelope_t *e);
XB_EXPORT xmlNodePtr xb_envelope_extension_next(const xb_envelope_t *e, xmlNodePtr prev);
XB_EXPORT size_t xb_envelope_extension_count(const xb_envelope_t *e);

/* The envelope's document (borrowed): for validating the payload in place
 * (xb_xml_validate_element on xb_envelope_payload). Do not restructure it. */
XB_EXPORT xmlDocPtr xb_envelope_doc(const xb_envelope_t *e);

/* ---- write -------------------------------------------------------------- */
/* Each returns 0, or -1 with *err set (XB_ERR_ARG for a value XML cannot
 * carry, XB_ERR_NOMEM). Values are stored as text: they can never inject
 * markup. */

/* from: a non-empty name without surrounding whitespace. */
XB_EXPORT int xb_envelope_set_from(xb_envelope_t *e, const char *from, xb_error_t *err);
/* to: as from, or NULL to remove <to>. */
XB_EXPORT int xb_envelope_set_to(xb_envelope_t *e, const char *to, xb_error_t *err);
/* thread: a canonical UUID (xb_uuid_is_canonical). The replacement report
 * of parse/build is left as it was. */
XB_EXPORT int xb_envelope_set_thread(xb_envelope_t *e, const char *thread, xb_error_t *err);
/* xmlbus meta; each element is created (x:id xmlns:x="urn:xmlbus:meta:v1", at
 * the end of <meta>) when missing. id: non-empty text; ts, depth: >= 0. */
XB_EXPORT int xb_envelope_set_id(xb_envelope_t *e, const char *id, xb_error_t *err);
XB_EXPORT int xb_envelope_set_ts(xb_envelope_t *e, int64_t ts_us, xb_error_t *err);
XB_EXPORT int xb_envelope_set_depth(xb_envelope_t *e, int depth, xb_error_t *err);

/* ---- build -------------------------------------------------------------- */

/* A new envelope from parts, built with the libxml2 tree API.
 * from: non-empty name; to: NULL for none; thread: a canonical UUID, or
 * anything else (NULL included) to get a fresh one (reported as replaced
 * unless NULL). payload: an element, deep-copied (the caller keeps it); it
 * must pass xb_xml_check_tree (default limits, two levels fewer for the
 * envelope) and not be in the envelope namespace. A payload in no namespace
 * is written with xmlns="" so that it never inherits the envelope namespace.
 * Returns the envelope (caller owns it) or NULL with *err set (XB_ERR_ARG,
 * XB_ERR_ENVELOPE, XB_ERR_NOMEM). */
XB_EXPORT xb_envelope_t *xb_envelope_build(const char *from, const char *to, const char *thread,
                                           xmlNodePtr payload, xb_error_t *err);

/* As xb_envelope_build, with the payload given as XML bytes (one element; an
 * XML declaration, comments and PIs around it are dropped). The bytes get the
 * same hardening as a message, with p's limits (max_depth two levels fewer:
 * the envelope adds them): XB_ERR_PARSE / XB_ERR_LIMIT, and XB_ERR_ENVELOPE
 * for a payload in the envelope namespace. Caller owns the result. */
XB_EXPORT xb_envelope_t *xb_envelope_build_bytes(const char *from, const char *to,
                                                 const char *thread, const void *payload_xml,
                                                 size_t len, xb_parser_t *p, xb_error_t *err);

/* A SystemError envelope from "system":
 *     <SystemError xmlns=""><code>routing</code><message>...</message>
 *     <retry-allowed>false</retry-allowed></SystemError>
 * code is written as xb_code_name(xb_code_wire(code)). to may be NULL (no
 * <to>); a thread that is not canonical gets a fresh UUID. message (NULL
 * means "") and to are sanitized (characters XML cannot carry become U+FFFD),
 * so this only fails on no memory (NULL). Caller owns the result. */
XB_EXPORT xb_envelope_t *xb_envelope_system_error(const char *to, const char *thread,
                                                  xb_code_t code, const char *message,
                                                  bool retry_allowed);

/* Reads a SystemError payload. Returns 0 with *code (a wire code),
 * *message (malloc'd, caller frees; may pass NULL) and *retry_allowed (may
 * pass NULL) set, or -1 with XB_ERR_ENVELOPE if the payload is not a
 * well-formed SystemError. */
XB_EXPORT int xb_envelope_read_system_error(const xb_envelope_t *e, xb_code_t *code, char **message,
                                            bool *retry_allowed, xb_error_t *err);

/* ---- serialize ---------------------------------------------------------- */

/* The whole envelope as UTF-8 XML without XML declaration or indentation.
 * *out is malloc'd and NUL-terminated (caller frees), *len excludes the NUL.
 * Returns 0, or -1 on no memory (*out NULL). Linear in the document size. */
XB_EXPORT int xb_envelope_serialize(const xb_envelope_t *e, char **out, size_t *len);

/* The payload element alone, carrying every namespace declaration it needs,
 * so that it re-parses standalone to the same element (slot payload bytes,
 * REPLY/DELIVER bodies). Same conventions as xb_envelope_serialize. */
XB_EXPORT int xb_envelope_payload_serialize(const xb_envelope_t *e, char **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
