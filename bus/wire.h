/* Multipart ZeroMQ messages of the XB1 protocol (docs/protocol.md).
 *
 * An xb_frames_t is one multipart message: an ordered list of frames kept as
 * zmq_msg_t, so that receiving and forwarding never copy payload bytes. On a
 * ROUTER socket the first frame is the peer's routing id; xb_frames_recv keeps
 * it as frame 0 and xb_frames_send sends whatever frames are there. */
#ifndef XMLBUS_WIRE_H
#define XMLBUS_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XB_PROTO "XB1"

/* Command words. */
#define XB_CMD_READY "READY"
#define XB_CMD_WELCOME "WELCOME"
#define XB_CMD_REFUSED "REFUSED"
#define XB_CMD_HEARTBEAT "HEARTBEAT"
#define XB_CMD_DELIVER "DELIVER"
#define XB_CMD_REPLY "REPLY"
#define XB_CMD_DONE "DONE"
#define XB_CMD_FAILED "FAILED"
#define XB_CMD_HISTORY "HISTORY"
#define XB_CMD_HISTORY_OK "HISTORY-OK"
#define XB_CMD_BYE "BYE"
#define XB_CMD_SHUTDOWN "SHUTDOWN"
#define XB_CMD_SEND "SEND"
#define XB_CMD_ACCEPTED "ACCEPTED"
#define XB_CMD_REJECTED "REJECTED"
#define XB_CMD_POST "POST"
#define XB_CMD_POSTED "POSTED"
#define XB_CMD_ACK "ACK"
#define XB_CMD_CONTROL "CONTROL"
#define XB_CMD_RESULT "RESULT"
#define XB_CMD_ERROR "ERROR"

/* REPLY targets besides a listener name. */
#define XB_TARGET_RESPOND "^"
#define XB_TARGET_BY_TAG ""

typedef struct xb_frames_t xb_frames_t;

/* An empty message. Caller owns it (xb_frames_destroy). NULL on no memory. */
xb_frames_t *xb_frames_new(void);
void xb_frames_destroy(xb_frames_t **f);

/* A message that starts with XB1 and cmd. Caller owns it. */
xb_frames_t *xb_frames_new_cmd(const char *cmd);

/* Appending copies the bytes. Each returns 0, or -1 on no memory. */
int xb_frames_add(xb_frames_t *f, const void *data, size_t len);
int xb_frames_add_str(xb_frames_t *f, const char *s);
int xb_frames_addf(xb_frames_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends data without copying and takes ownership of it: it is released
 * with free() once ZeroMQ has sent it. */
int xb_frames_add_take(xb_frames_t *f, void *data, size_t len);
/* Appends a copy of frame i of src (ZeroMQ shares the bytes, no copy). */
int xb_frames_add_frame(xb_frames_t *f, const xb_frames_t *src, size_t i);
/* Inserts a copy of data as frame 0 (a routing id before sending on a ROUTER). */
int xb_frames_prepend(xb_frames_t *f, const void *data, size_t len);

size_t xb_frames_count(const xb_frames_t *f);
/* Frame i's bytes and size; NULL / 0 when i is out of range. */
const void *xb_frames_data(const xb_frames_t *f, size_t i);
size_t xb_frames_size(const xb_frames_t *f, size_t i);
/* A metadata property of received frame i ("User-Id", "Peer-Address": see
 * zmq_msg_gets), borrowed while f lives; NULL when it has none. */
const char *xb_frames_property(const xb_frames_t *f, size_t i, const char *name);
/* True if frame i exists and equals the string s exactly. */
bool xb_frames_eq(const xb_frames_t *f, size_t i, const char *s);
/* A NUL-terminated malloc'd copy of frame i (caller frees), NULL if absent. */
char *xb_frames_strdup(const xb_frames_t *f, size_t i);
/* Copies frame i into buf (NUL-terminated, truncated to cap-1). Returns the
 * frame length, or -1 if absent or longer than cap-1. */
long xb_frames_copy(const xb_frames_t *f, size_t i, char *buf, size_t cap);
/* Frame i parsed as a decimal long; -1 with *ok false if absent or not a number. */
long xb_frames_long(const xb_frames_t *f, size_t i, bool *ok);

/* Sends every frame; flags as zmq_msg_send (ZMQ_DONTWAIT allowed). On success
 * the frames are consumed and f is empty again; returns 0. On failure returns
 * -1 with errno set (EAGAIN, EHOSTUNREACH, ...) and f keeps its frames. */
int xb_frames_send(xb_frames_t *f, void *socket, int flags);

/* Receives one whole multipart message. Returns a new message the caller owns,
 * or NULL with errno set (EAGAIN with ZMQ_DONTWAIT, ETERM, EINTR). */
xb_frames_t *xb_frames_recv(void *socket, int flags);

/* Index of the XB1 tag: 0 for DEALER-side messages, 1 behind a routing id.
 * Returns true when frames [at] == XB1 and a command frame follows. */
bool xb_frames_is_proto(const xb_frames_t *f, size_t at);

/* Prints the frames to a string for debug logs (caller frees). */
char *xb_frames_describe(const xb_frames_t *f);

#ifdef __cplusplus
}
#endif
#endif
