/* The XB1 codec (see proto.h): the table of commands, the decoder that reads
 * it, and the encoders. */
#include "proto.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"

typedef enum { T_TEXT, T_BYTES, T_NUM } ftype_t;

#define F_OPT 1u   /* may be left out (only at the end of the fixed frames) */
#define F_COUNT 2u /* the number of repeated groups that follow */

/* One frame: its name, type and bounds (lengths for text, values for
 * numbers); `values` lists the allowed texts ("a|b"), NULL for any. */
typedef struct {
    const char *name;
    ftype_t type;
    unsigned flags;
    uint64_t min, max;
    const char *values;
} field_t;

typedef struct {
    const char *word;
    xb_proto_dir_t dir;
    field_t fields[XB_PROTO_FIELDS_MAX];
    size_t n_fields;
    field_t group[2]; /* a repeated group after the fixed frames */
    size_t group_len; /* 0: none */
    size_t rest_max;  /* a group without F_COUNT takes the rest, at most this many */
} spec_t;

#define LOCATION_MAX 4095 /* an LMDB folder or a Redis URL */
#define PREFIX_MAX 127
#define ARG_MAX 255
#define GROUPS_MAX (1u << 20) /* xb_frames_recv refuses more frames anyway */

#define ID(n)                                  \
    {                                          \
        n, T_TEXT, 0, 1, XB_PROTO_ID_MAX, NULL \
    }
#define NAME(n)                                  \
    {                                            \
        n, T_TEXT, 0, 1, XB_PROTO_NAME_MAX, NULL \
    }
#define WORD(n)                                  \
    {                                            \
        n, T_TEXT, 0, 1, XB_PROTO_WORD_MAX, NULL \
    }
#define TEXT(n, max)               \
    {                              \
        n, T_TEXT, 0, 0, max, NULL \
    }
#define BYTES(n)                         \
    {                                    \
        n, T_BYTES, 0, 0, SIZE_MAX, NULL \
    }
#define NUM(n, lo, hi)            \
    {                             \
        n, T_NUM, 0, lo, hi, NULL \
    }
#define COUNT(n, lo)                            \
    {                                           \
        n, T_NUM, F_COUNT, lo, GROUPS_MAX, NULL \
    }
#define ONE_OF(n, v)                          \
    {                                         \
        n, T_TEXT, 0, 1, XB_PROTO_WORD_MAX, v \
    }

#define NO_FRAMES {{0}}, 0
#define NO_GROUP {{0}}, 0, 0
/* SEND and POST: request-id body [to [from [options]]] */
#define SEND_FRAMES                                                            \
    {ID("request-id"),                                                         \
     BYTES("body"),                                                            \
     {"to", T_TEXT, F_OPT, 0, XB_PROTO_NAME_MAX, NULL},                        \
     {"from", T_TEXT, F_OPT, 0, XB_PROTO_NAME_MAX, NULL},                      \
     {"options", T_TEXT, F_OPT, 0, XB_PROTO_WORD_MAX, "|" XB_PROTO_SEND_ACK}}, \
        5

/* Every command once: word, who sends it, its frames after the word (the
 * first is frame 3 counted from 1, as docs/protocol.md counts) and their
 * number, then its repeated group, the group's frame count and, for a group
 * without a count frame, its most repetitions. */
