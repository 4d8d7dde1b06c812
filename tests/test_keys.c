/* Tests of bus/keys.c: CURVE keypairs, their files in a temporary folder, and
 * `xmlbus keygen`. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <zmq.h>

#include "xmlbus/keys.h"
#include "xbt.h"
#include "xbt_main.h"

static char g_dir[256];

static int keys_init(void)
{
    return xbt_tmpdir_make(g_dir, sizeof g_dir, "test-keys");
}

static int keys_clean(void)
{
    return xbt_rmtree(g_dir);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/* Writes text to g_dir/name with mode; the path goes to path. */
static void write_key_file(const char *name, mode_t mode, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    unlink(path);
    CU_ASSERT_EQUAL_FATAL(xbt_write_file(g_dir, name, text), 0);
    CU_ASSERT_EQUAL_FATAL(chmod(path, mode), 0);
}

static void test_generate(void)
{
    xb_key_t a, b;
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&a, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&b, &err), 0);
    CU_ASSERT_EQUAL(strlen(a.public_key), XB_KEY_Z85_LEN);
    CU_ASSERT_EQUAL(strlen(a.secret_key), XB_KEY_Z85_LEN);
    CU_ASSERT_TRUE(xb_key_has_secret(&a));
    CU_ASSERT_STRING_NOT_EQUAL(a.public_key, b.public_key);
    xb_key_t c;
    CU_ASSERT_EQUAL(xb_key_set(&c, a.public_key, a.secret_key, &err), 0);
    CU_ASSERT_EQUAL(xb_key_set(&c, a.public_key, NULL, &err), 0);
    CU_ASSERT_FALSE(xb_key_has_secret(&c));
    /* a secret key that is not the public key's */
    CU_ASSERT_EQUAL(xb_key_set(&c, a.public_key, b.secret_key, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "does not belong"));
    CU_ASSERT_EQUAL(xb_key_set(&c, "short", NULL, &err), -1);
    xb_key_wipe(&a);
    CU_ASSERT_EQUAL(a.secret_key[0], '\0');
}

static void test_save_load_round_trip(void)
{
    xb_key_t key, pub, sec;
    xb_error_t err;
    char pub_path[512], sec_path[512];
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&key, &err), 0);
    int rc = xb_key_save(&key, g_dir, "pump", pub_path, sec_path, sizeof pub_path, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    char want[512];
    snprintf(want, sizeof want, "%s/pump.key", g_dir);
    CU_ASSERT_STRING_EQUAL(pub_path, want);
    snprintf(want, sizeof want, "%s/pump.key_secret", g_dir);
    CU_ASSERT_STRING_EQUAL(sec_path, want);
    CU_ASSERT_EQUAL(mode_of(pub_path), 0644);
    CU_ASSERT_EQUAL(mode_of(sec_path), 0600);

    CU_ASSERT_EQUAL(xb_key_load(pub_path, &pub, &err), 0);
    CU_ASSERT_STRING_EQUAL(pub.public_key, key.public_key);
    CU_ASSERT_FALSE(xb_key_has_secret(&pub));
    CU_ASSERT_EQUAL(xb_key_load(sec_path, &sec, &err), 0);
    CU_ASSERT_STRING_EQUAL(sec.public_key, key.public_key);
    CU_ASSERT_STRING_EQUAL(sec.secret_key, key.secret_key);
    /* The secret never lands in the public file. */
    char *text = xbt_read_file(pub_path, NULL);
    CU_ASSERT_PTR_NULL(strstr(text, key.secret_key));
    free(text);
}

static void test_secret_created_0600_under_any_umask(void)
{
    xb_key_t key;
    xb_error_t err;
    char pub_path[512], sec_path[512];
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&key, &err), 0);
    mode_t old = umask(0);
    int rc = xb_key_save(&key, g_dir, "wide-umask", pub_path, sec_path, sizeof pub_path, &err);
    umask(old);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(mode_of(sec_path), 0600);
    CU_ASSERT_EQUAL(mode_of(pub_path), 0644);
}

