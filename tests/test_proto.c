/* The XB1 codec of bus/proto.c: every command round-trips, every malformed
 * shape is refused with a reason, and random frame lists never crash it. */
#include "proto.h"

#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xbt_main.h"

#define RID "\x00\x6b\x8b\x45\x67" /* a routing id as a ROUTER makes them */

/* Decodes f as a DEALER sees it and, with a routing id in front, as a
 * ROUTER sees it; both must agree. Returns the DEALER decode's rc. */
static int decode_both(xb_frames_t *f, xb_proto_msg_t *m, xb_proto_error_t *e)
{
    int rc = xb_proto_decode(f, 0, XB_PROTO_EITHER, m, e);
    xb_frames_t *r = xb_frames_new();
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(xb_frames_add(r, RID, 5), 0);
    for (size_t i = 0; i < xb_frames_count(f); i++)
        CU_ASSERT_EQUAL(xb_frames_add_frame(r, f, i), 0);
    xb_proto_msg_t rm;
    xb_proto_error_t re;
    int rrc = xb_proto_decode(r, 1, XB_PROTO_EITHER, &rm, &re);
    CU_ASSERT_EQUAL(rrc, rc);
    if (rc == 0 && rrc == 0) {
        CU_ASSERT_EQUAL(rm.cmd, m->cmd);
        CU_ASSERT_EQUAL(rm.n, m->n);
        CU_ASSERT_EQUAL(rm.at, 1);
        for (size_t k = 0; k < XB_PROTO_FIELDS_MAX; k++) {
            CU_ASSERT_EQUAL(rm.field[k].len, m->field[k].len);
            CU_ASSERT_EQUAL(rm.field[k].num, m->field[k].num);
        }
    } else if (rc != 0 && rrc != 0) {
        CU_ASSERT_EQUAL(re.frame, e->frame);
        CU_ASSERT_STRING_EQUAL(re.message, e->message);
        CU_ASSERT_STRING_EQUAL(re.what, e->what);
    }
    xb_frames_destroy(&r);
    return rc;
}

static bool is(xb_proto_val_t v, const char *s)
{
    return xb_proto_is(v, s);
}

static void test_session_commands(void)
{
    xb_proto_msg_t m;
    xb_proto_error_t e;
    xb_frames_t *f = xb_proto_ready("greeter", "worker", 4242, 3, true, NULL);
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT_EQUAL(m.cmd, XB_PROTO_READY);
    CU_ASSERT(is(m.ready.name, "greeter") && is(m.ready.kind, "worker"));
    CU_ASSERT_EQUAL(m.ready.pid.num, 4242);
    CU_ASSERT_EQUAL(m.ready.credit.num, 3);
    CU_ASSERT(is(m.ready.beats, "beats"));
    CU_ASSERT_PTR_NULL(m.ready.token.ptr);
    xb_frames_destroy(&f);

    f = xb_proto_ready("greeter", "listener", 0, 1, false, "");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT_EQUAL(xb_frames_count(f), 6); /* beats is the 7th frame when present */
    CU_ASSERT_PTR_NULL(m.ready.beats.ptr);
    CU_ASSERT_PTR_NULL(m.ready.token.ptr);
    CU_ASSERT_EQUAL(m.ready.pid.num, 0);
    xb_frames_destroy(&f);

    /* A token without beats: an empty 7th frame keeps the token 8th. */
    f = xb_proto_ready("greeter", "listener", 7, 1, false, "tok-1");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT_EQUAL(xb_frames_count(f), 8);
    CU_ASSERT(is(m.ready.beats, "") && !xb_proto_is(m.ready.beats, "beats"));
    CU_ASSERT(is(m.ready.token, "tok-1"));
    xb_frames_destroy(&f);
    f = xb_proto_ready("greeter", "listener", 7, 1, true, "tok-2");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(is(m.ready.beats, "beats") && is(m.ready.token, "tok-2"));
    xb_frames_destroy(&f);

    f = xb_proto_welcome("hello", 1000, "redis", "redis://localhost:6379/0", "xp:");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT_EQUAL(m.cmd, XB_PROTO_WELCOME);
    CU_ASSERT(is(m.welcome.organism, "hello") && is(m.welcome.backend_type, "redis"));
    CU_ASSERT_EQUAL(m.welcome.heartbeat_ms.num, 1000);
    CU_ASSERT(is(m.welcome.backend_location, "redis://localhost:6379/0"));
    CU_ASSERT(is(m.welcome.backend_prefix, "xp:"));
    xb_frames_destroy(&f);

    f = xb_proto_welcome("hello", 50, "memory", "", "");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.welcome.backend_location.ptr && m.welcome.backend_location.len == 0);
    xb_frames_destroy(&f);

    f = xb_proto_refused("no listener named 'x'");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_REFUSED && is(m.refused.reason, "no listener named 'x'"));
    xb_frames_destroy(&f);

    xb_frames_t *(*bare[])(void) = {xb_proto_heartbeat, xb_proto_bye, xb_proto_shutdown};
    xb_proto_cmd_t bare_cmd[] = {XB_PROTO_HEARTBEAT, XB_PROTO_BYE, XB_PROTO_SHUTDOWN};
    for (size_t i = 0; i < 3; i++) {
        f = bare[i]();
        CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
        CU_ASSERT_EQUAL(m.cmd, bare_cmd[i]);
        CU_ASSERT_EQUAL(xb_frames_count(f), 2);
        xb_frames_destroy(&f);
    }

    f = xb_proto_error("REPLY", "why not");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_ERROR && is(m.error.what, "REPLY") &&
              is(m.error.message, "why not"));
    xb_frames_destroy(&f);
}

