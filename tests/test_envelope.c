/* Tests of the envelope module: bus/envelope*.c, bus/xmlsafe*.c, bus/uuid.c.
 * Real libxml2, real schemas from schemas/, sample inputs in
 * tests/data/envelope/. */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parserInternals.h>

#include "xmlbus/envelope.h"
#include "xmlbus/uuid.h"
#include "xmlbus/xmlsafe.h"
#include "schema.h"
#include "xmlsafe_internal.h"
#include "xbt.h"
#include "xbt_main.h"

#define DATA XB_SOURCE_DIR "/tests/data/envelope/"
#define ENVNS "https://xml-pipeline.org/ns/envelope/v1"
#define THREAD "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e"
#define OPEN "<message xmlns=\"" ENVNS "\">"
#define META(from) "<meta><from>" from "</from><thread>" THREAD "</thread></meta>"
#define ENVELOPE(payload) OPEN META("console") payload "</message>"
/* Every character class that could break a hand-written serializer. */
#define NASTY "a<b&c]]>d\"e'f &amp; &#x41; \xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80 </name><evil/>"

static xb_parser_t *P;

/* ---- helpers -------------------------------------------------------------- */

static xb_envelope_t *parse_with(xb_parser_t *p, const char *s, size_t len, xb_error_t *err)
{
    xb_error_clear(err);
    return xb_envelope_parse(p, s, len, err);
}

static xb_envelope_t *parse_str(const char *s, xb_error_t *err)
{
    return parse_with(P, s, strlen(s), err);
}

static xb_envelope_t *parse_file(const char *name, xb_error_t *err)
{
    char path[512];
    snprintf(path, sizeof path, DATA "%s", name);
    size_t len = 0;
    char *s = xbt_read_file(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    xb_envelope_t *e = parse_with(P, s, len, err);
    free(s);
    return e;
}

/* Asserts that parsing fails with code (and line when > 0, which the message
 * must name as "line N"). Returns whether everything matched. */
static bool check_rejected(xb_envelope_t *e, const xb_error_t *err, xb_code_t code, int line,
                           const char *what)
{
    bool ok = e == NULL && err->code == code;
    if (line > 0) {
        char needle[32];
        snprintf(needle, sizeof needle, "line %d", line);
        ok = ok && err->line == line && strstr(err->message, needle) != NULL;
    }
    if (!ok)
        fprintf(stderr, "\n  %s: expected %s line %d, got %s line %d: %s\n", what,
                xb_code_name(code), line, xb_code_name(err->code), err->line, err->message);
    return ok;
}

static void expect_str(const char *s, xb_code_t code, int line)
{
    xb_error_t err;
    xb_envelope_t *e = parse_str(s, &err);
    CU_ASSERT_TRUE(check_rejected(e, &err, code, line, s));
    xb_envelope_destroy(&e);
}

static void expect_file(const char *name, xb_code_t code, int line)
{
    xb_error_t err;
    xb_envelope_t *e = parse_file(name, &err);
    CU_ASSERT_TRUE(check_rejected(e, &err, code, line, name));
    xb_envelope_destroy(&e);
}

static char *serialize(const xb_envelope_t *e, size_t *len)
{
    char *out = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(xb_envelope_serialize(e, &out, &n), 0);
    CU_ASSERT_PTR_NOT_NULL(out);
    if (len)
        *len = n;
    if (out)
        CU_ASSERT_EQUAL(strlen(out), n);
    return out;
}

/* serialize -> parse with the suite parser. */
static xb_envelope_t *reparse(const xb_envelope_t *e)
{
    size_t len = 0;
    char *out = serialize(e, &len);
    xb_error_t err;
    xb_envelope_t *back = out ? parse_with(P, out, len, &err) : NULL;
    if (!back)
        fprintf(stderr, "\n  reparse failed: %s\n  %s\n", err.message, out ? out : "");
    free(out);
    return back;
}

static char *text_of(xmlNodePtr n)
{
    xmlChar *c = xmlNodeGetContent(n);
    char *s = strdup(c ? (const char *)c : "");
    xmlFree(c);
    return s;
}

static xmlNodePtr first_element(xmlNodePtr n)
{
    for (; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            return n;
    return NULL;
}

static size_t count_named(xmlNodePtr n, const char *name)
{
    size_t count = 0;
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name))
            count++;
        if (n->type == XML_ELEMENT_NODE)
            count += count_named(n->children, name);
    }
    return count;
}

static size_t element_children(xmlNodePtr n)
{
    size_t count = 0;
    for (xmlNodePtr c = n->children; c; c = c->next)
        count += c->type == XML_ELEMENT_NODE;
    return count;
}

static char *node_dump(xmlNodePtr n)
{
    xmlBufferPtr b = xmlBufferCreate();
    xmlNodeDump(b, n->doc, n, 0, 0);
    char *s = strdup((const char *)xmlBufferContent(b));
    xmlBufferFree(b);
    return s;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    return s;
}

/* An envelope whose payload is `depth` nested <d> elements (total element
 * depth depth + 1 with <message>). */
static char *nested_envelope(int depth)
{
    size_t cap = (size_t)depth * 20 + 512;
    char *s = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    size_t n = (size_t)snprintf(s, cap, "%s%s", OPEN, META("console"));
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(s + n, cap - n, i == 0 ? "<d xmlns=\"\">" : "<d>");
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(s + n, cap - n, "</d>");
    snprintf(s + n, cap - n, "</message>");
    return s;
}

/* ---- valid envelopes ------------------------------------------------------ */

