/* Integration tests of the pump: a real `xmlbus run` process, real listener
 * processes (examples/hello and tests/listeners/behave.c), real ZeroMQ. */
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "xbt.h"
#include "xbt_main.h"
#include "xbt_raw.h"
#include "xbt_wait.h"
#include "xmlbus/client.h"
#include "wire.h"

#define HELLO_YAML                                                               \
    "organism:\n  name: hello\n  endpoint: @ENDPOINT@\n"                         \
    "listeners:\n"                                                               \
    "  - name: greeter\n    payload: [greeting, shouted]\n"                      \
    "    schema: @SRC@/examples/hello/greeter.xsd\n    command: hello-greeter\n" \
    "  - name: shouter\n    payload: shout\n"                                    \
    "    schema: @SRC@/examples/hello/shouter.xsd\n    command: hello-shouter\n"

/* A topology for the failure tests: every listener runs tests/listeners/behave.c
 * in some mode (see that file). */
#define BEHAVE_YAML                                                                      \
    "organism:\n  name: t\n  endpoint: @ENDPOINT@\n"                                     \
    "limits:\n  shutdown_seconds: 5\n"                                                   \
    "process_pool:\n  heartbeat: 0.5\n"                                                  \
    "listeners:\n"                                                                       \
    "  - name: echo\n    payload: ping\n    command: [@TESTBIN@/xbtest-behave, echo]\n"  \
    "  - name: strict\n    payload: order\n    schema: @DIR@/order.xsd\n"                \
    "    command: [@TESTBIN@/xbtest-behave, echo]\n"                                     \
    "  - name: bomb\n    payload: bomb\n    command: [@TESTBIN@/xbtest-behave, crash]\n" \
    "  - name: sleepy\n    payload: nap\n    timeout_seconds: 1\n"                       \
    "    command: [@TESTBIN@/xbtest-behave, hang]\n"                                     \
    "  - name: fwd\n    payload: relay\n    peers: [echo]\n"                             \
    "    command: [@TESTBIN@/xbtest-behave, forward, strict]\n"                          \
    "  - name: loop\n    payload: spin\n    command: [@TESTBIN@/xbtest-behave, self]\n"  \
    "  - name: news-a\n    payload: news\n    broadcast: true\n"                         \
    "    command: [@TESTBIN@/xbtest-behave, echo]\n"                                     \
    "  - name: news-b\n    payload: news\n    broadcast: true\n"                         \
    "    command: [@TESTBIN@/xbtest-behave, echo]\n"                                     \
    "  - name: forger\n    payload: forge\n"                                             \
    "  - name: batcher\n    payload: batch\n    credit: 3\n"

#define ORDER_XSD                                                  \
    "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n"  \
    "  <xs:element name=\"order\"><xs:complexType><xs:sequence>\n" \
    "    <xs:element name=\"qty\" type=\"xs:positiveInteger\"/>\n" \
    "  </xs:sequence></xs:complexType></xs:element>\n</xs:schema>\n"

static xbt_pump_t hello, behave;
static bool hello_up, behave_up;

static int start_pumps(void)
{
    hello_up = xbt_pump_start(&hello, HELLO_YAML) == 0;
    const char *files[] = {"order.xsd", ORDER_XSD, NULL};
    behave_up = xbt_pump_start_files(&behave, BEHAVE_YAML, files) == 0;
    return 0;
}

static int stop_pumps(void)
{
    xbt_pump_finish(&hello, 15);
    xbt_pump_finish(&behave, 15);
    return 0;
}

static char *send_and_recv(xbt_pump_t *p, const char *body, const char *to, char thread[37],
                           int timeout_ms)
{
    xb_client_t *c = xbt_client(p);
    xb_error_t err;
    char *env = NULL;
    if (c && xb_client_send(c, body, strlen(body), to, NULL, 5000, thread, NULL, &err) == 0)
        env = xbt_recv(c, timeout_ms);
    xb_client_destroy(&c);
    return env;
}

