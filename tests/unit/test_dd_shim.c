/*
 * dd_shim: the broker shim's engine driven through a fake broker (a
 * dd_shim_io_t that records publishes and kicks and, like mosquitto, runs
 * the DISCONNECT event of a kicked client at once).
 *
 * Connect decisions for every identity case, ACL decisions (policies,
 * reserved topics, AWS's limits), kick-on-deny from the next tick, live
 * registry changes applied all or nothing (a malformed policy keeps the
 * previous set), and the metering records the engine emits.
 *
 * The registry starts from a real database holding the service certificate
 * (and one device); everything else arrives as control messages from the
 * service connection, as ddlocald sends them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_alloc_count.h"
#include "dd_clock.h"
#include "dd_control.h"
#include "dd_db.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_metering.h"
#include "dd_pki.h"
#include "dd_registry.h"
#include "dd_shim.h"

/* Device certificate ids (only their registry entries matter to the engine). */
#define CERT_T01 "0101010101010101010101010101010101010101010101010101010101010101"
#define CERT_T02 "0202020202020202020202020202020202020202020202020202020202020202"
#define CERT_T03 "0303030303030303030303030303030303030303030303030303030303030303"
#define CERT_SHARED "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
#define CERT_GW "6767676767676767676767676767676767676767676767676767676767676767"
#define CERT_UNKNOWN "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

#define DOC_ALLOW_ALL                                                                        \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\"," \
    "\"Resource\":\"*\"}]}"
#define DOC_DENY_ALL                                                                        \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"iot:*\"," \
    "\"Resource\":\"*\"}]}"
#define DOC_BAD_EFFECT                                                                        \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Permit\",\"Action\":\"iot:*\"," \
    "\"Resource\":\"*\"}]}"
/* Publish (not RetainPublish), and connect only as Thing*. */
#define DOC_NO_RETAIN                                                                      \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"         \
    "[\"iot:Publish\",\"iot:Subscribe\",\"iot:Receive\"],\"Resource\":\"*\"},{\"Effect\":" \
    "\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":"                                   \
    "\"arn:aws:iot:us-east-1:123456789012:client/Thing*\"}]}"

#define T0 1700000000000LL
#define SVC_ID "ddlocald"
#define METERING_TOPIC "$ddlocal/metering/v1"
#define REPORT(t) "$aws/things/" t "/defender/metrics/json"

/* ---- the data dir shared by all tests -------------------------------------------------------- */

static struct {
    char dir[64];
    char db_path[128];
    char svc_cert[DD_PKI_CERT_ID_LEN + 1];
    char db_cert[DD_PKI_CERT_ID_LEN + 1]; /* DbThing's, attached and with AllowAll in the db */
    char per_thing_doc[4096];             /* fixtures/policies/device-policy-per-thing.json */
} g;

