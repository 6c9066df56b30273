/*
 * dd_provision: the template language it accepts and refuses, and the
 * device provisioning MQTT API as request in, reply out, on a real registry,
 * store and CA in a temporary dir (EC keys: fast) with a manual clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <cjson/cJSON.h>

#include "dd_db.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_provision.h"

#define TEMPLATE "Tpl"
#define PROVISION "$aws/provisioning-templates/" TEMPLATE "/provision/json"
#define ROLE "arn:aws:iam::123456789012:role/Provisioning"

#define BODY                                                                                  \
    "{\"Parameters\":{\"ThingName\":{\"Type\":\"String\"},"                                   \
    "\"Site\":{\"Type\":\"String\",\"Default\":\"lab\"}},"                                    \
    "\"Resources\":{\"thing\":{\"Type\":\"AWS::IoT::Thing\",\"Properties\":{"                 \
    "\"ThingName\":{\"Fn::Join\":[\"-\",[{\"Ref\":\"Site\"},{\"Ref\":\"ThingName\"}]]},"      \
    "\"AttributePayload\":{\"site\":{\"Ref\":\"Site\"}},\"ThingGroups\":[\"Fleet\"]}},"       \
    "\"certificate\":{\"Type\":\"AWS::IoT::Certificate\",\"Properties\":{"                    \
    "\"CertificateId\":{\"Ref\":\"AWS::IoT::Certificate::Id\"},\"Status\":\"ACTIVE\"}},"      \
    "\"policy\":{\"Type\":\"AWS::IoT::Policy\",\"Properties\":{\"PolicyDocument\":"           \
    "\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\"," \
    "\\\"Action\\\":\\\"iot:*\\\",\\\"Resource\\\":\\\"*\\\"}]}\"}}},"                        \
    "\"DeviceConfiguration\":{\"site\":{\"Ref\":\"Site\"}}}"

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t reg;
    dd_store_t *store;
    dd_pki_ca_t *ca;
    dd_provision_t prov;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    dd_provision_config_t cfg;
    dd_registry_template_t tpl;
    dd_registry_error_t err;
    char path[128];

    if (f == NULL) {
        return -1;
    }
    *state = f;
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_provision_test_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    (void)snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME, f->dir);
    (void)dd_clock_init_manual(&f->clock, 1700000000000LL);
    if (dd_db_open(path, false, &f->db) != DD_DB_OK ||
        dd_registry_open(&f->reg, f->db, NULL, &f->clock) != DD_REGISTRY_OK ||
        dd_store_open(f->db, NULL, &f->store) != DD_STORE_OK ||
        dd_pki_ca_ensure(f->dir, &f->ca) != DD_PKI_OK) {
        return -1;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.registry = &f->reg;
    cfg.store = f->store;
    cfg.ca = f->ca;
    cfg.clock = &f->clock;
    cfg.key_type = DD_PKI_KEY_EC_P256;
    memset(&tpl, 0, sizeof(tpl));
    tpl.name = TEMPLATE;
    tpl.body = BODY;
    tpl.enabled = true;
    tpl.role_arn = ROLE;
    tpl.type = "FLEET_PROVISIONING";
    if (dd_provision_init(&f->prov, &cfg) != DD_PROVISION_OK ||
        dd_registry_template_create(&f->reg, &tpl, &err) != DD_REGISTRY_OK ||
        dd_registry_group_create(&f->reg, "Fleet", NULL, NULL, NULL, NULL, 0, &err) !=
            DD_REGISTRY_OK) {
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    if (f == NULL) {
        return 0;
    }
    dd_provision_destroy(&f->prov);
    dd_pki_ca_free(f->ca);
    dd_store_close(f->store);
    dd_db_close(f->db);
    (void)dd_fs_remove_tree(f->dir);
    free(f);
    return 0;
}

/* ---- the template language ------------------------------------------------------------ */

