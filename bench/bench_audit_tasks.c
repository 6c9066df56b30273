/*
 * Audit task throughput of the framework (app/dd_auditor): one on-demand task
 * whose single check reports N non-compliant resources (each finding stored
 * with its document, matched against S suppressions), then listing all the
 * task's findings in pages of 250, then the same task over the real catalogue
 * (every check as computed in this build) on an empty registry.
 *
 * usage: bench_audit_tasks [findings] [suppressions]   (defaults 10000, 1000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dd_auditor.h"
#include "dd_clock.h"
#include "dd_db.h"
#include "dd_registry.h"
#include "dd_store.h"

static int g_findings = 10000;

static dd_audit_status_t many(const dd_audit_world_t *world, dd_audit_sink_fn sink, void *ctx,
                              int64_t *checked)
{
    int i;

    (void)world;
    for (i = 0; i < g_findings; i++) {
        char id[72];
        cJSON *rid = cJSON_CreateObject();
        dd_audit_finding_t f;
        int stop;

        (void)snprintf(id, sizeof(id), "%064d", i);
        cJSON_AddStringToObject(rid, "deviceCertificateId", id);
        memset(&f, 0, sizeof(f));
        f.resource_type = "DEVICE_CERTIFICATE";
        f.resource_identifier = rid;
        f.reason_code = "CERTIFICATE_SHARED_BY_MULTIPLE_DEVICES";
        f.reason = "bench";
        stop = sink(ctx, &f);
        cJSON_Delete(rid);
        if (stop != 0) {
            return DD_AUDIT_STOPPED;
        }
    }
    *checked = g_findings;
    return DD_AUDIT_OK;
}

static const dd_audit_check_def_t CATALOGUE[] = {
    {"DEVICE_CERTIFICATE_SHARED_CHECK", "CRITICAL", many, NULL},
};

static int64_t g_now = 1700000000000LL;

static int64_t now_ms(void *ctx)
{
    (void)ctx;
    return g_now;
}

static dd_auditor_t *open_auditor(sqlite3 *db, dd_store_t *store, dd_registry_t *reg, bool fake)
{
    dd_auditor_config_t cfg;
    dd_auditor_t *a = NULL;

    memset(&cfg, 0, sizeof(cfg));
    cfg.db = db;
    cfg.store = store;
    cfg.registry = reg;
    dd_arn_ctx_default(&cfg.arn);
    cfg.now_ms = now_ms;
    if (fake) {
        cfg.catalogue = CATALOGUE;
        cfg.catalogue_count = 1;
    }
    if (dd_auditor_open(&cfg, &a) != DD_AUDITOR_OK) {
        (void)fprintf(stderr, "bench_audit_tasks: cannot open the auditor\n");
        exit(1);
    }
    return a;
}

static void enable_all(dd_auditor_t *a, const dd_audit_check_def_t *checks, size_t n)
{
    cJSON *req = cJSON_CreateObject();
    cJSON *map = cJSON_AddObjectToObject(req, "auditCheckConfigurations");
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    size_t i;

    cJSON_AddStringToObject(req, "roleArn", "arn:aws:iam::123456789012:role/Audit");
    for (i = 0; i < n; i++) {
        cJSON *c = cJSON_AddObjectToObject(map, checks[i].name);
        cJSON_AddBoolToObject(c, "enabled", 1);
    }
    if (dd_auditor_config_update(a, req, msg) != DD_AUDITOR_OK) {
        (void)fprintf(stderr, "bench_audit_tasks: configuration refused: %s\n", msg);
        exit(1);
    }
    cJSON_Delete(req);
}

static double run(dd_auditor_t *a, const dd_audit_check_def_t *checks, size_t n, char *id)
{
    const char **names = calloc(n, sizeof(*names));
    char msg[DD_AUDITOR_MESSAGE_MAX] = "";
    int64_t t0;
    size_t i;

    if (names == NULL) {
        exit(1);
    }
    for (i = 0; i < n; i++) {
        names[i] = checks[i].name;
    }
    t0 = dd_clock_mono_ms();
    if (dd_auditor_task_start(a, names, n, NULL, id, msg) != DD_AUDITOR_OK) {
        (void)fprintf(stderr, "bench_audit_tasks: task failed: %s\n", msg);
        free(names);
        exit(1);
    }
    free(names);
    return (double)(dd_clock_mono_ms() - t0);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/bench_audit_XXXXXX";
    char path[96];
    char cmd[128];
    char id[DD_AUDITOR_TASK_ID_LEN];
    char next[DD_AUDITOR_KEY_MAX] = "";
    char key[DD_AUDITOR_KEY_MAX] = "";
    int suppressions = argc > 2 ? atoi(argv[2]) : 1000;
    sqlite3 *db = NULL;
    dd_clock_t clock;
    dd_registry_t reg;
    dd_store_t *store = NULL;
    dd_auditor_t *a;
    dd_auditor_finding_filter_t ff = {NULL, NULL, NULL, INT64_MIN, INT64_MAX, -1};
    const dd_audit_check_def_t *all;
    size_t n_all = 0;
    int listed = 0;
    int64_t t0;
    double ms;
    int i;

    if (argc > 1) {
        g_findings = atoi(argv[1]);
    }
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", dir);
    (void)dd_clock_init_manual(&clock, g_now);
    if (dd_db_open(path, false, &db) != DD_DB_OK ||
        dd_registry_open(&reg, db, NULL, &clock) != DD_REGISTRY_OK ||
        dd_store_open(db, NULL, &store) != DD_STORE_OK) {
        (void)fprintf(stderr, "bench_audit_tasks: cannot open %s\n", path);
        return 1;
    }
    a = open_auditor(db, store, &reg, true);
    enable_all(a, CATALOGUE, 1);
    for (i = 0; i < suppressions; i++) {
        char cert[72];
        char msg[DD_AUDITOR_MESSAGE_MAX];
        cJSON *rid = cJSON_CreateObject();
        (void)snprintf(cert, sizeof(cert), "%064d", i * 2);
        cJSON_AddStringToObject(rid, "deviceCertificateId", cert);
        (void)dd_auditor_suppression_put(a, true, CATALOGUE[0].name, rid, -1, 1, NULL, "t", msg);
        cJSON_Delete(rid);
    }
    ms = run(a, CATALOGUE, 1, id);
    (void)printf("on-demand task, 1 check, %d findings, %d suppressions: %.0f ms\n", g_findings,
                 suppressions, ms);
    ff.task_id = id;
    t0 = dd_clock_mono_ms();
    do {
        cJSON *arr = cJSON_CreateArray();
        (void)snprintf(key, sizeof(key), "%s", next);
        if (dd_auditor_finding_list(a, &ff, key, 250, arr, next) != DD_AUDITOR_OK) {
            cJSON_Delete(arr);
            return 1;
        }
        listed += cJSON_GetArraySize(arr);
        cJSON_Delete(arr);
    } while (next[0] != '\0');
    (void)printf("ListAuditFindings of the task, pages of 250: %d findings in %lld ms\n", listed,
                 (long long)(dd_clock_mono_ms() - t0));
    dd_auditor_close(a);

    all = dd_audit_check_catalogue(&n_all);
    a = open_auditor(db, store, &reg, false);
    enable_all(a, all, n_all);
    ms = run(a, all, n_all, id);
    (void)printf("on-demand task, all %zu checks of this build, empty registry: %.0f ms\n", n_all,
                 ms);
    dd_auditor_close(a);
    dd_store_close(store);
    dd_db_close(db);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
