/* xmlbus-bench: shared declarations of the benchmark program (docs/performance.md).
 *
 * The program measures, in one run, raw ZeroMQ round trips, the bare libxml2
 * parse + validation cost, and the pump end to end with real listener
 * processes, and prints them side by side with their ratios.
 *
 * Files:
 *   main.c     options, the plan of rows, running them, exit code
 *   row.c      a row's progress line and its finish (status, note)
 *   procs.c    child processes and temporary folders, cleaned up at exit
 *              and on SIGINT/SIGTERM; /proc readers (CPU time, RSS)
 *   raw.c      the raw ZeroMQ baseline: broker and worker modes, sender loop
 *   parse.c    the parse + validate baseline
 *   payload.c  the <echo> payload of an exact size and its XSD
 *   pumprun.c  the pump end to end: organism files, pump process, rows
 *              (pumprun.h: what the three pump files share)
 *   pumpwin.c  the client's window, client API loop with xb_client_post
 *   pumppipe.c the pipelined client: XB1 through the codec, no client library
 *   flow.c     the flow rows: a pipeline of three steps against three
 *              hand-forwarded hops (bench/hop/hop.c: their listener)
 *   redis.c    a real redis-server on a free loopback port
 *   peerrun.c  the peer rows: nats-server, responder and requester
 *              processes, "not available" without them
 *   peernats.c the NATS responder and requester (hidden modes; built only
 *              with libnats)
 *   report.c   table, goals, JSON and CSV
 *   stats.c    clocks, latency samples and percentiles
 *   soak*.c    `--soak`: the hello organism under chaos, every message
 *              counted (soak.h, docs/reliability.md) */
#ifndef XB_BENCH_H
#define XB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xmlbus/error.h"

#define BENCH_PATH_MAX 512
#define BENCH_RSS_SAMPLES 12

/* ---- options -------------------------------------------------------------- */

typedef struct {
    bool quick;
    const char *only;   /* comma-separated substrings of row ids, NULL = all */
    long messages;      /* round trips per row (upper bound; the time cap may stop earlier) */
    long rss_messages;  /* routed messages of the RSS row (2 per round trip) */
    double rss_seconds; /* time cap of the RSS row */
    double seconds;     /* time cap of one measured row */
    const char *json_path;
    const char *csv_path;
    char bin_dir[BENCH_PATH_MAX]; /* folder of xmlbus-bench, xmlbus, xmlbus-echo */
    char argv_line[1024];         /* the command line, for the report */
    double load_start;            /* 1-minute load average before the first row */
} bench_opts_t;

/* ---- rows ------------------------------------------------------------------- */

typedef enum {
    ROW_RAW,       /* raw ZeroMQ DEALER -> ROUTER broker -> worker process and back */
    ROW_PARSE_ENV, /* xb_envelope_parse with a reused parser (envelope.xsd included) */
    ROW_VALIDATE,  /* xb_validator_check of the payload against echo.xsd */
    ROW_PUMP,      /* client -> pump -> xmlbus-echo -> pump -> client */
    ROW_POOL,      /* the same with a cpu_bound pool of xmlbus-echo workers */
    ROW_RSS,       /* long run: pump RSS before and after, retention bounded */
    ROW_PEER,      /* requester -> nats-server -> responder and back (peer*.c) */
    ROW_FLOW       /* client -> pump -> three listeners -> client (flow.c): per round trip */
} row_kind_t;

typedef enum { ST_PENDING, ST_OK, ST_NOT_AVAILABLE, ST_FAILED } row_status_t;

