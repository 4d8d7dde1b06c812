/* Tests of the listener runtime (listeners/lib) and of the stock and example
 * listeners, against a fake pump: the test binds a real ROUTER and speaks
 * the XB1 protocol itself with wire.h. Thread listeners use inproc://,
 * listener processes (build/bin) use loopback tcp. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "redis_server.h"
#include "xbt_curve.h"
#include "xmlbus/backend.h"
#include "xmlbus/envelope.h"
#include "xmlbus/listener.h"
#include "log.h"
#include "xmlbus/slot.h"
#include "xmlbus/uuid.h"
#include "wire.h"
#include "xbt.h"
#include "xbt_main.h"

extern char **environ;

/* Generous: a loaded 2-core machine may be slow; a healthy run never waits this long. */
#define WAIT_MS 15000

static void *ctx;
static xb_parser_t *parser;
static int endpoint_seq;

/* ---- the fake pump ---------------------------------------------------------- */

typedef struct {
    void *router;
    char endpoint[256];
    char rid[256]; /* routing id of the registered listener */
    size_t rid_len;
} fake_t;

static void fake_open(fake_t *p, bool tcp)
{
    memset(p, 0, sizeof *p);
    p->router = zmq_socket(ctx, ZMQ_ROUTER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->router);
    int zero = 0, one = 1;
    zmq_setsockopt(p->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(p->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (tcp) {
        CU_ASSERT_EQUAL_FATAL(zmq_bind(p->router, "tcp://127.0.0.1:*"), 0);
        size_t cap = sizeof p->endpoint;
        CU_ASSERT_EQUAL_FATAL(zmq_getsockopt(p->router, ZMQ_LAST_ENDPOINT, p->endpoint, &cap), 0);
    } else {
        snprintf(p->endpoint, sizeof p->endpoint, "inproc://fake-pump-%d", ++endpoint_seq);
        CU_ASSERT_EQUAL_FATAL(zmq_bind(p->router, p->endpoint), 0);
    }
}

static void fake_close(fake_t *p)
{
    if (p->router)
        zmq_close(p->router);
    p->router = NULL;
}

/* The next message within timeout_ms, or NULL. */
static xb_frames_t *fake_recv(fake_t *p, int timeout_ms)
{
    zmq_pollitem_t item = {p->router, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return NULL;
    return xb_frames_recv(p->router, ZMQ_DONTWAIT);
}

/* The next message that is not a HEARTBEAT (unless cmd is HEARTBEAT);
 * asserts that its command is cmd. Caller frees. */
static xb_frames_t *fake_expect(fake_t *p, const char *cmd)
{
    for (int i = 0; i < 1000; i++) {
        xb_frames_t *f = fake_recv(p, WAIT_MS);
        if (!f) {
            fprintf(stderr, "\n  fake pump: no %s arrived\n", cmd);
            return NULL;
        }
        if (strcmp(cmd, XB_CMD_HEARTBEAT) != 0 && xb_frames_eq(f, 2, XB_CMD_HEARTBEAT)) {
            xb_frames_destroy(&f);
            continue;
        }
        if (!xb_frames_is_proto(f, 1) || !xb_frames_eq(f, 2, cmd)) {
            char *d = xb_frames_describe(f);
            fprintf(stderr, "\n  fake pump: expected %s, got %s\n", cmd, d);
            free(d);
        }
        return f;
    }
    return NULL;
}

/* Sends XB1 cmd args... (NULL-terminated) to the registered listener. */
static int fake_send(fake_t *p, const char *cmd, ...)
{
    xb_frames_t *f = xb_frames_new();
    xb_frames_add(f, p->rid, p->rid_len);
    xb_frames_add_str(f, XB_PROTO);
    xb_frames_add_str(f, cmd);
    va_list ap;
    va_start(ap, cmd);
    for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
        xb_frames_add_str(f, a);
    va_end(ap);
    int rc = xb_frames_send(f, p->router, ZMQ_DONTWAIT);
    xb_frames_destroy(&f);
    return rc;
}

/* Waits for READY, remembers the routing id, answers WELCOME. */
static xb_frames_t *fake_accept(fake_t *p, const char *hb_ms, const char *type,
                                const char *location, const char *prefix)
{
    xb_frames_t *ready = fake_expect(p, XB_CMD_READY);
    if (!ready)
        return NULL;
    p->rid_len = xb_frames_size(ready, 0);
    memcpy(p->rid, xb_frames_data(ready, 0), p->rid_len);
    CU_ASSERT_EQUAL(fake_send(p, XB_CMD_WELCOME, "test-organism", hb_ms, type, location, prefix,
                              (const char *)NULL),
                    0);
    return ready;
}

/* An envelope document for payload_xml, from "console" on thread. Caller frees. */
static char *envelope(const char *thread, const char *payload_xml)
{
    xb_error_t err;
    xb_envelope_t *e = xb_envelope_build_bytes("console", "tester", thread, payload_xml,
                                               strlen(payload_xml), parser, &err);
    if (!e) {
        fprintf(stderr, "\n  cannot build envelope: %s\n", err.message);
        return NULL;
    }
    xb_envelope_set_id(e, "5b0d1c2e-0000-4000-8000-000000000001", NULL);
    xb_envelope_set_depth(e, 3, NULL);
    char *out = NULL;
    size_t len = 0;
    xb_envelope_serialize(e, &out, &len);
    xb_envelope_destroy(&e);
    return out;
}

/* DELIVER id <envelope of payload_xml> on a fresh thread (or thread). */
static int fake_deliver(fake_t *p, const char *id, const char *thread, const char *payload_xml)
{
    char t[XB_UUID_LEN + 1];
    if (!thread) {
        xb_uuid_new(t);
        thread = t;
    }
    char *env = envelope(thread, payload_xml);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    int rc = fake_send(p, XB_CMD_DELIVER, id, env, (const char *)NULL);
    free(env);
    return rc;
}

/* Delivers and returns the answer (REPLY, DONE or FAILED). Caller frees. */
static xb_frames_t *roundtrip(fake_t *p, const char *id, const char *thread, const char *payload)
{
    CU_ASSERT_EQUAL(fake_deliver(p, id, thread, payload), 0);
    for (int i = 0; i < 1000; i++) {
        xb_frames_t *f = fake_recv(p, WAIT_MS);
        if (!f)
            return NULL;
        if (xb_frames_eq(f, 2, XB_CMD_HEARTBEAT)) {
            xb_frames_destroy(&f);
            continue;
        }
        return f;
    }
    return NULL;
}

/* ---- the test handler --------------------------------------------------------- */

static int history_reply(const xb_msg_t *msg, xb_reply_t *reply)
{
    xb_slot_list_t slots;
    xb_error_t err;
    if (xb_msg_history(msg, &slots, &err) != 0) {
        xmlNodePtr out = xb_payload_new("history-error");
        xb_payload_add_text(out, NULL, "%s %s", xb_code_name(err.code), err.message);
        return xb_reply_respond(reply, out);
    }
    xmlNodePtr out = xb_payload_new("history");
    xb_payload_set_attr(out, "n", "%zu", slots.count);
    for (size_t i = 0; i < slots.count; i++) {
        xmlNodePtr s = xb_payload_add_child(out, "slot");
        xb_payload_set_attr(s, "index", "%ld", xb_slot_index(slots.items[i]));
        xb_payload_set_attr(s, "from", "%s", xb_slot_from(slots.items[i]));
        xb_payload_set_attr(s, "type", "%s", xb_slot_payload_type(slots.items[i]));
        xb_payload_set_attr(s, "thread", "%s", xb_slot_thread(slots.items[i]));
    }
    xb_slot_list_free(&slots);
    return xb_reply_respond(reply, out);
}

static int info_reply(const xb_msg_t *msg, xb_reply_t *reply)
{
    xmlNodePtr out = xb_payload_new("info");
    size_t len = 0;
    const char *xml = xb_msg_envelope_xml(msg, &len);
    xb_payload_add_text(out, "from", "%s", xb_msg_from(msg));
    xb_payload_add_text(out, "to", "%s", xb_msg_to(msg) ? xb_msg_to(msg) : "(none)");
    xb_payload_add_text(out, "self", "%s", xb_msg_self(msg));
    xb_payload_add_text(out, "thread", "%s", xb_msg_thread(msg));
    xb_payload_add_text(out, "id", "%s", xb_msg_id(msg) ? xb_msg_id(msg) : "(none)");
    xb_payload_add_text(out, "depth", "%d", xb_msg_depth(msg));
    xb_payload_add_text(out, "type", "%s", xb_msg_payload_type(msg));
    xb_payload_add_text(out, "self-call", "%d", xb_msg_is_self_call(msg));
    xb_payload_add_text(out, "system-error", "%d", xb_msg_is_system_error(msg));
    xb_payload_add_text(out, "ts-set", "%d", xb_msg_ts(msg) > 0);
    xb_payload_add_text(out, "redelivered", "%d", xb_msg_redelivered(msg));
    xb_payload_add_text(out, "envelope-ok", "%d",
                        xml && len == strlen(xml) && strstr(xml, "<message") != NULL);
    xb_payload_add_text(out, "missing", "%s", xb_msg_text(msg, "nope") ? "found" : "null");
    xb_payload_add_text(out, "empty", "[%s]",
                        xb_msg_text(msg, "empty") ? xb_msg_text(msg, "empty") : "null");
    return xb_reply_respond(reply, out);
}

/* Reads the working memory the delivery carries: a summary, then the
 * entries "plan" and "tagline" themselves (nodes of the message: copied). */
static int memory_read(const xb_msg_t *msg, xb_reply_t *reply)
{
    xmlNodePtr out = xb_payload_new("mem");
    xb_payload_set_attr(out, "count", "%zu", xb_msg_memory_count(msg));
    for (size_t i = 0; i < xb_msg_memory_count(msg); i++)
        xb_payload_add_text(out, "name", "%s", xb_msg_memory_name(msg, i));
    xb_payload_add_text(out, "past-end", "%s",
                        xb_msg_memory_name(msg, xb_msg_memory_count(msg)) ? "name" : "null");
    xb_payload_add_text(out, "missing", "%s", xb_msg_memory(msg, "nope") ? "found" : "null");
    xb_payload_add_text(out, "broken", "%s", xb_msg_memory(msg, "broken") ? "found" : "null");
    xb_payload_add_text(out, "same", "%d",
                        xb_msg_memory(msg, "plan") &&
                            xb_msg_memory(msg, "plan") == xb_msg_memory(msg, "plan"));
    if (xb_reply_respond(reply, out) != 0)
        return -1;
    if (xb_msg_memory(msg, "plan") && xb_reply_respond(reply, xb_msg_memory(msg, "plan")) != 0)
        return -1;
    return xb_reply_respond(reply, xb_msg_memory(msg, "tagline"));
}

/* Writes working memory: a new element, an entry of the message (copied)
 * under another name, then responds. */
static int memory_write(const xb_msg_t *msg, xb_reply_t *reply)
{
    xmlNodePtr t = xb_payload_new("tagline");
    xb_payload_add_text(t, NULL, "Fresh & new");
    if (xb_reply_remember(reply, "tagline", t) != 0)
        return -1;
    if (xb_msg_memory(msg, "plan") &&
        xb_reply_remember(reply, "plan.copy", xb_msg_memory(msg, "plan")) != 0)
        return -1;
    if (xb_reply_respond(reply, xb_payload_new("written")) != 0)
        return -1;
    return xb_reply_count(reply) == 1 ? 0
                                      : xb_reply_fail(reply, "count %zu", xb_reply_count(reply));
}

/* Handlers of type "slow" finished so far (the handler runs in the
 * listener's thread, the test reads it from its own). */
#define SLOW_HANDLER_MS 400
static atomic_int slow_done;

static int test_handler(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    (void)user;
    const char *type = xb_msg_payload_type(msg);
    if (strcmp(type, "greeting") == 0) {
        xmlNodePtr out = xb_payload_new("greeting-reply");
        xb_payload_add_text(out, "text", "Hello, %s!", xb_msg_text(msg, "name"));
        return xb_reply_respond(reply, out);
    }
    if (strcmp(type, "nothing") == 0)
        return 0;
    if (strcmp(type, "fail") == 0)
        return xb_reply_fail(reply, "no %s today", "cheese");
    if (strcmp(type, "minus") == 0) {
        xb_reply_respond(reply, xb_payload_new("dropped"));
        return -1;
    }
    if (strcmp(type, "multi") == 0) {
        xb_reply_respond(reply, xb_payload_new("a"));
        xb_reply_forward(reply, "other", xb_payload_new("b"));
        xb_reply_emit(reply, xb_payload_new("c"));
        return xb_reply_count(reply) == 3 ? 0 : -1;
    }
    if (strcmp(type, "xcopy") == 0) /* a plain libxml2 copy without a document */
        return xb_reply_respond(reply, xmlCopyNode(xb_msg_payload(msg), 1));
    if (strcmp(type, "twolines") == 0)
        return xb_reply_fail(reply, "first\nsecond\r\nthird");
    if (strcmp(type, "badforward") == 0)
        return xb_reply_forward(reply, "not.a.name", xb_payload_new("x"));
    if (strcmp(type, "info") == 0)
        return info_reply(msg, reply);
    if (strcmp(type, "slow") == 0) {
        xbt_let_time_pass_ms(SLOW_HANDLER_MS); /* a slow handler is what the test is about */
        atomic_fetch_add(&slow_done, 1);
        return xb_reply_respond(reply, xb_msg_payload(msg));
    }
    if (strcmp(type, "history") == 0)
        return history_reply(msg, reply);
    if (strcmp(type, "memread") == 0)
        return memory_read(msg, reply);
    if (strcmp(type, "memwrite") == 0)
        return memory_write(msg, reply);
    if (strcmp(type, "memonly") == 0)
        return xb_reply_remember(reply, "only_1", xb_payload_new("o"));
    if (strcmp(type, "membad") == 0) /* the name is the payload's text */
        return xb_reply_remember(reply, xb_msg_text(msg, "name"), xb_payload_new("x"));
    return xb_reply_respond(reply, xb_msg_payload(msg)); /* echo (copied) */
}

/* A thread listener "tester" registered with a fake pump. */
typedef struct {
    fake_t pump;
    xb_listener_t *l;
    char thread[XB_UUID_LEN + 1];
    char token[64]; /* its first READY's token */
} rig_t;

static bool wait_registered(xb_listener_t *l)
{
    XBT_WAIT_UNTIL(xb_listener_registered(l), WAIT_MS);
    return xb_listener_registered(l);
}

static void rig_open_with(rig_t *r, const char *hb, const char *type, const char *location,
                          const char *prefix)
{
    memset(r, 0, sizeof *r);
    xb_uuid_new(r->thread);
    fake_open(&r->pump, false);
    xb_error_t err;
    r->l = xb_listener_new(r->pump.endpoint, "tester", ctx, test_handler, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->l);
    CU_ASSERT_EQUAL_FATAL(xb_listener_start(r->l, &err), 0);
    xb_frames_t *ready = fake_accept(&r->pump, hb, type, location, prefix);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ready);
    if (xb_frames_copy(ready, 8, r->token, sizeof r->token) < 0)
        r->token[0] = '\0';
    xb_frames_destroy(&ready);
    CU_ASSERT_TRUE_FATAL(wait_registered(r->l));
}

static void rig_open(rig_t *r)
{
    rig_open_with(r, "1000", "memory", "", "xp:");
}

/* Ends with SHUTDOWN and checks BYE and a clean exit. */
static void rig_close(rig_t *r)
{
    CU_ASSERT_EQUAL(fake_send(&r->pump, XB_CMD_SHUTDOWN, (const char *)NULL), 0);
    xb_frames_t *bye = fake_expect(&r->pump, XB_CMD_BYE);
    CU_ASSERT_PTR_NOT_NULL(bye);
    xb_frames_destroy(&bye);
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_listener_join(r->l, &err), 0);
    xb_listener_destroy(&r->l);
    fake_close(&r->pump);
}

/* ---- thread listener tests ----------------------------------------------------- */

static void test_ready_and_welcome(void)
{
    fake_t p;
    fake_open(&p, false);
    xb_error_t err;
    xb_listener_t *l = xb_listener_new(p.endpoint, "tester", ctx, test_handler, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(xb_listener_set_kind(l, "worker", &err), 0);
    CU_ASSERT_EQUAL(xb_listener_set_kind(l, "boss", &err), -1);
    CU_ASSERT_EQUAL(xb_listener_set_credit(l, 0, &err), -1);
    CU_ASSERT_EQUAL(xb_listener_set_credit(l, 1001, &err), -1);
    CU_ASSERT_EQUAL(xb_listener_set_credit(l, 4, &err), 0);
    CU_ASSERT_FALSE(xb_listener_registered(l));
    CU_ASSERT_EQUAL_FATAL(xb_listener_start(l, &err), 0);
    CU_ASSERT_EQUAL(xb_listener_start(l, &err), -1); /* runs once */
    xb_frames_t *ready = fake_accept(&p, "1000", "memory", "", "xp:");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ready);
    CU_ASSERT_EQUAL(xb_frames_count(ready), 9);
    CU_ASSERT_TRUE(xb_frames_is_proto(ready, 1));
    CU_ASSERT_TRUE(xb_frames_eq(ready, 3, "tester"));
    CU_ASSERT_TRUE(xb_frames_eq(ready, 4, "worker"));
    CU_ASSERT_TRUE(xb_frames_eq(ready, 5, "0"));            /* a thread */
    CU_ASSERT_TRUE(xb_frames_eq(ready, 6, "4"));            /* its credit */
    CU_ASSERT_TRUE(xb_frames_eq(ready, 7, ""));             /* no beats, */
    CU_ASSERT_EQUAL(xb_frames_size(ready, 8), XB_UUID_LEN); /* a token of its own */
    xb_frames_destroy(&ready);
    CU_ASSERT_TRUE(wait_registered(l));
    rig_t r = {.pump = p, .l = l};
    rig_close(&r);
}

static void test_new_rejects_bad_arguments(void)
{
    xb_error_t err;
    CU_ASSERT_PTR_NULL(xb_listener_new("inproc://x", "bad.name", ctx, test_handler, NULL, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NULL(xb_listener_new("", "ok", ctx, test_handler, NULL, &err));
    CU_ASSERT_PTR_NULL(xb_listener_new("inproc://x", "ok", ctx, NULL, NULL, &err));
    /* A bad endpoint fails at run time with a message naming it. */
    xb_listener_t *l = xb_listener_new("nonsense://x", "ok", ctx, test_handler, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(xb_listener_run(l, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "nonsense://x"));
    xb_listener_destroy(&l);
    CU_ASSERT_PTR_NULL(l);
}

/* A name with markup reaches the reply escaped, never as elements. */
static void test_reply_escapes_payload(void)
{
    rig_t r;
    rig_open(&r);
    xb_frames_t *f = roundtrip(&r.pump, "7", r.thread,
                               "<greeting><name>&lt;/text&gt;&lt;evil/&gt;</name></greeting>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    CU_ASSERT_EQUAL(xb_frames_count(f), 7);
    CU_ASSERT_TRUE(xb_frames_eq(f, 3, "7"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 4, "1"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 5, XB_TARGET_RESPOND));
    CU_ASSERT_TRUE(xb_frames_eq(
        f, 6, "<greeting-reply><text>Hello, &lt;/text&gt;&lt;evil/&gt;!</text></greeting-reply>"));
    xb_frames_destroy(&f);
    rig_close(&r);
}

static void test_reply_several_messages(void)
{
    rig_t r;
    rig_open(&r);
    xb_frames_t *f = roundtrip(&r.pump, "8", r.thread, "<multi/>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    CU_ASSERT_EQUAL_FATAL(xb_frames_count(f), 11);
    CU_ASSERT_TRUE(xb_frames_eq(f, 4, "3"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 5, "^"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 6, "<a/>"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 7, "other"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 8, "<b/>"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 9, ""));
    CU_ASSERT_TRUE(xb_frames_eq(f, 10, "<c/>"));
    xb_frames_destroy(&f);
    rig_close(&r);
}

static void test_done_failed(void)
{
    rig_t r;
    rig_open(&r);
    xb_frames_t *f = roundtrip(&r.pump, "1", r.thread, "<nothing/>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_DONE));
    CU_ASSERT_TRUE(xb_frames_eq(f, 3, "1"));
    CU_ASSERT_EQUAL(xb_frames_count(f), 4);
    xb_frames_destroy(&f);

    f = roundtrip(&r.pump, "2", r.thread, "<fail/>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_FAILED));
    CU_ASSERT_TRUE(xb_frames_eq(f, 3, "2"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 4, "no cheese today"));
    xb_frames_destroy(&f);

    /* Returning -1 fails the delivery and drops what was emitted. */
    f = roundtrip(&r.pump, "3", r.thread, "<minus/>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_FAILED));
    char *why = xb_frames_strdup(f, 4);
    CU_ASSERT(why && strstr(why, "returned -1"));
    free(why);
    xb_frames_destroy(&f);

    /* The reason travels as one line. */
    f = roundtrip(&r.pump, "41", r.thread, "<twolines/>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_FAILED));
    CU_ASSERT_TRUE(xb_frames_eq(f, 4, "first second  third"));
    xb_frames_destroy(&f);

    f = roundtrip(&r.pump, "4", r.thread, "<badforward/>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_FAILED));
    why = xb_frames_strdup(f, 4);
    CU_ASSERT(why && strstr(why, "not.a.name"));
    free(why);
    xb_frames_destroy(&f);

    /* An envelope the runtime cannot read fails, and the listener goes on. */
    CU_ASSERT_EQUAL(fake_send(&r.pump, XB_CMD_DELIVER, "5", "<message>broken", (const char *)NULL),
                    0);
    f = fake_expect(&r.pump, XB_CMD_FAILED);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 3, "5"));
    xb_frames_destroy(&f);

    f = roundtrip(&r.pump, "6", r.thread, "<greeting><name>again</name></greeting>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    xb_frames_destroy(&f);
    rig_close(&r);
}

static void test_many_messages_in_order(void)
{
    rig_t r;
    rig_open(&r);
    for (int i = 0; i < 50; i++) {
        char id[16], payload[64], expect[64];
        snprintf(id, sizeof id, "%d", 100 + i);
        snprintf(payload, sizeof payload, "<n><v>%d</v></n>", i);
        xb_frames_t *f = roundtrip(&r.pump, id, NULL, payload);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
        CU_ASSERT_TRUE(xb_frames_eq(f, 3, id));
        /* The echoed copy keeps the payload's xmlns="" from the envelope. */
        snprintf(expect, sizeof expect, "<v>%d</v>", i);
        char *xml = xb_frames_strdup(f, 6);
        CU_ASSERT(xml && strstr(xml, expect) && strncmp(xml, "<n", 2) == 0);
        free(xml);
        xb_frames_destroy(&f);
    }
    rig_close(&r);
}

/* Deliveries that arrive together with slow handlers: each answer goes
 * out when its handler returns, not at the end of the burst (the pump's
 * timeout of a delivery runs until its answer arrives). */
static void test_burst_of_slow_handlers(void)
{
    rig_t r;
    rig_open(&r);
    atomic_store(&slow_done, 0);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", 300 + i);
        CU_ASSERT_EQUAL(fake_deliver(&r.pump, id, NULL, "<slow/>"), 0);
    }
    xb_frames_t *first = fake_expect(&r.pump, XB_CMD_REPLY);
    CU_ASSERT_PTR_NOT_NULL(first);
    CU_ASSERT_TRUE(first && xb_frames_eq(first, 3, "300"));
    /* The second handler is still sleeping: the first answer did not wait. */
    CU_ASSERT_TRUE(atomic_load(&slow_done) <= 1);
    xb_frames_destroy(&first);
    for (int i = 1; i < 3; i++) {
        xb_frames_t *f = fake_expect(&r.pump, XB_CMD_REPLY);
        CU_ASSERT_PTR_NOT_NULL(f);
        xb_frames_destroy(&f);
    }
    CU_ASSERT_EQUAL(atomic_load(&slow_done), 3);
    rig_close(&r);
}

/* Fast handlers in a burst: every answer arrives, in order. */
static void test_burst_of_fast_handlers(void)
{
    rig_t r;
    rig_open(&r);
    const int n = 40;
    for (int i = 0; i < n; i++) {
        char id[16], payload[64];
        snprintf(id, sizeof id, "%d", 400 + i);
        snprintf(payload, sizeof payload, "<n><v>%d</v></n>", i);
        CU_ASSERT_EQUAL(fake_deliver(&r.pump, id, NULL, payload), 0);
    }
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", 400 + i);
        xb_frames_t *f = fake_expect(&r.pump, XB_CMD_REPLY);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_TRUE(xb_frames_eq(f, 3, id));
        xb_frames_destroy(&f);
    }
    rig_close(&r);
}

/* A payload in a namespace keeps it through the handler and back; a plain
 * xmlCopyNode (no document) is accepted as a reply payload. */
static void test_namespaced_and_copied_payloads(void)
{
    rig_t r;
    rig_open(&r);
    xb_frames_t *f = roundtrip(&r.pump, "1", NULL,
                               "<q:thing xmlns:q=\"urn:q\" q:a=\"1\"><q:v>x</q:v></q:thing>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE_FATAL(xb_frames_eq(f, 2, XB_CMD_REPLY));
    xb_error_t err;
    xmlDocPtr doc = xb_parser_read(parser, xb_frames_data(f, 6), xb_frames_size(f, 6), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    CU_ASSERT_STRING_EQUAL((const char *)root->name, "thing");
    CU_ASSERT_TRUE(root->ns && strcmp((const char *)root->ns->href, "urn:q") == 0);
    CU_ASSERT_TRUE(root->children && root->children->ns &&
                   strcmp((const char *)root->children->ns->href, "urn:q") == 0);
    xmlChar *a = xmlGetNsProp(root, (const xmlChar *)"a", (const xmlChar *)"urn:q");
    CU_ASSERT_PTR_NOT_NULL(a);
    xmlFree(a);
    xmlFreeDoc(doc);
    xb_frames_destroy(&f);

    f = roundtrip(&r.pump, "2", NULL, "<xcopy><v>1</v></xcopy>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    doc = xb_parser_read(parser, xb_frames_data(f, 6), xb_frames_size(f, 6), &err);
    CU_ASSERT_PTR_NOT_NULL(doc);
    CU_ASSERT_TRUE(doc && xmlDocGetRootElement(doc)->ns == NULL &&
                   strcmp((const char *)xmlDocGetRootElement(doc)->name, "xcopy") == 0);
    xmlFreeDoc(doc);
    xb_frames_destroy(&f);
    rig_close(&r);
}

static void check_text(const char *xml, const char *name, const char *want)
{
    char *got = xbt_text_of(xml, name);
    CU_ASSERT_PTR_NOT_NULL(got);
    if (got && strcmp(got, want) != 0)
        fprintf(stderr, "\n  <%s>: got '%s', want '%s'\n", name, got, want);
    CU_ASSERT(got && strcmp(got, want) == 0);
    free(got);
}

static void test_message_accessors(void)
{
    rig_t r;
    rig_open(&r);
    xb_frames_t *f = roundtrip(&r.pump, "9", r.thread, "<info><empty/></info>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE_FATAL(xb_frames_eq(f, 2, XB_CMD_REPLY));
    char *xml = xb_frames_strdup(f, 6);
    check_text(xml, "from", "console");
    check_text(xml, "to", "tester");
    check_text(xml, "self", "tester");
    check_text(xml, "thread", r.thread);
    check_text(xml, "id", "5b0d1c2e-0000-4000-8000-000000000001");
    check_text(xml, "depth", "3");
    check_text(xml, "type", "info");
    check_text(xml, "self-call", "0");
    check_text(xml, "system-error", "0");
    check_text(xml, "envelope-ok", "1");
    check_text(xml, "missing", "null");
    check_text(xml, "empty", "[]");
    check_text(xml, "redelivered", "0");
    free(xml);
    xb_frames_destroy(&f);
    rig_close(&r);
}

/* A message a restarted pump delivers again carries <x:redelivered>N in its
 * meta (docs/reliability.md, "The journal"): xb_msg_redelivered returns N. */
static void test_redelivered_mark(void)
{
    rig_t r;
    rig_open(&r);
    char *env = envelope(r.thread, "<info/>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    char *meta_end = strstr(env, "</meta>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(meta_end);
    const char mark[] = "<x:redelivered xmlns:x=\"urn:xmlbus:meta:v1\">2</x:redelivered>";
    size_t n = strlen(env) + sizeof mark;
    char *marked = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(marked);
    snprintf(marked, n, "%.*s%s%s", (int)(meta_end - env), env, mark, meta_end);
    CU_ASSERT_EQUAL(fake_send(&r.pump, XB_CMD_DELIVER, "11", marked, (const char *)NULL), 0);
    xb_frames_t *f = NULL;
    for (int i = 0; i < 1000 && !f; i++) {
        f = fake_recv(&r.pump, WAIT_MS);
        if (f && xb_frames_eq(f, 2, XB_CMD_HEARTBEAT))
            xb_frames_destroy(&f);
    }
    CU_ASSERT_TRUE_FATAL(f && xb_frames_eq(f, 2, XB_CMD_REPLY));
    char *xml = xb_frames_strdup(f, 6);
    check_text(xml, "redelivered", "2");
    check_text(xml, "id", "5b0d1c2e-0000-4000-8000-000000000001");
    free(xml);
    free(marked);
    free(env);
    xb_frames_destroy(&f);
    rig_close(&r);
}

/* DELIVER id <envelope of payload> name value ... (NULL-terminated pairs)
 * and the answer (caller frees). */
static xb_frames_t *roundtrip_memory(rig_t *r, const char *id, const char *payload, ...)
{
    char *env = envelope(r->thread, payload);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    xb_frames_t *f = xb_frames_new();
    xb_frames_add(f, r->pump.rid, r->pump.rid_len);
    xb_frames_add_str(f, XB_PROTO);
    xb_frames_add_str(f, XB_CMD_DELIVER);
    xb_frames_add_str(f, id);
    xb_frames_add_str(f, env);
    va_list ap;
    va_start(ap, payload);
    for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
        xb_frames_add_str(f, a);
    va_end(ap);
    CU_ASSERT_EQUAL(xb_frames_send(f, r->pump.router, ZMQ_DONTWAIT), 0);
    xb_frames_destroy(&f);
    free(env);
    for (int i = 0; i < 1000; i++) {
        f = fake_recv(&r->pump, WAIT_MS);
        if (!f || !xb_frames_eq(f, 2, XB_CMD_HEARTBEAT))
            return f;
        xb_frames_destroy(&f);
    }
    return NULL;
}

/* The entries of a DELIVER reach the handler: xb_msg_memory parses one on
 * demand, a name the delivery lacks or an entry that does not parse is
 * NULL, the listing is sorted by name, and an entry node handed to a reply
 * is copied, not taken. */
static void test_memory_read(void)
{
    rig_t r;
    rig_open(&r);
    xb_frames_t *f = roundtrip_memory(
        &r, "21", "<memread/>", "tagline", "<tagline xmlns=\"urn:t\">Hello &amp; more</tagline>",
        "plan", "<plan><step n=\"1\"/></plan>", "broken", "<a>", (const char *)NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE_FATAL(xb_frames_eq(f, 2, XB_CMD_REPLY));
    CU_ASSERT_EQUAL_FATAL(xb_frames_count(f), 11);
    CU_ASSERT_TRUE(xb_frames_eq(f, 4, "3"));
    CU_ASSERT_TRUE(
        xb_frames_eq(f, 6,
                     "<mem count=\"3\"><name>broken</name><name>plan</name><name>tagline</name>"
                     "<past-end>null</past-end><missing>null</missing><broken>null</"
                     "broken><same>1</same></mem>"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 8, "<plan><step n=\"1\"/></plan>"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 10, "<tagline xmlns=\"urn:t\">Hello &amp; more</tagline>"));
    xb_frames_destroy(&f);

    /* Without entries: nothing to read, and the handler's NULL respond fails. */
    f = roundtrip_memory(&r, "22", "<memread/>", (const char *)NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_FAILED));
    char *why = xb_frames_strdup(f, 4);
    CU_ASSERT(why && strstr(why, "not an element"));
    free(why);
    xb_frames_destroy(&f);
    rig_close(&r);
}

/* xb_reply_remember: the write travels in the same REPLY as the answer, as a
 * pair "=NAME" and the element's bytes; a bad name fails the delivery. */
static void test_memory_write(void)
{
    rig_t r;
    rig_open(&r);
    xb_frames_t *f = roundtrip_memory(&r, "31", "<memwrite/>", "plan", "<plan><a>1</a></plan>",
                                      (const char *)NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE_FATAL(xb_frames_eq(f, 2, XB_CMD_REPLY));
    CU_ASSERT_EQUAL_FATAL(xb_frames_count(f), 11);
    CU_ASSERT_TRUE(xb_frames_eq(f, 3, "31"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 4, "3"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 5, "=tagline"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 6, "<tagline>Fresh &amp; new</tagline>"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 7, "=plan.copy"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 8, "<plan><a>1</a></plan>"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 9, XB_TARGET_RESPOND));
    CU_ASSERT_TRUE(xb_frames_eq(f, 10, "<written/>"));
    xb_frames_destroy(&f);

    /* Writes alone are still a REPLY, not DONE. */
    f = roundtrip_memory(&r, "32", "<memonly/>", (const char *)NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    CU_ASSERT_EQUAL(xb_frames_count(f), 7);
    CU_ASSERT_TRUE(xb_frames_eq(f, 5, "=only_1"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 6, "<o/>"));
    xb_frames_destroy(&f);

    /* Bad names: refused, the delivery fails with the name in the reason. */
    char long_name[XB_WMEM_NAME_MAX + 2]; /* one byte over the longest name */
    memset(long_name, 'n', XB_WMEM_NAME_MAX + 1);
    long_name[XB_WMEM_NAME_MAX + 1] = '\0';
    const char *bad[] = {"9lives", "has space", "a=b", "", long_name};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char payload[256];
        snprintf(payload, sizeof payload, "<membad><name>%s</name></membad>", bad[i]);
        f = roundtrip_memory(&r, "33", payload, (const char *)NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_FAILED));
        char *why = xb_frames_strdup(f, 4);
        CU_ASSERT(why && strstr(why, "remember: '") && strstr(why, bad[i]));
        if (!why || !strstr(why, bad[i]))
            fprintf(stderr, "\n  bad name '%s': %s\n", bad[i], why ? why : "(none)");
        free(why);
        xb_frames_destroy(&f);
    }
    rig_close(&r);
}

/* Waits for the listener's HEARTBEAT while the fake pump heartbeats every
 * 10 ms itself, so that the listener has no reason to reconnect. Any other
 * message but READY is a failure. */
static bool expect_listener_heartbeat(fake_t *p)
{
    for (int i = 0; i < WAIT_MS / 10; i++) {
        CU_ASSERT_EQUAL(fake_send(p, XB_CMD_HEARTBEAT, (const char *)NULL), 0);
        xb_frames_t *f = fake_recv(p, 10);
        if (!f)
            continue;
        if (xb_frames_eq(f, 2, XB_CMD_READY)) {
            /* The machine stalled long enough for a reconnect: accept it. */
            p->rid_len = xb_frames_size(f, 0);
            memcpy(p->rid, xb_frames_data(f, 0), p->rid_len);
            xb_frames_destroy(&f);
            CU_ASSERT_EQUAL(fake_send(p, XB_CMD_WELCOME, "test-organism", "50", "memory", "",
                                      "xp:", (const char *)NULL),
                            0);
            continue;
        }
        bool hb = xb_frames_eq(f, 2, XB_CMD_HEARTBEAT) && xb_frames_count(f) == 3 &&
                  xb_frames_size(f, 0) == p->rid_len &&
                  memcmp(xb_frames_data(f, 0), p->rid, p->rid_len) == 0;
        if (!hb) {
            char *d = xb_frames_describe(f);
            fprintf(stderr, "\n  expected HEARTBEAT, got %s\n", d);
            free(d);
        }
        xb_frames_destroy(&f);
        return hb;
    }
    return false;
}

/* WELCOME with a short heartbeat: the idle listener sends HEARTBEAT. */
static void test_heartbeat_when_idle(void)
{
    rig_t r;
    rig_open_with(&r, "50", "memory", "", "xp:");
    CU_ASSERT_TRUE(expect_listener_heartbeat(&r.pump));
    /* And again: heartbeats go on while the pump is alive. */
    CU_ASSERT_TRUE(expect_listener_heartbeat(&r.pump));
    /* It may reconnect once this pump falls silent: leave with stop. */
    xb_listener_stop(r.l);
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_listener_join(r.l, &err), 0);
    xb_listener_destroy(&r.l);
    fake_close(&r.pump);
}

/* A pump that stays silent for liveness intervals is left: the listener
 * comes back on a new socket with a new READY. */
static void test_reconnect_when_pump_silent(void)
{
    rig_t r;
    rig_open_with(&r, "50", "memory", "", "xp:");
    char first[256];
    size_t first_len = r.pump.rid_len;
    memcpy(first, r.pump.rid, first_len);
    xb_frames_t *ready = fake_accept(&r.pump, "1000", "memory", "", "xp:");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ready);
    CU_ASSERT_TRUE(r.pump.rid_len != first_len || memcmp(r.pump.rid, first, first_len) != 0);
    /* The same token: the pump replaces the old connection's registration. */
    CU_ASSERT_EQUAL(strlen(r.token), XB_UUID_LEN);
    CU_ASSERT_TRUE(xb_frames_eq(ready, 8, r.token));
    xb_frames_destroy(&ready);
    CU_ASSERT_TRUE(wait_registered(r.l));
    /* The new connection works. */
    xb_frames_t *f = roundtrip(&r.pump, "1", NULL, "<nothing/>");
    CU_ASSERT_PTR_NOT_NULL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_DONE));
    xb_frames_destroy(&f);
    rig_close(&r);
}

/* A pump that answers HEARTBEAT with ERROR does not know the listener (it
 * restarted): the listener registers again at once. */
static void test_reregister_after_error(void)
{
    rig_t r;
    rig_open_with(&r, "50", "memory", "", "xp:");
    CU_ASSERT_TRUE_FATAL(expect_listener_heartbeat(&r.pump));
    CU_ASSERT_EQUAL(fake_send(&r.pump, XB_CMD_ERROR, XB_CMD_HEARTBEAT,
                              "not registered: send READY first", (const char *)NULL),
                    0);
    xb_frames_t *ready = fake_accept(&r.pump, "1000", "memory", "", "xp:");
    CU_ASSERT_PTR_NOT_NULL(ready);
    xb_frames_destroy(&ready);
    CU_ASSERT_TRUE(wait_registered(r.l));
    rig_close(&r);
}

static void test_stop_sends_bye(void)
{
    rig_t r;
    rig_open(&r);
    xb_listener_stop(r.l);
    xb_frames_t *bye = fake_expect(&r.pump, XB_CMD_BYE);
    CU_ASSERT_PTR_NOT_NULL(bye);
    CU_ASSERT_EQUAL(xb_frames_count(bye), 3);
    xb_frames_destroy(&bye);
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_listener_join(r.l, &err), 0);
    CU_ASSERT_FALSE(xb_listener_registered(r.l));
    xb_listener_destroy(&r.l);
    fake_close(&r.pump);
}

static void test_refused(void)
{
    fake_t p;
    fake_open(&p, false);
    xb_error_t err;
    xb_listener_t *l = xb_listener_new(p.endpoint, "stranger", ctx, test_handler, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL_FATAL(xb_listener_start(l, &err), 0);
    xb_frames_t *ready = fake_expect(&p, XB_CMD_READY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ready);
    p.rid_len = xb_frames_size(ready, 0);
    memcpy(p.rid, xb_frames_data(ready, 0), p.rid_len);
    xb_frames_destroy(&ready);
    CU_ASSERT_EQUAL(
        fake_send(&p, XB_CMD_REFUSED, "no listener named 'stranger'", (const char *)NULL), 0);
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(xb_listener_join(l, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ROUTING);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no listener named 'stranger'"));
    xb_listener_destroy(&l);
    fake_close(&p);
}

/* ---- history ------------------------------------------------------------------ */

static char *encode_slot(const char *thread, const char *from, const char *type, size_t *len)
{
    char payload[64];
    snprintf(payload, sizeof payload, "<%s/>", type);
    xb_slot_fields_t sf = {thread, from, "tester", type, "id", 1, payload, strlen(payload)};
    char *out = NULL;
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_slot_encode_fields(&sf, &out, len, &err), 0);
    return out;
}

static void test_history_memory(void)
{
    rig_t r;
    rig_open(&r);
    CU_ASSERT_EQUAL(fake_deliver(&r.pump, "11", r.thread, "<history/>"), 0);
    xb_frames_t *req = fake_expect(&r.pump, XB_CMD_HISTORY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    CU_ASSERT_EQUAL(xb_frames_count(req), 5);
    CU_ASSERT_TRUE(xb_frames_eq(req, 4, r.thread));
    char *rid = xb_frames_strdup(req, 3);
    /* A heartbeat in between is skipped. */
    CU_ASSERT_EQUAL(fake_send(&r.pump, XB_CMD_HEARTBEAT, (const char *)NULL), 0);
    xb_frames_t *ok = xb_frames_new();
    xb_frames_add(ok, r.pump.rid, r.pump.rid_len);
    xb_frames_add_str(ok, XB_PROTO);
    xb_frames_add_str(ok, XB_CMD_HISTORY_OK);
    xb_frames_add_str(ok, rid);
    xb_frames_add_str(ok, "2");
    size_t len;
    char *s0 = encode_slot(r.thread, "console", "greeting", &len);
    xb_frames_add_take(ok, s0, len);
    char *s1 = encode_slot(r.thread, "console", "history", &len);
    xb_frames_add_take(ok, s1, len);
    CU_ASSERT_EQUAL(xb_frames_send(ok, r.pump.router, 0), 0);
    xb_frames_destroy(&ok);
    free(rid);
    xb_frames_destroy(&req);

    xb_frames_t *f = fake_expect(&r.pump, XB_CMD_REPLY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char *xml = xb_frames_strdup(f, 6);
    CU_ASSERT(xml && strstr(xml, "<history n=\"2\">"));
    CU_ASSERT(xml && strstr(xml, "index=\"0\" from=\"console\" type=\"greeting\""));
    CU_ASSERT(xml && strstr(xml, "index=\"1\" from=\"console\" type=\"history\""));
    free(xml);
    xb_frames_destroy(&f);

    /* The pump's ERROR reaches the handler as an error. */
    CU_ASSERT_EQUAL(fake_deliver(&r.pump, "12", r.thread, "<history/>"), 0);
    req = fake_expect(&r.pump, XB_CMD_HISTORY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    xb_frames_destroy(&req);
    CU_ASSERT_EQUAL(
        fake_send(&r.pump, XB_CMD_ERROR, XB_CMD_HISTORY, "backend down", (const char *)NULL), 0);
    f = fake_expect(&r.pump, XB_CMD_REPLY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    xml = xb_frames_strdup(f, 6);
    CU_ASSERT(xml && strstr(xml, "<history-error>backend "));
    CU_ASSERT(xml && strstr(xml, "backend down"));
    free(xml);
    xb_frames_destroy(&f);
    rig_close(&r);
}

/* SHUTDOWN while the handler waits for HISTORY-OK: the handler still gets
 * its history and the answer goes out before BYE. */
static void test_shutdown_during_history(void)
{
    rig_t r;
    rig_open(&r);
    CU_ASSERT_EQUAL(fake_deliver(&r.pump, "13", r.thread, "<history/>"), 0);
    xb_frames_t *req = fake_expect(&r.pump, XB_CMD_HISTORY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    char *rid = xb_frames_strdup(req, 3);
    xb_frames_destroy(&req);
    CU_ASSERT_EQUAL(fake_send(&r.pump, XB_CMD_SHUTDOWN, (const char *)NULL), 0);
    CU_ASSERT_EQUAL(fake_send(&r.pump, XB_CMD_HISTORY_OK, rid, "0", (const char *)NULL), 0);
    free(rid);
    xb_frames_t *f = fake_expect(&r.pump, XB_CMD_REPLY);
    CU_ASSERT_PTR_NOT_NULL(f);
    char *xml = f ? xb_frames_strdup(f, 6) : NULL;
    CU_ASSERT(xml && strstr(xml, "<history n=\"0\"/>"));
    free(xml);
    xb_frames_destroy(&f);
    f = fake_expect(&r.pump, XB_CMD_BYE);
    CU_ASSERT_PTR_NOT_NULL(f);
    xb_frames_destroy(&f);
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_listener_join(r.l, &err), 0);
    xb_listener_destroy(&r.l);
    fake_close(&r.pump);
}

/* Expects the listener's ERROR about what, with why in its message. */
static void expect_error_about(fake_t *p, const char *what, const char *why)
{
    xb_frames_t *f = fake_expect(p, XB_CMD_ERROR);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_ERROR) && xb_frames_eq(f, 3, what));
    char *msg = xb_frames_strdup(f, 4);
    CU_ASSERT_PTR_NOT_NULL(msg && strstr(msg, why));
    free(msg);
    xb_frames_destroy(&f);
}

/* A hostile pump announces a huge count (the old `5 + 2 * n` check overflowed
 * on it): the listener answers ERROR, both in its loop and while a handler
 * waits for history, and nothing else changes: the handler still gets the
 * real answer, and the next delivery is served. */
static void test_huge_count_refused(void)
{
    static const char *const huge[] = {"9223372036854775808", "18446744073709551615",
                                       "9223372036854775807", "99999999999999999999"};
    rig_t r;
    rig_open(&r);
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        CU_ASSERT_EQUAL(
            fake_send(&r.pump, XB_CMD_HISTORY_OK, "1", huge[i], "s", (const char *)NULL), 0);
        expect_error_about(&r.pump, XB_CMD_HISTORY_OK, "(n)");
    }
    CU_ASSERT_EQUAL(fake_deliver(&r.pump, "14", r.thread, "<history/>"), 0);
    xb_frames_t *req = fake_expect(&r.pump, XB_CMD_HISTORY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(req);
    char *rid = xb_frames_strdup(req, 3);
    xb_frames_destroy(&req);
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        CU_ASSERT_EQUAL(
            fake_send(&r.pump, XB_CMD_HISTORY_OK, rid, huge[i], "s", (const char *)NULL), 0);
        expect_error_about(&r.pump, XB_CMD_HISTORY_OK, "(n)");
    }
    CU_ASSERT_EQUAL(fake_send(&r.pump, XB_CMD_HISTORY_OK, rid, "0", (const char *)NULL), 0);
    free(rid);
    xb_frames_t *f = fake_expect(&r.pump, XB_CMD_REPLY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char *xml = xb_frames_strdup(f, 6);
    CU_ASSERT_PTR_NOT_NULL(xml && strstr(xml, "<history n=\"0\"/>"));
    free(xml);
    xb_frames_destroy(&f);
    f = roundtrip(&r.pump, "15", NULL, "<greeting><name>again</name></greeting>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    xb_frames_destroy(&f);
    rig_close(&r);
}

static void append_slots(xb_backend_t *b, const char *thread, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len;
        char *s = encode_slot(thread, i % 2 ? "greeter" : "console", i % 2 ? "reply" : "greeting",
                              &len);
        long index = -1;
        xb_error_t err;
        CU_ASSERT_EQUAL(xb_backend_buffer_append(b, thread, s, len, &index, &err), 0);
        CU_ASSERT_EQUAL(index, i);
        free(s);
    }
}

static void expect_history_reply(rig_t *r, const char *id, const char *want)
{
    xb_frames_t *f = roundtrip(&r->pump, id, r->thread, "<history/>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    char *xml = xb_frames_strdup(f, 6);
    if (!xml || !strstr(xml, want))
        fprintf(stderr, "\n  history reply: %s (want %s)\n", xml ? xml : "(none)", want);
    CU_ASSERT(xml && strstr(xml, want));
    free(xml);
    xb_frames_destroy(&f);
}

/* manager: the runtime opens the LMDB folder named in WELCOME itself. */
static void test_history_manager(void)
{
    char dir[256];
    CU_ASSERT_EQUAL_FATAL(xbt_tmpdir_make(dir, sizeof dir, "listener"), 0);
    char thread[XB_UUID_LEN + 1];
    xb_uuid_new(thread);
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.type = XB_BACKEND_MANAGER;
    snprintf(cfg.path, sizeof cfg.path, "%s", dir);
    xb_error_t err;
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    append_slots(b, thread, 3);
    /* LMDB must not be open twice in one process: the writer closes first. */
    xb_backend_destroy(&b);

    rig_t r;
    rig_open_with(&r, "1000", "manager", dir, "xp:");
    memcpy(r.thread, thread, sizeof thread);
    expect_history_reply(&r, "21", "<history n=\"3\">");
    expect_history_reply(&r, "22", "index=\"1\" from=\"greeter\" type=\"reply\"");
    rig_close(&r);
    xbt_rmtree(dir);
}

/* redis: the runtime connects to the URL and prefix named in WELCOME. */
static void test_history_redis(void)
{
    xb_error_t err;
    xb_redis_server_t *srv = xb_redis_server_start(NULL, &err);
    if (!srv)
        fprintf(stderr, "\n  %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    char thread[XB_UUID_LEN + 1];
    xb_uuid_new(thread);
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.type = XB_BACKEND_REDIS;
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "%s", xb_redis_server_url(srv));
    snprintf(cfg.redis_prefix, sizeof cfg.redis_prefix, "tenant7:");
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    append_slots(b, thread, 4);

    rig_t r;
    rig_open_with(&r, "1000", "redis", xb_redis_server_url(srv), "tenant7:");
    memcpy(r.thread, thread, sizeof thread);
    expect_history_reply(&r, "31", "<history n=\"4\">");
    rig_close(&r);

    /* Another prefix is another tenant: the listener sees none of it. */
    rig_open_with(&r, "1000", "redis", xb_redis_server_url(srv), "tenant8:");
    memcpy(r.thread, thread, sizeof thread);
    expect_history_reply(&r, "32", "<history n=\"0\"/>");
    rig_close(&r);
    xb_backend_destroy(&b);
    xb_redis_server_destroy(&srv);
}

/* ---- payload helpers --------------------------------------------------------------- */

static void test_payload_escaping(void)
{
    xmlNodePtr p = xb_payload_new("note");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL(xb_payload_add_text(p, "text", "%s", "</text><evil/>"));
    CU_ASSERT_EQUAL(xb_payload_set_attr(p, "by", "%s", "\"me\" & <you>"), 0);
    CU_ASSERT_PTR_NOT_NULL(xb_payload_add_text(p, NULL, "%s", "a&b"));
    char *xml = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(xb_payload_serialize(p, &xml, &len), 0);
    CU_ASSERT_STRING_EQUAL(xml,
                           "<note by=\"&quot;me&quot; &amp; "
                           "&lt;you&gt;\"><text>&lt;/text&gt;&lt;evil/&gt;</text>a&amp;b</note>");
    CU_ASSERT_EQUAL(len, strlen(xml));
    /* It parses back to the same text: no element was injected. */
    xb_error_t err;
    xmlDocPtr doc = xb_parser_read(parser, xml, len, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr text = root->children;
    CU_ASSERT_STRING_EQUAL((const char *)text->name, "text");
    CU_ASSERT_PTR_EQUAL(text->children, text->last); /* one text node, no <evil/> */
    xmlChar *content = xmlNodeGetContent(text);
    CU_ASSERT_STRING_EQUAL((const char *)content, "</text><evil/>");
    xmlFree(content);
    xmlFreeDoc(doc);
    free(xml);
    xb_payload_free(p);
}

static void test_payload_rules(void)
{
    CU_ASSERT_PTR_NULL(xb_payload_new("bad tag"));
    CU_ASSERT_PTR_NULL(xb_payload_new("a:b"));
    CU_ASSERT_PTR_NULL(xb_payload_new(""));
    CU_ASSERT_PTR_NULL(xb_payload_new(NULL));
    xmlNodePtr p = xb_payload_new("p");
    CU_ASSERT_PTR_NULL(xb_payload_add_text(p, "<x>", "y"));
    CU_ASSERT_EQUAL(xb_payload_set_attr(p, "a b", "y"), -1);
    CU_ASSERT_PTR_NULL(xb_payload_add_child(p, "1x"));
    /* Bytes XML cannot carry become U+FFFD instead of breaking the document. */
    CU_ASSERT_PTR_NOT_NULL(xb_payload_add_text(p, "t", "a%cb\xff", 1));
    CU_ASSERT_PTR_NOT_NULL(xb_payload_add_text(p, "u", "%s", "h\xc3\xa9"));
    char *xml = NULL;
    CU_ASSERT_EQUAL_FATAL(xb_payload_serialize(p, &xml, NULL), 0);
    CU_ASSERT_STRING_EQUAL(xml, "<p><t>a\xef\xbf\xbd"
                                "b\xef\xbf\xbd</t><u>h\xc3\xa9</u></p>");
    free(xml);
    xb_payload_free(p);
    xb_payload_free(NULL);
}

/* A payload inside a bigger tree is written with the namespaces it uses,
 * also when they are declared on an ancestor. */
static void test_payload_copy_namespaces(void)
{
    const char *src = "<root xmlns:q=\"urn:q\"><q:item a=\"1\"><q:sub/></q:item></root>";
    xb_error_t err;
    xmlDocPtr doc = xb_parser_read(parser, src, strlen(src), &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    xmlNodePtr item = xmlDocGetRootElement(doc)->children;
    char *xml = NULL;
    CU_ASSERT_EQUAL(xb_payload_serialize(item, &xml, NULL), 0);
    CU_ASSERT_STRING_EQUAL(xml, "<q:item xmlns:q=\"urn:q\" a=\"1\"><q:sub/></q:item>");
    free(xml);
    xmlNodePtr copy = xb_payload_copy(item);
    xmlFreeDoc(doc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    CU_ASSERT_EQUAL(xb_payload_serialize(copy, &xml, NULL), 0);
    CU_ASSERT_STRING_EQUAL(xml, "<q:item xmlns:q=\"urn:q\" a=\"1\"><q:sub/></q:item>");
    free(xml);
    xb_payload_free(copy);
}

/* ---- listener processes -------------------------------------------------------------- */

/* Starts bin/prog with XMLBUS_* set as given (NULL: unset) and stdout to
 * out_path (NULL: inherited). */
static pid_t spawn_listener(const char *prog, const char *endpoint, const char *name,
                            const char *kind, const char *out_path, char *const extra_argv[])
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", XB_BIN_DIR, prog);
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 5, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "XMLBUS_ENDPOINT=", 16) != 0 &&
            strncmp(environ[i], "XMLBUS_LISTENER=", 16) != 0 &&
            strncmp(environ[i], "XMLBUS_KIND=", 12) != 0)
            env[k++] = environ[i];
    char e1[512], e2[128], e3[64];
    if (endpoint) {
        snprintf(e1, sizeof e1, "XMLBUS_ENDPOINT=%s", endpoint);
        env[k++] = e1;
    }
    if (name) {
        snprintf(e2, sizeof e2, "XMLBUS_LISTENER=%s", name);
        env[k++] = e2;
    }
    if (kind) {
        snprintf(e3, sizeof e3, "XMLBUS_KIND=%s", kind);
        env[k++] = e3;
    }
    char *argv[8] = {path};
    for (size_t i = 0; extra_argv && extra_argv[i] && i < 6; i++)
        argv[i + 1] = extra_argv[i];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_path)
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path, O_WRONLY | O_CREAT | O_TRUNC,
                                         0600);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return pid;
}

static bool exited_zero(int status)
{
    return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Spawns prog as listener name against a tcp fake pump, checks READY, WELCOMEs. */
static pid_t start_process(fake_t *p, const char *prog, const char *name, const char *kind,
                           const char *out_path)
{
    fake_open(p, true);
    pid_t pid = spawn_listener(prog, p->endpoint, name, kind, out_path, NULL);
    xb_frames_t *ready = fake_accept(p, "1000", "memory", "", "xp:");
    CU_ASSERT_PTR_NOT_NULL(ready);
    if (ready) {
        char spid[32];
        snprintf(spid, sizeof spid, "%d", (int)pid);
        CU_ASSERT_TRUE(xb_frames_eq(ready, 3, name));
        CU_ASSERT_TRUE(xb_frames_eq(ready, 4, kind ? kind : "listener"));
        CU_ASSERT_TRUE(xb_frames_eq(ready, 5, spid));
        CU_ASSERT_TRUE(xb_frames_eq(ready, 6, "1"));
    }
    xb_frames_destroy(&ready);
    return pid;
}

static void shutdown_process(fake_t *p, pid_t pid)
{
    CU_ASSERT_EQUAL(fake_send(p, XB_CMD_SHUTDOWN, (const char *)NULL), 0);
    xb_frames_t *bye = fake_expect(p, XB_CMD_BYE);
    CU_ASSERT_PTR_NOT_NULL(bye);
    xb_frames_destroy(&bye);
    CU_ASSERT_TRUE(exited_zero(xbt_wait_exit(pid, WAIT_MS)));
    fake_close(p);
}

/* The payload of a REPLY frame parsed: its root name and the text of child. */
static bool payload_is(const xb_frames_t *f, size_t i, const char *root, const char *child,
                       const char *text)
{
    xb_error_t err;
    xmlDocPtr doc = xb_parser_read(parser, xb_frames_data(f, i), xb_frames_size(f, i), &err);
    if (!doc)
        return false;
    xmlNodePtr r = xmlDocGetRootElement(doc);
    bool ok = strcmp((const char *)r->name, root) == 0 && r->ns == NULL;
    if (ok && child) {
        ok = false;
        for (xmlNodePtr c = r->children; c; c = c->next) {
            if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, child) == 0) {
                xmlChar *t = xmlNodeGetContent(c);
                ok = t && strcmp((const char *)t, text) == 0;
                if (!ok)
                    fprintf(stderr, "\n  <%s>: '%s' != '%s'\n", child, t ? (char *)t : "", text);
                xmlFree(t);
                break;
            }
        }
    }
    xmlFreeDoc(doc);
    return ok;
}

static void test_echo_process(void)
{
    fake_t p;
    pid_t pid = start_process(&p, "xmlbus-echo", "echo", "worker", NULL);
    xb_frames_t *f = roundtrip(&p, "1", NULL, "<ping><n>1 &amp; 2</n></ping>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    CU_ASSERT_TRUE(xb_frames_eq(f, 4, "1"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 5, "^"));
    CU_ASSERT_TRUE(payload_is(f, 6, "ping", "n", "1 & 2"));
    xb_frames_destroy(&f);
    shutdown_process(&p, pid);
}

static void test_print_process_and_sigterm(void)
{
    char out[128];
    snprintf(out, sizeof out, "/tmp/xb-test-print-%d.out", (int)getpid());
    fake_t p;
    pid_t pid = start_process(&p, "xmlbus-print", "print", NULL, out);
    char t1[XB_UUID_LEN + 1], t2[XB_UUID_LEN + 1];
    xb_uuid_new(t1);
    xb_uuid_new(t2);
    xb_frames_t *f = roundtrip(&p, "1", t1, "<note><text>one\ntwo</text></note>");
    CU_ASSERT_PTR_NOT_NULL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_DONE));
    xb_frames_destroy(&f);
    f = roundtrip(&p, "2", t2, "<other a=\"&lt;\"/>");
    CU_ASSERT_PTR_NOT_NULL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_DONE));
    CU_ASSERT_TRUE(xb_frames_eq(f, 3, "2"));
    xb_frames_destroy(&f);
    /* SIGTERM: BYE and exit 0. */
    CU_ASSERT_EQUAL(kill(pid, SIGTERM), 0);
    xb_frames_t *bye = fake_expect(&p, XB_CMD_BYE);
    CU_ASSERT_PTR_NOT_NULL(bye);
    xb_frames_destroy(&bye);
    CU_ASSERT_TRUE(exited_zero(xbt_wait_exit(pid, WAIT_MS)));
    fake_close(&p);

    char *text = xbt_read_file(out, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    char want[512];
    snprintf(want, sizeof want,
             "console %s <note xmlns=\"\"><text>one two</text></note>\n"
             "console %s <other xmlns=\"\" a=\"&lt;\"/>\n",
             t1, t2);
    if (strcmp(text, want) != 0)
        fprintf(stderr, "\n  print wrote:\n%s  want:\n%s", text, want);
    CU_ASSERT_STRING_EQUAL(text, want);
    free(text);
    unlink(out);
}

static void test_greeter_process(void)
{
    fake_t p;
    pid_t pid = start_process(&p, "hello-greeter", "greeter", NULL, NULL);
    char thread[XB_UUID_LEN + 1];
    xb_uuid_new(thread);
    xb_frames_t *f = roundtrip(&p, "1", thread, "<greeting><name>World</name></greeting>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    CU_ASSERT_EQUAL_FATAL(xb_frames_count(f), 9);
    CU_ASSERT_TRUE(xb_frames_eq(f, 4, "2"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 5, "^"));
    CU_ASSERT_TRUE(
        xb_frames_eq(f, 6, "<greeting-reply><text>Hello, World!</text></greeting-reply>"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 7, "shouter"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 8, "<shout><text>Hello, World!</text></shout>"));
    xb_frames_destroy(&f);
    /* The shouter's answer comes back and goes on to the caller. */
    f = roundtrip(&p, "2", thread, "<shouted><text>HELLO, WORLD!</text></shouted>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    CU_ASSERT_TRUE(xb_frames_eq(f, 4, "1"));
    CU_ASSERT_TRUE(xb_frames_eq(f, 5, "^"));
    CU_ASSERT_TRUE(payload_is(f, 6, "shouted", "text", "HELLO, WORLD!"));
    xb_frames_destroy(&f);
    shutdown_process(&p, pid);
}

static void test_shouter_process(void)
{
    fake_t p;
    pid_t pid = start_process(&p, "hello-shouter", "shouter", NULL, NULL);
    xb_frames_t *f = roundtrip(&p, "1", NULL,
                               "<shout><text>h\xc3\xa9llo w\xc3\xb6rld &lt;3</text></shout>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_TRUE(xb_frames_eq(f, 2, XB_CMD_REPLY));
    CU_ASSERT_TRUE(xb_frames_eq(f, 5, "^"));
    CU_ASSERT_TRUE(
        xb_frames_eq(f, 6, "<shouted><text>H\xc3\xa9LLO W\xc3\xb6RLD &lt;3</text></shouted>"));
    xb_frames_destroy(&f);
    shutdown_process(&p, pid);
}

/* Flags work without the environment; a missing name is a usage error. */
static void test_main_flags_and_usage(void)
{
    fake_t p;
    fake_open(&p, true);
    char *args[] = {"--name", "flagged", NULL};
    char ep[300];
    snprintf(ep, sizeof ep, "--endpoint=%s", p.endpoint);
    char *args2[] = {args[0], args[1], ep, "--log-level", "warn", "positional", NULL};
    pid_t pid = spawn_listener("xmlbus-echo", NULL, NULL, NULL, NULL, args2);
    xb_frames_t *ready = fake_accept(&p, "1000", "memory", "", "xp:");
    CU_ASSERT_PTR_NOT_NULL(ready);
    CU_ASSERT_TRUE(ready && xb_frames_eq(ready, 3, "flagged"));
    CU_ASSERT_TRUE(ready && xb_frames_eq(ready, 4, "listener"));
    xb_frames_destroy(&ready);
    shutdown_process(&p, pid);

    pid = spawn_listener("xmlbus-echo", "tcp://127.0.0.1:1", NULL, NULL, "/dev/null", NULL);
    int status = xbt_wait_exit(pid, WAIT_MS);
    CU_ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 2);
    pid = spawn_listener("xmlbus-echo", "tcp://127.0.0.1:1", "x", "boss", "/dev/null", NULL);
    status = xbt_wait_exit(pid, WAIT_MS);
    CU_ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 2);
}

/* A pump that refuses the name: the process exits 1. */
static void test_process_refused(void)
{
    fake_t p;
    fake_open(&p, true);
    pid_t pid = spawn_listener("xmlbus-echo", p.endpoint, "nobody", NULL, NULL, NULL);
    xb_frames_t *ready = fake_expect(&p, XB_CMD_READY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ready);
    p.rid_len = xb_frames_size(ready, 0);
    memcpy(p.rid, xb_frames_data(ready, 0), p.rid_len);
    xb_frames_destroy(&ready);
    CU_ASSERT_EQUAL(fake_send(&p, XB_CMD_REFUSED, "no listener named 'nobody'", (const char *)NULL),
                    0);
    int status = xbt_wait_exit(pid, WAIT_MS);
    CU_ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 1);
    fake_close(&p);
}

static const xbt_test_t listener_runtime_tests[] = {
    {"READY and WELCOME", test_ready_and_welcome},
    {"bad arguments", test_new_rejects_bad_arguments},
    {"REPLY escapes the payload", test_reply_escapes_payload},
    {"REPLY with several messages", test_reply_several_messages},
    {"DONE and FAILED", test_done_failed},
    {"many messages in order", test_many_messages_in_order},
    {"a burst of slow handlers is answered one by one", test_burst_of_slow_handlers},
    {"a burst of fast handlers: every answer, in order", test_burst_of_fast_handlers},
    {"message accessors", test_message_accessors},
    {"a message delivered again: xb_msg_redelivered", test_redelivered_mark},
    {"working memory: the entries of a DELIVER", test_memory_read},
    {"working memory: xb_reply_remember", test_memory_write},
    {"namespaced and copied payloads", test_namespaced_and_copied_payloads},
    {"HEARTBEAT when idle", test_heartbeat_when_idle},
    {"reconnect when the pump is silent", test_reconnect_when_pump_silent},
    {"register again after ERROR HEARTBEAT", test_reregister_after_error},
    {"stop sends BYE", test_stop_sends_bye},
    {"REFUSED ends the listener", test_refused},
    {"history through the pump", test_history_memory},
    {"SHUTDOWN during a history wait", test_shutdown_during_history},
    {"a huge HISTORY-OK count is refused with ERROR", test_huge_count_refused},
    {"history from LMDB", test_history_manager},
    {"history from redis", test_history_redis},
    {"payload escaping", test_payload_escaping},
    {"payload rules", test_payload_rules},
    {"payload namespaces", test_payload_copy_namespaces},
    {NULL, NULL},
};

static const xbt_test_t listener_processes_tests[] = {
    {"xmlbus-echo", test_echo_process},
    {"xmlbus-print and SIGTERM", test_print_process_and_sigterm},
    {"hello-greeter", test_greeter_process},
    {"hello-shouter", test_shouter_process},
    {"flags and usage errors", test_main_flags_and_usage},
    {"REFUSED process exits 1", test_process_refused},
    {NULL, NULL},
};

static int listener_init(void)
{
    /* Quiet: only warnings and errors, here and in the spawned listeners. */
    setenv("XMLBUS_LOG_LEVEL", "warn", 1);
    xb_log_set_level(XB_LOG_WARN);
    xb_xml_init();
    ctx = zmq_ctx_new();
    xb_error_t err;
    parser = xb_parser_new(NULL, &err);
    if (!ctx || !parser) {
        fprintf(stderr, "set-up failed: %s\n", parser ? "zmq" : err.message);
        return -1;
    }
    return 0;
}

static int listener_clean(void)
{
    xb_parser_destroy(&parser);
    /* A fatal assertion may leave a socket open, which would block zmq_ctx_term. */
    if (ctx && CU_get_number_of_failures() == 0)
        zmq_ctx_term(ctx);
    ctx = NULL;
    return 0;
}

/* ---- CURVE: a listener process's keys from XMLBUS_KEY, XMLBUS_SERVER_KEY --- */

static xbt_curve_server_t g_curve;
static char g_curve_dir[256];
static char g_curve_pub[512], g_curve_good[512], g_curve_good_pub[512], g_curve_bad[512];

static int curve_init(void)
{
    char server_sec[512], unused[512];
    unsetenv(XB_KEY_ENV);
    unsetenv(XB_SERVER_KEY_ENV);
    if (xbt_tmpdir_make(g_curve_dir, sizeof g_curve_dir, "test-listener-curve") != 0 ||
        xbt_curve_save_key(g_curve_dir, "pump", g_curve_pub, server_sec) != 0 ||
        xbt_curve_save_key(g_curve_dir, "good", g_curve_good_pub, g_curve_good) != 0 ||
        xbt_curve_save_key(g_curve_dir, "bad", unused, g_curve_bad) != 0)
        return -1;
    return xbt_curve_server_start(&g_curve, server_sec, g_curve_good_pub);
}

static int curve_clean(void)
{
    xbt_curve_server_stop(&g_curve);
    return xbt_rmtree(g_curve_dir);
}

/* A listener that owns its context, created while the environment names
 * key (and the server's key); started. */
static xb_listener_t *curve_listener(const char *key)
{
    setenv(XB_KEY_ENV, key, 1);
    setenv(XB_SERVER_KEY_ENV, g_curve_pub, 1);
    xb_error_t err;
    xb_listener_t *l = xb_listener_new(g_curve.endpoint, "curvy", NULL, test_handler, NULL, &err);
    unsetenv(XB_KEY_ENV);
    unsetenv(XB_SERVER_KEY_ENV);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL_FATAL(xb_listener_start(l, &err), 0);
    return l;
}

static void test_curve_listener_connects(void)
{
    int before = atomic_load(&g_curve.readys);
    xb_listener_t *l = curve_listener(g_curve_good);
    XBT_WAIT_UNTIL(atomic_load(&g_curve.readys) > before, 20000);
    CU_ASSERT_TRUE(atomic_load(&g_curve.readys) > before);
    xb_listener_destroy(&l);
}

static void test_curve_listener_refused(void)
{
    int readys = atomic_load(&g_curve.readys);
    int refusals = atomic_load(&g_curve.zap_refusals);
    xb_listener_t *l = curve_listener(g_curve_bad);
    XBT_WAIT_UNTIL(atomic_load(&g_curve.zap_refusals) > refusals, 20000);
    CU_ASSERT_TRUE(atomic_load(&g_curve.zap_refusals) > refusals);
    CU_ASSERT_EQUAL(atomic_load(&g_curve.readys), readys);
    xb_listener_destroy(&l);
}

static void test_curve_listener_bad_keys(void)
{
    xb_error_t err;
    setenv(XB_KEY_ENV, g_curve_good, 1);
    xb_listener_t *l = xb_listener_new(g_curve.endpoint, "curvy", NULL, test_handler, NULL, &err);
    unsetenv(XB_KEY_ENV);
    CU_ASSERT_PTR_NULL(l);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, XB_SERVER_KEY_ENV));
    l = xb_listener_new(g_curve.endpoint, "curvy", NULL, test_handler, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(xb_listener_set_keys(l, g_curve_good_pub, g_curve_pub, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "secret key file"));
    CU_ASSERT_EQUAL(xb_listener_set_keys(l, g_curve_good, g_curve_pub, &err), 0);
    xb_listener_destroy(&l);
}

static const xbt_test_t listener_curve_tests[] = {
    {"XMLBUS_KEY: the listener connects with CURVE", test_curve_listener_connects},
    {"a key the pump refuses gets no READY through", test_curve_listener_refused},
    {"one key only, a public file as own key: refused", test_curve_listener_bad_keys},
    {NULL, NULL},
};

XBT_SUITES({"listener runtime", listener_init, listener_clean, NULL, NULL, listener_runtime_tests},
           {"listener processes", listener_init, listener_clean, NULL, NULL,
            listener_processes_tests},
           {"listener curve", curve_init, curve_clean, NULL, NULL, listener_curve_tests});
