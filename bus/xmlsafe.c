/* Hardened XML intake (see include/xmlbus/xmlsafe.h and docs/envelope.md).
 * This file: limits, error capture, process set-up, parsing and schemas;
 * xmlsafe_internal.h lists the others. */
#include "xmlsafe_internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libxml/parserInternals.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemastypes.h>

/* Never XML_PARSE_NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE, HUGE, and no
 * COMPACT (it forbids later tree edits). NODICT keeps documents independent of
 * the context so that they can be freed in another thread. */
#define XB_XML_PARSE_OPTIONS                                                         \
    (XML_PARSE_NONET | XML_PARSE_NODICT | XML_PARSE_IGNORE_ENC | XML_PARSE_NOERROR | \
     XML_PARSE_NOWARNING)

/* ---- limits ----------------------------------------------------------- */

void xb_parse_limits_defaults(xb_parse_limits_t *limits)
{
    if (!limits)
        return;
    limits->max_bytes = XB_PARSE_DEFAULT_MAX_BYTES;
    limits->max_depth = XB_PARSE_DEFAULT_MAX_DEPTH;
    limits->max_attributes = XB_PARSE_DEFAULT_MAX_ATTRIBUTES;
    limits->max_namespaces = XB_PARSE_DEFAULT_MAX_NAMESPACES;
}

int xb_parse_limits_check(const xb_parse_limits_t *l, xb_error_t *err)
{
    if (!l)
        return xb_error_set(err, XB_ERR_ARG, 0, "parse limits missing");
    if (l->max_bytes == 0 || l->max_bytes > INT_MAX)
        return xb_error_set(err, XB_ERR_ARG, 0, "max_bytes must be between 1 and %d", INT_MAX);
    if (l->max_depth < 1 || l->max_attributes < 1 || l->max_namespaces < 1)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "max_depth, max_attributes and max_namespaces must be positive");
    return 0;
}

/* ---- error collection ------------------------------------------------- */

/* The first error (never a warning) libxml2 reported during one call. */
typedef struct {
    bool set;
    int line;
    int column;
    char file[160];
    char message[300];
} capture_t;

static void capture_store(capture_t *cap, const xmlError *e)
{
    if (!cap || !e || cap->set || e->level < XML_ERR_ERROR)
        return;
    cap->set = true;
    cap->line = e->line;
    cap->column = e->int2;
    snprintf(cap->file, sizeof cap->file, "%s", e->file ? e->file : "");
    snprintf(cap->message, sizeof cap->message, "%s", e->message ? e->message : "error");
    /* libxml2 messages end with a newline. */
    size_t n = strlen(cap->message);
    while (n > 0 && (cap->message[n - 1] == '\n' || cap->message[n - 1] == ' '))
        cap->message[--n] = '\0';
}

/* Schema contexts pass our capture_t as data. */
static void capture_error(void *data, xmlErrorPtr e)
{
    capture_store(data, e);
}

/* Swallows errors between calls, so that nothing ever reaches stderr. */
static void discard_error(void *data, xmlErrorPtr e)
{
    (void)data;
    (void)e;
}

/* What one call of xb_xml_read or xb_xml_scan collects; ctxt->_private
 * points at it (capture first: parser_error reads it as a capture_t). */
typedef struct {
    capture_t cap;
    int depth;  /* xb_xml_scan: element depth */
    bool root;  /* a root element was seen */
    bool other; /* a comment or processing instruction outside it */
    bool dtd;   /* a DOCTYPE (the pre-scan refuses one already) */
    char *tag;  /* the root's tag (cap bytes) */
    size_t tagcap;
} intake_t;

/* Parser contexts pass themselves (userData); the capture of the running
 * xb_xml_read sits in _private. Being the serror of a context is also what
 * marks it as hardened for the entity loader. */
static void parser_error(void *data, xmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = data;
    if (ctxt)
        capture_store(ctxt->_private, e);
}

/* ---- process set-up --------------------------------------------------- */

bool xb_xml_ctxt_is_hardened(xmlParserCtxtPtr ctxt)
{
    return ctxt && ctxt->sax && ctxt->sax->initialized == XML_SAX2_MAGIC &&
           ctxt->sax->serror == parser_error;
}