static int group_setup(void **state)
{
    dd_pki_ca_t *ca = NULL;
    dd_pki_credentials_t cred;
    sqlite3 *db = NULL;
    dd_registry_t reg;
    dd_registry_error_t err;
    dd_clock_t clock;
    char path[256];
    char arn[256];
    char *pem = NULL;
    char *doc = NULL;

    (void)state;
    dd_log_set_level(DD_LOG_LEVEL_WARN);
    (void)snprintf(g.dir, sizeof(g.dir), "/tmp/test_dd_shim.XXXXXX");
    assert_non_null(mkdtemp(g.dir));
    (void)snprintf(g.db_path, sizeof(g.db_path), "%s/ddlocal.db", g.dir);
    assert_int_equal(dd_pki_ca_ensure(g.dir, &ca), DD_PKI_OK);
    assert_int_equal(dd_pki_ensure_service(ca, g.svc_cert), DD_PKI_OK);
    assert_int_equal(dd_pki_issue_device(ca, DD_PKI_KEY_EC_P256, &cred), DD_PKI_OK);
    assert_int_equal(dd_db_open(g.db_path, false, &db), DD_DB_OK);
    (void)dd_clock_init_real(&clock);
    assert_int_equal(dd_registry_open(&reg, db, NULL, &clock), DD_REGISTRY_OK);
    assert_int_equal(dd_pki_path(g.dir, DD_PKI_FILE_SERVICE_CERT, path, sizeof(path)), DD_PKI_OK);
    assert_int_equal(dd_fs_read_file(path, 0, &pem, NULL), DD_FS_OK);
    assert_int_equal(dd_registry_cert_add(&reg, pem, DD_CERT_ACTIVE, true, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_cert_add(&reg, cred.certificate_pem, DD_CERT_ACTIVE, false,
                                          g.db_cert, sizeof(g.db_cert), &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_thing_create(&reg, "DbThing", NULL, NULL, NULL, 0, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_principal_attach(&reg, "DbThing", g.db_cert, &err),
                     DD_REGISTRY_OK);
    assert_int_equal(dd_registry_policy_create(&reg, "DbAllow", DOC_ALLOW_ALL, &err),
                     DD_REGISTRY_OK);
    (void)snprintf(arn, sizeof(arn), "arn:aws:iot:us-east-1:123456789012:cert/%s", g.db_cert);
    assert_int_equal(dd_registry_policy_attach(&reg, "DbAllow", arn, &err), DD_REGISTRY_OK);
    dd_db_close(db);
    free(pem);
    dd_pki_credentials_free(&cred);
    dd_pki_ca_free(ca);

    (void)snprintf(path, sizeof(path), "%s/fixtures/policies/device-policy-per-thing.json",
                   DD_SOURCE_DIR);
    assert_int_equal(dd_fs_read_file(path, 0, &doc, NULL), DD_FS_OK);
    (void)snprintf(g.per_thing_doc, sizeof(g.per_thing_doc), "%s", doc);
    free(doc);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    (void)dd_fs_remove_tree(g.dir);
    return 0;
}

/* ---- the fake broker ------------------------------------------------------------------------- */

#define MAX_PUBS 256
#define MAX_KICKS 32
#define MAX_CLIENTS 32
#define MAX_RECS 8192

typedef struct pub {
    char client_id[64]; /* "" = to subscribers */
    char topic[128];
    uint8_t *payload;
    size_t len;
    int qos;
} pub_t;

/* A decoded metering record with its strings copied. */
typedef struct mrec {
    dd_metering_type_t type;
    int64_t time_ms;
    bool registered;
    bool success;
    char key[300];
    char subject[1100];
    char ip[64];
    char cert[80];
    bool takeover;
    uint32_t bytes;
    dd_metering_action_t action;
    dd_metering_reason_t reason;
} mrec_t;

typedef struct fake {
    dd_shim_t *shim;
    int64_t wall; /* wall/monotonic ms handed to the engine */
    pub_t pubs[MAX_PUBS];
    size_t npubs;
    char kicks[MAX_KICKS][64];
    size_t nkicks;
    bool refuse_publish;
    struct {
        char id[64];
        const void *handle;
    } online[MAX_CLIENTS]; /* who the fake broker has connected */
    mrec_t recs[MAX_RECS]; /* metering records decoded so far */
    size_t nrecs;
    uint64_t last_seq;
} fake_t;

static int handles[64];
#define H(i) ((const void *)&handles[i])
#define SVC_H H(0)

static int io_publish(void *ctx, const char *client_id, const char *topic, const void *payload,
                      size_t len, int qos)
{
    fake_t *f = ctx;
    pub_t *p;

    if (f->refuse_publish) {
        return -1;
    }
    assert_true(f->npubs < MAX_PUBS);
    p = &f->pubs[f->npubs++];
    (void)snprintf(p->client_id, sizeof(p->client_id), "%s", client_id != NULL ? client_id : "");
    (void)snprintf(p->topic, sizeof(p->topic), "%s", topic);
    p->payload = malloc(len > 0 ? len : 1);
    assert_non_null(p->payload);
    memcpy(p->payload, payload, len);
    p->len = len;
    p->qos = qos;
    return 0;
}

static void fake_set_online(fake_t *f, const char *id, const void *handle)
{
    size_t i;
    size_t free_slot = MAX_CLIENTS;

    for (i = 0; i < MAX_CLIENTS; i++) {
        if (strcmp(f->online[i].id, id) == 0) {
            free_slot = i;
            break;
        }
        if (f->online[i].id[0] == '\0' && free_slot == MAX_CLIENTS) {
            free_slot = i;
        }
    }
    assert_true(free_slot < MAX_CLIENTS);
    if (handle == NULL) {
        f->online[free_slot].id[0] = '\0';
        f->online[free_slot].handle = NULL;
        return;
    }
    (void)snprintf(f->online[free_slot].id, sizeof(f->online[free_slot].id), "%s", id);
    f->online[free_slot].handle = handle;
}

static const void *fake_handle(const fake_t *f, const char *id)
{
    size_t i;

    for (i = 0; i < MAX_CLIENTS; i++) {
        if (strcmp(f->online[i].id, id) == 0) {
            return f->online[i].handle;
        }
    }
    return NULL;
}

/* Like mosquitto_kick_client_by_clientid(): the DISCONNECT event runs at once. */
static int io_kick(void *ctx, const char *client_id)
{
    fake_t *f = ctx;
    const void *h = fake_handle(f, client_id);

    assert_true(f->nkicks < MAX_KICKS);
    (void)snprintf(f->kicks[f->nkicks++], sizeof(f->kicks[0]), "%s", client_id);
    if (h != NULL) {
        fake_set_online(f, client_id, NULL);
        dd_shim_on_disconnect(f->shim, h, client_id, f->wall);
    }
    return 0;
}

static void clear_pubs(fake_t *f)
{
    size_t i;

    for (i = 0; i < f->npubs; i++) {
        free(f->pubs[i].payload);
    }
    f->npubs = 0;
}

static fake_t *start(const dd_shim_config_t *cfg_in)
{
    static fake_t f;
    dd_shim_config_t cfg;
    dd_shim_io_t io;
    char err[256];

    memset(&f, 0, sizeof(f));
    f.wall = 1000;
    if (cfg_in != NULL) {
        cfg = *cfg_in;
    } else {
        dd_shim_config_defaults(&cfg);
    }
    cfg.db_path = g.db_path;
    cfg.clock_spec = "manual:1700000000000";
    cfg.instance_id = 77;
    cfg.metering_flush_ms = 100;
    io.publish = io_publish;
    io.kick = io_kick;
    io.ctx = &f;
    if (dd_shim_create(&cfg, &io, &f.shim, err, sizeof(err)) != DD_SHIM_OK) {
        print_error("dd_shim_create: %s\n", err);
        fail();
    }
    return &f;
}

static int teardown(void **state)
{
    fake_t *f = *state;

    if (f != NULL) {
        dd_shim_destroy(f->shim);
        clear_pubs(f);
    }
    return 0;
}

/* ---- engine calls ---------------------------------------------------------------------------- */

static dd_shim_status_t connect_c(fake_t *f, const void *h, const char *client_id, const char *cert,
                                  bool clean)
{
    dd_shim_connect_info_t info;
    dd_shim_status_t st;

    memset(&info, 0, sizeof(info));
    info.client = h;
    info.client_id = client_id;
    info.cert_id = cert;
    info.address = "192.0.2.10";
    info.clean_session = clean;
    f->wall += 1;
    st = dd_shim_on_connect(f->shim, &info, f->wall);
    if (st == DD_SHIM_OK) {
        fake_set_online(f, client_id, h);
    }
    return st;
}

static dd_shim_status_t dev_connect(fake_t *f, const void *h, const char *client_id,
                                    const char *cert)
{
    return connect_c(f, h, client_id, cert, true);
}

static void disconnect(fake_t *f, const void *h, const char *client_id)
{
    f->wall += 1;
    fake_set_online(f, client_id, NULL);
    dd_shim_on_disconnect(f->shim, h, client_id, f->wall);
}

static dd_shim_status_t acl(fake_t *f, const void *h, const char *client_id, dd_shim_access_t a,
                            const char *topic, size_t len, bool retain)
{
    f->wall += 1;
    return dd_shim_on_acl(f->shim, h, client_id, a, topic, len, retain, f->wall);
}

static dd_shim_status_t pub(fake_t *f, const void *h, const char *client_id, const char *topic,
                            size_t len)
{
    return acl(f, h, client_id, DD_SHIM_ACCESS_WRITE, topic, len, false);
}

static dd_shim_status_t sub(fake_t *f, const void *h, const char *client_id, const char *filter)
{
    return acl(f, h, client_id, DD_SHIM_ACCESS_SUBSCRIBE, filter, 0, false);
}

static dd_shim_status_t rd(fake_t *f, const void *h, const char *client_id, const char *topic,
                           size_t len)
{
    return acl(f, h, client_id, DD_SHIM_ACCESS_READ, topic, len, false);
}

static void tick(fake_t *f, int64_t advance_ms)
{
    f->wall += advance_ms;
    dd_shim_on_tick(f->shim, f->wall);
}

/* ---- control messages (as ddlocald) ---------------------------------------------------------- */

static cJSON *names(const char *csv)
{
    cJSON *arr = cJSON_CreateArray();
    char buf[512];
    char *save = NULL;
    char *tok;

    if (csv == NULL) {
        return arr;
    }
    (void)snprintf(buf, sizeof(buf), "%s", csv);
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        cJSON_AddItemToArray(arr, cJSON_CreateString(tok));
    }
    return arr;
}

static cJSON *entity(cJSON *list, const char *kind, const char *name)
{
    cJSON *e = cJSON_CreateObject();
    cJSON *state;

    cJSON_AddStringToObject(e, "kind", kind);
    cJSON_AddStringToObject(e, "name", name);
    state = cJSON_AddObjectToObject(e, "state");
    cJSON_AddBoolToObject(state, "exists", true);
    cJSON_AddItemToArray(list, e);
    return state;
}

static void add_policy(cJSON *list, const char *name, const char *doc)
{
    cJSON_AddStringToObject(entity(list, "policy", name), "document", doc);
}

static void add_cert(cJSON *list, const char *id, const char *status, const char *things,
                     const char *policies)
{
    cJSON *s = entity(list, "cert", id);

    cJSON_AddStringToObject(s, "status", status);
    cJSON_AddBoolToObject(s, "service", false);
    cJSON_AddItemToObject(s, "things", names(things));
    cJSON_AddItemToObject(s, "policies", names(policies));
}

static void add_thing(cJSON *list, const char *name, const char *groups)
{
    cJSON_AddItemToObject(entity(list, "thing", name), "groups", names(groups));
}

static void add_group(cJSON *list, const char *name, const char *parent, const char *policies)
{
    cJSON *s = entity(list, "group", name);

    if (parent != NULL) {
        cJSON_AddStringToObject(s, "parent", parent);
    } else {
        cJSON_AddNullToObject(s, "parent");
    }
    cJSON_AddItemToObject(s, "policies", names(policies));
}

static void add_deleted(cJSON *list, const char *kind, const char *name)
{
    cJSON_ReplaceItemInObject(entity(list, kind, name), "exists", cJSON_CreateBool(false));
}

/* Sends {"id":id,"full":full,"entities":list} from the service connection; frees list. */
static dd_shim_status_t send_full(fake_t *f, cJSON *list, const char *id, bool full)
{
    cJSON *root = cJSON_CreateObject();
    char *text;
    dd_shim_status_t st;

    if (id != NULL) {
        cJSON_AddStringToObject(root, "id", id);
    }
    if (full) {
        cJSON_AddBoolToObject(root, "full", true);
    }
    cJSON_AddItemToObject(root, "entities", list);
    text = cJSON_PrintUnformatted(root);
    f->wall += 1;
    st = dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_REGISTRY, text, strlen(text),
                            f->wall);
    free(text);
    cJSON_Delete(root);
    return st;
}

static dd_shim_status_t ctl_send(fake_t *f, cJSON *list, const char *id)
{
    return send_full(f, list, id, false);
}

/* The service connects, then the usual registry: AllowAll, DenyAll and
 * PerThing policies; Thing01..Thing03 with their own certificates (policy
 * @p device_policy); a shared certificate on all three; a gateway
 * certificate attached to no thing. */
static fake_t *start_with_registry(const dd_shim_config_t *cfg, const char *device_policy)
{
    fake_t *f = start(cfg);
    cJSON *l = cJSON_CreateArray();

    assert_int_equal(dev_connect(f, SVC_H, SVC_ID, g.svc_cert), DD_SHIM_OK);
    add_policy(l, "AllowAll", DOC_ALLOW_ALL);
    add_policy(l, "DenyAll", DOC_DENY_ALL);
    add_policy(l, "PerThing", g.per_thing_doc);
    add_policy(l, "NoRetain", DOC_NO_RETAIN);
    add_thing(l, "Thing01", NULL);
    add_thing(l, "Thing02", NULL);
    add_thing(l, "Thing03", NULL);
    add_cert(l, CERT_T01, "ACTIVE", "Thing01", device_policy);
    add_cert(l, CERT_T02, "ACTIVE", "Thing02", device_policy);
    add_cert(l, CERT_T03, "ACTIVE", "Thing03", device_policy);
    add_cert(l, CERT_SHARED, "ACTIVE", "Thing01,Thing02,Thing03", "AllowAll");
    add_cert(l, CERT_GW, "ACTIVE", NULL, "AllowAll");
    assert_int_equal(ctl_send(f, l, NULL), DD_SHIM_OK);
    return f;
}

static const pub_t *last_response(fake_t *f)
{
    size_t i;

    for (i = f->npubs; i > 0; i--) {
        if (strcmp(f->pubs[i - 1].topic, DD_CONTROL_TOPIC_RESPONSE) == 0) {
            return &f->pubs[i - 1];
        }
    }
    return NULL;
}

/* ---- metering -------------------------------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const dd_metering_str_t *s)
{
    size_t n = s->ptr != NULL ? s->len : 0;

    assert_true(n < cap);
    if (n > 0) {
        memcpy(dst, s->ptr, n);
    }
    dst[n] = '\0';
}

static int collect(void *ctx, const dd_metering_header_t *hdr, const dd_metering_record_t *rec)
{
    fake_t *f = ctx;
    mrec_t *m;

    (void)hdr;
    assert_true(f->nrecs < MAX_RECS);
    m = &f->recs[f->nrecs++];
    memset(m, 0, sizeof(*m));
    m->type = rec->type;
    m->time_ms = rec->time_ms;
    m->registered = rec->registered;
    m->success = rec->success;
    copy_str(m->key, sizeof(m->key), &rec->key);
    copy_str(m->subject, sizeof(m->subject), &rec->subject);
    copy_str(m->ip, sizeof(m->ip), &rec->ip);
    copy_str(m->cert, sizeof(m->cert), &rec->cert_id);
    m->takeover = rec->takeover;
    m->bytes = rec->bytes;
    m->action = rec->action;
    m->reason = rec->reason;
    return 0;
}

/* Flushes the engine's batch (a tick past the interval) and decodes every
 * metering batch published since the last call into f->recs. */
static void drain_metering(fake_t *f)
{
    size_t i;
    size_t keep = 0;

    tick(f, 1000);
    for (i = 0; i < f->npubs; i++) {
        pub_t *p = &f->pubs[i];

        if (strcmp(p->topic, METERING_TOPIC) == 0) {
            dd_metering_header_t hdr;
            char err[128];

            /* To subscribers (ddlocald), at QoS 1, numbered without gaps. */
            assert_string_equal(p->client_id, "");
            assert_int_equal(p->qos, 1);
            assert_int_equal(dd_metering_decode(p->payload, p->len, &hdr, collect, f, err,
                                                sizeof(err)),
                             DD_METERING_OK);
            assert_int_equal(hdr.instance_id, 77);
            assert_int_equal(hdr.seq, f->last_seq + 1);
            f->last_seq = hdr.seq;
            free(p->payload);
        } else {
            f->pubs[keep++] = *p;
        }
    }
    f->npubs = keep;
}

/* Records matching: type, key (NULL any), and for AUTH_FAILURE action/reason (-1 any). */
static size_t count_recs(const fake_t *f, dd_metering_type_t type, const char *key, int action,
                         int reason)
{
    size_t i;
    size_t n = 0;

    for (i = 0; i < f->nrecs; i++) {
        const mrec_t *m = &f->recs[i];

        if (m->type != type || (key != NULL && strcmp(m->key, key) != 0) ||
            (action >= 0 && (int)m->action != action) ||
            (reason >= 0 && (int)m->reason != reason)) {
            continue;
        }
        n++;
    }
    return n;
}

static const mrec_t *find_rec(const fake_t *f, dd_metering_type_t type, const char *key)
{
    size_t i;

    for (i = 0; i < f->nrecs; i++) {
        if (f->recs[i].type == type && strcmp(f->recs[i].key, key) == 0) {
            return &f->recs[i];
        }
    }
    return NULL;
}

static void expect_thing(fake_t *f, const char *client_id, const char *thing)
{
    char t[300];
    bool service = true;
    bool online = false;

    assert_int_equal(dd_shim_connection(f->shim, client_id, t, sizeof(t), &service, &online),
                     DD_SHIM_OK);
    assert_string_equal(t, thing);
    assert_false(service);
    assert_true(online);
}

/* ---- tests: options and lifecycle ------------------------------------------------------------ */

static void test_dd_shim_options(void **state)
{
    dd_shim_config_t cfg;
    char err[256];
    static const struct {
        const char *key;
        const char *value;
        const char *err;
    } bad[] = {
        {"single_cert_identity", "yes", "plugin_opt_single_cert_identity must be true or false"},
        {"kick_on_deny", "2", "plugin_opt_kick_on_deny must be true or false"},
        {"clock", "sundial", "plugin_opt_clock: \"sundial\" is not a clock spec"},
        {"metering_topic", "a/+/b", "plugin_opt_metering_topic must be a topic name"},
        {"metering_topic", "", "plugin_opt_metering_topic must be a topic name"},
        {"metering_flush_ms", "0", "plugin_opt_metering_flush_ms must be 1..3600000"},
        {"metering_flush_ms", "10x", "plugin_opt_metering_flush_ms must be 1..3600000"},
        {"metering_buffer_bytes", "100", "plugin_opt_metering_buffer_bytes must be 256.."},
        {"log_level", "trace", "plugin_opt_log_level must be info or debug"},
        {"no_such_option", "1", "unknown option plugin_opt_no_such_option"},
    };
    size_t i;

    (void)state;
    dd_shim_config_defaults(&cfg);
    assert_true(cfg.single_cert_identity);
    assert_true(cfg.kick_on_deny);
    assert_string_equal(cfg.metering_topic, METERING_TOPIC);
    assert_int_equal(cfg.metering_flush_ms, DD_METER_DEFAULT_FLUSH_MS);
    assert_int_equal(cfg.metering_buffer_bytes, DD_METER_DEFAULT_BUFFER);
    assert_string_equal(cfg.reserved_prefix, "ddlocal");
    assert_null(cfg.db_path);
    assert_false(cfg.debug);
    dd_shim_config_defaults(NULL);

    assert_int_equal(dd_shim_config_set(&cfg, "db_path", "/d/ddlocal.db", err, sizeof(err)),
                     DD_SHIM_OK);
    assert_string_equal(cfg.db_path, "/d/ddlocal.db");
    assert_int_equal(dd_shim_config_set(&cfg, "clock", "scaled:60:1700000000000:1700000000000", err,
                                        sizeof(err)),
                     DD_SHIM_OK);
    assert_int_equal(dd_shim_config_set(&cfg, "region", "eu-west-1", err, sizeof(err)), DD_SHIM_OK);
    assert_int_equal(dd_shim_config_set(&cfg, "account", "111122223333", err, sizeof(err)),
                     DD_SHIM_OK);
    assert_int_equal(dd_shim_config_set(&cfg, "single_cert_identity", "false", err, sizeof(err)),
                     DD_SHIM_OK);
    assert_false(cfg.single_cert_identity);
    assert_int_equal(dd_shim_config_set(&cfg, "kick_on_deny", "off", err, sizeof(err)), DD_SHIM_OK);
    assert_false(cfg.kick_on_deny);
    assert_int_equal(dd_shim_config_set(&cfg, "metering_topic", "$ddlocal/m", err, sizeof(err)),
                     DD_SHIM_OK);
    assert_int_equal(dd_shim_config_set(&cfg, "metering_flush_ms", "3600000", err, sizeof(err)),
                     DD_SHIM_OK);
    assert_int_equal(cfg.metering_flush_ms, 3600000);
    assert_int_equal(dd_shim_config_set(&cfg, "metering_buffer_bytes", "256", err, sizeof(err)),
                     DD_SHIM_OK);
    assert_int_equal(dd_shim_config_set(&cfg, "reserved_client_prefix", "", err, sizeof(err)),
                     DD_SHIM_OK);
    assert_int_equal(dd_shim_config_set(&cfg, "log_level", "debug", err, sizeof(err)), DD_SHIM_OK);
    assert_true(cfg.debug);
    assert_string_equal(err, "");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dd_shim_config_set(&cfg, bad[i].key, bad[i].value, err, sizeof(err)) !=
                DD_SHIM_BAD_PARAMETER ||
            strncmp(err, bad[i].err, strlen(bad[i].err)) != 0) {
            print_error("%s=%s: \"%s\"\n", bad[i].key, bad[i].value, err);
            fail();
        }
    }
    assert_int_equal(dd_shim_config_set(NULL, "a", "b", NULL, 0), DD_SHIM_BAD_PARAMETER);
    assert_int_equal(dd_shim_config_set(&cfg, NULL, "b", NULL, 0), DD_SHIM_BAD_PARAMETER);
    assert_int_equal(dd_shim_config_set(&cfg, "a", NULL, NULL, 0), DD_SHIM_BAD_PARAMETER);
    assert_string_equal(dd_shim_strerror(DD_SHIM_INVALID), "refused");
    assert_string_equal(dd_shim_strerror((dd_shim_status_t)99), "unknown status");
}