static void test_delivery_commands(void)
{
    xb_proto_msg_t m;
    xb_proto_error_t e;
    const char env[] = "<message xmlns=\"https://xml-pipeline.org/ns/envelope/v1\"/>";
    xb_frames_t *f = xb_proto_deliver("18446744073709551615", env, sizeof env - 1);
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_DELIVER && is(m.deliver.id, "18446744073709551615"));
    CU_ASSERT(is(m.deliver.envelope, env));
    xb_frames_destroy(&f);

    /* A client's DELIVER carries the message UUID. */
    f = xb_proto_deliver("0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e", env, sizeof env - 1);
    CU_ASSERT_EQUAL(decode_both(f, &m, &e), 0);
    xb_frames_destroy(&f);

    f = xb_proto_reply_begin("7", 3);
    const char *targets[] = {"^", "shouter", ""};
    const char *payloads[] = {"<a/>", "<b>x</b>", "<c/>"};
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(xb_proto_reply_add(f, targets[i], strdup(payloads[i]), strlen(payloads[i])),
                        0);
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_REPLY && is(m.reply.id, "7"));
    CU_ASSERT_EQUAL(m.reply.n.num, 3);
    CU_ASSERT_EQUAL_FATAL(m.n, 3);
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT(is(xb_proto_reply_target(&m, i), targets[i]));
        CU_ASSERT(is(xb_proto_reply_payload(&m, i), payloads[i]));
        CU_ASSERT_EQUAL(xb_proto_item_frame(&m, i, 1), 5 + 2 * i);
    }
    CU_ASSERT_PTR_NULL(xb_proto_reply_target(&m, 3).ptr);
    CU_ASSERT_PTR_NULL(xb_proto_item(&m, 0, 2).ptr);
    xb_frames_destroy(&f);

    f = xb_proto_done("7");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_DONE && is(m.done.id, "7"));
    xb_frames_destroy(&f);

    f = xb_proto_failed("7", "it broke");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_FAILED && is(m.failed.id, "7") && is(m.failed.message, "it broke"));
    xb_frames_destroy(&f);

    f = xb_proto_history("12", "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_HISTORY && is(m.history.req, "12"));
    CU_ASSERT(is(m.history.thread, "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e"));
    xb_frames_destroy(&f);

    for (size_t n = 0; n < 3; n++) {
        f = xb_proto_history_ok_begin("12", n);
        for (size_t i = 0; i < n; i++)
            CU_ASSERT_EQUAL(xb_proto_history_ok_add(f, i ? "slot\0two" : "", i ? 8 : 0), 0);
        CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
        CU_ASSERT(m.cmd == XB_PROTO_HISTORY_OK && is(m.history_ok.req, "12"));
        CU_ASSERT_EQUAL(m.n, n);
        if (n == 2) {
            CU_ASSERT_EQUAL(xb_proto_history_slot(&m, 0).len, 0);
            CU_ASSERT_EQUAL(xb_proto_history_slot(&m, 1).len, 8); /* binary, NUL inside */
            CU_ASSERT_EQUAL(memcmp(xb_proto_history_slot(&m, 1).ptr, "slot\0two", 8), 0);
        }
        xb_frames_destroy(&f);
    }
}

