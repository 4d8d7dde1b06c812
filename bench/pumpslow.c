/* xmlbus-bench, the slow-reader RSS row (docs/performance.md,
 * rss/memory/ipc/slowreader/400B): one client POSTs and reads nothing until
 * it has posted them all, then reads everything. The pump must neither
 * grow (what waits for the client is bounded: docs/reliability.md) nor
 * lose an answer: every POST ends as an answer, a refusal the client reads,
 * or a request the pump counted as unanswered (client-unanswered). */
#include "pumprun.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "proto.h"

/* How long the end of the row reads after the last message arrived. */
#define QUIET_MS 3000
/* Posts between two looks at the pump's counters during the fill. */
#define FILL_STEP 1000

/* A DEALER that reads nothing: a small receive queue, so that what the
 * client does not read stays in the pump, where the row measures it. */
static int open_slow(pipe_t *c, const char *endpoint, char *why, size_t cap)
{
    int zero = 0, rcv = 100, snd = 10000;
    c->ctx = zmq_ctx_new();
    c->sock = c->ctx ? zmq_socket(c->ctx, ZMQ_DEALER) : NULL;
    if (!c->sock || zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_SNDHWM, &snd, sizeof snd) != 0 ||
        zmq_setsockopt(c->sock, ZMQ_RCVHWM, &rcv, sizeof rcv) != 0 ||
        zmq_connect(c->sock, endpoint) != 0) {
        snprintf(why, cap, "slow client: connect %.150s: %s", endpoint, zmq_strerror(errno));
        bench_pipe_close(c);
        return -1;
    }
    return 0;
}

/* Posts one message, waiting for room on the socket until deadline_ns. */
static int post_one(pipe_t *c, uint64_t i, const char *payload, size_t len, uint64_t deadline_ns)
{
    char req[32];
    snprintf(req, sizeof req, "p%llu", (unsigned long long)i);
    xb_frames_t *f = xb_proto_send(true, req, payload, len, "", "", NULL);
    int rc = -1;
    while (f && bench_now_ns() < deadline_ns && !bench_interrupted()) {
        if (xb_frames_send(f, c->sock, ZMQ_DONTWAIT) == 0) {
            rc = 0;
            break;
        }
        if (errno != EAGAIN)
            break;
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLOUT, 0};
        zmq_poll(&it, 1, 10);
    }
    xb_frames_destroy(&f);
    return rc;
}

/* Reads until QUIET_MS pass without a message. */
static void read_all(pipe_t *c, slow_t *s)
{
    for (;;) {
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, QUIET_MS) <= 0 || bench_interrupted())
            return;
        xb_frames_t *f;
        while ((f = xb_frames_recv(c->sock, ZMQ_DONTWAIT)) != NULL) {
            bool ok;
            if (xb_frames_eq(f, 1, XB_CMD_DELIVER))
                s->answers++;
            else if (xb_frames_eq(f, 1, XB_CMD_REJECTED))
                s->refused++;
            else if (xb_frames_eq(f, 1, XB_CMD_POSTED))
                s->accepted += (uint64_t)xb_frames_long(f, 2, &ok);
            xb_frames_destroy(&f);
        }
    }
}

int bench_run_slow(pump_env_t *e, slow_t *s, const char *payload, size_t len, uint64_t n,
                   uint64_t deadline_ns, bench_row_t *row, uint64_t (*unanswered)(pump_env_t *))
{
    pipe_t c = {0};
    if (open_slow(&c, e->endpoint, s->why, sizeof s->why) != 0)
        return -1;
    int steps = BENCH_RSS_SAMPLES - 2; /* samples: idle, the fill, then steps */
    /* The fill: until the pump holds the client's whole budget twice over
     * (it then answers nothing more: client-unanswered grows), at most half
     * of the posts. */
    uint64_t fill = 0;
    while (fill < n / 2 && unanswered(e) == 0) {
        fill += FILL_STEP;
        while (s->posted < fill && post_one(&c, s->posted, payload, len, deadline_ns) == 0)
            s->posted++;
        if (s->posted < fill)
            break; /* time cap */
    }
    for (int k = 0; k <= steps && s->posted < n; k++) {
        uint64_t target = k == 0 ? fill : fill + (n - fill) * (uint64_t)k / (uint64_t)steps;
        while (s->posted < target && post_one(&c, s->posted, payload, len, deadline_ns) == 0)
            s->posted++;
        if (k == 0)
            row->rss_fill_kb = bench_proc_rss_kb(e->pid);
        row->rss_kb[row->n_rss] = bench_proc_rss_kb(e->pid);
        row->rss_at[row->n_rss++] = s->posted;
        if (s->posted < target)
            break; /* time cap */
    }
    row->rss_end_kb = row->rss_kb[row->n_rss - 1];
    read_all(&c, s);
    bench_pipe_close(&c);
    return 0;
}
