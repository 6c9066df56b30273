/*
 * Issue 14 item 3 against `ddlocal up` (manual clock): ddlocal's own control
 * endpoints under /ddlocal/v1/.
 *
 * The clock barrier: a message the broker accepted (PUBACK received) and a
 * device report published just before POST /ddlocal/v1/clock must be counted
 * before time moves - with no delay in between, 20 times in a row. Before the
 * barrier the shim's metering batch (flushed every ~100 ms) and ddlocald's
 * inbound queue made such messages land after the advance.
 *
 * The live scale change (issue 13): `up --time-scale 60`, then POST
 * /ddlocal/v1/clock {"scale":600}: ddlocald, endpoints.json and the broker
 * shim (whose metering stamps a device's connection time) run on the new
 * anchor, pipeline time never goes back, also across a ddlocald restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_clock.h"
#include "dd_endpoints.h"
#include "dd_pipetest.h"

#define PROFILE "DetectLargeMessageSize"
#define THING "Thing01"
#define REPORT_TOPIC "$aws/things/" THING "/defender/metrics/json"
#define ROUNDS 20
#define WAIT_MS 10000

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *device;
} fixture_t;

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc;

    if (f == NULL) {
        return 0;
    }
    dd_pipetest_mqtt_destroy(f->device);
    rc = dd_pipetest_stop(&f->pt);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int setup_pipeline(fixture_t *f)
{
    char policy[700];
    char cert[600];
    char key[600];
    int64_t deadline;

    if (dd_pipetest_start(&f->pt, NULL) != DD_PIPETEST_OK) {
        return -1;
    }
    dd_pipetest_fixture("policies/device-policy-per-thing.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DevicePolicy", policy, NULL) != 0 ||
        dd_pipetest_profile(&f->pt, PROFILE, "profiles/module3-intended.json") != DD_PIPETEST_OK ||
        dd_pipetest_thing(&f->pt, THING, "DevicePolicy", cert, key) != DD_PIPETEST_OK ||
        dd_pipetest_mqtt_new(&f->pt, THING, cert, key, true, &f->device) != DD_PIPETEST_OK) {
        return -1;
    }
    /* CLI registry changes reach the shim within ~100 ms: retry until known. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_mqtt_connect(f->device, WAIT_MS) != 0) {
        if (dd_clock_mono_ms() > deadline) {
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

/* Number of aws:message-byte-size values retained for THING: one per metered message
 * (the telemetry message and the report). */
static int retained_sizes(fixture_t *f)
{
    cJSON *out = NULL;
    int n;

    if (dd_pipetest_api(
            &f->pt, "GET",
            "/metric-values?thingName=" THING
            "&metricName=aws%3Amessage-byte-size&startTime=1&endTime=4102444800&maxResults=250",
            NULL, NULL, &out) != DD_PIPETEST_OK) {
        return -1;
    }
    n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "metricDatumList"));
    cJSON_Delete(out);
    return n;
}

static void test_pipeline_ctl_advance_counts_what_the_broker_accepted(void **state)
{
    fixture_t *f = *state;
    char report[128];
    double accepted = 0;
    int late_messages = 0;
    int late_reports = 0;
    int i;

    for (i = 0; i < ROUNDS; i++) {
        int n;
        /* QoS 1: the PUBACK says the broker accepted (and the shim metered) the message. */
        assert_int_equal(dd_pipetest_mqtt_publish(f->device, "temperature-device-01", "23.45", 5, 1,
                                                  WAIT_MS),
                         DD_PIPETEST_OK);
        (void)snprintf(report, sizeof(report),
                       "{\"header\":{\"report_id\":%d,\"version\":\"1.0\"},\"metrics\":{}}", i + 1);
        assert_int_equal(dd_pipetest_mqtt_publish(f->device, REPORT_TOPIC, report, strlen(report),
                                                  1, WAIT_MS),
                         DD_PIPETEST_OK);
        /* No delay: a new 300-s window each round (and no report throttling). */
        assert_int_equal(dd_pipetest_clock_advance(&f->pt, 300, NULL), DD_PIPETEST_OK);
        n = retained_sizes(f);
        if (n != 2 * (i + 1)) {
            late_messages++;
            print_message("round %d: %d message sizes counted at the advance, expected %d\n", i, n,
                          2 * (i + 1));
        }
        assert_int_equal(dd_pipetest_status_number(&f->pt, "reportsAccepted", &accepted),
                         DD_PIPETEST_OK);
        if (accepted != (double)(i + 1)) {
            late_reports++;
            print_message("round %d: %.0f reports accepted at the advance, expected %d\n", i,
                          accepted, i + 1);
        }
        /* Whatever came late is in by now: the next round starts from an exact count. */
        {
            int64_t deadline = dd_clock_mono_ms() + WAIT_MS;
            while ((retained_sizes(f) != 2 * (i + 1) ||
                    dd_pipetest_status_number(&f->pt, "reportsAccepted", &accepted) !=
                        DD_PIPETEST_OK ||
                    accepted != (double)(i + 1)) &&
                   dd_clock_mono_ms() < deadline) {
                dd_clock_sleep_ms(20);
            }
        }
    }
    assert_int_equal(late_messages, 0);
    assert_int_equal(late_reports, 0);
    f->pt.passed = true;
}

