/* Pipelines at run time (see pipeline.h and docs/pipelines.md).
 *
 * A run is one execution of a pipeline: started by a message to the
 * pipeline's hop, it runs the pipeline's steps in order. The running step
 * has items: one for a listener or pipeline step, one per branch of a
 * parallel, one per list element of a batch. Each item is one ordinary
 * message from the pipeline's hop, tagged with a reference (origin_t
 * pipe_ref: run id and item number) that everything it causes inherits, so
 * that its response, its SystemError or its silent end finds the item
 * again. A run that ends (done, failed, timed out, stopped) leaves; what
 * still arrives for it is counted as late and dropped. */
#include "pipeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "chain.h"
#include "log.h"
#include "pipeq.h"
#include "str.h"
#include "strmap.h"
#include "wmem.h"

typedef enum { ITEM_WAITING, ITEM_RUNNING, ITEM_DONE } item_state_t;

typedef struct {
    const xb_step_config_t *step; /* a listener or pipeline step */
    item_state_t state;
    uint64_t deadline_ms; /* 0: none */
    char *input;          /* batch: the list element it works on (owned) */
    size_t input_len;
    char *response; /* batch: its response, kept for the collection (owned) */
    size_t len;
} item_t;

typedef struct run run_t;
struct run {
    uint64_t id;
    int pindex;
    const xb_pipeline_config_t *pl;
    conv_t *conv;    /* held while the run lives */
    origin_t caller; /* owned: who started it; its output or SystemError goes there */
    origin_t self;   /* owned: the run as a sender (the pipeline's hop) */
    bool own_scope;  /* its memory is apart from the conversation's */
    char scope[XBP_SCOPE_MAX];
    int depth;   /* of the message that started it */
    size_t step; /* the running step */
    item_t *items;
    size_t n_items, next, running, done;
    uint64_t first_no; /* item number of items[0]: numbers go on across steps */
    uint64_t deadline_ms;
    run_t *next_run, *prev_run;
};

#define LOST_RING 64 /* pipeline hops already told that their run was lost */

struct xbp_pipes {
    xb_strmap_t *by_id; /* "%llx" of the id -> run_t */
    run_t *runs;
    uint64_t next_id;
    xbp_pipes_stats_t stats;
    char lost[LOST_RING][37];
    size_t lost_at;
};

/* ---- runs ------------------------------------------------------------------------ */

static void id_key(uint64_t id, char key[24])
{
    snprintf(key, 24, "%" PRIx64, id);
}

static run_t *run_find(xb_pump_t *p, uint64_t ref)
{
    char key[24];
    id_key(xbp_ref_run(ref), key);
    return xb_strmap_get(p->pipes->by_id, key);
}

static uint64_t item_ref(const run_t *r, size_t i)
{
    uint64_t ref = (r->id << XBP_REF_ITEM_BITS) | ((r->first_no + i) & XBP_REF_ITEM_MASK);
    return r->own_scope ? ref | XBP_REF_OWN_SCOPE : ref;
}

/* The item ref names, when it is running in r; NULL for a late one. */
static item_t *item_of(run_t *r, uint64_t ref)
{
    uint64_t no = ref & XBP_REF_ITEM_MASK;
    if (no < r->first_no || no - r->first_no >= r->n_items)
        return NULL;
    item_t *it = &r->items[no - r->first_no];
    return it->state == ITEM_RUNNING ? it : NULL;
}

static void items_free(run_t *r)
{
    for (size_t i = 0; i < r->n_items; i++) {
        free(r->items[i].input);
        free(r->items[i].response);
    }
    free(r->items);
    r->items = NULL;
    r->first_no += r->n_items;
    r->n_items = r->next = r->running = r->done = 0;
}

/* The run leaves: its own memory goes (unless memory.keep), its hold on
 * the conversation too. */
static void run_end(xb_pump_t *p, run_t *r)
{
    xb_error_t err;
    bool kept = p->cfg->memory.keep || (r->conv && r->conv->journal_kept);
    if (r->own_scope && !kept && r->scope[0] &&
        xb_backend_wmem_drop(p->backend, r->scope, &err) != 0)
        XB_WARN("pump", "pipeline %s: its working memory %s was not removed: %s", r->pl->name,
                r->scope, err.message);
    if (!r->own_scope && r->conv)
        r->conv->root_runs--;
    if (r->conv)
        r->conv->runs--;
    char key[24];
    id_key(r->id, key);
    xb_strmap_remove(p->pipes->by_id, key);
    if (r->prev_run)
        r->prev_run->next_run = r->next_run;
    else
        p->pipes->runs = r->next_run;
    if (r->next_run)
        r->next_run->prev_run = r->prev_run;
    p->pipes->stats.running--;
    items_free(r);
    xbp_origin_clear(&r->caller);
    xbp_origin_clear(&r->self);
    conv_t *c = r->conv;
    free(r);
    xbp_conv_unhold(p, c);
}

