/* xmlbus-bench, pump rows: the pipelined client (docs/performance.md). */
#include "pumprun.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

/* ---- the pipelined client ---------------------------------------------------------------- */
/* The pipelined rows speak the XB1 client protocol (docs/protocol.md,
 * "Client -> pump") by hand on their own DEALER and keep the whole window on
 * the wire: SEND request-id body to from, ACCEPTED request-id thread
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
    int n = snprintf(req, sizeof req, "%d", slot);
    return zmq_send(c->sock, "XB1", 3, ZMQ_SNDMORE) == 3 &&
                   zmq_send(c->sock, "SEND", 4, ZMQ_SNDMORE) == 4 &&
                   zmq_send(c->sock, req, (size_t)n, ZMQ_SNDMORE) == n &&
                   zmq_send(c->sock, payload, len, ZMQ_SNDMORE) == (int)len &&
                   zmq_send(c->sock, "", 0, ZMQ_SNDMORE) == 0 && zmq_send(c->sock, "", 0, 0) == 0
               ? 0
               : -1;
}

#define PIPE_FRAMES 8

static bool frame_is(zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

/* Handles one message from the pump. */
static void pipe_take(win_t *w, zmq_msg_t *m, int n, uint64_t now)
{
    if (n < 3 || !frame_is(&m[0], "XB1")) {
        w->errors++;
        bench_note_error(w, "a message without the XB1 tag", 29);
        return;
    }
    if (frame_is(&m[1], "DELIVER") && n >= 4) {
        take_answer(w, zmq_msg_data(&m[3]), zmq_msg_size(&m[3]), now);
        return;
    }
    char req[16] = "";
    size_t rl = zmq_msg_size(&m[2]) < sizeof req - 1 ? zmq_msg_size(&m[2]) : sizeof req - 1;
    memcpy(req, zmq_msg_data(&m[2]), rl);
    int slot = atoi(req);
    bool valid = slot >= 0 && slot < w->window && w->slots[slot].used;
    if (frame_is(&m[1], "ACCEPTED") && n >= 4 && valid && zmq_msg_size(&m[3]) == XB_UUID_LEN) {
        memcpy(w->slots[slot].thread, zmq_msg_data(&m[3]), XB_UUID_LEN);
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
    bench_note_error(w, zmq_msg_data(&m[n - 1]), zmq_msg_size(&m[n - 1]));
    if (frame_is(&m[1], "REJECTED") && valid) {
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
            snprintf(w->why, sizeof w->why, "no answer within %d ms (%d in flight)", RECV_TIMEOUT_MS,
                     w->in_flight);
            return -1;
        }
        for (int flags = 0;; flags = ZMQ_DONTWAIT) {
            zmq_msg_t m[PIPE_FRAMES];
            int k = 0;
            bool ok = true;
            for (;;) {
                zmq_msg_init(&m[k]);
                if (zmq_msg_recv(&m[k], c->sock, flags) < 0) {
                    zmq_msg_close(&m[k]);
                    ok = false;
                    break;
                }
                bool more_frames = zmq_msg_more(&m[k]);
                if (k + 1 < PIPE_FRAMES)
                    k++;
                else
                    zmq_msg_close(&m[k]); /* extra frames: dropped */
                if (!more_frames)
                    break;
                flags = 0; /* the rest of a message is there already */
            }
            if (ok)
                pipe_take(w, m, k, bench_now_ns());
            for (int i = 0; i < k; i++)
                zmq_msg_close(&m[i]);
            if (!ok) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                snprintf(w->why, sizeof w->why, "pipelined receive: %s", zmq_strerror(errno));
                return -1;
            }
        }
    }
}
