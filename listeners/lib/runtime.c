/* The listener runtime's connection to the pump: READY/WELCOME, the poll
 * loop with heartbeats and liveness, DELIVER -> handler -> REPLY/DONE/FAILED,
 * reconnection, SHUTDOWN/stop -> BYE (docs/protocol.md, docs/listeners.md).
 *
 * One thread drives one listener and owns its socket and parser. The only
 * cross-thread entry points are xb_listener_stop (an atomic flag plus an
 * eventfd that wakes the poll) and xb_listener_registered. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "runtime_internal.h"
#include "log.h"
#include "xmlbus/uuid.h"
#include "xmlbus/xmlsafe.h"

/* What the pump already checked does not need a second, tighter limit here:
 * the runtime's parser only guards against a broken pump. */
#define RT_MAX_BYTES (1u << 30)
#define RT_MAX_COUNT (1 << 16)
#define RECV_BATCH 64 /* messages handled per poll */

typedef enum { LOOP_EXIT, LOOP_RECONNECT, LOOP_FAIL, LOOP_CONTINUE } loop_t;

uint64_t xb_rt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- life cycle ----------------------------------------------------------- */

xb_listener_t *xb_listener_new(const char *endpoint, const char *name, void *zmq_ctx,
                               xb_handler_fn fn, void *user, xb_error_t *err)
{
    if (!endpoint || !endpoint[0]) {
        xb_error_set(err, XB_ERR_ARG, 0, "listener: no endpoint to connect to");
        return NULL;
    }
    if (!name || !xb_config_valid_name(name)) {
        xb_error_set(err, XB_ERR_ARG, 0, "listener: '%.80s' is not a listener name",
                     name ? name : "");
        return NULL;
    }
    if (!fn) {
        xb_error_set(err, XB_ERR_ARG, 0, "listener %s: no handler function", name);
        return NULL;
    }
    xb_listener_t *l = calloc(1, sizeof *l);
    if (!l || !(l->endpoint = strdup(endpoint))) {
        free(l);
        xb_error_set(err, XB_ERR_NOMEM, 0, "listener %s: out of memory", name);
        return NULL;
    }
    snprintf(l->name, sizeof l->name, "%s", name);
    snprintf(l->kind, sizeof l->kind, "listener");
    snprintf(l->log_comp, sizeof l->log_comp, "listener %s", name);
    l->fn = fn;
    l->user = user;
    l->signal_fd = -1;
    l->heartbeat_ms = XB_RT_DEFAULT_HEARTBEAT_MS;
    /* A token of its own until xb_rt_set_token gives it the pump's: the
     * same token in every READY proves a reconnect is this listener. */
    xb_uuid_new_random(l->token);
    atomic_init(&l->stop, false);
    atomic_init(&l->registered, false);
    xb_backend_config_defaults(&l->backend_cfg);
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->ctx = zmq_ctx ? zmq_ctx : zmq_ctx_new();
    l->own_ctx = !zmq_ctx;
    if (l->wake_fd < 0 || !l->ctx) {
        xb_error_set(err, XB_ERR_IO, 0, "listener %s: cannot create %s: %s", name,
                     l->wake_fd < 0 ? "an eventfd" : "a ZeroMQ context", strerror(errno));
        if (l->wake_fd >= 0)
            close(l->wake_fd);
        if (l->own_ctx && l->ctx)
            zmq_ctx_term(l->ctx);
        free(l->endpoint);
        free(l);
        return NULL;
    }
    /* A listener of its own (a process, not a thread on the pump's context)
     * takes its keys from the environment. */
    if (l->own_ctx && xb_listener_set_keys(l, NULL, NULL, err) != 0) {
        xb_listener_destroy(&l);
        return NULL;
    }
    return l;
}

int xb_listener_set_keys(xb_listener_t *l, const char *key_path, const char *server_key_path,
                         xb_error_t *err)
{
    if (!l)
        return xb_error_set(err, XB_ERR_ARG, 0, "listener: NULL");
    int curve = xb_key_paths_from_env(&key_path, &server_key_path, err);
    if (curve <= 0)
        return curve;
    xb_key_t key, server;
    if (xb_key_load_client(key_path, server_key_path, &key, &server, err) != 0)
        return -1;
    xb_key_wipe(&l->key);
    l->key = key;
    l->server_key = server;
    xb_key_wipe(&key);
    l->curve = true;
    return 0;
}

