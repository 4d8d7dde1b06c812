/* A client of a running pump (see include/xmlbus/client.h). */
#include "xmlbus/client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zmq.h>

#include "handshake.h"
#include "log.h"
#include "proto.h"
#include "xmlbus/keys.h"
#include "xmlbus/xmlsafe.h"

#define LOG_COMP "client"
#define CLIENT_KEYS_HINT "XMLBUS_KEY and XMLBUS_SERVER_KEY, or --key and --server-key"
#define ENVELOPE_NS "https://xml-pipeline.org/ns/envelope/v1"

typedef struct queued_t {
    struct queued_t *next;
    char *envelope; /* NUL-terminated */
    size_t len;
} queued_t;

struct xb_client_t {
    void *ctx;
    bool own_ctx;
    void *sock;
    char *endpoint;
    unsigned long next_request;
    queued_t *head, *tail;
    size_t queued, queued_bytes;
    unsigned long dropped;
    char *rejection;
    size_t rejection_len;
    unsigned long posted, post_accepted, post_rejected; /* xb_client_post */
    char acks[XB_CLIENT_ACK_BATCH][XB_UUID_STR];        /* answers received, not yet */
    size_t n_acks;                                      /* acknowledged to the pump */
    bool request_lost;  /* a request timed out: it may still wait in the socket */
    xb_handshake_t *hs; /* the socket's handshake failures, read when a wait times out */
    bool curve;         /* the socket is a CURVE client */
};

/* A wait looks at the handshake events this often while nothing arrives. */
#define MONITOR_SLICE_MS 1000

/* Request ids of xb_client_post start with this, those of the waiting calls
 * are bare numbers: the verdict of a post is told apart on arrival. */
#define POST_PREFIX 'p'
/* Room for a request id: the POST prefix and a decimal unsigned long. */
#define REQUEST_ID_MAX 32

/* ---- time ---------------------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline for a timeout; -1 means none. */
static long long deadline_for(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Milliseconds left until deadline, as zmq_poll wants them (-1 = for ever). */
static long remaining_ms(long long deadline)
{
    if (deadline < 0)
        return -1;
    long long left = deadline - now_ms();
    return left > 0 ? (long)left : 0;
}

/* ---- life cycle ---------------------------------------------------------- */

/* Loads the keys of a CURVE client and applies them to c->sock. */
static int apply_keys(xb_client_t *c, const char *key_path, const char *server_key_path,
                      xb_error_t *err)
{
    xb_key_t own, server;
    int rc = xb_key_load_client(key_path, server_key_path, &own, &server, err);
    if (rc == 0)
        rc = xb_key_apply_client(c->sock, &own, &server, 0, err);
    xb_key_wipe(&own);
    c->curve = rc == 0;
    return rc;
}

xb_client_t *xb_client_new_secure(const char *endpoint, void *zmq_ctx, const char *key_path,
                                  const char *server_key_path, xb_error_t *err)
{
    if (!endpoint || !*endpoint) {
        xb_error_set(err, XB_ERR_ARG, 0, "client: no endpoint given");
        return NULL;
    }
    int curve = xb_key_paths_from_env(&key_path, &server_key_path, err);
    if (curve < 0)
        return NULL;
    /* Idempotent; done here for programs that did not call it in main(). */
    xb_xml_init();
    xb_client_t *c = calloc(1, sizeof *c);
    if (!c || !(c->endpoint = strdup(endpoint))) {
        free(c);
        xb_error_set(err, XB_ERR_NOMEM, 0, "client: out of memory");
        return NULL;
    }
    c->next_request = 1;
    c->ctx = zmq_ctx;
    if (!c->ctx) {
        c->ctx = zmq_ctx_new();
        c->own_ctx = true;
        if (!c->ctx) {
            xb_error_set(err, XB_ERR_IO, 0, "client: zmq_ctx_new: %s", zmq_strerror(errno));
            xb_client_destroy(&c);
            return NULL;
        }
    }
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!c->sock) {
        xb_error_set(err, XB_ERR_IO, 0, "client: zmq_socket: %s", zmq_strerror(errno));
        xb_client_destroy(&c);
        return NULL;
    }
    /* Linger 0: every request waits for its answer, so what is still queued
     * at close went unanswered and was reported as failed; delivering it to a
     * pump that comes up later would inject a message the caller gave up on. */
    int linger = 0;
    if (zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger) != 0) {
        xb_error_set(err, XB_ERR_IO, 0, "client: ZMQ_LINGER: %s", zmq_strerror(errno));
        xb_client_destroy(&c);
        return NULL;
    }
    /* A routing id of its own, kept across reconnects: a pump that restarts
     * after a crash sends the answers of the messages it delivers again to
     * the routing id the client had (docs/reliability.md, "The journal").
     * It starts with 'c': ZeroMQ keeps ids with a leading zero byte for its
     * own. */
    char id[XB_UUID_STR + 1] = "c";
    xb_uuid_new_random(id + 1);
    if (zmq_setsockopt(c->sock, ZMQ_ROUTING_ID, id, strlen(id)) != 0) {
        xb_error_set(err, XB_ERR_IO, 0, "client: ZMQ_ROUTING_ID: %s", zmq_strerror(errno));
        xb_client_destroy(&c);
        return NULL;
    }
    if ((curve && apply_keys(c, key_path, server_key_path, err) != 0) ||
        (strncmp(endpoint, "inproc://", 9) != 0 && /* no handshake there */
         !(c->hs = xb_handshake_watch(c->ctx, c->sock, "client", c->curve, CLIENT_KEYS_HINT,
                                      err)))) {
        xb_client_destroy(&c);
        return NULL;
    }
    if (zmq_connect(c->sock, endpoint) != 0) {
        int e = errno;
        xb_error_set(err,
                     e == EINVAL || e == EPROTONOSUPPORT || e == ENOCOMPATPROTO ? XB_ERR_ARG
                                                                                : XB_ERR_IO,
                     0, "client: cannot connect to '%s': %s", endpoint, zmq_strerror(e));
        xb_client_destroy(&c);
        return NULL;
    }
    return c;
}

