/* Tests of bus/config.c and its parts (config_keys.c, config_yaml.c,
 * config_sections.c, config_check.c) and bus/config_build.c: the
 * organism.yaml loader, its error messages (exact line and column), the key
 * table and docs/configuration.md, the code builder and
 * xb_config_check_all. Sample files live in tests/data/config/. */
#include "xmlbus/config.h"
#include "config_build.h"
#include "config_keys.h"

#include <CUnit/CUnit.h>
#include <glob.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xbt_main.h"
#include "xbt_tmp.h"
#include "xmlbus/keys.h"

#ifndef XB_SOURCE_DIR
#define XB_SOURCE_DIR "."
#endif
#define DATA_DIR XB_SOURCE_DIR "/tests/data/config"

static char data_dir[PATH_MAX]; /* DATA_DIR made canonical */

/* ----------------------------------------------------------------- helpers */

static xb_config_t *load_str(const char *yaml, xb_error_t *err)
{
    xb_error_clear(err);
    return xb_config_load_string(yaml, strlen(yaml), "t.yaml", DATA_DIR, err);
}

/* Loading yaml must fail at line:col (col 0 = any) with needle in the message. */
static void expect_error_at(const char *yaml, int line, int col, const char *needle, int src_line)
{
    xb_error_t err;
    xb_config_t *cfg = load_str(yaml, &err);
    CU_ASSERT_PTR_NULL(cfg);
    xb_config_destroy(&cfg);
    bool ok = err.code == XB_ERR_CONFIG && err.line == line && (col == 0 || err.column == col) &&
              strstr(err.message, needle) != NULL;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.yaml:%d:", line);
    ok = ok && strncmp(err.message, prefix, strlen(prefix)) == 0;
    if (!ok)
        fprintf(stderr, "\n  test line %d: expected %d:%d '%s', got %d:%d code %d: %s\n", src_line,
                line, col, needle, err.line, err.column, err.code, err.message);
    CU_ASSERT_TRUE(ok);
}
#define EXPECT_ERROR(yaml, line, col, needle) expect_error_at(yaml, line, col, needle, __LINE__)

