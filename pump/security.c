/* The security of the pump's endpoint (see security.h).
 *
 * With security.server_key the ROUTER is a CURVE server (ZMQ_CURVE_SERVER)
 * and every new connection is put to the ZAP handler here (ZeroMQ's RFC 27,
 * an inproc REP socket the loop polls): a public key of the keyring is
 * admitted with the key's index as its ZAP user id, any other refused.
 * ZeroMQ then stamps every message of that connection with the user id
 * ("User-Id" property), so the role of a message's key is read from the
 * message's connection, never from its content. */
#include "security.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "config_build.h"
#include "log.h"
#include "outbox.h"
#include "str.h"
#include "xmlbus/keys.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "xmlbus"
#define OWNED_MAX 100000 /* threads whose owner the pump remembers */
#define DENY_LOG_MS 1000 /* at most one "denied" line per second */

typedef struct {
    char public_key[XB_KEY_TEXT];
    xbp_role_t role;
    int listener;     /* role listener: its listener's index */
    const char *file; /* borrowed from the config */
} keyent_t;

struct xbp_security {
    keyent_t *keys;
    size_t n_keys;
    void *zap;
    char server_public_path[XB_PATH_MAX]; /* handed to the children */
    xb_strmap_t *owner;                   /* thread -> 1 + key index */
    char (*owned)[37];                    /* its threads, oldest first (a ring) */
    size_t owned_head, owned_n;
    uint64_t denied, denied_logged_ms, denied_unlogged;
    const keyent_t *current; /* the key of the message being handled */
};

static const char *role_name(xbp_role_t r)
{
    static const char *const names[] = {"none", "listener", "client", "admin"};
    return names[r];
}

/* ---- the keyring ------------------------------------------------------------------ */

static int add_key(xbp_security_t *s, const char *file, xbp_role_t role, int listener,
                   xb_error_t *err)
{
    xb_key_t k;
    if (xb_key_load(file, &k, err) != 0)
        return -1;
    keyent_t *grown = realloc(s->keys, (s->n_keys + 1) * sizeof *grown);
    if (!grown) {
        xb_key_wipe(&k);
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    }
    s->keys = grown;
    for (size_t i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i].public_key, k.public_key) == 0) {
            xb_key_wipe(&k);
            return xb_error_set(err, XB_ERR_CONFIG, 0,
                                "key %s (%s) is also %s (%s): one key, one role", file,
                                role_name(role), s->keys[i].file, role_name(s->keys[i].role));
        }
    keyent_t *e = &s->keys[s->n_keys++];
    memcpy(e->public_key, k.public_key, sizeof e->public_key);
    e->role = role;
    e->listener = listener;
    e->file = file;
    xb_key_wipe(&k);
    return 0;
}

static int load_keyring(xb_pump_t *p, xbp_security_t *s, xb_error_t *err)
{
    const xb_security_config_t *sec = &p->cfg->security;
    for (size_t i = 0; i < sec->clients.n; i++)
        if (add_key(s, sec->clients.paths[i], XBP_ROLE_CLIENT, -1, err) != 0)
            return -1;
    for (size_t i = 0; i < sec->admins.n; i++)
        if (add_key(s, sec->admins.paths[i], XBP_ROLE_ADMIN, -1, err) != 0)
            return -1;
    for (size_t i = 0; i < p->cfg->n_listeners; i++) {
        const xb_listener_config_t *l = &p->cfg->listeners[i];
        if (l->key && add_key(s, l->key, XBP_ROLE_LISTENER, (int)i, err) != 0)
            return -1;
    }
    return 0;
}

/* The public key file beside the secret one (NAME.key_secret -> NAME.key):
 * the children get its path (pump/children.c), so it must be there. */
static int server_public_path(const xb_config_t *cfg, const char *secret, char *out, size_t cap,
                              xb_error_t *err)
{
    if (xb_config_server_public_key(cfg, out, cap) != 0)
        return xb_error_set(err, XB_ERR_CONFIG, 0,
                            "server_key %s: expected a secret key file NAME%s (xmlbus keygen "
                            "writes it beside NAME%s)",
                            secret, XB_KEY_SECRET_SUFFIX, XB_KEY_PUBLIC_SUFFIX);
    xb_key_t pub;
    if (xb_key_load(out, &pub, err) != 0)
        return -1;
    xb_key_wipe(&pub);
    return 0;
}

