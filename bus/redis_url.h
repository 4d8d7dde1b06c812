/* Parsing of the redis backend's `redis_url` (see docs/backend-redis.md).
 *
 * Accepted forms:
 *   redis://[[user]:password@]host[:port][/db][?db=N&password=P]
 *   unix:///absolute/path/to/redis.sock[?db=N&password=P]
 * host may be a name, an IPv4 address or a bracketed IPv6 address
 * ([::1]); port defaults to 6379, db to 0. user and password may be
 * percent-encoded (%40 for '@', %3A for ':'). */
#ifndef XMLBUS_REDIS_URL_H
#define XMLBUS_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "xmlbus/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_REDIS_DEFAULT_PORT 6379

typedef struct {
    bool is_unix;       /* true: unix socket at path; false: TCP host:port */
    char host[256];     /* TCP host, IPv6 without brackets */
    int port;           /* TCP port 1..65535 */
    char path[108];     /* unix socket path (sun_path limit) */
    char username[128]; /* ACL user, "" for the default user */
    char password[256]; /* "" = no AUTH */
    int db;             /* SELECT index, 0 = none sent */
} xb_redis_url_t;

/* Parses url into *out. Returns 0, or -1 with *err set to XB_ERR_CONFIG and
 * a message that says what is wrong (the password is never echoed). */
int xb_redis_url_parse(const char *url, xb_redis_url_t *out, xb_error_t *err);

/* Writes where the URL points, for messages: "host:port" ("[v6]:port") or
 * "unix:/path". Never contains the password. */
void xb_redis_url_where(const xb_redis_url_t *u, char *buf, size_t size);

/* Writes where plus the database: "host:port/db" or "unix:/path?db=N". */
void xb_redis_url_location(const xb_redis_url_t *u, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
