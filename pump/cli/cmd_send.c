/* `xmlbus send`: injects a payload or a whole envelope, prints the thread
 * UUID and, with --wait, the messages that come back. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_common.h"
#include "commands.h"

#define MAX_INPUT_BYTES (64u * 1024u * 1024u)
#define DEFAULT_IDLE_MS 500

static const char send_usage[] =
    "usage: xmlbus send [OPTIONS] FILE|-\n"
    "\n"
    "Injects the XML in FILE (or on stdin for -): a bare payload element or a\n"
    "whole envelope. Prints the UUID of the sender's thread on the first line\n"
    "of stdout. With --wait, then prints every message that comes back, one\n"
    "line each: \"from NAME: <payload .../>\".\n"
    "\n"
    "options:\n"
    "      --to NAME        deliver to listener NAME (overrides <to>)\n"
    "      --from NAME      the sender's hop name (default console)\n"
    "  -w, --wait           wait for the messages that come back\n"
    "  -n, --count N        with --wait: stop after N messages (implies --wait)\n"
    "      --idle MS        with --wait and no --count: stop once MS ms pass\n"
    "                       without a message after the first (default 500)\n"
    "      --raw            print each message as its whole envelope\n" XB_CLI_COMMON_HELP "\n"
    "--timeout bounds the whole command: the pump's answer and the wait.\n"
    "\n"
    "exit: 0 accepted (with --wait: at least one message, --count reached,\n"
    "      no SystemError), 1 refused by the pump or other failure, 2 usage,\n"
    "      3 a SystemError came back, 4 timeout (no pump answer, nothing came\n"
    "      back, or fewer than --count messages)\n";

enum { OPT_TO = XB_OPT_FIRST_VERB_OPTION, OPT_FROM, OPT_IDLE, OPT_RAW };

typedef struct {
    xb_cli_opts_t o;
    const char *to, *from, *file;
    bool wait, raw;
    long count; /* 0 = not given */
    long idle_ms;
} send_args_t;

