/* Call chains (docs/routing.md).
 *
 * A call chain is the path of hops that leads to a thread, written as the
 * hops joined by '.':
 *
 *     system.hello.c-4f2a9b0c.console.greeter
 *     \______ root ________/ \____ hops ____/
 *
 * The root "system.<organism>.c-<token>" names one conversation; the token is
 * fresh for every conversation, so two conversations never share a chain.
 * Hops (listener names) and the organism name follow the name rule of
 * organism.yaml, [A-Za-z][A-Za-z0-9_-]* and shorter than 64 bytes, so they
 * never contain '.'. The token is 1 to 32 characters of [0-9A-Za-z] (xmlbus
 * writes 8 lower-case hex digits).
 *
 * Functions that return char * return a new malloc'd string the caller owns
 * (free), or NULL with *err set: XB_ERR_ARG for an invalid chain or name,
 * XB_ERR_NOMEM. */
#ifndef XMLBUS_CHAIN_H
#define XMLBUS_CHAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_CHAIN_TOKEN_LEN 16 /* hex digits of a fresh token (64 random bits) */
#define XB_CHAIN_TOKEN_MAX 32 /* longest token accepted */
#define XB_CHAIN_NAME_MAX 63  /* longest hop or organism name */

/* True for a valid hop or organism name (never contains '.'). */
bool xb_chain_valid_name(const char *name);

/* Writes XB_CHAIN_TOKEN_LEN random lower-case hex digits and a NUL. */
int xb_chain_new_token(char token[XB_CHAIN_TOKEN_LEN + 1], xb_error_t *err);

/* "system.<organism>.c-<token>"; token NULL draws a fresh random one. */
char *xb_chain_root(const char *organism, const char *token, xb_error_t *err);

/* chain + "." + hop. hop must be a valid name. */
char *xb_chain_extend(const char *chain, const char *hop, xb_error_t *err);

/* The chain without its last hop: what a response travels back along.
 * When the chain has one hop or none, there is nobody to respond to: NULL
 * with XB_ERR_NOTFOUND ("responding ends the conversation"). */
char *xb_chain_prune(const char *chain, xb_error_t *err);

/* The last hop, pointing INTO chain (not a copy), or NULL when the chain is
 * invalid or is only a root. */
const char *xb_chain_last_hop(const char *chain);

/* Number of hops after the root (0 for a bare root), or -1 if invalid. */
int xb_chain_hops(const char *chain);

/* The "system.<organism>.c-<token>" prefix of a chain (new string). */
char *xb_chain_conversation_root(const char *chain, xb_error_t *err);

/* True when chain is root itself or root followed by hops (root must be a
 * bare root; both must be valid). */
bool xb_chain_in_conversation(const char *chain, const char *root);

/* True for a valid root with zero or more valid hops. */
bool xb_chain_is_valid(const char *chain);

#ifdef __cplusplus
}
#endif
#endif
