/* xmlbus-bench: what the files of the pump rows share (docs/performance.md):
 *   pumprun.c   the pump process (organism file, start, stats) and the rows
 *   pumpwin.c   the client's window and the client API loop (xb_client_post
 *               with numbered payloads)
 *   pumppipe.c  the pipelined client: XB1 spoken by hand on a DEALER */
#ifndef XB_BENCH_PUMPRUN_H
#define XB_BENCH_PUMPRUN_H

#include "bench.h"

#include "xmlbus/client.h"

#define SEND_TIMEOUT_MS 10000
#define RECV_TIMEOUT_MS 10000

typedef struct {
    row_kind_t kind;
    const char *backend;
    const char *transport;
    int workers;
    const char *listeners; /* NULL: the echo; else the organism's listeners (and
                            * pipelines) sections as YAML (flow rows) */
    int processes;         /* listener processes to wait for (0: workers) */
    const char *to;        /* client API rows: whom the client addresses (NULL: by tag) */
    char dir[BENCH_PATH_MAX];
    char cfg[BENCH_PATH_MAX + 32];
    char log[BENCH_PATH_MAX + 32];
    char epfile[BENCH_PATH_MAX + 32];
    char endpoint[1024];
    pid_t pid;
    xb_client_t *client;
    bench_redis_t *redis;
} pump_env_t;

/* ---- the pump process (pumprun.c) ------------------------------------------------------- */

/* Starts the pump of e (kind, backend, transport, workers, listeners) in a
 * fresh folder and waits until its listener processes registered. Returns 0
 * or -1 with *err; bench_pump_close cleans up either way. */
int bench_pump_open(const bench_opts_t *o, pump_env_t *e, xb_error_t *err);
void bench_pump_close(pump_env_t *e);
/* One measured row on an open pump: warm-up, measured phase, checks. */
void bench_pump_row(const bench_opts_t *o, pump_env_t *e, bench_row_t *row);

/* ---- the client's window (pumpwin.c) ------------------------------------------------------ */

typedef struct {
    char thread[XB_UUID_STR]; /* pipelined client: from ACCEPTED */
    uint64_t seq;             /* client API: the number in the payload's <seq> */
    uint64_t sent_ns;
    bool used;
} pending_t;

typedef struct {
    pending_t *slots; /* window entries */
    int window;
    int in_flight;
    uint64_t done, errors;
    bench_lat_t lat;
    bool record;
    char why[256];         /* why a run stopped early */
    char first_error[200]; /* the first SystemError or unexpected answer */
    /* Client API: where the digits of <seq> are in the payload, and the
     * number the next message gets. */
    size_t seq_at;
    uint64_t next_seq;
    int lost; /* pending messages known to get no answer (take_posted) */
    /* Pipelined client: answers whose ACCEPTED has not arrived yet (the
     * protocol lets a DELIVER overtake the ACCEPTED of its SEND). */
    pending_t *early;
    int n_early;
} win_t;

/* Answers are read as text, not parsed (that would cost the client more
 * than the pump): a sender "system" marks a SystemError. */
static const char k_from_system[] = "from>system<";

/* The answer of slot i arrived at now. */
static inline void bench_win_complete(win_t *w, int i, uint64_t now)
{
    if (w->record)
        (void)bench_lat_add(&w->lat, now - w->slots[i].sent_ns);
    w->slots[i].used = false;
    w->in_flight--;
    w->done++;
}

/* Keeps the first unexpected answer for the row's note: the payload part of
 * an envelope (from '<SystemError' on) or the start of the message. */
void bench_note_error(win_t *w, const char *what, size_t len);

/* A window of `window` slots; 0, or -1 on no memory. bench_win_free frees
 * it (also after a failed init). */
int bench_win_init(win_t *w, int window);
void bench_win_free(win_t *w);

/* The payload of size bytes (bench_payload's, with a <seq> of SEQ_DIGITS
 * digits), whose offset goes to *seq_at. Caller frees. NULL on no memory or
 * when size is too small. */
char *bench_seq_payload(size_t size, size_t *seq_at);
/* Writes the n-th number (fixed width) into the <seq> of a bench_seq_payload. */
void bench_seq_set(char *payload, size_t seq_at, uint64_t n);

/* Posts up to n messages keeping w->window in flight; no new post after
 * deadline_ns; waits for every answer. payload is a bench_seq_payload (its
 * <seq> at w->seq_at is rewritten for each message). Returns 0 or -1
 * (w->why). */
int bench_run_window(pump_env_t *e, win_t *w, char *payload, size_t len, uint64_t n,
                     uint64_t deadline_ns);

/* ---- the slow reader (pumpslow.c) ------------------------------------------------------------ */

typedef struct {
    uint64_t posted, accepted, answers, refused;
    char why[256];
} slow_t;

/* Posts n messages on a client of its own that reads nothing until the end
 * (no new post after deadline_ns), sampling the pump's RSS into row once
 * unanswered(e) (the pump's client-unanswered) says the pump holds all it
 * will for the client, then reads everything. Returns 0 or -1 (s->why). */
int bench_run_slow(pump_env_t *e, slow_t *s, const char *payload, size_t len, uint64_t n,
                   uint64_t deadline_ns, bench_row_t *row, uint64_t (*unanswered)(pump_env_t *));

/* ---- the pipelined client (pumppipe.c) ------------------------------------------------------ */

typedef struct {
    void *ctx, *sock;
} pipe_t;

/* Connects a DEALER to endpoint; 0, or -1 with the reason in why. */
int bench_pipe_open(pipe_t *c, const char *endpoint, char *why, size_t cap);
void bench_pipe_close(pipe_t *c);

/* As bench_run_window, with the whole window on the wire. */
int bench_run_pipe(pipe_t *c, win_t *w, const char *payload, size_t len, uint64_t n,
                   uint64_t deadline_ns);

#endif