static xb_config_t *expect_ok(const char *yaml)
{
    xb_error_t err;
    xb_config_t *cfg = load_str(yaml, &err);
    if (!cfg)
        fprintf(stderr, "\n  unexpected error: %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL(cfg);
    return cfg;
}

#define HEAD "organism:\n  name: t\n"
#define ONE_LISTENER "listeners:\n  - name: a\n    payload: p\n"

/* ------------------------------------------------------------ good files */

static void test_full_file(void)
{
    xb_error_t err;
    xb_config_t *cfg = xb_config_load(DATA_DIR "/full.yaml", &err);
    if (!cfg)
        fprintf(stderr, "\n  %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/full.yaml", data_dir);
    CU_ASSERT_STRING_EQUAL(cfg->path, path);
    CU_ASSERT_STRING_EQUAL(cfg->dir, data_dir);
    CU_ASSERT_STRING_EQUAL(cfg->name, "full-test");
    CU_ASSERT_STRING_EQUAL(cfg->endpoint, "ipc:///tmp/xmlbus-full-test.sock");

    const xb_limits_config_t *lim = &cfg->limits;
    CU_ASSERT_EQUAL(lim->max_message_bytes, 2u << 20);
    CU_ASSERT_EQUAL(lim->max_xml_depth, 64);
    CU_ASSERT_EQUAL(lim->max_attributes, 32);
    CU_ASSERT_EQUAL(lim->max_namespaces, 16);
    CU_ASSERT_EQUAL(lim->max_depth, 12);
    CU_ASSERT_EQUAL(lim->max_slots_per_thread, 500);
    CU_ASSERT_EQUAL(lim->max_threads, 2000);
    CU_ASSERT_EQUAL(lim->max_payload_bytes, 64u << 10);
    CU_ASSERT_EQUAL(lim->queue_max_messages, 77);
    CU_ASSERT_EQUAL(lim->queue_max_bytes, 3000000);
    CU_ASSERT_DOUBLE_EQUAL(lim->shutdown_seconds, 2.5, 1e-9);

    const xb_backend_config_t *b = &cfg->backend;
    CU_ASSERT_EQUAL(b->type, XB_BACKEND_MANAGER);
    snprintf(path, sizeof path, "%s/state/full.lmdb", data_dir);
    CU_ASSERT_STRING_EQUAL(b->path, path);
    CU_ASSERT_EQUAL(b->map_size, (size_t)1 << 30);
    CU_ASSERT_EQUAL(b->max_slots_per_thread, 500);
    CU_ASSERT_EQUAL(b->max_threads, 2000);
    CU_ASSERT_EQUAL(b->max_slot_bytes, 64u << 10);

    CU_ASSERT_EQUAL(cfg->pool.workers, 3);
    CU_ASSERT_EQUAL(cfg->pool.max_tasks_per_child, 1000);
    CU_ASSERT_DOUBLE_EQUAL(cfg->pool.heartbeat, 0.25, 1e-9);
    CU_ASSERT_EQUAL(cfg->pool.liveness, 5);
    CU_ASSERT_EQUAL(cfg->pool.max_retries, 4);

    CU_ASSERT_EQUAL_FATAL(cfg->n_listeners, 4);
    const xb_listener_config_t *g = &cfg->listeners[0];
    CU_ASSERT_STRING_EQUAL(g->name, "greeter");
    CU_ASSERT_EQUAL(g->line, 28);
    CU_ASSERT_STRING_EQUAL(g->description, "says hello");
    CU_ASSERT_EQUAL_FATAL(g->n_payloads, 2);
    CU_ASSERT_STRING_EQUAL(g->payloads[0], "greeting");
    CU_ASSERT_STRING_EQUAL(g->payloads[1], "shouted");
    snprintf(path, sizeof path, "%s/greeter.xsd", data_dir);
    CU_ASSERT_STRING_EQUAL(g->schema, path);
    CU_ASSERT_EQUAL_FATAL(g->n_command, 4);
    CU_ASSERT_STRING_EQUAL(g->command[0], "hello-greeter");
    CU_ASSERT_STRING_EQUAL(g->command[1], "--loud");
    CU_ASSERT_STRING_EQUAL(g->command[2], "two words");
    CU_ASSERT_STRING_EQUAL(g->command[3], "x");
    CU_ASSERT_PTR_NULL(g->command[4]);
    CU_ASSERT_TRUE(g->has_peers);
    CU_ASSERT_EQUAL_FATAL(g->n_peers, 2);
    CU_ASSERT_STRING_EQUAL(g->peers[0], "orders");
    CU_ASSERT_STRING_EQUAL(g->peers[1], "logger_1");
    CU_ASSERT_FALSE(g->broadcast);
    CU_ASSERT_FALSE(g->cpu_bound);
    CU_ASSERT_EQUAL(g->workers, 1);
    CU_ASSERT_DOUBLE_EQUAL(g->timeout_seconds, 1.5, 1e-9);
    CU_ASSERT_EQUAL(g->credit, 2);

    const xb_listener_config_t *o = &cfg->listeners[1];
    CU_ASSERT_STRING_EQUAL(o->name, "orders");
    CU_ASSERT_PTR_NULL(o->description);
    CU_ASSERT_EQUAL_FATAL(o->n_payloads, 1);
    CU_ASSERT_STRING_EQUAL(o->payloads[0], "{urn:test:orders}order");
    snprintf(path, sizeof path, "%s/schemas/order.xsd", data_dir);
    CU_ASSERT_STRING_EQUAL(o->schema, path);
    CU_ASSERT_EQUAL_FATAL(o->n_command, 3);
    snprintf(path, sizeof path, "%s/bin/orders", data_dir);
    CU_ASSERT_STRING_EQUAL(o->command[0], path); /* relative with a slash: config dir */
    CU_ASSERT_STRING_EQUAL(o->command[1], "--flag");
    CU_ASSERT_STRING_EQUAL(o->command[2], "a b");
    CU_ASSERT_TRUE(o->cpu_bound);
    CU_ASSERT_EQUAL(o->workers, 6);
    CU_ASSERT_TRUE(o->has_peers); /* peers: [] = may address nobody */
    CU_ASSERT_EQUAL(o->n_peers, 0);
    CU_ASSERT_EQUAL(o->credit, 1);
    CU_ASSERT_DOUBLE_EQUAL(o->timeout_seconds, 0.0, 1e-9);

    const xb_listener_config_t *l1 = &cfg->listeners[2];
    CU_ASSERT_STRING_EQUAL(l1->name, "logger_1");
    CU_ASSERT_TRUE(l1->broadcast);
    CU_ASSERT_TRUE(l1->cpu_bound);
    CU_ASSERT_EQUAL(l1->workers, 3); /* process_pool.workers */
    CU_ASSERT_FALSE(l1->has_peers);
    CU_ASSERT_PTR_NULL(l1->command);
    CU_ASSERT_EQUAL(l1->n_command, 0);

    const xb_listener_config_t *l2 = &cfg->listeners[3];
    CU_ASSERT_STRING_EQUAL(l2->name, "logger-2");
    CU_ASSERT_TRUE(l2->broadcast);
    CU_ASSERT_PTR_NULL(l2->schema);
    CU_ASSERT_EQUAL(l2->line, 48);

    CU_ASSERT_PTR_EQUAL(xb_config_listener(cfg, "orders"), o);
    CU_ASSERT_PTR_NULL(xb_config_listener(cfg, "nobody"));
    xb_config_destroy(&cfg);
    CU_ASSERT_PTR_NULL(cfg);
}

static void test_defaults(void)
{
    xb_config_t *cfg = expect_ok(HEAD ONE_LISTENER);
    if (!cfg)
        return;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CU_ASSERT_STRING_EQUAL(cfg->endpoint, XB_DEFAULT_ENDPOINT);
    CU_ASSERT_STRING_EQUAL(cfg->path, "t.yaml");
    CU_ASSERT_STRING_EQUAL(cfg->dir, data_dir);
    CU_ASSERT_EQUAL(cfg->limits.max_message_bytes, 1u << 20);
    CU_ASSERT_EQUAL(cfg->limits.max_xml_depth, 256);
    CU_ASSERT_EQUAL(cfg->limits.max_attributes, 256);
    CU_ASSERT_EQUAL(cfg->limits.max_namespaces, 256);
    CU_ASSERT_EQUAL(cfg->limits.max_depth, 50);
    CU_ASSERT_EQUAL(cfg->limits.max_slots_per_thread, 10000);
    CU_ASSERT_EQUAL(cfg->limits.max_threads, 100000);
    CU_ASSERT_EQUAL(cfg->limits.max_payload_bytes, 1u << 20);
    CU_ASSERT_EQUAL(cfg->limits.queue_max_messages, 10000);
    CU_ASSERT_EQUAL(cfg->limits.queue_max_bytes, (size_t)64 << 20);
    CU_ASSERT_DOUBLE_EQUAL(cfg->limits.shutdown_seconds, 10.0, 1e-9);
    CU_ASSERT_EQUAL(cfg->backend.type, XB_BACKEND_MEMORY);
    CU_ASSERT_STRING_EQUAL(cfg->backend.redis_url, "redis://127.0.0.1:6379");
    CU_ASSERT_STRING_EQUAL(cfg->backend.redis_prefix, "xp:");
    CU_ASSERT_EQUAL(cfg->backend.redis_ttl, 86400);
    CU_ASSERT_EQUAL(cfg->backend.map_size, 0);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/.xmlbus/t.lmdb", data_dir);
    CU_ASSERT_STRING_EQUAL(cfg->backend.path, path);
    CU_ASSERT_EQUAL(cfg->backend.max_slots_per_thread, 10000);
    CU_ASSERT_EQUAL(cfg->backend.max_threads, 100000);
    CU_ASSERT_EQUAL(cfg->backend.max_slot_bytes, 1u << 20);
    CU_ASSERT_EQUAL(cfg->pool.workers, cpus < 1 ? 1 : cpus);
    CU_ASSERT_EQUAL(cfg->pool.max_tasks_per_child, 0);
    CU_ASSERT_DOUBLE_EQUAL(cfg->pool.heartbeat, 1.0, 1e-9);
    CU_ASSERT_EQUAL(cfg->pool.liveness, 3);
    CU_ASSERT_EQUAL(cfg->pool.max_retries, 2);
    CU_ASSERT_EQUAL_FATAL(cfg->n_listeners, 1);
    const xb_listener_config_t *l = &cfg->listeners[0];
    CU_ASSERT_EQUAL(l->line, 4);
    CU_ASSERT_PTR_NULL(l->description);
    CU_ASSERT_PTR_NULL(l->schema);
    CU_ASSERT_PTR_NULL(l->command);
    CU_ASSERT_FALSE(l->has_peers);
    CU_ASSERT_FALSE(l->broadcast);
    CU_ASSERT_FALSE(l->cpu_bound);
    CU_ASSERT_EQUAL(l->workers, 1);
    CU_ASSERT_EQUAL(l->credit, 1);
    CU_ASSERT_DOUBLE_EQUAL(l->timeout_seconds, 0.0, 1e-9);
    xb_config_destroy(&cfg);
}

static void test_redis_backend(void)
{
    xb_error_t err;
    xb_config_t *cfg = xb_config_load(DATA_DIR "/redis.yaml", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(cfg->backend.type, XB_BACKEND_REDIS);
    CU_ASSERT_STRING_EQUAL(cfg->backend.redis_url, "redis://127.0.0.1:6390/2");
    CU_ASSERT_STRING_EQUAL(cfg->backend.redis_prefix, "tenant:");
    CU_ASSERT_EQUAL(cfg->backend.redis_ttl, 0);
    xb_config_destroy(&cfg);
}

static void test_values(void)
{
    /* Sizes with units, booleans in their spellings, nulls keep defaults. */
    xb_config_t *cfg = expect_ok(HEAD "limits:\n"
                                      "  max_message_bytes: 3KB\n"
                                      "  max_payload_bytes: 1 GiB\n"
                                      "  queue_max_bytes: 100B\n"
                                      "  max_slots_per_thread: 0\n"
                                      "  shutdown_seconds:\n"
                                      "backend:\n"
                                      "process_pool: ~\n"
                                      "listeners:\n"
                                      "  - name: a\n"
                                      "    payload: p\n"
                                      "    broadcast: True\n"
                                      "    description:\n"
                                      "  - name: b\n"
                                      "    payload: p\n"
                                      "    broadcast: on\n"
                                      "    cpu_bound: no\n"
                                      "    timeout_seconds: 3\n");
    if (!cfg)
        return;
    CU_ASSERT_EQUAL(cfg->limits.max_message_bytes, 3000);
    CU_ASSERT_EQUAL(cfg->limits.max_payload_bytes, (size_t)1 << 30);
    CU_ASSERT_EQUAL(cfg->limits.queue_max_bytes, 100);
    CU_ASSERT_EQUAL(cfg->limits.max_slots_per_thread, 0);
    CU_ASSERT_EQUAL(cfg->backend.max_slots_per_thread, 0);
    CU_ASSERT_DOUBLE_EQUAL(cfg->limits.shutdown_seconds, 10.0, 1e-9);
    CU_ASSERT_TRUE(cfg->listeners[0].broadcast);
    CU_ASSERT_PTR_NULL(cfg->listeners[0].description);
    CU_ASSERT_TRUE(cfg->listeners[1].broadcast);
    CU_ASSERT_FALSE(cfg->listeners[1].cpu_bound);
    CU_ASSERT_DOUBLE_EQUAL(cfg->listeners[1].timeout_seconds, 3.0, 1e-9);
    xb_config_destroy(&cfg);

    /* "{}local" is the empty namespace; a tag may be namespaced. */
    cfg = expect_ok(HEAD "listeners:\n  - name: a\n    payload: ['{}x', '{urn:a}y']\n");
    if (cfg) {
        CU_ASSERT_STRING_EQUAL(cfg->listeners[0].payloads[1], "{urn:a}y");
        xb_config_destroy(&cfg);
    }
    /* Every endpoint scheme. */
    static const char *const eps[] = {"tcp://127.0.0.1:*", "tcp://*:7400", "ipc:///tmp/x.sock",
                                      "inproc://bus"};
    for (size_t i = 0; i < 4; i++) {
        char y[256];
        snprintf(y, sizeof y, HEAD "  endpoint: '%s'\nsecurity:\n  insecure: true\n" ONE_LISTENER,
                 eps[i]);
        cfg = expect_ok(y);
        if (cfg)
            CU_ASSERT_STRING_EQUAL(cfg->endpoint, eps[i]);
        xb_config_destroy(&cfg);
    }
}

static void test_relative_paths(void)
{
    /* Schema, backend path and a command with a slash resolve against the
     * config folder; an absolute path and a bare command stay as written. */
    char abs_schema[PATH_MAX + 32];
    snprintf(abs_schema, sizeof abs_schema, "%s/log.xsd", data_dir);
    char yaml[PATH_MAX + 1024];
    snprintf(yaml, sizeof yaml,
             HEAD "backend:\n  type: manager\n  path: ../var/db\n"
                  "listeners:\n"
                  "  - name: a\n    payload: greeting\n    schema: ./schemas/../greeter.xsd\n"
                  "    command: ./tools/run-a --x\n"
                  "  - name: b\n    payload: log\n    schema: %s\n    command: [/usr/bin/env, b]\n"
                  "  - name: c\n    payload: c\n    command: sub/dir/c\n",
             abs_schema);
    xb_config_t *cfg = expect_ok(yaml);
    if (!cfg)
        return;
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/greeter.xsd", data_dir);
    CU_ASSERT_STRING_EQUAL(cfg->listeners[0].schema, want); /* canonical */
    CU_ASSERT_STRING_EQUAL(cfg->listeners[1].schema, abs_schema);
    snprintf(want, sizeof want, "%s/../var/db", data_dir);
    CU_ASSERT_STRING_EQUAL(cfg->backend.path, want);
    snprintf(want, sizeof want, "%s/./tools/run-a", data_dir);
    CU_ASSERT_STRING_EQUAL(cfg->listeners[0].command[0], want);
    CU_ASSERT_STRING_EQUAL(cfg->listeners[0].command[1], "--x");
    CU_ASSERT_STRING_EQUAL(cfg->listeners[1].command[0], "/usr/bin/env");
    snprintf(want, sizeof want, "%s/sub/dir/c", data_dir);
    CU_ASSERT_STRING_EQUAL(cfg->listeners[2].command[0], want);
    xb_config_destroy(&cfg);

    /* The folder of a loaded file is the base, wherever the process runs. */
    char cwd[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
    CU_ASSERT_EQUAL_FATAL(chdir("/"), 0);
    xb_error_t err;
    char full[PATH_MAX + 32];
    snprintf(full, sizeof full, "%s/full.yaml", data_dir);
    cfg = xb_config_load(full, &err);
    CU_ASSERT_EQUAL(chdir(cwd), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    snprintf(want, sizeof want, "%s/schemas/order.xsd", data_dir);
    CU_ASSERT_STRING_EQUAL(cfg->listeners[1].schema, want);
    snprintf(want, sizeof want, "%s/state/full.lmdb", data_dir); /* not /state/full.lmdb */
    CU_ASSERT_STRING_EQUAL(cfg->backend.path, want);
    xb_config_destroy(&cfg);

    /* Same for a relative path given on the command line: the base is the
     * file's folder, not the folder the process runs in. */
    snprintf(want, sizeof want, "%s/schemas", data_dir);
    CU_ASSERT_EQUAL_FATAL(chdir(want), 0);
    cfg = xb_config_load("../full.yaml", &err);
    CU_ASSERT_EQUAL(chdir(cwd), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    snprintf(want, sizeof want, "%s/state/full.lmdb", data_dir);
    CU_ASSERT_STRING_EQUAL(cfg->backend.path, want);
    xb_config_destroy(&cfg);
}

static void test_command_forms(void)
{
    xb_config_t *cfg = expect_ok(HEAD
                                 "listeners:\n"
                                 "  - name: a\n    payload: p\n"
                                 "    command: '  prog  \"x \\\" y\"  a\"b c\"d \"\" '\n"
                                 "  - name: b\n    payload: q\n"
                                 "    command:\n      - prog\n      - 'one arg'\n      - ''\n");
    if (!cfg)
        return;
    const xb_listener_config_t *a = &cfg->listeners[0];
    CU_ASSERT_EQUAL_FATAL(a->n_command, 4);
    CU_ASSERT_STRING_EQUAL(a->command[0], "prog");
    CU_ASSERT_STRING_EQUAL(a->command[1], "x \" y");
    CU_ASSERT_STRING_EQUAL(a->command[2], "ab cd");
    CU_ASSERT_STRING_EQUAL(a->command[3], "");
    CU_ASSERT_PTR_NULL(a->command[4]);
    const xb_listener_config_t *b = &cfg->listeners[1];
    CU_ASSERT_EQUAL_FATAL(b->n_command, 3);
    CU_ASSERT_STRING_EQUAL(b->command[1], "one arg");
    CU_ASSERT_STRING_EQUAL(b->command[2], "");
    CU_ASSERT_PTR_NULL(b->command[3]);
    xb_config_destroy(&cfg);

    char **argv = NULL;
    size_t argc = 0;
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_command_split("a \"b\\\\c\" d", &argv, &argc, &err), 0);
    CU_ASSERT_EQUAL(argc, 3);
    if (argv)
        CU_ASSERT_STRING_EQUAL(argv[1], "b\\c");
    xb_command_free(&argv);
    CU_ASSERT_PTR_NULL(argv);
    CU_ASSERT_EQUAL(xb_command_split("   ", &argv, &argc, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    CU_ASSERT_EQUAL(xb_command_split("a \"b", &argv, &argc, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "unterminated"));
    CU_ASSERT_PTR_NULL(argv);
}

static void test_hello_example(void)
{
    xb_error_t err;
    xb_config_t *cfg = xb_config_load(XB_SOURCE_DIR "/examples/hello/organism.yaml", &err);
    if (!cfg)
        fprintf(stderr, "\n  %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_STRING_EQUAL(cfg->name, "hello");
    CU_ASSERT_STRING_EQUAL(cfg->endpoint, "tcp://127.0.0.1:7400");
    CU_ASSERT_EQUAL(cfg->backend.type, XB_BACKEND_MEMORY);
    CU_ASSERT_EQUAL_FATAL(cfg->n_listeners, 2);
    const xb_listener_config_t *g = xb_config_listener(cfg, "greeter");
    const xb_listener_config_t *s = xb_config_listener(cfg, "shouter");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL_FATAL(g->n_payloads, 2);
    CU_ASSERT_STRING_EQUAL(g->payloads[0], "greeting");
    CU_ASSERT_STRING_EQUAL(g->payloads[1], "shouted");
    CU_ASSERT_PTR_NOT_NULL(strstr(g->schema, "/examples/hello/greeter.xsd"));
    CU_ASSERT_STRING_EQUAL(g->command[0], "hello-greeter");
    CU_ASSERT_EQUAL_FATAL(s->n_payloads, 1);
    CU_ASSERT_STRING_EQUAL(s->payloads[0], "shout");
    CU_ASSERT_PTR_NOT_NULL(strstr(s->schema, "/examples/hello/shouter.xsd"));
    CU_ASSERT_STRING_EQUAL(s->command[0], "hello-shouter");
    xb_config_destroy(&cfg);

    xb_config_check_summary_t sum;
    CU_ASSERT_EQUAL(
        xb_config_check_all(XB_SOURCE_DIR "/examples/hello/organism.yaml", NULL, NULL, &sum), 0);
    CU_ASSERT_STRING_EQUAL(sum.organism, "hello");
    CU_ASSERT_EQUAL(sum.listeners, 2);
    CU_ASSERT_EQUAL(sum.schemas, 2);
}

/* ----------------------------------------------------------------- errors */

static void test_syntax_and_shape_errors(void)
{
    EXPECT_ERROR("", 1, 1, "empty configuration");
    EXPECT_ERROR("# nothing here\n\n", 1, 1, "empty configuration");
    EXPECT_ERROR("- a\n- b\n", 1, 1, "must be a mapping");
    EXPECT_ERROR("organism:\n  name: t\n bad: x\n" ONE_LISTENER, 3, 2, "YAML syntax error");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: [x, y\n  - name: b\n", 6, 9,
                 "YAML syntax error");
    EXPECT_ERROR(HEAD ONE_LISTENER "---\nfoo: 1\n", 7, 1, "second YAML document");
    EXPECT_ERROR("limits: {}\n" ONE_LISTENER, 1, 1, "missing section 'organism'");
    EXPECT_ERROR("organism:\n  endpoint: tcp://a:1\n" ONE_LISTENER, 2, 3,
                 "missing key 'name' in section 'organism'");
    EXPECT_ERROR("organism: [a]\n" ONE_LISTENER, 1, 11, "section 'organism' must be a mapping");
    EXPECT_ERROR(HEAD, 1, 1, "no listeners");
    EXPECT_ERROR(HEAD "listeners:\n", 3, 1, "no listeners");
    EXPECT_ERROR(HEAD "listeners: []\n", 3, 1, "no listeners");
    EXPECT_ERROR(HEAD "listeners: {a: 1}\n", 3, 12, "'listeners' must be a list");
    EXPECT_ERROR(HEAD "listeners:\n  - just-a-name\n", 4, 5, "must be a mapping");
    EXPECT_ERROR(HEAD "organism:\n  name: u\n" ONE_LISTENER, 3, 1, "duplicate key 'organism'");
    /* Deep nesting is refused before libyaml's quadratic scan of it. */
    char deep[200001];
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\0';
    char *yaml = malloc(sizeof deep + 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(yaml);
    snprintf(yaml, sizeof deep + 64, HEAD "limits: %s\n", deep);
    EXPECT_ERROR(yaml, 3, 40, "nesting deeper than 32 levels");
    free(yaml);
    EXPECT_ERROR(HEAD ONE_LISTENER "    payload: q\n", 6, 5,
                 "duplicate key 'payload' in listener 'a' (first given at line 5)");
}

static void test_unknown_keys(void)
{
    EXPECT_ERROR(HEAD "limit:\n  max_depth: 3\n" ONE_LISTENER, 3, 1,
                 "unknown key 'limit' in the top level (did you mean 'limits'?)");
    EXPECT_ERROR(HEAD "  colour: blue\n" ONE_LISTENER, 3, 3,
                 "unknown key 'colour' in section 'organism'");
    EXPECT_ERROR(HEAD "limits:\n  max_dept: 3\n" ONE_LISTENER, 4, 3,
                 "unknown key 'max_dept' in section 'limits' (did you mean 'max_depth'?)");
    EXPECT_ERROR(HEAD "backend:\n  typ: redis\n" ONE_LISTENER, 4, 3,
                 "unknown key 'typ' in section 'backend' (did you mean 'type'?)");
    EXPECT_ERROR(HEAD "process_pool:\n  wrokers: 2\n" ONE_LISTENER, 4, 3,
                 "unknown key 'wrokers' in section 'process_pool' (did you mean 'workers'?)");
    EXPECT_ERROR(HEAD "listeners:\n  - name: greeter\n    pyaload: greeting\n    payload: g\n", 5,
                 5, "unknown key 'pyaload' in listener 'greeter' (did you mean 'payload'?)");
    /* No suggestion when nothing is close. */
    xb_error_t err;
    xb_config_t *cfg = load_str(HEAD "listeners:\n  - name: a\n    payload: p\n    zzzzzz: 1\n",
                                &err);
    CU_ASSERT_PTR_NULL(cfg);
    CU_ASSERT_EQUAL(err.line, 6);
    CU_ASSERT_PTR_NULL(strstr(err.message, "did you mean"));
}

typedef struct {
    const char *key;
    const char *bad;
    const char *needle;
} bad_value_t;

/* Each typed key with a wrong value, in a section, must fail on the value. */
static void check_bad_values(const char *section, const char *pre, const bad_value_t *cases,
                             size_t n, int line)
{
    for (size_t i = 0; i < n; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml, HEAD "%s:\n%s  %s: %s\n" ONE_LISTENER, section, pre,
                 cases[i].key, cases[i].bad);
        int col = 2 + (int)strlen(cases[i].key) + 2 + 1;
        char needle[256];
        snprintf(needle, sizeof needle, "'%s' in section '%s' %s", cases[i].key, section,
                 cases[i].needle);
        expect_error_at(yaml, line, col, needle, __LINE__);
    }
}

static void test_wrong_types(void)
{
    static const bad_value_t limits[] = {
        {"max_message_bytes", "lots", "must be a size"},
        {"max_message_bytes", "[1]", "must be a size, got a list"},
        {"max_xml_depth", "deep", "must be an integer"},
        {"max_xml_depth", "2", "must be an integer from 4"},
        {"max_attributes", "-1", "must be an integer from 1"},
        {"max_namespaces", "{a: 1}", "must be an integer, got a mapping"},
        {"max_depth", "1.5", "must be an integer"},
        {"max_depth", "0", "must be an integer from 1"},
        {"max_slots_per_thread", "-3", "must be an integer from 0"},
        {"max_threads", "abc", "must be an integer"},
        {"max_payload_bytes", "1XB", "must be a size"},
        {"queue_max_messages", "0", "must be an integer from 1"},
        {"queue_max_bytes", "99999999999999999999999", "must be a size from"},
        {"shutdown_seconds", "soon", "must be a number"},
        {"shutdown_seconds", "-1", "must be at least 0"},
    };
    check_bad_values("limits", "", limits, sizeof limits / sizeof limits[0], 4);
    static const bad_value_t manager[] = {
        {"path", "[a]", "must be a string, got a list"},
        {"map_size", "huge", "must be a size"},
    };
    check_bad_values("backend", "  type: manager\n", manager, 2, 5);
    static const bad_value_t redis[] = {
        {"redis_url", "http://x", "must be redis://"},
        {"redis_prefix", "{a: b}", "must be a string, got a mapping"},
        {"redis_ttl", "-5", "must be an integer from 0"},
        {"redis_ttl", "1d", "must be an integer"},
    };
    check_bad_values("backend", "  type: redis\n", redis, 4, 5);
    static const bad_value_t backend[] = {
        {"type", "[memory]", "must be a string, got a list"},
    };
    check_bad_values("backend", "", backend, 1, 4);
    static const bad_value_t pool[] = {
        {"workers", "many", "must be an integer"},
        {"workers", "0", "must be an integer from 1"},
        {"max_tasks_per_child", "-1", "must be an integer from 0"},
        {"heartbeat", "fast", "must be a number"},
        {"heartbeat", "0", "must be greater than 0"},
        {"liveness", "0", "must be an integer from 1"},
        {"max_retries", "x", "must be an integer"},
    };
    check_bad_values("process_pool", "", pool, sizeof pool / sizeof pool[0], 4);

    /* Organism keys (the section already has a name on line 2). */
    EXPECT_ERROR("organism:\n  name: [a]\n" ONE_LISTENER, 2, 9,
                 "'name' in section 'organism' must be a string, got a list");
    EXPECT_ERROR(HEAD "  endpoint: {a: 1}\n" ONE_LISTENER, 3, 13,
                 "'endpoint' in section 'organism' must be a string, got a mapping");

    /* Listener keys: line 6, after name and payload. */
    static const bad_value_t listener[] = {
        {"description", "[a]", "must be a string, got a list"},
        {"schema", "[x.xsd]", "must be a string, got a list"},
        {"command", "{a: 1}", "must be a string or a list of strings, got a mapping"},
        {"peers", "{a: 1}", "must be a list of listener names, got a mapping"},
        {"broadcast", "maybe", "must be true or false, got 'maybe'"},
        {"broadcast", "[true]", "must be true or false, got a list"},
        {"cpu_bound", "2", "must be true or false"},
        {"timeout_seconds", "-1", "must be at least 0"},
        {"timeout_seconds", "later", "must be a number"},
        {"credit", "0", "must be an integer from 1"},
        {"credit", "x", "must be an integer"},
        {"workers", "0", "must be an integer from 1"},
    };
    for (size_t i = 0; i < sizeof listener / sizeof listener[0]; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml,
                 HEAD "listeners:\n  - name: a\n    payload: p\n    %s\n    %s: %s\n",
                 strcmp(listener[i].key, "workers") == 0 ? "cpu_bound: true" : "# filler",
                 listener[i].key, listener[i].bad);
        char needle[256];
        snprintf(needle, sizeof needle, "'%s' in listener 'a' %s", listener[i].key,
                 listener[i].needle);
        expect_error_at(yaml, 7, 4 + (int)strlen(listener[i].key) + 2 + 1, needle, __LINE__);
    }
    EXPECT_ERROR(
        HEAD "listeners:\n  - name: a\n    payload: {x: 1}\n", 5, 14,
        "'payload' in listener 'a' must be a root tag or a list of root tags, got a mapping");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: []\n", 5, 14,
                 "must name at least one root tag");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: [x, [y]]\n", 5, 18,
                 "each payload of listener 'a' must be a root tag, got a list");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: p\n    command: []\n", 6, 14,
                 "must not be an empty list");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: p\n    command: [x, {a: 1}]\n", 6, 18,
                 "each item of 'command' in listener 'a' must be a string");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: p\n    command: '   '\n", 6, 14,
                 "the command is empty");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: p\n    command: 'x \"y'\n", 6, 14,
                 "unterminated double quote");
}

