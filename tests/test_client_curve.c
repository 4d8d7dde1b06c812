/* Tests of the CURVE side of bus/client.c (xb_client_new_secure, XMLBUS_KEY,
 * XMLBUS_SERVER_KEY, `xmlbus --key --server-key`) against a real CURVE
 * server: a ROUTER of this test in CURVE server mode (ZMQ_CURVE_SERVER) with
 * a generated keypair, and a ZAP handler (RFC 27, bound to
 * inproc://zeromq.zap.01 in the server's context) that lets in one client
 * key and refuses every other with 400. The server answers CONTROL with
 * RESULT ok <pong/>; both run in one thread of the test.
 *
 * A refused handshake is silent on the wire: these tests check that the
 * client says so (XB_ERR_ARG, "the pump refused this client's key") instead
 * of timing out or hanging. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <zmq.h>

#include "xmlbus/client.h"
#include "xmlbus/keys.h"
#include "xbt.h"
#include "xbt_main.h"

#define LONG_WAIT_MS 20000 /* answers that must come: generous for a loaded box */
#define REFUSED_WAIT_MS 5000
#define MAX_FRAMES 16

typedef struct {
    void *ctx, *router, *zap;
    char endpoint[256];
    char allowed[XB_KEY_TEXT]; /* the one client key the ZAP handler lets in */
    atomic_bool stop;
    atomic_int zap_requests, zap_refusals;
    pthread_t thread;
} server_t;

static server_t g_server;
static char g_dir[256];
/* Key files: the server's, the allowed client's, a refused client's, and a
 * keypair that is not the server's (a wrong server key). */
static char g_server_pub[512], g_good_sec[512], g_good_pub[512], g_bad_sec[512], g_other_pub[512];

/* ---- the CURVE server and its ZAP handler ------------------------------------ */

typedef struct {
    zmq_msg_t part[MAX_FRAMES];
    size_t n;
} frames_t;

static int recv_frames(void *sock, frames_t *f)
{
    f->n = 0;
    for (bool more = true; more;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            return -1;
        }
        more = zmq_msg_more(&m);
        if (f->n < MAX_FRAMES)
            f->part[f->n++] = m;
        else
            zmq_msg_close(&m);
    }
    return 0;
}

static void frames_close(frames_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        zmq_msg_close(&f->part[i]);
    f->n = 0;
}

static bool frame_is(const frames_t *f, size_t i, const char *s)
{
    zmq_msg_t *m = (zmq_msg_t *)&f->part[i];
    return i < f->n && zmq_msg_size(m) == strlen(s) && memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

static void send_frame(void *sock, const void *data, size_t len, bool more)
{
    zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0);
}

static void send_str(void *sock, const char *s, bool more)
{
    send_frame(sock, s, strlen(s), more);
}

/* ZAP request: version, request id, domain, address, identity, mechanism,
 * credentials (the client's 32-byte public key). Reply: version, request id,
 * status code, status text, user id, metadata. */
static void answer_zap(server_t *s)
{
    frames_t f;
    if (recv_frames(s->zap, &f) != 0)
        return;
    atomic_fetch_add(&s->zap_requests, 1);
    bool ok = false;
    if (f.n >= 7 && frame_is(&f, 5, "CURVE") && zmq_msg_size(&f.part[6]) == 32) {
        char z85[XB_KEY_TEXT];
        zmq_z85_encode(z85, zmq_msg_data(&f.part[6]), 32);
        ok = strcmp(z85, s->allowed) == 0;
    }
    if (!ok)
        atomic_fetch_add(&s->zap_refusals, 1);
    send_str(s->zap, "1.0", true);
    send_frame(s->zap, f.n > 1 ? zmq_msg_data(&f.part[1]) : "",
               f.n > 1 ? zmq_msg_size(&f.part[1]) : 0, true);
    send_str(s->zap, ok ? "200" : "400", true);
    send_str(s->zap, ok ? "OK" : "key not allowed", true);
    send_str(s->zap, ok ? "client" : "", true);
    send_str(s->zap, "", false);
    frames_close(&f);
}

/* CONTROL: peer, XB1, CONTROL, request id, verb ... -> RESULT ok <pong/>. */
static void answer_request(server_t *s)
{
    frames_t f;
    if (recv_frames(s->router, &f) != 0)
        return;
    if (f.n >= 5 && frame_is(&f, 1, "XB1") && frame_is(&f, 2, "CONTROL")) {
        send_frame(s->router, zmq_msg_data(&f.part[0]), zmq_msg_size(&f.part[0]), true);
        send_str(s->router, "XB1", true);
        send_str(s->router, "RESULT", true);
        send_frame(s->router, zmq_msg_data(&f.part[3]), zmq_msg_size(&f.part[3]), true);
        send_str(s->router, "ok", true);
        send_str(s->router, "<pong/>", false);
    }
    frames_close(&f);
}

