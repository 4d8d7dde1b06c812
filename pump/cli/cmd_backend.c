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
    "      --xml            print the pump's XML answer as it is\n"
    XB_CLI_COMMON_HELP
    "\n"
    "exit: 0 the backend answers its ping, 1 it does not or another failure,\n"
    "      2 usage, 4 no answer from the pump in time\n";

enum { OPT_XML = XB_OPT_FIRST_VERB_OPTION };

static void print_attributes(const xmlNode *n)
{
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
        printf("%s: %s\n", (const char *)a->name, v ? (const char *)v : "");
        xmlFree(v);
    }
}

int xb_cmd_backend(int argc, char **argv)
{
    static const struct option longopts[] = {
        XB_CLI_LONGOPTS,
        {"xml", no_argument, NULL, OPT_XML},
        {NULL, 0, NULL, 0},
    };
    xb_cli_opts_t o;
    xb_cli_opts_init(&o, "backend");
    bool xml = false;
    int opt;
    while ((opt = getopt_long(argc, argv, XB_CLI_SHORTOPTS, longopts, NULL)) != -1) {
        if (opt == OPT_XML)
            xml = true;
        else if (xb_cli_common_option(&o, opt, optarg) <= 0)
            return xb_cli_usage(backend_usage, false);
    }
    if (o.help)
        return xb_cli_usage(backend_usage, true);
    if (optind + 1 != argc || strcmp(argv[optind], "info") != 0) {
        xb_cli_fail("backend", optind < argc ? "unknown subcommand '%s'" : "which subcommand?%s",
                    optind < argc ? argv[optind] : "");
        return xb_cli_usage(backend_usage, false);
    }
    int rc = XB_EXIT_OK;
    char *body = xb_cli_control(&o, "backend-info", NULL, 0, &rc);
    if (!body)
        return rc;
    xmlDoc *doc = xb_cli_parse_xml("backend", body, strlen(body));
    if (!doc) {
        free(body);
        return XB_EXIT_FAIL;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    char ping[64];
    xb_cli_attr(root, "ping", ping, sizeof ping);
    if (xml)
        xb_cli_print_body(body);
    else
        print_attributes(root);
    free(body);
    xmlFreeDoc(doc);
    if (strcmp(ping, "ok") != 0) {
        xb_cli_fail("backend", "the backend does not answer its ping (ping=\"%s\")", ping);
        return XB_EXIT_FAIL;
    }
    return XB_EXIT_OK;
}
