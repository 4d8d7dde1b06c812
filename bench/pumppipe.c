/* xmlbus-bench, pump rows: the pipelined client (docs/performance.md). */
#include "pumprun.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "proto.h"

/* ---- the pipelined client ---------------------------------------------------------------- */
/* The pipelined rows speak the XB1 client protocol (docs/protocol.md,
 * "Client -> pump") on their own DEALER with the codec (bus/proto.h), not
 * the client library, and keep the whole window on the wire: SEND request-id body to from, ACCEPTED request-id thread
 * message-id, DELIVER id envelope. Like the client API rows they measure the
 * pump with K SENDs on the wire, without the client library's receive queue
 * and copies: a second measurement of the same thing. The request id is the
 * window slot (a slot is reused only after its answer arrived); answers are
 * matched by the sender's thread that ACCEPTED names. */

/* Takes one answer: finds its message by thread (the first pending one
 * when the thread cannot be read). The first "thread>" is the end of the
 * opening tag of <thread> whatever prefix the pump writes. An answer whose
 * thread no ACCEPTED named yet waits in w->early. */
static void take_answer(win_t *w, const char *env, size_t len, uint64_t now)
{
    static const char th[] = "thread>";
    if (memmem(env, len, k_from_system, sizeof k_from_system - 1)) {
        w->errors++;
        bench_note_error(w, env, len);
    }
    const char *t = memmem(env, len, th, sizeof th - 1);
    int hit = -1;
    if (t && (size_t)(t - env) + sizeof th - 1 + XB_UUID_LEN <= len) {
        t += sizeof th - 1;
        for (int i = 0; i < w->window; i++)
            if (w->slots[i].used && memcmp(w->slots[i].thread, t, XB_UUID_LEN) == 0) {
                hit = i;
                break;
            }
    }
    if (hit < 0 && t && w->early && w->n_early < w->window) {
        for (int i = 0; i < w->window; i++)
            if (w->slots[i].used && !w->slots[i].thread[0]) {
                pending_t *e = &w->early[w->n_early++]; /* matched on ACCEPTED */
                memcpy(e->thread, t, XB_UUID_LEN);
                e->thread[XB_UUID_LEN] = '\0';
                e->sent_ns = now;
                return;
            }
    }
    for (int i = 0; hit < 0 && i < w->window; i++)
        if (w->slots[i].used)
            hit = i;
    if (hit < 0) {
        w->errors++; /* an answer nobody waits for */
        return;
    }
    bench_win_complete(w, hit, now);
}

void bench_pipe_close(pipe_t *c)
{
    if (c->sock)
        zmq_close(c->sock);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    c->sock = c->ctx = NULL;
}

int bench_pipe_open(pipe_t *c, const char *endpoint, char *why, size_t cap)
{
    int zero = 0, hwm = 100000;
    c->ctx = zmq_ctx_new();
    c->sock = c->ctx ? zmq_socket(c->ctx, ZMQ_DEALER) : NULL;
    if (!c->sock || zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_connect(c->sock, endpoint) != 0) {
        snprintf(why, cap, "pipelined client: connect %.150s: %s", endpoint, zmq_strerror(errno));
        bench_pipe_close(c);
        return -1;
    }
    return 0;
}

static int pipe_send(pipe_t *c, int slot, const char *payload, size_t len)
{
    char req[16];
    snprintf(req, sizeof req, "%d", slot);
    xb_frames_t *f = xb_proto_send(false, req, payload, len, "", "", NULL);
    int rc = f ? xb_frames_send(f, c->sock, 0) : -1;
    xb_frames_destroy(&f);
    return rc;
}

/* Handles one message from the pump. */
static void pipe_take(win_t *w, const xb_frames_t *f, uint64_t now)
{
    xb_proto_msg_t m;
    xb_proto_error_t e;
    if (xb_proto_decode(f, 0, XB_PROTO_FROM_PUMP, &m, &e) != 0) {
        w->errors++;
        bench_note_error(w, e.message, strlen(e.message));
        return;
    }
    if (m.cmd == XB_PROTO_DELIVER) {
        take_answer(w, m.deliver.envelope.ptr, m.deliver.envelope.len, now);
        return;
    }
    xb_proto_val_t reqv = m.cmd == XB_PROTO_ACCEPTED   ? m.accepted.req
                          : m.cmd == XB_PROTO_REJECTED ? m.rejected.req
                                                       : m.field[0];
    char req[16] = "";
    xb_proto_cstr(reqv, req, sizeof req);
    int slot = atoi(req);
    bool valid = slot >= 0 && slot < w->window && w->slots[slot].used;
    if (m.cmd == XB_PROTO_ACCEPTED && valid && m.accepted.thread.len == XB_UUID_LEN) {
        memcpy(w->slots[slot].thread, m.accepted.thread.ptr, XB_UUID_LEN);
        w->slots[slot].thread[XB_UUID_LEN] = '\0';
        for (int i = 0; i < w->n_early; i++)
            if (memcmp(w->early[i].thread, w->slots[slot].thread, XB_UUID_LEN) == 0) {
                bench_win_complete(w, slot, w->early[i].sent_ns);
                w->early[i] = w->early[--w->n_early];
                break;
            }
        return;
    }
    w->errors++; /* REJECTED, ERROR, or something unexpected */
    xb_proto_val_t last = m.cmd == XB_PROTO_REJECTED ? m.rejected.envelope
                          : m.cmd == XB_PROTO_ERROR  ? m.error.message
                                                     : reqv;
    bench_note_error(w, last.ptr ? last.ptr : "", last.len);
    if (m.cmd == XB_PROTO_REJECTED && valid) {
        w->slots[slot].used = false;
        w->in_flight--;
        w->done++;
    }
}

int bench_run_pipe(pipe_t *c, win_t *w, const char *payload, size_t len, uint64_t n,
                   uint64_t deadline_ns)
{
    uint64_t sent = 0;
    for (;;) {
        bool more = sent < n && bench_now_ns() < deadline_ns;
        if (!more && w->in_flight == 0)
            return 0;
        if (bench_interrupted()) {
            snprintf(w->why, sizeof w->why, "interrupted");
            return -1;
        }
        while (more && w->in_flight < w->window) {
            int slot = 0;
            while (w->slots[slot].used)
                slot++;
            pending_t *p = &w->slots[slot];
            p->used = true;
            p->thread[0] = '\0';
            p->sent_ns = bench_now_ns();
            if (pipe_send(c, slot, payload, len) != 0) {
                snprintf(w->why, sizeof w->why, "pipelined send: %s", zmq_strerror(errno));
                return -1;
            }
            w->in_flight++;
            more = ++sent < n;
        }
        /* Wait for one message, then take whatever else is there. */
        zmq_pollitem_t it = {.socket = c->sock, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&it, 1, RECV_TIMEOUT_MS);
        if (rc == 0) {
            snprintf(w->why, sizeof w->why, "no answer within %d ms (%d in flight)",
                     RECV_TIMEOUT_MS, w->in_flight);
            return -1;
        }
        for (int flags = 0;; flags = ZMQ_DONTWAIT) {
            xb_frames_t *f = xb_frames_recv(c->sock, flags);
            if (f) {
                pipe_take(w, f, bench_now_ns());
                xb_frames_destroy(&f);
                continue;
            }
            if (errno == EMSGSIZE) {
                w->errors++; /* too many frames: read to its end and dropped */
                continue;
            }
            if (errno == EAGAIN || errno == EINTR)
                break;
            snprintf(w->why, sizeof w->why, "pipelined receive: %s", zmq_strerror(errno));
            return -1;
        }
    }
}
