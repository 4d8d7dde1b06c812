/* The sections of organism.yaml (bus/config_yaml.h): the top level, each
 * section walked against its key table, the listeners list, and the parse
 * functions of the keys that are more than one typed value (payload,
 * schema, command, peers, names). */
#include "config_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_build.h"
#include "config_internal.h"
#include "schema.h"

#define NAME_RULE "names match [A-Za-z][A-Za-z0-9_-]* (at most %d characters)"

/* What a listener's parse functions share during the walk of its entry. */
typedef struct {
    xb_cfg_lmarks_t *mk;
} lctx_t;

/* ---------------------------------------------------------------- names */

int xb_cfg_parse_organism_name(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                               yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)k;
    (void)ctx;
    xb_config_t *cfg = base;
    const char *s = NULL;
    int rc = xb_cfg_get_string(ld, v, key->name, where, &s);
    if (rc == 1)
        xb_cfg_problem(ld, xb_cfg_mark(v), "'name' in %s must not be empty", where);
    if (rc != 0)
        return -1;
    if (!xb_config_valid_name(s)) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "invalid organism name '%.80s': " NAME_RULE, s,
                       XB_NAME_MAX - 1);
        return -1;
    }
    snprintf(cfg->name, sizeof cfg->name, "%s", s);
    return 0;
}

int xb_cfg_parse_listener_name(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                               yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)ld, (void)key, (void)k, (void)v, (void)where, (void)base, (void)ctx;
    return 0; /* read before the walk, to name the listener in every message */
}

/* -------------------------------------------------------------- payload */

int xb_cfg_list_push(char ***items, size_t *n, xb_cfg_mark_t **marks, const char *s,
                     xb_cfg_mark_t m)
{
    char **ni = realloc(*items, (*n + 1) * sizeof *ni);
    if (!ni)
        return -1;
    *items = ni;
    if (marks) {
        xb_cfg_mark_t *nm = realloc(*marks, (*n + 1) * sizeof *nm);
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

static bool str_equal(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

void xb_cfg_push_once(xb_cfg_loader_t *ld, char ***items, size_t *n, xb_cfg_mark_t **marks,
                      const char *s, const yaml_node_t *v, bool (*same)(const char *, const char *),
                      const char *what, int width, const char *where)
{
    for (size_t i = 0; i < *n; i++) {
        if (same((*items)[i], s)) {
            xb_cfg_problem(ld, xb_cfg_mark(v), "%s '%.*s' listed twice in %s", what, width, s,
                           where);
            return;
        }
    }
    if (xb_cfg_list_push(items, n, marks, s, xb_cfg_mark(v)) < 0)
        ld->nomem = true;
}

typedef void (*item_fn)(xb_cfg_loader_t *ld, xb_listener_config_t *l, lctx_t *lc, yaml_node_t *item,
                        const char *where);

/* Calls fn on v when it is one value, on each item when it is a list.
 * Returns false (fn not called) when v is neither. */
static bool each_item(xb_cfg_loader_t *ld, xb_listener_config_t *l, lctx_t *lc, yaml_node_t *v,
                      const char *where, item_fn fn)
{
    if (v->type == YAML_SCALAR_NODE) {
        fn(ld, l, lc, v, where);
        return true;
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return false;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = xb_cfg_node(ld, *it);
        if (item)
            fn(ld, l, lc, item, where);
    }
    return true;
}

/* Where xb_cfg_read_payloads puts the tags. */
typedef struct {
    char ***items;
    size_t *n;
    xb_cfg_mark_t **marks;
} tags_t;

static void add_payload(xb_cfg_loader_t *ld, tags_t *t, yaml_node_t *v, const char *where)
{
    if (v->type != YAML_SCALAR_NODE || xb_cfg_is_null(v)) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "each payload of %s must be a root tag, got %s", where,
                       xb_cfg_is_null(v) ? "nothing" : xb_cfg_kind_name(v));
        return;
    }
    const char *tag = xb_cfg_scalar(v);
    if (!xb_cfg_scalar_clean(v) || !xb_payload_tag_valid(tag)) {
        xb_cfg_problem(ld, xb_cfg_mark(v),
                       "invalid payload tag '%.200s' in %s: write an XML element name, or "
                       "{namespace}name",
                       tag, where);
        return;
    }
    if (xb_config_tag_equal(tag, XB_SYSTEM_ERROR_TAG)) {
        xb_cfg_problem(ld, xb_cfg_mark(v),
                       "'SystemError' in %s: every listener accepts SystemError implicitly; "
                       "remove it",
                       where);
        return;
    }
    xb_cfg_push_once(ld, t->items, t->n, t->marks, tag, v, xb_config_tag_equal, "payload", 200,
                     where);
}

int xb_cfg_read_payloads(xb_cfg_loader_t *ld, yaml_node_t *v, const char *where, char ***items,
                         size_t *n, xb_cfg_mark_t **marks)
{
    if (xb_cfg_is_null(v))
        return 1;
    size_t before = ld->n_probs;
    tags_t t = {items, n, marks};
    if (v->type == YAML_SCALAR_NODE) {
        add_payload(ld, &t, v, where);
    } else if (v->type != YAML_SEQUENCE_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v),
                       "'payload' in %s must be a root tag or a list of root tags, got %s", where,
                       xb_cfg_kind_name(v));
    } else if (v->data.sequence.items.start == v->data.sequence.items.top) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'payload' in %s must name at least one root tag",
                       where);
    } else {
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            yaml_node_t *item = xb_cfg_node(ld, *it);
            if (item)
                add_payload(ld, &t, item, where);
        }
    }
    return ld->n_probs == before ? 0 : -1;
}

