/* xmlbus-bench: the benchmark of xmlbus (docs/performance.md).
 *
 *     xmlbus-bench [--quick] [--only PATTERN] [--messages N] [--rss-messages N]
 *                  [--seconds S] [--json FILE] [--csv FILE]
 *
 * Runs the rows of the plan below in order, prints progress on stderr, then
 * the table with the ratios and the goals on stdout, and writes JSON (and
 * CSV when asked). Exit 0 when every selected row ran (a redis row without
 * redis-server, a peer row without nats-server, counts as run: "not
 * available"), 1 when a row failed, 2 for
 * bad usage, 130 after SIGINT. */
#include "bench.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xmlbus/xmlsafe.h"

#define MAX_ROWS 128

static const size_t k_sizes[] = {400, 10 * 1024, 100 * 1024};
static const int k_windows[] = {1, 10, 100};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xmlbus-bench [OPTIONS]\n"
            "\n"
            "Measures raw ZeroMQ round trips, libxml2 parse + validation, and the pump\n"
            "end to end (memory, manager, redis backends; cpu_bound pools; RSS over a\n"
            "long run), and the peer (NATS + libxml2), and prints them side by side.\n"
            "See docs/performance.md.\n"
            "\n"
            "  --quick            short rows (~0.25 s each, RSS over 50 000 routed messages):\n"
            "                     the whole run takes well under a minute\n"
            "  --only PATTERN     run only rows whose id contains PATTERN; several\n"
            "                     patterns separated by commas (e.g. raw/ipc,pump/memory/ipc)\n"
            "  --messages N       at most N round trips per measured row (default\n"
            "                     1000000; rows also stop at --seconds)\n"
            "  --rss-messages N   routed messages of the RSS row, 2 per round trip\n"
            "                     (default 1000000, quick 50000)\n"
            "  --rss-seconds S    time cap of the RSS row (default 300, quick 20)\n"
            "  --seconds S        time cap of one measured row (default 2.5, quick 0.25)\n"
            "  --json FILE        write the results as JSON (default bench-results.json)\n"
            "  --csv FILE         also write the results as CSV\n"
            "  --list             print the row ids and exit\n"
            "  -h, --help         this text\n"
            "\n"
            "Row ids: parse/envelope/SIZE, parse/payload/SIZE, raw/T/kK/SIZE,\n"
            "pump/BACKEND/T/kK/SIZE[/pipelined], pool/wN/ipc/kK/400B, rss/memory/ipc/k100/400B,\n"
            "  rss/memory/ipc/slowreader/400B, peer/nats/tcp/kK/400B, peer/nats-xml/tcp/kK/400B,\n"
            "  flow/seq3|hops3/memory/ipc/kK/400B\n"
            "with T = tcp|ipc, K = messages in flight, SIZE = 400B|10KB|100KB.\n");
}

static const char *size_id(size_t s)
{
    return s == 400 ? "400B" : s == 10240 ? "10KB" : "100KB";
}
static const char *size_label(size_t s)
{
    return s == 400 ? "400 B" : s == 10240 ? "10 KB" : "100 KB";
}

