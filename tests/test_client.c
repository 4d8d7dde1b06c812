/* Tests of bus/client.c and of the `xmlbus` command against a fake pump: a
 * ROUTER socket in a thread of this test that speaks the client half of
 * docs/protocol.md with raw ZeroMQ calls (an implementation independent of
 * bus/wire.c). What it answers depends on the message it gets:
 *
 *   SEND body contains   answer
 *   <accept/>            ACCEPTED (thread ACCEPT_THREAD)
 *   <reject/>            REJECTED with a routing SystemError
 *   <reject-nul/>        REJECTED whose envelope frame holds a NUL byte
 *   <deliver-first/>     DELIVER (greeting-reply), then ACCEPTED
 *   <converse/>          ACCEPTED, then DELIVER from greeter and from shouter
 *   <error-back/>        ACCEPTED, then DELIVER of a schema SystemError
 *   <hold/>              nothing until the next request, which first gets a
 *                        late ACCEPTED (thread HELD_THREAD) for the held one
 *   <garbage/>           ERROR SEND
 *   <huge-count/>        HISTORY-OK and REPLY with huge counts, then ACCEPTED
 *   <silent/>            nothing at all
 *   CONTROL threads / stats / backend-info / history X / memory X / ping: RESULT ok
 *   CONTROL shutdown: RESULT ok <stopping/>; CONTROL fail: RESULT error;
 *   CONTROL fake-quit: RESULT ok and the fake ends.
 *
 * The last tests run the real `xmlbus run` (with a one-listener organism and
 * no listener process) for the config error, ping and stop paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <zmq.h>

#include "xmlbus/client.h"
#include "xmlbus/error.h"
#include "xbt.h"
#include "xbt_main.h"
#include "xbt_port.h"

extern char **environ;

#define ACCEPT_THREAD "11111111-1111-4111-8111-111111111111"
#define HELD_THREAD "22222222-2222-4222-8222-222222222222"
#define CONVERSE_THREAD "33333333-3333-4333-8333-333333333333"
#define MSG_ID "44444444-4444-4444-8444-444444444444"
#define ENV_NS "https://xml-pipeline.org/ns/envelope/v1"
#define LONG_WAIT_MS 20000 /* answers that must come: generous for a loaded box */

/* ---- the fake pump -------------------------------------------------------- */

#define MAX_FRAMES 16

typedef struct {
    char *data[MAX_FRAMES];
    size_t len[MAX_FRAMES];
    size_t n;
} parts_t;

typedef struct {
    void *ctx;
    void *router;
    char endpoint[256];
    pthread_t thread;
    pthread_mutex_t lock;
    char last_to[64], last_from[64]; /* of the last SEND, under lock */
    char held_id[32];                /* request id of a <hold/> */
    char held_peer[256];
    size_t held_peer_len;
    int count_errors; /* ERRORs about HISTORY-OK or REPLY received, under lock */
} fake_t;

static void parts_free(parts_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->data[i]);
    p->n = 0;
}

static int recv_parts(void *sock, parts_t *p)
{
    p->n = 0;
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            parts_free(p);
            return -1;
        }
        if (p->n < MAX_FRAMES) {
            size_t len = zmq_msg_size(&m);
            p->data[p->n] = malloc(len + 1);
            memcpy(p->data[p->n], zmq_msg_data(&m), len);
            p->data[p->n][len] = '\0';
            p->len[p->n++] = len;
        }
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return 0;
}

/* Sends the peer id then the NULL-terminated list of string frames. */
static void send_to(void *sock, const char *peer, size_t peer_len, ...)
{
    va_list ap;
    const char *frames[MAX_FRAMES];
    size_t n = 0;
    va_start(ap, peer_len);
    for (const char *s; (s = va_arg(ap, const char *)) && n < MAX_FRAMES;)
        frames[n++] = s;
    va_end(ap);
    zmq_send(sock, peer, peer_len, ZMQ_SNDMORE);
    for (size_t i = 0; i < n; i++)
        zmq_send(sock, frames[i], strlen(frames[i]), i + 1 < n ? ZMQ_SNDMORE : 0);
}

static char *envelope(const char *from, const char *thread, const char *payload)
{
    size_t cap = strlen(payload) + 512;
    char *s = malloc(cap);
    snprintf(s, cap,
             "<message xmlns=\"" ENV_NS "\">\n  <meta>\n    <from>%s</from>\n"
             "    <to>console</to>\n    <thread>%s</thread>\n  </meta>\n  %s\n</message>",
             from, thread, payload);
    return s;
}

#define REPLY_PAYLOAD "<greeting-reply xmlns=\"\"><text>Hello, World!</text></greeting-reply>"
#define SHOUT_PAYLOAD "<shout xmlns=\"\">\n    <text>HELLO</text>\n  </shout>"
#define ROUTING_ERROR                                                                 \
    "<SystemError xmlns=\"\"><code>routing</code><message>no listener named 'nobody'" \
    "</message><retry-allowed>false</retry-allowed></SystemError>"
/* A rejection envelope frame with a NUL byte inside, then more bytes. */
#define NUL_ENVELOPE "<message xmlns=\"" ENV_NS "\"/>\0<after-the-nul-byte/>"
#define SCHEMA_ERROR                                                                 \
    "<SystemError xmlns=\"\"><code>schema</code><message>element name: not expected" \
    "</message><retry-allowed>false</retry-allowed></SystemError>"

static void deliver(fake_t *f, const parts_t *p, const char *from, const char *payload)
{
    char *env = envelope(from, ACCEPT_THREAD, payload);
    send_to(f->router, p->data[0], p->len[0], "XB1", "DELIVER", "d1", env, NULL);
    free(env);
}

