/* What reaches a pipeline: a FIFO of events (see pipeq.h). */
#include "pipeq.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "str.h"

xbp_pev_t *xbp_pev_new(xb_pump_t *p, xbp_pev_kind_t kind, int pipeline, conv_t *conv,
                       const origin_t *from)
{
    (void)p;
    xbp_pev_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    if (xbp_origin_copy(&e->from, from) != 0) {
        free(e);
        return NULL;
    }
    e->kind = kind;
    e->pipeline = pipeline;
    e->ref = from->pipe_ref;
    e->conv = conv;
    if (conv)
        conv->pending++;
    return e;
}

void xbp_pipeq_push(xb_pump_t *p, xbp_pev_t *e)
{
    e->next = NULL;
    if (p->pev_tail)
        p->pev_tail->next = e;
    else
        p->pev_head = e;
    p->pev_tail = e;
    p->n_pev++;
}

xbp_pev_t *xbp_pipeq_pop(xb_pump_t *p)
{
    xbp_pev_t *e = p->pev_head;
    if (!e)
        return NULL;
    p->pev_head = e->next;
    if (!p->pev_head)
        p->pev_tail = NULL;
    p->n_pev--;
    e->next = NULL;
    return e;
}

void xbp_pev_free(xb_pump_t *p, xbp_pev_t **ep)
{
    xbp_pev_t *e = *ep;
    if (!e)
        return;
    *ep = NULL;
    xbp_origin_clear(&e->from);
    free(e->chain);
    free(e->data);
    conv_t *c = e->conv;
    free(e);
    xbp_conv_unhold(p, c);
}

void xbp_pipeq_step_failed(xb_pump_t *p, conv_t *conv, uint64_t ref, xb_code_t code,
                           const char *message)
{
    if (!ref)
        return;
    origin_t o;
    memset(&o, 0, sizeof o);
    xb_strlcpy(o.name, XB_SYSTEM_FROM, sizeof o.name);
    o.pipeline = 0; /* any run: see xbp_pev_t.pipeline */
    o.pipe_ref = ref;
    xbp_pipeq_error(p, &o, conv, code, message);
}

void xbp_pipeq_error(xb_pump_t *p, const origin_t *to, conv_t *conv, xb_code_t code,
                     const char *message)
{
    xbp_pev_t *e = xbp_pev_new(p, XBP_PEV_ERROR, to->pipeline - 1, conv, to);
    if (e && message && !(e->data = strdup(message)))
        xbp_pev_free(p, &e);
    if (!e) {
        XB_ERROR("pump", "no memory for a SystemError to pipeline run (%s): %s", to->name,
                 message ? message : "");
        return;
    }
    e->code = code;
    e->len = message ? strlen(message) : 0;
    xbp_pipeq_push(p, e);
}
