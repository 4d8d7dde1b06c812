/* Pieces shared by the files of the hardened XML intake
 * (include/xmlbus/xmlsafe.h, docs/envelope.md):
 *   xmlsafe.c          limits, libxml2 error capture, process set-up, the
 *                      hardened parser context and xb_xml_read, schemas
 *   xmlsafe_utf8.c     UTF-8 decoding and the characters XML can carry
 *   xmlsafe_prescan.c  the linear pre-scan that runs before libxml2
 *   xmlsafe_tree.c     program-built trees: checking and serializing them
 * Nothing here is public API. */
#ifndef XMLBUS_XMLSAFE_INTERNAL_H
#define XMLBUS_XMLSAFE_INTERNAL_H

#include "xmlbus/xmlsafe.h"

#include <stddef.h>

/* l, or the defaults written to *storage when l is NULL. */
static inline const xb_parse_limits_t *limits_or_default(const xb_parse_limits_t *l,
                                                         xb_parse_limits_t *storage)
{
    if (l)
        return l;
    xb_parse_limits_defaults(storage);
    return storage;
}

/* (xmlsafe.c) xb_xml_read's checks without its tree: the same pre-scan,
 * options and error capture, through SAX callbacks that build nothing.
 * For a document whose tree nobody needs (an answer no schema validates).
 * Fills tag with the root's "local" or "{ns}local" (at most cap bytes) and
 * *alone with whether nothing but white space (and an XML declaration)
 * surrounds the root. Returns 0, or -1 with err as xb_xml_read sets it. */
int xb_xml_scan(xmlParserCtxtPtr ctxt, const void *bytes, size_t len,
                const xb_parse_limits_t *limits, char *tag, size_t cap, bool *alone,
                xb_error_t *err);

/* (xmlsafe_utf8.c) Offset of the first invalid UTF-8 sequence or character XML forbids, or
 * len; *cp gets a forbidden character (valid UTF-8), else -1. */
size_t xb_xml_text_invalid_at(const unsigned char *s, size_t len, long *cp);

#endif
