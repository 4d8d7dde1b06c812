/* The outbox (see outbox.h): everything the pump sends because of what it
 * routed: verdicts (ACCEPTED, REJECTED, POSTED), recorded messages handed to
 * their receivers, and SystemErrors, staged with the turn or recorded alone.
 * Also the failing of deliveries, which ends in a SystemError. */
#include "outbox.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "envwrite.h"
#include "journal.h"
#include "pipeq.h"
#include "str.h"
#include "log.h"
#include "wmem.h"
#include "xmlbus/uuid.h"

#define SYSTEM_NAME XB_SYSTEM_FROM

/* ---- POSTED: acceptances of POSTs, counted per client ---------------------------- */

static void send_posted(xb_pump_t *p, size_t i)
{
    xb_frames_t *f = xb_proto_posted(p->posted[i].n);
    if (f)
        xbp_client_send(p, &p->posted[i].rid, &f, NULL, NULL);
    xb_frames_destroy(&f);
    p->posted[i] = p->posted[--p->n_posted];
}

static ssize_t posted_index(const xb_pump_t *p, const xbp_rid_t *rid)
{
    for (size_t i = 0; i < p->n_posted; i++) {
        const xbp_rid_t *r = &p->posted[i].rid;
        if (r->len == rid->len && memcmp(r->data, rid->data, rid->len) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* Tells rid (NULL: every client) how many of its POSTs were accepted since
 * the last POSTED. Counts wait for the next message to that client or the
 * next tick, so that a sender is woken once per answer, not twice. */
void xbp_posted_send(xb_pump_t *p, const xbp_rid_t *rid)
{
    if (!rid) {
        while (p->n_posted)
            send_posted(p, p->n_posted - 1);
        return;
    }
    ssize_t i = posted_index(p, rid);
    if (i >= 0)
        send_posted(p, (size_t)i);
}

/* One more accepted POST of the client rid. */
void xbp_posted_count(xb_pump_t *p, const xbp_rid_t *rid)
{
    p->accepted++;
    ssize_t i = posted_index(p, rid);
    if (i >= 0) {
        p->posted[i].n++;
        return;
    }
    if (p->n_posted == XB_POSTED_CLIENTS)
        xbp_posted_send(p, NULL); /* tells the counted ones now, starts over */
    p->posted[p->n_posted++] = (posted_t){*rid, 1};
}

/* ---- deliveries ------------------------------------------------------------ */

static delivery_t *delivery_for(xb_pump_t *p, lstn_t *l, conv_t *conv, const char *chain,
                                const char *thread, const origin_t *origin)
{
    delivery_t *d = xbp_delivery_new(p);
    if (!d)
        return NULL;
    d->listener = l->index;
    d->chain = chain ? strdup(chain) : NULL;
    xb_strlcpy(d->thread, thread, sizeof d->thread);
    if ((chain && !d->chain) || xbp_origin_copy(&d->origin, origin) != 0) {
        xbp_delivery_free(p, d);
        return NULL;
    }
    if (conv) {
        d->conv = conv;
        conv->pending++;
    }
    return d;
}

/* Hands a SystemError (bytes, taken) to listener l: from the pump itself,
 * so whatever happens to it is never answered again. journaled: its entry
 * was written with its slot. */
static void error_to_listener(xb_pump_t *p, lstn_t *l, conv_t *conv, const char *chain,
                              const char *thread, const char *msg_id, char *bytes, size_t len,
                              bool journaled, uint64_t pipe_ref)
{
    origin_t sys = {.is_system = true, .pipe_ref = pipe_ref}; /* a step's, for its run */
    xb_strlcpy(sys.name, SYSTEM_NAME, sizeof sys.name);
    delivery_t *d = delivery_for(p, l, conv, chain, thread, &sys);
    if (!d) {
        free(bytes);
        p->undeliverable++;
        if (conv) /* lost: its branch ends in failure */
            conv->failed = true;
        return;
    }
    xb_strlcpy(d->msg_id, msg_id, sizeof d->msg_id);
    d->envelope = bytes;
    d->len = len;
    d->is_error = true;
    d->error_payload = true;
    d->journaled = journaled;
    xbp_outbox_submit(p, d);
}

/* ---- SystemErrors ---------------------------------------------------------- */

static void count_error(xb_pump_t *p, const origin_t *o, xb_code_t code)
{
    xb_code_t wire = xb_code_wire(code);
    p->errors[wire]++;
    if (!o->is_client && !o->is_system) {
        lstn_t *l = xbp_pump_listener(p, o->name);
        if (l)
            l->errors[wire]++;
    }
}

/* A message to a client: sent, or held in order while the client does not
 * read (clients.c); lost only when the client is gone. journaled: its
 * journal entry stays until the client acknowledges it. */
static void deliver_to_client(xb_pump_t *p, const xbp_rid_t *rid, const char *msg_id,
                              const char *thread, const char *bytes, size_t len, bool journaled,
                              bool acks)
{
    xbp_posted_send(p, rid); /* both arrive together: one wake-up */
    xb_frames_t *f = xb_proto_deliver(msg_id, bytes, len);
    int rc = f ? xbp_client_send_answer(p, rid, &f, thread, journaled ? msg_id : NULL, acks) : -1;
    if (rc < 0) {
        p->undeliverable++;
        XB_WARN("pump", "message %s (thread %s): the client that should receive it is gone", msg_id,
                thread);
    } else if (rc == 0) {
        p->to_clients++; /* a held one counts when it leaves */
    }
    xb_frames_destroy(&f);
}

/* Records one slot for a message. Returns 0 or -1 with err. */
static int record(xb_pump_t *p, const char *thread, const char *from, const char *to,
                  const char *type, const char *msg_id, int64_t ts, const char *payload, size_t len,
                  xb_error_t *err)
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
    int64_t ts = xbp_now_us();
    if (xb_envelope_set_id(env, msg_id, err) != 0 || xb_envelope_set_ts(env, ts, err) != 0 ||
        xb_envelope_set_depth(env, depth, err) != 0 ||
        xb_envelope_serialize(env, out, out_len) != 0)
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

/* Whether the same message may succeed when sent again unchanged: the
 * failure was about the moment (a slow handler, storage, a full bus, a
 * restart), not about the message. */
static bool retry_allowed(xb_code_t code)
{
    xb_code_t wire = xb_code_wire(code);
    return wire == XB_ERR_TIMEOUT || wire == XB_ERR_BACKEND || wire == XB_ERR_LIMIT ||
           wire == XB_ERR_SHUTDOWN;
}

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

/* A SystemError of conv goes to `to` when wanted. The client that gets it
 * has heard of the failure; a listener that gets it decides its branch (it
 * passes it on, or its DONE ends the branch in failure); one that gets
 * nothing (quiet, or the pump is stopping) leaves the branch failed. */
static void conv_error(conv_t *conv, const origin_t *to, xb_code_t code, const char *message,
                       bool wanted)
{
    if (!conv)
        return;
    xbp_conv_note_failure(conv, code, to->is_client || to->is_system ? NULL : to->name, 0, message);
    if (to->is_client && wanted)
        conv->client_told = true;
    else if (!wanted)
        conv->failed = true;
}

static void system_error_now(xb_pump_t *p, const origin_t *to, conv_t *conv, xb_code_t code,
                             const char *message);

/* A recorded answer to a client that acknowledges, outside a turn's batch:
 * journaled alone. False when there is no journal or the write failed (the
 * answer is then sent as without one). */
static bool journal_answer_alone(xb_pump_t *p, const origin_t *to, const char *msg_id,
                                 const char *bytes, size_t len)
{
    if (!xbp_journal_on(p))
        return false;
    xbp_jentry_t e;
    xbp_jentry_answer(&e, msg_id, &to->rid, to->thread, bytes, len);
    xb_error_t err;
    if (xbp_journal_put(p, msg_id, &e, &err) == 0)
        return true;
    XB_WARN("pump", "answer %s to a client not journaled: %s", msg_id, err.message);
    return false;
}

void xbp_route_system_error(xb_pump_t *p, const origin_t *to, conv_t *conv, xb_code_t code,
                            const char *message)
{
    if (to->pipeline) { /* its run decides (pipeline.c) */
        xbp_pipeq_error(p, to, conv, code, message);
        return;
    }
    bool wanted = system_error_wanted(p, to, code, message);
    conv_error(conv, to, code, message, wanted);
    if (wanted)
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
    bool recorded = true;
    if (seal(p, env, SYSTEM_NAME, to->name, to->thread, msg_id, 0, &bytes, &len, &err) != 0) {
        recorded = false;
        XB_ERROR("pump", "SystemError for %s not recorded: %s", to->name, err.message);
        /* Recording failed (backend down): the sender still hears about it. */
        if (!bytes && xb_envelope_serialize(env, &bytes, &len) != 0)
            bytes = NULL;
    }
    xb_envelope_destroy(&env);
    if (bytes && to->redelivered > 0) { /* it may repeat one sent before a restart */
        size_t mlen = 0;
        char *marked = xb_envelope_mark_redelivered(bytes, len, to->redelivered, &mlen);
        if (marked) {
            free(bytes);
            bytes = marked;
            len = mlen;
        }
    }
    if (!bytes)
        return;
    if (to->is_client) {
        bool journaled = recorded && to->acks && journal_answer_alone(p, to, msg_id, bytes, len);
        deliver_to_client(p, &to->rid, msg_id, to->thread, bytes, len, journaled, to->acks);
        free(bytes);
        return;
    }
    lstn_t *l = xbp_pump_listener(p, to->name);
    if (!l) {
        free(bytes);
        p->undeliverable++;
        if (conv)
            conv->failed = true;
        return;
    }
    error_to_listener(p, l, conv, to->chain, to->thread, msg_id, bytes, len, false, to->pipe_ref);
}

/* ---- failing deliveries ---------------------------------------------------- */

void xbp_outbox_submit(xb_pump_t *p, delivery_t *d)
{
    lstn_t *l = &p->listeners[d->listener];
    if (xbp_delivery_submit(p, d) != 0)
        xbp_delivery_fail(p, d, XB_ERR_LIMIT,
                          "listener %s is full: %ld messages (%zu bytes) waiting", l->cfg->name,
                          xbp_lqueue_len(l->queue), xbp_lqueue_bytes(l->queue));
}

void xbp_delivery_failed_by_handler(xb_pump_t *p, delivery_t *d, const char *why)
{
    lstn_t *l = &p->listeners[d->listener];
    xbp_delivery_answered(p, d);
    xbp_delivery_fail(p, d, XB_ERR_CRASH, "listener %s failed: %s", l->cfg->name, why);
    xbp_dispatch(p, l);
}

void xbp_delivery_fail(xb_pump_t *p, delivery_t *d, xb_code_t code, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    xbp_delivery_detach(p, d);
    xbp_conv_note_failure(d->conv, code, p->listeners[d->listener].cfg->name, d->depth, msg);
    if (d->conv && d->error_payload) /* the SystemError it carried is lost */
        d->conv->failed = true;
    if (!d->is_error && !d->origin.is_system) {
        origin_t to = d->origin;             /* borrows its chain */
        if (d->redelivered > to.redelivered) /* may repeat one from before the restart */
            to.redelivered = d->redelivered;
        xbp_route_system_error(p, &to, d->conv, code, msg);
    } else {
        XB_WARN("pump", "a SystemError for %s could not be delivered: %s (%s)", d->origin.name, msg,
                xb_code_name(code));
        p->undeliverable++;
        if (d->error_payload) /* inside a pipeline step: the step failed */
            xbp_pipeq_step_failed(p, d->conv, d->origin.pipe_ref, code, msg);
    }
    xbp_delivery_free(p, d);
}

void xbp_deliveries_fail_all(xb_pump_t *p)
{
    for (uint32_t i = 0; i < p->dcap; i++) {
        delivery_t *d = p->dslab[i];
        if (!d)
            continue;
        if (d->journaled) { /* kept for the next start, which delivers it again */
            d->journaled = false;
            if (d->conv) /* and its working memory with it */
                d->conv->journal_kept = true;
            xbp_delivery_fail(p, d, XB_ERR_SHUTDOWN,
                              "the pump stopped with message %s in hand: it stays in the "
                              "journal and is delivered again when the pump starts",
                              d->msg_id);
            continue;
        }
        xbp_delivery_fail(p, d, XB_ERR_SHUTDOWN, "the pump is shutting down");
    }
}

void xbp_convs_report(xb_pump_t *p)
{
    while (p->ended) {
        conv_t *c = p->ended;
        p->ended = c->next_ended;
        /* a listener's own SystemError payload, dropped: nothing else known */
        xbp_conv_note_failure(c, XB_ERR_CRASH, NULL, 0, "a SystemError was not passed on");
        origin_t o = {.is_client = true,
                      .acks = c->client_acks,
                      .redelivered = c->redelivered,
                      .rid = c->client};
        xb_strlcpy(o.name, c->client_hop, sizeof o.name);
        xb_strlcpy(o.thread, c->client_thread, sizeof o.thread);
        char msg[1024], hop[32] = "";
        if (c->fail_hop > 0)
            snprintf(hop, sizeof hop, " at hop %d", c->fail_hop);
        snprintf(msg, sizeof msg, "the conversation failed%s%s%s: %s: %s", hop,
                 c->fail_listener[0] ? " in listener " : "", c->fail_listener,
                 xb_code_name(xb_code_wire(c->fail_code)), c->fail_message ? c->fail_message : "");
        if (system_error_wanted(p, &o, c->fail_code, msg))
            system_error_now(p, &o, NULL, c->fail_code, msg);
        xbp_conv_free(c);
    }
}

/* ---- staged messages ------------------------------------------------------- */

void xbp_route_staged_free(staged_t *s)
{
    free(s->chain);
    free(s->envelope);
    s->chain = s->envelope = NULL;
    xb_wmem_list_free(&s->wmem);
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
    s->ts = xbp_now_us();
    xb_envelope_fields_t fields = {SYSTEM_NAME, o->name, s->thread,     s->msg_id,
                                   s->ts,       0,       o->redelivered};
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
        xbp_route_staged_free(s);
        return -1;
    }
    return 0;
}

/* A SystemError to o about a message that failed while it was routed: it
 * joins the turn like the messages that succeeded (written in the turn's
 * batch, delivered after the commit). When it cannot be staged (a full
 * batch, no memory) it is recorded and sent on its own at once. */
void xbp_outbox_stage_error(xb_pump_t *p, batch_t *batch, const origin_t *o, conv_t *conv,
                            xb_code_t code, const char *message)
{
    if (o->pipeline) { /* its run decides (pipeline.c) */
        xbp_pipeq_error(p, o, conv, code, message);
        return;
    }
    bool wanted = system_error_wanted(p, o, code, message);
    conv_error(conv, o, code, message, wanted);
    if (!wanted)
        return;
    lstn_t *l = o->is_client ? NULL : xbp_pump_listener(p, o->name);
    if (!o->is_client && !l) {
        p->undeliverable++;
        if (conv)
            conv->failed = true;
        return;
    }
    if (batch && batch->n < MAX_STAGED &&
        stage_error_item(&batch->items[batch->n], o, l, code, message) == 0) {
        batch->n++;
        return;
    }
    system_error_now(p, o, conv, code, message);
}

/* A staged SystemError goes to the unit's origin. */
static void dispatch_error(xb_pump_t *p, const origin_t *origin, conv_t *conv, staged_t *s)
{
    if (!s->listener) {
        deliver_to_client(p, &origin->rid, s->msg_id, s->thread, s->envelope, s->len, s->journaled,
                          origin->acks);
        xbp_route_staged_free(s);
        return;
    }
    char *bytes = s->envelope;
    s->envelope = NULL;
    error_to_listener(p, s->listener, conv, s->chain, s->thread, s->msg_id, bytes, s->len,
                      s->journaled, origin->pipe_ref);
    xbp_route_staged_free(s);
}

/* The working-memory entries listener l needs for a message of conv
 * (docs/pipelines.md): 0 with *out filled, or -1 when some are missing or
 * cannot be read: the sender (origin) then has its SystemError
 * (missing-input, naming every missing entry; backend) and the message
 * goes no further. */
static int fetch_needs(xb_pump_t *p, lstn_t *l, conv_t *conv, const char *chain,
                       const origin_t *origin, xb_wmem_list_t *out)
{
    memset(out, 0, sizeof *out);
    if (l->cfg->n_needs == 0) /* the common case: nothing to compute or read */
        return 0;
    char cbuf[XBP_SCOPE_MAX], why[600];
    xb_error_t err;
    xb_error_clear(&err);
    const char *conversation = xbp_wmem_scope(conv, chain, origin->pipe_ref, cbuf, sizeof cbuf);
    int rc = xbp_wmem_fetch(p, l->cfg, conversation, out, why, sizeof why, &err);
    if (rc == 0)
        return 0;
    if (rc > 0)
        xbp_route_system_error(p, origin, conv, XB_ERR_MISSING_INPUT, why);
    else
        xbp_route_system_error(p, origin, conv, err.code, err.message);
    return -1;
}

/* A recorded message to a pipeline's hop: an event for pipeline.c, which
 * starts a run or gives a step its response. Takes s's buffers. */
static void to_pipeline(xb_pump_t *p, const origin_t *origin, conv_t *conv, staged_t *s)
{
    xbp_pev_t *e = xbp_pev_new(p, XBP_PEV_MESSAGE, s->pipeline - 1, conv, origin);
    if (e && !(e->data = malloc(s->payload_len + 1)))
        xbp_pev_free(p, &e);
    if (!e) {
        xbp_route_staged_free(s);
        xbp_route_system_error(p, origin, conv, XB_ERR_LIMIT, "pump out of memory");
        return;
    }
    memcpy(e->data, s->envelope + s->payload_off, s->payload_len);
    e->data[s->payload_len] = '\0';
    e->len = s->payload_len;
    e->respond = s->respond;
    e->error = strcmp(s->type, XB_SYSTEM_ERROR_TYPE) == 0;
    e->chain = s->chain;
    s->chain = NULL;
    memcpy(e->thread, s->thread, sizeof e->thread);
    memcpy(e->msg_id, s->msg_id, sizeof e->msg_id);
    e->depth = s->depth;
    xbp_route_staged_free(s);
    xbp_pipeq_push(p, e);
}

/* Hands a recorded message to its receiver. Takes s's buffers. */
void xbp_route_dispatch_staged(xb_pump_t *p, const origin_t *origin, conv_t *conv, staged_t *s)
{
    if (s->is_error) {
        dispatch_error(p, origin, conv, s);
        return;
    }
    p->routed++;
    bool error_payload = strcmp(s->type, XB_SYSTEM_ERROR_TYPE) == 0;
    if (s->pipeline) {
        to_pipeline(p, origin, conv, s);
        return;
    }
    if (!s->listener) {
        if (error_payload) /* a listener passed a SystemError on to the client */
            conv->client_told = true;
        deliver_to_client(p, &conv->client, s->msg_id, s->thread, s->envelope, s->len, s->journaled,
                          conv->client_acks);
        xbp_route_staged_free(s);
        return;
    }
    xb_wmem_list_t wmem = s->wmem;
    memset(&s->wmem, 0, sizeof s->wmem);
    if (!s->wmem_given && fetch_needs(p, s->listener, conv, s->chain, origin, &wmem) != 0) {
        if (s->journaled) /* it ends here */
            xbp_journal_done(p, s->msg_id);
        xbp_route_staged_free(s); /* the listener never sees it */
        return;
    }
    delivery_t *d = delivery_for(p, s->listener, conv, s->chain, s->thread, origin);
    if (!d) {
        xb_wmem_list_free(&wmem);
        xbp_route_staged_free(s);
        xbp_route_system_error(p, origin, conv, XB_ERR_LIMIT, "pump out of memory");
        return;
    }
    d->wmem = wmem;
    xb_strlcpy(d->msg_id, s->msg_id, sizeof d->msg_id);
    d->envelope = s->envelope;
    d->len = s->len;
    d->depth = s->depth;
    d->error_payload = error_payload;
    d->journaled = s->journaled;
    d->redelivered = s->redelivered; /* its answers are marked too */
    s->envelope = NULL;
    xbp_route_staged_free(s);
    xbp_outbox_submit(p, d);
}

/* ---- verdicts on SEND and POST ---------------------------------------------- */

void xbp_route_reject(xb_pump_t *p, const xbp_rid_t *rid, const char *req, const origin_t *o,
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
    xb_frames_t *f = xb_proto_rejected(req, bytes, len);
    if (f)
        xbp_client_send(p, rid, &f, NULL, NULL);
    xb_frames_destroy(&f);
    free(bytes);
}

void xbp_route_accept(xb_pump_t *p, const xbp_rid_t *rid, const char *req, const char *thread,
                      const char *msg_id)
{
    p->accepted++;
    xb_frames_t *f = xb_proto_accepted(req, thread, msg_id);
    if (f)
        xbp_client_send(p, rid, &f, NULL, NULL);
    xb_frames_destroy(&f);
}
