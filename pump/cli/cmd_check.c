/* `xmlbus check [organism.yaml]`: loads the organism, compiles every schema
 * (the stock envelope.xsd too, found as the pump finds it) and prints every problem as FILE:LINE:COL: what (docs/configuration.md).
 * Exit 0 when the organism is fine, 1 on any problem, 2 on a bad command
 * line. Listener commands that cannot be found are warnings only: the
 * organism may be checked on a machine where the listeners are not built. */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "commands.h"
#include "xmlbus/config.h"
#include "xmlbus/envelope.h"
#include "config_build.h"

static const char usage_text[] =
    "usage: xmlbus check [OPTIONS] [FILE]\n"
    "\n"
    "Checks an organism.yaml (default ./organism.yaml): every key, every\n"
    "listener, peer and payload, and compiles every schema (the stock\n"
    "envelope.xsd too, as `xmlbus run` does). Prints each problem on stderr\n"
    "as FILE:LINE:COLUMN: what is wrong, then a summary.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE    the organism.yaml to check (same as FILE)\n"
    "  -q, --quiet          print problems only, no summary or warnings\n"
    "  -h, --help           this text\n"
    "\n"
    "exit codes: 0 ok, 1 problems found, 2 bad command line\n";

static void print_problem(const char *msg, void *user)
{
    (void)user;
    fprintf(stderr, "%s\n", msg);
}

/* Compiles the stock envelope.xsd the way `xmlbus run` does (xb_parser_new,
 * from xb_schema_dir()), so that check fails whenever run would fail for a
 * missing or broken schema. Returns the number of problems (0 or 1). */
static size_t check_stock_schemas(void)
{
    xb_error_t err;
    xb_error_clear(&err);
    xb_parser_t *p = xb_parser_new(NULL, &err);
    if (!p) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    xb_parser_destroy(&p);
    return 0;
}

/* The folder of the running executable into out ("" when unknown). */
static void exe_dir(char *out, size_t cap)
{
    char exe[PATH_MAX];
    out[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    snprintf(out, cap, "%s", dirname(exe));
}

/* Is prog executable where the pump will look: a path as it is, a bare name
 * in the executable's folder, then in PATH? */
static int command_found(const char *prog, const char *bin_dir)
{
    char buf[PATH_MAX];
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    if (bin_dir[0]) {
        int n = snprintf(buf, sizeof buf, "%s/%s", bin_dir, prog);
        if (n > 0 && (size_t)n < sizeof buf && access(buf, X_OK) == 0)
            return 1;
    }
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    const char *p = path;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        int n = len ? snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, prog)
                    : snprintf(buf, sizeof buf, "./%s", prog);
        if (n > 0 && (size_t)n < sizeof buf && access(buf, X_OK) == 0)
            return 1;
        if (!colon)
            break;
        p = colon + 1;
    }
    return 0;
}

/* Warns about listener commands that the pump would not find. */
static void warn_commands(const char *file)
{
    xb_error_t err;
    xb_config_t *cfg = xb_config_load(file, &err);
    if (!cfg)
        return;
    char bin_dir[PATH_MAX];
    exe_dir(bin_dir, sizeof bin_dir);
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const xb_listener_config_t *l = &cfg->listeners[i];
        if (!l->command || command_found(l->command[0], bin_dir))
            continue;
        if (strchr(l->command[0], '/'))
            fprintf(stderr,
                    "%s:%d:1: warning: command '%s' of listener '%s' is not an executable "
                    "file; `xmlbus run` will fail to start it\n",
                    file, l->line, l->command[0], l->name);
        else
            fprintf(stderr,
                    "%s:%d:1: warning: command '%s' of listener '%s' not found (looked in %s "
                    "and PATH); `xmlbus run` will fail to start it\n",
                    file, l->line, l->command[0], l->name, bin_dir[0] ? bin_dir : "?");
    }
    xb_config_destroy(&cfg);
}

int xb_cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL;
    int quiet = 0;
    int opt;
    optind = 1;
    opterr = 1;
    while ((opt = getopt_long(argc, argv, "c:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            file = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return XB_EXIT_OK;
        default:
            fputs(usage_text, stderr);
            return XB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        if (file || optind + 1 < argc) {
            fprintf(stderr, "xmlbus check: give exactly one organism.yaml\n");
            fputs(usage_text, stderr);
            return XB_EXIT_USAGE;
        }
        file = argv[optind];
    }
    if (!file)
        file = "organism.yaml";

    xb_config_check_summary_t sum;
    size_t problems = xb_config_check_all(file, print_problem, NULL, &sum);
    problems += check_stock_schemas();
    const char *name = sum.organism[0] ? sum.organism : "?";
    if (problems) {
        if (!quiet)
            fprintf(stderr, "organism %s: %zu listener%s, %zu schema%s, %zu problem%s\n", name,
                    sum.listeners, sum.listeners == 1 ? "" : "s", sum.schemas,
                    sum.schemas == 1 ? "" : "s", problems, problems == 1 ? "" : "s");
        return XB_EXIT_FAIL;
    }
    if (!quiet) {
        warn_commands(file);
        printf("organism %s: %zu listener%s, %zu schema%s, ok\n", name, sum.listeners,
               sum.listeners == 1 ? "" : "s", sum.schemas, sum.schemas == 1 ? "" : "s");
    }
    return XB_EXIT_OK;
}
