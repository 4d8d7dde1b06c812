/* Integration tests of cpu_bound listeners run as supervised pools of worker
 * processes (docs/pools.md): a real `xmlbus run`, real worker processes
 * (tests/listeners/pool.c, build/tests/xbtest-pool), real ZeroMQ, real
 * signals. Worker pids come from the answers (<done><pid/></done>) and from
 * CONTROL stats (<worker pid state handled restarts busy-ms/>).
 *
 * Three suites: "pool" shares one pump with one listener per scenario (so
 * the counters of one test are not disturbed by another), "recycling" one
 * pump with process_pool.max_tasks_per_child: 3, and "lifetime" starts a pump
 * per test to stop or kill it. No test asserts a duration: every wait is a
 * polling loop with a generous deadline. */
#include <CUnit/Basic.h>
#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "xbt.h"
#include "xbt_main.h"
#include "xmlbus/client.h"

#define POOL_CMD "    command: [@TESTBIN@/xbtest-pool, mixed, @DIR@]\n"
#define POOL(name, extra) \
    "  - name: " name "\n    payload: " name "\n    cpu_bound: true\n" extra POOL_CMD

/* process_pool.workers is 2: listeners without their own `workers` run 2. */
#define POOL_YAML                                                                                  \
    "organism:\n  name: pools\n  endpoint: @ENDPOINT@\n"                                           \
    "limits:\n  shutdown_seconds: 1\n"                                                             \
    "process_pool:\n  workers: 2\n  heartbeat: 0.3\n  liveness: 5\n"                               \
    "  max_retries: 2\n"                                                                           \
    "listeners:\n" POOL("spread", "    workers: 3\n") POOL("victim", "") POOL("poison", "")        \
        POOL("sleepy", "    timeout_seconds: 1\n") POOL("patient", "    timeout_seconds: 2\n")     \
            POOL("frozen", "") "  - name: auto\n    payload: auto\n    cpu_bound: true\n" POOL_CMD \
                               "  - name: plain\n    payload: plain\n" POOL_CMD

#define RECYCLE_YAML                                                 \
    "organism:\n  name: recycling\n  endpoint: @ENDPOINT@\n"         \
    "limits:\n  shutdown_seconds: 1\n"                               \
    "process_pool:\n  workers: 2\n  heartbeat: 0.3\n  liveness: 5\n" \
    "  max_tasks_per_child: 3\n"                                     \
    "listeners:\n" POOL("churn", "") POOL("failing", "    workers: 1\n")

#define LIFE_YAML                                       \
    "organism:\n  name: life\n  endpoint: @ENDPOINT@\n" \
    "limits:\n  shutdown_seconds: 2\n"                  \
    "process_pool:\n  heartbeat: 0.3\n"                 \
    "listeners:\n" POOL("work", "    workers: 3\n")

#define ANSWER_MS 30000 /* generous: a loaded 2-core machine under ASan */

static xbt_pump_t pools, recycle;
static bool pools_up, recycle_up;

/* ---- helpers --------------------------------------------------------------- */

typedef struct {
    bool is_error;
    xb_code_t code;
    char message[512];
    long pid;             /* <pid> of a <done>, or the pid in a "failed in pid N" */
    long n;               /* <n> of a <done>, -1 if none */
    char id[XB_UUID_STR]; /* <id> of a <done>: the message id the worker saw */
    char thread[XB_UUID_STR];
} answer_t;

/* The text of the first child element of parent whose local name is name,
 * into out (cap bytes); "" when there is none. */
static void child_text(const xmlNode *parent, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    for (const xmlNode *n = parent ? parent->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0)
            continue;
        xmlChar *t = xmlNodeGetContent(n);
        snprintf(out, cap, "%s", t ? (const char *)t : "");
        xmlFree(t);
        return;
    }
}

/* Reads an envelope the pump delivered: the sender's thread from <meta>,
 * then either a SystemError or the fields of a <done> payload. The
 * envelope's own metadata (its x:id, ...) is never taken for the payload's. */
static void parse_answer(const char *env, answer_t *a)
{
    memset(a, 0, sizeof *a);
    a->pid = -1;
    a->n = -1;
    xb_error_t err;
    xmlDoc *doc = xb_client_read_xml(env, strlen(env), &err);
    const xmlNode *meta = NULL, *payload = NULL;
    for (const xmlNode *n = doc ? xmlDocGetRootElement(doc)->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (!meta && strcmp((const char *)n->name, "meta") == 0)
            meta = n;
        else if (!payload)
            payload = n;
    }
    child_text(meta, "thread", a->thread, sizeof a->thread);
    if (xb_client_system_error(env, strlen(env), &a->code, a->message, sizeof a->message) == 1) {
        a->is_error = true;
        const char *at = strstr(a->message, "in pid ");
        if (at)
            a->pid = strtol(at + 7, NULL, 10);
    } else if (payload) {
        char buf[64];
        child_text(payload, "pid", buf, sizeof buf);
        if (buf[0])
            a->pid = strtol(buf, NULL, 10);
        child_text(payload, "n", buf, sizeof buf);
        if (buf[0])
            a->n = strtol(buf, NULL, 10);
        child_text(payload, "id", a->id, sizeof a->id);
    }
    xmlFreeDoc(doc);
}

