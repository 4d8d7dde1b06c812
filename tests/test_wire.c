/* Tests of bus/wire.c over real ZeroMQ sockets (inproc and loopback tcp). */
#include "wire.h"
#include "xbt_main.h"
#include "xbt_wait.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static void *ctx;

/* Generous: a loaded 2-core machine may be slow, a healthy run never waits this long. */
#define RECV_TIMEOUT_MS 10000

static void *make_socket(int type)
{
    void *s = zmq_socket(ctx, type);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int linger = 0, tmo = RECV_TIMEOUT_MS;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    return s;
}

/* Binds a ROUTER on a free loopback port and copies the real endpoint. */
static void *bind_router_tcp(char *endpoint, size_t cap)
{
    void *r = make_socket(ZMQ_ROUTER);
    CU_ASSERT_EQUAL_FATAL(zmq_bind(r, "tcp://127.0.0.1:*"), 0);
    CU_ASSERT_EQUAL_FATAL(zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, endpoint, &cap), 0);
    return r;
}

static void test_accessors(void)
{
    xb_frames_t *f = xb_frames_new_cmd(XB_CMD_READY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(xb_frames_count(f), 2);
    CU_ASSERT_TRUE(xb_frames_eq(f, 0, XB_PROTO));
    CU_ASSERT_TRUE(xb_frames_eq(f, 1, "READY"));
    CU_ASSERT_FALSE(xb_frames_eq(f, 1, "READ"));
    CU_ASSERT_FALSE(xb_frames_eq(f, 1, "READYX"));
    CU_ASSERT_FALSE(xb_frames_eq(f, 2, "READY"));
    CU_ASSERT_EQUAL(xb_frames_add_str(f, "greeter"), 0);
    CU_ASSERT_EQUAL(xb_frames_addf(f, "%d", 4242), 0);
    CU_ASSERT_EQUAL(xb_frames_add(f, "a\0b", 3), 0);
    CU_ASSERT_EQUAL(xb_frames_add(f, NULL, 0), 0);
    CU_ASSERT_EQUAL(xb_frames_count(f), 6);
    CU_ASSERT_EQUAL(xb_frames_size(f, 4), 3);
    CU_ASSERT_EQUAL(memcmp(xb_frames_data(f, 4), "a\0b", 3), 0);
    CU_ASSERT_EQUAL(xb_frames_size(f, 5), 0);
    CU_ASSERT_TRUE(xb_frames_eq(f, 5, ""));
    CU_ASSERT_PTR_NULL(xb_frames_data(f, 6));
    CU_ASSERT_EQUAL(xb_frames_size(f, 6), 0);

    char *s = xb_frames_strdup(f, 2);
    CU_ASSERT_STRING_EQUAL(s, "greeter");
    free(s);
    CU_ASSERT_PTR_NULL(xb_frames_strdup(f, 9));

    char buf[8];
    CU_ASSERT_EQUAL(xb_frames_copy(f, 2, buf, sizeof buf), 7);
    CU_ASSERT_STRING_EQUAL(buf, "greeter");
    CU_ASSERT_EQUAL(xb_frames_copy(f, 2, buf, 7), -1); /* needs cap 8 */
    CU_ASSERT_STRING_EQUAL(buf, "greete");
    CU_ASSERT_EQUAL(xb_frames_copy(f, 9, buf, sizeof buf), -1);
    CU_ASSERT_STRING_EQUAL(buf, "");

    bool ok = false;
    CU_ASSERT_EQUAL(xb_frames_long(f, 3, &ok), 4242);
    CU_ASSERT_TRUE(ok);
    CU_ASSERT_EQUAL(xb_frames_long(f, 2, &ok), -1);
    CU_ASSERT_FALSE(ok);
    CU_ASSERT_EQUAL(xb_frames_long(f, 5, &ok), -1); /* empty */
    CU_ASSERT_FALSE(ok);
    CU_ASSERT_EQUAL(xb_frames_long(f, 9, &ok), -1); /* absent */
    CU_ASSERT_FALSE(ok);
    xb_frames_destroy(&f);
    CU_ASSERT_PTR_NULL(f);
    xb_frames_destroy(&f); /* NULL is fine */
}

static void test_long_strict(void)
{
    const char *bad[] = {" 1", "1 ", "+1", "-", "1x", "0x10", "99999999999999999999", "1.0"};
    xb_frames_t *f = xb_frames_new();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CU_ASSERT_EQUAL(xb_frames_add_str(f, bad[i]), 0);
    CU_ASSERT_EQUAL(xb_frames_add_str(f, "-17"), 0);
    CU_ASSERT_EQUAL(xb_frames_add_str(f, "9223372036854775807"), 0);
    bool ok = true;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ok = true;
        CU_ASSERT_EQUAL(xb_frames_long(f, i, &ok), -1);
        CU_ASSERT_FALSE(ok);
    }
    size_t n = sizeof bad / sizeof *bad;
    CU_ASSERT_EQUAL(xb_frames_long(f, n, &ok), -17);
    CU_ASSERT_TRUE(ok);
    CU_ASSERT_EQUAL(xb_frames_long(f, n + 1, &ok), 9223372036854775807L);
    CU_ASSERT_TRUE(ok);
    xb_frames_destroy(&f);
}