typedef struct {
    /* what to measure */
    char id[80];     /* "pump/memory/ipc/k100/400B": what --only matches */
    char label[120]; /* "pump memory ipc 100 in flight 400 B": progress line */
    row_kind_t kind;
    const char *backend;   /* memory | manager | redis (pump rows); nats | nats-xml (peer) */
    const char *transport; /* tcp | ipc (raw and pump rows) */
    int in_flight;
    size_t payload;   /* payload element size in bytes */
    int workers;      /* pool rows */
    bool pipelined;   /* pump rows: the hand-written XB1 client, not the client API */
    bool slowreader;  /* RSS row: a client that posts and reads only at the end */
    const char *flow; /* flow rows: "seq3" (a pipeline) or "hops3" (forwarded by hand) */
    bool selected;

    /* results */
    row_status_t status;
    char note[320];
    uint64_t round_trips; /* answered round trips in the measured phase */
    uint64_t routed;      /* routed messages (pump stats; 2 per round trip for raw) */
    uint64_t errors;      /* SystemErrors, refusals, timeouts */
    double seconds;
    double msgs_per_s;                       /* routed messages per second */
    double p50_us, p99_us, p999_us, mean_us; /* round-trip latency */
    double us_per_msg;                       /* parse rows: µs per message */
    double pump_cpu_us;   /* µs of pump (raw broker, nats-server) CPU per routed message */
    double echo_cpu_us;   /* µs of echo (raw worker, NATS responder) CPU per routed message */
    double client_cpu_us; /* µs of this program's (NATS requester's) CPU per routed message */
    long rss_kb[BENCH_RSS_SAMPLES];     /* RSS row: VmRSS at checkpoints */
    uint64_t rss_at[BENCH_RSS_SAMPLES]; /* routed messages at each checkpoint */
    int n_rss;
    long rss_start_kb, rss_fill_kb, rss_end_kb;
    int rss_flat; /* 1 flat, 0 grows, -1 unknown */

    /* ratios (report.c), < 0 when the baseline was not measured */
    double thr_ratio, p50_ratio, p99_ratio, cpu_ratio;
    double cpu_raw_ratio; /* pump CPU / raw broker CPU per routed message */
    /* pump/memory/tcp/kK/400B against peer/nats-xml/tcp/kK/400B: msgs/s,
     * p50, p99, and the CPU of all three processes per routed message */
    double peer_thr_ratio, peer_p50_ratio, peer_p99_ratio, peer_cpu_ratio;
    double load1; /* 1-minute load average when the row started */
} bench_row_t;

/* ---- clocks and samples (stats.c) ------------------------------------------ */

uint64_t bench_now_ns(void);
/* CPU time of this process (all threads) in ns. */
uint64_t bench_self_cpu_ns(void);
/* The 1-minute load average (/proc/loadavg), -1 when unknown: the machine
 * may be shared, and a loaded machine moves every number. */
double bench_load1(void);

typedef struct {
    uint64_t *ns;
    size_t n, cap;
} bench_lat_t;

/* Appends one latency; returns 0 or -1 on no memory. */
int bench_lat_add(bench_lat_t *l, uint64_t ns);
void bench_lat_reset(bench_lat_t *l);
void bench_lat_free(bench_lat_t *l);
/* Sorts the samples and fills row->p50_us, p99_us, p999_us, mean_us. */
void bench_lat_fill(bench_lat_t *l, bench_row_t *row);

/* ---- processes and folders (procs.c) --------------------------------------- */

/* Installs the atexit and SIGINT/SIGTERM/SIGHUP cleanup. Call once. */
void bench_cleanup_install(void);
/* True once SIGINT/SIGTERM arrived: loops stop and the program exits. */
bool bench_interrupted(void);

/* Makes a fresh folder /tmp/xb-bench-XXXXXX (removed at exit) and writes
 * its path to out. Returns 0 or -1 with *err. */
int bench_tmpdir(char out[BENCH_PATH_MAX], xb_error_t *err);
/* Removes a folder made by bench_tmpdir now (and forgets it). */
void bench_tmpdir_remove(const char *dir);
/* Forgets a folder made by bench_tmpdir: it stays after exit. */
void bench_tmpdir_keep(const char *dir);

/* fork + exec argv[0] with argv; stdout and stderr go to log_path (NULL:
 * /dev/null). extra_env: NULL-terminated "K=V" strings added to the
 * environment (may be NULL). The child dies with this program
 * (PR_SET_PDEATHSIG) and is stopped at exit. Returns the pid or -1. */
pid_t bench_spawn(const char *const *argv, const char *log_path, const char *const *extra_env,
                  xb_error_t *err);
/* SIGTERM, waits up to grace_ms, then SIGKILL; reaps and forgets the pid. */
void bench_stop(pid_t pid, int grace_ms);
/* True while pid (a child of ours) has not exited; reaps it when it has. */
bool bench_alive(pid_t pid);

/* utime + stime of pid in ns (all its threads), or -1. */
int64_t bench_proc_cpu_ns(pid_t pid);
/* VmRSS of pid in KiB, or -1. */
long bench_proc_rss_kb(pid_t pid);

/* Reads the whole file (NUL-terminated) into buf; returns its length or -1. */
long bench_read_file(const char *path, char *buf, size_t cap);
/* Waits up to timeout_ms for a non-empty file; returns 0 with its first
 * line in out, -1 otherwise. Gives up early when pid (if > 0) exits. */
int bench_wait_file_line(const char *path, pid_t pid, int timeout_ms, char *out, size_t cap);
/* Writes text to path (created or truncated). Returns 0 or -1 with *err. */
int bench_write_file(const char *path, const char *text, xb_error_t *err);
/* The last bytes of a log file, one line, for error messages. */
void bench_log_tail(const char *path, char *out, size_t cap);

