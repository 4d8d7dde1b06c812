/* A queue of a listener's deliveries (pump/lqueue.c): first in, first out,
 * bounded in messages and in bytes.
 *
 * Intrusive: each item embeds an xbp_lqlink_t, so pushing and removing never
 * allocate, and removing an item from the middle (a delivery that failed
 * while it waited) is O(1). An item is in at most one queue per link. The
 * queue borrows its items: destroying it frees none of them. */
#ifndef XMLBUS_PUMP_LQUEUE_H
#define XMLBUS_PUMP_LQUEUE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct xbp_lqueue_t xbp_lqueue_t;

/* The link an item embeds. Zeroed (or xb_lqlink_init) before first use. */
typedef struct xb_lqlink {
    struct xb_lqlink *prev, *next;
    size_t bytes;           /* what the item counts against the byte bound */
    const xbp_lqueue_t *in; /* the queue it is in, NULL when in none */
} xbp_lqlink_t;

/* The item that embeds link as member. */
#define XBP_LQ_ITEM(link, type, member) ((type *)(void *)((char *)(link)-offsetof(type, member)))

/* A queue of at most max_len items and max_bytes bytes (0: no bound).
 * Caller owns it (xbp_lqueue_destroy). NULL on no memory. */
xbp_lqueue_t *xbp_lqueue_new(long max_len, size_t max_bytes);
/* Frees the queue (never its items) and sets *q to NULL. */
void xbp_lqueue_destroy(xbp_lqueue_t **q);

/* Whether one more item of bytes stays within the bounds. */
bool xbp_lqueue_fits(const xbp_lqueue_t *q, size_t bytes);
/* Appends link (counting bytes). Returns 0, or -1 when it does not fit (the
 * queue is unchanged). */
int xbp_lqueue_push(xbp_lqueue_t *q, xbp_lqlink_t *link, size_t bytes);
/* Puts link first whatever the bounds (an item that was admitted once and
 * comes back, e.g. a delivery retried after its process died). */
void xbp_lqueue_push_front(xbp_lqueue_t *q, xbp_lqlink_t *link, size_t bytes);
/* The first item, NULL when empty. pop also removes it. */
xbp_lqlink_t *xbp_lqueue_peek(const xbp_lqueue_t *q);
xbp_lqlink_t *xbp_lqueue_pop(xbp_lqueue_t *q);
/* Removes link if it is in q; does nothing otherwise. */
void xbp_lqueue_remove(xbp_lqueue_t *q, xbp_lqlink_t *link);
/* The item after link in its queue, NULL at the end. */
xbp_lqlink_t *xbp_lqueue_next(const xbp_lqlink_t *link);

long xbp_lqueue_len(const xbp_lqueue_t *q);
size_t xbp_lqueue_bytes(const xbp_lqueue_t *q);
/* True when the queue holds exactly 80 % of max_len items: checked after a
 * push, it says "warn once on the way up". Never true without a bound. */
bool xbp_lqueue_at_warning(const xbp_lqueue_t *q);

#endif
