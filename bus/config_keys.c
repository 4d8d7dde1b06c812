/* The key table of organism.yaml (bus/config_keys.h): every key once, with
 * its type, bounds, default and field; plus what reads the table without
 * YAML (defaults, bounds checks, the documented kind and default). */
#include "config_keys.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config_build.h"
#include "config_yaml.h"

/* ---------------------------------------------------------- row builders */

#define FIELD(T, f) .offset = offsetof(T, f), .size = sizeof(((T *)0)->f)
#define INT(T, f, lo, hi, d, text)                                                         \
    {                                                                                      \
        .name = #f, .type = XB_KEY_INT, FIELD(T, f), .min = (lo), .max = (hi), .def = (d), \
        .doc = (text)                                                                      \
    }
#define SIZE(T, f, lo, hi, d, text)                                                           \
    {                                                                                         \
        .name = #f, .type = XB_KEY_SIZE, FIELD(T, f), .zmin = (lo), .zmax = (hi), .def = (d), \
        .doc = (text)                                                                         \
    }
#define NUMBER(T, f, lo, open, d, text)                                                    \
    {                                                                                      \
        .name = #f, .type = XB_KEY_NUMBER, FIELD(T, f), .nmin = (lo), .nmin_open = (open), \
        .ndef = (d), .doc = (text)                                                         \
    }
#define BOOL(T, f, d, text)                                                     \
    {                                                                           \
        .name = #f, .type = XB_KEY_BOOL, FIELD(T, f), .def = (d), .doc = (text) \
    }
#define CUSTOM(T, key, f, fn, k, dtext, text)                                        \
    {                                                                                \
        .name = key, .type = XB_KEY_CUSTOM, FIELD(T, f), .parse = (fn), .kind = (k), \
        .def_text = (dtext), .doc = (text)                                           \
    }

/* --------------------------------------------------------------- checks */

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
            snprintf(why, cap, "endpoint '%.200s' must be tcp://HOST:PORT (PORT a number or *)",
                     ep);
            return -1;
        }
    }
    if (strlen(ep) >= sizeof(((xb_config_t *)0)->endpoint)) {
        snprintf(why, cap, "endpoint is too long");
        return -1;
    }
    return 0;
}

bool xb_endpoint_is_local(const char *ep)
{
    if (!ep || strncmp(ep, "tcp://", 6) != 0)
        return true;
    const char *host = ep + 6;
    const char *colon = strrchr(host, ':');
    size_t n = colon ? (size_t)(colon - host) : strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if ((n == 9 && strncmp(host, "localhost", 9) == 0) || (n == 3 && strncmp(host, "::1", 3) == 0))
        return true;
    /* 127.x.y.z written in full: four dot-separated numbers */
    if (n < 9 || n > 15 || strncmp(host, "127.", 4) != 0)
        return false;
    int dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (host[i] == '.')
            dots++;
        else if (host[i] < '0' || host[i] > '9')
            return false;
    }
    return dots == 3;
}

int xb_config_check_exposure(const xb_config_t *cfg, const char *endpoint, char *why, size_t cap)
{
    if (xb_endpoint_is_local(endpoint) || cfg->security.server_key || cfg->security.insecure)
        return 0;
    snprintf(why, cap,
             "endpoint '%.200s' can be reached from other machines, and without security anyone "
             "who reaches it can register as a listener, send as anyone and stop the pump: set "
             "'server_key' in section 'security' (docs/security.md), bind a loopback address "
             "(tcp://127.0.0.1:PORT) or an ipc:// path, or accept it with 'insecure: true' in "
             "section 'security'",
             endpoint);
    return -1;
}

