/* The results of xmlbus-bench: ratios, the table, the goals, JSON and CSV. */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <libxml/globals.h>
#include <libxml/xmlversion.h>

/* ---- the machine ---------------------------------------------------------------- */

typedef struct {
    long nproc;
    char cpu[128];
    long mem_mb;
    char kernel[256];
    char zmq[32];
    char xml2[32];
    char date[32];
} machine_t;

static void machine(machine_t *m)
{
    memset(m, 0, sizeof *m);
    m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
    static char buf[65536];
    snprintf(m->cpu, sizeof m->cpu, "unknown");
    if (bench_read_file("/proc/cpuinfo", buf, sizeof buf) > 0) {
        const char *p = strstr(buf, "model name");
        p = p ? strchr(p, ':') : NULL;
        if (p) {
            p += 2;
            size_t n = strcspn(p, "\n");
            snprintf(m->cpu, sizeof m->cpu, "%.*s",
                     (int)(n < sizeof m->cpu ? n : sizeof m->cpu - 1), p);
        }
    }
    if (bench_read_file("/proc/meminfo", buf, sizeof buf) > 0) {
        long kb = 0;
        const char *p = strstr(buf, "MemTotal:");
        if (p && sscanf(p + 9, "%ld", &kb) == 1)
            m->mem_mb = kb / 1024;
    }
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    int a, b, c;
    zmq_version(&a, &b, &c);
    snprintf(m->zmq, sizeof m->zmq, "%d.%d.%d", a, b, c);
    int v = atoi(xmlParserVersion); /* runtime library, e.g. "20914" */
    snprintf(m->xml2, sizeof m->xml2, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(m->date, sizeof m->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- ratios ------------------------------------------------------------------------- */

static const bench_row_t *find(const bench_row_t *rows, size_t n, row_kind_t kind,
                               const char *backend, const char *transport, int k, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        const bench_row_t *r = &rows[i];
        if (r->selected && r->status == ST_OK && r->kind == kind && r->payload == size &&
            (!backend || strcmp(r->backend, backend) == 0) &&
            (!transport || strcmp(r->transport, transport) == 0) && (k < 0 || r->in_flight == k))
            return r;
    }
    return NULL;
}

static const bench_row_t *find_id(const bench_row_t *rows, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].selected && strcmp(rows[i].id, id) == 0)
            return &rows[i];
    return NULL;
}

static double parse_validate_us(const bench_row_t *rows, size_t n, size_t size)
{
    const bench_row_t *p = find(rows, n, ROW_PARSE_ENV, NULL, NULL, -1, size);
    const bench_row_t *v = find(rows, n, ROW_VALIDATE, NULL, NULL, -1, size);
    return p && v ? p->us_per_msg + v->us_per_msg : -1;
}

/* The CPU of all three processes per routed message, -1 when one is unknown. */
static double total_cpu_us(const bench_row_t *r)
{
    return r->pump_cpu_us >= 0 && r->echo_cpu_us >= 0 && r->client_cpu_us >= 0
               ? r->pump_cpu_us + r->echo_cpu_us + r->client_cpu_us
               : -1;
}

/* pump/memory/tcp/kK (client API) against its peer, NATS + libxml2 with
 * the same window and size (docs/performance.md, "The peer"). */
static void peer_ratios(const bench_row_t *rows, size_t n, bench_row_t *r)
{
    if (r->kind != ROW_PUMP || r->pipelined || strcmp(r->backend, "memory") != 0 ||
        strcmp(r->transport, "tcp") != 0)
        return;
    const bench_row_t *p = find(rows, n, ROW_PEER, "nats-xml", "tcp", r->in_flight, r->payload);
    if (!p || p->msgs_per_s <= 0)
        return;
    r->peer_thr_ratio = r->msgs_per_s / p->msgs_per_s;
    r->peer_p50_ratio = p->p50_us > 0 ? r->p50_us / p->p50_us : -1;
    r->peer_p99_ratio = p->p99_us > 0 ? r->p99_us / p->p99_us : -1;
    double mine = total_cpu_us(r), theirs = total_cpu_us(p);
    r->peer_cpu_ratio = mine >= 0 && theirs > 0 ? mine / theirs : -1;
}

