/*
 * bench_console: the API and the console's files in-process, on a data dir
 * the size of the console's performance goal (issue 13), for
 * bench/console_render.mjs to time the pages in headless chromium.
 *
 *   bench_console [things] [days]     (defaults 10000 2)
 *
 * Seeds `things` registered things BenchThing00000.., a profile "bench"
 * (aws:all-bytes-out less-than-equals 200, attached to all things), one
 * violating report per thing (so `things` active violations), and for
 * BenchThing00000 a report every 5 minutes over `days` days, every 50th
 * beyond the threshold (alarm periods and violation events). Prints
 * "url: http://127.0.0.1:P/console/" and serves until its standard input
 * closes. /ddlocal/v1/clock and /ddlocal/v1/status are answered with the
 * manual clock and zero counters, /ddlocal/v1/events and /connections empty
 * (no broker here). Audit: LOGGING_DISABLED_CHECK and
 * IOT_POLICY_OVERLY_PERMISSIVE_CHECK enabled over one `iot:*` policy, one
 * audit run; "audit task: ID" is printed before the url.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "dd_api.h"
#include "dd_auditor.h"
#include "dd_db.h"
#include "dd_engine.h"
#include "dd_report.h"
#include "dd_store.h"

#define FIVE_MIN_MS 300000LL

typedef struct bench {
    char dir[64];
    dd_pipeline_t p;
    dd_engine_sink_t sink;
    dd_api_t *api;
} bench_t;

static double mono_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void noop(void *ctx)
{
    (void)ctx;
}

static char *dup_text(const char *text)
{
    size_t n = strlen(text) + 1;
    char *out = malloc(n);

    if (out != NULL) {
        memcpy(out, text, n);
    }
    return out;
}

/* The two ddlocal operations the console reads, enough for its pages. */
static int extension(void *ctx, const char *method, const char *path, const char *body,
                     size_t body_len, char **response)
{
    bench_t *b = ctx;
    char text[512];
    int64_t now;

    (void)body;
    (void)body_len;
    (void)pthread_mutex_lock(&b->p.lock);
    now = dd_clock_now_ms(&b->p.clock);
    (void)pthread_mutex_unlock(&b->p.lock);
    if (strcmp(method, "GET") == 0 && strcmp(path, "/ddlocal/v1/clock") == 0) {
        (void)snprintf(text, sizeof(text),
                       "{\"mode\":\"manual\",\"pipelineTimeMs\":%lld,\"pipelineTime\":\"\","
                       "\"spec\":\"manual:%lld\"}",
                       (long long)now, (long long)now);
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/ddlocal/v1/status") == 0) {
        (void)snprintf(text, sizeof(text),
                       "{\"mode\":\"manual\",\"pipelineTimeMs\":%lld,\"pipelineTime\":\"\","
                       "\"spec\":\"manual:%lld\",\"brokerConnected\":false,\"connectedClients\":0,"
                       "\"reportsAccepted\":0,\"reportsRejected\":0,\"activeViolations\":0,"
                       "\"violationEvents\":0,\"alertsPublished\":0,\"webhooksGivenUp\":0,"
                       "\"storeWritable\":true,\"latestEvents\":[]}",
                       (long long)now, (long long)now);
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/ddlocal/v1/events") == 0) {
        (void)snprintf(text, sizeof(text), "{\"events\":[],\"lastSeq\":0,\"missed\":0}");
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/ddlocal/v1/connections") == 0) {
        (void)snprintf(text, sizeof(text), "{\"connections\":[]}");
    } else {
        *response = dup_text("{\"message\":\"not in bench_console\"}");
        return 404;
    }
    *response = dup_text(text);
    return 200;
}

static int64_t bench_now_ms(void *ctx)
{
    const dd_pipeline_t *p = ctx;

    return dd_clock_now_ms(&p->clock);
}

