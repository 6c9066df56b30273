#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dd_endpoints.h"
#include "dd_fs.h"

static char g_dir[64];

static int setup(void **state)
{
    (void)state;
    (void)snprintf(g_dir, sizeof(g_dir), "/tmp/dd_endpoints_test.XXXXXX");
    return mkdtemp(g_dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return dd_fs_remove_tree(g_dir) == DD_FS_OK ? 0 : -1;
}

static void fill(dd_endpoints_t *ep, int pid)
{
    memset(ep, 0, sizeof(*ep));
    (void)snprintf(ep->mqtt_host, sizeof(ep->mqtt_host), "127.0.0.1");
    ep->mqtt_port = 18883;
    ep->alpn_port = 18443;
    (void)snprintf(ep->api, sizeof(ep->api), "http://127.0.0.1:28443");
    (void)snprintf(ep->root_ca, sizeof(ep->root_ca), "%s/pki/rootca.pem", g_dir);
    (void)snprintf(ep->clock, sizeof(ep->clock), "manual:1000");
    assert_int_equal(dd_endpoints_proc_init(&ep->up, "ddlocal", pid), DD_ENDPOINTS_OK);
}

/* A child that exits at once: a pid that existed and is gone once reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(0);
    }
    return pid;
}

static void test_dd_endpoints_roundtrip_running(void **state)
{
    dd_endpoints_t ep;
    dd_endpoints_t got;

    (void)state;
    fill(&ep, (int)getpid());
    assert_int_equal(dd_endpoints_proc_init(&ep.procs[0], "ddlocald", (int)getpid()),
                     DD_ENDPOINTS_OK);
    ep.proc_count = 1;
    assert_int_equal(dd_endpoints_write(g_dir, &ep), DD_ENDPOINTS_OK);
    assert_int_equal(dd_endpoints_read(g_dir, &got), DD_ENDPOINTS_OK);
    assert_string_equal(got.mqtt_host, "127.0.0.1");
    assert_int_equal(got.mqtt_port, 18883);
    assert_int_equal(got.alpn_port, 18443);
    assert_string_equal(got.api, "http://127.0.0.1:28443");
    assert_string_equal(got.clock, "manual:1000");
    assert_int_equal(got.up.pid, getpid());
    assert_true(got.up.start > 0);
    assert_int_equal(got.proc_count, 1);
    assert_string_equal(got.procs[0].name, "ddlocald");
    assert_true(dd_endpoints_proc_alive(&got.procs[0]));
}

/* ddlocald's live scale change: the clock member changes, everything else stays. */
static void test_dd_endpoints_set_clock_keeps_the_rest(void **state)
{
    dd_endpoints_t ep;
    dd_endpoints_t got;

    (void)state;
    assert_int_equal(dd_endpoints_set_clock(g_dir, "scaled:600:1:2"), DD_ENDPOINTS_NOT_RUNNING);
    fill(&ep, (int)getpid());
    assert_int_equal(dd_endpoints_proc_init(&ep.procs[0], "ddlocald", (int)getpid()),
                     DD_ENDPOINTS_OK);
    ep.proc_count = 1;
    assert_int_equal(dd_endpoints_write(g_dir, &ep), DD_ENDPOINTS_OK);
    assert_int_equal(dd_endpoints_set_clock(g_dir, "scaled:600:1000:2000"), DD_ENDPOINTS_OK);
    assert_int_equal(dd_endpoints_read(g_dir, &got), DD_ENDPOINTS_OK);
    assert_string_equal(got.clock, "scaled:600:1000:2000");
    assert_string_equal(got.api, "http://127.0.0.1:28443");
    assert_int_equal(got.mqtt_port, 18883);
    assert_int_equal(got.up.pid, getpid());
    assert_int_equal(got.proc_count, 1);
    assert_string_equal(got.procs[0].name, "ddlocald");
    assert_int_equal(dd_endpoints_set_clock(NULL, "real"), DD_ENDPOINTS_BAD_PARAMETER);
    assert_int_equal(dd_endpoints_set_clock(g_dir, NULL), DD_ENDPOINTS_BAD_PARAMETER);
}

static void test_dd_endpoints_missing_is_not_running(void **state)
{
    dd_endpoints_t got;

    (void)state;
    assert_int_equal(dd_endpoints_read(g_dir, &got), DD_ENDPOINTS_NOT_RUNNING);
    assert_int_equal(dd_endpoints_read(NULL, &got), DD_ENDPOINTS_BAD_PARAMETER);
    assert_int_equal(dd_endpoints_read(g_dir, NULL), DD_ENDPOINTS_BAD_PARAMETER);
}

/* The file of a killed writer: its pid is gone. */
static void test_dd_endpoints_dead_writer_is_stale(void **state)
{
    dd_endpoints_t ep;
    dd_endpoints_t got;
    pid_t pid = dead_pid();

    (void)state;
    fill(&ep, (int)getpid());
    ep.up.pid = (int)pid;
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_int_equal(dd_endpoints_write(g_dir, &ep), DD_ENDPOINTS_OK);
    assert_int_equal(dd_endpoints_read(g_dir, &got), DD_ENDPOINTS_STALE);
    assert_int_equal(got.up.pid, pid);
    assert_string_equal(got.api, "http://127.0.0.1:28443");
}

/* A live pid with another start time is another process (the pid was reused). */
static void test_dd_endpoints_reused_pid_is_stale(void **state)
{
    dd_endpoints_t ep;
    dd_endpoints_t got;

    (void)state;
    fill(&ep, (int)getpid());
    ep.up.start += 1;
    assert_int_equal(dd_endpoints_write(g_dir, &ep), DD_ENDPOINTS_OK);
    assert_int_equal(dd_endpoints_read(g_dir, &got), DD_ENDPOINTS_STALE);
}

/* An exited but unreaped child is not running. */
static void test_dd_endpoints_zombie_is_not_alive(void **state)
{
    dd_endpoints_proc_t proc;
    pid_t pid = fork();
    siginfo_t info;

    (void)state;
    assert_true(pid >= 0);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(dd_endpoints_proc_init(&proc, "child", (int)pid), DD_ENDPOINTS_OK);
    assert_true(dd_endpoints_proc_alive(&proc));
    assert_int_equal(kill(pid, SIGKILL), 0);
    /* Wait for the exit without reaping it (WNOWAIT): the child stays a zombie. */
    assert_int_equal(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
    assert_false(dd_endpoints_proc_alive(&proc));
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_false(dd_endpoints_proc_alive(&proc));
}

/* A file of an older ddlocal: "pid" without a start time, judged by the process name. */
static void test_dd_endpoints_old_file_without_start_time(void **state)
{
    char path[128];
    char text[256];
    dd_endpoints_t got;
    int n;

    (void)state;
    n = snprintf(text, sizeof(text),
                 "{\"mqtt\": \"127.0.0.1:1\", \"mqttAlpn\": \"127.0.0.1:2\", \"api\": "
                 "\"http://127.0.0.1:3\", \"rootCa\": \"x\", \"pid\": %d}\n",
                 (int)getpid());
    (void)snprintf(path, sizeof(path), "%s/endpoints.json", g_dir);
    assert_int_equal(dd_fs_write_atomic(path, text, (size_t)n, 0644), DD_FS_OK);
    /* This test program is not called "ddlocal": a foreign process holds the pid. */
    assert_int_equal(dd_endpoints_read(g_dir, &got), DD_ENDPOINTS_STALE);
    assert_int_equal(got.mqtt_port, 1);
}

static void test_dd_endpoints_bad_format(void **state)
{
    char path[128];
    dd_endpoints_t got;
    static const char *const BAD[] = {
        "not json",
        "[1]",
        "{\"api\": \"http://127.0.0.1:3\", \"pid\": 1}",                    /* no mqtt */
        "{\"mqtt\": \"127.0.0.1:0\", \"api\": \"http://x:3\", \"pid\": 1}", /* port 0 */
        "{\"mqtt\": \"127.0.0.1:1\", \"api\": \"http://x:3\"}",             /* no pid */
    };
    size_t i;

    (void)state;
    (void)snprintf(path, sizeof(path), "%s/endpoints.json", g_dir);
    for (i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        assert_int_equal(dd_fs_write_atomic(path, BAD[i], strlen(BAD[i]), 0644), DD_FS_OK);
        assert_int_equal(dd_endpoints_read(g_dir, &got), DD_ENDPOINTS_BAD_FORMAT);
    }
}

static void test_dd_endpoints_bad_parameters(void **state)
{
    dd_endpoints_t ep;
    dd_endpoints_proc_t proc;

    (void)state;
    memset(&ep, 0, sizeof(ep));
    assert_int_equal(dd_endpoints_write(g_dir, &ep), DD_ENDPOINTS_BAD_PARAMETER);
    assert_int_equal(dd_endpoints_write(NULL, &ep), DD_ENDPOINTS_BAD_PARAMETER);
    assert_int_equal(dd_endpoints_proc_init(&proc, "x", 0), DD_ENDPOINTS_BAD_PARAMETER);
    assert_int_equal(dd_endpoints_proc_init(NULL, "x", 1), DD_ENDPOINTS_BAD_PARAMETER);
    assert_false(dd_endpoints_proc_alive(NULL));
    assert_string_equal(dd_endpoints_strerror(DD_ENDPOINTS_OK), "ok");
    assert_non_null(strstr(dd_endpoints_strerror(DD_ENDPOINTS_STALE), "stale"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_endpoints_roundtrip_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_endpoints_set_clock_keeps_the_rest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_endpoints_missing_is_not_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_endpoints_dead_writer_is_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_endpoints_reused_pid_is_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_endpoints_zombie_is_not_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_endpoints_old_file_without_start_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_endpoints_bad_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_endpoints_bad_parameters, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
