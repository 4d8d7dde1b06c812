/* The pump's private state, shared by the files of pump/ only.
 *
 * One event-loop thread owns everything here: no locks. The files, from the
 * top down; each calls only files below it (the graph has no cycle):
 *
 *   pump.c     lifecycle, the loop (xb_pump_step), dispatch of commands -> all below
 *   control.c  CONTROL and HISTORY requests            -> pipeline (stats), redeliver, peertab,
 *                                                         lqueue, conv, core
 *   pipeline.c pipeline runs: steps sent, results stored, the output answered
 *              (docs/pipelines.md)                      -> route, pipeq, wmem, conv, core
 *   route.c    SEND, REPLY, DONE (docs/routing.md)     -> commit, security, outbox, deliver, conv,
 *                                                         identity, pipeq, wmem, core
 *   redeliver.c journaled deliveries again at start, dead letters
 *                                                      -> outbox, deliver, conv, journal, core
 *   commit.c   group commit: the turn (xbp_turn_t)      -> security, outbox, pipeq, wmem, conv,
 *                                                         journal, core
 *   security.c CURVE keys, ZAP, roles of every command (docs/security.md)
 *                                                      -> outbox, peertab, lqueue, core
 *   peers.c    READY, BYE, heartbeats, liveness, lost peers, handler timeouts
 *                                                      -> outbox, deliver, children, peertab,
 *                                                         identity, core
 *   outbox.c   verdicts, staged messages handed out, SystemErrors, failing deliveries
 *                                                      -> deliver, pipeq, conv, core
 *   deliver.c  the delivery table, queues, credit, in-hand lists
 *                                                      -> peertab, conv, journal, lqueue, core
 *   children.c child processes: start, reap, restart   -> peertab, core (config's key paths)
 *   peertab.c  peers by routing id, their states       -> lqueue, core
 *   identity.c who may send as whom, own a conversation, see secrets
 *              (docs/security.md)                       -> core
 *   pipeq.c    what reaches a pipeline run: messages to its hop, SystemErrors
 *              to it, steps ended without a response  -> conv
 *   conv.c     origins and conversations               -> wmem, (registry)
 *   wmem.c     working memory: needs, writes, disposal  -> (backend)
 *   clients.c  messages to clients that do not read yet: held in order,
 *              their budget, their timeout; answers waiting for an ACK
 *                                                      -> journal, core
 *   journal.c  journal entries: bytes, removals per turn -> (backend)
 *   lqueue.c   the bounded intrusive queue             -> nothing
 *   core.c     clocks, routing ids (sending, comparing), listeners by name, xb_pump_stop
 *                                                      -> nothing
 *
 * Upward news travels as data, not calls: what reaches a pipeline's hop
 * (outbox.c, route.c) is queued in pipeq.c and taken by pipeline.c after
 * the commit; a lower file that finds a peer
 * gone (deliver.c: unreachable; children.c: its process exited) marks it
 * (xbp_peer_mark_gone) and peers.c settles its deliveries at the end of the
 * turn (xbp_peers_reap); deliver.c refuses a delivery to a full queue and
 * its caller (outbox.c) fails it.
 *
 * Names: what pump/ keeps to itself (functions, types, macros) carries the
 * prefix xbp_ / XBP_; xb_ is the public API of include/xmlbus/pump.h and the
 * library below it. docs/architecture.md walks one message through these
 * files.
 */
#ifndef XB_PUMP_INTERNAL_H
#define XB_PUMP_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "xmlbus/backend.h"
#include "xmlbus/buffer.h"
#include "xmlbus/config.h"
#include "xmlbus/envelope.h"
#include "xmlbus/error.h"
#include "xmlbus/pump.h"
#include "registry.h"
#include "schema.h"
#include "lqueue.h"
#include "strmap.h"
#include "proto.h"
#include "xmlbus/wmem.h"
#include "xmlbus/xmlsafe.h"

#define XB_RID_MAX 256

/* A ZeroMQ routing id as the ROUTER hands it to us. */
typedef struct {
    unsigned char data[XB_RID_MAX];
    size_t len;
} xbp_rid_t;

