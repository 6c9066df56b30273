#include "dd_lambda.h"

#include "dd_db.h"
#include "dd_log.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ARN_PREFIX "arn:aws:lambda:"

static const dd_db_migration_t MIGRATIONS[] = {
    {1, "CREATE TABLE lambda_functions("
        "  name TEXT PRIMARY KEY,"
        "  topic TEXT NOT NULL,"
        "  handler_file TEXT NOT NULL,"
        "  handler_function TEXT NOT NULL,"
        "  env TEXT NOT NULL DEFAULT '{}',"
        "  timeout_s INTEGER NOT NULL,"
        "  created_ms INTEGER NOT NULL);"},
};

/* Set by the Lambda runtime itself; a function cannot override them (AWS refuses them too). */
static const char *const RESERVED_KEYS[] = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
};

static dd_lambda_status_t fail(char *error, size_t error_len, dd_lambda_status_t st,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static dd_lambda_status_t fail(char *error, size_t error_len, dd_lambda_status_t st,
                               const char *fmt, ...)
{
    va_list ap;

    if (error != NULL && error_len > 0) {
        va_start(ap, fmt);
        (void)vsnprintf(error, error_len, fmt, ap);
        va_end(ap);
    }
    return st;
}

dd_lambda_status_t dd_lambda_open(sqlite3 *db)
{
    if (db == NULL) {
        return DD_LAMBDA_BAD_PARAMETER;
    }
    return dd_db_migrate(db, "lambda", MIGRATIONS, sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])) ==
                   DD_DB_OK
               ? DD_LAMBDA_OK
               : DD_LAMBDA_STORE_ERROR;
}