/* Where the run stands, for messages: "step 2 (parallel: word-counter)". */
static void where(const run_t *r, const item_t *it, char *out, size_t cap)
{
    static const char *const kinds[] = {"listener", "pipeline", "parallel", "batch"};
    if (r->step >= r->pl->n_steps) {
        snprintf(out, cap, "at its end");
        return;
    }
    const xb_step_config_t *st = &r->pl->steps[r->step];
    int n = snprintf(out, cap, "in step %zu (%s", r->step + 1, kinds[st->kind]);
    if (st->kind == XB_STEP_BATCH && it && n > 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, " over %s, item %zu", st->over,
                      (size_t)(it - r->items) + 1);
    const xb_step_config_t *is = it ? it->step : st;
    if (is->target[0] && n > 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, "%s%s",
                      st->kind == XB_STEP_BATCH      ? ", "
                      : st->kind == XB_STEP_PARALLEL ? ": "
                                                     : " ",
                      is->target);
    if (n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, ")");
}

/* The messages of r's steps still waiting in their listeners' queues are
 * cancelled: taken out, never sent (counted). What a process holds
 * already finishes; its answer is late. Scans every delivery: failures
 * are rare. */
static void cancel_queued(xb_pump_t *p, run_t *r)
{
    for (uint32_t i = 0; r->running > 0 && i < p->dcap; i++) {
        delivery_t *d = p->dslab[i];
        if (!d || d->peer || d->origin.pipeline != r->pindex + 1 ||
            xbp_ref_run(d->origin.pipe_ref) != r->id)
            continue;
        xbp_delivery_detach(p, d);
        xbp_delivery_free(p, d);
        p->pipes->stats.cancelled++;
    }
}

/* The run fails: its caller gets one SystemError naming the pipeline,
 * where it failed (at) and the cause; the run ends (what runs still is
 * abandoned). */
static void run_fail_at(xb_pump_t *p, run_t *r, const char *at, xb_code_t code, const char *cause)
{
    char msg[1024];
    if (snprintf(msg, sizeof msg, "pipeline %s failed %s: %s", r->pl->name, at, cause) >=
        (int)sizeof msg)
        memcpy(msg + sizeof msg - 4, "...", 4); /* a long cause, cut */
    XB_INFO("pump", "%s", msg);
    p->pipes->stats.failed++;
    cancel_queued(p, r);
    xbp_route_system_error(p, &r->caller, r->conv, code, msg);
    run_end(p, r);
}

/* The same, failed in the running step (at item it, may be NULL). */
static void run_fail(xb_pump_t *p, run_t *r, const item_t *it, xb_code_t code, const char *cause)
{
    char at[256];
    where(r, it, at, sizeof at);
    run_fail_at(p, r, at, code, cause);
}

/* ---- building payloads ------------------------------------------------------------- */

/* node serialized (with the namespaces it uses) into *out (malloc'd). */
static int dump_node(xmlDocPtr doc, xmlNodePtr node, char **out, size_t *len)
{
    xmlReconciliateNs(doc, node);
    xmlBufferPtr buf = xmlBufferCreate();
    if (!buf)
        return -1;
    int rc = xmlNodeDump(buf, doc, node, 0, 0) < 0 ? -1 : 0;
    if (rc == 0) {
        *len = (size_t)xmlBufferLength(buf);
        *out = malloc(*len + 1);
        if (*out) {
            memcpy(*out, xmlBufferContent(buf), *len);
            (*out)[*len] = '\0';
        } else {
            rc = -1;
        }
    }
    xmlBufferFree(buf);
    return rc;
}

/* An element for the root tag tag ("local" or "{ns}local") in doc. */
static xmlNodePtr tag_node(xmlDocPtr doc, const char *tag)
{
    char ns[512] = "";
    const char *local = tag;
    if (tag[0] == '{') {
        const char *end = strchr(tag, '}');
        if (!end || (size_t)(end - tag) >= sizeof ns)
            return NULL;
        memcpy(ns, tag + 1, (size_t)(end - tag - 1));
        ns[end - tag - 1] = '\0';
        local = end + 1;
    }
    xmlNodePtr n = xmlNewDocNode(doc, NULL, BAD_CAST local, NULL);
    if (n && ns[0])
        xmlSetNs(n, xmlNewNs(n, BAD_CAST ns, NULL));
    return n;
}

/* The payload of a step message: <tag/> with item (may be NULL) inside,
 * or, with tag NULL, the item itself. */
