/*
 * Fleet provisioning by claim over MQTT, one device after the other, on a real `ddlocal up`:
 * per device, the round trips of CreateKeysAndCertificate ($aws/certificates/create/json:
 * an RSA 2048 key made by ddlocald) and RegisterThing (the template's thing, certificate
 * and policy in one transaction, pushed to the broker shim before the reply), then the
 * first CONNACK of the new certificate as the new thing. Prints p50/p95/max in ms.
 *
 * bench_provision [devices]   (default 50)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_benchpipe.h"
#include "dd_fs.h"
#include "dd_testmqtt.h"

#define WAIT_MS 30000
#define CREATE "$aws/certificates/create/json"
#define PROVISION "$aws/provisioning-templates/SensorTemplate/provision/json"

static int fixture_text(const char *rel, char **out)
{
    char path[600];
    size_t len;

    (void)snprintf(path, sizeof(path), "%s/fixtures/%s", DD_SOURCE_DIR, rel);
    return dd_fs_read_file(path, 1 << 20, out, &len) == DD_FS_OK ? 0 : -1;
}

static int setup(dd_benchpipe_t *bp, char *claim_dir, size_t claim_len)
{
    char claim_policy[600];
    char device_policy[600];
    char *body_text = NULL;
    char *req_text;
    cJSON *req;
    int rc;

    (void)snprintf(claim_policy, sizeof(claim_policy), "%s/fixtures/provisioning/claim-policy.json",
                   DD_SOURCE_DIR);
    (void)snprintf(device_policy, sizeof(device_policy),
                   "%s/fixtures/policies/device-policy-allow-all.json", DD_SOURCE_DIR);
    (void)snprintf(claim_dir, claim_len, "%s/claim", bp->tmp_dir);
    if (dd_benchpipe_cli(bp, "policy", "create", "ClaimPolicy", claim_policy, NULL) != 0 ||
        dd_benchpipe_cli(bp, "policy", "create", "DevicePolicy", device_policy, NULL) != 0 ||
        dd_benchpipe_cli(bp, "cert", "create", "--key-type", "ec", "--out", claim_dir, "--policy",
                         "ClaimPolicy", NULL) != 0 ||
        fixture_text("provisioning/fleet-template.json", &body_text) != 0) {
        return -1;
    }
    req = cJSON_CreateObject();
    (void)cJSON_AddStringToObject(req, "templateName", "SensorTemplate");
    (void)cJSON_AddStringToObject(req, "templateBody", body_text);
    (void)cJSON_AddBoolToObject(req, "enabled", true);
    (void)cJSON_AddStringToObject(req, "provisioningRoleArn",
                                  "arn:aws:iam::123456789012:role/Provisioning");
    req_text = cJSON_PrintUnformatted(req);
    rc = req_text != NULL && dd_benchpipe_api(bp, "POST", "/provisioning-templates", req_text) ==
                                 DD_BENCHPIPE_OK
             ? 0
             : -1;
    cJSON_free(req_text);
    cJSON_Delete(req);
    free(body_text);
    return rc;
}

/* Publishes and waits for the reply on TOPIC/accepted; NULL (message printed) otherwise. */
static cJSON *request(dd_testmqtt_t *c, const char *topic, const char *payload)
{
    char filter[256];
    dd_testmqtt_msg_t *m = NULL;
    cJSON *out = NULL;

    (void)snprintf(filter, sizeof(filter), "%s/+", topic);
    if (dd_testmqtt_publish(c, topic, payload, strlen(payload), 1, WAIT_MS) != DD_TESTMQTT_OK ||
        dd_testmqtt_wait_message(c, filter, WAIT_MS, &m) != DD_TESTMQTT_OK) {
        fprintf(stderr, "no reply on %s\n", filter);
        return NULL;
    }
    if (strstr(m->topic, "/accepted") != NULL) {
        out = cJSON_ParseWithLength((const char *)m->payload, m->len);
    } else {
        fprintf(stderr, "%s: %.*s\n", m->topic, (int)m->len, (const char *)m->payload);
    }
    dd_testmqtt_msg_free(m);
    return out;
}

static int write_member(const cJSON *obj, const char *member, const char *path)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, member));

    return v != NULL && dd_fs_write_atomic(path, v, strlen(v), 0600) == DD_FS_OK ? 0 : -1;
}

/* The CLI's registry changes reach the shim within about 100 ms (ddlocald notices them): retry. */
static int connect_claim(dd_testmqtt_t *c)
{
    int64_t deadline = dd_benchpipe_now_us() + (int64_t)WAIT_MS * 1000;

    while (dd_testmqtt_connect(c, WAIT_MS) != 0) {
        if (dd_benchpipe_now_us() > deadline) {
            return -1;
        }
    }
    return 0;
}

static void report(const char *what, double *v, size_t n)
{
    printf("%-34s p50 %7.1f ms   p95 %7.1f ms   max %7.1f ms\n", what,
           dd_benchpipe_quantile(v, n, 0.5), dd_benchpipe_quantile(v, n, 0.95),
           dd_benchpipe_quantile(v, n, 1.0));
}

