/*
 * Issue 15 item 3: record -> replay reproduces a live pipeline exactly. A real broker and
 * ddlocald (manual clock); Thing01 and Thing02 report and send telemetry over three 5-minute
 * windows: Thing01 reports 3000 bytes out in the second (a device-side violation of
 * DetectSendingMoreThanAverageBytes, cleared in the third), Thing02 sends 6 messages in the
 * second (a cloud-side violation of aws:num-messages-sent, cleared in the third), and the
 * fleet's message sizes feed Module 3's p50 rule. `ddlocal export` writes the bundle; the
 * printed `ddlocal replay` command, run as printed, gives the live ListViolationEvents
 * (violation ids aside): same things, profiles, behaviors, types, times and values.
 * `ddlocal record`, started before the scenario, follows it and writes the same stream as
 * the export of the same range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "dd_clock.h"
#include "dd_fs.h"
#include "dd_pipetest.h"

#define WAIT_MS 10000
#define WINDOW_MS 300000LL

extern char **environ;

static const char *const THINGS[2] = {"Thing01", "Thing02"};

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *devices[2];
    pid_t recorder;
} fixture_t;

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc;
    int i;

    if (f == NULL) {
        return 0;
    }
    if (f->recorder > 0) {
        (void)kill(f->recorder, SIGKILL);
        (void)waitpid(f->recorder, NULL, 0);
    }
    for (i = 0; i < 2; i++) {
        dd_pipetest_mqtt_destroy(f->devices[i]);
    }
    rc = dd_pipetest_stop(&f->pt);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int setup_pipeline(fixture_t *f)
{
    char policy[700];
    char cert[600];
    char key[600];
    char topic[128];
    int granted = -1;
    int i;

    if (dd_pipetest_start(&f->pt, NULL) != DD_PIPETEST_OK) {
        return -1;
    }
    dd_pipetest_fixture("policies/device-policy-per-thing.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DevicePolicy", policy, NULL) != 0 ||
        dd_pipetest_profile(&f->pt, "DetectSendingMoreThanAverageBytes",
                            "profiles/module4-intended.json") != DD_PIPETEST_OK ||
        dd_pipetest_profile(&f->pt, "DetectChattyDevices", "profiles/record-messages-sent.json") !=
            DD_PIPETEST_OK ||
        dd_pipetest_profile(&f->pt, "DetectLargeMessageSize", "profiles/module3-intended.json") !=
            DD_PIPETEST_OK) {
        return -1;
    }
    for (i = 0; i < 2; i++) {
        int64_t deadline = dd_clock_mono_ms() + WAIT_MS;
        if (dd_pipetest_thing(&f->pt, THINGS[i], "DevicePolicy", cert, key) != DD_PIPETEST_OK ||
            dd_pipetest_mqtt_new(&f->pt, THINGS[i], cert, key, true, &f->devices[i]) !=
                DD_PIPETEST_OK) {
            return -1;
        }
        while (dd_pipetest_mqtt_connect(f->devices[i], WAIT_MS) != 0) {
            if (dd_clock_mono_ms() > deadline) {
                return -1;
            }
        }
        (void)snprintf(topic, sizeof(topic), "$aws/things/%s/defender/metrics/json/accepted",
                       THINGS[i]);
        if (dd_pipetest_mqtt_subscribe(f->devices[i], topic, 1, WAIT_MS, &granted) !=
                DD_PIPETEST_OK ||
            granted != 1) {
            return -1;
        }
    }
    return 0;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    *state = f;
    if (f == NULL || setup_pipeline(f) != 0) {
        (void)teardown(state);
        *state = NULL;
        return -1;
    }
    return 0;
}

/* Thing @p i reports @p bytes_out and waits for /accepted. */
static void report(fixture_t *f, int i, int rid, int bytes_out)
{
    char topic[128];
    char body[256];
    dd_pipetest_msg_t *m = NULL;

    (void)snprintf(topic, sizeof(topic), "$aws/things/%s/defender/metrics/json", THINGS[i]);
    (void)snprintf(body, sizeof(body),
                   "{\"header\":{\"report_id\":%d,\"version\":\"1.0\"},\"metrics\":{"
                   "\"network_stats\":{\"bytes_in\":10,\"bytes_out\":%d,\"packets_in\":2,"
                   "\"packets_out\":3}}}",
                   rid, bytes_out);
    assert_int_equal(dd_pipetest_mqtt_publish(f->devices[i], topic, body, strlen(body), 1, WAIT_MS),
                     DD_PIPETEST_OK);
    (void)snprintf(topic, sizeof(topic), "$aws/things/%s/defender/metrics/json/accepted",
                   THINGS[i]);
    assert_int_equal(dd_pipetest_mqtt_wait_message(f->devices[i], topic, WAIT_MS, &m),
                     DD_PIPETEST_OK);
    dd_pipetest_msg_free(m);
}

