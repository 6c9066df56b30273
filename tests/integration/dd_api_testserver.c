/*
 * dd_api_testserver: the real control API (evaluator/api) on a real data dir
 * (registry, evaluator store and engine), without a broker, so that protocol
 * tests with the real AWS CLI and boto3 run before the rest of ddlocald.
 *
 *   dd_api_testserver DATA_DIR [--port P] [--start-ms MS] [--mqtt-endpoint HOST:PORT]
 *                     [--hooks-log FILE] [--region R --account A]
 *   dd_api_testserver --coverage-table   (Markdown coverage table for docs/reference/api.md)
 *
 * Prints "port P" on stdout once listening, then reads commands on stdin, one
 * per line, answering each with one line ("ok ..." or "error ..."):
 *
 *   report THING JSON   evaluate a Device Defender JSON report from THING now
 *   advance SECONDS     move the manual clock forward and tick the engine
 *   now                 print the pipeline time in epoch ms
 *   hooks               print "ok registry=N defender=M" (hook call counts)
 *   quit                stop (EOF and SIGTERM too)
 *
 * The hooks record their calls (and append "registry_changed" /
 * "defender_changed" lines to --hooks-log); registry_changed also tells the
 * engine about changed things, as ddlocald's does.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_api.h"
#include "dd_db.h"
#include "dd_engine.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_pipeline.h"
#include "dd_report.h"
#include "dd_route.h"
#include "dd_store.h"

typedef struct server {
    dd_pipeline_t p;
    FILE *hooks_log;
    int registry_calls;
    int defender_calls;
    int64_t seen_seq;
} server_t;

typedef struct changed {
    server_t *s;
    int64_t last;
} changed_t;

static int change_cb(void *ctx, const dd_registry_change_t *c)
{
    changed_t *ch = ctx;

    if (c->kind == DD_REGISTRY_KIND_THING) {
        (void)dd_engine_thing_changed(ch->s->p.engine, c->name, dd_clock_now_ms(&ch->s->p.clock));
    }
    ch->last = c->seq;
    return 0;
}

static void hook_registry(void *ctx)
{
    server_t *s = ctx;
    changed_t ch = {s, s->seen_seq};

    s->registry_calls++;
    if (s->hooks_log != NULL) {
        (void)fprintf(s->hooks_log, "registry_changed\n");
        (void)fflush(s->hooks_log);
    }
    (void)dd_store_begin(s->p.store);
    (void)dd_registry_changes_since(&s->p.registry, s->seen_seq, 0, change_cb, &ch);
    (void)dd_store_commit(s->p.store);
    s->seen_seq = ch.last;
}

static void hook_defender(void *ctx)
{
    server_t *s = ctx;

    s->defender_calls++;
    if (s->hooks_log != NULL) {
        (void)fprintf(s->hooks_log, "defender_changed\n");
        (void)fflush(s->hooks_log);
    }
}

static int open_pipeline(server_t *s, const char *dir, int64_t start_ms, const char *mqtt,
                         const dd_arn_ctx_t *arn)
{
    dd_pipeline_config_t cfg;
    dd_pipeline_status_t st;

    memset(s, 0, sizeof(*s));
    dd_pipeline_config_default(&cfg);
    (void)snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    (void)snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "manual:%lld", (long long)start_ms);
    (void)snprintf(cfg.mqtt_endpoint, sizeof(cfg.mqtt_endpoint), "%s", mqtt);
    cfg.arn = *arn;
    cfg.arn_explicit = true;
    cfg.id_seed = (uint64_t)dd_clock_wall_ms();
    if (dd_fs_mkdirs(dir, 0755) != DD_FS_OK) {
        (void)fprintf(stderr, "dd_api_testserver: cannot create %s\n", dir);
        return -1;
    }
    st = dd_pipeline_open(&cfg, &s->p);
    if (st != DD_PIPELINE_OK) {
        (void)fprintf(stderr, "dd_api_testserver: cannot open the pipeline in %s: %s\n", dir,
                      dd_pipeline_strerror(st));
        return -1;
    }
    (void)dd_registry_change_head(&s->p.registry, &s->seen_seq);
    s->p.hook_ctx = s;
    s->p.registry_changed = hook_registry;
    s->p.defender_changed = hook_defender;
    return 0;
}

static void cmd_report(server_t *s, char *args)
{
    char *json = strchr(args, ' ');
    dd_report_t report;
    dd_report_error_t err;
    int64_t now;
    int64_t row = 0;
    dd_engine_status_t es = DD_ENGINE_OK;

    if (json == NULL) {
        (void)printf("error usage: report THING JSON\n");
        return;
    }
    *json++ = '\0';
    memset(&report, 0, sizeof(report));
    if (dd_report_decode(DD_REPORT_FORMAT_JSON, (const uint8_t *)json, strlen(json), &report,
                         &err) != DD_REPORT_OK) {
        (void)printf("error report rejected\n");
        return;
    }
    (void)pthread_mutex_lock(&s->p.lock);
    now = dd_clock_now_ms(&s->p.clock);
    if (dd_store_begin(s->p.store) == DD_STORE_OK &&
        dd_store_report_insert(s->p.store, args, report.report_id, now, DD_REPORT_FORMAT_JSON,
                               (const uint8_t *)json, strlen(json), &row) == DD_STORE_OK) {
        es = dd_engine_on_report(s->p.engine, args, now, &report);
        (void)dd_store_report_mark_evaluated(s->p.store, row);
    }
    (void)dd_store_commit(s->p.store);
    (void)pthread_mutex_unlock(&s->p.lock);
    dd_report_free(&report);
    if (es != DD_ENGINE_OK) {
        (void)printf("error %s\n", dd_engine_strerror(es));
    } else {
        (void)printf("ok %" PRId64 "\n", now);
    }
}

static void cmd_advance(server_t *s, const char *args)
{
    double seconds = strtod(args, NULL);
    int64_t now = 0;

    (void)pthread_mutex_lock(&s->p.lock);
    if (seconds < 0 ||
        dd_clock_advance(&s->p.clock, (int64_t)(seconds * 1000.0), &now) != DD_CLOCK_OK) {
        (void)pthread_mutex_unlock(&s->p.lock);
        (void)printf("error bad duration\n");
        return;
    }
    (void)dd_store_begin(s->p.store);
    (void)dd_engine_tick(s->p.engine, now);
    (void)dd_store_save_engine(s->p.store, s->p.engine);
    (void)dd_store_commit(s->p.store);
    (void)pthread_mutex_unlock(&s->p.lock);
    (void)printf("ok %" PRId64 "\n", now);
}

/* Every operation of the service model with ddlocal's support, as Markdown. */
static void coverage_table(void)
{
    static const char *const LEVEL[] = {"not supported", "supported", "partial"};
    const char *name;
    const char *method;
    const char *uri;
    const char *note;
    int pass;
    size_t i;
    int counts[3] = {0, 0, 0};

    for (i = 0; dd_route_entry(i, &name, NULL, NULL); i++) {
        counts[dd_api_operation_support(name, NULL)]++;
    }
    (void)printf("%d operations in the service model: %d supported, %d partial, %d not "
                 "supported.\n\n",
                 counts[0] + counts[1] + counts[2], counts[1], counts[2], counts[0]);
    (void)printf(
        "| Operation | Method and path | ddlocal | What is missing |\n|---|---|---|---|\n");
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; dd_route_entry(i, &name, &method, &uri); i++) {
            dd_api_support_t s = dd_api_operation_support(name, &note);
            if ((pass == 0) != (s != DD_API_NOT_SUPPORTED)) {
                continue;
            }
            (void)printf("| %s | `%s %s` | %s | %s |\n", name, method, uri, LEVEL[s],
                         s == DD_API_NOT_SUPPORTED ? "not implemented (400 InvalidRequestException "
                                                     "naming the operation)"
                                                   : note);
        }
    }
}