static int make_server(xb_pump_t *p, xbp_security_t *s, xb_error_t *err)
{
    const char *file = p->cfg->security.server_key;
    xb_key_t own;
    if (xb_key_load(file, &own, err) != 0)
        return -1;
    int rc = 0;
    if (!xb_key_has_secret(&own))
        rc = xb_error_set(err, XB_ERR_CONFIG, 0,
                          "server_key %s holds no secret key: name the NAME%s file", file,
                          XB_KEY_SECRET_SUFFIX);
    if (rc == 0)
        rc = xb_key_apply_server(p->router, &own, 0, err);
    xb_key_wipe(&own);
    if (rc == 0 && zmq_setsockopt(p->router, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)) != 0)
        rc = xb_error_set(err, XB_ERR_IO, 0, "ZMQ_ZAP_DOMAIN: %s", zmq_strerror(errno));
    if (rc == 0)
        rc = server_public_path(p->cfg, file, s->server_public_path, sizeof s->server_public_path,
                                err);
    return rc;
}

static int bind_zap(xb_pump_t *p, xbp_security_t *s, xb_error_t *err)
{
    s->zap = zmq_socket(p->ctx, ZMQ_REP);
    int linger = 0;
    if (!s->zap || zmq_setsockopt(s->zap, ZMQ_LINGER, &linger, sizeof linger) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot create the ZAP socket: %s",
                            zmq_strerror(errno));
    if (zmq_bind(s->zap, ZAP_ENDPOINT) != 0)
        return xb_error_set(err, XB_ERR_IO, 0,
                            "cannot bind %s: %s (another CURVE server in this process's ZeroMQ "
                            "context?)",
                            ZAP_ENDPOINT, zmq_strerror(errno));
    return 0;
}

int xbp_security_init(xb_pump_t *p, xb_error_t *err)
{
    if (!p->cfg->security.server_key)
        return 0;
    xbp_security_t *s = calloc(1, sizeof *s);
    if (!s || !(s->owner = xb_strmap_new()) || !(s->owned = calloc(OWNED_MAX, sizeof *s->owned))) {
        if (s)
            xb_strmap_destroy(&s->owner);
        free(s);
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    }
    p->sec = s;
    if (load_keyring(p, s, err) != 0 || make_server(p, s, err) != 0 || bind_zap(p, s, err) != 0)
        return -1;
    XB_INFO("pump", "security: CURVE on, %zu keys admitted", s->n_keys);
    return 0;
}

void xbp_security_free(xb_pump_t *p)
{
    xbp_security_t *s = p->sec;
    if (!s)
        return;
    if (s->zap)
        zmq_close(s->zap);
    xb_strmap_destroy(&s->owner);
    free(s->owned);
    free(s->keys);
    free(s);
    p->sec = NULL;
}

void *xbp_security_zap(const xb_pump_t *p)
{
    return p->sec ? p->sec->zap : NULL;
}

/* ---- ZAP (RFC 27) ------------------------------------------------------------------ */

static const keyent_t *key_of_public(const xbp_security_t *s, const void *pub32)
{
    char z85[XB_KEY_TEXT];
    if (!zmq_z85_encode(z85, pub32, 32))
        return NULL;
    for (size_t i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i].public_key, z85) == 0)
            return &s->keys[i];
    return NULL;
}

/* Request: version, request id, domain, address, identity, mechanism,
 * then the mechanism's credentials (CURVE: the client's 32-byte public key). */
