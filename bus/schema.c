/* Payload schema registry (schema.h).
 *
 * Every distinct XSD file is compiled once; listeners point at their file.
 * A sorted tag table answers "who accepts this root tag" with a binary
 * search, so the registry is read-only after xb_schemas_new and needs no
 * lock. libxml2 errors are captured through structured error handlers and
 * never printed. */
#include "schema.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>

typedef struct {
    char *path;          /* absolute path, as in the config */
    const char *base;    /* file name part of path */
    xmlSchemaPtr schema; /* NULL when it did not compile */
} sfile_t;

typedef struct {
    char *name;
    size_t file; /* index into files, SIZE_MAX = no schema */
    char **ns;   /* "" = no namespace; parallel to local */
    char **local;
    size_t n_tags;
    int line;
} slistener_t;

typedef struct {
    char *ns;
    char *local;
    const char **names; /* borrowed from slistener_t.name */
    size_t n;
} stag_t;

struct xb_schemas_t {
    sfile_t *files;
    size_t n_files;
    slistener_t *ls;
    size_t n_ls;
    size_t *by_name; /* indices into ls sorted by name */
    stag_t *tags;    /* sorted by (local, ns) */
    size_t n_tags;
};

/* The errors of one validation: how many, and the first. */
typedef struct {
    size_t n_errors;
    int first_line;
    char first[XB_ERROR_MESSAGE_MAX];
} vcapture_t;

struct xb_validator_t {
    const xb_schemas_t *s;
    xmlSchemaValidCtxtPtr *ctxts; /* one per file, NULL where the file has no schema */
    vcapture_t cap;
};

/* -------------------------------------------------------- error capture */

typedef struct {
    xb_schema_report_fn report;
    void *user;
    size_t count;
    int first_line;
    char first[XB_ERROR_MESSAGE_MAX];
    const char *path;  /* file being compiled, for errors without a file */
    size_t file_start; /* count when that file's compile began */
    bool nomem;
} collect_t;

/* The text of a libxml2 message without its trailing newline. */
static void trim_message(const char *in, char *out, size_t cap)
{
    snprintf(out, cap, "%s", in ? in : "unknown error");
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\r'))
        out[--n] = '\0';
}

/* Copies src into dst, cut to fit. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void collect_line(collect_t *c, const char *line, int lineno)
{
    if (c->count == 0) {
        copy_cut(c->first, sizeof c->first, line);
        c->first_line = lineno;
    }
    c->count++;
    if (c->report)
        c->report(line, c->user);
}

static void collect_error(void *user, xmlErrorPtr e)
{
    collect_t *c = user;
    if (!e || e->level < XML_ERR_ERROR)
        return;
    /* "Failed to parse the XML resource" only repeats the parse error. */
    if (c->count > c->file_start && e->domain == XML_FROM_SCHEMASP && e->message &&
        strncmp(e->message, "Failed to parse the XML resource", 32) == 0)
        return;
    char msg[600], line[1200];
    trim_message(e->message, msg, sizeof msg);
    const char *file = e->file ? e->file : c->path;
    if (e->line > 0)
        snprintf(line, sizeof line, "%s:%d: %s", file, e->line, msg);
    else
        snprintf(line, sizeof line, "%s: %s", file, msg);
    collect_line(c, line, e->line);
}

