/*
 * Issue 6: the device programs' behaviour against a real pipeline (the
 * ddpipetest harness: `ddlocal up` on free loopback ports, manual clock),
 * asserted from what the programs log and what a subscriber receives:
 *
 * - ddlocal-agent logs each reply: `report R accepted (...)` for its
 *   report R, and `report R rejected: Throttled: ...` when `up --throttle`
 *   refuses a second report at the same pipeline time; a report sent after
 *   the manual clock moved 300 s on is accepted again;
 * - a report ddlocald never answers (ddlocald stopped with SIGSTOP) is
 *   logged as `no reply to report R within 1.0 s` (--reply-timeout), and
 *   reaches the store once ddlocald continues;
 * - SIGTERM and SIGINT end the agent and the sensor with status 0, their
 *   summary line, and an MQTT DISCONNECT (the broker logs "disconnected");
 * - a root CA that did not sign the broker's certificate is refused by
 *   both: the log says `certificate verify failed`, nothing is published;
 * - the sensor's messages as a subscriber receives them: QoS 0, a
 *   temperature dd.dd in 15.1-29.9 (the values it logged), or with
 *   --compromised 3000 characters of [A-Z0-9];
 * - the agent reconnects after the broker dropped it (Thing03 put into a
 *   DenyAll group through the API, then taken out), logs the refusal once
 *   per streak, its next report is accepted and covers one interval: the
 *   reports due while it was down were measured and dropped, not folded
 *   into the next one; the sensor reconnects by itself the same way;
 * - two sensors started with one name (so one client id) evict each other,
 *   and each says that is the likely reason.
 *
 * The agent's own timers (interval, reply timeout, backoff) are real
 * time; every wait here polls with a deadline, none is a fixed sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "dd_clock.h"
#include "dd_fs.h"
#include "dd_pipetest.h"
#include "dd_pki.h"

#define WAIT_MS 20000
#define AGENT_CLIENT "SensorDevice03"
#define THING "Thing03"
#define MAX_DEVICES 8

typedef struct device {
    dd_proc_t proc;
    char log[300];
    bool used;
} device_t;

typedef struct fixture {
    dd_pipetest_t pt;
    char cert[600];
    char key[600];
    char endpoint[64]; /* "127.0.0.1:P" */
    device_t devices[MAX_DEVICES];
    unsigned runs;
    bool test_passed;
    bool all_passed;
    pid_t stopped_ddlocald; /* SIGSTOPped by a test: SIGCONT it in teardown */
} fixture_t;

/* ---- helpers -------------------------------------------------------------------------------- */

static char *read_log(const char *path)
{
    char *text = NULL;

    if (dd_fs_read_file(path, 64u << 20, &text, NULL) != DD_FS_OK) {
        free(text);
        return NULL;
    }
    return text;
}

/* Lines of @p text, from byte @p from on, that contain @p needle. */
static int count_in(const char *text, size_t from, const char *needle)
{
    const char *p;
    int n = 0;

    if (text == NULL || from > strlen(text)) {
        return 0;
    }
    for (p = text + from; (p = strstr(p, needle)) != NULL; n++) {
        p = strchr(p, '\n');
        if (p == NULL) {
            return n + 1;
        }
    }
    return n;
}

static int log_count(const char *path, const char *needle)
{
    char *text = read_log(path);
    int n = count_in(text, 0, needle);

    free(text);
    return n;
}

/* Byte offset just past the @p nth (1-based) line containing @p needle, or -1. */
static long offset_after(const char *text, const char *needle, int nth)
{
    const char *p = text;
    int seen = 0;

    while (text != NULL && (p = strstr(p, needle)) != NULL) {
        const char *eol = strchr(p, '\n');

        if (++seen == nth) {
            return eol != NULL ? (long)(eol + 1 - text) : (long)strlen(text);
        }
        if (eol == NULL) {
            break;
        }
        p = eol + 1;
    }
    return -1;
}

static bool device_alive(device_t *d)
{
    return d->proc.pid > 0 && dd_proc_alive(&d->proc);
}

/*
 * Waits until @p n lines of the device's log contain @p needle (after the
 * @p after_nth line holding @p after, when given). false at the deadline, or
 * when the device exited without writing them.
 */
static bool wait_log_after(device_t *d, const char *after, int after_nth, const char *needle, int n,
                           int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;

    for (;;) {
        bool alive = device_alive(d);
        char *text = read_log(d->log);
        long from = after == NULL ? 0 : offset_after(text, after, after_nth);
        int have = from < 0 ? 0 : count_in(text, (size_t)from, needle);

        free(text);
        if (have >= n) {
            return true;
        }
        if (!alive || dd_clock_mono_ms() > deadline) {
            fprintf(stderr, "device log %s: %d of %d line(s) with \"%s\"%s\n", d->log, have, n,
                    needle, alive ? " at the deadline" : " when it exited");
            return false;
        }
        dd_clock_sleep_ms(20);
    }
}