static void test_dd_shim_create_errors(void **state)
{
    dd_shim_config_t cfg;
    dd_shim_io_t io = {io_publish, io_kick, NULL};
    dd_shim_io_t no_kick = {io_publish, NULL, NULL};
    dd_shim_t *s = (dd_shim_t *)1;
    char err[256];

    (void)state;
    dd_shim_config_defaults(&cfg);
    assert_int_equal(dd_shim_create(NULL, &io, &s, err, sizeof(err)), DD_SHIM_BAD_PARAMETER);
    assert_null(s);
    assert_int_equal(dd_shim_create(&cfg, NULL, &s, err, sizeof(err)), DD_SHIM_BAD_PARAMETER);
    assert_int_equal(dd_shim_create(&cfg, &no_kick, &s, err, sizeof(err)), DD_SHIM_BAD_PARAMETER);
    cfg.db_path = "/nonexistent/ddlocal.db";
    assert_int_equal(dd_shim_create(&cfg, &io, &s, err, sizeof(err)), DD_SHIM_STORE_ERROR);
    assert_non_null(strstr(err, "/nonexistent/ddlocal.db"));
    assert_null(s);
    cfg.db_path = NULL;
    cfg.region = "Not A Region";
    assert_int_equal(dd_shim_create(&cfg, &io, &s, err, sizeof(err)), DD_SHIM_BAD_PARAMETER);
    assert_non_null(strstr(err, "region"));
    cfg.region = NULL;
    cfg.clock_spec = "never";
    assert_int_equal(dd_shim_create(&cfg, &io, &s, err, sizeof(err)), DD_SHIM_BAD_PARAMETER);
    cfg.clock_spec = NULL;
    cfg.metering_buffer_bytes = 10;
    assert_int_equal(dd_shim_create(&cfg, &io, &s, err, sizeof(err)), DD_SHIM_BAD_PARAMETER);
    assert_non_null(strstr(err, "metering buffer"));

    /* Without a database it starts empty: nobody, not even the service, is known. */
    dd_shim_config_defaults(&cfg);
    assert_int_equal(dd_shim_create(&cfg, &io, &s, err, sizeof(err)), DD_SHIM_OK);
    assert_int_equal(dd_shimreg_count(dd_shim_registry(s), DD_REGISTRY_KIND_CERT), 0);
    assert_true(dd_shim_now_ms(s) > T0);
    dd_shim_destroy(s);
    dd_shim_destroy(NULL);
    assert_null(dd_shim_registry(NULL));
    assert_int_equal(dd_shim_now_ms(NULL), 0);
}

/* ---- tests: connect -------------------------------------------------------------------------- */

static void test_dd_shim_connect_identity_cases(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    cJSON *l = cJSON_CreateArray();
    dd_shim_stats_t st;
    bool service = false;
    bool online = false;
    char thing[300];

    *state = f;
    add_cert(l, "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a", "INACTIVE",
             "Thing04", "AllowAll");
    add_cert(l, "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b", "REVOKED",
             "Thing05", "AllowAll");
    add_cert(l, "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c",
             "PENDING_ACTIVATION", NULL, "AllowAll");
    add_cert(l, "4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d", "ACTIVE",
             "Thing06", NULL);
    assert_int_equal(ctl_send(f, l, NULL), DD_SHIM_OK);

    /* The service. */
    assert_int_equal(dd_shim_connection(f->shim, SVC_ID, thing, sizeof(thing), &service, &online),
                     DD_SHIM_OK);
    assert_true(service);
    assert_true(online);
    assert_string_equal(thing, "");

    /* Refused: no certificate, unknown, not ACTIVE, reserved client id, no iot:Connect. */
    assert_int_equal(dev_connect(f, H(1), "Thing01", NULL), DD_SHIM_DENIED);
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_UNKNOWN), DD_SHIM_DENIED);
    assert_int_equal(
        dev_connect(f, H(1), "Thing04",
                    "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a"),
        DD_SHIM_DENIED);
    assert_int_equal(
        dev_connect(f, H(1), "dev5",
                    "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b"),
        DD_SHIM_DENIED);
    assert_int_equal(
        dev_connect(f, H(1), "dev",
                    "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c"),
        DD_SHIM_DENIED);
    assert_int_equal(dev_connect(f, H(1), "ddlocald", CERT_T01), DD_SHIM_DENIED);
    assert_int_equal(
        dev_connect(f, H(1), "Thing06",
                    "4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d"),
        DD_SHIM_DENIED);
    assert_int_equal(dd_shim_connection(f->shim, "Thing01", NULL, 0, NULL, NULL), DD_SHIM_DENIED);

    /* Accepted, and which thing each connection is. */
    assert_int_equal(dev_connect(f, H(2), "Thing01", CERT_T01), DD_SHIM_OK);
    expect_thing(f, "Thing01", "Thing01");
    assert_int_equal(dev_connect(f, H(3), "SensorDevice03", CERT_T03), DD_SHIM_OK);
    expect_thing(f, "SensorDevice03", "Thing03");
    assert_int_equal(dev_connect(f, H(4), "Thing02", CERT_SHARED), DD_SHIM_OK);
    expect_thing(f, "Thing02", "Thing02");
    assert_int_equal(dev_connect(f, H(5), "agent-7", CERT_SHARED), DD_SHIM_OK);
    expect_thing(f, "agent-7", "");
    assert_int_equal(dev_connect(f, H(6), "gw-1", CERT_GW), DD_SHIM_OK);
    expect_thing(f, "gw-1", "");
    /* Registered in the database at start, no control message needed. */
    assert_int_equal(dev_connect(f, H(7), "db-client", g.db_cert), DD_SHIM_OK);
    expect_thing(f, "db-client", "DbThing");

    assert_int_equal(dd_shim_get_stats(f->shim, &st), DD_SHIM_OK);
    assert_int_equal(st.connects_refused, 7);
    assert_int_equal(st.connects_accepted, 7); /* the service too */
    assert_int_equal(st.connections, 7);
    assert_int_equal(dd_shim_get_stats(NULL, &st), DD_SHIM_BAD_PARAMETER);

    /* Metering: every device attempt, keyed by the thing it is (or would
     * have been), else by its client id; nothing for the service. */
    drain_metering(f);
    assert_int_equal(count_recs(f, DD_METERING_CONNECT, NULL, -1, -1), 13);
    assert_int_equal(count_recs(f, DD_METERING_CONNECT, SVC_ID, -1, -1), 0);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", DD_METERING_ACTION_CONNECT,
                                DD_METERING_REASON_UNKNOWN_CERT),
                     2);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing04", DD_METERING_ACTION_CONNECT,
                                DD_METERING_REASON_CERT_NOT_ACTIVE),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing05", DD_METERING_ACTION_CONNECT,
                                DD_METERING_REASON_CERT_NOT_ACTIVE),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "dev", DD_METERING_ACTION_CONNECT,
                                DD_METERING_REASON_CERT_NOT_ACTIVE),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", DD_METERING_ACTION_CONNECT,
                                DD_METERING_REASON_RESERVED_CLIENT_ID),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing06", DD_METERING_ACTION_CONNECT,
                                DD_METERING_REASON_POLICY),
                     1);
    {
        const mrec_t *m = find_rec(f, DD_METERING_CONNECT, "Thing03");

        assert_non_null(m);
        assert_true(m->success);
        assert_true(m->registered);
        assert_string_equal(m->subject, "SensorDevice03");
        assert_string_equal(m->ip, "192.0.2.10");
        assert_int_equal(m->time_ms, T0);
        assert_string_equal(m->cert, CERT_T03);
        m = find_rec(f, DD_METERING_CONNECT, "gw-1");
        assert_non_null(m);
        assert_false(m->registered);
        assert_string_equal(m->cert, CERT_GW);
        m = find_rec(f, DD_METERING_CONNECT, "Thing04");
        assert_non_null(m);
        assert_false(m->success);
        assert_true(m->registered);
    }
}

