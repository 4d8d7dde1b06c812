/* The outbox (pump/outbox.c): what the pump sends because of what it
 * routed. It sits below both routing (route.c) and the group commit
 * (commit.c), which stage messages and give verdicts through it; it calls
 * only deliver.c, conv.c and core.c. Internal to the pump. */
#ifndef XMLBUS_PUMP_OUTBOX_H
#define XMLBUS_PUMP_OUTBOX_H

#include "pump_internal.h"

/* A message routed and enveloped, waiting for its slot. */
typedef struct {
    lstn_t *listener;    /* NULL: the conversation's client, or a pipeline: */
    int pipeline;        /* the receiving pipeline's index + 1, 0 none */
    bool respond;        /* to a pipeline: it answers one of its steps (routed as a response) */
    bool wmem_given;     /* wmem below is what its listener gets (a pipeline step's needs,
                         read when it was staged), not read again at dispatch */
    xb_wmem_list_t wmem; /* owned */
    char *chain;         /* receiver's chain (owned) */
    char thread[37];
    char msg_id[37];
    char to[XB_NAME_MAX];
    char type[512];
    int64_t ts;
    int depth;
    char *envelope; /* owned; the payload bytes sit inside it */
    size_t len;
    size_t payload_off, payload_len;
    bool is_error;   /* a SystemError to the unit's origin, from `system` */
    bool journaled;  /* its journal entry was written with its slot */
    int redelivered; /* it comes of a message delivered again (marked) */
} staged_t;

#define MAX_STAGED 64

/* What routing one incoming message staged: the messages of a REPLY or of a
 * broadcast, and SystemErrors about the parts that failed. */
typedef struct {
    staged_t items[MAX_STAGED];
    size_t n;
} batch_t;

/* ---- verdicts to clients ---- */
/* ACCEPTED req thread msg_id. */
void xbp_route_accept(xb_pump_t *p, const xbp_rid_t *rid, const char *req, const char *thread,
                      const char *msg_id);
/* REJECTED req with a SystemError envelope of code and message. */
void xbp_route_reject(xb_pump_t *p, const xbp_rid_t *rid, const char *req, const origin_t *o,
                      xb_code_t code, const char *message);
/* One more accepted POST of the client rid (counted, told later). */
void xbp_posted_count(xb_pump_t *p, const xbp_rid_t *rid);
/* Sends POSTED n to rid (NULL: to every client) for the POSTs accepted
 * since its last POSTED; the loop tells everybody at every tick. */
void xbp_posted_send(xb_pump_t *p, const xbp_rid_t *rid);

/* ---- staged messages ---- */
/* Frees what s owns (its chain and envelope). */
void xbp_route_staged_free(staged_t *s);
/* Hands a recorded message to its receiver (a SystemError: to origin).
 * Takes s's buffers. */
void xbp_route_dispatch_staged(xb_pump_t *p, const origin_t *origin, conv_t *conv, staged_t *s);

/* ---- SystemErrors ---- */
/* A SystemError to o about a message that failed while it was routed,
 * staged in batch to join the turn's commit. When it cannot be staged it
 * goes out at once, recorded alone. */
void xbp_outbox_stage_error(xb_pump_t *p, batch_t *batch, const origin_t *o, conv_t *conv,
                            xb_code_t code, const char *message);

#endif
