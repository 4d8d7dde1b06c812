/* CONTROL requests from clients (threads, history, stats, backend-info, ping,
 * shutdown, the dead letters) and HISTORY requests from listeners. Bodies are XML documents
 * written with libxml2's xmlTextWriter, so every value is escaped. */
#include "pump_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "log.h"
#include "pipeline.h"
#include "redeliver.h"
#include "xmlbus/slot.h"

/* A page of CONTROL threads: each thread listed costs three backend reads
 * in the pump's loop, so pages are small by default and bounded. */
#define THREADS_PAGE_DEFAULT 100
#define THREADS_PAGE_MAX 1000
/* Most slots a history (CONTROL history, HISTORY-OK) carries: the pump reads
 * and sends them in its loop, and a HISTORY-OK must stay far below the
 * codec's bound on a message's frames. */
#define HISTORY_SLOTS_MAX 10000

typedef struct {
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
} body_t;

static int body_open(body_t *b, const char *root)
{
    b->buf = xmlBufferCreate();
    b->w = b->buf ? xmlNewTextWriterMemory(b->buf, 0) : NULL;
    if (!b->w)
        return -1;
    if (xmlTextWriterStartDocument(b->w, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElement(b->w, BAD_CAST root) < 0)
        return -1;
    return 0;
}

static void body_close(body_t *b)
{
    if (b->w)
        xmlFreeTextWriter(b->w);
    if (b->buf)
        xmlBufferFree(b->buf);
    b->w = NULL;
    b->buf = NULL;
}

static int attr(body_t *b, const char *name, const char *value)
{
    return xmlTextWriterWriteAttribute(b->w, BAD_CAST name, BAD_CAST(value ? value : "")) < 0 ? -1
                                                                                              : 0;
}

static int attr_u64(body_t *b, const char *name, unsigned long long v)
{
    char s[32];
    snprintf(s, sizeof s, "%llu", v);
    return attr(b, name, s);
}

static void reply(xb_pump_t *p, const xbp_rid_t *rid, const char *req, const char *status,
                  const void *body, size_t len)
{
    xb_frames_t *f = xb_proto_result(req, status, body, len);
    if (f)
        xbp_client_send(p, rid, &f, NULL, NULL);
    xb_frames_destroy(&f);
}

static void reply_error(xb_pump_t *p, const xbp_rid_t *rid, const char *req, const char *msg)
{
    reply(p, rid, req, "error", msg, strlen(msg));
}

/* Answers with the body b when writing it went well (written), else with the
 * error failure; closes b either way. */
static void reply_body(xb_pump_t *p, const xbp_rid_t *rid, const char *req, body_t *b, bool written,
                       const char *failure)
{
    if (!written) {
        reply_error(p, rid, req, failure);
    } else if (xmlTextWriterEndDocument(b->w) < 0) {
        reply_error(p, rid, req, "could not write the answer");
    } else {
        xmlTextWriterFlush(b->w);
        reply(p, rid, req, "ok", xmlBufferContent(b->buf), (size_t)xmlBufferLength(b->buf));
    }
    body_close(b);
}

/* Timestamp of the last slot of a thread, 0 if unknown. */
static long long last_activity(xb_pump_t *p, const char *thread, long len)
{
    if (len <= 0)
        return 0;
    xb_blob_t blob = {0};
    if (xb_backend_buffer_get_slot(p->backend, thread, len - 1, &blob, NULL) != 0)
        return 0;
    xb_slot_t *s = xb_slot_decode(blob.data, blob.len, len - 1, NULL);
    free(blob.data);
    long long ts = s ? (long long)xb_slot_timestamp_us(s) : 0;
    xb_slot_destroy(&s);
    return ts;
}

static int write_thread(xb_pump_t *p, body_t *b, const char *uuid)
{
    long len = 0;
    char *chain = NULL;
    xb_backend_buffer_thread_len(p->backend, uuid, &len, NULL);
    xb_backend_registry_get_chain(p->backend, uuid, &chain, NULL);
    int rc = 0;
    if (xmlTextWriterStartElement(b->w, BAD_CAST "thread") < 0 || attr(b, "uuid", uuid) ||
        attr(b, "chain", chain ? chain : "") || attr_u64(b, "slots", (unsigned long long)len) ||
        attr_u64(b, "last-activity-us", (unsigned long long)last_activity(p, uuid, len)) ||
        xmlTextWriterEndElement(b->w) < 0)
        rc = -1;
    free(chain);
    return rc;
}

/* The page size of `threads`: 1..THREADS_PAGE_MAX, or 0 when s is not one. */
static size_t page_size(const char *s)
{
    size_t n = 0;
    for (; *s >= '0' && *s <= '9' && n <= THREADS_PAGE_MAX; s++)
        n = n * 10 + (size_t)(*s - '0');
    return *s || n > THREADS_PAGE_MAX ? 0 : n;
}

/* threads [cursor [count]]: one page of the listing, never the whole store
 * (a SCAN of every key stalled the loop for 0.4 s at 200 000 threads). */
static void control_threads(xb_pump_t *p, const xbp_rid_t *rid, const char *req,
                            const char *const *args, size_t n)
{
    const char *cursor = n > 0 ? args[0] : "0";
    size_t count = n > 1 ? page_size(args[1]) : THREADS_PAGE_DEFAULT;
    if (count == 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "threads: the page size must be 1..%d", THREADS_PAGE_MAX);
        reply_error(p, rid, req, msg);
        return;
    }
    xb_error_t err;
    xb_str_list_t list = {0};
    char next[XB_BACKEND_CURSOR_MAX];
    if (xb_backend_buffer_scan_threads(p->backend, cursor, count, &list, next, &err) != 0) {
        reply_error(p, rid, req, err.message);
        return;
    }
    body_t b = {0};
    int rc = body_open(&b, "threads");
    if (rc == 0)
        rc = attr(&b, "cursor", next) || attr_u64(&b, "count", list.count);
    for (size_t i = 0; rc == 0 && i < list.count; i++)
        rc = write_thread(p, &b, list.items[i]);
    reply_body(p, rid, req, &b, rc == 0, "could not write the thread list");
    xb_str_list_free(&list);
}

