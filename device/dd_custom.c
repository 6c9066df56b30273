/*
 * dd_custom: custom metric sources (files and shell commands) and the
 * parsing of their text into report values. See dd_custom.h.
 */
#define _GNU_SOURCE /* pipe2 */
#include "dd_custom.h"
#include "dd_clock.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dd_fs.h"
#include "dd_log.h"
#include "dd_names.h"

extern char **environ;

static const struct {
    const char *name;
    dd_custom_kind_t kind;
} KINDS[] = {
    {"number", DD_CUSTOM_NUMBER},
    {"number-list", DD_CUSTOM_NUMBER_LIST},
    {"string-list", DD_CUSTOM_STRING_LIST},
    {"ip-address-list", DD_CUSTOM_IP_LIST},
};

bool dd_custom_kind_parse(const char *text, dd_custom_kind_t *kind)
{
    size_t i;

    if (text == NULL || kind == NULL) {
        return false;
    }
    for (i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++) {
        if (strcmp(text, KINDS[i].name) == 0) {
            *kind = KINDS[i].kind;
            return true;
        }
    }
    return false;
}

const char *dd_custom_kind_name(dd_custom_kind_t kind)
{
    size_t i;

    for (i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++) {
        if (KINDS[i].kind == kind) {
            return KINDS[i].name;
        }
    }
    return "unknown";
}

static dd_custom_status_t check_name(const char *name, char *msg, size_t msg_len)
{
    if (!dd_name_valid(DD_NAME_CUSTOM_METRIC, name) || strlen(name) > DD_REPORT_METRIC_NAME_MAX) {
        dd_log_format_msg(msg, msg_len, "custom metric name '%s' is not valid (%s)", name,
                          dd_name_pattern(DD_NAME_CUSTOM_METRIC));
        return DD_CUSTOM_INVALID;
    }
    return DD_CUSTOM_OK;
}