static int step_payload(const char *tag, xmlNodePtr item, char **out, size_t *len)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    if (!doc)
        return -1;
    xmlNodePtr root = tag ? tag_node(doc, tag) : xmlDocCopyNode(item, doc, 1);
    int rc = -1;
    if (root) {
        xmlDocSetRootElement(doc, root);
        xmlNodePtr copy = tag && item ? xmlDocCopyNode(item, doc, 1) : NULL;
        if (!tag || !item || (copy && xmlAddChild(root, copy)))
            rc = dump_node(doc, root, out, len);
    }
    xmlFreeDoc(doc);
    return rc;
}

/* The entry name of scope into *out: 0, 1 missing, -1 error (err). */
static int entry(xb_pump_t *p, const run_t *r, const char *name, xb_blob_t *out, xb_error_t *err)
{
    memset(out, 0, sizeof *out);
    return xb_backend_wmem_get(p->backend, r->scope, name, out, err);
}

/* ---- starting items ---------------------------------------------------------------- */

/* Adds name to the needs list unless it is there; reads it from r's memory.
 * 1 and why extended when it is missing. */
static int need_one(xb_pump_t *p, const run_t *r, const char *name, xb_wmem_list_t *list,
                    size_t cap, char *why, size_t wcap, xb_error_t *err)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].name, name) == 0)
            return 0;
    if (list->count == cap)
        return 0;
    xb_blob_t v;
    int rc = entry(p, r, name, &v, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        size_t at = strlen(why);
        snprintf(why + at, wcap - at, "%s%s", at ? ", " : "", name);
        return 1;
    }
    xb_wmem_item_t *it = &list->items[list->count++];
    it->data = v;
    if (!(it->name = strdup(name)))
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    return 0;
}

/* The memory a listener step gets: its listener's needs and the step's.
 * 0; 1 with why naming every missing entry; -1 with err. */
static int step_needs(xb_pump_t *p, const run_t *r, const xb_listener_config_t *lc,
                      const xb_step_config_t *is, xb_wmem_list_t *out, char *why, size_t wcap,
                      xb_error_t *err)
{
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    size_t cap = lc->n_needs + is->n_needs;
    if (cap == 0)
        return 0;
    if (!(out->items = calloc(cap, sizeof *out->items)))
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    int missing = 0;
    for (size_t i = 0; i < cap; i++) {
        const char *name = i < lc->n_needs ? lc->needs[i] : is->needs[i - lc->n_needs];
        int rc = need_one(p, r, name, out, cap, why, wcap, err);
        if (rc < 0) {
            xb_wmem_list_free(out);
            return -1;
        }
        missing |= rc;
    }
    if (missing)
        xb_wmem_list_free(out);
    return missing;
}

static double item_timeout(const run_t *r, const item_t *it)
{
    if (it->step->timeout_seconds > 0)
        return it->step->timeout_seconds;
    return r->pl->steps[r->step].timeout_seconds;
}

/* Sends a listener step's message. 0, or -1 after failing the run. */
static int start_listener_item(xb_pump_t *p, run_t *r, item_t *it, const origin_t *o,
                               xmlNodePtr item)
{
    const xb_listener_config_t *lc = xb_config_listener(p->cfg, it->step->target);
    xb_error_t err;
    xb_error_clear(&err);
    if (!lc || lc->n_payloads == 0) {
        run_fail(p, r, it, XB_ERR_ROUTING, "its listener accepts no payload");
        return -1;
    }
    char why[600];
    xb_wmem_list_t needs;
    int rc = step_needs(p, r, lc, it->step, &needs, why, sizeof why, &err);
    if (rc != 0) {
        char cause[sizeof why + XB_NAME_MAX + 64]; /* room for the whole sentence */
        snprintf(cause, sizeof cause, "%s needs %s, not in the working memory of the run", lc->name,
                 why);
        run_fail(p, r, it, rc > 0 ? XB_ERR_MISSING_INPUT : err.code, rc > 0 ? cause : err.message);
        return -1;
    }
    char *bytes = NULL;
    size_t len = 0;
    if (step_payload(lc->payloads[0], item, &bytes, &len) != 0) {
        xb_wmem_list_free(&needs);
        run_fail(p, r, it, XB_ERR_NOMEM, "could not write the step's message");
        return -1;
    }
    rc = xbp_route_from_pipeline(p, o, r->conv, lc->name, bytes, len, r->depth + 1, &needs, &err);
    free(bytes);
    if (rc != 0)
        run_fail(p, r, it, err.code, err.message);
    return rc;
}

/* Sends a nested pipeline step's message: the item, or the entry its one
 * need names (by default the run's input). 0, or -1 after failing the run. */
