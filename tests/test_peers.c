/* Peers (pump/peers.c, pump/peertab.c) in an in-process pump driven one
 * turn at a time on a test clock: READY and WELCOME, liveness by moving the
 * clock, deliveries of a lost peer retried (pool) or failed, BYE. */
#include <CUnit/CUnit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pump_internal.h"
#include "pumpfix.h"
#include "xbt.h"
#include "xbt_main.h"
#include "xmlbus/uuid.h"

#define YAML                                                           \
    "process_pool:\n  heartbeat: 1\n  liveness: 3\n  max_retries: 1\n" \
    "listeners:\n"                                                     \
    "  - name: solo\n    payload: one\n"                               \
    "  - name: pool\n    payload: many\n    cpu_bound: true\n"         \
    "    workers: 2\n"

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

static void send_ok(const char *body)
{
    pumpfix_send(client, XB_CMD_SEND, "r", body, "", "", NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
}

/* The code of the next SystemError the client gets ("" if none). */
static char *client_error(char *code, size_t cap)
{
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    pumpfix_error_code(m, 3, code, cap);
    xb_frames_destroy(&m);
    return code;
}

static void test_ready_and_welcome(void)
{
    void *s = pumpfix_dealer(&f);
    pumpfix_send(s, XB_CMD_READY, "nobody", "listener", "0", "1", NULL);
    xb_frames_t *m = pumpfix_expect(&f, s, XB_CMD_REFUSED);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
    /* a malformed READY (credit 0) is answered ERROR READY by the codec */
    pumpfix_send(s, XB_CMD_READY, "solo", "listener", "0", "0", NULL);
    m = pumpfix_expect(&f, s, XB_CMD_ERROR);
    CU_ASSERT(m && xb_frames_eq(m, 2, XB_CMD_READY));
    xb_frames_destroy(&m);
    /* what an unregistered peer says is refused */
    pumpfix_send(s, XB_CMD_DONE, "1", NULL);
    m = pumpfix_expect(&f, s, XB_CMD_ERROR);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
    pumpfix_send(s, XB_CMD_READY, "solo", "listener", "0", "1", NULL);
    m = pumpfix_expect(&f, s, XB_CMD_WELCOME);
    char buf[64];
    CU_ASSERT_STRING_EQUAL(pumpfix_str(m, 2, buf, sizeof buf), "t");    /* organism */
    CU_ASSERT_STRING_EQUAL(pumpfix_str(m, 3, buf, sizeof buf), "1000"); /* heartbeat ms */
    CU_ASSERT_STRING_EQUAL(pumpfix_str(m, 4, buf, sizeof buf), "memory");
    xb_frames_destroy(&m);
    xbp_rid_t none = {.len = 1, .data = {'?'}};
    CU_ASSERT_PTR_NULL(xbp_peer_find(f.pump, &none));
    CU_ASSERT_EQUAL(f.pump->n_peers, 1);
    CU_ASSERT_EQUAL(f.pump->peers->state, XBP_PEER_IDLE);
    send_ok("<one/>");
    m = pumpfix_expect(&f, s, XB_CMD_DELIVER);
    CU_ASSERT_EQUAL(f.pump->peers->state, XBP_PEER_BUSY);
    pumpfix_send(s, XB_CMD_DONE, pumpfix_str(m, 2, buf, sizeof buf), NULL);
    xb_frames_destroy(&m);
    pumpfix_quiet(&f, s, 2);
    CU_ASSERT_EQUAL(f.pump->peers->state, XBP_PEER_IDLE);
}

/* A peer that promised heartbeats while busy and goes silent past
 * liveness (3 intervals) is declared dead: its delivery fails with crash. */
static void test_silent_peer_fails_its_delivery(void)
{
    void *s = pumpfix_listener(&f, "solo", 1, false, true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    send_ok("<one/>");
    xb_frames_t *m = pumpfix_expect(&f, s, XB_CMD_DELIVER);
    xb_frames_destroy(&m);
    pumpfix_advance(&f, 2900, 500, NULL);
    CU_ASSERT(pumpfix_quiet(&f, client, 3)); /* not yet */
    CU_ASSERT_EQUAL(f.pump->n_peers, 1);
    pumpfix_advance(&f, 500, 500, NULL);
    char code[32];
    CU_ASSERT_STRING_EQUAL(client_error(code, sizeof code), "crash");
    CU_ASSERT_EQUAL(f.pump->n_peers, 0);
    CU_ASSERT_EQUAL(f.pump->in_flight, 0);
}

/* In a pool, the delivery of a worker declared dead goes to another worker
 * (max_retries 1); the sender hears nothing but the answer. */
static void test_lost_worker_delivery_is_retried(void)
{
    void *w1 = pumpfix_listener(&f, "pool", 1, true, true);
    void *w2 = pumpfix_listener(&f, "pool", 1, true, true);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w1 && w2);
    send_ok("<many/>");
    /* whichever got it goes silent; the other keeps beating */
    xb_frames_t *m = pumpfix_recv(&f, w1);
    void *holder = w1, *other = w2;
    if (!m) {
        m = pumpfix_recv(&f, w2);
        holder = w2;
        other = w1;
    }
    CU_ASSERT_FATAL(m && xb_frames_eq(m, 1, XB_CMD_DELIVER));
    xb_frames_destroy(&m);
    void *beat[] = {other, NULL};
    pumpfix_advance(&f, 3500, 500, beat);
    m = pumpfix_expect(&f, other, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char id[32];
    pumpfix_send(other, XB_CMD_REPLY, pumpfix_str(m, 2, id, sizeof id), "1", "^", "<done/>", NULL);
    xb_frames_destroy(&m);
    m = pumpfix_expect(&f, client, XB_CMD_DELIVER);
    char *env = m ? xb_frames_strdup(m, 3) : NULL;
    CU_ASSERT(env && strstr(env, "<done/>")); /* the answer, not an error */
    free(env);
    xb_frames_destroy(&m);
    CU_ASSERT(pumpfix_quiet(&f, client, 3));
    CU_ASSERT(pumpfix_quiet(&f, holder, 1));
    CU_ASSERT_EQUAL(f.pump->n_peers, 1);
}

/* BYE with a delivery in hand: the peer leaves, its sender hears crash. */
static void test_bye(void)
{
    void *s = pumpfix_listener(&f, "solo", 1, false, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    send_ok("<one/>");
    xb_frames_t *m = pumpfix_expect(&f, s, XB_CMD_DELIVER);
    xb_frames_destroy(&m);
    pumpfix_send(s, XB_CMD_BYE, NULL);
    char code[32];
    CU_ASSERT_STRING_EQUAL(client_error(code, sizeof code), "crash");
    CU_ASSERT_EQUAL(f.pump->n_peers, 0);
    /* what it says after BYE is from a stranger */
    pumpfix_send(s, XB_CMD_HEARTBEAT, NULL);
    m = pumpfix_expect(&f, s, XB_CMD_ERROR);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
}

/* A peer whose socket is gone is found unreachable when a delivery is
 * handed to it: the message goes back to the queue, the peer is settled at
 * the end of the turn, and the next process gets the message.
 *
 * ZeroMQ tears a closed socket's pipe down in its own thread: the test
 * waits, a bounded number of heartbeat intervals, until a heartbeat to the
 * peer fails (liveness is set so high that silence does not end it). */
static void test_unreachable_peer(void)
{
    pumpfix_close(&f);
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, "process_pool:\n  heartbeat: 1\n  liveness: 1000\n"
                                           "listeners:\n  - name: solo\n    payload: one\n"),
                          0);
    client = pumpfix_dealer(&f);
    void *s = pumpfix_listener(&f, "solo", 1, false, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s && client);
    pumpfix_hangup(&f, s);
    /* a heartbeat that cannot go marks the peer gone; the turn settles it */
    for (int i = 0; i < 100 && f.pump->n_peers > 0; i++)
        pumpfix_advance(&f, 1000, 500, NULL);
    CU_ASSERT_EQUAL_FATAL(f.pump->n_peers, 0);
    send_ok("<one/>");
    CU_ASSERT_PTR_NULL(f.pump->gone); /* settled */
    CU_ASSERT_EQUAL(xbp_lqueue_len(xbp_pump_listener(f.pump, "solo")->queue), 1);
    void *again = pumpfix_listener(&f, "solo", 1, false, false);
    xb_frames_t *m = pumpfix_expect(&f, again, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
}

/* A process of the pump's own (the fixture starts none: the test forks a
 * stand-in and gives the pump its pid and a token, as spawning it would),
 * registered as `kid` from sock with that token. */
#define KID_YAML                                        \
    "process_pool:\n  heartbeat: 1\n  liveness: 1000\n" \
    "listeners:\n  - name: kid\n    payload: one\n    command: [none]\n"

static pid_t kid_start(void)
{
    pumpfix_close(&f);
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, KID_YAML), 0);
    client = pumpfix_dealer(&f);
    CU_ASSERT_FATAL(client && f.pump->n_children == 1);
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    CU_ASSERT_FATAL(pid > 0);
    f.pump->children[0].pid = pid;
    xb_uuid_new(f.pump->children[0].token);
    return pid;
}

