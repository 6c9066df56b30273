/*
 * Issue 14 item 7: fleet provisioning by claim over MQTT, end to end on a real
 * broker. A claim certificate (CreateKeysAndCertificate + a claim policy
 * through the API) connects, creates keys on $aws/certificates/create/json,
 * provisions with a template on $aws/provisioning-templates/NAME/provision/json,
 * then the new certificate connects as the new thing and its Device Defender
 * report is accepted. Errors (bad token, unknown template, missing parameter)
 * come back on /rejected, and a failed RegisterThing changes nothing. Replies reach
 * only the connection that asked, even when another device holds the same claim.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_fs.h"
#include "dd_pipetest.h"

#define WAIT_MS 20000
#define TEMPLATE "SensorTemplate"
#define CREATE "$aws/certificates/create/json"
#define CSR "$aws/certificates/create-from-csr/json"
#define PROVISION "$aws/provisioning-templates/" TEMPLATE "/provision/json"
#define ARN_PREFIX "arn:aws:iot:us-east-1:123456789012:"

/* AWS's claim policy: the provisioning topics and nothing else. */
#define CLAIM_POLICY                                                                    \
    "{\"Version\":\"2012-10-17\",\"Statement\":["                                       \
    "{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"*\"},"             \
    "{\"Effect\":\"Allow\",\"Action\":[\"iot:Publish\",\"iot:Receive\"],\"Resource\":[" \
    "\"" ARN_PREFIX "topic/$aws/certificates/create/*\","                               \
    "\"" ARN_PREFIX "topic/$aws/certificates/create-from-csr/*\","                      \
    "\"" ARN_PREFIX "topic/$aws/provisioning-templates/*\"]},"                          \
    "{\"Effect\":\"Allow\",\"Action\":\"iot:Subscribe\",\"Resource\":["                 \
    "\"" ARN_PREFIX "topicfilter/$aws/certificates/create/*\","                         \
    "\"" ARN_PREFIX "topicfilter/$aws/certificates/create-from-csr/*\","                \
    "\"" ARN_PREFIX "topicfilter/$aws/provisioning-templates/*\"]}]}"

#define DEVICE_POLICY                             \
    "{\"Version\":\"2012-10-17\",\"Statement\":[" \
    "{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}]}"

/* The template of AWS's fleet provisioning samples, with a Fn::Join. */
#define TEMPLATE_BODY                                                                              \
    "{\"Parameters\":{\"ThingName\":{\"Type\":\"String\"},"                                        \
    "\"SerialNumber\":{\"Type\":\"String\",\"Default\":\"0\"},"                                    \
    "\"AWS::IoT::Certificate::Id\":{\"Type\":\"String\"}},"                                        \
    "\"Resources\":{\"thing\":{\"Type\":\"AWS::IoT::Thing\",\"Properties\":{"                      \
    "\"ThingName\":{\"Ref\":\"ThingName\"},"                                                       \
    "\"AttributePayload\":{\"serial\":{\"Ref\":\"SerialNumber\"}}},"                               \
    "\"OverrideSettings\":{\"AttributePayload\":\"MERGE\"}},"                                      \
    "\"certificate\":{\"Type\":\"AWS::IoT::Certificate\",\"Properties\":{"                         \
    "\"CertificateId\":{\"Ref\":\"AWS::IoT::Certificate::Id\"},\"Status\":\"Active\"}},"           \
    "\"policy\":{\"Type\":\"AWS::IoT::Policy\",\"Properties\":{\"PolicyName\":\"DevicePolicy\"}}}" \
    ","                                                                                            \
    "\"DeviceConfiguration\":{\"FallbackUrl\":{\"Fn::Join\":[\"/\",[\"https://example.com\","      \
    "{\"Ref\":\"SerialNumber\"}]]}}}"

typedef struct fixture {
    dd_pipetest_t pt;
    dd_pipetest_mqtt_t *claim;
    char claim_cert[600];
    char claim_key[600];
} fixture_t;

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc;

    if (f == NULL) {
        return 0;
    }
    dd_pipetest_mqtt_destroy(f->claim);
    rc = dd_pipetest_stop(&f->pt);
    free(f);
    return rc == 0 ? 0 : -1;
}

static int write_member(const cJSON *obj, const char *member, const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, member);

    if (!cJSON_IsString(v)) {
        return -1;
    }
    return dd_fs_write_atomic(path, v->valuestring, strlen(v->valuestring), 0600) == DD_FS_OK ? 0
                                                                                              : -1;
}

