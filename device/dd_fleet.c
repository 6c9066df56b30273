/*
 * dd_fleet: many virtual devices over one epoll loop (see dd_fleet.h).
 *
 * Timers: every device has one "due" time (the earliest of its next report,
 * next telemetry message, connection tick and reply deadline) and one live
 * entry in a min-heap; entries made stale by an earlier due time are
 * skipped when popped (lazy deletion), so rescheduling is O(log n) and never
 * searches the heap.
 *
 * epoll registrations carry (device index, fd). A device's registration is
 * removed in its on_disconnected callback, which libmosquitto runs before
 * any new socket can take the old descriptor's number, so a DEL never hits
 * another device's socket.
 */
#include "dd_fleet.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "dd_agent.h"
#include "dd_clock.h"
#include "dd_conn.h"
#include "dd_db.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_sensor.h"

#define PENDING_MAX 4
#define NEVER INT64_MAX
#define MAX_EVENTS 4096
#define FAILURE_LOG_LIMIT 5

/* ---- credentials ------------------------------------------------------------ */

void dd_fleet_creds_free(dd_fleet_cred_t *creds, uint32_t count)
{
    uint32_t i;

    if (creds == NULL) {
        return;
    }
    for (i = 0; i < count; i++) {
        free(creds[i].cert_pem);
        if (creds[i].key_pem != NULL) {
            OPENSSL_cleanse(creds[i].key_pem, strlen(creds[i].key_pem));
        }
        free(creds[i].key_pem);
        free(creds[i].cert_der);
        if (creds[i].key_der != NULL) {
            OPENSSL_cleanse(creds[i].key_der, creds[i].key_der_len);
        }
        free(creds[i].key_der);
    }
    free(creds);
}

typedef struct gen_job {
    const dd_pki_ca_t *ca;
    dd_fleet_cred_t *creds;
    uint32_t next; /* atomic */
    uint32_t end;
    int failed; /* atomic */
} gen_job_t;

static void *gen_worker(void *arg)
{
    gen_job_t *job = arg;

    for (;;) {
        uint32_t i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
        dd_pki_credentials_t c;

        if (i >= job->end || __atomic_load_n(&job->failed, __ATOMIC_RELAXED)) {
            break;
        }
        if (dd_pki_issue_device(job->ca, DD_PKI_KEY_EC_P256, &c) != DD_PKI_OK) {
            __atomic_store_n(&job->failed, 1, __ATOMIC_RELAXED);
            break;
        }
        job->creds[i].cert_pem = strdup(c.certificate_pem);
        job->creds[i].key_pem = strdup(c.private_key_pem);
        (void)snprintf(job->creds[i].cert_id, sizeof(job->creds[i].cert_id), "%s",
                       c.certificate_id);
        dd_pki_credentials_free(&c);
        if (job->creds[i].cert_pem == NULL || job->creds[i].key_pem == NULL) {
            __atomic_store_n(&job->failed, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    return NULL;
}

/* Issues creds[from..to) on every core. */
static dd_fleet_status_t generate(const dd_pki_ca_t *ca, dd_fleet_cred_t *creds, uint32_t from,
                                  uint32_t to)
{
    gen_job_t job = {ca, creds, from, to, 0};
    pthread_t threads[16];
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cores < 1 ? 1 : (cores > 16 ? 16 : (int)cores);
    int started = 0;
    int i;

    for (i = 0; i < n; i++) {
        if (pthread_create(&threads[i], NULL, gen_worker, &job) == 0) {
            started++;
        }
    }
    if (started == 0) {
        (void)gen_worker(&job);
    }
    for (i = 0; i < started; i++) {
        (void)pthread_join(threads[i], NULL);
    }
    return job.failed ? DD_FLEET_PKI_ERROR : DD_FLEET_OK;
}

/*
 * The DER inside a PEM block, without building OpenSSL objects: parsing ten
 * thousand keys through OpenSSL 3's decoders takes seconds, the TLS
 * certificate callback parses each one when it is needed anyway.
 */
static bool pem_body(const char *pem, uint8_t **der, size_t *der_len)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    char *name = NULL;
    char *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    bool ok = false;

    if (bio != NULL && PEM_read_bio(bio, &name, &header, &data, &len) == 1 && len > 0 &&
        (*der = malloc((size_t)len)) != NULL) {
        memcpy(*der, data, (size_t)len);
        *der_len = (size_t)len;
        ok = true;
    }
    if (data != NULL) {
        OPENSSL_cleanse(data, len > 0 ? (size_t)len : 0);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(bio);
    return ok;
}

static bool to_der(dd_fleet_cred_t *c)
{
    return pem_body(c->cert_pem, &c->cert_der, &c->cert_der_len) &&
           pem_body(c->key_pem, &c->key_der, &c->key_der_len);
}

/* Takes what the cache holds for this CA, in index order. */
static uint32_t load_cache(const char *file, const char *ca_id, dd_fleet_cred_t *creds, uint32_t n)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *root;
    const cJSON *id;
    const cJSON *arr;
    const cJSON *e;
    uint32_t have = 0;

    if (dd_fs_read_file(file, 0, &text, &len) != DD_FS_OK) {
        return 0;
    }
    root = cJSON_ParseWithLength(text, len);
    OPENSSL_cleanse(text, len);
    free(text);
    id = cJSON_GetObjectItemCaseSensitive(root, "caCertificateId");
    arr = cJSON_GetObjectItemCaseSensitive(root, "devices");
    if (!cJSON_IsString(id) || strcmp(id->valuestring, ca_id) != 0 || !cJSON_IsArray(arr)) {
        cJSON_Delete(root);
        return 0;
    }
    cJSON_ArrayForEach (e, arr) {
        const cJSON *cert = cJSON_GetObjectItemCaseSensitive(e, "certificatePem");
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(e, "privateKeyPem");
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(e, "certificateId");

        if (have >= n || !cJSON_IsString(cert) || !cJSON_IsString(key) || !cJSON_IsString(cid) ||
            strlen(cid->valuestring) != DD_PKI_CERT_ID_LEN) {
            break;
        }
        creds[have].cert_pem = strdup(cert->valuestring);
        creds[have].key_pem = strdup(key->valuestring);
        (void)snprintf(creds[have].cert_id, sizeof(creds[have].cert_id), "%s", cid->valuestring);
        if (creds[have].cert_pem == NULL || creds[have].key_pem == NULL) {
            break;
        }
        have++;
    }
    /* The JSON tree held private keys too. */
    cJSON_ArrayForEach (e, arr) {
        cJSON *key = cJSON_GetObjectItemCaseSensitive(e, "privateKeyPem");

        if (cJSON_IsString(key)) {
            OPENSSL_cleanse(key->valuestring, strlen(key->valuestring));
        }
    }
    cJSON_Delete(root);
    return have;
}

static dd_fleet_status_t save_cache(const char *dir, const char *file, const char *ca_id,
                                    const dd_scenario_t *sc, const dd_fleet_cred_t *creds)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    char *text;
    uint32_t i;
    dd_fs_status_t fs;

    if (root == NULL || arr == NULL) {
        cJSON_Delete(root);
        cJSON_Delete(arr);
        return DD_FLEET_NO_MEMORY;
    }
    cJSON_AddItemToObject(root, "caCertificateId", cJSON_CreateString(ca_id));
    cJSON_AddItemToObject(root, "scenario", cJSON_CreateString(sc->name));
    cJSON_AddItemToObject(root, "devices", arr);
    for (i = 0; i < sc->devices; i++) {
        cJSON *e = cJSON_CreateObject();
        char thing[160];

        if (e == NULL) {
            cJSON_Delete(root);
            return DD_FLEET_NO_MEMORY;
        }
        dd_scenario_thing_name(sc, i, thing, sizeof(thing));
        cJSON_AddItemToObject(e, "thing", cJSON_CreateString(thing));
        cJSON_AddItemToObject(e, "certificateId", cJSON_CreateString(creds[i].cert_id));
        cJSON_AddItemToObject(e, "certificatePem", cJSON_CreateString(creds[i].cert_pem));
        cJSON_AddItemToObject(e, "privateKeyPem", cJSON_CreateString(creds[i].key_pem));
        cJSON_AddItemToArray(arr, e);
    }
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL) {
        return DD_FLEET_NO_MEMORY;
    }
    fs = dd_fs_mkdirs(dir, 0700);
    if (fs == DD_FS_OK) {
        fs = dd_fs_write_atomic(file, text, strlen(text), 0600);
    }
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    return fs == DD_FS_OK ? DD_FLEET_OK : DD_FLEET_IO_ERROR;
}