static void test_names(void)
{
    EXPECT_ERROR("organism:\n  name: 1abc\n" ONE_LISTENER, 2, 9, "invalid organism name '1abc'");
    EXPECT_ERROR("organism:\n  name:\n" ONE_LISTENER, 2, 8, "must not be empty");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a.b\n    payload: p\n", 4, 11,
                 "invalid listener name 'a.b'");
    EXPECT_ERROR(HEAD "listeners:\n  - name: 'with space'\n    payload: p\n", 4, 11,
                 "invalid listener name 'with space'");
    EXPECT_ERROR(HEAD "listeners:\n  - name: "
                      "a123456789012345678901234567890123456789012345678901234567890123\n"
                      "    payload: p\n",
                 4, 11, "at most 63 characters");
    EXPECT_ERROR(HEAD "listeners:\n  - name: system\n    payload: p\n", 4, 11,
                 "listener name 'system' is reserved");
    EXPECT_ERROR(HEAD "listeners:\n  - payload: p\n", 4, 5, "the listener at line 4 has no 'name'");
    EXPECT_ERROR(HEAD "listeners:\n  - name: [a]\n    payload: p\n", 4, 11,
                 "'name' in the listener at line 4 must be a string");
    /* A duplicate names both lines, reported on the second. */
    EXPECT_ERROR(HEAD "listeners:\n"
                      "  - name: twin\n    payload: a\n"
                      "  - name: other\n    payload: b\n"
                      "  - name: twin\n    payload: c\n",
                 8, 11, "listener name 'twin' is used twice (lines 4 and 8)");
    CU_ASSERT_TRUE(xb_config_valid_name("a"));
    CU_ASSERT_TRUE(xb_config_valid_name("Ab_9-x"));
    CU_ASSERT_FALSE(xb_config_valid_name(""));
    CU_ASSERT_FALSE(xb_config_valid_name("_a"));
    CU_ASSERT_FALSE(xb_config_valid_name("a.b"));
    CU_ASSERT_FALSE(xb_config_valid_name("caf\xc3\xa9"));
    CU_ASSERT_FALSE(xb_config_valid_name(NULL));
}

