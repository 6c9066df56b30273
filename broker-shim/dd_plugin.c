/*
 * ddlocal_shim.so: the mosquitto 2.0 plugin (v5 API) that makes the broker
 * behave like AWS IoT Core's data plane for Device Defender: identity from
 * the client certificate, IoT policies, metering, live registry changes.
 *
 * A thin adapter: each broker event becomes one call of the engine in
 * dd_shim.h and each answer a MOSQ_ERR_* code. Only this file includes the
 * broker's headers (broker -> plugin -> mosquitto.h, in that order).
 *
 * Build: CMake target ddlocal_shim (MODULE, no -lmosquitto: the broker API
 * symbols resolve from /usr/sbin/mosquitto at dlopen).
 *
 * Config (written by `ddlocal up`, see dd_broker_conf.h):
 *   per_listener_settings false
 *   allow_anonymous false
 *   plugin /path/to/ddlocal_shim.so
 *   plugin_opt_db_path /data/ddlocal.db          registry database (read once)
 *   plugin_opt_clock scaled:60:ORIGIN:ORIGIN      pipeline clock (dd_clock spec)
 *   plugin_opt_region us-east-1                    ARN region
 *   plugin_opt_account 123456789012                ARN account
 *   plugin_opt_single_cert_identity true           a cert attached to one thing is that thing
 *   plugin_opt_kick_on_deny true                   disconnect a device on a denied publish
 *   plugin_opt_metering_topic $ddlocal/metering/v1
 *   plugin_opt_metering_flush_ms 100
 *   plugin_opt_metering_buffer_bytes 65536
 *   plugin_opt_reserved_client_prefix ddlocal       client ids devices may not use
 *   plugin_opt_log_level info|debug
 * and every listener with `require_certificate true` (no use_identity_as_username).
 */
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mosquitto.h>

#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dd_clock.h"
#include "dd_control.h"
#include "dd_log.h"
#include "dd_pki.h"
#include "dd_shim.h"

static mosquitto_plugin_id_t *g_id = NULL;
static dd_shim_t *g_shim = NULL;
static bool g_stamp_pipeline = false;

static void log_to_broker(dd_log_level_t level, const char *message, void *ctx)
{
    int mosq_level = MOSQ_LOG_INFO;

    (void)ctx;
    switch (level) {
    case DD_LOG_LEVEL_ERROR: mosq_level = MOSQ_LOG_ERR; break;
    case DD_LOG_LEVEL_WARN: mosq_level = MOSQ_LOG_WARNING; break;
    case DD_LOG_LEVEL_INFO: mosq_level = MOSQ_LOG_INFO; break;
    case DD_LOG_LEVEL_DEBUG: mosq_level = MOSQ_LOG_DEBUG; break;
    }
    /* mosquitto stamps the real time; a scaled or manual pipeline time is added, as in ddlocald.log. */
    if (g_stamp_pipeline && g_shim != NULL) {
        char when[32];
        if (dd_log_format_iso(dd_shim_now_ms(g_shim), when, sizeof(when)) == DD_LOG_OK) {
            mosquitto_log_printf(mosq_level, "ddlocal_shim: [pipeline %s] %s", when, message);
            return;
        }
    }
    mosquitto_log_printf(mosq_level, "ddlocal_shim: %s", message);
}

static int io_publish(void *ctx, const char *client_id, const char *topic, const void *payload,
                      size_t len, int qos)
{
    (void)ctx;
    /* The broker copies the payload; clientid NULL routes to (possibly offline) subscribers. */
    return mosquitto_broker_publish_copy(client_id, topic, (int)len, payload, qos, false, NULL) ==
                   MOSQ_ERR_SUCCESS
               ? 0
               : -1;
}

