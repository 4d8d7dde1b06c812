/* What the pump sends to clients, in order, without losing it to a full
 * pipe (docs/protocol.md, "Backpressure").
 *
 * The ROUTER refuses a message with EAGAIN once ZeroMQ's queue to a peer
 * holds XBP_ROUTER_HWM messages: the client does not read. Such a
 * message, and every later one to that client, waits here in a per-client
 * queue, sent on by xbp_clients_flush at each turn as soon as ZeroMQ takes
 * it. A client whose queue is over its budget (limits.client_queue_messages
 * / client_queue_bytes) has its SENDs and POSTs refused with `limit`
 * (xbp_client_admit); one that takes nothing for client_timeout_seconds
 * loses what waits, counted and logged. EHOSTUNREACH is a client that is
 * gone: what waits for it is undeliverable.
 *
 * A client that acknowledges its answers (SEND option `ack`, docs/protocol.md
 * "Acknowledged answers") has its answers journaled until its ACK names
 * them: their message ids wait here in order. Such a client is waited for
 * while it is not connected (EHOSTUNREACH after a pump restart) rather than
 * taken for gone; past client_timeout_seconds without a sign of it, its
 * entries leave the journal (counted as expired). Calls core.c and
 * journal.c only. */
#include "pump_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "journal.h"
#include "log.h"
#include "str.h"

/* One message waiting for its client, rid frame in front. */
typedef struct held {
    struct held *next;
    xb_frames_t *f;
    size_t bytes;
    char thread[37]; /* the thread of a DELIVER, for the log ("" for verdicts) */
    bool journaled;  /* its id waits for an ACK too */
} held_t;

struct xbp_client {
    xbp_rid_t rid;
    char key[2 * XB_RID_MAX + 1];
    held_t *head, *tail;
    size_t n, bytes;
    uint64_t moved_ms;   /* when ZeroMQ last took one of them, or an ACK came (or
                                  the first waited) */
    bool flood_said;     /* "requests dropped" logged for this backlog */
    bool acks;           /* it acknowledges: wait for it while it is away */
    char (*unacked)[37]; /* ring of journaled answers' ids ("" once acknowledged) */
    size_t un_head, un_n, un_cap, un_live; /* un_live: the ids not acknowledged */
    xbp_client_t *next, *prev;             /* p->client_list */
};

static void rid_key(const xbp_rid_t *rid, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < rid->len; i++) {
        out[2 * i] = hex[rid->data[i] >> 4];
        out[2 * i + 1] = hex[rid->data[i] & 15];
    }
    out[2 * rid->len] = '\0';
}

static size_t frames_bytes(const xb_frames_t *f)
{
    size_t n = 0;
    for (size_t i = 0; i < xb_frames_count(f); i++)
        n += xb_frames_size(f, i);
    return n;
}

int xbp_clients_init(xb_pump_t *p)
{
    p->clients = xb_strmap_new();
    return p->clients ? 0 : -1;
}

static xbp_client_t *client_of(const xb_pump_t *p, const xbp_rid_t *rid)
{
    if (!p->clients || p->client_list == NULL)
        return NULL;
    char key[2 * XB_RID_MAX + 1];
    rid_key(rid, key);
    return xb_strmap_get(p->clients, key);
}

static void held_free(held_t *h)
{
    xb_frames_destroy(&h->f);
    free(h);
}

/* Frees c and what it holds (its messages counted by the caller). */
static void client_delete(xb_pump_t *p, xbp_client_t *c)
{
    while (c->head) {
        held_t *h = c->head;
        c->head = h->next;
        held_free(h);
    }
    p->client_held -= c->n;
    p->client_held_bytes -= c->bytes;
    p->client_unacked -= c->un_live;
    free(c->unacked);
    if (c->prev)
        c->prev->next = c->next;
    else
        p->client_list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    xb_strmap_delete(p->clients, c->key);
    free(c);
}

void xbp_clients_free(xb_pump_t *p)
{
    while (p->client_list)
        client_delete(p, p->client_list);
    xb_strmap_destroy(&p->clients);
}

static xbp_client_t *client_new(xb_pump_t *p, const xbp_rid_t *rid)
{
    xbp_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->rid = *rid;
    rid_key(rid, c->key);
    if (xb_strmap_put(p->clients, c->key, c) != 0) {
        free(c);
        return NULL;
    }
    c->moved_ms = p->now_ms;
    c->next = p->client_list;
    if (c->next)
        c->next->prev = c;
    p->client_list = c;
    return c;
}

/* ---- journaled answers waiting for their ACK ---------------------------------- */

static int unacked_push(xb_pump_t *p, xbp_client_t *c, const char *id)
{
    if (c->un_n == c->un_cap) {
        size_t cap = c->un_cap ? c->un_cap * 2 : 64;
        char(*ring)[37] = malloc(cap * sizeof *ring);
        if (!ring)
            return -1;
        for (size_t i = 0; i < c->un_n; i++)
            memcpy(ring[i], c->unacked[(c->un_head + i) % c->un_cap], 37);
        free(c->unacked);
        c->unacked = ring;
        c->un_cap = cap;
        c->un_head = 0;
    }
    xb_strlcpy(c->unacked[(c->un_head + c->un_n) % c->un_cap], id, 37);
    c->un_n++;
    c->un_live++;
    p->client_unacked++;
    return 0;
}