static void on_send(fake_t *f, const parts_t *p)
{
    const char *peer = p->data[0], *id = p->data[3], *body = p->data[4];
    size_t plen = p->len[0];
    pthread_mutex_lock(&f->lock);
    snprintf(f->last_to, sizeof f->last_to, "%s", p->data[5]);
    snprintf(f->last_from, sizeof f->last_from, "%s", p->data[6]);
    pthread_mutex_unlock(&f->lock);
    if (strstr(body, "<accept/>")) {
        send_to(f->router, peer, plen, "XB1", "ACCEPTED", id, ACCEPT_THREAD, MSG_ID, NULL);
    } else if (strstr(body, "<reject/>")) {
        char *env = envelope("system", ACCEPT_THREAD, ROUTING_ERROR);
        send_to(f->router, peer, plen, "XB1", "REJECTED", id, env, NULL);
        free(env);
    } else if (strstr(body, "<reject-nul/>")) {
        zmq_send(f->router, peer, plen, ZMQ_SNDMORE);
        zmq_send(f->router, "XB1", 3, ZMQ_SNDMORE);
        zmq_send(f->router, "REJECTED", 8, ZMQ_SNDMORE);
        zmq_send(f->router, id, strlen(id), ZMQ_SNDMORE);
        zmq_send(f->router, NUL_ENVELOPE, sizeof NUL_ENVELOPE - 1, 0);
    } else if (strstr(body, "<deliver-first/>")) {
        deliver(f, p, "greeter", REPLY_PAYLOAD);
        send_to(f->router, peer, plen, "XB1", "ACCEPTED", id, ACCEPT_THREAD, MSG_ID, NULL);
    } else if (strstr(body, "<converse/>")) {
        send_to(f->router, peer, plen, "XB1", "ACCEPTED", id, CONVERSE_THREAD, MSG_ID, NULL);
        deliver(f, p, "greeter", REPLY_PAYLOAD);
        deliver(f, p, "shouter", SHOUT_PAYLOAD);
    } else if (strstr(body, "<error-back/>")) {
        send_to(f->router, peer, plen, "XB1", "ACCEPTED", id, ACCEPT_THREAD, MSG_ID, NULL);
        deliver(f, p, "system", SCHEMA_ERROR);
    } else if (strstr(body, "<hold/>")) {
        snprintf(f->held_id, sizeof f->held_id, "%s", id);
        memcpy(f->held_peer, peer, plen < sizeof f->held_peer ? plen : sizeof f->held_peer);
        f->held_peer_len = plen < sizeof f->held_peer ? plen : sizeof f->held_peer;
    } else if (strstr(body, "<huge-count/>")) {
        static const char *const huge[] = {"9223372036854775808", "18446744073709551615",
                                           "9223372036854775807", "99999999999999999999"};
        for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++)
            send_to(f->router, peer, plen, "XB1", "HISTORY-OK", id, huge[i], "s", NULL);
        send_to(f->router, peer, plen, "XB1", "REPLY", "d1", huge[1], "^", "<a/>", NULL);
        send_to(f->router, peer, plen, "XB1", "ACCEPTED", id, ACCEPT_THREAD, MSG_ID, NULL);
    } else if (strstr(body, "<garbage/>")) {
        send_to(f->router, peer, plen, "XB1", "ERROR", "SEND", "cannot read it", NULL);
    }
    /* <silent/> and anything else: no answer */
}

#define THREADS_BODY                                                                  \
    "<threads><thread uuid=\"" ACCEPT_THREAD "\" chain=\"system.hello.c-1.console\" " \
    "slots=\"2\" last-activity-us=\"1764000000000000\" extra=\"x\"/></threads>"
#define STATS_BODY                                                                    \
    "<stats uptime-s=\"12\" routed=\"7\"><listener name=\"greeter\" delivered=\"5\" " \
    "responded=\"4\" in-flight=\"1\" restarts=\"0\" queued=\"0\">"                    \
    "<error code=\"routing\" count=\"2\"/></listener></stats>"
#define BACKEND_BODY                                                                       \
    "<backend type=\"memory\" ping=\"ok\" threads=\"3\" registry-entries=\"3\" ttl=\"0\" " \
    "server-version=\"\" location=\"\"/>"

#define MEMORY_BODY                                                                   \
    "<memory thread=\"" ACCEPT_THREAD "\" conversation=\"system.analyze.c-1\">"       \
    "<entry name=\"plan\"><plan xmlns=\"urn:p\">\n  <step n=\"1\"/>\n</plan></entry>" \
    "<entry name=\"tagline\"><tagline>Hi &amp; bye</tagline></entry></memory>"
#define EMPTY_THREAD "5b0d1c2e-0000-4000-8000-00000000e0e0"

