/* Pipelines at run time (pump/pipeline.c, docs/pipelines.md): a message to
 * a pipeline's hop starts a run; each step is an ordinary delivery from the
 * pipeline's hop; responses, SystemErrors and silent ends of steps come
 * back as events (pipeq.h); the run stores results in its working memory,
 * starts the next step, and answers its caller with its output entry or
 * one SystemError. Sits above routing (route.c): it is the only file that
 * calls xbp_route_from_pipeline. Internal to the pump. */
#ifndef XMLBUS_PUMP_PIPELINE_H
#define XMLBUS_PUMP_PIPELINE_H

#include "pump_internal.h"

/* Counters for stats. */
typedef struct {
    uint64_t started, completed, failed;
    uint64_t late;      /* responses and errors of steps whose run had ended: dropped */
    uint64_t cancelled; /* step messages taken out of their queue when their run failed */
    size_t running;
} xbp_pipes_stats_t;

/* The runs' state (p->pipes). 0, or -1 on no memory. */
int xbp_pipelines_init(xb_pump_t *p);
/* Takes every queued event: starts runs, advances them. Their messages
 * join the turn (the caller commits afterwards). Returns how many events
 * it took. */
size_t xbp_pipelines_run(xb_pump_t *p);
/* Whether events wait (the loop must not sleep). */
bool xbp_pipelines_waiting(const xb_pump_t *p);
/* Step and pipeline timeouts. */
void xbp_pipelines_tick(xb_pump_t *p);
/* Fails every run with `shutdown` (its caller hears it) and drops what
 * waits. */
void xbp_pipelines_stop(xb_pump_t *p);
void xbp_pipelines_stats(const xb_pump_t *p, xbp_pipes_stats_t *out);
void xbp_pipelines_free(xb_pump_t *p);

#endif