static bool wait_log(device_t *d, const char *needle, int n, int timeout_ms)
{
    return wait_log_after(d, NULL, 0, needle, n, timeout_ms);
}

/* Starts a device program; its stdout+stderr go to TMP/NAME-K.log. */
static device_t *device_start(fixture_t *f, const char *name, char *const argv[])
{
    device_t *d = NULL;
    size_t i;

    for (i = 0; i < MAX_DEVICES; i++) {
        if (!f->devices[i].used) {
            d = &f->devices[i];
            break;
        }
    }
    assert_non_null(d);
    memset(d, 0, sizeof(*d));
    d->used = true;
    {
        char log[sizeof(d->log)];

        (void)snprintf(log, sizeof(log), "%s/%s-%u.log", f->pt.tmp_dir, name, f->runs++);
        memcpy(d->log, log, sizeof(log));
    }
    assert_int_equal(dd_proc_spawn(&d->proc, name, argv, NULL, d->log), DD_PROC_OK);
    return d;
}

/* Waits for the device to exit; returns its exit status, 128+N for signal N, -1 (killed) on
 * timeout. Fails the test when its log holds a sanitizer report. */
static int device_wait(device_t *d, int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    int st;

    while (device_alive(d)) {
        if (dd_clock_mono_ms() > deadline) {
            fprintf(stderr, "%s did not exit within %d ms; killing it\n", d->proc.name, timeout_ms);
            dd_proc_stop(&d->proc, 0);
            return -1;
        }
        dd_clock_sleep_ms(20);
    }
    assert_int_equal(log_count(d->log, "ERROR: AddressSanitizer"), 0);
    assert_int_equal(log_count(d->log, "ERROR: LeakSanitizer"), 0);
    assert_int_equal(log_count(d->log, "runtime error:"), 0);
    st = d->proc.exit_status;
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

/* The agent as SensorDevice03 for Thing03 with @p ca as root CA, plus @p extra arguments. */
static device_t *agent_start(fixture_t *f, const char *name, const char *ca,
                             const char *const *extra)
{
    char *argv[40];
    int n = 0;

    argv[n++] = (char *)DD_AGENT_BIN;
    argv[n++] = "-e";
    argv[n++] = f->endpoint;
    argv[n++] = "-r";
    argv[n++] = (char *)(ca != NULL ? ca : f->pt.root_ca);
    argv[n++] = "-c";
    argv[n++] = f->cert;
    argv[n++] = "-k";
    argv[n++] = f->key;
    argv[n++] = "-id";
    argv[n++] = AGENT_CLIENT;
    argv[n++] = "-t";
    argv[n++] = THING;
    argv[n++] = "-v"; /* debug lines name each report id as it is published */
    while (extra != NULL && *extra != NULL && n < 38) {
        argv[n++] = (char *)*extra++;
    }
    argv[n] = NULL;
    return device_start(f, name, argv);
}

/* The sensor on @p topic with @p ca as root CA, plus @p extra arguments. */
static device_t *sensor_start(fixture_t *f, const char *name, const char *topic, const char *ca,
                              const char *const *extra)
{
    char *argv[40];
    int n = 0;

    argv[n++] = (char *)DD_SENSOR_BIN;
    argv[n++] = "-t";
    argv[n++] = (char *)topic;
    argv[n++] = "-n";
    argv[n++] = AGENT_CLIENT;
    argv[n++] = "-e";
    argv[n++] = f->endpoint;
    argv[n++] = "-r";
    argv[n++] = (char *)(ca != NULL ? ca : f->pt.root_ca);
    argv[n++] = "-c";
    argv[n++] = f->cert;
    argv[n++] = "-k";
    argv[n++] = f->key;
    while (extra != NULL && *extra != NULL && n < 38) {
        argv[n++] = (char *)*extra++;
    }
    argv[n] = NULL;
    return device_start(f, name, argv);
}

/* Report ids from the agent's "report R published to" lines, in order. */
static size_t published_ids(const device_t *d, uint64_t *ids, size_t max)
{
    char *text = read_log(d->log);
    const char *p = text;
    size_t n = 0;

    while (p != NULL && n < max && (p = strstr(p, "info: report ")) != NULL) {
        uint64_t id = 0;
        int used = 0;

        if (sscanf(p, "info: report %" SCNu64 " published to%n", &id, &used) == 1 && used > 0) {
            ids[n++] = id;
        }
        p += strlen("info: report ");
    }
    free(text);
    return n;
}

/* A number from the agent's summary line, e.g. "accepted" in "..., 1 accepted, ...". */
static long summary_number(const device_t *d, const char *what)
{
    char *text = read_log(d->log);
    const char *line = text == NULL ? NULL : strstr(text, "report(s) published");
    char needle[64];
    long value = -1;

    if (line != NULL) {
        const char *eol = strchr(line, '\n');
        const char *at;

        (void)snprintf(needle, sizeof(needle), " %s", what);
        at = strstr(line, needle);
        if (at != NULL && (eol == NULL || at < eol)) {
            /* Back up over the number before " what". */
            const char *start = at;

            while (start > text && isdigit((unsigned char)start[-1])) {
                start--;
            }
            if (start < at) {
                value = strtol(start, NULL, 10);
            }
        }
    }
    free(text);
    return value;
}

static void format_line(char *buf, size_t len, const char *fmt, uint64_t id)
{
    /* cppcheck-suppress wrongPrintfScanfArgNum - every fmt has one %" PRIu64 " */
    (void)snprintf(buf, len, fmt, id);
}

/* ---- setup ---------------------------------------------------------------------------------- */

static int group_teardown(void **state);

static int group_setup_with(void **state, const char *const *up_args)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dd_pipetest_options_t o;
    char policy[700];
    dd_pipetest_mqtt_t *probe = NULL;
    int64_t deadline;

    if (f == NULL) {
        return -1;
    }
    *state = f;
    f->all_passed = true;
    memset(&o, 0, sizeof(o));
    o.extra_args = up_args;
    if (dd_pipetest_start(&f->pt, &o) != DD_PIPETEST_OK) {
        free(f);
        *state = NULL;
        return -1;
    }
    (void)snprintf(f->endpoint, sizeof(f->endpoint), "127.0.0.1:%u", (unsigned)f->pt.mqtt_port);
    /* Thing03 with its own certificate and an allow-all policy; IsolatedDevices denies all. */
    dd_pipetest_fixture("policies/device-policy-allow-all.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DevicePolicy", policy, NULL) != 0 ||
        dd_pipetest_thing(&f->pt, THING, "DevicePolicy", f->cert, f->key) != DD_PIPETEST_OK) {
        goto fail;
    }
    dd_pipetest_fixture("policies/deny-all.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DenyAll", policy, NULL) != 0 ||
        dd_pipetest_cli(&f->pt, NULL, "group", "create", "IsolatedDevices", NULL) != 0 ||
        dd_pipetest_cli(&f->pt, NULL, "policy", "attach", "DenyAll", "--group", "IsolatedDevices",
                        NULL) != 0) {
        goto fail;
    }
    /* The CLI's registry changes reach the shim shortly after: wait until the certificate
     * connects, so the devices' first attempt is not refused. */
    if (dd_pipetest_mqtt_new(&f->pt, "probe-" THING, f->cert, f->key, true, &probe) !=
        DD_PIPETEST_OK) {
        goto fail;
    }
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_mqtt_connect(probe, WAIT_MS) != 0) {
        if (dd_clock_mono_ms() > deadline) {
            dd_pipetest_mqtt_destroy(probe);
            goto fail;
        }
        dd_clock_sleep_ms(50);
    }
    dd_pipetest_mqtt_destroy(probe);
    return 0;
