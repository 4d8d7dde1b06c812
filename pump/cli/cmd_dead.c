/* `xmlbus dead-letters [list|show ID|retry ID|purge]`: the messages a pump
 * stopped delivering again after limits.max_redeliveries restarts (CONTROL
 * dead-letters, dead-retry, dead-purge; docs/reliability.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"

static const char dead_usage[] =
    "usage: xmlbus dead-letters [OPTIONS] [list | show ID | retry ID | purge]\n"
    "\n"
    "The dead letters of the running pump's journal: messages it delivered\n"
    "again after restarts more than limits.max_redeliveries times.\n"
    "  list       (the default) one line each: message id, listener,\n"
    "             times delivered again, reason\n"
    "  show ID    that dead letter with its envelope\n"
    "  retry ID   deliver it again now (its count starts over)\n"
    "  purge      remove every dead letter\n"
    "\n"
    "options:\n"
    "      --xml            print the pump's XML answer as it is\n" XB_CLI_COMMON_HELP "\n"
    "exit: 0 ok, 1 failure (no such dead letter, no journal), 2 usage,\n"
    "      4 no answer in time\n";

static void print_dead(xmlNode *root, bool envelope)
{
    size_t count = 0;
    for (xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "dead") != 0)
            continue;
        char id[128], listener[128], times[32], reason[512];
        printf("%s %s redelivered %s: %s\n", xb_cli_attr(n, "id", id, sizeof id),
               xb_cli_attr(n, "listener", listener, sizeof listener),
               xb_cli_attr(n, "redelivered", times, sizeof times),
               xb_cli_attr(n, "reason", reason, sizeof reason));
        if (envelope) {
            xmlChar *text = xmlNodeGetContent(n);
            printf("    %s\n", text ? (const char *)text : "");
            xmlFree(text);
        }
        count++;
    }
    if (count == 0 && !envelope)
        printf("no dead letters\n");
}

int xb_cmd_dead(int argc, char **argv)
{
    xb_cli_opts_t o;
    bool xml;
    int rc = xb_cli_parse_xml_verb(argc, argv, "dead-letters", dead_usage, &o, &xml);
    if (rc >= 0)
        return rc;
    const char *sub = optind < argc ? argv[optind] : "list";
    int operands = argc - optind - (optind < argc);
    bool with_id = strcmp(sub, "show") == 0 || strcmp(sub, "retry") == 0;
    bool known = with_id || strcmp(sub, "list") == 0 || strcmp(sub, "purge") == 0;
    if (!known || operands != (with_id ? 1 : 0)) {
        xb_cli_fail("dead-letters",
                    known ? "wrong number of arguments for '%s'" : "unknown subcommand '%s'", sub);
        return xb_cli_usage(dead_usage, false);
    }
    const char *verb = strcmp(sub, "retry") == 0   ? "dead-retry"
                       : strcmp(sub, "purge") == 0 ? "dead-purge"
                                                   : "dead-letters";
    const char *args[] = {with_id ? argv[optind + 1] : NULL};
    xmlDoc *doc = NULL;
    rc = xb_cli_query(&o, verb, args, with_id ? 1 : 0, xml, xml ? NULL : &doc);
    if (rc != XB_EXIT_OK || xml)
        return rc;
    xmlNode *root = xmlDocGetRootElement(doc);
    char buf[128];
    if (strcmp(sub, "retry") == 0)
        printf("%s delivered again\n", xb_cli_attr(root, "id", buf, sizeof buf));
    else if (strcmp(sub, "purge") == 0)
        printf("%s dead letters removed\n", xb_cli_attr(root, "count", buf, sizeof buf));
    else
        print_dead(root, strcmp(sub, "show") == 0);
    xmlFreeDoc(doc);
    return XB_EXIT_OK;
}