static void test_check_template(void **state)
{
    static const struct {
        const char *body;
        const char *why; /* a part of the message; NULL = accepted */
    } CASES[] = {
        {BODY, NULL},
        {"{\"Resources\":{\"c\":{\"Type\":\"AWS::IoT::Certificate\",\"Properties\":"
         "{\"CertificateId\":{\"Ref\":\"AWS::IoT::Certificate::Id\"}}}}}",
         NULL},
        {"not json", "not valid JSON"},
        {"{\"Resources\":{}}", "at least one resource"},
        {"{\"Conditions\":{},\"Resources\":{}}", "Conditions"},
        {"{\"Resources\":{\"t\":{\"Type\":\"AWS::IoT::Thing\",\"Properties\":"
         "{\"ThingName\":{\"Fn::Sub\":\"x-${A}\"}}}}}",
         "Fn::Sub"},
        {"{\"Resources\":{\"t\":{\"Type\":\"AWS::IoT::Thing\",\"Properties\":"
         "{\"ThingName\":{\"Ref\":\"Missing\"}}}}}",
         "not in Parameters"},
        {"{\"Resources\":{\"t\":{\"Type\":\"AWS::IoT::Thing\",\"Properties\":"
         "{\"ThingName\":\"a\",\"BillingGroup\":\"b\"}}}}",
         "BillingGroup"},
        {"{\"Resources\":{\"r\":{\"Type\":\"AWS::IoT::JobTemplate\",\"Properties\":{}}}}",
         "AWS::IoT::JobTemplate"},
        {"{\"Parameters\":{\"N\":{\"Type\":\"Number\"}},\"Resources\":{\"t\":{\"Type\":"
         "\"AWS::IoT::Thing\",\"Properties\":{\"ThingName\":\"a\"}}}}",
         "String"},
        {"{\"Resources\":{\"p\":{\"Type\":\"AWS::IoT::Policy\",\"Properties\":"
         "{\"PolicyName\":\"a\",\"PolicyDocument\":\"{}\"}}}}",
         "either PolicyName or PolicyDocument"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        char why[512];
        dd_provision_status_t st = dd_provision_check_template(CASES[i].body, why, sizeof(why));

        if (CASES[i].why == NULL) {
            assert_int_equal(st, DD_PROVISION_OK);
        } else {
            assert_int_equal(st, DD_PROVISION_INVALID);
            if (strstr(why, CASES[i].why) == NULL) {
                fail_msg("case %zu: \"%s\" does not say \"%s\"", i, why, CASES[i].why);
            }
        }
    }
    assert_int_equal(dd_provision_check_template(NULL, NULL, 0), DD_PROVISION_BAD_PARAMETER);
}

/* ---- the MQTT API ------------------------------------------------------------------------ */

static cJSON *handle(fixture_t *f, const char *topic, const char *payload, bool accepted)
{
    dd_provision_reply_t reply;
    char want[256];
    cJSON *out;

    assert_int_equal(dd_provision_handle(&f->prov, topic, payload, strlen(payload), &reply),
                     DD_PROVISION_OK);
    (void)snprintf(want, sizeof(want), "%s/%s", topic, accepted ? "accepted" : "rejected");
    assert_string_equal(reply.topic, want);
    assert_int_equal(reply.accepted, accepted);
    out = cJSON_ParseWithLength(reply.payload, reply.len);
    dd_provision_reply_free(&reply);
    assert_non_null(out);
    return out;
}

static const char *str(const cJSON *obj, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

static dd_cert_status_t cert_status;

static int cert_cb(void *ctx, const dd_registry_cert_t *c)
{
    (void)ctx;
    cert_status = c->status;
    return 0;
}

static char *request(const char *token, const char *thing)
{
    static char buf[512];

    (void)snprintf(buf, sizeof(buf),
                   "{\"certificateOwnershipToken\":\"%s\",\"parameters\":{%s%s%s}}", token,
                   thing != NULL ? "\"ThingName\":\"" : "", thing != NULL ? thing : "",
                   thing != NULL ? "\"" : "");
    return buf;
}

static void test_create_keys_then_register(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    cJSON *keys = handle(f, "$aws/certificates/create/json", "{}", true);
    char token[128];
    char cert_id[DD_PKI_CERT_ID_LEN + 1];
    cJSON *reply;

    (void)snprintf(token, sizeof(token), "%s", str(keys, "certificateOwnershipToken"));
    (void)snprintf(cert_id, sizeof(cert_id), "%s", str(keys, "certificateId"));
    assert_non_null(strstr(str(keys, "privateKey"), "PRIVATE KEY"));
    assert_non_null(strstr(str(keys, "certificatePem"), "BEGIN CERTIFICATE"));
    assert_int_equal(dd_registry_cert_get(&f->reg, cert_id, cert_cb, NULL, &err), DD_REGISTRY_OK);
    assert_int_equal(cert_status, DD_CERT_PENDING_ACTIVATION);
    cJSON_Delete(keys);

    reply = handle(f, PROVISION, request(token, "s1"), true);
    assert_string_equal(str(reply, "thingName"), "lab-s1");
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(reply, "deviceConfiguration"), "site"),
                        "lab");
    cJSON_Delete(reply);
    assert_true(dd_registry_thing_exists(&f->reg, "lab-s1"));
    assert_int_equal(dd_registry_cert_get(&f->reg, cert_id, cert_cb, NULL, &err), DD_REGISTRY_OK);
    assert_int_equal(cert_status, DD_CERT_ACTIVE);
    assert_int_equal(f->prov.stats.things_provisioned, 1);

    /* Spent. */
    reply = handle(f, PROVISION, request(token, "s2"), false);
    assert_string_equal(str(reply, "errorCode"), "InvalidCertificateOwnershipToken");
    cJSON_Delete(reply);
}

