#define _GNU_SOURCE /* unshare, setns, CLONE_NEWNET, accept4, close_range */
#include "dd_clock.h"
#include "dd_devicehost.h"

#include "dd_fs.h"
#include "dd_log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS 4
#define SLOT_NAME_MAX 16
/* One command from the demo to the namespace's init: a slot and argv, NUL-separated. */
#define COMMAND_MAX 8192
/* Sessions one holder serves at once. */
#define MAX_SESSIONS 64
/* How long a holder with no session waits for its first one before it ends. */
#define HOLDER_IDLE_MS 10000
/* How long a session waits for its holder's answers. */
#define ANSWER_MS 10000

static const uint16_t NS_PORTS[DD_DEVICEHOST_RELAYS] = {DD_DEVICEHOST_PORT,
                                                        DD_DEVICEHOST_ALPN_PORT};

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
                ssize_t n = recv(fds[i].fd, buf, sizeof(buf), 0);
                ssize_t off = 0;
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n <= 0) {
                    goto done;
                }
                while (off < n) {
                    /*
                     * The broker drops a quarantined device's connections: the other side
                     * may be gone while we write. MSG_NOSIGNAL turns that into EPIPE for
                     * this connection instead of a SIGPIPE that kills the whole relay.
                     */
                    ssize_t w = send(fds[1 - i].fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
                    if (w < 0 && errno == EINTR) {
                        continue;
                    }
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
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/*
 * Accepts the device's connections inside the namespace (the listening socket
 * was made there) and connects each to the broker from the host's namespace.
 * A failure is one connection's: only a shut-down listening socket ends the loop.
 */
static void *relay_main(void *arg)
{
    dd_devicehost_relay_t *relay = arg;

    for (;;) {
        int in = accept4(relay->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        uint16_t port;
        int out;
        if (in < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors or memory for now: the pending connection waits. */
                dd_clock_sleep_ms(100);
                continue;
            }
            break; /* listening socket shut down */
        }
        port = __atomic_load_n(&relay->broker_port, __ATOMIC_RELAXED);
        if (port == 0) {
            close(in);
            continue;
        }
        out = connect_tcp_loopback(port);
        if (out < 0) {
            DD_LOG_WARN(
                "127.0.0.1:%u in the device: the broker at 127.0.0.1:%u cannot be reached (%s);"
                " this connection is closed",
                (unsigned)relay->ns_port, (unsigned)port, strerror(errno));
            close(in);
            continue;
        }
        start_pump(in, out);
    }
    return NULL;
}

static dd_devicehost_status_t start_relays(dd_devicehost_relay_t *relays, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (pthread_create(&relays[i].thread, NULL, relay_main, &relays[i]) != 0) {
            return DD_DEVICEHOST_FAILED;
        }
        relays[i].running = true;
    }
    return DD_DEVICEHOST_OK;
}

static void stop_relays(dd_devicehost_relay_t *relays, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        dd_devicehost_relay_t *r = &relays[i];
        if (r->listen_fd >= 0) {
            (void)shutdown(r->listen_fd, SHUT_RDWR); /* wakes accept() with EINVAL */
        }
        if (r->running) {
            (void)pthread_join(r->thread, NULL);
            r->running = false;
        }
        if (r->listen_fd >= 0) {
            close(r->listen_fd);
            r->listen_fd = -1;
        }
    }
}

/* ---- passing descriptors over Unix sockets ------------------------------------------------ */

#define MAX_PASSED_FDS 4

static int send_with_fds(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
    } control;
    struct iovec iov = {(void *)data, len};
    struct msghdr msg;
    ssize_t n;

    memset(&msg, 0, sizeof(msg));
    memset(&control, 0, sizeof(control));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
        struct cmsghdr *cm;
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : -1;
}

/* Receives one message and its descriptors (close-on-exec); waits at most timeout_ms (-1: forever). */
static ssize_t recv_with_fds(int sock, void *data, size_t len, int *fds, size_t max_fds,
                             size_t *nfds, int timeout_ms)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
    } control;
    struct iovec iov = {data, len};
    struct msghdr msg;
    struct cmsghdr *cm;
    struct pollfd pfd = {sock, POLLIN, 0};
    ssize_t n;
    int pr;

    *nfds = 0;
    do {
        pr = poll(&pfd, 1, timeout_ms);
    } while (pr < 0 && errno == EINTR);
    if (pr <= 0) {
        return -1;
    }
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    for (cm = CMSG_FIRSTHDR(&msg); n >= 0 && cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            size_t i;
            int got[MAX_PASSED_FDS];
            memcpy(got, CMSG_DATA(cm), count * sizeof(int));
            for (i = 0; i < count; i++) {
                if (*nfds < max_fds) {
                    fds[(*nfds)++] = got[i];
                } else {
                    close(got[i]);
                }
            }
        }
    }
    return n;
}

