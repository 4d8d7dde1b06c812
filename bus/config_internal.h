/* Pieces shared by the organism.yaml loader (bus/config.c, config_yaml.c,
 * config_sections.c, config_check.c) and the config builder
 * (bus/config_build.c) that are not part of the public API. */
#ifndef XMLBUS_CONFIG_INTERNAL_H
#define XMLBUS_CONFIG_INTERNAL_H

#include <stdbool.h>

#include "xmlbus/config.h"

/* The absolute path (symlinks resolved) of path when it names a readable
 * regular file: a schema file must be one. Returns it (caller frees), or
 * NULL with *why set to what is wrong with the file (a strerror text or
 * "not a regular file"), or NULL with *why NULL on no memory. */
char *xb_config_readable_file(const char *path, const char **why);

/* rel resolved against dir: rel itself when absolute or dir is empty.
 * Returns a new string (caller frees) or NULL on no memory. */
char *xb_config_path_join(const char *dir, const char *rel);

/* Same root tag? "{}x" and "x" are the same. */
bool xb_config_tag_equal(const char *a, const char *b);

/* A config with every default (from the key table) and no listeners; dir
 * must be absolute and becomes owned by the result (freed on failure). */
xb_config_t *xb_config_alloc(const char *name, char *dir);

/* Fills the default backend path "<dir>/.xmlbus/<organism>.lmdb".
 * Returns -1 when it does not fit. */
int xb_config_default_backend_path(xb_config_t *cfg);

/* Sets every listener key to its default (the key table) and clears the rest. */
void xb_config_listener_defaults(xb_listener_config_t *l);

#endif
