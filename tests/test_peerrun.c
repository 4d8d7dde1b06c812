/* Tests of bench/peerrun.c and bench/peernats.c, the peer rows of
 * xmlbus-bench (docs/performance.md, "The peer"): the row ids, the "not
 * available" path without nats-server (the run still succeeds), and, when
 * the bench was built with libnats and nats-server is installed
 * (scripts/install-deps.sh --bench), a short real run of both responders.
 * No time is asserted. */
#include <CUnit/Basic.h>
#include <fcntl.h>
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

#define BENCH_DEADLINE_S 120 /* a hung bench fails the test instead of holding ctest */

/* Runs xmlbus-bench with argv (NULL-terminated, argv[0] left for the path),
 * env ("K=V" or NULL) added to its environment, and its stdout and stderr
 * in out_path. Returns its exit status, or -1 when it did not exit by the
 * deadline. */
static int run_bench(const char **argv, const char *env, const char *out_path)
{
    char bench[512];
    snprintf(bench, sizeof bench, "%s/xmlbus-bench", XB_BIN_DIR);
    argv[0] = bench;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        if (env)
            putenv((char *)env);
        execv(bench, (char *const *)argv);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    time_t end = time(NULL) + BENCH_DEADLINE_S;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (time(NULL) > end) {
            kill(pid, SIGTERM); /* it stops nats-server and its clients */
            waitpid(pid, &status, 0);
            return -1;
        }
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text ? strstr(text, what) : NULL; p; p = strstr(p + 1, what))
        n++;
    return n;
}

static void test_row_ids(void)
{
    char *dir = xbt_tmpdir("peerrun");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char out[600];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    const char *argv[] = {NULL, "--list", "--only", "peer/", NULL};
    CU_ASSERT_EQUAL(run_bench(argv, NULL, out), 0);
    char *text = xbt_read_file(out, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(text, "peer/nats/tcp/k1/400B\n"
                                 "peer/nats/tcp/k100/400B\n"
                                 "peer/nats-xml/tcp/k1/400B\n"
                                 "peer/nats-xml/tcp/k100/400B\n");
    free(text);
    xbt_rmtree(dir);
    free(dir);
}

/* Without nats-server every peer row is "not available", in the table and
 * in the JSON, and the run succeeds. */
static void test_without_nats_server(void)
{
    char *dir = xbt_tmpdir("peerrun");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char out[600], json_path[600];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(json_path, sizeof json_path, "%s/bench.json", dir);
    const char *argv[] = {NULL, "--only", "peer/", "--quick", "--json", json_path, NULL};
    int rc = run_bench(argv, "XB_NATS_SERVER=/nonexistent/nats-server", out);
    char *text = xbt_read_file(out, NULL);
    char *json = xbt_read_file(json_path, NULL);
    if (rc != 0 || !json)
        fprintf(stderr, "bench exit %d, output:\n%s\n", rc, text ? text : "(none)");
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    CU_ASSERT_EQUAL(count(json, "\"status\": \"not available\""), 4);
    CU_ASSERT_EQUAL(count(json, "\"kind\": \"peer\""), 4);
    CU_ASSERT_EQUAL(count(text, "| peer/nats-xml/tcp/k100/400B | not available |"), 1);
    free(text);
    free(json);
    xbt_rmtree(dir);
    free(dir);
}

/* A short real run of the echo (buffered, 100 in flight) and of the XML
 * responder (SendAsap, 1 in flight), when the bench has NATS. */
static void test_real_run(void)
{
    char *dir = xbt_tmpdir("peerrun");
    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    char out[600], json_path[600];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(json_path, sizeof json_path, "%s/bench.json", dir);
    const char *argv[] = {NULL,        "--only", "peer/nats/tcp/k100/,peer/nats-xml/tcp/k1/",
                          "--seconds", "0.2",    "--messages",
                          "500",       "--json", json_path,
                          NULL};
    int rc = run_bench(argv, NULL, out);
    char *text = xbt_read_file(out, NULL);
    char *json = xbt_read_file(json_path, NULL);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
#ifdef XB_BENCH_NATS
    if (count(json, "nats-server: not available") == 2) {
        fprintf(stderr, "nats-server is not installed (scripts/install-deps.sh --bench): "
                        "the real run is not checked\n");
    } else {
        if (count(json, "\"status\": \"ok\"") != 2)
            fprintf(stderr, "bench output:\n%s\n", text ? text : "(none)");
        CU_ASSERT_EQUAL(count(json, "\"status\": \"ok\""), 2);
        CU_ASSERT_EQUAL(count(json, "\"errors\": 0,"), 2);
        CU_ASSERT_EQUAL(count(json, "\"round_trips\": 0,"), 0);
        CU_ASSERT_EQUAL(count(json, "\"note\": \"SendAsap\""), 1);
    }
#else
    CU_ASSERT_EQUAL(count(json, "built without libnats"), 2);
#endif
    free(text);
    free(json);
    xbt_rmtree(dir);
    free(dir);
}

static const xbt_test_t peerrun_tests[] = {
    {"row_ids", test_row_ids},
    {"without_nats_server", test_without_nats_server},
    {"real_run", test_real_run},
    {NULL, NULL},
};

XBT_SUITES({"peerrun", NULL, NULL, NULL, NULL, peerrun_tests});
