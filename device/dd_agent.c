/*
 * dd_agent: the Device Defender agent (see dd_agent.h): command line,
 * reply decoding, and the report cycle over one dd_conn.
 */
#include "dd_agent.h"

#include <cbor.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dd_clock.h"
#include "dd_collect.h"
#include "dd_conn.h"
#include "dd_log.h"
#include "dd_names.h"

/* ---- command line -------------------------------------------------------- */

typedef enum opt_id {
    O_ENDPOINT,
    O_ROOTCA,
    O_CERT,
    O_KEY,
    O_CLIENT_ID,
    O_THING,
    O_FORMAT,
    O_INTERVAL,
    O_CM,
    O_DRYRUN,
    O_PORT,
    O_SHORT,
    O_ONCE,
    O_COUNT,
    O_PROC_ROOT,
    O_CUSTOM,
    O_CUSTOM_FILE,
    O_ALPN,
    O_MAX_LIST,
    O_REPLY_TIMEOUT,
    O_KEEPALIVE,
    O_VERBOSE,
    O_HELP,
    O_TIMEOUT,
    O_CLOCK
} opt_id_t;

typedef struct opt_def {
    const char *names[4];
    bool has_arg;
    opt_id_t id;
} opt_def_t;

/* The Python agent's spellings first; ddlocal's own after. */
static const opt_def_t OPTS[] = {
    {{"-e", "--endpoint", NULL, NULL}, true, O_ENDPOINT},
    {{"-r", "--rootCA", "--root-ca", NULL}, true, O_ROOTCA},
    {{"-c", "--cert", NULL, NULL}, true, O_CERT},
    {{"-k", "--key", NULL, NULL}, true, O_KEY},
    {{"-id", "--client_id", "--client-id", NULL}, true, O_CLIENT_ID},
    {{"-t", "--thing_name", "--thing-name", NULL}, true, O_THING},
    {{"-f", "--format", NULL, NULL}, true, O_FORMAT},
    {{"-i", "--interval", NULL, NULL}, true, O_INTERVAL},
    {{"-cm", "--include-custom-metrics", "--include_custom_metrics", NULL}, false, O_CM},
    {{"-d", "--dryrun", "--dry-run", NULL}, false, O_DRYRUN},
    {{"-s", "--short-names", "--short_tags", NULL}, false, O_SHORT},
    {{"--port", NULL, NULL, NULL}, true, O_PORT},
    {{"--once", NULL, NULL, NULL}, false, O_ONCE},
    {{"--count", NULL, NULL, NULL}, true, O_COUNT},
    {{"--timeout", NULL, NULL, NULL}, true, O_TIMEOUT},
    {{"--proc-root", NULL, NULL, NULL}, true, O_PROC_ROOT},
    {{"--custom-metric", NULL, NULL, NULL}, true, O_CUSTOM},
    {{"--custom-metrics", NULL, NULL, NULL}, true, O_CUSTOM_FILE},
    {{"--alpn", NULL, NULL, NULL}, true, O_ALPN},
    {{"--max-list-size", NULL, NULL, NULL}, true, O_MAX_LIST},
    {{"--reply-timeout", NULL, NULL, NULL}, true, O_REPLY_TIMEOUT},
    {{"--keepalive", NULL, NULL, NULL}, true, O_KEEPALIVE},
    {{"--clock", NULL, NULL, NULL}, true, O_CLOCK},
    {{"-v", "--verbose", NULL, NULL}, false, O_VERBOSE},
    {{"-h", "--help", NULL, NULL}, false, O_HELP},
};

void dd_agent_usage(FILE *out)
{
    fprintf(
        out,
        "usage: ddlocal-agent -e ENDPOINT -r ROOTCA -c CERT -k KEY -id CLIENT_ID\n"
        "                     [-t THING_NAME] [-f json|cbor] [-i SECONDS] [-cm] [-d] ...\n"
        "\n"
        "A Device Defender agent: samples /proc and publishes a metrics report every\n"
        "interval to $aws/things/THING/defender/metrics/FORMAT, against ddlocal or AWS IoT.\n"
        "Each report covers one interval; one due while not connected is logged and dropped.\n"
        "Flags of AWS's Python agent:\n"
        "  -e,  --endpoint HOST[:PORT]   broker / AWS IoT endpoint\n"
        "  -r,  --rootCA FILE            root CA (PEM) that signed the server certificate\n"
        "  -c,  --cert FILE              device certificate (PEM)\n"
        "  -k,  --key FILE               device private key (PEM)\n"
        "  -id, --client_id ID           MQTT client id (also the thing name by default)\n"
        "  -t,  --thing_name NAME        thing to report for (default: the client id)\n"
        "  -f,  --format json|cbor       report encoding (default json)\n"
        "  -i,  --interval SECONDS       seconds between reports, fractions allowed (default "
        "300);\n"
        "                                pipeline seconds when a pipeline clock is found "
        "(--clock)\n"
        "  -cm, --include-custom-metrics add custom metric cpu_usage (percent)\n"
        "  -d,  --dryrun                 print reports instead of connecting\n"
        "  -s,  --short-names            short key names (hed, met, ...)\n"
        "ddlocal's own:\n"
        "  --port N                      MQTT port (default 8883; 443 offers ALPN x-amzn-mqtt-ca)\n"
        "  --alpn PROTO                  ALPN protocol to offer (\"\" for none)\n"
        "  --once | --count N            publish N reports, wait for their replies, exit\n"
        "                                (status 0 only if every one was accepted)\n"
        "  --timeout SECONDS             give a counted run up after this long (default\n"
        "                                60 + count x interval + reply timeout)\n"
        "  --proc-root DIR               read metrics from a copy of /proc\n"
        "  --custom-metric NAME:TYPE:file:PATH | NAME:TYPE:command:CMD   (repeatable)\n"
        "  --custom-metrics FILE         JSON list of {name, type, file|command}\n"
        "  --max-list-size N             longest port/connection list (default 50)\n"
        "  --reply-timeout SECONDS       report a missing reply after this long (default 30)\n"
        "  --keepalive SECONDS           MQTT keep-alive (default 60)\n"
        "  --clock SPEC|none             pipeline clock to follow (default: $DDLOCAL_CLOCK, else\n"
        "                                \"clock\" of $DDLOCAL_DATA_DIR/endpoints.json); with a "
        "real\n"
        "                                or scaled clock reports fall on pipeline multiples of\n"
        "                                the interval; manual or none: real seconds from start\n"
        "  -v,  --verbose                debug logging\n");
}

