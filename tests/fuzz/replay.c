/* The plain build of a fuzz target (see fuzz.h): a CUnit test that feeds
 * every file of the seed corpus of target XB_FUZZ_TARGET (the folder
 * XB_FUZZ_CORPUS) to LLVMFuzzerTestOneInput. A crash or a broken promise
 * aborts the test; a corpus file that once crashed a target is a regression
 * test. Nothing may reach stderr while the corpus runs (xmlbus captures every error). */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"
#include "xbt_main.h"

/* The file's bytes in a buffer of exactly its size (so that the sanitizer
 * build catches a read past the end). NULL when it cannot be read. */
static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        *size = (size_t)st.st_size;
        buf = malloc(*size ? *size : 1);
        if (buf && fread(buf, 1, *size, f) != *size) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Runs every file of the corpus, writing each one's name to fd `progress`
 * before it runs. Returns how many ran, -1 on an unreadable file or folder. */
static int replay_corpus(const char *dir, int progress)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0)
        return -1;
    int ran = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.' && ran >= 0) {
            char path[4096];
            size_t size = 0;
            int len = snprintf(path, sizeof path, "%s/%s\n", dir, names[i]->d_name);
            if (write(progress, path, (size_t)len) != len)
                ran = -1;
            path[len - 1] = '\0';
            uint8_t *data = read_all(path, &size);
            if (data) {
                LLVMFuzzerTestOneInput(data, size);
                ran++;
            } else {
                ran = -1;
            }
            free(data);
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

/* The last line that the child wrote (the file it was running). */
static void read_progress(int fd, char *last, size_t cap)
{
    char buf[4096];
    size_t have = 0;
    last[0] = '\0';
    for (;;) {
        ssize_t got = read(fd, buf + have, sizeof buf - 1 - have);
        if (got <= 0)
            return;
        have += (size_t)got;
        buf[have] = '\0';
        char *nl;
        while ((nl = memchr(buf, '\n', have)) != NULL) {
            *nl = '\0';
            snprintf(last, cap, "%s", buf);
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have);
        }
    }
}

/* The corpus runs in a child whose stderr goes to a file: a crash names the
 * input that caused it, and anything printed fails the test. */
static void test_corpus(void)
{
    char path[] = "/tmp/xb-test-fuzz-stderr-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    unlink(path);
    int pipefd[2];
    CU_ASSERT_FATAL(pipe(pipefd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        dup2(fd, 2);
        int ran = replay_corpus(XB_FUZZ_CORPUS, pipefd[1]);
        fflush(stderr);
        _exit(ran > 0 ? 0 : 3);
    }
    close(pipefd[1]);
    char last[4096];
    read_progress(pipefd[0], last, sizeof last);
    close(pipefd[0]);
    int status = 0;
    CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
    struct stat st;
    CU_ASSERT_EQUAL(fstat(fd, &st), 0);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!clean || st.st_size > 0) {
        char buf[2048];
        ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
        buf[got > 0 ? got : 0] = '\0';
        fprintf(stderr, "\n  %s (last input %s); its stderr:\n%s\n",
                clean ? "the corpus printed" : "the corpus run failed", last, buf);
    }
    CU_ASSERT(clean);
    CU_ASSERT_EQUAL(st.st_size, 0);
    close(fd);
}

static const xbt_test_t fuzz_tests[] = {
    {"corpus", test_corpus},
    {NULL, NULL},
};
XBT_SUITES({XB_FUZZ_TARGET, NULL, NULL, NULL, NULL, fuzz_tests});
