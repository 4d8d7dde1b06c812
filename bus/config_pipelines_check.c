/* Checks of the section pipelines against the rest of the file
 * (bus/config_yaml.h, docs/pipelines.md): names shared with listeners,
 * steps naming nothing, cycles between pipelines, and the flow of entries:
 * every need, every batch's list and the output must have been produced
 * before, and no entry is produced twice. */
#include "config_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A list of entry names with the line that produced each. */
typedef struct {
    const char **name;
    int *line;
    size_t n, cap;
} entries_t;

static void entries_push(xb_cfg_loader_t *ld, entries_t *e, const char *name, int line)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        const char **nn = realloc(e->name, cap * sizeof *nn);
        if (nn)
            e->name = nn;
        int *nl = nn ? realloc(e->line, cap * sizeof *nl) : NULL;
        if (!nl) {
            ld->nomem = true;
            return;
        }
        e->line = nl;
        e->cap = cap;
    }
    e->name[e->n] = name;
    e->line[e->n++] = line;
}

static void entries_free(entries_t *e)
{
    free(e->name);
    free(e->line);
}

/* Index of name in e, or -1. */
static long entries_find(const entries_t *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->name[i], name) == 0)
            return (long)i;
    return -1;
}

/* What the flow check of one pipeline carries. */
typedef struct {
    xb_cfg_loader_t *ld;
    const xb_pipeline_config_t *p;
    entries_t avail; /* entries a step at this point can rely on */
    entries_t all;   /* every entry produced so far, the input first */
    entries_t every; /* every entry any step produces, for hints */
} flow_t;

/* ----------------------------------------------------------------- names */

static void check_names(xb_cfg_loader_t *ld)
{
    const xb_config_t *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        const xb_pipeline_config_t *p = &cfg->pipelines[i];
        if (!p->name[0])
            continue;
        xb_cfg_mark_t m = xb_cfg_noted(ld, p->name);
        const xb_listener_config_t *l = xb_config_listener(cfg, p->name);
        const xb_pipeline_config_t *q = xb_config_pipeline(cfg, p->name);
        if (l)
            xb_cfg_problem(ld, m,
                           "pipeline '%s' has the name of listener '%s' (line %d): listeners "
                           "and pipelines share one namespace",
                           p->name, l->name, l->line);
        else if (q != p)
            xb_cfg_problem(ld, m, "pipeline name '%s' is used twice (lines %d and %d)", p->name,
                           q->line, p->line);
    }
}

/* ------------------------------------------------------------------ flow */

static void step_where(const flow_t *f, const xb_step_config_t *st, char *buf, size_t cap)
{
    snprintf(buf, cap, "the step at line %d of pipeline '%s'", st->line, f->p->name);
}

/* need must be available; m is where to report it, who what needs it. */
static void require(flow_t *f, const char *need, xb_cfg_mark_t m, const char *who)
{
    if (entries_find(&f->avail, need) >= 0)
        return;
    long made = entries_find(&f->every, need);
    char later[100] = "";
    if (made >= 0)
        snprintf(later, sizeof later,
                 " (the step at line %d produces it, but does not run before this one)",
                 f->every.line[made]);
    xb_cfg_problem(f->ld, m,
                   "%s needs '%s', which neither the input '%s' of pipeline '%s' nor an "
                   "earlier step's result provides%s",
                   who, need, f->p->input, f->p->name, later);
}

/* A step produced entry r (noted at m): it must be new to the pipeline. */
static void produce(flow_t *f, const char *r, xb_cfg_mark_t m, int line)
{
    long had = entries_find(&f->all, r);
    if (had == 0)
        xb_cfg_problem(f->ld, m, "result '%s' in pipeline '%s' is its input: name it otherwise", r,
                       f->p->name);
    else if (had > 0)
        xb_cfg_problem(f->ld, m, "result '%s' in pipeline '%s' is produced twice (lines %d and %d)",
                       r, f->p->name, f->all.line[had], line);
    else
        entries_push(f->ld, &f->all, r, line);
    entries_push(f->ld, &f->avail, r, line);
}

static void flow_step(flow_t *f, const xb_step_config_t *st, bool in_batch);

