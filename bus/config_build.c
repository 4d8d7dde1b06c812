/* Building a config in code (bus/config_build.h): listener
 * setters that copy every string, command splitting and tag syntax shared
 * with the organism.yaml loader (bus/config.c, bus/config_sections.c). */
#include "config_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "schema.h"

/* ------------------------------------------------------------------ tags */

static bool ncname_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c >= 0x80;
}

static bool ncname_char(unsigned char c)
{
    return ncname_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static bool ncname_valid(const char *s)
{
    if (!ncname_start((unsigned char)s[0]))
        return false;
    for (const char *p = s + 1; *p; p++)
        if (!ncname_char((unsigned char)*p))
            return false;
    return true;
}

bool xb_payload_tag_valid(const char *tag)
{
    if (!tag || !tag[0])
        return false;
    if (tag[0] != '{')
        return ncname_valid(tag);
    const char *close = strchr(tag + 1, '}');
    if (!close)
        return false;
    for (const char *p = tag + 1; p < close; p++)
        if (*p == '{' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            return false;
    return ncname_valid(close + 1);
}

/* --------------------------------------------------------------- commands */

void xb_command_free(char ***argvp)
{
    if (!argvp || !*argvp)
        return;
    for (char **p = *argvp; *p; p++)
        free(*p);
    free(*argvp);
    *argvp = NULL;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int xb_command_split(const char *line, char ***argvp, size_t *argcp, xb_error_t *err)
{
    if (!line || !argvp)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_command_split: NULL argument");
    size_t len = strlen(line);
    /* At most len/2+1 words; each word fits in len+1 bytes of one buffer. */
    char **argv = calloc(len / 2 + 2, sizeof *argv);
    char *word = malloc(len + 1);
    if (!argv || !word) {
        free(argv);
        free(word);
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory splitting a command");
    }
    size_t argc = 0;
    const char *p = line;
    for (;;) {
        while (blank(*p))
            p++;
        if (!*p)
            break;
        size_t n = 0;
        while (*p && !blank(*p)) {
            if (*p != '"') {
                word[n++] = *p++;
                continue;
            }
            p++; /* opening quote */
            while (*p && *p != '"') {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                word[n++] = *p++;
            }
            if (*p != '"') {
                free(word);
                argv[argc] = NULL;
                xb_command_free(&argv);
                return xb_error_set(err, XB_ERR_CONFIG, 0, "unterminated double quote");
            }
            p++; /* closing quote */
        }
        word[n] = '\0';
        argv[argc] = strdup(word);
        if (!argv[argc]) {
            free(word);
            xb_command_free(&argv);
            return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory splitting a command");
        }
        argc++;
    }
    free(word);
    if (argc == 0 || !argv[0][0]) {
        xb_command_free(&argv);
        return xb_error_set(err, XB_ERR_CONFIG, 0, "the command is empty");
    }
    *argvp = argv;
    if (argcp)
        *argcp = argc;
    return 0;
}

/* --------------------------------------------------------------- setters */

int xb_config_set_endpoint(xb_config_t *cfg, const char *endpoint, xb_error_t *err)
{
    if (!cfg)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_config_set_endpoint: NULL config");
    if (xb_config_check_endpoint(endpoint, err) < 0)
        return -1;
    memcpy(cfg->endpoint, endpoint, strlen(endpoint) + 1);
    return 0;
}

int xb_config_set_dir(xb_config_t *cfg, const char *dir, xb_error_t *err)
{
    if (!cfg || !dir)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_config_set_dir: NULL argument");
    char *abs = realpath(dir, NULL);
    if (!abs)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "folder '%.300s': %s", dir, strerror(errno));
    free(cfg->dir);
    cfg->dir = abs;
    return 0;
}

int xb_config_listener_set_description(xb_listener_config_t *l, const char *text, xb_error_t *err)
{
    if (!l)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "xb_config_listener_set_description: NULL listener");
    char *copy = NULL;
    if (text && !(copy = strdup(text)))
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    free(l->description);
    l->description = copy;
    return 0;
}

/* Appends a copy of s to a string list. */
static int push(char ***items, size_t *n, const char *s, xb_error_t *err)
{
    char *copy = strdup(s);
    char **ni = copy ? realloc(*items, (*n + 1) * sizeof *ni) : NULL;
    if (!ni) {
        free(copy);
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    }
    ni[*n] = copy;
    *items = ni;
    (*n)++;
    return 0;
}

int xb_config_listener_add_payload(xb_listener_config_t *l, const char *tag, xb_error_t *err)
{
    if (!l || !tag)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_config_listener_add_payload: NULL argument");
    if (!xb_payload_tag_valid(tag))
        return xb_error_set(err, XB_ERR_CONFIG, 0, "invalid payload tag '%.200s' for listener '%s'",
                            tag, l->name);
    if (xb_config_tag_equal(tag, XB_SYSTEM_ERROR_TAG))
        return xb_error_set(err, XB_ERR_CONFIG, 0,
                            "listener '%s': every listener accepts SystemError implicitly",
                            l->name);
    for (size_t i = 0; i < l->n_payloads; i++)
        if (xb_config_tag_equal(l->payloads[i], tag))
            return xb_error_set(err, XB_ERR_CONFIG, 0,
                                "payload '%.200s' listed twice in listener '%s'", tag, l->name);
    return push(&l->payloads, &l->n_payloads, tag, err);
}

char *xb_config_readable_file(const char *path, const char **why)
{
    struct stat st;
    *why = NULL;
    if (stat(path, &st) != 0)
        *why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        *why = "not a regular file";
    else if (access(path, R_OK) != 0)
        *why = strerror(errno);
    return *why ? NULL : realpath(path, NULL);
}

int xb_config_listener_set_schema(const xb_config_t *cfg, xb_listener_config_t *l, const char *path,
                                  xb_error_t *err)
{
    if (!l)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_config_listener_set_schema: NULL listener");
    if (!path) {
        free(l->schema);
        l->schema = NULL;
        return 0;
    }
    if (!path[0])
        return xb_error_set(err, XB_ERR_CONFIG, 0, "listener '%s': empty schema path", l->name);
    char *joined = xb_config_path_join(cfg ? cfg->dir : NULL, path);
    if (!joined)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    const char *p = joined;
    const char *why = NULL;
    char *abs = xb_config_readable_file(p, &why);
    if (!abs && why) {
        xb_error_set(err, XB_ERR_CONFIG, 0,
                     "schema file '%.300s' of listener '%s' cannot be read: %s", p, l->name, why);
        free(joined);
        return -1;
    }
    free(joined);
    if (!abs)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    free(l->schema);
    l->schema = abs;
    return 0;
}

static void command_clear(xb_listener_config_t *l)
{
    xb_command_free(&l->command);
    l->n_command = 0;
}

int xb_config_listener_set_command(xb_listener_config_t *l, const char *const *argv,
                                   xb_error_t *err)
{
    if (!l)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_config_listener_set_command: NULL listener");
    if (!argv) {
        command_clear(l);
        return 0;
    }
    if (!argv[0] || !argv[0][0])
        return xb_error_set(err, XB_ERR_CONFIG, 0, "listener '%s': the command is empty", l->name);
    size_t n = 0;
    while (argv[n])
        n++;
    char **copy = calloc(n + 1, sizeof *copy);
    if (!copy)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!(copy[i] = strdup(argv[i]))) {
            xb_command_free(&copy);
            return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
        }
    }
    command_clear(l);
    l->command = copy;
    l->n_command = n;
    return 0;
}