/* ---- inside the namespace ------------------------------------------------------------------ */

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

/* Moves this (single-threaded) process into a new network namespace with its loopback up. */
static int enter_namespace(bool *user_ns)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    char map[64];
    struct ifreq ifr;
    int fd;

    *user_ns = false;
    if (unshare(CLONE_NEWNET) != 0) {
        /* Not root: a user namespace makes us root there, which may create a network namespace. */
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
            return -1;
        }
        *user_ns = true;
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

/* What the namespace's maker sends with its descriptors. */
typedef struct setup_msg {
    char ok;
    char user_ns; /* the descriptors include the user namespace */
} setup_msg_t;

/*
 * In a freshly forked child: makes the namespace and sends its listening
 * sockets (and, with @p ns_files, the namespace files) over @p sock.
 * Returns 0 when sent.
 */
static int make_namespace(int sock, bool ns_files)
{
    setup_msg_t m = {0, 0};
    int fds[MAX_PASSED_FDS];
    size_t n = 0;
    size_t i;
    bool user_ns = false;
    int rc = -1;

    if (enter_namespace(&user_ns) == 0) {
        for (i = 0; i < DD_DEVICEHOST_RELAYS; i++) {
            int fd = listen_tcp_loopback(NS_PORTS[i]);
            if (fd < 0) {
                break;
            }
            fds[n++] = fd;
        }
        if (n == DD_DEVICEHOST_RELAYS && ns_files) {
            int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                fds[n++] = fd;
            }
            if (fd >= 0 && user_ns) {
                fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                    fds[n++] = fd;
                }
            }
        }
        m.user_ns = (char)user_ns;
        m.ok = (char)(n == DD_DEVICEHOST_RELAYS + (ns_files ? 1u + (user_ns ? 1u : 0u) : 0u));
    }
    if (m.ok) {
        rc = send_with_fds(sock, &m, sizeof(m), fds, n);
    } else {
        (void)send_with_fds(sock, &m, sizeof(m), NULL, 0);
    }
    for (i = 0; i < n; i++) {
        close(fds[i]);
    }
    return rc;
}

/* Receives make_namespace()'s message; fills the relays' listening sockets and the ns files. */
static dd_devicehost_status_t receive_namespace(int sock, dd_devicehost_relay_t *relays,
                                                int *netns_fd, int *userns_fd)
{
    setup_msg_t m = {0, 0};
    int fds[MAX_PASSED_FDS];
    size_t n = 0;
    size_t want;
    size_t i;

    if (recv_with_fds(sock, &m, sizeof(m), fds, MAX_PASSED_FDS, &n, -1) != (ssize_t)sizeof(m) ||
        !m.ok) {
        for (i = 0; i < n; i++) {
            close(fds[i]);
        }
        return DD_DEVICEHOST_NO_NAMESPACE;
    }
    want = DD_DEVICEHOST_RELAYS + (netns_fd != NULL ? 1u + (m.user_ns ? 1u : 0u) : 0u);
    if (n != want) {
        for (i = 0; i < n; i++) {
            close(fds[i]);
        }
        return DD_DEVICEHOST_FAILED;
    }
    for (i = 0; i < DD_DEVICEHOST_RELAYS; i++) {
        relays[i].listen_fd = fds[i];
    }
    if (netns_fd != NULL) {
        *netns_fd = fds[DD_DEVICEHOST_RELAYS];
        *userns_fd = m.user_ns ? fds[DD_DEVICEHOST_RELAYS + 1] : -1;
    }
    return DD_DEVICEHOST_OK;
}

