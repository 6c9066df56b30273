/*
 * dd_audit_checks_conn: DEVICE_CERTIFICATE_SHARED_CHECK and CONFLICTING_CLIENT_IDS_CHECK over
 * connection histories written straight into a test store - compliant and non-compliant
 * histories, the 31-day look-back, the finding's shape (resource, related resources newest
 * first, reason code) and a sink that stops.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_audit_check.h"
#include "dd_db.h"
#include "dd_log.h"
#include "dd_store.h"

#define DAY (24LL * 3600 * 1000)
#define NOW (1800000000000LL)
#define MAX_FINDINGS 8

typedef struct found {
    char *json[MAX_FINDINGS]; /* each finding as {"resourceType", "resourceIdentifier", ...} */
    size_t n;
    size_t stop_after; /* 0: never */
} found_t;

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_store_t *store;
    dd_audit_world_t world;
    found_t found;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];

    assert_non_null(f);
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_audit_conn_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &f->db), DD_DB_OK);
    assert_int_equal(dd_store_open(f->db, NULL, &f->store), DD_STORE_OK);
    f->world.store = f->store;
    f->world.now_ms = NOW;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    size_t i;

    for (i = 0; i < f->found.n; i++) {
        free(f->found.json[i]);
    }
    dd_store_close(f->store);
    dd_db_close(f->db);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    free(f);
    return system(cmd) == 0 ? 0 : -1;
}

static int sink(void *ctx, const dd_audit_finding_t *finding)
{
    found_t *found = ctx;
    cJSON *j = cJSON_CreateObject();

    assert_true(found->n < MAX_FINDINGS);
    assert_null(finding->severity); /* the check's */
    assert_non_null(j);
    cJSON_AddStringToObject(j, "resourceType", finding->resource_type);
    cJSON_AddItemToObject(j, "resourceIdentifier",
                          cJSON_Duplicate(finding->resource_identifier, true));
    cJSON_AddItemToObject(j, "relatedResources", cJSON_Duplicate(finding->related_resources, true));
    cJSON_AddStringToObject(j, "reasonForNonComplianceCode", finding->reason_code);
    cJSON_AddStringToObject(j, "reasonForNonCompliance", finding->reason);
    found->json[found->n++] = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return found->stop_after != 0 && found->n >= found->stop_after;
}

static void conn(fixture_t *f, const char *client, const char *cert, const char *ip, int64_t from,
                 int64_t to, bool taken_over)
{
    dd_store_connection_t c;

    memset(&c, 0, sizeof(c));
    c.client_id = client;
    c.cert_id = cert;
    c.thing = client;
    c.source_ip = ip;
    c.instance = "0000000000000001";
    c.connect_ms = from;
    assert_int_equal(dd_store_connection_open(f->store, &c), DD_STORE_OK);
    if (to >= 0) {
        assert_int_equal(dd_store_connection_close(f->store, client, to, taken_over), DD_STORE_OK);
    }
}

static dd_audit_status_t run(fixture_t *f, const char *check, int64_t *checked)
{
    const dd_audit_check_def_t *def = dd_audit_check_find(check);

    assert_non_null(def);
    assert_non_null(def->run);
    assert_null(def->not_applicable);
    return dd_audit_check_run(def, &f->world, sink, &f->found, checked);
}

/* ---- DEVICE_CERTIFICATE_SHARED_CHECK ------------------------------------------------------ */

static void test_dd_audit_checks_conn_shared_compliant(void **state)
{
    fixture_t *f = *state;
    int64_t checked = -1;

    /* One device reconnecting; another handing its certificate on after disconnecting (the
     * second connects the very millisecond the first one ends: not concurrent). */
    conn(f, "Thing01", "cert-a", "10.0.0.1", NOW - 3 * DAY, NOW - 2 * DAY, false);
    conn(f, "Thing01", "cert-a", "10.0.0.1", NOW - DAY, -1, false);
    conn(f, "Thing02", "cert-b", "10.0.0.2", NOW - 5 * DAY, NOW - 4 * DAY, false);
    conn(f, "Thing03", "cert-b", "10.0.0.3", NOW - 4 * DAY, -1, false);
    /* A takeover by the same client id with the same certificate is not sharing. */
    conn(f, "Thing04", "cert-c", "10.0.0.4", NOW - DAY, NOW - DAY + 10, true);
    conn(f, "Thing04", "cert-c", "10.0.0.5", NOW - DAY + 10, -1, false);
    /* Concurrent, but more than 31 days ago. */
    conn(f, "Old1", "cert-d", "10.0.0.6", NOW - 40 * DAY, NOW - 32 * DAY, false);
    conn(f, "Old2", "cert-d", "10.0.0.7", NOW - 39 * DAY, NOW - 33 * DAY, false);

    assert_int_equal(run(f, "DEVICE_CERTIFICATE_SHARED_CHECK", &checked), DD_AUDIT_OK);
    assert_int_equal(f->found.n, 0);
    assert_int_equal(checked, 3); /* the certificates used in the window */
}