dd_fleet_status_t dd_fleet_credentials(const char *data_dir, const dd_scenario_t *sc,
                                       const dd_pki_ca_t *ca, dd_fleet_cred_t **creds,
                                       uint32_t *generated)
{
    char dir[DD_FS_PATH_MAX];
    char file[DD_FS_PATH_MAX];
    char ca_id[DD_PKI_CERT_ID_LEN + 1];
    dd_fleet_cred_t *c;
    uint32_t have;
    uint32_t i;
    dd_fleet_status_t st = DD_FLEET_OK;
    int n1;
    int n2;

    if (data_dir == NULL || sc == NULL || ca == NULL || creds == NULL || sc->devices == 0) {
        return DD_FLEET_BAD_PARAMETER;
    }
    *creds = NULL;
    if (generated != NULL) {
        *generated = 0;
    }
    n1 = snprintf(dir, sizeof(dir), "%s/fleet/%s", data_dir, sc->name);
    n2 = snprintf(file, sizeof(file), "%s/credentials.json", dir);
    if (n1 < 0 || (size_t)n1 >= sizeof(dir) || n2 < 0 || (size_t)n2 >= sizeof(file)) {
        return DD_FLEET_BAD_PARAMETER;
    }
    if (dd_pki_cert_id_from_x509(dd_pki_ca_cert(ca), ca_id) != DD_PKI_OK) {
        return DD_FLEET_PKI_ERROR;
    }
    c = calloc(sc->devices, sizeof(*c));
    if (c == NULL) {
        return DD_FLEET_NO_MEMORY;
    }
    have = load_cache(file, ca_id, c, sc->devices);
    if (have < sc->devices) {
        st = generate(ca, c, have, sc->devices);
        if (st == DD_FLEET_OK) {
            st = save_cache(dir, file, ca_id, sc, c);
        }
        if (generated != NULL) {
            *generated = sc->devices - have;
        }
    }
    for (i = 0; st == DD_FLEET_OK && i < sc->devices; i++) {
        if (!to_der(&c[i])) {
            st = DD_FLEET_PKI_ERROR;
        }
    }
    if (st != DD_FLEET_OK) {
        dd_fleet_creds_free(c, sc->devices);
        return st;
    }
    *creds = c;
    return DD_FLEET_OK;
}

/* ---- registry ---------------------------------------------------------------- */

void dd_fleet_policy_name(const dd_scenario_t *sc, char *buf, size_t len)
{
    (void)snprintf(buf, len, "ddlocal-fleet-%s", sc->name);
}

typedef struct doc_check {
    const char *want;
    bool same;
} doc_check_t;

static int compare_doc(void *ctx, const dd_registry_policy_t *p)
{
    doc_check_t *c = ctx;

    c->same = p->document != NULL && strcmp(p->document, c->want) == 0;
    return 0;
}

static void policy_document(const dd_registry_t *reg, const dd_scenario_t *sc, char *buf,
                            size_t len)
{
    const char *r = reg->arn.region;
    const char *a = reg->arn.account;
    char tel[400] = "";

    if (sc->telemetry) {
        const char *mark = strstr(sc->telemetry_topic, "{thing}");

        if (mark == NULL) {
            (void)snprintf(tel, sizeof(tel), ",\"arn:aws:iot:%s:%s:topic/%s\"", r, a,
                           sc->telemetry_topic);
        } else {
            (void)snprintf(tel, sizeof(tel),
                           ",\"arn:aws:iot:%s:%s:topic/%.*s${iot:Connection.Thing.ThingName}%s\"",
                           r, a, (int)(mark - sc->telemetry_topic), sc->telemetry_topic, mark + 7);
        }
    }
    (void)snprintf(
        buf, len,
        "{\"Version\":\"2012-10-17\",\"Statement\":["
        "{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\","
        "\"Resource\":\"arn:aws:iot:%s:%s:client/${iot:Connection.Thing.ThingName}\"},"
        "{\"Effect\":\"Allow\",\"Action\":\"iot:Publish\",\"Resource\":["
        "\"arn:aws:iot:%s:%s:topic/$aws/things/${iot:Connection.Thing.ThingName}/defender/metrics/"
        "*\""
        "%s]},"
        "{\"Effect\":\"Allow\",\"Action\":\"iot:Subscribe\","
        "\"Resource\":\"arn:aws:iot:%s:%s:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}"
        "/defender/metrics/*\"},"
        "{\"Effect\":\"Allow\",\"Action\":\"iot:Receive\","
        "\"Resource\":\"arn:aws:iot:%s:%s:topic/$aws/things/${iot:Connection.Thing.ThingName}"
        "/defender/metrics/*\"}]}",
        r, a, r, a, tel, r, a, r, a);
}