static void ignore_generic(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

/* Compiles one XSD; every error goes to c. NULL when it fails. */
static xmlSchemaPtr compile_file(const char *path, collect_t *c)
{
    size_t before = c->count;
    xmlStructuredErrorFunc old_s = xmlStructuredError;
    void *old_s_ctx = xmlStructuredErrorContext;
    xmlGenericErrorFunc old_g = xmlGenericError;
    void *old_g_ctx = xmlGenericErrorContext;
    /* The XSD's own XML parse reports through the thread's global handlers. */
    xmlSetStructuredErrorFunc(c, collect_error);
    xmlSetGenericErrorFunc(NULL, ignore_generic);
    c->path = path;
    c->file_start = before;
    xmlSchemaPtr schema = NULL;
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
    if (pc) {
        xmlSchemaSetParserStructuredErrors(pc, collect_error, c);
        schema = xmlSchemaParse(pc);
        xmlSchemaFreeParserCtxt(pc);
    }
    xmlSetStructuredErrorFunc(old_s_ctx, old_s);
    xmlSetGenericErrorFunc(old_g_ctx, old_g);
    if (schema && c->count > before) {
        xmlSchemaFree(schema);
        schema = NULL;
    }
    if (!schema && c->count == before) {
        char line[600];
        snprintf(line, sizeof line, "%s: the schema could not be compiled", path);
        collect_line(c, line, 0);
    }
    return schema;
}

typedef struct {
    bool undeclared;
} decl_probe_t;

static void probe_error(void *user, xmlErrorPtr e)
{
    decl_probe_t *p = user;
    if (e && e->code == XML_SCHEMAV_CVC_ELT_1)
        p->undeclared = true;
}

/* Does schema declare a global element (ns, local)? Validates an empty
 * element of that name and looks for "no matching global declaration";
 * this also sees declarations that come from xs:include / xs:import.
 * Returns 1 yes, 0 no, -1 out of memory. */
static int tag_declared(xmlSchemaPtr schema, const char *ns, const char *local)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = doc ? xmlNewDocNode(doc, NULL, BAD_CAST local, NULL) : NULL;
    xmlSchemaValidCtxtPtr vc = root ? xmlSchemaNewValidCtxt(schema) : NULL;
    if (!vc) {
        xmlFreeDoc(doc);
        return -1;
    }
    xmlDocSetRootElement(doc, root);
    if (ns[0]) {
        xmlNsPtr n = xmlNewNs(root, BAD_CAST ns, NULL);
        if (!n) {
            xmlSchemaFreeValidCtxt(vc);
            xmlFreeDoc(doc);
            return -1;
        }
        xmlSetNs(root, n);
    }
    decl_probe_t probe = {false};
    xmlSchemaSetValidStructuredErrors(vc, probe_error, &probe);
    xmlSchemaValidateOneElement(vc, root);
    xmlSchemaFreeValidCtxt(vc);
    xmlFreeDoc(doc);
    return probe.undeclared ? 0 : 1;
}

/* ------------------------------------------------------------------ tags */

/* Splits "{ns}local" / "local" into malloc'd parts. */
static int split_tag(const char *tag, char **ns, char **local)
{
    const char *l = tag;
    size_t nlen = 0;
    if (tag[0] == '{') {
        const char *close = strchr(tag, '}');
        if (!close)
            return -1;
        nlen = (size_t)(close - tag - 1);
        l = close + 1;
    }
    *ns = strndup(tag[0] == '{' ? tag + 1 : "", nlen);
    *local = strdup(l);
    if (!*ns || !*local) {
        free(*ns);
        free(*local);
        *ns = *local = NULL;
        return -1;
    }
    return 0;
}

static int tag_cmp(const char *ns_a, const char *local_a, const char *ns_b, const char *local_b)
{
    int c = strcmp(local_a, local_b);
    return c ? c : strcmp(ns_a, ns_b);
}

static int stag_sort(const void *a, const void *b)
{
    const stag_t *x = a, *y = b;
    return tag_cmp(x->ns, x->local, y->ns, y->local);
}

