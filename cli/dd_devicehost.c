#define _GNU_SOURCE /* unshare, CLONE_NEWNET */
#include "dd_devicehost.h"

#include "dd_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SLOTS 4
#define SLOT_NAME_MAX 16
/* One command from the demo to the namespace's init: a slot and argv, NUL-separated. */
#define COMMAND_MAX 8192

/* ---- relaying bytes between two sockets ---------------------------------------------- */

typedef struct pair {
    int a;
    int b;
} pair_t;

static void *pump(void *arg)
{
    pair_t p = *(pair_t *)arg;
    struct pollfd fds[2];
    char buf[16384];

    free(arg);
    fds[0].fd = p.a;
    fds[1].fd = p.b;
    fds[0].events = fds[1].events = POLLIN;
    for (;;) {
        int i;
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (i = 0; i < 2; i++) {
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = read(fds[i].fd, buf, sizeof(buf));
                ssize_t off = 0;
                if (n <= 0) {
                    goto done;
                }
                while (off < n) {
                    ssize_t w = write(fds[1 - i].fd, buf + off, (size_t)(n - off));
                    if (w <= 0) {
                        goto done;
                    }
                    off += w;
                }
            }
        }
    }
done:
    close(p.a);
    close(p.b);
    return NULL;
}

static void start_pump(int a, int b)
{
    pthread_t t;
    pair_t *p = malloc(sizeof(*p));

    if (p == NULL) {
        close(a);
        close(b);
        return;
    }
    p->a = a;
    p->b = b;
    if (pthread_create(&t, NULL, pump, p) != 0) {
        free(p);
        close(a);
        close(b);
        return;
    }
    (void)pthread_detach(t);
}