static void test_client_commands(void)
{
    xb_proto_msg_t m;
    xb_proto_error_t e;
    for (int post = 0; post < 2; post++) {
        xb_frames_t *f = xb_proto_send(post, "p1", "<ping/>", 7, "echo", "tester", NULL);
        CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
        CU_ASSERT_EQUAL(m.cmd, post ? XB_PROTO_POST : XB_PROTO_SEND);
        CU_ASSERT(is(m.send.req, "p1") && is(m.send.body, "<ping/>"));
        CU_ASSERT(is(m.send.to, "echo") && is(m.send.from, "tester"));
        xb_frames_destroy(&f);
        /* to and from may be left out: 4 frames, 5 with only to */
        f = xb_proto_send(post, "p2", "<ping/>", 7, NULL, NULL, NULL);
        CU_ASSERT_EQUAL(xb_frames_count(f), 4);
        CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
        CU_ASSERT(m.send.to.ptr == NULL && m.send.from.ptr == NULL);
        xb_frames_destroy(&f);
        f = xb_proto_send(post, "p3", "<ping/>", 7, "echo", NULL, NULL);
        CU_ASSERT_EQUAL(xb_frames_count(f), 5);
        CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
        CU_ASSERT(is(m.send.to, "echo") && m.send.from.ptr == NULL);
        xb_frames_destroy(&f);
        f = xb_proto_send(post, "p4", "<ping/>", 7, NULL, "tester", NULL);
        CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
        CU_ASSERT(is(m.send.to, "") && is(m.send.from, "tester"));
        CU_ASSERT(m.send.options.ptr == NULL);
        xb_frames_destroy(&f);
        /* the ack option alone: to and from are written empty */
        f = xb_proto_send(post, "p5", "<ping/>", 7, NULL, NULL, XB_PROTO_SEND_ACK);
        CU_ASSERT_EQUAL(xb_frames_count(f), 7);
        CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
        CU_ASSERT(is(m.send.to, "") && is(m.send.from, "") && is(m.send.options, "ack"));
        xb_frames_destroy(&f);
        /* an option the codec does not know is refused */
        f = xb_proto_send(post, "p6", "<ping/>", 7, NULL, NULL, "nack");
        CU_ASSERT_EQUAL(xb_proto_decode(f, 0, XB_PROTO_TO_PUMP, &m, &e), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "(options): expected"));
        xb_frames_destroy(&f);
    }

    /* DELIVER with working-memory entries: name, value pairs after the envelope */
    xb_frames_t *dm = xb_proto_deliver("7", "<m/>", 4);
    CU_ASSERT_EQUAL(xb_proto_deliver_add_entry(dm, "tagline", "<t>x</t>", 8), 0);
    CU_ASSERT_EQUAL(xb_proto_deliver_add_entry(dm, "empty", "", 0), 0);
    CU_ASSERT_EQUAL_FATAL(decode_both(dm, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_DELIVER && m.n == 2 && is(m.deliver.envelope, "<m/>"));
    CU_ASSERT(is(xb_proto_deliver_entry_name(&m, 0), "tagline"));
    CU_ASSERT(is(xb_proto_deliver_entry_value(&m, 0), "<t>x</t>"));
    CU_ASSERT(is(xb_proto_deliver_entry_name(&m, 1), "empty"));
    xb_frames_destroy(&dm);
    const char *ids[3] = {"0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e", "b", "c"};
    xb_frames_t *a = xb_proto_ack(ids, 3);
    CU_ASSERT_EQUAL_FATAL(decode_both(a, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_ACK && m.n == 3);
    CU_ASSERT(is(xb_proto_ack_id(&m, 0), ids[0]) && is(xb_proto_ack_id(&m, 2), "c"));
    xb_frames_destroy(&a);
    a = xb_proto_ack(ids, 0);
    CU_ASSERT_EQUAL_FATAL(decode_both(a, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_ACK && m.n == 0);
    CU_ASSERT_EQUAL(xb_proto_decode(a, 0, XB_PROTO_FROM_PUMP, &m, &e), -1); /* clients send it */
    xb_frames_destroy(&a);

    xb_frames_t *f = xb_proto_accepted("3", "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e",
                                       "5b0d2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e");
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_ACCEPTED && is(m.accepted.req, "3"));
    CU_ASSERT(is(m.accepted.thread, "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e"));
    CU_ASSERT(is(m.accepted.msg_id, "5b0d2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e"));
    xb_frames_destroy(&f);

    f = xb_proto_posted(UINT64_MAX);
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_POSTED && m.posted.n.num == UINT64_MAX);
    xb_frames_destroy(&f);

    f = xb_proto_rejected("3", "<message/>", 10);
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_REJECTED && is(m.rejected.req, "3") &&
              is(m.rejected.envelope, "<message/>"));
    xb_frames_destroy(&f);

    const char *args[] = {"a", "", "c"};
    for (size_t n = 0; n <= 3; n++) {
        f = xb_proto_control("4", "history", args, n);
        CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
        CU_ASSERT(m.cmd == XB_PROTO_CONTROL && is(m.control.req, "4") &&
                  is(m.control.verb, "history"));
        CU_ASSERT_EQUAL_FATAL(m.n, n);
        for (size_t i = 0; i < n; i++)
            CU_ASSERT(is(xb_proto_control_arg(&m, i), args[i]));
        xb_frames_destroy(&f);
    }

    f = xb_proto_result("4", "ok", "<pong/>", 7);
    CU_ASSERT_EQUAL_FATAL(decode_both(f, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_RESULT && is(m.result.status, "ok") &&
              is(m.result.body, "<pong/>"));
    xb_frames_destroy(&f);
}

