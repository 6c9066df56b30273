#define _GNU_SOURCE /* pipe2 */

#include "dd_lambdarun.h"

#include "dd_clock.h"
#include "dd_fs.h"
#include "dd_log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The verdict the runner writes on fd 3 is short; more is cut. */
#define VERDICT_MAX 4096
#define ENV_MAX 64

typedef struct envlist {
    char *items[ENV_MAX + 1];
    int n;
    bool oom;
} envlist_t;

static void env_add(envlist_t *e, const char *key, const char *value)
{
    char *item;
    size_t len;

    if (e->n >= ENV_MAX) {
        e->oom = true;
        return;
    }
    len = strlen(key) + strlen(value) + 2;
    item = malloc(len);
    if (item == NULL) {
        e->oom = true;
        return;
    }
    (void)snprintf(item, len, "%s=%s", key, value);
    e->items[e->n++] = item;
    e->items[e->n] = NULL;
}

static void env_free(envlist_t *e)
{
    int i;

    for (i = 0; i < e->n; i++) {
        free(e->items[i]);
    }
    e->n = 0;
}

/* The environment Lambda's Python runtime gives a function, pointed at ddlocald. */
static bool build_env(const dd_lambdarun_request_t *req, envlist_t *e)
{
    cJSON *vars = cJSON_Parse(req->env_json);
    const cJSON *v;
    char dir[1024];
    char handler[300];
    char group[128];
    const char *slash;
    const char *base;
    size_t dlen;

    if (!cJSON_IsObject(vars)) {
        cJSON_Delete(vars);
        return false;
    }
    memset(e, 0, sizeof(*e));
    env_add(e, "PATH", "/usr/local/bin:/usr/bin:/bin");
    env_add(e, "LANG", "C.UTF-8");
    env_add(e, "TZ", ":UTC");
    /* The handler's own folder must stay as it is: no __pycache__ beside it. */
    env_add(e, "PYTHONDONTWRITEBYTECODE", "1");
    cJSON_ArrayForEach (v, vars) {
        if (cJSON_IsString(v) && v->string != NULL) {
            env_add(e, v->string, v->valuestring);
        }
    }
    cJSON_Delete(vars);
    slash = strrchr(req->handler_file, '/');
    base = slash != NULL ? slash + 1 : req->handler_file;
    dlen = slash != NULL ? (size_t)(slash - req->handler_file) : 0;
    (void)snprintf(dir, sizeof(dir), "%.*s", (int)(dlen > 0 ? dlen : 1),
                   dlen > 0 ? req->handler_file : "/");
    (void)snprintf(handler, sizeof(handler), "%.*s.%s", (int)(strlen(base) - 3), base,
                   req->handler_function);
    (void)snprintf(group, sizeof(group), "/aws/lambda/%s", req->function_name);
    env_add(e, "_HANDLER", handler);
    env_add(e, "LAMBDA_TASK_ROOT", dir);
    env_add(e, "AWS_EXECUTION_ENV", "AWS_Lambda_python3_ddlocal");
    env_add(e, "AWS_REGION", req->region);
    env_add(e, "AWS_DEFAULT_REGION", req->region);
    env_add(e, "AWS_LAMBDA_FUNCTION_NAME", req->function_name);
    env_add(e, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    env_add(e, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    env_add(e, "AWS_LAMBDA_LOG_GROUP_NAME", group);
    env_add(e, "AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
    /* Dummy credentials: ddlocald checks signatures' shape, not their keys. */
    env_add(e, "AWS_ACCESS_KEY_ID", "ASIADDLOCALLAMBDA000");
    env_add(e, "AWS_SECRET_ACCESS_KEY", "ddlocal-lambda-secret");
    env_add(e, "AWS_SESSION_TOKEN", "ddlocal-lambda-session");
    env_add(e, "AWS_ENDPOINT_URL", req->endpoint_url);
    env_add(e, "AWS_ENDPOINT_URL_IOT", req->endpoint_url);
    return !e->oom;
}

static void set_error(char *error, size_t error_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *error, size_t error_len, const char *fmt, ...)
{
    va_list ap;

    if (error != NULL && error_len > 0) {
        va_start(ap, fmt);
        (void)vsnprintf(error, error_len, fmt, ap);
        va_end(ap);
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        (void)close(*fd);
        *fd = -1;
    }
}

/* @p len >= 64: room for any year gmtime_r gives. */
static void iso_ms(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;

    (void)gmtime_r(&secs, &tm);
    (void)snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/*
 * Appends a line to the log from here (the child may be gone), stamped as the
 * runner stamps its lines: real time, and pipeline time unless the clock is real.
 */
static void log_line(int fd, const char *clock_spec, const char *text)
{
    dd_clock_t clock;
    char real[64];
    char pipeline[64];
    char line[512];
    int n;

    iso_ms(dd_clock_wall_ms(), real, sizeof(real));
    if (clock_spec != NULL && clock_spec[0] != '\0' &&
        dd_clock_parse(&clock, clock_spec) == DD_CLOCK_OK && clock.mode != DD_CLOCK_REAL) {
        iso_ms(dd_clock_now_ms(&clock), pipeline, sizeof(pipeline));
        n = snprintf(line, sizeof(line), "%s [pipeline %s] %s\n", real, pipeline, text);
    } else {
        n = snprintf(line, sizeof(line), "%s %s\n", real, text);
    }
    if (n > 0) {
        (void)!write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
}

/* Writes the event and collects the verdict until EOF on fd 3 or the deadline. */
static bool exchange_loop(int *in_fd, int verdict_fd, const char *event, char *verdict,
                          size_t *vlen, int64_t deadline)
{
    size_t off = 0;
    size_t len = strlen(event);

    (void)fcntl(*in_fd, F_SETFL, O_NONBLOCK);
    for (;;) {
        struct pollfd p[2];
        int64_t left = deadline - dd_clock_mono_ms();
        int np = 0;
        int rc;

        if (left <= 0) {
            return false;
        }
        if (*in_fd >= 0) {
            p[np].fd = *in_fd;
            p[np].events = POLLOUT;
            np++;
        }
        p[np].fd = verdict_fd;
        p[np].events = POLLIN;
        np++;
        rc = poll(p, (nfds_t)np, (int)(left > 1000 ? 1000 : left));
        if (rc < 0 && errno != EINTR) {
            return false;
        }
        if (rc <= 0) {
            continue;
        }
        if (*in_fd >= 0 && p[0].revents != 0) {
            ssize_t w = off < len ? write(*in_fd, event + off, len - off) : 0;
            if (w > 0) {
                off += (size_t)w;
            }
            /* All written, or the child is not reading (it closed stdin or died): done with stdin. */
            if (off >= len || (w < 0 && errno != EAGAIN)) {
                close_fd(in_fd);
            }
            continue;
        }
        if (p[np - 1].revents != 0) {
            char buf[512];
            ssize_t r = read(verdict_fd, buf, sizeof(buf));
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                return true;
            }
            if (r > 0 && *vlen < VERDICT_MAX) {
                size_t take = (size_t)r < VERDICT_MAX - *vlen ? (size_t)r : VERDICT_MAX - *vlen;
                memcpy(verdict + *vlen, buf, take);
                *vlen += take;
            }
        }
    }
}

/* The same; closes in_fd whatever happens. */
static bool exchange(int in_fd, int verdict_fd, const char *event, char *verdict, size_t *vlen,
                     int64_t deadline)
{
    bool ended = exchange_loop(&in_fd, verdict_fd, event, verdict, vlen, deadline);

    close_fd(&in_fd);
    return ended;
}

/* Waits for the child's end until the deadline, then kills its whole group; reaps it. */
static int finish_child(pid_t pid, int64_t deadline, bool *killed)
{
    siginfo_t info;
    int status = 0;

    *killed = false;
    for (;;) {
        memset(&info, 0, sizeof(info));
        /* WNOWAIT: the pid (= the group's id) stays ours until the group is killed below. */
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            info.si_pid == pid) {
            break;
        }
        if (dd_clock_mono_ms() >= deadline) {
            *killed = true;
            break;
        }
        dd_clock_sleep_ms(5);
    }
    /* Whatever the handler started in the background ends with its invocation, as in Lambda. */
    (void)kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

static dd_lambdarun_status_t judge(const char *verdict, int status, bool killed, int timeout_s,
                                   char *error, size_t error_len)
{
    cJSON *v = cJSON_Parse(verdict);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(v, "errorType");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(v, "errorMessage");
    dd_lambdarun_status_t st;

    if (killed) {
        set_error(error, error_len, "Task timed out after %d.00 seconds (killed)", timeout_s);
        st = DD_LAMBDARUN_TIMEOUT;
    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "ok")) && WIFEXITED(status) &&
               WEXITSTATUS(status) == 0) {
        st = DD_LAMBDARUN_OK;
    } else if (cJSON_IsString(type)) {
        set_error(error, error_len, "%s: %s", type->valuestring,
                  cJSON_IsString(msg) ? msg->valuestring : "");
        st = strcmp(type->valuestring, "Sandbox.Timedout") == 0 ? DD_LAMBDARUN_TIMEOUT
                                                                : DD_LAMBDARUN_FUNCTION_ERROR;
    } else if (WIFSIGNALED(status)) {
        set_error(error, error_len, "Runtime.ExitError: runtime killed by signal %d",
                  WTERMSIG(status));
        st = DD_LAMBDARUN_FUNCTION_ERROR;
    } else {
        set_error(error, error_len, "Runtime.ExitError: runtime exited with status %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        st = DD_LAMBDARUN_FUNCTION_ERROR;
    }
    cJSON_Delete(v);
    return st;
}

dd_lambdarun_status_t dd_lambdarun_invoke(const dd_lambdarun_request_t *req, char *error,
                                          size_t error_len)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t sigs;
    envlist_t env;
    char timeout[16];
    char attempt[16];
    char handler[1200];
    char dir[1024];
    char *argv[20];
    char verdict[VERDICT_MAX + 1];
    size_t vlen = 0;
    int in_pipe[2] = {-1, -1};
    int out_pipe[2] = {-1, -1};
    int log_fd = -1;
    int n = 0;
    int status;
    int64_t deadline;
    bool killed = false;
    pid_t pid;
    dd_lambdarun_status_t st;
    const char *slash;

    set_error(error, error_len, "%s", "");
    if (req == NULL || req->python == NULL || req->runner == NULL || req->function_name == NULL ||
        req->function_arn == NULL || req->handler_file == NULL || req->handler_function == NULL ||
        req->env_json == NULL || req->timeout_s <= 0 || req->request_id == NULL ||
        req->region == NULL || req->endpoint_url == NULL || req->log_path == NULL ||
        req->event == NULL || strlen(req->handler_file) < 4) {
        return DD_LAMBDARUN_BAD_PARAMETER;
    }
    if (!build_env(req, &env)) {
        env_free(&env);
        return DD_LAMBDARUN_NO_MEMORY;
    }
    slash = strrchr(req->log_path, '/');
    if (slash != NULL && slash != req->log_path) {
        (void)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - req->log_path), req->log_path);
        (void)dd_fs_mkdirs(dir, 0700);
    }
    log_fd = open(req->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log_fd < 0 || pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
        set_error(error, error_len, "cannot open %s or a pipe: %s", req->log_path, strerror(errno));
        close_fd(&log_fd);
        close_fd(&in_pipe[0]);
        close_fd(&in_pipe[1]);
        env_free(&env);
        return DD_LAMBDARUN_SPAWN_FAILED;
    }
    (void)snprintf(timeout, sizeof(timeout), "%d", req->timeout_s);
    (void)snprintf(attempt, sizeof(attempt), "%d", req->attempt);
    (void)snprintf(handler, sizeof(handler), "%s:%s", req->handler_file, req->handler_function);
    argv[n++] = (char *)req->python;
    argv[n++] = "-B";
    argv[n++] = (char *)req->runner;
    argv[n++] = "--handler";
    argv[n++] = handler;
    argv[n++] = "--function-arn";
    argv[n++] = (char *)req->function_arn;
    argv[n++] = "--request-id";
    argv[n++] = (char *)req->request_id;
    argv[n++] = "--timeout";
    argv[n++] = timeout;
    argv[n++] = "--attempt";
    argv[n++] = attempt;
    argv[n++] = "--verdict-fd";
    argv[n++] = "3";
    if (req->clock_spec != NULL && req->clock_spec[0] != '\0') {
        argv[n++] = "--clock";
        argv[n++] = (char *)req->clock_spec;
    }
    argv[n] = NULL;

    (void)posix_spawn_file_actions_init(&fa);
    (void)posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
    (void)posix_spawn_file_actions_adddup2(&fa, log_fd, 1);
    (void)posix_spawn_file_actions_adddup2(&fa, log_fd, 2);
    (void)posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 3);
    (void)posix_spawnattr_init(&attr);
    /* Own group (killed as one at the deadline); default signal handling (ddlocald ignores SIGPIPE). */
    (void)sigemptyset(&sigs);
    (void)sigaddset(&sigs, SIGPIPE);
    (void)sigaddset(&sigs, SIGINT);
    (void)sigaddset(&sigs, SIGTERM);
    (void)posix_spawnattr_setsigdefault(&attr, &sigs);
    (void)sigemptyset(&sigs);
    (void)posix_spawnattr_setsigmask(&attr, &sigs);
    (void)posix_spawnattr_setpgroup(&attr, 0);
    (void)posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                              POSIX_SPAWN_SETSIGMASK);
    status = posix_spawnp(&pid, req->python, &fa, &attr, argv, env.items);
    (void)posix_spawn_file_actions_destroy(&fa);
    (void)posix_spawnattr_destroy(&attr);
    env_free(&env);
    close_fd(&in_pipe[0]);
    close_fd(&out_pipe[1]);
    if (status != 0) {
        set_error(error, error_len, "cannot start %s: %s", req->python, strerror(status));
        log_line(log_fd, req->clock_spec, error);
        close_fd(&in_pipe[1]);
        close_fd(&out_pipe[0]);
        close_fd(&log_fd);
        return DD_LAMBDARUN_SPAWN_FAILED;
    }
    deadline =
        dd_clock_mono_ms() +
        (int64_t)(req->timeout_s + (req->init_s > 0 ? req->init_s : DD_LAMBDARUN_INIT_S)) * 1000 +
        (req->kill_grace_ms > 0 ? req->kill_grace_ms : 5000);
    (void)exchange(in_pipe[1], out_pipe[0], req->event, verdict, &vlen, deadline);
    in_pipe[1] = -1; /* closed by exchange() */
    close_fd(&out_pipe[0]);
    verdict[vlen] = '\0';
    status = finish_child(pid, deadline, &killed);
    st = judge(verdict, status, killed, req->timeout_s, error, error_len);
    if (killed) {
        char text[256];
        (void)snprintf(text, sizeof(text),
                       "%s Task timed out after %d.00 seconds (the runtime was killed)",
                       req->request_id, req->timeout_s);
        log_line(log_fd, req->clock_spec, text);
    }
    close_fd(&log_fd);
    return st;
}

const char *dd_lambdarun_strerror(dd_lambdarun_status_t status)
{
    switch (status) {
    case DD_LAMBDARUN_OK: return "ok";
    case DD_LAMBDARUN_BAD_PARAMETER: return "bad parameter";
    case DD_LAMBDARUN_NO_MEMORY: return "out of memory";
    case DD_LAMBDARUN_SPAWN_FAILED: return "the runtime could not be started";
    case DD_LAMBDARUN_FUNCTION_ERROR: return "the function failed";
    case DD_LAMBDARUN_TIMEOUT: return "the function timed out";
    }
    return "unknown lambdarun status";
}