static void test_dd_shim_connect_policy_resource(void **state)
{
    fake_t *f = start_with_registry(NULL, "NoRetain");

    *state = f;
    /* iot:Connect on client/Thing* only: the client id decides. */
    assert_int_equal(dev_connect(f, H(1), "SensorDevice03", CERT_T03), DD_SHIM_DENIED);
    assert_int_equal(dev_connect(f, H(1), "Thing03", CERT_T03), DD_SHIM_OK);
}

static void test_dd_shim_single_cert_identity_off(void **state)
{
    dd_shim_config_t cfg;
    fake_t *f;

    dd_shim_config_defaults(&cfg);
    cfg.single_cert_identity = false;
    f = start_with_registry(&cfg, "PerThing");
    *state = f;
    /* AWS's strict rule: SensorDevice03 is no thing, so the per-thing policy's
     * ${iot:Connection.Thing.ThingName} has no value and Thing03's topics are
     * not its own. */
    assert_int_equal(dev_connect(f, H(1), "SensorDevice03", CERT_T03), DD_SHIM_OK);
    expect_thing(f, "SensorDevice03", "");
    assert_int_equal(pub(f, H(1), "SensorDevice03", REPORT("Thing03"), 10), DD_SHIM_DENIED);
    /* As Thing03 it is. */
    assert_int_equal(dev_connect(f, H(2), "Thing03", CERT_T03), DD_SHIM_OK);
    expect_thing(f, "Thing03", "Thing03");
    assert_int_equal(pub(f, H(2), "Thing03", REPORT("Thing03"), 10), DD_SHIM_OK);
}

/* ---- tests: authorization -------------------------------------------------------------------- */

static void test_dd_shim_per_thing_policy_and_kick(void **state)
{
    fake_t *f = start_with_registry(NULL, "PerThing");
    dd_shim_stats_t st;

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", REPORT("Thing01"), 321), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", "temperature-device-1", 5), DD_SHIM_OK);
    assert_int_equal(sub(f, H(1), "Thing01", "$aws/things/Thing01/defender/metrics/json/accepted"),
                     DD_SHIM_OK);
    assert_int_equal(rd(f, H(1), "Thing01", "$aws/things/Thing01/defender/metrics/json/accepted",
                        40),
                     DD_SHIM_OK);
    /* Another thing's topics are not its own. */
    assert_int_equal(sub(f, H(1), "Thing01", "$aws/things/Thing02/shadow/update/accepted"),
                     DD_SHIM_DENIED);
    assert_int_equal(rd(f, H(1), "Thing01", "$aws/things/Thing02/shadow/update/accepted", 2),
                     DD_SHIM_DENIED);
    assert_int_equal(f->nkicks, 0); /* subscribe/receive denials do not kick */
    /* A report on another thing's topic: denied and counted... */
    assert_int_equal(pub(f, H(1), "Thing01", REPORT("Thing02"), 100), DD_SHIM_DENIED);
    /* ... the client is kicked from the next tick, not inside the callback ... */
    assert_int_equal(f->nkicks, 0);
    /* ... and until then everything it does is denied without being counted again. */
    assert_int_equal(pub(f, H(1), "Thing01", REPORT("Thing01"), 10), DD_SHIM_DENIED);
    assert_int_equal(sub(f, H(1), "Thing01", "temperature-device-1"), DD_SHIM_DENIED);
    tick(f, 1);
    assert_int_equal(f->nkicks, 1);
    assert_string_equal(f->kicks[0], "Thing01");
    tick(f, 1);
    assert_int_equal(f->nkicks, 1); /* once */
    /* It may come back: the publish denial did not take its rights away. */
    assert_int_equal(dev_connect(f, H(2), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(pub(f, H(2), "Thing01", REPORT("Thing01"), 7), DD_SHIM_OK);

    drain_metering(f);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", -1, -1), 3);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", DD_METERING_ACTION_PUBLISH,
                                DD_METERING_REASON_POLICY),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01",
                                DD_METERING_ACTION_SUBSCRIBE, DD_METERING_REASON_POLICY),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", DD_METERING_ACTION_RECEIVE,
                                DD_METERING_REASON_POLICY),
                     1);
    {
        size_t i;
        bool found = false;

        for (i = 0; i < f->nrecs; i++) {
            if (f->recs[i].type == DD_METERING_AUTH_FAILURE &&
                f->recs[i].action == DD_METERING_ACTION_PUBLISH) {
                assert_string_equal(f->recs[i].subject, REPORT("Thing02"));
                assert_true(f->recs[i].registered);
                found = true;
            }
        }
        assert_true(found);
    }
    assert_int_equal(count_recs(f, DD_METERING_SENT, "Thing01", -1, -1), 3);
    assert_int_equal(count_recs(f, DD_METERING_RECEIVED, "Thing01", -1, -1), 1);
    assert_int_equal(count_recs(f, DD_METERING_DISCONNECT, "Thing01", -1, -1), 1);
    assert_false(find_rec(f, DD_METERING_DISCONNECT, "Thing01")->takeover);
    assert_int_equal(find_rec(f, DD_METERING_SENT, "Thing01")->bytes, 321);
    assert_int_equal(dd_shim_get_stats(f->shim, &st), DD_SHIM_OK);
    assert_int_equal(st.kicks, 1);
    assert_int_equal(st.denials, 5);
}

static void test_dd_shim_gateway_reports_for_others(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");

    *state = f;
    /* With an allow-all policy a device may report for any thing (AWS too). */
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", REPORT("Thing02"), 10), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(2), "gw-1", CERT_GW), DD_SHIM_OK);
    assert_int_equal(pub(f, H(2), "gw-1", "$aws/things/Thing03/defender/metrics/cbor", 10),
                     DD_SHIM_OK);
    assert_int_equal(f->nkicks, 0);
}

static void test_dd_shim_kick_on_deny_off(void **state)
{
    dd_shim_config_t cfg;
    fake_t *f;

    dd_shim_config_defaults(&cfg);
    cfg.kick_on_deny = false;
    f = start_with_registry(&cfg, "PerThing");
    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", REPORT("Thing02"), 1), DD_SHIM_DENIED);
    assert_int_equal(pub(f, H(1), "Thing01", REPORT("Thing02"), 1), DD_SHIM_DENIED);
    assert_int_equal(pub(f, H(1), "Thing01", REPORT("Thing01"), 1), DD_SHIM_OK);
    tick(f, 10);
    assert_int_equal(f->nkicks, 0);
    drain_metering(f);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", DD_METERING_ACTION_PUBLISH,
                                DD_METERING_REASON_POLICY),
                     2);
}

static void test_dd_shim_kick_only_that_connection(void **state)
{
    fake_t *f = start_with_registry(NULL, "PerThing");

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", REPORT("Thing02"), 1), DD_SHIM_DENIED);
    /* Before the tick, the same client id connects again (the broker drops
     * the old connection): the new one earned no kick. */
    assert_int_equal(dev_connect(f, H(2), "Thing01", CERT_T01), DD_SHIM_OK);
    disconnect(f, H(1), "Thing01"); /* the old one's late DISCONNECT is ignored */
    expect_thing(f, "Thing01", "Thing01");
    tick(f, 1);
    assert_int_equal(f->nkicks, 0);
    assert_int_equal(pub(f, H(2), "Thing01", REPORT("Thing01"), 1), DD_SHIM_OK);
    /* The old handle is no longer a session the engine knows. */
    assert_int_equal(pub(f, H(1), "Thing01", REPORT("Thing01"), 1), DD_SHIM_DENIED);
}

