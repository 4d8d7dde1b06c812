/* Group commit (see commit.h): the messages routed in one turn of the event
 * loop wait here for their slots, which are written in one backend batch;
 * then they are delivered and their SENDs answered, in the order they
 * arrived. */
#include "commit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "journal.h"
#include "log.h"
#include "pipeq.h"
#include "security.h"
#include "str.h"

/* ---- the turn's slots ------------------------------------------------------------- */

/* A turn commits early past this many staged messages (checked between two
 * incoming messages, never inside the routing of one: a commit may end
 * conversations that code is still holding). */
#define TURN_ITEMS_MAX 1024

struct xb_turn {
    batch_t stage; /* what the message being routed stages */
    staged_t *items;
    size_t n_items, cap_items;
    unit_t *units;
    size_t n_units, cap_units;
    xb_slot_fields_t *fields; /* scratch of the commit, cap_items long */
    long *index;
    xb_journal_entry_t *journal; /* the entries of the items, id NULL for none */
    char **jbytes;               /* their bytes (owned during the commit) */
    xb_wmem_batch_t *wmem;       /* memory writes going with each item (units' wmem) */
};
typedef struct xb_turn turn_t;

int xbp_commit_init(xb_pump_t *p)
{
    p->turn = calloc(1, sizeof *p->turn);
    return p->turn ? 0 : -1;
}

batch_t *xbp_commit_stage(xb_pump_t *p)
{
    p->turn->stage.n = 0;
    return &p->turn->stage;
}

/* Room for n more items and one more unit. */
static int turn_reserve(turn_t *t, size_t n)
{
    if (t->n_units == t->cap_units) {
        size_t cap = t->cap_units ? t->cap_units * 2 : 64;
        unit_t *u = realloc(t->units, cap * sizeof *u);
        if (!u)
            return -1;
        t->units = u;
        t->cap_units = cap;
    }
    if (t->n_items + n <= t->cap_items)
        return 0;
    size_t cap = t->cap_items ? t->cap_items : 256;
    while (cap < t->n_items + n)
        cap *= 2;
    staged_t *items = realloc(t->items, cap * sizeof *items);
    if (items)
        t->items = items;
    xb_slot_fields_t *fields = realloc(t->fields, cap * sizeof *fields);
    if (fields)
        t->fields = fields;
    long *index = realloc(t->index, cap * sizeof *index);
    if (index)
        t->index = index;
    xb_journal_entry_t *journal = realloc(t->journal, cap * sizeof *journal);
    if (journal)
        t->journal = journal;
    char **jbytes = realloc(t->jbytes, cap * sizeof *jbytes);
    if (jbytes)
        t->jbytes = jbytes;
    xb_wmem_batch_t *wmem = realloc(t->wmem, cap * sizeof *wmem);
    if (wmem)
        t->wmem = wmem;
    if (!items || !fields || !index || !journal || !jbytes || !wmem)
        return -1;
    t->cap_items = cap;
    return 0;
}

/* A unit that cannot wait (no memory): its messages fail at once. */
static void fail_unit_now(xb_pump_t *p, batch_t *batch, const unit_t *u)
{
    for (size_t i = 0; i < batch->n; i++)
        xbp_route_staged_free(&batch->items[i]);
    batch->n = 0;
    if (u->is_send)
        xbp_route_reject(p, &u->origin.rid, u->req, &u->origin, XB_ERR_LIMIT, "pump out of memory");
    else
        xbp_route_system_error(p, &u->origin, u->conv, XB_ERR_LIMIT, "pump out of memory");
}

/* Moves batch's staged messages into the turn under the unit u (whose
 * origin is copied and whose conversation is held until the commit). */
int xbp_commit_defer(xb_pump_t *p, batch_t *batch, unit_t *u)
{
    turn_t *t = p->turn;
    unit_t *dst = NULL;
    if (turn_reserve(t, batch->n) == 0) {
        dst = &t->units[t->n_units];
        *dst = *u;
        if (xbp_origin_copy(&dst->origin, &u->origin) != 0) {
            xbp_origin_clear(&dst->origin);
            dst = NULL;
        }
    }
    if (!dst) {
        fail_unit_now(p, batch, u);
        xbp_wmem_writes_free(&u->wmem);
        return -1;
    }
    u->wmem = NULL; /* the turn's unit has it */
    dst->first = t->n_items;
    dst->n = batch->n;
    xb_error_clear(&dst->store_err);
    memcpy(&t->items[t->n_items], batch->items, batch->n * sizeof *batch->items);
    t->n_items += batch->n;
    batch->n = 0;
    if (dst->conv)
        dst->conv->pending++;
    t->n_units++;
    return 0;
}

bool xbp_commit_turn_full(const xb_pump_t *p)
{
    const turn_t *t = p->turn;
    return t && t->n_items >= TURN_ITEMS_MAX;
}

