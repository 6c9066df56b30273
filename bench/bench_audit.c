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
 * and the median total reported. Each thing also connected to the broker once
 * in the last 30 days (the connection history ddlocald records: Thing00001
 * with Thing00000's certificate at the same time, one takeover of Thing00002),
 * so the connection checks have work too. Last, the pipeline is closed and opened
 * again (a ddlocald restart: every cache empty) and the whole StartOnDemandAuditTask
 * runs as the API runs it (dd_auditor_task_start() on the pipeline's auditor: every
 * check of the catalogue enabled and targeted, findings and statistics stored
 * in one transaction), ROUNDS times, each round and the median reported: the
 * first task is the first audit after a restart. The certificate checks read the
 * facts the registry stored at registration (dd_certfacts.h, the ROCA verdict of RSA keys
 * included) and parse no PEM.
 * Then the one-time cost of registry migration 7 on a data dir written before it:
 * the facts of every certificate dropped and back-filled (dd_registry_facts_backfill,
 * as dd_registry_open runs it once).
 *
 * bench_audit [things] [policies] [rounds]   (defaults 10000 1000 5)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dd_audit_check.h"
#include "dd_auditor.h"
#include "dd_clock.h"
#include "dd_db.h"
#include "dd_log.h"
#include "dd_pipeline.h"
#include "dd_pki.h"
#include "dd_registry_internal.h"
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

/* The process's CPU time: what a task costs when other work shares the machine. */
static int64_t cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#define NOW_MS 1700000000000LL
#define DAY_MS 86400000LL

/* One connection of @p client with certificate @p cert from @p t for an hour (a taken-over one
 * ends when the next one with its client id starts). */
static int connect_once(dd_store_t *s, const char *client, const char *cert, int64_t t,
                        bool still_open)
{
    dd_store_connection_t c;

    memset(&c, 0, sizeof(c));
    c.client_id = client;
    c.cert_id = cert;
    c.thing = client;
    c.source_ip = "10.0.0.1";
    c.instance = "0000000000000001";
    c.connect_ms = t;
    if (dd_store_connection_open(s, &c) != DD_STORE_OK) {
        return -1;
    }
    return still_open || dd_store_connection_close(s, client, t + 3600000, false) == DD_STORE_OK
               ? 0
               : -1;
}

/* The connection history: every thing once in the last 30 days, one certificate shared (Thing00001
 * connects with Thing00000's while that one is connected), one takeover (Thing00002 twice). */
static int connect_all(dd_store_t *s, int i, const char *name, const char *cert_id,
                       char first_cert[65])
{
    int64_t t = NOW_MS - (int64_t)(i % 30) * DAY_MS - 7200000;

    if (i == 0) {
        (void)snprintf(first_cert, 65, "%s", cert_id);
    }
    if (i == 1) {
        return connect_once(s, name, first_cert, NOW_MS - 7200000 + 60000, false);
    }
    if (i == 2 && (connect_once(s, name, cert_id, t - 60000, true) != 0 ||
                   dd_store_connection_close(s, name, t, true) != DD_STORE_OK)) {
        return -1; /* taken over by the next CONNECT with its client id */
    }
    return connect_once(s, name, cert_id, t, false);
}

/* Fills the registry in one transaction; -1 on the first refusal. */
static int fill_with(dd_pipeline_t *p, const dd_pki_ca_t *ca, int things, int policies)
{
    char name[64];
    char cert_id[65];
    char first_cert[65] = "";
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
        (void)snprintf(name, sizeof(name), "Thing%05d", i);
        if (connect_all(p->store, i, name, cert_id, first_cert) != 0) {
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

/* UpdateAccountAuditConfiguration enabling every check of the catalogue, with a role. */
static int enable_all(dd_auditor_t *a, const dd_audit_check_def_t *cat, size_t n)
{
    cJSON *req = cJSON_CreateObject();
    cJSON *map = cJSON_AddObjectToObject(req, "auditCheckConfigurations");
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    dd_auditor_status_t st;
    size_t i;

    (void)cJSON_AddStringToObject(req, "roleArn", "arn:aws:iam::123456789012:role/Audit");
    for (i = 0; i < n; i++) {
        (void)cJSON_AddBoolToObject(cJSON_AddObjectToObject(map, cat[i].name), "enabled", 1);
    }
    st = dd_auditor_config_update(a, req, msg);
    cJSON_Delete(req);
    if (st != DD_AUDITOR_OK) {
        fprintf(stderr, "the audit configuration was refused: %s\n", msg);
        return -1;
    }
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
    const char **names = NULL;
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
    (void)snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "manual:%lld", (long long)NOW_MS);
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
    printf("every computed check run in turn, %d rounds: median %.1f ms, min %.1f ms, "
           "max %.1f ms\n",
           rounds, (double)totals[rounds / 2] / 1000.0, (double)totals[0] / 1000.0,
           (double)totals[rounds - 1] / 1000.0);

    /* A restart: the tasks below start with ddlocald's caches empty. */
    dd_pipeline_close(&p);
    if (dd_pipeline_open(&cfg, &p) != DD_PIPELINE_OK) {
        fprintf(stderr, "cannot open the pipeline in %s again\n", dir);
        free(totals);
        return 1;
    }
    /* The whole task as StartOnDemandAuditTask runs it: every check enabled and targeted. */
    if (enable_all(p.auditor, cat, n) != 0 || (names = calloc(n, sizeof(*names))) == NULL) {
        free(totals);
        return 1;
    }
    for (i = 0; i < n; i++) {
        names[i] = cat[i].name;
    }
    for (r = 0; r < rounds; r++) {
        char task_id[DD_AUDITOR_TASK_ID_LEN];
        char msg[DD_AUDITOR_MESSAGE_MAX] = "";
        int64_t start = mono_us();
        int64_t cpu = cpu_us();
        dd_auditor_status_t st = dd_auditor_task_start(p.auditor, names, n, NULL, task_id, msg);
        totals[r] = mono_us() - start;
        cpu = cpu_us() - cpu;
        printf("StartOnDemandAuditTask round %d%s: %.1f ms (CPU %.1f ms)\n", r + 1,
               r == 0 ? " (first task after the restart)" : "", (double)totals[r] / 1000.0,
               (double)cpu / 1000.0);
        if (st != DD_AUDITOR_OK) {
            fprintf(stderr, "the audit task failed: %s\n", msg);
            free(names);
            free(totals);
            return 1;
        }
        if (r == 0) {
            cJSON *doc = NULL;
            const cJSON *stats;
            if (dd_auditor_task_describe(p.auditor, task_id, &doc) == DD_AUDITOR_OK) {
                stats = cJSON_GetObjectItem(doc, "taskStatistics");
                printf("StartOnDemandAuditTask, all %zu checks: %d non-compliant, %d compliant, "
                       "%d failed\n",
                       n,
                       (int)cJSON_GetNumberValue(cJSON_GetObjectItem(stats, "nonCompliantChecks")),
                       (int)cJSON_GetNumberValue(cJSON_GetObjectItem(stats, "compliantChecks")),
                       (int)cJSON_GetNumberValue(cJSON_GetObjectItem(stats, "failedChecks")));
            }
            cJSON_Delete(doc);
        }
    }
    free(names);
    qsort(totals, (size_t)rounds, sizeof(*totals), cmp_i64);
    printf("whole StartOnDemandAuditTask (every check, findings stored), %d rounds: median %.1f "
           "ms, min %.1f ms, max %.1f ms; goal < 2000 ms: %s\n",
           rounds, (double)totals[rounds / 2] / 1000.0, (double)totals[0] / 1000.0,
           (double)totals[rounds - 1] / 1000.0, totals[rounds / 2] < 2000000 ? "met" : "MISSED");

    /* Migration 7 on an older data dir: every certificate's facts taken from its PEM, once. */
    t0 = mono_us();
    if (dd_db_exec(p.db, "UPDATE certificates SET not_after_ms = NULL") != DD_DB_OK ||
        dd_registry_facts_backfill(&p.registry) != DD_REGISTRY_OK) {
        fprintf(stderr, "the back-fill failed\n");
        free(totals);
        return 1;
    }
    printf("back-fill of the facts of %d certificates (registry migration 7, once): %.1f ms\n",
           things, (double)(mono_us() - t0) / 1000.0);
    free(totals);
    dd_pipeline_close(&p);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
