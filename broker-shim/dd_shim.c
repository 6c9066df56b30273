#include "dd_shim.h"

#include "dd_clock.h"
#include "dd_control.h"
#include "dd_log.h"
#include "dd_map.h"
#include "dd_names.h"
#include "dd_policy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* ---- types ------------------------------------------------------------------ */

typedef enum conn_state {
    CONN_LIVE = 0, /* normal */
    CONN_REVOKED,  /* lost its rights at runtime: deny and count, kick */
    CONN_KICKING   /* kick-on-deny pending: deny silently */
} conn_state_t;

/* One client session the broker knows, online or not. */
typedef struct conn {
    const void *client; /* the broker's handle; compared, never dereferenced */
    char *client_id;
    bool online;
    bool persistent; /* clean session false: the broker keeps its session */
    bool service;
    conn_state_t state;
    char cert_id[DD_NAME_MAX + 1];
    char thing[DD_NAME_MAX + 1]; /* "" when the connection is no thing */
    uint64_t policy_gen;         /* registry generation of @ref policies */
    const dd_policy_t **policies;
    size_t npolicies;
    int64_t offline_since_ms;
} conn_t;

typedef struct kick {
    char *client_id;
    const void *client;
} kick_t;

struct dd_shim {
    dd_shim_config_t cfg;
    char *metering_topic; /* owned copies of cfg strings used after create */
    char *reserved_prefix;
    dd_shim_io_t io;
    dd_arn_ctx_t arn;
    dd_clock_t clock;
    dd_identity_config_t idcfg;
    dd_shimreg_t reg;
    dd_map_t conns; /* client id -> conn_t* */
    kick_t *kicks;
    size_t nkicks;
    size_t capkicks;
    dd_meter_t meter;
    bool meter_ok;
    dd_shim_stats_t stats;
    int64_t last_gc_ms;
};

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_len == 0) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* ---- options ------------------------------------------------------------------ */

void dd_shim_config_defaults(dd_shim_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->single_cert_identity = true;
    cfg->kick_on_deny = true;
    cfg->metering_topic = "$ddlocal/metering/v1";
    cfg->metering_flush_ms = DD_METER_DEFAULT_FLUSH_MS;
    cfg->metering_buffer_bytes = DD_METER_DEFAULT_BUFFER;
    cfg->reserved_prefix = DD_IDENTITY_RESERVED_PREFIX;
}

static bool parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "on") == 0 || strcmp(v, "1") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "off") == 0 || strcmp(v, "0") == 0) {
        *out = false;
        return true;
    }
    return false;
}

static bool parse_long(const char *v, long long min, long long max, long long *out)
{
    char *end = NULL;
    long long n;

    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        return false;
    }
    *out = n;
    return true;
}

dd_shim_status_t dd_shim_config_set(dd_shim_config_t *cfg, const char *key, const char *value,
                                    char *err, size_t err_len)
{
    long long n;

    set_err(err, err_len, "%s", "");
    if (cfg == NULL || key == NULL || value == NULL) {
        return DD_SHIM_BAD_PARAMETER;
    }
    if (strcmp(key, "db_path") == 0) {
        cfg->db_path = value;
    } else if (strcmp(key, "clock") == 0) {
        dd_clock_t c;

        if (dd_clock_parse(&c, value) != DD_CLOCK_OK) {
            set_err(err, err_len,
                    "plugin_opt_clock: \"%s\" is not a clock spec (real, "
                    "scaled:..., manual:<ms>)",
                    value);
            return DD_SHIM_BAD_PARAMETER;
        }
        cfg->clock_spec = value;
    } else if (strcmp(key, "region") == 0) {
        cfg->region = value;
    } else if (strcmp(key, "account") == 0) {
        cfg->account = value;
    } else if (strcmp(key, "single_cert_identity") == 0) {
        if (!parse_bool(value, &cfg->single_cert_identity)) {
            set_err(err, err_len, "plugin_opt_single_cert_identity must be true or false");
            return DD_SHIM_BAD_PARAMETER;
        }
    } else if (strcmp(key, "kick_on_deny") == 0) {
        if (!parse_bool(value, &cfg->kick_on_deny)) {
            set_err(err, err_len, "plugin_opt_kick_on_deny must be true or false");
            return DD_SHIM_BAD_PARAMETER;
        }
    } else if (strcmp(key, "metering_topic") == 0) {
        if (value[0] == '\0' || strchr(value, '+') != NULL || strchr(value, '#') != NULL) {
            set_err(err, err_len, "plugin_opt_metering_topic must be a topic name");
            return DD_SHIM_BAD_PARAMETER;
        }
        cfg->metering_topic = value;
    } else if (strcmp(key, "metering_flush_ms") == 0) {
        if (!parse_long(value, 1, 3600000, &n)) {
            set_err(err, err_len, "plugin_opt_metering_flush_ms must be 1..3600000");
            return DD_SHIM_BAD_PARAMETER;
        }
        cfg->metering_flush_ms = n;
    } else if (strcmp(key, "metering_buffer_bytes") == 0) {
        if (!parse_long(value, DD_METERING_MIN_BUFFER, DD_METER_MAX_BUFFER, &n)) {
            set_err(err, err_len, "plugin_opt_metering_buffer_bytes must be %d..%u",
                    DD_METERING_MIN_BUFFER, DD_METER_MAX_BUFFER);
            return DD_SHIM_BAD_PARAMETER;
        }
        cfg->metering_buffer_bytes = (size_t)n;
    } else if (strcmp(key, "reserved_client_prefix") == 0) {
        cfg->reserved_prefix = value;
    } else if (strcmp(key, "log_level") == 0) {
        if (strcmp(value, "debug") == 0) {
            cfg->debug = true;
        } else if (strcmp(value, "info") == 0) {
            cfg->debug = false;
        } else {
            set_err(err, err_len, "plugin_opt_log_level must be info or debug");
            return DD_SHIM_BAD_PARAMETER;
        }
    } else {
        set_err(err, err_len, "unknown option plugin_opt_%s", key);
        return DD_SHIM_BAD_PARAMETER;
    }
    return DD_SHIM_OK;
}

