/* Multipart ZeroMQ messages of the XB1 protocol (see include/xmlbus/wire.h).
 *
 * Each frame is a zmq_msg_t that never moves, so that a pointer returned by
 * xb_frames_data stays valid while frames are appended or prepended (a small
 * zmq_msg_t keeps its bytes inside the struct, so moving the structs around
 * would move the bytes). The first frames live in a pool inside the message
 * itself: an XB1 message has 3 to 8 frames, so the usual message costs one
 * allocation instead of one per frame.
 *
 * Sending: zmq_msg_send consumes a frame only when it succeeds, and a failure
 * after the first frame of a multipart message cannot be undone. To keep the
 * "f keeps its frames on failure" contract, each frame is sent as a
 * zmq_msg_copy (a reference count for large frames, a 64-byte copy for small
 * ones) and the originals are released only after the last frame went out.
 * ZeroMQ queues multipart messages atomically: once the first frame is
 * accepted the following ones cannot fail with EAGAIN or EHOSTUNREACH (HWM and
 * ROUTER_MANDATORY checks happen on the first frame), so in practice a failure
 * is always on frame 0 and nothing reached the socket. The only failure after
 * frame 0 is the context terminating (ETERM), after which the socket is dead
 * anyway. */
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* A message with more frames than this is drained and refused with EMSGSIZE:
 * no XB1 message needs more (HISTORY-OK carries one frame per slot and
 * max_slots_per_thread defaults to 10000), and it bounds what a hostile peer
 * makes us allocate beyond ZeroMQ's own buffers. */
#define XB_FRAMES_MAX (1u << 20)

/* Bytes of one frame that xb_frames_describe prints. */
#define DESCRIBE_TEXT_MAX 96
#define DESCRIBE_HEX_MAX 32

/* Frames kept inside the message before any is allocated on its own. */
#define POOL_FRAMES 8

struct xb_frames_t {
    zmq_msg_t **msgs; /* the frames in order: order_inline or a heap array */
    size_t count;
    size_t cap;
    unsigned pool_used; /* bit i: pool[i] holds a frame */
    zmq_msg_t *order_inline[POOL_FRAMES];
    zmq_msg_t pool[POOL_FRAMES];
};

xb_frames_t *xb_frames_new(void)
{
    xb_frames_t *f = malloc(sizeof *f);
    if (!f)
        return NULL;
    f->msgs = f->order_inline;
    f->count = 0;
    f->cap = POOL_FRAMES;
    f->pool_used = 0;
    return f;
}

/* A place for one more frame: a free pool slot, else the heap. */
static zmq_msg_t *slot_new(xb_frames_t *f)
{
    for (unsigned i = 0; i < POOL_FRAMES; i++)
        if (!(f->pool_used & (1u << i))) {
            f->pool_used |= 1u << i;
            return &f->pool[i];
        }
    return malloc(sizeof(zmq_msg_t));
}

static void slot_free(xb_frames_t *f, zmq_msg_t *m)
{
    if (m >= f->pool && m < f->pool + POOL_FRAMES)
        f->pool_used &= ~(1u << (unsigned)(m - f->pool));
    else
        free(m);
}

static void frames_clear(xb_frames_t *f)
{
    for (size_t i = 0; i < f->count; i++) {
        zmq_msg_close(f->msgs[i]);
        slot_free(f, f->msgs[i]);
    }
    f->count = 0;
}

void xb_frames_destroy(xb_frames_t **f)
{
    if (!f || !*f)
        return;
    frames_clear(*f);
    if ((*f)->msgs != (*f)->order_inline)
        free((*f)->msgs);
    free(*f);
    *f = NULL;
}

/* Room for one more frame pointer. */
static int frames_reserve(xb_frames_t *f)
{
    if (f->count < f->cap)
        return 0;
    size_t cap = f->cap * 2;
    zmq_msg_t **m;
    if (f->msgs == f->order_inline) {
        m = malloc(cap * sizeof *m);
        if (m)
            memcpy(m, f->order_inline, f->count * sizeof *m);
    } else {
        m = realloc(f->msgs, cap * sizeof *m);
    }
    if (!m)
        return -1;
    f->msgs = m;
    f->cap = cap;
    return 0;
}

/* Moves *msg (an initialised message) into a new heap frame at position at.
 * On failure *msg is closed. */
static int frames_insert(xb_frames_t *f, size_t at, zmq_msg_t *msg)
{
    if (frames_reserve(f) < 0) {
        zmq_msg_close(msg);
        errno = ENOMEM;
        return -1;
    }
    zmq_msg_t *slot = slot_new(f);
    if (!slot) {
        zmq_msg_close(msg);
        errno = ENOMEM;
        return -1;
    }
    zmq_msg_init(slot);
    zmq_msg_move(slot, msg);
    zmq_msg_close(msg);
    memmove(f->msgs + at + 1, f->msgs + at, (f->count - at) * sizeof *f->msgs);
    f->msgs[at] = slot;
    f->count++;
    return 0;
}

