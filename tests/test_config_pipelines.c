/* Tests of bus/config_pipelines.c, config_pipelines_check.c and
 * config_memory.c: the sections memory and pipelines of organism.yaml, a
 * listener's needs and result, the model they load into and every check
 * with its line and column (docs/pipelines.md). */
#include "xmlbus/config.h"
#include "config_build.h"

#include <CUnit/CUnit.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xbt_main.h"
#include "xbt_tmp.h"

#ifndef XB_SOURCE_DIR
#define XB_SOURCE_DIR "."
#endif
#define DATA_DIR XB_SOURCE_DIR "/tests/data/config"

/* ----------------------------------------------------------------- helpers */

static xb_config_t *load_str(const char *yaml, xb_error_t *err)
{
    xb_error_clear(err);
    return xb_config_load_string(yaml, strlen(yaml), "t.yaml", DATA_DIR, err);
}

/* Loading yaml must fail at line:col with needle in the message. */
static void expect_error_at(const char *yaml, int line, int col, const char *needle, int src_line)
{
    xb_error_t err;
    xb_config_t *cfg = load_str(yaml, &err);
    CU_ASSERT_PTR_NULL(cfg);
    xb_config_destroy(&cfg);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.yaml:%d:%d: ", line, col);
    bool ok = err.code == XB_ERR_CONFIG && err.line == line && err.column == col &&
              strncmp(err.message, prefix, strlen(prefix)) == 0 &&
              strstr(err.message, needle) != NULL;
    if (!ok)
        fprintf(stderr, "\n  test line %d: expected %d:%d '%s', got %d:%d code %d: %s\n", src_line,
                line, col, needle, err.line, err.column, err.code, err.message);
    CU_ASSERT_TRUE(ok);
}
#define EXPECT_ERROR(yaml, line, col, needle) expect_error_at(yaml, line, col, needle, __LINE__)

static xb_config_t *expect_ok(const char *yaml)
{
    xb_error_t err;
    xb_config_t *cfg = load_str(yaml, &err);
    if (!cfg)
        fprintf(stderr, "\n  unexpected error: %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL(cfg);
    return cfg;
}

/* Lines 1-13: four listeners. tok produces 'tokens' by itself, count needs
 * it. Pipelines start at line 15. */
#define LISTENERS             \
    "organism:\n  name: t\n"  \
    "listeners:\n"            \
    "  - name: tok\n"         \
    "    payload: document\n" \
    "    result: tokens\n"    \
    "  - name: count\n"       \
    "    payload: count\n"    \
    "    needs: [tokens]\n"   \
    "  - name: kw\n"          \
    "    payload: kw\n"       \
    "  - name: sum\n"         \
    "    payload: sum\n"      \
    "pipelines:\n"

static bool has(char **items, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i], s) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------ good files */