/* ---- connection records --------------------------------------------------------- */

static void conn_free(conn_t *c)
{
    if (c == NULL) {
        return;
    }
    free(c->policies);
    free(c->client_id);
    free(c);
}

/* The record of this exact client: the same id and the same broker handle. */
static conn_t *find_conn(const dd_shim_t *s, const void *client, const char *client_id)
{
    conn_t *c;

    if (client_id == NULL) {
        return NULL;
    }
    c = dd_map_get(&s->conns, client_id);
    if (c == NULL || c->client != client) {
        return NULL;
    }
    return c;
}

/* Recomputes the connection's policy set when the registry changed since. */
static bool refresh_policies(dd_shim_t *s, conn_t *c)
{
    const dd_policy_t **arr = NULL;
    size_t n = 0;

    if (c->policy_gen == dd_shimreg_generation(&s->reg)) {
        return true;
    }
    if (dd_shimreg_policies_for(&s->reg, c->cert_id, c->thing[0] != '\0' ? c->thing : NULL, &arr,
                                &n) != DD_SHIMREG_OK) {
        return false;
    }
    free(c->policies);
    c->policies = arr;
    c->npolicies = n;
    c->policy_gen = dd_shimreg_generation(&s->reg);
    return true;
}

static dd_policy_decision_t evaluate(dd_shim_t *s, conn_t *c, dd_policy_action_t action,
                                     const char *name)
{
    char arn[DD_POLICY_RESOURCE_MAX];
    dd_policy_vars_t vars;
    dd_policy_decision_t d = DD_POLICY_DENY_DEFAULT;

    if (!refresh_policies(s, c)) {
        return DD_POLICY_DENY_DEFAULT;
    }
    if (dd_policy_resource_arn(&s->arn, action, name, arn, sizeof(arn)) != DD_POLICY_OK) {
        return DD_POLICY_DENY_DEFAULT;
    }
    vars.client_id = c->client_id;
    vars.thing_name = c->thing[0] != '\0' ? c->thing : NULL;
    if (dd_policy_evaluate(c->policies, c->npolicies, action, arn, &vars, &d, NULL) !=
        DD_POLICY_OK) {
        return DD_POLICY_DENY_DEFAULT;
    }
    return d;
}

/* ---- metering ------------------------------------------------------------------------ */

static void meter_add(dd_shim_t *s, dd_metering_type_t type, const char *key, bool registered,
                      const char *subject, dd_metering_record_t *rec, int64_t wall_ms)
{
    rec->type = type;
    rec->time_ms = dd_clock_now_ms(&s->clock);
    rec->registered = registered;
    rec->key = dd_metering_cstr(key);
    rec->subject = dd_metering_cstr(subject);
    if (rec->subject.len > DD_SHIM_METER_SUBJECT_MAX) {
        rec->subject.len = DD_SHIM_METER_SUBJECT_MAX;
    }
    if (s->meter_ok) {
        (void)dd_meter_record(&s->meter, rec, wall_ms);
    }
}

static const char *conn_key(const conn_t *c)
{
    return c->thing[0] != '\0' ? c->thing : c->client_id;
}

static void meter_simple(dd_shim_t *s, const conn_t *c, dd_metering_type_t type,
                         const char *subject, uint32_t bytes, int64_t wall_ms)
{
    dd_metering_record_t rec;

    memset(&rec, 0, sizeof(rec));
    rec.bytes = bytes;
    meter_add(s, type, conn_key(c), c->thing[0] != '\0', subject, &rec, wall_ms);
}

static void meter_auth_failure(dd_shim_t *s, const char *key, bool registered,
                               dd_metering_action_t action, dd_metering_reason_t reason,
                               const char *subject, int64_t wall_ms)
{
    dd_metering_record_t rec;

    memset(&rec, 0, sizeof(rec));
    rec.action = action;
    rec.reason = reason;
    meter_add(s, DD_METERING_AUTH_FAILURE, key, registered, subject, &rec, wall_ms);
}

static void meter_connect(dd_shim_t *s, const char *key, bool registered,
                          const dd_shim_connect_info_t *info, bool success, int64_t wall_ms)
{
    dd_metering_record_t rec;
    const char *client_id = info->client_id;

    memset(&rec, 0, sizeof(rec));
    rec.success = success;
    rec.ip = dd_metering_cstr(info->address);
    /* ddlocald's connection history (audits) keeps which certificate connected. */
    rec.cert_id =
        dd_metering_cstr(info->cert_id != NULL && info->cert_id[0] != '\0' ? info->cert_id : NULL);
    meter_add(s, DD_METERING_CONNECT, key, registered, client_id, &rec, wall_ms);
}

static int meter_publish(void *ctx, const void *batch, size_t len)
{
    dd_shim_t *s = ctx;

    return s->io.publish(s->io.ctx, NULL, s->metering_topic, batch, len, 1);
}

/* ---- kicks ----------------------------------------------------------------------------- */

static void queue_kick(dd_shim_t *s, const conn_t *c)
{
    kick_t *k;

    if (!c->online) {
        return;
    }
    if (s->nkicks == s->capkicks) {
        size_t ncap = s->capkicks == 0 ? 8 : s->capkicks * 2;
        kick_t *n = realloc(s->kicks, ncap * sizeof(*n));

        if (n == NULL) {
            DD_LOG_ERROR("out of memory queueing a kick of %s", c->client_id);
            return;
        }
        s->kicks = n;
        s->capkicks = ncap;
    }
    k = &s->kicks[s->nkicks];
    k->client_id = strdup(c->client_id);
    if (k->client_id == NULL) {
        return;
    }
    k->client = c->client;
    s->nkicks++;
}

