/* The text work of the pipeline example's listeners (examples/pipeline/
 * textmill.c) on plain XML: each step's answer for a known input, each
 * answer valid against the example's schemas, and a clean refusal of every
 * missing or malformed input. The whole chain runs on examples/pipeline/
 * document.xml as the pump would run it. */
#include "textmill.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include "xbt_main.h"

#define SCHEMAS XB_SOURCE_DIR "/examples/pipeline/schemas/"

/* The root element of xml, the root of its own document (xb_payload_free). */
static xmlNodePtr parse(const char *xml)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    return xmlDocGetRootElement(doc);
}

/* node as one line of XML (the caller frees). */
static char *xml_of(const xmlNode *node)
{
    char *out = NULL;
    CU_ASSERT_EQUAL_FATAL(xb_payload_serialize(node, &out, NULL), 0);
    return out;
}

/* Asserts that node serializes to want, then frees node. */
static void assert_xml(xmlNodePtr node, const char *want)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(node);
    char *got = xml_of(node);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  got:  %s\n  want: %s\n", got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
    xb_payload_free(node);
}

/* True when node's document satisfies the schema file (of SCHEMAS). */
static bool valid(const xmlNode *node, const char *xsd)
{
    char path[512];
    snprintf(path, sizeof path, "%s%s", SCHEMAS, xsd);
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
    xmlSchemaPtr schema = pc ? xmlSchemaParse(pc) : NULL;
    xmlSchemaValidCtxtPtr vc = schema ? xmlSchemaNewValidCtxt(schema) : NULL;
    bool ok = vc && xmlSchemaValidateDoc(vc, node->doc) == 0;
    xmlSchemaFreeValidCtxt(vc);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pc);
    return ok;
}

