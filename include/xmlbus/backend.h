/* Storage backend interface (docs/backends.md).
 *
 * One opaque xb_backend_t with three implementations chosen by
 * xb_backend_config_t.type: memory (bus/backend_memory.c), manager (LMDB,
 * bus/backend_lmdb*.c) and redis (hiredis, bus/backend_redis*.c). The backend
 * stores opaque slot bytes (encoded by bus/slot.c) and registry pairs; it knows
 * nothing about XML.
 *
 * Every function returns 0 on success and -1 on failure with *err filled
 * (XB_ERR_BACKEND for storage failures, XB_ERR_LIMIT for a limit hit,
 * XB_ERR_NOTFOUND for a lookup that found nothing). All functions are safe to
 * call from several threads at once on one xb_backend_t. */
#ifndef XMLBUS_BACKEND_H
#define XMLBUS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xmlbus/error.h"
#include "xmlbus/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { XB_BACKEND_MEMORY = 0, XB_BACKEND_MANAGER, XB_BACKEND_REDIS } xb_backend_type_t;

#define XB_PATH_MAX 4096

typedef struct {
    xb_backend_type_t type;
    char path[XB_PATH_MAX];    /* manager: LMDB environment folder */
    size_t map_size;           /* manager: LMDB map size in bytes (0 = default 1 GiB) */
    char redis_url[1024];      /* redis: redis://[:password@]host:port[/db] or unix:///path */
    char redis_prefix[128];    /* redis: key prefix (default "xp:") */
    long redis_ttl;            /* redis: seconds, 0 = no expiry (default 86400) */
    long max_slots_per_thread; /* 0 = unlimited; append beyond it -> XB_ERR_LIMIT */
    long max_threads;          /* 0 = unlimited; memory evicts the oldest thread */
    size_t max_slot_bytes;     /* 0 = unlimited; larger slot -> XB_ERR_LIMIT */
    size_t max_bytes;          /* memory: slot and working memory bytes held (default
                                   1 GiB, 0 = unlimited); beyond it the oldest threads are
                                   evicted, what cannot fit alone -> XB_ERR_LIMIT */
    bool journal;              /* the pump journals unanswered deliveries (default true;
                                   manager and redis only: memory keeps none) */
    /* working memory (xmlbus/wmem.h): entries per conversation (default 256,
     * 0 = unlimited) and bytes per entry (default 1 MiB, 0 = unlimited); a
     * put beyond either -> XB_ERR_LIMIT */
    long max_wmem_entries;
    size_t max_wmem_entry_bytes;
} xb_backend_config_t;

/* Fills *cfg with the defaults (memory, prefix "xp:", ttl 86400, max_bytes
 * 1 GiB, journal true, max_wmem_entries 256, max_wmem_entry_bytes 1 MiB, no
 * other limits). */
XB_EXPORT void xb_backend_config_defaults(xb_backend_config_t *cfg);
/* "memory" / "manager" / "redis" <-> type. parse returns 0 or -1. */
XB_EXPORT const char *xb_backend_type_name(xb_backend_type_t type);
XB_EXPORT int xb_backend_type_parse(const char *name, xb_backend_type_t *type);

/* A byte string owned by whoever holds it; free with free(data). */
typedef struct {
    char *data;
    size_t len;
} xb_blob_t;

/* Lists returned by the backend; the caller owns them and frees them with
 * the matching *_free, which also resets the list to empty. */
typedef struct {
    xb_blob_t *items;
    size_t count;
} xb_blob_list_t;

typedef struct {
    char **items;
    size_t count;
} xb_str_list_t;

typedef struct {
    char *chain;
    char *uuid;
} xb_registry_pair_t;

typedef struct {
    xb_registry_pair_t *items;
    size_t count;
} xb_pair_list_t;

/* Kind of one registry change of a batch (registry_apply). */
typedef enum { XB_REGISTRY_OP_SET = 0, XB_REGISTRY_OP_DELETE } xb_registry_op_kind_t;

/* One registry change of a batch: SET chain -> uuid (chain and uuid), or
 * DELETE uuid (chain unused, may be NULL). Strings are borrowed. */
typedef struct {
    xb_registry_op_kind_t kind;
    const char *chain;
    const char *uuid;
} xb_registry_op_t;

XB_EXPORT void xb_blob_list_free(xb_blob_list_t *list);
XB_EXPORT void xb_str_list_free(xb_str_list_t *list);
XB_EXPORT void xb_pair_list_free(xb_pair_list_t *list);

