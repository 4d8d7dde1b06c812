/* The `memory` backend's working memory (docs/storage.md "Working memory"):
 * a map conversation -> its entries, itself a map name -> blob, under the
 * backend's one mutex. Entry bytes count against max_bytes with the slots:
 * a put that needs room evicts the oldest threads, and one that cannot fit
 * even then is refused. A put is all or none: it checks the limits first,
 * then writes, and undoes what it wrote if a map runs out of memory. */
#include "backend_memory_internal.h"

#include <stdlib.h>
#include <string.h>

/* One conversation's memory. The entries map borrows its values (blobs
 * freed here), so that a failed put can put the replaced ones back. */
typedef struct {
    xb_strmap_t *entries; /* name -> xb_blob_t* */
    size_t bytes;
} mem_conv_t;

static void blob_free(void *p)
{
    xb_blob_t *b = p;
    if (b)
        free(b->data);
    free(b);
}

static void free_entry(const char *name, void *value, void *user)
{
    (void)name;
    (void)user;
    blob_free(value);
}

void xb_mem_conv_free(void *p)
{
    mem_conv_t *c = p;
    if (!c)
        return;
    xb_strmap_foreach(c->entries, free_entry, NULL);
    xb_strmap_destroy(&c->entries);
    free(c);
}

static int wmem_nomem(const char *conversation, xb_error_t *err)
{
    return xb_error_set(err, XB_ERR_NOMEM, 0,
                        "backend memory: out of memory for the working memory of %s", conversation);
}

static xb_blob_t *blob_copy(const void *data, size_t len)
{
    xb_blob_t *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    b->data = malloc(len ? len : 1);
    if (!b->data) {
        free(b);
        return NULL;
    }
    memcpy(b->data, data, len);
    b->len = len;
    return b;
}

/* The entry count and bytes the conversation would have after the put
 * (lock held). A refused count is XB_ERR_LIMIT naming the first entry over
 * max_wmem_entries. */
static int wmem_plan(const mem_t *m, const mem_conv_t *c, const mem_wmem_put_t *p, size_t *bytes,
                     xb_error_t *err)
{
    long count = c ? (long)xb_strmap_count(c->entries) : 0;
    size_t total = c ? c->bytes : 0;
    for (size_t i = 0; i < p->n; i++) {
        const xb_wmem_entry_t *e = &p->entries[i];
        if (xb_wmem_superseded(p->n, p->entries, i))
            continue;
        const xb_blob_t *old = c ? xb_strmap_get(c->entries, e->name) : NULL;
        if (old) {
            total -= old->len;
        } else if (++count > m->cfg.max_wmem_entries && m->cfg.max_wmem_entries > 0) {
            return xb_wmem_refuse(err, "memory", p->conversation, e->name, m->cfg.max_wmem_entries);
        }
        total += e->len;
    }
    *bytes = total;
    return 0;
}

int xb_mem_wmem_check(const mem_t *m, const mem_wmem_put_t *p, size_t *grow, xb_error_t *err)
{
    const mem_conv_t *c = xb_strmap_get(m->wmem, p->conversation);
    size_t had = c ? c->bytes : 0, will = 0, max = m->cfg.max_bytes;
    if (wmem_plan(m, c, p, &will, err) != 0)
        return -1;
    *grow = will > had ? will - had : 0;
    if (max > 0 && m->wmem_bytes + *grow > max)
        return xb_error_set(err, XB_ERR_LIMIT, 0,
                            "backend memory: working memory of conversation %s: %zu bytes more "
                            "exceed max_bytes %zu",
                            p->conversation, *grow, max);
    return 0;
}

/* Writes the copies into c (lock held); on no memory puts the replaced blobs
 * back and returns -1. copies[i] moves to the map on success (set NULL). */
static int wmem_apply(mem_conv_t *c, mem_wmem_put_t *p)
{
    size_t n = p->n, i = 0;
    xb_blob_t **copies = p->copies, **old = copies + n;
    const xb_wmem_entry_t *entries = p->entries;
    for (; i < n; i++) {
        if (!copies[i])
            continue;
        old[i] = xb_strmap_get(c->entries, entries[i].name);
        if (xb_strmap_put(c->entries, entries[i].name, copies[i]) != 0)
            break;
    }
    if (i == n) {
        for (size_t j = 0; j < n; j++) {
            blob_free(old[j]);
            old[j] = copies[j] = NULL;
        }
        return 0;
    }
    while (i-- > 0) {
        if (!copies[i])
            continue;
        if (old[i])
            xb_strmap_put(c->entries, entries[i].name, old[i]); /* a replace: no allocation */
        else
            xb_strmap_remove(c->entries, entries[i].name);
        old[i] = NULL;
    }
    return -1;
}

