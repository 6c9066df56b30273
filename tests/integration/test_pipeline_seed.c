/*
 * Issue 14 item 3, `ddlocal up --seed N`: two runs with the same inputs (a
 * fresh data dir each, the same --seed and --start-time, manual clock) give
 * byte-identical API answers and event log; another seed gives other ids.
 *
 * The scripted sequence goes through the AWS API only (the CLI's own
 * registry writes are not ddlocald's): a thing group, a policy, a thing,
 * CreateKeysAndCertificate (the device then connects with those
 * credentials), CreateCertificateFromCsr, a security profile, a violating
 * report, a mitigation action and a task over the violation, then the
 * Describe/List calls. Every response body and the SNS stand-in's MQTT
 * message are kept as text, in order, and the two transcripts must be equal
 * byte for byte. DD_SEED_TEST_SHOW=1 in the environment prints the first
 * run's transcript.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_apiclient.h"
#include "dd_clock.h"
#include "dd_fs.h"
#include "dd_pipetest.h"

#define THING "Thing01"
#define CLI_THING "Thing02"
#define GROUP "Quarantine"
#define REPORT_TOPIC "$aws/things/" THING "/defender/metrics/json"
#define SNS_TOPIC "ddlocal/sns/BadIoTDevices"
#define WAIT_MS 10000
#define ROLE "arn:aws:iam::123456789012:role/ddlocal-mitigation"
#define ALL_THINGS "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Aall%2Fthings"

/* A fixed CSR (P-256 key, CN=CsrDevice): the test's input, so it must not change per run. */
static const char CSR[] = "-----BEGIN CERTIFICATE REQUEST-----\\n"
                          "MIHOMHYCAQAwFDESMBAGA1UEAwwJQ3NyRGV2aWNlMFkwEwYHKoZIzj0CAQYIKoZI\\n"
                          "zj0DAQcDQgAEClyFdnUcSFXX6GM5m7pESynK6rNMGwcKm4XtO2OvJkeZpkZw1wy4\\n"
                          "uoJg+73fkvJ+tDD7Z/NndoHn4Gd0O3fnsaAAMAoGCCqGSM49BAMCA0gAMEUCIFEe\\n"
                          "6IFkZwH2mXPkuNrC4bN6gLcsc14XaGFUQr3NkBgtAiEA9ntgZ4kLDvIifFhAffOn\\n"
                          "X0YLFvKzKg2acz2izibK0CQ=\\n"
                          "-----END CERTIFICATE REQUEST-----\\n";

/* What one run answered, in order, and the ids the comparisons look at. */
typedef struct run {
    char *transcript;
    size_t len;
    char thing_id[64];
    char cert_id[80];
    char csr_cert_id[80];
    char action_id[64];
    char cli_thing_id[64];
    char violation_id[80];
} run_t;

static void append(run_t *r, const char *text)
{
    size_t n = strlen(text);
    char *t = realloc(r->transcript, r->len + n + 1);

    assert_non_null(t);
    memcpy(t + r->len, text, n + 1);
    r->transcript = t;
    r->len += n;
}

/* One API call; its status and body go into the transcript. Returns the parsed body. */
static cJSON *call(dd_pipetest_t *pt, run_t *r, const char *method, const char *path,
                   const char *header, const char *body)
{
    char line[1200];
    char *resp = NULL;
    long http = 0;
    cJSON *out;

    assert_int_equal(dd_apiclient_request_h(pt->api, method, path, header, body, &http, &resp),
                     DD_APICLIENT_OK);
    (void)snprintf(line, sizeof(line), "%s %s -> %ld\n", method, path, http);
    append(r, line);
    append(r, resp != NULL ? resp : "");
    append(r, "\n");
    if (http < 200 || http > 299) {
        fprintf(stderr, "%s %s: HTTP %ld %s\n", method, path, http, resp != NULL ? resp : "");
    }
    assert_true(http >= 200 && http <= 299);
    out = resp != NULL && resp[0] != '\0' ? cJSON_Parse(resp) : cJSON_CreateObject();
    free(resp);
    assert_non_null(out);
    return out;
}

static void copy_member(const cJSON *obj, const char *name, char *buf, size_t len)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));

    assert_non_null(v);
    (void)snprintf(buf, len, "%s", v);
}

static void write_file(const dd_pipetest_t *pt, const char *name, const char *text, char *path,
                       size_t len)
{
    (void)snprintf(path, len, "%s/%s", pt->tmp_dir, name);
    assert_int_equal(dd_fs_write_atomic(path, text, strlen(text), 0600), DD_FS_OK);
}

