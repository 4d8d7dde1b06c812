/* Child processes and temporary folders of xmlbus-bench, and /proc readers.
 *
 * Every process the benchmark starts (pump, raw broker and worker, redis)
 * and every temporary folder is registered here, so that exit() (atexit)
 * and SIGINT/SIGTERM/SIGHUP clean them up whatever went wrong. The registry
 * is the one piece of global state of the program: a signal handler has no
 * other way to reach it. Children also get PR_SET_PDEATHSIG, so even a
 * SIGKILL of the benchmark takes them down (the pump does the same for its
 * listeners). */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_CHILDREN 32
#define MAX_DIRS 32

static volatile sig_atomic_t g_pids[MAX_CHILDREN];
static char g_dirs[MAX_DIRS][BENCH_PATH_MAX];
static volatile sig_atomic_t g_signal;
static pid_t g_main_pid;

bool bench_interrupted(void)
{
    return g_signal != 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void forget_pid(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_pids[i] == pid)
            g_pids[i] = 0;
}

static int remember_pid(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_pids[i] == 0) {
            g_pids[i] = pid;
            return 0;
        }
    return -1;
}

bool bench_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    pid_t w = waitpid(pid, NULL, WNOHANG);
    if (w == pid || (w < 0 && errno == ECHILD)) {
        forget_pid(pid);
        return false;
    }
    return true;
}

void bench_stop(pid_t pid, int grace_ms)
{
    if (pid <= 0)
        return;
    if (kill(pid, SIGTERM) != 0 && errno == ESRCH) {
        (void)waitpid(pid, NULL, WNOHANG);
        forget_pid(pid);
        return;
    }
    for (int waited = 0; waited < grace_ms; waited += 10) {
        pid_t w = waitpid(pid, NULL, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD)) {
            forget_pid(pid);
            return;
        }
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    forget_pid(pid);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    (void)remove(path); /* best effort: go on with the rest */
    return 0;
}

static void remove_tree(const char *dir)
{
    if (dir[0])
        (void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int bench_tmpdir(char out[BENCH_PATH_MAX], xb_error_t *err)
{
    snprintf(out, BENCH_PATH_MAX, "/tmp/xb-bench-XXXXXX");
    if (!mkdtemp(out))
        return xb_error_set(err, XB_ERR_IO, 0, "mkdtemp /tmp/xb-bench-XXXXXX: %s", strerror(errno));
    for (int i = 0; i < MAX_DIRS; i++)
        if (!g_dirs[i][0]) {
            snprintf(g_dirs[i], sizeof g_dirs[i], "%s", out);
            return 0;
        }
    remove_tree(out);
    return xb_error_set(err, XB_ERR_LIMIT, 0, "too many temporary folders");
}

void bench_tmpdir_remove(const char *dir)
{
    for (int i = 0; i < MAX_DIRS; i++)
        if (g_dirs[i][0] && strcmp(g_dirs[i], dir) == 0) {
            remove_tree(g_dirs[i]);
            g_dirs[i][0] = '\0';
        }
}

void bench_tmpdir_keep(const char *dir)
{
    for (int i = 0; i < MAX_DIRS; i++)
        if (g_dirs[i][0] && strcmp(g_dirs[i], dir) == 0)
            g_dirs[i][0] = '\0';
}

/* The child's side of bench_spawn: never returns. */
static void exec_child(const char *const *argv, const char *log_path, const char *const *extra_env,
                       pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || out < 0)
        _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    /* No descriptor of ours (ZeroMQ sockets, eventfds) leaks into the child. */
    for (int fd = 3; fd < 4096; fd++)
        close(fd);
    for (size_t i = 0; extra_env && extra_env[i]; i++)
        putenv((char *)extra_env[i]);
    execve(argv[0], (char *const *)argv, environ);
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

pid_t bench_spawn(const char *const *argv, const char *log_path, const char *const *extra_env,
                  xb_error_t *err)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        xb_error_set(err, XB_ERR_IO, 0, "fork for %s: %s", argv[0], strerror(errno));
        return -1;
    }
    if (pid == 0)
        exec_child(argv, log_path, extra_env, parent);
    if (remember_pid(pid) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        xb_error_set(err, XB_ERR_LIMIT, 0, "too many child processes");
        return -1;
    }
    return pid;
}

/* atexit: stop every child that is still registered, remove every folder. */
static void cleanup_all(void)
{
    if (getpid() != g_main_pid)
        return; /* a forked child that failed to exec */
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_pids[i] > 0)
            bench_stop((pid_t)g_pids[i], 5000);
    for (int i = 0; i < MAX_DIRS; i++)
        if (g_dirs[i][0]) {
            remove_tree(g_dirs[i]);
            g_dirs[i][0] = '\0';
        }
}

/* First signal: ask the children to stop and let the main loop unwind to
 * exit() (which runs cleanup_all). A second signal: kill them and leave. */
static void on_signal(int sig)
{
    if (g_signal) {
        for (int i = 0; i < MAX_CHILDREN; i++)
            if (g_pids[i] > 0)
                kill((pid_t)g_pids[i], SIGKILL);
        _exit(128 + sig);
    }
    g_signal = sig;
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_pids[i] > 0)
            kill((pid_t)g_pids[i], SIGTERM);
}

void bench_cleanup_install(void)
{
    g_main_pid = getpid();
    atexit(cleanup_all);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

long bench_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (long)n;
}

int64_t bench_proc_cpu_ns(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (bench_read_file(path, buf, sizeof buf) <= 0)
        return -1;
    /* The command name (field 2) may hold spaces: start after its ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long utime = 0, stime = 0;
    /* Fields from 3 on: state ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime. */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    return (int64_t)((utime + stime) * (1000000000ull / (unsigned long long)hz));
}

long bench_proc_rss_kb(pid_t pid)
{
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if (bench_read_file(path, buf, sizeof buf) <= 0)
        return -1;
    const char *p = strstr(buf, "\nVmRSS:");
    long kb = -1;
    if (!p || sscanf(p + 7, "%ld", &kb) != 1)
        return -1;
    return kb;
}

int bench_wait_file_line(const char *path, pid_t pid, int timeout_ms, char *out, size_t cap)
{
    for (int waited = 0; waited <= timeout_ms && !bench_interrupted(); waited += 10) {
        long n = bench_read_file(path, out, cap);
        if (n > 0) {
            out[strcspn(out, "\r\n")] = '\0';
            if (out[0])
                return 0;
        }
        if (pid > 0 && !bench_alive(pid))
            return -1;
        sleep_ms(10);
    }
    return -1;
}

void bench_log_tail(const char *path, char *out, size_t cap)
{
    char buf[4096];
    out[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    /* The last line or two, joined. */
    char *start = buf;
    int lines = 0;
    for (ssize_t i = n - 1; i >= 0; i--)
        if (buf[i] == '\n' && ++lines == 2) {
            start = buf + i + 1;
            break;
        }
    for (char *c = start; *c; c++)
        if (*c == '\n')
            *c = ' ';
    snprintf(out, cap, "%s", start);
}

int bench_write_file(const char *path, const char *text, xb_error_t *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot write %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len;
    if (fclose(f) != 0 || !ok)
        return xb_error_set(err, XB_ERR_IO, 0, "cannot write %s: %s", path, strerror(errno));
    return 0;
}