static int frames_insert_copy(xb_frames_t *f, size_t at, const void *data, size_t len)
{
    if (!f || (!data && len))
        return -1;
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, len) < 0)
        return -1;
    if (len)
        memcpy(zmq_msg_data(&msg), data, len);
    return frames_insert(f, at, &msg);
}

int xb_frames_add(xb_frames_t *f, const void *data, size_t len)
{
    return frames_insert_copy(f, f ? f->count : 0, data, len);
}

int xb_frames_add_str(xb_frames_t *f, const char *s)
{
    if (!s)
        return -1;
    return xb_frames_add(f, s, strlen(s));
}

int xb_frames_addf(xb_frames_t *f, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    return xb_frames_add_take(f, s, (size_t)n);
}

static void free_cb(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/* Ownership of data is taken in every case: it is freed on failure too. */
int xb_frames_add_take(xb_frames_t *f, void *data, size_t len)
{
    if (!f) {
        free(data);
        return -1;
    }
    zmq_msg_t msg;
    if (!data) {
        if (len)
            return -1;
        zmq_msg_init(&msg);
    } else if (zmq_msg_init_data(&msg, data, len, free_cb, NULL) < 0) {
        free(data);
        return -1;
    }
    return frames_insert(f, f->count, &msg);
}

int xb_frames_add_frame(xb_frames_t *f, const xb_frames_t *src, size_t i)
{
    if (!f || !src || i >= src->count)
        return -1;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    /* Shares the bytes (reference count) for all but tiny frames. */
    if (zmq_msg_copy(&msg, src->msgs[i]) < 0) {
        zmq_msg_close(&msg);
        return -1;
    }
    return frames_insert(f, f->count, &msg);
}

int xb_frames_prepend(xb_frames_t *f, const void *data, size_t len)
{
    return frames_insert_copy(f, 0, data, len);
}

xb_frames_t *xb_frames_new_cmd(const char *cmd)
{
    xb_frames_t *f = xb_frames_new();
    if (!f)
        return NULL;
    if (!cmd || xb_frames_add_str(f, XB_PROTO) < 0 || xb_frames_add_str(f, cmd) < 0)
        xb_frames_destroy(&f);
    return f;
}

size_t xb_frames_count(const xb_frames_t *f)
{
    return f ? f->count : 0;
}

const void *xb_frames_data(const xb_frames_t *f, size_t i)
{
    if (!f || i >= f->count)
        return NULL;
    return zmq_msg_data(f->msgs[i]);
}

const char *xb_frames_property(const xb_frames_t *f, size_t i, const char *name)
{
    if (!f || i >= f->count)
        return NULL;
    return zmq_msg_gets(f->msgs[i], name);
}

size_t xb_frames_size(const xb_frames_t *f, size_t i)
{
    if (!f || i >= f->count)
        return 0;
    return zmq_msg_size(f->msgs[i]);
}

bool xb_frames_eq(const xb_frames_t *f, size_t i, const char *s)
{
    if (!f || !s || i >= f->count)
        return false;
    size_t len = strlen(s);
    return xb_frames_size(f, i) == len && memcmp(xb_frames_data(f, i), s, len) == 0;
}

char *xb_frames_strdup(const xb_frames_t *f, size_t i)
{
    if (!f || i >= f->count)
        return NULL;
    size_t len = xb_frames_size(f, i);
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    if (len)
        memcpy(s, xb_frames_data(f, i), len);
    s[len] = '\0';
    return s;
}

long xb_frames_copy(const xb_frames_t *f, size_t i, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return -1;
    buf[0] = '\0';
    if (!f || i >= f->count)
        return -1;
    size_t len = xb_frames_size(f, i);
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n)
        memcpy(buf, xb_frames_data(f, i), n);
    buf[n] = '\0';
    if (len > cap - 1 || len > (size_t)LONG_MAX)
        return -1;
    return (long)len;
}

/* Strict decimal: an optional '-' then 1..19 digits, nothing else. */
long xb_frames_long(const xb_frames_t *f, size_t i, bool *ok)
{
    bool dummy;
    if (!ok)
        ok = &dummy;
    *ok = false;
    char buf[24];
    long len = xb_frames_copy(f, i, buf, sizeof buf);
    if (len <= 0)
        return -1;
    const char *p = buf[0] == '-' ? buf + 1 : buf;
    if (*p == '\0')
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    errno = 0;
    char *end = NULL;
    long v = strtol(buf, &end, 10);
    if (errno == ERANGE || !end || *end != '\0')
        return -1;
    *ok = true;
    return v;
}

