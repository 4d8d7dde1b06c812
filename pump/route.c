/* Routing (docs/routing.md): where each message goes, its call chain
 * and thread, validation against the receiver's schema, one slot per
 * delivery, and a SystemError to the sender for every failure.
 *
 * A message comes either from a client (SEND) or from a listener's handler
 * (REPLY). Both end in route_payload(), which resolves the target, and
 * make_delivery(), which does the per-receiver work. */
#include "pump_internal.h"
#include "commit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "xmlbus/chain.h"
#include "envwrite.h"
#include "xmlbus/log.h"
#include "str.h"
#include "xmlbus/uuid.h"
#include "xmlbus/xmlsafe.h"

#define DEFAULT_SENDER "console"
#define SYSTEM_NAME "system"

/* ---- origins and conversations ------------------------------------------------ */

void xb_origin_clear(origin_t *o)
{
    free(o->chain);
    o->chain = NULL;
}

int xb_origin_copy(origin_t *dst, const origin_t *src)
{
    *dst = *src;
    dst->chain = src->chain ? strdup(src->chain) : NULL;
    return src->chain && !dst->chain ? -1 : 0;
}

static conv_t *conv_new(xb_pump_t *p, const char *root)
{
    conv_t *c = calloc(1, sizeof *c);
    if (!c || !(c->root = strdup(root)) || xb_strmap_put(p->convs, root, c) != 0) {
        if (c)
            free(c->root);
        free(c);
        return NULL;
    }
    c->last_ms = p->now_ms;
    return c;
}

/* The conversation is over: every branch has ended. Its registry entries go;
 * its context buffers stay (retention is the backend's business). */
void xb_conv_release(xb_pump_t *p, conv_t *c)
{
    xb_strmap_remove(p->convs, c->root);
    xb_error_t err;
    if (xb_registry_end_conversation(p->registry, c->root, NULL, &err) != 0)
        XB_WARN("pump", "conversation %s: could not remove its registry entries: %s", c->root,
                err.message);
    XB_DEBUG("pump", "conversation %s ended", c->root);
    free(c->root);
    free(c);
}

static void conv_free_cb(const char *key, void *value, void *user)
{
    (void)key;
    (void)user;
    conv_t *c = value;
    free(c->root);
    free(c);
}

void xb_convs_free(xb_pump_t *p)
{
    if (!p->convs)
        return;
    xb_strmap_foreach(p->convs, conv_free_cb, NULL);
    xb_strmap_destroy(&p->convs);
}

/* The thread UUID of a chain (created on first use). */
static int uuid_for(xb_pump_t *p, const char *chain, char out[37], xb_error_t *err)
{
    char *uuid = NULL;
    if (xb_registry_uuid_for(p->registry, chain, &uuid, err) != 0)
        return -1;
    xb_strlcpy(out, uuid, 37);
    free(uuid);
    return 0;
}

/* ---- sending to clients -------------------------------------------------------- */

static void count_error(xb_pump_t *p, const origin_t *o, xb_code_t code)
{
    xb_code_t wire = xb_code_wire(code);
    p->errors[wire]++;
    if (!o->is_client && !o->is_system) {
        lstn_t *l = xb_pump_listener(p, o->name);
        if (l)
            l->errors[wire]++;
    }
}

static void deliver_to_client(xb_pump_t *p, const xb_rid_t *rid, const char *msg_id,
                              const char *bytes, size_t len)
{
    xb_posted_send(p, rid); /* both arrive together: one wake-up */
    xb_frames_t *f = xb_frames_new_cmd(XB_CMD_DELIVER);
    if (!f || xb_frames_add_str(f, msg_id) != 0 || xb_frames_add(f, bytes, len) != 0 ||
        xb_pump_send_to(p, rid, f) != 0) {
        p->undeliverable++;
        XB_WARN("pump", "message %s: the client that should receive it is gone", msg_id);
    } else {
        p->to_clients++;
    }
    xb_frames_destroy(&f);
}

/* Records one slot for a message. Returns 0 or -1 with err. */
static int record(xb_pump_t *p, const char *thread, const char *from, const char *to,
                  const char *type, const char *msg_id, int64_t ts, const char *payload,
                  size_t len, xb_error_t *err)
{
    long index = 0;
    return xb_buffer_append(p->buffer, thread, from, to, type, msg_id, ts, payload, len, &index,
                            err);
}

/* Builds, serializes and records an envelope. On success *out and *out_len hold
 * the envelope bytes (caller frees). */
