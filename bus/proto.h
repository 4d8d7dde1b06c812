/* The XB1 codec (docs/protocol.md): every command described once in one
 * table (bus/proto.c), decoded once into named fields, encoded by one
 * function per command.
 *
 * Decoding never copies: the values point into the frames and stay valid
 * while the frames live. Encoders return a new message the caller owns
 * (xb_frames_destroy), or NULL on no memory. */
#ifndef XMLBUS_PROTO_H
#define XMLBUS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    XB_PROTO_READY,
    XB_PROTO_WELCOME,
    XB_PROTO_REFUSED,
    XB_PROTO_HEARTBEAT,
    XB_PROTO_DELIVER,
    XB_PROTO_REPLY,
    XB_PROTO_DONE,
    XB_PROTO_FAILED,
    XB_PROTO_HISTORY,
    XB_PROTO_HISTORY_OK,
    XB_PROTO_BYE,
    XB_PROTO_SHUTDOWN,
    XB_PROTO_SEND,
    XB_PROTO_POST,
    XB_PROTO_ACCEPTED,
    XB_PROTO_POSTED,
    XB_PROTO_ACK,
    XB_PROTO_REJECTED,
    XB_PROTO_CONTROL,
    XB_PROTO_RESULT,
    XB_PROTO_ERROR,
    XB_PROTO__COUNT,
    XB_PROTO_NONE = -1 /* no command (bad tag, unknown word) */
} xb_proto_cmd_t;

/* Who sends a command. */
typedef enum {
    XB_PROTO_TO_PUMP = 1,   /* listeners, workers and clients send it */
    XB_PROTO_FROM_PUMP = 2, /* the pump sends it */
    XB_PROTO_EITHER = 3,
} xb_proto_dir_t;

/* Bounds of the table (bytes, without a NUL). */
#define XB_PROTO_ID_MAX 63   /* delivery ids, request ids, thread and message ids */
#define XB_PROTO_NAME_MAX 63 /* listener, organism and REPLY target names */
/* A REPLY target: a listener name, or "=" and a working-memory entry name */
#define XB_PROTO_TARGET_MAX (XB_PROTO_NAME_MAX + 1)
#define XB_PROTO_WORD_MAX 31 /* command words, CONTROL verbs, kinds, statuses */
#define XB_PROTO_CREDIT_MAX 1000
#define XB_PROTO_ARGS_MAX 16     /* CONTROL arguments */
#define XB_PROTO_FIELDS_MAX 6    /* fixed frames after the command word */
#define XB_PROTO_ACK_MAX 1024    /* message ids in one ACK */
#define XB_PROTO_SEND_ACK "ack"  /* SEND/POST option: the client acknowledges answers */
#define XB_PROTO_ENTRIES_MAX 256 /* working-memory entries that travel with one DELIVER */
/* A REPLY target that starts with this is a working-memory write: the
 * payload is stored under the rest of the target (the entry's name), not
 * routed (docs/protocol.md). */
#define XB_PROTO_REMEMBER '='

/* One frame of a decoded message: its bytes (not NUL-terminated; ptr is
 * NULL only when an optional frame is absent) and, for a number frame,
 * its value. */
typedef struct {
    const char *ptr;
    size_t len;
    uint64_t num;
} xb_proto_val_t;

/* A decoded message. The named views share the array `field` (the table's
 * fixed frames in order, after the command word). */
