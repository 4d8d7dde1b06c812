/* The pump's endpoint under security (pump/security.c, docs/security.md):
 * a real pump process on tcp://127.0.0.1 in CURVE server mode with keys
 * generated for the test, real clients and hello listeners with keys.
 * Who may connect, what each role may do, and that no key reaches a
 * command line. */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "proto.h"
#include "wire.h"
#include "xbt.h"
#include "xbt_main.h"
#include "xbt_tmp.h"
#include "xmlbus/client.h"
#include "xmlbus/keys.h"

#define TIMEOUT_MS 10000

static char keydir[256];
static xbt_pump_t pump;
static xb_key_t server, alice, bob, ops, greeter, shouter, mallory;

static char *key_file(const char *name, bool secret)
{
    static char paths[8][600];
    static int next;
    char *out = paths[next++ % 8];
    snprintf(out, 600, "%s/%s%s", keydir, name,
             secret ? XB_KEY_SECRET_SUFFIX : XB_KEY_PUBLIC_SUFFIX);
    return out;
}

static int make_key(const char *name, xb_key_t *k)
{
    xb_error_t err;
    return xb_key_generate(k, &err) == 0 && xb_key_save(k, keydir, name, NULL, NULL, 0, &err) == 0
               ? 0
               : -1;
}

#define ORGANISM                                                                 \
    "organism:\n  name: hello\n  endpoint: @ENDPOINT@\n"                         \
    "security:\n  server_key: %s/server.key_secret\n"                            \
    "  clients: [%s/alice.key, %s/bob.key]\n  admins: [%s/ops.key]\n"            \
    "listeners:\n"                                                               \
    "  - name: greeter\n    payload: [greeting, shouted]\n"                      \
    "    schema: @SRC@/examples/hello/greeter.xsd\n    command: hello-greeter\n" \
    "    key: %s/greeter.key_secret\n"                                           \
    "  - name: shouter\n    payload: shout\n"                                    \
    "    schema: @SRC@/examples/hello/shouter.xsd\n    command: hello-shouter\n" \
    "    key: %s/shouter.key_secret\n"

static int init(void)
{
    if (xbt_tmpdir_make(keydir, sizeof keydir, "keys") != 0)
        return -1;
    if (make_key("server", &server) || make_key("alice", &alice) || make_key("bob", &bob) ||
        make_key("ops", &ops) || make_key("greeter", &greeter) || make_key("shouter", &shouter) ||
        make_key("mallory", &mallory))
        return -1;
    char yaml[4096];
    snprintf(yaml, sizeof yaml, ORGANISM, keydir, keydir, keydir, keydir, keydir, keydir);
    /* the pump's ping at start needs a key too: the admin's */
    setenv(XB_KEY_ENV, key_file("ops", true), 1);
    setenv(XB_SERVER_KEY_ENV, key_file("server", false), 1);
    int rc = xbt_pump_start(&pump, yaml);
    unsetenv(XB_KEY_ENV);
    unsetenv(XB_SERVER_KEY_ENV);
    return rc;
}

static int cleanup(void)
{
    xbt_pump_finish(&pump, 10);
    xbt_rmtree(keydir);
    return 0;
}

static xb_client_t *client_as(const char *name)
{
    xb_error_t err;
    xb_client_t *c = xb_client_new_secure(pump.endpoint, NULL, key_file(name, true),
                                          key_file("server", false), &err);
    if (!c)
        fprintf(stderr, "\n  client %s: %s\n", name, err.message);
    return c;
}

/* CONTROL verb [arg]: 0 ok, -1 with *err. */
static int control(xb_client_t *c, const char *verb, const char *arg, char **body, xb_error_t *err)
{
    const char *args[1] = {arg};
    return xb_client_control(c, verb, args, arg ? 1 : 0, TIMEOUT_MS, body, err);
}

static void test_unknown_keys_refused(void)
{
    xb_error_t err;
    xb_client_t *m = client_as("mallory");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(control(m, "ping", NULL, NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "refused"));
    xb_client_destroy(&m);
    /* No key at all: a plain connection never gets through. */
    xb_client_t *plain = xb_client_new(pump.endpoint, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
    CU_ASSERT_EQUAL(xb_client_control(plain, "ping", NULL, 0, 1500, NULL, &err), -1);
    xb_client_destroy(&plain);
    /* The others are served meanwhile. */
    xb_client_t *a = client_as("alice");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(control(a, "ping", NULL, NULL, &err), 0);
    xb_client_destroy(&a);
}

static void test_roles_of_control(void)
{
    xb_error_t err;
    xb_client_t *a = client_as("alice");
    xb_client_t *o = client_as("ops");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && o);
    const char *admin_only[] = {"stats", "threads", "backend-info"};
    for (size_t i = 0; i < sizeof admin_only / sizeof *admin_only; i++) {
        CU_ASSERT_EQUAL(control(a, admin_only[i], NULL, NULL, &err), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "denied"));
        char *body = NULL;
        CU_ASSERT_EQUAL(control(o, admin_only[i], NULL, &body, &err), 0);
        free(body);
    }
    CU_ASSERT_EQUAL(control(a, "shutdown", NULL, NULL, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "denied"));
    CU_ASSERT_EQUAL(control(o, "ping", NULL, NULL, &err), 0); /* still running */
    xb_client_destroy(&a);
    xb_client_destroy(&o);
}

