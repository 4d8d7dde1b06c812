/* Slots and their XBS1 encoding (see include/xmlbus/slot.h and
 * docs/slot-encoding.md).
 *
 * A slot is one allocation: the struct, then the five strings and the
 * payload, each NUL-terminated, so a copy or a free is one call. */
#include "xmlbus/slot.h"
#include "xmlbus/xmlsafe.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>

struct xb_slot_t {
    long index;
    int64_t timestamp_us;
    const char *thread;
    const char *from;
    const char *to;
    const char *payload_type;
    const char *message_id;
    const char *payload;
    size_t payload_len;
    size_t data_len; /* bytes of data[] */
    char data[];
};

enum { F_THREAD, F_FROM, F_TO, F_TYPE, F_ID, F_PAYLOAD, F_COUNT };

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* ---- construction ------------------------------------------------------------ */

/* Builds a slot from six (pointer, length) parts; the five text parts must
 * hold no NUL byte (checked by the callers). */
static xb_slot_t *slot_build(long index, int64_t ts, const char *const part[F_COUNT],
                             const size_t plen[F_COUNT], xb_error_t *err)
{
    size_t total = 0;
    for (int i = 0; i < F_COUNT; i++) {
        if (plen[i] > SIZE_MAX - total - 1 - sizeof(xb_slot_t)) {
            xb_error_set(err, XB_ERR_LIMIT, 0, "slot: too large");
            return NULL;
        }
        total += plen[i] + 1;
    }
    xb_slot_t *s = malloc(sizeof *s + total);
    if (!s) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "slot: out of memory (%zu bytes)", total);
        return NULL;
    }
    s->index = index;
    s->timestamp_us = ts;
    s->data_len = total;
    const char **dst[F_COUNT] = {&s->thread,       &s->from,       &s->to,
                                 &s->payload_type, &s->message_id, &s->payload};
    char *p = s->data;
    for (int i = 0; i < F_COUNT; i++) {
        if (plen[i])
            memcpy(p, part[i], plen[i]);
        p[plen[i]] = '\0';
        *dst[i] = p;
        p += plen[i] + 1;
    }
    s->payload_len = plen[F_PAYLOAD];
    return s;
}

static int check_fields(long index, const xb_slot_fields_t *f, xb_error_t *err)
{
    if (!f)
        return xb_error_set(err, XB_ERR_ARG, 0, "slot: no fields");
    if (index < 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "slot: negative index %ld", index);
    if (!f->thread || !*f->thread)
        return xb_error_set(err, XB_ERR_ARG, 0, "slot: empty thread");
    if (!f->payload && f->payload_len)
        return xb_error_set(err, XB_ERR_ARG, 0, "slot: NULL payload of %zu bytes", f->payload_len);
    return 0;
}

static void fields_parts(const xb_slot_fields_t *f, const char *part[F_COUNT], size_t plen[F_COUNT])
{
    part[F_THREAD] = f->thread;
    part[F_FROM] = or_empty(f->from);
    part[F_TO] = or_empty(f->to);
    part[F_TYPE] = or_empty(f->payload_type);
    part[F_ID] = or_empty(f->message_id);
    part[F_PAYLOAD] = f->payload ? f->payload : "";
    for (int i = 0; i < F_PAYLOAD; i++)
        plen[i] = strlen(part[i]);
    plen[F_PAYLOAD] = f->payload_len;
}

xb_slot_t *xb_slot_new_fields(long index, const xb_slot_fields_t *f, xb_error_t *err)
{
    if (check_fields(index, f, err) != 0)
        return NULL;
    const char *part[F_COUNT];
    size_t plen[F_COUNT];
    fields_parts(f, part, plen);
    return slot_build(index, f->timestamp_us, part, plen, err);
}

xb_slot_t *xb_slot_new(long index, const char *thread, const char *from, const char *to,
                       const char *payload_type, const char *message_id, int64_t timestamp_us,
                       const void *payload, size_t payload_len, xb_error_t *err)
{
    xb_slot_fields_t f = {thread,     from,         to,      payload_type,
                          message_id, timestamp_us, payload, payload_len};
    return xb_slot_new_fields(index, &f, err);
}

void xb_slot_destroy(xb_slot_t **s)
{
    if (!s || !*s)
        return;
    free(*s);
    *s = NULL;
}

