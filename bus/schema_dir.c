/* Where the stock schemas (envelope.xsd, system.xsd) are at run time
 * (docs/api.md, "Installing"): xb_schema_dir of include/xmlbus/xmlsafe.h.
 *
 * An installed tree may sit under any prefix, so the schemas are looked for
 * relative to the file that holds this code: libxmlbus.so in <prefix>/lib, or
 * a program linked with the static library in <prefix>/bin. The source tree's
 * schemas/ is used only by what runs from the build tree, so that an
 * installed program never depends on the sources. */
#include "xmlbus/xmlsafe.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set by CMakeLists.txt; the defaults suit a build without CMake. */
#ifndef XMLBUS_BUILD_DIR
#define XMLBUS_BUILD_DIR ""
#endif
#ifndef XMLBUS_BUILD_SCHEMA_DIR
#define XMLBUS_BUILD_SCHEMA_DIR ""
#endif
#ifndef XMLBUS_INSTALL_SCHEMA_DIR
#define XMLBUS_INSTALL_SCHEMA_DIR "/usr/local/share/xmlbus/schemas"
#endif
#ifndef XMLBUS_LIB_TO_SCHEMAS
#define XMLBUS_LIB_TO_SCHEMAS "../share/xmlbus/schemas"
#endif
#ifndef XMLBUS_BIN_TO_SCHEMAS
#define XMLBUS_BIN_TO_SCHEMAS "../share/xmlbus/schemas"
#endif

/* Found once per process: the files do not move while it runs. */
static pthread_once_t found_once = PTHREAD_ONCE_INIT;
static char found[PATH_MAX];

static bool is_dir(const char *path)
{
    struct stat st;
    return path[0] && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The folder of the shared library or executable that holds this code,
 * symbolic links resolved, into out (PATH_MAX bytes); false when unknown. */
static bool own_dir(char *out)
{
    char file[PATH_MAX] = "";
    Dl_info info;
    /* dladdr names the main program by its argv[0], which may be a bare
     * name or relative to another folder: /proc/self/exe is exact then. */
    if (dladdr((void *)xb_schema_dir, &info) && info.dli_fname && strchr(info.dli_fname, '/'))
        snprintf(file, sizeof file, "%s", info.dli_fname);
    char resolved[PATH_MAX];
    if (!file[0] || !realpath(file, resolved)) {
        ssize_t n = readlink("/proc/self/exe", resolved, sizeof resolved - 1);
        if (n <= 0)
            return false;
        resolved[n] = '\0';
    }
    char *slash = strrchr(resolved, '/');
    if (!slash)
        return false;
    *slash = '\0';
    snprintf(out, PATH_MAX, "%s", resolved[0] ? resolved : "/");
    return true;
}

/* True if dir is the build tree or inside it. */
static bool in_build_tree(const char *dir)
{
    char build[PATH_MAX];
    if (!XMLBUS_BUILD_DIR[0] || !realpath(XMLBUS_BUILD_DIR, build))
        return false;
    size_t n = strlen(build);
    return strncmp(dir, build, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

/* dir + "/" + rel into found if that is a folder. */
static bool try_relative(const char *dir, const char *rel)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (n <= 0 || (size_t)n >= sizeof path || !is_dir(path) || !realpath(path, found))
        return false;
    return true;
}

static void find_schema_dir(void)
{
    char dir[PATH_MAX];
    bool known = own_dir(dir);
    if (known && in_build_tree(dir) && is_dir(XMLBUS_BUILD_SCHEMA_DIR)) {
        snprintf(found, sizeof found, "%s", XMLBUS_BUILD_SCHEMA_DIR);
        return;
    }
    if (known &&
        (try_relative(dir, XMLBUS_LIB_TO_SCHEMAS) || try_relative(dir, XMLBUS_BIN_TO_SCHEMAS)))
        return;
    snprintf(found, sizeof found, "%s", XMLBUS_INSTALL_SCHEMA_DIR);
}

const char *xb_schema_dir(void)
{
    const char *env = getenv("XMLBUS_SCHEMA_DIR");
    if (env && env[0])
        return env;
    pthread_once(&found_once, find_schema_dir);
    return found;
}
