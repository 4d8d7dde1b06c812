/* Tests of bus/schema.c: compiling listener schemas, the tag map, and
 * validating payloads inside envelopes, from one and from two threads. */
#include "schema.h"

#include <CUnit/Basic.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "xmlbus/config.h"
#include "config_build.h"
#include "xmlbus/xmlsafe.h"
#include "xbt_main.h"

#ifndef XB_SOURCE_DIR
#define XB_SOURCE_DIR "."
#endif
#define DATA_DIR XB_SOURCE_DIR "/tests/data/config"

#define ENV_OPEN                                                    \
    "<message xmlns=\"https://xml-pipeline.org/ns/envelope/v1\">\n" \
    "  <meta><from>console</from><thread>t-1</thread></meta>\n"
#define ENV_CLOSE "</message>\n"

static xb_config_t *full_cfg;
static xb_schemas_t *full;

/* ---------------------------------------------------------------- helpers */

/* Parses an envelope; *payload = its last element child. Caller frees doc. */
static xmlDocPtr parse_envelope(const char *xml, xmlNodePtr *payload)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "envelope.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    *payload = NULL;
    if (!doc)
        return NULL;
    for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            *payload = n;
    return doc;
}

/* Validates xml's payload for listener; returns the result, err filled. */
static int check(xb_validator_t *v, const char *listener, const char *xml, xb_error_t *err)
{
    xmlNodePtr payload;
    xmlDocPtr doc = parse_envelope(xml, &payload);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    xb_error_clear(err);
    int rc = xb_validator_check(v, listener, payload, err);
    xmlFreeDoc(doc);
    return rc;
}

