/* Integration tests of the pump on its three backends (docs/backends.md;
 * docs/backends.md): a real `xmlbus run` process started from the example
 * organisms examples/hello/organism{,-manager,-redis}.yaml, real listener
 * processes (hello-greeter, hello-shouter, xmlbus-echo, xbtest-history), a
 * real redis-server (tests/support/redis_server.h) and LMDB in a temporary
 * folder.
 *
 * Suites, one per backend, each with its own pump:
 *   memory   hello flow, listener history through the pump (HISTORY), CLI
 *   manager  hello flow, listener history straight from LMDB, pump restart
 *            keeps history, CLI
 *   redis    the same on Redis
 *   tenants  two organisms on one Redis with different redis_prefix
 *   outage   Redis killed under traffic, then restarted on the same port
 *   journal  a pump killed with a message in hand (manager, redis): the
 *            pump started again where its client waits delivers it again,
 *            marked, and the client gets the answer; with max_redeliveries 0
 *            a dead letter, listed, shown, retried and purged by the CLI
 * A missing redis-server fails the Redis suites with a clear message. */
#include <CUnit/Basic.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis_server.h"
#include "xbt.h"
#include "xbt_main.h"
#include "xbt_wait.h"
#include "xmlbus/backend.h"
#include "xmlbus/client.h"

/* Listeners added to every example organism (its listeners section is last). */
#define EXTRA_LISTENERS                                                    \
    "\n  - name: historian\n    payload: [history-probe, history-count]\n" \
    "    command: @TESTBIN@/xbtest-history\n"                              \
    "\n  - name: echo\n    payload: ping\n    command: xmlbus-echo\n"

/* The lines of the examples that the tests change (each must be found). */
#define EXAMPLE_ENDPOINT "endpoint: tcp://127.0.0.1:7400"
#define EXAMPLE_NAME "  name: hello\n"
#define EXAMPLE_LMDB "path: .xmlbus/hello.lmdb"
#define EXAMPLE_REDIS "redis_url: redis://127.0.0.1:6379/0"
#define EXAMPLE_PREFIX "redis_prefix: \"hello:\""

#define WAIT_MS 10000

/* One organism under test: its yaml (kept for restarts), its pump, and what
 * the hello flow left behind for later tests of the suite. */
typedef struct {
    const char *type; /* memory | manager | redis */
    char *yaml;       /* organism.yaml with @ENDPOINT@ left in */
    char *files[5];   /* greeter.xsd, text, shouter.xsd, text, NULL */
    xbt_pump_t pump;
    bool up;
    xb_backend_config_t backend; /* what the pump was configured with */
    char thread[XB_UUID_STR];    /* the sender's thread of the first hello flow */
    char *history;               /* its `history` control body */
} org_t;

static xb_redis_server_t *redis; /* xb_redis_server_shared, for the redis and tenants suites */
static char redis_error[512];
static char *lmdb_dir;
static int sanitizer_reports; /* in the logs of the pumps and listeners */
static org_t mem_org = {.type = "memory"}, mgr_org = {.type = "manager"},
             redis_org = {.type = "redis"}, alpha_org = {.type = "redis"},
             beta_org = {.type = "redis"};

/* ---- helpers ---------------------------------------------------------------- */

static char *read_source(const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", XB_SOURCE_DIR, rel);
    return xbt_read_file(path, NULL);
}

/* Replaces the first occurrence of key in *s; returns false if key is absent. */
static bool replace_once(char **s, const char *key, const char *value)
{
    char *at = *s ? strstr(*s, key) : NULL;
    if (!at)
        return false;
    size_t n = strlen(*s) - strlen(key) + strlen(value) + 1;
    char *out = malloc(n);
    if (!out)
        return false;
    snprintf(out, n, "%.*s%s%s", (int)(at - *s), *s, value, at + strlen(key));
    free(*s);
    *s = out;
    return true;
}

/* Loads examples/hello/<example>, points it at the test's endpoint and
 * storage (repl: NULL-terminated key, value pairs that must all be found),
 * and appends the test listeners. Fails when the example has changed so
 * that a key is no longer there: the test would not run the example. */
static int org_load(org_t *o, const char *example, const char *const *repl)
{
    char rel[128];
    snprintf(rel, sizeof rel, "examples/hello/%s", example);
    char *y = read_source(rel);
    if (!y || !replace_once(&y, EXAMPLE_ENDPOINT, "endpoint: @ENDPOINT@")) {
        fprintf(stderr, "%s: cannot read it or it has no endpoint %s\n", rel, EXAMPLE_ENDPOINT);
        free(y);
        return -1;
    }
    for (size_t i = 0; repl && repl[i] && repl[i + 1]; i += 2) {
        if (!replace_once(&y, repl[i], repl[i + 1])) {
            fprintf(stderr, "%s: expected '%s' in it\n", rel, repl[i]);
            free(y);
            return -1;
        }
    }
    size_t n = strlen(y) + sizeof EXTRA_LISTENERS;
    o->yaml = malloc(n);
    if (!o->yaml) {
        free(y);
        return -1;
    }
    snprintf(o->yaml, n, "%s%s", y, EXTRA_LISTENERS);
    free(y);
    o->files[0] = strdup("greeter.xsd");
    o->files[1] = read_source("examples/hello/greeter.xsd");
    o->files[2] = strdup("shouter.xsd");
    o->files[3] = read_source("examples/hello/shouter.xsd");
    o->files[4] = NULL;
    return o->files[0] && o->files[1] && o->files[2] && o->files[3] ? 0 : -1;
}

static int org_start(org_t *o)
{
    o->up = xbt_pump_start_files(&o->pump, o->yaml, (const char *const *)o->files) == 0;
    return o->up ? 0 : -1;
}

/* Stops the pump with SIGTERM; returns the exit status (-1 on timeout). */
static int org_stop(org_t *o)
{
    if (!o->up)
        return -1;
    o->up = false;
    int status = xbt_pump_stop(&o->pump, SIGTERM, 20);
    if (CU_get_number_of_failures() > 0)
        xbt_pump_dump_log(&o->pump);
    if (!xbt_pump_log_clean(&o->pump))
        sanitizer_reports++;
    xbt_rmtree(o->pump.dir);
    return status;
}

static void org_free(org_t *o)
{
    org_stop(o);
    free(o->yaml);
    for (int i = 0; i < 4; i++)
        free(o->files[i]);
    free(o->history);
    const char *type = o->type;
    memset(o, 0, sizeof *o);
    o->type = type;
}

