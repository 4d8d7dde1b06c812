/* `xmlbus threads`: the threads a running pump knows, page after page
 * (CONTROL threads cursor count, until the cursor is "0"). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"

static const char threads_usage[] =
    "usage: xmlbus threads [OPTIONS]\n"
    "\n"
    "Lists the threads of the running pump (CONTROL threads, one page after\n"
    "the other), one row each: UUID, number of slots, last activity (local\n"
    "time), call chain.\n"
    "\n"
    "options:\n"
    "  -q, --quiet          print only the UUIDs, one a line\n"
    "      --limit N        stop after N threads (default: all)\n"
    "      --xml            print the pump's XML answers as they are, one a "
    "page\n" XB_CLI_COMMON_HELP "\n"
    "exit: 0 ok, 1 failure, 2 usage, 4 no answer in time\n";

enum { OPT_XML = XB_OPT_FIRST_VERB_OPTION, OPT_LIMIT };

/* Threads asked for per page: the pump's default page. */
#define PAGE 100

/* Prints the rows of one page, at most `most` (a redis page may hold a few
 * more than asked for); *rows counts them all. */
static void print_page(xmlNode *root, bool quiet, size_t most, size_t *rows)
{
    size_t printed = 0;
    for (xmlNode *n = root->children; n && printed < most; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "thread") != 0)
            continue;
        printed++;
        char uuid[128], chain[1024], slots[32], us[32], when[64];
        xb_cli_attr(n, "uuid", uuid, sizeof uuid);
        if (quiet) {
            printf("%s\n", uuid);
            continue;
        }
        if ((*rows)++ == 0)
            printf("%-36s %6s  %-23s  %s\n", "UUID", "SLOTS", "LAST ACTIVITY", "CHAIN");
        xb_cli_attr(n, "chain", chain, sizeof chain);
        xb_cli_attr(n, "slots", slots, sizeof slots);
        xb_cli_format_us(xb_cli_attr(n, "last-activity-us", us, sizeof us), when, sizeof when);
        printf("%-36s %6s  %-23s  %s\n", uuid, *slots ? slots : "-", when, *chain ? chain : "-");
    }
    if (quiet)
        *rows += printed;
}

/* N of --limit: a positive decimal. Returns 0 on a bad value. */
static size_t parse_limit(const char *s)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    return !end || *end || errno || v == 0 || v > SIZE_MAX ? 0 : (size_t)v;
}

/* Asks for pages until the cursor is "0" or limit threads are printed. */
static int list_pages(const xb_cli_opts_t *o, bool quiet, bool xml, size_t limit)
{
    char cursor[256] = "0", count[32];
    size_t rows = 0;
    do {
        size_t want = limit - rows < PAGE ? limit - rows : PAGE;
        snprintf(count, sizeof count, "%zu", want);
        const char *args[] = {cursor, count};
        xmlDoc *doc = NULL;
        int rc = xb_cli_query(o, "threads", args, 2, xml, &doc);
        if (rc != XB_EXIT_OK)
            return rc;
        xmlNode *root = xmlDocGetRootElement(doc);
        if (!xml)
            print_page(root, quiet, limit - rows, &rows);
        else
            for (xmlNode *n = root->children; n; n = n->next)
                rows += n->type == XML_ELEMENT_NODE;
        /* No cursor: a pump that answers in one page. */
        if (!*xb_cli_attr(root, "cursor", cursor, sizeof cursor))
            snprintf(cursor, sizeof cursor, "0");
        xmlFreeDoc(doc);
    } while (strcmp(cursor, "0") != 0 && rows < limit);
    if (!quiet && !xml && rows == 0)
        printf("(no threads)\n");
    return XB_EXIT_OK;
}

int xb_cmd_threads(int argc, char **argv)
{
    static const struct option longopts[] = {
        XB_CLI_LONGOPTS,
        {"quiet", no_argument, NULL, 'q'},
        {"xml", no_argument, NULL, OPT_XML},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    xb_cli_opts_t o;
    xb_cli_opts_init(&o, "threads");
    bool quiet = false, xml = false;
    size_t limit = SIZE_MAX;
    int opt;
    while ((opt = getopt_long(argc, argv, XB_CLI_SHORTOPTS "q", longopts, NULL)) != -1) {
        if (opt == 'q') {
            quiet = true;
        } else if (opt == OPT_XML) {
            xml = true;
        } else if (opt == OPT_LIMIT) {
            if (!(limit = parse_limit(optarg))) {
                xb_cli_fail("threads", "--limit: '%s' is not a positive number", optarg);
                return xb_cli_usage(threads_usage, false);
            }
        } else if (xb_cli_common_option(&o, opt, optarg) <= 0)
            return xb_cli_usage(threads_usage, false);
    }
    if (o.help)
        return xb_cli_usage(threads_usage, true);
    if (optind < argc) {
        xb_cli_fail("threads", "unexpected argument '%s'", argv[optind]);
        return xb_cli_usage(threads_usage, false);
    }
    return list_pages(&o, quiet, xml, limit);
}
