/* `xmlbus threads`: the threads a running pump knows (CONTROL threads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"

static const char threads_usage[] =
    "usage: xmlbus threads [OPTIONS]\n"
    "\n"
    "Lists the threads of the running pump (CONTROL threads), one row each:\n"
    "UUID, number of slots, last activity (local time), call chain.\n"
    "\n"
    "options:\n"
    "  -q, --quiet          print only the UUIDs, one a line\n"
    "      --xml            print the pump's XML answer as it is\n"
    XB_CLI_COMMON_HELP
    "\n"
    "exit: 0 ok, 1 failure, 2 usage, 4 no answer in time\n";

enum { OPT_XML = XB_OPT_FIRST_VERB_OPTION };

static void print_table(xmlNode *root, bool quiet)
{
    size_t rows = 0;
    for (xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "thread") != 0)
            continue;
        char uuid[128], chain[1024], slots[32], us[32], when[64];
        xb_cli_attr(n, "uuid", uuid, sizeof uuid);
        if (quiet) {
            printf("%s\n", uuid);
            continue;
        }
        if (rows++ == 0)
            printf("%-36s %6s  %-23s  %s\n", "UUID", "SLOTS", "LAST ACTIVITY", "CHAIN");
        xb_cli_attr(n, "chain", chain, sizeof chain);
        xb_cli_attr(n, "slots", slots, sizeof slots);
        xb_cli_format_us(xb_cli_attr(n, "last-activity-us", us, sizeof us), when, sizeof when);
        printf("%-36s %6s  %-23s  %s\n", uuid, *slots ? slots : "-", when,
               *chain ? chain : "-");
    }
    if (!quiet && rows == 0)
        printf("(no threads)\n");
}

int xb_cmd_threads(int argc, char **argv)
{
    static const struct option longopts[] = {
        XB_CLI_LONGOPTS,
        {"quiet", no_argument, NULL, 'q'},
        {"xml", no_argument, NULL, OPT_XML},
        {NULL, 0, NULL, 0},
    };
    xb_cli_opts_t o;
    xb_cli_opts_init(&o, "threads");
    bool quiet = false, xml = false;
    int opt;
    while ((opt = getopt_long(argc, argv, XB_CLI_SHORTOPTS "q", longopts, NULL)) != -1) {
        if (opt == 'q')
            quiet = true;
        else if (opt == OPT_XML)
            xml = true;
        else if (xb_cli_common_option(&o, opt, optarg) <= 0)
            return xb_cli_usage(threads_usage, false);
    }
    if (o.help)
        return xb_cli_usage(threads_usage, true);
    if (optind < argc) {
        xb_cli_fail("threads", "unexpected argument '%s'", argv[optind]);
        return xb_cli_usage(threads_usage, false);
    }
    xmlDoc *doc = NULL;
    int rc = xb_cli_query(&o, "threads", NULL, 0, xml, xml ? NULL : &doc);
    if (rc != XB_EXIT_OK || xml)
        return rc;
    print_table(xmlDocGetRootElement(doc), quiet);
    xmlFreeDoc(doc);
    return XB_EXIT_OK;
}
