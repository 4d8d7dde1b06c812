/* The peer rows (docs/performance.md, "The peer"): the same round trip as
 * pump/memory/tcp/kK/400B with NATS and libxml2 instead of xmlbus.
 *
 *   peer/nats/tcp/kK/SIZE      the responder answers with the request's bytes
 *   peer/nats-xml/tcp/kK/SIZE  the responder parses and validates the request
 *                              against the echo XSD and answers a small XML
 *                              document
 *
 * Three processes, like the pump rows: nats-server on a free loopback port
 * (one for all peer rows, its log in a temporary folder), and per row a
 * responder and a requester (this program again, hidden modes of
 * peernats.c). The requester measures latency, throughput and the CPU of
 * all three processes and writes one result line, read here.
 *
 * NATS settings per window: at 1 in flight both clients set
 * natsOptions_SetSendAsap(true) (each publish written at once); with more in
 * flight they keep nats.c's default, where a flusher thread writes what
 * the publishes buffered 1 ms after it was woken. XMLBUS_BENCH_NATS_ASAP=0
 * or 1 forces one of the two for every row, to compare them.
 *
 * Without nats-server (looked up as $XB_NATS_SERVER, then in PATH, /usr/bin,
 * /usr/sbin, /usr/local/bin), or in a build without libnats, the rows are
 * "not available" and the run still succeeds. */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SERVER_TIMEOUT_MS 10000
#define READY_TIMEOUT_MS 10000
#define LISTENING "Listening for client connections on "