static const stag_t *find_tag(const xb_schemas_t *s, const char *ns, const char *local)
{
    size_t lo = 0, hi = s->n_tags;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tag_cmp(ns, local, s->tags[mid].ns, s->tags[mid].local);
        if (c == 0)
            return &s->tags[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int xb_payload_tag_of(const xmlNode *node, char *buf, size_t cap)
{
    if (!node || node->type != XML_ELEMENT_NODE || !buf || !cap)
        return -1;
    const char *local = (const char *)node->name;
    const char *ns = node->ns && node->ns->href && node->ns->href[0] ? (const char *)node->ns->href
                                                                     : NULL;
    int n = ns ? snprintf(buf, cap, "{%s}%s", ns, local) : snprintf(buf, cap, "%s", local);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* ------------------------------------------------------------- registry */

static void files_free(sfile_t *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(files[i].path);
        if (files[i].schema)
            xmlSchemaFree(files[i].schema);
    }
    free(files);
}

void xb_schemas_destroy(xb_schemas_t **sp)
{
    if (!sp || !*sp)
        return;
    xb_schemas_t *s = *sp;
    files_free(s->files, s->n_files);
    for (size_t i = 0; i < s->n_ls; i++) {
        slistener_t *l = &s->ls[i];
        free(l->name);
        for (size_t t = 0; t < l->n_tags; t++) {
            free(l->ns[t]);
            free(l->local[t]);
        }
        free(l->ns);
        free(l->local);
    }
    free(s->ls);
    free(s->by_name);
    for (size_t i = 0; i < s->n_tags; i++) {
        free(s->tags[i].ns);
        free(s->tags[i].local);
        free(s->tags[i].names);
    }
    free(s->tags);
    free(s);
    *sp = NULL;
}

/* Index of the file entry for path in files[0..*n) (room for one more),
 * adding (and compiling) it if new. Returns SIZE_MAX on out of memory. */
static size_t file_index(sfile_t *files, size_t *n, const char *path, collect_t *c)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(files[i].path, path) == 0)
            return i;
    sfile_t *f = &files[*n];
    f->path = strdup(path);
    if (!f->path)
        return SIZE_MAX;
    const char *slash = strrchr(f->path, '/');
    f->base = slash ? slash + 1 : f->path;
    f->schema = compile_file(path, c);
    return (*n)++;
}

static int add_tag(xb_schemas_t *s, const char *ns, const char *local, const char *name)
{
    stag_t *t = NULL;
    for (size_t i = 0; i < s->n_tags && !t; i++)
        if (tag_cmp(ns, local, s->tags[i].ns, s->tags[i].local) == 0)
            t = &s->tags[i];
    if (!t) {
        t = &s->tags[s->n_tags];
        t->ns = strdup(ns);
        t->local = strdup(local);
        if (!t->ns || !t->local) {
            free(t->ns);
            free(t->local);
            return -1;
        }
        t->names = NULL;
        t->n = 0;
        s->n_tags++;
    }
    const char **nn = realloc(t->names, (t->n + 1) * sizeof *nn);
    if (!nn)
        return -1;
    nn[t->n++] = name;
    t->names = nn;
    return 0;
}

static int by_name_cmp(const void *a, const void *b, void *ctx)
{
    const xb_schemas_t *s = ctx;
    return strcmp(s->ls[*(const size_t *)a].name, s->ls[*(const size_t *)b].name);
}

/* Copies one listener of the config: name, tags, schema file. */
static int add_listener(xb_schemas_t *s, const xb_listener_config_t *lc, collect_t *c)
{
    slistener_t *l = &s->ls[s->n_ls];
    memset(l, 0, sizeof *l);
    l->file = SIZE_MAX;
    l->line = lc->line;
    l->name = strdup(lc->name);
    l->ns = calloc(lc->n_payloads + 1, sizeof *l->ns);
    l->local = calloc(lc->n_payloads + 1, sizeof *l->local);
    s->n_ls++; /* from here on destroy frees what was set */
    if (!l->name || !l->ns || !l->local)
        return -1;
    for (size_t t = 0; t < lc->n_payloads; t++) {
        if (split_tag(lc->payloads[t], &l->ns[t], &l->local[t]) < 0)
            return -1;
        l->n_tags = t + 1;
        if (add_tag(s, l->ns[t], l->local[t], l->name) < 0)
            return -1;
    }
    if (lc->schema) {
        l->file = file_index(s->files, &s->n_files, lc->schema, c);
        if (l->file == SIZE_MAX)
            return -1;
    }
    return 0;
}

/* Reports tags of l that its schema does not declare. */
static int check_declared(const xb_schemas_t *s, const slistener_t *l, const char *cfg_path,
                          collect_t *c)
{
    if (l->file == SIZE_MAX || !s->files[l->file].schema)
        return 0;
    const sfile_t *f = &s->files[l->file];
    for (size_t t = 0; t < l->n_tags; t++) {
        int rc = tag_declared(f->schema, l->ns[t], l->local[t]);
        if (rc < 0)
            return -1;
        if (rc == 1)
            continue;
        char line[1200];
        char tag[600];
        if (l->ns[t][0])
            snprintf(tag, sizeof tag, "{%s}%s", l->ns[t], l->local[t]);
        else
            snprintf(tag, sizeof tag, "%s", l->local[t]);
        snprintf(line, sizeof line,
                 "%.300s:%d: listener '%s' accepts '%.200s' but its schema %.300s declares "
                 "no global element '%.200s'",
                 cfg_path ? cfg_path : "config", l->line, l->name, tag, f->path, tag);
        collect_line(c, line, l->line);
    }
    return 0;
}

