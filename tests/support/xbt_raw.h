/* A listener played by the test itself: a DEALER that speaks XB1 by hand to
 * a real pump, for what a well-behaved listener library never sends.
 *
 *     xbt_raw_t r;
 *     CU_ASSERT_FATAL(xbt_raw_open(&r, pump.endpoint, "forger", "1"));
 *     char *id = xbt_raw_deliver(&r, 10000, NULL);
 *     xbt_raw_send(&r, XB_CMD_DONE, id, (char *)NULL);
 *     xbt_raw_close(&r);
 */
#ifndef XBT_RAW_H
#define XBT_RAW_H

#include <stdbool.h>

#include "wire.h"

typedef struct {
    void *ctx;
    void *sock;
} xbt_raw_t;

/* Connects a DEALER (its own ZeroMQ context) to endpoint; true on success. */
bool xbt_raw_connect(xbt_raw_t *r, const char *endpoint);

/* Connects and registers as listener name with credit; true once WELCOMEd. */
bool xbt_raw_open(xbt_raw_t *r, const char *endpoint, const char *name, const char *credit);

/* Sends cmd followed by the given text frames (NULL-terminated); a failed
 * send fails the test. */
void xbt_raw_send(xbt_raw_t *r, const char *cmd, ...);

/* The next message other than HEARTBEAT within ms (caller frees), or NULL. */
xb_frames_t *xbt_raw_recv(xbt_raw_t *r, int ms);

/* The delivery id of the next DELIVER within ms (caller frees), NULL if none
 * came; *envelope (may be NULL) receives its envelope (caller frees). */
char *xbt_raw_deliver(xbt_raw_t *r, int ms, char **envelope);

/* Says BYE (waiting up to 1 s for it to leave) and closes the socket and
 * its context. */
void xbt_raw_close(xbt_raw_t *r);

#endif
