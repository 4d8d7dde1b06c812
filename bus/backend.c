/* Backend dispatch and argument checks (see include/xmlbus/backend.h; the
 * plain values of that API are in backend_types.c).
 *
 * The wrappers check the arguments once here so that every implementation may
 * assume non-NULL, non-empty thread/chain/uuid strings, non-empty slots and
 * valid out pointers, and they reset out-values before the call so that a
 * caller may always free them, even after a failure. */
#include "backend_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xb_backend_t {
    const xb_backend_ops_t *ops;
    void *self;
    xb_backend_config_t cfg;
};

xb_backend_t *xb_backend_new(const xb_backend_config_t *cfg, xb_error_t *err)
{
    if (!cfg) {
        xb_error_set(err, XB_ERR_ARG, 0, "backend: no configuration given");
        return NULL;
    }
    if (cfg->max_slots_per_thread < 0 || cfg->max_threads < 0 || cfg->max_wmem_entries < 0) {
        xb_error_set(err, XB_ERR_CONFIG, 0, "backend: limits must not be negative");
        return NULL;
    }
    xb_backend_t *b = calloc(1, sizeof *b);
    if (!b) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "backend: out of memory");
        return NULL;
    }
    b->cfg = *cfg;
    switch (cfg->type) {
    case XB_BACKEND_MEMORY:
        b->self = xb_backend_memory_open(&b->cfg, &b->ops, err);
        break;
    case XB_BACKEND_MANAGER:
        b->self = xb_backend_lmdb_open(&b->cfg, &b->ops, err);
        break;
    case XB_BACKEND_REDIS:
        b->self = xb_backend_redis_open(&b->cfg, &b->ops, err);
        break;
    default:
        xb_error_set(err, XB_ERR_CONFIG, 0, "backend: unknown type %d", (int)cfg->type);
        break;
    }
    if (!b->self || !b->ops) {
        free(b);
        return NULL;
    }
    return b;
}

void xb_backend_destroy(xb_backend_t **b)
{
    if (!b || !*b)
        return;
    if ((*b)->ops && (*b)->ops->close)
        (*b)->ops->close((*b)->self);
    free(*b);
    *b = NULL;
}

const xb_backend_config_t *xb_backend_config(const xb_backend_t *b)
{
    return b ? &b->cfg : NULL;
}

/* ---- argument checks ---------------------------------------------------- */

static int check_backend(const xb_backend_t *b, xb_error_t *err)
{
    if (!b)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend: NULL backend");
    return 0;
}

static int check_key(const xb_backend_t *b, const char *key, const char *what, xb_error_t *err)
{
    if (check_backend(b, err) != 0)
        return -1;
    if (!key || !*key)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: empty %s", b->ops->name, what);
    return 0;
}

/* Checks an out-value and zeroes it (empty list, NULL pointer, 0, false), so
 * that the caller may free it even after a failure. */
static int check_out(const xb_backend_t *b, void *out, size_t size, xb_error_t *err)
{
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: NULL result pointer", b->ops->name);
    memset(out, 0, size);
    return 0;
}

static int check_slot(const xb_backend_t *b, const char *thread, const void *slot, size_t len,
                      xb_error_t *err)
{
    if (!slot || len == 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: empty slot for thread %s",
                            b->ops->name, thread ? thread : "(null)");
    return 0;
}

/* ---- wrappers ------------------------------------------------------------ */

int xb_backend_buffer_append(xb_backend_t *b, const char *thread, const void *slot, size_t len,
                             long *index, xb_error_t *err)
{
    if (check_key(b, thread, "thread", err) != 0 || check_slot(b, thread, slot, len, err) != 0)
        return -1;
    long ignored;
    return b->ops->buffer_append(b->self, thread, slot, len, index ? index : &ignored, err);
}

/* Used when an implementation has no native batch: one append after the
 * other; stops at the first failure (earlier slots stay stored). */
static int append_batch_fallback(xb_backend_t *b, size_t n, const char *const *threads,
                                 const xb_blob_t *slots, long *index, xb_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        if (b->ops->buffer_append(b->self, threads[i], slots[i].data, slots[i].len, &index[i],
                                  err) != 0)
            return -1;
    }
    return 0;
}

