/*
 * ddlocal isolator: the workshop's IsolateDevice Lambda. Subscribes to an SNS
 * stand-in topic, reads Records[0].Sns.Message like the Lambda does, takes
 * thingName and calls AddThingToThingGroup through ddlocald's API. A failed
 * call is retried with backoff (as Lambda retries a failed asynchronous
 * invocation) and a give-up is logged as an error and counted in
 * DATA_DIR/run/isolator-TOPIC.json, which `ddlocal up` shows.
 */
#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_clienv.h"
#include "dd_clock.h"
#include "dd_log.h"
#include "dd_fs.h"
#include "dd_names.h"
#include "dd_pki.h"
#include "dd_retry.h"
#include "dd_svcmqtt.h"

#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char ISOLATOR_HELP[] =
    "usage: ddlocal isolator --sns-topic TOPIC --group GROUP [options]\n"
    "\n"
    "Plays the workshop's IsolateDevice Lambda: for every alert delivered on the\n"
    "SNS stand-in topic (MQTT ddlocal/sns/TOPIC, the Lambda event envelope), adds\n"
    "the alert's thingName to GROUP with AddThingToThingGroup. The broker applies\n"
    "the group's policies (the workshop's DenyAll) to the thing's next packet.\n"
    "\n"
    "  -D, --data-dir DIR    data dir of a running pipeline\n"
    "      --sns-topic TOPIC SNS topic name (e.g. BadIoTDevices)\n"
    "      --group GROUP     thing group (e.g. IsolatedDevices)\n"
    "      --broker-port P   broker port (default: from DIR/endpoints.json)\n"
    "      --api URL         ddlocald API (default: from DIR/endpoints.json)\n"
    "      --all-events      also act on alarm-cleared / alarm-invalidated alerts (the\n"
    "                        workshop's Lambda does; by default only in-alarm isolates)\n"
    "      --attempts N      calls per thing before giving up (default 10, 1-100)\n"
    "      --backoff-ms MS   wait before the 2nd call, doubled each time up to 30 s\n"
    "                        (default 500, 1-30000)\n"
    "\n"
    "A failed call (API unreachable, any HTTP error) is retried; a give-up is logged\n"
    "as an error and counted in DIR/run/isolator-TOPIC.json (`ddlocal up` shows it).\n";

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Returns the thing to isolate from a Lambda event, or NULL (a non-alert or a skipped type). */
static char *thing_from_event(const uint8_t *payload, size_t len, bool all_events)
{
    cJSON *event = cJSON_ParseWithLength((const char *)payload, len);
    cJSON *record = cJSON_GetArrayItem(cJSON_GetObjectItem(event, "Records"), 0);
    const char *message =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(record, "Sns"), "Message"));
    cJSON *alert = message != NULL ? cJSON_Parse(message) : NULL;
    const char *thing = cJSON_GetStringValue(cJSON_GetObjectItem(alert, "thingName"));
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(alert, "violationEventType"));
    char *out = NULL;

    if (thing == NULL) {
        DD_LOG_WARN("ignored a message without Records[0].Sns.Message.thingName");
    } else if (!all_events && (type == NULL || strcmp(type, "in-alarm") != 0)) {
        DD_LOG_INFO("%s for %s: nothing to do", type != NULL ? type : "event", thing);
    } else {
        out = strdup(thing);
    }
    cJSON_Delete(alert);
    cJSON_Delete(event);
    return out;
}

#define ADD_PATH "/thing-groups/addThingToThingGroup"

/*
 * The isolator's one HTTP connection to the API, kept open between alerts.
 * A new connection per call (dd_apiclient's way) cost a TCP handshake on the
 * detection path from the alert to the quarantine; libcurl reconnects by
 * itself when the API closed an idle connection.
 */
typedef struct api_conn {
    CURL *curl;
    struct curl_slist *headers;
    char response[1024];
    size_t response_len;
} api_conn_t;

static size_t keep_response(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    api_conn_t *c = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof(c->response) - 1 - c->response_len;
    size_t take = n < room ? n : room;

    memcpy(c->response + c->response_len, ptr, take);
    c->response_len += take;
    c->response[c->response_len] = '\0';
    return n; /* the rest of a long error body is not needed */
}

static bool api_conn_open(api_conn_t *c, const char *api)
{
    char url[600];

    memset(c, 0, sizeof(*c));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (c->curl = curl_easy_init()) == NULL) {
        return false;
    }
    (void)snprintf(url, sizeof(url), "%s%s", api, ADD_PATH);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    (void)curl_easy_setopt(c->curl, CURLOPT_URL, url);
    (void)curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, "PUT");
    (void)curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
    (void)curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, keep_response);
    (void)curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
    /* A hung call is a failed attempt: the retry comes sooner than a 30 s wait would. */
    (void)curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 10000L);
    (void)curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    return c->headers != NULL;
}

