/*
 * Issue 12: the broker's connection history and the audit checks that read it, through the
 * whole pipeline (`ddlocal up`: mosquitto with the shim, ddlocald, manual clock). Devices
 * connect for real; the shim's metering records reach ddlocald's store; the checks
 * (dd_audit_check_run on a read-only store of the data dir's database) find:
 *  - two devices connected at once with one certificate (different client ids):
 *    DEVICE_CERTIFICATE_SHARED_CHECK reports that certificate id; a device with its own
 *    certificate is not reported;
 *  - `ddlocal reset --kinds metrics` empties the history; one device alone is compliant;
 *  - `ddlocal snapshot save/restore` keeps the history;
 *  - two connections with one client id from different certificates (mosquitto closes the
 *    first): CONFLICTING_CLIENT_IDS_CHECK reports the client id with both certificates.
 * Every wait polls with a deadline.
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

#include "dd_audit_check.h"
#include "dd_db.h"
#include "dd_pipetest.h"
#include "dd_store.h"

#define WAIT_MS 20000

typedef struct cred {
    char id[80];
    char cert[600];
    char key[600];
} cred_t;

typedef struct fixture {
    dd_pipetest_t pt;
    cred_t shared; /* attached to ThingA and ThingB */
    cred_t own_c;  /* ThingC's */
    cred_t own_c2; /* a second certificate of ThingC */
    dd_pipetest_mqtt_t *clients[4];
} fixture_t;

static fixture_t *g;

/* `ddlocal cert create --thing ... --policy DevicePolicy`: its id and files. */
static int make_cert(fixture_t *f, const char *thing1, const char *thing2, cred_t *out)
{
    char *text = NULL;
    cJSON *j;
    int rc;

    if (thing2 != NULL) {
        rc = dd_pipetest_cli(&f->pt, &text, "cert", "create", "--thing", thing1, "--thing", thing2,
                             "--key-type", "ec", "--policy", "DevicePolicy", NULL);
    } else {
        rc = dd_pipetest_cli(&f->pt, &text, "cert", "create", "--thing", thing1, "--key-type", "ec",
                             "--policy", "DevicePolicy", NULL);
    }
    /* The output is stdout and stderr together: the JSON object is what starts with '{'. */
    j = rc == 0 && text != NULL && strchr(text, '{') != NULL ? cJSON_Parse(strchr(text, '{'))
                                                             : NULL;
    if (j == NULL || !cJSON_IsString(cJSON_GetObjectItem(j, "certificateId"))) {
        fprintf(stderr, "cert create for %s: exit %d, output: %s\n", thing1, rc,
                text != NULL ? text : "(none)");
        cJSON_Delete(j);
        free(text);
        return -1;
    }
    free(text);
    (void)snprintf(out->id, sizeof(out->id), "%s",
                   cJSON_GetObjectItem(j, "certificateId")->valuestring);
    (void)snprintf(out->cert, sizeof(out->cert), "%s",
                   cJSON_GetObjectItem(j, "certificateFile")->valuestring);
    (void)snprintf(out->key, sizeof(out->key), "%s",
                   cJSON_GetObjectItem(j, "privateKeyFile")->valuestring);
    cJSON_Delete(j);
    return 0;
}

static int group_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char policy[700];

    (void)state;
    if (f == NULL || dd_pipetest_start(&f->pt, NULL) != DD_PIPETEST_OK) {
        free(f);
        return -1;
    }
    dd_pipetest_fixture("policies/device-policy-allow-all.json", policy, sizeof(policy));
    if (dd_pipetest_cli(&f->pt, NULL, "policy", "create", "DevicePolicy", policy, NULL) != 0 ||
        dd_pipetest_cli(&f->pt, NULL, "thing", "create", "ThingA", NULL) != 0 ||
        dd_pipetest_cli(&f->pt, NULL, "thing", "create", "ThingB", NULL) != 0 ||
        dd_pipetest_cli(&f->pt, NULL, "thing", "create", "ThingC", NULL) != 0 ||
        make_cert(f, "ThingA", "ThingB", &f->shared) != 0 ||
        make_cert(f, "ThingC", NULL, &f->own_c) != 0 ||
        make_cert(f, "ThingC", NULL, &f->own_c2) != 0) {
        fprintf(stderr, "setup: a ddlocal command failed\n");
        (void)dd_pipetest_stop(&f->pt);
        free(f);
        return -1;
    }
    g = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture_t *f = g;
    size_t i;
    int rc;

    (void)state;
    if (f == NULL) {
        return 0;
    }
    for (i = 0; i < sizeof(f->clients) / sizeof(f->clients[0]); i++) {
        dd_pipetest_mqtt_destroy(f->clients[i]);
    }
    f->pt.passed = true;
    rc = dd_pipetest_stop(&f->pt);
    free(f);
    g = NULL;
    return rc == 0 ? 0 : -1;
}