/* Receives up to want messages within timeout_ms in total; returns how many. */
static int recv_answers(xb_client_t *c, answer_t *out, int want, int timeout_ms)
{
    double end = xbt_now() + timeout_ms / 1000.0;
    int got = 0;
    while (got < want && xbt_now() < end) {
        char *env = xbt_recv(c, 100);
        if (!env)
            continue;
        parse_answer(env, &out[got++]);
        free(env);
    }
    return got;
}

/* Sends the formatted payload; the thread UUID goes to thread and the
 * message id to msgid (either may be NULL). Returns 0 when the pump accepted
 * it. */
static int send_fmt_id(xb_client_t *c, char thread[XB_UUID_STR], char msgid[XB_UUID_STR],
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int send_fmt_id(xb_client_t *c, char thread[XB_UUID_STR], char msgid[XB_UUID_STR],
                       const char *fmt, ...)
{
    char body[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    xb_error_t err;
    int rc = xb_client_send(c, body, strlen(body), NULL, NULL, 10000, thread, msgid, &err);
    if (rc != 0)
        fprintf(stderr, "send %s: %s\n", body, err.message);
    return rc;
}

#define send_fmt(c, thread, ...) send_fmt_id(c, thread, NULL, __VA_ARGS__)

/* A job for listener name: answered <done><pid/><n>n</n></done> after ms. */
static int send_job(xb_client_t *c, const char *name, int n, int ms)
{
    return send_fmt(c, NULL, "<%s><n>%d</n><ms>%d</ms></%s>", name, n, ms, name);
}

static bool has_pid(const xbt_worker_t *w, int n, long pid)
{
    for (int i = 0; i < n; i++)
        if (w[i].pid == pid)
            return true;
    return false;
}

/* True when listener has exactly n registered processes, all idle (out,
 * cap >= n, gets them); *got the count. */
static bool pool_idle(xb_client_t *c, const char *listener, int n, xbt_worker_t *out, int cap,
                      int *got)
{
    *got = xbt_workers(c, listener, out, cap);
    bool idle = *got == n;
    for (int i = 0; idle && i < *got && i < cap; i++)
        idle = strcmp(out[i].state, "idle") == 0;
    return idle;
}

/* Waits until listener has exactly n registered processes, all idle; fills
 * out (cap >= n). Returns the last count seen. */
static int wait_pool(xb_client_t *c, const char *listener, int n, xbt_worker_t *out, int cap)
{
    int got = -1;
    XBT_WAIT_UNTIL(pool_idle(c, listener, n, out, cap, &got), 30000);
    return got;
}

/* Polls xbt_stat until it reaches at least want; returns the last value. */
static long wait_stat_at_least(xb_client_t *c, const char *listener, const char *attr, long want)
{
    long v = -1;
    XBT_WAIT_UNTIL((v = xbt_stat(c, listener, attr)) >= want, 20000);
    return v;
}

static bool wait_dead(long pid)
{
    XBT_WAIT_UNTIL(!xbt_pid_alive((pid_t)pid), 15000);
    return !xbt_pid_alive((pid_t)pid);
}

/* Lines of DIR/NAME.attempts ("PID MSGID" per attempt of a crash-always
 * message); the distinct pids go to pids (cap), their count to *distinct. */
static int attempts_of(const char *dir, const char *name, long *pids, int cap, int *distinct)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.attempts", dir, name);
    FILE *f = fopen(path, "r");
    *distinct = 0;
    if (!f)
        return 0;
    int lines = 0;
    long pid;
    char id[64];
    while (fscanf(f, "%ld %63s", &pid, id) == 2) {
        lines++;
        bool seen = false;
        for (int i = 0; i < *distinct; i++)
            seen = seen || pids[i] == pid;
        if (!seen && *distinct < cap)
            pids[(*distinct)++] = pid;
    }
    fclose(f);
    return lines;
}

/* Nothing more arrives within ms (every message was answered once). */
static void assert_quiet(xb_client_t *c, int ms)
{
    char *extra = xbt_recv(c, ms);
    CU_ASSERT_PTR_NULL(extra);
    if (extra)
        fprintf(stderr, "unexpected extra message: %s\n", extra);
    free(extra);
}

/* Stops a suite's pump with SIGTERM: it exits 0, every process it started
 * is gone and nothing in its log comes from a sanitizer. */
static void assert_stops_clean(xbt_pump_t *p)
{
    pid_t kids[64];
    size_t nkids = xbt_children(p->pid, kids, 64);
    CU_ASSERT(nkids > 0);
    int status = xbt_pump_stop(p, SIGTERM, 60);
    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (size_t i = 0; i < nkids; i++)
        CU_ASSERT(wait_dead(kids[i]));
    CU_ASSERT(xbt_pump_log_clean(p));
}

/* ---- suite "pool" ---------------------------------------------------------- */

static int pools_init(void)
{
    pools_up = xbt_pump_start(&pools, POOL_YAML) == 0;
    return 0;
}

static int pools_cleanup(void)
{
    xbt_pump_finish(&pools, 30);
    return 0;
}

/* Runs last: the pump of the suite, after all that, stops cleanly. */
static void test_pools_pump_stops_clean(void)
{
    CU_ASSERT_FATAL(pools_up);
    assert_stops_clean(&pools);
}

/* 20 slow messages at once over 3 workers: the least recently used dispatch
 * gives every worker some, and the stats count them per process. */
static void test_spread_over_all_workers(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w[8];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "spread", 3, w, 8), 3);
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL_FATAL(send_job(c, "spread", i, 150), 0);
    answer_t a[20];
    CU_ASSERT_EQUAL_FATAL(recv_answers(c, a, 20, ANSWER_MS), 20);
    int seen_n[20] = {0}, per_worker[3] = {0};
    for (int i = 0; i < 20; i++) {
        CU_ASSERT_FALSE(a[i].is_error);
        if (a[i].n >= 0 && a[i].n < 20)
            seen_n[a[i].n]++;
        bool known = false;
        for (int k = 0; k < 3; k++) {
            if (a[i].pid == w[k].pid) {
                per_worker[k]++;
                known = true;
            }
        }
        CU_ASSERT(known); /* answered by one of the pool's processes */
    }
    for (int i = 0; i < 20; i++)
        CU_ASSERT_EQUAL(seen_n[i], 1);
    for (int k = 0; k < 3; k++)
        CU_ASSERT(per_worker[k] >= 1);
    /* The per-process counters agree with the answers. */
    xbt_worker_t after[8];
    CU_ASSERT_EQUAL(xbt_workers(c, "spread", after, 8), 3);
    for (int k = 0; k < 3; k++) {
        CU_ASSERT(has_pid(after, 3, w[k].pid));
        for (int j = 0; j < 3; j++)
            if (after[j].pid == w[k].pid)
                CU_ASSERT_EQUAL(after[j].handled, per_worker[k]);
    }
    CU_ASSERT_EQUAL(xbt_stat(c, "spread", "delivered"), 20);
    CU_ASSERT_EQUAL(xbt_stat(c, "spread", "responded"), 20);
    CU_ASSERT_EQUAL(xbt_stat(c, "spread", "restarts"), 0);
    assert_quiet(c, 300);
    xb_client_destroy(&c);
}