static int start_pipeline_item(xb_pump_t *p, run_t *r, item_t *it, const origin_t *o,
                               xmlNodePtr item)
{
    xb_error_t err;
    xb_error_clear(&err);
    char *bytes = NULL;
    size_t len = 0;
    if (item) {
        if (step_payload(NULL, item, &bytes, &len) != 0) {
            run_fail(p, r, it, XB_ERR_NOMEM, "could not write the step's message");
            return -1;
        }
    } else {
        const char *name = it->step->n_needs ? it->step->needs[0] : r->pl->input;
        xb_blob_t v;
        int rc = entry(p, r, name, &v, &err);
        if (rc != 0) {
            char cause[200];
            snprintf(cause, sizeof cause, "pipeline %s needs %s, not in the working memory",
                     it->step->target, name);
            run_fail(p, r, it, rc > 0 ? XB_ERR_MISSING_INPUT : err.code,
                     rc > 0 ? cause : err.message);
            return -1;
        }
        bytes = (char *)v.data;
        len = v.len;
    }
    int rc = xbp_route_from_pipeline(p, o, r->conv, it->step->target, bytes, len, r->depth + 1,
                                     NULL, &err);
    free(bytes);
    if (rc != 0)
        run_fail(p, r, it, err.code, err.message);
    return rc;
}

/* Sends item i of the running step. 0, or -1 after failing the run. */
static int start_item(xb_pump_t *p, run_t *r, size_t i)
{
    item_t *it = &r->items[i];
    origin_t o = r->self; /* borrows its chain */
    o.pipe_ref = item_ref(r, i);
    xmlDocPtr doc = NULL;
    xmlNodePtr node = NULL;
    if (it->input) {
        xb_error_t err;
        doc = xb_xml_read(p->xmlctxt, it->input, it->input_len, &p->plimits, &err);
        node = doc ? xmlDocGetRootElement(doc) : NULL;
        if (!node) {
            if (doc)
                xmlFreeDoc(doc);
            run_fail(p, r, it, XB_ERR_ENVELOPE, "its list item cannot be read");
            return -1;
        }
    }
    it->state = ITEM_RUNNING;
    r->running++;
    double t = item_timeout(r, it);
    it->deadline_ms = t > 0 ? p->now_ms + (uint64_t)(t * 1000.0) : 0;
    int rc = it->step->kind == XB_STEP_LISTENER ? start_listener_item(p, r, it, &o, node)
                                                : start_pipeline_item(p, r, it, &o, node);
    if (doc)
        xmlFreeDoc(doc);
    return rc;
}

/* Starts waiting items while the step's max_concurrency allows. 0, or -1
 * when the run failed (and is gone). */
static int pump_items(xb_pump_t *p, run_t *r)
{
    const xb_step_config_t *st = &r->pl->steps[r->step];
    size_t limit = st->max_concurrency > 0 ? (size_t)st->max_concurrency : SIZE_MAX;
    while (r->next < r->n_items && r->running < limit)
        if (start_item(p, r, r->next++) != 0)
            return -1;
    return 0;
}

/* The items of a batch: one per element child of the entry `over`. 0, or
 * -1 after failing the run. */
static int batch_items(xb_pump_t *p, run_t *r, const xb_step_config_t *st)
{
    xb_error_t err;
    xb_error_clear(&err);
    xb_blob_t v;
    int rc = entry(p, r, st->over, &v, &err);
    if (rc != 0) {
        char cause[200];
        snprintf(cause, sizeof cause, "its list %s is not in the working memory", st->over);
        run_fail(p, r, NULL, rc > 0 ? XB_ERR_MISSING_INPUT : err.code,
                 rc > 0 ? cause : err.message);
        return -1;
    }
    xmlDocPtr doc = xb_xml_read(p->xmlctxt, v.data, v.len, &p->plimits, &err);
    free(v.data);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    size_t n = 0;
    for (xmlNodePtr c = root ? root->children : NULL; c; c = c->next)
        n += c->type == XML_ELEMENT_NODE;
    if (n >= XBP_REF_ITEM_MASK / 2 || (n && !(r->items = calloc(n, sizeof *r->items)))) {
        if (doc)
            xmlFreeDoc(doc);
        run_fail(p, r, NULL, XB_ERR_LIMIT, "its list has too many items");
        return -1;
    }
    for (xmlNodePtr c = root ? root->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        item_t *it = &r->items[r->n_items++];
        it->step = st->steps;
        if (step_payload(NULL, c, &it->input, &it->input_len) != 0) {
            xmlFreeDoc(doc);
            run_fail(p, r, NULL, XB_ERR_NOMEM, "could not copy its list items");
            return -1;
        }
    }
    if (doc)
        xmlFreeDoc(doc);
    else
        run_fail(p, r, NULL, err.code, err.message);
    return doc ? 0 : -1;
}