static void test_pipeline_ctl_health(void **state)
{
    fixture_t *f = *state;
    char *out = NULL;
    cJSON *j = NULL;
    long status = 0;

    assert_int_equal(dd_pipetest_api(&f->pt, "GET", "/ddlocal/v1/health", NULL, &status, &j),
                     DD_PIPETEST_OK);
    assert_int_equal(status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "healthy")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "brokerConnected")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "storeWritable")));
    cJSON_Delete(j);
    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "health", NULL), 0);
    assert_non_null(strstr(out, "\"healthy\":\ttrue")); /* cJSON_Print */
    free(out);
    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "health", "-q", NULL), 0);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "health", "extra", NULL), 2);
    f->pt.passed = true;
}

/* Number of items in @p member of GET @p path (one page of 250). */
static int list_count(fixture_t *f, const char *path, const char *member)
{
    cJSON *out = NULL;
    int n;

    if (dd_pipetest_api(&f->pt, "GET", path, NULL, NULL, &out) != DD_PIPETEST_OK) {
        return -1;
    }
    n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, member));
    cJSON_Delete(out);
    return n;
}

static void test_pipeline_ctl_reset(void **state)
{
    fixture_t *f = *state;
    char *out = NULL;
    cJSON *j = NULL;
    long status = 0;
    char policy[700];
    char cert[600];
    char key[600];
    int64_t deadline;

    /* Some history: a metered message, closed in a window. */
    assert_int_equal(dd_pipetest_mqtt_publish(f->device, "temperature-device-01", "23.45", 5, 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 300, NULL), DD_PIPETEST_OK);
    assert_true(retained_sizes(f) > 0);
    assert_int_equal(list_count(f, "/things?maxResults=250", "things"), 1);

    /* One kind: the metric history goes, the registry and the profile stay. */
    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "reset", "--kinds", "metrics", NULL), 0);
    assert_non_null(strstr(out, "metrics"));
    free(out);
    assert_int_equal(retained_sizes(f), 0);
    assert_int_equal(list_count(f, "/things?maxResults=250", "things"), 1);
    assert_int_equal(list_count(f, "/security-profiles", "securityProfileIdentifiers"), 1);

    /* A wrong kind is named, nothing changes. */
    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "reset", "--kinds", "registry,bogus", NULL), 1);
    assert_non_null(strstr(out, "bogus"));
    free(out);
    assert_int_equal(list_count(f, "/things?maxResults=250", "things"), 1);

    /* Everything: the API shows an empty world, the shim drops the device at once. */
    assert_int_equal(dd_pipetest_api(&f->pt, "POST", "/ddlocal/v1/reset", NULL, &status, &j),
                     DD_PIPETEST_OK);
    assert_int_equal(status, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "reset")), 6);
    cJSON_Delete(j);
    assert_int_equal(list_count(f, "/things?maxResults=250", "things"), 0);
    assert_int_equal(list_count(f, "/policies", "policies"), 0);
    assert_int_equal(list_count(f, "/thing-groups", "thingGroups"), 0);
    assert_int_equal(list_count(f, "/security-profiles", "securityProfileIdentifiers"), 0);
    assert_int_equal(list_count(f, "/certificates", "certificates"), 0);
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->device, WAIT_MS));

    /* The same world can be made again; the thing starts afresh (report_id 1 is new). */
    dd_pipetest_fixture("policies/device-policy-per-thing.json", policy, sizeof(policy));
    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DevicePolicy", policy,
                                     NULL),
                     0);
    assert_int_equal(dd_pipetest_thing(&f->pt, THING, "DevicePolicy", cert, key), DD_PIPETEST_OK);
    dd_pipetest_mqtt_destroy(f->device);
    f->device = NULL;
    assert_int_equal(dd_pipetest_mqtt_new(&f->pt, THING, cert, key, true, &f->device),
                     DD_PIPETEST_OK);
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_mqtt_connect(f->device, WAIT_MS) != 0) {
        assert_true(dd_clock_mono_ms() < deadline);
    }
    f->pt.passed = true;
}