static void api_conn_close(api_conn_t *c)
{
    if (c->curl != NULL) {
        curl_easy_cleanup(c->curl);
        curl_slist_free_all(c->headers);
        curl_global_cleanup();
    }
    memset(c, 0, sizeof(*c));
}

/* One AddThingToThingGroup call; on failure @p error says why. */
static bool isolate(api_conn_t *c, const char *group, const char *thing, char *error,
                    size_t error_len)
{
    cJSON *body = cJSON_CreateObject();
    char *text;
    long status = 0;
    CURLcode rc;

    (void)cJSON_AddStringToObject(body, "thingGroupName", group);
    (void)cJSON_AddStringToObject(body, "thingName", thing);
    text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (text == NULL) {
        (void)snprintf(error, error_len, "out of memory");
        return false;
    }
    c->response_len = 0;
    c->response[0] = '\0';
    (void)curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
    rc = curl_easy_perform(c->curl);
    if (rc == CURLE_OK) {
        (void)curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    }
    cJSON_free(text);
    if (rc != CURLE_OK) {
        (void)snprintf(error, error_len, "PUT %s: %s", ADD_PATH, curl_easy_strerror(rc));
        return false;
    }
    if (status < 200 || status > 299) {
        cJSON *parsed = cJSON_Parse(c->response);
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(parsed, "message");

        (void)snprintf(error, error_len, "PUT %s failed with HTTP %ld: %s", ADD_PATH, status,
                       cJSON_IsString(msg) ? msg->valuestring : c->response);
        cJSON_Delete(parsed);
        return false;
    }
    return true;
}

/* What DIR/run/isolator-TOPIC.json says: counts since the isolator started, and the last give-up. */
typedef struct iso_status {
    char path[700];
    long isolated;
    long retries;
    long gave_up;
    char last_thing[DD_NAME_MAX + 1];
    int last_attempts;
    char last_error[300];
    char last_time[32];
} iso_status_t;

static void status_write(const iso_status_t *st, size_t retrying)
{
    cJSON *o = cJSON_CreateObject();
    char *text;

    (void)cJSON_AddNumberToObject(o, "pid", (double)getpid());
    (void)cJSON_AddNumberToObject(o, "isolated", (double)st->isolated);
    (void)cJSON_AddNumberToObject(o, "retries", (double)st->retries);
    (void)cJSON_AddNumberToObject(o, "retrying", (double)retrying);
    (void)cJSON_AddNumberToObject(o, "gaveUp", (double)st->gave_up);
    if (st->gave_up > 0) {
        cJSON *last = cJSON_AddObjectToObject(o, "lastGiveUp");
        (void)cJSON_AddStringToObject(last, "thingName", st->last_thing);
        (void)cJSON_AddNumberToObject(last, "attempts", st->last_attempts);
        (void)cJSON_AddStringToObject(last, "error", st->last_error);
        (void)cJSON_AddStringToObject(last, "time", st->last_time);
    }
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text == NULL || dd_fs_write_atomic(st->path, text, strlen(text), 0644) != DD_FS_OK) {
        DD_LOG_WARN("cannot write %s", st->path);
    }
    cJSON_free(text);
}

/* Makes every call that is due; failures are rescheduled or given up. */
static void run_due(dd_retry_t *q, api_conn_t *c, const char *group, iso_status_t *st)
{
    const char *key;
    int attempt;

    while (!g_stop && dd_retry_due(q, dd_clock_mono_ms(), &key, &attempt) == DD_RETRY_OK) {
        char thing[DD_NAME_MAX + 1];
        char error[300] = "";
        bool gave_up = false;
        int64_t due = 0;

        (void)snprintf(thing, sizeof(thing), "%s", key);
        if (attempt > 1) {
            st->retries++;
        }
        if (isolate(c, group, thing, error, sizeof(error))) {
            (void)dd_retry_succeeded(q, thing);
            st->isolated++;
            DD_LOG_INFO("isolated %s: added to thing group %s%s", thing, group,
                        attempt > 1 ? " (after a retry)" : "");
            status_write(st, dd_retry_count(q));
            continue;
        }
        (void)dd_retry_failed(q, thing, dd_clock_mono_ms(), &gave_up, &due);
        if (!gave_up) {
            DD_LOG_WARN("isolating %s: attempt %d failed: %s; retrying in %lld ms", thing, attempt,
                        error, (long long)(due - dd_clock_mono_ms()));
            status_write(st, dd_retry_count(q));
            continue;
        }
        DD_LOG_ERROR("GAVE UP isolating %s into %s after %d attempts: %s - the thing is NOT "
                     "isolated",
                     thing, group, attempt, error);
        st->gave_up++;
        (void)snprintf(st->last_thing, sizeof(st->last_thing), "%s", thing);
        st->last_attempts = attempt;
        (void)snprintf(st->last_error, sizeof(st->last_error), "%s", error);
        {
            time_t now = time(NULL);
            struct tm tm;
            (void)strftime(st->last_time, sizeof(st->last_time), "%Y-%m-%dT%H:%M:%SZ",
                           gmtime_r(&now, &tm));
        }
        status_write(st, dd_retry_count(q));
    }
}

