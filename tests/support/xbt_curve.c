/* The CURVE server of the tests (see xbt_curve.h). */
#include "xbt_curve.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <zmq.h>

#define MAX_FRAMES 16

typedef struct {
    zmq_msg_t part[MAX_FRAMES];
    size_t n;
} frames_t;

static int recv_frames(void *sock, frames_t *f)
{
    f->n = 0;
    for (bool more = true; more;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            return -1;
        }
        more = zmq_msg_more(&m);
        if (f->n < MAX_FRAMES)
            f->part[f->n++] = m;
        else
            zmq_msg_close(&m);
    }
    return 0;
}

static void frames_close(frames_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        zmq_msg_close(&f->part[i]);
    f->n = 0;
}

static bool frame_is(const frames_t *f, size_t i, const char *s)
{
    zmq_msg_t *m = (zmq_msg_t *)&f->part[i];
    return i < f->n && zmq_msg_size(m) == strlen(s) && memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

static void send_frame(void *sock, const void *data, size_t len, bool more)
{
    zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0);
}

static void send_str(void *sock, const char *s, bool more)
{
    send_frame(sock, s, strlen(s), more);
}

/* ZAP request: version, request id, domain, address, identity, mechanism,
 * credentials (the client's 32-byte public key). Reply: version, request id,
 * status code, status text, user id, metadata. */
static void answer_zap(xbt_curve_server_t *s)
{
    frames_t f;
    if (recv_frames(s->zap, &f) != 0)
        return;
    atomic_fetch_add(&s->zap_requests, 1);
    bool ok = false;
    if (f.n >= 7 && frame_is(&f, 5, "CURVE") && zmq_msg_size(&f.part[6]) == 32) {
        char z85[XB_KEY_TEXT];
        zmq_z85_encode(z85, zmq_msg_data(&f.part[6]), 32);
        ok = strcmp(z85, s->allowed) == 0;
    }
    if (!ok)
        atomic_fetch_add(&s->zap_refusals, 1);
    send_str(s->zap, "1.0", true);
    send_frame(s->zap, f.n > 1 ? zmq_msg_data(&f.part[1]) : "",
               f.n > 1 ? zmq_msg_size(&f.part[1]) : 0, true);
    send_str(s->zap, ok ? "200" : "400", true);
    send_str(s->zap, ok ? "OK" : "key not allowed", true);
    send_str(s->zap, ok ? "client" : "", true);
    send_str(s->zap, "", false);
    frames_close(&f);
}

/* CONTROL: peer, XB1, CONTROL, request id, verb ... -> RESULT ok <pong/>. */
static void answer_request(xbt_curve_server_t *s)
{
    frames_t f;
    if (recv_frames(s->router, &f) != 0)
        return;
    if (f.n >= 3 && frame_is(&f, 1, "XB1") && frame_is(&f, 2, "READY"))
        atomic_fetch_add(&s->readys, 1);
    if (f.n >= 5 && frame_is(&f, 1, "XB1") && frame_is(&f, 2, "CONTROL")) {
        send_frame(s->router, zmq_msg_data(&f.part[0]), zmq_msg_size(&f.part[0]), true);
        send_str(s->router, "XB1", true);
        send_str(s->router, "RESULT", true);
        send_frame(s->router, zmq_msg_data(&f.part[3]), zmq_msg_size(&f.part[3]), true);
        send_str(s->router, "ok", true);
        send_str(s->router, "<pong/>", false);
    }
    frames_close(&f);
}

static void *server_main(void *arg)
{
    xbt_curve_server_t *s = arg;
    while (!atomic_load(&s->stop)) {
        zmq_pollitem_t items[] = {{.socket = s->router, .events = ZMQ_POLLIN},
                                  {.socket = s->zap, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 2, 100) < 0 && errno != EINTR)
            break;
        if (items[1].revents & ZMQ_POLLIN)
            answer_zap(s);
        if (items[0].revents & ZMQ_POLLIN)
            answer_request(s);
    }
    return NULL;
}

int xbt_curve_server_start(xbt_curve_server_t *s, const char *server_sec, const char *allowed_pub)
{
    xb_key_t own, allowed;
    xb_error_t err;
    if (xb_key_load(server_sec, &own, &err) != 0 || xb_key_load(allowed_pub, &allowed, &err) != 0) {
        fprintf(stderr, "server keys: %s\n", err.message);
        return -1;
    }
    memcpy(s->allowed, allowed.public_key, sizeof s->allowed);
    s->ctx = zmq_ctx_new();
    /* The ZAP handler first: the server asks it about every handshake. */
    s->zap = zmq_socket(s->ctx, ZMQ_REP);
    s->router = zmq_socket(s->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(s->zap, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(s->zap, "inproc://zeromq.zap.01") != 0 ||
        xb_key_apply_server(s->router, &own, 0, &err) != 0 ||
        zmq_bind(s->router, "tcp://127.0.0.1:*") != 0) {
        fprintf(stderr, "server: %s %s\n", err.message, zmq_strerror(errno));
        return -1;
    }
    xb_key_wipe(&own);
    size_t len = sizeof s->endpoint;
    zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, s->endpoint, &len);
    return pthread_create(&s->thread, NULL, server_main, s) == 0 ? 0 : -1;
}

void xbt_curve_server_stop(xbt_curve_server_t *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    zmq_close(s->router);
    zmq_close(s->zap);
    zmq_ctx_term(s->ctx);
}

int xbt_curve_save_key(const char *dir, const char *name, char *pub, char *sec)
{
    xb_key_t k;
    xb_error_t err;
    int rc = xb_key_generate(&k, &err);
    if (rc == 0)
        rc = xb_key_save(&k, dir, name, pub, sec, 512, &err);
    if (rc != 0)
        fprintf(stderr, "keys: %s\n", err.message);
    xb_key_wipe(&k);
    return rc;
}
