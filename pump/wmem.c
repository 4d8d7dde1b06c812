/* Working memory in the pump (see wmem.h). */
#include "wmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "log.h"
#include "schema.h"
#include "str.h"

const char *xbp_wmem_conversation(const conv_t *conv, const char *chain, char *buf, size_t cap)
{
    if (conv && conv->root)
        return conv->root;
    buf[0] = '\0';
    char *root = chain ? xb_chain_conversation_root(chain, NULL) : NULL;
    if (root)
        xb_strlcpy(buf, root, cap);
    free(root);
    return buf;
}

/* "a, b" of the names missing so far, into why. */
static void note_missing(char *why, size_t cap, size_t *at, const char *name)
{
    if (*at < cap)
        *at += (size_t)snprintf(why + *at, cap - *at, "%s%s", *at ? ", " : "", name);
}

int xbp_wmem_fetch(xb_pump_t *p, const xb_listener_config_t *lc, const char *conversation,
                   xb_wmem_list_t *out, char *why, size_t cap, xb_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (lc->n_needs == 0)
        return 0;
    out->items = calloc(lc->n_needs, sizeof *out->items);
    if (!out->items)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    size_t at = 0;
    char list[400] = "";
    for (size_t i = 0; i < lc->n_needs; i++) {
        xb_blob_t v = {0};
        int rc = conversation[0]
                     ? xb_backend_wmem_get(p->backend, conversation, lc->needs[i], &v, err)
                     : 1;
        if (rc < 0) {
            xb_wmem_list_free(out);
            return -1;
        }
        if (rc == 1) {
            note_missing(list, sizeof list, &at, lc->needs[i]);
            continue;
        }
        xb_wmem_item_t *it = &out->items[out->count++];
        it->name = strdup(lc->needs[i]);
        it->data = v;
        if (!it->name) {
            xb_wmem_list_free(out);
            return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
        }
    }
    if (!at)
        return 0;
    snprintf(why, cap, "listener %s needs %s, not in the working memory of its conversation",
             lc->name, list);
    xb_wmem_list_free(out);
    return 1;
}

/* ---- writes of a REPLY ----------------------------------------------------------- */

/* The checked entry name of an `=name` target; NULL when it is none. */
static const char *remember_name(xb_proto_val_t target, char *buf, size_t cap)
{
    if (target.len < 2 || target.ptr[0] != XB_PROTO_REMEMBER || target.len - 1 >= cap)
        return NULL;
    memcpy(buf, target.ptr + 1, target.len - 1);
    buf[target.len - 1] = '\0';
    return buf;
}

static const xb_memory_type_t *type_of(const xb_pump_t *p, const char *name)
{
    for (size_t i = 0; i < p->cfg->memory.n_types; i++)
        if (strcmp(p->cfg->memory.types[i].name, name) == 0)
            return &p->cfg->memory.types[i];
    return NULL;
}

/* One entry's value: one well-formed element (hardened intake), of the
 * declared element when the entry is typed, valid against the type's XSD
 * when it has one (compiled at start: p->entry_schemas). */
static int check_value(xb_pump_t *p, const char *name, xb_proto_val_t v, xb_error_t *err)
{
    xmlDocPtr doc = xb_xml_read(p->xmlctxt, v.ptr, v.len, &p->plimits, err);
    if (!doc)
        return xb_error_set(err, err->code, 0, "working-memory entry %s: %s", name, err->message);
    const xb_memory_type_t *t = type_of(p, name);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    char tag[512] = "";
    int rc = 0;
    if (t && t->element &&
        (xb_payload_tag_of(root, tag, sizeof tag) != 0 || strcmp(tag, t->element) != 0))
        rc = xb_error_set(err, XB_ERR_SCHEMA, 0, "working-memory entry %s must be <%s>, got <%s>",
                          name, t->element, tag);
    else if (t)
        rc = xb_entry_schemas_check(p->entry_schemas, name, root, err);
    xmlFreeDoc(doc);
    return rc;
}

/* Adds (name, v) to the batch in e (at most cap). */
static int add_write(xb_pump_t *p, xb_wmem_entry_t *e, size_t *n, size_t cap, const char *name,
                     xb_proto_val_t v, xb_error_t *err)
{
    if (!xb_wmem_name_valid(name))
        return xb_error_set(err, XB_ERR_ENVELOPE, 0, "'%s' is not a working-memory entry name",
                            name);
    if (*n == cap)
        return xb_error_set(err, XB_ERR_LIMIT, 0, "more than %zu working-memory writes at once",
                            cap);
    if (check_value(p, name, v, err) != 0)
        return -1;
    e[(*n)++] = (xb_wmem_entry_t){name, v.ptr, v.len};
    return 0;
}

/* Writes the checked entries e[0..n) into scope in one backend call; conv
 * (may be NULL) learns it has memory when scope is its own. */