static const opt_def_t *find_opt(const char *arg, const char **inline_value)
{
    size_t i;
    size_t j;
    const char *eq = NULL;
    size_t len = strlen(arg);

    *inline_value = NULL;
    if (strncmp(arg, "--", 2) == 0) {
        eq = strchr(arg, '=');
        if (eq != NULL) {
            len = (size_t)(eq - arg);
        }
    }
    for (i = 0; i < sizeof(OPTS) / sizeof(OPTS[0]); i++) {
        for (j = 0; j < 4 && OPTS[i].names[j] != NULL; j++) {
            if (strlen(OPTS[i].names[j]) == len && strncmp(OPTS[i].names[j], arg, len) == 0) {
                if (eq != NULL) {
                    *inline_value = eq + 1;
                }
                return &OPTS[i];
            }
        }
    }
    return NULL;
}

static bool parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

dd_agent_status_t dd_agent_parse_args(int argc, char **argv, dd_agent_options_t *opts, char *msg,
                                      size_t msg_len)
{
    long port = 0;
    int i;

    if (opts == NULL || (argc > 0 && argv == NULL)) {
        return DD_AGENT_BAD_PARAMETER;
    }
    memset(opts, 0, sizeof(*opts));
    opts->format = DD_REPORT_FORMAT_JSON;
    opts->keys = DD_REPORT_KEYS_LONG;
    opts->interval_s = DD_AGENT_DEFAULT_INTERVAL_S;
    opts->list_cap = 50;
    opts->reply_timeout_s = 30.0;
    opts->keepalive_s = 60;
    for (i = 1; i < argc; i++) {
        const char *value = NULL;
        const opt_def_t *d = find_opt(argv[i], &value);
        long n = 0;
        dd_custom_source_t src;
        dd_custom_status_t cst;

        if (d == NULL) {
            dd_log_format_msg(msg, msg_len, "unknown argument '%s'", argv[i]);
            return DD_AGENT_USAGE;
        }
        if (d->has_arg && value == NULL) {
            if (i + 1 >= argc) {
                dd_log_format_msg(msg, msg_len, "%s needs a value", argv[i]);
                return DD_AGENT_USAGE;
            }
            value = argv[++i];
        } else if (!d->has_arg && value != NULL) {
            dd_log_format_msg(msg, msg_len, "%s takes no value", d->names[0]);
            return DD_AGENT_USAGE;
        }
        switch (d->id) {
        case O_ENDPOINT: opts->endpoint = value; break;
        case O_ROOTCA: opts->root_ca = value; break;
        case O_CERT: opts->cert = value; break;
        case O_KEY: opts->key = value; break;
        case O_CLIENT_ID: opts->client_id = value; break;
        case O_THING: opts->thing_name = value; break;
        case O_FORMAT:
            if (strcmp(value, "json") == 0) {
                opts->format = DD_REPORT_FORMAT_JSON;
            } else if (strcmp(value, "cbor") == 0) {
                opts->format = DD_REPORT_FORMAT_CBOR;
            } else {
                dd_log_format_msg(msg, msg_len, "--format must be json or cbor, not '%s'", value);
                return DD_AGENT_USAGE;
            }
            break;
        case O_INTERVAL:
            if (!parse_double(value, 0.0, 31536000.0, &opts->interval_s)) {
                dd_log_format_msg(msg, msg_len,
                                  "--interval must be a number of seconds >= 0, not '%s'", value);
                return DD_AGENT_USAGE;
            }
            break;
        case O_CM: opts->include_cpu = true; break;
        case O_DRYRUN: opts->dry_run = true; break;
        case O_SHORT: opts->keys = DD_REPORT_KEYS_SHORT; break;
        case O_PORT:
            if (!parse_long(value, 1, 65535, &port)) {
                dd_log_format_msg(msg, msg_len, "--port must be 1..65535, not '%s'", value);
                return DD_AGENT_USAGE;
            }
            opts->port = (uint16_t)port;
            break;
        case O_ONCE: opts->count = 1; break;
        case O_COUNT:
            if (!parse_long(value, 1, 1000000000L, &opts->count)) {
                dd_log_format_msg(msg, msg_len, "--count must be a positive number, not '%s'",
                                  value);
                return DD_AGENT_USAGE;
            }
            break;
        case O_TIMEOUT:
            if (!parse_double(value, 0.001, 31536000.0, &opts->timeout_s)) {
                dd_log_format_msg(msg, msg_len, "--timeout must be a positive number of seconds");
                return DD_AGENT_USAGE;
            }
            break;
        case O_PROC_ROOT: opts->proc_root = value; break;
        case O_CUSTOM:
            cst = dd_custom_parse_spec(value, &src, msg, msg_len);
            if (cst == DD_CUSTOM_OK) {
                cst = dd_custom_append(&opts->custom, &opts->custom_count, &src);
                if (cst != DD_CUSTOM_OK) {
                    free(src.target);
                }
            } else {
                free(src.target);
            }
            if (cst != DD_CUSTOM_OK) {
                return cst == DD_CUSTOM_NO_MEMORY ? DD_AGENT_NO_MEMORY : DD_AGENT_USAGE;
            }
            break;
        case O_CUSTOM_FILE:
            cst = dd_custom_load_config(value, &opts->custom, &opts->custom_count, msg, msg_len);
            if (cst != DD_CUSTOM_OK) {
                return cst == DD_CUSTOM_NO_MEMORY ? DD_AGENT_NO_MEMORY : DD_AGENT_USAGE;
            }
            break;
        case O_ALPN: opts->alpn = value; break;
        case O_MAX_LIST:
            if (!parse_long(value, 1, 100000, &n)) {
                dd_log_format_msg(msg, msg_len, "--max-list-size must be 1..100000, not '%s'",
                                  value);
                return DD_AGENT_USAGE;
            }
            opts->list_cap = (size_t)n;
            break;
        case O_REPLY_TIMEOUT:
            if (!parse_double(value, 0.001, 86400.0, &opts->reply_timeout_s)) {
                dd_log_format_msg(msg, msg_len,
                                  "--reply-timeout must be a positive number of seconds");
                return DD_AGENT_USAGE;
            }
            break;
        case O_KEEPALIVE:
            if (!parse_long(value, 5, 65535, &n)) {
                dd_log_format_msg(msg, msg_len, "--keepalive must be 5..65535 seconds");
                return DD_AGENT_USAGE;
            }
            opts->keepalive_s = (int)n;
            break;
        case O_VERBOSE: opts->verbose = true; break;
        case O_CLOCK: opts->clock_spec = value; break;
        case O_HELP: return DD_AGENT_HELP;
        }
    }
    if (opts->endpoint != NULL) {
        uint16_t ep_port = 0;

        if (dd_conn_split_endpoint(opts->endpoint, opts->host, sizeof(opts->host), &ep_port) !=
            DD_CONN_OK) {
            dd_log_format_msg(msg, msg_len, "--endpoint '%s' is not HOST or HOST:PORT",
                              opts->endpoint);
            return DD_AGENT_USAGE;
        }
        if (opts->port == 0) {
            opts->port = ep_port;
        }
    }
    if (opts->port == 0) {
        opts->port = DD_AGENT_DEFAULT_PORT;
    }
    if (opts->alpn == NULL && opts->port == 443) {
        /* AWS IoT serves MQTT on 443 only to clients offering this protocol. */
        opts->alpn = DD_AGENT_ALPN_AWS;
    }
    if (opts->thing_name == NULL) {
        opts->thing_name = opts->client_id;
    }
    if (!opts->dry_run) {
        const char *missing = opts->endpoint == NULL    ? "-e/--endpoint"
                              : opts->root_ca == NULL   ? "-r/--rootCA"
                              : opts->cert == NULL      ? "-c/--cert"
                              : opts->key == NULL       ? "-k/--key"
                              : opts->client_id == NULL ? "-id/--client_id"
                                                        : NULL;

        if (missing != NULL) {
            dd_log_format_msg(msg, msg_len, "%s is required (or -d/--dryrun)", missing);
            return DD_AGENT_USAGE;
        }
    }
    if (opts->thing_name != NULL && !dd_name_valid(DD_NAME_THING, opts->thing_name)) {
        dd_log_format_msg(msg, msg_len, "thing name '%s' is not valid (%s)", opts->thing_name,
                          dd_name_pattern(DD_NAME_THING));
        return DD_AGENT_USAGE;
    }
    return DD_AGENT_OK;
}