/* 0 when the history of thread may be read whole, else -1 with *err set:
 * the length is one cheap read, the slots may be many. */
static int history_bounded(xb_pump_t *p, const char *thread, xb_error_t *err)
{
    long len = 0;
    if (xb_backend_buffer_thread_len(p->backend, thread, &len, err) != 0)
        return -1;
    if (len > HISTORY_SLOTS_MAX)
        return xb_error_set(err, XB_ERR_LIMIT, 0,
                            "thread %.40s has %ld slots, more than the %d a history carries",
                            thread, len, HISTORY_SLOTS_MAX);
    return 0;
}

/* Writes the slots of thread as <history> into b. */
static int write_history(xb_pump_t *p, body_t *b, const char *thread, xb_error_t *err)
{
    xb_blob_list_t blobs = {0};
    if (xb_backend_buffer_get_thread(p->backend, thread, &blobs, err) != 0)
        return -1;
    int rc = attr(b, "thread", thread);
    for (size_t i = 0; rc == 0 && i < blobs.count; i++) {
        xb_slot_t *s = xb_slot_decode(blobs.items[i].data, blobs.items[i].len, (long)i, err);
        char *xml = NULL;
        size_t len = 0;
        if (!s || xb_slot_to_xml(s, &xml, &len, err) != 0 ||
            xmlTextWriterWriteRawLen(b->w, BAD_CAST xml, (int)len) < 0)
            rc = -1;
        free(xml);
        xb_slot_destroy(&s);
    }
    xb_blob_list_free(&blobs);
    return rc;
}

