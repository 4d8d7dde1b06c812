/* The envelope parser (include/xmlbus/envelope.h, docs/envelope.md): a
 * hardened libxml2 context (bus/xmlsafe.c) and the compiled envelope.xsd,
 * reused from message to message. */
#include "envelope_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* A parser context's dictionary keeps every name it ever saw (documents do
 * not use it, see xb_xml_read); past this many entries the context is
 * replaced so that a stream of distinct names cannot grow it forever. */
#define XB_PARSER_DICT_MAX 20000

xb_parser_t *xb_parser_new(const xb_parse_limits_t *limits, xb_error_t *err)
{
    xb_xml_init();
    xb_parse_limits_t l;
    if (limits)
        l = *limits;
    else
        xb_parse_limits_defaults(&l);
    if (xb_parse_limits_check(&l, err) < 0)
        return NULL;
    xb_parser_t *p = calloc(1, sizeof *p);
    if (!p) {
        xb_env_nomem(err);
        return NULL;
    }
    p->limits = l;
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/envelope.xsd", xb_schema_dir());
    if (n < 0 || (size_t)n >= sizeof path) {
        xb_error_set(err, XB_ERR_CONFIG, 0, "schema folder path too long");
        goto fail;
    }
    p->schema = xb_xml_schema_compile(path, err);
    if (!p->schema)
        goto fail;
    p->ctxt = xb_xml_ctxt_new();
    p->vctxt = xmlSchemaNewValidCtxt(p->schema);
    if (!p->ctxt || !p->vctxt) {
        xb_env_nomem(err);
        goto fail;
    }
    return p;
fail:
    xb_parser_destroy(&p);
    return NULL;
}

void xb_parser_destroy(xb_parser_t **pp)
{
    if (!pp || !*pp)
        return;
    xb_parser_t *p = *pp;
    if (p->vctxt)
        xmlSchemaFreeValidCtxt(p->vctxt);
    if (p->schema)
        xmlSchemaFree(p->schema);
    xb_xml_ctxt_free(&p->ctxt);
    free(p);
    *pp = NULL;
}

void xb_parser_trust(xb_parser_t *p, bool trusted)
{
    if (p)
        p->trusted = trusted;
}

const xb_parse_limits_t *xb_parser_limits(const xb_parser_t *p)
{
    return p ? &p->limits : NULL;
}

xmlDocPtr xb_parser_read_limits(xb_parser_t *p, const void *bytes, size_t len,
                                const xb_parse_limits_t *limits, xb_error_t *err)
{
    if (!p->ctxt && !(p->ctxt = xb_xml_ctxt_new())) {
        xb_env_nomem(err);
        return NULL;
    }
    xmlDocPtr doc = xb_xml_read(p->ctxt, bytes, len, limits, err);
    if (p->ctxt->dict && xmlDictSize(p->ctxt->dict) > XB_PARSER_DICT_MAX)
        xb_xml_ctxt_free(&p->ctxt); /* made again on the next read */
    return doc;
}

xmlDocPtr xb_parser_read(xb_parser_t *p, const void *bytes, size_t len, xb_error_t *err)
{
    if (!p) {
        xb_error_set(err, XB_ERR_ARG, 0, "no parser");
        return NULL;
    }
    return xb_parser_read_limits(p, bytes, len, &p->limits, err);
}