static void disconnect_all(fixture_t *f)
{
    size_t i;

    for (i = 0; i < sizeof(f->clients) / sizeof(f->clients[0]); i++) {
        dd_pipetest_mqtt_destroy(f->clients[i]);
        f->clients[i] = NULL;
    }
}

/* Connects clients[slot] as @p client_id with @p c (CLI registry changes reach the shim
 * within ~100 ms: retried until the deadline). */
static void connect_as(fixture_t *f, size_t slot, const char *client_id, const cred_t *c)
{
    int64_t deadline = dd_clock_mono_ms() + WAIT_MS;

    dd_pipetest_mqtt_destroy(f->clients[slot]);
    assert_int_equal(dd_pipetest_mqtt_new(&f->pt, client_id, c->cert, c->key, true,
                                          &f->clients[slot]),
                     DD_PIPETEST_OK);
    while (dd_pipetest_mqtt_connect(f->clients[slot], WAIT_MS) != 0) {
        assert_true(dd_clock_mono_ms() < deadline);
    }
}

/* Waits until the history (ddlocald's store) answers @p sql with @p want. */
static void wait_history(fixture_t *f, const char *sql, int64_t want)
{
    int64_t deadline = dd_clock_mono_ms() + WAIT_MS;
    int64_t got = -1;

    /* The ingest barrier: the clock moves once ddlocald took in what came before. */
    assert_int_equal(dd_pipetest_clock_advance(&f->pt, 1, NULL), DD_PIPETEST_OK);
    for (;;) {
        assert_int_equal(dd_pipetest_db_int(&f->pt, sql, &got), DD_PIPETEST_OK);
        if (got == want) {
            return;
        }
        if (dd_clock_mono_ms() > deadline) {
            print_error("%s: %lld, want %lld\n", sql, (long long)got, (long long)want);
            fail();
        }
        assert_int_equal(dd_pipetest_clock_advance(&f->pt, 1, NULL), DD_PIPETEST_OK);
    }
}

typedef struct findings {
    cJSON *list; /* array of {"resourceIdentifier":..., "relatedResources":..., "reasonCode"} */
} findings_t;

static int collect(void *ctx, const dd_audit_finding_t *fd)
{
    findings_t *out = ctx;
    cJSON *j = cJSON_CreateObject();

    assert_non_null(j);
    cJSON_AddItemToObject(j, "resourceIdentifier", cJSON_Duplicate(fd->resource_identifier, 1));
    cJSON_AddItemToObject(j, "relatedResources", cJSON_Duplicate(fd->related_resources, 1));
    cJSON_AddStringToObject(j, "reasonCode", fd->reason_code);
    cJSON_AddItemToArray(out->list, j);
    return 0;
}

/* Runs @p check on the data dir's database (read-only), at the pipeline's time. */
static cJSON *run_check(fixture_t *f, const char *check, int64_t *checked)
{
    char path[300];
    sqlite3 *db = NULL;
    dd_store_t *store = NULL;
    dd_audit_world_t world;
    findings_t out = {cJSON_CreateArray()};

    memset(&world, 0, sizeof(world));
    assert_int_equal(dd_pipetest_clock_now(&f->pt, &world.now_ms), DD_PIPETEST_OK);
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", f->pt.data_dir);
    assert_int_equal(dd_db_open(path, true, &db), DD_DB_OK);
    assert_int_equal(dd_store_open(db, NULL, &store), DD_STORE_OK);
    world.store = store;
    assert_int_equal(dd_audit_check_run(dd_audit_check_find(check), &world, collect, &out, checked),
                     DD_AUDIT_OK);
    dd_store_close(store);
    dd_db_close(db);
    return out.list;
}

static const char *finding_id(const cJSON *finding, const char *key)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(finding, "resourceIdentifier"), key)
        ->valuestring;
}

/* Whether some related resource has @p key = @p value in its resourceIdentifier. */
static bool related_has(const cJSON *finding, const char *key, const char *value)
{
    const cJSON *r;

    cJSON_ArrayForEach (r, cJSON_GetObjectItem(finding, "relatedResources")) {
        const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "resourceIdentifier"), key);

        if (cJSON_IsString(v) && strcmp(v->valuestring, value) == 0) {
            return true;
        }
    }
    return false;
}

static void test_shared_certificate_found(void **state)
{
    fixture_t *f = g;
    int64_t checked = 0;
    cJSON *found;

    (void)state;
    connect_as(f, 0, "ThingA", &f->shared);
    connect_as(f, 1, "ThingB", &f->shared);
    connect_as(f, 2, "ThingC", &f->own_c);
    wait_history(f, "SELECT COUNT(*) FROM ev_connections WHERE disconnect_ms IS NULL", 3);

    found = run_check(f, "DEVICE_CERTIFICATE_SHARED_CHECK", &checked);
    assert_int_equal(checked, 2);
    assert_int_equal(cJSON_GetArraySize(found), 1);
    assert_string_equal(finding_id(cJSON_GetArrayItem(found, 0), "deviceCertificateId"),
                        f->shared.id);
    assert_true(related_has(cJSON_GetArrayItem(found, 0), "clientId", "ThingA"));
    assert_true(related_has(cJSON_GetArrayItem(found, 0), "clientId", "ThingB"));
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(found, 0), "reasonCode")->valuestring,
        "CERTIFICATE_SHARED_BY_MULTIPLE_DEVICES");
    cJSON_Delete(found);
    /* No takeover happened. */
    found = run_check(f, "CONFLICTING_CLIENT_IDS_CHECK", &checked);
    assert_int_equal(checked, 3);
    assert_int_equal(cJSON_GetArraySize(found), 0);
    cJSON_Delete(found);

    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "snapshot", "save", "shared", NULL), 0);
}