static int seal(xb_pump_t *p, xb_envelope_t *env, const char *from, const char *to,
                const char *thread, const char *msg_id, int depth, char **out, size_t *out_len,
                xb_error_t *err)
{
    int64_t ts = xb_now_us();
    if (xb_envelope_set_id(env, msg_id, err) != 0 || xb_envelope_set_ts(env, ts, err) != 0 ||
        xb_envelope_set_depth(env, depth, err) != 0 || xb_envelope_serialize(env, out, out_len) != 0)
        return *out = NULL, xb_error_set(err, XB_ERR_LIMIT, 0, "could not serialize the envelope");
    char *payload = NULL;
    size_t plen = 0;
    char type[512];
    if (xb_payload_tag_of(xb_envelope_payload(env), type, sizeof type) != 0 ||
        xb_envelope_payload_serialize(env, &payload, &plen) != 0) {
        free(*out);
        *out = NULL;
        return xb_error_set(err, XB_ERR_LIMIT, 0, "could not serialize the payload");
    }
    int rc = record(p, thread, from, to, type, msg_id, ts, payload, plen, err);
    free(payload);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- SystemErrors ---------------------------------------------------------- */

/* Whether the same message may succeed when sent again unchanged: the
 * failure was about the moment (a slow handler, storage, a full bus, a
 * restart), not about the message. */
static bool retry_allowed(xb_code_t code)
{
    xb_code_t wire = xb_code_wire(code);
    return wire == XB_ERR_TIMEOUT || wire == XB_ERR_BACKEND || wire == XB_ERR_LIMIT ||
           wire == XB_ERR_SHUTDOWN;
}

static delivery_t *delivery_for(xb_pump_t *p, lstn_t *l, conv_t *conv, const char *chain,
                                const char *thread, const origin_t *origin);

/* Counts and logs a SystemError; false when that is all it gets. */
static bool system_error_wanted(xb_pump_t *p, const origin_t *to, xb_code_t code,
                                const char *message)
{
    count_error(p, to, code);
    XB_INFO("pump", "SystemError %s to %s (thread %s): %s", xb_code_name(xb_code_wire(code)),
            to->name, to->thread, message);
    if (to->is_system || to->quiet)
        return false;
    /* listeners are stopping: the log line is all that is left */
    return to->is_client || p->state == PUMP_RUNNING;
}

static void system_error_now(xb_pump_t *p, const origin_t *to, conv_t *conv, xb_code_t code,
                             const char *message);

void xb_route_system_error(xb_pump_t *p, const origin_t *to, conv_t *conv, xb_code_t code,
                           const char *message)
{
    if (system_error_wanted(p, to, code, message))
        system_error_now(p, to, conv, code, message);
}

/* A SystemError recorded alone and sent at once: for failures outside the
 * routing of a message (a timeout, a crash, a slot the turn could not
 * write). */
static void system_error_now(xb_pump_t *p, const origin_t *to, conv_t *conv, xb_code_t code,
                             const char *message)
{
    xb_envelope_t *env = xb_envelope_system_error(to->name, to->thread, code, message,
                                                  retry_allowed(code));
    if (!env) {
        XB_ERROR("pump", "no memory for a SystemError to %s", to->name);
        return;
    }
    xb_error_t err;
    xb_error_clear(&err);
    char msg_id[37];
    xb_uuid_new(msg_id);
    char *bytes = NULL;
    size_t len = 0;
    if (seal(p, env, SYSTEM_NAME, to->name, to->thread, msg_id, 0, &bytes, &len, &err) != 0) {
        XB_ERROR("pump", "SystemError for %s not recorded: %s", to->name, err.message);
        /* Recording failed (backend down): the sender still hears about it. */
        if (!bytes && xb_envelope_serialize(env, &bytes, &len) != 0)
            bytes = NULL;
    }
    xb_envelope_destroy(&env);
    if (!bytes)
        return;
    if (to->is_client) {
        deliver_to_client(p, &to->rid, msg_id, bytes, len);
        free(bytes);
        return;
    }
    lstn_t *l = xb_pump_listener(p, to->name);
    origin_t sys = {.is_system = true};
    xb_strlcpy(sys.name, SYSTEM_NAME, sizeof sys.name);
    delivery_t *d = l ? delivery_for(p, l, conv, to->chain, to->thread, &sys) : NULL;
    if (!d) {
        free(bytes);
        p->undeliverable++;
        return;
    }
    xb_strlcpy(d->msg_id, msg_id, sizeof d->msg_id);
    d->envelope = bytes;
    d->len = len;
    d->is_error = true;
    xb_delivery_submit(p, d);
}

/* ---- deliveries ------------------------------------------------------------ */

static delivery_t *delivery_for(xb_pump_t *p, lstn_t *l, conv_t *conv, const char *chain,
                                const char *thread, const origin_t *origin)
{
    delivery_t *d = xb_delivery_new(p);
    if (!d)
        return NULL;
    d->listener = l->index;
    d->chain = chain ? strdup(chain) : NULL;
    xb_strlcpy(d->thread, thread, sizeof d->thread);
    if ((chain && !d->chain) || xb_origin_copy(&d->origin, origin) != 0) {
        xb_delivery_free(p, d);
        return NULL;
    }
    if (conv) {
        d->conv = conv;
        conv->pending++;
    }
    return d;
}

/* Where one message goes. */
typedef struct {
    lstn_t *listener;         /* NULL when the receiver is the conversation's client */
    char *chain;              /* receiver's chain (owned) */
    char name[XB_NAME_MAX];   /* receiver's hop name */
} target_t;

/* A payload on its way: parsed once (for routing and validation) and kept
 * as the bytes that go into every envelope and slot. */
typedef struct {
    xmlNodePtr node;
    const char *bytes;
    size_t len;
    char tag[512];
} payload_t;

/* Fills pl from a payload document parsed from bytes; *owned (caller
 * frees) is set when the bytes had to be written anew. */
static int payload_of(xmlDocPtr doc, const char *bytes, size_t len, payload_t *pl, char **owned,
                      xb_error_t *err)
{
    pl->node = xmlDocGetRootElement(doc);
    if (xb_payload_tag_of(pl->node, pl->tag, sizeof pl->tag) != 0)
        return xb_error_set(err, XB_ERR_ENVELOPE, 0, "the payload is not an element");
    if (pl->node->ns && pl->node->ns->href &&
        strcmp((const char *)pl->node->ns->href, XB_ENVELOPE_NS) == 0)
        return xb_error_set(err, XB_ERR_ENVELOPE, 0,
                            "a payload may not be in the envelope namespace (an envelope inside an envelope)");
    return xb_payload_embeddable(doc, bytes, len, &pl->bytes, &pl->len, owned, err);
}

void xb_route_staged_free(staged_t *s)
{
    free(s->chain);
    free(s->envelope);
    s->chain = s->envelope = NULL;
}

/* Validates and writes one message to one receiver, and stages it. */
static int make_delivery(xb_pump_t *p, const origin_t *origin, const target_t *t,
                         const payload_t *pl, int depth, batch_t *batch, char msg_id[37],
                         xb_error_t *err)
{
    if (batch->n == MAX_STAGED)
        return xb_error_set(err, XB_ERR_LIMIT, 0, "more than %d messages at once", MAX_STAGED);
    if (t->listener && xb_validator_check(p->validator, t->name, pl->node, err) != 0)
        return -1;
    staged_t *s = &batch->items[batch->n];
    memset(s, 0, sizeof *s);
    if (uuid_for(p, t->chain, s->thread, err) != 0)
        return -1;
    xb_uuid_new(s->msg_id);
    s->ts = xb_now_us();
    s->depth = depth;
    xb_envelope_fields_t fields = {origin->name, t->name, s->thread, s->msg_id, s->ts, depth};
    if (xb_envelope_write(&fields, pl->bytes, pl->len, &s->envelope, &s->len, err) != 0)
        return -1;
    s->payload_len = pl->len;
    s->payload_off = s->len - pl->len - strlen(XB_ENVELOPE_CLOSE);
    s->listener = t->listener;
    xb_strlcpy(s->to, t->name, sizeof s->to);
    xb_strlcpy(s->type, pl->tag, sizeof s->type);
    if (t->listener && !(s->chain = strdup(t->chain))) {
        xb_route_staged_free(s);
        return xb_error_set(err, XB_ERR_LIMIT, 0, "pump out of memory");
    }
    memcpy(msg_id, s->msg_id, 37);
    batch->n++;
    return 0;
}

/* Fills s with a SystemError to o (to l, or to o's client when l is NULL).
 * Returns 0 or -1 (no memory). */
static int stage_error_item(staged_t *s, const origin_t *o, lstn_t *l, xb_code_t code,
                            const char *message)
{
    memset(s, 0, sizeof *s);
    xb_envelope_t *env = xb_envelope_system_error(o->name, o->thread, code, message,
                                                  retry_allowed(code));
    char *payload = NULL;
    size_t plen = 0;
    int rc = env ? xb_envelope_payload_serialize(env, &payload, &plen) : -1;
    xb_envelope_destroy(&env);
    if (rc != 0)
        return -1;
    xb_uuid_new(s->msg_id);
    xb_strlcpy(s->thread, o->thread, sizeof s->thread);
    s->ts = xb_now_us();
    xb_envelope_fields_t fields = {SYSTEM_NAME, o->name, s->thread, s->msg_id, s->ts, 0};
    xb_error_t err;
    rc = xb_envelope_write(&fields, payload, plen, &s->envelope, &s->len, &err);
    free(payload);
    if (rc != 0)
        return -1;
    s->payload_len = plen;
    s->payload_off = s->len - plen - strlen(XB_ENVELOPE_CLOSE);
    s->listener = l;
    s->is_error = true;
    xb_strlcpy(s->to, o->name, sizeof s->to);
    xb_strlcpy(s->type, XB_SYSTEM_ERROR_TYPE, sizeof s->type);
    if (l && o->chain && !(s->chain = strdup(o->chain))) {
        xb_route_staged_free(s);
        return -1;
    }
    return 0;
}

/* A SystemError to o about a message that failed while it was routed: it
 * joins the turn like the messages that succeeded (written in the turn's
 * batch, delivered after the commit). When it cannot be staged (a full
 * batch, no memory) it is recorded and sent on its own at once. */
static void stage_error(xb_pump_t *p, batch_t *batch, const origin_t *o, conv_t *conv,
                        xb_code_t code, const char *message)
{
    if (!system_error_wanted(p, o, code, message))
        return;
    lstn_t *l = o->is_client ? NULL : xb_pump_listener(p, o->name);
    if (!o->is_client && !l) {
        p->undeliverable++;
        return;
    }
    if (batch && batch->n < MAX_STAGED &&
        stage_error_item(&batch->items[batch->n], o, l, code, message) == 0) {
        batch->n++;
        return;
    }
    system_error_now(p, o, conv, code, message);
}

/* A staged SystemError goes to the unit's origin, from the pump itself:
 * whatever happens to it is never answered again. */
static void dispatch_error(xb_pump_t *p, const origin_t *origin, conv_t *conv, staged_t *s)
{
    if (!s->listener) {
        deliver_to_client(p, &origin->rid, s->msg_id, s->envelope, s->len);
        xb_route_staged_free(s);
        return;
    }
    origin_t sys = {.is_system = true};
    xb_strlcpy(sys.name, SYSTEM_NAME, sizeof sys.name);
    delivery_t *d = delivery_for(p, s->listener, conv, s->chain, s->thread, &sys);
    if (!d) {
        xb_route_staged_free(s);
        p->undeliverable++;
        return;
    }
    xb_strlcpy(d->msg_id, s->msg_id, sizeof d->msg_id);
    d->envelope = s->envelope;
    d->len = s->len;
    d->is_error = true;
    s->envelope = NULL;
    xb_route_staged_free(s);
    xb_delivery_submit(p, d);
}

/* Hands a recorded message to its receiver. Takes s's buffers. */
void xb_route_dispatch_staged(xb_pump_t *p, const origin_t *origin, conv_t *conv, staged_t *s)
{
    if (s->is_error) {
        dispatch_error(p, origin, conv, s);
        return;
    }
    p->routed++;
    if (!s->listener) {
        deliver_to_client(p, &conv->client, s->msg_id, s->envelope, s->len);
        xb_route_staged_free(s);
        return;
    }
    delivery_t *d = delivery_for(p, s->listener, conv, s->chain, s->thread, origin);
    if (!d) {
        xb_route_staged_free(s);
        xb_route_system_error(p, origin, conv, XB_ERR_LIMIT, "pump out of memory");
        return;
    }
    xb_strlcpy(d->msg_id, s->msg_id, sizeof d->msg_id);
    d->envelope = s->envelope;
    d->len = s->len;
    d->depth = s->depth;
    s->envelope = NULL;
    xb_route_staged_free(s);
    xb_delivery_submit(p, d);
}

/* The pump's staging area (one, reused: the event loop handles one incoming
 * message at a time). NULL on no memory. */
static batch_t *staging(xb_pump_t *p)
{
    if (!p->route_batch)
        p->route_batch = calloc(1, sizeof(batch_t));
    batch_t *b = p->route_batch;
    if (b)
        b->n = 0;
    return b;
}

static bool may_address(const lstn_t *sender, const char *name)
{
    if (!sender || !sender->cfg->has_peers)
        return true;
    for (size_t i = 0; i < sender->cfg->n_peers; i++)
        if (strcmp(sender->cfg->peers[i], name) == 0)
            return true;
    return false;
}

/* Target of a respond: the caller, found by pruning the sender's chain. Sets
 * *ended when the sender was the conversation's first hop. */
static int respond_target(xb_pump_t *p, const origin_t *o, conv_t *conv, target_t *t, bool *ended,
                          xb_error_t *err)
{
    *ended = false;
    if (xb_chain_hops(o->chain) <= 1) {
        *ended = true;
        return 0;
    }
    t->chain = xb_chain_prune(o->chain, err);
    if (!t->chain)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "pump out of memory");
    const char *hop = xb_chain_last_hop(t->chain);
    xb_strlcpy(t->name, hop, sizeof t->name);
    if (conv && conv->has_client && xb_chain_hops(t->chain) == 1 &&
        strcmp(hop, conv->client_hop) == 0)
        return 0;
    t->listener = xb_pump_listener(p, hop);
    if (!t->listener)
        return xb_error_set(err, XB_ERR_ROUTING, 0, "the caller '%s' is not a listener any more", hop);
    return 0;
}

