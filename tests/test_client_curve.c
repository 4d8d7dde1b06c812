/* Tests of the CURVE side of bus/client.c (xb_client_new_secure, XMLBUS_KEY,
 * XMLBUS_SERVER_KEY, `xmlbus --key --server-key`) against a real CURVE
 * server (tests/support/xbt_curve.h): a ROUTER in CURVE server mode with a
 * generated keypair and a ZAP handler that lets in one client key and
 * refuses every other with 400.
 *
 * A refused handshake is silent on the wire: these tests check that the
 * client says so (XB_ERR_ARG, "the pump refused this client's key") instead
 * of timing out or hanging. */
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
#include "xbt_curve.h"
#include "xbt_main.h"

#define LONG_WAIT_MS 20000 /* answers that must come: generous for a loaded box */
#define REFUSED_WAIT_MS 5000

static xbt_curve_server_t g_server;
static char g_dir[256];
/* Key files: the server's, the allowed client's, a refused client's, and a
 * keypair that is not the server's (a wrong server key). */
static char g_server_pub[512], g_good_sec[512], g_good_pub[512], g_bad_sec[512], g_other_pub[512];

/* ---- suite ------------------------------------------------------------------- */

static int curve_init(void)
{
    char server_sec[512], unused[512];
    unsetenv(XB_KEY_ENV);
    unsetenv(XB_SERVER_KEY_ENV);
    if (xbt_tmpdir_make(g_dir, sizeof g_dir, "test-curve") != 0 ||
        xbt_curve_save_key(g_dir, "pump", g_server_pub, server_sec) != 0 ||
        xbt_curve_save_key(g_dir, "good", g_good_pub, g_good_sec) != 0 ||
        xbt_curve_save_key(g_dir, "bad", unused, g_bad_sec) != 0 ||
        xbt_curve_save_key(g_dir, "other", g_other_pub, unused) != 0)
        return -1;
    return xbt_curve_server_start(&g_server, server_sec, g_good_pub);
}

static int curve_clean(void)
{
    xbt_curve_server_stop(&g_server);
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
    setenv(XB_KEY_ENV, g_good_sec, 1);
    setenv(XB_SERVER_KEY_ENV, g_server_pub, 1);
    xb_error_t err;
    xb_client_t *c = xb_client_new(g_server.endpoint, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(xb_client_control(c, "ping", NULL, 0, LONG_WAIT_MS, NULL, &err), 0);
    xb_client_destroy(&c);
    /* Only one of the two: refused at once. */
    unsetenv(XB_SERVER_KEY_ENV);
    c = xb_client_new(g_server.endpoint, NULL, &err);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "both keys"));
    unsetenv(XB_KEY_ENV);
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
    /* "does not use CURVE", or "does the pump use CURVE?" when the pump
     * closed the connection before its ERROR was read. */
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "use CURVE"));
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
    if (snprintf(cmd, sizeof cmd, "%s %s/xmlbus ping -e %s --timeout 5 %s 2>&1", env, XB_BIN_DIR,
                 g_server.endpoint, args) >= (int)sizeof cmd)
        return -1;
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