static void test_no_overwrite(void)
{
    xb_key_t a, b, loaded;
    xb_error_t err;
    char pub_path[512], sec_path[512];
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&a, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&b, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_key_save(&a, g_dir, "once", pub_path, sec_path, 512, &err), 0);
    CU_ASSERT_EQUAL(xb_key_save(&b, g_dir, "once", NULL, NULL, 0, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "never overwritten"));
    CU_ASSERT_EQUAL(xb_key_load(sec_path, &loaded, &err), 0);
    CU_ASSERT_STRING_EQUAL(loaded.secret_key, a.secret_key);
    /* Only the public file exists: nothing is written, no secret is left. */
    CU_ASSERT_EQUAL(unlink(sec_path), 0);
    CU_ASSERT_EQUAL(xb_key_save(&b, g_dir, "once", NULL, NULL, 0, &err), -1);
    CU_ASSERT_EQUAL(access(sec_path, F_OK), -1);
    CU_ASSERT_EQUAL(xb_key_load(pub_path, &loaded, &err), 0);
    CU_ASSERT_STRING_EQUAL(loaded.public_key, a.public_key);
}

static void test_bad_names(void)
{
    xb_key_t key;
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&key, &err), 0);
    const char *bad[] = {"", ".hidden", "a/b", "sp ace", NULL};
    for (size_t i = 0; bad[i]; i++) {
        CU_ASSERT_EQUAL(xb_key_save(&key, g_dir, bad[i], NULL, NULL, 0, &err), -1);
        CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    }
    xb_key_t pub;
    CU_ASSERT_EQUAL(xb_key_set(&pub, key.public_key, NULL, &err), 0);
    CU_ASSERT_EQUAL(xb_key_save(&pub, g_dir, "nosecret", NULL, NULL, 0, &err), -1);
}

static void test_secret_file_open_to_others_refused(void)
{
    xb_key_t key, loaded;
    xb_error_t err;
    char pub_path[512], sec_path[512];
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&key, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_key_save(&key, g_dir, "leaky", pub_path, sec_path, 512, &err), 0);
    const mode_t modes[] = {0644, 0640, 0604, 0660};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        CU_ASSERT_EQUAL_FATAL(chmod(sec_path, modes[i]), 0);
        CU_ASSERT_EQUAL(xb_key_load(sec_path, &loaded, &err), -1);
        CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, sec_path));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "chmod 600"));
        CU_ASSERT_FALSE(xb_key_has_secret(&loaded));
    }
    CU_ASSERT_EQUAL_FATAL(chmod(sec_path, 0400), 0);
    CU_ASSERT_EQUAL(xb_key_load(sec_path, &loaded, &err), 0);
    /* A public file may be read by anyone. */
    CU_ASSERT_EQUAL(xb_key_load(pub_path, &loaded, &err), 0);
}

/* Loads text written as a file of mode 0600 and expects a refusal with
 * code and, when line > 0, "FILE:LINE:" and err.line. */
static void expect_refused(const char *text, xb_code_t code, int line, const char *says)
{
    char path[512];
    write_key_file("bad.key", 0600, text, path, sizeof path);
    xb_key_t key;
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_EQUAL(xb_key_load(path, &key, &err), -1);
    CU_ASSERT_EQUAL(err.code, code);
    if (line > 0) {
        char where[600];
        snprintf(where, sizeof where, "%s:%d: ", path, line);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, where));
        CU_ASSERT_EQUAL(err.line, line);
    }
    if (says)
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, says));
    if (says && !strstr(err.message, says))
        fprintf(stderr, "\nunexpected message: %s\n", err.message);
}