static void test_defaults(void)
{
    xb_config_t *cfg = expect_ok("organism:\n  name: t\nlisteners:\n  - name: a\n    payload: p\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_FALSE(cfg->memory.keep);
    CU_ASSERT_EQUAL(cfg->memory.max_entries, 256);
    CU_ASSERT_EQUAL(cfg->memory.max_entry_bytes, (size_t)1 << 20);
    CU_ASSERT_EQUAL(cfg->memory.n_types, 0);
    CU_ASSERT_EQUAL(cfg->memory.line, 0);
    CU_ASSERT_EQUAL(cfg->n_pipelines, 0);
    CU_ASSERT_EQUAL(cfg->listeners[0].n_needs, 0);
    CU_ASSERT_STRING_EQUAL(cfg->listeners[0].result, "");
    CU_ASSERT_PTR_NULL(xb_config_pipeline(cfg, "a"));
    xb_config_destroy(&cfg);
    /* In code too. */
    cfg = xb_config_new_default("t");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(cfg->memory.max_entries, 256);
    CU_ASSERT_EQUAL(cfg->memory.max_entry_bytes, (size_t)1 << 20);
    xb_config_destroy(&cfg);
    /* A pipeline's own defaults. */
    cfg = expect_ok(LISTENERS "  - name: p\n"
                              "    output: tokens\n"
                              "    steps:\n"
                              "      - listener: tok\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    const xb_pipeline_config_t *p = xb_config_pipeline(cfg, "p");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->input, "input");
    CU_ASSERT_EQUAL(p->n_payloads, 0);
    CU_ASSERT_EQUAL(p->timeout_seconds, 0.0);
    CU_ASSERT_EQUAL(p->line, 15);
    CU_ASSERT_EQUAL(p->steps[0].timeout_seconds, 0.0);
    CU_ASSERT_EQUAL(p->steps[0].max_concurrency, 0);
    CU_ASSERT_EQUAL(p->steps[0].n_needs, 0);
    xb_config_destroy(&cfg);
}

static void test_memory_section(void)
{
    xb_config_t *cfg = expect_ok("organism:\n  name: t\n"
                                 "memory:\n"
                                 "  keep: true\n"
                                 "  max_entries: 10\n"
                                 "  max_entry_bytes: 64KiB\n"
                                 "  types:\n"
                                 "    - name: tagline\n"
                                 "      element: '{urn:x}tagline'\n"
                                 "      schema: greeter.xsd\n"
                                 "    - name: doc.v2\n"
                                 "      element: document\n"
                                 "listeners:\n"
                                 "  - name: a\n"
                                 "    payload: p\n"
                                 "    needs: [doc.v2, _raw]\n"
                                 "    result: tagline\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    const xb_memory_config_t *m = &cfg->memory;
    CU_ASSERT_TRUE(m->keep);
    CU_ASSERT_EQUAL(m->max_entries, 10);
    CU_ASSERT_EQUAL(m->max_entry_bytes, 64 * 1024);
    CU_ASSERT_EQUAL(m->line, 3);
    /* the backend keeps the memory within these (xb_backend_wmem_put) */
    CU_ASSERT_EQUAL(cfg->backend.max_wmem_entries, 10);
    CU_ASSERT_EQUAL(cfg->backend.max_wmem_entry_bytes, 64 * 1024);
    CU_ASSERT_EQUAL_FATAL(m->n_types, 2);
    CU_ASSERT_STRING_EQUAL(m->types[0].name, "tagline");
    CU_ASSERT_STRING_EQUAL(m->types[0].element, "{urn:x}tagline");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m->types[0].schema);
    CU_ASSERT_EQUAL(m->types[0].schema[0], '/');
    CU_ASSERT_PTR_NOT_NULL(strstr(m->types[0].schema, "tests/data/config/greeter.xsd"));
    CU_ASSERT_EQUAL(m->types[0].line, 8);
    CU_ASSERT_STRING_EQUAL(m->types[1].name, "doc.v2");
    CU_ASSERT_PTR_NULL(m->types[1].schema);
    const xb_listener_config_t *l = xb_config_listener(cfg, "a");
    CU_ASSERT_EQUAL_FATAL(l->n_needs, 2);
    CU_ASSERT_STRING_EQUAL(l->needs[0], "doc.v2");
    CU_ASSERT_STRING_EQUAL(l->needs[1], "_raw");
    CU_ASSERT_STRING_EQUAL(l->result, "tagline");
    xb_config_destroy(&cfg);
}

static void test_sequence(void)
{
    xb_config_t *cfg = expect_ok(LISTENERS "  - name: p\n"
                                           "    payload: [text, '{urn:t}text']\n"
                                           "    input: doc\n"
                                           "    output: summary\n"
                                           "    timeout_seconds: 30\n"
                                           "    steps:\n"
                                           "      - listener: tok\n"
                                           "        needs: [doc]\n"
                                           "      - listener: count\n"
                                           "        result: counts\n"
                                           "        timeout_seconds: 5\n"
                                           "      - listener: sum\n"
                                           "        needs: [tokens, counts]\n"
                                           "        result: summary\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL_FATAL(cfg->n_pipelines, 1);
    const xb_pipeline_config_t *p = &cfg->pipelines[0];
    CU_ASSERT_PTR_EQUAL(xb_config_pipeline(cfg, "p"), p);
    CU_ASSERT_STRING_EQUAL(p->name, "p");
    CU_ASSERT_EQUAL_FATAL(p->n_payloads, 2);
    CU_ASSERT_STRING_EQUAL(p->payloads[1], "{urn:t}text");
    CU_ASSERT_STRING_EQUAL(p->input, "doc");
    CU_ASSERT_STRING_EQUAL(p->output, "summary");
    CU_ASSERT_EQUAL(p->timeout_seconds, 30.0);
    CU_ASSERT_EQUAL_FATAL(p->n_steps, 3);
    const xb_step_config_t *s = p->steps;
    CU_ASSERT_EQUAL(s[0].kind, XB_STEP_LISTENER);
    CU_ASSERT_STRING_EQUAL(s[0].target, "tok");
    CU_ASSERT_STRING_EQUAL(s[0].result, "tokens"); /* the listener's */
    CU_ASSERT_EQUAL(s[0].line, 21);
    CU_ASSERT_TRUE(s[0].n_needs == 1 && has(s[0].needs, s[0].n_needs, "doc"));
    CU_ASSERT_STRING_EQUAL(s[1].target, "count");
    CU_ASSERT_STRING_EQUAL(s[1].result, "counts");
    CU_ASSERT_EQUAL(s[1].timeout_seconds, 5.0);
    CU_ASSERT_EQUAL(s[1].n_steps, 0);
    CU_ASSERT_STRING_EQUAL(s[2].result, "summary");
    CU_ASSERT_EQUAL(s[2].n_needs, 2);
    /* A loaded config passes the code-built checks too. */
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), 0);
    xb_config_destroy(&cfg);
}

static void test_parallel(void)
{
    xb_config_t *cfg = expect_ok(LISTENERS "  - name: p\n"
                                           "    output: summary\n"
                                           "    steps:\n"
                                           "      - listener: tok\n"
                                           "      - parallel:\n"
                                           "          - {listener: count, result: counts}\n"
                                           "          - {listener: kw, result: keywords}\n"
                                           "        max_concurrency: 2\n"
                                           "        timeout_seconds: 9\n"
                                           "      - listener: sum\n"
                                           "        needs: [counts, keywords]\n"
                                           "        result: summary\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    const xb_pipeline_config_t *p = &cfg->pipelines[0];
    CU_ASSERT_EQUAL_FATAL(p->n_steps, 3);
    const xb_step_config_t *par = &p->steps[1];
    CU_ASSERT_EQUAL(par->kind, XB_STEP_PARALLEL);
    CU_ASSERT_STRING_EQUAL(par->result, "");
    CU_ASSERT_EQUAL(par->max_concurrency, 2);
    CU_ASSERT_EQUAL(par->timeout_seconds, 9.0);
    CU_ASSERT_EQUAL_FATAL(par->n_steps, 2);
    CU_ASSERT_EQUAL(par->steps[0].kind, XB_STEP_LISTENER);
    CU_ASSERT_STRING_EQUAL(par->steps[0].target, "count");
    CU_ASSERT_STRING_EQUAL(par->steps[1].result, "keywords");
    CU_ASSERT_EQUAL(par->steps[1].line, 21);
    xb_config_destroy(&cfg);
}

static void test_batch_and_nested(void)
{
    xb_config_t *cfg = expect_ok(LISTENERS "  - name: per_par\n"
                                           "    input: paragraph\n"
                                           "    output: counts\n"
                                           "    steps:\n"
                                           "      - {listener: kw, needs: [paragraph], "
                                           "result: counts}\n"
                                           "  - name: outer\n"
                                           "    payload: text\n"
                                           "    output: summary\n"
                                           "    steps:\n"
                                           "      - listener: tok\n"
                                           "      - batch: {pipeline: per_par}\n"
                                           "        over: tokens\n"
                                           "        result: paragraph_counts\n"
                                           "        max_concurrency: 4\n"
                                           "      - pipeline: per_par\n"
                                           "        needs: [tokens]\n"
                                           "        result: all_counts\n"
                                           "      - listener: sum\n"
                                           "        needs: [paragraph_counts, all_counts]\n"
                                           "        result: summary\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL_FATAL(cfg->n_pipelines, 2);
    const xb_pipeline_config_t *p = xb_config_pipeline(cfg, "outer");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL_FATAL(p->n_steps, 4);
    const xb_step_config_t *b = &p->steps[1];
    CU_ASSERT_EQUAL(b->kind, XB_STEP_BATCH);
    CU_ASSERT_STRING_EQUAL(b->over, "tokens");
    CU_ASSERT_STRING_EQUAL(b->result, "paragraph_counts");
    CU_ASSERT_EQUAL(b->max_concurrency, 4);
    CU_ASSERT_EQUAL_FATAL(b->n_steps, 1);
    CU_ASSERT_EQUAL(b->steps[0].kind, XB_STEP_PIPELINE);
    CU_ASSERT_STRING_EQUAL(b->steps[0].target, "per_par");
    CU_ASSERT_STRING_EQUAL(b->steps[0].result, "");
    const xb_step_config_t *n = &p->steps[2];
    CU_ASSERT_EQUAL(n->kind, XB_STEP_PIPELINE);
    CU_ASSERT_STRING_EQUAL(n->target, "per_par");
    CU_ASSERT_STRING_EQUAL(n->result, "all_counts");
    /* A listener step inside a batch takes no result from its listener. */
    xb_config_destroy(&cfg);
    cfg = expect_ok(LISTENERS "  - name: p\n"
                              "    output: each\n"
                              "    steps:\n"
                              "      - listener: tok\n"
                              "      - batch: {listener: tok}\n"
                              "        over: tokens\n"
                              "        result: each\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_STRING_EQUAL(cfg->pipelines[0].steps[1].steps[0].result, "");
    xb_config_destroy(&cfg);
}

/* ------------------------------------------------------------- the checks */

static void test_unknown_targets(void)
{
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - {listener: nope, result: x}\n",
                 18, 20, "unknown listener 'nope' in the step at line 18 of pipeline 'p'");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - {listener: sun, result: x}\n",
                 18, 20, "no listener has that name (did you mean 'sum'?)");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - {pipeline: q, result: x}\n"
                           "  - name: qq\n"
                           "    output: y\n"
                           "    steps: [{listener: kw, result: y}]\n",
                 18, 20,
                 "unknown pipeline 'q' in the step at line 18 of pipeline 'p': no "
                 "pipeline has that name (did you mean 'qq'?)");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - pipeline: nope\n"
                           "        result: x\n",
                 18, 19, "unknown pipeline 'nope'");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - pipeline: tok\n"
                           "        result: x\n",
                 18, 19,
                 "'tok' in the step at line 18 of pipeline 'p' is a listener: write "
                 "'listener: tok'");
}

