/* How a conversation ends (pump/conv.c, docs/routing.md "How a
 * conversation ends") in an in-process pump driven one turn at a time: a
 * failure anywhere inside a conversation reaches its client as exactly one
 * SystemError, whether the listener that got it passes it on or drops it.
 * Every test counts: one answer per accepted message, then silence. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "pump_internal.h"
#include "pumpfix.h"
#include "xbt_main.h"

#define YAML                                                              \
    "limits:\n  max_depth: 4\n  max_payload_bytes: 500\n"                 \
    "  shutdown_seconds: 5\n"                                             \
    "process_pool:\n  heartbeat: 1\n  liveness: 1000\n  max_retries: 1\n" \
    "listeners:\n"                                                        \
    "  - name: a\n    payload: start\n"                                   \
    "  - name: b\n    payload: work\n    timeout_seconds: 2\n"            \
    "  - name: loop\n    payload: spin\n"                                 \
    "  - name: pool\n    payload: job\n    cpu_bound: true\n"             \
    "    workers: 2\n"

static pumpfix_t f;
static void *client, *a, *b;

static void setup(void)
{
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, YAML), 0);
    client = pumpfix_dealer(&f);
    a = pumpfix_listener(&f, "a", 1, false, false);
    b = pumpfix_listener(&f, "b", 1, false, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(client && a && b);
}

static void teardown(void)
{
    pumpfix_close(&f);
}

/* The delivery id of the next DELIVER on sock ("" if none); *env (may be
 * NULL) gets its envelope (caller frees). */
static char *next_delivery(void *sock, char *id, size_t cap, char **env)
{
    xb_frames_t *m = pumpfix_expect(&f, sock, XB_CMD_DELIVER);
    pumpfix_str(m, 2, id, cap);
    if (env)
        *env = m ? xb_frames_strdup(m, 3) : NULL;
    xb_frames_destroy(&m);
    return id;
}

/* The client sends body; ACCEPTED comes back and sock gets the DELIVER. */
static void start(const char *body, void *sock, char *id, size_t cap)
{
    pumpfix_send(client, XB_CMD_SEND, "r", body, "", "", NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
    CU_ASSERT_STRING_NOT_EQUAL(next_delivery(sock, id, cap, NULL), "");
}

/* a got the client's <start/> and forwarded <work/> to b; b holds it. */
static void a_forwards_to_b(char *bid, size_t cap)
{
    char aid[32];
    start("<start/>", a, aid, sizeof aid);
    pumpfix_send(a, XB_CMD_REPLY, aid, "1", "b", "<work/>", NULL);
    CU_ASSERT_STRING_NOT_EQUAL(next_delivery(b, bid, cap, NULL), "");
}

/* sock gets a SystemError of code and drops it (DONE). */
static void drops_error(void *sock, const char *code)
{
    char id[32], got[32] = "";
    char *env = NULL;
    next_delivery(sock, id, sizeof id, &env);
    const char *c = env ? strstr(env, "<code>") : NULL;
    if (c)
        sscanf(c + 6, "%31[^<]", got);
    CU_ASSERT_STRING_EQUAL(got, code);
    free(env);
    pumpfix_send(sock, XB_CMD_DONE, id, NULL);
}

/* The client gets exactly one SystemError of code whose text has `names`,
 * then nothing more. */
static void client_told_once(const char *code, const char *names)
{
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    char got[32];
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, got, sizeof got), code);
    char *env = m ? xb_frames_strdup(m, 3) : NULL;
    CU_ASSERT(env && strstr(env, names));
    if (env && !strstr(env, names))
        fprintf(stderr, "summary without '%s': %s\n", names, env);
    free(env);
    xb_frames_destroy(&m);
    CU_ASSERT(pumpfix_quiet(&f, client, 5));
    CU_ASSERT_EQUAL(f.pump->in_flight, 0);
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
}

/* b fails; a gets the `crash` SystemError and answers it with DONE: the
 * client hears of the failure once, naming b. */
static void test_dropped_system_error(void)
{
    char bid[32];
    a_forwards_to_b(bid, sizeof bid);
    pumpfix_send(b, XB_CMD_FAILED, bid, "out of paper", NULL);
    drops_error(a, "crash");
    client_told_once("crash", "listener b");
}

/* a passes b's SystemError on to the client: that is the client's one
 * answer, no summary follows. */
static void test_passed_on_system_error(void)
{
    char bid[32], id[32];
    a_forwards_to_b(bid, sizeof bid);
    pumpfix_send(b, XB_CMD_FAILED, bid, "out of paper", NULL);
    char *env = NULL;
    next_delivery(a, id, sizeof id, &env);
    const char *from = env ? strstr(env, "<SystemError") : NULL;
    const char *end = from ? strstr(from, "</SystemError>") : NULL;
    CU_ASSERT_FATAL(end != NULL);
    char payload[2048];
    snprintf(payload, sizeof payload, "%.*s</SystemError>", (int)(end - from), from);
    free(env);
    pumpfix_send(a, XB_CMD_REPLY, id, "1", "^", payload, NULL);
    client_told_once("crash", "out of paper");
}

/* A normal answer after a failure that was handled: a gets b's timeout and
 * answers the client itself. Nothing else reaches the client. */