/* Snapshot, change, restore: the API shows the saved state again and the device may connect. */
static void test_pipeline_ctl_snapshot_restore(void **state)
{
    fixture_t *f = *state;
    char *out = NULL;
    int64_t deadline;

    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "snapshot", "save", "before", NULL), 0);
    free(out);
    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "reset", NULL), 0);
    assert_int_equal(list_count(f, "/things?maxResults=250", "things"), 0);
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->device, WAIT_MS));

    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "snapshot", "restore", "before", NULL), 0);
    free(out);
    assert_int_equal(list_count(f, "/things?maxResults=250", "things"), 1);
    assert_int_equal(list_count(f, "/policies", "policies"), 1);
    assert_int_equal(list_count(f, "/security-profiles", "securityProfileIdentifiers"), 1);
    /* The shim has the restored registry: the thing's certificate works again. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_mqtt_connect(f->device, WAIT_MS) != 0) {
        assert_true(dd_clock_mono_ms() < deadline);
    }
    /* Refusals: a missing snapshot, a bad name. */
    assert_int_equal(dd_pipetest_cli(&f->pt, &out, "snapshot", "restore", "nope", NULL), 1);
    assert_non_null(strstr(out, "No snapshot named nope"));
    free(out);
    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "snapshot", "save", "../x", NULL), 1);
    f->pt.passed = true;
}

/* `up --manual-clock --start-time`: the pipeline starts at that time, to the millisecond. */
static void test_pipeline_ctl_start_time(void **state)
{
    static const char *const ARGS[] = {"--start-time", "2024-01-01T00:00:00Z", NULL};
    dd_pipetest_options_t opts;
    dd_pipetest_t pt;
    int64_t now = 0;

    (void)state;
    memset(&opts, 0, sizeof(opts));
    opts.extra_args = ARGS;
    assert_int_equal(dd_pipetest_start(&pt, &opts), DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_clock_now(&pt, &now), DD_PIPETEST_OK);
    assert_int_equal(now, 1704067200000LL);
    assert_int_equal(dd_pipetest_clock_advance(&pt, 1.5, &now), DD_PIPETEST_OK);
    assert_int_equal(now, 1704067201500LL);
    pt.passed = true;
    assert_int_equal(dd_pipetest_stop(&pt), 0);
}

/* One run of `up --seed SEED` on a fresh data dir: a violating report; its violation id. */
static void seeded_violation_id(const char *seed, char *id, size_t id_len)
{
    const char *args[] = {"--start-time", "2024-01-01T00:00:00Z", "--seed", seed, NULL};
    const char *report = "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"metrics\":{"
                         "\"network_stats\":{\"bytes_in\":1,\"bytes_out\":5000,"
                         "\"packets_in\":2,\"packets_out\":3}}}";
    dd_pipetest_options_t opts;
    fixture_t f;
    char policy[700];
    char cert[600];
    char key[600];
    cJSON *events = NULL;
    int64_t deadline;

    memset(&f, 0, sizeof(f));
    memset(&opts, 0, sizeof(opts));
    opts.extra_args = args;
    assert_int_equal(dd_pipetest_start(&f.pt, &opts), DD_PIPETEST_OK);
    dd_pipetest_fixture("policies/device-policy-per-thing.json", policy, sizeof(policy));
    assert_int_equal(dd_pipetest_cli(&f.pt, NULL, "policy", "create", "DevicePolicy", policy, NULL),
                     0);
    assert_int_equal(dd_pipetest_profile(&f.pt, "P", "profiles/module4-intended.json"),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_thing(&f.pt, THING, "DevicePolicy", cert, key), DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_new(&f.pt, THING, cert, key, true, &f.device),
                     DD_PIPETEST_OK);
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_mqtt_connect(f.device, WAIT_MS) != 0) {
        assert_true(dd_clock_mono_ms() < deadline);
    }
    assert_int_equal(dd_pipetest_mqtt_publish(f.device, REPORT_TOPIC, report, strlen(report), 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_clock_advance(&f.pt, 1, NULL), DD_PIPETEST_OK); /* barrier */
    assert_int_equal(dd_pipetest_violation_events(&f.pt, THING, &events), DD_PIPETEST_OK);
    assert_int_equal(cJSON_GetArraySize(events), 1);
    (void)snprintf(id, id_len, "%s",
                   cJSON_GetStringValue(
                       cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(events, 0),
                                                        "violationId")));
    cJSON_Delete(events);
    dd_pipetest_mqtt_destroy(f.device);
    f.pt.passed = true;
    assert_int_equal(dd_pipetest_stop(&f.pt), 0);
}