static void test_cycles(void)
{
    EXPECT_ERROR(LISTENERS "  - name: a\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - {pipeline: b, result: x}\n"
                           "  - name: b\n"
                           "    output: y\n"
                           "    steps:\n"
                           "      - {pipeline: a, result: y}\n",
                 22, 20, "cycle between pipelines: a -> b -> a");
    EXPECT_ERROR(LISTENERS "  - name: a\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - parallel:\n"
                           "          - {pipeline: a, result: x}\n",
                 19, 24, "cycle between pipelines: a -> a");
}

static void test_needs(void)
{
    /* A step's own need. */
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - {listener: kw, needs: [input, later], result: x}\n",
                 18, 39, "needs 'later', which neither the input 'input' of pipeline 'p'");
    /* Produced, but after the step that needs it. */
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - {listener: kw, needs: [tokens], result: y}\n"
                           "      - {listener: tok}\n"
                           "      - {listener: sum, result: x}\n",
                 18, 32, "(the step at line 19 produces it, but does not run before this one)");
    /* The listener's need: count needs tokens. */
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - {listener: count, result: x}\n",
                 18, 20,
                 "listener 'count' (line 7), called by the step at line 18 of pipeline "
                 "'p', needs 'tokens'");
    /* Branches of a parallel do not see each other. */
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - parallel:\n"
                           "          - {listener: tok}\n"
                           "          - {listener: count, result: c}\n"
                           "      - {listener: sum, needs: [tokens, c], result: x}\n",
                 20, 24, "listener 'count' (line 7), called by the step at line 20");
    /* ...the steps after it see all of them (same file, valid). */
    xb_config_t *cfg = expect_ok(LISTENERS "  - name: p\n"
                                           "    output: x\n"
                                           "    steps:\n"
                                           "      - parallel:\n"
                                           "          - {listener: tok}\n"
                                           "          - {listener: kw, result: k}\n"
                                           "      - {listener: count, needs: [k], result: c}\n"
                                           "      - {listener: sum, needs: [tokens, c], result: "
                                           "x}\n");
    xb_config_destroy(&cfg);
    /* A batch's list must be there before. */
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - batch: {listener: kw}\n"
                           "        over: tokens\n"
                           "        result: x\n",
                 19, 15, "the step at line 18 of pipeline 'p' needs 'tokens'");
}

