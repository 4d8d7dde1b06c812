/* The thread registry (see registry.h).
 *
 * One mutex makes get-or-create atomic within the process (two deliveries on
 * the same chain never mint two UUIDs). The index of conversations started
 * here (root -> the chain/UUID pairs registered under it) lets ending a
 * conversation delete its entries without scanning the backend, and answers
 * get-or-create for its chains without asking the backend: only this object
 * writes the chains of a conversation it started. It is a hash map keyed by
 * root, plus a map uuid -> conversation that answers get_chain for them.
 *
 * Write-behind (the pump's mode): changes to the backend are queued and
 * written by xb_registry_flush in one batch (one Redis pipeline, one LMDB
 * transaction) instead of one round trip each. Everything this object wrote
 * is answered from the index meanwhile, and a read that has to ask the
 * backend flushes first, so nobody in this process reads a stale answer. */
#include "registry.h"
#include "chain.h"
#include "log.h"
#include "strmap.h"
#include "xmlbus/uuid.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define START_ATTEMPTS 16 /* fresh tokens tried before giving up */
/* Queued changes beyond which new ones are refused (the backend has been
 * failing for a long time): memory stays bounded and nothing is dropped. */
#define PENDING_MAX (1u << 20)

typedef struct {
    char *chain;
    char *uuid;
} entry_t;

typedef struct {
    char *root;
    entry_t *entries;
    size_t count;
    size_t cap;
} conversation_t;

/* A queued backend change (write-behind); strings owned. */
typedef struct {
    xb_registry_op_kind_t kind;
    char *chain; /* SET only */
    char *uuid;
    bool cancelled; /* a fresh SET whose DELETE came before the flush */
} pending_t;

struct xb_registry_t {
    xb_backend_t *backend; /* borrowed */
    char *organism;
    pthread_mutex_t lock;
    xb_strmap_t *index;   /* root -> conversation_t* (owned) */
    xb_strmap_t *by_uuid; /* uuid -> its conversation_t* (borrowed) */
    bool write_behind;
    pending_t *pending;
    size_t n_pending, cap_pending;
    size_t n_cancelled;
    xb_strmap_t *fresh_sets; /* uuid -> 1 + index in pending of its fresh SET */
    size_t scans;            /* end_conversation's list_all scans */
};

/* ---- the conversation index (lock held) ------------------------------------ */

static void conv_free(void *p)
{
    conversation_t *c = p;
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++) {
        free(c->entries[i].chain);
        free(c->entries[i].uuid);
    }
    free(c->entries);
    free(c->root);
    free(c);
}

static conversation_t *index_find(xb_registry_t *r, const char *root)
{
    return xb_strmap_get(r->index, root);
}

static conversation_t *index_add(xb_registry_t *r, const char *root)
{
    conversation_t *c = calloc(1, sizeof *c);
    if (!c || !(c->root = strdup(root))) {
        free(c);
        return NULL;
    }
    if (xb_strmap_put(r->index, root, c) != 0) {
        conv_free(c);
        return NULL;
    }
    return c;
}

static void index_remove(xb_registry_t *r, conversation_t *c)
{
    for (size_t i = 0; i < c->count; i++)
        xb_strmap_delete(r->by_uuid, c->entries[i].uuid);
    xb_strmap_delete(r->index, c->root); /* frees c */
}

/* The indexed conversation of chain, or NULL. No allocation: roots are
 * "system.<organism>.c-<token>", the part before the third dot. */
static conversation_t *index_of_chain(xb_registry_t *r, const char *chain)
{
    char root[256];
    size_t n = 0;
    int dots = 0;
    for (; chain[n] && n < sizeof root - 1; n++) {
        if (chain[n] == '.' && ++dots == 3)
            break;
        root[n] = chain[n];
    }
    if (n >= sizeof root - 1)
        return NULL;
    root[n] = '\0';
    return index_find(r, root);
}

