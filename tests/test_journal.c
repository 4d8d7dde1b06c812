/* The pump's journal (pump/journal.c): the bytes of an entry, and, on an
 * in-process pump over a real LMDB environment in a temp folder, that an
 * accepted message's entry is in the backend's journal while a listener
 * holds it and gone once it is answered; that an answer to a client that
 * acknowledges stays there until its ACK (pump/clients.c); and that a stop
 * past shutdown_seconds keeps what was in hand for the next start. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "pumpfix.h"
#include "xbt_main.h"
#include "xbt_tmp.h"

/* ---- entry bytes ------------------------------------------------------------ */

static void test_entry_round_trip(void)
{
    char chain[] = "system.t.console.echo", root[] = "root-1", ochain[] = "system.t.console";
    char env[] = {'<', 'a', '\0', '/', '>'};
    xbp_jentry_t e = {.chain = chain,
                      .depth = 3,
                      .error_payload = true,
                      .root = root,
                      .has_client = true,
                      .count = 2,
                      .envelope = env,
                      .len = sizeof env};
    strcpy(e.msg_id, "5b0d6a52-1f6e-4c4f-8f0e-3c2d1b0a9f8e");
    strcpy(e.listener, "echo");
    strcpy(e.thread, "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e");
    strcpy(e.client_hop, "console");
    strcpy(e.client_thread, "1f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e");
    strcpy(e.last_error, "crash: handler died");
    e.client.len = 5;
    memcpy(e.client.data, "\0ab\0c", 5);
    e.origin.is_client = true;
    e.origin.chain = ochain;
    strcpy(e.origin.name, "console");
    e.origin.rid = e.client;
    char *bytes = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(xbp_jentry_encode(&e, &bytes, &len), 0);
    xbp_jentry_t d;
    CU_ASSERT_EQUAL_FATAL(xbp_jentry_decode(bytes, len, &d), 0);
    CU_ASSERT_STRING_EQUAL(d.msg_id, e.msg_id);
    CU_ASSERT_STRING_EQUAL(d.listener, "echo");
    CU_ASSERT_STRING_EQUAL(d.chain, chain);
    CU_ASSERT_STRING_EQUAL(d.thread, e.thread);
    CU_ASSERT_EQUAL(d.depth, 3);
    CU_ASSERT_TRUE(d.error_payload && d.has_client && d.origin.is_client);
    CU_ASSERT_FALSE(d.origin.is_system);
    CU_ASSERT_STRING_EQUAL(d.root, root);
    CU_ASSERT(d.client.len == 5 && memcmp(d.client.data, "\0ab\0c", 5) == 0);
    CU_ASSERT(d.origin.rid.len == 5 && memcmp(d.origin.rid.data, "\0ab\0c", 5) == 0);
    CU_ASSERT_STRING_EQUAL(d.client_hop, "console");
    CU_ASSERT_STRING_EQUAL(d.client_thread, e.client_thread);
    CU_ASSERT_STRING_EQUAL(d.origin.name, "console");
    CU_ASSERT_STRING_EQUAL(d.origin.chain, ochain);
    CU_ASSERT_EQUAL(d.count, 2);
    CU_ASSERT_STRING_EQUAL(d.last_error, "crash: handler died");
    CU_ASSERT(d.len == sizeof env && memcmp(d.envelope, env, sizeof env) == 0);
    xbp_jentry_clear(&d);
    /* Every shorter prefix is refused, never read past. */
    for (size_t cut = 0; cut < len; cut++)
        CU_ASSERT_EQUAL(xbp_jentry_decode(bytes, cut, &d), -1);
    bytes[0] = 'Y';
    CU_ASSERT_EQUAL(xbp_jentry_decode(bytes, len, &d), -1);
    free(bytes);
}

/* ---- a pump over LMDB ----------------------------------------------------------- */

static char dir[256];
static pumpfix_t f;
static void *echo, *client;