dd_fleet_status_t dd_fleet_register(dd_registry_t *reg, const dd_scenario_t *sc,
                                    const dd_fleet_cred_t *creds, char *msg, size_t msg_len)
{
    char policy[128];
    char doc[2048];
    dd_registry_error_t err;
    dd_registry_status_t rs;
    uint32_t i;

    if (reg == NULL || reg->db == NULL || sc == NULL || creds == NULL) {
        return DD_FLEET_BAD_PARAMETER;
    }
    dd_fleet_policy_name(sc, policy, sizeof(policy));
    policy_document(reg, sc, doc, sizeof(doc));
    if (dd_db_exec(reg->db, "BEGIN IMMEDIATE") != DD_DB_OK) {
        dd_log_format_msg(msg, msg_len, "cannot start a transaction on the registry");
        return DD_FLEET_REGISTRY_ERROR;
    }
    memset(&err, 0, sizeof(err));
    rs = dd_registry_policy_create(reg, policy, doc, &err);
    if (rs == DD_REGISTRY_ALREADY_EXISTS) {
        doc_check_t check = {doc, false};

        (void)dd_registry_policy_get(reg, policy, compare_doc, &check, &err);
        if (!check.same) {
            DD_LOG_WARN("policy %s exists with another document (kept); delete it to get the "
                        "current one",
                        policy);
        }
        rs = DD_REGISTRY_OK;
    }
    for (i = 0; rs == DD_REGISTRY_OK && i < sc->devices; i++) {
        char thing[160];
        char attrs[200];
        char arn[DD_ARN_MAX];
        char cert_id[DD_PKI_CERT_ID_LEN + 1];
        int g = dd_scenario_group_of(sc, i);

        dd_scenario_thing_name(sc, i, thing, sizeof(thing));
        if (g >= 0) {
            (void)snprintf(attrs, sizeof(attrs), "{\"ddlocalFleet\":\"%s\",\"fleetGroup\":\"%s\"}",
                           sc->name, sc->groups[g].name);
        } else {
            (void)snprintf(attrs, sizeof(attrs), "{\"ddlocalFleet\":\"%s\"}", sc->name);
        }
        rs = dd_registry_thing_create(reg, thing, NULL, attrs, NULL, 0, &err);
        if (rs == DD_REGISTRY_ALREADY_EXISTS) {
            rs = DD_REGISTRY_OK; /* Same name, other attributes: the thing is there. */
        }
        if (rs == DD_REGISTRY_OK) {
            rs = dd_registry_cert_add(reg, creds[i].cert_pem, DD_CERT_ACTIVE, false, cert_id,
                                      sizeof(cert_id), &err);
            if (rs == DD_REGISTRY_ALREADY_EXISTS) {
                rs = DD_REGISTRY_OK;
            }
        }
        if (rs == DD_REGISTRY_OK) {
            rs = dd_registry_principal_attach(reg, thing, creds[i].cert_id, &err);
        }
        if (rs == DD_REGISTRY_OK) {
            if (dd_arn_format(&reg->arn, DD_NAME_CERTIFICATE, creds[i].cert_id, arn, sizeof(arn)) !=
                DD_NAMES_OK) {
                rs = DD_REGISTRY_INVALID;
                (void)snprintf(err.message, sizeof(err.message), "bad certificate id");
            } else {
                rs = dd_registry_policy_attach(reg, policy, arn, &err);
            }
        }
        if (rs != DD_REGISTRY_OK) {
            dd_log_format_msg(msg, msg_len, "registering %s: %s: %s", thing,
                              dd_registry_strerror(rs), err.message);
        }
    }
    if (rs != DD_REGISTRY_OK) {
        if (msg != NULL && msg[0] == '\0') {
            dd_log_format_msg(msg, msg_len, "creating policy %s: %s: %s", policy,
                              dd_registry_strerror(rs), err.message);
        }
        (void)dd_db_exec(reg->db, "ROLLBACK");
        return DD_FLEET_REGISTRY_ERROR;
    }
    if (dd_db_exec(reg->db, "COMMIT") != DD_DB_OK) {
        (void)dd_db_exec(reg->db, "ROLLBACK");
        dd_log_format_msg(msg, msg_len, "committing the registrations failed");
        return DD_FLEET_REGISTRY_ERROR;
    }
    return DD_FLEET_OK;
}

/* ---- the running fleet -------------------------------------------------------- */

typedef struct pend {
    uint64_t id;
    int64_t deadline;
} pend_t;

typedef struct dev {
    struct dd_fleet *f;
    dd_conn_t *conn;
    dd_conn_identity_t identity;
    uint64_t rng;
    uint64_t last_id;
    uint32_t index;
    int reg_fd;   /* fd registered in epoll, -1 when none */
    bool reg_out; /* registered with EPOLLOUT */
    bool connected;
    bool ramping; /* started by the ramp, first outcome not seen yet */
    uint8_t npend;
    uint32_t report_k; /* next report number */
    double tel_s;      /* pipeline seconds of the next telemetry message */
    int64_t next_report;
    int64_t next_tel;
    int64_t next_tick;
    int64_t due; /* time of the device's live heap entry */
    pend_t pend[PENDING_MAX];
} fleet_dev_t;

typedef struct heap_entry {
    int64_t t;
    uint32_t idx;
} heap_entry_t;

typedef enum phase { PHASE_PROBE, PHASE_RAMP, PHASE_RUN, PHASE_DRAIN, PHASE_DONE } phase_t;

struct dd_fleet {
    const dd_scenario_t *sc;
    const dd_fleet_cred_t *creds;
    dd_fleet_config_t cfg;
    SSL_CTX *ssl_ctx;
    dd_conn_params_t params;
    dd_conn_callbacks_t callbacks;
    fleet_dev_t *devs;
    uint32_t n;
    int epfd;
    heap_entry_t *heap;
    size_t heap_len;
    size_t heap_cap;
    phase_t phase;
    int64_t now;
    int64_t t0; /* wall (monotonic) ms of pipeline second 0 */
    uint32_t connected;
    uint32_t inflight; /* ramp connections without an outcome yet */
    uint64_t pending;
    bool stopping; /* final disconnect: losses are expected */
    dd_fleet_summary_t s;
    uint8_t *buf;
    char *payload;
    size_t payload_cap;
};

