/* The listener runtime (docs/listeners.md).
 *
 * A listener is a handler function plus a main of one line:
 *
 *     static int handle(const xb_msg_t *msg, xb_reply_t *reply, void *user)
 *     {
 *         xmlNodePtr out = xb_payload_new("greeting-reply");
 *         xb_payload_add_text(out, "text", "Hello, %s!", xb_msg_text(msg, "name"));
 *         return xb_reply_respond(reply, out);
 *     }
 *     int main(int argc, char **argv) { return xb_listener_main(argc, argv, handle, NULL); }
 *
 * The runtime connects a DEALER socket to the pump, registers (READY), calls
 * the handler once per delivered message, one message at a time (credit 1),
 * sends what the handler emitted (REPLY, DONE or FAILED), heartbeats while
 * idle, reconnects when the pump falls silent and leaves cleanly (BYE) on
 * SHUTDOWN, SIGTERM/SIGINT (xb_listener_main) or xb_listener_stop. The wire
 * protocol is docs/protocol.md.
 *
 * Threads: one xb_listener_t is driven by one thread (xb_listener_run in the
 * caller's thread, or xb_listener_start's own thread). Several listeners may
 * run in one process, each in its own thread. The handler runs in the
 * listener's thread; a message and a reply are only valid during the call. */
#ifndef XMLBUS_LISTENER_H
#define XMLBUS_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "xmlbus/error.h"
#include "xmlbus/export.h"
#include "xmlbus/slot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xb_listener_t xb_listener_t;
/* One delivered message, borrowed by the handler for the duration of the call. */
typedef struct xb_msg_t xb_msg_t;
/* What the handler emits, collected during the call and sent when it returns. */
typedef struct xb_reply_t xb_reply_t;

/* The handler. Return 0 when done: whatever was emitted with xb_reply_* is
 * sent as one REPLY (several calls = several messages), or DONE when nothing
 * was emitted (this branch of the conversation ends). Return -1 (or call
 * xb_reply_fail) to fail: the emitted messages are dropped and the sender
 * gets a SystemError with code `crash` and the xb_reply_fail message.
 * The handler must not keep msg, reply or any pointer they return. */
typedef int (*xb_handler_fn)(const xb_msg_t *msg, xb_reply_t *reply, void *user);

/* ---- running a listener ------------------------------------------------- */

/* The whole main of a listener executable. Settings, first found wins:
 *   --endpoint E  or XMLBUS_ENDPOINT  (default tcp://127.0.0.1:7400)
 *   --name N      or XMLBUS_LISTENER  (required)
 *   --kind K      or XMLBUS_KIND      (listener | worker, default listener)
 *   --log-level L or XMLBUS_LOG_LEVEL (error | warn | info | debug, default info)
 * Flags may also be written --flag=value. Other arguments are ignored, so
 * that a program may take its own. SIGTERM and SIGINT are blocked in every
 * thread of the process and read through a signalfd: the message in hand is
 * finished, BYE is sent and the process exits 0 (processes that the handler
 * spawns inherit the blocked mask: unblock it in the child if needed).
 * Returns the exit code: 0 after SHUTDOWN or a signal, 1 when the listener
 * could not run (refused by the pump, socket failure), 2 for bad usage. */
XB_EXPORT int xb_listener_main(int argc, char **argv, xb_handler_fn fn, void *user);

/* A listener that will connect to endpoint as name. zmq_ctx NULL: the
 * listener creates and owns its context, and takes CURVE keys from
 * XMLBUS_KEY and XMLBUS_SERVER_KEY when they are set (xb_listener_set_keys);
 * otherwise it borrows zmq_ctx (an
 * inproc:// endpoint needs the pump's context), which must outlive the
 * listener. Nothing connects before run/start. Returns the listener (caller
 * owns it, xb_listener_destroy) or NULL with *err set (XB_ERR_ARG for a
 * missing endpoint, a name that is not a listener name or a NULL fn, the
 * errors of xb_listener_set_keys; XB_ERR_IO, XB_ERR_NOMEM). */