static void zap_answer(xb_pump_t *p, xb_frames_t *req)
{
    xbp_security_t *s = p->sec;
    const char *status = "400", *text = "unknown key";
    char user[16] = "";
    bool curve = xb_frames_count(req) >= 7 && xb_frames_eq(req, 0, "1.0") &&
                 xb_frames_eq(req, 5, "CURVE") && xb_frames_size(req, 6) == 32;
    const keyent_t *k = curve ? key_of_public(s, xb_frames_data(req, 6)) : NULL;
    if (!curve) {
        status = "500";
        text = "not a CURVE request";
    } else if (k) {
        status = "200";
        text = "OK";
        snprintf(user, sizeof user, "%zu", (size_t)(k - s->keys));
    } else {
        char addr[64] = "";
        if (xb_frames_size(req, 3) < sizeof addr)
            memcpy(addr, xb_frames_data(req, 3), xb_frames_size(req, 3));
        XB_WARN("pump", "security: a connection from %s with a key that is not admitted: refused",
                addr[0] ? addr : "?");
    }
    xb_frames_t *rep = xb_frames_new();
    if (rep && xb_frames_add_str(rep, "1.0") == 0 &&
        xb_frames_add(rep, xb_frames_data(req, 1), xb_frames_size(req, 1)) == 0 &&
        xb_frames_add_str(rep, status) == 0 && xb_frames_add_str(rep, text) == 0 &&
        xb_frames_add_str(rep, user) == 0 && xb_frames_add(rep, "", 0) == 0)
        xb_frames_send(rep, s->zap, ZMQ_DONTWAIT);
    xb_frames_destroy(&rep);
}

void xbp_security_on_zap(xb_pump_t *p)
{
    if (!p->sec)
        return;
    xb_frames_t *req;
    while ((req = xb_frames_recv(p->sec->zap, ZMQ_DONTWAIT))) {
        if (xb_frames_count(req) >= 2)
            zap_answer(p, req);
        xb_frames_destroy(&req);
    }
}

/* ---- roles ------------------------------------------------------------------------ */

/* The key a message came with (its connection's ZAP user id), NULL when
 * unknown. */
static const keyent_t *sender_key(const xbp_security_t *s, const xb_frames_t *f)
{
    const char *user = xb_frames_property(f, 1, "User-Id");
    char *end = NULL;
    unsigned long i = user && *user ? strtoul(user, &end, 10) : (unsigned long)-1;
    return end && !*end && i < s->n_keys ? &s->keys[i] : NULL;
}

static bool owns_thread(const xbp_security_t *s, const keyent_t *k, xb_proto_val_t thread)
{
    char t[37];
    if (xb_proto_cstr(thread, t, sizeof t) < 0)
        return false;
    uintptr_t v = (uintptr_t)xb_strmap_get(s->owner, t);
    return v && v - 1 == (uintptr_t)(k - s->keys);
}

/* Whether the peer on rid holds a delivery on thread: a listener reads the
 * history of what it works on, nothing else. */
static bool holds_thread(xb_pump_t *p, const xbp_rid_t *rid, xb_proto_val_t thread)
{
    peer_t *peer = xbp_peer_find(p, rid);
    for (xbp_lqlink_t *l = peer ? xbp_lqueue_peek(peer->held) : NULL; l; l = xbp_lqueue_next(l)) {
        const delivery_t *d = XBP_LQ_ITEM(l, delivery_t, plink);
        if (xb_proto_is(thread, d->thread))
            return true;
    }
    return false;
}

/* Why k may not send m ("" when it may). */
static const char *refusal(xb_pump_t *p, const xbp_rid_t *rid, const keyent_t *k,
                           const xb_proto_msg_t *m)
{
    if (!k)
        return "this connection's key is not known";
    if (k->role == XBP_ROLE_ADMIN || m->cmd == XB_PROTO_ERROR)
        return "";
    switch (m->cmd) {
    case XB_PROTO_READY:
        if (k->role != XBP_ROLE_LISTENER)
            return "only a listener key may register";
        return xb_proto_is(m->ready.name, p->cfg->listeners[k->listener].name)
                   ? ""
                   : "this key may register only as its own listener";
    case XB_PROTO_HEARTBEAT:
    case XB_PROTO_REPLY:
    case XB_PROTO_DONE:
    case XB_PROTO_FAILED:
    case XB_PROTO_BYE:
        return k->role == XBP_ROLE_LISTENER ? "" : "only a listener key may send this";
    case XB_PROTO_HISTORY:
        if (k->role != XBP_ROLE_LISTENER)
            return "only a listener key may send this";
        return holds_thread(p, rid, m->history.thread)
                   ? ""
                   : "a listener reads the history of the threads of its deliveries in hand only";
    case XB_PROTO_SEND:
    case XB_PROTO_POST:
    case XB_PROTO_ACK:
        return k->role == XBP_ROLE_CLIENT ? "" : "only a client key may send messages";
    case XB_PROTO_CONTROL:
        if (k->role != XBP_ROLE_CLIENT)
            return "only a client or admin key may send CONTROL";
        if (xb_proto_is(m->control.verb, "ping"))
            return "";
        if ((xb_proto_is(m->control.verb, "history") || xb_proto_is(m->control.verb, "memory")) &&
            m->n == 1 && owns_thread(p->sec, k, xb_proto_control_arg(m, 0)))
            return "";
        return "a client key may read only the history of its own threads; every other verb "
               "needs an admin key";
    default:
        return "not allowed";
    }
}