static void ratios(bench_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bench_row_t *r = &rows[i];
        if (!r->selected || r->status != ST_OK || r->kind < ROW_PUMP || r->kind == ROW_FLOW)
            continue;
        /* CURVE rows against raw tcp: what the bus and its security cost */
        const char *t = strcmp(r->transport, "tcp-curve") == 0 ? "tcp" : r->transport;
        const bench_row_t *raw = find(rows, n, ROW_RAW, NULL, t, r->in_flight, r->payload);
        if (raw && raw->msgs_per_s > 0) {
            r->thr_ratio = r->msgs_per_s / raw->msgs_per_s;
            r->p50_ratio = raw->p50_us > 0 ? r->p50_us / raw->p50_us : -1;
            r->p99_ratio = raw->p99_us > 0 ? r->p99_us / raw->p99_us : -1;
            r->cpu_raw_ratio = raw->pump_cpu_us > 0 && r->pump_cpu_us >= 0
                                   ? r->pump_cpu_us / raw->pump_cpu_us
                                   : -1;
        }
        double pv = parse_validate_us(rows, n, r->payload);
        if (pv > 0 && r->pump_cpu_us >= 0 && r->kind != ROW_PEER)
            r->cpu_ratio = r->pump_cpu_us / pv;
        peer_ratios(rows, n, r);
    }
}

/* ---- goals ----------------------------------------------------------------------------- */

typedef struct {
    const char *goal;
    const char *row;
    char measured[64];
    const char *met; /* "yes", "no", "n/a" */
} goal_t;

#define N_GOALS 4

static void goals(const bench_row_t *rows, size_t n, goal_t g[N_GOALS])
{
    static const char *const text[N_GOALS] = {
        ">= 100 000 routed msgs/s, memory backend", ">= 80 000 routed msgs/s, redis backend",
        "pump CPU per routed msg <= 1.5x parse+validate", "p99 at 1 in flight < 200 us over ipc"};
    static const char *const ids[N_GOALS] = {
        "pump/memory/ipc/k100/400B", "pump/redis/ipc/k100/400B", "pump/memory/ipc/k100/400B",
        "pump/memory/ipc/k1/400B"};
    for (int i = 0; i < N_GOALS; i++) {
        g[i].goal = text[i];
        g[i].row = ids[i];
        g[i].met = "n/a";
        snprintf(g[i].measured, sizeof g[i].measured, "not measured");
        const bench_row_t *r = find_id(rows, n, ids[i]);
        if (!r || r->status != ST_OK) {
            if (r && r->status == ST_NOT_AVAILABLE)
                snprintf(g[i].measured, sizeof g[i].measured, "not available");
            continue;
        }
        bool ok;
        if (i < 2) {
            /* The pipelined row (hand-written XB1 client, same window) is
             * a second measurement; the goal is judged on the client API row. */
            char pid[96];
            snprintf(pid, sizeof pid, "%s/pipelined", ids[i]);
            const bench_row_t *pr = find_id(rows, n, pid);
            if (pr && pr->status == ST_OK)
                snprintf(g[i].measured, sizeof g[i].measured, "%.0f msgs/s (pipelined: %.0f)",
                         r->msgs_per_s, pr->msgs_per_s);
            else
                snprintf(g[i].measured, sizeof g[i].measured, "%.0f msgs/s", r->msgs_per_s);
            ok = r->msgs_per_s >= (i == 0 ? 100000 : 80000);
        } else if (i == 2) {
            if (r->cpu_ratio < 0)
                continue;
            snprintf(g[i].measured, sizeof g[i].measured, "%.1f us = %.2fx", r->pump_cpu_us,
                     r->cpu_ratio);
            ok = r->cpu_ratio <= 1.5;
        } else {
            snprintf(g[i].measured, sizeof g[i].measured, "%.0f us", r->p99_us);
            ok = r->p99_us < 200;
        }
        g[i].met = ok ? "yes" : "no";
    }
}

