/* What every file of pump/ uses: the clocks, sending to a routing id,
 * finding a listener by name, asking the loop to stop (xb_pump_stop, which
 * control.c's `shutdown` uses too). Calls no other file of pump/. */
#include "pump_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"

uint64_t xbp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void xbp_pump_clock_read(xb_pump_t *p)
{
    uint64_t now = p->opts.clock(p->opts.clock_user);
    if (now > p->now_ms) /* a clock that stepped back would fire nothing for a while */
        p->now_ms = now;
}

int64_t xbp_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool xbp_rid_eq(const xbp_rid_t *a, const xbp_rid_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

lstn_t *xbp_pump_listener(xb_pump_t *p, const char *name)
{
    for (size_t i = 0; i < p->n_listeners; i++)
        if (strcmp(p->listeners[i].cfg->name, name) == 0)
            return &p->listeners[i];
    return NULL;
}

int xbp_pump_pipeline(const xb_pump_t *p, const char *name, const char *tag)
{
    const xb_config_t *cfg = p->cfg;
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        const xb_pipeline_config_t *pl = &cfg->pipelines[i];
        if (name) {
            if (strcmp(pl->name, name) == 0)
                return (int)i;
            continue;
        }
        for (size_t j = 0; tag && j < pl->n_payloads; j++)
            if (strcmp(pl->payloads[j], tag) == 0)
                return (int)i;
    }
    return -1;
}

int xbp_pump_send_to(xb_pump_t *p, const xbp_rid_t *rid, xb_frames_t *f)
{
    if (xb_frames_prepend(f, rid->data, rid->len) != 0)
        return -1;
    if (xb_frames_send(f, p->router, ZMQ_DONTWAIT) == 0)
        return 0;
    XB_DEBUG("pump", "send to a peer failed: %s", zmq_strerror(errno));
    return -1;
}

static void wake(xb_pump_t *p)
{
    char c = 1;
    if (write(p->wake[1], &c, 1) < 0) {
        /* the pipe is full: the loop is waking up anyway */
    }
}

void xb_pump_stop(xb_pump_t *p)
{
    if (!p)
        return;
    atomic_store(&p->stop_requested, 1);
    wake(p);
}
