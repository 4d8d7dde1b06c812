/* Working memory in the pump (pump/wmem.c, docs/pipelines.md).
 *
 * Suites wmem, manager, redis: an in-process pump driven turn by turn
 * (tests/support/pumpfix.h) on the memory backend, on LMDB in a temporary
 * folder and on a real redis-server started by the test. A listener's
 * `result` and its `=name` writes are stored with its REPLY, the entries a
 * listener `needs` travel with its DELIVER, a missing one fails fast with
 * missing-input and the listener never sees the message, a typed entry of
 * the wrong element or against its XSD is refused (`schema`), concurrent
 * conversations never see each other's entries, and the memory goes when
 * the conversation ends unless memory.keep, when CONTROL memory still shows
 * it. On Redis the memory's key has the prefix and a TTL.
 *
 * Suite restart: a real `xmlbus run` killed in the middle of a conversation
 * (a listener holding its message) leaves memory that no conversation will
 * drop; it does not stay: on Redis it expires with redis_ttl, on LMDB the
 * next conversation's memory evicts it under max_threads. */
#include <CUnit/CUnit.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "pump_internal.h"
#include "pumpfix.h"
#include "redis_server.h"
#include "xbt.h"
#include "xbt_main.h"
#include "xbt_raw.h"
#include "xbt_tmp.h"
#include "xbt_wait.h"
#include "xmlbus/client.h"

#define LISTENERS                                                               \
    "listeners:\n"                                                              \
    "  - name: tagger\n    payload: doc\n    result: tagline\n    credit: 64\n" \
    "  - name: writer\n    payload: story\n    needs: [tagline, mood]\n    credit: 64\n"

#define WAIT_MS 10000

static pumpfix_t f;
static void *tagger, *writer, *client;

/* The backend section of the suite's pumps ("" for memory), and what the
 * manager and redis suites need for it. */
static char backend[1024];
static char *store; /* the suite's temp folder: LMDB environments, XSDs */
static xb_redis_server_t *redis;
static int serial;

/* ---- the suites' backends ------------------------------------------------------- */

static int init_store(void)
{
    store = xbt_tmpdir("wmem");
    return store ? 0 : -1;
}

static int clean_store(void)
{
    xbt_rmtree(store);
    free(store);
    store = NULL;
    return 0;
}

static void setup_memory(void)
{
    backend[0] = '\0';
}

static void setup_manager(void)
{
    snprintf(backend, sizeof backend, "backend:\n  type: manager\n  path: %s/t%d.lmdb\n", store,
             ++serial);
}

static int init_redis(void)
{
    xb_error_t err;
    redis = xb_redis_server_shared(&err);
    return init_store();
}

/* A prefix of its own for each test: nothing of another test is seen. */
static void setup_redis(void)
{
    snprintf(backend, sizeof backend,
             "backend:\n  type: redis\n  redis_url: %s/0\n  redis_prefix: \"wm-%d-%d:\"\n",
             redis ? xb_redis_server_url(redis) : "redis://127.0.0.1:1", (int)getpid(), ++serial);
}

/* ---- helpers ---------------------------------------------------------------- */

static void open_with(const char *memory)
{
    if (strstr(backend, "redis") && !redis)
        CU_FAIL_FATAL("redis-server not available");
    char yaml[4096];
    snprintf(yaml, sizeof yaml, "%s%s" LISTENERS, backend, memory);
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, yaml), 0);
    tagger = pumpfix_listener(&f, "tagger", 64, false, false);
    writer = pumpfix_listener(&f, "writer", 64, false, false);
    client = pumpfix_dealer(&f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tagger && writer && client);
}

/* The client sends <doc/>; tagger answers with the given pairs (target,
 * payload, ...). The client's thread into thread. */
static void tag(const char *t1, const char *p1, const char *t2, const char *p2, char *thread,
                size_t cap)
{
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", "<doc/>", "", "", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, tagger, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && d);
    pumpfix_str(a, 3, thread, cap);
    char id[32];
    pumpfix_str(d, 2, id, sizeof id);
    if (t2)
        pumpfix_send(tagger, XB_CMD_REPLY, id, "2", t1, p1, t2, p2, NULL);
    else
        pumpfix_send(tagger, XB_CMD_REPLY, id, "1", t1, p1, NULL);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
}

