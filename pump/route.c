/* Routing (docs/routing.md): where each message goes, its call chain
 * and thread, validation against the receiver's schema, one slot per
 * delivery, and a SystemError to the sender for every failure.
 *
 * A message comes either from a client (SEND) or from a listener's handler
 * (REPLY). Both end in route_payload(), which resolves the target, and
 * make_delivery(), which does the per-receiver work. */
#include "pump_internal.h"
#include "commit.h"
#include "pipeq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "chain.h"
#include "envwrite.h"
#include "log.h"
#include "wmem.h"
#include "security.h"
#include "str.h"
#include "xmlbus/uuid.h"
#include "xmlbus/xmlsafe.h"
#include "xmlsafe_internal.h"

#define DEFAULT_SENDER "console"

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

/* ---- targets and staging --------------------------------------------------- */

/* Where one message goes. */
typedef struct {
    lstn_t *listener;       /* NULL when the receiver is the conversation's client, or: */
    int pipeline;           /* a pipeline: its index + 1 (pipeline.c runs it) */
    bool respond;           /* it answers the receiver (a pipeline learns which step) */
    char *chain;            /* receiver's chain (owned) */
    char name[XB_NAME_MAX]; /* receiver's hop name */
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
        return xb_error_set(
            err, XB_ERR_ENVELOPE, 0,
            "a payload may not be in the envelope namespace (an envelope inside an envelope)");
    return xb_payload_embeddable(doc, bytes, len, &pl->bytes, &pl->len, owned, err);
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
    s->ts = xbp_now_us();
    s->depth = depth;
    xb_envelope_fields_t fields = {origin->name, t->name, s->thread,          s->msg_id,
                                   s->ts,        depth,   origin->redelivered};
    s->redelivered = origin->redelivered;
    if (xb_envelope_write(&fields, pl->bytes, pl->len, &s->envelope, &s->len, err) != 0)
        return -1;
    s->payload_len = pl->len;
    s->payload_off = s->len - pl->len - strlen(XB_ENVELOPE_CLOSE);
    s->listener = t->listener;
    s->pipeline = t->pipeline;
    s->respond = t->respond;
    xb_strlcpy(s->to, t->name, sizeof s->to);
    xb_strlcpy(s->type, pl->tag, sizeof s->type);
    if ((t->listener || t->pipeline) && !(s->chain = strdup(t->chain))) {
        xbp_route_staged_free(s);
        return xb_error_set(err, XB_ERR_LIMIT, 0, "pump out of memory");
    }
    memcpy(msg_id, s->msg_id, 37);
    batch->n++;
    return 0;
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
    t->respond = true;
    t->listener = xbp_pump_listener(p, hop);
    t->pipeline = t->listener ? 0 : xbp_pump_pipeline(p, hop, NULL) + 1;
    if (!t->listener && !t->pipeline)
        return xb_error_set(err, XB_ERR_ROUTING, 0, "the caller '%s' is not a listener any more",
                            hop);
    return 0;
}

/* A message to a pipeline (by its name, or by a root tag it accepts: no
 * listener shares those) into t. 1 when there is such a pipeline, 0 when
 * not, -1 on no memory. */
static int pipeline_target(xb_pump_t *p, const origin_t *o, const char *to, const char *tag,
                           target_t *t, xb_error_t *err)
{
    if (p->cfg->n_pipelines == 0)
        return 0;
    int i = xbp_pump_pipeline(p, to && to[0] ? to : NULL, tag);
    if (i < 0)
        return 0;
    t->pipeline = i + 1;
    xb_strlcpy(t->name, p->cfg->pipelines[i].name, sizeof t->name);
    t->chain = xb_chain_extend(o->chain, t->name, err);
    return t->chain ? 1 : (xb_error_set(err, XB_ERR_NOMEM, 0, "pump out of memory"), -1);
}

/* Frees the chains of t[0..n), most of them NULL: free(NULL) is a call
 * into the allocator each time (64 per routed payload were 7 % of the
 * pump's instructions). */
static void targets_free(target_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].chain)
            free(t[i].chain);
}

