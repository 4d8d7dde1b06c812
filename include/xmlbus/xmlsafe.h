/* Hardened XML intake on libxml2 2.9 (docs/envelope.md).
 *
 * Every XML document that reaches xmlbus from outside goes through
 * xb_xml_read: a linear pre-scan (size, UTF-8, DOCTYPE, depth, attributes,
 * namespace declarations) and then libxml2 with options that never load,
 * expand or fetch anything. Most code uses the envelope parser
 * (xmlbus/envelope.h), which wraps these functions; they are public for the
 * modules that parse or validate other documents (payloads, schemas).
 *
 * Process set-up: call xb_xml_init() once in main() before starting threads
 * (it is idempotent and thread-safe, but libxml2's own globals are set up by
 * it, and any thread that uses libxml2 before it races with that set-up). */
#ifndef XMLBUS_XMLSAFE_H
#define XMLBUS_XMLSAFE_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include "xmlbus/error.h"
#include "xmlbus/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a document may cost before libxml2 sees it. Exceeding any of them is
 * an XB_ERR_LIMIT error. */
typedef struct {
    size_t max_bytes;   /* whole document, default 1 MiB, at most INT_MAX */
    int max_depth;      /* element nesting (root = 1), default 256; libxml2 2.9
                           itself refuses more than 256 without XML_PARSE_HUGE,
                           which xmlbus never passes */
    int max_attributes; /* attributes (namespace declarations included) on
                           one element, default 256 */
    int max_namespaces; /* namespace declarations in the whole document,
                           default 256 */
} xb_parse_limits_t;

#define XB_PARSE_DEFAULT_MAX_BYTES (1024u * 1024u)
#define XB_PARSE_DEFAULT_MAX_DEPTH 256
#define XB_PARSE_DEFAULT_MAX_ATTRIBUTES 256
#define XB_PARSE_DEFAULT_MAX_NAMESPACES 256

/* Fills *limits with the defaults above. */
XB_EXPORT void xb_parse_limits_defaults(xb_parse_limits_t *limits);

/* Checks that every limit is positive and max_bytes <= INT_MAX.
 * Returns 0, or -1 with XB_ERR_ARG. */
XB_EXPORT int xb_parse_limits_check(const xb_parse_limits_t *limits, xb_error_t *err);

/* Once per process (pthread_once; later calls do nothing): xmlInitParser(),
 * the XSD built-in types, and a process-wide external entity loader that
 * refuses every load requested by an xmlbus intake context and every network
 * load (http://, ftp://) requested by anyone. Local files stay loadable for
 * the other libxml2 users of the process, so that XSD files and their
 * xs:include / xs:import still compile; message documents never load
 * anything. */
XB_EXPORT void xb_xml_init(void);

/* The folder that holds envelope.xsd, system.xsd, ... (bus/schema_dir.c):
 *   1. $XMLBUS_SCHEMA_DIR if set and non-empty;
 *   2. the source tree's schemas/ when the code runs from the build tree;
 *   3. <datadir>/xmlbus/schemas of the installation that holds the running
 *      libxmlbus.so or program, found relative to it (any prefix);
 *   4. <datadir>/xmlbus/schemas of the prefix the build was configured with.
 * Steps 2-4 are resolved once per process. Borrowed string (the
 * environment's or the library's own); never NULL. */
XB_EXPORT const char *xb_schema_dir(void);

/* The linear pre-scan that runs before libxml2: size, strict UTF-8 of
 * characters XML allows (no NUL, no C0 control but tab, LF, CR, no U+FFFE
 * or U+FFFF; an XML declaration may only name UTF-8 or US-ASCII), no
 * DOCTYPE or other `<!` declaration, malformed tags, element depth,
 * attributes per element and namespace declarations per document. limits NULL means the defaults.
 * Returns 0, or -1 with err set: XB_ERR_LIMIT for a limit, XB_ERR_PARSE for
 * the rest; the message starts with "line N: " and err->line is N. It does not
 * check well-formedness in general: libxml2 does that next. */
XB_EXPORT int xb_xml_prescan(const void *bytes, size_t len, const xb_parse_limits_t *limits,
                             xb_error_t *err);

