/* Connected listener processes: READY registration, heartbeats both ways,
 * liveness, handlers that overran their timeout, and what happens to the
 * deliveries of a peer that is gone. */
#include "pump_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "log.h"

static void refuse(xb_pump_t *p, const xbp_rid_t *rid, const char *reason)
{
    XB_WARN("pump", "registration refused: %s", reason);
    xb_frames_t *f = xb_proto_refused(reason);
    if (!f || xbp_pump_send_to(p, rid, f) != 0)
        XB_WARN("pump", "could not send REFUSED");
    xb_frames_destroy(&f);
}

static void welcome(xb_pump_t *p, peer_t *peer)
{
    const xb_backend_config_t *b = &p->cfg->backend;
    char location[XB_PATH_MAX];
    /* Secrets only to a process the pump started (its token says so): a
     * process started elsewhere brings its own credentials. */
    xbp_identity_backend_location(p, peer->child != NULL, location, sizeof location);
    xb_frames_t *f = xb_proto_welcome(p->cfg->name, (long)(p->cfg->pool.heartbeat * 1000.0),
                                      xb_backend_type_name(b->type), location, b->redis_prefix);
    if (!f || xbp_pump_send_to(p, &peer->rid, f) != 0)
        XB_WARN("pump", "could not send WELCOME to %s", p->listeners[peer->listener].cfg->name);
    xb_frames_destroy(&f);
    peer->last_sent_ms = p->now_ms;
}

/* A live peer of listener l; with a token, only one that registered with
 * that token. NULL when there is none. */
static peer_t *live_peer(xb_pump_t *p, const lstn_t *l, const char *token)
{
    for (peer_t *q = p->peers; q; q = q->next)
        if (q->listener == l->index && (!token || xbp_token_eq(q->token, token)))
            return q;
    return NULL;
}

/* Whether peer's connection still takes a message (a HEARTBEAT): a
 * connection that is gone (its process reconnected) is not a live peer. */
static bool reachable(xb_pump_t *p, peer_t *peer)
{
    xb_frames_t *f = xb_proto_heartbeat();
    bool ok = f && xbp_pump_send_to(p, &peer->rid, f) == 0;
    xb_frames_destroy(&f);
    if (ok)
        peer->last_sent_ms = p->now_ms;
    return ok;
}

/* Makes room for a READY under l from rid with token (c: the child whose
 * token it is, or NULL), or refuses it. A live peer with the same token is
 * this process on a stale connection: it is replaced. A listener that is
 * not a pool has one process at a time: the pump's own child takes the
 * place of a process started elsewhere; anybody else is refused while the
 * registered peer is reachable. Returns true when the READY may register. */
static bool take_place(xb_pump_t *p, const xbp_rid_t *rid, lstn_t *l, child_t *c, const char *token)
{
    peer_t *q;
    while (token[0] && (q = live_peer(p, l, token)))
        xbp_peer_lost(p, q, XB_ERR_CRASH, "listener reconnected");
    if (l->cfg->cpu_bound)
        return true;
    while ((q = live_peer(p, l, NULL))) {
        if (c) {
            char reason[160];
            snprintf(reason, sizeof reason, "listener %s: replaced by the pump's own process",
                     l->cfg->name);
            refuse(p, &q->rid, reason);
            xbp_peer_lost(p, q, XB_ERR_CRASH, "replaced by the pump's own process");
        } else if (!reachable(p, q)) {
            xbp_peer_lost(p, q, XB_ERR_CRASH, "listener unreachable");
        } else {
            char reason[200];
            snprintf(reason, sizeof reason,
                     "listener %s is registered already (it is not a cpu_bound pool: one process "
                     "at a time)",
                     l->cfg->name);
            refuse(p, rid, reason);
            return false;
        }
    }
    return true;
}

/* READY name kind pid credit [beats [token]] (the codec checked the shape
 * and bounds). Who the peer is comes from its connection and its token,
 * never from the pid it claims (docs/security.md). */