/* Resolves a forward (to a name) or a by-tag target into targets[]. */
static int named_targets(xb_pump_t *p, const origin_t *o, const lstn_t *sender, const char *to,
                         const char *tag, target_t *targets, size_t cap, size_t *n, xb_error_t *err)
{
    const char *const *names = NULL;
    size_t count;
    const char *one[1];
    if (to && to[0] && !may_address(sender, to))
        return xb_error_set(err, XB_ERR_ROUTING, 0, "listener %s may not address '%s'",
                            sender->cfg->name, to);
    int rc = pipeline_target(p, o, to, tag, &targets[0], err);
    if (rc != 0) {
        if (rc > 0 && !may_address(sender, targets[0].name))
            return xb_error_set(err, XB_ERR_ROUTING, 0, "listener %s may not address '%s'",
                                sender->cfg->name, targets[0].name);
        *n = rc > 0;
        return rc > 0 ? 0 : -1;
    }
    if (to && to[0]) {
        if (!xbp_pump_listener(p, to))
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
            return xb_error_set(err, XB_ERR_ROUTING, 0,
                                "listener %s may not address a listener of <%s>", sender->cfg->name,
                                tag);
        target_t *t = &targets[(*n)++];
        t->listener = xbp_pump_listener(p, names[i]);
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
                            p->cfg->limits.max_depth),
               0;
    target_t targets[MAX_FANOUT];
    memset(targets, 0, sizeof targets);
    size_t n = 0;
    int rc;
    lstn_t *sender = o->is_client ? NULL : xbp_pump_listener(p, o->name);
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
            xbp_outbox_stage_error(p, batch, o, conv, e.code, e.message);
        }
    }
    targets_free(targets, MAX_FANOUT);
    return sent;
}

/* ---- REPLY, DONE, FAILED from listeners ------------------------------------ */

static delivery_t *delivery_of(xb_pump_t *p, peer_t *peer, xb_proto_val_t idv, const char *cmd)
{
    char id[32];
    delivery_t *d = xb_proto_cstr(idv, id, sizeof id) < 0 ? NULL : xbp_delivery_find(p, id);
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
    o->redelivered = d->redelivered;
    o->pipe_ref = d->origin.pipe_ref; /* what a pipeline step sends belongs to the step */
}

/* A pipeline step's delivery ended (DONE, or a REPLY that neither responds
 * nor forwards): its run learns that it produced no response. */
static void step_ended_silently(xb_pump_t *p, const delivery_t *d)
{
    if (!d->origin.pipeline || d->is_error)
        return;
    origin_t o = d->origin; /* borrows its chain */
    if (d->redelivered > o.redelivered)
        o.redelivered = d->redelivered;
    xbp_pev_t *e = xbp_pev_new(p, XBP_PEV_DONE, d->origin.pipeline - 1, d->conv, &o);
    if (e)
        xbp_pipeq_push(p, e);
    else
        XB_ERROR("pump", "no memory to tell pipeline %s that a step ended", d->origin.name);
}

/* Whether batch holds a message (not only SystemErrors about failures). */
static bool batch_sends(const batch_t *batch)
{
    for (size_t i = 0; i < batch->n; i++)
        if (!batch->items[i].is_error)
            return true;
    return false;
}

/* Whether a REPLY sends something on: a response or a forward (not only
 * working-memory writes). */
static bool reply_sends(const xb_proto_msg_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        xb_proto_val_t t = xb_proto_reply_target(m, i);
        if (!(t.len > 0 && t.ptr[0] == XB_PROTO_REMEMBER))
            return true;
    }
    return false;
}

/* Whether a respond from o goes to the conversation's client or to a
 * pipeline's hop: no schema validates it, so its payload needs no tree. */
static bool respond_unvalidated(xb_pump_t *p, const origin_t *o, const conv_t *conv)
{
    if (!o->chain || xb_chain_hops(o->chain) <= 1)
        return false;
    char *up = xb_chain_prune(o->chain, NULL);
    if (!up)
        return false;
    const char *hop = xb_chain_last_hop(up);
    bool yes = (conv && conv->has_client && xb_chain_hops(up) == 1 &&
                strcmp(hop, conv->client_hop) == 0) ||
               (!xbp_pump_listener(p, hop) && xbp_pump_pipeline(p, hop, NULL) >= 0);
    free(up);
    return yes;
}

