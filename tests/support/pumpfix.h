/* An in-process pump for the pump's unit tests, driven one loop turn at a
 * time (xb_pump_step) on a clock the test moves: no thread, no process, no
 * sleep. The test plays listeners and clients with DEALER sockets on the
 * pump's inproc:// endpoint and its ZeroMQ context, speaking XB1.
 *
 *     pumpfix_t f;
 *     pumpfix_open(&f, "listeners:\n  - name: echo\n    payload: ping\n");
 *     void *echo = pumpfix_listener(&f, "echo", 1, false, false);
 *     void *client = pumpfix_dealer(&f);
 *     pumpfix_send(client, "SEND", "r1", "<ping/>", "", "", NULL);
 *     xb_frames_t *m = pumpfix_expect(&f, echo, "DELIVER");
 *     ...
 *     pumpfix_close(&f);
 *
 * Received messages are DEALER-side: frame 0 is XB1, frame 1 the command. */
#ifndef XBT_PUMPFIX_H
#define XBT_PUMPFIX_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"
#include "xmlbus/pump.h"

/* Steps a wait for one message may take (each polls at most
 * PUMPFIX_POLL_MS): a bound, not a time. */
#define PUMPFIX_MAX_STEPS 200
#define PUMPFIX_POLL_MS 5
#define PUMPFIX_MAX_SOCKETS 16

typedef struct {
    void *ctx;
    xb_pump_t *pump;
    uint64_t now; /* the pump's clock, in ms: the test moves it */
    char endpoint[64];
    void *sockets[PUMPFIX_MAX_SOCKETS]; /* closed by pumpfix_close */
    int n_sockets;
} pumpfix_t;

/* A pump for "organism:\n  name: t\n  endpoint: inproc://...\n" followed by
 * yaml_tail (limits, process_pool, listeners...), memory backend, no
 * children, after its first step. Returns 0 or -1 (message on stderr). */
int pumpfix_open(pumpfix_t *f, const char *yaml_tail);
/* Destroys the pump, closes the sockets and the context. */
void pumpfix_close(pumpfix_t *f);

/* Runs one loop turn (no wait). Returns what xb_pump_step returned. */
int pumpfix_step(pumpfix_t *f);
/* Moves the pump's clock by ms in steps of at most step_ms, with one turn
 * after each (a heartbeat-sized step keeps the pump from taking the jump
 * for its own pause). Each listener socket in beat[] (NULL-terminated, may
 * be NULL) sends HEARTBEAT before each turn. */
void pumpfix_advance(pumpfix_t *f, uint64_t ms, uint64_t step_ms, void *const *beat);

/* A DEALER connected to the pump (a client). NULL on failure. */
void *pumpfix_dealer(pumpfix_t *f);
/* The same with the routing id id (a client that keeps its identity). */
void *pumpfix_dealer_id(pumpfix_t *f, const char *id);
/* A DEALER registered as listener name (kind worker when worker), with
 * credit, `beats` in READY when beats. Waits for WELCOME. NULL on failure. */
void *pumpfix_listener(pumpfix_t *f, const char *name, int credit, bool worker, bool beats);

/* Closes sock (one of f's) at once, as a peer that vanished. */
void pumpfix_hangup(pumpfix_t *f, void *sock);

/* Sends XB1 cmd then each string of the NULL-terminated list as a frame.
 * Returns 0 or -1. */
int pumpfix_send(void *sock, const char *cmd, ...) __attribute__((sentinel));

/* Steps the pump until a message other than HEARTBEAT arrives on sock and
 * returns it (caller destroys), or NULL after PUMPFIX_MAX_STEPS turns. */
xb_frames_t *pumpfix_recv(pumpfix_t *f, void *sock);
/* Like pumpfix_recv, and the message's command must be cmd: NULL (and a
 * note on stderr) when it is not. */
xb_frames_t *pumpfix_expect(pumpfix_t *f, void *sock, const char *cmd);
/* A message other than HEARTBEAT on sock if one is there or arrives within
 * n turns; NULL (quietly) when none. */
xb_frames_t *pumpfix_try(pumpfix_t *f, void *sock, int n);
/* True when nothing but HEARTBEATs arrives on sock within n turns. */
bool pumpfix_quiet(pumpfix_t *f, void *sock, int n);

/* Frame i of m as a string (at most cap-1 bytes); "" when absent. */
const char *pumpfix_str(const xb_frames_t *m, size_t i, char *buf, size_t cap);
/* The SystemError code inside an envelope frame ("" when it is none). */
const char *pumpfix_error_code(const xb_frames_t *m, size_t i, char *buf, size_t cap);

#endif
