/* Pipelines at run time (pump/pipeline.c, docs/pipelines.md), on an
 * in-process pump driven turn by turn, the test playing the listeners and
 * the client: a sequence passes data by name and the caller gets the
 * output; a missing input fails fast; a result that breaks its entry's type
 * fails the run; a failing parallel branch gives one SystemError and the
 * late answer of the other is dropped; a batch keeps order and its
 * max_concurrency; nested pipelines; timeouts; memory disposal; concurrent
 * runs never mix. The sequence runs on all three backends. */
#include <CUnit/CUnit.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "pipeline.h"
#include "pump_internal.h"
#include "pumpfix.h"
#include "redis_server.h"
#include "xbt_main.h"
#include "xbt_tmp.h"

#define ORGANISM                                                                             \
    "  types:\n"                                                                             \
    "    - name: tokens\n      element: tokens\n"                                            \
    "listeners:\n"                                                                           \
    "  - name: tok\n    payload: tokenize\n    needs: [doc]\n    result: tokens\n"           \
    "  - name: count\n    payload: count\n    needs: [tokens]\n    result: counts\n"         \
    "  - name: kw\n    payload: keywords\n    needs: [tokens]\n    result: keywords\n"       \
    "  - name: sum\n    payload: summarize\n    needs: [doc, counts]\n    result: summary\n" \
    "  - name: item\n    payload: one\n    credit: 8\n"                                      \
    "pipelines:\n"                                                                           \
    "  - name: seq\n    payload: document\n    input: doc\n    output: summary\n"            \
    "    steps:\n"                                                                           \
    "      - listener: tok\n      - listener: count\n      - listener: sum\n"                \
    "  - name: fan\n    payload: fandoc\n    input: doc\n    output: keywords\n"             \
    "    steps:\n"                                                                           \
    "      - listener: tok\n"                                                                \
    "      - parallel:\n          - listener: count\n          - listener: kw\n"             \
    "  - name: each\n    payload: list\n    input: items\n    output: all\n"                 \
    "    steps:\n"                                                                           \
    "      - batch: {listener: item}\n        over: items\n        result: all\n"            \
    "        max_concurrency: 4\n"                                                           \
    "  - name: outer\n    payload: outerdoc\n    input: doc\n    output: summary\n"          \
    "    steps:\n"                                                                           \
    "      - pipeline: seq\n        result: summary\n"                                       \
    "  - name: slow\n    payload: slowdoc\n    input: doc\n    output: tokens\n"             \
    "    steps:\n"                                                                           \
    "      - listener: tok\n        timeout_seconds: 2\n"                                    \
    "  - name: twice\n    payload: twicedoc\n    input: doc\n    output: a\n"                \
    "    steps:\n"                                                                           \
    "      - parallel:\n          - {listener: item, result: k}\n"                           \
    "          - {listener: tok, result: a}\n"                                               \
    "          - {listener: tok, result: b}\n"                                               \
    "  - name: slownest\n    payload: slownestdoc\n    input: doc\n    output: tokens\n"     \
    "    steps:\n"                                                                           \
    "      - pipeline: slow\n        result: tokens\n"                                       \
    "  - name: hasty\n    payload: hastydoc\n    input: doc\n    output: summary\n"          \
    "    timeout_seconds: 1\n    steps:\n"                                                   \
    "      - pipeline: seq\n        result: summary\n"

static pumpfix_t f;
static void *tok, *count, *kw, *sum, *item, *client;
static char backend_yaml[PATH_MAX + 256];
static char *lmdb_dir;

static void open_org(bool keep)
{
    char yaml[8192];
    snprintf(yaml, sizeof yaml, "%smemory:\n  keep: %s\n" ORGANISM, backend_yaml,
             keep ? "true" : "false");
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, yaml), 0);
    tok = pumpfix_listener(&f, "tok", 1, false, false);
    count = pumpfix_listener(&f, "count", 1, false, false);
    kw = pumpfix_listener(&f, "kw", 1, false, false);
    sum = pumpfix_listener(&f, "sum", 1, false, false);
    item = pumpfix_listener(&f, "item", 8, false, false);
    client = pumpfix_dealer(&f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tok && count && kw && sum && item && client);
}

/* The value of memory entry name in DELIVER d ("" when it has none). */
static const char *entry_of(const xb_frames_t *d, const char *name, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t i = 4; i + 1 < xb_frames_count(d); i += 2)
        if (xb_frames_eq(d, i, name))
            return pumpfix_str(d, i + 1, buf, cap);
    return buf;
}