XB_EXPORT xb_listener_t *xb_listener_new(const char *endpoint, const char *name, void *zmq_ctx,
                                         xb_handler_fn fn, void *user, xb_error_t *err);

/* Connects with CURVE: key_path is this listener's secret key file
 * (NAME.key_secret, mode 0600), server_key_path the pump's public key file
 * (NAME.key); a NULL path is taken from the environment (XMLBUS_KEY,
 * XMLBUS_SERVER_KEY), and neither given either way leaves the listener
 * without CURVE. xb_listener_new calls it with NULL, NULL for a listener
 * that owns its context (zmq_ctx NULL: a process such as xb_listener_main's,
 * not a thread on the pump's context). Call before run/start. Returns 0, or
 * -1 with *err set: only one of the two (XB_ERR_ARG), a key file that cannot
 * be used (xb_key_load's codes; a public file as the listener's own key:
 * XB_ERR_ARG). A handshake the pump refuses is logged as an error each time
 * the listener gives up waiting and reconnects. */
XB_EXPORT int xb_listener_set_keys(xb_listener_t *l, const char *key_path,
                                   const char *server_key_path, xb_error_t *err);

/* Registers as kind "listener" (default) or "worker" (one process of a
 * cpu_bound pool). Call before run/start. Returns 0, or -1 with XB_ERR_ARG. */
XB_EXPORT int xb_listener_set_kind(xb_listener_t *l, const char *kind, xb_error_t *err);

/* How many deliveries the pump may send ahead of the one being handled
 * (1..1000, default 1; the pump uses the smaller of this and the listener's
 * `credit` key). Handlers still run one at a time, in order: more credit
 * keeps the listener busy instead of waiting a round trip for each message,
 * at the price of more messages held when the process dies. A listener
 * started by the pump gets its `credit` key in XMLBUS_CREDIT, which
 * xb_listener_main applies. Call before run/start. */
XB_EXPORT int xb_listener_set_credit(xb_listener_t *l, int credit, xb_error_t *err);

/* Runs in the calling thread until SHUTDOWN from the pump or
 * xb_listener_stop (then BYE was sent; returns 0), or a failure: -1 with
 * *err set (XB_ERR_ROUTING when the pump REFUSED the name, XB_ERR_IO for a
 * socket failure, XB_ERR_CONFIG when the envelope schema cannot be loaded).
 * The READY carries this process's pid. A listener runs once. */
XB_EXPORT int xb_listener_run(xb_listener_t *l, xb_error_t *err);

/* Runs the listener in a new thread (READY carries pid 0: the pump does not
 * supervise a thread). Returns 0 once the thread started, -1 with *err. */
XB_EXPORT int xb_listener_start(xb_listener_t *l, xb_error_t *err);

/* Asks a running listener to leave: it finishes the message in hand, sends
 * BYE and returns. Safe from any thread; async-signal-safe. */
XB_EXPORT void xb_listener_stop(xb_listener_t *l);

/* Waits for a listener started with xb_listener_start and returns what
 * xb_listener_run returned (with *err). 0 if it never started. */
XB_EXPORT int xb_listener_join(xb_listener_t *l, xb_error_t *err);

/* Stops and joins a started listener, closes its socket (linger 1 s), frees
 * *l and sets it to NULL. NULL and *l NULL are allowed. */
XB_EXPORT void xb_listener_destroy(xb_listener_t **l);

/* True once WELCOME was received on the current connection (for tests and
 * embedding programs that wait for a thread listener to be registered). */
XB_EXPORT bool xb_listener_registered(const xb_listener_t *l);

/* ---- the delivered message ----------------------------------------------- */
/* Strings and nodes are borrowed: valid until the handler returns. */

/* The payload element (its document is the envelope's: copy it with
 * xb_payload_copy to keep or re-send it). Never NULL. */
