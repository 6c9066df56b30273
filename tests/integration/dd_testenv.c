#include "dd_testenv.h"
#include "dd_clock.h"

#include "dd_broker_conf.h"
#include "dd_control.h"
#include "dd_db.h"
#include "dd_fs.h"
#include "dd_names.h"

#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef DD_TESTENV_PLUGIN
#define DD_TESTENV_PLUGIN "ddlocal_shim.so"
#endif
#ifndef DD_TESTENV_MOSQUITTO
#define DD_TESTENV_MOSQUITTO "/usr/sbin/mosquitto"
#endif
#ifndef DD_TESTENV_PRELOAD
#define DD_TESTENV_PRELOAD ""
#endif
#ifndef DD_TESTENV_FIXTURES
#define DD_TESTENV_FIXTURES "fixtures"
#endif

#define SERVICE_CLIENT_ID "ddlocal-testenv"
#define CONTROL_TIMEOUT_MS 10000
#define START_TIMEOUT_MS 20000
#define STOP_GRACE_MS 10000

/* ---- small helpers -------------------------------------------------------------------------- */

const char *dd_testenv_strerror(dd_testenv_status_t status)
{
    switch (status) {
    case DD_TESTENV_OK: return "ok";
    case DD_TESTENV_BAD_PARAMETER: return "bad parameter";
    case DD_TESTENV_NO_MEMORY: return "out of memory";
    case DD_TESTENV_FAILED: return "failed";
    case DD_TESTENV_TIMEOUT: return "timed out";
    case DD_TESTENV_DISCONNECTED: return "disconnected";
    case DD_TESTENV_REFUSED: return "refused by the shim";
    }
    return "unknown testenv status";
}