static void test_reference_errors(void)
{
    EXPECT_ERROR(HEAD "listeners:\n"
                      "  - name: greeter\n    payload: g\n    peers: [shouter, shoutr]\n"
                      "  - name: shouter\n    payload: s\n",
                 6, 22,
                 "unknown peer 'shoutr' in listener 'greeter': no listener has that name "
                 "(did you mean 'shouter'?)");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: p\n    peers: [a, a]\n", 6, 16,
                 "peer 'a' listed twice");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: p\n    schema: nope/missing.xsd\n", 6,
                 13, "schema file 'nope/missing.xsd' of listener 'a' cannot be read");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: p\n    schema: schemas\n", 6, 13,
                 "not a regular file");
    /* Two listeners on one tag without broadcast: both named, at the second. */
    EXPECT_ERROR(HEAD "listeners:\n"
                      "  - name: a\n    payload: [x, shared]\n"
                      "  - name: b\n    payload: [y, shared]\n",
                 7, 18, "listeners 'a' (line 4) and 'b' (line 6) both accept 'shared'");
    /* All broadcast but one: still an error, naming the one. */
    EXPECT_ERROR(HEAD "listeners:\n"
                      "  - name: a\n    payload: log\n    broadcast: true\n"
                      "  - name: b\n    payload: log\n    broadcast: true\n"
                      "  - name: c\n    payload: '{}log'\n",
                 11, 14, "but 'c' is not broadcast");
    /* The same local name in another namespace is another tag. */
    xb_config_t *cfg = expect_ok(HEAD "listeners:\n  - name: a\n    payload: x\n"
                                      "  - name: b\n    payload: '{urn:b}x'\n");
    xb_config_destroy(&cfg);
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: p\n    workers: 4\n", 6, 5,
                 "'workers' in listener 'a' only applies to a pool: add 'cpu_bound: true'");
    EXPECT_ERROR(HEAD
                 "listeners:\n  - name: a\n    payload: p\n    workers: 4\n    cpu_bound: false\n",
                 6, 5, "only applies to a pool");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    description: no payload\n", 4, 5,
                 "listener 'a' has no 'payload'");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: [p, SystemError]\n", 5, 18,
                 "accepts SystemError implicitly");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: '1bad'\n", 5, 14,
                 "invalid payload tag '1bad'");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: '{urn:x'\n", 5, 14,
                 "invalid payload tag");
    EXPECT_ERROR(HEAD "listeners:\n  - name: a\n    payload: [p, q, p]\n", 5, 21, "listed twice");
}