/* CONTROL memory THREAD: the body on success, NULL on an error answer
 * (its text into why when given). */
static char *memory_of(const char *thread, char *why, size_t cap)
{
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_CONTROL, "m1", "memory", thread, NULL), 0);
    xb_frames_t *r = pumpfix_expect(&f, client, XB_CMD_RESULT);
    char status[16] = "";
    pumpfix_str(r, 3, status, sizeof status);
    char *body = r ? xb_frames_strdup(r, 4) : NULL;
    xb_frames_destroy(&r);
    if (strcmp(status, "ok") == 0)
        return body;
    if (why)
        snprintf(why, cap, "%s", body ? body : "");
    free(body);
    return NULL;
}

/* Steps until no conversation is live (a bound of turns, not a time). */
static void until_no_conversation(void)
{
    for (int i = 0; i < PUMPFIX_MAX_STEPS && xb_strmap_count(f.pump->convs) > 0; i++)
        pumpfix_step(&f);
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
}

/* The number of entries in the memory of conversation root (-1: error). */
static long entries_of(const char *root)
{
    xb_wmem_list_t l = {0};
    xb_error_t e;
    long n = xb_backend_wmem_list(f.pump->backend, root, &l, &e) == 0 ? (long)l.count : -1;
    xb_wmem_list_free(&l);
    return n;
}

/* ---- result, =name, needs ------------------------------------------------------ */

/* result: stores tagger's response under tagline, =mood its other entry:
 * writer, who needs both, gets them with its DELIVER. */
static void test_result_and_remember(void)
{
    open_with("");
    char thread[64], id[32];
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", "<doc/>", "", "", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, tagger, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && d);
    pumpfix_str(a, 3, thread, sizeof thread);
    pumpfix_send(tagger, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "3", "=mood",
                 "<mood>calm</mood>", "writer", "<story/>", XB_TARGET_RESPOND,
                 "<tagline>hi</tagline>", NULL);
    xb_frames_t *w = pumpfix_expect(&f, writer, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_EQUAL(xb_frames_count(w), 8);
    CU_ASSERT_TRUE(xb_frames_eq(w, 4, "tagline") && xb_frames_eq(w, 5, "<tagline>hi</tagline>"));
    CU_ASSERT_TRUE(xb_frames_eq(w, 6, "mood") && xb_frames_eq(w, 7, "<mood>calm</mood>"));
    xb_frames_t *ans = pumpfix_expect(&f, client, XB_CMD_DELIVER); /* the response arrived */
    CU_ASSERT_PTR_NOT_NULL(ans);
    xb_frames_destroy(&ans);
    xb_frames_destroy(&w);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    pumpfix_close(&f);
}

static void test_needs_missing_fail_fast(void)
{
    open_with("");
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", "<story/>", "", "", NULL), 0);
    /* the SystemError may overtake the ACCEPTED (docs/protocol.md) */
    xb_frames_t *x = pumpfix_recv(&f, client), *y = pumpfix_recv(&f, client);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x && y);
    xb_frames_t *a = xb_frames_eq(x, 1, XB_CMD_ACCEPTED) ? x : y;
    xb_frames_t *err = a == x ? y : x;
    CU_ASSERT_TRUE(xb_frames_eq(a, 1, XB_CMD_ACCEPTED) && xb_frames_eq(err, 1, XB_CMD_DELIVER));
    char code[32], env[2048];
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(err, 3, code, sizeof code), "missing-input");
    pumpfix_str(err, 3, env, sizeof env);
    CU_ASSERT_PTR_NOT_NULL(strstr(env, "tagline, mood"));
    CU_ASSERT_TRUE(pumpfix_quiet(&f, writer, 5)); /* it never saw the message */
    xb_frames_destroy(&a);
    xb_frames_destroy(&err);
    pumpfix_close(&f);
}

/* A conversation that wrote entries: a later message of it to writer
 * carries them. tagger keeps the conversation open by forwarding. When it
 * ends its memory goes; with memory.keep it stays, and CONTROL memory of
 * the client's thread still shows it. */
