/* The thread registry over the real memory backend: conversations,
 * forward (extend), respond (prune), ending a conversation, pass-through.
 * The same tests run a second time in write-behind mode (the pump's), plus
 * what only that mode does, over memory and over a real redis-server. */
#include "chain.h"
#include "registry.h"
#include "xmlbus/uuid.h"

#include "redis_server.h"
#include "xbt_wait.h"
#include "xbt_main.h"

#include <hiredis/hiredis.h>

#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    xb_backend_t *backend;
    xb_registry_t *reg;
} fixture_t;

/* Set by the suites' init functions: every fixture of the second suite
 * queues its backend writes. */
static bool write_behind;

static int init_write_through(void)
{
    write_behind = false;
    return 0;
}

static int init_write_behind(void)
{
    write_behind = true;
    return 0;
}

/* A registry over the backend cfg names (NULL: memory), in the suite's
 * write mode. */
static fixture_t open_fixture_with(const xb_backend_config_t *given)
{
    fixture_t f;
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    if (given)
        cfg = *given;
    xb_error_t err;
    f.backend = xb_backend_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.backend);
    f.reg = xb_registry_new(f.backend, "hello", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.reg);
    xb_registry_set_write_behind(f.reg, write_behind);
    return f;
}

static fixture_t open_fixture(void)
{
    return open_fixture_with(NULL);
}

/* A registry over the real redis-server srv (the write-behind suite). */
static fixture_t open_redis_fixture(const xb_redis_server_t *srv)
{
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    cfg.type = XB_BACKEND_REDIS;
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "%s", xb_redis_server_url(srv));
    return open_fixture_with(&cfg);
}

/* Pairs in the backend itself, not through the registry (which would flush). */
static size_t backend_entries(fixture_t *f)
{
    xb_error_t err;
    xb_pair_list_t all = {0};
    CU_ASSERT_EQUAL(xb_backend_registry_list_all(f->backend, &all, &err), 0);
    size_t n = all.count;
    xb_pair_list_free(&all);
    return n;
}

static void close_fixture(fixture_t *f)
{
    xb_registry_destroy(&f->reg);
    CU_ASSERT_PTR_NULL(f->reg);
    xb_backend_destroy(&f->backend);
}

static char *chain_of(fixture_t *f, const char *uuid)
{
    xb_error_t err;
    char *chain = NULL;
    if (xb_registry_get_chain(f->reg, uuid, &chain, &err) != 0)
        return NULL;
    return chain;
}

static char *start(fixture_t *f, const char *hop, char **root)
{
    xb_error_t err;
    char *uuid = NULL;
    CU_ASSERT_EQUAL_FATAL(xb_registry_start(f->reg, hop, &uuid, root, &err), 0);
    return uuid;
}

static char *extend(fixture_t *f, const char *uuid, const char *hop)
{
    xb_error_t err;
    char *next = NULL;
    CU_ASSERT_EQUAL_FATAL(xb_registry_extend(f->reg, uuid, hop, &next, &err), 0);
    return next;
}

static size_t entries(fixture_t *f)
{
    xb_error_t err;
    xb_pair_list_t all = {0};
    CU_ASSERT_EQUAL(xb_registry_list_all(f->reg, &all, &err), 0);
    size_t n = all.count;
    xb_pair_list_free(&all);
    return n;
}