static void open_pump(const char *journal)
{
    CU_ASSERT_EQUAL_FATAL(xbt_tmpdir_make(dir, sizeof dir, "journal"), 0);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "limits:\n  client_timeout_seconds: 10\n  shutdown_seconds: 2\n"
             "backend:\n  type: manager\n  path: %s\n  journal: %s\n"
             "listeners:\n  - name: echo\n    payload: ping\n    credit: 10\n",
             dir, journal);
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, yaml), 0);
    echo = pumpfix_listener(&f, "echo", 10, false, false);
    client = pumpfix_dealer(&f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(echo && client);
}

static void close_pump(void)
{
    pumpfix_close(&f);
    xbt_rmtree(dir);
}

static size_t journal_entries(const char *msg_id, xbp_jentry_t *out)
{
    xb_journal_list_t l = {0};
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_journal_list(f.pump->backend, &l, &err), 0);
    size_t n = l.count;
    for (size_t i = 0; out && i < l.count; i++)
        if (strcmp(l.items[i].id, msg_id) == 0)
            CU_ASSERT_EQUAL(xbp_jentry_decode(l.items[i].data.data, l.items[i].data.len, out), 0);
    xb_journal_list_free(&l);
    return n;
}

/* SEND, the listener holds the message; returns its DELIVER, msg_id filled. */
static xb_frames_t *send_one(char *msg_id, size_t cap)
{
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", "<ping>1</ping>", "", "", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(a);
    pumpfix_str(a, 4, msg_id, cap);
    xb_frames_destroy(&a);
    return d;
}

static void test_entry_while_in_hand(void)
{
    open_pump("true");
    char msg_id[64], id[32];
    xb_frames_t *d = send_one(msg_id, sizeof msg_id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    xbp_jentry_t e = {0};
    CU_ASSERT_EQUAL(journal_entries(msg_id, &e), 1);
    CU_ASSERT_STRING_EQUAL(e.msg_id, msg_id);
    CU_ASSERT_STRING_EQUAL(e.listener, "echo");
    CU_ASSERT_EQUAL(e.count, 0);
    CU_ASSERT_TRUE(e.has_client);
    CU_ASSERT_PTR_NOT_NULL(e.envelope && strstr(e.envelope, "<ping>1</ping>"));
    xbp_jentry_clear(&e);
    /* The answer recorded, the entry goes at the end of the turn. */
    pumpfix_send(echo, XB_CMD_DONE, pumpfix_str(d, 2, id, sizeof id), NULL);
    for (int i = 0; i < PUMPFIX_MAX_STEPS && journal_entries(msg_id, NULL) > 0; i++)
        pumpfix_step(&f);
    CU_ASSERT_EQUAL(journal_entries(msg_id, NULL), 0);
    xb_frames_destroy(&d);
    close_pump();
}

/* A REPLY to the client: the client's delivery is never journaled, and the
 * listener's entry goes once the reply is recorded. */
static void test_reply_removes_entry(void)
{
    open_pump("true");
    char msg_id[64], id[32];
    xb_frames_t *d = send_one(msg_id, sizeof msg_id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    pumpfix_send(echo, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                 "<pong/>", NULL);
    xb_frames_t *r = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(r);
    for (int i = 0; i < PUMPFIX_MAX_STEPS && journal_entries(msg_id, NULL) > 0; i++)
        pumpfix_step(&f);
    CU_ASSERT_EQUAL(journal_entries(msg_id, NULL), 0);
    xb_frames_destroy(&r);
    xb_frames_destroy(&d);
    close_pump();
}

static void test_journal_off(void)
{
    open_pump("false");
    char msg_id[64];
    xb_frames_t *d = send_one(msg_id, sizeof msg_id);
    CU_ASSERT_PTR_NOT_NULL(d);
    CU_ASSERT_EQUAL(journal_entries(msg_id, NULL), 0);
    xb_frames_destroy(&d);
    close_pump();
}

/* ---- answers to a client that acknowledges ---------------------------------- */

/* Steps until the journal holds n entries (or the bound): its count. */
static size_t settle_at(size_t n)
{
    for (int i = 0; i < PUMPFIX_MAX_STEPS && journal_entries("", NULL) != n; i++)
        pumpfix_step(&f);
    return journal_entries("", NULL);
}

/* SEND with the ack option, echo responds: the answer's DELIVER, its
 * message id in answer_id. */
static xb_frames_t *acked_round_trip(char *answer_id, size_t cap)
{
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", "<ping>1</ping>", "", "", "ack", NULL),
                    0);
    xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    char id[32];
    if (d)
        pumpfix_send(echo, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "1", XB_TARGET_RESPOND,
                     "<pong/>", NULL);
    xb_frames_t *r = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(a && d && r);
    pumpfix_str(r, 2, answer_id, cap);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    return r;
}

static void test_answer_kept_until_ack(void)
{
    open_pump("true");
    char answer[64];
    xb_frames_t *r = acked_round_trip(answer, sizeof answer);
    /* echo's entry went with its answer; the answer's stays */
    CU_ASSERT_EQUAL(settle_at(1), 1);
    xbp_jentry_t e = {0};
    journal_entries(answer, &e);
    CU_ASSERT_STRING_EQUAL(e.msg_id, answer);
    CU_ASSERT_TRUE(e.to_client && e.client_acks);
    CU_ASSERT_STRING_EQUAL(e.listener, "");
    CU_ASSERT_PTR_NOT_NULL(e.envelope && strstr(e.envelope, "<pong/>"));
    xbp_jentry_clear(&e);
    CU_ASSERT_EQUAL(f.pump->client_unacked, 1);
    /* Another client cannot acknowledge it: identity is the connection. */
    void *other = pumpfix_dealer(&f);
    CU_ASSERT_EQUAL(pumpfix_send(other, XB_CMD_ACK, answer, NULL), 0);
    for (int i = 0; i < 5; i++)
        pumpfix_step(&f);
    CU_ASSERT_EQUAL(journal_entries("", NULL), 1);
    /* Its own ACK removes it. */
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_ACK, "not-an-answer", answer, NULL), 0);
    CU_ASSERT_EQUAL(settle_at(0), 0);
    CU_ASSERT_EQUAL(f.pump->client_unacked, 0);
    xb_frames_destroy(&r);
    close_pump();
}

