#include "dd_clienv.h"

#include "dd_apiclient.h"
#include "dd_cli.h"
#include "dd_db.h"
#include "dd_fs.h"
#include "dd_log.h"
#include "dd_seed.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *dd_clienv_default_data_dir(void)
{
    const char *env = getenv("DDLOCAL_DATA_DIR");

    return (env != NULL && env[0] != '\0') ? env : "ddlocal-data";
}

dd_clienv_status_t dd_clienv_absolute(const char *path, char *out, size_t len)
{
    char cwd[PATH_MAX];
    int n;

    if (path == NULL || path[0] == '\0' || out == NULL || len == 0) {
        return DD_CLIENV_BAD_PARAMETER;
    }
    if (path[0] == '/') {
        n = snprintf(out, len, "%s", path);
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            return DD_CLIENV_NOT_WRITABLE;
        }
        n = snprintf(out, len, "%s/%s", cwd, path);
    }
    /* Trailing slashes would double up in derived paths. */
    while (n > 1 && out[n - 1] == '/') {
        out[--n] = '\0';
    }
    return (n < 0 || (size_t)n >= len) ? DD_CLIENV_BAD_PARAMETER : DD_CLIENV_OK;
}

dd_clienv_status_t dd_clienv_open(dd_clienv_t *env, const char *data_dir)
{
    char path[600];
    dd_pki_status_t pst;
    dd_registry_error_t err;
    dd_registry_status_t rst;

    if (env == NULL || data_dir == NULL || data_dir[0] == '\0') {
        return DD_CLIENV_BAD_PARAMETER;
    }
    memset(env, 0, sizeof(*env));
    if (dd_clienv_absolute(data_dir, env->data_dir, sizeof(env->data_dir)) != DD_CLIENV_OK) {
        DD_LOG_ERROR("data dir path too long: %s", data_dir);
        return DD_CLIENV_BAD_PARAMETER;
    }
    if (dd_fs_mkdirs(env->data_dir, 0700) != DD_FS_OK || access(env->data_dir, W_OK) != 0) {
        DD_LOG_ERROR("data dir %s cannot be created or is not writable: %s", env->data_dir,
                     strerror(errno));
        return DD_CLIENV_NOT_WRITABLE;
    }
    (void)dd_clock_init_real(&env->clock);
    pst = dd_pki_ca_ensure(env->data_dir, &env->ca);
    if (pst == DD_PKI_OK) {
        pst = dd_pki_ensure_server(env->ca);
    }
    if (pst == DD_PKI_OK) {
        pst = dd_pki_ensure_service(env->ca, env->service_cert_id);
    }
    if (pst != DD_PKI_OK) {
        DD_LOG_ERROR("PKI of %s: %s", env->data_dir, dd_pki_strerror(pst));
        dd_clienv_close(env);
        return DD_CLIENV_PKI_ERROR;
    }
    (void)snprintf(path, sizeof(path), "%s/%s", env->data_dir, DD_DB_FILE_NAME);
    if (dd_db_open(path, false, &env->db) != DD_DB_OK ||
        dd_registry_open(&env->reg, env->db, NULL, &env->clock) != DD_REGISTRY_OK) {
        DD_LOG_ERROR("database %s could not be opened", path);
        dd_clienv_close(env);
        return DD_CLIENV_DB_ERROR;
    }
    if (dd_registry_change_head(&env->reg, &env->change_head) != DD_REGISTRY_OK) {
        env->change_head = -1;
    }
    {
        /* Region and account chosen by `ddlocal up --region/--account`, if any. */
        char *region = NULL;
        char *account = NULL;
        (void)dd_registry_setting_get(&env->reg, "region", &region);
        (void)dd_registry_setting_get(&env->reg, "account", &account);
        if (region != NULL && account != NULL) {
            (void)dd_arn_ctx_set(&env->reg.arn, region, account);
        }
        free(region);
        free(account);
    }
    /* The service identity: exempt from device policies, the only one allowed on internal topics. */
    (void)dd_pki_path(env->data_dir, DD_PKI_FILE_SERVICE_CERT, path, sizeof(path));
    {
        char *pem = NULL;
        size_t len = 0;
        if (dd_fs_read_file(path, 65536, &pem, &len) != DD_FS_OK) {
            DD_LOG_ERROR("cannot read %s", path);
            dd_clienv_close(env);
            return DD_CLIENV_PKI_ERROR;
        }
        rst = dd_registry_cert_add(&env->reg, pem, DD_CERT_ACTIVE, true, NULL, 0, &err);
        free(pem);
        if (rst != DD_REGISTRY_OK && rst != DD_REGISTRY_ALREADY_EXISTS) {
            DD_LOG_ERROR("cannot register the service certificate: %s", err.message);
            dd_clienv_close(env);
            return DD_CLIENV_DB_ERROR;
        }
    }
    return DD_CLIENV_OK;
}

