/* organism.yaml: the whole topology of one organism (docs/configuration.md).
 *
 * xb_config_load() reads and checks the file: unknown keys, wrong types,
 * bad names, duplicate names and broken references are errors with
 * file:line:column. Relative paths resolve against the config's folder.
 * The full key reference is docs/configuration.md. The structs are plain data:
 * read them freely, never free their members yourself. */
#ifndef XMLBUS_CONFIG_H
#define XMLBUS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/backend.h"
#include "xmlbus/error.h"
#include "xmlbus/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_NAME_MAX 64  /* listener, pipeline and organism names, NUL included */
#define XB_ENTRY_MAX 64 /* working-memory entry names, NUL included */
#define XB_DEFAULT_ENDPOINT "tcp://127.0.0.1:7400"
#define XB_IPC_MODE_DEFAULT 0600

typedef struct {
    char name[XB_NAME_MAX]; /* [A-Za-z][A-Za-z0-9_-]*, unique */
    char *description;      /* may be NULL */
    char **payloads;        /* accepted root tags: "greeting" or "{ns}local" */
    size_t n_payloads;
    char *schema;   /* absolute path of the XSD, NULL = no validation */
    char **command; /* argv, NULL-terminated; NULL = started elsewhere */
    size_t n_command;
    char **peers; /* allow-list of targets, only when has_peers */
    size_t n_peers;
    bool has_peers;
    bool broadcast;
    bool cpu_bound;
    int workers;            /* cpu_bound: pool size (default process_pool.workers) */
    double timeout_seconds; /* 0 = no timeout */
    int credit;             /* messages in flight per process (default 1) */
    char *key;              /* security: its key file (absolute; public, or secret for a
                               process the pump starts), NULL = none */
    char **needs;           /* working-memory entries it is given (docs/pipelines.md) */
    size_t n_needs;
    char result[XB_ENTRY_MAX]; /* entry its response is stored under, "" = none */
    int line;                  /* line of the listener's entry in the file */
} xb_listener_config_t;

typedef struct {
    size_t max_message_bytes;   /* whole envelope, default 1 MiB */
    int max_xml_depth;          /* element nesting, default 256 */
    int max_attributes;         /* per element, default 256 */
    int max_namespaces;         /* namespace declarations per message, default 256 */
    int max_depth;              /* hop depth, default 50 (docs/routing.md) */
    long max_slots_per_thread;  /* default 10000, 0 = unlimited */
    long max_threads;           /* default 100000, 0 = unlimited */
    size_t max_payload_bytes;   /* per recorded slot, default 1 MiB */
    long queue_max_messages;    /* pending messages per listener, default 10000 */
    size_t queue_max_bytes;     /* pending bytes per listener, default 64 MiB */
    double shutdown_seconds;    /* SIGTERM deadline, default 10 */
    long client_queue_messages; /* answers held per client that does not read, default 10000 */
    size_t client_queue_bytes;  /* their bytes, default 16 MiB */
    double
        client_timeout_seconds; /* a client that takes nothing that long loses them, default 60 */
    int max_redeliveries;       /* journal: deliveries again after a pump restart before the
                             message is a dead letter, default 3 */
} xb_limits_config_t;

typedef struct {
    int workers;              /* default: number of CPUs */
    long max_tasks_per_child; /* 0 = never recycle */
    double heartbeat;         /* seconds between heartbeats, default 1 */
    int liveness;             /* missed heartbeats before a peer is dead, default 3 */
    int max_retries;          /* re-deliveries after a worker death, default 2 */
} xb_pool_config_t;

/* Key files named in the section security (absolute paths). */
typedef struct {
    char **paths;
    size_t n;
} xb_key_files_t;

/* The section security (docs/security.md). */
typedef struct {
    char *server_key;       /* the organism's secret key file: the ROUTER is a CURVE
                              server; NULL = no CURVE */
    xb_key_files_t clients; /* public key files of role client */
    xb_key_files_t admins;  /* public key files of role admin */
    bool insecure;          /* a tcp bind beyond loopback without server_key is allowed */
    int ipc_mode;           /* permissions of an ipc endpoint's socket file, default 0600 */
    char ipc_group[64];     /* its group ("" = the pump's) */
    int line;               /* line of the section, 0 when absent */
} xb_security_config_t;

/* One typed entry of working memory (section memory, types[]). */
typedef struct {
    char name[XB_ENTRY_MAX]; /* entry name, unique among the types */
    char *element;           /* root tag an entry of that name must have ("{ns}local") */
    char *schema;            /* absolute path of its XSD, NULL = no validation */
    int line;
} xb_memory_type_t;

/* The section memory: a conversation's working memory (docs/pipelines.md).
 * types[] and their strings are owned by the config. */
