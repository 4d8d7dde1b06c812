/* xmlbus errors: one code per failure class of docs/envelope.md, plus the
 * internal ones that never reach the wire as their own code.
 *
 * An xb_error_t is a plain value the caller owns (usually on the stack); every
 * function that can fail takes an optional `xb_error_t *err` and fills it. */
#ifndef XMLBUS_ERROR_H
#define XMLBUS_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#include "xmlbus/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    XB_OK = 0,
    /* Codes that travel in a SystemError (docs/envelope.md). */
    XB_ERR_PARSE,         /* "parse": not well-formed XML, DOCTYPE, bad UTF-8 */
    XB_ERR_ENVELOPE,      /* "envelope": envelope structure or envelope.xsd */
    XB_ERR_SCHEMA,        /* "schema": payload rejected by the receiver's XSD */
    XB_ERR_ROUTING,       /* "routing": unknown target, peer violation */
    XB_ERR_LIMIT,         /* "limit": size, depth, queue or buffer limit */
    XB_ERR_TIMEOUT,       /* "timeout": handler took longer than timeout_seconds */
    XB_ERR_CRASH,         /* "crash": handler or worker died */
    XB_ERR_BACKEND,       /* "backend": storage failed */
    XB_ERR_SHUTDOWN,      /* "shutdown": pump stopping */
    XB_ERR_DENIED,        /* "denied": the sender's role or identity does not allow it */
    XB_ERR_MISSING_INPUT, /* "missing-input": a working-memory entry a listener needs is missing */
    /* Internal codes; they map onto the wire codes above when sent. */
    XB_ERR_CONFIG,   /* organism.yaml problem */
    XB_ERR_NOTFOUND, /* a lookup found nothing (not a failure of storage) */
    XB_ERR_NOMEM,
    XB_ERR_IO,
    XB_ERR_ARG, /* caller passed something invalid */
    XB_ERR__COUNT
} xb_code_t;

#define XB_ERROR_MESSAGE_MAX 512

typedef struct {
    xb_code_t code;
    int line;   /* 0 when not tied to a line */
    int column; /* 0 when unknown */
    char message[XB_ERROR_MESSAGE_MAX];
} xb_error_t;

/* Lower-case wire name of a code ("parse", "routing", ...). Internal codes
 * have names too ("config", "notfound", ...). Never NULL. */
XB_EXPORT const char *xb_code_name(xb_code_t code);

/* Parses a wire name back into a code. Returns 0, or -1 if unknown. */
XB_EXPORT int xb_code_from_name(const char *name, xb_code_t *code);

/* The code that a SystemError carries for an internal code
 * (config -> envelope, nomem -> limit, ...). Wire codes map to themselves. */
XB_EXPORT xb_code_t xb_code_wire(xb_code_t code);

/* Fills *err (if err is not NULL) and returns -1, so that callers can write
 * `return xb_error_set(err, XB_ERR_PARSE, line, "...", ...);`. */
XB_EXPORT int xb_error_set(xb_error_t *err, xb_code_t code, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
XB_EXPORT int xb_error_vset(xb_error_t *err, xb_code_t code, int line, const char *fmt, va_list ap);

/* Resets *err to XB_OK with an empty message. NULL is allowed. */
XB_EXPORT void xb_error_clear(xb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
