/*
 * dd_identity: certificate + client id -> refused, service, thing or no thing
 * (architecture.md, "Identity"), including the workshop's two cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_identity.h"
#include "dd_shimreg.h"

/* Certificate ids (64 hex, like AWS's). */
#define CERT_T03 "0303030303030303030303030303030303030303030303030303030303030303"
#define CERT_SHARED "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
#define CERT_LONE "1010101010101010101010101010101010101010101010101010101010101010"
#define CERT_SERVICE "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"
#define CERT_INACTIVE "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a"
#define CERT_REVOKED "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b"
#define CERT_PENDING "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c"
#define CERT_UNKNOWN "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

typedef struct fixture {
    dd_shimreg_t reg;
    dd_identity_config_t on;  /* ddlocal's rule on, reserved prefix "ddlocal" */
    dd_identity_config_t off; /* AWS's strict rule only */
} fixture_t;

static void put(dd_shimreg_t *reg, dd_registry_kind_t kind, const char *name, const char *json)
{
    cJSON *state = cJSON_Parse(json);
    dd_shimreg_update_t u = {kind, name, state};
    char err[256];

    assert_non_null(state);
    if (dd_shimreg_apply(reg, &u, 1, 0, err, sizeof(err)) != DD_SHIMREG_OK) {
        print_error("apply %s: %s\n", name, err);
        fail();
    }
    cJSON_Delete(state);
}

static int setup(void **state)
{
    static fixture_t f;

    memset(&f, 0, sizeof(f));
    dd_shimreg_init(&f.reg);
    f.on.single_thing_rule = true;
    f.on.reserved_prefix = DD_IDENTITY_RESERVED_PREFIX;
    f.off.single_thing_rule = false;
    f.off.reserved_prefix = DD_IDENTITY_RESERVED_PREFIX;
    put(&f.reg, DD_REGISTRY_KIND_CERT, CERT_T03,
        "{\"exists\":true,\"status\":\"ACTIVE\",\"things\":[\"Thing03\"],\"policies\":[]}");
    put(&f.reg, DD_REGISTRY_KIND_CERT, CERT_SHARED,
        "{\"exists\":true,\"status\":\"ACTIVE\",\"service\":false,"
        "\"things\":[\"Thing01\",\"Thing02\",\"Thing03\"]}");
    put(&f.reg, DD_REGISTRY_KIND_CERT, CERT_LONE, "{\"exists\":true,\"status\":\"ACTIVE\"}");
    put(&f.reg, DD_REGISTRY_KIND_CERT, CERT_SERVICE,
        "{\"exists\":true,\"status\":\"ACTIVE\",\"service\":true,\"things\":[\"Thing09\"]}");
    put(&f.reg, DD_REGISTRY_KIND_CERT, CERT_INACTIVE,
        "{\"exists\":true,\"status\":\"INACTIVE\",\"things\":[\"Thing04\"]}");
    put(&f.reg, DD_REGISTRY_KIND_CERT, CERT_REVOKED,
        "{\"exists\":true,\"status\":\"REVOKED\",\"things\":[\"Thing05\",\"Thing06\"]}");
    put(&f.reg, DD_REGISTRY_KIND_CERT, CERT_PENDING,
        "{\"exists\":true,\"status\":\"PENDING_ACTIVATION\",\"things\":[\"Thing07\"]}");
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    dd_shimreg_destroy(&f->reg);
    return 0;
}