/* "unknown listener 'x' in ...", with the closest name of that kind. */
static void unknown_target(xb_cfg_loader_t *ld, const xb_step_config_t *st, xb_cfg_mark_t m,
                           const char *where)
{
    const xb_config_t *cfg = ld->cfg;
    bool is_listener = st->kind == XB_STEP_LISTENER;
    size_t n = is_listener ? cfg->n_listeners : cfg->n_pipelines;
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names) {
        ld->nomem = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        names[i] = is_listener ? cfg->listeners[i].name : cfg->pipelines[i].name;
    const char *kind = is_listener ? "listener" : "pipeline";
    char h[128];
    xb_cfg_problem(ld, m, "unknown %s '%s' in %s: no %s has that name%s", kind, st->target, where,
                   kind, xb_cfg_hint(h, sizeof h, st->target, names, n));
    free(names);
}

/* A listener or pipeline step: its target exists, its needs are there. */
static const char *call_step(flow_t *f, const xb_step_config_t *st, const char *where)
{
    const xb_config_t *cfg = f->ld->cfg;
    xb_cfg_mark_t m = xb_cfg_noted(f->ld, st->target);
    bool is_listener = st->kind == XB_STEP_LISTENER;
    const xb_listener_config_t *l = is_listener && st->target[0]
                                        ? xb_config_listener(cfg, st->target)
                                        : NULL;
    bool found = is_listener ? l != NULL : xb_config_pipeline(cfg, st->target) != NULL;
    if (!found && st->target[0]) {
        bool other = is_listener ? xb_config_pipeline(cfg, st->target) != NULL
                                 : xb_config_listener(cfg, st->target) != NULL;
        if (other)
            xb_cfg_problem(f->ld, m, "'%s' in %s is a %s: write '%s: %s'", st->target, where,
                           is_listener ? "pipeline" : "listener",
                           is_listener ? "pipeline" : "listener", st->target);
        else
            unknown_target(f->ld, st, m, where);
    }
    for (size_t i = 0; i < st->n_needs; i++)
        require(f, st->needs[i], xb_cfg_noted(f->ld, st->needs[i]), where);
    char who[320];
    snprintf(who, sizeof who, "listener '%s' (line %d), called by %s,", st->target, l ? l->line : 0,
             where);
    for (size_t i = 0; l && i < l->n_needs; i++)
        require(f, l->needs[i], m, who);
    if (st->result[0])
        return st->result;
    return l ? l->result : "";
}

/* Branches see what was there before the parallel, not each other. */
static void flow_parallel(flow_t *f, const xb_step_config_t *st)
{
    size_t base = f->avail.n;
    entries_t joined = {0};
    for (size_t i = 0; i < st->n_steps; i++) {
        flow_step(f, &st->steps[i], false);
        for (size_t j = base; j < f->avail.n; j++)
            entries_push(f->ld, &joined, f->avail.name[j], f->avail.line[j]);
        f->avail.n = base;
    }
    for (size_t j = 0; j < joined.n; j++)
        entries_push(f->ld, &f->avail, joined.name[j], joined.line[j]);
    entries_free(&joined);
}

static void flow_step(flow_t *f, const xb_step_config_t *st, bool in_batch)
{
    char where[160];
    step_where(f, st, where, sizeof where);
    const char *r = "";
    switch (st->kind) {
    case XB_STEP_LISTENER:
    case XB_STEP_PIPELINE:
        r = call_step(f, st, where);
        if (!in_batch && !r[0] && st->kind == XB_STEP_LISTENER && st->target[0] &&
            !xb_cfg_noted(f->ld, st->result).line)
            xb_cfg_problem(f->ld, xb_cfg_noted(f->ld, st),
                           "%s has no 'result' and listener '%s' declares none: name the entry "
                           "its response is stored under",
                           where, st->target);
        break;
    case XB_STEP_PARALLEL:
        flow_parallel(f, st);
        return;
    case XB_STEP_BATCH:
        if (st->over[0])
            require(f, st->over, xb_cfg_noted(f->ld, st->over), where);
        if (st->n_steps)
            flow_step(f, &st->steps[0], true);
        r = st->result;
        break;
    }
    if (in_batch || !r[0])
        return;
    xb_cfg_mark_t m = xb_cfg_noted(f->ld, st->result);
    if (!m.line)
        m = xb_cfg_noted(f->ld, st->target);
    produce(f, r, m, st->line);
}