/* A control request; the body (caller frees) or NULL. */
static char *control(org_t *o, const char *verb, const char *arg)
{
    xb_client_t *c = xbt_client(&o->pump);
    if (!c)
        return NULL;
    xb_error_t err;
    xb_error_clear(&err);
    char *body = NULL;
    const char *args[] = {arg};
    if (xb_client_control(c, verb, arg ? args : NULL, arg ? 1 : 0, WAIT_MS, &body, &err) != 0) {
        fprintf(stderr, "control %s %s: %s\n", verb, arg ? arg : "", err.message);
        body = NULL;
    }
    xb_client_destroy(&c);
    return body;
}

/* The attribute of the payload element (the child of the envelope that is
 * not <meta>) of an envelope (caller frees), or NULL. */
static char *payload_attr(const char *env, const char *attr)
{
    if (!env)
        return NULL;
    xmlDoc *doc = xb_client_read_xml(env, strlen(env), NULL);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    char *out = NULL;
    for (xmlNode *n = root ? root->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "meta") == 0)
            continue;
        xmlChar *v = xmlGetProp(n, BAD_CAST attr);
        out = v ? strdup((const char *)v) : NULL;
        xmlFree(v);
        break;
    }
    if (doc)
        xmlFreeDoc(doc);
    return out;
}

/* True when the `threads` body lists uuid. */
static bool lists_thread(const char *threads, const char *uuid)
{
    char needle[64];
    snprintf(needle, sizeof needle, "uuid=\"%s\"", uuid);
    return threads && strstr(threads, needle) != NULL;
}

/* The number of <thread> rows in a `threads` body, -1 without a body. */
static int thread_rows(const char *threads)
{
    return threads ? xbt_count(threads, "<thread ") : -1;
}

/* Opens the organism's backend from the test process, as another process
 * of the machine would, and returns the length of thread (-1 on failure). */
static long stored_len(const org_t *o, const char *thread)
{
    xb_error_t err;
    xb_error_clear(&err);
    xb_backend_t *b = xb_backend_new(&o->backend, &err);
    long len = -1;
    if (!b || xb_backend_buffer_thread_len(b, thread, &len, &err) != 0) {
        fprintf(stderr, "reading %s from the %s backend: %s\n", thread, o->type, err.message);
        len = -1;
    }
    xb_backend_destroy(&b);
    return len;
}

/* The hello flow: greeting in, two answers from greeter on the sender's
 * thread (filled in thread). */
static void hello_flow(org_t *o, char thread[XB_UUID_STR])
{
    thread[0] = '\0';
    xb_client_t *c = xbt_client(&o->pump);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    xb_error_t err;
    xb_error_clear(&err);
    const char *g = "<greeting><name>World</name></greeting>";
    int rc = xb_client_send(c, g, strlen(g), NULL, NULL, WAIT_MS, thread, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "%s: hello refused: %s\n", o->type, err.message);
    CU_ASSERT_EQUAL(rc, 0);
    char *a = rc == 0 ? xbt_recv(c, WAIT_MS) : NULL;
    char *b = a ? xbt_recv(c, WAIT_MS) : NULL;
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(b);
    if (a && b) {
        char *fa = xbt_text_of(a, "from"), *fb = xbt_text_of(b, "from");
        char *ta = xbt_text_of(a, "thread"), *tb = xbt_text_of(b, "thread");
        CU_ASSERT(fa && strcmp(fa, "greeter") == 0);
        CU_ASSERT(fb && strcmp(fb, "greeter") == 0);
        CU_ASSERT(ta && strcmp(ta, thread) == 0);
        CU_ASSERT(tb && strcmp(tb, thread) == 0);
        CU_ASSERT(strstr(a, "Hello, World!") || strstr(b, "Hello, World!"));
        CU_ASSERT(strstr(a, "HELLO, WORLD!") || strstr(b, "HELLO, WORLD!"));
        free(fa);
        free(fb);
        free(ta);
        free(tb);
    }
    free(a);
    free(b);
    xb_client_destroy(&c);
}

/* ---- 1. the hello flow on each backend ------------------------------------- */

static void check_hello(org_t *o, const char *location)
{
    CU_ASSERT_FATAL(o->up);
    hello_flow(o, o->thread);
    CU_ASSERT_EQUAL_FATAL(strlen(o->thread), 36);
    /* The sender's thread holds the two answers, recorded once each. */
    free(o->history);
    o->history = control(o, "history", o->thread);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o->history);
    CU_ASSERT_EQUAL(xbt_count(o->history, "<slot "), 2);
    CU_ASSERT(strstr(o->history, "Hello, World!") != NULL);
    CU_ASSERT(strstr(o->history, "HELLO, WORLD!") != NULL);
    /* backend-info names the backend and where it lives. */
    char *info = control(o, "backend-info", NULL);
    char *type = xbt_root_attr(info, "type"), *ping = xbt_root_attr(info, "ping");
    char *loc = xbt_root_attr(info, "location");
    CU_ASSERT(type && strcmp(type, o->type) == 0);
    CU_ASSERT(ping && strcmp(ping, "ok") == 0);
    CU_ASSERT(loc && strcmp(loc, location) == 0);
    if (loc && strcmp(loc, location) != 0)
        fprintf(stderr, "%s: location '%s', expected '%s'\n", o->type, loc, location);
    free(type);
    free(ping);
    free(loc);
    free(info);
    /* With a shared backend the slots are in the store itself, where any
     * other process of the organism reads them. */
    if (strcmp(o->type, "memory") != 0)
        CU_ASSERT_EQUAL(stored_len(o, o->thread), 2);
}

static void test_memory_hello(void)
{
    check_hello(&mem_org, "");
}

static void test_manager_hello(void)
{
    char real[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(mgr_org.backend.path, real));
    check_hello(&mgr_org, real);
}

static void test_redis_hello(void)
{
    char loc[64];
    snprintf(loc, sizeof loc, "127.0.0.1:%d/0", redis ? xb_redis_server_port(redis) : 0);
    check_hello(&redis_org, loc);
    /* The keys are where docs/backend-redis.md says: P buffer:THREAD, a LIST. */
    redisContext *rc = redis ? redisConnect("127.0.0.1", xb_redis_server_port(redis)) : NULL;
    CU_ASSERT_FATAL(rc && !rc->err);
    redisReply *r = redisCommand(rc, "LLEN hello:buffer:%s", redis_org.thread);
    CU_ASSERT(r && r->type == REDIS_REPLY_INTEGER && r->integer == 2);
    freeReplyObject(r);
    r = redisCommand(rc, "TTL hello:buffer:%s", redis_org.thread);
    CU_ASSERT(r && r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 3600);
    freeReplyObject(r);
    redisFree(rc);
}

/* ---- 4. a listener reads its own thread's history --------------------------- */