/* Returns false when the fake must stop. */
static bool on_control(fake_t *f, const parts_t *p)
{
    const char *peer = p->data[0], *id = p->data[3], *verb = p->data[4];
    size_t plen = p->len[0];
    char body[1024];
    if (strcmp(verb, "threads") == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok", THREADS_BODY, NULL);
    } else if (strcmp(verb, "stats") == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok", STATS_BODY, NULL);
    } else if (strcmp(verb, "backend-info") == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok", BACKEND_BODY, NULL);
    } else if (strcmp(verb, "history") == 0 && p->n > 5 && strcmp(p->data[5], ACCEPT_THREAD) == 0) {
        snprintf(body, sizeof body,
                 "<history thread=\"%s\"><slot index=\"0\" from=\"console\" to=\"greeter\" "
                 "type=\"greeting\" ts=\"1764000000000000\" id=\"" MSG_ID "\">"
                 "<greeting><name>World</name></greeting></slot></history>",
                 p->data[5]);
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok", body, NULL);
    } else if (strcmp(verb, "history") == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "error", "unknown thread", NULL);
    } else if (strcmp(verb, "memory") == 0 && p->n > 5 && strcmp(p->data[5], ACCEPT_THREAD) == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok", MEMORY_BODY, NULL);
    } else if (strcmp(verb, "memory") == 0 && p->n > 5 && strcmp(p->data[5], EMPTY_THREAD) == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok",
                "<memory thread=\"" EMPTY_THREAD "\" conversation=\"c\"/>", NULL);
    } else if (strcmp(verb, "memory") == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "error", "unknown thread", NULL);
    } else if (strcmp(verb, "deliver-first") == 0) {
        deliver(f, p, "greeter", REPLY_PAYLOAD);
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok", "<pong/>", NULL);
    } else if (strcmp(verb, "flood") == 0) { /* fills the client's receive queue */
        for (int i = 0; i < XB_CLIENT_QUEUE_MAX; i++)
            deliver(f, p, "greeter", REPLY_PAYLOAD);
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok", "<pong/>", NULL);
    } else if (strcmp(verb, "fail") == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "error", "it failed on purpose", NULL);
    } else if (strcmp(verb, "shutdown") == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok", "<stopping/>\n", NULL);
    } else if (strcmp(verb, "ping") == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok", "", NULL);
    } else if (strcmp(verb, "fake-quit") == 0) {
        send_to(f->router, peer, plen, "XB1", "RESULT", id, "ok", "", NULL);
        return false;
    }
    return true;
}

static void *fake_main(void *arg)
{
    fake_t *f = arg;
    for (;;) {
        parts_t p;
        if (recv_parts(f->router, &p) != 0)
            break;
        bool go_on = true;
        if (p.n >= 4 && f->held_id[0]) { /* the late answer to a held request */
            send_to(f->router, f->held_peer, f->held_peer_len, "XB1", "ACCEPTED", f->held_id,
                    HELD_THREAD, MSG_ID, NULL);
            f->held_id[0] = '\0';
        }
        if (p.n >= 7 && strcmp(p.data[1], "XB1") == 0 && strcmp(p.data[2], "SEND") == 0)
            on_send(f, &p);
        else if (p.n >= 5 && strcmp(p.data[1], "XB1") == 0 && strcmp(p.data[2], "CONTROL") == 0)
            go_on = on_control(f, &p);
        else if (p.n == 5 && strcmp(p.data[1], "XB1") == 0 && strcmp(p.data[2], "ERROR") == 0 &&
                 (strcmp(p.data[3], "HISTORY-OK") == 0 || strcmp(p.data[3], "REPLY") == 0)) {
            pthread_mutex_lock(&f->lock);
            f->count_errors++;
            pthread_mutex_unlock(&f->lock);
        }
        parts_free(&p);
        if (!go_on)
            break;
    }
    return NULL;
}

/* Starts a fake pump on endpoint ("inproc://..." or "tcp://127.0.0.1:*"). */
static fake_t *fake_start(void *ctx, const char *endpoint)
{
    fake_t *f = calloc(1, sizeof *f);
    f->ctx = ctx;
    pthread_mutex_init(&f->lock, NULL);
    f->router = zmq_socket(ctx, ZMQ_ROUTER);
    int linger = 1000, no_hwm = 0; /* "flood" sends more than a default queue holds */
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(f->router, ZMQ_SNDHWM, &no_hwm, sizeof no_hwm);
    if (zmq_bind(f->router, endpoint) != 0) {
        fprintf(stderr, "fake pump: bind %s: %s\n", endpoint, zmq_strerror(errno));
        abort();
    }
    size_t len = sizeof f->endpoint;
    zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len);
    pthread_create(&f->thread, NULL, fake_main, f);
    return f;
}