/* An unvalidated payload checked without a tree (xb_xml_scan) into pl: 0;
 * 1 when it needs the tree after all (something around its root); -1 with
 * err when it is refused. */
static int payload_scanned(xb_pump_t *p, const void *bytes, size_t len, payload_t *pl,
                           xb_error_t *err)
{
    bool alone = false;
    memset(pl, 0, sizeof *pl);
    if (xb_xml_scan(p->xmlctxt, bytes, len, &p->plimits, pl->tag, sizeof pl->tag, &alone, err) != 0)
        return -1;
    if (!alone || xb_payload_embeddable_bytes(bytes, len, &pl->bytes, &pl->len) != 0)
        return 1;
    if (pl->tag[0] != '{')
        return 0;
    char href[sizeof pl->tag];
    xb_strlcpy(href, pl->tag + 1, sizeof href);
    char *close = strchr(href, '}');
    if (close)
        *close = '\0';
    if (strcmp(href, XB_ENVELOPE_NS) == 0)
        return xb_error_set(
            err, XB_ERR_ENVELOPE, 0,
            "a payload may not be in the envelope namespace (an envelope inside an envelope)");
    if (!xb_payload_ns_ok(href))
        return xb_error_set(err, XB_ERR_ENVELOPE, 0,
                            "payload namespace '%.200s' is not supported (it starts with '*')",
                            href);
    return 0;
}

/* The payload of a listener's message into pl: scanned when nothing will
 * validate it (a respond to the client or a pipeline), else parsed into
 * *doc (the caller frees it and *owned). 0, or -1 with err. */
static int reply_payload(xb_pump_t *p, const origin_t *o, const delivery_t *d, const char *target,
                         const void *bytes, size_t len, payload_t *pl, xmlDocPtr *doc, char **owned,
                         xb_error_t *err)
{
    *doc = NULL;
    *owned = NULL;
    if (target && strcmp(target, XB_TARGET_RESPOND) == 0 && respond_unvalidated(p, o, d->conv)) {
        int rc = payload_scanned(p, bytes, len, pl, err);
        if (rc <= 0)
            return rc;
        xb_error_clear(err);
    }
    *doc = xb_xml_read(p->xmlctxt, bytes, len, &p->plimits, err);
    if (!*doc)
        return -1;
    return payload_of(*doc, bytes, len, pl, owned, err);
}

static void reply_one(xb_pump_t *p, const origin_t *o, delivery_t *d, const char *target,
                      const void *bytes, size_t len, batch_t *batch)
{
    xb_error_t err;
    xb_error_clear(&err);
    payload_t pl;
    xmlDocPtr doc = NULL;
    char *owned = NULL;
    if (reply_payload(p, o, d, target, bytes, len, &pl, &doc, &owned, &err) != 0) {
        xbp_outbox_stage_error(p, batch, o, d->conv, err.code, err.message);
        free(owned);
        xmlFreeDoc(doc);
        return;
    }
    bool ended = false;
    int sent = route_payload(p, o, d->conv, target, &pl, d->depth + 1, &ended, NULL, batch, &err);
    free(owned);
    if ((sent == 0 && !ended) || err.code != XB_OK) {
        xbp_conv_note_failure(d->conv, err.code, o->name, d->depth + 1, err.message);
        xbp_outbox_stage_error(p, batch, o, d->conv, err.code, err.message);
    }
    p->listeners[d->listener].messages_out += (uint64_t)sent;
    xmlFreeDoc(doc);
}