static entry_t *entry_of(conversation_t *c, const char *chain)
{
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->entries[i].chain, chain) == 0)
            return &c->entries[i];
    return NULL;
}

/* The indexed chain of uuid (borrowed), or NULL. */
static const char *index_chain_of(xb_registry_t *r, const char *uuid)
{
    conversation_t *c = uuid ? xb_strmap_get(r->by_uuid, uuid) : NULL;
    for (size_t i = 0; c && i < c->count; i++)
        if (strcmp(c->entries[i].uuid, uuid) == 0)
            return c->entries[i].chain;
    return NULL;
}

/* Remembers chain -> uuid under its conversation if that conversation is
 * indexed. A failure only costs the fast paths: the conversation is dropped
 * from the index, and end_conversation then scans. */
static void index_note(xb_registry_t *r, const char *chain, const char *uuid)
{
    conversation_t *c = index_of_chain(r, chain);
    if (!c)
        return;
    entry_t *e = entry_of(c, chain);
    if (e && strcmp(e->uuid, uuid) == 0)
        return; /* the same pair again */
    if (e) {
        char *u = strdup(uuid);
        if (!u || xb_strmap_put(r->by_uuid, uuid, c) != 0) {
            free(u);
            index_remove(r, c);
            return;
        }
        xb_strmap_delete(r->by_uuid, e->uuid);
        free(e->uuid);
        e->uuid = u;
        return;
    }
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        entry_t *grown = realloc(c->entries, cap * sizeof *grown);
        if (!grown) {
            index_remove(r, c);
            return;
        }
        c->entries = grown;
        c->cap = cap;
    }
    entry_t *slot = &c->entries[c->count];
    slot->chain = strdup(chain);
    slot->uuid = strdup(uuid);
    if (!slot->chain || !slot->uuid || xb_strmap_put(r->by_uuid, uuid, c) != 0) {
        free(slot->chain);
        free(slot->uuid);
        index_remove(r, c);
        return;
    }
    c->count++;
}

/* Forgets uuid in the conversation of chain (after an explicit delete). */
static void index_forget(xb_registry_t *r, const char *chain, const char *uuid)
{
    conversation_t *c = index_of_chain(r, chain);
    for (size_t i = 0; c && i < c->count; i++) {
        if (strcmp(c->entries[i].uuid, uuid) != 0)
            continue;
        xb_strmap_delete(r->by_uuid, uuid);
        free(c->entries[i].chain);
        free(c->entries[i].uuid);
        c->entries[i] = c->entries[--c->count];
        return;
    }
}

static void index_clear(xb_registry_t *r)
{
    xb_strmap_clear(r->index);
    xb_strmap_clear(r->by_uuid);
}

/* ---- backend writes, immediate or queued (lock held) ------------------------------ */

static void pending_free(pending_t *op)
{
    free(op->chain);
    free(op->uuid);
    op->chain = op->uuid = NULL;
}

static void pending_clear(xb_registry_t *r)
{
    for (size_t i = 0; i < r->n_pending; i++)
        pending_free(&r->pending[i]);
    r->n_pending = r->n_cancelled = 0;
    xb_strmap_clear(r->fresh_sets);
}

static int queue_op(xb_registry_t *r, xb_registry_op_kind_t kind, const char *chain,
                    const char *uuid, xb_error_t *err)
{
    if (r->n_pending - r->n_cancelled >= PENDING_MAX)
        return xb_error_set(err, XB_ERR_BACKEND, 0,
                            "registry: %zu changes are waiting for the backend",
                            r->n_pending - r->n_cancelled);
    if (r->n_pending == r->cap_pending) {
        size_t cap = r->cap_pending ? r->cap_pending * 2 : 64;
        pending_t *grown = realloc(r->pending, cap * sizeof *grown);
        if (!grown)
            return xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
        r->pending = grown;
        r->cap_pending = cap;
    }
    pending_t *op = &r->pending[r->n_pending];
    op->cancelled = false;
    op->kind = kind;
    op->chain = chain ? strdup(chain) : NULL;
    op->uuid = strdup(uuid);
    if ((chain && !op->chain) || !op->uuid) {
        pending_free(op);
        return xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
    }
    r->n_pending++;
    return 0;
}