static void test_malformed_files(void)
{
    xb_key_t k1, k2;
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&k1, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&k2, &err), 0);
    char text[1024];
    /* Z85 of the wrong length, with bad characters, and a key that is too long. */
    expect_refused("# comment\n\npublic-key = abc\n", XB_ERR_PARSE, 3, "Z85");
    snprintf(text, sizeof text, "public-key = %.39s~\n", k1.public_key);
    expect_refused(text, XB_ERR_PARSE, 1, "Z85");
    snprintf(text, sizeof text, "# a\n# b\npublic-key = %s\nsecret-key = %sAAAAA\n", k1.public_key,
             k1.secret_key);
    expect_refused(text, XB_ERR_PARSE, 4, "secret-key is not a Z85 key");
    expect_refused("public-key\n", XB_ERR_PARSE, 1, "expected");
    snprintf(text, sizeof text, "public-key = %s\ncolour = blue\n", k1.public_key);
    expect_refused(text, XB_ERR_PARSE, 2, "unknown setting");
    snprintf(text, sizeof text, "public-key = %s\npublic-key = %s\n", k1.public_key, k1.public_key);
    expect_refused(text, XB_ERR_PARSE, 2, "twice");
    expect_refused("# nothing but a comment\n", XB_ERR_PARSE, 0, "no public-key");
    snprintf(text, sizeof text, "public-key = %s\nsecret-key = %s\n", k1.public_key, k2.secret_key);
    expect_refused(text, XB_ERR_PARSE, 0, "does not belong");

    /* Blanks, CRLF and comments are fine. */
    char path[512];
    snprintf(text, sizeof text, "  # key\r\n\r\n\tpublic-key=%s  \r\n", k1.public_key);
    write_key_file("crlf.key", 0644, text, path, sizeof path);
    xb_key_t key;
    CU_ASSERT_EQUAL(xb_key_load(path, &key, &err), 0);
    CU_ASSERT_STRING_EQUAL(key.public_key, k1.public_key);

    snprintf(path, sizeof path, "%s/absent.key", g_dir);
    CU_ASSERT_EQUAL(xb_key_load(path, &key, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, path));
}

static void test_load_client(void)
{
    char pub[512], sec[512], srv_pub[512], srv_sec[512];
    xb_key_t key, own, server;
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&key, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_key_save(&key, g_dir, "cl", pub, sec, 512, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&key, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_key_save(&key, g_dir, "srv", srv_pub, srv_sec, 512, &err), 0);
    CU_ASSERT_EQUAL(xb_key_load_client(sec, srv_pub, &own, &server, &err), 0);
    CU_ASSERT_TRUE(xb_key_has_secret(&own));
    CU_ASSERT_STRING_EQUAL(server.public_key, key.public_key);
    /* Of a secret file given as the server's key only the public key is kept. */
    CU_ASSERT_EQUAL(xb_key_load_client(sec, srv_sec, &own, &server, &err), 0);
    CU_ASSERT_FALSE(xb_key_has_secret(&server));
    CU_ASSERT_STRING_EQUAL(server.public_key, key.public_key);
    /* A public file as the own key. */
    CU_ASSERT_EQUAL(xb_key_load_client(pub, srv_pub, &own, &server, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "secret key file"));
    CU_ASSERT_FALSE(xb_key_has_secret(&own));
}