xb_client_t *xb_client_new(const char *endpoint, void *zmq_ctx, xb_error_t *err)
{
    return xb_client_new_secure(endpoint, zmq_ctx, NULL, NULL, err);
}

static void clear_rejection(xb_client_t *c)
{
    free(c->rejection);
    c->rejection = NULL;
    c->rejection_len = 0;
}

static void flush_acks(xb_client_t *c);

void xb_client_destroy(xb_client_t **pc)
{
    if (!pc || !*pc)
        return;
    xb_client_t *c = *pc;
    if (c->sock && c->n_acks) {
        flush_acks(c);
        /* The ACKs need a moment to leave (the pump would otherwise keep
         * their answers journaled for client_timeout_seconds), unless a
         * request the caller gave up on could leave with them. */
        int linger = c->request_lost ? 0 : 200;
        zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    }
    xb_handshake_destroy(&c->hs, c->sock);
    if (c->sock)
        zmq_close(c->sock);
    if (c->own_ctx && c->ctx)
        zmq_ctx_term(c->ctx);
    while (c->head) {
        queued_t *q = c->head;
        c->head = q->next;
        free(q->envelope);
        free(q);
    }
    clear_rejection(c);
    free(c->endpoint);
    free(c);
    *pc = NULL;
}

unsigned long xb_client_dropped(const xb_client_t *c)
{
    return c ? c->dropped : 0;
}

const char *xb_client_endpoint(const xb_client_t *c)
{
    return c ? c->endpoint : NULL;
}

const char *xb_client_rejection(const xb_client_t *c, size_t *len)
{
    if (len)
        *len = c && c->rejection ? c->rejection_len : 0;
    return c ? c->rejection : NULL;
}

/* ---- handshake failures -------------------------------------------------- */

/* When a handshake has failed (xb_handshake_failed), fills *err with why
 * (XB_ERR_ARG) and returns -1; else 0. */