int xb_cfg_parse_payload(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                         yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)key, (void)k;
    xb_listener_config_t *l = base;
    lctx_t *lc = ctx;
    if (xb_cfg_is_null(v))
        return 1;                 /* reported as "no payload" after the walk */
    lc->mk->payload_given = true; /* a bad value is reported where it is */
    return xb_cfg_read_payloads(ld, v, where, &l->payloads, &l->n_payloads, &lc->mk->payload);
}

/* ------------------------------------------------------------ key files */

/* The readable absolute path of the key file v names, or NULL (a problem
 * noted). */
static char *key_path(xb_cfg_loader_t *ld, const char *name, yaml_node_t *v, const char *where)
{
    const char *s = NULL;
    if (xb_cfg_get_string(ld, v, name, where, &s) != 0)
        return NULL;
    if (!s[0]) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must not be empty", name, where);
        return NULL;
    }
    char *p = xb_config_path_join(ld->cfg->dir, s);
    if (!p) {
        ld->nomem = true;
        return NULL;
    }
    const char *why = NULL;
    char *r = xb_config_readable_file(p, &why);
    if (!r && why)
        xb_cfg_problem(ld, xb_cfg_mark(v), "key file '%.200s' of %s cannot be read: %.300s: %s", s,
                       where, p, why);
    else if (!r)
        ld->nomem = true;
    free(p);
    return r;
}

int xb_cfg_parse_key_file(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                          yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)k, (void)ctx;
    char *r = key_path(ld, key->name, v, where);
    if (!r)
        return -1;
    char **field = (char **)((char *)base + key->offset);
    free(*field);
    *field = r;
    return 0;
}

int xb_cfg_parse_key_files(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                           yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)k, (void)ctx;
    xb_key_files_t *list = (xb_key_files_t *)((char *)base + key->offset);
    if (xb_cfg_is_null(v))
        return 1;
    if (v->type != YAML_SEQUENCE_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be a list of key files, got %s",
                       key->name, where, xb_cfg_kind_name(v));
        return -1;
    }
    size_t before = ld->n_probs;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = xb_cfg_node(ld, *it);
        char *r = item ? key_path(ld, key->name, item, where) : NULL;
        char **grown = r ? realloc(list->paths, (list->n + 1) * sizeof *grown) : NULL;
        if (r && !grown) {
            free(r);
            ld->nomem = true;
        }
        if (grown) {
            list->paths = grown;
            list->paths[list->n++] = r;
        }
    }
    return ld->n_probs == before ? 0 : -1;
}