/* Asserts that the step refused its input with a reason holding want. */
static void assert_refused(xmlNodePtr out, const char *err, const char *want)
{
    CU_ASSERT_PTR_NULL(out);
    xb_payload_free(out);
    if (!strstr(err, want))
        fprintf(stderr, "\n  reason: %s\n  wanted: %s\n", err, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
}

static void test_tokenize(void)
{
    char err[TEXTMILL_ERR_LEN];
    xmlNodePtr doc = parse(
        "<document><title>T</title><text>\n\n  Hello, World! It's 2 o'clock;"
        "\n'quoted'  DON\xe2\x80\x99T\n \t \nCaf\xc3\xa9 na\xc3\xafve\xe2\x80\x94"
        "end -- ' \n\n\n</text></document>");
    xmlNodePtr tokens = textmill_tokenize(doc, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tokens);
    CU_ASSERT_TRUE(valid(tokens, "tokens.xsd"));
    assert_xml(tokens, "<tokens><paragraph><w>hello</w><w>world</w><w>it's</w><w>2</w>"
                       "<w>o'clock</w><w>quoted</w><w>don't</w></paragraph>"
                       "<paragraph><w>caf\xc3\xa9</w><w>na\xc3\xafve</w><w>end</w></paragraph>"
                       "</tokens>");
    xb_payload_free(doc);

    doc = parse("<document><text>  \n ... \n</text></document>"); /* no title, no word */
    assert_xml(textmill_tokenize(doc, err, sizeof err), "<tokens/>");
    xb_payload_free(doc);

    /* Bytes that are no UTF-8 (a tree built in code, not parsed) separate
     * words; a sequence cut at the end is not read past. */
    doc = xb_payload_new("document");
    xmlNodePtr text = xb_payload_add_child(doc, "text");
    xmlNodeAddContent(text, (const xmlChar *)"ab\xff"
                                             "cd \xc3(x\xe2\x80");
    assert_xml(textmill_tokenize(doc, err, sizeof err),
               "<tokens><paragraph><w>ab</w><w>cd</w><w>x</w></paragraph></tokens>");
    xb_payload_free(doc);
}

static void test_tokenize_refuses(void)
{
    char err[TEXTMILL_ERR_LEN];
    assert_refused(textmill_tokenize(NULL, err, sizeof err), err,
                   "the entry 'document' is missing");
    const struct {
        const char *xml, *reason;
    } bad[] = {
        {"<doc><text>x</text></doc>", "is <doc>, not <document>"},
        {"<document><title>t</title></document>", "has no <text>"},
        {"<document><text>a</text><text>b</text></document>", "holds <text>"},
        {"<document><text>a</text><title>t</title></document>", "holds <title>"},
        {"<document><p>a</p></document>", "holds <p>"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        xmlNodePtr in = parse(bad[i].xml);
        assert_refused(textmill_tokenize(in, err, sizeof err), err, bad[i].reason);
        xb_payload_free(in);
    }
}

static const char *TOKENS = "<tokens><paragraph><w>b</w><w>the</w><w>a</w><w>b</w><w>the</w>"
                            "<w>zebra</w></paragraph><paragraph/><paragraph><w>the</w><w>c</w>"
                            "<w>c</w><w>d</w><w>e</w><w>f</w><w>g</w><w>h</w><w>i</w><w>j</w>"
                            "<w>k</w><w>12</w><w>zebra</w></paragraph></tokens>";

static void test_count_words(void)
{
    char err[TEXTMILL_ERR_LEN];
    xmlNodePtr tokens = parse(TOKENS);
    assert_xml(textmill_count_words(tokens, err, sizeof err),
               "<word_counts words=\"19\" distinct=\"14\"><word n=\"3\">the</word>"
               "<word n=\"2\">b</word><word n=\"2\">c</word><word n=\"2\">zebra</word>"
               "<word n=\"1\">12</word><word n=\"1\">a</word><word n=\"1\">d</word>"
               "<word n=\"1\">e</word><word n=\"1\">f</word><word n=\"1\">g</word>"
               "</word_counts>");
    xb_payload_free(tokens);
    tokens = parse("<tokens/>");
    assert_xml(textmill_count_words(tokens, err, sizeof err),
               "<word_counts words=\"0\" distinct=\"0\"/>");
    xb_payload_free(tokens);
}

static void test_keywords(void)
{
    char err[TEXTMILL_ERR_LEN];
    xmlNodePtr tokens = parse(TOKENS);
    /* "the" and "a" are stopwords, "12" no word; ties alphabetical. */
    assert_xml(textmill_keywords(tokens, err, sizeof err),
               "<keywords><keyword>b</keyword><keyword>c</keyword><keyword>zebra</keyword>"
               "<keyword>d</keyword><keyword>e</keyword></keywords>");
    xb_payload_free(tokens);
    CU_ASSERT_TRUE(textmill_stopword("a"));
    CU_ASSERT_TRUE(textmill_stopword("yours"));
    CU_ASSERT_TRUE(textmill_stopword("don't"));
    CU_ASSERT_FALSE(textmill_stopword("bicycle"));
    CU_ASSERT_FALSE(textmill_stopword(""));
}

/* count_words and keywords read tokens alike and refuse alike. */
static void test_tokens_refused(void)
{
    xmlNodePtr (*const steps[])(const xmlNode *, char *, size_t) = {textmill_count_words,
                                                                    textmill_keywords};
    const struct {
        const char *xml, *reason;
    } bad[] = {
        {"<words/>", "the entry 'tokens' is <words>, not <tokens>"},
        {"<tokens><w>a</w></tokens>", "<tokens> holds <w>, not only <paragraph>"},
        {"<tokens><paragraph><w>a</w><b>x</b></paragraph></tokens>", "holds <b>, not only <w>"},
    };
    char err[TEXTMILL_ERR_LEN];
    for (size_t s = 0; s < 2; s++) {
        assert_refused(steps[s](NULL, err, sizeof err), err, "the entry 'tokens' is missing");
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            xmlNodePtr in = parse(bad[i].xml);
            assert_refused(steps[s](in, err, sizeof err), err, bad[i].reason);
            xb_payload_free(in);
        }
    }
}

static void test_summarize_paragraph(void)
{
    char err[TEXTMILL_ERR_LEN];
    xmlNodePtr in = parse("<summarize-paragraph><paragraph><w>1</w><w>2</w><w>3</w><w>4</w>"
                          "<w>5</w><w>6</w><w>7</w><w>8</w><w>9</w><w>10</w><w>11</w><w>12</w>"
                          "<w>13</w></paragraph></summarize-paragraph>");
    assert_xml(textmill_summarize_paragraph(in, err, sizeof err),
               "<paragraph-summary words=\"13\">1 2 3 4 5 6 7 8 9 10 11 12\xe2\x80\xa6"
               "</paragraph-summary>");
    xb_payload_free(in);
    in = parse("<summarize-paragraph>\n <paragraph><w>short</w> <w>one</w></paragraph>\n"
               "</summarize-paragraph>");
    assert_xml(textmill_summarize_paragraph(in, err, sizeof err),
               "<paragraph-summary words=\"2\">short one</paragraph-summary>");
    xb_payload_free(in);

    const struct {
        const char *xml, *reason;
    } bad[] = {
        {"<summarize-paragraph/>", "the item is missing"},
        {"<summarize-paragraph><p/></summarize-paragraph>", "the item is <p>, not <paragraph>"},
        {"<summarize-paragraph><paragraph/><paragraph/></summarize-paragraph>",
         "more than one element"},
        {"<summarize><paragraph/></summarize>", "the payload is <summarize>"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        in = parse(bad[i].xml);
        assert_refused(textmill_summarize_paragraph(in, err, sizeof err), err, bad[i].reason);
        xb_payload_free(in);
    }
    assert_refused(textmill_summarize_paragraph(NULL, err, sizeof err), err,
                   "the payload is missing");
}

static void test_summarize(void)
{
    char err[TEXTMILL_ERR_LEN];
    xmlNodePtr doc = parse(
        "<document><title>\n  A  long\n title </title><text>x</text></document>");
    xmlNodePtr counts = parse("<word_counts words=\"7\" distinct=\"3\"/>");
    xmlNodePtr keywords = parse(
        "<keywords><keyword>kiwi</keyword><keyword>fig</keyword></keywords>");
    xmlNodePtr sums = parse("<paragraph_summaries><paragraph-summary words=\"4\">a b c d"
                            "</paragraph-summary><paragraph-summary words=\"3\">e f g"
                            "</paragraph-summary></paragraph_summaries>");
    xmlNodePtr out = textmill_summarize(doc, counts, keywords, sums, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_TRUE(valid(out, "summary.xsd"));
    assert_xml(out, "<summary><text>A long title: 2 paragraphs, 7 words. (1) a b c d (2) e f g"
                    "</text><keyword>kiwi</keyword><keyword>fig</keyword></summary>");

    xmlNodePtr untitled = parse("<document><text>x</text></document>");
    xmlNodePtr one = parse("<word_counts words=\"1\"/>");
    xmlNodePtr none = parse("<keywords/>");
    xmlNodePtr single = parse("<paragraph_summaries><paragraph-summary words=\"1\">x"
                              "</paragraph-summary></paragraph_summaries>");
    assert_xml(textmill_summarize(untitled, one, none, single, err, sizeof err),
               "<summary><text>Untitled: 1 paragraph, 1 word. (1) x</text></summary>");

    const struct {
        const xmlNode *doc, *counts, *keywords, *sums;
        const char *reason;
    } bad[] = {
        {NULL, counts, keywords, sums, "the entry 'document' is missing"},
        {doc, NULL, keywords, sums, "the entry 'word_counts' is missing"},
        {doc, counts, NULL, sums, "the entry 'keywords' is missing"},
        {doc, counts, keywords, NULL, "the entry 'paragraph_summaries' is missing"},
        {doc, none, keywords, sums, "the entry 'word_counts' is <keywords>"},
        {doc, counts, sums, sums, "the entry 'keywords' is <paragraph_summaries>"},
        {doc, counts, keywords, keywords, "the entry 'paragraph_summaries' is <keywords>"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(textmill_summarize(bad[i].doc, bad[i].counts, bad[i].keywords, bad[i].sums,
                                          err, sizeof err),
                       err, bad[i].reason);
    const char *bad_counts[] = {"<word_counts/>", "<word_counts words=\"-1\"/>",
                                "<word_counts words=\"7x\"/>", "<word_counts words=\"\"/>"};
    for (size_t i = 0; i < sizeof bad_counts / sizeof bad_counts[0]; i++) {
        xmlNodePtr c = parse(bad_counts[i]);
        assert_refused(textmill_summarize(doc, c, keywords, sums, err, sizeof err), err,
                       "no decimal words=");
        xb_payload_free(c);
    }
    xmlNodePtr mixed = parse("<keywords><keyword>a</keyword><word>b</word></keywords>");
    assert_refused(textmill_summarize(doc, counts, mixed, sums, err, sizeof err), err,
                   "<keywords> holds <word>, not only <keyword>");
    xb_payload_free(mixed);
    xmlNodePtr things[] = {doc, counts, keywords, sums, untitled, one, none, single};
    for (size_t i = 0; i < sizeof things / sizeof things[0]; i++)
        xb_payload_free(things[i]);
}

/* The pipeline as the pump runs it, on the example's document: every entry
 * valid, the summary with five keywords. */
static void test_document_xml(void)
{
    xmlDocPtr file = xmlReadFile(XB_SOURCE_DIR "/examples/pipeline/document.xml", NULL,
                                 XML_PARSE_NONET);
    CU_ASSERT_PTR_NOT_NULL_FATAL(file);
    xmlNodePtr doc = xb_payload_copy(xmlDocGetRootElement(file));
    xmlFreeDoc(file);
    CU_ASSERT_TRUE(valid(doc, "document.xsd"));
    char err[TEXTMILL_ERR_LEN] = "";
    xmlNodePtr tokens = textmill_tokenize(doc, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tokens);
    CU_ASSERT_TRUE(valid(tokens, "tokens.xsd"));
    xmlNodePtr counts = textmill_count_words(tokens, err, sizeof err);
    xmlNodePtr keywords = textmill_keywords(tokens, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(counts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(keywords);
    xmlNodePtr sums = xb_payload_new("paragraph_summaries"); /* the batch's collection */
    size_t paragraphs = 0;
    for (xmlNodePtr p = xmlFirstElementChild(tokens); p; p = xmlNextElementSibling(p)) {
        xmlNodePtr item = xb_payload_new("summarize-paragraph");
        xmlAddChild(item, xmlDocCopyNode(p, item->doc, 1));
        xmlNodePtr s = textmill_summarize_paragraph(item, err, sizeof err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        xmlAddChild(sums, xmlDocCopyNode(s, sums->doc, 1));
        xb_payload_free(s);
        xb_payload_free(item);
        paragraphs++;
    }
    CU_ASSERT_EQUAL(paragraphs, 4);
    xmlNodePtr summary = textmill_summarize(doc, counts, keywords, sums, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(summary);
    CU_ASSERT_TRUE(valid(summary, "summary.xsd"));
    char *text = xml_of(summary);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(text, "<text>The Bicycle Library of Harrow Lane: 4 paragraphs, "));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "<keyword>bicycles</keyword>"));
    CU_ASSERT_EQUAL(xmlChildElementCount(keywords), 5);
    free(text);
    xmlNodePtr all[] = {doc, tokens, counts, keywords, sums, summary};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        xb_payload_free(all[i]);
}

static const xbt_test_t textmill_tests[] = {
    {"tokenize", test_tokenize},
    {"tokenize refuses", test_tokenize_refuses},
    {"count_words", test_count_words},
    {"keywords", test_keywords},
    {"tokens refused", test_tokens_refused},
    {"summarize_paragraph", test_summarize_paragraph},
    {"summarize", test_summarize},
    {"document.xml through the pipeline", test_document_xml},
    {NULL, NULL},
};

XBT_SUITES({"textmill", NULL, NULL, NULL, NULL, textmill_tests});
