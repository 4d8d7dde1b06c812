/* Routing (pump/route.c, docs/routing.md) in an in-process pump driven one
 * turn at a time: by tag, by name, unknown targets, the peers rule,
 * broadcast, respond, and errors raised while routing joining the turn. */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

#include "pump_internal.h"
#include "pumpfix.h"
#include "xbt_main.h"

#define YAML                                                     \
    "listeners:\n"                                               \
    "  - name: echo\n    payload: ping\n"                        \
    "  - name: fwd\n    payload: relay\n    peers: [echo]\n"     \
    "  - name: other\n    payload: other\n"                      \
    "  - name: news-a\n    payload: news\n    broadcast: true\n" \
    "  - name: news-b\n    payload: news\n    broadcast: true\n"

static pumpfix_t f;
static void *echo, *fwd, *other, *news_a, *news_b, *client;

static void setup(void)
{
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, YAML), 0);
    echo = pumpfix_listener(&f, "echo", 1, false, false);
    fwd = pumpfix_listener(&f, "fwd", 1, false, false);
    other = pumpfix_listener(&f, "other", 1, false, false);
    news_a = pumpfix_listener(&f, "news-a", 1, false, false);
    news_b = pumpfix_listener(&f, "news-b", 1, false, false);
    client = pumpfix_dealer(&f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(echo && fwd && other && news_a && news_b && client);
}

static void teardown(void)
{
    pumpfix_close(&f);
}

/* Sends a SEND and returns its verdict's command ("" if none). */
static const char *send_msg(const char *body, const char *to, char *cmd, size_t cap)
{
    pumpfix_send(client, XB_CMD_SEND, "r", body, to, "", NULL);
    xb_frames_t *m = pumpfix_recv(&f, client);
    pumpfix_str(m, 1, cmd, cap);
    xb_frames_destroy(&m);
    return cmd;
}

/* Expects a DELIVER on sock; returns its delivery id in id. */
static bool delivered(void *sock, char *id, size_t cap)
{
    xb_frames_t *m = pumpfix_expect(&f, sock, XB_CMD_DELIVER);
    pumpfix_str(m, 2, id, cap);
    xb_frames_destroy(&m);
    return m != NULL || id[0];
}

static void test_by_tag(void)
{
    char cmd[32], id[32];
    CU_ASSERT_STRING_EQUAL(send_msg("<ping/>", "", cmd, sizeof cmd), XB_CMD_ACCEPTED);
    CU_ASSERT(delivered(echo, id, sizeof id));
    CU_ASSERT(pumpfix_quiet(&f, other, 3));
}

static void test_by_name(void)
{
    char cmd[32], id[32];
    /* `other` accepts <other>; naming it routes there */
    CU_ASSERT_STRING_EQUAL(send_msg("<other/>", "other", cmd, sizeof cmd), XB_CMD_ACCEPTED);
    CU_ASSERT(delivered(other, id, sizeof id));
    CU_ASSERT(pumpfix_quiet(&f, echo, 3));
}

static void test_unknown_target(void)
{
    char cmd[32], code[32];
    pumpfix_send(client, XB_CMD_SEND, "r", "<ping/>", "nobody", "", NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_REJECTED);
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, code, sizeof code), "routing");
    xb_frames_destroy(&m);
    CU_ASSERT_STRING_EQUAL(send_msg("<nobody-takes-this/>", "", cmd, sizeof cmd), XB_CMD_REJECTED);
    CU_ASSERT(pumpfix_quiet(&f, echo, 3));
}

/* A REPLY answered back to the client: respond prunes the chain. */
static void test_respond_reaches_client(void)
{
    char cmd[32], id[32];
    CU_ASSERT_STRING_EQUAL(send_msg("<ping/>", "", cmd, sizeof cmd), XB_CMD_ACCEPTED);
    CU_ASSERT_FATAL(delivered(echo, id, sizeof id));
    pumpfix_send(echo, XB_CMD_REPLY, id, "1", "^", "<pong/>", NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(m);
    char *env = m ? xb_frames_strdup(m, 3) : NULL;
    CU_ASSERT(env && strstr(env, "<pong/>"));
    free(env);
    xb_frames_destroy(&m);
}

/* fwd may address echo only: forwarding to `other` is a routing error that
 * goes back to fwd as a SystemError, while the allowed target still gets
 * its message. */
static void test_peers_rule(void)
{
    char cmd[32], id[32], code[32];
    CU_ASSERT_STRING_EQUAL(send_msg("<relay/>", "", cmd, sizeof cmd), XB_CMD_ACCEPTED);
    CU_ASSERT_FATAL(delivered(fwd, id, sizeof id));
    pumpfix_send(fwd, XB_CMD_REPLY, id, "2", "other", "<other/>", "echo", "<ping/>", NULL);
    char eid[32];
    CU_ASSERT(delivered(echo, eid, sizeof eid));
    xb_frames_t *m = pumpfix_expect(&f, fwd, XB_CMD_DELIVER);
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, code, sizeof code), "routing");
    char *env = m ? xb_frames_strdup(m, 3) : NULL;
    CU_ASSERT(env && strstr(env, "may not address 'other'"));
    free(env);
    xb_frames_destroy(&m);
    CU_ASSERT(pumpfix_quiet(&f, other, 3));
}

/* A payload no listener accepts, sent by tag inside a REPLY, is an error
 * raised while routing: it joins the turn's batch with the REPLY's other
 * message (one backend batch for both) and reaches the listener after the
 * commit. */
static void test_error_while_routing_joins_the_turn(void)
{
    char cmd[32], id[32], code[32];
    CU_ASSERT_STRING_EQUAL(send_msg("<ping/>", "", cmd, sizeof cmd), XB_CMD_ACCEPTED);
    CU_ASSERT_FATAL(delivered(echo, id, sizeof id));
    uint64_t batches = f.pump->slot_batches, slots = f.pump->batched_slots;
    /* the echo's other message goes to `other`, by tag */
    pumpfix_send(echo, XB_CMD_REPLY, id, "2", "", "<unheard-of/>", "", "<other/>", NULL);
    char oid[32];
    CU_ASSERT(delivered(other, oid, sizeof oid));
    xb_frames_t *m = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, code, sizeof code), "routing");
    xb_frames_destroy(&m);
    CU_ASSERT_EQUAL(f.pump->slot_batches - batches, 1); /* one write for both */
    CU_ASSERT_EQUAL(f.pump->batched_slots - slots, 2);
}

static void test_broadcast(void)
{
    char cmd[32], a[32], b[32];
    CU_ASSERT_STRING_EQUAL(send_msg("<news/>", "", cmd, sizeof cmd), XB_CMD_ACCEPTED);
    CU_ASSERT(delivered(news_a, a, sizeof a));
    CU_ASSERT(delivered(news_b, b, sizeof b));
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
}

static const xbt_test_t route_tests[] = {
    {"by tag", test_by_tag},
    {"by name", test_by_name},
    {"unknown target", test_unknown_target},
    {"respond reaches the client", test_respond_reaches_client},
    {"peers rule", test_peers_rule},
    {"an error while routing joins the turn", test_error_while_routing_joins_the_turn},
    {"broadcast", test_broadcast},
    {NULL, NULL},
};

XBT_SUITES({"route", NULL, NULL, setup, teardown, route_tests});