static void test_reset_clears_history_one_device_compliant(void **state)
{
    fixture_t *f = g;
    int64_t checked = -1;
    int64_t rows = -1;
    cJSON *found;

    (void)state;
    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "reset", "--kinds", "metrics", NULL), 0);
    assert_int_equal(dd_pipetest_db_int(&f->pt, "SELECT COUNT(*) FROM ev_connections", &rows),
                     DD_PIPETEST_OK);
    assert_int_equal(rows, 0);
    found = run_check(f, "DEVICE_CERTIFICATE_SHARED_CHECK", &checked);
    assert_int_equal(cJSON_GetArraySize(found), 0);
    assert_int_equal(checked, 0);
    cJSON_Delete(found);

    /* One device alone with the certificate, reconnecting: compliant. */
    disconnect_all(f);
    connect_as(f, 0, "ThingA", &f->shared);
    wait_history(f, "SELECT COUNT(*) FROM ev_connections WHERE disconnect_ms IS NULL", 1);
    disconnect_all(f);
    connect_as(f, 0, "ThingA", &f->shared);
    wait_history(f, "SELECT COUNT(*) FROM ev_connections WHERE client_id = 'ThingA'", 2);
    found = run_check(f, "DEVICE_CERTIFICATE_SHARED_CHECK", &checked);
    assert_int_equal(cJSON_GetArraySize(found), 0);
    assert_int_equal(checked, 1);
    cJSON_Delete(found);
}

static void test_snapshot_restore_keeps_history(void **state)
{
    fixture_t *f = g;
    int64_t checked = -1;
    cJSON *found;

    (void)state;
    disconnect_all(f);
    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "snapshot", "restore", "shared", NULL), 0);
    found = run_check(f, "DEVICE_CERTIFICATE_SHARED_CHECK", &checked);
    assert_int_equal(cJSON_GetArraySize(found), 1);
    assert_string_equal(finding_id(cJSON_GetArrayItem(found, 0), "deviceCertificateId"),
                        f->shared.id);
    cJSON_Delete(found);
}

static void test_conflicting_client_ids_found(void **state)
{
    fixture_t *f = g;
    int64_t checked = -1;
    cJSON *found;
    const cJSON *c = NULL;
    const cJSON *item;

    (void)state;
    assert_int_equal(dd_pipetest_cli(&f->pt, NULL, "reset", "--kinds", "metrics", NULL), 0);
    disconnect_all(f);
    /* Two devices, each with a certificate of its own, one client id: mosquitto closes the
     * first connection when the second comes (neither reconnects). */
    connect_as(f, 0, "ThingC", &f->own_c);
    wait_history(f, "SELECT COUNT(*) FROM ev_connections WHERE disconnect_ms IS NULL", 1);
    connect_as(f, 1, "ThingC", &f->own_c2);
    assert_true(dd_pipetest_mqtt_wait_disconnect(f->clients[0], WAIT_MS));
    wait_history(f, "SELECT COUNT(*) FROM ev_connections WHERE taken_over = 1", 1);

    found = run_check(f, "CONFLICTING_CLIENT_IDS_CHECK", &checked);
    assert_int_equal(checked, 1);
    assert_int_equal(cJSON_GetArraySize(found), 1);
    cJSON_ArrayForEach (item, found) {
        c = item;
    }
    assert_string_equal(finding_id(c, "clientId"), "ThingC");
    assert_string_equal(cJSON_GetObjectItem(c, "reasonCode")->valuestring,
                        "DUPLICATE_CLIENT_ID_ACROSS_CONNECTIONS");
    assert_true(related_has(c, "deviceCertificateId", f->own_c.id));
    assert_true(related_has(c, "deviceCertificateId", f->own_c2.id));
    cJSON_Delete(found);
    /* Two certificates, never at once: not shared. */
    found = run_check(f, "DEVICE_CERTIFICATE_SHARED_CHECK", &checked);
    assert_int_equal(cJSON_GetArraySize(found), 0);
    assert_int_equal(checked, 2);
    cJSON_Delete(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_certificate_found),
        cmocka_unit_test(test_reset_clears_history_one_device_compliant),
        cmocka_unit_test(test_snapshot_restore_keeps_history),
        cmocka_unit_test(test_conflicting_client_ids_found),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
