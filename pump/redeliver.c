/* Redelivery (docs/reliability.md "The journal"): a pump that starts on a
 * journal with entries delivers each again to its listener, queued like any
 * delivery until the listener's processes register, with its message id
 * unchanged and a mark in the envelope (<x:redelivered>N</x:redelivered> in
 * <meta>) so that a handler can tell and deduplicate. Its conversation
 * continues: answers go to the conversation's client hop. An entry
 * delivered again more than limits.max_redeliveries times becomes a dead
 * letter instead: kept in the journal under the id "dead:" + message id,
 * with its reason, for `xmlbus dead-letters`. */
#include "redeliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envwrite.h"
#include "log.h"
#include "outbox.h"
#include "wmem.h"
#include "str.h"

/* The entry's envelope with the mark <x:redelivered>n</x:redelivered>
 * (bus/envwrite.c). NULL on no memory. */
static char *mark_envelope(const xbp_jentry_t *e, long n, size_t *len)
{
    return xb_envelope_mark_redelivered(e->envelope, e->len, n, len);
}

/* The conversation of the entry, found or made again. NULL: none (no root,
 * or no memory). */
/* A step of a pipeline run from before the restart: the run is lost with
 * the pump, but what the step answers, or how it fails, still reaches the
 * pipeline (pipeline.c), which tells the run's caller once. A run id of 0
 * names no run. */
static void lost_run_origin(const xb_pump_t *p, origin_t *o)
{
    if (o->is_client || o->is_system)
        return;
    int i = xbp_pump_pipeline(p, o->name, NULL);
    if (i < 0)
        return;
    o->pipeline = i + 1;
    o->pipe_ref = 1; /* run 0, item 1 */
}

static conv_t *conv_of(xb_pump_t *p, const xbp_jentry_t *e)
{
    if (!e->root[0])
        return NULL;
    conv_t *c = xb_strmap_get(p->convs, e->root);
    if (c) {
        if (e->count > c->redelivered)
            c->redelivered = (int)e->count;
        return c;
    }
    c = xbp_conv_new(p, e->root);
    if (c && e->count > c->redelivered)
        c->redelivered = (int)e->count;
    if (c)
        c->has_memory = true; /* what it wrote before the crash goes with it */
    if (c && e->has_client) {
        c->has_client = true;
        c->client_acks = e->client_acks;
        c->client = e->client;
        xb_strlcpy(c->client_hop, e->client_hop, sizeof c->client_hop);
        xb_strlcpy(c->client_thread, e->client_thread, sizeof c->client_thread);
    }
    return c;
}

int xbp_dead_letter(xb_pump_t *p, xbp_jentry_t *e, const char *reason)
{
    char id[64];
    snprintf(id, sizeof id, "%s%s", XBP_DEAD_PREFIX, e->msg_id);
    xb_strlcpy(e->last_error, reason, sizeof e->last_error);
    xb_error_t err;
    const char *ids[1] = {e->msg_id};
    if (xbp_journal_put(p, id, e, &err) != 0 ||
        xb_backend_journal_remove(p->backend, 1, ids, &err) != 0) {
        XB_ERROR("pump", "message %s: cannot make it a dead letter: %s", e->msg_id, err.message);
        return -1;
    }
    XB_WARN("pump", "message %s to %s is a dead letter: %s", e->msg_id, e->listener, reason);
    return 0;
}

/* The registry pairs the answers need (the receiver's and the sender's
 * chain and thread): a crash may have come before the pump's write-behind
 * stored them. Setting a pair again is harmless. */
static void register_again(xb_pump_t *p, const xbp_jentry_t *e)
{
    xb_error_t err;
    if ((e->chain[0] && e->thread[0] &&
         xb_registry_set(p->registry, e->chain, e->thread, &err) != 0) ||
        (e->origin.chain && e->origin.thread[0] &&
         xb_registry_set(p->registry, e->origin.chain, e->origin.thread, &err) != 0))
        XB_WARN("pump", "message %s: registry not restored: %s", e->msg_id, err.message);
}

/* An answer to a client that acknowledges: sent again, or held until the
 * client reconnects (clients.c), and journaled until its ACK. */
static int redeliver_answer(xb_pump_t *p, xbp_jentry_t *e, char *why, size_t cap)
{
    xb_error_t err;
    e->count++;
    if (xbp_journal_put(p, e->msg_id, e, &err) != 0) {
        snprintf(why, cap, "cannot mark it redelivered: %s", err.message);
        return -1;
    }
    size_t len = 0;
    char *env = mark_envelope(e, e->count, &len);
    xb_frames_t *f = env ? xb_proto_deliver(e->msg_id, env, len) : NULL;
    free(env);
    int rc = f ? xbp_client_send(p, &e->client, &f, e->thread, e->msg_id) : -1;
    xb_frames_destroy(&f);
    if (rc < 0) {
        snprintf(why, cap, "cannot send it to its client: out of memory");
        return -1;
    }
    XB_INFO("pump", "answer %s (thread %s) sent again to its client (time %ld)", e->msg_id,
            e->thread, e->count);
    return 0;
}

