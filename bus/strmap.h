/* A small string-keyed hash map (chained, power-of-two buckets, doubling at a
 * load factor of 1: amortised O(1) put/get/remove). Keys are copied. Values
 * are either borrowed (xb_strmap_new: the map never frees them) or owned
 * (xb_strmap_new_owning: the map frees them with the given function when they
 * are replaced, deleted, cleared or the map is destroyed). The hash is seeded
 * per map from getrandom(), so keys that come from outside cannot be chosen
 * to fall into one bucket; iteration order is therefore unspecified.
 * Not thread-safe: callers lock around it if several threads share a map.
 * Users: the pump's conversation table, the memory backend. */
#ifndef XMLBUS_STRMAP_H
#define XMLBUS_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xb_strmap_t xb_strmap_t;

/* Frees one value of an owning map. */
typedef void (*xb_strmap_free_fn)(void *value);

/* A map of borrowed values. Caller owns the map (xb_strmap_destroy frees
 * its keys, never its values). NULL on no memory. */
xb_strmap_t *xb_strmap_new(void);

/* A map that owns its values and frees them with free_value (NULL: the same
 * as xb_strmap_new). Caller owns the map. NULL on no memory. */
xb_strmap_t *xb_strmap_new_owning(xb_strmap_free_fn free_value);

/* Frees the map, its keys and (owning map) its values; sets *m to NULL.
 * NULL or *m NULL does nothing. */
void xb_strmap_destroy(xb_strmap_t **m);

/* Inserts or replaces the value of key (copied). An owning map takes
 * ownership of value on success only, and frees the value it replaces
 * (unless it is the same pointer). Returns 0, or -1 on no memory or a NULL
 * map or key. */
int xb_strmap_put(xb_strmap_t *m, const char *key, void *value);

/* The value of key (still owned by the map), or NULL when absent. */
void *xb_strmap_get(const xb_strmap_t *m, const char *key);

/* Removes key and returns its value, which is never freed: with an owning
 * map the caller owns it from now on. NULL when absent. */
void *xb_strmap_remove(xb_strmap_t *m, const char *key);

/* Removes key and frees its value (owning map). key may point into the
 * value: it is not read once the value is freed. Returns whether key was
 * there. */
bool xb_strmap_delete(xb_strmap_t *m, const char *key);

/* Removes every entry, freeing the values of an owning map. The map keeps
 * its buckets and stays usable. */
void xb_strmap_clear(xb_strmap_t *m);

/* Number of entries (0 for NULL). */
size_t xb_strmap_count(const xb_strmap_t *m);

/* Calls fn for every entry, in no particular order. The map must not change
 * during the walk (fn may not put, remove, delete or clear). */
void xb_strmap_foreach(const xb_strmap_t *m, void (*fn)(const char *key, void *value, void *user),
                       void *user);

#ifdef __cplusplus
}
#endif
#endif
