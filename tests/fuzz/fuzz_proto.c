/* Fuzz target: the XB1 decoder (bus/proto.c). The input is a multipart
 * message: byte 0 is the separator, byte 1 picks who sends it (to the pump,
 * from the pump, either), the rest are the frames, split on the separator.
 * The message is decoded with its XB1 tag at frame 0 (a DEALER's view) and
 * at frame 1 (behind a ROUTER's routing id).
 * Promises checked: every decoded value lies inside its frame, groups stay
 * in range, and a refusal always says why. */
#include <string.h>

#include "fuzz.h"
#include "proto.h"
#include "wire.h"

/* True when v is absent or lies inside one of the frames. */
static int inside_frames(const xb_frames_t *f, xb_proto_val_t v)
{
    if (!v.ptr)
        return v.len == 0;
    for (size_t i = 0; i < xb_frames_count(f); i++) {
        const char *d = xb_frames_data(f, i);
        size_t n = xb_frames_size(f, i);
        if (d && v.ptr >= d && v.len <= n && (size_t)(v.ptr - d) <= n - v.len)
            return 1;
    }
    return 0;
}

static void check_decoded(const xb_frames_t *f, size_t at, const xb_proto_msg_t *m)
{
    XB_FUZZ_CHECK(m->frames == f && m->at == at);
    XB_FUZZ_CHECK(m->cmd >= 0 && m->cmd < XB_PROTO__COUNT && xb_proto_word(m->cmd));
    char buf[64];
    for (size_t i = 0; i < XB_PROTO_FIELDS_MAX; i++) {
        XB_FUZZ_CHECK(inside_frames(f, m->field[i]));
        xb_proto_cstr(m->field[i], buf, sizeof buf);
        XB_FUZZ_CHECK(memchr(buf, '\0', sizeof buf) != NULL);
    }
    for (size_t i = 0; i < m->n; i++) {
        for (size_t k = 0; k < m->group_len; k++) {
            xb_proto_val_t v = xb_proto_item(m, i, k);
            XB_FUZZ_CHECK(v.ptr != NULL && inside_frames(f, v));
            XB_FUZZ_CHECK(xb_proto_item_frame(m, i, k) < xb_frames_count(f));
        }
    }
    xb_proto_val_t past = xb_proto_item(m, m->n, 0);
    XB_FUZZ_CHECK(past.ptr == NULL && past.len == 0);
}

static void decode_at(const xb_frames_t *f, size_t at, xb_proto_dir_t from)
{
    xb_proto_msg_t m;
    xb_proto_error_t e;
    if (xb_proto_decode(f, at, from, &m, &e) == 0) {
        check_decoded(f, at, &m);
        return;
    }
    XB_FUZZ_CHECK(memchr(e.message, '\0', sizeof e.message) && e.message[0]);
    XB_FUZZ_CHECK(memchr(e.what, '\0', sizeof e.what) && e.what[0]);
    xb_frames_t *reply = xb_proto_error_reply(&e);
    XB_FUZZ_CHECK(reply || e.cmd == XB_PROTO_ERROR);
    xb_frames_destroy(&reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t sep = data[0];
    xb_proto_dir_t from = (xb_proto_dir_t)(1 + data[1] % 3);
    xb_frames_t *f = xb_frames_new();
    XB_FUZZ_CHECK(f != NULL);
    size_t start = 2;
    for (size_t i = 2; i <= size; i++) {
        if (i == size || data[i] == sep) {
            XB_FUZZ_CHECK(xb_frames_add(f, data + start, i - start) == 0);
            start = i + 1;
        }
    }
    decode_at(f, 0, from);
    decode_at(f, 1, from);
    xb_frames_destroy(&f);
    return 0;
}