static void targets_free(target_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i].chain);
}

/* Resolves a forward (to a name) or a by-tag target into targets[]. */
static int named_targets(xb_pump_t *p, const origin_t *o, const lstn_t *sender, const char *to,
                         const char *tag, target_t *targets, size_t cap, size_t *n,
                         xb_error_t *err)
{
    const char *const *names = NULL;
    size_t count;
    const char *one[1];
    if (to && to[0]) {
        if (!may_address(sender, to))
            return xb_error_set(err, XB_ERR_ROUTING, 0, "listener %s may not address '%s'",
                                sender->cfg->name, to);
        if (!xb_pump_listener(p, to))
            return xb_error_set(err, XB_ERR_ROUTING, 0, "no listener named '%s'", to);
        one[0] = to;
        names = one;
        count = 1;
    } else {
        count = xb_schemas_lookup_tag(p->schemas, tag, &names);
        if (count == 0)
            return xb_error_set(err, XB_ERR_ROUTING, 0, "no listener accepts <%s>", tag);
    }
    *n = 0;
    for (size_t i = 0; i < count && *n < cap; i++) {
        if (!may_address(sender, names[i]))
            return xb_error_set(err, XB_ERR_ROUTING, 0, "listener %s may not address a listener of <%s>",
                                sender->cfg->name, tag);
        target_t *t = &targets[(*n)++];
        t->listener = xb_pump_listener(p, names[i]);
        xb_strlcpy(t->name, names[i], sizeof t->name);
        t->chain = xb_chain_extend(o->chain, names[i], err);
        if (!t->chain)
            return xb_error_set(err, XB_ERR_NOMEM, 0, "pump out of memory");
    }
    return 0;
}