XB_EXPORT xmlNodePtr xb_msg_payload(const xb_msg_t *msg);
/* "greeting" for a payload in no namespace, "{ns}local" otherwise. */
XB_EXPORT const char *xb_msg_payload_type(const xb_msg_t *msg);
/* The text of the payload's first child element whose local name is child
 * (any namespace), whitespace kept; "" for an empty element, NULL if there is
 * no such child. */
XB_EXPORT const char *xb_msg_text(const xb_msg_t *msg, const char *child);
/* The thread UUID the message arrived on (the runtime answers on it). */
XB_EXPORT const char *xb_msg_thread(const xb_msg_t *msg);
/* Registered name of the sender ("system" for a SystemError). */
XB_EXPORT const char *xb_msg_from(const xb_msg_t *msg);
/* <to> of the envelope, NULL when absent. */
XB_EXPORT const char *xb_msg_to(const xb_msg_t *msg);
/* This listener's own name. */
XB_EXPORT const char *xb_msg_self(const xb_msg_t *msg);
/* True when the sender is this listener itself (a self call). */
XB_EXPORT bool xb_msg_is_self_call(const xb_msg_t *msg);
/* Message id (UUID, NULL if the envelope has none), hop depth, timestamp in
 * microseconds since the epoch (0 if absent). */
XB_EXPORT const char *xb_msg_id(const xb_msg_t *msg);
XB_EXPORT int xb_msg_depth(const xb_msg_t *msg);
XB_EXPORT int64_t xb_msg_ts(const xb_msg_t *msg);
/* How many times a pump that started again after a crash has delivered this
 * message again (0: the first delivery). The message id stays the same, so
 * a handler with side effects can deduplicate by xb_msg_id. Read from the
 * envelope's <x:redelivered> meta element (docs/envelope.md). */
XB_EXPORT int xb_msg_redelivered(const xb_msg_t *msg);
/* True for a SystemError payload from "system". */
XB_EXPORT bool xb_msg_is_system_error(const xb_msg_t *msg);
/* The whole envelope as delivered (NUL-terminated); *len may be NULL. */
XB_EXPORT const char *xb_msg_envelope_xml(const xb_msg_t *msg, size_t *len);

/* The slots of the message's thread, oldest first (the message itself is the
 * last one). With backend `memory` the runtime asks the pump (HISTORY); with
 * `manager` or `redis` it opens the backend named in WELCOME once and reads it
 * directly. *out is filled (caller owns it: xb_slot_list_free). Returns 0, or
 * -1 with *err set (XB_ERR_BACKEND, XB_ERR_TIMEOUT when the pump does not
 * answer, XB_ERR_SHUTDOWN when the pump is stopping) and *out empty. */
XB_EXPORT int xb_msg_history(const xb_msg_t *msg, xb_slot_list_t *out, xb_error_t *err);

/* ---- working memory (docs/listeners.md "Working memory") ------------------ */
/* The pump sends with each delivery the entries of the conversation's working
 * memory that the listener `needs` (organism.yaml), each one XML element
 * under a name ([A-Za-z_][A-Za-z0-9_.-]{0,62}). */

/* The element of entry name, parsed on the first call with the hardening and
 * limits of the envelope. Borrowed: it belongs to the message (copy it with
 * xb_payload_copy to keep it; handing it to an xb_reply_* call copies it).
 * NULL when the delivery carries no such entry, or when the entry does not
 * parse (logged as a warning, once). */
XB_EXPORT xmlNodePtr xb_msg_memory(const xb_msg_t *msg, const char *name);
/* How many entries the delivery carries. */
XB_EXPORT size_t xb_msg_memory_count(const xb_msg_t *msg);
/* The name of entry i (0 <= i < xb_msg_memory_count), in strcmp order of the
 * names; NULL out of range. Borrowed. */
XB_EXPORT const char *xb_msg_memory_name(const xb_msg_t *msg, size_t i);