static void needs_travel(bool keep)
{
    open_with(keep ? "memory:\n  keep: true\n" : "");
    char thread[64], id[32];
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", "<doc/>", "", "", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, tagger, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && d);
    pumpfix_str(a, 3, thread, sizeof thread);
    pumpfix_send(tagger, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "3", "=mood",
                 "<mood>calm</mood>", "=tagline", "<tagline>hi</tagline>", "writer", "<story/>",
                 NULL);
    xb_frames_t *w = pumpfix_expect(&f, writer, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    /* XB1 DELIVER id envelope (name value)*, names sorted as needed */
    CU_ASSERT_EQUAL(xb_frames_count(w), 8);
    CU_ASSERT_TRUE(xb_frames_eq(w, 4, "tagline") && xb_frames_eq(w, 5, "<tagline>hi</tagline>"));
    CU_ASSERT_TRUE(xb_frames_eq(w, 6, "mood") && xb_frames_eq(w, 7, "<mood>calm</mood>"));
    /* CONTROL memory shows both while the conversation lives */
    char *body = memory_of(thread, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "<entry name=\"mood\"><mood>calm</mood></entry>"));
    CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "<entry name=\"tagline\">"));
    free(body);
    char *root = NULL;
    xb_error_t e;
    CU_ASSERT_EQUAL_FATAL(xb_registry_root_of(f.pump->registry, thread, &root, &e), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    /* writer answers with DONE: the conversation ends */
    pumpfix_send(writer, XB_CMD_DONE, pumpfix_str(w, 2, id, sizeof id), NULL);
    until_no_conversation();
    CU_ASSERT_EQUAL(entries_of(root), keep ? 2 : 0);
    char why[256] = "";
    body = memory_of(thread, why, sizeof why);
    if (keep) {
        CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "<mood>calm</mood>"));
        CU_ASSERT_PTR_NOT_NULL(body && strstr(body, root));
    } else {
        CU_ASSERT_PTR_NULL(body);
        CU_ASSERT_PTR_NOT_NULL(strstr(why, "no conversation of thread"));
    }
    free(body);
    free(root);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    xb_frames_destroy(&w);
    pumpfix_close(&f);
}

static void test_needs_travel_with_deliver(void)
{
    needs_travel(false);
}

static void test_keep_memory(void)
{
    needs_travel(true);
}

/* ---- concurrent conversations ------------------------------------------------- */

#define CONVS 24

/* The value of attribute n="..." in text (-1 when absent). */
static int n_of(const char *text)
{
    const char *at = text ? strstr(text, " n=\"") : NULL;
    return at ? atoi(at + 4) : -1;
}

/* CONVS conversations at once, each writing tagline and mood with its own
 * number (in the reverse order of their arrival, so that writes and reads
 * interleave): every writer delivery carries its own conversation's
 * values, and every memory is gone at the end. */