/* Thing @p i publishes @p n telemetry messages of @p size bytes. */
static void telemetry(fixture_t *f, int i, int n, size_t size)
{
    char payload[512];
    char topic[64];
    int k;

    assert_true(size < sizeof(payload));
    memset(payload, 'x', size);
    (void)snprintf(topic, sizeof(topic), "temperature-device-0%d", i + 1);
    for (k = 0; k < n; k++) {
        assert_int_equal(dd_pipetest_mqtt_publish(f->devices[i], topic, payload, size, 1, WAIT_MS),
                         DD_PIPETEST_OK);
    }
}

/* Waits until ddlocald stored @p want message-sent records (the shim meters in batches). */
static void wait_metered(fixture_t *f, int64_t want)
{
    int64_t deadline = dd_clock_mono_ms() + WAIT_MS;
    int64_t n = -1;

    for (;;) {
        assert_int_equal(dd_pipetest_db_int(&f->pt,
                                            "SELECT coalesce(sum(count), 0) FROM ev_metering"
                                            " WHERE kind = 0 AND thing LIKE 'Thing0%'",
                                            &n),
                         DD_PIPETEST_OK);
        if (n == want) {
            return;
        }
        if (n > want || dd_clock_mono_ms() > deadline) {
            fail_msg("%lld messages metered, expected %lld", (long long)n, (long long)want);
        }
        dd_clock_sleep_ms(20);
    }
}

static void advance_to(fixture_t *f, int64_t target_ms)
{
    int64_t now = 0;

    assert_int_equal(dd_pipetest_clock_now(&f->pt, &now), DD_PIPETEST_OK);
    assert_true(target_ms > now);
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, (double)(target_ms - now) / 1000.0, &now),
                     DD_PIPETEST_OK);
    assert_int_equal(now, target_ms);
}

/* "thing|profile|behavior|type|time ms|value" of a ListViolationEvents item. */
static char *event_key(const cJSON *e, bool seconds)
{
    const cJSON *behavior = cJSON_GetObjectItemCaseSensitive(e, "behavior");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(e, "metricValue");
    double t = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "violationEventTime"));
    char *v = value != NULL ? cJSON_PrintUnformatted(value) : NULL;
    char *key = malloc(1024);

    assert_non_null(key);
    (void)snprintf(key, 1024, "%s|%s|%s|%s|%lld|%s",
                   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "thingName")),
                   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "securityProfileName")),
                   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(behavior, "name")),
                   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "violationEventType")),
                   (long long)llround(seconds ? t * 1000.0 : t), v != NULL ? v : "-");
    cJSON_free(v);
    return key;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted keys of the events in @p arr; @p n receives the count. */
static char **keys_of(const cJSON *arr, bool seconds, size_t *n)
{
    char **keys = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
    const cJSON *e;

    *n = 0;
    cJSON_ArrayForEach (e, arr) {
        keys[(*n)++] = event_key(e, seconds);
    }
    qsort(keys, *n, sizeof(char *), key_cmp);
    return keys;
}

static void free_keys(char **keys, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(keys[i]);
    }
    free(keys);
}

/* Runs @p command (sh) and parses each stdout line as JSON into an array. */
static cJSON *run_lines(const char *command)
{
    FILE *p = popen(command, "r");
    cJSON *arr = cJSON_CreateArray();
    char line[8192];

    assert_non_null(p);
    while (fgets(line, sizeof(line), p) != NULL) {
        cJSON *obj = cJSON_Parse(line);
        assert_non_null(obj);
        cJSON_AddItemToArray(arr, obj);
    }
    assert_int_equal(pclose(p), 0);
    return arr;
}

/* The `ddlocal replay ...` line of export's output, with the binary's path. */
static char *replay_command(const char *output)
{
    const char *start = strstr(output, "ddlocal replay ");
    const char *end;
    char *cmd;

    assert_non_null(start);
    end = strchr(start, '\n');
    assert_non_null(end);
    cmd = malloc((size_t)(end - start) + 512);
    assert_non_null(cmd);
    (void)snprintf(cmd, (size_t)(end - start) + 512, "%s%.*s --no-summary --time-ms",
                   DD_DDLOCAL_BIN, (int)(end - start - strlen("ddlocal")),
                   start + strlen("ddlocal"));
    return cmd;
}