static void test_dd_audit_checks_conn_shared_found(void **state)
{
    fixture_t *f = *state;
    int64_t checked = -1;
    cJSON *j;
    cJSON *rel;
    char want[512];

    conn(f, "Thing01", "cert-shared", "10.0.0.1", NOW - 600000, NOW - 100000, false);
    conn(f, "Thing02", "cert-shared", "10.0.0.2", NOW - 500000, -1, false);
    conn(f, "Thing03", "cert-own", "10.0.0.3", NOW - 500000, -1, false);
    /* Overlapping with the window's start: still counted. */
    conn(f, "Thing05", "cert-edge", "10.0.0.5", NOW - 32 * DAY, NOW - 30 * DAY, false);
    conn(f, "Thing06", "cert-edge", "10.0.0.6", NOW - 31 * DAY - 1000, NOW - 30 * DAY, false);

    assert_int_equal(run(f, "DEVICE_CERTIFICATE_SHARED_CHECK", &checked), DD_AUDIT_OK);
    assert_int_equal(checked, 3);
    assert_int_equal(f->found.n, 2);
    /* In certificate id order: cert-edge, then cert-shared. */
    j = cJSON_Parse(f->found.json[1]);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "resourceType")->valuestring, "DEVICE_CERTIFICATE");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "resourceIdentifier"),
                                            "deviceCertificateId")
                            ->valuestring,
                        "cert-shared");
    assert_string_equal(cJSON_GetObjectItem(j, "reasonForNonComplianceCode")->valuestring,
                        "CERTIFICATE_SHARED_BY_MULTIPLE_DEVICES");
    assert_string_equal(cJSON_GetObjectItem(j, "reasonForNonCompliance")->valuestring,
                        "Certificate shared by one or more devices.");
    /* The client ids with their connection times, newest first (AWS's example). */
    rel = cJSON_GetObjectItem(j, "relatedResources");
    (void)snprintf(want, sizeof(want),
                   "[{\"resourceType\":\"CLIENT_ID\",\"resourceIdentifier\":{\"clientId\":"
                   "\"Thing02\"},\"additionalInfo\":{\"CONNECTION_TIME\":\"%lld\"}},"
                   "{\"resourceType\":\"CLIENT_ID\",\"resourceIdentifier\":{\"clientId\":"
                   "\"Thing01\"},\"additionalInfo\":{\"CONNECTION_TIME\":\"%lld\","
                   "\"DISCONNECTION_TIME\":\"%lld\"}}]",
                   (long long)(NOW - 500000), (long long)(NOW - 600000), (long long)(NOW - 100000));
    {
        char *text = cJSON_PrintUnformatted(rel);

        assert_string_equal(text, want);
        free(text);
    }
    cJSON_Delete(j);
    assert_non_null(strstr(f->found.json[0], "\"cert-edge\""));
}

static void test_dd_audit_checks_conn_shared_stop_and_errors(void **state)
{
    fixture_t *f = *state;
    int64_t checked = -1;
    dd_audit_world_t no_store = f->world;

    conn(f, "a1", "cert-1", "", NOW - 1000, -1, false);
    conn(f, "a2", "cert-1", "", NOW - 900, -1, false);
    conn(f, "b1", "cert-2", "", NOW - 1000, -1, false);
    conn(f, "b2", "cert-2", "", NOW - 900, -1, false);
    f->found.stop_after = 1;
    assert_int_equal(run(f, "DEVICE_CERTIFICATE_SHARED_CHECK", &checked), DD_AUDIT_STOPPED);
    assert_int_equal(f->found.n, 1);

    no_store.store = NULL;
    assert_int_equal(dd_audit_check_run(dd_audit_check_find("DEVICE_CERTIFICATE_SHARED_CHECK"),
                                        &no_store, sink, &f->found, &checked),
                     DD_AUDIT_INVALID_ARGUMENT);
    assert_int_equal(dd_audit_check_run(dd_audit_check_find("CONFLICTING_CLIENT_IDS_CHECK"),
                                        &no_store, sink, &f->found, &checked),
                     DD_AUDIT_INVALID_ARGUMENT);
}