/* Builds the registry, collecting every problem in c. NULL only when out of
 * memory (c->nomem set). */
static xb_schemas_t *build(const xb_config_t *cfg, collect_t *c)
{
    xmlInitParser();
    xb_schemas_t *s = calloc(1, sizeof *s);
    size_t n = cfg->n_listeners, n_tags = 0;
    for (size_t i = 0; i < n; i++)
        n_tags += cfg->listeners[i].n_payloads;
    if (s) {
        s->files = calloc(n + 1, sizeof *s->files);
        s->ls = calloc(n + 1, sizeof *s->ls);
        s->by_name = calloc(n + 1, sizeof *s->by_name);
        s->tags = calloc(n_tags + 1, sizeof *s->tags);
    }
    if (!s || !s->files || !s->ls || !s->by_name || !s->tags)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        if (add_listener(s, &cfg->listeners[i], c) < 0)
            goto nomem;
    for (size_t i = 0; i < n; i++)
        if (check_declared(s, &s->ls[i], cfg->path, c) < 0)
            goto nomem;
    for (size_t i = 0; i < n; i++)
        s->by_name[i] = i;
    qsort_r(s->by_name, n, sizeof *s->by_name, by_name_cmp, s);
    qsort(s->tags, s->n_tags, sizeof *s->tags, stag_sort);
    return s;
nomem:
    c->nomem = true;
    xb_schemas_destroy(&s);
    return NULL;
}

xb_schemas_t *xb_schemas_new(const xb_config_t *cfg, xb_error_t *err)
{
    if (!cfg) {
        xb_error_set(err, XB_ERR_ARG, 0, "xb_schemas_new: NULL config");
        return NULL;
    }
    collect_t c = {0};
    xb_schemas_t *s = build(cfg, &c);
    if (!s) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory compiling schemas");
        return NULL;
    }
    if (c.count) {
        xb_error_set(err, XB_ERR_SCHEMA, c.first_line, "%s%s", c.first,
                     c.count > 1 ? " (and more problems: run `xmlbus check`)" : "");
        xb_schemas_destroy(&s);
        return NULL;
    }
    return s;
}

static xb_entry_schemas_t *build_entries(const xb_memory_config_t *mem, collect_t *c);
static size_t entries_compiled(const xb_entry_schemas_t *e, const xb_schemas_t *s);

size_t xb_schemas_check_config(const xb_config_t *cfg, xb_schema_report_fn report, void *user,
                               size_t *n_compiled)
{
    if (n_compiled)
        *n_compiled = 0;
    if (!cfg)
        return 0;
    collect_t c = {.report = report, .user = user};
    xb_schemas_t *s = build(cfg, &c);
    if (!s) {
        char line[300];
        snprintf(line, sizeof line, "%s: out of memory compiling schemas",
                 cfg->path ? cfg->path : "config");
        collect_line(&c, line, 0);
        return c.count;
    }
    if (n_compiled)
        for (size_t i = 0; i < s->n_files; i++)
            *n_compiled += s->files[i].schema != NULL;
    /* the memory types' schemas, as the pump compiles them at start */
    xb_entry_schemas_t *e = build_entries(&cfg->memory, &c);
    if (e && n_compiled)
        *n_compiled += entries_compiled(e, s);
    if (!e) {
        char line[300];
        snprintf(line, sizeof line, "%s: out of memory compiling schemas",
                 cfg->path ? cfg->path : "config");
        collect_line(&c, line, 0);
    }
    xb_entry_schemas_destroy(&e);
    xb_schemas_destroy(&s);
    return c.count;
}

size_t xb_schemas_count(const xb_schemas_t *s)
{
    return s ? s->n_files : 0;
}