int xb_frames_send(xb_frames_t *f, void *socket, int flags)
{
    if (!f || !socket || f->count == 0) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < f->count; i++) {
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        if (zmq_msg_copy(&copy, f->msgs[i]) < 0) {
            int e = errno;
            zmq_msg_close(&copy);
            errno = e;
            return -1;
        }
        int more = i + 1 < f->count ? ZMQ_SNDMORE : 0;
        if (zmq_msg_send(&copy, socket, flags | more) < 0) {
            int e = errno;
            zmq_msg_close(&copy);
            errno = e;
            return -1;
        }
    }
    frames_clear(f);
    return 0;
}

xb_frames_t *xb_frames_recv(void *socket, int flags)
{
    if (!socket) {
        errno = EINVAL;
        return NULL;
    }
    /* The first frame before anything is allocated: a poll that finds
     * nothing (EAGAIN, the end of every drain) costs no allocation. */
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, socket, flags) < 0) {
        int e = errno;
        zmq_msg_close(&msg);
        errno = e;
        return NULL;
    }
    bool more = zmq_msg_more(&msg);
    xb_frames_t *f = xb_frames_new();
    int err = 0;
    if (!f) {
        zmq_msg_close(&msg);
        err = ENOMEM;
    } else if (frames_insert(f, 0, &msg) < 0) { /* closes msg on failure */
        err = ENOMEM;
    }
    while (more) {
        zmq_msg_init(&msg);
        /* The others are already there (ZeroMQ delivers a multipart message
         * atomically). */
        if (zmq_msg_recv(&msg, socket, 0) < 0) {
            int e = errno;
            zmq_msg_close(&msg);
            xb_frames_destroy(&f);
            errno = err ? err : e;
            return NULL;
        }
        more = zmq_msg_more(&msg);
        if (err || f->count >= XB_FRAMES_MAX) {
            /* Too many frames or no memory: drain the rest, then refuse. */
            zmq_msg_close(&msg);
            if (f)
                frames_clear(f);
            if (!err)
                err = EMSGSIZE;
            continue;
        }
        if (frames_insert(f, f->count, &msg) < 0) {
            frames_clear(f);
            err = ENOMEM;
        }
    }
    if (err) {
        xb_frames_destroy(&f);
        errno = err;
        return NULL;
    }
    return f;
}

bool xb_frames_is_proto(const xb_frames_t *f, size_t at)
{
    return f && at + 1 < f->count && xb_frames_eq(f, at, XB_PROTO);
}

/* A growable string for describe(). */
typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Text unless it holds control bytes other than tab and newlines. */
static bool is_text(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') || p[i] == 0x7f)
            return false;
    return true;
}

static void describe_frame(sbuf_t *b, const unsigned char *p, size_t n)
{
    sb_printf(b, "[%zu]", n);
    if (n > 0 && !is_text(p, n)) {
        sb_put(b, "0x", 2);
        size_t shown = n < DESCRIBE_HEX_MAX ? n : DESCRIBE_HEX_MAX;
        for (size_t i = 0; i < shown; i++)
            sb_printf(b, "%02x", p[i]);
        if (shown < n)
            sb_put(b, "...", 3);
        return;
    }
    size_t shown = n < DESCRIBE_TEXT_MAX ? n : DESCRIBE_TEXT_MAX;
    /* Never cut a UTF-8 sequence in half. */
    while (shown < n && shown > 0 && (p[shown] & 0xC0) == 0x80)
        shown--;
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < shown; i++) {
        switch (p[i]) {
        case '"':
            sb_put(b, "\\\"", 2);
            break;
        case '\\':
            sb_put(b, "\\\\", 2);
            break;
        case '\n':
            sb_put(b, "\\n", 2);
            break;
        case '\r':
            sb_put(b, "\\r", 2);
            break;
        case '\t':
            sb_put(b, "\\t", 2);
            break;
        default:
            sb_put(b, (const char *)p + i, 1);
            break;
        }
    }
    sb_put(b, "\"", 1);
    if (shown < n)
        sb_put(b, "...", 3);
}

/* Format: "N frames: [len]"text" [len]0xhex ..." with long frames cut. */
char *xb_frames_describe(const xb_frames_t *f)
{
    sbuf_t b = {0};
    size_t n = xb_frames_count(f);
    sb_printf(&b, "%zu frame%s:", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        sb_put(&b, " ", 1);
        describe_frame(&b, xb_frames_data(f, i), xb_frames_size(f, i));
    }
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
