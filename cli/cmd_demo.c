/*
 * ddlocal demo module3|module4: the workshop's detection story end to end on
 * an accelerated clock, narrated, with every step checked. Exits 0 only if
 * every step happened within the time limit.
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_clock.h"
#include "dd_devicehost.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_names.h"
#include "dd_report.h"
#include "dd_svcmqtt.h"
#include "dd_paths.h"
#include "dd_up.h"
#include "dd_workshop.h"

#include <getopt.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char DEMO_HELP[] =
    "usage: ddlocal demo module4|module3 [options]\n"
    "\n"
    "Runs a workshop module end to end on an accelerated clock and narrates it:\n"
    "  module4  SensorDevice03 (thing Thing03) sends temperatures and its Device\n"
    "           Defender agent reports normal bytes out; the device is compromised\n"
    "           (3000-character messages); the agent's next report is in alarm, the\n"
    "           SNS alert goes out, the isolator moves Thing03 into IsolatedDevices\n"
    "           and the broker denies it. The device runs in a network namespace of\n"
    "           its own, so its bytes out are really its own traffic.\n"
    "  module3  Thing01-03 send telemetry, Thing02 is compromised; the cloud-side\n"
    "           aws:message-byte-size p50 behavior flags Thing02 alone, which is isolated.\n"
    "Exits 0 only if every step happened within the time limit.\n"
    "\n"
    "  -D, --data-dir DIR   use DIR (default: a new temporary dir, removed afterwards)\n"
    "      --keep           keep the temporary data dir\n"
    "      --time-scale N   pipeline seconds per real second (default 60)\n"
    "      --timeout S      give up after S seconds (default 60)\n";

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct demo {
    dd_up_t up;
    dd_devicehost_t host;
    bool host_started;
    dd_svcmqtt_t *monitor;
    dd_proc_t sensors[3]; /* module3's devices, on the host */
    double scale;
    double start; /* monotonic seconds */
    double deadline;
    char logs[600];
    int step;
    int failed;
} demo_t;

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(demo_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(demo_t *d, const char *fmt, ...)
{
    va_list ap;

    printf("[%5.1fs] ", mono_s() - d->start);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void step_ok(demo_t *d, const char *what)
{
    d->step++;
    say(d, "step %d ok: %s", d->step, what);
}

static int step_failed(demo_t *d, const char *what)
{
    say(d, "FAILED: %s", what);
    d->failed = 1;
    return 1;
}

static bool time_left(const demo_t *d)
{
    return !g_stop && mono_s() < d->deadline;
}

/* ---- watching the broker -------------------------------------------------------------------- */

/* The workshop's telemetry topics temperature-device-01..03, as the service identity sees them. */
#define DEMO_TELEMETRY_TOPICS 3
#define DEMO_COMPROMISED_SIZE 3000

typedef struct seen {
    int accepted;  /* /accepted replies for the watched thing */
    bool in_alarm; /* in-alarm alert for the watched thing */
    char alert[2048];
    uint64_t last_bytes_out;
    char other_alerts[256]; /* things other than the watched one that were alerted */
    /* Per telemetry topic: temperatures in 15.1-29.9, 3000-character [A-Z0-9] payloads, and
     * anything else (which neither a healthy nor a compromised sensor sends). */
    int temps[DEMO_TELEMETRY_TOPICS];
    int compromised[DEMO_TELEMETRY_TOPICS];
    int other[DEMO_TELEMETRY_TOPICS];
    char example_temp[DEMO_TELEMETRY_TOPICS][16];
    int watch_topic; /* index of the topic the current wait is about */
} seen_t;

/* What a sensor's message is: 't' a temperature in 15.1-29.9 (what the workshop's
 * startdevice.py sends), 'c' the compromised 3000 characters of [A-Z0-9], 'x' anything else. */
static char classify_telemetry(const char *p, size_t len)
{
    char num[16];
    char *end = NULL;
    double v;
    size_t i;

    if (len == DEMO_COMPROMISED_SIZE) {
        for (i = 0; i < len; i++) {
            if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9'))) {
                return 'x';
            }
        }
        return 'c';
    }
    if (len == 0 || len >= sizeof(num)) {
        return 'x';
    }
    memcpy(num, p, len);
    num[len] = '\0';
    v = strtod(num, &end);
    if (end != num + len || !(v >= 15.1 - 1e-9 && v <= 29.9 + 1e-9)) {
        return 'x';
    }
    return 't';
}

static void handle(demo_t *d, const char *thing, seen_t *s, const dd_svcmqtt_msg_t *m)
{
    char prefix[256];

    (void)snprintf(prefix, sizeof(prefix), "$aws/things/%s/defender/metrics/json", thing);
    if (strncmp(m->topic, "temperature-device-0", 20) == 0 && m->topic[20] >= '1' &&
        m->topic[20] < '1' + DEMO_TELEMETRY_TOPICS && m->topic[21] == '\0') {
        int i = m->topic[20] - '1';
        switch (classify_telemetry((const char *)m->payload, m->len)) {
        case 't':
            if (s->temps[i]++ == 0) {
                (void)snprintf(s->example_temp[i], sizeof(s->example_temp[i]), "%.*s", (int)m->len,
                               (const char *)m->payload);
            }
            break;
        case 'c': s->compromised[i]++; break;
        default:
            s->other[i]++;
            say(d, "unexpected message on %s (%zu bytes): neither a temperature nor 3000 [A-Z0-9]",
                m->topic, (size_t)m->len);
            break;
        }
    } else if (strcmp(m->topic, prefix) == 0) {
        dd_report_t r;
        memset(&r, 0, sizeof(r));
        if (dd_report_decode(DD_REPORT_FORMAT_JSON, m->payload, m->len, &r, NULL) == DD_REPORT_OK) {
            s->last_bytes_out = r.net.bytes_out;
            say(d,
                "agent report %llu from %s: bytes out %llu, packets out %llu (the device's own "
                "traffic)",
                (unsigned long long)r.report_id, thing, (unsigned long long)r.net.bytes_out,
                (unsigned long long)r.net.packets_out);
        }
        dd_report_free(&r);
    } else if (strncmp(m->topic, prefix, strlen(prefix)) == 0 &&
               strstr(m->topic, "/accepted") != NULL) {
        s->accepted++;
        say(d, "ddlocald answered on %s: %.*s", m->topic, (int)m->len, (const char *)m->payload);
    } else if (strncmp(m->topic, prefix, strlen(prefix)) == 0 &&
               strstr(m->topic, "/rejected") != NULL) {
        say(d, "ddlocald REJECTED a report: %.*s", (int)m->len, (const char *)m->payload);
    } else if (strncmp(m->topic, DD_NAME_SNS_TOPIC_PREFIX, strlen(DD_NAME_SNS_TOPIC_PREFIX)) == 0) {
        cJSON *ev = cJSON_ParseWithLength((const char *)m->payload, m->len);
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "Records"), 0), "Sns"),
            "Message"));
        cJSON *alert = msg != NULL ? cJSON_Parse(msg) : NULL;
        const char *who = cJSON_GetStringValue(cJSON_GetObjectItem(alert, "thingName"));
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(alert, "violationEventType"));
        if (who != NULL && type != NULL) {
            say(d, "SNS %s: %s for %s", m->topic + 12, type, who);
            if (strcmp(who, thing) == 0 && strcmp(type, "in-alarm") == 0) {
                s->in_alarm = true;
                (void)snprintf(s->alert, sizeof(s->alert), "%s", msg);
            } else if (strcmp(who, thing) != 0 && strcmp(type, "in-alarm") == 0) {
                size_t used = strlen(s->other_alerts);
                (void)snprintf(s->other_alerts + used, sizeof(s->other_alerts) - used, "%s ", who);
            }
        }
        cJSON_Delete(alert);
        cJSON_Delete(ev);
    }
}