/* ---- text table ------------------------------------------------------------------------ */

static void num(char *out, size_t cap, double v, const char *fmt)
{
    if (v < 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, fmt, v);
}

static const char *size_label(size_t s)
{
    return s == 400 ? "400 B" : s == 10240 ? "10 KB" : s == 102400 ? "100 KB" : "?";
}

static void print_parse(const bench_row_t *rows, size_t n)
{
    static const size_t sizes[] = {400, 10240, 102400};
    printf("\nBaseline: libxml2 parse + validation, reused contexts (µs per message)\n\n");
    printf("| payload | parse + envelope.xsd | payload xsd | parse+validate |\n");
    printf("|---|---:|---:|---:|\n");
    for (int i = 0; i < 3; i++) {
        const bench_row_t *p = find(rows, n, ROW_PARSE_ENV, NULL, NULL, -1, sizes[i]);
        const bench_row_t *v = find(rows, n, ROW_VALIDATE, NULL, NULL, -1, sizes[i]);
        if (!p && !v)
            continue;
        char a[32], b[32], c[32];
        num(a, sizeof a, p ? p->us_per_msg : -1, "%.2f");
        num(b, sizeof b, v ? v->us_per_msg : -1, "%.2f");
        num(c, sizeof c, parse_validate_us(rows, n, sizes[i]), "%.2f");
        printf("| %s | %s | %s | %s |\n", size_label(sizes[i]), a, b, c);
    }
}

static void print_main(const bench_row_t *rows, size_t n)
{
    printf("\nRound trips: routed messages per second (2 per round trip), latency per round trip,\n"
           "CPU per routed message (pump row: the pump process; raw row: the broker process).\n"
           "x raw = pump / raw ZeroMQ with the same transport, window and size (CPU: pump / raw "
           "broker);\n"
           "CPU / p+v = pump CPU per routed message / (parse + envelope.xsd + payload xsd);\n"
           "peer rows: pump = nats-server, echo = responder, client = requester;\n"
           "x peer = pump/memory/tcp / peer/nats-xml/tcp with the same window and size (CPU: "
           "pump+echo+client / nats-server+responder+requester).\n\n");
    printf(
        "| row | msgs/s | p50 µs | p99 µs | p99.9 µs | pump CPU µs | echo CPU µs | client CPU µs "
        "| x raw msgs/s | x raw p50 | x raw p99 | x raw CPU | CPU / p+v "
        "| x peer msgs/s | x peer p50 | x peer p99 | x peer CPU | status |\n");
    printf(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        "\n");
    for (size_t i = 0; i < n; i++) {
        const bench_row_t *r = &rows[i];
        if (!r->selected || r->kind == ROW_PARSE_ENV || r->kind == ROW_VALIDATE ||
            r->kind == ROW_FLOW)
            continue;
        if (r->status != ST_OK) {
            printf("| %s | %s | | | | | | | | | | | | | | | | %s |\n", r->id,
                   r->status == ST_NOT_AVAILABLE ? "not available" : "FAILED", r->note);
            continue;
        }
        /* The measured columns in table order, each with its format. */
        const struct {
            double v;
            const char *fmt;
        } col[] = {
            {r->msgs_per_s, "%.0f"},     {r->p50_us, "%.0f"},         {r->p99_us, "%.0f"},
            {r->p999_us, "%.0f"},        {r->pump_cpu_us, "%.1f"},    {r->echo_cpu_us, "%.1f"},
            {r->client_cpu_us, "%.1f"},  {r->thr_ratio, "%.2f"},      {r->p50_ratio, "%.1f"},
            {r->p99_ratio, "%.1f"},      {r->cpu_raw_ratio, "%.1f"},  {r->cpu_ratio, "%.2f"},
            {r->peer_thr_ratio, "%.2f"}, {r->peer_p50_ratio, "%.2f"}, {r->peer_p99_ratio, "%.2f"},
            {r->peer_cpu_ratio, "%.2f"},
        };
        printf("| %s |", r->id);
        for (size_t i = 0; i < sizeof col / sizeof col[0]; i++) {
            char c[32];
            num(c, sizeof c, col[i].v, col[i].fmt);
            printf(" %s |", c);
        }
        printf(" ok |\n");
    }
}

