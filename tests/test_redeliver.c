/* Redelivery from the journal at start (pump/redeliver.c), on in-process
 * pumps over one real LMDB environment in a temp folder. The crash is the
 * journal as a crashed pump leaves it: the entry of a message in hand,
 * saved while the first pump held it and written back after that pump
 * stopped (a stopping pump fails what it holds and clears its entries). */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redeliver.h"
#include "pumpfix.h"
#include "xbt_main.h"
#include "xbt_tmp.h"

#define LISTENERS "listeners:\n  - name: echo\n    payload: ping\n    credit: 10\n"

static char dir[256];
static pumpfix_t f;
static void *echo, *client;

static void open_pump(int max_redeliveries)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "limits:\n  max_redeliveries: %d\n"
             "backend:\n  type: manager\n  path: %s\n" LISTENERS,
             max_redeliveries, dir);
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, yaml), 0);
    echo = pumpfix_listener(&f, "echo", 10, false, false);
    client = pumpfix_dealer(&f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(echo && client);
}

static xb_journal_list_t journal(void)
{
    xb_journal_list_t l = {0};
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_journal_list(f.pump->backend, &l, &err), 0);
    return l;
}

/* The pump "crashes" now: the journal as it is (one entry) is written back
 * after the pump stopped. */
static void crash_now(void)
{
    xb_journal_list_t saved = journal();
    CU_ASSERT_EQUAL_FATAL(saved.count, 1);
    xb_journal_entry_t e = {saved.items[0].id, saved.items[0].data.data, saved.items[0].data.len};
    pumpfix_close(&f);
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.type = XB_BACKEND_MANAGER;
    snprintf(cfg.path, sizeof cfg.path, "%s", dir);
    xb_error_t err;
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(xb_backend_journal_put(b, &e, &err), 0);
    xb_backend_destroy(&b);
    xb_journal_list_free(&saved);
}

/* A message in hand of echo when the "crash" comes. Fills msg_id. */
static void crash_with_message_in_hand(char *msg_id, size_t cap)
{
    open_pump(3);
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", "<ping>1</ping>", "", "", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && d);
    pumpfix_str(a, 4, msg_id, cap);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    crash_now();
}

/* Steps until the journal is empty: it must become so. */
static void expect_journal_emptied(void)
{
    size_t n = 1;
    for (int i = 0; i < PUMPFIX_MAX_STEPS && n > 0; i++) {
        xb_journal_list_t l = journal();
        n = l.count;
        xb_journal_list_free(&l);
        if (n > 0)
            pumpfix_step(&f);
    }
    CU_ASSERT_EQUAL(n, 0);
}

/* The redelivered message's envelope: the same id, the mark. */
static void expect_redelivered(xb_frames_t *d, const char *msg_id, int n)
{
    char env[4096], want[96];
    pumpfix_str(d, 3, env, sizeof env);
    CU_ASSERT_PTR_NOT_NULL(strstr(env, msg_id));
    snprintf(want, sizeof want, "<x:redelivered>%d</x:redelivered>", n);
    CU_ASSERT_PTR_NOT_NULL(strstr(env, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(env, "<ping>1</ping>"));
}

static void test_redelivered_on_start(void)
{
    CU_ASSERT_EQUAL_FATAL(xbt_tmpdir_make(dir, sizeof dir, "redeliver"), 0);
    char msg_id[64], id[32];
    crash_with_message_in_hand(msg_id, sizeof msg_id);
    open_pump(3);
    xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    expect_redelivered(d, msg_id, 1);
    /* Marked in the journal: count 1. */
    xb_journal_list_t l = journal();
    CU_ASSERT_EQUAL(l.count, 1);
    xbp_jentry_t e;
    if (l.count == 1 && xbp_jentry_decode(l.items[0].data.data, l.items[0].data.len, &e) == 0) {
        CU_ASSERT_EQUAL(e.count, 1);
        CU_ASSERT_STRING_EQUAL(e.msg_id, msg_id);
        xbp_jentry_clear(&e);
    }
    xb_journal_list_free(&l);
    /* Answered: the entry goes. */
    pumpfix_send(echo, XB_CMD_DONE, pumpfix_str(d, 2, id, sizeof id), NULL);
    expect_journal_emptied();
    xb_frames_destroy(&d);
    pumpfix_close(&f);
    xbt_rmtree(dir);
}

/* Past max_redeliveries the entry is a dead letter and not delivered. */
static void test_dead_letter(void)
{
    CU_ASSERT_EQUAL_FATAL(xbt_tmpdir_make(dir, sizeof dir, "redeliver"), 0);
    char msg_id[64];
    crash_with_message_in_hand(msg_id, sizeof msg_id);
    open_pump(0);
    CU_ASSERT_TRUE(pumpfix_quiet(&f, echo, 5));
    xb_journal_list_t l = journal();
    CU_ASSERT_EQUAL(l.count, 1);
    char want[96];
    snprintf(want, sizeof want, "%s%s", XBP_DEAD_PREFIX, msg_id);
    xbp_jentry_t e;
    if (l.count == 1) {
        CU_ASSERT_STRING_EQUAL(l.items[0].id, want);
        CU_ASSERT_EQUAL(xbp_jentry_decode(l.items[0].data.data, l.items[0].data.len, &e), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.last_error, "max_redeliveries"));
        xbp_jentry_clear(&e);
    }
    xb_journal_list_free(&l);
    pumpfix_close(&f);
    xbt_rmtree(dir);
}

