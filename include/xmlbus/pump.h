/* The stream pump (docs/routing.md, docs/architecture.md): receives, validates, records,
 * routes and dispatches messages; supervises listener processes and worker
 * pools; answers control requests. `xmlbus run` is a thin wrapper; programs
 * may embed a pump and run listeners as threads over inproc://. */
#ifndef XMLBUS_PUMP_H
#define XMLBUS_PUMP_H

#include <stdbool.h>
#include <stdint.h>

#include "xmlbus/config.h"
#include "xmlbus/error.h"
#include "xmlbus/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xb_pump_t xb_pump_t;

/* The pump's clock: milliseconds that never go backwards (the origin does
 * not matter). Every timer of the pump (heartbeats, liveness, timeouts,
 * restarts, the shutdown deadline) reads it, once per loop turn. */
typedef uint64_t (*xb_pump_clock_fn)(void *user);

typedef struct {
    void *zmq_ctx;          /* NULL: the pump creates its own ZeroMQ context */
    const char *bin_dir;    /* folder searched first for listener commands
                               (NULL: the folder of the running executable) */
    bool start_children;    /* start the `command` of each listener (default true) */
    bool handle_signals;    /* xb_pump_run stops on SIGINT/SIGTERM (default false) */
    xb_pump_clock_fn clock; /* NULL: CLOCK_MONOTONIC in ms. A test injects its own */
    void *clock_user;       /* passed to clock */
} xb_pump_options_t;

XB_EXPORT void xb_pump_options_defaults(xb_pump_options_t *opts);

/* Creates a pump for cfg: binds the endpoint, compiles the schemas, opens the
 * backend. Takes ownership of cfg (also on failure). Returns NULL with *err
 * set on failure. Release with xb_pump_destroy. */
XB_EXPORT xb_pump_t *xb_pump_new(xb_config_t *cfg, const xb_pump_options_t *opts, xb_error_t *err);

/* Runs the pump in the calling thread until xb_pump_stop (or a signal when
 * handle_signals). Returns 0 after a clean shutdown. */
XB_EXPORT int xb_pump_run(xb_pump_t *pump, xb_error_t *err);

/* Runs exactly one turn of the pump's loop in the calling thread: waits up
 * to timeout_ms (0: not at all) for incoming messages, handles what arrived,
 * commits the turn (one backend batch), delivers and answers, then runs the
 * timers that are due by the pump's clock. The first call starts serving
 * (and the children, with start_children). Returns 1 while the pump serves,
 * 0 once it has stopped (after xb_pump_stop and its drain), -1 on a poll
 * failure (the pump is then stopped). Lets a program or a test drive the
 * pump without a thread; never mix with xb_pump_run or xb_pump_start.
 * xb_pump_run is this in a loop. */
XB_EXPORT int xb_pump_step(xb_pump_t *pump, int timeout_ms);

/* Runs the pump in a background thread; returns once it serves. */
XB_EXPORT int xb_pump_start(xb_pump_t *pump, xb_error_t *err);

/* Asks the pump to shut down (stop accepting, finish or fail in-flight work
 * within limits.shutdown_seconds, stop children). Safe from any thread and
 * from a signal handler. */
XB_EXPORT void xb_pump_stop(xb_pump_t *pump);

/* Waits for a pump started with xb_pump_start to finish. Returns its result. */
XB_EXPORT int xb_pump_join(xb_pump_t *pump);

/* Stops (if running), joins, frees *pump and sets it to NULL. */
XB_EXPORT void xb_pump_destroy(xb_pump_t **pump);

/* The ZeroMQ context (for inproc:// listeners and clients in the same program)
 * and the bound endpoint (the real one when the config asked for port 0 or
 * tcp://127.0.0.1:*). Borrowed; valid until destroy. */
XB_EXPORT void *xb_pump_zmq_context(xb_pump_t *pump);
XB_EXPORT const char *xb_pump_endpoint(const xb_pump_t *pump);
XB_EXPORT const xb_config_t *xb_pump_config(const xb_pump_t *pump);

#ifdef __cplusplus
}
#endif
#endif