static void test_backend_errors(void)
{
    EXPECT_ERROR(
        HEAD "backend:\n  type: memroy\n" ONE_LISTENER, 4, 9,
        "unknown backend type 'memroy' (memory, manager or redis) (did you mean 'memory'?)");
    EXPECT_ERROR(HEAD "backend:\n  type: sqlite\n" ONE_LISTENER, 4, 9, "unknown backend type");
    /* A key of another backend type would be ignored: refused instead. */
    EXPECT_ERROR(HEAD "backend:\n  redis_url: redis://h:1\n" ONE_LISTENER, 4, 3,
                 "'redis_url' in section 'backend' applies to backend type 'redis' only "
                 "(type is 'memory')");
    EXPECT_ERROR(HEAD "backend:\n  type: redis\n  path: x\n" ONE_LISTENER, 5, 3,
                 "applies to backend type 'manager' only");
    EXPECT_ERROR(HEAD "backend:\n  type: manager\n  path: ''\n" ONE_LISTENER, 5, 9,
                 "must not be empty");
    /* The memory backend keeps no journal: asking for one is refused. */
    EXPECT_ERROR(HEAD "backend:\n  journal: true\n" ONE_LISTENER, 4, 3,
                 "'journal: true' in section 'backend': the memory backend keeps no journal");
}

static void test_journal_keys(void)
{
    xb_config_t *cfg = expect_ok(HEAD "backend:\n  journal: false\n" ONE_LISTENER);
    if (cfg)
        CU_ASSERT_FALSE(cfg->backend.journal);
    xb_config_destroy(&cfg);
    cfg = expect_ok(HEAD "limits:\n  max_redeliveries: 7\nbackend:\n  type: manager\n"
                         "  journal: true\n" ONE_LISTENER);
    if (cfg) {
        CU_ASSERT_TRUE(cfg->backend.journal);
        CU_ASSERT_EQUAL(cfg->limits.max_redeliveries, 7);
    }
    xb_config_destroy(&cfg);
    cfg = expect_ok(HEAD ONE_LISTENER);
    if (cfg) {
        CU_ASSERT_TRUE(cfg->backend.journal); /* the default, ignored by memory */
        CU_ASSERT_EQUAL(cfg->limits.max_redeliveries, 3);
    }
    xb_config_destroy(&cfg);
}

