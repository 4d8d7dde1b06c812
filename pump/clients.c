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
 * gone: what waits for it is undeliverable. Calls core.c only. */
#include "pump_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "str.h"

/* One message waiting for its client, rid frame in front. */
typedef struct held {
    struct held *next;
    xb_frames_t *f;
    size_t bytes;
    char thread[37]; /* the thread of a DELIVER, for the log ("" for verdicts) */
} held_t;

struct xbp_client {
    xbp_rid_t rid;
    char key[2 * XB_RID_MAX + 1];
    held_t *head, *tail;
    size_t n, bytes;
    uint64_t moved_ms;         /* when ZeroMQ last took one of them (or the first waited) */
    bool flood_said;           /* "requests dropped" logged for this backlog */
    xbp_client_t *next, *prev; /* p->client_list */
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
    XB_WARN("pump",
            "client %s %s: %zu answers (%zu messages, %zu bytes) waiting for it are "
            "dropped; threads: %s%s",
            c->key, why, answers, c->n, c->bytes, named ? threads : "none",
            named < answers ? ", ..." : "");
    *counter += answers;
    client_delete(p, c);
}

static int hold(xb_pump_t *p, xbp_client_t *c, xb_frames_t **f, const char *thread)
{
    held_t *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
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

int xbp_client_send(xb_pump_t *p, const xbp_rid_t *rid, xb_frames_t **f, const char *thread)
{
    if (!*f || xb_frames_prepend(*f, rid->data, rid->len) != 0)
        return -1;
    xbp_client_t *c = client_of(p, rid);
    if (c) /* behind what waits already: the order is kept */
        return hold(p, c, f, thread) == 0 ? 1 : -1;
    if (xb_frames_send(*f, p->router, ZMQ_DONTWAIT) == 0)
        return 0;
    if (errno != EAGAIN) {
        XB_DEBUG("pump", "send to a client failed: %s", zmq_strerror(errno));
        return -1;
    }
    c = client_new(p, rid);
    if (!c || hold(p, c, f, thread) != 0) {
        XB_ERROR("pump", "no memory to hold a message for a client that does not read");
        return -1;
    }
    XB_DEBUG("pump", "client %s does not read: its messages wait in the pump", c->key);
    return 1;
}

/* Sends what c holds while ZeroMQ takes it. */
static void client_flush(xb_pump_t *p, xbp_client_t *c)
{
    while (c->head) {
        held_t *h = c->head;
        if (xb_frames_send(h->f, p->router, ZMQ_DONTWAIT) != 0) {
            if (errno == EAGAIN)
                break;
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
    if (!c->head) {
        client_delete(p, c);
        return;
    }
    uint64_t limit_ms = (uint64_t)(p->cfg->limits.client_timeout_seconds * 1000.0);
    if (p->now_ms - c->moved_ms >= limit_ms) {
        char why[96];
        snprintf(why, sizeof why, "took none of its messages for %.3g s",
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
    return p->client_list != NULL;
}

xbp_admit_t xbp_client_admit(xb_pump_t *p, const xbp_rid_t *rid, char *why, size_t cap)
{
    xbp_client_t *c = client_of(p, rid);
    const xb_limits_config_t *lim = &p->cfg->limits;
    if (!c || ((long)c->n < lim->client_queue_messages && c->bytes < lim->client_queue_bytes))
        return XBP_ADMIT_OK;
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