#define MAX_FANOUT 64

/* Routes one payload from origin. Returns the number of messages sent; on a
 * failure the first error is in err and later ones went out as SystemErrors. */
/* first_id (may be NULL) receives the message id of the first message sent. */
static int route_payload(xb_pump_t *p, const origin_t *o, conv_t *conv, const char *target,
                         const payload_t *pl, int depth, bool *ended, char *first_id,
                         batch_t *batch, xb_error_t *err)
{
    *ended = false;
    if (depth > p->cfg->limits.max_depth)
        return xb_error_set(err, XB_ERR_LIMIT, 0, "hop depth %d exceeds max_depth %d", depth,
                            p->cfg->limits.max_depth), 0;
    target_t targets[MAX_FANOUT];
    memset(targets, 0, sizeof targets);
    size_t n = 0;
    int rc;
    lstn_t *sender = o->is_client ? NULL : xb_pump_listener(p, o->name);
    if (target && strcmp(target, XB_TARGET_RESPOND) == 0) {
        rc = respond_target(p, o, conv, &targets[0], ended, err);
        n = (rc == 0 && !*ended) ? 1 : 0;
    } else {
        rc = named_targets(p, o, sender, target, pl->tag, targets, MAX_FANOUT, &n, err);
    }
    if (rc != 0) {
        targets_free(targets, MAX_FANOUT);
        return 0;
    }
    int sent = 0;
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        xb_error_t e;
        xb_error_clear(&e);
        char msg_id[37];
        if (make_delivery(p, o, &targets[i], pl, depth, batch, msg_id, &e) == 0) {
            if (sent++ == 0 && first_id)
                memcpy(first_id, msg_id, sizeof msg_id);
        } else if (!failed) {
            failed = true;
            *err = e;
        } else {
            stage_error(p, batch, o, conv, e.code, e.message);
        }
    }
    targets_free(targets, MAX_FANOUT);
    return sent;
}

