/**
 * @file dd_console.h
 * @brief The local console's static files (console/ of the source tree):
 *        where they are, and which file (with which content type) answers
 *        a GET under /console/.
 *
 * The console is an API client running in the browser; ddlocald only hands
 * out its files, on the API port and so on the API's (loopback) address.
 * This module knows nothing about HTTP servers: dd_console_get() maps a
 * request target to a status, a content type and the file's bytes, and
 * dd_api.c turns that into a libmicrohttpd response.
 *
 * Only plain names ([A-Za-z0-9._-] segments, none starting with a dot) under
 * the console folder are served: no "..", no hidden files, no symbolic
 * names of other folders, so a request cannot read outside the folder.
 *
 * Ownership: dd_console_get() fills a caller-owned dd_console_file_t whose
 * body is malloc'd; dd_console_file_free() releases it. No state is kept;
 * every function may be called from any thread.
 */
#ifndef DD_CONSOLE_H_
#define DD_CONSOLE_H_

#include <stddef.h>

/** Status codes of this module. */
typedef enum dd_console_status {
    DD_CONSOLE_OK = 0,
    DD_CONSOLE_BAD_PARAMETER, /**< NULL pointer, or a target outside /console. */
    DD_CONSOLE_TOO_LONG,      /**< A path does not fit the caller's buffer. */
    DD_CONSOLE_NO_MEMORY
} dd_console_status_t;

/** Largest console file served (the chart library is the biggest, ~50 KiB). */
#define DD_CONSOLE_MAX_FILE (4u * 1024u * 1024u)
/** Room for a console folder path. */
#define DD_CONSOLE_DIR_MAX 512

/** What answers one request. */
typedef struct dd_console_file {
    int status;               /**< 200, 301 (to "/console/"), 404 or 405. */
    const char *content_type; /**< Static text. */
    const char *location;     /**< For 301: static "/console/"; NULL otherwise. */
    char *body;               /**< malloc'd bytes (a short text for errors). */
    size_t len;
} dd_console_file_t;

/**
 * @brief The console folder: @p option when given (ddlocald --console-dir),
 *        else $DDLOCAL_CONSOLE_DIR, else the source tree's console/
 *        compiled in (DD_CONSOLE_DIR_DEFAULT). The one place that decides.
 * @param[in] option "" or NULL for none.
 * @param[out] out The folder, without a trailing slash.
 * @param[in] len Size of @p out.
 * @return DD_CONSOLE_OK, DD_CONSOLE_BAD_PARAMETER or DD_CONSOLE_TOO_LONG.
 */
dd_console_status_t dd_console_dir(const char *option, char *out, size_t len);

/**
 * @brief Answers a request under /console.
 * @param[in] dir Console folder (dd_console_dir()).
 * @param[in] method HTTP method: GET and HEAD are served, others get 405.
 * @param[in] uri Request target, "/console" or "/console/..." with an
 *                optional "?query" (ignored).
 * @param[out] out The answer; release with dd_console_file_free().
 * @return DD_CONSOLE_OK (whatever the HTTP status), DD_CONSOLE_BAD_PARAMETER
 *         (not a /console target) or DD_CONSOLE_NO_MEMORY.
 */
dd_console_status_t dd_console_get(const char *dir, const char *method, const char *uri,
                                   dd_console_file_t *out);

/**
 * @brief Whether @p uri is a console target ("/console", "/console/...",
 *        "/console?...").
 */
int dd_console_is_target(const char *uri);

/** @brief Frees the body; safe on a zeroed file. */
void dd_console_file_free(dd_console_file_t *file);

/** @return Static text for @p status. */
const char *dd_console_strerror(dd_console_status_t status);

#endif /* DD_CONSOLE_H_ */