typedef struct {
    bool keep;              /* keep it after the conversation ends (buffer retention) */
    long max_entries;       /* entries per conversation, default 256 */
    size_t max_entry_bytes; /* bytes per entry, default 1 MiB */
    xb_memory_type_t *types;
    size_t n_types;
    int line; /* line of the section, 0 when absent */
} xb_memory_config_t;

typedef enum {
    XB_STEP_LISTENER, /* one listener; its response becomes result */
    XB_STEP_PIPELINE, /* a nested pipeline; its output becomes result */
    XB_STEP_PARALLEL, /* steps[] run side by side; each branch has its own result */
    XB_STEP_BATCH,    /* steps[0] once per child element of the entry over */
} xb_step_kind_t;

/* One step of a pipeline. Branches of a parallel and the step of a batch
 * are children in steps[], owned by their parent; every string and array
 * below is owned by the config (xb_config_destroy frees them). */
typedef struct xb_step_config xb_step_config_t;
struct xb_step_config {
    xb_step_kind_t kind;
    char target[XB_NAME_MAX];  /* LISTENER, PIPELINE: whom it calls */
    char result[XB_ENTRY_MAX]; /* entry it produces ("" for PARALLEL, and for the step
                                  inside a batch); for LISTENER defaults to the
                                  listener's own result */
    char **needs;              /* LISTENER, PIPELINE: entries it is given besides its
                                  listener's needs */
    size_t n_needs;
    double timeout_seconds;  /* 0 = the listener's own / no limit */
    int max_concurrency;     /* PARALLEL, BATCH: at most that many at once, 0 = no limit */
    char over[XB_ENTRY_MAX]; /* BATCH: the entry whose child elements are the items */
    xb_step_config_t *steps; /* PARALLEL: the branches; BATCH: the one step */
    size_t n_steps;
    int line;
};

/* A named pipeline: addressed like a listener (by name or payload tag), runs
 * its steps in sequence over the conversation's working memory. Owned by
 * the config, like its payloads and steps. */
typedef struct {
    char name[XB_NAME_MAX]; /* shares the listener namespace */
    char **payloads;        /* root tags that start it, may be empty */
    size_t n_payloads;
    char input[XB_ENTRY_MAX];  /* entry the incoming payload is stored under */
    char output[XB_ENTRY_MAX]; /* entry the caller gets as the response */
    double timeout_seconds;    /* whole pipeline, 0 = no limit */
    xb_step_config_t *steps;
    size_t n_steps;
    int line;
} xb_pipeline_config_t;

typedef struct {
    char *path;             /* absolute path of organism.yaml */
    char *dir;              /* its folder */
    char name[XB_NAME_MAX]; /* organism.name */
    char endpoint[1024];    /* organism.endpoint */
    xb_limits_config_t limits;
    xb_backend_config_t backend;
    xb_pool_config_t pool;
    xb_security_config_t security;
    xb_listener_config_t *listeners;
    size_t n_listeners;
    xb_memory_config_t memory;
    xb_pipeline_config_t *pipelines;
    size_t n_pipelines;
} xb_config_t;

/* Loads and checks path. Returns the config (caller owns it; release with
 * xb_config_destroy) or NULL with err->code XB_ERR_CONFIG and a message
 * "FILE:LINE:COLUMN: what is wrong" (err->line, err->column set too). */
XB_EXPORT xb_config_t *xb_config_load(const char *path, xb_error_t *err);

/* Same, from a string; base_dir resolves relative paths, name is used in errors. */
XB_EXPORT xb_config_t *xb_config_load_string(const char *yaml, size_t len, const char *name,
                                             const char *base_dir, xb_error_t *err);

/* A config with every default and no listeners (for embedding and tests).
 * Caller owns it. */
XB_EXPORT xb_config_t *xb_config_new_default(const char *organism_name);

/* Adds a listener to a config built in code; the returned entry is owned by cfg
 * and is valid until the next add. Returns NULL on a bad or duplicate name. */
XB_EXPORT xb_listener_config_t *xb_config_add_listener(xb_config_t *cfg, const char *name,
                                                       const char *payload_tag, xb_error_t *err);

XB_EXPORT void xb_config_destroy(xb_config_t **cfg);

XB_EXPORT const xb_listener_config_t *xb_config_listener(const xb_config_t *cfg, const char *name);
/* The pipeline called name, or NULL; owned by cfg. */
XB_EXPORT const xb_pipeline_config_t *xb_config_pipeline(const xb_config_t *cfg, const char *name);
XB_EXPORT bool xb_config_valid_name(const char *name);
/* A working-memory entry name: [A-Za-z_][A-Za-z0-9_.-]*, at most 63 characters. */
XB_EXPORT bool xb_config_valid_entry_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