/* Sends body to the historian and returns its <history-count> envelope. */
static char *probe(org_t *o, const char *body)
{
    xb_client_t *c = xbt_client(&o->pump);
    xb_error_t err;
    xb_error_clear(&err);
    char *env = NULL;
    if (c && xb_client_send(c, body, strlen(body), NULL, NULL, WAIT_MS, NULL, NULL, &err) == 0)
        env = xbt_recv(c, WAIT_MS);
    else
        fprintf(stderr, "%s: probe refused: %s\n", o->type, err.message);
    xb_client_destroy(&c);
    if (env && !strstr(env, "<history-count"))
        fprintf(stderr, "%s: the historian answered %s\n", o->type, env);
    return env;
}

static void assert_attr(const char *env, const char *attr, const char *want)
{
    char *v = payload_attr(env, attr);
    CU_ASSERT(v && strcmp(v, want) == 0);
    if (!v || strcmp(v, want) != 0)
        fprintf(stderr, "%s=\"%s\", expected \"%s\" in %s\n", attr, v ? v : "(none)", want,
                env ? env : "(no answer)");
    free(v);
}

static void check_listener_history(org_t *o, const char *via)
{
    CU_ASSERT_FATAL(o->up);
    /* One hop: the historian's thread holds the probe only. */
    char *env = probe(o, "<history-probe/>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    assert_attr(env, "n", "1");
    assert_attr(env, "via", via);
    assert_attr(env, "last", "ok");
    assert_attr(env, "threads", "ok");
    free(env);
    /* Two hops: the historian forwards to itself; the inner hop sees only its
     * own probe, the outer one its probe plus the inner answer. */
    env = probe(o, "<history-probe hops=\"1\"/>");
    CU_ASSERT_PTR_NOT_NULL_FATAL(env);
    assert_attr(env, "n", "2");
    assert_attr(env, "inner-n", "1");
    assert_attr(env, "via", via);
    assert_attr(env, "inner-via", via);
    assert_attr(env, "last", "ok");
    assert_attr(env, "threads", "ok");
    free(env);
}

static void test_memory_listener_history(void)
{
    check_listener_history(&mem_org, "pump");
}
static void test_manager_listener_history(void)
{
    check_listener_history(&mgr_org, "backend");
}
static void test_redis_listener_history(void)
{
    check_listener_history(&redis_org, "backend");
}

/* ---- 2. a pump restart keeps history ---------------------------------------- */

static void check_restart(org_t *o)
{
    CU_ASSERT_FATAL(o->up);
    CU_ASSERT_FATAL(o->thread[0] && o->history);
    int status = org_stop(o);
    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_EQUAL_FATAL(org_start(o), 0);
    /* The same slots, byte for byte (same message ids and timestamps). */
    char *h = control(o, "history", o->thread);
    CU_ASSERT_PTR_NOT_NULL(h);
    CU_ASSERT(h && strcmp(h, o->history) == 0);
    if (h && strcmp(h, o->history) != 0)
        fprintf(stderr, "history before the restart:\n%s\nafter:\n%s\n", o->history, h);
    free(h);
    char *threads = control(o, "threads", NULL);
    CU_ASSERT(lists_thread(threads, o->thread));
    free(threads);
    /* The restarted pump serves on the old store: a new conversation gets a
     * thread of its own, next to the old one. */
    char again[XB_UUID_STR];
    hello_flow(o, again);
    CU_ASSERT_STRING_NOT_EQUAL(again, o->thread);
    threads = control(o, "threads", NULL);
    CU_ASSERT(lists_thread(threads, o->thread));
    CU_ASSERT(lists_thread(threads, again));
    free(threads);
}

static void test_manager_restart(void)
{
    check_restart(&mgr_org);
}
static void test_redis_restart(void)
{
    check_restart(&redis_org);
}

/* ---- 6. the CLI against each backend ---------------------------------------- */

static void check_cli(org_t *o, const char *location)
{
    CU_ASSERT_FATAL(o->up);
    CU_ASSERT_FATAL(o->thread[0]);
    char *out = NULL;
    CU_ASSERT_EQUAL(xbt_xmlbus(o->pump.endpoint, &out, "threads"), 0);
    CU_ASSERT(out && strstr(out, "UUID") && strstr(out, "SLOTS") && strstr(out, "CHAIN"));
    /* The sender's thread, with its 2 slots, on a row of its own. */
    const char *row = out ? strstr(out, o->thread) : NULL;
    CU_ASSERT(row != NULL);
    if (row) {
        char uuid[64] = "";
        long slots = -1;
        CU_ASSERT(sscanf(row, "%63s %ld", uuid, &slots) == 2 && slots == 2);
    }
    free(out);
    CU_ASSERT_EQUAL(xbt_xmlbus(o->pump.endpoint, &out, "threads -q"), 0);
    CU_ASSERT(out && strstr(out, o->thread) && !strstr(out, "UUID"));
    free(out);
    char args[128];
    snprintf(args, sizeof args, "history %s", o->thread);
    CU_ASSERT_EQUAL(xbt_xmlbus(o->pump.endpoint, &out, args), 0);
    char head[128];
    snprintf(head, sizeof head, "thread %s: 2 slots", o->thread);
    CU_ASSERT(out && strstr(out, head));
    CU_ASSERT(out && strstr(out, "#0 ") && strstr(out, "#1 ") && !strstr(out, "#2 "));
    CU_ASSERT(out && strstr(out, "greeter -> console"));
    CU_ASSERT(out && strstr(out, "<shouted><text>HELLO, WORLD!</text></shouted>"));
    free(out);
    CU_ASSERT_EQUAL(xbt_xmlbus(o->pump.endpoint, &out, "backend info"), 0);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "type: %s\n", o->type);
    CU_ASSERT(out && strstr(out, want));
    CU_ASSERT(out && strstr(out, "ping: ok\n"));
    CU_ASSERT(out && strstr(out, "threads: "));
    snprintf(want, sizeof want, "location: %s\n", location);
    CU_ASSERT(out && strstr(out, want));
    if (out && !strstr(out, want))
        fprintf(stderr, "backend info printed:\n%s\n(expected '%s')\n", out, want);
    free(out);
    /* An unknown thread is an error (exit 1), not an empty history. */
    CU_ASSERT_EQUAL(
        xbt_xmlbus(o->pump.endpoint, &out, "history 00000000-0000-4000-8000-000000000000"), 1);
    CU_ASSERT(out && strstr(out, "no thread 00000000-0000-4000-8000-000000000000"));
    free(out);
    /* memory: an unknown thread is an error (exit 1) with the pump's message. */
    CU_ASSERT_EQUAL(
        xbt_xmlbus(o->pump.endpoint, &out, "memory 00000000-0000-4000-8000-000000000000"), 1);
    CU_ASSERT(out && strstr(out, "xmlbus memory: "));
    free(out);
}