typedef struct peer peer_t;
typedef struct xb_turn xbp_turn_t; /* commit.c's own */
typedef struct child child_t;
typedef struct delivery delivery_t;
typedef struct conv conv_t;
typedef struct xbp_client xbp_client_t;     /* clients.c's own */
typedef struct xbp_security xbp_security_t; /* security.c's own */

/* A pipeline step reference (origin_t.pipe_ref): which run and which of
 * its items a message belongs to. The top bit says the run keeps its
 * working memory apart from the conversation's (a nested run, or a second
 * run in one conversation): see xbp_wmem_scope. */
#define XBP_REF_OWN_SCOPE (1ULL << 63)
#define XBP_REF_ITEM_BITS 20
#define XBP_REF_ITEM_MASK ((1ULL << XBP_REF_ITEM_BITS) - 1)
static inline uint64_t xbp_ref_run(uint64_t ref)
{
    return (ref & ~XBP_REF_OWN_SCOPE) >> XBP_REF_ITEM_BITS;
}

/* Who sent a message: where its SystemErrors go. */
typedef struct {
    bool is_client;         /* an external sender (xmlbus send) */
    bool is_system;         /* the pump itself: errors about it are only logged */
    bool quiet;             /* answering a SystemError: failures are only logged */
    bool acks;              /* a client that acknowledges its answers (SEND option ack) */
    int key;                /* security: the client's key (index + 1), 0 none */
    int redelivered;        /* a listener answering a message delivered again: what it
                               sends may repeat what it sent before the restart */
    int pipeline;           /* a pipeline run sends it: the pipeline's index + 1, else 0;
                               SystemErrors to it go to the run (pipeq.c) */
    uint64_t pipe_ref;      /* the pipeline step it belongs to (XBP_REF_*), 0 none: what
                               a message sends inherits it (pipeline.c) */
    xbp_rid_t rid;          /* client routing id */
    char name[XB_NAME_MAX]; /* sender's hop name */
    char *chain;            /* sender's chain (owned) */
    char thread[37];        /* sender's thread UUID */
} origin_t;

/* One configured listener at run time. */
typedef struct {
    const xb_listener_config_t *cfg;
    int index;
    xbp_lqueue_t *queue;   /* deliveries waiting for credit (owned) */
    xbp_lqueue_t *in_hand; /* deliveries a process holds, oldest first (owned):
                                 their timeouts, see deliver.c and peers.c */
    long in_flight;
    uint64_t delivered, replies, messages_out, done, failed, timeouts, crashes, restarts;
    uint64_t errors[XB_ERR__COUNT]; /* SystemErrors caused by messages it sent */
} lstn_t;

/* Where a peer stands. Only IDLE and BUSY peers get new deliveries. */
typedef enum {
    XBP_PEER_IDLE,     /* registered, holds nothing */
    XBP_PEER_BUSY,     /* holds deliveries (takes more while credit lasts) */
    XBP_PEER_DRAINING, /* recycled: takes nothing new, SHUTDOWN once idle */
    XBP_PEER_GONE,     /* lost: out of the table, about to be freed */
} xbp_peer_state_t;

/* A connected listener or worker process (or thread). */
struct peer {
    xbp_rid_t rid;
    xbp_peer_state_t state;
    int listener;
    bool worker;
    bool beats_while_busy; /* it said so in READY (7th frame "beats") */
    pid_t pid;             /* what READY claimed; for the pump's own child, its real pid */
    child_t *child;        /* NULL when started elsewhere (its READY had no child's token) */
    char token[XB_PROTO_ID_MAX + 1]; /* READY's token, "" if none: a READY with the
                                        same token is this process reconnecting */
    int credit;
    int in_flight;
    uint64_t last_heard_ms, last_sent_ms, last_used_ms, busy_since_ms;
    uint64_t handled;
    xb_code_t lost_code; /* GONE, not yet settled: why (xbp_peer_mark_gone) */
    char lost_why[320];
    bool lost_kill;      /* and its process must be killed */
    xbp_lqueue_t *held;  /* its deliveries in hand (owned list, borrowed items) */
    peer_t *next, *prev; /* every live peer (p->peers), or p->gone */
    peer_t *hnext;       /* its hash bucket (peertab.c) */
};