static void print_rss(const bench_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const bench_row_t *r = &rows[i];
        if (!r->selected || r->kind != ROW_RSS || r->n_rss == 0)
            continue;
        printf("\nPump RSS (%s): VmRSS after N routed messages (retention: max_threads 1000, "
               "max_slots_per_thread 10)\n\n",
               r->id);
        printf("| routed messages | RSS KiB |\n|---:|---:|\n");
        for (int s = 0; s < r->n_rss; s++)
            printf("| %llu | %ld |\n", (unsigned long long)r->rss_at[s], r->rss_kb[s]);
        printf("\nRSS idle %ld KiB, after the fill %ld KiB, at the end %ld KiB: %s beyond the "
               "retention\n",
               r->rss_start_kb, r->rss_fill_kb, r->rss_end_kb,
               r->rss_flat == 1   ? "flat"
               : r->rss_flat == 0 ? "GROWS"
                                  : "unknown");
    }
}

void bench_report(const bench_opts_t *o, bench_row_t *rows, size_t n)
{
    ratios(rows, n);
    machine_t m;
    machine(&m);
    printf("xmlbus-bench %s\n", m.date);
    printf("machine: %ld CPUs (%s), %ld MiB, %s; libzmq %s, libxml2 %s\n", m.nproc, m.cpu, m.mem_mb,
           m.kernel, m.zmq, m.xml2);
    printf("command: %s (%.2f s per row, at most %ld round trips per row)\n", o->argv_line,
           o->seconds, o->messages);
    printf("load average (1 min): %.2f at the start, %.2f at the end%s\n", o->load_start,
           bench_load1(),
           o->load_start > (double)m.nproc / 4 ? " -- the machine was busy with other work: "
                                                 "numbers vary between runs"
                                               : "");
    print_parse(rows, n);
    print_main(rows, n);
    print_rss(rows, n);
    bench_flow_report(rows, n);
    goal_t g[N_GOALS];
    goals(rows, n, g);
    printf("\nGoals (2 cores, 400 B payloads, validation and recording on)\n\n");
    printf("| goal | row | measured | met? |\n|---|---|---|---|\n");
    for (int i = 0; i < N_GOALS; i++)
        printf("| %s | %s | %s | %s |\n", g[i].goal, g[i].row, g[i].measured, g[i].met);
    fflush(stdout);
}

/* ---- JSON and CSV ------------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* A number, or null when not measured. */
static void json_num(FILE *f, double v, int prec)
{
    if (v < 0)
        fputs("null", f);
    else
        fprintf(f, "%.*f", prec, v);
}

/* The measured values and ratios of a row, in the order of the JSON keys
 * and CSV columns. */
#define N_VALUES 18
static void row_values(const bench_row_t *r, double v[N_VALUES])
{
    const double all[N_VALUES] = {
        r->msgs_per_s,     r->p50_us,         r->p99_us,        r->p999_us,       r->mean_us,
        r->us_per_msg,     r->pump_cpu_us,    r->echo_cpu_us,   r->client_cpu_us, r->thr_ratio,
        r->p50_ratio,      r->p99_ratio,      r->cpu_raw_ratio, r->cpu_ratio,     r->peer_thr_ratio,
        r->peer_p50_ratio, r->peer_p99_ratio, r->peer_cpu_ratio};
    memcpy(v, all, sizeof all);
}

static const char *kind_name(row_kind_t k)
{
    static const char *const names[] = {
        "raw", "parse-envelope", "validate-payload", "pump", "pool", "rss", "peer", "flow"};
    return names[k];
}