static void test_results(void)
{
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: tokens\n"
                           "    steps:\n"
                           "      - {listener: tok}\n"
                           "      - {listener: kw, result: tokens}\n",
                 19, 32, "result 'tokens' in pipeline 'p' is produced twice (lines 18 and 19)");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    input: doc\n"
                           "    output: y\n"
                           "    steps:\n"
                           "      - {listener: kw, result: doc}\n"
                           "      - {listener: sum, result: y}\n",
                 19, 32, "result 'doc' in pipeline 'p' is its input");
    /* Twice across branches of a parallel. */
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - parallel:\n"
                           "          - {listener: kw, result: x}\n"
                           "          - {listener: sum, result: x}\n",
                 20, 37, "produced twice (lines 19 and 20)");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: nothing\n"
                           "    steps:\n"
                           "      - {listener: tok}\n",
                 16, 13, "output 'nothing' of pipeline 'p' is produced by no step");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: input\n"
                           "    steps:\n"
                           "      - {listener: tok}\n",
                 16, 13, "produced by no step");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: tokens\n"
                           "    steps:\n"
                           "      - {listener: tok}\n"
                           "      - listener: kw\n",
                 19, 9, "has no 'result' and listener 'kw' declares none");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - {pipeline: q}\n"
                           "      - {listener: kw, result: x}\n"
                           "  - name: q\n"
                           "    output: tokens\n"
                           "    steps: [{listener: tok}]\n",
                 18, 9, "has no 'result': name the entry it produces");
}