typedef struct {
    xb_proto_cmd_t cmd;
    const xb_frames_t *frames;
    size_t at;        /* index of the XB1 tag in frames */
    size_t n;         /* repeated groups: REPLY pairs, HISTORY-OK slots, CONTROL args */
    size_t group_at;  /* frame index of group 0 */
    size_t group_len; /* frames per group */
    union {
        xb_proto_val_t field[XB_PROTO_FIELDS_MAX];
        struct {
            xb_proto_val_t name, kind, pid, credit, beats, token;
        } ready;
        struct {
            xb_proto_val_t organism, heartbeat_ms, backend_type, backend_location, backend_prefix;
        } welcome;
        struct {
            xb_proto_val_t reason;
        } refused;
        struct {
            xb_proto_val_t id, envelope;
        } deliver;
        struct {
            xb_proto_val_t id, n;
        } reply;
        struct {
            xb_proto_val_t id;
        } done;
        struct {
            xb_proto_val_t id, message;
        } failed;
        struct {
            xb_proto_val_t req, thread;
        } history;
        struct {
            xb_proto_val_t req, n;
        } history_ok;
        struct {
            xb_proto_val_t req, body, to, from, options;
        } send; /* SEND and POST */
        struct {
            xb_proto_val_t req, thread, msg_id;
        } accepted;
        struct {
            xb_proto_val_t n;
        } posted;
        struct {
            xb_proto_val_t req, envelope;
        } rejected;
        struct {
            xb_proto_val_t req, verb;
        } control;
        struct {
            xb_proto_val_t req, status, body;
        } result;
        struct {
            xb_proto_val_t what, message;
        } error;
    };
} xb_proto_msg_t;

/* Why a message could not be decoded. */
typedef struct {
    xb_proto_cmd_t cmd;               /* the command, XB_PROTO_NONE when unknown */
    char what[XB_PROTO_WORD_MAX + 1]; /* ERROR's first frame: the word, "?" when none */
    int frame;         /* offending frame's index from the tag (0); message counts from 1 */
    char message[192]; /* "READY frame 5 (pid): not a decimal number" */
} xb_proto_error_t;

/* The command word ("READY"), NULL out of range. */
const char *xb_proto_word(xb_proto_cmd_t cmd);
/* The command of a word, XB_PROTO_NONE if unknown. */
xb_proto_cmd_t xb_proto_cmd_of(const void *word, size_t len);
xb_proto_dir_t xb_proto_dir(xb_proto_cmd_t cmd);

/* Decodes the message whose XB1 tag is frame `at` (0 on a DEALER, 1 behind
 * a ROUTER's routing id). `from` is who may send it: XB_PROTO_TO_PUMP for
 * what the pump reads, XB_PROTO_FROM_PUMP for what peers read,
 * XB_PROTO_EITHER for any. Returns 0 with *m filled (valid while f lives),
 * or -1 with *e filled. Never reads beyond the frames. */
int xb_proto_decode(const xb_frames_t *f, size_t at, xb_proto_dir_t from, xb_proto_msg_t *m,
                    xb_proto_error_t *e);

/* Frame k of repeated group i (i < m->n); {NULL, 0, 0} out of range. */
xb_proto_val_t xb_proto_item(const xb_proto_msg_t *m, size_t i, size_t k);
/* Its index in m->frames (for xb_frames_add_frame: forwarding without a copy). */
size_t xb_proto_item_frame(const xb_proto_msg_t *m, size_t i, size_t k);
static inline xb_proto_val_t xb_proto_reply_target(const xb_proto_msg_t *m, size_t i)
{
    return xb_proto_item(m, i, 0);
}
static inline xb_proto_val_t xb_proto_reply_payload(const xb_proto_msg_t *m, size_t i)
{
    return xb_proto_item(m, i, 1);
}
static inline xb_proto_val_t xb_proto_history_slot(const xb_proto_msg_t *m, size_t i)
{
    return xb_proto_item(m, i, 0);
}
/* DELIVER's working-memory entries: name and value of entry i (i < m->n). */
static inline xb_proto_val_t xb_proto_deliver_entry_name(const xb_proto_msg_t *m, size_t i)
{
    return xb_proto_item(m, i, 0);
}
static inline xb_proto_val_t xb_proto_deliver_entry_value(const xb_proto_msg_t *m, size_t i)
{
    return xb_proto_item(m, i, 1);
}
static inline xb_proto_val_t xb_proto_ack_id(const xb_proto_msg_t *m, size_t i)
{
    return xb_proto_item(m, i, 0);
}
static inline xb_proto_val_t xb_proto_control_arg(const xb_proto_msg_t *m, size_t i)
{
    return xb_proto_item(m, i, 0);
}