fail:
    f->all_passed = false;
    (void)group_teardown(state);
    *state = NULL;
    return -1;
}

static int group_setup(void **state)
{
    return group_setup_with(state, NULL);
}

static int group_setup_throttled(void **state)
{
    static const char *const args[] = {"--throttle", NULL};

    return group_setup_with(state, args);
}

static int group_teardown(void **state)
{
    fixture_t *f = *state;
    int rc;

    if (f == NULL) {
        return 0;
    }
    f->pt.passed = f->all_passed;
    rc = dd_pipetest_stop(&f->pt);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int test_setup(void **state)
{
    fixture_t *f = *state;

    f->test_passed = false;
    return 0;
}

/* Continues ddlocald, stops the devices a failed test left running, shows their logs. */
static int test_teardown(void **state)
{
    fixture_t *f = *state;
    size_t i;

    if (f->stopped_ddlocald > 0) {
        (void)kill(f->stopped_ddlocald, SIGCONT);
        f->stopped_ddlocald = 0;
    }
    for (i = 0; i < MAX_DEVICES; i++) {
        device_t *d = &f->devices[i];
        char *text;

        if (!d->used) {
            continue;
        }
        if (device_alive(d)) {
            dd_proc_stop(&d->proc, 2000);
        }
        if (!f->test_passed) {
            text = read_log(d->log);
            fprintf(stderr, "---- %s ----\n%s\n", d->log, text != NULL ? text : "(no log)");
            free(text);
        }
        d->used = false;
    }
    if (!f->test_passed) {
        f->all_passed = false;
    }
    return 0;
}

/* ---- 1. reply logging ----------------------------------------------------------------------- */

/* `up --throttle`, clock not moving: report 1 accepted, report 2 Throttled, both logged with
 * their ids; 300 s of pipeline time later a report is accepted again. */
static void test_device_agent_logs_accepted_and_rejected(void **state)
{
    fixture_t *f = *state;
    static const char *const two[] = {"-i", "0.2", "--count", "2", NULL};
    static const char *const one[] = {"-i", "0.2", "--once", NULL};
    device_t *d;
    uint64_t ids[4];
    char line[256];
    double accepted_before = 0;
    double accepted_after = 0;

    d = agent_start(f, "agent-throttled", NULL, two);
    assert_int_equal(device_wait(d, WAIT_MS * 2), 1); /* a rejected report: not complete */
    assert_int_equal(published_ids(d, ids, 4), 2);
    assert_true(ids[1] > ids[0]);
    format_line(line, sizeof(line), "info: report %" PRIu64 " accepted (", ids[0]);
    assert_int_equal(log_count(d->log, line), 1);
    format_line(line, sizeof(line),
                "warning: report %" PRIu64 " rejected: Throttled: Device metric reports are "
                "throttled to one per 5 minutes",
                ids[1]);
    assert_int_equal(log_count(d->log, line), 1);
    /* Exactly one reply line each, and the summary counts them. */
    assert_int_equal(log_count(d->log, " accepted ("), 1);
    assert_int_equal(log_count(d->log, " rejected: "), 1);
    assert_int_equal(summary_number(d, "accepted"), 1);
    assert_int_equal(summary_number(d, "rejected"), 1);
    assert_int_equal(summary_number(d, "without reply"), 0);

    /* The throttle counts pipeline time: move the manual clock past 300 s. */
    assert_int_equal(dd_pipetest_status_number(&f->pt, "reportsAccepted", &accepted_before),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 300, NULL), DD_PIPETEST_OK);
    d = agent_start(f, "agent-after-300s", NULL, one);
    assert_int_equal(device_wait(d, WAIT_MS * 2), 0);
    assert_int_equal(published_ids(d, ids, 4), 1);
    format_line(line, sizeof(line), "info: report %" PRIu64 " accepted (", ids[0]);
    assert_int_equal(log_count(d->log, line), 1);
    assert_int_equal(log_count(d->log, " rejected: "), 0);
    assert_int_equal(dd_pipetest_status_number(&f->pt, "reportsAccepted", &accepted_after),
                     DD_PIPETEST_OK);
    assert_true(accepted_after == accepted_before + 1);
    f->test_passed = true;
}

