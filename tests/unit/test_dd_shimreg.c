/*
 * dd_shimreg: the shim's registry copy - entity states applied all or nothing,
 * effective policies (certificate + thing groups and their ancestors), group
 * membership through child groups, and loading from a real registry database.
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

#include <cjson/cJSON.h>

#include "dd_clock.h"
#include "dd_db.h"
#include "dd_fs.h"
#include "dd_pki.h"
#include "dd_policy.h"
#include "dd_registry.h"
#include "dd_shimreg.h"

#define CERT_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define CERT_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

#define DOC_ALLOW_ALL                                                                        \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\"," \
    "\"Resource\":\"*\"}]}"
#define DOC_DENY_ALL                                                                        \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"iot:*\"," \
    "\"Resource\":\"*\"}]}"
#define DOC_BAD_EFFECT                                                                        \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Permit\",\"Action\":\"iot:*\"," \
    "\"Resource\":\"*\"}]}"
#define TOPIC_ARN "arn:aws:iot:us-east-1:123456789012:topic/t"

/* Applies a JSON array of {"kind","name","state"} objects. */
static dd_shimreg_status_t apply_json(dd_shimreg_t *reg, const char *json, unsigned flags,
                                      char *err, size_t err_len)
{
    cJSON *arr = cJSON_Parse(json);
    dd_shimreg_update_t u[32];
    const cJSON *item;
    size_t n = 0;
    dd_shimreg_status_t st;

    assert_non_null(arr);
    cJSON_ArrayForEach (item, arr) {
        const char *kind = cJSON_GetObjectItem(item, "kind")->valuestring;

        assert_true(n < 32);
        assert_true(dd_registry_kind_parse(kind, &u[n].kind));
        u[n].name = cJSON_GetObjectItem(item, "name")->valuestring;
        u[n].state = cJSON_GetObjectItem(item, "state");
        n++;
    }
    st = dd_shimreg_apply(reg, u, n, flags, err, err_len);
    cJSON_Delete(arr);
    return st;
}

static void apply_ok(dd_shimreg_t *reg, const char *json)
{
    char err[512];
    dd_shimreg_status_t st = apply_json(reg, json, 0, err, sizeof(err));

    if (st != DD_SHIMREG_OK) {
        print_error("apply refused: %s\n", err);
    }
    assert_int_equal(st, DD_SHIMREG_OK);
    assert_string_equal(err, "");
}

static char *policy_entity(const char *name, const char *doc)
{
    static char buf[8][2048];
    static int which;
    cJSON *e = cJSON_CreateObject();
    cJSON *state = cJSON_AddObjectToObject(e, "state");
    char *text;

    cJSON_AddStringToObject(e, "kind", "policy");
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddBoolToObject(state, "exists", true);
    cJSON_AddStringToObject(state, "document", doc);
    text = cJSON_PrintUnformatted(e);
    which = (which + 1) % 8;
    (void)snprintf(buf[which], sizeof(buf[which]), "%s", text);
    free(text);
    cJSON_Delete(e);
    return buf[which];
}

/* Index of a compiled policy in the array, or -1. */
static int find_policy(const dd_policy_t **arr, size_t n, const dd_policy_t *p)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (arr[i] == p) {
            return (int)i;
        }
    }
    return -1;
}

static dd_policy_decision_t decide(const dd_shimreg_t *reg, const char *cert, const char *thing)
{
    const dd_policy_t **arr = NULL;
    size_t n = 0;
    dd_policy_decision_t d = DD_POLICY_ALLOW;

    assert_int_equal(dd_shimreg_policies_for(reg, cert, thing, &arr, &n), DD_SHIMREG_OK);
    assert_int_equal(dd_policy_evaluate((const dd_policy_t *const *)arr, n,
                                        DD_POLICY_ACTION_PUBLISH, TOPIC_ARN, NULL, &d, NULL),
                     DD_POLICY_OK);
    free(arr);
    return d;
}

/* The workshop's layout: Thing03 in IsolatedDevices (a child of Quarantine),
 * its certificate with an allow-all policy; groups with their own policies. */