/* A client that never acknowledges: past client_timeout_seconds its
 * answers leave the journal, counted as expired. */
static void test_unacked_expire(void)
{
    open_pump("true");
    char answer[64];
    xb_frames_t *r = acked_round_trip(answer, sizeof answer);
    CU_ASSERT_EQUAL(settle_at(1), 1);
    pumpfix_advance(&f, 11000, 500, NULL);
    CU_ASSERT_EQUAL(settle_at(0), 0);
    CU_ASSERT_EQUAL(f.pump->client_expired, 1);
    CU_ASSERT_EQUAL(f.pump->client_unacked, 0);
    xb_frames_destroy(&r);
    close_pump();
}

/* Stopped past shutdown_seconds with a message in hand: the client hears
 * `shutdown`, and the entry stays for the next start. */
static void test_shutdown_keeps_entry(void)
{
    open_pump("true");
    char msg_id[64];
    xb_frames_t *d = send_one(msg_id, sizeof msg_id);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    xb_pump_stop(f.pump);
    pumpfix_step(&f);
    pumpfix_advance(&f, 2500, 500, NULL);
    xb_frames_t *err = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    char code[32];
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(err, 3, code, sizeof code), "shutdown");
    char env[4096];
    CU_ASSERT_PTR_NOT_NULL(strstr(pumpfix_str(err, 3, env, sizeof env), "delivered again"));
    CU_ASSERT_EQUAL(journal_entries(msg_id, NULL), 1);
    xb_frames_destroy(&err);
    xb_frames_destroy(&d);
    close_pump();
}

/* A pool worker leaves with the message in hand: it goes to the other
 * worker, and its entry notes why (a dead letter made of it would say). */