/* A process the pump started for a listener (one per worker of a pool). */
struct child {
    int listener;
    int slot;       /* worker number within the listener */
    pid_t pid;      /* 0 while not running */
    peer_t *peer;   /* once it said READY with its token */
    char token[37]; /* a fresh random UUID per process started (XMLBUS_CHILD_TOKEN):
                       the only proof that a peer is this child */
    uint64_t started_ms;
    uint64_t restart_at_ms; /* when to start it again (0 = not scheduled) */
    int backoff_ms;
    uint64_t restarts;
    uint64_t handled;
    bool retiring; /* recycled or killed on purpose: no crash report */
};

/* One message on its way to a listener. */
struct delivery {
    uint32_t slot, gen; /* id = gen << 32 | slot */
    int listener;
    peer_t *peer; /* NULL while queued */
    conv_t *conv;
    char *chain;     /* receiver's chain */
    char thread[37]; /* receiver's thread UUID */
    char msg_id[37];
    char *envelope; /* the serialized envelope (resent on retry) */
    size_t len;
    int depth;
    bool is_error;      /* a SystemError: failing it reports nothing */
    bool error_payload; /* its payload is a SystemError (the pump's or passed on):
                                 answered with DONE or FAILED, or failed, it ends its
                                 branch of the conversation in failure */
    origin_t origin;
    uint64_t deadline_ms; /* 0 = no timeout */
    int retries;
    bool journaled;      /* in the backend's journal until it ends */
    int redelivered;     /* times delivered again after a pump restart */
    xb_wmem_list_t wmem; /* the working-memory entries its listener needs (owned) */
    xbp_lqlink_t qlink;  /* in its listener's queue while it waits, in its
                                 in_hand list while a process holds it */
    xbp_lqlink_t plink;  /* in its peer's held list while a process holds it */
};

/* A conversation that ended with its working memory kept (memory.keep):
 * its client's thread -> its root, so that `memory THREAD` still finds it
 * once the registry has forgotten the thread. */
typedef struct {
    char thread[37];
    char *root; /* owned; NULL while the ring slot is free */
} xbp_kept_t;

#define XBP_KEPT_MAX 1024 /* the last conversations remembered so */

/* A live conversation: ended when no delivery of it is pending. How it
 * ends in failure: docs/routing.md, "How a conversation ends". */
struct conv {
    char *root;
    bool has_client;
    bool client_acks; /* the client acknowledges its answers: they are journaled */
    xbp_rid_t client;
    char client_hop[XB_NAME_MAX];
    char client_thread[37]; /* the client's thread: where a summary goes */
    long pending;
    uint64_t last_ms;
    bool failed;       /* a branch ended in failure */
    bool client_told;  /* the client received a SystemError of it */
    bool has_memory;   /* it may have working-memory entries: dropped when it ends */
    int root_runs;     /* pipeline runs using the conversation's own memory (0 or 1) */
    long runs;         /* pipeline runs holding it (each counted in pending too) */
    bool journal_kept; /* the pump stopped with deliveries of it left in the journal: its
                          memory stays for them (the next start delivers them again) */
    int redelivered;   /* it was taken over from the journal after a restart (times):
                         its summary may repeat one sent before, and is marked */
    bool noted;        /* the first failure, for the summary: */
    xb_code_t fail_code;
    int fail_hop; /* depth of the message that failed (0: unknown) */
    char fail_listener[XB_NAME_MAX];
    char *fail_message; /* owned; NULL until noted (or no memory) */
    conv_t *next_ended; /* on p->ended */
};

typedef enum { PUMP_NEW, PUMP_RUNNING, PUMP_DRAINING, PUMP_STOPPED } pump_state_t;

/* Accepted POSTs of one client not yet told (POSTED n). */
typedef struct {
    xbp_rid_t rid;
    unsigned long n;
} posted_t;

