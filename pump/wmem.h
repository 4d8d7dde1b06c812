/* Working memory in the pump (pump/wmem.c, docs/pipelines.md): the entries
 * a listener `needs` fetched for its delivery (or missing-input), the
 * entries a REPLY writes (`=name` targets and the listener's `result`), and
 * their disposal when the conversation ends. Calls the backend, conv.c and
 * core.c only. Internal to the pump. */
#ifndef XMLBUS_PUMP_WMEM_H
#define XMLBUS_PUMP_WMEM_H

#include "pump_internal.h"
#include "xmlbus/wmem.h"

/* The conversation a delivery belongs to: its root (borrowed from conv, or
 * computed from chain into buf). "" when neither is known. */
const char *xbp_wmem_conversation(const conv_t *conv, const char *chain, char *buf, size_t cap);

/* The longest memory scope: a conversation's root, or a run's own scope. */
#define XBP_SCOPE_MAX 320

/* The memory a message belongs to: its conversation's
 * (xbp_wmem_conversation), or, when pipe_ref says its pipeline run keeps
 * its own (XBP_REF_OWN_SCOPE), "ROOT/pRUN" apart from it. Written into buf
 * (or borrowed from conv). "" when no conversation is known. */
const char *xbp_wmem_scope(const conv_t *conv, const char *chain, uint64_t pipe_ref, char *buf,
                           size_t cap);

/* Writes entry name = bytes (one element; a typed entry's element and
 * schema) into scope, checked like a listener's writes. 0, or -1 with
 * *err (nothing written). conv (may be NULL) learns it has memory when
 * scope is its own. */
int xbp_wmem_put(xb_pump_t *p, conv_t *conv, const char *scope, const char *name, const char *bytes,
                 size_t len, xb_error_t *err);

/* The entries listener lc needs, read from the memory of conversation into
 * *out (the caller frees it with xb_wmem_list_free). 0; 1 when some are
 * missing (why names every one); -1 with *err on a backend failure. A
 * listener without needs gets an empty list. */
int xbp_wmem_fetch(xb_pump_t *p, const xb_listener_config_t *lc, const char *conversation,
                   xb_wmem_list_t *out, char *why, size_t cap, xb_error_t *err);

#define XBP_WRITES_MAX 64 /* memory writes of one REPLY */

/* The checked memory writes of one REPLY, copied: stored with the slot of
 * the REPLY's first message, in the same backend transaction (commit.c),
 * or on their own when the REPLY sends nothing. */
typedef struct {
    char scope[XBP_SCOPE_MAX];
    size_t n;
    xb_wmem_entry_t entries[XBP_WRITES_MAX]; /* point into names and data */
    char names[XBP_WRITES_MAX][XB_ENTRY_MAX];
    char *data; /* the values, one after the other */
} xbp_wmem_writes_t;

/* The memory writes of a REPLY from listener lc into scope: every `=name`
 * pair, and, with with_result, the payload of every `^` pair under lc's
 * `result` (a pipeline step's response is stored by its run instead).
 * Checked (names, one element each, a typed entry's element and schema)
 * before anything of the REPLY is routed. 0 with *out NULL when there is
 * nothing to write, 0 with *out (the caller owns it) when there is, or -1
 * with *err when they are refused. */
int xbp_wmem_reply_writes(xb_pump_t *p, const xb_listener_config_t *lc, bool with_result,
                          const char *scope, const xb_proto_msg_t *m, xbp_wmem_writes_t **out,
                          xb_error_t *err);
/* Stores w on its own (a REPLY that sends nothing else). 0, or -1 with
 * *err. conv learns it has memory. */
int xbp_wmem_writes_store(xb_pump_t *p, conv_t *conv, const xbp_wmem_writes_t *w, xb_error_t *err);
/* w was stored (with its slot): conv (may be NULL) learns it has memory. */
void xbp_wmem_writes_stored(conv_t *conv, const xbp_wmem_writes_t *w);
/* The backend's view of w, for xb_buffer_append_all. */
xb_wmem_batch_t xbp_wmem_writes_batch(const xbp_wmem_writes_t *w);
void xbp_wmem_writes_free(xbp_wmem_writes_t **w);

/* Conversation c ended: its memory goes, unless memory.keep. */
void xbp_wmem_conversation_ended(xb_pump_t *p, conv_t *c);

#endif
