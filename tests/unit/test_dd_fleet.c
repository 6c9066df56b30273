#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dd_clock.h"
#include "dd_db.h"
#include "dd_fleet.h"
#include "dd_fs.h"
#include "dd_pki.h"
#include "dd_registry.h"
#include "dd_scenario.h"

typedef struct fx {
    char dir[64];
    dd_pki_ca_t *ca;
    dd_scenario_t sc;
} fx_t;

static const char SCENARIO[] = "{\"name\":\"unit\",\"devices\":3,\"durationSeconds\":600,"
                               "\"telemetry\":{\"topic\":\"fleet/{thing}/t\"},"
                               "\"groups\":[{\"name\":\"g1\",\"devices\":1}]}";

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    char msg[128];

    if (f == NULL) {
        return -1;
    }
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_fleet_test.XXXXXX");
    if (mkdtemp(f->dir) == NULL || dd_pki_ca_ensure(f->dir, &f->ca) != DD_PKI_OK ||
        dd_scenario_parse(SCENARIO, sizeof(SCENARIO) - 1, &f->sc, msg, sizeof(msg)) !=
            DD_SCENARIO_OK) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;

    dd_scenario_free(&f->sc);
    dd_pki_ca_free(f->ca);
    assert_int_equal(dd_fs_remove_tree(f->dir), DD_FS_OK);
    free(f);
    return 0;
}

static void assert_signed_by(const dd_fleet_cred_t *c, const dd_pki_ca_t *ca)
{
    const unsigned char *p = c->cert_der;
    X509 *x = d2i_X509(NULL, &p, (long)c->cert_der_len);
    EVP_PKEY *capub = X509_get_pubkey(dd_pki_ca_cert(ca));
    char id[DD_PKI_CERT_ID_LEN + 1];

    assert_non_null(x);
    assert_int_equal(X509_verify(x, capub), 1);
    assert_int_equal(dd_pki_cert_id_from_x509(x, id), DD_PKI_OK);
    assert_string_equal(id, c->cert_id);
    assert_true(c->key_der_len > 0);
    EVP_PKEY_free(capub);
    X509_free(x);
}