#define XB_POSTED_CLIENTS 64 /* clients counted at once; one more tells them all */

struct xb_pump_t {
    xb_config_t *cfg;
    xb_pump_options_t opts;
    char bin_dir[XB_PATH_MAX];
    void *ctx;
    bool own_ctx;
    void *router;
    char endpoint[1024];
    int wake[2]; /* self-pipe: signals, stop requests */
    atomic_int stop_requested;
    pump_state_t state;
    uint64_t drain_deadline_ms;
    uint64_t settled_ms; /* draining: when nothing was in flight any more */

    pthread_t thread;
    bool thread_started;
    int thread_result;
    pthread_mutex_t lock; /* only for the start handshake */
    pthread_cond_t cond;
    bool serving;

    xb_backend_t *backend;
    xb_buffer_t *buffer;
    xb_registry_t *registry;
    xb_schemas_t *schemas;
    xb_validator_t *validator;
    xb_entry_schemas_t *entry_schemas; /* memory.types[] XSDs (owned), for wmem.c */
    xb_parser_t *parser;
    xmlParserCtxtPtr xmlctxt; /* for bare payloads */
    xb_parse_limits_t plimits;

    lstn_t *listeners;
    size_t n_listeners;
    peer_t *peers; /* peertab.c: every live peer, and by rid: */
    peer_t *gone;  /* marked GONE, to settle (peers.c) */
    peer_t **peer_buckets;
    size_t peer_nbuckets, n_peers;
    uint64_t peer_seed;
    child_t *children;
    size_t n_children;

    delivery_t **dslab; /* deliveries by slot */
    uint32_t dcap;
    uint32_t *dfree; /* free slots */
    uint32_t nfree;
    uint32_t dgen;
    long in_flight; /* deliveries alive (queued or sent) */

    xb_strmap_t *convs;                 /* root -> conv_t */
    conv_t *ended;                      /* ended in failure, the client not told yet:
                                         xbp_convs_report tells it */
    xbp_kept_t *kept;                   /* conv.c: ring of XBP_KEPT_MAX (owned), lazily */
    size_t kept_next;                   /* the slot the next one takes */
    xbp_turn_t *turn;                   /* commit.c: what waits for the turn's commit */
    xbp_security_t *sec;                /* security.c: NULL without security.server_key */
    posted_t posted[XB_POSTED_CLIENTS]; /* outbox.c: acceptances of POSTs not told yet */
    size_t n_posted;

    xb_strmap_t *clients;                  /* clients.c: key of rid -> xbp_client_t, those */
    xbp_client_t *client_list;             /* with messages ZeroMQ could not take yet or */
    size_t client_unacked;                 /* journaled answers not acknowledged yet */
    size_t client_held, client_held_bytes; /* messages held for them, their bytes */
    uint64_t client_expired;               /* answers dropped: their client took nothing too long */
    uint64_t client_unanswered;            /* requests dropped: their client reads nothing */

    uint64_t now_ms; /* the clock (opts.clock), read once per loop turn */
    uint64_t started_ms, last_tick_ms, last_hb_check_ms;
    uint64_t registry_warned_ms; /* last "registry changes not written" warning */
    uint64_t received, accepted, rejected, routed, to_clients, undeliverable, late;
    uint64_t slot_batches, batched_slots; /* backend writes of staged slots */
    bool journal;                         /* journal.c: deliveries are journaled */
    char (*jdone)[37];                    /* message ids whose entries go this turn */
    size_t n_jdone, cap_jdone;
    uint64_t journal_warned_ms;
    uint64_t journal_again, journal_dead; /* redeliver.c: entries sent again, made dead
                                             letters since the start */
    uint64_t errors[XB_ERR__COUNT];

    struct xbp_pev *pev_head, *pev_tail; /* pipeq.c: what reached a pipeline, not taken yet */
    size_t n_pev;
    struct xbp_pipes *pipes; /* pipeline.c: the runs */
};

/* core.c */
/* CLOCK_MONOTONIC in ms: the default clock, and the real time that waiting
 * for processes to exit needs. Timers use p->now_ms instead. */
