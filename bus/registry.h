/* The thread registry (docs/storage.md): call chains <-> thread UUIDs.
 *
 * xb_registry_t works over a BORROWED backend (which must outlive it) and is
 * safe to use from several threads. Listeners only ever see UUIDs; chains
 * (see chain.h) stay inside the pump and the backend.
 *
 *   start("console")          -> uuid of system.<org>.c-<token>.console (a new conversation)
 *   extend(uuid, "greeter")   -> uuid of ....console.greeter (forward A -> B)
 *   respond(uuid of greeter)  -> uuid of ....console, receiver "console"
 *   respond(uuid of console)  -> ended: responding from the first hop ends it
 *   end_conversation(root)    -> removes every entry of that conversation
 *
 * The same chain always maps to the same UUID; two conversations along the
 * same path have different roots, hence different UUIDs. Starting a
 * conversation also registers its bare root under a UUID of its own: that
 * reserves the token (a token already registered is never reused) and names
 * the conversation.
 *
 * Out-strings (char **) are new malloc'd strings the caller frees. Functions
 * return 0 or -1 with *err (XB_ERR_NOTFOUND for an unknown chain/uuid,
 * XB_ERR_ARG for an invalid chain or hop, backend codes otherwise). */
#ifndef XMLBUS_REGISTRY_H
#define XMLBUS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/backend.h"
#include "xmlbus/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xb_registry_t xb_registry_t;

/* New registry for organism over backend (borrowed). Caller owns the result:
 * xb_registry_destroy. */
xb_registry_t *xb_registry_new(xb_backend_t *backend, const char *organism, xb_error_t *err);
/* Write-behind mode (off by default): changes to the backend are queued
 * and written by xb_registry_flush, all in one batch (xb_backend_registry_apply).
 * Meanwhile this object answers for everything it wrote, and a lookup that
 * must ask the backend flushes first. A new conversation's token is then
 * checked against this object's conversations only (64 random bits make a
 * clash with a root registered elsewhere as unlikely as a UUID clash). The
 * pump turns it on and flushes once per event-loop turn. */
void xb_registry_set_write_behind(xb_registry_t *r, bool on);
/* Writes the queued changes (0 when there are none). On failure they stay
 * queued and the next flush writes them again; beyond about a million queued
 * changes new ones are refused with XB_ERR_BACKEND. */
int xb_registry_flush(xb_registry_t *r, xb_error_t *err);
/* Changes queued and not yet written. */
size_t xb_registry_pending(xb_registry_t *r);

/* Writes what is queued, frees *r (never the backend or its entries) and
 * sets *r to NULL. Changes the backend refuses then are lost with a warning. */
void xb_registry_destroy(xb_registry_t **r);
const char *xb_registry_organism(const xb_registry_t *r);

/* Starts a conversation whose first hop is first_hop (the sender, e.g.
 * "console"): a fresh root, the chain root.first_hop and its new UUID in
 * *uuid. *root (may be NULL) gets the conversation root. */
int xb_registry_start(xb_registry_t *r, const char *first_hop, char **uuid, char **root,
                      xb_error_t *err);

/* The UUID of chain, creating and registering a new one if it has none. */
int xb_registry_uuid_for(xb_registry_t *r, const char *chain, char **uuid, xb_error_t *err);

/* Forward: the UUID of chain(uuid) + "." + hop. XB_ERR_NOTFOUND when uuid is
 * unknown, XB_ERR_ARG when hop is not a valid name. */
int xb_registry_extend(xb_registry_t *r, const char *uuid, const char *hop, char **new_uuid,
                       xb_error_t *err);

/* Respond: prunes the last hop of chain(uuid). On success either *ended is
 * false and *to_uuid / *to_hop name the caller's thread and the receiver (its
 * last hop), or *ended is true (uuid is a first hop: the conversation ends)
 * and both are NULL. */
int xb_registry_respond(xb_registry_t *r, const char *uuid, char **to_uuid, char **to_hop,
                        bool *ended, xb_error_t *err);

/* The conversation root of the thread uuid. */
int xb_registry_root_of(xb_registry_t *r, const char *uuid, char **root, xb_error_t *err);

/* Removes every entry whose chain is in the conversation of `chain` (a root
 * or any chain of it), the root's own entry included; *removed (may be NULL)
 * gets the count. Uses the in-memory index of conversations started by this
 * object; falls back to one list_all scan for others (e.g. after a restart).
 * Entries of other conversations are never touched. */
/* Indexes the conversations of roots (n of them) as if this object had
 * started them: one list_all scan for all, so that their end needs none.
 * A pump that takes over conversations from its journal after a restart
 * calls it once. Roots already indexed are left as they are. */
int xb_registry_adopt(xb_registry_t *r, const char *const *roots, size_t n, xb_error_t *err);

/* How many times end_conversation had to scan the whole registry (a
 * conversation it did not index): each is a read of every pair. */
size_t xb_registry_scans(xb_registry_t *r);

int xb_registry_end_conversation(xb_registry_t *r, const char *chain, size_t *removed,
                                 xb_error_t *err);

/* Pass-through of the registry API. set checks that chain is valid
 * and keeps the backend a bijection (a chain or uuid set again loses its
 * old pair). delete's *deleted (may be NULL) tells whether uuid existed. */
int xb_registry_set(xb_registry_t *r, const char *chain, const char *uuid, xb_error_t *err);
int xb_registry_get_uuid(xb_registry_t *r, const char *chain, char **uuid, xb_error_t *err);
int xb_registry_get_chain(xb_registry_t *r, const char *uuid, char **chain, xb_error_t *err);
int xb_registry_delete(xb_registry_t *r, const char *uuid, bool *deleted, xb_error_t *err);
int xb_registry_list_all(xb_registry_t *r, xb_pair_list_t *out, xb_error_t *err);
/* Removes every entry of the backend and empties the index. */
int xb_registry_clear(xb_registry_t *r, xb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
