/* A client of a running pump (docs/protocol.md, "Client -> pump"): injects
 * messages (SEND), receives the messages addressed to it (DELIVER) and sends
 * control requests (CONTROL). The `xmlbus` command is built on it; any
 * program may use it to talk to an organism.
 *
 * One client is one DEALER socket. It is not thread-safe: use it from one
 * thread at a time (ZeroMQ sockets are not thread-safe either). Every wait
 * goes through zmq_poll with the caller's timeout, so no call blocks longer
 * than the timeout it was given.
 *
 * Timeouts are in milliseconds: a negative timeout waits for ever, 0 only
 * looks at what has already arrived.
 *
 * Messages addressed to the client (responses, SystemErrors) may arrive while
 * it waits for the answer to a SEND or CONTROL; they are kept in arrival
 * order and handed out by xb_client_recv, never lost. That queue is bounded
 * (XB_CLIENT_QUEUE_MAX messages, XB_CLIENT_QUEUE_MAX_BYTES bytes); beyond it
 * further messages are dropped, logged and counted (xb_client_dropped).
 *
 * The client acknowledges every message it takes (ACK, in batches of up to
 * XB_CLIENT_ACK_BATCH, sent before it waits and when it is destroyed): a
 * pump with a journal keeps each answer until then, and sends it again
 * after a crash. Such an answer carries <x:redelivered> in its <meta>: it
 * may be one this client already has (docs/protocol.md, "Acknowledged
 * answers"). */
#ifndef XMLBUS_CLIENT_H
#define XMLBUS_CLIENT_H

#include <stddef.h>

#include <libxml/tree.h>

#include "xmlbus/error.h"
#include "xmlbus/export.h"
#include "xmlbus/uuid.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_CLIENT_QUEUE_MAX 10000
#define XB_CLIENT_QUEUE_MAX_BYTES (64u * 1024u * 1024u)
#define XB_UUID_STR (XB_UUID_LEN + 1) /* a UUID and its NUL */
#define XB_CLIENT_MAX_XML_BYTES (256u * 1024u * 1024u)
/* Answers acknowledged to the pump in one ACK, at most. */
#define XB_CLIENT_ACK_BATCH 64

typedef struct xb_client_t xb_client_t;

/* Connects a DEALER socket to endpoint (any ZeroMQ endpoint; inproc:// needs
 * the pump's context), with CURVE when XMLBUS_KEY and XMLBUS_SERVER_KEY are
 * set (see xb_client_new_secure). The socket gets a routing id of its own ("c" and a
 * random UUID), kept across reconnects: a client that waits while the pump
 * restarts after a crash gets the answers of the messages the pump delivers
 * again (docs/protocol.md, "A client's identity"). zmq_ctx NULL: the client creates and owns its context;
 * otherwise it borrows zmq_ctx, which must outlive the client. Connecting does
 * not wait for the pump: an absent pump shows as a timeout of the first
 * request. Returns the client (caller owns it, release with xb_client_destroy)
 * or NULL with *err set (XB_ERR_ARG bad endpoint, XB_ERR_IO, XB_ERR_NOMEM). */
XB_EXPORT xb_client_t *xb_client_new(const char *endpoint, void *zmq_ctx, xb_error_t *err);

/* xb_client_new with CURVE (docs/security.md): key_path is this client's
 * secret key file (NAME.key_secret, mode 0600), server_key_path the pump's
 * public key file (NAME.key). A NULL path is taken from the environment
 * (XMLBUS_KEY, XMLBUS_SERVER_KEY); when neither is given either way the
 * client connects without CURVE. xb_client_new(ep, ctx, err) is
 * xb_client_new_secure(ep, ctx, NULL, NULL, err): it honours the environment
 * too. Only one of the two: XB_ERR_ARG. A key file that cannot be used fails
 * here (xb_key_load's codes: XB_ERR_PARSE with FILE:LINE, XB_ERR_ARG for a
 * secret file open to others or a public file given as the client's key,
 * XB_ERR_NOTFOUND, XB_ERR_IO).
 *
 * A handshake the pump refuses (its authenticator refuses the key, a wrong
 * server key, CURVE on one side only) is silent on the wire: the client
 * watches its socket's handshake events and a request that gets no answer
 * then fails with XB_ERR_ARG and a message that says so ("the pump refused
 * this client's key (CURVE handshake failed: ...)"), instead of
 * XB_ERR_TIMEOUT. An explicit refusal ends a wait within about a second,
 * even a wait for ever; a connection the pump closed during the handshake
 * is reported when the timeout passes. xb_client_recv then returns -1 with
 * that error instead of 1. */
XB_EXPORT xb_client_t *xb_client_new_secure(const char *endpoint, void *zmq_ctx,
                                            const char *key_path, const char *server_key_path,
                                            xb_error_t *err);

/* Closes the socket (linger 0: a request still queued for an absent pump is
 * dropped, never delivered late), frees the queued messages, terminates an
 * owned context, frees *c and sets it to NULL. NULL and *c NULL are fine. */
XB_EXPORT void xb_client_destroy(xb_client_t **c);