static void test_conversations_never_mix(void)
{
    open_with("");
    char *roots[CONVS] = {0};
    for (int i = 0; i < CONVS; i++) {
        char doc[32], thread[64];
        snprintf(doc, sizeof doc, "<doc n=\"%d\"/>", i);
        CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r", doc, "", "", NULL), 0);
        xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        xb_error_t e;
        xb_registry_root_of(f.pump->registry, pumpfix_str(a, 3, thread, sizeof thread), &roots[i],
                            &e);
        CU_ASSERT_PTR_NOT_NULL(roots[i]);
        xb_frames_destroy(&a);
    }
    xb_frames_t *d[CONVS];
    for (int i = 0; i < CONVS; i++) {
        d[i] = pumpfix_expect(&f, tagger, XB_CMD_DELIVER);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d[i]);
    }
    for (int i = CONVS - 1; i >= 0; i--) {
        char env[4096], id[32], mood[64], tagline[64], story[64];
        int n = n_of(pumpfix_str(d[i], 3, env, sizeof env));
        CU_ASSERT_FATAL(n >= 0 && n < CONVS);
        snprintf(mood, sizeof mood, "<mood n=\"%d\"/>", n);
        snprintf(tagline, sizeof tagline, "<tagline n=\"%d\"/>", n);
        snprintf(story, sizeof story, "<story n=\"%d\"/>", n);
        pumpfix_send(tagger, XB_CMD_REPLY, pumpfix_str(d[i], 2, id, sizeof id), "3", "=mood", mood,
                     "writer", story, XB_TARGET_RESPOND, tagline, NULL);
        xb_frames_destroy(&d[i]);
    }
    int mixed = 0;
    xb_frames_t *w[CONVS];
    for (int i = 0; i < CONVS; i++) {
        w[i] = pumpfix_expect(&f, writer, XB_CMD_DELIVER);
        CU_ASSERT_PTR_NOT_NULL_FATAL(w[i]);
        char env[4096], tl[256], mood[256];
        int n = n_of(pumpfix_str(w[i], 3, env, sizeof env));
        pumpfix_str(w[i], 5, tl, sizeof tl);
        pumpfix_str(w[i], 7, mood, sizeof mood);
        if (n < 0 || n_of(tl) != n || n_of(mood) != n) {
            mixed++;
            fprintf(stderr, "story %d got tagline %s and mood %s\n", n, tl, mood);
        }
    }
    CU_ASSERT_EQUAL(mixed, 0);
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), CONVS); /* all at once */
    for (int i = 0; i < CONVS; i++) {
        char id[32];
        pumpfix_send(writer, XB_CMD_DONE, pumpfix_str(w[i], 2, id, sizeof id), NULL);
        xb_frames_destroy(&w[i]);
    }
    until_no_conversation();
    for (int i = 0; i < CONVS; i++) {
        CU_ASSERT(roots[i] && entries_of(roots[i]) == 0);
        free(roots[i]);
    }
    pumpfix_close(&f);
}

/* ---- refused writes: names, elements, schemas ---------------------------------- */

/* A bad entry name, or an entry of the wrong element for its type: the
 * REPLY is refused whole (nothing routed), the listener gets the error. */
static void test_bad_writes_refused(void)
{
    open_with("memory:\n  types:\n    - name: mood\n      element: mood\n");
    char thread[64];
    tag("=mood", "<weather/>", XB_TARGET_RESPOND, "<tagline>x</tagline>", thread, sizeof thread);
    xb_frames_t *e = pumpfix_expect(&f, tagger, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    char code[32];
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(e, 3, code, sizeof code), "schema");
    xb_frames_destroy(&e);
    pumpfix_close(&f);
}

#define MOOD_XSD                                                               \
    "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n"              \
    "  <xs:element name=\"mood\">\n"                                           \
    "    <xs:simpleType><xs:restriction base=\"xs:string\">\n"                 \
    "      <xs:enumeration value=\"calm\"/><xs:enumeration value=\"glad\"/>\n" \
    "    </xs:restriction></xs:simpleType>\n"                                  \
    "  </xs:element>\n"                                                        \
    "</xs:schema>\n"

/* memory.types with mood typed <mood> and its XSD in the suite's folder
 * (written as file, with text) into out. */
static void typed_memory(char *out, size_t cap, const char *file, const char *text, bool keep)
{
    CU_ASSERT_EQUAL_FATAL(xbt_write_file(store, file, text), 0);
    snprintf(out, cap,
             "memory:\n  keep: %s\n  types:\n    - name: mood\n      element: mood\n"
             "      schema: %s/%s\n",
             keep ? "true" : "false", store, file);
}

/* A typed entry with a schema: a value against the XSD is refused with
 * `schema` naming the entry and libxml2's reason, and nothing of its REPLY
 * goes out; a valid one is stored (kept: CONTROL memory shows it after the
 * conversation ended). */