static int store(xb_pump_t *p, conv_t *conv, const char *scope, size_t n, const xb_wmem_entry_t *e,
                 xb_error_t *err)
{
    if (!scope[0])
        return xb_error_set(err, XB_ERR_ROUTING, 0, "the message belongs to no conversation");
    if (xb_backend_wmem_put(p->backend, scope, n, e, err) != 0)
        return -1;
    if (conv && strcmp(scope, conv->root) == 0)
        conv->has_memory = true;
    return 0;
}

/* Copies the values of w's entries into one buffer of w's own. */
static int keep_values(xbp_wmem_writes_t *w, xb_error_t *err)
{
    size_t total = 0;
    for (size_t i = 0; i < w->n; i++)
        total += w->entries[i].len;
    if (!(w->data = malloc(total ? total : 1)))
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    size_t at = 0;
    for (size_t i = 0; i < w->n; i++) {
        memcpy(w->data + at, w->entries[i].data, w->entries[i].len);
        w->entries[i].data = w->data + at;
        w->entries[i].name = w->names[i];
        at += w->entries[i].len;
    }
    return 0;
}

int xbp_wmem_reply_writes(xb_pump_t *p, const xb_listener_config_t *lc, bool with_result,
                          const char *scope, const xb_proto_msg_t *m, xbp_wmem_writes_t **out,
                          xb_error_t *err)
{
    *out = NULL;
    xb_wmem_entry_t e[XBP_WRITES_MAX];
    char names[XBP_WRITES_MAX][XB_ENTRY_MAX];
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++) {
        xb_proto_val_t t = xb_proto_reply_target(m, i), v = xb_proto_reply_payload(m, i);
        const char *name = remember_name(t, names[n < XBP_WRITES_MAX ? n : 0], XB_ENTRY_MAX);
        if (!name && t.len > 0 && t.ptr[0] == XB_PROTO_REMEMBER)
            return xb_error_set(err, XB_ERR_ENVELOPE, 0, "REPLY target '=' names no entry");
        if (!name && with_result && lc->result[0] && xb_proto_is(t, XB_TARGET_RESPOND))
            name = lc->result;
        if (name && add_write(p, e, &n, XBP_WRITES_MAX, name, v, err) != 0)
            return -1;
    }
    if (n == 0)
        return 0;
    if (!scope[0])
        return xb_error_set(err, XB_ERR_ROUTING, 0, "the message belongs to no conversation");
    xbp_wmem_writes_t *w = calloc(1, sizeof *w);
    if (!w)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    xb_strlcpy(w->scope, scope, sizeof w->scope);
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        xb_strlcpy(w->names[i], e[i].name, XB_ENTRY_MAX);
        w->entries[i] = e[i];
    }
    if (keep_values(w, err) != 0) {
        xbp_wmem_writes_free(&w);
        return -1;
    }
    *out = w;
    return 0;
}

int xbp_wmem_writes_store(xb_pump_t *p, conv_t *conv, const xbp_wmem_writes_t *w, xb_error_t *err)
{
    return store(p, conv, w->scope, w->n, w->entries, err);
}

void xbp_wmem_writes_stored(conv_t *conv, const xbp_wmem_writes_t *w)
{
    if (conv && w && strcmp(w->scope, conv->root) == 0)
        conv->has_memory = true;
}

xb_wmem_batch_t xbp_wmem_writes_batch(const xbp_wmem_writes_t *w)
{
    return (xb_wmem_batch_t){w->scope, w->n, w->entries};
}

void xbp_wmem_writes_free(xbp_wmem_writes_t **w)
{
    if (!w || !*w)
        return;
    free((*w)->data);
    free(*w);
    *w = NULL;
}

void xbp_wmem_conversation_ended(xb_pump_t *p, conv_t *c)
{
    if (!c->has_memory || p->cfg->memory.keep || c->journal_kept)
        return;
    xb_error_t err;
    if (xb_backend_wmem_drop(p->backend, c->root, &err) != 0)
        XB_WARN("pump", "conversation %s: its working memory was not removed: %s", c->root,
                err.message);
}

/* ---- pipelines ----------------------------------------------------------------------- */

const char *xbp_wmem_scope(const conv_t *conv, const char *chain, uint64_t pipe_ref, char *buf,
                           size_t cap)
{
    const char *root = xbp_wmem_conversation(conv, chain, buf, cap);
    if (!(pipe_ref & XBP_REF_OWN_SCOPE) || !root[0])
        return root;
    char tmp[XBP_SCOPE_MAX];
    snprintf(tmp, sizeof tmp, "%s/p%llx", root, (unsigned long long)xbp_ref_run(pipe_ref));
    xb_strlcpy(buf, tmp, cap);
    return buf;
}

int xbp_wmem_put(xb_pump_t *p, conv_t *conv, const char *scope, const char *name, const char *bytes,
                 size_t len, xb_error_t *err)
{
    xb_wmem_entry_t e[1];
    size_t n = 0;
    xb_proto_val_t v = {bytes, len, 0};
    if (add_write(p, e, &n, 1, name, v, err) != 0)
        return -1;
    return store(p, conv, scope, n, e, err);
}
