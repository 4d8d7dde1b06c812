/* What the `xmlbus` verbs share: the common options (-c organism.yaml |
 * -e ENDPOINT, --timeout, --log-level, --help), finding the pump's endpoint,
 * the exit codes, and reading the XML the pump sends back. */
#ifndef XMLBUS_CLI_COMMON_H
#define XMLBUS_CLI_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

#include "xmlbus/client.h"
#include "xmlbus/error.h"
#include "log.h"

/* Exit codes of every verb (docs/cli.md). */
enum {
    XB_EXIT_OK = 0,
    XB_EXIT_FAIL = 1,     /* refused, config error, I/O error, request failed */
    XB_EXIT_USAGE = 2,    /* bad command line */
    XB_EXIT_SYSERROR = 3, /* send --wait: a SystemError came back */
    XB_EXIT_TIMEOUT = 4,  /* nothing (or not enough) came back in time */
};

#define XB_CLI_DEFAULT_TIMEOUT_S 10.0

/* getopt_long values of the long-only common options. */
enum {
    XB_OPT_TIMEOUT = 1000,
    XB_OPT_LOG_LEVEL,
    XB_OPT_KEY,
    XB_OPT_SERVER_KEY,
    XB_OPT_FIRST_VERB_OPTION = 1100
};

/* Short and long common options, to put in front of a verb's own. */
#define XB_CLI_SHORTOPTS "c:e:h"
#define XB_CLI_LONGOPTS                                                                   \
    {"config", required_argument, NULL, 'c'}, {"endpoint", required_argument, NULL, 'e'}, \
        {"timeout", required_argument, NULL, XB_OPT_TIMEOUT},                             \
        {"log-level", required_argument, NULL, XB_OPT_LOG_LEVEL},                         \
        {"key", required_argument, NULL, XB_OPT_KEY},                                     \
        {"server-key", required_argument, NULL, XB_OPT_SERVER_KEY},                       \
    {                                                                                     \
        "help", no_argument, NULL, 'h'                                                    \
    }

/* Help lines of the common options, for each verb's usage text. */
#define XB_CLI_COMMON_HELP                                                              \
    "  -c, --config FILE    organism.yaml whose endpoint to use\n"                      \
    "  -e, --endpoint EP    the pump's ZeroMQ endpoint (wins over -c)\n"                \
    "      --timeout S      give up after S seconds (default 10)\n"                     \
    "      --log-level L    error|warn|info|debug (default warn)\n"                     \
    "      --key FILE       this client's CURVE secret key file (or $XMLBUS_KEY)\n"     \
    "      --server-key F   the pump's CURVE public key file (or $XMLBUS_SERVER_KEY)\n" \
    "  -h, --help           this text\n"

typedef struct {
    const char *verb;        /* argv[0] of the verb, for messages */
    const char *config_path; /* -c */
    const char *endpoint;    /* -e */
    double timeout_s;        /* --timeout */
    const char *key;         /* --key: path of the client's secret key file */
    const char *server_key;  /* --server-key: path of the pump's public key file */
    bool help;               /* -h */
} xb_cli_opts_t;

/* Defaults for verb (log level warn: a client prints results, not chatter). */
void xb_cli_opts_init(xb_cli_opts_t *o, const char *verb);

/* Handles one getopt_long result if it is a common option. Returns 1 when it
 * was one, 0 when it is not (the verb handles it), -1 on a bad value (message
 * printed; the verb exits XB_EXIT_USAGE). */
int xb_cli_common_option(xb_cli_opts_t *o, int opt, const char *arg);