int xb_config_server_public_key(const xb_config_t *cfg, char *out, size_t cap)
{
    static const char secret[] = ".key_secret", pub[] = ".key";
    const char *k = cfg->security.server_key;
    size_t n = k ? strlen(k) : 0, sl = sizeof secret - 1;
    if (n <= sl || strcmp(k + n - sl, secret) != 0)
        return -1;
    int w = snprintf(out, cap, "%.*s%s", (int)(n - sl), k, pub);
    return w < 0 || (size_t)w >= cap ? -1 : 0;
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

static bool check_endpoint(const char *s, char *why, size_t cap)
{
    return endpoint_problem(s, why, cap) == 0;
}

static bool check_redis_url(const char *s, char *why, size_t cap)
{
    if ((strncmp(s, "redis://", 8) == 0 && s[8]) || (strncmp(s, "unix://", 7) == 0 && s[7]))
        return true;
    snprintf(why, cap,
             "'redis_url' in section 'backend' must be "
             "redis://[:password@]host[:port][/db] or unix:///path, got '%.200s'",
             s);
    return false;
}

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > XB_CFG_WORKERS_MAX ? XB_CFG_WORKERS_MAX : (int)n;
}

/* ---------------------------------------------------------------- tables */

static const xb_cfg_key_t organism_keys[] = {
    CUSTOM(xb_config_t, "name", name, xb_cfg_parse_organism_name, "string", "— (required)",
           "the organism's name, in every root chain system.<name>.c-<token>"),
    {.name = "endpoint",
     .type = XB_KEY_STRING,
     FIELD(xb_config_t, endpoint),
     .sdef = XB_DEFAULT_ENDPOINT,
     .check = check_endpoint,
     .doc = "the ZeroMQ endpoint the pump's ROUTER binds (tcp://, ipc://, inproc://)"},
};

#define LIM xb_limits_config_t
static const xb_cfg_key_t limits_keys[] = {
    SIZE(LIM, max_message_bytes, 64, INT_MAX, 1u << 20, "largest envelope the pump accepts"),
    INT(LIM, max_xml_depth, 4, 100000, 256, "deepest element nesting of a message"),
    INT(LIM, max_attributes, 1, 1000000, 256, "attributes per element"),
    INT(LIM, max_namespaces, 1, 1000000, 256, "namespace declarations per message"),
    INT(LIM, max_depth, 1, 1000000, 50, "hop depth of a message from the one that entered the bus"),
    INT(LIM, max_slots_per_thread, 0, LONG_MAX, 10000,
        "slots per thread's context buffer, 0 = unlimited"),
    INT(LIM, max_threads, 0, LONG_MAX, 100000, "threads with a context buffer, 0 = unlimited"),
    SIZE(LIM, max_payload_bytes, 0, INT_MAX, 1u << 20, "largest slot recorded, 0 = unlimited"),
    INT(LIM, queue_max_messages, 1, LONG_MAX, 10000, "messages waiting per listener"),
    SIZE(LIM, queue_max_bytes, 1, SIZE_MAX, (long long)64 << 20, "bytes waiting per listener"),
    NUMBER(LIM, shutdown_seconds, 0, false, 10.0, "time in-flight work gets after SIGINT/SIGTERM"),
    INT(LIM, client_queue_messages, 1, LONG_MAX, 10000,
        "answers the pump holds for a client that does not read them"),
    SIZE(LIM, client_queue_bytes, 1024, SIZE_MAX, (long long)16 << 20, "their bytes"),
    NUMBER(LIM, client_timeout_seconds, 0, true, 60.0,
           "how long a client may take none of its held answers before they are dropped"),
    INT(LIM, max_redeliveries, 0, 1000, 3,
        "deliveries again after a pump restart before a message is a dead letter"),
};
#undef LIM

static const char *const backend_types[] = {"memory", "manager", "redis"};

