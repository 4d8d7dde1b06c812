/* What a running pump says about itself: the counters of `xmlbus stats`
 * (CONTROL stats) and of `xmlbus backend` (CONTROL backend-info), read
 * through a client connected to it. Each call asks the pump once; poll a
 * value with XBT_WAIT_UNTIL (xbt_wait.h). */
#ifndef XBT_STATS_H
#define XBT_STATS_H

#include "xmlbus/client.h"

/* A pump-wide counter of `xmlbus stats` (an attribute of its root element,
 * e.g. "slot-batches"), -1 if absent. */
long xbt_pump_stat(xb_client_t *c, const char *attr);

/* Counts of a listener in `xmlbus stats` XML: attribute attr of the
 * <listener name="..."> element, -1 if absent. */
long xbt_stat(xb_client_t *c, const char *listener, const char *attr);

/* The count of the listener's <error code="code" count="N"/> in `xmlbus
 * stats`: N, 0 when there is no such error, -1 when the stats cannot be read. */
long xbt_stat_errors(xb_client_t *c, const char *listener, const char *code);

/* One process of a listener as `xmlbus stats` lists it. */
typedef struct {
    long pid;
    char state[16]; /* idle, busy, ... */
    long handled;
    long restarts;
} xbt_worker_t;

/* The processes of listener. Returns the count (at most cap filled), -1 when
 * the stats cannot be read. */
int xbt_workers(xb_client_t *c, const char *listener, xbt_worker_t *out, int cap);

/* The pid of a busy process of listener, polled for up to timeout_ms; 0 if
 * none shows up. */
long xbt_wait_busy_worker(xb_client_t *c, const char *listener, int timeout_ms);

/* A counter of `xmlbus backend` (an attribute of its root element, e.g.
 * "slots", "registry-entries"), -1 if absent or unreadable. */
long xbt_backend_info(xb_client_t *c, const char *attr);

#endif