xb_slot_t *xb_slot_copy(const xb_slot_t *s, xb_error_t *err)
{
    if (!s) {
        xb_error_set(err, XB_ERR_ARG, 0, "slot: NULL slot");
        return NULL;
    }
    xb_slot_t *c = malloc(sizeof *c + s->data_len);
    if (!c) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "slot: out of memory");
        return NULL;
    }
    memcpy(c, s, sizeof *c + s->data_len);
    /* Re-point the strings into the copy's own data. */
    c->thread = c->data + (s->thread - s->data);
    c->from = c->data + (s->from - s->data);
    c->to = c->data + (s->to - s->data);
    c->payload_type = c->data + (s->payload_type - s->data);
    c->message_id = c->data + (s->message_id - s->data);
    c->payload = c->data + (s->payload - s->data);
    return c;
}

long xb_slot_index(const xb_slot_t *s)
{
    return s ? s->index : -1;
}
const char *xb_slot_thread(const xb_slot_t *s)
{
    return s ? s->thread : "";
}
const char *xb_slot_from(const xb_slot_t *s)
{
    return s ? s->from : "";
}
const char *xb_slot_to(const xb_slot_t *s)
{
    return s ? s->to : "";
}
const char *xb_slot_payload_type(const xb_slot_t *s)
{
    return s ? s->payload_type : "";
}
const char *xb_slot_message_id(const xb_slot_t *s)
{
    return s ? s->message_id : "";
}
int64_t xb_slot_timestamp_us(const xb_slot_t *s)
{
    return s ? s->timestamp_us : 0;
}

const char *xb_slot_payload(const xb_slot_t *s, size_t *len)
{
    if (len)
        *len = s ? s->payload_len : 0;
    return s ? s->payload : "";
}

/* ---- XBS1 encoding -------------------------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_i64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v; /* two's complement */
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)u;
        u >>= 8;
    }
}

static int64_t get_i64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | p[i];
    /* Back from two's complement without implementation-defined casts. */
    if (u <= (uint64_t)INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(~u) - 1;
}

static int encode_parts(int64_t ts, const char *const part[F_COUNT], const size_t plen[F_COUNT],
                        char **out, size_t *len, xb_error_t *err)
{
    if (!out || !len)
        return xb_error_set(err, XB_ERR_ARG, 0, "slot: NULL output");
    *out = NULL;
    *len = 0;
    size_t total = XB_SLOT_HEADER_BYTES;
    for (int i = 0; i < F_COUNT; i++) {
        if (plen[i] > UINT32_MAX || plen[i] > SIZE_MAX - total)
            return xb_error_set(err, XB_ERR_LIMIT, 0,
                                "slot: a field of %zu bytes does not fit the encoding", plen[i]);
        total += plen[i];
    }
    unsigned char *buf = malloc(total);
    if (!buf)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "slot: out of memory (%zu bytes)", total);
    memcpy(buf, XB_SLOT_MAGIC, 4);
    put_i64(buf + 4, ts);
    unsigned char *p = buf + 12;
    for (int i = 0; i < F_COUNT; i++) {
        put_u32(p, (uint32_t)plen[i]);
        p += 4;
        if (plen[i])
            memcpy(p, part[i], plen[i]);
        p += plen[i];
    }
    *out = (char *)buf;
    *len = total;
    return 0;
}

int xb_slot_encode_fields(const xb_slot_fields_t *f, char **out, size_t *len, xb_error_t *err)
{
    if (check_fields(0, f, err) != 0)
        return -1;
    const char *part[F_COUNT];
    size_t plen[F_COUNT];
    fields_parts(f, part, plen);
    return encode_parts(f->timestamp_us, part, plen, out, len, err);
}

int xb_slot_encode(const xb_slot_t *s, char **out, size_t *len, xb_error_t *err)
{
    if (!s)
        return xb_error_set(err, XB_ERR_ARG, 0, "slot: NULL slot");
    const char *part[F_COUNT] = {s->thread,       s->from,       s->to,
                                 s->payload_type, s->message_id, s->payload};
    size_t plen[F_COUNT];
    for (int i = 0; i < F_PAYLOAD; i++)
        plen[i] = strlen(part[i]);
    plen[F_PAYLOAD] = s->payload_len;
    return encode_parts(s->timestamp_us, part, plen, out, len, err);
}