static void test_bounds_and_shapes(void)
{
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - parallel: [{listener: kw, result: x}]\n"
                           "        max_concurrency: 0\n",
                 19, 26, "max_concurrency");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    timeout_seconds: -1\n"
                           "    steps: [{listener: kw, result: x}]\n",
                 17, 22, "timeout_seconds");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps: [{listener: kw, result: x, timeout_seconds: -0.5}]\n",
                 17, 56, "timeout_seconds");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps: [{listener: kw, pipeline: q, result: x}]\n",
                 17, 38, "'listener' and 'pipeline' in the step at line 17 of pipeline 'p'");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps: [{result: x}]\n",
                 17, 13, "has none of 'listener', 'pipeline', 'parallel' or 'batch'");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps: [{listener: kw, result: x, over: y}]\n",
                 17, 45,
                 "'over' in the step at line 17 of pipeline 'p' does not apply to a "
                 "listener step");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - parallel: [{listener: kw, result: x}]\n"
                           "        result: y\n",
                 19, 17,
                 "'result' in the step at line 18 of pipeline 'p' does not apply to a "
                 "parallel step");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - parallel:\n"
                           "          - listener: kw\n"
                           "            result: x\n"
                           "          - parallel: [{listener: kw, result: z}]\n",
                 19, 11,
                 "branch 2 of 'parallel' in the step at line 18 of pipeline 'p' is a parallel "
                 "step: a branch is one listener or pipeline step");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - batch: {parallel: [{listener: kw, result: z}]}\n"
                           "        over: input\n"
                           "        result: x\n",
                 18, 16, "must be one listener or pipeline step, got a parallel step");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - batch: {listener: kw, result: z}\n"
                           "        over: input\n"
                           "        result: x\n",
                 18, 39, "the step of a batch has none");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - batch: {listener: kw}\n"
                           "        result: x\n",
                 18, 9, "has no 'over'");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps: []\n",
                 17, 12, "'steps' in pipeline 'p' must be a list of at least one step");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    steps: [{listener: tok}]\n",
                 15, 5, "pipeline 'p' has no 'output'");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n",
                 15, 5, "pipeline 'p' has no 'steps'");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps: [{listener: kw, result: x}]\n"
                           "    stepz: 1\n",
                 18, 5, "unknown key 'stepz' in pipeline 'p' (did you mean 'steps'?)");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps: [{listener: kw, result: x, max_concurency: 2}]\n",
                 17, 39, "did you mean 'max_concurrency'?");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps:\n"
                           "      - {pipeline: q, needs: [input, tokens], result: x}\n"
                           "  - name: q\n"
                           "    output: y\n"
                           "    steps: [{listener: kw, result: y}]\n",
                 18, 38, "a pipeline step needs at most one entry");
}