/* Copies v into buf NUL-terminated; "" for an absent value. Returns the
 * length, or -1 (buf cut to cap-1) when it does not fit. */
long xb_proto_cstr(xb_proto_val_t v, char *buf, size_t cap);
/* True when v holds exactly the string s. */
bool xb_proto_is(xb_proto_val_t v, const char *s);

/* The answer to a message that failed to decode: `XB1 ERROR what message`.
 * NULL when the message was itself an ERROR (never answered) or on no
 * memory. Caller owns it. */
xb_frames_t *xb_proto_error_reply(const xb_proto_error_t *e);

/* ---- encoders: one per command; caller owns the result, NULL on no memory.
 * Strings are NUL-terminated; (ptr, len) bodies are copied unless the name
 * says take. */
/* READY: beats adds the word `beats` (7th frame); a token (NULL or "" for
 * none) goes in the 8th frame, after a 7th frame that is `beats` or empty. */
xb_frames_t *xb_proto_ready(const char *name, const char *kind, long pid, int credit, bool beats,
                            const char *token);
xb_frames_t *xb_proto_welcome(const char *organism, long heartbeat_ms, const char *backend_type,
                              const char *backend_location, const char *backend_prefix);
xb_frames_t *xb_proto_refused(const char *reason);
xb_frames_t *xb_proto_heartbeat(void);
xb_frames_t *xb_proto_deliver(const char *id, const void *envelope, size_t len);
/* Appends one working-memory entry (name, value copied) to a DELIVER. 0 or -1. */
int xb_proto_deliver_add_entry(xb_frames_t *f, const char *name, const void *value, size_t len);
/* REPLY id n, then n calls of xb_proto_reply_add. */
xb_frames_t *xb_proto_reply_begin(const char *id, size_t n);
/* Appends one target and payload; takes ownership of the malloc'd payload
 * (no copy: freed once sent, or at once when this fails). 0 or -1. */
int xb_proto_reply_add(xb_frames_t *f, const char *target, void *payload, size_t len);
xb_frames_t *xb_proto_done(const char *id);
xb_frames_t *xb_proto_failed(const char *id, const char *message);
xb_frames_t *xb_proto_history(const char *req, const char *thread);
/* HISTORY-OK req n, then n calls of xb_proto_history_ok_add (copies). */
xb_frames_t *xb_proto_history_ok_begin(const char *req, size_t n);
int xb_proto_history_ok_add(xb_frames_t *f, const void *slot, size_t len);
xb_frames_t *xb_proto_bye(void);
xb_frames_t *xb_proto_shutdown(void);
/* SEND (post false) or POST. to, from and options may be NULL: left out
 * (a NULL before a frame that is given is written empty). options is
 * XB_PROTO_SEND_ACK or NULL. */
xb_frames_t *xb_proto_send(bool post, const char *req, const void *body, size_t len, const char *to,
                           const char *from, const char *options);
/* ACK, then n message ids (n <= XB_PROTO_ACK_MAX). */
xb_frames_t *xb_proto_ack(const char *const *ids, size_t n);
xb_frames_t *xb_proto_accepted(const char *req, const char *thread, const char *msg_id);
xb_frames_t *xb_proto_posted(uint64_t n);
xb_frames_t *xb_proto_rejected(const char *req, const void *envelope, size_t len);
xb_frames_t *xb_proto_control(const char *req, const char *verb, const char *const *args,
                              size_t nargs);
xb_frames_t *xb_proto_result(const char *req, const char *status, const void *body, size_t len);
xb_frames_t *xb_proto_error(const char *what, const char *message);

#ifdef __cplusplus
}
#endif
#endif
