/* `xmlbus envelope`: inspect an envelope the way the pump reads it, or build
 * one around a payload (docs/envelope.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "xmlbus/envelope.h"

static const char usage_text[] =
    "usage: xmlbus envelope FILE|-\n"
    "       xmlbus envelope --build --from NAME [--to NAME] [--thread UUID] FILE|-\n"
    "\n"
    "Reads an envelope from FILE (- for standard input), checks it as the pump\n"
    "does (hardened parse, size/depth/attribute/namespace limits, envelope.xsd,\n"
    "one payload) and prints from, to, thread and the payload type. A thread\n"
    "that is not a canonical UUID is replaced, and the replacement is shown.\n"
    "On error prints FILE:LINE: CODE: MESSAGE and exits 1.\n"
    "\n"
    "With --build, FILE holds one payload element instead; the envelope around\n"
    "it is printed (a fresh thread unless --thread gives a canonical UUID).\n"
    "\n"
    "options:\n"
    "  -b, --build          build an envelope around a payload\n"
    "  -f, --from NAME      the sender (with --build)\n"
    "  -t, --to NAME        the receiver (with --build; optional)\n"
    "      --thread UUID    the thread (with --build; optional)\n"
    "  -h, --help           this text\n"
    "\n"
    "exit codes: 0 ok, 1 invalid input or I/O error, 2 bad command line\n";

enum { OPT_THREAD = 1 };

typedef struct {
    const char *path;
    const char *from, *to, *thread;
    int build;
} opts_t;

/* Reads at most max + 1 bytes of path ("-" = stdin), so that an oversize
 * input is reported as a limit without reading all of it. */
static char *read_input(const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t want = cap - n;
        if (want > max + 1 - n)
            want = max + 1 - n;
        size_t got = fread(buf + n, 1, want, f);
        n += got;
        if (got == 0 || n > max)
            break;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

/* FILE:LINE: CODE: MESSAGE, without the "line N: " the message starts with. */
static void print_error(const char *path, const xb_error_t *err)
{
    const char *msg = err->message;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "line %d: ", err->line);
    if (strncmp(msg, prefix, strlen(prefix)) == 0)
        msg += strlen(prefix);
    fprintf(stderr, "%s:%d: %s: %s\n", strcmp(path, "-") == 0 ? "<stdin>" : path, err->line,
            xb_code_name(err->code), msg);
}

/* Prints text on one line: control characters escaped, long text cut. */
static void print_clean(const char *s, size_t max)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n < max; p++, n++) {
        if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
    if (s[n])
        fputs("...", stdout);
}

static void print_envelope(const xb_envelope_t *e)
{
    printf("from: %s\n", xb_envelope_from(e));
    printf("to: %s\n", xb_envelope_to(e) ? xb_envelope_to(e) : "(none)");
    printf("thread: %s\n", xb_envelope_thread(e));
    if (xb_envelope_thread_replaced(e)) {
        fputs("thread-replaced: '", stdout);
        print_clean(xb_envelope_thread_original(e), 80);
        fputs("' is not a canonical lower-case UUID\n", stdout);
    }
    printf("payload: %s\n", xb_envelope_payload_type(e));
    if (xb_envelope_id(e))
        printf("id: %s\n", xb_envelope_id(e));
    if (xb_envelope_ts(e))
        printf("ts: %lld\n", (long long)xb_envelope_ts(e));
    if (xb_envelope_depth(e))
        printf("depth: %d\n", xb_envelope_depth(e));
    for (xmlNodePtr x = xb_envelope_extension_first(e); x; x = xb_envelope_extension_next(e, x)) {
        if (x->ns && x->ns->href)
            printf("extension: {%s}%s\n", (const char *)x->ns->href, (const char *)x->name);
        else
            printf("extension: %s\n", (const char *)x->name);
    }
}

/* Returns 0 to go on, or -1 with *exit_code set (help, bad command line). */
static int parse_args(int argc, char **argv, opts_t *o, int *exit_code)
{
    static const struct option longopts[] = {
        {"build", no_argument, NULL, 'b'},    {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'}, {"thread", required_argument, NULL, OPT_THREAD},
        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    optind = 1;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "bf:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->build = 1;
            break;
        case 'f':
            o->from = optarg;
            break;
        case 't':
            o->to = optarg;
            break;
        case OPT_THREAD:
            o->thread = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            *exit_code = XB_EXIT_OK;
            return -1;
        default:
            fputs(usage_text, stderr);
            *exit_code = XB_EXIT_USAGE;
            return -1;
        }
    }
    if (optind != argc - 1 || (o->build && !o->from) ||
        (!o->build && (o->from || o->to || o->thread))) {
        fputs(usage_text, stderr);
        *exit_code = XB_EXIT_USAGE;
        return -1;
    }
    o->path = argv[optind];
    return 0;
}

static int run(const opts_t *o, xb_parser_t *p, const char *bytes, size_t len)
{
    xb_error_t err;
    xb_error_clear(&err);
    xb_envelope_t *e = o->build
                           ? xb_envelope_build_bytes(o->from, o->to, o->thread, bytes, len, p, &err)
                           : xb_envelope_parse(p, bytes, len, &err);
    if (!e) {
        size_t max = xb_parser_limits(p)->max_bytes;
        if (err.code == XB_ERR_LIMIT && len > max) /* only max + 1 bytes were read */
            snprintf(err.message, sizeof err.message,
                     "document is larger than the limit of %zu bytes", max);
        print_error(o->path, &err);
        return XB_EXIT_FAIL;
    }
    int rc = XB_EXIT_OK;
    if (o->build) {
        char *out = NULL;
        size_t n = 0;
        if (xb_envelope_serialize(e, &out, &n) < 0) {
            fprintf(stderr, "xmlbus envelope: out of memory\n");
            rc = XB_EXIT_FAIL;
        } else {
            fwrite(out, 1, n, stdout);
            putchar('\n');
            free(out);
        }
    } else {
        print_envelope(e);
    }
    xb_envelope_destroy(&e);
    return rc;
}

int xb_cmd_envelope(int argc, char **argv)
{
    opts_t o;
    int rc = XB_EXIT_USAGE;
    if (parse_args(argc, argv, &o, &rc) < 0)
        return rc;
    xb_xml_init();
    xb_error_t err;
    xb_error_clear(&err);
    xb_parser_t *p = xb_parser_new(NULL, &err);
    if (!p) {
        fprintf(stderr, "xmlbus envelope: %s\n", err.message);
        return XB_EXIT_FAIL;
    }
    size_t len = 0;
    errno = 0;
    char *bytes = read_input(o.path, xb_parser_limits(p)->max_bytes, &len);
    if (!bytes) {
        fprintf(stderr, "xmlbus envelope: cannot read %s: %s\n", o.path,
                errno ? strerror(errno) : "error");
        xb_parser_destroy(&p);
        return XB_EXIT_FAIL;
    }
    rc = run(&o, p, bytes, len);
    free(bytes);
    xb_parser_destroy(&p);
    return rc;
}
