/* Working memory in the pump (pump/wmem.c, docs/pipelines.md), on an
 * in-process pump driven turn by turn: a listener's `result` and its
 * `=name` writes are stored with its REPLY, the entries a listener `needs`
 * travel with its DELIVER, a missing one fails fast with missing-input and
 * the listener never sees the message, a typed entry of the wrong element
 * is refused, and the memory goes when the conversation ends (unless
 * memory.keep). */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pump_internal.h"
#include "pumpfix.h"
#include "xbt_main.h"

#define LISTENERS                                               \
    "listeners:\n"                                              \
    "  - name: tagger\n    payload: doc\n    result: tagline\n" \
    "  - name: writer\n    payload: story\n    needs: [tagline, mood]\n"

static pumpfix_t f;
static void *tagger, *writer, *client;

static void open_with(const char *memory)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%s" LISTENERS, memory);
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, yaml), 0);
    tagger = pumpfix_listener(&f, "tagger", 1, false, false);
    writer = pumpfix_listener(&f, "writer", 1, false, false);
    client = pumpfix_dealer(&f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tagger && writer && client);
}

/* The client sends <doc/>; tagger answers with the given pairs (target,
 * payload, ...). Returns tagger's thread's conversation root in root. */
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

static char *memory_of(const char *thread)
{
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_CONTROL, "m1", "memory", thread, NULL), 0);
    xb_frames_t *r = pumpfix_expect(&f, client, XB_CMD_RESULT);
    char *body = r ? xb_frames_strdup(r, 4) : NULL;
    xb_frames_destroy(&r);
    return body;
}

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
 * carries them. tagger keeps the conversation open by forwarding. */
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
    char *body = memory_of(thread);
    CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "<entry name=\"mood\"><mood>calm</mood></entry>"));
    CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "<entry name=\"tagline\">"));
    free(body);
    /* writer answers with DONE: the conversation ends, its memory goes
     * (memory.keep: it stays) */
    char *root = NULL;
    xb_error_t e;
    CU_ASSERT_EQUAL_FATAL(xb_registry_root_of(f.pump->registry, thread, &root, &e), 0);
    pumpfix_send(writer, XB_CMD_DONE, pumpfix_str(w, 2, id, sizeof id), NULL);
    for (int i = 0; i < 10 && xb_strmap_count(f.pump->convs) > 0; i++)
        pumpfix_step(&f);
    CU_ASSERT_EQUAL(xb_strmap_count(f.pump->convs), 0);
    xb_wmem_list_t l = {0};
    CU_ASSERT_EQUAL(xb_backend_wmem_list(f.pump->backend, root, &l, &e), 0);
    CU_ASSERT_EQUAL(l.count, keep ? 2u : 0u);
    xb_wmem_list_free(&l);
    free(root);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    xb_frames_destroy(&w);
    pumpfix_close(&f);
}

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

static void test_needs_travel_with_deliver(void)
{
    needs_travel(false);
}

static void test_keep_memory(void)
{
    needs_travel(true);
}

static const xbt_test_t wmem_tests[] = {
    {"result and =name are stored with the REPLY", test_result_and_remember},
    {"a missing need fails fast with missing-input", test_needs_missing_fail_fast},
    {"needs travel with DELIVER; CONTROL memory; gone at the end", test_needs_travel_with_deliver},
    {"a bad write refuses the REPLY whole", test_bad_writes_refused},
    {"memory.keep keeps it after the end", test_keep_memory},
    {NULL, NULL},
};

XBT_SUITES({"wmem", NULL, NULL, NULL, NULL, wmem_tests});