/* Prints "xmlbus VERB: " and the message to stderr. */
void xb_cli_fail(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints usage (the verb's text) to stdout for --help (returns XB_EXIT_OK) or
 * to stderr after a bad command line (returns XB_EXIT_USAGE). */
int xb_cli_usage(const char *usage, bool asked);

/* The pump's endpoint, in this order: -e; the endpoint of -c FILE; the
 * environment variable XMLBUS_ENDPOINT; ./organism.yaml if it exists; the
 * default tcp://127.0.0.1:7400. Writes it to out (cap bytes). Returns 0, or
 * -1 with *err set (unreadable organism.yaml: its FILE:LINE:COL message). */
int xb_cli_endpoint(const xb_cli_opts_t *o, char *out, size_t cap, xb_error_t *err);

/* The timeout in milliseconds for the client calls. */
int xb_cli_timeout_ms(const xb_cli_opts_t *o);

/* Connects a client to the endpoint of o, with CURVE when --key and
 * --server-key or XMLBUS_KEY and XMLBUS_SERVER_KEY name key files. Returns it (caller owns it) or
 * NULL with the failure printed and *exit_code set. */
xb_client_t *xb_cli_connect(const xb_cli_opts_t *o, int *exit_code);

/* The exit code for a failed client call: XB_EXIT_TIMEOUT for a timeout,
 * XB_EXIT_FAIL otherwise. */
int xb_cli_exit_for(const xb_error_t *err);

/* Sends CONTROL verb args and returns the RESULT body (caller frees) or NULL
 * with the failure printed and *exit_code set. */
char *xb_cli_control(const xb_cli_opts_t *o, const char *verb, const char *const *args,
                     size_t nargs, int *exit_code);

/* Prints a RESULT body as it came (for --xml), with exactly one newline at
 * the end. */
void xb_cli_print_body(const char *body);

/* The start of a verb whose only own option is --xml: xb_cli_opts_init(o,
 * verb), then argv's common options into o and --xml into *xml. Leaves
 * optind at the first operand. Returns -1 to go on, or the exit code the
 * verb returns at once (--help: its usage on stdout and XB_EXIT_OK; a bad
 * option: usage on stderr and XB_EXIT_USAGE). */
int xb_cli_parse_xml_verb(int argc, char **argv, const char *verb, const char *usage,
                          xb_cli_opts_t *o, bool *xml);

/* Asks the pump CONTROL verb args and handles its answer the way the query
 * verbs do. With doc not NULL the answer is parsed into *doc first (caller
 * frees with xmlFreeDoc); a failure to parse prints why, prints nothing else
 * and returns XB_EXIT_FAIL. Then with print_xml the answer is printed as it
 * came (xb_cli_print_body). Returns XB_EXIT_OK, or the exit code of the
 * failure (already printed) with *doc NULL. */
int xb_cli_query(const xb_cli_opts_t *o, const char *verb, const char *const *args, size_t nargs,
                 bool print_xml, xmlDoc **doc);

/* Prints every attribute of n as a "name: value" line (so that counters a
 * newer pump adds show up without a change here). */
void xb_cli_print_attributes(const xmlNode *n);

/* Parses a RESULT body (trusted-ish XML from the pump, parsed without DTD,
 * entities or network). Returns the document (caller frees with xmlFreeDoc)
 * or NULL with a message printed. */
xmlDoc *xb_cli_parse_xml(const char *verb, const char *xml, size_t len);

/* Copies the value of attribute name (no namespace) of n into buf (cap
 * bytes, truncated) and returns buf; "" when the attribute is absent. */
const char *xb_cli_attr(const xmlNode *n, const char *name, char *buf, size_t cap);

/* A one-line rendering of an element (payload) as XML: the empty-namespace
 * undeclaration xmlns="" is left out, line breaks and the indentation after
 * them become single spaces. Caller frees. NULL on no memory. */
char *xb_cli_node_line(xmlNode *n);

/* The first element child of n on one line (xb_cli_node_line), or n's text
 * when it has none (an escaped payload). Caller frees. NULL on no memory. */
char *xb_cli_content_line(xmlNode *n);

/* The whole of a verb whose one operand is a THREAD and whose only own
 * option is --xml (history, memory): CONTROL verb THREAD, then with --xml
 * the answer as it is, otherwise print(its root element). Returns the exit
 * code (print's when it ran). */
int xb_cli_thread_verb(int argc, char **argv, const char *verb, const char *usage,
                       int (*print)(xmlNode *root));

/* What `xmlbus send --wait` prints for one received envelope. */
typedef struct {
    char *from;        /* sender's name ("system" for errors) */
    char *to;          /* may be NULL */
    char *thread;      /* may be NULL */
    char *payload;     /* the payload on one line (xb_cli_node_line) */
    bool system_error; /* the payload is a SystemError */
    char *error_code;  /* its code, when system_error */
} xb_cli_message_t;

/* Reads an envelope. Returns 0, or -1 when it is not a readable envelope.
 * Release with xb_cli_message_free. */
int xb_cli_message_read(const char *envelope, size_t len, xb_cli_message_t *m);
void xb_cli_message_free(xb_cli_message_t *m);

/* Formats microseconds since the epoch as local "YYYY-MM-DD HH:MM:SS.mmm". */
void xb_cli_format_us(const char *us_text, char *out, size_t cap);

#endif