/* A pool without its own `workers` runs process_pool.workers (2 in
 * POOL_YAML). The default of process_pool.workers itself, the number of
 * online CPUs, is checked in the lifetime suite. */
static void test_pool_size_from_process_pool(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w[8];
    CU_ASSERT_EQUAL(wait_pool(c, "auto", 2, w, 8), 2);
    CU_ASSERT_EQUAL(xbt_stat(c, "auto", "processes"), 2);
    xb_client_destroy(&c);
}

/* SIGKILL of the worker that holds a message: the message goes to another
 * worker and is answered exactly once; the dead worker is replaced. */
static void test_worker_killed_mid_message(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w0[8];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "victim", 2, w0, 8), 2);
    long delivered0 = xbt_stat(c, "victim", "delivered");
    long crashes0 = xbt_stat(c, "victim", "crashes");
    long restarts0 = xbt_stat(c, "victim", "restarts");
    CU_ASSERT_EQUAL_FATAL(send_job(c, "victim", 1, 1500), 0);
    long busy = xbt_wait_busy_worker(c, "victim", 20000);
    CU_ASSERT_FATAL(busy > 0);
    CU_ASSERT(has_pid(w0, 2, busy));
    CU_ASSERT_EQUAL_FATAL(kill((pid_t)busy, SIGKILL), 0);
    answer_t a;
    CU_ASSERT_EQUAL_FATAL(recv_answers(c, &a, 1, ANSWER_MS), 1);
    CU_ASSERT_FALSE(a.is_error);
    CU_ASSERT_EQUAL(a.n, 1);
    CU_ASSERT(a.pid > 0 && a.pid != busy);
    assert_quiet(c, 1000); /* exactly once */
    CU_ASSERT(wait_dead(busy));
    CU_ASSERT_EQUAL(wait_stat_at_least(c, "victim", "crashes", crashes0 + 1), crashes0 + 1);
    CU_ASSERT(wait_stat_at_least(c, "victim", "restarts", restarts0 + 1) >= restarts0 + 1);
    CU_ASSERT_EQUAL(xbt_stat(c, "victim", "delivered"), delivered0 + 2); /* first try + retry */
    /* The pool is whole again, with a new process in the dead one's place
     * whose restart counter shows it. */
    xbt_worker_t w1[8];
    CU_ASSERT_EQUAL(wait_pool(c, "victim", 2, w1, 8), 2);
    CU_ASSERT_FALSE(has_pid(w1, 2, busy));
    bool fresh = false;
    for (int i = 0; i < 2; i++)
        if (!has_pid(w0, 2, w1[i].pid)) {
            fresh = true;
            CU_ASSERT(w1[i].restarts >= 1);
        }
    CU_ASSERT(fresh);
    xb_client_destroy(&c);
}

/* A handler that dies the first time it sees a message: the sender never
 * notices; the retry answers normally. */
