/* xmlbus-bench, flow rows (docs/performance.md, "Pipelines: a three-step
 * sequence against three hand-forwarded hops"): the same work done by a
 * pipeline and by hand.
 *
 *   seq3   client -> pipeline flow (input doc) -> s1 -> flow -> s2 -> flow
 *          -> s3 -> flow -> client: three listener deliveries; the step
 *          responses are stored at the pipeline's hop (r1, r2, r3), each
 *          step gets the one before's result as working memory and responds
 *          with it, and the client gets r3
 *   hops3  client -> a -> b -> c -> b -> a -> client: five listener
 *          deliveries; a forwards to b, b to c, c responds, b and a respond
 *          with what came back
 *
 * Both carry the bench's 400 B <echo> payload (numbered, pumpwin.c) all the
 * way and back, so the client API loop of the pump rows matches every
 * answer by its <seq> and fails the row on a SystemError or any other
 * answer (a failed pipeline run is a SystemError to its caller). Memory
 * backend, no payload schema in either organism (the pipeline's steps get
 * an empty <s1/>), credit 100 for every listener as for the echo of the
 * pump rows. The client addresses the pipeline or a by name. One pump per flow, both open for all rows, the rows
 * alternated. Throughput and CPU are per client round trip. */
#include "bench.h"

#include "pumprun.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define N_FLOWS 2
#define HOP_PROGRAM "xmlbus-bench-hop"

/* The organisms' listeners and pipelines (written after `listeners:`). */
static const char k_seq3[] = "  - name: s1\n"
                             "    payload: s1\n"
                             "    needs: [doc]\n"
                             "    result: r1\n"
                             "    credit: 100\n"
                             "    command: [" HOP_PROGRAM ", step, doc]\n"
                             "  - name: s2\n"
                             "    payload: s2\n"
                             "    needs: [r1]\n"
                             "    result: r2\n"
                             "    credit: 100\n"
                             "    command: [" HOP_PROGRAM ", step, r1]\n"
                             "  - name: s3\n"
                             "    payload: s3\n"
                             "    needs: [r2]\n"
                             "    result: r3\n"
                             "    credit: 100\n"
                             "    command: [" HOP_PROGRAM ", step, r2]\n"
                             "pipelines:\n"
                             "  - name: flow\n"
                             "    payload: echo\n"
                             "    input: doc\n"
                             "    output: r3\n"
                             "    steps:\n"
                             "      - listener: s1\n"
                             "      - listener: s2\n"
                             "      - listener: s3\n";

/* A listener takes a forward only of a root tag it accepts: all three
 * accept <echo>, so they must be broadcast, and the client addresses a. */
static const char k_hops3[] = "  - name: a\n"
                              "    payload: echo\n"
                              "    broadcast: true\n"
                              "    credit: 100\n"
                              "    command: [" HOP_PROGRAM ", forward, b]\n"
                              "  - name: b\n"
                              "    payload: echo\n"
                              "    broadcast: true\n"
                              "    credit: 100\n"
                              "    command: [" HOP_PROGRAM ", forward, c]\n"
                              "  - name: c\n"
                              "    payload: echo\n"
                              "    broadcast: true\n"
                              "    credit: 100\n"
                              "    command: [" HOP_PROGRAM ", forward]\n";

/* routed: the pump's routed messages per round trip. seq3: client -> flow,
 * flow -> s1, s1 -> flow, ..., flow -> client; hops3: client -> a -> b -> c
 * -> b -> a -> client. */
static const struct {
    const char *name, *listeners, *to, *what;
    uint64_t routed;
} k_flows[N_FLOWS] = {
    {"seq3", k_seq3, "flow", "a pipeline of three listener steps", 8},
    {"hops3", k_hops3, "a", "three listeners forwarding by hand", 6},
};

static int flow_index(const char *flow)
{
    for (int f = 0; f < N_FLOWS; f++)
        if (flow && strcmp(flow, k_flows[f].name) == 0)
            return f;
    return -1;
}

void bench_flow_name(bench_row_t *row, const char *flow)
{
    int f = flow_index(flow);
    row->flow = flow;
    snprintf(row->id, sizeof row->id, "flow/%s/%s/%s/k%d/%zuB", flow, row->backend, row->transport,
             row->in_flight, row->payload);
    snprintf(row->label, sizeof row->label, "%s, %s %s %d in flight %zu B",
             f >= 0 ? k_flows[f].what : flow, row->backend, row->transport, row->in_flight,
             row->payload);
}

/* Every round trip took the whole path: the pump routed exactly its
 * messages (both phases end with nothing in flight). */
static void check_path(bench_row_t *row, uint64_t routed)
{
    if (row->status == ST_OK && row->routed != routed * row->round_trips)
        bench_row_finish(row, ST_FAILED,
                         "%llu routed messages for %llu round trips, expected %llu each",
                         (unsigned long long)row->routed, (unsigned long long)row->round_trips,
                         (unsigned long long)routed);
}

static bool wanted(const bench_row_t *r, int f)
{
    return r->selected && r->kind == ROW_FLOW && flow_index(r->flow) == f;
}