static int io_kick(void *ctx, const char *client_id)
{
    (void)ctx;
    return mosquitto_kick_client_by_clientid(client_id, false) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    dd_shim_connect_info_t info;
    char cert_id[DD_PKI_CERT_ID_LEN + 1];
    X509 *cert;

    (void)event;
    (void)userdata;
    memset(&info, 0, sizeof(info));
    info.client = ed->client;
    info.client_id = mosquitto_client_id(ed->client);
    info.address = mosquitto_client_address(ed->client);
    info.clean_session = mosquitto_client_clean_session(ed->client);
    /* A new reference: ours to free. NULL without require_certificate. */
    cert = mosquitto_client_certificate(ed->client);
    if (cert != NULL) {
        if (dd_pki_cert_id_from_x509(cert, cert_id) == DD_PKI_OK) {
            info.cert_id = cert_id;
        }
        X509_free(cert);
    }
    return dd_shim_on_connect(g_shim, &info, dd_clock_mono_ms()) == DD_SHIM_OK ? MOSQ_ERR_SUCCESS
                                                                               : MOSQ_ERR_AUTH;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    dd_shim_access_t access;

    (void)event;
    (void)userdata;
    switch (ed->access) {
    case MOSQ_ACL_READ: access = DD_SHIM_ACCESS_READ; break;
    case MOSQ_ACL_WRITE: access = DD_SHIM_ACCESS_WRITE; break;
    case MOSQ_ACL_SUBSCRIBE: access = DD_SHIM_ACCESS_SUBSCRIBE; break;
    case MOSQ_ACL_UNSUBSCRIBE: access = DD_SHIM_ACCESS_UNSUBSCRIBE; break;
    default: return MOSQ_ERR_ACL_DENIED;
    }
    return dd_shim_on_acl(g_shim, ed->client, mosquitto_client_id(ed->client), access, ed->topic,
                          ed->payloadlen, ed->retain, dd_clock_mono_ms()) == DD_SHIM_OK
               ? MOSQ_ERR_SUCCESS
               : MOSQ_ERR_ACL_DENIED;
}

static int on_control(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_control *ed = event_data;
    dd_shim_status_t st;

    (void)event;
    (void)userdata;
    st = dd_shim_on_control(g_shim, ed->client, mosquitto_client_id(ed->client), ed->topic,
                            ed->payload, ed->payloadlen, dd_clock_mono_ms());
    /* A refused control message keeps the connection: the sender gets a response if it asked. */
    return st == DD_SHIM_DENIED ? MOSQ_ERR_ACL_DENIED : MOSQ_ERR_SUCCESS;
}

/* Fleet provisioning's renamed requests and one-client replies (dd_shim_on_message). The broker
 * takes the new topic as is and does not free the old one: that is the plugin's job. */