/* Processes monitor messages until @p done is true or time runs out. */
static bool wait_for(demo_t *d, const char *thing, seen_t *s, bool (*done)(const seen_t *),
                     double max_s)
{
    double until = mono_s() + max_s;

    while (time_left(d) && mono_s() < until) {
        dd_svcmqtt_msg_t *msgs = NULL;
        dd_svcmqtt_msg_t *m;
        (void)dd_svcmqtt_take(d->monitor, 64, 100, &msgs);
        for (m = msgs; m != NULL; m = m->next) {
            handle(d, thing, s, m);
        }
        dd_svcmqtt_msg_free(msgs);
        if (done(s)) {
            return true;
        }
    }
    return done(s);
}

static bool two_accepted(const seen_t *s)
{
    return s->accepted >= 2;
}

static bool alarmed(const seen_t *s)
{
    return s->in_alarm;
}

/* A few temperatures from the watched topic: one could be a coincidence of a partial start. */
static bool temps_arrive(const seen_t *s)
{
    return s->temps[s->watch_topic] >= 3;
}

static bool compromised_arrive(const seen_t *s)
{
    return s->compromised[s->watch_topic] >= 3;
}

/* Module 3: Thing01 and Thing03 send temperatures, Thing02 the 3000 characters. Thing02 can be
 * isolated after its first few messages (a window may close right after the start), so one of
 * its messages is enough. */