static void setup_registry(dd_pipetest_t *pt, run_t *r, char *cert_path, char *key_path)
{
    char policy[4096];
    char fixture[700];
    char *text = NULL;
    size_t text_len = 0;
    char header[300];
    char body[8192];
    cJSON *o;
    cJSON *doc;
    char *printed;

    cJSON_Delete(call(pt, r, "POST", "/thing-groups/" GROUP, NULL, "{}"));

    dd_pipetest_fixture("policies/device-policy-per-thing.json", fixture, sizeof(fixture));
    assert_int_equal(dd_fs_read_file(fixture, 1 << 16, &text, &text_len), DD_FS_OK);
    doc = cJSON_CreateObject();
    assert_non_null(cJSON_AddStringToObject(doc, "policyDocument", text));
    free(text);
    printed = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    (void)snprintf(policy, sizeof(policy), "%s", printed);
    cJSON_free(printed);
    cJSON_Delete(call(pt, r, "POST", "/policies/DevicePolicy", NULL, policy));

    o = call(pt, r, "POST", "/things/" THING, NULL, "{\"attributePayload\":{\"attributes\":{}}}");
    copy_member(o, "thingId", r->thing_id, sizeof(r->thing_id));
    cJSON_Delete(o);

    o = call(pt, r, "POST", "/keys-and-certificate?setAsActive=true", NULL, NULL);
    copy_member(o, "certificateId", r->cert_id, sizeof(r->cert_id));
    write_file(pt, "device.pem",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "certificatePem")),
               cert_path, 600);
    write_file(pt, "device.key",
               cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "keyPair"),
                                                    "PrivateKey")),
               key_path, 600);
    (void)snprintf(header, sizeof(header), "x-amzn-principal: %s",
                   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "certificateArn")));
    (void)snprintf(body, sizeof(body), "{\"target\":\"%s\"}",
                   cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "certificateArn")));
    cJSON_Delete(o);
    cJSON_Delete(call(pt, r, "PUT", "/target-policies/DevicePolicy", NULL, body));
    cJSON_Delete(call(pt, r, "PUT", "/things/" THING "/principals", header, NULL));

    (void)snprintf(body, sizeof(body), "{\"certificateSigningRequest\":\"%s\"}", CSR);
    o = call(pt, r, "POST", "/certificates?setAsActive=true", NULL, body);
    copy_member(o, "certificateId", r->csr_cert_id, sizeof(r->csr_cert_id));
    cJSON_Delete(o);

    /* The CLI writes the registry itself: it follows ddlocald's seed and pipeline time. */
    {
        char *out = NULL;
        assert_int_equal(dd_pipetest_cli(pt, &out, "thing", "create", CLI_THING, "--with-cert",
                                         "--key-type", "ec", "--policy", "DevicePolicy", NULL),
                         0);
        char *shown;
        o = out != NULL ? cJSON_Parse(out) : NULL;
        free(out);
        assert_non_null(o);
        copy_member(o, "thingId", r->cli_thing_id, sizeof(r->cli_thing_id));
        /* The files are under each run's own temporary dir. */
        cJSON_DeleteItemFromObjectCaseSensitive(o, "certificateFile");
        cJSON_DeleteItemFromObjectCaseSensitive(o, "privateKeyFile");
        cJSON_DeleteItemFromObjectCaseSensitive(o, "rootCaFile");
        shown = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        assert_non_null(shown);
        append(r, "ddlocal thing create " CLI_THING "\n");
        append(r, shown);
        append(r, "\n");
        cJSON_free(shown);
    }

    dd_pipetest_fixture("profiles/module4-intended.json", fixture, sizeof(fixture));
    assert_int_equal(dd_fs_read_file(fixture, 1 << 16, &text, &text_len), DD_FS_OK);
    doc = cJSON_Parse(text);
    free(text);
    assert_non_null(doc);
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "securityProfileName");
    printed = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    (void)snprintf(body, sizeof(body), "%s", printed);
    cJSON_free(printed);
    cJSON_Delete(call(pt, r, "POST", "/security-profiles/P", NULL, body));
    cJSON_Delete(call(pt, r, "PUT",
                      "/security-profiles/P/targets?securityProfileTargetArn=" ALL_THINGS, NULL,
                      NULL));
}