static int check_batch(const xb_backend_t *b, size_t n, const char *const *threads,
                       const xb_blob_t *slots, const long *index, xb_error_t *err)
{
    if (!threads || !slots || !index)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: NULL batch", b->ops->name);
    for (size_t i = 0; i < n; i++) {
        if (check_key(b, threads[i], "thread", err) != 0 ||
            check_slot(b, threads[i], slots[i].data, slots[i].len, err) != 0)
            return -1;
    }
    return 0;
}

int xb_backend_buffer_append_batch(xb_backend_t *b, size_t n, const char *const *threads,
                                   const xb_blob_t *slots, long *index, xb_error_t *err)
{
    if (check_backend(b, err) != 0)
        return -1;
    if (n == 0)
        return 0;
    if (check_batch(b, n, threads, slots, index, err) != 0)
        return -1;
    if (!b->ops->buffer_append_batch)
        return append_batch_fallback(b, n, threads, slots, index, err);
    return b->ops->buffer_append_batch(b->self, n, threads, slots, index, err);
}

int xb_backend_buffer_get_thread(xb_backend_t *b, const char *thread, xb_blob_list_t *out,
                                 xb_error_t *err)
{
    if (check_key(b, thread, "thread", err) != 0 || check_out(b, out, sizeof *out, err) != 0)
        return -1;
    return b->ops->buffer_get_thread(b->self, thread, out, err);
}

int xb_backend_buffer_get_slot(xb_backend_t *b, const char *thread, long index, xb_blob_t *out,
                               xb_error_t *err)
{
    if (check_key(b, thread, "thread", err) != 0 || check_out(b, out, sizeof *out, err) != 0)
        return -1;
    if (index < 0)
        return xb_error_set(err, XB_ERR_NOTFOUND, 0, "backend %s: thread %s has no slot %ld",
                            b->ops->name, thread, index);
    return b->ops->buffer_get_slot(b->self, thread, index, out, err);
}

int xb_backend_buffer_thread_len(xb_backend_t *b, const char *thread, long *len, xb_error_t *err)
{
    if (check_key(b, thread, "thread", err) != 0 || check_out(b, len, sizeof *len, err) != 0)
        return -1;
    return b->ops->buffer_thread_len(b->self, thread, len, err);
}

int xb_backend_buffer_thread_exists(xb_backend_t *b, const char *thread, bool *exists,
                                    xb_error_t *err)
{
    if (check_key(b, thread, "thread", err) != 0 || check_out(b, exists, sizeof *exists, err) != 0)
        return -1;
    return b->ops->buffer_thread_exists(b->self, thread, exists, err);
}

int xb_backend_buffer_delete_thread(xb_backend_t *b, const char *thread, bool *deleted,
                                    xb_error_t *err)
{
    if (check_key(b, thread, "thread", err) != 0)
        return -1;
    bool ignored = false;
    if (!deleted)
        deleted = &ignored;
    *deleted = false;
    return b->ops->buffer_delete_thread(b->self, thread, deleted, err);
}

int xb_backend_buffer_list_threads(xb_backend_t *b, xb_str_list_t *out, xb_error_t *err)
{
    if (check_backend(b, err) != 0 || check_out(b, out, sizeof *out, err) != 0)
        return -1;
    return b->ops->buffer_list_threads(b->self, out, err);
}

int xb_backend_buffer_scan_threads(xb_backend_t *b, const char *cursor, size_t count,
                                   xb_str_list_t *out, char *next, xb_error_t *err)
{
    if (check_backend(b, err) != 0 || check_out(b, out, sizeof *out, err) != 0 ||
        check_out(b, next, XB_BACKEND_CURSOR_MAX, err) != 0)
        return -1;
    snprintf(next, XB_BACKEND_CURSOR_MAX, "0");
    if (count < 1 || count > XB_BACKEND_SCAN_MAX)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: page size %zu is not in 1..%d",
                            b->ops->name, count, XB_BACKEND_SCAN_MAX);
    if (!cursor || !*cursor)
        cursor = "0";
    if (strlen(cursor) >= XB_BACKEND_CURSOR_MAX)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: cursor longer than %d bytes",
                            b->ops->name, XB_BACKEND_CURSOR_MAX - 1);
    return b->ops->buffer_scan_threads(b->self, cursor, count, out, next, err);
}

int xb_backend_buffer_clear(xb_backend_t *b, xb_error_t *err)
{
    if (check_backend(b, err) != 0)
        return -1;
    return b->ops->buffer_clear(b->self, err);
}

