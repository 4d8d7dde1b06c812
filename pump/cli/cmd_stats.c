/* `xmlbus stats`: the pump's counters, per listener (CONTROL stats). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"

static const char stats_usage[] =
    "usage: xmlbus stats [OPTIONS]\n"
    "\n"
    "Prints the counters of the running pump (CONTROL stats): first the\n"
    "pump-wide ones as \"name: value\" lines, then one row per listener:\n"
    "messages delivered, responded, in flight, queued, process restarts and\n"
    "errors by code (\"routing=2 schema=1\").\n"
    "\n"
    "options:\n"
    "      --xml            print the pump's XML answer as it is\n" XB_CLI_COMMON_HELP "\n"
    "exit: 0 ok, 1 failure, 2 usage, 4 no answer in time\n";

static bool is_elem(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* "code=count code=count" of a listener's <error> children, or "-". */
static void errors_of(const xmlNode *l, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (const xmlNode *e = l->children; e; e = e->next) {
        if (!is_elem(e, "error"))
            continue;
        char code[64], count[32];
        xb_cli_attr(e, "code", code, sizeof code);
        xb_cli_attr(e, "count", count, sizeof count);
        int n = snprintf(out + used, cap - used, "%s%s=%s", used ? " " : "", code, count);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
    if (!used)
        snprintf(out, cap, "-");
}

static void print_listeners(const xmlNode *root)
{
    int width = 8;
    for (const xmlNode *l = root->children; l; l = l->next) {
        char name[128];
        if (is_elem(l, "listener")) {
            int w = (int)strlen(xb_cli_attr(l, "name", name, sizeof name));
            width = w > width ? w : width;
        }
    }
    printf("\n%-*s %9s %9s %9s %7s %8s  %s\n", width, "LISTENER", "DELIVERED", "RESPONDED",
           "IN-FLIGHT", "QUEUED", "RESTARTS", "ERRORS");
    for (const xmlNode *l = root->children; l; l = l->next) {
        if (!is_elem(l, "listener"))
            continue;
        char name[128], delivered[32], responded[32], in_flight[32], queued[32], restarts[32];
        char errors[1024];
        xb_cli_attr(l, "name", name, sizeof name);
        xb_cli_attr(l, "delivered", delivered, sizeof delivered);
        xb_cli_attr(l, "responded", responded, sizeof responded);
        xb_cli_attr(l, "in-flight", in_flight, sizeof in_flight);
        xb_cli_attr(l, "queued", queued, sizeof queued);
        xb_cli_attr(l, "restarts", restarts, sizeof restarts);
        errors_of(l, errors, sizeof errors);
        printf("%-*s %9s %9s %9s %7s %8s  %s\n", width, name, *delivered ? delivered : "-",
               *responded ? responded : "-", *in_flight ? in_flight : "-", *queued ? queued : "-",
               *restarts ? restarts : "-", errors);
        for (const xmlNode *w = l->children; w; w = w->next) {
            if (!is_elem(w, "worker"))
                continue;
            char pid[32], state[32], handled[32], wrestarts[32], busy[32];
            printf("  worker pid %s %s handled %s restarts %s busy-ms %s\n",
                   xb_cli_attr(w, "pid", pid, sizeof pid),
                   xb_cli_attr(w, "state", state, sizeof state),
                   xb_cli_attr(w, "handled", handled, sizeof handled),
                   xb_cli_attr(w, "restarts", wrestarts, sizeof wrestarts),
                   xb_cli_attr(w, "busy-ms", busy, sizeof busy));
        }
    }
}

int xb_cmd_stats(int argc, char **argv)
{
    xb_cli_opts_t o;
    bool xml;
    int rc = xb_cli_parse_xml_verb(argc, argv, "stats", stats_usage, &o, &xml);
    if (rc >= 0)
        return rc;
    if (optind < argc) {
        xb_cli_fail("stats", "unexpected argument '%s'", argv[optind]);
        return xb_cli_usage(stats_usage, false);
    }
    xmlDoc *doc = NULL;
    rc = xb_cli_query(&o, "stats", NULL, 0, xml, xml ? NULL : &doc);
    if (rc != XB_EXIT_OK || xml)
        return rc;
    xmlNode *root = xmlDocGetRootElement(doc);
    xb_cli_print_attributes(root);
    print_listeners(root);
    xmlFreeDoc(doc);
    return XB_EXIT_OK;
}