static dd_testenv_status_t reg_fail(const char *what, dd_registry_status_t st,
                                    const dd_registry_error_t *err)
{
    fprintf(stderr, "testenv: %s: %s (%s)\n", what, dd_registry_strerror(st),
            err != NULL ? err->message : "");
    return DD_TESTENV_FAILED;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

dd_testenv_status_t dd_testenv_init(dd_testenv_t *env, const dd_testenv_options_t *opts)
{
    char path[256];
    char *pem = NULL;
    dd_registry_error_t err;
    dd_registry_status_t rs;
    dd_pki_status_t ps;

    if (env == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    memset(env, 0, sizeof(*env));
    if (opts != NULL) {
        env->opts = *opts;
    }
    (void)snprintf(env->dir, sizeof(env->dir), "/tmp/dd_testenv.XXXXXX");
    if (mkdtemp(env->dir) == NULL) {
        fprintf(stderr, "testenv: mkdtemp: %s\n", strerror(errno));
        env->dir[0] = '\0';
        return DD_TESTENV_FAILED;
    }
    ps = dd_pki_ca_ensure(env->dir, &env->ca);
    if (ps == DD_PKI_OK) {
        ps = dd_pki_ensure_server(env->ca);
    }
    if (ps == DD_PKI_OK) {
        ps = dd_pki_ensure_service(env->ca, env->service_id);
    }
    if (ps != DD_PKI_OK) {
        fprintf(stderr, "testenv: PKI: %s\n", dd_pki_strerror(ps));
        return DD_TESTENV_FAILED;
    }
    (void)dd_pki_path(env->dir, DD_PKI_FILE_ROOTCA_CERT, env->root_ca, sizeof(env->root_ca));
    (void)dd_pki_path(env->dir, DD_PKI_FILE_SERVICE_CERT, env->service_cert,
                      sizeof(env->service_cert));
    (void)dd_pki_path(env->dir, DD_PKI_FILE_SERVICE_KEY, env->service_key,
                      sizeof(env->service_key));
    (void)dd_broker_conf_path(env->dir, DD_BROKER_CONF_FILE, env->conf, sizeof(env->conf));
    (void)dd_broker_conf_path(env->dir, DD_BROKER_CONF_LOG_FILE, env->log, sizeof(env->log));

    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", env->dir);
    (void)dd_clock_init_real(&env->clock);
    if (dd_db_open(path, false, &env->db) != DD_DB_OK ||
        dd_registry_open(&env->reg, env->db, NULL, &env->clock) != DD_REGISTRY_OK) {
        fprintf(stderr, "testenv: cannot open the registry %s\n", path);
        return DD_TESTENV_FAILED;
    }
    if (dd_fs_read_file(env->service_cert, 65536, &pem, NULL) != DD_FS_OK) {
        fprintf(stderr, "testenv: cannot read %s\n", env->service_cert);
        return DD_TESTENV_FAILED;
    }
    rs = dd_registry_cert_add(&env->reg, pem, DD_CERT_ACTIVE, true, NULL, 0, &err);
    free(pem);
    if (rs != DD_REGISTRY_OK) {
        return reg_fail("registering the service certificate", rs, &err);
    }
    return DD_TESTENV_OK;
}

static dd_testenv_status_t write_conf(dd_testenv_t *env)
{
    dd_broker_conf_options_t c;
    char user[64];
    char log[256];

    if (dd_broker_conf_defaults(&c, env->dir, user, sizeof(user), log, sizeof(log)) !=
        DD_BROKER_CONF_OK) {
        return DD_TESTENV_FAILED;
    }
    c.mqtt_port = env->mqtt_port;
    c.alpn_port = env->alpn_port;
    c.plain = env->opts.plain;
    c.plugin_path = env->opts.plain ? NULL : DD_TESTENV_PLUGIN;
    c.single_cert_identity = !env->opts.strict_identity;
    c.kick_on_deny = !env->opts.no_kick_on_deny;
    c.plugin_debug = env->opts.plugin_debug;
    c.persistence = !env->opts.no_persistence;
    c.metering_flush_ms = env->opts.metering_flush_ms > 0 ? env->opts.metering_flush_ms : 20;
    if (dd_broker_conf_write(&c, env->conf) != DD_BROKER_CONF_OK) {
        fprintf(stderr, "testenv: cannot write %s\n", env->conf);
        return DD_TESTENV_FAILED;
    }
    return DD_TESTENV_OK;
}

static dd_testenv_status_t spawn_broker(dd_testenv_t *env)
{
    char preload[700];
    char *argv[4];
    char *envp[3] = {NULL, NULL, NULL};
    dd_proc_status_t st;

    if (DD_TESTENV_PRELOAD[0] != '\0') {
        /* A sanitized plugin in Debian's uninstrumented broker needs the runtimes. */
        (void)snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", DD_TESTENV_PRELOAD);
        envp[0] = preload;
        envp[1] = "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1";
    }
    argv[0] = DD_TESTENV_MOSQUITTO;
    argv[1] = "-c";
    argv[2] = env->conf;
    argv[3] = NULL;
    if (dd_proc_spawn(&env->broker, "mosquitto", argv, envp, env->log) != DD_PROC_OK) {
        fprintf(stderr, "testenv: cannot start %s\n", argv[0]);
        return DD_TESTENV_FAILED;
    }
    st = dd_proc_wait_port(&env->broker, env->mqtt_port, START_TIMEOUT_MS);
    if (st == DD_PROC_OK) {
        st = dd_proc_wait_port(&env->broker, env->alpn_port, START_TIMEOUT_MS);
    }
    if (st != DD_PROC_OK) {
        dd_proc_stop(&env->broker, 2000);
        return st == DD_PROC_TIMEOUT ? DD_TESTENV_TIMEOUT : DD_TESTENV_FAILED;
    }
    return DD_TESTENV_OK;
}

dd_testenv_status_t dd_testenv_start(dd_testenv_t *env)
{
    dd_testenv_status_t st = DD_TESTENV_FAILED;
    int attempt;
    int rc;
    int granted = -1;

    if (env == NULL || env->dir[0] == '\0' || env->started) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    /* The registry as the shim loads it at start: nothing to push afterwards. */
    if (dd_registry_change_head(&env->reg, &env->synced_seq) != DD_REGISTRY_OK) {
        return DD_TESTENV_FAILED;
    }
    for (attempt = 0; attempt < 3; attempt++) {
        if (dd_proc_free_port(&env->mqtt_port) != DD_PROC_OK ||
            dd_proc_free_port(&env->alpn_port) != DD_PROC_OK) {
            return DD_TESTENV_FAILED;
        }
        if (env->mqtt_port == env->alpn_port) {
            continue;
        }
        st = write_conf(env);
        if (st != DD_TESTENV_OK) {
            return st;
        }
        st = spawn_broker(env);
        if (st == DD_TESTENV_OK) {
            break;
        }
        /* A port taken meanwhile makes mosquitto exit: try others. */
        fprintf(stderr, "testenv: broker did not start (%s), attempt %d\n", dd_testenv_strerror(st),
                attempt + 1);
    }
    if (st != DD_TESTENV_OK) {
        dd_testenv_dump_log(env);
        return st;
    }
    env->started = true;
    if (env->opts.plain) {
        return DD_TESTENV_OK;
    }
    if (dd_testenv_mqtt_new(env, SERVICE_CLIENT_ID, NULL, true, &env->service) != DD_TESTENV_OK) {
        return DD_TESTENV_FAILED;
    }
    rc = dd_testenv_mqtt_connect(env->service, CONTROL_TIMEOUT_MS);
    if (rc != 0) {
        fprintf(stderr, "testenv: the service connection was refused (CONNACK %d)\n", rc);
        dd_testenv_dump_log(env);
        return DD_TESTENV_FAILED;
    }
    if (dd_testenv_mqtt_subscribe(env->service, DD_BROKER_CONF_METERING_TOPIC, 1,
                                  CONTROL_TIMEOUT_MS, &granted) != DD_TESTENV_OK ||
        granted != 1) {
        fprintf(stderr, "testenv: cannot subscribe to the metering topic (granted %d)\n", granted);
        return DD_TESTENV_FAILED;
    }
    return DD_TESTENV_OK;
}

bool dd_testenv_broker_alive(dd_testenv_t *env)
{
    return env != NULL && env->started && dd_proc_alive(&env->broker);
}

static char *read_log(const dd_testenv_t *env, size_t *len)
{
    char *text = NULL;

    if (dd_fs_read_file(env->log, 256u << 20, &text, len) != DD_FS_OK) {
        return NULL;
    }
    return text;
}

int dd_testenv_log_count(const dd_testenv_t *env, const char *needle)
{
    size_t len = 0;
    char *text;
    char *line;
    char *save = NULL;
    int n = 0;

    if (env == NULL || needle == NULL) {
        return 0;
    }
    text = read_log(env, &len);
    if (text == NULL) {
        return 0;
    }
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, needle) != NULL) {
            n++;
        }
    }
    free(text);
    return n;
}

