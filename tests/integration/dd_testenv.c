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

/* ---- MQTT clients ---------------------------------------------------------------------------- */

struct dd_testenv_mqtt {
    struct mosquitto *mosq;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint16_t port;
    bool ever_connected;
    bool stop;
    bool connected;
    bool closed;
    bool got_connack;
    int connack;
    int sub_mid;
    bool sub_done;
    int sub_granted;
    uint8_t pending[8192]; /* QoS 1 mids waiting for their PUBACK */
    uint8_t acked[8192];
    dd_testenv_msg_t *head;
    dd_testenv_msg_t *tail;
};

static bool bit_get(const uint8_t *map, int mid)
{
    return (map[(mid & 0xffff) >> 3] >> (mid & 7)) & 1;
}

static void bit_set(uint8_t *map, int mid, bool on)
{
    if (on) {
        map[(mid & 0xffff) >> 3] |= (uint8_t)(1u << (mid & 7));
    } else {
        map[(mid & 0xffff) >> 3] &= (uint8_t) ~(1u << (mid & 7));
    }
}

/* Waits on the client's condition until @p deadline; lock held. false once past it. */
static bool cond_wait_until(dd_testenv_mqtt_t *c, int64_t deadline)
{
    struct timespec ts;
    int64_t left = deadline - dd_clock_mono_ms();

    if (left <= 0) {
        return false;
    }
    if (left > 100) {
        left = 100;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    return true;
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    dd_testenv_mqtt_t *c = obj;

    (void)mosq;
    pthread_mutex_lock(&c->lock);
    c->got_connack = true;
    c->connack = rc;
    c->connected = rc == 0;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    dd_testenv_mqtt_t *c = obj;

    (void)mosq;
    (void)rc;
    pthread_mutex_lock(&c->lock);
    c->connected = false;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    dd_testenv_mqtt_t *c = obj;

    (void)mosq;
    pthread_mutex_lock(&c->lock);
    if (bit_get(c->pending, mid)) {
        bit_set(c->pending, mid, false);
        bit_set(c->acked, mid, true);
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted)
{
    dd_testenv_mqtt_t *c = obj;

    (void)mosq;
    pthread_mutex_lock(&c->lock);
    if (mid == c->sub_mid) {
        c->sub_granted = count > 0 ? granted[0] : 128;
        c->sub_done = true;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    dd_testenv_mqtt_t *c = obj;
    size_t tlen = strlen(msg->topic);
    size_t plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    dd_testenv_msg_t *m = calloc(1, sizeof(*m) + tlen + 1 + plen + 1);

    (void)mosq;
    if (m == NULL) {
        fprintf(stderr, "testenv: out of memory receiving a message on %s\n", msg->topic);
        return;
    }
    m->topic = (char *)(m + 1);
    memcpy(m->topic, msg->topic, tlen + 1);
    m->payload = (uint8_t *)m->topic + tlen + 1;
    if (plen > 0) {
        memcpy(m->payload, msg->payload, plen);
    }
    m->len = plen;
    m->qos = msg->qos;
    pthread_mutex_lock(&c->lock);
    if (c->tail != NULL) {
        c->tail->next = m;
    } else {
        c->head = m;
    }
    c->tail = m;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void *network(void *arg)
{
    dd_testenv_mqtt_t *c = arg;

    for (;;) {
        bool stop;

        pthread_mutex_lock(&c->lock);
        stop = c->stop;
        pthread_mutex_unlock(&c->lock);
        if (stop || mosquitto_loop(c->mosq, 20, 1) != MOSQ_ERR_SUCCESS) {
            break; /* no automatic reconnection: tests want to see disconnects */
        }
    }
    pthread_mutex_lock(&c->lock);
    c->connected = false;
    c->closed = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static void lib_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    (void)pthread_once(&once, (void (*)(void))mosquitto_lib_init);
}

dd_testenv_status_t dd_testenv_mqtt_new(const dd_testenv_t *env, const char *client_id,
                                        const dd_testenv_creds_t *creds, bool clean_session,
                                        dd_testenv_mqtt_t **out)
{
    dd_testenv_mqtt_t *c;
    pthread_condattr_t ca;
    const char *cert;
    const char *key;

    if (env == NULL || client_id == NULL || out == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    *out = NULL;
    lib_init();
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return DD_TESTENV_NO_MEMORY;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    c->port = env->mqtt_port;
    c->mosq = mosquitto_new(client_id, clean_session, c);
    if (c->mosq == NULL) {
        dd_testenv_mqtt_destroy(c);
        return DD_TESTENV_NO_MEMORY;
    }
    (void)mosquitto_threaded_set(c->mosq, true);
    /* Without it Nagle and delayed ACKs cost ~40 ms per QoS 1 round trip. */
    (void)mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(c->mosq, on_connect);
    mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
    mosquitto_publish_callback_set(c->mosq, on_publish);
    mosquitto_subscribe_callback_set(c->mosq, on_subscribe);
    mosquitto_message_callback_set(c->mosq, on_message);
    cert = creds != NULL ? creds->cert : env->service_cert;
    key = creds != NULL ? creds->key : env->service_key;
    if (mosquitto_tls_set(c->mosq, env->root_ca, NULL, cert, key, NULL) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "testenv: TLS credentials not usable (%s, %s)\n", cert, key);
        dd_testenv_mqtt_destroy(c);
        return DD_TESTENV_FAILED;
    }
    *out = c;
    return DD_TESTENV_OK;
}

dd_testenv_status_t dd_testenv_mqtt_use_alpn(dd_testenv_mqtt_t *c, const dd_testenv_t *env,
                                             const char *alpn)
{
    if (c == NULL || env == NULL || alpn == NULL || c->ever_connected) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    if (mosquitto_string_option(c->mosq, MOSQ_OPT_TLS_ALPN, alpn) != MOSQ_ERR_SUCCESS) {
        return DD_TESTENV_FAILED;
    }
    c->port = env->alpn_port;
    return DD_TESTENV_OK;
}

static void join_network(dd_testenv_mqtt_t *c)
{
    if (c->thread_started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_mutex_unlock(&c->lock);
        (void)pthread_join(c->thread, NULL);
        c->thread_started = false;
    }
}

int dd_testenv_mqtt_connect(dd_testenv_mqtt_t *c, int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    int rc;
    int result = -1;

    if (c == NULL) {
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    if (c->connected) {
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    pthread_mutex_unlock(&c->lock);
    join_network(c);
    pthread_mutex_lock(&c->lock);
    c->got_connack = false;
    c->connack = -1;
    c->closed = false;
    c->stop = false;
    pthread_mutex_unlock(&c->lock);
    rc = c->ever_connected ? mosquitto_reconnect(c->mosq)
                           : mosquitto_connect(c->mosq, "127.0.0.1", c->port, 60);
    if (rc != MOSQ_ERR_SUCCESS) {
        /* With a blocking connect, a refused TLS handshake shows up here. */
        c->ever_connected = true;
        return -1;
    }
    c->ever_connected = true;
    if (pthread_create(&c->thread, NULL, network, c) != 0) {
        return -1;
    }
    c->thread_started = true;
    pthread_mutex_lock(&c->lock);
    while (!c->got_connack && !c->closed && cond_wait_until(c, deadline)) {
    }
    if (c->got_connack) {
        result = c->connack;
    }
    pthread_mutex_unlock(&c->lock);
    return result;
}

dd_testenv_status_t dd_testenv_mqtt_subscribe(dd_testenv_mqtt_t *c, const char *filter, int qos,
                                              int timeout_ms, int *granted)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    dd_testenv_status_t st = DD_TESTENV_TIMEOUT;
    int mid = 0;

    if (c == NULL || filter == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    pthread_mutex_lock(&c->lock);
    if (!c->connected) {
        pthread_mutex_unlock(&c->lock);
        return DD_TESTENV_DISCONNECTED;
    }
    /* Lock held across the call: the SUBACK cannot be handled before sub_mid is known. */
    if (mosquitto_subscribe(c->mosq, &mid, filter, qos) != MOSQ_ERR_SUCCESS) {
        pthread_mutex_unlock(&c->lock);
        return DD_TESTENV_FAILED;
    }
    c->sub_mid = mid;
    c->sub_done = false;
    while (!c->sub_done && c->connected && cond_wait_until(c, deadline)) {
    }
    if (c->sub_done) {
        st = DD_TESTENV_OK;
        if (granted != NULL) {
            *granted = c->sub_granted;
        }
    } else if (!c->connected) {
        st = DD_TESTENV_DISCONNECTED;
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

dd_testenv_status_t dd_testenv_mqtt_publish(dd_testenv_mqtt_t *c, const char *topic,
                                            const void *payload, size_t len, int qos,
                                            int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    dd_testenv_status_t st = DD_TESTENV_TIMEOUT;
    int mid = 0;
    int rc;

    if (c == NULL || topic == NULL || (payload == NULL && len > 0) || len > (64u << 20) ||
        qos < 0 || qos > 1) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    pthread_mutex_lock(&c->lock);
    if (!c->connected) {
        pthread_mutex_unlock(&c->lock);
        return DD_TESTENV_DISCONNECTED;
    }
    /* Lock held across the call: the PUBACK cannot be handled before the mid is pending. */
    rc = mosquitto_publish(c->mosq, &mid, topic, (int)len, payload, qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        pthread_mutex_unlock(&c->lock);
        return rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST ? DD_TESTENV_DISCONNECTED
                                                                  : DD_TESTENV_FAILED;
    }
    if (qos == 0) {
        pthread_mutex_unlock(&c->lock);
        return DD_TESTENV_OK;
    }
    bit_set(c->acked, mid, false);
    bit_set(c->pending, mid, true);
    while (!bit_get(c->acked, mid) && c->connected && cond_wait_until(c, deadline)) {
    }
    if (bit_get(c->acked, mid)) {
        st = DD_TESTENV_OK;
    } else if (!c->connected) {
        st = DD_TESTENV_DISCONNECTED;
    }
    bit_set(c->acked, mid, false);
    bit_set(c->pending, mid, false);
    pthread_mutex_unlock(&c->lock);
    return st;
}

static bool matches(const char *filter, const char *topic)
{
    bool result = false;

    if (filter == NULL) {
        return true;
    }
    return mosquitto_topic_matches_sub(filter, topic, &result) == MOSQ_ERR_SUCCESS && result;
}

dd_testenv_status_t dd_testenv_mqtt_wait_message(dd_testenv_mqtt_t *c, const char *filter,
                                                 int timeout_ms, dd_testenv_msg_t **out)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;

    if (c == NULL || out == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    *out = NULL;
    pthread_mutex_lock(&c->lock);
    do {
        dd_testenv_msg_t *prev = NULL;
        dd_testenv_msg_t *m;

        for (m = c->head; m != NULL; prev = m, m = m->next) {
            if (matches(filter, m->topic)) {
                if (prev != NULL) {
                    prev->next = m->next;
                } else {
                    c->head = m->next;
                }
                if (c->tail == m) {
                    c->tail = prev;
                }
                m->next = NULL;
                *out = m;
                pthread_mutex_unlock(&c->lock);
                return DD_TESTENV_OK;
            }
        }
    } while (cond_wait_until(c, deadline));
    pthread_mutex_unlock(&c->lock);
    return DD_TESTENV_TIMEOUT;
}

size_t dd_testenv_mqtt_queued(dd_testenv_mqtt_t *c, const char *filter)
{
    const dd_testenv_msg_t *m;
    size_t n = 0;

    if (c == NULL) {
        return 0;
    }
    pthread_mutex_lock(&c->lock);
    for (m = c->head; m != NULL; m = m->next) {
        if (matches(filter, m->topic)) {
            n++;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

dd_testenv_status_t dd_testenv_mqtt_will(dd_testenv_mqtt_t *c, const char *topic,
                                         const char *payload, int qos)
{
    if (c == NULL || topic == NULL || payload == NULL || c->ever_connected) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    return mosquitto_will_set(c->mosq, topic, (int)strlen(payload), payload, qos, false) ==
                   MOSQ_ERR_SUCCESS
               ? DD_TESTENV_OK
               : DD_TESTENV_FAILED;
}

dd_testenv_status_t dd_testenv_mqtt_drop(dd_testenv_mqtt_t *c, int timeout_ms)
{
    int fd;

    if (c == NULL) {
        return DD_TESTENV_BAD_PARAMETER;
    }
    pthread_mutex_lock(&c->lock);
    fd = c->connected ? mosquitto_socket(c->mosq) : -1;
    /* shutdown() (not close()): the network thread still owns the descriptor. */
    if (fd >= 0) {
        (void)shutdown(fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&c->lock);
    if (fd < 0) {
        return DD_TESTENV_DISCONNECTED;
    }
    return dd_testenv_mqtt_wait_disconnect(c, timeout_ms) ? DD_TESTENV_OK : DD_TESTENV_TIMEOUT;
}

bool dd_testenv_mqtt_wait_disconnect(dd_testenv_mqtt_t *c, int timeout_ms)
{
    int64_t deadline = dd_clock_mono_ms() + timeout_ms;
    bool closed;

    if (c == NULL) {
        return true;
    }
    pthread_mutex_lock(&c->lock);
    while (!c->closed && c->thread_started && cond_wait_until(c, deadline)) {
    }
    closed = c->closed || !c->thread_started;
    pthread_mutex_unlock(&c->lock);
    return closed;
}

bool dd_testenv_mqtt_connected(dd_testenv_mqtt_t *c)
{
    bool connected;

    if (c == NULL) {
        return false;
    }
    pthread_mutex_lock(&c->lock);
    connected = c->connected;
    pthread_mutex_unlock(&c->lock);
    return connected;
}

void dd_testenv_msg_free(dd_testenv_msg_t *head)
{
    while (head != NULL) {
        dd_testenv_msg_t *next = head->next;

        free(head);
        head = next;
    }
}

void dd_testenv_mqtt_destroy(dd_testenv_mqtt_t *c)
{
    if (c == NULL) {
        return;
    }
    if (c->mosq != NULL && dd_testenv_mqtt_connected(c)) {
        /* The network thread sends the DISCONNECT; it ends when the broker closes. */
        (void)mosquitto_disconnect(c->mosq);
        (void)dd_testenv_mqtt_wait_disconnect(c, 3000);
    }
    join_network(c);
    if (c->mosq != NULL) {
        mosquitto_destroy(c->mosq);
    }
    dd_testenv_msg_free(c->head);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
