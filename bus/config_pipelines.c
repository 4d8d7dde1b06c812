/* The section pipelines of organism.yaml (bus/config_yaml.h,
 * docs/pipelines.md): each pipeline walked against its key table, its steps
 * (listener, pipeline, parallel, batch) against theirs, recursively. The
 * checks across pipelines live in bus/config_pipelines_check.c. */
#include "config_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define NAME_RULE "names match [A-Za-z][A-Za-z0-9_-]* (at most %d characters)"

/* What the parse functions of one pipeline's keys and steps share. */
typedef struct {
    const char *pipeline; /* its name as written, for messages */
    bool in_batch;        /* the step being walked is the one step of a batch */
} pctx_t;

/* ------------------------------------------------------------------ free */

static void names_free(char ***items, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*items)[i]);
    free(*items);
    *items = NULL;
    *n = 0;
}

static void steps_free(xb_step_config_t *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        names_free(&steps[i].needs, &steps[i].n_needs);
        steps_free(steps[i].steps, steps[i].n_steps);
    }
    free(steps);
}

void xb_config_pipelines_free(xb_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        xb_pipeline_config_t *p = &cfg->pipelines[i];
        names_free(&p->payloads, &p->n_payloads);
        steps_free(p->steps, p->n_steps);
    }
    free(cfg->pipelines);
    cfg->pipelines = NULL;
    cfg->n_pipelines = 0;
    for (size_t i = 0; i < cfg->memory.n_types; i++) {
        free(cfg->memory.types[i].element);
        free(cfg->memory.types[i].schema);
    }
    free(cfg->memory.types);
    cfg->memory.types = NULL;
    cfg->memory.n_types = 0;
}

const xb_pipeline_config_t *xb_config_pipeline(const xb_config_t *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_pipelines; i++)
        if (strcmp(cfg->pipelines[i].name, name) == 0)
            return &cfg->pipelines[i];
    return NULL;
}

/* ----------------------------------------------------------------- steps */

static const char *const kind_keys[] = {"listener", "pipeline", "parallel", "batch"};

#define K(kind) (1u << (kind))

/* Keys that only some kinds of step take. */
static const struct {
    const char *key;
    unsigned kinds;
} only_for[] = {
    {"over", K(XB_STEP_BATCH)},
    {"max_concurrency", K(XB_STEP_PARALLEL) | K(XB_STEP_BATCH)},
    {"needs", K(XB_STEP_LISTENER) | K(XB_STEP_PIPELINE)},
    {"result", K(XB_STEP_LISTENER) | K(XB_STEP_PIPELINE) | K(XB_STEP_BATCH)},
};

static void load_step(xb_cfg_loader_t *ld, yaml_node_t *m, xb_step_config_t *st, const pctx_t *pc);

/* The kind a step's keys give it; a problem when they give none or several. */
static void step_kind(xb_cfg_loader_t *ld, yaml_node_t *m, xb_step_config_t *st, const char *where)
{
    yaml_node_t *first = NULL;
    for (int i = 0; i < 4; i++) {
        yaml_node_t *v = xb_cfg_find_value(ld, m, kind_keys[i]);
        if (!v)
            continue;
        if (first) {
            xb_cfg_problem(ld, xb_cfg_mark(v),
                           "'%s' and '%s' in %s: a step is one listener, pipeline, parallel or "
                           "batch",
                           kind_keys[st->kind], kind_keys[i], where);
            return;
        }
        first = v;
        st->kind = (xb_step_kind_t)i;
    }
    if (!first)
        xb_cfg_problem(ld, xb_cfg_mark(m),
                       "%s has none of 'listener', 'pipeline', 'parallel' or 'batch'", where);
}

/* Keys of another kind of step, and what each kind requires. */
static void step_keys_fit(xb_cfg_loader_t *ld, yaml_node_t *m, const xb_step_config_t *st,
                          const pctx_t *pc, const char *where)
{
    for (size_t i = 0; i < sizeof only_for / sizeof only_for[0]; i++) {
        yaml_node_t *v = xb_cfg_find_value(ld, m, only_for[i].key);
        if (v && !(only_for[i].kinds & K(st->kind)))
            xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s does not apply to a %s step",
                           only_for[i].key, where, kind_keys[st->kind]);
    }
    yaml_node_t *result = xb_cfg_find_value(ld, m, "result");
    if (pc->in_batch && result)
        xb_cfg_problem(ld, xb_cfg_mark(result),
                       "'result' in %s: the step of a batch has none, the batch's 'result' "
                       "collects its results",
                       where);
    bool wants_result = st->kind == XB_STEP_PIPELINE || st->kind == XB_STEP_BATCH;
    if (wants_result && !pc->in_batch && !result)
        xb_cfg_problem(ld, xb_cfg_mark(m), "%s has no 'result': name the entry it produces", where);
    if (st->kind == XB_STEP_BATCH && !xb_cfg_find_value(ld, m, "over"))
        xb_cfg_problem(ld, xb_cfg_mark(m),
                       "%s has no 'over': name the entry whose child elements are its items",
                       where);
    if (st->kind == XB_STEP_PIPELINE && st->n_needs > 1)
        xb_cfg_problem(ld, xb_cfg_noted(ld, st->needs[1]),
                       "%s: a pipeline step needs at most one entry (the nested pipeline's "
                       "input)",
                       where);
}

