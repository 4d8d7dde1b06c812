/* Walking organism.yaml with positions (bus/config_yaml.c).
 *
 * The loader reads the file with libyaml's document API. Every problem is
 * recorded with its 1-based line and column and the walk goes on, so that
 * one pass serves both xb_config_load (which returns the earliest problem)
 * and xb_config_check_all (which reports them all). Mappings are walked
 * against a section of the key table (bus/config_keys.h). */
#ifndef XMLBUS_CONFIG_YAML_H
#define XMLBUS_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "config_keys.h"
#include "xmlbus/config.h"

#define XB_CFG_PROBLEMS_MAX 500 /* then "too many problems" */

typedef struct {
    int line;
    int col;
} xb_cfg_mark_t;

typedef struct {
    int line;
    int col;
    size_t seq;
    char *msg;
} xb_cfg_problem_t;

/* Where each listener's parts sit in the file, for cross-check messages. */
typedef struct {
    xb_cfg_mark_t entry;
    xb_cfg_mark_t name;
    char *raw_name;         /* the name as written, even if invalid (avoids cascades) */
    xb_cfg_mark_t *payload; /* parallel to listener->payloads */
    xb_cfg_mark_t *peer;    /* parallel to listener->peers */
    bool payload_given;
} xb_cfg_lmarks_t;

/* Where a parsed value came from, by the address it was stored at (a
 * string of a list, a char array in a struct that is not moved again). */
typedef struct {
    const void *at;
    xb_cfg_mark_t mark;
} xb_cfg_note_t;

typedef struct xb_cfg_loader {
    const char *file; /* name used in messages */
    yaml_document_t *doc;
    xb_config_t *cfg;
    xb_cfg_lmarks_t *lm;  /* parallel to cfg->listeners, NULL for code-built configs */
    xb_cfg_note_t *notes; /* positions of memory and pipeline values */
    size_t n_notes;
    size_t cap_notes;
    xb_cfg_problem_t *probs;
    size_t n_probs;
    size_t cap_probs;
    size_t seq;
    bool overflow;
    bool nomem;
} xb_cfg_loader_t;

/* What a walk saw of each key of its section (indexed like the section). */
typedef struct {
    xb_cfg_mark_t at; /* the key, when written with a value that is not null */
    bool valid;       /* that value was read without a problem */
} xb_cfg_seen_t;

/* ------------------------------------------------------------ problems */

