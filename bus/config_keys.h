/* The keys of organism.yaml, each described once (docs/configuration.md).
 *
 * One table per section (organism, limits, backend, process_pool, security,
 * memory, and one entry of listeners[], memory.types[], pipelines[] and of
 * a pipeline's steps[]). A row gives the key's name, its type, bounds, default,
 * where it is stored (offsetof into the section's struct) and a one-line
 * description. The loader (bus/config_yaml.c) parses and range-checks with
 * it, suggests close names for unknown keys from it; xb_config_new_default
 * takes its defaults from it; xb_config_validate checks the bounds of a
 * config built in code with it; tests/test_config.c checks the key reference
 * in docs/configuration.md against it. Keys with special semantics (a
 * command that is a string or a list, payload tags, schema files) keep a
 * parse function of their own, referenced from their row. */
#ifndef XMLBUS_CONFIG_KEYS_H
#define XMLBUS_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/config.h"

#define XB_CFG_WORKERS_MAX 1024
#define XB_CFG_SECTION_KEYS_MAX 32 /* keys per section, for the loader's bookkeeping */

typedef enum {
    XB_KEY_INT,    /* integer into an int or a long (by the field's size) */
    XB_KEY_SIZE,   /* bytes, with an optional unit (KB, MiB...), into a size_t */
    XB_KEY_NUMBER, /* decimal number into a double */
    XB_KEY_BOOL,   /* true/false, yes/no, on/off into a bool */
    XB_KEY_STRING, /* into a char array; the array's size bounds the length */
    XB_KEY_TEXT,   /* into a malloc'd char * */
    XB_KEY_PATH,   /* a string resolved against the config's folder, into a char array */
    XB_KEY_ENUM,   /* one of names[]; its index into an int-sized enum field */
    XB_KEY_CUSTOM, /* the row's parse function reads it */
} xb_key_type_t;

typedef struct xb_cfg_key xb_cfg_key_t;
struct xb_cfg_loader; /* bus/config_yaml.h */
struct yaml_node_s;   /* yaml.h's yaml_node_t */

/* Reads value v of key k (a YAML node each) into the section struct at base.
 * where names the section in messages ("listener 'a'"), ctx is what the
 * section's walker passed. Returns 0 when it set the field, 1 for a null
 * value (default kept), -1 after recording a problem. */
typedef int (*xb_key_parse_fn)(struct xb_cfg_loader *ld, const xb_cfg_key_t *key,
                               struct yaml_node_s *k, struct yaml_node_s *v, const char *where,
                               void *base, void *ctx);

/* Checks a string value; returns false with the whole message in why. */
typedef bool (*xb_key_check_fn)(const char *s, char *why, size_t cap);

struct xb_cfg_key {
    const char *name;
    xb_key_type_t type;
    size_t offset;                 /* of the field in the section's struct */
    size_t size;                   /* of that field */
    long long min, max;            /* INT bounds */
    unsigned long long zmin, zmax; /* SIZE bounds */
    double nmin;                   /* NUMBER lower bound... */
    bool nmin_open;                /* ...excluded (heartbeat > 0) */
    long long def;                 /* INT, SIZE, BOOL, ENUM default */
    double ndef;                   /* NUMBER default */
    const char *sdef;              /* STRING default (NULL = "") */
    int (*def_fn)(void);           /* INT default computed at run time (CPU count) */
    const char *def_text;          /* documented default when it is not a plain value */
    const char *kind;              /* documented kind of a CUSTOM key */
    const char *const *names;      /* ENUM values... */
    size_t n_names;
    const char *noun;      /* ...and what they are ("backend type") */
    const char *only_for;  /* backend type this key applies to (NULL = any) */
    bool not_empty;        /* STRING, PATH: "" is refused */
    xb_key_check_fn check; /* STRING: extra check of the value */
    xb_key_parse_fn parse; /* CUSTOM */
    const char *doc;       /* one line */
};

typedef struct {
    const char *name;  /* "limits"; the listeners[] entry is "listeners", nested
                          entries "memory.types", "pipelines.steps" */
    const char *where; /* "section 'limits'" (NULL for listeners: named per entry) */
    const xb_cfg_key_t *keys;
    size_t n_keys;
} xb_key_section_t;

/* The top-level sections come first (each is a key of the file's root);
 * the entries nested inside one (memory.types[], pipelines[].steps[])
 * follow XB_SECTION_TOP_COUNT. */
enum {
    XB_SECTION_ORGANISM,
    XB_SECTION_LIMITS,
    XB_SECTION_BACKEND,
    XB_SECTION_POOL,
    XB_SECTION_SECURITY,
    XB_SECTION_LISTENER,
    XB_SECTION_MEMORY,
    XB_SECTION_PIPELINE,
    XB_SECTION_TOP_COUNT,
    XB_SECTION_MEMORY_TYPE = XB_SECTION_TOP_COUNT,
    XB_SECTION_STEP,
    XB_SECTION_COUNT
};

/* The sections, in the order of the enum above (and of the file). */
const xb_key_section_t *xb_config_key_sections(void);

/* The row of key in section s, or NULL. */
const xb_cfg_key_t *xb_config_key_find(const xb_key_section_t *s, const char *key);

/* The kind of a key as docs/configuration.md writes it ("integer", "size"). */
const char *xb_config_key_kind(const xb_cfg_key_t *key);

/* The default of a key as docs/configuration.md writes it ("256", "`1MiB`",
 * "`false`"), into buf. */
const char *xb_config_key_default_text(const xb_cfg_key_t *key, char *buf, size_t cap);

/* Stores n into the INT or ENUM field of key in the struct at base. */
void xb_config_key_store_int(const xb_cfg_key_t *key, void *base, long long n);

/* Sets every field of section s in the struct at base to its default
 * (CUSTOM fields and TEXT fields are left alone). */
void xb_config_keys_defaults(const xb_key_section_t *s, void *base);

/* Checks every INT, SIZE, NUMBER and ENUM field of the struct at base
 * against the bounds of section s. Returns NULL, or the first key out of
 * range with why set ("'credit' must be from 1 to 1000000, got 0"). */
const xb_cfg_key_t *xb_config_keys_check_bounds(const xb_key_section_t *s, const void *base,
                                                char *why, size_t cap);

#endif