static void test_dd_shim_kick_control(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    char *text = NULL;
    size_t len = 0;

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(2), "Thing02", CERT_T02), DD_SHIM_OK);
    assert_int_equal(dd_control_encode_kick("Thing01", "k1", &text, &len), DD_CONTROL_OK);
    f->wall += 1;
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_KICK, text, len,
                                        f->wall),
                     DD_SHIM_OK);
    free(text);
    /* Like a revoked connection: silent denial until the tick kicks it; Thing02 stays. */
    assert_int_equal(f->nkicks, 0);
    assert_int_equal(pub(f, H(1), "Thing01", REPORT("Thing01"), 1), DD_SHIM_DENIED);
    tick(f, 1);
    assert_int_equal(f->nkicks, 1);
    assert_string_equal(f->kicks[0], "Thing01");
    assert_int_equal(pub(f, H(2), "Thing02", REPORT("Thing02"), 1), DD_SHIM_OK);
    /* It may connect again at once. */
    assert_int_equal(dev_connect(f, H(3), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(pub(f, H(3), "Thing01", REPORT("Thing01"), 1), DD_SHIM_OK);
    /* A kick without a thing is refused; a device may not send one. */
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_KICK, "{}", 2,
                                        f->wall),
                     DD_SHIM_INVALID);
    assert_int_equal(dd_shim_on_control(f->shim, H(2), "Thing02", DD_CONTROL_TOPIC_KICK,
                                        "{\"thing\":\"Thing01\"}", 19, f->wall),
                     DD_SHIM_DENIED);
    tick(f, 1);
    assert_int_equal(f->nkicks, 1);
}

static void test_dd_shim_reserved_topics(void **state)
{
    static const char *const no_write[] = {
        "$aws/things/Thing01/defender/metrics/json/accepted",
        "$aws/things/Thing01/defender/metrics/cbor/rejected",
        "$aws/things/Thing01/shadow/update/accepted",
        "$CONTROL/ddlocal/v1/registry",
        "$CONTROL/dynamic-security/v1",
        "$ddlocal",
        "$ddlocal/metering/v1",
        "ddlocal",
        "ddlocal/sns/x",
    };
    static const char *const no_subscribe[] = {
        "$aws/things/Thing01/defender/metrics/json",
        "$aws/things/Thing01/defender/metrics/cbor",
        "$aws/things/Thing01/defender/metrics/+",
        "$aws/things/+/defender/metrics/json",
        "$aws/things/+/defender/metrics/+",
        "$CONTROL/#",
        "$ddlocal/#",
        "$ddlocal",
    };
    dd_shim_config_t cfg;
    fake_t *f;
    size_t i;

    dd_shim_config_defaults(&cfg);
    cfg.kick_on_deny = false;
    f = start_with_registry(&cfg, "AllowAll");
    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    for (i = 0; i < sizeof(no_write) / sizeof(no_write[0]); i++) {
        if (pub(f, H(1), "Thing01", no_write[i], 3) != DD_SHIM_DENIED) {
            print_error("a device may publish on %s\n", no_write[i]);
            fail();
        }
    }
    for (i = 0; i < sizeof(no_subscribe) / sizeof(no_subscribe[0]); i++) {
        if (sub(f, H(1), "Thing01", no_subscribe[i]) != DD_SHIM_DENIED) {
            print_error("a device may subscribe to %s\n", no_subscribe[i]);
            fail();
        }
    }
    /* What stays allowed: replies, other $aws topics, SNS stand-ins to read. */
    assert_int_equal(sub(f, H(1), "Thing01", "$aws/things/Thing01/defender/metrics/json/accepted"),
                     DD_SHIM_OK);
    assert_int_equal(sub(f, H(1), "Thing01", "$aws/things/Thing01/defender/metrics/json/+"),
                     DD_SHIM_OK);
    assert_int_equal(sub(f, H(1), "Thing01", "ddlocal/sns/alerts"), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", "$aws/things/Thing01/shadow/update", 3), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", "accepted", 3), DD_SHIM_OK);
    /* Reports and internal topics are never delivered to a device, whatever
     * its wildcard covers; that is not the device's failure (not counted). */
    assert_int_equal(rd(f, H(1), "Thing01", REPORT("Thing01"), 3), DD_SHIM_DENIED);
    assert_int_equal(rd(f, H(1), "Thing01", METERING_TOPIC, 3), DD_SHIM_DENIED);
    assert_int_equal(rd(f, H(1), "Thing01", "$CONTROL/ddlocal/v1/response", 3), DD_SHIM_DENIED);
    assert_int_equal(rd(f, H(1), "Thing01", "$aws/things/Thing01/defender/metrics/json/accepted",
                        3),
                     DD_SHIM_OK);
    /* Unsubscribing is always fine. */
    assert_int_equal(acl(f, H(1), "Thing01", DD_SHIM_ACCESS_UNSUBSCRIBE, "$CONTROL/#", 0, false),
                     DD_SHIM_OK);

    /* The service may do all of it, unmetered. */
    assert_int_equal(pub(f, SVC_H, SVC_ID, "$aws/things/Thing01/defender/metrics/json/accepted", 3),
                     DD_SHIM_OK);
    assert_int_equal(pub(f, SVC_H, SVC_ID, "ddlocal/sns/alerts", 3), DD_SHIM_OK);
    assert_int_equal(sub(f, SVC_H, SVC_ID, "$aws/things/+/defender/metrics/+"), DD_SHIM_OK);
    assert_int_equal(sub(f, SVC_H, SVC_ID, METERING_TOPIC), DD_SHIM_OK);
    assert_int_equal(rd(f, SVC_H, SVC_ID, REPORT("Thing01"), 3), DD_SHIM_OK);

    drain_metering(f);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", DD_METERING_ACTION_PUBLISH,
                                DD_METERING_REASON_RESERVED_TOPIC),
                     sizeof(no_write) / sizeof(no_write[0]));
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01",
                                DD_METERING_ACTION_SUBSCRIBE, DD_METERING_REASON_RESERVED_TOPIC),
                     sizeof(no_subscribe) / sizeof(no_subscribe[0]));
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", DD_METERING_ACTION_RECEIVE,
                                -1),
                     0);
    assert_int_equal(count_recs(f, DD_METERING_RECEIVED, "Thing01", -1, -1), 1);
    assert_int_equal(count_recs(f, DD_METERING_SENT, SVC_ID, -1, -1), 0);
    assert_int_equal(count_recs(f, DD_METERING_RECEIVED, SVC_ID, -1, -1), 0);
}

static void test_dd_shim_aws_limits(void **state)
{
    dd_shim_config_t cfg;
    fake_t *f;
    char topic[DD_SHIM_TOPIC_MAX + 2];
    static char huge[65536];
    const mrec_t *m;
    size_t i;

    dd_shim_config_defaults(&cfg);
    cfg.kick_on_deny = false;
    f = start_with_registry(&cfg, "AllowAll");
    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);

    memset(topic, 'a', DD_SHIM_TOPIC_MAX);
    topic[DD_SHIM_TOPIC_MAX] = '\0';
    assert_int_equal(pub(f, H(1), "Thing01", topic, 1), DD_SHIM_OK);
    assert_int_equal(sub(f, H(1), "Thing01", topic), DD_SHIM_OK);
    topic[DD_SHIM_TOPIC_MAX] = 'a';
    topic[DD_SHIM_TOPIC_MAX + 1] = '\0';
    assert_int_equal(pub(f, H(1), "Thing01", topic, 1), DD_SHIM_DENIED);
    assert_int_equal(sub(f, H(1), "Thing01", topic), DD_SHIM_DENIED);

    assert_int_equal(pub(f, H(1), "Thing01", "a/b/c/d/e/f/g/h", 1), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", "a/b/c/d/e/f/g/h/i", 1), DD_SHIM_DENIED);
    assert_int_equal(sub(f, H(1), "Thing01", "a/b/c/d/e/f/g/+/#"), DD_SHIM_DENIED);
    /* Basic Ingest's $aws/rules/NAME/ prefix is not counted. */
    assert_int_equal(pub(f, H(1), "Thing01", "$aws/rules/r/a/b/c/d/e/f/g/h", 1), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", "$aws/rules/r/a/b/c/d/e/f/g/h/i", 1), DD_SHIM_DENIED);

    assert_int_equal(pub(f, H(1), "Thing01", "t", DD_SHIM_PAYLOAD_MAX), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", "t", DD_SHIM_PAYLOAD_MAX + 1), DD_SHIM_DENIED);

    /* A 64 KiB topic: denied, counted, its subject cut to a bounded size. */
    memset(huge, 'z', sizeof(huge) - 1);
    assert_int_equal(pub(f, H(1), "Thing01", huge, 1), DD_SHIM_DENIED);

    drain_metering(f);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", DD_METERING_ACTION_PUBLISH,
                                DD_METERING_REASON_TOPIC_TOO_LONG),
                     2);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01",
                                DD_METERING_ACTION_SUBSCRIBE, DD_METERING_REASON_TOPIC_TOO_LONG),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", -1,
                                DD_METERING_REASON_TOO_MANY_LEVELS),
                     3);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", DD_METERING_ACTION_PUBLISH,
                                DD_METERING_REASON_PAYLOAD_TOO_LARGE),
                     1);
    for (i = 0, m = NULL; i < f->nrecs; i++) {
        if (f->recs[i].reason == DD_METERING_REASON_TOPIC_TOO_LONG &&
            f->recs[i].subject[0] == 'z') {
            m = &f->recs[i];
        }
    }
    assert_non_null(m);
    assert_int_equal(strlen(m->subject), DD_SHIM_METER_SUBJECT_MAX);
    /* The allowed 128 KiB message is metered with its size. */
    for (i = 0, m = NULL; i < f->nrecs; i++) {
        if (f->recs[i].type == DD_METERING_SENT && f->recs[i].bytes == DD_SHIM_PAYLOAD_MAX) {
            m = &f->recs[i];
        }
    }
    assert_non_null(m);
}

static void test_dd_shim_retain_needs_retain_publish(void **state)
{
    fake_t *f = start_with_registry(NULL, "NoRetain");

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(acl(f, H(1), "Thing01", DD_SHIM_ACCESS_WRITE, "t/1", 1, false), DD_SHIM_OK);
    assert_int_equal(acl(f, H(1), "Thing01", DD_SHIM_ACCESS_WRITE, "t/1", 1, true), DD_SHIM_DENIED);
}

/* ---- tests: live changes --------------------------------------------------------------------- */

/* The workshop: allow iot:* on the certificate, deny iot:* on IsolatedDevices;
 * the isolator adds Thing03 to the group while SensorDevice03 is connected. */
