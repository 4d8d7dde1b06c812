/* CURVE keys and key files (see include/xmlbus/keys.h). */
#include "xmlbus/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#define KEY_BYTES 32
/* A key file is a few lines; anything much larger is not one. */
#define KEY_FILE_MAX (64 * 1024)
#define KEY_PATH_MAX 4096

/* ---- keys ------------------------------------------------------------------ */

/* Whether z85 is 40 Z85 characters that decode to 32 bytes. */
static bool z85_key_valid(const char *z85)
{
    if (!z85 || strlen(z85) != XB_KEY_Z85_LEN)
        return false;
    uint8_t bin[KEY_BYTES];
    bool ok = zmq_z85_decode(bin, z85) != NULL;
    memset(bin, 0, sizeof bin);
    return ok;
}

void xb_key_wipe(xb_key_t *key)
{
    if (key)
        explicit_bzero(key, sizeof *key);
}

bool xb_key_has_secret(const xb_key_t *key)
{
    return key && key->secret_key[0] != '\0';
}

int xb_key_generate(xb_key_t *key, xb_error_t *err)
{
    if (!key)
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: no key to fill");
    xb_key_wipe(key);
    if (zmq_curve_keypair(key->public_key, key->secret_key) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "keys: cannot generate a CURVE keypair: %s",
                            zmq_strerror(errno));
    return 0;
}

/* Why the pair public_z85 / secret_z85 is not a key (NULL when it is). */
static const char *key_problem(const char *public_z85, const char *secret_z85)
{
    if (!z85_key_valid(public_z85))
        return "public-key is not a Z85 key (40 characters that decode to 32 bytes)";
    if (!secret_z85 || !*secret_z85)
        return NULL;
    if (!z85_key_valid(secret_z85))
        return "secret-key is not a Z85 key (40 characters that decode to 32 bytes)";
    char derived[XB_KEY_TEXT];
    if (zmq_curve_public(derived, secret_z85) != 0)
        return "secret-key is not a CURVE secret key";
    bool same = strcmp(derived, public_z85) == 0;
    explicit_bzero(derived, sizeof derived);
    return same ? NULL : "secret-key does not belong to public-key";
}

int xb_key_set(xb_key_t *key, const char *public_z85, const char *secret_z85, xb_error_t *err)
{
    if (!key)
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: no key to fill");
    const char *problem = key_problem(public_z85, secret_z85);
    if (problem)
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: %s", problem);
    xb_key_wipe(key);
    memcpy(key->public_key, public_z85, XB_KEY_TEXT);
    if (secret_z85 && *secret_z85)
        memcpy(key->secret_key, secret_z85, XB_KEY_TEXT);
    return 0;
}

/* ---- paths ----------------------------------------------------------------- */

static bool name_valid(const char *name)
{
    if (!name || !*name || name[0] == '.')
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int one_path(const char *dir, const char *name, const char *suffix, char *out, size_t cap,
                    xb_error_t *err)
{
    char path[KEY_PATH_MAX];
    int n = dir && *dir ? snprintf(path, sizeof path, "%s/%s%s", dir, name, suffix)
                        : snprintf(path, sizeof path, "%s%s", name, suffix);
    if (n < 0 || (size_t)n >= sizeof path || (out && (size_t)n >= cap))
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: path of key '%s' too long", name);
    if (out)
        memcpy(out, path, (size_t)n + 1);
    return 0;
}

int xb_key_paths(const char *dir, const char *name, char *public_path, char *secret_path,
                 size_t cap, xb_error_t *err)
{
    if (!name_valid(name))
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "keys: bad key name '%s': letters, digits, '.', '_' and '-', not "
                            "starting with '.'",
                            name ? name : "");
    if (one_path(dir, name, XB_KEY_PUBLIC_SUFFIX, public_path, cap, err) != 0 ||
        one_path(dir, name, XB_KEY_SECRET_SUFFIX, secret_path, cap, err) != 0)
        return -1;
    return 0;
}

/* ---- saving ---------------------------------------------------------------- */

/* Creates path (which must not exist) with exactly mode and writes text.
 * Returns 0, or -1 with *err set; a file it created is removed again. */
static int write_new(const char *path, mode_t mode, const char *text, xb_error_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0 && errno == EEXIST)
        return xb_error_set(err, XB_ERR_ARG, 0,
                            "keys: %s exists: a key file is never overwritten (remove it "
                            "first, or choose another name)",
                            path);
    if (fd < 0)
        return xb_error_set(err, XB_ERR_IO, 0, "keys: cannot create %s: %s", path, strerror(errno));
    /* The umask may only have narrowed the mode; a public key must be readable. */
    size_t len = strlen(text), done = 0;
    int rc = fchmod(fd, mode);
    while (rc == 0 && done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = -1;
        else
            done += (size_t)w;
    }
    if (rc == 0)
        rc = fsync(fd);
    int e = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0)
        return 0;
    unlink(path);
    return xb_error_set(err, XB_ERR_IO, 0, "keys: cannot write %s: %s", path, strerror(e));
}

