/* The pump's life cycle: `xmlbus run` (serve an organism until SIGINT or
 * SIGTERM), `xmlbus ping` (does it answer?) and `xmlbus stop` (CONTROL
 * shutdown). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_common.h"
#include "commands.h"
#include "xmlbus/config.h"
#include "xmlbus/pump.h"

/* ---- run ----------------------------------------------------------------- */

static const char run_usage[] =
    "usage: xmlbus run [OPTIONS] [organism.yaml]\n"
    "\n"
    "Runs the pump of the organism described by organism.yaml (default:\n"
    "./organism.yaml) in the foreground: binds its endpoint, starts its\n"
    "listeners, serves until SIGINT or SIGTERM, then shuts down cleanly.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE       the organism (same as the argument)\n"
    "  -e, --endpoint EP       bind EP instead of organism.endpoint\n"
    "                          (tcp://127.0.0.1:* picks a free port)\n"
    "      --endpoint-file F   once bound, write the real endpoint to F\n"
    "                          (atomically; removed again at exit)\n"
    "      --no-children       do not start the listeners' commands; they are\n"
    "                          started elsewhere and connect by themselves\n"
    "      --log-level L       error|warn|info|debug (default info)\n"
    "  -h, --help              this text\n"
    "\n"
    "exit: 0 clean shutdown, 1 config error (FILE:LINE:COL) or pump failure,\n"
    "      2 usage\n";

enum { OPT_ENDPOINT_FILE = XB_OPT_FIRST_VERB_OPTION, OPT_NO_CHILDREN };

typedef struct {
    const char *config;
    const char *endpoint;
    const char *endpoint_file;
    bool no_children;
} run_args_t;

