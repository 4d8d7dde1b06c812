/* `xmlbus memory THREAD`: the working memory of a thread's conversation
 * (CONTROL memory). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"

static const char memory_usage[] =
    "usage: xmlbus memory [OPTIONS] THREAD\n"
    "\n"
    "Prints the working memory of the conversation that THREAD (a UUID from\n"
    "`xmlbus send` or `xmlbus threads`) belongs to: a header line\n"
    "\"thread THREAD conversation CONVERSATION: N entries\", then one line\n"
    "\"NAME: <element/>\" per entry, sorted by name.\n"
    "\n"
    "options:\n"
    "      --xml            print the pump's XML answer as it is\n" XB_CLI_COMMON_HELP "\n"
    "exit: 0 ok, 1 failure (unknown thread, ...), 2 usage, 4 no answer in time\n";

static bool is_entry(const xmlNode *n)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "entry") == 0;
}

static int print_entries(xmlNode *root)
{
    char thread[128], conv[512];
    xb_cli_attr(root, "thread", thread, sizeof thread);
    xb_cli_attr(root, "conversation", conv, sizeof conv);
    size_t count = 0;
    for (xmlNode *n = root->children; n; n = n->next)
        count += is_entry(n);
    printf("thread %s conversation %s: %zu entr%s\n", *thread ? thread : "?", *conv ? conv : "?",
           count, count == 1 ? "y" : "ies");
    for (xmlNode *n = root->children; n; n = n->next) {
        if (!is_entry(n))
            continue;
        char name[128];
        xb_cli_attr(n, "name", name, sizeof name);
        char *value = xb_cli_content_line(n);
        if (!value) {
            xb_cli_fail("memory", "out of memory");
            return XB_EXIT_FAIL;
        }
        printf("%s: %s\n", *name ? name : "?", value);
        free(value);
    }
    return XB_EXIT_OK;
}

int xb_cmd_memory(int argc, char **argv)
{
    return xb_cli_thread_verb(argc, argv, "memory", memory_usage, print_entries);
}