static void drain_kicks(dd_shim_t *s)
{
    kick_t *list = s->kicks;
    size_t n = s->nkicks;
    size_t i;

    /* Kicking runs the broker's DISCONNECT event, which comes back here:
     * work on a detached list. */
    s->kicks = NULL;
    s->nkicks = 0;
    s->capkicks = 0;
    for (i = 0; i < n; i++) {
        const conn_t *c = find_conn(s, list[i].client, list[i].client_id);

        /* Only the very connection that earned the kick: a reconnect with the
         * same client id since then is a different one. */
        if (c != NULL && c->online && c->state != CONN_LIVE) {
            DD_LOG_INFO("disconnecting %s", list[i].client_id);
            if (s->io.kick(s->io.ctx, list[i].client_id) == 0) {
                s->stats.kicks++;
            }
        }
        free(list[i].client_id);
    }
    free(list);
}

/* ---- topic rules ------------------------------------------------------------------------- */

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* AWS: at most 7 slashes, not counting the 3 of a Basic Ingest prefix
 * ($aws/rules/NAME/). */
static size_t count_slashes(const char *t)
{
    size_t n = 0;
    size_t skip = has_prefix(t, "$aws/rules/") ? 3 : 0;

    for (; *t != '\0'; t++) {
        if (*t == '/') {
            n++;
        }
    }
    return n >= skip ? n - skip : 0;
}

static bool is_internal(const char *t)
{
    return has_prefix(t, "$CONTROL/") || strcmp(t, "$ddlocal") == 0 || has_prefix(t, "$ddlocal/");
}

static bool is_ddlocal_namespace(const char *t)
{
    return strcmp(t, "ddlocal") == 0 || has_prefix(t, "ddlocal/");
}

static bool is_reply_topic(const char *t, size_t len)
{
    return has_prefix(t, "$aws/") &&
           (ends_with(t, len, "/accepted") || ends_with(t, len, "/rejected"));
}

/* $aws/things/X/defender/metrics/Y, Y = json | cbor | + (X any one level):
 * the publish-only report topic, or a filter matching only report topics. */
