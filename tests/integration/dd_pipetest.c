#include "dd_pipetest.h"
#include "dd_clock.h"

#include "dd_apiclient.h"
#include "dd_fs.h"

#include <cbor.h>
#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef DD_PIPETEST_DDLOCAL
#define DD_PIPETEST_DDLOCAL "ddlocal"
#endif
#ifndef DD_PIPETEST_FIXTURES
#define DD_PIPETEST_FIXTURES "fixtures"
#endif

/* Thing-set target of every profile the harness creates. */
#define ALL_THINGS_ARN "arn:aws:iot:us-east-1:123456789012:all/things"
#define STOP_GRACE_MS 30000
#define CLI_TIMEOUT_MS 60000

/* ---- small helpers -------------------------------------------------------------------------- */

/* Waits for a child to exit, polling; returns false at the deadline. */
static bool wait_exit(dd_proc_t *p, int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;

    while (dd_proc_alive(p)) {
        if (dd_clock_mono_ms() > deadline) {
            return false;
        }
        dd_clock_sleep_ms(10);
    }
    return true;
}

void dd_pipetest_fixture(const char *rel, char *buf, size_t len)
{
    (void)snprintf(buf, len, "%s/%s", DD_PIPETEST_FIXTURES, rel);
}

const char *dd_pipetest_strerror(dd_pipetest_status_t status)
{
    switch (status) {
    case DD_PIPETEST_OK: return "ok";
    case DD_PIPETEST_BAD_PARAMETER: return "bad parameter";
    case DD_PIPETEST_NO_MEMORY: return "out of memory";
    case DD_PIPETEST_FAILED: return "failed";
    case DD_PIPETEST_TIMEOUT: return "timed out";
    case DD_PIPETEST_DISCONNECTED: return "disconnected";
    case DD_PIPETEST_UNSUPPORTED: return "not supported here";
    }
    return "unknown pipetest status";
}

/* ---- pipelines still running at exit() ------------------------------------------------------ */

#define MAX_LIVE 8
static dd_pipetest_t *g_live[MAX_LIVE];
static bool g_atexit_set;

static void stop_all_at_exit(void)
{
    size_t i;

    for (i = 0; i < MAX_LIVE; i++) {
        if (g_live[i] != NULL) {
            (void)dd_pipetest_stop(g_live[i]);
        }
    }
}

static void track(dd_pipetest_t *pt, bool live)
{
    size_t i;

    if (!g_atexit_set) {
        (void)atexit(stop_all_at_exit);
        g_atexit_set = true;
    }
    for (i = 0; i < MAX_LIVE; i++) {
        if (live && g_live[i] == NULL) {
            g_live[i] = pt;
            return;
        }
        if (!live && g_live[i] == pt) {
            g_live[i] = NULL;
            return;
        }
    }
}

/* ---- start / stop --------------------------------------------------------------------------- */

static void tail(const char *path, int lines)
{
    char *text = NULL;
    size_t len = 0;
    size_t start;
    int seen = 0;

    if (dd_fs_read_file(path, 64u << 20, &text, &len) != DD_FS_OK || len == 0) {
        free(text);
        return;
    }
    for (start = len; start > 0 && seen < lines; start--) {
        if (text[start - 1] == '\n' && start != len) {
            seen++;
        }
    }
    fprintf(stderr, "---- last lines of %s ----\n%s%s", path, text + start,
            text[len - 1] == '\n' ? "" : "\n");
    free(text);
}

void dd_pipetest_dump_logs(const dd_pipetest_t *pt)
{
    char path[300];

    if (pt == NULL || pt->tmp_dir[0] == '\0') {
        return;
    }
    tail(pt->up_log, 20);
    (void)snprintf(path, sizeof(path), "%s/logs/ddlocald.log", pt->data_dir);
    tail(path, 40);
    (void)snprintf(path, sizeof(path), "%s/logs/isolator.log", pt->data_dir);
    tail(path, 20);
    (void)snprintf(path, sizeof(path), "%s/broker/mosquitto.log", pt->data_dir);
    tail(path, 40);
}