/* `up --seed`: two runs with the same inputs give the same violation id; another seed, another. */
static void test_pipeline_ctl_seed(void **state)
{
    char first[128];
    char again[128];
    char other[128];

    (void)state;
    seeded_violation_id("42", first, sizeof(first));
    seeded_violation_id("42", again, sizeof(again));
    seeded_violation_id("43", other, sizeof(other));
    assert_true(first[0] != '\0');
    assert_string_equal(first, again);
    assert_string_not_equal(first, other);
}

/* GET /ddlocal/v1/clock: pipeline time, scale and spec. */
static void get_clock(dd_pipetest_t *pt, int64_t *now, double *scale, char *spec, size_t len)
{
    cJSON *out = NULL;

    assert_int_equal(dd_pipetest_api(pt, "GET", "/ddlocal/v1/clock", NULL, NULL, &out),
                     DD_PIPETEST_OK);
    *now = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(out, "pipelineTimeMs"));
    *scale = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(out, "scale"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "mode")),
                        "scaled");
    (void)snprintf(spec, len, "%s",
                   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "spec")));
    cJSON_Delete(out);
}

/* The shim's metered connect time of THING's open connection (GET /ddlocal/v1/connections);
 * 0 while there is none. */
static int64_t metered_connect_ms(dd_pipetest_t *pt)
{
    cJSON *out = NULL;
    const cJSON *c;
    int64_t at = 0;

    if (dd_pipetest_api(pt, "GET", "/ddlocal/v1/connections", NULL, NULL, &out) != DD_PIPETEST_OK) {
        return 0;
    }
    cJSON_ArrayForEach (c, cJSON_GetObjectItemCaseSensitive(out, "connections")) {
        const char *thing = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "thing"));
        if (thing != NULL && strcmp(thing, THING) == 0) {
            at = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "connectedAt"));
        }
    }
    cJSON_Delete(out);
    return at;
}