static const spec_t table[XB_PROTO__COUNT] = {
    [XB_PROTO_READY] = {XB_CMD_READY,
                        XB_PROTO_TO_PUMP,
                        {NAME("name"),
                         ONE_OF("kind", "listener|worker"),
                         NUM("pid", 0, INT32_MAX),
                         NUM("credit", 1, XB_PROTO_CREDIT_MAX),
                         {"beats", T_TEXT, F_OPT, 0, XB_PROTO_WORD_MAX, "|beats"},
                         {"token", T_TEXT, F_OPT, 1, XB_PROTO_ID_MAX, NULL}},
                        6,
                        NO_GROUP},
    [XB_PROTO_WELCOME] = {XB_CMD_WELCOME,
                          XB_PROTO_FROM_PUMP,
                          {NAME("organism"), NUM("heartbeat-ms", 0, INT32_MAX),
                           WORD("backend-type"), TEXT("backend-location", LOCATION_MAX),
                           TEXT("backend-prefix", PREFIX_MAX)},
                          5,
                          NO_GROUP},
    [XB_PROTO_REFUSED] = {XB_CMD_REFUSED, XB_PROTO_FROM_PUMP, {BYTES("reason")}, 1, NO_GROUP},
    [XB_PROTO_HEARTBEAT] = {XB_CMD_HEARTBEAT, XB_PROTO_EITHER, NO_FRAMES, NO_GROUP},
    [XB_PROTO_DELIVER] = {XB_CMD_DELIVER,
                          XB_PROTO_FROM_PUMP,
                          {ID("delivery-id"), BYTES("envelope")},
                          2,
                          {NAME("entry"), BYTES("value")},
                          2,
                          XB_PROTO_ENTRIES_MAX},
    [XB_PROTO_REPLY] = {XB_CMD_REPLY,
                        XB_PROTO_TO_PUMP,
                        {ID("delivery-id"), COUNT("n", 1)},
                        2,
                        {TEXT("target", XB_PROTO_TARGET_MAX), BYTES("payload")},
                        2,
                        0},
    [XB_PROTO_DONE] = {XB_CMD_DONE, XB_PROTO_TO_PUMP, {ID("delivery-id")}, 1, NO_GROUP},
    [XB_PROTO_FAILED] =
        {XB_CMD_FAILED, XB_PROTO_TO_PUMP, {ID("delivery-id"), BYTES("message")}, 2, NO_GROUP},
    [XB_PROTO_HISTORY] =
        {XB_CMD_HISTORY, XB_PROTO_TO_PUMP, {ID("request-id"), ID("thread")}, 2, NO_GROUP},
    [XB_PROTO_HISTORY_OK] = {XB_CMD_HISTORY_OK,
                             XB_PROTO_FROM_PUMP,
                             {ID("request-id"), COUNT("n", 0)},
                             2,
                             {BYTES("slot")},
                             1,
                             0},
    [XB_PROTO_BYE] = {XB_CMD_BYE, XB_PROTO_TO_PUMP, NO_FRAMES, NO_GROUP},
    [XB_PROTO_SHUTDOWN] = {XB_CMD_SHUTDOWN, XB_PROTO_FROM_PUMP, NO_FRAMES, NO_GROUP},
    [XB_PROTO_SEND] = {XB_CMD_SEND, XB_PROTO_TO_PUMP, SEND_FRAMES, NO_GROUP},
    [XB_PROTO_POST] = {XB_CMD_POST, XB_PROTO_TO_PUMP, SEND_FRAMES, NO_GROUP},
    [XB_PROTO_ACCEPTED] = {XB_CMD_ACCEPTED,
                           XB_PROTO_FROM_PUMP,
                           {ID("request-id"), ID("thread"), ID("message-id")},
                           3,
                           NO_GROUP},
    [XB_PROTO_POSTED] = {XB_CMD_POSTED, XB_PROTO_FROM_PUMP, {NUM("n", 1, UINT64_MAX)}, 1, NO_GROUP},
    [XB_PROTO_ACK] =
        {XB_CMD_ACK, XB_PROTO_TO_PUMP, NO_FRAMES, {ID("message-id")}, 1, XB_PROTO_ACK_MAX},
    [XB_PROTO_REJECTED] =
        {XB_CMD_REJECTED, XB_PROTO_FROM_PUMP, {ID("request-id"), BYTES("envelope")}, 2, NO_GROUP},
    [XB_PROTO_CONTROL] = {XB_CMD_CONTROL,
                          XB_PROTO_TO_PUMP,
                          {ID("request-id"), WORD("verb")},
                          2,
                          {TEXT("arg", ARG_MAX)},
                          1,
                          XB_PROTO_ARGS_MAX},
    [XB_PROTO_RESULT] = {XB_CMD_RESULT,
                         XB_PROTO_FROM_PUMP,
                         {ID("request-id"), ONE_OF("status", "ok|error"), BYTES("body")},
                         3,
                         NO_GROUP},
    [XB_PROTO_ERROR] =
        {XB_CMD_ERROR, XB_PROTO_EITHER, {WORD("what"), BYTES("message")}, 2, NO_GROUP},
};

