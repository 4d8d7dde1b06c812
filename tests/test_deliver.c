/* Deliveries (pump/deliver.c, pump/lqueue.c, the timeouts of pump/peers.c)
 * in an in-process pump driven one turn at a time on a test clock: credit,
 * the queue bound, timeouts found at the head of the in-hand list. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pump_internal.h"
#include "pumpfix.h"
#include "xbt_main.h"

#define YAML                                            \
    "limits:\n  queue_max_messages: 2\n"                \
    "listeners:\n"                                      \
    "  - name: work\n    payload: job\n    credit: 2\n" \
    "  - name: idle\n    payload: wait\n"               \
    "  - name: slow\n    payload: nap\n    credit: 3\n" \
    "    timeout_seconds: 2\n"

static pumpfix_t f;
static void *client;

static void setup(void)
{
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, YAML), 0);
    client = pumpfix_dealer(&f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(client);
}

static void teardown(void)
{
    pumpfix_close(&f);
}

static void send_ok(const char *req, const char *body)
{
    pumpfix_send(client, XB_CMD_SEND, req, body, "", "", NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
}

/* The delivery id of the next DELIVER on sock ("" if none). */
static char *next_delivery(void *sock, char *id, size_t cap)
{
    xb_frames_t *m = pumpfix_expect(&f, sock, XB_CMD_DELIVER);
    pumpfix_str(m, 2, id, cap);
    xb_frames_destroy(&m);
    return id;
}

/* The listener's credit (2) caps what a process holds, even when it offers
 * more; the rest waits until an answer gives credit back. */
static void test_credit(void)
{
    void *w = pumpfix_listener(&f, "work", 5, false, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    send_ok("a", "<job/>");
    send_ok("b", "<job/>");
    send_ok("c", "<job/>");
    char id1[32], id2[32], id3[32];
    CU_ASSERT_STRING_NOT_EQUAL(next_delivery(w, id1, sizeof id1), "");
    CU_ASSERT_STRING_NOT_EQUAL(next_delivery(w, id2, sizeof id2), "");
    CU_ASSERT(pumpfix_quiet(&f, w, 5));
    pumpfix_send(w, XB_CMD_DONE, id1, NULL);
    CU_ASSERT_STRING_NOT_EQUAL(next_delivery(w, id3, sizeof id3), "");
    pumpfix_send(w, XB_CMD_DONE, id2, NULL);
    pumpfix_send(w, XB_CMD_DONE, id3, NULL);
    CU_ASSERT(pumpfix_quiet(&f, w, 3));
    CU_ASSERT_EQUAL(f.pump->in_flight, 0);
}

/* A listener without a process queues up to queue_max_messages; one more
 * is accepted (its slot is written) and then fails with `limit`. */
static void test_queue_bound(void)
{
    send_ok("a", "<wait/>");
    send_ok("b", "<wait/>");
    pumpfix_send(client, XB_CMD_SEND, "c", "<wait/>", "", "", NULL);
    bool accepted = false;
    char code[32] = "";
    for (int i = 0; i < 2; i++) {
        xb_frames_t *m = pumpfix_recv(&f, client);
        if (m && xb_frames_eq(m, 1, XB_CMD_ACCEPTED))
            accepted = true;
        else if (m && xb_frames_eq(m, 1, XB_CMD_DELIVER))
            pumpfix_error_code(m, 3, code, sizeof code);
        xb_frames_destroy(&m);
    }
    CU_ASSERT(accepted);
    CU_ASSERT_STRING_EQUAL(code, "limit");
    CU_ASSERT_EQUAL(xbp_lqueue_len(xbp_pump_listener(f.pump, "idle")->queue), 2);
    /* a process arrives: the two waiting are handed over */
    void *w = pumpfix_listener(&f, "idle", 1, false, false);
    char id[32];
    CU_ASSERT_STRING_NOT_EQUAL(next_delivery(w, id, sizeof id), "");
    pumpfix_send(w, XB_CMD_DONE, id, NULL);
    CU_ASSERT_STRING_NOT_EQUAL(next_delivery(w, id, sizeof id), "");
    pumpfix_send(w, XB_CMD_DONE, id, NULL);
    CU_ASSERT(pumpfix_quiet(&f, client, 3));
}

/* Three deliveries handed out 0.5 s apart to a listener with a 2 s timeout
 * time out in that order, each when the clock passes its own deadline, and
 * each sender hears `timeout` once. A late answer is counted, not routed. */
static void test_timeouts_in_deadline_order(void)
{
    void *w = pumpfix_listener(&f, "slow", 3, false, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    void *beat[] = {w, NULL}; /* alive: only its handler is slow */
    char ids[3][32];
    for (int i = 0; i < 3; i++) {
        if (i > 0)
            pumpfix_advance(&f, 500, 100, beat);
        send_ok(i == 0 ? "a" : i == 1 ? "b" : "c", "<nap/>");
        next_delivery(w, ids[i], sizeof ids[i]);
    }
    pumpfix_advance(&f, 900, 100, beat); /* 1.9 s after the first */
    CU_ASSERT(pumpfix_quiet(&f, client, 3));
    for (int i = 0; i < 3; i++) {
        pumpfix_advance(&f, i == 0 ? 200 : 500, 100, beat);
        xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_DELIVER);
        char code[32];
        CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, code, sizeof code), "timeout");
        xb_frames_destroy(&m);
        CU_ASSERT(pumpfix_quiet(&f, client, 3)); /* one at a time */
    }
    CU_ASSERT_EQUAL(xbp_pump_listener(f.pump, "slow")->timeouts, 3);
    uint64_t late = f.pump->late;
    pumpfix_send(w, XB_CMD_DONE, ids[0], NULL);
    CU_ASSERT(pumpfix_quiet(&f, client, 3));
    CU_ASSERT_EQUAL(f.pump->late - late, 1);
    CU_ASSERT_EQUAL(f.pump->in_flight, 0);
}