void dd_agent_options_free(dd_agent_options_t *opts)
{
    if (opts == NULL) {
        return;
    }
    dd_custom_sources_free(opts->custom, opts->custom_count);
    opts->custom = NULL;
    opts->custom_count = 0;
}

dd_agent_status_t dd_agent_topic(const char *thing, dd_report_format_t format, const char *suffix,
                                 char *buf, size_t len)
{
    int n;

    if (thing == NULL || suffix == NULL || buf == NULL) {
        return DD_AGENT_BAD_PARAMETER;
    }
    n = snprintf(buf, len, "$aws/things/%s/defender/metrics/%s%s", thing,
                 format == DD_REPORT_FORMAT_CBOR ? "cbor" : "json", suffix);
    return (n < 0 || (size_t)n >= len) ? DD_AGENT_USAGE : DD_AGENT_OK;
}

/* ---- replies ------------------------------------------------------------- */

static bool json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > 9007199254740991.0 ||
        floor(item->valuedouble) != item->valuedouble) {
        return false;
    }
    *out = (uint64_t)item->valuedouble;
    return true;
}

static dd_agent_status_t parse_reply_json(const void *payload, size_t len, dd_agent_reply_t *out)
{
    const char *text = payload;
    cJSON *root;
    const cJSON *status;
    const cJSON *details;
    const cJSON *item;
    uint64_t v;

    /* Some producers append a NUL; cJSON wants the text only. */
    while (len > 0 && text[len - 1] == '\0') {
        len--;
    }
    root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return DD_AGENT_INVALID_REPLY;
    }
    status = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (!cJSON_IsString(status) || (strcmp(status->valuestring, "ACCEPTED") != 0 &&
                                    strcmp(status->valuestring, "REJECTED") != 0)) {
        cJSON_Delete(root);
        return DD_AGENT_INVALID_REPLY;
    }
    out->accepted = strcmp(status->valuestring, "ACCEPTED") == 0;
    if (json_uint(cJSON_GetObjectItemCaseSensitive(root, "reportId"), &v)) {
        out->has_report_id = true;
        out->report_id = v;
    }
    if (json_uint(cJSON_GetObjectItemCaseSensitive(root, "timestamp"), &v)) {
        out->timestamp_ms = (int64_t)v;
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "thingName");
    if (cJSON_IsString(item)) {
        (void)snprintf(out->thing_name, sizeof(out->thing_name), "%s", item->valuestring);
    }
    details = cJSON_GetObjectItemCaseSensitive(root, "statusDetails");
    item = cJSON_GetObjectItemCaseSensitive(details, "ErrorCode");
    if (cJSON_IsString(item)) {
        (void)snprintf(out->error_code, sizeof(out->error_code), "%s", item->valuestring);
    }
    item = cJSON_GetObjectItemCaseSensitive(details, "ErrorMessage");
    if (cJSON_IsString(item)) {
        (void)snprintf(out->error_message, sizeof(out->error_message), "%s", item->valuestring);
    }
    cJSON_Delete(root);
    return DD_AGENT_OK;
}

static bool cbor_key_is(const cbor_item_t *key, const char *name)
{
    size_t n = strlen(name);

    return cbor_isa_string(key) && cbor_string_is_definite(key) && cbor_string_length(key) == n &&
           memcmp(cbor_string_handle(key), name, n) == 0;
}

