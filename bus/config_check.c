/* Checks across keys (bus/config_yaml.h, config_build.h): unique listener
 * names, known peers, payloads shared only by broadcast listeners, and
 * xb_config_validate, which runs them and the key table's bounds on a
 * config built in code. */
#include "config_yaml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_build.h"
#include "config_internal.h"

static xb_cfg_mark_t lmark_entry(const xb_cfg_loader_t *ld, size_t i)
{
    xb_cfg_mark_t none = {0, 0};
    return ld->lm ? ld->lm[i].entry : none;
}

/* The name as written (even if invalid), to avoid cascades of messages. */
static const char *lname(const xb_cfg_loader_t *ld, size_t i)
{
    if (ld->lm && ld->lm[i].raw_name)
        return ld->lm[i].raw_name;
    return ld->cfg->listeners[i].name;
}

static void check_duplicate_names(xb_cfg_loader_t *ld)
{
    const xb_config_t *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        if (!cfg->listeners[i].name[0])
            continue;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->listeners[i].name, cfg->listeners[j].name) != 0)
                continue;
            xb_cfg_mark_t mi = ld->lm ? ld->lm[i].name : lmark_entry(ld, i);
            xb_cfg_mark_t mj = ld->lm ? ld->lm[j].name : lmark_entry(ld, j);
            if (mi.line)
                xb_cfg_problem(ld, mi, "listener name '%s' is used twice (lines %d and %d)",
                               cfg->listeners[i].name, mj.line, mi.line);
            else
                xb_cfg_problem(ld, mi, "listener name '%s' is used twice", cfg->listeners[i].name);
            break;
        }
    }
}

static void check_peers(xb_cfg_loader_t *ld)
{
    const xb_config_t *cfg = ld->cfg;
    size_t n = cfg->n_listeners;
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names) {
        ld->nomem = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        names[i] = lname(ld, i);
    for (size_t i = 0; i < n; i++) {
        const xb_listener_config_t *l = &cfg->listeners[i];
        for (size_t p = 0; p < l->n_peers; p++) {
            bool found = false;
            for (size_t j = 0; j < n && !found; j++)
                found = names[j] && strcmp(names[j], l->peers[p]) == 0;
            if (found)
                continue;
            char h[128];
            xb_cfg_mark_t m = {0, 0};
            if (ld->lm && ld->lm[i].peer)
                m = ld->lm[i].peer[p];
            xb_cfg_problem(
                ld, m, "unknown peer '%.80s' in listener '%s': no listener has that name%s",
                l->peers[p], lname(ld, i), xb_cfg_hint(h, sizeof h, l->peers[p], names, n));
        }
    }
    free(names);
}

/* Whatever accepts root tags: a listener or a pipeline (never broadcast). */
typedef struct {
    const char *kind; /* "listener", "pipeline" */
    const char *name;
    int line;
    bool broadcast;
    char *const *tags;
    size_t n;
    const xb_cfg_mark_t *marks; /* per tag (listeners of a file), or NULL */
} acceptor_t;

/* Where tag u of a was written: its own mark, its note, else the entry. */
static xb_cfg_mark_t tag_mark(const xb_cfg_loader_t *ld, const acceptor_t *a, size_t u)
{
    xb_cfg_mark_t m = a->marks ? a->marks[u] : xb_cfg_noted(ld, a->tags[u]);
    if (!m.line && a->line)
        m = (xb_cfg_mark_t){a->line, 1};
    return m;
}