/* ---- payloads ---------------------------------------------------------------- */

/* A payload element <echo> of exactly size bytes (>= 64), valid against
 * bench_echo_xsd. Caller frees. NULL on no memory. */
char *bench_payload(size_t size);
/* The XSD of the <echo> payload. */
extern const char bench_echo_xsd[];

/* ---- the measurements ------------------------------------------------------ */

/* Hidden modes of the program (fork+exec of itself). */
int bench_raw_broker_main(const char *endpoint, const char *endpoint_file);
int bench_raw_worker_main(const char *endpoint);

/* Runs every selected raw row of one transport (one broker and one worker
 * process for all of them). */
void bench_raw_rows(const bench_opts_t *o, bench_row_t *rows, size_t n, const char *transport,
                    int *progress, int total);
/* Runs every selected parse / validate row. */
void bench_parse_rows(const bench_opts_t *o, bench_row_t *rows, size_t n, int *progress, int total);
/* Runs every selected pump, pool or RSS row that matches (kind, backend,
 * transport, workers) against one pump process. */
void bench_pump_rows(const bench_opts_t *o, bench_row_t *rows, size_t n, row_kind_t kind,
                     const char *backend, const char *transport, int workers, int *progress,
                     int total);

/* ---- the peer (peerrun.c, peernats.c) ------------------------------------------- */

/* What the NATS requester measured, one line of its result file. */
typedef struct {
    bool ok;
    uint64_t round_trips, errors;
    double seconds;
    double p50_us, p99_us, p999_us, mean_us;
    int64_t server_cpu_ns, responder_cpu_ns, requester_cpu_ns; /* -1: unknown */
} bench_peer_result_t;

/* Runs every selected peer row (one nats-server for all of them), or marks
 * them "not available" without nats-server or libnats. */
void bench_peer_rows(const bench_opts_t *o, bench_row_t *rows, size_t n, int *progress, int total);
/* Hidden modes (peernats.c, argv[0] is the mode): return the exit code. */
int bench_nats_responder_main(int argc, char **argv);
int bench_nats_requester_main(int argc, char **argv);
/* The flow rows (flow.c): bench_flow_name gives a planned ROW_FLOW row its
 * flow ("seq3" or "hops3"), id and label; bench_flow_rows runs every
 * selected one; bench_flow_report prints their table and ratios. */
void bench_flow_name(bench_row_t *row, const char *flow);
void bench_flow_rows(const bench_opts_t *o, bench_row_t *rows, size_t n, int *progress, int total);
void bench_flow_report(const bench_row_t *rows, size_t n);

/* ---- rows (row.c) ------------------------------------------------------------ */

/* Prints the progress line "[i/total] label ..." on stderr and notes the
 * load average in row->load1. */
void bench_progress(int *progress, int total, bench_row_t *row);
/* Marks a row done with its status and a note (printf format). */
void bench_row_finish(bench_row_t *row, row_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- redis (redis.c) ---------------------------------------------------------- */

typedef struct bench_redis bench_redis_t;
/* Starts redis-server on a free loopback port; NULL with *err when the
 * binary is missing or it does not answer PING. */
bench_redis_t *bench_redis_start(xb_error_t *err);
/* The same; durable: with an append-only file synced on every write, so
 * that a SIGKILL and bench_redis_restart keep what it acknowledged. */
bench_redis_t *bench_redis_start_durable(bool durable, xb_error_t *err);
const char *bench_redis_url(const bench_redis_t *r);
/* FLUSHALL; returns 0 or -1. */
int bench_redis_flush(const bench_redis_t *r);
void bench_redis_stop(bench_redis_t **r);
/* SIGKILLs the server and starts it again (empty unless durable) on the same port; waits
 * until it answers PING. Returns 0 or -1 with *err. */
int bench_redis_restart(bench_redis_t *r, xb_error_t *err);

/* ---- soak (soak.c) ------------------------------------------------------------- */

/* `xmlbus-bench --soak [options]`: returns the exit code. */
int bench_soak_main(int argc, char **argv);

/* ---- report (report.c) ---------------------------------------------------------- */

void bench_report(const bench_opts_t *o, bench_row_t *rows, size_t n);
int bench_write_json(const bench_opts_t *o, const bench_row_t *rows, size_t n, xb_error_t *err);
int bench_write_csv(const bench_opts_t *o, const bench_row_t *rows, size_t n, xb_error_t *err);

#endif