static bool is_report_topic(const char *t)
{
    static const char prefix[] = "$aws/things/";
    static const char middle[] = "/defender/metrics/";
    const char *p;
    const char *slash;

    if (!has_prefix(t, prefix)) {
        return false;
    }
    p = t + sizeof(prefix) - 1;
    slash = strchr(p, '/');
    if (slash == NULL || !has_prefix(slash, middle)) {
        return false;
    }
    p = slash + sizeof(middle) - 1;
    return strcmp(p, "json") == 0 || strcmp(p, "cbor") == 0 || strcmp(p, "+") == 0;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

dd_shim_status_t dd_shim_create(const dd_shim_config_t *cfg, const dd_shim_io_t *io,
                                dd_shim_t **out, char *err, size_t err_len)
{
    dd_shim_t *s;
    dd_meter_config_t mc;
    dd_meter_status_t ms;

    set_err(err, err_len, "%s", "");
    if (out != NULL) {
        *out = NULL;
    }
    if (cfg == NULL || io == NULL || out == NULL || io->publish == NULL || io->kick == NULL ||
        cfg->metering_topic == NULL) {
        return DD_SHIM_BAD_PARAMETER;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return DD_SHIM_NO_MEMORY;
    }
    s->cfg = *cfg;
    s->io = *io;
    s->metering_topic = strdup(cfg->metering_topic);
    s->reserved_prefix = dup_or_null(cfg->reserved_prefix);
    if (s->metering_topic == NULL || (cfg->reserved_prefix != NULL && s->reserved_prefix == NULL)) {
        dd_shim_destroy(s);
        return DD_SHIM_NO_MEMORY;
    }
    /* The borrowed strings are not kept. */
    s->cfg.db_path = NULL;
    s->cfg.clock_spec = NULL;
    s->cfg.region = NULL;
    s->cfg.account = NULL;
    s->cfg.metering_topic = s->metering_topic;
    s->cfg.reserved_prefix = s->reserved_prefix;
    s->idcfg.single_thing_rule = cfg->single_cert_identity;
    s->idcfg.reserved_prefix = s->reserved_prefix;

    dd_arn_ctx_default(&s->arn);
    if ((cfg->region != NULL || cfg->account != NULL) &&
        dd_arn_ctx_set(&s->arn, cfg->region != NULL ? cfg->region : s->arn.region,
                       cfg->account != NULL ? cfg->account : s->arn.account) != DD_NAMES_OK) {
        set_err(err, err_len, "bad region or account (region [a-z0-9-], account 12 digits)");
        dd_shim_destroy(s);
        return DD_SHIM_BAD_PARAMETER;
    }
    if (cfg->clock_spec != NULL) {
        if (dd_clock_parse(&s->clock, cfg->clock_spec) != DD_CLOCK_OK) {
            set_err(err, err_len, "bad clock spec \"%s\"", cfg->clock_spec);
            dd_shim_destroy(s);
            return DD_SHIM_BAD_PARAMETER;
        }
    } else {
        (void)dd_clock_init_real(&s->clock);
    }
    dd_shimreg_init(&s->reg);
    dd_map_init(&s->conns);

    if (s->cfg.instance_id == 0) {
        if (getrandom(&s->cfg.instance_id, sizeof(s->cfg.instance_id), 0) !=
            (ssize_t)sizeof(s->cfg.instance_id)) {
            s->cfg.instance_id = (uint64_t)dd_clock_wall_ms() ^ ((uint64_t)getpid() << 40);
        }
        if (s->cfg.instance_id == 0) {
            s->cfg.instance_id = 1;
        }
    }
    memset(&mc, 0, sizeof(mc));
    mc.buffer_bytes = cfg->metering_buffer_bytes;
    mc.flush_interval_ms = cfg->metering_flush_ms;
    mc.instance_id = s->cfg.instance_id;
    mc.publish = meter_publish;
    mc.publish_ctx = s;
    ms = dd_meter_init(&s->meter, &mc);
    if (ms != DD_METER_OK) {
        set_err(err, err_len, "metering buffer: %s", dd_meter_strerror(ms));
        dd_shim_destroy(s);
        return ms == DD_METER_NO_MEMORY ? DD_SHIM_NO_MEMORY : DD_SHIM_BAD_PARAMETER;
    }
    s->meter_ok = true;

    if (cfg->db_path != NULL) {
        char lerr[256];
        dd_shimreg_status_t rs = dd_shimreg_load_file(&s->reg, cfg->db_path, lerr, sizeof(lerr));

        if (rs != DD_SHIMREG_OK) {
            set_err(err, err_len, "registry %s: %s", cfg->db_path, lerr);
            dd_shim_destroy(s);
            return rs == DD_SHIMREG_NO_MEMORY ? DD_SHIM_NO_MEMORY : DD_SHIM_STORE_ERROR;
        }
        DD_LOG_INFO("registry loaded from %s: %zu things, %zu certificates, %zu groups, "
                    "%zu policies",
                    cfg->db_path, dd_shimreg_count(&s->reg, DD_REGISTRY_KIND_THING),
                    dd_shimreg_count(&s->reg, DD_REGISTRY_KIND_CERT),
                    dd_shimreg_count(&s->reg, DD_REGISTRY_KIND_GROUP),
                    dd_shimreg_count(&s->reg, DD_REGISTRY_KIND_POLICY));
    }
    *out = s;
    return DD_SHIM_OK;
}

void dd_shim_destroy(dd_shim_t *s)
{
    size_t cursor = 0;
    const char *key;
    void *value;
    size_t i;

    if (s == NULL) {
        return;
    }
    if (s->meter_ok) {
        (void)dd_meter_flush(&s->meter);
        dd_meter_destroy(&s->meter);
    }
    while (dd_map_next(&s->conns, &cursor, &key, &value)) {
        conn_free(value);
    }
    dd_map_destroy(&s->conns);
    for (i = 0; i < s->nkicks; i++) {
        free(s->kicks[i].client_id);
    }
    free(s->kicks);
    dd_shimreg_destroy(&s->reg);
    free(s->metering_topic);
    free(s->reserved_prefix);
    free(s);
}

/* ---- CONNECT -------------------------------------------------------------------------------- */

static dd_metering_reason_t reason_of(dd_identity_status_t st)
{
    switch (st) {
    case DD_IDENTITY_CERT_NOT_ACTIVE: return DD_METERING_REASON_CERT_NOT_ACTIVE;
    case DD_IDENTITY_RESERVED_CLIENT_ID: return DD_METERING_REASON_RESERVED_CLIENT_ID;
    default: return DD_METERING_REASON_UNKNOWN_CERT;
    }
}

dd_shim_status_t dd_shim_on_connect(dd_shim_t *s, const dd_shim_connect_info_t *info,
                                    int64_t wall_ms)
{
    dd_identity_t id;
    dd_identity_status_t ist;
    conn_t *c;
    conn_t *old = NULL;
    const char *key;
    bool registered;

    if (s == NULL || info == NULL || info->client_id == NULL || info->client_id[0] == '\0') {
        return DD_SHIM_BAD_PARAMETER;
    }
    ist = dd_identity_resolve(&s->reg, &s->idcfg, info->cert_id, info->client_id, &id);
    registered = id.thing[0] != '\0';
    key = registered ? id.thing : info->client_id;
    if (ist != DD_IDENTITY_OK) {
        DD_LOG_INFO("refused connection %s from %s: %s%s%s%s", info->client_id,
                    info->address != NULL ? info->address : "?", dd_identity_strerror(ist),
                    ist == DD_IDENTITY_CERT_NOT_ACTIVE ? " (it is " : "",
                    ist == DD_IDENTITY_CERT_NOT_ACTIVE ? dd_cert_status_name(id.cert_status) : "",
                    ist == DD_IDENTITY_CERT_NOT_ACTIVE ? ")" : "");
        s->stats.connects_refused++;
        if (!id.service) {
            meter_connect(s, key, registered, info, false, wall_ms);
            meter_auth_failure(s, key, registered, DD_METERING_ACTION_CONNECT, reason_of(ist),
                               info->client_id, wall_ms);
        }
        return DD_SHIM_DENIED;
    }

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return DD_SHIM_NO_MEMORY;
    }
    c->client_id = strdup(info->client_id);
    if (c->client_id == NULL) {
        conn_free(c);
        return DD_SHIM_NO_MEMORY;
    }
    c->client = info->client;
    c->online = true;
    c->persistent = !info->clean_session;
    c->service = id.service;
    (void)snprintf(c->cert_id, sizeof(c->cert_id), "%s", info->cert_id);
    (void)snprintf(c->thing, sizeof(c->thing), "%s", id.thing);

    if (!c->service) {
        dd_policy_decision_t d = evaluate(s, c, DD_POLICY_ACTION_CONNECT, c->client_id);

        if (d != DD_POLICY_ALLOW) {
            DD_LOG_INFO("refused connection %s (thing %s) from %s: iot:Connect %s", info->client_id,
                        registered ? id.thing : "-", info->address != NULL ? info->address : "?",
                        dd_policy_decision_name(d));
            s->stats.connects_refused++;
            meter_connect(s, key, registered, info, false, wall_ms);
            meter_auth_failure(s, key, registered, DD_METERING_ACTION_CONNECT,
                               DD_METERING_REASON_POLICY, info->client_id, wall_ms);
            conn_free(c);
            return DD_SHIM_DENIED;
        }
    }

    if (dd_map_put(&s->conns, c->client_id, c, (void **)&old) != DD_MAP_OK) {
        conn_free(c);
        return DD_SHIM_NO_MEMORY;
    }
    if (old != NULL) {
        /* Session takeover: the broker drops the older connection right after
         * this; its own DISCONNECT event will no longer match a record. The
         * record says why it ended (CONFLICTING_CLIENT_IDS_CHECK). */
        if (old->online && !old->service) {
            dd_metering_record_t rec;

            memset(&rec, 0, sizeof(rec));
            rec.takeover = true;
            meter_add(s, DD_METERING_DISCONNECT, conn_key(old), old->thing[0] != '\0',
                      old->client_id, &rec, wall_ms);
            DD_LOG_INFO("connection %s taken over by a new connection with the same client id",
                        old->client_id);
        }
        conn_free(old);
    }
    s->stats.connects_accepted++;
    if (c->service) {
        DD_LOG_INFO("service connection %s", c->client_id);
    } else {
        DD_LOG_DEBUG("connection %s is %s%s (rule %s)", c->client_id,
                     registered ? "thing " : "no thing", registered ? c->thing : "",
                     dd_identity_rule_name(id.rule));
        meter_connect(s, key, registered, info, true, wall_ms);
    }
    return DD_SHIM_OK;
}