#define BK xb_backend_config_t
static const xb_cfg_key_t backend_keys[] = {
    {.name = "type",
     .type = XB_KEY_ENUM,
     FIELD(BK, type),
     .names = backend_types,
     .n_names = 3,
     .noun = "backend type",
     .def = XB_BACKEND_MEMORY,
     .doc = "where context buffers and the registry live: memory, manager (LMDB) or redis"},
    {.name = "path",
     .type = XB_KEY_PATH,
     FIELD(BK, path),
     .only_for = "manager",
     .not_empty = true,
     .def_text = "`<config folder>/.xmlbus/<organism name>.lmdb`",
     .doc = "the LMDB environment folder, relative to the config's folder"},
    {.name = "map_size",
     .type = XB_KEY_SIZE,
     FIELD(BK, map_size),
     .zmax = SIZE_MAX,
     .only_for = "manager",
     .doc = "LMDB map size, 0 = 1 GiB"},
    {.name = "redis_url",
     .type = XB_KEY_STRING,
     FIELD(BK, redis_url),
     .only_for = "redis",
     .sdef = "redis://127.0.0.1:6379",
     .check = check_redis_url,
     .doc = "redis://[:password@]host[:port][/db] or unix:///path"},
    {.name = "redis_prefix",
     .type = XB_KEY_STRING,
     FIELD(BK, redis_prefix),
     .only_for = "redis",
     .sdef = "xp:",
     .doc = "prefix of every key, to share one Redis between organisms"},
    {.name = "redis_ttl",
     .type = XB_KEY_INT,
     FIELD(BK, redis_ttl),
     .max = LONG_MAX,
     .only_for = "redis",
     .def = 86400,
     .doc = "seconds a thread's keys live after a write, 0 = forever"},
    {.name = "max_bytes",
     .type = XB_KEY_SIZE,
     FIELD(BK, max_bytes),
     .zmax = SIZE_MAX,
     .def = (long long)1 << 30,
     .only_for = "memory",
     .doc = "bytes of slots the memory backend holds, 0 = unlimited"},
    BOOL(BK, journal, true,
         "journal accepted deliveries until answered, to deliver them again after a crash"),
};
#undef BK

#define POOL xb_pool_config_t
static const xb_cfg_key_t pool_keys[] = {
    {.name = "workers",
     .type = XB_KEY_INT,
     FIELD(POOL, workers),
     .min = 1,
     .max = XB_CFG_WORKERS_MAX,
     .def_fn = cpu_count,
     .def_text = "number of online CPUs",
     .doc = "pool size of a cpu_bound listener that sets none"},
    INT(POOL, max_tasks_per_child, 0, LONG_MAX, 0,
        "messages before a process is replaced, 0 = never"),
    NUMBER(POOL, heartbeat, 0, true, 1.0, "seconds between heartbeats"),
    INT(POOL, liveness, 1, 1000, 3, "heartbeats a peer may miss before it counts as dead"),
    INT(POOL, max_retries, 0, 1000, 2, "re-deliveries after a worker died"),
};
#undef POOL

#define SEC xb_security_config_t
static const xb_cfg_key_t security_keys[] = {
    CUSTOM(SEC, "server_key", server_key, xb_cfg_parse_key_file, "string", "none",
           "the organism's secret key file: tcp endpoints use CURVE with it"),
    CUSTOM(SEC, "clients", clients, xb_cfg_parse_key_files, "list of strings", "none",
           "public key files of role client"),
    CUSTOM(SEC, "admins", admins, xb_cfg_parse_key_files, "list of strings", "none",
           "public key files of role admin"),
    BOOL(SEC, insecure, false, "allow a tcp endpoint beyond loopback without server_key"),
    {.name = "ipc_mode",
     .type = XB_KEY_CUSTOM,
     FIELD(SEC, ipc_mode),
     .parse = xb_cfg_parse_mode,
     .kind = "octal string",
     .def_text = "`\"0600\"`",
     .doc = "permissions of an ipc endpoint's socket file"},
    {.name = "ipc_group",
     .type = XB_KEY_STRING,
     FIELD(SEC, ipc_group),
     .def_text = "the pump's",
     .doc = "group of an ipc endpoint's socket file"},
};
#undef SEC