/* ---- 2. missing reply ----------------------------------------------------------------------- */

static int64_t stored_reports(fixture_t *f, uint64_t id)
{
    char sql[128];
    int64_t n = -1;

    (void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM ev_reports WHERE report_id = %" PRIu64,
                   id);
    assert_int_equal(dd_pipetest_db_int(&f->pt, sql, &n), DD_PIPETEST_OK);
    return n;
}

/* ddlocald stopped: the broker takes the report (PUBACK) but nobody answers; the agent logs
 * the missing reply after --reply-timeout and exits 1. Continued, ddlocald stores it. */
static void test_device_agent_logs_missing_reply(void **state)
{
    fixture_t *f = *state;
    static const char *const once[] = {"-i", "0.2", "--once", "--reply-timeout", "1", NULL};
    pid_t ddlocald = dd_pipetest_ddlocald_pid(&f->pt);
    device_t *d;
    uint64_t ids[2];
    char line[256];
    int64_t deadline;

    assert_true(ddlocald > 0);
    assert_int_equal(kill(ddlocald, SIGSTOP), 0);
    f->stopped_ddlocald = ddlocald;
    d = agent_start(f, "agent-no-reply", NULL, once);
    assert_int_equal(device_wait(d, WAIT_MS * 2), 1);
    assert_int_equal(published_ids(d, ids, 2), 1);
    format_line(line, sizeof(line), "warning: no reply to report %" PRIu64 " within 1.0 s", ids[0]);
    assert_int_equal(log_count(d->log, line), 1);
    assert_int_equal(log_count(d->log, " accepted ("), 0);
    assert_int_equal(log_count(d->log, "1 report(s) published, 0 accepted, 0 rejected, "
                                       "1 without reply"),
                     1);

    /* Continued, ddlocald takes the report the broker kept for it. */
    assert_int_equal(kill(ddlocald, SIGCONT), 0);
    f->stopped_ddlocald = 0;
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (stored_reports(f, ids[0]) != 1) {
        assert_true(dd_clock_mono_ms() < deadline);
        dd_clock_sleep_ms(50);
    }
    f->test_passed = true;
}

/* ---- 3. signals and TLS verification -------------------------------------------------------- */

static int broker_disconnects(fixture_t *f, const char *client)
{
    char needle[128];

    (void)snprintf(needle, sizeof(needle), "Client %s disconnected.", client);
    return dd_pipetest_log_count(&f->pt, "broker/mosquitto.log", needle);
}