static void heap_push(dd_fleet_t *f, int64_t t, uint32_t idx)
{
    size_t i;

    if (f->heap_len == f->heap_cap) {
        size_t cap = f->heap_cap == 0 ? 1024 : f->heap_cap * 2;
        heap_entry_t *h = realloc(f->heap, cap * sizeof(*h));

        if (h == NULL) {
            DD_LOG_ERROR("out of memory: device %u is no longer scheduled", idx);
            return;
        }
        f->heap = h;
        f->heap_cap = cap;
    }
    i = f->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (f->heap[parent].t <= t) {
            break;
        }
        f->heap[i] = f->heap[parent];
        i = parent;
    }
    f->heap[i].t = t;
    f->heap[i].idx = idx;
}

static heap_entry_t heap_pop(dd_fleet_t *f)
{
    heap_entry_t top = f->heap[0];
    heap_entry_t last = f->heap[--f->heap_len];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= f->heap_len) {
            break;
        }
        if (c + 1 < f->heap_len && f->heap[c + 1].t < f->heap[c].t) {
            c++;
        }
        if (last.t <= f->heap[c].t) {
            break;
        }
        f->heap[i] = f->heap[c];
        i = c;
    }
    if (f->heap_len > 0) {
        f->heap[i] = last;
    }
    return top;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t wall_of(const dd_fleet_t *f, double pipeline_s)
{
    return f->t0 + (int64_t)llround(pipeline_s * 1000.0 / f->cfg.time_scale);
}

static double pipeline_now(const dd_fleet_t *f)
{
    return f->t0 == 0 ? 0.0 : (double)(f->now - f->t0) * f->cfg.time_scale / 1000.0;
}

static void schedule(dd_fleet_t *f, fleet_dev_t *d)
{
    int64_t due = d->next_tick;
    uint8_t i;

    due = min64(due, d->next_report);
    due = min64(due, d->next_tel);
    for (i = 0; i < d->npend; i++) {
        due = min64(due, d->pend[i].deadline);
    }
    if (due == NEVER) {
        d->due = NEVER; /* nothing to do until an I/O event reschedules it */
    } else if (due < d->due || d->due == 0) {
        d->due = due;
        heap_push(f, due, d->index);
    }
}

static void sync_epoll(dd_fleet_t *f, fleet_dev_t *d)
{
    int fd = dd_conn_fd(d->conn);
    bool want = fd >= 0 && dd_conn_want_write(d->conn);
    struct epoll_event ev;

    if (fd < 0) {
        d->reg_fd = -1;
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
    ev.data.u64 = ((uint64_t)d->index << 32) | (uint32_t)fd;
    if (d->reg_fd != fd) {
        if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST) {
            (void)epoll_ctl(f->epfd, EPOLL_CTL_MOD, fd, &ev);
        }
        d->reg_fd = fd;
        d->reg_out = want;
    } else if (d->reg_out != want) {
        (void)epoll_ctl(f->epfd, EPOLL_CTL_MOD, fd, &ev);
        d->reg_out = want;
    }
}

static void topic_of(const fleet_dev_t *d, const char *suffix, char *buf, size_t len)
{
    (void)dd_agent_topic(dd_conn_client_id(d->conn), d->f->sc->format, suffix, buf, len);
}

static void on_connected(dd_conn_t *conn, void *ctx)
{
    fleet_dev_t *d = ctx;
    dd_fleet_t *f = d->f;
    char acc[300];
    char rej[300];
    const char *filters[2] = {acc, rej};

    d->connected = true;
    f->connected++;
    if (d->ramping) {
        d->ramping = false;
        f->inflight--;
    }
    if (f->connected > f->s.connected_peak) {
        f->s.connected_peak = f->connected;
    }
    topic_of(d, "/accepted", acc, sizeof(acc));
    topic_of(d, "/rejected", rej, sizeof(rej));
    if (dd_conn_subscribe(conn, filters, 2, 1) != DD_CONN_OK) {
        DD_LOG_WARN("%s: subscribing to its replies failed", dd_conn_client_id(conn));
    }
}

static void on_disconnected(dd_conn_t *conn, void *ctx, bool was_connected, int reason,
                            const char *text, int64_t retry_in_ms)
{
    fleet_dev_t *d = ctx;
    dd_fleet_t *f = d->f;

    /* Before libmosquitto can reuse the descriptor number: see the file comment. */
    if (d->reg_fd >= 0) {
        (void)epoll_ctl(f->epfd, EPOLL_CTL_DEL, d->reg_fd, NULL);
        d->reg_fd = -1;
    }
    if (d->ramping) {
        d->ramping = false;
        f->inflight--;
    }
    if (was_connected) {
        d->connected = false;
        f->connected--;
        if (!f->stopping) {
            f->s.connections_lost++;
            if (f->s.connections_lost <= FAILURE_LOG_LIMIT) {
                DD_LOG_WARN("%s: connection lost (%s, %d)%s", dd_conn_client_id(conn), text, reason,
                            f->s.connections_lost == FAILURE_LOG_LIMIT ? "; not logging more" : "");
            }
        }
    } else if (retry_in_ms >= 0 && f->phase == PHASE_PROBE) {
        DD_LOG_DEBUG("probe %s: %s", dd_conn_client_id(conn), text);
    } else if (retry_in_ms >= 0) {
        f->s.connect_failures++;
        if (f->s.connect_failures <= FAILURE_LOG_LIMIT) {
            DD_LOG_WARN("%s: connection failed (%s, %d)%s", dd_conn_client_id(conn), text, reason,
                        f->s.connect_failures == FAILURE_LOG_LIMIT ? "; not logging more" : "");
        }
    }
}

static void on_message(dd_conn_t *conn, void *ctx, const char *topic, const void *payload,
                       size_t len)
{
    fleet_dev_t *d = ctx;
    dd_fleet_t *f = d->f;
    dd_agent_reply_t r;
    uint8_t i;

    (void)conn;
    (void)topic;
    if (dd_agent_parse_reply(f->sc->format, payload, len, &r) != DD_AGENT_OK) {
        return;
    }
    for (i = 0; i < d->npend; i++) {
        if ((r.has_report_id && d->pend[i].id == r.report_id) ||
            (!r.has_report_id && !r.accepted)) {
            break;
        }
    }
    if (i == d->npend) {
        return; /* Late: already counted as missing. */
    }
    if (r.accepted) {
        f->s.reports_accepted++;
    } else {
        f->s.reports_rejected++;
        if (f->s.reports_rejected <= FAILURE_LOG_LIMIT) {
            DD_LOG_WARN("%s: report %" PRIu64 " rejected: %s: %s", dd_conn_client_id(d->conn),
                        d->pend[i].id, r.error_code, r.error_message);
        }
    }
    memmove(&d->pend[i], &d->pend[i + 1], (size_t)(d->npend - i - 1) * sizeof(d->pend[0]));
    d->npend--;
    f->pending--;
}