static xmlParserInputPtr refusing_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    if (xb_xml_ctxt_is_hardened(ctxt))
        return NULL; /* a message never loads anything */
    /* Everyone else (XSD compilation at start-up): local files only. */
    return xmlNoNetExternalEntityLoader(url, id, ctxt);
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
    xmlInitParser();
    xmlSchemaInitTypes();
    xmlSetExternalEntityLoader(refusing_loader);
}

void xb_xml_init(void)
{
    pthread_once(&xml_once, xml_init_once);
}

/* ---- parsing ------------------------------------------------------------ */

xmlParserCtxtPtr xb_xml_ctxt_new(void)
{
    xb_xml_init();
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return NULL;
    if (!ctxt->sax) {
        xmlFreeParserCtxt(ctxt);
        return NULL;
    }
    ctxt->sax->serror = parser_error;
    ctxt->_private = NULL;
    return ctxt;
}

void xb_xml_ctxt_free(xmlParserCtxtPtr *ctxt)
{
    if (!ctxt || !*ctxt)
        return;
    xmlFreeParserCtxt(*ctxt);
    *ctxt = NULL;
}

/* xmlCtxtReadMemory, minus a cost of libxml2 before 2.11: there the copy
 * of the bytes it parses gets a read callback that reads nothing, so the
 * parser "grows" that buffer all along the document (a tenth of the pump's
 * instructions per message, 1.16 -> 0.88 us for a 400-byte payload). With
 * no read callback the parser reads the copy as the whole document, which
 * is what it is. libxml2 2.11 reworked in-memory input, so from there on
 * xmlCtxtReadMemory is used as it is. The copy keeps the NUL the parser
 * expects after the last byte. */
static xmlDocPtr read_memory(xmlParserCtxtPtr ctxt, const void *bytes, size_t len, int options)
{
#if LIBXML_VERSION < 21100
    xmlCtxtReset(ctxt);
    xmlParserInputBufferPtr buf = xmlParserInputBufferCreateMem(bytes, (int)len,
                                                                XML_CHAR_ENCODING_NONE);
    if (!buf)
        return NULL;
    buf->readcallback = NULL;
    xmlParserInputPtr input = xmlNewIOInputStream(ctxt, buf, XML_CHAR_ENCODING_NONE);
    if (!input) {
        xmlFreeParserInputBuffer(buf);
        return NULL;
    }
    if (inputPush(ctxt, input) < 0)
        return NULL; /* inputPush freed it */
    xmlCtxtUseOptions(ctxt, options);
    xmlParseDocument(ctxt);
    xmlDocPtr doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    if (doc && !ctxt->wellFormed) {
        xmlFreeDoc(doc);
        doc = NULL;
    }
    return doc;
#else
    return xmlCtxtReadMemory(ctxt, bytes, (int)len, NULL, NULL, options);
#endif
}

/* Pre-scans and parses bytes with ctxt as it is set up (its SAX handler
 * builds a tree, or not), collecting into in. Returns whether the parse
 * was clean: 0, or -1 with err (and ctxt->myDoc freed). */
static int parse_into(xmlParserCtxtPtr ctxt, const void *bytes, size_t len,
                      const xb_parse_limits_t *limits, intake_t *in, xmlDocPtr *doc,
                      xb_error_t *err)
{
    *doc = NULL;
    if (!xb_xml_ctxt_is_hardened(ctxt))
        return xb_error_set(err, XB_ERR_ARG, 0, "parser context not made by xb_xml_ctxt_new");
    xb_parse_limits_t storage;
    const xb_parse_limits_t *l = limits_or_default(limits, &storage);
    if (xb_parse_limits_check(l, err) < 0 || xb_xml_prescan(bytes, len, l, err) < 0)
        return -1;
    ctxt->_private = in;
    /* Some errors (the encoding converter's) are raised without the context
     * and would go to the thread's handler, stderr by default: for this call
     * the thread's handler is the context's too. */
    xmlStructuredErrorFunc old_handler = xmlStructuredError;
    void *old_data = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(ctxt, parser_error);
    /* No forced encoding: the prescan admits only documents that declare
     * UTF-8 or US-ASCII (or nothing) and are valid UTF-8, which libxml2
     * reads as UTF-8 anyway, without the converter a forced one sets up. */
    *doc = read_memory(ctxt, bytes, len, XB_XML_PARSE_OPTIONS);
    xmlSetStructuredErrorFunc(old_data, old_handler);
    ctxt->_private = NULL;
    if (in->cap.set || !ctxt->wellFormed || !ctxt->nsWellFormed) {
        xmlFreeDoc(*doc);
        *doc = NULL;
        if (in->cap.set) {
            xb_error_set(err, XB_ERR_PARSE, in->cap.line, "line %d: %s", in->cap.line,
                         in->cap.message);
            if (err)
                err->column = in->cap.column;
        } else {
            xb_error_set(err, XB_ERR_PARSE, 0, "line 0: document is not well-formed XML");
        }
        return -1;
    }
    return 0;
}

