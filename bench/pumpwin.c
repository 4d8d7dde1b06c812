/* xmlbus-bench, pump rows: the client's window and the client API loop
 * (docs/performance.md). xb_client_post reports neither the thread nor the
 * message id, so every message carries its own number in the payload's
 * <seq> (fixed width, the payload keeps its exact size) and the echo sends
 * it back: answers are matched by it. */
#include "pumprun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_note_error(win_t *w, const char *what, size_t len)
{
    if (w->first_error[0])
        return;
    static const char se[] = "<SystemError";
    const char *p = memmem(what, len, se, sizeof se - 1);
    if (p) {
        len -= (size_t)(p - what);
        what = p;
    }
    size_t n = len < sizeof w->first_error - 1 ? len : sizeof w->first_error - 1;
    for (size_t i = 0; i < n; i++)
        w->first_error[i] = what[i] == '\n' || what[i] == '\0' ? ' ' : what[i];
    w->first_error[n] = '\0';
}

int bench_win_init(win_t *w, int window)
{
    memset(w, 0, sizeof *w);
    w->window = window;
    w->slots = calloc((size_t)window, sizeof *w->slots);
    w->early = calloc((size_t)window, sizeof *w->early);
    return w->slots && w->early ? 0 : -1;
}

void bench_win_free(win_t *w)
{
    free(w->slots);
    free(w->early);
    bench_lat_free(&w->lat);
}

/* ---- client API: numbered payloads ---- */

/* <seq> has SEQ_DIGITS digits from SEQ_FIRST on: a fixed width without
 * leading zeros, so the payload keeps its size and stays an unsignedLong. */
#define SEQ_DIGITS 10
#define SEQ_FIRST 1000000000ull
#define SEQ_SPAN 9000000000ull /* numbers of SEQ_DIGITS digits */

static const char k_seq_open[] = "<seq>";

char *bench_seq_payload(size_t size, size_t *seq_at)
{
    static const char one[] = "<seq>1</seq>";
    char *base = size > SEQ_DIGITS ? bench_payload(size - (SEQ_DIGITS - 1)) : NULL;
    char *p = base ? malloc(size + 1) : NULL;
    const char *at = p ? strstr(base, one) : NULL;
    if (!at) {
        free(base);
        free(p);
        return NULL;
    }
    size_t head = (size_t)(at - base) + sizeof k_seq_open - 1;
    memcpy(p, base, head);
    memset(p + head, '0', SEQ_DIGITS); /* written by seq_write before each post */
    strcpy(p + head + SEQ_DIGITS, base + head + 1);
    free(base);
    *seq_at = head;
    return p;
}

static void seq_write(char *digits, uint64_t seq)
{
    for (int i = SEQ_DIGITS - 1; i >= 0; i--, seq /= 10)
        digits[i] = (char)('0' + seq % 10);
}

void bench_seq_set(char *payload, size_t seq_at, uint64_t n)
{
    seq_write(payload + seq_at, SEQ_FIRST + n % SEQ_SPAN);
}

/* The number in an answer's <seq>, or 0 when it has none (SystemErrors and
 * refusals carry no payload of ours). *at: where it was found. */
