/* Journal entries (journal.h): their bytes, and the removals of one loop
 * turn.
 *
 * An entry is "XBJ1" then its fields in a fixed order, each as a u32
 * big-endian length and that many bytes (numbers in decimal), so that a field
 * may hold any byte and a new field can only be added at the end. */
#include "journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "str.h"

#define MAGIC "XBJ1"
#define MAGIC_LEN 4

enum {
    F_MSG_ID,
    F_LISTENER,
    F_CHAIN,
    F_THREAD,
    F_DEPTH,
    F_FLAGS, /* "e" error payload, "c" has a client, "C" origin is a client, "s" system,
                "a" the client acknowledges, "A" an answer to the client */
    F_ROOT,
    F_CLIENT,
    F_CLIENT_HOP,
    F_CLIENT_THREAD,
    F_ORIGIN_RID,
    F_ORIGIN_NAME,
    F_ORIGIN_CHAIN,
    F_ORIGIN_THREAD,
    F_COUNT,
    F_LAST_ERROR,
    F_ENVELOPE,
    F__COUNT
};

typedef struct {
    const void *p;
    size_t len;
} field_t;

static field_t str_field(const char *s)
{
    return (field_t){s ? s : "", s ? strlen(s) : 0};
}

int xbp_jentry_encode(const xbp_jentry_t *e, char **out, size_t *len)
{
    char depth[24], count[24], flags[12];
    snprintf(depth, sizeof depth, "%d", e->depth);
    snprintf(count, sizeof count, "%ld", e->count);
    size_t nf = 0;
    if (e->error_payload)
        flags[nf++] = 'e';
    if (e->has_client)
        flags[nf++] = 'c';
    if (e->origin.is_client)
        flags[nf++] = 'C';
    if (e->origin.is_system)
        flags[nf++] = 's';
    if (e->client_acks)
        flags[nf++] = 'a';
    if (e->to_client)
        flags[nf++] = 'A';
    flags[nf] = '\0';
    field_t f[F__COUNT] = {
        [F_MSG_ID] = str_field(e->msg_id),
        [F_LISTENER] = str_field(e->listener),
        [F_CHAIN] = str_field(e->chain),
        [F_THREAD] = str_field(e->thread),
        [F_DEPTH] = str_field(depth),
        [F_FLAGS] = str_field(flags),
        [F_ROOT] = str_field(e->root),
        [F_CLIENT] = {e->client.data, e->has_client ? e->client.len : 0},
        [F_CLIENT_HOP] = str_field(e->client_hop),
        [F_CLIENT_THREAD] = str_field(e->client_thread),
        [F_ORIGIN_RID] = {e->origin.rid.data, e->origin.rid.len},
        [F_ORIGIN_NAME] = str_field(e->origin.name),
        [F_ORIGIN_CHAIN] = str_field(e->origin.chain),
        [F_ORIGIN_THREAD] = str_field(e->origin.thread),
        [F_COUNT] = str_field(count),
        [F_LAST_ERROR] = str_field(e->last_error),
        [F_ENVELOPE] = {e->envelope, e->len},
    };
    size_t total = MAGIC_LEN;
    for (int i = 0; i < F__COUNT; i++)
        total += 4 + f[i].len;
    char *buf = malloc(total);
    if (!buf)
        return -1;
    memcpy(buf, MAGIC, MAGIC_LEN);
    size_t at = MAGIC_LEN;
    for (int i = 0; i < F__COUNT; i++) {
        uint32_t n = (uint32_t)f[i].len;
        unsigned char *h = (unsigned char *)buf + at;
        h[0] = (unsigned char)(n >> 24);
        h[1] = (unsigned char)(n >> 16);
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        if (n)
            memcpy(buf + at + 4, f[i].p, n);
        at += 4 + n;
    }
    *out = buf;
    *len = total;
    return 0;
}

/* Copies a text field into a fixed buffer: -1 when it does not fit. */
static int copy_text(char *dst, size_t cap, const field_t *f)
{
    if (f->len >= cap || memchr(f->p, '\0', f->len))
        return -1;
    memcpy(dst, f->p, f->len);
    dst[f->len] = '\0';
    return 0;
}

