/* xmlbus-bench --soak: N greetings through the hello organism on redis, a
 * window of them in flight, while soakchaos.c kills listeners, restarts
 * redis-server, kills and stops the pump; every answer is attributed to its
 * message and soakreport.c classifies each message at the end
 * (docs/reliability.md, "Soak").
 *
 * The client survives the pump: after a pump restart it keeps its socket and
 * its identity (the C client's routing id is fixed, and the DEALER connects
 * again by itself), so what the journal delivers again after the restart
 * reaches it; only a client whose socket failed is replaced. Messages whose
 * fate is unknown (in flight when the pump died, or whose send timed out)
 * leave the window and stay open: an answer that arrives later is still
 * counted. */
#include "soak.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strmap.h"

#define SEND_TIMEOUT_MS 500
#define READY_TIMEOUT_MS 30000
#define COLLECT_MS 20
#define PROGRESS_NS 5000000000ull
#define STALL_NS 1000000000ull

typedef struct {
    uint64_t seq; /* 0: free */
    uint64_t sent_ns;
} soak_slot_t;

typedef struct {
    const soak_opts_t *o;
    soak_chaos_t *ch;
    xb_client_t *client;
    soak_msg_t *msgs;     /* o->messages entries, seq - 1 */
    xb_strmap_t *threads; /* sender's thread -> seq, while the message is open */
    soak_slot_t *win;
    int in_flight;
    uint64_t sent, answers;
    uint64_t open; /* sent, not refused, neither both answers nor a SystemError yet */
    uint64_t reconnects;
    uint64_t stalled_until; /* after a send timeout: no sends until an answer or this */
    soak_stray_t stray;
    char why[256];
} soak_t;

/* ---- options ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: xmlbus-bench --soak [options]\n"
               "  --messages N          greetings to send (default 1000000, or $SOAK_MESSAGES)\n"
               "  --window N            messages in flight (default 100)\n"
               "  --listener-kill-ms MS SIGKILL a listener every MS (default 200)\n"
               "  --redis-restart-s S   restart redis-server every S (default 20); it keeps\n"
               "                        its data (append-only file, fsync always) ...\n"
               "  --redis-wipe          ... unless this: it comes back empty\n"
               "  --pump-kill-s S       SIGKILL and restart the pump every S (default 60)\n"
               "  --pump-stop-s S       SIGSTOP the pump every S (default 60) ...\n"
               "  --stop-for-s S        ... for S (default 5)\n"
               "  --no-listener-kills, --no-redis-restarts, --no-pump-kills, --no-pump-stops\n"
               "                        (the same as an interval of 0; the table says every 0)\n"
               "  --grace-s S           wait for late answers after the last send (default 20)\n"
               "  --stuck-s S           a message leaves the window after S (default 60)\n"
               "  --seed N              random choice of listeners (default: the time)\n"
               "  --hello DIR           the hello example (default BIN/../../examples/hello)\n"
               "  --json FILE           write the result as JSON\n"
               "Exit 0 when every message was answered once or with a SystemError.\n");
}

static void defaults(soak_opts_t *o)
{
    memset(o, 0, sizeof *o);
    const char *env = getenv("SOAK_MESSAGES");
    o->messages = env && *env ? strtoull(env, NULL, 10) : 1000000;
    o->window = 100;
    o->listener_kill_ms = 200;
    o->redis_restart_s = 20;
    o->pump_kill_s = 60;
    o->pump_stop_s = 60;
    o->stop_for_s = 5;
    o->grace_s = 20;
    o->stuck_s = 60;
    o->seed = (unsigned)time(NULL);
}

/* A numeric option's value; false when missing or not a number >= 0. */
static bool num_arg(int argc, char **argv, int *i, double *out)
{
    if (*i + 1 >= argc)
        return false;
    char *end;
    *out = strtod(argv[++*i], &end);
    return *end == '\0' && *out >= 0;
}