/* Adds (add true) or removes the threads "pg-NNNN" from the test process. */
static void page_threads(const org_t *o, int n, bool add)
{
    xb_error_t err;
    xb_error_clear(&err);
    xb_backend_t *b = xb_backend_new(&o->backend, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char(*names)[8] = calloc((size_t)n, sizeof *names);
    const char **threads = calloc((size_t)n, sizeof *threads);
    xb_blob_t *slots = calloc((size_t)n, sizeof *slots);
    long *index = calloc((size_t)n, sizeof *index);
    CU_ASSERT_FATAL(names && threads && slots && index);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "pg-%04d", i);
        threads[i] = names[i];
        slots[i] = (xb_blob_t){names[i], 7};
        if (!add)
            failed += xb_backend_buffer_delete_thread(b, names[i], NULL, &err) != 0;
    }
    if (add)
        failed += xb_backend_buffer_append_batch(b, (size_t)n, threads, slots, index, &err) != 0;
    if (failed)
        fprintf(stderr, "%s: page threads: %s\n", o->type, err.message);
    CU_ASSERT_EQUAL(failed, 0);
    free(names);
    free(threads);
    free(slots);
    free(index);
    xb_backend_destroy(&b);
}

/* How often each "pg-NNNN" line (of n) occurs in out; returns the number of
 * those lines, and of the names not seen exactly once in *wrong. */
static int page_lines(const char *out, int n, int *wrong)
{
    int *seen = calloc((size_t)n, sizeof *seen), lines = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
        int k = -1;
        if (sscanf(l, "pg-%d", &k) == 1 && k >= 0 && k < n) {
            seen[k]++;
            lines++;
        }
    }
    *wrong = 0;
    for (int k = 0; k < n; k++)
        *wrong += seen[k] != 1;
    free(seen);
    return lines;
}

/* `xmlbus threads` through the pump: many threads come in pages (CONTROL
 * threads cursor count), and together list every thread once; --limit
 * stops early; a bad page size is refused. */
static void check_cli_pages(org_t *o)
{
    enum { N = 1500 };
    CU_ASSERT_FATAL(o->up);
    page_threads(o, N, true);
    char *out = NULL;
    int wrong = -1;
    CU_ASSERT_EQUAL(xbt_xmlbus(o->pump.endpoint, &out, "threads -q"), 0);
    CU_ASSERT_EQUAL(page_lines(out, N, &wrong), N);
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT(out && strstr(out, o->thread)); /* the hello flow's thread too */
    free(out);
    CU_ASSERT_EQUAL(xbt_xmlbus(o->pump.endpoint, &out, "threads -q --limit 250"), 0);
    CU_ASSERT_EQUAL(out ? xbt_count(out, "\n") : -1, 250);
    free(out);
    /* One page: at most count rows (about count on redis) and a cursor. */
    xb_client_t *c = xbt_client(&o->pump);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    xb_error_t err;
    char *body = NULL;
    const char *args[] = {"0", "40"};
    CU_ASSERT_EQUAL(xb_client_control(c, "threads", args, 2, WAIT_MS, &body, &err), 0);
    int rows = thread_rows(body);
    CU_ASSERT(rows >= 0 && rows <= (strcmp(o->type, "redis") == 0 ? 80 : 40));
    char *cursor = xbt_root_attr(body, "cursor");
    CU_ASSERT(cursor && strcmp(cursor, "0") != 0);
    free(cursor);
    free(body);
    const char *bad[] = {"0", "1001"};
    CU_ASSERT_EQUAL(xb_client_control(c, "threads", bad, 2, WAIT_MS, &body, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "1..1000"));
    xb_client_destroy(&c);
    page_threads(o, N, false);
}

static void test_memory_cli(void)
{
    check_cli(&mem_org, "");
}

static void test_manager_cli(void)
{
    char real[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(mgr_org.backend.path, real));
    check_cli(&mgr_org, real);
}

static void test_redis_cli(void)
{
    char loc[64];
    snprintf(loc, sizeof loc, "127.0.0.1:%d/0", redis ? xb_redis_server_port(redis) : 0);
    check_cli(&redis_org, loc);
}

/* Sets (set true) or unlinks the keys "other:key:NNNNN" (n of them) in one
 * pipeline; the number of replies that were errors or missing. */
static int pipeline_keys(redisContext *rc, bool set, int n)
{
    for (int i = 0; i < n; i++)
        redisAppendCommand(rc, set ? "SET other:key:%05d x" : "UNLINK other:key:%05d", i);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        bad += redisGetReply(rc, (void **)&r) != REDIS_OK || !r || r->type == REDIS_REPLY_ERROR;
        freeReplyObject(r);
    }
    return bad;
}

/* True when backend-info gives both counts. */
static bool info_known(org_t *o)
{
    char *info = control(o, "backend-info", NULL);
    char *t = xbt_root_attr(info, "threads"), *r = xbt_root_attr(info, "registry-entries");
    bool known = t && r && strcmp(t, "unknown") != 0 && strcmp(r, "unknown") != 0;
    free(t);
    free(r);
    free(info);
    return known;
}

/* backend-info used to SCAN the whole database in the pump's loop: with
 * more keys than 16 SCAN steps cover (here another tenant's), it reports
 * the counts as unknown and still answers; the listing still works. */
static void test_redis_info_bounded(void)
{
    enum { N = 20000 };
    CU_ASSERT_FATAL(redis_org.up);
    redisContext *rc = redis ? redisConnect("127.0.0.1", xb_redis_server_port(redis)) : NULL;
    CU_ASSERT_FATAL(rc && !rc->err);
    CU_ASSERT_EQUAL_FATAL(pipeline_keys(rc, true, N), 0);
    char *out = NULL;
    CU_ASSERT_EQUAL(xbt_xmlbus(redis_org.pump.endpoint, &out, "backend info"), 0);
    CU_ASSERT(out && strstr(out, "threads: unknown\n") && strstr(out, "ping: ok\n"));
    CU_ASSERT(out && strstr(out, "registry-entries: unknown\n"));
    free(out);
    CU_ASSERT_EQUAL(xbt_xmlbus(redis_org.pump.endpoint, &out, "threads -q"), 0);
    CU_ASSERT(out && strstr(out, redis_org.thread));
    free(out);
    CU_ASSERT_EQUAL(pipeline_keys(rc, false, N), 0);
    redisFree(rc);
    /* Counts come back once Redis has shrunk its table (the tenants suite
     * after this one counts threads on the same database). */
    bool known = false;
    XBT_WAIT_UNTIL((known = info_known(&redis_org)), 30000);
    CU_ASSERT_TRUE(known);
}

static void test_manager_cli_pages(void)
{
    check_cli_pages(&mgr_org);
}
static void test_redis_cli_pages(void)
{
    check_cli_pages(&redis_org);
}

/* ---- 7. the journal: a pump killed with a message in hand ---------------------- */