typedef struct {
    long threads;            /* threads with a buffer (-1: too many to count cheaply) */
    long slots;              /* total slots (-1 when the backend cannot count cheaply) */
    long registry_entries;   /* chain <-> uuid pairs (-1: too many to count cheaply) */
    long ttl;                /* redis TTL in seconds, 0 none, -1 not applicable */
    long evicted_threads;    /* threads evicted by max_threads since open */
    long limit_refusals;     /* appends refused by a limit since open */
    char type[16];           /* "memory" ... */
    char server_version[64]; /* redis server version, LMDB version, "" for memory */
    char location[256];      /* LMDB path, redis host:port/db, "" for memory */
} xb_backend_info_t;

typedef struct xb_backend_t xb_backend_t;

/* Opens the backend that cfg names. Returns NULL with *err set on failure.
 * The caller owns the result; release it with xb_backend_destroy. */
XB_EXPORT xb_backend_t *xb_backend_new(const xb_backend_config_t *cfg, xb_error_t *err);
/* Closes and frees *b and sets *b to NULL. NULL and *b == NULL are allowed. */
XB_EXPORT void xb_backend_destroy(xb_backend_t **b);
XB_EXPORT const xb_backend_config_t *xb_backend_config(const xb_backend_t *b);

/* The operations, the same for every implementation (each implementation
 * fills the function table of bus/backend_impl.h). Out-values are owned by
 * the caller: *out blobs and strings are malloc'd (free / *_list_free). */
XB_EXPORT int xb_backend_buffer_append(xb_backend_t *b, const char *thread, const void *slot,
                                       size_t len, long *index, xb_error_t *err);
XB_EXPORT int xb_backend_buffer_append_batch(xb_backend_t *b, size_t n, const char *const *threads,
                                             const xb_blob_t *slots, long *index, xb_error_t *err);
XB_EXPORT int xb_backend_buffer_get_thread(xb_backend_t *b, const char *thread, xb_blob_list_t *out,
                                           xb_error_t *err);
XB_EXPORT int xb_backend_buffer_get_slot(xb_backend_t *b, const char *thread, long index,
                                         xb_blob_t *out, xb_error_t *err);
XB_EXPORT int xb_backend_buffer_thread_len(xb_backend_t *b, const char *thread, long *len,
                                           xb_error_t *err);
XB_EXPORT int xb_backend_buffer_thread_exists(xb_backend_t *b, const char *thread, bool *exists,
                                              xb_error_t *err);
XB_EXPORT int xb_backend_buffer_delete_thread(xb_backend_t *b, const char *thread, bool *deleted,
                                              xb_error_t *err);
XB_EXPORT int xb_backend_buffer_list_threads(xb_backend_t *b, xb_str_list_t *out, xb_error_t *err);
/* The size of a cursor of xb_backend_buffer_scan_threads, with its NUL. */
#define XB_BACKEND_CURSOR_MAX 256
/* Most names one page of xb_backend_buffer_scan_threads may ask for. */
#define XB_BACKEND_SCAN_MAX 10000
/* One page of the thread listing, so that no call walks the whole store:
 * the threads after cursor ("0" or "" starts the listing) into *out (the
 * caller frees it), and the cursor of the next page into next (at least
 * XB_BACKEND_CURSOR_MAX bytes), "0" once the listing is complete. count
 * (1..XB_BACKEND_SCAN_MAX) bounds the work: memory and manager return at
 * most count names; redis does one SCAN step with COUNT count, which gives
 * about count names, maybe none, while the cursor is not "0". A cursor is
 * opaque and valid for the backend that made it; a thread present for the
 * whole listing is listed at least once (redis may list one twice while the
 * store changes). */
XB_EXPORT int xb_backend_buffer_scan_threads(xb_backend_t *b, const char *cursor, size_t count,
                                             xb_str_list_t *out, char *next, xb_error_t *err);
XB_EXPORT int xb_backend_buffer_clear(xb_backend_t *b, xb_error_t *err);
XB_EXPORT int xb_backend_registry_set(xb_backend_t *b, const char *chain, const char *uuid,
                                      xb_error_t *err);
XB_EXPORT int xb_backend_registry_get_uuid(xb_backend_t *b, const char *chain, char **uuid,
                                           xb_error_t *err);
XB_EXPORT int xb_backend_registry_get_chain(xb_backend_t *b, const char *uuid, char **chain,
                                            xb_error_t *err);
XB_EXPORT int xb_backend_registry_delete(xb_backend_t *b, const char *uuid, bool *deleted,
                                         xb_error_t *err);
