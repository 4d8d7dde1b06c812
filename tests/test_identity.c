/* Identity (pump/identity.c and where its rules are applied: route.c,
 * peers.c, children.c; docs/security.md): who a client or a peer is comes
 * from its connection and the token the pump gave its child, never from a
 * name, pid or thread UUID a message presents. Tried as an attacker, on an
 * in-process pump driven one turn at a time. */
#include <CUnit/CUnit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pump_internal.h"
#include "pumpfix.h"
#include "redis_server.h"
#include "xbt.h"
#include "xbt_main.h"
#include "xmlbus/uuid.h"

#define ENV_NS "https://xml-pipeline.org/ns/envelope/v1"

static pumpfix_t f;

static void teardown(void)
{
    pumpfix_close(&f);
}

/* The SystemError code of a REJECTED (frame 3), "" when m is not one. */
static const char *rejected_code(xb_frames_t *m, char *code, size_t cap)
{
    code[0] = '\0';
    if (m && xb_frames_eq(m, 1, XB_CMD_REJECTED))
        pumpfix_error_code(m, 3, code, cap);
    return code;
}

/* Sends a SEND with from (may be "") and returns its verdict (caller frees). */
static xb_frames_t *send_from(void *client, const char *body, const char *from)
{
    pumpfix_send(client, XB_CMD_SEND, "r", body, "", from, NULL);
    return pumpfix_recv(&f, client);
}

/* An envelope on thread from `from`, with payload. Caller frees. */
static char *envelope(const char *from, const char *thread, const char *payload)
{
    size_t cap = strlen(payload) + 512;
    char *s = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    snprintf(s, cap,
             "<message xmlns=\"" ENV_NS "\"><meta><from>%s</from><thread>%s</thread></meta>"
             "%s</message>",
             from, thread, payload);
    return s;
}

/* ---- conversations belong to the connection that started them ------------ */

#define CONV_YAML "listeners:\n  - name: echo\n    payload: ping\n"

static void *echo;

static void conv_setup(void)
{
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, CONV_YAML), 0);
    echo = pumpfix_listener(&f, "echo", 1, false, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(echo);
}

/* A client starts a conversation; returns its thread in thread and the
 * delivery id echo got in id. */
static void start_conversation(void *client, char thread[64], char id[32])
{
    xb_frames_t *m = send_from(client, "<ping>1</ping>", "");
    CU_ASSERT_FATAL(m && xb_frames_eq(m, 1, XB_CMD_ACCEPTED));
    pumpfix_str(m, 3, thread, 64);
    xb_frames_destroy(&m);
    m = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    pumpfix_str(m, 2, id, 32);
    xb_frames_destroy(&m);
}

/* A second client that presents the first one's thread is refused with
 * `denied` (for SEND and POST), the conversation stays the first client's:
 * the answer goes to it, the intruder hears nothing more. */
static void test_takeover_refused(void)
{
    void *owner = pumpfix_dealer(&f), *intruder = pumpfix_dealer(&f);
    char thread[64], id[32], code[32];
    start_conversation(owner, thread, id);
    char *env = envelope("console", thread, "<ping xmlns=\"\">2</ping>");
    xb_frames_t *m = send_from(intruder, env, "");
    CU_ASSERT_STRING_EQUAL(rejected_code(m, code, sizeof code), "denied");
    char *why = m ? xb_frames_strdup(m, 3) : NULL;
    CU_ASSERT(why && strstr(why, "may not continue that thread"));
    CU_ASSERT(why && !strstr(why, thread)); /* nothing about the conversation */
    free(why);
    xb_frames_destroy(&m);
    pumpfix_send(intruder, XB_CMD_POST, "p", env, "", "", NULL);
    m = pumpfix_recv(&f, intruder);
    CU_ASSERT_STRING_EQUAL(rejected_code(m, code, sizeof code), "denied");
    xb_frames_destroy(&m);
    free(env);
    CU_ASSERT(pumpfix_quiet(&f, echo, 3)); /* nothing of it was routed */
    pumpfix_send(echo, XB_CMD_REPLY, id, "1", "^", "<pong/>", NULL);
    m = pumpfix_expect(&f, owner, XB_CMD_DELIVER);
    char *answer = m ? xb_frames_strdup(m, 3) : NULL;
    CU_ASSERT(answer && strstr(answer, "<pong/>"));
    free(answer);
    xb_frames_destroy(&m);
    CU_ASSERT(pumpfix_quiet(&f, intruder, 3));
}

