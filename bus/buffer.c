/* The context buffer over a backend (see include/xmlbus/buffer.h). The
 * buffer keeps no mutable state but its atomic counters, so it is safe to
 * use from several threads as long as the backend is. */
#include "xmlbus/buffer.h"
#include "log.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct xb_buffer_t {
    xb_backend_t *backend; /* borrowed */
    xb_buffer_limits_t limits;
    size_t max_slot_bytes; /* from the backend config, checked before the call */
    atomic_long appends;
    atomic_long payload_bytes;
    atomic_long stored_bytes;
    atomic_long reads;
    atomic_long refused_payload_bytes;
    atomic_long refused_slot_bytes;
    atomic_long refused_backend_limit;
    atomic_long errors;
};

xb_buffer_t *xb_buffer_new(xb_backend_t *backend, const xb_buffer_limits_t *limits, xb_error_t *err)
{
    if (!backend) {
        xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL backend");
        return NULL;
    }
    xb_buffer_t *b = calloc(1, sizeof *b);
    if (!b) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "buffer: out of memory");
        return NULL;
    }
    b->backend = backend;
    if (limits)
        b->limits = *limits;
    const xb_backend_config_t *cfg = xb_backend_config(backend);
    b->max_slot_bytes = cfg ? cfg->max_slot_bytes : 0;
    return b;
}

void xb_buffer_destroy(xb_buffer_t **b)
{
    if (!b || !*b)
        return;
    free(*b);
    *b = NULL;
}

xb_backend_t *xb_buffer_backend(const xb_buffer_t *b)
{
    return b ? b->backend : NULL;
}

/* Counts a failed backend call by its kind. */
static void count_failure(xb_buffer_t *b, const xb_error_t *e)
{
    if (e->code == XB_ERR_LIMIT) {
        atomic_fetch_add(&b->refused_backend_limit, 1);
        XB_WARN("buffer", "%s", e->message);
    } else if (e->code != XB_ERR_NOTFOUND && e->code != XB_ERR_ARG) {
        atomic_fetch_add(&b->errors, 1);
        XB_ERROR("buffer", "%s", e->message);
    }
}