static void load_workshop(dd_shimreg_t *reg)
{
    char json[8192];

    (void)snprintf(json, sizeof(json),
                   "[%s,%s,%s,%s,"
                   "{\"kind\":\"group\",\"name\":\"Quarantine\",\"state\":{\"exists\":true,"
                   "\"parent\":null,\"policies\":[\"RootPolicy\",\"Shared\"]}},"
                   "{\"kind\":\"group\",\"name\":\"IsolatedDevices\",\"state\":{\"exists\":true,"
                   "\"parent\":\"Quarantine\",\"policies\":[\"Deny\",\"Shared\"]}},"
                   "{\"kind\":\"group\",\"name\":\"Other\",\"state\":{\"exists\":true,"
                   "\"parent\":\"\",\"policies\":[\"Missing\"]}},"
                   "{\"kind\":\"thing\",\"name\":\"Thing03\",\"state\":{\"exists\":true,"
                   "\"groups\":[\"IsolatedDevices\",\"Other\"]}},"
                   "{\"kind\":\"thing\",\"name\":\"Thing01\",\"state\":{\"exists\":true}},"
                   "{\"kind\":\"cert\",\"name\":\"" CERT_A "\",\"state\":{\"exists\":true,"
                   "\"status\":\"ACTIVE\",\"service\":false,\"things\":[\"Thing03\"],"
                   "\"policies\":[\"Allow\",\"Shared\"]}}]",
                   policy_entity("Allow", DOC_ALLOW_ALL), policy_entity("Deny", DOC_DENY_ALL),
                   policy_entity("RootPolicy", DOC_ALLOW_ALL),
                   policy_entity("Shared", DOC_ALLOW_ALL));
    apply_ok(reg, json);
}

static int setup(void **state)
{
    static dd_shimreg_t reg;

    dd_shimreg_init(&reg);
    *state = &reg;
    return 0;
}

static int teardown(void **state)
{
    dd_shimreg_destroy(*state);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_dd_shimreg_empty(void **state)
{
    dd_shimreg_t *reg = *state;
    const dd_policy_t **arr = (const dd_policy_t **)1;
    size_t n = 99;
    int k;

    assert_int_equal(dd_shimreg_generation(reg), 1);
    assert_int_equal(dd_shimreg_generation(NULL), 0);
    for (k = 0; k < DD_REGISTRY_KIND_COUNT; k++) {
        assert_int_equal(dd_shimreg_count(reg, (dd_registry_kind_t)k), 0);
    }
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_COUNT), 0);
    assert_null(dd_shimreg_cert(reg, CERT_A));
    assert_null(dd_shimreg_thing(reg, "T"));
    assert_null(dd_shimreg_group(reg, "G"));
    assert_null(dd_shimreg_policy(reg, "P"));
    assert_null(dd_shimreg_cert(NULL, CERT_A));
    assert_int_equal(dd_shimreg_policies_for(reg, CERT_A, "T", &arr, &n), DD_SHIMREG_OK);
    assert_null(arr);
    assert_int_equal(n, 0);
    assert_int_equal(dd_shimreg_policies_for(NULL, CERT_A, NULL, &arr, &n),
                     DD_SHIMREG_BAD_PARAMETER);
    assert_int_equal(dd_shimreg_policies_for(reg, NULL, NULL, &arr, &n), DD_SHIMREG_BAD_PARAMETER);
    assert_int_equal(dd_shimreg_apply(NULL, NULL, 0, 0, NULL, 0), DD_SHIMREG_BAD_PARAMETER);
    assert_int_equal(dd_shimreg_apply(reg, NULL, 1, 0, NULL, 0), DD_SHIMREG_BAD_PARAMETER);
    /* An empty update is fine and still counts as a change. */
    assert_int_equal(dd_shimreg_apply(reg, NULL, 0, 0, NULL, 0), DD_SHIMREG_OK);
    assert_int_equal(dd_shimreg_generation(reg), 2);
    assert_false(dd_shimreg_thing_in_group(reg, "T", "G"));
    assert_string_equal(dd_shimreg_strerror(DD_SHIMREG_INVALID), "invalid entity");
    assert_string_equal(dd_shimreg_strerror((dd_shimreg_status_t)99), "unknown status");
}