/* The owner itself continues its live conversation. */
static void test_owner_continues(void)
{
    void *owner = pumpfix_dealer(&f);
    char thread[64], id[32];
    start_conversation(owner, thread, id);
    char *env = envelope("console", thread, "<ping xmlns=\"\">2</ping>");
    xb_frames_t *m = send_from(owner, env, "");
    free(env);
    CU_ASSERT(m && xb_frames_eq(m, 1, XB_CMD_ACCEPTED));
    char again[64];
    CU_ASSERT_STRING_EQUAL(pumpfix_str(m, 3, again, sizeof again), thread); /* the same thread */
    xb_frames_destroy(&m);
    pumpfix_send(echo, XB_CMD_DONE, id, NULL);
    m = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
}

/* A client may not send under a listener's name nor as system, by the from
 * frame or the envelope's <from>; any other name is its own hop. */
static void test_listener_name_as_from_refused(void)
{
    void *client = pumpfix_dealer(&f);
    char code[32];
    xb_frames_t *m = send_from(client, "<ping/>", "echo");
    CU_ASSERT_STRING_EQUAL(rejected_code(m, code, sizeof code), "denied");
    xb_frames_destroy(&m);
    m = send_from(client, "<ping/>", "system");
    CU_ASSERT_STRING_EQUAL(rejected_code(m, code, sizeof code), "denied");
    xb_frames_destroy(&m);
    char thread[XB_UUID_LEN + 1];
    xb_uuid_new(thread);
    char *env = envelope("echo", thread, "<ping xmlns=\"\"/>");
    m = send_from(client, env, "");
    free(env);
    CU_ASSERT_STRING_EQUAL(rejected_code(m, code, sizeof code), "denied");
    xb_frames_destroy(&m);
    CU_ASSERT(pumpfix_quiet(&f, echo, 3));
    m = send_from(client, "<ping/>", "operator");
    CU_ASSERT(m && xb_frames_eq(m, 1, XB_CMD_ACCEPTED));
    xb_frames_destroy(&m);
    m = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    char *delivered = m ? xb_frames_strdup(m, 3) : NULL;
    CU_ASSERT(delivered && strstr(delivered, ":from>operator</"));
    free(delivered);
    xb_frames_destroy(&m);
}

/* ---- one process at a time for a listener that is not a pool -------------- */

#define PEERS_YAML                                      \
    "process_pool:\n  heartbeat: 1\n  liveness: 1000\n" \
    "listeners:\n  - name: echo\n    payload: ping\n"   \
    "  - name: pool\n    payload: many\n    cpu_bound: true\n    workers: 2\n"

static void peers_setup(void)
{
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, PEERS_YAML), 0);
}

/* READY name as a listener with token (may be NULL); returns the answer's
 * command in cmd. */
static const char *ready(void *s, const char *name, const char *token, char *cmd, size_t cap)
{
    if (token)
        pumpfix_send(s, XB_CMD_READY, name, "listener", "0", "1", "", token, NULL);
    else
        pumpfix_send(s, XB_CMD_READY, name, "listener", "0", "1", NULL);
    xb_frames_t *m = pumpfix_recv(&f, s);
    pumpfix_str(m, 1, cmd, cap);
    xb_frames_destroy(&m);
    return cmd;
}

/* A second READY under a live name is refused (it would take messages from
 * the first); the first keeps its registration and its messages. */