xmlDocPtr xb_xml_read(xmlParserCtxtPtr ctxt, const void *bytes, size_t len,
                      const xb_parse_limits_t *limits, xb_error_t *err)
{
    intake_t in;
    memset(&in, 0, sizeof in);
    xmlDocPtr doc = NULL;
    if (parse_into(ctxt, bytes, len, limits, &in, &doc, err) != 0)
        return NULL;
    if (!doc) {
        xb_error_set(err, XB_ERR_PARSE, 0, "line 0: document is not well-formed XML");
        return NULL;
    }
    if (doc->intSubset || doc->extSubset) {
        xmlFreeDoc(doc);
        xb_error_set(err, XB_ERR_PARSE, 1, "line 1: DOCTYPE is not allowed (no DTDs, no entities)");
        return NULL;
    }
    if (!xmlDocGetRootElement(doc)) {
        xmlFreeDoc(doc);
        xb_error_set(err, XB_ERR_PARSE, 1, "line 1: document has no root element");
        return NULL;
    }
    return doc;
}

/* ---- scanning: the same checks, no tree ------------------------------------ */

static intake_t *scan_of(void *ctx)
{
    return ((xmlParserCtxtPtr)ctx)->_private;
}

static void scan_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                       int nb_ns, const xmlChar **ns, int nb_attrs, int nb_defaulted,
                       const xmlChar **attrs)
{
    (void)prefix, (void)nb_ns, (void)ns, (void)nb_attrs, (void)nb_defaulted, (void)attrs;
    intake_t *in = scan_of(ctx);
    if (in->depth++ > 0 || in->root)
        return;
    in->root = true;
    if (uri && uri[0])
        snprintf(in->tag, in->tagcap, "{%s}%s", (const char *)uri, (const char *)local);
    else
        snprintf(in->tag, in->tagcap, "%s", (const char *)local);
}

static void scan_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    (void)local, (void)prefix, (void)uri;
    scan_of(ctx)->depth--;
}

static void scan_outside(intake_t *in)
{
    if (in->depth == 0)
        in->other = true;
}

static void scan_comment(void *ctx, const xmlChar *value)
{
    (void)value;
    scan_outside(scan_of(ctx));
}

static void scan_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    (void)target, (void)data;
    scan_outside(scan_of(ctx));
}

static void scan_dtd(void *ctx, const xmlChar *name, const xmlChar *id, const xmlChar *sys)
{
    (void)name, (void)id, (void)sys;
    scan_of(ctx)->dtd = true; /* refused below, as xb_xml_read does */
}