static void test_names(void)
{
    EXPECT_ERROR(LISTENERS "  - name: kw\n"
                           "    output: x\n"
                           "    steps: [{listener: tok, result: x}]\n",
                 15, 11, "pipeline 'kw' has the name of listener 'kw' (line 10)");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    output: x\n"
                           "    steps: [{listener: kw, result: x}]\n"
                           "  - name: p\n"
                           "    output: x\n"
                           "    steps: [{listener: kw, result: x}]\n",
                 18, 11, "pipeline name 'p' is used twice (lines 15 and 18)");
    EXPECT_ERROR(LISTENERS "  - name: 9p\n"
                           "    output: x\n"
                           "    steps: [{listener: kw, result: x}]\n",
                 15, 11, "invalid pipeline name '9p'");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    steps: [{listener: kw, result: 'a b'}]\n"
                           "    output: x\n",
                 16, 36, "invalid entry name 'a b'");
    EXPECT_ERROR("organism:\n  name: t\n"
                 "listeners:\n"
                 "  - name: a\n"
                 "    payload: p\n"
                 "    needs: [x, y, x]\n",
                 6, 19, "entry 'x' listed twice in listener 'a'");
    EXPECT_ERROR("organism:\n  name: t\n"
                 "listeners:\n"
                 "  - name: a\n"
                 "    payload: p\n"
                 "    needs: x\n",
                 6, 12, "'needs' in listener 'a' must be a list of entry names");
    char yaml[300];
    char long_name[XB_ENTRY_MAX + 1];
    memset(long_name, 'e', XB_ENTRY_MAX);
    long_name[XB_ENTRY_MAX] = '\0';
    snprintf(yaml, sizeof yaml,
             "organism:\n  name: t\nlisteners:\n  - name: a\n    payload: p\n    result: %s\n",
             long_name);
    EXPECT_ERROR(yaml, 6, 13, "invalid entry name");
    long_name[XB_ENTRY_MAX - 1] = '\0'; /* 63 characters: fine */
    CU_ASSERT_TRUE(xb_config_valid_entry_name(long_name));
    CU_ASSERT_TRUE(xb_config_valid_entry_name("_a.b-c9"));
    CU_ASSERT_FALSE(xb_config_valid_entry_name(".a"));
    CU_ASSERT_FALSE(xb_config_valid_entry_name("9a"));
    CU_ASSERT_FALSE(xb_config_valid_entry_name(""));
    CU_ASSERT_FALSE(xb_config_valid_entry_name(NULL));
}