/* REPLY id n (target payload)* (the codec checked that n pairs follow) */
void xbp_route_on_reply(xb_pump_t *p, peer_t *peer, const xb_proto_msg_t *m)
{
    delivery_t *d = delivery_of(p, peer, m->reply.id, XB_CMD_REPLY);
    if (!d)
        return;
    lstn_t *l = &p->listeners[d->listener];
    l->replies++;
    origin_t o;
    origin_of_delivery(p, d, &o);
    batch_t *batch = xbp_commit_stage(p);
    /* Its memory writes are checked first: when they are refused nothing
     * of it is routed. They are stored with its first message's slot. */
    char cbuf[XBP_SCOPE_MAX];
    const char *conversation = xbp_wmem_scope(d->conv, d->chain, d->origin.pipe_ref, cbuf,
                                              sizeof cbuf);
    xb_error_t werr;
    xb_error_clear(&werr);
    bool step = d->origin.pipeline != 0;
    /* Inside a pipeline run the run stores results, under its steps' names:
     * the listener's own `result` is not written there. */
    bool with_result = d->origin.pipe_ref == 0;
    xbp_wmem_writes_t *writes = NULL;
    if (xbp_wmem_reply_writes(p, l->cfg, with_result, conversation, m, &writes, &werr) == 0) {
        for (size_t i = 0; i < m->n; i++) {
            xb_proto_val_t t = xb_proto_reply_target(m, i);
            if (t.len > 0 && t.ptr[0] == XB_PROTO_REMEMBER)
                continue; /* a write, above */
            char target[XB_NAME_MAX];
            xb_proto_cstr(t, target, sizeof target);
            xb_proto_val_t payload = xb_proto_reply_payload(m, i);
            reply_one(p, &o, d, target, payload.ptr, payload.len, batch);
        }
        if (writes && !batch_sends(batch)) { /* nothing goes with them: stored alone */
            xbp_wmem_writes_store(p, d->conv, writes, &werr);
            xbp_wmem_writes_free(&writes);
        }
    }
    if (werr.code != XB_OK) {
        xbp_conv_note_failure(d->conv, werr.code, o.name, d->depth + 1, werr.message);
        xbp_outbox_stage_error(p, batch, &o, d->conv, werr.code, werr.message);
        if (step) /* its run fails too: the step cannot answer any more */
            xbp_pipeq_error(p, &d->origin, d->conv, werr.code, werr.message);
    } else if (step && !reply_sends(m)) {
        step_ended_silently(p, d);
    }
    unit_t u = {.is_send = false, .origin = o, .conv = d->conv, .wmem = writes};
    xbp_commit_defer(p, batch, &u);
    xbp_delivery_complete(p, d);
}

/* DONE id | FAILED id message */
void xbp_route_on_done(xb_pump_t *p, peer_t *peer, const xb_proto_msg_t *m, bool failed)
{
    delivery_t *d = delivery_of(p, peer, failed ? m->failed.id : m->done.id,
                                failed ? XB_CMD_FAILED : XB_CMD_DONE);
    if (!d)
        return;
    lstn_t *l = &p->listeners[d->listener];
    if (!failed) {
        l->done++;
        /* A SystemError answered with DONE goes no further: its branch of
         * the conversation ended in failure (docs/routing.md). */
        if (d->error_payload && d->conv)
            d->conv->failed = true;
        if (d->error_payload && !d->origin.pipeline) /* inside a pipeline step: it failed */
            xbp_pipeq_step_failed(p, d->conv, d->origin.pipe_ref,
                                  d->conv && d->conv->noted ? d->conv->fail_code : XB_ERR_CRASH,
                                  "a SystemError inside the step ended its branch");
        step_ended_silently(p, d);
        xbp_delivery_complete(p, d);
        return;
    }
    l->failed++;
    char why[512] = "handler failed";
    if (m->failed.message.len)
        xb_proto_cstr(m->failed.message, why, sizeof why);
    /* The handler said it failed: its sender hears `crash` with the reason. */
    xbp_delivery_failed_by_handler(p, d, why);
}

/* ---- SEND from clients ------------------------------------------------------ */

/* The body of a SEND: an envelope or a bare payload. */
typedef struct {
    xmlDocPtr doc;      /* bare payload document */
    xb_envelope_t *env; /* or a whole envelope */
    payload_t payload;
    char *owned; /* payload bytes written anew, if any */
    char to[XB_NAME_MAX];
    char from[XB_NAME_MAX];
    char thread[37]; /* the envelope's thread, "" if none or replaced */
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
 * the root) or starts a new one. Fills the origin's chain and thread. A
 * live conversation is continued only by the connection that owns it
 * (xbp_identity_owns): a thread UUID is no proof of who is asking. */