static void quarantine(bool via_parent)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    cJSON *l = cJSON_CreateArray();

    if (via_parent) {
        add_group(l, "Quarantine", NULL, "DenyAll");
        add_group(l, "IsolatedDevices", "Quarantine", NULL);
    } else {
        add_group(l, "IsolatedDevices", NULL, "DenyAll");
    }
    assert_int_equal(ctl_send(f, l, NULL), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(1), "SensorDevice03", CERT_T03), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(2), "shared-agent", CERT_SHARED), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "SensorDevice03", "temperature-device-3", 10), DD_SHIM_OK);

    l = cJSON_CreateArray();
    add_thing(l, "Thing03", "IsolatedDevices");
    assert_int_equal(ctl_send(f, l, "iso-1"), DD_SHIM_OK);
    /* The very next packet is denied (and counted), before any tick. */
    assert_int_equal(pub(f, H(1), "SensorDevice03", "temperature-device-3", 10), DD_SHIM_DENIED);
    assert_int_equal(sub(f, H(1), "SensorDevice03", "temperature-device-3"), DD_SHIM_DENIED);
    assert_int_equal(rd(f, H(1), "SensorDevice03", "temperature-device-3", 10), DD_SHIM_DENIED);
    /* The connection sharing a certificate with Thing01..03 is no thing:
     * the quarantine does not touch it (the workshop's Audit finding). */
    assert_int_equal(pub(f, H(2), "shared-agent", "temperature-device-3", 10), DD_SHIM_OK);
    assert_int_equal(f->nkicks, 0);
    tick(f, 1);
    assert_int_equal(f->nkicks, 1);
    assert_string_equal(f->kicks[0], "SensorDevice03");
    /* Reconnects are refused: iot:Connect is now explicitly denied. */
    assert_int_equal(dev_connect(f, H(3), "SensorDevice03", CERT_T03), DD_SHIM_DENIED);
    assert_int_equal(dev_connect(f, H(3), "Thing03", CERT_T03), DD_SHIM_DENIED);
    assert_int_equal(dev_connect(f, H(4), "Thing03", CERT_SHARED), DD_SHIM_DENIED);
    assert_int_equal(dev_connect(f, H(4), "Thing02", CERT_SHARED), DD_SHIM_OK);

    drain_metering(f);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing03", DD_METERING_ACTION_PUBLISH,
                                DD_METERING_REASON_REVOKED),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing03",
                                DD_METERING_ACTION_SUBSCRIBE, DD_METERING_REASON_REVOKED),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing03", DD_METERING_ACTION_CONNECT,
                                DD_METERING_REASON_POLICY),
                     3);
    assert_int_equal(count_recs(f, DD_METERING_DISCONNECT, "Thing03", -1, -1), 1);
    /* Released: the thing leaves the group and may connect again. */
    l = cJSON_CreateArray();
    add_thing(l, "Thing03", NULL);
    assert_int_equal(ctl_send(f, l, NULL), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(3), "SensorDevice03", CERT_T03), DD_SHIM_OK);
    dd_shim_destroy(f->shim);
    f->shim = NULL;
    clear_pubs(f);
}

static void test_dd_shim_quarantine_group(void **state)
{
    (void)state;
    quarantine(false);
}

static void test_dd_shim_quarantine_parent_group(void **state)
{
    (void)state;
    quarantine(true);
}

static void test_dd_shim_certificate_change_at_runtime(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    cJSON *l;

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(2), "Thing02", CERT_T02), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(3), "Thing03", CERT_T03), DD_SHIM_OK);
    assert_int_equal(connect_c(f, H(4), "gw-1", CERT_GW, false), DD_SHIM_OK);
    disconnect(f, H(4), "gw-1"); /* a persistent session, offline */

    l = cJSON_CreateArray();
    add_cert(l, CERT_T01, "INACTIVE", "Thing01", "AllowAll");       /* status */
    add_deleted(l, "cert", CERT_T02);                               /* deleted */
    add_cert(l, CERT_T03, "ACTIVE", "Thing03,Thing04", "AllowAll"); /* identity changes */
    add_cert(l, CERT_GW, "REVOKED", NULL, "AllowAll");
    assert_int_equal(ctl_send(f, l, NULL), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", "t", 1), DD_SHIM_DENIED);
    assert_int_equal(pub(f, H(2), "Thing02", "t", 1), DD_SHIM_DENIED);
    assert_int_equal(pub(f, H(3), "Thing03", "t", 1), DD_SHIM_OK); /* still Thing03 by client id */
    /* Messages queued for the revoked offline session are not delivered. */
    assert_int_equal(rd(f, H(4), "gw-1", "t", 1), DD_SHIM_DENIED);
    tick(f, 1);
    assert_int_equal(f->nkicks, 2);
    assert_int_equal(dev_connect(f, H(5), "Thing01", CERT_T01), DD_SHIM_DENIED);
    assert_int_equal(dev_connect(f, H(5), "Thing02", CERT_T02), DD_SHIM_DENIED);
    assert_int_equal(dev_connect(f, H(5), "gw-1", CERT_GW), DD_SHIM_DENIED);

    /* The certificate now names two things; a connection whose thing came
     * from the single-thing rule loses it: revoked. */
    l = cJSON_CreateArray();
    add_cert(l, CERT_T03, "ACTIVE", "Thing03", "AllowAll");
    assert_int_equal(ctl_send(f, l, NULL), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(6), "SensorDevice03", CERT_T03), DD_SHIM_OK);
    l = cJSON_CreateArray();
    add_cert(l, CERT_T03, "ACTIVE", "Thing03,Thing04", "AllowAll");
    assert_int_equal(ctl_send(f, l, NULL), DD_SHIM_OK);
    assert_int_equal(pub(f, H(6), "SensorDevice03", "t", 1), DD_SHIM_DENIED);

    drain_metering(f);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing01", DD_METERING_ACTION_CONNECT,
                                DD_METERING_REASON_CERT_NOT_ACTIVE),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, "Thing02", DD_METERING_ACTION_CONNECT,
                                DD_METERING_REASON_UNKNOWN_CERT),
                     1);
    assert_int_equal(count_recs(f, DD_METERING_AUTH_FAILURE, NULL, DD_METERING_ACTION_PUBLISH,
                                DD_METERING_REASON_REVOKED),
                     3);
}

static void test_dd_shim_malformed_policy_keeps_previous(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    dd_shim_stats_t before;
    dd_shim_stats_t after;
    const pub_t *r;
    char id[DD_CONTROL_ID_MAX + 1];
    char err[DD_CONTROL_ERROR_MAX];
    bool ok = true;
    cJSON *l;
    uint64_t gen;
    const char *delete_allow =
        "{\"kind\":\"policy\",\"name\":\"AllowAll\",\"state\":{\"exists\":false}}";

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(dd_shim_get_stats(f->shim, &before), DD_SHIM_OK);
    gen = dd_shimreg_generation(dd_shim_registry(f->shim));

    /* Three changes, one malformed: none applies. */
    l = cJSON_CreateArray();
    add_policy(l, "AllowAll", DOC_DENY_ALL);
    add_thing(l, "Thing09", NULL);
    add_policy(l, "Bad", DOC_BAD_EFFECT);
    assert_int_equal(ctl_send(f, l, "req-7"), DD_SHIM_INVALID);
    r = last_response(f);
    assert_non_null(r);
    assert_string_equal(r->client_id, SVC_ID); /* to the sender only */
    assert_int_equal(r->qos, 1);
    assert_int_equal(dd_control_decode_response(r->payload, r->len, id, &ok, err, sizeof(err)),
                     DD_CONTROL_OK);
    assert_string_equal(id, "req-7");
    assert_false(ok);
    assert_string_equal(err, "policy Bad: Statement[0].Effect must be \"Allow\" or \"Deny\"");
    assert_int_equal(dd_shimreg_generation(dd_shim_registry(f->shim)), gen);
    assert_null(dd_shimreg_thing(dd_shim_registry(f->shim), "Thing09"));
    assert_int_equal(pub(f, H(1), "Thing01", "t", 1), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(2), "Thing02", CERT_T02), DD_SHIM_OK);

    /* Not even a message: refused, no response possible, nothing changed. */
    f->wall++;
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_REGISTRY,
                                        "{\"entities\":[", 13, f->wall),
                     DD_SHIM_INVALID);
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, "$CONTROL/ddlocal/v1/nope", "{}", 2,
                                        f->wall),
                     DD_SHIM_INVALID);
    /* A device cannot send control messages at all. */
    assert_int_equal(dd_shim_on_control(f->shim, H(1), "Thing01", DD_CONTROL_TOPIC_REGISTRY,
                                        delete_allow, strlen(delete_allow), f->wall),
                     DD_SHIM_DENIED);
    /* Nor an unknown session, even with the service's client id. */
    assert_int_equal(dd_shim_on_control(f->shim, H(9), SVC_ID, DD_CONTROL_TOPIC_REGISTRY, "{}", 2,
                                        f->wall),
                     DD_SHIM_DENIED);
    assert_int_equal(dd_shim_on_control(NULL, SVC_H, SVC_ID, "t", "{}", 2, 0),
                     DD_SHIM_BAD_PARAMETER);
    assert_int_equal(pub(f, H(1), "Thing01", "t", 1), DD_SHIM_OK);
    assert_int_equal(dd_shim_get_stats(f->shim, &after), DD_SHIM_OK);
    assert_int_equal(after.control_refused, before.control_refused + 3);
    assert_int_equal(after.control_applied, before.control_applied);

    /* The same change without the bad policy applies, and says so. */
    l = cJSON_CreateArray();
    add_policy(l, "AllowAll", DOC_DENY_ALL);
    assert_int_equal(ctl_send(f, l, "req-8"), DD_SHIM_OK);
    r = last_response(f);
    assert_int_equal(dd_control_decode_response(r->payload, r->len, id, &ok, err, sizeof(err)),
                     DD_CONTROL_OK);
    assert_string_equal(id, "req-8");
    assert_true(ok);
    /* Explicit deny on iot:Connect: both devices lose their connection. */
    assert_int_equal(pub(f, H(1), "Thing01", "t", 1), DD_SHIM_DENIED);
    tick(f, 1);
    assert_int_equal(f->nkicks, 2);
    assert_int_equal(dd_shim_get_stats(f->shim, &after), DD_SHIM_OK);
    assert_int_equal(after.control_applied, before.control_applied + 1);
}