static void test_schema_refuses_invalid_entry(void)
{
    char memory[1024];
    typed_memory(memory, sizeof memory, "mood.xsd", MOOD_XSD, true);
    open_with(memory);
    char thread[64], env[4096], code[32];
    tag("=mood", "<mood>angry</mood>", XB_TARGET_RESPOND, "<tagline>x</tagline>", thread,
        sizeof thread);
    xb_frames_t *e = pumpfix_expect(&f, tagger, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(e, 3, code, sizeof code), "schema");
    pumpfix_str(e, 3, env, sizeof env);
    CU_ASSERT_PTR_NOT_NULL(strstr(env, "working-memory entry mood"));
    CU_ASSERT_PTR_NOT_NULL(strstr(env, "rejected by mood.xsd"));
    CU_ASSERT_PTR_NOT_NULL(strstr(env, "angry"));
    if (!strstr(env, "rejected by mood.xsd"))
        fprintf(stderr, "the SystemError: %s\n", env);
    char id[32];
    pumpfix_send(tagger, XB_CMD_DONE, pumpfix_str(e, 2, id, sizeof id), NULL);
    xb_frames_destroy(&e);
    /* the client hears of the failure, never of the tagline */
    xb_frames_t *sum = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(sum, 3, code, sizeof code), "schema");
    CU_ASSERT_PTR_NULL(strstr(pumpfix_str(sum, 3, env, sizeof env), "<tagline>"));
    xb_frames_destroy(&sum);

    tag("=mood", "<mood>glad</mood>", XB_TARGET_RESPOND, "<tagline>y</tagline>", thread,
        sizeof thread);
    xb_frames_t *ans = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(ans && strstr(pumpfix_str(ans, 3, env, sizeof env), "<tagline>y"));
    xb_frames_destroy(&ans);
    until_no_conversation();
    char *body = memory_of(thread, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "<entry name=\"mood\"><mood>glad</mood></entry>"));
    free(body);
    pumpfix_close(&f);
}

/* The pump does not start when a type's XSD does not compile, or does not
 * declare the type's element: the error names the file. */
static void start_fails(const char *file, const char *xsd, const char *want)
{
    char memory[1024], yaml[2048];
    typed_memory(memory, sizeof memory, file, xsd, false);
    snprintf(yaml, sizeof yaml,
             "organism:\n  name: t\n  endpoint: inproc://wmem-start\n%s" LISTENERS, memory);
    xb_error_t err;
    xb_config_t *cfg = xb_config_load_string(yaml, strlen(yaml), "t.yaml", ".", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    xb_pump_options_t opts;
    xb_pump_options_defaults(&opts);
    opts.start_children = false;
    xb_error_clear(&err);
    xb_pump_t *p = xb_pump_new(cfg, &opts, &err);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_EQUAL(err.code, XB_ERR_SCHEMA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, file));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, want));
    if (!strstr(err.message, want))
        fprintf(stderr, "start error: %s\n", err.message);
    xb_pump_destroy(&p);
}

static void test_schema_compiled_at_start(void)
{
    start_fails("broken.xsd", "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n<oops",
                "broken.xsd:");
    start_fails("other.xsd",
                "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">\n"
                "  <xs:element name=\"weather\" type=\"xs:string\"/>\n</xs:schema>\n",
                "declares no global element 'mood'");
}

/* ---- Redis: the key and its TTL ---------------------------------------------- */

