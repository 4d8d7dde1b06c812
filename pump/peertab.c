/* The table of connected peers: found by routing id in a hash (every
 * command a listener sends looks its peer up), listed for the walks of
 * dispatch, heartbeats and stats. Chained buckets, a power of two of them,
 * doubled at a load factor of 1; the hash is seeded per pump, since a
 * DEALER may choose its own routing id. */
#include "pump_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define BUCKETS_INITIAL 16

static uint64_t rid_hash(const xb_pump_t *p, const xbp_rid_t *rid)
{
    uint64_t h = 1469598103934665603ULL ^ p->peer_seed; /* FNV-1a */
    for (size_t i = 0; i < rid->len; i++) {
        h ^= rid->data[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

int xbp_peertab_init(xb_pump_t *p)
{
    p->peer_buckets = calloc(BUCKETS_INITIAL, sizeof *p->peer_buckets);
    if (!p->peer_buckets)
        return -1;
    p->peer_nbuckets = BUCKETS_INITIAL;
    if (getrandom(&p->peer_seed, sizeof p->peer_seed, GRND_NONBLOCK) != sizeof p->peer_seed)
        p->peer_seed = (uint64_t)(uintptr_t)p ^ p->now_ms;
    return 0;
}

static void bucket_add(peer_t **buckets, size_t n, uint64_t h, peer_t *peer)
{
    peer_t **b = &buckets[h & (n - 1)];
    peer->hnext = *b;
    *b = peer;
}

/* Doubles the buckets; on no memory the chains just grow longer. */
static void grow(xb_pump_t *p)
{
    size_t n = p->peer_nbuckets * 2;
    peer_t **buckets = calloc(n, sizeof *buckets);
    if (!buckets)
        return;
    for (peer_t *peer = p->peers; peer; peer = peer->next)
        bucket_add(buckets, n, rid_hash(p, &peer->rid), peer);
    free(p->peer_buckets);
    p->peer_buckets = buckets;
    p->peer_nbuckets = n;
}

peer_t *xbp_peer_find(xb_pump_t *p, const xbp_rid_t *rid)
{
    peer_t *peer = p->peer_buckets[rid_hash(p, rid) & (p->peer_nbuckets - 1)];
    while (peer && !xbp_rid_eq(&peer->rid, rid))
        peer = peer->hnext;
    return peer;
}

peer_t *xbp_peer_new(xb_pump_t *p, const xbp_rid_t *rid)
{
    peer_t *peer = calloc(1, sizeof *peer);
    if (!peer || !(peer->held = xbp_lqueue_new(0, 0))) {
        free(peer);
        return NULL;
    }
    peer->rid = *rid;
    peer->state = XBP_PEER_IDLE;
    peer->next = p->peers;
    if (p->peers)
        p->peers->prev = peer;
    p->peers = peer;
    if (++p->n_peers > p->peer_nbuckets)
        grow(p); /* lists the new peer too */
    else
        bucket_add(p->peer_buckets, p->peer_nbuckets, rid_hash(p, rid), peer);
    return peer;
}

/* Takes peer out of the hash and the list (it stays allocated). */
static void unlink_peer(xb_pump_t *p, peer_t *peer)
{
    peer_t **b = &p->peer_buckets[rid_hash(p, &peer->rid) & (p->peer_nbuckets - 1)];
    while (*b && *b != peer)
        b = &(*b)->hnext;
    if (*b)
        *b = peer->hnext;
    if (peer->prev)
        peer->prev->next = peer->next;
    else if (p->peers == peer)
        p->peers = peer->next;
    if (peer->next)
        peer->next->prev = peer->prev;
    peer->next = peer->prev = peer->hnext = NULL;
    p->n_peers--;
}

void xbp_peer_delete(xb_pump_t *p, peer_t *peer)
{
    if (peer->state != XBP_PEER_GONE)
        unlink_peer(p, peer);
    xbp_lqueue_destroy(&peer->held);
    free(peer);
}

void xbp_peertab_free(xb_pump_t *p)
{
    while (p->peers)
        xbp_peer_delete(p, p->peers);
    while (p->gone) {
        peer_t *peer = p->gone;
        p->gone = peer->next;
        xbp_peer_delete(p, peer);
    }
    free(p->peer_buckets);
    p->peer_buckets = NULL;
    p->peer_nbuckets = 0;
}

const char *xbp_peer_state_name(xbp_peer_state_t s)
{
    switch (s) {
    case XBP_PEER_IDLE:
        return "idle";
    case XBP_PEER_BUSY:
        return "busy";
    case XBP_PEER_DRAINING:
        return "retiring";
    case XBP_PEER_GONE:
        return "gone";
    }
    return "?";
}

void xbp_peer_set_gone(xb_pump_t *p, peer_t *peer)
{
    if (peer->state == XBP_PEER_GONE)
        return;
    unlink_peer(p, peer);
    peer->state = XBP_PEER_GONE;
}

void xbp_peer_mark_gone(xb_pump_t *p, peer_t *peer, xb_code_t code, const char *why, bool kill)
{
    if (peer->state == XBP_PEER_GONE)
        return;
    xbp_peer_set_gone(p, peer);
    if (peer->child && peer->child->peer == peer)
        peer->child->peer = NULL; /* peer->child stays: whom to kill */
    peer->lost_code = code;
    snprintf(peer->lost_why, sizeof peer->lost_why, "%s", why);
    peer->lost_kill = kill;
    peer->next = p->gone;
    p->gone = peer;
}