int xb_mem_wmem_write(mem_t *m, mem_wmem_put_t *p, mem_thread_t *keep, xb_error_t *err)
{
    const char *conversation = p->conversation;
    size_t grow = 0;
    if (xb_mem_wmem_check(m, p, &grow, err) != 0)
        return -1;
    if (m->cfg.max_bytes > 0 && !xb_mem_make_room(m, keep, grow))
        return xb_error_set(err, XB_ERR_LIMIT, 0,
                            "backend memory: working memory of conversation %s: %zu bytes more "
                            "exceed max_bytes %zu",
                            conversation, grow, m->cfg.max_bytes);
    mem_conv_t *c = xb_strmap_get(m->wmem, conversation);
    size_t had = c ? c->bytes : 0, will = 0;
    bool created = false;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || !(c->entries = xb_strmap_new()) || xb_strmap_put(m->wmem, conversation, c) != 0) {
            xb_mem_conv_free(c);
            return wmem_nomem(conversation, err);
        }
        created = true;
    }
    wmem_plan(m, c, p, &will, err); /* checked above: cannot fail */
    if (wmem_apply(c, p) != 0) {
        if (created)
            xb_strmap_delete(m->wmem, conversation);
        return wmem_nomem(conversation, err);
    }
    c->bytes = will;
    m->wmem_bytes = m->wmem_bytes - had + will;
    m->total_bytes = m->total_bytes - had + will;
    return 0;
}

int xb_mem_wmem_prepare(mem_wmem_put_t *p, const char *conversation, size_t n,
                        const xb_wmem_entry_t *entries, xb_error_t *err)
{
    *p = (mem_wmem_put_t){conversation, n, entries, calloc(2 * n, sizeof *p->copies)};
    if (!p->copies)
        return wmem_nomem(conversation, err);
    for (size_t i = 0; i < n; i++) {
        if (xb_wmem_superseded(n, entries, i))
            continue;
        if (!(p->copies[i] = blob_copy(entries[i].data, entries[i].len)))
            return wmem_nomem(conversation, err);
    }
    return 0;
}

void xb_mem_wmem_release(mem_wmem_put_t *p)
{
    for (size_t i = 0; p->copies && i < p->n; i++)
        blob_free(p->copies[i]);
    free(p->copies);
    p->copies = NULL;
}

int xb_mem_wmem_put(void *self, const char *conversation, size_t n, const xb_wmem_entry_t *entries,
                    xb_error_t *err)
{
    mem_t *m = self;
    mem_wmem_put_t p;
    int rc = xb_mem_wmem_prepare(&p, conversation, n, entries, err);
    if (rc == 0) {
        pthread_mutex_lock(&m->lock);
        rc = xb_mem_wmem_write(m, &p, NULL, err);
        pthread_mutex_unlock(&m->lock);
    }
    xb_mem_wmem_release(&p);
    return rc;
}

int xb_mem_wmem_get(void *self, const char *conversation, const char *name, xb_blob_t *out,
                    xb_error_t *err)
{
    mem_t *m = self;
    int rc = 1;
    pthread_mutex_lock(&m->lock);
    const mem_conv_t *c = xb_strmap_get(m->wmem, conversation);
    const xb_blob_t *v = c ? xb_strmap_get(c->entries, name) : NULL;
    if (v) {
        rc = 0;
        if (!(out->data = malloc(v->len)))
            rc = wmem_nomem(conversation, err);
        else
            memcpy(out->data, v->data, out->len = v->len);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

typedef struct {
    xb_wmem_list_t *out;
    int rc;
} list_walk_t;

static void copy_entry(const char *name, void *value, void *user)
{
    list_walk_t *w = user;
    const xb_blob_t *v = value;
    if (w->rc != 0)
        return;
    xb_wmem_item_t *it = &w->out->items[w->out->count++]; /* counted first: a failure frees it */
    it->name = strdup(name);
    it->data.data = malloc(v->len);
    it->data.len = v->len;
    if (!it->name || !it->data.data)
        w->rc = -1;
    else
        memcpy(it->data.data, v->data, v->len);
}

int xb_mem_wmem_list(void *self, const char *conversation, xb_wmem_list_t *out, xb_error_t *err)
{
    mem_t *m = self;
    list_walk_t w = {.out = out};
    pthread_mutex_lock(&m->lock);
    const mem_conv_t *c = xb_strmap_get(m->wmem, conversation);
    size_t n = c ? xb_strmap_count(c->entries) : 0;
    if (n > 0 && !(out->items = calloc(n, sizeof *out->items)))
        w.rc = -1;
    if (n > 0 && w.rc == 0)
        xb_strmap_foreach(c->entries, copy_entry, &w);
    pthread_mutex_unlock(&m->lock);
    if (w.rc != 0) {
        xb_wmem_list_free(out);
        return wmem_nomem(conversation, err);
    }
    xb_wmem_list_sort(out);
    return 0;
}

int xb_mem_wmem_drop(void *self, const char *conversation, xb_error_t *err)
{
    (void)err;
    mem_t *m = self;
    pthread_mutex_lock(&m->lock);
    const mem_conv_t *c = xb_strmap_get(m->wmem, conversation);
    if (c) {
        m->wmem_bytes -= c->bytes;
        m->total_bytes -= c->bytes;
        xb_strmap_delete(m->wmem, conversation);
    }
    pthread_mutex_unlock(&m->lock);
    return 0;
}