static void test_dd_shimreg_entities(void **state)
{
    dd_shimreg_t *reg = *state;
    const dd_shimreg_cert_t *c;
    const dd_shimreg_group_t *g;
    const dd_shimreg_thing_t *t;

    load_workshop(reg);
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_POLICY), 4);
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_GROUP), 3);
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_THING), 2);
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_CERT), 1);
    c = dd_shimreg_cert(reg, CERT_A);
    assert_non_null(c);
    assert_int_equal(c->status, DD_CERT_ACTIVE);
    assert_false(c->service);
    assert_int_equal(c->things.count, 1);
    assert_string_equal(c->things.items[0], "Thing03");
    assert_int_equal(c->policies.count, 2);
    g = dd_shimreg_group(reg, "IsolatedDevices");
    assert_non_null(g);
    assert_string_equal(g->parent, "Quarantine");
    /* Root groups have no parent, whether sent as null or "". */
    assert_null(dd_shimreg_group(reg, "Quarantine")->parent);
    assert_null(dd_shimreg_group(reg, "Other")->parent);
    t = dd_shimreg_thing(reg, "Thing03");
    assert_int_equal(t->groups.count, 2);
    assert_int_equal(dd_shimreg_thing(reg, "Thing01")->groups.count, 0);
    assert_non_null(dd_shimreg_policy(reg, "Deny"));
    assert_int_equal(dd_policy_statement_count(dd_shimreg_policy(reg, "Deny")), 1);
}