int xbp_redeliver_entry(xb_pump_t *p, xbp_jentry_t *e, char *why, size_t cap)
{
    if (e->to_client)
        return redeliver_answer(p, e, why, cap);
    lstn_t *l = xbp_pump_listener(p, e->listener);
    if (!l) {
        snprintf(why, cap, "listener %s is not in the organism", e->listener);
        return -1;
    }
    xb_error_t err;
    e->count++;
    if (xbp_journal_put(p, e->msg_id, e, &err) != 0) {
        snprintf(why, cap, "cannot mark it redelivered: %s", err.message);
        return -1;
    }
    register_again(p, e);
    xb_wmem_list_t wmem;
    char cbuf[256];
    why[0] = '\0';
    xb_error_clear(&err);
    if (xbp_wmem_fetch(
            p, l->cfg,
            xbp_wmem_conversation(NULL, e->root[0] ? e->root : e->chain, cbuf, sizeof cbuf), &wmem,
            why, cap, &err) != 0) {
        if (err.code != XB_OK && !why[0])
            snprintf(why, cap, "%s", err.message);
        return -1;
    }
    delivery_t *d = xbp_delivery_new(p);
    if (!d) {
        xb_wmem_list_free(&wmem);
        snprintf(why, cap, "out of memory");
        return -1;
    }
    d->listener = l->index;
    d->wmem = wmem;
    d->chain = e->chain;
    e->chain = NULL;
    xb_strlcpy(d->thread, e->thread, sizeof d->thread);
    xb_strlcpy(d->msg_id, e->msg_id, sizeof d->msg_id);
    d->depth = e->depth;
    d->error_payload = e->error_payload;
    d->origin = e->origin;
    e->origin.chain = NULL;
    d->is_error = d->origin.is_system; /* a SystemError from the pump */
    lost_run_origin(p, &d->origin);
    d->journaled = true;
    d->redelivered = (int)e->count;
    d->envelope = mark_envelope(e, e->count, &d->len);
    conv_t *c = conv_of(p, e);
    if (c) {
        d->conv = c;
        c->pending++;
    }
    if (!d->envelope) {
        d->journaled = false; /* stays in the journal for the next start */
        xbp_delivery_free(p, d);
        snprintf(why, cap, "out of memory");
        return -1;
    }
    XB_INFO("pump", "message %s delivered again to %s (time %ld)", d->msg_id, l->cfg->name,
            e->count);
    xbp_outbox_submit(p, d);
    return 0;
}

/* One journal item at start: delivered again, or a dead letter. */
static void redeliver_item(xb_pump_t *p, const xb_journal_item_t *it, long *again, long *dead)
{
    if (strncmp(it->id, XBP_DEAD_PREFIX, strlen(XBP_DEAD_PREFIX)) == 0)
        return;
    xbp_jentry_t e;
    if (xbp_jentry_decode(it->data.data, it->data.len, &e) != 0) {
        XB_ERROR("pump", "journal entry %s is unreadable: left alone", it->id);
        return;
    }
    char why[XBP_JOURNAL_ERROR_MAX];
    if (e.count >= p->cfg->limits.max_redeliveries) {
        snprintf(why, sizeof why, "delivered again %ld times (limits.max_redeliveries %d)%s%.160s",
                 e.count, p->cfg->limits.max_redeliveries, e.last_error[0] ? "; last error: " : "",
                 e.last_error);
        *dead += xbp_dead_letter(p, &e, why) == 0;
    } else if (xbp_redeliver_entry(p, &e, why, sizeof why) == 0) {
        (*again)++;
    } else {
        *dead += xbp_dead_letter(p, &e, why) == 0;
    }
    xbp_jentry_clear(&e);
}

/* The conversations of the entries become this pump's own in the
 * registry's index (one scan for all), so that their end is not a scan
 * each. */
static void adopt_conversations(xb_pump_t *p, const xb_journal_list_t *list)
{
    const char **roots = calloc(list->count ? list->count : 1, sizeof *roots);
    size_t n = 0;
    for (size_t i = 0; roots && i < list->count; i++) {
        xbp_jentry_t e;
        if (xbp_jentry_decode(list->items[i].data.data, list->items[i].data.len, &e) != 0)
            continue;
        if (e.root[0] && (roots[n] = strdup(e.root)))
            n++;
        xbp_jentry_clear(&e);
    }
    xb_error_t err;
    if (n && xb_registry_adopt(p->registry, roots, n, &err) != 0)
        XB_WARN("pump", "journal: the registry could not index %zu conversations: %s", n,
                err.message);
    for (size_t i = 0; i < n; i++)
        free((char *)roots[i]);
    free(roots);
}

void xbp_redeliver_journal(xb_pump_t *p)
{
    if (!xbp_journal_on(p))
        return;
    xb_journal_list_t list = {0};
    xb_error_t err;
    if (xb_backend_journal_list(p->backend, &list, &err) != 0) {
        XB_ERROR("pump", "cannot read the journal: %s (nothing delivered again)", err.message);
        return;
    }
    adopt_conversations(p, &list);
    long again = 0, dead = 0;
    for (size_t i = 0; i < list.count; i++)
        redeliver_item(p, &list.items[i], &again, &dead);
    xb_journal_list_free(&list);
    p->journal_again += (uint64_t)again;
    p->journal_dead += (uint64_t)dead;
    if (again || dead)
        XB_INFO("pump", "journal: %ld messages delivered again, %ld dead letters", again, dead);
}