/* Expects a DELIVER on sock whose envelope holds want; answers it with
 * response (a `^` pair), or with DONE when response is NULL. Returns the
 * delivery (caller destroys) for more checks. */
static xb_frames_t *serve(void *sock, const char *want, const char *response)
{
    xb_frames_t *d = pumpfix_expect(&f, sock, XB_CMD_DELIVER);
    if (!d)
        return NULL;
    char env[4096], id[32];
    pumpfix_str(d, 3, env, sizeof env);
    CU_ASSERT_PTR_NOT_NULL(strstr(env, want));
    pumpfix_str(d, 2, id, sizeof id);
    if (response)
        pumpfix_send(sock, XB_CMD_REPLY, id, "1", XB_TARGET_RESPOND, response, NULL);
    else
        pumpfix_send(sock, XB_CMD_DONE, id, NULL);
    return d;
}

/* Sends payload from the client and takes its ACCEPTED; thread gets the
 * client's thread. */
static void start(const char *payload, char *thread, size_t cap)
{
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", payload, "", "", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    if (thread)
        pumpfix_str(a, 3, thread, cap);
    xb_frames_destroy(&a);
}

/* The client's next message must be an answer holding want (or, with code,
 * a SystemError of that code whose text holds want). */
static void expect_answer(const char *want, const char *code)
{
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char env[4096], c[32];
    pumpfix_str(m, 3, env, sizeof env);
    if (!strstr(env, want))
        fprintf(stderr, "expected %s in %s\n", want, env);
    CU_ASSERT_PTR_NOT_NULL(strstr(env, want));
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, c, sizeof c), code ? code : "");
    xb_frames_destroy(&m);
}

/* The sequence; afterwards the conversation's memory is gone, or, with
 * keep, holds the input and every step's result. */
static void sequence_passes_data(bool keep)
{
    open_org(keep);
    char thread[64], v[512], *root = NULL;
    start("<document>hello world</document>", thread, sizeof thread);
    xb_error_t e;
    CU_ASSERT_EQUAL_FATAL(xb_registry_root_of(f.pump->registry, thread, &root, &e), 0);
    xb_frames_t *d = serve(tok, "<tokenize/>", "<tokens><w>hello</w><w>world</w></tokens>");
    CU_ASSERT_STRING_EQUAL(entry_of(d, "doc", v, sizeof v), "<document>hello world</document>");
    char env[4096], step_thread[40] = "";
    const char *t = strstr(pumpfix_str(d, 3, env, sizeof env), "thread>");
    if (t)
        snprintf(step_thread, sizeof step_thread, "%.36s", t + 7);
    xb_frames_destroy(&d);
    d = serve(count, "<count/>", "<counts n=\"2\"/>");
    CU_ASSERT_STRING_EQUAL(entry_of(d, "tokens", v, sizeof v),
                           "<tokens><w>hello</w><w>world</w></tokens>");
    xb_frames_destroy(&d);
    d = serve(sum, "<summarize/>", "<summary>2 words</summary>");
    CU_ASSERT_STRING_EQUAL(entry_of(d, "counts", v, sizeof v), "<counts n=\"2\"/>");
    CU_ASSERT_STRING_EQUAL(entry_of(d, "doc", v, sizeof v), "<document>hello world</document>");
    xb_frames_destroy(&d);
    expect_answer("<summary>2 words</summary>", NULL);
    /* the step is an ordinary message: recorded under its own thread, from
     * the pipeline's hop to its listener */
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_CONTROL, "h", "history", step_thread, NULL), 0);
    xb_frames_t *h = pumpfix_expect(&f, client, XB_CMD_RESULT);
    char *body = h ? xb_frames_strdup(h, 4) : NULL;
    CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "from=\"seq\"") && strstr(body, "to=\"tok\""));
    if (body && !strstr(body, "to=\"tok\""))
        fprintf(stderr, "history of %s: %s\n", step_thread, body);
    free(body);
    xb_frames_destroy(&h);
    /* the conversation ended: its memory went with it */
    CU_ASSERT_TRUE(pumpfix_quiet(&f, client, 3));
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
    xbp_pipes_stats_t st;
    xbp_pipelines_stats(f.pump, &st);
    CU_ASSERT_EQUAL(st.started, 1);
    CU_ASSERT_EQUAL(st.completed, 1);
    CU_ASSERT_EQUAL(st.running, 0);
    xb_wmem_list_t l;
    CU_ASSERT_EQUAL(xb_backend_wmem_list(f.pump->backend, root, &l, &e), 0);
    CU_ASSERT_EQUAL(l.count, keep ? 4u : 0u); /* counts, doc, summary, tokens */
    if (keep && l.count == 4)
        CU_ASSERT_STRING_EQUAL(l.items[1].name, "doc");
    xb_wmem_list_free(&l);
    free(root);
    pumpfix_close(&f);
}