static char *dup_field(const field_t *f)
{
    char *s = malloc(f->len + 1);
    if (s) {
        if (f->len)
            memcpy(s, f->p, f->len);
        s[f->len] = '\0';
    }
    return s;
}

static int decode_fields(const unsigned char *b, size_t len, field_t *f)
{
    if (len < MAGIC_LEN || memcmp(b, MAGIC, MAGIC_LEN) != 0)
        return -1;
    size_t at = MAGIC_LEN;
    for (int i = 0; i < F__COUNT; i++) {
        if (len - at < 4)
            return -1;
        size_t n = (size_t)b[at] << 24 | (size_t)b[at + 1] << 16 | (size_t)b[at + 2] << 8 |
                   (size_t)b[at + 3];
        at += 4;
        if (len - at < n)
            return -1;
        f[i] = (field_t){b + at, n};
        at += n;
    }
    return 0;
}

static bool has_flag(const field_t *f, char c)
{
    return f->len && memchr(f->p, c, f->len) != NULL;
}

int xbp_jentry_decode(const void *bytes, size_t len, xbp_jentry_t *e)
{
    memset(e, 0, sizeof *e);
    field_t f[F__COUNT];
    char num[24];
    if (decode_fields(bytes, len, f) != 0 || f[F_CLIENT].len > XB_RID_MAX ||
        f[F_ORIGIN_RID].len > XB_RID_MAX ||
        copy_text(e->msg_id, sizeof e->msg_id, &f[F_MSG_ID]) != 0 || !e->msg_id[0] ||
        copy_text(e->listener, sizeof e->listener, &f[F_LISTENER]) != 0 ||
        copy_text(e->thread, sizeof e->thread, &f[F_THREAD]) != 0 ||
        copy_text(e->client_hop, sizeof e->client_hop, &f[F_CLIENT_HOP]) != 0 ||
        copy_text(e->client_thread, sizeof e->client_thread, &f[F_CLIENT_THREAD]) != 0 ||
        copy_text(e->origin.name, sizeof e->origin.name, &f[F_ORIGIN_NAME]) != 0 ||
        copy_text(e->origin.thread, sizeof e->origin.thread, &f[F_ORIGIN_THREAD]) != 0 ||
        copy_text(e->last_error, sizeof e->last_error, &f[F_LAST_ERROR]) != 0 ||
        copy_text(num, sizeof num, &f[F_DEPTH]) != 0)
        return -1;
    e->depth = atoi(num);
    if (copy_text(num, sizeof num, &f[F_COUNT]) != 0)
        return -1;
    e->count = atol(num);
    e->error_payload = has_flag(&f[F_FLAGS], 'e');
    e->has_client = has_flag(&f[F_FLAGS], 'c');
    e->origin.is_client = has_flag(&f[F_FLAGS], 'C');
    e->origin.is_system = has_flag(&f[F_FLAGS], 's');
    e->client_acks = has_flag(&f[F_FLAGS], 'a');
    e->to_client = has_flag(&f[F_FLAGS], 'A');
    memcpy(e->client.data, f[F_CLIENT].p, f[F_CLIENT].len);
    e->client.len = f[F_CLIENT].len;
    memcpy(e->origin.rid.data, f[F_ORIGIN_RID].p, f[F_ORIGIN_RID].len);
    e->origin.rid.len = f[F_ORIGIN_RID].len;
    e->chain = dup_field(&f[F_CHAIN]);
    e->root = dup_field(&f[F_ROOT]);
    e->origin.chain = f[F_ORIGIN_CHAIN].len ? dup_field(&f[F_ORIGIN_CHAIN]) : NULL;
    e->envelope = dup_field(&f[F_ENVELOPE]);
    e->len = f[F_ENVELOPE].len;
    if (!e->chain || !e->root || !e->envelope || (f[F_ORIGIN_CHAIN].len && !e->origin.chain)) {
        xbp_jentry_clear(e);
        return -1;
    }
    return 0;
}

void xbp_jentry_clear(xbp_jentry_t *e)
{
    free(e->chain);
    free(e->root);
    free(e->envelope);
    xbp_origin_clear(&e->origin);
    e->chain = e->root = e->envelope = NULL;
}