static void start_recorder(fixture_t *f, const char *out, int64_t until_ms)
{
    char until[32];
    char *argv[] = {(char *)DD_DDLOCAL_BIN,
                    "record",
                    "-D",
                    f->pt.data_dir,
                    "--out",
                    (char *)out,
                    "--until",
                    until,
                    "--interval-ms",
                    "50",
                    NULL};

    (void)snprintf(until, sizeof(until), "%lld", (long long)until_ms);
    assert_int_equal(posix_spawn(&f->recorder, DD_DDLOCAL_BIN, NULL, NULL, argv, environ), 0);
}

/* Waits for the recorder to stop by itself (it reached --until). */
static void wait_recorder(fixture_t *f)
{
    int64_t deadline = dd_clock_mono_ms() + 30000;
    int status = 0;

    for (;;) {
        pid_t r = waitpid(f->recorder, &status, WNOHANG);
        if (r == f->recorder) {
            break;
        }
        if (dd_clock_mono_ms() > deadline) {
            fail_msg("ddlocal record did not stop at --until");
        }
        dd_clock_sleep_ms(20);
    }
    f->recorder = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static char *read_text(const char *path)
{
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(dd_fs_read_file(path, 64u * 1024u * 1024u, &data, &len), DD_FS_OK);
    return data;
}

/* Lines of @p text that contain every one of the NULL-terminated needles. */
static char *lines_with(const char *text, const char *a, const char *b)
{
    size_t cap = strlen(text) + 1;
    char *out = calloc(1, cap);
    const char *line = text;

    assert_non_null(out);
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line + 1) : strlen(line);
        char *copy = strndup(line, len);
        if (strstr(copy, a) != NULL && strstr(copy, b) != NULL) {
            strcat(out, copy);
        }
        free(copy);
        line += len;
    }
    return out;
}

/*
 * `ddlocal datapoints` (and GET /ddlocal/v1/datapoints) on the live store give the rows
 * `ddlocal replay --datapoints` gives on the exported bundle; --stats the fleet per window.
 */
static void check_datapoints(fixture_t *f, const char *bundle)
{
    char cmd[2048];
    char path[300];
    char *output = NULL;
    char *replayed;
    char *want;
    cJSON *out = NULL;
    const cJSON *rows;
    const cJSON *row;
    int in_alarm = 0;

    (void)snprintf(path, sizeof(path), "%s/datapoints.csv", bundle);
    (void)snprintf(cmd, sizeof(cmd),
                   "%s replay --profile %s/profiles/DetectChattyDevices.json --things "
                   "%s/things.json --reports %s/stream.jsonl --no-summary --datapoints %s "
                   ">/dev/null",
                   DD_DDLOCAL_BIN, bundle, bundle, bundle, path);
    assert_int_equal(system(cmd), 0);
    replayed = read_text(path);
    want = lines_with(replayed, "Thing02,", ",ManyMessagesSent,");
    assert_true(strlen(want) > 0);
    assert_int_equal(dd_pipetest_cli(&f->pt, &output, "datapoints", "--profile",
                                     "DetectChattyDevices", "--behavior", "ManyMessagesSent",
                                     "--thing", "Thing02", NULL),
                     0);
    /* The header line, then exactly the replay's rows of Thing02. */
    assert_true(strncmp(output, "thingName,", 10) == 0);
    assert_string_equal(strchr(output, '\n') + 1, want);
    free(output);
    free(want);
    free(replayed);

    assert_int_equal(dd_pipetest_cli(&f->pt, &output, "datapoints", "--profile",
                                     "DetectChattyDevices", "--stats", NULL),
                     0);
    /* Window 2: Thing01 sent 3 messages, Thing02 7. */
    assert_non_null(strstr(output, "behaviorName,metric,windowStart,windowEnd,devices,min,p50,"));
    assert_non_null(strstr(output, ",2,3,"));
    assert_non_null(strstr(output, ",7\n"));
    free(output);

    assert_int_equal(dd_pipetest_api(&f->pt, "GET",
                                     "/ddlocal/v1/datapoints?profile=DetectChattyDevices&"
                                     "behavior=ManyMessagesSent&thing=Thing02",
                                     NULL, NULL, &out),
                     DD_PIPETEST_OK);
    rows = cJSON_GetObjectItemCaseSensitive(out, "datapoints");
    assert_true(cJSON_GetArraySize(rows) >= 3);
    cJSON_ArrayForEach (row, rows) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, "metricValue");
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "verdict")),
                   "violating") == 0) {
            in_alarm++;
            assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "count")), 7);
        }
    }
    assert_int_equal(in_alarm, 1);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "windows")) >= 3);
    cJSON_Delete(out);
    {
        long http = 0;
        assert_int_equal(dd_pipetest_api(&f->pt, "GET", "/ddlocal/v1/datapoints?profile=Nope", NULL,
                                         &http, &out),
                         DD_PIPETEST_FAILED);
        assert_int_equal(http, 404);
    }
    cJSON_Delete(out);
}