static void wait_broker_disconnects(fixture_t *f, const char *client, int n)
{
    int64_t deadline = dd_clock_mono_ms() + WAIT_MS;

    while (broker_disconnects(f, client) < n) {
        assert_true(dd_clock_mono_ms() < deadline);
        dd_clock_sleep_ms(20);
    }
}

/* A running agent (no --count) ends on SIGTERM and on SIGINT with status 0, its summary, and a
 * DISCONNECT the broker logs. */
static void test_device_agent_clean_exit_on_signals(void **state)
{
    fixture_t *f = *state;
    static const char *const forever[] = {"-i", "0.2", NULL};
    static const int sigs[] = {SIGTERM, SIGINT};
    size_t i;

    for (i = 0; i < 2; i++) {
        int before = broker_disconnects(f, AGENT_CLIENT);
        device_t *d =
            agent_start(f, sigs[i] == SIGTERM ? "agent-sigterm" : "agent-sigint", NULL, forever);

        assert_true(wait_log(d, " accepted (", 1, WAIT_MS));
        dd_proc_signal(&d->proc, sigs[i]);
        assert_int_equal(device_wait(d, WAIT_MS), 0);
        assert_int_equal(log_count(d->log, "report(s) published, "), 1);
        assert_true(summary_number(d, "accepted") >= 1);
        assert_int_equal(log_count(d->log, "info: CPU "), 1);
        assert_int_equal(log_count(d->log, "error:"), 0);
        wait_broker_disconnects(f, AGENT_CLIENT, before + 1);
    }
    f->test_passed = true;
}

/* The sensor (one connection, and a connection per message) ends on SIGTERM / SIGINT with 0. */
static void test_device_sensor_clean_exit_on_signals(void **state)
{
    fixture_t *f = *state;
    static const char *const persistent[] = {"-i", "0.2", "--persistent", NULL};
    static const char *const per_message[] = {"-i", "0.2", NULL};
    const char *client = AGENT_CLIENT "-telemetry";
    device_t *d;
    int before = broker_disconnects(f, client);

    d = sensor_start(f, "sensor-sigterm", "temperature-device-03", NULL, persistent);
    assert_true(wait_log(d, "info: sent 5 bytes to temperature-device-03: ", 2, WAIT_MS));
    dd_proc_signal(&d->proc, SIGTERM);
    assert_int_equal(device_wait(d, WAIT_MS), 0);
    assert_int_equal(log_count(d->log, "message(s) sent ("), 1);
    assert_int_equal(log_count(d->log, "error:"), 0);
    /* One connection, closed with a DISCONNECT at the signal. */
    wait_broker_disconnects(f, client, before + 1);

    d = sensor_start(f, "sensor-sigint", "temperature-device-03", NULL, per_message);
    assert_true(wait_log(d, "info: sent 5 bytes to temperature-device-03: ", 2, WAIT_MS));
    dd_proc_signal(&d->proc, SIGINT);
    assert_int_equal(device_wait(d, WAIT_MS), 0);
    assert_int_equal(log_count(d->log, "message(s) sent ("), 1);
    assert_int_equal(log_count(d->log, "error:"), 0);
    f->test_passed = true;
}

/* A root CA of another data dir (same subject "ddlocal Root CA", other key): the broker's
 * certificate does not verify, neither program connects, and each says why. */