static void control_history(xb_pump_t *p, const xbp_rid_t *rid, const char *req,
                            const char *const *args, size_t n)
{
    (void)n;
    const char *thread = args[0];
    xb_error_t err;
    xb_error_clear(&err);
    bool exists = false;
    if (xb_backend_buffer_thread_exists(p->backend, thread, &exists, &err) != 0) {
        reply_error(p, rid, req, err.message);
        return;
    }
    if (!exists) {
        char msg[128];
        snprintf(msg, sizeof msg, "no thread %.40s", thread);
        reply_error(p, rid, req, msg);
        return;
    }
    if (history_bounded(p, thread, &err) != 0) {
        reply_error(p, rid, req, err.message);
        return;
    }
    body_t b = {0};
    bool written = body_open(&b, "history") == 0 && write_history(p, &b, thread, &err) == 0;
    reply_body(p, rid, req, &b, written,
               err.message[0] ? err.message : "could not write the history");
}

/* memory THREAD: the working memory of the thread's conversation
 * (docs/pipelines.md), each entry's element inside an <entry name="...">. */
static void control_memory(xb_pump_t *p, const xbp_rid_t *rid, const char *req,
                           const char *const *args, size_t n)
{
    (void)n;
    const char *thread = args[0];
    xb_error_t err;
    xb_error_clear(&err);
    char *root = NULL;
    if (xb_registry_root_of(p->registry, thread, &root, &err) != 0 || !root) {
        /* ended with memory.keep: its client's thread is remembered (conv.c) */
        const char *kept = xbp_conv_kept_root(p, thread);
        free(root);
        root = kept ? strdup(kept) : NULL;
    }
    if (!root) {
        char msg[160];
        snprintf(msg, sizeof msg, "no conversation of thread %.40s (unknown, or it ended)", thread);
        reply_error(p, rid, req, msg);
        return;
    }
    xb_wmem_list_t list = {0};
    if (xb_backend_wmem_list(p->backend, root, &list, &err) != 0) {
        reply_error(p, rid, req, err.message);
        free(root);
        return;
    }
    body_t b = {0};
    bool written = body_open(&b, "memory") == 0 && attr(&b, "thread", thread) == 0 &&
                   attr(&b, "conversation", root) == 0;
    for (size_t i = 0; written && i < list.count; i++)
        written = xmlTextWriterStartElement(b.w, BAD_CAST "entry") >= 0 &&
                  attr(&b, "name", list.items[i].name) == 0 &&
                  xmlTextWriterWriteRawLen(b.w, BAD_CAST list.items[i].data.data,
                                           (int)list.items[i].data.len) >= 0 &&
                  xmlTextWriterEndElement(b.w) >= 0;
    xb_wmem_list_free(&list);
    free(root);
    reply_body(p, rid, req, &b, written, "could not write the memory");
}

static int write_listener_stats(xb_pump_t *p, body_t *b, const lstn_t *l)
{
    long processes = 0;
    for (peer_t *peer = p->peers; peer; peer = peer->next)
        if (peer->listener == l->index)
            processes++;
    if (xmlTextWriterStartElement(b->w, BAD_CAST "listener") < 0 || attr(b, "name", l->cfg->name) ||
        attr_u64(b, "delivered", l->delivered) || attr_u64(b, "responded", l->replies) ||
        attr_u64(b, "messages-out", l->messages_out) || attr_u64(b, "done", l->done) ||
        attr_u64(b, "failed", l->failed) || attr_u64(b, "timeouts", l->timeouts) ||
        attr_u64(b, "crashes", l->crashes) ||
        attr_u64(b, "in-flight", (unsigned long long)l->in_flight) ||
        attr_u64(b, "queued", (unsigned long long)xbp_lqueue_len(l->queue)) ||
        attr_u64(b, "restarts", l->restarts) ||
        attr_u64(b, "processes", (unsigned long long)processes) ||
        attr(b, "cpu-bound", l->cfg->cpu_bound ? "true" : "false"))
        return -1;
    for (int c = 1; c < XB_ERR__COUNT; c++) {
        if (!l->errors[c])
            continue;
        if (xmlTextWriterStartElement(b->w, BAD_CAST "error") < 0 ||
            attr(b, "code", xb_code_name((xb_code_t)c)) || attr_u64(b, "count", l->errors[c]) ||
            xmlTextWriterEndElement(b->w) < 0)
            return -1;
    }
    uint64_t now = p->now_ms;
    for (peer_t *peer = p->peers; peer; peer = peer->next) {
        if (peer->listener != l->index)
            continue;
        if (xmlTextWriterStartElement(b->w, BAD_CAST "worker") < 0 ||
            attr_u64(b, "pid", (unsigned long long)peer->pid) ||
            attr(b, "state",
                 xbp_peer_state_name(peer->in_flight > 0 ? XBP_PEER_BUSY : peer->state)) ||
            attr_u64(b, "handled", peer->handled) ||
            attr_u64(b, "restarts", peer->child ? peer->child->restarts : 0) ||
            attr_u64(b, "busy-ms", peer->in_flight > 0 ? now - peer->busy_since_ms : 0) ||
            attr(b, "started-by", peer->child ? "pump" : "elsewhere") ||
            xmlTextWriterEndElement(b->w) < 0)
            return -1;
    }
    return xmlTextWriterEndElement(b->w) < 0 ? -1 : 0;
}