/* fresh: a UUID minted here for a chain of a conversation started here,
 * so neither is in the backend yet (see cancel_fresh_set). */
static int backend_set(xb_registry_t *r, const char *chain, const char *uuid, bool fresh,
                       xb_error_t *err)
{
    if (!r->write_behind)
        return xb_backend_registry_set(r->backend, chain, uuid, err);
    if (queue_op(r, XB_REGISTRY_OP_SET, chain, uuid, err) != 0)
        return -1;
    if (fresh && xb_strmap_put(r->fresh_sets, uuid, (void *)(uintptr_t)r->n_pending) != 0)
        XB_DEBUG("registry", "no memory to note a fresh pair: it is written and deleted");
    return 0;
}

/* A DELETE of a pair whose fresh SET is still queued: both are dropped, the
 * backend never hears of it. Exact, because a fresh SET replaced nothing:
 * the pair of a conversation that starts and ends between two flushes (most
 * of them under load) costs the backend nothing. */
static bool cancel_fresh_set(xb_registry_t *r, const char *uuid)
{
    uintptr_t at = (uintptr_t)xb_strmap_remove(r->fresh_sets, uuid);
    if (at == 0)
        return false;
    pending_t *op = &r->pending[at - 1];
    pending_free(op);
    op->cancelled = true;
    r->n_cancelled++;
    return true;
}

/* *deleted is true for a queued delete: the entry was known here. */
static int backend_delete(xb_registry_t *r, const char *uuid, bool *deleted, xb_error_t *err)
{
    if (!r->write_behind)
        return xb_backend_registry_delete(r->backend, uuid, deleted, err);
    *deleted = true;
    if (cancel_fresh_set(r, uuid))
        return 0;
    return queue_op(r, XB_REGISTRY_OP_DELETE, NULL, uuid, err);
}

/* After a failed flush the backend may hold some of the queued pairs (a
 * Redis batch may be applied with its reply lost): no queued SET counts as
 * fresh any more, so their deletes are written. Cancelled entries go. */
static void forget_fresh(xb_registry_t *r)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n_pending; i++)
        if (!r->pending[i].cancelled)
            r->pending[kept++] = r->pending[i];
    r->n_pending = kept;
    r->n_cancelled = 0;
    xb_strmap_clear(r->fresh_sets);
}

/* Writes the queue in one batch. On failure the queue stays: every change
 * is idempotent, so the next flush writes it all again. */
static int flush_locked(xb_registry_t *r, xb_error_t *err)
{
    if (r->n_pending == r->n_cancelled) {
        pending_clear(r);
        return 0;
    }
    xb_registry_op_t *ops = malloc((r->n_pending - r->n_cancelled) * sizeof *ops);
    if (!ops)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < r->n_pending; i++) {
        const pending_t *op = &r->pending[i];
        if (!op->cancelled)
            ops[n++] = (xb_registry_op_t){op->kind, op->chain, op->uuid};
    }
    int rc = xb_backend_registry_apply(r->backend, n, ops, err);
    free(ops);
    if (rc != 0) {
        forget_fresh(r);
        return -1;
    }
    pending_clear(r);
    return 0;
}

/* Before asking the backend: what is queued must be there. */
static int sync_for_read(xb_registry_t *r, xb_error_t *err)
{
    return r->n_pending > r->n_cancelled ? flush_locked(r, err) : 0;
}

/* ---- life cycle ------------------------------------------------------------------ */