static void test_pipeline_ctl_scale_change(void **state)
{
    dd_pipetest_options_t opts;
    dd_endpoints_t ep;
    fixture_t f;
    char policy[700];
    char cert[600];
    char key[600];
    char spec[DD_CLOCK_SPEC_MAX];
    char spec_after[DD_CLOCK_SPEC_MAX];
    cJSON *out = NULL;
    long http = 0;
    int64_t t0;
    int64_t t1;
    int64_t before;
    int64_t after;
    int64_t connected;
    int64_t now;
    double scale;
    int64_t deadline;
    pid_t old_pid;

    (void)state;
    memset(&f, 0, sizeof(f));
    memset(&opts, 0, sizeof(opts));
    opts.time_scale = "60";
    assert_int_equal(dd_pipetest_start(&f.pt, &opts), DD_PIPETEST_OK);
    dd_pipetest_fixture("policies/device-policy-per-thing.json", policy, sizeof(policy));
    assert_int_equal(dd_pipetest_cli(&f.pt, NULL, "policy", "create", "DevicePolicy", policy, NULL),
                     0);
    assert_int_equal(dd_pipetest_thing(&f.pt, THING, "DevicePolicy", cert, key), DD_PIPETEST_OK);
    get_clock(&f.pt, &t0, &scale, spec, sizeof(spec));
    assert_true(scale == 60.0);

    /* Bad scales: a clear error, nothing changes. */
    assert_int_equal(dd_pipetest_cli(&f.pt, NULL, "clock", "scale", "0", NULL), 2);
    assert_int_equal(dd_pipetest_cli(&f.pt, NULL, "clock", "scale", "fast", NULL), 2);
    assert_int_equal(dd_pipetest_api(&f.pt, "POST", "/ddlocal/v1/clock", "{\"scale\":\"fast\"}",
                                     &http, &out),
                     DD_PIPETEST_FAILED);
    assert_int_equal(http, 400);
    cJSON_Delete(out);
    out = NULL;

    /* x60 -> x600 through the CLI: no jump, and endpoints.json names the new anchor. */
    assert_int_equal(dd_pipetest_cli(&f.pt, NULL, "clock", "scale", "600", NULL), 0);
    get_clock(&f.pt, &t1, &scale, spec, sizeof(spec));
    assert_true(scale == 600.0);
    assert_true(t1 >= t0);
    assert_int_equal(dd_endpoints_read(f.pt.data_dir, &ep), DD_ENDPOINTS_OK);
    assert_string_equal(ep.clock, spec);
    assert_int_equal(strncmp(spec, "scaled:600:", 11), 0);
    assert_int_equal(dd_pipetest_api(&f.pt, "GET", "/ddlocal/v1/events?type=clock", NULL, NULL,
                                     &out),
                     DD_PIPETEST_OK);
    {
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(out, "events"), 0);
        assert_non_null(e);
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "scale")) == 600.0);
        assert_true(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "previousScale")) ==
                    60.0);
    }
    cJSON_Delete(out);
    out = NULL;

    /* The shim runs on the new anchor too. Once 2 pipeline minutes passed (0.2 s at x600, 2 s
     * at x60), a connection it meters lands between two readings of ddlocald's clock; on the
     * old x60 anchor it would be minutes behind the first. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    do {
        assert_true(dd_clock_mono_ms() < deadline);
        dd_clock_sleep_ms(20);
        get_clock(&f.pt, &before, &scale, spec_after, sizeof(spec_after));
    } while (before < t1 + 120000);
    assert_int_equal(dd_pipetest_mqtt_new(&f.pt, THING, cert, key, true, &f.device),
                     DD_PIPETEST_OK);
    while (dd_pipetest_mqtt_connect(f.device, WAIT_MS) != 0) {
        assert_true(dd_clock_mono_ms() < deadline);
    }
    get_clock(&f.pt, &after, &scale, spec_after, sizeof(spec_after));
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while ((connected = metered_connect_ms(&f.pt)) == 0) {
        assert_true(dd_clock_mono_ms() < deadline);
        dd_clock_sleep_ms(20);
    }
    if (connected < before || connected > after) {
        fail_msg("the shim metered the connect at %lld, outside ddlocald's [%lld, %lld]",
                 (long long)connected, (long long)before, (long long)after);
    }

    /* kill -9 ddlocald: `up` restarts it on the new anchor; time goes on from where it was. */
    old_pid = dd_pipetest_ddlocald_pid(&f.pt);
    assert_true(old_pid > 0);
    assert_int_equal(kill(old_pid, SIGKILL), 0);
    deadline = dd_clock_mono_ms() + 30000;
    while (dd_pipetest_ddlocald_pid(&f.pt) == old_pid || dd_pipetest_ddlocald_pid(&f.pt) == 0) {
        assert_true(dd_clock_mono_ms() < deadline);
        dd_clock_sleep_ms(50);
    }
    get_clock(&f.pt, &now, &scale, spec_after, sizeof(spec_after));
    assert_true(scale == 600.0);
    assert_string_equal(spec_after, spec);
    assert_true(now >= after);
    assert_int_equal(dd_endpoints_read(f.pt.data_dir, &ep), DD_ENDPOINTS_OK);
    assert_string_equal(ep.clock, spec);

    dd_pipetest_mqtt_destroy(f.device);
    f.pt.passed = true;
    assert_int_equal(dd_pipetest_stop(&f.pt), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline_ctl_advance_counts_what_the_broker_accepted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_ctl_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_ctl_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_ctl_snapshot_restore, setup, teardown),
        cmocka_unit_test(test_pipeline_ctl_start_time),
        cmocka_unit_test(test_pipeline_ctl_seed),
        cmocka_unit_test(test_pipeline_ctl_scale_change),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