static conv_t *client_conversation(xb_pump_t *p, const xbp_rid_t *rid, const char *thread,
                                   origin_t *o, xb_error_t *err)
{
    char *chain = NULL;
    if (thread[0] && xb_registry_get_chain(p->registry, thread, &chain, NULL) == 0 && chain &&
        xb_chain_hops(chain) == 1 && strcmp(xb_chain_last_hop(chain), o->name) == 0) {
        char *root = xb_chain_conversation_root(chain, NULL);
        conv_t *c = root ? xb_strmap_get(p->convs, root) : NULL;
        if (c && !xbp_identity_owns(c, rid)) {
            free(root);
            free(chain);
            /* Says nothing of the conversation, its client or its state. */
            xb_error_set(err, XB_ERR_DENIED, 0,
                         "this connection may not continue that thread: it did not start "
                         "its conversation");
            return NULL;
        }
        if (!c && root)
            c = xbp_conv_new(p, root);
        free(root);
        if (c) {
            c->has_client = true;
            c->client_acks = o->acks;
            c->client = *rid;
            xb_strlcpy(c->client_hop, o->name, sizeof c->client_hop);
            xb_strlcpy(c->client_thread, thread, sizeof c->client_thread);
            o->chain = chain;
            xb_strlcpy(o->thread, thread, sizeof o->thread);
            return c;
        }
    }
    free(chain);
    char *root = NULL, *uuid = NULL;
    if (xb_registry_start(p->registry, o->name, &uuid, &root, err) != 0)
        return NULL;
    conv_t *c = xbp_conv_new(p, root);
    o->chain = xb_chain_extend(root, o->name, err);
    if (uuid)
        xb_strlcpy(o->thread, uuid, sizeof o->thread);
    free(uuid);
    if (!c || !o->chain) {
        if (c)
            xbp_conv_release(p, c);
        else
            xb_registry_end_conversation(p->registry, root, NULL, NULL);
        free(root);
        if (err && err->code == XB_OK)
            xb_error_set(err, XB_ERR_LIMIT, 0, "pump out of memory");
        return NULL;
    }
    free(root);
    c->has_client = true;
    c->client_acks = o->acks;
    c->client = *rid;
    xb_strlcpy(c->client_hop, o->name, sizeof c->client_hop);
    xb_strlcpy(c->client_thread, o->thread, sizeof c->client_thread);
    return c;
}

/* SEND|POST request-id body [to [from [options]]] (the codec checked the shape
 * and bounds) */