static void fake_stop(fake_t *f)
{
    /* Runs in a suite clean-up, outside any test: no CU_ASSERT here. */
    xb_client_t *c = xb_client_new(f->endpoint, f->ctx, NULL);
    if (!c || xb_client_control(c, "fake-quit", NULL, 0, LONG_WAIT_MS, NULL, NULL) != 0) {
        fprintf(stderr, "fake pump: cannot stop it\n");
        abort();
    }
    xb_client_destroy(&c);
    pthread_join(f->thread, NULL);
    zmq_close(f->router);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* ---- the client API against the fake over inproc -------------------------- */

static void *g_ctx;
static fake_t *g_fake;

static int api_init(void)
{
    g_ctx = zmq_ctx_new();
    if (!g_ctx)
        return -1;
    g_fake = fake_start(g_ctx, "inproc://fake-pump");
    return 0;
}

static int api_clean(void)
{
    fake_stop(g_fake);
    zmq_ctx_term(g_ctx);
    return 0;
}

static xb_client_t *api_client(void)
{
    xb_error_t err;
    xb_client_t *c = xb_client_new("inproc://fake-pump", g_ctx, &err);
    CU_ASSERT_PTR_NOT_NULL(c);
    return c;
}

static int send_str(xb_client_t *c, const char *body, int timeout_ms, char *thread, xb_error_t *err)
{
    char msgid[XB_UUID_STR];
    return xb_client_send(c, body, strlen(body), NULL, NULL, timeout_ms, thread, msgid, err);
}

static void test_send_accepted(void)
{
    xb_client_t *c = api_client();
    char thread[XB_UUID_STR] = "", msgid[XB_UUID_STR] = "";
    xb_error_t err;
    const char *body = "<accept/>";
    CU_ASSERT_EQUAL(xb_client_send(c, body, strlen(body), "greeter", "tester", LONG_WAIT_MS, thread,
                                   msgid, &err),
                    0);
    CU_ASSERT_STRING_EQUAL(thread, ACCEPT_THREAD);
    CU_ASSERT_STRING_EQUAL(msgid, MSG_ID);
    CU_ASSERT_PTR_NULL(xb_client_rejection(c, NULL));
    pthread_mutex_lock(&g_fake->lock);
    CU_ASSERT_STRING_EQUAL(g_fake->last_to, "greeter");
    CU_ASSERT_STRING_EQUAL(g_fake->last_from, "tester");
    pthread_mutex_unlock(&g_fake->lock);
    /* NULL to/from go out as empty frames (the pump's defaults). */
    CU_ASSERT_EQUAL(send_str(c, "<accept/>", LONG_WAIT_MS, thread, &err), 0);
    pthread_mutex_lock(&g_fake->lock);
    CU_ASSERT_STRING_EQUAL(g_fake->last_to, "");
    CU_ASSERT_STRING_EQUAL(g_fake->last_from, "");
    pthread_mutex_unlock(&g_fake->lock);
    xb_client_destroy(&c);
    CU_ASSERT_PTR_NULL(c);
}

static void test_send_rejected(void)
{
    xb_client_t *c = api_client();
    char thread[XB_UUID_STR] = "";
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(send_str(c, "<reject/>", LONG_WAIT_MS, thread, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ROUTING);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no listener named 'nobody'"));
    size_t len = 0;
    const char *env = xb_client_rejection(c, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    CU_ASSERT_EQUAL(len, strlen(env));
    CU_ASSERT_PTR_NOT_NULL(strstr(env, "<SystemError"));
    /* The next send clears it. */
    CU_ASSERT_EQUAL(send_str(c, "<accept/>", LONG_WAIT_MS, thread, &err), 0);
    CU_ASSERT_PTR_NULL(xb_client_rejection(c, NULL));
    xb_client_destroy(&c);
}

/* The rejection keeps every byte of its frame, a NUL among them. */
static void test_send_rejected_nul(void)
{
    xb_client_t *c = api_client();
    char thread[XB_UUID_STR] = "";
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(send_str(c, "<reject-nul/>", LONG_WAIT_MS, thread, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ENVELOPE);
    size_t len = 0;
    const char *env = xb_client_rejection(c, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    CU_ASSERT_EQUAL_FATAL(len, sizeof NUL_ENVELOPE - 1);
    CU_ASSERT_EQUAL(memcmp(env, NUL_ENVELOPE, len), 0);
    CU_ASSERT_EQUAL(env[len], '\0');
    xb_client_destroy(&c);
}

static void test_deliver_before_accepted_is_queued(void)
{
    xb_client_t *c = api_client();
    char thread[XB_UUID_STR] = "";
    xb_error_t err;
    CU_ASSERT_EQUAL(send_str(c, "<deliver-first/>", LONG_WAIT_MS, thread, &err), 0);
    CU_ASSERT_STRING_EQUAL(thread, ACCEPT_THREAD);
    /* Timeout 0: only what already arrived, i.e. what the send queued. */
    char *env = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(xb_client_recv(c, 0, &env, &len, &err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    CU_ASSERT_EQUAL(len, strlen(env));
    CU_ASSERT_PTR_NOT_NULL(strstr(env, "Hello, World!"));
    CU_ASSERT_EQUAL(xb_client_system_error(env, len, NULL, NULL, 0), 0);
    free(env);
    CU_ASSERT_EQUAL(xb_client_recv(c, 0, &env, &len, &err), 1);
    CU_ASSERT_PTR_NULL(env);
    /* Same during a CONTROL request. */
    char *body = NULL;
    CU_ASSERT_EQUAL(xb_client_control(c, "deliver-first", NULL, 0, LONG_WAIT_MS, &body, &err), 0);
    CU_ASSERT_STRING_EQUAL(body, "<pong/>");
    free(body);
    CU_ASSERT_EQUAL(xb_client_recv(c, 0, &env, &len, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(env);
    free(env);
    CU_ASSERT_EQUAL(xb_client_dropped(c), 0);
    xb_client_destroy(&c);
}

/* A caller that does not read: once its receive queue is full, send and
 * post refuse with limit and send nothing; one read makes room again. */
static void test_full_queue_refuses(void)
{
    xb_client_t *c = api_client();
    xb_error_t err;
    char *body = NULL;
    CU_ASSERT_EQUAL_FATAL(xb_client_control(c, "flood", NULL, 0, LONG_WAIT_MS, &body, &err), 0);
    free(body);
    CU_ASSERT_EQUAL(xb_client_dropped(c), 0);
    unsigned long posted = 0;
    CU_ASSERT_EQUAL(xb_client_post(c, "<accept/>", 9, NULL, NULL, 1000, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    xb_client_post_counts(c, &posted, NULL, NULL);
    CU_ASSERT_EQUAL(posted, 0);
    char thread[XB_UUID_STR] = "";
    CU_ASSERT_EQUAL(send_str(c, "<accept/>", LONG_WAIT_MS, thread, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_LIMIT);
    char *env = NULL;
    CU_ASSERT_EQUAL(xb_client_recv(c, 0, &env, NULL, &err), 0);
    free(env);
    CU_ASSERT_EQUAL(send_str(c, "<accept/>", LONG_WAIT_MS, thread, &err), 0);
    CU_ASSERT_STRING_EQUAL(thread, ACCEPT_THREAD);
    CU_ASSERT_EQUAL(xb_client_dropped(c), 0);
    xb_client_destroy(&c);
}

static void test_recv_waits_for_deliver(void)
{
    xb_client_t *c = api_client();
    char thread[XB_UUID_STR] = "";
    xb_error_t err;
    CU_ASSERT_EQUAL(send_str(c, "<error-back/>", LONG_WAIT_MS, thread, &err), 0);
    char *env = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL(xb_client_recv(c, LONG_WAIT_MS, &env, &len, &err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    xb_code_t code = XB_OK;
    char msg[128] = "";
    CU_ASSERT_EQUAL(xb_client_system_error(env, len, &code, msg, sizeof msg), 1);
    CU_ASSERT_EQUAL(code, XB_ERR_SCHEMA);
    CU_ASSERT_STRING_EQUAL(msg, "element name: not expected");
    free(env);
    xb_client_destroy(&c);
}

static void test_control_ok_and_error(void)
{
    xb_client_t *c = api_client();
    xb_error_t err;
    char *body = NULL;
    const char *args[] = {ACCEPT_THREAD};
    CU_ASSERT_EQUAL(xb_client_control(c, "history", args, 1, LONG_WAIT_MS, &body, &err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "<history thread=\"" ACCEPT_THREAD "\""));
    free(body);
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(xb_client_control(c, "fail", NULL, 0, LONG_WAIT_MS, &body, &err), -1);
    CU_ASSERT_PTR_NULL(body);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "it failed on purpose"));
    xb_client_destroy(&c);
}

static void test_pump_error_answer(void)
{
    xb_client_t *c = api_client();
    char thread[XB_UUID_STR];
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(send_str(c, "<garbage/>", LONG_WAIT_MS, thread, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "cannot read it"));
    xb_client_destroy(&c);
}

static int count_errors(fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->count_errors;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* A hostile pump announces huge counts (the old `5 + 2 * n` check overflowed
 * on them): the client answers each with ERROR, queues nothing, and still
 * takes the ACCEPTED that follows. */
static void test_huge_count_refused(void)
{
    xb_client_t *c = api_client();
    char thread[XB_UUID_STR] = "";
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(send_str(c, "<huge-count/>", LONG_WAIT_MS, thread, &err), 0);
    CU_ASSERT_STRING_EQUAL(thread, ACCEPT_THREAD);
    int n = 0;
    XBT_WAIT_UNTIL((n = count_errors(g_fake)) >= 5, LONG_WAIT_MS);
    CU_ASSERT_EQUAL(n, 5);
    char *env = NULL;
    CU_ASSERT_EQUAL(xb_client_recv(c, 0, &env, NULL, &err), 1);
    CU_ASSERT_PTR_NULL(env);
    xb_client_destroy(&c);
}

static void test_timeout_and_late_answer(void)
{
    xb_client_t *c = api_client();
    char thread[XB_UUID_STR] = "";
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(send_str(c, "<silent/>", 100, thread, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_TIMEOUT);
    /* The held request is answered only when the next one arrives: the late
     * ACCEPTED must not be taken for the answer to the new request. */
    CU_ASSERT_EQUAL(send_str(c, "<hold/>", 100, thread, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_TIMEOUT);
    CU_ASSERT_EQUAL(send_str(c, "<accept/>", LONG_WAIT_MS, thread, &err), 0);
    CU_ASSERT_STRING_EQUAL(thread, ACCEPT_THREAD);
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(xb_client_control(c, "no-such-verb", NULL, 0, 100, NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_TIMEOUT);
    char *env = NULL;
    CU_ASSERT_EQUAL(xb_client_recv(c, 50, &env, NULL, &err), 1);
    CU_ASSERT_PTR_NULL(env);
    xb_client_destroy(&c);
}

static void test_nobody_listens(void)
{
    char ep[64];
    int port = xbt_free_port();
    CU_ASSERT_FATAL(port > 0);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    xb_error_t err;
    xb_client_t *c = xb_client_new(ep, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(xb_client_endpoint(c), ep);
    char thread[XB_UUID_STR];
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(send_str(c, "<accept/>", 200, thread, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_TIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, ep));
    CU_ASSERT_EQUAL(xb_client_control(c, "ping", NULL, 0, 200, NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_TIMEOUT);
    xb_client_destroy(&c); /* linger 0: returns at once despite the queued requests */
}

static void test_bad_arguments(void)
{
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_PTR_NULL(xb_client_new(NULL, NULL, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NULL(xb_client_new("nonsense://x", NULL, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    xb_client_t *c = api_client();
    char thread[XB_UUID_STR];
    CU_ASSERT_EQUAL(xb_client_send(c, NULL, 0, NULL, NULL, 10, thread, NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(xb_client_control(c, "", NULL, 0, 10, NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_EQUAL(xb_client_recv(c, 0, NULL, NULL, &err), -1);
    xb_client_destroy(&c);
    xb_client_destroy(&c); /* NULL is fine */
    xb_client_destroy(NULL);
}

static void test_system_error_reader(void)
{
    xb_code_t code = XB_OK;
    char msg[64];
    const char *not_xml = "<message";
    CU_ASSERT_EQUAL(xb_client_system_error(not_xml, strlen(not_xml), &code, msg, sizeof msg), -1);
    const char *no_env = "<greeting/>";
    CU_ASSERT_EQUAL(xb_client_system_error(no_env, strlen(no_env), &code, msg, sizeof msg), -1);
    const char *dtd = "<!DOCTYPE message []><message xmlns=\"" ENV_NS "\"><meta/>"
                      "<SystemError><code>parse</code></SystemError></message>";
    CU_ASSERT_EQUAL(xb_client_system_error(dtd, strlen(dtd), &code, msg, sizeof msg), -1);
    /* Prefixed envelope namespace, unknown code -> envelope. */
    const char *odd = "<e:message xmlns:e=\"" ENV_NS "\"><e:meta/><SystemError>"
                      "<code>weird</code><message>m</message></SystemError></e:message>";
    CU_ASSERT_EQUAL(xb_client_system_error(odd, strlen(odd), &code, msg, sizeof msg), 1);
    CU_ASSERT_EQUAL(code, XB_ERR_ENVELOPE);
    CU_ASSERT_STRING_EQUAL(msg, "m");
}

/* ---- the xmlbus binary ---------------------------------------------------- */

typedef struct {
    int status; /* exit code, or 128 + signal */
    char *out, *err;
} run_t;

/* The file's text, "" when it cannot be read (caller frees). */
static char *slurp(const char *path)
{
    char *s = xbt_read_file(path, NULL);
    return s ? s : strdup("");
}

static char g_tmp[256];

/* Starts build/bin/xmlbus with args (NULL-terminated), stdin from
 * /dev/null, stdout and stderr into g_tmp/TAG.out and g_tmp/TAG.err. */
static pid_t spawn_xmlbus(const char *const *args, const char *tag)
{
    char bin[1024], out[512], err[512];
    snprintf(bin, sizeof bin, "%s/xmlbus", XB_BIN_DIR);
    snprintf(out, sizeof out, "%s/%s.out", g_tmp, tag);
    snprintf(err, sizeof err, "%s/%s.err", g_tmp, tag);
    char *argv[32];
    size_t n = 0;
    argv[n++] = bin;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

/* Waits for pid (killing it after a minute: a hang is a failure) and
 * collects its exit code and output. */
static run_t finish_xmlbus(pid_t pid, const char *tag)
{
    run_t r = {.status = -1};
    int status = xbt_wait_exit(pid, 60000);
    if (status >= 0)
        r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.out", g_tmp, tag);
    r.out = slurp(path);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s.err", g_tmp, tag);
    r.err = slurp(path);
    unlink(path);
    return r;
}

/* Runs xmlbus to its end. */
static run_t run_xmlbus(const char *const *args)
{
    pid_t pid = spawn_xmlbus(args, "cmd");
    CU_ASSERT_FATAL(pid > 0);
    return finish_xmlbus(pid, "cmd");
}

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", g_tmp, name);
    CU_ASSERT_EQUAL_FATAL(xbt_write_file(g_tmp, name, text), 0);
}

static void *g_cli_ctx;
static fake_t *g_cli_fake;

static int cli_init(void)
{
    if (xbt_tmpdir_make(g_tmp, sizeof g_tmp, "test-client") != 0)
        return -1;
    unsetenv("XMLBUS_ENDPOINT");
    g_cli_ctx = zmq_ctx_new();
    g_cli_fake = fake_start(g_cli_ctx, "tcp://127.0.0.1:*");
    return 0;
}

static int cli_clean(void)
{
    fake_stop(g_cli_fake);
    zmq_ctx_term(g_cli_ctx);
    xbt_rmtree(g_tmp);
    return 0;
}

static void test_cli_help(void)
{
    const char *verbs[] = {"run",     "send", "threads", "history", "memory",   "stats",
                           "backend", "ping", "stop",    "check",   "envelope", NULL};
    for (size_t i = 0; verbs[i]; i++) {
        const char *args[] = {verbs[i], "--help", NULL};
        run_t r = run_xmlbus(args);
        char want[64];
        snprintf(want, sizeof want, "xmlbus %s", verbs[i]);
        CU_ASSERT_EQUAL(r.status, 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "usage"));
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
        if (r.status != 0 || !strstr(r.out, want))
            fprintf(stderr, "\n%s --help: exit %d\n%s%s", verbs[i], r.status, r.out, r.err);
        run_free(&r);
    }
    const char *top[] = {"--help", NULL};
    run_t r = run_xmlbus(top);
    CU_ASSERT_EQUAL(r.status, 0);
    for (size_t i = 0; verbs[i]; i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(r.out, verbs[i]));
    run_free(&r);
    const char *version[] = {"--version", NULL};
    r = run_xmlbus(version);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "xmlbus "));
    run_free(&r);
}

static void test_cli_usage_errors(void)
{
    const char *unknown[] = {"frobnicate", NULL};
    run_t r = run_xmlbus(unknown);
    CU_ASSERT_EQUAL(r.status, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "unknown verb 'frobnicate'"));
    run_free(&r);
    const char *none[] = {NULL};
    r = run_xmlbus(none);
    CU_ASSERT_EQUAL(r.status, 2);
    run_free(&r);
    const char *bad[][5] = {
        {"send", NULL},                               /* no FILE */
        {"send", "--count", "0", "x.xml", NULL},      /* bad count */
        {"send", "--timeout", "soon", "x.xml", NULL}, /* bad timeout */
        {"threads", "--bogus", NULL},                 /* unknown option */
        {"history", NULL},                            /* no THREAD */
        {"memory", NULL},                             /* no THREAD */
        {"memory", "a", "b", NULL},                   /* two */
        {"backend", NULL},                            /* no subcommand */
        {"backend", "frob", NULL},
        {"stats", "--log-level", "loud", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = run_xmlbus(bad[i]);
        CU_ASSERT_EQUAL(r.status, 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "usage: xmlbus"));
        if (r.status != 2)
            fprintf(stderr, "\ncase %zu (%s): exit %d\n%s", i, bad[i][0], r.status, r.err);
        run_free(&r);
    }
}

static void test_cli_send_nobody_listens(void)
{
    char ep[64], file[512];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", xbt_free_port());
    write_file("accept.xml", "<accept/>\n", file, sizeof file);
    const char *args[] = {"send", "-e", ep, "--timeout", "1", file, NULL};
    run_t r = run_xmlbus(args);
    CU_ASSERT_EQUAL(r.status, 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "no answer from the pump"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, ep));
    CU_ASSERT_STRING_EQUAL(r.out, "");
    run_free(&r);
}

static void test_cli_send_wait(void)
{
    char file[512];
    write_file("converse.xml", "<converse/>\n", file, sizeof file);
    const char *args[] = {"send",    "-e", g_cli_fake->endpoint, "--wait",
                          "--count", "2",  "--timeout",          "30",
                          file,      NULL};
    run_t r = run_xmlbus(args);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, CONVERSE_THREAD
                           "\n"
                           "from greeter: <greeting-reply><text>Hello, World!</text>"
                           "</greeting-reply>\n"
                           "from shouter: <shout> <text>HELLO</text> </shout>\n");
    run_free(&r);
    /* Without --count the wait ends once the conversation is quiet. */
    const char *idle[] = {"send", "-e", g_cli_fake->endpoint, "--wait", "--timeout", "30",
                          file,   NULL};
    r = run_xmlbus(idle);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "from greeter: "));
    run_free(&r);
    /* No wait: only the thread. */
    const char *plain[] = {"send", "-e", g_cli_fake->endpoint, file, NULL};
    r = run_xmlbus(plain);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, CONVERSE_THREAD "\n");
    run_free(&r);
    /* An empty stdin is refused before anything is sent. */
    const char *empty[] = {"send", "-e", g_cli_fake->endpoint, "-", NULL};
    r = run_xmlbus(empty);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "stdin is empty"));
    run_free(&r);
}

static void test_cli_send_errors(void)
{
    char file[512];
    write_file("error.xml", "<error-back/>", file, sizeof file);
    const char *args[] = {"send", "-e", g_cli_fake->endpoint, "--count", "1", "--timeout", "30",
                          file,   NULL};
    run_t r = run_xmlbus(args);
    CU_ASSERT_EQUAL(r.status, 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "from system: <SystemError><code>schema</code>"));
    run_free(&r);
    write_file("reject.xml", "<reject/>", file, sizeof file);
    const char *rej[] = {"send", "-e", g_cli_fake->endpoint, "--timeout", "30", file, NULL};
    r = run_xmlbus(rej);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "refused the message (routing)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "no listener named 'nobody'"));
    CU_ASSERT_STRING_EQUAL(r.out, "");
    run_free(&r);
    /* Fewer messages than --count: timeout. */
    write_file("accept.xml", "<accept/>", file, sizeof file);
    const char *few[] = {"send", "-e", g_cli_fake->endpoint, "--count", "1", "--timeout", "1",
                         file,   NULL};
    r = run_xmlbus(few);
    CU_ASSERT_EQUAL(r.status, 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "0 of 1 messages"));
    run_free(&r);
    const char *missing[] = {"send", "-e", g_cli_fake->endpoint, "/nonexistent/x.xml", NULL};
    r = run_xmlbus(missing);
    CU_ASSERT_EQUAL(r.status, 1);
    run_free(&r);
}

/* memory THREAD: a header line, then NAME: <element/> per entry, each
 * element on one line; --xml the answer as it is; an error RESULT exit 1. */
static void test_cli_memory(void)
{
    const char *ep = g_cli_fake->endpoint;
    const char *memory[] = {"memory", "-e", ep, ACCEPT_THREAD, NULL};
    run_t r = run_xmlbus(memory);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out,
                           "thread " ACCEPT_THREAD " conversation system.analyze.c-1: 2 entries\n"
                           "plan: <plan xmlns=\"urn:p\"> <step n=\"1\"/> </plan>\n"
                           "tagline: <tagline>Hi &amp; bye</tagline>\n");
    run_free(&r);
    const char *empty[] = {"memory", "-e", ep, EMPTY_THREAD, NULL};
    r = run_xmlbus(empty);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "thread " EMPTY_THREAD " conversation c: 0 entries\n");
    run_free(&r);
    const char *xml[] = {"memory", "--xml", "-e", ep, ACCEPT_THREAD, NULL};
    r = run_xmlbus(xml);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, MEMORY_BODY "\n");
    run_free(&r);
    const char *unknown[] = {"memory", "-e", ep, "nope", NULL};
    r = run_xmlbus(unknown);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_STRING_EQUAL(r.out, "");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "xmlbus memory: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "unknown thread"));
    run_free(&r);
}

static void test_cli_control_verbs(void)
{
    const char *ep = g_cli_fake->endpoint;
    const char *threads[] = {"threads", "-e", ep, NULL};
    run_t r = run_xmlbus(threads);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "UUID"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, ACCEPT_THREAD));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "system.hello.c-1.console"));
    run_free(&r);
    const char *quiet[] = {"threads", "-q", "-e", ep, NULL};
    r = run_xmlbus(quiet);
    CU_ASSERT_STRING_EQUAL(r.out, ACCEPT_THREAD "\n");
    run_free(&r);
    const char *history[] = {"history", "-e", ep, ACCEPT_THREAD, NULL};
    r = run_xmlbus(history);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "#0 "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "console -> greeter greeting"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "<greeting><name>World</name></greeting>"));
    run_free(&r);
    const char *unknown[] = {"history", "-e", ep, "nope", NULL};
    r = run_xmlbus(unknown);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "unknown thread"));
    run_free(&r);
    const char *stats[] = {"stats", "-e", ep, NULL};
    r = run_xmlbus(stats);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "uptime-s: 12"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "routing=2"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "greeter"));
    run_free(&r);
    const char *stats_xml[] = {"stats", "--xml", "-e", ep, NULL};
    r = run_xmlbus(stats_xml);
    CU_ASSERT_STRING_EQUAL(r.out, STATS_BODY "\n");
    run_free(&r);
    const char *backend[] = {"backend", "info", "-e", ep, NULL};
    r = run_xmlbus(backend);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "type: memory"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "ping: ok"));
    run_free(&r);
    const char *ping[] = {"ping", "-e", ep, NULL};
    r = run_xmlbus(ping);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "ok\n");
    run_free(&r);
    const char *stop[] = {"stop", "-e", ep, NULL};
    r = run_xmlbus(stop);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "ok stopping\n");
    run_free(&r);
}

