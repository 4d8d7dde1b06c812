/* organism.yaml loader (include/xmlbus/config.h, docs/configuration.md).
 *
 * The file is read with libyaml's document API and walked section by
 * section. Every problem is recorded with its 1-based line and column and
 * the walk goes on, so that one pass serves both xb_config_load (which
 * returns the earliest problem) and xb_config_check_all (which reports them
 * all). Cross-checks that need the whole file (duplicate names, peers,
 * payload conflicts, pool defaults) run after the walk. */
#include "xmlbus/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "config_build.h"
#include "schema.h"

#include "config_internal.h"

#define CFG_FILE_MAX (16u << 20) /* larger than any sane organism.yaml */
#define CFG_PROBLEMS_MAX 500     /* then "too many problems" */
#define CFG_WORKERS_MAX 1024
#define CFG_NESTING_MAX 32       /* organism.yaml needs 4 */

/* ---------------------------------------------------------------- helpers */

typedef struct {
    int line;
    int col;
} mark_t;

typedef struct {
    int line;
    int col;
    size_t seq;
    char *msg;
} problem_t;

/* Where each listener's parts sit in the file, for cross-check messages. */
typedef struct {
    mark_t entry;
    mark_t name;
    char *raw_name;     /* the name as written, even if invalid (avoids cascades) */
    mark_t *payload;    /* parallel to listener->payloads */
    mark_t *peer;       /* parallel to listener->peers */
    mark_t workers;
    bool workers_given;
    bool payload_given;
} lmarks_t;

typedef struct {
    const char *file;      /* name used in messages */
    yaml_document_t *doc;
    xb_config_t *cfg;
    lmarks_t *lm;          /* parallel to cfg->listeners, NULL for code-built configs */
    problem_t *probs;
    size_t n_probs;
    size_t cap_probs;
    size_t seq;
    bool overflow;
    bool nomem;
    bool org_seen;
    mark_t listeners_key;
    bool listeners_seen;
    bool pool_workers_given;
} loader_t;

static mark_t node_mark(const yaml_node_t *n)
{
    mark_t m = {0, 0};
    if (n) {
        m.line = (int)n->start_mark.line + 1;
        m.col = (int)n->start_mark.column + 1;
    }
    return m;
}

