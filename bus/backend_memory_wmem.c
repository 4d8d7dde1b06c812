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
static int wmem_plan(const mem_t *m, const mem_conv_t *c, const char *conversation, size_t n,
                     const xb_wmem_entry_t *entries, size_t *bytes, xb_error_t *err)
{
    long count = c ? (long)xb_strmap_count(c->entries) : 0;
    size_t total = c ? c->bytes : 0;
    for (size_t i = 0; i < n; i++) {
        if (xb_wmem_superseded(n, entries, i))
            continue;
        const xb_blob_t *old = c ? xb_strmap_get(c->entries, entries[i].name) : NULL;
        if (old) {
            total -= old->len;
        } else if (++count > m->cfg.max_wmem_entries && m->cfg.max_wmem_entries > 0) {
            return xb_wmem_refuse(err, "memory", conversation, entries[i].name,
                                  m->cfg.max_wmem_entries);
        }
        total += entries[i].len;
    }
    *bytes = total;
    return 0;
}

/* Makes room for the conversation growing from `had` to `will` bytes (lock
 * held): evicts the oldest threads, refuses when working memory alone would
 * exceed max_bytes. */
static int wmem_room(mem_t *m, const char *conversation, size_t had, size_t will, xb_error_t *err)
{
    size_t max = m->cfg.max_bytes;
    if (max == 0 || will <= had)
        return 0;
    if (m->wmem_bytes + (will - had) > max)
        return xb_error_set(err, XB_ERR_LIMIT, 0,
                            "backend memory: working memory of conversation %s: %zu bytes more "
                            "exceed max_bytes %zu",
                            conversation, will - had, max);
    return xb_mem_make_room(m, NULL, will - had) ? 0 : -1; /* cannot fail: threads are evictable */
}

/* Writes the copies into c (lock held); on no memory puts the replaced blobs
 * back and returns -1. copies[i] moves to the map on success (set NULL). */
static int wmem_apply(mem_conv_t *c, size_t n, const xb_wmem_entry_t *entries, xb_blob_t **copies,
                      xb_blob_t **old)
{
    size_t i = 0;
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
            copies[j] = NULL;
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
    }
    return -1;
}

static int wmem_put_locked(mem_t *m, const char *conversation, size_t n,
                           const xb_wmem_entry_t *entries, xb_blob_t **copies, xb_blob_t **old,
                           xb_error_t *err)
{
    mem_conv_t *c = xb_strmap_get(m->wmem, conversation);
    size_t had = c ? c->bytes : 0, will = 0;
    if (wmem_plan(m, c, conversation, n, entries, &will, err) != 0 ||
        wmem_room(m, conversation, had, will, err) != 0)
        return -1;
    bool created = false;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || !(c->entries = xb_strmap_new()) || xb_strmap_put(m->wmem, conversation, c) != 0) {
            xb_mem_conv_free(c);
            return wmem_nomem(conversation, err);
        }
        created = true;
    }
    if (wmem_apply(c, n, entries, copies, old) != 0) {
        if (created)
            xb_strmap_delete(m->wmem, conversation);
        return wmem_nomem(conversation, err);
    }
    c->bytes = will;
    m->wmem_bytes = m->wmem_bytes - had + will;
    m->total_bytes = m->total_bytes - had + will;
    return 0;
}

int xb_mem_wmem_put(void *self, const char *conversation, size_t n, const xb_wmem_entry_t *entries,
                    xb_error_t *err)
{
    mem_t *m = self;
    xb_blob_t **copies = calloc(2 * n, sizeof *copies), **old = copies + n;
    if (!copies)
        return wmem_nomem(conversation, err);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (xb_wmem_superseded(n, entries, i))
            continue;
        if (!(copies[i] = blob_copy(entries[i].data, entries[i].len)))
            rc = wmem_nomem(conversation, err);
    }
    if (rc == 0) {
        pthread_mutex_lock(&m->lock);
        rc = wmem_put_locked(m, conversation, n, entries, copies, old, err);
        pthread_mutex_unlock(&m->lock);
    }
    for (size_t i = 0; i < n; i++)
        blob_free(copies[i]);
    free(copies);
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