/* ---- REPLY, DONE, FAILED from listeners ------------------------------------ */

static delivery_t *delivery_of(xb_pump_t *p, peer_t *peer, xb_frames_t *f, const char *cmd)
{
    char id[32];
    delivery_t *d = xb_frames_copy(f, 3, id, sizeof id) < 0 ? NULL : xb_delivery_find(p, id);
    if (!d || d->peer != peer) {
        /* A late answer (the message timed out or went to another worker). */
        p->late++;
        XB_DEBUG("pump", "%s for unknown or expired delivery from %s", cmd,
                 p->listeners[peer->listener].cfg->name);
        return NULL;
    }
    return d;
}

static void origin_of_delivery(const xb_pump_t *p, const delivery_t *d, origin_t *o)
{
    memset(o, 0, sizeof *o);
    xb_strlcpy(o->name, p->listeners[d->listener].cfg->name, sizeof o->name);
    o->chain = d->chain; /* borrowed: the delivery outlives the routing */
    xb_strlcpy(o->thread, d->thread, sizeof o->thread);
    o->quiet = d->is_error; /* what answers a SystemError never bounces */
}

static void reply_one(xb_pump_t *p, const origin_t *o, delivery_t *d, const char *target,
                      const void *bytes, size_t len, batch_t *batch)
{
    xb_error_t err;
    xb_error_clear(&err);
    xmlDocPtr doc = xb_xml_read(p->xmlctxt, bytes, len, &p->plimits, &err);
    if (!doc) {
        stage_error(p, batch, o, d->conv, err.code, err.message);
        return;
    }
    payload_t pl;
    char *owned = NULL;
    if (payload_of(doc, bytes, len, &pl, &owned, &err) != 0) {
        stage_error(p, batch, o, d->conv, err.code, err.message);
        xmlFreeDoc(doc);
        return;
    }
    bool ended = false;
    int sent = route_payload(p, o, d->conv, target, &pl, d->depth + 1, &ended, NULL, batch, &err);
    free(owned);
    if ((sent == 0 && !ended) || err.code != XB_OK)
        stage_error(p, batch, o, d->conv, err.code, err.message);
    p->listeners[d->listener].messages_out += (uint64_t)sent;
    xmlFreeDoc(doc);
}