static const slistener_t *find_listener(const xb_schemas_t *s, const char *name)
{
    size_t lo = 0, hi = s->n_ls;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const slistener_t *l = &s->ls[s->by_name[mid]];
        int c = strcmp(name, l->name);
        if (c == 0)
            return l;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool is_system_error(const char *ns, const char *local)
{
    return (!ns || !ns[0]) && strcmp(local, XB_SYSTEM_ERROR_TAG) == 0;
}

size_t xb_schemas_lookup(const xb_schemas_t *s, const char *ns, const char *local,
                         const char *const **names)
{
    if (names)
        *names = NULL;
    if (!s || !local)
        return 0;
    const stag_t *t = find_tag(s, ns ? ns : "", local);
    if (!t)
        return 0;
    if (names)
        *names = t->names;
    return t->n;
}

size_t xb_schemas_lookup_tag(const xb_schemas_t *s, const char *tag, const char *const **names)
{
    if (names)
        *names = NULL;
    if (!s || !tag)
        return 0;
    char *ns = NULL, *local = NULL;
    if (split_tag(tag, &ns, &local) < 0)
        return 0;
    size_t n = xb_schemas_lookup(s, ns, local, names);
    free(ns);
    free(local);
    return n;
}

static bool listener_has_tag(const slistener_t *l, const char *ns, const char *local)
{
    for (size_t t = 0; t < l->n_tags; t++)
        if (tag_cmp(ns ? ns : "", local, l->ns[t], l->local[t]) == 0)
            return true;
    return false;
}

bool xb_schemas_accepts(const xb_schemas_t *s, const char *listener, const char *ns,
                        const char *local)
{
    if (!s || !listener || !local)
        return false;
    const slistener_t *l = find_listener(s, listener);
    if (!l)
        return false;
    return is_system_error(ns, local) || listener_has_tag(l, ns, local);
}

bool xb_schemas_has_listener(const xb_schemas_t *s, const char *listener)
{
    return s && listener && find_listener(s, listener) != NULL;
}

/* ------------------------------------------------------------ validator */

void xb_validator_destroy(xb_validator_t **vp)
{
    if (!vp || !*vp)
        return;
    xb_validator_t *v = *vp;
    if (v->ctxts)
        for (size_t i = 0; i < v->s->n_files; i++)
            if (v->ctxts[i])
                xmlSchemaFreeValidCtxt(v->ctxts[i]);
    free(v->ctxts);
    free(v);
    *vp = NULL;
}

static void capture_error(void *user, xmlErrorPtr e)
{
    vcapture_t *c = user;
    if (!e || e->level < XML_ERR_ERROR)
        return;
    if (c->n_errors++ == 0) {
        trim_message(e->message, c->first, sizeof c->first);
        c->first_line = e->line;
    }
}

/* Validates node with vc (whose errors go to c). 0 when valid; else -1 and
 * c holds the errors, or none when libxml2 failed inside (*rc its code). */
static int validate_node(xmlSchemaValidCtxtPtr vc, vcapture_t *c, xmlNodePtr node, int *rc)
{
    c->n_errors = 0;
    c->first[0] = '\0';
    c->first_line = 0;
    *rc = xmlSchemaValidateOneElement(vc, node);
    return *rc == 0 && c->n_errors == 0 ? 0 : -1;
}

/* The line of a validation's first error, and " (and N more)" into more. */
static int first_error_line(const vcapture_t *c, const xmlNode *node, char *more, size_t cap)
{
    more[0] = '\0';
    if (c->n_errors > 1)
        snprintf(more, cap, " (and %zu more)", c->n_errors - 1);
    return node->line > 0 && c->first_line == 0 ? node->line : c->first_line;
}

xb_validator_t *xb_validator_new(const xb_schemas_t *s, xb_error_t *err)
{
    if (!s) {
        xb_error_set(err, XB_ERR_ARG, 0, "xb_validator_new: NULL registry");
        return NULL;
    }
    xb_validator_t *v = calloc(1, sizeof *v);
    if (!v || !(v->ctxts = calloc(s->n_files + 1, sizeof *v->ctxts))) {
        free(v);
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory creating a validator");
        return NULL;
    }
    v->s = s;
    for (size_t i = 0; i < s->n_files; i++) {
        if (!s->files[i].schema)
            continue;
        v->ctxts[i] = xmlSchemaNewValidCtxt(s->files[i].schema);
        if (!v->ctxts[i]) {
            xb_validator_destroy(&v);
            xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory creating a validator");
            return NULL;
        }
        xmlSchemaSetValidStructuredErrors(v->ctxts[i], capture_error, &v->cap);
    }
    return v;
}

int xb_validator_check(xb_validator_t *v, const char *listener, xmlNodePtr payload, xb_error_t *err)
{
    if (!v || !listener)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_validator_check: NULL argument");
    if (!payload || payload->type != XML_ELEMENT_NODE || !payload->doc)
        return xb_error_set(err, XB_ERR_ARG, 0, "payload is not an element of a document");
    const char *local = (const char *)payload->name;
    const char *ns = payload->ns && payload->ns->href ? (const char *)payload->ns->href : "";
    if (is_system_error(ns, local))
        return 0;
    char tag[512];
    if (xb_payload_tag_of(payload, tag, sizeof tag) < 0)
        snprintf(tag, sizeof tag, "%.200s", local);
    const slistener_t *l = find_listener(v->s, listener);
    if (!l)
        return xb_error_set(err, XB_ERR_ROUTING, 0, "no listener named '%.80s'", listener);
    if (!listener_has_tag(l, ns, local))
        return xb_error_set(err, XB_ERR_ROUTING, 0, "listener '%s' does not accept <%.200s>",
                            l->name, tag);
    if (l->file == SIZE_MAX)
        return 0;
    xmlSchemaValidCtxtPtr vc = v->ctxts[l->file];
    const char *base = v->s->files[l->file].base;
    if (!vc)
        return xb_error_set(err, XB_ERR_SCHEMA, 0, "schema %s of listener '%s' did not compile",
                            base, l->name);
    int rc;
    if (validate_node(vc, &v->cap, payload, &rc) == 0)
        return 0;
    if (v->cap.n_errors == 0)
        return xb_error_set(err, XB_ERR_SCHEMA, 0,
                            "payload <%.200s> could not be validated by %s (listener '%s'): "
                            "internal error %d",
                            tag, base, l->name, rc);
    char more[64];
    int line = first_error_line(&v->cap, payload, more, sizeof more);
    return xb_error_set(err, XB_ERR_SCHEMA, line,
                        "payload <%.150s> rejected by %.100s (listener '%s'): line %d: %.250s%s",
                        tag, base, l->name, line, v->cap.first, more);
}

/* -------------------------------------------------- typed memory entries */

typedef struct {
    char name[XB_ENTRY_MAX];
    size_t file; /* index into files */
} stype_t;

struct xb_entry_schemas_t {
    sfile_t *files;
    xmlSchemaValidCtxtPtr *ctxts; /* parallel to files */
    size_t n_files;
    stype_t *types; /* only the types with a schema */
    size_t n_types;
    vcapture_t cap;
};

void xb_entry_schemas_destroy(xb_entry_schemas_t **sp)
{
    if (!sp || !*sp)
        return;
    xb_entry_schemas_t *s = *sp;
    for (size_t i = 0; s->ctxts && i < s->n_files; i++)
        if (s->ctxts[i])
            xmlSchemaFreeValidCtxt(s->ctxts[i]);
    free(s->ctxts);
    files_free(s->files, s->n_files);
    free(s->types);
    free(s);
    *sp = NULL;
}

/* Compiles the schema of type t (once per file) and checks that it declares
 * t's element; problems go to c. -1 only when out of memory. */
static int add_type(xb_entry_schemas_t *s, const xb_memory_type_t *t, collect_t *c)
{
    size_t before = c->count;
    size_t f = file_index(s->files, &s->n_files, t->schema, c);
    if (f == SIZE_MAX)
        return -1;
    stype_t *st = &s->types[s->n_types++];
    snprintf(st->name, sizeof st->name, "%s", t->name);
    st->file = f;
    if (!s->files[f].schema || c->count > before || !t->element)
        return 0;
    char *ns = NULL, *local = NULL;
    if (split_tag(t->element, &ns, &local) < 0)
        return -1;
    int rc = tag_declared(s->files[f].schema, ns, local);
    free(ns);
    free(local);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        char line[1200];
        snprintf(line, sizeof line,
                 "%.400s: declares no global element '%.200s' (memory type '%s', line %d)",
                 t->schema, t->element, t->name, t->line);
        collect_line(c, line, t->line);
    }
    return 0;
}