static void test_endpoint_errors(void)
{
    EXPECT_ERROR(HEAD "  endpoint: udp://127.0.0.1:7400\n" ONE_LISTENER, 3, 13,
                 "must start with tcp://, ipc:// or inproc://");
    EXPECT_ERROR(HEAD "  endpoint: 127.0.0.1:7400\n" ONE_LISTENER, 3, 13, "must start with");
    EXPECT_ERROR(HEAD "  endpoint: tcp://127.0.0.1\n" ONE_LISTENER, 3, 13, "tcp://HOST:PORT");
    EXPECT_ERROR(HEAD "  endpoint: tcp://h:port\n" ONE_LISTENER, 3, 13, "tcp://HOST:PORT");
    EXPECT_ERROR(HEAD "  endpoint: 'inproc://'\n" ONE_LISTENER, 3, 13, "has no address");
    /* Beyond loopback without security: refused, with the fix. */
    EXPECT_ERROR(HEAD "  endpoint: 'tcp://*:7400'\n" ONE_LISTENER, 3, 13,
                 "can be reached from other machines");
    EXPECT_ERROR(HEAD "  endpoint: tcp://0.0.0.0:7400\n" ONE_LISTENER, 3, 13, "insecure: true");
    EXPECT_ERROR(HEAD "  endpoint: tcp://10.1.2.3:7400\n" ONE_LISTENER, 3, 13, "server_key");
    const char *local[] = {"tcp://127.0.0.1:1", "tcp://127.1.2.3:*", "tcp://localhost:7",
                           "tcp://[::1]:7",     "ipc:///tmp/a",      "inproc://x"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        CU_ASSERT_TRUE(xb_endpoint_is_local(local[i]));
    const char *exposed[] = {"tcp://*:1",    "tcp://0.0.0.0:1", "tcp://127.0.0.1.evil:1",
                             "tcp://eth0:1", "tcp://[::]:1",    "tcp://127.0.0.a:1"};
    for (size_t i = 0; i < sizeof exposed / sizeof *exposed; i++)
        CU_ASSERT_FALSE(xb_endpoint_is_local(exposed[i]));
    xb_error_t err;
    CU_ASSERT_EQUAL(xb_config_check_endpoint("ipc:///tmp/a", &err), 0);
    CU_ASSERT_EQUAL(xb_config_check_endpoint("pgm://x", &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
}

/* The section security: key files resolve against the config's folder and
 * must be readable (their content is the pump's business); keys without a
 * server_key, and bad permissions, are refused. */
static void test_security_section(void)
{
    xb_config_t *cfg = expect_ok(HEAD "  endpoint: tcp://0.0.0.0:7400\n"
                                      "security:\n  server_key: full.yaml\n"
                                      "  clients: [full.yaml]\n  admins: [full.yaml, full.yaml]\n"
                                      "  ipc_mode: '0660'\n  ipc_group: staff\n" ONE_LISTENER
                                      "    key: full.yaml\n");
    if (cfg) {
        CU_ASSERT_PTR_NOT_NULL(cfg->security.server_key &&
                               strstr(cfg->security.server_key, "/full.yaml"));
        CU_ASSERT_EQUAL(cfg->security.clients.n, 1);
        CU_ASSERT_EQUAL(cfg->security.admins.n, 2);
        CU_ASSERT_EQUAL(cfg->security.ipc_mode, 0660);
        CU_ASSERT_STRING_EQUAL(cfg->security.ipc_group, "staff");
        CU_ASSERT_PTR_NOT_NULL(cfg->listeners[0].key);
        CU_ASSERT_EQUAL(cfg->security.line, 4);
        xb_config_destroy(&cfg);
    }
    cfg = expect_ok(HEAD ONE_LISTENER);
    if (cfg) {
        CU_ASSERT_PTR_NULL(cfg->security.server_key);
        CU_ASSERT_EQUAL(cfg->security.ipc_mode, XB_IPC_MODE_DEFAULT);
        xb_config_destroy(&cfg);
    }
    EXPECT_ERROR(HEAD "security:\n  server_key: no-such.key\n" ONE_LISTENER, 4, 15,
                 "key file 'no-such.key' of section 'security' cannot be read");
    EXPECT_ERROR(HEAD "security:\n  clients: [full.yaml]\n" ONE_LISTENER, 3, 1,
                 "lists keys but no 'server_key'");
    EXPECT_ERROR(HEAD ONE_LISTENER "    key: full.yaml\n", 4, 5, "has a 'key' but");
    EXPECT_ERROR(HEAD "security:\n  ipc_mode: '0999'\n" ONE_LISTENER, 4, 13, "octal");
    EXPECT_ERROR(HEAD "security:\n  clients: full.yaml\n" ONE_LISTENER, 4, 12,
                 "must be a list of key files");
    EXPECT_ERROR(HEAD "security:\n  insecur: true\n" ONE_LISTENER, 4, 3, "insecure");
}

static void test_first_error_wins(void)
{
    /* Problems found late in the walk (a peer) still lose to earlier lines. */
    EXPECT_ERROR(HEAD "listeners:\n"
                      "  - name: a\n    payload: p\n    peers: [nobody]\n"
                      "  - name: b\n    payload: q\n    credit: zero\n",
                 6, 13, "unknown peer 'nobody'");
}

static void test_load_file_errors(void)
{
    xb_error_t err;
    xb_config_t *cfg = xb_config_load(DATA_DIR "/does-not-exist.yaml", &err);
    CU_ASSERT_PTR_NULL(cfg);
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "does-not-exist.yaml: cannot open"));
    cfg = xb_config_load(DATA_DIR, &err);
    CU_ASSERT_PTR_NULL(cfg);
    CU_ASSERT_EQUAL(err.code, XB_ERR_CONFIG);
    cfg = xb_config_load(NULL, &err);
    CU_ASSERT_PTR_NULL(cfg);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    /* A NUL byte inside a file is refused, not cut short. */
    static const char nul[] =
        "organism:\n  name: t\nlisteners:\n  - name: a\n    payload: \"p\\0q\"\n";
    cfg = xb_config_load_string(nul, sizeof nul - 1, "n.yaml", NULL, &err);
    CU_ASSERT_PTR_NULL(cfg);
    CU_ASSERT_EQUAL(err.line, 5);
}

/* ---------------------------------------------------------- check_all */

typedef struct {
    char lines[32][600];
    size_t n;
} collected_t;

static void collect(const char *msg, void *user)
{
    collected_t *c = user;
    if (c->n < 32)
        snprintf(c->lines[c->n], sizeof c->lines[0], "%s", msg);
    c->n++;
}

static bool any_line(const collected_t *c, const char *a, const char *b)
{
    for (size_t i = 0; i < c->n && i < 32; i++)
        if (strstr(c->lines[i], a) && (!b || strstr(c->lines[i], b)))
            return true;
    return false;
}

static void test_check_all(void)
{
    collected_t c = {.n = 0};
    xb_config_check_summary_t sum;
    size_t n = xb_config_check_all(DATA_DIR "/broken.yaml", collect, &c, &sum);
    for (size_t i = 0; n != 4 && i < c.n && i < 32; i++)
        fprintf(stderr, "\n  %s", c.lines[i]);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(c.n, n);
    CU_ASSERT_EQUAL(sum.problems, n);
    CU_ASSERT_STRING_EQUAL(sum.organism, "broken");
    CU_ASSERT_EQUAL(sum.listeners, 4);
    CU_ASSERT_EQUAL(sum.schemas, 1); /* greeter.xsd, shared by two listeners */
    /* Config problems first with FILE:LINE:COL, then schema problems. */
    CU_ASSERT_PTR_NOT_NULL(strstr(c.lines[0], "broken.yaml:16:5: unknown key 'pyaload'"));
    CU_ASSERT_TRUE(any_line(&c, "broken.xsd:7: ", "nosuchtype"));
    CU_ASSERT_TRUE(any_line(&c, "malformed.xsd:5: ", "mismatch"));
    CU_ASSERT_TRUE(any_line(&c, "broken.yaml:13: listener 'unrelated' accepts 'shout'",
                            "declares no global element 'shout'"));

    /* Many independent key errors are all reported, in line order. */
    static const char many[] = HEAD "  colour: x\nlimits:\n  max_depth: x\n  max_threads: -1\n"
                                    "listeners:\n  - name: a\n    payload: p\n    credit: 0\n";
    char dir[] = "/tmp/xbcfg-test-XXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/o.yaml", dir);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(many, f);
    fclose(f);
    memset(&c, 0, sizeof c);
    n = xb_config_check_all(path, collect, &c, &sum);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.lines[0], "o.yaml:3:3: unknown key 'colour'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.lines[1], "o.yaml:5:14:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.lines[2], "o.yaml:6:16:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(c.lines[3], "o.yaml:10:13:"));
    unlink(path);
    rmdir(dir);

    memset(&c, 0, sizeof c);
    CU_ASSERT_EQUAL(xb_config_check_all(DATA_DIR "/full.yaml", collect, &c, &sum), 0);
    CU_ASSERT_EQUAL(c.n, 0);
    CU_ASSERT_EQUAL(sum.listeners, 4);
    CU_ASSERT_EQUAL(sum.schemas, 3);
    CU_ASSERT_EQUAL(xb_config_check_all(DATA_DIR "/nope.yaml", collect, &c, &sum), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(c.lines[0], "nope.yaml: cannot open"));
}

/* ------------------------------------------------------------- in code */