#define LS xb_listener_config_t
static const xb_cfg_key_t listener_keys[] = {
    CUSTOM(LS, "name", name, xb_cfg_parse_listener_name, "string", "— (required)",
           "the listener's name, unique in the organism"),
    {.name = "description",
     .type = XB_KEY_TEXT,
     FIELD(LS, description),
     .def_text = "none",
     .doc = "free text"},
    CUSTOM(LS, "payload", payloads, xb_cfg_parse_payload, "string or list of strings",
           "— (required)", "the root tags the listener accepts"),
    CUSTOM(LS, "schema", schema, xb_cfg_parse_schema, "string", "none",
           "the XSD every delivered payload must satisfy, relative to the config's folder"),
    CUSTOM(LS, "command", command, xb_cfg_parse_command, "string or list of strings", "none",
           "argv the pump starts the listener with"),
    CUSTOM(LS, "peers", peers, xb_cfg_parse_peers, "list of names", "none",
           "allow-list of listeners this one may address"),
    BOOL(LS, broadcast, false, "may share its root tags with other broadcast listeners"),
    BOOL(LS, cpu_bound, false, "run as a pool of worker processes"),
    /* 0 until the walk ends: then process_pool.workers, or 1 without cpu_bound. */
    {.name = "workers",
     .type = XB_KEY_INT,
     FIELD(LS, workers),
     .min = 1,
     .max = XB_CFG_WORKERS_MAX,
     .def_text = "`process_pool.workers`",
     .doc = "pool size, only with cpu_bound: true"},
    NUMBER(LS, timeout_seconds, 0, false, 0.0,
           "longest a handler may take per message, 0 = no limit"),
    INT(LS, credit, 1, 1000000, 1, "messages the pump sends one process ahead"),
    CUSTOM(LS, "key", key, xb_cfg_parse_key_file, "string", "none",
           "its key file: the listener's identity under security"),
    CUSTOM(LS, "needs", needs, xb_cfg_parse_listener_needs, "list of entry names", "none",
           "working-memory entries it is given in a pipeline"),
    CUSTOM(LS, "result", result, xb_cfg_parse_entry, "entry name", "none",
           "working-memory entry its response is also stored under"),
};
#undef LS

#define MEM xb_memory_config_t
static const xb_cfg_key_t memory_keys[] = {
    BOOL(MEM, keep, false, "keep a conversation's memory after it ends (buffer retention)"),
    INT(MEM, max_entries, 1, 1000000, 256, "entries per conversation"),
    SIZE(MEM, max_entry_bytes, 1, INT_MAX, 1u << 20, "bytes per entry"),
    CUSTOM(MEM, "types", types, xb_cfg_parse_memory_types, "list of mappings", "none",
           "typed entries: the root element (and schema) an entry of a name must have"),
};
#undef MEM

#define MT xb_memory_type_t
static const xb_cfg_key_t memory_type_keys[] = {
    CUSTOM(MT, "name", name, xb_cfg_parse_entry, "entry name", "— (required)",
           "the entry name, typed once"),
    CUSTOM(MT, "element", element, xb_cfg_parse_element, "string", "— (required)",
           "the root tag the entry must have"),
    CUSTOM(MT, "schema", schema, xb_cfg_parse_schema, "string", "none",
           "the XSD the entry must satisfy, relative to the config's folder"),
};
#undef MT

#define PL xb_pipeline_config_t
static const xb_cfg_key_t pipeline_keys[] = {
    CUSTOM(PL, "name", name, xb_cfg_parse_listener_name, "string", "— (required)",
           "the pipeline's name, unique among listeners and pipelines"),
    CUSTOM(PL, "payload", payloads, xb_cfg_parse_pipeline_payload, "string or list of strings",
           "none", "the root tags that start it"),
    {.name = "input",
     .type = XB_KEY_CUSTOM,
     FIELD(PL, input),
     .parse = xb_cfg_parse_entry,
     .kind = "entry name",
     .def_text = "`input`",
     .doc = "the entry the incoming payload is stored under"},
    CUSTOM(PL, "output", output, xb_cfg_parse_entry, "entry name", "— (required)",
           "the entry the caller gets as the response"),
    NUMBER(PL, timeout_seconds, 0, false, 0.0, "longest the whole pipeline may take, 0 = no limit"),
    CUSTOM(PL, "steps", steps, xb_cfg_parse_steps, "list of steps", "— (required)",
           "what it runs, in order"),
};
#undef PL

