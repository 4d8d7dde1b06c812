/* Building and checking an organism config in code (companion of config.h).
 *
 * xb_config_new_default() + xb_config_add_listener() give an empty organism;
 * the setters below fill a listener the way organism.yaml would. Every string
 * is copied: the config owns its copies and xb_config_destroy frees them.
 * xb_config_validate() then runs the same cross-checks the loader runs
 * (names, peers, payload conflicts, schema files).
 *
 * xb_config_check_all() is the engine of `xmlbus check`: it reports every
 * problem it can find instead of stopping at the first one. */
#ifndef XMLBUS_CONFIG_BUILD_H
#define XMLBUS_CONFIG_BUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/config.h"
#include "xmlbus/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Receives one problem, a complete line without the newline, e.g.
 * "organism.yaml:12:5: unknown key 'pyaload' in listener 'greeter' (did you mean 'payload'?)".
 * msg is only valid during the call. */
typedef void (*xb_config_report_fn)(const char *msg, void *user);

typedef struct {
    char organism[XB_NAME_MAX]; /* organism.name ("" when it could not be read) */
    size_t listeners;           /* entries under 'listeners' */
    size_t schemas;             /* distinct XSD files compiled without error */
    size_t problems;            /* problems reported (same as the return value) */
} xb_config_check_summary_t;

/* Loads path, checks every key, every cross-reference and compiles every
 * schema, calling report once per problem: config problems first, sorted by
 * line and column, then schema problems ("FILE:LINE: message"). Keeps going
 * after a problem wherever that makes sense. Returns the number of problems
 * (0 = the organism is fine). summary (optional) is filled in either case. */
size_t xb_config_check_all(const char *path, xb_config_report_fn report, void *user,
                           xb_config_check_summary_t *summary);

/* Runs the loader's cross-checks on a config built in code: organism name,
 * listener names (syntax, reserved, unique), at least one payload per
 * listener, every peer a listener, no payload shared by listeners that are
 * not all broadcast, schema files exist, and every number within the range
 * of its key in the key table (bus/config_keys.h).
 * Returns 0, or -1 with err (XB_ERR_CONFIG) naming the first problem. */
int xb_config_validate(const xb_config_t *cfg, xb_error_t *err);

/* Copies limits.max_slots_per_thread / max_threads / max_payload_bytes into
 * backend.max_slots_per_thread / max_threads / max_slot_bytes, and
 * memory.max_entries / max_entry_bytes into backend.max_wmem_entries /
 * max_wmem_entry_bytes. The loader and xb_config_new_default do it; call it
 * again after changing cfg->limits or cfg->memory. */
void xb_config_sync_backend_limits(xb_config_t *cfg);

/* Sets organism.endpoint after checking its scheme (tcp://, ipc://, inproc://). */
int xb_config_set_endpoint(xb_config_t *cfg, const char *endpoint, xb_error_t *err);
/* True when endpoint can only be reached from this machine: ipc, inproc, or
 * tcp on a loopback address (127.0.0.0/8, ::1, localhost). */
bool xb_endpoint_is_local(const char *endpoint);
/* Whether cfg may bind endpoint: a tcp endpoint beyond loopback needs
 * security.server_key (CURVE) or security.insecure: true. 0, or -1 with why
 * (what is wrong and how to fix it). */
int xb_config_check_exposure(const xb_config_t *cfg, const char *endpoint, char *why, size_t cap);
/* The public key file of security.server_key: NAME.key beside its
 * NAME.key_secret (xmlbus keygen writes both). 0, or -1 when server_key is
 * unset, not named NAME.key_secret, or out does not hold the path. */
int xb_config_server_public_key(const xb_config_t *cfg, char *out, size_t cap);
/* Returns 0 if endpoint is one the loader accepts, -1 with err otherwise. */
int xb_config_check_endpoint(const char *endpoint, xb_error_t *err);

/* Replaces cfg->dir, the folder relative schema paths resolve against
 * (xb_config_new_default uses the current directory). */
int xb_config_set_dir(xb_config_t *cfg, const char *dir, xb_error_t *err);

/* Listener setters. l must be an entry of cfg (from xb_config_add_listener);
 * each returns 0, or -1 with err set (XB_ERR_CONFIG for bad values,
 * XB_ERR_NOMEM). */
int xb_config_listener_set_description(xb_listener_config_t *l, const char *text, xb_error_t *err);
/* Adds an accepted root tag: "greeting" or "{urn:ns}local". Duplicates and
 * "SystemError" (accepted implicitly by everyone) are refused. */
int xb_config_listener_add_payload(xb_listener_config_t *l, const char *tag, xb_error_t *err);
/* Sets the XSD; a relative path resolves against cfg->dir. The file must
 * exist. NULL clears it (no validation). */
int xb_config_listener_set_schema(const xb_config_t *cfg, xb_listener_config_t *l, const char *path,
                                  xb_error_t *err);
/* Sets the command from a NULL-terminated argv (copied). NULL clears it
 * (the listener is started elsewhere). */
int xb_config_listener_set_command(xb_listener_config_t *l, const char *const *argv,
                                   xb_error_t *err);
/* Sets the command from one string split like organism.yaml does. */
int xb_config_listener_set_command_line(xb_listener_config_t *l, const char *line, xb_error_t *err);
/* Adds a name to the peer allow-list (and sets has_peers). */
int xb_config_listener_add_peer(xb_listener_config_t *l, const char *name, xb_error_t *err);
/* Makes l a cpu_bound pool of workers processes (0 = cfg->pool.workers). */
int xb_config_listener_set_cpu_bound(const xb_config_t *cfg, xb_listener_config_t *l, int workers,
                                     xb_error_t *err);

/* Splits a command string on blanks; "double quotes" group words and inside
 * them \" and \\ escape. On success *argv is a NULL-terminated array the caller
 * owns (free with xb_command_free) and *argc its length (>= 1). */
int xb_command_split(const char *line, char ***argv, size_t *argc, xb_error_t *err);
void xb_command_free(char ***argv);

/* True if tag is "local" or "{namespace}local" with local an XML NCName. */
bool xb_payload_tag_valid(const char *tag);

#ifdef __cplusplus
}
#endif
#endif
