/* Pieces shared by the files of the `memory` backend (docs/storage.md):
 *   backend_memory.c       the ops table, threads and slots, the registry
 *   backend_memory_wmem.c  working memory of conversations
 * Nothing here is public API. */
#ifndef XMLBUS_BACKEND_MEMORY_INTERNAL_H
#define XMLBUS_BACKEND_MEMORY_INTERNAL_H

#include "backend_impl.h"
#include "strmap.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct mem_thread {
    char *name;
    xb_blob_t *slots;
    size_t len;
    size_t cap;
    size_t bytes;             /* of its slots, for max_bytes */
    struct mem_thread *older; /* creation-ordered list */
    struct mem_thread *newer;
    uint64_t seq; /* creation number: the list is in seq order (scan cursors) */
} mem_thread_t;

typedef struct {
    pthread_mutex_t lock;
    xb_backend_config_t cfg;
    xb_strmap_t *threads; /* name -> mem_thread_t* (owned) */
    mem_thread_t *oldest; /* creation order, for eviction */
    mem_thread_t *newest;
    long total_slots;
    uint64_t last_seq;
    size_t total_bytes;         /* slot and working memory bytes held, for max_bytes */
    xb_strmap_t *chain_to_uuid; /* chain -> char* uuid (owned) */
    xb_strmap_t *uuid_to_chain; /* uuid -> char* chain (owned) */
    long evicted_threads;
    long limit_refusals;
    xb_strmap_t *wmem; /* conversation -> mem_conv_t* (owned), backend_memory_wmem.c */
    size_t wmem_bytes; /* their entries' bytes, also counted in total_bytes */
} mem_t;

/* Makes room for len more bytes by evicting the oldest threads other than t
 * (t may be NULL). False when what cannot be evicted leaves no room (lock
 * held). */
bool xb_mem_make_room(mem_t *m, mem_thread_t *t, size_t len);

/* ---- working memory (backend_memory_wmem.c) ---------------------------------- */

/* One put, its entries copied before the lock is taken. */
typedef struct {
    const char *conversation; /* borrowed, like entries */
    size_t n;
    const xb_wmem_entry_t *entries;
    xb_blob_t **copies; /* n copies (NULL for a superseded entry), then n replaced */
} mem_wmem_put_t;

/* Copies the entries of a put (no lock needed); xb_mem_wmem_release frees
 * what the put did not take, also after a failure. */
int xb_mem_wmem_prepare(mem_wmem_put_t *p, const char *conversation, size_t n,
                        const xb_wmem_entry_t *entries, xb_error_t *err);
void xb_mem_wmem_release(mem_wmem_put_t *p);
/* The limits of the put, checked without changing anything (lock held):
 * max_wmem_entries, and max_bytes for working memory alone. *grow gets the
 * bytes that working memory grows by (0 when it shrinks). */
int xb_mem_wmem_check(const mem_t *m, const mem_wmem_put_t *p, size_t *grow, xb_error_t *err);
/* Checks and writes the put, all or none (lock held): the oldest threads
 * other than keep (may be NULL) are evicted for room under max_bytes. */
int xb_mem_wmem_write(mem_t *m, mem_wmem_put_t *p, mem_thread_t *keep, xb_error_t *err);

/* Frees one conversation's memory (the value free of mem_t.wmem). */
void xb_mem_conv_free(void *conv);
int xb_mem_wmem_put(void *self, const char *conversation, size_t n, const xb_wmem_entry_t *entries,
                    xb_error_t *err);
int xb_mem_wmem_get(void *self, const char *conversation, const char *name, xb_blob_t *out,
                    xb_error_t *err);
int xb_mem_wmem_list(void *self, const char *conversation, xb_wmem_list_t *out, xb_error_t *err);
int xb_mem_wmem_drop(void *self, const char *conversation, xb_error_t *err);

#endif
