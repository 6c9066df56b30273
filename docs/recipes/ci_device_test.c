/*
 * A device's MQTT code tested against ddlocal in CI (docs/ci.md): connect with the thing's
 * certificate, send a Device Defender report and expect the broker's /accepted reply.
 *
 * usage: ci_device_test DATA_DIR THING   (the thing made by `ddlocal thing create THING
 * --with-cert`, its files in DATA_DIR/things/THING/); exit 0 accepted, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>

struct device {
    char topic[256]; /* $aws/things/THING/defender/metrics/json */
    int result;      /* -1 waiting, 0 accepted, 1 rejected or failed */
};

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    struct device *d = arg;
    char filter[300];

    if (rc != 0) {
        fprintf(stderr, "connection refused: %s\n", mosquitto_connack_string(rc));
        d->result = 1;
        return;
    }
    (void)snprintf(filter, sizeof(filter), "%s/+", d->topic); /* accepted and rejected */
    mosquitto_subscribe(m, NULL, filter, 1);
}

static void on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *granted)
{
    struct device *d = arg;
    const char *report = "{\"header\":{\"report_id\":1,\"version\":\"1.0\"},"
                         "\"metrics\":{\"network_stats\":{\"bytes_out\":120}}}";

    (void)mid;
    if (n != 1 || granted[0] > 2) {
        fprintf(stderr, "subscription refused\n");
        d->result = 1;
        return;
    }
    mosquitto_publish(m, NULL, d->topic, (int)strlen(report), report, 1, false);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    struct device *d = arg;

    (void)m;
    printf("%s: %.*s\n", msg->topic, msg->payloadlen, (const char *)msg->payload);
    d->result = strstr(msg->topic, "/accepted") != NULL ? 0 : 1;
}

/* DATA_DIR/endpoints.json: the broker's host and port, the root CA. */
static int read_endpoints(const char *dir, char *host, size_t hlen, int *port, char *ca,
                          size_t calen)
{
    char path[512], text[4096];
    size_t n;
    FILE *f;
    cJSON *ep;
    const cJSON *mqtt, *root_ca;
    const char *colon;

    (void)snprintf(path, sizeof(path), "%s/endpoints.json", dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    ep = cJSON_Parse(text);
    mqtt = cJSON_GetObjectItemCaseSensitive(ep, "mqtt");
    root_ca = cJSON_GetObjectItemCaseSensitive(ep, "rootCa");
    if (!cJSON_IsString(mqtt) || !cJSON_IsString(root_ca) ||
        (colon = strrchr(mqtt->valuestring, ':')) == NULL) {
        cJSON_Delete(ep);
        return -1;
    }
    (void)snprintf(host, hlen, "%.*s", (int)(colon - mqtt->valuestring), mqtt->valuestring);
    *port = atoi(colon + 1);
    (void)snprintf(ca, calen, "%s", root_ca->valuestring);
    cJSON_Delete(ep);
    return 0;
}

int main(int argc, char **argv)
{
    struct device d = {.result = -1};
    struct mosquitto *m;
    char host[256], ca[512], cert[512], key[512];
    int port;
    time_t deadline = time(NULL) + 30;

    if (argc != 3 || read_endpoints(argv[1], host, sizeof(host), &port, ca, sizeof(ca)) != 0) {
        fprintf(stderr, "usage: ci_device_test DATA_DIR THING (with a running ddlocal)\n");
        return 2;
    }
    (void)snprintf(cert, sizeof(cert), "%s/things/%s/cert.pem", argv[1], argv[2]);
    (void)snprintf(key, sizeof(key), "%s/things/%s/private.key", argv[1], argv[2]);
    (void)snprintf(d.topic, sizeof(d.topic), "$aws/things/%s/defender/metrics/json", argv[2]);

    mosquitto_lib_init();
    m = mosquitto_new(argv[2], true, &d);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311); /* AWS IoT's */
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_tls_set(m, ca, NULL, cert, key, NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cannot connect to %s:%d\n", host, port);
        return 1;
    }
    while (d.result < 0 && time(NULL) < deadline) {
        if (mosquitto_loop(m, 1000, 1) != MOSQ_ERR_SUCCESS) {
            break;
        }
    }
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    if (d.result != 0) {
        fprintf(stderr, "no /accepted reply to the report\n");
    }
    return d.result == 0 ? 0 : 1;
}