static bool parse_int_option(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);

    if (end == text || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/*
 * The pipeline clock for the log's stamps, as ddlocald runs it: its spec from the API. A scaled
 * clock follows from its spec; a manual one is asked again before each batch of alerts.
 */
static void sync_clock(const char *api, dd_clock_t *clock, bool *known)
{
    char *body = NULL;
    long http = 0;
    cJSON *doc;
    const char *spec;
    dd_clock_t fresh;

    if (*known && clock->mode != DD_CLOCK_MANUAL) {
        return;
    }
    if (dd_apiclient_request(api, "GET", "/ddlocal/v1/clock", NULL, &http, &body) !=
            DD_APICLIENT_OK ||
        http != 200) {
        free(body);
        return;
    }
    doc = cJSON_Parse(body);
    free(body);
    spec = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "spec"));
    if (spec != NULL && dd_clock_parse(&fresh, spec) == DD_CLOCK_OK) {
        /* The MQTT thread may log meanwhile: a known manual clock only moves (atomically). */
        if (*known && fresh.mode == DD_CLOCK_MANUAL) {
            (void)dd_clock_set(clock, dd_clock_now_ms(&fresh));
        } else {
            *clock = fresh;
        }
        *known = true;
        dd_log_set_clock(clock);
    }
    cJSON_Delete(doc);
}