static void expire(dd_fleet_t *f, fleet_dev_t *d, bool all)
{
    uint8_t i = 0;

    while (i < d->npend) {
        if (all || d->pend[i].deadline <= f->now) {
            f->s.reports_missing++;
            f->pending--;
            memmove(&d->pend[i], &d->pend[i + 1], (size_t)(d->npend - i - 1) * sizeof(d->pend[0]));
            d->npend--;
        } else {
            i++;
        }
    }
}

static void next_report_time(dd_fleet_t *f, fleet_dev_t *d)
{
    const dd_scenario_t *sc = f->sc;
    double t =
        dd_scenario_report_offset_s(sc, d->index) + (double)d->report_k * sc->report_interval_s;

    d->next_report =
        (d->report_k < dd_scenario_expected_reports(sc, d->index)) ? wall_of(f, t) : NEVER;
}

static void next_tel_time(dd_fleet_t *f, fleet_dev_t *d)
{
    d->next_tel = (f->sc->telemetry && d->tel_s < f->sc->duration_s) ? wall_of(f, d->tel_s) : NEVER;
}

static void send_report(dd_fleet_t *f, fleet_dev_t *d)
{
    const dd_scenario_t *sc = f->sc;
    double t =
        dd_scenario_report_offset_s(sc, d->index) + (double)d->report_k * sc->report_interval_s;
    dd_report_t r;
    size_t len = 0;
    char topic[300];
    int64_t wall = dd_clock_wall_ms();
    uint64_t id = wall > 0 ? (uint64_t)wall : 1;

    if (!d->connected) {
        f->s.reports_skipped++;
        return;
    }
    if (id <= d->last_id) {
        id = d->last_id + 1;
    }
    d->last_id = id;
    memset(&r, 0, sizeof(r));
    if (dd_scenario_report(sc, d->index, t, &d->rng, id, &r) != DD_SCENARIO_OK ||
        dd_report_encode(&r, sc->format, sc->keys, f->buf, DD_REPORT_MAX_PAYLOAD, &len) !=
            DD_REPORT_OK) {
        dd_report_free(&r);
        f->s.reports_skipped++;
        return;
    }
    dd_report_free(&r);
    topic_of(d, "", topic, sizeof(topic));
    if (dd_conn_publish(d->conn, topic, f->buf, len, 1, NULL) != DD_CONN_OK) {
        f->s.reports_skipped++;
        return;
    }
    if (d->npend == PENDING_MAX) {
        /* Four reports in flight: the oldest is not going to be answered. */
        f->s.reports_missing++;
        f->pending--;
        memmove(&d->pend[0], &d->pend[1], (PENDING_MAX - 1) * sizeof(d->pend[0]));
        d->npend--;
    }
    d->pend[d->npend].id = id;
    d->pend[d->npend].deadline = f->now + (int64_t)(f->cfg.reply_timeout_s * 1000.0);
    d->npend++;
    f->pending++;
    f->s.reports_sent++;
}

static void send_telemetry(dd_fleet_t *f, fleet_dev_t *d)
{
    size_t size = dd_scenario_payload_size(f->sc, d->index, d->tel_s);
    size_t len = 0;
    char topic[300];

    if (!d->connected) {
        return;
    }
    if (size + 8 > f->payload_cap) {
        char *p = realloc(f->payload, size + 8);

        if (p == NULL) {
            return;
        }
        f->payload = p;
        f->payload_cap = size + 8;
    }
    if (dd_sensor_payload(size, &d->rng, f->payload, f->payload_cap, &len) != DD_SENSOR_OK ||
        dd_scenario_telemetry_topic(f->sc, dd_conn_client_id(d->conn), topic, sizeof(topic)) !=
            DD_SCENARIO_OK) {
        return;
    }
    if (dd_conn_publish(d->conn, topic, f->payload, len, 0, NULL) == DD_CONN_OK) {
        f->s.telemetry_sent++;
        f->s.telemetry_bytes += len;
    }
}

/* Everything a device has to do by now, then its next due time. */
static void service(dd_fleet_t *f, fleet_dev_t *d)
{
    if (d->next_tick <= f->now) {
        d->next_tick = dd_conn_tick(d->conn, f->now);
    }
    if (f->phase == PHASE_RUN) {
        while (d->next_report <= f->now) {
            send_report(f, d);
            d->report_k++;
            next_report_time(f, d);
        }
        while (d->next_tel <= f->now) {
            send_telemetry(f, d);
            d->tel_s = dd_scenario_telemetry_next_s(f->sc, d->index, d->tel_s);
            next_tel_time(f, d);
        }
    }
    expire(f, d, false);
    sync_epoll(f, d);
    schedule(f, d);
}

static long status_kb(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "re");
    char line[256];
    long kb = 0;
    size_t n = strlen(key);

    if (fp == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(fp);
    return kb;
}

static double cpu_seconds(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0.0;
    }
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

bool dd_fleet_raise_fd_limit(uint64_t need, uint64_t *got)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        if (got != NULL) {
            *got = 0;
        }
        return false;
    }
    if (rl.rlim_cur < need) {
        struct rlimit want = rl;

        want.rlim_cur = need;
        if (want.rlim_max != RLIM_INFINITY && want.rlim_max < need) {
            want.rlim_max = need; /* Works for root (CAP_SYS_RESOURCE) only. */
        }
        if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
            want.rlim_cur = rl.rlim_max;
            want.rlim_max = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &want);
        }
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (got != NULL) {
        *got = rl.rlim_cur;
    }
    return rl.rlim_cur >= need;
}

