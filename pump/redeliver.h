/* Redelivery from the journal at start, and dead letters (pump/redeliver.c,
 * docs/reliability.md "The journal"). Internal to the pump. */
#ifndef XMLBUS_PUMP_REDELIVER_H
#define XMLBUS_PUMP_REDELIVER_H

#include "journal.h"

/* A dead letter's id in the journal: this prefix, then the message id. */
#define XBP_DEAD_PREFIX "dead:"

/* Delivers every live journal entry again (or makes it a dead letter past
 * limits.max_redeliveries). The pump calls it when it starts serving. */
void xbp_redeliver_journal(xb_pump_t *p);
/* Delivers e again to its listener (its count + 1 written first), taking
 * e's chain and origin. 0, or -1 with the reason in why. */
int xbp_redeliver_entry(xb_pump_t *p, xbp_jentry_t *e, char *why, size_t cap);
/* Moves e to the dead letters with reason (its last_error). 0 or -1. */
int xbp_dead_letter(xb_pump_t *p, xbp_jentry_t *e, const char *reason);

#endif