#define JOURNAL_YAML                                  \
    "organism:\n  name: jr\n  endpoint: @ENDPOINT@\n" \
    "limits:\n  max_redeliveries: %d\n"               \
    "backend:\n%s"                                    \
    "listeners:\n  - name: once\n    payload: ping\n" \
    "    command: [@TESTBIN@/xbtest-behave, once, %s/got]\n"

static bool redis_up(void);

/* `xmlbus ARGS` until its output holds want (polled up to WAIT_MS); the
 * last output (caller frees). */
static char *xmlbus_until(const xbt_pump_t *p, const char *args, const char *want)
{
    char *out = NULL;
    long long end = xbt_mono_ms() + WAIT_MS;
    do {
        free(out);
        xbt_xmlbus(p->endpoint, &out, args);
    } while (!(out && strstr(out, want)) && xbt_poll_again(end));
    return out;
}

/* A pump on backend (a backend section) and store (a folder for the
 * listener's files) with a message in hand of `once`, killed with SIGKILL.
 * Fills thread, msg_id, the endpoint it served on and its client (which
 * stays, to get the answer from the next pump); returns the yaml to start it
 * again (caller frees). */
static char *kill_with_message_in_hand(const char *backend, const char *store, int max,
                                       char thread[XB_UUID_STR], char msg_id[XB_UUID_STR],
                                       char endpoint[128], xb_client_t **client)
{
    size_t n = sizeof JOURNAL_YAML + strlen(backend) + strlen(store) + 16;
    char *yaml = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(yaml);
    snprintf(yaml, n, JOURNAL_YAML, max, backend, store);
    xbt_pump_t p;
    CU_ASSERT_EQUAL_FATAL(xbt_pump_start(&p, yaml), 0);
    *client = xbt_client(&p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*client);
    xb_error_t err;
    xb_error_clear(&err);
    const char body[] = "<ping>journal</ping>";
    CU_ASSERT_EQUAL(
        xb_client_send(*client, body, strlen(body), NULL, NULL, WAIT_MS, thread, msg_id, &err), 0);
    char got[PATH_MAX];
    snprintf(got, sizeof got, "%s/got", store);
    XBT_WAIT_UNTIL(access(got, F_OK) == 0, WAIT_MS);
    CU_ASSERT_EQUAL(access(got, F_OK), 0);
    kill(p.pid, SIGKILL);
    xbt_wait_exit(p.pid, WAIT_MS);
    snprintf(endpoint, 128, "%s", p.endpoint);
    xbt_rmtree(p.dir);
    return yaml;
}

/* The pump started again where the client waits: once the client reaches
 * it, the listener may answer (store/got.go). */
static void restart_for(xbt_pump_t *p, const char *yaml, const char *endpoint, xb_client_t *c,
                        const char *store)
{
    CU_ASSERT_EQUAL_FATAL(xbt_pump_start_at(p, yaml, endpoint), 0);
    xb_error_t err;
    int rc = -1;
    long long end = xbt_mono_ms() + WAIT_MS;
    do {
        rc = xb_client_control(c, "ping", NULL, 0, 200, NULL, &err);
    } while (rc != 0 && xbt_poll_again(end));
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(xbt_write_file(store, "got.go", ""), 0);
}

static void check_journal(const char *backend, const char *store)
{
    char thread[XB_UUID_STR] = "", msg_id[XB_UUID_STR] = "", endpoint[128];
    xb_client_t *c = NULL;
    char *yaml = kill_with_message_in_hand(backend, store, 3, thread, msg_id, endpoint, &c);
    xbt_pump_t p;
    restart_for(&p, yaml, endpoint, c, store);
    /* Delivered again, marked, with its id; the answer reaches the client
     * that waited across the restart (its routing id is its own), and is
     * recorded on its thread. */
    char args[128], want[128];
    snprintf(want, sizeof want, "<redelivered n=\"1\" id=\"%s\"", msg_id);
    char *env = xbt_recv(c, WAIT_MS);
    CU_ASSERT(env && strstr(env, want));
    if (!(env && strstr(env, want)))
        fprintf(stderr, "the client got: %s\n", env ? env : "(nothing)");
    free(env);
    snprintf(args, sizeof args, "history %s", thread);
    char *out = xmlbus_until(&p, args, want);
    CU_ASSERT_PTR_NOT_NULL(out && strstr(out, want));
    if (!(out && strstr(out, want)))
        fprintf(stderr, "history %s:\n%s\n", thread, out ? out : "(none)");
    free(out);
    if (CU_get_number_of_failures() > 0) {
        char *log = xbt_read_file(p.log, NULL);
        fprintf(stderr, "---- pump log ----\n%s\n", log ? log : "");
        free(log);
    }
    xb_client_destroy(&c);
    xbt_pump_stop(&p, SIGTERM, 20);
    xbt_rmtree(p.dir);
    free(yaml);
}

/* max_redeliveries 0: the message in hand at the kill is a dead letter, seen
 * by `xmlbus dead-letters`, delivered by `retry`, gone after `purge`. */
static void check_dead_letters(const char *backend, const char *store)
{
    char thread[XB_UUID_STR] = "", msg_id[XB_UUID_STR] = "", endpoint[128];
    xb_client_t *c = NULL;
    char *yaml = kill_with_message_in_hand(backend, store, 0, thread, msg_id, endpoint, &c);
    xbt_pump_t p;
    restart_for(&p, yaml, endpoint, c, store);
    xb_client_destroy(&c);
    char *out = xmlbus_until(&p, "dead-letters list", msg_id);
    CU_ASSERT(out && strstr(out, msg_id) && strstr(out, "max_redeliveries"));
    if (!(out && strstr(out, msg_id)))
        fprintf(stderr, "dead-letters list:\n%s\n", out ? out : "(none)");
    free(out);
    char args[128], want[128];
    snprintf(args, sizeof args, "dead-letters show %s", msg_id);
    xbt_xmlbus(p.endpoint, &out, args);
    CU_ASSERT(out && strstr(out, "journal</ping>"));
    free(out);
    snprintf(args, sizeof args, "dead-letters retry %s", msg_id);
    xbt_xmlbus(p.endpoint, &out, args);
    CU_ASSERT(out && strstr(out, "delivered again"));
    free(out);
    snprintf(args, sizeof args, "history %s", thread);
    snprintf(want, sizeof want, "<redelivered n=\"1\" id=\"%s\"", msg_id);
    out = xmlbus_until(&p, args, want);
    CU_ASSERT(out && strstr(out, want));
    free(out);
    xbt_xmlbus(p.endpoint, &out, "dead-letters");
    CU_ASSERT(out && strstr(out, "no dead letters"));
    free(out);
    xbt_xmlbus(p.endpoint, &out, "dead-letters purge");
    CU_ASSERT(out && strstr(out, "0 dead letters removed"));
    free(out);
    xbt_pump_stop(&p, SIGTERM, 20);
    xbt_rmtree(p.dir);
    free(yaml);
}