int xb_listener_set_kind(xb_listener_t *l, const char *kind, xb_error_t *err)
{
    if (!l || !kind || (strcmp(kind, "listener") != 0 && strcmp(kind, "worker") != 0))
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "listener kind must be 'listener' or 'worker', not '%.40s'",
                            kind ? kind : "");
    snprintf(l->kind, sizeof l->kind, "%s", kind);
    return 0;
}

int xb_listener_set_credit(xb_listener_t *l, int credit, xb_error_t *err)
{
    if (!l || credit < 1 || credit > 1000)
        return xb_error_set(err, XB_ERR_ARG, 0, "listener credit must be 1..1000, not %d", credit);
    l->credit = credit;
    return 0;
}

void xb_rt_set_signal_fd(xb_listener_t *l, int fd)
{
    l->signal_fd = fd;
}

void xb_rt_set_token(xb_listener_t *l, const char *token)
{
    if (token && token[0] && strlen(token) < sizeof l->token)
        snprintf(l->token, sizeof l->token, "%s", token);
}

bool xb_listener_registered(const xb_listener_t *l)
{
    return l && atomic_load(&((xb_listener_t *)l)->registered);
}

void xb_listener_stop(xb_listener_t *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    uint64_t one = 1;
    if (write(l->wake_fd, &one, sizeof one) < 0) {
        /* The counter is saturated: the loop is already woken. */
    }
}

static void *thread_main(void *arg)
{
    xb_listener_t *l = arg;
    l->result = xb_listener_run(l, &l->result_err);
    return NULL;
}

int xb_listener_start(xb_listener_t *l, xb_error_t *err)
{
    if (!l)
        return xb_error_set(err, XB_ERR_ARG, 0, "listener: NULL");
    if (l->ran || l->started)
        return xb_error_set(err, XB_ERR_ARG, 0, "listener %s: already started", l->name);
    l->in_thread = true;
    int rc = pthread_create(&l->thread, NULL, thread_main, l);
    if (rc != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "listener %s: cannot start a thread: %s", l->name,
                            strerror(rc));
    l->started = true;
    return 0;
}

int xb_listener_join(xb_listener_t *l, xb_error_t *err)
{
    if (!l || !l->started)
        return 0;
    if (!l->joined) {
        pthread_join(l->thread, NULL);
        l->joined = true;
    }
    if (err && l->result != 0)
        *err = l->result_err;
    return l->result;
}

static void free_pending(xb_listener_t *l)
{
    for (size_t i = 0; i < l->n_pending; i++)
        xb_frames_destroy(&l->pending[i]);
    free(l->pending);
    l->pending = NULL;
    l->n_pending = l->cap_pending = 0;
}

void xb_listener_destroy(xb_listener_t **lp)
{
    if (!lp || !*lp)
        return;
    xb_listener_t *l = *lp;
    if (l->started && !l->joined) {
        xb_listener_stop(l);
        xb_listener_join(l, NULL);
    }
    xb_handshake_destroy(&l->hs, l->sock);
    if (l->sock)
        zmq_close(l->sock);
    xb_key_wipe(&l->key);
    free_pending(l);
    xb_backend_destroy(&l->backend);
    xb_parser_destroy(&l->parser);
    close(l->wake_fd);
    if (l->own_ctx)
        zmq_ctx_term(l->ctx);
    free(l->endpoint);
    free(l);
    *lp = NULL;
}

/* ---- the socket ----------------------------------------------------------- */

int xb_rt_send(xb_listener_t *l, xb_frames_t *f)
{
    if (!f || !l->sock) {
        errno = EINVAL;
        return -1;
    }
    int rc = xb_frames_send(f, l->sock, 0);
    if (rc == 0)
        l->last_sent_ms = xb_rt_now_ms();
    return rc;
}