static void control_stats(xb_pump_t *p, const xbp_rid_t *rid, const char *req,
                          const char *const *args, size_t n)
{
    (void)args;
    (void)n;
    body_t b = {0};
    xbp_pipes_stats_t ps;
    xbp_pipelines_stats(p, &ps);
    int rc = body_open(&b, "stats");
    if (rc == 0)
        rc = attr(&b, "organism", p->cfg->name) ||
             attr_u64(&b, "uptime-s", (p->now_ms - p->started_ms) / 1000) ||
             attr_u64(&b, "received", p->received) || attr_u64(&b, "accepted", p->accepted) ||
             attr_u64(&b, "rejected", p->rejected) || attr_u64(&b, "routed", p->routed) ||
             attr_u64(&b, "to-clients", p->to_clients) ||
             attr_u64(&b, "undeliverable", p->undeliverable) || attr_u64(&b, "late", p->late) ||
             attr_u64(&b, "client-held", p->client_held) ||
             attr_u64(&b, "client-held-bytes", p->client_held_bytes) ||
             attr_u64(&b, "client-expired", p->client_expired) ||
             attr_u64(&b, "client-unanswered", p->client_unanswered) ||
             attr_u64(&b, "client-unacked", p->client_unacked) ||
             attr(&b, "journal", xbp_journal_on(p) ? "on" : "off") ||
             attr_u64(&b, "journal-sent-again", p->journal_again) ||
             attr_u64(&b, "journal-dead-letters", p->journal_dead) ||
             attr_u64(&b, "slot-batches", p->slot_batches) ||
             attr_u64(&b, "batched-slots", p->batched_slots) ||
             attr_u64(&b, "in-flight", (unsigned long long)p->in_flight) ||
             attr_u64(&b, "conversations", xb_strmap_count(p->convs)) ||
             attr_u64(&b, "pipeline-runs", ps.started) ||
             attr_u64(&b, "pipeline-completed", ps.completed) ||
             attr_u64(&b, "pipeline-failed", ps.failed) || attr_u64(&b, "pipeline-late", ps.late) ||
             attr_u64(&b, "pipeline-cancelled", ps.cancelled) ||
             attr_u64(&b, "pipeline-running", ps.running);
    for (int c = 1; rc == 0 && c < XB_ERR__COUNT; c++) {
        if (!p->errors[c])
            continue;
        rc = xmlTextWriterStartElement(b.w, BAD_CAST "error") < 0 ||
             attr(&b, "code", xb_code_name((xb_code_t)c)) || attr_u64(&b, "count", p->errors[c]) ||
             xmlTextWriterEndElement(b.w) < 0;
    }
    for (size_t i = 0; rc == 0 && i < p->n_listeners; i++)
        rc = write_listener_stats(p, &b, &p->listeners[i]);
    reply_body(p, rid, req, &b, rc == 0, "could not write the statistics");
}

/* A count the backend may leave unknown (-1). */
static int count_attr(body_t *b, const char *name, long v)
{
    return v >= 0 ? attr_u64(b, name, (unsigned long long)v) : attr(b, name, "unknown");
}

