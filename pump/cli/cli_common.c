/* Shared pieces of the `xmlbus` verbs (see cli_common.h). */
#include "cli_common.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xmlbus/config.h"

#define ENVELOPE_NS "https://xml-pipeline.org/ns/envelope/v1"
#define XB_CLI_MAX_TIMEOUT_S (7.0 * 24 * 3600)

void xb_cli_opts_init(xb_cli_opts_t *o, const char *verb)
{
    memset(o, 0, sizeof *o);
    o->verb = verb;
    o->timeout_s = XB_CLI_DEFAULT_TIMEOUT_S;
    xb_log_set_level(XB_LOG_WARN);
}

void xb_cli_fail(const char *verb, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "xmlbus %s: ", verb ? verb : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int xb_cli_usage(const char *usage, bool asked)
{
    fputs(usage, asked ? stdout : stderr);
    return asked ? XB_EXIT_OK : XB_EXIT_USAGE;
}

/* Seconds as a positive decimal number. */
static int parse_seconds(const char *arg, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = arg ? strtod(arg, &end) : 0;
    if (!arg || end == arg || *end || errno || !(v > 0) || v > XB_CLI_MAX_TIMEOUT_S)
        return -1;
    *out = v;
    return 0;
}

int xb_cli_common_option(xb_cli_opts_t *o, int opt, const char *arg)
{
    switch (opt) {
    case 'c':
        o->config_path = arg;
        return 1;
    case 'e':
        if (!arg || !*arg) {
            xb_cli_fail(o->verb, "--endpoint needs a ZeroMQ endpoint");
            return -1;
        }
        o->endpoint = arg;
        return 1;
    case 'h':
        o->help = true;
        return 1;
    case XB_OPT_TIMEOUT:
        if (parse_seconds(arg, &o->timeout_s) != 0) {
            xb_cli_fail(o->verb, "--timeout wants seconds > 0, got '%s'", arg ? arg : "");
            return -1;
        }
        return 1;
    case XB_OPT_KEY:
    case XB_OPT_SERVER_KEY:
        if (!arg || !*arg) {
            xb_cli_fail(o->verb, "%s needs the path of a key file",
                        opt == XB_OPT_KEY ? "--key" : "--server-key");
            return -1;
        }
        *(opt == XB_OPT_KEY ? &o->key : &o->server_key) = arg;
        return 1;
    case XB_OPT_LOG_LEVEL: {
        xb_log_level_t level;
        if (xb_log_level_parse(arg, &level) != 0) {
            xb_cli_fail(o->verb, "--log-level wants error|warn|info|debug, got '%s'",
                        arg ? arg : "");
            return -1;
        }
        xb_log_set_level(level);
        return 1;
    }
    default:
        return 0;
    }
}

int xb_cli_timeout_ms(const xb_cli_opts_t *o)
{
    double ms = o->timeout_s * 1000.0;
    return ms >= (double)INT_MAX ? INT_MAX : (int)ms;
}

/* A client cannot connect to a wildcard: only the pump knows the real port. */
static int check_client_endpoint(const char *ep, const char *where, xb_error_t *err)
{
    size_t n = strlen(ep);
    if (strncmp(ep, "inproc://", 9) == 0)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "%s: '%s' is an inproc:// endpoint, which only "
                            "works inside one program; use -e with a tcp:// or ipc:// endpoint",
                            where, ep);
    if ((n >= 2 && strcmp(ep + n - 2, ":*") == 0) || (n >= 2 && strcmp(ep + n - 2, ":0") == 0))
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "%s: '%s' asks for a random port; pass the real "
                            "endpoint with -e (xmlbus run --endpoint-file writes it down)",
                            where, ep);
    return 0;
}

static int endpoint_from_config(const char *path, char *out, size_t cap, xb_error_t *err)
{
    xb_config_t *cfg = xb_config_load(path, err);
    if (!cfg)
        return -1;
    int rc = 0;
    if (strlen(cfg->endpoint) >= cap)
        rc = xb_error_set(err, XB_ERR_ARG, 0, "%s: endpoint too long", path);
    else
        snprintf(out, cap, "%s", cfg->endpoint);
    xb_config_destroy(&cfg);
    if (rc == 0)
        rc = check_client_endpoint(out, path, err);
    return rc;
}

static int copy_endpoint(const char *ep, const char *where, char *out, size_t cap, xb_error_t *err)
{
    if (strlen(ep) >= cap)
        return xb_error_set(err, XB_ERR_ARG, 0, "%s: endpoint too long", where);
    snprintf(out, cap, "%s", ep);
    return check_client_endpoint(out, where, err);
}

int xb_cli_endpoint(const xb_cli_opts_t *o, char *out, size_t cap, xb_error_t *err)
{
    if (o->endpoint)
        return copy_endpoint(o->endpoint, "--endpoint", out, cap, err);
    if (o->config_path)
        return endpoint_from_config(o->config_path, out, cap, err);
    const char *env = getenv("XMLBUS_ENDPOINT");
    if (env && *env)
        return copy_endpoint(env, "XMLBUS_ENDPOINT", out, cap, err);
    if (access("organism.yaml", F_OK) == 0)
        return endpoint_from_config("organism.yaml", out, cap, err);
    return copy_endpoint(XB_DEFAULT_ENDPOINT, "default endpoint", out, cap, err);
}