/* Records a problem at m (line 0 = no position). */
static void problem_at(loader_t *ld, mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem_at(loader_t *ld, mark_t m, const char *fmt, ...)
{
    if (ld->n_probs >= CFG_PROBLEMS_MAX) {
        ld->overflow = true;
        return;
    }
    if (ld->n_probs == ld->cap_probs) {
        size_t cap = ld->cap_probs ? ld->cap_probs * 2 : 8;
        problem_t *p = realloc(ld->probs, cap * sizeof *p);
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
    problem_t *p = &ld->probs[ld->n_probs++];
    p->line = m.line;
    p->col = m.col;
    p->seq = ld->seq++;
    p->msg = msg;
}

static int problem_cmp(const void *a, const void *b)
{
    const problem_t *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void loader_free_problems(loader_t *ld)
{
    for (size_t i = 0; i < ld->n_probs; i++)
        free(ld->probs[i].msg);
    free(ld->probs);
    ld->probs = NULL;
    ld->n_probs = ld->cap_probs = 0;
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

/* " (did you mean 'x'?)" or "" into buf. */
static const char *hint(char *buf, size_t cap, const char *word, const char *const *cands,
                        size_t n)
{
    const char *s = suggest(word, cands, n);
    if (!s)
        return "";
    snprintf(buf, cap, " (did you mean '%s'?)", s);
    return buf;
}

static char *path_join(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !dir || !dir[0])
        return strdup(rel);
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

/* An absolute folder for base (NULL = current directory). */
static char *absolute_dir(const char *base)
{
    char *r = realpath(base ? base : ".", NULL);
    if (r)
        return r;
    if (base && base[0] == '/')
        return strdup(base);
    char cwd[XB_PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return strdup(base ? base : ".");
    return base ? path_join(cwd, base) : strdup(cwd);
}

static bool name_syntax_ok(const char *s)
{
    if (!s || !isalpha((unsigned char)s[0]) || !isascii((unsigned char)s[0]))
        return false;
    for (const char *p = s + 1; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(isascii(c) && (isalnum(c) || c == '_' || c == '-')))
            return false;
    }
    return true;
}

bool xb_config_valid_name(const char *name)
{
    return name_syntax_ok(name) && strlen(name) < XB_NAME_MAX;
}

/* Tag "{ns}local" or "local" with no namespace written "{}local" folded. */
static const char *tag_local(const char *tag)
{
    if (tag[0] != '{')
        return tag;
    const char *close = strchr(tag, '}');
    return close ? close + 1 : tag;
}

static bool tag_equal(const char *a, const char *b)
{
    const char *la = tag_local(a), *lb = tag_local(b);
    if (strcmp(la, lb) != 0)
        return false;
    size_t na = a[0] == '{' ? (size_t)(la - a) - 2 : 0;
    size_t nb = b[0] == '{' ? (size_t)(lb - b) - 2 : 0;
    return na == nb && (na == 0 || memcmp(a + 1, b + 1, na) == 0);
}

static bool is_system_error_tag(const char *tag)
{
    return tag_equal(tag, XB_SYSTEM_ERROR_TAG);
}

/* ---------------------------------------------------------- config object */

static void listener_free(xb_listener_config_t *l)
{
    free(l->description);
    for (size_t i = 0; i < l->n_payloads; i++)
        free(l->payloads[i]);
    free(l->payloads);
    free(l->schema);
    if (l->command)
        for (size_t i = 0; l->command[i]; i++)
            free(l->command[i]);
    free(l->command);
    for (size_t i = 0; i < l->n_peers; i++)
        free(l->peers[i]);
    free(l->peers);
    memset(l, 0, sizeof *l);
}

void xb_config_destroy(xb_config_t **cfgp)
{
    if (!cfgp || !*cfgp)
        return;
    xb_config_t *cfg = *cfgp;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        listener_free(&cfg->listeners[i]);
    free(cfg->listeners);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
    *cfgp = NULL;
}

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > CFG_WORKERS_MAX ? CFG_WORKERS_MAX : (int)n;
}

void xb_config_sync_backend_limits(xb_config_t *cfg)
{
    if (!cfg)
        return;
    cfg->backend.max_slots_per_thread = cfg->limits.max_slots_per_thread;
    cfg->backend.max_threads = cfg->limits.max_threads;
    cfg->backend.max_slot_bytes = cfg->limits.max_payload_bytes;
}

/* Fills the default backend path "<dir>/.xmlbus/<organism>.lmdb".
 * Returns -1 when it does not fit. */
static int default_backend_path(xb_config_t *cfg)
{
    int n = snprintf(cfg->backend.path, sizeof cfg->backend.path, "%s/.xmlbus/%s.lmdb",
                     cfg->dir ? cfg->dir : ".", cfg->name);
    return (n < 0 || (size_t)n >= sizeof cfg->backend.path) ? -1 : 0;
}

/* A config with every default; dir must be absolute (owned by the result). */
static xb_config_t *config_alloc(const char *name, char *dir)
{
    xb_config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        free(dir);
        return NULL;
    }
    cfg->dir = dir;
    if (name)
        snprintf(cfg->name, sizeof cfg->name, "%s", name);
    snprintf(cfg->endpoint, sizeof cfg->endpoint, "%s", XB_DEFAULT_ENDPOINT);
    xb_limits_config_t *lim = &cfg->limits;
    lim->max_message_bytes = 1u << 20;
    lim->max_xml_depth = 256;
    lim->max_attributes = 256;
    lim->max_namespaces = 256;
    lim->max_depth = 50;
    lim->max_slots_per_thread = 10000;
    lim->max_threads = 100000;
    lim->max_payload_bytes = 1u << 20;
    lim->queue_max_messages = 10000;
    lim->queue_max_bytes = (size_t)64 << 20;
    lim->shutdown_seconds = 10.0;
    xb_backend_config_defaults(&cfg->backend);
    cfg->pool.workers = cpu_count();
    cfg->pool.max_tasks_per_child = 0;
    cfg->pool.heartbeat = 1.0;
    cfg->pool.liveness = 3;
    cfg->pool.max_retries = 2;
    xb_config_sync_backend_limits(cfg);
    return cfg;
}

xb_config_t *xb_config_new_default(const char *organism_name)
{
    char *dir = absolute_dir(NULL);
    if (!dir)
        return NULL;
    xb_config_t *cfg = config_alloc(organism_name ? organism_name : "organism", dir);
    if (!cfg)
        return NULL;
    default_backend_path(cfg);
    return cfg;
}

static void listener_defaults(xb_listener_config_t *l)
{
    memset(l, 0, sizeof *l);
    l->workers = 1;
    l->credit = 1;
}

xb_listener_config_t *xb_config_add_listener(xb_config_t *cfg, const char *name,
                                             const char *payload_tag, xb_error_t *err)
{
    if (!cfg || !name) {
        xb_error_set(err, XB_ERR_ARG, 0, "xb_config_add_listener: NULL argument");
        return NULL;
    }
    if (!xb_config_valid_name(name)) {
        xb_error_set(err, XB_ERR_CONFIG, 0,
                     "invalid listener name '%.80s': names match [A-Za-z][A-Za-z0-9_-]* "
                     "(at most %d characters)", name, XB_NAME_MAX - 1);
        return NULL;
    }
    if (strcmp(name, "system") == 0) {
        xb_error_set(err, XB_ERR_CONFIG, 0,
                     "listener name 'system' is reserved (the pump sends as 'system')");
        return NULL;
    }
    if (xb_config_listener(cfg, name)) {
        xb_error_set(err, XB_ERR_CONFIG, 0, "duplicate listener name '%s'", name);
        return NULL;
    }
    if (payload_tag && (!xb_payload_tag_valid(payload_tag) || is_system_error_tag(payload_tag))) {
        xb_error_set(err, XB_ERR_CONFIG, 0, "invalid payload tag '%.200s' for listener '%s'",
                     payload_tag, name);
        return NULL;
    }
    xb_listener_config_t *ls = realloc(cfg->listeners, (cfg->n_listeners + 1) * sizeof *ls);
    if (!ls) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory adding listener '%s'", name);
        return NULL;
    }
    cfg->listeners = ls;
    xb_listener_config_t *l = &ls[cfg->n_listeners];
    listener_defaults(l);
    snprintf(l->name, sizeof l->name, "%s", name);
    if (payload_tag && xb_config_listener_add_payload(l, payload_tag, err) < 0)
        return NULL;
    cfg->n_listeners++;
    return l;
}

const xb_listener_config_t *xb_config_listener(const xb_config_t *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (strcmp(cfg->listeners[i].name, name) == 0)
            return &cfg->listeners[i];
    return NULL;
}

/* ------------------------------------------------------------ YAML values */

static yaml_node_t *node_at(loader_t *ld, int idx)
{
    return yaml_document_get_node(ld->doc, idx);
}

static bool is_null(const yaml_node_t *v)
{
    if (!v)
        return true;
    if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)v->data.scalar.value;
    return !s[0] || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static const char *kind_name(const yaml_node_t *v)
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

static const char *scalar(const yaml_node_t *v)
{
    return (const char *)v->data.scalar.value;
}

/* Scalars with an embedded NUL would be silently cut by C strings. */
static bool scalar_clean(const yaml_node_t *v)
{
    return strlen(scalar(v)) == v->data.scalar.length;
}

/* Each getter returns 0 when it set *out, 1 for a null value (keep the
 * default), -1 after recording a problem. */
static int get_string(loader_t *ld, const yaml_node_t *v, const char *key, const char *where,
                      const char **out)
{
    if (is_null(v))
        return 1;
    if (v->type != YAML_SCALAR_NODE) {
        problem_at(ld, node_mark(v), "'%s' in %s must be a string, got %s", key, where,
                   kind_name(v));
        return -1;
    }
    if (!scalar_clean(v)) {
        problem_at(ld, node_mark(v), "'%s' in %s contains a NUL character", key, where);
        return -1;
    }
    *out = scalar(v);
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

static int get_integer(loader_t *ld, const yaml_node_t *v, const char *key, const char *where,
                       long long min, long long max, long long *out)
{
    if (is_null(v))
        return 1;
    if (v->type != YAML_SCALAR_NODE) {
        problem_at(ld, node_mark(v), "'%s' in %s must be an integer, got %s", key, where,
                   kind_name(v));
        return -1;
    }
    long long n;
    int rc = parse_ll(scalar(v), &n);
    if (rc == -1) {
        problem_at(ld, node_mark(v), "'%s' in %s must be an integer, got '%.80s'", key, where,
                   scalar(v));
        return -1;
    }
    if (rc == -2 || n < min || n > max) {
        problem_at(ld, node_mark(v), "'%s' in %s must be an integer from %lld to %lld, got '%.80s'",
                   key, where, min, max, scalar(v));
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
        {"", 1ull},          {"B", 1ull},          {"KB", 1000ull},        {"MB", 1000000ull},
        {"GB", 1000000000ull}, {"TB", 1000000000000ull}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20},
        {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
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

static int get_size(loader_t *ld, const yaml_node_t *v, const char *key, const char *where,
                    unsigned long long min, unsigned long long max, unsigned long long *out)
{
    if (is_null(v))
        return 1;
    if (v->type != YAML_SCALAR_NODE) {
        problem_at(ld, node_mark(v), "'%s' in %s must be a size, got %s", key, where,
                   kind_name(v));
        return -1;
    }
    unsigned long long n;
    int rc = parse_size(scalar(v), &n);
    if (rc == -1) {
        problem_at(ld, node_mark(v),
                   "'%s' in %s must be a size (bytes, or a number with B, KB, MB, GB, KiB, "
                   "MiB, GiB), got '%.80s'", key, where, scalar(v));
        return -1;
    }
    if (rc == -2 || n < min || n > max) {
        problem_at(ld, node_mark(v), "'%s' in %s must be a size from %llu to %llu bytes, got '%.80s'",
                   key, where, min, max, scalar(v));
        return -1;
    }
    *out = n;
    return 0;
}

static int get_number(loader_t *ld, const yaml_node_t *v, const char *key, const char *where,
                      double min, bool min_open, double *out)
{
    if (is_null(v))
        return 1;
    if (v->type != YAML_SCALAR_NODE) {
        problem_at(ld, node_mark(v), "'%s' in %s must be a number, got %s", key, where,
                   kind_name(v));
        return -1;
    }
    const char *s = scalar(v);
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    char *end = NULL;
    errno = 0;
    double d = (isdigit((unsigned char)*p) || *p == '.') ? strtod(s, &end) : NAN;
    if (!end || *end || !isfinite(d) || errno == ERANGE) {
        problem_at(ld, node_mark(v), "'%s' in %s must be a number, got '%.80s'", key, where, s);
        return -1;
    }
    if (d < min || (min_open && d <= min)) {
        problem_at(ld, node_mark(v), "'%s' in %s must be %s %g, got '%.80s'", key, where,
                   min_open ? "greater than" : "at least", min, s);
        return -1;
    }
    *out = d;
    return 0;
}

static int get_bool(loader_t *ld, const yaml_node_t *v, const char *key, const char *where,
                    bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    if (is_null(v))
        return 1;
    if (v->type == YAML_SCALAR_NODE) {
        for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
            if (strcmp(scalar(v), yes[i]) == 0) {
                *out = true;
                return 0;
            }
            if (strcmp(scalar(v), no[i]) == 0) {
                *out = false;
                return 0;
            }
        }
        problem_at(ld, node_mark(v), "'%s' in %s must be true or false, got '%.80s'", key, where,
                   scalar(v));
        return -1;
    }
    problem_at(ld, node_mark(v), "'%s' in %s must be true or false, got %s", key, where,
               kind_name(v));
    return -1;
}

/* Copies a string into a fixed field; records a problem when it is too long. */
static int copy_field(loader_t *ld, const yaml_node_t *v, const char *key, const char *where,
                      const char *s, char *dst, size_t cap)
{
    if (strlen(s) >= cap) {
        problem_at(ld, node_mark(v), "'%s' in %s is too long (at most %zu characters)", key, where,
                   cap - 1);
        return -1;
    }
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

/* ----------------------------------------------------------- map walking */

typedef void (*key_fn)(loader_t *ld, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx);

/* Walks a mapping: rejects non-scalar, duplicate and unknown keys (with a
 * suggestion), hands each known key to fn. */
static void walk_map(loader_t *ld, yaml_node_t *map, const char *const *keys, size_t n_keys,
                     const char *where, key_fn fn, void *ctx)
{
    unsigned long long seen = 0; /* bit i: keys[i] already given */
    mark_t seen_at[64];
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(ld, p->key);
        yaml_node_t *v = node_at(ld, p->value);
        if (!k || !v)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            problem_at(ld, node_mark(k), "keys in %s must be plain words, got %s", where,
                       kind_name(k));
            continue;
        }
        const char *key = scalar(k);
        size_t i = 0;
        while (i < n_keys && strcmp(keys[i], key) != 0)
            i++;
        if (i == n_keys) {
            char h[128];
            problem_at(ld, node_mark(k), "unknown key '%.80s' in %s%s", key, where,
                       hint(h, sizeof h, key, keys, n_keys));
            continue;
        }
        if (seen & (1ull << i)) {
            problem_at(ld, node_mark(k), "duplicate key '%s' in %s (first given at line %d)", key,
                       where, seen_at[i].line);
            continue;
        }
        seen |= 1ull << i;
        seen_at[i] = node_mark(k);
        fn(ld, key, k, v, ctx);
    }
}

/* Checks that v is a mapping (null = empty section). Returns false otherwise. */
static bool want_mapping(loader_t *ld, const yaml_node_t *v, const char *what)
{
    if (is_null(v))
        return false;
    if (v->type != YAML_MAPPING_NODE) {
        problem_at(ld, node_mark(v), "%s must be a mapping of keys, got %s", what, kind_name(v));
        return false;
    }
    return true;
}

/* --------------------------------------------------------------- sections */

static int endpoint_problem(const char *ep, char *why, size_t cap)
{
    static const char *const schemes[] = {"tcp://", "ipc://", "inproc://"};
    const char *rest = NULL;
    for (size_t i = 0; i < 3 && !rest; i++)
        if (strncmp(ep, schemes[i], strlen(schemes[i])) == 0)
            rest = ep + strlen(schemes[i]);
    if (!rest) {
        snprintf(why, cap, "endpoint '%.200s' must start with tcp://, ipc:// or inproc://", ep);
        return -1;
    }
    if (!rest[0]) {
        snprintf(why, cap, "endpoint '%.200s' has no address after the scheme", ep);
        return -1;
    }
    if (strncmp(ep, "tcp://", 6) == 0) {
        const char *colon = strrchr(rest, ':');
        const char *port = colon ? colon + 1 : NULL;
        bool ok = colon && colon != rest && port[0] &&
                  (strcmp(port, "*") == 0 || strspn(port, "0123456789") == strlen(port));
        if (!ok) {
            snprintf(why, cap, "endpoint '%.200s' must be tcp://HOST:PORT (PORT a number or *)", ep);
            return -1;
        }
    }
    if (strlen(ep) >= sizeof(((xb_config_t *)0)->endpoint)) {
        snprintf(why, cap, "endpoint is too long");
        return -1;
    }
    return 0;
}

int xb_config_check_endpoint(const char *endpoint, xb_error_t *err)
{
    char why[400];
    if (!endpoint)
        return xb_error_set(err, XB_ERR_ARG, 0, "endpoint is NULL");
    if (endpoint_problem(endpoint, why, sizeof why) < 0)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "%s", why);
    return 0;
}

static const char *const organism_keys[] = {"name", "endpoint"};

static void on_organism(loader_t *ld, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
    (void)ctx;
    (void)k;
    const char *where = "section 'organism'";
    const char *s = NULL;
    if (strcmp(key, "name") == 0) {
        int rc = get_string(ld, v, key, where, &s);
        if (rc == 1)
            problem_at(ld, node_mark(v), "'name' in section 'organism' must not be empty");
        if (rc != 0)
            return;
        if (!xb_config_valid_name(s)) {
            problem_at(ld, node_mark(v),
                       "invalid organism name '%.80s': names match [A-Za-z][A-Za-z0-9_-]* (at most "
                       "%d characters)", s, XB_NAME_MAX - 1);
            return;
        }
        snprintf(ld->cfg->name, sizeof ld->cfg->name, "%s", s);
    } else if (strcmp(key, "endpoint") == 0) {
        if (get_string(ld, v, key, where, &s) != 0)
            return;
        char why[400];
        if (endpoint_problem(s, why, sizeof why) < 0) {
            problem_at(ld, node_mark(v), "%s", why);
            return;
        }
        snprintf(ld->cfg->endpoint, sizeof ld->cfg->endpoint, "%s", s);
    }
}

static const char *const limits_keys[] = {
    "max_message_bytes", "max_xml_depth",      "max_attributes", "max_namespaces",
    "max_depth",         "max_slots_per_thread", "max_threads",  "max_payload_bytes",
    "queue_max_messages", "queue_max_bytes",   "shutdown_seconds",
};

static void on_limits(loader_t *ld, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
    (void)ctx;
    (void)k;
    const char *where = "section 'limits'";
    xb_limits_config_t *lim = &ld->cfg->limits;
    long long n;
    unsigned long long z;
    double d;
    if (strcmp(key, "max_message_bytes") == 0) {
        if (get_size(ld, v, key, where, 64, INT_MAX, &z) == 0)
            lim->max_message_bytes = (size_t)z;
    } else if (strcmp(key, "max_payload_bytes") == 0) {
        if (get_size(ld, v, key, where, 0, INT_MAX, &z) == 0)
            lim->max_payload_bytes = (size_t)z;
    } else if (strcmp(key, "queue_max_bytes") == 0) {
        if (get_size(ld, v, key, where, 1, SIZE_MAX, &z) == 0)
            lim->queue_max_bytes = (size_t)z;
    } else if (strcmp(key, "max_xml_depth") == 0) {
        if (get_integer(ld, v, key, where, 4, 100000, &n) == 0)
            lim->max_xml_depth = (int)n;
    } else if (strcmp(key, "max_attributes") == 0) {
        if (get_integer(ld, v, key, where, 1, 1000000, &n) == 0)
            lim->max_attributes = (int)n;
    } else if (strcmp(key, "max_namespaces") == 0) {
        if (get_integer(ld, v, key, where, 1, 1000000, &n) == 0)
            lim->max_namespaces = (int)n;
    } else if (strcmp(key, "max_depth") == 0) {
        if (get_integer(ld, v, key, where, 1, 1000000, &n) == 0)
            lim->max_depth = (int)n;
    } else if (strcmp(key, "max_slots_per_thread") == 0) {
        if (get_integer(ld, v, key, where, 0, LONG_MAX, &n) == 0)
            lim->max_slots_per_thread = (long)n;
    } else if (strcmp(key, "max_threads") == 0) {
        if (get_integer(ld, v, key, where, 0, LONG_MAX, &n) == 0)
            lim->max_threads = (long)n;
    } else if (strcmp(key, "queue_max_messages") == 0) {
        if (get_integer(ld, v, key, where, 1, LONG_MAX, &n) == 0)
            lim->queue_max_messages = (long)n;
    } else if (strcmp(key, "shutdown_seconds") == 0) {
        if (get_number(ld, v, key, where, 0, false, &d) == 0)
            lim->shutdown_seconds = d;
    }
}

typedef struct {
    bool type_given;
    mark_t only_for[8];   /* marks of type-specific keys, to check after the walk */
    const char *only_key[8];
    xb_backend_type_t only_type[8];
    size_t n_only;
    bool path_given;
} backend_ctx_t;

static const char *const backend_keys[] = {"type",         "path",      "map_size",
                                           "redis_url",    "redis_prefix", "redis_ttl"};

static void remember_only(backend_ctx_t *bc, yaml_node_t *k, const char *key, xb_backend_type_t t)
{
    if (bc->n_only < 8) {
        bc->only_for[bc->n_only] = node_mark(k);
        bc->only_key[bc->n_only] = key;
        bc->only_type[bc->n_only] = t;
        bc->n_only++;
    }
}

static void on_backend(loader_t *ld, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
    backend_ctx_t *bc = ctx;
    const char *where = "section 'backend'";
    xb_backend_config_t *b = &ld->cfg->backend;
    const char *s = NULL;
    long long n;
    unsigned long long z;
    if (is_null(v))
        return; /* keep the default */
    if (strcmp(key, "type") == 0) {
        if (get_string(ld, v, key, where, &s) != 0)
            return;
        static const char *const types[] = {"memory", "manager", "redis"};
        for (int i = 0; i < 3; i++) {
            if (strcmp(s, types[i]) == 0) {
                b->type = (xb_backend_type_t)i;
                bc->type_given = true;
                return;
            }
        }
        char h[128];
        problem_at(ld, node_mark(v), "unknown backend type '%.80s' (memory, manager or redis)%s", s,
                   hint(h, sizeof h, s, types, 3));
        return;
    }
    if (strcmp(key, "path") == 0) {
        remember_only(bc, k, key, XB_BACKEND_MANAGER);
        if (get_string(ld, v, key, where, &s) != 0)
            return;
        if (!s[0]) {
            problem_at(ld, node_mark(v), "'path' in section 'backend' must not be empty");
            return;
        }
        char *p = path_join(ld->cfg->dir, s);
        if (!p) {
            ld->nomem = true;
            return;
        }
        copy_field(ld, v, key, where, p, b->path, sizeof b->path);
        free(p);
        bc->path_given = true;
    } else if (strcmp(key, "map_size") == 0) {
        remember_only(bc, k, key, XB_BACKEND_MANAGER);
        if (get_size(ld, v, key, where, 0, SIZE_MAX, &z) == 0)
            b->map_size = (size_t)z;
    } else if (strcmp(key, "redis_url") == 0) {
        remember_only(bc, k, key, XB_BACKEND_REDIS);
        if (get_string(ld, v, key, where, &s) != 0)
            return;
        if ((strncmp(s, "redis://", 8) != 0 || !s[8]) && (strncmp(s, "unix://", 7) != 0 || !s[7])) {
            problem_at(ld, node_mark(v),
                       "'redis_url' in section 'backend' must be "
                       "redis://[:password@]host[:port][/db] or unix:///path, got '%.200s'", s);
            return;
        }
        copy_field(ld, v, key, where, s, b->redis_url, sizeof b->redis_url);
    } else if (strcmp(key, "redis_prefix") == 0) {
        remember_only(bc, k, key, XB_BACKEND_REDIS);
        if (get_string(ld, v, key, where, &s) == 0)
            copy_field(ld, v, key, where, s, b->redis_prefix, sizeof b->redis_prefix);
    } else if (strcmp(key, "redis_ttl") == 0) {
        remember_only(bc, k, key, XB_BACKEND_REDIS);
        if (get_integer(ld, v, key, where, 0, LONG_MAX, &n) == 0)
            b->redis_ttl = (long)n;
    }
}

static const char *const pool_keys[] = {"workers", "max_tasks_per_child", "heartbeat", "liveness",
                                        "max_retries"};

static void on_pool(loader_t *ld, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
    (void)ctx;
    (void)k;
    const char *where = "section 'process_pool'";
    xb_pool_config_t *pool = &ld->cfg->pool;
    long long n;
    double d;
    if (strcmp(key, "workers") == 0) {
        if (get_integer(ld, v, key, where, 1, CFG_WORKERS_MAX, &n) == 0) {
            pool->workers = (int)n;
            ld->pool_workers_given = true;
        }
    } else if (strcmp(key, "max_tasks_per_child") == 0) {
        if (get_integer(ld, v, key, where, 0, LONG_MAX, &n) == 0)
            pool->max_tasks_per_child = (long)n;
    } else if (strcmp(key, "heartbeat") == 0) {
        if (get_number(ld, v, key, where, 0, true, &d) == 0)
            pool->heartbeat = d;
    } else if (strcmp(key, "liveness") == 0) {
        if (get_integer(ld, v, key, where, 1, 1000, &n) == 0)
            pool->liveness = (int)n;
    } else if (strcmp(key, "max_retries") == 0) {
        if (get_integer(ld, v, key, where, 0, 1000, &n) == 0)
            pool->max_retries = (int)n;
    }
}

/* -------------------------------------------------------------- listeners */

typedef struct {
    xb_listener_config_t *l;
    lmarks_t *mk;
    const char *where;
    bool cpu_bound_given;
    int workers;
} lctx_t;

static const char *const listener_keys[] = {"name",    "description", "payload",   "schema",
                                            "command", "peers",       "broadcast", "cpu_bound",
                                            "workers", "timeout_seconds", "credit"};

/* Appends a string to a (char **, size_t) list plus its mark. */
static int list_push(char ***items, size_t *n, mark_t **marks, const char *s, mark_t m)
{
    char **ni = realloc(*items, (*n + 1) * sizeof *ni);
    if (!ni)
        return -1;
    *items = ni;
    if (marks) {
        mark_t *nm = realloc(*marks, (*n + 1) * sizeof *nm);
        if (!nm)
            return -1;
        *marks = nm;
        nm[*n] = m;
    }
    ni[*n] = strdup(s);
    if (!ni[*n])
        return -1;
    (*n)++;
    return 0;
}

static void add_payload(loader_t *ld, lctx_t *lc, yaml_node_t *v)
{
    const char *where = lc->where;
    if (v->type != YAML_SCALAR_NODE || is_null(v)) {
        problem_at(ld, node_mark(v), "each payload of %s must be a root tag, got %s", where,
                   is_null(v) ? "nothing" : kind_name(v));
        return;
    }
    const char *tag = scalar(v);
    if (!scalar_clean(v) || !xb_payload_tag_valid(tag)) {
        problem_at(ld, node_mark(v),
                   "invalid payload tag '%.200s' in %s: write an XML element name, or "
                   "{namespace}name", tag, where);
        return;
    }
    if (is_system_error_tag(tag)) {
        problem_at(ld, node_mark(v),
                   "'SystemError' in %s: every listener accepts SystemError implicitly; remove it",
                   where);
        return;
    }
    for (size_t i = 0; i < lc->l->n_payloads; i++) {
        if (tag_equal(lc->l->payloads[i], tag)) {
            problem_at(ld, node_mark(v), "payload '%.200s' listed twice in %s", tag, where);
            return;
        }
    }
    if (list_push(&lc->l->payloads, &lc->l->n_payloads, &lc->mk->payload, tag, node_mark(v)) < 0)
        ld->nomem = true;
}

static void on_payload(loader_t *ld, lctx_t *lc, yaml_node_t *v)
{
    if (is_null(v))
        return; /* reported as "no payload" after the walk */
    lc->mk->payload_given = true; /* a bad value is reported where it is */
    if (v->type == YAML_SCALAR_NODE) {
        add_payload(ld, lc, v);
        return;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        problem_at(ld, node_mark(v), "'payload' in %s must be a root tag or a list of root tags, got %s",
                   lc->where, kind_name(v));
        lc->mk->payload_given = true;
        return;
    }
    yaml_node_item_t *it = v->data.sequence.items.start;
    if (it == v->data.sequence.items.top) {
        problem_at(ld, node_mark(v), "'payload' in %s must name at least one root tag", lc->where);
        lc->mk->payload_given = true;
        return;
    }
    for (; it < v->data.sequence.items.top; it++) {
        yaml_node_t *item = node_at(ld, *it);
        if (item)
            add_payload(ld, lc, item);
    }
}

static void on_schema(loader_t *ld, lctx_t *lc, yaml_node_t *v)
{
    const char *s = NULL;
    if (get_string(ld, v, "schema", lc->where, &s) != 0)
        return;
    if (!s[0]) {
        problem_at(ld, node_mark(v), "'schema' in %s must not be empty", lc->where);
        return;
    }
    char *p = path_join(ld->cfg->dir, s);
    if (!p) {
        ld->nomem = true;
        return;
    }
    const char *why = NULL;
    char *r = xb_config_readable_file(p, &why);
    if (!r && why) {
        problem_at(ld, node_mark(v), "schema file '%.200s' of %s cannot be read: %.300s: %s", s,
                   lc->where, p, why);
        free(p);
        return;
    }
    free(p);
    if (!r) {
        ld->nomem = true;
        return;
    }
    free(lc->l->schema);
    lc->l->schema = r;
}

/* A relative program path with a slash ("bin/x", "./x") resolves against
 * the config's folder, like every other path in the file; a bare name is
 * left for the pump to look up (its own folder, then PATH). */
static void resolve_program(loader_t *ld, xb_listener_config_t *l)
{
    char *prog = l->command[0];
    if (prog[0] == '/' || !strchr(prog, '/'))
        return;
    char *abs = path_join(ld->cfg->dir, prog);
    if (!abs) {
        ld->nomem = true;
        return;
    }
    free(prog);
    l->command[0] = abs;
}

static void on_command(loader_t *ld, lctx_t *lc, yaml_node_t *v)
{
    xb_listener_config_t *l = lc->l;
    if (is_null(v))
        return;
    if (v->type == YAML_SCALAR_NODE) {
        char **argv = NULL;
        size_t argc = 0;
        xb_error_t e;
        xb_error_clear(&e);
        if (!scalar_clean(v) || xb_command_split(scalar(v), &argv, &argc, &e) < 0) {
            if (e.code == XB_ERR_NOMEM)
                ld->nomem = true;
            else
                problem_at(ld, node_mark(v), "'command' in %s: %s", lc->where,
                           e.message[0] ? e.message : "contains a NUL character");
            return;
        }
        l->command = argv;
        l->n_command = argc;
        resolve_program(ld, l);
        return;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        problem_at(ld, node_mark(v), "'command' in %s must be a string or a list of strings, got %s",
                   lc->where, kind_name(v));
        return;
    }
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0) {
        problem_at(ld, node_mark(v), "'command' in %s must not be an empty list", lc->where);
        return;
    }
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv) {
        ld->nomem = true;
        return;
    }
    size_t i = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *item = node_at(ld, *it);
        if (!item || item->type != YAML_SCALAR_NODE || is_null(item) || !scalar_clean(item) ||
            (i == 0 && !scalar(item)[0])) {
            problem_at(ld, node_mark(item ? item : v),
                       "each item of 'command' in %s must be a string%s", lc->where,
                       i == 0 ? " (the program is not empty)" : "");
            xb_command_free(&argv);
            return;
        }
        argv[i] = strdup(scalar(item));
        if (!argv[i++]) {
            ld->nomem = true;
            xb_command_free(&argv);
            return;
        }
    }
    l->command = argv;
    l->n_command = n;
    resolve_program(ld, l);
}