int xb_backend_registry_set(xb_backend_t *b, const char *chain, const char *uuid, xb_error_t *err)
{
    if (check_key(b, chain, "chain", err) != 0 || check_key(b, uuid, "uuid", err) != 0)
        return -1;
    return b->ops->registry_set(b->self, chain, uuid, err);
}

int xb_backend_registry_get_uuid(xb_backend_t *b, const char *chain, char **uuid, xb_error_t *err)
{
    if (check_key(b, chain, "chain", err) != 0 || check_out(b, uuid, sizeof *uuid, err) != 0)
        return -1;
    return b->ops->registry_get_uuid(b->self, chain, uuid, err);
}

int xb_backend_registry_get_chain(xb_backend_t *b, const char *uuid, char **chain, xb_error_t *err)
{
    if (check_key(b, uuid, "uuid", err) != 0 || check_out(b, chain, sizeof *chain, err) != 0)
        return -1;
    return b->ops->registry_get_chain(b->self, uuid, chain, err);
}

int xb_backend_registry_delete(xb_backend_t *b, const char *uuid, bool *deleted, xb_error_t *err)
{
    if (check_key(b, uuid, "uuid", err) != 0)
        return -1;
    bool ignored = false;
    if (!deleted)
        deleted = &ignored;
    *deleted = false;
    return b->ops->registry_delete(b->self, uuid, deleted, err);
}

/* The checks of registry_set / registry_delete, for one op of a batch. */
static int check_registry_op(const xb_backend_t *b, const xb_registry_op_t *op, xb_error_t *err)
{
    switch (op->kind) {
    case XB_REGISTRY_OP_SET:
        if (check_key(b, op->chain, "chain", err) != 0)
            return -1;
        return check_key(b, op->uuid, "uuid", err);
    case XB_REGISTRY_OP_DELETE:
        return check_key(b, op->uuid, "uuid", err);
    }
    return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: unknown registry op kind %d", b->ops->name,
                        (int)op->kind);
}

/* Used when an implementation has no native batch: one change after the
 * other; stops at the first failure (earlier changes stay applied). */
static int registry_apply_fallback(xb_backend_t *b, size_t n, const xb_registry_op_t *ops,
                                   xb_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        bool deleted;
        int rc = ops[i].kind == XB_REGISTRY_OP_SET
                     ? b->ops->registry_set(b->self, ops[i].chain, ops[i].uuid, err)
                     : b->ops->registry_delete(b->self, ops[i].uuid, &deleted, err);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int xb_backend_registry_apply(xb_backend_t *b, size_t n, const xb_registry_op_t *ops,
                              xb_error_t *err)
{
    if (check_backend(b, err) != 0)
        return -1;
    if (n == 0)
        return 0;
    if (!ops)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: NULL registry batch", b->ops->name);
    for (size_t i = 0; i < n; i++) {
        if (check_registry_op(b, &ops[i], err) != 0)
            return -1;
    }
    if (!b->ops->registry_apply)
        return registry_apply_fallback(b, n, ops, err);
    return b->ops->registry_apply(b->self, n, ops, err);
}

int xb_backend_registry_list_all(xb_backend_t *b, xb_pair_list_t *out, xb_error_t *err)
{
    if (check_backend(b, err) != 0 || check_out(b, out, sizeof *out, err) != 0)
        return -1;
    return b->ops->registry_list_all(b->self, out, err);
}

int xb_backend_registry_clear(xb_backend_t *b, xb_error_t *err)
{
    if (check_backend(b, err) != 0)
        return -1;
    return b->ops->registry_clear(b->self, err);
}

int xb_backend_ping(xb_backend_t *b, xb_error_t *err)
{
    if (check_backend(b, err) != 0)
        return -1;
    return b->ops->ping(b->self, err);
}

int xb_backend_flush(xb_backend_t *b, xb_error_t *err)
{
    if (check_backend(b, err) != 0)
        return -1;
    return b->ops->flush ? b->ops->flush(b->self, err) : 0;
}

int xb_backend_info(xb_backend_t *b, xb_backend_info_t *out, xb_error_t *err)
{
    if (check_backend(b, err) != 0 || check_out(b, out, sizeof *out, err) != 0)
        return -1;
    out->ttl = -1;
    snprintf(out->type, sizeof out->type, "%s", xb_backend_type_name(b->cfg.type));
    return b->ops->info(b->self, out, err);
}

/* ---- the journal ----------------------------------------------------------- */

bool xb_backend_has_journal(const xb_backend_t *b)
{
    return b && b->ops->journal_list;
}

static int check_journal(const xb_backend_t *b, xb_error_t *err)
{
    if (check_backend(b, err) != 0)
        return -1;
    if (!xb_backend_has_journal(b))
        return xb_error_set(err, XB_ERR_CONFIG, 0, "backend %s keeps no journal", b->ops->name);
    return 0;
}

static int check_entry(const xb_backend_t *b, const xb_journal_entry_t *e, xb_error_t *err)
{
    if (!e)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: NULL journal entry", b->ops->name);
    if (check_key(b, e->id, "journal id", err) != 0)
        return -1;
    if (!e->data || e->len == 0)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: empty journal entry %s", b->ops->name,
                            e->id);
    return 0;
}