void dd_testenv_dump_log(const dd_testenv_t *env)
{
    size_t len = 0;
    size_t start;
    int seen = 0;
    char *text;

    if (env == NULL || env->dir[0] == '\0') {
        return;
    }
    text = read_log(env, &len);
    if (text == NULL || len == 0) {
        free(text);
        return;
    }
    for (start = len; start > 0 && seen < 60; start--) {
        if (text[start - 1] == '\n' && start != len) {
            seen++;
        }
    }
    fprintf(stderr, "---- last lines of %s ----\n%s%s", env->log, text + start,
            text[len - 1] == '\n' ? "" : "\n");
    free(text);
}

int dd_testenv_stop(dd_testenv_t *env)
{
    int result = 0;
    static const char *const reports[] = {"AddressSanitizer", "runtime error:", "LeakSanitizer"};
    size_t i;

    if (env == NULL || env->dir[0] == '\0') {
        return 0;
    }
    dd_testenv_mqtt_destroy(env->service);
    env->service = NULL;
    if (env->started) {
        char how[64];

        if (!dd_proc_alive(&env->broker)) {
            dd_proc_describe_exit(&env->broker, how, sizeof(how));
            fprintf(stderr, "testenv: the broker died during the test (%s)\n", how);
            result = -1;
        }
        dd_proc_stop(&env->broker, STOP_GRACE_MS);
        if (result == 0 &&
            !(WIFEXITED(env->broker.exit_status) && WEXITSTATUS(env->broker.exit_status) == 0)) {
            dd_proc_describe_exit(&env->broker, how, sizeof(how));
            fprintf(stderr, "testenv: the broker did not stop cleanly (%s)\n", how);
            result = -1;
        }
        env->started = false;
        for (i = 0; i < sizeof(reports) / sizeof(reports[0]); i++) {
            if (dd_testenv_log_count(env, reports[i]) > 0) {
                fprintf(stderr, "testenv: the broker log holds a sanitizer report (%s)\n",
                        reports[i]);
                result = -1;
            }
        }
    }
    if (!env->passed || result != 0) {
        dd_testenv_dump_log(env);
    }
    if (env->db != NULL) {
        dd_db_close(env->db);
        env->db = NULL;
    }
    dd_pki_ca_free(env->ca);
    env->ca = NULL;
    free(env->recs);
    env->recs = NULL;
    env->nrecs = env->caprecs = 0;
    if (getenv("DD_TESTENV_KEEP") != NULL) {
        fprintf(stderr, "testenv: kept %s\n", env->dir);
    } else {
        (void)dd_fs_remove_tree(env->dir);
    }
    env->dir[0] = '\0';
    return result;
}