/* REPLY id n (target payload)* */
void xb_route_on_reply(xb_pump_t *p, peer_t *peer, xb_frames_t *f)
{
    delivery_t *d = delivery_of(p, peer, f, XB_CMD_REPLY);
    if (!d)
        return;
    lstn_t *l = &p->listeners[d->listener];
    l->replies++;
    origin_t o;
    origin_of_delivery(p, d, &o);
    batch_t *batch = staging(p);
    bool ok = false;
    long n = xb_frames_long(f, 4, &ok);
    if (!batch) {
        xb_route_system_error(p, &o, d->conv, XB_ERR_LIMIT, "pump out of memory");
        xb_delivery_complete(p, d);
        return;
    }
    if (!ok || n < 1 || (size_t)(5 + 2 * n) != xb_frames_count(f)) {
        stage_error(p, batch, &o, d->conv, XB_ERR_ENVELOPE,
                    "malformed REPLY: expected a count then that many target/payload pairs");
    } else {
        for (long i = 0; i < n; i++) {
            char target[XB_NAME_MAX];
            if (xb_frames_copy(f, (size_t)(5 + 2 * i), target, sizeof target) < 0) {
                stage_error(p, batch, &o, d->conv, XB_ERR_ROUTING, "REPLY target name too long");
                continue;
            }
            reply_one(p, &o, d, target, xb_frames_data(f, (size_t)(6 + 2 * i)),
                      xb_frames_size(f, (size_t)(6 + 2 * i)), batch);
        }
    }
    unit_t u = {.is_send = false, .origin = o, .conv = d->conv};
    xb_commit_defer(p, batch, &u);
    xb_delivery_complete(p, d);
}

/* DONE id | FAILED id message */
void xb_route_on_done(xb_pump_t *p, peer_t *peer, xb_frames_t *f, bool failed)
{
    delivery_t *d = delivery_of(p, peer, f, failed ? XB_CMD_FAILED : XB_CMD_DONE);
    if (!d)
        return;
    lstn_t *l = &p->listeners[d->listener];
    if (!failed) {
        l->done++;
        xb_delivery_complete(p, d);
        return;
    }
    l->failed++;
    char why[512] = "handler failed";
    xb_frames_copy(f, 4, why, sizeof why);
    /* The handler said it failed: its sender hears `crash` with the reason. */
    xb_delivery_failed_by_handler(p, d, why);
}

/* ---- SEND from clients ------------------------------------------------------ */