/* ---- ACL ---------------------------------------------------------------------------------------- */

static dd_shim_status_t deny(dd_shim_t *s, conn_t *c, dd_metering_action_t action,
                             dd_metering_reason_t reason, const char *topic, bool count,
                             int64_t wall_ms)
{
    s->stats.denials++;
    if (count && c->online) {
        meter_auth_failure(s, conn_key(c), c->thing[0] != '\0', action, reason, topic, wall_ms);
    }
    if (action == DD_METERING_ACTION_PUBLISH) {
        DD_LOG_INFO("denied PUBLISH from %s on %.300s (%s)", c->client_id, topic,
                    dd_metering_reason_name(reason));
        if (s->cfg.kick_on_deny && c->state == CONN_LIVE) {
            c->state = CONN_KICKING;
            queue_kick(s, c);
        }
    } else if (action == DD_METERING_ACTION_SUBSCRIBE) {
        DD_LOG_INFO("denied SUBSCRIBE from %s to %.300s (%s)", c->client_id, topic,
                    dd_metering_reason_name(reason));
    } else {
        DD_LOG_DEBUG("not delivering %.300s to %s (%s)", topic, c->client_id,
                     dd_metering_reason_name(reason));
    }
    return DD_SHIM_DENIED;
}

static dd_shim_status_t acl_write(dd_shim_t *s, conn_t *c, const char *topic, size_t payload_len,
                                  bool retain, int64_t wall_ms)
{
    const dd_metering_action_t a = DD_METERING_ACTION_PUBLISH;
    size_t len = strlen(topic);

    if (len > DD_SHIM_TOPIC_MAX) {
        return deny(s, c, a, DD_METERING_REASON_TOPIC_TOO_LONG, topic, true, wall_ms);
    }
    if (count_slashes(topic) > DD_SHIM_SLASHES_MAX) {
        return deny(s, c, a, DD_METERING_REASON_TOO_MANY_LEVELS, topic, true, wall_ms);
    }
    if (payload_len > DD_SHIM_PAYLOAD_MAX) {
        return deny(s, c, a, DD_METERING_REASON_PAYLOAD_TOO_LARGE, topic, true, wall_ms);
    }
    if (is_internal(topic) || is_ddlocal_namespace(topic) || is_reply_topic(topic, len)) {
        return deny(s, c, a, DD_METERING_REASON_RESERVED_TOPIC, topic, true, wall_ms);
    }
    if (evaluate(s, c, DD_POLICY_ACTION_PUBLISH, topic) != DD_POLICY_ALLOW ||
        (retain && evaluate(s, c, DD_POLICY_ACTION_RETAIN_PUBLISH, topic) != DD_POLICY_ALLOW)) {
        return deny(s, c, a, DD_METERING_REASON_POLICY, topic, true, wall_ms);
    }
    meter_simple(s, c, DD_METERING_SENT, topic,
                 payload_len > UINT32_MAX ? UINT32_MAX : (uint32_t)payload_len, wall_ms);
    return DD_SHIM_OK;
}

static dd_shim_status_t acl_subscribe(dd_shim_t *s, conn_t *c, const char *filter, int64_t wall_ms)
{
    const dd_metering_action_t a = DD_METERING_ACTION_SUBSCRIBE;

    if (strlen(filter) > DD_SHIM_TOPIC_MAX) {
        return deny(s, c, a, DD_METERING_REASON_TOPIC_TOO_LONG, filter, true, wall_ms);
    }
    if (count_slashes(filter) > DD_SHIM_SLASHES_MAX) {
        return deny(s, c, a, DD_METERING_REASON_TOO_MANY_LEVELS, filter, true, wall_ms);
    }
    if (is_internal(filter) || is_report_topic(filter)) {
        return deny(s, c, a, DD_METERING_REASON_RESERVED_TOPIC, filter, true, wall_ms);
    }
    if (evaluate(s, c, DD_POLICY_ACTION_SUBSCRIBE, filter) != DD_POLICY_ALLOW) {
        return deny(s, c, a, DD_METERING_REASON_POLICY, filter, true, wall_ms);
    }
    return DD_SHIM_OK;
}

static dd_shim_status_t acl_read(dd_shim_t *s, conn_t *c, const char *topic, size_t payload_len,
                                 int64_t wall_ms)
{
    const dd_metering_action_t a = DD_METERING_ACTION_RECEIVE;

    /* Never delivered to devices, whatever a wildcard subscription covers;
     * the device did not ask for these, so nothing is counted. */
    if (is_internal(topic) || is_report_topic(topic)) {
        return deny(s, c, a, DD_METERING_REASON_RESERVED_TOPIC, topic, false, wall_ms);
    }
    if (evaluate(s, c, DD_POLICY_ACTION_RECEIVE, topic) != DD_POLICY_ALLOW) {
        return deny(s, c, a, DD_METERING_REASON_POLICY, topic, true, wall_ms);
    }
    if (c->online) {
        meter_simple(s, c, DD_METERING_RECEIVED, topic,
                     payload_len > UINT32_MAX ? UINT32_MAX : (uint32_t)payload_len, wall_ms);
    }
    return DD_SHIM_OK;
}