/* ---- malformed shapes -------------------------------------------------------- */

/* A message from NULL-terminated strings ("\x01" stands for an empty frame
 * nowhere: strings are taken as they are, "" is an empty frame). */
static xb_frames_t *frames(const char *first, ...)
{
    xb_frames_t *f = xb_frames_new();
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        CU_ASSERT_EQUAL(xb_frames_add_str(f, s), 0);
    va_end(ap);
    return f;
}

/* Decoding fails (both offsets) at frame `frame` with `why` in the message
 * and `what` as ERROR's first frame. */
static void refused(xb_frames_t *f, const char *what, int frame, const char *why)
{
    xb_proto_msg_t m;
    xb_proto_error_t e;
    CU_ASSERT_EQUAL(decode_both(f, &m, &e), -1);
    CU_ASSERT_STRING_EQUAL(e.what, what);
    CU_ASSERT_EQUAL(e.frame, frame);
    if (!strstr(e.message, why))
        fprintf(stderr, "\n  got '%s', want '%s'\n", e.message, why);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, why));
    xb_frames_destroy(&f);
}

static void test_missing_and_extra(void)
{
    refused(frames(NULL, NULL), "?", 0, "protocol tag");
    refused(frames("XB1", NULL), "?", 0, "protocol tag");
    refused(frames("XB2", "READY", NULL), "?", 0, "protocol tag");
    refused(frames("xb1", "HEARTBEAT", NULL), "?", 0, "protocol tag");
    refused(frames("XB1", "FROB", NULL), "FROB", 1, "unknown command");
    refused(frames("XB1", "ready", NULL), "ready", 1, "unknown command");
    refused(frames("XB1", "", NULL), "?", 1, "unknown command");
    refused(frames("XB1", "A VERY LONG COMMAND WORD THAT GOES ON AND ON", NULL), "?", 1,
            "unknown command");
    refused(frames("XB1", "READY", "a", "listener", "1", NULL), "READY", 5, "(credit) is missing");
    refused(frames("XB1", "READY", NULL), "READY", 2, "(name) is missing");
    refused(frames("XB1", "HEARTBEAT", "x", NULL), "HEARTBEAT", 2, "1 extra frame");
    refused(frames("XB1", "DONE", "1", "2", "3", NULL), "DONE", 3, "2 extra frame");
    refused(frames("XB1", "READY", "a", "listener", "1", "1", "beats", "tok", "more", NULL),
            "READY", 8, "extra frame");
    refused(frames("XB1", "SEND", "1", "<a/>", "to", "from", "more", NULL), "SEND", 6,
            "(options): expected |ack");
    refused(frames("XB1", "SEND", "1", "<a/>", "to", "from", "ack", "more", NULL), "SEND", 7,
            "extra frame");
    refused(frames("XB1", "SEND", "1", NULL), "SEND", 3, "(body) is missing");
    refused(frames("XB1", "DELIVER", "1", NULL), "DELIVER", 3, "(envelope) is missing");
    refused(frames("XB1", "DELIVER", "1", "<m/>", "extension", NULL), "DELIVER", 4,
            "not pairs of entry");
    refused(frames("XB1", "RESULT", "1", "ok", NULL), "RESULT", 4, "(body) is missing");
    refused(frames("XB1", "WELCOME", "o", "1000", "memory", "", NULL), "WELCOME", 6,
            "(backend-prefix) is missing");
    refused(frames("XB1", "ERROR", "SEND", NULL), "ERROR", 3, "(message) is missing");
}