dd_custom_status_t dd_custom_parse_spec(const char *spec, dd_custom_source_t *out, char *msg,
                                        size_t msg_len)
{
    const char *c1;
    const char *c2;
    const char *c3;
    char type[32];
    size_t n;
    dd_custom_status_t st;

    if (spec == NULL || out == NULL) {
        return DD_CUSTOM_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    c1 = strchr(spec, ':');
    c2 = c1 == NULL ? NULL : strchr(c1 + 1, ':');
    c3 = c2 == NULL ? NULL : strchr(c2 + 1, ':');
    if (c3 == NULL || c3[1] == '\0') {
        dd_log_format_msg(msg, msg_len,
                          "custom metric '%s': expected NAME:TYPE:file:PATH or "
                          "NAME:TYPE:command:COMMAND",
                          spec);
        return DD_CUSTOM_INVALID;
    }
    n = (size_t)(c1 - spec);
    if (n == 0 || n > DD_REPORT_METRIC_NAME_MAX) {
        dd_log_format_msg(msg, msg_len, "custom metric '%s': name must be 1..%d characters", spec,
                          DD_REPORT_METRIC_NAME_MAX);
        return DD_CUSTOM_INVALID;
    }
    memcpy(out->name, spec, n);
    out->name[n] = '\0';
    st = check_name(out->name, msg, msg_len);
    if (st != DD_CUSTOM_OK) {
        return st;
    }
    n = (size_t)(c2 - c1 - 1);
    if (n >= sizeof(type)) {
        n = sizeof(type) - 1;
    }
    memcpy(type, c1 + 1, n);
    type[n] = '\0';
    if (!dd_custom_kind_parse(type, &out->kind)) {
        dd_log_format_msg(msg, msg_len,
                          "custom metric '%s': type '%s' is not number, number-list, "
                          "string-list or ip-address-list",
                          out->name, type);
        return DD_CUSTOM_INVALID;
    }
    n = (size_t)(c3 - c2 - 1);
    if (n == 4 && strncmp(c2 + 1, "file", 4) == 0) {
        out->origin = DD_CUSTOM_FROM_FILE;
    } else if (n == 7 && strncmp(c2 + 1, "command", 7) == 0) {
        out->origin = DD_CUSTOM_FROM_COMMAND;
    } else {
        dd_log_format_msg(msg, msg_len, "custom metric '%s': source must be 'file' or 'command'",
                          out->name);
        return DD_CUSTOM_INVALID;
    }
    out->target = strdup(c3 + 1);
    return out->target == NULL ? DD_CUSTOM_NO_MEMORY : DD_CUSTOM_OK;
}

dd_custom_status_t dd_custom_append(dd_custom_source_t **sources, size_t *count,
                                    const dd_custom_source_t *src)
{
    dd_custom_source_t *grown;

    if (sources == NULL || count == NULL || src == NULL) {
        return DD_CUSTOM_BAD_PARAMETER;
    }
    grown = realloc(*sources, (*count + 1) * sizeof(*grown));
    if (grown == NULL) {
        return DD_CUSTOM_NO_MEMORY;
    }
    grown[*count] = *src;
    *sources = grown;
    (*count)++;
    return DD_CUSTOM_OK;
}

void dd_custom_sources_free(dd_custom_source_t *sources, size_t count)
{
    size_t i;

    if (sources == NULL) {
        return;
    }
    for (i = 0; i < count; i++) {
        free(sources[i].target);
    }
    free(sources);
}

dd_custom_status_t dd_custom_load_config(const char *path, dd_custom_source_t **sources,
                                         size_t *count, char *msg, size_t msg_len)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *root;
    const cJSON *item;
    int index = 0;
    dd_custom_status_t st = DD_CUSTOM_OK;

    if (path == NULL || sources == NULL || count == NULL) {
        return DD_CUSTOM_BAD_PARAMETER;
    }
    if (dd_fs_read_file(path, 1024 * 1024, &text, &len) != DD_FS_OK) {
        dd_log_format_msg(msg, msg_len, "cannot read %s: %s", path, strerror(errno));
        return DD_CUSTOM_IO_ERROR;
    }
    root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsArray(root)) {
        dd_log_format_msg(msg, msg_len,
                          "%s: expected a JSON array of {\"name\",\"type\",\"file\"|\"command\"}",
                          path);
        cJSON_Delete(root);
        return DD_CUSTOM_INVALID;
    }
    cJSON_ArrayForEach (item, root) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(item, "file");
        const cJSON *command = cJSON_GetObjectItemCaseSensitive(item, "command");
        dd_custom_source_t src;

        memset(&src, 0, sizeof(src));
        if (!cJSON_IsString(name) || !cJSON_IsString(type) ||
            cJSON_IsString(file) == cJSON_IsString(command)) {
            dd_log_format_msg(msg, msg_len,
                              "%s[%d]: needs string \"name\", \"type\" and one of \"file\" "
                              "or \"command\"",
                              path, index);
            st = DD_CUSTOM_INVALID;
            break;
        }
        if (strlen(name->valuestring) > DD_REPORT_METRIC_NAME_MAX) {
            dd_log_format_msg(msg, msg_len, "%s[%d]: name too long", path, index);
            st = DD_CUSTOM_INVALID;
            break;
        }
        (void)snprintf(src.name, sizeof(src.name), "%s", name->valuestring);
        st = check_name(src.name, msg, msg_len);
        if (st != DD_CUSTOM_OK) {
            break;
        }
        if (!dd_custom_kind_parse(type->valuestring, &src.kind)) {
            dd_log_format_msg(msg, msg_len,
                              "%s[%d]: type '%s' is not number, number-list, string-list or "
                              "ip-address-list",
                              path, index, type->valuestring);
            st = DD_CUSTOM_INVALID;
            break;
        }
        src.origin = cJSON_IsString(file) ? DD_CUSTOM_FROM_FILE : DD_CUSTOM_FROM_COMMAND;
        src.target = strdup(cJSON_IsString(file) ? file->valuestring : command->valuestring);
        if (src.target == NULL) {
            st = DD_CUSTOM_NO_MEMORY;
            break;
        }
        st = dd_custom_append(sources, count, &src);
        if (st != DD_CUSTOM_OK) {
            free(src.target);
            break;
        }
        index++;
    }
    cJSON_Delete(root);
    return st;
}

void dd_custom_value_free(dd_report_custom_t *value)
{
    size_t i;

    if (value == NULL) {
        return;
    }
    free(value->numbers);
    if (value->strings != NULL) {
        for (i = 0; i < value->count; i++) {
            free(value->strings[i]);
        }
    }
    free(value->strings);
    free(value->ips);
    memset(value, 0, sizeof(*value));
}

static bool is_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '\v' || c == '\f';
}