typedef struct {
    char dir[BENCH_PATH_MAX];
    char log[BENCH_PATH_MAX + 32];
    char url[64];
    pid_t server;
} peer_env_t;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !bench_interrupted())
        ;
}

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* nats-server: $XB_NATS_SERVER, PATH, /usr/bin, /usr/sbin, /usr/local/bin
 * (Debian puts it in /usr/sbin, not in a user's PATH). */
static int find_server(char *out, size_t cap)
{
    const char *env = getenv("XB_NATS_SERVER");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return executable(out) ? 0 : -1;
    }
    const char *path = getenv("PATH");
    char dirs[8192];
    snprintf(dirs, sizeof dirs, "%s:/usr/bin:/usr/sbin:/usr/local/bin", path ? path : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
        if ((size_t)snprintf(out, cap, "%s/nats-server", d) < cap && executable(out))
            return 0;
    return -1;
}

static void peer_close(peer_env_t *e)
{
    if (e->server > 0)
        bench_stop(e->server, 5000);
    if (e->dir[0])
        bench_tmpdir_remove(e->dir);
    memset(e, 0, sizeof *e);
}

/* Starts nats-server on a port of its choice (-p -1) on 127.0.0.1 and
 * reads the port from its log. */
static int peer_open(peer_env_t *e, const char *bin, xb_error_t *err)
{
    if (bench_tmpdir(e->dir, err) != 0)
        return -1;
    snprintf(e->log, sizeof e->log, "%s/nats-server.log", e->dir);
    const char *argv[] = {bin, "-a", "127.0.0.1", "-p", "-1", NULL};
    e->server = bench_spawn(argv, e->log, NULL, err);
    if (e->server < 0)
        return -1;
    char buf[8192]; /* the first lines of its log */
    for (int waited = 0; waited < SERVER_TIMEOUT_MS && !bench_interrupted(); waited += 10) {
        const char *at = bench_read_file(e->log, buf, sizeof buf) > 0 ? strstr(buf, LISTENING)
                                                                      : NULL;
        const char *colon = at ? strchr(at + strlen(LISTENING), ':') : NULL;
        int port = colon ? atoi(colon + 1) : 0;
        if (port > 0) {
            snprintf(e->url, sizeof e->url, "nats://127.0.0.1:%d", port);
            return 0;
        }
        if (!bench_alive(e->server))
            break;
        sleep_ms(10);
    }
    char tail[200];
    bench_log_tail(e->log, tail, sizeof tail);
    return xb_error_set(err, XB_ERR_IO, 0, "nats-server did not start: %s", tail);
}

/* SendAsap for a window: at 1 in flight, unless XMLBUS_BENCH_NATS_ASAP says. */
static bool send_asap(int window)
{
    const char *v = getenv("XMLBUS_BENCH_NATS_ASAP");
    if (v && (strcmp(v, "0") == 0 || strcmp(v, "1") == 0))
        return v[0] == '1';
    return window == 1;
}

static int parse_result(const char *line, bench_peer_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->ok = sscanf(
                line,
                "ok %" SCNu64 " %" SCNu64 " %lf %lf %lf %lf %lf %" SCNd64 " %" SCNd64 " %" SCNd64,
                &r->round_trips, &r->errors, &r->seconds, &r->p50_us, &r->p99_us, &r->p999_us,
                &r->mean_us, &r->server_cpu_ns, &r->responder_cpu_ns, &r->requester_cpu_ns) == 10;
    return r->ok ? 0 : -1;
}

static double per_routed_us(int64_t ns, uint64_t routed)
{
    return ns >= 0 ? (double)ns / 1000.0 / (double)(routed ? routed : 1) : -1;
}

static void fill_row(bench_row_t *row, const bench_peer_result_t *r)
{
    row->round_trips = r->round_trips;
    row->routed = 2 * r->round_trips;
    row->errors = r->errors;
    row->seconds = r->seconds;
    row->msgs_per_s = r->seconds > 0 ? (double)row->routed / r->seconds : 0;
    row->p50_us = r->p50_us;
    row->p99_us = r->p99_us;
    row->p999_us = r->p999_us;
    row->mean_us = r->mean_us;
    row->pump_cpu_us = per_routed_us(r->server_cpu_ns, row->routed);
    row->echo_cpu_us = per_routed_us(r->responder_cpu_ns, row->routed);
    row->client_cpu_us = per_routed_us(r->requester_cpu_ns, row->routed);
}

/* Waits for the requester's result line; it may exit right after writing it. */
static int wait_result(const char *path, pid_t pid, int timeout_ms, char *line, size_t cap)
{
    if (bench_wait_file_line(path, pid, timeout_ms, line, cap) == 0)
        return 0;
    return bench_read_file(path, line, cap) > 0 && line[0] ? 0 : -1;
}

/* One row: a responder and a requester of its own; fills the row. */
static void peer_row(const bench_opts_t *o, peer_env_t *e, bench_row_t *row, int index)
{
    const char *mode = strcmp(row->backend, "nats-xml") == 0 ? "xml" : "echo";
    char self[BENCH_PATH_MAX + 32], ready[BENCH_PATH_MAX + 32], result[BENCH_PATH_MAX + 32];
    char rlog[BENCH_PATH_MAX + 32], qlog[BENCH_PATH_MAX + 32];
    snprintf(self, sizeof self, "%s/xmlbus-bench", o->bin_dir);
    snprintf(ready, sizeof ready, "%s/ready-%d", e->dir, index);
    snprintf(result, sizeof result, "%s/result-%d", e->dir, index);
    snprintf(rlog, sizeof rlog, "%s/responder.log", e->dir);
    snprintf(qlog, sizeof qlog, "%s/requester.log", e->dir);
    const char *asap = send_asap(row->in_flight) ? "1" : "0";
    xb_error_t err;
    xb_error_clear(&err);
    const char *rargv[] = {self, "--nats-responder", e->url, mode, asap, ready, NULL};
    pid_t responder = bench_spawn(rargv, rlog, NULL, &err), requester = -1;
    char line[512], tail[200];
    if (responder < 0) {
        bench_row_finish(row, ST_FAILED, "%s", err.message);
        return;
    }
    if (bench_wait_file_line(ready, responder, READY_TIMEOUT_MS, line, sizeof line) != 0) {
        bench_log_tail(rlog, tail, sizeof tail);
        bench_row_finish(row, ST_FAILED, "the NATS responder did not start: %s", tail);
        goto out;
    }
    char k[16], size[32], secs[32], msgs[32], spid[16], rpid[16];
    snprintf(k, sizeof k, "%d", row->in_flight);
    snprintf(size, sizeof size, "%zu", row->payload);
    snprintf(secs, sizeof secs, "%.3f", o->seconds);
    snprintf(msgs, sizeof msgs, "%ld", o->messages);
    snprintf(spid, sizeof spid, "%ld", (long)e->server);
    snprintf(rpid, sizeof rpid, "%ld", (long)responder);
    const char *qargv[] = {
        self, "--nats-requester", e->url, mode, k, size, secs, msgs, asap, spid, rpid, result,
        NULL};
    requester = bench_spawn(qargv, qlog, NULL, &err);
    if (requester < 0) {
        bench_row_finish(row, ST_FAILED, "%s", err.message);
        goto out;
    }
    /* Warm-up (a fifth of the row at most), the row, the drain, start-up. */
    int timeout_ms = (int)(o->seconds * 1300) + 30000;
    bench_peer_result_t r;
    if (wait_result(result, requester, timeout_ms, line, sizeof line) != 0) {
        bench_log_tail(qlog, tail, sizeof tail);
        bench_row_finish(row, ST_FAILED, "the NATS requester gave no result: %s", tail);
    } else if (parse_result(line, &r) != 0) {
        bench_row_finish(row, ST_FAILED, "NATS requester: %s", line);
    } else {
        fill_row(row, &r);
        bench_row_finish(row, r.errors ? ST_FAILED : ST_OK, "%s%s",
                         r.errors ? "unexpected answers; " : "",
                         asap[0] == '1' ? "SendAsap" : "buffered (1 ms flusher)");
    }
out:
    if (requester > 0)
        bench_stop(requester, 2000);
    bench_stop(responder, 2000);
}

void bench_peer_rows(const bench_opts_t *o, bench_row_t *rows, size_t n, int *progress, int total)
{
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= rows[i].selected && rows[i].kind == ROW_PEER;
    if (!any)
        return;
    char bin[BENCH_PATH_MAX];
    peer_env_t e;
    memset(&e, 0, sizeof e);
    xb_error_t err;
    xb_error_clear(&err);
    const char *missing = NULL;
#ifndef XB_BENCH_NATS
    missing = "NATS: not available (xmlbus-bench was built without libnats: "
              "scripts/install-deps.sh --bench, then configure again)";
#endif
    if (!missing && find_server(bin, sizeof bin) != 0)
        missing = "nats-server: not available (not found; scripts/install-deps.sh --bench "
                  "installs it)";
    int open_rc = missing ? -1 : peer_open(&e, bin, &err);
    for (size_t i = 0; i < n && !bench_interrupted(); i++) {
        bench_row_t *row = &rows[i];
        if (!row->selected || row->kind != ROW_PEER)
            continue;
        bench_progress(progress, total, row);
        if (missing)
            bench_row_finish(row, ST_NOT_AVAILABLE, "%s", missing);
        else if (open_rc != 0)
            bench_row_finish(row, ST_FAILED, "%s", err.message);
        else if (!bench_alive(e.server))
            bench_row_finish(row, ST_FAILED, "nats-server is gone (log %s)", e.log);
        else
            peer_row(o, &e, row, (int)i);
    }
    peer_close(&e);
}