static void test_bad_values(void)
{
    refused(frames("XB1", "READY", "a", "listener", "12x", "1", NULL), "READY", 4, "not a decimal");
    refused(frames("XB1", "READY", "a", "listener", "-1", "1", NULL), "READY", 4, "not a decimal");
    refused(frames("XB1", "READY", "a", "listener", "+1", "1", NULL), "READY", 4, "not a decimal");
    refused(frames("XB1", "READY", "a", "listener", " 1", "1", NULL), "READY", 4, "not a decimal");
    refused(frames("XB1", "READY", "a", "listener", "", "1", NULL), "READY", 4, "not a decimal");
    refused(frames("XB1", "READY", "a", "listener", "1", "0", NULL), "READY", 5, "not in 1..1000");
    refused(frames("XB1", "READY", "a", "listener", "1", "1001", NULL), "READY", 5,
            "not in 1..1000");
    refused(frames("XB1", "READY", "a", "listener", "99999999999", "1", NULL), "READY", 4,
            "not in");
    refused(frames("XB1", "READY", "a", "listener", "18446744073709551616", "1", NULL), "READY", 4,
            "not a decimal"); /* 2^64 */
    refused(frames("XB1", "READY", "a", "thread", "1", "1", NULL), "READY", 3,
            "expected listener|worker");
    refused(frames("XB1", "READY", "a", "listener", "1", "1", "beat", NULL), "READY", 6,
            "READY frame 7 (beats): expected |beats");
    refused(frames("XB1", "READY", "a", "listener", "1", "1", "", "", NULL), "READY", 7,
            "READY frame 8 (token): empty");
    refused(frames("XB1", "READY", "", "listener", "1", "1", NULL), "READY", 2, "(name): empty");
    char longname[80];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    refused(frames("XB1", "READY", longname, "listener", "1", "1", NULL), "READY", 2,
            "79 bytes, at most 63");
    refused(frames("XB1", "READY", "a", "listener", "1", "1", "", longname, NULL), "READY", 7,
            "READY frame 8 (token): 79 bytes, at most 63");
    refused(frames("XB1", "DONE", longname, NULL), "DONE", 2, "at most 63");
    refused(frames("XB1", "DONE", "", NULL), "DONE", 2, "empty");
    refused(frames("XB1", "SEND", "1", "<a/>", longname, NULL), "SEND", 4, "(to)");
    refused(frames("XB1", "RESULT", "1", "maybe", "", NULL), "RESULT", 3, "expected ok|error");
    refused(frames("XB1", "POSTED", "0", NULL), "POSTED", 2, "not in 1..");
    refused(frames("XB1", "POSTED", "99999999999999999999", NULL), "POSTED", 2, "not a decimal");
    char longarg[300];
    memset(longarg, 'a', sizeof longarg - 1);
    longarg[sizeof longarg - 1] = '\0';
    refused(frames("XB1", "CONTROL", "1", "history", longarg, NULL), "CONTROL", 4,
            "(arg): 299 bytes, at most 255");
}

