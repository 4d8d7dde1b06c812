/* Clients that do not read (pump/clients.c, docs/protocol.md "Backpressure")
 * in an in-process pump driven one turn at a time: their answers wait in
 * the pump instead of being dropped, over budget their SENDs are refused
 * with `limit`, twice over they get no answer, once they read everything
 * arrives exactly once; a client that takes nothing past
 * client_timeout_seconds, or that is gone, loses what waits, counted. */
#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "pump_internal.h"
#include "pumpfix.h"
#include "xbt_main.h"

#define YAML                         \
    "limits:\n"                      \
    "  client_timeout_seconds: 10\n" \
    "listeners:\n"                   \
    "  - name: echo\n    payload: ping\n    credit: 100\n"

/* More answers than ZeroMQ's queue to the client takes (XBP_ROUTER_HWM
 * plus the client's receive queue of 1): the rest must wait in the pump. */
#define POSTS (XBP_ROUTER_HWM + 200)

static pumpfix_t f;
static void *echo, *client;

/* A client whose own receive queue holds one message: the pump's queue to
 * it is full after XBP_ROUTER_HWM + 1 messages. */
static void *slow_client(void)
{
    void *s = zmq_socket(f.ctx, ZMQ_DEALER);
    int one = 1, linger = 0;
    if (!s || zmq_setsockopt(s, ZMQ_RCVHWM, &one, sizeof one) != 0 ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(s, f.endpoint) != 0)
        return NULL;
    f.sockets[f.n_sockets++] = s;
    return s;
}

static void setup(void)
{
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, YAML), 0);
    echo = pumpfix_listener(&f, "echo", 100, false, false);
    client = slow_client();
    CU_ASSERT_PTR_NOT_NULL_FATAL(echo && client);
}

static void teardown(void)
{
    pumpfix_close(&f);
}

/* The client posts n <ping/> and echo answers each with <pong/>; the client
 * reads nothing. Returns how many echo answered. */
static int post_and_answer(int n)
{
    char req[32];
    for (int i = 0; i < n; i++) {
        snprintf(req, sizeof req, "p%d", i);
        if (pumpfix_send(client, XB_CMD_POST, req, "<ping/>", "", "", NULL) != 0)
            return -1;
    }
    int answered = 0;
    while (answered < n) {
        xb_frames_t *m = pumpfix_expect(&f, echo, XB_CMD_DELIVER);
        if (!m)
            break;
        char id[32];
        pumpfix_str(m, 2, id, sizeof id);
        xb_frames_destroy(&m);
        pumpfix_send(echo, XB_CMD_REPLY, id, "1", "^", "<pong/>", NULL);
        answered++;
    }
    for (int i = 0; i < 4; i++) /* the last REPLYs routed */
        pumpfix_step(&f);
    return answered;
}

typedef struct {
    int delivers, rejected, posted, others;
    char **ids; /* message ids of the DELIVERs */
} inbox_t;

static void inbox_free(inbox_t *in)
{
    for (int i = 0; i < in->delivers; i++)
        free(in->ids[i]);
    free(in->ids);
    memset(in, 0, sizeof *in);
}