dd_fleet_status_t dd_fleet_create(const dd_scenario_t *sc, const dd_fleet_cred_t *creds,
                                  const dd_fleet_config_t *cfg, dd_fleet_t **out)
{
    dd_fleet_t *f;
    uint32_t i;
    dd_conn_status_t cs;

    if (sc == NULL || creds == NULL || cfg == NULL || out == NULL || cfg->host == NULL ||
        cfg->port == 0 || cfg->root_ca == NULL || !(cfg->time_scale > 0.0)) {
        return DD_FLEET_BAD_PARAMETER;
    }
    *out = NULL;
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return DD_FLEET_NO_MEMORY;
    }
    f->sc = sc;
    f->creds = creds;
    f->cfg = *cfg;
    if (f->cfg.ramp_per_s <= 0) {
        f->cfg.ramp_per_s = 500;
    }
    if (f->cfg.max_handshakes == 0) {
        f->cfg.max_handshakes = 256;
    }
    if (f->cfg.ramp_timeout_s <= 0) {
        f->cfg.ramp_timeout_s = 60;
    }
    if (f->cfg.reply_timeout_s <= 0) {
        f->cfg.reply_timeout_s = 30;
    }
    if (f->cfg.progress_s == 0) {
        f->cfg.progress_s = 5;
    }
    if (f->cfg.keepalive_s <= 0) {
        f->cfg.keepalive_s = 60;
    }
    if (f->cfg.progress == NULL) {
        f->cfg.progress = stdout;
    }
    f->n = sc->devices;
    f->epfd = -1;
    dd_conn_lib_init();
    cs = dd_conn_ssl_ctx_new(cfg->root_ca, cfg->host, cfg->alpn, &f->ssl_ctx);
    f->devs = calloc(f->n, sizeof(*f->devs));
    f->buf = malloc(DD_REPORT_MAX_PAYLOAD);
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (cs != DD_CONN_OK || f->devs == NULL || f->buf == NULL || f->epfd < 0) {
        DD_LOG_ERROR("cannot set up the fleet: %s",
                     cs != DD_CONN_OK ? dd_conn_strerror(cs) : "out of memory or descriptors");
        dd_fleet_free(f);
        return cs == DD_CONN_TLS_ERROR ? DD_FLEET_CONNECT_ERROR : DD_FLEET_NO_MEMORY;
    }
    f->callbacks.on_connected = on_connected;
    f->callbacks.on_disconnected = on_disconnected;
    f->callbacks.on_message = on_message;
    f->params.host = cfg->host;
    f->params.port = cfg->port;
    f->params.keepalive_s = f->cfg.keepalive_s;
    f->params.clean_session = true;
    f->params.ssl_ctx = f->ssl_ctx;
    f->params.callbacks = &f->callbacks;
    for (i = 0; i < f->n; i++) {
        fleet_dev_t *d = &f->devs[i];
        char thing[160];

        d->f = f;
        d->index = i;
        d->reg_fd = -1;
        d->rng = dd_scenario_device_seed(sc, i);
        d->identity.cert_der = creds[i].cert_der;
        d->identity.cert_len = creds[i].cert_der_len;
        d->identity.key_der = creds[i].key_der;
        d->identity.key_len = creds[i].key_der_len;
        d->next_report = NEVER;
        d->next_tel = NEVER;
        d->next_tick = NEVER;
        dd_scenario_thing_name(sc, i, thing, sizeof(thing));
        cs = dd_conn_create(&f->params, thing, &d->identity, d, d->rng, &d->conn);
        if (cs != DD_CONN_OK) {
            f->n = i;
            dd_fleet_free(f);
            return cs == DD_CONN_NO_MEMORY ? DD_FLEET_NO_MEMORY : DD_FLEET_CONNECT_ERROR;
        }
    }
    f->s.devices = f->n;
    f->s.time_scale = cfg->time_scale;
    *out = f;
    return DD_FLEET_OK;
}

static void progress(dd_fleet_t *f)
{
    if (f->phase == PHASE_PROBE) {
        fprintf(f->cfg.progress, "[probe] waiting for the broker to accept %s\n",
                dd_conn_client_id(f->devs[f->n - 1].conn));
    } else if (f->phase == PHASE_RAMP) {
        uint32_t connecting = 0;
        uint32_t waiting = 0;
        uint32_t i;

        for (i = 0; i < f->n; i++) {
            dd_conn_state_t st = dd_conn_state(f->devs[i].conn);

            connecting += st == DD_CONN_CONNECTING;
            waiting += st == DD_CONN_WAITING;
        }
        fprintf(f->cfg.progress,
                "[ramp] %u/%u connected, %u connecting, %u waiting to retry, %" PRIu64
                " failed attempts\n",
                f->connected, f->n, connecting, waiting, f->s.connect_failures);
    } else {
        fprintf(f->cfg.progress,
                "[%s%.1f min] %u/%u connected; reports %" PRIu64 " sent, %" PRIu64
                " accepted, %" PRIu64 " rejected, %" PRIu64 " pending, %" PRIu64
                " missing, %" PRIu64 " skipped; telemetry %" PRIu64 "\n",
                f->phase == PHASE_RUN ? "t=" : "drain, t=", pipeline_now(f) / 60.0, f->connected,
                f->n, f->s.reports_sent, f->s.reports_accepted, f->s.reports_rejected, f->pending,
                f->s.reports_missing, f->s.reports_skipped, f->s.telemetry_sent);
    }
    (void)fflush(f->cfg.progress);
}

static void start_scenario(dd_fleet_t *f)
{
    uint32_t i;

    f->t0 = f->now;
    f->phase = PHASE_RUN;
    f->s.rss_connected_kb = status_kb("VmRSS");
    for (i = 0; i < f->n; i++) {
        fleet_dev_t *d = &f->devs[i];

        next_report_time(f, d);
        d->tel_s = dd_scenario_telemetry_first_s(f->sc, d->index);
        next_tel_time(f, d);
        schedule(f, d);
    }
}

static void summary_print(const dd_fleet_t *f)
{
    const dd_fleet_summary_t *s = &f->s;
    FILE *out = f->cfg.progress;
    double per_dev = s->connected_peak > 0
                         ? (double)(s->rss_connected_kb - s->rss_before_kb) / s->connected_peak
                         : 0.0;

    fprintf(out, "fleet %s: %u devices, time scale %g\n", f->sc->name, s->devices, s->time_scale);
    fprintf(out,
            "  connections: peak %u, at the end %u, failed attempts %" PRIu64 ", lost %" PRIu64
            "\n",
            s->connected_peak, s->connected_end, s->connect_failures, s->connections_lost);
    fprintf(out,
            "  reports: expected %" PRIu64 ", sent %" PRIu64 ", accepted %" PRIu64
            ", rejected %" PRIu64 ", without reply %" PRIu64 ", skipped %" PRIu64 "\n",
            s->reports_expected, s->reports_sent, s->reports_accepted, s->reports_rejected,
            s->reports_missing, s->reports_skipped);
    if (f->sc->telemetry) {
        fprintf(out, "  telemetry: %" PRIu64 " messages, %" PRIu64 " bytes\n", s->telemetry_sent,
                s->telemetry_bytes);
    }
    fprintf(out,
            "  memory: %.1f MiB before connecting, %.1f MiB connected (%.1f KiB per device), "
            "peak %.1f MiB\n",
            s->rss_before_kb / 1024.0, s->rss_connected_kb / 1024.0, per_dev,
            s->rss_peak_kb / 1024.0);
    fprintf(out, "  time: ramp %.1f s, scenario %.1f s; CPU %.1f s\n", s->ramp_s, s->run_s,
            s->cpu_s);
    (void)fflush(out);
}