static int entry_contexts(xb_entry_schemas_t *s)
{
    s->ctxts = calloc(s->n_files + 1, sizeof *s->ctxts);
    if (!s->ctxts)
        return -1;
    for (size_t i = 0; i < s->n_files; i++) {
        s->ctxts[i] = xmlSchemaNewValidCtxt(s->files[i].schema);
        if (!s->ctxts[i])
            return -1;
        xmlSchemaSetValidStructuredErrors(s->ctxts[i], capture_error, &s->cap);
    }
    return 0;
}

/* Compiles the schemas of every type of mem, collecting every problem in
 * c. NULL only when out of memory. */
static xb_entry_schemas_t *build_entries(const xb_memory_config_t *mem, collect_t *c)
{
    xmlInitParser();
    xb_entry_schemas_t *s = calloc(1, sizeof *s);
    if (s) {
        s->files = calloc(mem->n_types + 1, sizeof *s->files);
        s->types = calloc(mem->n_types + 1, sizeof *s->types);
    }
    bool nomem = !s || !s->files || !s->types;
    for (size_t i = 0; !nomem && i < mem->n_types; i++)
        if (mem->types[i].schema)
            nomem = add_type(s, &mem->types[i], c) != 0;
    if (nomem)
        xb_entry_schemas_destroy(&s);
    return s;
}