static const char *status_name(row_status_t s)
{
    static const char *const names[] = {"not run", "ok", "not available", "failed"};
    return names[s];
}

int bench_write_json(const bench_opts_t *o, const bench_row_t *rows, size_t n, xb_error_t *err)
{
    FILE *f = fopen(o->json_path, "w");
    if (!f)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot write %s: %s", o->json_path,
                            strerror(errno));
    machine_t m;
    machine(&m);
    fprintf(f, "{\n  \"date\": ");
    json_str(f, m.date);
    fprintf(f, ",\n  \"command\": ");
    json_str(f, o->argv_line);
    fprintf(f, ",\n  \"machine\": {\"nproc\": %ld, \"cpu\": ", m.nproc);
    json_str(f, m.cpu);
    fprintf(f, ", \"memory_mib\": %ld, \"kernel\": ", m.mem_mb);
    json_str(f, m.kernel);
    fprintf(f, ", \"libzmq\": ");
    json_str(f, m.zmq);
    fprintf(f, ", \"libxml2\": ");
    json_str(f, m.xml2);
    fprintf(f, ", \"load1_start\": %.2f, \"load1_end\": %.2f", o->load_start, bench_load1());
    fprintf(
        f,
        "},\n  \"options\": {\"quick\": %s, \"seconds_per_row\": %.3f, \"messages_per_row\": %ld, "
        "\"rss_messages\": %ld, \"rss_seconds\": %.1f},\n  \"rows\": [",
        o->quick ? "true" : "false", o->seconds, o->messages, o->rss_messages, o->rss_seconds);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        const bench_row_t *r = &rows[i];
        if (!r->selected)
            continue;
        fprintf(f, "%s\n    {\"id\": ", first ? "" : ",");
        first = false;
        json_str(f, r->id);
        fprintf(f, ", \"kind\": \"%s\", \"status\": \"%s\", \"note\": ", kind_name(r->kind),
                status_name(r->status));
        json_str(f, r->note);
        fprintf(f, ", \"backend\": ");
        json_str(f, r->backend);
        fprintf(f, ", \"transport\": ");
        json_str(f, r->transport);
        fprintf(f, ", \"in_flight\": %d, \"payload_bytes\": %zu, \"workers\": %d", r->in_flight,
                r->payload, r->workers);
        fprintf(f,
                ", \"round_trips\": %llu, \"routed\": %llu, \"errors\": %llu, \"seconds\": %.3f"
                ", \"load1\": %.2f",
                (unsigned long long)r->round_trips, (unsigned long long)r->routed,
                (unsigned long long)r->errors, r->seconds, r->load1);
        static const char *const keys[] = {"msgs_per_s",
                                           "p50_us",
                                           "p99_us",
                                           "p999_us",
                                           "mean_us",
                                           "us_per_msg",
                                           "pump_cpu_us_per_msg",
                                           "echo_cpu_us_per_msg",
                                           "client_cpu_us_per_msg",
                                           "ratio_msgs_per_s_vs_raw",
                                           "ratio_p50_vs_raw",
                                           "ratio_p99_vs_raw",
                                           "ratio_cpu_vs_raw_broker",
                                           "ratio_cpu_vs_parse_validate",
                                           "ratio_msgs_per_s_vs_peer",
                                           "ratio_p50_vs_peer",
                                           "ratio_p99_vs_peer",
                                           "ratio_cpu_vs_peer"};
        double vals[N_VALUES];
        row_values(r, vals);
        for (size_t k = 0; k < N_VALUES; k++) {
            fprintf(f, ", \"%s\": ", keys[k]);
            json_num(f, r->status == ST_OK ? vals[k] : -1, 3);
        }
        if (r->kind == ROW_RSS && r->n_rss > 0) {
            fprintf(
                f,
                ", \"rss_kib\": {\"idle\": %ld, \"after_fill\": %ld, \"end\": %ld, \"flat\": %s, "
                "\"samples\": [",
                r->rss_start_kb, r->rss_fill_kb, r->rss_end_kb,
                r->rss_flat == 1   ? "true"
                : r->rss_flat == 0 ? "false"
                                   : "null");
            for (int s = 0; s < r->n_rss; s++)
                fprintf(f, "%s[%llu, %ld]", s ? ", " : "", (unsigned long long)r->rss_at[s],
                        r->rss_kb[s]);
            fprintf(f, "]}");
        }
        fputc('}', f);
    }
    goal_t g[N_GOALS];
    goals(rows, n, g);
    fprintf(f, "\n  ],\n  \"goals\": [");
    for (int i = 0; i < N_GOALS; i++) {
        fprintf(f, "%s\n    {\"goal\": ", i ? "," : "");
        json_str(f, g[i].goal);
        fprintf(f, ", \"row\": ");
        json_str(f, g[i].row);
        fprintf(f, ", \"measured\": ");
        json_str(f, g[i].measured);
        fprintf(f, ", \"met\": \"%s\"}", g[i].met);
    }
    fprintf(f, "\n  ]\n}\n");
    if (fclose(f) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot write %s: %s", o->json_path,
                            strerror(errno));
    fprintf(stderr, "results written to %s\n", o->json_path);
    return 0;
}

