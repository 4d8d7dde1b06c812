/* The pump's group commit (pump/commit.c): the slots of every message that
 * arrives in one loop turn are written in one backend batch, and one
 * message's refused slot is still only its own failure.
 *
 * A real `xmlbus run` process and a real echo listener. To make many
 * messages arrive in one turn the test stops the pump (SIGSTOP), posts a
 * burst with xb_client_post (it waits in the sockets), and lets it go. */
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xbt.h"
#include "xmlbus/client.h"

#define ROUTE_YAML                                                                        \
    "organism:\n  name: t\n  endpoint: @ENDPOINT@\n"                                      \
    "limits:\n  max_payload_bytes: 1KiB\n"                                                \
    "process_pool:\n  heartbeat: 5\n"                                                     \
    "listeners:\n"                                                                        \
    "  - name: echo\n    payload: ping\n    credit: 100\n"                                \
    "    command: [@TESTBIN@/xbtest-behave, echo]\n"

static xbt_pump_t pump;
static bool pump_up;

static int start_pump(void)
{
    pump_up = xbt_pump_start(&pump, ROUTE_YAML) == 0;
    return 0;
}

static int stop_pump(void)
{
    if (CU_get_number_of_failures() > 0 && pump.pid > 0)
        xbt_pump_dump_log(&pump);
    if (pump_up)
        xbt_pump_stop(&pump, SIGTERM, 15);
    xbt_rmtree(pump.dir);
    return 0;
}

/* The pid of the pump's (only) listener process. */
static pid_t echo_pid(void)
{
    pid_t kids[4];
    return xbt_children(pump.pid, kids, 4) == 1 ? kids[0] : -1;
}

/* Waits until every posted message has its verdict. No answer can arrive
 * meanwhile (the listener is stopped), so nothing is taken from the queue. */
static void wait_verdicts(xb_client_t *c, unsigned long n)
{
    double deadline = xbt_now() + 10;
    unsigned long accepted = 0, rejected = 0;
    while (xbt_now() < deadline) {
        xb_client_post_counts(c, NULL, &accepted, &rejected);
        if (accepted + rejected >= n)
            return;
        char *env = NULL;
        size_t len = 0;
        xb_error_t err;
        if (xb_client_recv(c, 50, &env, &len, &err) == 0) {
            CU_FAIL("an answer arrived while the listener was stopped");
            free(env);
        }
    }
    CU_FAIL("not every message got its verdict");
}

/* 100 SENDs that arrive together are recorded in a handful of batches,
 * each slot exactly once, and every one is answered. */
static void test_burst_is_few_batches(void)
{
    CU_ASSERT_FATAL(pump_up);
    xb_client_t *c = xbt_client(&pump);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    pid_t echo = echo_pid();
    CU_ASSERT_FATAL(echo > 0);
    long batches0 = xbt_pump_stat(c, "slot-batches"), slots0 = xbt_pump_stat(c, "batched-slots");
    CU_ASSERT_FATAL(batches0 >= 0 && slots0 >= 0);

    const int n = 100;
    CU_ASSERT_EQUAL_FATAL(kill(echo, SIGSTOP), 0); /* no replies in between */
    CU_ASSERT_EQUAL_FATAL(kill(pump.pid, SIGSTOP), 0);
    xb_error_t err;
    char msg[64];
    for (int i = 0; i < n; i++) {
        int len = snprintf(msg, sizeof msg, "<ping>%d</ping>", i);
        CU_ASSERT_EQUAL(xb_client_post(c, msg, (size_t)len, "echo", NULL, 5000, &err), 0);
    }
    usleep(100 * 1000); /* let the burst reach the pump's socket */
    CU_ASSERT_EQUAL_FATAL(kill(pump.pid, SIGCONT), 0);
    wait_verdicts(c, (unsigned long)n);
    long batches = xbt_pump_stat(c, "slot-batches") - batches0;
    long slots = xbt_pump_stat(c, "batched-slots") - slots0;
    CU_ASSERT_EQUAL(slots, n);   /* one slot per SEND, none twice */
    CU_ASSERT(batches >= 1 && batches <= 10);
    CU_ASSERT_EQUAL(kill(echo, SIGCONT), 0);

    int refusals = 0;
    CU_ASSERT_EQUAL(xbt_collect(c, n, 10000, &refusals, NULL), n);
    CU_ASSERT_EQUAL(refusals, 0);
    xb_client_destroy(&c);
}

/* One message of a burst whose slot is refused (bigger than
 * max_payload_bytes) is refused alone: the others of its turn, written in
 * the same batch first, are stored on a second try and answered. */
static void test_refused_slot_is_only_its_own(void)
{
    CU_ASSERT_FATAL(pump_up);
    xb_client_t *c = xbt_client(&pump);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char big[2048];
    memcpy(big, "<ping>", 6);
    memset(big + 6, 'x', 1500);
    memcpy(big + 1506, "</ping>", 8);

    CU_ASSERT_EQUAL_FATAL(kill(pump.pid, SIGSTOP), 0);
    xb_error_t err;
    const char *small = "<ping>small</ping>";
    for (int i = 0; i < 7; i++) {
        const char *body = i == 3 ? big : small;
        CU_ASSERT_EQUAL(xb_client_post(c, body, strlen(body), "echo", NULL, 5000, &err), 0);
    }
    usleep(100 * 1000);
    CU_ASSERT_EQUAL_FATAL(kill(pump.pid, SIGCONT), 0);

    int refusals = 0;
    xb_code_t code = XB_OK;
    CU_ASSERT_EQUAL(xbt_collect(c, 7, 10000, &refusals, &code), 6);
    CU_ASSERT_EQUAL(refusals, 1);
    CU_ASSERT_EQUAL(code, XB_ERR_LIMIT);
    unsigned long accepted = 0, rejected = 0;
    xb_client_post_counts(c, NULL, &accepted, &rejected);
    CU_ASSERT_EQUAL(accepted, 6);
    CU_ASSERT_EQUAL(rejected, 1);
    xb_client_destroy(&c);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("commit: group commit", start_pump, stop_pump);
    if (!s || !CU_add_test(s, "a burst is a few batches", test_burst_is_few_batches) ||
        !CU_add_test(s, "a refused slot is only its own", test_refused_slot_is_only_its_own))
        return 2;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