uint64_t xbp_now_ms(void);
/* Wall-clock µs: message timestamps. */
int64_t xbp_now_us(void);
/* Reads the pump's clock into p->now_ms (never backwards). */
void xbp_pump_clock_read(xb_pump_t *p);
/* Sends frames to the peer rid (consumes f on success). Logs and counts a
 * failure. Returns 0 or -1. */
int xbp_pump_send_to(xb_pump_t *p, const xbp_rid_t *rid, xb_frames_t *f);
lstn_t *xbp_pump_listener(xb_pump_t *p, const char *name);
/* The index of the pipeline called name (when name is not NULL), or of the
 * one that accepts the root tag tag; -1 when none. */
int xbp_pump_pipeline(const xb_pump_t *p, const char *name, const char *tag);
bool xbp_rid_eq(const xbp_rid_t *a, const xbp_rid_t *b);

/* identity.c */
/* Whether a and b are the same non-empty token (in a time that does not
 * depend on where they differ). */
bool xbp_token_eq(const char *a, const char *b);
/* Whether the client on connection rid may send under the hop name name:
 * never under `system` nor a configured listener's or pipeline's name. The place where
 * a role (a listener's key) will allow its own name. */
bool xbp_identity_may_send_as(xb_pump_t *p, const xbp_rid_t *rid, const char *name);
/* Whether connection rid owns the live conversation c: the client
 * connection that started it (after a pump restart, the routing id its
 * journal entries recorded). No other connection may continue it. */
bool xbp_identity_owns(const conv_t *c, const xbp_rid_t *rid);
/* The backend-location of WELCOME into out: the Redis URL with its
 * password only for own_child (a peer that showed the token of a process
 * the pump started); a peer started elsewhere gets it without credentials. */
void xbp_identity_backend_location(const xb_pump_t *p, bool own_child, char *out, size_t cap);

/* clients.c */
/* ZeroMQ's queues to and from one peer (messages): past it a message to a
 * client waits in clients.c, and a peer that sends faster than the pump
 * reads waits. */
#define XBP_ROUTER_HWM 1000
int xbp_clients_init(xb_pump_t *p);
void xbp_clients_free(xb_pump_t *p);
/* Sends *f to the client rid after what waits for it already; when ZeroMQ
 * cannot take it now, holds it (takes *f, sets it NULL). thread (may be
 * NULL) is the thread of an answer, for the log. ack_id (may be NULL) is
 * the message id of a journaled answer: its entry stays until the client
 * acknowledges it (ACK), and such a client is waited for while it is not
 * connected (a pump that restarted, a reconnect) instead of being taken
 * for gone. Returns 0 sent, 1 held, -1 the client is gone or no memory
 * (*f left to the caller). */
int xbp_client_send(xb_pump_t *p, const xbp_rid_t *rid, xb_frames_t **f, const char *thread,
                    const char *ack_id);
/* The same for an answer to a client that acknowledges (acks: the SEND
 * option ack), journaled (ack_id) or not (it could not be recorded): such
 * a client is waited for while it is not connected, whatever the answer. */
int xbp_client_send_answer(xb_pump_t *p, const xbp_rid_t *rid, xb_frames_t **f, const char *thread,
                           const char *ack_id, bool acks);
/* ACK from the client rid: the journal entries of the ids it names among
 * its own unacknowledged answers leave the journal; other ids are ignored. */
void xbp_client_on_ack(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m);
/* Sends on what waits while ZeroMQ takes it; drops (counted, logged) what
 * waits for a client that is gone or took nothing for
 * limits.client_timeout_seconds. The loop calls it every turn. */
void xbp_clients_flush(xb_pump_t *p);
/* Whether messages wait for some client (ZeroMQ could not take them). */
bool xbp_clients_waiting(const xb_pump_t *p);
typedef enum {
    XBP_ADMIT_OK,     /* take its SEND or POST */
    XBP_ADMIT_REFUSE, /* over its budget: refuse with `limit` (why says so) */
    XBP_ADMIT_DROP,   /* twice over: no answer at all (counted) */
} xbp_admit_t;
/* Whether the client rid may send now, by what waits for it. */
xbp_admit_t xbp_client_admit(xb_pump_t *p, const xbp_rid_t *rid, char *why, size_t cap);