static void test_duplicate_ready_refused(void)
{
    void *first = pumpfix_dealer(&f), *second = pumpfix_dealer(&f), *third = pumpfix_dealer(&f);
    void *client = pumpfix_dealer(&f);
    char cmd[32];
    CU_ASSERT_STRING_EQUAL(ready(first, "echo", "tok-first", cmd, sizeof cmd), XB_CMD_WELCOME);
    CU_ASSERT_STRING_EQUAL(ready(second, "echo", NULL, cmd, sizeof cmd), XB_CMD_REFUSED);
    CU_ASSERT_STRING_EQUAL(ready(third, "echo", "tok-other", cmd, sizeof cmd), XB_CMD_REFUSED);
    CU_ASSERT_EQUAL(f.pump->n_peers, 1);
    for (int i = 0; i < 3; i++) {
        xb_frames_t *m = send_from(client, "<ping/>", "");
        xb_frames_destroy(&m);
        m = pumpfix_expect(&f, first, XB_CMD_DELIVER);
        char id[32];
        pumpfix_send(first, XB_CMD_DONE, pumpfix_str(m, 2, id, sizeof id), NULL);
        xb_frames_destroy(&m);
    }
    CU_ASSERT(pumpfix_quiet(&f, second, 3));
    CU_ASSERT(pumpfix_quiet(&f, third, 1));
}

/* The same token on a new connection is the same process reconnecting: it
 * replaces its stale registration. A registration whose connection is
 * gone is no obstacle either. */
static void test_same_token_replaces(void)
{
    void *old = pumpfix_dealer(&f), *fresh = pumpfix_dealer(&f), *client = pumpfix_dealer(&f);
    char cmd[32];
    CU_ASSERT_STRING_EQUAL(ready(old, "echo", "tok-mine", cmd, sizeof cmd), XB_CMD_WELCOME);
    CU_ASSERT_STRING_EQUAL(ready(fresh, "echo", "tok-mine", cmd, sizeof cmd), XB_CMD_WELCOME);
    CU_ASSERT_EQUAL(f.pump->n_peers, 1);
    xb_frames_t *m = send_from(client, "<ping/>", "");
    xb_frames_destroy(&m);
    m = pumpfix_expect(&f, fresh, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
    CU_ASSERT(pumpfix_quiet(&f, old, 2));
    /* Its connection gone (without BYE), another process may register:
     * the pump finds the old connection unreachable. ZeroMQ tears the pipe
     * down in its own thread: a bounded number of tries. */
    pumpfix_hangup(&f, fresh);
    void *next = pumpfix_dealer(&f);
    bool welcomed = false;
    for (int i = 0; i < 100 && !welcomed; i++)
        welcomed = strcmp(ready(next, "echo", NULL, cmd, sizeof cmd), XB_CMD_WELCOME) == 0;
    CU_ASSERT(welcomed);
    CU_ASSERT_EQUAL(f.pump->n_peers, 1);
    /* the message fresh held failed with it (a plain listener: crash) */
    m = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    char code[32];
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, code, sizeof code), "crash");
    xb_frames_destroy(&m);
}

/* A pool takes several workers under its name. */
static void test_pool_takes_several(void)
{
    void *w1 = pumpfix_listener(&f, "pool", 1, true, false);
    void *w2 = pumpfix_listener(&f, "pool", 1, true, false);
    void *w3 = pumpfix_listener(&f, "pool", 1, true, false);
    CU_ASSERT(w1 && w2 && w3);
    CU_ASSERT_EQUAL(f.pump->n_peers, 3);
}

/* ---- the pump's own children: known by their token, never by a pid -------- */

#define PASSWORD "kid-s3cret"

static xb_redis_server_t *redis;

static int kids_init(void)
{
    xb_error_t err;
    xb_error_clear(&err);
    xb_redis_server_opts_t opts = {.password = PASSWORD};
    redis = xb_redis_server_start(&opts, &err);
    if (!redis)
        fprintf(stderr, "\n*** redis-server could not be started: %s ***\n", err.message);
    return 0;
}

static int kids_clean(void)
{
    xb_redis_server_destroy(&redis);
    return 0;
}

static pid_t kid_pid[2];

