/*
 * The device programs against a running pipeline (`ddlocal up`): the agent
 * gets /accepted for every report (JSON long keys, CBOR short keys, the
 * ALPN listener), the sensor's two modes publish, and a small fleet
 * scenario gets exactly its expected number of accepted reports; with
 * DDLOCAL_DATA_DIR set, agent and sensor follow the pipeline's clock.
 *
 * Needs, as compile definitions: DD_DDLOCAL_BIN, DD_AGENT_BIN,
 * DD_SENSOR_BIN (the programs) and DD_SOURCE_DIR (fixtures).
 * The pipeline runs at --time-scale 600 on free loopback ports; results are
 * awaited with deadlines, never fixed sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_fs.h"

extern char **environ;

#define PIPELINE_START_S 60
#define PROGRAM_TIMEOUT_S 120

typedef struct pipeline {
    char dir[64];
    pid_t up;
    char mqtt[64]; /* "127.0.0.1:P" */
    char alpn_port[16];
    char mqtt_port[16];
    char root_ca[600];
    char cert[700];
    char key[700];
} pipeline_t;

/* Starts argv with stdout+stderr appended to @p log. */
static pid_t spawn(char *const argv[], const char *log)
{
    posix_spawn_file_actions_t fa;
    pid_t pid = -1;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        pid = -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* Waits for @p pid with a deadline; returns its exit status, or -1 (killed on timeout). */
static int wait_exit(pid_t pid, int timeout_s)
{
    int64_t deadline = dd_clock_mono_ms() + (int64_t)timeout_s * 1000;
    int status = 0;

    while (dd_clock_mono_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        dd_clock_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void dump(const char *path)
{
    char *text = NULL;

    if (dd_fs_read_file(path, 0, &text, NULL) == DD_FS_OK) {
        fprintf(stderr, "---- %s ----\n%s\n", path, text);
        free(text);
    }
}

/* Runs a program to completion; its output goes to DIR/NAME.log. */
static int run(const pipeline_t *p, const char *name, char *const argv[])
{
    char log[200];
    pid_t pid;
    int rc;

    (void)snprintf(log, sizeof(log), "%s/%s.log", p->dir, name);
    pid = spawn(argv, log);
    assert_true(pid > 0);
    rc = wait_exit(pid, PROGRAM_TIMEOUT_S);
    if (rc != 0) {
        dump(log);
    }
    return rc;
}

static bool read_endpoints(pipeline_t *p)
{
    char path[128];
    char *text = NULL;
    cJSON *root;
    const cJSON *mqtt;
    const cJSON *alpn;
    const cJSON *ca;
    bool ok = false;

    (void)snprintf(path, sizeof(path), "%s/endpoints.json", p->dir);
    if (dd_fs_read_file(path, 0, &text, NULL) != DD_FS_OK) {
        return false;
    }
    root = cJSON_Parse(text);
    free(text);
    mqtt = cJSON_GetObjectItemCaseSensitive(root, "mqtt");
    alpn = cJSON_GetObjectItemCaseSensitive(root, "mqttAlpn");
    ca = cJSON_GetObjectItemCaseSensitive(root, "rootCa");
    if (cJSON_IsString(mqtt) && cJSON_IsString(alpn) && cJSON_IsString(ca) &&
        strrchr(mqtt->valuestring, ':') != NULL && strrchr(alpn->valuestring, ':') != NULL) {
        (void)snprintf(p->mqtt, sizeof(p->mqtt), "%s", mqtt->valuestring);
        (void)snprintf(p->mqtt_port, sizeof(p->mqtt_port), "%s",
                       strrchr(mqtt->valuestring, ':') + 1);
        (void)snprintf(p->alpn_port, sizeof(p->alpn_port), "%s",
                       strrchr(alpn->valuestring, ':') + 1);
        (void)snprintf(p->root_ca, sizeof(p->root_ca), "%s", ca->valuestring);
        ok = true;
    }
    cJSON_Delete(root);
    return ok;
}

static int group_setup(void **state)
{
    pipeline_t *p = calloc(1, sizeof(*p));
    char log[128];
    char policy[] = DD_SOURCE_DIR "/fixtures/policies/device-policy-allow-all.json";
    int64_t deadline;

    if (p == NULL) {
        return -1;
    }
    (void)snprintf(p->dir, sizeof(p->dir), "/tmp/dd_device_it.XXXXXX");
    if (mkdtemp(p->dir) == NULL) {
        free(p);
        return -1;
    }
    (void)snprintf(log, sizeof(log), "%s/up.log", p->dir);
    {
        char *argv[] = {(char *)DD_DDLOCAL_BIN, (char *)"up", (char *)"--data-dir",   p->dir,
                        (char *)"--mqtt-port",  (char *)"0",  (char *)"--alpn-port",  (char *)"0",
                        (char *)"--api-port",   (char *)"0",  (char *)"--time-scale", (char *)"600",
                        (char *)"--no-status",  NULL};

        p->up = spawn(argv, log);
    }
    if (p->up <= 0) {
        free(p);
        return -1;
    }
    deadline = dd_clock_mono_ms() + PIPELINE_START_S * 1000;
    while (!read_endpoints(p)) {
        if (dd_clock_mono_ms() > deadline || waitpid(p->up, NULL, WNOHANG) == p->up) {
            dump(log);
            kill(p->up, SIGKILL);
            free(p);
            return -1;
        }
        dd_clock_sleep_ms(50);
    }
    *state = p;
    /* A device: thing Thing03 with its own certificate and an allow-all policy. */
    {
        char *create[] = {(char *)DD_DDLOCAL_BIN,
                          (char *)"policy",
                          (char *)"create",
                          (char *)"DevicePolicy",
                          policy,
                          (char *)"-D",
                          p->dir,
                          NULL};
        char *thing[] = {(char *)DD_DDLOCAL_BIN,
                         (char *)"thing",
                         (char *)"create",
                         (char *)"Thing03",
                         (char *)"--with-cert",
                         (char *)"--policy",
                         (char *)"DevicePolicy",
                         (char *)"-D",
                         p->dir,
                         NULL};

        if (run(p, "policy", create) != 0 || run(p, "thing", thing) != 0) {
            return -1;
        }
    }
    (void)snprintf(p->cert, sizeof(p->cert), "%s/things/Thing03/cert.pem", p->dir);
    (void)snprintf(p->key, sizeof(p->key), "%s/things/Thing03/private.key", p->dir);
    return 0;
}

static int group_teardown(void **state)
{
    pipeline_t *p = *state;
    char path[128];
    int rc;

    if (p == NULL) {
        return 0;
    }
    kill(p->up, SIGTERM);
    rc = wait_exit(p->up, 30);
    /* A clean stop removes endpoints.json. */
    (void)snprintf(path, sizeof(path), "%s/endpoints.json", p->dir);
    if (rc != 0 || dd_fs_exists(path)) {
        (void)snprintf(path, sizeof(path), "%s/up.log", p->dir);
        dump(path);
    }
    (void)dd_fs_remove_tree(p->dir);
    free(p);
    return rc == 0 ? 0 : -1;
}

/* The workshop's command line against the pipeline: every report accepted (exit 0). */
static void test_device_agent_json_long(void **state)
{
    pipeline_t *p = *state;
    char *argv[] = {(char *)DD_AGENT_BIN,
                    (char *)"--endpoint",
                    p->mqtt,
                    (char *)"--rootCA",
                    p->root_ca,
                    (char *)"--cert",
                    p->cert,
                    (char *)"--key",
                    p->key,
                    (char *)"--client_id",
                    (char *)"SensorDevice03",
                    (char *)"--thing_name",
                    (char *)"Thing03",
                    (char *)"--format",
                    (char *)"json",
                    (char *)"-i",
                    (char *)"0.2",
                    (char *)"--count",
                    (char *)"5",
                    (char *)"-cm",
                    NULL};

    assert_int_equal(run(p, "agent-json", argv), 0);
}

static void test_device_agent_cbor_short(void **state)
{
    pipeline_t *p = *state;
    char *argv[] = {(char *)DD_AGENT_BIN,
                    (char *)"-e",
                    p->mqtt,
                    (char *)"-r",
                    p->root_ca,
                    (char *)"-c",
                    p->cert,
                    (char *)"-k",
                    p->key,
                    (char *)"-id",
                    (char *)"SensorDevice03",
                    (char *)"-t",
                    (char *)"Thing03",
                    (char *)"-f",
                    (char *)"cbor",
                    (char *)"--short-names",
                    (char *)"-i",
                    (char *)"0.2",
                    (char *)"--count",
                    (char *)"3",
                    NULL};

    assert_int_equal(run(p, "agent-cbor", argv), 0);
}

/* The 443 role: what AWS SDK v2 agents dial, with ALPN x-amzn-mqtt-ca. */
static void test_device_agent_alpn(void **state)
{
    pipeline_t *p = *state;
    char *argv[] = {(char *)DD_AGENT_BIN,
                    (char *)"-e",
                    (char *)"localhost",
                    (char *)"--port",
                    p->alpn_port,
                    (char *)"--alpn",
                    (char *)"x-amzn-mqtt-ca",
                    (char *)"-r",
                    p->root_ca,
                    (char *)"-c",
                    p->cert,
                    (char *)"-k",
                    p->key,
                    (char *)"-id",
                    (char *)"SensorDevice03",
                    (char *)"-t",
                    (char *)"Thing03",
                    (char *)"-i",
                    (char *)"0.2",
                    (char *)"--once",
                    NULL};

    assert_int_equal(run(p, "agent-alpn", argv), 0);
}

static void test_device_sensor_modes(void **state)
{
    pipeline_t *p = *state;
    char *normal[] = {(char *)DD_SENSOR_BIN,
                      (char *)"-t",
                      (char *)"temperature-device-03",
                      (char *)"-n",
                      (char *)"SensorDevice03",
                      (char *)"-e",
                      p->mqtt,
                      (char *)"-r",
                      p->root_ca,
                      (char *)"-c",
                      p->cert,
                      (char *)"-k",
                      p->key,
                      (char *)"-i",
                      (char *)"0.1",
                      (char *)"--count",
                      (char *)"3",
                      NULL};
    char *compromised[] = {(char *)DD_SENSOR_BIN,
                           (char *)"-t",
                           (char *)"temperature-device-03",
                           (char *)"-n",
                           (char *)"SensorDevice03",
                           (char *)"-e",
                           p->mqtt,
                           (char *)"-r",
                           p->root_ca,
                           (char *)"-c",
                           p->cert,
                           (char *)"-k",
                           p->key,
                           (char *)"-i",
                           (char *)"0.1",
                           (char *)"--count",
                           (char *)"3",
                           (char *)"--compromised",
                           (char *)"--persistent",
                           NULL};

    assert_int_equal(run(p, "sensor-normal", normal), 0);
    assert_int_equal(run(p, "sensor-compromised", compromised), 0);
}

/* 3 devices x 3 reports (900 pipeline s, one every 300 s) = 9 accepted. */
static void test_device_fleet_small(void **state)
{
    pipeline_t *p = *state;
    char summary[128];
    char *text = NULL;
    cJSON *root;
    char *argv[] = {(char *)DD_DDLOCAL_BIN,
                    (char *)"fleet",
                    (char *)DD_SOURCE_DIR "/fixtures/scenarios/small.json",
                    (char *)"-D",
                    p->dir,
                    (char *)"--progress",
                    (char *)"0",
                    (char *)"--summary-json",
                    summary,
                    NULL};

    (void)snprintf(summary, sizeof(summary), "%s/fleet-summary.json", p->dir);
    assert_int_equal(run(p, "fleet", argv), 0);
    assert_int_equal(dd_fs_read_file(summary, 0, &text, NULL), DD_FS_OK);
    root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    assert_int_equal(cJSON_GetObjectItem(root, "reportsExpected")->valueint, 9);
    assert_int_equal(cJSON_GetObjectItem(root, "reportsSent")->valueint, 9);
    assert_int_equal(cJSON_GetObjectItem(root, "reportsAccepted")->valueint, 9);
    assert_int_equal(cJSON_GetObjectItem(root, "reportsRejected")->valueint, 0);
    /* Telemetry every 60 pipeline seconds over 900: 15 per device, temperatures
     * like the sensor's ("23.45": 5 bytes), all allowed by the fleet's policy -
     * the shim logs every denied publish, and a denial would also kick the
     * device and cost it reports. */
    assert_int_equal(cJSON_GetObjectItem(root, "telemetrySent")->valueint, 45);
    assert_int_equal(cJSON_GetObjectItem(root, "telemetryBytes")->valueint, 45 * 5);
    {
        char log[128];
        char *broker = NULL;

        (void)snprintf(log, sizeof(log), "%s/broker/mosquitto.log", p->dir);
        assert_int_equal(dd_fs_read_file(log, 0, &broker, NULL), DD_FS_OK);
        assert_null(strstr(broker, "denied PUBLISH from small-"));
        assert_non_null(strstr(broker, "small-0001"));
        free(broker);
    }
    /* The time scale came from the running pipeline, not from a flag. */
    assert_true(cJSON_GetObjectItem(root, "timeScale")->valuedouble == 600.0);
    cJSON_Delete(root);
}

/*
 * With DDLOCAL_DATA_DIR pointing at the running pipeline, both programs find
 * its clock in endpoints.json and take their intervals as pipeline seconds:
 * the workshop's -i 300 reports on pipeline multiples of 300 s, each report
 * but the first (start to the first multiple) measured over whole intervals.
 * What is asserted is what the programs say, not how punctual they were
 * (the exact counts per window are test_dd_devclock's, on an injected clock).
 */
static void test_device_programs_follow_the_pipeline_clock(void **state)
{
    pipeline_t *p = *state;
    char *agent[] = {(char *)DD_AGENT_BIN,
                     (char *)"-e",
                     p->mqtt,
                     (char *)"-r",
                     p->root_ca,
                     (char *)"-c",
                     p->cert,
                     (char *)"-k",
                     p->key,
                     (char *)"-id",
                     (char *)"SensorDevice03",
                     (char *)"-t",
                     (char *)"Thing03",
                     (char *)"-i",
                     (char *)"300",
                     (char *)"--count",
                     (char *)"3",
                     NULL};
    char *sensor[] = {(char *)DD_SENSOR_BIN, (char *)"-t", (char *)"temperature-device-03",
                      (char *)"-n", (char *)"SensorDevice03", (char *)"-e", p->mqtt, (char *)"-r",
                      p->root_ca, (char *)"-c", p->cert, (char *)"-k", p->key,
                      /* Two: both wait for the connection even if the handshake is slow. */
                      (char *)"--persistent", (char *)"--count", (char *)"2", NULL};
    char log[200];
    char *text = NULL;
    const char *at;
    int reports = 0;
    int rc;

    assert_int_equal(setenv("DDLOCAL_DATA_DIR", p->dir, 1), 0);
    (void)unsetenv("DDLOCAL_CLOCK");
    rc = run(p, "agent-pipeline-clock", agent);
    if (rc == 0) {
        rc = run(p, "sensor-pipeline-clock", sensor);
    }
    (void)unsetenv("DDLOCAL_DATA_DIR");
    assert_int_equal(rc, 0);

    (void)snprintf(log, sizeof(log), "%s/agent-pipeline-clock.log", p->dir);
    assert_int_equal(dd_fs_read_file(log, 0, &text, NULL), DD_FS_OK);
    assert_non_null(strstr(text, "info: following the pipeline clock (from endpoints.json, time "
                                 "scale 600): intervals are pipeline seconds"));
    assert_non_null(strstr(text, "reports at pipeline multiples of 300 s"));
    /* Every line has both times. */
    assert_non_null(strstr(text, "Z [pipeline 20"));
    for (at = text; (at = strstr(at, " published to ")) != NULL; at++) {
        long span = -1;
        const char *m = strstr(at, "measured over ");

        assert_non_null(m);
        assert_int_equal(sscanf(m, "measured over %ld pipeline s:", &span), 1);
        if (reports++ > 0) {
            /* Whole intervals (one, unless this busy machine stalled the agent a while). */
            assert_true(span >= 300 && span % 300 == 0);
        } else {
            assert_true(span >= 0 && span <= 300);
        }
    }
    assert_int_equal(reports, 3);
    free(text);

    (void)snprintf(log, sizeof(log), "%s/sensor-pipeline-clock.log", p->dir);
    assert_int_equal(dd_fs_read_file(log, 0, &text, NULL), DD_FS_OK);
    assert_non_null(strstr(text, "info: following the pipeline clock (from endpoints.json"));
    assert_non_null(strstr(text, "messages at pipeline times k x 10 s + 5 s"));
    assert_non_null(strstr(text, "2 message(s) sent (10 bytes), 0 skipped"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_agent_json_long),
        cmocka_unit_test(test_device_agent_cbor_short),
        cmocka_unit_test(test_device_agent_alpn),
        cmocka_unit_test(test_device_sensor_modes),
        cmocka_unit_test(test_device_fleet_small),
        cmocka_unit_test(test_device_programs_follow_the_pipeline_clock),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
