/*
 * bench_api: the control API over real HTTP (libcurl client, the API's
 * libmicrohttpd server) on a real temp data dir.
 *
 *   bench_api [violations] [things] [clients]     (defaults 10000 1000 4)
 *
 * 1. ListActiveViolations over `violations` active violations, paginated
 *    (maxResults 250, then the default 25): total time and per-page
 *    p50/p99/max.
 * 2. `things` x (CreateThing + CreateKeysAndCertificate(setAsActive) +
 *    AttachThingPrincipal) from `clients` client threads: total time and
 *    per-thing p50/p99.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "dd_api.h"
#include "dd_db.h"
#include "dd_engine.h"
#include "dd_pipeline.h"
#include "dd_report.h"
#include "dd_store.h"

typedef struct buf {
    char *data;
    size_t len;
} buf_t;

static double mono_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static size_t on_data(char *ptr, size_t size, size_t n, void *ctx)
{
    buf_t *b = ctx;
    char *nd = realloc(b->data, b->len + size * n + 1);

    if (nd == NULL) {
        return 0;
    }
    b->data = nd;
    memcpy(b->data + b->len, ptr, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* One request; returns the HTTP status and the body in *out (caller frees). */
static long request(CURL *c, const char *method, const char *url, const char *body,
                    const char *principal, buf_t *out)
{
    struct curl_slist *headers = NULL;
    char hdr[512];
    long status = 0;

    out->data = NULL;
    out->len = 0;
    curl_easy_reset(c);
    (void)curl_easy_setopt(c, CURLOPT_URL, url);
    (void)curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    (void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    (void)curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (principal != NULL) {
        (void)snprintf(hdr, sizeof(hdr), "x-amzn-principal: %s", principal);
        headers = curl_slist_append(headers, hdr);
    }
    (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (body != NULL) {
        (void)curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    if (curl_easy_perform(c) == CURLE_OK) {
        (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(headers);
    return status;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

static double pct(double *v, size_t n, double p)
{
    size_t i;

    if (n == 0) {
        return 0;
    }
    qsort(v, n, sizeof(double), cmp_double);
    i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ---- the pipeline ----------------------------------------------------------- */

typedef struct bench {
    char dir[64];
    dd_pipeline_t p;
    dd_api_t *api;
    uint16_t port;
} bench_t;

static void noop(void *ctx)
{
    (void)ctx;
}

static int open_pipeline(bench_t *b)
{
    dd_pipeline_config_t cfg;

    (void)snprintf(b->dir, sizeof(b->dir), "/tmp/bench_api_XXXXXX");
    if (mkdtemp(b->dir) == NULL) {
        return -1;
    }
    dd_pipeline_config_default(&cfg);
    (void)snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", b->dir);
    (void)snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "manual:1700000000000");
    (void)snprintf(cfg.mqtt_endpoint, sizeof(cfg.mqtt_endpoint), "127.0.0.1:8883");
    if (dd_pipeline_open(&cfg, &b->p) != DD_PIPELINE_OK) {
        return -1;
    }
    b->p.hook_ctx = b;
    b->p.registry_changed = noop;
    b->p.defender_changed = noop;
    if (dd_api_start(&b->p, "127.0.0.1", 0, &b->api) != DD_API_OK) {
        return -1;
    }
    b->port = dd_api_port(b->api);
    return 0;
}

static void close_pipeline(bench_t *b)
{
    char cmd[128];

    dd_api_stop(b->api);
    dd_pipeline_close(&b->p);
    if (getenv("BENCH_API_KEEP") != NULL) {
        (void)printf("data dir kept: %s\n", b->dir);
        return;
    }
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
    if (system(cmd) != 0) {
        (void)fprintf(stderr, "could not remove %s\n", b->dir);
    }
}

/* ---- 1. ListActiveViolations ----------------------------------------------------------- */

static int make_violations(bench_t *b, CURL *c, int count)
{
    const char *json = "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},\"metrics\":"
                       "{\"network_stats\":{\"bytes_in\":1,\"bytes_out\":5000,\"packets_in\":1,"
                       "\"packets_out\":1}}}";
    char url[256];
    char thing[32];
    dd_report_t report;
    dd_report_error_t err;
    buf_t out;
    int i;
    double t0;

    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/security-profiles/bench", b->port);
    if (request(
            c, "POST", url,
            "{\"behaviors\":[{\"name\":\"MoreBytesSent\",\"metric\":\"aws:all-bytes-out\","
            "\"criteria\":{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":200},"
            "\"durationSeconds\":300}}]}",
            NULL, &out) != 200) {
        (void)fprintf(stderr, "CreateSecurityProfile: %s\n", out.data != NULL ? out.data : "");
        free(out.data);
        return -1;
    }
    free(out.data);
    (void)snprintf(url, sizeof(url),
                   "http://127.0.0.1:%u/security-profiles/bench/targets?securityProfileTargetArn="
                   "arn%%3Aaws%%3Aiot%%3Aus-east-1%%3A123456789012%%3Aall%%2Fthings",
                   b->port);
    if (request(c, "PUT", url, NULL, NULL, &out) != 200) {
        free(out.data);
        return -1;
    }
    free(out.data);
    if (dd_report_decode(DD_REPORT_FORMAT_JSON, (const uint8_t *)json, strlen(json), &report,
                         &err) != DD_REPORT_OK) {
        return -1;
    }
    t0 = mono_ms();
    (void)pthread_mutex_lock(&b->p.lock);
    (void)dd_store_begin(b->p.store);
    for (i = 0; i < count; i++) {
        (void)snprintf(thing, sizeof(thing), "BenchThing%05d", i);
        if (dd_engine_on_report(b->p.engine, thing, 1700000001000LL + i, &report) != DD_ENGINE_OK) {
            break;
        }
    }
    (void)dd_store_commit(b->p.store);
    (void)pthread_mutex_unlock(&b->p.lock);
    dd_report_free(&report);
    (void)printf("setup: %d active violations through the engine and store in %.0f ms\n", i,
                 mono_ms() - t0);
    return i == count ? 0 : -1;
}

static void list_all(bench_t *b, CURL *c, int page_size, int expected)
{
    char url[2048];
    char token[1500] = "";
    double *pages = calloc(2000, sizeof(double));
    size_t npages = 0;
    int items = 0;
    double t0 = mono_ms();
    double t;

    do {
        buf_t out;
        cJSON *j;
        const cJSON *next;
        long status;
        double start;
        if (token[0] != '\0') {
            char *enc = curl_easy_escape(c, token, 0);
            (void)snprintf(url, sizeof(url),
                           "http://127.0.0.1:%u/active-violations?maxResults=%d&nextToken=%s",
                           b->port, page_size, enc);
            curl_free(enc);
        } else {
            (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/active-violations?maxResults=%d",
                           b->port, page_size);
        }
        start = mono_ms();
        status = request(c, "GET", url, NULL, NULL, &out);
        j = status == 200 ? cJSON_Parse(out.data) : NULL;
        if (j == NULL) {
            (void)fprintf(stderr, "page %zu: HTTP %ld\n", npages, status);
            free(out.data);
            break;
        }
        items += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "activeViolations"));
        next = cJSON_GetObjectItemCaseSensitive(j, "nextToken");
        (void)snprintf(token, sizeof(token), "%s", cJSON_IsString(next) ? next->valuestring : "");
        cJSON_Delete(j);
        free(out.data);
        if (npages < 2000) {
            pages[npages++] = mono_ms() - start;
        }
    } while (token[0] != '\0');
    t = mono_ms() - t0;
    (void)printf("ListActiveViolations maxResults=%d: %d items (%s) in %zu pages: total %.0f ms, "
                 "per page p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
                 page_size, items, items == expected ? "all" : "MISMATCH", npages, t,
                 pct(pages, npages, 50), pct(pages, npages, 99), pct(pages, npages, 100));
    free(pages);
}

/* ---- 2. provisioning ----------------------------------------------------------------- */

typedef struct worker {
    bench_t *b;
    int first;
    int count;
    double *times;  /* per thing, the three calls */
    double *ops[3]; /* per call: CreateThing, CreateKeysAndCertificate, AttachThingPrincipal */
    int failures;
} worker_t;

static void *provision(void *arg)
{
    worker_t *w = arg;
    CURL *c = curl_easy_init();
    char url[256];
    char arn[256];
    int i;

    for (i = 0; i < w->count; i++) {
        int n = w->first + i;
        double t0 = mono_ms();
        double t1;
        double t2;
        buf_t out;
        cJSON *j;
        const cJSON *a;

        (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/things/Dev%05d", w->b->port, n);
        if (request(c, "POST", url, "{}", NULL, &out) != 200) {
            w->failures++;
        }
        free(out.data);
        t1 = mono_ms();
        (void)snprintf(url, sizeof(url),
                       "http://127.0.0.1:%u/keys-and-certificate?setAsActive=true", w->b->port);
        if (request(c, "POST", url, NULL, NULL, &out) != 200) {
            w->failures++;
            free(out.data);
            continue;
        }
        t2 = mono_ms();
        j = cJSON_Parse(out.data);
        a = cJSON_GetObjectItemCaseSensitive(j, "certificateArn");
        (void)snprintf(arn, sizeof(arn), "%s", cJSON_IsString(a) ? a->valuestring : "");
        cJSON_Delete(j);
        free(out.data);
        (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/things/Dev%05d/principals",
                       w->b->port, n);
        if (request(c, "PUT", url, NULL, arn, &out) != 200) {
            w->failures++;
        }
        free(out.data);
        w->times[i] = mono_ms() - t0;
        w->ops[0][i] = t1 - t0;
        w->ops[1][i] = t2 - t1;
        w->ops[2][i] = mono_ms() - t2;
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void provision_things(bench_t *b, int things, int clients)
{
    pthread_t threads[64];
    worker_t workers[64];
    double *all = calloc((size_t)things, sizeof(double));
    double *ops[3];
    double t0 = mono_ms();
    double t;
    int per = things / clients;
    int failures = 0;
    int i;
    size_t n = 0;
    size_t m = 0;
    int k;

    for (k = 0; k < 3; k++) {
        ops[k] = calloc((size_t)things, sizeof(double));
    }
    for (i = 0; i < clients; i++) {
        workers[i].b = b;
        workers[i].first = i * per;
        workers[i].count = i == clients - 1 ? things - i * per : per;
        workers[i].times = calloc((size_t)workers[i].count, sizeof(double));
        for (k = 0; k < 3; k++) {
            workers[i].ops[k] = calloc((size_t)workers[i].count, sizeof(double));
        }
        workers[i].failures = 0;
        (void)pthread_create(&threads[i], NULL, provision, &workers[i]);
    }
    for (i = 0; i < clients; i++) {
        int j;
        (void)pthread_join(threads[i], NULL);
        failures += workers[i].failures;
        for (j = 0; j < workers[i].count; j++) {
            all[n++] = workers[i].times[j];
            for (k = 0; k < 3; k++) {
                ops[k][m] = workers[i].ops[k][j];
            }
            m++;
        }
        free(workers[i].times);
        for (k = 0; k < 3; k++) {
            free(workers[i].ops[k]);
        }
    }
    t = mono_ms() - t0;
    (void)printf("provisioning: %d x (CreateThing + CreateKeysAndCertificate RSA-2048 + "
                 "AttachThingPrincipal) with %d clients: total %.1f s (%.1f things/s), per thing "
                 "p50 %.0f ms, p99 %.0f ms, %d failures\n",
                 things, clients, t / 1000.0, things / (t / 1000.0), pct(all, n, 50),
                 pct(all, n, 99), failures);
    (void)printf(
        "  per call p50/p99: CreateThing %.1f/%.1f ms, CreateKeysAndCertificate %.0f/%.0f ms, "
        "AttachThingPrincipal %.1f/%.1f ms\n",
        pct(ops[0], m, 50), pct(ops[0], m, 99), pct(ops[1], m, 50), pct(ops[1], m, 99),
        pct(ops[2], m, 50), pct(ops[2], m, 99));
    for (k = 0; k < 3; k++) {
        free(ops[k]);
    }
    free(all);
}

int main(int argc, char **argv)
{
    static bench_t b;
    int violations = argc > 1 ? atoi(argv[1]) : 10000;
    int things = argc > 2 ? atoi(argv[2]) : 1000;
    int clients = argc > 3 ? atoi(argv[3]) : 4;
    CURL *c;

    if (violations < 0 || things < 0 || clients < 1 || clients > 64) {
        (void)fprintf(stderr, "usage: bench_api [violations] [things] [clients 1..64]\n");
        return 2;
    }
    (void)curl_global_init(CURL_GLOBAL_DEFAULT);
    if (open_pipeline(&b) != 0) {
        (void)fprintf(stderr, "cannot start the API\n");
        return 1;
    }
    c = curl_easy_init();
    if (violations > 0 && make_violations(&b, c, violations) == 0) {
        list_all(&b, c, 250, violations);
        list_all(&b, c, 25, violations);
    }
    curl_easy_cleanup(c);
    if (things > 0) {
        provision_things(&b, things, clients);
    }
    close_pipeline(&b);
    curl_global_cleanup();
    return 0;
}