static void add_peer(loader_t *ld, lctx_t *lc, yaml_node_t *item)
{
    if (item->type != YAML_SCALAR_NODE || is_null(item)) {
        problem_at(ld, node_mark(item), "each peer of %s must be a listener name, got %s",
                   lc->where, is_null(item) ? "nothing" : kind_name(item));
        return;
    }
    const char *name = scalar(item);
    for (size_t i = 0; i < lc->l->n_peers; i++) {
        if (strcmp(lc->l->peers[i], name) == 0) {
            problem_at(ld, node_mark(item), "peer '%.80s' listed twice in %s", name, lc->where);
            return;
        }
    }
    if (list_push(&lc->l->peers, &lc->l->n_peers, &lc->mk->peer, name, node_mark(item)) < 0)
        ld->nomem = true;
}

static void on_peers(loader_t *ld, lctx_t *lc, yaml_node_t *v)
{
    if (is_null(v))
        return;
    lc->l->has_peers = true;
    if (v->type == YAML_SCALAR_NODE) {
        add_peer(ld, lc, v);
        return;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        problem_at(ld, node_mark(v), "'peers' in %s must be a list of listener names, got %s",
                   lc->where, kind_name(v));
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *item = node_at(ld, *it);
        if (item)
            add_peer(ld, lc, item);
    }
}

