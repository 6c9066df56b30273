#include "dd_console.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_fs.h"

#ifndef DD_CONSOLE_DIR_DEFAULT
#define DD_CONSOLE_DIR_DEFAULT "console"
#endif

#define PREFIX "/console"
#define PREFIX_LEN (sizeof(PREFIX) - 1)
/* Longest path below the console folder that is looked at. */
#define REL_MAX 256

typedef struct content_type {
    const char *ext;
    const char *type;
} content_type_t;

/* Only what the console ships; anything else is served as bytes, never sniffed. */
static const content_type_t TYPES[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/plain; charset=utf-8"},
};

dd_console_status_t dd_console_dir(const char *option, char *out, size_t len)
{
    const char *env = getenv("DDLOCAL_CONSOLE_DIR");
    const char *dir = DD_CONSOLE_DIR_DEFAULT;
    size_t n;

    if (out == NULL || len == 0) {
        return DD_CONSOLE_BAD_PARAMETER;
    }
    if (option != NULL && option[0] != '\0') {
        dir = option;
    } else if (env != NULL && env[0] != '\0') {
        dir = env;
    }
    n = strlen(dir);
    /* A trailing slash would double up when file names are appended. */
    while (n > 1 && dir[n - 1] == '/') {
        n--;
    }
    if (n >= len) {
        out[0] = '\0';
        return DD_CONSOLE_TOO_LONG;
    }
    memcpy(out, dir, n);
    out[n] = '\0';
    return DD_CONSOLE_OK;
}

int dd_console_is_target(const char *uri)
{
    return uri != NULL && strncmp(uri, PREFIX, PREFIX_LEN) == 0 &&
           (uri[PREFIX_LEN] == '\0' || uri[PREFIX_LEN] == '/' || uri[PREFIX_LEN] == '?');
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/*
 * "a/b.js" is a safe relative path when every segment is non-empty, made of
 * name characters and does not start with a dot: that rules out "..", hidden
 * files and anything percent-encoded (which the console never links to).
 */
static bool safe_relative(const char *rel, size_t len)
{
    size_t i;
    bool segment_start = true;

    if (len == 0 || len > REL_MAX) {
        return false;
    }
    for (i = 0; i < len; i++) {
        char c = rel[i];
        if (c == '/') {
            if (segment_start) {
                return false;
            }
            segment_start = true;
            continue;
        }
        if (!name_char(c) || (segment_start && c == '.')) {
            return false;
        }
        segment_start = false;
    }
    return !segment_start;
}

static const char *type_of(const char *rel)
{
    const char *dot = strrchr(rel, '.');
    size_t i;

    for (i = 0; dot != NULL && i < sizeof(TYPES) / sizeof(TYPES[0]); i++) {
        if (strcmp(dot, TYPES[i].ext) == 0) {
            return TYPES[i].type;
        }
    }
    return "application/octet-stream";
}

static dd_console_status_t answer_text(dd_console_file_t *out, int status, const char *text)
{
    out->status = status;
    out->content_type = "text/plain; charset=utf-8";
    out->body = strdup(text);
    out->len = out->body != NULL ? strlen(text) : 0;
    return out->body != NULL ? DD_CONSOLE_OK : DD_CONSOLE_NO_MEMORY;
}

dd_console_status_t dd_console_get(const char *dir, const char *method, const char *uri,
                                   dd_console_file_t *out)
{
    char rel[REL_MAX + 1];
    char path[DD_CONSOLE_DIR_MAX + REL_MAX + 2];
    size_t len;
    dd_fs_status_t fs;
    int n;

    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (dir == NULL || method == NULL || out == NULL || !dd_console_is_target(uri)) {
        return DD_CONSOLE_BAD_PARAMETER;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return answer_text(out, 405, "The console's files are read with GET\n");
    }
    uri += PREFIX_LEN;
    len = strcspn(uri, "?");
    if (len == 0) {
        /* "/console" alone: relative links in index.html need the slash. */
        out->location = PREFIX "/";
        return answer_text(out, 301, "The console is at " PREFIX "/\n");
    }
    uri++; /* the slash */
    len--;
    if (len == 0) {
        (void)snprintf(rel, sizeof(rel), "index.html");
    } else if (!safe_relative(uri, len)) {
        return answer_text(out, 404, "No such console file\n");
    } else {
        memcpy(rel, uri, len);
        rel[len] = '\0';
    }
    n = snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return answer_text(out, 404, "No such console file\n");
    }
    fs = dd_fs_read_file(path, DD_CONSOLE_MAX_FILE, &out->body, &out->len);
    if (fs == DD_FS_NO_MEMORY) {
        return DD_CONSOLE_NO_MEMORY;
    }
    if (fs != DD_FS_OK) {
        /* Folders, missing files and unreadable ones look the same from outside. */
        return answer_text(out, 404, "No such console file\n");
    }
    out->status = 200;
    out->content_type = type_of(rel);
    return DD_CONSOLE_OK;
}

void dd_console_file_free(dd_console_file_t *file)
{
    if (file != NULL) {
        free(file->body);
        file->body = NULL;
        file->len = 0;
    }
}

const char *dd_console_strerror(dd_console_status_t status)
{
    switch (status) {
    case DD_CONSOLE_OK: return "ok";
    case DD_CONSOLE_BAD_PARAMETER: return "bad parameter";
    case DD_CONSOLE_TOO_LONG: return "path too long";
    case DD_CONSOLE_NO_MEMORY: return "out of memory";
    }
    return "unknown console status";
}