static void test_build_in_code(void)
{
    xb_error_t err;
    xb_config_t *cfg = xb_config_new_default("embedded");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(cfg->n_listeners, 0);
    CU_ASSERT_STRING_EQUAL(cfg->name, "embedded");
    CU_ASSERT_STRING_EQUAL(cfg->endpoint, XB_DEFAULT_ENDPOINT);
    CU_ASSERT_EQUAL(cfg->limits.max_depth, 50);
    CU_ASSERT_EQUAL(cfg->backend.max_slot_bytes, 1u << 20);
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), 0); /* no listeners is fine in code */

    CU_ASSERT_EQUAL(xb_config_set_endpoint(cfg, "inproc://embedded", &err), 0);
    CU_ASSERT_STRING_EQUAL(cfg->endpoint, "inproc://embedded");
    CU_ASSERT_EQUAL(xb_config_set_endpoint(cfg, "http://x", &err), -1);
    CU_ASSERT_STRING_EQUAL(cfg->endpoint, "inproc://embedded");
    CU_ASSERT_EQUAL(xb_config_set_dir(cfg, DATA_DIR, &err), 0);
    CU_ASSERT_STRING_EQUAL(cfg->dir, data_dir);

    xb_listener_config_t *a = xb_config_add_listener(cfg, "greeter", "greeting", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(xb_config_listener_add_payload(a, "shouted", &err), 0);
    CU_ASSERT_EQUAL(xb_config_listener_add_payload(a, "shouted", &err), -1);
    CU_ASSERT_EQUAL(xb_config_listener_add_payload(a, "SystemError", &err), -1);
    CU_ASSERT_EQUAL(xb_config_listener_add_payload(a, "a b", &err), -1);
    CU_ASSERT_EQUAL(xb_config_listener_set_schema(cfg, a, "greeter.xsd", &err), 0);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/greeter.xsd", data_dir);
    CU_ASSERT_STRING_EQUAL(a->schema, want);
    CU_ASSERT_EQUAL(xb_config_listener_set_schema(cfg, a, "missing.xsd", &err), -1);
    CU_ASSERT_STRING_EQUAL(a->schema, want); /* unchanged */
    CU_ASSERT_EQUAL(xb_config_listener_set_command_line(a, "prog \"a b\"", &err), 0);
    CU_ASSERT_EQUAL(a->n_command, 2);
    static const char *const argv[] = {"other", "x", NULL};
    CU_ASSERT_EQUAL(xb_config_listener_set_command(a, argv, &err), 0);
    CU_ASSERT_STRING_EQUAL(a->command[0], "other");
    CU_ASSERT_PTR_NULL(a->command[2]);
    CU_ASSERT_EQUAL(xb_config_listener_set_description(a, "hi", &err), 0);
    CU_ASSERT_STRING_EQUAL(a->description, "hi");
    CU_ASSERT_EQUAL(xb_config_listener_add_peer(a, "shouter", &err), 0);
    CU_ASSERT_TRUE(a->has_peers);

    CU_ASSERT_PTR_NULL(xb_config_add_listener(cfg, "greeter", "x", &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "duplicate"));
    CU_ASSERT_PTR_NULL(xb_config_add_listener(cfg, "system", "x", &err));
    CU_ASSERT_PTR_NULL(xb_config_add_listener(cfg, "a.b", "x", &err));
    CU_ASSERT_PTR_NULL(xb_config_add_listener(cfg, "ok", "1x", &err));
    CU_ASSERT_EQUAL(cfg->n_listeners, 1);

    /* greeter's peer does not exist yet. */
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "unknown peer 'shouter'"));
    xb_listener_config_t *s = xb_config_add_listener(cfg, "shouter", NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no payload"));
    CU_ASSERT_EQUAL(xb_config_listener_add_payload(s, "greeting", &err), 0);
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "both accept 'greeting'"));
    cfg->listeners[0].broadcast = cfg->listeners[1].broadcast = true;
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), 0);
    s = &cfg->listeners[1];
    CU_ASSERT_EQUAL(xb_config_listener_set_cpu_bound(cfg, s, 0, &err), 0);
    CU_ASSERT_EQUAL(s->workers, cfg->pool.workers);
    CU_ASSERT_EQUAL(xb_config_listener_set_cpu_bound(cfg, s, 5, &err), 0);
    CU_ASSERT_EQUAL(s->workers, 5);
    CU_ASSERT_PTR_EQUAL(xb_config_listener(cfg, "shouter"), s);

    cfg->limits.max_threads = 7;
    xb_config_sync_backend_limits(cfg);
    CU_ASSERT_EQUAL(cfg->backend.max_threads, 7);
    xb_config_destroy(&cfg);
    CU_ASSERT_PTR_NULL(cfg);
    xb_config_destroy(&cfg); /* NULL is fine */

    CU_ASSERT_TRUE(xb_payload_tag_valid("greeting"));
    CU_ASSERT_TRUE(xb_payload_tag_valid("{urn:x:y}order"));
    CU_ASSERT_TRUE(xb_payload_tag_valid("a.b-c_d"));
    CU_ASSERT_FALSE(xb_payload_tag_valid("{urn}"));
    CU_ASSERT_FALSE(xb_payload_tag_valid("p:x"));
    CU_ASSERT_FALSE(xb_payload_tag_valid("-x"));
    CU_ASSERT_FALSE(xb_payload_tag_valid(""));
}

/* -------------------------------------------------------------- key table */

/* The whole of a text file (caller frees), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        char *nb = realloc(buf, len + got + 1);
        if (!nb)
            break;
        buf = nb;
        memcpy(buf + len, chunk, got);
        len += got;
        buf[len] = '\0';
    }
    fclose(f);
    return buf;
}

typedef struct {
    char key[64];
    char kind[256];
    char def[256];
    const char *line; /* the whole row, up to its newline */
    size_t line_len;
} doc_row_t;

/* The cell after *p (which points at a '|'), trimmed, into out. */
static const char *doc_cell(const char *p, const char *end, char *out, size_t cap)
{
    out[0] = '\0';
    if (p >= end)
        return end;
    for (p++; p < end && *p == ' ';)
        p++;
    if (p >= end)
        return end;
    const char *bar = memchr(p, '|', (size_t)(end - p));
    const char *stop = bar ? bar : end;
    const char *last = stop;
    while (last > p && last[-1] == ' ')
        last--;
    snprintf(out, cap, "%.*s", (int)(last - p), p);
    return stop;
}

/* The rows "| `key` | kind | default | ..." of the tables under the heading
 * "## section" of docs/configuration.md, up to the next "## ". */
static size_t doc_rows(const char *doc, const char *section, doc_row_t *rows, size_t cap)
{
    char heading[80];
    snprintf(heading, sizeof heading, "\n## %s\n", section);
    const char *start = strstr(doc, heading);
    if (!start)
        return 0;
    start += strlen(heading);
    const char *end = strstr(start, "\n## ");
    if (!end)
        end = start + strlen(start);
    size_t n = 0;
    for (const char *line = start; line < end && n < cap;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if (strncmp(line, "| `", 3) == 0) {
            doc_row_t *r = &rows[n++];
            char first[128];
            const char *p = doc_cell(line, eol, first, sizeof first);
            snprintf(r->key, sizeof r->key, "%.*s", (int)strcspn(first + 1, "`"), first + 1);
            p = doc_cell(p, eol, r->kind, sizeof r->kind);
            doc_cell(p, eol, r->def, sizeof r->def);
            r->line = line;
            r->line_len = (size_t)(eol - line);
        }
        line = eol + 1;
    }
    return n;
}

static bool row_has(const doc_row_t *r, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= r->line_len; i++)
        if (memcmp(r->line + i, needle, n) == 0)
            return true;
    return false;
}

/* One key against its documented row: kind, default and (where the table
 * bounds it tightly) range. Prints what the doc should say when it differs. */
static void check_doc_row(const char *section, const xb_cfg_key_t *k, const doc_row_t *r)
{
    char buf[256], range[128] = "";
    const char *def = xb_config_key_default_text(k, buf, sizeof buf);
    const char *kind = xb_config_key_kind(k);
    if (k->type == XB_KEY_INT && k->max < 100000000)
        snprintf(range, sizeof range, "%lld \xe2\x80\x93 %lld", k->min, k->max); /* en dash */
    else if (k->type == XB_KEY_NUMBER)
        snprintf(range, sizeof range, "%s %g", k->nmin_open ? ">" : "\xe2\x89\xa5", k->nmin);
    bool ok = strncmp(r->kind, kind, strlen(kind)) == 0 && strncmp(r->def, def, strlen(def)) == 0 &&
              (!range[0] || row_has(r, range));
    if (!ok)
        fprintf(stderr, "\n  docs/configuration.md, %s: want | `%s` | %s | %s |%s%s (%s)\n",
                section, k->name, kind, def, range[0] ? " range " : "", range, k->doc);
    CU_ASSERT_TRUE(ok);
}

static void test_keys_documented(void)
{
    char *doc = slurp(XB_SOURCE_DIR "/docs/configuration.md");
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    const xb_key_section_t *sections = xb_config_key_sections();
    for (int s = 0; s < XB_SECTION_COUNT; s++) {
        const xb_key_section_t *sec = &sections[s];
        doc_row_t rows[64];
        size_t n = doc_rows(doc, sec->name, rows, 64);
        if (n == 0)
            fprintf(stderr, "\n  docs/configuration.md: no key table under '## %s'\n", sec->name);
        CU_ASSERT_TRUE(n > 0);
        /* Every key of the table has its row... */
        for (size_t i = 0; i < sec->n_keys; i++) {
            const xb_cfg_key_t *k = &sec->keys[i];
            size_t j = 0;
            while (j < n && strcmp(rows[j].key, k->name) != 0)
                j++;
            if (j == n) {
                fprintf(stderr, "\n  docs/configuration.md: '%s' of '%s' is not documented\n",
                        k->name, sec->name);
                CU_FAIL("undocumented key");
                continue;
            }
            check_doc_row(sec->name, k, &rows[j]);
        }
        /* ...and every documented key is one the loader accepts. */
        for (size_t j = 0; j < n; j++) {
            if (!xb_config_key_find(sec, rows[j].key))
                fprintf(stderr, "\n  docs/configuration.md: '%s' of '%s' is not a key\n",
                        rows[j].key, sec->name);
            CU_ASSERT_PTR_NOT_NULL(xb_config_key_find(sec, rows[j].key));
        }
    }
    free(doc);
}