/* The device connects with the API's credentials and sends a report over the profile's limit. */
static void violate(dd_pipetest_t *pt, run_t *r, const char *cert_path, const char *key_path)
{
    const char *report = "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"metrics\":{"
                         "\"network_stats\":{\"bytes_in\":1,\"bytes_out\":5000,"
                         "\"packets_in\":2,\"packets_out\":3}}}";
    dd_pipetest_mqtt_t *device = NULL;
    dd_pipetest_mqtt_t *watch = NULL;
    dd_pipetest_msg_t *m = NULL;
    int64_t deadline;
    int granted = -1;
    cJSON *o;

    /* The SNS stand-in's message (with its MessageId) is output too. */
    assert_int_equal(dd_pipetest_mqtt_new(pt, "ddlocal-test-watch", NULL, NULL, true, &watch),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_connect(watch, WAIT_MS), 0);
    assert_int_equal(dd_pipetest_mqtt_subscribe(watch, SNS_TOPIC, 1, WAIT_MS, &granted),
                     DD_PIPETEST_OK);
    assert_int_equal(granted, 1);
    assert_int_equal(dd_pipetest_mqtt_new(pt, THING, cert_path, key_path, true, &device),
                     DD_PIPETEST_OK);
    /* Registry changes reach the shim within ~100 ms: retry until the certificate is known. */
    deadline = dd_clock_mono_ms() + WAIT_MS;
    while (dd_pipetest_mqtt_connect(device, WAIT_MS) != 0) {
        assert_true(dd_clock_mono_ms() < deadline);
    }
    assert_int_equal(dd_pipetest_mqtt_publish(device, REPORT_TOPIC, report, strlen(report), 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_clock_advance(pt, 1, NULL), DD_PIPETEST_OK); /* barrier */
    dd_pipetest_mqtt_destroy(device);
    assert_int_equal(dd_pipetest_mqtt_wait_message(watch, SNS_TOPIC, WAIT_MS, &m), DD_PIPETEST_OK);
    append(r, "MQTT " SNS_TOPIC "\n");
    {
        char *text = strndup((const char *)m->payload, m->len);
        assert_non_null(text);
        append(r, text);
        append(r, "\n");
        free(text);
    }
    dd_pipetest_msg_free(m);
    dd_pipetest_mqtt_destroy(watch);

    o = call(pt, r, "GET", "/active-violations?thingName=" THING, NULL, NULL);
    copy_member(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "activeViolations"), 0),
                "violationId", r->violation_id, sizeof(r->violation_id));
    cJSON_Delete(o);
    cJSON_Delete(call(pt, r, "GET",
                      "/violation-events?startTime=1704067100&endTime=1704067300&thingName=" THING,
                      NULL, NULL));
}

static void mitigate(dd_pipetest_t *pt, run_t *r)
{
    char body[512];
    int64_t deadline = dd_clock_mono_ms() + WAIT_MS;
    cJSON *o;

    o = call(pt, r, "POST", "/mitigationactions/actions/ToQuarantine", NULL,
             "{\"roleArn\":\"" ROLE "\",\"actionParams\":{\"addThingsToThingGroupParams\":"
             "{\"thingGroupNames\":[\"" GROUP "\"]}}}");
    copy_member(o, "actionId", r->action_id, sizeof(r->action_id));
    cJSON_Delete(o);
    (void)snprintf(body, sizeof(body),
                   "{\"target\":{\"violationIds\":[\"%s\"]},\"actions\":[\"ToQuarantine\"],"
                   "\"clientRequestToken\":\"token-1\"}",
                   r->violation_id);
    cJSON_Delete(call(pt, r, "PUT", "/detect/mitigationactions/tasks/Task1", NULL, body));
    /* The task runs in the background: poll (outside the transcript) until it ended. */
    for (;;) {
        run_t scratch = {0};
        const char *status;

        o = call(pt, &scratch, "GET", "/detect/mitigationactions/tasks/Task1", NULL, NULL);
        status = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "taskSummary"),
                                             "taskStatus"));
        free(scratch.transcript);
        if (status != NULL && strcmp(status, "IN_PROGRESS") != 0) {
            cJSON_Delete(o);
            break;
        }
        cJSON_Delete(o);
        assert_true(dd_clock_mono_ms() < deadline);
    }
    cJSON_Delete(call(pt, r, "GET", "/detect/mitigationactions/tasks/Task1", NULL, NULL));
    cJSON_Delete(
        call(pt, r, "GET", "/detect/mitigationactions/executions?taskId=Task1", NULL, NULL));
}