static void test_crash_once_is_transparent(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w[8];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "victim", 2, w, 8), 2);
    long delivered0 = xbt_stat(c, "victim", "delivered");
    long crashes0 = xbt_stat(c, "victim", "crashes");
    CU_ASSERT_EQUAL_FATAL(send_fmt(c, NULL, "<victim><do>crash-once</do><n>7</n></victim>"), 0);
    answer_t a;
    CU_ASSERT_EQUAL_FATAL(recv_answers(c, &a, 1, ANSWER_MS), 1);
    CU_ASSERT_FALSE(a.is_error);
    CU_ASSERT_EQUAL(a.n, 7);
    assert_quiet(c, 500);
    CU_ASSERT_EQUAL(wait_stat_at_least(c, "victim", "crashes", crashes0 + 1), crashes0 + 1);
    CU_ASSERT_EQUAL(xbt_stat(c, "victim", "delivered"), delivered0 + 2);
    xb_client_destroy(&c);
}

/* The message id ACCEPTED returns is the id of the message the worker is
 * given, on the first try and on a retry after its worker died: a sender
 * (and the history) can tell which message an answer or a slot belongs to. */
static void test_message_id_is_the_accepted_one(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w[8];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "victim", 2, w, 8), 2);
    char id1[XB_UUID_STR] = "", id2[XB_UUID_STR] = "";
    CU_ASSERT_EQUAL_FATAL(send_fmt_id(c, NULL, id1, "<victim><n>21</n></victim>"), 0);
    answer_t a;
    CU_ASSERT_EQUAL_FATAL(recv_answers(c, &a, 1, ANSWER_MS), 1);
    CU_ASSERT_FALSE(a.is_error);
    CU_ASSERT_STRING_EQUAL(a.id, id1);
    CU_ASSERT_EQUAL_FATAL(
        send_fmt_id(c, NULL, id2, "<victim><do>crash-once</do><n>22</n></victim>"), 0);
    CU_ASSERT_EQUAL_FATAL(recv_answers(c, &a, 1, ANSWER_MS), 1);
    CU_ASSERT_FALSE(a.is_error);
    CU_ASSERT_STRING_EQUAL(a.id, id2);
    xb_client_destroy(&c);
}

/* A message that kills every worker it reaches: tried 1 + max_retries times
 * (each try on a different process), then `crash` to its sender, while the
 * other messages of the same pool are all answered. */
static void test_poison_message_gets_crash_after_retries(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w[8];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "poison", 2, w, 8), 2);
    char poison_thread[XB_UUID_STR] = "";
    CU_ASSERT_EQUAL_FATAL(send_fmt(c, poison_thread, "<poison><do>crash</do></poison>"), 0);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL_FATAL(send_job(c, "poison", i, 100), 0);
    answer_t a[7];
    CU_ASSERT_EQUAL_FATAL(recv_answers(c, a, 7, ANSWER_MS), 7);
    int errors = 0, seen_n[6] = {0};
    for (int i = 0; i < 7; i++) {
        if (a[i].is_error) {
            errors++;
            CU_ASSERT_EQUAL(a[i].code, XB_ERR_CRASH);
            CU_ASSERT_STRING_EQUAL(a[i].thread, poison_thread);
            CU_ASSERT(strstr(a[i].message, "no retries left") != NULL);
        } else if (a[i].n >= 0 && a[i].n < 6) {
            seen_n[a[i].n]++;
        }
    }
    CU_ASSERT_EQUAL(errors, 1);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(seen_n[i], 1);
    assert_quiet(c, 500);
    long pids[8];
    int distinct = 0;
    CU_ASSERT_EQUAL(attempts_of(pools.dir, "poison", pids, 8, &distinct), 1 + 2);
    CU_ASSERT_EQUAL(distinct, 3);
    CU_ASSERT_EQUAL(wait_stat_at_least(c, "poison", "crashes", 3), 3);
    CU_ASSERT(wait_stat_at_least(c, "poison", "restarts", 3) >= 3);
    CU_ASSERT_EQUAL(xbt_stat(c, "poison", "delivered"), 3 + 6);
    /* The rebuilt pool keeps serving. */
    CU_ASSERT_EQUAL(send_job(c, "poison", 100, 0), 0);
    CU_ASSERT_EQUAL(send_job(c, "poison", 101, 0), 0);
    CU_ASSERT_EQUAL(recv_answers(c, a, 2, ANSWER_MS), 2);
    CU_ASSERT(!a[0].is_error && !a[1].is_error);
    xb_client_destroy(&c);
}

/* A listener that is not cpu_bound is not retried: one attempt, `crash`. */
static void test_plain_listener_is_not_retried(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w[4];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "plain", 1, w, 4), 1);
    CU_ASSERT_EQUAL_FATAL(send_fmt(c, NULL, "<plain><do>crash</do></plain>"), 0);
    answer_t a;
    CU_ASSERT_EQUAL_FATAL(recv_answers(c, &a, 1, ANSWER_MS), 1);
    CU_ASSERT(a.is_error);
    CU_ASSERT_EQUAL(a.code, XB_ERR_CRASH);
    long pids[4];
    int distinct = 0;
    CU_ASSERT_EQUAL(attempts_of(pools.dir, "plain", pids, 4, &distinct), 1);
    xb_client_destroy(&c);
}