/* Every result of steps[] and of their children, for hints. */
static void collect_results(xb_cfg_loader_t *ld, entries_t *e, const xb_step_config_t *steps,
                            size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (steps[i].result[0])
            entries_push(ld, e, steps[i].result, steps[i].line);
        collect_results(ld, e, steps[i].steps, steps[i].n_steps);
    }
}

static void check_flow(xb_cfg_loader_t *ld, const xb_pipeline_config_t *p)
{
    flow_t f = {ld, p, {0}, {0}, {0}};
    entries_push(ld, &f.all, p->input, p->line);
    entries_push(ld, &f.avail, p->input, p->line);
    collect_results(ld, &f.every, p->steps, p->n_steps);
    for (size_t i = 0; i < p->n_steps; i++)
        flow_step(&f, &p->steps[i], false);
    /* Without steps the pipeline has a problem of its own already. */
    if (p->output[0] && p->n_steps && entries_find(&f.all, p->output) <= 0)
        xb_cfg_problem(ld, xb_cfg_noted(ld, p->output),
                       "output '%s' of pipeline '%s' is produced by no step", p->output, p->name);
    entries_free(&f.avail);
    entries_free(&f.all);
    entries_free(&f.every);
}

/* ---------------------------------------------------------------- cycles */

/* Depth-first over "pipeline uses pipeline"; a step that reaches a pipeline
 * still on the path closes a cycle. */
typedef struct {
    xb_cfg_loader_t *ld;
    char *state; /* per pipeline: 0 unseen, 1 on the path, 2 done */
    size_t *path;
    size_t depth;
} cycles_t;

static void visit(cycles_t *c, size_t i);

static void visit_steps(cycles_t *c, const xb_step_config_t *steps, size_t n)
{
    const xb_config_t *cfg = c->ld->cfg;
    for (size_t s = 0; s < n; s++) {
        const xb_step_config_t *st = &steps[s];
        visit_steps(c, st->steps, st->n_steps);
        const xb_pipeline_config_t *q = st->kind == XB_STEP_PIPELINE
                                            ? xb_config_pipeline(cfg, st->target)
                                            : NULL;
        if (!q)
            continue;
        size_t j = (size_t)(q - cfg->pipelines);
        if (c->state[j] == 0) {
            visit(c, j);
            continue;
        }
        if (c->state[j] != 1)
            continue;
        char chain[600] = "";
        size_t used = 0, k = c->depth;
        while (k > 0 && c->path[k - 1] != j)
            k--;
        for (k = k ? k - 1 : 0; k < c->depth && used < sizeof chain; k++)
            used += (size_t)snprintf(chain + used, sizeof chain - used, "%s -> ",
                                     cfg->pipelines[c->path[k]].name);
        xb_cfg_problem(c->ld, xb_cfg_noted(c->ld, st->target),
                       "cycle between pipelines: %s%s (a pipeline cannot use itself)",
                       used < sizeof chain ? chain : "", q->name);
    }
}

static void visit(cycles_t *c, size_t i)
{
    c->state[i] = 1;
    c->path[c->depth++] = i;
    const xb_pipeline_config_t *p = &c->ld->cfg->pipelines[i];
    visit_steps(c, p->steps, p->n_steps);
    c->depth--;
    c->state[i] = 2;
}

static void check_cycles(xb_cfg_loader_t *ld)
{
    size_t n = ld->cfg->n_pipelines;
    cycles_t c = {ld, calloc(n, 1), calloc(n, sizeof(size_t)), 0};
    if (!c.state || !c.path)
        ld->nomem = true;
    for (size_t i = 0; c.state && c.path && i < n; i++)
        if (c.state[i] == 0)
            visit(&c, i);
    free(c.state);
    free(c.path);
}

void xb_cfg_check_pipelines(xb_cfg_loader_t *ld)
{
    if (!ld->cfg->n_pipelines)
        return;
    check_names(ld);
    for (size_t i = 0; i < ld->cfg->n_pipelines; i++)
        check_flow(ld, &ld->cfg->pipelines[i]);
    check_cycles(ld);
}