static void control_backend_info(xb_pump_t *p, const xbp_rid_t *rid, const char *req,
                                 const char *const *args, size_t n)
{
    (void)args;
    (void)n;
    xb_error_t perr, ierr;
    xb_error_clear(&perr);
    xb_error_clear(&ierr);
    xb_backend_info_t info;
    memset(&info, 0, sizeof info);
    int ping = xb_backend_ping(p->backend, &perr);
    int irc = xb_backend_info(p->backend, &info, &ierr);
    body_t b = {0};
    int rc = body_open(&b, "backend");
    if (rc == 0)
        rc = attr(&b, "type", xb_backend_type_name(p->cfg->backend.type)) ||
             attr(&b, "ping", ping == 0 ? "ok" : perr.message);
    if (rc == 0 && irc == 0)
        rc = count_attr(&b, "threads", info.threads) ||
             count_attr(&b, "registry-entries", info.registry_entries) ||
             attr_u64(&b, "evicted-threads", (unsigned long long)info.evicted_threads) ||
             attr_u64(&b, "limit-refusals", (unsigned long long)info.limit_refusals) ||
             attr(&b, "server-version", info.server_version) || attr(&b, "location", info.location);
    if (rc == 0 && irc == 0)
        rc = info.slots >= 0 ? attr_u64(&b, "slots", (unsigned long long)info.slots)
                             : attr(&b, "slots", "unknown");
    if (rc == 0 && irc == 0) {
        char ttl[32];
        snprintf(ttl, sizeof ttl, "%ld", info.ttl);
        rc = attr(&b, "ttl", ttl);
    }
    if (rc == 0 && irc != 0)
        rc = attr(&b, "info-error", ierr.message);
    reply_body(p, rid, req, &b, rc == 0, "could not write the backend information");
}

static void control_ping(xb_pump_t *p, const xbp_rid_t *rid, const char *req,
                         const char *const *args, size_t n)
{
    (void)args;
    (void)n;
    body_t b = {0};
    bool written = body_open(&b, "pong") == 0 && attr(&b, "organism", p->cfg->name) == 0 &&
                   attr(&b, "endpoint", p->endpoint) == 0 &&
                   attr(&b, "state", p->state == PUMP_RUNNING ? "running" : "stopping") == 0;
    reply_body(p, rid, req, &b, written, "could not write the answer");
}

static void control_shutdown(xb_pump_t *p, const xbp_rid_t *rid, const char *req,
                             const char *const *args, size_t n)
{
    (void)args;
    (void)n;
    reply(p, rid, req, "ok", "<stopping/>", 11);
    xb_pump_stop(p);
}

/* ---- dead letters (docs/reliability.md, "The journal") ---------------------- */

static bool is_dead(const char *id)
{
    return strncmp(id, XBP_DEAD_PREFIX, strlen(XBP_DEAD_PREFIX)) == 0;
}

/* One <dead> element of entry e; with_envelope: the envelope as its text. */
static int write_dead(body_t *b, const xbp_jentry_t *e, bool with_envelope)
{
    if (xmlTextWriterStartElement(b->w, BAD_CAST "dead") < 0 || attr(b, "id", e->msg_id) ||
        attr(b, "listener", e->listener) || attr(b, "thread", e->thread) ||
        attr_u64(b, "redelivered", (unsigned long long)e->count) ||
        attr(b, "reason", e->last_error))
        return -1;
    if (with_envelope && xmlTextWriterWriteString(b->w, BAD_CAST e->envelope) < 0)
        return -1;
    return xmlTextWriterEndElement(b->w) < 0 ? -1 : 0;
}

/* The journal, or an error answered (0 / -1). */
static int read_journal(xb_pump_t *p, const xbp_rid_t *rid, const char *req, xb_journal_list_t *l)
{
    xb_error_t err;
    if (!xbp_journal_on(p)) {
        reply_error(p, rid, req, "this pump keeps no journal (backend.journal, backend.type)");
        return -1;
    }
    if (xb_backend_journal_list(p->backend, l, &err) != 0) {
        reply_error(p, rid, req, err.message);
        return -1;
    }
    return 0;
}

