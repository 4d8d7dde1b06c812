/* Slots: construction, getters, the XBS1 encoding (byte for byte against
 * docs/slot-encoding.md), hostile input to the decoder, XML rendering. */
#include "xmlbus/slot.h"
#include "xbt_main.h"

#include <CUnit/Basic.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The worked example of docs/slot-encoding.md. */
static const char example_hex[] =
    "58425331000644594162400000000002743100000007636f6e736f6c650000000767726565746572"
    "000000086772656574696e67000000026d310000000b3c6772656574696e672f3e";

static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    CU_ASSERT_FATAL(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        CU_ASSERT_FATAL(sscanf(hex + 2 * i, "%2x", &v) == 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

static xb_slot_t *example_slot(long index)
{
    xb_error_t err;
    xb_slot_t *s = xb_slot_new(index, "t1", "console", "greeter", "greeting", "m1",
                               1764000000000000LL, "<greeting/>", 11, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    return s;
}

static void test_getters(void)
{
    xb_slot_t *s = example_slot(4);
    CU_ASSERT_EQUAL(xb_slot_index(s), 4);
    CU_ASSERT_STRING_EQUAL(xb_slot_thread(s), "t1");
    CU_ASSERT_STRING_EQUAL(xb_slot_from(s), "console");
    CU_ASSERT_STRING_EQUAL(xb_slot_to(s), "greeter");
    CU_ASSERT_STRING_EQUAL(xb_slot_payload_type(s), "greeting");
    CU_ASSERT_STRING_EQUAL(xb_slot_message_id(s), "m1");
    CU_ASSERT_EQUAL(xb_slot_timestamp_us(s), 1764000000000000LL);
    size_t len = 0;
    const char *p = xb_slot_payload(s, &len);
    CU_ASSERT_EQUAL(len, 11);
    CU_ASSERT_STRING_EQUAL(p, "<greeting/>"); /* NUL-terminated */
    xb_slot_destroy(&s);
    CU_ASSERT_PTR_NULL(s);
    xb_slot_destroy(&s);
    xb_slot_destroy(NULL);
}

/* The constructor copies: changing the caller's buffers changes nothing. */
static void test_copies_arguments(void)
{
    char thread[] = "thread", from[] = "from", payload[] = "<p/>";
    xb_error_t err;
    xb_slot_t *s = xb_slot_new(0, thread, from, NULL, NULL, NULL, 5, payload, 4, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    thread[0] = 'X';
    from[0] = 'X';
    payload[1] = 'X';
    CU_ASSERT_STRING_EQUAL(xb_slot_thread(s), "thread");
    CU_ASSERT_STRING_EQUAL(xb_slot_from(s), "from");
    CU_ASSERT_STRING_EQUAL(xb_slot_to(s), "");
    CU_ASSERT_STRING_EQUAL(xb_slot_payload_type(s), "");
    CU_ASSERT_STRING_EQUAL(xb_slot_message_id(s), "");
    CU_ASSERT_STRING_EQUAL(xb_slot_payload(s, NULL), "<p/>");
    xb_slot_t *c = xb_slot_copy(s, &err);
    xb_slot_destroy(&s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(xb_slot_thread(c), "thread");
    CU_ASSERT_STRING_EQUAL(xb_slot_payload(c, NULL), "<p/>");
    CU_ASSERT_EQUAL(xb_slot_timestamp_us(c), 5);
    xb_slot_destroy(&c);
}

static void test_bad_arguments(void)
{
    xb_error_t err;
    CU_ASSERT_PTR_NULL(xb_slot_new(0, NULL, "a", "b", "c", "d", 0, "x", 1, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NULL(xb_slot_new(0, "", "a", "b", "c", "d", 0, "x", 1, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NULL(xb_slot_new(-1, "t", "a", "b", "c", "d", 0, "x", 1, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NULL(xb_slot_new(0, "t", "a", "b", "c", "d", 0, NULL, 3, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    char *out = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(xb_slot_encode(NULL, &out, &len, &err), -1);
    CU_ASSERT_EQUAL(xb_slot_encode_fields(NULL, &out, &len, &err), -1);
    CU_ASSERT_EQUAL(xb_slot_to_xml(NULL, &out, &len, &err), -1);
    CU_ASSERT_PTR_NULL(out);
}

/* The documented worked example, byte for byte, both ways. */
static void test_encoding_matches_docs(void)
{
    unsigned char want[128];
    size_t want_len = unhex(example_hex, want, sizeof want);
    CU_ASSERT_EQUAL(want_len, 73);
    xb_slot_t *s = example_slot(0);
    xb_error_t err;
    char *enc = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(xb_slot_encode(s, &enc, &len, &err), 0);
    CU_ASSERT_EQUAL(len, want_len);
    CU_ASSERT_EQUAL(memcmp(enc, want, want_len), 0);
    free(enc);
    /* Same bytes straight from the fields. */
    xb_slot_fields_t f = {"t1", "console",          "greeter",     "greeting",
                          "m1", 1764000000000000LL, "<greeting/>", 11};
    CU_ASSERT_EQUAL_FATAL(xb_slot_encode_fields(&f, &enc, &len, &err), 0);
    CU_ASSERT_EQUAL(len, want_len);
    CU_ASSERT_EQUAL(memcmp(enc, want, want_len), 0);
    free(enc);
    xb_slot_destroy(&s);

    xb_slot_t *d = xb_slot_decode(want, want_len, 7, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(xb_slot_index(d), 7);
    CU_ASSERT_STRING_EQUAL(xb_slot_thread(d), "t1");
    CU_ASSERT_STRING_EQUAL(xb_slot_from(d), "console");
    CU_ASSERT_STRING_EQUAL(xb_slot_to(d), "greeter");
    CU_ASSERT_STRING_EQUAL(xb_slot_payload_type(d), "greeting");
    CU_ASSERT_STRING_EQUAL(xb_slot_message_id(d), "m1");
    CU_ASSERT_EQUAL(xb_slot_timestamp_us(d), 1764000000000000LL);
    CU_ASSERT_STRING_EQUAL(xb_slot_payload(d, NULL), "<greeting/>");
    xb_slot_destroy(&d);
}

static void assert_same(const xb_slot_t *a, const xb_slot_t *b)
{
    CU_ASSERT_STRING_EQUAL(xb_slot_thread(a), xb_slot_thread(b));
    CU_ASSERT_STRING_EQUAL(xb_slot_from(a), xb_slot_from(b));
    CU_ASSERT_STRING_EQUAL(xb_slot_to(a), xb_slot_to(b));
    CU_ASSERT_STRING_EQUAL(xb_slot_payload_type(a), xb_slot_payload_type(b));
    CU_ASSERT_STRING_EQUAL(xb_slot_message_id(a), xb_slot_message_id(b));
    CU_ASSERT_EQUAL(xb_slot_timestamp_us(a), xb_slot_timestamp_us(b));
    size_t la, lb;
    const char *pa = xb_slot_payload(a, &la), *pb = xb_slot_payload(b, &lb);
    CU_ASSERT_EQUAL(la, lb);
    CU_ASSERT_TRUE(la == lb && memcmp(pa, pb, la) == 0);
}

static void roundtrip(const xb_slot_t *s)
{
    xb_error_t err;
    char *enc = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(xb_slot_encode(s, &enc, &len, &err), 0);
    xb_slot_t *d = xb_slot_decode(enc, len, 3, &err);
    free(enc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(xb_slot_index(d), 3);
    assert_same(s, d);
    xb_slot_destroy(&d);
}

static void test_roundtrip_binary_unicode(void)
{
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(255 - i);
    bin[0] = bin[150] = bin[299] = 0;
    xb_error_t err;
    xb_slot_t *s = xb_slot_new(0, "6a1f0c2e-1b2c-4d5e-8f90-0123456789ab", "grüßer", "世界",
                               "{urn:x}résumé", "id-\xF0\x9F\x98\x80", -123456789012LL, bin,
                               sizeof bin, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    roundtrip(s);
    xb_slot_destroy(&s);
    /* Extremes of the timestamp and an empty payload and to. */
    int64_t ts[] = {INT64_MIN, INT64_MAX, 0, -1};
    for (size_t i = 0; i < 4; i++) {
        s = xb_slot_new(0, "t", "f", "", "ty", "", ts[i], NULL, 0, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        roundtrip(s);
        xb_slot_destroy(&s);
    }
    /* A big payload. */
    size_t big_len = 2 * 1024 * 1024;
    char *big = malloc(big_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 31);
    s = xb_slot_new(0, "t", "f", "to", "ty", "id", 1, big, big_len, &err);
    free(big);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    roundtrip(s);
    xb_slot_destroy(&s);
}

/* Every truncation of a valid encoding is refused, never read past. */
static void test_every_truncation(void)
{
    xb_error_t err;
    unsigned char bin[40];
    memset(bin, 0, sizeof bin);
    xb_slot_t *s = xb_slot_new(0, "thread", "from", "to", "type", "id", 42, bin, sizeof bin, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    char *enc = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(xb_slot_encode(s, &enc, &len, &err), 0);
    xb_slot_destroy(&s);
    int accepted = 0, wrong_code = 0;
    for (size_t n = 0; n < len; n++) {
        /* An exact-size copy so that the sanitizer sees any overread. */
        char *cut = malloc(n ? n : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cut);
        memcpy(cut, enc, n);
        err.code = XB_OK;
        xb_slot_t *d = xb_slot_decode(cut, n, 0, &err);
        accepted += d != NULL;
        wrong_code += err.code != XB_ERR_BACKEND;
        xb_slot_destroy(&d);
        free(cut);
    }
    CU_ASSERT_EQUAL(accepted, 0);
    CU_ASSERT_EQUAL(wrong_code, 0);
    CU_ASSERT_PTR_NULL(xb_slot_decode(NULL, 10, 0, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    /* One byte too many is corrupt as well. */
    char *longer = malloc(len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
    memcpy(longer, enc, len);
    longer[len] = 'x';
    CU_ASSERT_PTR_NULL(xb_slot_decode(longer, len + 1, 0, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "corrupt slot"));
    free(longer);
    free(enc);
}

/* Every byte overwritten with 0x00, 0x7f and 0xff: either refused or a slot,
 * never a crash or an overread (the sanitizer build checks the latter). */
static void test_every_corruption(void)
{
    xb_error_t err;
    xb_slot_t *s = example_slot(0);
    char *enc = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(xb_slot_encode(s, &enc, &len, &err), 0);
    xb_slot_destroy(&s);
    const unsigned char values[] = {0x00, 0x7f, 0xff};
    int refused = 0, accepted = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t v = 0; v < sizeof values; v++) {
            char *bad = malloc(len);
            CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
            memcpy(bad, enc, len);
            bad[i] = (char)values[v];
            xb_slot_t *d = xb_slot_decode(bad, len, 0, &err);
            if (d)
                accepted++;
            else
                refused += err.code == XB_ERR_BACKEND;
            xb_slot_destroy(&d);
            free(bad);
        }
    }
    CU_ASSERT_EQUAL(refused + accepted, (int)(len * sizeof values));
    CU_ASSERT_TRUE(refused > 0);
    free(enc);
}

static void test_corrupt_cases(void)
{
    unsigned char buf[128];
    size_t n = unhex(example_hex, buf, sizeof buf);
    xb_error_t err;
    buf[0] = 'Y'; /* magic */
    CU_ASSERT_PTR_NULL(xb_slot_decode(buf, n, 0, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    n = unhex(example_hex, buf, sizeof buf);
    buf[17] = 0; /* a NUL inside the thread "t1" */
    CU_ASSERT_PTR_NULL(xb_slot_decode(buf, n, 0, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    n = unhex(example_hex, buf, sizeof buf);
    buf[12] = 0xff; /* thread length 4 GiB */
    CU_ASSERT_PTR_NULL(xb_slot_decode(buf, n, 0, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    /* An empty thread. */
    xb_slot_fields_t f = {"t", "", "", "", "", 0, "", 0};
    char *enc = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(xb_slot_encode_fields(&f, &enc, &len, &err), 0);
    CU_ASSERT_EQUAL(len, XB_SLOT_HEADER_BYTES + 1);
    unsigned char empty_thread[XB_SLOT_HEADER_BYTES];
    memcpy(empty_thread, enc, 12);
    memset(empty_thread + 12, 0, sizeof empty_thread - 12);
    free(enc);
    CU_ASSERT_PTR_NULL(xb_slot_decode(empty_thread, sizeof empty_thread, 0, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    /* A NUL inside the payload is fine. */
    n = unhex(example_hex, buf, sizeof buf);
    buf[n - 3] = 0;
    xb_slot_t *d = xb_slot_decode(buf, n, 0, &err);
    CU_ASSERT_PTR_NOT_NULL(d);
    xb_slot_destroy(&d);
}

static void test_list_decode(void)
{
    xb_error_t err;
    xb_slot_t *s = example_slot(0);
    char *enc = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(xb_slot_encode(s, &enc, &len, &err), 0);
    xb_slot_destroy(&s);
    xb_blob_t items[3] = {{enc, len}, {enc, len}, {enc, len}};
    xb_blob_list_t blobs = {items, 3};
    xb_slot_list_t list = {0};
    CU_ASSERT_EQUAL_FATAL(xb_slot_list_decode(&blobs, &list, &err), 0);
    CU_ASSERT_EQUAL_FATAL(list.count, 3);
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(xb_slot_index(list.items[i]), (long)i);
    xb_slot_list_free(&list);
    CU_ASSERT_EQUAL(list.count, 0);
    items[1].len = 5; /* corrupt the middle one */
    CU_ASSERT_EQUAL(xb_slot_list_decode(&blobs, &list, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_EQUAL(list.count, 0);
    CU_ASSERT_PTR_NULL(list.items);
    free(enc);
}

/* ---- XML ------------------------------------------------------------------------ */

static xmlDocPtr render(const xb_slot_t *s)
{
    xb_error_t err;
    char *xml = NULL;
    size_t len = 0;
    int rc = xb_slot_to_xml(s, &xml, &len, &err);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0)
        return NULL;
    CU_ASSERT_EQUAL(strlen(xml), len);
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, NULL, XML_PARSE_NONET);
    CU_ASSERT_PTR_NOT_NULL(doc);
    free(xml);
    return doc;
}

static void assert_attr(xmlNodePtr n, const char *name, const char *want)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    CU_ASSERT_STRING_EQUAL(v ? (const char *)v : "(missing)", want);
    xmlFree(v);
}

static void test_xml_element(void)
{
    xb_error_t err;
    const char *payload = "<greeting xmlns=\"\"><name>W&amp;rld &lt;3</name></greeting>";
    xb_slot_t *s = xb_slot_new(2, "6a1f0c2e", "con\"sole", "gr<e>eter", "greeting",
                               "\"/><evil/><x a=\"&amp;", 1764000000000001LL, payload,
                               strlen(payload), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    xmlDocPtr doc = render(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    CU_ASSERT_STRING_EQUAL((const char *)root->name, "slot");
    assert_attr(root, "index", "2");
    assert_attr(root, "thread", "6a1f0c2e");
    assert_attr(root, "from", "con\"sole");
    assert_attr(root, "to", "gr<e>eter");
    assert_attr(root, "type", "greeting");
    assert_attr(root, "ts", "1764000000000001");
    assert_attr(root, "id", "\"/><evil/><x a=\"&amp;");
    /* Exactly one child: the payload element, with its text intact. */
    xmlNodePtr child = xmlFirstElementChild(root);
    CU_ASSERT_PTR_NOT_NULL_FATAL(child);
    CU_ASSERT_PTR_NULL(xmlNextElementSibling(child));
    CU_ASSERT_STRING_EQUAL((const char *)child->name, "greeting");
    xmlChar *text = xmlNodeGetContent(child);
    CU_ASSERT_STRING_EQUAL((const char *)text, "W&rld <3");
    xmlFree(text);
    xmlFreeDoc(doc);
    xb_slot_destroy(&s);
}

static void test_xml_non_xml_payload(void)
{
    xb_error_t err;
    const char *payloads[] = {
        "not xml at all <",
        "<!DOCTYPE x [<!ENTITY e \"boom\">]><x>&e;</x>",
        "<x>&undefined;</x>",
        "<a/><b/>",
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        xb_slot_t *s = xb_slot_new(0, "t", "f", "", "x", "id", 0, payloads[i], strlen(payloads[i]),
                                   &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        xmlDocPtr doc = render(s);
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        xmlNodePtr root = xmlDocGetRootElement(doc);
        assert_attr(root, "encoding", "base64");
        CU_ASSERT_PTR_NULL(xmlFirstElementChild(root));
        xmlFreeDoc(doc);
        xb_slot_destroy(&s);
    }
    /* Binary with zeros: base64 of exactly these bytes. */
    xb_slot_t *s = xb_slot_new(0, "t", "f", "", "x", "id", 0, "\0\1\2\3", 4, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    xmlDocPtr doc = render(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    xmlChar *text = xmlNodeGetContent(xmlDocGetRootElement(doc));
    CU_ASSERT_STRING_EQUAL((const char *)text, "AAECAw==");
    xmlFree(text);
    xmlFreeDoc(doc);
    xb_slot_destroy(&s);
}

static void test_xml_refuses_bad_metadata(void)
{
    xb_error_t err;
    const char *bad[] = {"bad\xff utf8", "ctl\x01char"};
    for (int i = 0; i < 2; i++) {
        xb_slot_t *s = xb_slot_new(0, "t", bad[i], "", "x", "id", 0, "<x/>", 4, &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        char *xml = NULL;
        size_t len = 0;
        CU_ASSERT_EQUAL(xb_slot_to_xml(s, &xml, &len, &err), -1);
        CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
        CU_ASSERT_PTR_NULL(xml);
        xb_slot_destroy(&s);
    }
}

static const xbt_test_t slot_tests[] = {
    {"getters", test_getters},
    {"constructor copies", test_copies_arguments},
    {"bad arguments", test_bad_arguments},
    {"encoding matches the docs", test_encoding_matches_docs},
    {"round trip binary and unicode", test_roundtrip_binary_unicode},
    {"every truncation refused", test_every_truncation},
    {"every byte corrupted", test_every_corruption},
    {"corrupt cases", test_corrupt_cases},
    {"list decode", test_list_decode},
    {NULL, NULL},
};

static const xbt_test_t slot_xml_tests[] = {
    {"element with escaped metadata", test_xml_element},
    {"non-XML payload as base64", test_xml_non_xml_payload},
    {"bad metadata refused", test_xml_refuses_bad_metadata},
    {NULL, NULL},
};

XBT_SUITES({"slot", NULL, NULL, NULL, NULL, slot_tests},
           {"slot xml", NULL, NULL, NULL, NULL, slot_xml_tests});