/* A pump on the password-protected Redis with `kid` (one process) and
 * `crew` (a pool of one) started by the pump: the fixture starts none, so
 * the test forks stand-ins and gives the pump their pids and tokens, as
 * spawning them would. */
static void kids_setup(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(redis);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "backend:\n  type: redis\n  redis_url: redis://:" PASSWORD "@127.0.0.1:%d/0\n"
             "  redis_prefix: \"identity:\"\n"
             "process_pool:\n  heartbeat: 1\n  liveness: 1000\n"
             "listeners:\n  - name: kid\n    payload: one\n    command: [none]\n"
             "  - name: crew\n    payload: many\n    cpu_bound: true\n    workers: 1\n"
             "    command: [none]\n",
             xb_redis_server_port(redis));
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, yaml), 0);
    CU_ASSERT_EQUAL_FATAL(f.pump->n_children, 2);
    for (int i = 0; i < 2; i++) {
        kid_pid[i] = fork();
        if (kid_pid[i] == 0) {
            pause();
            _exit(0);
        }
        CU_ASSERT_FATAL(kid_pid[i] > 0);
        f.pump->children[i].pid = kid_pid[i];
        xb_uuid_new(f.pump->children[i].token);
    }
}

/* Ends the stand-ins before the pump stops (which would wait for them). */
static void kids_teardown(void)
{
    for (int i = 0; i < 2; i++) {
        f.pump->children[i].pid = 0;
        kill(kid_pid[i], SIGKILL);
        waitpid(kid_pid[i], NULL, 0);
    }
    pumpfix_close(&f);
}

/* READY for child i's listener from s claiming pid with token (may be NULL);
 * returns the answer (caller frees). */
static xb_frames_t *kid_ready(void *s, const char *name, const char *kind, pid_t pid,
                              const char *token)
{
    char spid[16];
    snprintf(spid, sizeof spid, "%d", (int)pid);
    if (token)
        pumpfix_send(s, XB_CMD_READY, name, kind, spid, "1", "", token, NULL);
    else
        pumpfix_send(s, XB_CMD_READY, name, kind, spid, "1", NULL);
    return pumpfix_recv(&f, s);
}

/* WELCOME's backend-location (frame 5) holds the password or not. */
static bool welcome_has_password(const xb_frames_t *m)
{
    char loc[512];
    CU_ASSERT(m && xb_frames_eq(m, 1, XB_CMD_WELCOME));
    pumpfix_str(m, 5, loc, sizeof loc);
    CU_ASSERT(strstr(loc, "127.0.0.1") != NULL);
    return strstr(loc, PASSWORD) != NULL;
}

/* A peer that claims a child's pid without its token is a peer started
 * elsewhere: no password, not the child; it cannot knock the child off. */
static void test_guessed_pid_gets_no_password(void)
{
    /* a worker of the pool, claiming the pool child's pid */
    void *guess = pumpfix_dealer(&f);
    xb_frames_t *m = kid_ready(guess, "crew", "worker", kid_pid[1], NULL);
    CU_ASSERT_FALSE(welcome_has_password(m));
    xb_frames_destroy(&m);
    CU_ASSERT_PTR_NULL(f.pump->children[1].peer);
    /* the token of another listener's child proves nothing here either */
    void *borrowed = pumpfix_dealer(&f);
    m = kid_ready(borrowed, "crew", "worker", kid_pid[0], f.pump->children[0].token);
    CU_ASSERT_FALSE(welcome_has_password(m));
    xb_frames_destroy(&m);
    CU_ASSERT_PTR_NULL(f.pump->children[1].peer);
    /* the child itself, with its token */
    void *real = pumpfix_dealer(&f);
    m = kid_ready(real, "crew", "worker", 1, f.pump->children[1].token);
    CU_ASSERT_TRUE(welcome_has_password(m));
    xb_frames_destroy(&m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.pump->children[1].peer);
    CU_ASSERT_EQUAL(f.pump->children[1].peer->pid, kid_pid[1]); /* its real pid, not the claim */
    CU_ASSERT_EQUAL(f.pump->n_peers, 3);
}

/* The child registered, a READY with its pid and no token is refused and
 * changes nothing; one that came first is replaced by the child. */