dd_fleet_status_t dd_fleet_run(dd_fleet_t *f, volatile sig_atomic_t *stop,
                               dd_fleet_summary_t *summary)
{
    struct epoll_event *events;
    uint32_t started = 0;
    double ramp_next;
    int64_t last_start = 0;
    int64_t begin;
    int64_t run_end = NEVER;
    int64_t drain_end = NEVER;
    int64_t next_progress;
    int64_t probe_until;
    int64_t probe_next;
    uint64_t need_fds;
    uint64_t got_fds = 0;
    uint32_t i;

    if (f == NULL || stop == NULL) {
        return DD_FLEET_BAD_PARAMETER;
    }
    events = calloc(MAX_EVENTS, sizeof(*events));
    if (events == NULL) {
        return DD_FLEET_NO_MEMORY;
    }
    need_fds = (uint64_t)f->n + 64;
    if (!dd_fleet_raise_fd_limit(need_fds, &got_fds)) {
        DD_LOG_WARN("the file-descriptor limit is %" PRIu64 " (hard limit): at most about %" PRIu64
                    " of the %u devices can connect (raise it with ulimit -n)",
                    got_fds, got_fds > 64 ? got_fds - 64 : 0, f->n);
    }
    for (i = 0; i < f->n; i++) {
        f->s.reports_expected += dd_scenario_expected_reports(f->sc, i);
    }
    f->s.rss_before_kb = status_kb("VmRSS");
    f->now = dd_clock_mono_ms();
    begin = f->now;
    ramp_next = (double)f->now;
    next_progress = f->cfg.progress_s > 0 ? f->now + (int64_t)(f->cfg.progress_s * 1000) : NEVER;
    /*
     * Probe first with the last device registered: things registered a moment
     * ago reach the broker only when ddlocald pushes them (it notices another
     * process's registry writes by polling), and a fleet dialling in before
     * that would only collect refusals and backoff delays.
     */
    f->phase = PHASE_PROBE;
    probe_until = f->now + (int64_t)(f->cfg.ramp_timeout_s * 1000);
    probe_next = f->now;
    while (f->phase != PHASE_DONE) {
        int64_t wake;
        int n;
        int k;
        size_t budget = (size_t)f->n * 2 + 1024;

        f->now = dd_clock_mono_ms();
        if (*stop && (f->phase == PHASE_PROBE || f->phase == PHASE_RAMP || f->phase == PHASE_RUN)) {
            fprintf(f->cfg.progress, "stopping: waiting up to 2 s for outstanding replies\n");
            f->phase = PHASE_DRAIN;
            drain_end = f->now + 2000;
        }
        if (f->phase == PHASE_PROBE) {
            fleet_dev_t *probe = &f->devs[f->n - 1];
            dd_conn_state_t ps = dd_conn_state(probe->conn);

            if (probe->connected || f->now >= probe_until) {
                if (!probe->connected) {
                    DD_LOG_WARN("%s still not accepted after %.0f s; connecting everyone anyway",
                                dd_conn_client_id(probe->conn), f->cfg.ramp_timeout_s);
                }
                f->phase = PHASE_RAMP;
                ramp_next = (double)f->now;
            } else if (f->now >= probe_next &&
                       (ps == DD_CONN_IDLE || ps == DD_CONN_WAITING || ps == DD_CONN_CLOSED)) {
                /* Retry at a steady 4 per second, not with the backoff. */
                dd_conn_stop(probe->conn, f->now);
                (void)dd_conn_start(probe->conn, f->now);
                probe->next_tick = f->now;
                sync_epoll(f, probe);
                schedule(f, probe);
                probe_next = f->now + 250;
            }
        }
        if (f->phase == PHASE_RAMP) {
            /*
             * A bounded rate and a bounded number of handshakes in flight: the
             * broker does them one at a time, and a fleet that outruns it only
             * piles up half-open connections that time out.
             */
            while (started < f->n && (double)f->now >= ramp_next &&
                   f->inflight < f->cfg.max_handshakes) {
                fleet_dev_t *d = &f->devs[started++];

                if (d->index == f->n - 1 && d->connected) {
                    continue; /* the probe */
                }
                d->ramping = true;
                f->inflight++;
                (void)dd_conn_start(d->conn, f->now);
                d->next_tick = f->now;
                sync_epoll(f, d);
                schedule(f, d);
                ramp_next += 1000.0 / f->cfg.ramp_per_s;
                if (ramp_next < (double)f->now - 1000.0) {
                    /* Held back by the handshake limit: no burst afterwards. */
                    ramp_next = (double)f->now;
                }
                last_start = f->now;
            }
            if (started == f->n &&
                (f->connected == f->n ||
                 f->now - last_start >= (int64_t)(f->cfg.ramp_timeout_s * 1000))) {
                if (f->connected < f->n) {
                    DD_LOG_WARN("%u of %u devices connected after the ramp; starting anyway",
                                f->connected, f->n);
                }
                f->s.ramp_s = (double)(f->now - begin) / 1000.0;
                start_scenario(f);
                run_end = wall_of(f, f->sc->duration_s);
                fprintf(f->cfg.progress,
                        "all %u devices up in %.1f s; scenario '%s' starts "
                        "(%g pipeline s at time scale %g = %.1f s)\n",
                        f->connected, f->s.ramp_s, f->sc->name, f->sc->duration_s,
                        f->cfg.time_scale, f->sc->duration_s / f->cfg.time_scale);
            }
        }
        /* Everything due by now first: the last reports are due just before run_end. */
        while (f->heap_len > 0 && f->heap[0].t <= f->now && budget-- > 0) {
            heap_entry_t e = heap_pop(f);
            fleet_dev_t *d = &f->devs[e.idx];

            if (e.t != d->due) {
                continue; /* stale */
            }
            d->due = 0;
            service(f, d);
        }
        if (f->phase == PHASE_RUN && f->now >= run_end) {
            f->phase = PHASE_DRAIN;
            f->s.run_s = (double)(f->now - f->t0) / 1000.0;
            drain_end = f->now + (int64_t)(f->cfg.reply_timeout_s * 1000.0);
        }
        if (f->phase == PHASE_DRAIN && (f->pending == 0 || f->now >= drain_end)) {
            if (f->s.run_s == 0 && f->t0 != 0) {
                f->s.run_s = (double)(f->now - f->t0) / 1000.0;
            }
            f->phase = PHASE_DONE;
            break;
        }
        if (f->now >= next_progress) {
            progress(f);
            next_progress = f->now + (int64_t)(f->cfg.progress_s * 1000);
        }
        wake = f->now + 100;
        if (f->heap_len > 0) {
            wake = min64(wake, f->heap[0].t);
        }
        if (f->phase == PHASE_RAMP && started < f->n) {
            wake = min64(wake, (int64_t)ramp_next);
        }
        if (f->phase == PHASE_PROBE) {
            wake = min64(wake, probe_next);
        }
        wake = min64(wake, run_end);
        wake = min64(wake, next_progress);
        n = epoll_wait(f->epfd, events, MAX_EVENTS, wake > f->now ? (int)(wake - f->now) : 0);
        f->now = dd_clock_mono_ms();
        for (k = 0; k < n; k++) {
            uint32_t idx = (uint32_t)(events[k].data.u64 >> 32);
            int fd = (int)(uint32_t)events[k].data.u64;
            fleet_dev_t *d;

            if (idx >= f->n) {
                continue;
            }
            d = &f->devs[idx];
            if (d->reg_fd != fd) {
                continue; /* from a registration already replaced */
            }
            dd_conn_io(d->conn, events[k].events, f->now);
            sync_epoll(f, d);
            schedule(f, d);
        }
    }

    /* Whatever is still unanswered is missing; then disconnect everyone. */
    f->s.connected_end = f->connected;
    for (i = 0; i < f->n; i++) {
        expire(f, &f->devs[i], true);
    }
    f->stopping = true;
    for (i = 0; i < f->n; i++) {
        dd_conn_stop(f->devs[i].conn, f->now);
        sync_epoll(f, &f->devs[i]);
    }
    {
        int64_t deadline = dd_clock_mono_ms() + 5000;

        while (f->connected > 0 && dd_clock_mono_ms() < deadline) {
            int n = epoll_wait(f->epfd, events, MAX_EVENTS, 100);
            int k;

            f->now = dd_clock_mono_ms();
            for (k = 0; k < n; k++) {
                uint32_t idx = (uint32_t)(events[k].data.u64 >> 32);
                int fd = (int)(uint32_t)events[k].data.u64;

                if (idx < f->n && f->devs[idx].reg_fd == fd) {
                    dd_conn_io(f->devs[idx].conn, events[k].events, f->now);
                    sync_epoll(f, &f->devs[idx]);
                }
            }
        }
    }
    free(events);
    f->s.rss_peak_kb = status_kb("VmHWM");
    f->s.cpu_s = cpu_seconds();
    summary_print(f);
    if (summary != NULL) {
        *summary = f->s;
    }
    return DD_FLEET_OK;
}