static dd_identity_status_t resolve(fixture_t *f, bool rule_on, const char *cert,
                                    const char *client_id, dd_identity_t *id)
{
    return dd_identity_resolve(&f->reg, rule_on ? &f->on : &f->off, cert, client_id, id);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_dd_identity_bad_parameters(void **state)
{
    fixture_t *f = *state;
    dd_identity_t id;

    assert_int_equal(dd_identity_resolve(NULL, &f->on, CERT_T03, "x", &id),
                     DD_IDENTITY_BAD_PARAMETER);
    assert_int_equal(dd_identity_resolve(&f->reg, NULL, CERT_T03, "x", &id),
                     DD_IDENTITY_BAD_PARAMETER);
    assert_int_equal(dd_identity_resolve(&f->reg, &f->on, CERT_T03, NULL, &id),
                     DD_IDENTITY_BAD_PARAMETER);
    assert_int_equal(dd_identity_resolve(&f->reg, &f->on, CERT_T03, "x", NULL),
                     DD_IDENTITY_BAD_PARAMETER);
    /* An empty client id never identifies anything. */
    assert_int_equal(dd_identity_resolve(&f->reg, &f->on, CERT_T03, "", &id),
                     DD_IDENTITY_BAD_PARAMETER);
    assert_string_equal(id.thing, "");
}

static void test_dd_identity_refused_certificates(void **state)
{
    fixture_t *f = *state;
    dd_identity_t id;

    assert_int_equal(resolve(f, true, NULL, "Thing03", &id), DD_IDENTITY_NO_CERTIFICATE);
    assert_string_equal(id.thing, "");
    assert_int_equal(resolve(f, true, CERT_UNKNOWN, "Thing03", &id),
                     DD_IDENTITY_UNKNOWN_CERTIFICATE);
    assert_string_equal(id.thing, "");
    assert_false(id.service);

    /* Not ACTIVE: refused, but the thing it would have been is filled in so
     * that the attempt is metered against it (single-thing rule). */
    assert_int_equal(resolve(f, true, CERT_INACTIVE, "agent", &id), DD_IDENTITY_CERT_NOT_ACTIVE);
    assert_int_equal(id.cert_status, DD_CERT_INACTIVE);
    assert_string_equal(id.thing, "Thing04");
    assert_int_equal(id.rule, DD_IDENTITY_RULE_SINGLE_THING);

    /* Two things: only the client-id rule can name one. */
    assert_int_equal(resolve(f, true, CERT_REVOKED, "Thing06", &id), DD_IDENTITY_CERT_NOT_ACTIVE);
    assert_int_equal(id.cert_status, DD_CERT_REVOKED);
    assert_string_equal(id.thing, "Thing06");
    assert_int_equal(id.rule, DD_IDENTITY_RULE_CLIENT_ID);
    assert_int_equal(resolve(f, true, CERT_REVOKED, "other", &id), DD_IDENTITY_CERT_NOT_ACTIVE);
    assert_string_equal(id.thing, "");

    assert_int_equal(resolve(f, false, CERT_PENDING, "Thing07", &id), DD_IDENTITY_CERT_NOT_ACTIVE);
    assert_int_equal(id.cert_status, DD_CERT_PENDING_ACTIVATION);
    assert_string_equal(id.thing, "Thing07");
}

static void test_dd_identity_service(void **state)
{
    fixture_t *f = *state;
    dd_identity_t id;

    /* The service may use the reserved prefix, and is never a thing, even
     * when its certificate is (wrongly) attached to one. */
    assert_int_equal(resolve(f, true, CERT_SERVICE, "ddlocald", &id), DD_IDENTITY_OK);
    assert_true(id.service);
    assert_string_equal(id.thing, "");
    assert_int_equal(id.rule, DD_IDENTITY_RULE_NONE);
    assert_int_equal(resolve(f, true, CERT_SERVICE, "Thing09", &id), DD_IDENTITY_OK);
    assert_true(id.service);
    assert_string_equal(id.thing, "");
}

static void test_dd_identity_reserved_client_id(void **state)
{
    fixture_t *f = *state;
    dd_identity_config_t none = {true, ""};
    dd_identity_config_t null_prefix = {true, NULL};
    dd_identity_t id;

    assert_int_equal(resolve(f, true, CERT_T03, "ddlocald", &id), DD_IDENTITY_RESERVED_CLIENT_ID);
    assert_false(id.service);
    assert_int_equal(resolve(f, true, CERT_T03, "ddlocal-isolator", &id),
                     DD_IDENTITY_RESERVED_CLIENT_ID);
    /* A prefix match only, and case-sensitive. */
    assert_int_equal(resolve(f, true, CERT_T03, "my-ddlocal", &id), DD_IDENTITY_OK);
    assert_int_equal(resolve(f, true, CERT_T03, "DDLOCAL", &id), DD_IDENTITY_OK);
    /* No prefix configured: nothing reserved. */
    assert_int_equal(dd_identity_resolve(&f->reg, &none, CERT_T03, "ddlocald", &id),
                     DD_IDENTITY_OK);
    assert_int_equal(dd_identity_resolve(&f->reg, &null_prefix, CERT_T03, "ddlocald", &id),
                     DD_IDENTITY_OK);
}

/* Workshop case 1: the agent connects as SensorDevice03 with Thing03's own certificate. */
static void test_dd_identity_workshop_sensor_device03(void **state)
{
    fixture_t *f = *state;
    dd_identity_t id;

    assert_int_equal(resolve(f, true, CERT_T03, "SensorDevice03", &id), DD_IDENTITY_OK);
    assert_false(id.service);
    assert_string_equal(id.thing, "Thing03");
    assert_int_equal(id.rule, DD_IDENTITY_RULE_SINGLE_THING);
    assert_int_equal(id.cert_status, DD_CERT_ACTIVE);

    /* AWS's strict rule: the client id is no thing name, so no thing. */
    assert_int_equal(resolve(f, false, CERT_T03, "SensorDevice03", &id), DD_IDENTITY_OK);
    assert_string_equal(id.thing, "");
    assert_int_equal(id.rule, DD_IDENTITY_RULE_NONE);

    /* Client id = thing name: that thing under both rules. */
    assert_int_equal(resolve(f, false, CERT_T03, "Thing03", &id), DD_IDENTITY_OK);
    assert_string_equal(id.thing, "Thing03");
    assert_int_equal(id.rule, DD_IDENTITY_RULE_CLIENT_ID);
    assert_int_equal(resolve(f, true, CERT_T03, "Thing03", &id), DD_IDENTITY_OK);
    assert_int_equal(id.rule, DD_IDENTITY_RULE_CLIENT_ID);

    /* The single-thing rule names the certificate's thing whatever the client
     * id, even another thing's name. */
    assert_int_equal(resolve(f, true, CERT_T03, "Thing01", &id), DD_IDENTITY_OK);
    assert_string_equal(id.thing, "Thing03");
    assert_int_equal(resolve(f, false, CERT_T03, "Thing01", &id), DD_IDENTITY_OK);
    assert_string_equal(id.thing, "");
}

/* Workshop case 2: one certificate attached to Thing01..Thing03. */
static void test_dd_identity_workshop_shared_certificate(void **state)
{
    fixture_t *f = *state;
    dd_identity_t id;
    int on;

    for (on = 0; on <= 1; on++) {
        assert_int_equal(resolve(f, on, CERT_SHARED, "Thing02", &id), DD_IDENTITY_OK);
        assert_string_equal(id.thing, "Thing02");
        assert_int_equal(id.rule, DD_IDENTITY_RULE_CLIENT_ID);

        /* Any other client id is no thing, with or without ddlocal's rule:
         * that is why quarantining Thing03 does not stop this agent. */
        assert_int_equal(resolve(f, on, CERT_SHARED, "SensorDevice03", &id), DD_IDENTITY_OK);
        assert_string_equal(id.thing, "");
        assert_int_equal(id.rule, DD_IDENTITY_RULE_NONE);
        assert_int_equal(resolve(f, on, CERT_SHARED, "Thing04", &id), DD_IDENTITY_OK);
        assert_string_equal(id.thing, "");
        /* Names match exactly. */
        assert_int_equal(resolve(f, on, CERT_SHARED, "thing02", &id), DD_IDENTITY_OK);
        assert_string_equal(id.thing, "");
    }
}

static void test_dd_identity_certificate_without_things(void **state)
{
    fixture_t *f = *state;
    dd_identity_t id;

    assert_int_equal(resolve(f, true, CERT_LONE, "Thing01", &id), DD_IDENTITY_OK);
    assert_string_equal(id.thing, "");
    assert_int_equal(id.rule, DD_IDENTITY_RULE_NONE);
    assert_false(id.service);
}

static void test_dd_identity_follows_registry_changes(void **state)
{
    fixture_t *f = *state;
    dd_identity_t id;

    put(&f->reg, DD_REGISTRY_KIND_CERT, CERT_LONE,
        "{\"exists\":true,\"status\":\"ACTIVE\",\"things\":[\"Late\"]}");
    assert_int_equal(resolve(f, true, CERT_LONE, "x", &id), DD_IDENTITY_OK);
    assert_string_equal(id.thing, "Late");
    put(&f->reg, DD_REGISTRY_KIND_CERT, CERT_LONE,
        "{\"exists\":true,\"status\":\"INACTIVE\",\"things\":[\"Late\"]}");
    assert_int_equal(resolve(f, true, CERT_LONE, "x", &id), DD_IDENTITY_CERT_NOT_ACTIVE);
    put(&f->reg, DD_REGISTRY_KIND_CERT, CERT_LONE, "{\"exists\":false}");
    assert_int_equal(resolve(f, true, CERT_LONE, "x", &id), DD_IDENTITY_UNKNOWN_CERTIFICATE);
}

static void test_dd_identity_names(void **state)
{
    (void)state;
    assert_string_equal(dd_identity_rule_name(DD_IDENTITY_RULE_NONE), "none");
    assert_string_equal(dd_identity_rule_name(DD_IDENTITY_RULE_CLIENT_ID), "client-id");
    assert_string_equal(dd_identity_rule_name(DD_IDENTITY_RULE_SINGLE_THING), "single-thing");
    assert_string_equal(dd_identity_rule_name((dd_identity_rule_t)99), "?");
    assert_string_equal(dd_identity_strerror(DD_IDENTITY_OK), "success");
    assert_string_equal(dd_identity_strerror(DD_IDENTITY_CERT_NOT_ACTIVE),
                        "certificate not ACTIVE");
    assert_string_equal(dd_identity_strerror((dd_identity_status_t)99), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_identity_bad_parameters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_identity_refused_certificates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_identity_service, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_identity_reserved_client_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_identity_workshop_sensor_device03, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_identity_workshop_shared_certificate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_identity_certificate_without_things, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_identity_follows_registry_changes, setup, teardown),
        cmocka_unit_test(test_dd_identity_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
