/* The pump object: lifecycle and the event loop.
 *
 * One thread runs the loop, one turn per xb_pump_step: it polls the ROUTER
 * socket and a self-pipe (signals and stop requests), reads the clock once,
 * hands each incoming command to peers.c, route.c or control.c, commits the
 * turn (commit.c), runs the timers that are due (restarts, heartbeats,
 * timeouts) and settles the peers found gone during the turn. ZeroMQ's own
 * I/O threads do the network work. */
#include "pump_internal.h"
#include "commit.h"
#include "journal.h"
#include "pipeline.h"
#include "redeliver.h"
#include "security.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "config_build.h"
#include "log.h"

#define TICK_MS 50
#define RECV_BATCH 512
#define CLIENT_RETRY_MS 5
#define PIPELINE_ROUNDS 16 /* pipeline steps sent and committed in one loop turn */
/* How long a draining pump with nothing in flight waits for the ACKs of
 * its last answers: a client that left without acknowledging must not
 * hold the stop for shutdown_seconds. */
#define ACK_GRACE_MS 1000

/* The self-pipe a signal handler writes to. A signal handler can reach
 * nothing else; it is set while a pump with handle_signals runs. */
static volatile sig_atomic_t signal_fd = -1;
static volatile sig_atomic_t signal_stop = 0;
static volatile sig_atomic_t signal_hup = 0;

static uint64_t monotonic_clock(void *user)
{
    (void)user;
    return xbp_now_ms();
}

void xb_pump_options_defaults(xb_pump_options_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->start_children = true;
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        signal_hup = 1;
    else
        signal_stop = 1;
    int fd = signal_fd;
    char c = 1;
    if (fd >= 0 && write(fd, &c, 1) < 0) {
        /* nothing to do in a signal handler */
    }
}

