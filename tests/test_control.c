/* CONTROL requests and HISTORY (pump/control.c) on an in-process pump with
 * the memory backend: nothing answered in the pump's loop walks a whole
 * store or a whole huge thread. `threads` comes in bounded pages that
 * together list every thread once; a history longer than the bound is
 * refused with its length instead of being read. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pump_internal.h"
#include "pumpfix.h"
#include "xbt.h"
#include "xbt_main.h"

/* No slot limit: a thread may grow past what a history carries. */
#define YAML                               \
    "limits:\n  max_slots_per_thread: 0\n" \
    "listeners:\n  - name: echo\n    payload: ping\n"

#define THREADS 250
#define HISTORY_MAX 10000 /* HISTORY_SLOTS_MAX of pump/control.c */

static pumpfix_t f;
static void *echo, *client;

static void setup(void)
{
    CU_ASSERT_EQUAL_FATAL(pumpfix_open(&f, YAML), 0);
    echo = pumpfix_listener(&f, "echo", 1, false, false);
    client = pumpfix_dealer(&f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(echo && client);
}

static void teardown(void)
{
    pumpfix_close(&f);
}

/* Appends n slots "s" to thread (n may be large: one batch). */
static void fill(const char *thread, size_t n)
{
    const char **threads = calloc(n, sizeof *threads);
    xb_blob_t *slots = calloc(n, sizeof *slots);
    long *index = calloc(n, sizeof *index);
    CU_ASSERT_FATAL(threads && slots && index);
    for (size_t i = 0; i < n; i++) {
        threads[i] = thread;
        slots[i] = (xb_blob_t){"s", 1};
    }
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_backend_buffer_append_batch(f.pump->backend, n, threads, slots, index, &err),
                    0);
    free(threads);
    free(slots);
    free(index);
}

/* CONTROL req verb args... -> the RESULT body (caller frees), status in ok. */
static char *control(const char *req, bool *ok, const char *verb, const char *a1, const char *a2)
{
    if (a2)
        pumpfix_send(client, XB_CMD_CONTROL, req, verb, a1, a2, NULL);
    else if (a1)
        pumpfix_send(client, XB_CMD_CONTROL, req, verb, a1, NULL);
    else
        pumpfix_send(client, XB_CMD_CONTROL, req, verb, NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_RESULT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT(xb_frames_eq(m, 2, req));
    *ok = xb_frames_eq(m, 3, "ok");
    char *body = xb_frames_strdup(m, 4);
    xb_frames_destroy(&m);
    return body;
}

/* Pages of `threads` (count 40) list every thread once, each page at most
 * 40 rows with the cursor of the next; no count means pages of 100. */
static void test_threads_pages(void)
{
    char name[16];
    for (int i = 0; i < THREADS; i++) {
        snprintf(name, sizeof name, "th-%03d", i);
        fill(name, 1);
    }
    int seen[THREADS] = {0}, pages = 0;
    char cursor[XB_BACKEND_CURSOR_MAX] = "0";
    do {
        bool ok = false;
        char *body = control("p", &ok, "threads", cursor, "40");
        CU_ASSERT_FATAL(ok && body);
        int rows = xbt_count(body, "<thread ");
        CU_ASSERT(rows <= 40);
        char *count = xbt_root_attr(body, "count"), *next = xbt_root_attr(body, "cursor");
        CU_ASSERT_FATAL(count && next);
        CU_ASSERT_EQUAL(atoi(count), rows);
        for (const char *at = strstr(body, "uuid=\"th-"); at; at = strstr(at + 1, "uuid=\"th-")) {
            int k = atoi(at + 9);
            if (k >= 0 && k < THREADS)
                seen[k]++;
        }
        snprintf(cursor, sizeof cursor, "%s", next);
        free(count);
        free(next);
        free(body);
        pages++;
    } while (strcmp(cursor, "0") != 0 && pages < 100);
    CU_ASSERT_EQUAL(pages, (THREADS + 39) / 40);
    int wrong = 0;
    for (int k = 0; k < THREADS; k++)
        wrong += seen[k] != 1;
    CU_ASSERT_EQUAL(wrong, 0);

    bool ok = false;
    char *body = control("d", &ok, "threads", NULL, NULL);
    CU_ASSERT(ok && xbt_count(body, "<thread ") == 100);
    free(body);
}

static void test_threads_bad_arguments(void)
{
    static const char *const counts[] = {"0", "1001", "-1", "abc", "10x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        bool ok = true;
        char *body = control("b", &ok, "threads", "0", counts[i]);
        CU_ASSERT_FALSE(ok);
        CU_ASSERT(body && strstr(body, "1..1000"));
        free(body);
    }
    bool ok = true;
    char *body = control("c", &ok, "threads", "not a cursor", NULL);
    CU_ASSERT_FALSE(ok);
    CU_ASSERT(body && strstr(body, "not a cursor"));
    free(body);
    pumpfix_send(client, XB_CMD_CONTROL, "e", "threads", "0", "5", "x", NULL);
    xb_frames_t *m = pumpfix_expect(&f, client, XB_CMD_RESULT);
    CU_ASSERT(m && xb_frames_eq(m, 3, "error"));
    xb_frames_destroy(&m);
    body = control("h", &ok, "history", NULL, NULL);
    CU_ASSERT_FALSE(ok);
    CU_ASSERT(body && strstr(body, "takes 1 argument"));
    free(body);
}

/* A thread of HISTORY_MAX slots is answered whole; one slot more and both
 * CONTROL history and HISTORY are refused with the length, unread. */
static void test_history_bounded(void)
{
    fill("long", HISTORY_MAX);
    pumpfix_send(echo, XB_CMD_HISTORY, "1", "long", NULL);
    xb_frames_t *m = pumpfix_expect(&f, echo, XB_CMD_HISTORY_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(xb_frames_count(m), 4 + HISTORY_MAX);
    xb_frames_destroy(&m);

    fill("long", 1);
    pumpfix_send(echo, XB_CMD_HISTORY, "2", "long", NULL);
    m = pumpfix_expect(&f, echo, XB_CMD_ERROR);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT(xb_frames_eq(m, 2, XB_CMD_HISTORY));
    char *why = xb_frames_strdup(m, 3);
    CU_ASSERT(why && strstr(why, "10001 slots"));
    free(why);
    xb_frames_destroy(&m);
    bool ok = true;
    char *body = control("h", &ok, "history", "long", NULL);
    CU_ASSERT_FALSE(ok);
    CU_ASSERT(body && strstr(body, "10001 slots, more than the 10000"));
    free(body);
}

static const xbt_test_t control_tests[] = {
    {"threads in bounded pages, each thread once", test_threads_pages},
    {"threads: bad page size, cursor, arguments", test_threads_bad_arguments},
    {"a history longer than the bound is refused unread", test_history_bounded},
    {NULL, NULL},
};

XBT_SUITES({"control", xbt_log_errors_only, NULL, setup, teardown, control_tests});
