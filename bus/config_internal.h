/* Pieces shared by the organism.yaml loader (bus/config.c) and the config
 * builder (bus/config_build.c) that are not part of the public API. */
#ifndef XMLBUS_CONFIG_INTERNAL_H
#define XMLBUS_CONFIG_INTERNAL_H

/* The absolute path (symlinks resolved) of path when it names a readable
 * regular file: a schema file must be one. Returns it (caller frees), or
 * NULL with *why set to what is wrong with the file (a strerror text or
 * "not a regular file"), or NULL with *why NULL on no memory. */
char *xb_config_readable_file(const char *path, const char **why);

#endif