static void on_listener_key(loader_t *ld, const char *key, yaml_node_t *k, yaml_node_t *v,
                            void *ctx)
{
    lctx_t *lc = ctx;
    xb_listener_config_t *l = lc->l;
    const char *s = NULL;
    long long n;
    double d;
    if (strcmp(key, "name") == 0) {
        return; /* read before the walk */
    } else if (strcmp(key, "description") == 0) {
        if (get_string(ld, v, key, lc->where, &s) == 0) {
            free(l->description);
            l->description = strdup(s);
            if (!l->description)
                ld->nomem = true;
        }
    } else if (strcmp(key, "payload") == 0) {
        on_payload(ld, lc, v);
    } else if (strcmp(key, "schema") == 0) {
        on_schema(ld, lc, v);
    } else if (strcmp(key, "command") == 0) {
        on_command(ld, lc, v);
    } else if (strcmp(key, "peers") == 0) {
        on_peers(ld, lc, v);
    } else if (strcmp(key, "broadcast") == 0) {
        get_bool(ld, v, key, lc->where, &l->broadcast);
    } else if (strcmp(key, "cpu_bound") == 0) {
        if (get_bool(ld, v, key, lc->where, &l->cpu_bound) == 0)
            lc->cpu_bound_given = true;
    } else if (strcmp(key, "workers") == 0) {
        if (get_integer(ld, v, key, lc->where, 1, CFG_WORKERS_MAX, &n) == 0) {
            lc->workers = (int)n;
            lc->mk->workers_given = true;
            lc->mk->workers = node_mark(k);
        }
    } else if (strcmp(key, "timeout_seconds") == 0) {
        if (get_number(ld, v, key, lc->where, 0, false, &d) == 0)
            l->timeout_seconds = d;
    } else if (strcmp(key, "credit") == 0) {
        if (get_integer(ld, v, key, lc->where, 1, 1000000, &n) == 0)
            l->credit = (int)n;
    }
}

