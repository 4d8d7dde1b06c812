/* The inside of the storage backend (docs/backends.md): the function table
 * that each implementation fills and the constructors xb_backend_new picks
 * from. Only bus/backend*.c see it; users of the library hold an opaque
 * xb_backend_t and call the wrappers of xmlbus/backend.h. */
#ifndef XMLBUS_BACKEND_IMPL_H
#define XMLBUS_BACKEND_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/backend.h"
#include "xmlbus/error.h"

/* The function table every implementation provides. `self` is the
 * implementation's own state. The wrappers of backend.c call it with
 * non-empty thread/chain/uuid strings and non-NULL out-pointers whose values
 * they have zeroed (empty list, NULL, 0, false): implementations need not
 * check these again. */
typedef struct {
    const char *name;
    int (*buffer_append)(void *self, const char *thread, const void *slot, size_t len, long *index,
                         xb_error_t *err);
    /* Appends n slots (possibly to different threads) in one round trip or
     * transaction; index[i] receives each slot's index. */
    int (*buffer_append_batch)(void *self, size_t n, const char *const *threads,
                               const xb_blob_t *slots, long *index, xb_error_t *err);
    int (*buffer_get_thread)(void *self, const char *thread, xb_blob_list_t *out, xb_error_t *err);
    int (*buffer_get_slot)(void *self, const char *thread, long index, xb_blob_t *out,
                           xb_error_t *err);
    int (*buffer_thread_len)(void *self, const char *thread, long *len, xb_error_t *err);
    int (*buffer_thread_exists)(void *self, const char *thread, bool *exists, xb_error_t *err);
    int (*buffer_delete_thread)(void *self, const char *thread, bool *deleted, xb_error_t *err);
    int (*buffer_list_threads)(void *self, xb_str_list_t *out, xb_error_t *err);
    /* One page (xb_backend_buffer_scan_threads): cursor is never NULL ("0"
     * starts), 1 <= count <= XB_BACKEND_SCAN_MAX, next holds
     * XB_BACKEND_CURSOR_MAX bytes and *out is empty. */
    int (*buffer_scan_threads)(void *self, const char *cursor, size_t count, xb_str_list_t *out,
                               char *next, xb_error_t *err);
    int (*buffer_clear)(void *self, xb_error_t *err);
    int (*registry_set)(void *self, const char *chain, const char *uuid, xb_error_t *err);
    int (*registry_get_uuid)(void *self, const char *chain, char **uuid, xb_error_t *err);
    int (*registry_get_chain)(void *self, const char *uuid, char **chain, xb_error_t *err);
    int (*registry_delete)(void *self, const char *uuid, bool *deleted, xb_error_t *err);
    /* Applies n registry changes in order, in one round trip or transaction,
     * each with the contract of registry_set / registry_delete (a DELETE of an
     * unknown uuid is not an error). On failure returns -1; some changes may
     * have been applied (Redis) or none (LMDB): every change is idempotent, so
     * the caller applies the whole batch again later. Optional: NULL means
     * one registry_set / registry_delete after the other. */
    int (*registry_apply)(void *self, size_t n, const xb_registry_op_t *ops, xb_error_t *err);
    int (*registry_list_all)(void *self, xb_pair_list_t *out, xb_error_t *err);
    int (*registry_clear)(void *self, xb_error_t *err);
    int (*ping)(void *self, xb_error_t *err);
    int (*info)(void *self, xb_backend_info_t *out, xb_error_t *err);
    /* Makes what was written durable when writes do not wait for the disk
     * (manager). Optional: NULL means every write is durable already. */
    int (*flush)(void *self, xb_error_t *err);
    /* The batch with, for every stored slot i, journal[i] (when its id is
     * set) and the working-memory writes of wmem[i] (xb_wmem_of) in the same
     * transaction or script call, refused with the slot when they would break
     * max_wmem_entries (required). journal and wmem may be NULL; journal is
     * NULL on a backend without a journal. The wrappers have checked every
     * journal entry (non-empty id and bytes) and every write as for
     * wmem_put, and cut the batch before a slot whose writes are bad. Stops
     * at the first refused slot: the slots before it stay stored. */
    int (*buffer_append_all)(void *self, size_t n, const char *const *threads,
                             const xb_blob_t *slots, const xb_journal_entry_t *journal,
                             const xb_wmem_batch_t *wmem, long *index, xb_error_t *err);
    /* The journal (optional: all NULL means the backend keeps none). The
     * wrappers have checked every id (non-empty) and entry (non-empty
     * bytes). */
    int (*journal_put)(void *self, const xb_journal_entry_t *entry, xb_error_t *err);
    int (*journal_remove)(void *self, size_t n, const char *const *ids, xb_error_t *err);
    int (*journal_list)(void *self, xb_journal_list_t *out, xb_error_t *err);
    /* Working memory (xmlbus/wmem.h), required. The wrappers have checked
     * the conversation (non-empty), every name (xb_wmem_name_valid), every
     * entry (non-empty bytes within max_wmem_entry_bytes); n >= 1. put
     * checks max_wmem_entries itself, atomically with the write
     * (xb_wmem_refuse words the refusal). get returns 0, 1 (not found) or
     * -1. list sorts by name. */
    int (*wmem_put)(void *self, const char *conversation, size_t n, const xb_wmem_entry_t *entries,
                    xb_error_t *err);
    int (*wmem_get)(void *self, const char *conversation, const char *name, xb_blob_t *out,
                    xb_error_t *err);
    int (*wmem_list)(void *self, const char *conversation, xb_wmem_list_t *out, xb_error_t *err);
    int (*wmem_drop)(void *self, const char *conversation, xb_error_t *err);
    void (*close)(void *self);
} xb_backend_ops_t;

/* The refusal of a put whose entry `name` would make conversation hold more
 * than max entries (XB_ERR_LIMIT, worded alike for every backend); -1. */
int xb_wmem_refuse(xb_error_t *err, const char *backend, const char *conversation, const char *name,
                   long max);
/* True when entries[i] is replaced by a later entry of the same name in the
 * same batch (the later one wins). */
bool xb_wmem_superseded(size_t n, const xb_wmem_entry_t *entries, size_t i);
/* The writes of slot i of a batch, or NULL when it has none (wmem NULL, no
 * conversation, or no entries). */
static inline const xb_wmem_batch_t *xb_wmem_of(const xb_wmem_batch_t *wmem, size_t i)
{
    return wmem && wmem[i].conversation && wmem[i].n > 0 ? &wmem[i] : NULL;
}
/* Sorts a working memory list by name. */
void xb_wmem_list_sort(xb_wmem_list_t *list);

/* Constructors of the implementations, used by xb_backend_new only (cfg and
 * ops are never NULL). Each returns its state and points *ops at its table,
 * or NULL with *err set. */
void *xb_backend_memory_open(const xb_backend_config_t *cfg, const xb_backend_ops_t **ops,
                             xb_error_t *err);
void *xb_backend_lmdb_open(const xb_backend_config_t *cfg, const xb_backend_ops_t **ops,
                           xb_error_t *err);
void *xb_backend_redis_open(const xb_backend_config_t *cfg, const xb_backend_ops_t **ops,
                            xb_error_t *err);

#endif