dd_shim_status_t dd_shim_on_acl(dd_shim_t *s, const void *client, const char *client_id,
                                dd_shim_access_t access, const char *topic, size_t payload_len,
                                bool retain, int64_t wall_ms)
{
    conn_t *c;

    if (s == NULL || topic == NULL) {
        return DD_SHIM_BAD_PARAMETER;
    }
    if (access == DD_SHIM_ACCESS_UNSUBSCRIBE) {
        return DD_SHIM_OK;
    }
    c = find_conn(s, client, client_id);
    if (c == NULL) {
        /* A session restored from the broker's persistence after a restart:
         * only a service session (reserved client id) may be queued messages. */
        if (access == DD_SHIM_ACCESS_READ && client_id != NULL && s->reserved_prefix != NULL &&
            s->reserved_prefix[0] != '\0' && has_prefix(client_id, s->reserved_prefix)) {
            return DD_SHIM_OK;
        }
        s->stats.denials++;
        DD_LOG_DEBUG("denied access %d to %.300s for unknown session %s", (int)access, topic,
                     client_id != NULL ? client_id : "?");
        return DD_SHIM_DENIED;
    }
    if (c->service) {
        return c->state == CONN_LIVE ? DD_SHIM_OK : DD_SHIM_DENIED;
    }
    if (c->state != CONN_LIVE) {
        dd_metering_action_t a = access == DD_SHIM_ACCESS_WRITE       ? DD_METERING_ACTION_PUBLISH
                                 : access == DD_SHIM_ACCESS_SUBSCRIBE ? DD_METERING_ACTION_SUBSCRIBE
                                                                      : DD_METERING_ACTION_RECEIVE;

        return deny(s, c, a, DD_METERING_REASON_REVOKED, topic,
                    c->state == CONN_REVOKED && access != DD_SHIM_ACCESS_READ, wall_ms);
    }
    switch (access) {
    case DD_SHIM_ACCESS_WRITE: return acl_write(s, c, topic, payload_len, retain, wall_ms);
    case DD_SHIM_ACCESS_SUBSCRIBE: return acl_subscribe(s, c, topic, wall_ms);
    case DD_SHIM_ACCESS_READ: return acl_read(s, c, topic, payload_len, wall_ms);
    case DD_SHIM_ACCESS_UNSUBSCRIBE: break;
    }
    return DD_SHIM_OK;
}

/* ---- fleet provisioning's request/reply ------------------------------------------------- */

/* The device provisioning MQTT API's request topics: .../json or .../cbor. */
static bool is_provisioning_request(const char *t)
{
    static const char prefix[] = "$aws/provisioning-templates/";
    static const char middle[] = "/provision/";
    const char *format = NULL;
    const char *name;
    const char *slash;

    if (has_prefix(t, "$aws/certificates/create/")) {
        format = t + strlen("$aws/certificates/create/");
    } else if (has_prefix(t, "$aws/certificates/create-from-csr/")) {
        format = t + strlen("$aws/certificates/create-from-csr/");
    } else if (has_prefix(t, prefix)) {
        name = t + sizeof(prefix) - 1;
        slash = strchr(name, '/');
        if (slash != NULL && slash != name && has_prefix(slash, middle)) {
            format = slash + sizeof(middle) - 1;
        }
    }
    return format != NULL && (strcmp(format, "json") == 0 || strcmp(format, "cbor") == 0);
}

/* ddlocald's reply to one client: delivered to that client only, as AWS answers on the
 * connection that asked - a claim certificate shared by a fleet must not hand one device's
 * private key to another. The device's policies must let it receive the reply topic. */
static void deliver_reply(dd_shim_t *s, const char *topic, const void *payload, size_t len,
                          int64_t wall_ms)
{
    char client_id[DD_CONTROL_PROV_CLIENT_ID_MAX + 1];
    const char *reply_topic;
    conn_t *c;

    if (dd_control_prov_unwrap(DD_CONTROL_PROV_REPLY_PREFIX, topic, client_id, sizeof(client_id),
                               &reply_topic) != DD_CONTROL_OK) {
        return;
    }
    c = dd_map_get(&s->conns, client_id);
    if (c == NULL || !c->online || c->service || c->state != CONN_LIVE) {
        DD_LOG_INFO("provisioning reply on %.200s not delivered: %s is not connected", reply_topic,
                    client_id);
        return;
    }
    if (evaluate(s, c, DD_POLICY_ACTION_RECEIVE, reply_topic) != DD_POLICY_ALLOW) {
        (void)deny(s, c, DD_METERING_ACTION_RECEIVE, DD_METERING_REASON_POLICY, reply_topic, true,
                   wall_ms);
        return;
    }
    if (s->io.publish(s->io.ctx, client_id, reply_topic, payload, len, 1) != 0) {
        DD_LOG_WARN("provisioning reply on %.200s to %s could not be queued", reply_topic,
                    client_id);
        return;
    }
    meter_simple(s, c, DD_METERING_RECEIVED, reply_topic,
                 len > UINT32_MAX ? UINT32_MAX : (uint32_t)len, wall_ms);
}

dd_shim_status_t dd_shim_on_message(dd_shim_t *s, const void *client, const char *client_id,
                                    const char *topic, const void *payload, size_t len,
                                    char *new_topic, size_t new_topic_len, bool *renamed,
                                    int64_t wall_ms)
{
    conn_t *c;

    if (renamed != NULL) {
        *renamed = false;
    }
    if (s == NULL || topic == NULL || renamed == NULL || new_topic == NULL ||
        (payload == NULL && len > 0)) {
        return DD_SHIM_BAD_PARAMETER;
    }
    /* Every PUBLISH comes here: the topic's first bytes decide before any lookup. */
    if (topic[0] != '$' || !(has_prefix(topic, "$aws/certificates/create") ||
                             has_prefix(topic, "$aws/provisioning-templates/") ||
                             has_prefix(topic, DD_CONTROL_PROV_REPLY_PREFIX))) {
        return DD_SHIM_OK;
    }
    c = find_conn(s, client, client_id);
    if (c == NULL || c->state != CONN_LIVE) {
        return DD_SHIM_OK;
    }
    if (c->service) {
        if (has_prefix(topic, DD_CONTROL_PROV_REPLY_PREFIX)) {
            deliver_reply(s, topic, payload, len, wall_ms);
        }
        return DD_SHIM_OK;
    }
    if (!is_provisioning_request(topic)) {
        return DD_SHIM_OK;
    }
    if (dd_control_prov_wrap(DD_CONTROL_PROV_REQUEST_PREFIX, c->client_id, topic, new_topic,
                             new_topic_len) != DD_CONTROL_OK) {
        DD_LOG_INFO("provisioning request of %.200s on %.200s not renamed: client id longer than "
                    "%d bytes",
                    c->client_id, topic, DD_CONTROL_PROV_CLIENT_ID_MAX);
        return DD_SHIM_OK;
    }
    *renamed = true;
    return DD_SHIM_OK;
}

