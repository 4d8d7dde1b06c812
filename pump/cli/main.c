/* `xmlbus VERB ...`: finds the verb and hands it the rest of the command
 * line (argv[0] becomes the verb name). */
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlversion.h>
#include <zmq.h>

#include "cli_common.h"
#include "commands.h"
#include "xmlbus/xmlsafe.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} verb_t;

static const verb_t verbs[] = {
    {"run", xb_cmd_run, "run the pump of an organism (organism.yaml)"},
    {"check", xb_cmd_check, "check an organism.yaml, its schemas and listeners"},
    {"send", xb_cmd_send, "inject a message, optionally wait for the answers"},
    {"threads", xb_cmd_threads, "list the threads of a running pump"},
    {"history", xb_cmd_history, "print the slots (history) of one thread"},
    {"memory", xb_cmd_memory, "print the working memory of one thread's conversation"},
    {"stats", xb_cmd_stats, "per-listener counters of a running pump"},
    {"backend", xb_cmd_backend, "backend information (backend info)"},
    {"dead-letters", xb_cmd_dead, "the journal's dead letters: list, show, retry, purge"},
    {"envelope", xb_cmd_envelope, "build or inspect an envelope"},
    {"keygen", xb_cmd_keygen, "generate a CURVE keypair: NAME.key, NAME.key_secret"},
    {"ping", xb_cmd_ping, "check that a pump answers"},
    {"stop", xb_cmd_stop, "ask a running pump to shut down"},
};

#define N_VERBS (sizeof verbs / sizeof verbs[0])

static void print_help(FILE *out)
{
    fprintf(out, "usage: xmlbus VERB [OPTIONS] [ARGS]\n"
                 "       xmlbus VERB --help | xmlbus help VERB\n"
                 "       xmlbus --version\n\nverbs:\n");
    for (size_t i = 0; i < N_VERBS; i++)
        fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
    fprintf(out, "\nexit codes: 0 ok, 1 failure, 2 usage, 3 SystemError received, "
                 "4 timeout (see docs/cli.md)\n");
}

static const verb_t *find_verb(const char *name)
{
    for (size_t i = 0; i < N_VERBS; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

static int unknown_verb(const char *name)
{
    fprintf(stderr, "xmlbus: unknown verb '%s'\n\n", name);
    print_help(stderr);
    return XB_EXIT_USAGE;
}

/* `xmlbus help [VERB]`. */
static int help(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stdout);
        return XB_EXIT_OK;
    }
    const verb_t *v = find_verb(argv[1]);
    if (!v)
        return unknown_verb(argv[1]);
    char help_opt[] = "--help";
    char *args[] = {argv[1], help_opt, NULL};
    return v->run(2, args);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return XB_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_help(stdout);
        return XB_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        int major, minor, patch;
        zmq_version(&major, &minor, &patch);
        printf("xmlbus %s (libzmq %d.%d.%d, libxml2 %s)\n", XMLBUS_VERSION, major, minor, patch,
               LIBXML_DOTTED_VERSION);
        return XB_EXIT_OK;
    }
    if (strcmp(name, "help") == 0)
        return help(argc - 1, argv + 1);
    const verb_t *v = find_verb(name);
    if (!v)
        return unknown_verb(name);
    xb_xml_init(); /* before any verb starts threads (the pump does) */
    int rc = v->run(argc - 1, argv + 1);
    xmlCleanupParser();
    return rc;
}