/* conv.c */
void xbp_origin_clear(origin_t *o);
/* One hold on c (conv->pending) less; the last one ends it. NULL is fine. */
void xbp_conv_unhold(xb_pump_t *p, conv_t *c);
int xbp_origin_copy(origin_t *dst, const origin_t *src);
/* A new conversation of root, in p->convs. NULL on no memory. */
conv_t *xbp_conv_new(xb_pump_t *p, const char *root);
/* Notes a failure inside c (c may be NULL): the first one is what a summary
 * to the client names. listener: where it failed; hop: the depth of the
 * message that failed, 0 when unknown. */
void xbp_conv_note_failure(conv_t *c, xb_code_t code, const char *listener, int hop,
                           const char *message);
/* Nothing of c is pending any more: it ends. When a branch failed and its
 * client heard no SystemError of it, c waits on p->ended for
 * xbp_convs_report (outbox.c); else it is freed. */
void xbp_conv_release(xb_pump_t *p, conv_t *c);
/* Frees a conversation that has ended. */
void xbp_conv_free(conv_t *c);
/* The root of the conversation whose client's thread was thread, among the
 * last XBP_KEPT_MAX that ended with memory.keep (borrowed; NULL if none). */
const char *xbp_conv_kept_root(const xb_pump_t *p, const char *thread);
void xbp_convs_free(xb_pump_t *p);

/* peertab.c */
int xbp_peertab_init(xb_pump_t *p);
/* Frees every peer, live or gone. */
void xbp_peertab_free(xb_pump_t *p);
/* A new IDLE peer of rid, in the table. NULL on no memory. */
peer_t *xbp_peer_new(xb_pump_t *p, const xbp_rid_t *rid);
/* The live peer of rid, or NULL. */
peer_t *xbp_peer_find(xb_pump_t *p, const xbp_rid_t *rid);
/* Takes peer out of the table (find no longer sees it) and marks it GONE. */
void xbp_peer_set_gone(xb_pump_t *p, peer_t *peer);
/* Marks peer GONE and puts it on p->gone: peers.c settles its deliveries
 * (retried or failed with code) and, with kill, kills its process. For the
 * files below peers.c that find a peer gone. */
void xbp_peer_mark_gone(xb_pump_t *p, peer_t *peer, xb_code_t code, const char *why, bool kill);
/* Frees peer (out of the table first if it is still there). */
void xbp_peer_delete(xb_pump_t *p, peer_t *peer);
const char *xbp_peer_state_name(xbp_peer_state_t s);

/* children.c */
int xbp_children_init(xb_pump_t *p, xb_error_t *err);
void xbp_children_start_all(xb_pump_t *p);
void xbp_children_reap(xb_pump_t *p);
void xbp_children_tick(xb_pump_t *p);
void xbp_children_kill(xb_pump_t *p, child_t *c, bool retiring);
/* The running child whose token is token, or NULL (never by pid: a pid in
 * READY is only a claim). */
child_t *xbp_children_by_token(xb_pump_t *p, const char *token);
/* Whether a child process is still running (not reaped yet). */
bool xbp_children_running(const xb_pump_t *p);
/* Sends sig to every running child (SIGKILL with a warning). The pump's
 * stop (pump.c) waits for them between signals, serving meanwhile. */
void xbp_children_signal_all(xb_pump_t *p, int sig);
void xbp_children_free(xb_pump_t *p);

/* deliver.c */
int xbp_deliveries_init(xb_pump_t *p);
void xbp_deliveries_free(xb_pump_t *p);
delivery_t *xbp_delivery_new(xb_pump_t *p);
delivery_t *xbp_delivery_find(xb_pump_t *p, const char *id);
void xbp_delivery_free(xb_pump_t *p, delivery_t *d);
/* Queues d for its listener and dispatches what credit allows; takes
 * ownership of d. Returns -1 when the queue is full (d untouched: the
 * caller fails it, see xbp_outbox_submit). */