static void test_greeting_round_trip(void)
{
    CU_ASSERT_FATAL(hello_up);
    xb_client_t *c = xbt_client(&hello);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char thread[37] = "";
    xb_error_t err;
    const char *g = "<greeting><name>World</name></greeting>";
    CU_ASSERT_EQUAL_FATAL(xb_client_send(c, g, strlen(g), NULL, NULL, 5000, thread, NULL, &err), 0);
    CU_ASSERT_EQUAL(strlen(thread), 36);
    char *first = xbt_recv(c, 10000);
    char *second = xbt_recv(c, 10000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    CU_ASSERT_PTR_NOT_NULL_FATAL(second);
    /* Both answers come from greeter (shouter's answer is pruned back to it). */
    char *f1 = xbt_text_of(first, "from"), *f2 = xbt_text_of(second, "from");
    CU_ASSERT_STRING_EQUAL(f1, "greeter");
    CU_ASSERT_STRING_EQUAL(f2, "greeter");
    char *t1 = xbt_text_of(first, "thread"), *t2 = xbt_text_of(second, "thread");
    CU_ASSERT_STRING_EQUAL(t1, thread);
    CU_ASSERT_STRING_EQUAL(t2, thread);
    bool hello_text = strstr(first, "Hello, World!") || strstr(second, "Hello, World!");
    bool shouted = strstr(first, "HELLO, WORLD!") || strstr(second, "HELLO, WORLD!");
    CU_ASSERT(hello_text);
    CU_ASSERT(shouted);
    /* The sender's thread holds both answers, recorded once each. */
    char *hist = NULL;
    const char *args[] = {thread};
    CU_ASSERT_EQUAL(xb_client_control(c, "history", args, 1, 5000, &hist, &err), 0);
    CU_ASSERT_EQUAL(xbt_count(hist, "<slot "), 2);
    free(hist);
    free(f1);
    free(f2);
    free(t1);
    free(t2);
    free(first);
    free(second);
    xb_client_destroy(&c);
}

/* After the flow the conversation has ended: no registry entries remain. */
static void test_conversation_end_removes_registry(void)
{
    CU_ASSERT_FATAL(hello_up);
    char thread[37];
    xb_client_t *c = xbt_client(&hello);
    xb_error_t err;
    const char *g = "<greeting><name>Ada</name></greeting>";
    CU_ASSERT_EQUAL_FATAL(xb_client_send(c, g, strlen(g), NULL, NULL, 5000, thread, NULL, &err), 0);
    free(xbt_recv(c, 10000));
    free(xbt_recv(c, 10000));
    long entries = -1;
    XBT_WAIT_UNTIL((entries = xbt_backend_info(c, "registry-entries")) == 0, 5000);
    CU_ASSERT_EQUAL(entries, 0);
    xb_client_destroy(&c);
}

static void test_two_conversations_differ(void)
{
    CU_ASSERT_FATAL(hello_up);
    xb_client_t *a = xbt_client(&hello), *b = xbt_client(&hello);
    char ta[37], tb[37];
    xb_error_t err;
    const char *g1 = "<greeting><name>One</name></greeting>";
    const char *g2 = "<greeting><name>Two</name></greeting>";
    CU_ASSERT_EQUAL_FATAL(xb_client_send(a, g1, strlen(g1), NULL, NULL, 5000, ta, NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_client_send(b, g2, strlen(g2), NULL, NULL, 5000, tb, NULL, &err), 0);
    CU_ASSERT_STRING_NOT_EQUAL(ta, tb);
    char *a1 = xbt_recv(a, 10000), *a2 = xbt_recv(a, 10000);
    char *b1 = xbt_recv(b, 10000), *b2 = xbt_recv(b, 10000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b2);
    CU_ASSERT(strstr(a1, "One") && !strstr(a1, "Two"));
    CU_ASSERT(strstr(b1, "Two") && !strstr(b1, "One"));
    char *ha = NULL, *hb = NULL;
    const char *args_a[] = {ta}, *args_b[] = {tb};
    CU_ASSERT_EQUAL(xb_client_control(a, "history", args_a, 1, 5000, &ha, &err), 0);
    CU_ASSERT_EQUAL(xb_client_control(b, "history", args_b, 1, 5000, &hb, &err), 0);
    CU_ASSERT(ha && strstr(ha, "ONE") && !strstr(ha, "TWO"));
    CU_ASSERT(hb && strstr(hb, "TWO") && !strstr(hb, "ONE"));
    free(ha);
    free(hb);
    free(a1);
    free(a2);
    free(b1);
    free(b2);
    xb_client_destroy(&a);
    xb_client_destroy(&b);
}

static void expect_rejection(xbt_pump_t *p, const char *body, const char *to, const char *code)
{
    xb_client_t *c = xbt_client(p);
    xb_error_t err;
    xb_error_clear(&err);
    int rc = xb_client_send(c, body, strlen(body), to, NULL, 5000, NULL, NULL, &err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_STRING_EQUAL(xb_code_name(err.code), code);
    xb_client_destroy(&c);
}

/* The sender gets a SystemError delivered with `code`. */
static void expect_system_error(xbt_pump_t *p, const char *body, const char *to, const char *code,
                                int timeout_ms)
{
    xb_client_t *c = xbt_client(p);
    xb_error_t err;
    char thread[37];
    CU_ASSERT_EQUAL_FATAL(xb_client_send(c, body, strlen(body), to, NULL, 5000, thread, NULL, &err),
                          0);
    char *env = xbt_recv(c, timeout_ms);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    xb_code_t got = XB_OK;
    char msg[256];
    CU_ASSERT_EQUAL(xb_client_system_error(env, strlen(env), &got, msg, sizeof msg), 1);
    CU_ASSERT_STRING_EQUAL(xb_code_name(got), code);
    char *thr = xbt_text_of(env, "thread");
    CU_ASSERT_STRING_EQUAL(thr, thread);
    free(thr);
    free(env);
    xb_client_destroy(&c);
}

static void assert_still_serving(xbt_pump_t *p)
{
    char thread[37];
    char *env = send_and_recv(p, "<ping>still</ping>", NULL, thread, 10000);
    CU_ASSERT_PTR_NOT_NULL(env);
    CU_ASSERT(env && strstr(env, "still"));
    free(env);
}

static void test_routing_by_tag_and_to(void)
{
    CU_ASSERT_FATAL(behave_up);
    char thread[37];
    char *env = send_and_recv(&behave, "<ping>by-tag</ping>", NULL, thread, 10000);
    CU_ASSERT(env && strstr(env, "by-tag"));
    char *from = xbt_text_of(env, "from");
    CU_ASSERT_STRING_EQUAL(from, "echo");
    free(from);
    free(env);
    env = send_and_recv(&behave, "<ping>by-name</ping>", "echo", thread, 10000);
    CU_ASSERT(env && strstr(env, "by-name"));
    free(env);
}

static void test_unknown_target(void)
{
    CU_ASSERT_FATAL(behave_up);
    expect_rejection(&behave, "<ping>x</ping>", "nobody", "routing");
    expect_rejection(&behave, "<unheard-of/>", NULL, "routing");
    expect_rejection(&behave, "<ping>x</ping>", "strict",
                     "routing"); /* strict does not accept ping */
    assert_still_serving(&behave);
}

static void test_malformed_and_schema(void)
{
    CU_ASSERT_FATAL(behave_up);
    expect_rejection(&behave, "<ping>unclosed", NULL, "parse");
    expect_rejection(&behave, "<!DOCTYPE x [<!ENTITY a \"b\">]><ping>&a;</ping>", NULL, "parse");
    expect_rejection(&behave, "<order><qty>-3</qty></order>", NULL, "schema");
    char thread[37];
    char *env = send_and_recv(&behave, "<order><qty>3</qty></order>", NULL, thread, 10000);
    CU_ASSERT(env && strstr(env, "<qty>3</qty>"));
    free(env);
    assert_still_serving(&behave);
}

static void test_depth_limit(void)
{
    CU_ASSERT_FATAL(behave_up);
    /* An envelope that has already travelled 50 hops is refused on the 51st. */
    const char *deep =
        "<message xmlns=\"https://xml-pipeline.org/ns/envelope/v1\"><meta><from>console</from>"
        "<thread>x</thread><x:depth xmlns:x=\"urn:xmlbus:meta:v1\">50</x:depth></meta>"
        "<ping xmlns=\"\">deep</ping></message>";
    expect_rejection(&behave, deep, NULL, "limit");
    /* A listener that forwards to itself forever is stopped at max_depth: it
     * gets a `limit` SystemError, counted against it, and drops it; the
     * client that started the loop hears `limit` once. */
    xb_client_t *c = xbt_client(&behave);
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_client_send(c, "<spin/>", 7, NULL, NULL, 5000, NULL, NULL, &err), 0);
    char *env = xbt_recv(c, 10000);
    xb_code_t code = XB_OK;
    CU_ASSERT(env && xb_client_system_error(env, strlen(env), &code, NULL, 0) == 1);
    CU_ASSERT_EQUAL(code, XB_ERR_LIMIT);
    CU_ASSERT(env && strstr(env, "in listener loop"));
    free(env);
    long limit_errors = xbt_stat_errors(c, "loop", "limit");
    CU_ASSERT_EQUAL(limit_errors, 1);
    long delivered = xbt_stat(c, "loop", "delivered");
    CU_ASSERT(delivered >= 50);
    env = xbt_recv(c, 300); /* one answer, not two */
    CU_ASSERT_PTR_NULL(env);
    free(env);
    xb_client_destroy(&c);
    assert_still_serving(&behave);
}

static void test_peer_violation(void)
{
    CU_ASSERT_FATAL(behave_up);
    /* fwd may only address echo; it tries strict and its SystemError comes
     * back to us through fwd (which responds with what it got). */
    xb_client_t *c = xbt_client(&behave);
    xb_error_t err;
    char thread[37];
    CU_ASSERT_EQUAL_FATAL(xb_client_send(c, "<relay/>", 8, NULL, NULL, 5000, thread, NULL, &err),
                          0);
    char *env = xbt_recv(c, 10000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    xb_code_t code = XB_OK;
    CU_ASSERT_EQUAL(xb_client_system_error(env, strlen(env), &code, NULL, 0), 1);
    CU_ASSERT_EQUAL(code, XB_ERR_ROUTING);
    /* The message does not reveal whether 'strict' exists. */
    CU_ASSERT(strstr(env, "may not address") != NULL);
    free(env);
    xb_client_destroy(&c);
}

static void test_broadcast(void)
{
    CU_ASSERT_FATAL(behave_up);
    xb_client_t *c = xbt_client(&behave);
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(
        xb_client_send(c, "<news>n</news>", 14, NULL, NULL, 5000, NULL, NULL, &err), 0);
    char *a = xbt_recv(c, 10000), *b = xbt_recv(c, 10000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char *fa = xbt_text_of(a, "from"), *fb = xbt_text_of(b, "from");
    CU_ASSERT(fa && fb && strcmp(fa, fb) != 0);
    CU_ASSERT(fa && (strcmp(fa, "news-a") == 0 || strcmp(fa, "news-b") == 0));
    CU_ASSERT(fb && (strcmp(fb, "news-a") == 0 || strcmp(fb, "news-b") == 0));
    free(fa);
    free(fb);
    free(a);
    free(b);
    xb_client_destroy(&c);
}

/* The slots of everything one incoming message causes are written in one
 * backend batch: a broadcast to two listeners is one write of two slots. */
static void test_broadcast_slots_batched(void)
{
    CU_ASSERT_FATAL(behave_up);
    xb_client_t *c = xbt_client(&behave);
    xb_error_t err;
    long batches0 = xbt_pump_stat(c, "slot-batches"), slots0 = xbt_pump_stat(c, "batched-slots");
    CU_ASSERT_FATAL(batches0 >= 0 && slots0 >= 0);
    CU_ASSERT_EQUAL_FATAL(
        xb_client_send(c, "<news>b</news>", 14, NULL, NULL, 5000, NULL, NULL, &err), 0);
    free(xbt_recv(c, 10000));
    free(xbt_recv(c, 10000));
    /* SEND: one batch of 2 slots; the echoes' answers: one batch of 1 each,
     * or one of 2 when they arrive in the same loop turn (group commit). */
    CU_ASSERT_EQUAL(xbt_pump_stat(c, "batched-slots") - slots0, 4);
    long batches = xbt_pump_stat(c, "slot-batches") - batches0;
    CU_ASSERT(batches == 2 || batches == 3);
    xb_client_destroy(&c);
}

static void test_timeout(void)
{
    CU_ASSERT_FATAL(behave_up);
    expect_system_error(&behave, "<nap/>", NULL, "timeout", 15000);
    assert_still_serving(&behave);
}

static void test_crash_and_restart(void)
{
    CU_ASSERT_FATAL(behave_up);
    xb_client_t *c = xbt_client(&behave);
    long before = xbt_stat(c, "bomb", "restarts");
    expect_system_error(&behave, "<bomb/>", NULL, "crash", 15000);
    long after = -1;
    XBT_WAIT_UNTIL((after = xbt_stat(c, "bomb", "restarts")) > before, 5000);
    CU_ASSERT(after > before);
    /* The restarted listener handles the next message (and crashes again). */
    expect_system_error(&behave, "<bomb/>", NULL, "crash", 15000);
    xb_client_destroy(&c);
    assert_still_serving(&behave);
}

/* SIGKILL of a listener process with a message in hand. */
static void test_killed_mid_message(void)
{
    CU_ASSERT_FATAL(behave_up);
    xb_client_t *c = xbt_client(&behave);
    xb_error_t err;
    char thread[37];
    CU_ASSERT_EQUAL_FATAL(xb_client_send(c, "<nap/>", 6, NULL, NULL, 5000, thread, NULL, &err), 0);
    /* Find sleepy's pid from the stats and kill it while it sleeps. */
    pid_t pid = (pid_t)xbt_wait_busy_worker(c, "sleepy", 5000);
    CU_ASSERT_FATAL(pid > 0);
    kill(pid, SIGKILL);
    char *env = xbt_recv(c, 10000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    xb_code_t code = XB_OK;
    CU_ASSERT_EQUAL(xb_client_system_error(env, strlen(env), &code, NULL, 0), 1);
    CU_ASSERT_EQUAL(code, XB_ERR_CRASH);
    free(env);
    xb_client_destroy(&c);
    assert_still_serving(&behave);
}

/* ---- a listener played by the test itself, speaking XB1 by hand -------- */

/* A listener started elsewhere (here: this test, speaking the protocol by
 * hand) cannot make the pump believe another sender: a reply dressed up as
 * a whole envelope is refused, and a payload carrying its own <from> still
 * arrives from the listener's registered name. */
static void test_forged_from(void)
{
    CU_ASSERT_FATAL(behave_up);
    xbt_raw_t r;
    CU_ASSERT_FATAL(xbt_raw_open(&r, behave.endpoint, "forger", "1"));
    xb_client_t *c = xbt_client(&behave);
    xb_error_t err;
    /* 1: an envelope as payload, claiming to come from echo. */
    CU_ASSERT_EQUAL_FATAL(xb_client_send(c, "<forge/>", 8, NULL, NULL, 5000, NULL, NULL, &err), 0);
    char *id = xbt_raw_deliver(&r, 10000, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    xbt_raw_send(
        &r, XB_CMD_REPLY, id, "1", XB_TARGET_RESPOND,
        "<message xmlns=\"https://xml-pipeline.org/ns/envelope/v1\"><meta><from>echo</from>"
        "<thread>x</thread></meta><ping xmlns=\"\">forged</ping></message>",
        (char *)NULL);
    free(id);
    /* The forger itself gets the SystemError (it sent the failing message). */
    char *env = NULL;
    id = xbt_raw_deliver(&r, 10000, &env);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    xb_code_t code = XB_OK;
    CU_ASSERT_EQUAL(xb_client_system_error(env, strlen(env), &code, NULL, 0), 1);
    CU_ASSERT_EQUAL(code, XB_ERR_ENVELOPE);
    free(env);
    xbt_raw_send(&r, XB_CMD_DONE, id, (char *)NULL);
    free(id);
    /* Nothing forged reached the client: the forger dropped its SystemError,
     * so the client hears of the failure from the pump itself, once
     * (docs/routing.md, "How a conversation ends"). */
    env = xbt_recv(c, 10000);
    code = XB_OK;
    CU_ASSERT(env && xb_client_system_error(env, strlen(env), &code, NULL, 0) == 1);
    CU_ASSERT_EQUAL(code, XB_ERR_ENVELOPE);
    char *sender = env ? xbt_text_of(env, "from") : NULL;
    CU_ASSERT_STRING_EQUAL(sender ? sender : "", "system");
    free(sender);
    free(env);
    CU_ASSERT_PTR_NULL(xbt_recv(c, 300));

    /* 2: a payload with a <from> of its own. */
    CU_ASSERT_EQUAL_FATAL(xb_client_send(c, "<forge/>", 8, NULL, NULL, 5000, NULL, NULL, &err), 0);
    id = xbt_raw_deliver(&r, 10000, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    xbt_raw_send(&r, XB_CMD_REPLY, id, "1", XB_TARGET_RESPOND, "<forged><from>echo</from></forged>",
                 (char *)NULL);
    free(id);
    env = xbt_recv(c, 10000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    /* The first <from> in the document is the envelope's: the pump's word. */
    char *from = xbt_text_of(env, "from");
    CU_ASSERT_STRING_EQUAL(from, "forger");
    free(from);
    free(env);
    xbt_raw_close(&r);
    xb_client_destroy(&c);
}

/* Credit: the pump sends a listener at most min(READY credit, `credit` key)
 * deliveries ahead, and the next one as soon as one is answered. */
static void test_credit(void)
{
    CU_ASSERT_FATAL(behave_up);
    xbt_raw_t r;
    CU_ASSERT_FATAL(
        xbt_raw_open(&r, behave.endpoint, "batcher", "5")); /* asks for 5; the config allows 3 */
    xb_client_t *c = xbt_client(&behave);
    xb_error_t err;
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(xb_client_send(c, "<batch/>", 8, NULL, NULL, 5000, NULL, NULL, &err), 0);
    char *ids[5] = {NULL};
    int got = 0;
    while (got < 5 && (ids[got] = xbt_raw_deliver(&r, 1500, NULL)) != NULL)
        got++;
    CU_ASSERT_EQUAL(got, 3); /* the 4th waits for an answer */
    xbt_raw_send(&r, XB_CMD_DONE, ids[0], (char *)NULL);
    ids[3] = xbt_raw_deliver(&r, 10000, NULL);
    CU_ASSERT_PTR_NOT_NULL(ids[3]);
    /* Every delivery answered before BYE: one still in hand would become a
     * SystemError for c, which the pump, finding c gone, keeps for its
     * return (client_timeout_seconds) in every later test's stats. */
    xbt_raw_send(&r, XB_CMD_DONE, ids[1], (char *)NULL);
    ids[4] = xbt_raw_deliver(&r, 10000, NULL);
    CU_ASSERT_PTR_NOT_NULL(ids[4]);
    for (int i = 2; i < 5; i++)
        if (ids[i])
            xbt_raw_send(&r, XB_CMD_DONE, ids[i], (char *)NULL);
    for (int i = 0; i < 5; i++)
        free(ids[i]);
    long done = -1;
    XBT_WAIT_UNTIL((done = xbt_stat(c, "batcher", "done")) == 5, 10000);
    CU_ASSERT_EQUAL(done, 5);
    xbt_raw_close(&r);
    xb_client_destroy(&c);
}

/* xb_client_post: many messages on their way without waiting for verdicts;
 * a refused one comes back through xb_client_recv as its SystemError. */
static void test_post_without_waiting(void)
{
    CU_ASSERT_FATAL(behave_up);
    xb_client_t *c = xbt_client(&behave);
    xb_error_t err;
    const int n = 200;
    char msg[64];
    for (int i = 0; i < n; i++) {
        int len = snprintf(msg, sizeof msg, "<ping>%d</ping>", i);
        CU_ASSERT_EQUAL(xb_client_post(c, msg, (size_t)len, "echo", NULL, 5000, &err), 0);
    }
    CU_ASSERT_EQUAL(xb_client_post(c, "<ping>lost</ping>", 17, "nobody", NULL, 5000, &err), 0);
    int refusals = 0;
    xb_code_t code = XB_OK;
    CU_ASSERT_EQUAL(xbt_collect(c, n + 1, 10000, &refusals, &code), n);
    CU_ASSERT_EQUAL(refusals, 1);
    CU_ASSERT_EQUAL(code, XB_ERR_ROUTING);
    unsigned long posted = 0, accepted = 0, rejected = 0;
    xb_client_post_counts(c, &posted, &accepted, &rejected);
    CU_ASSERT_EQUAL(posted, (unsigned long)n + 1);
    CU_ASSERT_EQUAL(accepted, (unsigned long)n);
    CU_ASSERT_EQUAL(rejected, 1);
    xb_client_destroy(&c);
}

/* POST, by hand: no ACCEPTED; the acceptances come as POSTED counts that
 * add up, a refusal as REJECTED with its request id, answers as DELIVER. */
static void test_post_protocol(void)
{
    CU_ASSERT_FATAL(behave_up);
    xbt_raw_t r;
    CU_ASSERT_FATAL(xbt_raw_connect(&r, behave.endpoint));
    xbt_raw_send(&r, XB_CMD_POST, "p1", "<ping>1</ping>", "echo", "", (char *)NULL);
    xbt_raw_send(&r, XB_CMD_POST, "p2", "<ping>2</ping>", "nobody", "", (char *)NULL);
    xbt_raw_send(&r, XB_CMD_POST, "p3", "<ping>3</ping>", "echo", "", (char *)NULL);
    xbt_raw_send(&r, XB_CMD_POST, "p4", "<ping>4</ping>", "echo", "", (char *)NULL);
    int delivers = 0, rejected = 0, accepted = 0;
    long posted = 0;
    while (delivers < 3 || rejected < 1 || posted < 3) {
        xb_frames_t *f = xbt_raw_recv(&r, 10000);
        if (!f)
            break;
        if (xb_frames_eq(f, 1, XB_CMD_DELIVER)) {
            delivers++;
        } else if (xb_frames_eq(f, 1, XB_CMD_REJECTED)) {
            rejected++;
            CU_ASSERT(xb_frames_eq(f, 2, "p2"));
        } else if (xb_frames_eq(f, 1, XB_CMD_POSTED)) {
            bool ok = false;
            long n = xb_frames_long(f, 2, &ok);
            CU_ASSERT(ok && n >= 1 && n <= 3);
            posted += ok ? n : 0;
        } else if (xb_frames_eq(f, 1, XB_CMD_ACCEPTED)) {
            accepted++;
        }
        xb_frames_destroy(&f);
    }
    CU_ASSERT_EQUAL(delivers, 3);
    CU_ASSERT_EQUAL(rejected, 1);
    CU_ASSERT_EQUAL(posted, 3);
    CU_ASSERT_EQUAL(accepted, 0);
    zmq_close(r.sock);
    zmq_ctx_term(r.ctx);
}

/* The next message is ERROR about `what`. */
static void expect_error(xbt_raw_t *r, const char *what)
{
    xb_frames_t *f = xbt_raw_recv(r, 10000);
    CU_ASSERT(f && xb_frames_eq(f, 1, XB_CMD_ERROR) && xb_frames_eq(f, 2, what));
    xb_frames_destroy(&f);
}

/* A malformed message gets ERROR and changes nothing: a REPLY whose count
 * does not match leaves the delivery in hand, answered properly later. */
static void test_malformed_gets_error(void)
{
    CU_ASSERT_FATAL(behave_up);
    xbt_raw_t r;
    CU_ASSERT_FATAL(xbt_raw_open(&r, behave.endpoint, "forger", "1"));
    xb_frames_t *f = xb_frames_new();
    xb_frames_add_str(f, "XB2");
    xb_frames_add_str(f, XB_CMD_SEND);
    CU_ASSERT_EQUAL(xb_frames_send(f, r.sock, 0), 0);
    xb_frames_destroy(&f);
    expect_error(&r, "?");
    xbt_raw_send(&r, "FROB", (char *)NULL);
    expect_error(&r, "FROB");
    xbt_raw_send(&r, XB_CMD_SEND, "1", (char *)NULL);
    expect_error(&r, XB_CMD_SEND);
    xbt_raw_send(&r, XB_CMD_WELCOME, "o", "1000", "memory", "", "", (char *)NULL);
    expect_error(&r, XB_CMD_WELCOME);
    xb_client_t *c = xbt_client(&behave);
    long done = xbt_stat(c, "forger", "done");
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_client_send(c, "<forge/>", 8, NULL, NULL, 5000, NULL, NULL, &err), 0);
    char *id = xbt_raw_deliver(&r, 10000, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    xbt_raw_send(&r, XB_CMD_REPLY, id, "2", XB_TARGET_RESPOND, "<ping/>", (char *)NULL);
    expect_error(&r, XB_CMD_REPLY);
    xbt_raw_send(&r, XB_CMD_DONE, id, (char *)NULL);
    free(id);
    long now = done;
    XBT_WAIT_UNTIL((now = xbt_stat(c, "forger", "done")) != done, 10000);
    CU_ASSERT_EQUAL(now, done + 1);
    xb_client_destroy(&c);
    xbt_raw_close(&r);
    assert_still_serving(&behave);
}

/* 10 000 messages, 100 in flight: all answered, each recorded exactly once. */
static void test_ten_thousand(void)
{
    CU_ASSERT_FATAL(behave_up);
    xb_client_t *c = xbt_client(&behave);
    xb_error_t err;
    long slots_before = xbt_backend_info(c, "slots");
    const int total = 10000, window = 100;
    int sent = 0, received = 0, errors = 0;
    char msg[64];
    while (received < total) {
        while (sent < total && sent - received < window) {
            int n = snprintf(msg, sizeof msg, "<ping>%d</ping>", sent);
            if (xb_client_send(c, msg, (size_t)n, "echo", NULL, 10000, NULL, NULL, &err) != 0) {
                errors++;
                break;
            }
            sent++;
        }
        char *env = xbt_recv(c, 10000);
        if (!env)
            break;
        if (strstr(env, "SystemError"))
            errors++;
        free(env);
        received++;
    }
    CU_ASSERT_EQUAL(received, total);
    CU_ASSERT_EQUAL(errors, 0);
    long slots_after = xbt_backend_info(c, "slots");
    /* One slot for each delivery to echo, one for each answer to us. */
    CU_ASSERT_EQUAL(slots_after - slots_before, 2L * total);
    xb_client_destroy(&c);
}

/* The pump's children are still exactly the n processes of before. */
static void assert_same_children(const xbt_pump_t *p, const pid_t *before, size_t n)
{
    pid_t after[64];
    size_t m = xbt_children(p->pid, after, 64);
    CU_ASSERT_EQUAL(m, n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < m; j++)
            found = found || after[j] == before[i];
        CU_ASSERT(found);
    }
}

/* A pump paused (SIGSTOP) longer than the listeners' liveness (3 x 0.5 s)
 * keeps its listeners when it resumes: they reconnect on new connections,
 * and the pump, finding their old routing ids unreachable, lets the old
 * connections go without killing anyone. */
static void test_paused_pump_keeps_listeners(void)
{
    CU_ASSERT_FATAL(behave_up);
    pid_t before[64];
    size_t n = xbt_children(behave.pid, before, 64);
    xb_client_t *c = xbt_client(&behave);
    long crashes = xbt_stat(c, "echo", "crashes");
    xb_client_destroy(&c);
    CU_ASSERT_EQUAL_FATAL(kill(behave.pid, SIGSTOP), 0);
    xbt_let_time_pass_ms(2500); /* the pause under test */
    CU_ASSERT_EQUAL(kill(behave.pid, SIGCONT), 0);
    for (int i = 0; i < 5; i++) /* messages at once, while old connections linger */
        assert_still_serving(&behave);
    /* what must not happen (killing them) needs the time to judge them */
    xbt_let_time_pass_ms(2500);
    assert_still_serving(&behave);
    assert_same_children(&behave, before, n);
    c = xbt_client(&behave);
    CU_ASSERT_EQUAL(xbt_stat(c, "echo", "crashes"), crashes);
    xb_client_destroy(&c);
}

/* SIGHUP (a service manager's "reload") is logged and ignored: the pump
 * and its children live on and serve. The children have process groups of
 * their own, so a SIGHUP to the pump's group does not reach them either. */
static void test_sighup_ignored(void)
{
    CU_ASSERT_FATAL(behave_up);
    pid_t before[64];
    size_t n = xbt_children(behave.pid, before, 64);
    CU_ASSERT(n >= 8);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT(getpgid(before[i]) != getpgid(behave.pid));
    CU_ASSERT_EQUAL_FATAL(kill(behave.pid, SIGHUP), 0);
    char *log = NULL;
    XBT_WAIT_UNTIL((free(log), log = xbt_read_file(behave.log, NULL)) &&
                       strstr(log, "SIGHUP: reload is not supported; ignored"),
                   10000);
    CU_ASSERT(log && strstr(log, "SIGHUP: reload is not supported; ignored"));
    free(log);
    CU_ASSERT(xbt_pid_alive(behave.pid));
    assert_still_serving(&behave);
    assert_same_children(&behave, before, n);
}

#define STOP_YAML                                        \
    "organism:\n  name: stop\n  endpoint: @ENDPOINT@\n"  \
    "limits:\n  shutdown_seconds: 1\n"                   \
    "listeners:\n"                                       \
    "  - name: slow\n    payload: ping\n"                \
    "    command: [@TESTBIN@/xbtest-behave, slow, 50]\n" \
    "  - name: sleepy\n    payload: nap\n    command: [@TESTBIN@/xbtest-behave, hang]\n"

/* Index of the thread of env in threads[n], -1 if none. */
static int thread_index(const char *env, char threads[][37], int n)
{
    char *t = xbt_text_of(env, "thread");
    int found = -1;
    for (int i = 0; t && i < n && found < 0; i++)
        if (strcmp(threads[i], t) == 0)
            found = i;
    free(t);
    return found;
}

/* SIGTERM with messages in flight: every SEND that reached the pump gets
 * ACCEPTED and then exactly one answer (the echo, or a `shutdown`
 * SystemError once shutdown_seconds passed), or REJECTED `shutdown`; none
 * gets silence. `sleepy` holds its message through SIGTERM, which keeps the
 * pump stopping its children for seconds: SENDs that arrive then are
 * refused, not left unread. */
static void test_sigterm_answers_every_send(void)
{
    enum { N = 40 };
    xbt_pump_t p;
    CU_ASSERT_FATAL(xbt_pump_start(&p, STOP_YAML) == 0);
    xb_client_t *c = xbt_client(&p);
    xb_error_t err;
    char threads[N + 1][37];
    int answers[N + 1] = {0};
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(
            xb_client_send(c, "<ping>x</ping>", 14, NULL, NULL, 5000, threads[i], NULL, &err), 0);
    CU_ASSERT_EQUAL(xb_client_send(c, "<nap/>", 6, NULL, NULL, 5000, threads[N], NULL, &err), 0);
    CU_ASSERT_EQUAL(kill(p.pid, SIGTERM), 0);
    int got = 0, shutdowns = 0;
    char *env;
    while (got < N + 1 && (env = xbt_recv(c, 15000))) {
        int i = thread_index(env, threads, N + 1);
        CU_ASSERT(i >= 0);
        if (i >= 0)
            answers[i]++;
        xb_code_t code = XB_OK;
        if (xb_client_system_error(env, strlen(env), &code, NULL, 0) == 1 &&
            code == XB_ERR_SHUTDOWN)
            shutdowns++;
        got++;
        free(env);
    }
    CU_ASSERT_EQUAL(got, N + 1);
    for (int i = 0; i <= N; i++)
        CU_ASSERT_EQUAL(answers[i], 1);
    CU_ASSERT(shutdowns >= 1); /* sleepy's, at least */
    /* The pump is now stopping its children, for 5 s: sleepy's handler
     * hangs through SHUTDOWN and SIGTERM until SIGKILL. What arrives
     * meanwhile is refused. */
    xb_client_t *late = xbt_client(&p);
    for (int i = 0; i < 5; i++) {
        xb_error_clear(&err);
        int rc = xb_client_send(late, "<ping>late</ping>", 17, NULL, NULL, 5000, NULL, NULL, &err);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_STRING_EQUAL(xb_code_name(err.code), "shutdown");
    }
    /* Nothing more for the first client: no answer twice. */
    env = xbt_recv(c, 300);
    CU_ASSERT_PTR_NULL(env);
    free(env);
    xb_client_destroy(&late);
    xb_client_destroy(&c);
    int status = xbt_pump_stop(&p, SIGTERM, 20);
    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    xbt_pump_finish(&p, 5);
}

/* POSTs the pump has judged: accepted, refused, or dropped unanswered. */
static long judged_posts(xb_client_t *c)
{
    return xbt_pump_stat(c, "accepted") + xbt_pump_stat(c, "rejected") +
           xbt_pump_stat(c, "client-unanswered");
}

/* A client that posts and reads nothing until the end: the answers ZeroMQ
 * cannot take wait in the pump (client-held) instead of being dropped; once
 * the client reads, every post has its answer, exactly once, or a refusal
 * it is told about (REJECTED, or a SystemError when echo's queue was full). */
static void test_slow_reader_loses_nothing(void)
{
    CU_ASSERT_FATAL(behave_up);
    xb_client_t *c = xbt_client(&behave);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    /* client-held counts for every client: nothing an earlier test left */
    CU_ASSERT_EQUAL(xbt_pump_stat(c, "client-held"), 0);
    long undeliverable = xbt_pump_stat(c, "undeliverable");
    long judged = judged_posts(c);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int small = 10, zero = 0;
    CU_ASSERT_FATAL(zmq_setsockopt(s, ZMQ_RCVHWM, &small, sizeof small) == 0 &&
                    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
                    zmq_connect(s, behave.endpoint) == 0);
    /* more than ZeroMQ's queue and TCP's buffers hold: some must wait */
    const int n = 20000;
    char req[32], body[64];
    for (int i = 0; i < n; i++) {
        snprintf(req, sizeof req, "p%d", i);
        snprintf(body, sizeof body, "<ping>%d</ping>", i);
        xb_frames_t *f = xb_frames_new_cmd(XB_CMD_POST);
        xb_frames_add_str(f, req);
        xb_frames_add_str(f, body);
        xb_frames_add_str(f, "echo");
        CU_ASSERT_EQUAL(xb_frames_send(f, s, 0), 0);
        xb_frames_destroy(&f);
    }
    /* every post read by the pump and settled by echo: its answer sent to
     * us or waiting in the pump */
    long in_flight = -1;
    XBT_WAIT_UNTIL(
        judged_posts(c) - judged >= n &&
            (in_flight = xbt_stat(c, "echo", "in-flight") + xbt_stat(c, "echo", "queued")) == 0,
        60000);
    CU_ASSERT_EQUAL(in_flight, 0);
    long held = xbt_pump_stat(c, "client-held");
    int pongs = 0, errors = 0, rejected = 0;
    long posted = 0;
    char *seen = calloc((size_t)n, 1);
    for (;;) {
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        if (pongs + errors + rejected >= n && posted + rejected >= n)
            break;
        if (zmq_poll(&it, 1, 10000) <= 0)
            break;
        xb_frames_t *f = xb_frames_recv(s, 0);
        if (f && xb_frames_eq(f, 1, XB_CMD_DELIVER)) {
            char *env = xb_frames_strdup(f, 3);
            const char *at = env ? strstr(env, "<ping>") : NULL;
            int i = at ? atoi(at + 6) : -1;
            if (!at) {
                errors++; /* a SystemError: told, not lost */
            } else {
                CU_ASSERT(i >= 0 && i < n && !seen[i]);
                if (i >= 0 && i < n)
                    seen[i] = 1;
                pongs++;
            }
            free(env);
        } else if (f && xb_frames_eq(f, 1, XB_CMD_REJECTED)) {
            rejected++;
        } else if (f && xb_frames_eq(f, 1, XB_CMD_POSTED)) {
            bool ok = false;
            posted += xb_frames_long(f, 2, &ok);
        }
        xb_frames_destroy(&f);
    }
    free(seen);
    CU_ASSERT(held > 0 || rejected > 0); /* the pump's queue for the client was used */
    CU_ASSERT(pongs > 0);
    CU_ASSERT_EQUAL(pongs + errors + rejected, n);
    CU_ASSERT_EQUAL(posted, pongs + errors);
    CU_ASSERT_EQUAL(xbt_pump_stat(c, "undeliverable"), undeliverable);
    XBT_WAIT_UNTIL((held = xbt_pump_stat(c, "client-held")) == 0, 10000);
    CU_ASSERT_EQUAL(held, 0);
    zmq_close(s);
    zmq_ctx_term(ctx);
    xb_client_destroy(&c);
}

/* SIGTERM under load: exit 0 within the deadline, no child left. Runs last. */
static void test_sigterm_under_load(void)
{
    CU_ASSERT_FATAL(behave_up);
    pid_t kids[64];
    size_t nkids = xbt_children(behave.pid, kids, 64);
    CU_ASSERT(nkids >= 8);
    xb_client_t *c = xbt_client(&behave);
    xb_error_t err;
    for (int i = 0; i < 200; i++)
        xb_client_send(c, "<ping>load</ping>", 17, "echo", NULL, 5000, NULL, NULL, &err);
    double t0 = xbt_now();
    int status = xbt_pump_stop(&behave, SIGTERM, 20);
    behave_up = false;
    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT(xbt_now() - t0 < 15);
    for (size_t i = 0; i < nkids; i++)
        CU_ASSERT(!xbt_pid_alive(kids[i]));
    xb_client_destroy(&c);
}

static const xbt_test_t pump_tests[] = {
    {"greeting round trip", test_greeting_round_trip},
    {"conversation end removes registry entries", test_conversation_end_removes_registry},
    {"two conversations differ", test_two_conversations_differ},
    {"routing by tag and by name", test_routing_by_tag_and_to},
    {"unknown target", test_unknown_target},
    {"malformed and schema-invalid", test_malformed_and_schema},
    {"depth limit", test_depth_limit},
    {"peer violation", test_peer_violation},
    {"broadcast", test_broadcast},
    {"broadcast slots written in one batch", test_broadcast_slots_batched},
    {"handler timeout", test_timeout},
    {"crash and restart", test_crash_and_restart},
    {"killed mid-message", test_killed_mid_message},
    {"forged from", test_forged_from},
    {"credit", test_credit},
    {"post without waiting", test_post_without_waiting},
    {"POST by hand: POSTED counts, no ACCEPTED", test_post_protocol},
    {"malformed message gets ERROR", test_malformed_gets_error},
    {"10000 messages, 100 in flight", test_ten_thousand},
    {"a paused pump keeps its listeners", test_paused_pump_keeps_listeners},
    {"SIGHUP is ignored", test_sighup_ignored},
    {"SIGTERM answers every SEND", test_sigterm_answers_every_send},
    {"a slow reader loses nothing", test_slow_reader_loses_nothing},
    {"SIGTERM under load", test_sigterm_under_load},
    {NULL, NULL},
};

XBT_SUITES({"pump", start_pumps, stop_pumps, NULL, NULL, pump_tests});