static void usage(void)
{
    (void)fprintf(stderr, "usage: dd_api_testserver DATA_DIR [--port P] [--start-ms MS]"
                          " [--mqtt-endpoint HOST:PORT] [--hooks-log FILE]"
                          " [--region R --account A]\n");
}

int main(int argc, char **argv)
{
    static server_t s;
    const char *dir;
    const char *mqtt = "127.0.0.1:8883";
    const char *region = NULL;
    const char *account = NULL;
    const char *hooks = NULL;
    int64_t start_ms = dd_clock_wall_ms() / 1000 * 1000;
    unsigned long port = 0;
    dd_arn_ctx_t arn;
    dd_api_t *api = NULL;
    dd_api_status_t as;
    char line[300000];
    int i;

    if (argc == 2 && strcmp(argv[1], "--coverage-table") == 0) {
        coverage_table();
        return 0;
    }
    if (argc < 2) {
        usage();
        return 2;
    }
    dir = argv[1];
    for (i = 2; i < argc; i++) {
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        if (strcmp(argv[i], "--port") == 0) {
            port = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--start-ms") == 0) {
            start_ms = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--mqtt-endpoint") == 0) {
            mqtt = argv[++i];
        } else if (strcmp(argv[i], "--hooks-log") == 0) {
            hooks = argv[++i];
        } else if (strcmp(argv[i], "--region") == 0) {
            region = argv[++i];
        } else if (strcmp(argv[i], "--account") == 0) {
            account = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    dd_log_set_program("dd_api_testserver");
    if (getenv("DD_API_DEBUG") != NULL) {
        dd_log_set_level(DD_LOG_LEVEL_DEBUG);
    }
    dd_arn_ctx_default(&arn);
    if ((region != NULL || account != NULL) &&
        dd_arn_ctx_set(&arn, region != NULL ? region : arn.region,
                       account != NULL ? account : arn.account) != DD_NAMES_OK) {
        (void)fprintf(stderr, "dd_api_testserver: bad region/account\n");
        return 2;
    }
    if (open_pipeline(&s, dir, start_ms, mqtt, &arn) != 0) {
        return 1;
    }
    if (hooks != NULL) {
        s.hooks_log = fopen(hooks, "a");
    }
    as = dd_api_start(&s.p, "127.0.0.1", (uint16_t)port, &api);
    if (as != DD_API_OK) {
        (void)fprintf(stderr, "dd_api_testserver: %s\n", dd_api_strerror(as));
        return 1;
    }
    (void)printf("port %u\n", (unsigned)dd_api_port(api));
    (void)fflush(stdout);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "report ", 7) == 0) {
            cmd_report(&s, line + 7);
        } else if (strncmp(line, "advance ", 8) == 0) {
            cmd_advance(&s, line + 8);
        } else if (strcmp(line, "now") == 0) {
            (void)printf("ok %" PRId64 "\n", dd_clock_now_ms(&s.p.clock));
        } else if (strcmp(line, "hooks") == 0) {
            (void)pthread_mutex_lock(&s.p.lock);
            (void)printf("ok registry=%d defender=%d\n", s.registry_calls, s.defender_calls);
            (void)pthread_mutex_unlock(&s.p.lock);
        } else if (strcmp(line, "quit") == 0) {
            break;
        } else if (line[0] != '\0') {
            (void)printf("error unknown command\n");
        }
        (void)fflush(stdout);
    }
    dd_api_stop(api);
    dd_pipeline_close(&s.p);
    if (s.hooks_log != NULL) {
        (void)fclose(s.hooks_log);
    }
    return 0;
}
