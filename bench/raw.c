/* The raw ZeroMQ baseline: the same topology as the pump with nothing but
 * message passing.
 *
 *   sender (DEALER, this process) -> broker (ROUTER, own process)
 *     -> worker (DEALER, own process) -> broker -> sender
 *
 * Broker and worker are this program again (fork+exec) in the hidden modes
 * `--raw-broker ENDPOINT FILE` and `--raw-worker ENDPOINT`, so that the
 * baseline pays the same process hops and context switches as the pump with
 * its echo listener. Frames (no XB1 protocol, no XML work at all):
 *   sender -> broker:  [seq 8 bytes] [payload]
 *   broker -> worker:  [sender id] [seq] [payload]   (zero-copy forward)
 *   worker -> broker:  the same frames back
 *   broker -> sender:  [seq] [payload]
 * A worker registers with one frame "READY". Every round trip is counted as
 * 2 routed messages, like the pump's request and response. */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_FRAMES 8
#define RING 65536 /* send-time slots by seq; > any window */

/* ---- hidden modes ------------------------------------------------------------ */

/* Receives one multipart message into m[]; returns the frame count or -1. */
static int recv_multi(void *s, zmq_msg_t *m, int max)
{
    int n = 0;
    for (;;) {
        if (n == max) { /* too many frames: drop the message */
            for (int i = 0; i < n; i++)
                zmq_msg_close(&m[i]);
            return -1;
        }
        zmq_msg_init(&m[n]);
        if (zmq_msg_recv(&m[n], s, 0) < 0) {
            zmq_msg_close(&m[n]);
            for (int i = 0; i < n; i++)
                zmq_msg_close(&m[i]);
            return -1;
        }
        n++;
        if (!zmq_msg_more(&m[n - 1]))
            return n;
    }
}

/* Sends frames m[from..n) as one message (each send releases its frame). */
static int send_multi(void *s, zmq_msg_t *m, int from, int n)
{
    int rc = 0;
    for (int i = from; i < n; i++) {
        if (rc == 0 && zmq_msg_send(&m[i], s, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            rc = -1;
        if (rc != 0)
            zmq_msg_close(&m[i]);
    }
    return rc;
}

/* A socket of the raw pair: no linger, and queues deep enough that a window
 * of the bench never meets the high-water mark. */
static void *raw_socket(void *ctx, int type)
{
    void *s = zmq_socket(ctx, type);
    int zero = 0, hwm = 100000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    return s;
}

int bench_raw_broker_main(const char *endpoint, const char *endpoint_file)
{
    void *ctx = zmq_ctx_new();
    void *r = raw_socket(ctx, ZMQ_ROUTER);
    if (zmq_bind(r, endpoint) != 0) {
        fprintf(stderr, "raw broker: bind %s: %s\n", endpoint, zmq_strerror(errno));
        return 1;
    }
    char real[256];
    size_t len = sizeof real;
    zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, real, &len);
    char tmp[BENCH_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", endpoint_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", real) < 0 || fclose(f) != 0 || rename(tmp, endpoint_file) != 0) {
        fprintf(stderr, "raw broker: cannot write %s\n", endpoint_file);
        return 1;
    }
    unsigned char wid[256];
    size_t wid_len = 0;
    zmq_msg_t m[MAX_FRAMES + 1];
    for (;;) {
        int n = recv_multi(r, &m[1], MAX_FRAMES);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ETERM)
                break;
            continue; /* an oversized message: dropped */
        }
        size_t idlen = zmq_msg_size(&m[1]);
        bool from_worker = wid_len && idlen == wid_len &&
                           memcmp(zmq_msg_data(&m[1]), wid, idlen) == 0;
        if (n == 2 && zmq_msg_size(&m[2]) == 5 && memcmp(zmq_msg_data(&m[2]), "READY", 5) == 0 &&
            idlen <= sizeof wid) {
            memcpy(wid, zmq_msg_data(&m[1]), idlen);
            wid_len = idlen;
            zmq_msg_close(&m[1]);
            zmq_msg_close(&m[2]);
        } else if (from_worker) {
            zmq_msg_close(&m[1]); /* [wid] [sid] [seq] [payload] -> [sid] [seq] [payload] */
            send_multi(r, m, 2, n + 1);
        } else if (!wid_len) {
            zmq_msg_t no;
            zmq_msg_init_size(&no, 8);
            memcpy(zmq_msg_data(&no), "NOWORKER", 8);
            for (int i = 2; i <= n; i++)
                zmq_msg_close(&m[i]);
            m[2] = no;
            send_multi(r, m, 1, 3);
        } else { /* [sid] [seq] [payload] -> [wid] [sid] [seq] [payload] */
            zmq_msg_init_size(&m[0], wid_len);
            memcpy(zmq_msg_data(&m[0]), wid, wid_len);
            send_multi(r, m, 0, n + 1);
        }
    }
    zmq_close(r);
    zmq_ctx_term(ctx);
    return 0;
}