static int open_pipeline(bench_t *b, int64_t start_ms)
{
    dd_auditor_config_t acfg;

    char path[128];

    (void)snprintf(b->dir, sizeof(b->dir), "/tmp/bench_console_XXXXXX");
    if (mkdtemp(b->dir) == NULL) {
        return -1;
    }
    (void)snprintf(path, sizeof(path), "%s/%s", b->dir, DD_DB_FILE_NAME);
    (void)pthread_mutex_init(&b->p.lock, NULL);
    (void)dd_clock_init_manual(&b->p.clock, start_ms);
    dd_arn_ctx_default(&b->p.arn);
    (void)snprintf(b->p.data_dir, sizeof(b->p.data_dir), "%s", b->dir);
    (void)snprintf(b->p.mqtt_endpoint, sizeof(b->p.mqtt_endpoint), "127.0.0.1:8883");
    if (dd_db_open(path, false, &b->p.db) != DD_DB_OK ||
        dd_registry_open(&b->p.registry, b->p.db, NULL, &b->p.clock) != DD_REGISTRY_OK ||
        dd_store_open(b->p.db, NULL, &b->p.store) != DD_STORE_OK) {
        return -1;
    }
    dd_store_sink(b->p.store, &b->sink);
    if (dd_engine_create(NULL, NULL, &b->sink, &b->p.engine) != DD_ENGINE_OK) {
        return -1;
    }
    memset(&acfg, 0, sizeof(acfg));
    acfg.db = b->p.db;
    acfg.store = b->p.store;
    acfg.registry = &b->p.registry;
    acfg.arn = b->p.arn;
    acfg.now_ms = bench_now_ms;
    acfg.clock_ctx = &b->p;
    if (dd_auditor_open(&acfg, &b->p.auditor) != DD_AUDITOR_OK) {
        return -1;
    }
    b->p.hook_ctx = b;
    b->p.registry_changed = noop;
    b->p.defender_changed = noop;
    b->p.extension = extension;
    return dd_api_start(&b->p, "127.0.0.1", 0, &b->api) == DD_API_OK ? 0 : -1;
}

static int call(bench_t *b, const char *method, const char *uri, const char *body)
{
    dd_api_request_t req;
    dd_api_response_t resp;
    int status;

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.uri = uri;
    req.body = body;
    req.body_len = body != NULL ? strlen(body) : 0;
    if (dd_api_call(b->api, &req, &resp) != DD_API_OK) {
        return -1;
    }
    status = resp.status;
    if (status != 200) {
        (void)fprintf(stderr, "%s %s: %d %s\n", method, uri, status,
                      resp.body != NULL ? resp.body : "");
    }
    dd_api_response_free(&resp);
    return status;
}

static int report(bench_t *b, const char *thing, int64_t at_ms, long bytes_out)
{
    char json[256];
    dd_report_t r;
    dd_report_error_t err;
    int rc;

    (void)snprintf(json, sizeof(json),
                   "{\"header\":{\"report_id\":%lld,\"version\":\"1.0\"},\"metrics\":"
                   "{\"network_stats\":{\"bytes_in\":1,\"bytes_out\":%ld,\"packets_in\":1,"
                   "\"packets_out\":1}}}",
                   (long long)(at_ms / 1000), bytes_out);
    if (dd_report_decode(DD_REPORT_FORMAT_JSON, (const uint8_t *)json, strlen(json), &r, &err) !=
        DD_REPORT_OK) {
        return -1;
    }
    rc = dd_engine_on_report(b->p.engine, thing, at_ms, &r) == DD_ENGINE_OK ? 0 : -1;
    dd_report_free(&r);
    return rc;
}

/* One on-demand audit of the enabled checks; prints its task id. */
static int audit(bench_t *b)
{
    dd_api_request_t req;
    dd_api_response_t resp;
    static const char body[] = "{\"targetCheckNames\":[\"LOGGING_DISABLED_CHECK\",\"IOT_POLICY_"
                               "OVERLY_PERMISSIVE_CHECK\"]}";
    cJSON *doc;
    int rc = -1;

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.uri = "/audit/tasks";
    req.body = body;
    req.body_len = strlen(body);
    if (dd_api_call(b->api, &req, &resp) != DD_API_OK) {
        return -1;
    }
    doc = resp.status == 200 && resp.body != NULL ? cJSON_Parse(resp.body) : NULL;
    if (cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "taskId")) != NULL) {
        (void)printf("audit task: %s\n",
                     cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "taskId")));
        rc = 0;
    }
    cJSON_Delete(doc);
    dd_api_response_free(&resp);
    return rc;
}