static bool read_endpoints(dd_pipetest_t *pt)
{
    dd_apiclient_endpoints_t ep;

    if (dd_apiclient_endpoints(pt->data_dir, &ep) != DD_APICLIENT_OK) {
        return false;
    }
    pt->mqtt_port = (uint16_t)ep.mqtt_port;
    pt->alpn_port = (uint16_t)ep.alpn_port;
    (void)snprintf(pt->api, sizeof(pt->api), "%s", ep.api);
    (void)snprintf(pt->root_ca, sizeof(pt->root_ca), "%s", ep.root_ca);
    (void)snprintf(pt->service_cert, sizeof(pt->service_cert), "%s/pki/service.pem", pt->data_dir);
    (void)snprintf(pt->service_key, sizeof(pt->service_key), "%s/pki/service.key", pt->data_dir);
    return true;
}

dd_pipetest_status_t dd_pipetest_start(dd_pipetest_t *pt, const dd_pipetest_options_t *opts)
{
    char *argv[48];
    int n = 0;
    int timeout = opts != NULL && opts->start_timeout_ms > 0 ? opts->start_timeout_ms : 60000;
    int64_t deadline;
    size_t i;

    if (pt == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    memset(pt, 0, sizeof(*pt));
    (void)snprintf(pt->tmp_dir, sizeof(pt->tmp_dir), "/tmp/dd_pipetest.XXXXXX");
    if (mkdtemp(pt->tmp_dir) == NULL) {
        fprintf(stderr, "pipetest: mkdtemp: %s\n", strerror(errno));
        pt->tmp_dir[0] = '\0';
        return DD_PIPETEST_FAILED;
    }
    (void)snprintf(pt->data_dir, sizeof(pt->data_dir), "%s/data", pt->tmp_dir);
    (void)snprintf(pt->up_log, sizeof(pt->up_log), "%s/up.log", pt->tmp_dir);
    if (opts != NULL && opts->data_dir_tmpfs != NULL) {
        char data[64];

        (void)snprintf(data, sizeof(data), "size=%s,mode=0700", opts->data_dir_tmpfs);
        if (mkdir(pt->data_dir, 0700) != 0 || mount("tmpfs", pt->data_dir, "tmpfs", 0, data) != 0) {
            fprintf(stderr, "pipetest: cannot mount a tmpfs of %s on %s: %s\n",
                    opts->data_dir_tmpfs, pt->data_dir, strerror(errno));
            (void)dd_fs_remove_tree(pt->tmp_dir);
            pt->tmp_dir[0] = '\0';
            return DD_PIPETEST_UNSUPPORTED;
        }
        pt->tmpfs_mounted = true;
    }
    argv[n++] = (char *)DD_PIPETEST_DDLOCAL;
    argv[n++] = "up";
    argv[n++] = "--data-dir";
    argv[n++] = pt->data_dir;
    argv[n++] = "--mqtt-port";
    argv[n++] = "0";
    argv[n++] = "--alpn-port";
    argv[n++] = "0";
    argv[n++] = "--api-port";
    argv[n++] = "0";
    if (opts != NULL && opts->time_scale != NULL) {
        argv[n++] = "--time-scale";
        argv[n++] = (char *)opts->time_scale;
    } else {
        argv[n++] = "--manual-clock";
    }
    argv[n++] = "--no-status";
    if (opts != NULL && opts->isolator != NULL) {
        argv[n++] = "--isolator";
        argv[n++] = (char *)opts->isolator;
    }
    for (i = 0; opts != NULL && opts->extra_args != NULL && opts->extra_args[i] != NULL && n < 46;
         i++) {
        argv[n++] = (char *)opts->extra_args[i];
    }
    argv[n] = NULL;
    if (dd_proc_spawn(&pt->up, "ddlocal up", argv, NULL, pt->up_log) != DD_PROC_OK) {
        fprintf(stderr, "pipetest: cannot run %s\n", argv[0]);
        if (pt->tmpfs_mounted) {
            (void)umount2(pt->data_dir, MNT_DETACH);
            pt->tmpfs_mounted = false;
        }
        (void)dd_fs_remove_tree(pt->tmp_dir);
        pt->tmp_dir[0] = '\0';
        return DD_PIPETEST_FAILED;
    }
    pt->started = true;
    track(pt, true);
    deadline = dd_clock_mono_ms() + timeout;
    while (!read_endpoints(pt)) {
        if (!dd_proc_alive(&pt->up) || dd_clock_mono_ms() > deadline) {
            bool exited = !dd_proc_alive(&pt->up);
            fprintf(stderr, "pipetest: `ddlocal up` %s\n",
                    exited ? "exited" : "did not become ready in time");
            (void)dd_pipetest_stop(pt);
            return exited ? DD_PIPETEST_FAILED : DD_PIPETEST_TIMEOUT;
        }
        dd_clock_sleep_ms(20);
    }
    return DD_PIPETEST_OK;
}

/* true (and printed) when a log of the pipeline holds an ASan/UBSan/LSan report. */
static bool sanitizer_reports(const dd_pipetest_t *pt)
{
    static const char *const LOGS[] = {"logs/ddlocald.log", "logs/isolator.log",
                                       "broker/mosquitto.log", "../up.log"};
    static const char *const MARKS[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                        "runtime error:"};
    bool found = false;
    size_t i;
    size_t j;

    for (i = 0; i < sizeof(LOGS) / sizeof(LOGS[0]); i++) {
        for (j = 0; j < sizeof(MARKS) / sizeof(MARKS[0]); j++) {
            if (dd_pipetest_log_count(pt, LOGS[i], MARKS[j]) > 0) {
                fprintf(stderr, "pipetest: %s/%s holds a sanitizer report (\"%s\")\n", pt->data_dir,
                        LOGS[i], MARKS[j]);
                found = true;
            }
        }
    }
    return found;
}

int dd_pipetest_stop(dd_pipetest_t *pt)
{
    int rc = -1;
    const char *keep = getenv("DD_PIPETEST_KEEP");

    if (pt == NULL) {
        return -1;
    }
    if (pt->started) {
        dd_proc_signal(&pt->up, SIGINT);
        if (wait_exit(&pt->up, STOP_GRACE_MS)) {
            rc = WIFEXITED(pt->up.exit_status) ? WEXITSTATUS(pt->up.exit_status) : -1;
        } else {
            fprintf(stderr, "pipetest: `ddlocal up` did not stop within %d ms; killing it\n",
                    STOP_GRACE_MS);
            dd_proc_stop(&pt->up, 0);
        }
        pt->started = false;
        track(pt, false);
        if (rc != 0) {
            fprintf(stderr, "pipetest: `ddlocal up` ended with status %d\n", rc);
        }
    }
    if (pt->tmp_dir[0] != '\0') {
        if (sanitizer_reports(pt)) {
            rc = -1; /* a sanitized ddlocald, isolator, CLI or shim found a bug */
            pt->passed = false;
        }
        if (!pt->passed) {
            dd_pipetest_dump_logs(pt);
        }
        if (pt->tmpfs_mounted) {
            if (keep != NULL && keep[0] == '1') {
                fprintf(stderr, "pipetest: the data dir was a tmpfs: not kept\n");
            }
            if (umount2(pt->data_dir, MNT_DETACH) != 0) {
                fprintf(stderr, "pipetest: umount %s: %s\n", pt->data_dir, strerror(errno));
            }
            pt->tmpfs_mounted = false;
        }
        if (keep != NULL && keep[0] == '1') {
            fprintf(stderr, "pipetest: kept %s\n", pt->tmp_dir);
        } else {
            (void)dd_fs_remove_tree(pt->tmp_dir);
        }
        pt->tmp_dir[0] = '\0';
    }
    return rc;
}

/* ---- CLI ------------------------------------------------------------------------------------ */

int dd_pipetest_cli(dd_pipetest_t *pt, char **output, ...)
{
    static unsigned counter;
    char *argv[40];
    char log[200];
    dd_proc_t proc;
    va_list ap;
    const char *arg;
    int n = 0;
    int rc = -1;

    if (output != NULL) {
        *output = NULL;
    }
    if (pt == NULL || pt->tmp_dir[0] == '\0') {
        return -1;
    }
    argv[n++] = (char *)DD_PIPETEST_DDLOCAL;
    va_start(ap, output);
    while ((arg = va_arg(ap, const char *)) != NULL && n < 36) {
        argv[n++] = (char *)arg;
    }
    va_end(ap);
    argv[n++] = "-D";
    argv[n++] = pt->data_dir;
    argv[n] = NULL;
    (void)snprintf(log, sizeof(log), "%s/cli-%u.log", pt->tmp_dir, counter++);
    memset(&proc, 0, sizeof(proc));
    if (dd_proc_spawn(&proc, "ddlocal", argv, NULL, log) != DD_PROC_OK) {
        return -1;
    }
    if (!wait_exit(&proc, CLI_TIMEOUT_MS)) {
        dd_proc_stop(&proc, 0);
    } else if (WIFEXITED(proc.exit_status)) {
        rc = WEXITSTATUS(proc.exit_status);
    }
    if (rc != 0) {
        int i;
        fprintf(stderr, "pipetest: `ddlocal");
        for (i = 1; argv[i] != NULL; i++) {
            fprintf(stderr, " %s", argv[i]);
        }
        fprintf(stderr, "` ended with %d\n", rc);
        tail(log, 20);
    }
    if (output != NULL) {
        (void)dd_fs_read_file(log, 16u << 20, output, NULL);
    }
    (void)unlink(log);
    return rc;
}

dd_pipetest_status_t dd_pipetest_thing(dd_pipetest_t *pt, const char *name, const char *policy,
                                       char *cert, char *key)
{
    int rc;

    if (pt == NULL || name == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    if (policy != NULL) {
        rc = dd_pipetest_cli(pt, NULL, "thing", "create", name, "--with-cert", "--key-type", "ec",
                             "--policy", policy, NULL);
    } else {
        rc = dd_pipetest_cli(pt, NULL, "thing", "create", name, "--with-cert", "--key-type", "ec",
                             NULL);
    }
    if (cert != NULL) {
        (void)snprintf(cert, 600, "%s/things/%s/cert.pem", pt->data_dir, name);
    }
    if (key != NULL) {
        (void)snprintf(key, 600, "%s/things/%s/private.key", pt->data_dir, name);
    }
    return rc == 0 ? DD_PIPETEST_OK : DD_PIPETEST_FAILED;
}

/* ---- API ------------------------------------------------------------------------------------ */

dd_pipetest_status_t dd_pipetest_api(dd_pipetest_t *pt, const char *method, const char *path,
                                     const char *body, long *http_status, cJSON **out)
{
    long http = 0;
    char *resp = NULL;
    dd_apiclient_status_t st;

    if (out != NULL) {
        *out = NULL;
    }
    if (http_status != NULL) {
        *http_status = 0;
    }
    if (pt == NULL || method == NULL || path == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    st = dd_apiclient_request(pt->api, method, path, body, &http, &resp);
    if (st != DD_APICLIENT_OK) {
        fprintf(stderr, "pipetest: %s %s: %s\n", method, path, dd_apiclient_strerror(st));
        free(resp);
        return DD_PIPETEST_FAILED;
    }
    if (http_status != NULL) {
        *http_status = http;
    }
    if (http < 200 || http > 299) {
        fprintf(stderr, "pipetest: %s %s: HTTP %ld %s\n", method, path, http,
                resp != NULL ? resp : "");
        free(resp);
        return DD_PIPETEST_FAILED;
    }
    if (out != NULL && resp != NULL && resp[0] != '\0') {
        *out = cJSON_Parse(resp);
    }
    free(resp);
    return DD_PIPETEST_OK;
}

dd_pipetest_status_t dd_pipetest_profile(dd_pipetest_t *pt, const char *name,
                                         const char *fixture_rel)
{
    char file[700];
    char path[512];
    char arn[256];
    char *text = NULL;
    char *body;
    cJSON *doc;
    dd_pipetest_status_t st;

    if (pt == NULL || name == NULL || fixture_rel == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    dd_pipetest_fixture(fixture_rel, file, sizeof(file));
    if (dd_fs_read_file(file, 1u << 20, &text, NULL) != DD_FS_OK) {
        fprintf(stderr, "pipetest: cannot read %s\n", file);
        return DD_PIPETEST_FAILED;
    }
    doc = cJSON_Parse(text);
    free(text);
    if (doc == NULL) {
        fprintf(stderr, "pipetest: %s is not JSON\n", file);
        return DD_PIPETEST_FAILED;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "securityProfileName");
    body = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (body == NULL) {
        return DD_PIPETEST_NO_MEMORY;
    }
    (void)snprintf(path, sizeof(path), "/security-profiles/%s", name);
    st = dd_pipetest_api(pt, "POST", path, body, NULL, NULL);
    cJSON_free(body);
    if (st != DD_PIPETEST_OK) {
        return st;
    }
    dd_apiclient_escape(ALL_THINGS_ARN, arn, sizeof(arn));
    (void)snprintf(path, sizeof(path), "/security-profiles/%s/targets?securityProfileTargetArn=%s",
                   name, arn);
    return dd_pipetest_api(pt, "PUT", path, NULL, NULL, NULL);
}

/* Pages through a list operation, moving each page's @p member items into one array. */
static dd_pipetest_status_t list_all(dd_pipetest_t *pt, const char *base, const char *member,
                                     cJSON **items)
{
    char path[2048];
    char token[512] = "";
    cJSON *all = cJSON_CreateArray();

    if (all == NULL) {
        return DD_PIPETEST_NO_MEMORY;
    }
    *items = NULL;
    for (;;) {
        cJSON *page = NULL;
        cJSON *arr;
        const char *next;
        char escaped[1024];

        if (token[0] != '\0') {
            dd_apiclient_escape(token, escaped, sizeof(escaped));
            (void)snprintf(path, sizeof(path), "%s&nextToken=%s", base, escaped);
        } else {
            (void)snprintf(path, sizeof(path), "%s", base);
        }
        if (dd_pipetest_api(pt, "GET", path, NULL, NULL, &page) != DD_PIPETEST_OK || page == NULL) {
            cJSON_Delete(page);
            cJSON_Delete(all);
            return DD_PIPETEST_FAILED;
        }
        arr = cJSON_DetachItemFromObjectCaseSensitive(page, member);
        while (arr != NULL && arr->child != NULL) {
            (void)cJSON_AddItemToArray(all, cJSON_DetachItemViaPointer(arr, arr->child));
        }
        cJSON_Delete(arr);
        next = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(page, "nextToken"));
        (void)snprintf(token, sizeof(token), "%s", next != NULL ? next : "");
        cJSON_Delete(page);
        if (token[0] == '\0') {
            break;
        }
    }
    *items = all;
    return DD_PIPETEST_OK;
}

dd_pipetest_status_t dd_pipetest_violation_events(dd_pipetest_t *pt, const char *thing,
                                                  cJSON **events)
{
    char base[400];

    if (pt == NULL || events == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    /* The whole range: startTime and endTime are required (epoch seconds). */
    (void)snprintf(base, sizeof(base),
                   "/violation-events?startTime=1&endTime=4102444800&maxResults=250%s%s",
                   thing != NULL ? "&thingName=" : "", thing != NULL ? thing : "");
    return list_all(pt, base, "violationEvents", events);
}

dd_pipetest_status_t dd_pipetest_active_violations(dd_pipetest_t *pt, const char *thing,
                                                   cJSON **actives)
{
    char base[400];

    if (pt == NULL || actives == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    (void)snprintf(base, sizeof(base), "/active-violations?maxResults=250%s%s",
                   thing != NULL ? "&thingName=" : "", thing != NULL ? thing : "");
    return list_all(pt, base, "activeViolations", actives);
}

dd_pipetest_status_t dd_pipetest_clock_advance(dd_pipetest_t *pt, double seconds, int64_t *now_ms)
{
    char body[64];
    cJSON *out = NULL;
    dd_pipetest_status_t st;

    (void)snprintf(body, sizeof(body), "{\"advanceSeconds\":%.3f}", seconds);
    st = dd_pipetest_api(pt, "POST", "/ddlocal/v1/clock", body, NULL, &out);
    if (st == DD_PIPETEST_OK && now_ms != NULL) {
        *now_ms =
            (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(out, "pipelineTimeMs"));
    }
    cJSON_Delete(out);
    return st;
}

dd_pipetest_status_t dd_pipetest_clock_now(dd_pipetest_t *pt, int64_t *now_ms)
{
    cJSON *out = NULL;
    dd_pipetest_status_t st;

    if (now_ms == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    st = dd_pipetest_api(pt, "GET", "/ddlocal/v1/clock", NULL, NULL, &out);
    if (st == DD_PIPETEST_OK) {
        *now_ms =
            (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(out, "pipelineTimeMs"));
    }
    cJSON_Delete(out);
    return st;
}

dd_pipetest_status_t dd_pipetest_status_number(dd_pipetest_t *pt, const char *member, double *value)
{
    cJSON *out = NULL;
    const cJSON *v;
    dd_pipetest_status_t st;

    if (member == NULL || value == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    st = dd_pipetest_api(pt, "GET", "/ddlocal/v1/status", NULL, NULL, &out);
    v = cJSON_GetObjectItemCaseSensitive(out, member);
    if (st == DD_PIPETEST_OK && !cJSON_IsNumber(v)) {
        fprintf(stderr, "pipetest: /ddlocal/v1/status has no number %s\n", member);
        st = DD_PIPETEST_FAILED;
    }
    if (st == DD_PIPETEST_OK) {
        *value = v->valuedouble;
    }
    cJSON_Delete(out);
    return st;
}

pid_t dd_pipetest_ddlocald_pid(const dd_pipetest_t *pt)
{
    char path[300];
    char *text = NULL;
    cJSON *root;
    pid_t pid = 0;

    if (pt == NULL) {
        return 0;
    }
    (void)snprintf(path, sizeof(path), "%s/run/ddlocald.ready", pt->data_dir);
    if (dd_fs_read_file(path, 4096, &text, NULL) != DD_FS_OK) {
        return 0;
    }
    root = cJSON_Parse(text);
    free(text);
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "pid"))) {
        pid = (pid_t)cJSON_GetObjectItemCaseSensitive(root, "pid")->valueint;
    }
    cJSON_Delete(root);
    return pid;
}

/* ---- the store, read-only ------------------------------------------------------------------- */

static sqlite3 *db_open(const dd_pipetest_t *pt)
{
    char path[300];
    sqlite3 *db = NULL;

    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", pt->data_dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "pipetest: cannot open %s: %s\n", path,
                db != NULL ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return NULL;
    }
    (void)sqlite3_busy_timeout(db, 10000);
    return db;
}

dd_pipetest_status_t dd_pipetest_db_rows(const dd_pipetest_t *pt, const char *sql,
                                         int (*row)(void *ctx, int ncols, const char *const *cols),
                                         void *ctx)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    dd_pipetest_status_t status = DD_PIPETEST_OK;
    int rc;

    if (pt == NULL || sql == NULL || row == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    if ((db = db_open(pt)) == NULL) {
        return DD_PIPETEST_FAILED;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "pipetest: %s: %s\n", sql, sqlite3_errmsg(db));
        sqlite3_close(db);
        return DD_PIPETEST_FAILED;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *cols[16];
        int n = sqlite3_column_count(st);
        int i;

        if (n > 16) {
            n = 16;
        }
        for (i = 0; i < n; i++) {
            cols[i] = (const char *)sqlite3_column_text(st, i);
        }
        if (row(ctx, n, cols) != 0) {
            status = DD_PIPETEST_FAILED;
            break;
        }
    }
    if (status == DD_PIPETEST_OK && rc != SQLITE_DONE) {
        fprintf(stderr, "pipetest: %s: %s\n", sql, sqlite3_errmsg(db));
        status = DD_PIPETEST_FAILED;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return status;
}

static int one_int(void *ctx, int ncols, const char *const *cols)
{
    int64_t *v = ctx;

    if (ncols >= 1 && cols[0] != NULL) {
        *v = strtoll(cols[0], NULL, 10);
    }
    return 0;
}

dd_pipetest_status_t dd_pipetest_db_int(const dd_pipetest_t *pt, const char *sql, int64_t *value)
{
    if (value == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    *value = 0;
    return dd_pipetest_db_rows(pt, sql, one_int, value);
}

int dd_pipetest_log_count(const dd_pipetest_t *pt, const char *rel, const char *needle)
{
    char path[400];
    char *text = NULL;
    const char *p;
    int n = 0;

    if (pt == NULL || rel == NULL || needle == NULL || needle[0] == '\0') {
        return 0;
    }
    (void)snprintf(path, sizeof(path), "%s/%s", pt->data_dir, rel);
    if (dd_fs_read_file(path, 256u << 20, &text, NULL) != DD_FS_OK) {
        return 0;
    }
    for (p = strstr(text, needle); p != NULL; p = strstr(p + strlen(needle), needle)) {
        n++;
    }
    free(text);
    return n;
}

/* ---- MQTT (dd_testmqtt with the pipeline's credentials and ports) ------------------------- */

static dd_pipetest_status_t from_mqtt(dd_testmqtt_status_t st)
{
    switch (st) {
    case DD_TESTMQTT_OK: return DD_PIPETEST_OK;
    case DD_TESTMQTT_BAD_PARAMETER: return DD_PIPETEST_BAD_PARAMETER;
    case DD_TESTMQTT_NO_MEMORY: return DD_PIPETEST_NO_MEMORY;
    case DD_TESTMQTT_FAILED: return DD_PIPETEST_FAILED;
    case DD_TESTMQTT_TIMEOUT: return DD_PIPETEST_TIMEOUT;
    case DD_TESTMQTT_DISCONNECTED: return DD_PIPETEST_DISCONNECTED;
    }
    return DD_PIPETEST_FAILED;
}

dd_pipetest_status_t dd_pipetest_mqtt_new(const dd_pipetest_t *pt, const char *client_id,
                                          const char *cert, const char *key, bool clean_session,
                                          dd_pipetest_mqtt_t **out)
{
    dd_testmqtt_config_t cfg;

    if (pt == NULL || client_id == NULL || out == NULL || (cert == NULL) != (key == NULL)) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.client_id = client_id;
    cfg.port = pt->mqtt_port;
    cfg.root_ca = pt->root_ca;
    cfg.cert = cert != NULL ? cert : pt->service_cert;
    cfg.key = key != NULL ? key : pt->service_key;
    cfg.clean_session = clean_session;
    cfg.keepalive_s = 30;
    return from_mqtt(dd_testmqtt_new(&cfg, out));
}

dd_pipetest_status_t dd_pipetest_mqtt_use_alpn(dd_pipetest_mqtt_t *c, const dd_pipetest_t *pt,
                                               const char *alpn)
{
    if (pt == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    return from_mqtt(dd_testmqtt_use_alpn(c, pt->alpn_port, alpn));
}

dd_pipetest_status_t dd_pipetest_mqtt_use_v5(dd_pipetest_mqtt_t *c)
{
    return from_mqtt(dd_testmqtt_use_v5(c));
}

int dd_pipetest_mqtt_puback_reason(dd_pipetest_mqtt_t *c)
{
    return dd_testmqtt_puback_reason(c);
}

int dd_pipetest_mqtt_disconnect_reason(dd_pipetest_mqtt_t *c)
{
    return dd_testmqtt_disconnect_reason(c);
}

int dd_pipetest_mqtt_connect(dd_pipetest_mqtt_t *c, int timeout_ms)
{
    return dd_testmqtt_connect(c, timeout_ms);
}

dd_pipetest_status_t dd_pipetest_mqtt_subscribe(dd_pipetest_mqtt_t *c, const char *filter, int qos,
                                                int timeout_ms, int *granted)
{
    return from_mqtt(dd_testmqtt_subscribe(c, filter, qos, timeout_ms, granted));
}

dd_pipetest_status_t dd_pipetest_mqtt_publish(dd_pipetest_mqtt_t *c, const char *topic,
                                              const void *payload, size_t len, int qos,
                                              int timeout_ms)
{
    return from_mqtt(dd_testmqtt_publish(c, topic, payload, len, qos, timeout_ms));
}

dd_pipetest_status_t dd_pipetest_mqtt_wait_message(dd_pipetest_mqtt_t *c, const char *filter,
                                                   int timeout_ms, dd_pipetest_msg_t **out)
{
    if (filter == NULL) {
        return DD_PIPETEST_BAD_PARAMETER;
    }
    return from_mqtt(dd_testmqtt_wait_message(c, filter, timeout_ms, out));
}

size_t dd_pipetest_mqtt_take(dd_pipetest_mqtt_t *c, int timeout_ms, dd_pipetest_msg_t **head)
{
    return dd_testmqtt_take(c, timeout_ms, head);
}

size_t dd_pipetest_mqtt_queued(dd_pipetest_mqtt_t *c, const char *filter)
{
    return dd_testmqtt_queued(c, filter);
}

bool dd_pipetest_mqtt_wait_disconnect(dd_pipetest_mqtt_t *c, int timeout_ms)
{
    return dd_testmqtt_wait_disconnect(c, timeout_ms);
}

bool dd_pipetest_mqtt_connected(dd_pipetest_mqtt_t *c)
{
    return dd_testmqtt_connected(c);
}

void dd_pipetest_msg_free(dd_pipetest_msg_t *head)
{
    dd_testmqtt_msg_free(head);
}

void dd_pipetest_mqtt_destroy(dd_pipetest_mqtt_t *c)
{
    dd_testmqtt_destroy(c);
}

/* ---- replies -------------------------------------------------------------------------------- */

static cJSON *cbor_to_json(const cbor_item_t *item, int depth)
{
    size_t i;

    if (depth > 64) {
        return NULL;
    }
    switch (cbor_typeof(item)) {
    case CBOR_TYPE_UINT: return cJSON_CreateNumber((double)cbor_get_int(item));
    case CBOR_TYPE_NEGINT: return cJSON_CreateNumber(-1.0 - (double)cbor_get_int(item));
    case CBOR_TYPE_STRING: {
        cJSON *s;
        char *text;
        if (!cbor_string_is_definite(item)) {
            return NULL;
        }
        text = malloc(cbor_string_length(item) + 1);
        if (text == NULL) {
            return NULL;
        }
        memcpy(text, cbor_string_handle(item), cbor_string_length(item));
        text[cbor_string_length(item)] = '\0';
        s = cJSON_CreateString(text);
        free(text);
        return s;
    }
    case CBOR_TYPE_ARRAY: {
        cJSON *arr = cJSON_CreateArray();
        for (i = 0; arr != NULL && i < cbor_array_size(item); i++) {
            cJSON *v = cbor_to_json(cbor_array_handle(item)[i], depth + 1);
            if (v == NULL) {
                cJSON_Delete(arr);
                return NULL;
            }
            (void)cJSON_AddItemToArray(arr, v);
        }
        return arr;
    }
    case CBOR_TYPE_MAP: {
        cJSON *obj = cJSON_CreateObject();
        struct cbor_pair *pairs = cbor_map_handle(item);
        for (i = 0; obj != NULL && i < cbor_map_size(item); i++) {
            cJSON *k = cbor_to_json(pairs[i].key, depth + 1);
            cJSON *v = cbor_to_json(pairs[i].value, depth + 1);
            if (!cJSON_IsString(k) || v == NULL) {
                cJSON_Delete(k);
                cJSON_Delete(v);
                cJSON_Delete(obj);
                return NULL;
            }
            (void)cJSON_AddItemToObject(obj, k->valuestring, v);
            cJSON_Delete(k);
        }
        return obj;
    }
    case CBOR_TYPE_FLOAT_CTRL:
        if (cbor_float_ctrl_is_ctrl(item)) {
            if (cbor_is_bool(item)) {
                return cJSON_CreateBool(cbor_get_bool(item));
            }
            return cJSON_CreateNull();
        }
        return cJSON_CreateNumber(cbor_float_get_float(item));
    default: return NULL;
    }
}

cJSON *dd_pipetest_reply_parse(const dd_pipetest_msg_t *m)
{
    struct cbor_load_result res;
    cbor_item_t *item;
    cJSON *out;

    if (m == NULL) {
        return NULL;
    }
    if (strstr(m->topic, "/cbor/") == NULL &&
        !(strlen(m->topic) > 5 && strcmp(m->topic + strlen(m->topic) - 5, "/cbor") == 0)) {
        return cJSON_ParseWithLength((const char *)m->payload, m->len);
    }
    item = cbor_load(m->payload, m->len, &res);
    if (item == NULL || res.error.code != CBOR_ERR_NONE || res.read != m->len) {
        if (item != NULL) {
            cbor_decref(&item);
        }
        return NULL;
    }
    out = cbor_to_json(item, 0);
    cbor_decref(&item);
    return out;
}

cJSON *dd_pipetest_sns_alert(const dd_pipetest_msg_t *m, cJSON **envelope)
{
    cJSON *event;
    const cJSON *records;
    const char *message;
    cJSON *alert = NULL;

    if (envelope != NULL) {
        *envelope = NULL;
    }
    if (m == NULL) {
        return NULL;
    }
    event = cJSON_ParseWithLength((const char *)m->payload, m->len);
    records = cJSON_GetObjectItemCaseSensitive(event, "Records");
    message = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(records, 0), "Sns"), "Message"));
    if (cJSON_IsArray(records) && cJSON_GetArraySize(records) == 1 && message != NULL) {
        alert = cJSON_Parse(message);
    }
    if (envelope != NULL && alert != NULL) {
        *envelope = event;
    } else {
        cJSON_Delete(event);
    }
    return alert;
}