/* The value of key "name" in a listener mapping, or NULL. */
static yaml_node_t *find_value(loader_t *ld, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(ld, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp(scalar(k), key) == 0)
            return node_at(ld, p->value);
    }
    return NULL;
}

static void load_listener(loader_t *ld, yaml_node_t *m, size_t idx)
{
    xb_listener_config_t *l = &ld->cfg->listeners[idx];
    lmarks_t *mk = &ld->lm[idx];
    listener_defaults(l);
    mk->entry = node_mark(m);
    l->line = mk->entry.line;
    if (m->type != YAML_MAPPING_NODE) {
        problem_at(ld, mk->entry,
                   "each entry of 'listeners' must be a mapping with at least 'name' and "
                   "'payload', got %s", kind_name(m));
        return;
    }
    char where[160];
    snprintf(where, sizeof where, "the listener at line %d", mk->entry.line);
    yaml_node_t *nv = find_value(ld, m, "name");
    const char *name = NULL;
    if (!nv || is_null(nv)) {
        problem_at(ld, mk->entry, "the listener at line %d has no 'name'", mk->entry.line);
    } else if (nv->type != YAML_SCALAR_NODE || !scalar_clean(nv)) {
        problem_at(ld, node_mark(nv), "'name' in %s must be a string, got %s", where, kind_name(nv));
    } else {
        name = scalar(nv);
        mk->name = node_mark(nv);
        mk->raw_name = strdup(name);
        if (!mk->raw_name)
            ld->nomem = true;
        if (!xb_config_valid_name(name))
            problem_at(ld, mk->name,
                       "invalid listener name '%.80s': names match [A-Za-z][A-Za-z0-9_-]* (at "
                       "most %d characters)", name, XB_NAME_MAX - 1);
        else if (strcmp(name, "system") == 0)
            problem_at(ld, mk->name,
                       "listener name 'system' is reserved (the pump sends as 'system')");
        else
            snprintf(l->name, sizeof l->name, "%s", name);
        snprintf(where, sizeof where, "listener '%.80s'", name);
    }
    lctx_t lc = {.l = l, .mk = mk, .where = where, .workers = 0};
    walk_map(ld, m, listener_keys, sizeof listener_keys / sizeof listener_keys[0], where,
             on_listener_key, &lc);
    if (l->n_payloads == 0 && !mk->payload_given)
        problem_at(ld, mk->entry,
                   "%s has no 'payload': list the root tags it accepts", where);
    if (mk->workers_given && !l->cpu_bound)
        problem_at(ld, mk->workers,
                   "'workers' in %s only applies to a pool: add 'cpu_bound: true' or remove it",
                   where);
    l->workers = lc.workers; /* 0 = pool default, resolved after the walk */
}

