/* The redis backend's working memory (docs/backend-redis.md): one HASH per
 * conversation, "prefix memory:CONVERSATION", field = entry name, value =
 * the entry's bytes. A put is one script call (limit check, HSETs, EXPIRE
 * redis_ttl like the buffer keys), so it is all or none on the server; drop
 * is a DEL. Every command here is idempotent (a put writes the same values
 * again), so a lost connection is retried once. */
#include "backend_redis_internal.h"

#include <stdlib.h>
#include <string.h>

#define KIND "memory:"

/* Fails with the reply's error when it is not of the given type. */
static int expect(xb_redis_t *r, redisReply *rep, int type, const char *cmd,
                  const char *conversation, xb_error_t *err)
{
    if (rep->type == type)
        return 0;
    return xb_redis_reply_error(r, rep, cmd, conversation, err);
}

int xb_redis_wmem_put(void *self, const char *conversation, size_t n,
                      const xb_wmem_entry_t *entries, xb_error_t *err)
{
    xb_redis_t *r = self;
    call_t c;
    if (xb_redis_call_init(&c, 6 + 2 * n, err) != 0)
        return -1;
    int rc = xb_redis_call_key(r, &c, KIND, conversation, err);
    redisReply *rep = NULL;
    if (rc == 0) {
        xb_redis_call_end_keys(&c);
        xb_redis_call_arg(&c, r->ttl_arg, strlen(r->ttl_arg));
        xb_redis_call_arg(&c, r->max_wmem_arg, strlen(r->max_wmem_arg));
        for (size_t i = 0; i < n; i++) {
            xb_redis_call_arg(&c, entries[i].name, strlen(entries[i].name));
            xb_redis_call_arg(&c, entries[i].data, entries[i].len);
        }
        sigpipe_guard_t g;
        xb_redis_enter(r, &g);
        rep = xb_redis_run_script(r, SCRIPT_WMEM, true, &c, err);
        xb_redis_leave(r, &g);
        rc = rep ? 0 : -1;
    }
    if (rep && (rep->type != REDIS_REPLY_INTEGER || rep->integer < 0 || (size_t)rep->integer > n))
        rc = xb_redis_reply_error(r, rep, "EVALSHA", conversation, err);
    else if (rep && rep->integer > 0) /* the number of the refused entry */
        rc = xb_wmem_refuse(err, "redis", conversation, entries[rep->integer - 1].name,
                            r->max_wmem_entries);
    freeReplyObject(rep);
    xb_redis_call_free(&c);
    return rc;
}

int xb_redis_wmem_get(void *self, const char *conversation, const char *name, xb_blob_t *out,
                      xb_error_t *err)
{
    const char *argv[3] = {"HGET", NULL, name};
    size_t lens[3] = {4, 0, strlen(name)};
    redisReply *rep = xb_redis_key_command(self, KIND, conversation, 3, argv, lens, 0, err);
    if (!rep)
        return -1;
    int rc = 1;
    if (rep->type != REDIS_REPLY_NIL) {
        rc = expect(self, rep, REDIS_REPLY_STRING, "HGET", conversation, err);
        if (rc == 0 && !(out->data = malloc(rep->len ? rep->len : 1)))
            rc = xb_redis_nomem(err, "working memory entry");
        if (rc == 0)
            memcpy(out->data, rep->str, out->len = rep->len);
    }
    freeReplyObject(rep);
    return rc;
}

int xb_redis_wmem_list(void *self, const char *conversation, xb_wmem_list_t *out, xb_error_t *err)
{
    const char *argv[2] = {"HGETALL"};
    size_t lens[2] = {7};
    redisReply *rep = xb_redis_key_command(self, KIND, conversation, 2, argv, lens, 0, err);
    if (!rep)
        return -1;
    int rc = expect(self, rep, REDIS_REPLY_ARRAY, "HGETALL", conversation, err);
    size_t n = rc == 0 ? rep->elements / 2 : 0;
    if (n > 0 && !(out->items = calloc(n, sizeof *out->items)))
        rc = xb_redis_nomem(err, "working memory list");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        xb_wmem_item_t *it = &out->items[out->count++]; /* counted first: a failure frees it */
        rc = xb_redis_hash_item(rep, i, &it->name, &it->data, "working memory entry", err);
    }
    freeReplyObject(rep);
    if (rc != 0)
        xb_wmem_list_free(out);
    else
        xb_wmem_list_sort(out);
    return rc;
}

int xb_redis_wmem_drop(void *self, const char *conversation, xb_error_t *err)
{
    const char *argv[2] = {"DEL"};
    size_t lens[2] = {3};
    redisReply *rep = xb_redis_key_command(self, KIND, conversation, 2, argv, lens, 0, err);
    if (!rep)
        return -1;
    int rc = expect(self, rep, REDIS_REPLY_INTEGER, "DEL", conversation, err);
    freeReplyObject(rep);
    return rc;
}
