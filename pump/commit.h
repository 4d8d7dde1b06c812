/* Group commit (pump/commit.c): what the routing of one incoming message
 * staged waits for the end of the event loop's turn; then the slots of the
 * whole turn are written in one backend batch, and only then are the
 * messages delivered and their SENDs answered (through the outbox), in the
 * order they arrived. Internal to the pump. */
#ifndef XMLBUS_PUMP_COMMIT_H
#define XMLBUS_PUMP_COMMIT_H

#include "outbox.h"
#include "wmem.h"

/* What one incoming message staged, waiting for the end of the loop turn:
 * the slots of every message that arrived in one turn are written in one
 * backend batch (group commit), then each incoming message is finished in
 * the order it arrived. */
typedef struct {
    bool is_send;
    origin_t origin;         /* owned copy: a REPLY's delivery is gone by then */
    conv_t *conv;            /* held (counted in conv->pending) until finished */
    size_t first, n;         /* its messages in the turn's items */
    xb_error_t store_err;    /* why some of its slots were not written */
    xbp_wmem_writes_t *wmem; /* owned: memory writes stored with its first message's slot,
                                in the same backend transaction (a REPLY's) */
    /* SEND and POST only: the verdict waits for the slots. */
    bool post; /* POST: an acceptance is only counted */
    char req[128];
    char msg_id[37];
} unit_t;

/* The turn's storage (xbp_turn_t, commit.c's own) and staging area.
 * Returns 0 or -1 (no memory). */
int xbp_commit_init(xb_pump_t *p);
/* The staging area for the routing of one incoming message, emptied (one,
 * reused: the loop routes one incoming message at a time). */
batch_t *xbp_commit_stage(xb_pump_t *p);
/* Moves batch's staged messages into the turn under u (u's origin is
 * copied, its conversation held until the commit, its wmem taken) and
 * empties batch.
 * Returns 0; -1 when there was no memory, after failing u's messages. */
int xbp_commit_defer(xb_pump_t *p, batch_t *batch, unit_t *u);
/* True when so much waits that the loop should commit before the next
 * message (never inside the routing of one: a commit may end
 * conversations that code still holds). */
bool xbp_commit_turn_full(const xb_pump_t *p);
/* Writes the slots of everything deferred since the last commit in one
 * backend batch, then delivers it and answers its SENDs. The event loop
 * calls it at the end of every turn. */
void xbp_commit_turn(xb_pump_t *p);
/* Commits what waits and frees the turn's storage. */
void xbp_commit_free(xb_pump_t *p);

#endif