static int handshake_error(xb_client_t *c, bool definite_only, xb_error_t *err)
{
    char why[XB_ERROR_MESSAGE_MAX - 64];
    if (!xb_handshake_failed(c->hs, definite_only, why, sizeof why))
        return 0;
    return xb_error_set(err, XB_ERR_ARG, 0, "client: %.60s: %s", c->endpoint, why);
}

/* ---- the receive queue --------------------------------------------------- */

/* A copy of all v.len bytes of a frame, a NUL byte among them included
 * (strndup would stop there, and readers of v.len bytes overrun the copy),
 * plus a NUL. The caller frees it; NULL when out of memory. */
static char *copy_frame(xb_proto_val_t v)
{
    char *copy = malloc(v.len + 1);
    if (!copy)
        return NULL;
    if (v.len)
        memcpy(copy, v.ptr, v.len);
    copy[v.len] = '\0';
    return copy;
}

/* Whether the receive queue has no room for another message. */
static bool queue_full(const xb_client_t *c)
{
    return c->queued >= XB_CLIENT_QUEUE_MAX || c->queued_bytes >= XB_CLIENT_QUEUE_MAX_BYTES;
}

/* Refuses a new request while the caller does not read: its answers wait in
 * the pump, which would refuse it too (docs/protocol.md, Backpressure). */
static int refuse_when_full(const xb_client_t *c, xb_error_t *err)
{
    if (!queue_full(c))
        return 0;
    return xb_error_set(err, XB_ERR_LIMIT, 0,
                        "client: %s: %zu messages (%zu bytes) wait to be read: take them with "
                        "xb_client_recv, then send again",
                        c->endpoint, c->queued, c->queued_bytes);
}

/* Keeps an envelope (of a DELIVER or a REJECTED) for xb_client_recv. */
static void enqueue_deliver(xb_client_t *c, xb_proto_val_t env)
{
    size_t len = env.len;
    if (c->queued >= XB_CLIENT_QUEUE_MAX || c->queued_bytes + len > XB_CLIENT_QUEUE_MAX_BYTES) {
        c->dropped++;
        XB_WARN(LOG_COMP,
                "%s: receive queue full (%zu messages, %zu bytes): message dropped "
                "(%lu so far); call xb_client_recv",
                c->endpoint, c->queued, c->queued_bytes, c->dropped);
        return;
    }
    queued_t *q = calloc(1, sizeof *q);
    char *copy = copy_frame(env);
    if (!q || !copy) {
        free(q);
        free(copy);
        c->dropped++;
        XB_ERROR(LOG_COMP, "%s: out of memory: message dropped", c->endpoint);
        return;
    }
    q->envelope = copy;
    q->len = len;
    if (c->tail)
        c->tail->next = q;
    else
        c->head = q;
    c->tail = q;
    c->queued++;
    c->queued_bytes += len;
}

static queued_t *dequeue(xb_client_t *c)
{
    queued_t *q = c->head;
    if (!q)
        return NULL;
    c->head = q->next;
    if (!c->head)
        c->tail = NULL;
    c->queued--;
    c->queued_bytes -= q->len;
    return q;
}

/* ---- the socket loop ----------------------------------------------------- */

/* What the caller waits for: the answer to one request, or any DELIVER. */
typedef struct {
    const char *sent_cmd;   /* SEND / CONTROL, NULL when waiting for DELIVER */
    xb_proto_cmd_t answer1; /* accepted answer commands */
    xb_proto_cmd_t answer2;
    const char *request_id;
} want_t;

/* The pump sent something the codec cannot read: ERROR, and nothing else. */
static void malformed(xb_client_t *c, const xb_proto_error_t *e)
{
    XB_WARN(LOG_COMP, "%s: malformed message ignored: %s", c->endpoint, e->message);
    xb_frames_t *f = xb_proto_error_reply(e);
    if (f)
        xb_frames_send(f, c->sock, ZMQ_DONTWAIT); /* best effort: the pump only logs it */
    xb_frames_destroy(&f);
}