static void test_pipeline_record_export_replays_exactly(void **state)
{
    fixture_t *f = *state;
    char bundle[256];
    char ranged[256];
    char recorded[256];
    char to[32];
    char path[300];
    char *output = NULL;
    char *command;
    char **live_keys;
    char **replay_keys;
    size_t nlive;
    size_t nreplay;
    size_t k;
    cJSON *live = NULL;
    cJSON *replayed;
    int64_t t0 = 0;
    int64_t b0;
    int rid = 1;
    int w;

    /* Windows of 300 s from b0; everything happens 10 s into each. */
    assert_int_equal(dd_pipetest_clock_now(&f->pt, &t0), DD_PIPETEST_OK);
    b0 = (t0 / WINDOW_MS + 1) * WINDOW_MS;
    (void)snprintf(recorded, sizeof(recorded), "%s/recorded.jsonl", f->pt.tmp_dir);
    start_recorder(f, recorded, b0 + 3 * WINDOW_MS);
    for (w = 0; w < 3; w++) {
        advance_to(f, b0 + w * WINDOW_MS + 10000);
        report(f, 0, rid++, w == 1 ? 3000 : 150);
        report(f, 1, rid++, 150);
        telemetry(f, 0, 2, 5);
        telemetry(f, 1, w == 1 ? 6 : 2, w == 1 ? 300 : 5);
        wait_metered(f, (w + 1) * 6 + (w >= 1 ? 4 : 0)); /* reports are messages too */
    }
    /* Close the last cloud-side window. */
    advance_to(f, b0 + 3 * WINDOW_MS + 10000);

    assert_int_equal(dd_pipetest_violation_events(&f->pt, NULL, &live), DD_PIPETEST_OK);
    /* The scenario produced both kinds of violation, raised and cleared. */
    live_keys = keys_of(live, true, &nlive);
    assert_true(nlive >= 4);

    (void)snprintf(bundle, sizeof(bundle), "%s/bundle", f->pt.tmp_dir);
    assert_int_equal(dd_pipetest_cli(&f->pt, &output, "export", "--out", bundle, NULL), 0);
    command = replay_command(output);
    free(output);
    replayed = run_lines(command);
    free(command);
    replay_keys = keys_of(replayed, false, &nreplay);
    for (k = 0; k < nlive || k < nreplay; k++) {
        if (k >= nlive || k >= nreplay || strcmp(live_keys[k], replay_keys[k]) != 0) {
            fail_msg("live and replayed events differ at %zu: live %s, replayed %s", k,
                     k < nlive ? live_keys[k] : "(none)", k < nreplay ? replay_keys[k] : "(none)");
        }
    }
    for (k = 0; k < nlive; k++) {
        print_message("  %s\n", live_keys[k]);
    }
    {
        static const char *const WANT[] = {
            "Thing01|DetectSendingMoreThanAverageBytes|MoreBytesSent|in-alarm|",
            "Thing01|DetectSendingMoreThanAverageBytes|MoreBytesSent|alarm-cleared|",
            "Thing02|DetectChattyDevices|ManyMessagesSent|in-alarm|",
            "Thing02|DetectChattyDevices|ManyMessagesSent|alarm-cleared|"};
        size_t i;
        for (i = 0; i < sizeof(WANT) / sizeof(WANT[0]); i++) {
            bool found = false;
            for (k = 0; k < nlive; k++) {
                found = found || strncmp(live_keys[k], WANT[i], strlen(WANT[i])) == 0;
            }
            if (!found) {
                fail_msg("no live event %s...", WANT[i]);
            }
        }
    }
    free_keys(live_keys, nlive);
    free_keys(replay_keys, nreplay);
    cJSON_Delete(live);
    cJSON_Delete(replayed);

    check_datapoints(f, bundle);

    /* The recorder followed the pipeline: its file is the export of the same range. */
    wait_recorder(f);
    (void)snprintf(ranged, sizeof(ranged), "%s/ranged", f->pt.tmp_dir);
    (void)snprintf(to, sizeof(to), "%lld", (long long)(b0 + 3 * WINDOW_MS));
    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "export", "--out", ranged, "--to", to, NULL), 0);
    (void)snprintf(path, sizeof(path), "%s/stream.jsonl", ranged);
    {
        char *a = read_text(path);
        char *b = read_text(recorded);
        assert_string_equal(b, a);
        assert_non_null(strstr(a, "\"repeat\":6"));
        free(a);
        free(b);
    }
    f->pt.passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline_record_export_replays_exactly, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