static const char *const field_names[F_COUNT] = {"thread", "from", "to", "type", "id", "payload"};

xb_slot_t *xb_slot_decode(const void *bytes, size_t len, long index, xb_error_t *err)
{
    const unsigned char *b = bytes;
    if (!b || len < XB_SLOT_HEADER_BYTES) {
        xb_error_set(err, XB_ERR_BACKEND, 0, "corrupt slot: %zu bytes, shorter than the header",
                     b ? len : 0);
        return NULL;
    }
    if (memcmp(b, XB_SLOT_MAGIC, 4) != 0) {
        xb_error_set(err, XB_ERR_BACKEND, 0, "corrupt slot: bad magic (not XBS1)");
        return NULL;
    }
    if (index < 0) {
        xb_error_set(err, XB_ERR_ARG, 0, "slot: negative index %ld", index);
        return NULL;
    }
    int64_t ts = get_i64(b + 4);
    const char *part[F_COUNT];
    size_t plen[F_COUNT];
    size_t pos = 12;
    for (int i = 0; i < F_COUNT; i++) {
        if (len - pos < 4) {
            xb_error_set(err, XB_ERR_BACKEND, 0, "corrupt slot: truncated before field %s",
                         field_names[i]);
            return NULL;
        }
        size_t n = get_u32(b + pos);
        pos += 4;
        if (n > len - pos) {
            xb_error_set(err, XB_ERR_BACKEND, 0,
                         "corrupt slot: field %s claims %zu bytes, %zu left", field_names[i], n,
                         len - pos);
            return NULL;
        }
        part[i] = (const char *)b + pos;
        plen[i] = n;
        if (i != F_PAYLOAD && memchr(part[i], '\0', n)) {
            xb_error_set(err, XB_ERR_BACKEND, 0, "corrupt slot: NUL byte in field %s",
                         field_names[i]);
            return NULL;
        }
        pos += n;
    }
    if (pos != len) {
        xb_error_set(err, XB_ERR_BACKEND, 0, "corrupt slot: %zu trailing bytes", len - pos);
        return NULL;
    }
    if (plen[F_THREAD] == 0) {
        xb_error_set(err, XB_ERR_BACKEND, 0, "corrupt slot: empty thread");
        return NULL;
    }
    xb_slot_t *s = slot_build(index, ts, part, plen, err);
    if (!s)
        return NULL;
    return s;
}

/* ---- lists ------------------------------------------------------------------------ */

