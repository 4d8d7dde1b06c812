/* A listener played by the test (see xbt_raw.h). */
#include "xbt_raw.h"

#include <CUnit/CUnit.h>
#include <stdarg.h>
#include <zmq.h>

#include "xbt_wait.h"

/* A deadline, not a socket timeout, because the pump's heartbeats would
 * reset that forever. */
xb_frames_t *xbt_raw_recv(xbt_raw_t *r, int ms)
{
    long long end = xbt_mono_ms() + ms;
    for (long long left = ms; left >= 0; left = end - xbt_mono_ms()) {
        zmq_pollitem_t item = {r->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long)left + 1) <= 0)
            continue;
        xb_frames_t *f = xb_frames_recv(r->sock, ZMQ_DONTWAIT);
        if (f && !xb_frames_eq(f, 1, XB_CMD_HEARTBEAT))
            return f;
        xb_frames_destroy(&f);
    }
    return NULL;
}

void xbt_raw_send(xbt_raw_t *r, const char *cmd, ...)
{
    xb_frames_t *f = xb_frames_new_cmd(cmd);
    va_list ap;
    va_start(ap, cmd);
    for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
        xb_frames_add_str(f, a);
    va_end(ap);
    CU_ASSERT_EQUAL(xb_frames_send(f, r->sock, 0), 0);
    xb_frames_destroy(&f);
}

bool xbt_raw_connect(xbt_raw_t *r, const char *endpoint)
{
    r->ctx = zmq_ctx_new();
    r->sock = zmq_socket(r->ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof linger);
    return zmq_connect(r->sock, endpoint) == 0;
}

bool xbt_raw_open(xbt_raw_t *r, const char *endpoint, const char *name, const char *credit)
{
    if (!xbt_raw_connect(r, endpoint))
        return false;
    xbt_raw_send(r, XB_CMD_READY, name, "listener", "0", credit, (char *)NULL);
    xb_frames_t *f = xbt_raw_recv(r, 10000);
    bool ok = f && xb_frames_eq(f, 1, XB_CMD_WELCOME);
    xb_frames_destroy(&f);
    return ok;
}

void xbt_raw_close(xbt_raw_t *r)
{
    xbt_raw_send(r, XB_CMD_BYE, (char *)NULL);
    /* BYE must reach the pump: a listener that is not a pool takes one
     * process at a time, and the next test may register under its name. */
    int linger = 1000;
    zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(r->sock);
    zmq_ctx_term(r->ctx);
}

char *xbt_raw_deliver(xbt_raw_t *r, int ms, char **envelope)
{
    xb_frames_t *f = xbt_raw_recv(r, ms);
    char *id = f && xb_frames_eq(f, 1, XB_CMD_DELIVER) ? xb_frames_strdup(f, 2) : NULL;
    if (envelope)
        *envelope = id ? xb_frames_strdup(f, 3) : NULL;
    xb_frames_destroy(&f);
    return id;
}