/* The items of the step r->step. 0, or -1 after failing the run. */
static int step_items(xb_pump_t *p, run_t *r)
{
    const xb_step_config_t *st = &r->pl->steps[r->step];
    if (r->first_no >= XBP_REF_ITEM_MASK / 2) { /* a reference names at most 2^20 items */
        run_fail(p, r, NULL, XB_ERR_LIMIT, "the run has sent more than 500 000 step messages");
        return -1;
    }
    if (st->kind == XB_STEP_BATCH)
        return batch_items(p, r, st);
    size_t n = st->kind == XB_STEP_PARALLEL ? st->n_steps : 1;
    if (!(r->items = calloc(n, sizeof *r->items))) {
        run_fail(p, r, NULL, XB_ERR_NOMEM, "pump out of memory");
        return -1;
    }
    r->n_items = n;
    for (size_t i = 0; i < n; i++)
        r->items[i].step = st->kind == XB_STEP_PARALLEL ? &st->steps[i] : st;
    return 0;
}

/* ---- finishing ----------------------------------------------------------------------- */

static int put(xb_pump_t *p, run_t *r, const char *name, const char *bytes, size_t len,
               xb_error_t *err)
{
    return xbp_wmem_put(p, r->own_scope ? NULL : r->conv, r->scope, name, bytes, len, err);
}

/* The run answers its caller with its output entry and ends. */
static void run_complete(xb_pump_t *p, run_t *r)
{
    xb_error_t err;
    xb_error_clear(&err);
    xb_blob_t v;
    int rc = entry(p, r, r->pl->output, &v, &err);
    if (rc != 0) {
        char cause[200];
        snprintf(cause, sizeof cause, "its output %s was not produced", r->pl->output);
        run_fail(p, r, NULL, rc > 0 ? XB_ERR_MISSING_INPUT : err.code,
                 rc > 0 ? cause : err.message);
        return;
    }
    origin_t o = r->self; /* the pipeline's hop answers its caller */
    o.pipeline = 0;
    o.pipe_ref = r->caller.pipe_ref;
    rc = xbp_route_from_pipeline(p, &o, r->conv, XB_TARGET_RESPOND, (const char *)v.data, v.len,
                                 r->depth + 1, NULL, &err);
    free(v.data);
    if (rc != 0) {
        run_fail(p, r, NULL, err.code, err.message);
        return;
    }
    p->pipes->stats.completed++;
    run_end(p, r);
}

/* A batch is done: its items' responses, in order, under its result. */
static int collect(xb_pump_t *p, run_t *r, const xb_step_config_t *st, xb_error_t *err)
{
    size_t name = strlen(st->result), len = 2 * name + 5;
    for (size_t i = 0; i < r->n_items; i++)
        len += r->items[i].len;
    char *xml = malloc(len + 1);
    if (!xml)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    size_t at = (size_t)sprintf(xml, "<%s>", st->result);
    for (size_t i = 0; i < r->n_items; i++) {
        memcpy(xml + at, r->items[i].response, r->items[i].len);
        at += r->items[i].len;
    }
    at += (size_t)sprintf(xml + at, "</%s>", st->result);
    int rc = put(p, r, st->result, xml, at, err);
    free(xml);
    return rc;
}

/* Runs steps from r->step on until one waits for its items, the run
 * completes, or it fails. */
static void run_advance(xb_pump_t *p, run_t *r)
{
    while (r->step < r->pl->n_steps) {
        const xb_step_config_t *st = &r->pl->steps[r->step];
        if (r->n_items == 0 && r->done == 0 && step_items(p, r) != 0)
            return;
        if (r->done < r->n_items) {
            (void)pump_items(p, r);
            return;
        }
        xb_error_t err;
        xb_error_clear(&err);
        if (st->kind == XB_STEP_BATCH && collect(p, r, st, &err) != 0) {
            run_fail(p, r, NULL, err.code, err.message);
            return;
        }
        items_free(r);
        r->step++;
    }
    run_complete(p, r);
}

/* ---- events ------------------------------------------------------------------------- */

static void item_done(xb_pump_t *p, run_t *r, item_t *it)
{
    it->state = ITEM_DONE;
    r->running--;
    r->done++;
    run_advance(p, r);
}

/* A SystemError payload (a listener passed one on as its response): its
 * code and message. false when payload is something else. */