static void test_valid_fields(void)
{
    xb_error_t err;
    xb_envelope_t *e = parse_file("valid.xml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(xb_envelope_from(e), "console");
    CU_ASSERT_STRING_EQUAL(xb_envelope_to(e), "greeter");
    CU_ASSERT_STRING_EQUAL(xb_envelope_thread(e), THREAD);
    CU_ASSERT_FALSE(xb_envelope_thread_replaced(e));
    CU_ASSERT_PTR_NULL(xb_envelope_thread_original(e));
    CU_ASSERT_STRING_EQUAL(xb_envelope_payload_type(e), "greeting");
    CU_ASSERT_STRING_EQUAL(xb_envelope_payload_name(e), "greeting");
    CU_ASSERT_PTR_NULL(xb_envelope_payload_ns(e));
    CU_ASSERT_STRING_EQUAL(xb_envelope_id(e), "5b0d6a52-1f6e-4c4f-8f0e-3c2d1b0a9f8e");
    CU_ASSERT_EQUAL(xb_envelope_ts(e), 1764000000000000LL);
    CU_ASSERT_EQUAL(xb_envelope_depth(e), 2);
    CU_ASSERT_EQUAL(xb_envelope_extension_count(e), 1);
    xmlNodePtr x = xb_envelope_extension_first(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    CU_ASSERT_STRING_EQUAL((const char *)x->name, "hop");
    CU_ASSERT_STRING_EQUAL((const char *)x->ns->href, "urn:example:trace");
    CU_ASSERT_PTR_NULL(xb_envelope_extension_next(e, x));
    xmlNodePtr pl = xb_envelope_payload(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pl);
    char *name = text_of(first_element(pl->children));
    CU_ASSERT_STRING_EQUAL(name, "World");
    free(name);
    CU_ASSERT_PTR_NOT_NULL(xb_envelope_doc(e));
    xb_envelope_destroy(&e);
    CU_ASSERT_PTR_NULL(e);
    xb_envelope_destroy(&e); /* NULL is fine */
}

static void test_minimal_has_no_optional_fields(void)
{
    xb_error_t err;
    xb_envelope_t *e = parse_file("minimal.xml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_NULL(xb_envelope_to(e));
    CU_ASSERT_PTR_NULL(xb_envelope_id(e));
    CU_ASSERT_EQUAL(xb_envelope_ts(e), 0);
    CU_ASSERT_EQUAL(xb_envelope_depth(e), 0);
    CU_ASSERT_EQUAL(xb_envelope_extension_count(e), 0);
    CU_ASSERT_PTR_NULL(xb_envelope_extension_first(e));
    xb_envelope_destroy(&e);
}

static void test_prefixed_equals_default(void)
{
    xb_error_t err;
    xb_envelope_t *a = parse_file("valid.xml", &err);
    xb_envelope_t *b = parse_file("prefixed.xml", &err);
    if (!b)
        fprintf(stderr, "\n  prefixed.xml: %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_STRING_EQUAL(xb_envelope_from(a), xb_envelope_from(b));
    CU_ASSERT_STRING_EQUAL(xb_envelope_to(a), xb_envelope_to(b));
    CU_ASSERT_STRING_EQUAL(xb_envelope_thread(a), xb_envelope_thread(b));
    CU_ASSERT_STRING_EQUAL(xb_envelope_payload_type(a), xb_envelope_payload_type(b));
    CU_ASSERT_STRING_EQUAL(xb_envelope_id(a), xb_envelope_id(b));
    CU_ASSERT_EQUAL(xb_envelope_ts(a), xb_envelope_ts(b));
    CU_ASSERT_EQUAL(xb_envelope_depth(a), xb_envelope_depth(b));
    CU_ASSERT_EQUAL(xb_envelope_extension_count(a), xb_envelope_extension_count(b));
    char *ta = text_of(xb_envelope_extension_first(a));
    char *tb = text_of(xb_envelope_extension_first(b));
    CU_ASSERT_STRING_EQUAL(ta, tb);
    free(ta);
    free(tb);
    /* The payloads serialize standalone to the same element. */
    char *pa = NULL, *pb = NULL;
    size_t la = 0, lb = 0;
    CU_ASSERT_EQUAL(xb_envelope_payload_serialize(a, &pa, &la), 0);
    CU_ASSERT_EQUAL(xb_envelope_payload_serialize(b, &pb, &lb), 0);
    xmlDocPtr da = xb_parser_read(P, pa, la, &err);
    xmlDocPtr db = xb_parser_read(P, pb, lb, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(da);
    CU_ASSERT_PTR_NOT_NULL_FATAL(db);
    xmlNodePtr ra = xmlDocGetRootElement(da), rb = xmlDocGetRootElement(db);
    CU_ASSERT_PTR_NULL(ra->ns);
    CU_ASSERT_PTR_NULL(rb->ns);
    CU_ASSERT_PTR_NULL(first_element(ra->children)->ns);
    CU_ASSERT_PTR_NULL(first_element(rb->children)->ns);
    ta = text_of(ra);
    tb = text_of(rb);
    CU_ASSERT_STRING_EQUAL(ta, tb);
    free(ta);
    free(tb);
    xmlFreeDoc(da);
    xmlFreeDoc(db);
    free(pa);
    free(pb);
    xb_envelope_destroy(&a);
    xb_envelope_destroy(&b);
}

static void test_namespaced_payload_type_and_standalone(void)
{
    xb_error_t err;
    xb_envelope_t *e = parse_file("namespaced-payload.xml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(xb_envelope_payload_type(e), "{urn:example:orders}order");
    CU_ASSERT_STRING_EQUAL(xb_envelope_payload_ns(e), "urn:example:orders");
    CU_ASSERT_STRING_EQUAL(xb_envelope_payload_name(e), "order");
    /* Standalone, the payload keeps every namespace: o: for order and item,
     * the envelope's default namespace for <note>. */
    char *out = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(xb_envelope_payload_serialize(e, &out, &len), 0);
    xmlDocPtr d = xb_parser_read(P, out, len, &err);
    if (!d)
        fprintf(stderr, "\n  payload: %s\n  %s\n", out, err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    xmlNodePtr root = xmlDocGetRootElement(d);
    CU_ASSERT_STRING_EQUAL((const char *)root->ns->href, "urn:example:orders");
    xmlNodePtr item = first_element(root->children);
    CU_ASSERT_STRING_EQUAL((const char *)item->ns->href, "urn:example:orders");
    char *sku = (char *)xmlGetProp(item, BAD_CAST "sku");
    CU_ASSERT_STRING_EQUAL(sku, "a&b");
    xmlFree(sku);
    xmlNodePtr note = first_element(item->next);
    CU_ASSERT_PTR_NOT_NULL_FATAL(note);
    CU_ASSERT_PTR_NOT_NULL_FATAL(note->ns);
    CU_ASSERT_STRING_EQUAL((const char *)note->ns->href, ENVNS);
    xmlFreeDoc(d);
    free(out);
    xb_envelope_destroy(&e);
}

/* ---- rejected envelopes --------------------------------------------------- */

static void test_malformed_is_parse_with_line(void)
{
    expect_file("malformed.xml", XB_ERR_PARSE, 5);
    expect_str("<message", XB_ERR_PARSE, 1);
    expect_str(OPEN "\n" META("a") "\n<greeting xmlns=\"\">&undefined;</greeting></message>",
               XB_ERR_PARSE, 3);
    /* A prefix nobody declared is a namespace error: refused too. */
    expect_str("<e:message><e:meta/></e:message>", XB_ERR_PARSE, 1);
    /* Tag syntax the pre-scan refuses itself. */
    expect_str(OPEN "\n\n<meta a=b/></message>", XB_ERR_PARSE, 3);
    expect_str(OPEN "\n<meta a=\"<\"/></message>", XB_ERR_PARSE, 2);
    expect_str("", XB_ERR_PARSE, 1);
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_PTR_NULL(xb_envelope_parse(NULL, "<a/>", 4, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
}

static void test_missing_parts_are_envelope(void)
{
    expect_file("missing-meta.xml", XB_ERR_ENVELOPE, 2);
    expect_file("missing-from.xml", XB_ERR_ENVELOPE, 3);
    expect_file("missing-thread.xml", XB_ERR_ENVELOPE, 2); /* reported on <meta> */
    /* Wrong root, wrong namespace, empty from/to. */
    expect_str("<message>" META("a") "<g/></message>", XB_ERR_ENVELOPE, 1);
    expect_str("<message xmlns=\"urn:other\">" META("a") "<g xmlns=\"\"/></message>",
               XB_ERR_ENVELOPE, 1);
    expect_str(OPEN "\n" META("") "<g xmlns=\"\"/></message>", XB_ERR_ENVELOPE, 2);
    expect_str(OPEN "<meta><from>a</from><to>  </to><thread>" THREAD
                    "</thread></meta><g xmlns=\"\"/></message>",
               XB_ERR_ENVELOPE, 1);
    /* Meta elements in the wrong order or twice. */
    expect_str(OPEN "<meta><thread>" THREAD
                    "</thread><from>a</from></meta><g xmlns=\"\"/></message>",
               XB_ERR_ENVELOPE, 1);
    expect_str(OPEN "<meta><from>a</from><from>b</from><thread>" THREAD
                    "</thread></meta><g xmlns=\"\"/></message>",
               XB_ERR_ENVELOPE, 1);
    /* An extension in no namespace is not an extension. */
    expect_str(OPEN "<meta><from>a</from><thread>" THREAD
                    "</thread><ext xmlns=\"\"/></meta><g xmlns=\"\"/></message>",
               XB_ERR_ENVELOPE, 1);
}

static void test_payload_count_is_envelope(void)
{
    expect_file("no-payload.xml", XB_ERR_ENVELOPE, 1);
    expect_file("two-payloads.xml", XB_ERR_ENVELOPE, 7);
    expect_file("payload-in-envelope-ns.xml", XB_ERR_ENVELOPE, 6);
    /* A second <meta> would pass the schema's xs:any: the C check refuses it. */
    expect_str(OPEN META("a") "\n<meta/></message>", XB_ERR_ENVELOPE, 2);
    /* Text is not a payload. */
    expect_str(OPEN META("a") "just text</message>", XB_ERR_ENVELOPE, 1);
}

static void test_bad_xmlbus_meta_is_envelope(void)
{
    expect_str(OPEN
               "<meta><from>a</from><thread>" THREAD "</thread>\n"
               "<x:ts xmlns:x=\"urn:xmlbus:meta:v1\">-5</x:ts></meta><g xmlns=\"\"/></message>",
               XB_ERR_ENVELOPE, 2);
    expect_str(OPEN "<meta><from>a</from><thread>" THREAD "</thread>\n"
                    "<x:depth xmlns:x=\"urn:xmlbus:meta:v1\">99999999999</x:depth></meta>"
                    "<g xmlns=\"\"/></message>",
               XB_ERR_ENVELOPE, 2);
    expect_str(OPEN "<meta><from>a</from><thread>" THREAD "</thread>"
                    "<x:id xmlns:x=\"urn:xmlbus:meta:v1\">1</x:id>\n"
                    "<x:id xmlns:x=\"urn:xmlbus:meta:v1\">2</x:id></meta><g xmlns=\"\"/></message>",
               XB_ERR_ENVELOPE, 2);
}

/* The contents of /etc/passwd must never appear in an error. */
static void expect_no_passwd(const xb_error_t *err)
{
    CU_ASSERT_PTR_NULL(strstr(err->message, "root:"));
    CU_ASSERT_PTR_NULL(strstr(err->message, "/bin/"));
}

static void test_dtd_attacks_are_refused(void)
{
    const char *files[] = {"doctype.xml", "xxe.xml", "billion-laughs.xml"};
    for (size_t i = 0; i < 3; i++) {
        xb_error_t err;
        xb_envelope_t *e = parse_file(files[i], &err);
        CU_ASSERT_TRUE(check_rejected(e, &err, XB_ERR_PARSE, 2, files[i]));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "DOCTYPE"));
        expect_no_passwd(&err);
        xb_envelope_destroy(&e);
    }
    /* A DOCTYPE anywhere, however written, and other declarations. */
    expect_str(OPEN META("a") "<g xmlns=\"\"/></message>\n<!DOCTYPE x>", XB_ERR_PARSE, 2);
    expect_str("<!ENTITY x \"y\">" ENVELOPE("<g xmlns=\"\"/>"), XB_ERR_PARSE, 1);
    /* The same payloads through build_bytes. */
    size_t len = 0;
    char *xxe = xbt_read_file(DATA "xxe.xml", &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(xxe);
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_PTR_NULL(xb_envelope_build_bytes("a", NULL, NULL, xxe, len, P, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_PARSE);
    expect_no_passwd(&err);
    free(xxe);
}

static void test_entity_loader_refuses_hardened_contexts(void)
{
    xb_xml_init();
    xmlParserCtxtPtr hard = xb_xml_ctxt_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(hard);
    CU_ASSERT_TRUE(xb_xml_ctxt_is_hardened(hard));
    xmlParserInputPtr in = xmlLoadExternalEntity(DATA "valid.xml", NULL, hard);
    CU_ASSERT_PTR_NULL(in);
    if (in)
        xmlFreeInputStream(in);
    in = xmlLoadExternalEntity("/etc/passwd", NULL, hard);
    CU_ASSERT_PTR_NULL(in);
    if (in)
        xmlFreeInputStream(in);
    /* Other contexts (XSD compilation) still read local files. */
    xmlParserCtxtPtr plain = xmlNewParserCtxt();
    CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
    CU_ASSERT_FALSE(xb_xml_ctxt_is_hardened(plain));
    in = xmlLoadExternalEntity(DATA "valid.xml", NULL, plain);
    CU_ASSERT_PTR_NOT_NULL(in);
    if (in)
        xmlFreeInputStream(in);
    xmlFreeParserCtxt(plain);
    xb_xml_ctxt_free(&hard);
    CU_ASSERT_PTR_NULL(hard);
}

static void test_oversize_is_limit(void)
{
    size_t n = XB_PARSE_DEFAULT_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    const char *head = OPEN META("a") "<g xmlns=\"\">";
    const char *tail = "</g></message>";
    memset(big, 'x', n);
    memcpy(big, head, strlen(head));
    memcpy(big + n - strlen(tail), tail, strlen(tail));
    big[n] = '\0';
    xb_error_t err;
    xb_envelope_t *e = parse_with(P, big, n, &err);
    CU_ASSERT_TRUE(check_rejected(e, &err, XB_ERR_LIMIT, 1, "oversize"));
    /* One byte less fits. */
    memmove(big + n - strlen(tail) - 1, tail, strlen(tail));
    e = parse_with(P, big, n - 1, &err);
    CU_ASSERT_PTR_NOT_NULL(e);
    xb_envelope_destroy(&e);
    free(big);
}

static void test_too_deep_is_limit(void)
{
    char *ok = nested_envelope(XB_PARSE_DEFAULT_MAX_DEPTH - 1); /* 256 with <message> */
    xb_error_t err;
    xb_envelope_t *e = parse_str(ok, &err);
    if (!e)
        fprintf(stderr, "\n  depth 256: %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL(e);
    xb_envelope_destroy(&e);
    free(ok);
    char *deep = nested_envelope(XB_PARSE_DEFAULT_MAX_DEPTH);
    expect_str(deep, XB_ERR_LIMIT, 1);
    free(deep);
    deep = nested_envelope(100000);
    expect_str(deep, XB_ERR_LIMIT, 1);
    free(deep);
}

static char *attributes_envelope(int attributes, const char *name_fmt)
{
    size_t cap = (size_t)attributes * 32 + 512;
    char *s = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    size_t n = (size_t)snprintf(s, cap, "%s%s\n<g xmlns=\"\"", OPEN, META("console"));
    for (int i = 0; i < attributes; i++) {
        n += (size_t)snprintf(s + n, cap - n, " ");
        n += (size_t)snprintf(s + n, cap - n, name_fmt, i);
        n += (size_t)snprintf(s + n, cap - n, "=\"v\"");
    }
    snprintf(s + n, cap - n, "/></message>");
    return s;
}

static void test_attribute_and_namespace_floods_are_limit(void)
{
    /* 255 attributes + xmlns="" = 256: fine; one more is refused. */
    char *s = attributes_envelope(255, "a%d");
    xb_error_t err;
    xb_envelope_t *e = parse_str(s, &err);
    CU_ASSERT_PTR_NOT_NULL(e);
    xb_envelope_destroy(&e);
    free(s);
    s = attributes_envelope(256, "a%d");
    expect_str(s, XB_ERR_LIMIT, 2);
    free(s);
    /* The flood that takes libxml2 2.9 seconds is refused by the pre-scan. */
    s = attributes_envelope(100000, "a%d");
    expect_str(s, XB_ERR_LIMIT, 2);
    free(s);
    /* Namespace declarations count per document, across elements. */
    size_t cap = 300 * 64 + 512;
    char *ns = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ns);
    size_t n = (size_t)snprintf(ns, cap, "%s%s<g xmlns=\"\">", OPEN, META("console"));
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(ns + n, cap - n, "\n<e xmlns:p%d=\"urn:p%d\"/>", i, i);
    snprintf(ns + n, cap - n, "</g></message>");
    /* Declarations 1 and 2 are on <message> and <g>; the 257th is on line 256. */
    expect_str(ns, XB_ERR_LIMIT, 256);
    free(ns);
}

static void test_custom_limits(void)
{
    xb_parse_limits_t l;
    xb_parse_limits_defaults(&l);
    CU_ASSERT_EQUAL(l.max_bytes, 1024 * 1024);
    CU_ASSERT_EQUAL(l.max_depth, 256);
    CU_ASSERT_EQUAL(l.max_attributes, 256);
    CU_ASSERT_EQUAL(l.max_namespaces, 256);
    l.max_bytes = 4096;
    l.max_depth = 8;
    l.max_attributes = 5;
    l.max_namespaces = 4;
    xb_error_t err;
    xb_error_clear(&err);
    xb_parser_t *p = xb_parser_new(&l, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(xb_parser_limits(p)->max_depth, 8);
    xb_envelope_t *e;
    char *s;
    /* depth: <message> + 7 levels of payload = 8 fits, 9 does not. */
    s = nested_envelope(7);
    e = parse_with(p, s, strlen(s), &err);
    CU_ASSERT_PTR_NOT_NULL(e);
    xb_envelope_destroy(&e);
    free(s);
    s = nested_envelope(8);
    e = parse_with(p, s, strlen(s), &err);
    CU_ASSERT_TRUE(check_rejected(e, &err, XB_ERR_LIMIT, 1, "depth 9"));
    free(s);
    /* attributes: xmlns="" + 4 = 5 fits, + 5 does not. */
    s = attributes_envelope(4, "a%d");
    e = parse_with(p, s, strlen(s), &err);
    CU_ASSERT_PTR_NOT_NULL(e);
    xb_envelope_destroy(&e);
    free(s);
    s = attributes_envelope(5, "a%d");
    e = parse_with(p, s, strlen(s), &err);
    CU_ASSERT_TRUE(check_rejected(e, &err, XB_ERR_LIMIT, 2, "6 attributes"));
    free(s);
    /* namespaces: message + g + 2 = 4 fits, + 3 does not. */
    s = attributes_envelope(2, "xmlns:n%d");
    e = parse_with(p, s, strlen(s), &err);
    CU_ASSERT_PTR_NOT_NULL(e);
    xb_envelope_destroy(&e);
    free(s);
    s = attributes_envelope(3, "xmlns:n%d");
    e = parse_with(p, s, strlen(s), &err);
    CU_ASSERT_TRUE(check_rejected(e, &err, XB_ERR_LIMIT, 2, "5 namespaces"));
    free(s);
    /* bytes: exactly 4096 fits, 4097 does not. */
    char *b = malloc(4098);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (size_t total = 4096; total <= 4097; total++) {
        const char *head = ENVELOPE("<g xmlns=\"\">");
        const char *tail = "</g></message>";
        size_t hl = strlen(head) - strlen("</message>");
        memcpy(b, head, hl);
        memset(b + hl, ' ', total - hl - strlen(tail));
        memcpy(b + total - strlen(tail), tail, strlen(tail));
        e = parse_with(p, b, total, &err);
        if (total == 4096) {
            CU_ASSERT_PTR_NOT_NULL(e);
        } else {
            CU_ASSERT_TRUE(check_rejected(e, &err, XB_ERR_LIMIT, 1, "4097 bytes"));
        }
        xb_envelope_destroy(&e);
    }
    free(b);
    xb_parser_destroy(&p);
    CU_ASSERT_PTR_NULL(p);
    /* Bad limits are refused. */
    l.max_depth = 0;
    CU_ASSERT_PTR_NULL(xb_parser_new(&l, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    l.max_depth = 8;
    l.max_bytes = (size_t)1 << 40;
    CU_ASSERT_PTR_NULL(xb_parser_new(&l, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
}

static void test_invalid_utf8_is_parse(void)
{
    const char *bad[] = {"\xFF",     "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                         "\xE4\xB8", "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *s = xasprintf("%s%s\n\n<g xmlns=\"\">%s</g></message>", OPEN, META("a"), bad[i]);
        expect_str(s, XB_ERR_PARSE, 3);
        free(s);
    }
    /* Only UTF-8 (or its subset US-ASCII) may be declared. */
    expect_str("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" ENVELOPE("<g xmlns=\"\"/>"),
               XB_ERR_PARSE, 1);
    expect_str("<?xml version=\"1.0\" encoding=\"UTF-16\"?>" ENVELOPE("<g xmlns=\"\"/>"),
               XB_ERR_PARSE, 1);
    const char *fine[] = {"<?xml version=\"1.0\" encoding=\"utf-8\"?>",
                          "<?xml version='1.0' encoding='US-ASCII'?>", "\xEF\xBB\xBF"};
    for (size_t i = 0; i < 3; i++) {
        char *s = xasprintf("%s%s", fine[i], ENVELOPE("<g xmlns=\"\">caf\xC3\xA9</g>"));
        xb_error_t err;
        xb_envelope_t *e = parse_str(s, &err);
        /* Even a US-ASCII declaration: the bytes are read as UTF-8. */
        CU_ASSERT_PTR_NOT_NULL(e);
        if (e) {
            char *t = text_of(xb_envelope_payload(e));
            CU_ASSERT_STRING_EQUAL(t, "caf\xC3\xA9");
            free(t);
        }
        xb_envelope_destroy(&e);
        free(s);
    }
}

/* Characters XML does not allow are refused before libxml2, which would
 * stop at a NUL as if the document ended there and accept what came before. */
static void test_disallowed_characters_are_parse(void)
{
    static const char payload_nul[] = "<a/>\0\0junk";
    xb_error_t err;
    xmlDocPtr doc = xb_parser_read(P, payload_nul, sizeof payload_nul - 1, &err);
    CU_ASSERT_PTR_NULL(doc);
    CU_ASSERT_EQUAL(err.code, XB_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "U+0000"));
    xb_envelope_t *e = parse_with(P, "<\0\0\0", 4, &err);
    CU_ASSERT_TRUE(check_rejected(e, &err, XB_ERR_PARSE, 1, "< and three NULs"));
    const char *bad[] = {"\x01", "\x1F", "\xEF\xBF\xBE", "\xEF\xBF\xBF"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *s = xasprintf("%s%s\n<g xmlns=\"\">%s</g></message>", OPEN, META("a"), bad[i]);
        expect_str(s, XB_ERR_PARSE, 2);
        free(s);
    }
}

/* Well-formed documents whose text, comments, CDATA, PIs and attribute
 * values look like markup: the pre-scan must not refuse them. */
static void test_prescan_accepts_tricky_wellformed(void)
{
    const char *s =
        "<?xml version=\"1.0\"?>\n<!-- <!DOCTYPE x> <a b=c> -->\n<?pi <x a=b ?>\n" OPEN
        "<meta><from>a</from><thread>" THREAD "</thread></meta>\n"
        "<g xmlns=\"\" a=\"x>y\" b='/>' c = \"'\" d='\"'><![CDATA[<!DOCTYPE <<< & ]]>"
        "<!----><?x?>&lt;!DOCTYPE&gt; > ]] <e\n/><f></f \n></g></message>\n<!-- end -->";
    xb_error_t err;
    xb_envelope_t *e = parse_str(s, &err);
    if (!e)
        fprintf(stderr, "\n  tricky: %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    char *a = (char *)xmlGetProp(xb_envelope_payload(e), BAD_CAST "a");
    CU_ASSERT_STRING_EQUAL(a, "x>y");
    xmlFree(a);
    xb_envelope_destroy(&e);
}

static void test_errors_never_reach_stderr(void)
{
    char path[] = "/tmp/xb-test-envelope-stderr-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    CU_ASSERT_FATAL(saved >= 0);
    dup2(fd, 2);
    xb_error_t err;
    const char *bad[] = {"<a><b></a>",
                         "<e:a/>",
                         "<a xmlns='rel' x='1' x='2'/>",
                         OPEN "<meta><thread>x</thread></meta></message>",
                         "<a>&nope;</a>",
                         OPEN
                         "<meta><from>a</from><thread/></meta><g xmlns='relative'/></message>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xb_envelope_t *e = parse_str(bad[i], &err);
        xb_envelope_destroy(&e);
    }
    /* '<' and three zero bytes look like UCS-4 to libxml2, whose encoding
     * converter reported the failure on stderr. */
    xb_envelope_t *e = parse_with(P, "<\0\0\0", 4, &err);
    CU_ASSERT_PTR_NULL(e);
    xmlParserCtxtPtr ctxt = xb_xml_ctxt_new();
    xb_parse_limits_t l;
    xb_parse_limits_defaults(&l);
    xmlDocPtr doc = xb_xml_read(ctxt, "<\0\0\0<a/>", 8, &l, &err);
    CU_ASSERT_PTR_NULL(doc);
    xb_xml_ctxt_free(&ctxt);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    CU_ASSERT_EQUAL(fstat(fd, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 0);
    close(fd);
    unlink(path);
}

/* ---- threads ----------------------------------------------------------------- */

static xb_envelope_t *with_thread(const char *thread_xml)
{
    char *s = xasprintf("%s<meta><from>a</from>%s</meta><g xmlns=\"\"/></message>", OPEN,
                        thread_xml);
    xb_error_t err;
    xb_envelope_t *e = parse_str(s, &err);
    if (!e)
        fprintf(stderr, "\n  %s: %s\n", s, err.message);
    free(s);
    return e;
}

static void test_thread_kept_when_canonical(void)
{
    xb_envelope_t *e = with_thread("<thread>" THREAD "</thread>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(xb_envelope_thread(e), THREAD);
    CU_ASSERT_FALSE(xb_envelope_thread_replaced(e));
    xb_envelope_destroy(&e);
    /* Surrounding whitespace is not a different thread; it is dropped. */
    e = with_thread("<thread>\n  " THREAD "\n</thread>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(xb_envelope_thread(e), THREAD);
    CU_ASSERT_FALSE(xb_envelope_thread_replaced(e));
    char *out = serialize(e, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "<thread>" THREAD "</thread>"));
    free(out);
    xb_envelope_destroy(&e);
}

static void test_thread_replaced_when_not_canonical(void)
{
    struct {
        const char *xml, *original;
    } cases[] = {
        {"<thread>0F8E2F7A-3C1B-4E55-9A0E-2A1D5B6C7D8E</thread>",
         "0F8E2F7A-3C1B-4E55-9A0E-2A1D5B6C7D8E"},
        {"<thread>not-a-uuid &lt;x&gt;</thread>", "not-a-uuid <x>"},
        {"<thread/>", ""},
        {"<thread>   </thread>", ""},
        {"<thread>0f8e2f7a-3c1b-1e55-9a0e-2a1d5b6c7d8e</thread>",
         "0f8e2f7a-3c1b-1e55-9a0e-2a1d5b6c7d8e"}, /* version 1 */
        {"<thread>0f8e2f7a-3c1b-4e55-7a0e-2a1d5b6c7d8e</thread>",
         "0f8e2f7a-3c1b-4e55-7a0e-2a1d5b6c7d8e"}, /* wrong variant */
        {"<thread>{0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e}</thread>",
         "{0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        xb_envelope_t *e = with_thread(cases[i].xml);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_TRUE(xb_envelope_thread_replaced(e));
        CU_ASSERT_TRUE(xb_uuid_is_canonical(xb_envelope_thread(e)));
        CU_ASSERT_PTR_NOT_NULL_FATAL(xb_envelope_thread_original(e));
        CU_ASSERT_STRING_EQUAL(xb_envelope_thread_original(e), cases[i].original);
        /* The replacement is in the document: it survives serialization. */
        xb_envelope_t *back = reparse(e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(back);
        CU_ASSERT_STRING_EQUAL(xb_envelope_thread(back), xb_envelope_thread(e));
        CU_ASSERT_FALSE(xb_envelope_thread_replaced(back));
        xb_envelope_destroy(&back);
        xb_envelope_destroy(&e);
    }
    /* Two replacements are two different threads. */
    xb_envelope_t *a = with_thread("<thread>x</thread>");
    xb_envelope_t *b = with_thread("<thread>x</thread>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_STRING_NOT_EQUAL(xb_envelope_thread(a), xb_envelope_thread(b));
    xb_envelope_destroy(&a);
    xb_envelope_destroy(&b);
}

static void test_uuid(void)
{
    CU_ASSERT_TRUE(xb_uuid_is_canonical(THREAD));
    CU_ASSERT_FALSE(xb_uuid_is_canonical(NULL));
    CU_ASSERT_FALSE(xb_uuid_is_canonical(""));
    CU_ASSERT_FALSE(xb_uuid_is_canonical(THREAD " "));
    CU_ASSERT_FALSE(xb_uuid_is_canonical(" " THREAD));
    CU_ASSERT_FALSE(xb_uuid_is_canonical("0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8"));
    CU_ASSERT_FALSE(xb_uuid_is_canonical("0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8E"));
    CU_ASSERT_FALSE(xb_uuid_is_canonical("0f8e2f7a03c1b-4e55-9a0e-2a1d5b6c7d8e"));
    CU_ASSERT_FALSE(xb_uuid_is_canonical("0f8e2f7a-3c1b-5e55-9a0e-2a1d5b6c7d8e"));
    CU_ASSERT_FALSE(xb_uuid_is_canonical("0f8e2f7a-3c1b-4e55-ca0e-2a1d5b6c7d8e"));
    CU_ASSERT_FALSE(xb_uuid_is_canonical("0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8g"));
    char a[XB_UUID_LEN + 1], b[XB_UUID_LEN + 1];
    xb_uuid_new(a);
    xb_uuid_new(b);
    CU_ASSERT_TRUE(xb_uuid_is_canonical(a));
    CU_ASSERT_TRUE(xb_uuid_is_canonical(b));
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
}

/* ---- build, serialize, round trip ---------------------------------------------- */

/* <note title=NASTY><name>NASTY</name><![CDATA[x]]>y]]></note> with the tree API. */
static xmlDocPtr nasty_payload(void)
{
    xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr note = xmlNewDocNode(d, NULL, BAD_CAST "note", NULL);
    xmlDocSetRootElement(d, note);
    xmlNewProp(note, BAD_CAST "title", BAD_CAST NASTY);
    xmlNodePtr name = xmlNewDocNode(d, NULL, BAD_CAST "name", NULL);
    xmlAddChild(note, name);
    xmlAddChild(name, xmlNewDocText(d, BAD_CAST NASTY));
    xmlAddChild(note, xmlNewCDataBlock(d, BAD_CAST "x]]>y", 5));
    return d;
}

static void check_nasty_payload(xmlNodePtr note)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(note);
    CU_ASSERT_STRING_EQUAL((const char *)note->name, "note");
    CU_ASSERT_PTR_NULL(note->ns);
    char *title = (char *)xmlGetProp(note, BAD_CAST "title");
    CU_ASSERT_STRING_EQUAL(title, NASTY);
    xmlFree(title);
    /* Exactly one child element, <name>, holding the text; no <evil>. */
    CU_ASSERT_EQUAL(element_children(note), 1);
    CU_ASSERT_EQUAL(count_named(note, "evil"), 0);
    xmlNodePtr name = first_element(note->children);
    char *t = text_of(name);
    CU_ASSERT_STRING_EQUAL(t, NASTY);
    free(t);
    t = text_of(note);
    CU_ASSERT_STRING_EQUAL(t, NASTY "x]]>y");
    free(t);
}

static void test_build_serialize_parse_round_trip(void)
{
    xmlDocPtr d = nasty_payload();
    xb_error_t err;
    xb_error_clear(&err);
    xb_envelope_t *e = xb_envelope_build(NASTY, NASTY, THREAD, xmlDocGetRootElement(d), &err);
    xmlFreeDoc(d); /* the envelope has its own copy */
    if (!e)
        fprintf(stderr, "\n  build: %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(xb_envelope_set_id(e, NASTY, &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_ts(e, 1764000000123456LL, &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_depth(e, 7, &err), 0);
    CU_ASSERT_FALSE(xb_envelope_thread_replaced(e));

    size_t len = 0;
    char *out = serialize(e, &len);
    /* No XML declaration needed, no-namespace payload undeclares the default. */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "<note xmlns=\"\""));
    CU_ASSERT_PTR_NULL(strstr(out, "<evil"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\xE4\xB8\xAD")); /* raw UTF-8, not &#...; */
    xb_envelope_t *back = parse_with(P, out, len, &err);
    if (!back)
        fprintf(stderr, "\n  %s\n  %s\n", out, err.message);
    free(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_STRING_EQUAL(xb_envelope_from(back), NASTY);
    CU_ASSERT_STRING_EQUAL(xb_envelope_to(back), NASTY);
    CU_ASSERT_STRING_EQUAL(xb_envelope_thread(back), THREAD);
    CU_ASSERT_STRING_EQUAL(xb_envelope_id(back), NASTY);
    CU_ASSERT_EQUAL(xb_envelope_ts(back), 1764000000123456LL);
    CU_ASSERT_EQUAL(xb_envelope_depth(back), 7);
    CU_ASSERT_STRING_EQUAL(xb_envelope_payload_type(back), "note");
    check_nasty_payload(xb_envelope_payload(back));

    /* The payload alone re-parses to the same element. */
    char *pl = NULL;
    CU_ASSERT_EQUAL(xb_envelope_payload_serialize(back, &pl, &len), 0);
    xmlDocPtr pd = xb_parser_read(P, pl, len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pd);
    check_nasty_payload(xmlDocGetRootElement(pd));
    xmlFreeDoc(pd);

    /* ... and builds the same envelope again through build_bytes. */
    xb_envelope_t *again = xb_envelope_build_bytes(NASTY, NULL, THREAD, pl, len, P, &err);
    free(pl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    xb_envelope_t *again_back = reparse(again);
    CU_ASSERT_PTR_NOT_NULL_FATAL(again_back);
    check_nasty_payload(xb_envelope_payload(again_back));
    CU_ASSERT_PTR_NULL(xb_envelope_to(again_back));
    xb_envelope_destroy(&again_back);
    xb_envelope_destroy(&again);
    xb_envelope_destroy(&back);
    xb_envelope_destroy(&e);
}

static void test_payload_text_cannot_inject_markup(void)
{
    const char *evil = "</name><evil/>";
    xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr g = xmlNewDocNode(d, NULL, BAD_CAST "greeting", NULL);
    xmlDocSetRootElement(d, g);
    xmlNodePtr name = xmlNewTextChild(g, NULL, BAD_CAST "name", BAD_CAST evil);
    CU_ASSERT_PTR_NOT_NULL_FATAL(name);
    xb_error_t err;
    xb_envelope_t *e = xb_envelope_build("console", "greeter", NULL, g, &err);
    xmlFreeDoc(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    /* Setters take text too. */
    CU_ASSERT_EQUAL(xb_envelope_set_from(e, "</from><evil/>", &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_to(e, "</to><to>x</to><evil/>", &err), 0);
    xb_envelope_t *back = reparse(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_STRING_EQUAL(xb_envelope_from(back), "</from><evil/>");
    CU_ASSERT_STRING_EQUAL(xb_envelope_to(back), "</to><to>x</to><evil/>");
    xmlNodePtr pl = xb_envelope_payload(back);
    CU_ASSERT_EQUAL(element_children(pl), 1);
    CU_ASSERT_EQUAL(count_named(xmlDocGetRootElement(xb_envelope_doc(back)), "evil"), 0);
    char *t = text_of(first_element(pl->children));
    CU_ASSERT_STRING_EQUAL(t, evil);
    free(t);
    xb_envelope_destroy(&back);
    xb_envelope_destroy(&e);
    /* Payload bytes with a second element are not one payload. */
    const char *two = "<name>x</name><evil/>";
    xb_error_clear(&err);
    CU_ASSERT_PTR_NULL(xb_envelope_build_bytes("a", NULL, NULL, two, strlen(two), P, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_PARSE);
}

static void test_build_namespaces(void)
{
    xb_error_t err;
    /* A payload in a namespace whose child is in none: the child gets
     * xmlns="" so that it does not fall into the envelope namespace. */
    xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewDocNode(d, NULL, BAD_CAST "order", NULL);
    xmlDocSetRootElement(d, root);
    xmlNsPtr o = xmlNewNs(root, BAD_CAST "urn:example:orders", BAD_CAST "o");
    xmlSetNs(root, o);
    xmlAddChild(root, xmlNewDocNode(d, NULL, BAD_CAST "plain", NULL)); /* no namespace */
    xmlNodePtr item = xmlNewChild(root, o, BAD_CAST "item", NULL);
    xmlNewNsProp(item, o, BAD_CAST "sku", BAD_CAST "7");
    xb_envelope_t *e = xb_envelope_build("shop", NULL, THREAD, root, &err);
    xmlFreeDoc(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(xb_envelope_payload_type(e), "{urn:example:orders}order");
    xb_envelope_t *back = reparse(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    xmlNodePtr pl = xb_envelope_payload(back);
    CU_ASSERT_STRING_EQUAL((const char *)pl->ns->href, "urn:example:orders");
    xmlNodePtr plain = first_element(pl->children);
    CU_ASSERT_STRING_EQUAL((const char *)plain->name, "plain");
    CU_ASSERT_PTR_NULL(plain->ns);
    xmlNodePtr it = first_element(plain->next);
    CU_ASSERT_STRING_EQUAL((const char *)it->ns->href, "urn:example:orders");
    xmlChar *sku = xmlGetNsProp(it, BAD_CAST "sku", BAD_CAST "urn:example:orders");
    CU_ASSERT_STRING_EQUAL((const char *)sku, "7");
    xmlFree(sku);
    xb_envelope_destroy(&back);
    xb_envelope_destroy(&e);

    /* Building from a parsed envelope's payload keeps its namespaces. */
    e = parse_file("namespaced-payload.xml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    xb_envelope_t *copy = xb_envelope_build("shop", "till", NULL, xb_envelope_payload(e), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    back = reparse(copy);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_STRING_EQUAL(xb_envelope_payload_type(back), "{urn:example:orders}order");
    xmlNodePtr note = first_element(first_element(xb_envelope_payload(back)->children)->next);
    CU_ASSERT_PTR_NOT_NULL_FATAL(note);
    CU_ASSERT_STRING_EQUAL((const char *)note->ns->href, ENVNS);
    xb_envelope_destroy(&back);
    xb_envelope_destroy(&copy);
    xb_envelope_destroy(&e);
}

static void test_build_refuses_bad_input(void)
{
    xb_error_t err;
    xmlDocPtr d = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr g = xmlNewDocNode(d, NULL, BAD_CAST "g", NULL);
    xmlDocSetRootElement(d, g);
    struct {
        const char *from, *to;
        xb_code_t code;
    } names[] = {{"", NULL, XB_ERR_ARG},      {NULL, NULL, XB_ERR_ARG},    {" a", NULL, XB_ERR_ARG},
                 {"a\x01", NULL, XB_ERR_ARG}, {"a\xFF", NULL, XB_ERR_ARG}, {"a", "", XB_ERR_ARG},
                 {"a", "b ", XB_ERR_ARG}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        xb_error_clear(&err);
        xb_envelope_t *e = xb_envelope_build(names[i].from, names[i].to, NULL, g, &err);
        CU_ASSERT_PTR_NULL(e);
        CU_ASSERT_EQUAL(err.code, names[i].code);
        xb_envelope_destroy(&e);
    }
    CU_ASSERT_PTR_NULL(xb_envelope_build("a", NULL, NULL, NULL, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);

    /* Trees that would not serialize to what they say. */
    xmlNodePtr bad_name = xmlNewDocNode(d, NULL, BAD_CAST "a b", NULL);
    xmlNodePtr evil_name = xmlNewDocNode(d, NULL, BAD_CAST "x/><evil", NULL);
    xmlNodePtr bad_comment = xmlNewDocNode(d, NULL, BAD_CAST "c", NULL);
    xmlAddChild(bad_comment, xmlNewDocComment(d, BAD_CAST "a--><evil/><!--"));
    xmlNodePtr bad_text = xmlNewDocNode(d, NULL, BAD_CAST "t", NULL);
    xmlAddChild(bad_text, xmlNewDocText(d, BAD_CAST "bell\x07"));
    xmlNodePtr bad_pi = xmlNewDocNode(d, NULL, BAD_CAST "p", NULL);
    xmlAddChild(bad_pi, xmlNewDocPI(d, BAD_CAST "x", BAD_CAST "?><evil/>"));
    xmlNodePtr bad_attr = xmlNewDocNode(d, NULL, BAD_CAST "a", NULL);
    xmlNewProp(bad_attr, BAD_CAST "x=\"1\" y", BAD_CAST "2");
    xmlNodePtr in_env = xmlNewDocNode(d, NULL, BAD_CAST "meta", NULL);
    xmlSetNs(in_env, xmlNewNs(in_env, BAD_CAST ENVNS, NULL));
    struct {
        xmlNodePtr node;
        xb_code_t code;
    } trees[] = {{bad_name, XB_ERR_ARG},   {evil_name, XB_ERR_ARG}, {bad_comment, XB_ERR_ARG},
                 {bad_text, XB_ERR_ARG},   {bad_pi, XB_ERR_ARG},    {bad_attr, XB_ERR_ARG},
                 {in_env, XB_ERR_ENVELOPE}};
    for (size_t i = 0; i < sizeof trees / sizeof trees[0]; i++) {
        xb_error_clear(&err);
        CU_ASSERT_PTR_NULL(xb_envelope_build("a", NULL, NULL, trees[i].node, &err));
        CU_ASSERT_EQUAL(err.code, trees[i].code);
        xmlFreeNode(trees[i].node);
    }
    xmlFreeDoc(d);

    /* build_bytes: the payload gets the message hardening. */
    struct {
        const char *xml;
        xb_code_t code;
    } bytes[] = {
        {"<g>", XB_ERR_PARSE},
        {"<!DOCTYPE g><g/>", XB_ERR_PARSE},
        {"<e:meta xmlns:e=\"" ENVNS "\"/>", XB_ERR_ENVELOPE},
        {"", XB_ERR_PARSE},
    };
    for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
        xb_error_clear(&err);
        CU_ASSERT_PTR_NULL(
            xb_envelope_build_bytes("a", NULL, NULL, bytes[i].xml, strlen(bytes[i].xml), P, &err));
        CU_ASSERT_EQUAL(err.code, bytes[i].code);
    }
    CU_ASSERT_PTR_NULL(xb_envelope_build_bytes("a", NULL, NULL, "<g/>", 4, NULL, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
}

static void test_build_bytes_depth_leaves_room_for_envelope(void)
{
    /* 254 levels of payload + <message> + <meta>'s level = 256: it fits and
     * the built envelope re-parses; 255 levels is a limit error. */
    for (int depth = 254; depth <= 255; depth++) {
        size_t cap = (size_t)depth * 8 + 16;
        char *s = malloc(cap);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            n += (size_t)snprintf(s + n, cap - n, "<d>");
        for (int i = 0; i < depth; i++)
            n += (size_t)snprintf(s + n, cap - n, "</d>");
        xb_error_t err;
        xb_error_clear(&err);
        xb_envelope_t *e = xb_envelope_build_bytes("a", NULL, NULL, s, n, P, &err);
        free(s);
        if (depth == 254) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(e);
            CU_ASSERT_FALSE(xb_envelope_thread_replaced(e)); /* NULL thread: just fresh */
            CU_ASSERT_TRUE(xb_uuid_is_canonical(xb_envelope_thread(e)));
            xb_envelope_t *back = reparse(e);
            CU_ASSERT_PTR_NOT_NULL(back);
            xb_envelope_destroy(&back);
        } else {
            CU_ASSERT_PTR_NULL(e);
            CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
        }
        xb_envelope_destroy(&e);
    }
    /* A non-canonical thread given to build is replaced and reported. */
    xb_error_t err;
    xb_envelope_t *e = xb_envelope_build_bytes("a", NULL, "T-1", "<g/>", 4, P, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_TRUE(xb_envelope_thread_replaced(e));
    CU_ASSERT_STRING_EQUAL(xb_envelope_thread_original(e), "T-1");
    xb_envelope_destroy(&e);
}

static void test_setters(void)
{
    xb_error_t err;
    xb_envelope_t *e = parse_file("minimal.xml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(xb_envelope_set_to(e, "greeter", &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_from(e, "console2", &err), 0);
    char fresh[XB_UUID_LEN + 1];
    xb_uuid_new(fresh);
    CU_ASSERT_EQUAL(xb_envelope_set_thread(e, fresh, &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_id(e, "m-1", &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_ts(e, 42, &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_depth(e, 3, &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_depth(e, 4, &err), 0); /* replaces, not adds */
    CU_ASSERT_STRING_EQUAL(xb_envelope_to(e), "greeter");
    CU_ASSERT_EQUAL(xb_envelope_depth(e), 4);
    CU_ASSERT_EQUAL(xb_envelope_extension_count(e), 0);
    xb_envelope_t *back = reparse(e); /* also proves the order passes envelope.xsd */
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_STRING_EQUAL(xb_envelope_from(back), "console2");
    CU_ASSERT_STRING_EQUAL(xb_envelope_to(back), "greeter");
    CU_ASSERT_STRING_EQUAL(xb_envelope_thread(back), fresh);
    CU_ASSERT_STRING_EQUAL(xb_envelope_id(back), "m-1");
    CU_ASSERT_EQUAL(xb_envelope_ts(back), 42);
    CU_ASSERT_EQUAL(xb_envelope_depth(back), 4);
    CU_ASSERT_EQUAL(xb_envelope_set_to(back, NULL, &err), 0);
    CU_ASSERT_PTR_NULL(xb_envelope_to(back));
    xb_envelope_t *back2 = reparse(back);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back2);
    CU_ASSERT_PTR_NULL(xb_envelope_to(back2));
    CU_ASSERT_EQUAL(xb_envelope_depth(back2), 4);
    xb_envelope_destroy(&back2);
    xb_envelope_destroy(&back);
    /* Refused values leave the envelope as it was. */
    CU_ASSERT_EQUAL(xb_envelope_set_thread(e, "0F8E2F7A-3C1B-4E55-9A0E-2A1D5B6C7D8E", &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_STRING_EQUAL(xb_envelope_thread(e), fresh);
    CU_ASSERT_EQUAL(xb_envelope_set_from(e, "", &err), -1);
    CU_ASSERT_STRING_EQUAL(xb_envelope_from(e), "console2");
    CU_ASSERT_EQUAL(xb_envelope_set_depth(e, -1, &err), -1);
    CU_ASSERT_EQUAL(xb_envelope_set_ts(e, -1, &err), -1);
    CU_ASSERT_EQUAL(xb_envelope_set_id(e, "", &err), -1);
    xb_envelope_destroy(&e);
}

static void test_setters_on_prefixed_envelope(void)
{
    /* Meta of a prefixed envelope: new <to> takes the envelope's prefix, the
     * xmlbus meta reuses the declared m: prefix. */
    xb_error_t err;
    xb_envelope_t *e = parse_file("prefixed.xml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(xb_envelope_set_to(e, NULL, &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_to(e, "other", &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_depth(e, 9, &err), 0);
    xb_envelope_t *back = reparse(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_STRING_EQUAL(xb_envelope_to(back), "other");
    CU_ASSERT_EQUAL(xb_envelope_depth(back), 9);
    CU_ASSERT_EQUAL(xb_envelope_extension_count(back), 1);
    xb_envelope_destroy(&back);
    xb_envelope_destroy(&e);
}

static void test_extensions_survive(void)
{
    xb_error_t err;
    xb_envelope_t *e = parse_file("valid.xml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    /* Edits elsewhere in meta leave the extension alone. */
    CU_ASSERT_EQUAL(xb_envelope_set_from(e, "pump-side", &err), 0);
    CU_ASSERT_EQUAL(xb_envelope_set_depth(e, 3, &err), 0);
    xb_envelope_t *back = reparse(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_EQUAL(xb_envelope_extension_count(back), 1);
    char *before = node_dump(xb_envelope_extension_first(e));
    char *after = node_dump(xb_envelope_extension_first(back));
    CU_ASSERT_STRING_EQUAL(before, after);
    CU_ASSERT_PTR_NOT_NULL(strstr(after, "at=\"edge-1\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(after, "<trace:note>kept</trace:note>"));
    free(before);
    free(after);
    xb_envelope_destroy(&back);
    xb_envelope_destroy(&e);
    /* Several extensions, and an unknown xmlbus meta field, keep their order. */
    const char *s = OPEN
        "<meta><from>a</from><thread>" THREAD "</thread>"
        "<a:one xmlns:a=\"urn:a\"/><x:future xmlns:x=\"urn:xmlbus:meta:v1\">1</x:future>"
        "<b:two xmlns:b=\"urn:b\"><b:deep k=\"v\">t</b:deep></b:two></meta>"
        "<g xmlns=\"\"/></message>";
    e = parse_str(s, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(xb_envelope_extension_count(e), 3);
    back = reparse(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    const char *names[] = {"one", "future", "two"};
    size_t i = 0;
    for (xmlNodePtr x = xb_envelope_extension_first(back); x;
         x = xb_envelope_extension_next(back, x), i++) {
        CU_ASSERT_FATAL(i < 3);
        CU_ASSERT_STRING_EQUAL((const char *)x->name, names[i]);
    }
    CU_ASSERT_EQUAL(i, 3);
    xb_envelope_destroy(&back);
    xb_envelope_destroy(&e);
}

/* ---- SystemError ------------------------------------------------------------------ */

static void test_system_error(void)
{
    xb_error_t err;
    const char *msg = "no listener named 'nobody' <&> \xC3\xA9";
    xb_envelope_t *e = xb_envelope_system_error("console", THREAD, XB_ERR_ROUTING, msg, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(xb_envelope_from(e), "system");
    CU_ASSERT_STRING_EQUAL(xb_envelope_to(e), "console");
    CU_ASSERT_STRING_EQUAL(xb_envelope_thread(e), THREAD);
    CU_ASSERT_STRING_EQUAL(xb_envelope_payload_type(e), "SystemError");
    char *out = serialize(e, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "<SystemError xmlns=\"\"><code>routing</code>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "<retry-allowed>false</retry-allowed>"));
    free(out);
    xb_envelope_t *back = reparse(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    xb_code_t code = XB_OK;
    char *text = NULL;
    bool retry = true;
    CU_ASSERT_EQUAL(xb_envelope_read_system_error(back, &code, &text, &retry, &err), 0);
    CU_ASSERT_EQUAL(code, XB_ERR_ROUTING);
    CU_ASSERT_STRING_EQUAL(text, msg);
    CU_ASSERT_FALSE(retry);
    free(text);

    /* The payload is valid against schemas/system.xsd. */
    char path[1024];
    snprintf(path, sizeof path, "%s/system.xsd", xb_schema_dir());
    xmlSchemaPtr schema = xb_xml_schema_compile(path, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(schema);
    xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);
    CU_ASSERT_EQUAL(
        xb_xml_validate_element(v, xb_envelope_payload(back), XB_ERR_SCHEMA, "system.xsd", &err),
        0);
    /* ... and the schema does refuse a wrong code. */
    xmlNodePtr code_el = first_element(xb_envelope_payload(back)->children);
    xmlNodeSetContent(code_el, BAD_CAST "bogus");
    CU_ASSERT_EQUAL(
        xb_xml_validate_element(v, xb_envelope_payload(back), XB_ERR_SCHEMA, "system.xsd", &err),
        -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_SCHEMA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "system.xsd"));
    CU_ASSERT_EQUAL(xb_envelope_read_system_error(back, &code, NULL, NULL, &err), -1);
    xmlSchemaFreeValidCtxt(v);
    xmlSchemaFree(schema);
    xb_envelope_destroy(&back);
    xb_envelope_destroy(&e);

    /* Internal codes travel as their wire code; no to; bad thread; bad bytes. */
    e = xb_envelope_system_error(NULL, "nope", XB_ERR_CONFIG, "bad \xFF\x01 bytes", true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_NULL(xb_envelope_to(e));
    CU_ASSERT_TRUE(xb_uuid_is_canonical(xb_envelope_thread(e)));
    CU_ASSERT_TRUE(xb_envelope_thread_replaced(e));
    back = reparse(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_EQUAL(xb_envelope_read_system_error(back, &code, &text, &retry, &err), 0);
    CU_ASSERT_EQUAL(code, XB_ERR_ENVELOPE);
    CU_ASSERT_STRING_EQUAL(text, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
    CU_ASSERT_TRUE(retry);
    free(text);
    xb_envelope_destroy(&back);
    xb_envelope_destroy(&e);
    e = xb_envelope_system_error("console", NULL, XB_ERR_LIMIT, NULL, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_FALSE(xb_envelope_thread_replaced(e));
    CU_ASSERT_EQUAL(xb_envelope_read_system_error(e, &code, NULL, NULL, &err), 0);
    CU_ASSERT_EQUAL(code, XB_ERR_LIMIT);
    xb_envelope_destroy(&e);
    /* Not a SystemError. */
    e = parse_file("valid.xml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(xb_envelope_read_system_error(e, &code, NULL, NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ENVELOPE);
    xb_envelope_destroy(&e);
}

/* ---- parser reuse ------------------------------------------------------------------ */

static void test_parser_reuse_1000(void)
{
    int wrong = 0;
    for (int i = 0; i < 1000; i++) {
        char *s = NULL;
        xb_code_t want = XB_OK;
        switch (i % 6) {
        case 0:
            s = xasprintf(OPEN "<meta><from>sender-%d</from><thread>" THREAD
                               "</thread></meta><m%d xmlns=\"\"><n>%d</n></m%d></message>",
                          i, i, i, i);
            break;
        case 1:
            s = xasprintf(OPEN "<meta><from>s</from>\n<thread>" THREAD "</thread></meta><g>%d</h>",
                          i);
            want = XB_ERR_PARSE;
            break;
        case 2:
            s = xasprintf(OPEN "<meta><thread>%d</thread></meta><g xmlns=\"\"/></message>", i);
            want = XB_ERR_ENVELOPE;
            break;
        case 3:
            s = xasprintf("<!DOCTYPE m [<!ENTITY e%d \"x\">]>" ENVELOPE("<g xmlns=\"\"/>"), i);
            want = XB_ERR_PARSE;
            break;
        case 4:
            s = attributes_envelope(300, "a%d");
            want = XB_ERR_LIMIT;
            break;
        default:
            s = xasprintf(OPEN "<meta><from>s</from><thread>" THREAD
                               "</thread></meta><g xmlns=\"\"/><h%d xmlns=\"\"/></message>",
                          i);
            want = XB_ERR_ENVELOPE;
            break;
        }
        xb_error_t err;
        xb_envelope_t *e = parse_str(s, &err);
        bool ok;
        if (want == XB_OK) {
            char from[32], type[32];
            snprintf(from, sizeof from, "sender-%d", i);
            snprintf(type, sizeof type, "m%d", i);
            ok = e && strcmp(xb_envelope_from(e), from) == 0 &&
                 strcmp(xb_envelope_payload_type(e), type) == 0 &&
                 strcmp(xb_envelope_thread(e), THREAD) == 0;
        } else {
            ok = !e && err.code == want;
        }
        if (!ok) {
            wrong++;
            fprintf(stderr, "\n  message %d: got %s: %s\n", i,
                    e ? "an envelope" : xb_code_name(err.code), e ? "" : err.message);
        }
        xb_envelope_destroy(&e);
        free(s);
    }
    CU_ASSERT_EQUAL(wrong, 0);
}

/* Many distinct element names (60 000, three times the renewal threshold):
 * the parser renews its context's dictionary and keeps parsing correctly. */
static void test_parser_survives_name_churn(void)
{
    int wrong = 0;
    for (int i = 0; i < 300; i++) {
        size_t cap = 200 * 24 + 512;
        char *s = malloc(cap);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        size_t n = (size_t)snprintf(s, cap, "%s%s<g xmlns=\"\">", OPEN, META("a"));
        for (int j = 0; j < 200; j++)
            n += (size_t)snprintf(s + n, cap - n, "<n%d_%d/>", i, j);
        snprintf(s + n, cap - n, "</g></message>");
        xb_error_t err;
        xb_envelope_t *e = parse_str(s, &err);
        if (!e || element_children(xb_envelope_payload(e)) != 200)
            wrong++;
        xb_envelope_destroy(&e);
        free(s);
    }
    CU_ASSERT_EQUAL(wrong, 0);
}

/* A trusted parser (the listener runtime reading the pump's DELIVERs) skips
 * envelope.xsd but keeps the structure checks. */
static void test_trusted_parser_skips_xsd_only(void)
{
    const char *extra_attr =
        "<message xmlns=\"https://xml-pipeline.org/ns/envelope/v1\" bogus=\"1\"><meta>"
        "<from>a</from><thread>0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e</thread></meta>"
        "<p xmlns=\"\"/></message>";
    const char *no_from =
        "<message xmlns=\"https://xml-pipeline.org/ns/envelope/v1\"><meta>"
        "<thread>0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e</thread></meta><p xmlns=\"\"/></message>";
    xb_parser_t *p = xb_parser_new(NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    xb_error_t err;
    xb_envelope_t *e = xb_envelope_parse(p, extra_attr, strlen(extra_attr), &err);
    CU_ASSERT_PTR_NULL(e);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ENVELOPE);
    xb_parser_trust(p, true);
    e = xb_envelope_parse(p, extra_attr, strlen(extra_attr), &err);
    CU_ASSERT_PTR_NOT_NULL(e);
    xb_envelope_destroy(&e);
    e = xb_envelope_parse(p, no_from, strlen(no_from), &err);
    CU_ASSERT_PTR_NULL(e);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ENVELOPE);
    xb_envelope_destroy(&e);
    xb_parser_destroy(&p);
}

static void test_envelope_outlives_parser(void)
{
    xb_error_t err;
    xb_parser_t *p = xb_parser_new(NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    const char *s = ENVELOPE("<greeting xmlns=\"\"><name>late</name></greeting>");
    xb_envelope_t *e = parse_with(p, s, strlen(s), &err);
    xb_parser_destroy(&p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    /* Not tied to the parser's dictionary: may be freed in any thread. */
    CU_ASSERT_PTR_NULL(xb_envelope_doc(e)->dict);
    char *t = text_of(xb_envelope_payload(e));
    CU_ASSERT_STRING_EQUAL(t, "late");
    free(t);
    char *out = serialize(e, NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "late"));
    free(out);
    xb_envelope_destroy(&e);
    xb_parser_destroy(&p); /* already NULL */
}

static void test_schema_dir(void)
{
    CU_ASSERT_STRING_EQUAL(xb_schema_dir(), XB_SOURCE_DIR "/schemas");
    setenv("XMLBUS_SCHEMA_DIR", "/nonexistent/xmlbus-schemas", 1);
    CU_ASSERT_STRING_EQUAL(xb_schema_dir(), "/nonexistent/xmlbus-schemas");
    xb_error_t err;
    xb_error_clear(&err);
    xb_parser_t *p = xb_parser_new(NULL, &err);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_EQUAL(err.code, XB_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/nonexistent/xmlbus-schemas/envelope.xsd"));
    xb_parser_destroy(&p);
    unsetenv("XMLBUS_SCHEMA_DIR");
    CU_ASSERT_STRING_EQUAL(xb_schema_dir(), XB_SOURCE_DIR "/schemas");
}

/* The byte-by-byte definition that xb_xml_text_invalid_at's word-at-a-time
 * scan must agree with: the first byte of an invalid UTF-8 sequence or of a
 * character XML 1.0 does not allow, or len. */
static size_t text_invalid_oracle(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t n = c < 0x80                 ? 1
                   : c >= 0xC2 && c <= 0xDF ? 2
                   : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4
                                            : 0;
        if (n == 0 || n > len - i)
            return i;
        uint32_t v = n == 1 ? c : c & (0x7Fu >> n);
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            v = v << 6 | (s[i + k] & 0x3F);
        }
        if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10FFFF ||
            (v >= 0xD800 && v <= 0xDFFF))
            return i;
        if (!(v == 9 || v == 10 || v == 13 || (v >= 0x20 && v <= 0xD7FF) ||
              (v >= 0xE000 && v <= 0xFFFD) || v >= 0x10000))
            return i;
        i += n;
    }
    return len;
}

/* Random texts of printable ASCII with, here and there, control bytes,
 * DEL, multi-byte characters, U+FFFE, a surrogate, stray continuation and
 * lead bytes, at every alignment and length up to 70: the scan and
 * xb_xml_text_ok agree with the oracle on every one. */
static void test_text_scan_matches_oracle(void)
{
    static const char *const pieces[] = {"\x01",
                                         "\x1f",
                                         "\t",
                                         "\n",
                                         "\r",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\xef\xbf\xbe",
                                         "\xed\xa0\x80",
                                         "\x80",
                                         "\xc0\xaf",
                                         "\xff",
                                         "\xe2\x82",
                                         "\0"};
    unsigned seed = 12345;
    unsigned char buf[96];
    int disagree = 0;
    for (int round = 0; round < 200000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t off = (seed >> 16) % 8, len = 0, want = (seed >> 8) % 71;
        while (len < want) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = (seed >> 16) % 100;
            if (r < 90) {
                buf[off + len++] = (unsigned char)(0x20 + (seed >> 4) % 0x5F);
                continue;
            }
            const char *p = pieces[(seed >> 8) % (sizeof pieces / sizeof *pieces)];
            size_t n = p[0] ? strlen(p) : 1;
            for (size_t k = 0; k < n && len < want; k++)
                buf[off + len++] = (unsigned char)p[k];
        }
        long cp;
        size_t got = xb_xml_text_invalid_at(buf + off, len, &cp);
        size_t exp = text_invalid_oracle(buf + off, len);
        bool ok = xb_xml_text_ok((const char *)buf + off, len);
        disagree += got != exp || ok != (exp == len);
    }
    CU_ASSERT_EQUAL(disagree, 0);
}

static void test_text_helpers(void)
{
    CU_ASSERT_TRUE(xb_xml_text_ok("caf\xC3\xA9 \xF0\x9F\x98\x80\t\n\r", 13));
    CU_ASSERT_FALSE(xb_xml_text_ok("a\x01", 2));
    CU_ASSERT_FALSE(xb_xml_text_ok("a\0b", 3));
    CU_ASSERT_FALSE(xb_xml_text_ok("\xEF\xBF\xBE", 3)); /* U+FFFE */
    CU_ASSERT_FALSE(xb_xml_text_ok("\xC3", 1));
    char *s = xb_xml_text_sanitize("ok\xFF\x02\xC3\xA9");
    CU_ASSERT_STRING_EQUAL(s, "ok\xEF\xBF\xBD\xEF\xBF\xBD\xC3\xA9");
    free(s);
    s = xb_xml_text_sanitize(NULL);
    CU_ASSERT_STRING_EQUAL(s, "");
    free(s);
}

/* xb_xml_scan (no tree) gives xb_xml_read's verdict on every document:
 * hand-made cases and every file of the envelope corpora; where both
 * accept, the same root tag, and "alone" exactly when nothing but a
 * prolog and white space surrounds the root. */
static void scan_agrees(const char *bytes, size_t len, const char *what)
{
    static xmlParserCtxtPtr ctxt;
    if (!ctxt)
        ctxt = xb_xml_ctxt_new();
    xb_parse_limits_t l;
    xb_parse_limits_defaults(&l);
    l.max_depth = 64;
    xb_error_t e1, e2;
    xb_error_clear(&e1);
    xb_error_clear(&e2);
    xmlDocPtr doc = xb_xml_read(ctxt, bytes, len, &l, &e1);
    char tag[512], want[512] = "";
    bool alone = false;
    int rc = xb_xml_scan(ctxt, bytes, len, &l, tag, sizeof tag, &alone, &e2);
    if ((doc != NULL) != (rc == 0))
        fprintf(stderr, "scan disagrees on %s: read %s (%s), scan %d (%s)\n", what,
                doc ? "ok" : "refused", e1.message, rc, e2.message);
    CU_ASSERT_EQUAL(doc != NULL, rc == 0);
    if (doc && rc == 0) {
        xmlNodePtr root = xmlDocGetRootElement(doc);
        xb_payload_tag_of(root, want, sizeof want);
        CU_ASSERT_STRING_EQUAL(tag, want);
        CU_ASSERT_EQUAL(alone, !root->prev && !root->next);
    }
    if (!doc && rc != 0)
        CU_ASSERT_EQUAL(e1.code, e2.code);
    xmlFreeDoc(doc);
}

static void scan_dir(const char *dir)
{
    DIR *d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *fp = fopen(path, "rb");
        if (!fp)
            continue;
        static char buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        scan_agrees(buf, len, path);
        n++;
    }
    closedir(d);
    CU_ASSERT(n > 10);
}

static void test_scan_agrees_with_read(void)
{
    static const char *const cases[] = {
        "<a/>",
        "<a>x</a>",
        "  <a/>  ",
        "<?xml version=\"1.0\"?><a/>",
        "\xEF\xBB\xBF<a/>",
        "<!-- c --><a/>",
        "<a/><!-- c -->",
        "<?pi x?><a/>",
        "<p:a xmlns:p=\"urn:x\"/>",
        "<a xmlns=\"urn:y\"><b/></a>",
        "<p:a/>",
        "<a><b></a>",
        "<a/><b/>",
        "",
        "text",
        "<!DOCTYPE a><a/>",
        "<a>&ent;</a>",
        "<a b='1' b='2'/>",
        "<a>\x01</a>",
        "<a xmlns:p=\"\"/>",
        "<e:message xmlns:e=\"" XB_ENVELOPE_NS "\"/>",
        "<a xmlns=\"*x\"/>",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        scan_agrees(cases[i], strlen(cases[i]), cases[i]);
    char deep[2000] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "<d>");
    for (int i = 0; i < 70; i++)
        strcat(deep, "</d>");
    scan_agrees(deep, strlen(deep), "70 deep");
    scan_dir(XB_SOURCE_DIR "/tests/fuzz/corpus/envelope");
    scan_dir(XB_SOURCE_DIR "/tests/data/envelope");
}

static const xbt_test_t envelope_tests[] = {
    {"xb_xml_scan: the verdicts of xb_xml_read without a tree", test_scan_agrees_with_read},
    {"valid envelope: fields read right", test_valid_fields},
    {"trusted parser skips envelope.xsd only", test_trusted_parser_skips_xsd_only},
    {"minimal envelope: optional fields absent", test_minimal_has_no_optional_fields},
    {"prefixed namespace equals default namespace", test_prefixed_equals_default},
    {"namespaced payload: type and standalone bytes", test_namespaced_payload_type_and_standalone},
    {"malformed XML: parse with line", test_malformed_is_parse_with_line},
    {"missing meta/from/thread: envelope", test_missing_parts_are_envelope},
    {"zero or two payloads: envelope", test_payload_count_is_envelope},
    {"bad xmlbus meta: envelope", test_bad_xmlbus_meta_is_envelope},
    {"DOCTYPE, XXE, billion laughs: parse", test_dtd_attacks_are_refused},
    {"entity loader refuses hardened contexts", test_entity_loader_refuses_hardened_contexts},
    {"oversize: limit", test_oversize_is_limit},
    {"too deep: limit", test_too_deep_is_limit},
    {"attribute and namespace floods: limit", test_attribute_and_namespace_floods_are_limit},
    {"custom limits: exact boundaries", test_custom_limits},
    {"invalid UTF-8 and foreign encodings: parse", test_invalid_utf8_is_parse},
    {"NUL and other characters XML does not allow: parse", test_disallowed_characters_are_parse},
    {"pre-scan accepts tricky well-formed XML", test_prescan_accepts_tricky_wellformed},
    {"libxml2 errors never reach stderr", test_errors_never_reach_stderr},
    {"thread kept when canonical", test_thread_kept_when_canonical},
    {"thread replaced and reported otherwise", test_thread_replaced_when_not_canonical},
    {"uuid helpers", test_uuid},
    {"build -> serialize -> parse round trip", test_build_serialize_parse_round_trip},
    {"payload text cannot inject markup", test_payload_text_cannot_inject_markup},
    {"build keeps namespaces right", test_build_namespaces},
    {"build refuses bad input", test_build_refuses_bad_input},
    {"build_bytes depth leaves room for the envelope",
     test_build_bytes_depth_leaves_room_for_envelope},
    {"setters", test_setters},
    {"setters on a prefixed envelope", test_setters_on_prefixed_envelope},
    {"extension elements survive", test_extensions_survive},
    {"SystemError builds and parses", test_system_error},
    {"parser reuse: 1000 mixed messages", test_parser_reuse_1000},
    {"parser survives name churn", test_parser_survives_name_churn},
    {"envelope outlives its parser", test_envelope_outlives_parser},
    {"schema dir", test_schema_dir},
    {"text helpers", test_text_helpers},
    {"text scan matches its byte-by-byte definition", test_text_scan_matches_oracle},
    {NULL, NULL},
};

static int envelope_init(void)
{
    xb_xml_init();
    unsetenv("XMLBUS_SCHEMA_DIR");
    xb_error_t err;
    xb_error_clear(&err);
    P = xb_parser_new(NULL, &err);
    if (!P)
        fprintf(stderr, "cannot make a parser: %s\n", err.message);
    return P ? 0 : -1;
}

static int envelope_clean(void)
{
    xb_parser_destroy(&P);
    return 0;
}

XBT_SUITES({"envelope", envelope_init, envelope_clean, NULL, NULL, envelope_tests});
