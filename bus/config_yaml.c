/* Walking organism.yaml with positions (bus/config_yaml.h): problems with
 * line and column, typed getters for YAML values, the table-driven walk of
 * a mapping, and the libyaml parse of the whole text. */
#include "config_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

#define CFG_NESTING_MAX 32 /* organism.yaml needs 4 */

/* -------------------------------------------------------------- problems */

xb_cfg_mark_t xb_cfg_mark(const yaml_node_t *n)
{
    xb_cfg_mark_t m = {0, 0};
    if (n) {
        m.line = (int)n->start_mark.line + 1;
        m.col = (int)n->start_mark.column + 1;
    }
    return m;
}

void xb_cfg_problem(xb_cfg_loader_t *ld, xb_cfg_mark_t m, const char *fmt, ...)
{
    if (ld->n_probs >= XB_CFG_PROBLEMS_MAX) {
        ld->overflow = true;
        return;
    }
    if (ld->n_probs == ld->cap_probs) {
        size_t cap = ld->cap_probs ? ld->cap_probs * 2 : 8;
        xb_cfg_problem_t *p = realloc(ld->probs, cap * sizeof *p);
        if (!p) {
            ld->nomem = true;
            return;
        }
        ld->probs = p;
        ld->cap_probs = cap;
    }
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char buf[1100];
    if (m.line > 0)
        snprintf(buf, sizeof buf, "%s:%d:%d: %s", ld->file, m.line, m.col, what);
    else
        snprintf(buf, sizeof buf, "%s: %s", ld->file, what);
    char *msg = strdup(buf);
    if (!msg) {
        ld->nomem = true;
        return;
    }
    xb_cfg_problem_t *p = &ld->probs[ld->n_probs++];
    p->line = m.line;
    p->col = m.col;
    p->seq = ld->seq++;
    p->msg = msg;
}

void xb_cfg_note(xb_cfg_loader_t *ld, const void *at, xb_cfg_mark_t m)
{
    if (ld->n_notes == ld->cap_notes) {
        size_t cap = ld->cap_notes ? ld->cap_notes * 2 : 32;
        xb_cfg_note_t *n = realloc(ld->notes, cap * sizeof *n);
        if (!n) {
            ld->nomem = true;
            return;
        }
        ld->notes = n;
        ld->cap_notes = cap;
    }
    ld->notes[ld->n_notes++] = (xb_cfg_note_t){at, m};
}

xb_cfg_mark_t xb_cfg_noted(const xb_cfg_loader_t *ld, const void *at)
{
    for (size_t i = ld->n_notes; i-- > 0;)
        if (ld->notes[i].at == at)
            return ld->notes[i].mark;
    return (xb_cfg_mark_t){0, 0};
}

static int problem_cmp(const void *a, const void *b)
{
    const xb_cfg_problem_t *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

void xb_cfg_problems_sort(xb_cfg_loader_t *ld)
{
    if (ld->n_probs)
        qsort(ld->probs, ld->n_probs, sizeof *ld->probs, problem_cmp);
}

void xb_cfg_problems_free(xb_cfg_loader_t *ld)
{
    for (size_t i = 0; i < ld->n_probs; i++)
        free(ld->probs[i].msg);
    free(ld->probs);
    ld->probs = NULL;
    ld->n_probs = ld->cap_probs = 0;
}

void xb_cfg_first_problem(xb_cfg_loader_t *ld, xb_error_t *err)
{
    if (ld->nomem && ld->n_probs == 0) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "%s: out of memory while loading", ld->file);
        return;
    }
    xb_cfg_problems_sort(ld);
    xb_error_set(err, XB_ERR_CONFIG, ld->probs[0].line, "%s", ld->probs[0].msg);
    if (err)
        err->column = ld->probs[0].col;
}

/* Optimal string alignment distance (a transposition costs 1), for
 * "did you mean" hints. Long strings are never similar enough to matter. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* The closest candidate within distance 2, or NULL. */