int xb_key_save(const xb_key_t *key, const char *dir, const char *name, char *public_path,
                char *secret_path, size_t cap, xb_error_t *err)
{
    if (!xb_key_has_secret(key))
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: saving a key needs its secret key");
    const char *problem = key_problem(key->public_key, key->secret_key);
    if (problem)
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: %s", problem);
    char pub[KEY_PATH_MAX], sec[KEY_PATH_MAX];
    if (xb_key_paths(dir, name, pub, sec, sizeof pub, err) != 0)
        return -1;
    if ((public_path && strlen(pub) >= cap) || (secret_path && strlen(sec) >= cap))
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: path of key '%s' too long", name);
    char text[512];
    snprintf(text, sizeof text,
             "# xmlbus CURVE secret key \"%s\" (docs/security.md, \"Key files\").\n"
             "# Keep it to its owner: mode 0600, never copied around.\n"
             "public-key = %s\nsecret-key = %s\n",
             name, key->public_key, key->secret_key);
    /* The secret first: when NAME.key exists the secret is removed again,
     * and a NAME.key_secret that exists stops everything before a write. */
    int rc = write_new(sec, 0600, text, err);
    explicit_bzero(text, sizeof text);
    if (rc != 0)
        return -1;
    snprintf(text, sizeof text,
             "# xmlbus CURVE public key \"%s\" (docs/security.md, \"Key files\").\n"
             "# Hand it to whoever must recognise this key.\n"
             "public-key = %s\n",
             name, key->public_key);
    if (write_new(pub, 0644, text, err) != 0) {
        unlink(sec);
        return -1;
    }
    if (public_path)
        memcpy(public_path, pub, strlen(pub) + 1);
    if (secret_path)
        memcpy(secret_path, sec, strlen(sec) + 1);
    return 0;
}

/* ---- loading --------------------------------------------------------------- */

/* The whole file at path (regular, at most KEY_FILE_MAX bytes) into a NUL-
 * terminated buffer the caller wipes and frees; its mode into *mode. */
static char *read_key_file(const char *path, mode_t *mode, xb_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        xb_error_set(err, e == ENOENT ? XB_ERR_NOTFOUND : XB_ERR_IO, 0,
                     "keys: cannot open key file %s: %s", path, strerror(e));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        xb_error_set(err, XB_ERR_IO, 0, "keys: %s is not a regular file", path);
    } else if (st.st_size > KEY_FILE_MAX) {
        xb_error_set(err, XB_ERR_PARSE, 0, "keys: %s: too large for a key file (%lld bytes)", path,
                     (long long)st.st_size);
    } else if (!(buf = calloc(1, (size_t)st.st_size + 1))) {
        xb_error_set(err, XB_ERR_NOMEM, 0, "keys: out of memory");
    } else {
        size_t len = 0;
        for (;;) {
            ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0 || (len += (size_t)r) == (size_t)st.st_size)
                break;
        }
        buf[len] = '\0';
        *mode = st.st_mode;
    }
    close(fd);
    return buf;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* What one line holds, stored into the right field of *key. Returns NULL,
 * or why the line is refused. */
static const char *parse_line(char *line, xb_key_t *key)
{
    line = trim(line);
    if (!*line || *line == '#')
        return NULL;
    char *eq = strchr(line, '=');
    if (!eq)
        return "expected 'public-key = Z85' or 'secret-key = Z85'";
    *eq = '\0';
    const char *name = trim(line);
    const char *value = trim(eq + 1);
    char *field;
    if (strcmp(name, "public-key") == 0)
        field = key->public_key;
    else if (strcmp(name, "secret-key") == 0)
        field = key->secret_key;
    else
        return "unknown setting (a key file has public-key and secret-key)";
    if (*field)
        return strcmp(name, "public-key") == 0 ? "public-key given twice"
                                               : "secret-key given twice";
    if (!z85_key_valid(value))
        return strcmp(name, "public-key") == 0
                   ? "public-key is not a Z85 key (40 characters that decode to 32 bytes)"
                   : "secret-key is not a Z85 key (40 characters that decode to 32 bytes)";
    memcpy(field, value, XB_KEY_TEXT);
    return NULL;
}

/* Parses text (modified in place) into *key. */
static int parse_key_text(const char *path, char *text, xb_key_t *key, xb_error_t *err)
{
    int lineno = 0;
    for (char *line = text; line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        const char *problem = parse_line(line, key);
        if (problem)
            return xb_error_set(err, XB_ERR_PARSE, lineno, "%s:%d: %s", path, lineno, problem);
        line = next;
    }
    if (!key->public_key[0])
        return xb_error_set(err, XB_ERR_PARSE, 0, "%s: no public-key line", path);
    const char *problem = key_problem(key->public_key, key->secret_key);
    if (problem)
        return xb_error_set(err, XB_ERR_PARSE, 0, "%s: %s", path, problem);
    return 0;
}

