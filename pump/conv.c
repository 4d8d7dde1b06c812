/* Origins (who sent a message: where its SystemErrors go) and live
 * conversations (a root and how many of its deliveries are pending). */
#include "pump_internal.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wmem.h"
#include "str.h"

void xbp_origin_clear(origin_t *o)
{
    free(o->chain);
    o->chain = NULL;
}

int xbp_origin_copy(origin_t *dst, const origin_t *src)
{
    *dst = *src;
    dst->chain = src->chain ? strdup(src->chain) : NULL;
    return src->chain && !dst->chain ? -1 : 0;
}

conv_t *xbp_conv_new(xb_pump_t *p, const char *root)
{
    conv_t *c = calloc(1, sizeof *c);
    if (!c || !(c->root = strdup(root)) || xb_strmap_put(p->convs, root, c) != 0) {
        if (c)
            free(c->root);
        free(c);
        return NULL;
    }
    c->last_ms = p->now_ms;
    return c;
}

void xbp_conv_note_failure(conv_t *c, xb_code_t code, const char *listener, int hop,
                           const char *message)
{
    if (!c || c->noted)
        return;
    c->noted = true;
    c->fail_code = code;
    c->fail_hop = hop;
    xb_strlcpy(c->fail_listener, listener ? listener : "", sizeof c->fail_listener);
    c->fail_message = strdup(message ? message : "");
}

void xbp_conv_free(conv_t *c)
{
    if (!c)
        return;
    free(c->root);
    free(c->fail_message);
    free(c);
}

/* Remembers c's client thread -> root in the ring of kept memories (the
 * oldest goes). Without memory for the ring, the thread is only forgotten. */
static void remember_kept(xb_pump_t *p, const conv_t *c)
{
    if (!p->kept && !(p->kept = calloc(XBP_KEPT_MAX, sizeof *p->kept)))
        return;
    xbp_kept_t *k = &p->kept[p->kept_next];
    free(k->root);
    k->root = strdup(c->root);
    xb_strlcpy(k->thread, c->client_thread, sizeof k->thread);
    p->kept_next = (p->kept_next + 1) % XBP_KEPT_MAX;
}

const char *xbp_conv_kept_root(const xb_pump_t *p, const char *thread)
{
    /* newest first: a thread continued later names its last conversation */
    for (size_t i = 1; p->kept && i <= XBP_KEPT_MAX; i++) {
        const xbp_kept_t *k = &p->kept[(p->kept_next + XBP_KEPT_MAX - i) % XBP_KEPT_MAX];
        if (k->root && strcmp(k->thread, thread) == 0)
            return k->root;
    }
    return NULL;
}

/* The conversation is over: every branch has ended. Its registry entries go;
 * its context buffers stay (retention is the backend's business). */
void xbp_conv_release(xb_pump_t *p, conv_t *c)
{
    xb_strmap_remove(p->convs, c->root);
    xb_error_t err;
    if (xb_registry_end_conversation(p->registry, c->root, NULL, &err) != 0)
        XB_WARN("pump", "conversation %s: could not remove its registry entries: %s", c->root,
                err.message);
    xbp_wmem_conversation_ended(p, c);
    if (c->has_memory && p->cfg->memory.keep && c->has_client && c->client_thread[0])
        remember_kept(p, c);
    XB_DEBUG("pump", "conversation %s ended%s", c->root, c->failed ? " in failure" : "");
    if (c->failed && c->has_client && !c->client_told) {
        c->next_ended = p->ended;
        p->ended = c;
        return;
    }
    xbp_conv_free(c);
}

static void conv_free_cb(const char *key, void *value, void *user)
{
    (void)key;
    (void)user;
    xbp_conv_free(value);
}

void xbp_convs_free(xb_pump_t *p)
{
    for (size_t i = 0; p->kept && i < XBP_KEPT_MAX; i++)
        free(p->kept[i].root);
    free(p->kept);
    p->kept = NULL;
    while (p->ended) {
        conv_t *c = p->ended;
        p->ended = c->next_ended;
        xbp_conv_free(c);
    }
    if (!p->convs)
        return;
    xb_strmap_foreach(p->convs, conv_free_cb, NULL);
    xb_strmap_destroy(&p->convs);
}

void xbp_conv_unhold(xb_pump_t *p, conv_t *c)
{
    if (c && --c->pending <= 0)
        xbp_conv_release(p, c);
}
