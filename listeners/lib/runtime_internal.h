/* Internals shared by the files of the listener runtime (listeners/lib/).
 * Not installed, not part of the API: see include/xmlbus/listener.h. */
#ifndef XMLBUS_RUNTIME_INTERNAL_H
#define XMLBUS_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "xmlbus/backend.h"
#include "xmlbus/config.h"
#include "xmlbus/envelope.h"
#include "xmlbus/keys.h"
#include "xmlbus/listener.h"
#include "xmlbus/wmem.h"
#include "handshake.h"
#include "proto.h"

#define XB_RT_LINGER_MS 1000 /* what close may still flush to the pump */
#define XB_RT_DEFAULT_HEARTBEAT_MS 1000
#define XB_RT_LIVENESS 3 /* silent intervals before the pump counts as gone */
#define XB_RT_DELIVERY_ID_MAX 64
#define XB_RT_OUTBOX 16    /* answers of a burst sent together */
#define XB_RT_HOLD_US 1000 /* ... held at most this long */

struct xb_listener_t {
    char *endpoint;
    char name[XB_NAME_MAX];
    char kind[16];
    int credit;                      /* deliveries the pump may send ahead (READY) */
    char token[XB_PROTO_ID_MAX + 1]; /* sent in every READY: the pump's child token
                                        (XMLBUS_CHILD_TOKEN) or one of its own */
    char log_comp[XB_NAME_MAX + 16]; /* "listener NAME" for xb_log */
    void *ctx;
    bool own_ctx;
    xb_handler_fn fn;
    void *user;

    int wake_fd;   /* eventfd written by xb_listener_stop */
    int signal_fd; /* signalfd of xb_listener_main, or -1 */
    atomic_bool stop;
    atomic_bool registered;

    pthread_t thread;
    bool ran, started, joined, in_thread;
    int result;
    xb_error_t result_err;

    /* CURVE (xb_listener_set_keys): this listener's keypair and the pump's
     * public key, applied to every new socket. */
    bool curve;
    xb_key_t key, server_key;

    /* One connection to the pump; replaced on reconnect. */
    void *sock;
    xb_handshake_t *hs;  /* its handshake failures (not on inproc://) */
    xb_parser_t *parser; /* one per listener thread, reused */
    char organism[XB_NAME_MAX];
    long heartbeat_ms;
    xb_backend_config_t backend_cfg; /* from WELCOME */
    xb_backend_t *backend;           /* manager/redis, opened on first history read */
    uint64_t last_heard_ms, last_sent_ms;
    bool shutdown_seen; /* SHUTDOWN arrived while a handler ran */
    long next_request;

    /* Messages that arrived while a handler waited for HISTORY-OK. */
    xb_frames_t **pending;
    size_t n_pending, cap_pending;
    /* Answers held while draining a burst of deliveries (runtime.c). */
    xb_frames_t *outbox[XB_RT_OUTBOX];
    size_t n_outbox;
    uint64_t held_since_us; /* when the oldest held answer was ready */
    bool batching;
};

/* One working-memory entry of the DELIVER (memory.c). value borrows the
 * DELIVER's frame; doc is parsed on the first xb_msg_memory. */
typedef struct {
    char name[XB_WMEM_NAME_MAX + 1];
    const char *value;
    size_t len;
    xmlDocPtr doc;
    bool tried; /* parsed once: doc NULL after that means it did not parse */
} xb_msg_entry_t;

/* Strings handed out by xb_msg_text, freed after the handler. */
typedef struct {
    char **items;
    size_t count, cap;
    char *envelope_xml;
    xb_msg_entry_t *entries; /* sorted by name, no name twice */
    size_t n_entries;
} xb_msg_scratch_t;

struct xb_msg_t {
    xb_listener_t *l;
    xb_envelope_t *env;
    const void *raw; /* the DELIVER envelope frame */
    size_t raw_len;
    xb_msg_scratch_t *scratch;
};

typedef struct {
    char *target;
    char *xml;
    size_t len;
} xb_reply_item_t;

struct xb_reply_t {
    const xb_msg_t *msg;
    xb_reply_item_t *items;
    size_t count, cap;
    size_t remembered; /* of count: working-memory writes (target "=NAME") */
    bool failed;
    char reason[XB_ERROR_MESSAGE_MAX];
};

uint64_t xb_rt_now_ms(void);

/* Sends f to the pump (blocking up to the send timeout). 0 or -1 with errno. */
int xb_rt_send(xb_listener_t *l, xb_frames_t *f);

/* Waits for the answer to a HISTORY request (memory backend) and fills *blobs.
 * Other messages that arrive meanwhile are queued for the main loop. */
int xb_rt_history_request(xb_listener_t *l, const char *thread, xb_blob_list_t *blobs,
                          xb_error_t *err);

/* Extra file descriptor whose readability means "stop" (xb_listener_main's
 * signalfd). Set before run. */
void xb_rt_set_signal_fd(xb_listener_t *l, int fd);

/* The token READY carries: the one the pump gave its child process
 * (XMLBUS_CHILD_TOKEN), which proves to the pump that this is its child
 * (docs/security.md). Ignored when empty or too long. Set before run. */
void xb_rt_set_token(xb_listener_t *l, const char *token);

/* Message and reply life cycle (message.c). */
void xb_msg_init(xb_msg_t *msg, xb_listener_t *l, xb_envelope_t *env, const void *raw,
                 size_t raw_len, xb_msg_scratch_t *scratch);
void xb_msg_cleanup(xb_msg_t *msg);
/* Keeps the working-memory entries of DELIVER m with msg (after
 * xb_msg_init; m's frames must outlive the message). Entries with a bad or
 * repeated name are logged and left out. 0, or -1 on no memory. */
int xb_msg_memory_init(xb_msg_t *msg, const xb_proto_msg_t *m);
/* Frees what xb_msg_memory_init and xb_msg_memory kept (xb_msg_cleanup). */
void xb_msg_memory_cleanup(xb_msg_t *msg);
/* True if doc is the parsed document of one of msg's entries. */
bool xb_msg_memory_owns(const xb_msg_t *msg, const xmlDoc *doc);
void xb_reply_init(xb_reply_t *reply, const xb_msg_t *msg);
void xb_reply_cleanup(xb_reply_t *reply);

#endif