void bench_flow_rows(const bench_opts_t *o, bench_row_t *rows, size_t n, int *progress, int total)
{
    pump_env_t envs[N_FLOWS];
    int open_rc[N_FLOWS];
    xb_error_t errs[N_FLOWS];
    char hop[BENCH_PATH_MAX + 32];
    snprintf(hop, sizeof hop, "%s/%s", o->bin_dir, HOP_PROGRAM);
    bool have_hop = access(hop, X_OK) == 0;
    memset(envs, 0, sizeof envs);
    for (int f = 0; f < N_FLOWS; f++) {
        xb_error_clear(&errs[f]);
        open_rc[f] = 1; /* not needed */
        for (size_t i = 0; i < n && open_rc[f] == 1; i++)
            if (wanted(&rows[i], f)) {
                pump_env_t *e = &envs[f];
                e->kind = ROW_FLOW;
                e->backend = rows[i].backend;
                e->transport = rows[i].transport;
                e->workers = 1;
                e->listeners = k_flows[f].listeners;
                e->to = k_flows[f].to;
                e->processes = 3;
                open_rc[f] = have_hop ? bench_pump_open(o, e, &errs[f]) : -1;
            }
    }
    for (size_t i = 0; i < n && !bench_interrupted(); i++) {
        bench_row_t *row = &rows[i];
        int f = flow_index(row->flow);
        if (f < 0 || !wanted(row, f))
            continue;
        bench_progress(progress, total, row);
        if (!have_hop)
            bench_row_finish(row, ST_FAILED, "%s is needed: build it first", hop);
        else if (open_rc[f] != 0)
            bench_row_finish(row, ST_FAILED, "%s", errs[f].message);
        else if (!bench_alive(envs[f].pid))
            bench_row_finish(row, ST_FAILED, "the pump is gone (log %s)", envs[f].log);
        else {
            bench_pump_row(o, &envs[f], row);
            check_path(row, k_flows[f].routed);
        }
    }
    for (int f = 0; f < N_FLOWS; f++)
        if (open_rc[f] != 1)
            bench_pump_close(&envs[f]);
}

/* ---- report ------------------------------------------------------------------------------- */

/* CPU of all three kinds of process per round trip, -1 when one is unknown. */
static double total_cpu(const bench_row_t *r)
{
    if (r->pump_cpu_us < 0 || r->echo_cpu_us < 0 || r->client_cpu_us < 0)
        return -1;
    return r->pump_cpu_us + r->echo_cpu_us + r->client_cpu_us;
}

static const bench_row_t *find_ok(const bench_row_t *rows, size_t n, int f, int k)
{
    for (size_t i = 0; i < n; i++)
        if (wanted(&rows[i], f) && rows[i].status == ST_OK && rows[i].in_flight == k)
            return &rows[i];
    return NULL;
}

static void cell(char *out, size_t cap, double v, const char *fmt)
{
    if (v < 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, fmt, v);
}

/* a / b, or -1 when either was not measured. */
static double ratio(double a, double b)
{
    return a >= 0 && b > 0 ? a / b : -1;
}

static void print_ratios(const bench_row_t *rows, size_t n)
{
    bool header = false;
    static const int windows[] = {1, 100};
    for (size_t k = 0; k < sizeof windows / sizeof windows[0]; k++) {
        const bench_row_t *s = find_ok(rows, n, 0, windows[k]);
        const bench_row_t *h = find_ok(rows, n, 1, windows[k]);
        if (!s || !h)
            continue;
        if (!header) {
            printf("\nseq3 ÷ hops3 (below 1 for round trips/s: the pipeline is slower; below 1 "
                   "for CPU: it costs less)\n\n"
                   "| in flight | round trips/s | p50 | CPU per round trip | pump CPU | "
                   "listeners CPU |\n|---:|---:|---:|---:|---:|---:|\n");
            header = true;
        }
        const double v[5] = {ratio(s->msgs_per_s, h->msgs_per_s), ratio(s->p50_us, h->p50_us),
                             ratio(total_cpu(s), total_cpu(h)),
                             ratio(s->pump_cpu_us, h->pump_cpu_us),
                             ratio(s->echo_cpu_us, h->echo_cpu_us)};
        char c[5][32];
        for (int i = 0; i < 5; i++)
            cell(c[i], sizeof c[i], v[i], "%.2f");
        printf("| %d | %s | %s | %s | %s | %s |\n", windows[k], c[0], c[1], c[2], c[3], c[4]);
    }
}

void bench_flow_report(const bench_row_t *rows, size_t n)
{
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = rows[i].selected && rows[i].kind == ROW_FLOW;
    if (!any)
        return;
    printf("\nPipelines: seq3 = a pipeline of three listener steps, hops3 = three listeners\n"
           "forwarding by hand (client -> a -> b -> c -> b -> a -> client). Per client round "
           "trip:\n"
           "throughput, latency, CPU of the pump, of the three listener processes, of the "
           "client.\n\n");
    printf("| row | round trips/s | p50 µs | p99 µs | pump CPU µs | listeners CPU µs | "
           "client CPU µs | CPU µs, all | status |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < n; i++) {
        const bench_row_t *r = &rows[i];
        if (!r->selected || r->kind != ROW_FLOW)
            continue;
        if (r->status != ST_OK) {
            printf("| %s | FAILED | | | | | | | %s |\n", r->id, r->note);
            continue;
        }
        const double v[7] = {r->msgs_per_s,  r->p50_us,        r->p99_us,   r->pump_cpu_us,
                             r->echo_cpu_us, r->client_cpu_us, total_cpu(r)};
        static const char *const fmt[7] = {"%.0f", "%.0f", "%.0f", "%.1f", "%.1f", "%.1f", "%.1f"};
        char c[7][32];
        for (int k = 0; k < 7; k++)
            cell(c[k], sizeof c[k], v[k], fmt[k]);
        printf("| %s | %s | %s | %s | %s | %s | %s | %s | ok |\n", r->id, c[0], c[1], c[2], c[3],
               c[4], c[5], c[6]);
    }
    print_ratios(rows, n);
}
