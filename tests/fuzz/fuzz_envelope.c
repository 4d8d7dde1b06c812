/* Fuzz target: the hardened XML intake (bus/xmlsafe.c) and the envelope
 * parser and writers (bus/envelope.c, bus/envwrite.c). The input is one
 * document, read as:
 *   - bytes for the pre-scan alone;
 *   - an envelope, by an untrusted and by a trusted parser;
 *   - a payload, by the pump's path (parse, embed, write an envelope around
 *     it) and by xb_envelope_build_bytes.
 * Promises checked: errors start with "line N: " (N = err.line); whatever
 * a parser accepts serializes to bytes that it accepts again (a trusted
 * parser skips envelope.xsd, so what it accepts need not be valid), and a
 * payload that is accepted gives an envelope that parses. Nothing libxml2
 * reports may reach stderr. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envwrite.h"
#include "fuzz.h"
#include "xmlbus/envelope.h"

#define THREAD "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e"

static xb_parser_t *checking, *trusting;

static void setup(void)
{
    if (checking)
        return;
    xb_fuzz_xml_setup();
    xb_error_t err;
    checking = xb_parser_new(NULL, &err);
    trusting = xb_parser_new(NULL, &err);
    if (!checking || !trusting) {
        fprintf(stderr, "fuzz_envelope: no parser: %s\n", err.message);
        abort();
    }
    xb_parser_trust(trusting, true);
}

static void check_error_line(const xb_error_t *err)
{
    int line = -1;
    XB_FUZZ_CHECK(sscanf(err->message, "line %d: ", &line) == 1);
    XB_FUZZ_CHECK(line == err->line);
}

/* What the envelope API promises about an envelope parsed by p (or built
 * and then checked by p): it serializes to bytes that p parses again. */
static void check_envelope(xb_parser_t *p, xb_envelope_t *e)
{
    XB_FUZZ_CHECK(xb_envelope_from(e) && xb_envelope_from(e)[0]);
    XB_FUZZ_CHECK(xb_uuid_is_canonical(xb_envelope_thread(e)));
    XB_FUZZ_CHECK(xb_envelope_payload(e) && xb_envelope_payload_type(e));
    size_t n = 0;
    for (xmlNodePtr x = xb_envelope_extension_first(e); x; x = xb_envelope_extension_next(e, x))
        n++;
    XB_FUZZ_CHECK(n == xb_envelope_extension_count(e));

    char *out = NULL;
    size_t len = 0;
    XB_FUZZ_CHECK(xb_envelope_serialize(e, &out, &len) == 0);
    xb_error_t err;
    xb_envelope_t *again = xb_envelope_parse(p, out, len, &err);
    if (!again)
        fprintf(stderr, "serialized envelope does not parse: %s\n%s\n", err.message, out);
    XB_FUZZ_CHECK(again != NULL);
    XB_FUZZ_CHECK(strcmp(xb_envelope_payload_type(again), xb_envelope_payload_type(e)) == 0);
    xb_envelope_destroy(&again);
    free(out);

    XB_FUZZ_CHECK(xb_envelope_payload_serialize(e, &out, &len) == 0);
    xmlDocPtr doc = xb_parser_read(checking, out, len, &err);
    if (!doc)
        fprintf(stderr, "serialized payload does not parse: %s\n%s\n", err.message, out);
    XB_FUZZ_CHECK(doc != NULL);
    xmlFreeDoc(doc);
    free(out);
}

static void parse_envelope(xb_parser_t *p, const uint8_t *data, size_t size)
{
    xb_error_t err;
    xb_envelope_t *e = xb_envelope_parse(p, data, size, &err);
    if (!e) {
        check_error_line(&err);
        return;
    }
    check_envelope(p, e);
    xb_envelope_destroy(&e);
}

/* The pump's path for a payload (pump/route.c): parse, take its bytes,
 * write an envelope around them; that envelope must parse. */
static void write_around_payload(const uint8_t *data, size_t size)
{
    xb_error_t err;
    xmlDocPtr doc = xb_parser_read(checking, data, size, &err);
    if (!doc)
        return;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    const char *start = NULL;
    char *owned = NULL, *env = NULL;
    size_t n = 0, len = 0;
    bool in_env_ns = root->ns && root->ns->href &&
                     strcmp((const char *)root->ns->href, XB_ENVELOPE_NS) == 0;
    if (!in_env_ns &&
        xb_payload_embeddable(doc, (const char *)data, size, &start, &n, &owned, &err) == 0) {
        xb_envelope_fields_t f = {"fuzz", "target", THREAD, THREAD, 1, 1, 1};
        XB_FUZZ_CHECK(xb_envelope_write(&f, start, n, &env, &len, &err) == 0);
        xb_envelope_t *e = xb_envelope_parse(checking, env, len, &err);
        if (!e)
            fprintf(stderr, "written envelope does not parse: %s\n%s\n", err.message, env);
        XB_FUZZ_CHECK(e != NULL);
        xb_envelope_destroy(&e);
    }
    free(env);
    free(owned);
    xmlFreeDoc(doc);
}

static void build_around_payload(const uint8_t *data, size_t size)
{
    xb_error_t err;
    xb_envelope_t *e = xb_envelope_build_bytes("fuzz", NULL, NULL, data, size, checking, &err);
    if (!e)
        return;
    check_envelope(checking, e);
    xb_envelope_destroy(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    xb_error_t err;
    if (xb_xml_prescan(data, size, NULL, &err) < 0)
        check_error_line(&err);
    parse_envelope(checking, data, size);
    parse_envelope(trusting, data, size);
    write_around_payload(data, size);
    build_around_payload(data, size);
    return 0;
}
