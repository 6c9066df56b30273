/* Unit tests for the audit check catalogue (evaluator/audit/dd_audit_check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dd_audit_check.h"

static int count_sink(void *ctx, const dd_audit_finding_t *finding)
{
    (void)finding;
    (*(int *)ctx)++;
    return 0;
}

/* Every check of AWS's model appears once, with a documented severity, and
 * each is either computed or says why not. */
static void test_catalogue_is_complete_and_consistent(void **state)
{
    static const char *const MODEL[] = {
        "AUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK",
        "CA_CERTIFICATE_EXPIRING_CHECK",
        "CA_CERTIFICATE_KEY_QUALITY_CHECK",
        "CONFLICTING_CLIENT_IDS_CHECK",
        "DEVICE_CERTIFICATE_AGE_CHECK",
        "DEVICE_CERTIFICATE_EXPIRING_CHECK",
        "DEVICE_CERTIFICATE_KEY_QUALITY_CHECK",
        "DEVICE_CERTIFICATE_SHARED_CHECK",
        "INTERMEDIATE_CA_REVOKED_FOR_ACTIVE_DEVICE_CERTIFICATES_CHECK",
        "IOT_POLICY_OVERLY_PERMISSIVE_CHECK",
        "IOT_POLICY_POTENTIAL_MIS_CONFIGURATION_CHECK",
        "IOT_ROLE_ALIAS_ALLOWS_ACCESS_TO_UNUSED_SERVICES_CHECK",
        "IOT_ROLE_ALIAS_OVERLY_PERMISSIVE_CHECK",
        "LOGGING_DISABLED_CHECK",
        "REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK",
        "REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK",
        "UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK",
    };
    size_t count = 0;
    size_t i;
    size_t j;
    const dd_audit_check_def_t *all = dd_audit_check_catalogue(&count);

    (void)state;
    assert_non_null(all);
    assert_int_equal(count, sizeof(MODEL) / sizeof(MODEL[0]));
    for (i = 0; i < sizeof(MODEL) / sizeof(MODEL[0]); i++) {
        const dd_audit_check_def_t *c = dd_audit_check_find(MODEL[i]);

        assert_non_null(c);
        assert_string_equal(c->name, MODEL[i]);
        assert_true(strcmp(c->severity, "CRITICAL") == 0 || strcmp(c->severity, "HIGH") == 0 ||
                    strcmp(c->severity, "MEDIUM") == 0 || strcmp(c->severity, "LOW") == 0);
        assert_true((c->run == NULL) == (c->not_applicable != NULL));
    }
    for (i = 0; i < count; i++) {
        for (j = i + 1; j < count; j++) {
            assert_string_not_equal(all[i].name, all[j].name);
        }
    }
    assert_null(dd_audit_check_find("NO_SUCH_CHECK"));
    assert_null(dd_audit_check_find(NULL));
    assert_null(dd_audit_check_catalogue(NULL));
}

/* A check ddlocal cannot compute answers NOT_APPLICABLE and reports nothing. */
static void test_run_not_applicable_and_arguments(void **state)
{
    const dd_audit_check_def_t *cognito =
        dd_audit_check_find("UNAUTHENTICATED_COGNITO_ROLE_OVERLY_PERMISSIVE_CHECK");
    dd_audit_world_t world = {NULL, NULL, 0, NULL, NULL};
    int findings = 0;
    int64_t checked = 99;

    (void)state;
    assert_int_equal(dd_audit_check_run(cognito, &world, count_sink, &findings, &checked),
                     DD_AUDIT_NOT_APPLICABLE);
    assert_int_equal(findings, 0);
    assert_int_equal(checked, 0);
    assert_int_equal(dd_audit_check_run(NULL, &world, count_sink, &findings, &checked),
                     DD_AUDIT_INVALID_ARGUMENT);
    assert_int_equal(dd_audit_check_run(cognito, NULL, count_sink, &findings, &checked),
                     DD_AUDIT_INVALID_ARGUMENT);
    assert_int_equal(dd_audit_check_run(cognito, &world, NULL, &findings, &checked),
                     DD_AUDIT_INVALID_ARGUMENT);
    assert_int_equal(dd_audit_check_run(cognito, &world, count_sink, &findings, NULL),
                     DD_AUDIT_INVALID_ARGUMENT);
    assert_string_equal(dd_audit_strerror(DD_AUDIT_NOT_APPLICABLE),
                        "check not computed by ddlocal");
    assert_string_equal(dd_audit_strerror((dd_audit_status_t)99), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogue_is_complete_and_consistent),
        cmocka_unit_test(test_run_not_applicable_and_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