static void *server_main(void *arg)
{
    server_t *s = arg;
    while (!atomic_load(&s->stop)) {
        zmq_pollitem_t items[] = {{.socket = s->router, .events = ZMQ_POLLIN},
                                  {.socket = s->zap, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 2, 100) < 0 && errno != EINTR)
            break;
        if (items[1].revents & ZMQ_POLLIN)
            answer_zap(s);
        if (items[0].revents & ZMQ_POLLIN)
            answer_request(s);
    }
    return NULL;
}

static int server_start(server_t *s, const char *server_sec, const char *allowed_pub)
{
    xb_key_t own, allowed;
    xb_error_t err;
    if (xb_key_load(server_sec, &own, &err) != 0 || xb_key_load(allowed_pub, &allowed, &err) != 0) {
        fprintf(stderr, "server keys: %s\n", err.message);
        return -1;
    }
    memcpy(s->allowed, allowed.public_key, sizeof s->allowed);
    s->ctx = zmq_ctx_new();
    /* The ZAP handler first: the server asks it about every handshake. */
    s->zap = zmq_socket(s->ctx, ZMQ_REP);
    s->router = zmq_socket(s->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(s->zap, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s->zap, "inproc://zeromq.zap.01") != 0 ||
        xb_key_apply_server(s->router, &own, 0, &err) != 0 ||
        zmq_bind(s->router, "tcp://127.0.0.1:*") != 0) {
        fprintf(stderr, "server: %s %s\n", err.message, zmq_strerror(errno));
        return -1;
    }
    xb_key_wipe(&own);
    size_t len = sizeof s->endpoint;
    zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, s->endpoint, &len);
    return pthread_create(&s->thread, NULL, server_main, s) == 0 ? 0 : -1;
}

static void server_stop(server_t *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    zmq_close(s->router);
    zmq_close(s->zap);
    zmq_ctx_term(s->ctx);
}

/* ---- suite ------------------------------------------------------------------- */

static int save_key(const char *name, char *pub, char *sec)
{
    xb_key_t k;
    xb_error_t err;
    int rc = xb_key_generate(&k, &err);
    if (rc == 0)
        rc = xb_key_save(&k, g_dir, name, pub, sec, 512, &err);
    if (rc != 0)
        fprintf(stderr, "keys: %s\n", err.message);
    xb_key_wipe(&k);
    return rc;
}

static int curve_init(void)
{
    char server_sec[512], unused[512];
    unsetenv(XB_CLIENT_KEY_ENV);
    unsetenv(XB_CLIENT_SERVER_KEY_ENV);
    if (xbt_tmpdir_make(g_dir, sizeof g_dir, "test-curve") != 0 ||
        save_key("pump", g_server_pub, server_sec) != 0 ||
        save_key("good", g_good_pub, g_good_sec) != 0 || save_key("bad", unused, g_bad_sec) != 0 ||
        save_key("other", g_other_pub, unused) != 0)
        return -1;
    return server_start(&g_server, server_sec, g_good_pub);
}

static int curve_clean(void)
{
    server_stop(&g_server);
    return xbt_rmtree(g_dir);
}

/* CONTROL ping through a client with these key files. */
static int ping(const char *key, const char *server_key, int timeout_ms, xb_error_t *err)
{
    xb_client_t *c = xb_client_new_secure(g_server.endpoint, NULL, key, server_key, err);
    if (!c)
        return -2;
    char *body = NULL;
    int rc = xb_client_control(c, "ping", NULL, 0, timeout_ms, &body, err);
    if (rc == 0)
        CU_ASSERT_STRING_EQUAL(body, "<pong/>");
    free(body);
    xb_client_destroy(&c);
    return rc;
}

static void test_right_key_works(void)
{
    xb_error_t err;
    xb_error_clear(&err);
    int rc = ping(g_good_sec, g_server_pub, LONG_WAIT_MS, &err);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0)
        fprintf(stderr, "\n%s\n", err.message);
}

static void test_environment_gives_the_keys(void)
{
    setenv(XB_CLIENT_KEY_ENV, g_good_sec, 1);
    setenv(XB_CLIENT_SERVER_KEY_ENV, g_server_pub, 1);
    xb_error_t err;
    xb_client_t *c = xb_client_new(g_server.endpoint, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(xb_client_control(c, "ping", NULL, 0, LONG_WAIT_MS, NULL, &err), 0);
    xb_client_destroy(&c);
    /* Only one of the two: refused at once. */
    unsetenv(XB_CLIENT_SERVER_KEY_ENV);
    c = xb_client_new(g_server.endpoint, NULL, &err);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "both keys"));
    unsetenv(XB_CLIENT_KEY_ENV);
}