static bench_row_t *add_row(bench_row_t *rows, size_t *n, row_kind_t kind, const char *backend,
                            const char *transport, int window, size_t size, int workers)
{
    if (*n == MAX_ROWS)
        return NULL;
    bench_row_t *r = &rows[(*n)++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->backend = backend ? backend : "";
    r->transport = transport ? transport : "";
    r->in_flight = window;
    r->payload = size;
    r->workers = workers;
    r->rss_flat = -1;
    r->thr_ratio = r->p50_ratio = r->p99_ratio = r->cpu_ratio = r->cpu_raw_ratio = -1;
    r->peer_thr_ratio = r->peer_p50_ratio = r->peer_p99_ratio = r->peer_cpu_ratio = -1;
    r->p50_us = r->p99_us = r->p999_us = r->mean_us = r->us_per_msg = -1;
    r->pump_cpu_us = r->echo_cpu_us = r->client_cpu_us = -1;
    switch (kind) {
    case ROW_PARSE_ENV:
    case ROW_VALIDATE: {
        const char *what = kind == ROW_PARSE_ENV ? "envelope" : "payload";
        snprintf(r->id, sizeof r->id, "parse/%s/%s", what, size_id(size));
        snprintf(r->label, sizeof r->label, "%s %s",
                 kind == ROW_PARSE_ENV ? "parse + envelope.xsd" : "payload xsd validation",
                 size_label(size));
        break;
    }
    case ROW_RAW:
        snprintf(r->id, sizeof r->id, "raw/%s/k%d/%s", transport, window, size_id(size));
        snprintf(r->label, sizeof r->label, "raw zeromq %s %d in flight %s", transport, window,
                 size_label(size));
        break;
    case ROW_PUMP:
        snprintf(r->id, sizeof r->id, "pump/%s/%s/k%d/%s", backend, transport, window,
                 size_id(size));
        snprintf(r->label, sizeof r->label, "pump %s %s %d in flight %s", backend, transport,
                 window, size_label(size));
        break;
    case ROW_POOL:
        snprintf(r->id, sizeof r->id, "pool/w%d/%s/k%d/%s", workers, transport, window,
                 size_id(size));
        snprintf(r->label, sizeof r->label, "pump pool of %d worker%s %s %d in flight %s", workers,
                 workers > 1 ? "s" : "", transport, window, size_label(size));
        break;
    case ROW_PEER:
        snprintf(r->id, sizeof r->id, "peer/%s/%s/k%d/%s", backend, transport, window,
                 size_id(size));
        snprintf(r->label, sizeof r->label, "peer: %s %s %d in flight %s",
                 strcmp(backend, "nats") == 0 ? "NATS echo" : "NATS + libxml2 validation",
                 transport, window, size_label(size));
        break;
    case ROW_RSS:
        snprintf(r->id, sizeof r->id, "rss/%s/%s/k%d/%s", backend, transport, window,
                 size_id(size));
        snprintf(r->label, sizeof r->label, "pump RSS over a long run, %s %s %d in flight %s",
                 backend, transport, window, size_label(size));
        break;
    case ROW_FLOW: /* named by bench_flow_name */
        break;
    }
    return r;
}

/* The plan, in the order the rows run. */
static size_t plan(bench_row_t *rows)
{
    size_t n = 0;
    for (size_t s = 0; s < 3; s++) {
        add_row(rows, &n, ROW_PARSE_ENV, NULL, NULL, 0, k_sizes[s], 0);
        add_row(rows, &n, ROW_VALIDATE, NULL, NULL, 0, k_sizes[s], 0);
    }
    static const char *const transports[] = {"tcp", "ipc"};
    for (int t = 0; t < 2; t++)
        for (size_t s = 0; s < 3; s++)
            for (int k = 0; k < 3; k++)
                add_row(rows, &n, ROW_RAW, NULL, transports[t], k_windows[k], k_sizes[s], 0);
    static const struct {
        const char *backend, *transport;
    } pumps[] = {{"memory", "ipc"}, {"memory", "tcp"}, {"manager", "ipc"}, {"redis", "ipc"}};
    for (size_t p = 0; p < sizeof pumps / sizeof pumps[0]; p++) {
        for (size_t s = 0; s < 3; s++)
            for (int k = 0; k < 3; k++)
                add_row(rows, &n, ROW_PUMP, pumps[p].backend, pumps[p].transport, k_windows[k],
                        k_sizes[s], 0);
        /* The same pump and window with the hand-written XB1 client instead
         * of the client API (pumpwin.c), a second measurement: every size
         * for memory over ipc, 400 B for the others. */
        bool all = strcmp(pumps[p].backend, "memory") == 0 &&
                   strcmp(pumps[p].transport, "ipc") == 0;
        for (size_t s = 0; s < (all ? 3u : 1u); s++) {
            bench_row_t *r = add_row(rows, &n, ROW_PUMP, pumps[p].backend, pumps[p].transport, 100,
                                     k_sizes[s], 0);
            if (r) {
                r->pipelined = true;
                strncat(r->id, "/pipelined", sizeof r->id - strlen(r->id) - 1);
                strncat(r->label, ", hand-written XB1 client",
                        sizeof r->label - strlen(r->label) - 1);
            }
        }
    }
    /* The memory rows over tcp with CURVE (docs/security.md): what security costs. */
    add_row(rows, &n, ROW_PUMP, "memory", "tcp-curve", 1, 400, 0);
    add_row(rows, &n, ROW_PUMP, "memory", "tcp-curve", 100, 400, 0);
    /* The peer of pump/memory/tcp (docs/performance.md, "The peer"). */
    static const char *const peers[] = {"nats", "nats-xml"};
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < 3; k += 2)
            add_row(rows, &n, ROW_PEER, peers[p], "tcp", k_windows[k], 400, 0);
    for (int w = 1; w <= 2; w++)
        for (int k = 0; k < 3; k++)
            add_row(rows, &n, ROW_POOL, "memory", "ipc", k_windows[k], 400, w);
    /* A pipeline of three steps against three hand-forwarded hops (flow.c),
     * alternated so that a drift of the machine's load hits both. */
    for (int k = 0; k < 3; k += 2)
        for (int f = 0; f < 2; f++) {
            bench_row_t *r = add_row(rows, &n, ROW_FLOW, "memory", "ipc", k_windows[k], 400, 0);
            if (r)
                bench_flow_name(r, f == 0 ? "seq3" : "hops3");
        }
    add_row(rows, &n, ROW_RSS, "memory", "ipc", 100, 400, 0);
    bench_row_t *r = add_row(rows, &n, ROW_RSS, "memory", "ipc", 0, 400, 0);
    if (r) {
        r->slowreader = true;
        snprintf(r->id, sizeof r->id, "rss/memory/ipc/slowreader/%s", size_id(400));
        snprintf(r->label, sizeof r->label, "pump RSS, a client that posts and does not read, %s",
                 size_label(400));
    }
    return n;
}

