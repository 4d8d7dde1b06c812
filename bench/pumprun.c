/* The pump end to end: `xmlbus run` as its own process, xmlbus-echo as its
 * listener (started by the pump), and a client in this process.
 *
 *   client --SEND--> pump --DELIVER--> xmlbus-echo --REPLY ^--> pump --DELIVER--> client
 *
 * One round trip is 2 routed messages (the pump's `routed` counter counts
 * both). The client keeps a window of K messages in flight with the client
 * API: xb_client_post puts a SEND on the wire without waiting for the pump's
 * verdict, until K messages are outstanding; xb_client_recv then collects
 * the answers (the window is refilled after each batch). So the rows measure
 * the pump with K SENDs on the wire, not one client round trip per message.
 * A message's latency runs from its xb_client_post to the moment its answer
 * is taken from xb_client_recv. xb_client_post reports neither the thread
 * nor the message id, so every message carries its own number in the
 * payload's <seq> (fixed width, the payload keeps its exact size) and the
 * echo sends it back: answers are matched by it. A refusal or SystemError
 * fails the row (see take_posted in pumpwin.c). Rows marked pipelined speak
 * the XB1 client protocol by hand instead (pumppipe.c): a second
 * measurement of the same pump without the client library.
 *
 * CPU: utime+stime of the pump and of its echo processes from /proc before
 * and after the measured phase, divided by the routed messages of that
 * phase (pump `stats`). Validation is on (echo.xsd) and so is recording
 * (every delivery appends a slot to the backend). */
#include "bench.h"

#include "pumprun.h"

#include "xmlbus/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libxml/tree.h>

#define READY_TIMEOUT_MS 20000
#define MAX_WORKERS 16

/* Retention of the context buffer: small enough that the memory backend
 * stays bounded over a long run, large enough not to evict a live thread. */
#define RETAIN_THREADS 1000
#define RETAIN_SLOTS 10
/* limits.client_queue_messages: answers held for a client that does not read. */
#define CLIENT_BUDGET 2000

typedef struct {
    uint64_t routed;
    uint64_t unanswered; /* client-unanswered: requests of a client that read nothing */
    uint64_t expired;    /* client-expired: answers dropped, their client took none too long */
    int processes;
    pid_t pids[MAX_WORKERS]; /* echo processes */
    int n_pids;
} pump_stats_t;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !bench_interrupted())
        ;
}

/* ---- organism ----------------------------------------------------------------- */

/* The rows over tcp with CURVE: the pump, the bench's client (an admin:
 * it reads stats) and echo each get a keypair in the pump's folder. */
static bool curve(const pump_env_t *e)
{
    return strcmp(e->transport, "tcp-curve") == 0;
}