void xbp_peer_on_ready(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m)
{
    char name[XB_NAME_MAX], token[XB_PROTO_ID_MAX + 1] = "";
    xb_proto_cstr(m->ready.name, name, sizeof name);
    if (m->ready.token.ptr)
        xb_proto_cstr(m->ready.token, token, sizeof token);
    long pid = (long)m->ready.pid.num;
    long credit = (long)m->ready.credit.num;
    if (p->state != PUMP_RUNNING && p->state != PUMP_DRAINING) {
        refuse(p, rid, "the pump is shutting down");
        return;
    }
    lstn_t *l = xbp_pump_listener(p, name);
    if (!l) {
        char reason[160];
        snprintf(reason, sizeof reason, "no listener named '%s' in organism %s", name,
                 p->cfg->name);
        refuse(p, rid, reason);
        return;
    }
    peer_t *peer = xbp_peer_find(p, rid);
    if (peer) {
        /* The same socket registers again (it reconnected): start afresh. */
        xbp_peer_lost(p, peer, XB_ERR_CRASH, "listener re-registered with deliveries in hand");
    }
    child_t *c = token[0] ? xbp_children_by_token(p, token) : NULL;
    if (c && c->listener != l->index)
        c = NULL; /* a token of another listener's process proves nothing here */
    if (!take_place(p, rid, l, c, token))
        return;
    peer = xbp_peer_new(p, rid);
    if (!peer) {
        refuse(p, rid, "pump out of memory");
        return;
    }
    peer->listener = l->index;
    peer->worker = xb_proto_is(m->ready.kind, "worker");
    peer->pid = c ? c->pid : (pid_t)pid;
    peer->credit = l->cfg->credit > 0 && l->cfg->credit < credit ? l->cfg->credit : (int)credit;
    peer->last_heard_ms = p->now_ms;
    peer->beats_while_busy = xb_proto_is(m->ready.beats, "beats");
    memcpy(peer->token, token, sizeof peer->token);
    if (c) {
        c->peer = peer;
        peer->child = c;
    }
    XB_INFO("pump", "listener %s: %s registered (pid %ld, credit %d%s)", name,
            peer->worker ? "worker" : "listener", (long)peer->pid, peer->credit,
            c ? "" : ", started elsewhere");
    welcome(p, peer);
    xbp_dispatch(p, l);
}

/* Settles a GONE peer: its deliveries are retried or failed, it is freed. */
static void settle(xb_pump_t *p, peer_t *peer, xb_code_t code, const char *why)
{
    if (peer->child && peer->child->peer == peer)
        peer->child->peer = NULL;
    lstn_t *l = &p->listeners[peer->listener];
    /* Every delivery the peer held is retried on another process of a pool or
     * failed: nothing it held is dropped silently. */
    xbp_lqlink_t *link;
    while ((link = xbp_lqueue_pop(peer->held))) {
        delivery_t *d = XBP_LQ_ITEM(link, delivery_t, plink);
        d->peer = NULL;
        l->in_flight--;
        xbp_lqueue_remove(l->in_hand, &d->qlink);
        bool pool = l->cfg->cpu_bound;
        if (pool && d->retries < p->cfg->pool.max_retries &&
            (p->state == PUMP_RUNNING || p->state == PUMP_DRAINING)) {
            d->retries++;
            XB_WARN("pump", "listener %s: %s; message %s goes to another worker (retry %d of %d)",
                    l->cfg->name, why, d->msg_id, d->retries, p->cfg->pool.max_retries);
            xbp_journal_note_error(p, d, why);
            /* Back to the front of the queue. */
            xbp_lqueue_push_front(l->queue, &d->qlink, d->len);
            continue;
        }
        XB_WARN("pump", "listener %s: %s with message %s in hand", l->cfg->name, why, d->msg_id);
        xbp_delivery_fail(p, d, code, "listener %s failed while handling the message: %s%s",
                          l->cfg->name, why, pool ? " (no retries left)" : "");
    }
    xbp_peer_delete(p, peer);
    xbp_dispatch(p, l);
}

void xbp_peer_lost(xb_pump_t *p, peer_t *peer, xb_code_t code, const char *why)
{
    xbp_peer_set_gone(p, peer);
    settle(p, peer, code, why);
}

void xbp_peers_reap(xb_pump_t *p)
{
    while (p->gone) {
        peer_t *peer = p->gone;
        p->gone = peer->next;
        peer->next = NULL;
        child_t *c = peer->lost_kill ? peer->child : NULL;
        pid_t pid = peer->pid;
        char why[sizeof peer->lost_why];
        memcpy(why, peer->lost_why, sizeof why);
        settle(p, peer, peer->lost_code, why);
        if (c && c->pid == pid) /* still the process that was that peer */
            xbp_children_kill(p, c, false);
    }
}