static void test_device_wrong_ca_refused(void **state)
{
    fixture_t *f = *state;
    static const char *const once[] = {"-i", "0.2", "--once", "--timeout", "3", NULL};
    static const char *const persistent[] = {"-i", "0.2", "--persistent", "-v", NULL};
    char other_dir[200];
    char other_ca[300];
    dd_pki_ca_t *ca = NULL;
    dd_pipetest_mqtt_t *watch = NULL;
    dd_pipetest_msg_t *m = NULL;
    device_t *d;
    double accepted_before = 0;
    double accepted_after = 0;

    (void)snprintf(other_dir, sizeof(other_dir), "%s/other-ca", f->pt.tmp_dir);
    assert_int_equal(dd_pki_ca_ensure(other_dir, &ca), DD_PKI_OK);
    dd_pki_ca_free(ca);
    assert_int_equal(dd_pki_path(other_dir, DD_PKI_FILE_ROOTCA_CERT, other_ca, sizeof(other_ca)),
                     DD_PKI_OK);
    assert_int_equal(dd_pipetest_status_number(&f->pt, "reportsAccepted", &accepted_before),
                     DD_PIPETEST_OK);

    /* The agent: connection failed with OpenSSL's reason, retried, gave up; exit 1. */
    d = agent_start(f, "agent-wrong-ca", other_ca, once);
    assert_int_equal(device_wait(d, WAIT_MS), 1);
    assert_true(log_count(d->log, "warning: connection failed (") >= 1);
    assert_true(log_count(d->log, "certificate verify failed") >= 1);
    assert_int_equal(log_count(d->log, "connected to "), 0);
    assert_int_equal(log_count(d->log, " published to "), 0);
    assert_int_equal(log_count(d->log, "error: giving up after 3.0 s: 0 of 1 report(s) done"), 1);
    assert_int_equal(log_count(d->log, "0 report(s) published"), 1);

    /* The sensor: same refusal; nothing reaches a subscriber of its topic. */
    assert_int_equal(dd_pipetest_mqtt_new(&f->pt, "test-watch-wrong-ca", NULL, NULL, true, &watch),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_connect(watch, WAIT_MS), 0);
    assert_int_equal(dd_pipetest_mqtt_subscribe(watch, "temperature-wrong-ca", 1, WAIT_MS, NULL),
                     DD_PIPETEST_OK);
    d = sensor_start(f, "sensor-wrong-ca", "temperature-wrong-ca", other_ca, persistent);
    assert_true(wait_log(d, "certificate verify failed", 2, WAIT_MS)); /* first try and a retry */
    dd_proc_signal(&d->proc, SIGTERM);
    assert_int_equal(device_wait(d, WAIT_MS), 0);
    /* Warned once; the retries with the same reason are debug lines. */
    assert_int_equal(log_count(d->log, "warning: connection failed ("), 1);
    assert_true(log_count(d->log, "debug: connection failed again (") >= 1);
    assert_int_equal(log_count(d->log, "info: sent "), 0);
    assert_int_equal(log_count(d->log, "0 message(s) sent (0 bytes)"), 1);
    assert_int_equal(dd_pipetest_mqtt_wait_message(watch, "#", 200, &m), DD_PIPETEST_TIMEOUT);
    dd_pipetest_mqtt_destroy(watch);

    assert_int_equal(dd_pipetest_status_number(&f->pt, "reportsAccepted", &accepted_after),
                     DD_PIPETEST_OK);
    assert_true(accepted_after == accepted_before);
    f->test_passed = true;
}

/* ---- 4. the sensor on the wire -------------------------------------------------------------- */

static bool is_temperature(const dd_pipetest_msg_t *m, double *value)
{
    const char *p = (const char *)m->payload;

    if (m->len != 5 || !isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) ||
        p[2] != '.' || !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4])) {
        return false;
    }
    *value = strtod(p, NULL);
    return true;
}

