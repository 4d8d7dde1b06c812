/* Who a client or a peer is (docs/security.md, "Identity is never taken
 * from the message"): its connection (the routing id the ROUTER gives it)
 * and, for a process the pump started, the token the pump gave it. A name,
 * a pid or a thread UUID that a message presents is only a claim: these
 * rules say what such a claim may not obtain. Calls no other file of pump/
 * but core.c. */
#include "pump_internal.h"

#include <stdio.h>
#include <string.h>

#include "redis_url.h"

#define SYSTEM_NAME XB_SYSTEM_FROM

bool xbp_token_eq(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n == 0 || n != strlen(b))
        return false;
    /* Every byte compared: how long it takes says nothing of where the
     * first difference is. */
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

bool xbp_identity_may_send_as(xb_pump_t *p, const xbp_rid_t *rid, const char *name)
{
    (void)rid; /* Hook: with keys, a connection that holds a listener's key
                  (its role) may send under that listener's name. */
    if (strcmp(name, SYSTEM_NAME) == 0)
        return false;
    return xbp_pump_listener(p, name) == NULL && xbp_pump_pipeline(p, name, NULL) < 0;
}

bool xbp_identity_owns(const conv_t *c, const xbp_rid_t *rid)
{
    return c->has_client && xbp_rid_eq(&c->client, rid);
}

/* url with its credentials left out: "redis://:pw@host:port/3" ->
 * "redis://host:port/3", "unix:///s.sock?db=2&password=pw" ->
 * "unix:///s.sock?db=2". "" when url does not parse (never the secret). */
static void url_without_password(const char *url, char *out, size_t cap)
{
    xb_redis_url_t u;
    xb_error_t err;
    out[0] = '\0';
    if (xb_redis_url_parse(url, &u, &err) != 0)
        return;
    if (u.is_unix) {
        char db[24] = "";
        if (u.db > 0)
            snprintf(db, sizeof db, "?db=%d", u.db);
        snprintf(out, cap, "unix://%s%s", u.path, db);
        return;
    }
    char where[300];
    xb_redis_url_where(&u, where, sizeof where);
    snprintf(out, cap, "redis://%s/%d", where, u.db);
}

void xbp_identity_backend_location(const xb_pump_t *p, bool own_child, char *out, size_t cap)
{
    const xb_backend_config_t *b = &p->cfg->backend;
    out[0] = '\0';
    if (b->type == XB_BACKEND_MANAGER)
        snprintf(out, cap, "%s", b->path);
    else if (b->type == XB_BACKEND_REDIS && own_child)
        snprintf(out, cap, "%s", b->redis_url);
    else if (b->type == XB_BACKEND_REDIS)
        url_without_password(b->redis_url, out, cap);
}