/* A hung handler: `timeout` to the sender after timeout_seconds, the hung
 * process is killed and a fresh one takes its place. */
static void test_hang_times_out_and_worker_replaced(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w0[8];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "sleepy", 2, w0, 8), 2);
    long timeouts0 = xbt_stat(c, "sleepy", "timeouts");
    char thread[XB_UUID_STR] = "";
    CU_ASSERT_EQUAL_FATAL(send_fmt(c, thread, "<sleepy><do>hang</do></sleepy>"), 0);
    long busy = xbt_wait_busy_worker(c, "sleepy", 20000);
    CU_ASSERT_FATAL(busy > 0);
    answer_t a;
    CU_ASSERT_EQUAL_FATAL(recv_answers(c, &a, 1, ANSWER_MS), 1);
    CU_ASSERT(a.is_error);
    CU_ASSERT_EQUAL(a.code, XB_ERR_TIMEOUT);
    CU_ASSERT_STRING_EQUAL(a.thread, thread);
    CU_ASSERT(wait_dead(busy));
    CU_ASSERT_EQUAL(xbt_stat(c, "sleepy", "timeouts"), timeouts0 + 1);
    xbt_worker_t w1[8];
    CU_ASSERT_EQUAL(wait_pool(c, "sleepy", 2, w1, 8), 2);
    CU_ASSERT_FALSE(has_pid(w1, 2, busy));
    CU_ASSERT(!has_pid(w0, 2, w1[0].pid) || !has_pid(w0, 2, w1[1].pid));
    /* A timeout is not a crash: nothing was retried. */
    CU_ASSERT_EQUAL(xbt_stat(c, "sleepy", "delivered"), 1);
    CU_ASSERT_EQUAL_FATAL(send_job(c, "sleepy", 5, 0), 0);
    CU_ASSERT_EQUAL(recv_answers(c, &a, 1, ANSWER_MS), 1);
    CU_ASSERT(!a.is_error && a.n == 5 && a.pid != busy);
    assert_quiet(c, 300);
    xb_client_destroy(&c);
}

/* timeout_seconds bounds the handler, not the wait in the queue: 8 jobs of
 * 0.7 s on 2 workers with timeout_seconds 2 are all answered although the
 * last ones wait about 2.1 s for a free worker. */
static void test_timeout_counts_handler_time_only(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w[8];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "patient", 2, w, 8), 2);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL_FATAL(send_job(c, "patient", i, 700), 0);
    answer_t a[8];
    CU_ASSERT_EQUAL_FATAL(recv_answers(c, a, 8, ANSWER_MS), 8);
    int errors = 0;
    for (int i = 0; i < 8; i++) {
        if (a[i].is_error) {
            errors++;
            fprintf(stderr, "patient job answered with %s: %s\n", xb_code_name(a[i].code),
                    a[i].message);
        }
    }
    CU_ASSERT_EQUAL(errors, 0);
    CU_ASSERT_EQUAL(xbt_stat(c, "patient", "timeouts"), 0);
    xb_client_destroy(&c);
}

/* An idle worker that stops answering heartbeats (SIGSTOP) is declared dead
 * after `liveness` intervals, killed and replaced; work goes elsewhere. */
static void test_silent_idle_worker_replaced(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w0[8];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "frozen", 2, w0, 8), 2);
    long crashes0 = xbt_stat(c, "frozen", "crashes");
    long stopped = w0[0].pid;
    CU_ASSERT_EQUAL_FATAL(kill((pid_t)stopped, SIGSTOP), 0);
    xbt_worker_t w1[8];
    int n = -1;
    bool replaced = false;
    XBT_WAIT_UNTIL(
        replaced = (n = xbt_workers(c, "frozen", w1, 8)) == 2 && !has_pid(w1, 2, stopped), 30000);
    CU_ASSERT(replaced);
    if (!replaced)
        kill((pid_t)stopped, SIGCONT);
    CU_ASSERT(wait_dead(stopped));
    CU_ASSERT_EQUAL(wait_stat_at_least(c, "frozen", "crashes", crashes0 + 1), crashes0 + 1);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL_FATAL(send_job(c, "frozen", i, 50), 0);
    answer_t a[4];
    CU_ASSERT_EQUAL(recv_answers(c, a, 4, ANSWER_MS), 4);
    for (int i = 0; i < 4; i++)
        CU_ASSERT(!a[i].is_error && a[i].pid != stopped);
    xb_client_destroy(&c);
}

/* `xmlbus stats` (the table, not --xml) shows every process of a pool with
 * its pid, so that an operator sees which workers handled what. */