static void test_device_sensor_on_the_wire(void **state)
{
    fixture_t *f = *state;
    static const char *const normal[] = {"-i", "0.1", "--count", "3", NULL};
    static const char *const compromised[] = {"-i", "0.1",           "--count",
                                              "2",  "--compromised", "--persistent",
                                              NULL};
    const char *topic = "temperature-device-03";
    dd_pipetest_mqtt_t *watch = NULL;
    device_t *d;
    int granted = -1;
    int i;

    assert_int_equal(dd_pipetest_mqtt_new(&f->pt, "test-watch-sensor", NULL, NULL, true, &watch),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_connect(watch, WAIT_MS), 0);
    /* Subscribed at QoS 1: a delivery at QoS 0 is the sensor's own QoS. */
    assert_int_equal(dd_pipetest_mqtt_subscribe(watch, topic, 1, WAIT_MS, &granted),
                     DD_PIPETEST_OK);
    assert_int_equal(granted, 1);

    d = sensor_start(f, "sensor-wire", topic, NULL, normal);
    assert_int_equal(device_wait(d, WAIT_MS), 0);
    for (i = 0; i < 3; i++) {
        dd_pipetest_msg_t *m = NULL;
        double v = 0;
        char line[128];

        assert_int_equal(dd_pipetest_mqtt_wait_message(watch, topic, WAIT_MS, &m), DD_PIPETEST_OK);
        assert_int_equal(m->qos, 0);
        assert_true(is_temperature(m, &v));
        assert_true(v >= 15.1 && v <= 29.9);
        /* What arrived is what the sensor says it sent. */
        (void)snprintf(line, sizeof(line), "info: sent 5 bytes to %s: %.5s", topic,
                       (const char *)m->payload);
        assert_true(log_count(d->log, line) >= 1);
        dd_pipetest_msg_free(m);
    }
    assert_int_equal(dd_pipetest_mqtt_queued(watch, NULL), 0);

    d = sensor_start(f, "sensor-wire-compromised", topic, NULL, compromised);
    assert_int_equal(device_wait(d, WAIT_MS), 0);
    for (i = 0; i < 2; i++) {
        dd_pipetest_msg_t *m = NULL;
        size_t j;

        assert_int_equal(dd_pipetest_mqtt_wait_message(watch, topic, WAIT_MS, &m), DD_PIPETEST_OK);
        assert_int_equal(m->qos, 0);
        assert_int_equal(m->len, 3000);
        for (j = 0; j < m->len; j++) {
            char c = (char)m->payload[j];

            assert_true((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
        }
        dd_pipetest_msg_free(m);
    }
    assert_int_equal(dd_pipetest_mqtt_queued(watch, NULL), 0);
    assert_int_equal(log_count(d->log, "info: sent 3000 bytes to temperature-device-03"), 2);
    dd_pipetest_mqtt_destroy(watch);
    f->test_passed = true;
}

/* ---- 5. reconnect after a lost connection --------------------------------------------------- */

static void thing_group(fixture_t *f, const char *op)
{
    char path[128];

    (void)snprintf(path, sizeof(path), "/thing-groups/%s", op);
    assert_int_equal(
        dd_pipetest_api(&f->pt, "PUT", path,
                        "{\"thingGroupName\":\"IsolatedDevices\",\"thingName\":\"" THING "\"}",
                        NULL, NULL),
        DD_PIPETEST_OK);
}

/* A copy of fixtures/proc/typical whose eth0 has sent @p eth0_out bytes. */
static void write_proc(const char *root, uint64_t eth0_out)
{
    static const char *const files[] = {"tcp", "tcp6", "udp", "udp6", "if_inet4", "if_inet6"};
    char path[600];
    char text[1024];
    size_t i;
    int n;

    (void)snprintf(path, sizeof(path), "%s/net", root);
    assert_int_equal(dd_fs_mkdirs(path, 0755), DD_FS_OK);
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char rel[64];
        char src[600];
        char *data = NULL;
        size_t len = 0;

        (void)snprintf(rel, sizeof(rel), "proc/typical/net/%s", files[i]);
        dd_pipetest_fixture(rel, src, sizeof(src));
        assert_int_equal(dd_fs_read_file(src, 1 << 20, &data, &len), DD_FS_OK);
        (void)snprintf(path, sizeof(path), "%s/net/%s", root, files[i]);
        assert_int_equal(dd_fs_write_atomic(path, data, len, 0644), DD_FS_OK);
        free(data);
    }
    n = snprintf(text, sizeof(text),
                 "Inter-|   Receive                                                |  Transmit\n"
                 " face |bytes    packets errs drop fifo frame compressed multicast|bytes    "
                 "packets errs drop fifo colls carrier compressed\n"
                 "    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n"
                 "  eth0: 50000 400 0 0 0 0 0 0 %" PRIu64 " 300 0 0 0 0 0 0\n",
                 eth0_out);
    (void)snprintf(path, sizeof(path), "%s/net/dev", root);
    assert_int_equal(dd_fs_write_atomic(path, text, (size_t)n, 0644), DD_FS_OK);
}

/*
 * Thing03 isolated through the API: the broker drops the agent and refuses
 * it (CONNACK 5), which the agent logs once however often it retries; the
 * reports due meanwhile are measured and dropped. Taken out of the group,
 * the agent reconnects by itself, and its first report covers one interval:
 * the 5 MB the device sent while it was refused went into a dropped report,
 * not into the report after reconnection (the agent reads a /proc copy
 * whose counters only this test moves).
 */
static void test_device_agent_reconnects(void **state)
{
    fixture_t *f = *state;
    char root[600];
    char *argv_proc[8];
    device_t *d;
    char *text;
    long from;
    int dropped;

    (void)snprintf(root, sizeof(root), "%s/proc-reconnect", f->pt.tmp_dir);
    write_proc(root, 20000);
    argv_proc[0] = "-i";
    argv_proc[1] = "0.2";
    argv_proc[2] = "--proc-root";
    argv_proc[3] = root;
    argv_proc[4] = NULL;
    d = agent_start(f, "agent-reconnect", NULL, (const char *const *)argv_proc);

    assert_true(wait_log(d, "info: connected to ", 1, WAIT_MS));
    assert_true(wait_log(d, " accepted (", 1, WAIT_MS));
    thing_group(f, "addThingToThingGroup");
    assert_true(wait_log(d, "warning: connection lost (", 1, WAIT_MS));
    assert_true(
        wait_log(d, "warning: connection failed (Connection Refused: not authorised.", 1, WAIT_MS));
    assert_true(wait_log(d, "warning: not connected: report ", 1, WAIT_MS));
    /* The device sends 5 MB while it is refused; two drops later a sample has seen them. */
    write_proc(root, 5020000);
    dropped = log_count(d->log, "not connected: report ");
    assert_true(wait_log(d, "not connected: report ", dropped + 2, WAIT_MS));
    /* Several refusals by now (backoff 0.5-1 s, then 1-2 s), one warning. */
    assert_true(wait_log(d, "debug: connection failed again (Connection Refused: not authorised.",
                         1, WAIT_MS));
    assert_int_equal(log_count(d->log, "warning: connection failed ("), 1);
    assert_int_equal(log_count(d->log, "warning: not connected: report "), 1);
    assert_int_equal(log_count(d->log, "bytes out 5000000,"), 1);
    thing_group(f, "removeThingFromThingGroup");
    /* Backoff capped at 5 s: back within seconds. */
    assert_true(wait_log(d, "info: connected to ", 2, WAIT_MS));
    assert_true(wait_log_after(d, "info: connected to ", 2, " accepted (", 1, WAIT_MS));
    assert_true(wait_log_after(d, "info: connected to ", 2,
                               "report(s) were dropped while not connected", 1, WAIT_MS));
    /* The first report after the reconnection: nothing was sent since the last dropped one. */
    text = read_log(d->log);
    from = offset_after(text, "info: connected to ", 2);
    assert_true(from > 0);
    {
        const char *line = strstr(text + from, " published to ");
        const char *eol = line == NULL ? NULL : strchr(line, '\n');

        assert_non_null(line);
        assert_non_null(eol);
        if (strstr(line, "bytes out 0,") == NULL || strstr(line, "bytes out 0,") > eol) {
            fail_msg("first report after reconnection: %.*s", (int)(eol - line), line);
        }
    }
    free(text);
    dd_proc_signal(&d->proc, SIGTERM);
    assert_int_equal(device_wait(d, WAIT_MS), 0);
    assert_true(summary_number(d, "dropped while disconnected") >= 2);
    assert_true(summary_number(d, "accepted") >= 2);
    f->test_passed = true;
}

/* The sensor as the agent: refused once logged, back by itself after release, sending again. */
static void test_device_sensor_reconnects(void **state)
{
    fixture_t *f = *state;
    static const char *const persistent[] = {"-i", "0.2", "--persistent", "-v", NULL};
    device_t *d = sensor_start(f, "sensor-reconnect", "temperature-device-03", NULL, persistent);

    assert_true(wait_log(d, "info: sent 5 bytes to temperature-device-03", 1, WAIT_MS));
    thing_group(f, "addThingToThingGroup");
    assert_true(wait_log(d, "warning: connection lost (", 1, WAIT_MS));
    assert_true(wait_log(d, "debug: connection failed again (Connection Refused: not authorised.",
                         1, WAIT_MS));
    assert_int_equal(log_count(d->log, "warning: connection failed ("), 1);
    thing_group(f, "removeThingFromThingGroup");
    assert_true(wait_log(d, " failed attempts", 1, WAIT_MS));
    assert_true(wait_log_after(d, " failed attempts", 1,
                               "info: sent 5 bytes to temperature-device-03", 2, WAIT_MS));
    dd_proc_signal(&d->proc, SIGTERM);
    assert_int_equal(device_wait(d, WAIT_MS), 0);
    f->test_passed = true;
}

/* Two sensors with one name evict each other; each says what is the likely reason. */
static void test_device_sensor_same_client_id_hint(void **state)
{
    fixture_t *f = *state;
    static const char *const persistent[] = {"-i", "0.5", "--persistent", NULL};
    device_t *a = sensor_start(f, "sensor-twin-a", "temperature-device-03", NULL, persistent);
    device_t *b;

    assert_true(wait_log(a, "info: sent 5 bytes", 1, WAIT_MS));
    b = sensor_start(f, "sensor-twin-b", "temperature-device-03", NULL, persistent);
    assert_true(wait_log(a, "is another sensor with -n " AGENT_CLIENT " running?", 1, WAIT_MS));
    assert_true(wait_log(a, "the same client id (" AGENT_CLIENT "-telemetry)", 1, WAIT_MS));
    dd_proc_signal(&a->proc, SIGTERM);
    dd_proc_signal(&b->proc, SIGTERM);
    assert_int_equal(device_wait(a, WAIT_MS), 0);
    assert_int_equal(device_wait(b, WAIT_MS), 0);
    f->test_passed = true;
}

int main(void)
{
    const struct CMUnitTest throttled[] = {
        cmocka_unit_test_setup_teardown(test_device_agent_logs_accepted_and_rejected, test_setup,
                                        test_teardown),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_device_agent_logs_missing_reply, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_device_agent_clean_exit_on_signals, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_device_sensor_clean_exit_on_signals, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_device_wrong_ca_refused, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_device_sensor_on_the_wire, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_device_agent_reconnects, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_device_sensor_reconnects, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_device_sensor_same_client_id_hint, test_setup,
                                        test_teardown),
    };
    int failed = 0;

    signal(SIGPIPE, SIG_IGN);
    /* The pipeline here runs a manual clock the devices cannot follow: real seconds, always. */
    (void)unsetenv("DDLOCAL_CLOCK");
    (void)unsetenv("DDLOCAL_DATA_DIR");
    failed += cmocka_run_group_tests_name("device_throttled", throttled, group_setup_throttled,
                                          group_teardown);
    failed += cmocka_run_group_tests_name("device_lifecycle", tests, group_setup, group_teardown);
    return failed;
}