/* Tag t of a clashes with tag u of b (b after a); report it once. */
static void payload_clash(xb_cfg_loader_t *ld, const acceptor_t *a, size_t t, const acceptor_t *b,
                          size_t u)
{
    xb_cfg_mark_t m = tag_mark(ld, b, u);
    const char *nb = a->broadcast ? b->name : a->name;
    bool listeners = strcmp(a->kind, "listener") == 0 && strcmp(b->kind, "listener") == 0;
    if (!listeners)
        xb_cfg_problem(ld, m,
                       "%s '%s' (line %d) and %s '%s' (line %d) both accept '%s': a pipeline's "
                       "payload cannot be shared (a pipeline is never broadcast)",
                       a->kind, a->name, a->line, b->kind, b->name, b->line, a->tags[t]);
    else if (m.line)
        xb_cfg_problem(ld, m,
                       "listeners '%s' (line %d) and '%s' (line %d) both accept '%s', "
                       "but '%s' is not broadcast: several listeners may share a "
                       "payload only if all of them are 'broadcast: true'",
                       a->name, a->line, b->name, b->line, a->tags[t], nb);
    else
        xb_cfg_problem(ld, m,
                       "listeners '%s' and '%s' both accept '%s', but '%s' is not "
                       "broadcast: several listeners may share a payload only if all "
                       "of them are 'broadcast: true'",
                       a->name, b->name, a->tags[t], nb);
}

static bool accepts(const acceptor_t *a, const char *tag, size_t *at)
{
    for (size_t u = 0; u < a->n; u++)
        if (xb_config_tag_equal(a->tags[u], tag)) {
            *at = u;
            return true;
        }
    return false;
}

/* Several acceptors may take one root tag only if all of them broadcast. */
static void check_acceptors(xb_cfg_loader_t *ld, const acceptor_t *acc, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const acceptor_t *a = &acc[i];
        for (size_t t = 0; t < a->n; t++) {
            /* Report each tag once: at its first clash with an earlier acceptor. */
            bool earlier = false;
            size_t u = 0;
            for (size_t j = 0; j < i && !earlier; j++)
                earlier = accepts(&acc[j], a->tags[t], &u);
            if (earlier)
                continue;
            for (size_t j = i + 1; j < n; j++) {
                if (!accepts(&acc[j], a->tags[t], &u) || (a->broadcast && acc[j].broadcast))
                    continue;
                payload_clash(ld, a, t, &acc[j], u);
                break;
            }
        }
    }
}

/* The listeners, then the pipelines, as acceptors of root tags. */
static void check_payload_conflicts(xb_cfg_loader_t *ld)
{
    const xb_config_t *cfg = ld->cfg;
    size_t n = cfg->n_listeners + cfg->n_pipelines;
    acceptor_t *acc = calloc(n ? n : 1, sizeof *acc);
    if (!acc) {
        ld->nomem = true;
        return;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const xb_listener_config_t *l = &cfg->listeners[i];
        acc[i] = (acceptor_t){"listener",
                              lname(ld, i),
                              l->line,
                              l->broadcast,
                              l->payloads,
                              l->n_payloads,
                              ld->lm ? ld->lm[i].payload : NULL};
    }
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        const xb_pipeline_config_t *p = &cfg->pipelines[i];
        acc[cfg->n_listeners + i] = (acceptor_t){"pipeline",  p->name,       p->line, false,
                                                 p->payloads, p->n_payloads, NULL};
    }
    check_acceptors(ld, acc, n);
    free(acc);
}

void xb_cfg_check_listeners(xb_cfg_loader_t *ld)
{
    check_duplicate_names(ld);
    check_peers(ld);
    check_payload_conflicts(ld);
}

/* -------------------------------------------------------------- security */

void xb_cfg_check_security(xb_cfg_loader_t *ld, yaml_node_t *organism)
{
    const xb_config_t *cfg = ld->cfg;
    const xb_security_config_t *sec = &cfg->security;
    char why[700];
    if (xb_config_check_exposure(cfg, cfg->endpoint, why, sizeof why) != 0) {
        yaml_node_t *ep = organism && organism->type == YAML_MAPPING_NODE
                              ? xb_cfg_find_value(ld, organism, "endpoint")
                              : NULL;
        xb_cfg_problem(ld, ep ? xb_cfg_mark(ep) : xb_cfg_mark(organism), "%s", why);
    }
    if (sec->server_key)
        return;
    xb_cfg_mark_t at = {sec->line, 1};
    if (sec->clients.n || sec->admins.n)
        xb_cfg_problem(ld, at,
                       "section 'security' lists keys but no 'server_key': without it no "
                       "connection is authenticated; add the organism's secret key file");
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (cfg->listeners[i].key)
            xb_cfg_problem(ld, lmark_entry(ld, i),
                           "listener '%s' has a 'key' but section 'security' has no "
                           "'server_key': add the organism's secret key file",
                           lname(ld, i));
}