static void time_out(xb_pump_t *p, lstn_t *l, delivery_t *d)
{
    peer_t *peer = d->peer;
    child_t *c = peer && peer->state != XBP_PEER_GONE ? peer->child : NULL;
    l->timeouts++;
    XB_WARN("pump", "listener %s: message %s timed out after %.3g s", l->cfg->name, d->msg_id,
            l->cfg->timeout_seconds);
    xbp_delivery_fail(p, d, XB_ERR_TIMEOUT, "listener %s did not answer within %.3g s",
                      l->cfg->name, l->cfg->timeout_seconds);
    /* A hung handler holds its process: replace the process we started. */
    if (c) {
        xbp_peer_lost(p, peer, XB_ERR_CRASH, "replaced after a timeout");
        xbp_children_kill(p, c, true);
    }
}

void xbp_peers_expire(xb_pump_t *p)
{
    for (size_t i = 0; i < p->n_listeners; i++) {
        lstn_t *l = &p->listeners[i];
        delivery_t *d;
        while ((d = xbp_delivery_first_expired(p, l)))
            time_out(p, l, d);
    }
}

void xbp_peer_on_bye(xb_pump_t *p, peer_t *peer)
{
    XB_INFO("pump", "listener %s (pid %d) said BYE", p->listeners[peer->listener].cfg->name,
            (int)peer->pid);
    if (peer->child)
        peer->child->retiring = true;
    xbp_peer_lost(p, peer, XB_ERR_CRASH, "listener left");
}

static void send_heartbeat(xb_pump_t *p, peer_t *peer, uint64_t now)
{
    xb_frames_t *f = xb_proto_heartbeat();
    if (f && xbp_pump_send_to(p, &peer->rid, f) == 0)
        peer->last_sent_ms = now;
    else if (f) /* its connection is gone; its process is not judged by that */
        xbp_peer_mark_gone(p, peer, XB_ERR_CRASH, "listener unreachable", false);
    xb_frames_destroy(&f);
}

/* Heartbeats out, liveness in. A pump that was itself paused (SIGSTOP, VM
 * suspend) would see every peer silent at once: after such a gap everyone
 * gets a fresh start instead of a death sentence. */
void xbp_peers_tick(xb_pump_t *p)
{
    uint64_t now = p->now_ms;
    uint64_t interval = (uint64_t)(p->cfg->pool.heartbeat * 1000.0);
    if (interval == 0)
        interval = 1000;
    uint64_t limit = interval * (uint64_t)(p->cfg->pool.liveness > 0 ? p->cfg->pool.liveness : 3);
    bool paused = p->last_hb_check_ms && now - p->last_hb_check_ms > interval * 2;
    p->last_hb_check_ms = now;
    /* Losing a peer may lose others (unreachable on redispatch): the walk
     * starts over then; what it did to the others already stays done. */
    for (peer_t *peer = p->peers, *next; peer; peer = next) {
        next = peer->next;
        if (paused) {
            peer->last_heard_ms = now;
            continue;
        }
        /* A busy peer is judged by timeout_seconds and by its process exit,
         * unless the runtime heartbeats while its handler runs. */
        bool judged = peer->in_flight == 0 || peer->beats_while_busy;
        if (judged && now - peer->last_heard_ms > limit) {
            const char *name = p->listeners[peer->listener].cfg->name;
            char why[160];
            snprintf(why, sizeof why, "listener %s (pid %d) silent for %llu ms", name,
                     (int)peer->pid, (unsigned long long)(now - peer->last_heard_ms));
            XB_WARN("pump", "%s: declared dead", why);
            child_t *c = peer->child && peer->child->peer == peer ? peer->child : NULL;
            xbp_peer_lost(p, peer, XB_ERR_CRASH, why);
            if (c)
                xbp_children_kill(p, c, false);
            next = p->peers;
            continue;
        }
        if (now - peer->last_sent_ms >= interval)
            send_heartbeat(p, peer, now);
    }
}

void xbp_peers_shutdown(xb_pump_t *p)
{
    for (peer_t *peer = p->peers; peer; peer = peer->next) {
        xb_frames_t *f = xb_proto_shutdown();
        if (f)
            xbp_pump_send_to(p, &peer->rid, f);
        xb_frames_destroy(&f);
        if (peer->child)
            peer->child->retiring = true;
    }
}

void xbp_peers_free(xb_pump_t *p)
{
    xbp_peertab_free(p);
}
