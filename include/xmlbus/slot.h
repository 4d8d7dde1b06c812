/* A slot: one recorded message of a thread's context buffer (docs/slot-encoding.md).
 *
 * xb_slot_t is opaque and immutable: the constructor copies everything and
 * there are only getters. A slot is stored in the backend in the "XBS1"
 * encoding of docs/slot-encoding.md (length-prefixed binary, big-endian).
 * The index is NOT part of the encoding: it is the slot's position in its
 * thread, assigned by the backend at append and given back to xb_slot_decode
 * by whoever read the slot (so an append is one backend call). */
#ifndef XMLBUS_SLOT_H
#define XMLBUS_SLOT_H

#include <stddef.h>
#include <stdint.h>

#include "xmlbus/backend.h"
#include "xmlbus/error.h"
#include "xmlbus/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_SLOT_MAGIC "XBS1"
#define XB_SLOT_HEADER_BYTES 36 /* magic + timestamp + six length prefixes */

typedef struct xb_slot_t xb_slot_t;

/* The fields of a slot before it has an index, all borrowed. thread must be
 * non-empty; from, to, payload_type, message_id may be NULL (= ""). payload
 * may contain any bytes, zeros included; NULL only with payload_len 0. */
typedef struct {
    const char *thread;
    const char *from;
    const char *to;
    const char *payload_type;
    const char *message_id;
    int64_t timestamp_us;
    const void *payload;
    size_t payload_len;
} xb_slot_fields_t;

/* New slot, copying every argument. Argument rules as xb_slot_fields_t;
 * index must be >= 0. Returns NULL with XB_ERR_ARG / XB_ERR_NOMEM.
 * The caller owns the result: xb_slot_destroy. */
XB_EXPORT xb_slot_t *xb_slot_new(long index, const char *thread, const char *from, const char *to,
                                 const char *payload_type, const char *message_id,
                                 int64_t timestamp_us, const void *payload, size_t payload_len,
                                 xb_error_t *err);
/* Same from a fields struct. */
XB_EXPORT xb_slot_t *xb_slot_new_fields(long index, const xb_slot_fields_t *fields,
                                        xb_error_t *err);
/* Frees *s and sets *s to NULL. NULL and *s == NULL are allowed. */
XB_EXPORT void xb_slot_destroy(xb_slot_t **s);
/* A new slot equal to s (the caller owns it), or NULL on out of memory. */
XB_EXPORT xb_slot_t *xb_slot_copy(const xb_slot_t *s, xb_error_t *err);

/* Getters. Strings are never NULL ("" when absent) and live as long as the
 * slot. The payload is followed by a NUL byte that is not part of its length,
 * so text payloads may be read as C strings. */
XB_EXPORT long xb_slot_index(const xb_slot_t *s);
XB_EXPORT const char *xb_slot_thread(const xb_slot_t *s);
XB_EXPORT const char *xb_slot_from(const xb_slot_t *s);
XB_EXPORT const char *xb_slot_to(const xb_slot_t *s);
XB_EXPORT const char *xb_slot_payload_type(const xb_slot_t *s);
XB_EXPORT const char *xb_slot_message_id(const xb_slot_t *s);
XB_EXPORT int64_t xb_slot_timestamp_us(const xb_slot_t *s);
XB_EXPORT const char *xb_slot_payload(const xb_slot_t *s, size_t *len);

/* Encodes into a new malloc'd buffer *out (caller frees) of *len bytes.
 * Returns 0, or -1 (XB_ERR_ARG: a field longer than 4 GiB - 1, XB_ERR_NOMEM). */
XB_EXPORT int xb_slot_encode(const xb_slot_t *s, char **out, size_t *len, xb_error_t *err);
/* Same straight from fields, without building a slot first. */
XB_EXPORT int xb_slot_encode_fields(const xb_slot_fields_t *f, char **out, size_t *len,
                                    xb_error_t *err);

/* Decodes len bytes into a new slot carrying `index` (caller owns it).
 * Any truncated, oversized or corrupt input gives NULL with XB_ERR_BACKEND
 * "corrupt slot: ..." and never reads outside [bytes, bytes + len). */
XB_EXPORT xb_slot_t *xb_slot_decode(const void *bytes, size_t len, long index, xb_error_t *err);

/* The slot as one XML element for people and `xmlbus history`:
 *     <slot index="0" thread="..." from="..." to="..." type="..." ts="..." id="...">
 *       <payload-element .../>
 *     </slot>
 * Metadata are attributes (escaped by libxml2). The payload is parsed
 * (no DTD, no entities, no network) and embedded as an element; a payload
 * that is not one well-formed element is embedded as base64 text instead,
 * with the attribute encoding="base64". *out is malloc'd (caller frees),
 * without XML declaration or trailing newline. Fails with XB_ERR_ARG when a
 * metadata string is not valid UTF-8 or holds control characters. */
XB_EXPORT int xb_slot_to_xml(const xb_slot_t *s, char **out, size_t *len, xb_error_t *err);

/* A list of slots; the caller owns it and frees it with xb_slot_list_free,
 * which also resets it to empty. */
typedef struct {
    xb_slot_t **items;
    size_t count;
} xb_slot_list_t;

XB_EXPORT void xb_slot_list_free(xb_slot_list_t *list);

/* Decodes a thread read from a backend: blobs[i] becomes a slot with index i.
 * On failure *out is empty and err names the first corrupt index. */
XB_EXPORT int xb_slot_list_decode(const xb_blob_list_t *blobs, xb_slot_list_t *out,
                                  xb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