/* Both answers of one greeting through the keyed listeners; the thread. */
static int greet(xb_client_t *c, const char *name, char thread[XB_UUID_STR])
{
    char body[128];
    snprintf(body, sizeof body, "<greeting><name>%s</name></greeting>", name);
    xb_error_t err;
    if (xb_client_send(c, body, strlen(body), NULL, NULL, TIMEOUT_MS, thread, NULL, &err) != 0) {
        fprintf(stderr, "\n  send: %s\n", err.message);
        return -1;
    }
    int got = 0;
    for (int i = 0; i < 2; i++) {
        char *env = NULL;
        if (xb_client_recv(c, TIMEOUT_MS, &env, NULL, &err) == 0 && strcasestr(env, name))
            got++;
        free(env);
    }
    return got == 2 ? 0 : -1;
}

static void test_hello_end_to_end(void)
{
    xb_client_t *a = client_as("alice");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    char thread[XB_UUID_STR];
    CU_ASSERT_EQUAL(greet(a, "Alice", thread), 0);
    xb_client_destroy(&a);
}

static void test_history_of_own_threads_only(void)
{
    xb_client_t *a = client_as("alice");
    xb_client_t *b = client_as("bob");
    xb_client_t *o = client_as("ops");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && b && o);
    char thread[XB_UUID_STR];
    CU_ASSERT_EQUAL_FATAL(greet(a, "Secretive", thread), 0);
    xb_error_t err;
    char *body = NULL;
    CU_ASSERT_EQUAL(control(a, "history", thread, &body, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "Secretive"));
    free(body);
    body = NULL;
    CU_ASSERT_EQUAL(control(b, "history", thread, &body, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "denied"));
    CU_ASSERT_PTR_NULL(strstr(err.message, "Secretive"));
    CU_ASSERT_EQUAL(control(o, "history", thread, &body, &err), 0);
    free(body);
    xb_client_destroy(&a);
    xb_client_destroy(&b);
    xb_client_destroy(&o);
}

/* A raw DEALER with CURVE and the key name, as a listener would connect. */
static void *dealer_as(void *ctx, const char *name)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    xb_key_t own, srv;
    xb_error_t err;
    int linger = 0;
    if (!s || xb_key_load(key_file(name, true), &own, &err) != 0 ||
        xb_key_load(key_file("server", false), &srv, &err) != 0 ||
        xb_key_apply_client(s, &own, &srv, 0, &err) != 0 ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(s, pump.endpoint) != 0)
        return NULL;
    return s;
}

/* Sends XB1 + the NULL-terminated words, returns the answer (or NULL). */
static xb_frames_t *ask(void *s, ...)
{
    va_list ap;
    va_start(ap, s);
    xb_frames_t *f = xb_frames_new();
    xb_frames_add_str(f, "XB1");
    for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *))
        xb_frames_add_str(f, w);
    va_end(ap);
    xb_frames_send(f, s, 0);
    xb_frames_destroy(&f);
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, TIMEOUT_MS) != 1)
        return NULL;
    return xb_frames_recv(s, 0);
}

static void test_listener_keys_stay_in_their_lane(void)
{
    void *ctx = zmq_ctx_new();
    void *g = dealer_as(ctx, "greeter");
    void *a = dealer_as(ctx, "alice");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g && a);
    /* greeter's key may not register as shouter */
    xb_frames_t *r = ask(g, "READY", "shouter", "listener", "0", "1", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_TRUE(xb_frames_eq(r, 1, "REFUSED"));
    char why[300] = "";
    if (xb_frames_count(r) > 2)
        snprintf(why, sizeof why, "%.*s", (int)xb_frames_size(r, 2),
                 (const char *)xb_frames_data(r, 2));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "denied"));
    xb_frames_destroy(&r);
    /* nor send as a client */
    r = ask(g, "SEND", "1", "<greeting><name>x</name></greeting>", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_TRUE(xb_frames_eq(r, 1, "REJECTED"));
    CU_ASSERT_PTR_NOT_NULL(xb_frames_size(r, 3) &&
                           memmem(xb_frames_data(r, 3), xb_frames_size(r, 3), "denied", 6));
    xb_frames_destroy(&r);
    /* HISTORY needs a registered peer (and then a delivery on that thread) */
    r = ask(g, "HISTORY", "1", "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_TRUE(xb_frames_eq(r, 1, "ERROR") && xb_frames_eq(r, 2, "HISTORY"));
    xb_frames_destroy(&r);
    /* a client key may not register at all */
    r = ask(a, "READY", "greeter", "listener", "0", "1", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_TRUE(xb_frames_eq(r, 1, "REFUSED"));
    xb_frames_destroy(&r);
    zmq_close(g);
    zmq_close(a);
    zmq_ctx_term(ctx);
}

/* A /proc file whole (its size is not known in advance). */
static char *read_proc(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                buf = NULL;
            }
            buf = grown;
        }
    }
    fclose(fp);
    *len = n;
    return buf;
}