xb_registry_t *xb_registry_new(xb_backend_t *backend, const char *organism, xb_error_t *err)
{
    if (!backend) {
        xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL backend");
        return NULL;
    }
    if (!xb_chain_valid_name(organism)) {
        xb_error_set(err, XB_ERR_ARG, 0, "registry: invalid organism name '%s'",
                     organism ? organism : "(null)");
        return NULL;
    }
    xb_registry_t *r = calloc(1, sizeof *r);
    if (!r || !(r->organism = strdup(organism))) {
        free(r);
        xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r->organism);
        free(r);
        xb_error_set(err, XB_ERR_BACKEND, 0, "registry: cannot create its mutex");
        return NULL;
    }
    r->index = xb_strmap_new_owning(conv_free);
    r->by_uuid = xb_strmap_new();
    r->fresh_sets = xb_strmap_new();
    if (!r->index || !r->by_uuid || !r->fresh_sets) {
        xb_strmap_destroy(&r->index);
        xb_strmap_destroy(&r->by_uuid);
        xb_strmap_destroy(&r->fresh_sets);
        pthread_mutex_destroy(&r->lock);
        free(r->organism);
        free(r);
        xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
        return NULL;
    }
    r->backend = backend;
    return r;
}

void xb_registry_set_write_behind(xb_registry_t *r, bool on)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->write_behind = on;
    pthread_mutex_unlock(&r->lock);
}

int xb_registry_flush(xb_registry_t *r, xb_error_t *err)
{
    if (!r)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL registry");
    pthread_mutex_lock(&r->lock);
    int rc = flush_locked(r, err);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

size_t xb_registry_pending(xb_registry_t *r)
{
    if (!r)
        return 0;
    pthread_mutex_lock(&r->lock);
    size_t n = r->n_pending - r->n_cancelled;
    pthread_mutex_unlock(&r->lock);
    return n;
}

void xb_registry_destroy(xb_registry_t **r)
{
    if (!r || !*r)
        return;
    xb_error_t err;
    if (sync_for_read(*r, &err) != 0)
        XB_WARN("registry", "%zu registry changes were never written to the backend: %s",
                (*r)->n_pending - (*r)->n_cancelled, err.message);
    pending_clear(*r);
    free((*r)->pending);
    xb_strmap_destroy(&(*r)->index);
    xb_strmap_destroy(&(*r)->by_uuid);
    xb_strmap_destroy(&(*r)->fresh_sets);
    pthread_mutex_destroy(&(*r)->lock);
    free((*r)->organism);
    free(*r);
    *r = NULL;
}

const char *xb_registry_organism(const xb_registry_t *r)
{
    return r ? r->organism : NULL;
}

/* ---- get or create (lock held) -------------------------------------------------- */

static int uuid_for_locked(xb_registry_t *r, const char *chain, char **uuid, xb_error_t *err)
{
    conversation_t *c = index_of_chain(r, chain);
    entry_t *known = c ? entry_of(c, chain) : NULL;
    if (known) {
        if (!(*uuid = strdup(known->uuid)))
            return xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
        return 0;
    }
    xb_error_t e;
    if (!c && sync_for_read(r, err) != 0)
        return -1;
    if (!c && xb_backend_registry_get_uuid(r->backend, chain, uuid, &e) == 0)
        return 0;
    if (!c && e.code != XB_ERR_NOTFOUND) {
        if (err)
            *err = e;
        return -1;
    }
    char fresh[XB_UUID_LEN + 1];
    xb_uuid_new(fresh);
    if (backend_set(r, chain, fresh, c != NULL, err) != 0)
        return -1;
    if (!(*uuid = strdup(fresh)))
        return xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
    index_note(r, chain, fresh);
    return 0;
}

int xb_registry_uuid_for(xb_registry_t *r, const char *chain, char **uuid, xb_error_t *err)
{
    if (!r || !uuid)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL argument");
    *uuid = NULL;
    if (!xb_chain_is_valid(chain))
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: invalid chain '%s'",
                            chain ? chain : "(null)");
    pthread_mutex_lock(&r->lock);
    int rc = uuid_for_locked(r, chain, uuid, err);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* Whether the token of root is in use. In write-behind mode only this
 * object's index is asked: a token is 64 random bits, so a clash with a root
 * registered elsewhere is as unlikely as a clash of two UUIDs, and asking the
 * backend would cost a round trip per conversation. */
static int token_taken(xb_registry_t *r, const char *root, bool *taken, xb_error_t *err)
{
    *taken = index_find(r, root) != NULL;
    if (*taken || r->write_behind)
        return 0;
    char *uuid = NULL;
    xb_error_t e;
    if (xb_backend_registry_get_uuid(r->backend, root, &uuid, &e) == 0) {
        free(uuid);
        *taken = true;
        return 0;
    }
    if (e.code == XB_ERR_NOTFOUND)
        return 0;
    if (err)
        *err = e;
    return -1;
}

/* Draws tokens until one is free, registers the bare root under a UUID of
 * its own (reserving the token) and indexes it. */
static char *reserve_root_locked(xb_registry_t *r, xb_error_t *err)
{
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        char *root = xb_chain_root(r->organism, NULL, err);
        if (!root)
            return NULL;
        bool taken = false;
        if (token_taken(r, root, &taken, err) != 0) {
            free(root);
            return NULL;
        }
        if (taken) {
            XB_DEBUG("registry", "conversation token of %s already in use, drawing again", root);
            free(root);
            continue;
        }
        if (!index_add(r, root)) {
            xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
            free(root);
            return NULL;
        }
        char *root_uuid = NULL;
        if (uuid_for_locked(r, root, &root_uuid, err) != 0) {
            conversation_t *c = index_find(r, root);
            if (c)
                index_remove(r, c);
            free(root);
            return NULL;
        }
        free(root_uuid);
        return root;
    }
    xb_error_set(err, XB_ERR_BACKEND, 0, "registry: no free conversation token after %d tries",
                 START_ATTEMPTS);
    return NULL;
}

