/* Waiting in tests: a test never sleeps to wait for a state, it polls the
 * state until a deadline.
 *
 *     long entries = -1;
 *     XBT_WAIT_UNTIL((entries = backend_entries(c)) == 0, 5000);
 *     CU_ASSERT_EQUAL(entries, 0);
 *
 * Header only, because tests/support/redis_server.c, which waits too, is
 * also built into the benchmark without the rest of the test helpers. */
#ifndef XBT_WAIT_H
#define XBT_WAIT_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

/* How long one round of a polled wait pauses: short, so a wait ends soon
 * after the state is reached. */
#define XBT_POLL_MS 5

/* The monotonic clock in milliseconds. */
static inline long long xbt_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The monotonic clock in seconds. */
static inline double xbt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void xbt_pause_ms_(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One round of a polled wait: false once end_ms (xbt_mono_ms) has passed,
 * else pauses XBT_POLL_MS and returns true. */
static inline bool xbt_poll_again(long long end_ms)
{
    if (xbt_mono_ms() >= end_ms)
        return false;
    xbt_pause_ms_(XBT_POLL_MS);
    return true;
}

/* Evaluates cond until it is true or timeout_ms have passed. A statement:
 * look at cond (or at what it stored) afterwards. */
#define XBT_WAIT_UNTIL(cond, timeout_ms)                   \
    do {                                                   \
        long long xbt_end_ = xbt_mono_ms() + (timeout_ms); \
        while (!(cond) && xbt_poll_again(xbt_end_)) {      \
        }                                                  \
    } while (0)

/* Lets ms pass on purpose. Only for a test whose behaviour needs time to
 * go by (a handler that is slow, a pump paused longer than a heartbeat
 * interval, "nothing arrives within ..."), never to wait for a state. */
static inline void xbt_let_time_pass_ms(long ms)
{
    xbt_pause_ms_(ms);
}

/* Waits up to timeout_ms for the child pid to end. Returns its status as
 * waitpid gives it, or -1 when it did not end in time (it is then killed
 * with SIGKILL and reaped) or is no child of ours. */
static inline int xbt_wait_exit(pid_t pid, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    int status = 0;
    pid_t w = 0;
    XBT_WAIT_UNTIL((w = waitpid(pid, &status, WNOHANG)) != 0 && !(w < 0 && errno == EINTR),
                   timeout_ms);
    if (w == pid)
        return status;
    if (w == 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    return -1;
}

#endif