/* The journal entry of item i (a message to a listener): what redelivery
 * needs, written with its slot. Without memory for it the message is simply
 * not journaled. A SystemError the routing raised comes from the pump. */
static void journal_item(turn_t *t, size_t i, const unit_t *u)
{
    staged_t *s = &t->items[i];
    const conv_t *c = u->conv;
    xbp_jentry_t e = {.chain = s->chain,
                      .depth = s->depth,
                      .error_payload = strcmp(s->type, XB_SYSTEM_ERROR_TYPE) == 0,
                      .root = c ? c->root : "",
                      .has_client = c && c->has_client,
                      .client_acks = c && c->client_acks,
                      .origin = u->origin,
                      .envelope = s->envelope,
                      .len = s->len};
    if (s->is_error) {
        e.origin = (origin_t){.is_system = true};
        xb_strlcpy(e.origin.name, XB_SYSTEM_FROM, sizeof e.origin.name);
    }
    xb_strlcpy(e.msg_id, s->msg_id, sizeof e.msg_id);
    xb_strlcpy(e.listener, s->listener->cfg->name, sizeof e.listener);
    xb_strlcpy(e.thread, s->thread, sizeof e.thread);
    if (e.has_client) {
        e.client = c->client;
        xb_strlcpy(e.client_hop, c->client_hop, sizeof e.client_hop);
        xb_strlcpy(e.client_thread, c->client_thread, sizeof e.client_thread);
    }
    size_t len = 0;
    if (xbp_jentry_encode(&e, &t->jbytes[i], &len) == 0)
        t->journal[i] = (xb_journal_entry_t){s->msg_id, t->jbytes[i], len};
}

/* The client item i goes to, when that client acknowledges its answers
 * (they are journaled until it does); NULL otherwise. A SystemError goes to
 * the unit's origin, anything else to the conversation's client. */
static const xbp_rid_t *acking_client(const staged_t *s, const unit_t *u)
{
    if (s->listener || s->pipeline)
        return NULL;
    if (s->is_error)
        return u->origin.is_client && u->origin.acks ? &u->origin.rid : NULL;
    return u->conv && u->conv->has_client && u->conv->client_acks ? &u->conv->client : NULL;
}

static void journal_answer(turn_t *t, size_t i, const xbp_rid_t *client)
{
    staged_t *s = &t->items[i];
    xbp_jentry_t e;
    xbp_jentry_answer(&e, s->msg_id, client, s->thread, s->envelope, s->len);
    size_t len = 0;
    if (xbp_jentry_encode(&e, &t->jbytes[i], &len) == 0)
        t->journal[i] = (xb_journal_entry_t){s->msg_id, t->jbytes[i], len};
}

/* Writes every slot of the turn: one batch for all. When the backend
 * refused a slot (a full thread, an oversized slot: XB_ERR_LIMIT, and then
 * nothing after that slot was stored), every unit none of whose slots was
 * written is tried once more on its own, so that the refusal is only its
 * own message's failure. Any other failure (an outage, a lost reply) is not
 * retried: the slots may have been stored, and a retry could store them
 * twice. */
/* The item of u its memory writes go with: its first message (a unit with
 * writes has one, route.c sees to it); -1 when u has no writes. */
static ssize_t writes_item(const turn_t *t, const unit_t *u)
{
    for (size_t i = u->first; u->wmem && i < u->first + u->n; i++)
        if (!t->items[i].is_error)
            return (ssize_t)i;
    return -1;
}

static void store_turn(xb_pump_t *p, turn_t *t)
{
    bool journal = xbp_journal_on(p), writes = false;
    for (size_t u = 0; u < t->n_units; u++) {
        unit_t *un = &t->units[u];
        ssize_t w = writes_item(t, un);
        for (size_t i = un->first; i < un->first + un->n; i++) {
            t->wmem[i] = (xb_wmem_batch_t){0};
            if ((ssize_t)i == w) {
                t->wmem[i] = xbp_wmem_writes_batch(un->wmem);
                writes = true;
            }
            staged_t *s = &t->items[i];
            const char *from = s->is_error ? XB_SYSTEM_FROM : un->origin.name;
            t->fields[i] = (xb_slot_fields_t){
                s->thread,     from, s->to, s->type, s->msg_id, s->ts, s->envelope + s->payload_off,
                s->payload_len};
            t->index[i] = -1;
            t->journal[i] = (xb_journal_entry_t){0};
            t->jbytes[i] = NULL;
            const xbp_rid_t *client = journal ? acking_client(s, un) : NULL;
            if (journal && s->listener)
                journal_item(t, i, un);
            else if (client)
                journal_answer(t, i, client);
        }
    }
    if (t->n_items == 0)
        return; /* REPLYs all of whose messages failed while routed */
    xb_error_t e;
    xb_error_clear(&e);
    p->slot_batches++;
    p->batched_slots += t->n_items;
    if (xb_buffer_append_all(p->buffer, t->n_items, t->fields, journal ? t->journal : NULL,
                             writes ? t->wmem : NULL, t->index, &e) == 0)
        return;
    for (size_t u = 0; u < t->n_units; u++) {
        unit_t *un = &t->units[u];
        size_t missing = 0;
        for (size_t i = un->first; i < un->first + un->n; i++)
            missing += t->index[i] < 0;
        if (missing == 0)
            continue;
        un->store_err = e;
        if (missing == un->n && t->n_units > 1 && e.code == XB_ERR_LIMIT) {
            /* Nothing of it written: try it alone. */
            xb_error_t alone;
            xb_error_clear(&alone);
            p->slot_batches++;
            if (xb_buffer_append_all(p->buffer, un->n, t->fields + un->first,
                                     journal ? t->journal + un->first : NULL,
                                     writes ? t->wmem + un->first : NULL, t->index + un->first,
                                     &alone) == 0)
                xb_error_clear(&un->store_err);
            else
                un->store_err = alone;
        }
    }
}

