#define _GNU_SOURCE /* pipe2 */
#include "dd_proc.h"
#include "dd_clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

dd_proc_status_t dd_proc_spawn(dd_proc_t *proc, const char *name, char *const argv[],
                               char *const env[], const char *stdout_path)
{
    int ready[2];
    pid_t parent = getpid();
    pid_t pid;
    int err = 0;
    ssize_t n;

    if (proc == NULL || argv == NULL || argv[0] == NULL) {
        return DD_PROC_BAD_PARAMETER;
    }
    memset(proc, 0, sizeof(*proc));
    (void)snprintf(proc->name, sizeof(proc->name), "%s", name != NULL ? name : argv[0]);
    /* A CLOEXEC pipe tells the parent whether exec succeeded. */
    if (pipe2(ready, O_CLOEXEC) != 0) {
        return DD_PROC_SPAWN_FAILED;
    }
    pid = fork();
    if (pid < 0) {
        close(ready[0]);
        close(ready[1]);
        return DD_PROC_SPAWN_FAILED;
    }
    if (pid == 0) {
        size_t i;
        close(ready[0]);
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(127); /* the parent died before prctl took effect */
        }
        for (i = 0; env != NULL && env[i] != NULL; i++) {
            (void)putenv(env[i]);
        }
        if (stdout_path != NULL) {
            int fd = open(stdout_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0) {
                (void)dup2(fd, STDOUT_FILENO);
                (void)dup2(fd, STDERR_FILENO);
            }
        }
        (void)signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        err = errno;
        (void)write(ready[1], &err, sizeof(err));
        _exit(127);
    }
    close(ready[1]);
    do {
        n = read(ready[0], &err, sizeof(err));
    } while (n < 0 && errno == EINTR);
    close(ready[0]);
    if (n == (ssize_t)sizeof(err)) {
        (void)waitpid(pid, NULL, 0);
        errno = err;
        return DD_PROC_SPAWN_FAILED;
    }
    proc->pid = pid;
    return DD_PROC_OK;
}

bool dd_proc_alive(dd_proc_t *proc)
{
    int status = 0;
    pid_t r;

    if (proc == NULL || proc->pid <= 0 || proc->exited) {
        return false;
    }
    r = waitpid(proc->pid, &status, WNOHANG);
    if (r == proc->pid) {
        proc->exited = true;
        proc->exit_status = status;
        return false;
    }
    return r == 0;
}

static bool port_open(uint16_t port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0) {
        return false;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

dd_proc_status_t dd_proc_wait_port(dd_proc_t *proc, uint16_t port, int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;

    if (proc == NULL || port == 0) {
        return DD_PROC_BAD_PARAMETER;
    }
    for (;;) {
        if (!dd_proc_alive(proc)) {
            return DD_PROC_EXITED;
        }
        if (port_open(port)) {
            return DD_PROC_OK;
        }
        if (dd_clock_mono_ms() >= deadline) {
            return DD_PROC_TIMEOUT;
        }
        /* Short: `up --detach` is ready only once all of these waits end (target < 300 ms). */
        dd_clock_sleep_ms(5);
    }
}

dd_proc_status_t dd_proc_wait_file(dd_proc_t *proc, const char *path, int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    struct stat st;

    if (proc == NULL || path == NULL) {
        return DD_PROC_BAD_PARAMETER;
    }
    for (;;) {
        if (stat(path, &st) == 0) {
            return DD_PROC_OK;
        }
        if (!dd_proc_alive(proc)) {
            return DD_PROC_EXITED;
        }
        if (dd_clock_mono_ms() >= deadline) {
            return DD_PROC_TIMEOUT;
        }
        /* Short: `up --detach` is ready only once all of these waits end (target < 300 ms). */
        dd_clock_sleep_ms(5);
    }
}

void dd_proc_signal(dd_proc_t *proc, int sig)
{
    if (proc != NULL && proc->pid > 0 && !proc->exited) {
        (void)kill(proc->pid, sig);
    }
}

void dd_proc_stop(dd_proc_t *proc, int grace_ms)
{
    int64_t deadline;

    if (proc == NULL || proc->pid <= 0) {
        return;
    }
    if (!dd_proc_alive(proc)) {
        return;
    }
    (void)kill(proc->pid, SIGTERM);
    deadline = dd_clock_mono_ms() + grace_ms;
    while (dd_proc_alive(proc)) {
        if (dd_clock_mono_ms() >= deadline) {
            (void)kill(proc->pid, SIGKILL);
            (void)waitpid(proc->pid, &proc->exit_status, 0);
            proc->exited = true;
            break;
        }
        dd_clock_sleep_ms(10);
    }
}

dd_proc_status_t dd_proc_free_port(uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd;

    if (port == NULL) {
        return DD_PROC_BAD_PARAMETER;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return DD_PROC_SOCKET_ERROR;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return DD_PROC_SOCKET_ERROR;
    }
    close(fd);
    *port = ntohs(sa.sin_port);
    return DD_PROC_OK;
}

dd_proc_status_t dd_proc_port_available(const char *addr, uint16_t port)
{
    struct sockaddr_in sa;
    int one = 1;
    int fd;
    dd_proc_status_t status = DD_PROC_OK;

    if (addr == NULL) {
        return DD_PROC_BAD_PARAMETER;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        return DD_PROC_BAD_PARAMETER;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return DD_PROC_SOCKET_ERROR;
    }
    /* Same as the servers will do: a port in TIME_WAIT is still usable. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        status = errno == EADDRINUSE ? DD_PROC_IN_USE
                 : errno == EACCES   ? DD_PROC_PERMISSION
                                     : DD_PROC_SOCKET_ERROR;
    }
    close(fd);
    return status;
}

void dd_proc_describe_exit(const dd_proc_t *proc, char *buf, size_t len)
{
    if (buf == NULL || len == 0) {
        return;
    }
    if (proc == NULL || !proc->exited) {
        (void)snprintf(buf, len, "is running");
    } else if (WIFEXITED(proc->exit_status)) {
        (void)snprintf(buf, len, "exited with status %d", WEXITSTATUS(proc->exit_status));
    } else if (WIFSIGNALED(proc->exit_status)) {
        (void)snprintf(buf, len, "was killed by signal %d", WTERMSIG(proc->exit_status));
    } else {
        (void)snprintf(buf, len, "ended");
    }
}

const char *dd_proc_strerror(dd_proc_status_t status)
{
    switch (status) {
    case DD_PROC_OK: return "ok";
    case DD_PROC_BAD_PARAMETER: return "bad parameter";
    case DD_PROC_SPAWN_FAILED: return "program could not be started";
    case DD_PROC_EXITED: return "process exited";
    case DD_PROC_TIMEOUT: return "timed out";
    case DD_PROC_IN_USE: return "port in use";
    case DD_PROC_PERMISSION: return "no permission to bind a port below 1024";
    case DD_PROC_SOCKET_ERROR: return "socket error";
    }
    return "unknown proc status";
}