/* dead-letters [ID]: every dead letter, or the one of message ID with its
 * envelope. */
static void control_dead_letters(xb_pump_t *p, const xbp_rid_t *rid, const char *req,
                                 const char *const *args, size_t n)
{
    xb_journal_list_t l = {0};
    if (read_journal(p, rid, req, &l) != 0)
        return;
    body_t b = {0};
    int rc = body_open(&b, "dead-letters");
    size_t found = 0;
    for (size_t i = 0; rc == 0 && i < l.count; i++) {
        const char *id = l.items[i].id;
        if (!is_dead(id) || (n == 1 && strcmp(id + strlen(XBP_DEAD_PREFIX), args[0]) != 0))
            continue;
        xbp_jentry_t e;
        if (xbp_jentry_decode(l.items[i].data.data, l.items[i].data.len, &e) != 0)
            continue;
        rc = write_dead(&b, &e, n == 1);
        found++;
        xbp_jentry_clear(&e);
    }
    xb_journal_list_free(&l);
    if (n == 1 && found == 0) {
        body_close(&b);
        reply_error(p, rid, req, "no such dead letter");
        return;
    }
    reply_body(p, rid, req, &b, rc == 0, "could not write the dead letters");
}

/* dead-retry ID: the dead letter of message ID is delivered again now, its
 * count started over. */
static void control_dead_retry(xb_pump_t *p, const xbp_rid_t *rid, const char *req,
                               const char *const *args, size_t n)
{
    (void)n;
    char id[128];
    snprintf(id, sizeof id, "%s%s", XBP_DEAD_PREFIX, args[0]);
    xb_journal_list_t l = {0};
    if (read_journal(p, rid, req, &l) != 0)
        return;
    xbp_jentry_t e;
    bool found = false;
    for (size_t i = 0; i < l.count && !found; i++)
        found = strcmp(l.items[i].id, id) == 0 &&
                xbp_jentry_decode(l.items[i].data.data, l.items[i].data.len, &e) == 0;
    xb_journal_list_free(&l);
    if (!found) {
        reply_error(p, rid, req, "no such dead letter");
        return;
    }
    e.count = 0;
    e.last_error[0] = '\0';
    char why[XBP_JOURNAL_ERROR_MAX];
    xb_error_t err;
    const char *ids[1] = {id};
    int rc = xbp_redeliver_entry(p, &e, why, sizeof why);
    if (rc == 0 && xb_backend_journal_remove(p->backend, 1, ids, &err) != 0)
        XB_WARN("pump", "dead letter %s delivered again but not removed: %s", args[0], err.message);
    xbp_jentry_clear(&e);
    if (rc != 0) {
        reply_error(p, rid, req, why);
        return;
    }
    body_t b = {0};
    bool written = body_open(&b, "retried") == 0 && attr(&b, "id", args[0]) == 0;
    reply_body(p, rid, req, &b, written, "could not write the answer");
}

/* dead-purge: removes every dead letter. */
static void control_dead_purge(xb_pump_t *p, const xbp_rid_t *rid, const char *req,
                               const char *const *args, size_t n)
{
    (void)args;
    (void)n;
    xb_journal_list_t l = {0};
    if (read_journal(p, rid, req, &l) != 0)
        return;
    const char **ids = calloc(l.count ? l.count : 1, sizeof *ids);
    size_t m = 0;
    for (size_t i = 0; ids && i < l.count; i++)
        if (is_dead(l.items[i].id))
            ids[m++] = l.items[i].id;
    xb_error_t err;
    if (!ids)
        xb_error_set(&err, XB_ERR_NOMEM, 0, "out of memory");
    int rc = ids ? xb_backend_journal_remove(p->backend, m, ids, &err) : -1;
    free(ids);
    xb_journal_list_free(&l);
    if (rc != 0) {
        reply_error(p, rid, req, err.message);
        return;
    }
    body_t b = {0};
    bool written = body_open(&b, "purged") == 0 && attr_u64(&b, "count", m) == 0;
    reply_body(p, rid, req, &b, written, "could not write the answer");
}