static void test_rollback_and_expiry(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    cJSON *keys = handle(f, "$aws/certificates/create/json", "", true);
    char token[128];
    cJSON *reply;

    (void)snprintf(token, sizeof(token), "%s", str(keys, "certificateOwnershipToken"));
    cJSON_Delete(keys);
    /* The thing's group is gone: the thing made first is rolled back with the rest. */
    assert_int_equal(dd_registry_group_delete(&f->reg, "Fleet", -1, &err), DD_REGISTRY_OK);
    reply = handle(f, PROVISION, request(token, "s3"), false);
    assert_int_equal((int)cJSON_GetNumberValue(
                         cJSON_GetObjectItemCaseSensitive(reply, "statusCode")),
                     400);
    assert_non_null(strstr(str(reply, "errorMessage"), "Fleet"));
    cJSON_Delete(reply);
    assert_false(dd_registry_thing_exists(&f->reg, "lab-s3"));

    reply = handle(f, PROVISION, request(token, NULL), false);
    assert_string_equal(str(reply, "errorCode"), "InvalidParameters");
    cJSON_Delete(reply);

    /* An hour later the token is gone. */
    assert_int_equal(dd_clock_advance(&f->clock, DD_PROVISION_TOKEN_TTL_MS, NULL), DD_CLOCK_OK);
    reply = handle(f, PROVISION, request(token, "s3"), false);
    assert_string_equal(str(reply, "errorCode"), "InvalidCertificateOwnershipToken");
    cJSON_Delete(reply);
}

static void test_refusals(void **state)
{
    fixture_t *f = *state;
    dd_registry_template_update_t u;
    dd_registry_error_t err;
    dd_provision_reply_t r;
    cJSON *keys = handle(f, "$aws/certificates/create/json", "{}", true);
    char token[128];
    cJSON *reply;

    (void)snprintf(token, sizeof(token), "%s", str(keys, "certificateOwnershipToken"));
    cJSON_Delete(keys);
    reply =
        handle(f, "$aws/provisioning-templates/Other/provision/json", request(token, "x"), false);
    assert_int_equal((int)cJSON_GetNumberValue(
                         cJSON_GetObjectItemCaseSensitive(reply, "statusCode")),
                     404);
    cJSON_Delete(reply);

    memset(&u, 0, sizeof(u));
    u.enabled = 0;
    assert_int_equal(dd_registry_template_update(&f->reg, TEMPLATE, &u, &err), DD_REGISTRY_OK);
    reply = handle(f, PROVISION, request(token, "x"), false);
    assert_non_null(strstr(str(reply, "errorMessage"), "disabled"));
    cJSON_Delete(reply);
    u.enabled = 1;
    u.hook_json = "{\"targetArn\":\"arn:aws:lambda:us-east-1:123456789012:function:f\"}";
    assert_int_equal(dd_registry_template_update(&f->reg, TEMPLATE, &u, &err), DD_REGISTRY_OK);
    reply = handle(f, PROVISION, request(token, "x"), false);
    assert_non_null(strstr(str(reply, "errorMessage"), "pre-provisioning hook"));
    cJSON_Delete(reply);

    reply = handle(f, "$aws/certificates/create-from-csr/json", "{}", false);
    assert_string_equal(str(reply, "errorCode"), "InvalidPayload");
    cJSON_Delete(reply);
    reply = handle(f, "$aws/certificates/create/json", "[1]", false);
    assert_string_equal(str(reply, "errorCode"), "InvalidPayload");
    cJSON_Delete(reply);

    assert_true(dd_provision_is_request("$aws/certificates/create/cbor"));
    assert_false(dd_provision_is_request("$aws/certificates/create/xml"));
    assert_false(dd_provision_is_request("$aws/certificates/create-from-csr/json/accepted"));
    assert_false(dd_provision_is_request("$aws/provisioning-templates/a/b/provision/json"));
    assert_true(dd_provision_is_request(PROVISION));
    assert_int_equal(dd_provision_handle(&f->prov, "other/topic", "", 0, &r),
                     DD_PROVISION_NOT_REQUEST);
    assert_int_equal(dd_provision_handle(NULL, PROVISION, "", 0, &r), DD_PROVISION_BAD_PARAMETER);
    assert_string_equal(dd_provision_strerror(DD_PROVISION_OK), "success");
}