/* Reads what reaches the client until `quiet` turns bring nothing. */
static void read_all(inbox_t *in, int quiet)
{
    memset(in, 0, sizeof *in);
    in->ids = calloc(4 * POSTS, sizeof *in->ids);
    bool ok;
    for (int idle = 0; idle < quiet;) {
        xb_frames_t *m = xb_frames_recv(client, ZMQ_DONTWAIT);
        if (!m) {
            pumpfix_step(&f);
            idle++;
            continue;
        }
        idle = 0;
        if (xb_frames_eq(m, 1, XB_CMD_DELIVER) && in->delivers < 4 * POSTS)
            in->ids[in->delivers++] = xb_frames_strdup(m, 2);
        else if (xb_frames_eq(m, 1, XB_CMD_POSTED))
            in->posted += (int)xb_frames_long(m, 2, &ok);
        else if (xb_frames_eq(m, 1, XB_CMD_REJECTED))
            in->rejected++;
        else
            in->others++;
        xb_frames_destroy(&m);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each id once. */
static bool all_distinct(inbox_t *in)
{
    qsort(in->ids, (size_t)in->delivers, sizeof *in->ids, cmp_str);
    for (int i = 1; i < in->delivers; i++)
        if (strcmp(in->ids[i - 1], in->ids[i]) == 0)
            return false;
    return true;
}

static void test_answers_wait_and_arrive_once(void)
{
    CU_ASSERT_EQUAL_FATAL(post_and_answer(POSTS), POSTS);
    xb_pump_t *p = f.pump;
    CU_ASSERT(p->client_held > 0); /* ZeroMQ took what it could, the rest waits */
    CU_ASSERT_EQUAL(p->undeliverable, 0);
    CU_ASSERT_EQUAL(p->client_expired, 0);
    inbox_t in;
    read_all(&in, 20);
    CU_ASSERT_EQUAL(in.delivers, POSTS);
    CU_ASSERT_EQUAL(in.posted, POSTS);
    CU_ASSERT_EQUAL(in.rejected, 0);
    CU_ASSERT_EQUAL(in.others, 0);
    CU_ASSERT(all_distinct(&in));
    inbox_free(&in);
    CU_ASSERT_EQUAL(p->client_held, 0);
    CU_ASSERT_EQUAL(p->client_held_bytes, 0);
    CU_ASSERT_FALSE(xbp_clients_waiting(p));
    CU_ASSERT_EQUAL(p->to_clients, POSTS);
}

static void test_over_budget_refused_then_dropped(void)
{
    CU_ASSERT_EQUAL_FATAL(post_and_answer(POSTS), POSTS);
    xb_pump_t *p = f.pump;
    long held = (long)p->client_held;
    CU_ASSERT_FATAL(held > 4);
    uint64_t limits = p->errors[XB_ERR_LIMIT];
    /* at its budget: refused with limit, the refusal waits behind the answers */
    p->cfg->limits.client_queue_messages = held;
    pumpfix_send(client, XB_CMD_SEND, "s1", "<ping/>", "", "", NULL);
    pumpfix_step(&f);
    CU_ASSERT_EQUAL(p->errors[XB_ERR_LIMIT], limits + 1);
    CU_ASSERT_TRUE(pumpfix_quiet(&f, echo, 3)); /* not routed */
    /* twice over its budget: no answer at all, counted */
    p->cfg->limits.client_queue_messages = held / 2;
    pumpfix_send(client, XB_CMD_POST, "p-x", "<ping/>", "", "", NULL);
    pumpfix_step(&f);
    CU_ASSERT_EQUAL(p->client_unanswered, 1);
    CU_ASSERT_EQUAL(p->errors[XB_ERR_LIMIT], limits + 1);
    inbox_t in;
    read_all(&in, 20);
    CU_ASSERT_EQUAL(in.delivers, POSTS); /* no answer lost */
    CU_ASSERT_EQUAL(in.posted, POSTS);
    CU_ASSERT_EQUAL(in.rejected, 1);
    inbox_free(&in);
    /* it read: it may send again */
    p->cfg->limits.client_queue_messages = 10000;
    pumpfix_send(client, XB_CMD_SEND, "s2", "<ping/>", "", "", NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_ACCEPTED);
    CU_ASSERT_PTR_NOT_NULL(m);
    xb_frames_destroy(&m);
}

static void test_client_away_past_timeout(void)
{
    CU_ASSERT_EQUAL_FATAL(post_and_answer(POSTS), POSTS);
    xb_pump_t *p = f.pump;
    uint64_t held = p->client_held;
    CU_ASSERT_FATAL(held > 0);
    void *beat[] = {echo, NULL};
    pumpfix_advance(&f, 9000, 500, beat);
    CU_ASSERT_EQUAL(p->client_held, held); /* not yet */
    pumpfix_advance(&f, 1500, 500, beat);
    CU_ASSERT_EQUAL(p->client_held, 0);
    CU_ASSERT(p->client_expired > 0 && p->client_expired <= held);
    CU_ASSERT_EQUAL(p->undeliverable, 0);
    inbox_t in;
    read_all(&in, 20); /* what ZeroMQ held arrives, the rest was dropped */
    CU_ASSERT_EQUAL((uint64_t)in.delivers + p->client_expired, POSTS);
    inbox_free(&in);
}

static void test_client_gone(void)
{
    CU_ASSERT_EQUAL_FATAL(post_and_answer(POSTS), POSTS);
    xb_pump_t *p = f.pump;
    uint64_t held = p->client_held;
    CU_ASSERT_FATAL(held > 0);
    pumpfix_hangup(&f, client);
    /* ZeroMQ tells the ROUTER about the closed pipe in its own time: turns
     * that wait for events, a bounded number of them */
    for (int i = 0; i < 10 * PUMPFIX_MAX_STEPS && p->client_held; i++)
        xb_pump_step(p, PUMPFIX_POLL_MS);
    CU_ASSERT_EQUAL(p->client_held, 0);
    CU_ASSERT(p->undeliverable > 0 && p->undeliverable <= held);
    CU_ASSERT_EQUAL(p->client_expired, 0);
}

static const xbt_test_t clients_tests[] = {
    {"answers wait for a client that does not read, then arrive once",
     test_answers_wait_and_arrive_once},
    {"over budget: refused with limit, twice over: dropped", test_over_budget_refused_then_dropped},
    {"a client away past client_timeout_seconds loses what waits", test_client_away_past_timeout},
    {"a client that is gone loses what waits", test_client_gone},
    {NULL, NULL},
};

XBT_SUITES({"clients", NULL, NULL, setup, teardown, clients_tests});