static void load_listeners(loader_t *ld, yaml_node_t *v)
{
    if (is_null(v))
        return;
    if (v->type != YAML_SEQUENCE_NODE) {
        problem_at(ld, node_mark(v), "'listeners' must be a list of listener entries, got %s",
                   kind_name(v));
        return;
    }
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0)
        return;
    ld->cfg->listeners = calloc(n, sizeof *ld->cfg->listeners);
    ld->lm = calloc(n, sizeof *ld->lm);
    if (!ld->cfg->listeners || !ld->lm) {
        ld->nomem = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *m = node_at(ld, v->data.sequence.items.start[i]);
        if (!m)
            continue;
        ld->cfg->n_listeners = i + 1;
        load_listener(ld, m, i);
    }
}

/* -------------------------------------------------------------- top level */

static const char *const top_keys[] = {"organism", "limits", "backend", "process_pool",
                                       "listeners"};

typedef struct {
    yaml_node_t *sections[5];
} top_ctx_t;

static void on_top(loader_t *ld, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
    top_ctx_t *tc = ctx;
    for (int i = 0; i < 5; i++)
        if (strcmp(key, top_keys[i]) == 0)
            tc->sections[i] = v;
    if (strcmp(key, "organism") == 0)
        ld->org_seen = true;
    if (strcmp(key, "listeners") == 0) {
        ld->listeners_seen = true;
        ld->listeners_key = node_mark(k);
    }
}

/* ----------------------------------------------------------- cross-checks */

static mark_t lmark_entry(const loader_t *ld, size_t i)
{
    mark_t none = {0, 0};
    return ld->lm ? ld->lm[i].entry : none;
}

static const char *lname(const loader_t *ld, size_t i)
{
    if (ld->lm && ld->lm[i].raw_name)
        return ld->lm[i].raw_name;
    return ld->cfg->listeners[i].name;
}

static void check_duplicate_names(loader_t *ld)
{
    const xb_config_t *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        if (!cfg->listeners[i].name[0])
            continue;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->listeners[i].name, cfg->listeners[j].name) != 0)
                continue;
            mark_t mi = ld->lm ? ld->lm[i].name : lmark_entry(ld, i);
            mark_t mj = ld->lm ? ld->lm[j].name : lmark_entry(ld, j);
            if (mi.line)
                problem_at(ld, mi, "listener name '%s' is used twice (lines %d and %d)",
                           cfg->listeners[i].name, mj.line, mi.line);
            else
                problem_at(ld, mi, "listener name '%s' is used twice", cfg->listeners[i].name);
            break;
        }
    }
}

static void check_peers(loader_t *ld)
{
    const xb_config_t *cfg = ld->cfg;
    size_t n = cfg->n_listeners;
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names) {
        ld->nomem = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        names[i] = lname(ld, i);
    for (size_t i = 0; i < n; i++) {
        const xb_listener_config_t *l = &cfg->listeners[i];
        for (size_t p = 0; p < l->n_peers; p++) {
            bool found = false;
            for (size_t j = 0; j < n && !found; j++)
                found = names[j] && strcmp(names[j], l->peers[p]) == 0;
            if (found)
                continue;
            char h[128];
            mark_t m = {0, 0};
            if (ld->lm && ld->lm[i].peer)
                m = ld->lm[i].peer[p];
            problem_at(ld, m, "unknown peer '%.80s' in listener '%s': no listener has that name%s",
                       l->peers[p], lname(ld, i), hint(h, sizeof h, l->peers[p], names, n));
        }
    }
    free(names);
}

