/* xmlbus-bench --soak: every message in exactly one class, the table and the
 * JSON (docs/reliability.md, "Soak"). A greeting is answered when both of
 * hello's answers came (<greeting-reply> and <shouted>), each once. */
#include "soak.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint64_t once;
    uint64_t refused[XB_ERR__COUNT];        /* REJECTED at the send, by code */
    uint64_t syserr[XB_ERR__COUNT];         /* one SystemError in the conversation, by code */
    uint64_t syserr_after_reply;            /* ... of which after the greeter's reply came */
    uint64_t twice_marked, twice_bare;      /* an answer (or SystemError) more than once */
    uint64_t partial;                       /* one of the two answers, no SystemError */
    uint64_t never_accepted, never_unknown; /* nothing came: ACCEPTED / no verdict */
    uint64_t unsent;
} soak_classes_t;

static void classify_one(const soak_msg_t *m, soak_classes_t *c)
{
    unsigned extra = (m->greet > 1 ? m->greet - 1u : 0) + (m->shouted > 1 ? m->shouted - 1u : 0) +
                     (m->errors > 1 ? m->errors - 1u : 0);
    if (m->state == SM_UNSENT)
        c->unsent++;
    else if (m->state == SM_REFUSED)
        c->refused[m->code < XB_ERR__COUNT ? m->code : XB_ERR_ENVELOPE]++;
    else if (extra > 0 && m->marked >= extra)
        c->twice_marked++;
    else if (extra > 0)
        c->twice_bare++;
    else if (m->errors == 1) {
        c->syserr[m->code < XB_ERR__COUNT ? m->code : XB_ERR_ENVELOPE]++;
        c->syserr_after_reply += m->greet > 0;
    } else if (m->greet == 1 && m->shouted == 1)
        c->once++;
    else if (m->greet + m->shouted == 1)
        c->partial++;
    else if (m->state == SM_ACCEPTED)
        c->never_accepted++;
    else
        c->never_unknown++;
}

static uint64_t sum(const uint64_t *v)
{
    uint64_t n = 0;
    for (int i = 0; i < XB_ERR__COUNT; i++)
        n += v[i];
    return n;
}

/* "backend 3, crash 1" or "-". */
static void by_code(const uint64_t *v, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < XB_ERR__COUNT && at < cap; i++)
        if (v[i])
            at += (size_t)snprintf(out + at, cap - at, "%s%s %" PRIu64, at ? ", " : "",
                                   xb_code_name((xb_code_t)i), v[i]);
    if (!out[0])
        snprintf(out, cap, "-");
}

static void print_table(const soak_result_t *r, const soak_classes_t *c, bool pass)
{
    const soak_opts_t *o = r->o;
    const soak_counts_t *k = r->counts;
    char refused[256], syserr[256], stray[256];
    by_code(c->refused, refused, sizeof refused);
    by_code(c->syserr, syserr, sizeof syserr);
    by_code(r->stray->errors_by_code, stray, sizeof stray);
    printf("\n%s\n\n", o->argv_line);
    printf("| class | messages |\n|---|---|\n");
    printf("| answered once (greeting-reply and shouted, once each) | %" PRIu64 " |\n", c->once);
    printf("| SystemError: refused at the send | %" PRIu64 " (%s) |\n", sum(c->refused), refused);
    printf("| SystemError in the conversation | %" PRIu64 " (%s; %" PRIu64
           " after the greeter's reply) |\n",
           sum(c->syserr), syserr, c->syserr_after_reply);
    printf("| answered twice, with the redelivered mark | %" PRIu64 " |\n", c->twice_marked);
    printf("| answered twice, without the mark | %" PRIu64 " |\n", c->twice_bare);
    printf("| partly answered (one of the two answers) | %" PRIu64 " |\n", c->partial);
    printf("| never answered (accepted / no verdict) | %" PRIu64 " (%" PRIu64 " / %" PRIu64 ") |\n",
           c->never_accepted + c->never_unknown, c->never_accepted, c->never_unknown);
    if (c->unsent)
        printf("| not sent (the run stopped) | %" PRIu64 " |\n", c->unsent);
    printf("\n| chaos | done |\n|---|---|\n");
    printf("| listener SIGKILLs (every %ld ms) | %" PRIu64 " (%" PRIu64 " found none) |\n",
           o->listener_kill_ms, k->listener_kills, k->listener_misses);
    printf("| redis-server restarts (every %g s, %s) | %" PRIu64 " |\n", o->redis_restart_s,
           o->redis_wipe ? "empty" : "keeping its append-only file", k->redis_restarts);
    printf("| pump SIGKILL + restart (every %g s) | %" PRIu64 " (client reconnects %" PRIu64
           ", pump exits by itself %" PRIu64 ") |\n",
           o->pump_kill_s, k->pump_kills, k->reconnects, k->pump_crashes);
    printf("| pump SIGSTOP for %g s (every %g s) | %" PRIu64 " |\n", o->stop_for_s, o->pump_stop_s,
           k->pump_stops);
    printf("\nsent %" PRIu64 " in %.1f s (%.0f messages/s; the wait for late answers, at most %g "
           "s, included); answers on no "
           "known message: SystemErrors %s, other %" PRIu64 "\n",
           r->sent, r->seconds, r->seconds > 0 ? (double)r->sent / r->seconds : 0, o->grace_s,
           stray, r->stray->other);
    if (r->stopped_why[0])
        printf("the run stopped early: %s\n", r->stopped_why);
    printf("soak: %s\n", pass ? "PASS" : "FAIL");
}

