/* Handshake failures of a connecting socket (see handshake.h). */
#include "handshake.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "xmlbus/uuid.h"

/* Connections closed during the handshake this many times in a row are a
 * refusal, not a pump going down. */
#define CLOSED_MAX 3
#define EVENTS                                                                    \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED)

struct xb_handshake_t {
    void *pair; /* reads the monitor's events */
    const char *who, *hint;
    bool curve;
    unsigned event;    /* failure seen (ZMQ_EVENT_HANDSHAKE_FAILED_*), 0 none */
    unsigned value;    /* its value: ZAP status or ZMQ_PROTOCOL_ERROR_* */
    unsigned failures; /* failed handshakes since the last one that succeeded */
};

xb_handshake_t *xb_handshake_watch(void *ctx, void *sock, const char *who, bool curve,
                                   const char *hint, xb_error_t *err)
{
    xb_handshake_t *h = calloc(1, sizeof *h);
    if (!h) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "%s: out of memory", who);
        return NULL;
    }
    h->who = who;
    h->hint = hint;
    h->curve = curve;
    char ep[64 + XB_UUID_LEN] = "inproc://xb-handshake-";
    xb_uuid_new(ep + strlen(ep));
    /* Events without a limit: libzmq blocks its I/O thread on a monitor
     * whose pipe is full, and there are only a few per connection attempt. */
    int zero = 0;
    h->pair = zmq_socket(ctx, ZMQ_PAIR);
    bool monitoring = false;
    if (h->pair && zmq_setsockopt(h->pair, ZMQ_RCVHWM, &zero, sizeof zero) == 0 &&
        zmq_setsockopt(h->pair, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
        (monitoring = zmq_socket_monitor(sock, ep, EVENTS) == 0) && zmq_connect(h->pair, ep) == 0)
        return h;
    xb_error_set(err, XB_ERR_IO, 0, "%s: cannot watch the socket's handshakes: %s", who,
                 zmq_strerror(errno));
    if (monitoring)
        zmq_socket_monitor(sock, NULL, 0);
    if (h->pair)
        zmq_close(h->pair);
    free(h);
    return NULL;
}

void xb_handshake_destroy(xb_handshake_t **hp, void *sock)
{
    if (!hp || !*hp)
        return;
    /* The monitor stops before its reader goes: it would block on a pipe
     * without a reader. */
    zmq_socket_monitor(sock, NULL, 0);
    zmq_close((*hp)->pair);
    free(*hp);
    *hp = NULL;
}

/* Takes the events that arrived: a success clears the failures before it;
 * of the failures since, the last that says why counts. */
static void read_events(xb_handshake_t *h)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, h->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&m) >= sizeof event + sizeof value) {
            memcpy(&event, zmq_msg_data(&m), sizeof event);
            memcpy(&value, (const char *)zmq_msg_data(&m) + sizeof event, sizeof value);
        }
        bool more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        while (more) { /* the endpoint frame */
            zmq_msg_init(&m);
            more = zmq_msg_recv(&m, h->pair, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            h->event = h->value = h->failures = 0;
            continue;
        }
        h->failures++;
        /* A closed connection says less than a refusal or a protocol error
         * seen before it (the peer often closes before its ERROR is read). */
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && h->event)
            continue;
        h->event = event;
        h->value = value;
    }
}

static const char *zap_status_text(unsigned status)
{
    return status == 400 ? ", key not allowed" : status == 300 ? ", try again later" : "";
}

/* What the last failure means, into out. */
static void describe(const xb_handshake_t *h, char *out, size_t cap)
{
    if (h->event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf(out, cap,
                 "the pump refused this %s's key (CURVE handshake failed: the pump's "
                 "authenticator answered %u%s)",
                 h->who, h->value, zap_status_text(h->value));
    else if (h->event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
             h->value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH && h->curve)
        snprintf(out, cap,
                 "the pump does not use CURVE on this endpoint (handshake failed: security "
                 "mechanism mismatch): connect without keys");
    else if (h->event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
             h->value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        snprintf(out, cap,
                 "the pump requires CURVE (handshake failed: security mechanism mismatch): give "
                 "this %s its secret key file and the pump's public key file (%s)",
                 h->who, h->hint);
    else if (h->event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        snprintf(out, cap,
                 "the pump refused this %s's key (CURVE handshake failed: protocol error 0x%x%s)",
                 h->who, h->value,
                 h->value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
                     ? ", a cryptographic error: is the server key the pump's public key?"
                     : "");
    else if (h->curve)
        snprintf(out, cap,
                 "the pump refused this %s's key (CURVE handshake failed: the pump closed the "
                 "connection during the handshake: is the server key the pump's public key, and "
                 "does the pump use CURVE?)",
                 h->who);
    else
        snprintf(out, cap,
                 "the pump closed the connection during the handshake: it may require CURVE "
                 "(give this %s its secret key file and the pump's public key file: %s)",
                 h->who, h->hint);
}

bool xb_handshake_failed(xb_handshake_t *h, bool definite_only, char *why, size_t cap)
{
    if (!h)
        return false;
    read_events(h);
    if (!h->event)
        return false;
    if (definite_only && h->event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL &&
        h->failures < CLOSED_MAX)
        return false;
    describe(h, why, cap);
    return true;
}
