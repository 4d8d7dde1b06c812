/* Group commit (pump/commit.c): what the routing of one incoming message
 * staged waits for the end of the event loop's turn; then the slots of the
 * whole turn are written in one backend batch, and only then are the
 * messages delivered and their SENDs answered, in the order they arrived.
 * Also the POSTED counts of clients that POST. Internal to the pump. */
#ifndef XMLBUS_PUMP_COMMIT_H
#define XMLBUS_PUMP_COMMIT_H

#include "pump_internal.h"

/* A message routed and enveloped, waiting for its slot. Routing one
 * incoming message stages what it causes (a REPLY of several messages, a
 * broadcast) in a batch_t, which xb_commit_defer moves into the turn. */
typedef struct {
    lstn_t *listener;         /* NULL: the conversation's client */
    char *chain;              /* receiver's chain (owned) */
    char thread[37];
    char msg_id[37];
    char to[XB_NAME_MAX];
    char type[512];
    int64_t ts;
    int depth;
    char *envelope;           /* owned; the payload bytes sit inside it */
    size_t len;
    size_t payload_off, payload_len;
    bool is_error;            /* a SystemError to the unit's origin, from `system` */
} staged_t;

#define MAX_STAGED 64

typedef struct {
    staged_t items[MAX_STAGED];
    size_t n;
} batch_t;

/* What one incoming message staged, waiting for the end of the loop turn:
 * the slots of every message that arrived in one turn are written in one
 * backend batch (group commit), then each incoming message is finished in
 * the order it arrived. */
typedef struct {
    bool is_send;
    origin_t origin;       /* owned copy: a REPLY's delivery is gone by then */
    conv_t *conv;          /* held (counted in conv->pending) until finished */
    size_t first, n;       /* its messages in the turn's items */
    xb_error_t store_err;  /* why some of its slots were not written */
    /* SEND and POST only: the verdict waits for the slots. */
    bool post;             /* POST: an acceptance is only counted */
    char req[128];
    char msg_id[37];
} unit_t;


/* Moves batch's staged messages into the turn under u (u's origin is
 * copied, its conversation held until the commit) and empties batch.
 * Returns 0; -1 when there was no memory, after failing u's messages. */
int xb_commit_defer(xb_pump_t *p, batch_t *batch, unit_t *u);
/* True when so much waits that the loop should commit before the next
 * message (never inside the routing of one: a commit may end
 * conversations that code still holds). */
bool xb_commit_turn_full(const xb_pump_t *p);
/* Writes the slots of everything deferred since the last commit in one
 * backend batch, then delivers it and answers its SENDs. The event loop
 * calls it at the end of every turn. */
void xb_commit_turn(xb_pump_t *p);
/* Commits what waits and frees the turn's storage. */
void xb_commit_free(xb_pump_t *p);

/* One more accepted POST of the client rid (counted, told later). */
void xb_posted_count(xb_pump_t *p, const xb_rid_t *rid);
/* Sends POSTED n to rid (NULL: to every client) for the POSTs accepted
 * since its last POSTED; the loop tells everybody at every tick. */
void xb_posted_send(xb_pump_t *p, const xb_rid_t *rid);

/* Services of route.c that the commit uses. */
/* Frees what s owns (its chain and envelope). */
void xb_route_staged_free(staged_t *s);
/* Hands a recorded message to its receiver (a SystemError: to origin).
 * Takes s's buffers. */
void xb_route_dispatch_staged(xb_pump_t *p, const origin_t *origin, conv_t *conv, staged_t *s);
/* REJECTED req with a SystemError envelope of code and message. */
void xb_route_reject(xb_pump_t *p, const xb_rid_t *rid, const char *req, const origin_t *o,
                     xb_code_t code, const char *message);
/* ACCEPTED req thread msg_id. */
void xb_route_accept(xb_pump_t *p, const xb_rid_t *rid, const char *req, const char *thread,
                     const char *msg_id);

#endif