static void load_step(xb_cfg_loader_t *ld, yaml_node_t *m, xb_step_config_t *st, const pctx_t *pc)
{
    const xb_key_section_t *s = &xb_config_key_sections()[XB_SECTION_STEP];
    st->line = xb_cfg_mark(m).line;
    xb_cfg_note(ld, st, xb_cfg_mark(m));
    char where[160];
    snprintf(where, sizeof where, "the step at line %d of pipeline '%.80s'", st->line,
             pc->pipeline);
    if (m->type != YAML_MAPPING_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(m), "%s must be a mapping, got %s", where,
                       xb_cfg_kind_name(m));
        return;
    }
    step_kind(ld, m, st, where);
    pctx_t inner = {pc->pipeline, false};
    xb_cfg_walk(ld, m, s, where, st, &inner, NULL);
    step_keys_fit(ld, m, st, pc, where);
    yaml_node_t *result = xb_cfg_find_value(ld, m, "result");
    if (result && !st->result[0]) /* written but refused: no second problem for it */
        xb_cfg_note(ld, st->result, xb_cfg_mark(result));
    /* The listeners are loaded: a listener step without its own result
     * produces the listener's. */
    const xb_listener_config_t *l = st->kind == XB_STEP_LISTENER && !pc->in_batch && st->target[0]
                                        ? xb_config_listener(ld->cfg, st->target)
                                        : NULL;
    if (l && !st->result[0])
        snprintf(st->result, sizeof st->result, "%s", l->result);
}

/* Reads the list v into a new array of steps (*steps, *n). */
static int load_steps(xb_cfg_loader_t *ld, const char *key, yaml_node_t *v, const char *where,
                      xb_step_config_t **steps, size_t *n, const pctx_t *pc)
{
    if (v->type != YAML_SEQUENCE_NODE ||
        v->data.sequence.items.start == v->data.sequence.items.top) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be a list of at least one step, got %s",
                       key, where,
                       v->type == YAML_SEQUENCE_NODE ? "an empty list" : xb_cfg_kind_name(v));
        return -1;
    }
    size_t count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    *steps = calloc(count, sizeof **steps);
    if (!*steps) {
        ld->nomem = true;
        return -1;
    }
    size_t before = ld->n_probs;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *m = xb_cfg_node(ld, v->data.sequence.items.start[i]);
        *n = i + 1;
        if (m)
            load_step(ld, m, &(*steps)[i], pc);
    }
    return ld->n_probs == before ? 0 : -1;
}

int xb_cfg_parse_steps(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                       const char *where, void *base, void *ctx)
{
    (void)k;
    xb_pipeline_config_t *p = base;
    if (xb_cfg_is_null(v))
        return 1;
    return load_steps(ld, key->name, v, where, &p->steps, &p->n_steps, ctx);
}

int xb_cfg_parse_parallel(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                          yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)k;
    xb_step_config_t *st = base;
    if (load_steps(ld, key->name, v, where, &st->steps, &st->n_steps, ctx) != 0)
        return -1;
    /* A branch is one delivery: a group of steps inside one is a pipeline. */
    for (size_t i = 0; i < st->n_steps; i++)
        if (st->steps[i].kind != XB_STEP_LISTENER && st->steps[i].kind != XB_STEP_PIPELINE) {
            xb_cfg_problem(ld, xb_cfg_mark(v),
                           "branch %zu of '%s' in %s is a %s step: a branch is one listener or "
                           "pipeline step (put the %s in a pipeline of its own)",
                           i + 1, key->name, where, kind_keys[st->steps[i].kind],
                           kind_keys[st->steps[i].kind]);
            return -1;
        }
    return 0;
}

int xb_cfg_parse_batch(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                       const char *where, void *base, void *ctx)
{
    (void)k;
    xb_step_config_t *st = base;
    const pctx_t *pc = ctx;
    if (v->type != YAML_MAPPING_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v),
                       "'%s' in %s must be one listener or pipeline step, got %s", key->name, where,
                       xb_cfg_is_null(v) ? "nothing" : xb_cfg_kind_name(v));
        return -1;
    }
    st->steps = calloc(1, sizeof *st->steps);
    if (!st->steps) {
        ld->nomem = true;
        return -1;
    }
    st->n_steps = 1;
    size_t before = ld->n_probs;
    pctx_t inner = {pc->pipeline, true};
    load_step(ld, v, st->steps, &inner);
    bool simple = st->steps->kind == XB_STEP_LISTENER || st->steps->kind == XB_STEP_PIPELINE;
    if (!simple && ld->n_probs == before)
        xb_cfg_problem(ld, xb_cfg_mark(v),
                       "'%s' in %s must be one listener or pipeline step, got a %s step", key->name,
                       where, kind_keys[st->steps->kind]);
    return ld->n_probs == before ? 0 : -1;
}