static bool passed_error(xb_pump_t *p, const xbp_pev_t *e, xb_code_t *code, char *msg, size_t cap)
{
    if (!e->error) /* the payload's tag, recorded with it */
        return false;
    const char *bytes = e->data;
    size_t len = e->len;
    xb_error_t err;
    xmlDocPtr doc = xb_xml_read(p->xmlctxt, bytes, len, &p->plimits, &err);
    *code = XB_ERR_CRASH;
    snprintf(msg, cap, "it answered with a SystemError");
    for (xmlNodePtr c = doc ? xmlDocGetRootElement(doc)->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        xmlChar *text = xmlNodeGetContent(c);
        if (text && xmlStrEqual(c->name, BAD_CAST "code"))
            xb_code_from_name((const char *)text, code);
        else if (text && xmlStrEqual(c->name, BAD_CAST "message"))
            snprintf(msg, cap, "it answered with a SystemError: %s", (const char *)text);
        xmlFree(text);
    }
    if (doc)
        xmlFreeDoc(doc);
    return true;
}

static void on_response(xb_pump_t *p, run_t *r, item_t *it, xbp_pev_t *e)
{
    xb_code_t code;
    char msg[700];
    if (passed_error(p, e, &code, msg, sizeof msg)) {
        run_fail(p, r, it, code, msg);
        return;
    }
    const xb_step_config_t *st = &r->pl->steps[r->step];
    if (st->kind == XB_STEP_BATCH) {
        it->response = e->data;
        it->len = e->len;
        e->data = NULL;
    } else if (it->step->result[0]) {
        xb_error_t err;
        xb_error_clear(&err);
        if (put(p, r, it->step->result, e->data, e->len, &err) != 0) {
            run_fail(p, r, it, err.code, err.message);
            return;
        }
    }
    item_done(p, r, it);
}

static void on_silent_end(xb_pump_t *p, run_t *r, item_t *it)
{
    if (r->pl->steps[r->step].kind == XB_STEP_BATCH) {
        run_fail(p, r, it, XB_ERR_MISSING_INPUT, "its listener ended without a response");
        return;
    }
    item_done(p, r, it); /* its result stays unwritten: a later need reports it */
}

static void run_start(xb_pump_t *p, xbp_pev_t *e)
{
    struct xbp_pipes *ps = p->pipes;
    run_t *r = calloc(1, sizeof *r);
    char key[24];
    if (r) {
        r->id = ps->next_id++ & (~XBP_REF_OWN_SCOPE >> XBP_REF_ITEM_BITS);
        id_key(r->id, key);
    }
    if (!r || xbp_origin_copy(&r->caller, &e->from) != 0 || xb_strmap_put(ps->by_id, key, r) != 0) {
        if (r)
            xbp_origin_clear(&r->caller);
        free(r);
        xbp_route_system_error(p, &e->from, e->conv, XB_ERR_NOMEM, "pump out of memory");
        return;
    }
    r->pindex = e->pipeline;
    r->pl = &p->cfg->pipelines[e->pipeline];
    r->conv = e->conv;
    if (r->conv) {
        r->conv->pending++;
        r->conv->runs++;
    }
    r->next_run = ps->runs;
    if (ps->runs)
        ps->runs->prev_run = r;
    ps->runs = r;
    ps->stats.started++;
    ps->stats.running++;
    xb_strlcpy(r->self.name, r->pl->name, sizeof r->self.name);
    xb_strlcpy(r->self.thread, e->thread, sizeof r->self.thread);
    r->self.chain = e->chain;
    e->chain = NULL;
    r->self.pipeline = e->pipeline + 1;
    r->self.redelivered = e->from.redelivered;
    r->depth = e->depth;
    r->first_no = 1; /* item number 0 names no item */
    r->own_scope = e->from.pipe_ref != 0 || !r->conv || r->conv->root_runs > 0;
    if (!r->own_scope)
        r->conv->root_runs++;
    const char *scope = xbp_wmem_scope(r->conv, r->self.chain, item_ref(r, 0), r->scope,
                                       sizeof r->scope);
    if (scope != r->scope)
        xb_strlcpy(r->scope, scope, sizeof r->scope);
    if (r->pl->timeout_seconds > 0)
        r->deadline_ms = p->now_ms + (uint64_t)(r->pl->timeout_seconds * 1000.0);
    XB_DEBUG("pump", "pipeline %s: run %" PRIx64 " started (thread %s, memory %s)", r->pl->name,
             r->id, r->self.thread, r->scope);
    xb_error_t err;
    xb_error_clear(&err);
    if (put(p, r, r->pl->input, e->data, e->len, &err) != 0) {
        char at[XB_ENTRY_MAX + 32];
        snprintf(at, sizeof at, "storing its input %s", r->pl->input);
        run_fail_at(p, r, at, err.code, err.message);
        return;
    }
    run_advance(p, r);
}

/* Whom a pipeline hop answers (its chain pruned): the conversation's
 * client or a listener. 0, or -1 when it cannot be known. */