/* ------------------------------------------------------ code-built check */

/* The key table's bounds on the numbers of cfg's sections. */
static int check_bounds(const xb_config_t *cfg, const char *file, xb_error_t *err)
{
    const xb_key_section_t *s = xb_config_key_sections();
    const void *bases[] = {[XB_SECTION_ORGANISM] = cfg,          [XB_SECTION_LIMITS] = &cfg->limits,
                           [XB_SECTION_BACKEND] = &cfg->backend, [XB_SECTION_POOL] = &cfg->pool,
                           [XB_SECTION_SECURITY] = NULL,         [XB_SECTION_LISTENER] = NULL,
                           [XB_SECTION_MEMORY] = &cfg->memory};
    char why[300];
    for (int i = XB_SECTION_ORGANISM; i <= XB_SECTION_MEMORY; i++)
        if (bases[i] && xb_config_keys_check_bounds(&s[i], bases[i], why, sizeof why))
            return xb_error_set(err, XB_ERR_CONFIG, 0, "%s: %s in %s", file, why, s[i].where);
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const xb_listener_config_t *l = &cfg->listeners[i];
        if (xb_config_keys_check_bounds(&s[XB_SECTION_LISTENER], l, why, sizeof why))
            return xb_error_set(err, XB_ERR_CONFIG, l->line, "%s: %s in listener '%s'", file, why,
                                l->name);
    }
    return 0;
}

/* What the loader checks key by key, on listeners built in code. */
static int check_listener(const xb_listener_config_t *l, const char *file, xb_error_t *err)
{
    if (!xb_config_valid_name(l->name) || strcmp(l->name, "system") == 0)
        return xb_error_set(err, XB_ERR_CONFIG, l->line, "%s: invalid listener name '%s'", file,
                            l->name);
    if (l->n_payloads == 0)
        return xb_error_set(err, XB_ERR_CONFIG, l->line, "%s: listener '%s' has no payload", file,
                            l->name);
    if (l->schema && access(l->schema, R_OK) != 0)
        return xb_error_set(err, XB_ERR_CONFIG, l->line,
                            "%s: schema file '%s' of listener '%s' cannot be read: %s", file,
                            l->schema, l->name, strerror(errno));
    if (l->command && (!l->command[0] || !l->command[0][0]))
        return xb_error_set(err, XB_ERR_CONFIG, l->line, "%s: listener '%s' has an empty command",
                            file, l->name);
    return 0;
}

int xb_config_validate(const xb_config_t *cfg, xb_error_t *err)
{
    if (!cfg)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_config_validate: NULL config");
    const char *file = cfg->path ? cfg->path : "config";
    if (!xb_config_valid_name(cfg->name))
        return xb_error_set(err, XB_ERR_CONFIG, 0, "%s: invalid organism name '%s'", file,
                            cfg->name);
    xb_error_t why;
    if (xb_config_check_endpoint(cfg->endpoint, &why) < 0)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "%s: %s", file, why.message);
    for (size_t i = 0; i < cfg->n_listeners; i++)
        if (check_listener(&cfg->listeners[i], file, err) < 0)
            return -1;
    if (check_bounds(cfg, file, err) < 0)
        return -1;
    xb_cfg_loader_t ld = {.file = file, .cfg = (xb_config_t *)cfg};
    xb_cfg_check_listeners(&ld);
    xb_cfg_check_pipelines(&ld);
    if (ld.n_probs == 0 && !ld.nomem)
        return 0;
    xb_cfg_first_problem(&ld, err);
    xb_cfg_problems_free(&ld);
    return -1;
}
