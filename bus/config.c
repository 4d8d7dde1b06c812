/* organism.yaml loader (include/xmlbus/config.h, docs/configuration.md):
 * the config object, its defaults (from the key table, bus/config_keys.c),
 * loading from a file or a string, and xb_config_check_all.
 *
 * The walk itself lives in bus/config_yaml.c (YAML values with positions)
 * and bus/config_sections.c (the sections and their special keys); the
 * checks across keys in bus/config_check.c. */
#include "xmlbus/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_build.h"
#include "config_internal.h"
#include "config_keys.h"
#include "config_yaml.h"
#include "schema.h"

#define CFG_FILE_MAX (16u << 20) /* larger than any sane organism.yaml */

/* ---------------------------------------------------------------- helpers */

char *xb_config_path_join(const char *dir, const char *rel)
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
    return base ? xb_config_path_join(cwd, base) : strdup(cwd);
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

/* Tag "{ns}local" or "local"; "{}local" is "local". */
static const char *tag_local(const char *tag)
{
    if (tag[0] != '{')
        return tag;
    const char *close = strchr(tag, '}');
    return close ? close + 1 : tag;
}

bool xb_config_tag_equal(const char *a, const char *b)
{
    const char *la = tag_local(a), *lb = tag_local(b);
    if (strcmp(la, lb) != 0)
        return false;
    size_t na = a[0] == '{' ? (size_t)(la - a) - 2 : 0;
    size_t nb = b[0] == '{' ? (size_t)(lb - b) - 2 : 0;
    return na == nb && (na == 0 || memcmp(a + 1, b + 1, na) == 0);
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
    free(l->key);
    for (size_t i = 0; i < l->n_needs; i++)
        free(l->needs[i]);
    free(l->needs);
    memset(l, 0, sizeof *l);
}

static void key_files_free(xb_key_files_t *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->paths[i]);
    free(k->paths);
    k->paths = NULL;
    k->n = 0;
}

void xb_config_destroy(xb_config_t **cfgp)
{
    if (!cfgp || !*cfgp)
        return;
    xb_config_t *cfg = *cfgp;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        listener_free(&cfg->listeners[i]);
    free(cfg->listeners);
    xb_config_pipelines_free(cfg);
    free(cfg->security.server_key);
    key_files_free(&cfg->security.clients);
    key_files_free(&cfg->security.admins);
    free(cfg->path);
    free(cfg->dir);
    free(cfg);
    *cfgp = NULL;
}

void xb_config_sync_backend_limits(xb_config_t *cfg)
{
    if (!cfg)
        return;
    cfg->backend.max_slots_per_thread = cfg->limits.max_slots_per_thread;
    cfg->backend.max_threads = cfg->limits.max_threads;
    cfg->backend.max_slot_bytes = cfg->limits.max_payload_bytes;
    cfg->backend.max_wmem_entries = cfg->memory.max_entries;
    cfg->backend.max_wmem_entry_bytes = cfg->memory.max_entry_bytes;
}

int xb_config_default_backend_path(xb_config_t *cfg)
{
    int n = snprintf(cfg->backend.path, sizeof cfg->backend.path, "%s/.xmlbus/%s.lmdb",
                     cfg->dir ? cfg->dir : ".", cfg->name);
    return (n < 0 || (size_t)n >= sizeof cfg->backend.path) ? -1 : 0;
}

xb_config_t *xb_config_alloc(const char *name, char *dir)
{
    xb_config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        free(dir);
        return NULL;
    }
    cfg->dir = dir;
    const xb_key_section_t *s = xb_config_key_sections();
    xb_config_keys_defaults(&s[XB_SECTION_ORGANISM], cfg);
    xb_config_keys_defaults(&s[XB_SECTION_LIMITS], &cfg->limits);
    xb_config_keys_defaults(&s[XB_SECTION_BACKEND], &cfg->backend);
    xb_config_keys_defaults(&s[XB_SECTION_POOL], &cfg->pool);
    xb_config_keys_defaults(&s[XB_SECTION_SECURITY], &cfg->security);
    xb_config_keys_defaults(&s[XB_SECTION_MEMORY], &cfg->memory);
    cfg->security.ipc_mode = XB_IPC_MODE_DEFAULT;
    if (name)
        snprintf(cfg->name, sizeof cfg->name, "%s", name);
    xb_config_sync_backend_limits(cfg);
    return cfg;
}