int dd_cmd_isolator(int argc, char **argv)
{
    enum { OPT_TOPIC = 1000, OPT_GROUP, OPT_PORT, OPT_API, OPT_ALL, OPT_ATTEMPTS, OPT_BACKOFF };
    static const struct option options[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"sns-topic", required_argument, NULL, OPT_TOPIC},
        {"group", required_argument, NULL, OPT_GROUP},
        {"broker-port", required_argument, NULL, OPT_PORT},
        {"api", required_argument, NULL, OPT_API},
        {"all-events", no_argument, NULL, OPT_ALL},
        {"attempts", required_argument, NULL, OPT_ATTEMPTS},
        {"backoff-ms", required_argument, NULL, OPT_BACKOFF},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data_dir = dd_clienv_default_data_dir();
    const char *topic = NULL;
    const char *group = NULL;
    const char *api = NULL;
    unsigned port = 0;
    bool all_events = false;
    dd_apiclient_endpoints_t ep;
    char ca[700], cert[700], key[700], sub[300], client_id[300];
    const char *subs[1];
    dd_svcmqtt_params_t params;
    dd_svcmqtt_t *mqtt = NULL;
    api_conn_t conn;
    struct sigaction sa;
    char abs_dir[512];
    static dd_clock_t pipeline;
    bool clock_known = false;
    dd_retry_config_t retry_cfg = {.max_attempts = 10,
                                   .first_delay_ms = 500,
                                   .max_delay_ms = 30000};
    dd_retry_t *queue = NULL;
    iso_status_t st;
    long value;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "D:h", options, NULL)) != -1) {
        switch (c) {
        case 'D': data_dir = optarg; break;
        case OPT_TOPIC: topic = optarg; break;
        case OPT_GROUP: group = optarg; break;
        case OPT_PORT: port = (unsigned)strtoul(optarg, NULL, 10); break;
        case OPT_API: api = optarg; break;
        case OPT_ALL: all_events = true; break;
        case OPT_ATTEMPTS:
            if (!parse_int_option(optarg, 1, 100, &value)) {
                return dd_clienv_usage_error("isolator", "--attempts needs a number from 1 to 100");
            }
            retry_cfg.max_attempts = (int)value;
            break;
        case OPT_BACKOFF:
            if (!parse_int_option(optarg, 1, 30000, &value)) {
                return dd_clienv_usage_error("isolator",
                                             "--backoff-ms needs a number from 1 to 30000");
            }
            retry_cfg.first_delay_ms = value;
            break;
        case 'h': fputs(ISOLATOR_HELP, stdout); return 0;
        default: return dd_clienv_usage_error("isolator", "unknown option");
        }
    }
    if (topic == NULL || group == NULL || !dd_name_valid(DD_NAME_SNS_TOPIC, topic) ||
        !dd_name_valid(DD_NAME_THING_GROUP, group)) {
        return dd_clienv_usage_error("isolator", "--sns-topic and --group need valid names");
    }
    if (realpath(data_dir, abs_dir) == NULL) {
        fprintf(stderr, "ddlocal isolator: no data dir %s\n", data_dir);
        return 1;
    }
    if (api == NULL || port == 0) {
        if (dd_apiclient_endpoints(abs_dir, &ep) != DD_APICLIENT_OK) {
            fprintf(stderr, "ddlocal isolator: %s\n",
                    dd_apiclient_strerror(DD_APICLIENT_NOT_RUNNING));
            return 1;
        }
        if (api == NULL) {
            api = ep.api;
        }
        if (port == 0) {
            port = ep.mqtt_port;
        }
    }
    dd_log_set_program("ddlocal isolator");
    dd_log_set_clock(NULL);
    sync_clock(api, &pipeline, &clock_known);
    (void)dd_pki_path(abs_dir, DD_PKI_FILE_ROOTCA_CERT, ca, sizeof(ca));
    (void)dd_pki_path(abs_dir, DD_PKI_FILE_SERVICE_CERT, cert, sizeof(cert));
    (void)dd_pki_path(abs_dir, DD_PKI_FILE_SERVICE_KEY, key, sizeof(key));
    (void)snprintf(sub, sizeof(sub), "%s%s", DD_NAME_SNS_TOPIC_PREFIX, topic);
    (void)snprintf(client_id, sizeof(client_id), "ddlocal-isolator-%s", topic);
    subs[0] = sub;
    memset(&params, 0, sizeof(params));
    params.host = "127.0.0.1";
    params.port = (uint16_t)port;
    /* A persistent session: alerts published while the isolator restarts still reach it. */
    params.client_id = client_id;
    params.clean_session = false;
    params.ca_file = ca;
    params.cert_file = cert;
    params.key_file = key;
    params.subscriptions = subs;
    params.subscription_count = 1;
    memset(&st, 0, sizeof(st));
    (void)snprintf(st.path, sizeof(st.path), "%s/run/isolator-%s.json", abs_dir, topic);
    if (dd_retry_create(&retry_cfg, &queue) != DD_RETRY_OK) {
        fprintf(stderr, "ddlocal isolator: out of memory\n");
        return 1;
    }
    if (!api_conn_open(&conn, api)) {
        DD_LOG_ERROR("cannot set up an HTTP client");
        api_conn_close(&conn);
        dd_retry_destroy(queue);
        return 1;
    }
    if (dd_svcmqtt_create(&params, &mqtt) != DD_SVCMQTT_OK) {
        DD_LOG_ERROR("cannot connect to the broker");
        api_conn_close(&conn);
        dd_retry_destroy(queue);
        return 1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    status_write(&st, 0);
    DD_LOG_INFO(
        "isolating things alerted on %s into %s (API %s; %d attempts, backoff from %lld ms)", sub,
        group, api, retry_cfg.max_attempts, (long long)retry_cfg.first_delay_ms);
    while (!g_stop) {
        dd_svcmqtt_msg_t *msgs = NULL;
        dd_svcmqtt_msg_t *m;
        int64_t wait = 200;

        /* Wake up for the next retry too, not only for the next alert. */
        if (dd_retry_wait_ms(queue, dd_clock_mono_ms(), &wait) != DD_RETRY_OK || wait < 0 ||
            wait > 200) {
            wait = 200;
        }
        (void)dd_svcmqtt_take(mqtt, 64, (int)wait, &msgs);
        if (msgs != NULL) {
            sync_clock(api, &pipeline, &clock_known);
        }
        for (m = msgs; m != NULL; m = m->next) {
            char *thing = thing_from_event(m->payload, m->len, all_events);
            if (thing != NULL &&
                dd_retry_add(queue, thing, dd_clock_mono_ms()) == DD_RETRY_DUPLICATE) {
                DD_LOG_INFO("%s is already being isolated", thing);
            }
            free(thing);
        }
        dd_svcmqtt_msg_free(msgs);
        run_due(queue, &conn, group, &st);
    }
    if (dd_retry_count(queue) > 0) {
        /* The alerts were acknowledged: nothing brings these back after a restart. */
        DD_LOG_ERROR("stopping with %zu isolation(s) still being retried: those things are NOT "
                     "isolated",
                     dd_retry_count(queue));
    }
    dd_svcmqtt_destroy(mqtt);
    api_conn_close(&conn);
    dd_retry_destroy(queue);
    return 0;
}