/* The answer a refused command gets: its documented refusal. */
static void answer_denied(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m,
                          const char *why)
{
    char req[128] = "";
    if (m->cmd == XB_PROTO_SEND || m->cmd == XB_PROTO_POST) {
        origin_t o = {.is_client = true, .rid = *rid};
        xb_strlcpy(o.name, "console", sizeof o.name);
        xb_proto_cstr(m->send.req, req, sizeof req);
        xbp_route_reject(p, rid, req, &o, XB_ERR_DENIED, why);
        return;
    }
    char msg[300];
    snprintf(msg, sizeof msg, "denied: %s", why);
    xb_frames_t *f = NULL;
    if (m->cmd == XB_PROTO_CONTROL) {
        xb_proto_cstr(m->control.req, req, sizeof req);
        f = xb_proto_result(req, "error", msg, strlen(msg));
    } else if (m->cmd == XB_PROTO_READY) {
        f = xb_proto_refused(msg);
    } else if (m->cmd != XB_PROTO_ACK) {
        f = xb_proto_error(xb_proto_word(m->cmd), msg);
    }
    if (f)
        xbp_pump_send_to(p, rid, f);
    xb_frames_destroy(&f);
}

bool xbp_security_admit(xb_pump_t *p, const xbp_rid_t *rid, const xb_frames_t *f,
                        const xb_proto_msg_t *m)
{
    xbp_security_t *s = p->sec;
    if (!s)
        return true;
    const keyent_t *k = sender_key(s, f);
    s->current = k;
    const char *why = refusal(p, rid, k, m);
    if (!why[0])
        return true;
    s->denied++;
    p->errors[XB_ERR_DENIED]++;
    if (p->now_ms - s->denied_logged_ms >= DENY_LOG_MS) {
        XB_WARN("pump", "security: %s from key %s (%s) denied: %s%s", xb_proto_word(m->cmd),
                k ? k->file : "?", k ? role_name(k->role) : "none", why,
                s->denied_unlogged ? " (and earlier attempts not logged)" : "");
        s->denied_logged_ms = p->now_ms;
        s->denied_unlogged = 0;
    } else {
        s->denied_unlogged++;
    }
    answer_denied(p, rid, m, why);
    return false;
}

/* ---- what a client owns ------------------------------------------------------------ */

int xbp_security_current(const xb_pump_t *p)
{
    return p->sec && p->sec->current ? (int)(p->sec->current - p->sec->keys) + 1 : 0;
}

void xbp_security_owns(xb_pump_t *p, int key, const char *thread)
{
    xbp_security_t *s = p->sec;
    if (!s || key <= 0 || (size_t)key > s->n_keys || !thread[0])
        return;
    if (s->owned_n == OWNED_MAX) { /* forget the oldest */
        xb_strmap_delete(s->owner, s->owned[s->owned_head]);
        s->owned_head = (s->owned_head + 1) % OWNED_MAX;
        s->owned_n--;
    }
    char *slot = s->owned[(s->owned_head + s->owned_n) % OWNED_MAX];
    xb_strlcpy(slot, thread, 37);
    if (xb_strmap_put(s->owner, slot, (void *)(uintptr_t)key) == 0)
        s->owned_n++;
}