int bench_raw_worker_main(const char *endpoint)
{
    void *ctx = zmq_ctx_new();
    void *d = raw_socket(ctx, ZMQ_DEALER);
    if (zmq_connect(d, endpoint) != 0 || zmq_send(d, "READY", 5, 0) != 5) {
        fprintf(stderr, "raw worker: connect %s: %s\n", endpoint, zmq_strerror(errno));
        return 1;
    }
    zmq_msg_t m[MAX_FRAMES];
    for (;;) {
        int n = recv_multi(d, m, MAX_FRAMES);
        if (n < 0) {
            if (errno == ETERM)
                break;
            continue;
        }
        send_multi(d, m, 0, n); /* echo the frames back as they came */
    }
    zmq_close(d);
    zmq_ctx_term(ctx);
    return 0;
}

/* ---- the sender ------------------------------------------------------------------ */

typedef struct {
    void *ctx, *sock;
    pid_t broker, worker;
    char dir[BENCH_PATH_MAX];
    char endpoint[256];
} raw_env_t;

static void raw_env_close(raw_env_t *e)
{
    if (e->sock)
        zmq_close(e->sock);
    if (e->ctx)
        zmq_ctx_term(e->ctx);
    if (e->worker > 0)
        bench_stop(e->worker, 2000);
    if (e->broker > 0)
        bench_stop(e->broker, 2000);
    if (e->dir[0])
        bench_tmpdir_remove(e->dir);
    memset(e, 0, sizeof *e);
}

/* Waits up to timeout_ms for one message; returns its frame count, 0 on timeout, -1 on error. */
static int poll_recv(void *s, zmq_msg_t *m, int timeout_ms)
{
    zmq_pollitem_t it = {.socket = s, .events = ZMQ_POLLIN};
    int rc = zmq_poll(&it, 1, timeout_ms);
    if (rc <= 0)
        return rc < 0 && errno != EINTR ? -1 : 0;
    return recv_multi(s, m, MAX_FRAMES);
}

static int send_one(void *s, uint64_t seq, const char *payload, size_t len)
{
    if (zmq_send(s, &seq, sizeof seq, ZMQ_SNDMORE) != (int)sizeof seq)
        return -1;
    return zmq_send(s, payload, len, 0) == (int)len ? 0 : -1;
}

/* Starts the broker and the worker, connects the sender, and waits until a
 * message makes the whole round trip. */
