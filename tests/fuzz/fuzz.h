/* What the fuzz targets of tests/fuzz share (docs/reliability.md).
 *
 * Each tests/fuzz/fuzz_X.c defines LLVMFuzzerTestOneInput for one parser.
 * Built with clang -fsanitize=fuzzer (make fuzz) it is a libFuzzer program;
 * built with the tests it is linked with tests/fuzz/replay.c, which feeds it
 * every file of tests/fuzz/corpus/X/. A target aborts when the code under
 * test breaks a promise its header makes, so that both builds report it. */
#ifndef XB_FUZZ_H
#define XB_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <libxml/xmlerror.h>

#include "xmlbus/xmlsafe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with what went wrong: the fuzzer keeps the input as a crash. */
#define XB_FUZZ_CHECK(cond)                                                            \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* libxml2 prints through its generic error function whatever does not go to
 * a structured handler: xmlbus must capture every error, so any call here
 * is a bug. */
static inline void xb_fuzz_libxml2_printed(void *ctx, const char *fmt, ...)
{
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "libxml2 printed outside xmlbus's error capture: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    abort();
}

/* Once per process, before the first input: libxml2 set up as the pump does
 * it, with printing turned into a crash. */
static inline void xb_fuzz_xml_setup(void)
{
    xb_xml_init();
    xmlSetGenericErrorFunc(NULL, xb_fuzz_libxml2_printed);
}

/* A NUL-terminated copy of data (caller frees); aborts on no memory. */
static inline char *xb_fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    XB_FUZZ_CHECK(s != NULL);
    for (size_t i = 0; i < size; i++)
        s[i] = (char)data[i];
    s[size] = '\0';
    return s;
}

#endif
