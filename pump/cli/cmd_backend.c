/* `xmlbus backend info`: the storage backend of a running pump
 * (CONTROL backend-info). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"

static const char backend_usage[] =
    "usage: xmlbus backend info [OPTIONS]\n"
    "\n"
    "Prints what the running pump reports about its backend (CONTROL\n"
    "backend-info), one \"name: value\" line each: type, ping, threads,\n"
    "registry-entries, ttl, server-version, location, ...\n"
    "\n"
    "options:\n"
    "      --xml            print the pump's XML answer as it is\n" XB_CLI_COMMON_HELP "\n"
    "exit: 0 the backend answers its ping, 1 it does not or another failure,\n"
    "      2 usage, 4 no answer from the pump in time\n";

int xb_cmd_backend(int argc, char **argv)
{
    xb_cli_opts_t o;
    bool xml;
    int rc = xb_cli_parse_xml_verb(argc, argv, "backend", backend_usage, &o, &xml);
    if (rc >= 0)
        return rc;
    if (optind + 1 != argc || strcmp(argv[optind], "info") != 0) {
        xb_cli_fail("backend", optind < argc ? "unknown subcommand '%s'" : "which subcommand?%s",
                    optind < argc ? argv[optind] : "");
        return xb_cli_usage(backend_usage, false);
    }
    /* The ping decides the exit code, so the answer is parsed even for --xml. */
    xmlDoc *doc = NULL;
    rc = xb_cli_query(&o, "backend-info", NULL, 0, xml, &doc);
    if (rc != XB_EXIT_OK)
        return rc;
    xmlNode *root = xmlDocGetRootElement(doc);
    char ping[64];
    xb_cli_attr(root, "ping", ping, sizeof ping);
    if (!xml)
        xb_cli_print_attributes(root);
    xmlFreeDoc(doc);
    if (strcmp(ping, "ok") != 0) {
        xb_cli_fail("backend", "the backend does not answer its ping (ping=\"%s\")", ping);
        return XB_EXIT_FAIL;
    }
    return XB_EXIT_OK;
}
