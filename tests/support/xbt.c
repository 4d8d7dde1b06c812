/* Integration-test helpers (see xbt.h). */
#include "xbt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "log.h"

/* Pumps bind a port of the kernel's choosing and say which in a file: no
 * port is picked first and raced for. */
#define ANY_ENDPOINT "tcp://127.0.0.1:*"
#define START_TIMEOUT_MS 15000

int xbt_write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) == 0 ? rc : -1;
}

char *xbt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0)
        buf = malloc((size_t)n + 1);
    size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (buf) {
        buf[got] = '\0';
        if (len)
            *len = got;
    }
    return buf;
}

/* True when path holds a whole line (the writer renames it into place). */
static bool endpoint_written(const char *path, char *out, size_t cap)
{
    char *text = xbt_read_file(path, NULL);
    char *nl = text ? strchr(text, '\n') : NULL;
    if (nl) {
        *nl = '\0';
        snprintf(out, cap, "%s", text);
    }
    free(text);
    return nl != NULL;
}

/* True when the child pid has ended; leaves it to be reaped (WNOWAIT). */
static bool exited(pid_t pid)
{
    siginfo_t info = {0};
    return pid > 0 && waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid;
}

int xbt_read_endpoint_file(const char *path, pid_t pid, char *out, size_t cap, int timeout_ms)
{
    bool gone = false;
    out[0] = '\0';
    XBT_WAIT_UNTIL(endpoint_written(path, out, cap) || (gone = exited(pid)), timeout_ms);
    return out[0] && !gone ? 0 : -1;
}

/* Replaces every occurrence of key in s (a malloc'd string) by value. */
static char *replace_all(char *s, const char *key, const char *value)
{
    for (;;) {
        char *at = strstr(s, key);
        if (!at)
            return s;
        size_t n = strlen(s) - strlen(key) + strlen(value) + 1;
        char *out = malloc(n);
        if (!out) {
            free(s);
            return NULL;
        }
        snprintf(out, n, "%.*s%s%s", (int)(at - s), s, value, at + strlen(key));
        free(s);
        s = out;
    }
}

xb_client_t *xbt_client(const xbt_pump_t *p)
{
    return xb_client_new(p->endpoint, NULL, NULL);
}

/* Waits until the pump answers ping; false when it died or timeout_s passed. */
static bool wait_ping(xbt_pump_t *p, double timeout_s)
{
    xb_client_t *c = xbt_client(p);
    if (!c)
        return false;
    double end = xbt_now() + timeout_s;
    bool ok = false;
    while (!ok && xbt_now() < end && !exited(p->pid))
        ok = xb_client_control(c, "ping", NULL, 0, 500, NULL, NULL) == 0;
    xb_client_destroy(&c);
    return ok;
}

static char *expand(const xbt_pump_t *p, const char *text)
{
    char *s = strdup(text);
    s = s ? replace_all(s, "@ENDPOINT@", p->endpoint) : NULL;
    s = s ? replace_all(s, "@BIN@", XB_BIN_DIR) : NULL;
    s = s ? replace_all(s, "@TESTBIN@", XB_TEST_DIR) : NULL;
    s = s ? replace_all(s, "@SRC@", XB_SOURCE_DIR) : NULL;
    s = s ? replace_all(s, "@DIR@", p->dir) : NULL;
    return s;
}

static int write_expanded(const xbt_pump_t *p, const char *name, const char *text)
{
    char *s = expand(p, text);
    int rc = s ? xbt_write_file(p->dir, name, s) : -1;
    free(s);
    return rc;
}

int xbt_pump_start(xbt_pump_t *p, const char *yaml_body)
{
    return xbt_pump_start_files(p, yaml_body, NULL);
}

static pid_t spawn_pump(const xbt_pump_t *p, const char *cfg, const char *endpoint_file)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    execl(XB_BIN_DIR "/xmlbus", "xmlbus", "run", cfg, "--endpoint",
          p->bind[0] ? p->bind : ANY_ENDPOINT, "--endpoint-file", endpoint_file, "--log-level",
          "debug", (char *)NULL);
    _exit(127);
}

static int start_files(xbt_pump_t *p, const char *yaml_body, const char *const *files,
                       const char *bind);

int xbt_pump_start_files(xbt_pump_t *p, const char *yaml_body, const char *const *files)
{
    return start_files(p, yaml_body, files, NULL);
}

int xbt_pump_start_at(xbt_pump_t *p, const char *yaml_body, const char *endpoint)
{
    return start_files(p, yaml_body, NULL, endpoint);
}

static int start_files(xbt_pump_t *p, const char *yaml_body, const char *const *files,
                       const char *bind)
{
    memset(p, 0, sizeof *p);
    if (bind)
        snprintf(p->bind, sizeof p->bind, "%s", bind);
    char *dir = xbt_tmpdir("pump");
    if (!dir)
        return -1;
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    free(dir);
    snprintf(p->endpoint, sizeof p->endpoint, "%s", ANY_ENDPOINT); /* for @ENDPOINT@ */
    snprintf(p->log, sizeof p->log, "%s/pump.log", p->dir);
    for (size_t i = 0; files && files[i] && files[i + 1]; i += 2)
        if (write_expanded(p, files[i], files[i + 1]) != 0)
            return -1;
    if (write_expanded(p, "organism.yaml", yaml_body) != 0)
        return -1;
    char cfg[700], endpoint_file[700];
    snprintf(cfg, sizeof cfg, "%s/organism.yaml", p->dir);
    snprintf(endpoint_file, sizeof endpoint_file, "%s/endpoint", p->dir);
    p->pid = spawn_pump(p, cfg, endpoint_file);
    if (p->pid < 0) {
        p->pid = 0;
        return -1;
    }
    if (xbt_read_endpoint_file(endpoint_file, p->pid, p->endpoint, sizeof p->endpoint,
                               START_TIMEOUT_MS) == 0 &&
        wait_ping(p, START_TIMEOUT_MS / 1000.0))
        return 0;
    xbt_pump_dump_log(p);
    xbt_wait_exit(p->pid, 0); /* reaps it, killed first if it still runs */
    p->pid = 0;
    return -1;
}