static bool module3_telemetry(const seen_t *s)
{
    return s->temps[0] >= 3 && s->compromised[1] >= 1 && s->temps[2] >= 3;
}

/* Checks the in-alarm alert that was seen: its profile, behavior and metric are the story's. */
static int check_alert(demo_t *d, const seen_t *s, const char *profile, const char *behavior,
                       const char *metric)
{
    cJSON *alert = cJSON_Parse(s->alert);
    const cJSON *b = cJSON_GetObjectItem(alert, "behavior");
    const char *got_profile =
        cJSON_GetStringValue(cJSON_GetObjectItem(alert, "securityProfileName"));
    const char *got_behavior = cJSON_GetStringValue(cJSON_GetObjectItem(b, "name"));
    const char *got_metric = cJSON_GetStringValue(cJSON_GetObjectItem(b, "metric"));
    char why[512];
    int rc = 0;

    if (got_profile == NULL || got_behavior == NULL || got_metric == NULL ||
        strcmp(got_profile, profile) != 0 || strcmp(got_behavior, behavior) != 0 ||
        strcmp(got_metric, metric) != 0) {
        (void)snprintf(why, sizeof(why),
                       "the in-alarm alert is %s / %s / %s, expected %s / %s / %s",
                       got_profile != NULL ? got_profile : "(no securityProfileName)",
                       got_behavior != NULL ? got_behavior : "(no behavior.name)",
                       got_metric != NULL ? got_metric : "(no behavior.metric)", profile, behavior,
                       metric);
        rc = step_failed(d, why);
    } else {
        say(d, "the alert names profile %s, behavior %s, metric %s", got_profile, got_behavior,
            got_metric);
    }
    cJSON_Delete(alert);
    return rc;
}

/* ---- checks through the API and the broker ------------------------------------------------------------------ */

static bool in_group(demo_t *d, const char *thing, const char *group)
{
    char path[256];
    cJSON *out = NULL;
    const cJSON *g;
    bool found = false;

    (void)snprintf(path, sizeof(path), "/things/%s/thing-groups", thing);
    if (dd_apiclient_json(d->up.api_url, "GET", path, NULL, &out) != DD_APICLIENT_OK) {
        return false;
    }
    cJSON_ArrayForEach (g, cJSON_GetObjectItem(out, "thingGroups")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(g, "groupName"));
        if (name != NULL && strcmp(name, group) == 0) {
            found = true;
        }
    }
    cJSON_Delete(out);
    return found;
}

static bool wait_in_group(demo_t *d, const char *thing, const char *group, double max_s)
{
    double until = mono_s() + max_s;

    while (time_left(d) && mono_s() < until) {
        if (in_group(d, thing, group)) {
            return true;
        }
        dd_clock_sleep_ms(100);
    }
    return false;
}

typedef struct connack {
    int rc; /* the CONNACK's return code, -1 while none arrived */
    bool done;
} connack_t;

static void on_connack(struct mosquitto *mosq, void *obj, int rc)
{
    connack_t *c = obj;

    (void)mosq;
    c->rc = rc;
    c->done = true;
}

/* A connection that ends before its CONNACK (TCP, TLS or a timeout) has no code: rc stays -1. */
static void on_gone(struct mosquitto *mosq, void *obj, int rc)
{
    connack_t *c = obj;

    (void)mosq;
    (void)rc;
    c->done = true;
}

/*
 * Connects with a thing's credentials (MQTT 3.1.1, as the workshop's devices). Returns the
 * CONNACK code (0 = accepted, 5 = not authorised) or -1 when no CONNACK came at all - a TCP or
 * TLS failure or a timeout, which says nothing about the broker's policy decision.
 */