/* REPLY and HISTORY-OK: the count must match what follows, whatever it is. */
static void test_counts(void)
{
    refused(frames("XB1", "REPLY", "1", "0", NULL), "REPLY", 3, "not in 1..");
    refused(
        frames("XB1", "REPLY", "1", "1", NULL), "REPLY", 3,
        "REPLY frame 4 (n): announces 1, 0 frame(s) follow"); /* counted from 1, as the doc does */
    refused(frames("XB1", "REPLY", "1", "1", "^", NULL), "REPLY", 3, "announces 1, 1 frame(s)");
    refused(frames("XB1", "REPLY", "1", "2", "^", "<a/>", NULL), "REPLY", 3, "announces 2, 2");
    refused(frames("XB1", "REPLY", "1", "1", "^", "<a/>", "x", NULL), "REPLY", 3, "announces 1, 3");
    refused(frames("XB1", "REPLY", "1", "1048576", "^", "<a/>", NULL), "REPLY", 3, "announces");
    refused(frames("XB1", "REPLY", "1", "1048577", "^", "<a/>", NULL), "REPLY", 3,
            "not in 1..1048576");
    refused(frames("XB1", "REPLY", "1", "18446744073709551615", "^", "<a/>", NULL), "REPLY", 3,
            "not in");
    refused(frames("XB1", "REPLY", "1", "99999999999999999999999", NULL), "REPLY", 3,
            "not a decimal");
    refused(frames("XB1", "REPLY", "1", "x", "^", "<a/>", NULL), "REPLY", 3, "not a decimal");
    char longname[80];
    memset(longname, 't', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    refused(frames("XB1", "REPLY", "1", "2", "^", "<a/>", longname, "<b/>", NULL), "REPLY", 6,
            "(target): 79 bytes");
    refused(frames("XB1", "HISTORY-OK", "1", "1", NULL), "HISTORY-OK", 3, "announces 1, 0");
    refused(frames("XB1", "HISTORY-OK", "1", "0", "s", NULL), "HISTORY-OK", 3, "announces 0, 1");
    refused(frames("XB1", "CONTROL", "1", "ping", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
                   "11", "12", "13", "14", "15", "16", "17", NULL),
            "CONTROL", 4, "17 args, at most 16");
}

/* The old check `5 + 2 * n` overflowed for a huge n (the sanitizer build
 * aborted). A count of 2^63, 2^64-1, LONG_MAX or one past 2^64 is refused
 * whatever follows, with frames that n * 2 would wrap to match. */
static void test_huge_counts(void)
{
    static const char *const huge[] = {"9223372036854775808", "18446744073709551615",
                                       "9223372036854775807", "99999999999999999999"};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        const char *why = i == 3 ? "not a decimal" : "not in";
        refused(frames("XB1", "REPLY", "1", huge[i], NULL), "REPLY", 3, why);
        refused(frames("XB1", "REPLY", "1", huge[i], "^", "<a/>", NULL), "REPLY", 3, why);
        refused(frames("XB1", "REPLY", "1", huge[i], "^", "<a/>", "^", NULL), "REPLY", 3, why);
        refused(frames("XB1", "HISTORY-OK", "1", huge[i], NULL), "HISTORY-OK", 3, why);
        refused(frames("XB1", "HISTORY-OK", "1", huge[i], "s", NULL), "HISTORY-OK", 3, why);
        refused(frames("XB1", "HISTORY-OK", "1", huge[i], "s", "t", NULL), "HISTORY-OK", 3, why);
    }
}