/* ---- registry ------------------------------------------------------------------------------- */

typedef struct sync_ctx {
    dd_control_batch_t *batch;
    dd_registry_t *reg;
    int64_t last;
    dd_control_status_t st;
} sync_ctx_t;

static int sync_change(void *ctx, const dd_registry_change_t *change)
{
    sync_ctx_t *s = ctx;

    s->last = change->seq;
    s->st = dd_control_batch_add_from_registry(s->batch, s->reg, change->kind, change->name);
    return s->st != DD_CONTROL_OK;
}

static dd_testenv_status_t send_and_wait(dd_testenv_t *env, const char *topic, const char *id,
                                         const char *payload, size_t len, char *error,
                                         size_t error_len)
{
    int64_t deadline = dd_clock_mono_ms() + CONTROL_TIMEOUT_MS;
    dd_testenv_status_t st;

    if (error != NULL && error_len > 0) {
        error[0] = '\0';
    }
    /* The broker sends the PUBACK after the shim's control callback ran. */
    st = dd_testenv_mqtt_publish(env->service, topic, payload, len, 1, CONTROL_TIMEOUT_MS);
    if (st != DD_TESTENV_OK) {
        fprintf(stderr, "testenv: control message on %s: %s\n", topic, dd_testenv_strerror(st));
        return st;
    }
    for (;;) {
        dd_testenv_msg_t *m = NULL;
        char rid[DD_CONTROL_ID_MAX + 1];
        char err[DD_CONTROL_ERROR_MAX];
        bool ok = false;
        int left = (int)(deadline - dd_clock_mono_ms());

        if (left <= 0 || dd_testenv_mqtt_wait_message(env->service, DD_CONTROL_TOPIC_RESPONSE, left,
                                                      &m) != DD_TESTENV_OK) {
            fprintf(stderr, "testenv: no response to control message %s\n", id);
            return DD_TESTENV_TIMEOUT;
        }
        if (dd_control_decode_response(m->payload, m->len, rid, &ok, err, sizeof(err)) ==
                DD_CONTROL_OK &&
            strcmp(rid, id) == 0) {
            dd_testenv_msg_free(m);
            if (!ok) {
                if (error != NULL && error_len > 0) {
                    (void)snprintf(error, error_len, "%s", err);
                }
                return DD_TESTENV_REFUSED;
            }
            return DD_TESTENV_OK;
        }
        dd_testenv_msg_free(m);
    }
}