static void test_pid_claim_cannot_replace_child(void)
{
    void *squatter = pumpfix_dealer(&f);
    xb_frames_t *m = kid_ready(squatter, "kid", "listener", kid_pid[0], NULL);
    CU_ASSERT_FALSE(welcome_has_password(m));
    xb_frames_destroy(&m);
    void *real = pumpfix_dealer(&f);
    m = kid_ready(real, "kid", "listener", kid_pid[0], f.pump->children[0].token);
    CU_ASSERT_TRUE(welcome_has_password(m));
    xb_frames_destroy(&m);
    m = pumpfix_expect(&f, squatter, XB_CMD_REFUSED); /* the pump's own process took its place */
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
    peer_t *child_peer = f.pump->children[0].peer;
    CU_ASSERT_PTR_NOT_NULL_FATAL(child_peer);
    void *again = pumpfix_dealer(&f);
    m = kid_ready(again, "kid", "listener", kid_pid[0], NULL);
    CU_ASSERT(m && xb_frames_eq(m, 1, XB_CMD_REFUSED));
    xb_frames_destroy(&m);
    CU_ASSERT_PTR_EQUAL(f.pump->children[0].peer, child_peer);
    CU_ASSERT_EQUAL(f.pump->n_peers, 1);
    CU_ASSERT(xbt_pid_alive(kid_pid[0]));
}

/* The child's token on a new connection replaces its stale registration
 * (the pump was paused, the child reconnected). */
static void test_child_token_replaces_stale(void)
{
    void *old = pumpfix_dealer(&f), *fresh = pumpfix_dealer(&f);
    xb_frames_t *m = kid_ready(old, "kid", "listener", kid_pid[0], f.pump->children[0].token);
    CU_ASSERT_TRUE(welcome_has_password(m));
    xb_frames_destroy(&m);
    m = kid_ready(fresh, "kid", "listener", kid_pid[0], f.pump->children[0].token);
    CU_ASSERT_TRUE(welcome_has_password(m));
    xb_frames_destroy(&m);
    CU_ASSERT_EQUAL(f.pump->n_peers, 1);
    CU_ASSERT_PTR_EQUAL(f.pump->children[0].peer, f.pump->peers);
    CU_ASSERT(xbp_rid_eq(&f.pump->peers->rid, &f.pump->children[0].peer->rid));
}

/* Started elsewhere, a peer gets the URL without credentials, whichever
 * form carries them. */
static void test_location_without_password(void)
{
    xb_backend_config_t *b = &f.pump->cfg->backend;
    char saved[sizeof b->redis_url], out[1024];
    memcpy(saved, b->redis_url, sizeof saved);
    static const char *const cases[][2] = {
        {"redis://:pw@10.0.0.1:6380/3", "redis://10.0.0.1:6380/3"},
        {"redis://user:pw@[::1]:6379", "redis://[::1]:6379/0"},
        {"redis://10.0.0.1:6380/2?password=pw", "redis://10.0.0.1:6380/2"},
        {"unix:///run/r.sock?db=2&password=pw", "unix:///run/r.sock?db=2"},
        {"unix:///run/r.sock?password=pw", "unix:///run/r.sock"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(b->redis_url, sizeof b->redis_url, "%s", cases[i][0]);
        xbp_identity_backend_location(f.pump, false, out, sizeof out);
        CU_ASSERT_STRING_EQUAL(out, cases[i][1]);
        xbp_identity_backend_location(f.pump, true, out, sizeof out);
        CU_ASSERT_STRING_EQUAL(out, cases[i][0]);
    }
    memcpy(b->redis_url, saved, sizeof saved);
}

/* ---- real children: the token travels in the environment ------------------ */

#define SPAWN_YAML                                                              \
    "organism:\n  name: spawned\n  endpoint: @ENDPOINT@\n"                      \
    "listeners:\n  - name: echo\n    payload: ping\n    command: xmlbus-echo\n" \
    "  - name: crew\n    payload: many\n    cpu_bound: true\n    workers: 2\n"  \
    "    command: xmlbus-echo\n"

/* The NUL-separated file /proc/pid/what (its size is not known before it
 * is read) as one string with spaces. Caller frees; NULL if unreadable. */
static char *proc_text(pid_t pid, const char *what)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    FILE *in = fopen(path, "r");
    char *s = in ? calloc(1, 1 << 20) : NULL;
    size_t len = s ? fread(s, 1, (1 << 20) - 1, in) : 0;
    if (in)
        fclose(in);
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0')
            s[i] = ' ';
    return s;
}

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *at = s; s && (at = strstr(at, what)); at += strlen(what))
        n++;
    return n;
}