int xb_cli_exit_for(const xb_error_t *err)
{
    return err->code == XB_ERR_TIMEOUT ? XB_EXIT_TIMEOUT : XB_EXIT_FAIL;
}

xb_client_t *xb_cli_connect(const xb_cli_opts_t *o, int *exit_code)
{
    char endpoint[1024];
    xb_error_t err;
    xb_error_clear(&err);
    if (xb_cli_endpoint(o, endpoint, sizeof endpoint, &err) != 0) {
        xb_cli_fail(o->verb, "%s", err.message);
        *exit_code = XB_EXIT_FAIL;
        return NULL;
    }
    xb_client_t *c = xb_client_new_secure(endpoint, NULL, o->key, o->server_key, &err);
    if (!c) {
        xb_cli_fail(o->verb, "%s", err.message);
        *exit_code = XB_EXIT_FAIL;
    }
    return c;
}

char *xb_cli_control(const xb_cli_opts_t *o, const char *verb, const char *const *args,
                     size_t nargs, int *exit_code)
{
    xb_client_t *c = xb_cli_connect(o, exit_code);
    if (!c)
        return NULL;
    char *body = NULL;
    xb_error_t err;
    xb_error_clear(&err);
    if (xb_client_control(c, verb, args, nargs, xb_cli_timeout_ms(o), &body, &err) != 0) {
        if (err.code == XB_ERR_TIMEOUT)
            xb_cli_fail(o->verb, "no answer from the pump at %s within %g s (is it running?)",
                        xb_client_endpoint(c), o->timeout_s);
        else
            xb_cli_fail(o->verb, "%s", err.message);
        *exit_code = xb_cli_exit_for(&err);
        body = NULL;
    }
    xb_client_destroy(&c);
    return body;
}

void xb_cli_print_body(const char *body)
{
    size_t n = strlen(body);
    while (n && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' '))
        n--;
    printf("%.*s\n", (int)(n > INT_MAX ? INT_MAX : n), body);
}

int xb_cli_parse_xml_verb(int argc, char **argv, const char *verb, const char *usage,
                          xb_cli_opts_t *o, bool *xml)
{
    enum { OPT_XML = XB_OPT_FIRST_VERB_OPTION };
    static const struct option longopts[] = {
        XB_CLI_LONGOPTS,
        {"xml", no_argument, NULL, OPT_XML},
        {NULL, 0, NULL, 0},
    };
    xb_cli_opts_init(o, verb);
    *xml = false;
    int opt;
    while ((opt = getopt_long(argc, argv, XB_CLI_SHORTOPTS, longopts, NULL)) != -1) {
        if (opt == OPT_XML)
            *xml = true;
        else if (xb_cli_common_option(o, opt, optarg) <= 0)
            return xb_cli_usage(usage, false);
    }
    if (o->help)
        return xb_cli_usage(usage, true);
    return -1;
}

int xb_cli_query(const xb_cli_opts_t *o, const char *verb, const char *const *args, size_t nargs,
                 bool print_xml, xmlDoc **doc)
{
    if (doc)
        *doc = NULL;
    int rc = XB_EXIT_OK;
    char *body = xb_cli_control(o, verb, args, nargs, &rc);
    if (!body)
        return rc;
    if (doc && !(*doc = xb_cli_parse_xml(o->verb, body, strlen(body)))) {
        free(body);
        return XB_EXIT_FAIL;
    }
    if (print_xml)
        xb_cli_print_body(body);
    free(body);
    return XB_EXIT_OK;
}

void xb_cli_print_attributes(const xmlNode *n)
{
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);
        printf("%s: %s\n", (const char *)a->name, v ? (const char *)v : "");
        xmlFree(v);
    }
}

