/*
 * Device Defender Audit at scale (issue 12's goal: an on-demand audit of every
 * check over 10,000 things, 10,000 certificates and 1,000 policies in under
 * 2 s). A pipeline opened as ddlocald opens it is filled with N things, each
 * with a certificate of its own (issued by the data dir's CA, attached), and
 * P policies (a quarter as permissive as the workshop's DevicePolicy, a
 * quarter with a Deny on an MQTT wildcard, the rest per-thing), each
 * attached to N/P certificates. Then every computed check of the catalogue
 * runs over it, as an audit task runs them (findings counted by the sink),
 * timed in real ms per check and in total; the run is repeated ROUNDS times
 * and the median total reported.
 *
 * bench_audit [things] [policies] [rounds]   (defaults 10000 1000 5)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dd_audit_check.h"
#include "dd_clock.h"
#include "dd_log.h"
#include "dd_pipeline.h"
#include "dd_pki.h"
#include "dd_store.h"

#define ARN "arn:aws:iot:us-east-1:123456789012:"

static const char *const POLICY_DOCS[4] = {
    /* the workshop's permissive DevicePolicy */
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\","
    "\"Resource\":\"*\"}]}",
    /* a Deny that means a topic filter with # (literal in policies) */
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
    "\"iot:Subscribe\",\"Resource\":\"" ARN "topicfilter/building/*\"},{\"Effect\":\"Deny\","
    "\"Action\":\"iot:Subscribe\",\"Resource\":\"" ARN "topicfilter/building/control_room/#\"}]}",
    /* per thing, twice */
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\","
    "\"Resource\":\"" ARN "client/${iot:Connection.Thing.ThingName}\"},{\"Effect\":\"Allow\","
    "\"Action\":[\"iot:Publish\",\"iot:Receive\"],\"Resource\":\"" ARN
    "topic/$aws/things/${iot:Connection.Thing.ThingName}/*\"},{\"Effect\":\"Allow\",\"Action\":"
    "\"iot:Subscribe\",\"Resource\":\"" ARN
    "topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/*\"}]}",
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\","
    "\"Resource\":\"" ARN "client/${iot:Connection.Thing.ThingName}\"},{\"Effect\":\"Allow\","
    "\"Action\":[\"iot:GetThingShadow\",\"iot:UpdateThingShadow\"],\"Resource\":\"" ARN
    "thing/${iot:Connection.Thing.ThingName}\"}]}",
};

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Fills the registry in one transaction; -1 on the first refusal. */
static int fill_with(dd_pipeline_t *p, const dd_pki_ca_t *ca, int things, int policies)
{
    char name[64];
    char cert_id[65];
    char arn[256];
    int i;

    for (i = 0; i < policies; i++) {
        (void)snprintf(name, sizeof(name), "Policy%04d", i);
        if (dd_registry_policy_create(&p->registry, name, POLICY_DOCS[i % 4], NULL) !=
            DD_REGISTRY_OK) {
            return -1;
        }
    }
    for (i = 0; i < things; i++) {
        dd_pki_credentials_t cred;
        int rc = 0;
        (void)snprintf(name, sizeof(name), "Thing%05d", i);
        if (dd_pki_issue_device(ca, DD_PKI_KEY_EC_P256, &cred) != DD_PKI_OK) {
            return -1;
        }
        if (dd_registry_thing_create(&p->registry, name, NULL, NULL, NULL, 0, NULL) !=
                DD_REGISTRY_OK ||
            dd_registry_cert_add(&p->registry, cred.certificate_pem, DD_CERT_ACTIVE, false, cert_id,
                                 sizeof(cert_id), NULL) != DD_REGISTRY_OK ||
            dd_registry_principal_attach(&p->registry, name, cert_id, NULL) != DD_REGISTRY_OK) {
            rc = -1;
        }
        dd_pki_credentials_free(&cred);
        (void)snprintf(name, sizeof(name), "Policy%04d", i % policies);
        (void)snprintf(arn, sizeof(arn), "%scert/%s", ARN, cert_id);
        if (rc != 0 || dd_registry_policy_attach(&p->registry, name, arn, NULL) != DD_REGISTRY_OK) {
            return -1;
        }
    }
    return 0;
}