/* The request id of an answer (ACCEPTED, REJECTED, RESULT). */
static xb_proto_val_t answer_req(const xb_proto_msg_t *m)
{
    xb_proto_val_t none = {NULL, 0, 0};
    return m->cmd == XB_PROTO_ACCEPTED   ? m->accepted.req
           : m->cmd == XB_PROTO_REJECTED ? m->rejected.req
           : m->cmd == XB_PROTO_RESULT   ? m->result.req
                                         : none;
}

static bool is_answer(const want_t *w, const xb_proto_msg_t *m)
{
    if (!w->sent_cmd)
        return false;
    if (m->cmd != w->answer1 && m->cmd != w->answer2)
        return false;
    if (xb_proto_is(answer_req(m), w->request_id))
        return true;
    /* An answer to an earlier request that timed out: it is late, not ours. */
    XB_DEBUG(LOG_COMP, "late answer to request ignored");
    return false;
}

/* The verdict on posted messages: POSTED n counts n acceptances; a REJECTED is
 * counted and its SystemError envelope queued like an answer, so that the
 * sender reads it with xb_client_recv. True when m was one. */
static bool is_post_verdict(xb_client_t *c, const xb_proto_msg_t *m)
{
    if (m->cmd == XB_PROTO_POSTED) {
        c->post_accepted += (unsigned long)m->posted.n.num;
        return true;
    }
    xb_proto_val_t id = answer_req(m);
    if (!id.ptr || id.len < 2 || id.ptr[0] != POST_PREFIX)
        return false;
    if (m->cmd == XB_PROTO_ACCEPTED) {
        c->post_accepted++;
        return true;
    }
    if (m->cmd == XB_PROTO_REJECTED) {
        c->post_rejected++;
        enqueue_deliver(c, m->rejected.envelope); /* the SystemError envelope */
        return true;
    }
    return false;
}

/* ---- ACK: the pump journals an answer until the client says it has it
 * (docs/protocol.md, "Acknowledged answers") ---- */

/* Sends the ids gathered so far in one ACK. Kept for the next try when the
 * socket takes nothing now, unless there is no room left: the pump then
 * keeps those answers journaled a while longer, which loses nothing. */
static void flush_acks(xb_client_t *c)
{
    if (c->n_acks == 0)
        return;
    const char *ids[XB_CLIENT_ACK_BATCH];
    for (size_t i = 0; i < c->n_acks; i++)
        ids[i] = c->acks[i];
    xb_frames_t *f = xb_proto_ack(ids, c->n_acks);
    if ((f && xb_frames_send(f, c->sock, ZMQ_DONTWAIT) == 0) || c->n_acks == XB_CLIENT_ACK_BATCH)
        c->n_acks = 0;
    xb_frames_destroy(&f);
}

static void note_ack(xb_client_t *c, xb_proto_val_t id)
{
    if (id.len == 0 || id.len >= XB_UUID_STR)
        return;
    memcpy(c->acks[c->n_acks], id.ptr, id.len);
    c->acks[c->n_acks][id.len] = '\0';
    if (++c->n_acks == XB_CLIENT_ACK_BATCH)
        flush_acks(c);
}

/* A DELIVER or a verdict on posts: kept or counted. True when m was one. */
static bool take_unasked(xb_client_t *c, const xb_proto_msg_t *m)
{
    if (m->cmd == XB_PROTO_DELIVER) {
        enqueue_deliver(c, m->deliver.envelope);
        note_ack(c, m->deliver.id);
        return true;
    }
    return is_post_verdict(c, m);
}

/* How often xb_client_post reads what has arrived (in posts). */
#define POST_TAKE_EVERY 16

/* Reads what has arrived, without waiting, while the receive queue has
 * room: the answers leave the pump's queue for this client. */
static void take_arrived(xb_client_t *c)
{
    while (!queue_full(c)) {
        xb_frames_t *f = xb_frames_recv(c->sock, ZMQ_DONTWAIT);
        if (!f)
            return;
        xb_proto_msg_t m;
        xb_proto_error_t e;
        if (xb_proto_decode(f, 0, XB_PROTO_FROM_PUMP, &m, &e) != 0)
            malformed(c, &e);
        else
            take_unasked(c, &m); /* anything else: a late answer, nothing to do */
        xb_frames_destroy(&f);
    }
}