/* The checks of append_journal: the batch and every journal entry. */
static int check_journal_batch(const xb_backend_t *b, size_t n, const char *const *threads,
                               const xb_blob_t *slots, const xb_journal_entry_t *journal,
                               const long *index, xb_error_t *err)
{
    if (check_batch(b, n, threads, slots, index, err) != 0)
        return -1;
    for (size_t i = 0; journal && i < n; i++) {
        if (journal[i].id && check_entry(b, &journal[i], err) != 0)
            return -1;
    }
    return 0;
}

int xb_backend_buffer_append_journal(xb_backend_t *b, size_t n, const char *const *threads,
                                     const xb_blob_t *slots, const xb_journal_entry_t *journal,
                                     long *index, xb_error_t *err)
{
    if (!journal)
        return xb_backend_buffer_append_batch(b, n, threads, slots, index, err);
    if (check_journal(b, err) != 0)
        return -1;
    if (n == 0)
        return 0;
    if (check_journal_batch(b, n, threads, slots, journal, index, err) != 0)
        return -1;
    return b->ops->buffer_append_all(b->self, n, threads, slots, journal, NULL, index, err);
}

int xb_backend_journal_put(xb_backend_t *b, const xb_journal_entry_t *entry, xb_error_t *err)
{
    if (check_journal(b, err) != 0 || check_entry(b, entry, err) != 0)
        return -1;
    return b->ops->journal_put(b->self, entry, err);
}

int xb_backend_journal_remove(xb_backend_t *b, size_t n, const char *const *ids, xb_error_t *err)
{
    if (check_journal(b, err) != 0)
        return -1;
    if (n == 0)
        return 0;
    if (!ids)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: NULL journal ids", b->ops->name);
    for (size_t i = 0; i < n; i++) {
        if (check_key(b, ids[i], "journal id", err) != 0)
            return -1;
    }
    return b->ops->journal_remove(b->self, n, ids, err);
}

int xb_backend_journal_list(xb_backend_t *b, xb_journal_list_t *out, xb_error_t *err)
{
    if (check_journal(b, err) != 0 || check_out(b, out, sizeof *out, err) != 0)
        return -1;
    return b->ops->journal_list(b->self, out, err);
}

/* ---- working memory ----------------------------------------------------------- */

int xb_wmem_refuse(xb_error_t *err, const char *backend, const char *conversation, const char *name,
                   long max)
{
    return xb_error_set(err, XB_ERR_LIMIT, 0,
                        "backend %s: working memory of conversation %s is full: entry %s would "
                        "exceed max_wmem_entries %ld",
                        backend, conversation, name, max);
}

bool xb_wmem_superseded(size_t n, const xb_wmem_entry_t *entries, size_t i)
{
    for (size_t j = i + 1; j < n; j++) {
        if (strcmp(entries[j].name, entries[i].name) == 0)
            return true;
    }
    return false;
}

static int wmem_item_cmp(const void *a, const void *b)
{
    return strcmp(((const xb_wmem_item_t *)a)->name, ((const xb_wmem_item_t *)b)->name);
}

void xb_wmem_list_sort(xb_wmem_list_t *list)
{
    if (list->count > 1)
        qsort(list->items, list->count, sizeof *list->items, wmem_item_cmp);
}

static int check_wmem_name(const xb_backend_t *b, const char *conversation, const char *name,
                           xb_error_t *err)
{
    if (!xb_wmem_name_valid(name))
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "backend %s: working memory of conversation %s: %.80s is not an "
                            "entry name ([A-Za-z_][A-Za-z0-9_.-]{0,62})",
                            b->ops->name, conversation, name ? name : "(null)");
    return 0;
}