void xb_route_reject(xb_pump_t *p, const xb_rid_t *rid, const char *req, const origin_t *o,
                   xb_code_t code, const char *message)
{
    p->rejected++;
    count_error(p, o, code);
    XB_INFO("pump", "send refused (%s): %s", xb_code_name(xb_code_wire(code)), message);
    xb_envelope_t *env = xb_envelope_system_error(o->name, o->thread, code, message,
                                                  retry_allowed(code));
    char *bytes = NULL;
    size_t len = 0;
    if (env)
        xb_envelope_serialize(env, &bytes, &len);
    xb_envelope_destroy(&env);
    xb_frames_t *f = xb_frames_new_cmd(XB_CMD_REJECTED);
    if (f && xb_frames_add_str(f, req) == 0 && xb_frames_add(f, bytes ? bytes : "", len) == 0)
        xb_pump_send_to(p, rid, f);
    xb_frames_destroy(&f);
    free(bytes);
}

void xb_route_accept(xb_pump_t *p, const xb_rid_t *rid, const char *req, const char *thread,
                        const char *msg_id)
{
    p->accepted++;
    xb_frames_t *f = xb_frames_new_cmd(XB_CMD_ACCEPTED);
    if (f && xb_frames_add_str(f, req) == 0 && xb_frames_add_str(f, thread) == 0 &&
        xb_frames_add_str(f, msg_id) == 0)
        xb_pump_send_to(p, rid, f);
    xb_frames_destroy(&f);
}

/* The body of a SEND: an envelope or a bare payload. */
typedef struct {
    xmlDocPtr doc;            /* bare payload document */
    xb_envelope_t *env;       /* or a whole envelope */
    payload_t payload;
    char *owned;              /* payload bytes written anew, if any */
    char to[XB_NAME_MAX];
    char from[XB_NAME_MAX];
    char thread[37];          /* the envelope's thread, "" if none or replaced */
    int depth;
} send_body_t;

static bool is_envelope(xmlDocPtr doc)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);
    return root && root->ns && root->ns->href &&
           strcmp((const char *)root->ns->href, XB_ENVELOPE_NS) == 0 &&
           strcmp((const char *)root->name, "message") == 0;
}

static int parse_send_body(xb_pump_t *p, const void *bytes, size_t len, send_body_t *b,
                           xb_error_t *err)
{
    b->doc = xb_xml_read(p->xmlctxt, bytes, len, &p->plimits, err);
    if (!b->doc)
        return -1;
    if (!is_envelope(b->doc))
        return payload_of(b->doc, bytes, len, &b->payload, &b->owned, err);
    xmlFreeDoc(b->doc);
    b->doc = NULL;
    b->env = xb_envelope_parse(p->parser, bytes, len, err);
    if (!b->env)
        return -1;
    b->payload.node = xb_envelope_payload(b->env);
    if (xb_payload_tag_of(b->payload.node, b->payload.tag, sizeof b->payload.tag) != 0 ||
        xb_envelope_payload_serialize(b->env, &b->owned, &b->payload.len) != 0)
        return xb_error_set(err, XB_ERR_ENVELOPE, 0, "the envelope's payload cannot be read");
    b->payload.bytes = b->owned;
    const char *to = xb_envelope_to(b->env);
    xb_strlcpy(b->to, to ? to : "", sizeof b->to);
    xb_strlcpy(b->from, xb_envelope_from(b->env), sizeof b->from);
    if (!xb_envelope_thread_replaced(b->env))
        xb_strlcpy(b->thread, xb_envelope_thread(b->env), sizeof b->thread);
    b->depth = xb_envelope_depth(b->env);
    return 0;
}

static void send_body_free(send_body_t *b)
{
    if (b->doc)
        xmlFreeDoc(b->doc);
    xb_envelope_destroy(&b->env);
    free(b->owned);
}

/* Finds the conversation a client continues (its own thread: one hop after
 * the root) or starts a new one. Fills the origin's chain and thread. */