/* Every process the pump starts gets its own token in its environment
 * (XMLBUS_CHILD_TOKEN), never on its command line, and registers with it:
 * the pump counts none of them as started elsewhere. */
static void test_token_in_environment(void)
{
    xbt_pump_t pump;
    CU_ASSERT_EQUAL_FATAL(xbt_pump_start(&pump, SPAWN_YAML), 0);
    char *log = NULL;
    XBT_WAIT_UNTIL(
        (free(log), log = xbt_read_file(pump.log, NULL), count_of(log, " registered (pid ") == 3),
        15000);
    CU_ASSERT_EQUAL(count_of(log, " registered (pid "), 3);
    CU_ASSERT_EQUAL(count_of(log, "started elsewhere"), 0);
    pid_t kids[8];
    size_t n = xbt_children(pump.pid, kids, 8);
    CU_ASSERT_EQUAL(n, 3);
    char tokens[3][XB_UUID_LEN + 1] = {{0}};
    for (size_t i = 0; i < n && i < 3; i++) {
        char *env = proc_text(kids[i], "environ");
        char *cmd = proc_text(kids[i], "cmdline");
        const char *t = env ? strstr(env, "XMLBUS_CHILD_TOKEN=") : NULL;
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        snprintf(tokens[i], sizeof tokens[i], "%s", t + strlen("XMLBUS_CHILD_TOKEN="));
        CU_ASSERT_TRUE(xb_uuid_is_canonical(tokens[i]));
        CU_ASSERT_PTR_NOT_NULL(cmd);
        CU_ASSERT(cmd && !strstr(cmd, tokens[i]) && !strstr(cmd, "TOKEN"));
        CU_ASSERT(log && !strstr(log, tokens[i])); /* nor in the log */
        for (size_t k = 0; k < i; k++)
            CU_ASSERT_STRING_NOT_EQUAL(tokens[i], tokens[k]);
        free(env);
        free(cmd);
    }
    free(log);
    xbt_pump_finish(&pump, 15);
}

static const xbt_test_t conv_tests[] = {
    {"another client cannot take a conversation over", test_takeover_refused},
    {"the owner continues its conversation", test_owner_continues},
    {"a listener's name as from is refused", test_listener_name_as_from_refused},
    {NULL, NULL},
};

static const xbt_test_t peers_tests[] = {
    {"a second READY under a live name is refused", test_duplicate_ready_refused},
    {"the same token replaces a stale registration", test_same_token_replaces},
    {"a pool takes several workers", test_pool_takes_several},
    {NULL, NULL},
};

static const xbt_test_t kids_tests[] = {
    {"a guessed pid gets no password", test_guessed_pid_gets_no_password},
    {"a pid claim cannot replace the child", test_pid_claim_cannot_replace_child},
    {"the child's token replaces its stale registration", test_child_token_replaces_stale},
    {"the URL without its password", test_location_without_password},
    {NULL, NULL},
};

static const xbt_test_t spawn_tests[] = {
    {"the token is in the environment", test_token_in_environment},
    {NULL, NULL},
};

XBT_SUITES({"conversations", NULL, NULL, conv_setup, teardown, conv_tests},
           {"peers", NULL, NULL, peers_setup, teardown, peers_tests},
           {"children", kids_init, kids_clean, kids_setup, kids_teardown, kids_tests},
           {"spawned", NULL, NULL, NULL, NULL, spawn_tests});