static bool flag(const char *a, soak_opts_t *o)
{
    if (strcmp(a, "--no-listener-kills") == 0)
        o->listener_kill_ms = 0;
    else if (strcmp(a, "--no-redis-restarts") == 0)
        o->redis_restart_s = 0;
    else if (strcmp(a, "--no-pump-kills") == 0)
        o->pump_kill_s = 0;
    else if (strcmp(a, "--no-pump-stops") == 0)
        o->pump_stop_s = 0;
    else if (strcmp(a, "--redis-wipe") == 0)
        o->redis_wipe = true;
    else
        return false;
    return true;
}

/* One option with a value; false when a is none of them or the value is bad. */
static bool valued(int argc, char **argv, int *i, soak_opts_t *o)
{
    const char *a = argv[*i];
    if (strcmp(a, "--json") == 0 && *i + 1 < argc) {
        o->json_path = argv[++*i];
        return true;
    }
    if (strcmp(a, "--hello") == 0 && *i + 1 < argc) {
        snprintf(o->hello_dir, sizeof o->hello_dir, "%s", argv[++*i]);
        return true;
    }
    double v;
    if (!num_arg(argc, argv, i, &v))
        return false;
    if (strcmp(a, "--messages") == 0)
        o->messages = (uint64_t)v;
    else if (strcmp(a, "--window") == 0 && v >= 1)
        o->window = (int)v;
    else if (strcmp(a, "--listener-kill-ms") == 0)
        o->listener_kill_ms = (long)v;
    else if (strcmp(a, "--redis-restart-s") == 0)
        o->redis_restart_s = v;
    else if (strcmp(a, "--pump-kill-s") == 0)
        o->pump_kill_s = v;
    else if (strcmp(a, "--pump-stop-s") == 0)
        o->pump_stop_s = v;
    else if (strcmp(a, "--stop-for-s") == 0)
        o->stop_for_s = v;
    else if (strcmp(a, "--grace-s") == 0)
        o->grace_s = v;
    else if (strcmp(a, "--stuck-s") == 0)
        o->stuck_s = v;
    else if (strcmp(a, "--seed") == 0)
        o->seed = (unsigned)v;
    else
        return false;
    return true;
}