static int try_connect(demo_t *d, const char *dir, const char *client_id)
{
    connack_t c = {-1, false};
    char ca[700], cert[700], key[700];
    struct mosquitto *mosq;
    double until = mono_s() + 5.0;

    (void)snprintf(ca, sizeof(ca), "%s/rootca.pem", dir);
    (void)snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    (void)snprintf(key, sizeof(key), "%s/private.key", dir);
    mosq = mosquitto_new(client_id, true, &c);
    if (mosq == NULL) {
        return -1;
    }
    mosquitto_connect_callback_set(mosq, on_connack);
    mosquitto_disconnect_callback_set(mosq, on_gone);
    if (mosquitto_tls_set(mosq, ca, NULL, cert, key, NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_connect(mosq, "127.0.0.1", d->up.mqtt_port, 30) != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(mosq);
        return -1;
    }
    while (!c.done && mono_s() < until) {
        if (mosquitto_loop(mosq, 100, 1) != MOSQ_ERR_SUCCESS) {
            c.done = true;
        }
    }
    (void)mosquitto_disconnect(mosq);
    mosquitto_destroy(mosq);
    return c.rc;
}

/* The positive control: the same credentials and client id are accepted before isolation. */
static int check_connects(demo_t *d, const char *dir, const char *client_id, const char *thing)
{
    char why[256];
    int rc = try_connect(d, dir, client_id);

    if (rc != 0) {
        (void)snprintf(why, sizeof(why), "%s's certificate connects before isolation (got %s %d)",
                       thing, rc < 0 ? "no CONNACK," : "CONNACK", rc);
        return step_failed(d, why);
    }
    say(d, "control: a connection with %s's certificate (client id %s) is accepted (CONNACK 0)",
        thing, client_id);
    return 0;
}

/* After isolation: the same connection must get a CONNACK refusing it as not authorised. */
static int check_refused(demo_t *d, const char *dir, const char *client_id, const char *thing)
{
    char why[256];
    int rc = try_connect(d, dir, client_id);

    if (rc != CONNACK_REFUSED_NOT_AUTHORIZED) {
        (void)snprintf(why, sizeof(why),
                       "the broker refuses %s with CONNACK 5 (not authorised); got %s%d", thing,
                       rc < 0 ? "no CONNACK at all, " : "CONNACK ", rc);
        return step_failed(d, why);
    }
    say(d,
        "the same connection (client id %s) is now refused: CONNACK %d, %s - IsolatedDevices' "
        "DenyAll"
        " policy denies iot:Connect",
        client_id, rc, mosquitto_connack_string(rc));
    return 0;
}

/* ---- set-up ---------------------------------------------------------------------------------------------------- */

static int start_pipeline(demo_t *d, const char *data_dir)
{
    char clock_text[DD_LOG_CLOCK_TEXT_MAX];
    dd_up_options_t o;
    int rc;

    dd_up_options_default(&o);
    o.data_dir = data_dir;
    o.mqtt_port = 0;
    o.alpn_port = 0;
    o.alpn_port_set = true;
    o.api_port = 0;
    o.time_scale = d->scale;
    o.workshop = true;
    o.workshop_profiles = true;
    o.status = false;
    rc = dd_up_start(&d->up, &o);
    if (rc != 0) {
        return rc;
    }
    (void)snprintf(d->logs, sizeof(d->logs), "%s/logs", d->up.data_dir);
    if (dd_log_describe_clock(&d->up.clock, clock_text, sizeof(clock_text)) != DD_LOG_OK) {
        (void)snprintf(clock_text, sizeof(clock_text), "%s", d->up.clock_spec);
    }
    say(d,
        "pipeline up: broker 127.0.0.1:%u (mTLS), API %s, clock %s (%.0f pipeline minutes per real "
        "minute)",
        (unsigned)d->up.mqtt_port, d->up.api_url, clock_text, d->scale);
    return 0;
}

static int start_monitor(demo_t *d)
{
    char ca[700], cert[700], key[700];
    /* The parentheses tell clang the first element's concatenation is meant. */
    const char *subs[] = {(DD_NAME_SNS_TOPIC_PREFIX DD_WORKSHOP_SNS_TOPIC),
                          "$aws/things/+/defender/metrics/json",
                          "$aws/things/+/defender/metrics/json/accepted",
                          "$aws/things/+/defender/metrics/json/rejected",
                          "temperature-device-01",
                          "temperature-device-02",
                          "temperature-device-03"};
    dd_svcmqtt_params_t p;

    (void)dd_pki_path(d->up.data_dir, DD_PKI_FILE_ROOTCA_CERT, ca, sizeof(ca));
    (void)dd_pki_path(d->up.data_dir, DD_PKI_FILE_SERVICE_CERT, cert, sizeof(cert));
    (void)dd_pki_path(d->up.data_dir, DD_PKI_FILE_SERVICE_KEY, key, sizeof(key));
    memset(&p, 0, sizeof(p));
    p.host = "127.0.0.1";
    p.port = d->up.mqtt_port;
    p.client_id = "ddlocal-demo-monitor";
    p.clean_session = true;
    p.ca_file = ca;
    p.cert_file = cert;
    p.key_file = key;
    p.subscriptions = subs;
    p.subscription_count = sizeof(subs) / sizeof(subs[0]);
    if (dd_svcmqtt_create(&p, &d->monitor) != DD_SVCMQTT_OK ||
        dd_svcmqtt_wait_ready(d->monitor, 10000) != DD_SVCMQTT_OK) {
        return 1;
    }
    return 0;
}

/* Argument vector of ddlocal-sensor for a thing's credentials. */
static void sensor_argv(char *argv[], char *buf, size_t len, const char *dir, const char *topic,
                        const char *name, uint16_t port, double interval, bool compromised)
{
    int n = 0;
    size_t off = 0;
    char tmp[1024];

#define ADD(s)                                             \
    do {                                                   \
        int w = snprintf(buf + off, len - off, "%s", (s)); \
        argv[n++] = buf + off;                             \
        off += (size_t)w + 1;                              \
    } while (0)
    ADD(dd_paths_get(DD_PATHS_SENSOR));
    ADD("-e");
    ADD("127.0.0.1");
    ADD("--port");
    (void)snprintf(tmp, sizeof(tmp), "%u", (unsigned)port);
    ADD(tmp);
    ADD("-r");
    (void)snprintf(tmp, sizeof(tmp), "%s/rootca.pem", dir);
    ADD(tmp);
    ADD("-c");
    (void)snprintf(tmp, sizeof(tmp), "%s/cert.pem", dir);
    ADD(tmp);
    ADD("-k");
    (void)snprintf(tmp, sizeof(tmp), "%s/private.key", dir);
    ADD(tmp);
    ADD("-t");
    ADD(topic);
    ADD("-n");
    ADD(name);
    ADD("-i");
    (void)snprintf(tmp, sizeof(tmp), "%.3f", interval);
    ADD(tmp);
    ADD("--persistent");
    if (compromised) {
        ADD("--compromised");
    }
#undef ADD
    argv[n] = NULL;
}

/* ---- the stories ---------------------------------------------------------------------------------------------------- */

static int module4(demo_t *d)
{
    char dir[700];
    char log[1024];
    char buf[4096];
    char abuf[4096];
    char *argv[40];
    char *aargv[40];
    char interval[32];
    char what[256];
    double sensor_interval = 10.0 / d->scale;
    seen_t s;
    int n = 0;
    size_t off = 0;

    memset(&s, 0, sizeof(s));
    (void)snprintf(dir, sizeof(dir), "%s/workshop/tmp", d->up.data_dir);
    say(d,
        "SensorDevice03 runs in its own network namespace; its broker address 127.0.0.1:%d is "
        "relayed to ours",
        DD_DEVICEHOST_PORT);
    sensor_argv(argv, buf, sizeof(buf), dir, "temperature-device-03", "SensorDevice03",
                DD_DEVICEHOST_PORT, sensor_interval, false);
    (void)snprintf(log, sizeof(log), "%s/sensor.log", d->logs);
    if (dd_devicehost_exec(&d->host, "sensor", argv, log) != DD_DEVICEHOST_OK) {
        return step_failed(d, "cannot start the sensor");
    }
    say(d,
        "SensorDevice03 publishes a temperature (e.g. 23.45) to temperature-device-03 every %.2f s"
        " (= 10 s of pipeline time)",
        sensor_interval);
#define AADD(s)                                                      \
    do {                                                             \
        int w = snprintf(abuf + off, sizeof(abuf) - off, "%s", (s)); \
        aargv[n++] = abuf + off;                                     \
        off += (size_t)w + 1;                                        \
    } while (0)
    AADD(dd_paths_get(DD_PATHS_AGENT));
    AADD("--endpoint");
    AADD("127.0.0.1");
    AADD("--port");
    AADD("8883");
    (void)snprintf(log, sizeof(log), "%s/rootca.pem", dir);
    AADD("--rootCA");
    AADD(log);
    (void)snprintf(log, sizeof(log), "%s/cert.pem", dir);
    AADD("--cert");
    AADD(log);
    (void)snprintf(log, sizeof(log), "%s/private.key", dir);
    AADD("--key");
    AADD(log);
    AADD("--client_id");
    AADD("SensorDevice03");
    AADD("--thing_name");
    AADD("Thing03");
    AADD("--format");
    AADD("json");
    AADD("-i");
    (void)snprintf(interval, sizeof(interval), "%.3f", 300.0 / d->scale);
    AADD(interval);
#undef AADD
    aargv[n] = NULL;
    (void)snprintf(log, sizeof(log), "%s/agent.log", d->logs);
    if (dd_devicehost_exec(&d->host, "agent", aargv, log) != DD_DEVICEHOST_OK) {
        return step_failed(d, "cannot start the agent");
    }
    say(d,
        "its Device Defender agent (client id SensorDevice03, thing Thing03) reports every %s s"
        " (= 300 s of pipeline time)",
        interval);
    step_ok(d, "SensorDevice03 and its agent are running");

    s.watch_topic = 2;
    if (!wait_for(d, "Thing03", &s, temps_arrive, 10.0)) {
        return step_failed(d, "SensorDevice03's temperatures arrive on temperature-device-03");
    }
    if (s.other[2] != 0 || s.compromised[2] != 0) {
        return step_failed(
            d, "only temperatures (15.1-29.9) on temperature-device-03 before the compromise");
    }
    (void)snprintf(what, sizeof(what),
                   "SensorDevice03's temperatures arrive: a subscriber with the service"
                   " identity got %d values in 15.1-29.9 on temperature-device-03 (first: %s)",
                   s.temps[2], s.example_temp[2]);
    step_ok(d, what);

    if (!wait_for(d, "Thing03", &s, two_accepted, 3 * 300.0 / d->scale + 5)) {
        return step_failed(d, "two accepted agent reports from Thing03");
    }
    if (s.in_alarm) {
        return step_failed(
            d, "the healthy device raised an alarm (threshold too low for this machine?)");
    }
    step_ok(d, "two reports of normal traffic accepted, no violation");
    if (check_connects(d, dir, "SensorDevice03-check", "Thing03") != 0) {
        return 1;
    }
    step_ok(d, "the broker accepts Thing03's certificate before isolation");

    say(d, "COMPROMISE: SensorDevice03 now sends 3000 random [A-Z0-9] characters instead of a "
           "temperature");
    sensor_argv(argv, buf, sizeof(buf), dir, "temperature-device-03", "SensorDevice03",
                DD_DEVICEHOST_PORT, sensor_interval, true);
    (void)snprintf(log, sizeof(log), "%s/sensor.log", d->logs);
    if (dd_devicehost_exec(&d->host, "sensor", argv, log) != DD_DEVICEHOST_OK) {
        return step_failed(d, "cannot restart the sensor compromised");
    }
    if (!wait_for(d, "Thing03", &s, compromised_arrive, 10.0)) {
        return step_failed(d, "the 3000-character messages arrive on temperature-device-03");
    }
    say(d, "the service identity sees the 3000-character messages on temperature-device-03");
    if (!wait_for(d, "Thing03", &s, alarmed, 3 * 300.0 / d->scale + 5)) {
        return step_failed(d, "an in-alarm SNS alert for Thing03");
    }
    say(d, "the SNS message (what the IsolateDevice Lambda reads):\n    %s", s.alert);
    if (check_alert(d, &s, DD_WORKSHOP_MODULE4_PROFILE, "MoreBytesSent", "aws:all-bytes-out") !=
        0) {
        return 1;
    }
    step_ok(d, "aws:all-bytes-out violation: in-alarm alert on the BadIoTDevices SNS stand-in");

    if (!wait_in_group(d, "Thing03", DD_WORKSHOP_GROUP, 10.0)) {
        return step_failed(d, "Thing03 added to IsolatedDevices by the isolator");
    }
    step_ok(d, "the isolator added Thing03 to IsolatedDevices (AddThingToThingGroup)");

    if (check_refused(d, dir, "SensorDevice03-check", "Thing03") != 0) {
        return 1;
    }
    step_ok(d, "the broker denies Thing03");
    return 0;
}

static int module3(demo_t *d)
{
    static const char *const things[3] = {"Thing01", "Thing02", "Thing03"};
    char dir[700];
    char log[700];
    char topic[64];
    char buf[4096];
    char *argv[40];
    double sensor_interval = 10.0 / d->scale;
    seen_t s;
    cJSON *out = NULL;
    const cJSON *v;
    int i;

    memset(&s, 0, sizeof(s));
    (void)snprintf(dir, sizeof(dir), "%s/workshop/Thing02", d->up.data_dir);
    if (check_connects(d, dir, "Thing02", "Thing02") != 0) {
        return 1;
    }
    for (i = 0; i < 3; i++) {
        (void)snprintf(dir, sizeof(dir), "%s/workshop/%s", d->up.data_dir, things[i]);
        (void)snprintf(topic, sizeof(topic), "temperature-device-0%d", i + 1);
        sensor_argv(argv, buf, sizeof(buf), dir, topic, things[i], d->up.mqtt_port, sensor_interval,
                    i == 1);
        (void)snprintf(log, sizeof(log), "%s/sensor-%s.log", d->logs, things[i]);
        if (dd_proc_spawn(&d->sensors[i], things[i], argv, NULL, log) != DD_PROC_OK) {
            return step_failed(d, "cannot start the sensors");
        }
        say(d, "%s publishes %s to %s every %.2f s", things[i],
            i == 1 ? "3000-character messages (compromised)" : "a temperature", topic,
            sensor_interval);
    }
    if (!wait_for(d, "Thing02", &s, module3_telemetry, 10.0)) {
        (void)snprintf(log, sizeof(log),
                       "temperatures from Thing01 and Thing03 and 3000-character messages"
                       " from Thing02 arrive (got %d and %d temperatures, %d messages)",
                       s.temps[0], s.temps[2], s.compromised[1]);
        return step_failed(d, log);
    }
    if (s.other[0] + s.other[1] + s.other[2] != 0 || s.compromised[0] + s.compromised[2] != 0 ||
        s.temps[1] != 0) {
        return step_failed(d,
                           "only temperatures from Thing01/03, only 3000 characters from Thing02");
    }
    say(d,
        "a subscriber with the service identity got %d / %d temperatures (15.1-29.9) on"
        " temperature-device-01 / -03 (first: %s, %s) and %d 3000-character messages on "
        "temperature-device-02",
        s.temps[0], s.temps[2], s.example_temp[0], s.example_temp[2], s.compromised[1]);
    step_ok(d, "three devices are sending telemetry, Thing02 compromised");
    say(d, "the broker measures every message's size; aws:message-byte-size is summed per device "
           "over 300 s"
           " windows and compared with the fleet's p50");
    if (!wait_for(d, "Thing02", &s, alarmed, 4 * 300.0 / d->scale + 5)) {
        return step_failed(d, "an in-alarm SNS alert for Thing02");
    }
    say(d, "the SNS message:\n    %s", s.alert);
    if (check_alert(d, &s, DD_WORKSHOP_MODULE3_PROFILE, "LargeMessageSize",
                    "aws:message-byte-size") != 0) {
        return 1;
    }
    if (s.other_alerts[0] != '\0') {
        return step_failed(d, "only Thing02 in alarm (others alerted too)");
    }
    step_ok(d, "aws:message-byte-size p50 violation for Thing02 only");
    if (dd_apiclient_json(d->up.api_url, "GET", "/active-violations", NULL, &out) !=
        DD_APICLIENT_OK) {
        return step_failed(d, "ListActiveViolations");
    }
    cJSON_ArrayForEach (v, cJSON_GetObjectItem(out, "activeViolations")) {
        const char *who = cJSON_GetStringValue(cJSON_GetObjectItem(v, "thingName"));
        if (who != NULL && strcmp(who, "Thing02") != 0) {
            cJSON_Delete(out);
            return step_failed(d, "ListActiveViolations lists only Thing02");
        }
    }
    cJSON_Delete(out);
    step_ok(d, "ListActiveViolations: Thing02 only");
    if (!wait_in_group(d, "Thing02", DD_WORKSHOP_GROUP, 10.0)) {
        return step_failed(d, "Thing02 added to IsolatedDevices by the isolator");
    }
    step_ok(d, "the isolator added Thing02 to IsolatedDevices");
    (void)snprintf(dir, sizeof(dir), "%s/workshop/Thing02", d->up.data_dir);
    if (check_refused(d, dir, "Thing02", "Thing02") != 0) {
        return 1;
    }
    step_ok(d, "the broker denies Thing02");
    return 0;
}

int dd_cmd_demo(int argc, char **argv)
{
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"keep", no_argument, NULL, 'k'},
        {"time-scale", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    demo_t d;
    const char *data_dir = NULL;
    char tmp[64] = "";
    bool keep = false;
    double timeout = 60.0;
    const char *which;
    struct sigaction sa;
    int c;
    int rc;

    memset(&d, 0, sizeof(d));
    d.scale = 60.0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case 'k': keep = true; break;
        case 's': d.scale = strtod(optarg, NULL); break;
        case 't': timeout = strtod(optarg, NULL); break;
        case 'h': fputs(DEMO_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("demo", "unknown option");
        }
    }
    if (optind != argc - 1) {
        return dd_clienv_usage_error("demo", "name one story: module4 or module3");
    }
    which = argv[optind];
    if (strcmp(which, "module4") != 0 && strcmp(which, "module3") != 0) {
        return dd_clienv_usage_error("demo", "unknown story '%s' (module4 or module3)", which);
    }
    if (!(d.scale >= 1.0 && d.scale <= 600.0) || !(timeout > 0)) {
        return dd_clienv_usage_error("demo", "--time-scale is 1..600 and --timeout > 0");
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &sa, NULL);
    if (data_dir == NULL) {
        (void)snprintf(tmp, sizeof(tmp), "/tmp/ddlocal-demo-XXXXXX");
        if (mkdtemp(tmp) == NULL) {
            fprintf(stderr, "ddlocal demo: cannot create a temporary data dir\n");
            return 1;
        }
        data_dir = tmp;
    }
    dd_log_set_level(DD_LOG_LEVEL_WARN);
    d.start = mono_s();
    d.deadline = d.start + timeout;
    printf("ddlocal demo %s: the workshop's Module %c on an accelerated clock (data dir %s)\n",
           which, which[6], data_dir);
    rc = start_pipeline(&d, data_dir);
    if (rc != 0) {
        if (tmp[0] != '\0' && !keep) {
            (void)dd_fs_remove_tree(tmp);
        }
        return rc;
    }
    step_ok(&d, "pipeline started and the workshop provisioned (Thing01-03, certificates, policies,"
                " IsolatedDevices + DenyAll, Module 3 and 4 profiles, isolator)");
    if (strcmp(which, "module4") == 0) {
        /* The namespace first: it must be created before this process has more threads. */
        dd_devicehost_status_t hs =
            dd_devicehost_start(&d.host, d.logs, d.up.mqtt_port, d.up.alpn_port);
        if (hs != DD_DEVICEHOST_OK) {
            rc = step_failed(&d, dd_devicehost_strerror(hs));
        } else {
            d.host_started = true;
        }
    }
    if (rc == 0 && start_monitor(&d) != 0) {
        rc = step_failed(&d, "watching the broker as the service identity");
    }
    if (rc == 0) {
        rc = strcmp(which, "module4") == 0 ? module4(&d) : module3(&d);
    }
    if (d.host_started) {
        dd_devicehost_stop(&d.host);
    }
    for (c = 0; c < 3; c++) {
        dd_proc_stop(&d.sensors[c], 2000);
    }
    dd_svcmqtt_destroy(d.monitor);
    dd_up_stop(&d.up);
    if (rc == 0 && !d.failed && mono_s() <= d.deadline) {
        printf("\nddlocal demo %s: every step happened in %.1f s.\n", which, mono_s() - d.start);
    } else {
        printf("\nddlocal demo %s: FAILED after %.1f s%s (logs in %s/logs)\n", which,
               mono_s() - d.start, mono_s() > d.deadline ? " (time limit)" : "", data_dir);
        keep = true;
        rc = 1;
    }
    if (tmp[0] != '\0' && !keep) {
        (void)dd_fs_remove_tree(tmp);
    }
    return rc;
}