/* No process of the organism carries key material on its command line or
 * in its environment: only paths. */
static void test_no_key_on_a_command_line(void)
{
    const xb_key_t *keys[] = {&server, &greeter, &shouter};
    DIR *d = opendir("/proc");
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct dirent *e;
    int seen = 0;
    while ((e = readdir(d))) {
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        size_t len = 0;
        char *cmd = read_proc(path, &len);
        if (!cmd)
            continue;
        bool ours = memmem(cmd, len, "xmlbus", 6) || memmem(cmd, len, "hello-", 6);
        snprintf(path, sizeof path, "/proc/%s/environ", e->d_name);
        size_t elen = 0;
        char *env = ours ? read_proc(path, &elen) : NULL;
        for (size_t i = 0; ours && i < sizeof keys / sizeof *keys; i++) {
            CU_ASSERT_PTR_NULL(memmem(cmd, len, keys[i]->secret_key, XB_KEY_Z85_LEN));
            CU_ASSERT_PTR_NULL(env && memmem(env, elen, keys[i]->secret_key, XB_KEY_Z85_LEN));
        }
        seen += ours && memmem(cmd, len, "hello-", 6);
        free(env);
        free(cmd);
    }
    closedir(d);
    CU_ASSERT_TRUE(seen >= 2); /* the keyed listeners were looked at */
}

/* `xmlbus check` and `xmlbus run` refuse an endpoint other machines can
 * reach without CURVE, and accept it with insecure: true. */
static void test_check_refuses_exposed_bind(void)
{
    char dir[256], yaml[600], cmd[1400];
    CU_ASSERT_EQUAL_FATAL(xbt_tmpdir_make(dir, sizeof dir, "exposed"), 0);
    const char *bodies[2] = {"", "security:\n  insecure: true\n"};
    for (int i = 0; i < 2; i++) {
        snprintf(yaml, sizeof yaml, "%s/organism.yaml", dir);
        FILE *f = fopen(yaml, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fprintf(f,
                "organism:\n  name: open\n  endpoint: tcp://0.0.0.0:7400\n%s"
                "listeners:\n  - name: a\n    payload: p\n",
                bodies[i]);
        fclose(f);
        snprintf(cmd, sizeof cmd, "'%s/xmlbus' check '%s' 2>&1", XB_BIN_DIR, yaml);
        FILE *p = popen(cmd, "r");
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        char out[4096] = "";
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = '\0';
        int status = pclose(p);
        if (i == 0) {
            CU_ASSERT_NOT_EQUAL(status, 0);
            CU_ASSERT_PTR_NOT_NULL(strstr(out, "organism.yaml:3:13"));
            CU_ASSERT_PTR_NOT_NULL(strstr(out, "can be reached from other machines"));
        } else {
            CU_ASSERT_EQUAL(status, 0);
        }
    }
    xbt_rmtree(dir);
}

/* An ipc endpoint's socket file gets security.ipc_mode: 0600 by default,
 * what the config says otherwise. */
static void test_ipc_mode(void)
{
    const char *modes[2] = {"", "security:\n  ipc_mode: '0660'\n"};
    const mode_t want[2] = {0600, 0660};
    for (int i = 0; i < 2; i++) {
        char dir[256], ep[400], yaml[600];
        CU_ASSERT_EQUAL_FATAL(xbt_tmpdir_make(dir, sizeof dir, "ipc"), 0);
        snprintf(ep, sizeof ep, "ipc://%s/pump.sock", dir);
        snprintf(yaml, sizeof yaml,
                 "organism:\n  name: ipcmode\n  endpoint: @ENDPOINT@\n%s"
                 "listeners:\n  - name: a\n    payload: p\n",
                 modes[i]);
        xbt_pump_t ipc;
        memset(&ipc, 0, sizeof ipc);
        CU_ASSERT_EQUAL_FATAL(xbt_pump_start_at(&ipc, yaml, ep), 0);
        struct stat st;
        CU_ASSERT_EQUAL(stat(ep + 6, &st), 0);
        CU_ASSERT_EQUAL(st.st_mode & 0777, want[i]);
        xbt_pump_finish(&ipc, 10);
        xbt_rmtree(dir);
    }
}

static const xbt_test_t security_tests[] = {
    {"the hello flow end to end with keys", test_hello_end_to_end},
    {"unknown key, no key: refused; the others served", test_unknown_keys_refused},
    {"a client key: ping yes, admin verbs denied", test_roles_of_control},
    {"a client reads the history of its own threads only", test_history_of_own_threads_only},
    {"a listener key registers as itself only", test_listener_keys_stay_in_their_lane},
    {"no key on a command line or in an environment", test_no_key_on_a_command_line},
    {"xmlbus check refuses an exposed endpoint without CURVE", test_check_refuses_exposed_bind},
    {"an ipc socket file gets ipc_mode (0600 by default)", test_ipc_mode},
    {NULL, NULL},
};

XBT_SUITES({"security", init, cleanup, NULL, NULL, security_tests});