/* Applies ops[0..n) in order, in one round trip or transaction, each with the
 * contract of xb_backend_registry_set / _delete (a DELETE of an unknown uuid
 * is not an error). On failure returns -1; some changes may have been applied
 * (redis) or none (manager): every change is idempotent, so the caller applies
 * the whole batch again later. n == 0 does nothing and returns 0. Every op
 * is checked first (SET: non-empty chain and uuid; DELETE: non-empty uuid): a
 * bad one is XB_ERR_ARG and nothing is applied. */
XB_EXPORT int xb_backend_registry_apply(xb_backend_t *b, size_t n, const xb_registry_op_t *ops,
                                        xb_error_t *err);
XB_EXPORT int xb_backend_registry_list_all(xb_backend_t *b, xb_pair_list_t *out, xb_error_t *err);
XB_EXPORT int xb_backend_registry_clear(xb_backend_t *b, xb_error_t *err);
XB_EXPORT int xb_backend_ping(xb_backend_t *b, xb_error_t *err);
XB_EXPORT int xb_backend_info(xb_backend_t *b, xb_backend_info_t *out, xb_error_t *err);
/* Flushes writes to disk where the backend defers that (0 when it has
 * nothing to do). The pump calls it every 50 ms. */
XB_EXPORT int xb_backend_flush(xb_backend_t *b, xb_error_t *err);

/* ---- the journal (docs/storage.md "The journal") ---------------------------
 * Deliveries accepted but not yet answered, so that a pump that starts again
 * after a crash can deliver them again. An entry is opaque bytes under an id
 * (the pump uses the message id). manager and redis keep one; memory has none
 * (every journal call fails with XB_ERR_CONFIG there). */

/* One journal entry to write: id and bytes are borrowed. An entry whose id is
 * NULL stands for "no entry". */
typedef struct {
    const char *id;
    const void *data;
    size_t len;
} xb_journal_entry_t;

/* One journal entry read back; the list owns id and data. */
typedef struct {
    char *id;
    xb_blob_t data;
} xb_journal_item_t;

typedef struct {
    xb_journal_item_t *items;
    size_t count;
} xb_journal_list_t;

XB_EXPORT void xb_journal_list_free(xb_journal_list_t *list);

/* True when the backend keeps a journal (manager, redis). */
XB_EXPORT bool xb_backend_has_journal(const xb_backend_t *b);
/* xb_backend_buffer_append_batch, and for every i whose journal[i].id is not
 * NULL, journal[i] written (replacing an entry of that id) in the same
 * transaction (manager) or script call (redis) as slots[i], and only if that
 * slot was stored. journal NULL: exactly xb_backend_buffer_append_batch. */
XB_EXPORT int xb_backend_buffer_append_journal(xb_backend_t *b, size_t n,
                                               const char *const *threads, const xb_blob_t *slots,
                                               const xb_journal_entry_t *journal, long *index,
                                               xb_error_t *err);
/* Defined in xmlbus/wmem.h (which includes this header). */
typedef struct xb_wmem_batch xb_wmem_batch_t;

/* xb_backend_buffer_append_journal, and for every i with wmem[i].conversation
 * set, wmem[i]'s entries written in the same atomic write as slot i, and
 * only when slot i is stored (wmem NULL: exactly append_journal). Writes that
 * would break the memory's limits (max_wmem_entries, max_wmem_entry_bytes) or
 * are malformed refuse slot i like a full thread does: index[i] = -1, no
 * later slot stored, XB_ERR_LIMIT (or XB_ERR_ARG) in *err naming the entry.
 * journal may be NULL (it must be, on a backend without a journal). */
XB_EXPORT int xb_backend_buffer_append_all(xb_backend_t *b, size_t n, const char *const *threads,
                                           const xb_blob_t *slots,
                                           const xb_journal_entry_t *journal,
                                           const xb_wmem_batch_t *wmem, long *index,
                                           xb_error_t *err);
/* Writes one entry (replacing an entry of that id): marking an entry
 * redelivered rewrites it. */
XB_EXPORT int xb_backend_journal_put(xb_backend_t *b, const xb_journal_entry_t *entry,
                                     xb_error_t *err);
/* Removes the entries ids[0..n) in one round trip or transaction; an unknown
 * id is not an error. */
XB_EXPORT int xb_backend_journal_remove(xb_backend_t *b, size_t n, const char *const *ids,
                                        xb_error_t *err);
/* Every entry into *out (the caller frees it with xb_journal_list_free), in
 * no particular order. */
XB_EXPORT int xb_backend_journal_list(xb_backend_t *b, xb_journal_list_t *out, xb_error_t *err);

#ifdef __cplusplus
}
#endif

/* Working memory of a conversation: xb_backend_wmem_put / get / list / drop. */
#include "xmlbus/wmem.h"

#endif
