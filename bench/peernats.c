/* The peer of the pump rows: NATS (nats-server and its C client) and
 * libxml2, what a C developer would take for "XML messages to worker
 * processes, validated" without xmlbus (docs/performance.md, "The peer").
 *
 *   requester (own process) -> nats-server -> responder (own process)
 *     -> nats-server -> requester
 *
 * Both are this program again (fork+exec by peerrun.c), in hidden modes:
 *
 *   --nats-responder URL MODE ASAP READY_FILE
 *       MODE echo: answers every request with its bytes (peer/nats rows);
 *       MODE xml: parses the request with libxml2 (one reused parser
 *       context), validates the document against the echo XSD (one reused
 *       validation context) and answers <ok><seq>N</seq></ok>, or <error/>
 *       when it is not valid (peer/nats-xml rows). Writes READY_FILE once
 *       its subscription is known to the server.
 *   --nats-requester URL MODE K SIZE SECONDS MESSAGES ASAP SERVER_PID
 *                    RESPONDER_PID OUT_FILE
 *       keeps K requests in flight (the payload of the pump rows, the
 *       same bytes the xmlbus client sends, its <seq> numbered), answers
 *       on one wildcard inbox subscription (_INBOX.x.*, the reply subject
 *       names the request: how nats.c's own requests are matched). Warm-up,
 *       then the measured phase with the CPU of nats-server, the responder
 *       and itself read before and after; writes one result line to
 *       OUT_FILE (see bench_peer_result_t).
 *
 * ASAP 1: natsOptions_SetSendAsap(true), every publish is written at once;
 * 0: nats.c's default, publishes are buffered and written by its flusher
 * thread, which waits 1 ms after being woken so that a burst goes out in
 * one write. peerrun.c picks per window. */
#include "bench.h"

#include "pumprun.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <nats/nats.h>

#define RING 65536              /* send times by request number; > any window */
#define ANSWER_TIMEOUT_MS 10000 /* a lost answer fails the row */
#define SUBJECT "bench.echo"    /* the responder's subject */

/* Prints the failure of a NATS call on stderr (the process's log). */
static int nats_failed(const char *what, natsStatus s)
{
    fprintf(stderr, "%s: %s (%s)\n", what, natsStatus_GetText(s), nats_GetLastError(NULL));
    return 1;
}

/* Connects to url, with or without SendAsap, no reconnects: the server
 * lives as long as the row. */
static natsStatus peer_connect(natsConnection **nc, const char *url, bool asap)
{
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(opts, asap);
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect(opts, false);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, opts);
    natsOptions_Destroy(opts);
    return s;
}

/* A subscription without pending limits: the window bounds what waits. */
static natsStatus peer_subscribe(natsSubscription **sub, natsConnection *nc, const char *subject)
{
    natsStatus s = natsConnection_SubscribeSync(sub, nc, subject);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(*sub, -1, -1);
    if (s == NATS_OK)
        s = natsConnection_Flush(nc); /* the server has the subscription */
    return s;
}

/* ---- the responder ------------------------------------------------------------ */

typedef struct {
    xmlParserCtxtPtr parser;
    xmlSchemaPtr schema;
    xmlSchemaValidCtxtPtr valid;
} checker_t;

/* Validation errors are answers, not log lines. */
static void quiet(void *ctx, xmlErrorPtr e)
{
    (void)ctx;
    (void)e;
}

static int checker_open(checker_t *c)
{
    memset(c, 0, sizeof *c);
    xmlInitParser();
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewMemParserCtxt(bench_echo_xsd,
                                                          (int)strlen(bench_echo_xsd));
    c->schema = pc ? xmlSchemaParse(pc) : NULL;
    xmlSchemaFreeParserCtxt(pc);
    c->valid = c->schema ? xmlSchemaNewValidCtxt(c->schema) : NULL;
    c->parser = xmlNewParserCtxt();
    if (!c->valid || !c->parser)
        return -1;
    xmlSchemaSetValidStructuredErrors(c->valid, quiet, NULL);
    return 0;
}

static void checker_close(checker_t *c)
{
    xmlSchemaFreeValidCtxt(c->valid);
    xmlSchemaFree(c->schema);
    xmlFreeParserCtxt(c->parser);
}

/* Parses and validates one request; writes the answer document to out.
 * Returns its length. */