static long long redis_int(redisContext *rc, const char *cmd, const char *key)
{
    redisReply *r = redisCommand(rc, "%s %s", cmd, key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -100;
    freeReplyObject(r);
    return v;
}

/* The memory of a live conversation is the HASH "PREFIX memory:ROOT" with a
 * TTL (redis_ttl, refreshed by every put). */
static void test_redis_key_and_ttl(void)
{
    open_with("");
    char thread[64], id[32];
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", "<doc/>", "", "", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, tagger, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && d);
    pumpfix_str(a, 3, thread, sizeof thread);
    pumpfix_send(tagger, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "3", "=mood",
                 "<mood>calm</mood>", "=tagline", "<tagline>hi</tagline>", "writer", "<story/>",
                 NULL);
    xb_frames_t *w = pumpfix_expect(&f, writer, XB_CMD_DELIVER); /* the memory is written */
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    char *root = NULL, key[512];
    xb_error_t e;
    CU_ASSERT_EQUAL_FATAL(xb_registry_root_of(f.pump->registry, thread, &root, &e), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    snprintf(key, sizeof key, "%smemory:%s", f.pump->cfg->backend.redis_prefix, root);
    CU_ASSERT_PTR_NOT_NULL(strstr(key, "wm-"));
    redisContext *rc = redisConnect("127.0.0.1", xb_redis_server_port(redis));
    CU_ASSERT_FATAL(rc && !rc->err);
    CU_ASSERT_EQUAL(redis_int(rc, "EXISTS", key), 1);
    CU_ASSERT_EQUAL(redis_int(rc, "HLEN", key), 2);
    long long ttl = redis_int(rc, "TTL", key);
    CU_ASSERT(ttl > 0 && ttl <= f.pump->cfg->backend.redis_ttl);
    pumpfix_send(writer, XB_CMD_DONE, pumpfix_str(w, 2, id, sizeof id), NULL);
    until_no_conversation();
    CU_ASSERT_EQUAL(redis_int(rc, "EXISTS", key), 0); /* dropped at the end */
    redisFree(rc);
    free(root);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    xb_frames_destroy(&w);
    pumpfix_close(&f);
}

/* ---- a pump killed in the middle of a conversation ---------------------------- */

#define RESTART_YAML                                  \
    "organism:\n  name: wr\n  endpoint: @ENDPOINT@\n" \
    "limits:\n  max_threads: %d\n"                    \
    "backend:\n%s  journal: false\n"                  \
    "listeners:\n"                                    \
    "  - name: tagger\n    payload: doc\n"            \
    "  - name: holder\n    payload: story\n"

/* A conversation on pump p whose tagger (played by the test) writes =mood
 * and forwards to holder, who holds it: its root into root (by `xmlbus
 * memory` of the client's thread, which must show the entry). */
static void conversation_held(const xbt_pump_t *p, char *root, size_t cap)
{
    xbt_raw_t tg, hd;
    CU_ASSERT_FATAL(xbt_raw_open(&tg, p->endpoint, "tagger", "1"));
    CU_ASSERT_FATAL(xbt_raw_open(&hd, p->endpoint, "holder", "1"));
    xb_client_t *c = xbt_client(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char thread[XB_UUID_STR], msg_id[XB_UUID_STR];
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_client_send(c, "<doc/>", 6, NULL, NULL, WAIT_MS, thread, msg_id, &err),
                          0);
    char *id = xbt_raw_deliver(&tg, WAIT_MS, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(id);
    xbt_raw_send(&tg, XB_CMD_REPLY, id, "2", "=mood", "<mood>calm</mood>", "holder", "<story/>",
                 (char *)NULL);
    free(id);
    id = xbt_raw_deliver(&hd, WAIT_MS, NULL); /* the memory was written before */
    CU_ASSERT_PTR_NOT_NULL(id);
    free(id);
    char args[128], *out = NULL;
    snprintf(args, sizeof args, "memory --xml %s", thread);
    CU_ASSERT_EQUAL(xbt_xmlbus(p->endpoint, &out, args), 0);
    CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "<mood>calm</mood>"));
    if (!(out && strstr(out, "<mood>calm</mood>")))
        fprintf(stderr, "xmlbus %s: %s\n", args, out ? out : "(nothing)");
    char *conv = out ? xbt_root_attr(out, "conversation") : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(conv);
    snprintf(root, cap, "%s", conv);
    free(conv);
    free(out);
    xb_client_destroy(&c);
    /* closed without BYE: the pump may be gone already */
    zmq_close(tg.sock), zmq_ctx_term(tg.ctx);
    zmq_close(hd.sock), zmq_ctx_term(hd.ctx);
}

/* Entries of root in the backend b (-1: error). */
static long stored(xb_backend_t *b, const char *root)
{
    xb_wmem_list_t l = {0};
    xb_error_t e;
    long n = xb_backend_wmem_list(b, root, &l, &e) == 0 ? (long)l.count : -1;
    xb_wmem_list_free(&l);
    return n;
}

/* Kills a pump with a conversation held (its memory written), starts it
 * again and, with more (manager), runs one more such conversation; the
 * memory of the first must go (polled until a deadline). */
static void orphan_goes(const char *section, int max_threads, long wait_ms, bool more)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, RESTART_YAML, max_threads, section);
    xbt_pump_t p;
    CU_ASSERT_EQUAL_FATAL(xbt_pump_start(&p, yaml), 0);
    char root[512] = "";
    conversation_held(&p, root, sizeof root);
    kill(p.pid, SIGKILL);
    xbt_wait_exit(p.pid, WAIT_MS);
    xbt_rmtree(p.dir);
    CU_ASSERT_EQUAL_FATAL(xbt_pump_start(&p, yaml), 0);
    xb_error_t err;
    char path[700];
    snprintf(path, sizeof path, "%s/organism.yaml", p.dir);
    xb_config_t *cfg = xb_config_load(path, &err);
    xb_backend_t *b = cfg ? xb_backend_new(&cfg->backend, &err) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    if (more) {
        char other[512];
        conversation_held(&p, other, sizeof other);
        CU_ASSERT_STRING_NOT_EQUAL(other, root);
    }
    long n = -1;
    XBT_WAIT_UNTIL((n = stored(b, root)) == 0, wait_ms);
    CU_ASSERT_EQUAL(n, 0);
    xb_backend_destroy(&b);
    xb_config_destroy(&cfg);
    xbt_pump_finish(&p, 20);
}