xb_config_t *xb_config_new_default(const char *organism_name)
{
    char *dir = absolute_dir(NULL);
    if (!dir)
        return NULL;
    xb_config_t *cfg = xb_config_alloc(organism_name ? organism_name : "organism", dir);
    if (!cfg)
        return NULL;
    xb_config_default_backend_path(cfg);
    return cfg;
}

void xb_config_listener_defaults(xb_listener_config_t *l)
{
    memset(l, 0, sizeof *l);
    xb_config_keys_defaults(&xb_config_key_sections()[XB_SECTION_LISTENER], l);
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
                     "(at most %d characters)",
                     name, XB_NAME_MAX - 1);
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
    if (payload_tag && (!xb_payload_tag_valid(payload_tag) ||
                        xb_config_tag_equal(payload_tag, XB_SYSTEM_ERROR_TAG))) {
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
    xb_config_listener_defaults(l);
    l->workers = 1; /* not a pool until xb_config_listener_set_cpu_bound */
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

/* --------------------------------------------------------------- loading */

/* Parses yaml into ld->cfg (always allocated unless out of memory), recording
 * problems. dir is an absolute folder (owned by the config). */
static void load_into(xb_cfg_loader_t *ld, const char *yaml, size_t len, char *dir)
{
    ld->cfg = xb_config_alloc(NULL, dir);
    if (!ld->cfg) {
        ld->nomem = true;
        return;
    }
    xb_cfg_parse(ld, yaml, len);
    xb_cfg_free_marks(ld);
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

/* Reads and walks the file at path into ld. Returns 0, or -1 with why set
 * when the file cannot be read. */
static int load_file(xb_cfg_loader_t *ld, const char *path, char *why, size_t cap)
{
    size_t len = 0;
    char *text = read_file(path, &len, why, cap);
    if (!text)
        return -1;
    char *dir = file_dir(path);
    if (dir)
        load_into(ld, text, len, dir);
    else
        ld->nomem = true;
    free(text);
    return 0;
}

static xb_config_t *finish_load(xb_cfg_loader_t *ld, xb_error_t *err)
{
    if (ld->n_probs || ld->nomem) {
        xb_cfg_first_problem(ld, err);
        xb_cfg_problems_free(ld);
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
    xb_cfg_loader_t ld = {.file = name ? name : "<string>"};
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
    xb_cfg_loader_t ld = {.file = path};
    if (load_file(&ld, path, why, sizeof why) < 0) {
        xb_error_set(err, XB_ERR_CONFIG, 0, "%s: %s", path, why);
        return NULL;
    }
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

static void count_report(reporter_t *r, const char *msg)
{
    r->count++;
    if (r->report)
        r->report(msg, r->user);
}

/* Reports the loader's problems in line order, then overflow and no memory. */
static void report_problems(xb_cfg_loader_t *ld, reporter_t *rep, const char *path)
{
    char line[600];
    xb_cfg_problems_sort(ld);
    for (size_t i = 0; i < ld->n_probs; i++)
        count_report(rep, ld->probs[i].msg);
    if (ld->overflow) {
        snprintf(line, sizeof line, "%s: too many problems, stopped after %d", path,
                 XB_CFG_PROBLEMS_MAX);
        count_report(rep, line);
    }
    if (ld->nomem) {
        snprintf(line, sizeof line, "%s: out of memory while checking", path);
        count_report(rep, line);
    }
    xb_cfg_problems_free(ld);
}

size_t xb_config_check_all(const char *path, xb_config_report_fn report, void *user,
                           xb_config_check_summary_t *summary)
{
    reporter_t rep = {report, user, 0};
    if (summary)
        memset(summary, 0, sizeof *summary);
    char why[256], line[600];
    xb_cfg_loader_t ld = {.file = path};
    if (!path || load_file(&ld, path, why, sizeof why) < 0) {
        snprintf(line, sizeof line, "%s: %s", path ? path : "(null)", path ? why : "no file");
        count_report(&rep, line);
        if (summary)
            summary->problems = rep.count;
        return rep.count;
    }
    report_problems(&ld, &rep, path);
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