/* Splits @p text in place into tokens; returns how many (pointers in *tokens, malloc'd). */
static size_t tokenize(char *text, char ***tokens)
{
    size_t n = 0;
    size_t cap = 0;
    char **list = NULL;
    char *p = text;

    *tokens = NULL;
    while (*p != '\0') {
        while (*p != '\0' && is_sep(*p)) {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        if (n == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            char **grown = realloc(list, ncap * sizeof(*grown));

            if (grown == NULL) {
                free(list);
                return (size_t)-1;
            }
            list = grown;
            cap = ncap;
        }
        list[n++] = p;
        while (*p != '\0' && !is_sep(*p)) {
            p++;
        }
        if (*p != '\0') {
            *p++ = '\0';
        }
    }
    *tokens = list;
    return n;
}

static bool parse_number(const char *tok, double *out)
{
    char *end = NULL;

    errno = 0;
    *out = strtod(tok, &end);
    return end != tok && *end == '\0' && errno != ERANGE && isfinite(*out);
}

dd_custom_status_t dd_custom_parse_value(const char *name, dd_custom_kind_t kind, const char *text,
                                         dd_report_custom_t *out, char *msg, size_t msg_len)
{
    char *copy;
    char **tok = NULL;
    size_t n;
    size_t i;
    dd_custom_status_t st = DD_CUSTOM_OK;

    if (name == NULL || text == NULL || out == NULL) {
        return DD_CUSTOM_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    (void)snprintf(out->name, sizeof(out->name), "%s", name);
    out->kind = kind;
    copy = strdup(text);
    if (copy == NULL) {
        return DD_CUSTOM_NO_MEMORY;
    }
    n = tokenize(copy, &tok);
    if (n == (size_t)-1) {
        free(copy);
        return DD_CUSTOM_NO_MEMORY;
    }
    switch (kind) {
    case DD_CUSTOM_NUMBER:
        if (n == 0 || !parse_number(tok[0], &out->number)) {
            dd_log_format_msg(msg, msg_len, "%s: '%.40s' is not a number", name,
                              n == 0 ? "" : tok[0]);
            st = DD_CUSTOM_INVALID;
        }
        break;
    case DD_CUSTOM_NUMBER_LIST:
        out->numbers = calloc(n == 0 ? 1 : n, sizeof(double));
        if (out->numbers == NULL) {
            st = DD_CUSTOM_NO_MEMORY;
            break;
        }
        for (i = 0; i < n && st == DD_CUSTOM_OK; i++) {
            if (!parse_number(tok[i], &out->numbers[i])) {
                dd_log_format_msg(msg, msg_len, "%s: '%.40s' is not a number", name, tok[i]);
                st = DD_CUSTOM_INVALID;
            }
        }
        out->count = n;
        break;
    case DD_CUSTOM_STRING_LIST:
        out->strings = calloc(n == 0 ? 1 : n, sizeof(char *));
        if (out->strings == NULL) {
            st = DD_CUSTOM_NO_MEMORY;
            break;
        }
        out->count = n;
        for (i = 0; i < n && st == DD_CUSTOM_OK; i++) {
            out->strings[i] = strdup(tok[i]);
            if (out->strings[i] == NULL) {
                st = DD_CUSTOM_NO_MEMORY;
            }
        }
        break;
    case DD_CUSTOM_IP_LIST:
        out->ips = calloc(n == 0 ? 1 : n, sizeof(dd_ip_t));
        if (out->ips == NULL) {
            st = DD_CUSTOM_NO_MEMORY;
            break;
        }
        out->count = n;
        for (i = 0; i < n && st == DD_CUSTOM_OK; i++) {
            if (dd_ip_parse(tok[i], strlen(tok[i]), &out->ips[i]) != DD_IP_OK) {
                dd_log_format_msg(msg, msg_len, "%s: '%.60s' is not an IPv4 or IPv6 address", name,
                                  tok[i]);
                st = DD_CUSTOM_INVALID;
            }
        }
        break;
    default:
        dd_log_format_msg(msg, msg_len, "%s: unknown metric type", name);
        st = DD_CUSTOM_INVALID;
        break;
    }
    free(tok);
    free(copy);
    if (st != DD_CUSTOM_OK) {
        dd_custom_value_free(out);
    }
    return st;
}

/* Runs /bin/sh -c @p cmd; *out gets up to DD_CUSTOM_OUTPUT_MAX bytes of stdout. */
static dd_custom_status_t run_command(const char *cmd, int timeout_ms, char **out, char *msg,
                                      size_t msg_len)
{
    int fds[2];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char *argv[4];
    pid_t pid;
    char *buf;
    size_t used = 0;
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    dd_custom_status_t st = DD_CUSTOM_OK;
    int status = 0;
    int rc;

    *out = NULL;
    buf = malloc(DD_CUSTOM_OUTPUT_MAX + 1);
    if (buf == NULL) {
        return DD_CUSTOM_NO_MEMORY;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        free(buf);
        dd_log_format_msg(msg, msg_len, "pipe: %s", strerror(errno));
        return DD_CUSTOM_IO_ERROR;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawnattr_init(&attr);
    /* Its own process group, so a timeout kills the command's children too. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    argv[0] = (char *)"sh";
    argv[1] = (char *)"-c";
    argv[2] = (char *)cmd;
    argv[3] = NULL;
    rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        free(buf);
        dd_log_format_msg(msg, msg_len, "cannot run /bin/sh: %s", strerror(rc));
        return DD_CUSTOM_IO_ERROR;
    }
    for (;;) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int64_t left = deadline - dd_clock_mono_ms();
        ssize_t r;
        char sink[4096];

        if (left <= 0) {
            st = DD_CUSTOM_TIMEOUT;
            break;
        }
        rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            st = rc == 0 ? DD_CUSTOM_TIMEOUT : DD_CUSTOM_IO_ERROR;
            break;
        }
        if (used < DD_CUSTOM_OUTPUT_MAX) {
            r = read(fds[0], buf + used, DD_CUSTOM_OUTPUT_MAX - used);
        } else {
            r = read(fds[0], sink, sizeof(sink));
            if (r > 0) {
                continue;
            }
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        used += (size_t)r;
    }
    close(fds[0]);
    if (st == DD_CUSTOM_TIMEOUT) {
        (void)kill(-pid, SIGKILL);
        (void)kill(pid, SIGKILL);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (st == DD_CUSTOM_TIMEOUT) {
        dd_log_format_msg(msg, msg_len, "command timed out after %d ms", timeout_ms);
    } else if (st == DD_CUSTOM_OK && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        dd_log_format_msg(msg, msg_len, "command failed (%s %d)",
                          WIFEXITED(status) ? "exit status" : "signal",
                          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        st = DD_CUSTOM_IO_ERROR;
    }
    if (st != DD_CUSTOM_OK) {
        free(buf);
        return st;
    }
    buf[used] = '\0';
    *out = buf;
    return DD_CUSTOM_OK;
}

dd_custom_status_t dd_custom_read(const dd_custom_source_t *src, int timeout_ms,
                                  dd_report_custom_t *out, char *msg, size_t msg_len)
{
    char *text = NULL;
    dd_custom_status_t st;

    if (src == NULL || src->target == NULL || out == NULL) {
        return DD_CUSTOM_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    if (src->origin == DD_CUSTOM_FROM_FILE) {
        dd_fs_status_t fs = dd_fs_read_file(src->target, DD_CUSTOM_OUTPUT_MAX, &text, NULL);

        if (fs != DD_FS_OK) {
            dd_log_format_msg(msg, msg_len, "%s: cannot read %s: %s", src->name, src->target,
                              fs == DD_FS_IO_ERROR ? strerror(errno) : dd_fs_strerror(fs));
            return fs == DD_FS_NO_MEMORY ? DD_CUSTOM_NO_MEMORY : DD_CUSTOM_IO_ERROR;
        }
    } else {
        st = run_command(src->target, timeout_ms > 0 ? timeout_ms : DD_CUSTOM_TIMEOUT_MS, &text,
                         msg, msg_len);
        if (st != DD_CUSTOM_OK) {
            return st;
        }
    }
    st = dd_custom_parse_value(src->name, src->kind, text, out, msg, msg_len);
    free(text);
    return st;
}

const char *dd_custom_strerror(dd_custom_status_t status)
{
    switch (status) {
    case DD_CUSTOM_OK: return "ok";
    case DD_CUSTOM_BAD_PARAMETER: return "bad parameter";
    case DD_CUSTOM_INVALID: return "invalid custom metric configuration or value";
    case DD_CUSTOM_IO_ERROR: return "custom metric source failed";
    case DD_CUSTOM_TIMEOUT: return "custom metric command timed out";
    case DD_CUSTOM_NO_MEMORY: return "out of memory";
    }
    return "unknown status";
}