static void test_retry_notes_last_error(void)
{
    CU_ASSERT_EQUAL_FATAL(xbt_tmpdir_make(dir, sizeof dir, "journal"), 0);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "backend:\n  type: manager\n  path: %s\n"
             "listeners:\n  - name: pool\n    payload: ping\n    cpu_bound: true\n"
             "    workers: 2\n",
             dir);
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, yaml), 0);
    void *w1 = pumpfix_listener(&f, "pool", 1, true, false);
    client = pumpfix_dealer(&f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w1 && client);
    CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, "r1", "<ping>1</ping>", "", "", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, w1, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && d);
    char msg_id[64];
    pumpfix_str(a, 4, msg_id, sizeof msg_id);
    pumpfix_send(w1, XB_CMD_BYE, NULL);
    void *w2 = pumpfix_listener(&f, "pool", 1, true, false);
    xb_frames_t *again = w2 ? pumpfix_expect(&f, w2, XB_CMD_DELIVER) : NULL;
    CU_ASSERT_PTR_NOT_NULL(again);
    xbp_jentry_t e = {0};
    CU_ASSERT_EQUAL(journal_entries(msg_id, &e), 1);
    CU_ASSERT_STRING_EQUAL(e.msg_id, msg_id);
    CU_ASSERT_STRING_EQUAL(e.last_error, "listener left");
    xbp_jentry_clear(&e);
    xb_frames_destroy(&again);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    close_pump();
}

/* A client that acknowledges is waited for while it is away, even for an
 * answer that is not journaled (here: journal false; in the soak: the
 * store was down): held, not dropped, and delivered when it is back. */
static void test_acking_client_waited_for(void)
{
    open_pump("false");
    void *me = pumpfix_dealer_id(&f, "c-away");
    CU_ASSERT_EQUAL(pumpfix_send(me, XB_CMD_SEND, "r1", "<ping>1</ping>", "", "", "ack", NULL), 0);
    xb_frames_t *a = pumpfix_expect(&f, me, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a && d);
    pumpfix_hangup(&f, me);
    char id[32];
    pumpfix_str(d, 2, id, sizeof id);
    /* the pump sees the connection gone before the answer comes: ZeroMQ's
     * I/O thread tears the pipe down on its own time, which a loaded
     * machine delays; turns that may wait a little give it that time */
    for (int i = 0; i < 100; i++)
        xb_pump_step(f.pump, 5);
    pumpfix_send(echo, XB_CMD_REPLY, id, "1", XB_TARGET_RESPOND, "<pong/>", NULL);
    for (int i = 0; i < 20; i++)
        pumpfix_step(&f);
    CU_ASSERT_EQUAL(f.pump->undeliverable, 0);
    CU_ASSERT_EQUAL(f.pump->client_held, 1);
    me = pumpfix_dealer_id(&f, "c-away");
    xb_frames_t *r = pumpfix_expect(&f, me, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(r);
    xb_frames_destroy(&r);
    xb_frames_destroy(&a);
    xb_frames_destroy(&d);
    close_pump();
}

static const xbt_test_t journal_tests[] = {
    {"entry bytes round trip, truncation refused", test_entry_round_trip},
    {"an entry while in hand, gone after DONE", test_entry_while_in_hand},
    {"gone after a REPLY is recorded", test_reply_removes_entry},
    {"journal: false writes none", test_journal_off},
    {"an answer to an acknowledging client stays until its ACK", test_answer_kept_until_ack},
    {"unacknowledged past client_timeout_seconds: gone, counted", test_unacked_expire},
    {"a stop past shutdown_seconds keeps what was in hand", test_shutdown_keeps_entry},
    {"a retry notes the last error in the entry", test_retry_notes_last_error},
    {"an acknowledging client is waited for while away", test_acking_client_waited_for},
    {NULL, NULL},
};

XBT_SUITES({"journal", NULL, NULL, NULL, NULL, journal_tests});
