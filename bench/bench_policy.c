/*
 * bench_policy: evaluations per second of dd_policy_evaluate(), the broker
 * shim's per-message authorization.
 *
 *   cmake --build BUILD --target bench_policy && BUILD/bench/bench_policy [seconds-per-case]
 *
 * Cases: the workshop's per-thing device policy (fixtures/policies), the
 * workshop's isolation (allow-all on the certificate + deny-all on the
 * group), and a 10-statement policy whose matching statement is last or
 * absent (the whole list is scanned). "arn+eval" also builds the resource ARN
 * each time, as the shim does for every message. Not a pass/fail test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dd_fs.h"
#include "dd_names.h"
#include "dd_policy.h"

static double now_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static dd_policy_t *load(const char *name)
{
    char path[1024];
    char err[DD_POLICY_ERROR_MAX];
    char *text = NULL;
    size_t len = 0;
    dd_policy_t *p = NULL;

    (void)snprintf(path, sizeof(path), "%s/fixtures/policies/%s", DD_SOURCE_DIR, name);
    if (dd_fs_read_file(path, 0, &text, &len) != DD_FS_OK ||
        dd_policy_parse(text, len, &p, err, sizeof(err)) != DD_POLICY_OK) {
        fprintf(stderr, "bench_policy: cannot load %s: %s\n", path, err);
        exit(1);
    }
    free(text);
    return p;
}

static dd_policy_t *ten_statements(void)
{
    char doc[4096];
    size_t n = 0;
    char err[DD_POLICY_ERROR_MAX];
    dd_policy_t *p = NULL;
    int i;

    n += (size_t)snprintf(doc + n, sizeof(doc) - n, "{\"Version\":\"2012-10-17\",\"Statement\":[");
    /* Even statements use the thing-name variable, odd ones `?` and `*`. */
    for (i = 0; i < 10; i++) {
        n +=
            (size_t)snprintf(doc + n, sizeof(doc) - n,
                             "%s{\"Sid\":\"S%d\",\"Effect\":\"Allow\","
                             "\"Action\":[\"iot:Publish\",\"iot:Receive\"],"
                             "\"Resource\":\"arn:aws:iot:us-east-1:123456789012:topic/site%d/%s\"}",
                             i == 0 ? "" : ",", i, i,
                             i % 2 == 0 ? "${iot:Connection.Thing.ThingName}/*" : "line?/*/data");
    }
    (void)snprintf(doc + n, sizeof(doc) - n, "]}");
    if (dd_policy_parse(doc, strlen(doc), &p, err, sizeof(err)) != DD_POLICY_OK) {
        fprintf(stderr, "bench_policy: 10-statement policy refused: %s\n", err);
        exit(1);
    }
    return p;
}

typedef struct bench_case {
    const char *name;
    const dd_policy_t *const *policies;
    size_t count;
    dd_policy_action_t action;
    const char *target; /* client id, topic or filter */
    dd_policy_decision_t expect;
} bench_case_t;

static volatile unsigned sink;

static void run(const bench_case_t *c, double seconds, int with_arn)
{
    dd_arn_ctx_t ctx;
    dd_policy_vars_t vars = {"SensorDevice03", "Thing03"};
    char arn[DD_POLICY_RESOURCE_MAX];
    dd_policy_decision_t d = DD_POLICY_DENY_DEFAULT;
    unsigned long iters = 0;
    double t0;
    double t1;
    int k;

    dd_arn_ctx_default(&ctx);
    (void)dd_policy_resource_arn(&ctx, c->action, c->target, arn, sizeof(arn));
    (void)dd_policy_evaluate(c->policies, c->count, c->action, arn, &vars, &d, NULL);
    if (d != c->expect) {
        fprintf(stderr, "bench_policy: %s: got %s, expected %s\n", c->name,
                dd_policy_decision_name(d), dd_policy_decision_name(c->expect));
        exit(1);
    }
    t0 = now_s();
    do {
        for (k = 0; k < 1000; k++) {
            if (with_arn) {
                (void)dd_policy_resource_arn(&ctx, c->action, c->target, arn, sizeof(arn));
            }
            (void)dd_policy_evaluate(c->policies, c->count, c->action, arn, &vars, &d, NULL);
            sink += (unsigned)d;
        }
        iters += 1000;
        t1 = now_s();
    } while (t1 - t0 < seconds);
    printf("%-58s %-8s %-13s %7.2f M/s  %6.1f ns\n", c->name, with_arn ? "arn+eval" : "eval",
           dd_policy_decision_name(d), (double)iters / (t1 - t0) / 1e6,
           (t1 - t0) * 1e9 / (double)iters);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    dd_policy_t *per_thing = load("device-policy-per-thing.json");
    dd_policy_t *allow_all = load("device-policy-allow-all.json");
    dd_policy_t *deny_all = load("deny-all.json");
    dd_policy_t *ten = ten_statements();
    const dd_policy_t *workshop[1] = {per_thing};
    const dd_policy_t *isolated[2] = {allow_all, deny_all};
    const dd_policy_t *ten_set[1] = {ten};
    const bench_case_t cases[] = {
        {"per-thing: publish own report topic", workshop, 1, DD_POLICY_ACTION_PUBLISH,
         "$aws/things/Thing03/defender/metrics/json", DD_POLICY_ALLOW},
        {"per-thing: publish temperature-device-03", workshop, 1, DD_POLICY_ACTION_PUBLISH,
         "temperature-device-03", DD_POLICY_ALLOW},
        {"per-thing: publish another thing's report topic", workshop, 1, DD_POLICY_ACTION_PUBLISH,
         "$aws/things/Thing01/defender/metrics/json", DD_POLICY_DENY_DEFAULT},
        {"per-thing: subscribe own /accepted", workshop, 1, DD_POLICY_ACTION_SUBSCRIBE,
         "$aws/things/Thing03/defender/metrics/json/accepted", DD_POLICY_ALLOW},
        {"per-thing: connect", workshop, 1, DD_POLICY_ACTION_CONNECT, "SensorDevice03",
         DD_POLICY_ALLOW},
        {"allow-all only: publish", isolated, 1, DD_POLICY_ACTION_PUBLISH, "temperature-device-03",
         DD_POLICY_ALLOW},
        {"isolated (allow-all + deny-all): publish", isolated, 2, DD_POLICY_ACTION_PUBLISH,
         "temperature-device-03", DD_POLICY_DENY_EXPLICIT},
        {"10 statements: match in the last statement", ten_set, 1, DD_POLICY_ACTION_PUBLISH,
         "site9/line3/cell/7/data", DD_POLICY_ALLOW},
        {"10 statements: no match (full scan)", ten_set, 1, DD_POLICY_ACTION_PUBLISH,
         "site9/line3/cell/7/status", DD_POLICY_DENY_DEFAULT},
        {"10 statements: variable match in the first", ten_set, 1, DD_POLICY_ACTION_RECEIVE,
         "site0/Thing03/x", DD_POLICY_ALLOW},
    };
    size_t i;

    printf("%-58s %-8s %-13s %11s  %9s\n", "case", "what", "decision", "evals/s", "per eval");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run(&cases[i], seconds, 0);
        run(&cases[i], seconds, 1);
    }
    dd_policy_free(per_thing);
    dd_policy_free(allow_all);
    dd_policy_free(deny_all);
    dd_policy_free(ten);
    return 0;
}
