/* A small string-keyed hash map for the pump's tables (conversations by root).
 * Keys are copied; values are borrowed pointers. Not thread-safe: the pump's
 * event loop is its only user. */
#ifndef XB_PUMP_STRMAP_H
#define XB_PUMP_STRMAP_H

#include <stddef.h>

typedef struct xb_strmap_t xb_strmap_t;

/* Caller owns the map; xb_strmap_destroy frees keys, not values. */
xb_strmap_t *xb_strmap_new(void);
void xb_strmap_destroy(xb_strmap_t **m);
/* Inserts or replaces. Returns 0, or -1 on no memory. */
int xb_strmap_put(xb_strmap_t *m, const char *key, void *value);
void *xb_strmap_get(const xb_strmap_t *m, const char *key);
/* Removes key; returns its value or NULL. */
void *xb_strmap_remove(xb_strmap_t *m, const char *key);
size_t xb_strmap_count(const xb_strmap_t *m);
/* Calls fn for every entry (the map must not change meanwhile). */
void xb_strmap_foreach(const xb_strmap_t *m, void (*fn)(const char *key, void *value, void *user),
                       void *user);

#endif