/* Several listeners may accept one root tag only if all of them broadcast. */
static void check_payload_conflicts(loader_t *ld)
{
    const xb_config_t *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const xb_listener_config_t *a = &cfg->listeners[i];
        for (size_t t = 0; t < a->n_payloads; t++) {
            /* Report each tag once: at its first clash with an earlier listener. */
            bool earlier = false;
            for (size_t j = 0; j < i && !earlier; j++)
                for (size_t u = 0; u < cfg->listeners[j].n_payloads && !earlier; u++)
                    earlier = tag_equal(cfg->listeners[j].payloads[u], a->payloads[t]);
            if (earlier)
                continue;
            for (size_t j = i + 1; j < cfg->n_listeners; j++) {
                const xb_listener_config_t *b = &cfg->listeners[j];
                size_t u = 0;
                while (u < b->n_payloads && !tag_equal(b->payloads[u], a->payloads[t]))
                    u++;
                if (u == b->n_payloads || (a->broadcast && b->broadcast))
                    continue;
                mark_t m = ld->lm && ld->lm[j].payload ? ld->lm[j].payload[u] : lmark_entry(ld, j);
                const char *nb = a->broadcast ? lname(ld, j) : lname(ld, i);
                if (m.line)
                    problem_at(ld, m,
                               "listeners '%s' (line %d) and '%s' (line %d) both accept '%s', "
                               "but '%s' is not broadcast: several listeners may share a "
                               "payload only if all of them are 'broadcast: true'",
                               lname(ld, i), a->line, lname(ld, j), b->line, a->payloads[t], nb);
                else
                    problem_at(ld, m,
                               "listeners '%s' and '%s' both accept '%s', but '%s' is not "
                               "broadcast: several listeners may share a payload only if all "
                               "of them are 'broadcast: true'",
                               lname(ld, i), lname(ld, j), a->payloads[t], nb);
                break;
            }
        }
    }
}

static void resolve_workers(xb_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        xb_listener_config_t *l = &cfg->listeners[i];
        if (!l->cpu_bound)
            l->workers = 1;
        else if (l->workers <= 0)
            l->workers = cfg->pool.workers;
    }
}

/* --------------------------------------------------------------- loading */

static void walk_document(loader_t *ld, yaml_node_t *root, mark_t root_mark)
{
    xb_config_t *cfg = ld->cfg;
    if (!root) {
        problem_at(ld, root_mark,
                   "empty configuration: expected a mapping with 'organism' and 'listeners'");
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        problem_at(ld, node_mark(root),
                   "the configuration must be a mapping with 'organism' and 'listeners', got %s",
                   kind_name(root));
        return;
    }
    top_ctx_t tc = {{NULL}};
    walk_map(ld, root, top_keys, 5, "the top level", on_top, &tc);

    if (!ld->org_seen || is_null(tc.sections[0])) {
        problem_at(ld, ld->org_seen ? node_mark(tc.sections[0]) : node_mark(root),
                   "missing section 'organism' (with at least 'name')");
    } else if (want_mapping(ld, tc.sections[0], "section 'organism'")) {
        walk_map(ld, tc.sections[0], organism_keys, 2, "section 'organism'", on_organism, NULL);
        yaml_node_t *nv = find_value(ld, tc.sections[0], "name");
        if (!nv)
            problem_at(ld, node_mark(tc.sections[0]), "missing key 'name' in section 'organism'");
    }
    if (want_mapping(ld, tc.sections[1], "section 'limits'"))
        walk_map(ld, tc.sections[1], limits_keys, sizeof limits_keys / sizeof limits_keys[0],
                 "section 'limits'", on_limits, NULL);
    backend_ctx_t bc = {0};
    if (want_mapping(ld, tc.sections[2], "section 'backend'"))
        walk_map(ld, tc.sections[2], backend_keys, 6, "section 'backend'", on_backend, &bc);
    for (size_t i = 0; i < bc.n_only; i++)
        if (bc.only_type[i] != cfg->backend.type)
            problem_at(ld, bc.only_for[i],
                       "'%s' in section 'backend' applies to backend type '%s' only (type is '%s')",
                       bc.only_key[i], xb_backend_type_name(bc.only_type[i]),
                       xb_backend_type_name(cfg->backend.type));
    if (want_mapping(ld, tc.sections[3], "section 'process_pool'"))
        walk_map(ld, tc.sections[3], pool_keys, 5, "section 'process_pool'", on_pool, NULL);
    load_listeners(ld, tc.sections[4]);
    if (cfg->n_listeners == 0 && (!tc.sections[4] || is_null(tc.sections[4]) ||
                                  tc.sections[4]->type == YAML_SEQUENCE_NODE))
        problem_at(ld, ld->listeners_seen ? ld->listeners_key : node_mark(root),
                   "no listeners: add at least one entry under 'listeners'");

    check_duplicate_names(ld);
    check_peers(ld);
    check_payload_conflicts(ld);
    resolve_workers(cfg);
    if (!bc.path_given && default_backend_path(cfg) < 0)
        problem_at(ld, node_mark(root), "the default backend path is too long");
    xb_config_sync_backend_limits(cfg);
}

static void loader_free_marks(loader_t *ld)
{
    if (!ld->lm)
        return;
    size_t n = ld->cfg ? ld->cfg->n_listeners : 0;
    for (size_t i = 0; i < n; i++) {
        free(ld->lm[i].raw_name);
        free(ld->lm[i].payload);
        free(ld->lm[i].peer);
    }
    free(ld->lm);
    ld->lm = NULL;
}

/* libyaml's scanner is quadratic in the nesting depth (200 000 "[" take
 * minutes), and organism.yaml never nests deeper than 4. A streaming pass
 * stops at the first node that is too deep before the real load starts.
 * Returns true (with *at set) when the text nests too deep. Syntax errors
 * are left for the load, which reports them. */
static bool too_deep(const char *yaml, size_t len, mark_t *at)
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

/* Parses yaml into ld->cfg (always allocated unless out of memory), recording
 * problems. dir is an absolute folder (owned by the config). */