static int parse_long(const char *arg, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = arg ? strtol(arg, &end, 10) : 0;
    if (!arg || end == arg || *end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Returns -1 to continue, or an exit code. */
static int parse_send(int argc, char **argv, send_args_t *a)
{
    static const struct option longopts[] = {
        XB_CLI_LONGOPTS,
        {"to", required_argument, NULL, OPT_TO},
        {"from", required_argument, NULL, OPT_FROM},
        {"wait", no_argument, NULL, 'w'},
        {"count", required_argument, NULL, 'n'},
        {"idle", required_argument, NULL, OPT_IDLE},
        {"raw", no_argument, NULL, OPT_RAW},
        {NULL, 0, NULL, 0},
    };
    xb_cli_opts_init(&a->o, "send");
    a->idle_ms = DEFAULT_IDLE_MS;
    int opt;
    while ((opt = getopt_long(argc, argv, XB_CLI_SHORTOPTS "wn:", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_TO:
            a->to = optarg;
            break;
        case OPT_FROM:
            a->from = optarg;
            break;
        case 'w':
            a->wait = true;
            break;
        case OPT_RAW:
            a->raw = true;
            break;
        case 'n':
            if (parse_long(optarg, 1, 1000000, &a->count) != 0) {
                xb_cli_fail("send", "--count wants a number from 1, got '%s'", optarg);
                return xb_cli_usage(send_usage, false);
            }
            a->wait = true;
            break;
        case OPT_IDLE:
            if (parse_long(optarg, 1, INT_MAX, &a->idle_ms) != 0) {
                xb_cli_fail("send", "--idle wants milliseconds from 1, got '%s'", optarg);
                return xb_cli_usage(send_usage, false);
            }
            break;
        default:
            if (xb_cli_common_option(&a->o, opt, optarg) <= 0)
                return xb_cli_usage(send_usage, false);
        }
    }
    if (a->o.help)
        return xb_cli_usage(send_usage, true);
    if (optind + 1 != argc) {
        xb_cli_fail("send", optind >= argc ? "which message? give a FILE or - for stdin"
                                           : "give exactly one FILE");
        return xb_cli_usage(send_usage, false);
    }
    a->file = argv[optind];
    return -1;
}

/* Reads all of f (at most MAX_INPUT_BYTES). Returns a malloc'd buffer. */
static char *read_all(FILE *f, const char *name, size_t *len)
{
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        xb_cli_fail("send", "out of memory");
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_INPUT_BYTES) {
                xb_cli_fail("send", "%s: larger than %u bytes", name, MAX_INPUT_BYTES);
                free(buf);
                return NULL;
            }
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                xb_cli_fail("send", "out of memory");
                free(buf);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        xb_cli_fail("send", "%s: %s", name, strerror(errno));
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static char *read_input(const char *file, size_t *len)
{
    if (strcmp(file, "-") == 0)
        return read_all(stdin, "stdin", len);
    FILE *f = fopen(file, "rb");
    if (!f) {
        xb_cli_fail("send", "%s: %s", file, strerror(errno));
        return NULL;
    }
    char *buf = read_all(f, file, len);
    fclose(f);
    return buf;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints one received envelope; returns true when it is a SystemError. */
static bool print_message(const send_args_t *a, const char *env, size_t len)
{
    xb_cli_message_t m;
    if (xb_cli_message_read(env, len, &m) != 0) {
        xb_cli_fail("send", "received something that is not an envelope:");
        printf("%s\n", env);
        return false;
    }
    if (a->raw)
        printf("%s\n", env);
    else
        printf("from %s: %s\n", m.from, m.payload);
    fflush(stdout);
    bool is_error = m.system_error;
    xb_cli_message_free(&m);
    return is_error;
}

/* The --wait loop (rule in docs/cli.md). Returns the exit code. */
static int wait_for_messages(const send_args_t *a, xb_client_t *c, long long deadline)
{
    long received = 0;
    bool saw_error = false;
    for (;;) {
        if (a->count && received >= a->count)
            break;
        long long left = deadline - now_ms();
        if (left < 0)
            left = 0;
        long long wait = left;
        bool idle_wait = !a->count && received > 0 && a->idle_ms < left;
        if (idle_wait)
            wait = a->idle_ms;
        char *env = NULL;
        size_t len = 0;
        xb_error_t err;
        xb_error_clear(&err);
        int rc = xb_client_recv(c, (int)wait, &env, &len, &err);
        if (rc < 0) {
            xb_cli_fail("send", "%s", err.message);
            return XB_EXIT_FAIL;
        }
        if (rc == 1) {
            if (idle_wait || (!a->count && received > 0))
                break; /* the conversation went quiet, or the time is up */
            if (saw_error)
                return XB_EXIT_SYSERROR;
            if (a->count)
                xb_cli_fail("send", "%ld of %ld messages arrived within %g s", received, a->count,
                            a->o.timeout_s);
            else
                xb_cli_fail("send", "no message came back within %g s", a->o.timeout_s);
            return XB_EXIT_TIMEOUT;
        }
        received++;
        saw_error |= print_message(a, env, len);
        free(env);
    }
    return saw_error ? XB_EXIT_SYSERROR : XB_EXIT_OK;
}

/* Reports a refused send: the SystemError the pump answered with. */
static void report_rejection(xb_client_t *c, const xb_error_t *err)
{
    xb_cli_fail("send", "the pump refused the message (%s): %s", xb_code_name(err->code),
                err->message);
    size_t len = 0;
    const char *env = xb_client_rejection(c, &len);
    xb_cli_message_t m;
    if (env && xb_cli_message_read(env, len, &m) == 0) {
        fprintf(stderr, "from %s: %s\n", m.from, m.payload);
        xb_cli_message_free(&m);
    }
}

int xb_cmd_send(int argc, char **argv)
{
    send_args_t a;
    memset(&a, 0, sizeof a);
    int rc = parse_send(argc, argv, &a);
    if (rc >= 0)
        return rc;
    size_t len = 0;
    char *body = read_input(a.file, &len);
    if (!body)
        return XB_EXIT_FAIL;
    if (len == 0) {
        xb_cli_fail("send", "%s is empty", strcmp(a.file, "-") == 0 ? "stdin" : a.file);
        free(body);
        return XB_EXIT_FAIL;
    }
    long long deadline = now_ms() + xb_cli_timeout_ms(&a.o);
    xb_client_t *c = xb_cli_connect(&a.o, &rc);
    if (!c) {
        free(body);
        return rc;
    }
    char thread[XB_UUID_STR], msgid[XB_UUID_STR];
    xb_error_t err;
    xb_error_clear(&err);
    if (xb_client_send(c, body, len, a.to, a.from, xb_cli_timeout_ms(&a.o), thread, msgid, &err) !=
        0) {
        if (xb_client_rejection(c, NULL))
            report_rejection(c, &err);
        else if (err.code == XB_ERR_TIMEOUT)
            xb_cli_fail("send", "no answer from the pump at %s within %g s (is it running?)",
                        xb_client_endpoint(c), a.o.timeout_s);
        else
            xb_cli_fail("send", "%s", err.message);
        rc = xb_client_rejection(c, NULL) ? XB_EXIT_FAIL : xb_cli_exit_for(&err);
    } else {
        printf("%s\n", thread);
        fflush(stdout);
        XB_INFO("send", "accepted: thread %s, message %s", thread, msgid);
        rc = a.wait ? wait_for_messages(&a, c, deadline) : XB_EXIT_OK;
    }
    xb_client_destroy(&c);
    free(body);
    return rc;
}
