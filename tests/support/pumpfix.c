/* The in-process pump fixture (pumpfix.h). */
#include "pumpfix.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "xmlbus/config.h"

static uint64_t fix_clock(void *user)
{
    return *(const uint64_t *)user;
}

int pumpfix_open(pumpfix_t *f, const char *yaml_tail)
{
    static unsigned serial; /* distinct endpoints within one test program */
    memset(f, 0, sizeof *f);
    f->now = 1000000; /* far from 0: "never" and "long ago" differ */
    snprintf(f->endpoint, sizeof f->endpoint, "inproc://pumpfix-%u", ++serial);
    size_t cap = strlen(yaml_tail) + 256;
    char *yaml = malloc(cap);
    if (!yaml)
        return -1;
    snprintf(yaml, cap, "organism:\n  name: t\n  endpoint: %s\n%s", f->endpoint, yaml_tail);
    xb_error_t err;
    xb_config_t *cfg = xb_config_load_string(yaml, strlen(yaml), "pumpfix.yaml", ".", &err);
    free(yaml);
    if (!cfg) {
        fprintf(stderr, "pumpfix: %s\n", err.message);
        return -1;
    }
    f->ctx = zmq_ctx_new();
    xb_pump_options_t opts;
    xb_pump_options_defaults(&opts);
    opts.start_children = false;
    opts.zmq_ctx = f->ctx;
    opts.clock = fix_clock;
    opts.clock_user = &f->now;
    f->pump = f->ctx ? xb_pump_new(cfg, &opts, &err) : NULL;
    if (!f->pump) {
        fprintf(stderr, "pumpfix: %s\n", err.message);
        pumpfix_close(f);
        return -1;
    }
    return pumpfix_step(f) == 1 ? 0 : -1;
}

void pumpfix_close(pumpfix_t *f)
{
    xb_pump_destroy(&f->pump); /* first: what it still sends finds its sockets */
    for (int i = 0; i < f->n_sockets; i++)
        zmq_close(f->sockets[i]);
    f->n_sockets = 0;
    if (f->ctx)
        zmq_ctx_term(f->ctx);
    f->ctx = NULL;
}

int pumpfix_step(pumpfix_t *f)
{
    return xb_pump_step(f->pump, 0);
}

void pumpfix_advance(pumpfix_t *f, uint64_t ms, uint64_t step_ms, void *const *beat)
{
    while (ms > 0) {
        uint64_t d = ms < step_ms ? ms : step_ms;
        f->now += d;
        ms -= d;
        for (int i = 0; beat && beat[i]; i++)
            pumpfix_send(beat[i], XB_CMD_HEARTBEAT, NULL);
        xb_pump_step(f->pump, PUMPFIX_POLL_MS);
    }
}

void *pumpfix_dealer(pumpfix_t *f)
{
    return pumpfix_dealer_id(f, NULL);
}

void *pumpfix_dealer_id(pumpfix_t *f, const char *id)
{
    if (f->n_sockets == PUMPFIX_MAX_SOCKETS)
        return NULL;
    void *s = zmq_socket(f->ctx, ZMQ_DEALER);
    int linger = 0;
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        (id && zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id)) != 0) ||
        zmq_connect(s, f->endpoint) != 0) {
        if (s)
            zmq_close(s);
        return NULL;
    }
    f->sockets[f->n_sockets++] = s;
    return s;
}

void *pumpfix_listener(pumpfix_t *f, const char *name, int credit, bool worker, bool beats)
{
    void *s = pumpfix_dealer(f);
    char c[16];
    snprintf(c, sizeof c, "%d", credit);
    const char *kind = worker ? "worker" : "listener";
    int rc = beats ? pumpfix_send(s, XB_CMD_READY, name, kind, "0", c, "beats", NULL)
                   : pumpfix_send(s, XB_CMD_READY, name, kind, "0", c, NULL);
    if (!s || rc != 0)
        return NULL;
    xb_frames_t *m = pumpfix_expect(f, s, XB_CMD_WELCOME);
    bool ok = m != NULL;
    xb_frames_destroy(&m);
    return ok ? s : NULL;
}