int xb_cfg_parse_mode(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                      const char *where, void *base, void *ctx)
{
    (void)k, (void)ctx;
    const char *s = NULL;
    if (xb_cfg_get_string(ld, v, key->name, where, &s) != 0)
        return -1;
    size_t n = strlen(s);
    if (n < 3 || n > 4 || strspn(s, "01234567") != n || (n == 4 && s[0] != '0')) {
        xb_cfg_problem(ld, xb_cfg_mark(v),
                       "'%s' in %s must be permissions in octal such as \"0600\", got '%.40s'",
                       key->name, where, s);
        return -1;
    }
    int mode = (int)strtol(s, NULL, 8);
    memcpy((char *)base + key->offset, &mode, sizeof mode);
    return 0;
}

/* --------------------------------------------------------------- schema */

int xb_cfg_parse_schema(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                        yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)k, (void)ctx;
    char **field = (char **)((char *)base + key->offset);
    const char *s = NULL;
    int rc = xb_cfg_get_string(ld, v, key->name, where, &s);
    if (rc != 0)
        return rc;
    if (!s[0]) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'schema' in %s must not be empty", where);
        return -1;
    }
    char *p = xb_config_path_join(ld->cfg->dir, s);
    if (!p) {
        ld->nomem = true;
        return -1;
    }
    const char *why = NULL;
    char *r = xb_config_readable_file(p, &why);
    if (!r && why)
        xb_cfg_problem(ld, xb_cfg_mark(v), "schema file '%.200s' of %s cannot be read: %.300s: %s",
                       s, where, p, why);
    else if (!r)
        ld->nomem = true;
    free(p);
    if (!r)
        return -1;
    free(*field);
    *field = r;
    return 0;
}

/* -------------------------------------------------------------- command */

/* A relative program path with a slash ("bin/x", "./x") resolves against
 * the config's folder, like every other path in the file; a bare name is
 * left for the pump to look up (its own folder, then PATH). */
static int set_command(xb_cfg_loader_t *ld, xb_listener_config_t *l, char **argv, size_t argc)
{
    l->command = argv;
    l->n_command = argc;
    char *prog = argv[0];
    if (prog[0] == '/' || !strchr(prog, '/'))
        return 0;
    char *abs = xb_config_path_join(ld->cfg->dir, prog);
    if (!abs) {
        ld->nomem = true;
        return -1;
    }
    free(prog);
    argv[0] = abs;
    return 0;
}

static int command_line(xb_cfg_loader_t *ld, xb_listener_config_t *l, yaml_node_t *v,
                        const char *where)
{
    char **argv = NULL;
    size_t argc = 0;
    xb_error_t e;
    xb_error_clear(&e);
    if (!xb_cfg_scalar_clean(v) || xb_command_split(xb_cfg_scalar(v), &argv, &argc, &e) < 0) {
        if (e.code == XB_ERR_NOMEM)
            ld->nomem = true;
        else
            xb_cfg_problem(ld, xb_cfg_mark(v), "'command' in %s: %s", where,
                           e.message[0] ? e.message : "contains a NUL character");
        return -1;
    }
    return set_command(ld, l, argv, argc);
}

static int command_list(xb_cfg_loader_t *ld, xb_listener_config_t *l, yaml_node_t *v,
                        const char *where)
{
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'command' in %s must not be an empty list", where);
        return -1;
    }
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv) {
        ld->nomem = true;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = xb_cfg_node(ld, v->data.sequence.items.start[i]);
        if (!item || item->type != YAML_SCALAR_NODE || xb_cfg_is_null(item) ||
            !xb_cfg_scalar_clean(item) || (i == 0 && !xb_cfg_scalar(item)[0])) {
            xb_cfg_problem(ld, xb_cfg_mark(item ? item : v),
                           "each item of 'command' in %s must be a string%s", where,
                           i == 0 ? " (the program is not empty)" : "");
            xb_command_free(&argv);
            return -1;
        }
        if (!(argv[i] = strdup(xb_cfg_scalar(item)))) {
            ld->nomem = true;
            xb_command_free(&argv);
            return -1;
        }
    }
    return set_command(ld, l, argv, n);
}

