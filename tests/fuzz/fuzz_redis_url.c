/* Fuzz target: the redis_url parser (bus/redis_url.c).
 * Promises checked: a refusal says why; a parsed URL is a unix socket with
 * an absolute path or a host with a port in 1..65535, and the strings that
 * name it for messages never hold the password. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "redis_url.h"

/* True when the strings that name u for messages hold its password: they
 * are made again with a password no other part of a URL can hold. */
static int leaks(const xb_redis_url_t *u)
{
    static const char marker[] = "\x01password\x01";
    xb_redis_url_t m = *u;
    memcpy(m.password, marker, sizeof marker);
    char where[600], location[600];
    xb_redis_url_where(&m, where, sizeof where);
    xb_redis_url_location(&m, location, sizeof location);
    return strstr(where, marker) || strstr(location, marker);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = xb_fuzz_cstr(data, size);
    xb_redis_url_t u;
    xb_error_t err;
    if (xb_redis_url_parse(url, &u, &err) != 0) {
        XB_FUZZ_CHECK(err.code == XB_ERR_CONFIG && err.message[0]);
        free(url);
        return 0;
    }
    if (u.is_unix)
        XB_FUZZ_CHECK(u.path[0] == '/');
    else
        XB_FUZZ_CHECK(u.host[0] && u.port >= 1 && u.port <= 65535);
    XB_FUZZ_CHECK(u.db >= 0);
    char small[8];
    xb_redis_url_where(&u, small, sizeof small);
    XB_FUZZ_CHECK(memchr(small, '\0', sizeof small));
    xb_redis_url_location(&u, small, sizeof small);
    XB_FUZZ_CHECK(memchr(small, '\0', sizeof small));
    XB_FUZZ_CHECK(!leaks(&u));
    free(url);
    return 0;
}
