/*
 * POST /ddlocal/v1/reset's use case at scale: N things (each in a group), N/10 groups,
 * N/10 policies, a profile and one retained metric value per thing, then dd_reset_run(all)
 * and the engine reload ddlocald does after it, in real ms. The push of the change log to
 * the shim (one MQTT message) is not included: bench_detection times that path.
 *
 * bench_reset [things] [rounds]   (default 1000 things, 5 rounds)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dd_clock.h"
#include "dd_detect.h"
#include "dd_log.h"
#include "dd_pipeline.h"
#include "dd_reset.h"

static const char *PROFILE =
    "{\"behaviors\":[{\"name\":\"MoreBytesSent\",\"metric\":\"aws:all-bytes-out\","
    "\"criteria\":{\"comparisonOperator\":\"less-than-equals\",\"value\":{\"count\":200},"
    "\"durationSeconds\":300}}],\"additionalMetricsToRetainV2\":[{\"metric\":\"aws:num-"
    "messages-sent\"}]}";

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int fill(dd_pipeline_t *p, int things)
{
    dd_detect_t d;
    char name[64];
    char group[64];
    int i;

    dd_pipeline_detect(p, &d);
    if (dd_detect_profile_create(&d, "p1", PROFILE, strlen(PROFILE), NULL) != DD_DETECT_OK ||
        dd_store_begin(p->store) != DD_STORE_OK) {
        return -1;
    }
    for (i = 0; i < things; i++) {
        (void)snprintf(name, sizeof(name), "Thing%05d", i);
        (void)snprintf(group, sizeof(group), "Group%04d", i / 10);
        if (i % 10 == 0) {
            char policy[64];
            (void)snprintf(policy, sizeof(policy), "Policy%04d", i / 10);
            if (dd_registry_group_create(&p->registry, group, NULL, NULL, NULL, NULL, 0, NULL) !=
                    DD_REGISTRY_OK ||
                dd_registry_policy_create(&p->registry, policy,
                                          "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
                                          "\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":"
                                          "\"*\"}]}",
                                          NULL) != DD_REGISTRY_OK) {
                return -1;
            }
        }
        if (dd_registry_thing_create(&p->registry, name, NULL, NULL, NULL, 0, NULL) !=
                DD_REGISTRY_OK ||
            dd_registry_group_add_thing(&p->registry, group, name, NULL) != DD_REGISTRY_OK) {
            return -1;
        }
    }
    return dd_store_commit(p->store) == DD_STORE_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    int things = argc > 1 ? atoi(argv[1]) : 1000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    char dir[64] = "/tmp/bench_reset_XXXXXX";
    char cmd[128];
    dd_pipeline_config_t cfg;
    dd_pipeline_t p;
    int r;

    if (things <= 0 || rounds <= 0 || mkdtemp(dir) == NULL) {
        fprintf(stderr, "usage: bench_reset [things] [rounds]\n");
        return 2;
    }
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    dd_pipeline_config_default(&cfg);
    (void)snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    (void)snprintf(cfg.clock_spec, sizeof(cfg.clock_spec), "manual:1700000000000");
    if (dd_pipeline_open(&cfg, &p) != DD_PIPELINE_OK) {
        fprintf(stderr, "cannot open a pipeline in %s\n", dir);
        return 1;
    }
    printf("things groups policies  reset+reload ms\n");
    for (r = 0; r < rounds; r++) {
        int64_t t0;
        int64_t t1;
        if (fill(&p, things) != 0) {
            fprintf(stderr, "filling failed\n");
            return 1;
        }
        t0 = mono_us();
        if (dd_reset_run(&p.registry, p.store, DD_RESET_ALL) != DD_RESET_OK ||
            dd_pipeline_reload_engine(&p) != DD_PIPELINE_OK) {
            fprintf(stderr, "reset failed\n");
            return 1;
        }
        t1 = mono_us();
        printf("%6d %6d %8d  %12.2f\n", things, (things + 9) / 10, (things + 9) / 10,
               (double)(t1 - t0) / 1000.0);
    }
    dd_pipeline_close(&p);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