static const char *suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i] || !cands[i][0])
            continue;
        size_t d = edit_distance(word, cands[i]);
        if (d < best_d && d < strlen(cands[i])) {
            best_d = d;
            best = cands[i];
        }
    }
    return best;
}

const char *xb_cfg_hint(char *buf, size_t cap, const char *word, const char *const *cands, size_t n)
{
    const char *s = suggest(word, cands, n);
    if (!s)
        return "";
    snprintf(buf, cap, " (did you mean '%s'?)", s);
    return buf;
}

/* ----------------------------------------------------------------- nodes */

yaml_node_t *xb_cfg_node(xb_cfg_loader_t *ld, int idx)
{
    return yaml_document_get_node(ld->doc, idx);
}

bool xb_cfg_is_null(const yaml_node_t *v)
{
    if (!v)
        return true;
    if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)v->data.scalar.value;
    return !s[0] || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

const char *xb_cfg_kind_name(const yaml_node_t *v)
{
    switch (v->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "a value";
    }
}

const char *xb_cfg_scalar(const yaml_node_t *v)
{
    return (const char *)v->data.scalar.value;
}

bool xb_cfg_scalar_clean(const yaml_node_t *v)
{
    return strlen(xb_cfg_scalar(v)) == v->data.scalar.length;
}

yaml_node_t *xb_cfg_find_value(xb_cfg_loader_t *ld, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = xb_cfg_node(ld, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(xb_cfg_scalar(k), key) == 0)
            return xb_cfg_node(ld, p->value);
    }
    return NULL;
}

bool xb_cfg_want_mapping(xb_cfg_loader_t *ld, const yaml_node_t *v, const char *what)
{
    if (xb_cfg_is_null(v))
        return false;
    if (v->type != YAML_MAPPING_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "%s must be a mapping of keys, got %s", what,
                       xb_cfg_kind_name(v));
        return false;
    }
    return true;
}

/* --------------------------------------------------------------- getters */

int xb_cfg_get_string(xb_cfg_loader_t *ld, const yaml_node_t *v, const char *key, const char *where,
                      const char **out)
{
    if (xb_cfg_is_null(v))
        return 1;
    if (v->type != YAML_SCALAR_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be a string, got %s", key, where,
                       xb_cfg_kind_name(v));
        return -1;
    }
    if (!xb_cfg_scalar_clean(v)) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s contains a NUL character", key, where);
        return -1;
    }
    *out = xb_cfg_scalar(v);
    return 0;
}

static int parse_ll(const char *s, long long *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return -1;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return -2;
    *out = v;
    return 0;
}

static int get_integer(xb_cfg_loader_t *ld, const yaml_node_t *v, const xb_cfg_key_t *key,
                       const char *where, long long *out)
{
    if (xb_cfg_is_null(v))
        return 1;
    if (v->type != YAML_SCALAR_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be an integer, got %s", key->name,
                       where, xb_cfg_kind_name(v));
        return -1;
    }
    long long n;
    int rc = parse_ll(xb_cfg_scalar(v), &n);
    if (rc == -1) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be an integer, got '%.80s'", key->name,
                       where, xb_cfg_scalar(v));
        return -1;
    }
    if (rc == -2 || n < key->min || n > key->max) {
        xb_cfg_problem(ld, xb_cfg_mark(v),
                       "'%s' in %s must be an integer from %lld to %lld, got '%.80s'", key->name,
                       where, key->min, key->max, xb_cfg_scalar(v));
        return -1;
    }
    *out = n;
    return 0;
}

/* Sizes: an integer number of bytes, optionally followed by a unit
 * B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024). */