/* With the journal, the conversation is taken over by the pump started
 * again: holder gets its message again, answers, and the conversation's
 * end drops the memory written before the kill. */
static void taken_over_drops(const char *section)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, RESTART_YAML, 0, section);
    char *journal = strstr(yaml, "journal: false");
    CU_ASSERT_PTR_NOT_NULL_FATAL(journal);
    memcpy(journal, "journal: true ", 14);
    xbt_pump_t p;
    CU_ASSERT_EQUAL_FATAL(xbt_pump_start(&p, yaml), 0);
    char root[512] = "";
    conversation_held(&p, root, sizeof root);
    kill(p.pid, SIGKILL);
    xbt_wait_exit(p.pid, WAIT_MS);
    xbt_rmtree(p.dir);
    CU_ASSERT_EQUAL_FATAL(xbt_pump_start(&p, yaml), 0);
    xb_error_t err;
    char path[700];
    snprintf(path, sizeof path, "%s/organism.yaml", p.dir);
    xb_config_t *cfg = xb_config_load(path, &err);
    xb_backend_t *b = cfg ? xb_backend_new(&cfg->backend, &err) : NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(stored(b, root), 1); /* still there, its conversation taken over */
    xbt_raw_t hd;
    CU_ASSERT_FATAL(xbt_raw_open(&hd, p.endpoint, "holder", "1"));
    char *id = xbt_raw_deliver(&hd, WAIT_MS, NULL);
    CU_ASSERT_PTR_NOT_NULL(id);
    if (id)
        xbt_raw_send(&hd, XB_CMD_DONE, id, (char *)NULL);
    free(id);
    long n = -1;
    XBT_WAIT_UNTIL((n = stored(b, root)) == 0, WAIT_MS);
    CU_ASSERT_EQUAL(n, 0);
    xbt_raw_close(&hd);
    xb_backend_destroy(&b);
    xb_config_destroy(&cfg);
    xbt_pump_finish(&p, 20);
}

static void test_taken_over_manager(void)
{
    char section[1024];
    snprintf(section, sizeof section, "  type: manager\n  path: %s/takeover.lmdb\n", store);
    taken_over_drops(section);
}

static void test_taken_over_redis(void)
{
    if (!redis)
        CU_FAIL_FATAL("redis-server not available");
    char section[1024];
    snprintf(section, sizeof section,
             "  type: redis\n  redis_url: %s/0\n  redis_prefix: \"wt-%d:\"\n",
             xb_redis_server_url(redis), (int)getpid());
    taken_over_drops(section);
}

static void test_restart_manager(void)
{
    char section[1024];
    snprintf(section, sizeof section, "  type: manager\n  path: %s/restart.lmdb\n", store);
    orphan_goes(section, 1, WAIT_MS, true);
}

static void test_restart_redis(void)
{
    if (!redis)
        CU_FAIL_FATAL("redis-server not available");
    char section[1024];
    snprintf(section, sizeof section,
             "  type: redis\n  redis_url: %s/0\n  redis_prefix: \"wr-%d:\"\n  redis_ttl: 5\n",
             xb_redis_server_url(redis), (int)getpid());
    orphan_goes(section, 0, 3 * WAIT_MS, false);
}