static void test_dd_shim_full_snapshot(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    cJSON *l = cJSON_CreateArray();
    cJSON *svc;

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(2), "gw-1", CERT_GW), DD_SHIM_OK);
    /* ddlocald's resynchronisation: only what it names stays. */
    svc = entity(l, "cert", g.svc_cert);
    cJSON_AddStringToObject(svc, "status", "ACTIVE");
    cJSON_AddBoolToObject(svc, "service", true);
    add_policy(l, "AllowAll", DOC_ALLOW_ALL);
    add_cert(l, CERT_GW, "ACTIVE", NULL, "AllowAll");
    assert_int_equal(send_full(f, l, NULL, true), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", "t", 1), DD_SHIM_DENIED);
    assert_int_equal(pub(f, H(2), "gw-1", "t", 1), DD_SHIM_OK);
    assert_int_equal(pub(f, SVC_H, SVC_ID, "t", 1), DD_SHIM_OK);
    assert_int_equal(dd_shimreg_count(dd_shim_registry(f->shim), DD_REGISTRY_KIND_THING), 0);

    /* A snapshot without the service certificate revokes the service too. */
    l = cJSON_CreateArray();
    assert_int_equal(send_full(f, l, NULL, true), DD_SHIM_OK);
    assert_int_equal(pub(f, SVC_H, SVC_ID, "t", 1), DD_SHIM_DENIED);
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_REGISTRY, "{}", 2,
                                        f->wall),
                     DD_SHIM_DENIED);
}

static void test_dd_shim_clock_control(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    char *payload = NULL;
    size_t len = 0;
    char id[DD_CONTROL_ID_MAX + 1];
    char err[DD_CONTROL_ERROR_MAX];
    bool ok = true;
    const pub_t *r;

    *state = f;
    assert_int_equal(dd_shim_now_ms(f->shim), T0);
    assert_int_equal(dd_control_encode_clock("manual:1700000060000", "c1", &payload, &len),
                     DD_CONTROL_OK);
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_CLOCK, payload,
                                        len, f->wall),
                     DD_SHIM_OK);
    free(payload);
    assert_int_equal(dd_shim_now_ms(f->shim), T0 + 60000);
    /* A manual clock never goes back. */
    assert_int_equal(dd_control_encode_clock("manual:1700000000000", "c2", &payload, &len),
                     DD_CONTROL_OK);
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_CLOCK, payload,
                                        len, f->wall),
                     DD_SHIM_INVALID);
    free(payload);
    r = last_response(f);
    assert_int_equal(dd_control_decode_response(r->payload, r->len, id, &ok, err, sizeof(err)),
                     DD_CONTROL_OK);
    assert_string_equal(id, "c2");
    assert_false(ok);
    assert_non_null(strstr(err, "cannot go back"));
    assert_int_equal(dd_shim_now_ms(f->shim), T0 + 60000);
    assert_int_equal(dd_control_encode_clock("not-a-clock", NULL, &payload, &len), DD_CONTROL_OK);
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_CLOCK, payload,
                                        len, f->wall),
                     DD_SHIM_INVALID);
    free(payload);

    /* Metering records carry pipeline time. */
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    drain_metering(f);
    assert_int_equal(find_rec(f, DD_METERING_CONNECT, "Thing01")->time_ms, T0 + 60000);
}

/* The clock barrier: a flush request publishes the pending metering batch, then the response. */
static void test_dd_shim_flush_control(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    char *payload = NULL;
    size_t len = 0;
    char id[DD_CONTROL_ID_MAX + 1];
    bool ok = false;
    size_t first;
    size_t i;
    size_t batch_at = SIZE_MAX;
    const pub_t *r;

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(pub(f, H(1), "Thing01", "t", 1), DD_SHIM_OK);
    first = f->npubs;
    /* No time passed: only the request makes the batch go now. */
    assert_int_equal(dd_control_encode_flush("barrier-1", &payload, &len), DD_CONTROL_OK);
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_FLUSH, payload,
                                        len, f->wall),
                     DD_SHIM_OK);
    free(payload);
    for (i = first; i < f->npubs; i++) {
        if (strcmp(f->pubs[i].topic, METERING_TOPIC) == 0 && batch_at == SIZE_MAX) {
            batch_at = i;
        }
    }
    r = last_response(f);
    assert_non_null(r);
    assert_true(batch_at != SIZE_MAX);
    assert_true(batch_at < (size_t)(r - f->pubs)); /* the batch first */
    assert_string_equal(r->client_id, SVC_ID);
    assert_int_equal(dd_control_decode_response(r->payload, r->len, id, &ok, NULL, 0),
                     DD_CONTROL_OK);
    assert_string_equal(id, "barrier-1");
    assert_true(ok);
    drain_metering(f);
    assert_non_null(find_rec(f, DD_METERING_CONNECT, "Thing01"));
    /* Nothing pending: still answered. A flush without an id is refused (no barrier). */
    first = f->npubs;
    assert_int_equal(dd_control_encode_flush("barrier-2", &payload, &len), DD_CONTROL_OK);
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_FLUSH, payload,
                                        len, f->wall),
                     DD_SHIM_OK);
    free(payload);
    assert_int_equal(f->npubs, first + 1);
    assert_int_equal(dd_shim_on_control(f->shim, SVC_H, SVC_ID, DD_CONTROL_TOPIC_FLUSH, "{}", 2,
                                        f->wall),
                     DD_SHIM_INVALID);
    assert_int_equal(dd_control_encode_flush(NULL, &payload, &len), DD_CONTROL_BAD_PARAMETER);
}

/* ---- tests: metering and sessions ------------------------------------------------------------ */

static void test_dd_shim_metering_counts(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    uint64_t sent_bytes = 0;
    size_t i;
    dd_shim_stats_t st;

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(2), "gw-1", CERT_GW), DD_SHIM_OK);
    for (i = 0; i < 50; i++) {
        assert_int_equal(pub(f, H(1), "Thing01", "telemetry/1", 100 + i), DD_SHIM_OK);
        sent_bytes += 100 + i;
    }
    for (i = 0; i < 20; i++) {
        assert_int_equal(rd(f, H(2), "gw-1", "telemetry/1", 100 + i), DD_SHIM_OK);
    }
    /* Nothing is published before the interval... */
    tick(f, 1);
    assert_int_equal(f->npubs, 0);
    disconnect(f, H(1), "Thing01");
    disconnect(f, H(2), "gw-1");
    /* ... a DISCONNECT of an unknown or refused client is ignored. */
    dd_shim_on_disconnect(f->shim, H(3), "nobody", f->wall);
    dd_shim_on_disconnect(f->shim, H(3), NULL, f->wall);
    dd_shim_on_disconnect(NULL, H(3), "x", f->wall);
    drain_metering(f);
    assert_int_equal(count_recs(f, DD_METERING_SENT, "Thing01", -1, -1), 50);
    assert_int_equal(count_recs(f, DD_METERING_RECEIVED, "gw-1", -1, -1), 20);
    assert_int_equal(count_recs(f, DD_METERING_CONNECT, NULL, -1, -1), 2);
    assert_int_equal(count_recs(f, DD_METERING_DISCONNECT, NULL, -1, -1), 2);
    {
        uint64_t total = 0;

        for (i = 0; i < f->nrecs; i++) {
            if (f->recs[i].type == DD_METERING_SENT) {
                total += f->recs[i].bytes;
                assert_true(f->recs[i].registered);
                assert_string_equal(f->recs[i].subject, "telemetry/1");
            }
            if (f->recs[i].type == DD_METERING_RECEIVED) {
                assert_false(f->recs[i].registered); /* unregistered: its client id */
            }
        }
        assert_int_equal(total, sent_bytes);
    }
    assert_int_equal(dd_shim_get_stats(f->shim, &st), DD_SHIM_OK);
    assert_int_equal(st.meter.records, 74);
    assert_int_equal(st.meter.batches, f->last_seq);

    /* Refused batches are dropped and counted; the engine carries on. */
    f->refuse_publish = true;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    tick(f, 1000);
    assert_int_equal(dd_shim_get_stats(f->shim, &st), DD_SHIM_OK);
    assert_int_equal(st.meter.failed_batches, 1);
    assert_int_equal(st.meter.dropped_records, 1);
    f->refuse_publish = false;

    /* Destroy publishes what is pending. */
    assert_int_equal(pub(f, H(1), "Thing01", "t", 1), DD_SHIM_OK);
    dd_shim_destroy(f->shim);
    f->shim = NULL;
    assert_int_equal(f->npubs, 1);
    assert_string_equal(f->pubs[0].topic, METERING_TOPIC);
}