static int parse_size(const char *s, unsigned long long *out)
{
    static const struct {
        const char *unit;
        unsigned long long mult;
    } units[] = {
        {"", 1ull},          {"B", 1ull},           {"KB", 1000ull},
        {"MB", 1000000ull},  {"GB", 1000000000ull}, {"TB", 1000000000000ull},
        {"KiB", 1ull << 10}, {"MiB", 1ull << 20},   {"GiB", 1ull << 30},
        {"TiB", 1ull << 40},
    };
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return -1;
    unsigned long long n = 0;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (ULLONG_MAX - d) / 10)
            return -2;
        n = n * 10 + d;
    }
    if (*p == ' ')
        p++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].unit) == 0) {
            if (n && units[i].mult > ULLONG_MAX / n)
                return -2;
            *out = n * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static int get_size(xb_cfg_loader_t *ld, const yaml_node_t *v, const xb_cfg_key_t *key,
                    const char *where, unsigned long long *out)
{
    if (xb_cfg_is_null(v))
        return 1;
    if (v->type != YAML_SCALAR_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be a size, got %s", key->name, where,
                       xb_cfg_kind_name(v));
        return -1;
    }
    unsigned long long n;
    int rc = parse_size(xb_cfg_scalar(v), &n);
    if (rc == -1) {
        xb_cfg_problem(ld, xb_cfg_mark(v),
                       "'%s' in %s must be a size (bytes, or a number with B, KB, MB, GB, KiB, "
                       "MiB, GiB), got '%.80s'",
                       key->name, where, xb_cfg_scalar(v));
        return -1;
    }
    if (rc == -2 || n < key->zmin || n > key->zmax) {
        xb_cfg_problem(ld, xb_cfg_mark(v),
                       "'%s' in %s must be a size from %llu to %llu bytes, got '%.80s'", key->name,
                       where, key->zmin, key->zmax, xb_cfg_scalar(v));
        return -1;
    }
    *out = n;
    return 0;
}

static int get_number(xb_cfg_loader_t *ld, const yaml_node_t *v, const xb_cfg_key_t *key,
                      const char *where, double *out)
{
    if (xb_cfg_is_null(v))
        return 1;
    if (v->type != YAML_SCALAR_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be a number, got %s", key->name, where,
                       xb_cfg_kind_name(v));
        return -1;
    }
    const char *s = xb_cfg_scalar(v);
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    char *end = NULL;
    errno = 0;
    double d = (isdigit((unsigned char)*p) || *p == '.') ? strtod(s, &end) : NAN;
    if (!end || *end || !isfinite(d) || errno == ERANGE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be a number, got '%.80s'", key->name,
                       where, s);
        return -1;
    }
    if (d < key->nmin || (key->nmin_open && d <= key->nmin)) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be %s %g, got '%.80s'", key->name,
                       where, key->nmin_open ? "greater than" : "at least", key->nmin, s);
        return -1;
    }
    *out = d;
    return 0;
}

static int get_bool(xb_cfg_loader_t *ld, const yaml_node_t *v, const char *key, const char *where,
                    bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};
    if (xb_cfg_is_null(v))
        return 1;
    if (v->type != YAML_SCALAR_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be true or false, got %s", key, where,
                       xb_cfg_kind_name(v));
        return -1;
    }
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(xb_cfg_scalar(v), yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(xb_cfg_scalar(v), no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be true or false, got '%.80s'", key, where,
                   xb_cfg_scalar(v));
    return -1;
}

/* --------------------------------------------------------- typed values */

/* Copies s into the char array of key; a problem when it is too long. */
static int copy_field(xb_cfg_loader_t *ld, const yaml_node_t *v, const xb_cfg_key_t *key,
                      const char *where, const char *s, void *base)
{
    if (strlen(s) >= key->size) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s is too long (at most %zu characters)",
                       key->name, where, key->size - 1);
        return -1;
    }
    memcpy((char *)base + key->offset, s, strlen(s) + 1);
    return 0;
}