void xbp_route_on_send(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m, bool post)
{
    char req[128], to[XB_NAME_MAX] = "", from[XB_NAME_MAX] = "";
    origin_t o;
    memset(&o, 0, sizeof o);
    o.is_client = true;
    o.acks = xb_proto_is(m->send.options, XB_PROTO_SEND_ACK);
    o.key = xbp_security_current(p);
    o.rid = *rid;
    xb_strlcpy(o.name, DEFAULT_SENDER, sizeof o.name);
    xb_uuid_new(o.thread);
    xb_proto_cstr(m->send.req, req, sizeof req);
    if (p->state != PUMP_RUNNING) {
        xbp_route_reject(p, rid, req, &o, XB_ERR_SHUTDOWN, "the pump is shutting down");
        return;
    }
    char why[256];
    xbp_admit_t admit = xbp_client_admit(p, rid, why, sizeof why);
    if (admit != XBP_ADMIT_OK) { /* it does not read its answers (docs/protocol.md) */
        if (admit == XBP_ADMIT_REFUSE)
            xbp_route_reject(p, rid, req, &o, XB_ERR_LIMIT, why);
        return;
    }
    xb_proto_cstr(m->send.to, to, sizeof to);
    xb_proto_cstr(m->send.from, from, sizeof from);
    xb_error_t err;
    xb_error_clear(&err);
    send_body_t b;
    memset(&b, 0, sizeof b);
    if (parse_send_body(p, m->send.body.ptr, m->send.body.len, &b, &err) != 0) {
        xbp_route_reject(p, rid, req, &o, err.code, err.message);
        send_body_free(&b);
        return;
    }
    const char *sender = from[0] ? from : b.from[0] ? b.from : DEFAULT_SENDER;
    if (!xb_config_valid_name(sender)) {
        xbp_route_reject(p, rid, req, &o, XB_ERR_ENVELOPE,
                         "the sender name is not a valid listener name");
        send_body_free(&b);
        return;
    }
    if (!xbp_identity_may_send_as(p, rid, sender)) {
        char why[XB_NAME_MAX + 96];
        snprintf(why, sizeof why,
                 "a client may not send as '%s' (a listener's or pipeline's name, or system)",
                 sender);
        xbp_route_reject(p, rid, req, &o, XB_ERR_DENIED, why);
        send_body_free(&b);
        return;
    }
    xb_strlcpy(o.name, sender, sizeof o.name);
    conv_t *conv = client_conversation(p, rid, b.thread, &o, &err);
    if (!conv) {
        xbp_route_reject(p, rid, req, &o, err.code, err.message);
        send_body_free(&b);
        xbp_origin_clear(&o);
        return;
    }
    const char *target = to[0] ? to : b.to;
    bool ended = false;
    xb_error_clear(&err);
    char msg_id[37] = "";
    batch_t *batch = xbp_commit_stage(p);
    int staged = route_payload(p, &o, conv, target, &b.payload, b.depth + 1, &ended, msg_id, batch,
                               &err);
    send_body_free(&b);
    if (staged == 0) {
        xbp_route_reject(p, rid, req, &o, err.code, err.message);
        if (batch->n > 0) { /* SystemErrors about its other targets */
            unit_t u = {.is_send = false, .origin = o, .conv = conv};
            xbp_commit_defer(p, batch, &u);
        }
    } else {
        if (err.code != XB_OK) /* another target failed: an error of its own */
            xbp_outbox_stage_error(p, batch, &o, conv, err.code, err.message);
        unit_t u = {.is_send = true, .post = post, .origin = o, .conv = conv};
        xb_strlcpy(u.req, req, sizeof u.req);
        memcpy(u.msg_id, msg_id, sizeof u.msg_id);
        xbp_commit_defer(p, batch, &u);
    }
    if (conv->pending <= 0)
        xbp_conv_release(p, conv);
    xbp_origin_clear(&o);
}

/* ---- messages of pipeline runs ------------------------------------------------ */

int xbp_route_from_pipeline(xb_pump_t *p, const origin_t *o, conv_t *conv, const char *to,
                            const char *bytes, size_t len, int depth, xb_wmem_list_t *wmem,
                            xb_error_t *err)
{
    xmlDocPtr doc = xb_xml_read(p->xmlctxt, bytes, len, &p->plimits, err);
    if (!doc) {
        xb_wmem_list_free(wmem);
        return -1;
    }
    payload_t pl;
    char *owned = NULL;
    batch_t *batch = xbp_commit_stage(p);
    bool ended = false;
    int sent = 0;
    if (payload_of(doc, bytes, len, &pl, &owned, err) == 0)
        sent = route_payload(p, o, conv, to, &pl, depth, &ended, NULL, batch, err);
    free(owned);
    xmlFreeDoc(doc);
    if (sent == 0 || err->code != XB_OK) {
        for (size_t i = 0; i < batch->n; i++)
            xbp_route_staged_free(&batch->items[i]);
        batch->n = 0;
        xb_wmem_list_free(wmem);
        if (err->code == XB_OK)
            xb_error_set(err, XB_ERR_ROUTING, 0, "'%s' has no receiver", to);
        return -1;
    }
    if (wmem && batch->items[0].listener) {
        batch->items[0].wmem = *wmem;
        batch->items[0].wmem_given = true;
        memset(wmem, 0, sizeof *wmem);
    }
    xb_wmem_list_free(wmem);
    unit_t u = {.is_send = false, .origin = *o, .conv = conv};
    return xbp_commit_defer(p, batch, &u) == 0 ? 0 : -1;
}
