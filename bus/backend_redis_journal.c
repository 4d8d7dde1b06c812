/* The redis backend's journal (docs/backend-redis.md): the HASH
 * "prefix journal", field = id (the pump's message id), value = the entry's
 * bytes, without expiry. Entries are written by the append script in the
 * call of their slot (backend_redis_buffer.c); every command here is
 * idempotent, so a lost connection is retried once. */
#include "backend_redis_internal.h"

#include <stdlib.h>
#include <string.h>

int xb_redis_journal_put(void *self, const xb_journal_entry_t *entry, xb_error_t *err)
{
    const char *argv[4] = {"HSET", NULL, entry->id, entry->data};
    size_t lens[4] = {4, 0, strlen(entry->id), entry->len};
    redisReply *rep = xb_redis_key_command(self, "journal", "", 4, argv, lens, REDIS_REPLY_INTEGER,
                                           err);
    freeReplyObject(rep);
    return rep ? 0 : -1;
}

#define HDEL_CHUNK 512

int xb_redis_journal_remove(void *self, size_t n, const char *const *ids, xb_error_t *err)
{
    const char *argv[2 + HDEL_CHUNK] = {"HDEL"};
    size_t lens[2 + HDEL_CHUNK] = {4};
    for (size_t at = 0; at < n; at += HDEL_CHUNK) {
        size_t m = n - at < HDEL_CHUNK ? n - at : HDEL_CHUNK;
        for (size_t i = 0; i < m; i++) {
            argv[2 + i] = ids[at + i];
            lens[2 + i] = strlen(ids[at + i]);
        }
        redisReply *rep = xb_redis_key_command(self, "journal", "", (int)(2 + m), argv, lens,
                                               REDIS_REPLY_INTEGER, err);
        if (!rep)
            return -1;
        freeReplyObject(rep);
    }
    return 0;
}

int xb_redis_journal_list(void *self, xb_journal_list_t *out, xb_error_t *err)
{
    const char *argv[2] = {"HGETALL"};
    size_t lens[2] = {7};
    redisReply *rep = xb_redis_key_command(self, "journal", "", 2, argv, lens, REDIS_REPLY_ARRAY,
                                           err);
    if (!rep)
        return -1;
    int rc = 0;
    size_t n = rep->elements / 2;
    if (n > 0 && !(out->items = calloc(n, sizeof *out->items)))
        rc = xb_redis_nomem(err, "journal list");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        xb_journal_item_t *j = &out->items[out->count++]; /* counted first: a failure frees it */
        rc = xb_redis_hash_item(rep, i, &j->id, &j->data, "journal entry", err);
    }
    freeReplyObject(rep);
    if (rc != 0)
        xb_journal_list_free(out);
    return rc;
}