int xb_cfg_parse_step_target(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                             yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)k, (void)ctx;
    xb_step_config_t *st = base;
    const char *s = NULL;
    int rc = xb_cfg_get_string(ld, v, key->name, where, &s);
    if (rc == 1)
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must name a %s", key->name, where,
                       key->name);
    if (rc != 0)
        return -1;
    if (!xb_config_valid_name(s)) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "invalid %s name '%.80s' in %s: " NAME_RULE, key->name,
                       s, where, XB_NAME_MAX - 1);
        return -1;
    }
    snprintf(st->target, sizeof st->target, "%s", s);
    xb_cfg_note(ld, st->target, xb_cfg_mark(v));
    return 0;
}

int xb_cfg_parse_step_needs(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                            yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)k, (void)ctx;
    xb_step_config_t *st = base;
    return xb_cfg_read_entries(ld, key->name, v, where, &st->needs, &st->n_needs);
}

/* ------------------------------------------------------------- pipelines */

int xb_cfg_parse_pipeline_payload(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                                  yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)key, (void)k, (void)ctx;
    xb_pipeline_config_t *p = base;
    xb_cfg_mark_t *marks = NULL;
    size_t had = p->n_payloads;
    int rc = xb_cfg_read_payloads(ld, v, where, &p->payloads, &p->n_payloads, &marks);
    for (size_t i = had; marks && i < p->n_payloads; i++)
        xb_cfg_note(ld, p->payloads[i], marks[i]);
    free(marks);
    return rc;
}

/* Reads the entry's name first, so that every message can name the pipeline.
 * Returns the name as written (for messages), or a placeholder. */
static const char *read_pipeline_name(xb_cfg_loader_t *ld, yaml_node_t *m, xb_pipeline_config_t *p,
                                      char *where, size_t cap)
{
    snprintf(where, cap, "the pipeline at line %d", p->line);
    yaml_node_t *nv = xb_cfg_find_value(ld, m, "name");
    if (!nv || xb_cfg_is_null(nv)) {
        xb_cfg_problem(ld, xb_cfg_mark(m), "the pipeline at line %d has no 'name'", p->line);
        return "?";
    }
    if (nv->type != YAML_SCALAR_NODE || !xb_cfg_scalar_clean(nv)) {
        xb_cfg_problem(ld, xb_cfg_mark(nv), "'name' in %s must be a string, got %s", where,
                       xb_cfg_kind_name(nv));
        return "?";
    }
    const char *name = xb_cfg_scalar(nv);
    if (!xb_config_valid_name(name))
        xb_cfg_problem(ld, xb_cfg_mark(nv), "invalid pipeline name '%.80s': " NAME_RULE, name,
                       XB_NAME_MAX - 1);
    else if (strcmp(name, "system") == 0)
        xb_cfg_problem(ld, xb_cfg_mark(nv),
                       "pipeline name 'system' is reserved (the pump sends as 'system')");
    else
        snprintf(p->name, sizeof p->name, "%s", name);
    xb_cfg_note(ld, p->name, xb_cfg_mark(nv));
    snprintf(where, cap, "pipeline '%.80s'", name);
    return name;
}

static void load_pipeline(xb_cfg_loader_t *ld, yaml_node_t *m, xb_pipeline_config_t *p)
{
    const xb_key_section_t *s = &xb_config_key_sections()[XB_SECTION_PIPELINE];
    memset(p, 0, sizeof *p);
    xb_config_keys_defaults(s, p);
    snprintf(p->input, sizeof p->input, "input");
    p->line = xb_cfg_mark(m).line;
    if (m->type != YAML_MAPPING_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(m),
                       "each entry of 'pipelines' must be a mapping with at least 'name', "
                       "'output' and 'steps', got %s",
                       xb_cfg_kind_name(m));
        return;
    }
    char where[160];
    pctx_t pc = {read_pipeline_name(ld, m, p, where, sizeof where), false};
    xb_cfg_walk(ld, m, s, where, p, &pc, NULL);
    if (!xb_cfg_find_value(ld, m, "output"))
        xb_cfg_problem(ld, xb_cfg_mark(m),
                       "%s has no 'output': name the entry the caller gets as the response", where);
    if (!xb_cfg_find_value(ld, m, "steps"))
        xb_cfg_problem(ld, xb_cfg_mark(m), "%s has no 'steps'", where);
}

void xb_cfg_load_pipelines(xb_cfg_loader_t *ld, yaml_node_t *v)
{
    if (!v || xb_cfg_is_null(v))
        return;
    if (v->type != YAML_SEQUENCE_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'pipelines' must be a list of pipelines, got %s",
                       xb_cfg_kind_name(v));
        return;
    }
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0)
        return;
    ld->cfg->pipelines = calloc(n, sizeof *ld->cfg->pipelines);
    if (!ld->cfg->pipelines) {
        ld->nomem = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *m = xb_cfg_node(ld, v->data.sequence.items.start[i]);
        if (!m)
            continue;
        ld->cfg->n_pipelines = i + 1;
        load_pipeline(ld, m, &ld->cfg->pipelines[i]);
    }
}