/* ---- the reply ----------------------------------------------------------- */
/* Each call takes ownership of payload (an element; a node without document,
 * the root of its own document such as xb_payload_new builds, or a node of
 * another tree, which is unlinked) and queues one message. A node of the
 * delivered message itself (xb_msg_payload) is copied instead, never taken.
 * The payload must be serializable XML (xb_xml_check_tree). Returns 0, or -1
 * with the reply marked failed (the delivery then ends with FAILED and that
 * reason), so a handler may simply `return xb_reply_respond(...)`. */

/* To the caller: the call chain loses its last hop (protocol target "^"). */
XB_EXPORT int xb_reply_respond(xb_reply_t *reply, xmlNodePtr payload);
/* To the listener named target: the chain grows by target. */
XB_EXPORT int xb_reply_forward(xb_reply_t *reply, const char *target, xmlNodePtr payload);
/* To whichever listener accepts the payload's root tag (target ""). */
XB_EXPORT int xb_reply_emit(xb_reply_t *reply, xmlNodePtr payload);
/* Stores payload under name in the conversation's working memory (protocol
 * target "=NAME"): it travels in the same REPLY as the messages and is not
 * sent to anyone. A later write of the same name replaces the entry (in one
 * reply too: the later wins). name must be an entry name
 * [A-Za-z_][A-Za-z0-9_.-]{0,62}; any other name marks the reply failed ("remember: 'x'
 * is not a working-memory entry name") and returns -1, as a bad forward
 * target does. A reply of writes only still goes out as a REPLY. */
XB_EXPORT int xb_reply_remember(xb_reply_t *reply, const char *name, xmlNodePtr payload);
/* Marks the delivery failed with a printf-style reason (the first call
 * wins). Returns -1, so that a handler may `return xb_reply_fail(...)`. */
XB_EXPORT int xb_reply_fail(xb_reply_t *reply, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Messages queued so far (working-memory writes not counted). */
XB_EXPORT size_t xb_reply_count(const xb_reply_t *reply);

/* ---- building payloads --------------------------------------------------- */
/* Payloads are in the empty namespace. Text and attribute values are stored
 * as text and escaped by libxml2 when serialized: a value can never inject
 * markup. Bytes XML cannot carry (invalid UTF-8, control characters) become
 * U+FFFD. */

/* A new element `tag` (an NCName), the root of its own document. Caller owns
 * it (hand it to an xb_reply_* call, or free with xb_payload_free). NULL if
 * tag is not an NCName or on no memory. */
XB_EXPORT xmlNodePtr xb_payload_new(const char *tag);
/* Adds a child element `child` holding the formatted text, and returns it;
 * with child NULL appends the text to parent itself and returns parent.
 * NULL on a bad child name or no memory. */
XB_EXPORT xmlNodePtr xb_payload_add_text(xmlNodePtr parent, const char *child, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds an empty child element and returns it (NULL on a bad name). */
XB_EXPORT xmlNodePtr xb_payload_add_child(xmlNodePtr parent, const char *child);
/* Sets attribute name (an NCName) to the formatted value. Returns 0 or -1. */
XB_EXPORT int xb_payload_set_attr(xmlNodePtr node, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A deep copy of node (e.g. a received payload) as the root of its own
 * document, keeping every namespace it uses. Caller owns it. NULL on no memory. */
XB_EXPORT xmlNodePtr xb_payload_copy(const xmlNode *node);
/* Frees a payload the caller still owns (its whole document when it is the
 * root of one). NULL is allowed. */
XB_EXPORT void xb_payload_free(xmlNodePtr node);
/* The element as UTF-8 XML (no declaration; namespaces it uses declared).
 * *out is malloc'd and NUL-terminated (caller frees), *len may be NULL.
 * Returns 0, or -1 on no memory or a NULL node. */
XB_EXPORT int xb_payload_serialize(const xmlNode *node, char **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
