/* Parsing of redis_url (see include/xmlbus/redis_url.h). */
#include "redis_url.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_MAX 1024

/* The URL with every secret replaced by "***", for error messages. */
static void redact(const char *url, char *out, size_t size)
{
    size_t o = 0;
    const char *scheme_end = strstr(url, "://");
    const char *authority = scheme_end ? scheme_end + 3 : url;
    const char *auth_end = authority + strcspn(authority, "/?#");
    const char *at = NULL;
    for (const char *p = authority; p < auth_end; p++)
        if (*p == '@')
            at = p;
    for (const char *p = url; *p && o + 1 < size;) {
        if (at && p == authority) {
            o += (size_t)snprintf(out + o, size - o, "***");
            p = at;
            continue;
        }
        if (strncasecmp(p, "password=", 9) == 0 && p > url && (p[-1] == '?' || p[-1] == '&')) {
            o += (size_t)snprintf(out + o, size - o, "password=***");
            p += 9 + strcspn(p + 9, "&#");
            continue;
        }
        out[o++] = *p++;
    }
    if (o >= size)
        o = size - 1;
    out[o] = '\0';
}

static int bad(const char *url, xb_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(const char *url, xb_error_t *err, const char *fmt, ...)
{
    char why[256];
    char shown[URL_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    redact(url, shown, sizeof shown);
    return xb_error_set(err, XB_ERR_CONFIG, 0,
                        "bad redis_url \"%s\": %s (expected redis://[:password@]host[:port][/db] "
                        "or unix:///path/to/redis.sock)",
                        shown, why);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes [s, s+len) into out (size bytes). Returns 0 or -1. */
static int decode(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            if (c == 0)
                return -1;
            i += 2;
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Parses a decimal number of [s, s+len) in [min, max]. Returns 0 or -1. */
static int parse_number(const char *s, size_t len, long min, long max, long *out)
{
    long v = 0;
    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_query(const char *url, const char *q, xb_redis_url_t *u, bool *db_seen,
                       xb_error_t *err)
{
    while (*q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        if (!eq)
            return bad(url, err, "query parameter without '='");
        size_t klen = (size_t)(eq - q), vlen = len - klen - 1;
        const char *v = eq + 1;
        if (klen == 2 && strncmp(q, "db", 2) == 0) {
            long db;
            if (*db_seen)
                return bad(url, err, "database given twice");
            if (parse_number(v, vlen, 0, INT_MAX, &db) != 0)
                return bad(url, err, "db must be a number >= 0");
            u->db = (int)db;
            *db_seen = true;
        } else if (klen == 8 && strncmp(q, "password", 8) == 0) {
            if (u->password[0])
                return bad(url, err, "password given twice");
            if (vlen == 0 || decode(v, vlen, u->password, sizeof u->password) != 0)
                return bad(url, err, "bad or too long password");
        } else {
            return bad(url, err, "unknown query parameter \"%.*s\" (known: db, password)",
                       (int)(klen > 32 ? 32 : klen), q);
        }
        q += len;
        if (*q == '&')
            q++;
    }
    return 0;
}

static int parse_userinfo(const char *url, const char *s, size_t len, xb_redis_url_t *u,
                          xb_error_t *err)
{
    const char *colon = memchr(s, ':', len);
    if (!colon)
        return bad(url, err, "user without password (write :password@ or user:password@)");
    size_t ulen = (size_t)(colon - s), plen = len - ulen - 1;
    if (decode(s, ulen, u->username, sizeof u->username) != 0)
        return bad(url, err, "bad or too long user name");
    if (plen == 0 || decode(colon + 1, plen, u->password, sizeof u->password) != 0)
        return bad(url, err, "bad, empty or too long password");
    return 0;
}

static int parse_hostport(const char *url, const char *s, size_t len, xb_redis_url_t *u,
                          xb_error_t *err)
{
    const char *host = s, *port = NULL;
    size_t hlen;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return bad(url, err, "IPv6 address without closing ']'");
        host = s + 1;
        hlen = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - s);
        if (rest > 0) {
            if (close[1] != ':')
                return bad(url, err, "unexpected text after ']'");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        hlen = colon ? (size_t)(colon - s) : len;
        port = colon ? colon + 1 : NULL;
    }
    if (hlen == 0)
        return bad(url, err, "no host");
    if (hlen >= sizeof u->host)
        return bad(url, err, "host name too long");
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)host[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':' && c != '%')
            return bad(url, err, "bad character in host");
    }
    memcpy(u->host, host, hlen);
    u->host[hlen] = '\0';
    if (port) {
        long p;
        if (parse_number(port, len - (size_t)(port - s), 1, 65535, &p) != 0)
            return bad(url, err, "port must be a number from 1 to 65535");
        u->port = (int)p;
    }
    return 0;
}

static int parse_tcp(const char *url, const char *rest, size_t len, xb_redis_url_t *u,
                     bool *db_seen, xb_error_t *err)
{
    size_t alen = strcspn(rest, "/");
    if (alen > len)
        alen = len;
    const char *at = NULL;
    for (const char *p = rest; p < rest + alen; p++)
        if (*p == '@')
            at = p;
    const char *hp = rest;
    if (at) {
        if (parse_userinfo(url, rest, (size_t)(at - rest), u, err) != 0)
            return -1;
        hp = at + 1;
    }
    if (parse_hostport(url, hp, alen - (size_t)(hp - rest), u, err) != 0)
        return -1;
    const char *path = rest + alen;
    size_t plen = len - alen;
    if (plen <= 1)
        return 0; /* "" or "/" */
    long db;
    if (parse_number(path + 1, plen - 1, 0, INT_MAX, &db) != 0)
        return bad(url, err, "the path must be a database number (/0, /1, ...)");
    u->db = (int)db;
    *db_seen = true;
    return 0;
}

static int parse_unix(const char *url, const char *rest, size_t len, xb_redis_url_t *u,
                      xb_error_t *err)
{
    if (len == 0 || rest[0] != '/')
        return bad(url, err, "a unix socket needs an absolute path: unix:///path/to/redis.sock");
    if (len >= sizeof u->path)
        return bad(url, err, "unix socket path longer than %zu bytes", sizeof u->path - 1);
    memcpy(u->path, rest, len);
    u->path[len] = '\0';
    return 0;
}

int xb_redis_url_parse(const char *url, xb_redis_url_t *out, xb_error_t *err)
{
    xb_redis_url_t u;
    bool db_seen = false;
    if (!out)
        return xb_error_set(err, XB_ERR_ARG, 0, "xb_redis_url_parse: NULL output");
    if (!url || !url[0])
        return xb_error_set(err, XB_ERR_CONFIG, 0, "redis_url is empty");
    size_t n = strlen(url);
    if (n >= URL_MAX)
        return xb_error_set(err, XB_ERR_CONFIG, 0, "redis_url longer than %d bytes", URL_MAX - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f || url[i] == '#')
            return bad(url, err, "spaces, control characters and '#' are not allowed");
    memset(&u, 0, sizeof u);
    u.port = XB_REDIS_DEFAULT_PORT;

    const char *rest;
    if (strncasecmp(url, "redis://", 8) == 0) {
        rest = url + 8;
    } else if (strncasecmp(url, "unix://", 7) == 0) {
        u.is_unix = true;
        rest = url + 7;
    } else if (strncasecmp(url, "rediss://", 9) == 0) {
        return bad(url, err, "TLS (rediss://) is not supported");
    } else {
        return bad(url, err, "unknown scheme");
    }
    const char *query = strchr(rest, '?');
    size_t len = query ? (size_t)(query - rest) : strlen(rest);
    int rc = u.is_unix ? parse_unix(url, rest, len, &u, err)
                       : parse_tcp(url, rest, len, &u, &db_seen, err);
    if (rc != 0)
        return -1;
    if (query && parse_query(url, query + 1, &u, &db_seen, err) != 0)
        return -1;
    *out = u;
    return 0;
}

void xb_redis_url_where(const xb_redis_url_t *u, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    if (!u) {
        buf[0] = '\0';
        return;
    }
    if (u->is_unix)
        snprintf(buf, size, "unix:%s", u->path);
    else if (strchr(u->host, ':'))
        snprintf(buf, size, "[%s]:%d", u->host, u->port);
    else
        snprintf(buf, size, "%s:%d", u->host, u->port);
}

void xb_redis_url_location(const xb_redis_url_t *u, char *buf, size_t size)
{
    char where[300];
    if (!buf || size == 0)
        return;
    if (!u) {
        buf[0] = '\0';
        return;
    }
    xb_redis_url_where(u, where, sizeof where);
    snprintf(buf, size, u->is_unix ? "%s?db=%d" : "%s/%d", where, u->db);
}