/* The chain of uuid: from the index, else from the backend. */
static int chain_of(xb_registry_t *r, const char *uuid, char **chain, xb_error_t *err)
{
    *chain = NULL;
    pthread_mutex_lock(&r->lock);
    const char *known = index_chain_of(r, uuid);
    int rc;
    if (known)
        rc = (*chain = strdup(known))
                 ? 0
                 : xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
    else if ((rc = sync_for_read(r, err)) == 0)
        rc = xb_backend_registry_get_chain(r->backend, uuid, chain, err);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int xb_registry_start(xb_registry_t *r, const char *first_hop, char **uuid, char **root,
                      xb_error_t *err)
{
    if (!r || !uuid)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL argument");
    *uuid = NULL;
    if (root)
        *root = NULL;
    if (!xb_chain_valid_name(first_hop))
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: invalid first hop '%s'",
                            first_hop ? first_hop : "(null)");
    pthread_mutex_lock(&r->lock);
    char *chain = NULL;
    char *conv = reserve_root_locked(r, err);
    int rc = conv ? 0 : -1;
    if (rc == 0 && !(chain = xb_chain_extend(conv, first_hop, err)))
        rc = -1;
    if (rc == 0)
        rc = uuid_for_locked(r, chain, uuid, err);
    pthread_mutex_unlock(&r->lock);
    free(chain);
    if (rc == 0 && root)
        *root = conv;
    else
        free(conv);
    return rc;
}

/* ---- forward and respond ----------------------------------------------------------- */

int xb_registry_extend(xb_registry_t *r, const char *uuid, const char *hop, char **new_uuid,
                       xb_error_t *err)
{
    if (!r || !new_uuid)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL argument");
    *new_uuid = NULL;
    char *chain = NULL;
    if (chain_of(r, uuid, &chain, err) != 0)
        return -1;
    char *next = xb_chain_extend(chain, hop, err);
    free(chain);
    if (!next)
        return -1;
    int rc = xb_registry_uuid_for(r, next, new_uuid, err);
    free(next);
    return rc;
}