static void test_is_proto(void)
{
    xb_frames_t *f = xb_frames_new();
    CU_ASSERT_FALSE(xb_frames_is_proto(f, 0));
    xb_frames_add_str(f, XB_PROTO);
    CU_ASSERT_FALSE(xb_frames_is_proto(f, 0)); /* no command frame */
    xb_frames_add_str(f, XB_CMD_HEARTBEAT);
    CU_ASSERT_TRUE(xb_frames_is_proto(f, 0));
    CU_ASSERT_FALSE(xb_frames_is_proto(f, 1));
    CU_ASSERT_EQUAL(xb_frames_prepend(f, "\0\x80id", 4), 0);
    CU_ASSERT_TRUE(xb_frames_is_proto(f, 1));
    CU_ASSERT_FALSE(xb_frames_is_proto(f, 0));
    CU_ASSERT_EQUAL(xb_frames_size(f, 0), 4);
    CU_ASSERT_EQUAL(memcmp(xb_frames_data(f, 0), "\0\x80id", 4), 0);
    xb_frames_destroy(&f);

    f = xb_frames_new();
    xb_frames_add_str(f, "XB2");
    xb_frames_add_str(f, "READY");
    CU_ASSERT_FALSE(xb_frames_is_proto(f, 0));
    xb_frames_destroy(&f);
    CU_ASSERT_FALSE(xb_frames_is_proto(NULL, 0));
}

/* add_take does not copy: the frame's bytes are the caller's buffer. */
static void test_add_take_zero_copy(void)
{
    xb_frames_t *f = xb_frames_new();
    size_t len = 100000;
    char *data = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    memset(data, 'z', len);
    CU_ASSERT_EQUAL(xb_frames_add_take(f, data, len), 0);
    CU_ASSERT_PTR_EQUAL(xb_frames_data(f, 0), data);
    CU_ASSERT_EQUAL(xb_frames_size(f, 0), len);
    CU_ASSERT_EQUAL(xb_frames_add_take(f, NULL, 0), 0);
    CU_ASSERT_EQUAL(xb_frames_size(f, 1), 0);
    CU_ASSERT_EQUAL(xb_frames_add_take(f, NULL, 5), -1);
    xb_frames_destroy(&f); /* frees data (ASan build checks for the leak) */
}

/* add_frame shares a large frame's bytes rather than copying them. */
static void test_add_frame_shares(void)
{
    xb_frames_t *a = xb_frames_new(), *b = xb_frames_new();
    char big[4096];
    memset(big, 'q', sizeof big);
    xb_frames_add(a, big, sizeof big);
    xb_frames_add_str(a, "tiny");
    CU_ASSERT_EQUAL(xb_frames_add_frame(b, a, 0), 0);
    CU_ASSERT_EQUAL(xb_frames_add_frame(b, a, 1), 0);
    CU_ASSERT_EQUAL(xb_frames_add_frame(b, a, 2), -1);
    CU_ASSERT_PTR_EQUAL(xb_frames_data(b, 0), xb_frames_data(a, 0));
    CU_ASSERT_TRUE(xb_frames_eq(b, 1, "tiny"));
    xb_frames_destroy(&a);
    /* b's copy outlives a. */
    CU_ASSERT_EQUAL(xb_frames_size(b, 0), sizeof big);
    CU_ASSERT_EQUAL(memcmp(xb_frames_data(b, 0), big, sizeof big), 0);
    xb_frames_destroy(&b);
}

/* A pointer to a small frame's bytes survives appending many frames. */
static void test_data_pointer_stable(void)
{
    xb_frames_t *f = xb_frames_new();
    xb_frames_add_str(f, "first");
    const char *p = xb_frames_data(f, 0);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(xb_frames_addf(f, "frame %d", i), 0);
    xb_frames_prepend(f, "id", 2);
    CU_ASSERT_PTR_EQUAL(xb_frames_data(f, 1), p);
    CU_ASSERT_EQUAL(memcmp(p, "first", 5), 0);
    CU_ASSERT_TRUE(xb_frames_eq(f, 101, "frame 99"));
    xb_frames_destroy(&f);
}