/* Checks every entry of a put before anything is written: a name, bytes,
 * and at most max_wmem_entry_bytes of them. */
static int check_wmem_entries(const xb_backend_t *b, const char *conversation, size_t n,
                              const xb_wmem_entry_t *entries, xb_error_t *err)
{
    if (!entries)
        return xb_error_set(err, XB_ERR_ARG, 0, "backend %s: NULL working memory entries",
                            b->ops->name);
    size_t max = b->cfg.max_wmem_entry_bytes;
    for (size_t i = 0; i < n; i++) {
        const xb_wmem_entry_t *e = &entries[i];
        if (check_wmem_name(b, conversation, e->name, err) != 0)
            return -1;
        if (!e->data || e->len == 0)
            return xb_error_set(err, XB_ERR_ARG, 0,
                                "backend %s: working memory entry %s of conversation %s is empty",
                                b->ops->name, e->name, conversation);
        if (max > 0 && e->len > max)
            return xb_error_set(err, XB_ERR_LIMIT, 0,
                                "backend %s: working memory entry %s of conversation %s has %zu "
                                "bytes: exceeds max_wmem_entry_bytes %zu",
                                b->ops->name, e->name, conversation, e->len, max);
    }
    return 0;
}

/* The number of slots before the first whose writes are bad (n when none
 * is); *why gets that slot's refusal. */
static size_t wmem_good_prefix(const xb_backend_t *b, size_t n, const xb_wmem_batch_t *wmem,
                               xb_error_t *why)
{
    for (size_t i = 0; i < n; i++) {
        const char *conv = wmem[i].conversation;
        if (conv &&
            (check_key(b, conv, "conversation", why) != 0 ||
             (wmem[i].n > 0 && check_wmem_entries(b, conv, wmem[i].n, wmem[i].entries, why) != 0)))
            return i;
    }
    return n;
}

int xb_backend_buffer_append_all(xb_backend_t *b, size_t n, const char *const *threads,
                                 const xb_blob_t *slots, const xb_journal_entry_t *journal,
                                 const xb_wmem_batch_t *wmem, long *index, xb_error_t *err)
{
    if (!wmem)
        return xb_backend_buffer_append_journal(b, n, threads, slots, journal, index, err);
    if (check_backend(b, err) != 0 || (journal && check_journal(b, err) != 0))
        return -1;
    if (n == 0)
        return 0;
    if (check_journal_batch(b, n, threads, slots, journal, index, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        index[i] = -1;
    /* Bad writes refuse their slot like a full thread: the slots before go. */
    xb_error_t why;
    size_t good = wmem_good_prefix(b, n, wmem, &why);
    if (good > 0 &&
        b->ops->buffer_append_all(b->self, good, threads, slots, journal, wmem, index, err) != 0)
        return -1;
    if (good == n)
        return 0;
    if (err)
        *err = why;
    return -1;
}

int xb_backend_wmem_put(xb_backend_t *b, const char *conversation, size_t n,
                        const xb_wmem_entry_t *entries, xb_error_t *err)
{
    if (check_key(b, conversation, "conversation", err) != 0)
        return -1;
    if (n == 0)
        return 0;
    if (check_wmem_entries(b, conversation, n, entries, err) != 0)
        return -1;
    return b->ops->wmem_put(b->self, conversation, n, entries, err);
}

int xb_backend_wmem_get(xb_backend_t *b, const char *conversation, const char *name, xb_blob_t *out,
                        xb_error_t *err)
{
    if (check_key(b, conversation, "conversation", err) != 0 ||
        check_out(b, out, sizeof *out, err) != 0 ||
        check_wmem_name(b, conversation, name, err) != 0)
        return -1;
    return b->ops->wmem_get(b->self, conversation, name, out, err);
}

int xb_backend_wmem_list(xb_backend_t *b, const char *conversation, xb_wmem_list_t *out,
                         xb_error_t *err)
{
    if (check_key(b, conversation, "conversation", err) != 0 ||
        check_out(b, out, sizeof *out, err) != 0)
        return -1;
    return b->ops->wmem_list(b->self, conversation, out, err);
}

int xb_backend_wmem_drop(xb_backend_t *b, const char *conversation, xb_error_t *err)
{
    if (check_key(b, conversation, "conversation", err) != 0)
        return -1;
    return b->ops->wmem_drop(b->self, conversation, err);
}