static int api_json(fixture_t *f, const char *method, const char *path, cJSON *body, cJSON **out)
{
    char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;
    dd_pipetest_status_t st = dd_pipetest_api(&f->pt, method, path, text, NULL, out);

    cJSON_free(text);
    cJSON_Delete(body);
    return st == DD_PIPETEST_OK ? 0 : -1;
}

static int create_policy(fixture_t *f, const char *name, const char *doc)
{
    char path[128];
    cJSON *body = cJSON_CreateObject();

    (void)cJSON_AddStringToObject(body, "policyDocument", doc);
    (void)snprintf(path, sizeof(path), "/policies/%s", name);
    return api_json(f, "POST", path, body, NULL);
}

/* The claim certificate and its policy, through the API as a fleet operator does. */
static int make_claim(fixture_t *f)
{
    cJSON *out = NULL;
    cJSON *body;
    char path[256];
    int rc;

    if (create_policy(f, "ClaimPolicy", CLAIM_POLICY) != 0 ||
        api_json(f, "POST", "/keys-and-certificate?setAsActive=true", NULL, &out) != 0) {
        return -1;
    }
    (void)snprintf(f->claim_cert, sizeof(f->claim_cert), "%s/claim.pem", f->pt.tmp_dir);
    (void)snprintf(f->claim_key, sizeof(f->claim_key), "%s/claim.key", f->pt.tmp_dir);
    rc = write_member(out, "certificatePem", f->claim_cert);
    if (rc == 0) {
        rc = write_member(cJSON_GetObjectItemCaseSensitive(out, "keyPair"), "PrivateKey",
                          f->claim_key);
    }
    body = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(body, "target",
                                  cJSON_GetStringValue(
                                      cJSON_GetObjectItemCaseSensitive(out, "certificateArn")));
    cJSON_Delete(out);
    (void)snprintf(path, sizeof(path), "/target-policies/%s", "ClaimPolicy");
    return rc == 0 ? api_json(f, "PUT", path, body, NULL) : (cJSON_Delete(body), -1);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    static const char *const replies[] = {CREATE "/+", CSR "/+", "$aws/certificates/create/cbor/+",
                                          "$aws/provisioning-templates/+/provision/json/+"};
    cJSON *body;
    size_t i;

    *state = f;
    if (f == NULL || dd_pipetest_start(&f->pt, NULL) != DD_PIPETEST_OK ||
        create_policy(f, "DevicePolicy", DEVICE_POLICY) != 0 || make_claim(f) != 0) {
        goto fail;
    }
    body = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(body, "templateName", TEMPLATE);
    (void)cJSON_AddStringToObject(body, "templateBody", TEMPLATE_BODY);
    (void)cJSON_AddBoolToObject(body, "enabled", true);
    (void)cJSON_AddStringToObject(body, "provisioningRoleArn",
                                  "arn:aws:iam::123456789012:role/Provisioning");
    if (api_json(f, "POST", "/provisioning-templates", body, NULL) != 0 ||
        dd_pipetest_mqtt_new(&f->pt, "claim-device-1", f->claim_cert, f->claim_key, true,
                             &f->claim) != DD_PIPETEST_OK ||
        dd_pipetest_mqtt_connect(f->claim, WAIT_MS) != 0) {
        goto fail;
    }
    for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
        int granted = -1;

        if (dd_pipetest_mqtt_subscribe(f->claim, replies[i], 1, WAIT_MS, &granted) !=
                DD_PIPETEST_OK ||
            granted != 1) {
            goto fail;
        }
    }
    return 0;
fail:
    (void)teardown(state);
    *state = NULL;
    return -1;
}

/* Publishes @p payload on @p topic from the claim client and returns the reply's JSON. */
static cJSON *request(fixture_t *f, const char *topic, const char *payload, bool want_accepted)
{
    char filter[256];
    dd_pipetest_msg_t *m = NULL;
    cJSON *out;

    assert_int_equal(dd_pipetest_mqtt_publish(f->claim, topic, payload, strlen(payload), 1,
                                              WAIT_MS),
                     DD_PIPETEST_OK);
    (void)snprintf(filter, sizeof(filter), "%s/+", topic);
    assert_int_equal(dd_pipetest_mqtt_wait_message(f->claim, filter, WAIT_MS, &m), DD_PIPETEST_OK);
    if ((strstr(m->topic, "/accepted") != NULL) != want_accepted) {
        fprintf(stderr, "unexpected reply on %s: %s\n", m->topic, (const char *)m->payload);
        fail();
    }
    out = cJSON_ParseWithLength((const char *)m->payload, m->len);
    dd_pipetest_msg_free(m);
    assert_non_null(out);
    return out;
}