/* Injects one message and waits for the pump's verdict.
 *   body, len  a whole envelope or a bare payload element (the pump decides)
 *   to         overrides <to>; NULL or "" keeps the envelope's / routes by tag
 *   from       the sender's hop name; NULL or "" means "console"
 *   thread_out receives the UUID of the sender's thread (answers arrive on
 *              it); msgid_out the message id. Either may be NULL.
 * Returns 0 when the pump ACCEPTED the message. Returns -1 with *err set when
 *   - the pump REJECTED it: err->code is the SystemError code (routing,
 *     schema, ...) and err->message its message; the whole SystemError
 *     envelope is then available from xb_client_rejection();
 *   - nobody answered within timeout_ms: XB_ERR_TIMEOUT;
 *   - the pump answered ERROR (it could not read the request), or refused
 *     the CURVE handshake (see xb_client_new_secure): XB_ERR_ARG;
 *   - a socket failure: XB_ERR_IO;
 *   - the receive queue is full (the caller does not call xb_client_recv):
 *     XB_ERR_LIMIT, nothing sent. The pump refuses with `limit` too while
 *     too many answers wait for this client (docs/protocol.md,
 *     Backpressure): read them, then send again; nothing is lost.
 * DELIVER messages that arrive meanwhile are queued for xb_client_recv. */
XB_EXPORT int xb_client_send(xb_client_t *c, const void *body, size_t len, const char *to,
                             const char *from, int timeout_ms, char thread_out[XB_UUID_STR],
                             char msgid_out[XB_UUID_STR], xb_error_t *err);

/* Injects one message without waiting for the pump's verdict: for senders that
 * keep many messages in flight (xb_client_send waits a round trip per
 * message). Arguments as xb_client_send; timeout_ms bounds only the hand-over
 * to the socket. Returns 0 once the message is on its way, -1 with *err
 * (XB_ERR_TIMEOUT when it could not even be handed over, XB_ERR_IO,
 * XB_ERR_NOMEM, XB_ERR_LIMIT when the receive queue is full: call
 * xb_client_recv, then post again). Each call first takes what has arrived
 * into the receive queue, so that the pump need not hold it. It goes out as POST (docs/protocol.md): the verdict comes
 * later, read by the other calls: acceptances are only counted (the pump sends
 * POSTED n with its next message to the client, or within 50 ms); a REJECTED
 * is counted and its SystemError envelope is returned by xb_client_recv like
 * any answer (its <to> is the sender, its thread a fresh UUID), so every
 * failure still reaches the sender. */
XB_EXPORT int xb_client_post(xb_client_t *c, const void *body, size_t len, const char *to,
                             const char *from, int timeout_ms, xb_error_t *err);

/* Messages posted, and verdicts read so far (each may be NULL). */
XB_EXPORT void xb_client_post_counts(const xb_client_t *c, unsigned long *posted,
                                     unsigned long *accepted, unsigned long *rejected);

/* The raw envelope (with its SystemError payload) of the REJECTED answer to
 * the last xb_client_send, and its length in *len (may be NULL). NULL when
 * the last send was not rejected. Borrowed: valid until the next
 * xb_client_send or xb_client_destroy. NUL-terminated. */
XB_EXPORT const char *xb_client_rejection(const xb_client_t *c, size_t *len);

/* The next message addressed to this client (a response or a SystemError),
 * queued ones first. Returns
 *    0  *envelope holds the whole envelope document, NUL-terminated, *len its
 *       length (len may be NULL); the caller owns *envelope and frees it;
 *    1  nothing arrived within timeout_ms (*envelope set to NULL; not an
 *       error, *err untouched);
 *   -1  socket failure, or a refused CURVE handshake (XB_ERR_ARG, see
 *       xb_client_new_secure), *err set. */
XB_EXPORT int xb_client_recv(xb_client_t *c, int timeout_ms, char **envelope, size_t *len,
                             xb_error_t *err);

/* Sends CONTROL verb args... and waits for the RESULT.
 * Returns 0 on status ok: *body (NUL-terminated, caller frees; body may be
 * NULL when the caller does not want it) holds the XML document of the verb.
 * Returns -1 with *err set: status error -> XB_ERR_ARG with the pump's
 * one-line message; XB_ERR_TIMEOUT; XB_ERR_ARG when the pump answered ERROR
 * or refused the CURVE handshake (see xb_client_new_secure); XB_ERR_IO. DELIVER messages that arrive meanwhile are queued. */
XB_EXPORT int xb_client_control(xb_client_t *c, const char *verb, const char *const *args,
                                size_t nargs, int timeout_ms, char **body, xb_error_t *err);

/* Messages dropped because the receive queue was full (see above). */
XB_EXPORT unsigned long xb_client_dropped(const xb_client_t *c);

/* The endpoint the client is connected to. Borrowed. */
XB_EXPORT const char *xb_client_endpoint(const xb_client_t *c);

/* Reads the SystemError out of an envelope (a DELIVER from `system` or the
 * envelope of a rejection). Returns 1 and fills *code (may be NULL) and
 * message (cap bytes, NUL-terminated, may be NULL) when the payload is a
 * SystemError; 0 when the envelope carries another payload; -1 when it is not
 * a readable envelope. A missing or unknown code name reads as
 * XB_ERR_ENVELOPE, so that the caller always gets a wire code. */
XB_EXPORT int xb_client_system_error(const char *envelope, size_t len, xb_code_t *code,
                                     char *message, size_t cap);

/* Parses XML the pump sent (an envelope, a RESULT body) with the hardened
 * intake of xmlbus/xmlsafe.h: no DTD, no entities, no network; at most
 * XB_CLIENT_MAX_XML_BYTES, nesting 256, any number of namespace
 * declarations. No envelope.xsd is needed, so a client works without the
 * installed schemas. Returns the document (caller owns it, xmlFreeDoc) or
 * NULL with *err set (XB_ERR_PARSE, XB_ERR_LIMIT, XB_ERR_NOMEM). */
XB_EXPORT xmlDoc *xb_client_read_xml(const char *xml, size_t len, xb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