/* A STRING, TEXT or PATH value. */
static int read_string(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, const yaml_node_t *v,
                       const char *where, void *base)
{
    const char *s = NULL;
    int rc = xb_cfg_get_string(ld, v, key->name, where, &s);
    if (rc != 0)
        return rc;
    if (key->not_empty && !s[0]) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must not be empty", key->name, where);
        return -1;
    }
    char why[400];
    if (key->check && !key->check(s, why, sizeof why)) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "%s", why);
        return -1;
    }
    if (key->type == XB_KEY_TEXT) {
        char *copy = strdup(s);
        if (!copy) {
            ld->nomem = true;
            return -1;
        }
        char **field = (char **)((char *)base + key->offset);
        free(*field);
        *field = copy;
        return 0;
    }
    if (key->type == XB_KEY_STRING)
        return copy_field(ld, v, key, where, s, base);
    char *p = xb_config_path_join(ld->cfg->dir, s);
    if (!p) {
        ld->nomem = true;
        return -1;
    }
    rc = copy_field(ld, v, key, where, p, base);
    free(p);
    return rc;
}

/* "memory, manager or redis" */
static const char *names_text(const xb_cfg_key_t *key, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < key->n_names && used < cap; i++) {
        const char *sep = i == 0 ? "" : i + 1 == key->n_names ? " or " : ", ";
        int n = snprintf(buf + used, cap - used, "%s%s", sep, key->names[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

static int read_enum(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, const yaml_node_t *v,
                     const char *where, void *base)
{
    const char *s = NULL;
    int rc = xb_cfg_get_string(ld, v, key->name, where, &s);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < key->n_names; i++) {
        if (strcmp(s, key->names[i]) == 0) {
            xb_config_key_store_int(key, base, (long long)i);
            return 0;
        }
    }
    char h[128], list[256];
    xb_cfg_problem(ld, xb_cfg_mark(v), "unknown %s '%.80s' (%s)%s", key->noun, s,
                   names_text(key, list, sizeof list),
                   xb_cfg_hint(h, sizeof h, s, key->names, key->n_names));
    return -1;
}

static int read_value(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                      const char *where, void *base, void *ctx)
{
    /* The top-level walk has CUSTOM keys only and no base: NULL + 0 is undefined. */
    char *field = base ? (char *)base + key->offset : NULL;
    long long n;
    unsigned long long z;
    double d;
    int rc;
    switch (key->type) {
    case XB_KEY_INT:
        if ((rc = get_integer(ld, v, key, where, &n)) == 0)
            xb_config_key_store_int(key, base, n);
        return rc;
    case XB_KEY_SIZE:
        if ((rc = get_size(ld, v, key, where, &z)) == 0) {
            size_t s = (size_t)z;
            memcpy(field, &s, sizeof s);
        }
        return rc;
    case XB_KEY_NUMBER:
        if ((rc = get_number(ld, v, key, where, &d)) == 0)
            memcpy(field, &d, sizeof d);
        return rc;
    case XB_KEY_BOOL:
        return get_bool(ld, v, key->name, where, (bool *)field);
    case XB_KEY_STRING:
    case XB_KEY_TEXT:
    case XB_KEY_PATH:
        return read_string(ld, key, v, where, base);
    case XB_KEY_ENUM:
        return read_enum(ld, key, v, where, base);
    case XB_KEY_CUSTOM:
        return key->parse(ld, key, k, v, where, base, ctx);
    }
    return -1;
}

/* ------------------------------------------------------------------ walk */

void xb_cfg_walk(xb_cfg_loader_t *ld, yaml_node_t *map, const xb_key_section_t *s,
                 const char *where, void *base, void *ctx, xb_cfg_seen_t *seen)
{
    const char *names[XB_CFG_SECTION_KEYS_MAX];
    xb_cfg_mark_t first[XB_CFG_SECTION_KEYS_MAX];
    size_t n_keys = s->n_keys < XB_CFG_SECTION_KEYS_MAX ? s->n_keys : XB_CFG_SECTION_KEYS_MAX;
    for (size_t i = 0; i < n_keys; i++) {
        names[i] = s->keys[i].name;
        first[i].line = 0;
        if (seen)
            seen[i] = (xb_cfg_seen_t){{0, 0}, false};
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = xb_cfg_node(ld, p->key);
        yaml_node_t *v = xb_cfg_node(ld, p->value);
        if (!k || !v)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            xb_cfg_problem(ld, xb_cfg_mark(k), "keys in %s must be plain words, got %s", where,
                           xb_cfg_kind_name(k));
            continue;
        }
        const char *key = xb_cfg_scalar(k);
        size_t i = 0;
        while (i < n_keys && strcmp(names[i], key) != 0)
            i++;
        if (i == n_keys) {
            char h[128];
            xb_cfg_problem(ld, xb_cfg_mark(k), "unknown key '%.80s' in %s%s", key, where,
                           xb_cfg_hint(h, sizeof h, key, names, n_keys));
            continue;
        }
        if (first[i].line) {
            xb_cfg_problem(ld, xb_cfg_mark(k), "duplicate key '%s' in %s (first given at line %d)",
                           key, where, first[i].line);
            continue;
        }
        first[i] = xb_cfg_mark(k);
        int rc = read_value(ld, &s->keys[i], k, v, where, base, ctx);
        if (seen && !xb_cfg_is_null(v)) {
            seen[i].at = first[i];
            seen[i].valid = rc == 0;
        }
    }
}

/* ----------------------------------------------------------------- parse */

/* libyaml's scanner is quadratic in the nesting depth (200 000 "[" take
 * minutes), and organism.yaml never nests deeper than 4. A streaming pass
 * stops at the first node that is too deep before the real load starts.
 * Returns true (with *at set) when the text nests too deep. Syntax errors
 * are left for the load, which reports them. */
static bool too_deep(const char *yaml, size_t len, xb_cfg_mark_t *at)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return false;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    int depth = 0;
    bool deep = false, done = false;
    while (!done && !deep) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev))
            break;
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            if (++depth > CFG_NESTING_MAX) {
                deep = true;
                at->line = (int)ev.start_mark.line + 1;
                at->col = (int)ev.start_mark.column + 1;
            }
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return deep;
}

