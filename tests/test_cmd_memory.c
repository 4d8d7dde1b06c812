/* Tests of `xmlbus memory` (pump/cli/cmd_memory.c): the real command against
 * a fake pump, a ROUTER in a thread of the test that answers each CONTROL
 * with the RESULT the test prepared, so that the printing is checked without
 * a pump that keeps working memory. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "wire.h"
#include "xbt.h"
#include "xbt_main.h"

#define THREAD "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e"

typedef struct {
    void *ctx, *router;
    char endpoint[256];
    const char *status, *body; /* the RESULT to send */
    char verb[64], arg[128];   /* the CONTROL that came */
    atomic_int answered;
    atomic_bool stop;
    pthread_t thread;
} fake_t;

/* Answers CONTROL req VERB ARG... with RESULT req status body until stopped. */
static void *serve(void *arg)
{
    fake_t *p = arg;
    while (!atomic_load(&p->stop)) {
        zmq_pollitem_t item = {p->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 50) <= 0)
            continue;
        xb_frames_t *f = xb_frames_recv(p->router, ZMQ_DONTWAIT);
        if (!f)
            continue;
        if (xb_frames_count(f) >= 5 && xb_frames_eq(f, 2, XB_CMD_CONTROL)) {
            xb_frames_copy(f, 4, p->verb, sizeof p->verb);
            if (xb_frames_count(f) < 6 || xb_frames_copy(f, 5, p->arg, sizeof p->arg) < 0)
                p->arg[0] = '\0';
            xb_frames_t *r = xb_frames_new();
            xb_frames_add(r, xb_frames_data(f, 0), xb_frames_size(f, 0));
            xb_frames_add_str(r, XB_PROTO);
            xb_frames_add_str(r, XB_CMD_RESULT);
            xb_frames_add(r, xb_frames_data(f, 3), xb_frames_size(f, 3));
            xb_frames_add_str(r, p->status);
            xb_frames_add_str(r, p->body);
            xb_frames_send(r, p->router, 0);
            xb_frames_destroy(&r);
            atomic_fetch_add(&p->answered, 1);
        }
        xb_frames_destroy(&f);
    }
    return NULL;
}

static void fake_start(fake_t *p, const char *status, const char *body)
{
    memset(p, 0, sizeof *p);
    p->status = status;
    p->body = body;
    p->ctx = zmq_ctx_new();
    p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->router);
    int zero = 0;
    zmq_setsockopt(p->router, ZMQ_LINGER, &zero, sizeof zero);
    CU_ASSERT_EQUAL_FATAL(zmq_bind(p->router, "tcp://127.0.0.1:*"), 0);
    size_t cap = sizeof p->endpoint;
    CU_ASSERT_EQUAL_FATAL(zmq_getsockopt(p->router, ZMQ_LAST_ENDPOINT, p->endpoint, &cap), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&p->thread, NULL, serve, p), 0);
}

static void fake_stop(fake_t *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    zmq_close(p->router);
    zmq_ctx_term(p->ctx);
}

/* Runs `xmlbus ARGS` against a fake pump that answers status body; checks
 * that it asked CONTROL memory THREAD. Returns the exit code, *out its output. */
static int run_memory(const char *args, const char *status, const char *body, char **out)
{
    fake_t p;
    fake_start(&p, status, body);
    int rc = xbt_xmlbus(p.endpoint, out, args);
    fake_stop(&p);
    CU_ASSERT_EQUAL(atomic_load(&p.answered), 1);
    CU_ASSERT_STRING_EQUAL(p.verb, "memory");
    CU_ASSERT_STRING_EQUAL(p.arg, THREAD);
    if (*out && rc != 0 && rc != 1)
        fprintf(stderr, "\n  xmlbus %s: exit %d:\n%s\n", args, rc, *out);
    return rc;
}

static const char two_entries[] =
    "<memory thread=\"" THREAD "\" conversation=\"system.analyze.c-1\">"
    "<entry name=\"plan\"><plan xmlns=\"urn:p\">\n  <step n=\"1\"/>\n</plan></entry>"
    "<entry name=\"tagline\"><tagline>Hi &amp; bye</tagline></entry>"
    "</memory>";

static void test_entries(void)
{
    char *out = NULL;
    CU_ASSERT_EQUAL(run_memory("memory " THREAD, "ok", two_entries, &out), 0);
    const char *want = "thread " THREAD " conversation system.analyze.c-1: 2 entries\n"
                       "plan: <plan xmlns=\"urn:p\"> <step n=\"1\"/> </plan>\n"
                       "tagline: <tagline>Hi &amp; bye</tagline>\n";
    CU_ASSERT(out && strcmp(out, want) == 0);
    if (out && strcmp(out, want) != 0)
        fprintf(stderr, "\n  got:\n%s  want:\n%s", out, want);
    free(out);
}

static void test_no_entries(void)
{
    char *out = NULL;
    CU_ASSERT_EQUAL(run_memory("memory " THREAD, "ok",
                               "<memory thread=\"" THREAD "\" conversation=\"c\"/>", &out),
                    0);
    CU_ASSERT(out && strcmp(out, "thread " THREAD " conversation c: 0 entries\n") == 0);
    free(out);
}

static void test_xml(void)
{
    char *out = NULL;
    CU_ASSERT_EQUAL(run_memory("memory --xml " THREAD, "ok", two_entries, &out), 0);
    CU_ASSERT(out && strncmp(out, two_entries, strlen(two_entries)) == 0 &&
              strcmp(out + strlen(two_entries), "\n") == 0);
    free(out);
}

/* An error RESULT: exit 1 with the pump's message. */
static void test_error(void)
{
    char *out = NULL;
    CU_ASSERT_EQUAL(run_memory("memory " THREAD, "error", "no thread " THREAD, &out), 1);
    CU_ASSERT(out && strstr(out, "xmlbus memory: ") && strstr(out, "no thread " THREAD));
    free(out);
}

/* No THREAD, or two: usage, exit 2, nothing asked. */
static void test_usage(void)
{
    char *out = NULL;
    CU_ASSERT_EQUAL(xbt_xmlbus("tcp://127.0.0.1:1", &out, "memory"), 2);
    CU_ASSERT(out && strstr(out, "usage: xmlbus memory"));
    free(out);
    CU_ASSERT_EQUAL(xbt_xmlbus("tcp://127.0.0.1:1", &out, "memory a b"), 2);
    free(out);
    CU_ASSERT_EQUAL(xbt_xmlbus("tcp://127.0.0.1:1", &out, "memory --help"), 0);
    CU_ASSERT(out && strstr(out, "usage: xmlbus memory"));
    free(out);
}

static const xbt_test_t memory_tests[] = {
    {"entries: NAME: <element/>", test_entries},
    {"no entries", test_no_entries},
    {"--xml prints the answer as it is", test_xml},
    {"an error RESULT exits 1 with its message", test_error},
    {"usage", test_usage},
    {NULL, NULL},
};

XBT_SUITES({"xmlbus memory", NULL, NULL, NULL, NULL, memory_tests});