int xbt_pump_stop(xbt_pump_t *p, int sig, double timeout_s)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    int status = xbt_wait_exit(p->pid, (int)(timeout_s * 1000));
    p->pid = 0;
    return status;
}

void xbt_pump_finish(xbt_pump_t *p, double timeout_s)
{
    if (CU_get_number_of_failures() > 0 && p->log[0])
        xbt_pump_dump_log(p);
    if (p->pid > 0)
        xbt_pump_stop(p, SIGTERM, timeout_s);
    xbt_rmtree(p->dir);
}

void xbt_pump_dump_log(const xbt_pump_t *p)
{
    FILE *f = fopen(p->log, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 6000 ? size - 6000 : 0, SEEK_SET);
    char buf[6001];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "---- pump log tail (%s) ----\n%s\n---- end ----\n", p->log, buf);
}

bool xbt_pump_log_clean(const xbt_pump_t *p)
{
    FILE *f = fopen(p->log, "r");
    if (!f)
        return false;
    static const char *const marks[] = {"Sanitizer", "runtime error:"};
    char line[4096];
    bool clean = true;
    while (fgets(line, sizeof line, f)) {
        for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
            if (strstr(line, marks[i])) {
                fprintf(stderr, "%s: %s", p->log, line);
                clean = false;
                break;
            }
        }
    }
    fclose(f);
    return clean;
}

int xbt_xmlbus(const char *endpoint, char **out, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/xmlbus' %s -e '%s' --timeout 10 2>&1", XB_BIN_DIR, args,
             endpoint);
    *out = NULL;
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += r;
        if (cap - len < 2) {
            char *n = realloc(buf, cap * 2);
            if (!n) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = n;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = '\0';
    int status = pclose(p);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

size_t xbt_children(pid_t pid, pid_t *out, size_t cap)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long child = strtol(e->d_name, &end, 10);
        if (*end || child <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", child);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t r = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[r] = '\0';
        char *close_paren = strrchr(buf, ')');
        char state;
        long ppid;
        if (close_paren && sscanf(close_paren + 1, " %c %ld", &state, &ppid) == 2 && ppid == pid &&
            state != 'Z') {
            if (n < cap)
                out[n] = (pid_t)child;
            n++;
        }
    }
    closedir(d);
    return n < cap ? n : cap;
}

bool xbt_pid_alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t r = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[r] = '\0';
    char *cp = strrchr(buf, ')');
    return cp && cp[1] == ' ' && cp[2] != 'Z' && cp[2] != 'X';
}

char *xbt_recv(xb_client_t *c, int timeout_ms)
{
    char *env = NULL;
    if (xb_client_recv(c, timeout_ms, &env, NULL, NULL) != 0)
        return NULL;
    return env;
}

static xmlNodePtr first_named(xmlNodePtr n, const char *name)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)n->name, name) == 0)
            return n;
        xmlNodePtr inner = first_named(n->children, name);
        if (inner)
            return inner;
    }
    return NULL;
}

/* Parsed with libxml2, so prefixes do not matter: the first element (in
 * document order) whose local name is `name`. */
char *xbt_text_of(const char *xml, const char *name)
{
    if (!xml)
        return NULL;
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return NULL;
    xmlNodePtr n = first_named(xmlDocGetRootElement(doc), name);
    char *out = NULL;
    if (n) {
        xmlChar *t = xmlNodeGetContent(n);
        out = t ? strdup((const char *)t) : NULL;
        xmlFree(t);
    }
    xmlFreeDoc(doc);
    return out;
}

char *xbt_root_attr(const char *xml, const char *attr)
{
    if (!xml)
        return NULL;
    xmlDoc *doc = xb_client_read_xml(xml, strlen(xml), NULL);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlChar *v = root ? xmlGetProp(root, BAD_CAST attr) : NULL;
    char *out = v ? strdup((const char *)v) : NULL;
    xmlFree(v);
    xmlFreeDoc(doc);
    return out;
}

int xbt_count(const char *text, const char *needle)
{
    int n = 0;
    size_t step = strlen(needle);
    for (const char *s = text; s && step && (s = strstr(s, needle)); s += step)
        n++;
    return n;
}

int xbt_collect(xb_client_t *c, int n, int timeout_ms, int *refusals, xb_code_t *last_code)
{
    int answers = 0;
    *refusals = 0;
    for (int i = 0; i < n; i++) {
        char *env = xbt_recv(c, timeout_ms);
        if (!env)
            break;
        xb_code_t code = XB_OK;
        if (xb_client_system_error(env, strlen(env), &code, NULL, 0) == 1) {
            (*refusals)++;
            if (last_code)
                *last_code = code;
        } else {
            answers++;
        }
        free(env);
    }
    return answers;
}

int xbt_log_errors_only(void)
{
    xb_log_set_level(XB_LOG_ERROR);
    return 0;
}