static void test_stats_command_lists_workers(void)
{
    CU_ASSERT_FATAL(pools_up);
    xb_client_t *c = xbt_client(&pools);
    xbt_worker_t w[8];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "spread", 3, w, 8), 3);
    xb_client_destroy(&c);
    char *out = NULL;
    CU_ASSERT_EQUAL(xbt_xmlbus(pools.endpoint, &out, "stats"), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    for (int i = 0; i < 3; i++) {
        char pid[32];
        snprintf(pid, sizeof pid, "%ld", w[i].pid);
        bool found = false;
        for (char *at = strstr(out, pid); at && !found; at = strstr(at + 1, pid))
            found = (at == out || !isdigit((unsigned char)at[-1])) &&
                    !isdigit((unsigned char)at[strlen(pid)]);
        CU_ASSERT(found);
        if (!found)
            fprintf(stderr, "worker pid %s not in `xmlbus stats`:\n%s\n", pid, out);
    }
    free(out);
}

/* ---- suite "recycling" ----------------------------------------------------- */

static int recycle_init(void)
{
    recycle_up = xbt_pump_start(&recycle, RECYCLE_YAML) == 0;
    return 0;
}

static int recycle_cleanup(void)
{
    xbt_pump_finish(&recycle, 30);
    return 0;
}

typedef struct {
    long pid;
    int count;
} pid_count_t;

static void count_pid(pid_count_t *pc, int *npc, int cap, long pid)
{
    for (int i = 0; i < *npc; i++) {
        if (pc[i].pid == pid) {
            pc[i].count++;
            return;
        }
    }
    if (*npc < cap)
        pc[(*npc)++] = (pid_count_t){pid, 1};
}

/* max_tasks_per_child: 3, 50 messages with 10 in flight: every message is
 * answered exactly once, no process answers more than 3, and the pool went
 * through many processes. */
static void test_recycling_under_load_loses_nothing(void)
{
    CU_ASSERT_FATAL(recycle_up);
    xb_client_t *c = xbt_client(&recycle);
    xbt_worker_t w[8];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "churn", 2, w, 8), 2);
    int sent = 0, got = 0, errors = 0, seen_n[50] = {0};
    pid_count_t pc[64];
    int npc = 0;
    for (; sent < 10; sent++)
        CU_ASSERT_EQUAL_FATAL(send_job(c, "churn", sent, 20), 0);
    double end = xbt_now() + 60;
    while (got < 50 && xbt_now() < end) {
        answer_t a;
        if (recv_answers(c, &a, 1, 200) != 1)
            continue;
        got++;
        if (a.is_error) {
            errors++;
            fprintf(stderr, "churn: %s: %s\n", xb_code_name(a.code), a.message);
        } else {
            if (a.n >= 0 && a.n < 50)
                seen_n[a.n]++;
            count_pid(pc, &npc, 64, a.pid);
        }
        if (sent < 50) {
            CU_ASSERT_EQUAL_FATAL(send_job(c, "churn", sent, 20), 0);
            sent++;
        }
    }
    CU_ASSERT_EQUAL(got, 50);
    CU_ASSERT_EQUAL(errors, 0);
    for (int i = 0; i < 50; i++)
        CU_ASSERT_EQUAL(seen_n[i], 1);
    for (int i = 0; i < npc; i++)
        CU_ASSERT(pc[i].count <= 3);
    CU_ASSERT(npc >= 17); /* ceil(50 / 3) */
    assert_quiet(c, 500);
    CU_ASSERT(wait_stat_at_least(c, "churn", "restarts", npc - 2) >= npc - 2);
    CU_ASSERT_EQUAL(xbt_stat(c, "churn", "crashes"), 0);
    CU_ASSERT_EQUAL(xbt_stat(c, "churn", "delivered"), 50);
    CU_ASSERT_EQUAL(wait_pool(c, "churn", 2, w, 8), 2);
    xb_client_destroy(&c);
}

/* A message whose handler fails (FAILED, `crash` to the sender) was handled
 * all the same: it counts towards max_tasks_per_child. */
static void test_failed_messages_count_towards_recycling(void)
{
    CU_ASSERT_FATAL(recycle_up);
    xb_client_t *c = xbt_client(&recycle);
    xbt_worker_t w[4];
    CU_ASSERT_EQUAL_FATAL(wait_pool(c, "failing", 1, w, 4), 1);
    pid_count_t pc[16];
    int npc = 0;
    for (int i = 0; i < 7; i++) {
        CU_ASSERT_EQUAL_FATAL(send_fmt(c, NULL, "<failing><do>fail</do></failing>"), 0);
        answer_t a;
        CU_ASSERT_EQUAL_FATAL(recv_answers(c, &a, 1, ANSWER_MS), 1);
        CU_ASSERT(a.is_error && a.code == XB_ERR_CRASH && a.pid > 0);
        count_pid(pc, &npc, 16, a.pid);
    }
    for (int i = 0; i < npc; i++)
        CU_ASSERT(pc[i].count <= 3);
    CU_ASSERT(npc >= 3);
    xb_client_destroy(&c);
}

static void test_recycle_pump_stops_clean(void)
{
    CU_ASSERT_FATAL(recycle_up);
    assert_stops_clean(&recycle);
}

/* ---- suite "lifetime" ------------------------------------------------------ */

/* Starts a pump of its own for one test and waits until listener has n idle
 * processes (filled into w, cap >= n) and a client *c. On failure the pump is
 * killed, its folder removed and false returned: nothing is left behind. */