static void find_bin_dir(xb_pump_t *p)
{
    if (p->opts.bin_dir) {
        snprintf(p->bin_dir, sizeof p->bin_dir, "%s", p->opts.bin_dir);
        return;
    }
    char exe[XB_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    snprintf(p->bin_dir, sizeof p->bin_dir, "%s", dirname(exe));
}

/* An ipc endpoint's socket file gets security.ipc_mode (default 0600) and
 * security.ipc_group: who may connect is who may open it. */
static int restrict_ipc(xb_pump_t *p, xb_error_t *err)
{
    if (strncmp(p->endpoint, "ipc://", 6) != 0 || p->endpoint[6] == '@')
        return 0;
    const char *path = p->endpoint + 6;
    const xb_security_config_t *sec = &p->cfg->security;
    if (chmod(path, (mode_t)sec->ipc_mode) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot set the mode of %s: %s", path,
                            strerror(errno));
    if (!sec->ipc_group[0])
        return 0;
    struct group *g = getgrnam(sec->ipc_group);
    if (!g)
        return xb_error_set(err, XB_ERR_CONFIG, 0,
                            "ipc_group '%s' in section 'security': no such group", sec->ipc_group);
    if (chown(path, (uid_t)-1, g->gr_gid) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot give %s to group %s: %s", path,
                            sec->ipc_group, strerror(errno));
    return 0;
}

static int open_socket(xb_pump_t *p, xb_error_t *err)
{
    if (p->opts.zmq_ctx) {
        p->ctx = p->opts.zmq_ctx;
    } else {
        p->ctx = zmq_ctx_new();
        p->own_ctx = true;
    }
    if (!p->ctx)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot create a ZeroMQ context: %s",
                            zmq_strerror(errno));
    p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
    if (!p->router)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot create the ROUTER socket: %s",
                            zmq_strerror(errno));
    /* A client that does not read fills its queue at XBP_ROUTER_HWM
     * messages; what follows waits in clients.c, bounded and counted. A
     * sender faster than the pump waits at XBP_ROUTER_HWM messages too:
     * ZeroMQ holds at most that many from each peer (docs/reliability.md). */
    int one = 1, linger = 1000, hwm = XBP_ROUTER_HWM, rcvhwm = XBP_ROUTER_HWM;
    int64_t maxsize = (int64_t)p->cfg->limits.max_message_bytes + 65536;
    /* Handover: a client keeps its routing id across reconnects (bus/client.c);
     * when it reconnects before the pump noticed its old connection died,
     * the new connection takes the id over instead of being refused. */
    if (zmq_setsockopt(p->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(p->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(p->router, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(p->router, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(p->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        zmq_setsockopt(p->router, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot set socket options: %s",
                            zmq_strerror(errno));
    const char *file = p->cfg->path ? p->cfg->path : "organism";
    char why[700];
    if (xb_config_check_exposure(p->cfg, p->cfg->endpoint, why, sizeof why) != 0)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "%s: %s", file, why);
    if (xbp_security_init(p, err) != 0)
        return -1;
    if (zmq_bind(p->router, p->cfg->endpoint) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "%s: cannot bind %s: %s", file, p->cfg->endpoint,
                            zmq_strerror(errno));
    size_t len = sizeof p->endpoint;
    if (zmq_getsockopt(p->router, ZMQ_LAST_ENDPOINT, p->endpoint, &len) != 0)
        snprintf(p->endpoint, sizeof p->endpoint, "%s", p->cfg->endpoint);
    return restrict_ipc(p, err);
}

static int open_storage(xb_pump_t *p, xb_error_t *err)
{
    p->backend = xb_backend_new(&p->cfg->backend, err);
    if (!p->backend)
        return -1;
    xb_buffer_limits_t bl;
    memset(&bl, 0, sizeof bl);
    bl.max_payload_bytes = p->cfg->limits.max_payload_bytes;
    p->buffer = xb_buffer_new(p->backend, &bl, err);
    if (!p->buffer)
        return -1;
    p->registry = xb_registry_new(p->backend, p->cfg->name, err);
    if (!p->registry)
        return -1;
    /* One batch per tick instead of a round trip per change. */
    xb_registry_set_write_behind(p->registry, true);
    p->journal = p->cfg->backend.journal && xb_backend_has_journal(p->backend);
    return 0;
}

/* Writes the registry changes queued since the last tick. A failing backend
 * keeps them queued for the next one; the warning is said once a second at
 * most. */
static void flush_registry(xb_pump_t *p)
{
    xb_error_t err;
    if (xb_registry_flush(p->registry, &err) == 0)
        return;
    uint64_t now = p->now_ms;
    if (now - p->registry_warned_ms < 1000)
        return;
    p->registry_warned_ms = now;
    XB_WARN("pump", "registry changes not written yet (%zu queued): %s",
            xb_registry_pending(p->registry), err.message);
}

static int open_xml(xb_pump_t *p, xb_error_t *err)
{
    xb_xml_init();
    p->schemas = xb_schemas_new(p->cfg, err);
    if (!p->schemas)
        return -1;
    p->validator = xb_validator_new(p->schemas, err);
    if (!p->validator)
        return -1;
    p->entry_schemas = xb_entry_schemas_new(&p->cfg->memory, err);
    if (!p->entry_schemas)
        return -1;
    xb_parse_limits_t pl;
    xb_parse_limits_defaults(&pl);
    pl.max_bytes = p->cfg->limits.max_message_bytes;
    pl.max_depth = p->cfg->limits.max_xml_depth;
    pl.max_attributes = p->cfg->limits.max_attributes;
    pl.max_namespaces = p->cfg->limits.max_namespaces;
    p->plimits = pl;
    p->xmlctxt = xb_xml_ctxt_new();
    if (!p->xmlctxt)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "no memory for a parser");
    p->parser = xb_parser_new(&pl, err);
    return p->parser ? 0 : -1;
}

static int init_listeners(xb_pump_t *p, xb_error_t *err)
{
    p->n_listeners = p->cfg->n_listeners;
    p->listeners = calloc(p->n_listeners ? p->n_listeners : 1, sizeof *p->listeners);
    if (!p->listeners)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "no memory for listeners");
    const xb_limits_config_t *lim = &p->cfg->limits;
    for (size_t i = 0; i < p->n_listeners; i++) {
        p->listeners[i].cfg = &p->cfg->listeners[i];
        p->listeners[i].index = (int)i;
        p->listeners[i].queue = xbp_lqueue_new(lim->queue_max_messages, lim->queue_max_bytes);
        p->listeners[i].in_hand = xbp_lqueue_new(0, 0);
        if (!p->listeners[i].queue || !p->listeners[i].in_hand)
            return xb_error_set(err, XB_ERR_NOMEM, 0, "no memory for listener queues");
    }
    return 0;
}

xb_pump_t *xb_pump_new(xb_config_t *cfg, const xb_pump_options_t *opts, xb_error_t *err)
{
    if (!cfg) {
        xb_error_set(err, XB_ERR_ARG, 0, "no configuration");
        return NULL;
    }
    xb_pump_t *p = calloc(1, sizeof *p);
    if (!p) {
        xb_config_destroy(&cfg);
        xb_error_set(err, XB_ERR_NOMEM, 0, "no memory for the pump");
        return NULL;
    }
    p->cfg = cfg;
    p->wake[0] = p->wake[1] = -1;
    if (opts)
        p->opts = *opts;
    else
        xb_pump_options_defaults(&p->opts);
    if (!p->opts.clock)
        p->opts.clock = monotonic_clock;
    xbp_pump_clock_read(p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    find_bin_dir(p);
    p->convs = xb_strmap_new();
    if (!p->convs || xbp_deliveries_init(p) != 0 || xbp_peertab_init(p) != 0 ||
        xbp_commit_init(p) != 0 || xbp_clients_init(p) != 0 || xbp_pipelines_init(p) != 0 ||
        pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "cannot allocate the pump's tables");
        xb_pump_destroy(&p);
        return NULL;
    }
    if (init_listeners(p, err) != 0 || open_xml(p, err) != 0 || open_storage(p, err) != 0 ||
        open_socket(p, err) != 0 || xbp_children_init(p, err) != 0) {
        xb_pump_destroy(&p);
        return NULL;
    }
    p->started_ms = p->now_ms;
    XB_INFO("pump", "organism %s: %zu listeners, backend %s, bound %s", cfg->name, cfg->n_listeners,
            xb_backend_type_name(cfg->backend.type), p->endpoint);
    return p;
}

static void begin_drain(xb_pump_t *p)
{
    if (p->state != PUMP_RUNNING)
        return;
    p->state = PUMP_DRAINING;
    p->drain_deadline_ms = p->now_ms + (uint64_t)(p->cfg->limits.shutdown_seconds * 1000.0);
    XB_INFO("pump", "shutting down: %ld messages in flight, deadline %.3g s", p->in_flight,
            p->cfg->limits.shutdown_seconds);
}

static void unknown_peer(xb_pump_t *p, const xbp_rid_t *rid, const char *cmd)
{
    xb_frames_t *f = xb_proto_error(cmd, "not registered: send READY first");
    if (f)
        xbp_pump_send_to(p, rid, f);
    xb_frames_destroy(&f);
}

static void malformed(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_error_t *e)
{
    XB_DEBUG("pump", "bad message (%s): %s", e->what, e->message);
    xb_frames_t *f = xb_proto_error_reply(e);
    if (f)
        xbp_pump_send_to(p, rid, f);
    xb_frames_destroy(&f);
}

/* A command handler; peer is NULL for commands that need no registration. */
typedef void (*handler_fn)(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer,
                           const xb_proto_msg_t *m);

static void on_send(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer, const xb_proto_msg_t *m)
{
    (void)peer;
    xbp_route_on_send(p, rid, m, m->cmd == XB_PROTO_POST);
}

static void on_ack(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer, const xb_proto_msg_t *m)
{
    (void)peer;
    xbp_client_on_ack(p, rid, m);
}

static void on_control(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer, const xb_proto_msg_t *m)
{
    (void)peer;
    xbp_commit_turn(p); /* answers read the backend */
    flush_registry(p);
    xbp_control_on_request(p, rid, m);
}

static void on_ready(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer, const xb_proto_msg_t *m)
{
    (void)peer;
    xbp_peer_on_ready(p, rid, m);
}

static void on_history(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer, const xb_proto_msg_t *m)
{
    (void)peer;
    xbp_commit_turn(p); /* the history includes what this turn recorded */
    xbp_control_on_history(p, rid, m);
}

static void on_heartbeat(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer, const xb_proto_msg_t *m)
{
    (void)p, (void)rid, (void)peer, (void)m; /* hearing it was the point */
}

static void on_reply(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer, const xb_proto_msg_t *m)
{
    (void)rid;
    xbp_route_on_reply(p, peer, m);
}

static void on_done(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer, const xb_proto_msg_t *m)
{
    (void)rid;
    xbp_route_on_done(p, peer, m, m->cmd == XB_PROTO_FAILED);
}

static void on_bye(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer, const xb_proto_msg_t *m)
{
    (void)rid, (void)m;
    xbp_peer_on_bye(p, peer);
}

static void on_error(xb_pump_t *p, const xbp_rid_t *rid, peer_t *peer, const xb_proto_msg_t *m)
{
    (void)p, (void)rid, (void)peer;
    XB_DEBUG("pump", "a peer reported an error about %.*s: %.*s", (int)m->error.what.len,
             m->error.what.ptr, (int)(m->error.message.len > 200 ? 200 : m->error.message.len),
             m->error.message.ptr);
}

/* What the pump does with each command it may receive (the codec refuses
 * the others); `peer` marks those only a registered peer may send. */
static const struct {
    handler_fn fn;
    bool peer;
} handlers[XB_PROTO__COUNT] = {
    [XB_PROTO_SEND] = {on_send, false},       [XB_PROTO_POST] = {on_send, false},
    [XB_PROTO_CONTROL] = {on_control, false}, [XB_PROTO_ACK] = {on_ack, false},
    [XB_PROTO_READY] = {on_ready, false},     [XB_PROTO_HISTORY] = {on_history, true},
    [XB_PROTO_ERROR] = {on_error, false},     [XB_PROTO_HEARTBEAT] = {on_heartbeat, true},
    [XB_PROTO_REPLY] = {on_reply, true},      [XB_PROTO_DONE] = {on_done, true},
    [XB_PROTO_FAILED] = {on_done, true},      [XB_PROTO_BYE] = {on_bye, true},
};

static void handle_message(xb_pump_t *p, xb_frames_t *f)
{
    xbp_rid_t rid;
    size_t rlen = xb_frames_size(f, 0);
    if (rlen == 0 || rlen > XB_RID_MAX)
        return;
    memcpy(rid.data, xb_frames_data(f, 0), rlen);
    rid.len = rlen;
    p->received++;
    xb_proto_msg_t m;
    xb_proto_error_t e;
    if (xb_proto_decode(f, 1, XB_PROTO_TO_PUMP, &m, &e) != 0) {
        malformed(p, &rid, &e);
        return;
    }
    if (!xbp_security_admit(p, &rid, f, &m))
        return;
    if (!handlers[m.cmd].fn)
        return; /* every command to the pump has one */
    peer_t *peer = NULL;
    if (handlers[m.cmd].peer) {
        peer = xbp_peer_find(p, &rid);
        if (!peer) {
            unknown_peer(p, &rid, xb_proto_word(m.cmd));
            return;
        }
        peer->last_heard_ms = p->now_ms;
    }
    handlers[m.cmd].fn(p, &rid, peer, &m);
}

static void drain_router(xb_pump_t *p)
{
    for (int i = 0; i < RECV_BATCH; i++) {
        xb_frames_t *f = xb_frames_recv(p->router, ZMQ_DONTWAIT);
        if (!f)
            return;
        handle_message(p, f);
        xb_frames_destroy(&f);
        if (xbp_commit_turn_full(p))
            xbp_commit_turn(p);
    }
}

static void drain_wake(xb_pump_t *p)
{
    char buf[64];
    while (read(p->wake[0], buf, sizeof buf) > 0) {
    }
    if (signal_hup && p->opts.handle_signals) {
        /* Service managers send SIGHUP to mean "reload": nothing to reload,
         * and nothing to die for either. */
        signal_hup = 0;
        XB_WARN("pump", "SIGHUP: reload is not supported; ignored");
    }
    if (signal_stop && p->opts.handle_signals)
        atomic_store(&p->stop_requested, 1);
    if (atomic_load(&p->stop_requested))
        begin_drain(p);
}

static void tick(xb_pump_t *p)
{
    uint64_t now = p->now_ms;
    if (now - p->last_tick_ms < TICK_MS)
        return;
    p->last_tick_ms = now;
    xbp_children_reap(p);
    xbp_children_tick(p);
    xbp_peers_tick(p);
    xbp_peers_expire(p);
    xbp_pipelines_tick(p);
    xbp_posted_send(p, NULL);
    flush_registry(p);
    xb_error_t err;
    if (xb_backend_flush(p->backend, &err) != 0)
        XB_WARN("pump", "backend flush failed: %s", err.message);
}

static bool drained(xb_pump_t *p)
{
    if (p->state != PUMP_DRAINING)
        return false;
    if (p->in_flight == 0 && !xbp_pipelines_waiting(p)) {
        if (p->client_unacked == 0)
            return true;
        if (!p->settled_ms)
            p->settled_ms = p->now_ms;
        if (p->now_ms - p->settled_ms >= ACK_GRACE_MS) {
            XB_INFO("pump",
                    "%zu answers not acknowledged by their clients stay in the journal: "
                    "sent again at the next start",
                    p->client_unacked);
            return true;
        }
        return false;
    }
    if (p->now_ms >= p->drain_deadline_ms) {
        if (xbp_journal_on(p))
            XB_WARN("pump",
                    "shutdown deadline reached with %ld messages in flight and %zu answers "
                    "not acknowledged: they stay in the journal for the next start",
                    p->in_flight, p->client_unacked);
        else
            XB_WARN("pump", "shutdown deadline reached with %ld messages in flight: failing them",
                    p->in_flight);
        return true;
    }
    return false;
}

/* Serves the ROUTER for up to ms, or until the children are gone
 * (children) or nothing arrived for a while (!children). A stopped pump
 * still reads what reaches it: a SEND or POST gets REJECTED `shutdown`, a
 * READY REFUSED, a late answer is counted; nothing that reached the pump is
 * left unanswered in its socket. Real time, not the pump's clock: it waits
 * for real processes, and an injected clock may stand still. */
static void serve_stopped(xb_pump_t *p, uint64_t ms, bool children)
{
    uint64_t end = xbp_now_ms() + ms;
    while (xbp_now_ms() < end) {
        if (children) {
            xbp_children_reap(p);
            if (!xbp_children_running(p))
                return;
        }
        zmq_pollitem_t item = {p->router, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, 10);
        if (rc < 0 && errno != EINTR)
            return;
        if (rc > 0) {
            drain_router(p);
            xbp_commit_turn(p);
            xbp_clients_flush(p);
        } else if (!children && rc == 0) {
            return; /* quiet */
        }
        xbp_peers_reap(p);
    }
}

/* Listeners get SHUTDOWN, then SIGTERM after 3 s, then SIGKILL after 2 s
 * more; the pump answers whatever reaches it meanwhile. */
static void stop_children(xb_pump_t *p)
{
    xbp_peers_shutdown(p);
    serve_stopped(p, 3000, true);
    if (!xbp_children_running(p))
        return;
    xbp_children_signal_all(p, SIGTERM);
    serve_stopped(p, 2000, true);
    if (!xbp_children_running(p))
        return;
    xbp_children_signal_all(p, SIGKILL);
    serve_stopped(p, 5000, true);
}

static void finish(xb_pump_t *p)
{
    xbp_commit_turn(p);
    xbp_posted_send(p, NULL);
    xbp_deliveries_fail_all(p);
    xbp_pipelines_stop(p); /* after the deliveries: their runs' callers hear why */
    xbp_convs_report(p);
    xbp_clients_flush(p);
    p->state = PUMP_STOPPED;
    stop_children(p);
    serve_stopped(p, 1000, false); /* what the clients sent meanwhile */
    xbp_clients_flush(p);          /* what still waits goes with the socket's linger, or is lost */
    if (p->client_held)
        XB_WARN("pump", "stopped with %zu messages for clients that did not read them",
                p->client_held);
    flush_registry(p);
    xbp_journal_flush(p);
    XB_INFO("pump", "stopped: %llu messages routed", (unsigned long long)p->routed);
}

static void install_signals(xb_pump_t *p)
{
    signal_fd = p->wake[1];
    signal_stop = 0;
    signal_hup = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void set_serving(xb_pump_t *p)
{
    pthread_mutex_lock(&p->lock);
    p->serving = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* From PUMP_NEW to serving: children started, xb_pump_start's caller woken. */
static void begin_serving(xb_pump_t *p)
{
    if (p->opts.handle_signals)
        install_signals(p);
    p->state = PUMP_RUNNING;
    xbp_redeliver_journal(p); /* queued until the listeners register */
    if (p->opts.start_children)
        xbp_children_start_all(p);
    set_serving(p);
    XB_INFO("pump", "organism %s serving on %s", p->cfg->name, p->endpoint);
    if (atomic_load(&p->stop_requested))
        begin_drain(p);
}

static void end_serving(xb_pump_t *p)
{
    finish(p);
    if (p->opts.handle_signals)
        signal_fd = -1;
}

int xb_pump_step(xb_pump_t *p, int timeout_ms)
{
    if (!p || p->state == PUMP_STOPPED)
        return 0;
    if (p->state == PUMP_NEW)
        begin_serving(p);
    if (drained(p)) {
        end_serving(p);
        return 0;
    }
    zmq_pollitem_t items[3] = {{p->router, 0, ZMQ_POLLIN, 0},
                               {NULL, p->wake[0], ZMQ_POLLIN, 0},
                               {xbp_security_zap(p), 0, ZMQ_POLLIN, 0}};
    /* ROUTER's POLLOUT says "some peer can take more", not which: messages
     * held for a client that did not read are retried every few ms. */
    if (xbp_clients_waiting(p) && (timeout_ms < 0 || timeout_ms > CLIENT_RETRY_MS))
        timeout_ms = CLIENT_RETRY_MS;
    if (xbp_pipelines_waiting(p))
        timeout_ms = 0;
    int rc = zmq_poll(items, items[2].socket ? 3 : 2, timeout_ms);
    if (rc < 0 && errno != EINTR) {
        XB_ERROR("pump", "poll failed: %s", zmq_strerror(errno));
        end_serving(p);
        return -1;
    }
    xbp_pump_clock_read(p);
    if (rc > 0 && (items[1].revents & ZMQ_POLLIN))
        drain_wake(p);
    if (rc > 0 && (items[2].revents & ZMQ_POLLIN))
        xbp_security_on_zap(p);
    if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
        drain_router(p);
    xbp_commit_turn(p);
    /* Pipeline runs take what reached them and send their next steps,
     * which the next commit records (a bounded number of rounds a turn). */
    for (int i = 0; i < PIPELINE_ROUNDS && xbp_pipelines_run(p) > 0; i++)
        xbp_commit_turn(p);
    xbp_clients_flush(p);
    tick(p);
    xbp_peers_reap(p);
    xbp_convs_report(p);
    xbp_journal_flush(p); /* after the commit that recorded the answers */
    if (drained(p)) {
        end_serving(p);
        return 0;
    }
    return 1;
}

int xb_pump_run(xb_pump_t *p, xb_error_t *err)
{
    if (!p || p->state != PUMP_NEW)
        return xb_error_set(err, XB_ERR_ARG, 0, "the pump is already running or stopped");
    while (xb_pump_step(p, TICK_MS) > 0) {
    }
    return 0;
}

static void *pump_thread(void *arg)
{
    xb_pump_t *p = arg;
    p->thread_result = xb_pump_run(p, NULL);
    set_serving(p); /* also wakes a starter waiting on a pump that failed */
    return NULL;
}

int xb_pump_start(xb_pump_t *p, xb_error_t *err)
{
    if (!p || p->thread_started)
        return xb_error_set(err, XB_ERR_ARG, 0, "the pump is already started");
    if (pthread_create(&p->thread, NULL, pump_thread, p) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot start the pump thread");
    p->thread_started = true;
    pthread_mutex_lock(&p->lock);
    while (!p->serving)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int xb_pump_join(xb_pump_t *p)
{
    if (!p || !p->thread_started)
        return -1;
    pthread_join(p->thread, NULL);
    p->thread_started = false;
    return p->thread_result;
}

void xb_pump_destroy(xb_pump_t **pp)
{
    if (!pp || !*pp)
        return;
    xb_pump_t *p = *pp;
    if (p->thread_started) {
        xb_pump_stop(p);
        xb_pump_join(p);
    }
    if (p->state == PUMP_RUNNING || p->state == PUMP_DRAINING)
        end_serving(p); /* a pump driven by xb_pump_step and never stopped */
    if (p->router && p->state == PUMP_STOPPED)
        drain_router(p); /* the last to arrive are answered before the socket closes */
    xbp_commit_free(p);
    if (p->dslab)
        xbp_deliveries_fail_all(p);
    xbp_pipelines_free(p);
    xbp_convs_free(p);
    xbp_peers_free(p);
    xbp_children_free(p);
    xbp_deliveries_free(p);
    xbp_clients_free(p); /* after the last SystemErrors above were held or sent */
    if (p->router)
        zmq_close(p->router);
    xbp_security_free(p);
    if (p->own_ctx && p->ctx)
        zmq_ctx_term(p->ctx);
    xb_parser_destroy(&p->parser);
    xb_xml_ctxt_free(&p->xmlctxt);
    xb_validator_destroy(&p->validator);
    xb_entry_schemas_destroy(&p->entry_schemas);
    xb_schemas_destroy(&p->schemas);
    if (p->registry)
        flush_registry(p);
    if (p->backend)
        xbp_journal_flush(p);
    xbp_journal_free(p);
    xb_registry_destroy(&p->registry);
    xb_buffer_destroy(&p->buffer);
    xb_backend_destroy(&p->backend); /* closing flushes what is left */
    for (size_t i = 0; p->listeners && i < p->n_listeners; i++) {
        xbp_lqueue_destroy(&p->listeners[i].queue);
        xbp_lqueue_destroy(&p->listeners[i].in_hand);
    }
    free(p->listeners);
    xb_strmap_destroy(&p->convs);
    if (p->wake[0] >= 0)
        close(p->wake[0]);
    if (p->wake[1] >= 0)
        close(p->wake[1]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    xb_config_destroy(&p->cfg);
    free(p);
    *pp = NULL;
}

void *xb_pump_zmq_context(xb_pump_t *p)
{
    return p ? p->ctx : NULL;
}
const char *xb_pump_endpoint(const xb_pump_t *p)
{
    return p ? p->endpoint : NULL;
}
const xb_config_t *xb_pump_config(const xb_pump_t *p)
{
    return p ? p->cfg : NULL;
}