int main(int argc, char **argv)
{
    int devices = argc > 1 ? atoi(argv[1]) : 50;
    dd_benchpipe_t bp;
    dd_testmqtt_config_t cfg;
    dd_testmqtt_t *claim = NULL;
    char claim_dir[256];
    char cert[300];
    char key[300];
    double *timings; /* create, register and connect times: devices each */
    double *create_ms;
    double *register_ms;
    double *connect_ms;
    int granted = -1;
    int done = 0;
    int i;

    if (devices <= 0) {
        fprintf(stderr, "usage: bench_provision [devices]\n");
        return 2;
    }
    timings = calloc(3 * (size_t)devices, sizeof(double));
    if (timings == NULL || dd_benchpipe_start(&bp, NULL) != DD_BENCHPIPE_OK) {
        free(timings);
        return 1;
    }
    create_ms = timings;
    register_ms = timings + devices;
    connect_ms = timings + 2 * (size_t)devices;
    dd_benchpipe_print_load("before");
    (void)snprintf(cert, sizeof(cert), "%s/claim/cert.pem", bp.tmp_dir);
    (void)snprintf(key, sizeof(key), "%s/claim/private.key", bp.tmp_dir);
    memset(&cfg, 0, sizeof(cfg));
    cfg.client_id = "bench-claim";
    cfg.port = bp.mqtt_port;
    cfg.root_ca = bp.root_ca;
    cfg.cert = cert;
    cfg.key = key;
    cfg.clean_session = true;
    cfg.tcp_nodelay = true;
    if (setup(&bp, claim_dir, sizeof(claim_dir)) != 0 ||
        dd_testmqtt_new(&cfg, &claim) != DD_TESTMQTT_OK || connect_claim(claim) != 0 ||
        dd_testmqtt_subscribe(claim, CREATE "/+", 1, WAIT_MS, &granted) != DD_TESTMQTT_OK ||
        dd_testmqtt_subscribe(claim, PROVISION "/+", 1, WAIT_MS, &granted) != DD_TESTMQTT_OK) {
        fprintf(stderr, "setup failed\n");
        dd_testmqtt_destroy(claim);
        dd_benchpipe_stop(&bp, true);
        free(timings);
        return 1;
    }
    for (i = 0; i < devices; i++) {
        char thing[64];
        char payload[512];
        char dev_cert[300];
        char dev_key[300];
        int64_t t0 = dd_benchpipe_now_us();
        int64_t t1;
        int64_t t1b;
        int64_t t2;
        cJSON *keys = request(claim, CREATE, "{}");
        cJSON *reg;
        dd_testmqtt_t *dev = NULL;
        int connack;

        t1 = dd_benchpipe_now_us();
        if (keys == NULL) {
            break;
        }
        (void)snprintf(thing, sizeof(thing), "Bench%04d", i);
        (void)snprintf(dev_cert, sizeof(dev_cert), "%s/%s.pem", bp.tmp_dir, thing);
        (void)snprintf(dev_key, sizeof(dev_key), "%s/%s.key", bp.tmp_dir, thing);
        if (write_member(keys, "certificatePem", dev_cert) != 0 ||
            write_member(keys, "privateKey", dev_key) != 0) {
            cJSON_Delete(keys);
            break;
        }
        (void)snprintf(payload, sizeof(payload),
                       "{\"certificateOwnershipToken\":\"%s\",\"parameters\":{\"ThingName\":\"%s\","
                       "\"SerialNumber\":\"%d\"}}",
                       cJSON_GetStringValue(
                           cJSON_GetObjectItemCaseSensitive(keys, "certificateOwnershipToken")),
                       thing, i);
        cJSON_Delete(keys);
        t1b = dd_benchpipe_now_us(); /* the files are written outside the timings */
        reg = request(claim, PROVISION, payload);
        t2 = dd_benchpipe_now_us();
        if (reg == NULL) {
            break;
        }
        cJSON_Delete(reg);
        cfg.client_id = thing;
        cfg.cert = dev_cert;
        cfg.key = dev_key;
        if (dd_testmqtt_new(&cfg, &dev) != DD_TESTMQTT_OK) {
            break;
        }
        connack = dd_testmqtt_connect(dev, WAIT_MS);
        connect_ms[i] = (double)(dd_benchpipe_now_us() - t2) / 1000.0;
        dd_testmqtt_destroy(dev);
        if (connack != 0) {
            fprintf(stderr, "%s: CONNACK %d\n", thing, connack);
            break;
        }
        create_ms[i] = (double)(t1 - t0) / 1000.0;
        register_ms[i] = (double)(t2 - t1b) / 1000.0;
        done++;
    }
    dd_testmqtt_destroy(claim);
    dd_benchpipe_print_load("after");
    printf("devices provisioned: %d of %d\n", done, devices);
    if (done > 0) {
        report("CreateKeysAndCertificate (RSA)", create_ms, (size_t)done);
        report("RegisterThing", register_ms, (size_t)done);
        report("first CONNACK as the new thing", connect_ms, (size_t)done);
    }
    dd_benchpipe_stop(&bp, done != devices);
    free(timings);
    return done == devices ? 0 : 1;
}