int xb_key_load(const char *path, xb_key_t *key, xb_error_t *err)
{
    if (!path || !*path || !key)
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: no key file given");
    xb_key_wipe(key);
    mode_t mode = 0;
    char *text = read_key_file(path, &mode, err);
    if (!text)
        return -1;
    size_t len = strlen(text);
    int rc = parse_key_text(path, text, key, err);
    explicit_bzero(text, len);
    free(text);
    if (rc == 0 && xb_key_has_secret(key) && (mode & 077)) {
        rc = xb_error_set(err, XB_ERR_ARG, 0,
                          "%s: secret key file is open to others (mode %04o): refused; "
                          "run `chmod 600 %s`",
                          path, (unsigned)(mode & 07777), path);
    }
    if (rc != 0)
        xb_key_wipe(key);
    return rc;
}

/* path, or the environment variable var when path is NULL; NULL when both
 * are unset or empty. */
static const char *path_or_env(const char *path, const char *var)
{
    if (!path)
        path = getenv(var);
    return path && *path ? path : NULL;
}

int xb_key_paths_from_env(const char **key_path, const char **server_key_path, xb_error_t *err)
{
    *key_path = path_or_env(*key_path, XB_KEY_ENV);
    *server_key_path = path_or_env(*server_key_path, XB_SERVER_KEY_ENV);
    if (*key_path && *server_key_path)
        return 1;
    if (!*key_path && !*server_key_path)
        return 0;
    return xb_error_set(err, XB_ERR_ARG, 0,
                        "CURVE needs both keys: this side's secret key file (--key, %s) and the "
                        "pump's public key file (--server-key, %s); only %s is given",
                        XB_KEY_ENV, XB_SERVER_KEY_ENV, *key_path ? "this side's" : "the pump's");
}

int xb_key_load_client(const char *key_path, const char *server_key_path, xb_key_t *own,
                       xb_key_t *server, xb_error_t *err)
{
    if (!own || !server)
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: no key to fill");
    xb_key_t loaded;
    if (xb_key_load(key_path, own, err) != 0)
        return -1;
    int rc = 0;
    if (!xb_key_has_secret(own))
        rc = xb_error_set(err, XB_ERR_ARG, 0,
                          "%s holds a public key only: this side needs its secret key file "
                          "(NAME" XB_KEY_SECRET_SUFFIX ")",
                          key_path);
    else if ((rc = xb_key_load(server_key_path, &loaded, err)) == 0)
        rc = xb_key_set(server, loaded.public_key, NULL, err);
    xb_key_wipe(&loaded);
    if (rc != 0)
        xb_key_wipe(own);
    return rc;
}

/* ---- sockets --------------------------------------------------------------- */

static int set_key_opt(void *sock, int opt, const char *z85, const char *what, xb_error_t *err)
{
    if (zmq_setsockopt(sock, opt, z85, XB_KEY_TEXT) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "keys: cannot set %s: %s", what,
                            zmq_strerror(errno));
    return 0;
}

static int set_handshake(void *sock, int handshake_ms, xb_error_t *err)
{
    int ivl = handshake_ms > 0 ? handshake_ms : XB_KEY_HANDSHAKE_MS;
    if (zmq_setsockopt(sock, ZMQ_HANDSHAKE_IVL, &ivl, sizeof ivl) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "keys: cannot set ZMQ_HANDSHAKE_IVL: %s",
                            zmq_strerror(errno));
    return 0;
}

int xb_key_apply_client(void *sock, const xb_key_t *own, const xb_key_t *server, int handshake_ms,
                        xb_error_t *err)
{
    if (!sock || !server || !server->public_key[0])
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: a CURVE client needs the server's key");
    if (!xb_key_has_secret(own))
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: a CURVE client needs its own secret key");
    if (set_key_opt(sock, ZMQ_CURVE_PUBLICKEY, own->public_key, "ZMQ_CURVE_PUBLICKEY", err) ||
        set_key_opt(sock, ZMQ_CURVE_SECRETKEY, own->secret_key, "ZMQ_CURVE_SECRETKEY", err) ||
        set_key_opt(sock, ZMQ_CURVE_SERVERKEY, server->public_key, "ZMQ_CURVE_SERVERKEY", err))
        return -1;
    return set_handshake(sock, handshake_ms, err);
}

int xb_key_apply_server(void *sock, const xb_key_t *own, int handshake_ms, xb_error_t *err)
{
    if (!sock || !xb_key_has_secret(own))
        return xb_error_set(err, XB_ERR_ARG, 0, "keys: a CURVE server needs its own secret key");
    int on = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &on, sizeof on) != 0)
        return xb_error_set(err, XB_ERR_IO, 0, "keys: cannot set ZMQ_CURVE_SERVER: %s",
                            zmq_strerror(errno));
    if (set_key_opt(sock, ZMQ_CURVE_SECRETKEY, own->secret_key, "ZMQ_CURVE_SECRETKEY", err))
        return -1;
    return set_handshake(sock, handshake_ms, err);
}
