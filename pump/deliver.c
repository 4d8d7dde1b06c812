/* Deliveries: the in-flight table (a slab indexed by delivery id, so a REPLY
 * finds its delivery in O(1)), the per-listener queues bounded in messages and
 * bytes, credit-based dispatch to the least recently used process, and the
 * lists of deliveries in hand that timeouts and lost peers read. Failing a
 * delivery (a SystemError) is the outbox's business, above this file.
 *
 * Timeouts without a scan: timeout_seconds is fixed per listener and starts
 * when a process gets the message, and the pump's clock never goes back, so
 * a listener's deliveries in hand, kept in the order they were handed out
 * (l->in_hand), are also in the order of their deadlines. The tick looks at
 * the head of each list only, and removing an answered delivery is O(1):
 * cheaper than a heap (O(log n) both ways) for the same answer. */
#include "pump_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "log.h"
#include "str.h"

#define SLAB_INITIAL 256

int xbp_deliveries_init(xb_pump_t *p)
{
    p->dcap = SLAB_INITIAL;
    p->dslab = calloc(p->dcap, sizeof *p->dslab);
    p->dfree = calloc(p->dcap, sizeof *p->dfree);
    if (!p->dslab || !p->dfree)
        return -1;
    for (uint32_t i = 0; i < p->dcap; i++)
        p->dfree[i] = p->dcap - 1 - i;
    p->nfree = p->dcap;
    p->dgen = 1;
    return 0;
}

static void delivery_release(delivery_t *d)
{
    xb_wmem_list_free(&d->wmem);
    free(d->chain);
    free(d->envelope);
    xbp_origin_clear(&d->origin);
    free(d);
}

void xbp_deliveries_free(xb_pump_t *p)
{
    for (uint32_t i = 0; p->dslab && i < p->dcap; i++)
        if (p->dslab[i])
            delivery_release(p->dslab[i]);
    free(p->dslab);
    free(p->dfree);
    p->dslab = NULL;
    p->dfree = NULL;
    p->dcap = p->nfree = 0;
}

static int slab_grow(xb_pump_t *p)
{
    uint32_t ncap = p->dcap * 2;
    delivery_t **slab = realloc(p->dslab, ncap * sizeof *slab);
    if (!slab)
        return -1;
    p->dslab = slab;
    uint32_t *fr = realloc(p->dfree, ncap * sizeof *fr);
    if (!fr)
        return -1;
    p->dfree = fr;
    for (uint32_t i = p->dcap; i < ncap; i++)
        p->dslab[i] = NULL;
    for (uint32_t i = ncap; i > p->dcap; i--)
        p->dfree[p->nfree++] = i - 1;
    p->dcap = ncap;
    return 0;
}

delivery_t *xbp_delivery_new(xb_pump_t *p)
{
    if (p->nfree == 0 && slab_grow(p) != 0)
        return NULL;
    delivery_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->slot = p->dfree[--p->nfree];
    d->gen = p->dgen++;
    if (p->dgen == 0)
        p->dgen = 1;
    p->dslab[d->slot] = d;
    p->in_flight++;
    return d;
}

delivery_t *xbp_delivery_find(xb_pump_t *p, const char *id)
{
    char *end = NULL;
    unsigned long long v = strtoull(id, &end, 10);
    if (!end || *end || end == id)
        return NULL;
    uint32_t slot = (uint32_t)(v & 0xffffffffu), gen = (uint32_t)(v >> 32);
    if (slot >= p->dcap || !p->dslab[slot] || p->dslab[slot]->gen != gen)
        return NULL;
    return p->dslab[slot];
}

void xbp_delivery_free(xb_pump_t *p, delivery_t *d)
{
    if (!d)
        return;
    if (d->journaled)
        xbp_journal_done(p, d->msg_id);
    if (d->conv) {
        conv_t *c = d->conv;
        d->conv = NULL;
        c->pending--;
        c->last_ms = p->now_ms;
        if (c->pending <= 0)
            xbp_conv_release(p, c);
    }
    p->dslab[d->slot] = NULL;
    p->dfree[p->nfree++] = d->slot;
    p->in_flight--;
    delivery_release(d);
}

static uint64_t delivery_id(const delivery_t *d)
{
    return (uint64_t)d->gen << 32 | d->slot;
}

static delivery_t *queue_pop(lstn_t *l)
{
    xbp_lqlink_t *link = xbp_lqueue_pop(l->queue);
    return link ? XBP_LQ_ITEM(link, delivery_t, qlink) : NULL;
}

/* The least recently used peer of l with credit left, or NULL. */
static peer_t *pick_peer(xb_pump_t *p, lstn_t *l)
{
    peer_t *best = NULL;
    for (peer_t *peer = p->peers; peer; peer = peer->next) {
        if (peer->listener != l->index || peer->in_flight >= peer->credit ||
            (peer->state != XBP_PEER_IDLE && peer->state != XBP_PEER_BUSY))
            continue;
        if (!best || peer->last_used_ms < best->last_used_ms ||
            (peer->last_used_ms == best->last_used_ms && peer->in_flight < best->in_flight))
            best = peer;
    }
    return best;
}