/* The in-hand list is the timer: deliveries answered out of order leave
 * it at once, and what is left is still in deadline order. */
static void test_in_hand_is_the_timer(void)
{
    void *w = pumpfix_listener(&f, "slow", 3, false, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    lstn_t *l = xbp_pump_listener(f.pump, "slow");
    char ids[3][32];
    for (int i = 0; i < 3; i++) {
        pumpfix_advance(&f, 100, 100, NULL);
        send_ok("x", "<nap/>");
        next_delivery(w, ids[i], sizeof ids[i]);
    }
    CU_ASSERT_EQUAL(xbp_lqueue_len(l->in_hand), 3);
    pumpfix_send(w, XB_CMD_DONE, ids[1], NULL); /* the middle one */
    pumpfix_quiet(&f, w, 2);
    CU_ASSERT_EQUAL(xbp_lqueue_len(l->in_hand), 2);
    uint64_t prev = 0;
    for (xbp_lqlink_t *k = xbp_lqueue_peek(l->in_hand); k; k = xbp_lqueue_next(k)) {
        delivery_t *d = XBP_LQ_ITEM(k, delivery_t, qlink);
        CU_ASSERT(d->deadline_ms > prev);
        prev = d->deadline_ms;
    }
    CU_ASSERT_PTR_NULL(xbp_delivery_first_expired(f.pump, l));
    pumpfix_send(w, XB_CMD_DONE, ids[0], NULL);
    pumpfix_send(w, XB_CMD_DONE, ids[2], NULL);
    pumpfix_quiet(&f, w, 2);
    CU_ASSERT_EQUAL(xbp_lqueue_len(l->in_hand), 0);
}

/* xb_pump_stop: new SENDs are refused with `shutdown`, what is in hand may
 * finish until limits.shutdown_seconds (10 s) passes on the pump's clock;
 * then it fails with `shutdown` and xb_pump_step says the pump stopped. */
static void test_shutdown_deadline(void)
{
    void *w = pumpfix_listener(&f, "work", 1, false, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    send_ok("a", "<job/>");
    char id[32];
    next_delivery(w, id, sizeof id);
    xb_pump_stop(f.pump);
    CU_ASSERT_EQUAL(pumpfix_step(&f), 1); /* draining */
    pumpfix_send(client, XB_CMD_SEND, "late", "<job/>", "", "", NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_REJECTED);
    char code[32];
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, code, sizeof code), "shutdown");
    xb_frames_destroy(&m);
    void *beat[] = {w, NULL};
    pumpfix_advance(&f, 9900, 500, beat);
    CU_ASSERT_EQUAL(pumpfix_step(&f), 1); /* 9.9 s: still waiting for it */
    f.now += 200;
    CU_ASSERT_EQUAL(pumpfix_step(&f), 0); /* past the deadline: stopped */
    m = pumpfix_recv(&f, client);
    CU_ASSERT_STRING_EQUAL(pumpfix_error_code(m, 3, code, sizeof code), "shutdown");
    xb_frames_destroy(&m);
    CU_ASSERT_EQUAL(f.pump->in_flight, 0);
    CU_ASSERT_EQUAL(pumpfix_step(&f), 0);
}

static const xbt_test_t deliver_tests[] = {
    {"credit", test_credit},
    {"queue bound", test_queue_bound},
    {"timeouts in deadline order", test_timeouts_in_deadline_order},
    {"the in-hand list is the timer", test_in_hand_is_the_timer},
    {"shutdown deadline", test_shutdown_deadline},
    {NULL, NULL},
};

XBT_SUITES({"deliver", NULL, NULL, setup, teardown, deliver_tests});
