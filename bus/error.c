/* Error codes and the error value (see include/xmlbus/error.h). */
#include "xmlbus/error.h"

#include <stdio.h>
#include <string.h>

static const char *const code_names[XB_ERR__COUNT] = {
    [XB_OK] = "ok",
    [XB_ERR_PARSE] = "parse",
    [XB_ERR_ENVELOPE] = "envelope",
    [XB_ERR_SCHEMA] = "schema",
    [XB_ERR_ROUTING] = "routing",
    [XB_ERR_LIMIT] = "limit",
    [XB_ERR_TIMEOUT] = "timeout",
    [XB_ERR_CRASH] = "crash",
    [XB_ERR_BACKEND] = "backend",
    [XB_ERR_SHUTDOWN] = "shutdown",
    [XB_ERR_DENIED] = "denied",
    [XB_ERR_MISSING_INPUT] = "missing-input",
    [XB_ERR_CONFIG] = "config",
    [XB_ERR_NOTFOUND] = "notfound",
    [XB_ERR_NOMEM] = "nomem",
    [XB_ERR_IO] = "io",
    [XB_ERR_ARG] = "arg",
};

const char *xb_code_name(xb_code_t code)
{
    if ((int)code < 0 || code >= XB_ERR__COUNT)
        return "unknown";
    return code_names[code];
}

int xb_code_from_name(const char *name, xb_code_t *code)
{
    if (!name)
        return -1;
    for (int i = 0; i < XB_ERR__COUNT; i++) {
        if (strcmp(code_names[i], name) == 0) {
            if (code)
                *code = (xb_code_t)i;
            return 0;
        }
    }
    return -1;
}

xb_code_t xb_code_wire(xb_code_t code)
{
    switch (code) {
    case XB_ERR_CONFIG:
    case XB_ERR_ARG:
        return XB_ERR_ENVELOPE;
    case XB_ERR_NOTFOUND:
        return XB_ERR_ROUTING;
    case XB_ERR_NOMEM:
        return XB_ERR_LIMIT;
    case XB_ERR_IO:
        return XB_ERR_BACKEND;
    default:
        return code;
    }
}

int xb_error_vset(xb_error_t *err, xb_code_t code, int line, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    err->code = code;
    err->line = line;
    err->column = 0;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    return -1;
}

int xb_error_set(xb_error_t *err, xb_code_t code, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xb_error_vset(err, code, line, fmt, ap);
    va_end(ap);
    return -1;
}

void xb_error_clear(xb_error_t *err)
{
    if (!err)
        return;
    err->code = XB_OK;
    err->line = 0;
    err->column = 0;
    err->message[0] = '\0';
}