static void test_handled_failure_is_no_failure(void)
{
    char bid[32], id[32];
    a_forwards_to_b(bid, sizeof bid);
    void *beat[] = {a, b, NULL};
    pumpfix_advance(&f, 2100, 500, beat);
    next_delivery(a, id, sizeof id, NULL);
    pumpfix_send(a, XB_CMD_REPLY, id, "1", "^", "<fine/>", NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    char code[32];
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, code, sizeof code), "");
    xb_frames_destroy(&m);
    CU_ASSERT(pumpfix_quiet(&f, client, 5));
}

/* A listener forwarding to itself reaches max_depth (4); it drops the
 * `limit` SystemError; the client hears `limit` at hop 5. */
static void test_depth_limit(void)
{
    void *loop = pumpfix_listener(&f, "loop", 1, false, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(loop);
    char id[32];
    start("<spin/>", loop, id, sizeof id);
    for (int hop = 2; hop <= 4; hop++) {
        pumpfix_send(loop, XB_CMD_REPLY, id, "1", "loop", "<spin/>", NULL);
        CU_ASSERT_STRING_NOT_EQUAL(next_delivery(loop, id, sizeof id, NULL), "");
    }
    pumpfix_send(loop, XB_CMD_REPLY, id, "1", "loop", "<spin/>", NULL); /* hop 5 */
    drops_error(loop, "limit");
    client_told_once("limit", "hop 5 in listener loop");
}

/* b does not answer within timeout_seconds; a drops the timeout. */
static void test_inner_timeout(void)
{
    char bid[32];
    a_forwards_to_b(bid, sizeof bid);
    void *beat[] = {a, b, NULL};
    pumpfix_advance(&f, 2100, 500, beat);
    drops_error(a, "timeout");
    client_told_once("timeout", "listener b");
}

/* A pool worker dies with the message, the retry dies too (max_retries
 * 1): a gets `crash` and drops it. */
static void test_crash_after_retries(void)
{
    void *w1 = pumpfix_listener(&f, "pool", 1, true, false);
    void *w2 = pumpfix_listener(&f, "pool", 1, true, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w1 && w2);
    char aid[32], id[32];
    start("<start/>", a, aid, sizeof aid);
    pumpfix_send(a, XB_CMD_REPLY, aid, "1", "pool", "<job/>", NULL);
    xb_frames_t *m = NULL;
    void *first = NULL;
    for (int i = 0; i < PUMPFIX_MAX_STEPS && !first; i++) {
        pumpfix_step(&f);
        if ((m = xb_frames_recv(w1, ZMQ_DONTWAIT)))
            first = w1;
        else if ((m = xb_frames_recv(w2, ZMQ_DONTWAIT)))
            first = w2;
    }
    CU_ASSERT_FATAL(first != NULL);
    xb_frames_destroy(&m);
    void *second = first == w1 ? w2 : w1;
    pumpfix_send(first, XB_CMD_BYE, NULL);
    next_delivery(second, id, sizeof id, NULL);
    pumpfix_send(second, XB_CMD_BYE, NULL);
    drops_error(a, "crash");
    client_told_once("crash", "no retries left");
}

/* b's answer cannot be recorded (over max_payload_bytes): the SystemError
 * goes to b, which answered already and drops it; the client hears it. */
static void test_answer_not_written(void)
{
    char id[32];
    start("<work/>", b, id, sizeof id);
    char big[800];
    snprintf(big, sizeof big, "<done>%0600d</done>", 7);
    pumpfix_send(b, XB_CMD_REPLY, id, "1", "^", big, NULL);
    drops_error(b, "limit");
    client_told_once("limit", "listener b");
}

/* Shutdown with loop still working for a: past shutdown_seconds the
 * message fails; a, stopping, gets nothing; the client hears `shutdown`. */
static void test_shutdown_inside(void)
{
    void *loop = pumpfix_listener(&f, "loop", 1, false, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(loop);
    char aid[32], id[32];
    start("<start/>", a, aid, sizeof aid);
    pumpfix_send(a, XB_CMD_REPLY, aid, "1", "loop", "<spin/>", NULL);
    CU_ASSERT_STRING_NOT_EQUAL(next_delivery(loop, id, sizeof id, NULL), "");
    xb_pump_stop(f.pump);
    CU_ASSERT_EQUAL(pumpfix_step(&f), 1); /* draining */
    void *beat[] = {a, loop, NULL};
    pumpfix_advance(&f, 4900, 500, beat);
    CU_ASSERT_EQUAL(pumpfix_step(&f), 1);
    f.now += 200;
    CU_ASSERT_EQUAL(pumpfix_step(&f), 0);
    client_told_once("shutdown", "hop 2 in listener loop");
}

static const xbt_test_t conv_tests[] = {
    {"a dropped SystemError reaches the client", test_dropped_system_error},
    {"a passed-on SystemError is the only answer", test_passed_on_system_error},
    {"a handled failure is no failure", test_handled_failure_is_no_failure},
    {"depth limit", test_depth_limit},
    {"a timeout inside", test_inner_timeout},
    {"a crash after the retries", test_crash_after_retries},
    {"an answer that cannot be written", test_answer_not_written},
    {"shutdown inside a conversation", test_shutdown_inside},
    {NULL, NULL},
};

XBT_SUITES({"conv", NULL, NULL, setup, teardown, conv_tests});
