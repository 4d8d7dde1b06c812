/* What reaches a pipeline (pump/pipeq.c): messages routed to a pipeline's
 * hop, SystemErrors to a run, and steps that ended without a response. The
 * files below pipeline.c push them (they cannot call it: it sits above
 * routing); pipeline.c takes them after each commit. Internal to the pump. */
#ifndef XMLBUS_PUMP_PIPEQ_H
#define XMLBUS_PUMP_PIPEQ_H

#include "pump_internal.h"

typedef enum {
    XBP_PEV_MESSAGE, /* a recorded message to the pipeline's hop */
    XBP_PEV_ERROR,   /* a SystemError to a run (origin.pipeline set) */
    XBP_PEV_DONE,    /* a step's delivery ended without a response or a forward */
} xbp_pev_kind_t;

typedef struct xbp_pev xbp_pev_t;
struct xbp_pev {
    xbp_pev_kind_t kind;
    int pipeline;    /* index in cfg->pipelines; -1: whichever run ref names */
    bool error;      /* MESSAGE: its payload is a SystemError (passed on) */
    bool respond;    /* MESSAGE: routed as a response (to the run of from.pipe_ref),
                         else it starts a run */
    conv_t *conv;    /* held (conv->pending) until the event is freed; may be NULL */
    origin_t from;   /* owned copy: who sent it (a new run's caller) */
    uint64_t ref;    /* the step item it is about (from.pipe_ref, or the run's) */
    char *chain;     /* MESSAGE: the pipeline hop's chain (owned) */
    char thread[37]; /* MESSAGE: the pipeline hop's thread */
    char msg_id[37]; /* MESSAGE: its id */
    int depth;       /* MESSAGE: its hop depth */
    char *data;      /* MESSAGE: the payload; ERROR: the message (owned, NUL-ended) */
    size_t len;
    xb_code_t code; /* ERROR */
    xbp_pev_t *next;
};

/* A new event of kind about pipeline (index), holding conv. NULL on no
 * memory (logged by the caller). from is copied. */
xbp_pev_t *xbp_pev_new(xb_pump_t *p, xbp_pev_kind_t kind, int pipeline, conv_t *conv,
                       const origin_t *from);
/* Queues e (taken). */
void xbp_pipeq_push(xb_pump_t *p, xbp_pev_t *e);
/* The oldest event (the caller owns it), or NULL. */
xbp_pev_t *xbp_pipeq_pop(xb_pump_t *p);
/* Frees *e, releases its hold on its conversation, sets *e NULL. */
void xbp_pev_free(xb_pump_t *p, xbp_pev_t **e);
/* Something derived from the step item ref ended in failure (a SystemError
 * inside it answered with DONE or FAILED, or lost): its run fails (an
 * ERROR event for whichever pipeline's run ref names). Nothing when ref is 0. */
void xbp_pipeq_step_failed(xb_pump_t *p, conv_t *conv, uint64_t ref, xb_code_t code,
                           const char *message);
/* A SystemError to a run's origin (to->pipeline set): queued as an ERROR
 * event instead of being recorded and sent. */
void xbp_pipeq_error(xb_pump_t *p, const origin_t *to, conv_t *conv, xb_code_t code,
                     const char *message);

#endif