/* ---- CONFLICTING_CLIENT_IDS_CHECK --------------------------------------------------------- */

static void test_dd_audit_checks_conn_client_ids_compliant(void **state)
{
    fixture_t *f = *state;
    int64_t checked = -1;

    /* Reconnections after a disconnect, the broker restarted under a connection, a takeover
     * more than 31 days ago. */
    conn(f, "Thing01", "cert-a", "10.0.0.1", NOW - 3 * DAY, NOW - 2 * DAY, false);
    conn(f, "Thing01", "cert-a", "10.0.0.1", NOW - DAY, -1, false);
    conn(f, "Thing02", "cert-b", "10.0.0.2", NOW - 40 * DAY, NOW - 35 * DAY, true);
    conn(f, "Thing02", "cert-x", "10.0.0.9", NOW - 35 * DAY, NOW - 34 * DAY, false);
    conn(f, "Thing03", "cert-c", "10.0.0.3", NOW - DAY, -1, false);

    assert_int_equal(run(f, "CONFLICTING_CLIENT_IDS_CHECK", &checked), DD_AUDIT_OK);
    assert_int_equal(f->found.n, 0);
    assert_int_equal(checked, 2); /* the client ids used in the window */
}

static void test_dd_audit_checks_conn_client_ids_found(void **state)
{
    fixture_t *f = *state;
    int64_t checked = -1;
    char want[1024];
    char *text;
    cJSON *j;

    /* Two devices with their own certificates and one client id: each knocks the other off. */
    conn(f, "sensor", "cert-a", "10.0.0.1", NOW - 5000, NOW - 4000, true);
    conn(f, "sensor", "cert-b", "10.0.0.2", NOW - 4000, NOW - 3000, true);
    conn(f, "sensor", "cert-a", "10.0.0.1", NOW - 3000, -1, false);
    conn(f, "quiet", "cert-c", "10.0.0.3", NOW - 5000, -1, false);

    assert_int_equal(run(f, "CONFLICTING_CLIENT_IDS_CHECK", &checked), DD_AUDIT_OK);
    assert_int_equal(checked, 2);
    assert_int_equal(f->found.n, 1);
    j = cJSON_Parse(f->found.json[0]);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "resourceType")->valuestring, "CLIENT_ID");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "resourceIdentifier"), "clientId")->valuestring,
        "sensor");
    assert_string_equal(cJSON_GetObjectItem(j, "reasonForNonComplianceCode")->valuestring,
                        "DUPLICATE_CLIENT_ID_ACROSS_CONNECTIONS");
    /* The certificates (principals) of its connections, newest first, with their IPs. */
    (void)snprintf(
        want, sizeof(want),
        "[{\"resourceType\":\"DEVICE_CERTIFICATE\",\"resourceIdentifier\":{"
        "\"deviceCertificateId\":\"cert-a\"},\"additionalInfo\":{\"CONNECTION_TIME\":\"%lld\","
        "\"SOURCE_IP\":\"10.0.0.1\"}},"
        "{\"resourceType\":\"DEVICE_CERTIFICATE\",\"resourceIdentifier\":{"
        "\"deviceCertificateId\":\"cert-b\"},\"additionalInfo\":{\"CONNECTION_TIME\":\"%lld\","
        "\"DISCONNECTION_TIME\":\"%lld\",\"SOURCE_IP\":\"10.0.0.2\"}},"
        "{\"resourceType\":\"DEVICE_CERTIFICATE\",\"resourceIdentifier\":{"
        "\"deviceCertificateId\":\"cert-a\"},\"additionalInfo\":{\"CONNECTION_TIME\":\"%lld\","
        "\"DISCONNECTION_TIME\":\"%lld\",\"SOURCE_IP\":\"10.0.0.1\"}}]",
        (long long)(NOW - 3000), (long long)(NOW - 4000), (long long)(NOW - 3000),
        (long long)(NOW - 5000), (long long)(NOW - 4000));
    text = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "relatedResources"));
    assert_string_equal(text, want);
    free(text);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_conn_shared_compliant, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_conn_shared_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_conn_shared_stop_and_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_conn_client_ids_compliant, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_audit_checks_conn_client_ids_found, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