/* Waits until the socket has something to read: 0, 1 when the deadline
 * passed, -1 with *err when polling failed. */
static int wait_readable(xb_client_t *c, long long deadline, xb_error_t *err)
{
    flush_acks(c); /* about to wait: what arrived is acknowledged first */
    for (;;) {
        zmq_pollitem_t item = {.socket = c->sock, .events = ZMQ_POLLIN};
        long left = remaining_ms(deadline);
        int n = zmq_poll(&item, 1, left < 0 || left > MONITOR_SLICE_MS ? MONITOR_SLICE_MS : left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return xb_error_set(err, XB_ERR_IO, 0, "client: %s: zmq_poll: %s", c->endpoint,
                                zmq_strerror(errno));
        if (n == 0 && remaining_ms(deadline) == 0)
            return 1;
        /* A slice passed in silence: a refused handshake ends the wait now
         * (no answer can come; a wait for ever would hang). */
        if (n == 0 && handshake_error(c, true, err) != 0)
            return -1;
        /* EINTR, or woke a millisecond early */
    }
}

/* Reads and dispatches messages until the wanted one arrives (returned in
 * *out, caller owns it, decoded in *m), a DELIVER is queued when w->sent_cmd is NULL
 * (returns 0 with *out NULL), the deadline passes (returns 1) or the socket
 * fails (-1, *err set). */
static int pump_until(xb_client_t *c, const want_t *w, long long deadline, xb_frames_t **out,
                      xb_proto_msg_t *m, xb_error_t *err)
{
    *out = NULL;
    for (;;) {
        /* Read first, poll only when nothing is there: a sender with many
         * messages in flight finds most of them waiting, and a poll per
         * message is a system call per message. */
        xb_frames_t *f = xb_frames_recv(c->sock, ZMQ_DONTWAIT);
        if (!f && errno != EAGAIN && errno != EINTR)
            return xb_error_set(err, XB_ERR_IO, 0, "client: %s: receive: %s", c->endpoint,
                                zmq_strerror(errno));
        if (!f) {
            int rc = wait_readable(c, deadline, err);
            if (rc != 0)
                return rc;
            continue;
        }
        xb_proto_error_t e;
        if (xb_proto_decode(f, 0, XB_PROTO_FROM_PUMP, m, &e) != 0) {
            malformed(c, &e);
            xb_frames_destroy(&f);
            continue;
        }
        if (take_unasked(c, m)) {
            xb_frames_destroy(&f);
            if (!w->sent_cmd && c->head)
                return 0;
            continue;
        }
        if (is_answer(w, m)) {
            *out = f;
            return 0;
        }
        if (w->sent_cmd && m->cmd == XB_PROTO_ERROR && xb_proto_is(m->error.what, w->sent_cmd)) {
            xb_error_set(err, XB_ERR_ARG, 0, "client: %s: the pump could not read the %s: %.*s",
                         c->endpoint, w->sent_cmd,
                         (int)(m->error.message.len > 200 ? 200 : m->error.message.len),
                         m->error.message.ptr);
            xb_frames_destroy(&f);
            return -1;
        }
        /* HEARTBEAT, late answers, ERRORs about other commands: nothing to do. */
        if (xb_log_enabled(XB_LOG_DEBUG)) {
            char *d = xb_frames_describe(f);
            XB_DEBUG(LOG_COMP, "%s: ignored %s", c->endpoint, d ? d : "message");
            free(d);
        }
        xb_frames_destroy(&f);
    }
}

/* Sends f without ever blocking past the deadline (a DEALER with no
 * connected pump refuses with EAGAIN once its pipe is full). */
static int send_frames(xb_client_t *c, xb_frames_t *f, long long deadline, xb_error_t *err)
{
    for (;;) {
        if (xb_frames_send(f, c->sock, ZMQ_DONTWAIT) == 0)
            return 0;
        if (errno != EAGAIN && errno != EINTR)
            return xb_error_set(err, XB_ERR_IO, 0, "client: %s: send: %s", c->endpoint,
                                zmq_strerror(errno));
        long left = remaining_ms(deadline);
        if (left == 0 && handshake_error(c, false, err) != 0)
            return -1;
        if (left == 0)
            return xb_error_set(err, XB_ERR_TIMEOUT, 0,
                                "client: %s: no pump answered (could not even send)", c->endpoint);
        zmq_pollitem_t item = {.socket = c->sock, .events = ZMQ_POLLOUT};
        if (zmq_poll(&item, 1, left) < 0 && errno != EINTR)
            return xb_error_set(err, XB_ERR_IO, 0, "client: %s: zmq_poll: %s", c->endpoint,
                                zmq_strerror(errno));
    }
}

/* Sends a request and waits for its answer. Returns 0 with *answer (caller
 * owns it), or -1 with *err set. */
/* Sends f (taken and destroyed here; NULL means building it ran out of
 * memory) and waits for the answer w wants: *answer then holds the frames that
 * m points into, the caller destroys them. */
static int request(xb_client_t *c, xb_frames_t *f, const want_t *w, int timeout_ms,
                   xb_frames_t **answer, xb_proto_msg_t *m, xb_error_t *err)
{
    if (!f)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "client: out of memory");
    long long deadline = deadline_for(timeout_ms);
    int rc = send_frames(c, f, deadline, err);
    xb_frames_destroy(&f);
    if (rc != 0)
        return -1;
    rc = pump_until(c, w, deadline, answer, m, err);
    if (rc == 1)
        c->request_lost = true;
    if (rc == 1 && handshake_error(c, false, err) != 0)
        return -1;
    if (rc == 1)
        return xb_error_set(err, XB_ERR_TIMEOUT, 0,
                            "client: no answer to %s from the pump at %s within %d ms "
                            "(is it running?)",
                            w->sent_cmd, c->endpoint, timeout_ms);
    return rc;
}

