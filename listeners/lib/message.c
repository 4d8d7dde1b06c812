/* The delivered message and the reply a handler fills (include/xmlbus/listener.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_internal.h"
#include "xmlbus/xmlsafe.h"

void xb_msg_init(xb_msg_t *msg, xb_listener_t *l, xb_envelope_t *env, const void *raw,
                 size_t raw_len, xb_msg_scratch_t *scratch)
{
    memset(scratch, 0, sizeof *scratch);
    msg->l = l;
    msg->env = env;
    msg->raw = raw;
    msg->raw_len = raw_len;
    msg->scratch = scratch;
}

void xb_msg_cleanup(xb_msg_t *msg)
{
    xb_msg_scratch_t *s = msg->scratch;
    for (size_t i = 0; i < s->count; i++)
        free(s->items[i]);
    free(s->items);
    free(s->envelope_xml);
    xb_msg_memory_cleanup(msg);
    memset(s, 0, sizeof *s);
}

xmlNodePtr xb_msg_payload(const xb_msg_t *msg)
{
    return msg ? xb_envelope_payload(msg->env) : NULL;
}

const char *xb_msg_payload_type(const xb_msg_t *msg)
{
    return msg ? xb_envelope_payload_type(msg->env) : NULL;
}

/* Keeps s until the handler returns. Returns s, or NULL (s freed) on no memory. */
static char *scratch_keep(const xb_msg_t *msg, char *s)
{
    xb_msg_scratch_t *sc = msg->scratch;
    if (sc->count == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 4;
        char **items = realloc(sc->items, cap * sizeof *items);
        if (!items) {
            free(s);
            return NULL;
        }
        sc->items = items;
        sc->cap = cap;
    }
    sc->items[sc->count++] = s;
    return s;
}

const char *xb_msg_text(const xb_msg_t *msg, const char *child)
{
    if (!msg || !child)
        return NULL;
    xmlNodePtr payload = xb_msg_payload(msg);
    for (xmlNodePtr c = payload ? payload->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, child) != 0)
            continue;
        xmlChar *text = xmlNodeGetContent(c);
        if (!text)
            return scratch_keep(msg, strdup(""));
        /* xmlChar strings come from xmlMalloc, which is malloc here, but
         * copy so that scratch frees only what it allocated. */
        char *copy = strdup((const char *)text);
        xmlFree(text);
        return copy ? scratch_keep(msg, copy) : NULL;
    }
    return NULL;
}

const char *xb_msg_thread(const xb_msg_t *msg)
{
    return msg ? xb_envelope_thread(msg->env) : NULL;
}
const char *xb_msg_from(const xb_msg_t *msg)
{
    return msg ? xb_envelope_from(msg->env) : NULL;
}
const char *xb_msg_to(const xb_msg_t *msg)
{
    return msg ? xb_envelope_to(msg->env) : NULL;
}
const char *xb_msg_self(const xb_msg_t *msg)
{
    return msg ? msg->l->name : NULL;
}
const char *xb_msg_id(const xb_msg_t *msg)
{
    return msg ? xb_envelope_id(msg->env) : NULL;
}
int xb_msg_depth(const xb_msg_t *msg)
{
    return msg ? xb_envelope_depth(msg->env) : 0;
}
int64_t xb_msg_ts(const xb_msg_t *msg)
{
    return msg ? xb_envelope_ts(msg->env) : 0;
}

int xb_msg_redelivered(const xb_msg_t *msg)
{
    if (!msg)
        return 0;
    for (xmlNodePtr n = xb_envelope_extension_first(msg->env); n;
         n = xb_envelope_extension_next(msg->env, n)) {
        if (!n->ns || !xmlStrEqual(n->ns->href, BAD_CAST XB_META_NS) ||
            !xmlStrEqual(n->name, BAD_CAST "redelivered"))
            continue;
        xmlChar *text = xmlNodeGetContent(n);
        long v = text ? strtol((const char *)text, NULL, 10) : 0;
        xmlFree(text);
        return v > 0 && v < 1000000 ? (int)v : 0;
    }
    return 0;
}

bool xb_msg_is_self_call(const xb_msg_t *msg)
{
    const char *from = xb_msg_from(msg);
    return from && strcmp(from, msg->l->name) == 0;
}

bool xb_msg_is_system_error(const xb_msg_t *msg)
{
    const char *from = xb_msg_from(msg);
    const char *type = xb_msg_payload_type(msg);
    return from && type && strcmp(from, XB_SYSTEM_FROM) == 0 &&
           strcmp(type, XB_SYSTEM_ERROR_TYPE) == 0;
}

const char *xb_msg_envelope_xml(const xb_msg_t *msg, size_t *len)
{
    if (len)
        *len = 0;
    if (!msg)
        return NULL;
    xb_msg_scratch_t *s = msg->scratch;
    if (!s->envelope_xml) {
        /* The frame is not NUL-terminated: copy it once, on demand. */
        s->envelope_xml = malloc(msg->raw_len + 1);
        if (!s->envelope_xml)
            return NULL;
        memcpy(s->envelope_xml, msg->raw, msg->raw_len);
        s->envelope_xml[msg->raw_len] = '\0';
    }
    if (len)
        *len = msg->raw_len;
    return s->envelope_xml;
}

/* ---- reply ---------------------------------------------------------------- */

void xb_reply_init(xb_reply_t *reply, const xb_msg_t *msg)
{
    memset(reply, 0, sizeof *reply);
    reply->msg = msg;
}

