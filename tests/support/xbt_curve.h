/* A real CURVE server for tests of the connecting side (client, listener):
 * a ROUTER in CURVE server mode (ZMQ_CURVE_SERVER) with a keypair read from
 * a key file, and a ZAP handler (RFC 27, bound to inproc://zeromq.zap.01 in
 * the server's own context) that lets in one client key and refuses every
 * other with status 400. It answers CONTROL with RESULT ok <pong/> and
 * counts the READYs it gets; one thread of the test runs both sockets. */
#ifndef XBT_CURVE_H
#define XBT_CURVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "xmlbus/keys.h"

typedef struct {
    void *ctx, *router, *zap;
    char endpoint[256];        /* where it listens: tcp://127.0.0.1:PORT */
    char allowed[XB_KEY_TEXT]; /* the one client key the ZAP handler lets in */
    atomic_bool stop;
    atomic_int zap_requests, zap_refusals, readys;
    pthread_t thread;
} xbt_curve_server_t;

/* Starts s with the secret key file server_sec, letting in the key of the
 * file allowed_pub. Returns 0, or -1 (a message printed). */
int xbt_curve_server_start(xbt_curve_server_t *s, const char *server_sec, const char *allowed_pub);

/* Stops the thread, closes the sockets and the context. */
void xbt_curve_server_stop(xbt_curve_server_t *s);

/* Generates a keypair and saves it as dir/name.key and dir/name.key_secret;
 * the paths go to pub and sec (512 bytes each). Returns 0 or -1. */
int xbt_curve_save_key(const char *dir, const char *name, char *pub, char *sec);

#endif