static void test_sequence(void)
{
    sequence_passes_data(false);
}

/* A step that produced nothing: the next one's need is missing, the run
 * fails with missing-input and that listener never sees a message. */
static void test_missing_input(void)
{
    open_org(false);
    start("<document>x</document>", NULL, 0);
    xb_frames_t *d = serve(tok, "<tokenize/>", NULL); /* DONE: no tokens */
    xb_frames_destroy(&d);
    expect_answer("needs tokens", "missing-input");
    CU_ASSERT_TRUE(pumpfix_quiet(&f, count, 5));
    pumpfix_close(&f);
}

/* tokens is typed <tokens>: a response of another element fails the run
 * with schema. */
static void test_typed_result_refused(void)
{
    open_org(false);
    start("<document>x</document>", NULL, 0);
    xb_frames_t *d = serve(tok, "<tokenize/>", "<words/>");
    xb_frames_destroy(&d);
    expect_answer("pipeline seq failed in step 1 (listener tok)", "schema");
    CU_ASSERT_TRUE(pumpfix_quiet(&f, count, 5));
    pumpfix_close(&f);
}

/* One branch fails: one SystemError names the step; the other branch's
 * answer, late, is counted and dropped. */
static void test_parallel_failure(void)
{
    open_org(false);
    start("<fandoc>a b</fandoc>", NULL, 0);
    xb_frames_t *d = serve(tok, "<tokenize/>", "<tokens><w>a</w></tokens>");
    xb_frames_destroy(&d);
    xb_frames_t *c = pumpfix_expect(&f, count, XB_CMD_DELIVER);
    xb_frames_t *k = pumpfix_expect(&f, kw, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c && k);
    char id[32];
    pumpfix_send(count, XB_CMD_FAILED, pumpfix_str(c, 2, id, sizeof id), "no counting today", NULL);
    expect_answer("in step 2 (parallel: count)", "crash");
    pumpfix_send(kw, XB_CMD_REPLY, pumpfix_str(k, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                 "<keywords/>", NULL);
    CU_ASSERT_TRUE(pumpfix_quiet(&f, client, 5)); /* exactly one answer */
    xbp_pipes_stats_t st;
    xbp_pipelines_stats(f.pump, &st);
    CU_ASSERT_EQUAL(st.failed, 1);
    CU_ASSERT_EQUAL(st.late, 1);
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
    xb_frames_destroy(&c);
    xb_frames_destroy(&k);
    pumpfix_close(&f);
}

static void test_parallel_success(void)
{
    open_org(false);
    start("<fandoc>a b</fandoc>", NULL, 0);
    xb_frames_t *d = serve(tok, "<tokenize/>", "<tokens><w>a</w></tokens>");
    xb_frames_destroy(&d);
    d = serve(kw, "<keywords/>", "<keywords><k>a</k></keywords>");
    xb_frames_destroy(&d);
    d = serve(count, "<count/>", "<counts n=\"1\"/>");
    xb_frames_destroy(&d);
    expect_answer("<keywords><k>a</k></keywords>", NULL);
    pumpfix_close(&f);
}

/* 100 items, max_concurrency 4: never more than 4 in flight, answered in
 * a scrambled order, collected in the items' order. */
static void test_batch_order_and_concurrency(void)
{
    open_org(false);
    char list[4096] = "<list>";
    for (int i = 0; i < 100; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "<w>%d</w>", i);
    strcat(list, "</list>");
    start(list, NULL, 0);
    int answered = 0, max_seen = 0;
    while (answered < 100) {
        xb_frames_t *held[8];
        int n = 0;
        held[n++] = pumpfix_expect(&f, item, XB_CMD_DELIVER);
        CU_ASSERT_PTR_NOT_NULL_FATAL(held[0]);
        while (n < 8 && (held[n] = pumpfix_try(&f, item, 3)))
            n++;
        if (n > max_seen)
            max_seen = n;
        for (int j = n - 1; j >= 0; j--) { /* newest first */
            char env[1024], id[32], resp[64];
            pumpfix_str(held[j], 3, env, sizeof env);
            const char *w = strstr(env, "<one><w>");
            int v = w ? atoi(w + 8) : -1;
            snprintf(resp, sizeof resp, "<r>%d</r>", v);
            pumpfix_send(item, XB_CMD_REPLY, pumpfix_str(held[j], 2, id, sizeof id), "1",
                         XB_TARGET_RESPOND, resp, NULL);
            xb_frames_destroy(&held[j]);
            answered++;
        }
    }
    CU_ASSERT_EQUAL(max_seen, 4); /* max_concurrency, though credit allows 8 */
    char want[2048] = "<all>";
    for (int i = 0; i < 100; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "<r>%d</r>", i);
    strcat(want, "</all>");
    expect_answer(want, NULL);
    pumpfix_close(&f);
}

/* outer runs seq as a step: seq's memory is its own, gone when it ends;
 * outer's caller gets seq's output. */
static void test_nested(void)
{
    open_org(false);
    start("<outerdoc>hi</outerdoc>", NULL, 0);
    char v[256];
    xb_frames_t *d = serve(tok, "<tokenize/>", "<tokens><w>hi</w></tokens>");
    CU_ASSERT_STRING_EQUAL(entry_of(d, "doc", v, sizeof v), "<outerdoc>hi</outerdoc>");
    xb_frames_destroy(&d);
    d = serve(count, "<count/>", "<counts n=\"1\"/>");
    xb_frames_destroy(&d);
    d = serve(sum, "<summarize/>", "<summary>nested</summary>");
    xb_frames_destroy(&d);
    expect_answer("<summary>nested</summary>", NULL);
    xbp_pipes_stats_t st;
    xbp_pipelines_stats(f.pump, &st);
    CU_ASSERT_EQUAL(st.started, 2);
    CU_ASSERT_EQUAL(st.completed, 2);
    pumpfix_close(&f);
}

/* A step past its timeout_seconds: the caller hears `timeout`. */
static void test_step_timeout(void)
{
    open_org(false);
    start("<slowdoc>x</slowdoc>", NULL, 0);
    xb_frames_t *d = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(d);
    xb_frames_destroy(&d);
    pumpfix_advance(&f, 2500, 100, (void *const[]){tok, NULL});
    expect_answer("timeout_seconds", "timeout");
    pumpfix_close(&f);
}

/* Two runs at once, answered crosswise: each gets its own data. */
static void test_concurrent_runs(void)
{
    open_org(false);
    start("<document>one</document>", NULL, 0);
    start("<document>two</document>", NULL, 0);
    xb_frames_t *a = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    char v[256], id[32];
    int first = strstr(entry_of(a, "doc", v, sizeof v), "one") ? 1 : 2;
    pumpfix_send(tok, XB_CMD_REPLY, pumpfix_str(a, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                 first == 1 ? "<tokens><w>one</w></tokens>" : "<tokens><w>two</w></tokens>", NULL);
    xb_frames_t *b = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NOT_NULL(strstr(entry_of(b, "doc", v, sizeof v), first == 1 ? "two" : "one"));
    pumpfix_send(tok, XB_CMD_REPLY, pumpfix_str(b, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                 first == 1 ? "<tokens><w>two</w></tokens>" : "<tokens><w>one</w></tokens>", NULL);
    for (int i = 0; i < 2; i++) {
        xb_frames_t *c = pumpfix_expect(&f, count, XB_CMD_DELIVER);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        const char *t = entry_of(c, "tokens", v, sizeof v);
        char resp[64];
        snprintf(resp, sizeof resp, "<counts of=\"%s\"/>", strstr(t, "one") ? "one" : "two");
        pumpfix_send(count, XB_CMD_REPLY, pumpfix_str(c, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                     resp, NULL);
        xb_frames_destroy(&c);
    }
    for (int i = 0; i < 2; i++) {
        xb_frames_t *s = pumpfix_expect(&f, sum, XB_CMD_DELIVER);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        char doc[128], counts[128], resp[64];
        entry_of(s, "doc", doc, sizeof doc);
        entry_of(s, "counts", counts, sizeof counts);
        bool one = strstr(doc, "one") != NULL;
        CU_ASSERT_PTR_NOT_NULL(strstr(counts, one ? "one" : "two"));
        snprintf(resp, sizeof resp, "<summary>%s</summary>", one ? "one" : "two");
        pumpfix_send(sum, XB_CMD_REPLY, pumpfix_str(s, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                     resp, NULL);
        xb_frames_destroy(&s);
    }
    xb_frames_t *x = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    xb_frames_t *y = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x && y);
    char ex[2048], ey[2048];
    pumpfix_str(x, 3, ex, sizeof ex);
    pumpfix_str(y, 3, ey, sizeof ey);
    CU_ASSERT_TRUE((strstr(ex, "<summary>one") && strstr(ey, "<summary>two")) ||
                   (strstr(ex, "<summary>two") && strstr(ey, "<summary>one")));
    xb_frames_destroy(&a);
    xb_frames_destroy(&b);
    xb_frames_destroy(&x);
    xb_frames_destroy(&y);
    pumpfix_close(&f);
}

static void test_keep(void)
{
    sequence_passes_data(true);
}

/* tok forwards to a listener that does not exist: its SystemError comes
 * back to tok, which ends it with DONE: the step failed, and the run's
 * caller hears it once (no timeout needed). */
static void test_error_inside_step(void)
{
    open_org(false);
    start("<document>x</document>", NULL, 0);
    xb_frames_t *d = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char id[32];
    pumpfix_send(tok, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "1", "nosuch", "<tokens/>",
                 NULL);
    xb_frames_destroy(&d);
    xb_frames_t *e = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    char code[32];
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(e, 3, code, sizeof code), "routing");
    pumpfix_send(tok, XB_CMD_DONE, pumpfix_str(e, 2, id, sizeof id), NULL);
    xb_frames_destroy(&e);
    expect_answer("a SystemError inside the step ended its branch", "routing");
    CU_ASSERT_TRUE(pumpfix_quiet(&f, client, 5));
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
    pumpfix_close(&f);
}

/* Two branches go to tok (credit 1): tok holds one, the other waits in its
 * queue. The branch of item fails: the run fails, the waiting one is
 * cancelled, never delivered, and tok's late answer is dropped. */
static void test_cancel_queued(void)
{
    open_org(false);
    start("<twicedoc>x</twicedoc>", NULL, 0);
    xb_frames_t *i = pumpfix_expect(&f, item, XB_CMD_DELIVER);
    xb_frames_t *d = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(i && d);
    char id[32];
    pumpfix_send(item, XB_CMD_FAILED, pumpfix_str(i, 2, id, sizeof id), "no", NULL);
    xb_frames_destroy(&i);
    expect_answer("pipeline twice failed in step 1 (parallel: item)", "crash");
    pumpfix_send(tok, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                 "<tokens/>", NULL);
    xb_frames_destroy(&d);
    CU_ASSERT_TRUE(pumpfix_quiet(&f, tok, 5)); /* the waiting one never came */
    CU_ASSERT_TRUE(pumpfix_quiet(&f, client, 3));
    xbp_pipes_stats_t st;
    xbp_pipelines_stats(f.pump, &st);
    CU_ASSERT_EQUAL(st.cancelled, 1);
    CU_ASSERT_EQUAL(st.late, 1);
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
    CU_ASSERT_EQUAL(f.pump->in_flight, 0);
    pumpfix_close(&f);
}

/* tok forwards to a helper (item) and that branch ends without a response
 * (item's DONE): nothing of the step is left to answer, so the step ended
 * silently, as if tok had answered DONE: count's need is missing. The run
 * does not wait forever, and the conversation ends. */
static void test_helper_ends_silently(void)
{
    open_org(false);
    start("<document>x</document>", NULL, 0);
    xb_frames_t *d = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char id[32];
    pumpfix_send(tok, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "1", "item", "<one/>", NULL);
    xb_frames_destroy(&d);
    d = serve(item, "<one/>", NULL); /* DONE: the helper's branch ends */
    xb_frames_destroy(&d);
    pumpfix_advance(&f, 200, 60, NULL);
    expect_answer("needs tokens", "missing-input");
    CU_ASSERT_TRUE(pumpfix_quiet(&f, count, 3));
    xbp_pipes_stats_t st;
    xbp_pipelines_stats(f.pump, &st);
    CU_ASSERT_EQUAL(st.running, 0);
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
    pumpfix_close(&f);
}

/* tok forwards to a helper (item) and responds when it answered: the
 * response is the step's, the run goes on and completes. */
static void test_helper_answers(void)
{
    open_org(false);
    start("<document>x</document>", NULL, 0);
    xb_frames_t *d = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char id[32];
    pumpfix_send(tok, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "1", "item", "<one/>", NULL);
    xb_frames_destroy(&d);
    d = serve(item, "<one/>", "<tokenize/>"); /* back to tok */
    xb_frames_destroy(&d);
    d = serve(tok, "<tokenize/>", "<tokens><w>x</w></tokens>");
    xb_frames_destroy(&d);
    pumpfix_advance(&f, 200, 60, NULL); /* no silent end: tok's response counted */
    d = serve(count, "<count/>", "<counts/>");
    xb_frames_destroy(&d);
    d = serve(sum, "<summarize/>", "<summary>ok</summary>");
    xb_frames_destroy(&d);
    expect_answer("<summary>ok</summary>", NULL);
    CU_ASSERT_TRUE(pumpfix_quiet(&f, client, 3));
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
    pumpfix_close(&f);
}

/* The nested run fails: the outer one fails with a message holding the
 * inner one's, its caller hears it once, and the conversation ends. */
static void test_nested_failure(void)
{
    open_org(false);
    start("<outerdoc>hi</outerdoc>", NULL, 0);
    xb_frames_t *d = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char id[32];
    pumpfix_send(tok, XB_CMD_FAILED, pumpfix_str(d, 2, id, sizeof id), "no", NULL);
    xb_frames_destroy(&d);
    expect_answer("pipeline outer failed in step 1 (pipeline seq): pipeline seq failed in step 1",
                  "crash");
    CU_ASSERT_TRUE(pumpfix_quiet(&f, client, 5));
    xbp_pipes_stats_t st;
    xbp_pipelines_stats(f.pump, &st);
    CU_ASSERT_EQUAL(st.failed, 2);
    CU_ASSERT_EQUAL(st.running, 0);
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
    pumpfix_close(&f);
}

/* The outer run times out while its nested run waits for tok: the caller
 * hears `timeout` once; what the nested run still does is late, and the
 * conversation ends. */
static void test_outer_timeout(void)
{
    open_org(false);
    start("<hastydoc>hi</hastydoc>", NULL, 0);
    xb_frames_t *d = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    pumpfix_advance(&f, 1500, 100, (void *const[]){tok, NULL});
    expect_answer("pipeline hasty failed", "timeout");
    char id[32];
    pumpfix_send(tok, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                 "<tokens/>", NULL);
    xb_frames_destroy(&d);
    xb_frames_t *c = pumpfix_try(&f, count, 5);
    if (c) { /* the nested run went on: answer it */
        pumpfix_send(count, XB_CMD_REPLY, pumpfix_str(c, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                     "<counts/>", NULL);
        xb_frames_destroy(&c);
        d = serve(sum, "<summarize/>", "<summary/>");
        xb_frames_destroy(&d);
    }
    CU_ASSERT_TRUE(pumpfix_quiet(&f, client, 5));
    xbp_pipes_stats_t st;
    xbp_pipelines_stats(f.pump, &st);
    CU_ASSERT_EQUAL(st.running, 0);
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
    pumpfix_close(&f);
}

/* The pump stops while tok holds a step: the run's caller hears
 * `shutdown` once, and nothing else. */
static void test_stop_mid_run(void)
{
    open_org(false);
    start("<document>x</document>", NULL, 0);
    xb_frames_t *d = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    xb_frames_destroy(&d);
    xb_pump_stop(f.pump);
    for (int i = 0; i < 400 && xb_pump_step(f.pump, 0) > 0; i++)
        pumpfix_advance(&f, 100, 100, (void *const[]){tok, count, kw, sum, item, NULL});
    expect_answer("the pump", "shutdown");
    CU_ASSERT_PTR_NULL(pumpfix_try(&f, client, 3));
    xbp_pipes_stats_t st;
    xbp_pipelines_stats(f.pump, &st);
    CU_ASSERT_EQUAL(st.running, 0);
    CU_ASSERT_EQUAL(st.failed, 1);
    pumpfix_close(&f);
}

/* tok passes a SystemError on as its response: the run fails with that
 * SystemError's code and message. */
static void test_passed_on_error(void)
{
    open_org(false);
    start("<document>x</document>", NULL, 0);
    xb_frames_t *d = serve(tok, "<tokenize/>",
                           "<SystemError><code>limit</code><message>too big</message>"
                           "<retry-allowed>false</retry-allowed></SystemError>");
    xb_frames_destroy(&d);
    expect_answer("it answered with a SystemError: too big", "limit");
    CU_ASSERT_TRUE(pumpfix_quiet(&f, count, 3));
    CU_ASSERT_TRUE(pumpfix_quiet(&f, client, 3));
    pumpfix_close(&f);
}

/* A client may not send under a pipeline's name: the pipeline's hop is the
 * pump's. */
static void test_pipeline_name_not_a_sender(void)
{
    open_org(false);
    CU_ASSERT_EQUAL(
        pumpfix_send(client, XB_CMD_SEND, "r1", "<document>x</document>", "", "seq", NULL), 0);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_REJECTED);
    char code[32];
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, code, sizeof code), "denied");
    xb_frames_destroy(&m);
    CU_ASSERT_TRUE(pumpfix_quiet(&f, tok, 3));
    pumpfix_close(&f);
}

static const xbt_test_t pipeline_tests[] = {
    {"a three-step sequence passes data by name", test_sequence},
    {"a missing input fails fast", test_missing_input},
    {"a result that breaks its type fails the run", test_typed_result_refused},
    {"parallel: one failing branch, one SystemError, the rest dropped", test_parallel_failure},
    {"parallel: both branches' results", test_parallel_success},
    {"batch: 100 items, max_concurrency 4, in order", test_batch_order_and_concurrency},
    {"nested pipelines", test_nested},
    {"a step's timeout", test_step_timeout},
    {"two runs at once never mix", test_concurrent_runs},
    {"memory.keep keeps a run's memory", test_keep},
    {"a pipeline's name is no client's", test_pipeline_name_not_a_sender},
    {"a SystemError passed on as a step's response fails the run", test_passed_on_error},
    {"a SystemError ended inside a step fails the run", test_error_inside_step},
    {"a failed run cancels its queued step messages", test_cancel_queued},
    {"a step whose helper ends silently does not hang its run", test_helper_ends_silently},
    {"the pump stops mid-run: its caller hears it once", test_stop_mid_run},
    {"a step's listener answers after its helper did", test_helper_answers},
    {"a nested run fails: its caller's run fails, one answer", test_nested_failure},
    {"the outer run times out while its nested run waits", test_outer_timeout},
    {NULL, NULL},
};

/* ---- the same sequence on LMDB and Redis ----------------------------------------------- */

static int lmdb_init(void)
{
    lmdb_dir = xbt_tmpdir("pipeline");
    if (!lmdb_dir)
        return -1;
    snprintf(backend_yaml, sizeof backend_yaml, "backend:\n  type: manager\n  path: %s/t.lmdb\n",
             lmdb_dir);
    return 0;
}

static int lmdb_clean(void)
{
    backend_yaml[0] = '\0';
    xbt_rmtree(lmdb_dir);
    free(lmdb_dir);
    lmdb_dir = NULL;
    return 0;
}

static int redis_init(void)
{
    xb_error_t err;
    xb_redis_server_t *srv = xb_redis_server_shared(&err);
    if (!srv) {
        fprintf(stderr, "redis: %s\n", err.message);
        return -1;
    }
    snprintf(backend_yaml, sizeof backend_yaml,
             "backend:\n  type: redis\n  redis_url: %s/0\n  redis_prefix: \"pl%d:\"\n",
             xb_redis_server_url(srv), (int)getpid());
    return 0;
}

static int backend_clean(void)
{
    backend_yaml[0] = '\0';
    return 0;
}

/* The pump dies while tok holds the first step (its journal entry stays,
 * as a crash leaves it); the next pump delivers it again, and tok's answer
 * finds no run: the client hears once that the run was lost, and the
 * conversation's memory goes when it ends. */
static void restart_mid_run(const char *payload, const char *lost)
{
    open_org(false);
    client = pumpfix_dealer_id(&f, "c1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(client);
    char thread[64], *root = NULL;
    start(payload, thread, sizeof thread);
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_registry_root_of(f.pump->registry, thread, &root, &err), 0);
    xb_frames_t *d = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    xb_frames_destroy(&d);
    xb_journal_list_t saved = {0};
    CU_ASSERT_EQUAL(xb_backend_journal_list(f.pump->backend, &saved, &err), 0);
    CU_ASSERT_EQUAL_FATAL(saved.count, 1);
    xb_journal_entry_t e = {saved.items[0].id, saved.items[0].data.data, saved.items[0].data.len};
    xb_backend_config_t cfg = f.pump->cfg->backend; /* the same store, after the pump */
    pumpfix_close(&f);
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(xb_backend_journal_put(b, &e, &err), 0);
    xb_backend_destroy(&b);
    xb_journal_list_free(&saved);

    open_org(false);
    client = pumpfix_dealer_id(&f, "c1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(client);
    d = serve(tok, "<tokenize/>", "<tokens><w>lost</w></tokens>");
    xb_frames_destroy(&d);
    expect_answer(lost, "shutdown");
    CU_ASSERT_TRUE(pumpfix_quiet(&f, count, 5));
    CU_ASSERT_TRUE(pumpfix_quiet(&f, client, 3));
    xb_wmem_list_t l;
    CU_ASSERT_EQUAL(xb_backend_wmem_list(f.pump->backend, root, &l, &err), 0);
    CU_ASSERT_EQUAL(l.count, 0);
    xb_wmem_list_free(&l);
    free(root);
    pumpfix_close(&f);
}

static void test_restart_mid_run(void)
{
    restart_mid_run("<document>lost</document>",
                    "pipeline seq: its run was lost when the pump restarted");
}

/* The same inside a nested run: the step's caller is seq's hop, whose
 * caller is outer's hop, both lost: the client hears it. */
static void test_restart_mid_nested_run(void)
{
    restart_mid_run("<outerdoc>lost</outerdoc>",
                    "pipeline seq: its run was lost when the pump restarted");
}

/* How many working-memory keys of nested runs ("ROOT/pRUN") the test's
 * redis holds. */
static long nested_memory_keys(void)
{
    xb_error_t err;
    xb_redis_server_t *srv = xb_redis_server_shared(&err);
    redisContext *c = srv ? redisConnect("127.0.0.1", xb_redis_server_port(srv)) : NULL;
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return -1;
    }
    redisReply *r = redisCommand(c, "KEYS pl%d:*/p*", (int)getpid());
    long n = r && r->type == REDIS_REPLY_ARRAY ? (long)r->elements : -1;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

/* A nested run times out while tok holds its step; tok's late answer
 * writes to that run's memory, which went when the run ended: the late
 * write does not stay behind in the backend. */
static void test_late_write_to_ended_run(void)
{
    open_org(false);
    start("<slownestdoc>x</slownestdoc>", NULL, 0);
    xb_frames_t *d = pumpfix_expect(&f, tok, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    pumpfix_advance(&f, 2500, 100, (void *const[]){tok, NULL});
    expect_answer("timeout_seconds", "timeout");
    CU_ASSERT_EQUAL(nested_memory_keys(), 0);
    char id[32];
    pumpfix_send(tok, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "2", "=note", "<n/>",
                 XB_TARGET_RESPOND, "<tokens/>", NULL);
    xb_frames_destroy(&d);
    CU_ASSERT_TRUE(pumpfix_quiet(&f, client, 5));
    xbp_pipes_stats_t st;
    xbp_pipelines_stats(f.pump, &st);
    CU_ASSERT_EQUAL(st.late, 1);
    CU_ASSERT_EQUAL(nested_memory_keys(), 0);
    pumpfix_close(&f);
}

static const xbt_test_t lmdb_tests[] = {
    {"a three-step sequence passes data by name", test_sequence},
    {"nested pipelines", test_nested},
    {"memory.keep", test_keep},
    {"a pump restart mid-run: the caller hears, the memory goes", test_restart_mid_run},
    {"a pump restart inside a nested run: the client hears", test_restart_mid_nested_run},
    {NULL, NULL},
};

static const xbt_test_t backend_tests[] = {
    {"a three-step sequence passes data by name", test_sequence},
    {"nested pipelines", test_nested},
    {"memory.keep", test_keep},
    /* before the restart inside a nested run, whose run memory stays for
     * redis_ttl by design (docs/pipelines.md) */
    {"a late write to an ended nested run's memory goes", test_late_write_to_ended_run},
    {"a pump restart mid-run: the caller hears, the memory goes", test_restart_mid_run},
    {"a pump restart inside a nested run: the client hears", test_restart_mid_nested_run},
    {NULL, NULL},
};

XBT_SUITES({"pipeline", NULL, NULL, NULL, NULL, pipeline_tests},
           {"lmdb", lmdb_init, lmdb_clean, NULL, NULL, lmdb_tests},
           {"redis", redis_init, backend_clean, NULL, NULL, backend_tests});