#define CLIENT_ID "c-test-client"

/* An answer sent to a client that acknowledges, not acknowledged yet when
 * the pump crashes: the next pump sends it again, marked, once the client
 * (the same routing id) is back, and keeps it until the ACK. */
static void test_answer_sent_again(void)
{
    CU_ASSERT_EQUAL_FATAL(xbt_tmpdir_make(dir, sizeof dir, "redeliver"), 0);
    open_pump(3);
    void *me = pumpfix_dealer_id(&f, CLIENT_ID);
    CU_ASSERT_EQUAL(pumpfix_send(me, XB_CMD_SEND, "r1", "<ping>1</ping>", "", "", "ack", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, me, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    char id[32], answer[64];
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && d);
    pumpfix_send(echo, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                 "<pong>1</pong>", NULL);
    xb_frames_t *r = pumpfix_expect(&f, me, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    pumpfix_str(r, 2, answer, sizeof answer);
    for (int i = 0; i < 5; i++) /* echo's entry leaves */
        pumpfix_step(&f);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    xb_frames_destroy(&r);
    crash_now();

    open_pump(3);
    for (int i = 0; i < 20; i++) /* the client is not back yet: the answer waits */
        pumpfix_step(&f);
    CU_ASSERT_EQUAL(f.pump->client_held, 1);
    me = pumpfix_dealer_id(&f, CLIENT_ID);
    r = pumpfix_expect(&f, me, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    char env[4096];
    pumpfix_str(r, 3, env, sizeof env);
    CU_ASSERT_TRUE(xb_frames_eq(r, 2, answer));
    CU_ASSERT_PTR_NOT_NULL(strstr(env, "<pong>1</pong>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(env, "<x:redelivered>1</x:redelivered>"));
    xb_journal_list_t l = journal();
    CU_ASSERT_EQUAL(l.count, 1);
    xb_journal_list_free(&l);
    pumpfix_send(me, XB_CMD_ACK, answer, NULL);
    expect_journal_emptied();
    xb_frames_destroy(&r);
    pumpfix_close(&f);
    xbt_rmtree(dir);
}

/* A message delivered again that fails: the SystemError its sender gets
 * carries the mark too (one may have gone out before the crash). */
static void test_failure_of_redelivered_is_marked(void)
{
    CU_ASSERT_EQUAL_FATAL(xbt_tmpdir_make(dir, sizeof dir, "redeliver"), 0);
    open_pump(3);
    void *me = pumpfix_dealer_id(&f, CLIENT_ID);
    CU_ASSERT_EQUAL(pumpfix_send(me, XB_CMD_SEND, "r1", "<ping>1</ping>", "", "", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, me, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && d);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    crash_now();
    open_pump(3);
    me = pumpfix_dealer_id(&f, CLIENT_ID);
    d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char id[32], code[32], env[4096];
    pumpfix_send(echo, XB_CMD_FAILED, pumpfix_str(d, 2, id, sizeof id), "boom", NULL);
    xb_frames_t *e = pumpfix_expect(&f, me, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(e, 3, code, sizeof code), "crash");
    /* a SystemError envelope the pump serialized: the mark declares x: */
    pumpfix_str(e, 3, env, sizeof env);
    CU_ASSERT_PTR_NOT_NULL(strstr(env, "<x:redelivered xmlns:x=\"urn:xmlbus:meta:v1\">1<"));
    xb_frames_destroy(&e);
    xb_frames_destroy(&d);
    pumpfix_close(&f);
    xbt_rmtree(dir);
}

static const xbt_test_t redeliver_tests[] = {
    {"a message in hand at a crash is delivered again, marked", test_redelivered_on_start},
    {"past max_redeliveries: a dead letter", test_dead_letter},
    {"an answer not acknowledged at a crash is sent again, marked", test_answer_sent_again},
    {"the failure of a message delivered again is marked", test_failure_of_redelivered_is_marked},
    {NULL, NULL},
};

XBT_SUITES({"redeliver", NULL, NULL, NULL, NULL, redeliver_tests});
