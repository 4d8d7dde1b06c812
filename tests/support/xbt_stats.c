/* The counters a running pump reports (see xbt_stats.h). */
#include "xbt_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "xbt.h"

/* The body of control verb (no arguments) as a parsed document, or NULL. */
static xmlDoc *control_doc(xb_client_t *c, const char *verb)
{
    char *body = NULL;
    if (xb_client_control(c, verb, NULL, 0, 10000, &body, NULL) != 0)
        return NULL;
    xmlDoc *doc = xb_client_read_xml(body, strlen(body), NULL);
    free(body);
    return doc;
}

static bool named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* Attribute name of n as a number, -1 if absent. */
static long number_attr(const xmlNode *n, const char *name)
{
    xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;
    long out = v ? strtol((const char *)v, NULL, 10) : -1;
    xmlFree(v);
    return out;
}

static bool attr_is(const xmlNode *n, const char *name, const char *want)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    bool is = v && strcmp((const char *)v, want) == 0;
    xmlFree(v);
    return is;
}

/* The <listener name="listener"> element of a stats document, or NULL. */
static xmlNode *listener_of(xmlDoc *doc, const char *listener)
{
    for (xmlNode *l = doc ? xmlDocGetRootElement(doc)->children : NULL; l; l = l->next)
        if (named(l, "listener") && attr_is(l, "name", listener))
            return l;
    return NULL;
}

/* Attribute attr of the root element of control verb's body, -1. */
static long root_number(xb_client_t *c, const char *verb, const char *attr)
{
    xmlDoc *doc = control_doc(c, verb);
    long v = doc ? number_attr(xmlDocGetRootElement(doc), attr) : -1;
    xmlFreeDoc(doc);
    return v;
}

long xbt_pump_stat(xb_client_t *c, const char *attr)
{
    return root_number(c, "stats", attr);
}

long xbt_backend_info(xb_client_t *c, const char *attr)
{
    return root_number(c, "backend-info", attr);
}

long xbt_stat(xb_client_t *c, const char *listener, const char *attr)
{
    xmlDoc *doc = control_doc(c, "stats");
    long v = number_attr(listener_of(doc, listener), attr);
    xmlFreeDoc(doc);
    return v;
}

long xbt_stat_errors(xb_client_t *c, const char *listener, const char *code)
{
    xmlDoc *doc = control_doc(c, "stats");
    if (!doc)
        return -1;
    long v = 0;
    xmlNode *l = listener_of(doc, listener);
    for (xmlNode *e = l ? l->children : NULL; e; e = e->next)
        if (named(e, "error") && attr_is(e, "code", code))
            v = number_attr(e, "count");
    xmlFreeDoc(doc);
    return v;
}

int xbt_workers(xb_client_t *c, const char *listener, xbt_worker_t *out, int cap)
{
    xmlDoc *doc = control_doc(c, "stats");
    if (!doc)
        return -1;
    int n = 0;
    xmlNode *l = listener_of(doc, listener);
    for (xmlNode *w = l ? l->children : NULL; w; w = w->next) {
        if (!named(w, "worker"))
            continue;
        if (n < cap) {
            out[n].pid = number_attr(w, "pid");
            xmlChar *state = xmlGetProp(w, BAD_CAST "state");
            snprintf(out[n].state, sizeof out[n].state, "%s", state ? (const char *)state : "");
            xmlFree(state);
            out[n].handled = number_attr(w, "handled");
            out[n].restarts = number_attr(w, "restarts");
        }
        n++;
    }
    xmlFreeDoc(doc);
    return n;
}

/* The pid of a busy process of listener now, 0 if none. */
static long busy_worker(xb_client_t *c, const char *listener)
{
    xbt_worker_t w[16];
    int n = xbt_workers(c, listener, w, 16);
    for (int i = 0; i < n && i < 16; i++)
        if (strcmp(w[i].state, "busy") == 0)
            return w[i].pid;
    return 0;
}

long xbt_wait_busy_worker(xb_client_t *c, const char *listener, int timeout_ms)
{
    long pid = 0;
    XBT_WAIT_UNTIL((pid = busy_worker(c, listener)) > 0, timeout_ms);
    return pid;
}
