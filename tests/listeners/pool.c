/* A worker for the pool tests (tests/test_pool.c), built as
 * build/tests/xbtest-pool. Its first argument picks what it does with every
 * message; in mode `mixed` the payload's <do> child picks it instead, so that
 * one pool can serve messages that crash it next to messages that do not.
 * The payload's root tag does not matter (each test listener has its own).
 *
 *   echo-with-pid [MS]  sleep MS ms (default 0), then respond
 *                       <done><pid>P</pid><n>N</n><id>I</id></done> (P this
 *                       process, N the text of the payload's <n>, "" without
 *                       one, I the message id the worker was given)
 *   slow MS             the same as echo-with-pid MS
 *   crash-always [DIR]  append "PID MSGID" to DIR/NAME.attempts (NAME the
 *                       listener's name), then abort()
 *   crash-once DIR      abort() the first time a message id is seen (marker
 *                       file DIR/NAME.seen-MSGID created with O_EXCL), answer
 *                       like echo-with-pid when it comes again
 *   hang                sleep for an hour (a hung handler)
 *   fail                fail the delivery: xb_reply_fail("failed in pid P")
 *   mixed [DIR]         by the payload's <do>: job (or no <do>) echo-with-pid
 *                       with the payload's <ms>; crash crash-always;
 *                       crash-once; hang; fail
 *                       e.g. <spread><n>3</n><ms>150</ms></spread>,
 *                            <poison><do>crash</do></poison>
 *
 * A SystemError (from a failed respond) is ignored: the delivery ends. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xmlbus/listener.h"

typedef struct {
    const char *mode;
    const char *arg; /* MS for echo-with-pid/slow, DIR otherwise; may be NULL */
} pool_args_t;

static void sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int echo_with_pid(const xb_msg_t *msg, xb_reply_t *reply, long ms)
{
    sleep_ms(ms);
    const char *n = xb_msg_text(msg, "n");
    xmlNodePtr out = xb_payload_new("done");
    const char *id = xb_msg_id(msg);
    if (!out || !xb_payload_add_text(out, "pid", "%d", (int)getpid()) ||
        !xb_payload_add_text(out, "n", "%s", n ? n : "") ||
        !xb_payload_add_text(out, "id", "%s", id ? id : "")) {
        xb_payload_free(out);
        return xb_reply_fail(reply, "no memory for the answer");
    }
    return xb_reply_respond(reply, out);
}

/* DIR/NAME.SUFFIX into path. Returns 0, or -1 when it does not fit. */
static int state_path(char *path, size_t cap, const char *dir, const xb_msg_t *msg,
                      const char *suffix)
{
    int n = snprintf(path, cap, "%s/%s.%s", dir, xb_msg_self(msg), suffix);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static _Noreturn void crash_always(const xb_msg_t *msg, const char *dir)
{
    char path[1024], line[128];
    if (dir && state_path(path, sizeof path, dir, msg, "attempts") == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int n = snprintf(line, sizeof line, "%d %s\n", (int)getpid(),
                         xb_msg_id(msg) ? xb_msg_id(msg) : "-");
        if (fd >= 0 && n > 0 && write(fd, line, (size_t)n) != n)
            fprintf(stderr, "xbtest-pool: cannot record the attempt in %s\n", path);
        if (fd >= 0)
            close(fd);
    }
    abort();
}

static int crash_once(const xb_msg_t *msg, xb_reply_t *reply, const char *dir)
{
    char suffix[128], path[1024];
    snprintf(suffix, sizeof suffix, "seen-%s", xb_msg_id(msg) ? xb_msg_id(msg) : "none");
    if (!dir || state_path(path, sizeof path, dir, msg, suffix) != 0)
        return xb_reply_fail(reply, "crash-once needs a folder");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
        close(fd);
        abort(); /* first time: die with the message in hand */
    }
    return echo_with_pid(msg, reply, 0);
}

static int hang(void)
{
    sleep(3600);
    return 0;
}

static int fail(xb_reply_t *reply)
{
    return xb_reply_fail(reply, "failed in pid %d", (int)getpid());
}

static long ms_of(const xb_msg_t *msg)
{
    const char *ms = xb_msg_text(msg, "ms");
    return ms ? atol(ms) : 0;
}

static int by_do(const xb_msg_t *msg, xb_reply_t *reply, const char *dir)
{
    const char *what = xb_msg_text(msg, "do");
    if (!what || strcmp(what, "job") == 0)
        return echo_with_pid(msg, reply, ms_of(msg));
    if (strcmp(what, "crash") == 0)
        crash_always(msg, dir);
    if (strcmp(what, "crash-once") == 0)
        return crash_once(msg, reply, dir);
    if (strcmp(what, "hang") == 0)
        return hang();
    if (strcmp(what, "fail") == 0)
        return fail(reply);
    return xb_reply_fail(reply, "unknown <do>%s</do>", what);
}

static int handle(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    const pool_args_t *a = user;
    if (xb_msg_is_system_error(msg))
        return 0;
    if (strcmp(a->mode, "mixed") == 0)
        return by_do(msg, reply, a->arg);
    if (strcmp(a->mode, "crash-always") == 0)
        crash_always(msg, a->arg);
    if (strcmp(a->mode, "crash-once") == 0)
        return crash_once(msg, reply, a->arg);
    if (strcmp(a->mode, "hang") == 0)
        return hang();
    if (strcmp(a->mode, "fail") == 0)
        return fail(reply);
    return echo_with_pid(msg, reply, a->arg ? atol(a->arg) : 0);
}

static bool known_mode(const char *m)
{
    static const char *const modes[] = {"echo-with-pid", "slow", "crash-always", "crash-once",
                                        "hang",          "fail", "mixed"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
        if (strcmp(m, modes[i]) == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    pool_args_t a = {argc > 1 ? argv[1] : "echo-with-pid", argc > 2 ? argv[2] : NULL};
    if (!known_mode(a.mode)) {
        fprintf(stderr, "xbtest-pool: unknown mode '%s'\n", a.mode);
        return 2;
    }
    return xb_listener_main(argc, argv, handle, &a);
}