static void csv_num(FILE *f, double v)
{
    if (v >= 0)
        fprintf(f, ",%.3f", v);
    else
        fputs(",", f);
}

int bench_write_csv(const bench_opts_t *o, const bench_row_t *rows, size_t n, xb_error_t *err)
{
    FILE *f = fopen(o->csv_path, "w");
    if (!f)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot write %s: %s", o->csv_path, strerror(errno));
    fprintf(f,
            "id,kind,status,backend,transport,in_flight,payload_bytes,workers,round_trips,routed,"
            "errors,seconds,msgs_per_s,p50_us,p99_us,p999_us,mean_us,us_per_msg,"
            "pump_cpu_us_per_msg,echo_cpu_us_per_msg,client_cpu_us_per_msg,"
            "ratio_msgs_per_s_vs_raw,ratio_p50_vs_raw,ratio_p99_vs_raw,ratio_cpu_vs_raw_broker,"
            "ratio_cpu_vs_parse_validate,ratio_msgs_per_s_vs_peer,ratio_p50_vs_peer,"
            "ratio_p99_vs_peer,ratio_cpu_vs_peer,"
            "rss_idle_kib,rss_after_fill_kib,rss_end_kib,rss_flat,load1,note\n");
    for (size_t i = 0; i < n; i++) {
        const bench_row_t *r = &rows[i];
        if (!r->selected)
            continue;
        bool ok = r->status == ST_OK;
        fprintf(f, "%s,%s,%s,%s,%s,%d,%zu,%d,%llu,%llu,%llu,%.3f", r->id, kind_name(r->kind),
                status_name(r->status), r->backend, r->transport, r->in_flight, r->payload,
                r->workers, (unsigned long long)r->round_trips, (unsigned long long)r->routed,
                (unsigned long long)r->errors, r->seconds);
        double vals[N_VALUES];
        row_values(r, vals);
        for (size_t k = 0; k < N_VALUES; k++)
            csv_num(f, ok ? vals[k] : -1);
        if (r->kind == ROW_RSS && r->n_rss > 0)
            fprintf(f, ",%ld,%ld,%ld,%s", r->rss_start_kb, r->rss_fill_kb, r->rss_end_kb,
                    r->rss_flat == 1   ? "true"
                    : r->rss_flat == 0 ? "false"
                                       : "");
        else
            fputs(",,,,", f);
        fprintf(f, ",%.2f", r->load1);
        /* The note is free text: quoted, with inner quotes doubled. */
        fputs(",\"", f);
        for (const char *p = r->note; *p; p++)
            fputs(*p == '"' ? "\"\"" : (char[]){*p, 0}, f);
        fputs("\"\n", f);
    }
    if (fclose(f) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot write %s: %s", o->csv_path, strerror(errno));
    fprintf(stderr, "results written to %s\n", o->csv_path);
    return 0;
}