static void test_direction_and_error_reply(void)
{
    xb_proto_msg_t m;
    xb_proto_error_t e;
    xb_frames_t *f = xb_proto_welcome("o", 1000, "memory", "", "");
    CU_ASSERT_EQUAL(xb_proto_decode(f, 0, XB_PROTO_TO_PUMP, &m, &e), -1);
    CU_ASSERT_STRING_EQUAL(e.what, "WELCOME");
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "not sent to the pump"));
    CU_ASSERT_EQUAL(xb_proto_decode(f, 0, XB_PROTO_FROM_PUMP, &m, &e), 0);
    xb_frames_destroy(&f);
    f = xb_proto_ready("a", "listener", 1, 1, false, NULL);
    CU_ASSERT_EQUAL(xb_proto_decode(f, 0, XB_PROTO_FROM_PUMP, &m, &e), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "not sent by the pump"));
    /* The answer to it: XB1 ERROR READY <why> */
    xb_frames_t *r = xb_proto_error_reply(&e);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(xb_proto_decode(r, 0, XB_PROTO_EITHER, &m, &e), 0);
    CU_ASSERT(m.cmd == XB_PROTO_ERROR && is(m.error.what, "READY"));
    xb_frames_destroy(&r);
    xb_frames_destroy(&f);
    /* HEARTBEAT and ERROR go both ways. */
    f = xb_proto_heartbeat();
    CU_ASSERT_EQUAL(xb_proto_decode(f, 0, XB_PROTO_TO_PUMP, &m, &e), 0);
    CU_ASSERT_EQUAL(xb_proto_decode(f, 0, XB_PROTO_FROM_PUMP, &m, &e), 0);
    xb_frames_destroy(&f);
    /* A malformed ERROR is never answered. */
    f = frames("XB1", "ERROR", NULL);
    CU_ASSERT_EQUAL(xb_proto_decode(f, 0, XB_PROTO_EITHER, &m, &e), -1);
    CU_ASSERT_PTR_NULL(xb_proto_error_reply(&e));
    xb_frames_destroy(&f);
    /* A wrong offset finds no tag. */
    f = xb_proto_heartbeat();
    CU_ASSERT_EQUAL(xb_proto_decode(f, 1, XB_PROTO_EITHER, &m, &e), -1);
    CU_ASSERT_EQUAL(xb_proto_decode(f, 7, XB_PROTO_EITHER, &m, &e), -1);
    CU_ASSERT_EQUAL(xb_proto_decode(NULL, 0, XB_PROTO_EITHER, &m, &e), -1);
    xb_frames_destroy(&f);
    /* Words and directions from the table. */
    for (int c = 0; c < XB_PROTO__COUNT; c++) {
        const char *w = xb_proto_word((xb_proto_cmd_t)c);
        CU_ASSERT_FATAL(w != NULL);
        CU_ASSERT_EQUAL(xb_proto_cmd_of(w, strlen(w)), c);
        CU_ASSERT(xb_proto_dir((xb_proto_cmd_t)c) != 0);
    }
    CU_ASSERT_PTR_NULL(xb_proto_word(XB_PROTO__COUNT));
    CU_ASSERT_PTR_NULL(xb_proto_word(XB_PROTO_NONE));
    char buf[4];
    xb_proto_val_t v = {"abcd", 4, 0};
    CU_ASSERT_EQUAL(xb_proto_cstr(v, buf, sizeof buf), -1);
    CU_ASSERT_STRING_EQUAL(buf, "abc");
    v.len = 3;
    CU_ASSERT_EQUAL(xb_proto_cstr(v, buf, sizeof buf), 3);
    xb_proto_val_t none = {NULL, 0, 0};
    CU_ASSERT_EQUAL(xb_proto_cstr(none, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "");
    CU_ASSERT_FALSE(xb_proto_is(none, ""));
}

/* ---- fuzz -------------------------------------------------------------------- */