void xb_slot_list_free(xb_slot_list_t *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        xb_slot_destroy(&list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

int xb_slot_list_decode(const xb_blob_list_t *blobs, xb_slot_list_t *out, xb_error_t *err)
{
    if (!blobs || !out)
        return xb_error_set(err, XB_ERR_ARG, 0, "slot: NULL list");
    out->items = NULL;
    out->count = 0;
    if (blobs->count == 0)
        return 0;
    out->items = calloc(blobs->count, sizeof *out->items);
    if (!out->items)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "slot: out of memory");
    for (size_t i = 0; i < blobs->count; i++) {
        xb_error_t e;
        out->items[i] = xb_slot_decode(blobs->items[i].data, blobs->items[i].len, (long)i, &e);
        if (!out->items[i]) {
            xb_slot_list_free(out);
            return xb_error_set(err, e.code, 0, "slot %zu: %s", i, e.message);
        }
        out->count++;
    }
    return 0;
}

/* ---- XML rendering ------------------------------------------------------------------- */

/* Attribute values must be XML characters: strict UTF-8 (libxml2's own
 * check lets overlong forms through, which its writer then prints about on
 * stderr), no C0 controls except tab, newline and carriage return. */
static bool xml_safe_text(const char *s)
{
    return xb_xml_text_ok(s, strlen(s));
}

static char *base64(const char *data, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)data;
    char *o = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tbl[v >> 18 & 63];
        *o++ = tbl[v >> 12 & 63];
        *o++ = tbl[v >> 6 & 63];
        *o++ = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tbl[v >> 18 & 63];
        *o++ = tbl[v >> 12 & 63];
        *o++ = i + 1 < len ? tbl[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* Parses the payload as one element with the hardened intake (no DTD, no
 * entity, no network, every libxml2 error captured, never printed), any
 * size a slot may hold. NULL when it is not exactly that. */
static xmlDocPtr parse_payload(const char *payload, size_t len)
{
    if (len == 0 || len > INT_MAX)
        return NULL;
    xb_parse_limits_t limits;
    xb_parse_limits_defaults(&limits);
    if (len > limits.max_bytes)
        limits.max_bytes = len;
    xmlParserCtxtPtr ctxt = xb_xml_ctxt_new();
    xmlDocPtr doc = ctxt ? xb_xml_read(ctxt, payload, len, &limits, NULL) : NULL;
    xb_xml_ctxt_free(&ctxt);
    return doc;
}

static int set_attr(xmlNodePtr node, const char *name, const char *value, xb_error_t *err)
{
    if (!xml_safe_text(value))
        return xb_error_set(err, XB_ERR_ARG, 0, "slot: attribute %s is not valid UTF-8 text", name);
    if (!xmlNewProp(node, (const xmlChar *)name, (const xmlChar *)value))
        return xb_error_set(err, XB_ERR_NOMEM, 0, "slot: out of memory");
    return 0;
}

static int add_payload(xmlDocPtr doc, xmlNodePtr slot, const xb_slot_t *s, xb_error_t *err)
{
    xmlDocPtr pdoc = parse_payload(s->payload, s->payload_len);
    if (pdoc) {
        xmlNodePtr copy = xmlDocCopyNode(xmlDocGetRootElement(pdoc), doc, 1);
        xmlFreeDoc(pdoc);
        if (!copy || !xmlAddChild(slot, copy)) {
            xmlFreeNode(copy);
            return xb_error_set(err, XB_ERR_NOMEM, 0, "slot: out of memory");
        }
        return 0;
    }
    char *b64 = base64(s->payload, s->payload_len);
    if (!b64)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "slot: out of memory");
    int rc = set_attr(slot, "encoding", "base64", err);
    if (rc == 0)
        xmlNodeAddContent(slot, (const xmlChar *)b64);
    free(b64);
    return rc;
}

static int build_slot_node(xmlDocPtr doc, xmlNodePtr node, const xb_slot_t *s, xb_error_t *err)
{
    char num[32];
    snprintf(num, sizeof num, "%ld", s->index);
    if (set_attr(node, "index", num, err) != 0 || set_attr(node, "thread", s->thread, err) != 0 ||
        set_attr(node, "from", s->from, err) != 0 || set_attr(node, "to", s->to, err) != 0 ||
        set_attr(node, "type", s->payload_type, err) != 0)
        return -1;
    snprintf(num, sizeof num, "%" PRId64, s->timestamp_us);
    if (set_attr(node, "ts", num, err) != 0 || set_attr(node, "id", s->message_id, err) != 0)
        return -1;
    return add_payload(doc, node, s, err);
}

int xb_slot_to_xml(const xb_slot_t *s, char **out, size_t *len, xb_error_t *err)
{
    if (!s || !out || !len)
        return xb_error_set(err, XB_ERR_ARG, 0, "slot: NULL argument");
    *out = NULL;
    *len = 0;
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr node = doc ? xmlNewDocNode(doc, NULL, (const xmlChar *)"slot", NULL) : NULL;
    if (!node) {
        xmlFreeDoc(doc);
        return xb_error_set(err, XB_ERR_NOMEM, 0, "slot: out of memory");
    }
    xmlDocSetRootElement(doc, node);
    int rc = build_slot_node(doc, node, s, err);
    xmlBufferPtr buf = rc == 0 ? xmlBufferCreate() : NULL;
    if (rc == 0 && (!buf || xmlNodeDump(buf, doc, node, 0, 0) < 0))
        rc = xb_error_set(err, XB_ERR_NOMEM, 0, "slot: cannot serialise slot %ld", s->index);
    if (rc == 0) {
        size_t n = (size_t)xmlBufferLength(buf);
        *out = malloc(n + 1);
        if (!*out) {
            rc = xb_error_set(err, XB_ERR_NOMEM, 0, "slot: out of memory");
        } else {
            memcpy(*out, xmlBufferContent(buf), n);
            (*out)[n] = '\0';
            *len = n;
        }
    }
    if (buf)
        xmlBufferFree(buf);
    xmlFreeDoc(doc);
    return rc;
}