int xb_cfg_parse_command(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                         yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)key, (void)k, (void)ctx;
    if (xb_cfg_is_null(v))
        return 1;
    if (v->type == YAML_SCALAR_NODE)
        return command_line(ld, base, v, where);
    if (v->type == YAML_SEQUENCE_NODE)
        return command_list(ld, base, v, where);
    xb_cfg_problem(ld, xb_cfg_mark(v),
                   "'command' in %s must be a string or a list of strings, got %s", where,
                   xb_cfg_kind_name(v));
    return -1;
}

/* ---------------------------------------------------------------- peers */

static void add_peer(xb_cfg_loader_t *ld, xb_listener_config_t *l, lctx_t *lc, yaml_node_t *item,
                     const char *where)
{
    if (item->type != YAML_SCALAR_NODE || xb_cfg_is_null(item)) {
        xb_cfg_problem(ld, xb_cfg_mark(item), "each peer of %s must be a listener name, got %s",
                       where, xb_cfg_is_null(item) ? "nothing" : xb_cfg_kind_name(item));
        return;
    }
    xb_cfg_push_once(ld, &l->peers, &l->n_peers, &lc->mk->peer, xb_cfg_scalar(item), item,
                     str_equal, "peer", 80, where);
}

int xb_cfg_parse_peers(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                       const char *where, void *base, void *ctx)
{
    (void)key, (void)k;
    xb_listener_config_t *l = base;
    if (xb_cfg_is_null(v))
        return 1;
    l->has_peers = true;
    size_t before = ld->n_probs;
    if (!each_item(ld, l, ctx, v, where, add_peer))
        xb_cfg_problem(ld, xb_cfg_mark(v), "'peers' in %s must be a list of listener names, got %s",
                       where, xb_cfg_kind_name(v));
    return ld->n_probs == before ? 0 : -1;
}

/* ------------------------------------------------------------ listeners */

/* Reads the entry's name first, so that every message can name the listener. */
static void read_listener_name(xb_cfg_loader_t *ld, yaml_node_t *m, xb_listener_config_t *l,
                               xb_cfg_lmarks_t *mk, char *where, size_t cap)
{
    snprintf(where, cap, "the listener at line %d", mk->entry.line);
    yaml_node_t *nv = xb_cfg_find_value(ld, m, "name");
    if (!nv || xb_cfg_is_null(nv)) {
        xb_cfg_problem(ld, mk->entry, "the listener at line %d has no 'name'", mk->entry.line);
        return;
    }
    if (nv->type != YAML_SCALAR_NODE || !xb_cfg_scalar_clean(nv)) {
        xb_cfg_problem(ld, xb_cfg_mark(nv), "'name' in %s must be a string, got %s", where,
                       xb_cfg_kind_name(nv));
        return;
    }
    const char *name = xb_cfg_scalar(nv);
    mk->name = xb_cfg_mark(nv);
    mk->raw_name = strdup(name);
    if (!mk->raw_name)
        ld->nomem = true;
    if (!xb_config_valid_name(name))
        xb_cfg_problem(ld, mk->name, "invalid listener name '%.80s': " NAME_RULE, name,
                       XB_NAME_MAX - 1);
    else if (strcmp(name, "system") == 0)
        xb_cfg_problem(ld, mk->name,
                       "listener name 'system' is reserved (the pump sends as 'system')");
    else
        snprintf(l->name, sizeof l->name, "%s", name);
    snprintf(where, cap, "listener '%.80s'", name);
}

static void load_listener(xb_cfg_loader_t *ld, yaml_node_t *m, size_t idx)
{
    const xb_key_section_t *s = &xb_config_key_sections()[XB_SECTION_LISTENER];
    xb_listener_config_t *l = &ld->cfg->listeners[idx];
    xb_cfg_lmarks_t *mk = &ld->lm[idx];
    xb_config_listener_defaults(l); /* workers 0: resolved after the walk */
    mk->entry = xb_cfg_mark(m);
    l->line = mk->entry.line;
    if (m->type != YAML_MAPPING_NODE) {
        xb_cfg_problem(ld, mk->entry,
                       "each entry of 'listeners' must be a mapping with at least 'name' and "
                       "'payload', got %s",
                       xb_cfg_kind_name(m));
        return;
    }
    char where[160];
    read_listener_name(ld, m, l, mk, where, sizeof where);
    lctx_t lc = {.mk = mk};
    xb_cfg_seen_t seen[XB_CFG_SECTION_KEYS_MAX];
    xb_cfg_walk(ld, m, s, where, l, &lc, seen);
    if (l->n_payloads == 0 && !mk->payload_given)
        xb_cfg_problem(ld, mk->entry, "%s has no 'payload': list the root tags it accepts", where);
    const xb_cfg_seen_t *workers = &seen[xb_config_key_find(s, "workers") - s->keys];
    if (workers->valid && !l->cpu_bound)
        xb_cfg_problem(ld, workers->at,
                       "'workers' in %s only applies to a pool: add 'cpu_bound: true' or remove it",
                       where);
}

