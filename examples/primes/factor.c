/* primes-factor: a cpu_bound listener. It answers
 *     <factorize><n>N</n></factorize>
 * with the prime factors of N (a 64-bit unsigned integer, at least 2) by trial
 * division, and says which worker process did the work and how long it took:
 *     <factors><n>N</n><factor>p</factor>...<pid>P</pid><ms>T</ms></factors>
 * Trial division of a number near 10^17 whose smallest factor is large takes
 * a few tenths of a second: real CPU work, which is why the listener is
 * cpu_bound and runs as a pool of worker processes (examples/primes/README.md). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xmlbus/listener.h"

#define MAX_FACTORS 64 /* a 64-bit number has at most 63 prime factors */

/* Parses a decimal uint64 >= 2 (the schema checked it already; this is the
 * handler's own guard). Returns 0, or -1. */
static int parse_n(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || !end || *end != '\0' || v < 2)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Divides every factor d out of *n, appending it to f. */
static void divide_out(uint64_t *n, uint64_t d, uint64_t *f, int *k)
{
    while (*n % d == 0) {
        f[(*k)++] = d;
        *n /= d;
    }
}

/* The prime factors of n in ascending order; returns their count. Trial
 * division by 2, 3 and the numbers 6i +- 1 up to the square root of what is
 * left (d <= n / d cannot overflow). */
static int factorize(uint64_t n, uint64_t f[MAX_FACTORS])
{
    int k = 0;
    divide_out(&n, 2, f, &k);
    divide_out(&n, 3, f, &k);
    for (uint64_t d = 5; d <= n / d; d += 6) {
        divide_out(&n, d, f, &k);
        divide_out(&n, d + 2, f, &k);
    }
    if (n > 1)
        f[k++] = n;
    return k;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int handle(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    (void)user;
    if (xb_msg_is_system_error(msg))
        return 0; /* a SystemError about our answer: nothing to do */
    uint64_t n = 0;
    if (parse_n(xb_msg_text(msg, "n"), &n) != 0)
        return xb_reply_fail(reply, "<n> must be an integer from 2 to 18446744073709551615");
    double t0 = now_ms();
    uint64_t f[MAX_FACTORS];
    int k = factorize(n, f);
    double ms = now_ms() - t0;
    xmlNodePtr out = xb_payload_new("factors");
    bool ok = out && xb_payload_add_text(out, "n", "%llu", (unsigned long long)n);
    for (int i = 0; ok && i < k; i++)
        ok = xb_payload_add_text(out, "factor", "%llu", (unsigned long long)f[i]) != NULL;
    ok = ok && xb_payload_add_text(out, "pid", "%d", (int)getpid()) &&
         xb_payload_add_text(out, "ms", "%.0f", ms);
    if (!ok) {
        xb_payload_free(out);
        return xb_reply_fail(reply, "no memory for the answer");
    }
    return xb_reply_respond(reply, out);
}

int main(int argc, char **argv)
{
    return xb_listener_main(argc, argv, handle, NULL);
}
