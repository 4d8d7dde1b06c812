/* A real redis-server for tests: started on a free loopback port in its own
 * temporary directory, without persistence, stopped and restarted on demand.
 *
 *     xb_error_t err;
 *     xb_redis_server_t *srv = xb_redis_server_start(NULL, &err);
 *     CU_ASSERT_PTR_NOT_NULL_FATAL(srv);      // err.message says why not
 *     ... xb_redis_server_url(srv) -> "redis://127.0.0.1:PORT" ...
 *     xb_redis_server_destroy(&srv);
 *
 * A missing redis-server binary is an error ("redis-server not found: run
 * scripts/install-deps.sh"), never a skip. The binary is looked up as
 * $XB_REDIS_SERVER, then in PATH, then /usr/bin and /usr/sbin. */
#ifndef XB_TEST_REDIS_SERVER_H
#define XB_TEST_REDIS_SERVER_H

#include <stdbool.h>

#include "xmlbus/error.h"

typedef struct xb_redis_server xb_redis_server_t;

typedef struct {
    const char *password; /* requirepass; NULL or "" for none */
    bool unix_socket;     /* also listen on DIR/redis.sock */
    bool durable;         /* append-only file, fsync on every write: a SIGKILL
                             and a restart keep every acknowledged write */
} xb_redis_server_opts_t;

/* Starts redis-server (opts may be NULL) and waits up to 10 s until it
 * answers PING. Returns the server, owned by the caller (release it with
 * xb_redis_server_destroy), or NULL with *err set. */
xb_redis_server_t *xb_redis_server_start(const xb_redis_server_opts_t *opts, xb_error_t *err);

/* Stops the server: SIGTERM, then SIGKILL after 10 s. Keeps its port and
 * directory for xb_redis_server_restart. Returns 0, or -1 if not running. */
int xb_redis_server_stop(xb_redis_server_t *srv);

/* Kills the server at once with SIGKILL (a crash) and reaps it. */
int xb_redis_server_kill(xb_redis_server_t *srv);

/* Starts the stopped server again on the same port (and socket), empty,
 * and waits until it answers PING. Returns 0 or -1 with *err set. */
int xb_redis_server_restart(xb_redis_server_t *srv, xb_error_t *err);

/* Stops the server if it runs, removes its directory, frees it and sets
 * *srv to NULL. NULL and *srv == NULL are allowed. */
void xb_redis_server_destroy(xb_redis_server_t **srv);

/* One server for the whole test program, for tests that neither stop nor
 * restart it: started at the first call, destroyed at exit. Returns it (the
 * program owns it: never destroy it), or NULL with *err set when it could not
 * start; a failed start is not tried again and is printed once to stderr. */
xb_redis_server_t *xb_redis_server_shared(xb_error_t *err);

bool xb_redis_server_running(const xb_redis_server_t *srv);
int xb_redis_server_port(const xb_redis_server_t *srv);
/* "redis://127.0.0.1:PORT" (no password, no db). */
const char *xb_redis_server_url(const xb_redis_server_t *srv);
/* DIR/redis.sock when started with unix_socket, else "". */
const char *xb_redis_server_socket(const xb_redis_server_t *srv);
/* The server's temporary directory. */
const char *xb_redis_server_dir(const xb_redis_server_t *srv);

#endif