/* Checks one slot against the limits and encodes it. */
static int encode_checked(xb_buffer_t *b, const xb_slot_fields_t *f, char **out, size_t *len,
                          xb_error_t *err)
{
    const char *thread = f && f->thread ? f->thread : "(none)";
    if (f && b->limits.max_payload_bytes > 0 && f->payload_len > b->limits.max_payload_bytes) {
        atomic_fetch_add(&b->refused_payload_bytes, 1);
        XB_WARN("buffer", "thread %s: payload of %zu bytes exceeds max_payload_bytes %zu", thread,
                f->payload_len, b->limits.max_payload_bytes);
        return xb_error_set(err, XB_ERR_LIMIT, 0,
                            "buffer: thread %s: payload of %zu bytes exceeds max_payload_bytes "
                            "%zu",
                            thread, f->payload_len, b->limits.max_payload_bytes);
    }
    if (xb_slot_encode_fields(f, out, len, err) != 0)
        return -1;
    if (b->max_slot_bytes > 0 && *len > b->max_slot_bytes) {
        atomic_fetch_add(&b->refused_slot_bytes, 1);
        XB_WARN("buffer", "thread %s: slot of %zu bytes exceeds max_slot_bytes %zu", thread, *len,
                b->max_slot_bytes);
        xb_error_set(err, XB_ERR_LIMIT, 0,
                     "buffer: thread %s: slot of %zu bytes exceeds max_slot_bytes %zu", thread,
                     *len, b->max_slot_bytes);
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static void count_stored(xb_buffer_t *b, const xb_slot_fields_t *f, size_t encoded)
{
    atomic_fetch_add(&b->appends, 1);
    atomic_fetch_add(&b->payload_bytes, (long)f->payload_len);
    atomic_fetch_add(&b->stored_bytes, (long)encoded);
}

int xb_buffer_append(xb_buffer_t *b, const char *thread, const char *from, const char *to,
                     const char *payload_type, const char *message_id, int64_t timestamp_us,
                     const void *payload, size_t payload_len, long *index, xb_error_t *err)
{
    if (!b)
        return xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL buffer");
    xb_slot_fields_t f = {thread,     from,         to,      payload_type,
                          message_id, timestamp_us, payload, payload_len};
    char *enc = NULL;
    size_t len = 0;
    if (encode_checked(b, &f, &enc, &len, err) != 0)
        return -1;
    xb_error_t e;
    long ignored;
    int rc = xb_backend_buffer_append(b->backend, thread, enc, len, index ? index : &ignored, &e);
    free(enc);
    if (rc != 0) {
        count_failure(b, &e);
        if (err)
            *err = e;
        return -1;
    }
    count_stored(b, &f, len);
    return 0;
}

int xb_buffer_append_batch(xb_buffer_t *b, size_t n, const xb_slot_fields_t *slots, long *index,
                           xb_error_t *err)
{
    return xb_buffer_append_journal(b, n, slots, NULL, index, err);
}

int xb_buffer_append_journal(xb_buffer_t *b, size_t n, const xb_slot_fields_t *slots,
                             const xb_journal_entry_t *journal, long *index, xb_error_t *err)
{
    return xb_buffer_append_all(b, n, slots, journal, NULL, index, err);
}

int xb_buffer_append_all(xb_buffer_t *b, size_t n, const xb_slot_fields_t *slots,
                         const xb_journal_entry_t *journal, const xb_wmem_batch_t *wmem,
                         long *index, xb_error_t *err)
{
    if (!b)
        return xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL buffer");
    if (n == 0)
        return 0;
    if (!slots || !index)
        return xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL batch");
    xb_blob_t *blobs = calloc(n, sizeof *blobs);
    const char **threads = calloc(n, sizeof *threads);
    int rc = 0;
    if (!blobs || !threads)
        rc = xb_error_set(err, XB_ERR_NOMEM, 0, "buffer: out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        threads[i] = slots[i].thread;
        rc = encode_checked(b, &slots[i], &blobs[i].data, &blobs[i].len, err);
    }
    if (rc == 0) {
        xb_error_t e;
        rc = xb_backend_buffer_append_all(b->backend, n, threads, blobs, journal, wmem, index, &e);
        if (rc != 0) {
            count_failure(b, &e);
            if (err)
                *err = e;
        } else {
            for (size_t i = 0; i < n; i++)
                count_stored(b, &slots[i], blobs[i].len);
        }
    }
    for (size_t i = 0; blobs && i < n; i++)
        free(blobs[i].data);
    free(blobs);
    free(threads);
    return rc;
}

int xb_buffer_get_thread(xb_buffer_t *b, const char *thread, xb_slot_list_t *out, xb_error_t *err)
{
    if (!b || !out)
        return xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL argument");
    out->items = NULL;
    out->count = 0;
    xb_blob_list_t blobs = {0};
    xb_error_t e;
    if (xb_backend_buffer_get_thread(b->backend, thread, &blobs, &e) != 0) {
        count_failure(b, &e);
        if (err)
            *err = e;
        return -1;
    }
    int rc = xb_slot_list_decode(&blobs, out, &e);
    xb_blob_list_free(&blobs);
    if (rc != 0) {
        atomic_fetch_add(&b->errors, 1);
        XB_ERROR("buffer", "thread %s: %s", thread, e.message);
        return xb_error_set(err, e.code, 0, "buffer: thread %s: %s", thread, e.message);
    }
    atomic_fetch_add(&b->reads, 1);
    return 0;
}

xb_slot_t *xb_buffer_get_slot(xb_buffer_t *b, const char *thread, long index, xb_error_t *err)
{
    if (!b) {
        xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL buffer");
        return NULL;
    }
    xb_blob_t blob = {0};
    xb_error_t e;
    if (xb_backend_buffer_get_slot(b->backend, thread, index, &blob, &e) != 0) {
        count_failure(b, &e);
        if (err)
            *err = e;
        return NULL;
    }
    xb_slot_t *s = xb_slot_decode(blob.data, blob.len, index, &e);
    free(blob.data);
    if (!s) {
        atomic_fetch_add(&b->errors, 1);
        XB_ERROR("buffer", "thread %s slot %ld: %s", thread, index, e.message);
        xb_error_set(err, e.code, 0, "buffer: thread %s slot %ld: %s", thread, index, e.message);
        return NULL;
    }
    atomic_fetch_add(&b->reads, 1);
    return s;
}

/* Runs a backend call result through the failure counters. */
static int pass(xb_buffer_t *b, int rc, const xb_error_t *e, xb_error_t *err)
{
    if (rc != 0) {
        count_failure(b, e);
        if (err)
            *err = *e;
    }
    return rc;
}

int xb_buffer_thread_len(xb_buffer_t *b, const char *thread, long *len, xb_error_t *err)
{
    if (!b)
        return xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL buffer");
    xb_error_t e;
    return pass(b, xb_backend_buffer_thread_len(b->backend, thread, len, &e), &e, err);
}

int xb_buffer_thread_exists(xb_buffer_t *b, const char *thread, bool *exists, xb_error_t *err)
{
    if (!b)
        return xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL buffer");
    xb_error_t e;
    return pass(b, xb_backend_buffer_thread_exists(b->backend, thread, exists, &e), &e, err);
}

int xb_buffer_delete_thread(xb_buffer_t *b, const char *thread, bool *deleted, xb_error_t *err)
{
    if (!b)
        return xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL buffer");
    xb_error_t e;
    return pass(b, xb_backend_buffer_delete_thread(b->backend, thread, deleted, &e), &e, err);
}

int xb_buffer_list_threads(xb_buffer_t *b, xb_str_list_t *out, xb_error_t *err)
{
    if (!b)
        return xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL buffer");
    xb_error_t e;
    return pass(b, xb_backend_buffer_list_threads(b->backend, out, &e), &e, err);
}

int xb_buffer_clear(xb_buffer_t *b, xb_error_t *err)
{
    if (!b)
        return xb_error_set(err, XB_ERR_ARG, 0, "buffer: NULL buffer");
    xb_error_t e;
    return pass(b, xb_backend_buffer_clear(b->backend, &e), &e, err);
}

void xb_buffer_stats(xb_buffer_t *b, xb_buffer_stats_t *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    out->evicted_threads = -1;
    out->backend_limit_refusals = -1;
    if (!b)
        return;
    out->appends = atomic_load(&b->appends);
    out->payload_bytes = atomic_load(&b->payload_bytes);
    out->stored_bytes = atomic_load(&b->stored_bytes);
    out->reads = atomic_load(&b->reads);
    out->refused_payload_bytes = atomic_load(&b->refused_payload_bytes);
    out->refused_slot_bytes = atomic_load(&b->refused_slot_bytes);
    out->refused_backend_limit = atomic_load(&b->refused_backend_limit);
    out->errors = atomic_load(&b->errors);
    xb_backend_info_t info;
    xb_error_t e;
    if (xb_backend_info(b->backend, &info, &e) == 0) {
        out->evicted_threads = info.evicted_threads;
        out->backend_limit_refusals = info.limit_refusals;
    } else {
        XB_DEBUG("buffer", "stats: backend info failed: %s", e.message);
    }
}