/* The wait for one request's answers, under a fresh request id (a counter,
 * unique per client) written into id, which the result points to. */
static want_t next_request(xb_client_t *c, char id[REQUEST_ID_MAX], const char *cmd,
                           xb_proto_cmd_t answer1, xb_proto_cmd_t answer2)
{
    snprintf(id, REQUEST_ID_MAX, "%lu", c->next_request++);
    return (want_t){cmd, answer1, answer2, id};
}

/* ---- SEND ---------------------------------------------------------------- */

/* Copies a UUID frame into out (may be NULL). */
static int copy_uuid(xb_proto_val_t v, char *out, const char *what, xb_error_t *err)
{
    char buf[XB_UUID_STR];
    if (xb_proto_cstr(v, buf, sizeof buf) < 0)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "client: ACCEPTED with a missing or "
                            "oversized %s frame",
                            what);
    if (out)
        memcpy(out, buf, sizeof buf);
    return 0;
}

/* Turns a REJECTED answer into *err and keeps its envelope. */
static int take_rejection(xb_client_t *c, const xb_proto_msg_t *m, xb_error_t *err)
{
    c->rejection = copy_frame(m->rejected.envelope);
    if (!c->rejection)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "client: out of memory");
    c->rejection_len = m->rejected.envelope.len;
    xb_code_t code = XB_ERR_ENVELOPE;
    char msg[XB_ERROR_MESSAGE_MAX - 64];
    if (xb_client_system_error(c->rejection, c->rejection_len, &code, msg, sizeof msg) != 1)
        return xb_error_set(err, XB_ERR_ENVELOPE, 0,
                            "client: message rejected (the answer holds no SystemError)");
    return xb_error_set(err, code, 0, "%s", msg);
}