static void test_dd_shimreg_effective_policies(void **state)
{
    dd_shimreg_t *reg = *state;
    const dd_policy_t **arr = NULL;
    size_t n = 0;

    load_workshop(reg);
    /* Certificate: Allow, Shared. Thing03's groups: IsolatedDevices (Deny,
     * Shared), its parent Quarantine (RootPolicy, Shared), Other (Missing:
     * skipped). Each policy once. */
    assert_int_equal(dd_shimreg_policies_for(reg, CERT_A, "Thing03", &arr, &n), DD_SHIMREG_OK);
    assert_int_equal(n, 4);
    assert_true(find_policy(arr, n, dd_shimreg_policy(reg, "Allow")) >= 0);
    assert_true(find_policy(arr, n, dd_shimreg_policy(reg, "Shared")) >= 0);
    assert_true(find_policy(arr, n, dd_shimreg_policy(reg, "Deny")) >= 0);
    assert_true(find_policy(arr, n, dd_shimreg_policy(reg, "RootPolicy")) >= 0);
    free(arr);

    /* Not a thing: the certificate's policies only. */
    assert_int_equal(dd_shimreg_policies_for(reg, CERT_A, NULL, &arr, &n), DD_SHIMREG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(find_policy(arr, n, dd_shimreg_policy(reg, "Deny")), -1);
    free(arr);
    assert_int_equal(dd_shimreg_policies_for(reg, CERT_A, "", &arr, &n), DD_SHIMREG_OK);
    assert_int_equal(n, 2);
    free(arr);

    /* Unknown certificate, known thing: the groups' policies only. */
    assert_int_equal(dd_shimreg_policies_for(reg, CERT_B, "Thing03", &arr, &n), DD_SHIMREG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(find_policy(arr, n, dd_shimreg_policy(reg, "Allow")), -1);
    free(arr);

    /* The workshop's decision: allow-all on the certificate, deny-all on the
     * isolation group: explicit Deny wins for the thing, not for a connection
     * that is no thing. */
    assert_int_equal(decide(reg, CERT_A, "Thing03"), DD_POLICY_DENY_EXPLICIT);
    assert_int_equal(decide(reg, CERT_A, NULL), DD_POLICY_ALLOW);
    assert_int_equal(decide(reg, CERT_A, "Thing01"), DD_POLICY_ALLOW);
    assert_int_equal(decide(reg, CERT_B, "Thing01"), DD_POLICY_DENY_DEFAULT);
}

static void test_dd_shimreg_group_inheritance(void **state)
{
    dd_shimreg_t *reg = *state;
    char json[2048];

    load_workshop(reg);
    assert_true(dd_shimreg_thing_in_group(reg, "Thing03", "IsolatedDevices"));
    assert_true(dd_shimreg_thing_in_group(reg, "Thing03", "Quarantine"));
    assert_true(dd_shimreg_thing_in_group(reg, "Thing03", "Other"));
    assert_false(dd_shimreg_thing_in_group(reg, "Thing01", "Quarantine"));
    assert_false(dd_shimreg_thing_in_group(reg, "Thing03", "Nope"));
    assert_false(dd_shimreg_thing_in_group(reg, "Nobody", "Quarantine"));
    assert_false(dd_shimreg_thing_in_group(reg, "Thing03", NULL));

    /* A deny on a grandparent reaches a thing in a grandchild. */
    (void)snprintf(json, sizeof(json),
                   "[%s,"
                   "{\"kind\":\"group\",\"name\":\"Top\",\"state\":{\"exists\":true,"
                   "\"policies\":[\"TopDeny\"]}},"
                   "{\"kind\":\"group\",\"name\":\"Mid\",\"state\":{\"exists\":true,"
                   "\"parent\":\"Top\"}},"
                   "{\"kind\":\"group\",\"name\":\"Leaf\",\"state\":{\"exists\":true,"
                   "\"parent\":\"Mid\"}},"
                   "{\"kind\":\"thing\",\"name\":\"Thing01\",\"state\":{\"exists\":true,"
                   "\"groups\":[\"Leaf\"]}},"
                   "{\"kind\":\"cert\",\"name\":\"" CERT_B "\",\"state\":{\"exists\":true,"
                   "\"status\":\"ACTIVE\",\"things\":[\"Thing01\"],\"policies\":[\"Allow\"]}}]",
                   policy_entity("TopDeny", DOC_DENY_ALL));
    apply_ok(reg, json);
    assert_true(dd_shimreg_thing_in_group(reg, "Thing01", "Top"));
    assert_int_equal(decide(reg, CERT_B, "Thing01"), DD_POLICY_DENY_EXPLICIT);

    /* Moving the middle group to the root cuts the inheritance. */
    apply_ok(reg, "[{\"kind\":\"group\",\"name\":\"Mid\",\"state\":{\"exists\":true,"
                  "\"parent\":null}}]");
    assert_false(dd_shimreg_thing_in_group(reg, "Thing01", "Top"));
    assert_int_equal(decide(reg, CERT_B, "Thing01"), DD_POLICY_ALLOW);
}

static void test_dd_shimreg_group_cycle_terminates(void **state)
{
    dd_shimreg_t *reg = *state;
    const dd_policy_t **arr = NULL;
    size_t n = 0;
    char json[1024];

    /* The registry never makes a cycle, but a sequence of updates could. */
    apply_ok(reg, "[{\"kind\":\"group\",\"name\":\"A\",\"state\":{\"exists\":true,"
                  "\"parent\":\"B\",\"policies\":[\"P\"]}},"
                  "{\"kind\":\"group\",\"name\":\"B\",\"state\":{\"exists\":true,"
                  "\"parent\":\"A\"}},"
                  "{\"kind\":\"thing\",\"name\":\"T\",\"state\":{\"exists\":true,"
                  "\"groups\":[\"A\"]}}]");
    (void)snprintf(json, sizeof(json), "[%s]", policy_entity("P", DOC_ALLOW_ALL));
    apply_ok(reg, json);
    assert_int_equal(dd_shimreg_policies_for(reg, CERT_A, "T", &arr, &n), DD_SHIMREG_OK);
    assert_int_equal(n, 1);
    free(arr);
    assert_false(dd_shimreg_thing_in_group(reg, "T", "C"));
    assert_true(dd_shimreg_thing_in_group(reg, "T", "B"));
}

static void test_dd_shimreg_all_or_nothing(void **state)
{
    dd_shimreg_t *reg = *state;
    char json[4096];
    char err[512];
    uint64_t gen;
    const dd_policy_t *before;

    load_workshop(reg);
    gen = dd_shimreg_generation(reg);
    before = dd_shimreg_policy(reg, "Allow");
    /* A good change, then a malformed policy: nothing at all is applied. */
    (void)snprintf(json, sizeof(json),
                   "[{\"kind\":\"thing\",\"name\":\"Thing03\",\"state\":{\"exists\":false}},"
                   "%s,%s]",
                   policy_entity("Allow", DOC_DENY_ALL), policy_entity("Bad", DOC_BAD_EFFECT));
    assert_int_equal(apply_json(reg, json, 0, err, sizeof(err)), DD_SHIMREG_INVALID);
    assert_string_equal(err, "policy Bad: Statement[0].Effect must be \"Allow\" or \"Deny\"");
    assert_int_equal(dd_shimreg_generation(reg), gen);
    assert_non_null(dd_shimreg_thing(reg, "Thing03"));
    assert_null(dd_shimreg_policy(reg, "Bad"));
    assert_ptr_equal(dd_shimreg_policy(reg, "Allow"), before);
    assert_int_equal(decide(reg, CERT_A, NULL), DD_POLICY_ALLOW);

    /* Lenient (the start-up load): the bad entity is skipped, the rest applied. */
    assert_int_equal(apply_json(reg, json, DD_SHIMREG_LENIENT, err, sizeof(err)), DD_SHIMREG_OK);
    assert_null(dd_shimreg_thing(reg, "Thing03"));
    assert_null(dd_shimreg_policy(reg, "Bad"));
    assert_int_equal(decide(reg, CERT_A, NULL), DD_POLICY_DENY_EXPLICIT);
    assert_true(dd_shimreg_generation(reg) > gen);
}

static void test_dd_shimreg_invalid_states(void **state)
{
    static const struct {
        const char *json;
        const char *err;
    } cases[] = {
        {"[{\"kind\":\"cert\",\"name\":\"" CERT_A "\",\"state\":{\"exists\":true,"
         "\"status\":\"BOGUS\"}}]",
         "cert " CERT_A ": \"status\" must be ACTIVE, INACTIVE, REVOKED or PENDING_ACTIVATION"},
        {"[{\"kind\":\"cert\",\"name\":\"" CERT_A "\",\"state\":{\"exists\":true}}]",
         "cert " CERT_A ": \"status\" must be ACTIVE, INACTIVE, REVOKED or PENDING_ACTIVATION"},
        {"[{\"kind\":\"cert\",\"name\":\"" CERT_A "\",\"state\":{\"exists\":true,"
         "\"status\":\"ACTIVE\",\"service\":\"yes\"}}]",
         "cert " CERT_A ": \"service\" must be a boolean"},
        {"[{\"kind\":\"cert\",\"name\":\"" CERT_A "\",\"state\":{\"exists\":true,"
         "\"status\":\"ACTIVE\",\"things\":\"T\"}}]",
         "cert " CERT_A ": \"things\" must be a list of names"},
        {"[{\"kind\":\"cert\",\"name\":\"" CERT_A "\",\"state\":{\"exists\":true,"
         "\"status\":\"ACTIVE\",\"policies\":[\"ok\",\"bad name!\"]}}]",
         "cert " CERT_A ": \"policies\"[1] is not a valid policy name"},
        {"[{\"kind\":\"thing\",\"name\":\"T\",\"state\":{\"exists\":true,\"groups\":[7]}}]",
         "thing T: \"groups\"[0] is not a valid thing group name"},
        {"[{\"kind\":\"group\",\"name\":\"G\",\"state\":{\"exists\":true,\"parent\":\"G\"}}]",
         "group G: a group cannot be its own parent"},
        {"[{\"kind\":\"group\",\"name\":\"G\",\"state\":{\"exists\":true,\"parent\":5}}]",
         "group G: \"parent\" must be a group name or null"},
        {"[{\"kind\":\"policy\",\"name\":\"P\",\"state\":{\"exists\":true}}]",
         "policy P: \"document\" must be the policy document as a string"},
        {"[{\"kind\":\"policy\",\"name\":\"P\",\"state\":{\"exists\":true,"
         "\"document\":\"{not json\"}}]",
         "policy P: "},
        {"[{\"kind\":\"thing\",\"name\":\"T\",\"state\":[]}]",
         "thing T: the state must be a JSON object"},
        {"[{\"kind\":\"thing\",\"name\":\"T\",\"state\":{\"exists\":1}}]",
         "thing T: \"exists\" must be a boolean"},
    };
    dd_shimreg_t *reg = *state;
    char err[512];
    size_t i;

    load_workshop(reg);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t gen = dd_shimreg_generation(reg);
        dd_shimreg_status_t st = apply_json(reg, cases[i].json, 0, err, sizeof(err));

        if (st != DD_SHIMREG_INVALID || strncmp(err, cases[i].err, strlen(cases[i].err)) != 0) {
            print_error("case %zu: got %s \"%s\", want \"%s\"\n", i, dd_shimreg_strerror(st), err,
                        cases[i].err);
            fail();
        }
        assert_int_equal(dd_shimreg_generation(reg), gen);
    }
    /* Nothing of the above reached the copy. */
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_POLICY), 4);
    assert_null(dd_shimreg_group(reg, "G"));
    assert_null(dd_shimreg_thing(reg, "T"));
    assert_int_equal(dd_shimreg_cert(reg, CERT_A)->status, DD_CERT_ACTIVE);
}