static bool life_begin(xbt_pump_t *p, const char *yaml, xb_client_t **c, const char *listener,
                       int n, xbt_worker_t *w, int cap)
{
    *c = NULL;
    if (xbt_pump_start(p, yaml) != 0)
        return false;
    *c = xbt_client(p);
    if (*c && wait_pool(*c, listener, n, w, cap) == n)
        return true;
    xbt_pump_dump_log(p);
    xb_client_destroy(c);
    xbt_pump_stop(p, SIGKILL, 10);
    xbt_rmtree(p->dir);
    return false;
}

/* SIGTERM with a hung handler and jobs in flight: the jobs are answered, the
 * hung message gets `shutdown`, the pump exits 0, no worker is left. */
static void test_sigterm_leaves_no_worker(void)
{
    unsigned failures0 = CU_get_number_of_failures();
    xbt_pump_t p;
    xb_client_t *c;
    xbt_worker_t w[8];
    CU_ASSERT_FATAL(life_begin(&p, LIFE_YAML, &c, "work", 3, w, 8));
    pid_t kids[16];
    size_t nkids = xbt_children(p.pid, kids, 16);
    CU_ASSERT_EQUAL(nkids, 3);
    char hung[XB_UUID_STR] = "";
    CU_ASSERT_EQUAL(send_fmt(c, hung, "<work><do>hang</do></work>"), 0);
    CU_ASSERT_EQUAL(send_job(c, "work", 1, 300), 0);
    CU_ASSERT_EQUAL(send_job(c, "work", 2, 300), 0);
    CU_ASSERT(wait_stat_at_least(c, "work", "in-flight", 1) >= 1); /* the hung one at least */
    int status = xbt_pump_stop(&p, SIGTERM, 60);
    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (size_t i = 0; i < nkids; i++)
        CU_ASSERT(wait_dead(kids[i]));
    for (int i = 0; i < 3; i++)
        CU_ASSERT(wait_dead(w[i].pid));
    /* What the pump sent before it exited is in the client's queue. */
    answer_t a[3];
    CU_ASSERT_EQUAL(recv_answers(c, a, 3, 5000), 3);
    int done = 0, shutdown = 0;
    for (int i = 0; i < 3; i++) {
        if (!a[i].is_error)
            done++;
        else if (a[i].code == XB_ERR_SHUTDOWN && strcmp(a[i].thread, hung) == 0)
            shutdown++;
    }
    CU_ASSERT_EQUAL(done, 2);
    CU_ASSERT_EQUAL(shutdown, 1);
    CU_ASSERT(xbt_pump_log_clean(&p));
    if (CU_get_number_of_failures() > failures0)
        xbt_pump_dump_log(&p);
    xb_client_destroy(&c);
    xbt_rmtree(p.dir);
}

/* A pump killed outright takes its workers with it (PR_SET_PDEATHSIG). */
static void test_killed_pump_leaves_no_worker(void)
{
    xbt_pump_t p;
    xb_client_t *c;
    xbt_worker_t w[8];
    CU_ASSERT_FATAL(life_begin(&p, LIFE_YAML, &c, "work", 3, w, 8));
    xb_client_destroy(&c);
    pid_t kids[16];
    size_t nkids = xbt_children(p.pid, kids, 16);
    CU_ASSERT_EQUAL(nkids, 3);
    xbt_pump_stop(&p, SIGKILL, 10);
    for (size_t i = 0; i < nkids; i++)
        CU_ASSERT(wait_dead(kids[i]));
    xbt_rmtree(p.dir);
}

/* process_pool.workers defaults to the number of online CPUs. */
static void test_default_pool_size_is_online_cpus(void)
{
    xbt_pump_t p;
    const char *yaml = "organism:\n  name: cpus\n  endpoint: @ENDPOINT@\n"
                       "listeners:\n" POOL("auto", "");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    xb_client_t *c;
    xbt_worker_t w[1100];
    CU_ASSERT_FATAL(cpus >= 1 && cpus <= 1024);
    CU_ASSERT_FATAL(life_begin(&p, yaml, &c, "auto", (int)cpus, w, 1100));
    CU_ASSERT_EQUAL(xbt_stat(c, "auto", "processes"), cpus);
    xb_client_destroy(&c);
    int status = xbt_pump_stop(&p, SIGTERM, 30);
    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT(xbt_pump_log_clean(&p));
    xbt_rmtree(p.dir);
}

/* Draining after SIGTERM needs the pool: a worker recycled by
 * max_tasks_per_child while messages wait must be replaced by one that
 * serves them, so that every queued message is answered before
 * limits.shutdown_seconds (6 s here; the 3 jobs and 2 recycles take about
 * 1 s). */