static uint64_t seq_read(const char *env, size_t len, const char **at)
{
    const char *s = memmem(env, len, k_seq_open, sizeof k_seq_open - 1);
    *at = s;
    if (!s || (size_t)(s - env) + sizeof k_seq_open - 1 + SEQ_DIGITS >= len)
        return 0;
    s += sizeof k_seq_open - 1;
    uint64_t v = 0;
    for (int i = 0; i < SEQ_DIGITS; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return s[SEQ_DIGITS] == '<' ? v : 0;
}

/* Gives up every pending message: called when each of them is lost (see
 * take_posted). They count as done, without a latency, as a refused
 * message always did. */
static void drop_lost(win_t *w)
{
    for (int i = 0; i < w->window; i++)
        if (w->slots[i].used) {
            w->slots[i].used = false;
            w->done++;
        }
    w->in_flight = 0;
    w->lost = 0;
}

/* Takes one answer of the client API: finds its message by <seq>. A
 * SystemError, or an answer to no pending message, counts as an error. An
 * answer without a number (a refusal, a SystemError: they carry no payload
 * of ours) stands for one pending message whose echo will never come, but
 * does not say which: it is counted in w->lost, and once every message in
 * flight is lost they are all given up. Meanwhile a lost message holds its
 * slot, so the window shrinks by one per loss but never waits for ever. */
static void take_posted(win_t *w, const char *env, size_t len, uint64_t now)
{
    const char *at;
    uint64_t seq = seq_read(env, len, &at);
    /* <from> is in <meta>, before the payload. */
    size_t head = at ? (size_t)(at - env) : len;
    bool failed = memmem(env, head, k_from_system, sizeof k_from_system - 1) != NULL;
    int hit = -1;
    for (int i = 0; seq && i < w->window && hit < 0; i++)
        if (w->slots[i].used && w->slots[i].seq == seq)
            hit = i;
    if (failed || hit < 0) {
        w->errors++;
        bench_note_error(w, env, len);
    }
    if (hit >= 0)
        bench_win_complete(w, hit, now);
    else if (!seq)
        w->lost++;
    if (w->lost > 0 && w->lost >= w->in_flight)
        drop_lost(w);
}

/* Collects answers: waits up to timeout_ms for the first, then takes what
 * is already there. Returns 0, or -1 on a socket failure or (with a
 * positive timeout) when nothing came. */
static int collect(xb_client_t *c, win_t *w, int timeout_ms)
{
    for (int first = 1;; first = 0) {
        char *env = NULL;
        size_t len = 0;
        xb_error_t err;
        xb_error_clear(&err);
        int rc = xb_client_recv(c, first ? timeout_ms : 0, &env, &len, &err);
        if (rc < 0) {
            snprintf(w->why, sizeof w->why, "receive failed: %.200s", err.message);
            return -1;
        }
        if (rc == 1) {
            if (first && timeout_ms > 0) {
                snprintf(w->why, sizeof w->why, "no answer within %d ms (%d in flight)", timeout_ms,
                         w->in_flight);
                return -1;
            }
            return 0;
        }
        take_posted(w, env, len, bench_now_ns());
        free(env);
    }
}

/* Posts up to n messages keeping w->window in flight; no new post after
 * deadline_ns; waits for every answer. payload is a bench_seq_payload (its <seq>
 * at w->seq_at is rewritten for each message). Returns 0 or -1 (w->why). */
int bench_run_window(pump_env_t *e, win_t *w, char *payload, size_t len, uint64_t n,
                     uint64_t deadline_ns)
{
    uint64_t sent = 0;
    while (sent < n && bench_now_ns() < deadline_ns) {
        if (bench_interrupted()) {
            snprintf(w->why, sizeof w->why, "interrupted");
            return -1;
        }
        if (w->in_flight >= w->window) {
            if (collect(e->client, w, RECV_TIMEOUT_MS) != 0)
                return -1;
            continue;
        }
        int slot = 0;
        while (w->slots[slot].used)
            slot++;
        pending_t *p = &w->slots[slot];
        p->seq = SEQ_FIRST + w->next_seq++ % SEQ_SPAN;
        seq_write(payload + w->seq_at, p->seq);
        xb_error_t err;
        xb_error_clear(&err);
        p->sent_ns = bench_now_ns();
        if (xb_client_post(e->client, payload, len, e->to, NULL, SEND_TIMEOUT_MS, &err) != 0) {
            snprintf(w->why, sizeof w->why, "post failed: %.200s", err.message);
            return -1;
        }
        sent++;
        p->used = true;
        w->in_flight++;
    }
    while (w->in_flight > 0)
        if (collect(e->client, w, RECV_TIMEOUT_MS) != 0)
            return -1;
    return 0;
}