void pumpfix_hangup(pumpfix_t *f, void *sock)
{
    for (int i = 0; i < f->n_sockets; i++) {
        if (f->sockets[i] == sock) {
            zmq_close(sock);
            f->sockets[i] = f->sockets[--f->n_sockets];
            return;
        }
    }
}

int pumpfix_send(void *sock, const char *cmd, ...)
{
    if (!sock)
        return -1;
    xb_frames_t *m = xb_frames_new_cmd(cmd);
    va_list ap;
    va_start(ap, cmd);
    for (const char *s = va_arg(ap, const char *); m && s; s = va_arg(ap, const char *))
        if (xb_frames_add_str(m, s) != 0)
            xb_frames_destroy(&m);
    va_end(ap);
    int rc = m ? xb_frames_send(m, sock, 0) : -1;
    xb_frames_destroy(&m);
    return rc;
}

/* The next message on sock that is not a HEARTBEAT, without waiting. */
static xb_frames_t *take(void *sock)
{
    xb_frames_t *m;
    while ((m = xb_frames_recv(sock, ZMQ_DONTWAIT))) {
        if (!xb_frames_eq(m, 1, XB_CMD_HEARTBEAT))
            return m;
        xb_frames_destroy(&m);
    }
    return NULL;
}

xb_frames_t *pumpfix_recv(pumpfix_t *f, void *sock)
{
    for (int i = 0; sock && i < PUMPFIX_MAX_STEPS; i++) {
        xb_frames_t *m = take(sock);
        if (m)
            return m;
        xb_pump_step(f->pump, PUMPFIX_POLL_MS);
    }
    return sock ? take(sock) : NULL;
}

xb_frames_t *pumpfix_expect(pumpfix_t *f, void *sock, const char *cmd)
{
    xb_frames_t *m = pumpfix_recv(f, sock);
    if (!m) {
        fprintf(stderr, "pumpfix: no %s arrived\n", cmd);
        return NULL;
    }
    if (!xb_frames_eq(m, 1, cmd)) {
        char *d = xb_frames_describe(m);
        fprintf(stderr, "pumpfix: expected %s, got %s\n", cmd, d ? d : "?");
        free(d);
        xb_frames_destroy(&m);
    }
    return m;
}

xb_frames_t *pumpfix_try(pumpfix_t *f, void *sock, int n)
{
    for (int i = 0; i <= n; i++) {
        xb_frames_t *m = take(sock);
        if (m || i == n)
            return m;
        xb_pump_step(f->pump, 0);
    }
    return NULL;
}

bool pumpfix_quiet(pumpfix_t *f, void *sock, int n)
{
    for (int i = 0; i < n; i++) {
        xb_pump_step(f->pump, 0);
        xb_frames_t *m = take(sock);
        if (m) {
            char *d = xb_frames_describe(m);
            fprintf(stderr, "pumpfix: unexpected %s\n", d ? d : "?");
            free(d);
            xb_frames_destroy(&m);
            return false;
        }
    }
    return true;
}

const char *pumpfix_str(const xb_frames_t *m, size_t i, char *buf, size_t cap)
{
    if (!m || xb_frames_copy(m, i, buf, cap) < 0)
        buf[0] = '\0';
    return buf;
}

const char *pumpfix_error_code(const xb_frames_t *m, size_t i, char *buf, size_t cap)
{
    buf[0] = '\0';
    char *xml = m ? xb_frames_strdup(m, i) : NULL;
    const char *se = xml ? strstr(xml, "SystemError") : NULL;
    const char *open = se ? strstr(se, "<code>") : NULL;
    const char *close = open ? strstr(open, "</code>") : NULL;
    if (close && (size_t)(close - open - 6) < cap) {
        memcpy(buf, open + 6, (size_t)(close - open - 6));
        buf[close - open - 6] = '\0';
    }
    free(xml);
    return buf;
}