#define ST xb_step_config_t
static const xb_cfg_key_t step_keys[] = {
    CUSTOM(ST, "listener", target, xb_cfg_parse_step_target, "name", "—",
           "a listener step: the listener it calls"),
    CUSTOM(ST, "pipeline", target, xb_cfg_parse_step_target, "name", "—",
           "a pipeline step: the pipeline it runs"),
    CUSTOM(ST, "parallel", steps, xb_cfg_parse_parallel, "list of steps", "—",
           "a parallel step: its branches"),
    CUSTOM(ST, "batch", steps, xb_cfg_parse_batch, "step", "—",
           "a batch step: the step run once per item"),
    CUSTOM(ST, "over", over, xb_cfg_parse_entry, "entry name", "— (required by batch)",
           "batch: the entry whose child elements are the items"),
    CUSTOM(ST, "result", result, xb_cfg_parse_entry, "entry name", "the listener's `result`",
           "the entry the step produces"),
    CUSTOM(ST, "needs", needs, xb_cfg_parse_step_needs, "list of entry names", "none",
           "entries the step is given besides its listener's needs"),
    {.name = "max_concurrency",
     .type = XB_KEY_INT,
     FIELD(ST, max_concurrency),
     .min = 1,
     .max = 1000000,
     .def_text = "no limit",
     .doc = "parallel, batch: most branches or items running at once"},
    NUMBER(ST, timeout_seconds, 0, false, 0.0, "longest the step may take, 0 = no own limit"),
};
#undef ST

#define N(a) (sizeof a / sizeof a[0])
static const xb_key_section_t sections[XB_SECTION_COUNT] = {
    [XB_SECTION_ORGANISM] = {"organism", "section 'organism'", organism_keys, N(organism_keys)},
    [XB_SECTION_LIMITS] = {"limits", "section 'limits'", limits_keys, N(limits_keys)},
    [XB_SECTION_BACKEND] = {"backend", "section 'backend'", backend_keys, N(backend_keys)},
    [XB_SECTION_POOL] = {"process_pool", "section 'process_pool'", pool_keys, N(pool_keys)},
    [XB_SECTION_SECURITY] = {"security", "section 'security'", security_keys, N(security_keys)},
    [XB_SECTION_LISTENER] = {"listeners", NULL, listener_keys, N(listener_keys)},
    [XB_SECTION_MEMORY] = {"memory", "section 'memory'", memory_keys, N(memory_keys)},
    [XB_SECTION_PIPELINE] = {"pipelines", NULL, pipeline_keys, N(pipeline_keys)},
    [XB_SECTION_MEMORY_TYPE] = {"memory.types", NULL, memory_type_keys, N(memory_type_keys)},
    [XB_SECTION_STEP] = {"pipelines.steps", NULL, step_keys, N(step_keys)},
};

const xb_key_section_t *xb_config_key_sections(void)
{
    return sections;
}

const xb_cfg_key_t *xb_config_key_find(const xb_key_section_t *s, const char *key)
{
    for (size_t i = 0; s && key && i < s->n_keys; i++)
        if (strcmp(s->keys[i].name, key) == 0)
            return &s->keys[i];
    return NULL;
}

/* ---------------------------------------------------------- field access */

static long long int_field(const xb_cfg_key_t *k, const void *base)
{
    const char *f = (const char *)base + k->offset;
    if (k->size == sizeof(int)) {
        int v;
        memcpy(&v, f, sizeof v);
        return v;
    }
    long v;
    memcpy(&v, f, sizeof v);
    return v;
}

void xb_config_key_store_int(const xb_cfg_key_t *k, void *base, long long n)
{
    char *f = (char *)base + k->offset;
    if (k->size == sizeof(int)) {
        int v = (int)n;
        memcpy(f, &v, sizeof v);
    } else {
        long v = (long)n;
        memcpy(f, &v, sizeof v);
    }
}