static int check_one(checker_t *c, const char *data, int len, char *out, size_t cap)
{
    xmlDocPtr doc = xmlCtxtReadMemory(c->parser, data, len, NULL, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    int n;
    if (!doc || xmlSchemaValidateDoc(c->valid, doc) != 0) {
        n = snprintf(out, cap, "<error>not valid</error>");
    } else {
        /* <echo><seq>N</seq>...: the schema says seq comes first. */
        xmlNodePtr seq = xmlDocGetRootElement(doc)->children;
        while (seq && seq->type != XML_ELEMENT_NODE)
            seq = seq->next;
        xmlChar *v = seq ? xmlNodeGetContent(seq) : NULL;
        n = snprintf(out, cap, "<ok><seq>%s</seq></ok>", v ? (const char *)v : "");
        xmlFree(v);
    }
    xmlFreeDoc(doc);
    return n;
}

/* Answers requests until SIGTERM (peerrun.c) ends the process; returns
 * only on a failure of the connection. c is NULL for the echo. */
static int serve(natsConnection *nc, natsSubscription *sub, checker_t *c)
{
    char answer[128];
    for (;;) {
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, sub, 60000);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK)
            return nats_failed("nats responder: next message", s);
        const char *reply = natsMsg_GetReply(m);
        if (reply && c) {
            int n = check_one(c, natsMsg_GetData(m), natsMsg_GetDataLength(m), answer,
                              sizeof answer);
            s = natsConnection_Publish(nc, reply, answer, n);
        } else if (reply) {
            s = natsConnection_Publish(nc, reply, natsMsg_GetData(m), natsMsg_GetDataLength(m));
        }
        natsMsg_Destroy(m);
        if (s != NATS_OK)
            return nats_failed("nats responder: publish", s);
    }
}

int bench_nats_responder_main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: --nats-responder URL echo|xml ASAP READY_FILE\n");
        return 2;
    }
    bool xml = strcmp(argv[2], "xml") == 0;
    checker_t c;
    memset(&c, 0, sizeof c);
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = NATS_OK;
    xb_error_t err;
    int rc = 1;
    if (xml && checker_open(&c) != 0)
        fprintf(stderr, "nats responder: cannot load the echo XSD\n");
    else if ((s = peer_connect(&nc, argv[1], atoi(argv[3]) != 0)) != NATS_OK)
        nats_failed("nats responder: connect", s);
    else if ((s = peer_subscribe(&sub, nc, SUBJECT)) != NATS_OK)
        nats_failed("nats responder: subscribe", s);
    else if (bench_write_file(argv[4], "ready\n", &err) != 0)
        fprintf(stderr, "nats responder: %s\n", err.message);
    else
        rc = serve(nc, sub, xml ? &c : NULL);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    checker_close(&c);
    return rc;
}

/* ---- the requester ------------------------------------------------------------ */

typedef struct {
    natsConnection *nc;
    natsSubscription *sub;
    char inbox[128]; /* reply subjects: inbox.N */
    char *payload;   /* bench_seq_payload */
    size_t len, seq_at;
    int window;
    bool xml;          /* answers are <ok>, not the payload back */
    uint64_t next;     /* number of the next request */
    uint64_t *sent_at; /* RING slots */
    uint64_t done, errors;
    bench_lat_t lat;
    bool record;
    char why[256];
} req_t;

/* Takes one answer: its request number is the last token of its subject. */
static void take_answer(req_t *r, natsMsg *m, uint64_t now)
{
    const char *dot = strrchr(natsMsg_GetSubject(m), '.');
    uint64_t q = dot ? strtoull(dot + 1, NULL, 10) : 0;
    int n = natsMsg_GetDataLength(m);
    bool ok = r->xml ? n > 4 && memcmp(natsMsg_GetData(m), "<ok>", 4) == 0 : (size_t)n == r->len;
    if (!ok)
        r->errors++;
    if (r->record && q && bench_lat_add(&r->lat, now - r->sent_at[q % RING]) != 0)
        r->errors++;
    r->done++;
}

/* Sends up to n requests with r->window in flight, no new one after
 * deadline_ns, and waits for every answer. Returns 0, or -1 (r->why). */
static int run_window(req_t *r, uint64_t n, uint64_t deadline_ns)
{
    uint64_t sent = 0, done0 = r->done;
    char reply[160];
    while (r->done - done0 < sent || (sent < n && bench_now_ns() < deadline_ns)) {
        while (sent - (r->done - done0) < (uint64_t)r->window && sent < n &&
               bench_now_ns() < deadline_ns) {
            uint64_t q = ++r->next;
            bench_seq_set(r->payload, r->seq_at, q);
            snprintf(reply, sizeof reply, "%s.%" PRIu64, r->inbox, q);
            r->sent_at[q % RING] = bench_now_ns();
            natsStatus s = natsConnection_PublishRequest(r->nc, SUBJECT, reply, r->payload,
                                                         (int)r->len);
            if (s != NATS_OK) {
                snprintf(r->why, sizeof r->why, "publish: %s", natsStatus_GetText(s));
                return -1;
            }
            sent++;
        }
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, r->sub, ANSWER_TIMEOUT_MS);
        if (s != NATS_OK) {
            snprintf(r->why, sizeof r->why, "no answer within %d ms: %s", ANSWER_TIMEOUT_MS,
                     natsStatus_GetText(s));
            return -1;
        }
        take_answer(r, m, bench_now_ns());
        natsMsg_Destroy(m);
    }
    return 0;
}