/* ---- DISCONNECT ------------------------------------------------------------------------------- */

void dd_shim_on_disconnect(dd_shim_t *s, const void *client, const char *client_id, int64_t wall_ms)
{
    conn_t *c;

    if (s == NULL) {
        return;
    }
    c = find_conn(s, client, client_id);
    if (c == NULL || !c->online) {
        return;
    }
    if (!c->service) {
        meter_simple(s, c, DD_METERING_DISCONNECT, c->client_id, 0, wall_ms);
    } else {
        DD_LOG_INFO("service connection %s closed", c->client_id);
    }
    c->online = false;
    c->offline_since_ms = wall_ms;
}

/* ---- live changes ------------------------------------------------------------------------------ */

static void revoke_conn(dd_shim_t *s, conn_t *c, const char *why)
{
    DD_LOG_INFO("%s %s (%s%s) lost its rights: %s", c->online ? "connection" : "session",
                c->client_id,
                c->service            ? "service"
                : c->thing[0] != '\0' ? "thing "
                                      : "no thing",
                c->thing, why);
    c->state = CONN_REVOKED;
    queue_kick(s, c);
}

static void recheck_all(dd_shim_t *s)
{
    size_t cursor = 0;
    const char *key;
    void *value;

    while (dd_map_next(&s->conns, &cursor, &key, &value)) {
        conn_t *c = value;
        dd_identity_t id;
        dd_identity_status_t ist;

        if (c->state == CONN_REVOKED) {
            continue;
        }
        ist = dd_identity_resolve(&s->reg, &s->idcfg, c->cert_id, c->client_id, &id);
        if (ist != DD_IDENTITY_OK) {
            revoke_conn(s, c, dd_identity_strerror(ist));
        } else if (id.service != c->service || strcmp(id.thing, c->thing) != 0) {
            revoke_conn(s, c, "its certificate's things changed");
        } else if (!c->service &&
                   evaluate(s, c, DD_POLICY_ACTION_CONNECT, c->client_id) != DD_POLICY_ALLOW) {
            revoke_conn(s, c, "iot:Connect is now denied");
        }
    }
}

static void respond(dd_shim_t *s, const char *client_id, const char *id, bool ok, const char *error)
{
    char *payload = NULL;
    size_t len = 0;

    if (id == NULL) {
        return;
    }
    if (dd_control_encode_response(id, ok, error, &payload, &len) != DD_CONTROL_OK) {
        return;
    }
    if (s->io.publish(s->io.ctx, client_id, DD_CONTROL_TOPIC_RESPONSE, payload, len, 1) != 0) {
        DD_LOG_WARN("control: could not send the response to %s", client_id);
    }
    free(payload);
}

static dd_shim_status_t apply_registry(dd_shim_t *s, const dd_control_message_t *msg, char *err,
                                       size_t err_len)
{
    dd_shimreg_update_t *u;
    dd_shimreg_status_t rs;
    size_t i;

    u = calloc(msg->count > 0 ? msg->count : 1, sizeof(*u));
    if (u == NULL) {
        return DD_SHIM_NO_MEMORY;
    }
    for (i = 0; i < msg->count; i++) {
        u[i].kind = msg->entities[i].kind;
        u[i].name = msg->entities[i].name;
        u[i].state = msg->entities[i].state;
    }
    rs = dd_shimreg_apply(&s->reg, u, msg->count, msg->full ? DD_SHIMREG_FULL : 0, err, err_len);
    free(u);
    if (rs == DD_SHIMREG_INVALID) {
        return DD_SHIM_INVALID;
    }
    if (rs == DD_SHIMREG_NO_MEMORY) {
        /* Possibly half applied: still re-check the connections below. */
        recheck_all(s);
        return DD_SHIM_NO_MEMORY;
    }
    if (rs != DD_SHIMREG_OK) {
        return DD_SHIM_INVALID;
    }
    recheck_all(s);
    return DD_SHIM_OK;
}

/* Fault injection (`ddlocal fault add disconnect`): the thing's live device connections go at the
 * next tick, by the path of a revoked one; a reconnect is a new, live connection. */
static dd_shim_status_t apply_kick(dd_shim_t *s, const char *thing)
{
    size_t cursor = 0;
    const char *key;
    void *value;

    while (dd_map_next(&s->conns, &cursor, &key, &value)) {
        conn_t *c = value;

        if (c->online && !c->service && c->state == CONN_LIVE && strcmp(c->thing, thing) == 0) {
            DD_LOG_INFO("connection %s (thing %s) is to be disconnected: a fault asks for it",
                        c->client_id, thing);
            c->state = CONN_KICKING;
            queue_kick(s, c);
        }
    }
    return DD_SHIM_OK;
}

static dd_shim_status_t apply_clock(dd_shim_t *s, const char *spec, char *err, size_t err_len)
{
    dd_clock_t next;

    if (dd_clock_parse(&next, spec) != DD_CLOCK_OK) {
        set_err(err, err_len, "\"%s\" is not a clock spec", spec);
        return DD_SHIM_INVALID;
    }
    /* Adopted in place, never copied over: other threads may be reading the clock. A scale
     * change (POST /ddlocal/v1/clock {"scale":X}) arrives as ddlocald's new anchor. */
    switch (dd_clock_adopt(&s->clock, &next)) {
    case DD_CLOCK_OK: return DD_SHIM_OK;
    case DD_CLOCK_BACKWARDS:
        set_err(err, err_len,
                "the manual clock cannot go back (now %" PRId64 ", asked %" PRId64 ")",
                dd_clock_now_ms(&s->clock), dd_clock_now_ms(&next));
        return DD_SHIM_INVALID;
    case DD_CLOCK_WRONG_MODE:
        set_err(err, err_len, "a running clock cannot switch between manual and real/scaled");
        return DD_SHIM_INVALID;
    default: set_err(err, err_len, "\"%s\" cannot be applied", spec); return DD_SHIM_INVALID;
    }
}