/* Registry setting: how many CLI commands followed the seed on this data dir. */
#define SETTING_CLI_RUNS "seed_cli_runs"

/* Bumps the CLI's counter in one write transaction: two commands at once get two scopes. */
static dd_clienv_status_t next_cli_run(dd_clienv_t *env, unsigned long long *run)
{
    char *text = NULL;
    char next[24];
    bool ok;

    if (sqlite3_exec(env->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return DD_CLIENV_DB_ERROR;
    }
    ok = dd_registry_setting_get(&env->reg, SETTING_CLI_RUNS, &text) == DD_REGISTRY_OK;
    *run = text != NULL ? strtoull(text, NULL, 10) : 0;
    free(text);
    (void)snprintf(next, sizeof(next), "%llu", *run + 1);
    ok = ok && dd_registry_setting_set(&env->reg, SETTING_CLI_RUNS, next) == DD_REGISTRY_OK &&
         sqlite3_exec(env->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) {
        (void)sqlite3_exec(env->db, "ROLLBACK", NULL, NULL, NULL);
        return DD_CLIENV_DB_ERROR;
    }
    return DD_CLIENV_OK;
}

dd_clienv_status_t dd_clienv_follow_seed(dd_clienv_t *env)
{
    dd_apiclient_endpoints_t ep;
    unsigned long long run = 0;
    char *text = NULL;
    char scope[32];
    uint64_t seed;
    cJSON *clock = NULL;
    const cJSON *ms;
    dd_clienv_status_t st;

    if (env == NULL || env->db == NULL) {
        return DD_CLIENV_BAD_PARAMETER;
    }
    if (dd_registry_setting_get(&env->reg, DD_SEED_SETTING, &text) != DD_REGISTRY_OK) {
        return DD_CLIENV_DB_ERROR;
    }
    if (text == NULL || text[0] == '\0') {
        free(text);
        return DD_CLIENV_OK;
    }
    seed = strtoull(text, NULL, 10);
    free(text);
    st = next_cli_run(env, &run);
    if (st != DD_CLIENV_OK) {
        return st;
    }
    (void)snprintf(scope, sizeof(scope), "cli.%llu", run);
    if (dd_seed_set(seed, scope) != DD_SEED_OK) {
        return DD_CLIENV_DB_ERROR;
    }
    /* Dates as ddlocald's own objects get them; a pipeline that is not up leaves the wall clock. */
    if (dd_apiclient_endpoints(env->data_dir, &ep) == DD_APICLIENT_OK &&
        dd_apiclient_json(ep.api, "GET", "/ddlocal/v1/clock", NULL, &clock) == DD_APICLIENT_OK &&
        cJSON_IsNumber(ms = cJSON_GetObjectItemCaseSensitive(clock, "pipelineTimeMs"))) {
        (void)dd_clock_init_manual(&env->clock, (int64_t)ms->valuedouble);
    }
    cJSON_Delete(clock);
    return DD_CLIENV_OK;
}

/*
 * The command changed the registry while a pipeline runs: ddlocald sends the broker shim
 * the changes before it answers, so a device connecting right after the command (a CI
 * script's next line) is judged by them, not by the registry of 50 ms before.
 */
static void sync_running_pipeline(dd_clienv_t *env)
{
    dd_apiclient_endpoints_t ep;
    dd_apiclient_status_t st;
    int64_t head = 0;
    cJSON *answer = NULL;

    if (env->db == NULL || env->change_head < 0 ||
        dd_registry_change_head(&env->reg, &head) != DD_REGISTRY_OK || head == env->change_head ||
        dd_apiclient_endpoints(env->data_dir, &ep) != DD_APICLIENT_OK) {
        return;
    }
    st = dd_apiclient_json(ep.api, "POST", "/ddlocal/v1/sync", NULL, &answer);
    if (st != DD_APICLIENT_OK) {
        fprintf(stderr,
                "ddlocal: warning: the running pipeline did not confirm it has the change "
                "(%s); the broker sees it within its next sync\n",
                dd_apiclient_strerror(st));
    }
    cJSON_Delete(answer);
}

void dd_clienv_close(dd_clienv_t *env)
{
    if (env == NULL) {
        return;
    }
    sync_running_pipeline(env);
    dd_pki_ca_free(env->ca);
    env->ca = NULL;
    dd_db_close(env->db);
    env->db = NULL;
}

const char *dd_clienv_strerror(dd_clienv_status_t status)
{
    switch (status) {
    case DD_CLIENV_OK: return "ok";
    case DD_CLIENV_BAD_PARAMETER: return "bad parameter";
    case DD_CLIENV_NOT_WRITABLE: return "data dir is not writable";
    case DD_CLIENV_PKI_ERROR: return "PKI error";
    case DD_CLIENV_DB_ERROR: return "database error";
    }
    return "unknown clienv status";
}

int dd_clienv_registry_error(dd_registry_status_t status, const dd_registry_error_t *err)
{
    fprintf(stderr, "ddlocal: %s\n",
            (err != NULL && err->message[0] != '\0') ? err->message : dd_registry_strerror(status));
    return 1;
}

int dd_clienv_print_json(cJSON *json)
{
    char *text;

    if (json == NULL) {
        fprintf(stderr, "ddlocal: out of memory\n");
        return 1;
    }
    text = cJSON_Print(json);
    cJSON_Delete(json);
    if (text == NULL) {
        fprintf(stderr, "ddlocal: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

char *dd_clienv_read_input(const char *path, size_t max_len)
{
    char *data = NULL;
    size_t len = 0;

    if (strcmp(path, "-") == 0) {
        size_t cap = 4096;
        size_t n;
        data = malloc(cap);
        while (data != NULL && (n = fread(data + len, 1, cap - len - 1, stdin)) > 0) {
            len += n;
            if (len > max_len) {
                fprintf(stderr, "ddlocal: input is larger than %zu bytes\n", max_len);
                free(data);
                return NULL;
            }
            if (cap - len - 1 == 0) {
                char *bigger = realloc(data, cap * 2);
                if (bigger == NULL) {
                    free(data);
                    data = NULL;
                    break;
                }
                data = bigger;
                cap *= 2;
            }
        }
        if (data == NULL) {
            fprintf(stderr, "ddlocal: out of memory reading stdin\n");
            return NULL;
        }
        data[len] = '\0';
        return data;
    }
    if (dd_fs_read_file(path, max_len, &data, &len) != DD_FS_OK) {
        fprintf(stderr, "ddlocal: cannot read %s: %s\n", path,
                errno != 0 ? strerror(errno) : "too large or unreadable");
        return NULL;
    }
    return data;
}

int dd_clienv_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ddlocal %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun `ddlocal %s --help` for usage.\n", cmd);
    return DD_CLI_USAGE;
}