static void cbor_copy_string(const cbor_item_t *v, char *dst, size_t len)
{
    size_t n;

    if (!cbor_isa_string(v) || !cbor_string_is_definite(v) || len == 0) {
        return;
    }
    n = cbor_string_length(v);
    if (n >= len) {
        n = len - 1;
    }
    memcpy(dst, cbor_string_handle(v), n);
    dst[n] = '\0';
}

static dd_agent_status_t parse_reply_cbor(const void *payload, size_t len, dd_agent_reply_t *out)
{
    struct cbor_load_result res;
    cbor_item_t *root = cbor_load(payload, len, &res);
    struct cbor_pair *pairs;
    size_t i;
    char status[16] = "";

    if (root == NULL || res.error.code != CBOR_ERR_NONE || !cbor_isa_map(root) ||
        !cbor_map_is_definite(root)) {
        if (root != NULL) {
            cbor_decref(&root);
        }
        return DD_AGENT_INVALID_REPLY;
    }
    pairs = cbor_map_handle(root);
    for (i = 0; i < cbor_map_size(root); i++) {
        const cbor_item_t *k = pairs[i].key;
        const cbor_item_t *v = pairs[i].value;

        if (cbor_key_is(k, "status")) {
            cbor_copy_string(v, status, sizeof(status));
        } else if (cbor_key_is(k, "reportId") && cbor_isa_uint(v)) {
            out->has_report_id = true;
            out->report_id = cbor_get_int(v);
        } else if (cbor_key_is(k, "timestamp") && cbor_isa_uint(v)) {
            out->timestamp_ms = (int64_t)cbor_get_int(v);
        } else if (cbor_key_is(k, "thingName")) {
            cbor_copy_string(v, out->thing_name, sizeof(out->thing_name));
        } else if (cbor_key_is(k, "statusDetails") && cbor_isa_map(v) && cbor_map_is_definite(v)) {
            struct cbor_pair *d = cbor_map_handle(v);
            size_t j;

            for (j = 0; j < cbor_map_size(v); j++) {
                if (cbor_key_is(d[j].key, "ErrorCode")) {
                    cbor_copy_string(d[j].value, out->error_code, sizeof(out->error_code));
                } else if (cbor_key_is(d[j].key, "ErrorMessage")) {
                    cbor_copy_string(d[j].value, out->error_message, sizeof(out->error_message));
                }
            }
        }
    }
    cbor_decref(&root);
    if (strcmp(status, "ACCEPTED") != 0 && strcmp(status, "REJECTED") != 0) {
        return DD_AGENT_INVALID_REPLY;
    }
    out->accepted = strcmp(status, "ACCEPTED") == 0;
    return DD_AGENT_OK;
}