static int connect_tcp_loopback(uint16_t port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_unix(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    (void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Host side: Unix socket -> broker. */
static void *host_relay(void *arg)
{
    dd_devicehost_relay_t *relay = arg;

    for (;;) {
        int in = accept4(relay->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        int out;
        if (in < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            break; /* listening socket shut down */
        }
        out = connect_tcp_loopback(relay->broker_port);
        if (out < 0) {
            close(in);
            continue;
        }
        start_pump(in, out);
    }
    return NULL;
}

/* ---- inside the namespace ------------------------------------------------------------------ */

typedef struct slot {
    char name[SLOT_NAME_MAX];
    pid_t pid;
} slot_t;

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        return -1;
    }
    n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int enter_namespace(void)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    char map[64];
    struct ifreq ifr;
    int fd;

    if (unshare(CLONE_NEWNET) != 0) {
        /* Not root: a user namespace makes us root there, which may create a network namespace. */
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
            return -1;
        }
        (void)write_file("/proc/self/setgroups", "deny");
        (void)snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
        if (write_file("/proc/self/uid_map", map) != 0) {
            return -1;
        }
        (void)snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) != 0) {
            return -1;
        }
    }
    /* A new namespace's loopback is down. */
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&ifr, 0, sizeof(ifr));
    (void)snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
        close(fd);
        return -1;
    }
    ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int listen_tcp_loopback(uint16_t port)
{
    struct sockaddr_in sa;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

typedef struct ns_relay {
    int listen_fd;
    char socket_path[108];
} ns_relay_t;

static void *ns_relay(void *arg)
{
    ns_relay_t *r = arg;

    for (;;) {
        int in = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        int out;
        if (in < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            break;
        }
        out = connect_unix(r->socket_path);
        if (out < 0) {
            close(in);
            continue;
        }
        start_pump(in, out);
    }
    return NULL;
}

static void stop_slot(slot_t *s)
{
    if (s->pid > 0) {
        (void)kill(s->pid, SIGTERM);
        (void)waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

/* Runs a command: "slot\0argv0\0argv1\0...\0log\0" (log may be empty). */
static void run_command(slot_t *slots, char *buf, size_t len)
{
    char *argv[64];
    char *p = buf;
    char *end = buf + len;
    char *name;
    char *log;
    int argc = 0;
    slot_t *s = NULL;
    int i;
    pid_t pid;

    name = p;
    p += strlen(p) + 1;
    log = p;
    p += strlen(p) + 1;
    while (p < end && argc < 63) {
        argv[argc++] = p;
        p += strlen(p) + 1;
    }
    argv[argc] = NULL;
    if (strlen(name) >= sizeof(slots[0].name)) {
        return; /* dd_devicehost_exec() refuses such names */
    }
    for (i = 0; i < MAX_SLOTS; i++) {
        if (strcmp(slots[i].name, name) == 0 || (s == NULL && slots[i].name[0] == '\0')) {
            s = &slots[i];
            if (strcmp(slots[i].name, name) == 0) {
                break;
            }
        }
    }
    if (s == NULL) {
        return;
    }
    stop_slot(s);
    memcpy(s->name, name, strlen(name) + 1);
    if (argc == 0) {
        return; /* a stop command */
    }
    pid = fork();
    if (pid == 0) {
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (log[0] != '\0') {
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0) {
                (void)dup2(fd, STDOUT_FILENO);
                (void)dup2(fd, STDERR_FILENO);
            }
        }
        execv(argv[0], argv);
        _exit(127);
    }
    s->pid = pid;
}

/*
 * The namespace's init: enters the namespace, listens on each relay's port,
 * then either serves commands (control_fd >= 0) or runs @p foreground with
 * the inherited terminal and exits with its status.
 */
static void ns_main(int control_fd, const dd_devicehost_t *host, int ready_fd, char *const foreground[])
{
    slot_t slots[MAX_SLOTS];
    ns_relay_t relays[2];
    pthread_t t;
    char buf[COMMAND_MAX];
    char ok = 1;
    size_t r;
    int i;

    memset(slots, 0, sizeof(slots));
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (enter_namespace() != 0) {
        ok = 0;
        (void)write(ready_fd, &ok, 1);
        _exit(1);
    }
    for (r = 0; r < host->relay_count; r++) {
        relays[r].listen_fd = listen_tcp_loopback(host->relays[r].ns_port);
        (void)snprintf(relays[r].socket_path, sizeof(relays[r].socket_path), "%s", host->relays[r].socket_path);
        if (relays[r].listen_fd < 0 || pthread_create(&t, NULL, ns_relay, &relays[r]) != 0) {
            ok = 0;
            (void)write(ready_fd, &ok, 1);
            _exit(1);
        }
    }
    (void)write(ready_fd, &ok, 1);
    close(ready_fd);
    if (foreground != NULL) {
        int status = 0;
        pid_t pid = fork();
        if (pid == 0) {
            (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
            execvp(foreground[0], foreground);
            fprintf(stderr, "ddlocal: cannot run %s\n", foreground[0]);
            _exit(127);
        }
        while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        _exit(pid < 0 ? 127 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    for (;;) {
        ssize_t n = recv(control_fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            break; /* the demo closed the channel: stop */
        }
        run_command(slots, buf, (size_t)n);
    }
    for (i = 0; i < MAX_SLOTS; i++) {
        stop_slot(&slots[i]);
    }
    _exit(0);
}

/* ---- the demo's side -------------------------------------------------------------------------- */

/* Host side of the relays: Unix sockets bound before the namespace exists. */
static dd_devicehost_status_t open_relays(dd_devicehost_t *host, const char *run_dir, uint16_t mqtt_port,
                                          uint16_t alpn_port)
{
    size_t i;

    memset(host, 0, sizeof(*host));
    host->control_fd = -1;
    host->relays[0].ns_port = DD_DEVICEHOST_PORT;
    host->relays[0].broker_port = mqtt_port;
    host->relays[1].ns_port = DD_DEVICEHOST_ALPN_PORT;
    host->relays[1].broker_port = alpn_port;
    host->relay_count = alpn_port != 0 ? 2 : 1;
    for (i = 0; i < 2; i++) {
        host->relays[i].listen_fd = -1;
    }
    for (i = 0; i < host->relay_count; i++) {
        dd_devicehost_relay_t *r = &host->relays[i];
        struct sockaddr_un sa;
        if ((size_t)snprintf(r->socket_path, sizeof(r->socket_path), "%s/devicehost-%d-%u.sock", run_dir,
                             (int)getpid(), (unsigned)r->ns_port) >= sizeof(r->socket_path)) {
            return DD_DEVICEHOST_BAD_PARAMETER;
        }
        (void)unlink(r->socket_path);
        r->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        (void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", r->socket_path);
        if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            listen(r->listen_fd, 64) != 0) {
            return DD_DEVICEHOST_FAILED;
        }
    }
    return DD_DEVICEHOST_OK;
}

static dd_devicehost_status_t start_relay_threads(dd_devicehost_t *host)
{
    size_t i;

    for (i = 0; i < host->relay_count; i++) {
        if (pthread_create(&host->relays[i].thread, NULL, host_relay, &host->relays[i]) != 0) {
            return DD_DEVICEHOST_FAILED;
        }
        host->relays[i].running = true;
    }
    return DD_DEVICEHOST_OK;
}

/* Forks the namespace's init; waits until its relays listen. */
static dd_devicehost_status_t fork_namespace(dd_devicehost_t *host, char *const foreground[])
{
    int sv[2] = {-1, -1};
    int ready[2];
    char ok = 0;
    size_t i;
    pid_t pid;

    /* Datagrams keep one command per message. */
    if ((foreground == NULL && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) ||
        pipe2(ready, O_CLOEXEC) != 0) {
        return DD_DEVICEHOST_FAILED;
    }
    /* Fork before starting any thread here: unshare(CLONE_NEWUSER) needs a single-threaded process. */
    pid = fork();
    if (pid < 0) {
        return DD_DEVICEHOST_FAILED;
    }
    if (pid == 0) {
        close(ready[0]);
        if (sv[0] >= 0) {
            close(sv[0]);
        }
        for (i = 0; i < host->relay_count; i++) {
            close(host->relays[i].listen_fd);
        }
        ns_main(sv[1], host, ready[1], foreground);
    }
    if (sv[1] >= 0) {
        close(sv[1]);
    }
    close(ready[1]);
    host->pid = pid;
    host->control_fd = sv[0];
    if (read(ready[0], &ok, 1) != 1 || ok != 1) {
        close(ready[0]);
        return DD_DEVICEHOST_NO_NAMESPACE;
    }
    close(ready[0]);
    return DD_DEVICEHOST_OK;
}

dd_devicehost_status_t dd_devicehost_start(dd_devicehost_t *host, const char *run_dir, uint16_t mqtt_port,
                                           uint16_t alpn_port)
{
    dd_devicehost_status_t st;

    if (host == NULL || run_dir == NULL || mqtt_port == 0) {
        return DD_DEVICEHOST_BAD_PARAMETER;
    }
    st = open_relays(host, run_dir, mqtt_port, alpn_port);
    if (st == DD_DEVICEHOST_OK) {
        st = fork_namespace(host, NULL);
    }
    if (st == DD_DEVICEHOST_OK) {
        st = start_relay_threads(host);
    }
    if (st != DD_DEVICEHOST_OK) {
        dd_devicehost_stop(host);
    }
    return st;
}

dd_devicehost_status_t dd_devicehost_run(const char *run_dir, uint16_t mqtt_port, uint16_t alpn_port,
                                         char *const argv[], int *exit_status)
{
    dd_devicehost_t host;
    dd_devicehost_status_t st;
    int status = 0;

    if (run_dir == NULL || mqtt_port == 0 || argv == NULL || argv[0] == NULL || exit_status == NULL) {
        return DD_DEVICEHOST_BAD_PARAMETER;
    }
    st = open_relays(&host, run_dir, mqtt_port, alpn_port);
    if (st == DD_DEVICEHOST_OK) {
        st = fork_namespace(&host, argv);
    }
    if (st == DD_DEVICEHOST_OK) {
        st = start_relay_threads(&host);
    }
    if (st == DD_DEVICEHOST_OK) {
        /* The foreground program owns the terminal: let it take Ctrl-C, not us. */
        signal(SIGINT, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        while (waitpid(host.pid, &status, 0) < 0 && errno == EINTR) {
        }
        host.pid = 0;
        *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    dd_devicehost_stop(&host);
    return st;
}

dd_devicehost_status_t dd_devicehost_exec(dd_devicehost_t *host, const char *slot, char *const argv[],
                                          const char *log_path)
{
    char buf[COMMAND_MAX];
    size_t off = 0;
    size_t i;
    const char *parts[2];

    if (host == NULL || slot == NULL || slot[0] == '\0' || strlen(slot) >= SLOT_NAME_MAX ||
        host->control_fd < 0) {
        return DD_DEVICEHOST_BAD_PARAMETER;
    }
    parts[0] = slot;
    parts[1] = log_path != NULL ? log_path : "";
    for (i = 0; i < 2; i++) {
        size_t n = strlen(parts[i]) + 1;
        if (off + n > sizeof(buf)) {
            return DD_DEVICEHOST_BAD_PARAMETER;
        }
        memcpy(buf + off, parts[i], n);
        off += n;
    }
    for (i = 0; argv != NULL && argv[i] != NULL; i++) {
        size_t n = strlen(argv[i]) + 1;
        if (off + n > sizeof(buf)) {
            return DD_DEVICEHOST_BAD_PARAMETER;
        }
        memcpy(buf + off, argv[i], n);
        off += n;
    }
    return send(host->control_fd, buf, off, MSG_NOSIGNAL) == (ssize_t)off ? DD_DEVICEHOST_OK
                                                                            : DD_DEVICEHOST_FAILED;
}

void dd_devicehost_stop(dd_devicehost_t *host)
{
    size_t i;

    if (host == NULL) {
        return;
    }
    if (host->control_fd >= 0) {
        close(host->control_fd); /* the namespace's init stops its programs and exits */
        host->control_fd = -1;
    }
    if (host->pid > 0) {
        (void)kill(host->pid, SIGTERM);
        (void)waitpid(host->pid, NULL, 0);
        host->pid = 0;
    }
    for (i = 0; i < host->relay_count; i++) {
        dd_devicehost_relay_t *r = &host->relays[i];
        if (r->listen_fd >= 0) {
            (void)shutdown(r->listen_fd, SHUT_RDWR);
            close(r->listen_fd);
            r->listen_fd = -1;
        }
        if (r->running) {
            (void)pthread_join(r->thread, NULL);
            r->running = false;
        }
        if (r->socket_path[0] != '\0') {
            (void)unlink(r->socket_path);
        }
    }
}

const char *dd_devicehost_strerror(dd_devicehost_status_t status)
{
    switch (status) {
    case DD_DEVICEHOST_OK: return "ok";
    case DD_DEVICEHOST_BAD_PARAMETER: return "bad parameter";
    case DD_DEVICEHOST_NO_NAMESPACE:
        return "network namespaces are not available (run as root, or enable unprivileged user namespaces)";
    case DD_DEVICEHOST_FAILED: return "the device host could not be set up";
    }
    return "unknown devicehost status";
}