void dd_fleet_free(dd_fleet_t *f)
{
    uint32_t i;

    if (f == NULL) {
        return;
    }
    for (i = 0; f->devs != NULL && i < f->n; i++) {
        dd_conn_destroy(f->devs[i].conn);
    }
    free(f->devs);
    if (f->epfd >= 0) {
        close(f->epfd);
    }
    SSL_CTX_free(f->ssl_ctx);
    free(f->heap);
    free(f->buf);
    free(f->payload);
    free(f);
}

dd_fleet_status_t dd_fleet_summary_json(const dd_fleet_summary_t *s, char **json)
{
    cJSON *o;

    if (s == NULL || json == NULL) {
        return DD_FLEET_BAD_PARAMETER;
    }
    o = cJSON_CreateObject();
    if (o == NULL) {
        return DD_FLEET_NO_MEMORY;
    }
    cJSON_AddNumberToObject(o, "devices", s->devices);
    cJSON_AddNumberToObject(o, "connectedPeak", s->connected_peak);
    cJSON_AddNumberToObject(o, "connectedAtEnd", s->connected_end);
    cJSON_AddNumberToObject(o, "connectFailures", (double)s->connect_failures);
    cJSON_AddNumberToObject(o, "connectionsLost", (double)s->connections_lost);
    cJSON_AddNumberToObject(o, "reportsExpected", (double)s->reports_expected);
    cJSON_AddNumberToObject(o, "reportsSent", (double)s->reports_sent);
    cJSON_AddNumberToObject(o, "reportsAccepted", (double)s->reports_accepted);
    cJSON_AddNumberToObject(o, "reportsRejected", (double)s->reports_rejected);
    cJSON_AddNumberToObject(o, "reportsMissing", (double)s->reports_missing);
    cJSON_AddNumberToObject(o, "reportsSkipped", (double)s->reports_skipped);
    cJSON_AddNumberToObject(o, "telemetrySent", (double)s->telemetry_sent);
    cJSON_AddNumberToObject(o, "telemetryBytes", (double)s->telemetry_bytes);
    cJSON_AddNumberToObject(o, "rampSeconds", s->ramp_s);
    cJSON_AddNumberToObject(o, "runSeconds", s->run_s);
    cJSON_AddNumberToObject(o, "timeScale", s->time_scale);
    cJSON_AddNumberToObject(o, "rssBeforeKiB", (double)s->rss_before_kb);
    cJSON_AddNumberToObject(o, "rssConnectedKiB", (double)s->rss_connected_kb);
    cJSON_AddNumberToObject(o, "rssPeakKiB", (double)s->rss_peak_kb);
    cJSON_AddNumberToObject(o, "kibPerDevice",
                            s->connected_peak > 0
                                ? (double)(s->rss_connected_kb - s->rss_before_kb) /
                                      s->connected_peak
                                : 0.0);
    cJSON_AddNumberToObject(o, "cpuSeconds", s->cpu_s);
    *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *json != NULL ? DD_FLEET_OK : DD_FLEET_NO_MEMORY;
}

const char *dd_fleet_strerror(dd_fleet_status_t status)
{
    switch (status) {
    case DD_FLEET_OK: return "ok";
    case DD_FLEET_BAD_PARAMETER: return "bad parameter";
    case DD_FLEET_PKI_ERROR: return "device credentials could not be issued or read";
    case DD_FLEET_IO_ERROR: return "the credentials cache could not be written";
    case DD_FLEET_REGISTRY_ERROR: return "registering the fleet failed";
    case DD_FLEET_CONNECT_ERROR: return "connections could not be set up";
    case DD_FLEET_NO_MEMORY: return "out of memory";
    }
    return "unknown status";
}