static void test_paths_from_env(void)
{
    xb_error_t err;
    const char *key = NULL, *server = NULL;
    unsetenv(XB_KEY_ENV);
    unsetenv(XB_SERVER_KEY_ENV);
    CU_ASSERT_EQUAL(xb_key_paths_from_env(&key, &server, &err), 0);
    CU_ASSERT_PTR_NULL(key);
    setenv(XB_KEY_ENV, "/k/me.key_secret", 1);
    setenv(XB_SERVER_KEY_ENV, "", 1); /* empty counts as unset */
    CU_ASSERT_EQUAL(xb_key_paths_from_env(&key, &server, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    setenv(XB_SERVER_KEY_ENV, "/k/pump.key", 1);
    key = server = NULL;
    CU_ASSERT_EQUAL(xb_key_paths_from_env(&key, &server, &err), 1);
    CU_ASSERT_STRING_EQUAL(key, "/k/me.key_secret");
    CU_ASSERT_STRING_EQUAL(server, "/k/pump.key");
    /* A path given wins over its variable. */
    key = "/given.key_secret";
    server = NULL;
    CU_ASSERT_EQUAL(xb_key_paths_from_env(&key, &server, &err), 1);
    CU_ASSERT_STRING_EQUAL(key, "/given.key_secret");
    unsetenv(XB_KEY_ENV);
    unsetenv(XB_SERVER_KEY_ENV);
}

static void test_apply_to_sockets(void)
{
    xb_key_t server, client, server_pub;
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&server, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_key_generate(&client, &err), 0);
    CU_ASSERT_EQUAL_FATAL(xb_key_set(&server_pub, server.public_key, NULL, &err), 0);
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    CU_ASSERT_EQUAL(xb_key_apply_server(router, &server, 0, &err), 0);
    CU_ASSERT_EQUAL(xb_key_apply_client(dealer, &client, &server_pub, 2500, &err), 0);
    int ivl = 0, on = 0;
    size_t len = sizeof ivl;
    zmq_getsockopt(dealer, ZMQ_HANDSHAKE_IVL, &ivl, &len);
    CU_ASSERT_EQUAL(ivl, 2500);
    len = sizeof on;
    zmq_getsockopt(router, ZMQ_CURVE_SERVER, &on, &len);
    CU_ASSERT_EQUAL(on, 1);
    /* A client needs its secret key. */
    CU_ASSERT_EQUAL(xb_key_apply_client(dealer, &server_pub, &server_pub, 0, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);

    /* The keys carry a real exchange (no ZAP handler: libzmq lets any key in). */
    CU_ASSERT_EQUAL_FATAL(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    len = sizeof ep;
    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, ep, &len);
    CU_ASSERT_EQUAL_FATAL(zmq_connect(dealer, ep), 0);
    CU_ASSERT_EQUAL(zmq_send(dealer, "hi", 2, 0), 2);
    zmq_pollitem_t item = {.socket = router, .events = ZMQ_POLLIN};
    CU_ASSERT_EQUAL(zmq_poll(&item, 1, 20000), 1);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
}

/* `xmlbus keygen NAME --dir DIR`: the two files with their modes, the public
 * key printed; a second run refuses to overwrite. */
static void test_keygen_command(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/xmlbus keygen client-1 --dir %s 2>&1", XB_BIN_DIR, g_dir);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    int status = pclose(p);
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char pub_path[512], sec_path[512];
    snprintf(pub_path, sizeof pub_path, "%s/client-1.key", g_dir);
    snprintf(sec_path, sizeof sec_path, "%s/client-1.key_secret", g_dir);
    CU_ASSERT_EQUAL(mode_of(pub_path), 0644);
    CU_ASSERT_EQUAL(mode_of(sec_path), 0600);
    xb_key_t key;
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_key_load(sec_path, &key, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, pub_path));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, sec_path));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, key.public_key));
    CU_ASSERT_PTR_NULL(strstr(buf, key.secret_key));

    p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    status = pclose(p);
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "never overwritten"));
}

static const xbt_test_t keys_tests[] = {
    {"generate, set, wipe", test_generate},
    {"save and load round trip, modes 0644 and 0600", test_save_load_round_trip},
    {"the secret file is 0600 under any umask", test_secret_created_0600_under_any_umask},
    {"an existing key file is never overwritten", test_no_overwrite},
    {"bad names and keys without a secret are not saved", test_bad_names},
    {"a secret file open to others is refused", test_secret_file_open_to_others_refused},
    {"malformed files: FILE:LINE", test_malformed_files},
    {"a client's two keys", test_load_client},
    {"key paths from XMLBUS_KEY and XMLBUS_SERVER_KEY", test_paths_from_env},
    {"client and server options on real sockets", test_apply_to_sockets},
    {"xmlbus keygen", test_keygen_command},
    {NULL, NULL},
};

XBT_SUITES({"keys", keys_init, keys_clean, NULL, NULL, keys_tests});
