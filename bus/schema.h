/* Payload schema registry (docs/configuration.md): which listener accepts which
 * payload root tag, and validation of a payload against the receiver's XSD.
 *
 * xb_schemas_new() compiles every listener's XSD once (a file shared by
 * several listeners is compiled once) at start-up, before threads run:
 * libxml2 schema parsing is not thread-safe. The resulting xb_schemas_t is
 * read-only and may be shared by every thread. Validation needs one libxml2
 * validation context per thread, so each thread creates its own
 * xb_validator_t from the registry and reuses it.
 *
 * Root tags are written "local" for the empty namespace and "{ns}local"
 * otherwise. SystemError (empty namespace) is accepted by every listener
 * implicitly and never validated; it is routed by thread, never by tag, so
 * the tag lookup does not list it. No function prints libxml2 errors. */
#ifndef XMLBUS_SCHEMA_H
#define XMLBUS_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

#include "xmlbus/config.h"
#include "xmlbus/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_SYSTEM_ERROR_TAG "SystemError"

typedef struct xb_schemas_t xb_schemas_t;
typedef struct xb_validator_t xb_validator_t;

/* Receives one problem line (no newline); msg is valid during the call. */
typedef void (*xb_schema_report_fn)(const char *msg, void *user);

/* Compiles the schema of every listener of cfg and builds the tag map.
 * Fails (NULL, err->code XB_ERR_SCHEMA, message "FILE:LINE: what") when a
 * schema does not compile or declares no global element for a payload tag
 * its listener accepts. Does not enforce the broadcast rule (the config
 * loader does). Copies what it needs: cfg may be freed afterwards. Caller
 * owns the result; release with xb_schemas_destroy. */
xb_schemas_t *xb_schemas_new(const xb_config_t *cfg, xb_error_t *err);
void xb_schemas_destroy(xb_schemas_t **s);

/* Compiles every schema of cfg, the listeners' and the memory types', like
 * xb_schemas_new and xb_entry_schemas_new but reports every problem through
 * report (when not NULL) and keeps going. Returns the number of problems;
 * *n_compiled (optional) receives the number of distinct schema files that
 * compiled. For `xmlbus check`. */
size_t xb_schemas_check_config(const xb_config_t *cfg, xb_schema_report_fn report, void *user,
                               size_t *n_compiled);

/* Number of distinct compiled schema files. */
size_t xb_schemas_count(const xb_schemas_t *s);

/* Listeners that accept root tag (ns, local); ns NULL or "" = no namespace.
 * Returns how many and points *names (optional) at a borrowed array of their
 * names in config order, valid until xb_schemas_destroy. 0 for SystemError. */
size_t xb_schemas_lookup(const xb_schemas_t *s, const char *ns, const char *local,
                         const char *const **names);
/* Same with a tag string "local" or "{ns}local". */
size_t xb_schemas_lookup_tag(const xb_schemas_t *s, const char *tag, const char *const **names);

/* True if listener exists and accepts (ns, local) (always for SystemError). */
bool xb_schemas_accepts(const xb_schemas_t *s, const char *listener, const char *ns,
                        const char *local);
/* True if a listener of that name exists. */
bool xb_schemas_has_listener(const xb_schemas_t *s, const char *listener);

/* Writes the tag of an element ("local" or "{ns}local") into buf.
 * Returns 0, or -1 if node is not an element or buf is too small. */
int xb_payload_tag_of(const xmlNode *node, char *buf, size_t cap);

/* A validator for one thread. Caller owns it; s must outlive it. */
xb_validator_t *xb_validator_new(const xb_schemas_t *s, xb_error_t *err);
void xb_validator_destroy(xb_validator_t **v);

/* Validates payload (an element inside a document, for instance the payload
 * of a parsed envelope) for delivery to listener. Returns 0 when the listener
 * accepts the root tag and the payload is valid against its schema (or the
 * listener has no schema, or the payload is SystemError). Otherwise -1 with
 * err: XB_ERR_ROUTING when the listener is unknown or does not accept the
 * root tag, XB_ERR_SCHEMA with "payload <tag> rejected by FILE.xsd (listener
 * 'x'): line N: reason" and err->line = N, XB_ERR_ARG for a node that is not
 * an element of a document. Use a validator from one thread at a time. */
int xb_validator_check(xb_validator_t *v, const char *listener, xmlNodePtr payload,
                       xb_error_t *err);

/* ---- typed working-memory entries (memory.types[], docs/pipelines.md) ----
 *
 * The XSDs of the typed entries that give one, compiled once (a file shared
 * by several types is compiled once), with one validation context per file:
 * for one thread (the pump's loop). */
typedef struct xb_entry_schemas_t xb_entry_schemas_t;

/* Compiles the schema of every type of mem that has one and checks that it
 * declares the type's element. Fails (NULL, XB_ERR_SCHEMA, "FILE:LINE:
 * what", or "FILE: declares no global element 'x' (memory type 'n')") at
 * the first file that does not compile. Copies what it needs: mem may be
 * freed afterwards. Caller owns the result (xb_entry_schemas_destroy). */
xb_entry_schemas_t *xb_entry_schemas_new(const xb_memory_config_t *mem, xb_error_t *err);
void xb_entry_schemas_destroy(xb_entry_schemas_t **s);

/* Validates element (the root of the value of entry name) against the
 * schema of name's type. 0 when valid, or when name has no schema (s may be
 * NULL); else -1 with err XB_ERR_SCHEMA "working-memory entry NAME: <tag>
 * rejected by FILE.xsd: line N: reason" (libxml2's first error), err->line
 * N, or XB_ERR_ARG for a node that is not an element of a document. */
int xb_entry_schemas_check(xb_entry_schemas_t *s, const char *name, xmlNodePtr element,
                           xb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