static void load_into(loader_t *ld, const char *yaml, size_t len, char *dir)
{
    ld->cfg = config_alloc(NULL, dir);
    if (!ld->cfg) {
        ld->nomem = true;
        return;
    }
    mark_t deep_at;
    if (too_deep(yaml, len, &deep_at)) {
        problem_at(ld, deep_at, "nesting deeper than %d levels: not an organism.yaml",
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
        mark_t m = {(int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1};
        if (parser.context)
            problem_at(ld, m, "YAML syntax error: %s (%s that starts at line %d)",
                       parser.problem ? parser.problem : "unknown", parser.context,
                       (int)parser.context_mark.line + 1);
        else
            problem_at(ld, m, "YAML syntax error: %s", parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        return;
    }
    ld->doc = &doc;
    mark_t start = {1, 1};
    walk_document(ld, yaml_document_get_root_node(&doc), start);
    yaml_document_t next;
    if (yaml_document_get_root_node(&doc)) {
        if (!yaml_parser_load(&parser, &next)) {
            mark_t m = {(int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1};
            problem_at(ld, m, "YAML syntax error: %s", parser.problem ? parser.problem : "unknown");
        } else {
            yaml_node_t *r = yaml_document_get_root_node(&next);
            if (r)
                problem_at(ld, node_mark(r),
                           "a second YAML document: organism.yaml holds exactly one");
            yaml_document_delete(&next);
        }
    }
    yaml_document_delete(&doc);
    ld->doc = NULL;
    yaml_parser_delete(&parser);
}

/* Reads a whole file. Returns the bytes (caller frees) or NULL with why set. */
static char *read_file(const char *path, size_t *len, char *why, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, cap, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t n = 0, size = 4096;
    char *buf = malloc(size);
    while (buf) {
        size_t got = fread(buf + n, 1, size - n, f);
        n += got;
        if (n < size)
            break;
        if (size >= CFG_FILE_MAX) {
            snprintf(why, cap, "larger than %u bytes: not an organism.yaml", CFG_FILE_MAX);
            free(buf);
            fclose(f);
            return NULL;
        }
        char *nb = realloc(buf, size * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        size *= 2;
    }
    if (!buf) {
        snprintf(why, cap, "out of memory");
        fclose(f);
        return NULL;
    }
    if (ferror(f)) {
        snprintf(why, cap, "cannot read: %s", strerror(errno));
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* The folder of a file path, made absolute. */
static char *file_dir(const char *path)
{
    char *abs = realpath(path, NULL);
    char *src = abs ? abs : strdup(path);
    if (!src)
        return NULL;
    char *slash = strrchr(src, '/');
    char *dir;
    if (!slash)
        dir = absolute_dir(NULL);
    else if (slash == src)
        dir = strdup("/");
    else {
        *slash = '\0';
        dir = absolute_dir(src);
    }
    free(src);
    return dir;
}

/* Fills err from the earliest problem. */
static void first_problem(loader_t *ld, xb_error_t *err)
{
    if (ld->nomem && ld->n_probs == 0) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "%s: out of memory while loading", ld->file);
        return;
    }
    qsort(ld->probs, ld->n_probs, sizeof *ld->probs, problem_cmp);
    xb_error_set(err, XB_ERR_CONFIG, ld->probs[0].line, "%s", ld->probs[0].msg);
    if (err)
        err->column = ld->probs[0].col;
}

static xb_config_t *finish_load(loader_t *ld, xb_error_t *err)
{
    loader_free_marks(ld);
    if (ld->n_probs || ld->nomem) {
        first_problem(ld, err);
        loader_free_problems(ld);
        xb_config_destroy(&ld->cfg);
        return NULL;
    }
    return ld->cfg;
}

xb_config_t *xb_config_load_string(const char *yaml, size_t len, const char *name,
                                   const char *base_dir, xb_error_t *err)
{
    if (!yaml) {
        xb_error_set(err, XB_ERR_ARG, 0, "xb_config_load_string: NULL text");
        return NULL;
    }
    loader_t ld = {.file = name ? name : "<string>"};
    char *dir = absolute_dir(base_dir);
    if (!dir) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    load_into(&ld, yaml, len, dir);
    if (ld.cfg && !ld.cfg->path) {
        ld.cfg->path = strdup(ld.file);
        if (!ld.cfg->path)
            ld.nomem = true;
    }
    return finish_load(&ld, err);
}

xb_config_t *xb_config_load(const char *path, xb_error_t *err)
{
    if (!path) {
        xb_error_set(err, XB_ERR_ARG, 0, "xb_config_load: NULL path");
        return NULL;
    }
    char why[256];
    size_t len = 0;
    char *text = read_file(path, &len, why, sizeof why);
    if (!text) {
        xb_error_set(err, XB_ERR_CONFIG, 0, "%s: %s", path, why);
        return NULL;
    }
    loader_t ld = {.file = path};
    char *dir = file_dir(path);
    if (!dir) {
        free(text);
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    load_into(&ld, text, len, dir);
    free(text);
    if (ld.cfg) {
        ld.cfg->path = realpath(path, NULL);
        if (!ld.cfg->path)
            ld.nomem = true;
    }
    return finish_load(&ld, err);
}

/* ------------------------------------------------------------ check / all */

typedef struct {
    xb_config_report_fn report;
    void *user;
    size_t count;
} reporter_t;

static void count_report(const char *msg, void *user)
{
    reporter_t *r = user;
    r->count++;
    if (r->report)
        r->report(msg, r->user);
}

size_t xb_config_check_all(const char *path, xb_config_report_fn report, void *user,
                           xb_config_check_summary_t *summary)
{
    reporter_t rep = {report, user, 0};
    if (summary)
        memset(summary, 0, sizeof *summary);
    char why[256], line[600];
    size_t len = 0;
    char *text = path ? read_file(path, &len, why, sizeof why) : NULL;
    if (!text) {
        snprintf(line, sizeof line, "%s: %s", path ? path : "(null)", path ? why : "no file");
        count_report(line, &rep);
        if (summary)
            summary->problems = rep.count;
        return rep.count;
    }
    loader_t ld = {.file = path};
    char *dir = file_dir(path);
    if (dir)
        load_into(&ld, text, len, dir);
    else
        ld.nomem = true;
    free(text);
    loader_free_marks(&ld);
    if (ld.n_probs)
        qsort(ld.probs, ld.n_probs, sizeof *ld.probs, problem_cmp);
    for (size_t i = 0; i < ld.n_probs; i++)
        count_report(ld.probs[i].msg, &rep);
    if (ld.overflow) {
        snprintf(line, sizeof line, "%s: too many problems, stopped after %d", path,
                 CFG_PROBLEMS_MAX);
        count_report(line, &rep);
    }
    if (ld.nomem) {
        snprintf(line, sizeof line, "%s: out of memory while checking", path);
        count_report(line, &rep);
    }
    loader_free_problems(&ld);
    size_t compiled = 0;
    if (ld.cfg && !ld.cfg->path)
        ld.cfg->path = strdup(path); /* schema messages name the file as given */
    if (ld.cfg) {
        rep.count += xb_schemas_check_config(ld.cfg, report, user, &compiled);
        if (summary) {
            snprintf(summary->organism, sizeof summary->organism, "%s", ld.cfg->name);
            summary->listeners = ld.cfg->n_listeners;
        }
    }
    if (summary) {
        summary->schemas = compiled;
        summary->problems = rep.count;
    }
    xb_config_destroy(&ld.cfg);
    return rep.count;
}

/* ------------------------------------------------------- code-built check */

int xb_config_validate(const xb_config_t *cfg, xb_error_t *err)
{
    if (!cfg)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_config_validate: NULL config");
    const char *file = cfg->path ? cfg->path : "config";
    if (!xb_config_valid_name(cfg->name))
        return xb_error_set(err, XB_ERR_CONFIG, 0, "%s: invalid organism name '%s'", file,
                            cfg->name);
    char why[400];
    if (endpoint_problem(cfg->endpoint, why, sizeof why) < 0)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "%s: %s", file, why);
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const xb_listener_config_t *l = &cfg->listeners[i];
        if (!xb_config_valid_name(l->name) || strcmp(l->name, "system") == 0)
            return xb_error_set(err, XB_ERR_CONFIG, l->line, "%s: invalid listener name '%s'",
                                file, l->name);
        if (l->n_payloads == 0)
            return xb_error_set(err, XB_ERR_CONFIG, l->line,
                                "%s: listener '%s' has no payload", file, l->name);
        if (l->workers < 1 || l->credit < 1 || l->timeout_seconds < 0)
            return xb_error_set(err, XB_ERR_CONFIG, l->line,
                                "%s: listener '%s' needs workers >= 1, credit >= 1 and "
                                "timeout_seconds >= 0", file, l->name);
        if (l->schema && access(l->schema, R_OK) != 0)
            return xb_error_set(err, XB_ERR_CONFIG, l->line,
                                "%s: schema file '%s' of listener '%s' cannot be read: %s", file,
                                l->schema, l->name, strerror(errno));
        if (l->command && (!l->command[0] || !l->command[0][0]))
            return xb_error_set(err, XB_ERR_CONFIG, l->line,
                                "%s: listener '%s' has an empty command", file, l->name);
    }
    loader_t ld = {.file = file, .cfg = (xb_config_t *)cfg};
    check_duplicate_names(&ld);
    check_peers(&ld);
    check_payload_conflicts(&ld);
    if (ld.n_probs == 0 && !ld.nomem)
        return 0;
    first_problem(&ld, err);
    loader_free_problems(&ld);
    return -1;
}