/* A libxml2 parser context set up for xb_xml_read: its errors are collected,
 * never printed, and the entity loader refuses everything it asks for. One per
 * thread. Caller owns it (xb_xml_ctxt_free). NULL on no memory. */
XB_EXPORT xmlParserCtxtPtr xb_xml_ctxt_new(void);
XB_EXPORT void xb_xml_ctxt_free(xmlParserCtxtPtr *ctxt);

/* True if ctxt came from xb_xml_ctxt_new. */
XB_EXPORT bool xb_xml_ctxt_is_hardened(xmlParserCtxtPtr ctxt);

/* Pre-scans and parses one document with a context from xb_xml_ctxt_new.
 * Never substitutes entities, loads DTDs, XIncludes or touches the network;
 * a DOCTYPE, a namespace error or any error reported by libxml2 rejects the
 * document (XB_ERR_PARSE with the first error's line). The document does not
 * share the context's dictionary, so it may be freed in any thread.
 * Returns the document (caller owns it, xmlFreeDoc) or NULL with err set. */
XB_EXPORT xmlDocPtr xb_xml_read(xmlParserCtxtPtr ctxt, const void *bytes, size_t len,
                                const xb_parse_limits_t *limits, xb_error_t *err);

/* Compiles an XSD file. Compilations are serialized by a process-wide mutex
 * (schema parsing in libxml2 2.9 is not thread-safe); the result is
 * read-only and may be shared by validation contexts of several threads.
 * Returns the schema (caller owns it, xmlSchemaFree) or NULL with err set
 * (XB_ERR_CONFIG with the schema's file and line, or XB_ERR_IO). */
XB_EXPORT xmlSchemaPtr xb_xml_schema_compile(const char *path, xb_error_t *err);

/* Validates a whole document (xb_xml_validate_doc) or one element and its
 * subtree (xb_xml_validate_element) with a reusable validation context.
 * Errors are collected, never printed. Returns 0 if valid, or -1 with err set
 * to `code` and the message "line N: <what>: <libxml2's message>". */
XB_EXPORT int xb_xml_validate_doc(xmlSchemaValidCtxtPtr vctxt, xmlDocPtr doc, xb_code_t code,
                                  const char *what, xb_error_t *err);
XB_EXPORT int xb_xml_validate_element(xmlSchemaValidCtxtPtr vctxt, xmlNodePtr elem, xb_code_t code,
                                      const char *what, xb_error_t *err);

/* True if s[0..len) is valid UTF-8 made only of characters XML 1.0 allows
 * (no NUL, no C0 control other than tab, LF, CR, no U+FFFE/U+FFFF). */
XB_EXPORT bool xb_xml_text_ok(const char *s, size_t len);

/* A malloc'd copy of s (NUL-terminated) in which every byte sequence that
 * xb_xml_text_ok would refuse is replaced by U+FFFD. Caller frees. NULL only
 * on no memory; s NULL gives "". */
XB_EXPORT char *xb_xml_text_sanitize(const char *s);

/* Checks a tree built by a program before it is copied into a message: every
 * element and attribute name and prefix is an NCName, every text, attribute
 * value, CDATA section, comment and processing instruction can be serialized
 * and re-parsed unchanged (valid characters, no "--" in a comment, no "?>" in
 * a PI), no entity reference or DTD node, and the depth and attribute limits
 * hold (limits NULL means the defaults). Returns 0, or -1 with XB_ERR_ARG. */
XB_EXPORT int xb_xml_check_tree(xmlNodePtr root, const xb_parse_limits_t *limits, xb_error_t *err);

/* Serializes node (and its subtree) as UTF-8 XML text: no XML declaration,
 * no indentation, non-ASCII characters kept as they are (not as character
 * references). doc is the document whose dictionary and namespaces apply
 * (NULL: node->doc). On success *out is a malloc'd NUL-terminated string the
 * caller frees and *len (if len is not NULL) its length without the NUL.
 * Returns 0, or -1 with *out NULL and *len 0 (node or out NULL, no memory,
 * libxml2 failure). */
XB_EXPORT int xb_xml_dump_node(xmlDocPtr doc, const xmlNode *node, char **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