static void test_payload_conflicts(void)
{
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    payload: [text, kw]\n"
                           "    output: x\n"
                           "    steps: [{listener: kw, result: x}]\n",
                 16, 21, "listener 'kw' (line 10) and pipeline 'p' (line 15) both accept 'kw'");
    /* Even a broadcast listener cannot share a pipeline's tag. */
    EXPECT_ERROR("organism:\n  name: t\n"
                 "listeners:\n"
                 "  - name: a\n"
                 "    payload: p\n"
                 "    broadcast: true\n"
                 "pipelines:\n"
                 "  - name: q\n"
                 "    payload: '{}p'\n"
                 "    output: x\n"
                 "    steps: [{listener: a, result: x}]\n",
                 9, 14, "a pipeline's payload cannot be shared");
    EXPECT_ERROR(LISTENERS "  - name: p\n"
                           "    payload: [text, text]\n"
                           "    output: x\n"
                           "    steps: [{listener: kw, result: x}]\n",
                 16, 21, "payload 'text' listed twice in pipeline 'p'");
}

static void test_memory_errors(void)
{
    EXPECT_ERROR("organism:\n  name: t\n"
                 "memory:\n"
                 "  types:\n"
                 "    - name: a\n"
                 "      element: a\n"
                 "    - name: a\n"
                 "      element: b\n"
                 "listeners:\n  - name: a\n    payload: p\n",
                 7, 13, "entry 'a' is typed twice in section 'memory' (lines 5 and 7)");
    EXPECT_ERROR("organism:\n  name: t\n"
                 "memory:\n"
                 "  types:\n"
                 "    - name: a\n"
                 "listeners:\n  - name: a\n    payload: p\n",
                 5, 7, "has no 'element'");
    EXPECT_ERROR("organism:\n  name: t\n"
                 "memory:\n"
                 "  types:\n"
                 "    - name: a\n"
                 "      element: 'not a tag'\n"
                 "listeners:\n  - name: a\n    payload: p\n",
                 6, 16, "invalid root tag 'not a tag'");
    EXPECT_ERROR("organism:\n  name: t\n"
                 "memory:\n"
                 "  types:\n"
                 "    - name: a\n"
                 "      element: a\n"
                 "      schema: missing.xsd\n"
                 "listeners:\n  - name: a\n    payload: p\n",
                 7, 15, "schema file 'missing.xsd' of the memory type at line 5 cannot be read");
    EXPECT_ERROR("organism:\n  name: t\n"
                 "memory:\n"
                 "  max_entries: 0\n"
                 "listeners:\n  - name: a\n    payload: p\n",
                 4, 16, "max_entries");
    EXPECT_ERROR("organism:\n  name: t\n"
                 "memory:\n"
                 "  kept: true\n"
                 "listeners:\n  - name: a\n    payload: p\n",
                 4, 3, "unknown key 'kept' in section 'memory' (did you mean 'keep'?)");
    EXPECT_ERROR("organism:\n  name: t\n"
                 "memory: [a]\n"
                 "listeners:\n  - name: a\n    payload: p\n",
                 3, 9, "section 'memory'");
    EXPECT_ERROR("organism:\n  name: t\n"
                 "listeners:\n  - name: a\n    payload: p\n"
                 "pipelines: {a: 1}\n",
                 6, 12, "'pipelines' must be a list of pipelines");
}