static int fill(dd_pipeline_t *p, int things, int policies)
{
    dd_pki_ca_t *ca = NULL;
    int rc;

    if (dd_pki_ca_ensure(p->data_dir, &ca) != DD_PKI_OK) {
        return -1;
    }
    rc = dd_store_begin(p->store) == DD_STORE_OK ? fill_with(p, ca, things, policies) : -1;
    dd_pki_ca_free(ca);
    if (rc != 0) {
        return -1;
    }
    return dd_store_commit(p->store) == DD_STORE_OK ? 0 : -1;
}

static int count_finding(void *ctx, const dd_audit_finding_t *finding)
{
    (void)finding;
    (*(int64_t *)ctx)++;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int things = argc > 1 ? atoi(argv[1]) : 10000;
    int policies = argc > 2 ? atoi(argv[2]) : 1000;
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    char dir[64] = "/tmp/bench_audit_XXXXXX";
    char cmd[128];
    dd_pipeline_config_t cfg;
    dd_pipeline_t p;
    const dd_audit_check_def_t *cat;
    dd_audit_world_t world;
    int64_t *totals;
    int64_t t0;
    size_t n;
    size_t i;
    int r;

    if (things <= 0 || policies <= 0 || rounds <= 0 || mkdtemp(dir) == NULL) {
        fprintf(stderr, "usage: bench_audit [things] [policies] [rounds]\n");
        return 2;
    }
    totals = calloc((size_t)rounds, sizeof(*totals));
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    dd_pipeline_config_default(&cfg);
    (void)snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    (void)snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "manual:1700000000000");
    if (totals == NULL || dd_pipeline_open(&cfg, &p) != DD_PIPELINE_OK) {
        fprintf(stderr, "cannot open a pipeline in %s\n", dir);
        free(totals);
        return 1;
    }
    t0 = mono_us();
    if (fill(&p, things, policies) != 0) {
        fprintf(stderr, "filling failed\n");
        free(totals);
        return 1;
    }
    printf("registry: %d things, %d certificates, %d policies (filled in %.1f s)\n", things, things,
           policies, (double)(mono_us() - t0) / 1e6);
    memset(&world, 0, sizeof(world));
    world.registry = &p.registry;
    world.store = p.store;
    world.now_ms = dd_clock_now_ms(&p.clock);
    cat = dd_audit_check_catalogue(&n);
    for (r = 0; r < rounds; r++) {
        int64_t start = mono_us();
        if (r == 0) {
            printf("%-62s %9s %9s %9s\n", "check", "resources", "findings", "ms");
        }
        for (i = 0; i < n; i++) {
            int64_t checked = 0;
            int64_t findings = 0;
            int64_t c0 = mono_us();
            dd_audit_status_t st;
            if (cat[i].run == NULL) {
                continue;
            }
            st = dd_audit_check_run(&cat[i], &world, count_finding, &findings, &checked);
            if (st != DD_AUDIT_OK) {
                fprintf(stderr, "%s: %s\n", cat[i].name, dd_audit_strerror(st));
                free(totals);
                return 1;
            }
            if (r == 0) {
                printf("%-62s %9lld %9lld %9.1f\n", cat[i].name, (long long)checked,
                       (long long)findings, (double)(mono_us() - c0) / 1000.0);
            }
        }
        totals[r] = mono_us() - start;
    }
    qsort(totals, (size_t)rounds, sizeof(*totals), cmp_i64);
    printf("whole audit (every computed check), %d rounds: median %.1f ms, min %.1f ms, "
           "max %.1f ms; goal < 2000 ms: %s\n",
           rounds, (double)totals[rounds / 2] / 1000.0, (double)totals[0] / 1000.0,
           (double)totals[rounds - 1] / 1000.0, totals[rounds / 2] < 2000000 ? "met" : "MISSED");
    free(totals);
    dd_pipeline_close(&p);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
