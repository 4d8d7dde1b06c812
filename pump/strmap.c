/* String-keyed open hash map with chaining (see strmap.h). */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *key;
    void *value;
    uint64_t hash;
    struct entry *next;
} entry_t;

struct xb_strmap_t {
    entry_t **buckets;
    size_t nbuckets;
    size_t count;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

xb_strmap_t *xb_strmap_new(void)
{
    xb_strmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    return m;
}

void xb_strmap_destroy(xb_strmap_t **mp)
{
    if (!mp || !*mp)
        return;
    xb_strmap_t *m = *mp;
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry_t *e = m->buckets[i];
        while (e) {
            entry_t *next = e->next;
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
    *mp = NULL;
}

static entry_t **find_slot(const xb_strmap_t *m, const char *key, uint64_t h)
{
    entry_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void grow(xb_strmap_t *m)
{
    size_t n = m->nbuckets * 2;
    entry_t **b = calloc(n, sizeof *b);
    if (!b)
        return; /* stay at the current size: slower, still correct */
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry_t *e = m->buckets[i];
        while (e) {
            entry_t *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int xb_strmap_put(xb_strmap_t *m, const char *key, void *value)
{
    uint64_t h = hash_str(key);
    entry_t **pp = find_slot(m, key, h);
    if (*pp) {
        (*pp)->value = value;
        return 0;
    }
    entry_t *e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return -1;
    }
    e->value = value;
    e->hash = h;
    *pp = e;
    if (++m->count > m->nbuckets)
        grow(m);
    return 0;
}

void *xb_strmap_get(const xb_strmap_t *m, const char *key)
{
    entry_t **pp = find_slot(m, key, hash_str(key));
    return *pp ? (*pp)->value : NULL;
}

void *xb_strmap_remove(xb_strmap_t *m, const char *key)
{
    entry_t **pp = find_slot(m, key, hash_str(key));
    if (!*pp)
        return NULL;
    entry_t *e = *pp;
    void *value = e->value;
    *pp = e->next;
    free(e->key);
    free(e);
    m->count--;
    return value;
}

size_t xb_strmap_count(const xb_strmap_t *m) { return m->count; }

void xb_strmap_foreach(const xb_strmap_t *m, void (*fn)(const char *, void *, void *), void *user)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (entry_t *e = m->buckets[i]; e; e = e->next)
            fn(e->key, e->value, user);
}