static conv_t *client_conversation(xb_pump_t *p, const xb_rid_t *rid, const char *thread,
                                   origin_t *o, xb_error_t *err)
{
    char *chain = NULL;
    if (thread[0] && xb_registry_get_chain(p->registry, thread, &chain, NULL) == 0 && chain &&
        xb_chain_hops(chain) == 1 && strcmp(xb_chain_last_hop(chain), o->name) == 0) {
        char *root = xb_chain_conversation_root(chain, NULL);
        conv_t *c = root ? xb_strmap_get(p->convs, root) : NULL;
        if (!c && root)
            c = conv_new(p, root);
        free(root);
        if (c) {
            c->has_client = true;
            c->client = *rid;
            xb_strlcpy(c->client_hop, o->name, sizeof c->client_hop);
            o->chain = chain;
            xb_strlcpy(o->thread, thread, sizeof o->thread);
            return c;
        }
    }
    free(chain);
    char *root = NULL, *uuid = NULL;
    if (xb_registry_start(p->registry, o->name, &uuid, &root, err) != 0)
        return NULL;
    conv_t *c = conv_new(p, root);
    o->chain = xb_chain_extend(root, o->name, err);
    if (uuid)
        xb_strlcpy(o->thread, uuid, sizeof o->thread);
    free(uuid);
    if (!c || !o->chain) {
        if (c)
            xb_conv_release(p, c);
        else
            xb_registry_end_conversation(p->registry, root, NULL, NULL);
        free(root);
        if (err && err->code == XB_OK)
            xb_error_set(err, XB_ERR_LIMIT, 0, "pump out of memory");
        return NULL;
    }
    free(root);
    c->has_client = true;
    c->client = *rid;
    xb_strlcpy(c->client_hop, o->name, sizeof c->client_hop);
    return c;
}

/* SEND|POST request-id body [to [from]] */
void xb_route_on_send(xb_pump_t *p, const xb_rid_t *rid, xb_frames_t *f, bool post)
{
    char req[128], to[XB_NAME_MAX] = "", from[XB_NAME_MAX] = "";
    origin_t o;
    memset(&o, 0, sizeof o);
    o.is_client = true;
    o.rid = *rid;
    xb_strlcpy(o.name, DEFAULT_SENDER, sizeof o.name);
    xb_uuid_new(o.thread);
    if (xb_frames_copy(f, 3, req, sizeof req) < 0 || xb_frames_count(f) < 5) {
        xb_route_reject(p, rid, "", &o, XB_ERR_ENVELOPE, "SEND and POST need: request-id body [to [from]]");
        return;
    }
    if (p->state != PUMP_RUNNING) {
        xb_route_reject(p, rid, req, &o, XB_ERR_SHUTDOWN, "the pump is shutting down");
        return;
    }
    xb_frames_copy(f, 5, to, sizeof to);
    xb_frames_copy(f, 6, from, sizeof from);
    xb_error_t err;
    xb_error_clear(&err);
    send_body_t b;
    memset(&b, 0, sizeof b);
    if (parse_send_body(p, xb_frames_data(f, 4), xb_frames_size(f, 4), &b, &err) != 0) {
        xb_route_reject(p, rid, req, &o, err.code, err.message);
        send_body_free(&b);
        return;
    }
    const char *sender = from[0] ? from : b.from[0] ? b.from : DEFAULT_SENDER;
    if (!xb_config_valid_name(sender) || strcmp(sender, SYSTEM_NAME) == 0) {
        xb_route_reject(p, rid, req, &o, XB_ERR_ENVELOPE, "the sender name is not a valid listener name");
        send_body_free(&b);
        return;
    }
    xb_strlcpy(o.name, sender, sizeof o.name);
    conv_t *conv = client_conversation(p, rid, b.thread, &o, &err);
    if (!conv) {
        xb_route_reject(p, rid, req, &o, err.code, err.message);
        send_body_free(&b);
        xb_origin_clear(&o);
        return;
    }
    const char *target = to[0] ? to : b.to;
    bool ended = false;
    xb_error_clear(&err);
    char msg_id[37] = "";
    batch_t *batch = staging(p);
    int staged = 0;
    if (!batch)
        xb_error_set(&err, XB_ERR_LIMIT, 0, "pump out of memory");
    else
        staged = route_payload(p, &o, conv, target, &b.payload, b.depth + 1, &ended, msg_id,
                               batch, &err);
    send_body_free(&b);
    if (staged == 0) {
        xb_route_reject(p, rid, req, &o, err.code, err.message);
        if (batch && batch->n > 0) { /* SystemErrors about its other targets */
            unit_t u = {.is_send = false, .origin = o, .conv = conv};
            xb_commit_defer(p, batch, &u);
        }
    } else {
        if (err.code != XB_OK) /* another target failed: an error of its own */
            stage_error(p, batch, &o, conv, err.code, err.message);
        unit_t u = {.is_send = true, .post = post, .origin = o, .conv = conv};
        xb_strlcpy(u.req, req, sizeof u.req);
        memcpy(u.msg_id, msg_id, sizeof u.msg_id);
        xb_commit_defer(p, batch, &u);
    }
    if (conv->pending <= 0)
        xb_conv_release(p, conv);
    xb_origin_clear(&o);
}
