/* The benchmark payload: <echo> with a sequence number and text items,
 * padded to an exact size, and the XSD that validates it. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Items of ~60 characters give the validator one element per 70 bytes,
 * like a record-shaped business payload rather than one big text node. */
#define ITEM_TEXT "The quick brown fox jumps over the lazy dog 0123456789 abcde"

const char bench_echo_xsd[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n"
    "  <xs:element name=\"echo\">\n"
    "    <xs:complexType>\n"
    "      <xs:sequence>\n"
    "        <xs:element name=\"seq\" type=\"xs:unsignedLong\"/>\n"
    "        <xs:element name=\"item\" minOccurs=\"0\" maxOccurs=\"unbounded\">\n"
    "          <xs:simpleType>\n"
    "            <xs:restriction base=\"xs:string\"><xs:maxLength "
    "value=\"4096\"/></xs:restriction>\n"
    "          </xs:simpleType>\n"
    "        </xs:element>\n"
    "      </xs:sequence>\n"
    "      <xs:attribute name=\"kind\" type=\"xs:string\"/>\n"
    "    </xs:complexType>\n"
    "  </xs:element>\n"
    "</xs:schema>\n";

char *bench_payload(size_t size)
{
    static const char head[] = "<echo kind=\"bench\"><seq>1</seq>";
    static const char tail[] = "</echo>";
    static const char open[] = "<item>", close[] = "</item>";
    const size_t item_full = strlen(open) + strlen(ITEM_TEXT) + strlen(close);
    const size_t fixed = strlen(head) + strlen(tail);
    if (size < fixed + strlen(open) + strlen(close) + 1)
        return NULL;
    char *p = malloc(size + 1);
    if (!p)
        return NULL;
    size_t at = 0;
    memcpy(p + at, head, strlen(head));
    at += strlen(head);
    /* Whole items while more than one whole item plus a minimal one fit. */
    while (size - at - strlen(tail) >= item_full + strlen(open) + strlen(close) + 1) {
        at += (size_t)sprintf(p + at, "%s%s%s", open, ITEM_TEXT, close);
    }
    /* The last item takes exactly the bytes that are left. */
    size_t text = size - at - strlen(tail) - strlen(open) - strlen(close);
    memcpy(p + at, open, strlen(open));
    at += strlen(open);
    for (size_t i = 0; i < text; i++)
        p[at++] = ITEM_TEXT[i % strlen(ITEM_TEXT)];
    memcpy(p + at, close, strlen(close));
    at += strlen(close);
    memcpy(p + at, tail, strlen(tail));
    at += strlen(tail);
    p[at] = '\0';
    return p;
}
