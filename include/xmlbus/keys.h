/* CURVE keys (docs/security.md, "Key files"): a ZeroMQ CurveZMQ keypair as
 * Z85 text, the two files it is kept in, and the socket options that make a
 * connection use it.
 *
 *   NAME.key         public-key = Z85       mode 0644, may be handed out
 *   NAME.key_secret  public-key = Z85       mode 0600, never wider: a loaded
 *                    secret-key = Z85       secret file that group or others
 *                                           may read is refused
 *
 * Only paths ever travel (command lines, environment variables
 * XMLBUS_KEY / XMLBUS_SERVER_KEY); a key's text stays in its file. */
#ifndef XMLBUS_KEYS_H
#define XMLBUS_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/error.h"
#include "xmlbus/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_KEY_Z85_LEN 40                  /* a 32-byte key as Z85 text */
#define XB_KEY_TEXT (XB_KEY_Z85_LEN + 1)   /* and its NUL */
#define XB_KEY_PUBLIC_SUFFIX ".key"        /* NAME.key */
#define XB_KEY_SECRET_SUFFIX ".key_secret" /* NAME.key_secret */
/* The environment variables that give a connecting side (client, listener
 * process) its CURVE keys, as paths of key files: never a key itself. */
#define XB_KEY_ENV "XMLBUS_KEY"               /* this side's NAME.key_secret */
#define XB_SERVER_KEY_ENV "XMLBUS_SERVER_KEY" /* the pump's NAME.key */
/* How long a connection may take for its CURVE handshake (ZMQ_HANDSHAKE_IVL). */
#define XB_KEY_HANDSHAKE_MS 5000

/* A public key and, when known, its secret key. A plain value: the caller
 * owns it (usually on the stack) and wipes it with xb_key_wipe once a secret
 * key is no longer needed. */
typedef struct {
    char public_key[XB_KEY_TEXT]; /* Z85, always set in a loaded key */
    char secret_key[XB_KEY_TEXT]; /* Z85, "" when only the public key is known */
} xb_key_t;

/* A fresh keypair (zmq_curve_keypair). Returns 0, or -1 with *err set
 * (XB_ERR_IO: libzmq was built without CURVE). */
XB_EXPORT int xb_key_generate(xb_key_t *key, xb_error_t *err);

/* Fills *key from Z85 texts: public_z85 required, secret_z85 NULL or "" for
 * a public key only. Each must be 40 characters that decode to 32 bytes, and
 * a secret key must belong to the public key. Returns 0, or -1 with *err set
 * (XB_ERR_ARG). */
XB_EXPORT int xb_key_set(xb_key_t *key, const char *public_z85, const char *secret_z85,
                         xb_error_t *err);

/* Whether key holds a secret key. */
XB_EXPORT bool xb_key_has_secret(const xb_key_t *key);

/* Overwrites the key (its secret above all) with zeros. NULL is fine. */
XB_EXPORT void xb_key_wipe(xb_key_t *key);

/* The two paths of key NAME in dir (NULL or "": the current folder):
 * dir/NAME.key and dir/NAME.key_secret, written into public_path and
 * secret_path (cap bytes each; either may be NULL). NAME is letters, digits,
 * '.', '_' and '-', not starting with '.'. Returns 0, or -1 with *err set
 * (XB_ERR_ARG: a bad name, a path longer than cap). */
XB_EXPORT int xb_key_paths(const char *dir, const char *name, char *public_path, char *secret_path,
                           size_t cap, xb_error_t *err);

/* Writes key (which must hold a secret key) as NAME.key (mode 0644) and
 * NAME.key_secret (created with mode 0600) in dir (NULL or "": the current
 * folder); their paths go to public_path and secret_path (cap bytes each,
 * either may be NULL). Never overwrites: when either file exists nothing is
 * written. Returns 0, or -1 with *err set (XB_ERR_ARG: a bad name, no
 * secret key, a file exists; XB_ERR_IO). */
XB_EXPORT int xb_key_save(const xb_key_t *key, const char *dir, const char *name, char *public_path,
                          char *secret_path, size_t cap, xb_error_t *err);

/* Reads a key file: a public one (public-key only) or a secret one
 * (public-key and secret-key), as its content says. A secret file that
 * group or others may access is refused (the message names the file and
 * says `chmod 600 FILE`). Returns 0 with *key filled, or -1 with *err set:
 * XB_ERR_PARSE for a malformed file ("FILE:LINE: ..." and err->line),
 * XB_ERR_ARG for a secret file open to others, XB_ERR_IO when it cannot be
 * read, XB_ERR_NOTFOUND when it does not exist. */
XB_EXPORT int xb_key_load(const char *path, xb_key_t *key, xb_error_t *err);

/* Which key files a connecting side uses: a NULL *key_path is taken from
 * XMLBUS_KEY, a NULL *server_key_path from XMLBUS_SERVER_KEY (an empty one
 * counts as unset). Returns 1 when both are given (CURVE), 0 when neither is
 * (both set to NULL), -1 with *err set (XB_ERR_ARG) when only one is. */
XB_EXPORT int xb_key_paths_from_env(const char **key_path, const char **server_key_path,
                                    xb_error_t *err);

/* The two keys a CURVE client needs: its own keypair from the secret key
 * file key_path, and the server's public key from server_key_path (a public
 * file, or a secret one of which only the public key is kept). Returns 0
 * with *own and *server filled (wipe *own after use), or -1 with *err set
 * as xb_key_load, and XB_ERR_ARG when key_path is a public file. */
XB_EXPORT int xb_key_load_client(const char *key_path, const char *server_key_path, xb_key_t *own,
                                 xb_key_t *server, xb_error_t *err);

/* Makes socket sock (a DEALER, REQ, ... about to connect: call it before
 * zmq_connect) a CURVE client: own is this side's keypair (it must hold the
 * secret key), server the server's public key. Also sets ZMQ_HANDSHAKE_IVL
 * to handshake_ms (<= 0: XB_KEY_HANDSHAKE_MS). Returns 0, or -1 with *err
 * set (XB_ERR_ARG: no secret key; XB_ERR_IO: libzmq refused an option). */
XB_EXPORT int xb_key_apply_client(void *sock, const xb_key_t *own, const xb_key_t *server,
                                  int handshake_ms, xb_error_t *err);

/* Makes socket sock (a ROUTER about to bind) a CURVE server with the
 * keypair own (it must hold the secret key); ZMQ_HANDSHAKE_IVL as above.
 * Who may connect is the ZAP handler's decision (inproc://zeromq.zap.01).
 * Returns 0, or -1 with *err set as xb_key_apply_client. */
XB_EXPORT int xb_key_apply_server(void *sock, const xb_key_t *own, int handshake_ms,
                                  xb_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