/* Dispatches what of u was written and gives its verdict: a SEND is
 * ACCEPTED when at least one of its messages went out, else REJECTED; every
 * other failure goes to the origin as a SystemError. Then the SystemErrors
 * its routing raised (recorded with the turn when the batch took them).
 * Releases u's hold. */
static void finish_unit(xb_pump_t *p, turn_t *t, unit_t *u)
{
    int sent = 0;
    for (size_t i = u->first; i < u->first + u->n; i++)
        sent += !t->items[i].is_error && t->index[i] >= 0;
    for (size_t i = u->first; i < u->first + u->n; i++) {
        staged_t *s = &t->items[i];
        if (s->is_error)
            continue;
        if (t->index[i] >= 0) {
            xbp_route_dispatch_staged(p, &u->origin, u->conv, s);
            continue;
        }
        if (s->pipeline && s->respond) /* a step's response lost: its run fails */
            xbp_pipeq_step_failed(p, u->conv, u->origin.pipe_ref, u->store_err.code,
                                  u->store_err.message);
        xbp_route_staged_free(s);
        if (!u->is_send || sent > 0)
            xbp_route_system_error(p, &u->origin, u->conv, u->store_err.code, u->store_err.message);
    }
    if (u->is_send && sent == 0)
        xbp_route_reject(p, &u->origin.rid, u->req, &u->origin, u->store_err.code,
                         u->store_err.message);
    else if (u->is_send && u->post)
        xbp_posted_count(p, &u->origin.rid);
    else if (u->is_send)
        xbp_route_accept(p, &u->origin.rid, u->req, u->origin.thread, u->msg_id);
    if (u->is_send && sent > 0)
        xbp_security_owns(p, u->origin.key, u->origin.thread);
    for (size_t i = u->first; i < u->first + u->n; i++) {
        staged_t *s = &t->items[i];
        if (!s->is_error)
            continue;
        /* Not written (the backend failed): the sender still hears about it. */
        if (t->index[i] < 0)
            XB_ERROR("pump", "SystemError for %s not recorded: %s", s->to, u->store_err.message);
        xbp_route_dispatch_staged(p, &u->origin, u->conv, s);
    }
    ssize_t w = writes_item(t, u);
    if (w >= 0 && t->index[w] >= 0) /* stored with its slot */
        xbp_wmem_writes_stored(u->conv, u->wmem);
    xbp_wmem_writes_free(&u->wmem);
    conv_t *c = u->conv;
    if (c && --c->pending <= 0)
        xbp_conv_release(p, c);
    xbp_origin_clear(&u->origin);
}

void xbp_commit_turn(xb_pump_t *p)
{
    turn_t *t = p->turn;
    if (!t || t->n_units == 0)
        return;
    store_turn(p, t);
    for (size_t i = 0; i < t->n_items; i++) {
        t->items[i].journaled = t->journal[i].id && t->index[i] >= 0;
        free(t->jbytes[i]);
    }
    size_t n = t->n_units;
    t->n_units = 0; /* nothing below defers, but a commit must never see a unit twice */
    for (size_t u = 0; u < n; u++)
        finish_unit(p, t, &t->units[u]);
    t->n_items = 0;
}

void xbp_commit_free(xb_pump_t *p)
{
    turn_t *t = p->turn;
    if (!t)
        return;
    xbp_commit_turn(p);
    free(t->items);
    free(t->units);
    free(t->fields);
    free(t->index);
    free(t->journal);
    free(t->jbytes);
    free(t->wmem);
    free(t);
    p->turn = NULL;
}