static int seed(bench_t *b, int things, int days)
{
    const int64_t start = 1790000000000LL;
    const int64_t points = (int64_t)days * 288;
    const int64_t end = start + points * FIVE_MIN_MS;
    char name[32];
    double t0 = mono_ms();
    int64_t i;
    int rc = 0;

    if (call(b, "POST", "/security-profiles/bench",
             "{\"behaviors\":[{\"name\":\"MoreBytesSent\",\"metric\":\"aws:all-bytes-out\","
             "\"criteria\":{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":200},"
             "\"durationSeconds\":300,\"consecutiveDatapointsToAlarm\":1,"
             "\"consecutiveDatapointsToClear\":1}}]}") != 200 ||
        call(b, "PUT",
             "/security-profiles/bench/targets?securityProfileTargetArn="
             "arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Aall%2Fthings",
             NULL) != 200) {
        return -1;
    }
    (void)pthread_mutex_lock(&b->p.lock);
    (void)sqlite3_exec(b->p.db, "BEGIN", NULL, NULL, NULL);
    for (i = 0; i < things && rc == 0; i++) {
        (void)snprintf(name, sizeof(name), "BenchThing%05d", (int)i);
        rc = dd_registry_thing_create(&b->p.registry, name, NULL, "{\"SensorType\":\"DHT22\"}",
                                      NULL, 0, NULL) == DD_REGISTRY_OK
                 ? 0
                 : -1;
    }
    (void)sqlite3_exec(b->p.db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    (void)dd_store_begin(b->p.store);
    /* BenchThing00000: a datapoint every 5 minutes, every 50th beyond the threshold. */
    for (i = 0; i < points && rc == 0; i++) {
        rc = report(b, "BenchThing00000", start + i * FIVE_MIN_MS,
                    i % 50 == 49 || i == points - 1 ? 5000 : 100);
    }
    for (i = 1; i < things && rc == 0; i++) {
        (void)snprintf(name, sizeof(name), "BenchThing%05d", (int)i);
        rc = report(b, name, end - FIVE_MIN_MS + i, 5000);
    }
    (void)dd_store_commit(b->p.store);
    (void)dd_clock_advance(&b->p.clock, end - start + 1000, NULL);
    (void)pthread_mutex_unlock(&b->p.lock);
    if (rc == 0 &&
        (call(b, "POST", "/policies/DevicePolicy",
              "{\"policyDocument\":\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":"
              "[{\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\":\\\"iot:*\\\","
              "\\\"Resource\\\":\\\"*\\\"}]}\"}") != 200 ||
         call(b, "PATCH", "/audit/configuration",
              "{\"roleArn\":\"arn:aws:iam::123456789012:role/AuditRole\","
              "\"auditCheckConfigurations\":{\"LOGGING_DISABLED_CHECK\":{\"enabled\":true},"
              "\"IOT_POLICY_OVERLY_PERMISSIVE_CHECK\":{\"enabled\":true}}}") != 200 ||
         audit(b) != 0)) {
        rc = -1;
    }
    (void)printf("setup: %d things, %d active violations, %lld datapoints of BenchThing00000 "
                 "in %.0f ms\n",
                 things, things, (long long)points, mono_ms() - t0);
    return rc;
}

int main(int argc, char **argv)
{
    static bench_t b;
    int things = argc > 1 ? atoi(argv[1]) : 10000;
    int days = argc > 2 ? atoi(argv[2]) : 2;
    char cmd[128];
    int c;

    if (things < 1 || things > 100000 || days < 1 || days > 30) {
        (void)fprintf(stderr, "usage: bench_console [things 1..100000] [days 1..30]\n");
        return 2;
    }
    if (open_pipeline(&b, 1790000000000LL) != 0 || seed(&b, things, days) != 0) {
        (void)fprintf(stderr, "bench_console: setup failed\n");
        return 1;
    }
    (void)printf("url: http://127.0.0.1:%u/console/\n", (unsigned)dd_api_port(b.api));
    (void)fflush(stdout);
    while ((c = getchar()) != EOF) {
    }
    dd_api_stop(b.api);
    dd_auditor_close(b.p.auditor);
    dd_engine_destroy(b.p.engine);
    dd_store_close(b.p.store);
    dd_db_close(b.p.db);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
    return system(cmd) == 0 ? 0 : 1;
}