static void test_dd_fleet_credentials_cache(void **state)
{
    fx_t *f = *state;
    dd_fleet_cred_t *creds = NULL;
    dd_fleet_cred_t *again = NULL;
    uint32_t generated = 99;
    char path[256];
    struct stat st;
    char first_id[DD_PKI_CERT_ID_LEN + 1];
    char msg[128];
    uint32_t i;

    assert_int_equal(dd_fleet_credentials(f->dir, &f->sc, f->ca, &creds, &generated), DD_FLEET_OK);
    assert_int_equal(generated, 3);
    for (i = 0; i < 3; i++) {
        assert_signed_by(&creds[i], f->ca);
    }
    assert_string_not_equal(creds[0].cert_id, creds[1].cert_id);
    (void)snprintf(path, sizeof(path), "%s/fleet/unit/credentials.json", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    (void)snprintf(first_id, sizeof(first_id), "%s", creds[0].cert_id);

    /* Cached: nothing new, same certificates. */
    assert_int_equal(dd_fleet_credentials(f->dir, &f->sc, f->ca, &again, &generated), DD_FLEET_OK);
    assert_int_equal(generated, 0);
    for (i = 0; i < 3; i++) {
        assert_string_equal(again[i].cert_id, creds[i].cert_id);
    }
    dd_fleet_creds_free(again, 3);

    /* A bigger fleet keeps the first ones and adds the rest. */
    assert_int_equal(dd_scenario_override(&f->sc, 5, 0, msg, sizeof(msg)), DD_SCENARIO_OK);
    assert_int_equal(dd_fleet_credentials(f->dir, &f->sc, f->ca, &again, &generated), DD_FLEET_OK);
    assert_int_equal(generated, 2);
    assert_string_equal(again[0].cert_id, first_id);
    assert_signed_by(&again[4], f->ca);
    dd_fleet_creds_free(again, 5);
    dd_fleet_creds_free(creds, 3);

    /* A new CA (data dir reset) invalidates the cache. */
    {
        dd_pki_ca_t *ca2 = NULL;
        char pki[128];

        (void)snprintf(pki, sizeof(pki), "%s/pki", f->dir);
        assert_int_equal(dd_fs_remove_tree(pki), DD_FS_OK);
        assert_int_equal(dd_pki_ca_ensure(f->dir, &ca2), DD_PKI_OK);
        assert_int_equal(dd_fleet_credentials(f->dir, &f->sc, ca2, &again, &generated),
                         DD_FLEET_OK);
        assert_int_equal(generated, 5);
        assert_string_not_equal(again[0].cert_id, first_id);
        assert_signed_by(&again[0], ca2);
        dd_fleet_creds_free(again, 5);
        dd_pki_ca_free(ca2);
    }
    assert_int_equal(dd_fleet_credentials(NULL, &f->sc, f->ca, &again, NULL),
                     DD_FLEET_BAD_PARAMETER);
}

typedef struct names {
    int count;
    char first[300];
} names_t;

static int collect(void *ctx, const char *name)
{
    names_t *n = ctx;

    if (n->count++ == 0) {
        (void)snprintf(n->first, sizeof(n->first), "%s", name);
    }
    return 0;
}

static int thing_attrs(void *ctx, const dd_registry_thing_t *t)
{
    (void)snprintf(ctx, 300, "%s", t->attributes_json);
    return 0;
}

static void test_dd_fleet_register(void **state)
{
    fx_t *f = *state;
    dd_fleet_cred_t *creds = NULL;
    char path[256];
    char policy[128];
    char arn[DD_ARN_MAX];
    char attrs[300] = "";
    char msg[256] = "";
    sqlite3 *db = NULL;
    dd_registry_t reg;
    dd_clock_t clock;
    dd_registry_error_t err;
    names_t n;
    dd_registry_page_t page = {NULL, 0};
    char next[300];

    assert_int_equal(dd_fleet_credentials(f->dir, &f->sc, f->ca, &creds, NULL), DD_FLEET_OK);
    (void)snprintf(path, sizeof(path), "%s/%s", f->dir, DD_DB_FILE_NAME);
    assert_int_equal(dd_db_open(path, false, &db), DD_DB_OK);
    assert_int_equal(dd_clock_init_real(&clock), DD_CLOCK_OK);
    assert_int_equal(dd_registry_open(&reg, db, NULL, &clock), DD_REGISTRY_OK);

    assert_int_equal(dd_fleet_register(&reg, &f->sc, creds, msg, sizeof(msg)), DD_FLEET_OK);
    /* Idempotent. */
    assert_int_equal(dd_fleet_register(&reg, &f->sc, creds, msg, sizeof(msg)), DD_FLEET_OK);

    assert_true(dd_registry_thing_exists(&reg, "unit-0001"));
    assert_true(dd_registry_thing_exists(&reg, "unit-0003"));
    assert_int_equal(dd_registry_thing_get(&reg, "unit-0001", thing_attrs, attrs, &err),
                     DD_REGISTRY_OK);
    assert_non_null(strstr(attrs, "\"fleetGroup\":\"g1\""));
    memset(&n, 0, sizeof(n));
    assert_int_equal(dd_registry_thing_principals(&reg, "unit-0002", &page, collect, &n, next,
                                                  sizeof(next), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 1);
    assert_string_equal(n.first, creds[1].cert_id);
    dd_fleet_policy_name(&f->sc, policy, sizeof(policy));
    assert_string_equal(policy, "ddlocal-fleet-unit");
    assert_int_equal(dd_arn_format(&reg.arn, DD_NAME_CERTIFICATE, creds[2].cert_id, arn,
                                   sizeof(arn)),
                     DD_NAMES_OK);
    memset(&n, 0, sizeof(n));
    assert_int_equal(dd_registry_policies_for_target(&reg, arn, false, &page, collect, &n, next,
                                                     sizeof(next), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(n.count, 1);
    assert_string_equal(n.first, policy);

    assert_int_equal(dd_fleet_register(NULL, &f->sc, creds, msg, sizeof(msg)),
                     DD_FLEET_BAD_PARAMETER);
    dd_db_close(db);
    dd_fleet_creds_free(creds, 3);
}

static void test_dd_fleet_misc(void **state)
{
    fx_t *f = *state;
    dd_fleet_summary_t s;
    dd_fleet_config_t cfg;
    dd_fleet_t *fleet = NULL;
    dd_fleet_cred_t *creds = NULL;
    char *json = NULL;
    uint64_t got = 0;

    assert_true(dd_fleet_raise_fd_limit(64, &got));
    assert_true(got >= 64);
    memset(&s, 0, sizeof(s));
    s.devices = 3;
    s.reports_accepted = 9;
    s.connected_peak = 3;
    s.rss_before_kb = 1000;
    s.rss_connected_kb = 1300;
    assert_int_equal(dd_fleet_summary_json(&s, &json), DD_FLEET_OK);
    assert_non_null(strstr(json, "\"reportsAccepted\":9"));
    assert_non_null(strstr(json, "\"kibPerDevice\":100"));
    free(json);

    /* Creating the connections needs no broker: nothing connects before dd_fleet_run(). */
    assert_int_equal(dd_fleet_credentials(f->dir, &f->sc, f->ca, &creds, NULL), DD_FLEET_OK);
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = "127.0.0.1";
    cfg.port = 8883;
    cfg.time_scale = 60;
    assert_int_equal(dd_fleet_create(&f->sc, creds, &cfg, &fleet), DD_FLEET_BAD_PARAMETER);
    cfg.root_ca = "/nonexistent/rootca.pem";
    assert_int_equal(dd_fleet_create(&f->sc, creds, &cfg, &fleet), DD_FLEET_CONNECT_ERROR);
    {
        char ca[128];

        (void)snprintf(ca, sizeof(ca), "%s/pki/rootca.pem", f->dir);
        cfg.root_ca = ca;
        assert_int_equal(dd_fleet_create(&f->sc, creds, &cfg, &fleet), DD_FLEET_OK);
        dd_fleet_free(fleet);
    }
    dd_fleet_creds_free(creds, 3);
    assert_string_equal(dd_fleet_strerror(DD_FLEET_OK), "ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_fleet_credentials_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_fleet_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_fleet_misc, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