static void test_start(void)
{
    fixture_t f = open_fixture();
    char *root = NULL;
    char *uuid = start(&f, "console", &root);
    CU_ASSERT_TRUE(xb_uuid_is_canonical(uuid));
    CU_ASSERT_EQUAL(xb_chain_hops(root), 0);
    CU_ASSERT_EQUAL(strncmp(root, "system.hello.c-", 15), 0);
    char *chain = chain_of(&f, uuid);
    char want[128];
    snprintf(want, sizeof want, "%s.console", root);
    CU_ASSERT_STRING_EQUAL(chain ? chain : "", want);
    /* The root is registered too: it reserves the token. */
    xb_error_t err;
    char *root_uuid = NULL;
    CU_ASSERT_EQUAL(xb_registry_get_uuid(f.reg, root, &root_uuid, &err), 0);
    CU_ASSERT_TRUE(xb_uuid_is_canonical(root_uuid));
    CU_ASSERT_STRING_NOT_EQUAL(root_uuid ? root_uuid : "", uuid);
    char *r2 = NULL;
    CU_ASSERT_EQUAL(xb_registry_root_of(f.reg, uuid, &r2, &err), 0);
    CU_ASSERT_STRING_EQUAL(r2 ? r2 : "", root);
    CU_ASSERT_EQUAL(entries(&f), 2);
    err.code = XB_OK;
    char *bad = NULL;
    CU_ASSERT_EQUAL(xb_registry_start(f.reg, "con.sole", &bad, NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NULL(bad);
    free(r2);
    free(root_uuid);
    free(chain);
    free(uuid);
    free(root);
    close_fixture(&f);
}

static void test_extend_same_chain_same_uuid(void)
{
    fixture_t f = open_fixture();
    char *root = NULL;
    char *console = start(&f, "console", &root);
    char *g1 = extend(&f, console, "greeter");
    char *g2 = extend(&f, console, "greeter");
    char *s1 = extend(&f, console, "shout-er_2");
    CU_ASSERT_STRING_EQUAL(g1, g2);
    CU_ASSERT_STRING_NOT_EQUAL(g1, s1);
    CU_ASSERT_STRING_NOT_EQUAL(g1, console);
    char *chain = chain_of(&f, s1);
    char want[128];
    snprintf(want, sizeof want, "%s.console.shout-er_2", root);
    CU_ASSERT_STRING_EQUAL(chain ? chain : "", want);
    /* uuid_for of a known chain gives the known uuid. */
    xb_error_t err;
    char *again = NULL;
    CU_ASSERT_EQUAL(xb_registry_uuid_for(f.reg, chain, &again, &err), 0);
    CU_ASSERT_STRING_EQUAL(again ? again : "", s1);
    /* Errors: invalid hop, unknown uuid, invalid chain. */
    char *x = NULL;
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_registry_extend(f.reg, console, "a.b", &x, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_registry_extend(f.reg, "unknown-uuid", "a", &x, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_registry_uuid_for(f.reg, "not a chain", &x, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NULL(x);
    free(again);
    free(chain);
    free(g1);
    free(g2);
    free(s1);
    free(console);
    free(root);
    close_fixture(&f);
}

static void test_respond(void)
{
    fixture_t f = open_fixture();
    char *console = start(&f, "console", NULL);
    char *greeter = extend(&f, console, "greeter");
    char *shouter = extend(&f, greeter, "shouter");
    xb_error_t err;
    char *to = NULL, *hop = NULL;
    bool ended = true;
    CU_ASSERT_EQUAL(xb_registry_respond(f.reg, shouter, &to, &hop, &ended, &err), 0);
    CU_ASSERT_FALSE(ended);
    CU_ASSERT_STRING_EQUAL(to ? to : "", greeter);
    CU_ASSERT_STRING_EQUAL(hop ? hop : "", "greeter");
    free(to);
    free(hop);
    CU_ASSERT_EQUAL(xb_registry_respond(f.reg, greeter, &to, &hop, &ended, &err), 0);
    CU_ASSERT_FALSE(ended);
    CU_ASSERT_STRING_EQUAL(to ? to : "", console);
    CU_ASSERT_STRING_EQUAL(hop ? hop : "", "console");
    free(to);
    free(hop);
    /* The first hop responds: the conversation ends. */
    CU_ASSERT_EQUAL(xb_registry_respond(f.reg, console, &to, &hop, &ended, &err), 0);
    CU_ASSERT_TRUE(ended);
    CU_ASSERT_PTR_NULL(to);
    CU_ASSERT_PTR_NULL(hop);
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_registry_respond(f.reg, "nobody", &to, &hop, &ended, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    free(console);
    free(greeter);
    free(shouter);
    close_fixture(&f);
}

static void test_two_conversations_same_path(void)
{
    fixture_t f = open_fixture();
    char *r1 = NULL, *r2 = NULL;
    char *c1 = start(&f, "console", &r1);
    char *c2 = start(&f, "console", &r2);
    CU_ASSERT_STRING_NOT_EQUAL(r1, r2);
    CU_ASSERT_STRING_NOT_EQUAL(c1, c2);
    char *g1 = extend(&f, c1, "greeter");
    char *g2 = extend(&f, c2, "greeter");
    CU_ASSERT_STRING_NOT_EQUAL(g1, g2);
    free(r1);
    free(r2);
    free(c1);
    free(c2);
    free(g1);
    free(g2);
    close_fixture(&f);
}

/* Ending removes the conversation's entries, root included, and only them.
 * restart 1: a new registry object that knows nothing scans; 2: one that
 * adopted the two conversations (a pump that took them over from its
 * journal) does not. */
static void end_conversation_case(int restart)
{
    fixture_t f = open_fixture();
    char *r1 = NULL, *r2 = NULL;
    char *c1 = start(&f, "console", &r1);
    char *c2 = start(&f, "console", &r2);
    char *g1 = extend(&f, c1, "greeter");
    char *s1 = extend(&f, g1, "shouter");
    char *g2 = extend(&f, c2, "greeter");
    /* An entry outside any conversation of this organism. */
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_registry_set(f.reg, "system.other.c-1.x", "foreign", &err), 0);
    CU_ASSERT_EQUAL(entries(&f), 4 + 3 + 1);
    if (restart) {
        /* A new registry object knows nothing: it must scan. */
        xb_registry_destroy(&f.reg);
        f.reg = xb_registry_new(f.backend, "hello", &err);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f.reg);
    }
    if (restart == 2) {
        const char *roots[2] = {r1, r2};
        CU_ASSERT_EQUAL(xb_registry_adopt(f.reg, roots, 2, &err), 0);
    }
    size_t removed = 0;
    /* Any chain of the conversation names it. */
    char *chain = chain_of(&f, s1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chain);
    CU_ASSERT_EQUAL(xb_registry_end_conversation(f.reg, chain, &removed, &err), 0);
    CU_ASSERT_EQUAL(removed, 4);
    free(chain);
    CU_ASSERT_EQUAL(entries(&f), 3 + 1);
    CU_ASSERT_EQUAL(xb_registry_scans(f.reg) > 0, restart == 1);
    const char *gone[] = {c1, g1, s1};
    for (int i = 0; i < 3; i++) {
        char *c = chain_of(&f, gone[i]);
        CU_ASSERT_PTR_NULL(c);
        free(c);
    }
    char *u = NULL;
    CU_ASSERT_EQUAL(xb_registry_get_uuid(f.reg, r1, &u, &err), -1);
    char *kept = chain_of(&f, g2);
    CU_ASSERT_PTR_NOT_NULL(kept);
    free(kept);
    kept = chain_of(&f, "foreign");
    CU_ASSERT_PTR_NOT_NULL(kept);
    free(kept);
    /* Ending it again removes nothing; the other one still ends cleanly. */
    CU_ASSERT_EQUAL(xb_registry_end_conversation(f.reg, r1, &removed, &err), 0);
    CU_ASSERT_EQUAL(removed, 0);
    CU_ASSERT_EQUAL(xb_registry_end_conversation(f.reg, r2, &removed, &err), 0);
    CU_ASSERT_EQUAL(removed, 3);
    CU_ASSERT_EQUAL(entries(&f), 1);
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_registry_end_conversation(f.reg, "bad", &removed, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    free(r1);
    free(r2);
    free(c1);
    free(c2);
    free(g1);
    free(s1);
    free(g2);
    close_fixture(&f);
}

static void test_end_conversation_indexed(void)
{
    end_conversation_case(0);
}
static void test_end_conversation_scanned(void)
{
    end_conversation_case(1);
}
static void test_end_conversation_adopted(void)
{
    end_conversation_case(2);
}

/* A token prefix is not a conversation: c-ab and c-abc stay apart. */
static void test_end_conversation_prefix(void)
{
    fixture_t f = open_fixture();
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_registry_set(f.reg, "system.hello.c-ab.a", "u1", &err), 0);
    CU_ASSERT_EQUAL(xb_registry_set(f.reg, "system.hello.c-abc.a", "u2", &err), 0);
    size_t removed = 0;
    CU_ASSERT_EQUAL(xb_registry_end_conversation(f.reg, "system.hello.c-ab", &removed, &err), 0);
    CU_ASSERT_EQUAL(removed, 1);
    char *c = chain_of(&f, "u2");
    CU_ASSERT_STRING_EQUAL(c ? c : "", "system.hello.c-abc.a");
    free(c);
    close_fixture(&f);
}

static void test_pass_through(void)
{
    fixture_t f = open_fixture();
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_registry_set(f.reg, "system.hello.c-1.a", "u1", &err), 0);
    CU_ASSERT_EQUAL(xb_registry_set(f.reg, "system.hello.c-1.a.b", "u2", &err), 0);
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_registry_set(f.reg, "not.a.chain", "u3", &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    char *s = NULL;
    CU_ASSERT_EQUAL(xb_registry_get_uuid(f.reg, "system.hello.c-1.a.b", &s, &err), 0);
    CU_ASSERT_STRING_EQUAL(s ? s : "", "u2");
    free(s);
    s = NULL;
    CU_ASSERT_EQUAL(xb_registry_get_chain(f.reg, "u1", &s, &err), 0);
    CU_ASSERT_STRING_EQUAL(s ? s : "", "system.hello.c-1.a");
    free(s);
    s = NULL;
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_registry_get_chain(f.reg, "u9", &s, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_registry_delete(f.reg, "u1", &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    CU_ASSERT_EQUAL(entries(&f), 1);
    char *c = start(&f, "console", NULL);
    free(c);
    CU_ASSERT_EQUAL(xb_registry_clear(f.reg, &err), 0);
    CU_ASSERT_EQUAL(entries(&f), 0);
    CU_ASSERT_STRING_EQUAL(xb_registry_organism(f.reg), "hello");
    close_fixture(&f);
}

/* The registry answers the chains of conversations it started from its own
 * index: a delete or a set through it must never leave that answer stale. */
static void test_index_follows_delete_and_set(void)
{
    fixture_t f = open_fixture();
    xb_error_t err;
    char *root = NULL;
    char *first = start(&f, "console", &root);
    char *second = extend(&f, first, "greeter");
    char *chain = chain_of(&f, second);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chain);
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_registry_delete(f.reg, second, &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    char *again = NULL;
    CU_ASSERT_EQUAL_FATAL(xb_registry_uuid_for(f.reg, chain, &again, &err), 0);
    CU_ASSERT_STRING_NOT_EQUAL(again, second);
    char *back = chain_of(&f, again);
    CU_ASSERT_STRING_EQUAL(back, chain);
    const char *chosen = "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e";
    CU_ASSERT_EQUAL(xb_registry_set(f.reg, chain, chosen, &err), 0);
    char *now = NULL;
    CU_ASSERT_EQUAL_FATAL(xb_registry_uuid_for(f.reg, chain, &now, &err), 0);
    CU_ASSERT_STRING_EQUAL(now, chosen);
    free(now);
    free(back);
    free(again);
    free(chain);
    free(second);
    free(first);
    free(root);
    close_fixture(&f);
}

static void test_bad_new(void)
{
    xb_error_t err;
    xb_backend_config_t cfg;
    xb_backend_config_defaults(&cfg);
    xb_backend_t *b = xb_backend_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_PTR_NULL(xb_registry_new(b, "a.b", &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    CU_ASSERT_PTR_NULL(xb_registry_new(NULL, "a", &err));
    xb_registry_t *none = NULL;
    xb_registry_destroy(&none);
    xb_backend_destroy(&b);
}

/* Several threads asking for the same chains mint one UUID per chain. */
#define RACERS 4
#define CHAINS 50

typedef struct {
    xb_registry_t *reg;
    char *uuids[CHAINS];
    int failures;
} racer_t;

static void *racer(void *arg)
{
    racer_t *r = arg;
    char chain[64];
    for (int i = 0; i < CHAINS; i++) {
        snprintf(chain, sizeof chain, "system.hello.c-race.h%d", i);
        xb_error_t err;
        if (xb_registry_uuid_for(r->reg, chain, &r->uuids[i], &err) != 0)
            r->failures++;
    }
    return NULL;
}

static void test_concurrent_uuid_for(void)
{
    fixture_t f = open_fixture();
    racer_t r[RACERS];
    pthread_t tid[RACERS];
    memset(r, 0, sizeof r);
    for (int k = 0; k < RACERS; k++) {
        r[k].reg = f.reg;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&tid[k], NULL, racer, &r[k]), 0);
    }
    for (int k = 0; k < RACERS; k++)
        pthread_join(tid[k], NULL);
    int differ = 0;
    for (int k = 0; k < RACERS; k++) {
        CU_ASSERT_EQUAL(r[k].failures, 0);
        for (int i = 0; i < CHAINS; i++) {
            differ += !r[k].uuids[i] || !r[0].uuids[i] || strcmp(r[k].uuids[i], r[0].uuids[i]);
        }
    }
    CU_ASSERT_EQUAL(differ, 0);
    CU_ASSERT_EQUAL(entries(&f), CHAINS);
    for (int k = 0; k < RACERS; k++) {
        for (int i = 0; i < CHAINS; i++)
            free(r[k].uuids[i]);
    }
    close_fixture(&f);
}

/* ---- write-behind only ------------------------------------------------------------ */

/* Nothing reaches the backend before the flush; the registry answers for
 * what it queued meanwhile; ending the conversation queues its deletes. */
static void test_write_behind_queues_until_flush(void)
{
    fixture_t f = open_fixture();
    xb_error_t err;
    char *root = NULL;
    char *first = start(&f, "console", &root);
    char *second = extend(&f, first, "greeter");
    CU_ASSERT_EQUAL(backend_entries(&f), 0);
    CU_ASSERT_EQUAL(xb_registry_pending(f.reg), 3); /* root, console, greeter */
    char *chain = chain_of(&f, second);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chain);
    char *uuid = NULL;
    CU_ASSERT_EQUAL(xb_registry_get_uuid(f.reg, chain, &uuid, &err), 0);
    CU_ASSERT_STRING_EQUAL(uuid ? uuid : "", second);
    char *to = NULL, *hop = NULL;
    bool ended = true;
    CU_ASSERT_EQUAL(xb_registry_respond(f.reg, second, &to, &hop, &ended, &err), 0);
    CU_ASSERT_FALSE(ended);
    CU_ASSERT_STRING_EQUAL(to ? to : "", first);
    CU_ASSERT_EQUAL(backend_entries(&f), 0);
    CU_ASSERT_EQUAL(xb_registry_flush(f.reg, &err), 0);
    CU_ASSERT_EQUAL(xb_registry_pending(f.reg), 0);
    CU_ASSERT_EQUAL(backend_entries(&f), 3);
    char *stored = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_chain(f.backend, second, &stored, &err), 0);
    CU_ASSERT_STRING_EQUAL(stored ? stored : "", chain);
    size_t removed = 0;
    CU_ASSERT_EQUAL(xb_registry_end_conversation(f.reg, root, &removed, &err), 0);
    CU_ASSERT_EQUAL(removed, 3);
    CU_ASSERT_EQUAL(backend_entries(&f), 3);
    CU_ASSERT_EQUAL(xb_registry_flush(f.reg, &err), 0);
    CU_ASSERT_EQUAL(backend_entries(&f), 0);
    CU_ASSERT_EQUAL(xb_registry_flush(f.reg, &err), 0); /* nothing queued: no-op */
    free(stored);
    free(to);
    free(hop);
    free(uuid);
    free(chain);
    free(second);
    free(first);
    free(root);
    close_fixture(&f);
}

/* A conversation that starts and ends between two flushes costs the
 * backend nothing: its fresh pairs and their deletes cancel out. */
static void test_write_behind_short_conversation(void)
{
    fixture_t f = open_fixture();
    xb_error_t err;
    char *root = NULL;
    char *first = start(&f, "console", &root);
    char *second = extend(&f, first, "greeter");
    CU_ASSERT_EQUAL(xb_registry_pending(f.reg), 3);
    size_t removed = 0;
    CU_ASSERT_EQUAL(xb_registry_end_conversation(f.reg, root, &removed, &err), 0);
    CU_ASSERT_EQUAL(removed, 3);
    CU_ASSERT_EQUAL(xb_registry_pending(f.reg), 0); /* nothing left to write */
    CU_ASSERT_EQUAL(xb_registry_flush(f.reg, &err), 0);
    CU_ASSERT_EQUAL(backend_entries(&f), 0);
    free(second);
    char *chain = NULL;
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_registry_get_chain(f.reg, first, &chain, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    free(first);
    free(root);
    close_fixture(&f);
}

/* Only fresh pairs cancel: a pair set by hand may have replaced one in the
 * backend, so its set and its delete are both written, in order. */
static void test_write_behind_explicit_set_not_cancelled(void)
{
    fixture_t f = open_fixture();
    xb_error_t err;
    const char *u_old = "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e";
    const char *u_new = "1f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e";
    CU_ASSERT_EQUAL(xb_backend_registry_set(f.backend, "system.hello.c-1.a", u_old, &err), 0);
    CU_ASSERT_EQUAL(xb_registry_set(f.reg, "system.hello.c-1.a", u_new, &err), 0);
    bool deleted = false;
    CU_ASSERT_EQUAL(xb_registry_delete(f.reg, u_new, &deleted, &err), 0);
    CU_ASSERT_TRUE(deleted);
    /* The delete looked the pair up in the backend, which wrote the set
     * first; the delete itself is queued, not cancelled. */
    CU_ASSERT_EQUAL(xb_registry_pending(f.reg), 1);
    CU_ASSERT_EQUAL(xb_registry_flush(f.reg, &err), 0);
    CU_ASSERT_EQUAL(backend_entries(&f), 0); /* the set dropped u_old's pair */
    close_fixture(&f);
}

/* A lookup the index cannot answer asks the backend, after writing what is
 * queued: another registry object over the same backend sees it then. */
static void test_write_behind_reads_after_flush(void)
{
    fixture_t f = open_fixture();
    xb_error_t err;
    char *first = start(&f, "console", NULL);
    char *chain = chain_of(&f, first);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chain);
    xb_registry_t *other = xb_registry_new(f.backend, "hello", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(other);
    char *seen = NULL;
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_registry_get_chain(other, first, &seen, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    /* Unknown to f's index: f flushes before asking the backend. */
    char *missing = NULL;
    CU_ASSERT_EQUAL(
        xb_registry_get_chain(f.reg, "0f8e2f7a-3c1b-4e55-9a0e-2a1d5b6c7d8e", &missing, &err), -1);
    CU_ASSERT_EQUAL(xb_registry_pending(f.reg), 0);
    CU_ASSERT_EQUAL(xb_registry_get_chain(other, first, &seen, &err), 0);
    CU_ASSERT_STRING_EQUAL(seen ? seen : "", chain);
    xb_registry_destroy(&other);
    free(seen);
    free(chain);
    free(first);
    close_fixture(&f);
}

/* Destroying the registry writes what it still queued. */
static void test_write_behind_destroy_flushes(void)
{
    fixture_t f = open_fixture();
    char *first = start(&f, "console", NULL);
    CU_ASSERT_EQUAL(backend_entries(&f), 0);
    xb_registry_destroy(&f.reg);
    CU_ASSERT_EQUAL(backend_entries(&f), 2);
    xb_backend_destroy(&f.backend);
    free(first);
}

/* Over a real Redis: changes queued while it is down stay queued, the
 * flush fails with a backend error, and everything lands once it is back. */
static void test_write_behind_redis_down(void)
{
    xb_error_t err;
    xb_redis_server_t *srv = xb_redis_server_start(NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    fixture_t f = open_redis_fixture(srv);
    char *root = NULL;
    char *first = start(&f, "console", &root);
    char *second = extend(&f, first, "greeter");
    CU_ASSERT_EQUAL(xb_registry_flush(f.reg, &err), 0);
    CU_ASSERT_EQUAL(backend_entries(&f), 3);

    CU_ASSERT_EQUAL_FATAL(xb_redis_server_kill(srv), 0);
    char *third = extend(&f, second, "shouter"); /* answered from the index */
    CU_ASSERT_PTR_NOT_NULL(third);
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_registry_flush(f.reg, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_BACKEND);
    CU_ASSERT_EQUAL(xb_registry_pending(f.reg), 1);

    CU_ASSERT_EQUAL_FATAL(xb_redis_server_restart(srv, &err), 0); /* empty again */
    int flushed = -1; /* the backend reconnects with backoff */
    XBT_WAIT_UNTIL((flushed = xb_registry_flush(f.reg, &err)) == 0, 5000);
    CU_ASSERT_EQUAL(flushed, 0);
    CU_ASSERT_EQUAL(xb_registry_pending(f.reg), 0);
    char *stored = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_chain(f.backend, third, &stored, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(stored);
    free(stored);
    free(third);
    free(second);
    free(first);
    free(root);
    close_fixture(&f);
    xb_redis_server_destroy(&srv);
}

/* A flush that fails half way (Redis applied the first changes, then met a
 * foreign value) leaves the backend holding pairs the queue still calls
 * fresh: their deletes must be written, not cancelled, or the pairs stay in
 * Redis for good. */
static void test_write_behind_failed_flush_keeps_deletes(void)
{
    xb_error_t err;
    xb_redis_server_t *srv = xb_redis_server_start(NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    fixture_t f = open_redis_fixture(srv);
    char *root_a = NULL, *root_b = NULL;
    char *a = start(&f, "console", &root_a);
    char *b = start(&f, "console", &root_b);
    redisContext *rc = redisConnect("127.0.0.1", xb_redis_server_port(srv));
    CU_ASSERT_FATAL(rc && !rc->err);
    const char *prefix = xb_backend_config(f.backend)->redis_prefix;
    freeReplyObject(redisCommand(rc, "RPUSH %schain:%s foreign", prefix, root_b));
    CU_ASSERT_EQUAL(xb_registry_flush(f.reg, &err), -1); /* a's pairs are in Redis now */
    CU_ASSERT_EQUAL(xb_registry_end_conversation(f.reg, root_a, NULL, &err), 0);
    freeReplyObject(redisCommand(rc, "DEL %schain:%s", prefix, root_b));
    CU_ASSERT_EQUAL(xb_registry_flush(f.reg, &err), 0);
    char *chain = NULL;
    err.code = XB_OK;
    CU_ASSERT_EQUAL(xb_backend_registry_get_chain(f.backend, a, &chain, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_NOTFOUND);
    free(chain);
    chain = NULL;
    CU_ASSERT_EQUAL(xb_backend_registry_get_chain(f.backend, b, &chain, &err), 0);
    free(chain);
    redisFree(rc);
    free(a);
    free(b);
    free(root_a);
    free(root_b);
    close_fixture(&f);
    xb_redis_server_destroy(&srv);
}

/* The tests both suites run. */
#define COMMON_TESTS                                                                     \
    {"start a conversation", test_start},                                                \
        {"extend: same chain, same uuid", test_extend_same_chain_same_uuid},             \
        {"respond prunes, first hop ends", test_respond},                                \
        {"two conversations, same path", test_two_conversations_same_path},              \
        {"end conversation (indexed)", test_end_conversation_indexed},                   \
        {"end conversation (after restart)", test_end_conversation_scanned},             \
        {"end conversation (adopted after restart)", test_end_conversation_adopted},     \
        {"end conversation: token prefix", test_end_conversation_prefix},                \
        {"pass-through API", test_pass_through}, {"bad arguments to new", test_bad_new}, \
        {"index follows delete and set", test_index_follows_delete_and_set},             \
    {                                                                                    \
        "concurrent get-or-create", test_concurrent_uuid_for                             \
    }

static const xbt_test_t write_through_tests[] = {
    COMMON_TESTS,
    {NULL, NULL},
};

static const xbt_test_t write_behind_tests[] = {
    COMMON_TESTS,
    {"queues until flush", test_write_behind_queues_until_flush},
    {"conversation within one turn", test_write_behind_short_conversation},
    {"backend reads come after a flush", test_write_behind_reads_after_flush},
    {"a pair set by hand is not cancelled", test_write_behind_explicit_set_not_cancelled},
    {"destroy flushes", test_write_behind_destroy_flushes},
    {"redis down: queued, then written", test_write_behind_redis_down},
    {"a failed flush keeps the deletes", test_write_behind_failed_flush_keeps_deletes},
    {NULL, NULL},
};

XBT_SUITES({"registry", init_write_through, NULL, NULL, NULL, write_through_tests},
           {"registry (write-behind)", init_write_behind, NULL, NULL, NULL, write_behind_tests});