dd_agent_status_t dd_agent_parse_reply(dd_report_format_t format, const void *payload, size_t len,
                                       dd_agent_reply_t *out)
{
    dd_agent_status_t st;

    if (out == NULL || (payload == NULL && len > 0)) {
        return DD_AGENT_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    if (len == 0) {
        return DD_AGENT_INVALID_REPLY;
    }
    st = format == DD_REPORT_FORMAT_CBOR ? parse_reply_cbor(payload, len, out)
                                         : parse_reply_json(payload, len, out);
    if (st != DD_AGENT_OK) {
        memset(out, 0, sizeof(*out));
    }
    return st;
}

/* ---- the run loop ---------------------------------------------------------- */

typedef struct pending {
    uint64_t report_id;
    int64_t sent_ms;
    int64_t deadline_ms;
} pending_t;

typedef struct agent {
    const dd_agent_options_t *o;
    dd_conn_params_t params;
    dd_conn_callbacks_t callbacks;
    dd_conn_t *conn;
    char topic[300];
    char topic_accepted[320];
    char topic_rejected[320];
    dd_collect_sample_t base;
    dd_devclock_sched_t sched;
    int64_t base_t; /* When base was sampled: schedule time (pipeline or monotonic ms). */
    uint64_t last_id;
    uint64_t rng;
    pending_t *pending;
    size_t npending;
    size_t cap_pending;
    dd_agent_stats_t st;
    long produced;
    uint64_t drop_streak;    /* Reports dropped since the connection went down. */
    unsigned fail_streak;    /* Failed attempts since the last connection. */
    char last_fail[160];     /* The failure last logged as a warning. */
    int64_t last_loss;       /* Monotonic ms of the last lost connection (0: none). */
    bool refused_since_loss; /* An attempt failed since then (quarantine, broker down). */
    int64_t now_ms;
    uint8_t *buf;
    FILE *out;
} agent_t;

static void pending_remove(agent_t *a, size_t i)
{
    memmove(&a->pending[i], &a->pending[i + 1], (a->npending - i - 1) * sizeof(*a->pending));
    a->npending--;
}

static bool pending_add(agent_t *a, uint64_t id)
{
    if (a->npending == a->cap_pending) {
        size_t cap = a->cap_pending == 0 ? 16 : a->cap_pending * 2;
        pending_t *p = realloc(a->pending, cap * sizeof(*p));

        if (p == NULL) {
            return false;
        }
        a->pending = p;
        a->cap_pending = cap;
    }
    a->pending[a->npending].report_id = id;
    a->pending[a->npending].sent_ms = a->now_ms;
    a->pending[a->npending].deadline_ms = a->now_ms + (int64_t)(a->o->reply_timeout_s * 1000.0);
    a->npending++;
    return true;
}

static void on_connected(dd_conn_t *conn, void *ctx)
{
    agent_t *a = ctx;
    const char *filters[2] = {a->topic_accepted, a->topic_rejected};
    dd_conn_status_t st;

    a->st.connects++;
    if (a->fail_streak > 1) {
        DD_LOG_INFO("connected to %s:%u as '%s' after %u failed attempts", a->o->host,
                    (unsigned)a->o->port, dd_conn_client_id(conn), a->fail_streak);
    } else {
        DD_LOG_INFO("connected to %s:%u as '%s'", a->o->host, (unsigned)a->o->port,
                    dd_conn_client_id(conn));
    }
    a->fail_streak = 0;
    a->last_fail[0] = '\0';
    if (a->drop_streak > 0) {
        DD_LOG_INFO("%" PRIu64 " report(s) were dropped while not connected; the next report "
                    "covers one interval",
                    a->drop_streak);
        a->drop_streak = 0;
    }
    st = dd_conn_subscribe(conn, filters, 2, 1);
    if (st != DD_CONN_OK) {
        DD_LOG_WARN("subscribing to the replies failed: %s", dd_conn_strerror(st));
    }
}

/*
 * The broker closes a connection when another client connects with the
 * same client id, and the client only sees the socket close. Two such
 * programs evict each other in turn: a second loss within a minute, with
 * an accepted connection in between and no refusal, looks like that. A
 * quarantine drops the connection too, but then refuses the next CONNECT,
 * which the log says itself.
 */
static bool takeover_likely(int64_t now, int64_t last_loss, bool refused_since_loss)
{
    return last_loss > 0 && now - last_loss < 60000 && !refused_since_loss;
}

static void on_disconnected(dd_conn_t *conn, void *ctx, bool was_connected, int reason,
                            const char *text, int64_t retry_in_ms)
{
    agent_t *a = ctx;

    if (retry_in_ms < 0) {
        DD_LOG_DEBUG("disconnected");
    } else if (was_connected) {
        if (takeover_likely(a->now_ms, a->last_loss, a->refused_since_loss)) {
            DD_LOG_WARN("connection lost (%s, %d); reconnecting in %.1f s. If another program "
                        "connects with the same client id (%s), the broker closes this "
                        "connection: is another agent or sensor using that id?",
                        text, reason, (double)retry_in_ms / 1000.0, dd_conn_client_id(conn));
        } else {
            DD_LOG_WARN("connection lost (%s, %d); reconnecting in %.1f s", text, reason,
                        (double)retry_in_ms / 1000.0);
        }
        a->last_loss = a->now_ms;
        a->refused_since_loss = false;
        a->fail_streak = 0;
        a->last_fail[0] = '\0';
    } else {
        a->fail_streak++;
        /* Refused or unreachable since the loss: a quarantine or a broker restart. */
        a->refused_since_loss = true;
        /* A refusal repeats every few seconds while it lasts: warn once per streak and reason. */
        if (strncmp(a->last_fail, text, sizeof(a->last_fail) - 1) != 0) {
            DD_LOG_WARN("connection failed (%s, %d); retrying every few seconds (at most %.0f s "
                        "apart) without logging each attempt",
                        text, reason, (double)a->params.backoff_max_ms / 1000.0);
            (void)snprintf(a->last_fail, sizeof(a->last_fail), "%s", text);
        } else {
            DD_LOG_DEBUG("connection failed again (%s, %d); retrying in %.1f s", text, reason,
                         (double)retry_in_ms / 1000.0);
        }
    }
}

static void on_message(dd_conn_t *conn, void *ctx, const char *topic, const void *payload,
                       size_t len)
{
    agent_t *a = ctx;
    dd_agent_reply_t r;
    size_t i;

    (void)conn;
    if (strcmp(topic, a->topic_accepted) != 0 && strcmp(topic, a->topic_rejected) != 0) {
        DD_LOG_DEBUG("ignoring a message on %s", topic);
        return;
    }
    if (dd_agent_parse_reply(a->o->format, payload, len, &r) != DD_AGENT_OK) {
        DD_LOG_WARN("unreadable reply on %s (%zu bytes)", topic, len);
        return;
    }
    for (i = 0; i < a->npending; i++) {
        if (r.has_report_id && a->pending[i].report_id == r.report_id) {
            break;
        }
    }
    if (i == a->npending) {
        if (r.has_report_id || r.accepted || a->npending == 0) {
            DD_LOG_DEBUG("reply for report %" PRIu64 " that is not waiting (late or not ours)",
                         r.report_id);
            return;
        }
        /* A rejection without reportId (unparseable report): it answers the oldest one. */
        i = 0;
    }
    if (r.accepted) {
        a->st.accepted++;
        DD_LOG_INFO("report %" PRIu64 " accepted (%" PRId64 " ms)", a->pending[i].report_id,
                    a->now_ms - a->pending[i].sent_ms);
    } else {
        a->st.rejected++;
        DD_LOG_WARN("report %" PRIu64 " rejected: %s: %s", a->pending[i].report_id,
                    r.error_code[0] ? r.error_code : "(no code)",
                    r.error_message[0] ? r.error_message : "(no message)");
    }
    pending_remove(a, i);
}

static void expire_pending(agent_t *a)
{
    while (a->npending > 0 && a->pending[0].deadline_ms <= a->now_ms) {
        a->st.missing++;
        DD_LOG_WARN("no reply to report %" PRIu64 " within %.1f s", a->pending[0].report_id,
                    a->o->reply_timeout_s);
        pending_remove(a, 0);
    }
}

static uint64_t next_report_id(agent_t *a)
{
    int64_t wall = dd_clock_wall_ms();
    uint64_t id = wall > 0 ? (uint64_t)wall : 1;

    if (id <= a->last_id) {
        id = a->last_id + 1;
    }
    a->last_id = id;
    return id;
}

/* Appends cpu_usage and the configured sources to @p r. */
static void add_custom(agent_t *a, const dd_collect_sample_t *cur, dd_report_t *r)
{
    size_t want = a->o->custom_count + (a->o->include_cpu ? 1 : 0);
    size_t i;

    if (want == 0) {
        return;
    }
    r->custom = calloc(want, sizeof(*r->custom));
    if (r->custom == NULL) {
        DD_LOG_WARN("out of memory: custom metrics left out");
        return;
    }
    if (a->o->include_cpu) {
        double pct = 0.0;

        if (dd_collect_cpu_percent(&a->base, cur, &pct) == DD_COLLECT_OK) {
            dd_report_custom_t *m = &r->custom[r->custom_count++];

            (void)snprintf(m->name, sizeof(m->name), "cpu_usage");
            m->kind = DD_CUSTOM_NUMBER;
            m->number = pct;
        } else {
            DD_LOG_WARN("cpu_usage: no cpu line in %s/stat",
                        a->o->proc_root ? a->o->proc_root : "/proc");
        }
    }
    for (i = 0; i < a->o->custom_count; i++) {
        char msg[256] = "";
        dd_custom_status_t st =
            dd_custom_read(&a->o->custom[i], 0, &r->custom[r->custom_count], msg, sizeof(msg));

        if (st == DD_CUSTOM_OK) {
            r->custom_count++;
        } else {
            DD_LOG_WARN("custom metric %s left out of this report: %s", a->o->custom[i].name,
                        msg[0] ? msg : dd_custom_strerror(st));
        }
    }
    r->has_custom_metrics = r->custom_count > 0;
}

static void print_report(agent_t *a, const uint8_t *buf, size_t len)
{
    size_t i;

    if (a->o->format == DD_REPORT_FORMAT_JSON) {
        (void)fwrite(buf, 1, len, a->out);
    } else {
        for (i = 0; i < len; i++) {
            (void)fprintf(a->out, "%02x", buf[i]);
        }
    }
    (void)fputc('\n', a->out);
    (void)fflush(a->out);
}

/* "22,8883" (at most 8 ports, then "..."), "none" for an empty list. */
static void format_ports(const dd_report_ports_t *p, char *buf, size_t len)
{
    size_t i;
    size_t used = 0;

    buf[0] = '\0';
    if (p->count == 0) {
        (void)snprintf(buf, len, "none");
        return;
    }
    for (i = 0; i < p->count && i < 8; i++) {
        int n =
            snprintf(buf + used, len - used, "%s%u", i > 0 ? "," : "", (unsigned)p->items[i].port);

        if (n < 0 || (size_t)n >= len - used) {
            return;
        }
        used += (size_t)n;
    }
    if (p->total > i) {
        (void)snprintf(buf + used, len - used, ",... (%" PRIu64 ")", p->total);
    }
}

/* What a report measured, for the log: one line a learner can compare with the profile. */
static void format_measured(const agent_t *a, const dd_report_t *r, double span_s, char *buf,
                            size_t len)
{
    char tcp[96];
    char udp[96];
    bool scaled = a->sched.aligned && a->o->clock->clock.mode == DD_CLOCK_SCALED;

    format_ports(&r->tcp_ports, tcp, sizeof(tcp));
    format_ports(&r->udp_ports, udp, sizeof(udp));
    (void)snprintf(buf, len,
                   "%.0f%s s: bytes out %" PRIu64 ", bytes in %" PRIu64 ", packets out %" PRIu64
                   ", packets in %" PRIu64 ", %" PRIu64 " connection(s), listening TCP %s, UDP %s",
                   span_s, scaled ? " pipeline" : "", r->net.bytes_out, r->net.bytes_in,
                   r->net.packets_out, r->net.packets_in, r->tcp_conns.total, tcp, udp);
}

/* Schedule time now: pipeline ms when aligned, monotonic ms otherwise. */
static int64_t sched_time(const agent_t *a)
{
    return a->sched.aligned ? dd_clock_now_ms(&a->o->clock->clock) : a->now_ms;
}

/*
 * One interval is over: sample, and publish the deltas since the previous
 * sample - or, when not connected, drop them. Either way the new sample is
 * the next baseline, so every report covers one interval, like the Python
 * agent's collector (it replaces its previous sample on every collection,
 * whether or not the report was delivered).
 */
static void cycle(agent_t *a, int64_t slot)
{
    dd_collect_sample_t cur;
    dd_collect_status_t cst;
    dd_report_t r;
    dd_report_status_t rst;
    size_t len = 0;
    bool connected = a->conn != NULL && dd_conn_state(a->conn) == DD_CONN_CONNECTED;
    int64_t t = a->sched.aligned ? slot : a->now_ms;
    double span_s = (double)(t - a->base_t) / 1000.0;
    char measured[512];

    cst = dd_collect_sample(a->o->proc_root, &cur);
    if (cst != DD_COLLECT_OK) {
        DD_LOG_ERROR("reading metrics from %s failed: %s",
                     a->o->proc_root ? a->o->proc_root : "/proc", dd_collect_strerror(cst));
        return;
    }
    memset(&r, 0, sizeof(r));
    cst = dd_collect_build_report(&a->base, &cur, a->o->list_cap, &a->rng, next_report_id(a), &r);
    if (cst != DD_COLLECT_OK) {
        DD_LOG_ERROR("building the report failed: %s", dd_collect_strerror(cst));
        dd_collect_sample_free(&cur);
        return;
    }
    format_measured(a, &r, span_s, measured, sizeof(measured));
    if (!a->o->dry_run && !connected) {
        a->st.dropped++;
        if (a->drop_streak++ == 0) {
            DD_LOG_WARN("not connected: report %" PRIu64 " dropped (measured over %s); reports "
                        "due while disconnected are not sent, the next one covers one interval",
                        r.report_id, measured);
        } else {
            DD_LOG_DEBUG("not connected: report %" PRIu64 " dropped (measured over %s)",
                         r.report_id, measured);
        }
        goto next_baseline;
    }
    add_custom(a, &cur, &r);
    rst = dd_report_encode(&r, a->o->format, a->o->keys, a->buf, DD_REPORT_MAX_PAYLOAD, &len);
    if (rst != DD_REPORT_OK) {
        DD_LOG_ERROR("encoding the report failed: %s", dd_report_strerror(rst));
        goto next_baseline;
    }
    if (a->o->dry_run) {
        print_report(a, a->buf, len);
        a->produced++;
        DD_LOG_INFO("report %" PRIu64 " printed (%zu bytes), measured over %s", r.report_id, len,
                    measured);
    } else {
        int mid = 0;
        dd_conn_status_t pst = dd_conn_publish(a->conn, a->topic, a->buf, len, 1, &mid);

        if (pst != DD_CONN_OK) {
            DD_LOG_WARN("publishing report %" PRIu64 " failed: %s; it is dropped (measured over "
                        "%s)",
                        r.report_id, dd_conn_strerror(pst), measured);
            a->st.dropped++;
            goto next_baseline;
        }
        if (!pending_add(a, r.report_id)) {
            DD_LOG_WARN("out of memory: the reply to report %" PRIu64 " will not be tracked",
                        r.report_id);
        }
        a->st.published++;
        a->produced++;
        DD_LOG_INFO("report %" PRIu64 " published to %s (%zu bytes), measured over %s", r.report_id,
                    a->topic, len, measured);
    }
next_baseline:
    dd_report_free(&r);
    dd_collect_sample_free(&a->base);
    a->base = cur;
    a->base_t = t;
}

/* Says when the first report comes, so that a run does not look stuck for a whole interval. */
static void announce(const agent_t *a)
{
    const dd_agent_options_t *o = a->o;
    double wait_s = (double)dd_devclock_sched_wait_ms(&a->sched, a->now_ms) / 1000.0;
    const char *what = o->count == 1 ? "one report" : "the first report";
    char at[64];

    if (a->sched.aligned) {
        (void)dd_devclock_stamp(NULL, a->sched.next_ms, at, sizeof(at));
        DD_LOG_INFO("measuring until pipeline time %s (in %.1f real s), then publishing %s; "
                    "reports at pipeline multiples of %g s",
                    at, wait_s, what, o->interval_s);
    } else {
        DD_LOG_INFO("measuring for %.1f s, then publishing %s%s", wait_s, what,
                    o->count == 1 ? "" : "; a report every interval");
    }
}

static int64_t min64(int64_t x, int64_t y)
{
    return x < y ? x : y;
}

static int64_t max64(int64_t x, int64_t y)
{
    return x > y ? x : y;
}

/* `ddlocal clock scale X` while the agent runs: reports keep their pipeline times, and the real
 * wait to the next one follows the new rate (dd_devclock_follow(): about a second's latency). */
static bool follow_clock(agent_t *a, const dd_agent_options_t *opts)
{
    char msg[400];

    if (opts->clock == NULL || !dd_devclock_follow(opts->clock, a->now_ms, msg, sizeof(msg))) {
        return false;
    }
    DD_LOG_INFO("%s", msg);
    return true;
}

static void pump(agent_t *a, int timeout_ms)
{
    struct pollfd pfd;
    int fd = a->conn == NULL ? -1 : dd_conn_fd(a->conn);
    int rc;

    if (timeout_ms < 0) {
        timeout_ms = 0;
    }
    if (fd < 0) {
        if (timeout_ms > 0) {
            (void)poll(NULL, 0, timeout_ms);
        }
        return;
    }
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (dd_conn_want_write(a->conn)) {
        pfd.events |= POLLOUT;
    }
    rc = poll(&pfd, 1, timeout_ms);
    a->now_ms = dd_clock_mono_ms();
    if (rc > 0) {
        dd_conn_io(a->conn, (unsigned)pfd.revents, a->now_ms);
    }
}

static bool finished(const agent_t *a)
{
    return a->o->count > 0 && a->produced >= a->o->count && a->npending == 0;
}

dd_agent_status_t dd_agent_run(const dd_agent_options_t *opts, volatile sig_atomic_t *stop,
                               FILE *out, dd_agent_stats_t *stats)
{
    agent_t a;
    dd_collect_status_t cst;
    dd_agent_status_t result = DD_AGENT_OK;
    int64_t interval_ms;
    int64_t next_tick;
    int64_t give_up = INT64_MAX;
    int64_t start_ms;

    if (opts == NULL || stop == NULL) {
        return DD_AGENT_BAD_PARAMETER;
    }
    memset(&a, 0, sizeof(a));
    a.o = opts;
    a.out = out != NULL ? out : stdout;
    a.now_ms = dd_clock_mono_ms();
    start_ms = a.now_ms;
    a.rng = (uint64_t)dd_clock_wall_ms() ^ ((uint64_t)getpid() << 32);
    a.buf = malloc(DD_REPORT_MAX_PAYLOAD);
    if (a.buf == NULL) {
        return DD_AGENT_NO_MEMORY;
    }
    if (!opts->dry_run || opts->thing_name != NULL) {
        const char *thing = opts->thing_name != NULL ? opts->thing_name : "";

        if (dd_agent_topic(thing, opts->format, "", a.topic, sizeof(a.topic)) != DD_AGENT_OK ||
            dd_agent_topic(thing, opts->format, "/accepted", a.topic_accepted,
                           sizeof(a.topic_accepted)) != DD_AGENT_OK ||
            dd_agent_topic(thing, opts->format, "/rejected", a.topic_rejected,
                           sizeof(a.topic_rejected)) != DD_AGENT_OK) {
            free(a.buf);
            return DD_AGENT_SETUP_FAILED;
        }
    }
    cst = dd_collect_sample(opts->proc_root, &a.base);
    if (cst != DD_COLLECT_OK) {
        DD_LOG_ERROR("cannot read metrics from %s: %s", opts->proc_root ? opts->proc_root : "/proc",
                     dd_collect_strerror(cst));
        free(a.buf);
        return DD_AGENT_SETUP_FAILED;
    }
    if (!opts->dry_run) {
        dd_conn_status_t st;

        dd_conn_lib_init();
        a.callbacks.on_connected = on_connected;
        a.callbacks.on_disconnected = on_disconnected;
        a.callbacks.on_message = on_message;
        a.params.host = opts->host;
        a.params.port = opts->port;
        a.params.keepalive_s = opts->keepalive_s;
        /* A persistent session, like AWS's agents: replies queued while we reconnect. */
        a.params.clean_session = false;
        a.params.ca_file = opts->root_ca;
        a.params.cert_file = opts->cert;
        a.params.key_file = opts->key;
        a.params.alpn = (opts->alpn != NULL && opts->alpn[0] != '\0') ? opts->alpn : NULL;
        /* A released device is back within seconds, whatever the time scale. */
        a.params.backoff_max_ms = DD_AGENT_BACKOFF_MAX_MS;
        a.params.callbacks = &a.callbacks;
        st = dd_conn_create(&a.params, opts->client_id, NULL, &a, a.rng, &a.conn);
        if (st != DD_CONN_OK) {
            DD_LOG_ERROR("cannot set up the connection: %s (check -r/-c/-k: %s, %s, %s)",
                         dd_conn_strerror(st), opts->root_ca, opts->cert, opts->key);
            dd_collect_sample_free(&a.base);
            free(a.buf);
            return DD_AGENT_SETUP_FAILED;
        }
        DD_LOG_INFO("reporting for thing %s every %g s to %s:%u%s%s", opts->thing_name,
                    opts->interval_s, opts->host, (unsigned)opts->port,
                    a.params.alpn ? " ALPN " : "", a.params.alpn ? a.params.alpn : "");
        (void)dd_conn_start(a.conn, a.now_ms);
    }
    interval_ms = (int64_t)llround(opts->interval_s * 1000.0);
    if (interval_ms < 1) {
        interval_ms = 1;
    }
    (void)dd_devclock_sched_init(&a.sched, opts->clock, interval_ms, 0, a.now_ms, interval_ms);
    a.base_t = sched_time(&a);
    next_tick = a.now_ms;
    announce(&a);
    if (opts->count > 0) {
        /* A counted run is a script's step: it must end even when the broker never answers. */
        double real_interval = opts->interval_s;
        double limit;

        if (a.sched.aligned && dd_clock_mode(&opts->clock->clock) == DD_CLOCK_SCALED) {
            real_interval /= dd_clock_scale(&opts->clock->clock);
        }
        /* Aligned: up to one more interval until the first multiple. */
        limit = opts->timeout_s > 0
                    ? opts->timeout_s
                    : 60.0 + (double)(opts->count + (a.sched.aligned ? 1 : 0)) * real_interval +
                          opts->reply_timeout_s;
        give_up = a.now_ms + (int64_t)(limit * 1000.0);
    }
    while (!*stop && !finished(&a)) {
        int64_t wake;
        int64_t slot = 0;
        int64_t missed = 0;
        bool reporting;

        a.now_ms = dd_clock_mono_ms();
        if (a.sched.aligned && follow_clock(&a, opts) && opts->count > 0 && opts->timeout_s <= 0) {
            /* A slower clock: the reports still to come need longer than the start foresaw. */
            double real_interval = opts->interval_s;
            if (dd_clock_mode(&opts->clock->clock) == DD_CLOCK_SCALED) {
                real_interval /= dd_clock_scale(&opts->clock->clock);
            }
            give_up =
                max64(give_up,
                      a.now_ms +
                          (int64_t)((60.0 + (double)(opts->count - a.produced + 1) * real_interval +
                                     opts->reply_timeout_s) *
                                    1000.0));
        }
        if (a.now_ms >= give_up) {
            DD_LOG_ERROR("giving up after %.1f s: %ld of %ld report(s) done",
                         (double)(give_up - start_ms) / 1000.0, a.produced, opts->count);
            break;
        }
        reporting = opts->count == 0 || a.produced < opts->count;
        if (reporting && dd_devclock_sched_due(&a.sched, a.now_ms, &slot, &missed)) {
            if (missed > 0) {
                /* Suspended or stalled: the next report covers the whole gap, said here. */
                DD_LOG_WARN("%" PRId64 " report time(s) passed while the agent could not run",
                            missed);
            }
            cycle(&a, slot);
            if (finished(&a)) {
                break;
            }
        }
        expire_pending(&a);
        if (a.conn != NULL && a.now_ms >= next_tick) {
            next_tick = dd_conn_tick(a.conn, a.now_ms);
        }
        wake = a.now_ms + 1000;
        if (reporting) {
            wake = min64(wake, a.now_ms + dd_devclock_sched_wait_ms(&a.sched, a.now_ms));
        }
        if (a.conn != NULL) {
            wake = min64(wake, next_tick);
        }
        if (a.npending > 0) {
            wake = min64(wake, a.pending[0].deadline_ms);
        }
        wake = min64(wake, give_up);
        pump(&a, (int)(wake - a.now_ms));
    }
    if (a.conn != NULL) {
        int64_t deadline = dd_clock_mono_ms() + 2000;

        dd_conn_stop(a.conn, dd_clock_mono_ms());
        while (dd_conn_state(a.conn) == DD_CONN_CLOSING && dd_clock_mono_ms() < deadline) {
            pump(&a, 100);
            (void)dd_conn_tick(a.conn, dd_clock_mono_ms());
        }
        dd_conn_destroy(a.conn);
    }
    if (a.npending > 0) {
        DD_LOG_WARN("%zu report(s) still without a reply at exit", a.npending);
        a.st.missing += a.npending;
    }
    if (!opts->dry_run) {
        DD_LOG_INFO("%" PRIu64 " report(s) published, %" PRIu64 " accepted, %" PRIu64
                    " rejected, %" PRIu64 " without reply, %" PRIu64 " dropped while disconnected",
                    a.st.published, a.st.accepted, a.st.rejected, a.st.missing, a.st.dropped);
    }
    if (opts->count > 0 &&
        (a.produced < opts->count || (!opts->dry_run && a.st.accepted < (uint64_t)opts->count))) {
        result = DD_AGENT_INCOMPLETE;
    }
    if (stats != NULL) {
        *stats = a.st;
    }
    free(a.pending);
    dd_collect_sample_free(&a.base);
    free(a.buf);
    return result;
}

const char *dd_agent_strerror(dd_agent_status_t status)
{
    switch (status) {
    case DD_AGENT_OK: return "ok";
    case DD_AGENT_BAD_PARAMETER: return "bad parameter";
    case DD_AGENT_USAGE: return "bad command line";
    case DD_AGENT_HELP: return "help requested";
    case DD_AGENT_SETUP_FAILED: return "setup failed";
    case DD_AGENT_INCOMPLETE: return "not every report was accepted";
    case DD_AGENT_INVALID_REPLY: return "not a Device Defender reply";
    case DD_AGENT_NO_MEMORY: return "out of memory";
    }
    return "unknown status";
}