static void test_cli_config_error(void)
{
    char bad[512];
    write_file("bad.yaml",
               "organism:\n  name: bad\nlisteners:\n  - name: echo\n"
               "    payload: ping\n    bogus: 1\n",
               bad, sizeof bad);
    const char *run[] = {"run", bad, NULL};
    run_t r = run_xmlbus(run);
    CU_ASSERT_EQUAL(r.status, 1);
    char want[600];
    snprintf(want, sizeof want, "%s:6:5: ", bad); /* FILE:LINE:COL of 'bogus' */
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, want));
    if (!strstr(r.err, want))
        fprintf(stderr, "\nrun bad.yaml: %s", r.err);
    run_free(&r);
    const char *send[] = {"send", "-c", bad, bad, NULL};
    r = run_xmlbus(send);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, want));
    run_free(&r);
    const char *missing[] = {"run", "/nonexistent/organism.yaml", NULL};
    r = run_xmlbus(missing);
    CU_ASSERT_EQUAL(r.status, 1);
    run_free(&r);
}

/* xmlbus run on a free port, ping, stop: the run process exits 0 and
 * removes its endpoint file. */
static void test_cli_run_ping_stop(void)
{
    char yaml[512], epfile[512];
    write_file("tiny.yaml",
               "organism:\n  name: tiny\nlisteners:\n  - name: echo\n"
               "    payload: ping\n",
               yaml, sizeof yaml);
    snprintf(epfile, sizeof epfile, "%s/endpoint", g_tmp);
    const char *run[] = {
        "run",         yaml,   "--endpoint", "tcp://127.0.0.1:*", "--endpoint-file", epfile,
        "--log-level", "warn", NULL};
    pid_t pid = spawn_xmlbus(run, "run");
    CU_ASSERT_FATAL(pid > 0);
    char ep[256] = "";
    xbt_read_endpoint_file(epfile, pid, ep, sizeof ep, 60000);
    CU_ASSERT_PTR_NOT_NULL(strstr(ep, "tcp://127.0.0.1:"));
    CU_ASSERT_PTR_NULL(strstr(ep, "*"));
    if (ep[0]) {
        const char *ping[] = {"ping", "-e", ep, "--timeout", "30", NULL};
        run_t r = run_xmlbus(ping);
        CU_ASSERT_EQUAL(r.status, 0);
        CU_ASSERT_EQUAL(strncmp(r.out, "ok", 2), 0);
        run_free(&r);
        const char *stop[] = {"stop", "-e", ep, "--timeout", "30", NULL};
        r = run_xmlbus(stop);
        CU_ASSERT_EQUAL(r.status, 0);
        run_free(&r);
    } else {
        kill(pid, SIGTERM);
    }
    run_t r = finish_xmlbus(pid, "run");
    CU_ASSERT_EQUAL(r.status, 0);
    if (r.status != 0)
        fprintf(stderr, "\nxmlbus run: exit %d\n%s", r.status, r.err);
    CU_ASSERT_EQUAL(access(epfile, F_OK), -1);
    run_free(&r);
}