static int hop_caller(xb_pump_t *p, const conv_t *conv, const char *hop_chain, origin_t *o)
{
    memset(o, 0, sizeof *o);
    char *chain = hop_chain ? xb_chain_prune(hop_chain, NULL) : NULL;
    /* A nested pipeline's caller is a pipeline hop whose run was lost too:
     * its caller is the one to tell. */
    while (chain && xb_chain_hops(chain) > 1 &&
           xbp_pump_pipeline(p, xb_chain_last_hop(chain), NULL) >= 0) {
        char *up = xb_chain_prune(chain, NULL);
        free(chain);
        chain = up;
    }
    if (!chain)
        return -1;
    const char *hop = xb_chain_last_hop(chain);
    if (conv && conv->has_client && xb_chain_hops(chain) == 1 &&
        strcmp(hop, conv->client_hop) == 0) {
        o->is_client = true;
        o->acks = conv->client_acks;
        o->rid = conv->client;
        xb_strlcpy(o->name, conv->client_hop, sizeof o->name);
        xb_strlcpy(o->thread, conv->client_thread, sizeof o->thread);
        free(chain);
        return 0;
    }
    char *uuid = NULL;
    if (!xbp_pump_listener(p, hop) || xb_registry_uuid_for(p->registry, chain, &uuid, NULL) != 0) {
        free(chain);
        return -1;
    }
    xb_strlcpy(o->name, hop, sizeof o->name);
    xb_strlcpy(o->thread, uuid, sizeof o->thread);
    free(uuid);
    o->chain = chain;
    return 0;
}

/* A late answer of a step of a run with its own memory may have written
 * to that memory (stored with it, before this event) after the run ended
 * and dropped it: dropped again, or it would stay behind. Not while the
 * run lives (an answer late for its item only). */
static void drop_late_writes(xb_pump_t *p, const xbp_pev_t *e)
{
    if (!(e->ref & XBP_REF_OWN_SCOPE) || e->from.redelivered || p->cfg->memory.keep ||
        (e->conv && e->conv->journal_kept) || run_find(p, e->ref))
        return;
    char buf[XBP_SCOPE_MAX];
    const char *chain = e->kind == XBP_PEV_MESSAGE ? e->chain : e->from.chain;
    const char *scope = xbp_wmem_scope(e->conv, chain, e->ref, buf, sizeof buf);
    xb_error_t err;
    if (scope[0] && xb_backend_wmem_drop(p->backend, scope, &err) != 0)
        XB_WARN("pump", "working memory %s was not removed: %s", scope, err.message);
}

/* Something for a run that is not there. After a pump restart (it comes
 * of a message delivered again) the run was lost with the pump: its caller
 * hears it once. Otherwise the run ended before (failed, timed out): late,
 * dropped. */
static void on_orphan(xb_pump_t *p, xbp_pev_t *e)
{
    struct xbp_pipes *ps = p->pipes;
    ps->stats.late++;
    drop_late_writes(p, e);
    if (e->pipeline < 0)
        return;
    const char *name = p->cfg->pipelines[e->pipeline].name;
    const char *hop_chain = e->kind == XBP_PEV_MESSAGE ? e->chain : e->from.chain;
    const char *thread = e->kind == XBP_PEV_MESSAGE ? e->thread : e->from.thread;
    if (!e->from.redelivered) {
        XB_DEBUG("pump", "pipeline %s: a late step answer dropped (its run had ended)", name);
        return;
    }
    for (size_t i = 0; i < LOST_RING; i++)
        if (strcmp(ps->lost[i], thread) == 0)
            return;
    xb_strlcpy(ps->lost[ps->lost_at++ % LOST_RING], thread, 37);
    origin_t o;
    if (hop_caller(p, e->conv, hop_chain, &o) != 0) {
        XB_WARN("pump", "pipeline %s: a run lost in a pump restart, its caller unknown", name);
        return;
    }
    o.redelivered = e->from.redelivered;
    char msg[256];
    snprintf(msg, sizeof msg,
             "pipeline %s: its run was lost when the pump restarted; send the message again", name);
    xbp_route_system_error(p, &o, e->conv, XB_ERR_SHUTDOWN, msg);
    xbp_origin_clear(&o);
}

static void on_event(xb_pump_t *p, xbp_pev_t *e)
{
    if (e->kind == XBP_PEV_MESSAGE && !e->respond) {
        run_start(p, e);
        return;
    }
    run_t *r = e->ref ? run_find(p, e->ref) : NULL;
    item_t *it = r && (e->pipeline < 0 || r->pindex == e->pipeline) ? item_of(r, e->ref) : NULL;
    if (it && e->kind == XBP_PEV_MESSAGE && strcmp(e->thread, r->self.thread) != 0)
        it = NULL; /* a response to another run's hop */
    if (!it) {
        on_orphan(p, e);
        return;
    }
    if (e->kind == XBP_PEV_MESSAGE)
        on_response(p, r, it, e);
    else if (e->kind == XBP_PEV_DONE)
        on_silent_end(p, r, it);
    else
        run_fail(p, r, it, e->code, e->data ? e->data : "failed");
}

