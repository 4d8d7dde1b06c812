/* A bounded, intrusive FIFO (see lqueue.h). The shape follows Malamute's
 * message queue (a list with a count and a byte total checked on push),
 * with the links inside the items so the pump allocates nothing per
 * message. */
#include "lqueue.h"

#include <stdlib.h>

struct xbp_lqueue_t {
    xbp_lqlink_t *head, *tail;
    long len;
    size_t bytes;
    long max_len;     /* 0: no bound */
    size_t max_bytes; /* 0: no bound */
};

xbp_lqueue_t *xbp_lqueue_new(long max_len, size_t max_bytes)
{
    xbp_lqueue_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->max_len = max_len > 0 ? max_len : 0;
    q->max_bytes = max_bytes;
    return q;
}

void xbp_lqueue_destroy(xbp_lqueue_t **q)
{
    if (!q || !*q)
        return;
    for (xbp_lqlink_t *l = (*q)->head; l; l = l->next)
        l->in = NULL;
    free(*q);
    *q = NULL;
}

bool xbp_lqueue_fits(const xbp_lqueue_t *q, size_t bytes)
{
    if (q->max_len > 0 && q->len >= q->max_len)
        return false;
    return q->max_bytes == 0 || q->bytes + bytes <= q->max_bytes;
}

static void link_in(xbp_lqueue_t *q, xbp_lqlink_t *link, size_t bytes)
{
    link->in = q;
    link->bytes = bytes;
    q->len++;
    q->bytes += bytes;
}

int xbp_lqueue_push(xbp_lqueue_t *q, xbp_lqlink_t *link, size_t bytes)
{
    if (!xbp_lqueue_fits(q, bytes))
        return -1;
    link->prev = q->tail;
    link->next = NULL;
    if (q->tail)
        q->tail->next = link;
    else
        q->head = link;
    q->tail = link;
    link_in(q, link, bytes);
    return 0;
}

void xbp_lqueue_push_front(xbp_lqueue_t *q, xbp_lqlink_t *link, size_t bytes)
{
    link->prev = NULL;
    link->next = q->head;
    if (q->head)
        q->head->prev = link;
    else
        q->tail = link;
    q->head = link;
    link_in(q, link, bytes);
}

xbp_lqlink_t *xbp_lqueue_peek(const xbp_lqueue_t *q)
{
    return q->head;
}

void xbp_lqueue_remove(xbp_lqueue_t *q, xbp_lqlink_t *link)
{
    if (!link || link->in != q)
        return;
    if (link->prev)
        link->prev->next = link->next;
    else
        q->head = link->next;
    if (link->next)
        link->next->prev = link->prev;
    else
        q->tail = link->prev;
    link->prev = link->next = NULL;
    link->in = NULL;
    q->len--;
    q->bytes -= link->bytes;
}

xbp_lqlink_t *xbp_lqueue_pop(xbp_lqueue_t *q)
{
    xbp_lqlink_t *link = q->head;
    xbp_lqueue_remove(q, link);
    return link;
}

xbp_lqlink_t *xbp_lqueue_next(const xbp_lqlink_t *link)
{
    return link ? link->next : NULL;
}

long xbp_lqueue_len(const xbp_lqueue_t *q)
{
    return q->len;
}
size_t xbp_lqueue_bytes(const xbp_lqueue_t *q)
{
    return q->bytes;
}

bool xbp_lqueue_at_warning(const xbp_lqueue_t *q)
{
    long level = q->max_len * 8 / 10;
    return level > 0 && q->len == level;
}