/* xorshift64*: deterministic, so a failure repeats. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void random_frame(xb_frames_t *f, uint64_t *s)
{
    static const char *const picks[] = {"",
                                        "0",
                                        "1",
                                        "2",
                                        "3",
                                        "1000",
                                        "1001",
                                        "-1",
                                        "^",
                                        "beats",
                                        "listener",
                                        "worker",
                                        "ok",
                                        "error",
                                        "XB1",
                                        "REPLY",
                                        "18446744073709551615",
                                        "18446744073709551616",
                                        "4294967297",
                                        "00000000000000000000001"};
    char buf[300];
    switch (rnd(s) % 4) {
    case 0:
    case 1:
        xb_frames_add_str(f, picks[rnd(s) % (sizeof picks / sizeof picks[0])]);
        return;
    case 2: {
        size_t n = rnd(s) % 20;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)('0' + rnd(s) % 10);
        xb_frames_add(f, buf, n);
        return;
    }
    default: {
        size_t n = rnd(s) % sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(rnd(s) & 0xff);
        xb_frames_add(f, buf, n);
        return;
    }
    }
}

/* In the shape of libzmq's tests/test_bind_fuzzer.cpp: random input, and
 * the only demand is that the code under test survives it and answers. */
static void test_fuzz(void)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    size_t decoded = 0;
    for (int iter = 0; iter < 50000; iter++) {
        xb_frames_t *f = xb_frames_new();
        size_t at = rnd(&seed) % 2;
        if (at)
            xb_frames_add(f, RID, 5);
        if (rnd(&seed) % 10)
            xb_frames_add_str(f, XB_PROTO);
        if (rnd(&seed) % 10) {
            xb_proto_cmd_t c = (xb_proto_cmd_t)(rnd(&seed) % XB_PROTO__COUNT);
            xb_frames_add_str(f, xb_proto_word(c));
        }
        size_t extra = rnd(&seed) % 9;
        for (size_t i = 0; i < extra; i++)
            random_frame(f, &seed);
        xb_proto_msg_t m;
        xb_proto_error_t e;
        int rc = xb_proto_decode(f, at, XB_PROTO_EITHER, &m, &e);
        CU_ASSERT(rc == 0 || rc == -1);
        if (rc == 0) {
            decoded++;
            CU_ASSERT(m.cmd >= 0 && m.cmd < XB_PROTO__COUNT);
            for (size_t i = 0; i < m.n; i++)
                for (size_t k = 0; k < m.group_len; k++)
                    CU_ASSERT_PTR_NOT_NULL(xb_proto_item(&m, i, k).ptr);
            CU_ASSERT(m.group_at + m.n * m.group_len <= xb_frames_count(f));
        } else {
            CU_ASSERT(e.message[0] != '\0' && e.what[0] != '\0');
            CU_ASSERT(strlen(e.what) <= XB_PROTO_WORD_MAX);
            xb_frames_t *r = xb_proto_error_reply(&e);
            CU_ASSERT(r != NULL || e.cmd == XB_PROTO_ERROR);
            if (r) {
                xb_proto_msg_t rm;
                xb_proto_error_t re;
                CU_ASSERT_EQUAL(xb_proto_decode(r, 0, XB_PROTO_EITHER, &rm, &re), 0);
            }
            xb_frames_destroy(&r);
        }
        xb_frames_destroy(&f);
    }
    CU_ASSERT(decoded > 100); /* the fuzzer reaches the decoder's far end too */
}

static const xbt_test_t proto_tests[] = {
    {"session commands round-trip", test_session_commands},
    {"delivery commands round-trip", test_delivery_commands},
    {"client commands round-trip", test_client_commands},
    {"missing and extra frames", test_missing_and_extra},
    {"bad numbers and over-long values", test_bad_values},
    {"REPLY and HISTORY-OK counts", test_counts},
    {"huge REPLY and HISTORY-OK counts are refused", test_huge_counts},
    {"direction and the ERROR answer", test_direction_and_error_reply},
    {"fuzz", test_fuzz},
    {NULL, NULL},
};

XBT_SUITES({"proto", NULL, NULL, NULL, NULL, proto_tests});
