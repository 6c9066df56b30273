#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_fs.h"
#include "dd_proc.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dd_proc_test_XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Starts /bin/sh -c @p script. */
static void spawn_sh(dd_proc_t *p, const char *script, char *const env[], const char *out)
{
    char *argv[] = {"/bin/sh", "-c", (char *)(uintptr_t)script, NULL};

    assert_int_equal(dd_proc_spawn(p, "sh", argv, env, out), DD_PROC_OK);
    assert_true(p->pid > 0);
}

/* Polls until the child is gone (deadline 5 s). */
static void wait_exit(dd_proc_t *p)
{
    int64_t deadline = dd_clock_mono_ms() + 5000;

    while (dd_proc_alive(p) && dd_clock_mono_ms() < deadline) {
        dd_clock_sleep_ms(5);
    }
    assert_false(dd_proc_alive(p));
    assert_true(p->exited);
}

/* A socket bound to 127.0.0.1:0 (listening if @p listening); returns its port. */
static int bound_socket(bool listening, uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(*port);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (listening) {
        assert_int_equal(listen(fd, 4), 0);
    }
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_dd_proc_exit_status_env_and_output(void **state)
{
    dd_proc_t p;
    char out[128];
    char desc[64];
    char *env[] = {"DD_PROC_TEST=hello from the parent", NULL};
    char *text = NULL;
    size_t len = 0;

    (void)state;
    snprintf(out, sizeof(out), "%s/child.log", dir);
    spawn_sh(&p, "echo \"$DD_PROC_TEST\"; echo oops >&2; exit 3", env, out);
    assert_string_equal(p.name, "sh");
    dd_proc_describe_exit(&p, desc, sizeof(desc));
    assert_string_equal(desc, "is running");
    wait_exit(&p);
    dd_proc_describe_exit(&p, desc, sizeof(desc));
    assert_string_equal(desc, "exited with status 3");
    /* stdout and stderr both went to the file; the environment entry arrived. */
    assert_int_equal(dd_fs_read_file(out, 4096, &text, &len), DD_FS_OK);
    assert_string_equal(text, "hello from the parent\noops\n");
    free(text);
    /* Reaped already: stopping is a no-op, and so is stopping twice. */
    dd_proc_stop(&p, 100);
    dd_proc_stop(&p, 100);
    dd_proc_describe_exit(&p, desc, sizeof(desc));
    assert_string_equal(desc, "exited with status 3");
}

static void test_dd_proc_spawn_missing_program(void **state)
{
    dd_proc_t p;
    char *argv[] = {"/nonexistent/ddlocal-no-such-program", NULL};
    char *empty[] = {NULL};

    (void)state;
    assert_int_equal(dd_proc_spawn(&p, "missing", argv, NULL, NULL), DD_PROC_SPAWN_FAILED);
    assert_int_equal(p.pid, 0);
    assert_false(dd_proc_alive(&p));
    assert_int_equal(dd_proc_spawn(&p, "x", empty, NULL, NULL), DD_PROC_BAD_PARAMETER);
    assert_int_equal(dd_proc_spawn(&p, "x", NULL, NULL, NULL), DD_PROC_BAD_PARAMETER);
    assert_int_equal(dd_proc_spawn(NULL, "x", argv, NULL, NULL), DD_PROC_BAD_PARAMETER);
}

static void test_dd_proc_wait_port(void **state)
{
    dd_proc_t p;
    dd_proc_t done;
    uint16_t port = 0;
    int64_t start;
    int fd;

    (void)state;
    spawn_sh(&p, "exec sleep 60", NULL, NULL);
    /* Something listens: ready at once. */
    fd = bound_socket(true, &port);
    assert_int_equal(dd_proc_wait_port(&p, port, 5000), DD_PROC_OK);
    close(fd);
    /* Nothing listens any more: the timeout is honoured. */
    start = dd_clock_mono_ms();
    assert_int_equal(dd_proc_wait_port(&p, port, 200), DD_PROC_TIMEOUT);
    assert_true(dd_clock_mono_ms() - start >= 200);
    assert_true(dd_clock_mono_ms() - start < 3000);
    /* A child that dies is not waited for until the deadline. */
    spawn_sh(&done, "exit 0", NULL, NULL);
    start = dd_clock_mono_ms();
    assert_int_equal(dd_proc_wait_port(&done, port, 10000), DD_PROC_EXITED);
    assert_true(dd_clock_mono_ms() - start < 5000);
    assert_int_equal(dd_proc_wait_port(&p, 0, 100), DD_PROC_BAD_PARAMETER);
    assert_int_equal(dd_proc_wait_port(NULL, port, 100), DD_PROC_BAD_PARAMETER);
    dd_proc_stop(&p, 2000);
}

static void test_dd_proc_wait_file(void **state)
{
    dd_proc_t p;
    char path[128];
    char script[256];
    int64_t start;

    (void)state;
    snprintf(path, sizeof(path), "%s/ready", dir);
    snprintf(script, sizeof(script), "sleep 0.2; : > %s; exec sleep 60", path);
    spawn_sh(&p, script, NULL, NULL);
    assert_false(dd_fs_exists(path));
    assert_int_equal(dd_proc_wait_file(&p, path, 5000), DD_PROC_OK);
    assert_true(dd_fs_exists(path));
    snprintf(path, sizeof(path), "%s/never", dir);
    start = dd_clock_mono_ms();
    assert_int_equal(dd_proc_wait_file(&p, path, 150), DD_PROC_TIMEOUT);
    assert_true(dd_clock_mono_ms() - start >= 150);
    dd_proc_stop(&p, 2000);
    /* The child is gone: no point waiting. */
    assert_int_equal(dd_proc_wait_file(&p, path, 10000), DD_PROC_EXITED);
    assert_int_equal(dd_proc_wait_file(&p, NULL, 100), DD_PROC_BAD_PARAMETER);
}

static void test_dd_proc_stop_sends_sigterm(void **state)
{
    dd_proc_t p;
    char desc[64];
    int64_t start;

    (void)state;
    spawn_sh(&p, "exec sleep 60", NULL, NULL);
    assert_true(dd_proc_alive(&p));
    start = dd_clock_mono_ms();
    dd_proc_stop(&p, 5000);
    /* SIGTERM ended it well within the grace. */
    assert_true(dd_clock_mono_ms() - start < 4000);
    assert_true(p.exited);
    assert_false(dd_proc_alive(&p));
    dd_proc_describe_exit(&p, desc, sizeof(desc));
    assert_non_null(strstr(desc, "killed by signal 15"));
    dd_proc_stop(&p, 5000);
}

static void test_dd_proc_stop_kills_after_grace(void **state)
{
    dd_proc_t p;
    char path[128];
    char script[256];
    char desc[64];
    int64_t start;

    (void)state;
    snprintf(path, sizeof(path), "%s/trapped", dir);
    /* The ignored SIGTERM survives exec; the file says the trap is set. */
    snprintf(script, sizeof(script), "trap '' TERM; : > %s; exec sleep 60", path);
    spawn_sh(&p, script, NULL, NULL);
    assert_int_equal(dd_proc_wait_file(&p, path, 5000), DD_PROC_OK);
    start = dd_clock_mono_ms();
    dd_proc_stop(&p, 300);
    assert_true(dd_clock_mono_ms() - start >= 300);
    assert_true(p.exited);
    assert_false(dd_proc_alive(&p));
    dd_proc_describe_exit(&p, desc, sizeof(desc));
    assert_non_null(strstr(desc, "killed by signal 9"));
}

static void test_dd_proc_signal(void **state)
{
    dd_proc_t p;
    char desc[64];

    (void)state;
    spawn_sh(&p, "exec sleep 60", NULL, NULL);
    dd_proc_signal(&p, SIGKILL);
    wait_exit(&p);
    dd_proc_describe_exit(&p, desc, sizeof(desc));
    assert_non_null(strstr(desc, "killed by signal 9"));
    /* Exited: nothing is sent to a pid that may have been reused. */
    dd_proc_signal(&p, SIGKILL);
    dd_proc_signal(NULL, SIGKILL);
}

static void test_dd_proc_ports(void **state)
{
    uint16_t port = 0;
    uint16_t taken;
    int fd;

    (void)state;
    assert_int_equal(dd_proc_free_port(&port), DD_PROC_OK);
    assert_true(port > 0);
    assert_int_equal(dd_proc_port_available("127.0.0.1", port), DD_PROC_OK);
    /* The port it gave can really be bound (and listened on). */
    taken = port;
    fd = bound_socket(true, &taken);
    assert_int_equal(taken, port);
    assert_int_equal(dd_proc_port_available("127.0.0.1", port), DD_PROC_IN_USE);
    close(fd);
    /* Bound without listening is taken too. */
    taken = 0;
    fd = bound_socket(false, &taken);
    assert_int_equal(dd_proc_port_available("127.0.0.1", taken), DD_PROC_IN_USE);
    close(fd);
    assert_int_equal(dd_proc_port_available("not-an-address", port), DD_PROC_BAD_PARAMETER);
    assert_int_equal(dd_proc_port_available(NULL, port), DD_PROC_BAD_PARAMETER);
    assert_int_equal(dd_proc_free_port(NULL), DD_PROC_BAD_PARAMETER);
}

static void test_dd_proc_describe_exit_and_strerror(void **state)
{
    dd_proc_t p;
    char desc[64];

    (void)state;
    memset(&p, 0, sizeof(p));
    p.exited = true;
    p.exit_status = 1 << 8; /* as waitpid() reports exit(1) */
    dd_proc_describe_exit(&p, desc, sizeof(desc));
    assert_string_equal(desc, "exited with status 1");
    p.exit_status = SIGSEGV;
    dd_proc_describe_exit(&p, desc, sizeof(desc));
    assert_string_equal(desc, "was killed by signal 11");
    dd_proc_describe_exit(NULL, desc, sizeof(desc));
    assert_string_equal(desc, "is running");
    /* A short buffer is truncated, still terminated. */
    dd_proc_describe_exit(&p, desc, 5);
    assert_string_equal(desc, "was ");
    assert_string_equal(dd_proc_strerror(DD_PROC_TIMEOUT), "timed out");
    assert_string_equal(dd_proc_strerror(DD_PROC_IN_USE), "port in use");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_proc_exit_status_env_and_output, setup, teardown),
        cmocka_unit_test(test_dd_proc_spawn_missing_program),
        cmocka_unit_test(test_dd_proc_wait_port),
        cmocka_unit_test_setup_teardown(test_dd_proc_wait_file, setup, teardown),
        cmocka_unit_test(test_dd_proc_stop_sends_sigterm),
        cmocka_unit_test_setup_teardown(test_dd_proc_stop_kills_after_grace, setup, teardown),
        cmocka_unit_test(test_dd_proc_signal),
        cmocka_unit_test(test_dd_proc_ports),
        cmocka_unit_test(test_dd_proc_describe_exit_and_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