int xb_client_send(xb_client_t *c, const void *body, size_t len, const char *to, const char *from,
                   int timeout_ms, char thread_out[XB_UUID_STR], char msgid_out[XB_UUID_STR],
                   xb_error_t *err)
{
    if (!c || !body || len == 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "client: send: no message body");
    clear_rejection(c);
    if (refuse_when_full(c, err) != 0)
        return -1;
    char id[REQUEST_ID_MAX];
    want_t w = next_request(c, id, XB_CMD_SEND, XB_PROTO_ACCEPTED, XB_PROTO_REJECTED);
    xb_frames_t *f = xb_proto_send(false, id, body, len, to ? to : "", from ? from : "",
                                   XB_PROTO_SEND_ACK);
    xb_frames_t *answer = NULL;
    xb_proto_msg_t m;
    if (request(c, f, &w, timeout_ms, &answer, &m, err) != 0)
        return -1;
    int rc = 0;
    if (m.cmd == XB_PROTO_REJECTED)
        rc = take_rejection(c, &m, err);
    else if (copy_uuid(m.accepted.thread, thread_out, "thread", err) != 0 ||
             copy_uuid(m.accepted.msg_id, msgid_out, "message id", err) != 0)
        rc = -1;
    xb_frames_destroy(&answer);
    return rc;
}

int xb_client_post(xb_client_t *c, const void *body, size_t len, const char *to, const char *from,
                   int timeout_ms, xb_error_t *err)
{
    if (!c || !body || len == 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "client: post: no message body");
    /* A read that finds nothing still costs ZeroMQ a system call (it checks
     * the socket's mailbox), which was a third of a posting sender's CPU:
     * so every POST_TAKE_EVERY posts, enough for the queue's accounting
     * (ZeroMQ's own receive queue bounds the rest). */
    if (c->posted % POST_TAKE_EVERY == 0)
        take_arrived(c);
    if (refuse_when_full(c, err) != 0)
        return -1;
    char id[REQUEST_ID_MAX];
    snprintf(id, sizeof id, "%c%lu", POST_PREFIX, c->next_request++);
    /* POST: the pump answers only a refusal, and counts acceptances in
     * one POSTED per turn of its loop instead of an ACCEPTED each. */
    xb_frames_t *f = xb_proto_send(true, id, body, len, to ? to : "", from ? from : "",
                                   XB_PROTO_SEND_ACK);
    if (!f)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "client: out of memory");
    int rc = send_frames(c, f, deadline_for(timeout_ms), err);
    xb_frames_destroy(&f);
    if (rc == 0)
        c->posted++;
    else
        c->request_lost = true;
    return rc;
}

void xb_client_post_counts(const xb_client_t *c, unsigned long *posted, unsigned long *accepted,
                           unsigned long *rejected)
{
    if (posted)
        *posted = c ? c->posted : 0;
    if (accepted)
        *accepted = c ? c->post_accepted : 0;
    if (rejected)
        *rejected = c ? c->post_rejected : 0;
}

/* ---- DELIVER ------------------------------------------------------------- */

int xb_client_recv(xb_client_t *c, int timeout_ms, char **envelope, size_t *len, xb_error_t *err)
{
    if (!envelope)
        return xb_error_set(err, XB_ERR_ARG, 0, "client: recv: no output pointer");
    *envelope = NULL;
    if (len)
        *len = 0;
    if (!c)
        return xb_error_set(err, XB_ERR_ARG, 0, "client: recv: no client");
    if (!c->head) {
        want_t w = {NULL, XB_PROTO_NONE, XB_PROTO_NONE, NULL};
        xb_frames_t *unused = NULL;
        xb_proto_msg_t m;
        int rc = pump_until(c, &w, deadline_for(timeout_ms), &unused, &m, err);
        if (rc == 1 && timeout_ms != 0 && handshake_error(c, false, err) != 0)
            return -1;
        if (rc != 0)
            return rc;
    }
    queued_t *q = dequeue(c);
    if (!q)
        return 1;
    *envelope = q->envelope;
    if (len)
        *len = q->len;
    free(q);
    return 0;
}

/* ---- CONTROL ------------------------------------------------------------- */

