/* xb_listener_main: the whole main() of a listener executable
 * (include/xmlbus/listener.h). Settings come from flags, then from the
 * environment the pump gives its children (docs/protocol.md, Environment). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "runtime_internal.h"
#include "log.h"
#include "xmlbus/xmlsafe.h"

typedef struct {
    const char *endpoint, *name, *kind, *log_level;
} settings_t;

/* Matches "--flag value" and "--flag=value". Returns 1 and advances *i on a
 * match, 0 if argv[*i] is another argument, -1 if the value is missing. */
static int take_flag(int argc, char **argv, int *i, const char *flag, const char **value)
{
    size_t n = strlen(flag);
    const char *a = argv[*i];
    if (strncmp(a, flag, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

static int parse_args(int argc, char **argv, settings_t *s)
{
    static const char *const flags[] = {"--endpoint", "--name", "--kind", "--log-level"};
    const char **slots[] = {&s->endpoint, &s->name, &s->kind, &s->log_level};
    for (int i = 1; i < argc; i++) {
        for (size_t k = 0; k < sizeof flags / sizeof *flags; k++) {
            int r = take_flag(argc, argv, &i, flags[k], slots[k]);
            if (r < 0) {
                fprintf(stderr, "%s: %s needs a value\n", argv[0], flags[k]);
                return -1;
            }
            if (r > 0)
                break;
        }
    }
    return 0;
}

static const char *env_or(const char *value, const char *var)
{
    if (value)
        return value;
    const char *e = getenv(var);
    return e && e[0] ? e : NULL;
}

/* SIGTERM and SIGINT, blocked in every thread (the ZeroMQ I/O threads start
 * later and inherit the mask) and read from a signalfd by the poll loop. */
static int signal_fd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* The token the pump gave this process (XMLBUS_CHILD_TOKEN) into token
 * ("" when none), taken out of the environment so that the programs the
 * handler runs do not inherit it. Called before any thread of ours starts. */
static void take_child_token(char *token, size_t cap)
{
    const char *e = getenv("XMLBUS_CHILD_TOKEN");
    token[0] = '\0';
    if (e && strlen(e) < cap)
        snprintf(token, cap, "%s", e);
    unsetenv("XMLBUS_CHILD_TOKEN");
}

int xb_listener_main(int argc, char **argv, xb_handler_fn fn, void *user)
{
    const char *prog = argc > 0 && argv[0] ? argv[0] : "listener";
    settings_t s = {0};
    if (parse_args(argc, argv, &s) != 0)
        return 2;
    s.endpoint = env_or(s.endpoint, "XMLBUS_ENDPOINT");
    s.name = env_or(s.name, "XMLBUS_LISTENER");
    s.kind = env_or(s.kind, "XMLBUS_KIND");
    s.log_level = env_or(s.log_level, "XMLBUS_LOG_LEVEL");
    if (s.log_level) {
        xb_log_level_t level;
        if (xb_log_level_parse(s.log_level, &level) != 0) {
            fprintf(stderr, "%s: unknown log level '%s' (error, warn, info, debug)\n", prog,
                    s.log_level);
            return 2;
        }
        xb_log_set_level(level);
    }
    if (!s.name) {
        fprintf(stderr, "%s: no listener name: set XMLBUS_LISTENER or pass --name NAME\n", prog);
        return 2;
    }
    if (!s.endpoint)
        s.endpoint = XB_DEFAULT_ENDPOINT;

    char token[XB_PROTO_ID_MAX + 1];
    take_child_token(token, sizeof token);
    xb_xml_init();
    int sfd = signal_fd();
    if (sfd < 0) {
        XB_ERROR("listener", "%s: cannot watch SIGTERM/SIGINT", s.name);
        return 1;
    }
    xb_error_t err;
    xb_listener_t *l = xb_listener_new(s.endpoint, s.name, NULL, fn, user, &err);
    const char *credit = getenv("XMLBUS_CREDIT");
    if (!l || (s.kind && xb_listener_set_kind(l, s.kind, &err) != 0) ||
        (credit && *credit && xb_listener_set_credit(l, atoi(credit), &err) != 0)) {
        XB_ERROR("listener", "%s", err.message);
        xb_listener_destroy(&l);
        close(sfd);
        return err.code == XB_ERR_ARG ? 2 : 1;
    }
    xb_rt_set_signal_fd(l, sfd);
    xb_rt_set_token(l, token);
    int rc = xb_listener_run(l, &err);
    if (rc != 0)
        XB_ERROR("listener", "%s", err.message);
    xb_listener_destroy(&l);
    close(sfd);
    return rc == 0 ? 0 : 1;
}