static void test_dd_shim_sessions(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    dd_shim_stats_t st;
    bool online = true;

    *state = f;
    assert_int_equal(connect_c(f, H(1), "Thing01", CERT_T01, true), DD_SHIM_OK);
    assert_int_equal(connect_c(f, H(2), "Thing02", CERT_T02, false), DD_SHIM_OK);
    disconnect(f, H(1), "Thing01");
    disconnect(f, H(2), "Thing02");
    assert_int_equal(dd_shim_connection(f->shim, "Thing01", NULL, 0, NULL, &online), DD_SHIM_OK);
    assert_false(online);
    /* A clean session's will message is checked just after its DISCONNECT. */
    assert_int_equal(pub(f, H(1), "Thing01", "will/topic", 3), DD_SHIM_OK);
    /* Messages queued for an offline persistent session: READ is decided,
     * delivery is metered only when it happens online. */
    assert_int_equal(rd(f, H(2), "Thing02", "t/queued", 3), DD_SHIM_OK);
    tick(f, DD_SHIM_OFFLINE_GRACE_MS + 1000);
    assert_int_equal(dd_shim_get_stats(f->shim, &st), DD_SHIM_OK);
    assert_int_equal(st.connections, 2); /* service + the persistent session */
    assert_int_equal(dd_shim_connection(f->shim, "Thing01", NULL, 0, NULL, NULL), DD_SHIM_DENIED);
    assert_int_equal(dd_shim_connection(f->shim, "Thing02", NULL, 0, NULL, &online), DD_SHIM_OK);
    assert_false(online);

    /* Sessions restored by the broker after a restart (no record): only the
     * service's reserved client ids are delivered to. */
    assert_int_equal(rd(f, H(8), "ddlocald-isolator", "t", 1), DD_SHIM_OK);
    assert_int_equal(rd(f, H(8), "Thing09", "t", 1), DD_SHIM_DENIED);
    assert_int_equal(pub(f, H(8), "ddlocald-isolator", "t", 1), DD_SHIM_DENIED);

    /* Session takeover: the old connection is counted as disconnected. */
    assert_int_equal(dev_connect(f, H(3), "Thing03", CERT_T03), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(4), "Thing03", CERT_T03), DD_SHIM_OK);
    disconnect(f, H(3), "Thing03");
    expect_thing(f, "Thing03", "Thing03");

    drain_metering(f);
    assert_int_equal(count_recs(f, DD_METERING_RECEIVED, "Thing02", -1, -1), 0);
    assert_int_equal(count_recs(f, DD_METERING_DISCONNECT, "Thing03", -1, -1), 1);
    assert_int_equal(count_recs(f, DD_METERING_CONNECT, "Thing03", -1, -1), 2);
    /* The takeover is said (connection history for audits), before the new CONNECT, and every
     * CONNECT carries its certificate id. */
    {
        const mrec_t *d = find_rec(f, DD_METERING_DISCONNECT, "Thing03");
        size_t i;

        assert_true(d->takeover);
        assert_string_equal(d->subject, "Thing03");
        for (i = 0; i < f->nrecs; i++) {
            if (f->recs[i].type == DD_METERING_CONNECT && strcmp(f->recs[i].key, "Thing03") == 0) {
                assert_string_equal(f->recs[i].cert, CERT_T03);
            }
        }
        assert_true(f->recs[f->nrecs - 1].type == DD_METERING_CONNECT);
        assert_true(f->recs[f->nrecs - 2].type == DD_METERING_DISCONNECT);
    }

    assert_int_equal(dd_shim_on_acl(NULL, H(1), "x", DD_SHIM_ACCESS_READ, "t", 0, false, 0),
                     DD_SHIM_BAD_PARAMETER);
    assert_int_equal(dd_shim_on_acl(f->shim, H(1), "x", DD_SHIM_ACCESS_READ, NULL, 0, false, 0),
                     DD_SHIM_BAD_PARAMETER);
    assert_int_equal(dd_shim_on_connect(f->shim, NULL, 0), DD_SHIM_BAD_PARAMETER);
    {
        dd_shim_connect_info_t info;

        memset(&info, 0, sizeof(info));
        info.client_id = "";
        info.cert_id = CERT_T01;
        assert_int_equal(dd_shim_on_connect(f->shim, &info, 0), DD_SHIM_BAD_PARAMETER);
    }
    dd_shim_on_tick(NULL, 0);
}

/* The broker thread's per-message path: decisions and metering allocate nothing. */
static void test_dd_shim_no_allocation_per_message(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    char topics[4][64];
    size_t before;
    size_t after;
    int i;

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(2), "gw-1", CERT_GW), DD_SHIM_OK);
    for (i = 0; i < 4; i++) {
        (void)snprintf(topics[i], sizeof(topics[i]), "dt/bench/Thing01/sensor-%d", i);
    }
    /* The first decision of a connection builds its policy set (once per
     * registry generation). */
    assert_int_equal(pub(f, H(1), "Thing01", topics[0], 100), DD_SHIM_OK);
    assert_int_equal(rd(f, H(2), "gw-1", topics[0], 100), DD_SHIM_OK);
    before = dd_alloc_count();
    for (i = 0; i < 3000; i++) {
        /* No tick: the batch (64 KiB) holds these records without a flush. */
        f->wall += 1;
        (void)dd_shim_on_acl(f->shim, H(1), "Thing01", DD_SHIM_ACCESS_WRITE, topics[i % 4],
                             100 + (size_t)i, false, f->wall);
        (void)dd_shim_on_acl(f->shim, H(2), "gw-1", DD_SHIM_ACCESS_READ, topics[i % 4],
                             100 + (size_t)i, false, f->wall);
        (void)dd_shim_on_acl(f->shim, H(2), "gw-1", DD_SHIM_ACCESS_SUBSCRIBE, "dt/bench/#", 0,
                             false, f->wall);
    }
    after = dd_alloc_count();
    {
        /* The count sees this file's allocations too: the wrapping is in place. */
        void *volatile probe = malloc(1); /* volatile: not optimised away */
        assert_true(dd_alloc_count() == after + 1);
        free(probe);
    }
    if (after != before) {
        print_error("%zu allocations over 3000 messages\n", after - before);
        fail();
    }
    drain_metering(f);
    assert_int_equal(count_recs(f, DD_METERING_SENT, "Thing01", -1, -1), 3001);
    assert_int_equal(count_recs(f, DD_METERING_RECEIVED, "gw-1", -1, -1), 3001);
}

/* Fleet provisioning: a device's request is renamed with its client id; ddlocald's reply goes
 * to that client alone, never to a device that forges one or to a client that left. */
static void test_dd_shim_provisioning_reply_to_the_asker(void **state)
{
    fake_t *f = start_with_registry(NULL, "AllowAll");
    char topic[512];
    char wrapped[512];
    bool renamed = false;

    *state = f;
    assert_int_equal(dev_connect(f, H(1), "Thing01", CERT_T01), DD_SHIM_OK);
    assert_int_equal(dev_connect(f, H(2), "Thing02", CERT_T02), DD_SHIM_OK);
    assert_int_equal(dd_shim_on_message(f->shim, H(1), "Thing01", "$aws/certificates/create/json",
                                        "{}", 2, topic, sizeof(topic), &renamed, f->wall),
                     DD_SHIM_OK);
    assert_true(renamed);
    assert_string_equal(topic, DD_CONTROL_PROV_REQUEST_PREFIX
                        "5468696e673031/$aws/certificates/create/json");
    assert_int_equal(dd_shim_on_message(f->shim, H(1), "Thing01",
                                        "$aws/provisioning-templates/T/provision/json", "{}", 2,
                                        topic, sizeof(topic), &renamed, f->wall),
                     DD_SHIM_OK);
    assert_true(renamed);
    assert_int_equal(dd_shim_on_message(f->shim, H(1), "Thing01",
                                        "$aws/certificates/create-from-csr/cbor", "\xa0", 1, topic,
                                        sizeof(topic), &renamed, f->wall),
                     DD_SHIM_OK);
    assert_true(renamed);
    assert_int_equal(dd_shim_on_message(f->shim, H(1), "Thing01", "$aws/certificates/create/xml",
                                        "{}", 2, topic, sizeof(topic), &renamed, f->wall),
                     DD_SHIM_OK);
    assert_false(renamed);
    assert_int_equal(dd_shim_on_message(f->shim, H(1), "Thing01", "sensors/x", "{}", 2, topic,
                                        sizeof(topic), &renamed, f->wall),
                     DD_SHIM_OK);
    assert_false(renamed);
    assert_int_equal(dd_shim_on_message(f->shim, H(1), "Thing01",
                                        "$aws/provisioning-templates//provision/json", "{}", 2,
                                        topic, sizeof(topic), &renamed, f->wall),
                     DD_SHIM_OK);
    assert_false(renamed);

    assert_int_equal(dd_control_prov_wrap(DD_CONTROL_PROV_REPLY_PREFIX, "Thing01",
                                          "$aws/certificates/create/json/accepted", wrapped,
                                          sizeof(wrapped)),
                     DD_CONTROL_OK);
    clear_pubs(f);
    assert_int_equal(dd_shim_on_message(f->shim, SVC_H, SVC_ID, wrapped, "{\"k\":1}", 7, topic,
                                        sizeof(topic), &renamed, f->wall),
                     DD_SHIM_OK);
    assert_false(renamed);
    assert_int_equal(f->npubs, 1);
    assert_string_equal(f->pubs[0].client_id, "Thing01");
    assert_string_equal(f->pubs[0].topic, "$aws/certificates/create/json/accepted");
    assert_int_equal(f->pubs[0].len, 7);
    assert_int_equal(f->pubs[0].qos, 1);

    clear_pubs(f);
    assert_int_equal(dd_shim_on_message(f->shim, H(2), "Thing02", wrapped, "{}", 2, topic,
                                        sizeof(topic), &renamed, f->wall),
                     DD_SHIM_OK);
    assert_int_equal(f->npubs, 0);
    disconnect(f, H(1), "Thing01");
    assert_int_equal(dd_shim_on_message(f->shim, SVC_H, SVC_ID, wrapped, "{}", 2, topic,
                                        sizeof(topic), &renamed, f->wall),
                     DD_SHIM_OK);
    assert_int_equal(f->npubs, 0);
    assert_int_equal(dd_shim_on_message(NULL, SVC_H, SVC_ID, wrapped, "{}", 2, topic, sizeof(topic),
                                        &renamed, f->wall),
                     DD_SHIM_BAD_PARAMETER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dd_shim_options),
        cmocka_unit_test(test_dd_shim_create_errors),
        cmocka_unit_test_teardown(test_dd_shim_connect_identity_cases, teardown),
        cmocka_unit_test_teardown(test_dd_shim_connect_policy_resource, teardown),
        cmocka_unit_test_teardown(test_dd_shim_single_cert_identity_off, teardown),
        cmocka_unit_test_teardown(test_dd_shim_per_thing_policy_and_kick, teardown),
        cmocka_unit_test_teardown(test_dd_shim_gateway_reports_for_others, teardown),
        cmocka_unit_test_teardown(test_dd_shim_kick_on_deny_off, teardown),
        cmocka_unit_test_teardown(test_dd_shim_kick_only_that_connection, teardown),
        cmocka_unit_test_teardown(test_dd_shim_reserved_topics, teardown),
        cmocka_unit_test_teardown(test_dd_shim_aws_limits, teardown),
        cmocka_unit_test_teardown(test_dd_shim_retain_needs_retain_publish, teardown),
        cmocka_unit_test(test_dd_shim_quarantine_group),
        cmocka_unit_test(test_dd_shim_quarantine_parent_group),
        cmocka_unit_test_teardown(test_dd_shim_certificate_change_at_runtime, teardown),
        cmocka_unit_test_teardown(test_dd_shim_malformed_policy_keeps_previous, teardown),
        cmocka_unit_test_teardown(test_dd_shim_full_snapshot, teardown),
        cmocka_unit_test_teardown(test_dd_shim_clock_control, teardown),
        cmocka_unit_test_teardown(test_dd_shim_flush_control, teardown),
        cmocka_unit_test_teardown(test_dd_shim_kick_control, teardown),
        cmocka_unit_test_teardown(test_dd_shim_metering_counts, teardown),
        cmocka_unit_test_teardown(test_dd_shim_sessions, teardown),
        cmocka_unit_test_teardown(test_dd_shim_provisioning_reply_to_the_asker, teardown),
        cmocka_unit_test_teardown(test_dd_shim_no_allocation_per_message, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
