/* The pump's group commit (pump/commit.c): the slots of every message that
 * arrives in one loop turn are written in one backend batch, one message's
 * refused slot is still only its own failure, and every accepted message
 * ends in exactly one answer.
 *
 * An in-process pump driven one turn at a time: the test queues a burst in
 * the pump's socket, then runs one turn. The same tests run on the memory
 * backend and on a real LMDB environment (one write transaction a turn). */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pump_internal.h"
#include "pumpfix.h"
#include "xbt_main.h"
#include "xbt_tmp.h"

#define YAML                               \
    "limits:\n  max_payload_bytes: 1KiB\n" \
    "listeners:\n"                         \
    "  - name: echo\n    payload: ping\n    credit: 100\n"

#define BURST 100

static pumpfix_t f;
static void *echo, *client;
static char *dir; /* the LMDB suite's folder */

static void open_with(const char *backend_yaml)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "%s%s", backend_yaml, YAML);
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, yaml), 0);
    echo = pumpfix_listener(&f, "echo", 100, false, false);
    client = pumpfix_dealer(&f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(echo && client);
    /* one message first: the client's connection is up before a burst */
    pumpfix_send(client, XB_CMD_SEND, "warm", "<ping/>", "", "", NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
    char id[32];
    pumpfix_send(echo, XB_CMD_DONE, pumpfix_str(d, 2, id, sizeof id), NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m && d);
    xb_frames_destroy(&m);
    xb_frames_destroy(&d);
    pumpfix_step(&f);
}

static void setup(void)
{
    open_with("");
}

static void setup_lmdb(void)
{
    dir = xbt_tmpdir("commit");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char yaml[512];
    snprintf(yaml, sizeof yaml, "backend:\n  type: manager\n  path: %s/t.lmdb\n", dir);
    open_with(yaml);
}

static void teardown(void)
{
    pumpfix_close(&f);
    if (dir)
        xbt_rmtree(dir);
    free(dir);
    dir = NULL;
}

/* BURST SENDs waiting in the socket are one turn: one backend batch of
 * BURST slots. Each is accepted, delivered, and its respond reaches the
 * client: exactly one answer per accepted message. */
static void test_burst_is_one_batch(void)
{
    uint64_t batches = f.pump->slot_batches, slots = f.pump->batched_slots;
    char req[16], body[64];
    for (int i = 0; i < BURST; i++) {
        snprintf(req, sizeof req, "r%d", i);
        snprintf(body, sizeof body, "<ping>%d</ping>", i);
        CU_ASSERT_EQUAL(pumpfix_send(client, XB_CMD_SEND, req, body, "", "", NULL), 0);
    }
    CU_ASSERT_EQUAL(pumpfix_step(&f), 1);
    CU_ASSERT_EQUAL(f.pump->slot_batches - batches, 1);
    CU_ASSERT_EQUAL(f.pump->batched_slots - slots, BURST);

    /* verdicts in the order the messages arrived */
    for (int i = 0; i < BURST; i++) {
        xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
        snprintf(req, sizeof req, "r%d", i);
        CU_ASSERT(m && xb_frames_eq(m, 2, req));
        xb_frames_destroy(&m);
    }
    /* the listener answers each; the client gets each answer once */
    for (int i = 0; i < BURST; i++) {
        xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
        char id[32];
        pumpfix_send(echo, XB_CMD_REPLY, pumpfix_str(d, 2, id, sizeof id), "1", "^", "<pong/>",
                     NULL);
        xb_frames_destroy(&d);
    }
    int answers = 0;
    for (xb_frames_t *m; answers <= BURST && (m = pumpfix_recv(&f, client)); answers++) {
        CU_ASSERT(xb_frames_eq(m, 1, XB_CMD_DELIVER));
        xb_frames_destroy(&m);
    }
    CU_ASSERT_EQUAL(answers, BURST);
    CU_ASSERT(pumpfix_quiet(&f, echo, 3));
    CU_ASSERT_EQUAL(f.pump->in_flight, 0);
}

/* One message of a turn whose slot is refused (bigger than
 * max_payload_bytes) is refused alone: the others of its turn are stored on
 * a second try and accepted. */
static void test_refused_slot_is_only_its_own(void)
{
    char big[2048];
    memcpy(big, "<ping>", 6);
    memset(big + 6, 'x', 1500);
    memcpy(big + 1506, "</ping>", 8);
    char req[16];
    for (int i = 0; i < 7; i++) {
        snprintf(req, sizeof req, "r%d", i);
        pumpfix_send(client, XB_CMD_SEND, req, i == 3 ? big : "<ping>small</ping>", "", "", NULL);
    }
    CU_ASSERT_EQUAL(pumpfix_step(&f), 1);
    int accepted = 0;
    for (int i = 0; i < 7; i++) {
        xb_frames_t *m = pumpfix_recv(&f, client);
        snprintf(req, sizeof req, "r%d", i);
        CU_ASSERT(m && xb_frames_eq(m, 2, req));
        if (i == 3) {
            char code[32];
            CU_ASSERT(m && xb_frames_eq(m, 1, XB_CMD_REJECTED));
            CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, code, sizeof code), "limit");
        } else {
            accepted += m && xb_frames_eq(m, 1, XB_CMD_ACCEPTED);
        }
        xb_frames_destroy(&m);
    }
    CU_ASSERT_EQUAL(accepted, 6);
    for (int i = 0; i < 6; i++) {
        xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
        CU_ASSERT_PTR_NOT_NULL(d);
        xb_frames_destroy(&d);
    }
    CU_ASSERT(pumpfix_quiet(&f, echo, 3));
}

/* POSTs of one turn: a refusal is answered at once, acceptances are counted
 * and told in one POSTED at the next tick. */
static void test_posts_are_counted(void)
{
    for (int i = 0; i < 5; i++)
        pumpfix_send(client, XB_CMD_POST, "p", "<ping/>", "", "", NULL);
    pumpfix_send(client, XB_CMD_POST, "bad", "<ping/>", "nobody", "", NULL);
    CU_ASSERT_EQUAL(pumpfix_step(&f), 1);
    xb_frames_t *m = pumpfix_recv(&f, client);
    CU_ASSERT(m && xb_frames_eq(m, 1, XB_CMD_REJECTED) && xb_frames_eq(m, 2, "bad"));
    xb_frames_destroy(&m);
    CU_ASSERT(pumpfix_quiet(&f, client, 3)); /* no tick yet: the count waits */
    pumpfix_advance(&f, 100, 100, NULL);
    m = pumpfix_expect(&f, client, XB_CMD_POSTED);
    CU_ASSERT(m && xb_frames_eq(m, 2, "5"));
    xb_frames_destroy(&m);
    for (int i = 0; i < 5; i++) {
        xb_frames_t *d = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
        CU_ASSERT_PTR_NOT_NULL(d);
        xb_frames_destroy(&d);
    }
}

static const xbt_test_t commit_tests[] = {
    {"a burst is one batch", test_burst_is_one_batch},
    {"a refused slot is only its own", test_refused_slot_is_only_its_own},
    {"POSTs are counted", test_posts_are_counted},
    {NULL, NULL},
};

XBT_SUITES({"commit", NULL, NULL, setup, teardown, commit_tests},
           {"commit-lmdb", NULL, NULL, setup_lmdb, teardown, commit_tests});