/* Runs check on a manager organism whose store is in a fresh temp folder. */
static void on_manager_store(void (*check)(const char *backend, const char *store))
{
    char *store = xbt_tmpdir("journal");
    if (!store) {
        CU_FAIL("no temp folder");
        return;
    }
    char backend[PATH_MAX + 64];
    snprintf(backend, sizeof backend, "  type: manager\n  path: %s/store.lmdb\n", store);
    check(backend, store);
    xbt_rmtree(store);
    free(store);
}

static void test_manager_journal(void)
{
    on_manager_store(check_journal);
}

static void test_manager_dead_letters(void)
{
    on_manager_store(check_dead_letters);
}

/* The backend section of a redis organism with a prefix of its own into
 * out; false (the test failed) without a redis-server. */
static bool redis_backend(char *out, size_t cap)
{
    if (!redis_up()) {
        CU_FAIL("redis-server not available");
        fprintf(stderr, "%s\n", redis_error);
        return false;
    }
    static int serial;
    snprintf(out, cap, "  type: redis\n  redis_url: %s/0\n  redis_prefix: \"journal-%d-%d:\"\n",
             xb_redis_server_url(redis), (int)getpid(), ++serial);
    return true;
}

static void on_redis(void (*check)(const char *backend, const char *store))
{
    char backend[512];
    if (!redis_backend(backend, sizeof backend))
        return;
    char *store = xbt_tmpdir("journal");
    if (!store) {
        CU_FAIL("no temp folder");
        return;
    }
    check(backend, store);
    xbt_rmtree(store);
    free(store);
}

static void test_redis_journal(void)
{
    on_redis(check_journal);
}

static void test_redis_dead_letters(void)
{
    on_redis(check_dead_letters);
}

/* ---- suites: memory, manager, redis ------------------------------------------ */

static int memory_init(void)
{
    if (org_load(&mem_org, "organism.yaml",
                 (const char *const[]){"type: memory", "type: memory", NULL}) == 0)
        org_start(&mem_org);
    return 0;
}

static int memory_clean(void)
{
    org_free(&mem_org);
    return 0;
}

static int manager_init(void)
{
    lmdb_dir = xbt_tmpdir("lmdb");
    if (!lmdb_dir)
        return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/hello.lmdb", lmdb_dir);
    xb_backend_config_defaults(&mgr_org.backend);
    mgr_org.backend.type = XB_BACKEND_MANAGER;
    snprintf(mgr_org.backend.path, sizeof mgr_org.backend.path, "%s", path);
    char line[PATH_MAX + 16];
    snprintf(line, sizeof line, "path: %s", path);
    const char *repl[] = {EXAMPLE_LMDB, line, NULL};
    if (org_load(&mgr_org, "organism-manager.yaml", repl) == 0)
        org_start(&mgr_org);
    return 0;
}

static int manager_clean(void)
{
    org_free(&mgr_org);
    xbt_rmtree(lmdb_dir);
    free(lmdb_dir);
    lmdb_dir = NULL;
    return 0;
}

/* Starts the shared redis-server once; records why it failed. */
static bool redis_up(void)
{
    xb_error_t err;
    xb_error_clear(&err);
    redis = xb_redis_server_shared(&err);
    if (!redis)
        snprintf(redis_error, sizeof redis_error, "%s",
                 err.message[0] ? err.message : "unknown error");
    return redis != NULL;
}

/* Starts the Redis example as organism name with prefix, on url (NULL: the
 * shared server, database 0). */
static int redis_org_start(org_t *o, const char *name, const char *prefix, const char *url)
{
    xb_backend_config_defaults(&o->backend);
    o->backend.type = XB_BACKEND_REDIS;
    if (url)
        snprintf(o->backend.redis_url, sizeof o->backend.redis_url, "%s", url);
    else if (redis_up())
        snprintf(o->backend.redis_url, sizeof o->backend.redis_url, "%s/0",
                 xb_redis_server_url(redis));
    else
        return -1;
    snprintf(o->backend.redis_prefix, sizeof o->backend.redis_prefix, "%s", prefix);
    char url_line[1100], prefix_line[160], name_line[80];
    snprintf(url_line, sizeof url_line, "redis_url: %s", o->backend.redis_url);
    snprintf(prefix_line, sizeof prefix_line, "redis_prefix: \"%s\"", prefix);
    snprintf(name_line, sizeof name_line, "  name: %s\n", name);
    const char *repl[] = {EXAMPLE_REDIS, url_line, EXAMPLE_PREFIX, prefix_line, EXAMPLE_NAME,
                          name_line,     NULL};
    if (org_load(o, "organism-redis.yaml", repl) != 0)
        return -1;
    return org_start(o);
}

static int redis_init(void)
{
    redis_org_start(&redis_org, "hello", "hello:", NULL);
    return 0;
}

static int redis_clean(void)
{
    org_free(&redis_org);
    return 0;
}