static void syntax_problem(xb_cfg_loader_t *ld, const yaml_parser_t *parser, bool context)
{
    xb_cfg_mark_t m = {(int)parser->problem_mark.line + 1, (int)parser->problem_mark.column + 1};
    const char *what = parser->problem ? parser->problem : "unknown";
    if (context && parser->context)
        xb_cfg_problem(ld, m, "YAML syntax error: %s (%s that starts at line %d)", what,
                       parser->context, (int)parser->context_mark.line + 1);
    else
        xb_cfg_problem(ld, m, "YAML syntax error: %s", what);
}

/* organism.yaml holds exactly one document: anything after it is a problem. */
static void refuse_second_document(xb_cfg_loader_t *ld, yaml_parser_t *parser)
{
    yaml_document_t next;
    if (!yaml_parser_load(parser, &next)) {
        syntax_problem(ld, parser, false);
        return;
    }
    yaml_node_t *r = yaml_document_get_root_node(&next);
    if (r)
        xb_cfg_problem(ld, xb_cfg_mark(r),
                       "a second YAML document: organism.yaml holds exactly one");
    yaml_document_delete(&next);
}

void xb_cfg_parse(xb_cfg_loader_t *ld, const char *yaml, size_t len)
{
    xb_cfg_mark_t deep_at;
    if (too_deep(yaml, len, &deep_at)) {
        xb_cfg_problem(ld, deep_at, "nesting deeper than %d levels: not an organism.yaml",
                       CFG_NESTING_MAX);
        return;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        ld->nomem = true;
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_problem(ld, &parser, true);
        yaml_parser_delete(&parser);
        return;
    }
    ld->doc = &doc;
    xb_cfg_mark_t start = {1, 1};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    xb_cfg_walk_document(ld, root, start);
    if (root)
        refuse_second_document(ld, &parser);
    yaml_document_delete(&doc);
    ld->doc = NULL;
    yaml_parser_delete(&parser);
}