/* Sends f (from an encoder, NULL on no memory) and destroys it. */
static int send_own(xb_listener_t *l, xb_frames_t *f)
{
    int rc = f ? xb_rt_send(l, f) : (errno = ENOMEM, -1);
    xb_frames_destroy(&f);
    return rc;
}

/* The pump sent something the codec cannot read: ERROR, and nothing else. */
static void malformed(xb_listener_t *l, const xb_proto_error_t *e)
{
    XB_WARN(l->log_comp, "malformed message from the pump ignored: %s", e->message);
    xb_frames_t *f = xb_proto_error_reply(e);
    if (f)
        send_own(l, f);
}

/* A send never blocks for longer than the pump may stay silent. */
static void set_send_timeout(xb_listener_t *l)
{
    int tmo = (int)(l->heartbeat_ms * XB_RT_LIVENESS);
    zmq_setsockopt(l->sock, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
}

static void close_socket(xb_listener_t *l, int linger_ms)
{
    if (!l->sock)
        return;
    xb_handshake_destroy(&l->hs, l->sock);
    zmq_setsockopt(l->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
    zmq_close(l->sock);
    l->sock = NULL;
    atomic_store(&l->registered, false);
}

/* A fresh DEALER, connected, with READY sent (or queued until it connects). */
static int connect_pump(xb_listener_t *l, xb_error_t *err)
{
    l->sock = zmq_socket(l->ctx, ZMQ_DEALER);
    if (!l->sock)
        return xb_error_set(err, XB_ERR_IO, 0, "listener %s: cannot create a socket: %s", l->name,
                            zmq_strerror(errno));
    int linger = XB_RT_LINGER_MS;
    zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger);
    l->heartbeat_ms = XB_RT_DEFAULT_HEARTBEAT_MS;
    set_send_timeout(l);
    if ((l->curve && xb_key_apply_client(l->sock, &l->key, &l->server_key, 0, err) != 0) ||
        (strncmp(l->endpoint, "inproc://", 9) != 0 &&
         !(l->hs = xb_handshake_watch(l->ctx, l->sock, "listener", l->curve,
                                      XB_KEY_ENV " and " XB_SERVER_KEY_ENV, err)))) {
        close_socket(l, 0);
        return -1;
    }
    if (zmq_connect(l->sock, l->endpoint) != 0) {
        int e = errno;
        close_socket(l, 0);
        return xb_error_set(err, XB_ERR_ARG, 0, "listener %s: cannot connect to '%s': %s", l->name,
                            l->endpoint, zmq_strerror(e));
    }
    atomic_store(&l->registered, false);
    l->last_heard_ms = xb_rt_now_ms();
    l->shutdown_seen = false;
    int rc = send_own(l, xb_proto_ready(l->name, l->kind, l->in_thread ? 0L : (long)getpid(),
                                        l->credit > 0 ? l->credit : 1, false, l->token));
    if (rc != 0) {
        int e = errno;
        close_socket(l, 0);
        return xb_error_set(err, XB_ERR_IO, 0, "listener %s: cannot send READY to %s: %s", l->name,
                            l->endpoint, zmq_strerror(e));
    }
    XB_DEBUG(l->log_comp, "READY sent to %s as %s", l->endpoint, l->kind);
    return 0;
}

/* ---- pump -> listener ------------------------------------------------------ */

/* WELCOME organism heartbeat-ms backend-type backend-location backend-prefix */
static void on_welcome(xb_listener_t *l, const xb_proto_msg_t *m)
{
    xb_proto_cstr(m->welcome.organism, l->organism, sizeof l->organism);
    long hb = (long)m->welcome.heartbeat_ms.num;
    l->heartbeat_ms = hb > 0 ? hb : XB_RT_DEFAULT_HEARTBEAT_MS;
    set_send_timeout(l);

    xb_backend_config_t *b = &l->backend_cfg;
    xb_backend_config_defaults(b);
    char type[16] = "";
    xb_proto_cstr(m->welcome.backend_type, type, sizeof type);
    if (xb_backend_type_parse(type, &b->type) != 0) {
        XB_WARN(l->log_comp, "WELCOME names an unknown backend '%s': history goes through the pump",
                type);
        b->type = XB_BACKEND_MEMORY;
    }
    if (b->type == XB_BACKEND_MANAGER)
        xb_proto_cstr(m->welcome.backend_location, b->path, sizeof b->path);
    else if (b->type == XB_BACKEND_REDIS)
        xb_proto_cstr(m->welcome.backend_location, b->redis_url, sizeof b->redis_url);
    xb_proto_cstr(m->welcome.backend_prefix, b->redis_prefix, sizeof b->redis_prefix);
    /* A new registration may name another backend: reopen on demand. */
    xb_backend_destroy(&l->backend);
    atomic_store(&l->registered, true);
    XB_INFO(l->log_comp, "registered with organism %s at %s (heartbeat %ld ms, backend %s)",
            l->organism, l->endpoint, l->heartbeat_ms, xb_backend_type_name(b->type));
}

/* The answer to one delivery: FAILED, DONE or REPLY. NULL on no memory. */
static xb_frames_t *answer_frames(xb_listener_t *l, const char *id, int rc, xb_reply_t *reply)
{
    if (rc != 0 || reply->failed) {
        if (!reply->reason[0])
            snprintf(reply->reason, sizeof reply->reason,
                     "the handler of listener %s failed (returned %d)", l->name, rc);
        /* The protocol carries the reason as one line. */
        for (char *c = reply->reason; *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
        XB_INFO(l->log_comp, "delivery %s failed: %s", id, reply->reason);
        return xb_proto_failed(id, reply->reason);
    }
    if (reply->count == 0) {
        XB_DEBUG(l->log_comp, "delivery %s: DONE", id);
        return xb_proto_done(id);
    }
    XB_DEBUG(l->log_comp, "delivery %s: REPLY with %zu message(s)", id, reply->count);
    xb_frames_t *f = xb_proto_reply_begin(id, reply->count);
    for (size_t i = 0; f && i < reply->count; i++) {
        xb_reply_item_t *it = &reply->items[i];
        /* The payload bytes move into the frame without a copy. */
        char *xml = it->xml;
        it->xml = NULL;
        if (xb_proto_reply_add(f, it->target, xml, it->len) != 0)
            xb_frames_destroy(&f);
    }
    return f;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* DELIVER delivery-id envelope: runs the handler and answers. Returns 0, or
 * -1 when the answer could not be sent (the connection is then suspect). */
static int on_deliver(xb_listener_t *l, const xb_proto_msg_t *m)
{
    char id[XB_RT_DELIVERY_ID_MAX];
    xb_proto_cstr(m->deliver.id, id, sizeof id);
    const void *raw = m->deliver.envelope.ptr;
    size_t raw_len = m->deliver.envelope.len;
    xb_error_t perr;
    xb_envelope_t *env = xb_envelope_parse(l->parser, raw, raw_len, &perr);
    xb_frames_t *out = NULL;
    if (!env) {
        XB_WARN(l->log_comp, "delivery %s: cannot read the envelope: %s", id, perr.message);
        char why[XB_ERROR_MESSAGE_MAX + XB_NAME_MAX + 64];
        snprintf(why, sizeof why, "listener %s cannot read the envelope: %s", l->name,
                 perr.message);
        out = xb_proto_failed(id, why);
    } else {
        xb_msg_scratch_t scratch;
        xb_msg_t msg;
        xb_reply_t reply;
        xb_msg_init(&msg, l, env, raw, raw_len, &scratch);
        xb_reply_init(&reply, &msg);
        XB_DEBUG(l->log_comp, "delivery %s: <%s> from %s on thread %s, %zu memory entries", id,
                 xb_msg_payload_type(&msg), xb_msg_from(&msg), xb_msg_thread(&msg), m->n);
        if (xb_msg_memory_init(&msg, m) == 0)
            out = answer_frames(l, id, l->fn(&msg, &reply, l->user), &reply);
        xb_reply_cleanup(&reply);
        xb_msg_cleanup(&msg);
        xb_envelope_destroy(&env);
    }
    if (!out) {
        XB_ERROR(l->log_comp, "delivery %s: out of memory building the answer", id);
        out = xb_proto_failed(id, "listener out of memory");
    }
    if (out && l->batching && l->n_outbox < XB_RT_OUTBOX) {
        if (l->n_outbox == 0)
            l->held_since_us = now_us();
        l->outbox[l->n_outbox++] = out; /* sent by flush_outbox */
        return 0;
    }
    int rc = out ? xb_rt_send(l, out) : -1;
    if (rc != 0)
        XB_ERROR(l->log_comp, "delivery %s: cannot send the answer: %s", id, zmq_strerror(errno));
    xb_frames_destroy(&out);
    return rc;
}

/* Sends the answers held during a burst. Returns 0, or -1 when one could
 * not be sent (the connection is then suspect; the rest are dropped, and
 * the pump fails those deliveries when the connection ends). */
static int flush_outbox(xb_listener_t *l)
{
    int rc = 0;
    for (size_t i = 0; i < l->n_outbox; i++) {
        if (rc == 0 && xb_rt_send(l, l->outbox[i]) != 0) {
            XB_ERROR(l->log_comp, "cannot send an answer: %s", zmq_strerror(errno));
            rc = -1;
        }
        xb_frames_destroy(&l->outbox[i]);
    }
    l->n_outbox = 0;
    return rc;
}

/* One message from the pump. */
static loop_t dispatch(xb_listener_t *l, const xb_frames_t *f, xb_error_t *err)
{
    l->last_heard_ms = xb_rt_now_ms();
    xb_proto_msg_t m;
    xb_proto_error_t e;
    if (xb_proto_decode(f, 0, XB_PROTO_FROM_PUMP, &m, &e) != 0) {
        malformed(l, &e);
        return LOOP_CONTINUE;
    }
    switch (m.cmd) {
    case XB_PROTO_DELIVER:
        return on_deliver(l, &m) == 0 ? LOOP_CONTINUE : LOOP_RECONNECT;
    case XB_PROTO_WELCOME:
        on_welcome(l, &m);
        return LOOP_CONTINUE;
    case XB_PROTO_SHUTDOWN:
        XB_INFO(l->log_comp, "SHUTDOWN from the pump");
        return LOOP_EXIT;
    case XB_PROTO_REFUSED: {
        char reason[256];
        xb_proto_cstr(m.refused.reason, reason, sizeof reason);
        xb_error_set(err, XB_ERR_ROUTING, 0, "listener %s: the pump at %s refused it: %s", l->name,
                     l->endpoint, reason);
        return LOOP_FAIL;
    }
    case XB_PROTO_ERROR: {
        char why[256];
        xb_proto_cstr(m.error.message, why, sizeof why);
        XB_WARN(l->log_comp, "the pump reports an error about %.*s: %s", (int)m.error.what.len,
                m.error.what.ptr, why);
        /* Only a pump that does not know us refuses a HEARTBEAT (it restarted). */
        return xb_proto_is(m.error.what, XB_CMD_HEARTBEAT) ? LOOP_RECONNECT : LOOP_CONTINUE;
    }
    case XB_PROTO_HISTORY_OK:
        XB_DEBUG(l->log_comp, "late HISTORY-OK ignored");
        return LOOP_CONTINUE;
    default: /* HEARTBEAT, and what a client gets (ACCEPTED, RESULT, ...): nothing to do */
        return LOOP_CONTINUE;
    }
}

static xb_frames_t *pop_pending(xb_listener_t *l)
{
    if (l->n_pending == 0)
        return NULL;
    xb_frames_t *f = l->pending[0];
    memmove(l->pending, l->pending + 1, (l->n_pending - 1) * sizeof *l->pending);
    l->n_pending--;
    return f;
}

static void drain_fd(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof v) < 0) {
        /* EAGAIN: somebody else drained it */
    }
}

static void on_signal(xb_listener_t *l)
{
    struct signalfd_siginfo si;
    if (read(l->signal_fd, &si, sizeof si) == (ssize_t)sizeof si)
        XB_INFO(l->log_comp, "signal %u received: leaving", si.ssi_signo);
    atomic_store(&l->stop, true);
}

/* Handles what the socket holds, up to RECV_BATCH messages, without polling
 * between them: a poll per message costs system calls that a busy listener
 * would spend on nothing. Stops early when a handler queued messages (they
 * come first) or the listener is asked to stop. */
static loop_t drain_burst(xb_listener_t *l, xb_error_t *err)
{
    for (int i = 0; i < RECV_BATCH; i++) {
        xb_frames_t *f = xb_frames_recv(l->sock, ZMQ_DONTWAIT);
        if (!f) {
            if (errno == EAGAIN || errno == EINTR)
                return LOOP_CONTINUE;
            xb_error_set(err, XB_ERR_IO, 0, "listener %s: receive failed: %s", l->name,
                         zmq_strerror(errno));
            return LOOP_FAIL;
        }
        uint64_t start = now_us();
        loop_t r = dispatch(l, f, err);
        xb_frames_destroy(&f);
        if (r != LOOP_CONTINUE || l->n_pending > 0 || l->shutdown_seen || atomic_load(&l->stop))
            return r;
        /* Answers wait for fast handlers only: the pump's timeout of a
         * delivery runs until its answer arrives, so after a slow handler
         * (or once the oldest has waited XB_RT_HOLD_US) they go at once. */
        uint64_t now = l->n_outbox ? now_us() : 0;
        bool due = l->n_outbox == XB_RT_OUTBOX ||
                   (l->n_outbox > 0 &&
                    (now - start >= XB_RT_HOLD_US || now - l->held_since_us >= XB_RT_HOLD_US));
        if (due && flush_outbox(l) != 0)
            return LOOP_RECONNECT;
    }
    return LOOP_CONTINUE;
}

/* The answers of fast handlers in a burst go out together: at the end of
 * the burst, every XB_RT_OUTBOX, or once the oldest has waited
 * XB_RT_HOLD_US; ZeroMQ then wakes its I/O thread once for several answers
 * instead of once each. The answer of a handler that took XB_RT_HOLD_US or
 * more goes out at once (with those held before it), so a slow handler
 * never makes an answer late. A delivery alone in its burst is answered as
 * soon as its handler returns. */
static loop_t drain_socket(xb_listener_t *l, xb_error_t *err)
{
    l->batching = true;
    loop_t r = drain_burst(l, err);
    l->batching = false;
    if (flush_outbox(l) != 0 && r == LOOP_CONTINUE)
        r = LOOP_RECONNECT;
    return r;
}

/* Serves one connection until it ends. */
static loop_t serve(xb_listener_t *l, xb_error_t *err)
{
    for (;;) {
        xb_frames_t *f;
        while ((f = pop_pending(l))) {
            loop_t r = dispatch(l, f, err);
            xb_frames_destroy(&f);
            if (r != LOOP_CONTINUE)
                return r;
        }
        if (l->shutdown_seen) {
            XB_INFO(l->log_comp, "SHUTDOWN from the pump");
            return LOOP_EXIT;
        }
        if (atomic_load(&l->stop))
            return LOOP_EXIT;
        uint64_t now = xb_rt_now_ms();
        uint64_t hb = (uint64_t)l->heartbeat_ms;
        uint64_t dead_at = l->last_heard_ms + hb * XB_RT_LIVENESS;
        uint64_t wake_at = dead_at;
        bool registered = atomic_load(&l->registered);
        if (registered && l->last_sent_ms + hb < wake_at)
            wake_at = l->last_sent_ms + hb;
        long timeout = wake_at > now ? (long)(wake_at - now) : 0;
        zmq_pollitem_t items[3] = {
            {l->sock, 0, ZMQ_POLLIN, 0},
            {NULL, l->wake_fd, ZMQ_POLLIN, 0},
            {NULL, l->signal_fd, ZMQ_POLLIN, 0},
        };
        int rc = zmq_poll(items, l->signal_fd >= 0 ? 3 : 2, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            xb_error_set(err, XB_ERR_IO, 0, "listener %s: poll failed: %s", l->name,
                         zmq_strerror(errno));
            return LOOP_FAIL;
        }
        if (items[1].revents)
            drain_fd(l->wake_fd);
        if (l->signal_fd >= 0 && items[2].revents)
            on_signal(l);
        if (atomic_load(&l->stop))
            return LOOP_EXIT;
        if (items[0].revents & ZMQ_POLLIN) {
            loop_t r = drain_socket(l, err);
            if (r != LOOP_CONTINUE)
                return r;
            continue;
        }
        /* Nothing to read: time for a heartbeat, or the pump is gone. */
        now = xb_rt_now_ms();
        if (now >= l->last_heard_ms + hb * XB_RT_LIVENESS) {
            char why[XB_ERROR_MESSAGE_MAX];
            if (xb_handshake_failed(l->hs, false, why, sizeof why))
                XB_ERROR(l->log_comp, "%s: %s: reconnecting", l->endpoint, why);
            else
                XB_WARN(l->log_comp, "no word from the pump at %s for %" PRIu64 " ms: reconnecting",
                        l->endpoint, now - l->last_heard_ms);
            return LOOP_RECONNECT;
        }
        if (registered && now >= l->last_sent_ms + hb && send_own(l, xb_proto_heartbeat()) != 0) {
            XB_WARN(l->log_comp, "cannot send HEARTBEAT: %s: reconnecting", zmq_strerror(errno));
            return LOOP_RECONNECT;
        }
    }
}

int xb_listener_run(xb_listener_t *l, xb_error_t *err)
{
    if (!l)
        return xb_error_set(err, XB_ERR_ARG, 0, "listener: NULL");
    if (l->ran)
        return xb_error_set(err, XB_ERR_ARG, 0, "listener %s: runs only once", l->name);
    l->ran = true;
    xb_xml_init();
    xb_parse_limits_t limits = {RT_MAX_BYTES, XB_PARSE_DEFAULT_MAX_DEPTH, RT_MAX_COUNT,
                                RT_MAX_COUNT};
    l->parser = xb_parser_new(&limits, err);
    if (!l->parser)
        return -1;
    xb_parser_trust(l->parser, true); /* the pump validated every DELIVER */
    int result = -1;
    for (;;) {
        if (atomic_load(&l->stop)) {
            result = 0;
            break;
        }
        if (connect_pump(l, err) != 0)
            break;
        loop_t r = serve(l, err);
        if (r == LOOP_RECONNECT) {
            /* Whatever is queued for a vanished pump is worthless. */
            close_socket(l, 0);
            continue;
        }
        if (r == LOOP_EXIT) {
            if (atomic_load(&l->registered) && send_own(l, xb_proto_bye()) != 0)
                XB_WARN(l->log_comp, "cannot send BYE: %s", zmq_strerror(errno));
            XB_INFO(l->log_comp, "leaving");
            close_socket(l, XB_RT_LINGER_MS);
            result = 0;
            break;
        }
        close_socket(l, 0);
        break;
    }
    free_pending(l);
    xb_backend_destroy(&l->backend);
    xb_parser_destroy(&l->parser);
    return result;
}

/* ---- HISTORY (memory backend) ---------------------------------------------- */

static int queue_pending(xb_listener_t *l, xb_frames_t *f)
{
    if (l->n_pending == l->cap_pending) {
        size_t cap = l->cap_pending ? l->cap_pending * 2 : 4;
        xb_frames_t **p = realloc(l->pending, cap * sizeof *p);
        if (!p)
            return -1;
        l->pending = p;
        l->cap_pending = cap;
    }
    l->pending[l->n_pending++] = f;
    return 0;
}

/* HISTORY-OK request-id n slot... -> blobs. */
static int take_history(const xb_proto_msg_t *m, xb_blob_list_t *blobs, xb_error_t *err)
{
    size_t n = m->n;
    blobs->items = n ? calloc((size_t)n, sizeof *blobs->items) : NULL;
    if (n && !blobs->items)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory reading history");
    blobs->count = (size_t)n;
    for (size_t i = 0; i < n; i++) {
        xb_proto_val_t slot = xb_proto_history_slot(m, i);
        size_t len = slot.len;
        blobs->items[i].data = malloc(len + 1);
        if (!blobs->items[i].data) {
            xb_blob_list_free(blobs);
            return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory reading history");
        }
        if (len)
            memcpy(blobs->items[i].data, slot.ptr, len);
        blobs->items[i].data[len] = '\0';
        blobs->items[i].len = len;
    }
    return 0;
}

/* Classifies one message that arrived during the wait: 1 = the answer was
 * consumed (rc in *result), 0 = keep waiting. */
static int history_message(xb_listener_t *l, xb_frames_t *f, const char *req, xb_blob_list_t *blobs,
                           int *result, xb_error_t *err)
{
    l->last_heard_ms = xb_rt_now_ms();
    xb_proto_msg_t m;
    xb_proto_error_t e;
    if (xb_proto_decode(f, 0, XB_PROTO_FROM_PUMP, &m, &e) != 0) {
        malformed(l, &e);
        xb_frames_destroy(&f);
        return 0;
    }
    if (m.cmd == XB_PROTO_HISTORY_OK && xb_proto_is(m.history_ok.req, req)) {
        *result = take_history(&m, blobs, err);
        xb_frames_destroy(&f);
        return 1;
    }
    if (m.cmd == XB_PROTO_ERROR && xb_proto_is(m.error.what, XB_CMD_HISTORY)) {
        char why[256];
        xb_proto_cstr(m.error.message, why, sizeof why);
        *result = xb_error_set(err, XB_ERR_BACKEND, 0,
                               "listener %s: the pump could not read the history: %s", l->name,
                               why);
        xb_frames_destroy(&f);
        return 1;
    }
    if (m.cmd == XB_PROTO_SHUTDOWN) {
        /* Finish the handler first; the main loop leaves afterwards. */
        l->shutdown_seen = true;
        xb_frames_destroy(&f);
        return 0;
    }
    /* HEARTBEAT, or the answer to an earlier, abandoned request */
    if (m.cmd == XB_PROTO_HEARTBEAT || m.cmd == XB_PROTO_HISTORY_OK) {
        xb_frames_destroy(&f);
        return 0;
    }
    if (queue_pending(l, f) != 0) {
        XB_ERROR(l->log_comp, "out of memory: a message from the pump was dropped");
        xb_frames_destroy(&f);
    }
    return 0;
}

int xb_rt_history_request(xb_listener_t *l, const char *thread, xb_blob_list_t *blobs,
                          xb_error_t *err)
{
    if (!l->sock || !atomic_load(&l->registered))
        return xb_error_set(err, XB_ERR_BACKEND, 0, "listener %s: not registered with a pump",
                            l->name);
    char req[32];
    snprintf(req, sizeof req, "%ld", ++l->next_request);
    if (send_own(l, xb_proto_history(req, thread)) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "listener %s: cannot send HISTORY: %s", l->name,
                            zmq_strerror(errno));
    /* The handler may have run for a while: silence counts from the request. */
    l->last_heard_ms = xb_rt_now_ms();
    uint64_t limit = (uint64_t)l->heartbeat_ms * XB_RT_LIVENESS;
    for (;;) {
        uint64_t now = xb_rt_now_ms();
        if (now >= l->last_heard_ms + limit)
            return xb_error_set(err, XB_ERR_TIMEOUT, 0,
                                "listener %s: the pump did not answer HISTORY for thread %s",
                                l->name, thread);
        zmq_pollitem_t item = {l->sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, (long)(l->last_heard_ms + limit - now));
        if (rc < 0 && errno != EINTR)
            return xb_error_set(err, XB_ERR_IO, 0, "listener %s: poll failed: %s", l->name,
                                zmq_strerror(errno));
        if (rc <= 0)
            continue;
        xb_frames_t *f = xb_frames_recv(l->sock, ZMQ_DONTWAIT);
        if (!f) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return xb_error_set(err, XB_ERR_IO, 0, "listener %s: receive failed: %s", l->name,
                                zmq_strerror(errno));
        }
        int result = 0;
        if (history_message(l, f, req, blobs, &result, err))
            return result;
    }
}