static int raw_env_open(const bench_opts_t *o, const char *transport, raw_env_t *e, xb_error_t *err)
{
    memset(e, 0, sizeof *e);
    if (bench_tmpdir(e->dir, err) != 0)
        return -1;
    char self[BENCH_PATH_MAX + 32], bind_ep[BENCH_PATH_MAX + 32], file[BENCH_PATH_MAX + 32];
    char log[BENCH_PATH_MAX + 32];
    snprintf(self, sizeof self, "%s/xmlbus-bench", o->bin_dir);
    snprintf(file, sizeof file, "%s/broker.endpoint", e->dir);
    snprintf(log, sizeof log, "%s/raw.log", e->dir);
    if (strcmp(transport, "ipc") == 0)
        snprintf(bind_ep, sizeof bind_ep, "ipc://%s/raw.sock", e->dir);
    else
        snprintf(bind_ep, sizeof bind_ep, "tcp://127.0.0.1:*");
    const char *bargv[] = {self, "--raw-broker", bind_ep, file, NULL};
    e->broker = bench_spawn(bargv, log, NULL, err);
    if (e->broker < 0)
        goto fail;
    if (bench_wait_file_line(file, e->broker, 10000, e->endpoint, sizeof e->endpoint) != 0) {
        char tail[200];
        bench_log_tail(log, tail, sizeof tail);
        xb_error_set(err, XB_ERR_IO, 0, "raw broker did not start: %s", tail);
        goto fail;
    }
    const char *wargv[] = {self, "--raw-worker", e->endpoint, NULL};
    e->worker = bench_spawn(wargv, log, NULL, err);
    if (e->worker < 0)
        goto fail;
    e->ctx = zmq_ctx_new();
    e->sock = e->ctx ? zmq_socket(e->ctx, ZMQ_DEALER) : NULL;
    int zero = 0, hwm = 100000;
    if (!e->sock || zmq_setsockopt(e->sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(e->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(e->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_connect(e->sock, e->endpoint) != 0) {
        xb_error_set(err, XB_ERR_IO, 0, "raw sender: connect %s: %s", e->endpoint,
                     zmq_strerror(errno));
        goto fail;
    }
    /* Until the worker has registered the broker answers NOWORKER. */
    for (int attempt = 0; attempt < 200 && !bench_interrupted(); attempt++) {
        if (send_one(e->sock, 0, "x", 1) != 0)
            break;
        zmq_msg_t m[MAX_FRAMES];
        int n = poll_recv(e->sock, m, 1000);
        bool ok = n == 2;
        for (int i = 0; i < n; i++)
            zmq_msg_close(&m[i]);
        if (ok)
            return 0;
        if (n == 0)
            break; /* nobody answers at all */
        usleep(50000);
    }
    xb_error_set(err, XB_ERR_TIMEOUT, 0, "raw worker did not register with the broker");
fail:
    raw_env_close(e);
    return -1;
}

typedef struct {
    uint64_t done, errors;
    bench_lat_t lat;
    uint64_t *sent_at; /* RING slots */
} raw_run_t;

/* Sends up to n round trips with `window` in flight, stopping new sends at
 * deadline_ns. Latencies go to r->lat when record is set. Returns 0, or -1
 * when an answer does not come within 10 s. */
static int raw_window(void *s, const char *payload, size_t len, int window, uint64_t n,
                      uint64_t deadline_ns, bool record, raw_run_t *r, uint64_t *seq)
{
    uint64_t sent = 0, done = 0;
    int in_flight = 0;
    while (done < sent || (sent < n && bench_now_ns() < deadline_ns)) {
        if (bench_interrupted())
            return -1;
        while (in_flight < window && sent < n && bench_now_ns() < deadline_ns) {
            uint64_t q = ++*seq;
            r->sent_at[q % RING] = bench_now_ns();
            if (send_one(s, q, payload, len) != 0)
                return -1;
            sent++;
            in_flight++;
        }
        zmq_msg_t m[MAX_FRAMES];
        int k = poll_recv(s, m, 10000);
        if (k <= 0)
            return -1;
        uint64_t now = bench_now_ns();
        if (k == 2 && zmq_msg_size(&m[0]) == sizeof(uint64_t)) {
            uint64_t q;
            memcpy(&q, zmq_msg_data(&m[0]), sizeof q);
            if (record && bench_lat_add(&r->lat, now - r->sent_at[q % RING]) != 0)
                return -1;
        } else {
            r->errors++;
        }
        for (int i = 0; i < k; i++)
            zmq_msg_close(&m[i]);
        done++;
        in_flight--;
    }
    r->done += done;
    return 0;
}

static void raw_row(const bench_opts_t *o, raw_env_t *e, bench_row_t *row)
{
    char *payload = bench_payload(row->payload);
    raw_run_t r = {0};
    r.sent_at = calloc(RING, sizeof *r.sent_at);
    if (!payload || !r.sent_at) {
        bench_row_finish(row, ST_FAILED, "out of memory");
        goto out;
    }
    uint64_t seq = 0;
    /* Warm-up: connections, allocator and caches, not measured. */
    uint64_t warm = (uint64_t)row->in_flight * 4 + 100;
    uint64_t warm_end = bench_now_ns() + (uint64_t)(o->seconds * 0.2e9) + 50000000u;
    if (raw_window(e->sock, payload, row->payload, row->in_flight, warm, warm_end, false, &r,
                   &seq) != 0) {
        bench_row_finish(row, ST_FAILED, "no answer during warm-up");
        goto out;
    }
    r.done = r.errors = 0;
    int64_t b0 = bench_proc_cpu_ns(e->broker), w0 = bench_proc_cpu_ns(e->worker);
    uint64_t c0 = bench_self_cpu_ns(), t0 = bench_now_ns();
    int rc = raw_window(e->sock, payload, row->payload, row->in_flight, (uint64_t)o->messages,
                        t0 + (uint64_t)(o->seconds * 1e9), true, &r, &seq);
    uint64_t t1 = bench_now_ns(), c1 = bench_self_cpu_ns();
    int64_t b1 = bench_proc_cpu_ns(e->broker), w1 = bench_proc_cpu_ns(e->worker);
    if (rc != 0) {
        bench_row_finish(row, ST_FAILED, "no answer within 10 s after %llu round trips",
                         (unsigned long long)r.done);
        goto out;
    }
    row->round_trips = r.done;
    row->routed = 2 * r.done;
    row->errors = r.errors;
    row->seconds = (double)(t1 - t0) / 1e9;
    row->msgs_per_s = row->seconds > 0 ? (double)row->routed / row->seconds : 0;
    double routed = row->routed ? (double)row->routed : 1;
    row->pump_cpu_us = b0 >= 0 && b1 >= 0 ? (double)(b1 - b0) / 1000.0 / routed : -1;
    row->echo_cpu_us = w0 >= 0 && w1 >= 0 ? (double)(w1 - w0) / 1000.0 / routed : -1;
    row->client_cpu_us = (double)(c1 - c0) / 1000.0 / routed;
    bench_lat_fill(&r.lat, row);
    bench_row_finish(row, r.errors ? ST_FAILED : ST_OK, "%s", r.errors ? "unexpected answers" : "");
out:
    bench_lat_free(&r.lat);
    free(r.sent_at);
    free(payload);
}

void bench_raw_rows(const bench_opts_t *o, bench_row_t *rows, size_t n, const char *transport,
                    int *progress, int total)
{
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= rows[i].selected && rows[i].kind == ROW_RAW &&
               strcmp(rows[i].transport, transport) == 0;
    if (!any)
        return;
    raw_env_t e;
    xb_error_t err;
    xb_error_clear(&err);
    int open_rc = raw_env_open(o, transport, &e, &err);
    for (size_t i = 0; i < n && !bench_interrupted(); i++) {
        bench_row_t *row = &rows[i];
        if (!row->selected || row->kind != ROW_RAW || strcmp(row->transport, transport) != 0)
            continue;
        bench_progress(progress, total, row);
        if (open_rc != 0)
            bench_row_finish(row, ST_FAILED, "%s", err.message);
        else
            raw_row(o, &e, row);
    }
    if (open_rc == 0)
        raw_env_close(&e);
}