static void load_listeners(xb_cfg_loader_t *ld, yaml_node_t *v)
{
    if (xb_cfg_is_null(v))
        return;
    if (v->type != YAML_SEQUENCE_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'listeners' must be a list of listener entries, got %s",
                       xb_cfg_kind_name(v));
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
        yaml_node_t *m = xb_cfg_node(ld, v->data.sequence.items.start[i]);
        if (!m)
            continue;
        ld->cfg->n_listeners = i + 1;
        load_listener(ld, m, i);
    }
}

void xb_cfg_free_marks(xb_cfg_loader_t *ld)
{
    free(ld->notes);
    ld->notes = NULL;
    ld->n_notes = ld->cap_notes = 0;
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

/* ------------------------------------------------------------- sections */

/* A key of another backend type than the chosen one would be ignored: refused. */
static void check_backend_only(xb_cfg_loader_t *ld, const xb_cfg_seen_t *seen)
{
    const xb_key_section_t *s = &xb_config_key_sections()[XB_SECTION_BACKEND];
    const char *type = xb_backend_type_name(ld->cfg->backend.type);
    for (size_t i = 0; i < s->n_keys; i++)
        if (seen[i].at.line && s->keys[i].only_for && strcmp(s->keys[i].only_for, type) != 0)
            xb_cfg_problem(ld, seen[i].at,
                           "'%s' in %s applies to backend type '%s' only (type is '%s')",
                           s->keys[i].name, s->where, s->keys[i].only_for, type);
    for (size_t i = 0; i < s->n_keys; i++)
        if (seen[i].at.line && strcmp(s->keys[i].name, "journal") == 0 &&
            ld->cfg->backend.journal && ld->cfg->backend.type == XB_BACKEND_MEMORY)
            xb_cfg_problem(ld, seen[i].at,
                           "'journal: true' in %s: the memory backend keeps no journal", s->where);
}

static void walk_organism(xb_cfg_loader_t *ld, yaml_node_t *root, yaml_node_t *k, yaml_node_t *v)
{
    const xb_key_section_t *s = &xb_config_key_sections()[XB_SECTION_ORGANISM];
    if (!k || xb_cfg_is_null(v)) {
        xb_cfg_problem(ld, k ? xb_cfg_mark(v) : xb_cfg_mark(root),
                       "missing section 'organism' (with at least 'name')");
        return;
    }
    if (!xb_cfg_want_mapping(ld, v, s->where))
        return;
    xb_cfg_walk(ld, v, s, s->where, ld->cfg, NULL, NULL);
    if (!xb_cfg_find_value(ld, v, "name"))
        xb_cfg_problem(ld, xb_cfg_mark(v), "missing key 'name' in %s", s->where);
}

/* The top level: one key per section, each remembered for its own walk. */
typedef struct {
    const xb_cfg_key_t *keys;
    yaml_node_t *key[XB_SECTION_TOP_COUNT];
    yaml_node_t *value[XB_SECTION_TOP_COUNT];
} top_t;

static int remember_section(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                            yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)ld, (void)where, (void)base;
    top_t *top = ctx;
    size_t i = (size_t)(key - top->keys);
    top->key[i] = k;
    top->value[i] = v;
    return 0;
}

static void walk_top(xb_cfg_loader_t *ld, yaml_node_t *root, top_t *top)
{
    const xb_key_section_t *sections = xb_config_key_sections();
    xb_cfg_key_t keys[XB_SECTION_TOP_COUNT];
    for (size_t i = 0; i < XB_SECTION_TOP_COUNT; i++)
        keys[i] = (xb_cfg_key_t){
            .name = sections[i].name, .type = XB_KEY_CUSTOM, .parse = remember_section};
    const xb_key_section_t s = {"", "the top level", keys, XB_SECTION_TOP_COUNT};
    top->keys = keys;
    xb_cfg_walk(ld, root, &s, s.where, NULL, top, NULL);
    top->keys = NULL;
}