void xb_reply_cleanup(xb_reply_t *reply)
{
    for (size_t i = 0; i < reply->count; i++) {
        free(reply->items[i].target);
        free(reply->items[i].xml);
    }
    free(reply->items);
    reply->items = NULL;
    reply->count = reply->cap = 0;
}

static int reply_vfail(xb_reply_t *reply, const char *fmt, va_list ap)
{
    if (!reply->failed) {
        reply->failed = true;
        vsnprintf(reply->reason, sizeof reply->reason, fmt, ap);
    }
    return -1;
}

int xb_reply_fail(xb_reply_t *reply, const char *fmt, ...)
{
    if (!reply)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    reply_vfail(reply, fmt ? fmt : "handler failed", ap);
    va_end(ap);
    return -1;
}

size_t xb_reply_count(const xb_reply_t *reply)
{
    return reply ? reply->count - reply->remembered : 0;
}

/* True if node lives in the delivered envelope's document or in one of its
 * working-memory entries. */
static bool in_message(const xb_reply_t *reply, const xmlNode *node)
{
    if (!reply->msg || !node->doc)
        return false;
    return (reply->msg->env && node->doc == xb_envelope_doc(reply->msg->env)) ||
           xb_msg_memory_owns(reply->msg, node->doc);
}

typedef enum { RESPOND, FORWARD, EMIT, REMEMBER } reply_kind_t;

static const char *const kind_names[] = {"respond", "forward", "emit", "remember"};

/* Why target cannot be the target of kind, or NULL when it can. */
static const char *bad_target(reply_kind_t kind, const char *target)
{
    if (kind == FORWARD && (!target || !xb_config_valid_name(target)))
        return "is not a listener name";
    if (kind == REMEMBER && (!target || !xb_wmem_name_valid(target)))
        return "is not a working-memory entry name";
    /* "=" + a name of XB_WMEM_NAME_MAX bytes must fit the protocol's target. */
    if (kind == REMEMBER && strlen(target) + 1 > XB_PROTO_TARGET_MAX)
        return "is too long for a REPLY target";
    return NULL;
}

/* The protocol target of one emitted message (malloc'd; NULL on no memory). */
static char *wire_target(reply_kind_t kind, const char *target)
{
    char *t = NULL;
    switch (kind) {
    case RESPOND:
        return strdup(XB_TARGET_RESPOND);
    case EMIT:
        return strdup(XB_TARGET_BY_TAG);
    case FORWARD:
        return strdup(target);
    case REMEMBER:
        return asprintf(&t, "%c%s", XB_PROTO_REMEMBER, target) < 0 ? NULL : t;
    }
    return NULL;
}

/* Serializes payload and queues it; frees payload unless it belongs to the
 * delivered message. Any problem marks the reply failed. */
static int reply_add(xb_reply_t *reply, reply_kind_t kind, const char *target, xmlNodePtr payload)
{
    if (!reply)
        return -1; /* no reply to own the payload: leave it rather than guess */
    const char *what = kind_names[kind];
    if (!payload || payload->type != XML_ELEMENT_NODE) {
        if (payload && !in_message(reply, payload))
            xb_payload_free(payload);
        return xb_reply_fail(reply, "%s: the payload is not an element", what);
    }
    bool owned = !in_message(reply, payload);
    xb_error_t err;
    char *xml = NULL, *tgt = NULL;
    size_t len = 0;
    const char *bad = reply->failed ? NULL : bad_target(kind, target);
    if (reply->failed) {
        /* The delivery fails anyway: nothing more is queued. */
    } else if (bad) {
        xb_reply_fail(reply, "%s: '%.80s' %s", what, target ? target : "", bad);
    } else if (xb_xml_check_tree(payload, NULL, &err) < 0) {
        xb_reply_fail(reply, "%s: payload <%.80s> cannot be sent: %s", what,
                      (const char *)payload->name, err.message);
    } else if (!(tgt = wire_target(kind, target)) ||
               xb_payload_serialize(payload, &xml, &len) < 0) {
        xb_reply_fail(reply, "%s: out of memory", what);
    } else if (reply->count == reply->cap) {
        size_t cap = reply->cap ? reply->cap * 2 : 4;
        xb_reply_item_t *items = realloc(reply->items, cap * sizeof *items);
        if (!items) {
            xb_reply_fail(reply, "%s: out of memory", what);
        } else {
            reply->items = items;
            reply->cap = cap;
        }
    }
    int rc = -1;
    if (!reply->failed) {
        reply->items[reply->count++] = (xb_reply_item_t){tgt, xml, len};
        reply->remembered += kind == REMEMBER;
        tgt = xml = NULL;
        rc = 0;
    }
    free(tgt);
    free(xml);
    if (owned)
        xb_payload_free(payload);
    return rc;
}

int xb_reply_respond(xb_reply_t *reply, xmlNodePtr payload)
{
    return reply_add(reply, RESPOND, NULL, payload);
}

int xb_reply_forward(xb_reply_t *reply, const char *target, xmlNodePtr payload)
{
    return reply_add(reply, FORWARD, target, payload);
}

int xb_reply_emit(xb_reply_t *reply, xmlNodePtr payload)
{
    return reply_add(reply, EMIT, NULL, payload);
}

int xb_reply_remember(xb_reply_t *reply, const char *name, xmlNodePtr payload)
{
    return reply_add(reply, REMEMBER, name, payload);
}
