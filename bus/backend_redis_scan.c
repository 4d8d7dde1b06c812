/* SCAN over the keys of one kind for the redis backend
 * (docs/backend-redis.md): listing names, deleting every key of a kind. */
#include "backend_redis_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_COUNT "1000"
#define SCAN_CURSOR_MAX 32 /* a SCAN cursor is an unsigned 64-bit decimal */

typedef int (*scan_fn)(xb_redis_t *r, redisReply *keys, void *arg, xb_error_t *err);

/* One SCAN step over the keys "prefix kind *" from cursor (a decimal of
 * less than SCAN_CURSOR_MAX bytes, replaced by the next one): fn gets its
 * batch. SCAN may return a key twice; callers that count or list
 * deduplicate. */
static int scan_step(xb_redis_t *r, const char *kind, char *cursor, const char *count, scan_fn fn,
                     void *arg, xb_error_t *err)
{
    char pattern[340];
    snprintf(pattern, sizeof pattern, "%s%s*", r->pattern, kind);
    const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", count};
    redisReply *rep = xb_redis_command(r, true, 6, argv, NULL, err);
    if (!rep)
        return -1;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY ||
        rep->element[0]->len >= SCAN_CURSOR_MAX) {
        xb_redis_reply_error(r, rep, "SCAN", pattern, err);
        freeReplyObject(rep);
        return -1;
    }
    memcpy(cursor, rep->element[0]->str, rep->element[0]->len + 1);
    int rc = fn(r, rep->element[1], arg, err);
    freeReplyObject(rep);
    return rc != 0 ? -1 : 0;
}

/* Calls fn for every batch of keys "prefix kind *". */
static int scan_each(xb_redis_t *r, const char *kind, scan_fn fn, void *arg, xb_error_t *err)
{
    char cursor[SCAN_CURSOR_MAX] = "0";
    do {
        if (scan_step(r, kind, cursor, SCAN_COUNT, fn, arg, err) != 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static int collect_names(xb_redis_t *r, redisReply *keys, void *arg, xb_error_t *err)
{
    (void)r;
    name_set_t *set = arg;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len <= set->skip || memchr(k->str, '\0', k->len))
            continue; /* not representable as a C string: not ours */
        if (set->count == set->cap) {
            size_t cap = set->cap ? set->cap * 2 : 64;
            char **items = realloc(set->items, cap * sizeof *items);
            if (!items)
                return xb_redis_nomem(err, "SCAN result");
            set->items = items;
            set->cap = cap;
        }
        char *name = strndup(k->str + set->skip, k->len - set->skip);
        if (!name)
            return xb_redis_nomem(err, "SCAN result");
        set->items[set->count++] = name;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the names and drops the duplicates SCAN may produce. */
static void names_unique(name_set_t *set)
{
    if (set->count < 2)
        return;
    qsort(set->items, set->count, sizeof *set->items, cmp_str);
    size_t o = 1;
    for (size_t i = 1; i < set->count; i++) {
        if (strcmp(set->items[i], set->items[o - 1]) == 0)
            free(set->items[i]);
        else
            set->items[o++] = set->items[i];
    }
    set->count = o;
}

void xb_redis_names_free(name_set_t *set)
{
    for (size_t i = 0; i < set->count; i++)
        free(set->items[i]);
    free(set->items);
    set->items = NULL;
    set->count = set->cap = 0;
}

int xb_redis_scan_names(xb_redis_t *r, const char *kind, name_set_t *set, xb_error_t *err)
{
    memset(set, 0, sizeof *set);
    set->skip = r->prefix_len + strlen(kind);
    if (scan_each(r, kind, collect_names, set, err) != 0) {
        xb_redis_names_free(set);
        return -1;
    }
    names_unique(set);
    return 0;
}

int xb_redis_scan_page(xb_redis_t *r, const char *kind, char *cursor, size_t count, name_set_t *set,
                       xb_error_t *err)
{
    memset(set, 0, sizeof *set);
    set->skip = r->prefix_len + strlen(kind);
    size_t n = strlen(cursor);
    if (n == 0 || n >= SCAN_CURSOR_MAX || strspn(cursor, "0123456789") != n)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: not a cursor: %.64s", cursor);
    char c[SCAN_CURSOR_MAX], cnt[32];
    memcpy(c, cursor, n + 1);
    snprintf(cnt, sizeof cnt, "%zu", count);
    if (scan_step(r, kind, c, cnt, collect_names, set, err) != 0) {
        xb_redis_names_free(set);
        return -1;
    }
    memcpy(cursor, c, strlen(c) + 1);
    return 0;
}

int xb_redis_count_names(xb_redis_t *r, const char *kind, int steps, long *count, xb_error_t *err)
{
    name_set_t set = {.skip = r->prefix_len + strlen(kind)};
    char cursor[SCAN_CURSOR_MAX] = "0";
    int rc = 0;
    do {
        rc = scan_step(r, kind, cursor, SCAN_COUNT, collect_names, &set, err);
    } while (rc == 0 && --steps > 0 && strcmp(cursor, "0") != 0);
    if (rc == 0) {
        names_unique(&set);
        *count = strcmp(cursor, "0") == 0 ? (long)set.count : -1;
    }
    xb_redis_names_free(&set);
    return rc;
}

/* Deletes one SCAN batch with UNLINK (DEL on servers before 4.0). */
static int delete_keys(xb_redis_t *r, redisReply *keys, void *arg, xb_error_t *err)
{
    (void)arg;
    if (keys->elements == 0)
        return 0;
    size_t argc = keys->elements + 1;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        return xb_redis_nomem(err, "delete batch");
    }
    for (size_t i = 0; i < keys->elements; i++) {
        argv[i + 1] = keys->element[i]->str;
        lens[i + 1] = keys->element[i]->len;
    }
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        argv[0] = r->no_unlink ? "DEL" : "UNLINK";
        lens[0] = strlen(argv[0]);
        redisReply *rep = xb_redis_command(r, true, (int)argc, argv, lens, err);
        if (!rep)
            break;
        if (rep->type == REDIS_REPLY_ERROR && !r->no_unlink &&
            strstr(rep->str, "unknown command")) {
            r->no_unlink = true;
            freeReplyObject(rep);
            continue;
        }
        rc = rep->type == REDIS_REPLY_INTEGER ? 0 : xb_redis_reply_error(r, rep, argv[0], "", err);
        freeReplyObject(rep);
        break;
    }
    free(argv);
    free(lens);
    return rc;
}

int xb_redis_clear_kinds(xb_redis_t *r, const char *const *kinds, size_t n, xb_error_t *err)
{
    sigpipe_guard_t g;
    int rc = 0;
    xb_redis_enter(r, &g);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = scan_each(r, kinds[i], delete_keys, NULL, err);
    xb_redis_leave(r, &g);
    return rc;
}