static void test_key_table(void)
{
    const xb_key_section_t *sections = xb_config_key_sections();
    for (int s = 0; s < XB_SECTION_COUNT; s++) {
        const xb_key_section_t *sec = &sections[s];
        CU_ASSERT_TRUE(sec->n_keys <= XB_CFG_SECTION_KEYS_MAX);
        for (size_t i = 0; i < sec->n_keys; i++) {
            const xb_cfg_key_t *k = &sec->keys[i];
            CU_ASSERT_TRUE(k->doc && k->doc[0]);
            CU_ASSERT_PTR_EQUAL(xb_config_key_find(sec, k->name), k); /* names are unique */
            CU_ASSERT_TRUE(k->type != XB_KEY_CUSTOM || k->parse);
            CU_ASSERT_TRUE(k->type != XB_KEY_ENUM || (k->names && k->n_names));
        }
    }
    CU_ASSERT_PTR_NULL(xb_config_key_find(&sections[XB_SECTION_LIMITS], "nope"));
    /* The config's backend defaults are the backend's own. */
    xb_backend_config_t from_table, from_backend;
    memset(&from_table, 0, sizeof from_table);
    xb_config_keys_defaults(&sections[XB_SECTION_BACKEND], &from_table);
    xb_backend_config_defaults(&from_backend);
    /* The working memory limits are no backend keys: the pump sets them. */
    from_table.max_wmem_entries = from_backend.max_wmem_entries;
    from_table.max_wmem_entry_bytes = from_backend.max_wmem_entry_bytes;
    CU_ASSERT_EQUAL(memcmp(&from_table, &from_backend, sizeof from_table), 0);
    /* Defaults are within bounds. */
    xb_config_t *cfg = xb_config_new_default("bounds");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    char why[256];
    CU_ASSERT_PTR_NULL(
        xb_config_keys_check_bounds(&sections[XB_SECTION_LIMITS], &cfg->limits, why, sizeof why));
    CU_ASSERT_PTR_NULL(
        xb_config_keys_check_bounds(&sections[XB_SECTION_POOL], &cfg->pool, why, sizeof why));
    xb_config_destroy(&cfg);
}

static void test_validate_bounds(void)
{
    /* A config built in code gets the loader's ranges from the key table. */
    xb_error_t err;
    xb_config_t *cfg = xb_config_new_default("bounds");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    xb_listener_config_t *l = xb_config_add_listener(cfg, "a", "p", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), 0);
    l->credit = 0;
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err.message, "'credit' must be from 1 to 1000000, got 0 in listener 'a'"));
    l->credit = 1;
    cfg->limits.max_xml_depth = 2;
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "'max_xml_depth' must be from 4 to 100000, got 2 "
                                               "in section 'limits'"));
    cfg->limits.max_xml_depth = 4;
    cfg->pool.heartbeat = 0;
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "'heartbeat' must be greater than 0"));
    cfg->pool.heartbeat = 0.5;
    cfg->limits.max_message_bytes = 10;
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "'max_message_bytes' must be from 64"));
    cfg->limits.max_message_bytes = 64;
    cfg->backend.type = (xb_backend_type_t)7;
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "'type' must be from 0 to 2"));
    cfg->backend.type = XB_BACKEND_REDIS;
    CU_ASSERT_EQUAL(xb_config_validate(cfg, &err), 0);
    xb_config_destroy(&cfg);
}

/* Every example loads, its manager store lives in its own folder (never a
 * shared /tmp path), and two organisms never share an endpoint. */
/* The secure example names key files that `make demo-secure` makes: it is
 * loaded from a copy of its folder with those keys made (xmlbus keygen's
 * format). tmp receives the copy's folder ("" when none was made). */
static xb_config_t *load_example(const char *path, char *tmp, size_t cap, xb_error_t *err)
{
    tmp[0] = '\0';
    if (!strstr(path, "secure"))
        return xb_config_load(path, err);
    if (xbt_tmpdir_make(tmp, cap, "example") != 0)
        return NULL;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp \"$(dirname '%s')\"/*.xsd '%s'/ && cp '%s' '%s'/organism.yaml",
             path, tmp, path, tmp);
    if (system(cmd) != 0)
        return NULL;
    char keys[600];
    snprintf(keys, sizeof keys, "%s/keys", tmp);
    mkdir(keys, 0700);
    static const char *const names[] = {"pump", "alice", "ops", "greeter", "shouter"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        xb_key_t k;
        if (xb_key_generate(&k, err) != 0 || xb_key_save(&k, keys, names[i], NULL, NULL, 0, err))
            return NULL;
    }
    char copy[600];
    snprintf(copy, sizeof copy, "%s/organism.yaml", tmp);
    return xb_config_load(copy, err);
}

static void test_examples(void)
{
    glob_t g;
    CU_ASSERT_EQUAL_FATAL(glob(XB_SOURCE_DIR "/examples/*/organism*.yaml", 0, NULL, &g), 0);
    CU_ASSERT_TRUE(g.gl_pathc >= 4);
    char names[16][XB_NAME_MAX], endpoints[16][1024];
    size_t n = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        xb_error_t err;
        char tmp[256];
        xb_config_t *cfg = load_example(g.gl_pathv[i], tmp, sizeof tmp, &err);
        if (tmp[0])
            xbt_rmtree(tmp);
        if (!cfg)
            fprintf(stderr, "\n  %s\n", err.message);
        CU_ASSERT_PTR_NOT_NULL(cfg);
        if (!cfg)
            continue;
        if (cfg->backend.type == XB_BACKEND_MANAGER) {
            size_t dl = strlen(cfg->dir);
            bool inside = strncmp(cfg->backend.path, cfg->dir, dl) == 0 &&
                          cfg->backend.path[dl] == '/';
            if (!inside)
                fprintf(stderr, "\n  %s: LMDB path %s outside %s\n", g.gl_pathv[i],
                        cfg->backend.path, cfg->dir);
            CU_ASSERT_TRUE(inside);
        }
        for (size_t j = 0; j < n; j++) {
            bool clash = strcmp(names[j], cfg->name) != 0 &&
                         strcmp(endpoints[j], cfg->endpoint) == 0;
            if (clash)
                fprintf(stderr, "\n  organisms %s and %s share %s\n", names[j], cfg->name,
                        cfg->endpoint);
            CU_ASSERT_FALSE(clash);
        }
        if (n < 16) {
            snprintf(names[n], sizeof names[n], "%s", cfg->name);
            snprintf(endpoints[n], sizeof endpoints[n], "%s", cfg->endpoint);
            n++;
        }
        xb_config_destroy(&cfg);
    }
    globfree(&g);
}

static int config_init(void)
{
    if (realpath(DATA_DIR, data_dir))
        return 0;
    fprintf(stderr, "cannot find %s\n", DATA_DIR);
    return 1;
}

static const xbt_test_t config_tests[] = {
    {"full file, every key", test_full_file},
    {"defaults", test_defaults},
    {"redis backend keys", test_redis_backend},
    {"sizes, booleans, nulls, endpoints", test_values},
    {"relative paths", test_relative_paths},
    {"command as string and list", test_command_forms},
    {"examples/hello loads", test_hello_example},
    {"syntax and shape errors", test_syntax_and_shape_errors},
    {"unknown keys", test_unknown_keys},
    {"wrong types", test_wrong_types},
    {"names", test_names},
    {"references: peers, schemas, tags, workers", test_reference_errors},
    {"backend errors", test_backend_errors},
    {"journal keys", test_journal_keys},
    {"endpoint errors", test_endpoint_errors},
    {"section security", test_security_section},
    {"earliest error is reported", test_first_error_wins},
    {"file errors", test_load_file_errors},
    {"check_all reports everything", test_check_all},
    {"build in code", test_build_in_code},
    {"every key documented", test_keys_documented},
    {"key table", test_key_table},
    {"validate uses the key bounds", test_validate_bounds},
    {"examples load and do not collide", test_examples},
    {NULL, NULL},
};

XBT_SUITES({"config", config_init, NULL, NULL, NULL, config_tests});
