/* Reading and editing the fields of an envelope (include/xmlbus/envelope.h,
 * docs/envelope.md). Edits change the document and the cached strings
 * together. */
#include "envelope_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- read --------------------------------------------------------------- */

const char *xb_envelope_from(const xb_envelope_t *e)
{
    return e ? e->from_s : NULL;
}

const char *xb_envelope_to(const xb_envelope_t *e)
{
    return e ? e->to_s : NULL;
}

const char *xb_envelope_thread(const xb_envelope_t *e)
{
    return e ? e->thread_s : NULL;
}

bool xb_envelope_thread_replaced(const xb_envelope_t *e)
{
    return e && e->thread_orig;
}

const char *xb_envelope_thread_original(const xb_envelope_t *e)
{
    return e ? e->thread_orig : NULL;
}

xmlNodePtr xb_envelope_payload(const xb_envelope_t *e)
{
    return e ? e->payload : NULL;
}

const char *xb_envelope_payload_type(const xb_envelope_t *e)
{
    return e ? e->type_s : NULL;
}

const char *xb_envelope_payload_ns(const xb_envelope_t *e)
{
    if (!e || !e->payload->ns || !e->payload->ns->href || !e->payload->ns->href[0])
        return NULL;
    return (const char *)e->payload->ns->href;
}

const char *xb_envelope_payload_name(const xb_envelope_t *e)
{
    return e ? (const char *)e->payload->name : NULL;
}

const char *xb_envelope_id(const xb_envelope_t *e)
{
    return e ? e->id_s : NULL;
}

int64_t xb_envelope_ts(const xb_envelope_t *e)
{
    return e ? e->ts_v : 0;
}

int xb_envelope_depth(const xb_envelope_t *e)
{
    return e ? e->depth_v : 0;
}

static bool is_extension(const xmlNode *n)
{
    if (!n || n->type != XML_ELEMENT_NODE || in_ns(n, ENV_NS))
        return false;
    return !is_meta_field(n, "id") && !is_meta_field(n, "ts") && !is_meta_field(n, "depth");
}

xmlNodePtr xb_envelope_extension_first(const xb_envelope_t *e)
{
    if (!e)
        return NULL;
    xmlNodePtr n = e->meta->children;
    while (n && !is_extension(n))
        n = n->next;
    return n;
}

xmlNodePtr xb_envelope_extension_next(const xb_envelope_t *e, xmlNodePtr prev)
{
    if (!e || !prev)
        return NULL;
    xmlNodePtr n = prev->next;
    while (n && !is_extension(n))
        n = n->next;
    return n;
}

size_t xb_envelope_extension_count(const xb_envelope_t *e)
{
    size_t count = 0;
    for (xmlNodePtr x = xb_envelope_extension_first(e); x; x = xb_envelope_extension_next(e, x))
        count++;
    return count;
}

xmlDocPtr xb_envelope_doc(const xb_envelope_t *e)
{
    return e ? e->doc : NULL;
}

/* ---- write -------------------------------------------------------------- */

/* Sets the text of el and the envelope's cached copy *cache of it (the
 * cache changes only when the text did). */
static int set_cached_text(xmlNodePtr el, const char *value, char **cache, xb_error_t *err)
{
    char *copy = strdup(value);
    if (!copy)
        return xb_env_nomem(err);
    if (xb_env_set_text(el, value, err) < 0) {
        free(copy);
        return -1;
    }
    free(*cache);
    *cache = copy;
    return 0;
}

int xb_envelope_set_from(xb_envelope_t *e, const char *from, xb_error_t *err)
{
    if (!e)
        return xb_error_set(err, XB_ERR_ARG, 0, "no envelope");
    if (xb_env_check_name("from", from, err) < 0)
        return -1;
    return set_cached_text(e->from, from, &e->from_s, err);
}

int xb_envelope_set_to(xb_envelope_t *e, const char *to, xb_error_t *err)
{
    if (!e)
        return xb_error_set(err, XB_ERR_ARG, 0, "no envelope");
    if (!to) {
        if (e->to) {
            xmlUnlinkNode(e->to);
            xmlFreeNode(e->to);
            e->to = NULL;
        }
        free(e->to_s);
        e->to_s = NULL;
        return 0;
    }
    if (xb_env_check_name("to", to, err) < 0)
        return -1;
    if (!e->to) {
        xmlNodePtr el = xmlNewDocNode(e->doc, e->meta->ns, BAD_CAST "to", NULL);
        if (!el || !xmlAddNextSibling(e->from, el)) {
            xmlFreeNode(el);
            return xb_env_nomem(err);
        }
        e->to = el;
    }
    return set_cached_text(e->to, to, &e->to_s, err);
}

int xb_envelope_set_thread(xb_envelope_t *e, const char *thread, xb_error_t *err)
{
    if (!e)
        return xb_error_set(err, XB_ERR_ARG, 0, "no envelope");
    if (!xb_uuid_is_canonical(thread))
        return xb_error_set(err, XB_ERR_ARG, 0, "thread '%.40s' is not a canonical UUID",
                            thread ? thread : "(null)");
    return set_cached_text(e->thread, thread, &e->thread_s, err);
}

/* The xmlbus meta element *slot, made at the end of <meta> when missing. */
static int meta_element(xb_envelope_t *e, xmlNodePtr *slot, const char *local, xb_error_t *err)
{
    if (*slot)
        return 0;
    xmlNodePtr el = xmlNewDocNode(e->doc, NULL, BAD_CAST local, NULL);
    if (!el)
        return xb_env_nomem(err);
    xmlNsPtr ns = xmlSearchNsByHref(e->doc, e->meta, META_NS);
    if (!ns || !ns->prefix)
        ns = xmlNewNs(el, META_NS, BAD_CAST "x");
    if (!ns || !xmlAddChild(e->meta, el)) {
        xmlFreeNode(el);
        return xb_env_nomem(err);
    }
    xmlSetNs(el, ns);
    *slot = el;
    return 0;
}

int xb_envelope_set_id(xb_envelope_t *e, const char *id, xb_error_t *err)
{
    if (!e)
        return xb_error_set(err, XB_ERR_ARG, 0, "no envelope");
    if (xb_env_check_name("id", id, err) < 0 || meta_element(e, &e->id, "id", err) < 0)
        return -1;
    return set_cached_text(e->id, id, &e->id_s, err);
}

int xb_envelope_set_ts(xb_envelope_t *e, int64_t ts_us, xb_error_t *err)
{
    if (!e || ts_us < 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "ts must be >= 0");
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)ts_us);
    if (meta_element(e, &e->ts, "ts", err) < 0 || xb_env_set_text(e->ts, buf, err) < 0)
        return -1;
    e->ts_v = ts_us;
    return 0;
}

int xb_envelope_set_depth(xb_envelope_t *e, int depth, xb_error_t *err)
{
    if (!e || depth < 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "depth must be >= 0");
    char buf[16];
    snprintf(buf, sizeof buf, "%d", depth);
    if (meta_element(e, &e->depth, "depth", err) < 0 || xb_env_set_text(e->depth, buf, err) < 0)
        return -1;
    e->depth_v = depth;
    return 0;
}