static void assert_rejected(cJSON *reply, int status, const char *code)
{
    assert_int_equal((int)cJSON_GetNumberValue(
                         cJSON_GetObjectItemCaseSensitive(reply, "statusCode")),
                     status);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "errorCode")),
                        code);
    assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "errorMessage")));
    cJSON_Delete(reply);
}

static char *provision_payload(const char *token, const char *thing, const char *serial)
{
    cJSON *req = cJSON_CreateObject();
    cJSON *params = cJSON_AddObjectToObject(req, "parameters");
    char *text;

    (void)cJSON_AddStringToObject(req, "certificateOwnershipToken", token);
    if (thing != NULL) {
        (void)cJSON_AddStringToObject(params, "ThingName", thing);
    }
    if (serial != NULL) {
        (void)cJSON_AddStringToObject(params, "SerialNumber", serial);
    }
    text = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    return text;
}

/*
 * A second device with the same claim certificate, subscribed to the same reply topics,
 * never sees the first one's keys: replies go to the connection that asked (as AWS's).
 * Its first message must be the answer to its own request, which it sends only after the
 * first device got its answer.
 */
static void assert_private_reply(fixture_t *f, const char *first_cert_id)
{
    dd_pipetest_mqtt_t *other = NULL;
    dd_pipetest_msg_t *m = NULL;
    cJSON *keys;
    int granted = -1;

    assert_int_equal(dd_pipetest_mqtt_new(&f->pt, "claim-device-2", f->claim_cert, f->claim_key,
                                          true, &other),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_connect(other, WAIT_MS), 0);
    assert_int_equal(dd_pipetest_mqtt_subscribe(other, CREATE "/+", 1, WAIT_MS, &granted),
                     DD_PIPETEST_OK);
    assert_int_equal(granted, 1);
    keys = request(f, CREATE, "{}", true); /* the first device asks again */
    assert_int_equal(dd_pipetest_mqtt_publish(other, CREATE, "{}", 2, 1, WAIT_MS), DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_wait_message(other, CREATE "/+", WAIT_MS, &m),
                     DD_PIPETEST_OK);
    assert_string_equal(m->topic, CREATE "/accepted");
    assert_null(strstr((const char *)m->payload, first_cert_id));
    assert_null(
        strstr((const char *)m->payload,
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(keys, "certificateId"))));
    dd_pipetest_msg_free(m);
    cJSON_Delete(keys);
    dd_pipetest_mqtt_destroy(other);
}

static void test_provision_then_report(void **state)
{
    fixture_t *f = *state;
    cJSON *keys = request(f, CREATE, "{}", true);
    const char *token =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(keys, "certificateOwnershipToken"));
    char cert[600];
    char key[600];
    char *payload;
    cJSON *reply;
    cJSON *thing = NULL;
    dd_pipetest_mqtt_t *device = NULL;
    dd_pipetest_msg_t *m = NULL;
    const char *report = "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"metrics\":{}}";
    int granted = -1;

    assert_non_null(token);
    assert_int_equal(
        strlen(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(keys, "certificateId"))), 64);
    assert_private_reply(f, cJSON_GetStringValue(
                                cJSON_GetObjectItemCaseSensitive(keys, "certificateId")));
    (void)snprintf(cert, sizeof(cert), "%s/device.pem", f->pt.tmp_dir);
    (void)snprintf(key, sizeof(key), "%s/device.key", f->pt.tmp_dir);
    assert_int_equal(write_member(keys, "certificatePem", cert), 0);
    assert_int_equal(write_member(keys, "privateKey", key), 0);

    /* Before RegisterThing the new certificate is PENDING_ACTIVATION: no connection. */
    assert_int_equal(dd_pipetest_mqtt_new(&f->pt, "Sensor-42", cert, key, true, &device),
                     DD_PIPETEST_OK);
    assert_int_not_equal(dd_pipetest_mqtt_connect(device, WAIT_MS), 0);

    payload = provision_payload(token, "Sensor-42", "42");
    reply = request(f, PROVISION, payload, true);
    free(payload);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "thingName")),
                        "Sensor-42");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(reply, "deviceConfiguration"),
                            "FallbackUrl")),
                        "https://example.com/42");
    cJSON_Delete(reply);

    /* The token is spent. */
    payload = provision_payload(token, "Sensor-43", "43");
    assert_rejected(request(f, PROVISION, payload, false), 400, "InvalidCertificateOwnershipToken");
    free(payload);
    cJSON_Delete(keys);

    /* The thing exists with its attribute; the new certificate connects as it at once. */
    assert_int_equal(dd_pipetest_api(&f->pt, "GET", "/things/Sensor-42", NULL, NULL, &thing),
                     DD_PIPETEST_OK);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(thing, "attributes"), "serial")),
                        "42");
    cJSON_Delete(thing);
    assert_int_equal(dd_pipetest_mqtt_connect(device, WAIT_MS), 0);
    assert_int_equal(dd_pipetest_mqtt_subscribe(device,
                                                "$aws/things/Sensor-42/defender/metrics/json/+", 1,
                                                WAIT_MS, &granted),
                     DD_PIPETEST_OK);
    assert_int_equal(granted, 1);
    assert_int_equal(dd_pipetest_mqtt_publish(device, "$aws/things/Sensor-42/defender/metrics/json",
                                              report, strlen(report), 1, WAIT_MS),
                     DD_PIPETEST_OK);
    assert_int_equal(dd_pipetest_mqtt_wait_message(device,
                                                   "$aws/things/Sensor-42/defender/metrics/json/+",
                                                   WAIT_MS, &m),
                     DD_PIPETEST_OK);
    assert_string_equal(m->topic, "$aws/things/Sensor-42/defender/metrics/json/accepted");
    dd_pipetest_msg_free(m);
    dd_pipetest_mqtt_destroy(device);
    f->pt.passed = true;
}

