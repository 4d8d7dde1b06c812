/* Tests of bench/soak*.c (`xmlbus-bench --soak`, docs/reliability.md "Soak"):
 * a smoke run of 2 000 greetings through the hello organism on a real
 * redis-server while listeners are SIGKILLed, every message counted: none
 * may stay unanswered and none may be answered twice.
 *
 * The kills come every second, not every 200 ms as in `make soak`: the pump
 * restarts a listener with a backoff of up to 5 s, so at 200 ms the
 * listeners are down most of the time and 2 000 greetings take minutes. */
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xbt.h"
#include "xbt_main.h"
#include "xbt_tmp.h"

#define SOAK_DEADLINE_S 240 /* a hung soak fails the test instead of holding ctest */

/* Runs xmlbus-bench with argv (NULL-terminated, argv[0] left for the path)
 * and returns its exit status, or -1 when it did not exit by the deadline. */
static int run_bench(const char **argv)
{
    char bench[512];
    snprintf(bench, sizeof bench, "%s/xmlbus-bench", XB_BIN_DIR);
    argv[0] = bench;
    pid_t pid = fork();
    if (pid == 0) {
        execv(bench, (char *const *)argv);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    time_t end = time(NULL) + SOAK_DEADLINE_S;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (time(NULL) > end) {
            kill(pid, SIGTERM); /* it stops its pump and redis-server */
            waitpid(pid, &status, 0);
            return -1;
        }
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The number after "key": in json, or -1. */
static long json_num(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static void test_listener_kills_lose_nothing(void)
{
    char *dir = xbt_tmpdir("soak");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char json_path[600], hello[600];
    snprintf(json_path, sizeof json_path, "%s/soak.json", dir);
    snprintf(hello, sizeof hello, "%s/examples/hello", XB_SOURCE_DIR);
    const char *argv[] = {NULL,
                          "--soak",
                          "--messages",
                          "2000",
                          "--listener-kill-ms",
                          "1000",
                          "--no-redis-restarts",
                          "--no-pump-kills",
                          "--no-pump-stops",
                          "--hello",
                          hello,
                          "--json",
                          json_path,
                          NULL};
    int rc = run_bench(argv);
    char *json = xbt_read_file(json_path, NULL);
    if (rc != 0 || !json)
        fprintf(stderr, "soak exit %d, result:\n%s\n", rc, json ? json : "(none)");
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    CU_ASSERT_EQUAL(json_num(json, "sent"), 2000);
    CU_ASSERT_EQUAL(json_num(json, "never_answered_accepted"), 0);
    CU_ASSERT_EQUAL(json_num(json, "never_answered_no_verdict"), 0);
    CU_ASSERT_EQUAL(json_num(json, "partly_answered"), 0);
    CU_ASSERT_EQUAL(json_num(json, "twice_unmarked"), 0);
    CU_ASSERT_EQUAL(json_num(json, "twice_marked"), 0);
    free(json);
    xbt_rmtree(dir);
    free(dir);
}

static const xbt_test_t soak_tests[] = {
    {"listener_kills_lose_nothing", test_listener_kills_lose_nothing},
    {NULL, NULL},
};

XBT_SUITES({"soak", NULL, NULL, NULL, NULL, soak_tests});