dd_shim_status_t dd_shim_on_control(dd_shim_t *s, const void *client, const char *client_id,
                                    const char *topic, const void *payload, size_t len,
                                    int64_t wall_ms)
{
    const conn_t *c;
    dd_control_message_t msg;
    dd_control_status_t cs;
    dd_shim_status_t st;
    char err[DD_CONTROL_ERROR_MAX];

    (void)wall_ms;
    if (s == NULL || topic == NULL || (payload == NULL && len > 0)) {
        return DD_SHIM_BAD_PARAMETER;
    }
    c = find_conn(s, client, client_id);
    if (c == NULL || !c->service || c->state != CONN_LIVE) {
        DD_LOG_WARN("control: ignoring %s from %s, which is not ddlocal's service", topic,
                    client_id != NULL ? client_id : "?");
        return DD_SHIM_DENIED;
    }
    cs = dd_control_decode(topic, payload, len, &msg, err, sizeof(err));
    if (cs != DD_CONTROL_OK) {
        DD_LOG_WARN("control: refused message on %s: %s", topic, err);
        s->stats.control_refused++;
        return cs == DD_CONTROL_NO_MEMORY ? DD_SHIM_NO_MEMORY : DD_SHIM_INVALID;
    }
    err[0] = '\0';
    if (msg.type == DD_CONTROL_REGISTRY) {
        st = apply_registry(s, &msg, err, sizeof(err));
    } else if (msg.type == DD_CONTROL_FLUSH) {
        /* The batch is published before the response below, so ddlocald gets it first. */
        st = DD_SHIM_OK;
        if (s->meter_ok && dd_meter_flush(&s->meter) != DD_METER_OK) {
            set_err(err, sizeof(err), "the metering batch could not be published");
            st = DD_SHIM_INVALID;
        }
    } else if (msg.type == DD_CONTROL_KICK) {
        st = apply_kick(s, msg.thing);
    } else {
        st = apply_clock(s, msg.clock_spec, err, sizeof(err));
    }
    if (st == DD_SHIM_OK) {
        s->stats.control_applied++;
        if (msg.type == DD_CONTROL_REGISTRY) {
            DD_LOG_DEBUG("control: applied %zu registry change(s)%s", msg.count,
                         msg.full ? " (full snapshot)" : "");
        }
    } else {
        s->stats.control_refused++;
        if (err[0] == '\0') {
            set_err(err, sizeof(err), "%s", dd_shim_strerror(st));
        }
        DD_LOG_WARN("control: refused %s request, previous state kept: %s",
                    msg.type == DD_CONTROL_REGISTRY ? "registry"
                    : msg.type == DD_CONTROL_CLOCK  ? "clock"
                    : msg.type == DD_CONTROL_KICK   ? "kick"
                                                    : "flush",
                    err);
    }
    respond(s, client_id, msg.id, st == DD_SHIM_OK, err);
    dd_control_message_free(&msg);
    return st;
}

/* ---- TICK ------------------------------------------------------------------------------------------ */

static void collect_garbage(dd_shim_t *s, int64_t wall_ms)
{
    size_t cursor = 0;
    const char *key;
    void *value;

    while (dd_map_next(&s->conns, &cursor, &key, &value)) {
        conn_t *c = value;

        if (!c->online && !c->persistent &&
            wall_ms - c->offline_since_ms >= DD_SHIM_OFFLINE_GRACE_MS) {
            (void)dd_map_remove(&s->conns, key, NULL);
            conn_free(c);
        }
    }
}

void dd_shim_on_tick(dd_shim_t *s, int64_t wall_ms)
{
    if (s == NULL) {
        return;
    }
    if (s->nkicks > 0) {
        drain_kicks(s);
    }
    if (s->meter_ok) {
        (void)dd_meter_tick(&s->meter, wall_ms, NULL);
    }
    if (wall_ms - s->last_gc_ms >= 1000) {
        s->last_gc_ms = wall_ms;
        collect_garbage(s, wall_ms);
    }
}

/* ---- introspection ----------------------------------------------------------------------------------- */

const dd_shimreg_t *dd_shim_registry(const dd_shim_t *s)
{
    return s != NULL ? &s->reg : NULL;
}

dd_shim_status_t dd_shim_connection(const dd_shim_t *s, const char *client_id, char *thing,
                                    size_t thing_len, bool *service, bool *online)
{
    const conn_t *c;

    if (s == NULL || client_id == NULL) {
        return DD_SHIM_BAD_PARAMETER;
    }
    c = dd_map_get(&s->conns, client_id);
    if (c == NULL) {
        return DD_SHIM_DENIED;
    }
    if (thing != NULL && thing_len > 0) {
        (void)snprintf(thing, thing_len, "%s", c->thing);
    }
    if (service != NULL) {
        *service = c->service;
    }
    if (online != NULL) {
        *online = c->online;
    }
    return DD_SHIM_OK;
}

dd_shim_status_t dd_shim_get_stats(const dd_shim_t *s, dd_shim_stats_t *stats)
{
    if (s == NULL || stats == NULL) {
        return DD_SHIM_BAD_PARAMETER;
    }
    *stats = s->stats;
    stats->connections = dd_map_count(&s->conns);
    if (s->meter_ok) {
        (void)dd_meter_get_stats(&s->meter, &stats->meter);
    }
    return DD_SHIM_OK;
}

int64_t dd_shim_now_ms(const dd_shim_t *s)
{
    return s != NULL ? dd_clock_now_ms(&s->clock) : 0;
}

const char *dd_shim_strerror(dd_shim_status_t status)
{
    switch (status) {
    case DD_SHIM_OK: return "success";
    case DD_SHIM_BAD_PARAMETER: return "bad parameter";
    case DD_SHIM_DENIED: return "denied";
    case DD_SHIM_INVALID: return "refused";
    case DD_SHIM_NO_MEMORY: return "out of memory";
    case DD_SHIM_STORE_ERROR: return "registry read failed";
    }
    return "unknown status";
}