xmlDoc *xb_cli_parse_xml(const char *verb, const char *xml, size_t len)
{
    if (!xml || len == 0) {
        xb_cli_fail(verb, "the pump sent an empty answer");
        return NULL;
    }
    xb_error_t err;
    xb_error_clear(&err);
    xmlDoc *doc = xb_client_read_xml(xml, len, &err);
    if (!doc || !xmlDocGetRootElement(doc)) {
        xb_cli_fail(verb, "the pump sent an answer that is not XML (%s): %.200s", err.message, xml);
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

const char *xb_cli_attr(const xmlNode *n, const char *name, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return "";
    buf[0] = '\0';
    xmlChar *v = n ? xmlGetNoNsProp(n, (const xmlChar *)name) : NULL;
    if (v)
        snprintf(buf, cap, "%s", (const char *)v);
    xmlFree(v);
    return buf;
}

/* Drops xmlns="" from n: the payload sits in the empty namespace inside an
 * envelope with a default namespace, which is noise once it stands alone. */
static void drop_empty_default_ns(xmlNode *n)
{
    if (n->ns)
        return;
    for (xmlNs **p = &n->nsDef; *p;) {
        xmlNs *ns = *p;
        if (!ns->prefix && (!ns->href || !*ns->href)) {
            *p = ns->next;
            ns->next = NULL;
            xmlFreeNs(ns);
            continue;
        }
        p = &ns->next;
    }
}

/* Line breaks and the blanks around them become one space. */
static void squeeze_lines(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (*r == '\n' || *r == '\r') {
            while (w > s && (w[-1] == ' ' || w[-1] == '\t'))
                w--;
            while (*r == '\n' || *r == '\r' || *r == ' ' || *r == '\t')
                r++;
            *w++ = ' ';
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
}

char *xb_cli_node_line(xmlNode *n)
{
    if (!n)
        return strdup("");
    drop_empty_default_ns(n);
    xmlBuffer *buf = xmlBufferCreate();
    if (!buf)
        return NULL;
    char *out = NULL;
    if (xmlNodeDump(buf, n->doc, n, 0, 0) >= 0)
        out = strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    if (out)
        squeeze_lines(out);
    return out;
}

char *xb_cli_content_line(xmlNode *n)
{
    for (xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return xb_cli_node_line(c);
    xmlChar *t = xmlNodeGetContent(n);
    char *s = strdup(t ? (const char *)t : "");
    xmlFree(t);
    return s;
}

int xb_cli_thread_verb(int argc, char **argv, const char *verb, const char *usage,
                       int (*print)(xmlNode *root))
{
    xb_cli_opts_t o;
    bool xml;
    int rc = xb_cli_parse_xml_verb(argc, argv, verb, usage, &o, &xml);
    if (rc >= 0)
        return rc;
    if (optind + 1 != argc) {
        xb_cli_fail(verb, "give exactly one THREAD uuid");
        return xb_cli_usage(usage, false);
    }
    const char *args[] = {argv[optind]};
    xmlDoc *doc = NULL;
    rc = xb_cli_query(&o, verb, args, 1, xml, xml ? NULL : &doc);
    if (rc != XB_EXIT_OK || xml)
        return rc;
    rc = print(xmlDocGetRootElement(doc));
    xmlFreeDoc(doc);
    return rc;
}

static bool is_envelope_elem(const xmlNode *n, const char *local)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ENVELOPE_NS) == 0 &&
           strcmp((const char *)n->name, local) == 0;
}

/* Text of the first child element named local (any namespace), or NULL. */
static char *child_text(const xmlNode *parent, const char *local)
{
    for (const xmlNode *n = parent ? parent->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, local) != 0)
            continue;
        xmlChar *t = xmlNodeGetContent(n);
        char *s = strdup(t ? (const char *)t : "");
        xmlFree(t);
        return s;
    }
    return NULL;
}

void xb_cli_message_free(xb_cli_message_t *m)
{
    if (!m)
        return;
    free(m->from);
    free(m->to);
    free(m->thread);
    free(m->payload);
    free(m->error_code);
    memset(m, 0, sizeof *m);
}

int xb_cli_message_read(const char *envelope, size_t len, xb_cli_message_t *m)
{
    memset(m, 0, sizeof *m);
    if (!envelope || len == 0)
        return -1;
    xmlDoc *doc = xb_client_read_xml(envelope, len, NULL);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!doc || !is_envelope_elem(root, "message")) {
        xmlFreeDoc(doc);
        return -1;
    }
    xmlNode *meta = NULL, *payload = NULL;
    for (xmlNode *n = root->children; n; n = n->next) {
        if (is_envelope_elem(n, "meta"))
            meta = meta ? meta : n;
        else if (n->type == XML_ELEMENT_NODE && !payload)
            payload = n;
    }
    int rc = -1;
    if (!meta || !payload)
        goto out;
    m->from = child_text(meta, "from");
    m->to = child_text(meta, "to");
    m->thread = child_text(meta, "thread");
    m->system_error = !payload->ns && strcmp((const char *)payload->name, "SystemError") == 0;
    if (m->system_error)
        m->error_code = child_text(payload, "code");
    m->payload = xb_cli_node_line(payload);
    if (!m->from)
        m->from = strdup("?");
    rc = m->from && m->payload ? 0 : -1;
out:
    xmlFreeDoc(doc);
    if (rc != 0)
        xb_cli_message_free(m);
    return rc;
}

void xb_cli_format_us(const char *us_text, char *out, size_t cap)
{
    char *end = NULL;
    errno = 0;
    long long us = us_text ? strtoll(us_text, &end, 10) : 0;
    if (!us_text || end == us_text || *end || errno || us <= 0) {
        snprintf(out, cap, "%s", us_text && *us_text ? us_text : "-");
        return;
    }
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    char day[32];
    if (!localtime_r(&sec, &tm) || strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
        snprintf(out, cap, "%s", us_text);
        return;
    }
    snprintf(out, cap, "%s.%03d", day, (int)((us % 1000000) / 1000));
}