/* Files of e that compiled and that s (may be NULL) does not hold too. */
static size_t entries_compiled(const xb_entry_schemas_t *e, const xb_schemas_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n_files; i++) {
        bool shared = false;
        for (size_t j = 0; s && j < s->n_files && !shared; j++)
            shared = strcmp(s->files[j].path, e->files[i].path) == 0;
        n += e->files[i].schema && !shared;
    }
    return n;
}

xb_entry_schemas_t *xb_entry_schemas_new(const xb_memory_config_t *mem, xb_error_t *err)
{
    if (!mem) {
        xb_error_set(err, XB_ERR_ARG, 0, "xb_entry_schemas_new: NULL memory section");
        return NULL;
    }
    collect_t c = {0};
    xb_entry_schemas_t *s = build_entries(mem, &c);
    if (!s || (c.count == 0 && entry_contexts(s) != 0)) {
        xb_entry_schemas_destroy(&s);
        xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory compiling the memory types' schemas");
        return NULL;
    }
    if (c.count) {
        xb_error_set(err, XB_ERR_SCHEMA, c.first_line, "%s%s", c.first,
                     c.count > 1 ? " (and more problems: run `xmlbus check`)" : "");
        xb_entry_schemas_destroy(&s);
    }
    return s;
}

int xb_entry_schemas_check(xb_entry_schemas_t *s, const char *name, xmlNodePtr element,
                           xb_error_t *err)
{
    const stype_t *t = NULL;
    for (size_t i = 0; s && name && i < s->n_types && !t; i++)
        if (strcmp(s->types[i].name, name) == 0)
            t = &s->types[i];
    if (!t)
        return 0;
    if (!element || element->type != XML_ELEMENT_NODE || !element->doc)
        return xb_error_set(err, XB_ERR_ARG, 0, "the value is not an element of a document");
    char tag[512];
    if (xb_payload_tag_of(element, tag, sizeof tag) < 0)
        snprintf(tag, sizeof tag, "%.200s", (const char *)element->name);
    const char *base = s->files[t->file].base;
    int rc;
    if (validate_node(s->ctxts[t->file], &s->cap, element, &rc) == 0)
        return 0;
    if (s->cap.n_errors == 0)
        return xb_error_set(err, XB_ERR_SCHEMA, 0,
                            "working-memory entry %s: <%.200s> could not be validated by %s: "
                            "internal error %d",
                            name, tag, base, rc);
    char more[64];
    int line = first_error_line(&s->cap, element, more, sizeof more);
    return xb_error_set(err, XB_ERR_SCHEMA, line,
                        "working-memory entry %s: <%.150s> rejected by %.100s: line %d: %.250s%s",
                        name, tag, base, line, s->cap.first, more);
}