static void init_relays(dd_devicehost_relay_t *relays, uint16_t mqtt_port, uint16_t alpn_port)
{
    size_t i;

    for (i = 0; i < DD_DEVICEHOST_RELAYS; i++) {
        memset(&relays[i], 0, sizeof(relays[i]));
        relays[i].ns_port = NS_PORTS[i];
        relays[i].listen_fd = -1;
    }
    relays[0].broker_port = mqtt_port;
    relays[1].broker_port = alpn_port; /* 0: the 443 role refuses, as a closed port would */
}

/* ---- the demo's device: an init process running programs in slots ------------------------- */

typedef struct slot {
    char name[SLOT_NAME_MAX];
    pid_t pid;
} slot_t;

static void stop_slot(slot_t *s)
{
    if (s->pid > 0) {
        (void)kill(s->pid, SIGTERM);
        (void)waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

/* Runs a command: "slot\0log\0argv0\0argv1\0...\0" (log may be empty). */
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

/* The namespace's init: makes the namespace, then serves the demo's commands until it hangs up. */
static void ns_main(int control_fd)
{
    slot_t slots[MAX_SLOTS];
    char buf[COMMAND_MAX];
    int i;

    memset(slots, 0, sizeof(slots));
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (make_namespace(control_fd, false) != 0) {
        _exit(1);
    }
    for (;;) {
        ssize_t n = recv(control_fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
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

dd_devicehost_status_t dd_devicehost_start(dd_devicehost_t *host, const char *run_dir,
                                           uint16_t mqtt_port, uint16_t alpn_port)
{
    dd_devicehost_status_t st;
    int sv[2];
    pid_t pid;

    if (host == NULL || run_dir == NULL || mqtt_port == 0) {
        return DD_DEVICEHOST_BAD_PARAMETER;
    }
    memset(host, 0, sizeof(*host));
    host->control_fd = -1;
    host->relay_count = DD_DEVICEHOST_RELAYS;
    init_relays(host->relays, mqtt_port, alpn_port);
    /* Datagrams keep one command per message. */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        return DD_DEVICEHOST_FAILED;
    }
    pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return DD_DEVICEHOST_FAILED;
    }
    if (pid == 0) {
        close(sv[0]);
        ns_main(sv[1]);
    }
    close(sv[1]);
    host->pid = pid;
    host->control_fd = sv[0];
    st = receive_namespace(host->control_fd, host->relays, NULL, NULL);
    if (st == DD_DEVICEHOST_OK) {
        st = start_relays(host->relays, host->relay_count);
    }
    if (st != DD_DEVICEHOST_OK) {
        dd_devicehost_stop(host);
    }
    return st;
}

dd_devicehost_status_t dd_devicehost_exec(dd_devicehost_t *host, const char *slot,
                                          char *const argv[], const char *log_path)
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
    stop_relays(host->relays, host->relay_count);
}

/* ---- `ddlocal device`: the holder and its sessions ---------------------------------------- */

/* Messages on the control socket (one per datagram). */
enum {
    MSG_HELLO = 'H', /* holder -> session on connect, with the namespace files */
    MSG_PORTS = 'P', /* session -> holder: the broker's ports now */
    MSG_ACK = 'A',   /* holder -> session: ports in use */
    MSG_BYE = 'B',   /* session -> holder: closing */
    MSG_LEFT = 'L'   /* holder -> session: sessions still open (0: the holder ends) */
};

typedef struct control_msg {
    char type;
    uint16_t mqtt_port;
    uint16_t alpn_port;
    uint32_t sessions;
    int32_t pid;
} control_msg_t;

typedef struct state_paths {
    int dir_fd;
    char control[PATH_MAX + 16];
    /* sun_path holds 108 bytes: bind and connect reach the socket through the open directory. */
    char control_short[64];
    char pid[PATH_MAX + 16];
    char lock[PATH_MAX + 16];
} state_paths_t;

static int state_paths(const char *state_dir, state_paths_t *p)
{
    p->dir_fd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    (void)snprintf(p->control, sizeof(p->control), "%s/control.sock", state_dir);
    (void)snprintf(p->control_short, sizeof(p->control_short), "/proc/self/fd/%d/control.sock",
                   p->dir_fd);
    (void)snprintf(p->pid, sizeof(p->pid), "%s/holder.pid", state_dir);
    (void)snprintf(p->lock, sizeof(p->lock), "%s/lock", state_dir);
    return p->dir_fd >= 0 ? 0 : -1;
}

/* The lock serialises "join or start a holder" against "the holder ends". */
static int lock_state(const state_paths_t *p)
{
    int fd = open(p->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0) {
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

static void unlock_state(int fd)
{
    if (fd >= 0) {
        (void)flock(fd, LOCK_UN);
        close(fd);
    }
}

static int unix_address(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        return -1;
    }
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

static int connect_control(const char *path)
{
    struct sockaddr_un sa;
    int fd;

    if (unix_address(path, &sa) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

typedef struct holder {
    const char *state_dir;
    state_paths_t paths;
    dd_devicehost_relay_t relays[DD_DEVICEHOST_RELAYS];
    int netns_fd;
    int userns_fd;
    int listen_fd;
    int sessions[MAX_SESSIONS];
    size_t session_count;
} holder_t;

static void holder_send(int fd, char type, uint32_t sessions, const int *fds, size_t nfds)
{
    control_msg_t m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.sessions = sessions;
    m.pid = (int32_t)getpid();
    (void)send_with_fds(fd, &m, sizeof(m), fds, nfds);
}

/*
 * Sends SIGTERM to every process still in the device's network namespace (a
 * background agent the last shell left behind): without the relay they would
 * only retry forever. Returns how many there were.
 */
static unsigned stop_namespace_programs(const holder_t *h)
{
    struct stat ns;
    struct dirent *e;
    unsigned count = 0;
    DIR *proc;

    if (fstat(h->netns_fd, &ns) != 0 || (proc = opendir("/proc")) == NULL) {
        return 0;
    }
    while ((e = readdir(proc)) != NULL) {
        char path[300];
        struct stat st;
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 1 || pid == (long)getpid()) {
            continue;
        }
        (void)snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
        if (stat(path, &st) == 0 && st.st_ino == ns.st_ino && st.st_dev == ns.st_dev &&
            kill((pid_t)pid, SIGTERM) == 0) {
            count++;
        }
    }
    (void)closedir(proc);
    return count;
}

/*
 * No session is open: ends the holder unless a new session is already
 * knocking. Under the lock, so that a session either connected before (and
 * is seen here) or finds no control socket and starts a new holder.
 * Returns only when the holder goes on; @p bye_fd (or -1) learns the outcome.
 */
static void holder_maybe_end(holder_t *h, int bye_fd)
{
    struct pollfd pfd = {h->listen_fd, POLLIN, 0};
    int lock_fd = lock_state(&h->paths);
    unsigned stopped;

    if (poll(&pfd, 1, 0) > 0) {
        unlock_state(lock_fd);
        if (bye_fd >= 0) {
            holder_send(bye_fd, MSG_LEFT, 1, NULL, 0);
        }
        return;
    }
    (void)unlink(h->paths.control);
    (void)unlink(h->paths.pid);
    unlock_state(lock_fd);
    stopped = stop_namespace_programs(h);
    DD_LOG_INFO("the last session closed: the device's namespace and relay end (%u program%s left"
                " running there stopped)",
                stopped, stopped == 1 ? "" : "s");
    if (bye_fd >= 0) {
        holder_send(bye_fd, MSG_LEFT, 0, NULL, 0);
    }
    /* Device connections still open die with this process; so does the namespace once empty. */
    _exit(0);
}

static void holder_drop(holder_t *h, size_t i)
{
    close(h->sessions[i]);
    h->sessions[i] = h->sessions[--h->session_count];
}

/* One message from session @p i; returns false when the session has gone. */
static bool holder_serve(holder_t *h, size_t i)
{
    control_msg_t m;
    ssize_t n;
    int fd = h->sessions[i];

    do {
        n = recv(fd, &m, sizeof(m), 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(m)) {
        holder_drop(h, i);
        DD_LOG_INFO("a session ended without closing (%zu still open)", h->session_count);
        if (h->session_count == 0) {
            holder_maybe_end(h, -1);
        }
        return false;
    }
    if (m.type == MSG_PORTS) {
        if (m.mqtt_port != h->relays[0].broker_port || m.alpn_port != h->relays[1].broker_port) {
            DD_LOG_INFO("relaying to the broker at 127.0.0.1:%u (443 role: %u)",
                        (unsigned)m.mqtt_port, (unsigned)m.alpn_port);
        }
        __atomic_store_n(&h->relays[0].broker_port, m.mqtt_port, __ATOMIC_RELAXED);
        __atomic_store_n(&h->relays[1].broker_port, m.alpn_port, __ATOMIC_RELAXED);
        holder_send(fd, MSG_ACK, (uint32_t)h->session_count, NULL, 0);
        return true;
    }
    if (m.type == MSG_BYE) {
        h->sessions[i] = h->sessions[--h->session_count];
        DD_LOG_INFO("a session closed (%zu still open)", h->session_count);
        if (h->session_count == 0) {
            holder_maybe_end(h, fd);
        } else {
            holder_send(fd, MSG_LEFT, (uint32_t)h->session_count, NULL, 0);
        }
        close(fd);
        return false;
    }
    return true;
}

static void holder_accept(holder_t *h)
{
    int fds[2];
    int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        return;
    }
    if (h->session_count == MAX_SESSIONS) {
        DD_LOG_WARN("%d sessions are open already: one more is refused", MAX_SESSIONS);
        close(fd);
        return;
    }
    h->sessions[h->session_count++] = fd;
    fds[0] = h->netns_fd;
    fds[1] = h->userns_fd;
    holder_send(fd, MSG_HELLO, (uint32_t)h->session_count, fds, h->userns_fd >= 0 ? 2 : 1);
    DD_LOG_INFO("a session opened (%zu open)", h->session_count);
}

static void holder_loop(holder_t *h)
{
    for (;;) {
        struct pollfd pfds[MAX_SESSIONS + 1];
        size_t i;
        int n;

        pfds[0].fd = h->listen_fd;
        pfds[0].events = POLLIN;
        for (i = 0; i < h->session_count; i++) {
            pfds[i + 1].fd = h->sessions[i];
            pfds[i + 1].events = POLLIN;
        }
        n = poll(pfds, h->session_count + 1, h->session_count == 0 ? HOLDER_IDLE_MS : -1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0) {
            holder_maybe_end(h, -1); /* the session that started us never came */
            continue;
        }
        /* Sessions from the back: holder_serve() may move the last one into a served slot. */
        for (i = h->session_count; i > 0; i--) {
            if (pfds[i].revents != 0) {
                (void)holder_serve(h, i - 1);
            }
        }
        if (pfds[0].revents & POLLIN) {
            holder_accept(h);
        }
    }
}

static int write_pid_file(const char *path)
{
    char text[32];
    int len = snprintf(text, sizeof(text), "%d\n", (int)getpid());

    return dd_fs_write_atomic(path, text, (size_t)len, 0644) == DD_FS_OK ? 0 : -1;
}

/*
 * The holder: a process of its own session (the terminal's signals are the
 * shells'), logging to @p log_path. Makes the namespace, listens on the
 * control socket and relays until the last session closes. Tells the
 * starting session on @p ready_fd (one status byte). Never returns.
 */
static void holder_main(const char *state_dir, uint16_t mqtt_port, uint16_t alpn_port,
                        const char *log_path, int ready_fd)
{
    holder_t h;
    struct sockaddr_un sa;
    char status = (char)DD_DEVICEHOST_FAILED;
    int sv[2];
    int fd;
    pid_t pid;

    /* Keep only the ready pipe: an inherited descriptor (a pipe a test reads) must not outlive us. */
    if (dup2(ready_fd, 3) < 0) {
        _exit(1);
    }
    ready_fd = 3;
    (void)close_range(4, ~0U, 0);
    (void)setsid();
    if (chdir("/") != 0) { /* do not pin the first shell's working directory */
        DD_LOG_WARN("cannot leave the working directory: %s", strerror(errno));
    }
    (void)signal(SIGPIPE, SIG_IGN);
    (void)signal(SIGHUP, SIG_IGN);
    (void)signal(SIGINT, SIG_IGN);
    (void)signal(SIGQUIT, SIG_IGN);
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        (void)dup2(fd, STDIN_FILENO);
        (void)dup2(fd, STDOUT_FILENO);
        (void)dup2(fd, STDERR_FILENO);
        close(fd);
    }
    if (log_path != NULL) {
        fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            (void)dup2(fd, STDOUT_FILENO);
            (void)dup2(fd, STDERR_FILENO);
            close(fd);
        }
    }
    dd_log_set_program("ddlocal-device");
    memset(&h, 0, sizeof(h));
    h.state_dir = state_dir;
    h.netns_fd = h.userns_fd = h.listen_fd = -1;
    init_relays(h.relays, mqtt_port, alpn_port);
    if (state_paths(state_dir, &h.paths) != 0) {
        goto fail;
    }

    /* A child makes the namespace: entering a user namespace needs a single-threaded process. */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        goto fail;
    }
    pid = fork();
    if (pid < 0) {
        goto fail;
    }
    if (pid == 0) {
        close(sv[0]);
        _exit(make_namespace(sv[1], true) == 0 ? 0 : 1);
    }
    close(sv[1]);
    status = (char)receive_namespace(sv[0], h.relays, &h.netns_fd, &h.userns_fd);
    close(sv[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    if (status != DD_DEVICEHOST_OK) {
        DD_LOG_ERROR("%s", dd_devicehost_strerror((dd_devicehost_status_t)status));
        goto fail;
    }
    status = (char)DD_DEVICEHOST_FAILED;
    h.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (h.listen_fd < 0 || unix_address(h.paths.control_short, &sa) != 0 ||
        bind(h.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(h.listen_fd, 16) != 0) {
        DD_LOG_ERROR("cannot listen on %s: %s", h.paths.control, strerror(errno));
        goto fail;
    }
    if (write_pid_file(h.paths.pid) != 0 ||
        start_relays(h.relays, DD_DEVICEHOST_RELAYS) != DD_DEVICEHOST_OK) {
        (void)unlink(h.paths.control);
        goto fail;
    }
    DD_LOG_INFO(
        "device host of %s up (pid %d): 127.0.0.1:%u -> 127.0.0.1:%u, 127.0.0.1:%u -> 127.0.0.1:%u",
        state_dir, (int)getpid(), (unsigned)DD_DEVICEHOST_PORT, (unsigned)mqtt_port,
        (unsigned)DD_DEVICEHOST_ALPN_PORT, (unsigned)alpn_port);
    status = (char)DD_DEVICEHOST_OK;
    (void)write(ready_fd, &status, 1);
    close(ready_fd);
    holder_loop(&h);
    _exit(0);
fail:
    (void)write(ready_fd, &status, 1);
    _exit(1);
}

/* Receives one control message of @p type; false on timeout, hang-up or another type. */
static bool session_expect(int fd, char type, control_msg_t *m, int *fds, size_t max_fds,
                           size_t *nfds)
{
    size_t dummy;

    memset(m, 0, sizeof(*m));
    if (recv_with_fds(fd, m, sizeof(*m), fds, max_fds, nfds != NULL ? nfds : &dummy, ANSWER_MS) !=
        (ssize_t)sizeof(*m)) {
        return false;
    }
    return m->type == type;
}

static void session_reset(dd_devicehost_session_t *s)
{
    memset(s, 0, sizeof(*s));
    s->control_fd = s->netns_fd = s->userns_fd = -1;
}

static void session_release(dd_devicehost_session_t *s)
{
    if (s->control_fd >= 0) {
        close(s->control_fd);
    }
    if (s->netns_fd >= 0) {
        close(s->netns_fd);
    }
    if (s->userns_fd >= 0) {
        close(s->userns_fd);
    }
    s->control_fd = s->netns_fd = s->userns_fd = -1;
}

/* Starts a holder (our child) and waits until it listens. */
static dd_devicehost_status_t spawn_holder(dd_devicehost_session_t *s, const char *state_dir,
                                           uint16_t mqtt_port, uint16_t alpn_port,
                                           const char *log_path)
{
    int ready[2];
    char status = (char)DD_DEVICEHOST_FAILED;
    pid_t pid;

    if (pipe2(ready, O_CLOEXEC) != 0) {
        return DD_DEVICEHOST_FAILED;
    }
    pid = fork();
    if (pid < 0) {
        close(ready[0]);
        close(ready[1]);
        return DD_DEVICEHOST_FAILED;
    }
    if (pid == 0) {
        close(ready[0]);
        holder_main(state_dir, mqtt_port, alpn_port, log_path, ready[1]);
    }
    close(ready[1]);
    if (read(ready[0], &status, 1) != 1) {
        status = (char)DD_DEVICEHOST_FAILED;
    }
    close(ready[0]);
    if (status != DD_DEVICEHOST_OK) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return (dd_devicehost_status_t)status;
    }
    s->holder_pid = pid;
    s->holder_is_child = true;
    return DD_DEVICEHOST_OK;
}

dd_devicehost_status_t dd_devicehost_open(dd_devicehost_session_t *session, const char *state_dir,
                                          uint16_t mqtt_port, uint16_t alpn_port,
                                          const char *log_path)
{
    dd_devicehost_status_t st = DD_DEVICEHOST_OK;
    state_paths_t paths;
    control_msg_t m;
    int fds[2];
    size_t nfds = 0;
    int attempt;
    int lock_fd;
    int fd;

    if (session == NULL || state_dir == NULL || state_dir[0] == '\0' ||
        strlen(state_dir) >= PATH_MAX || mqtt_port == 0) {
        return DD_DEVICEHOST_BAD_PARAMETER;
    }
    session_reset(session);
    paths.dir_fd = -1;
    if (dd_fs_mkdirs(state_dir, 0700) != DD_FS_OK || state_paths(state_dir, &paths) != 0) {
        if (paths.dir_fd >= 0) {
            close(paths.dir_fd);
        }
        return DD_DEVICEHOST_FAILED;
    }
    /* A holder killed just as we connect accepts nothing more: then it is stale, try again. */
    for (attempt = 0; attempt < 3; attempt++) {
        bool spawned = false;
        lock_fd = lock_state(&paths);
        if (lock_fd < 0) {
            st = DD_DEVICEHOST_FAILED;
            break;
        }
        fd = connect_control(paths.control_short);
        if (fd < 0 && errno != ENOENT && errno != ECONNREFUSED) {
            unlock_state(lock_fd);
            st = DD_DEVICEHOST_FAILED;
            break;
        }
        if (fd < 0) {
            /* Nobody answers: a holder that was killed left its socket behind (or there is none). */
            if (errno == ECONNREFUSED) {
                session->stale_removed = true;
                (void)unlink(paths.control);
                (void)unlink(paths.pid);
            }
            st = spawn_holder(session, state_dir, mqtt_port, alpn_port, log_path);
            if (st == DD_DEVICEHOST_OK) {
                spawned = true;
                fd = connect_control(paths.control_short);
                st = fd >= 0 ? DD_DEVICEHOST_OK : DD_DEVICEHOST_FAILED;
            }
        }
        /*
         * Connected (or failed): the holder sees a pending connection when it decides whether
         * to end, so the lock is not needed any more - and holding it while waiting for the
         * hello would block a holder that is deciding.
         */
        unlock_state(lock_fd);
        if (st != DD_DEVICEHOST_OK) {
            break;
        }
        session->control_fd = fd;
        if (session_expect(fd, MSG_HELLO, &m, fds, 2, &nfds) && nfds >= 1) {
            session->netns_fd = fds[0];
            session->userns_fd = nfds > 1 ? fds[1] : -1;
            session->holder_pid = (pid_t)m.pid;
            session->sessions = m.sessions;
            session->joined = m.sessions > 1;
            break;
        }
        while (nfds > 0) {
            close(fds[--nfds]);
        }
        close(fd);
        session->control_fd = -1;
        if (spawned) {
            /* Our own holder sees the hang-up and ends (no session); collect it. */
            while (waitpid(session->holder_pid, NULL, 0) < 0 && errno == EINTR) {
            }
            session->holder_is_child = false;
        }
        st = DD_DEVICEHOST_FAILED;
    }
    close(paths.dir_fd);
    if (st == DD_DEVICEHOST_OK) {
        memset(&m, 0, sizeof(m));
        m.type = MSG_PORTS;
        m.mqtt_port = mqtt_port;
        m.alpn_port = alpn_port;
        if (send_with_fds(fd, &m, sizeof(m), NULL, 0) != 0 ||
            !session_expect(fd, MSG_ACK, &m, NULL, 0, NULL)) {
            st = DD_DEVICEHOST_FAILED;
        }
    }
    if (st != DD_DEVICEHOST_OK) {
        session_release(session);
        if (session->holder_is_child) {
            /* Our holder sees the hang-up and ends (no session); collect it. */
            while (waitpid(session->holder_pid, NULL, 0) < 0 && errno == EINTR) {
            }
        }
        session_reset(session);
    }
    return st;
}

/*
 * A `ddlocal device` typed inside a device shell (unprivileged) is in the
 * device's user namespace already, and setns() refuses to join one's own.
 */
static bool same_namespace(int ns_fd, const char *own_path)
{
    struct stat a;
    struct stat b;

    return fstat(ns_fd, &a) == 0 && stat(own_path, &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

dd_devicehost_status_t dd_devicehost_run(const dd_devicehost_session_t *session, char *const argv[],
                                         int *exit_status)
{
    struct sigaction ignore;
    struct sigaction old_int;
    struct sigaction old_quit;
    int status = 0;
    pid_t parent;
    pid_t pid;

    if (session == NULL || session->netns_fd < 0 || argv == NULL || argv[0] == NULL ||
        exit_status == NULL) {
        return DD_DEVICEHOST_BAD_PARAMETER;
    }
    parent = getpid();
    /* The program owns the terminal: Ctrl-C is its, not ours. */
    memset(&ignore, 0, sizeof(ignore));
    ignore.sa_handler = SIG_IGN;
    (void)sigaction(SIGINT, &ignore, &old_int);
    (void)sigaction(SIGQUIT, &ignore, &old_quit);
    pid = fork();
    if (pid < 0) {
        (void)sigaction(SIGINT, &old_int, NULL);
        (void)sigaction(SIGQUIT, &old_quit, NULL);
        return DD_DEVICEHOST_FAILED;
    }
    if (pid == 0) {
        (void)sigaction(SIGINT, &old_int, NULL);
        (void)sigaction(SIGQUIT, &old_quit, NULL);
        /* Interactive shells ignore SIGTERM; a hang-up ends them (and their jobs) with us. */
        (void)prctl(PR_SET_PDEATHSIG, SIGHUP);
        if (getppid() != parent) {
            _exit(129);
        }
        if ((session->userns_fd >= 0 && !same_namespace(session->userns_fd, "/proc/self/ns/user") &&
             setns(session->userns_fd, CLONE_NEWUSER) != 0) ||
            setns(session->netns_fd, CLONE_NEWNET) != 0) {
            fprintf(stderr, "ddlocal device: cannot enter the device's namespace: %s\n",
                    strerror(errno));
            _exit(127);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "ddlocal device: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = 127 << 8;
            break;
        }
    }
    (void)sigaction(SIGINT, &old_int, NULL);
    (void)sigaction(SIGQUIT, &old_quit, NULL);
    *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return DD_DEVICEHOST_OK;
}

dd_devicehost_status_t dd_devicehost_close(dd_devicehost_session_t *session, unsigned *remaining)
{
    dd_devicehost_status_t st = DD_DEVICEHOST_OK;
    control_msg_t m;

    if (session == NULL) {
        return DD_DEVICEHOST_BAD_PARAMETER;
    }
    if (remaining != NULL) {
        *remaining = 0;
    }
    if (session->control_fd < 0) {
        return DD_DEVICEHOST_BAD_PARAMETER;
    }
    memset(&m, 0, sizeof(m));
    m.type = MSG_BYE;
    if (send_with_fds(session->control_fd, &m, sizeof(m), NULL, 0) != 0 ||
        !session_expect(session->control_fd, MSG_LEFT, &m, NULL, 0, NULL)) {
        st = DD_DEVICEHOST_HOLDER_GONE;
    } else if (remaining != NULL) {
        *remaining = m.sessions;
    }
    if (st == DD_DEVICEHOST_OK && m.sessions == 0) {
        /* The holder ends now: its exit closes this connection. */
        char c;
        struct pollfd pfd = {session->control_fd, POLLIN, 0};
        while (poll(&pfd, 1, ANSWER_MS) > 0 && recv(session->control_fd, &c, 1, 0) > 0) {
        }
        if (session->holder_is_child) {
            while (waitpid(session->holder_pid, NULL, 0) < 0 && errno == EINTR) {
            }
        }
    }
    session_release(session);
    session_reset(session);
    return st;
}

const char *dd_devicehost_strerror(dd_devicehost_status_t status)
{
    switch (status) {
    case DD_DEVICEHOST_OK: return "ok";
    case DD_DEVICEHOST_BAD_PARAMETER: return "bad parameter";
    case DD_DEVICEHOST_NO_NAMESPACE:
        return "network namespaces are not available (run as root, or enable unprivileged user "
               "namespaces)";
    case DD_DEVICEHOST_FAILED: return "the device host could not be set up";
    case DD_DEVICEHOST_HOLDER_GONE: return "the device's relay process has gone (was it killed?)";
    }
    return "unknown devicehost status";
}