const char *xb_proto_word(xb_proto_cmd_t cmd)
{
    return cmd >= 0 && cmd < XB_PROTO__COUNT ? table[cmd].word : NULL;
}

xb_proto_dir_t xb_proto_dir(xb_proto_cmd_t cmd)
{
    return cmd >= 0 && cmd < XB_PROTO__COUNT ? table[cmd].dir : 0;
}

xb_proto_cmd_t xb_proto_cmd_of(const void *word, size_t len)
{
    for (int c = 0; word && c < XB_PROTO__COUNT; c++)
        if (strlen(table[c].word) == len && memcmp(table[c].word, word, len) == 0)
            return (xb_proto_cmd_t)c;
    return XB_PROTO_NONE;
}

/* ---- decoding -------------------------------------------------------------- */

static int fail(xb_proto_error_t *e, int frame, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(xb_proto_error_t *e, int frame, const char *fmt, ...)
{
    e->frame = frame;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static xb_proto_val_t frame_val(const xb_frames_t *f, size_t i)
{
    const char *p = xb_frames_data(f, i);
    xb_proto_val_t v = {p ? p : "", xb_frames_size(f, i), 0};
    return v;
}

/* Strict decimal: digits only, no sign, no spaces, no overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool one_of(const char *values, const char *s, size_t len)
{
    for (const char *v = values; *v;) {
        const char *bar = strchr(v, '|');
        size_t n = bar ? (size_t)(bar - v) : strlen(v);
        if (n == len && memcmp(v, s, len) == 0)
            return true;
        v += n + (bar ? 1 : 0);
    }
    return false;
}

/* Checks frame i against fld and stores it in *out. */
static int check(const spec_t *s, const field_t *fld, const xb_frames_t *f, size_t i, size_t at,
                 xb_proto_val_t *out, xb_proto_error_t *e)
{
    xb_proto_val_t v = frame_val(f, i);
    int rel = (int)(i - at);
    int nth = rel + 1; /* messages count frames from 1, as docs/protocol.md does */
    if (fld->type == T_NUM) {
        if (!parse_u64(v.ptr, v.len, &v.num))
            return fail(e, rel, "%s frame %d (%s): not a decimal number", s->word, nth, fld->name);
        if (v.num < fld->min || v.num > fld->max)
            return fail(e, rel, "%s frame %d (%s): %llu is not in %llu..%llu", s->word, nth,
                        fld->name, (unsigned long long)v.num, (unsigned long long)fld->min,
                        (unsigned long long)fld->max);
    } else if (fld->type == T_TEXT) {
        if (v.len < fld->min)
            return fail(e, rel, "%s frame %d (%s): empty", s->word, nth, fld->name);
        if (v.len > fld->max)
            return fail(e, rel, "%s frame %d (%s): %zu bytes, at most %llu", s->word, nth,
                        fld->name, v.len, (unsigned long long)fld->max);
        if (fld->values && !one_of(fld->values, v.ptr, v.len))
            return fail(e, rel, "%s frame %d (%s): expected %s", s->word, nth, fld->name,
                        fld->values);
    }
    *out = v;
    return 0;
}

/* The command word of frame i for an ERROR's first frame: printable and
 * short, otherwise "?". */
static void word_for_error(const xb_frames_t *f, size_t i, char *out, size_t cap)
{
    xb_proto_val_t v = frame_val(f, i);
    bool ok = v.len > 0 && v.len < cap;
    for (size_t k = 0; ok && k < v.len; k++)
        ok = v.ptr[k] > ' ' && v.ptr[k] < 127;
    if (!ok) {
        xb_strlcpy(out, "?", cap);
        return;
    }
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
}

static int decode_group(const spec_t *s, const xb_frames_t *f, size_t i, xb_proto_msg_t *m,
                        xb_proto_error_t *e)
{
    size_t rest = xb_frames_count(f) - i;
    int count_field = -1;
    for (size_t k = 0; k < s->n_fields; k++)
        if (s->fields[k].flags & F_COUNT)
            count_field = (int)k;
    uint64_t n;
    if (count_field >= 0) {
        n = m->field[count_field].num;
        /* Divide first: a huge n never overflows. */
        if (n > rest / s->group_len || n * s->group_len != rest)
            return fail(e, count_field + 2, "%s frame %d (%s): announces %llu, %zu frame(s) follow",
                        s->word, count_field + 3, s->fields[count_field].name,
                        (unsigned long long)n, rest);
    } else {
        if (rest % s->group_len != 0)
            return fail(e, (int)(i - m->at),
                        "%s: %zu frame(s) after the fixed ones, not pairs of %s", s->word, rest,
                        s->group[0].name);
        n = rest / s->group_len;
        if (n > s->rest_max)
            return fail(e, (int)(i - m->at), "%s: %zu %ss, at most %zu", s->word, (size_t)n,
                        s->group[0].name, s->rest_max);
    }
    m->n = (size_t)n;
    m->group_at = i;
    m->group_len = s->group_len;
    xb_proto_val_t dummy;
    for (size_t g = 0; g < m->n; g++)
        for (size_t k = 0; k < s->group_len; k++)
            if (check(s, &s->group[k], f, i + g * s->group_len + k, m->at, &dummy, e) != 0)
                return -1;
    return 0;
}

int xb_proto_decode(const xb_frames_t *f, size_t at, xb_proto_dir_t from, xb_proto_msg_t *m,
                    xb_proto_error_t *e)
{
    memset(m, 0, sizeof *m);
    memset(e, 0, sizeof *e);
    m->cmd = XB_PROTO_NONE;
    m->frames = f;
    m->at = at;
    e->cmd = XB_PROTO_NONE;
    xb_strlcpy(e->what, "?", sizeof e->what);
    size_t count = xb_frames_count(f);
    if (!f || at + 1 >= count || !xb_frames_eq(f, at, XB_PROTO))
        return fail(e, 0, "expected the protocol tag %s then a command", XB_PROTO);
    xb_proto_val_t w = frame_val(f, at + 1);
    xb_proto_cmd_t cmd = xb_proto_cmd_of(w.ptr, w.len);
    word_for_error(f, at + 1, e->what, sizeof e->what);
    if (cmd == XB_PROTO_NONE)
        return fail(e, 1, "unknown command");
    const spec_t *s = &table[cmd];
    e->cmd = cmd;
    if (!(s->dir & from))
        return fail(e, 1, "%s is not sent %s", s->word,
                    from == XB_PROTO_TO_PUMP ? "to the pump" : "by the pump");
    size_t i = at + 2;
    for (size_t k = 0; k < s->n_fields; k++, i++) {
        const field_t *fld = &s->fields[k];
        if (i >= count) {
            if (fld->flags & F_OPT)
                break;
            return fail(e, (int)(i - at), "%s: frame %zu (%s) is missing", s->word, i - at + 1,
                        fld->name);
        }
        if (check(s, fld, f, i, at, &m->field[k], e) != 0)
            return -1;
    }
    if (s->group_len) {
        if (decode_group(s, f, i, m, e) != 0)
            return -1;
    } else if (i < count) {
        return fail(e, (int)(i - at), "%s: %zu extra frame(s) from frame %zu on", s->word,
                    count - i, i - at + 1);
    }
    m->cmd = cmd;
    return 0;
}

size_t xb_proto_item_frame(const xb_proto_msg_t *m, size_t i, size_t k)
{
    return m->group_at + i * m->group_len + k;
}

xb_proto_val_t xb_proto_item(const xb_proto_msg_t *m, size_t i, size_t k)
{
    xb_proto_val_t none = {NULL, 0, 0};
    if (i >= m->n || k >= m->group_len)
        return none;
    return frame_val(m->frames, xb_proto_item_frame(m, i, k));
}

long xb_proto_cstr(xb_proto_val_t v, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return -1;
    size_t n = v.len < cap ? v.len : cap - 1;
    if (n)
        memcpy(buf, v.ptr, n);
    buf[n] = '\0';
    return v.len < cap ? (long)v.len : -1;
}

bool xb_proto_is(xb_proto_val_t v, const char *s)
{
    return v.ptr && strlen(s) == v.len && memcmp(v.ptr, s, v.len) == 0;
}

xb_frames_t *xb_proto_error_reply(const xb_proto_error_t *e)
{
    if (e->cmd == XB_PROTO_ERROR)
        return NULL; /* never answer an ERROR with an ERROR */
    return xb_proto_error(e->what, e->message);
}

/* ---- encoding -------------------------------------------------------------- */

/* A message of cmd with the given string frames (NULL ends the list). */
static xb_frames_t *with_strs(xb_proto_cmd_t cmd, int n, ...)
{
    xb_frames_t *f = xb_frames_new_cmd(table[cmd].word);
    va_list ap;
    va_start(ap, n);
    for (int k = 0; f && k < n; k++) {
        const char *s = va_arg(ap, const char *);
        if (xb_frames_add_str(f, s ? s : "") != 0)
            xb_frames_destroy(&f);
    }
    va_end(ap);
    return f;
}

static xb_frames_t *add_bytes(xb_frames_t *f, const void *data, size_t len)
{
    if (f && xb_frames_add(f, len ? data : "", len) != 0)
        xb_frames_destroy(&f);
    return f;
}

static xb_frames_t *add_u64(xb_frames_t *f, uint64_t v)
{
    char buf[24];
    xb_u64_to_dec(buf, v);
    if (f && xb_frames_add_str(f, buf) != 0)
        xb_frames_destroy(&f);
    return f;
}

xb_frames_t *xb_proto_ready(const char *name, const char *kind, long pid, int credit, bool beats,
                            const char *token)
{
    xb_frames_t *f = with_strs(XB_PROTO_READY, 2, name, kind);
    f = add_u64(f, pid > 0 ? (uint64_t)pid : 0);
    f = add_u64(f, credit > 0 ? (uint64_t)credit : 0);
    bool has_token = token && token[0];
    /* The token comes after the beats frame: empty when no beats. */
    if ((beats || has_token) && f && xb_frames_add_str(f, beats ? "beats" : "") != 0)
        xb_frames_destroy(&f);
    if (has_token && f && xb_frames_add_str(f, token) != 0)
        xb_frames_destroy(&f);
    return f;
}

xb_frames_t *xb_proto_welcome(const char *organism, long heartbeat_ms, const char *backend_type,
                              const char *backend_location, const char *backend_prefix)
{
    xb_frames_t *f = with_strs(XB_PROTO_WELCOME, 1, organism);
    f = add_u64(f, heartbeat_ms > 0 ? (uint64_t)heartbeat_ms : 0);
    if (f && (xb_frames_add_str(f, backend_type) != 0 ||
              xb_frames_add_str(f, backend_location ? backend_location : "") != 0 ||
              xb_frames_add_str(f, backend_prefix ? backend_prefix : "") != 0))
        xb_frames_destroy(&f);
    return f;
}

xb_frames_t *xb_proto_refused(const char *reason)
{
    return with_strs(XB_PROTO_REFUSED, 1, reason);
}

xb_frames_t *xb_proto_heartbeat(void)
{
    return with_strs(XB_PROTO_HEARTBEAT, 0);
}
xb_frames_t *xb_proto_bye(void)
{
    return with_strs(XB_PROTO_BYE, 0);
}
xb_frames_t *xb_proto_shutdown(void)
{
    return with_strs(XB_PROTO_SHUTDOWN, 0);
}

xb_frames_t *xb_proto_deliver(const char *id, const void *envelope, size_t len)
{
    return add_bytes(with_strs(XB_PROTO_DELIVER, 1, id), envelope, len);
}

int xb_proto_deliver_add_entry(xb_frames_t *f, const char *name, const void *value, size_t len)
{
    if (xb_frames_add_str(f, name) != 0)
        return -1;
    return xb_frames_add(f, len ? value : "", len);
}

xb_frames_t *xb_proto_reply_begin(const char *id, size_t n)
{
    return add_u64(with_strs(XB_PROTO_REPLY, 1, id), n);
}

int xb_proto_reply_add(xb_frames_t *f, const char *target, void *payload, size_t len)
{
    if (xb_frames_add_str(f, target ? target : "") != 0) {
        free(payload);
        return -1;
    }
    return xb_frames_add_take(f, payload, len); /* frees it on failure */
}

xb_frames_t *xb_proto_done(const char *id)
{
    return with_strs(XB_PROTO_DONE, 1, id);
}

xb_frames_t *xb_proto_failed(const char *id, const char *message)
{
    return with_strs(XB_PROTO_FAILED, 2, id, message);
}

xb_frames_t *xb_proto_history(const char *req, const char *thread)
{
    return with_strs(XB_PROTO_HISTORY, 2, req, thread);
}

xb_frames_t *xb_proto_history_ok_begin(const char *req, size_t n)
{
    return add_u64(with_strs(XB_PROTO_HISTORY_OK, 1, req), n);
}

int xb_proto_history_ok_add(xb_frames_t *f, const void *slot, size_t len)
{
    return xb_frames_add(f, len ? slot : "", len);
}

xb_frames_t *xb_proto_send(bool post, const char *req, const void *body, size_t len, const char *to,
                           const char *from, const char *options)
{
    xb_frames_t *f = add_bytes(with_strs(post ? XB_PROTO_POST : XB_PROTO_SEND, 1, req), body, len);
    if (f && (to || from || options) && xb_frames_add_str(f, to ? to : "") != 0)
        xb_frames_destroy(&f);
    if (f && (from || options) && xb_frames_add_str(f, from ? from : "") != 0)
        xb_frames_destroy(&f);
    if (f && options && xb_frames_add_str(f, options) != 0)
        xb_frames_destroy(&f);
    return f;
}

xb_frames_t *xb_proto_ack(const char *const *ids, size_t n)
{
    xb_frames_t *f = with_strs(XB_PROTO_ACK, 0);
    for (size_t i = 0; f && i < n; i++)
        if (xb_frames_add_str(f, ids[i]) != 0)
            xb_frames_destroy(&f);
    return f;
}

xb_frames_t *xb_proto_accepted(const char *req, const char *thread, const char *msg_id)
{
    return with_strs(XB_PROTO_ACCEPTED, 3, req, thread, msg_id);
}

xb_frames_t *xb_proto_posted(uint64_t n)
{
    return add_u64(with_strs(XB_PROTO_POSTED, 0), n);
}

xb_frames_t *xb_proto_rejected(const char *req, const void *envelope, size_t len)
{
    return add_bytes(with_strs(XB_PROTO_REJECTED, 1, req), envelope, len);
}

xb_frames_t *xb_proto_control(const char *req, const char *verb, const char *const *args,
                              size_t nargs)
{
    xb_frames_t *f = with_strs(XB_PROTO_CONTROL, 2, req, verb);
    for (size_t i = 0; f && i < nargs; i++)
        if (xb_frames_add_str(f, args[i] ? args[i] : "") != 0)
            xb_frames_destroy(&f);
    return f;
}

xb_frames_t *xb_proto_result(const char *req, const char *status, const void *body, size_t len)
{
    return add_bytes(with_strs(XB_PROTO_RESULT, 2, req, status), body, len);
}

xb_frames_t *xb_proto_error(const char *what, const char *message)
{
    return with_strs(XB_PROTO_ERROR, 2, what && *what ? what : "?", message);
}
