#include "dd_paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Compiled in by cli/CMakeLists.txt; the fallbacks keep a stray compile working. */
#ifndef DD_BUILD_BINDIR
#define DD_BUILD_BINDIR ""
#endif
#ifndef DD_DDLOCALD_PATH
#define DD_DDLOCALD_PATH "ddlocald"
#endif
#ifndef DD_SHIM_PATH
#define DD_SHIM_PATH "ddlocal_shim.so"
#endif
#ifndef DD_AGENT_PATH
#define DD_AGENT_PATH "ddlocal-agent"
#endif
#ifndef DD_SENSOR_PATH
#define DD_SENSOR_PATH "ddlocal-sensor"
#endif
#ifndef DD_FIXTURES_DIR
#define DD_FIXTURES_DIR "fixtures"
#endif
#ifndef DD_LAMBDA_RUNNER_PATH
#define DD_LAMBDA_RUNNER_PATH "lambda/ddlocal_lambda_runner.py"
#endif
#ifndef DD_CONSOLE_DIR
#define DD_CONSOLE_DIR "console"
#endif
#ifndef DD_INSTALL_BINDIR_TO_PREFIX
#define DD_INSTALL_BINDIR_TO_PREFIX ".."
#endif
#ifndef DD_INSTALL_BINDIR
#define DD_INSTALL_BINDIR "bin"
#endif
#ifndef DD_INSTALL_PLUGINDIR
#define DD_INSTALL_PLUGINDIR "lib/ddlocal"
#endif
#ifndef DD_INSTALL_PKGDATADIR
#define DD_INSTALL_PKGDATADIR "share/ddlocal"
#endif

static const dd_paths_layout_t LAYOUT = {
    DD_BUILD_BINDIR,
    {DD_DDLOCALD_PATH, DD_SHIM_PATH, DD_AGENT_PATH, DD_SENSOR_PATH, DD_FIXTURES_DIR,
     DD_LAMBDA_RUNNER_PATH, DD_CONSOLE_DIR},
    DD_INSTALL_BINDIR_TO_PREFIX,
    {DD_INSTALL_BINDIR "/ddlocald", DD_INSTALL_PLUGINDIR "/ddlocal_shim.so",
     DD_INSTALL_BINDIR "/ddlocal-agent", DD_INSTALL_BINDIR "/ddlocal-sensor",
     DD_INSTALL_PKGDATADIR "/fixtures", DD_INSTALL_PKGDATADIR "/lambda/ddlocal_lambda_runner.py",
     DD_INSTALL_PKGDATADIR "/console"},
};

static const char *const ENV_NAMES[DD_PATHS_COUNT] = {
    "DDLOCAL_DDLOCALD", "DDLOCAL_SHIM",          "DDLOCAL_AGENT",       "DDLOCAL_SENSOR",
    "DDLOCAL_FIXTURES", "DDLOCAL_LAMBDA_RUNNER", "DDLOCAL_CONSOLE_DIR",
};

const dd_paths_layout_t *dd_paths_layout_default(void)
{
    return &LAYOUT;
}

/* PREFIX from the program's directory and the relative way up ("..", "../.."), textually. */
static bool prefix_of(const char *dir, size_t dir_len, const char *up, char *out, size_t len)
{
    size_t n = dir_len;

    if (dir_len >= len) {
        return false;
    }
    memcpy(out, dir, dir_len);
    out[n] = '\0';
    while (*up != '\0') {
        size_t part = strcspn(up, "/");
        if (part == 2 && strncmp(up, "..", 2) == 0) {
            char *slash = strrchr(out, '/');
            if (slash == NULL) {
                return false;
            }
            *slash = '\0';
            n = (size_t)(slash - out);
        } else if (!(part == 0 || (part == 1 && up[0] == '.'))) {
            if (n + 1 + part >= len) {
                return false;
            }
            out[n++] = '/';
            memcpy(out + n, up, part);
            n += part;
            out[n] = '\0';
        }
        up += part;
        up += *up == '/' ? 1 : 0;
    }
    return true;
}

dd_paths_status_t dd_paths_resolve(const dd_paths_layout_t *layout, const char *exe,
                                   dd_paths_item_t item, char *out, size_t len, bool *installed)
{
    char prefix[4096];
    const char *slash;
    size_t dir_len;
    bool in_build;
    int n;

    if (layout == NULL || exe == NULL || exe[0] != '/' || out == NULL || len == 0 ||
        (int)item < 0 || item >= DD_PATHS_COUNT) {
        return DD_PATHS_BAD_PARAMETER;
    }
    slash = strrchr(exe, '/');
    dir_len = (size_t)(slash - exe);
    in_build = layout->build_bindir[0] != '\0' && strlen(layout->build_bindir) == dir_len &&
               strncmp(exe, layout->build_bindir, dir_len) == 0;
    if (installed != NULL) {
        *installed = !in_build;
    }
    if (in_build) {
        n = snprintf(out, len, "%s", layout->build[item]);
    } else {
        /* PREFIX/bin/ddlocal -> PREFIX/<relative path> */
        if (!prefix_of(exe, dir_len, layout->bindir_to_prefix, prefix, sizeof(prefix))) {
            return DD_PATHS_TOO_LONG;
        }
        n = snprintf(out, len, "%s/%s", prefix, layout->installed[item]);
    }
    return (n < 0 || (size_t)n >= len) ? DD_PATHS_TOO_LONG : DD_PATHS_OK;
}

const char *dd_paths_get(dd_paths_item_t item)
{
    static char resolved[DD_PATHS_COUNT][PATH_MAX];
    static bool done[DD_PATHS_COUNT];
    char exe[PATH_MAX];
    const char *env;
    ssize_t n;

    if ((int)item < 0 || item >= DD_PATHS_COUNT) {
        return "";
    }
    env = getenv(ENV_NAMES[item]);
    if (env != NULL && env[0] != '\0') {
        return env;
    }
    if (!done[item]) {
        /* The real file, links resolved: /usr/bin/ddlocal, or build/cli/ddlocal. */
        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0) {
            (void)snprintf(resolved[item], sizeof(resolved[item]), "%s", LAYOUT.build[item]);
        } else {
            exe[n] = '\0';
            if (dd_paths_resolve(&LAYOUT, exe, item, resolved[item], sizeof(resolved[item]),
                                 NULL) != DD_PATHS_OK) {
                (void)snprintf(resolved[item], sizeof(resolved[item]), "%s", LAYOUT.build[item]);
            }
        }
        done[item] = true;
    }
    return resolved[item];
}

const char *dd_paths_strerror(dd_paths_status_t status)
{
    switch (status) {
    case DD_PATHS_OK: return "ok";
    case DD_PATHS_BAD_PARAMETER: return "bad parameter";
    case DD_PATHS_TOO_LONG: return "path too long";
    }
    return "unknown paths status";
}