bool dd_lambda_name_valid(const char *name)
{
    size_t n;

    if (name == NULL) {
        return false;
    }
    n = strlen(name);
    return n >= 1 && n <= DD_LAMBDA_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static bool identifier(const char *s, const char *first, const char *rest)
{
    return s != NULL && s[0] != '\0' && strchr(first, s[0]) != NULL &&
           strspn(s + 1, rest) == strlen(s + 1);
}

#define LETTERS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define WORD LETTERS "0123456789_"

bool dd_lambda_env_key_valid(const char *key, char *why, size_t why_len)
{
    size_t i;

    if (!identifier(key, LETTERS, WORD) || strlen(key) > 128) {
        (void)fail(
            why, why_len, DD_LAMBDA_INVALID,
            "environment variable name '%.128s' must be a letter followed by letters, digits or _",
            key != NULL ? key : "");
        return false;
    }
    for (i = 0; i < sizeof(RESERVED_KEYS) / sizeof(RESERVED_KEYS[0]); i++) {
        if (strcmp(key, RESERVED_KEYS[i]) == 0) {
            (void)fail(why, why_len, DD_LAMBDA_INVALID,
                       "environment variable %s is reserved: the Lambda runtime sets it", key);
            return false;
        }
    }
    return true;
}

dd_lambda_status_t dd_lambda_arn(const dd_arn_ctx_t *ctx, const char *name, char *buf, size_t len)
{
    int n;

    if (ctx == NULL || name == NULL || buf == NULL || len == 0) {
        return DD_LAMBDA_BAD_PARAMETER;
    }
    n = snprintf(buf, len, ARN_PREFIX "%s:%s:function:%s", ctx->region, ctx->account, name);
    return n < 0 || (size_t)n >= len ? DD_LAMBDA_BUFFER_TOO_SMALL : DD_LAMBDA_OK;
}

dd_lambda_status_t dd_lambda_name_from_arn(const char *arn, char *buf, size_t len)
{
    const char *p;
    const char *name;
    int colons = 0;

    if (arn == NULL || buf == NULL || len == 0) {
        return DD_LAMBDA_BAD_PARAMETER;
    }
    if (strncmp(arn, ARN_PREFIX, strlen(ARN_PREFIX)) != 0) {
        return DD_LAMBDA_INVALID;
    }
    /* arn:aws:lambda:REGION:ACCOUNT:function:NAME - NAME after the 6th colon. */
    for (p = arn; *p != '\0' && colons < 6; p++) {
        colons += *p == ':';
    }
    name = p;
    if (colons != 6 ||
        strncmp(name - strlen(":function:"), ":function:", strlen(":function:")) != 0 ||
        !dd_lambda_name_valid(name)) {
        return DD_LAMBDA_INVALID;
    }
    if (strlen(name) >= len) {
        return DD_LAMBDA_BUFFER_TOO_SMALL;
    }
    memcpy(buf, name, strlen(name) + 1);
    return DD_LAMBDA_OK;
}

static dd_lambda_status_t check_env(const char *env_json, char *error, size_t error_len)
{
    cJSON *env;
    const cJSON *item;
    dd_lambda_status_t st = DD_LAMBDA_OK;

    if (strlen(env_json) > DD_LAMBDA_ENV_MAX) {
        return fail(error, error_len, DD_LAMBDA_INVALID, "the environment is larger than %d bytes",
                    DD_LAMBDA_ENV_MAX);
    }
    env = cJSON_Parse(env_json);
    if (!cJSON_IsObject(env)) {
        cJSON_Delete(env);
        return fail(error, error_len, DD_LAMBDA_INVALID, "the environment must be a JSON object");
    }
    cJSON_ArrayForEach (item, env) {
        if (!dd_lambda_env_key_valid(item->string, error, error_len)) {
            st = DD_LAMBDA_INVALID;
            break;
        }
        if (!cJSON_IsString(item)) {
            st = fail(error, error_len, DD_LAMBDA_INVALID,
                      "environment variable %s must be a string", item->string);
            break;
        }
    }
    cJSON_Delete(env);
    return st;
}

static dd_lambda_status_t check_function(const dd_lambda_function_t *fn, char *error,
                                         size_t error_len)
{
    size_t n;

    if (!dd_lambda_name_valid(fn->name)) {
        return fail(error, error_len, DD_LAMBDA_INVALID,
                    "invalid function name '%.128s': must be 1-%d letters, digits, - or _",
                    fn->name, DD_LAMBDA_NAME_MAX);
    }
    if (!dd_name_valid(DD_NAME_SNS_TOPIC, fn->topic)) {
        return fail(error, error_len, DD_LAMBDA_INVALID,
                    "invalid SNS topic name '%.128s': must be %s", fn->topic,
                    dd_name_pattern(DD_NAME_SNS_TOPIC));
    }
    n = strlen(fn->handler_file);
    if (fn->handler_file[0] != '/' || n < 4 || strcmp(fn->handler_file + n - 3, ".py") != 0 ||
        n > 1024) {
        return fail(error, error_len, DD_LAMBDA_INVALID,
                    "handler file '%.200s' must be an absolute path to a .py file",
                    fn->handler_file);
    }
    if (!identifier(fn->handler_function, LETTERS "_", WORD) ||
        strlen(fn->handler_function) > 128) {
        return fail(error, error_len, DD_LAMBDA_INVALID,
                    "handler function '%.128s' is not a Python identifier", fn->handler_function);
    }
    if (fn->timeout_s < 1 || fn->timeout_s > DD_LAMBDA_TIMEOUT_MAX) {
        return fail(error, error_len, DD_LAMBDA_INVALID, "timeout %d s is not within 1-%d s",
                    fn->timeout_s, DD_LAMBDA_TIMEOUT_MAX);
    }
    return check_env(fn->env_json, error, error_len);
}

static int64_t now_ms(const dd_registry_t *reg)
{
    return reg->clock != NULL ? dd_clock_now_ms(reg->clock) : dd_clock_wall_ms();
}

dd_lambda_status_t dd_lambda_add(dd_registry_t *reg, const dd_lambda_function_t *fn, char *error,
                                 size_t error_len)
{
    dd_registry_error_t rerr;
    sqlite3_stmt *st = NULL;
    char arn[DD_ARN_MAX];
    dd_lambda_status_t status;
    int rc;

    if (error != NULL && error_len > 0) {
        error[0] = '\0';
    }
    if (reg == NULL || reg->db == NULL || fn == NULL || fn->name == NULL || fn->topic == NULL ||
        fn->handler_file == NULL || fn->handler_function == NULL || fn->env_json == NULL) {
        return DD_LAMBDA_BAD_PARAMETER;
    }
    status = check_function(fn, error, error_len);
    if (status != DD_LAMBDA_OK) {
        return status;
    }
    if (dd_lambda_arn(&reg->arn, fn->name, arn, sizeof(arn)) != DD_LAMBDA_OK) {
        return fail(error, error_len, DD_LAMBDA_INVALID, "function ARN too long");
    }
    if (dd_db_exec(reg->db, "BEGIN IMMEDIATE") != DD_DB_OK) {
        return fail(error, error_len, DD_LAMBDA_STORE_ERROR, "database busy: %s",
                    sqlite3_errmsg(reg->db));
    }
    status = DD_LAMBDA_STORE_ERROR;
    if (dd_db_prepare(
            reg->db,
            "INSERT INTO lambda_functions(name, topic, handler_file, handler_function, env,"
            " timeout_s, created_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            " ON CONFLICT(name) DO NOTHING",
            &st) == DD_DB_OK) {
        (void)sqlite3_bind_text(st, 1, fn->name, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, fn->topic, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 3, fn->handler_file, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 4, fn->handler_function, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 5, fn->env_json, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int(st, 6, fn->timeout_s);
        (void)sqlite3_bind_int64(st, 7, now_ms(reg));
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            (void)fail(error, error_len, DD_LAMBDA_STORE_ERROR, "%s", sqlite3_errmsg(reg->db));
        } else if (sqlite3_changes(reg->db) == 0) {
            status = fail(error, error_len, DD_LAMBDA_EXISTS,
                          "function %s already exists (ddlocal lambda remove %s first)", fn->name,
                          fn->name);
        } else if (dd_registry_subscription_add(reg, fn->topic, "lambda", arn, NULL, &rerr) !=
                   DD_REGISTRY_OK) {
            (void)fail(error, error_len, DD_LAMBDA_STORE_ERROR, "%s", rerr.message);
        } else {
            status = DD_LAMBDA_OK;
        }
    }
    sqlite3_finalize(st);
    (void)dd_db_exec(reg->db, status == DD_LAMBDA_OK ? "COMMIT" : "ROLLBACK");
    return status;
}

dd_lambda_status_t dd_lambda_remove(dd_registry_t *reg, const char *name)
{
    sqlite3_stmt *st = NULL;
    char arn[DD_ARN_MAX];
    dd_lambda_status_t status = DD_LAMBDA_STORE_ERROR;

    if (reg == NULL || reg->db == NULL || name == NULL) {
        return DD_LAMBDA_BAD_PARAMETER;
    }
    if (!dd_lambda_name_valid(name)) {
        return DD_LAMBDA_NOT_FOUND;
    }
    if (dd_lambda_arn(&reg->arn, name, arn, sizeof(arn)) != DD_LAMBDA_OK ||
        dd_db_exec(reg->db, "BEGIN IMMEDIATE") != DD_DB_OK) {
        return DD_LAMBDA_STORE_ERROR;
    }
    if (dd_db_prepare(reg->db, "DELETE FROM lambda_functions WHERE name = ?1", &st) == DD_DB_OK) {
        (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE) {
            status = sqlite3_changes(reg->db) > 0 ? DD_LAMBDA_OK : DD_LAMBDA_NOT_FOUND;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    /* Subscriptions are matched by ARN: also one whose region or account changed meanwhile. */
    if (status == DD_LAMBDA_OK &&
        dd_db_prepare(reg->db,
                      "DELETE FROM sns_subscriptions WHERE protocol = 'lambda'"
                      " AND endpoint LIKE 'arn:aws:lambda:%'"
                      " AND substr(endpoint, -length(?1) - 10) = ':function:' || ?1",
                      &st) == DD_DB_OK) {
        (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            status = DD_LAMBDA_STORE_ERROR;
        }
    } else if (status == DD_LAMBDA_OK) {
        status = DD_LAMBDA_STORE_ERROR;
    }
    sqlite3_finalize(st);
    (void)dd_db_exec(reg->db, status == DD_LAMBDA_OK ? "COMMIT" : "ROLLBACK");
    return status;
}

dd_lambda_status_t dd_lambda_list(sqlite3 *db, const char *name, dd_lambda_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int rows = 0;

    if (db == NULL) {
        return DD_LAMBDA_BAD_PARAMETER;
    }
    if (dd_db_prepare(
            db,
            "SELECT name, topic, handler_file, handler_function, env, timeout_s, created_ms"
            " FROM lambda_functions WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
            &st) != DD_DB_OK) {
        return DD_LAMBDA_STORE_ERROR;
    }
    (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_lambda_function_t f = {
            (const char *)sqlite3_column_text(st, 0),
            (const char *)sqlite3_column_text(st, 1),
            (const char *)sqlite3_column_text(st, 2),
            (const char *)sqlite3_column_text(st, 3),
            (const char *)sqlite3_column_text(st, 4),
            sqlite3_column_int(st, 5),
            sqlite3_column_int64(st, 6),
        };
        rows++;
        if (fn != NULL && fn(ctx, &f) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        DD_LOG_ERROR("lambda: sqlite: %s", sqlite3_errmsg(db));
        return DD_LAMBDA_STORE_ERROR;
    }
    return name != NULL && rows == 0 ? DD_LAMBDA_NOT_FOUND : DD_LAMBDA_OK;
}

const char *dd_lambda_strerror(dd_lambda_status_t status)
{
    switch (status) {
    case DD_LAMBDA_OK: return "ok";
    case DD_LAMBDA_BAD_PARAMETER: return "bad parameter";
    case DD_LAMBDA_INVALID: return "invalid function definition";
    case DD_LAMBDA_EXISTS: return "function already exists";
    case DD_LAMBDA_NOT_FOUND: return "no such function";
    case DD_LAMBDA_STORE_ERROR: return "database error";
    case DD_LAMBDA_BUFFER_TOO_SMALL: return "buffer too small";
    }
    return "unknown lambda status";
}
