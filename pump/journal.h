/* The pump's journal (pump/journal.c, docs/reliability.md "The journal"):
 * every delivery to a listener whose slot was written is also in the
 * backend's journal until it is answered, so that a pump that starts again
 * after a crash delivers it again. This file holds the entry's byte format
 * and the removals queued during a loop turn; redelivery at start is
 * pump/redeliver.c. Internal to the pump. */
#ifndef XMLBUS_PUMP_JOURNAL_H
#define XMLBUS_PUMP_JOURNAL_H

#include "pump_internal.h"

#define XBP_JOURNAL_ERROR_MAX 256

/* What redelivery needs of one delivery, to a listener or (to_client) to
 * a client that acknowledges its answers. Encoding borrows every pointer;
 * decoding allocates chain, root, origin.chain and envelope
 * (xbp_jentry_clear frees them). */
typedef struct {
    char msg_id[37];
    bool to_client; /* an answer to `client` on `thread`; listener is "" */
    char listener[XB_NAME_MAX];
    char *chain; /* receiver's chain */
    char thread[37];
    int depth;
    bool error_payload;
    char *root; /* the conversation's root ("" none) */
    bool has_client;
    bool client_acks;
    xbp_rid_t client;
    char client_hop[XB_NAME_MAX];
    char client_thread[37];
    origin_t origin;
    long count; /* times delivered again after a restart */
    char last_error[XBP_JOURNAL_ERROR_MAX];
    char *envelope;
    size_t len;
} xbp_jentry_t;

/* The entry's bytes into *out (malloc'd, the caller frees it). 0 or -1 (no
 * memory). */
int xbp_jentry_encode(const xbp_jentry_t *e, char **out, size_t *len);
/* Reads bytes into *e (zeroed first). 0, or -1: not an entry (or no memory);
 * *e is cleared then. */
int xbp_jentry_decode(const void *bytes, size_t len, xbp_jentry_t *e);
void xbp_jentry_clear(xbp_jentry_t *e);
/* Fills *e (zeroed first) for an answer to a client that acknowledges;
 * borrows envelope. */
void xbp_jentry_answer(xbp_jentry_t *e, const char *msg_id, const xbp_rid_t *client,
                       const char *thread, const char *envelope, size_t len);
/* Writes e under id alone, outside a turn's batch. 0 or -1 (*err). */
int xbp_journal_put(xb_pump_t *p, const char *id, const xbp_jentry_t *e, xb_error_t *err);

/* d (journaled) failed and is tried again: its entry is written again with
 * why as its last error, which a dead letter made of it later shows. */
void xbp_journal_note_error(xb_pump_t *p, const delivery_t *d, const char *why);

/* Whether the pump journals (backend.journal and a backend that keeps one). */
bool xbp_journal_on(const xb_pump_t *p);
/* The delivery of msg_id is over (answered, failed for good): its entry is
 * removed at the end of the turn (xbp_journal_flush). */
void xbp_journal_done(xb_pump_t *p, const char *msg_id);
/* Removes the entries of the turn's finished deliveries in one backend call;
 * a failure keeps them for the next turn (warned once a second at most). */
void xbp_journal_flush(xb_pump_t *p);
void xbp_journal_free(xb_pump_t *p);

#endif