/* limits, backend, process_pool and security: plain keys, walked against their tables.
 * backend_seen receives what the walk of 'backend' saw. */
static void walk_plain_sections(xb_cfg_loader_t *ld, const top_t *top, xb_cfg_seen_t *backend_seen)
{
    const xb_key_section_t *sections = xb_config_key_sections();
    xb_config_t *cfg = ld->cfg;
    void *bases[XB_SECTION_COUNT] = {[XB_SECTION_LIMITS] = &cfg->limits,
                                     [XB_SECTION_BACKEND] = &cfg->backend,
                                     [XB_SECTION_POOL] = &cfg->pool,
                                     [XB_SECTION_SECURITY] = &cfg->security};
    if (top->value[XB_SECTION_SECURITY] && !xb_cfg_is_null(top->value[XB_SECTION_SECURITY]))
        cfg->security.line = xb_cfg_mark(top->key[XB_SECTION_SECURITY]).line;
    for (int i = XB_SECTION_LIMITS; i <= XB_SECTION_SECURITY; i++) {
        const xb_key_section_t *s = &sections[i];
        if (xb_cfg_want_mapping(ld, top->value[i], s->where))
            xb_cfg_walk(ld, top->value[i], s, s->where, bases[i], NULL,
                        i == XB_SECTION_BACKEND ? backend_seen : NULL);
    }
    check_backend_only(ld, backend_seen);
}

/* A listener that is not cpu_bound has one process; a pool without its own
 * 'workers' gets process_pool.workers. */
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

void xb_cfg_walk_document(xb_cfg_loader_t *ld, yaml_node_t *root, xb_cfg_mark_t root_mark)
{
    xb_config_t *cfg = ld->cfg;
    if (!root) {
        xb_cfg_problem(ld, root_mark,
                       "empty configuration: expected a mapping with 'organism' and 'listeners'");
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        xb_cfg_problem(
            ld, xb_cfg_mark(root),
            "the configuration must be a mapping with 'organism' and 'listeners', got %s",
            xb_cfg_kind_name(root));
        return;
    }
    top_t top = {NULL, {NULL}, {NULL}};
    walk_top(ld, root, &top);
    walk_organism(ld, root, top.key[XB_SECTION_ORGANISM], top.value[XB_SECTION_ORGANISM]);

    xb_cfg_seen_t backend_seen[XB_CFG_SECTION_KEYS_MAX] = {{{0, 0}, false}};
    walk_plain_sections(ld, &top, backend_seen);

    yaml_node_t *lv = top.value[XB_SECTION_LISTENER];
    load_listeners(ld, lv);
    if (cfg->n_listeners == 0 && (xb_cfg_is_null(lv) || lv->type == YAML_SEQUENCE_NODE))
        xb_cfg_problem(ld,
                       top.key[XB_SECTION_LISTENER] ? xb_cfg_mark(top.key[XB_SECTION_LISTENER])
                                                    : xb_cfg_mark(root),
                       "no listeners: add at least one entry under 'listeners'");

    xb_cfg_walk_memory(ld, top.key[XB_SECTION_MEMORY], top.value[XB_SECTION_MEMORY]);
    xb_cfg_load_pipelines(ld, top.value[XB_SECTION_PIPELINE]);

    xb_cfg_check_listeners(ld);
    xb_cfg_check_pipelines(ld);
    xb_cfg_check_security(ld, top.value[XB_SECTION_ORGANISM]);
    resolve_workers(cfg);
    const xb_key_section_t *backend = &xb_config_key_sections()[XB_SECTION_BACKEND];
    if (!backend_seen[xb_config_key_find(backend, "path") - backend->keys].valid &&
        xb_config_default_backend_path(cfg) < 0)
        xb_cfg_problem(ld, xb_cfg_mark(root), "the default backend path is too long");
    xb_config_sync_backend_limits(cfg);
}