/* Acknowledges id when it is one of c's: its entry leaves the journal.
 * ACKs come in the order the answers went out, so the search ends at the
 * head nearly always. */
static void unacked_ack(xb_pump_t *p, xbp_client_t *c, const char *id, size_t len)
{
    if (len == 0 || len > 36)
        return;
    for (size_t i = 0; i < c->un_n; i++) {
        char *slot = c->unacked[(c->un_head + i) % c->un_cap];
        if (strncmp(slot, id, len) != 0 || slot[len] != '\0')
            continue;
        xbp_journal_done(p, slot);
        slot[0] = '\0';
        c->un_live--;
        p->client_unacked--;
        break;
    }
    while (c->un_n && !c->unacked[c->un_head][0]) {
        c->un_head = (c->un_head + 1) % c->un_cap;
        c->un_n--;
    }
}

/* c is given up: its journaled answers leave the journal unacknowledged.
 * Returns how many. */
static size_t unacked_expire(xb_pump_t *p, xbp_client_t *c)
{
    size_t n = c->un_live;
    for (size_t i = 0; i < c->un_n; i++) {
        char *slot = c->unacked[(c->un_head + i) % c->un_cap];
        if (slot[0])
            xbp_journal_done(p, slot);
    }
    p->client_unacked -= c->un_live;
    c->un_live = c->un_n = c->un_head = 0;
    return n;
}

/* Logs what c loses (why: "is gone", "took nothing for 60 s"), with the
 * threads of the answers, and counts them in *counter. */
static void client_drop(xb_pump_t *p, xbp_client_t *c, uint64_t *counter, const char *why)
{
    char threads[400] = "";
    size_t used = 0, named = 0;
    for (held_t *h = c->head; h && used + 40 < sizeof threads; h = h->next) {
        if (!h->thread[0])
            continue;
        used += (size_t)snprintf(threads + used, sizeof threads - used, "%s%s", named++ ? ", " : "",
                                 h->thread);
    }
    size_t answers = 0;
    for (held_t *h = c->head; h; h = h->next)
        answers += h->thread[0] != '\0';
    size_t sent = c->un_live; /* journaled ones held are in both counts */
    for (held_t *h = c->head; h; h = h->next)
        sent -= h->journaled && sent > 0;
    unacked_expire(p, c);
    XB_WARN("pump",
            "client %s %s: %zu answers (%zu messages, %zu bytes) waiting for it are "
            "dropped, %zu sent but not acknowledged leave the journal; threads: %s%s",
            c->key, why, answers, c->n, c->bytes, sent, named ? threads : "none",
            named < answers ? ", ..." : "");
    *counter += answers + sent;
    client_delete(p, c);
}

static int hold(xb_pump_t *p, xbp_client_t *c, xb_frames_t **f, const char *thread, bool journaled)
{
    held_t *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    h->journaled = journaled;
    h->f = *f;
    *f = NULL;
    h->bytes = frames_bytes(h->f);
    if (thread)
        xb_strlcpy(h->thread, thread, sizeof h->thread);
    if (c->tail)
        c->tail->next = h;
    else
        c->head = h;
    c->tail = h;
    c->n++;
    c->bytes += h->bytes;
    p->client_held++;
    p->client_held_bytes += h->bytes;
    return 0;
}

/* The record of the client that will wait for the ACK of ack_id. NULL: no
 * memory (the entry then leaves the journal at once: the answer is sent
 * as without a journal). */
static xbp_client_t *expect_ack(xb_pump_t *p, xbp_client_t *c, const xbp_rid_t *rid,
                                const char *ack_id)
{
    if (!c)
        c = client_new(p, rid);
    if (c && unacked_push(p, c, ack_id) == 0) {
        c->acks = true;
        return c;
    }
    XB_WARN("pump", "no memory to wait for the ACK of %s: its journal entry goes now", ack_id);
    xbp_journal_done(p, ack_id);
    if (c && !c->head && c->un_n == 0)
        client_delete(p, c);
    return NULL;
}

int xbp_client_send(xb_pump_t *p, const xbp_rid_t *rid, xb_frames_t **f, const char *thread,
                    const char *ack_id)
{
    return xbp_client_send_answer(p, rid, f, thread, ack_id, ack_id != NULL);
}