dd_testenv_status_t dd_testenv_control(dd_testenv_t *env, const char *topic, cJSON *root,
                                       char *error, size_t error_len)
{
    char id[32];
    char *text;
    dd_testenv_status_t st;

    if (env == NULL || topic == NULL || root == NULL || env->service == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    (void)snprintf(id, sizeof(id), "tenv-%u", ++env->next_id);
    cJSON_DeleteItemFromObject(root, "id");
    if (cJSON_AddStringToObject(root, "id", id) == NULL) {
        return DD_TESTENV_NO_MEMORY;
    }
    text = cJSON_PrintUnformatted(root);
    if (text == NULL) {
        return DD_TESTENV_NO_MEMORY;
    }
    st = send_and_wait(env, topic, id, text, strlen(text), error, error_len);
    free(text);
    return st;
}

dd_testenv_status_t dd_testenv_sync(dd_testenv_t *env)
{
    dd_control_batch_t batch;
    sync_ctx_t s;
    char id[32];
    char *payload = NULL;
    size_t len = 0;
    char err[DD_CONTROL_ERROR_MAX];
    dd_testenv_status_t st;

    if (env == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    if (!env->started || env->service == NULL) {
        return DD_TESTENV_OK;
    }
    (void)snprintf(id, sizeof(id), "tenv-%u", ++env->next_id);
    if (dd_control_batch_init(&batch, id, false) != DD_CONTROL_OK) {
        return DD_TESTENV_NO_MEMORY;
    }
    memset(&s, 0, sizeof(s));
    s.batch = &batch;
    s.reg = &env->reg;
    s.last = env->synced_seq;
    if (dd_registry_changes_since(&env->reg, env->synced_seq, 0, sync_change, &s) !=
            DD_REGISTRY_OK ||
        s.st != DD_CONTROL_OK) {
        dd_control_batch_free(&batch);
        fprintf(stderr, "testenv: cannot read the registry's change log\n");
        return DD_TESTENV_FAILED;
    }
    if (dd_control_batch_count(&batch) == 0) {
        dd_control_batch_free(&batch);
        return DD_TESTENV_OK;
    }
    if (dd_control_batch_encode(&batch, &payload, &len) != DD_CONTROL_OK) {
        dd_control_batch_free(&batch);
        return DD_TESTENV_NO_MEMORY;
    }
    dd_control_batch_free(&batch);
    st = send_and_wait(env, DD_CONTROL_TOPIC_REGISTRY, id, payload, len, err, sizeof(err));
    free(payload);
    if (st == DD_TESTENV_REFUSED) {
        fprintf(stderr, "testenv: the shim refused a registry change: %s\n", err);
    }
    if (st == DD_TESTENV_OK) {
        env->synced_seq = s.last;
    }
    return st;
}

static dd_testenv_status_t after_change(dd_testenv_t *env, const char *what,
                                        dd_registry_status_t rs, const dd_registry_error_t *err)
{
    if (rs != DD_REGISTRY_OK) {
        return reg_fail(what, rs, err);
    }
    return dd_testenv_sync(env);
}

dd_testenv_status_t dd_testenv_policy(dd_testenv_t *env, const char *name, const char *doc)
{
    dd_registry_error_t err;

    if (env == NULL || name == NULL || doc == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    return after_change(env, "policy create", dd_registry_policy_create(&env->reg, name, doc, &err),
                        &err);
}

dd_testenv_status_t dd_testenv_policy_fixture(dd_testenv_t *env, const char *name,
                                              const char *fixture_rel)
{
    char path[512];
    char *doc = NULL;
    dd_testenv_status_t st;

    if (env == NULL || name == NULL || fixture_rel == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    (void)snprintf(path, sizeof(path), "%s/%s", DD_TESTENV_FIXTURES, fixture_rel);
    if (dd_fs_read_file(path, 1u << 20, &doc, NULL) != DD_FS_OK) {
        fprintf(stderr, "testenv: cannot read %s\n", path);
        return DD_TESTENV_FAILED;
    }
    st = dd_testenv_policy(env, name, doc);
    free(doc);
    return st;
}

static dd_registry_status_t ensure_thing(dd_testenv_t *env, const char *name,
                                         dd_registry_error_t *err)
{
    if (dd_registry_thing_exists(&env->reg, name)) {
        return DD_REGISTRY_OK;
    }
    return dd_registry_thing_create(&env->reg, name, NULL, NULL, NULL, 0, err);
}

dd_testenv_status_t dd_testenv_thing(dd_testenv_t *env, const char *name)
{
    dd_registry_error_t err;

    if (env == NULL || name == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    return after_change(env, "thing create", ensure_thing(env, name, &err), &err);
}

static dd_testenv_status_t issue(const dd_pki_ca_t *ca, const char *dir, dd_pki_credentials_t *cred,
                                 dd_testenv_creds_t *creds)
{
    if (dd_pki_issue_device(ca, DD_PKI_KEY_EC_P256, cred) != DD_PKI_OK) {
        fprintf(stderr, "testenv: cannot issue a device certificate\n");
        return DD_TESTENV_FAILED;
    }
    if (dd_pki_credentials_write(cred, dir) != DD_PKI_OK) {
        fprintf(stderr, "testenv: cannot write credentials to %s\n", dir);
        dd_pki_credentials_free(cred);
        return DD_TESTENV_FAILED;
    }
    (void)snprintf(creds->cert, sizeof(creds->cert), "%s/%s", dir, DD_PKI_DEVICE_CERT_FILE);
    (void)snprintf(creds->key, sizeof(creds->key), "%s/%s", dir, DD_PKI_DEVICE_PRIVATE_KEY_FILE);
    (void)snprintf(creds->id, sizeof(creds->id), "%s", cred->certificate_id);
    return DD_TESTENV_OK;
}

dd_testenv_status_t dd_testenv_cert(dd_testenv_t *env, const char *things, const char *policy,
                                    dd_testenv_creds_t *creds)
{
    dd_pki_credentials_t cred;
    dd_registry_error_t err;
    dd_registry_status_t rs;
    char dir[200];
    char arn[256];
    dd_testenv_status_t st;

    if (env == NULL || creds == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    memset(creds, 0, sizeof(*creds));
    (void)snprintf(dir, sizeof(dir), "%s/certs/%u", env->dir, ++env->next_id);
    st = issue(env->ca, dir, &cred, creds);
    if (st != DD_TESTENV_OK) {
        return st;
    }
    rs =
        dd_registry_cert_add(&env->reg, cred.certificate_pem, DD_CERT_ACTIVE, false, NULL, 0, &err);
    dd_pki_credentials_free(&cred);
    if (rs != DD_REGISTRY_OK) {
        return reg_fail("certificate add", rs, &err);
    }
    if (things != NULL && things[0] != '\0') {
        char list[512];
        char *save = NULL;
        char *t;

        (void)snprintf(list, sizeof(list), "%s", things);
        for (t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
            rs = ensure_thing(env, t, &err);
            if (rs == DD_REGISTRY_OK) {
                rs = dd_registry_principal_attach(&env->reg, t, creds->id, &err);
            }
            if (rs != DD_REGISTRY_OK) {
                return reg_fail("attaching a certificate to a thing", rs, &err);
            }
        }
    }
    if (policy != NULL) {
        if (dd_arn_format(&env->reg.arn, DD_NAME_CERTIFICATE, creds->id, arn, sizeof(arn)) !=
            DD_NAMES_OK) {
            return DD_TESTENV_FAILED;
        }
        rs = dd_registry_policy_attach(&env->reg, policy, arn, &err);
        if (rs != DD_REGISTRY_OK) {
            return reg_fail("attaching a policy to a certificate", rs, &err);
        }
    }
    return dd_testenv_sync(env);
}

dd_testenv_status_t dd_testenv_device(dd_testenv_t *env, const char *name, const char *policy,
                                      dd_testenv_creds_t *creds)
{
    if (name == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    return dd_testenv_cert(env, name, policy, creds);
}

dd_testenv_status_t dd_testenv_unregistered_cert(dd_testenv_t *env, bool other_ca,
                                                 dd_testenv_creds_t *creds)
{
    dd_pki_ca_t *other = NULL;
    dd_pki_credentials_t cred;
    char dir[200];
    dd_testenv_status_t st;

    if (env == NULL || creds == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    memset(creds, 0, sizeof(*creds));
    if (other_ca) {
        (void)snprintf(dir, sizeof(dir), "%s/other-ca", env->dir);
        if (dd_pki_ca_ensure(dir, &other) != DD_PKI_OK) {
            return DD_TESTENV_FAILED;
        }
    }
    (void)snprintf(dir, sizeof(dir), "%s/certs/unregistered-%u", env->dir, ++env->next_id);
    st = issue(other_ca ? other : env->ca, dir, &cred, creds);
    if (st == DD_TESTENV_OK) {
        dd_pki_credentials_free(&cred);
    }
    dd_pki_ca_free(other);
    return st;
}

dd_testenv_status_t dd_testenv_cert_status(dd_testenv_t *env, const char *cert_id,
                                           dd_cert_status_t status)
{
    dd_registry_error_t err;

    if (env == NULL || cert_id == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    return after_change(env, "certificate status",
                        dd_registry_cert_set_status(&env->reg, cert_id, status, &err), &err);
}

dd_testenv_status_t dd_testenv_group(dd_testenv_t *env, const char *name, const char *parent,
                                     const char *policy)
{
    dd_registry_error_t err;
    dd_registry_status_t rs;
    char arn[256];

    if (env == NULL || name == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    rs = dd_registry_group_create(&env->reg, name, parent, NULL, NULL, NULL, 0, &err);
    if (rs == DD_REGISTRY_OK && policy != NULL) {
        if (dd_arn_format(&env->reg.arn, DD_NAME_THING_GROUP, name, arn, sizeof(arn)) !=
            DD_NAMES_OK) {
            return DD_TESTENV_FAILED;
        }
        rs = dd_registry_policy_attach(&env->reg, policy, arn, &err);
    }
    return after_change(env, "thing group", rs, &err);
}

dd_testenv_status_t dd_testenv_group_add(dd_testenv_t *env, const char *group, const char *thing)
{
    dd_registry_error_t err;

    if (env == NULL || group == NULL || thing == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    return after_change(env, "adding a thing to a group",
                        dd_registry_group_add_thing(&env->reg, group, thing, &err), &err);
}

dd_testenv_status_t dd_testenv_group_remove(dd_testenv_t *env, const char *group, const char *thing)
{
    dd_registry_error_t err;

    if (env == NULL || group == NULL || thing == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    return after_change(env, "removing a thing from a group",
                        dd_registry_group_remove_thing(&env->reg, group, thing, &err), &err);
}

/* ---- metering ------------------------------------------------------------------------------ */

static void copy_str(char *dst, size_t cap, const dd_metering_str_t *s)
{
    size_t n = s->ptr != NULL ? s->len : 0;

    if (n >= cap) {
        n = cap - 1;
    }
    if (n > 0) {
        memcpy(dst, s->ptr, n);
    }
    dst[n] = '\0';
}

typedef struct collect_ctx {
    dd_testenv_t *env;
    int qos;
} collect_ctx_t;

static int collect(void *ctx, const dd_metering_header_t *hdr, const dd_metering_record_t *rec)
{
    collect_ctx_t *cc = ctx;
    dd_testenv_t *env = cc->env;
    dd_testenv_mrec_t *m;

    if (env->nrecs == env->caprecs) {
        size_t ncap = env->caprecs == 0 ? 256 : env->caprecs * 2;
        dd_testenv_mrec_t *n = realloc(env->recs, ncap * sizeof(*n));

        if (n == NULL) {
            return 1;
        }
        env->recs = n;
        env->caprecs = ncap;
    }
    m = &env->recs[env->nrecs++];
    memset(m, 0, sizeof(*m));
    m->type = rec->type;
    m->time_ms = rec->time_ms;
    m->registered = rec->registered;
    m->success = rec->success;
    copy_str(m->key, sizeof(m->key), &rec->key);
    copy_str(m->subject, sizeof(m->subject), &rec->subject);
    copy_str(m->ip, sizeof(m->ip), &rec->ip);
    m->bytes = rec->bytes;
    m->action = rec->action;
    m->reason = rec->reason;
    m->instance_id = hdr->instance_id;
    m->seq = hdr->seq;
    m->qos = cc->qos;
    return 0;
}

static void decode_batch(dd_testenv_t *env, const dd_testenv_msg_t *m)
{
    collect_ctx_t cc = {env, m->qos};
    char err[200];

    if (dd_metering_decode(m->payload, m->len, NULL, collect, &cc, err, sizeof(err)) !=
        DD_METERING_OK) {
        fprintf(stderr, "testenv: a metering batch does not decode: %s\n", err);
    }
}

size_t dd_testenv_metering_take(dd_testenv_t *env)
{
    size_t before;

    if (env == NULL || env->service == NULL) {
        return 0;
    }
    before = env->nrecs;
    for (;;) {
        dd_testenv_msg_t *m = NULL;

        if (dd_testenv_mqtt_queued(env->service, DD_BROKER_CONF_METERING_TOPIC) == 0 ||
            dd_testenv_mqtt_wait_message(env->service, DD_BROKER_CONF_METERING_TOPIC, 0, &m) !=
                DD_TESTENV_OK) {
            break;
        }
        decode_batch(env, m);
        dd_testenv_msg_free(m);
    }
    return env->nrecs - before;
}

size_t dd_testenv_metering_count(const dd_testenv_t *env, dd_metering_type_t type, const char *key,
                                 const char *subject, int action, int reason)
{
    size_t i;
    size_t n = 0;

    if (env == NULL) {
        return 0;
    }
    for (i = 0; i < env->nrecs; i++) {
        const dd_testenv_mrec_t *m = &env->recs[i];

        if (m->type != type || (key != NULL && strcmp(m->key, key) != 0) ||
            (subject != NULL && strcmp(m->subject, subject) != 0) ||
            (action >= 0 && (int)m->action != action) ||
            (reason >= 0 && (int)m->reason != reason)) {
            continue;
        }
        n++;
    }
    return n;
}

size_t dd_testenv_metering_wait(dd_testenv_t *env, dd_metering_type_t type, const char *key,
                                const char *subject, int action, int reason, size_t want,
                                int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    size_t n;

    for (;;) {
        dd_testenv_msg_t *m = NULL;
        int left;

        (void)dd_testenv_metering_take(env);
        n = dd_testenv_metering_count(env, type, key, subject, action, reason);
        left = (int)(deadline - dd_clock_mono_ms());
        if (n >= want || left <= 0 || env->service == NULL) {
            return n;
        }
        /* Wait for the next batch without taking it. */
        if (dd_testenv_mqtt_wait_message(env->service, DD_BROKER_CONF_METERING_TOPIC, left, &m) ==
            DD_TESTENV_OK) {
            decode_batch(env, m);
            dd_testenv_msg_free(m);
        }
    }
}

const dd_testenv_mrec_t *dd_testenv_metering_find(const dd_testenv_t *env, dd_metering_type_t type,
                                                  const char *key)
{
    size_t i;

    if (env == NULL || key == NULL) {
        return NULL;
    }
    for (i = 0; i < env->nrecs; i++) {
        if (env->recs[i].type == type && strcmp(env->recs[i].key, key) == 0) {
            return &env->recs[i];
        }
    }
    return NULL;
}

/* ---- MQTT clients (dd_testmqtt with the data dir's credentials and the broker's ports) ----- */

static dd_testenv_status_t from_mqtt(dd_testmqtt_status_t st)
{
    switch (st) {
    case DD_TESTMQTT_OK: return DD_TESTENV_OK;
    case DD_TESTMQTT_BAD_PARAMETER: return DD_TESTENV_BAD_PARAMETER;
    case DD_TESTMQTT_NO_MEMORY: return DD_TESTENV_NO_MEMORY;
    case DD_TESTMQTT_FAILED: return DD_TESTENV_FAILED;
    case DD_TESTMQTT_TIMEOUT: return DD_TESTENV_TIMEOUT;
    case DD_TESTMQTT_DISCONNECTED: return DD_TESTENV_DISCONNECTED;
    }
    return DD_TESTENV_FAILED;
}

dd_testenv_status_t dd_testenv_mqtt_new(const dd_testenv_t *env, const char *client_id,
                                        const dd_testenv_creds_t *creds, bool clean_session,
                                        dd_testenv_mqtt_t **out)
{
    dd_testmqtt_config_t cfg;

    if (env == NULL || client_id == NULL || out == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.client_id = client_id;
    cfg.port = env->mqtt_port;
    cfg.root_ca = env->root_ca;
    cfg.cert = creds != NULL ? creds->cert : env->service_cert;
    cfg.key = creds != NULL ? creds->key : env->service_key;
    cfg.clean_session = clean_session;
    cfg.keepalive_s = 60;
    cfg.tcp_nodelay = true;
    return from_mqtt(dd_testmqtt_new(&cfg, out));
}

dd_testenv_status_t dd_testenv_mqtt_use_alpn(dd_testenv_mqtt_t *c, const dd_testenv_t *env,
                                             const char *alpn)
{
    if (env == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    return from_mqtt(dd_testmqtt_use_alpn(c, env->alpn_port, alpn));
}

int dd_testenv_mqtt_connect(dd_testenv_mqtt_t *c, int timeout_ms)
{
    return dd_testmqtt_connect(c, timeout_ms);
}

dd_testenv_status_t dd_testenv_mqtt_subscribe(dd_testenv_mqtt_t *c, const char *filter, int qos,
                                              int timeout_ms, int *granted)
{
    return from_mqtt(dd_testmqtt_subscribe(c, filter, qos, timeout_ms, granted));
}

dd_testenv_status_t dd_testenv_mqtt_publish(dd_testenv_mqtt_t *c, const char *topic,
                                            const void *payload, size_t len, int qos,
                                            int timeout_ms)
{
    return from_mqtt(dd_testmqtt_publish(c, topic, payload, len, qos, timeout_ms));
}

dd_testenv_status_t dd_testenv_mqtt_wait_message(dd_testenv_mqtt_t *c, const char *filter,
                                                 int timeout_ms, dd_testenv_msg_t **out)
{
    return from_mqtt(dd_testmqtt_wait_message(c, filter, timeout_ms, out));
}

size_t dd_testenv_mqtt_queued(dd_testenv_mqtt_t *c, const char *filter)
{
    return dd_testmqtt_queued(c, filter);
}

dd_testenv_status_t dd_testenv_mqtt_will(dd_testenv_mqtt_t *c, const char *topic,
                                         const char *payload, int qos)
{
    return from_mqtt(dd_testmqtt_will(c, topic, payload, qos));
}

dd_testenv_status_t dd_testenv_mqtt_drop(dd_testenv_mqtt_t *c, int timeout_ms)
{
    return from_mqtt(dd_testmqtt_drop(c, timeout_ms));
}

bool dd_testenv_mqtt_wait_disconnect(dd_testenv_mqtt_t *c, int timeout_ms)
{
    return dd_testmqtt_wait_disconnect(c, timeout_ms);
}

bool dd_testenv_mqtt_connected(dd_testenv_mqtt_t *c)
{
    return dd_testmqtt_connected(c);
}

void dd_testenv_msg_free(dd_testenv_msg_t *head)
{
    dd_testmqtt_msg_free(head);
}

void dd_testenv_mqtt_destroy(dd_testenv_mqtt_t *c)
{
    dd_testmqtt_destroy(c);
}