static void test_describe(void)
{
    xb_frames_t *f = xb_frames_new_cmd("REPLY");
    xb_frames_add(f, "", 0);
    xb_frames_add(f, "\x00\x01\xff", 3);
    xb_frames_add_str(f, "say \"hi\"\n");
    char *d = xb_frames_describe(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_STRING_EQUAL(
        d, "5 frames: [3]\"XB1\" [5]\"REPLY\" [0]\"\" [3]0x0001ff [9]\"say \\\"hi\\\"\\n\"");
    free(d);
    xb_frames_destroy(&f);

    /* Long frames are cut, UTF-8 sequences are not split. */
    f = xb_frames_new();
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big + 95, "\xc3\xa9", 2); /* é across the 96-byte cut */
    xb_frames_add(f, big, sizeof big);
    char bin[100] = {0};
    xb_frames_add(f, bin, sizeof bin);
    d = xb_frames_describe(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "2 frames: [300]\"aaaa"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "aaa\"... [100]0x"));
    CU_ASSERT_PTR_NULL(strstr(d, "\xc3\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "0000...")); /* 32 bytes of hex then ... */
    CU_ASSERT(strlen(d) < 300);
    free(d);
    xb_frames_destroy(&f);

    d = xb_frames_describe(NULL);
    CU_ASSERT_STRING_EQUAL(d, "0 frames:");
    free(d);
}

/* DEALER -> ROUTER -> DEALER: the routing id is frame 0 on the ROUTER side,
 * zero-length frames survive, and sending consumes the message. */
static void roundtrip(const char *endpoint_in, bool tcp)
{
    char endpoint[256];
    void *router;
    if (tcp) {
        router = bind_router_tcp(endpoint, sizeof endpoint);
    } else {
        router = make_socket(ZMQ_ROUTER);
        snprintf(endpoint, sizeof endpoint, "%s", endpoint_in);
        CU_ASSERT_EQUAL_FATAL(zmq_bind(router, endpoint), 0);
    }
    int one = 1;
    zmq_setsockopt(router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    void *dealer = make_socket(ZMQ_DEALER);
    CU_ASSERT_EQUAL_FATAL(zmq_connect(dealer, endpoint), 0);

    xb_frames_t *out = xb_frames_new_cmd(XB_CMD_READY);
    xb_frames_add_str(out, "greeter");
    xb_frames_add(out, "", 0);
    xb_frames_add_str(out, "1");
    CU_ASSERT_EQUAL(xb_frames_send(out, dealer, 0), 0);
    CU_ASSERT_EQUAL(xb_frames_count(out), 0);

    xb_frames_t *in = xb_frames_recv(router, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT_EQUAL(xb_frames_count(in), 6);
    CU_ASSERT_TRUE(xb_frames_is_proto(in, 1));
    CU_ASSERT_TRUE(xb_frames_eq(in, 2, "READY"));
    CU_ASSERT_TRUE(xb_frames_eq(in, 3, "greeter"));
    CU_ASSERT_EQUAL(xb_frames_size(in, 4), 0);
    CU_ASSERT_TRUE(xb_frames_eq(in, 5, "1"));

    /* Reuse the emptied message for the answer, addressed by the routing id. */
    CU_ASSERT_EQUAL(xb_frames_add_frame(out, in, 0), 0);
    xb_frames_add_str(out, XB_PROTO);
    xb_frames_add_str(out, XB_CMD_WELCOME);
    xb_frames_add(out, "", 0);
    CU_ASSERT_EQUAL(xb_frames_send(out, router, ZMQ_DONTWAIT), 0);
    xb_frames_t *back = xb_frames_recv(dealer, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(back);
    CU_ASSERT_EQUAL(xb_frames_count(back), 3);
    CU_ASSERT_TRUE(xb_frames_is_proto(back, 0));
    CU_ASSERT_TRUE(xb_frames_eq(back, 1, "WELCOME"));
    CU_ASSERT_EQUAL(xb_frames_size(back, 2), 0);

    /* Nothing more is waiting. */
    errno = 0;
    CU_ASSERT_PTR_NULL(xb_frames_recv(dealer, ZMQ_DONTWAIT));
    CU_ASSERT_EQUAL(errno, EAGAIN);

    xb_frames_destroy(&out);
    xb_frames_destroy(&in);
    xb_frames_destroy(&back);
    zmq_close(dealer);
    zmq_close(router);
}

static void test_roundtrip_inproc(void)
{
    roundtrip("inproc://wire-roundtrip", false);
}
static void test_roundtrip_tcp(void)
{
    roundtrip(NULL, true);
}

/* Big frames (zero-copy taken) and many frames cross tcp intact. */
static void test_big_and_many_frames_tcp(void)
{
    char endpoint[256];
    void *router = bind_router_tcp(endpoint, sizeof endpoint);
    void *dealer = make_socket(ZMQ_DEALER);
    CU_ASSERT_EQUAL_FATAL(zmq_connect(dealer, endpoint), 0);

    size_t big = 8u << 20;
    unsigned char *data = malloc(big);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 31 + 7);
    xb_frames_t *out = xb_frames_new_cmd(XB_CMD_DELIVER);
    xb_frames_add_str(out, "17");
    CU_ASSERT_EQUAL(xb_frames_add_take(out, data, big), 0);
    for (int i = 0; i < 2000; i++)
        xb_frames_addf(out, "%d", i);
    CU_ASSERT_EQUAL(xb_frames_send(out, dealer, 0), 0);

    xb_frames_t *in = xb_frames_recv(router, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    if (xb_frames_count(in) != 2005) {
        char *d = xb_frames_describe(in);
        fprintf(stderr, "%s\n", d);
        free(d);
    }
    CU_ASSERT_EQUAL_FATAL(xb_frames_count(in), 2005);
    CU_ASSERT_EQUAL_FATAL(xb_frames_size(in, 4), big);
    const unsigned char *got = xb_frames_data(in, 4);
    size_t bad = 0;
    for (size_t i = 0; i < big; i++)
        bad += got[i] != (unsigned char)(i * 31 + 7);
    CU_ASSERT_EQUAL(bad, 0);
    bool ok = false;
    CU_ASSERT_EQUAL(xb_frames_long(in, 2004, &ok), 1999);
    CU_ASSERT_TRUE(ok);

    xb_frames_destroy(&out);
    xb_frames_destroy(&in);
    zmq_close(dealer);
    zmq_close(router);
}

/* With ROUTER_MANDATORY an unknown routing id fails at once (EHOSTUNREACH)
 * and the message keeps every frame, ready for another try. */
static void test_send_failure_keeps_frames_router(void)
{
    void *router = make_socket(ZMQ_ROUTER);
    int one = 1;
    zmq_setsockopt(router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    CU_ASSERT_EQUAL_FATAL(zmq_bind(router, "inproc://wire-mandatory"), 0);

    xb_frames_t *out = xb_frames_new();
    xb_frames_add_str(out, "nobody");
    xb_frames_add_str(out, XB_PROTO);
    xb_frames_add_str(out, XB_CMD_SHUTDOWN);
    char *before = xb_frames_describe(out);
    errno = 0;
    CU_ASSERT_EQUAL(xb_frames_send(out, router, ZMQ_DONTWAIT), -1);
    CU_ASSERT_EQUAL(errno, EHOSTUNREACH);
    char *after = xb_frames_describe(out);
    CU_ASSERT_STRING_EQUAL(before, after);
    free(before);
    free(after);

    /* The same frames go out once the peer exists (the ROUTER learns the
     * peer asynchronously: retry until it does). */
    void *dealer = make_socket(ZMQ_DEALER);
    zmq_setsockopt(dealer, ZMQ_ROUTING_ID, "nobody", 6);
    CU_ASSERT_EQUAL_FATAL(zmq_connect(dealer, "inproc://wire-mandatory"), 0);
    int rc = -1; /* a failure but EHOSTUNREACH, or one that loses frames, ends the wait */
    XBT_WAIT_UNTIL((rc = xb_frames_send(out, router, ZMQ_DONTWAIT)) == 0 || errno != EHOSTUNREACH ||
                       xb_frames_count(out) != 3,
                   10000);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(xb_frames_count(out), 0);
    xb_frames_t *in = xb_frames_recv(dealer, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT_EQUAL(xb_frames_count(in), 2);
    CU_ASSERT_TRUE(xb_frames_eq(in, 1, "SHUTDOWN"));
    xb_frames_destroy(&in);
    xb_frames_destroy(&out);
    zmq_close(dealer);
    zmq_close(router);
}

/* A DEALER with nowhere to send (ZMQ_IMMEDIATE, no peer yet) fails with
 * EAGAIN and keeps a zero-copy frame; after the peer appears the very same
 * message goes out whole. */
static void test_send_failure_keeps_frames_dealer(void)
{
    /* ipc, not inproc: an inproc connect attaches a pipe even before the bind. */
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "ipc:///tmp/xb-test-wire-%d.sock", (int)getpid());
    void *dealer = make_socket(ZMQ_DEALER);
    int one = 1, ivl = 10;
    zmq_setsockopt(dealer, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    CU_ASSERT_EQUAL_FATAL(zmq_connect(dealer, endpoint), 0);

    xb_frames_t *out = xb_frames_new_cmd(XB_CMD_HEARTBEAT);
    char *taken = strdup("taken bytes that must survive a failed send, long enough to be shared");
    CU_ASSERT_EQUAL(xb_frames_add_take(out, taken, strlen(taken)), 0);
    errno = 0;
    CU_ASSERT_EQUAL(xb_frames_send(out, dealer, ZMQ_DONTWAIT), -1);
    CU_ASSERT_EQUAL(errno, EAGAIN);
    CU_ASSERT_EQUAL(xb_frames_count(out), 3);
    CU_ASSERT_PTR_EQUAL(xb_frames_data(out, 2), taken);

    void *router = make_socket(ZMQ_ROUTER);
    CU_ASSERT_EQUAL_FATAL(zmq_bind(router, endpoint), 0);
    /* The pipe attaches asynchronously: retry until it does. */
    int rc = -1; /* a failure but EAGAIN ends the wait */
    XBT_WAIT_UNTIL((rc = xb_frames_send(out, dealer, ZMQ_DONTWAIT)) == 0 || errno != EAGAIN, 10000);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    xb_frames_t *in = xb_frames_recv(router, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT_EQUAL(xb_frames_count(in), 4);
    CU_ASSERT_TRUE(xb_frames_eq(
        in, 3, "taken bytes that must survive a failed send, long enough to be shared"));
    xb_frames_destroy(&in);
    xb_frames_destroy(&out);
    zmq_close(dealer);
    zmq_close(router);
    unlink(endpoint + strlen("ipc://"));
}

static void test_bad_arguments(void)
{
    errno = 0;
    CU_ASSERT_PTR_NULL(xb_frames_recv(NULL, 0));
    CU_ASSERT_EQUAL(errno, EINVAL);
    xb_frames_t *f = xb_frames_new();
    CU_ASSERT_EQUAL(xb_frames_send(f, NULL, 0), -1);
    void *dealer = make_socket(ZMQ_DEALER);
    CU_ASSERT_EQUAL(xb_frames_send(f, dealer, 0), -1); /* empty message */
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_EQUAL(xb_frames_add(NULL, "x", 1), -1);
    CU_ASSERT_EQUAL(xb_frames_add(f, NULL, 3), -1);
    CU_ASSERT_EQUAL(xb_frames_add_str(f, NULL), -1);
    CU_ASSERT_EQUAL(xb_frames_add_take(NULL, strdup("freed"), 5), -1); /* freed, no leak */
    CU_ASSERT_PTR_NULL(xb_frames_new_cmd(NULL));
    char buf[4];
    CU_ASSERT_EQUAL(xb_frames_copy(f, 0, buf, 0), -1);
    CU_ASSERT_EQUAL(xb_frames_count(NULL), 0);
    xb_frames_destroy(&f);
    zmq_close(dealer);
}

static const xbt_test_t wire_tests[] = {
    {"accessors", test_accessors},
    {"long is strict decimal", test_long_strict},
    {"is_proto", test_is_proto},
    {"add_take is zero-copy", test_add_take_zero_copy},
    {"add_frame shares bytes", test_add_frame_shares},
    {"data pointers stay valid", test_data_pointer_stable},
    {"describe", test_describe},
    {"DEALER<->ROUTER inproc", test_roundtrip_inproc},
    {"DEALER<->ROUTER tcp", test_roundtrip_tcp},
    {"big and many frames over tcp", test_big_and_many_frames_tcp},
    {"failed ROUTER send keeps frames", test_send_failure_keeps_frames_router},
    {"failed DEALER send keeps frames", test_send_failure_keeps_frames_dealer},
    {"bad arguments", test_bad_arguments},
    {NULL, NULL},
};

static int wire_init(void)
{
    ctx = zmq_ctx_new();
    return ctx ? 0 : -1;
}

static int wire_clean(void)
{
    /* A fatal assertion may leave a socket open, which would block zmq_ctx_term. */
    if (ctx && CU_get_number_of_failures() == 0)
        zmq_ctx_term(ctx);
    ctx = NULL;
    return 0;
}

XBT_SUITES({"wire", wire_init, wire_clean, NULL, NULL, wire_tests});