/* A test of a Redis suite first says clearly why Redis is missing. */
static void require_redis(void)
{
    if (!redis)
        fprintf(stderr, "\n*** redis-server is required and could not be started: %s ***\n",
                redis_error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(redis);
}

static void test_redis_server(void)
{
    require_redis();
}

/* ---- 5. two organisms on one Redis --------------------------------------------- */

static int tenants_init(void)
{
    redis_org_start(&alpha_org, "alpha", "alpha:", NULL);
    redis_org_start(&beta_org, "beta", "beta:", NULL);
    return 0;
}

static int tenants_clean(void)
{
    org_free(&alpha_org);
    org_free(&beta_org);
    return 0;
}

static void test_tenants_isolated(void)
{
    require_redis();
    CU_ASSERT_FATAL(alpha_org.up && beta_org.up);
    hello_flow(&alpha_org, alpha_org.thread);
    hello_flow(&beta_org, beta_org.thread);
    CU_ASSERT_FATAL(alpha_org.thread[0] && beta_org.thread[0]);
    char *ta = control(&alpha_org, "threads", NULL);
    char *tb = control(&beta_org, "threads", NULL);
    CU_ASSERT(lists_thread(ta, alpha_org.thread));
    CU_ASSERT(!lists_thread(ta, beta_org.thread));
    CU_ASSERT(lists_thread(tb, beta_org.thread));
    CU_ASSERT(!lists_thread(tb, alpha_org.thread));
    /* A hello flow makes three threads (console, greeter, shouter): each
     * organism sees its own three, none of the other's and none of the
     * "hello:" organism that ran on this Redis before. */
    if (thread_rows(ta) != 3 || thread_rows(tb) != 3)
        fprintf(stderr, "alpha threads:\n%s\nbeta threads:\n%s\n", ta ? ta : "-", tb ? tb : "-");
    CU_ASSERT_EQUAL(thread_rows(ta), 3);
    CU_ASSERT_EQUAL(thread_rows(tb), 3);
    /* The other organism's thread is unknown to history, too. */
    xb_client_t *c = xbt_client(&alpha_org.pump);
    xb_error_t err;
    xb_error_clear(&err);
    const char *args[] = {beta_org.thread};
    char *body = NULL;
    CU_ASSERT_EQUAL(xb_client_control(c, "history", args, 1, WAIT_MS, &body, &err), -1);
    free(body);
    xb_client_destroy(&c);
    char *ia = control(&alpha_org, "backend-info", NULL);
    char *n = xbt_root_attr(ia, "threads");
    CU_ASSERT(n && strcmp(n, "3") == 0);
    free(n);
    free(ia);
    free(ta);
    free(tb);
}

/* ---- a Redis with a password, database 3 ---------------------------------------- */

/* The pump hands the whole URL to its listeners (WELCOME): they must log in
 * and select the database as the pump does, and nobody prints the password. */
#define AUTH_PASSWORD "s3cret-Pw0rd"

static xb_redis_server_t *auth_redis;
static char auth_error[512];
static org_t auth_org = {.type = "redis"};

static int auth_init(void)
{
    xb_error_t err;
    xb_error_clear(&err);
    xb_redis_server_opts_t opts = {.password = AUTH_PASSWORD};
    auth_redis = xb_redis_server_start(&opts, &err);
    if (!auth_redis) {
        snprintf(auth_error, sizeof auth_error, "%s", err.message);
        return 0;
    }
    char url[256];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/3", AUTH_PASSWORD,
             xb_redis_server_port(auth_redis));
    redis_org_start(&auth_org, "secured", "sec:", url);
    return 0;
}

static int auth_clean(void)
{
    org_free(&auth_org);
    xb_redis_server_destroy(&auth_redis);
    return 0;
}