int xbp_delivery_submit(xb_pump_t *p, delivery_t *d);
/* Hands queued deliveries of listener l to peers with free credit. */
void xbp_dispatch(xb_pump_t *p, lstn_t *l);
/* Takes d off its peer (its credit back) or out of its queue. */
void xbp_delivery_detach(xb_pump_t *p, delivery_t *d);
/* The peer answered d (REPLY, DONE or FAILED): detached, and counted
 * towards recycling the peer's process. */
void xbp_delivery_answered(xb_pump_t *p, delivery_t *d);
/* The handler of d finished (REPLY, DONE or FAILED has been processed). */
void xbp_delivery_complete(xb_pump_t *p, delivery_t *d);
/* The first delivery in hand of l whose timeout has passed, or NULL. */
delivery_t *xbp_delivery_first_expired(const xb_pump_t *p, const lstn_t *l);

/* outbox.c (the rest in outbox.h) */
/* xbp_delivery_submit, and a full queue fails d with `limit`. */
void xbp_outbox_submit(xb_pump_t *p, delivery_t *d);
/* Sends a SystemError to `to` (an origin), recorded alone. Never bounces. */
void xbp_route_system_error(xb_pump_t *p, const origin_t *to, conv_t *conv, xb_code_t code,
                            const char *message);
/* d failed for good: a SystemError goes to its origin; d is freed. */
void xbp_delivery_fail(xb_pump_t *p, delivery_t *d, xb_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The handler answered FAILED: like complete, then a `crash` SystemError
 * with its reason goes to the origin. */
void xbp_delivery_failed_by_handler(xb_pump_t *p, delivery_t *d, const char *why);
/* Fails every pending delivery with `shutdown`. */
void xbp_deliveries_fail_all(xb_pump_t *p);
/* Sends each conversation that ended in failure without its client
 * hearing of it one SystemError summarising its first failure, and frees
 * it. The loop calls it at the end of every turn. */
void xbp_convs_report(xb_pump_t *p);

/* peers.c */
void xbp_peer_on_ready(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m);
void xbp_peer_on_bye(xb_pump_t *p, peer_t *peer);
/* The peer is gone (process died, silent, BYE): its deliveries are retried
 * or failed with `code`, now. */
void xbp_peer_lost(xb_pump_t *p, peer_t *peer, xb_code_t code, const char *why);
/* Settles the peers marked gone (xbp_peer_mark_gone). The loop calls it at
 * the end of every turn. */
void xbp_peers_reap(xb_pump_t *p);
/* Heartbeats, liveness, and the handlers that overran their timeout. */
void xbp_peers_tick(xb_pump_t *p);
void xbp_peers_expire(xb_pump_t *p);
void xbp_peers_shutdown(xb_pump_t *p);
void xbp_peers_free(xb_pump_t *p);

/* route.c */
/* SEND (post false: answered ACCEPTED or REJECTED) or POST (post true:
 * only a refusal is answered; acceptances are counted in one POSTED per
 * client and loop turn). */
void xbp_route_on_send(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m, bool post);
void xbp_route_on_reply(xb_pump_t *p, peer_t *peer, const xb_proto_msg_t *m);
/* A message of a pipeline run: bytes (one element) from o (the run) to `to`
 * (a listener's or pipeline's name, or XB_TARGET_RESPOND: o's caller),
 * validated, enveloped and staged as a unit of the turn like a listener's
 * message. wmem (may be NULL; taken) is what a listener receiver gets as
 * its working memory. 0, or -1 with *err and nothing staged. */
int xbp_route_from_pipeline(xb_pump_t *p, const origin_t *o, conv_t *conv, const char *to,
                            const char *bytes, size_t len, int depth, xb_wmem_list_t *wmem,
                            xb_error_t *err);
void xbp_route_on_done(xb_pump_t *p, peer_t *peer, const xb_proto_msg_t *m, bool failed);

/* control.c */
void xbp_control_on_request(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m);
void xbp_control_on_history(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m);

#endif