int xb_registry_respond(xb_registry_t *r, const char *uuid, char **to_uuid, char **to_hop,
                        bool *ended, xb_error_t *err)
{
    if (!r || !to_uuid || !to_hop || !ended)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL argument");
    *to_uuid = NULL;
    *to_hop = NULL;
    *ended = false;
    char *chain = NULL;
    if (chain_of(r, uuid, &chain, err) != 0)
        return -1;
    xb_error_t e;
    char *caller = xb_chain_prune(chain, &e);
    if (!caller && e.code == XB_ERR_NOTFOUND && xb_chain_is_valid(chain)) {
        free(chain);
        *ended = true;
        return 0;
    }
    free(chain);
    if (!caller) {
        if (err)
            *err = e;
        return -1;
    }
    int rc = -1;
    if (!(*to_hop = strdup(xb_chain_last_hop(caller))))
        xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
    else
        rc = xb_registry_uuid_for(r, caller, to_uuid, err);
    free(caller);
    if (rc != 0) {
        free(*to_hop);
        *to_hop = NULL;
    }
    return rc;
}

int xb_registry_root_of(xb_registry_t *r, const char *uuid, char **root, xb_error_t *err)
{
    if (!r || !root)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL argument");
    *root = NULL;
    char *chain = NULL;
    if (chain_of(r, uuid, &chain, err) != 0)
        return -1;
    *root = xb_chain_conversation_root(chain, err);
    free(chain);
    return *root ? 0 : -1;
}

/* ---- ending a conversation ----------------------------------------------------------- */

static int delete_indexed(xb_registry_t *r, conversation_t *c, size_t *removed, xb_error_t *err)
{
    for (size_t i = 0; i < c->count; i++) {
        bool deleted = false;
        if (backend_delete(r, c->entries[i].uuid, &deleted, err) != 0)
            return -1;
        *removed += deleted;
    }
    return 0;
}