/* argv[0] is "--soak". Returns 0, 1 after --help, 2 on a usage error. */
static int parse(int argc, char **argv, soak_opts_t *o)
{
    defaults(o);
    size_t at = 0;
    for (int i = 0; i < argc && at < sizeof o->argv_line; i++)
        at += (size_t)snprintf(o->argv_line + at, sizeof o->argv_line - at, "%s%s",
                               i ? " " : "xmlbus-bench ", argv[i]);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (!flag(argv[i], o) && !valued(argc, argv, &i, o)) {
            fprintf(stderr, "xmlbus-bench --soak: bad option or value: %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (o->messages == 0 || o->messages > 100000000u) {
        fprintf(stderr, "xmlbus-bench --soak: --messages must be 1..100000000\n");
        return 2;
    }
    return 0;
}

static int find_dirs(soak_opts_t *o)
{
    char self[BENCH_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    snprintf(o->bin_dir, sizeof o->bin_dir, "%s", self);
    if (!o->hello_dir[0])
        snprintf(o->hello_dir, sizeof o->hello_dir, "%.*s/../../examples/hello",
                 (int)(sizeof o->hello_dir - 32), self);
    char xsd[BENCH_PATH_MAX + 32];
    snprintf(xsd, sizeof xsd, "%s/greeter.xsd", o->hello_dir);
    if (access(xsd, R_OK) != 0) {
        fprintf(stderr, "xmlbus-bench --soak: %s not found (--hello DIR)\n", xsd);
        return -1;
    }
    return 0;
}

/* ---- the window ----------------------------------------------------------------- */

static bool msg_done(const soak_msg_t *m)
{
    return m->state == SM_REFUSED || m->errors > 0 || (m->greet > 0 && m->shouted > 0);
}

static void win_add(soak_t *s, uint64_t seq)
{
    for (int i = 0; i < s->o->window; i++)
        if (!s->win[i].seq) {
            s->win[i] = (soak_slot_t){seq, bench_now_ns()};
            s->in_flight++;
            return;
        }
}

static void win_remove(soak_t *s, uint64_t seq)
{
    for (int i = 0; i < s->o->window; i++)
        if (s->win[i].seq == seq) {
            s->win[i].seq = 0;
            s->in_flight--;
            return;
        }
}

/* Messages in flight longer than stuck_s (all of them with all = true)
 * leave the window; they stay open for late answers. */
static void win_expire(soak_t *s, uint64_t now, bool all)
{
    uint64_t stuck = (uint64_t)(s->o->stuck_s * 1e9);
    for (int i = 0; i < s->o->window; i++)
        if (s->win[i].seq && (all || now - s->win[i].sent_ns > stuck)) {
            s->win[i].seq = 0;
            s->in_flight--;
        }
}

/* ---- answers ---------------------------------------------------------------------- */

/* The number after ", " in the first <text> of env; 0 when none. */
static uint64_t text_seq(const char *env, size_t len)
{
    const char *t = memmem(env, len, "<text>", 6);
    if (!t)
        return 0;
    const char *end = env + len;
    const char *c = memmem(t, (size_t)(end - t), ", ", 2);
    if (!c)
        return 0;
    return strtoull(c + 2, NULL, 10);
}

/* The sender's thread of env into out (NUL-terminated); false when none. */
static bool env_thread(const char *env, size_t len, char out[XB_UUID_STR])
{
    const char *t = memmem(env, len, "thread>", 7);
    if (!t || (size_t)(env + len - t) < 7 + XB_UUID_LEN)
        return false;
    memcpy(out, t + 7, XB_UUID_LEN);
    out[XB_UUID_LEN] = '\0';
    return true;
}

static void close_msg(soak_t *s, uint64_t seq, const char *thread)
{
    win_remove(s, seq);
    if (thread)
        (void)xb_strmap_delete(s->threads, thread);
}

static void take_error(soak_t *s, const char *env, size_t len)
{
    xb_code_t code = XB_ERR_ENVELOPE;
    (void)xb_client_system_error(env, len, &code, NULL, 0);
    char thread[XB_UUID_STR];
    uintptr_t seq = env_thread(env, len, thread) ? (uintptr_t)xb_strmap_get(s->threads, thread) : 0;
    if (!seq) {
        s->stray.errors_by_code[code < XB_ERR__COUNT ? code : XB_ERR_ENVELOPE]++;
        return;
    }
    soak_msg_t *m = &s->msgs[seq - 1];
    s->open -= !msg_done(m);
    if (m->errors++ == 0)
        m->code = (uint8_t)code;
    /* a SystemError may carry the mark too (docs/reliability.md) */
    if (memmem(env, len, "redelivered", 11) && m->marked < UINT8_MAX)
        m->marked++;
    close_msg(s, seq, NULL); /* the thread stays: a second SystemError is counted too */
}

static void take_answer(soak_t *s, const char *env, size_t len)
{
    s->answers++;
    if (memmem(env, len, "from>system<", 12)) { /* <e:from>system</e:from> */
        take_error(s, env, len);
        return;
    }
    uint64_t seq = text_seq(env, len);
    bool shouted = memmem(env, len, "<shouted>", 9) != NULL;
    bool greet = memmem(env, len, "<greeting-reply>", 16) != NULL;
    if (!seq || seq > s->o->messages || (!shouted && !greet)) {
        s->stray.other++;
        return;
    }
    soak_msg_t *m = &s->msgs[seq - 1];
    bool was_done = msg_done(m);
    uint8_t *count = shouted ? &m->shouted : &m->greet;
    if (*count < UINT8_MAX)
        (*count)++;
    if (memmem(env, len, "redelivered", 11) && m->marked < UINT8_MAX)
        m->marked++;
    if (!was_done && msg_done(m)) {
        s->open--;
        char thread[XB_UUID_STR];
        bool have = m->errors == 0 && env_thread(env, len, thread);
        close_msg(s, seq, have ? thread : NULL);
    }
}

/* Takes every answer that arrives within timeout_ms (then what is there).
 * Returns 0, or -1 when the client's socket failed. */
static int collect(soak_t *s, int timeout_ms)
{
    for (int first = 1;; first = 0) {
        char *env = NULL;
        size_t len = 0;
        xb_error_t err;
        xb_error_clear(&err);
        int rc = xb_client_recv(s->client, first ? timeout_ms : 0, &env, &len, &err);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return 0;
        take_answer(s, env, len);
        s->stalled_until = 0;
        free(env);
    }
}

/* ---- sending ------------------------------------------------------------------------- */

/* Sends message s->sent + 1. Returns 0, 1 when the client must be replaced
 * (socket failure), 2 when nothing went out (the client's queue is full). */
static int send_one(soak_t *s)
{
    uint64_t seq = s->sent + 1;
    char body[96], thread[XB_UUID_STR];
    int len = snprintf(body, sizeof body, "<greeting><name>%" PRIu64 "</name></greeting>", seq);
    xb_error_t err;
    xb_error_clear(&err);
    int rc = xb_client_send(s->client, body, (size_t)len, NULL, NULL, SEND_TIMEOUT_MS, thread, NULL,
                            &err);
    if (rc != 0 && err.code == XB_ERR_LIMIT && !xb_client_rejection(s->client, NULL))
        return 2;
    soak_msg_t *m = &s->msgs[seq - 1];
    s->sent++;
    if (rc == 0) {
        m->state = SM_ACCEPTED;
        s->open++;
        if (xb_strmap_put(s->threads, thread, (void *)(uintptr_t)seq) != 0)
            snprintf(s->why, sizeof s->why, "out of memory");
        win_add(s, seq);
        return 0;
    }
    if (xb_client_rejection(s->client, NULL)) {
        m->state = SM_REFUSED;
        m->code = (uint8_t)err.code;
        return 0;
    }
    m->state = SM_UNKNOWN; /* the pump may still have it: answers come by <text> */
    s->open++;
    win_add(s, seq);
    s->stalled_until = bench_now_ns() + STALL_NS;
    return err.code == XB_ERR_IO ? 1 : 0;
}

/* A new client on the pump's endpoint, once the pump serves. */
static int reconnect(soak_t *s, bool keep)
{
    s->reconnects += s->client != NULL;
    if (!keep)
        xb_client_destroy(&s->client);
    win_expire(s, 0, true); /* what the client had in flight is unknown */
    xb_error_t err;
    xb_error_clear(&err);
    if (!s->client)
        s->client = xb_client_new(soak_chaos_endpoint(s->ch), NULL, &err);
    if (!s->client || soak_chaos_wait_ready(s->ch, s->client, READY_TIMEOUT_MS, &err) != 0) {
        snprintf(s->why, sizeof s->why, "reconnect: %.200s", err.message);
        return -1;
    }
    s->stalled_until = 0;
    return 0;
}

static void progress(const soak_t *s, uint64_t t0, uint64_t now, const char *phase)
{
    const soak_counts_t *c = soak_chaos_counts(s->ch);
    double el = (double)(now - t0) / 1e9;
    fprintf(stderr,
            "soak %s %6.0f s: sent %" PRIu64 " answers %" PRIu64 " in flight %d open %" PRIu64 " | "
            "kills: listener %" PRIu64 " pump %" PRIu64 ", redis restarts %" PRIu64
            ", pump stops %" PRIu64 " | %.0f msgs/s\n",
            phase, el, s->sent, s->answers, s->in_flight, s->open, c->listener_kills, c->pump_kills,
            c->redis_restarts, c->pump_stops, el > 0 ? (double)s->sent / el : 0);
}

/* One turn of the loop: chaos, then a send or a collect. Returns 0 or -1. */
static int turn(soak_t *s, bool sending)
{
    uint64_t now = bench_now_ns();
    xb_error_t err;
    xb_error_clear(&err);
    int rc = soak_chaos_tick(s->ch, now, &err);
    if (rc < 0) {
        snprintf(s->why, sizeof s->why, "%.200s", err.message);
        return -1;
    }
    if (rc == 1)
        return reconnect(s, true); /* the pump restarted: same client */
    win_expire(s, now, false);
    int sr = 2;
    if (sending && s->sent < s->o->messages && s->in_flight < s->o->window &&
        now >= s->stalled_until)
        sr = send_one(s);
    if (sr == 1 || (sr == 2 && collect(s, COLLECT_MS) != 0))
        return reconnect(s, false);
    return s->why[0] ? -1 : 0;
}

/* Sends every message, then waits up to grace_s for the open ones. */
static int run(soak_t *s, uint64_t t0)
{
    uint64_t next_progress = t0 + PROGRESS_NS;
    while (s->sent < s->o->messages) {
        if (bench_interrupted()) {
            snprintf(s->why, sizeof s->why, "interrupted");
            return -1;
        }
        if (turn(s, true) != 0)
            return -1;
        uint64_t now = bench_now_ns();
        if (now >= next_progress) {
            progress(s, t0, now, "run  ");
            next_progress = now + PROGRESS_NS;
        }
    }
    soak_chaos_quiet(s->ch);
    uint64_t end = bench_now_ns() + (uint64_t)(s->o->grace_s * 1e9);
    while (s->open > 0 && bench_now_ns() < end && !bench_interrupted()) {
        if (turn(s, false) != 0)
            return -1;
        uint64_t now = bench_now_ns();
        if (now >= next_progress) {
            progress(s, t0, now, "grace");
            next_progress = now + PROGRESS_NS;
        }
    }
    return 0;
}

int bench_soak_main(int argc, char **argv)
{
    soak_opts_t o;
    int prc = parse(argc, argv, &o);
    if (prc)
        return prc == 1 ? 0 : 2;
    if (find_dirs(&o) != 0)
        return 2;
    bench_cleanup_install();
    soak_t s;
    memset(&s, 0, sizeof s);
    s.o = &o;
    s.msgs = calloc(o.messages, sizeof *s.msgs);
    s.win = calloc((size_t)o.window, sizeof *s.win);
    s.threads = xb_strmap_new();
    if (!s.msgs || !s.win || !s.threads) {
        fprintf(stderr, "xmlbus-bench --soak: out of memory\n");
        return 1;
    }
    fprintf(stderr, "soak: %" PRIu64 " greetings, hello on redis, %d in flight, seed %u\n",
            o.messages, o.window, o.seed);
    xb_error_t err;
    xb_error_clear(&err);
    s.ch = soak_chaos_start(&o, &err);
    if (!s.ch) {
        fprintf(stderr, "xmlbus-bench --soak: %s\n", err.message);
        return 1;
    }
    uint64_t t0 = bench_now_ns();
    if (reconnect(&s, false) == 0)
        (void)run(&s, t0);
    soak_counts_t counts = *soak_chaos_counts(s.ch);
    counts.reconnects = s.reconnects;
    soak_result_t r = {&o,      s.msgs,   s.sent, (double)(bench_now_ns() - t0) / 1e9,
                       &counts, &s.stray, s.why};
    xb_client_destroy(&s.client);
    soak_chaos_stop(&s.ch);
    int rc = soak_report(&r);
    xb_strmap_destroy(&s.threads);
    free(s.msgs);
    free(s.win);
    return rc;
}