static int on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ed = event_data;
    char topic[DD_SHIM_TOPIC_MAX + 2 * DD_CONTROL_PROV_CLIENT_ID_MAX + 64];
    bool renamed = false;
    char *copy;

    (void)event;
    (void)userdata;
    /* Every PUBLISH comes here: only '$' topics can be provisioning's, so the rest return
     * before the client id lookup and the clock read. */
    if (ed->topic == NULL || ed->topic[0] != '$') {
        return MOSQ_ERR_SUCCESS;
    }
    if (dd_shim_on_message(g_shim, ed->client, mosquitto_client_id(ed->client), ed->topic,
                           ed->payload, ed->payloadlen, topic, sizeof(topic), &renamed,
                           dd_clock_mono_ms()) != DD_SHIM_OK ||
        !renamed) {
        return MOSQ_ERR_SUCCESS;
    }
    copy = mosquitto_strdup(topic);
    if (copy != NULL) {
        mosquitto_free(ed->topic);
        ed->topic = copy;
    }
    return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)event_data;
    (void)userdata;
    dd_shim_on_tick(g_shim, dd_clock_mono_ms());
    return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = event_data;

    (void)event;
    (void)userdata;
    dd_shim_on_disconnect(g_shim, ed->client, mosquitto_client_id(ed->client), dd_clock_mono_ms());
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    int i;

    for (i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == 5) {
            return 5;
        }
    }
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
    dd_shim_config_t cfg;
    dd_shim_io_t io = {io_publish, io_kick, NULL};
    char err[512] = "";
    int i;

    dd_log_set_sink(log_to_broker, NULL);
    dd_shim_config_defaults(&cfg);
    for (i = 0; i < option_count; i++) {
        if (dd_shim_config_set(&cfg, options[i].key, options[i].value, err, sizeof(err)) !=
            DD_SHIM_OK) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "ddlocal_shim: plugin_opt_%s: %s", options[i].key,
                                 err);
            return MOSQ_ERR_INVAL;
        }
    }
    if (cfg.debug) {
        dd_log_set_level(DD_LOG_LEVEL_DEBUG);
    }
    g_stamp_pipeline = cfg.clock_spec != NULL && strncmp(cfg.clock_spec, "real", 4) != 0;
    if (dd_shim_create(&cfg, &io, &g_shim, err, sizeof(err)) != DD_SHIM_OK) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ddlocal_shim: %s", err);
        return MOSQ_ERR_UNKNOWN;
    }
    g_id = identifier;
    *userdata = NULL;
    if (mosquitto_callback_register(g_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL) !=
            MOSQ_ERR_SUCCESS ||
        mosquitto_callback_register(g_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL) !=
            MOSQ_ERR_SUCCESS ||
        mosquitto_callback_register(g_id, MOSQ_EVT_CONTROL, on_control, DD_CONTROL_TOPIC_REGISTRY,
                                    NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_callback_register(g_id, MOSQ_EVT_CONTROL, on_control, DD_CONTROL_TOPIC_CLOCK,
                                    NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_callback_register(g_id, MOSQ_EVT_CONTROL, on_control, DD_CONTROL_TOPIC_FLUSH,
                                    NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_callback_register(g_id, MOSQ_EVT_CONTROL, on_control, DD_CONTROL_TOPIC_KICK,
                                    NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_callback_register(g_id, MOSQ_EVT_TICK, on_tick, NULL, NULL) != MOSQ_ERR_SUCCESS ||
        mosquitto_callback_register(g_id, MOSQ_EVT_MESSAGE, on_message, NULL, NULL) !=
            MOSQ_ERR_SUCCESS ||
        mosquitto_callback_register(g_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, NULL) !=
            MOSQ_ERR_SUCCESS) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ddlocal_shim: cannot register the broker callbacks");
        return MOSQ_ERR_UNKNOWN;
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "ddlocal_shim: loaded");
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    (void)userdata;
    (void)options;
    (void)option_count;
    if (g_id != NULL) {
        (void)mosquitto_callback_unregister(g_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
        (void)mosquitto_callback_unregister(g_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
        (void)mosquitto_callback_unregister(g_id, MOSQ_EVT_CONTROL, on_control,
                                            DD_CONTROL_TOPIC_REGISTRY);
        (void)mosquitto_callback_unregister(g_id, MOSQ_EVT_CONTROL, on_control,
                                            DD_CONTROL_TOPIC_CLOCK);
        (void)mosquitto_callback_unregister(g_id, MOSQ_EVT_CONTROL, on_control,
                                            DD_CONTROL_TOPIC_FLUSH);
        (void)mosquitto_callback_unregister(g_id, MOSQ_EVT_CONTROL, on_control,
                                            DD_CONTROL_TOPIC_KICK);
        (void)mosquitto_callback_unregister(g_id, MOSQ_EVT_TICK, on_tick, NULL);
        (void)mosquitto_callback_unregister(g_id, MOSQ_EVT_MESSAGE, on_message, NULL);
        (void)mosquitto_callback_unregister(g_id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
    }
    dd_shim_destroy(g_shim);
    g_shim = NULL;
    dd_log_set_sink(NULL, NULL);
    return MOSQ_ERR_SUCCESS;
}
