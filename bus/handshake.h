/* Watches the handshakes of one ZeroMQ socket that connects (a client's or
 * a listener's DEALER): a handshake the peer refuses (its ZAP handler
 * refuses the CURVE key, a wrong server key, CURVE on one side only) is
 * silent on the wire, and shows only as socket monitor events
 * (zmq_socket_monitor). The events are read without blocking, only when the
 * owner asks (when a wait timed out), so that watching costs nothing while
 * messages flow. Internal to libxmlbus. */
#ifndef XMLBUS_HANDSHAKE_H
#define XMLBUS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/error.h"

typedef struct xb_handshake_t xb_handshake_t;

/* Starts watching sock (created in ctx, not yet connected: events from
 * before the watch are lost). who names this side in messages ("client",
 * "listener"); curve tells whether sock is a CURVE client; hint says how to
 * give this side its keys ("XMLBUS_KEY and XMLBUS_SERVER_KEY"). Both strings
 * are borrowed and must outlive the watch. Returns the watch (caller owns
 * it, xb_handshake_destroy before closing sock) or NULL with *err set
 * (XB_ERR_IO, XB_ERR_NOMEM). */
xb_handshake_t *xb_handshake_watch(void *ctx, void *sock, const char *who, bool curve,
                                   const char *hint, xb_error_t *err);

/* Stops watching sock (the socket given to xb_handshake_watch, still open),
 * frees *h and sets it to NULL. NULL and *h NULL are fine. */
void xb_handshake_destroy(xb_handshake_t **h, void *sock);

/* Reads the events that arrived, without waiting. When the last handshake
 * failed (and none succeeded since) writes why into why (cap bytes: "the
 * pump refused this client's key (CURVE handshake failed: ...)") and
 * returns true. With definite_only, a connection the pump closed during the
 * handshake counts only when it happened several times in a row (once may
 * be a pump going down); a refusal by the ZAP handler or a protocol error
 * always counts. */
bool xb_handshake_failed(xb_handshake_t *h, bool definite_only, char *why, size_t cap);

#endif