static void test_drain_with_recycling_answers_queued(void)
{
    unsigned failures0 = CU_get_number_of_failures();
    xbt_pump_t p;
    const char *yaml = "organism:\n  name: drain\n  endpoint: @ENDPOINT@\n"
                       "limits:\n  shutdown_seconds: 6\n"
                       "process_pool:\n  heartbeat: 0.3\n  max_tasks_per_child: 1\n"
                       "listeners:\n" POOL("one", "    workers: 1\n");
    xb_client_t *c;
    xbt_worker_t w[4];
    CU_ASSERT_FATAL(life_begin(&p, yaml, &c, "one", 1, w, 4));
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(send_job(c, "one", i, 200), 0);
    CU_ASSERT(wait_stat_at_least(c, "one", "in-flight", 1) >= 1);
    int status = xbt_pump_stop(&p, SIGTERM, 60);
    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    answer_t a[3];
    CU_ASSERT_EQUAL(recv_answers(c, a, 3, 5000), 3);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_FALSE(a[i].is_error);
        if (a[i].is_error)
            fprintf(stderr, "drain: %s: %s\n", xb_code_name(a[i].code), a[i].message);
    }
    CU_ASSERT(xbt_pump_log_clean(&p));
    if (CU_get_number_of_failures() > failures0)
        xbt_pump_dump_log(&p);
    xb_client_destroy(&c);
    xbt_rmtree(p.dir);
}

/* A pump that was paused (SIGSTOP) longer than the workers' liveness keeps
 * its workers when it resumes: the workers reconnect and register again,
 * and the pump must not kill them for the silence of their old
 * connections. */
static void test_paused_pump_keeps_workers(void)
{
    unsigned failures0 = CU_get_number_of_failures();
    xbt_pump_t p;
    xb_client_t *c;
    xbt_worker_t w0[8];
    CU_ASSERT_FATAL(life_begin(&p, LIFE_YAML, &c, "work", 3, w0, 8));
    CU_ASSERT_EQUAL(kill(p.pid, SIGSTOP), 0);
    /* The pause under test: > 3 heartbeats of 0.3 s, so the workers reconnect. */
    xbt_let_time_pass_ms(1800);
    CU_ASSERT_EQUAL(kill(p.pid, SIGCONT), 0);
    /* What must not happen (the pump killing the workers for the silence of
     * their old connections) needs the time to judge them: liveness 3 x 0.3 s. */
    xbt_let_time_pass_ms(2500);
    xbt_worker_t w1[8];
    CU_ASSERT_EQUAL(wait_pool(c, "work", 3, w1, 8), 3);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT(xbt_pid_alive((pid_t)w0[i].pid));
        CU_ASSERT(has_pid(w1, 3, w0[i].pid));
    }
    CU_ASSERT_EQUAL(xbt_stat(c, "work", "crashes"), 0);
    CU_ASSERT_EQUAL(xbt_stat(c, "work", "restarts"), 0);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(send_job(c, "work", i, 0), 0);
    answer_t a[3];
    CU_ASSERT_EQUAL(recv_answers(c, a, 3, ANSWER_MS), 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_FALSE(a[i].is_error);
    if (CU_get_number_of_failures() > failures0)
        xbt_pump_dump_log(&p);
    xb_client_destroy(&c);
    int status = xbt_pump_stop(&p, SIGTERM, 30);
    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT(xbt_pump_log_clean(&p));
    xbt_rmtree(p.dir);
}

static const xbt_test_t pool_tests[] = {
    {"messages spread over all workers", test_spread_over_all_workers},
    {"pool size from process_pool.workers", test_pool_size_from_process_pool},
    {"worker killed mid-message", test_worker_killed_mid_message},
    {"crash once is transparent", test_crash_once_is_transparent},
    {"message id is the accepted one", test_message_id_is_the_accepted_one},
    {"poison message: crash after max_retries", test_poison_message_gets_crash_after_retries},
    {"plain listener is not retried", test_plain_listener_is_not_retried},
    {"hang: timeout and a fresh worker", test_hang_times_out_and_worker_replaced},
    {"timeout counts handler time only", test_timeout_counts_handler_time_only},
    {"silent idle worker replaced", test_silent_idle_worker_replaced},
    {"xmlbus stats lists workers", test_stats_command_lists_workers},
    {"the pump stops clean", test_pools_pump_stops_clean},
    {NULL, NULL},
};

static const xbt_test_t recycling_tests[] = {
    {"recycling under load loses nothing", test_recycling_under_load_loses_nothing},
    {"failed messages count towards recycling", test_failed_messages_count_towards_recycling},
    {"the pump stops clean", test_recycle_pump_stops_clean},
    {NULL, NULL},
};

static const xbt_test_t lifetime_tests[] = {
    {"SIGTERM leaves no worker", test_sigterm_leaves_no_worker},
    {"killed pump leaves no worker", test_killed_pump_leaves_no_worker},
    {"default pool size is the online CPUs", test_default_pool_size_is_online_cpus},
    {"drain with recycling answers queued messages", test_drain_with_recycling_answers_queued},
    {"paused pump keeps its workers", test_paused_pump_keeps_workers},
    {NULL, NULL},
};

XBT_SUITES({"pool", pools_init, pools_cleanup, NULL, NULL, pool_tests},
           {"recycling", recycle_init, recycle_cleanup, NULL, NULL, recycling_tests},
           {"lifetime", NULL, NULL, NULL, NULL, lifetime_tests});