int xb_config_listener_set_command_line(xb_listener_config_t *l, const char *line, xb_error_t *err)
{
    if (!l || !line)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "xb_config_listener_set_command_line: NULL argument");
    char **argv = NULL;
    size_t argc = 0;
    if (xb_command_split(line, &argv, &argc, err) < 0)
        return -1;
    command_clear(l);
    l->command = argv;
    l->n_command = argc;
    return 0;
}

int xb_config_listener_add_peer(xb_listener_config_t *l, const char *name, xb_error_t *err)
{
    if (!l || !name)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_config_listener_add_peer: NULL argument");
    for (size_t i = 0; i < l->n_peers; i++)
        if (strcmp(l->peers[i], name) == 0)
            return xb_error_set(err, XB_ERR_CONFIG, 0, "peer '%.80s' listed twice in listener '%s'",
                                name, l->name);
    if (push(&l->peers, &l->n_peers, name, err) < 0)
        return -1;
    l->has_peers = true;
    return 0;
}

int xb_config_listener_set_cpu_bound(const xb_config_t *cfg, xb_listener_config_t *l, int workers,
                                     xb_error_t *err)
{
    if (!l)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_config_listener_set_cpu_bound: NULL listener");
    if (workers < 0 || (workers == 0 && (!cfg || cfg->pool.workers < 1)))
        return xb_error_set(err, XB_ERR_CONFIG, 0, "listener '%s': workers must be >= 1", l->name);
    l->cpu_bound = true;
    l->workers = workers ? workers : cfg->pool.workers;
    return 0;
}
