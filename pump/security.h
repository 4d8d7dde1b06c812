/* The security of the pump's endpoint (pump/security.c, docs/security.md):
 * the keys the organism admits and the role of each, the ZAP handler that
 * admits them when a CURVE connection is made, and the check of every
 * command against the role of the key that sent it. Without
 * security.server_key none of it exists and every peer may do everything
 * its connection allows (the identity rules of route.c and peers.c still
 * hold). Calls outbox.c (a refused SEND's REJECTED) and core.c. Internal
 * to the pump. */
#ifndef XMLBUS_PUMP_SECURITY_H
#define XMLBUS_PUMP_SECURITY_H

#include "pump_internal.h"

typedef enum {
    XBP_ROLE_NONE,     /* unknown: refused (never reached: ZAP refuses it first) */
    XBP_ROLE_LISTENER, /* registers as its listener only, answers deliveries */
    XBP_ROLE_CLIENT,   /* SEND, POST, ACK; CONTROL ping and history of its own threads */
    XBP_ROLE_ADMIN,    /* everything */
} xbp_role_t;

/* Loads the keys of cfg->security and makes the ROUTER (not bound yet) a
 * CURVE server with a ZAP handler; nothing without server_key. 0, or -1
 * with *err naming the file at fault. */
int xbp_security_init(xb_pump_t *p, xb_error_t *err);
void xbp_security_free(xb_pump_t *p);

/* The ZAP socket to poll (NULL without security), and its requests
 * answered (the loop calls it when the socket is readable). */
void *xbp_security_zap(const xb_pump_t *p);
void xbp_security_on_zap(xb_pump_t *p);

/* Whether the message m, received as f from rid, is allowed to the key that
 * sent it. When it is not, the sender has its answer (REJECTED, RESULT
 * error, REFUSED or ERROR, with `denied`), the attempt is logged
 * (rate-limited) and counted, and false is returned: the pump then does
 * nothing else with it. */
bool xbp_security_admit(xb_pump_t *p, const xbp_rid_t *rid, const xb_frames_t *f,
                        const xb_proto_msg_t *m);

/* The key of the message being handled: its index + 1, 0 without
 * security. A SEND's origin keeps it (origin_t.key). */
int xbp_security_current(const xb_pump_t *p);
/* A SEND of key (as xbp_security_current gave it) was accepted on thread:
 * that thread is the key's own (its history may be read with it). No-op
 * for key 0. */
void xbp_security_owns(xb_pump_t *p, int key, const char *thread);

#endif