static int delete_scanned(xb_registry_t *r, const char *root, size_t *removed, xb_error_t *err)
{
    xb_pair_list_t all = {0};
    if (sync_for_read(r, err) != 0 || xb_backend_registry_list_all(r->backend, &all, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < all.count; i++) {
        if (!xb_chain_in_conversation(all.items[i].chain, root))
            continue;
        bool deleted = false;
        rc = backend_delete(r, all.items[i].uuid, &deleted, err);
        *removed += deleted;
    }
    xb_pair_list_free(&all);
    return rc;
}

int xb_registry_adopt(xb_registry_t *r, const char *const *roots, size_t n, xb_error_t *err)
{
    if (!r || (n && !roots))
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL argument");
    if (n == 0)
        return 0;
    pthread_mutex_lock(&r->lock);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!index_find(r, roots[i]) && !index_add(r, roots[i]))
            rc = xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
    xb_pair_list_t all = {0};
    if (rc == 0 &&
        (sync_for_read(r, err) != 0 || xb_backend_registry_list_all(r->backend, &all, err) != 0))
        rc = -1;
    for (size_t i = 0; rc == 0 && i < all.count; i++)
        index_note(r, all.items[i].chain, all.items[i].uuid);
    xb_pair_list_free(&all);
    for (size_t i = 0; rc != 0 && i < n; i++) { /* half-known: scanned at their end */
        conversation_t *c = index_find(r, roots[i]);
        if (c && c->count == 0)
            index_remove(r, c);
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

size_t xb_registry_scans(xb_registry_t *r)
{
    if (!r)
        return 0;
    pthread_mutex_lock(&r->lock);
    size_t n = r->scans;
    pthread_mutex_unlock(&r->lock);
    return n;
}

int xb_registry_end_conversation(xb_registry_t *r, const char *chain, size_t *removed,
                                 xb_error_t *err)
{
    size_t count = 0;
    if (removed)
        *removed = 0;
    if (!r)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL registry");
    char *root = xb_chain_conversation_root(chain, err);
    if (!root)
        return -1;
    pthread_mutex_lock(&r->lock);
    conversation_t *c = index_find(r, root);
    int rc;
    if (c) {
        rc = delete_indexed(r, c, &count, err);
        if (rc == 0)
            index_remove(r, c);
    } else {
        XB_DEBUG("registry", "conversation %s not indexed here: scanning the registry", root);
        r->scans++;
        rc = delete_scanned(r, root, &count, err);
    }
    pthread_mutex_unlock(&r->lock);
    free(root);
    if (removed)
        *removed = count;
    return rc;
}

/* ---- pass-through --------------------------------------------------------------------- */

int xb_registry_set(xb_registry_t *r, const char *chain, const char *uuid, xb_error_t *err)
{
    if (!r)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL registry");
    if (!xb_chain_is_valid(chain))
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: invalid chain '%s'",
                            chain ? chain : "(null)");
    if (!uuid || !uuid[0])
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: empty uuid");
    pthread_mutex_lock(&r->lock);
    int rc = backend_set(r, chain, uuid, false, err);
    if (rc == 0)
        index_note(r, chain, uuid);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int xb_registry_get_uuid(xb_registry_t *r, const char *chain, char **uuid, xb_error_t *err)
{
    if (!r || !uuid)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL argument");
    *uuid = NULL;
    pthread_mutex_lock(&r->lock);
    conversation_t *c = chain ? index_of_chain(r, chain) : NULL;
    entry_t *known = c ? entry_of(c, chain) : NULL;
    int rc;
    if (known)
        rc = (*uuid = strdup(known->uuid))
                 ? 0
                 : xb_error_set(err, XB_ERR_NOMEM, 0, "registry: out of memory");
    else if ((rc = sync_for_read(r, err)) == 0)
        rc = xb_backend_registry_get_uuid(r->backend, chain, uuid, err);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int xb_registry_get_chain(xb_registry_t *r, const char *uuid, char **chain, xb_error_t *err)
{
    if (!r || !chain)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL argument");
    return chain_of(r, uuid, chain, err);
}

int xb_registry_delete(xb_registry_t *r, const char *uuid, bool *deleted, xb_error_t *err)
{
    if (!r)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL registry");
    bool dummy;
    if (!deleted)
        deleted = &dummy;
    char *chain = NULL;
    xb_error_t e;
    if (chain_of(r, uuid, &chain, &e) != 0 && e.code != XB_ERR_NOTFOUND) {
        if (err)
            *err = e;
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    int rc;
    if (!chain && r->write_behind)
        rc = (*deleted = false, 0); /* unknown here and in the backend */
    else
        rc = backend_delete(r, uuid, deleted, err);
    if (rc == 0 && chain)
        index_forget(r, chain, uuid);
    pthread_mutex_unlock(&r->lock);
    free(chain);
    return rc;
}

int xb_registry_list_all(xb_registry_t *r, xb_pair_list_t *out, xb_error_t *err)
{
    if (!r)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL registry");
    pthread_mutex_lock(&r->lock);
    int rc = sync_for_read(r, err);
    if (rc == 0)
        rc = xb_backend_registry_list_all(r->backend, out, err);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int xb_registry_clear(xb_registry_t *r, xb_error_t *err)
{
    if (!r)
        return xb_error_set(err, XB_ERR_ARG, 0, "registry: NULL registry");
    pthread_mutex_lock(&r->lock);
    pending_clear(r); /* what they would have written goes anyway */
    int rc = xb_backend_registry_clear(r->backend, err);
    index_clear(r);
    pthread_mutex_unlock(&r->lock);
    return rc;
}