int xb_xml_scan(xmlParserCtxtPtr ctxt, const void *bytes, size_t len,
                const xb_parse_limits_t *limits, char *tag, size_t cap, bool *alone,
                xb_error_t *err)
{
    if (!ctxt || !ctxt->sax || !tag || cap == 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_xml_scan: bad argument");
    tag[0] = '\0';
    intake_t in;
    memset(&in, 0, sizeof in);
    in.tag = tag;
    in.tagcap = cap;
    /* The context's handler builds a tree: for this call one that builds
     * nothing, its error handler kept. */
    xmlSAXHandler saved = *ctxt->sax;
    xmlSAXHandler *h = ctxt->sax;
    memset(h, 0, sizeof *h);
    h->initialized = XML_SAX2_MAGIC;
    h->serror = saved.serror;
    h->startElementNs = scan_start;
    h->endElementNs = scan_end;
    h->comment = scan_comment;
    h->processingInstruction = scan_pi;
    h->internalSubset = scan_dtd;
    h->externalSubset = scan_dtd;
    xmlDocPtr doc = NULL;
    int rc = parse_into(ctxt, bytes, len, limits, &in, &doc, err);
    *ctxt->sax = saved;
    xmlFreeDoc(doc); /* none: nothing built one */
    if (rc != 0)
        return -1;
    if (in.dtd)
        return xb_error_set(err, XB_ERR_PARSE, 1,
                            "line 1: DOCTYPE is not allowed (no DTDs, no entities)");
    if (!in.root)
        return xb_error_set(err, XB_ERR_PARSE, 1, "line 1: document has no root element");
    *alone = !in.other;
    return 0;
}

/* ---- schemas -------------------------------------------------------------- */

static pthread_mutex_t schema_lock = PTHREAD_MUTEX_INITIALIZER;

xmlSchemaPtr xb_xml_schema_compile(const char *path, xb_error_t *err)
{
    if (!path) {
        xb_error_set(err, XB_ERR_ARG, 0, "no schema path");
        return NULL;
    }
    xb_xml_init();
    if (access(path, R_OK) != 0) {
        xb_error_set(err, XB_ERR_IO, 0, "cannot read schema %s", path);
        return NULL;
    }
    capture_t cap = {0};
    xmlSchemaPtr schema = NULL;
    pthread_mutex_lock(&schema_lock);
    xmlSchemaParserCtxtPtr pctxt = xmlSchemaNewParserCtxt(path);
    if (pctxt) {
        xmlSchemaSetParserStructuredErrors(pctxt, capture_error, &cap);
        schema = xmlSchemaParse(pctxt);
        xmlSchemaFreeParserCtxt(pctxt);
    }
    pthread_mutex_unlock(&schema_lock);
    if (schema)
        return schema;
    if (!pctxt)
        xb_error_set(err, XB_ERR_NOMEM, 0, "no memory to compile schema %s", path);
    else if (cap.set)
        xb_error_set(err, XB_ERR_CONFIG, cap.line, "%s:%d: %s", cap.file[0] ? cap.file : path,
                     cap.line, cap.message);
    else
        xb_error_set(err, XB_ERR_CONFIG, 0, "%s: schema does not compile", path);
    return NULL;
}

static int validate(xmlSchemaValidCtxtPtr vctxt, xmlDocPtr doc, xmlNodePtr elem, xb_code_t code,
                    const char *what, xb_error_t *err)
{
    if (!vctxt || (!doc && !elem))
        return xb_error_set(err, XB_ERR_ARG, 0, "nothing to validate");
    capture_t cap = {0};
    xmlSchemaSetValidStructuredErrors(vctxt, capture_error, &cap);
    int rc = doc ? xmlSchemaValidateDoc(vctxt, doc) : xmlSchemaValidateOneElement(vctxt, elem);
    xmlSchemaSetValidStructuredErrors(vctxt, discard_error, NULL);
    if (rc == 0)
        return 0;
    what = what ? what : "schema";
    if (!cap.set)
        return xb_error_set(err, code, 0, "line 0: %s: validation failed (internal error %d)", what,
                            rc);
    xb_error_set(err, code, cap.line, "line %d: %s: %s", cap.line, what, cap.message);
    if (err)
        err->column = cap.column;
    return -1;
}

int xb_xml_validate_doc(xmlSchemaValidCtxtPtr vctxt, xmlDocPtr doc, xb_code_t code,
                        const char *what, xb_error_t *err)
{
    if (!doc)
        return xb_error_set(err, XB_ERR_ARG, 0, "no document to validate");
    return validate(vctxt, doc, NULL, code, what, err);
}

int xb_xml_validate_element(xmlSchemaValidCtxtPtr vctxt, xmlNodePtr elem, xb_code_t code,
                            const char *what, xb_error_t *err)
{
    if (!elem || elem->type != XML_ELEMENT_NODE)
        return xb_error_set(err, XB_ERR_ARG, 0, "no element to validate");
    return validate(vctxt, NULL, elem, code, what, err);
}
