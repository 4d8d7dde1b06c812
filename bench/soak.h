/* xmlbus-bench --soak: what the soak files share (docs/reliability.md, "Soak").
 *   soak.c        options, the sending loop, answers attributed to messages
 *   soakchaos.c   the pump process, redis-server and the chaos actions
 *   soakreport.c  the classification of every message, table and JSON
 *
 * Every message is <greeting><name>SEQ</name></greeting>, SEQ = 1..N, sent
 * with xb_client_send (its ACCEPTED names the sender's thread, so that a
 * SystemError, which carries no payload of ours, is attributed by thread).
 * The hello organism answers each greeting twice, both on that thread:
 * <greeting-reply><text>Hello, SEQ!</text> and <shouted><text>HELLO, SEQ!</text>. */
#ifndef XB_BENCH_SOAK_H
#define XB_BENCH_SOAK_H

#include "bench.h"

#include "xmlbus/client.h"

typedef struct {
    uint64_t messages;
    int window;
    long listener_kill_ms;                            /* 0: no listener kills */
    double redis_restart_s, pump_kill_s, pump_stop_s; /* 0: off */
    double stop_for_s;                                /* how long a SIGSTOP lasts */
    bool redis_wipe; /* redis restarts empty (no append-only file) */
    double grace_s;  /* after the last send: wait for late answers */
    double stuck_s;  /* a message leaves the window after this without its answers */
    unsigned seed;
    const char *json_path;
    char hello_dir[BENCH_PATH_MAX];
    char bin_dir[BENCH_PATH_MAX];
    char argv_line[1024];
} soak_opts_t;

/* What the client knows of one message's send. */
typedef enum {
    SM_UNSENT,   /* never handed to the pump */
    SM_ACCEPTED, /* ACCEPTED: the pump has it */
    SM_REFUSED,  /* REJECTED with a SystemError code */
    SM_UNKNOWN   /* no verdict: the send timed out or the pump went away */
} soak_state_t;

typedef struct {
    uint8_t state;   /* soak_state_t */
    uint8_t greet;   /* <greeting-reply> answers taken */
    uint8_t shouted; /* <shouted> answers taken */
    uint8_t errors;  /* SystemErrors attributed to it (by thread) */
    uint8_t marked;  /* answers that carried the redelivered mark */
    uint8_t code;    /* refusal or first SystemError code (xb_code_t) */
} soak_msg_t;

typedef struct {
    uint64_t listener_kills, listener_misses, redis_restarts, pump_kills, pump_stops;
    uint64_t pump_crashes; /* the pump exited without being killed: started again */
    uint64_t reconnects;
} soak_counts_t;

/* Answers the soak could not attribute to a message. */
typedef struct {
    uint64_t errors_by_code[XB_ERR__COUNT]; /* SystemErrors on an unknown thread */
    uint64_t other;                         /* answers without a readable <text> */
} soak_stray_t;

/* ---- the pump and the chaos (soakchaos.c) ---------------------------------- */

typedef struct soak_chaos soak_chaos_t;

/* Starts redis-server and the pump (hello on redis, a fixed ipc endpoint).
 * NULL with *err. */
soak_chaos_t *soak_chaos_start(const soak_opts_t *o, xb_error_t *err);
/* Stops everything (SIGCONT first if the pump is stopped). */
void soak_chaos_stop(soak_chaos_t **ch);
const char *soak_chaos_endpoint(const soak_chaos_t *ch);
/* Waits until the pump answers stats with both listeners registered. */
int soak_chaos_wait_ready(soak_chaos_t *ch, xb_client_t *c, int timeout_ms, xb_error_t *err);
/* Does the actions that are due at now_ns. Returns 1 when the pump was
 * restarted (the client must reconnect), 0 otherwise, -1 with *err when a
 * process could not be started again. */
int soak_chaos_tick(soak_chaos_t *ch, uint64_t now_ns, xb_error_t *err);
/* SIGCONT a stopped pump and do no more actions. */
void soak_chaos_quiet(soak_chaos_t *ch);
const soak_counts_t *soak_chaos_counts(const soak_chaos_t *ch);

/* ---- the verdict (soakreport.c) ---------------------------------------------- */

typedef struct {
    const soak_opts_t *o;
    const soak_msg_t *msgs;
    uint64_t sent;
    double seconds;
    const soak_counts_t *counts;
    const soak_stray_t *stray;
    const char *stopped_why; /* "" when the run went to the end */
} soak_result_t;

/* Prints the table on stdout, writes the JSON (o->json_path, if any) and
 * returns the exit code: 0, or 1 when a message was never (or only partly)
 * answered, answered twice without the mark, or the run stopped early. */
int soak_report(const soak_result_t *r);

#endif
