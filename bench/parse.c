/* The bare cost baseline: what parsing and validating one message costs
 * with libxml2 and nothing else, measured in this process.
 *
 *   parse/envelope/SIZE   xb_envelope_parse of a whole delivered envelope
 *                         (hardened libxml2 parse + envelope.xsd + meta
 *                         checks) with one reused xb_parser_t, then destroy
 *   parse/payload/SIZE    xb_validator_check of its payload against the
 *                         echo schema, with one reused xb_validator_t
 *
 * Their sum is the "parse+validate" cost the pump's CPU per routed message
 * is compared with. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmlbus/config.h"
#include "config_build.h"
#include "xmlbus/envelope.h"
#include "schema.h"

typedef struct {
    char dir[BENCH_PATH_MAX];
    xb_parser_t *parser;
    xb_schemas_t *schemas;
    xb_validator_t *validator;
} parse_env_t;

static void parse_env_close(parse_env_t *e)
{
    xb_validator_destroy(&e->validator);
    xb_schemas_destroy(&e->schemas);
    xb_parser_destroy(&e->parser);
    if (e->dir[0])
        bench_tmpdir_remove(e->dir);
}

/* A parser with limits large enough for the biggest payload, and a
 * validator for one listener "echo" with the echo schema. */
static int parse_env_open(parse_env_t *e, xb_error_t *err)
{
    memset(e, 0, sizeof *e);
    if (bench_tmpdir(e->dir, err) != 0)
        return -1;
    char xsd[BENCH_PATH_MAX + 16];
    snprintf(xsd, sizeof xsd, "%s/echo.xsd", e->dir);
    if (bench_write_file(xsd, bench_echo_xsd, err) != 0)
        return -1;
    xb_parse_limits_t limits;
    xb_parse_limits_defaults(&limits);
    limits.max_bytes = 4u * 1024u * 1024u;
    e->parser = xb_parser_new(&limits, err);
    if (!e->parser)
        return -1;
    xb_config_t *cfg = xb_config_new_default("bench");
    if (!cfg)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    xb_listener_config_t *l = xb_config_add_listener(cfg, "echo", "echo", err);
    int rc = l ? xb_config_listener_set_schema(cfg, l, xsd, err) : -1;
    if (rc == 0)
        e->schemas = xb_schemas_new(cfg, err);
    xb_config_destroy(&cfg);
    if (!e->schemas)
        return -1;
    e->validator = xb_validator_new(e->schemas, err);
    return e->validator ? 0 : -1;
}

/* The envelope of one delivery, as the pump hands it to a listener. */
static char *delivered_envelope(parse_env_t *e, size_t size, size_t *len, xb_error_t *err)
{
    char *payload = bench_payload(size);
    if (!payload) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    xb_envelope_t *env = xb_envelope_build_bytes("console", "echo", NULL, payload, size, e->parser,
                                                 err);
    free(payload);
    char *out = NULL;
    if (env && xb_envelope_set_id(env, "5b0d2c1e-8a3f-4c4e-9d2a-1f0e3b4c5d6e", err) == 0 &&
        xb_envelope_set_ts(env, 1764000000000000, err) == 0 &&
        xb_envelope_set_depth(env, 1, err) == 0 && xb_envelope_serialize(env, &out, len) != 0)
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    xb_envelope_destroy(&env);
    return out;
}

static void parse_row(const bench_opts_t *o, parse_env_t *e, bench_row_t *row)
{
    xb_error_t err;
    xb_error_clear(&err);
    size_t len = 0;
    char *bytes = delivered_envelope(e, row->payload, &len, &err);
    xb_envelope_t *kept = bytes ? xb_envelope_parse(e->parser, bytes, len, &err) : NULL;
    if (!kept) {
        bench_row_finish(row, ST_FAILED, "%s", err.message);
        free(bytes);
        return;
    }
    xmlNodePtr payload = xb_envelope_payload(kept);
    uint64_t deadline = bench_now_ns() + (uint64_t)(o->seconds * 1e9 / 2);
    uint64_t n = 0, t0 = 0;
    int rc = 0;
    /* The first 1% (at least 50) are warm-up. */
    for (uint64_t i = 0; rc == 0 && i < (uint64_t)o->messages; i++) {
        if (i == 50)
            t0 = bench_now_ns();
        if (row->kind == ROW_PARSE_ENV) {
            xb_envelope_t *env = xb_envelope_parse(e->parser, bytes, len, &err);
            rc = env ? 0 : -1;
            xb_envelope_destroy(&env);
        } else {
            rc = xb_validator_check(e->validator, "echo", payload, &err);
        }
        if (i >= 50)
            n++;
        if ((i & 15) == 0 && i >= 50 && bench_now_ns() > deadline)
            break;
    }
    uint64_t t1 = bench_now_ns();
    if (rc != 0) {
        bench_row_finish(row, ST_FAILED, "%s", err.message);
    } else {
        row->round_trips = n;
        row->seconds = (double)(t1 - t0) / 1e9;
        row->us_per_msg = n ? (double)(t1 - t0) / 1000.0 / (double)n : -1;
        bench_row_finish(row, ST_OK, "%zu-byte envelope", len);
    }
    xb_envelope_destroy(&kept);
    free(bytes);
}

void bench_parse_rows(const bench_opts_t *o, bench_row_t *rows, size_t n, int *progress, int total)
{
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= rows[i].selected && (rows[i].kind == ROW_PARSE_ENV || rows[i].kind == ROW_VALIDATE);
    if (!any)
        return;
    parse_env_t e;
    xb_error_t err;
    xb_error_clear(&err);
    int open_rc = parse_env_open(&e, &err);
    for (size_t i = 0; i < n && !bench_interrupted(); i++) {
        bench_row_t *row = &rows[i];
        if (!row->selected || (row->kind != ROW_PARSE_ENV && row->kind != ROW_VALIDATE))
            continue;
        bench_progress(progress, total, row);
        if (open_rc != 0)
            bench_row_finish(row, ST_FAILED, "%s", err.message);
        else
            parse_row(o, &e, row);
    }
    parse_env_close(&e);
}
