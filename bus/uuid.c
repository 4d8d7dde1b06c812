/* Canonical UUID strings, made as version 7 (see include/xmlbus/uuid.h). */
#include "xmlbus/uuid.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

/* Random bytes are drawn from the kernel a page at a time, per thread: a
 * UUID per routed message would otherwise cost several system calls. The
 * page is wiped in a forked child (MADV_WIPEONFORK), so parent and child never
 * hand out the same UUIDs. */
typedef struct {
    size_t pos;
    size_t len;
    unsigned char bytes[4096 - 2 * sizeof(size_t)];
} pool_t;

static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static int pool_key_ok;

static void pool_free(void *p)
{
    munmap(p, sizeof(pool_t));
}

static void pool_make_key(void)
{
    pool_key_ok = pthread_key_create(&pool_key, pool_free) == 0;
}

static pool_t *pool_get(void)
{
    pthread_once(&pool_once, pool_make_key);
    if (!pool_key_ok)
        return NULL;
    pool_t *p = pthread_getspecific(pool_key);
    if (p)
        return p;
    p = mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (madvise(p, sizeof *p, MADV_WIPEONFORK) != 0 || pthread_setspecific(pool_key, p) != 0) {
        munmap(p, sizeof *p);
        return NULL;
    }
    return p;
}

/* Straight from the kernel: requests of at most 256 bytes are never cut
 * short or interrupted (getrandom(2)). */
static int random_direct(void *out, size_t n)
{
    return getrandom(out, n, 0) == (ssize_t)n ? 0 : -1;
}

int xb_random_bytes(void *out, size_t n)
{
    if (n > 256)
        return -1;
    pool_t *p = pool_get();
    if (!p)
        return random_direct(out, n); /* no pool (no MADV_WIPEONFORK here) */
    if (p->len - p->pos < n || p->len > sizeof p->bytes) {
        ssize_t got;
        do
            got = getrandom(p->bytes, sizeof p->bytes, 0);
        while (got < 0 && errno == EINTR);
        if (got < (ssize_t)n)
            return random_direct(out, n);
        p->len = (size_t)got;
        p->pos = 0;
    }
    memcpy(out, p->bytes + p->pos, n);
    memset(p->bytes + p->pos, 0, n); /* used bytes never linger */
    p->pos += n;
    return 0;
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool xb_uuid_is_canonical(const char *s)
{
    if (!s)
        return false;
    for (int i = 0; i < XB_UUID_LEN; i++) {
        char c = s[i];
        if (c == '\0')
            return false;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!is_lower_hex(c)) {
            return false;
        }
    }
    if (s[XB_UUID_LEN] != '\0')
        return false;
    /* Version nibble 4 (random) or 7 (time-ordered), variant 10xx (8, 9, a or b). */
    return (s[14] == '4' || s[14] == '7') && strchr("89ab", s[19]) != NULL;
}

/* Writes the 48-bit Unix time in milliseconds and a 12-bit fraction of the
 * millisecond (RFC 9562, version 7 with the "increased clock precision" of
 * its method 3) into u[0..7], version nibble included: UUIDs made later sort
 * later, so the backends' B-trees keyed by thread or message id insert at
 * their right edge instead of at a random page (docs/backend-manager.md). */
static void put_v7_time(unsigned char u[8])
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        ts = (struct timespec){0};
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    unsigned frac = (unsigned)(((uint64_t)(ts.tv_nsec % 1000000) << 12) / 1000000);
    for (int i = 0; i < 6; i++)
        u[i] = (unsigned char)(ms >> (40 - 8 * i));
    u[6] = (unsigned char)(0x70 | (frac >> 8)); /* version 7 */
    u[7] = (unsigned char)frac;
}

static void format_uuid(const unsigned char u[16], char out[XB_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[u[i] >> 4];
        *o++ = hex[u[i] & 15];
    }
    *o = '\0';
}

void xb_uuid_new(char out[XB_UUID_LEN + 1])
{
    unsigned char u[16];
    if (xb_random_bytes(u + 8, 8) != 0) {
        uuid_generate_random(u); /* no pool and no getrandom: libuuid's version 4 */
        uuid_unparse_lower(u, out);
        return;
    }
    put_v7_time(u);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* variant 10xx */
    format_uuid(u, out);
}

void xb_uuid_new_random(char out[XB_UUID_LEN + 1])
{
    unsigned char u[16];
    if (xb_random_bytes(u, sizeof u) != 0) {
        uuid_generate_random(u);
        uuid_unparse_lower(u, out);
        return;
    }
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80); /* variant 10xx */
    format_uuid(u, out);
}