/* ---- the loop's entry points ----------------------------------------------------------- */

int xbp_pipelines_init(xb_pump_t *p)
{
    p->pipes = calloc(1, sizeof *p->pipes);
    if (!p->pipes || !(p->pipes->by_id = xb_strmap_new())) {
        free(p->pipes);
        p->pipes = NULL;
        return -1;
    }
    /* Ids differ across restarts: an answer from before one never finds a
     * new run. */
    p->pipes->next_id = ((uint64_t)xbp_now_us() << 8 ^ (uint64_t)getpid()) & 0xffffffffffULL;
    p->pipes->next_id |= 1; /* 0 names no run (redeliver.c) */
    return 0;
}

size_t xbp_pipelines_run(xb_pump_t *p)
{
    size_t n = 0;
    xbp_pev_t *e;
    while (p->pipes && (e = xbp_pipeq_pop(p))) {
        on_event(p, e);
        xbp_pev_free(p, &e);
        n++;
    }
    return n;
}

bool xbp_pipelines_waiting(const xb_pump_t *p)
{
    return p->n_pev > 0;
}

/* Whether item i of r caused a run that lives (a nested pipeline step, or
 * a run its listener started): that run may still answer it. */
static bool has_nested_run(const struct xbp_pipes *ps, const run_t *r, size_t i)
{
    uint64_t ref = item_ref(r, i);
    for (const run_t *o = ps->runs; o; o = o->next_run)
        if (o->caller.pipe_ref == ref)
            return true;
    return false;
}

/* A step's listener that forwarded to a helper whose branch then ended
 * without answering leaves its item with nothing that could answer it:
 * its conversation holds nothing but runs (no delivery, no message on its
 * way, no event). Such an item ended silently, as with a DONE. One item of
 * a run a tick: what that starts changes the conversation. */
static void end_unanswerable(xb_pump_t *p, run_t *r)
{
    if (!r->conv || r->running == 0 || r->conv->pending > r->conv->runs)
        return;
    for (size_t i = 0; i < r->n_items; i++)
        if (r->items[i].state == ITEM_RUNNING && !has_nested_run(p->pipes, r, i)) {
            XB_DEBUG("pump", "pipeline %s: a step ended without anything left to answer it",
                     r->pl->name);
            on_silent_end(p, r, &r->items[i]);
            return;
        }
}

void xbp_pipelines_tick(xb_pump_t *p)
{
    run_t *next;
    for (run_t *r = p->pipes ? p->pipes->runs : NULL; r; r = next) {
        next = r->next_run;
        if (r->deadline_ms && p->now_ms >= r->deadline_ms) {
            char cause[128];
            snprintf(cause, sizeof cause, "the pipeline's timeout_seconds (%g) passed",
                     r->pl->timeout_seconds);
            run_fail(p, r, NULL, XB_ERR_TIMEOUT, cause);
            continue;
        }
        for (size_t i = 0; i < r->n_items; i++) {
            item_t *it = &r->items[i];
            if (it->state == ITEM_RUNNING && it->deadline_ms && p->now_ms >= it->deadline_ms) {
                char cause[128];
                snprintf(cause, sizeof cause, "the step's timeout_seconds (%g) passed",
                         item_timeout(r, it));
                run_fail(p, r, it, XB_ERR_TIMEOUT, cause);
                r = NULL; /* gone */
                break;
            }
        }
        if (r)
            end_unanswerable(p, r);
    }
}

/* Drops every event that waits for the runs. */
static void drop_events(xb_pump_t *p)
{
    xbp_pev_t *e;
    while ((e = xbp_pipeq_pop(p)))
        xbp_pev_free(p, &e);
}

void xbp_pipelines_stop(xb_pump_t *p)
{
    if (!p->pipes)
        return;
    /* What waits is not taken: a run must not send a next step now (it
     * would be journaled and delivered again after the caller heard of the
     * stop). Every run fails once, with shutdown. */
    drop_events(p);
    while (p->pipes->runs)
        run_fail(p, p->pipes->runs, NULL, XB_ERR_SHUTDOWN, "the pump is shutting down");
    drop_events(p); /* errors of the runs just failed: nobody to tell */
}

void xbp_pipelines_stats(const xb_pump_t *p, xbp_pipes_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (p->pipes)
        *out = p->pipes->stats;
}

void xbp_pipelines_free(xb_pump_t *p)
{
    if (!p->pipes)
        return;
    drop_events(p);
    while (p->pipes->runs)
        run_end(p, p->pipes->runs);
    xb_strmap_destroy(&p->pipes->by_id);
    free(p->pipes);
    p->pipes = NULL;
}