int xbp_client_send_answer(xb_pump_t *p, const xbp_rid_t *rid, xb_frames_t **f, const char *thread,
                           const char *ack_id, bool acks)
{
    if (!*f || xb_frames_prepend(*f, rid->data, rid->len) != 0)
        return -1;
    xbp_client_t *c = client_of(p, rid);
    bool journaled = false;
    if (ack_id) {
        c = expect_ack(p, c, rid, ack_id);
        journaled = c != NULL;
    }
    if (c && c->head) /* behind what waits already: the order is kept */
        return hold(p, c, f, thread, journaled) == 0 ? 1 : -1;
    if (xb_frames_send(*f, p->router, ZMQ_DONTWAIT) == 0) {
        if (c)
            c->moved_ms = p->now_ms;
        return 0;
    }
    bool away = (acks || (c && c->acks)) && errno == EHOSTUNREACH;
    if (errno != EAGAIN && !away) {
        XB_DEBUG("pump", "send to a client failed: %s", zmq_strerror(errno));
        return -1;
    }
    if (!c)
        c = client_new(p, rid);
    if (c && acks)
        c->acks = true; /* wait for it while it reconnects */
    if (!c || hold(p, c, f, thread, journaled) != 0) {
        XB_ERROR("pump", "no memory to hold a message for a client that does not read");
        return -1;
    }
    c->moved_ms = p->now_ms;
    XB_DEBUG("pump", "client %s %s: its messages wait in the pump", c->key,
             away ? "is not connected" : "does not read");
    return 1;
}

void xbp_client_on_ack(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m)
{
    xbp_client_t *c = client_of(p, rid);
    if (!c)
        return; /* nothing journaled for it: late, or a pump without a journal */
    for (size_t i = 0; i < m->n; i++) {
        xb_proto_val_t id = xb_proto_ack_id(m, i);
        unacked_ack(p, c, id.ptr, id.len);
    }
    c->moved_ms = p->now_ms;
    if (!c->head && c->un_n == 0)
        client_delete(p, c);
}

/* Sends what c holds while ZeroMQ takes it. */
static void client_flush(xb_pump_t *p, xbp_client_t *c)
{
    while (c->head) {
        held_t *h = c->head;
        if (xb_frames_send(h->f, p->router, ZMQ_DONTWAIT) != 0) {
            if (errno == EAGAIN || (c->acks && errno == EHOSTUNREACH))
                break; /* it does not read, or it reconnects */
            client_drop(p, c, &p->undeliverable, "is gone");
            return;
        }
        c->head = h->next;
        if (!c->head)
            c->tail = NULL;
        c->n--;
        c->bytes -= h->bytes;
        p->client_held--;
        p->client_held_bytes -= h->bytes;
        c->moved_ms = p->now_ms;
        if (h->thread[0])
            p->to_clients++;
        held_free(h);
    }
    if (!c->head && c->un_n == 0) {
        client_delete(p, c);
        return;
    }
    uint64_t limit_ms = (uint64_t)(p->cfg->limits.client_timeout_seconds * 1000.0);
    if (p->now_ms - c->moved_ms >= limit_ms) {
        char why[96];
        snprintf(why, sizeof why, "%s for %.3g s",
                 c->head ? "took none of its messages" : "acknowledged none of its answers",
                 p->cfg->limits.client_timeout_seconds);
        client_drop(p, c, &p->client_expired, why);
    }
}

void xbp_clients_flush(xb_pump_t *p)
{
    xbp_client_t *next;
    for (xbp_client_t *c = p->client_list; c; c = next) {
        next = c->next;
        client_flush(p, c);
    }
}

bool xbp_clients_waiting(const xb_pump_t *p)
{
    return p->client_held > 0;
}

xbp_admit_t xbp_client_admit(xb_pump_t *p, const xbp_rid_t *rid, char *why, size_t cap)
{
    xbp_client_t *c = client_of(p, rid);
    const xb_limits_config_t *lim = &p->cfg->limits;
    if (!c || ((long)c->n < lim->client_queue_messages && c->bytes < lim->client_queue_bytes &&
               (long)c->un_live < lim->client_queue_messages))
        return XBP_ADMIT_OK;
    if (!c->head) { /* it reads, but does not acknowledge */
        snprintf(why, cap,
                 "%zu answers to this client wait for its ACK: acknowledge them, then send "
                 "again (limits.client_queue_messages %ld)",
                 c->un_live, lim->client_queue_messages);
        return XBP_ADMIT_REFUSE;
    }
    /* Refusals wait too: past twice the budget a request gets no answer at
     * all, so that a client that sends and never reads cannot grow this. */
    if ((long)c->n >= 2 * lim->client_queue_messages || c->bytes >= 2 * lim->client_queue_bytes) {
        p->client_unanswered++;
        if (!c->flood_said)
            XB_WARN("pump",
                    "client %s keeps sending and reads nothing (%zu messages, %zu bytes "
                    "wait for it): its requests are dropped unanswered until it reads",
                    c->key, c->n, c->bytes);
        c->flood_said = true;
        return XBP_ADMIT_DROP;
    }
    snprintf(why, cap,
             "%zu messages (%zu bytes) wait for this client: read them, then send "
             "again (limits.client_queue_messages %ld, client_queue_bytes %zu)",
             c->n, c->bytes, lim->client_queue_messages, lim->client_queue_bytes);
    return XBP_ADMIT_REFUSE;
}
