/* String-keyed hash map with chaining (see include/xmlbus/strmap.h). */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define STRMAP_INITIAL_BUCKETS 64 /* a power of two */

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    char *key;   /* owned */
    void *value; /* owned when the map has free_value */
} entry_t;

struct xb_strmap_t {
    entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    uint64_t seed; /* random per map: keys may come from the outside */
    xb_strmap_free_fn free_value;
};

/* Eight bytes at a time (keys are UUIDs and call chains of 40 to 100 bytes:
 * a byte-at-a-time hash was a visible part of routing a message), seeded per
 * map, finished with the MurmurHash3 mixer so every bit of the key reaches
 * the bucket index. */
static uint64_t hash_str(const xb_strmap_t *m, const char *key)
{
    size_t len = strlen(key);
    uint64_t h = m->seed ^ (len * 0x9e3779b97f4a7c15ULL);
    const unsigned char *p = (const unsigned char *)key;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

xb_strmap_t *xb_strmap_new_owning(xb_strmap_free_fn free_value)
{
    xb_strmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->buckets = calloc(STRMAP_INITIAL_BUCKETS, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    m->nbuckets = STRMAP_INITIAL_BUCKETS;
    m->free_value = free_value;
    if (getrandom(&m->seed, sizeof m->seed, GRND_NONBLOCK) != (ssize_t)sizeof m->seed)
        m->seed = (uint64_t)(uintptr_t)m ^ 0x9e3779b97f4a7c15ULL;
    return m;
}

xb_strmap_t *xb_strmap_new(void)
{
    return xb_strmap_new_owning(NULL);
}

/* Frees one unlinked entry and, when owning, its value. */
static void entry_free(const xb_strmap_t *m, entry_t *e)
{
    if (m->free_value)
        m->free_value(e->value);
    free(e->key);
    free(e);
}

void xb_strmap_clear(xb_strmap_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        entry_t *e = m->buckets[i];
        m->buckets[i] = NULL;
        while (e) {
            entry_t *next = e->next;
            entry_free(m, e);
            e = next;
        }
    }
    m->count = 0;
}

void xb_strmap_destroy(xb_strmap_t **mp)
{
    if (!mp || !*mp)
        return;
    xb_strmap_t *m = *mp;
    xb_strmap_clear(m);
    free(m->buckets);
    free(m);
    *mp = NULL;
}

/* The link that points at key's entry, or the empty link at the end of its
 * bucket's chain. */
static entry_t **find_link(const xb_strmap_t *m, const char *key, uint64_t h)
{
    entry_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

/* Doubles the table; on allocation failure the map keeps working, slower. */
static void grow(xb_strmap_t *m)
{
    size_t n = m->nbuckets * 2;
    entry_t **b = calloc(n, sizeof *b);
    if (!b)
        return;
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
    if (!m || !key)
        return -1;
    uint64_t h = hash_str(m, key);
    entry_t **pp = find_link(m, key, h);
    if (*pp) {
        if (m->free_value && (*pp)->value != value)
            m->free_value((*pp)->value);
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
    if (!m || !key)
        return NULL;
    entry_t **pp = find_link(m, key, hash_str(m, key));
    return *pp ? (*pp)->value : NULL;
}

/* Unlinks key's entry and returns it, or NULL. */
static entry_t *unlink_entry(xb_strmap_t *m, const char *key)
{
    if (!m || !key)
        return NULL;
    entry_t **pp = find_link(m, key, hash_str(m, key));
    entry_t *e = *pp;
    if (!e)
        return NULL;
    *pp = e->next;
    m->count--;
    return e;
}

void *xb_strmap_remove(xb_strmap_t *m, const char *key)
{
    entry_t *e = unlink_entry(m, key);
    if (!e)
        return NULL;
    void *value = e->value;
    free(e->key);
    free(e);
    return value;
}

bool xb_strmap_delete(xb_strmap_t *m, const char *key)
{
    entry_t *e = unlink_entry(m, key);
    if (!e)
        return false;
    entry_free(m, e);
    return true;
}

size_t xb_strmap_count(const xb_strmap_t *m)
{
    return m ? m->count : 0;
}

void xb_strmap_foreach(const xb_strmap_t *m, void (*fn)(const char *, void *, void *), void *user)
{
    if (!m || !fn)
        return;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (entry_t *e = m->buckets[i]; e; e = e->next)
            fn(e->key, e->value, user);
}