static bool selected(const char *id, const char *only)
{
    if (!only || !*only)
        return true;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", only);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
        if (*p && strstr(id, p))
            return true;
    return false;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0)
        return -1;
    *out = v;
    return 0;
}

/* Reads the options; returns 0, 1 for --help/--list (exit 0), 2 for bad usage. */
static int parse_args(int argc, char **argv, bench_opts_t *o, bool *list)
{
    o->json_path = "bench-results.json";
    long messages = 0, rss = 0;
    double seconds = 0, rss_seconds = 0;
    size_t at = 0;
    for (int i = 0; i < argc && at < sizeof o->argv_line; i++)
        at += (size_t)snprintf(o->argv_line + at, sizeof o->argv_line - at, "%s%s", i ? " " : "",
                               argv[i]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = true;
        } else if (strcmp(a, "--list") == 0) {
            *list = true;
        } else if (strcmp(a, "--only") == 0 && v) {
            o->only = v;
            i++;
        } else if (strcmp(a, "--json") == 0 && v) {
            o->json_path = v;
            i++;
        } else if (strcmp(a, "--csv") == 0 && v) {
            o->csv_path = v;
            i++;
        } else if (strcmp(a, "--messages") == 0 && v && parse_long(v, &messages) == 0) {
            i++;
        } else if (strcmp(a, "--rss-messages") == 0 && v && parse_long(v, &rss) == 0) {
            i++;
        } else if (strcmp(a, "--seconds") == 0 && v && (seconds = strtod(v, NULL)) > 0) {
            i++;
        } else if (strcmp(a, "--rss-seconds") == 0 && v && (rss_seconds = strtod(v, NULL)) > 0) {
            i++;
        } else {
            fprintf(stderr, "xmlbus-bench: bad option or value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    o->messages = messages ? messages : (o->quick ? 50000 : 1000000);
    o->rss_messages = rss ? rss : (o->quick ? 50000 : 1000000);
    o->seconds = seconds > 0 ? seconds : (o->quick ? 0.25 : 2.5);
    o->rss_seconds = rss_seconds > 0 ? rss_seconds : (o->quick ? 20 : 300);
    return 0;
}

/* The folder of this executable: xmlbus and xmlbus-echo are built next to it. */
static int find_bin_dir(bench_opts_t *o)
{
    char self[BENCH_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    snprintf(o->bin_dir, sizeof o->bin_dir, "%s", dirname(self));
    return 0;
}

static bool needs_pump(const bench_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].selected && rows[i].kind >= ROW_PUMP && rows[i].kind != ROW_PEER)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--raw-broker") == 0)
        return bench_raw_broker_main(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "--raw-worker") == 0)
        return bench_raw_worker_main(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "--soak") == 0)
        return bench_soak_main(argc - 1, argv + 1);