static void test_rejections(void **state)
{
    fixture_t *f = *state;
    cJSON *keys = request(f, CREATE, "", true); /* an empty payload is {} */
    const char *token =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(keys, "certificateOwnershipToken"));
    char *payload;
    cJSON *reply;
    int64_t things = -1;

    assert_non_null(token);
    assert_rejected(request(f, PROVISION, "{\"parameters\":{}}", false), 400,
                    "InvalidCertificateOwnershipToken");
    payload = provision_payload("0123456789abcdef", "Sensor-50", NULL);
    assert_rejected(request(f, PROVISION, payload, false), 400, "InvalidCertificateOwnershipToken");
    free(payload);
    payload = provision_payload(token, "Sensor-50", NULL);
    assert_rejected(request(f, "$aws/provisioning-templates/NoSuchTemplate/provision/json", payload,
                            false),
                    404, "ResourceNotFound");
    free(payload);
    /* ThingName has no Default: missing, nothing is created and the token stays good. */
    payload = provision_payload(token, NULL, "50");
    assert_rejected(request(f, PROVISION, payload, false), 400, "InvalidParameters");
    free(payload);
    assert_int_equal(dd_pipetest_db_int(&f->pt, "SELECT count(*) FROM things", &things),
                     DD_PIPETEST_OK);
    assert_int_equal(things, 0);
    assert_rejected(request(f, CREATE, "not json", false), 400, "InvalidPayload");
    assert_rejected(request(f, CSR, "{\"certificateSigningRequest\":\"nope\"}", false), 400,
                    "InvalidCertificateSigningRequest");

    /* CBOR: an empty map in, a CBOR map out (its first byte: a map of 4 pairs). */
    {
        dd_pipetest_msg_t *m = NULL;

        assert_int_equal(dd_pipetest_mqtt_publish(f->claim, "$aws/certificates/create/cbor", "\xa0",
                                                  1, 1, WAIT_MS),
                         DD_PIPETEST_OK);
        assert_int_equal(dd_pipetest_mqtt_wait_message(f->claim, "$aws/certificates/create/cbor/+",
                                                       WAIT_MS, &m),
                         DD_PIPETEST_OK);
        assert_string_equal(m->topic, "$aws/certificates/create/cbor/accepted");
        assert_true(m->len > 1000);
        assert_int_equal(m->payload[0], 0xa4);
        dd_pipetest_msg_free(m);
    }

    payload = provision_payload(token, "Sensor-50", NULL);
    reply = request(f, PROVISION, payload, true);
    free(payload);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(reply, "thingName")),
                        "Sensor-50");
    /* SerialNumber's Default. */
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(reply, "deviceConfiguration"),
                            "FallbackUrl")),
                        "https://example.com/0");
    cJSON_Delete(reply);
    cJSON_Delete(keys);
    f->pt.passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_provision_then_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejections, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
