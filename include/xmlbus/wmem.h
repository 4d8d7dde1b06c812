/* Working memory of a conversation (docs/storage.md "Working memory"), kept
 * by every storage backend beside the context buffer.
 *
 * A conversation (named by its root string, e.g. "system.hello.c-3f2a...")
 * holds named entries; a name is a token [A-Za-z_][A-Za-z0-9_.-]{0,62}, a
 * value the bytes of one XML element, opaque to the backend. A put writes
 * several entries all or none; drop removes the conversation's memory when
 * the conversation ends. Limits: max_wmem_entries and max_wmem_entry_bytes
 * of xb_backend_config_t (a put beyond them is refused whole, XB_ERR_LIMIT).
 * The writes of a listener's answer go with the slots of its messages in
 * one atomic write: xb_backend_buffer_append_all (xmlbus/backend.h).
 *
 * Included by xmlbus/backend.h; the functions follow its conventions (0 on
 * success, -1 with *err filled, out-values owned by the caller and reset
 * first, so that they may be freed even after a failure). */
#ifndef XMLBUS_WMEM_H
#define XMLBUS_WMEM_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/backend.h"
#include "xmlbus/error.h"
#include "xmlbus/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest entry name, in bytes (without the NUL). */
#define XB_WMEM_NAME_MAX 63

/* One entry to write: name and bytes are borrowed. */
typedef struct {
    const char *name;
    const void *data;
    size_t len;
} xb_wmem_entry_t;

/* The working-memory writes that go with one slot of a batch (see
 * xb_backend_buffer_append_all): conversation's entries[0..n), like
 * xb_backend_wmem_put. conversation NULL: none for that slot. Borrowed. */
typedef struct xb_wmem_batch {
    const char *conversation;
    size_t n;
    const xb_wmem_entry_t *entries;
} xb_wmem_batch_t;

/* One entry read back; the list owns name and data. */
typedef struct {
    char *name;
    xb_blob_t data;
} xb_wmem_item_t;

typedef struct {
    xb_wmem_item_t *items;
    size_t count;
} xb_wmem_list_t;

/* Frees every item and the array and leaves the list empty (NULL is fine). */
XB_EXPORT void xb_wmem_list_free(xb_wmem_list_t *list);

/* True when name is a valid entry name: [A-Za-z_][A-Za-z0-9_.-]{0,62}. */
XB_EXPORT bool xb_wmem_name_valid(const char *name);

/* Writes entries[0..n) into the memory of conversation, all or none (one
 * LMDB transaction, one Redis script call, one lock hold), each replacing an
 * entry of the same name; of two entries of one name in a batch the later
 * wins. n == 0 does nothing. A bad argument (empty conversation, invalid
 * name, empty bytes) is XB_ERR_ARG; an entry longer than max_wmem_entry_bytes,
 * or a conversation that would hold more than max_wmem_entries entries, is
 * XB_ERR_LIMIT (memory backend: or memory beyond max_bytes); either way
 * nothing of the batch is written. */
XB_EXPORT int xb_backend_wmem_put(xb_backend_t *b, const char *conversation, size_t n,
                                  const xb_wmem_entry_t *entries, xb_error_t *err);
/* The bytes of entry name into *out (the caller frees out->data). Returns 0
 * found, 1 not found (*out empty, *err untouched), -1 error. */
XB_EXPORT int xb_backend_wmem_get(xb_backend_t *b, const char *conversation, const char *name,
                                  xb_blob_t *out, xb_error_t *err);
/* Every entry of conversation into *out, sorted by name (strcmp); empty for
 * a conversation without memory. The caller frees it (xb_wmem_list_free). */
XB_EXPORT int xb_backend_wmem_list(xb_backend_t *b, const char *conversation, xb_wmem_list_t *out,
                                   xb_error_t *err);
/* Removes the conversation's memory; a conversation without memory is fine. */
XB_EXPORT int xb_backend_wmem_drop(xb_backend_t *b, const char *conversation, xb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