static void test_dd_shimreg_delete_and_full(void **state)
{
    dd_shimreg_t *reg = *state;

    load_workshop(reg);
    /* exists:false deletes; deleting a missing entity is fine. */
    apply_ok(reg, "[{\"kind\":\"group\",\"name\":\"IsolatedDevices\",\"state\":{\"exists\":false}},"
                  "{\"kind\":\"group\",\"name\":\"Ghost\",\"state\":{\"exists\":false}}]");
    assert_null(dd_shimreg_group(reg, "IsolatedDevices"));
    /* A thing still naming a deleted group: the group is skipped. */
    assert_false(dd_shimreg_thing_in_group(reg, "Thing03", "Quarantine"));
    assert_int_equal(decide(reg, CERT_A, "Thing03"), DD_POLICY_ALLOW);

    /* A later update of the same entity in one call wins. */
    apply_ok(reg, "[{\"kind\":\"thing\",\"name\":\"X\",\"state\":{\"exists\":true}},"
                  "{\"kind\":\"thing\",\"name\":\"X\",\"state\":{\"exists\":false}}]");
    assert_null(dd_shimreg_thing(reg, "X"));

    /* A full snapshot drops everything it does not name. */
    {
        char err[256];

        assert_int_equal(apply_json(reg,
                                    "[{\"kind\":\"thing\",\"name\":\"Only\",\"state\":"
                                    "{\"exists\":true}}]",
                                    DD_SHIMREG_FULL, err, sizeof(err)),
                         DD_SHIMREG_OK);
    }
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_THING), 1);
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_POLICY), 0);
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_CERT), 0);
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_GROUP), 0);
    assert_non_null(dd_shimreg_thing(reg, "Only"));
    /* An empty full snapshot empties the copy. */
    assert_int_equal(dd_shimreg_apply(reg, NULL, 0, DD_SHIMREG_FULL, NULL, 0), DD_SHIMREG_OK);
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_THING), 0);
}