#ifdef XB_BENCH_NATS
    if (argc >= 2 && strcmp(argv[1], "--nats-responder") == 0)
        return bench_nats_responder_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--nats-requester") == 0)
        return bench_nats_requester_main(argc - 1, argv + 1);
#endif

    bench_opts_t o;
    memset(&o, 0, sizeof o);
    bool list = false;
    int prc = parse_args(argc, argv, &o, &list);
    if (prc)
        return prc == 1 ? 0 : 2;
    static bench_row_t rows[MAX_ROWS];
    size_t n = plan(rows);
    int total = 0;
    for (size_t i = 0; i < n; i++) {
        rows[i].selected = selected(rows[i].id, o.only);
        total += rows[i].selected;
        if (list && rows[i].selected)
            printf("%s\n", rows[i].id);
    }
    if (list)
        return 0;
    if (total == 0) {
        fprintf(stderr, "xmlbus-bench: no row matches '%s' (see --list)\n", o.only);
        return 2;
    }
    if (find_bin_dir(&o) != 0) {
        fprintf(stderr, "xmlbus-bench: cannot find its own folder\n");
        return 1;
    }
    char path[BENCH_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/xmlbus", o.bin_dir);
    char echo[BENCH_PATH_MAX + 32];
    snprintf(echo, sizeof echo, "%s/xmlbus-echo", o.bin_dir);
    if (needs_pump(rows, n) && (access(path, X_OK) != 0 || access(echo, X_OK) != 0)) {
        fprintf(stderr, "xmlbus-bench: %s and %s are needed: build them first (make build)\n", path,
                echo);
        return 1;
    }
    xb_log_set_level(XB_LOG_WARN);
    xb_xml_init();
    bench_cleanup_install();

    o.load_start = bench_load1();
    int progress = 0;
    bench_parse_rows(&o, rows, n, &progress, total);
    bench_raw_rows(&o, rows, n, "tcp", &progress, total);
    bench_raw_rows(&o, rows, n, "ipc", &progress, total);
    bench_pump_rows(&o, rows, n, ROW_PUMP, "memory", "ipc", 1, &progress, total);
    bench_pump_rows(&o, rows, n, ROW_PUMP, "memory", "tcp", 1, &progress, total);
    bench_pump_rows(&o, rows, n, ROW_PUMP, "memory", "tcp-curve", 1, &progress, total);
    bench_peer_rows(&o, rows, n, &progress, total);
    bench_pump_rows(&o, rows, n, ROW_PUMP, "manager", "ipc", 1, &progress, total);
    bench_pump_rows(&o, rows, n, ROW_PUMP, "redis", "ipc", 1, &progress, total);
    bench_pump_rows(&o, rows, n, ROW_POOL, "memory", "ipc", 1, &progress, total);
    bench_pump_rows(&o, rows, n, ROW_POOL, "memory", "ipc", 2, &progress, total);
    bench_flow_rows(&o, rows, n, &progress, total);
    bench_pump_rows(&o, rows, n, ROW_RSS, "memory", "ipc", 1, &progress, total);
    if (bench_interrupted()) {
        fprintf(stderr, "xmlbus-bench: interrupted\n");
        return 130;
    }

    bench_report(&o, rows, n);
    xb_error_t err;
    xb_error_clear(&err);
    int rc = 0;
    if (bench_write_json(&o, rows, n, &err) != 0) {
        fprintf(stderr, "xmlbus-bench: %s\n", err.message);
        rc = 1;
    }
    if (o.csv_path && bench_write_csv(&o, rows, n, &err) != 0) {
        fprintf(stderr, "xmlbus-bench: %s\n", err.message);
        rc = 1;
    }
    for (size_t i = 0; i < n; i++)
        if (rows[i].selected && rows[i].status == ST_FAILED)
            rc = 1;
    return rc;
}
