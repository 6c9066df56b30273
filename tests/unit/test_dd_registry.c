#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "dd_certfacts.h"
#include "dd_db.h"
#include "dd_log.h"
#include "dd_pki.h"
#include "dd_registry.h"
#include "dd_registry_internal.h"

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_clock_t clock;
    dd_registry_t reg;
    dd_pki_ca_t *ca;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];

    if (f == NULL) {
        return -1;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    snprintf(f->dir, sizeof(f->dir), "/tmp/dd_registry_test_XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/" DD_DB_FILE_NAME, f->dir);
    if (dd_db_open(path, false, &f->db) != DD_DB_OK) {
        return -1;
    }
    (void)dd_clock_init_manual(&f->clock, 1700000000000LL);
    if (dd_registry_open(&f->reg, f->db, NULL, &f->clock) != DD_REGISTRY_OK) {
        return -1;
    }
    if (dd_pki_ca_ensure(f->dir, &f->ca) != DD_PKI_OK) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    int rc;

    dd_pki_ca_free(f->ca);
    dd_db_close(f->db);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Issues a device certificate and registers it; returns its id in @p id. */
static void add_cert(fixture_t *f, dd_cert_status_t status, char id[65])
{
    dd_pki_credentials_t cred;
    dd_registry_error_t err;

    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    assert_int_equal(dd_registry_cert_add(&f->reg, cred.certificate_pem, status, false, id, 65,
                                          &err),
                     DD_REGISTRY_OK);
    assert_string_equal(id, cred.certificate_id);
    dd_pki_credentials_free(&cred);
}

typedef struct names {
    char items[16][DD_ARN_MAX];
    int count;
} names_t;

static int collect(void *ctx, const char *name)
{
    names_t *n = ctx;

    if (n->count < 16) {
        snprintf(n->items[n->count++], DD_ARN_MAX, "%s", name);
    }
    return 0;
}

static int64_t head(fixture_t *f)
{
    int64_t seq = -1;

    assert_int_equal(dd_registry_change_head(&f->reg, &seq), DD_REGISTRY_OK);
    return seq;
}

static void test_dd_registry_things_create_idempotent_conflict_delete(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    char id1[40];
    char id2[40];

    assert_int_equal(dd_registry_thing_create(&f->reg, "Thing03", NULL,
                                              "{\"SensorType\":\"DHT22\"}", id1, sizeof(id1), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(strlen(id1), 36);
    assert_true(dd_registry_thing_exists(&f->reg, "Thing03"));
    /* Same thing again: same id, no error. */
    assert_int_equal(dd_registry_thing_create(&f->reg, "Thing03", NULL,
                                              "{\"SensorType\":\"DHT22\"}", id2, sizeof(id2), &err),
                     DD_REGISTRY_OK);
    assert_string_equal(id1, id2);
    /* Different attributes: conflict carrying the id and ARN. */
    assert_int_equal(dd_registry_thing_create(&f->reg, "Thing03", NULL, "{\"SensorType\":\"X\"}",
                                              NULL, 0, &err),
                     DD_REGISTRY_ALREADY_EXISTS);
    assert_string_equal(err.resource_id, id1);
    assert_string_equal(err.resource_arn, "arn:aws:iot:us-east-1:123456789012:thing/Thing03");
    /* Bad names and attributes never reach SQL. */
    assert_int_equal(dd_registry_thing_create(&f->reg, "bad name", NULL, NULL, NULL, 0, &err),
                     DD_REGISTRY_INVALID);
    assert_non_null(strstr(err.message, "bad name"));
    assert_int_equal(dd_registry_thing_create(&f->reg, "T2", NULL, "[1]", NULL, 0, &err),
                     DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_thing_create(&f->reg, "T2", NULL, "{\"a\":1}", NULL, 0, &err),
                     DD_REGISTRY_INVALID);
    assert_false(dd_registry_thing_exists(&f->reg, "T2"));
    /* Version conflict, then delete; deleting again is fine. */
    assert_int_equal(dd_registry_thing_delete(&f->reg, "Thing03", 7, &err),
                     DD_REGISTRY_VERSION_CONFLICT);
    assert_int_equal(dd_registry_thing_delete(&f->reg, "Thing03", 1, &err), DD_REGISTRY_OK);
    assert_false(dd_registry_thing_exists(&f->reg, "Thing03"));
    assert_int_equal(dd_registry_thing_delete(&f->reg, "Thing03", -1, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_get(&f->reg, "Thing03", NULL, NULL, &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_string_equal(err.message, "Thing Thing03 does not exist");
}

static int count_thing(void *ctx, const dd_registry_thing_t *t)
{
    names_t *n = ctx;

    return collect(n, t->name);
}

static void test_dd_registry_thing_list_pages(void **state)
{
    fixture_t *f = *state;
    dd_registry_page_t page = {NULL, 2};
    names_t n = {0};
    char next[DD_NAME_MAX + 1];
    char name[16];
    int i;

    for (i = 5; i >= 1; i--) {
        snprintf(name, sizeof(name), "T%d", i);
        assert_int_equal(dd_registry_thing_create(&f->reg, name, NULL, NULL, NULL, 0, NULL),
                         DD_REGISTRY_OK);
    }
    assert_int_equal(dd_registry_thing_list(&f->reg, &page, count_thing, &n, next, sizeof(next)),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 2);
    assert_string_equal(n.items[0], "T1");
    assert_string_equal(next, "T2");
    page.after = next;
    assert_int_equal(dd_registry_thing_list(&f->reg, &page, count_thing, &n, next, sizeof(next)),
                     DD_REGISTRY_OK);
    page.after = next;
    assert_int_equal(dd_registry_thing_list(&f->reg, &page, count_thing, &n, next, sizeof(next)),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 5);
    assert_string_equal(n.items[4], "T5");
    assert_string_equal(next, "");
}

static void test_dd_registry_certificates_status_attach_and_change_log(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    char id[65];
    names_t n = {0};
    cJSON *json = NULL;
    int64_t before;

    assert_int_equal(dd_registry_thing_create(&f->reg, "Thing01", NULL, NULL, NULL, 0, NULL),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_create(&f->reg, "Thing02", NULL, NULL, NULL, 0, NULL),
                     DD_REGISTRY_OK);
    add_cert(f, DD_CERT_ACTIVE, id);
    before = head(f);
    assert_int_equal(dd_registry_principal_attach(&f->reg, "Thing01", id, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_principal_attach(&f->reg, "Thing02", id, &err), DD_REGISTRY_OK);
    assert_int_equal(head(f), before + 2);
    /* Idempotent attach logs nothing. */
    assert_int_equal(dd_registry_principal_attach(&f->reg, "Thing02", id, &err), DD_REGISTRY_OK);
    assert_int_equal(head(f), before + 2);
    assert_int_equal(dd_registry_principal_things(&f->reg, id, NULL, collect, &n, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 2);

    assert_int_equal(dd_registry_entity_json(&f->reg, DD_REGISTRY_KIND_CERT, id, &json),
                     DD_REGISTRY_OK);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(json, "exists")));
    assert_string_equal(cJSON_GetObjectItem(json, "status")->valuestring, "ACTIVE");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(json, "things")), 2);
    cJSON_Delete(json);

    assert_int_equal(dd_registry_cert_set_status(&f->reg, id, DD_CERT_INACTIVE, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_entity_json(&f->reg, DD_REGISTRY_KIND_CERT, id, &json),
                     DD_REGISTRY_OK);
    assert_string_equal(cJSON_GetObjectItem(json, "status")->valuestring, "INACTIVE");
    cJSON_Delete(json);
    /* A thing with principals cannot go; a certificate attached cannot go. */
    assert_int_equal(dd_registry_thing_delete(&f->reg, "Thing01", -1, &err), DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_cert_delete(&f->reg, id, false, &err),
                     DD_REGISTRY_DELETE_CONFLICT);
    assert_int_equal(dd_registry_principal_detach(&f->reg, "Thing01", id, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_principal_detach(&f->reg, "Thing02", id, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_cert_set_status(&f->reg, id, DD_CERT_REVOKED, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_cert_set_status(&f->reg, id, DD_CERT_ACTIVE, &err),
                     DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_cert_delete(&f->reg, id, false, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_cert_get(&f->reg, id, NULL, NULL, &err), DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_entity_json(&f->reg, DD_REGISTRY_KIND_CERT, id, &json),
                     DD_REGISTRY_OK);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(json, "exists")));
    cJSON_Delete(json);
    /* Not a certificate at all. */
    assert_int_equal(dd_registry_cert_add(&f->reg, "-----BEGIN CERTIFICATE-----\nxx\n",
                                          DD_CERT_ACTIVE, false, NULL, 0, &err),
                     DD_REGISTRY_INVALID);
}

static int note_change(void *ctx, const dd_registry_change_t *c)
{
    names_t *n = ctx;
    char row[DD_ARN_MAX];

    snprintf(row, sizeof(row), "%s:%s", dd_registry_kind_name(c->kind), c->name);
    return collect(n, row);
}

static void test_dd_registry_groups_membership_rules_and_closure(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    names_t n = {0};
    cJSON *json = NULL;
    int64_t before;
    char name[16];
    int i;

    assert_int_equal(dd_registry_thing_create(&f->reg, "Thing03", NULL, NULL, NULL, 0, NULL),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&f->reg, "Fleet", NULL, "all", NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&f->reg, "Sensors", "Fleet", NULL, NULL, NULL, 0,
                                              &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&f->reg, "Other", "Fleet", NULL, NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&f->reg, "IsolatedDevices", NULL, NULL, NULL, NULL, 0,
                                              &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&f->reg, "Orphan", "Nope", NULL, NULL, NULL, 0, &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_group_create(&f->reg, "Sensors", "IsolatedDevices", NULL, NULL,
                                              NULL, 0, &err),
                     DD_REGISTRY_ALREADY_EXISTS);
    /* AWS: an identical repeat succeeds, any other definition is a conflict. */
    assert_int_equal(dd_registry_group_create(&f->reg, "Fleet", NULL, "all", NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&f->reg, "Fleet", NULL, "most", NULL, NULL, 0, &err),
                     DD_REGISTRY_ALREADY_EXISTS);
    assert_int_equal(dd_registry_group_create(&f->reg, "Fleet", NULL, "all", "{\"a\":\"1\"}", NULL,
                                              0, &err),
                     DD_REGISTRY_ALREADY_EXISTS);
    assert_int_equal(dd_registry_group_create(&f->reg, "Attrs", NULL, NULL,
                                              "{\"a\":\"1\",\"b\":\"2\"}", NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&f->reg, "Attrs", NULL, NULL,
                                              "{\"b\":\"2\",\"a\":\"1\"}", NULL, 0, &err),
                     DD_REGISTRY_OK);

    before = head(f);
    assert_int_equal(dd_registry_group_add_thing(&f->reg, "Sensors", "Thing03", &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_add_thing(&f->reg, "Sensors", "Thing03", &err),
                     DD_REGISTRY_OK);
    /* Same hierarchy (root Fleet) is refused. */
    assert_int_equal(dd_registry_group_add_thing(&f->reg, "Other", "Thing03", &err),
                     DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_group_add_thing(&f->reg, "IsolatedDevices", "Thing03", &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_add_thing(&f->reg, "IsolatedDevices", "Nobody", &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_changes_since(&f->reg, before, 0, note_change, &n),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 2);
    assert_string_equal(n.items[0], "thing:Thing03");

    memset(&n, 0, sizeof(n));
    assert_int_equal(dd_registry_thing_groups_closure(&f->reg, "Thing03", collect, &n),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 3);
    assert_string_equal(n.items[0], "Fleet");
    assert_string_equal(n.items[1], "IsolatedDevices");
    assert_string_equal(n.items[2], "Sensors");

    memset(&n, 0, sizeof(n));
    assert_int_equal(dd_registry_group_things(&f->reg, "Fleet", true, NULL, collect, &n, NULL, 0,
                                              &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 1);
    memset(&n, 0, sizeof(n));
    assert_int_equal(dd_registry_group_things(&f->reg, "Fleet", false, NULL, collect, &n, NULL, 0,
                                              &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 0);
    memset(&n, 0, sizeof(n));
    assert_int_equal(dd_registry_group_list(&f->reg, "Fleet", NULL, false, NULL, NULL, NULL, NULL,
                                            0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_ancestors(&f->reg, "Sensors", collect, &n), DD_REGISTRY_OK);
    assert_int_equal(n.count, 1);
    assert_string_equal(n.items[0], "Fleet");

    assert_int_equal(dd_registry_entity_json(&f->reg, DD_REGISTRY_KIND_THING, "Thing03", &json),
                     DD_REGISTRY_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(json, "groups")), 2);
    cJSON_Delete(json);

    assert_int_equal(dd_registry_group_remove_thing(&f->reg, "IsolatedDevices", "Thing03", &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_delete(&f->reg, "Fleet", -1, &err), DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_group_delete(&f->reg, "Sensors", 3, &err),
                     DD_REGISTRY_VERSION_CONFLICT);
    assert_int_equal(dd_registry_group_delete(&f->reg, "Sensors", 1, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_entity_json(&f->reg, DD_REGISTRY_KIND_THING, "Thing03", &json),
                     DD_REGISTRY_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(json, "groups")), 0);
    cJSON_Delete(json);

    /* At most 10 groups per thing. */
    for (i = 0; i < 11; i++) {
        snprintf(name, sizeof(name), "G%d", i);
        assert_int_equal(dd_registry_group_create(&f->reg, name, NULL, NULL, NULL, NULL, 0, &err),
                         DD_REGISTRY_OK);
        assert_int_equal(dd_registry_group_add_thing(&f->reg, name, "Thing03", &err),
                         i < 10 ? DD_REGISTRY_OK : DD_REGISTRY_LIMIT_EXCEEDED);
    }
}

static void test_dd_registry_group_depth_limit(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    char name[8];
    char parent[8] = "";
    int i;

    for (i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "L%d", i);
        assert_int_equal(dd_registry_group_create(&f->reg, name, parent, NULL, NULL, NULL, 0, &err),
                         i < 7 ? DD_REGISTRY_OK : DD_REGISTRY_LIMIT_EXCEEDED);
        snprintf(parent, sizeof(parent), "%s", name);
    }
}

static void test_dd_registry_policies_validate_attach_and_conflict(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    char id[65];
    char arn[DD_ARN_MAX];
    names_t n = {0};
    cJSON *json = NULL;
    const char *allow = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                        "\"Action\":\"iot:*\",\"Resource\":\"*\"}]}";
    const char *deny = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":"
                       "\"iot:*\",\"Resource\":\"*\"}]}";

    add_cert(f, DD_CERT_ACTIVE, id);
    assert_int_equal(dd_registry_group_create(&f->reg, "IsolatedDevices", NULL, NULL, NULL, NULL, 0,
                                              &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_create(&f->reg, "DevicePolicy", allow, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_create(&f->reg, "DenyAll", deny, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_create(&f->reg, "DenyAll", deny, &err),
                     DD_REGISTRY_ALREADY_EXISTS);
    assert_string_equal(err.resource_arn, "arn:aws:iot:us-east-1:123456789012:policy/DenyAll");
    assert_int_equal(dd_registry_policy_create(&f->reg, "Broken", "{\"Statement\":5}", &err),
                     DD_REGISTRY_INVALID);
    assert_non_null(strstr(err.message, "malformed"));

    snprintf(arn, sizeof(arn), "arn:aws:iot:us-east-1:123456789012:cert/%s", id);
    assert_int_equal(dd_registry_policy_attach(&f->reg, "DevicePolicy", arn, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_attach(
                         &f->reg, "DenyAll",
                         "arn:aws:iot:us-east-1:123456789012:thinggroup/IsolatedDevices", &err),
                     DD_REGISTRY_OK);
    assert_int_equal(
        dd_registry_policy_attach(&f->reg, "DenyAll",
                                  "arn:aws:iot:us-east-1:123456789012:thinggroup/Missing", &err),
        DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_policy_attach(&f->reg, "DenyAll",
                                               "arn:aws:iot:us-east-1:123456789012:thing/X", &err),
                     DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_policies_for_target(&f->reg, arn, false, NULL, collect, &n, NULL,
                                                     0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 1);
    assert_string_equal(n.items[0], "DevicePolicy");
    memset(&n, 0, sizeof(n));
    assert_int_equal(dd_registry_policy_targets(&f->reg, "DenyAll", NULL, collect, &n, NULL, 0,
                                                &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 1);
    assert_string_equal(n.items[0],
                        "arn:aws:iot:us-east-1:123456789012:thinggroup/IsolatedDevices");

    assert_int_equal(dd_registry_entity_json(&f->reg, DD_REGISTRY_KIND_GROUP, "IsolatedDevices",
                                             &json),
                     DD_REGISTRY_OK);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(json, "policies"), 0)->valuestring,
                        "DenyAll");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(json, "parent")));
    cJSON_Delete(json);
    assert_int_equal(dd_registry_entity_json(&f->reg, DD_REGISTRY_KIND_POLICY, "DenyAll", &json),
                     DD_REGISTRY_OK);
    assert_string_equal(cJSON_GetObjectItem(json, "document")->valuestring, deny);
    cJSON_Delete(json);

    assert_int_equal(dd_registry_policy_delete(&f->reg, "DenyAll", &err),
                     DD_REGISTRY_DELETE_CONFLICT);
    assert_int_equal(dd_registry_policy_detach(
                         &f->reg, "DenyAll",
                         "arn:aws:iot:us-east-1:123456789012:thinggroup/IsolatedDevices", &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_delete(&f->reg, "DenyAll", &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_get(&f->reg, "DenyAll", NULL, NULL, &err),
                     DD_REGISTRY_NOT_FOUND);
}

static int collect_version(void *ctx, const dd_registry_policy_version_t *v)
{
    char text[DD_ARN_MAX];

    snprintf(text, sizeof(text), "%s%s", v->version_id, v->is_default ? "*" : "");
    return collect(ctx, text);
}

static const char *policy_document(fixture_t *f, const char *name, char *buf, size_t len)
{
    cJSON *json = NULL;

    assert_int_equal(dd_registry_entity_json(&f->reg, DD_REGISTRY_KIND_POLICY, name, &json),
                     DD_REGISTRY_OK);
    snprintf(buf, len, "%s", cJSON_GetObjectItem(json, "document")->valuestring);
    cJSON_Delete(json);
    return buf;
}

static void test_dd_registry_policy_versions_default_limit_and_conflicts(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    names_t n = {0};
    char v[DD_REGISTRY_VERSION_ID_MAX];
    char doc[256];
    int64_t before;
    int i;
    const char *allow = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                        "\"Action\":\"iot:*\",\"Resource\":\"*\"}]}";
    const char *deny = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":"
                       "\"iot:*\",\"Resource\":\"*\"}]}";

    assert_int_equal(dd_registry_policy_create(&f->reg, "P", allow, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_version_create(&f->reg, "Nope", allow, false, v, sizeof(v),
                                                       &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_policy_version_create(&f->reg, "P", "{\"Statement\":5}", false, v,
                                                       sizeof(v), &err),
                     DD_REGISTRY_INVALID);

    /* A version that is not the default changes nothing the shim enforces. */
    before = head(f);
    assert_int_equal(dd_registry_policy_version_create(&f->reg, "P", deny, false, v, sizeof(v),
                                                       &err),
                     DD_REGISTRY_OK);
    assert_string_equal(v, "2");
    assert_int_equal(head(f), before);
    assert_string_equal(policy_document(f, "P", doc, sizeof(doc)), allow);

    /* Setting it as default does, at once, and logs a policy change for the shim. */
    assert_int_equal(dd_registry_policy_version_set_default(&f->reg, "P", "2", &err),
                     DD_REGISTRY_OK);
    assert_true(head(f) > before);
    assert_string_equal(policy_document(f, "P", doc, sizeof(doc)), deny);
    assert_int_equal(dd_registry_policy_version_delete(&f->reg, "P", "2", &err),
                     DD_REGISTRY_DELETE_CONFLICT);
    assert_int_equal(dd_registry_policy_version_set_default(&f->reg, "P", "9", &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_policy_version_set_default(&f->reg, "P", "x1", &err),
                     DD_REGISTRY_INVALID);

    /* At most five versions; IDs are never reused after a delete. */
    for (i = 3; i <= 5; i++) {
        assert_int_equal(dd_registry_policy_version_create(&f->reg, "P", allow, i == 5, v,
                                                           sizeof(v), &err),
                         DD_REGISTRY_OK);
    }
    assert_string_equal(v, "5");
    assert_int_equal(dd_registry_policy_version_create(&f->reg, "P", allow, false, v, sizeof(v),
                                                       &err),
                     DD_REGISTRY_LIMIT_EXCEEDED);
    assert_int_equal(dd_registry_policy_version_list(&f->reg, "P", collect_version, &n, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 5);
    assert_string_equal(n.items[0], "5*");
    assert_string_equal(n.items[4], "1");
    assert_int_equal(dd_registry_policy_version_delete(&f->reg, "P", "3", &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_version_get(&f->reg, "P", "3", NULL, NULL, &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_policy_version_create(&f->reg, "P", allow, false, v, sizeof(v),
                                                       &err),
                     DD_REGISTRY_OK);
    assert_string_equal(v, "6");

    /* DeletePolicy waits until only the default version is left. */
    assert_int_equal(dd_registry_policy_delete(&f->reg, "P", &err), DD_REGISTRY_DELETE_CONFLICT);
    assert_int_equal(dd_registry_policy_version_delete(&f->reg, "P", "1", &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_version_delete(&f->reg, "P", "2", &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_version_delete(&f->reg, "P", "4", &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_version_delete(&f->reg, "P", "6", &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_delete(&f->reg, "P", &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_create(&f->reg, "P", allow, &err), DD_REGISTRY_OK);
    n.count = 0;
    assert_int_equal(dd_registry_policy_version_list(&f->reg, "P", collect_version, &n, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 1);
    assert_string_equal(n.items[0], "1*");
}

typedef struct facts_row {
    int count;
    int known;
    char known_id[65];
    dd_certfacts_t facts;
} facts_row_t;

static int facts_row_cb(void *ctx, const dd_registry_cert_t *c)
{
    facts_row_t *r = ctx;

    r->count++;
    if (c->facts_known) {
        r->known++;
        snprintf(r->known_id, sizeof(r->known_id), "%s", c->id);
        r->facts = c->facts;
    }
    return 0;
}

static int ca_facts_row_cb(void *ctx, const dd_registry_ca_t *c)
{
    facts_row_t *r = ctx;

    r->count++;
    if (c->facts_known) {
        r->known++;
        r->facts = c->facts;
    }
    return 0;
}

/* A data dir of registry schema 1 with certificates: opening it stores their facts (migration 7),
 * a PEM that gives none stays without; CA certificates are back-filled the same way. */
static void test_dd_registry_schema_1_certificates_get_their_facts(void **state)
{
    static const dd_db_migration_t V1[] = {
        {1, "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE policies(name TEXT PRIMARY KEY, document TEXT NOT NULL,"
            "  version_id TEXT NOT NULL DEFAULT '1', created_ms INTEGER NOT NULL,"
            "  modified_ms INTEGER NOT NULL);"
            "CREATE TABLE policy_targets(policy TEXT NOT NULL REFERENCES policies(name),"
            "  target_kind TEXT NOT NULL, target TEXT NOT NULL,"
            "  PRIMARY KEY(policy, target_kind, target));"
            "CREATE TABLE registry_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  kind TEXT NOT NULL, name TEXT NOT NULL, changed_ms INTEGER NOT NULL);"
            "CREATE TABLE certificates(id TEXT PRIMARY KEY, pem TEXT NOT NULL,"
            "  status TEXT NOT NULL, is_service INTEGER NOT NULL DEFAULT 0,"
            "  created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL);"},
    };
    fixture_t *f = *state;
    dd_registry_t reg;
    dd_registry_error_t err;
    dd_pki_credentials_t cred;
    dd_certfacts_t want;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    facts_row_t r;
    char path[128];
    char ca_id[65];
    char dev_id[65];
    char *ca_pem;
    int version = 0;

    snprintf(path, sizeof(path), "%s/old.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    assert_int_equal(dd_db_migrate(db, "registry", V1, 1), DD_DB_OK);
    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    assert_int_equal(dd_db_prepare(db,
                                   "INSERT INTO certificates(id, pem, status, created_ms,"
                                   " modified_ms) VALUES(?1, ?2, 'ACTIVE', 5, 5),"
                                   " ('bad', 'not a certificate', 'ACTIVE', 6, 6)",
                                   &st),
                     DD_DB_OK);
    assert_int_equal(dd_db_bind_text(st, 1, cred.certificate_id), DD_DB_OK);
    assert_int_equal(dd_db_bind_text(st, 2, cred.certificate_pem), DD_DB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);

    assert_int_equal(dd_registry_open(&reg, db, NULL, &f->clock), DD_REGISTRY_OK);
    assert_int_equal(dd_db_schema_version(db, "registry", &version), DD_DB_OK);
    assert_int_equal(version, 7);
    memset(&r, 0, sizeof(r));
    assert_int_equal(dd_registry_cert_list(&reg, NULL, true, facts_row_cb, &r, NULL, 0),
                     DD_REGISTRY_OK);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.known, 1); /* the garbage row has none: the audit parses (and skips) it */
    assert_string_equal(r.known_id, cred.certificate_id);
    assert_int_equal(dd_certfacts_from_pem(cred.certificate_pem, strlen(cred.certificate_pem),
                                           &want),
                     DD_CERTFACTS_OK);
    assert_memory_equal(&r.facts, &want, sizeof(want));

    /* A CA certificate without facts (as after an interrupted back-fill) gets them. */
    ca_pem = NULL;
    {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data;
        long n;
        assert_int_equal(PEM_write_bio_X509(bio, dd_pki_ca_cert(f->ca)), 1);
        n = BIO_get_mem_data(bio, &data);
        ca_pem = calloc(1, (size_t)n + 1);
        assert_non_null(ca_pem);
        memcpy(ca_pem, data, (size_t)n);
        BIO_free(bio);
    }
    assert_int_equal(dd_registry_ca_add(&reg, ca_pem, true, false, "DEFAULT", NULL, ca_id,
                                        sizeof(ca_id), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_db_exec(db, "UPDATE ca_certificates SET not_after_ms = NULL"), DD_DB_OK);
    memset(&r, 0, sizeof(r));
    assert_int_equal(dd_registry_ca_list(&reg, NULL, true, ca_facts_row_cb, &r, NULL, 0),
                     DD_REGISTRY_OK);
    assert_int_equal(r.known, 0);
    assert_int_equal(dd_registry_facts_backfill(&reg), DD_REGISTRY_OK);
    memset(&r, 0, sizeof(r));
    assert_int_equal(dd_registry_ca_list(&reg, NULL, true, ca_facts_row_cb, &r, NULL, 0),
                     DD_REGISTRY_OK);
    assert_int_equal(r.known, 1);
    assert_int_equal(dd_certfacts_from_pem(ca_pem, strlen(ca_pem), &want), DD_CERTFACTS_OK);
    assert_memory_equal(&r.facts, &want, sizeof(want));

    /* An RSA certificate stored with facts but no key verdict (migration 7 before the registry
     * computed the ROCA verdict) gets its verdict: assessed, clean. */
    dd_pki_credentials_free(&cred);
    assert_int_equal(dd_pki_issue_device(f->ca, DD_PKI_KEY_RSA2048, &cred), DD_PKI_OK);
    assert_int_equal(dd_registry_cert_add(&reg, cred.certificate_pem, DD_CERT_ACTIVE, false, dev_id,
                                          sizeof(dev_id), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_db_exec(db, "UPDATE certificates SET key_verdict = NULL"), DD_DB_OK);
    assert_int_equal(dd_db_prepare(db,
                                   "SELECT count(*) FROM certificates WHERE key_verdict IS NULL"
                                   " AND key_type = 'RSA'",
                                   &st),
                     DD_DB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    assert_int_equal(sqlite3_reset(st), SQLITE_OK);
    assert_int_equal(dd_registry_facts_backfill(&reg), DD_REGISTRY_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    assert_int_equal(dd_db_prepare(db, "SELECT key_verdict FROM certificates WHERE id = ?1", &st),
                     DD_DB_OK);
    assert_int_equal(dd_db_bind_text(st, 1, cred.certificate_id), DD_DB_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "");
    sqlite3_finalize(st);

    free(ca_pem);
    dd_pki_credentials_free(&cred);
    dd_db_close(db);
}

/* A data dir of registry schema 1 (before policy versions) with one policy. */
static void test_dd_registry_schema_1_policies_become_version_1(void **state)
{
    static const dd_db_migration_t V1[] = {
        {1, "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE policies(name TEXT PRIMARY KEY, document TEXT NOT NULL,"
            "  version_id TEXT NOT NULL DEFAULT '1', created_ms INTEGER NOT NULL,"
            "  modified_ms INTEGER NOT NULL);"
            "CREATE TABLE policy_targets(policy TEXT NOT NULL REFERENCES policies(name),"
            "  target_kind TEXT NOT NULL, target TEXT NOT NULL,"
            "  PRIMARY KEY(policy, target_kind, target));"
            "CREATE TABLE registry_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  kind TEXT NOT NULL, name TEXT NOT NULL, changed_ms INTEGER NOT NULL);"
            "CREATE TABLE certificates(id TEXT PRIMARY KEY, pem TEXT NOT NULL,"
            "  status TEXT NOT NULL, is_service INTEGER NOT NULL DEFAULT 0,"
            "  created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL);"
            "INSERT INTO policies(name, document, created_ms, modified_ms) VALUES('Old',"
            "  '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
            "\"Action\":\"iot:*\",\"Resource\":\"*\"}]}', 5, 5);"},
    };
    fixture_t *f = *state;
    dd_registry_t reg;
    dd_registry_error_t err;
    sqlite3 *db = NULL;
    names_t n = {0};
    char path[128];
    char v[DD_REGISTRY_VERSION_ID_MAX];
    int version = 0;

    snprintf(path, sizeof(path), "%s/old.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    assert_int_equal(dd_db_migrate(db, "registry", V1, 1), DD_DB_OK);
    assert_int_equal(dd_registry_open(&reg, db, NULL, &f->clock), DD_REGISTRY_OK);
    assert_int_equal(dd_db_schema_version(db, "registry", &version), DD_DB_OK);
    assert_int_equal(version, 7); /* every migration ran, policy versions (2) included */
    assert_int_equal(dd_registry_policy_version_list(&reg, "Old", collect_version, &n, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 1);
    assert_string_equal(n.items[0], "1*");
    assert_int_equal(dd_registry_policy_version_create(&reg, "Old",
                                                       "{\"Version\":\"2012-10-17\",\"Statement\":"
                                                       "[{\"Effect\":\"Deny\",\"Action\":\"iot:*\","
                                                       "\"Resource\":\"*\"}]}",
                                                       false, v, sizeof(v), &err),
                     DD_REGISTRY_OK);
    assert_string_equal(v, "2");
    dd_db_close(db);
}

static int count_sub(void *ctx, const dd_registry_subscription_t *s)
{
    names_t *n = ctx;

    return collect(n, s->endpoint);
}

static int copy_type(void *ctx, const dd_registry_type_t *t)
{
    dd_registry_type_t *out = ctx;

    out->deprecated = t->deprecated;
    out->deprecated_ms = t->deprecated_ms;
    return 0;
}

static int copy_thing_version(void *ctx, const dd_registry_thing_t *t)
{
    *(int64_t *)ctx = t->version;
    return 0;
}

static void test_dd_registry_thing_types_and_update(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    dd_registry_type_t got;
    int64_t version = 0;

    assert_int_equal(dd_registry_type_create(&f->reg, "Sensor", "a sensor", "[\"site\"]", NULL, 0,
                                             &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_type_create(&f->reg, "Sensor", "a sensor", "[\"site\"]", NULL, 0,
                                             &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_type_create(&f->reg, "Sensor", "other", NULL, NULL, 0, &err),
                     DD_REGISTRY_ALREADY_EXISTS);
    assert_int_equal(dd_registry_type_create(&f->reg, "Many", NULL, "[\"a\",\"b\",\"c\",\"d\"]",
                                             NULL, 0, &err),
                     DD_REGISTRY_INVALID);
    /* CreateThing / UpdateThing refuse unknown and deprecated types. */
    assert_int_equal(dd_registry_thing_create(&f->reg, "T1", "Nope", NULL, NULL, 0, &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_thing_create(&f->reg, "T1", "Sensor", NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_create(&f->reg, "T2", NULL, NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_update(&f->reg, "T2", "Nope", NULL, -1, NULL, &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_thing_update(&f->reg, "T2", "Sensor", "{\"a\":\"1\"}", 1, &version,
                                              &err),
                     DD_REGISTRY_OK);
    assert_int_equal(version, 2);
    assert_int_equal(dd_registry_thing_update(&f->reg, "T2", NULL, NULL, 1, NULL, &err),
                     DD_REGISTRY_VERSION_CONFLICT);
    assert_int_equal(dd_registry_thing_update(&f->reg, "Nobody", NULL, NULL, -1, NULL, &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_type_deprecate(&f->reg, "Sensor", false, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_type_get(&f->reg, "Sensor", copy_type, &got, &err),
                     DD_REGISTRY_OK);
    assert_true(got.deprecated);
    assert_int_equal(got.deprecated_ms, 1700000000000LL);
    assert_int_equal(dd_registry_thing_create(&f->reg, "T3", "Sensor", NULL, NULL, 0, &err),
                     DD_REGISTRY_INVALID);
    /* Delete: deprecated for 5 minutes (registry clock) and no thing of the type. */
    assert_int_equal(dd_registry_type_delete(&f->reg, "Sensor", &err), DD_REGISTRY_INVALID);
    assert_non_null(strstr(err.message, "5 minutes"));
    assert_int_equal(dd_clock_advance(&f->clock, DD_REGISTRY_TYPE_DELETE_DELAY_MS, NULL),
                     DD_CLOCK_OK);
    /* Deprecating again does not restart the delay. */
    assert_int_equal(dd_registry_type_deprecate(&f->reg, "Sensor", false, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_type_delete(&f->reg, "Sensor", &err), DD_REGISTRY_INVALID);
    assert_non_null(strstr(err.message, "still the type"));
    assert_int_equal(dd_registry_thing_update(&f->reg, "T1", "", NULL, -1, NULL, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_update(&f->reg, "T2", "", NULL, -1, NULL, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_get(&f->reg, "T2", copy_thing_version, &version, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(version, 3);
    assert_int_equal(dd_registry_type_delete(&f->reg, "Sensor", &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_type_get(&f->reg, "Sensor", NULL, NULL, &err),
                     DD_REGISTRY_NOT_FOUND);
    /* Undo: usable again, and a fresh deprecation restarts the delay. */
    assert_int_equal(dd_registry_type_create(&f->reg, "Meter", NULL, NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_type_deprecate(&f->reg, "Meter", false, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_type_deprecate(&f->reg, "Meter", true, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_create(&f->reg, "T4", "Meter", NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_type_deprecate(&f->reg, "Gone", false, &err),
                     DD_REGISTRY_NOT_FOUND);
}

static int count_tag(void *ctx, const char *key, const char *value)
{
    (void)key;
    (void)value;
    (*(int *)ctx)++;
    return 0;
}

static void test_dd_registry_tags(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    dd_registry_page_t page = {NULL, 2};
    char next[DD_NAME_MAX + 1];
    char json[4096];
    size_t len;
    int n = 0;
    int i;

    assert_int_equal(dd_registry_tags_set(&f->reg, "arn:a",
                                          "[{\"Key\":\"a\",\"Value\":\"1\"},"
                                          "{\"Key\":\"b\"},{\"Key\":\"c\","
                                          "\"Value\":\"3\"}]",
                                          false, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_tags_list(&f->reg, "arn:a", &page, count_tag, &n, next,
                                           sizeof(next), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n, 2);
    assert_string_equal(next, "b");
    assert_int_equal(dd_registry_tags_remove(&f->reg, "arn:a", "[\"a\",\"zz\"]", &err),
                     DD_REGISTRY_OK);
    /* replace: exactly the given tags. */
    assert_int_equal(dd_registry_tags_set(&f->reg, "arn:a", "[{\"Key\":\"d\",\"Value\":\"\"}]",
                                          true, &err),
                     DD_REGISTRY_OK);
    n = 0;
    assert_int_equal(dd_registry_tags_list(&f->reg, "arn:a", NULL, count_tag, &n, next,
                                           sizeof(next), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n, 1);
    assert_int_equal(dd_registry_tags_set(&f->reg, "arn:a", "[{\"Key\":\"aws:x\"}]", false, &err),
                     DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_tags_set(&f->reg, "arn:a", "{}", false, &err),
                     DD_REGISTRY_INVALID);
    /* 51 tags: refused as a whole. */
    len = (size_t)snprintf(json, sizeof(json), "[");
    for (i = 0; i < 50; i++) {
        len += (size_t)snprintf(json + len, sizeof(json) - len, "%s{\"Key\":\"k%d\"}",
                                i > 0 ? "," : "", i);
    }
    (void)snprintf(json + len, sizeof(json) - len, "]");
    assert_int_equal(dd_registry_tags_set(&f->reg, "arn:a", json, false, &err),
                     DD_REGISTRY_LIMIT_EXCEEDED);
    n = 0;
    assert_int_equal(dd_registry_tags_list(&f->reg, "arn:a", NULL, count_tag, &n, next,
                                           sizeof(next), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n, 1);
}

static void test_dd_registry_settings_and_subscriptions(void **state)
{
    fixture_t *f = *state;
    dd_registry_error_t err;
    char *value = NULL;
    int64_t id = 0;
    names_t n = {0};

    assert_int_equal(dd_registry_setting_get(&f->reg, "clock", &value), DD_REGISTRY_OK);
    assert_null(value);
    assert_int_equal(dd_registry_setting_set(&f->reg, "clock", "manual:5"), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_setting_set(&f->reg, "clock", "manual:6"), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_setting_get(&f->reg, "clock", &value), DD_REGISTRY_OK);
    assert_string_equal(value, "manual:6");
    free(value);

    assert_int_equal(dd_registry_subscription_add(&f->reg, "BadIoTDevices", "http",
                                                  "http://127.0.0.1:9/hook", &id, &err),
                     DD_REGISTRY_OK);
    assert_true(id > 0);
    assert_int_equal(dd_registry_subscription_add(&f->reg, "BadIoTDevices", "ftp", "ftp://x", NULL,
                                                  &err),
                     DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_subscription_add(&f->reg, "Bad Topic", "http", "http://x", NULL,
                                                  &err),
                     DD_REGISTRY_INVALID);
    assert_int_equal(dd_registry_subscription_list(&f->reg, "BadIoTDevices", count_sub, &n),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 1);
    assert_int_equal(dd_registry_subscription_remove(&f->reg, id, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_subscription_remove(&f->reg, id, &err), DD_REGISTRY_NOT_FOUND);
}

static void test_dd_registry_mutation_inside_caller_transaction_rolls_back(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(dd_db_exec(f->db, "BEGIN"), DD_DB_OK);
    assert_int_equal(dd_registry_thing_create(&f->reg, "Temp", NULL, NULL, NULL, 0, NULL),
                     DD_REGISTRY_OK);
    assert_true(dd_registry_thing_exists(&f->reg, "Temp"));
    assert_int_equal(dd_db_exec(f->db, "ROLLBACK"), DD_DB_OK);
    assert_false(dd_registry_thing_exists(&f->reg, "Temp"));
    assert_int_equal(head(f), 0);
}

static int count_version(void *ctx, const dd_registry_template_version_t *v)
{
    int *n = ctx;

    (*n)++;
    return v->version_id <= 0; /* never: ids start at 1 */
}

static int64_t template_default;

static int template_default_cb(void *ctx, const dd_registry_template_t *t)
{
    (void)ctx;
    template_default = t->default_version;
    assert_string_equal(t->body, "{\"v\":3}");
    return 0;
}

static void test_dd_registry_provisioning_templates(void **state)
{
    fixture_t *f = *state;
    dd_registry_template_t tpl;
    dd_registry_template_update_t u;
    dd_registry_error_t err;
    int64_t version = 0;
    int n = 0;
    int i;

    memset(&tpl, 0, sizeof(tpl));
    tpl.name = "Tpl";
    tpl.body = "{\"v\":1}";
    tpl.role_arn = "arn:aws:iam::123456789012:role/R";
    assert_int_equal(dd_registry_template_create(&f->reg, &tpl, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_template_create(&f->reg, &tpl, &err), DD_REGISTRY_ALREADY_EXISTS);
    assert_string_equal(err.resource_arn,
                        "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/Tpl");
    tpl.name = "bad name";
    assert_int_equal(dd_registry_template_create(&f->reg, &tpl, &err), DD_REGISTRY_INVALID);

    /* Versions 2..5, the 6th refused; ids are never reused. */
    for (i = 2; i <= DD_REGISTRY_MAX_TEMPLATE_VERSIONS; i++) {
        char body[32];

        (void)snprintf(body, sizeof(body), "{\"v\":%d}", i);
        assert_int_equal(dd_registry_template_version_create(&f->reg, "Tpl", body, i == 3, &version,
                                                             &err),
                         DD_REGISTRY_OK);
        assert_int_equal(version, i);
    }
    assert_int_equal(dd_registry_template_version_create(&f->reg, "Tpl", "{}", false, &version,
                                                         &err),
                     DD_REGISTRY_LIMIT_EXCEEDED);
    assert_int_equal(dd_registry_template_version_delete(&f->reg, "Tpl", 3, &err),
                     DD_REGISTRY_DELETE_CONFLICT);
    assert_int_equal(dd_registry_template_version_delete(&f->reg, "Tpl", 5, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_template_version_delete(&f->reg, "Tpl", 5, &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_template_version_create(&f->reg, "Tpl", "{}", false, &version,
                                                         &err),
                     DD_REGISTRY_OK);
    assert_int_equal(version, 6);
    assert_int_equal(dd_registry_template_version_list(&f->reg, "Tpl", count_version, &n, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n, 5);
    assert_int_equal(dd_registry_template_get(&f->reg, "Tpl", template_default_cb, NULL, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(template_default, 3);

    memset(&u, 0, sizeof(u));
    u.enabled = -1;
    u.default_version = 5; /* deleted */
    assert_int_equal(dd_registry_template_update(&f->reg, "Tpl", &u, &err), DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_template_update(&f->reg, "Nope", &u, &err), DD_REGISTRY_NOT_FOUND);

    /* Reset takes templates too. */
    assert_int_equal(dd_registry_reset(&f->reg, &err), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_template_get(&f->reg, "Tpl", NULL, NULL, &err),
                     DD_REGISTRY_NOT_FOUND);
    assert_int_equal(dd_registry_template_delete(&f->reg, "Tpl", &err), DD_REGISTRY_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_registry_provisioning_templates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_things_create_idempotent_conflict_delete,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_thing_list_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_certificates_status_attach_and_change_log,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_groups_membership_rules_and_closure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_group_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_policies_validate_attach_and_conflict,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_dd_registry_policy_versions_default_limit_and_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_schema_1_certificates_get_their_facts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_schema_1_policies_become_version_1, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_settings_and_subscriptions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_thing_types_and_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_registry_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_dd_registry_mutation_inside_caller_transaction_rolls_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
