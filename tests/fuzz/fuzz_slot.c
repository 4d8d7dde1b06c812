/* Fuzz target: the slot decoder (bus/slot.c, XBS1 of
 * docs/slot-encoding.md) and the slot's XML view.
 * Promises checked: decoding never reads outside the input (the sanitizers
 * watch), the encoding is canonical (a decoded slot encodes to the same
 * bytes), and the XML view of any decoded slot either fails cleanly or is
 * one well-formed element. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "xmlbus/slot.h"

static void check_xml_view(const xb_slot_t *s)
{
    char *xml = NULL;
    size_t len = 0;
    xb_error_t err;
    if (xb_slot_to_xml(s, &xml, &len, &err) != 0) {
        XB_FUZZ_CHECK(xml == NULL && err.message[0]);
        return;
    }
    XB_FUZZ_CHECK(xml && strlen(xml) == len);
    xmlParserCtxtPtr ctxt = xb_xml_ctxt_new();
    XB_FUZZ_CHECK(ctxt != NULL);
    xb_parse_limits_t limits;
    xb_parse_limits_defaults(&limits);
    limits.max_bytes = len > limits.max_bytes ? len : limits.max_bytes;
    xmlDocPtr doc = xb_xml_read(ctxt, xml, len, &limits, &err);
    if (!doc)
        fprintf(stderr, "slot XML does not parse: %s\n%s\n", err.message, xml);
    XB_FUZZ_CHECK(doc != NULL);
    xmlFreeDoc(doc);
    xb_xml_ctxt_free(&ctxt);
    free(xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        xb_fuzz_xml_setup();
        ready = 1;
    }
    xb_error_t err;
    xb_slot_t *s = xb_slot_decode(data, size, 7, &err);
    if (!s) {
        XB_FUZZ_CHECK(err.message[0]);
        return 0;
    }
    XB_FUZZ_CHECK(xb_slot_index(s) == 7 && xb_slot_thread(s)[0]);
    size_t plen = 0;
    const char *payload = xb_slot_payload(s, &plen);
    XB_FUZZ_CHECK(payload && payload[plen] == '\0');
    char *out = NULL;
    size_t len = 0;
    XB_FUZZ_CHECK(xb_slot_encode(s, &out, &len, &err) == 0);
    XB_FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
    free(out);
    check_xml_view(s);
    xb_slot_destroy(&s);
    return 0;
}
