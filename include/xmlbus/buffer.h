/* The context buffer (docs/storage.md): per-thread, append-only lists of
 * immutable slots, stored in a backend.
 *
 * xb_buffer_t is a thin, thread-safe layer over a BORROWED xb_backend_t (the
 * backend must outlive the buffer): it encodes slots (XBS1, see
 * docs/slot-encoding.md), appends each with ONE backend call, decodes what it
 * reads, applies the payload size limit, and counts what happens. Limits of
 * the backend (max_slots_per_thread, max_slot_bytes, max_threads) come from the
 * backend's config; every refusal is logged (WARN) and counted. */
#ifndef XMLBUS_BUFFER_H
#define XMLBUS_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xmlbus/backend.h"
#include "xmlbus/error.h"
#include "xmlbus/export.h"
#include "xmlbus/slot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xb_buffer_t xb_buffer_t;

typedef struct {
    size_t max_payload_bytes; /* 0 = unlimited; larger payload -> XB_ERR_LIMIT */
} xb_buffer_limits_t;

/* Counters since xb_buffer_new. All but the two backend fields are kept by
 * the buffer itself with atomic counters. */
typedef struct {
    long appends;                /* slots stored */
    long payload_bytes;          /* payload bytes of the slots stored */
    long stored_bytes;           /* encoded bytes of the slots stored */
    long reads;                  /* get_thread and get_slot calls that succeeded */
    long refused_payload_bytes;  /* payload over max_payload_bytes */
    long refused_slot_bytes;     /* encoded slot over the backend's max_slot_bytes */
    long refused_backend_limit;  /* other XB_ERR_LIMIT from the backend (thread full) */
    long errors;                 /* backend failures other than limits and not-found */
    long evicted_threads;        /* backend info, -1 when it could not be read */
    long backend_limit_refusals; /* backend info, -1 when it could not be read */
} xb_buffer_stats_t;

/* New buffer over backend (borrowed). limits may be NULL (no payload limit).
 * Returns NULL with *err set. Caller owns it: xb_buffer_destroy. */
XB_EXPORT xb_buffer_t *xb_buffer_new(xb_backend_t *backend, const xb_buffer_limits_t *limits,
                                     xb_error_t *err);
/* Frees *b (never the backend) and sets *b to NULL. NULL is allowed. */
XB_EXPORT void xb_buffer_destroy(xb_buffer_t **b);
XB_EXPORT xb_backend_t *xb_buffer_backend(const xb_buffer_t *b);

/* Records one message on `thread`; *index (may be NULL) gets its 0-based
 * position. from/to/payload_type/message_id may be NULL or "". Errors:
 * XB_ERR_LIMIT (payload, slot size, thread full), XB_ERR_ARG, XB_ERR_BACKEND. */
XB_EXPORT int xb_buffer_append(xb_buffer_t *b, const char *thread, const char *from, const char *to,
                               const char *payload_type, const char *message_id,
                               int64_t timestamp_us, const void *payload, size_t payload_len,
                               long *index, xb_error_t *err);

/* Records n slots (possibly on different threads) with one backend batch;
 * index[i] gets each position. Every slot is checked against the limits
 * before anything is stored; if the backend then refuses, a prefix of the
 * batch may be stored (see docs/storage.md). */
XB_EXPORT int xb_buffer_append_batch(xb_buffer_t *b, size_t n, const xb_slot_fields_t *slots,
                                     long *index, xb_error_t *err);
/* xb_buffer_append_batch, and journal[i] (when its id is not NULL) written
 * with slots[i] in the same backend transaction or script call
 * (xb_backend_buffer_append_journal). journal NULL: xb_buffer_append_batch. */
XB_EXPORT int xb_buffer_append_journal(xb_buffer_t *b, size_t n, const xb_slot_fields_t *slots,
                                       const xb_journal_entry_t *journal, long *index,
                                       xb_error_t *err);

/* xb_buffer_append_journal with the working-memory writes of each slot
 * (wmem may be NULL; wmem[i] goes with slots[i]): see
 * xb_backend_buffer_append_all. */
XB_EXPORT int xb_buffer_append_all(xb_buffer_t *b, size_t n, const xb_slot_fields_t *slots,
                                   const xb_journal_entry_t *journal, const xb_wmem_batch_t *wmem,
                                   long *index, xb_error_t *err);

/* The whole thread, oldest first, as new slots (the caller owns *out:
 * xb_slot_list_free). An unknown thread is an empty list, not an error. */
XB_EXPORT int xb_buffer_get_thread(xb_buffer_t *b, const char *thread, xb_slot_list_t *out,
                                   xb_error_t *err);
/* One slot as a new xb_slot_t (caller owns it), or NULL with XB_ERR_NOTFOUND
 * when the thread or the index does not exist. */
XB_EXPORT xb_slot_t *xb_buffer_get_slot(xb_buffer_t *b, const char *thread, long index,
                                        xb_error_t *err);
XB_EXPORT int xb_buffer_thread_len(xb_buffer_t *b, const char *thread, long *len, xb_error_t *err);
XB_EXPORT int xb_buffer_thread_exists(xb_buffer_t *b, const char *thread, bool *exists,
                                      xb_error_t *err);
/* *deleted (may be NULL) tells whether the thread existed. */
XB_EXPORT int xb_buffer_delete_thread(xb_buffer_t *b, const char *thread, bool *deleted,
                                      xb_error_t *err);
/* Thread names; caller owns *out (xb_str_list_free). */
XB_EXPORT int xb_buffer_list_threads(xb_buffer_t *b, xb_str_list_t *out, xb_error_t *err);
/* Deletes every thread (the registry is untouched). */
XB_EXPORT int xb_buffer_clear(xb_buffer_t *b, xb_error_t *err);

/* Fills *out; the backend fields are -1 when its info call fails. */
XB_EXPORT void xb_buffer_stats(xb_buffer_t *b, xb_buffer_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