/* The example of docs/pipelines.md, as the loader sees it. */
static void test_example(void)
{
    xb_error_t err;
    xb_config_t *cfg = xb_config_load(XB_SOURCE_DIR "/examples/pipeline/organism.yaml", &err);
    if (!cfg)
        fprintf(stderr, "\n  %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(cfg->memory.n_types, 3);
    const xb_pipeline_config_t *p = xb_config_pipeline(cfg, "analyze");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL_FATAL(p->n_steps, 4);
    CU_ASSERT_EQUAL(p->steps[0].kind, XB_STEP_LISTENER);
    CU_ASSERT_STRING_EQUAL(p->steps[0].result, "tokens");
    CU_ASSERT_EQUAL(p->steps[1].kind, XB_STEP_PARALLEL);
    CU_ASSERT_EQUAL(p->steps[1].n_steps, 2);
    CU_ASSERT_EQUAL(p->steps[2].kind, XB_STEP_BATCH);
    CU_ASSERT_STRING_EQUAL(p->steps[2].over, "tokens");
    CU_ASSERT_EQUAL(p->steps[3].kind, XB_STEP_LISTENER);
    CU_ASSERT_STRING_EQUAL(p->steps[3].result, p->output);
    CU_ASSERT_TRUE(xb_config_listener(cfg, "keyword-extractor")->cpu_bound);
    CU_ASSERT_EQUAL(
        xb_config_check_all(XB_SOURCE_DIR "/examples/pipeline/organism.yaml", NULL, NULL, NULL), 0);
    xb_config_destroy(&cfg);
}

/* A config built in code is held to the memory section's bounds too. */
static void test_validate_memory(void)
{
    xb_config_t *cfg = xb_config_new_default("t");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    xb_error_t err;
    CU_ASSERT_PTR_NOT_NULL_FATAL(xb_config_add_listener(cfg, "a", "p", &err));
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), 0);
    cfg->memory.max_entries = 0;
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "'max_entries' must be from 1 to 1000000, got 0 "
                                               "in section 'memory'"));
    xb_config_destroy(&cfg);
}

/* xmlbus check reports every problem of a file, each with its position. */
static void report(const char *msg, void *user)
{
    char *all = user;
    strncat(all, msg, 8000 - strlen(all) - 2);
    strcat(all, "\n");
}

static void test_check_all(void)
{
    char dir[256], path[300];
    CU_ASSERT_EQUAL_FATAL(xbt_tmpdir_make(dir, sizeof dir, "cfgpipes"), 0);
    snprintf(path, sizeof path, "%s/o.yaml", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(LISTENERS "  - name: a\n"
                    "    output: none\n"
                    "    steps:\n"
                    "      - {listener: nope, result: x}\n"
                    "      - {pipeline: b, result: y, needs: [z]}\n"
                    "  - name: b\n"
                    "    output: w\n"
                    "    steps: [{pipeline: a, result: w}]\n",
          f);
    fclose(f);
    static char all[8000];
    all[0] = '\0';
    size_t n = xb_config_check_all(path, report, all, NULL);
    CU_ASSERT_EQUAL(n, 4);
    char want[4][400];
    snprintf(want[0], sizeof want[0], "%s:16:13: output 'none'", path);
    snprintf(want[1], sizeof want[1], "%s:18:20: unknown listener 'nope'", path);
    snprintf(want[2], sizeof want[2], "%s:22:24: cycle between pipelines: a -> b -> a", path);
    snprintf(want[3], sizeof want[3], "%s:19:42: the step at line 19 of pipeline 'a' needs 'z'",
             path);
    for (int i = 0; i < 4; i++) {
        if (!strstr(all, want[i]))
            fprintf(stderr, "\n  missing '%s' in:\n%s", want[i], all);
        CU_ASSERT_PTR_NOT_NULL(strstr(all, want[i]));
    }
    xbt_rmtree(dir);
}

static const xbt_test_t pipeline_tests[] = {
    {"defaults", test_defaults},
    {"section memory, needs and result", test_memory_section},
    {"three-step sequence", test_sequence},
    {"parallel", test_parallel},
    {"batch and nested pipelines", test_batch_and_nested},
    {"unknown listeners and pipelines", test_unknown_targets},
    {"cycles", test_cycles},
    {"needs and batch lists produced before", test_needs},
    {"results and output", test_results},
    {"bounds and step shapes", test_bounds_and_shapes},
    {"names", test_names},
    {"payload conflicts with listeners", test_payload_conflicts},
    {"memory errors", test_memory_errors},
    {"check_all reports every problem", test_check_all},
    {"examples/pipeline", test_example},
    {"validate: memory bounds", test_validate_memory},
    {NULL, NULL},
};

XBT_SUITES({"config_pipelines", NULL, NULL, NULL, NULL, pipeline_tests});