void xbp_jentry_answer(xbp_jentry_t *e, const char *msg_id, const xbp_rid_t *client,
                       const char *thread, const char *envelope, size_t len)
{
    memset(e, 0, sizeof *e);
    xb_strlcpy(e->msg_id, msg_id, sizeof e->msg_id);
    e->to_client = true;
    e->has_client = true;
    e->client_acks = true;
    e->client = *client;
    xb_strlcpy(e->thread, thread, sizeof e->thread);
    e->envelope = (char *)envelope; /* encoding only reads it */
    e->len = len;
}

int xbp_journal_put(xb_pump_t *p, const char *id, const xbp_jentry_t *e, xb_error_t *err)
{
    char *bytes = NULL;
    size_t len = 0;
    if (xbp_jentry_encode(e, &bytes, &len) != 0)
        return xb_error_set(err, XB_ERR_NOMEM, 0, "out of memory");
    xb_journal_entry_t je = {id, bytes, len};
    int rc = xb_backend_journal_put(p->backend, &je, err);
    free(bytes);
    return rc;
}

void xbp_journal_note_error(xb_pump_t *p, const delivery_t *d, const char *why)
{
    if (!d->journaled)
        return;
    const conv_t *c = d->conv;
    xbp_jentry_t e = {.chain = d->chain,
                      .depth = d->depth,
                      .error_payload = d->error_payload,
                      .root = c ? c->root : "",
                      .has_client = c && c->has_client,
                      .client_acks = c && c->client_acks,
                      .origin = d->origin,
                      .count = d->redelivered,
                      .envelope = d->envelope,
                      .len = d->len};
    xb_strlcpy(e.msg_id, d->msg_id, sizeof e.msg_id);
    xb_strlcpy(e.listener, p->listeners[d->listener].cfg->name, sizeof e.listener);
    xb_strlcpy(e.thread, d->thread, sizeof e.thread);
    xb_strlcpy(e.last_error, why, sizeof e.last_error);
    if (e.has_client) {
        e.client = c->client;
        xb_strlcpy(e.client_hop, c->client_hop, sizeof e.client_hop);
        xb_strlcpy(e.client_thread, c->client_thread, sizeof e.client_thread);
    }
    xb_error_t err;
    if (xbp_journal_put(p, d->msg_id, &e, &err) != 0)
        XB_WARN("pump", "journal entry %s: last error not noted: %s", d->msg_id, err.message);
}

/* ---- removals per turn ---------------------------------------------------- */

bool xbp_journal_on(const xb_pump_t *p)
{
    return p->journal;
}

void xbp_journal_done(xb_pump_t *p, const char *msg_id)
{
    if (p->n_jdone == p->cap_jdone) {
        size_t cap = p->cap_jdone ? p->cap_jdone * 2 : 64;
        char(*ids)[37] = realloc(p->jdone, cap * sizeof *ids);
        if (!ids) {
            /* Left in the journal: a restart delivers it again, which a
             * handler that deduplicates by message id shrugs off. */
            XB_WARN("pump", "journal entry %s not removed: out of memory", msg_id);
            return;
        }
        p->jdone = ids;
        p->cap_jdone = cap;
    }
    xb_strlcpy(p->jdone[p->n_jdone++], msg_id, 37);
}

#define REMOVE_CHUNK 1024

void xbp_journal_flush(xb_pump_t *p)
{
    const char *ids[REMOVE_CHUNK];
    while (p->n_jdone > 0) {
        size_t m = p->n_jdone < REMOVE_CHUNK ? p->n_jdone : REMOVE_CHUNK;
        size_t first = p->n_jdone - m;
        for (size_t i = 0; i < m; i++)
            ids[i] = p->jdone[first + i];
        xb_error_t err;
        if (xb_backend_journal_remove(p->backend, m, ids, &err) != 0) {
            if (p->now_ms - p->journal_warned_ms >= 1000) {
                p->journal_warned_ms = p->now_ms;
                XB_WARN("pump", "journal: %zu entries not removed yet: %s", p->n_jdone,
                        err.message);
            }
            return;
        }
        p->n_jdone = first;
    }
}

void xbp_journal_free(xb_pump_t *p)
{
    free(p->jdone);
    p->jdone = NULL;
    p->n_jdone = p->cap_jdone = 0;
}