/* ---- suites -------------------------------------------------------------------- */

/* A REPLY's writes are stored with its message's slot, in one transaction:
 * when the writes break max_entries, the message is not delivered either
 * (the listener hears `limit`), and nothing of the writes is stored. */
static void test_writes_go_with_their_message(void)
{
    open_with("memory:\n  max_entries: 1\n");
    char thread[64], id[32], *root = NULL;
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", "<doc/>", "", "", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, tagger, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && d);
    pumpfix_str(a, 3, thread, sizeof thread);
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_registry_root_of(f.pump->registry, thread, &root, &err), 0);
    pumpfix_send(tagger, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "3", "=a", "<a/>", "=b",
                 "<b/>", "writer", "<story/>", NULL);
    xb_frames_t *e = pumpfix_expect(&f, tagger, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    char code[32];
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(e, 3, code, sizeof code), "limit");
    CU_ASSERT_TRUE(pumpfix_quiet(&f, writer, 5)); /* its message went nowhere */
    xb_wmem_list_t l;
    CU_ASSERT_EQUAL(xb_backend_wmem_list(f.pump->backend, root, &l, &err), 0);
    CU_ASSERT_EQUAL(l.count, 0); /* and its writes nowhere either */
    xb_wmem_list_free(&l);
    pumpfix_send(tagger, XB_CMD_DONE, pumpfix_str(e, 2, id, sizeof id), NULL);
    free(root);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    xb_frames_destroy(&e);
    pumpfix_close(&f);
}

static const xbt_test_t wmem_tests[] = {
    {"result and =name are stored with the REPLY", test_result_and_remember},
    {"a missing need fails fast with missing-input", test_needs_missing_fail_fast},
    {"needs travel with DELIVER; CONTROL memory; gone at the end", test_needs_travel_with_deliver},
    {"memory.keep keeps it; CONTROL memory after the end", test_keep_memory},
    {"concurrent conversations never mix their memories", test_conversations_never_mix},
    {"a bad write refuses the REPLY whole", test_bad_writes_refused},
    {"a typed entry against its XSD is refused with schema", test_schema_refuses_invalid_entry},
    {"memory types' XSDs are compiled at start", test_schema_compiled_at_start},
    {"a REPLY's writes go with its message, or not at all", test_writes_go_with_their_message},
    {NULL, NULL},
};

static const xbt_test_t backend_tests[] = {
    {"needs travel with DELIVER; CONTROL memory; gone at the end", test_needs_travel_with_deliver},
    {"memory.keep keeps it; CONTROL memory after the end", test_keep_memory},
    {"concurrent conversations never mix their memories", test_conversations_never_mix},
    {"a typed entry against its XSD is refused with schema", test_schema_refuses_invalid_entry},
    {"a REPLY's writes go with its message, or not at all", test_writes_go_with_their_message},
    {NULL, NULL},
};

static const xbt_test_t redis_tests[] = {
    {"needs travel with DELIVER; CONTROL memory; gone at the end", test_needs_travel_with_deliver},
    {"memory.keep keeps it; CONTROL memory after the end", test_keep_memory},
    {"concurrent conversations never mix their memories", test_conversations_never_mix},
    {"the memory's key has the prefix and a TTL", test_redis_key_and_ttl},
    {"a REPLY's writes go with its message, or not at all", test_writes_go_with_their_message},
    {NULL, NULL},
};

static const xbt_test_t restart_tests[] = {
    {"manager: a killed pump's orphaned memory is evicted", test_restart_manager},
    {"redis: a killed pump's orphaned memory expires", test_restart_redis},
    {"manager: a conversation taken over drops its memory at its end", test_taken_over_manager},
    {"redis: a conversation taken over drops its memory at its end", test_taken_over_redis},
    {NULL, NULL},
};

XBT_SUITES({"wmem", init_store, clean_store, setup_memory, NULL, wmem_tests},
           {"manager", init_store, clean_store, setup_manager, NULL, backend_tests},
           {"redis", init_redis, clean_store, setup_redis, NULL, redis_tests},
           {"restart", init_redis, clean_store, NULL, NULL, restart_tests});