void xb_config_keys_defaults(const xb_key_section_t *s, void *base)
{
    for (size_t i = 0; i < s->n_keys; i++) {
        const xb_cfg_key_t *k = &s->keys[i];
        char *f = (char *)base + k->offset;
        switch (k->type) {
        case XB_KEY_INT:
        case XB_KEY_ENUM:
            xb_config_key_store_int(k, base, k->def_fn ? k->def_fn() : k->def);
            break;
        case XB_KEY_SIZE: {
            size_t z = (size_t)k->def;
            memcpy(f, &z, sizeof z);
            break;
        }
        case XB_KEY_NUMBER:
            memcpy(f, &k->ndef, sizeof k->ndef);
            break;
        case XB_KEY_BOOL: {
            bool b = k->def != 0;
            memcpy(f, &b, sizeof b);
            break;
        }
        case XB_KEY_STRING:
        case XB_KEY_PATH:
            snprintf(f, k->size, "%s", k->sdef ? k->sdef : "");
            break;
        case XB_KEY_TEXT:
        case XB_KEY_CUSTOM:
            break;
        }
    }
}

const xb_cfg_key_t *xb_config_keys_check_bounds(const xb_key_section_t *s, const void *base,
                                                char *why, size_t cap)
{
    for (size_t i = 0; i < s->n_keys; i++) {
        const xb_cfg_key_t *k = &s->keys[i];
        const char *f = (const char *)base + k->offset;
        if (k->type == XB_KEY_INT || k->type == XB_KEY_ENUM) {
            long long n = int_field(k, base);
            long long hi = k->type == XB_KEY_ENUM ? (long long)k->n_names - 1 : k->max;
            if (n >= k->min && n <= hi)
                continue;
            snprintf(why, cap, "'%s' must be from %lld to %lld, got %lld", k->name, k->min, hi, n);
            return k;
        }
        if (k->type == XB_KEY_SIZE) {
            size_t z;
            memcpy(&z, f, sizeof z);
            if (z >= k->zmin && z <= k->zmax)
                continue;
            snprintf(why, cap, "'%s' must be from %llu to %llu bytes, got %zu", k->name, k->zmin,
                     k->zmax, z);
            return k;
        }
        if (k->type == XB_KEY_NUMBER) {
            double d;
            memcpy(&d, f, sizeof d);
            if (d > k->nmin || (!k->nmin_open && d == k->nmin))
                continue;
            snprintf(why, cap, "'%s' must be %s %g, got %g", k->name,
                     k->nmin_open ? "greater than" : "at least", k->nmin, d);
            return k;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ docs */

const char *xb_config_key_kind(const xb_cfg_key_t *k)
{
    switch (k->type) {
    case XB_KEY_INT:
        return "integer";
    case XB_KEY_SIZE:
        return "size";
    case XB_KEY_NUMBER:
        return "number";
    case XB_KEY_BOOL:
        return "boolean";
    case XB_KEY_CUSTOM:
        return k->kind ? k->kind : "string";
    default:
        return "string";
    }
}

/* Bytes the way the docs write them: "`1MiB`", "`64MiB`", "3000". */
static const char *size_text(unsigned long long z, char *buf, size_t cap)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    int u = -1;
    while (z && u < 3 && z % 1024 == 0) {
        z /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, cap, "%llu", z);
    else
        snprintf(buf, cap, "`%llu%s`", z, units[u]);
    return buf;
}

const char *xb_config_key_default_text(const xb_cfg_key_t *k, char *buf, size_t cap)
{
    if (k->def_text)
        return k->def_text;
    switch (k->type) {
    case XB_KEY_INT:
        snprintf(buf, cap, "%lld", k->def);
        break;
    case XB_KEY_SIZE:
        return size_text((unsigned long long)k->def, buf, cap);
    case XB_KEY_NUMBER:
        snprintf(buf, cap, "%g", k->ndef);
        break;
    case XB_KEY_BOOL:
        snprintf(buf, cap, "`%s`", k->def ? "true" : "false");
        break;
    case XB_KEY_ENUM:
        snprintf(buf, cap, "`%s`", k->names[k->def]);
        break;
    default:
        snprintf(buf, cap, "`%s`", k->sdef ? k->sdef : "");
        break;
    }
    return buf;
}