static void json_codes(FILE *f, const char *name, const uint64_t *v)
{
    fprintf(f, "  \"%s\": {", name);
    for (int i = 0, n = 0; i < XB_ERR__COUNT; i++)
        if (v[i])
            fprintf(f, "%s\"%s\": %" PRIu64, n++ ? ", " : "", xb_code_name((xb_code_t)i), v[i]);
    fprintf(f, "},\n");
}

static int write_json(const soak_result_t *r, const soak_classes_t *c, bool pass)
{
    FILE *f = fopen(r->o->json_path, "w");
    if (!f)
        return -1;
    const soak_opts_t *o = r->o;
    const soak_counts_t *k = r->counts;
    fprintf(f, "{\n  \"command\": \"%s\",\n  \"date\": %lld,\n", o->argv_line,
            (long long)time(NULL));
    fprintf(f,
            "  \"messages\": %" PRIu64 ",\n  \"sent\": %" PRIu64
            ",\n  \"window\": %d,\n  \"seed\": %u,\n  \"seconds\": %.3f,\n",
            o->messages, r->sent, o->window, o->seed, r->seconds);
    fprintf(f, "  \"answered_once\": %" PRIu64 ",\n", c->once);
    json_codes(f, "refused", c->refused);
    json_codes(f, "system_error", c->syserr);
    fprintf(f,
            "  \"system_error_after_reply\": %" PRIu64 ",\n  \"twice_marked\": %" PRIu64
            ",\n  \"twice_unmarked\": %" PRIu64 ",\n  \"partly_answered\": %" PRIu64
            ",\n  \"never_answered_accepted\": %" PRIu64
            ",\n  \"never_answered_no_verdict\": %" PRIu64 ",\n  \"not_sent\": %" PRIu64 ",\n",
            c->syserr_after_reply, c->twice_marked, c->twice_bare, c->partial, c->never_accepted,
            c->never_unknown, c->unsent);
    json_codes(f, "stray_system_errors", r->stray->errors_by_code);
    fprintf(f,
            "  \"stray_other\": %" PRIu64 ",\n  \"chaos\": {\"listener_kills\": %" PRIu64
            ", \"listener_misses\": %" PRIu64 ", \"redis_restarts\": %" PRIu64
            ", \"pump_kills\": %" PRIu64 ", \"pump_stops\": %" PRIu64 ", \"pump_crashes\": %" PRIu64
            ", \"reconnects\": %" PRIu64 "},\n",
            r->stray->other, k->listener_kills, k->listener_misses, k->redis_restarts,
            k->pump_kills, k->pump_stops, k->pump_crashes, k->reconnects);
    fprintf(f, "  \"stopped\": \"%s\",\n  \"pass\": %s\n}\n", r->stopped_why,
            pass ? "true" : "false");
    return fclose(f) == 0 ? 0 : -1;
}

/* The greetings (their n) in a class that fails, at most 10 per class, on
 * stderr: where to look in the pump's log (XMLBUS_SOAK_KEEP). */
static void name_failures(const soak_result_t *r)
{
    static const char *const names[] = {"answered twice without the mark", "partly answered",
                                        "never answered"};
    for (int k = 0; k < 3; k++) {
        int shown = 0;
        for (uint64_t i = 0; i < r->o->messages && shown < 10; i++) {
            soak_classes_t one;
            memset(&one, 0, sizeof one);
            classify_one(&r->msgs[i], &one);
            uint64_t hit = k == 0   ? one.twice_bare
                           : k == 1 ? one.partial
                                    : one.never_accepted + one.never_unknown;
            if (!hit)
                continue;
            const soak_msg_t *m = &r->msgs[i];
            fprintf(
                stderr,
                "%s%s: greeting %" PRIu64 " (reply %u, shouted %u, SystemErrors %u, marked %u)\n",
                shown ? "" : "soak: ", names[k], i + 1, m->greet, m->shouted, m->errors, m->marked);
            shown++;
        }
    }
}

int soak_report(const soak_result_t *r)
{
    soak_classes_t c;
    memset(&c, 0, sizeof c);
    for (uint64_t i = 0; i < r->o->messages; i++)
        classify_one(&r->msgs[i], &c);
    bool pass = !r->stopped_why[0] && c.never_accepted + c.never_unknown == 0 && c.partial == 0 &&
                c.twice_bare == 0 && c.unsent == 0;
    print_table(r, &c, pass);
    if (!pass)
        name_failures(r);
    if (r->o->json_path && write_json(r, &c, pass) != 0)
        fprintf(stderr, "xmlbus-bench --soak: cannot write %s\n", r->o->json_path);
    return pass ? 0 : 1;
}