/* The result line: see bench_peer_result_t. */
static int write_result(const char *path, const req_t *r, const bench_peer_result_t *res)
{
    char line[512];
    if (res->ok)
        snprintf(line, sizeof line,
                 "ok %" PRIu64 " %" PRIu64 " %.6f %.3f %.3f %.3f %.3f %" PRId64 " %" PRId64
                 " %" PRId64 "\n",
                 res->round_trips, res->errors, res->seconds, res->p50_us, res->p99_us,
                 res->p999_us, res->mean_us, res->server_cpu_ns, res->responder_cpu_ns,
                 res->requester_cpu_ns);
    else
        snprintf(line, sizeof line, "failed %s\n", r->why);
    char tmp[BENCH_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    xb_error_t err;
    if (bench_write_file(tmp, line, &err) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "nats requester: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static void measure(req_t *r, uint64_t messages, double seconds, pid_t server, pid_t responder,
                    bench_peer_result_t *res)
{
    /* Warm-up (not measured): a few windows, at most a fifth of the time. */
    uint64_t warm = (uint64_t)r->window * 4 + 100;
    if (run_window(r, warm, bench_now_ns() + (uint64_t)(seconds * 0.2e9) + 50000000u) != 0)
        return;
    r->done = r->errors = 0;
    r->record = true;
    int64_t s0 = bench_proc_cpu_ns(server), p0 = bench_proc_cpu_ns(responder);
    uint64_t c0 = bench_self_cpu_ns(), t0 = bench_now_ns();
    int rc = run_window(r, messages, t0 + (uint64_t)(seconds * 1e9));
    uint64_t t1 = bench_now_ns(), c1 = bench_self_cpu_ns();
    int64_t s1 = bench_proc_cpu_ns(server), p1 = bench_proc_cpu_ns(responder);
    if (rc != 0)
        return;
    bench_row_t row;
    memset(&row, 0, sizeof row);
    bench_lat_fill(&r->lat, &row);
    res->ok = true;
    res->round_trips = r->done;
    res->errors = r->errors;
    res->seconds = (double)(t1 - t0) / 1e9;
    res->p50_us = row.p50_us;
    res->p99_us = row.p99_us;
    res->p999_us = row.p999_us;
    res->mean_us = row.mean_us;
    res->server_cpu_ns = s0 >= 0 && s1 >= 0 ? s1 - s0 : -1;
    res->responder_cpu_ns = p0 >= 0 && p1 >= 0 ? p1 - p0 : -1;
    res->requester_cpu_ns = (int64_t)(c1 - c0);
}

int bench_nats_requester_main(int argc, char **argv)
{
    if (argc != 11) {
        fprintf(stderr, "usage: --nats-requester URL echo|xml K SIZE SECONDS MESSAGES ASAP "
                        "SERVER_PID RESPONDER_PID OUT_FILE\n");
        return 2;
    }
    req_t r;
    memset(&r, 0, sizeof r);
    r.window = atoi(argv[3]);
    size_t size = (size_t)strtoul(argv[4], NULL, 10);
    double seconds = strtod(argv[5], NULL);
    uint64_t messages = strtoull(argv[6], NULL, 10);
    r.xml = strcmp(argv[2], "xml") == 0;
    r.payload = bench_seq_payload(size, &r.seq_at);
    r.len = size;
    r.sent_at = calloc(RING, sizeof *r.sent_at);
    if (r.window < 1 || !r.payload || !r.sent_at) {
        fprintf(stderr, "nats requester: bad arguments or no memory\n");
        return 1;
    }
    natsInbox *inbox = NULL;
    natsStatus s = peer_connect(&r.nc, argv[1], atoi(argv[7]) != 0);
    if (s == NATS_OK)
        s = natsInbox_Create(&inbox);
    if (s != NATS_OK)
        return nats_failed("nats requester: connect", s);
    snprintf(r.inbox, sizeof r.inbox, "%s", inbox);
    natsInbox_Destroy(inbox);
    char wild[160];
    snprintf(wild, sizeof wild, "%s.*", r.inbox);
    s = peer_subscribe(&r.sub, r.nc, wild);
    if (s != NATS_OK)
        return nats_failed("nats requester: subscribe", s);
    bench_peer_result_t res;
    memset(&res, 0, sizeof res);
    measure(&r, messages, seconds, (pid_t)atol(argv[8]), (pid_t)atol(argv[9]), &res);
    int rc = write_result(argv[10], &r, &res);
    natsSubscription_Destroy(r.sub);
    natsConnection_Destroy(r.nc);
    bench_lat_free(&r.lat);
    free(r.sent_at);
    free(r.payload);
    return rc;
}