static void test_refused_key_is_a_clear_error(void)
{
    int before = atomic_load(&g_server.zap_refusals);
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(ping(g_bad_sec, g_server_pub, REFUSED_WAIT_MS, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "the pump refused this client's key"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "CURVE handshake failed"));
    CU_ASSERT_TRUE(atomic_load(&g_server.zap_refusals) > before);
    /* A wait for ever ends too: the refusal is definite. */
    CU_ASSERT_EQUAL(ping(g_bad_sec, g_server_pub, -1, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
}

static void test_wrong_server_key_is_a_clear_error(void)
{
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(ping(g_good_sec, g_other_pub, REFUSED_WAIT_MS, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "CURVE handshake failed"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "server key"));
}

static void test_no_keys_for_a_curve_pump(void)
{
    xb_error_t err;
    xb_error_clear(&err);
    xb_client_t *c = xb_client_new(g_server.endpoint, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(xb_client_control(c, "ping", NULL, 0, REFUSED_WAIT_MS, NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "CURVE"));
    xb_client_destroy(&c);
}

static void test_keys_for_a_plain_pump(void)
{
    void *ctx = zmq_ctx_new();
    void *plain = zmq_socket(ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(plain, ZMQ_LINGER, &linger, sizeof linger);
    CU_ASSERT_EQUAL_FATAL(zmq_bind(plain, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t len = sizeof ep;
    zmq_getsockopt(plain, ZMQ_LAST_ENDPOINT, ep, &len);
    xb_error_t err;
    xb_client_t *c = xb_client_new_secure(ep, NULL, g_good_sec, g_server_pub, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(xb_client_control(c, "ping", NULL, 0, REFUSED_WAIT_MS, NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "does not use CURVE"));
    xb_client_destroy(&c);
    zmq_close(plain);
    zmq_ctx_term(ctx);
}

static void test_unusable_key_files(void)
{
    xb_error_t err;
    /* A public key file as the client's own key. */
    CU_ASSERT_EQUAL(ping(g_good_pub, g_server_pub, 0, &err), -2);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "secret key file"));
    /* A secret file others may read. */
    CU_ASSERT_EQUAL_FATAL(chmod(g_bad_sec, 0644), 0);
    CU_ASSERT_EQUAL(ping(g_bad_sec, g_server_pub, 0, &err), -2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "chmod 600"));
    CU_ASSERT_EQUAL(chmod(g_bad_sec, 0600), 0);
    /* A missing file. */
    char absent[600];
    snprintf(absent, sizeof absent, "%s/absent.key", g_dir);
    CU_ASSERT_EQUAL(ping(g_good_sec, absent, 0, &err), -2);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, absent));
}

/* `xmlbus ping -e EP ARGS`, its output into out; returns the exit code. */
static int xmlbus_ping(const char *env, const char *args, char *out, size_t cap)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s/xmlbus ping -e %s --timeout 5 %s 2>&1", env, XB_BIN_DIR,
             g_server.endpoint, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli_key_options(void)
{
    char args[2048], env[2048], out[4096];
    snprintf(args, sizeof args, "--key %s --server-key %s", g_good_sec, g_server_pub);
    CU_ASSERT_EQUAL(xmlbus_ping("", args, out, sizeof out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ok pong"));
    snprintf(env, sizeof env, "XMLBUS_KEY=%s XMLBUS_SERVER_KEY=%s", g_good_sec, g_server_pub);
    CU_ASSERT_EQUAL(xmlbus_ping(env, "", out, sizeof out), 0);
    /* The options win over the environment. */
    snprintf(args, sizeof args, "--key %s", g_bad_sec);
    CU_ASSERT_EQUAL(xmlbus_ping(env, args, out, sizeof out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "the pump refused this client's key"));
    CU_ASSERT_EQUAL(xmlbus_ping("", "--key", out, sizeof out), 2);
}

static const xbt_test_t curve_tests[] = {
    {"the right key works", test_right_key_works},
    {"XMLBUS_KEY and XMLBUS_SERVER_KEY", test_environment_gives_the_keys},
    {"a key the pump refuses: a clear error, no hang", test_refused_key_is_a_clear_error},
    {"a wrong server key: a clear error", test_wrong_server_key_is_a_clear_error},
    {"no keys for a CURVE pump: a clear error", test_no_keys_for_a_curve_pump},
    {"keys for a pump without CURVE: a clear error", test_keys_for_a_plain_pump},
    {"unusable key files fail at once", test_unusable_key_files},
    {"xmlbus --key --server-key", test_cli_key_options},
    {NULL, NULL},
};

XBT_SUITES({"client curve", curve_init, curve_clean, NULL, NULL, curve_tests});