static int make_keys(pump_env_t *e, xb_error_t *err)
{
    static const char *const names[] = {"server", "client", "echo"};
    for (size_t i = 0; i < 3; i++) {
        xb_key_t k;
        int rc = xb_key_generate(&k, err) == 0 &&
                         xb_key_save(&k, e->dir, names[i], NULL, NULL, 0, err) == 0
                     ? 0
                     : -1;
        xb_key_wipe(&k);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int write_organism(pump_env_t *e, xb_error_t *err)
{
    char xsd[BENCH_PATH_MAX + 16];
    snprintf(xsd, sizeof xsd, "%s/echo.xsd", e->dir);
    if (bench_write_file(xsd, bench_echo_xsd, err) != 0)
        return -1;
    char backend[512];
    if (strcmp(e->backend, "manager") == 0)
        snprintf(backend, sizeof backend, "  type: manager\n  path: lmdb\n  map_size: 4GiB\n");
    else if (strcmp(e->backend, "redis") == 0)
        snprintf(backend, sizeof backend, "  type: redis\n  redis_url: %s\n  redis_ttl: 600\n",
                 bench_redis_url(e->redis));
    else
        snprintf(backend, sizeof backend, "  type: memory\n");
    /* XMLBUS_BENCH_JOURNAL=off measures manager and redis without the journal
     * (docs/performance.md, "The journal"). */
    const char *journal = getenv("XMLBUS_BENCH_JOURNAL");
    if (strcmp(e->backend, "memory") != 0 && journal && strcmp(journal, "off") == 0)
        strncat(backend, "  journal: false\n", sizeof backend - strlen(backend) - 1);
    /* A plain echo gets credit for the largest window, so that the pump never
     * waits a round trip to it per message; pool workers keep credit 1 (one
     * message per worker, the pool's contract). */
    char pool[128] = "    credit: 100\n";
    if (e->kind == ROW_POOL)
        snprintf(pool, sizeof pool, "    cpu_bound: true\n    workers: %d\n", e->workers);
    char echo[512];
    snprintf(echo, sizeof echo,
             "  - name: echo\n"
             "    payload: echo\n"
             "    schema: echo.xsd\n"
             "    command: xmlbus-echo\n%s%s",
             pool, curve(e) ? "    key: echo.key_secret\n" : "");
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "# written by xmlbus-bench\n"
             "organism:\n"
             "  name: bench\n%s"
             "limits:\n"
             "  max_message_bytes: 4MiB\n" /* room for the 100 KB payload rows */
             "  max_payload_bytes: 4MiB\n"
             "  max_threads: %d\n"
             "  max_slots_per_thread: %d\n"
             "  shutdown_seconds: 2\n"
             "  client_queue_messages: %d\n" /* the slow-reader row fills it early */
             "backend:\n%s"
             "listeners:\n%s",
             curve(e) ? "security:\n  server_key: server.key_secret\n"
                        "  admins: [client.key]\n"
                      : "",
             RETAIN_THREADS, RETAIN_SLOTS, CLIENT_BUDGET, backend,
             e->listeners ? e->listeners : echo);
    return bench_write_file(e->cfg, yaml, err);
}

/* ---- stats ---------------------------------------------------------------------- */

static long long attr_ll(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    long long x = v ? strtoll((const char *)v, NULL, 10) : -1;
    xmlFree(v);
    return x;
}

static int pump_stats(pump_env_t *e, pump_stats_t *s, xb_error_t *err)
{
    memset(s, 0, sizeof *s);
    char *body = NULL;
    if (xb_client_control(e->client, "stats", NULL, 0, SEND_TIMEOUT_MS, &body, err) != 0)
        return -1;
    xmlDoc *doc = xb_client_read_xml(body, strlen(body), err);
    free(body);
    if (!doc)
        return -1;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    s->routed = root ? (uint64_t)attr_ll(root, "routed") : 0;
    s->unanswered = root ? (uint64_t)attr_ll(root, "client-unanswered") : 0;
    s->expired = root ? (uint64_t)attr_ll(root, "client-expired") : 0;
    for (xmlNodePtr l = root ? root->children : NULL; l; l = l->next) {
        if (l->type != XML_ELEMENT_NODE || !xmlStrEqual(l->name, BAD_CAST "listener"))
            continue;
        s->processes = (int)attr_ll(l, "processes");
        for (xmlNodePtr w = l->children; w; w = w->next)
            if (w->type == XML_ELEMENT_NODE && xmlStrEqual(w->name, BAD_CAST "worker") &&
                s->n_pids < MAX_WORKERS && attr_ll(w, "pid") > 0)
                s->pids[s->n_pids++] = (pid_t)attr_ll(w, "pid");
    }
    xmlFreeDoc(doc);
    return 0;
}

static int64_t echo_cpu_ns(const pump_stats_t *s)
{
    int64_t sum = 0;
    for (int i = 0; i < s->n_pids; i++) {
        int64_t c = bench_proc_cpu_ns(s->pids[i]);
        if (c < 0)
            return -1;
        sum += c;
    }
    return s->n_pids ? sum : -1;
}

/* ---- pump process ------------------------------------------------------------------ */

void bench_pump_close(pump_env_t *e)
{
    xb_client_destroy(&e->client);
    if (e->pid > 0)
        bench_stop(e->pid, 8000);
    e->pid = 0;
    bench_redis_stop(&e->redis);
    if (e->dir[0])
        bench_tmpdir_remove(e->dir);
    e->dir[0] = '\0';
}

/* The pump's failure, with the end of its log. */
static int pump_failed(pump_env_t *e, xb_error_t *err, const char *what)
{
    char tail[300];
    bench_log_tail(e->log, tail, sizeof tail);
    return xb_error_set(err, XB_ERR_IO, 0, "%s%s%s", what, tail[0] ? ": " : "", tail);
}

int bench_pump_open(const bench_opts_t *o, pump_env_t *e, xb_error_t *err)
{
    if (bench_tmpdir(e->dir, err) != 0)
        return -1;
    snprintf(e->cfg, sizeof e->cfg, "%s/organism.yaml", e->dir);
    snprintf(e->log, sizeof e->log, "%s/pump.log", e->dir);
    snprintf(e->epfile, sizeof e->epfile, "%s/endpoint", e->dir);
    if (strcmp(e->backend, "redis") == 0) {
        e->redis = bench_redis_start(err);
        if (!e->redis)
            return -1;
    }
    if ((curve(e) && make_keys(e, err) != 0) || write_organism(e, err) != 0)
        return -1;
    char xmlbus[BENCH_PATH_MAX + 16], bind_ep[BENCH_PATH_MAX + 32];
    snprintf(xmlbus, sizeof xmlbus, "%s/xmlbus", o->bin_dir);
    if (strcmp(e->transport, "ipc") == 0)
        snprintf(bind_ep, sizeof bind_ep, "ipc://%s/pump.sock", e->dir);
    else
        snprintf(bind_ep, sizeof bind_ep, "tcp://127.0.0.1:*");
    const char *argv[] = {
        xmlbus,    "run",         e->cfg, "--endpoint", bind_ep, "--endpoint-file",
        e->epfile, "--log-level", "warn", NULL};
    const char *env[] = {"XMLBUS_LOG_LEVEL=warn", NULL};
    e->pid = bench_spawn(argv, e->log, env, err);
    if (e->pid < 0)
        return -1;
    if (bench_wait_file_line(e->epfile, e->pid, READY_TIMEOUT_MS, e->endpoint,
                             sizeof e->endpoint) != 0)
        return pump_failed(e, err, "the pump did not start");
    char key[BENCH_PATH_MAX + 32], server[BENCH_PATH_MAX + 32];
    snprintf(key, sizeof key, "%s/client%s", e->dir, XB_KEY_SECRET_SUFFIX);
    snprintf(server, sizeof server, "%s/server%s", e->dir, XB_KEY_PUBLIC_SUFFIX);
    e->client = curve(e) ? xb_client_new_secure(e->endpoint, NULL, key, server, err)
                         : xb_client_new(e->endpoint, NULL, err);
    if (!e->client)
        return -1;
    /* Serves, and every echo process has registered. */
    for (int waited = 0; waited < READY_TIMEOUT_MS && !bench_interrupted(); waited += 50) {
        pump_stats_t s;
        xb_error_t serr;
        xb_error_clear(&serr);
        if (pump_stats(e, &s, &serr) == 0 && s.processes >= e->workers &&
            s.n_pids >= (e->processes ? e->processes : e->workers))
            return 0;
        if (!bench_alive(e->pid))
            return pump_failed(e, err, "the pump exited");
        sleep_ms(50);
    }
    return pump_failed(e, err, "xmlbus-echo did not register with the pump");
}

/* ---- rows ------------------------------------------------------------------------------- */

typedef struct {
    uint64_t t, self_cpu;
    int64_t pump_cpu, echo_cpu;
    pump_stats_t st;
} snap_t;

static int snapshot(pump_env_t *e, snap_t *s, xb_error_t *err)
{
    if (pump_stats(e, &s->st, err) != 0)
        return -1;
    s->t = bench_now_ns();
    s->self_cpu = bench_self_cpu_ns();
    s->pump_cpu = bench_proc_cpu_ns(e->pid);
    s->echo_cpu = echo_cpu_ns(&s->st);
    return 0;
}

/* Fills the throughput, CPU and latency fields of row from two snapshots. */
static void fill_row(bench_row_t *row, const snap_t *a, const snap_t *b, win_t *w)
{
    row->round_trips = w->done;
    row->errors = w->errors;
    row->routed = b->st.routed - a->st.routed;
    row->seconds = (double)(b->t - a->t) / 1e9;
    /* Flow rows count client round trips, for messages and CPU alike. */
    double per = row->kind == ROW_FLOW ? (double)w->done : (double)row->routed;
    row->msgs_per_s = row->seconds > 0 ? per / row->seconds : 0;
    double routed = per > 0 ? per : 1;
    row->pump_cpu_us = a->pump_cpu >= 0 && b->pump_cpu >= 0
                           ? (double)(b->pump_cpu - a->pump_cpu) / 1000.0 / routed
                           : -1;
    /* A restarted echo changes pids: its CPU would not add up. */
    bool same = a->st.n_pids == b->st.n_pids &&
                memcmp(a->st.pids, b->st.pids, sizeof(pid_t) * (size_t)a->st.n_pids) == 0;
    row->echo_cpu_us = same && a->echo_cpu >= 0 && b->echo_cpu >= 0
                           ? (double)(b->echo_cpu - a->echo_cpu) / 1000.0 / routed
                           : -1;
    row->client_cpu_us = (double)(b->self_cpu - a->self_cpu) / 1000.0 / routed;
    bench_lat_fill(&w->lat, row);
}

/* Every answer arrived and nothing else: otherwise the row says what. */
static void finish_measured(bench_row_t *row, const win_t *w)
{
    if (w->errors)
        bench_row_finish(row, ST_FAILED, "%llu SystemErrors or unexpected answers, first: %s",
                         (unsigned long long)w->errors, w->first_error);
    else
        bench_row_finish(row, ST_OK, "%s", "");
}

/* Runs n messages with the row's client: the client API, or pipelined. */
static int run_any(pump_env_t *e, pipe_t *c, win_t *w, char *payload, size_t len, uint64_t n,
                   uint64_t deadline_ns)
{
    return c ? bench_run_pipe(c, w, payload, len, n, deadline_ns)
             : bench_run_window(e, w, payload, len, n, deadline_ns);
}

/* The payload of a row (numbered when seq, for clients that match answers by
 * the number) and its window *w; NULL with the row failed when memory ran out.
 * The caller frees the payload and the window. */
static char *row_start(bench_row_t *row, bool seq, win_t *w)
{
    size_t seq_at = 0;
    char *payload = seq ? bench_seq_payload(row->payload, &seq_at) : bench_payload(row->payload);
    if (!payload || bench_win_init(w, row->in_flight) != 0) {
        free(payload);
        bench_row_finish(row, ST_FAILED, "out of memory");
        return NULL;
    }
    w->seq_at = seq_at;
    return payload;
}

void bench_pump_row(const bench_opts_t *o, pump_env_t *e, bench_row_t *row)
{
    /* The pipelined client matches by thread: it sends the plain payload. */
    win_t w;
    char *payload = row_start(row, !row->pipelined, &w);
    if (!payload)
        return;
    pipe_t pipe = {0};
    pipe_t *c = NULL;
    if (row->pipelined) {
        if (bench_pipe_open(&pipe, e->endpoint, w.why, sizeof w.why) != 0)
            bench_row_finish(row, ST_FAILED, "%s", w.why);
        c = &pipe;
    }
    if (row->status == ST_PENDING && e->redis && bench_redis_flush(e->redis) != 0)
        bench_row_finish(row, ST_FAILED, "redis FLUSHALL failed");
    xb_error_t err;
    xb_error_clear(&err);
    snap_t a, b;
    /* Warm-up (not measured): a few windows, at most a fifth of the row's time. */
    uint64_t warm = (uint64_t)row->in_flight * 4 + 100;
    uint64_t warm_end = bench_now_ns() + (uint64_t)(o->seconds * 0.2e9) + 50000000u;
    if (row->status == ST_PENDING && run_any(e, c, &w, payload, row->payload, warm, warm_end) != 0)
        bench_row_finish(row, ST_FAILED, "warm-up: %s", w.why);
    if (row->status == ST_PENDING) {
        w.done = w.errors = 0;
        w.record = true;
        if (snapshot(e, &a, &err) != 0)
            bench_row_finish(row, ST_FAILED, "stats: %s", err.message);
    }
    if (row->status == ST_PENDING) {
        uint64_t deadline = bench_now_ns() + (uint64_t)(o->seconds * 1e9);
        if (run_any(e, c, &w, payload, row->payload, (uint64_t)o->messages, deadline) != 0)
            bench_row_finish(row, ST_FAILED, "%s", w.why);
        else if (snapshot(e, &b, &err) != 0)
            bench_row_finish(row, ST_FAILED, "stats: %s", err.message);
    }
    if (row->status == ST_PENDING) {
        fill_row(row, &a, &b, &w);
        finish_measured(row, &w);
    }
    bench_pipe_close(&pipe);
    bench_win_free(&w);
    free(payload);
}

/* The RSS row: N routed messages (N/2 round trips) with the pump's RSS
 * sampled on the way. The first sample is the idle pump; the "fill" sample
 * comes once the retention (RETAIN_THREADS threads; every round trip makes
 * two) has been filled several times over, so what grows after it is not
 * the context buffer. The row stops early at o->rss_seconds. */
static void rss_row(const bench_opts_t *o, pump_env_t *e, bench_row_t *row)
{
    win_t w;
    char *payload = row_start(row, true, &w);
    if (!payload)
        return;
    uint64_t total = (uint64_t)o->rss_messages / 2; /* round trips */
    uint64_t fill = total / 10 > 5u * RETAIN_THREADS ? total / 10 : 5u * RETAIN_THREADS;
    if (fill > total)
        fill = total;
    uint64_t deadline = bench_now_ns() + (uint64_t)(o->rss_seconds * 1e9);
    row->rss_start_kb = bench_proc_rss_kb(e->pid);
    row->rss_kb[0] = row->rss_start_kb;
    row->rss_at[0] = 0;
    row->n_rss = 1;
    xb_error_t err;
    xb_error_clear(&err);
    snap_t a, b;
    int rc = bench_run_window(e, &w, payload, row->payload, fill, deadline);
    row->rss_fill_kb = bench_proc_rss_kb(e->pid);
    row->rss_kb[row->n_rss] = row->rss_fill_kb;
    row->rss_at[row->n_rss++] = 2 * w.done;
    if (rc == 0 && snapshot(e, &a, &err) != 0) {
        snprintf(w.why, sizeof w.why, "stats: %.200s", err.message);
        rc = -1;
    }
    uint64_t fill_done = w.done, fill_errors = w.errors;
    w.record = true;
    /* The rest in steps, one RSS sample after each. */
    int steps = BENCH_RSS_SAMPLES - 2;
    uint64_t rest = total - fill;
    for (int s = 1; rc == 0 && s <= steps && rest > 0 && bench_now_ns() < deadline; s++) {
        uint64_t target = fill + rest * (uint64_t)s / (uint64_t)steps;
        rc = bench_run_window(e, &w, payload, row->payload, target - w.done, deadline);
        row->rss_kb[row->n_rss] = bench_proc_rss_kb(e->pid);
        row->rss_at[row->n_rss++] = 2 * w.done;
    }
    if (rc == 0 && snapshot(e, &b, &err) != 0) {
        snprintf(w.why, sizeof w.why, "stats: %.200s", err.message);
        rc = -1;
    }
    row->rss_end_kb = row->rss_kb[row->n_rss - 1];
    if (rc != 0) {
        bench_row_finish(row, ST_FAILED, "%s", w.why);
    } else {
        uint64_t all = w.done;
        w.done -= fill_done;
        w.errors -= fill_errors;
        fill_row(row, &a, &b, &w);
        w.errors += fill_errors;
        row->errors = w.errors;
        /* Flat: after the fill it grew by at most 5% or 1 MiB, whichever is more. */
        long growth = row->rss_end_kb - row->rss_fill_kb;
        long allowed = row->rss_fill_kb / 20 > 1024 ? row->rss_fill_kb / 20 : 1024;
        row->rss_flat = row->rss_fill_kb > 0 && row->rss_end_kb > 0 ? growth <= allowed : -1;
        if (w.errors)
            bench_row_finish(row, ST_FAILED, "%llu SystemErrors or unexpected answers, first: %s",
                             (unsigned long long)w.errors, w.first_error);
        else
            bench_row_finish(
                row, ST_OK,
                "RSS %ld KiB idle, %ld KiB after %llu routed, %ld KiB after %llu routed: %s%s",
                row->rss_start_kb, row->rss_fill_kb, (unsigned long long)(2 * fill_done),
                row->rss_end_kb, (unsigned long long)(2 * all),
                row->rss_flat == 1 ? "flat" : "grows",
                all < total ? " (stopped at the time cap)" : "");
    }
    bench_win_free(&w);
    free(payload);
}

/* The pump's client-unanswered, 0 when the stats cannot be read. */
static uint64_t unanswered(pump_env_t *e)
{
    pump_stats_t st;
    xb_error_t err;
    return pump_stats(e, &st, &err) == 0 ? st.unanswered : 0;
}

/* The slow-reader RSS row: the pump's RSS while a client posts
 * o->rss_messages / 2 messages and reads nothing, then what it got once it
 * read: every post is an answer, a refusal or counted as unanswered. */
static void slow_row(const bench_opts_t *o, pump_env_t *e, bench_row_t *row)
{
    char *payload = bench_payload(row->payload);
    if (!payload) {
        bench_row_finish(row, ST_FAILED, "out of memory");
        return;
    }
    row->rss_start_kb = row->rss_kb[0] = bench_proc_rss_kb(e->pid);
    row->n_rss = 1;
    slow_t s = {0};
    uint64_t deadline = bench_now_ns() + (uint64_t)(o->rss_seconds * 1e9);
    pump_stats_t st;
    xb_error_t err;
    xb_error_clear(&err);
    if (bench_run_slow(e, &s, payload, row->payload, (uint64_t)o->rss_messages / 2, deadline, row,
                       unanswered) != 0) {
        bench_row_finish(row, ST_FAILED, "%s", s.why);
    } else if (pump_stats(e, &st, &err) != 0) {
        bench_row_finish(row, ST_FAILED, "stats: %s", err.message);
    } else {
        long growth = row->rss_end_kb - row->rss_fill_kb;
        long allowed = row->rss_fill_kb / 20 > 1024 ? row->rss_fill_kb / 20 : 1024;
        row->rss_flat = row->rss_fill_kb > 0 && row->rss_end_kb > 0 ? growth <= allowed : -1;
        /* Every post: accepted, refused or unanswered; every accepted one:
         * answered, or expired (the client took nothing for
         * client_timeout_seconds). The rest is lost. */
        uint64_t told = s.accepted + s.refused + st.unanswered;
        uint64_t lost = (s.posted > told ? s.posted - told : 0) +
                        (s.accepted > s.answers + st.expired ? s.accepted - s.answers - st.expired
                                                             : 0);
        row->errors = lost;
        bench_row_finish(row, lost ? ST_FAILED : ST_OK,
                         "RSS %ld KiB idle, %ld KiB after %llu posted, %ld KiB after %llu: %s; "
                         "%llu accepted, %llu answers, %llu refused, %llu unanswered, "
                         "%llu expired, %llu lost",
                         row->rss_start_kb, row->rss_fill_kb, (unsigned long long)row->rss_at[1],
                         row->rss_end_kb, (unsigned long long)s.posted,
                         row->rss_flat == 1 ? "flat" : "grows", (unsigned long long)s.accepted,
                         (unsigned long long)s.answers, (unsigned long long)s.refused,
                         (unsigned long long)st.unanswered, (unsigned long long)st.expired,
                         (unsigned long long)lost);
    }
    free(payload);
}

static bool row_matches(const bench_row_t *r, row_kind_t kind, const char *backend,
                        const char *transport, int workers)
{
    return r->selected && r->kind == kind && strcmp(r->backend, backend) == 0 &&
           strcmp(r->transport, transport) == 0 && (kind != ROW_POOL || r->workers == workers);
}

void bench_pump_rows(const bench_opts_t *o, bench_row_t *rows, size_t n, row_kind_t kind,
                     const char *backend, const char *transport, int workers, int *progress,
                     int total)
{
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= row_matches(&rows[i], kind, backend, transport, workers);
    if (!any)
        return;
    pump_env_t e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.backend = backend;
    e.transport = transport;
    e.workers = kind == ROW_POOL ? workers : 1;
    xb_error_t err;
    xb_error_clear(&err);
    int open_rc = bench_pump_open(o, &e, &err);
    bool no_redis = open_rc != 0 && strcmp(backend, "redis") == 0 && !e.redis;
    for (size_t i = 0; i < n && !bench_interrupted(); i++) {
        bench_row_t *row = &rows[i];
        if (!row_matches(row, kind, backend, transport, workers))
            continue;
        bench_progress(progress, total, row);
        if (no_redis)
            bench_row_finish(row, ST_NOT_AVAILABLE, "redis: not available (%s)", err.message);
        else if (open_rc != 0)
            bench_row_finish(row, ST_FAILED, "%s", err.message);
        else if (!bench_alive(e.pid))
            bench_row_finish(row, ST_FAILED, "the pump is gone (log %s)", e.log);
        else if (kind == ROW_RSS && row->slowreader)
            slow_row(o, &e, row);
        else if (kind == ROW_RSS)
            rss_row(o, &e, row);
        else
            bench_pump_row(o, &e, row);
    }
    bench_pump_close(&e);
}