/* CBOR topics: the same operations, the reply in CBOR. */
static cbor_item_t *cbor_handle(fixture_t *f, const char *topic, const unsigned char *payload,
                                size_t len, bool accepted)
{
    dd_provision_reply_t reply;
    struct cbor_load_result res;
    cbor_item_t *item;

    assert_int_equal(dd_provision_handle(&f->prov, topic, payload, len, &reply), DD_PROVISION_OK);
    assert_int_equal(reply.accepted, accepted);
    item = cbor_load((const unsigned char *)reply.payload, reply.len, &res);
    dd_provision_reply_free(&reply);
    assert_non_null(item);
    assert_true(cbor_isa_map(item));
    return item;
}

static char *cbor_text(const cbor_item_t *map, const char *key)
{
    size_t i;

    for (i = 0; i < cbor_map_size(map); i++) {
        const struct cbor_pair *p = &cbor_map_handle(map)[i];

        if (cbor_string_length(p->key) == strlen(key) &&
            memcmp(cbor_string_handle(p->key), key, strlen(key)) == 0 &&
            cbor_isa_string(p->value)) {
            char *out = calloc(1, cbor_string_length(p->value) + 1);

            assert_non_null(out);
            memcpy(out, cbor_string_handle(p->value), cbor_string_length(p->value));
            return out;
        }
    }
    return NULL;
}

static void test_cbor(void **state)
{
    fixture_t *f = *state;
    unsigned char empty_map = 0xa0;
    unsigned char *buf = NULL;
    size_t cap = 0;
    size_t n;
    cbor_item_t *keys = cbor_handle(f, "$aws/certificates/create/cbor", &empty_map, 1, true);
    char *token = cbor_text(keys, "certificateOwnershipToken");
    cbor_item_t *req = cbor_new_definite_map(2);
    cbor_item_t *params = cbor_new_definite_map(1);
    cbor_item_t *reply;
    char *thing;

    assert_non_null(token);
    cbor_decref(&keys);
    assert_true(
        cbor_map_add(params, (struct cbor_pair){.key = cbor_move(cbor_build_string("ThingName")),
                                                .value = cbor_move(cbor_build_string("c1"))}));
    assert_true(cbor_map_add(
        req, (struct cbor_pair){.key = cbor_move(cbor_build_string("certificateOwnershipToken")),
                                .value = cbor_move(cbor_build_string(token))}));
    assert_true(
        cbor_map_add(req, (struct cbor_pair){.key = cbor_move(cbor_build_string("parameters")),
                                             .value = params}));
    n = cbor_serialize_alloc(req, &buf, &cap);
    cbor_decref(&params);
    cbor_decref(&req);
    reply = cbor_handle(f, "$aws/provisioning-templates/" TEMPLATE "/provision/cbor", buf, n, true);
    thing = cbor_text(reply, "thingName");
    assert_string_equal(thing, "lab-c1");
    free(thing);
    free(token);
    free(buf);
    cbor_decref(&reply);

    /* Not CBOR: rejected, in CBOR, with the status as an integer. */
    reply = cbor_handle(f, "$aws/certificates/create/cbor", (const unsigned char *)"\xff\xff", 2,
                        false);
    token = cbor_text(reply, "errorCode");
    assert_string_equal(token, "InvalidPayload");
    free(token);
    cbor_decref(&reply);
}

/* A key made before the lock is the one answered with (and taken). */
static void test_premade_key(void **state)
{
    fixture_t *f = *state;
    dd_pki_credentials_t key;
    dd_provision_reply_t reply;
    char id[DD_PKI_CERT_ID_LEN + 1];
    cJSON *out;

    assert_true(dd_provision_wants_key("$aws/certificates/create/json"));
    assert_true(dd_provision_wants_key("$aws/certificates/create/cbor"));
    assert_false(dd_provision_wants_key("$aws/certificates/create-from-csr/json"));
    assert_false(dd_provision_wants_key(PROVISION));
    assert_false(dd_provision_wants_key(NULL));
    memset(&key, 0, sizeof(key));
    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_EC_P256, &key), DD_PKI_OK);
    (void)snprintf(id, sizeof(id), "%s", key.certificate_id);
    assert_int_equal(dd_provision_handle_keyed(&f->prov, "$aws/certificates/create/json", "{}", 2,
                                               &key, &reply),
                     DD_PROVISION_OK);
    assert_null(key.certificate_pem); /* taken */
    out = cJSON_ParseWithLength(reply.payload, reply.len);
    dd_provision_reply_free(&reply);
    assert_string_equal(str(out, "certificateId"), id);
    cJSON_Delete(out);
    dd_pki_credentials_free(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_template),
        cmocka_unit_test_setup_teardown(test_create_keys_then_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cbor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_premade_key, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