/* Returns -1 to continue, or an exit code. */
static int parse_run(int argc, char **argv, run_args_t *a)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"endpoint", required_argument, NULL, 'e'},
        {"endpoint-file", required_argument, NULL, OPT_ENDPOINT_FILE},
        {"no-children", no_argument, NULL, OPT_NO_CHILDREN},
        {"log-level", required_argument, NULL, XB_OPT_LOG_LEVEL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    xb_cli_opts_t o;
    xb_cli_opts_init(&o, "run");
    xb_log_set_level(XB_LOG_INFO);
    int opt;
    while ((opt = getopt_long(argc, argv, "c:e:h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_ENDPOINT_FILE:
            a->endpoint_file = optarg;
            break;
        case OPT_NO_CHILDREN:
            a->no_children = true;
            break;
        default: {
            int r = xb_cli_common_option(&o, opt, optarg);
            if (r <= 0)
                return xb_cli_usage(run_usage, false);
        }
        }
    }
    if (o.help)
        return xb_cli_usage(run_usage, true);
    a->endpoint = o.endpoint;
    a->config = o.config_path;
    if (optind < argc) {
        if (a->config || optind + 1 < argc) {
            xb_cli_fail("run", "give exactly one organism.yaml");
            return xb_cli_usage(run_usage, false);
        }
        a->config = argv[optind];
    }
    if (!a->config)
        a->config = "organism.yaml";
    return -1;
}

/* Writes the bound endpoint to path through a temporary file and rename, so
 * that a reader never sees half a line. */
static int write_endpoint_file(const char *path, const char *endpoint)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return -1;
    snprintf(tmp, n, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (f) {
        int w = fprintf(f, "%s\n", endpoint);
        int c = fclose(f);
        if (w > 0 && c == 0 && rename(tmp, path) == 0)
            rc = 0;
    }
    if (rc != 0) {
        xb_cli_fail("run", "cannot write --endpoint-file %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

int xb_cmd_run(int argc, char **argv)
{
    run_args_t a = {0};
    int rc = parse_run(argc, argv, &a);
    if (rc >= 0)
        return rc;
    xb_error_t err;
    xb_error_clear(&err);
    xb_config_t *cfg = xb_config_load(a.config, &err);
    if (!cfg) {
        xb_cli_fail("run", "%s", err.message);
        return XB_EXIT_FAIL;
    }
    if (a.endpoint) {
        if (strlen(a.endpoint) >= sizeof cfg->endpoint) {
            xb_cli_fail("run", "--endpoint too long");
            xb_config_destroy(&cfg);
            return XB_EXIT_USAGE;
        }
        snprintf(cfg->endpoint, sizeof cfg->endpoint, "%s", a.endpoint);
    }
    xb_pump_options_t opts;
    xb_pump_options_defaults(&opts);
    opts.handle_signals = true;
    opts.start_children = !a.no_children;
    xb_pump_t *pump = xb_pump_new(cfg, &opts, &err); /* takes cfg */
    if (!pump) {
        xb_cli_fail("run", "%s", err.message);
        return XB_EXIT_FAIL;
    }
    const xb_config_t *c = xb_pump_config(pump);
    XB_INFO("run", "organism %s: pump serving on %s (pid %ld)", c ? c->name : "?",
            xb_pump_endpoint(pump), (long)getpid());
    if (a.endpoint_file && write_endpoint_file(a.endpoint_file, xb_pump_endpoint(pump)) != 0) {
        xb_pump_destroy(&pump);
        return XB_EXIT_FAIL;
    }
    rc = xb_pump_run(pump, &err) == 0 ? XB_EXIT_OK : XB_EXIT_FAIL;
    if (rc != XB_EXIT_OK)
        xb_cli_fail("run", "%s", err.message);
    xb_pump_destroy(&pump);
    if (a.endpoint_file)
        unlink(a.endpoint_file);
    return rc;
}

/* ---- ping and stop ------------------------------------------------------- */

static const char ping_usage[] =
    "usage: xmlbus ping [OPTIONS]\n"
    "\n"
    "Asks the pump for a sign of life (CONTROL ping) and prints \"ok\" and\n"
    "what it answers on one line (\"ok pong organism=hello state=running\").\n"
    "\n"
    "options:\n" XB_CLI_COMMON_HELP "\n"
    "exit: 0 the pump answered, 1 failure, 2 usage, 4 no answer in time\n";

static const char stop_usage[] =
    "usage: xmlbus stop [OPTIONS]\n"
    "\n"
    "Asks the pump to shut down (CONTROL shutdown) as SIGTERM would: stop\n"
    "accepting, finish or fail in-flight work, stop listeners, exit 0.\n"
    "Returns once the pump has acknowledged the request.\n"
    "\n"
    "options:\n" XB_CLI_COMMON_HELP "\n"
    "exit: 0 acknowledged, 1 failure, 2 usage, 4 no answer in time\n";

/* "ok", then the answer's root element and its attributes on the same line:
 * "ok pong organism=hello state=running". */
static void print_ok_line(const char *body)
{
    xmlDoc *doc = *body ? xb_client_read_xml(body, strlen(body), NULL) : NULL;
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root) {
        if (*body)
            printf("ok %s\n", body);
        else
            printf("ok\n");
        xmlFreeDoc(doc);
        return;
    }
    printf("ok %s", (const char *)root->name);
    for (const xmlAttr *a = root->properties; a; a = a->next) {
        xmlChar *v = xmlNodeListGetString(doc, a->children, 1);
        printf(" %s=%s", (const char *)a->name, v ? (const char *)v : "");
        xmlFree(v);
    }
    printf("\n");
    xmlFreeDoc(doc);
}

/* A verb that takes only the common options and sends one CONTROL request
 * without arguments. */
static int simple_control(int argc, char **argv, const char *usage, const char *verb)
{
    static const struct option longopts[] = {XB_CLI_LONGOPTS, {NULL, 0, NULL, 0}};
    xb_cli_opts_t o;
    xb_cli_opts_init(&o, argv[0]);
    int opt;
    while ((opt = getopt_long(argc, argv, XB_CLI_SHORTOPTS, longopts, NULL)) != -1)
        if (xb_cli_common_option(&o, opt, optarg) <= 0)
            return xb_cli_usage(usage, false);
    if (o.help)
        return xb_cli_usage(usage, true);
    if (optind < argc) {
        xb_cli_fail(argv[0], "unexpected argument '%s'", argv[optind]);
        return xb_cli_usage(usage, false);
    }
    int rc = XB_EXIT_OK;
    char *body = xb_cli_control(&o, verb, NULL, 0, &rc);
    if (!body)
        return rc;
    print_ok_line(body);
    free(body);
    return XB_EXIT_OK;
}

int xb_cmd_ping(int argc, char **argv)
{
    return simple_control(argc, argv, ping_usage, "ping");
}

int xb_cmd_stop(int argc, char **argv)
{
    return simple_control(argc, argv, stop_usage, "shutdown");
}
