/* The redis backend's registry ops (docs/backend-redis.md): "prefix
 * chain:CHAIN" -> uuid and "prefix uuid:UUID" -> chain, changed by script
 * chunks that keep the pairs a bijection. */
#include "backend_redis_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MGET_CHUNK 256

/* Checks one change (SET: chain and uuid, DELETE: uuid); every change of a
 * batch is checked before anything is sent. */
static int reg_check(const xb_registry_op_t *op, xb_error_t *err)
{
    if (op->kind == XB_REGISTRY_OP_SET)
        return xb_redis_check_name("chain", op->chain, err) != 0
                   ? -1
                   : xb_redis_check_name("uuid", op->uuid, err);
    if (op->kind == XB_REGISTRY_OP_DELETE)
        return xb_redis_check_name("uuid", op->uuid, err);
    return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: unknown registry op kind %d",
                        (int)op->kind);
}

/* Number of changes from ops (n > 0 left) in the next chunk: at most
 * CHUNK_ITEMS and CHUNK_BYTES of chain and uuid bytes, but at least one. */
static size_t reg_chunk_len(const xb_registry_op_t *ops, size_t n)
{
    size_t m = 0, bytes = 0;
    while (m < n && m < CHUNK_ITEMS) {
        size_t len = strlen(ops[m].uuid);
        if (ops[m].kind == XB_REGISTRY_OP_SET)
            len += strlen(ops[m].chain);
        if (m > 0 && bytes + len > CHUNK_BYTES)
            break;
        bytes += len;
        m++;
    }
    return m;
}

static int reg_reply_error(xb_redis_t *r, const redisReply *rep, const xb_registry_op_t *ops,
                           size_t m, xb_error_t *err)
{
    char what[64];
    if (m > 1) {
        snprintf(what, sizeof what, "of %zu changes", m);
        return xb_redis_reply_error(r, rep, "registry batch", what, err);
    }
    if (ops[0].kind == XB_REGISTRY_OP_SET)
        return xb_redis_reply_error(r, rep, "registry set", ops[0].chain, err);
    return xb_redis_reply_error(r, rep, "registry delete", ops[0].uuid, err);
}

/* Applies changes [0, m) by one script call; values[i] (if not NULL)
 * receives each change's result. Sent once more on a fresh connection when
 * the connection broke: every change is idempotent. */
static int reg_chunk(xb_redis_t *r, call_t *c, const xb_registry_op_t *ops, size_t m,
                     long long *values, xb_error_t *err)
{
    xb_redis_call_reset(c);
    for (size_t i = 0; i < m; i++) {
        bool set = ops[i].kind == XB_REGISTRY_OP_SET;
        if ((set && xb_redis_call_key(r, c, "chain:", ops[i].chain, err) != 0) ||
            xb_redis_call_key(r, c, "uuid:", ops[i].uuid, err) != 0)
            return -1;
    }
    xb_redis_call_end_keys(c);
    xb_redis_call_arg(c, r->prefix, r->prefix_len);
    xb_redis_call_arg(c, r->ttl_arg, strlen(r->ttl_arg));
    for (size_t i = 0; i < m; i++) {
        bool set = ops[i].kind == XB_REGISTRY_OP_SET;
        xb_redis_call_arg(c, set ? "s" : "d", 1);
        xb_redis_call_arg(c, set ? ops[i].chain : "", set ? strlen(ops[i].chain) : 0);
        xb_redis_call_arg(c, ops[i].uuid, strlen(ops[i].uuid));
    }
    redisReply *rep = xb_redis_run_script(r, SCRIPT_REGISTRY, true, c, err);
    if (!rep)
        return -1;
    int rc = 0;
    if (xb_redis_reply_is_counts(rep, m) && rep->elements == m) {
        for (size_t i = 0; values && i < m; i++)
            values[i] = rep->element[i]->integer;
    } else {
        rc = reg_reply_error(r, rep, ops, m, err);
    }
    freeReplyObject(rep);
    return rc;
}

/* Applies ops in order, one script call per chunk, one chunk after the
 * other; stops at the first chunk that failed (the chunks before it stay
 * applied, and so may the changes of the failed chunk before its error). */
static int reg_apply(xb_redis_t *r, size_t n, const xb_registry_op_t *ops, long long *values,
                     xb_error_t *err)
{
    sigpipe_guard_t g;
    call_t c;
    for (size_t i = 0; i < n; i++)
        if (reg_check(&ops[i], err) != 0)
            return -1;
    size_t most = n < CHUNK_ITEMS ? n : CHUNK_ITEMS;
    if (xb_redis_call_init(&c, 5 + 5 * most, err) != 0)
        return -1;
    int rc = 0;
    xb_redis_enter(r, &g);
    for (size_t at = 0, m = 0; at < n && rc == 0; at += m) {
        m = reg_chunk_len(ops + at, n - at);
        rc = reg_chunk(r, &c, ops + at, m, values ? values + at : NULL, err);
    }
    xb_redis_leave(r, &g);
    xb_redis_call_free(&c);
    return rc;
}

/* registry_set and registry_delete are batches of one. */
int xb_redis_registry_set(void *self, const char *chain, const char *uuid, xb_error_t *err)
{
    xb_registry_op_t op = {XB_REGISTRY_OP_SET, chain, uuid};
    return reg_apply(self, 1, &op, NULL, err);
}