int xb_client_control(xb_client_t *c, const char *verb, const char *const *args, size_t nargs,
                      int timeout_ms, char **body, xb_error_t *err)
{
    if (body)
        *body = NULL;
    if (!c || !verb || !*verb || (nargs && !args))
        return xb_error_set(err, XB_ERR_ARG, 0, "client: control: no verb");
    char id[REQUEST_ID_MAX];
    want_t w = next_request(c, id, XB_CMD_CONTROL, XB_PROTO_RESULT, XB_PROTO_NONE);
    xb_frames_t *f = xb_proto_control(id, verb, args, nargs);
    xb_frames_t *answer = NULL;
    xb_proto_msg_t m;
    if (request(c, f, &w, timeout_ms, &answer, &m, err) != 0)
        return -1;
    char *text = copy_frame(m.result.body);
    if (!text) {
        xb_frames_destroy(&answer);
        return xb_error_set(err, XB_ERR_NOMEM, 0, "client: out of memory");
    }
    if (!xb_proto_is(m.result.status, "ok")) {
        /* The pump's own one-line message, as it is: it names what failed. */
        xb_error_set(err, XB_ERR_ARG, 0, "%s", *text ? text : "request failed");
        free(text);
        xb_frames_destroy(&answer);
        return -1;
    }
    xb_frames_destroy(&answer);
    if (body)
        *body = text;
    else
        free(text);
    return 0;
}

/* ---- reading what the pump sends ----------------------------------------- */

xmlDoc *xb_client_read_xml(const char *xml, size_t len, xb_error_t *err)
{
    /* The pump checked these messages already; the limits only bound what a
     * broken or hostile peer could make this process spend. Bodies of
     * CONTROL answers (a long history) are larger than one message and
     * carry one xmlns="" per payload, hence the generous counts. */
    xb_parse_limits_t limits;
    xb_parse_limits_defaults(&limits);
    limits.max_bytes = XB_CLIENT_MAX_XML_BYTES;
    limits.max_namespaces = 1 << 20;
    xmlParserCtxtPtr ctxt = xb_xml_ctxt_new();
    if (!ctxt) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "client: out of memory");
        return NULL;
    }
    xmlDoc *doc = xb_xml_read(ctxt, xml, len, &limits, err);
    xb_xml_ctxt_free(&ctxt);
    return doc;
}

/* ---- SystemError --------------------------------------------------------- */

static bool is_envelope_elem(const xmlNode *n, const char *local)
{
    return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ENVELOPE_NS) == 0 &&
           strcmp((const char *)n->name, local) == 0;
}

/* The payload: the one element child of <message> that is not <meta>. */
static const xmlNode *payload_of(const xmlNode *root)
{
    for (const xmlNode *n = root->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !is_envelope_elem(n, "meta"))
            return n;
    return NULL;
}

static const xmlNode *child_named(const xmlNode *parent, const char *local)
{
    for (const xmlNode *n = parent->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, local) == 0)
            return n;
    return NULL;
}

int xb_client_system_error(const char *envelope, size_t len, xb_code_t *code, char *message,
                           size_t cap)
{
    if (!envelope || len == 0)
        return -1;
    xmlDoc *doc = xb_client_read_xml(envelope, len, NULL);
    if (!doc)
        return -1;
    int rc = -1;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !is_envelope_elem(root, "message"))
        goto out;
    const xmlNode *p = payload_of(root);
    if (!p)
        goto out;
    rc = 0;
    if (strcmp((const char *)p->name, "SystemError") != 0 || p->ns)
        goto out;
    rc = 1;
    const xmlNode *c = child_named(p, "code");
    xmlChar *ctext = c ? xmlNodeGetContent(c) : NULL;
    xb_code_t parsed = XB_ERR_ENVELOPE;
    if (!ctext || xb_code_from_name((const char *)ctext, &parsed) != 0 || parsed == XB_OK)
        parsed = XB_ERR_ENVELOPE;
    parsed = xb_code_wire(parsed);
    if (code)
        *code = parsed;
    xmlFree(ctext);
    if (message && cap) {
        const xmlNode *m = child_named(p, "message");
        xmlChar *mtext = m ? xmlNodeGetContent(m) : NULL;
        snprintf(message, cap, "%s", mtext ? (const char *)mtext : "(no message)");
        xmlFree(mtext);
    }
out:
    xmlFreeDoc(doc);
    return rc;
}