/* ---- loading from a registry database ------------------------------------------------------ */

static void test_dd_shimreg_load_file(void **state)
{
    dd_shimreg_t *reg = *state;
    char dir[] = "/tmp/test_dd_shimreg.XXXXXX";
    char db_path[256];
    char arn[512];
    char cert_id[DD_PKI_CERT_ID_LEN + 1];
    char svc_id[DD_PKI_CERT_ID_LEN + 1];
    char err[256];
    dd_pki_ca_t *ca = NULL;
    dd_pki_credentials_t cred;
    sqlite3 *db = NULL;
    dd_registry_t r;
    dd_registry_error_t rerr;
    dd_clock_t clock;
    const dd_shimreg_cert_t *c;
    char *svc_pem = NULL;
    char svc_path[300];

    assert_non_null(mkdtemp(dir));
    assert_int_equal(dd_pki_ca_ensure(dir, &ca), DD_PKI_OK);
    assert_int_equal(dd_pki_ensure_service(ca, svc_id), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    (void)snprintf(db_path, sizeof(db_path), "%s/ddlocal.db", dir);
    assert_int_equal(dd_db_open(db_path, false, &db), DD_DB_OK);
    (void)dd_clock_init_real(&clock);
    assert_int_equal(dd_registry_open(&r, db, NULL, &clock), DD_REGISTRY_OK);

    assert_int_equal(dd_registry_cert_add(&r, cred.certificate_pem, DD_CERT_ACTIVE, false, cert_id,
                                          sizeof(cert_id), &rerr),
                     DD_REGISTRY_OK);
    assert_string_equal(cert_id, cred.certificate_id);
    assert_int_equal(dd_pki_path(dir, DD_PKI_FILE_SERVICE_CERT, svc_path, sizeof(svc_path)),
                     DD_PKI_OK);
    assert_int_equal(dd_fs_read_file(svc_path, 0, &svc_pem, NULL), DD_FS_OK);
    assert_int_equal(dd_registry_cert_add(&r, svc_pem, DD_CERT_ACTIVE, true, NULL, 0, &rerr),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_create(&r, "Thing03", NULL, NULL, NULL, 0, &rerr),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_principal_attach(&r, "Thing03", cert_id, &rerr), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&r, "Quarantine", NULL, NULL, NULL, NULL, 0, &rerr),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_create(&r, "IsolatedDevices", "Quarantine", NULL, NULL, NULL,
                                              0, &rerr),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_group_add_thing(&r, "IsolatedDevices", "Thing03", &rerr),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_create(&r, "AllowAll", DOC_ALLOW_ALL, &rerr),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_create(&r, "DenyAll", DOC_DENY_ALL, &rerr), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_create(&r, "Broken", DOC_ALLOW_ALL, &rerr), DD_REGISTRY_OK);
    (void)snprintf(arn, sizeof(arn), "arn:aws:iot:us-east-1:123456789012:cert/%s", cert_id);
    assert_int_equal(dd_registry_policy_attach(&r, "AllowAll", arn, &rerr), DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_attach(&r, "DenyAll",
                                               "arn:aws:iot:us-east-1:123456789012:thinggroup/"
                                               "Quarantine",
                                               &rerr),
                     DD_REGISTRY_OK);
    /* A document that no longer compiles (written behind the registry's back):
     * the start-up load skips it and keeps the rest. */
    assert_int_equal(dd_db_exec(db, "UPDATE policies SET document = '{broken' "
                                    "WHERE name = 'Broken'"),
                     DD_DB_OK);
    dd_db_close(db);

    assert_int_equal(dd_shimreg_load_file(reg, db_path, err, sizeof(err)), DD_SHIMREG_OK);
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_CERT), 2);
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_POLICY), 2);
    assert_null(dd_shimreg_policy(reg, "Broken"));
    c = dd_shimreg_cert(reg, cert_id);
    assert_non_null(c);
    assert_false(c->service);
    assert_int_equal(c->things.count, 1);
    assert_string_equal(c->things.items[0], "Thing03");
    assert_true(dd_shimreg_cert(reg, svc_id)->service);
    assert_string_equal(dd_shimreg_group(reg, "IsolatedDevices")->parent, "Quarantine");
    assert_true(dd_shimreg_thing_in_group(reg, "Thing03", "Quarantine"));
    assert_int_equal(decide(reg, cert_id, "Thing03"), DD_POLICY_DENY_EXPLICIT);
    assert_int_equal(decide(reg, cert_id, NULL), DD_POLICY_ALLOW);

    /* A missing database is a store error that names the file. */
    assert_int_equal(dd_shimreg_load_file(reg, "/nonexistent/ddlocal.db", err, sizeof(err)),
                     DD_SHIMREG_STORE_ERROR);
    assert_non_null(strstr(err, "/nonexistent/ddlocal.db"));
    /* ... and leaves the copy as it was. */
    assert_int_equal(dd_shimreg_count(reg, DD_REGISTRY_KIND_CERT), 2);
    assert_int_equal(dd_shimreg_load_file(reg, NULL, err, sizeof(err)), DD_SHIMREG_BAD_PARAMETER);
    assert_int_equal(dd_shimreg_load(reg, NULL, err, sizeof(err)), DD_SHIMREG_BAD_PARAMETER);

    free(svc_pem);
    dd_pki_credentials_free(&cred);
    dd_pki_ca_free(ca);
    assert_int_equal(dd_fs_remove_tree(dir), DD_FS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_shimreg_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_shimreg_entities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_shimreg_effective_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_shimreg_group_inheritance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_shimreg_group_cycle_terminates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_shimreg_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_shimreg_invalid_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_shimreg_delete_and_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_shimreg_load_file, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