int xb_redis_registry_delete(void *self, const char *uuid, bool *deleted, xb_error_t *err)
{
    xb_registry_op_t op = {XB_REGISTRY_OP_DELETE, NULL, uuid};
    long long v = 0;
    if (reg_apply(self, 1, &op, &v, err) != 0)
        return -1;
    *deleted = v > 0;
    return 0;
}

int xb_redis_registry_apply(void *self, size_t n, const xb_registry_op_t *ops, xb_error_t *err)
{
    if (n == 0)
        return 0;
    if (!ops)
        return xb_error_set(err, XB_ERR_ARG, 0, "redis backend: NULL registry batch");
    return reg_apply(self, n, ops, NULL, err);
}

/* GET prefix kind name into a malloc'd string. */
static int get_string(xb_redis_t *r, const char *kind, const char *name, const char *what,
                      char **value, xb_error_t *err)
{
    sigpipe_guard_t g;
    size_t klen;
    char *key = xb_redis_key(r, kind, name, &klen);
    if (!key)
        return xb_redis_nomem(err, "key");
    const char *argv[2] = {"GET", key};
    xb_redis_enter(r, &g);
    redisReply *rep = xb_redis_command(r, true, 2, argv, (size_t[]){3, klen}, err);
    xb_redis_leave(r, &g);
    int rc = -1;
    if (!rep)
        goto done;
    if (rep->type == REDIS_REPLY_NIL) {
        xb_error_set(err, XB_ERR_NOTFOUND, 0, "registry: no %s for %s %s", what,
                     strcmp(kind, "chain:") == 0 ? "chain" : "uuid", name);
        goto done;
    }
    if (rep->type != REDIS_REPLY_STRING) {
        xb_redis_reply_error(r, rep, "GET", key, err);
        goto done;
    }
    *value = strndup(rep->str, rep->len);
    rc = *value ? 0 : xb_redis_nomem(err, "registry value");
done:
    freeReplyObject(rep);
    free(key);
    return rc;
}

int xb_redis_registry_get_uuid(void *self, const char *chain, char **uuid, xb_error_t *err)
{
    if (xb_redis_check_name("chain", chain, err) != 0)
        return -1;
    return get_string(self, "chain:", chain, "uuid", uuid, err);
}

int xb_redis_registry_get_chain(void *self, const char *uuid, char **chain, xb_error_t *err)
{
    if (xb_redis_check_name("uuid", uuid, err) != 0)
        return -1;
    return get_string(self, "uuid:", uuid, "chain", chain, err);
}

/* Fetches the uuids of chains[0..n) with one MGET and appends the pairs
 * that still exist (a key may expire between SCAN and MGET). */
static int fetch_pairs(xb_redis_t *r, char **chains, size_t n, xb_pair_list_t *out, xb_error_t *err)
{
    const char **argv = calloc(n + 1, sizeof *argv);
    size_t *lens = calloc(n + 1, sizeof *lens);
    int rc = -1;
    redisReply *rep = NULL;
    if (!argv || !lens) {
        xb_redis_nomem(err, "MGET");
        goto done;
    }
    argv[0] = "MGET";
    lens[0] = 4;
    for (size_t i = 0; i < n; i++) {
        argv[i + 1] = xb_redis_key(r, "chain:", chains[i], &lens[i + 1]);
        if (!argv[i + 1]) {
            xb_redis_nomem(err, "key");
            goto done;
        }
    }
    rep = xb_redis_command(r, true, (int)n + 1, argv, lens, err);
    if (!rep)
        goto done;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        xb_redis_reply_error(r, rep, "MGET", "", err);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = rep->element[i];
        if (v->type != REDIS_REPLY_STRING)
            continue;
        xb_registry_pair_t *p = &out->items[out->count];
        p->chain = strdup(chains[i]);
        p->uuid = strndup(v->str, v->len);
        if (!p->chain || !p->uuid) {
            free(p->chain);
            free(p->uuid);
            xb_redis_nomem(err, "registry pair");
            goto done;
        }
        out->count++;
    }
    rc = 0;
done:
    freeReplyObject(rep);
    if (argv)
        for (size_t i = 1; i <= n; i++)
            free((char *)argv[i]);
    free(argv);
    free(lens);
    return rc;
}

int xb_redis_registry_list_all(void *self, xb_pair_list_t *out, xb_error_t *err)
{
    xb_redis_t *r = self;
    sigpipe_guard_t g;
    name_set_t set;
    xb_redis_enter(r, &g);
    int rc = xb_redis_scan_names(r, "chain:", &set, err);
    if (rc == 0 && set.count > 0) {
        out->items = calloc(set.count, sizeof *out->items);
        if (!out->items)
            rc = xb_redis_nomem(err, "registry list");
    }
    for (size_t at = 0; rc == 0 && at < set.count; at += MGET_CHUNK) {
        size_t m = set.count - at < MGET_CHUNK ? set.count - at : MGET_CHUNK;
        rc = fetch_pairs(r, set.items + at, m, out, err);
    }
    xb_redis_leave(r, &g);
    xb_redis_names_free(&set);
    if (rc != 0)
        xb_pair_list_free(out);
    return rc;
}

int xb_redis_registry_clear(void *self, xb_error_t *err)
{
    static const char *const kinds[] = {"chain:", "uuid:"};
    return xb_redis_clear_kinds(self, kinds, 2, err);
}