xb_cfg_mark_t xb_cfg_mark(const yaml_node_t *n);
/* Records a problem at m (line 0 = no position). */
void xb_cfg_problem(xb_cfg_loader_t *ld, xb_cfg_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sorts the problems by line, column, then order of discovery. */
void xb_cfg_problems_sort(xb_cfg_loader_t *ld);
void xb_cfg_problems_free(xb_cfg_loader_t *ld);
/* Remembers that the value stored at at came from m. */
void xb_cfg_note(xb_cfg_loader_t *ld, const void *at, xb_cfg_mark_t m);
/* The position noted for at, or {0, 0} (a config built in code). */
xb_cfg_mark_t xb_cfg_noted(const xb_cfg_loader_t *ld, const void *at);
/* Fills err from the earliest problem (or out of memory). */
void xb_cfg_first_problem(xb_cfg_loader_t *ld, xb_error_t *err);
/* " (did you mean 'x'?)" for the closest of cands, or "". */
const char *xb_cfg_hint(char *buf, size_t cap, const char *word, const char *const *cands,
                        size_t n);

/* --------------------------------------------------------------- nodes */

yaml_node_t *xb_cfg_node(xb_cfg_loader_t *ld, int idx);
bool xb_cfg_is_null(const yaml_node_t *v);
const char *xb_cfg_kind_name(const yaml_node_t *v); /* "a list", "a mapping", "a value" */
const char *xb_cfg_scalar(const yaml_node_t *v);
bool xb_cfg_scalar_clean(const yaml_node_t *v); /* no embedded NUL */
/* The value of key in mapping map, or NULL. */
yaml_node_t *xb_cfg_find_value(xb_cfg_loader_t *ld, yaml_node_t *map, const char *key);
/* True if v is a mapping; records a problem if it is something else than null. */
bool xb_cfg_want_mapping(xb_cfg_loader_t *ld, const yaml_node_t *v, const char *what);

/* Getters: 0 when *out is set, 1 for a null value, -1 after a problem. */
int xb_cfg_get_string(xb_cfg_loader_t *ld, const yaml_node_t *v, const char *key, const char *where,
                      const char **out);

/* ---------------------------------------------------------------- walk */

/* Walks mapping map against section s: refuses non-scalar, duplicate and
 * unknown keys (suggesting a close one), reads each known key into the
 * struct at base (ctx goes to CUSTOM parse functions). seen, if not NULL,
 * has s->n_keys entries and is filled. */
void xb_cfg_walk(xb_cfg_loader_t *ld, yaml_node_t *map, const xb_key_section_t *s,
                 const char *where, void *base, void *ctx, xb_cfg_seen_t *seen);

/* Parses the YAML text and walks its one document with
 * xb_cfg_walk_document (bus/config_sections.c); problems go to ld. */
void xb_cfg_parse(xb_cfg_loader_t *ld, const char *yaml, size_t len);

/* ------------------------------------------- bus/config_sections.c */

/* Walks the document's root into ld->cfg, then runs the cross-checks. */
void xb_cfg_walk_document(xb_cfg_loader_t *ld, yaml_node_t *root, xb_cfg_mark_t root_mark);
void xb_cfg_free_marks(xb_cfg_loader_t *ld);

/* CUSTOM parse functions of the key table. */
int xb_cfg_parse_organism_name(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                               yaml_node_t *v, const char *where, void *base, void *ctx);
int xb_cfg_parse_listener_name(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                               yaml_node_t *v, const char *where, void *base, void *ctx);
int xb_cfg_parse_payload(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                         yaml_node_t *v, const char *where, void *base, void *ctx);
int xb_cfg_parse_schema(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                        yaml_node_t *v, const char *where, void *base, void *ctx);
int xb_cfg_parse_command(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                         yaml_node_t *v, const char *where, void *base, void *ctx);
int xb_cfg_parse_peers(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                       const char *where, void *base, void *ctx);
/* A key file (char * at the key's offset): resolved against the config's
 * folder, must be readable. */
int xb_cfg_parse_key_file(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                          yaml_node_t *v, const char *where, void *base, void *ctx);
/* A list of key files (xb_key_files_t at the key's offset). */
int xb_cfg_parse_key_files(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                           yaml_node_t *v, const char *where, void *base, void *ctx);
/* File permissions as an octal string ("0600"; int at the key's offset). */
int xb_cfg_parse_mode(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                      const char *where, void *base, void *ctx);

/* A payload value (one tag or a list) appended to items/n with a mark per
 * tag. Returns 0, 1 for null, -1 after a problem. */
int xb_cfg_read_payloads(xb_cfg_loader_t *ld, yaml_node_t *v, const char *where, char ***items,
                         size_t *n, xb_cfg_mark_t **marks);
/* Appends s to a (char **, size_t) list with its mark; -1 on no memory. */
int xb_cfg_list_push(char ***items, size_t *n, xb_cfg_mark_t **marks, const char *s,
                     xb_cfg_mark_t m);

/* xb_cfg_list_push of the name s (found at node v) unless the list holds it
 * already by same(), which is the problem "<what> '<s>' listed twice in
 * <where>" (s cut at width characters). marks may be NULL. */
void xb_cfg_push_once(xb_cfg_loader_t *ld, char ***items, size_t *n, xb_cfg_mark_t **marks,
                      const char *s, const yaml_node_t *v, bool (*same)(const char *, const char *),
                      const char *what, int width, const char *where);

/* ----------------------------------------------- bus/config_memory.c */

/* Working-memory entry names (a char array of XB_ENTRY_MAX at the key's
 * offset), lists of them, root tags, and the section memory. */
int xb_cfg_parse_entry(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                       const char *where, void *base, void *ctx);
int xb_cfg_parse_listener_needs(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                                yaml_node_t *v, const char *where, void *base, void *ctx);
int xb_cfg_parse_element(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                         yaml_node_t *v, const char *where, void *base, void *ctx);
int xb_cfg_parse_memory_types(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                              yaml_node_t *v, const char *where, void *base, void *ctx);
/* A list of entry names appended to (*items, *n), each noted; duplicates and bad
 * names are problems. Returns 0, 1 for null, -1 after a problem. */
int xb_cfg_read_entries(xb_cfg_loader_t *ld, const char *key, yaml_node_t *v, const char *where,
                        char ***items, size_t *n);
/* Walks the section memory (v may be NULL or null). */
void xb_cfg_walk_memory(xb_cfg_loader_t *ld, yaml_node_t *k, yaml_node_t *v);

/* -------------------------------------------- bus/config_pipelines.c */

int xb_cfg_parse_pipeline_payload(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                                  yaml_node_t *v, const char *where, void *base, void *ctx);
int xb_cfg_parse_steps(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                       const char *where, void *base, void *ctx);
int xb_cfg_parse_step_target(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                             yaml_node_t *v, const char *where, void *base, void *ctx);
int xb_cfg_parse_parallel(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                          yaml_node_t *v, const char *where, void *base, void *ctx);
int xb_cfg_parse_batch(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k, yaml_node_t *v,
                       const char *where, void *base, void *ctx);
int xb_cfg_parse_step_needs(xb_cfg_loader_t *ld, const xb_cfg_key_t *key, yaml_node_t *k,
                            yaml_node_t *v, const char *where, void *base, void *ctx);
/* Walks the section pipelines (v may be NULL or null). */
void xb_cfg_load_pipelines(xb_cfg_loader_t *ld, yaml_node_t *v);
/* Frees what a config's pipelines and memory own. */
void xb_config_pipelines_free(xb_config_t *cfg);

/* -------------------------------------- bus/config_pipelines_check.c */

/* Pipeline names against each other and the listeners, steps against
 * the listeners and pipelines (unknown, cycles), entries (needs, results,
 * over, output) against what can have been produced before. */
void xb_cfg_check_pipelines(xb_cfg_loader_t *ld);

/* ---------------------------------------------- bus/config_check.c */

/* Cross-checks over all listeners: unique names, known peers, payloads
 * shared only by broadcast listeners. */
void xb_cfg_check_listeners(xb_cfg_loader_t *ld);
/* The section security against the rest: keys need a server_key, a tcp
 * endpoint beyond loopback needs CURVE or insecure: true. organism is the
 * section organism's node (for the endpoint's line), may be NULL. */
void xb_cfg_check_security(xb_cfg_loader_t *ld, yaml_node_t *organism);

#endif