static const xbt_test_t client_tests[] = {
    {"SEND -> ACCEPTED", test_send_accepted},
    {"SEND -> REJECTED with the SystemError", test_send_rejected},
    {"SEND -> REJECTED whose envelope holds a NUL byte", test_send_rejected_nul},
    {"DELIVER before ACCEPTED is queued", test_deliver_before_accepted_is_queued},
    {"recv waits for a DELIVER", test_recv_waits_for_deliver},
    {"a full receive queue refuses send and post with limit", test_full_queue_refuses},
    {"CONTROL -> RESULT ok and error", test_control_ok_and_error},
    {"ERROR from the pump", test_pump_error_answer},
    {"huge counts from the pump are refused with ERROR", test_huge_count_refused},
    {"timeout, late answer ignored", test_timeout_and_late_answer},
    {"timeout when nobody listens", test_nobody_listens},
    {"bad arguments", test_bad_arguments},
    {"SystemError reader", test_system_error_reader},
    {NULL, NULL},
};

static const xbt_test_t xmlbus_command_tests[] = {
    {"--help of every verb", test_cli_help},
    {"usage errors exit 2", test_cli_usage_errors},
    {"send: nobody listens -> 4", test_cli_send_nobody_listens},
    {"send --wait", test_cli_send_wait},
    {"send: SystemError 3, refused 1", test_cli_send_errors},
    {"threads, history, stats, backend, ping, stop", test_cli_control_verbs},
    {"memory THREAD", test_cli_memory},
    {"config errors: FILE:LINE:COL, exit 1", test_cli_config_error},
    {"run on a free port, ping, stop", test_cli_run_ping_stop},
    {NULL, NULL},
};

XBT_SUITES({"client", api_init, api_clean, NULL, NULL, client_tests},
           {"xmlbus command", cli_init, cli_clean, NULL, NULL, xmlbus_command_tests});