static int send_delivery(xb_pump_t *p, peer_t *peer, delivery_t *d)
{
    char id[24];
    xb_u64_to_dec(id, delivery_id(d));
    xb_frames_t *f = xb_proto_deliver(id, d->envelope, d->len);
    for (size_t i = 0; f && i < d->wmem.count; i++)
        if (xb_proto_deliver_add_entry(f, d->wmem.items[i].name, d->wmem.items[i].data.data,
                                       d->wmem.items[i].data.len) != 0)
            xb_frames_destroy(&f);
    if (!f)
        return -1;
    int rc = xbp_pump_send_to(p, &peer->rid, f);
    xb_frames_destroy(&f);
    return rc;
}

void xbp_dispatch(xb_pump_t *p, lstn_t *l)
{
    while (xbp_lqueue_len(l->queue) > 0) {
        peer_t *peer = pick_peer(p, l);
        if (!peer)
            return;
        delivery_t *d = queue_pop(l);
        if (send_delivery(p, peer, d) != 0) {
            /* The peer's connection is gone (it reconnected, or its process
             * died): put the message back and give up on that connection
             * (peers.c settles what it held). Its process is not killed:
             * being unreachable says nothing about the process, which may be
             * registering again on a new connection. */
            xbp_lqueue_push_front(l->queue, &d->qlink, d->len);
            xbp_peer_mark_gone(p, peer, XB_ERR_CRASH, "listener unreachable", false);
            continue;
        }
        uint64_t now = p->now_ms;
        /* timeout_seconds is the handler's time: it starts when a process
         * gets the message, and again on each retry. */
        if (l->cfg->timeout_seconds > 0)
            d->deadline_ms = now + (uint64_t)(l->cfg->timeout_seconds * 1000.0);
        d->peer = peer;
        xbp_lqueue_push(l->in_hand, &d->qlink, 0); /* unbounded: never refuses */
        xbp_lqueue_push(peer->held, &d->plink, 0);
        peer->in_flight++;
        if (peer->in_flight == 1)
            peer->busy_since_ms = now;
        if (peer->state == XBP_PEER_IDLE)
            peer->state = XBP_PEER_BUSY;
        peer->last_used_ms = now;
        peer->last_sent_ms = now;
        l->in_flight++;
        l->delivered++;
        XB_DEBUG("pump", "deliver %s -> %s (pid %d) thread %s", d->msg_id, l->cfg->name,
                 (int)peer->pid, d->thread);
    }
}

int xbp_delivery_submit(xb_pump_t *p, delivery_t *d)
{
    lstn_t *l = &p->listeners[d->listener];
    if (xbp_lqueue_push(l->queue, &d->qlink, d->len) != 0)
        return -1;
    if (xbp_lqueue_at_warning(l->queue))
        XB_WARN("pump", "listener %s: queue at 80%% (%ld messages)", l->cfg->name,
                xbp_lqueue_len(l->queue));
    xbp_dispatch(p, l);
    return 0;
}

void xbp_delivery_detach(xb_pump_t *p, delivery_t *d)
{
    lstn_t *l = &p->listeners[d->listener];
    if (d->peer) {
        peer_t *peer = d->peer;
        xbp_lqueue_remove(peer->held, &d->plink);
        if (--peer->in_flight == 0 && peer->state == XBP_PEER_BUSY)
            peer->state = XBP_PEER_IDLE;
        d->peer = NULL;
        l->in_flight--;
        xbp_lqueue_remove(l->in_hand, &d->qlink);
    } else {
        xbp_lqueue_remove(l->queue, &d->qlink);
    }
}

static void maybe_recycle(xb_pump_t *p, peer_t *peer)
{
    child_t *c = peer->child;
    long max = p->cfg->pool.max_tasks_per_child;
    if (!c || max <= 0 || c->handled < (uint64_t)max || c->retiring)
        return;
    /* Graceful: no new work, SHUTDOWN once idle; the exit restarts it. */
    peer->state = XBP_PEER_DRAINING;
    c->retiring = true;
    XB_INFO("pump", "listener %s (pid %d) handled %llu messages: recycling it",
            p->listeners[peer->listener].cfg->name, (int)peer->pid, (unsigned long long)c->handled);
}

static void send_shutdown_if_idle(xb_pump_t *p, peer_t *peer)
{
    if (peer->state != XBP_PEER_DRAINING || peer->in_flight != 0)
        return;
    xb_frames_t *f = xb_proto_shutdown();
    if (f)
        xbp_pump_send_to(p, &peer->rid, f);
    xb_frames_destroy(&f);
}

/* Its credit comes back and the message counts towards recycling its
 * process. */
void xbp_delivery_answered(xb_pump_t *p, delivery_t *d)
{
    peer_t *peer = d->peer;
    xbp_delivery_detach(p, d);
    if (!peer)
        return;
    peer->handled++;
    peer->last_heard_ms = p->now_ms;
    if (peer->child) {
        peer->child->handled++;
        maybe_recycle(p, peer);
        send_shutdown_if_idle(p, peer);
    }
}

void xbp_delivery_complete(xb_pump_t *p, delivery_t *d)
{
    lstn_t *l = &p->listeners[d->listener];
    xbp_delivery_answered(p, d);
    xbp_delivery_free(p, d);
    xbp_dispatch(p, l);
}

delivery_t *xbp_delivery_first_expired(const xb_pump_t *p, const lstn_t *l)
{
    if (l->cfg->timeout_seconds <= 0)
        return NULL;
    xbp_lqlink_t *link = xbp_lqueue_peek(l->in_hand);
    delivery_t *d = link ? XBP_LQ_ITEM(link, delivery_t, qlink) : NULL;
    return d && d->deadline_ms != 0 && p->now_ms >= d->deadline_ms ? d : NULL;
}