#define VERB_ARGS_MAX 2

/* The CONTROL verbs and how many arguments each takes (non-empty ones). */
static const struct {
    const char *verb;
    size_t min, max;
    void (*fn)(xb_pump_t *p, const xbp_rid_t *rid, const char *req, const char *const *args,
               size_t n);
} verbs[] = {
    {"threads", 0, 2, control_threads},
    {"history", 1, 1, control_history},
    {"memory", 1, 1, control_memory},
    {"stats", 0, 0, control_stats},
    {"backend-info", 0, 0, control_backend_info},
    {"ping", 0, 0, control_ping},
    {"shutdown", 0, 0, control_shutdown},
    {"dead-letters", 0, 1, control_dead_letters},
    {"dead-retry", 1, 1, control_dead_retry},
    {"dead-purge", 0, 0, control_dead_purge},
};

/* CONTROL request-id verb args... (the codec checked the shape and bounds) */
void xbp_control_on_request(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m)
{
    char req[XB_PROTO_ID_MAX + 1], verb[XB_PROTO_WORD_MAX + 1], arg[VERB_ARGS_MAX][256];
    const char *args[VERB_ARGS_MAX];
    bool empty = false;
    xb_proto_cstr(m->control.req, req, sizeof req);
    xb_proto_cstr(m->control.verb, verb, sizeof verb);
    for (size_t k = 0; k < VERB_ARGS_MAX; k++) {
        arg[k][0] = '\0';
        if (k < m->n)
            empty |= xb_proto_cstr(xb_proto_control_arg(m, k), arg[k], sizeof arg[k]) <= 0;
        args[k] = arg[k];
    }
    XB_DEBUG("pump", "control %s %s", verb, arg[0]);
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(verb, verbs[i].verb) != 0)
            continue;
        if (m->n < verbs[i].min || m->n > verbs[i].max || empty) {
            char msg[96];
            if (verbs[i].min == verbs[i].max)
                snprintf(msg, sizeof msg, "control verb '%s' takes %zu argument(s)", verb,
                         verbs[i].min);
            else
                snprintf(msg, sizeof msg, "control verb '%s' takes %zu to %zu argument(s)", verb,
                         verbs[i].min, verbs[i].max);
            reply_error(p, rid, req, msg);
            return;
        }
        verbs[i].fn(p, rid, req, args, m->n);
        return;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "unknown control verb '%.32s'", verb);
    reply_error(p, rid, req, msg);
}

/* HISTORY request-id thread -> HISTORY-OK request-id n slot... */
void xbp_control_on_history(xb_pump_t *p, const xbp_rid_t *rid, const xb_proto_msg_t *m)
{
    char req[XB_PROTO_ID_MAX + 1], thread[XB_PROTO_ID_MAX + 1];
    xb_proto_cstr(m->history.req, req, sizeof req);
    xb_proto_cstr(m->history.thread, thread, sizeof thread);
    peer_t *peer = xbp_peer_find(p, rid);
    if (peer)
        peer->last_heard_ms = p->now_ms;
    xb_error_t err;
    xb_blob_list_t blobs = {0};
    xb_frames_t *out = NULL;
    if (history_bounded(p, thread, &err) != 0 ||
        xb_backend_buffer_get_thread(p->backend, thread, &blobs, &err) != 0) {
        out = xb_proto_error(XB_CMD_HISTORY, err.message);
    } else {
        out = xb_proto_history_ok_begin(req, blobs.count);
        for (size_t i = 0; out && i < blobs.count; i++)
            if (xb_proto_history_ok_add(out, blobs.items[i].data, blobs.items[i].len) != 0)
                xb_frames_destroy(&out);
    }
    if (out)
        xbp_pump_send_to(p, rid, out);
    xb_frames_destroy(&out);
    xb_blob_list_free(&blobs);
}
