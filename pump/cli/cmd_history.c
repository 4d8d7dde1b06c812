/* `xmlbus history THREAD`: the slots of one thread (CONTROL history). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"

static const char history_usage[] =
    "usage: xmlbus history [OPTIONS] THREAD\n"
    "\n"
    "Prints the context buffer of THREAD (a UUID from `xmlbus send` or\n"
    "`xmlbus threads`): every slot in order, a header line\n"
    "\"#INDEX TIME FROM -> TO TYPE id ID\" and the payload as XML below it.\n"
    "\n"
    "options:\n"
    "      --xml            print the pump's XML answer as it is\n" XB_CLI_COMMON_HELP "\n"
    "exit: 0 ok, 1 failure (unknown thread, ...), 2 usage, 4 no answer in time\n";

static int print_slots(xmlNode *root)
{
    char thread[128];
    xb_cli_attr(root, "thread", thread, sizeof thread);
    size_t count = 0;
    for (xmlNode *n = root->children; n; n = n->next)
        count += n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "slot") == 0;
    printf("thread %s: %zu slot%s\n", *thread ? thread : "?", count, count == 1 ? "" : "s");
    for (xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "slot") != 0)
            continue;
        char index[32], from[128], to[128], type[256], ts[32], when[64], id[128];
        xb_cli_attr(n, "index", index, sizeof index);
        xb_cli_attr(n, "from", from, sizeof from);
        xb_cli_attr(n, "to", to, sizeof to);
        xb_cli_attr(n, "type", type, sizeof type);
        xb_cli_attr(n, "id", id, sizeof id);
        xb_cli_format_us(xb_cli_attr(n, "ts", ts, sizeof ts), when, sizeof when);
        char *payload = xb_cli_content_line(n);
        if (!payload) {
            xb_cli_fail("history", "out of memory");
            return XB_EXIT_FAIL;
        }
        printf("#%s %s %s -> %s %s id %s\n    %s\n", *index ? index : "?", when, *from ? from : "-",
               *to ? to : "-", *type ? type : "-", *id ? id : "-", payload);
        free(payload);
    }
    return XB_EXIT_OK;
}

int xb_cmd_history(int argc, char **argv)
{
    return xb_cli_thread_verb(argc, argv, "history", history_usage, print_slots);
}