static void test_auth(void)
{
    if (!auth_redis)
        fprintf(stderr, "\n*** redis-server is required and could not be started: %s ***\n",
                auth_error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(auth_redis);
    char loc[64];
    snprintf(loc, sizeof loc, "127.0.0.1:%d/3", xb_redis_server_port(auth_redis));
    check_hello(&auth_org, loc);
    check_listener_history(&auth_org, "backend");
    char *out = NULL;
    CU_ASSERT_EQUAL(xbt_xmlbus(auth_org.pump.endpoint, &out, "backend info"), 0);
    CU_ASSERT(out && strstr(out, loc) && !strstr(out, AUTH_PASSWORD));
    free(out);
    /* The log of the pump and of its listeners (they share its stderr). */
    char *log = xbt_read_file(auth_org.pump.log, NULL);
    CU_ASSERT(log && strstr(log, "registered with organism secured"));
    CU_ASSERT(log && !strstr(log, AUTH_PASSWORD));
    free(log);
}

/* ---- 3. Redis killed under traffic --------------------------------------------- */

#define OUTAGE_YAML                                                                \
    "organism:\n  name: outage\n  endpoint: @ENDPOINT@\n"                          \
    "backend:\n  type: redis\n  redis_url: @REDIS@\n  redis_prefix: \"outage:\"\n" \
    "listeners:\n  - name: echo\n    payload: ping\n    command: xmlbus-echo\n"    \
    "  - name: historian\n    payload: [history-probe, history-count]\n"           \
    "    command: @TESTBIN@/xbtest-history\n"

static xb_redis_server_t *outage_redis;
static char outage_error[512];
static org_t outage_org = {.type = "redis"};

static int outage_init(void)
{
    xb_error_t err;
    xb_error_clear(&err);
    outage_redis = xb_redis_server_start(NULL, &err);
    if (!outage_redis) {
        snprintf(outage_error, sizeof outage_error, "%s", err.message);
        return 0;
    }
    outage_org.yaml = strdup(OUTAGE_YAML);
    char url[128];
    snprintf(url, sizeof url, "%s/0", xb_redis_server_url(outage_redis));
    if (outage_org.yaml && replace_once(&outage_org.yaml, "@REDIS@", url))
        org_start(&outage_org);
    return 0;
}

static int outage_clean(void)
{
    org_free(&outage_org);
    xb_redis_server_destroy(&outage_redis);
    return 0;
}

typedef enum { PING_OK, PING_BACKEND_ERROR, PING_OTHER } ping_result_t;

/* One ping to echo: answered, a `backend` SystemError (REJECTED or
 * delivered), or anything else (printed). *retry gets retry-allowed of the
 * SystemError. */
static ping_result_t ping_once(xb_client_t *c, int i, bool *retry)
{
    char body[64], want[32];
    snprintf(want, sizeof want, "n%d", i);
    snprintf(body, sizeof body, "<ping>%s</ping>", want);
    xb_error_t err;
    xb_error_clear(&err);
    char *env = NULL;
    if (xb_client_send(c, body, strlen(body), NULL, NULL, WAIT_MS, NULL, NULL, &err) != 0) {
        const char *rej = xb_client_rejection(c, NULL);
        if (err.code == XB_ERR_BACKEND) {
            char *r = rej ? xbt_text_of(rej, "retry-allowed") : NULL;
            *retry = r && strcmp(r, "true") == 0;
            free(r);
            return PING_BACKEND_ERROR;
        }
        fprintf(stderr, "ping %d refused: %s: %s\n", i, xb_code_name(err.code), err.message);
        return PING_OTHER;
    }
    env = xbt_recv(c, WAIT_MS);
    xb_code_t code = XB_OK;
    char msg[256] = "";
    ping_result_t res = PING_OTHER;
    if (!env) {
        fprintf(stderr, "ping %d: accepted, but no answer\n", i);
    } else if (xb_client_system_error(env, strlen(env), &code, msg, sizeof msg) == 1) {
        if (code == XB_ERR_BACKEND) {
            char *r = xbt_text_of(env, "retry-allowed");
            *retry = r && strcmp(r, "true") == 0;
            free(r);
            res = PING_BACKEND_ERROR;
        } else {
            fprintf(stderr, "ping %d: SystemError %s: %s\n", i, xb_code_name(code), msg);
        }
    } else {
        char *text = xbt_text_of(env, "ping");
        if (text && strcmp(text, want) == 0)
            res = PING_OK;
        else
            fprintf(stderr, "ping %d: unexpected answer %s\n", i, env);
        free(text);
    }
    free(env);
    return res;
}

static bool pump_alive(org_t *o)
{
    int status;
    return o->pump.pid > 0 && waitpid(o->pump.pid, &status, WNOHANG) == 0;
}

static void test_outage(void)
{
    if (!outage_redis)
        fprintf(stderr, "\n*** redis-server is required and could not be started: %s ***\n",
                outage_error);
    CU_ASSERT_PTR_NOT_NULL_FATAL(outage_redis);
    CU_ASSERT_FATAL(outage_org.up);
    xb_client_t *c = xbt_client(&outage_org.pump);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    bool retry = false;
    int i = 0;
    /* Traffic flows (the historian has its own connection to Redis), then
     * Redis dies between two sends. */
    check_listener_history(&outage_org, "backend");
    for (; i < 20; i++)
        CU_ASSERT_EQUAL(ping_once(c, i, &retry), PING_OK);
    CU_ASSERT_EQUAL_FATAL(xb_redis_server_kill(outage_redis), 0);
    int backend_errors = 0, others = 0, retryable = 0;
    for (int k = 0; k < 20; k++, i++) {
        retry = false;
        ping_result_t r = ping_once(c, i, &retry);
        backend_errors += r == PING_BACKEND_ERROR;
        others += r != PING_BACKEND_ERROR;
        retryable += r == PING_BACKEND_ERROR && retry;
    }
    /* Every send while Redis is away is answered with a `backend` error. */
    CU_ASSERT_EQUAL(backend_errors, 20);
    CU_ASSERT_EQUAL(others, 0);
    /* The outage is temporary: the error must say that a retry may work,
     * as the SystemErrors delivered for backend failures do. */
    CU_ASSERT_EQUAL(retryable, backend_errors);
    if (retryable != backend_errors)
        fprintf(stderr, "%d of %d backend SystemErrors said retry-allowed false\n",
                backend_errors - retryable, backend_errors);
    /* The pump lives on and says what is wrong. */
    CU_ASSERT(pump_alive(&outage_org));
    char *info = control(&outage_org, "backend-info", NULL);
    char *ping = xbt_root_attr(info, "ping");
    CU_ASSERT(ping && strcmp(ping, "ok") != 0 && strstr(ping, "redis"));
    free(ping);
    free(info);
    char *pong = control(&outage_org, "ping", NULL);
    CU_ASSERT(pong && strstr(pong, "running"));
    free(pong);
    /* Redis comes back on the same port: sends succeed again by themselves. */
    xb_error_t err;
    xb_error_clear(&err);
    CU_ASSERT_EQUAL_FATAL(xb_redis_server_restart(outage_redis, &err), 0);
    ping_result_t r = PING_OTHER;
    XBT_WAIT_UNTIL((r = ping_once(c, i++, &retry)) != PING_BACKEND_ERROR, 15000);
    bool recovered = r == PING_OK;
    CU_ASSERT(recovered);
    for (int k = 0; recovered && k < 10; k++, i++)
        CU_ASSERT_EQUAL(ping_once(c, i, &retry), PING_OK);
    CU_ASSERT(pump_alive(&outage_org));
    info = control(&outage_org, "backend-info", NULL);
    ping = xbt_root_attr(info, "ping");
    CU_ASSERT(ping && strcmp(ping, "ok") == 0);
    free(ping);
    free(info);
    /* The listener's own connection recovered too (the new Redis is empty:
     * its thread holds the new probe only). */
    check_listener_history(&outage_org, "backend");
    /* Redis dies again; the pump still shuts down cleanly, within its
     * deadline, with nothing to flush to. */
    CU_ASSERT_EQUAL_FATAL(xb_redis_server_kill(outage_redis), 0);
    CU_ASSERT_EQUAL(ping_once(c, i++, &retry), PING_BACKEND_ERROR);
    xb_client_destroy(&c);
    int status = org_stop(&outage_org);
    CU_ASSERT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- suites ---------------------------------------------------------------------- */

static const xbt_test_t memory_tests[] = {
    {"hello flow", test_memory_hello},
    {"listener history through the pump", test_memory_listener_history},
    {"CLI threads, history, backend info", test_memory_cli},
    {NULL, NULL},
};

static const xbt_test_t manager_tests[] = {
    {"hello flow", test_manager_hello},
    {"listener history straight from LMDB", test_manager_listener_history},
    {"pump restart keeps history", test_manager_restart},
    {"CLI threads, history, backend info", test_manager_cli},
    {"CLI threads in pages", test_manager_cli_pages},
    {NULL, NULL},
};

static const xbt_test_t redis_tests[] = {
    {"redis-server runs", test_redis_server},
    {"hello flow", test_redis_hello},
    {"listener history straight from Redis", test_redis_listener_history},
    {"pump restart keeps history", test_redis_restart},
    {"CLI threads, history, backend info", test_redis_cli},
    {"CLI threads in pages", test_redis_cli_pages},
    {"backend info on a large database: counts unknown", test_redis_info_bounded},
    {NULL, NULL},
};

static const xbt_test_t tenants_tests[] = {
    {"two organisms, two prefixes, one Redis", test_tenants_isolated},
    {NULL, NULL},
};

static const xbt_test_t auth_tests[] = {
    {"hello flow, listener history, nothing prints the password", test_auth},
    {NULL, NULL},
};

static const xbt_test_t outage_tests[] = {
    {"Redis killed under traffic, then back", test_outage},
    {NULL, NULL},
};

/* Runs last: the pumps of every suite above have stopped and their logs
 * were read. */
static void test_no_sanitizer_report(void)
{
    if (sanitizer_reports > 0)
        fprintf(stderr, "%d pump logs hold sanitizer reports (see above)\n", sanitizer_reports);
    CU_ASSERT_EQUAL(sanitizer_reports, 0);
}

static const xbt_test_t sanitizer_tests[] = {
    {"no pump log holds a sanitizer report", test_no_sanitizer_report},
    {NULL, NULL},
};

static const xbt_test_t journal_tests[] = {
    {"manager: a message in hand at SIGKILL is delivered again", test_manager_journal},
    {"redis: a message in hand at SIGKILL is delivered again", test_redis_journal},
    {"manager: max_redeliveries, dead-letters list, show, retry, purge", test_manager_dead_letters},
    {"redis: max_redeliveries, dead-letters list, show, retry, purge", test_redis_dead_letters},
    {NULL, NULL},
};

XBT_SUITES({"memory", memory_init, memory_clean, NULL, NULL, memory_tests},
           {"manager", manager_init, manager_clean, NULL, NULL, manager_tests},
           {"redis", redis_init, redis_clean, NULL, NULL, redis_tests},
           {"tenants", tenants_init, tenants_clean, NULL, NULL, tenants_tests},
           {"redis with password and database", auth_init, auth_clean, NULL, NULL, auth_tests},
           {"outage", outage_init, outage_clean, NULL, NULL, outage_tests},
           {"journal", NULL, NULL, NULL, NULL, journal_tests},
           {"sanitizers", NULL, NULL, NULL, NULL, sanitizer_tests});
