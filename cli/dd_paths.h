/**
 * @file dd_paths.h
 * @brief Where `ddlocal` finds what it starts and reads: ddlocald, the broker plugin, the device
 *        programs, the fixtures and the Lambda runner - in the build tree or in an installation,
 *        found from the path of the running program (/proc/self/exe).
 *
 * Two layouts. In the build tree, `ddlocal` is build/cli/ddlocal and every other file has the
 * absolute path the build gave it (compiled in). Installed (`cmake --install`, the .deb), every
 * file lies at a fixed path relative to the installation prefix, which is found from the
 * program's own directory (PREFIX/bin): PREFIX/bin/ddlocald, PREFIX/lib/<multiarch>/ddlocal/
 * ddlocal_shim.so, PREFIX/share/ddlocal/fixtures, PREFIX/share/ddlocal/lambda/... - so an
 * installation can be moved (a DESTDIR staging dir, a tarball unpacked anywhere) and still finds
 * its parts. The build tree is recognised by the program's directory being the one it was built
 * in. Environment variables override each path (DDLOCAL_DDLOCALD, DDLOCAL_SHIM, DDLOCAL_AGENT,
 * DDLOCAL_SENSOR, DDLOCAL_FIXTURES, DDLOCAL_LAMBDA_RUNNER).
 *
 * dd_paths_get() resolves once per item and keeps the result in static storage for the life of
 * the process: not thread-safe on first use (call it from the main thread).
 */
#ifndef DD_PATHS_H_
#define DD_PATHS_H_

#include <stdbool.h>
#include <stddef.h>

/** Status codes of this module. */
typedef enum dd_paths_status {
    DD_PATHS_OK = 0,
    DD_PATHS_BAD_PARAMETER,
    DD_PATHS_TOO_LONG /**< The resulting path does not fit. */
} dd_paths_status_t;

/** What can be looked up. */
typedef enum dd_paths_item {
    DD_PATHS_DDLOCALD = 0,
    DD_PATHS_SHIM,
    DD_PATHS_AGENT,
    DD_PATHS_SENSOR,
    DD_PATHS_FIXTURES,      /**< A directory. */
    DD_PATHS_LAMBDA_RUNNER, /**< ddlocal_lambda_runner.py */
    DD_PATHS_CONSOLE,       /**< The console's files (a directory). */
    DD_PATHS_COUNT
} dd_paths_item_t;

/** The compiled-in description of both layouts (see dd_paths_layout_default()). */
typedef struct dd_paths_layout {
    const char *build_bindir;              /**< Directory the program was built in. */
    const char *build[DD_PATHS_COUNT];     /**< Absolute paths in the build tree. */
    const char *bindir_to_prefix;          /**< From PREFIX/bin back to PREFIX: "..". */
    const char *installed[DD_PATHS_COUNT]; /**< Relative to PREFIX. */
} dd_paths_layout_t;

/** @return The layout compiled into this program. */
const dd_paths_layout_t *dd_paths_layout_default(void);

/**
 * @brief Resolves @p item for a program at @p exe (an absolute path) with @p layout; no
 *        environment, no file system access.
 * @param[out] out Buffer of @p len bytes.
 * @param[out] installed Optional: true when @p exe is not in its build directory.
 * @return DD_PATHS_OK, DD_PATHS_TOO_LONG or DD_PATHS_BAD_PARAMETER.
 */
dd_paths_status_t dd_paths_resolve(const dd_paths_layout_t *layout, const char *exe,
                                   dd_paths_item_t item, char *out, size_t len, bool *installed);

/**
 * @brief The path of @p item for this process: its environment override, else resolved from
 *        /proc/self/exe with the compiled-in layout (the build tree's path if that fails).
 * @return A static string; never NULL ("" for a bad @p item).
 */
const char *dd_paths_get(dd_paths_item_t item);

/** @return Static text for @p status. */
const char *dd_paths_strerror(dd_paths_status_t status);

#endif /* DD_PATHS_H_ */