static xb_config_t *cfg_with(const char *name, const char *tag, const char *schema)
{
    xb_error_t err;
    xb_config_t *cfg = xb_config_new_default("t");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL_FATAL(xb_config_set_dir(cfg, DATA_DIR, &err), 0);
    xb_listener_config_t *l = xb_config_add_listener(cfg, name, tag, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    if (schema)
        CU_ASSERT_EQUAL_FATAL(xb_config_listener_set_schema(cfg, l, schema, &err), 0);
    return cfg;
}

/* Runs fn with stderr sent to a file; returns how many bytes it printed. */
static long stderr_bytes_during(void (*fn)(void))
{
    char path[] = "/tmp/xb-test-schema-stderr-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    long n = lseek(fd, 0, SEEK_END);
    close(fd);
    unlink(path);
    return n;
}

/* ------------------------------------------------------------------ tests */

static void test_valid_payloads(void)
{
    xb_error_t err;
    xb_validator_t *v = xb_validator_new(full, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(
        check(v, "greeter",
              ENV_OPEN "  <greeting xmlns=\"\"><name>World</name></greeting>\n" ENV_CLOSE, &err),
        0);
    CU_ASSERT_EQUAL(check(v, "greeter",
                          ENV_OPEN "  <shouted xmlns=\"\"><text>HI</text></shouted>\n" ENV_CLOSE,
                          &err),
                    0);
    CU_ASSERT_EQUAL(check(v, "orders",
                          ENV_OPEN
                          "  <o:order xmlns:o=\"urn:test:orders\">"
                          "<o:item>tea</o:item><o:quantity>2</o:quantity></o:order>\n" ENV_CLOSE,
                          &err),
                    0);
    /* A listener without a schema takes any content of its tags. */
    CU_ASSERT_EQUAL(check(v, "logger-2",
                          ENV_OPEN "  <log xmlns=\"\"><any><thing/></any></log>\n" ENV_CLOSE, &err),
                    0);
    /* SystemError is accepted by everyone, unvalidated. */
    CU_ASSERT_EQUAL(check(v, "orders",
                          ENV_OPEN "  <SystemError xmlns=\"\"><code>routing</code>"
                                   "<whatever/></SystemError>\n" ENV_CLOSE,
                          &err),
                    0);
    /* The validator is reusable after a failure. */
    CU_ASSERT_EQUAL(
        check(v, "greeter", ENV_OPEN "  <greeting xmlns=\"\"><x/></greeting>\n" ENV_CLOSE, &err),
        -1);
    CU_ASSERT_EQUAL(check(v, "greeter",
                          ENV_OPEN "  <greeting xmlns=\"\"><name>W</name></greeting>\n" ENV_CLOSE,
                          &err),
                    0);
    xb_validator_destroy(&v);
    CU_ASSERT_PTR_NULL(v);
    xb_validator_destroy(&v);
}

static void test_invalid_payloads(void)
{
    xb_error_t err;
    xb_validator_t *v = xb_validator_new(full, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    /* The unexpected element sits on line 4 of the envelope. */
    CU_ASSERT_EQUAL(check(v, "greeter",
                          ENV_OPEN "  <greeting xmlns=\"\">\n"
                                   "    <nam>World</nam>\n"
                                   "  </greeting>\n" ENV_CLOSE,
                          &err),
                    -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_SCHEMA);
    CU_ASSERT_EQUAL(err.line, 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "payload <greeting> rejected by greeter.xsd "
                                               "(listener 'greeter'): line 4: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "'nam'"));
    /* Wrong simple type, namespaced payload, line 5. */
    CU_ASSERT_EQUAL(check(v, "orders",
                          ENV_OPEN "  <order xmlns=\"urn:test:orders\">\n"
                                   "    <item>tea</item>\n"
                                   "    <quantity>-1</quantity>\n"
                                   "  </order>\n" ENV_CLOSE,
                          &err),
                    -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_SCHEMA);
    CU_ASSERT_EQUAL(err.line, 5);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "payload <{urn:test:orders}order> rejected by "
                                               "order.xsd"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "quantity"));
    /* Missing child: the error is on the payload element itself. */
    CU_ASSERT_EQUAL(check(v, "greeter", ENV_OPEN "\n  <greeting xmlns=\"\"/>\n" ENV_CLOSE, &err),
                    -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_SCHEMA);
    CU_ASSERT_EQUAL(err.line, 4);

    /* Routing problems are not schema problems. */
    CU_ASSERT_EQUAL(check(v, "orders",
                          ENV_OPEN "  <greeting xmlns=\"\"><name>W</name></greeting>\n" ENV_CLOSE,
                          &err),
                    -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ROUTING);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "listener 'orders' does not accept <greeting>"));
    CU_ASSERT_EQUAL(
        check(v, "orders", ENV_OPEN "  <order xmlns=\"\"><item>x</item></order>\n" ENV_CLOSE, &err),
        -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ROUTING); /* order without its namespace */
    CU_ASSERT_EQUAL(check(v, "nobody", ENV_OPEN "  <greeting xmlns=\"\"/>\n" ENV_CLOSE, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ROUTING);

    /* Not an element of a document. */
    xmlNodePtr loose = xmlNewNode(NULL, BAD_CAST "greeting");
    CU_ASSERT_EQUAL(xb_validator_check(v, "greeter", loose, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    xmlFreeNode(loose);
    CU_ASSERT_EQUAL(xb_validator_check(v, "greeter", NULL, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ARG);
    xb_validator_destroy(&v);
}

static void test_lookup(void)
{
    const char *const *names = NULL;
    CU_ASSERT_EQUAL(xb_schemas_count(full), 3);
    CU_ASSERT_EQUAL(xb_schemas_lookup(full, NULL, "greeting", &names), 1);
    CU_ASSERT_STRING_EQUAL(names[0], "greeter");
    CU_ASSERT_EQUAL(xb_schemas_lookup(full, "", "shouted", &names), 1);
    CU_ASSERT_STRING_EQUAL(names[0], "greeter");
    CU_ASSERT_EQUAL(xb_schemas_lookup(full, NULL, "log", &names), 2);
    CU_ASSERT_STRING_EQUAL(names[0], "logger_1"); /* config order */
    CU_ASSERT_STRING_EQUAL(names[1], "logger-2");
    CU_ASSERT_EQUAL(xb_schemas_lookup(full, "urn:test:orders", "order", &names), 1);
    CU_ASSERT_STRING_EQUAL(names[0], "orders");
    CU_ASSERT_EQUAL(xb_schemas_lookup(full, NULL, "order", &names), 0);
    CU_ASSERT_PTR_NULL(names);
    CU_ASSERT_EQUAL(xb_schemas_lookup(full, NULL, "SystemError", NULL), 0);
    CU_ASSERT_EQUAL(xb_schemas_lookup(full, NULL, "nothing", NULL), 0);
    CU_ASSERT_EQUAL(xb_schemas_lookup_tag(full, "{urn:test:orders}order", &names), 1);
    CU_ASSERT_EQUAL(xb_schemas_lookup_tag(full, "{}greeting", &names), 1);
    CU_ASSERT_EQUAL(xb_schemas_lookup_tag(full, "greeting", NULL), 1);
    CU_ASSERT_EQUAL(xb_schemas_lookup_tag(full, "{urn:other}order", NULL), 0);

    CU_ASSERT_TRUE(xb_schemas_accepts(full, "greeter", NULL, "greeting"));
    CU_ASSERT_TRUE(xb_schemas_accepts(full, "greeter", "", "shouted"));
    CU_ASSERT_FALSE(xb_schemas_accepts(full, "greeter", NULL, "order"));
    CU_ASSERT_TRUE(xb_schemas_accepts(full, "orders", "urn:test:orders", "order"));
    CU_ASSERT_FALSE(xb_schemas_accepts(full, "orders", NULL, "order"));
    CU_ASSERT_TRUE(xb_schemas_accepts(full, "orders", NULL, "SystemError"));
    CU_ASSERT_FALSE(xb_schemas_accepts(full, "nobody", NULL, "SystemError"));
    CU_ASSERT_TRUE(xb_schemas_has_listener(full, "logger-2"));
    CU_ASSERT_FALSE(xb_schemas_has_listener(full, "logger"));

    char tag[64];
    xmlNodePtr payload;
    xmlDocPtr doc = parse_envelope(ENV_OPEN "<o:order xmlns:o=\"urn:test:orders\"/>" ENV_CLOSE,
                                   &payload);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    CU_ASSERT_EQUAL(xb_payload_tag_of(payload, tag, sizeof tag), 0);
    CU_ASSERT_STRING_EQUAL(tag, "{urn:test:orders}order");
    CU_ASSERT_EQUAL(xb_payload_tag_of(payload, tag, 10), -1);
    xmlFreeDoc(doc);
    doc = parse_envelope(ENV_OPEN "<greeting xmlns=\"\"/>" ENV_CLOSE, &payload);
    CU_ASSERT_EQUAL(xb_payload_tag_of(payload, tag, sizeof tag), 0);
    CU_ASSERT_STRING_EQUAL(tag, "greeting");
    xmlFreeDoc(doc);
}

static void test_broken_schemas(void)
{
    xb_error_t err;
    char want[PATH_MAX + 32], dir[PATH_MAX];
    CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(DATA_DIR, dir));

    xb_config_t *cfg = cfg_with("a", "greeting", "broken.xsd");
    xb_schemas_t *s = xb_schemas_new(cfg, &err);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_EQUAL(err.code, XB_ERR_SCHEMA);
    CU_ASSERT_EQUAL(err.line, 7);
    snprintf(want, sizeof want, "%s/broken.xsd:7: ", dir);
    CU_ASSERT_EQUAL(strncmp(err.message, want, strlen(want)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "nosuchtype"));
    xb_config_destroy(&cfg);

    cfg = cfg_with("a", "greeting", "malformed.xsd");
    s = xb_schemas_new(cfg, &err);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_EQUAL(err.code, XB_ERR_SCHEMA);
    CU_ASSERT_EQUAL(err.line, 5);
    snprintf(want, sizeof want, "%s/malformed.xsd:5: ", dir);
    CU_ASSERT_EQUAL(strncmp(err.message, want, strlen(want)), 0);
    xb_config_destroy(&cfg);

    /* A payload tag its own schema does not declare can never be delivered. */
    cfg = cfg_with("a", "shout", "greeter.xsd");
    s = xb_schemas_new(cfg, &err);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_EQUAL(err.code, XB_ERR_SCHEMA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "listener 'a' accepts 'shout' but its schema"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "declares no global element 'shout'"));
    xb_config_destroy(&cfg);

    /* check_config reports each problem and counts what compiled. */
    cfg = cfg_with("a", "greeting", "broken.xsd");
    xb_listener_config_t *b = xb_config_add_listener(cfg, "b", "greeting2", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(xb_config_listener_set_schema(cfg, b, "malformed.xsd", &err), 0);
    xb_listener_config_t *c = xb_config_add_listener(cfg, "c", "log", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(xb_config_listener_set_schema(cfg, c, "log.xsd", &err), 0);
    size_t compiled = 99;
    CU_ASSERT_EQUAL(xb_schemas_check_config(cfg, NULL, NULL, &compiled), 2);
    CU_ASSERT_EQUAL(compiled, 1);
    xb_config_destroy(&cfg);
}

static void compile_broken_quietly(void)
{
    xb_error_t err;
    xb_config_t *cfg = cfg_with("a", "greeting", "malformed.xsd");
    xb_schemas_t *s = xb_schemas_new(cfg, &err);
    CU_ASSERT_PTR_NULL(s);
    xb_config_destroy(&cfg);
    cfg = cfg_with("a", "greeting", "broken.xsd");
    s = xb_schemas_new(cfg, &err);
    CU_ASSERT_PTR_NULL(s);
    xb_config_destroy(&cfg);
    xb_validator_t *v = xb_validator_new(full, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(
        check(v, "greeter", ENV_OPEN "<greeting xmlns=\"\"><bad/></greeting>" ENV_CLOSE, &err), -1);
    xb_validator_destroy(&v);
}

static void test_nothing_printed(void)
{
    CU_ASSERT_EQUAL(stderr_bytes_during(compile_broken_quietly), 0);
}

static void test_shared_schema_file(void)
{
    /* Two listeners on one XSD: compiled once; the copy outlives the config. */
    xb_error_t err;
    xb_config_t *cfg = cfg_with("one", "greeting", "greeter.xsd");
    xb_listener_config_t *two = xb_config_add_listener(cfg, "two", "shouted", &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(two);
    CU_ASSERT_EQUAL(xb_config_listener_set_schema(cfg, two, "greeter.xsd", &err), 0);
    xb_schemas_t *s = xb_schemas_new(cfg, &err);
    xb_config_destroy(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(xb_schemas_count(s), 1);
    xb_validator_t *v = xb_validator_new(s, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(
        check(v, "two", ENV_OPEN "<shouted xmlns=\"\"><text>A</text></shouted>" ENV_CLOSE, &err),
        0);
    CU_ASSERT_EQUAL(
        check(v, "one", ENV_OPEN "<shouted xmlns=\"\"><text>A</text></shouted>" ENV_CLOSE, &err),
        -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_ROUTING);
    xb_validator_destroy(&v);
    xb_schemas_destroy(&s);
    CU_ASSERT_PTR_NULL(s);
}

/* --------------------------------------------------------------- threads */

#define ROUNDS 300

typedef struct {
    int id;
    int wrong; /* results that differed from the expectation */
} worker_t;

static void *validate_loop(void *arg)
{
    worker_t *w = arg;
    xb_error_t err;
    xb_validator_t *v = xb_validator_new(full, &err);
    if (!v) {
        w->wrong = ROUNDS;
        return NULL;
    }
    char xml[512];
    for (int i = 0; i < ROUNDS; i++) {
        bool good = (i + w->id) % 3 != 0;
        bool orders = i % 2 == 0;
        if (orders)
            snprintf(xml, sizeof xml,
                     ENV_OPEN "  <order xmlns=\"urn:test:orders\"><item>t%d</item>"
                              "<quantity>%d</quantity></order>\n" ENV_CLOSE,
                     i, good ? i + 1 : -i);
        else
            snprintf(xml, sizeof xml,
                     ENV_OPEN "  <greeting xmlns=\"\"><%s>w%d</%s></greeting>\n" ENV_CLOSE,
                     good ? "name" : "nom", i, good ? "name" : "nom");
        xmlNodePtr payload;
        xmlDocPtr doc = parse_envelope(xml, &payload);
        if (!doc) {
            w->wrong++;
            continue;
        }
        int rc = xb_validator_check(v, orders ? "orders" : "greeter", payload, &err);
        if (good ? rc != 0 : (rc != -1 || err.code != XB_ERR_SCHEMA || err.line != 3))
            w->wrong++;
        xmlFreeDoc(doc);
    }
    xb_validator_destroy(&v);
    return NULL;
}

static void test_two_threads(void)
{
    pthread_t t[2];
    worker_t w[2] = {{0, 0}, {1, 0}};
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, validate_loop, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(w[0].wrong, 0);
    CU_ASSERT_EQUAL(w[1].wrong, 0);
}

static int suite_init(void)
{
    /* As in the pump: the hardened entity loader is installed before the
     * schemas compile, and must not keep them from loading. */
    xb_xml_init();
    xb_error_t err;
    full_cfg = xb_config_load(DATA_DIR "/full.yaml", &err);
    if (!full_cfg) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    full = xb_schemas_new(full_cfg, &err);
    if (!full) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    return 0;
}

static int suite_clean(void)
{
    xb_schemas_destroy(&full);
    xb_config_destroy(&full_cfg);
    return 0;
}

/* memory.types[]: each type's XSD compiled once, a value validated against
 * it; an entry without a schema passes; a broken file or an undeclared
 * element fails with the file's name; check_config reports them too. */
static void test_entry_schemas(void)
{
    xb_memory_type_t types[3] = {
        {.name = "hello", .element = "greeting", .schema = DATA_DIR "/greeter.xsd", .line = 3},
        {.name = "shout", .element = "shouted", .schema = DATA_DIR "/greeter.xsd", .line = 4},
        {.name = "free", .element = "free", .line = 5},
    };
    xb_memory_config_t mem = {.types = types, .n_types = 3};
    xb_error_t err;
    xb_entry_schemas_t *s = xb_entry_schemas_new(&mem, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    xmlNodePtr el;
    xmlDocPtr ok = parse_envelope(
        ENV_OPEN "<greeting xmlns=\"\"><name>x</name></greeting>" ENV_CLOSE, &el);
    CU_ASSERT_EQUAL(xb_entry_schemas_check(s, "hello", el, &err), 0);
    CU_ASSERT_EQUAL(xb_entry_schemas_check(s, "free", el, &err), 0);
    xmlFreeDoc(ok);
    xmlDocPtr bad = parse_envelope(
        ENV_OPEN "<shouted xmlns=\"\"><name>x</name></shouted>" ENV_CLOSE, &el);
    CU_ASSERT_EQUAL(xb_entry_schemas_check(s, "shout", el, &err), -1);
    CU_ASSERT_EQUAL(err.code, XB_ERR_SCHEMA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "working-memory entry shout: <shouted> rejected by "
                                               "greeter.xsd: line 3:"));
    xmlFreeDoc(bad);
    xb_entry_schemas_destroy(&s);
    CU_ASSERT_PTR_NULL(s);

    types[1].element = "shout"; /* greeter.xsd declares no <shout> */
    CU_ASSERT_PTR_NULL(xb_entry_schemas_new(&mem, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "greeter.xsd: declares no global element 'shout'"));
    types[0].schema = DATA_DIR "/broken.xsd";
    CU_ASSERT_PTR_NULL(xb_entry_schemas_new(&mem, &err));
    CU_ASSERT_EQUAL(err.code, XB_ERR_SCHEMA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "broken.xsd:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "and more problems"));

    xb_config_t *cfg = cfg_with("a", "greeting", "greeter.xsd");
    cfg->memory = mem;
    size_t compiled = 99;
    CU_ASSERT_EQUAL(xb_schemas_check_config(cfg, NULL, NULL, &compiled), 2);
    CU_ASSERT_EQUAL(compiled, 1); /* greeter.xsd, counted once */
    cfg->memory = (xb_memory_config_t){0};
    xb_config_destroy(&cfg);
}

static const xbt_test_t schema_tests[] = {
    {"valid payloads pass", test_valid_payloads},
    {"invalid payloads fail with line", test_invalid_payloads},
    {"lookup by tag", test_lookup},
    {"broken schemas fail with file:line", test_broken_schemas},
    {"libxml2 prints nothing", test_nothing_printed},
    {"one file, two listeners", test_shared_schema_file},
    {"validators in two threads", test_two_threads},
    {"memory types' schemas", test_entry_schemas},
    {NULL, NULL},
};

XBT_SUITES({"schema", suite_init, suite_clean, NULL, NULL, schema_tests});
