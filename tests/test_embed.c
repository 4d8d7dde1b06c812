/* A program that embeds the pump (include/xmlbus/pump.h) and runs its
 * listeners as threads over inproc:// with the same runtime and protocol as
 * listener processes. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "xbt.h"
#include "xbt_main.h"
#include "xmlbus/client.h"
#include "config_build.h"
#include "xmlbus/listener.h"
#include "xmlbus/pump.h"
#include "xmlbus/xmlsafe.h"

/* upper: responds <upper>TEXT IN CAPITALS</upper>. */
static int upper(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    (void)user;
    const char *text = xb_msg_text(msg, "text");
    char buf[256];
    size_t i = 0;
    for (; text && text[i] && i < sizeof buf - 1; i++)
        buf[i] = (char)((text[i] >= 'a' && text[i] <= 'z') ? text[i] - 32 : text[i]);
    buf[i] = '\0';
    xmlNodePtr out = xb_payload_new("upper");
    xb_payload_add_text(out, "text", "%s", buf);
    return xb_reply_respond(reply, out);
}

/* relay: forwards to upper, and passes upper's answer back up the chain. */
static int relay(const xb_msg_t *msg, xb_reply_t *reply, void *user)
{
    (void)user;
    if (strcmp(xb_msg_payload_type(msg), "upper") == 0)
        return xb_reply_respond(reply, xb_payload_copy(xb_msg_payload(msg)));
    xmlNodePtr out = xb_payload_new("shout");
    xb_payload_add_text(out, "text", "%s", xb_msg_text(msg, "text"));
    return xb_reply_forward(reply, "upper", out);
}

static xb_pump_t *make_pump(void)
{
    xb_error_t err;
    xb_config_t *cfg = xb_config_new_default("embedded");
    if (!cfg || xb_config_set_endpoint(cfg, "inproc://embedded-test", &err) != 0)
        return NULL;
    xb_listener_config_t *l = xb_config_add_listener(cfg, "relay", "say", &err);
    if (!l || xb_config_listener_add_payload(l, "upper", &err) != 0)
        return NULL;
    l = xb_config_add_listener(cfg, "upper", "shout", &err);
    if (!l)
        return NULL;
    xb_pump_options_t opts;
    xb_pump_options_defaults(&opts);
    xb_pump_t *p = xb_pump_new(cfg, &opts, &err);
    if (!p)
        fprintf(stderr, "pump: %s\n", err.message);
    return p;
}

static void test_embedded_round_trip(void)
{
    xb_xml_init();
    xb_pump_t *p = make_pump();
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    xb_error_t err;
    CU_ASSERT_EQUAL_FATAL(xb_pump_start(p, &err), 0);
    void *ctx = xb_pump_zmq_context(p);
    xb_listener_t *a = xb_listener_new(xb_pump_endpoint(p), "relay", ctx, relay, NULL, &err);
    xb_listener_t *b = xb_listener_new(xb_pump_endpoint(p), "upper", ctx, upper, NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(xb_listener_start(a, &err), 0);
    CU_ASSERT_EQUAL(xb_listener_start(b, &err), 0);
    xb_client_t *c = xb_client_new(xb_pump_endpoint(p), ctx, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    for (int i = 0; i < 20; i++) {
        const char *say = "<say><text>quiet please</text></say>";
        char thread[37];
        CU_ASSERT_EQUAL_FATAL(
            xb_client_send(c, say, strlen(say), NULL, NULL, 5000, thread, NULL, &err), 0);
        char *env = xbt_recv(c, 10000);
        CU_ASSERT_PTR_NOT_NULL_FATAL(env);
        char *text = xbt_text_of(env, "text"), *from = xbt_text_of(env, "from");
        CU_ASSERT_STRING_EQUAL(text, "QUIET PLEASE");
        CU_ASSERT_STRING_EQUAL(from, "relay");
        free(text);
        free(from);
        free(env);
    }
    xb_client_destroy(&c);
    xb_listener_stop(a);
    xb_listener_stop(b);
    xb_listener_join(a, NULL);
    xb_listener_join(b, NULL);
    xb_listener_destroy(&a);
    xb_listener_destroy(&b);
    xb_pump_stop(p);
    CU_ASSERT_EQUAL(xb_pump_join(p), 0);
    xb_pump_destroy(&p);
    CU_ASSERT_PTR_NULL(p);
}

static const xbt_test_t embed_tests[] = {
    {"embedded pump with listener threads over inproc", test_embedded_round_trip},
    {NULL, NULL},
};

XBT_SUITES({"embed", NULL, NULL, NULL, NULL, embed_tests});