static void describe_and_list(dd_pipetest_t *pt, run_t *r)
{
    char path[300];
    static const char *const PATHS[] = {
        "/things/" THING,
        "/things/" CLI_THING,
        "/things/" CLI_THING "/principals",
        "/things",
        "/thing-groups",
        "/thing-groups/" GROUP,
        "/thing-groups/" GROUP "/things",
        "/things/" THING "/principals",
        "/certificates",
        "/policies",
        "/policies/DevicePolicy",
        "/security-profiles",
        "/security-profiles/P",
        "/mitigationactions/actions",
        "/mitigationactions/actions/ToQuarantine",
        "/detect/mitigationactions/tasks?startTime=1704067100&endTime=1704067300",
        "/active-violations",
    };

    for (size_t i = 0; i < sizeof(PATHS) / sizeof(PATHS[0]); i++) {
        cJSON_Delete(call(pt, r, "GET", PATHS[i], NULL, NULL));
    }
    (void)snprintf(path, sizeof(path), "/certificates/%s", r->cert_id);
    cJSON_Delete(call(pt, r, "GET", path, NULL, NULL));
    (void)snprintf(path, sizeof(path), "/certificates/%s", r->csr_cert_id);
    cJSON_Delete(call(pt, r, "GET", path, NULL, NULL));
    /* The event log: every event of the run, pipeline time only. */
    cJSON_Delete(call(pt, r, "GET", "/ddlocal/v1/events?after=0", NULL, NULL));
}

static void seeded_run(const char *seed, run_t *r)
{
    const char *args[] = {"--start-time", "2024-01-01T00:00:00Z", "--seed", seed, NULL};
    dd_pipetest_options_t opts;
    dd_pipetest_t pt;
    char cert_path[600];
    char key_path[600];
    int64_t starts = 0;

    memset(r, 0, sizeof(*r));
    memset(&pt, 0, sizeof(pt));
    memset(&opts, 0, sizeof(opts));
    opts.extra_args = args;
    assert_int_equal(dd_pipetest_start(&pt, &opts), DD_PIPETEST_OK);
    setup_registry(&pt, r, cert_path, key_path);
    violate(&pt, r, cert_path, key_path);
    mitigate(&pt, r);
    describe_and_list(&pt, r);
    /* The first seeded start of ddlocald on this data dir is counted: a second start draws
     * from another scope instead of making these ids again. */
    assert_int_equal(dd_pipetest_db_int(&pt,
                                        "SELECT CAST(value AS INTEGER) FROM settings"
                                        " WHERE key = 'seed_starts'",
                                        &starts),
                     DD_PIPETEST_OK);
    assert_int_equal(starts, 1);
    pt.passed = true;
    assert_int_equal(dd_pipetest_stop(&pt), 0);
}

/* Prints the first line where two transcripts differ, so that a failure names the field. */
static void assert_same_transcript(const char *a, const char *b)
{
    size_t line = 1;
    const char *la = a;
    const char *lb = b;

    for (size_t i = 0; a[i] != '\0' || b[i] != '\0'; i++) {
        if (a[i] != b[i]) {
            fprintf(stderr, "transcripts differ at line %zu:\n  first:  %.400s\n  second: %.400s\n",
                    line, la, lb);
            fail();
        }
        if (a[i] == '\n') {
            line++;
            la = a + i + 1;
            lb = b + i + 1;
        }
    }
}

static void test_pipeline_seed_same_seed_same_answers(void **state)
{
    run_t first;
    run_t again;
    run_t other;

    (void)state;
    seeded_run("42", &first);
    seeded_run("42", &again);
    if (getenv("DD_SEED_TEST_SHOW") != NULL) {
        fputs(first.transcript, stderr);
    }
    assert_same_transcript(first.transcript, again.transcript);
    assert_int_equal(strlen(first.cert_id), 64);

    /* Another seed: other ids of every kind. */
    seeded_run("43", &other);
    assert_string_not_equal(first.thing_id, other.thing_id);
    assert_string_not_equal(first.cert_id, other.cert_id);
    assert_string_not_equal(first.csr_cert_id, other.csr_cert_id);
    assert_string_not_equal(first.action_id, other.action_id);
    assert_string_not_equal(first.cli_thing_id, other.cli_thing_id);
    assert_string_not_equal(first.thing_id, first.cli_thing_id);
    assert_string_not_equal(first.violation_id, other.violation_id);
    free(first.transcript);
    free(again.transcript);
    free(other.transcript);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline_seed_same_seed_same_answers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
