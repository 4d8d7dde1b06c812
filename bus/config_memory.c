/* Working memory in organism.yaml (bus/config_yaml.h, docs/pipelines.md):
 * entry names, lists of them (a listener's or a step's needs), root tags of
 * typed entries and the section memory with its types[]. */
#include "config_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_build.h"
#include "config_internal.h"

#define ENTRY_RULE "entry names match [A-Za-z_][A-Za-z0-9_.-]* (at most %d characters)"

bool xb_config_valid_entry_name(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n >= XB_ENTRY_MAX || strchr("0123456789.-", s[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* The entry name v holds, or NULL after a problem (1 in *rc for null). */
static const char *entry_name(xb_cfg_loader_t *ld, const yaml_node_t *v, const char *key,
                              const char *where)
{
    if (v->type != YAML_SCALAR_NODE || xb_cfg_is_null(v) || !xb_cfg_scalar_clean(v)) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be an entry name, got %s", key, where,
                       xb_cfg_is_null(v) ? "nothing" : xb_cfg_kind_name(v));
        return NULL;
    }
    const char *s = xb_cfg_scalar(v);
    if (!xb_config_valid_entry_name(s)) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "invalid entry name '%.80s' in %s: " ENTRY_RULE, s,
                       where, XB_ENTRY_MAX - 1);
        return NULL;
    }
    return s;
}

int xb_cfg_parse_entry(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                       const char *where, void *base, void *ctx)
{
    (void)k, (void)ctx;
    if (xb_cfg_is_null(v))
        return 1;
    const char *s = entry_name(ld, v, key->name, where);
    if (!s)
        return -1;
    char *field = (char *)base + key->offset;
    snprintf(field, key->size, "%s", s);
    xb_cfg_note(ld, field, xb_cfg_mark(v));
    return 0;
}

static bool same_entry(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

int xb_cfg_read_entries(xb_cfg_loader_t *ld, const char *key, yaml_node_t *v, const char *where,
                        char ***items, size_t *n)
{
    if (xb_cfg_is_null(v))
        return 1;
    if (v->type != YAML_SEQUENCE_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be a list of entry names, got %s", key,
                       where, xb_cfg_kind_name(v));
        return -1;
    }
    size_t before = ld->n_probs;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *item = xb_cfg_node(ld, *it);
        const char *s = item ? entry_name(ld, item, key, where) : NULL;
        if (!s)
            continue;
        size_t had = *n;
        xb_cfg_push_once(ld, items, n, NULL, s, item, same_entry, "entry", 80, where);
        if (*n > had)
            xb_cfg_note(ld, (*items)[had], xb_cfg_mark(item));
    }
    return ld->n_probs == before ? 0 : -1;
}

int xb_cfg_parse_listener_needs(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                                yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)k, (void)ctx;
    xb_listener_config_t *l = base;
    return xb_cfg_read_entries(ld, key->name, v, where, &l->needs, &l->n_needs);
}

int xb_cfg_parse_element(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                         yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)k, (void)ctx;
    const char *s = NULL;
    int rc = xb_cfg_get_string(ld, v, key->name, where, &s);
    if (rc != 0)
        return rc;
    if (!xb_payload_tag_valid(s)) {
        xb_cfg_problem(ld, xb_cfg_mark(v),
                       "invalid root tag '%.200s' in %s: write an XML element name, or "
                       "{namespace}name",
                       s, where);
        return -1;
    }
    char **field = (char **)((char *)base + key->offset);
    char *copy = strdup(s);
    if (!copy) {
        ld->nomem = true;
        return -1;
    }
    free(*field);
    *field = copy;
    return 0;
}

/* ----------------------------------------------------------------- types */

static void load_type(xb_cfg_loader_t *ld, yaml_node_t *m, xb_memory_type_t *t)
{
    const xb_key_section_t *s = &xb_config_key_sections()[XB_SECTION_MEMORY_TYPE];
    t->line = xb_cfg_mark(m).line;
    char where[120];
    snprintf(where, sizeof where, "the memory type at line %d", t->line);
    if (m->type != YAML_MAPPING_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(m),
                       "each entry of 'types' in section 'memory' must be a mapping with 'name' "
                       "and 'element', got %s",
                       xb_cfg_kind_name(m));
        return;
    }
    xb_cfg_walk(ld, m, s, where, t, NULL, NULL);
    if (!xb_cfg_find_value(ld, m, "name"))
        xb_cfg_problem(ld, xb_cfg_mark(m), "%s has no 'name'", where);
    if (!xb_cfg_find_value(ld, m, "element"))
        xb_cfg_problem(ld, xb_cfg_mark(m), "%s has no 'element': give the entry's root tag", where);
}

/* An entry name typed twice is refused at its second type. */
static void check_types_unique(xb_cfg_loader_t *ld, const xb_memory_config_t *mem)
{
    for (size_t i = 0; i < mem->n_types; i++)
        for (size_t j = 0; j < i && mem->types[i].name[0]; j++)
            if (strcmp(mem->types[i].name, mem->types[j].name) == 0) {
                xb_cfg_problem(ld, xb_cfg_noted(ld, mem->types[i].name),
                               "entry '%s' is typed twice in section 'memory' (lines %d and %d)",
                               mem->types[i].name, mem->types[j].line, mem->types[i].line);
                break;
            }
}

int xb_cfg_parse_memory_types(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                              yaml_node_t *v, const char *where, void *base, void *ctx)
{
    (void)k, (void)ctx;
    xb_memory_config_t *mem = base;
    if (xb_cfg_is_null(v))
        return 1;
    if (v->type != YAML_SEQUENCE_NODE) {
        xb_cfg_problem(ld, xb_cfg_mark(v), "'%s' in %s must be a list of types, got %s", key->name,
                       where, xb_cfg_kind_name(v));
        return -1;
    }
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0)
        return 0;
    mem->types = calloc(n, sizeof *mem->types);
    if (!mem->types) {
        ld->nomem = true;
        return -1;
    }
    size_t before = ld->n_probs;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *m = xb_cfg_node(ld, v->data.sequence.items.start[i]);
        mem->n_types = i + 1;
        if (m)
            load_type(ld, m, &mem->types[i]);
    }
    check_types_unique(ld, mem);
    return ld->n_probs == before ? 0 : -1;
}

void xb_cfg_walk_memory(xb_cfg_loader_t *ld, yaml_node_t *k, yaml_node_t *v)
{
    const xb_key_section_t *s = &xb_config_key_sections()[XB_SECTION_MEMORY];
    if (!v || !xb_cfg_want_mapping(ld, v, s->where))
        return;
    ld->cfg->memory.line = xb_cfg_mark(k).line;
    xb_cfg_walk(ld, v, s, s->where, &ld->cfg->memory, NULL, NULL);
}