static void *kid_ready(pid_t pid)
{
    void *s = pumpfix_dealer(&f);
    char spid[16];
    snprintf(spid, sizeof spid, "%d", (int)pid);
    pumpfix_send(s, XB_CMD_READY, "kid", "listener", spid, "1", "", f.pump->children[0].token,
                 NULL);
    xb_frames_t *m = pumpfix_expect(&f, s, XB_CMD_WELCOME);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
    return s;
}

/* Ends the stand-in before the pump stops (which would wait for it). */
static void kid_end(pid_t pid)
{
    f.pump->children[0].pid = 0;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A process that registers again on a new connection (it reconnected after
 * the pump was paused) with its token replaces its stale peer: one peer,
 * the child's, and
 * the next message goes to the new connection. What the stale one held is
 * settled by the pool rules (a plain listener: `crash`). */
static void test_stale_routing_id_replaced(void)
{
    pid_t pid = kid_start();
    void *old = kid_ready(pid);
    send_ok("<one/>");
    xb_frames_t *m = pumpfix_expect(&f, old, XB_CMD_DELIVER);
    xb_frames_destroy(&m);
    void *fresh = kid_ready(pid);
    char code[32];
    CU_ASSERT_STRING_EQUAL(client_error(code, sizeof code), "crash");
    CU_ASSERT(pumpfix_quiet(&f, client, 3));
    CU_ASSERT_EQUAL(f.pump->n_peers, 1);
    CU_ASSERT_PTR_NOT_NULL(f.pump->children[0].peer);
    CU_ASSERT_PTR_EQUAL(f.pump->children[0].peer, f.pump->peers);
    send_ok("<one/>");
    m = pumpfix_expect(&f, fresh, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
    CU_ASSERT(pumpfix_quiet(&f, old, 2));
    XBT_WAIT_UNTIL(!xbt_pid_alive(pid), 300);
    CU_ASSERT(xbt_pid_alive(pid));
    kid_end(pid);
}

/* Two workers started elsewhere that claim one pid are two peers of the
 * pool: a READY never displaces a peer for a pid it claims. */
static void test_same_pid_elsewhere_is_two_peers(void)
{
    void *s1 = pumpfix_dealer(&f), *s2 = pumpfix_dealer(&f);
    pumpfix_send(s1, XB_CMD_READY, "pool", "worker", "4242", "1", NULL);
    xb_frames_t *m = pumpfix_expect(&f, s1, XB_CMD_WELCOME);
    xb_frames_destroy(&m);
    pumpfix_send(s2, XB_CMD_READY, "pool", "worker", "4242", "1", NULL);
    m = pumpfix_expect(&f, s2, XB_CMD_WELCOME);
    xb_frames_destroy(&m);
    CU_ASSERT_EQUAL(f.pump->n_peers, 2);
}

/* A child's connection that is gone (a send to its routing id fails) ends
 * the peer, not the process: it is not killed, and may register again. */
static void test_unreachable_child_is_not_killed(void)
{
    pid_t pid = kid_start();
    void *s = kid_ready(pid);
    pumpfix_hangup(&f, s);
    for (int i = 0; i < 100 && f.pump->n_peers > 0; i++)
        pumpfix_advance(&f, 1000, 500, NULL);
    CU_ASSERT_EQUAL_FATAL(f.pump->n_peers, 0);
    CU_ASSERT_PTR_NULL(f.pump->children[0].peer);
    send_ok("<one/>");
    void *again = kid_ready(pid);
    xb_frames_t *m = pumpfix_expect(&f, again, XB_CMD_DELIVER);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
    /* not killed: a SIGKILL would have ended it by now (a bounded look) */
    XBT_WAIT_UNTIL(!xbt_pid_alive(pid), 300);
    CU_ASSERT(xbt_pid_alive(pid));
    kid_end(pid);
}

static const xbt_test_t peers_tests[] = {
    {"READY and WELCOME", test_ready_and_welcome},
    {"a silent peer fails its delivery", test_silent_peer_fails_its_delivery},
    {"a lost worker's delivery is retried", test_lost_worker_delivery_is_retried},
    {"BYE", test_bye},
    {"an unreachable peer", test_unreachable_peer},
    {"a stale routing id is replaced", test_stale_routing_id_replaced},
    {"the same pid elsewhere is two peers", test_same_pid_elsewhere_is_two_peers},
    {"an unreachable child is not killed", test_unreachable_child_is_not_killed},
    {NULL, NULL},
};

XBT_SUITES({"peers", NULL, NULL, setup, teardown, peers_tests});
