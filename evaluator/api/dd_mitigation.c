#include "dd_mitigation.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "dd_db.h"
#include "dd_log.h"

struct dd_mitigation {
    sqlite3 *db;
    dd_arn_ctx_t arn;
};

static const dd_db_migration_t MIGRATIONS[] = {
    {1, "CREATE TABLE mitigation_actions("
        "  name TEXT PRIMARY KEY,"
        "  action_id TEXT NOT NULL,"
        "  action_type TEXT NOT NULL,"
        "  role_arn TEXT NOT NULL,"
        "  params TEXT NOT NULL,"
        "  created_ms INTEGER NOT NULL,"
        "  modified_ms INTEGER NOT NULL);"
        "CREATE TABLE mitigation_tasks("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  task_id TEXT NOT NULL UNIQUE,"
        "  client_token TEXT NOT NULL,"
        "  status TEXT NOT NULL,"
        "  start_ms INTEGER NOT NULL,"
        "  end_ms INTEGER NOT NULL DEFAULT 0,"
        "  target TEXT NOT NULL,"
        "  has_range INTEGER NOT NULL,"
        "  range_start_ms INTEGER NOT NULL,"
        "  range_end_ms INTEGER NOT NULL,"
        "  only_active INTEGER NOT NULL,"
        "  include_suppressed INTEGER NOT NULL,"
        "  actions TEXT NOT NULL,"
        "  executed INTEGER NOT NULL DEFAULT 0,"
        "  skipped INTEGER NOT NULL DEFAULT 0,"
        "  failed INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX mitigation_tasks_start ON mitigation_tasks(start_ms);"
        "CREATE TABLE mitigation_executions("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  task_id TEXT NOT NULL,"
        "  violation_id TEXT NOT NULL,"
        "  action_name TEXT NOT NULL,"
        "  thing TEXT NOT NULL,"
        "  start_ms INTEGER NOT NULL,"
        "  end_ms INTEGER NOT NULL DEFAULT 0,"
        "  status TEXT NOT NULL,"
        "  error_code TEXT,"
        "  message TEXT);"
        "CREATE INDEX mitigation_executions_task ON mitigation_executions(task_id);"
        "CREATE INDEX mitigation_executions_violation ON mitigation_executions(violation_id);"
        "CREATE INDEX mitigation_executions_thing ON mitigation_executions(thing);"},
};

/* ---- helpers ------------------------------------------------------------------ */

static sqlite3_stmt *prep(dd_mitigation_t *m, const char *sql)
{
    sqlite3_stmt *st = NULL;

    (void)dd_db_prepare(m->db, sql, &st);
    return st;
}

static void bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    if (text != NULL) {
        (void)sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
    } else {
        (void)sqlite3_bind_null(st, idx);
    }
}

static const char *col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    return t != NULL ? (const char *)t : "";
}

static const char *col_text_or_null(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NULL
                                                       : (const char *)sqlite3_column_text(st, col);
}

static dd_mitigation_status_t sql_fail(dd_mitigation_t *m)
{
    DD_LOG_ERROR("mitigation: sqlite: %s", sqlite3_errmsg(m->db));
    return DD_MITIGATION_SQL_ERROR;
}

static void set_msg(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_msg(char *msg, const char *fmt, ...)
{
    va_list ap;

    if (msg != NULL) {
        va_start(ap, fmt);
        (void)vsnprintf(msg, DD_MITIGATION_MESSAGE_MAX, fmt, ap);
        va_end(ap);
    }
}

static void new_uuid(char out[DD_MITIGATION_ID_LEN])
{
    unsigned char r[16];

    if (RAND_bytes(r, sizeof(r)) != 1) {
        memset(r, 0x5a, sizeof(r));
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    (void)snprintf(out, DD_MITIGATION_ID_LEN,
                   "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
                   r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
                   r[14], r[15]);
}

/* ---- lifecycle ------------------------------------------------------------------ */

dd_mitigation_status_t dd_mitigation_open(sqlite3 *db, const dd_arn_ctx_t *arn,
                                          dd_mitigation_t **out)
{
    dd_mitigation_t *m;

    if (db == NULL || out == NULL) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    *out = NULL;
    if (dd_db_migrate(db, DD_MITIGATION_COMPONENT, MIGRATIONS,
                      sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])) != DD_DB_OK) {
        return DD_MITIGATION_SQL_ERROR;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return DD_MITIGATION_NO_MEMORY;
    }
    m->db = db;
    if (arn != NULL) {
        m->arn = *arn;
    } else {
        dd_arn_ctx_default(&m->arn);
    }
    *out = m;
    return DD_MITIGATION_OK;
}

void dd_mitigation_close(dd_mitigation_t *m)
{
    free(m);
}

/* ---- params --------------------------------------------------------------------- */

static bool string_member(const cJSON *obj, const char *name, const char *path, size_t min,
                          size_t max, const char **out, char *msg)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    size_t len;

    if (!cJSON_IsString(v)) {
        set_msg(msg, "%s.%s is required and must be a string", path, name);
        return false;
    }
    len = strlen(v->valuestring);
    if (len < min || len > max) {
        set_msg(msg, "%s.%s must be %zu to %zu characters long", path, name, min, max);
        return false;
    }
    *out = v->valuestring;
    return true;
}

static bool enum_member(const cJSON *obj, const char *name, const char *path,
                        const char *const *values, char *msg)
{
    const char *v;
    size_t i;

    if (!string_member(obj, name, path, 1, 128, &v, msg)) {
        return false;
    }
    for (i = 0; values[i] != NULL; i++) {
        if (strcmp(values[i], v) == 0) {
            return true;
        }
    }
    set_msg(msg, "%s.%s '%.64s' is not one of the allowed values", path, name, v);
    return false;
}

static bool group_names_ok(const cJSON *p, char *msg)
{
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(p, "thingGroupNames");
    const cJSON *override = cJSON_GetObjectItemCaseSensitive(p, "overrideDynamicGroups");
    const cJSON *n;
    int count;

    if (!cJSON_IsArray(names)) {
        set_msg(msg, "addThingsToThingGroupParams.thingGroupNames is required and must be a list");
        return false;
    }
    count = cJSON_GetArraySize(names);
    if (count < 1 || count > 10) {
        set_msg(msg, "addThingsToThingGroupParams.thingGroupNames must have 1 to 10 names");
        return false;
    }
    cJSON_ArrayForEach (n, names) {
        if (!cJSON_IsString(n) || !dd_name_valid(DD_NAME_THING_GROUP, n->valuestring)) {
            set_msg(msg,
                    "addThingsToThingGroupParams.thingGroupNames: '%.128s' is not a valid "
                    "thing group name (%s)",
                    cJSON_IsString(n) ? n->valuestring : "?", dd_name_pattern(DD_NAME_THING_GROUP));
            return false;
        }
    }
    if (override != NULL && !cJSON_IsBool(override) && !cJSON_IsNull(override)) {
        set_msg(msg, "addThingsToThingGroupParams.overrideDynamicGroups must be a boolean");
        return false;
    }
    return true;
}

dd_mitigation_status_t dd_mitigation_params_validate(const cJSON *params, const char **type,
                                                     char *msg)
{
    static const char *const DEACTIVATE[] = {"DEACTIVATE", NULL};
    static const char *const BLANK[] = {"BLANK_POLICY", NULL};
    static const char *const LEVELS[] = {"DEBUG", "INFO", "ERROR", "WARN", "DISABLED", NULL};
    static const char *const MEMBERS[] = {
        "updateDeviceCertificateParams", "updateCACertificateParams",
        "addThingsToThingGroupParams",   "replaceDefaultPolicyVersionParams",
        "enableIoTLoggingParams",        "publishFindingToSnsParams",
    };
    static const char *const TYPES[] = {
        "UPDATE_DEVICE_CERTIFICATE",      "UPDATE_CA_CERTIFICATE", "ADD_THINGS_TO_THING_GROUP",
        "REPLACE_DEFAULT_POLICY_VERSION", "ENABLE_IOT_LOGGING",    "PUBLISH_FINDING_TO_SNS",
    };
    const cJSON *found = NULL;
    int which = -1;
    int i;
    const char *s;

    if (params == NULL || type == NULL) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    if (!cJSON_IsObject(params)) {
        set_msg(msg, "actionParams must be an object");
        return DD_MITIGATION_INVALID;
    }
    for (i = 0; i < 6; i++) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(params, MEMBERS[i]);
        if (p == NULL || cJSON_IsNull(p)) {
            continue;
        }
        if (found != NULL) {
            set_msg(msg, "actionParams must contain exactly one of its members, not %s and %s",
                    MEMBERS[which], MEMBERS[i]);
            return DD_MITIGATION_INVALID;
        }
        if (!cJSON_IsObject(p)) {
            set_msg(msg, "actionParams.%s must be an object", MEMBERS[i]);
            return DD_MITIGATION_INVALID;
        }
        found = p;
        which = i;
    }
    if (found == NULL) {
        set_msg(msg, "actionParams must contain one of updateDeviceCertificateParams, "
                     "updateCACertificateParams, addThingsToThingGroupParams, "
                     "replaceDefaultPolicyVersionParams, enableIoTLoggingParams, "
                     "publishFindingToSnsParams");
        return DD_MITIGATION_INVALID;
    }
    switch (which) {
    case 0:
    case 1:
        if (!enum_member(found, "action", MEMBERS[which], DEACTIVATE, msg)) {
            return DD_MITIGATION_INVALID;
        }
        break;
    case 2:
        if (!group_names_ok(found, msg)) {
            return DD_MITIGATION_INVALID;
        }
        break;
    case 3:
        if (!enum_member(found, "templateName", MEMBERS[which], BLANK, msg)) {
            return DD_MITIGATION_INVALID;
        }
        break;
    case 4:
        if (!string_member(found, "roleArnForLogging", MEMBERS[which], 20, 2048, &s, msg) ||
            !enum_member(found, "logLevel", MEMBERS[which], LEVELS, msg)) {
            return DD_MITIGATION_INVALID;
        }
        break;
    default:
        if (!string_member(found, "topicArn", MEMBERS[which], 1, 350, &s, msg)) {
            return DD_MITIGATION_INVALID;
        }
        break;
    }
    *type = TYPES[which];
    return DD_MITIGATION_OK;
}

/* ---- actions ------------------------------------------------------------------------ */

#define ACTION_COLUMNS "name, action_id, action_type, role_arn, params, created_ms, modified_ms"

static void action_from_row(sqlite3_stmt *st, dd_mitigation_action_t *a)
{
    a->name = col_text(st, 0);
    a->id = col_text(st, 1);
    a->type = col_text(st, 2);
    a->role_arn = col_text(st, 3);
    a->params_json = col_text(st, 4);
    a->created_ms = sqlite3_column_int64(st, 5);
    a->modified_ms = sqlite3_column_int64(st, 6);
}

dd_mitigation_status_t dd_mitigation_action_create(dd_mitigation_t *m, const char *name,
                                                   const char *type, const char *role_arn,
                                                   const char *params_json, int64_t now_ms,
                                                   char id[DD_MITIGATION_ID_LEN])
{
    sqlite3_stmt *st;
    int rc;

    if (m == NULL || name == NULL || type == NULL || role_arn == NULL || params_json == NULL ||
        id == NULL) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    st = prep(m, "SELECT action_id FROM mitigation_actions WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(m);
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        (void)snprintf(id, DD_MITIGATION_ID_LEN, "%s", col_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) {
        return DD_MITIGATION_EXISTS;
    }
    if (rc != SQLITE_DONE) {
        return sql_fail(m);
    }
    new_uuid(id);
    st = prep(m, "INSERT INTO mitigation_actions(" ACTION_COLUMNS ")"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6)");
    if (st == NULL) {
        return sql_fail(m);
    }
    bind_text(st, 1, name);
    bind_text(st, 2, id);
    bind_text(st, 3, type);
    bind_text(st, 4, role_arn);
    bind_text(st, 5, params_json);
    (void)sqlite3_bind_int64(st, 6, now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_MITIGATION_OK : sql_fail(m);
}

dd_mitigation_status_t dd_mitigation_action_get(dd_mitigation_t *m, const char *name,
                                                dd_mitigation_action_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (m == NULL || name == NULL) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    st = prep(m, "SELECT " ACTION_COLUMNS " FROM mitigation_actions WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(m);
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && fn != NULL) {
        dd_mitigation_action_t a;
        action_from_row(st, &a);
        (void)fn(ctx, &a);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return DD_MITIGATION_NOT_FOUND;
    }
    return rc == SQLITE_ROW ? DD_MITIGATION_OK : sql_fail(m);
}

dd_mitigation_status_t dd_mitigation_action_update(dd_mitigation_t *m, const char *name,
                                                   const char *type, const char *role_arn,
                                                   const char *params_json, int64_t now_ms,
                                                   dd_mitigation_action_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (m == NULL || name == NULL || (type == NULL) != (params_json == NULL)) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    st = prep(m, "UPDATE mitigation_actions SET action_type = COALESCE(?2, action_type),"
                 " role_arn = COALESCE(?3, role_arn), params = COALESCE(?4, params),"
                 " modified_ms = ?5 WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(m);
    }
    bind_text(st, 1, name);
    bind_text(st, 2, type);
    bind_text(st, 3, role_arn);
    bind_text(st, 4, params_json);
    (void)sqlite3_bind_int64(st, 5, now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return sql_fail(m);
    }
    if (sqlite3_changes(m->db) == 0) {
        return DD_MITIGATION_NOT_FOUND;
    }
    return dd_mitigation_action_get(m, name, fn, ctx);
}

dd_mitigation_status_t dd_mitigation_action_delete(dd_mitigation_t *m, const char *name)
{
    sqlite3_stmt *st;
    int rc;

    if (m == NULL || name == NULL) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    st = prep(m, "DELETE FROM mitigation_actions WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(m);
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_MITIGATION_OK : sql_fail(m);
}

dd_mitigation_status_t dd_mitigation_action_list(dd_mitigation_t *m, const char *type,
                                                 const char *after, int limit,
                                                 dd_mitigation_action_fn fn, void *ctx, char *next)
{
    sqlite3_stmt *st;
    int count = 0;
    int rc;
    char last[DD_MITIGATION_KEY_MAX] = "";
    char from[DD_MITIGATION_KEY_MAX];

    if (m == NULL || next == NULL || limit <= 0) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    /* Callers commonly pass the previous `next` as `after`: copy it before clearing. */
    (void)snprintf(from, sizeof(from), "%s", after != NULL ? after : "");
    st = prep(m, "SELECT " ACTION_COLUMNS " FROM mitigation_actions WHERE name > ?1"
                 " AND (?2 IS NULL OR action_type = ?2) ORDER BY name LIMIT ?3");
    next[0] = '\0';
    if (st == NULL) {
        return sql_fail(m);
    }
    bind_text(st, 1, from);
    bind_text(st, 2, type);
    (void)sqlite3_bind_int(st, 3, limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_mitigation_action_t a;
        if (count == limit) {
            (void)snprintf(next, DD_MITIGATION_KEY_MAX, "%s", last);
            break;
        }
        action_from_row(st, &a);
        (void)snprintf(last, sizeof(last), "%s", a.name);
        count++;
        if (fn != NULL && fn(ctx, &a) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_MITIGATION_OK : sql_fail(m);
}

/* ---- tasks ---------------------------------------------------------------------------- */

#define TASK_COLUMNS                                                                      \
    "task_id, client_token, status, start_ms, end_ms, target, has_range, range_start_ms," \
    " range_end_ms, only_active, include_suppressed, actions, executed, skipped, failed, seq"

static void task_from_row(sqlite3_stmt *st, dd_mitigation_task_t *t)
{
    t->task_id = col_text(st, 0);
    t->client_token = col_text(st, 1);
    t->status = col_text(st, 2);
    t->start_ms = sqlite3_column_int64(st, 3);
    t->end_ms = sqlite3_column_int64(st, 4);
    t->target_json = col_text(st, 5);
    t->has_range = sqlite3_column_int(st, 6) != 0;
    t->range_start_ms = sqlite3_column_int64(st, 7);
    t->range_end_ms = sqlite3_column_int64(st, 8);
    t->only_active = sqlite3_column_int(st, 9);
    t->include_suppressed = sqlite3_column_int(st, 10);
    t->actions_json = col_text(st, 11);
    t->executed = sqlite3_column_int64(st, 12);
    t->skipped = sqlite3_column_int64(st, 13);
    t->failed = sqlite3_column_int64(st, 14);
}

dd_mitigation_status_t dd_mitigation_task_create(dd_mitigation_t *m, const dd_mitigation_task_t *t)
{
    sqlite3_stmt *st;
    int rc;

    if (m == NULL || t == NULL || t->task_id == NULL || t->client_token == NULL ||
        t->status == NULL || t->target_json == NULL || t->actions_json == NULL) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    st = prep(m, "INSERT INTO mitigation_tasks(task_id, client_token, status, start_ms, end_ms,"
                 " target, has_range, range_start_ms, range_end_ms, only_active,"
                 " include_suppressed, actions, executed, skipped, failed)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                 " ON CONFLICT(task_id) DO NOTHING");
    if (st == NULL) {
        return sql_fail(m);
    }
    bind_text(st, 1, t->task_id);
    bind_text(st, 2, t->client_token);
    bind_text(st, 3, t->status);
    (void)sqlite3_bind_int64(st, 4, t->start_ms);
    (void)sqlite3_bind_int64(st, 5, t->end_ms);
    bind_text(st, 6, t->target_json);
    (void)sqlite3_bind_int(st, 7, t->has_range ? 1 : 0);
    (void)sqlite3_bind_int64(st, 8, t->range_start_ms);
    (void)sqlite3_bind_int64(st, 9, t->range_end_ms);
    (void)sqlite3_bind_int(st, 10, t->only_active);
    (void)sqlite3_bind_int(st, 11, t->include_suppressed);
    bind_text(st, 12, t->actions_json);
    (void)sqlite3_bind_int64(st, 13, t->executed);
    (void)sqlite3_bind_int64(st, 14, t->skipped);
    (void)sqlite3_bind_int64(st, 15, t->failed);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return sql_fail(m);
    }
    return sqlite3_changes(m->db) == 1 ? DD_MITIGATION_OK : DD_MITIGATION_EXISTS;
}

dd_mitigation_status_t dd_mitigation_task_get(dd_mitigation_t *m, const char *task_id,
                                              dd_mitigation_task_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (m == NULL || task_id == NULL) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    st = prep(m, "SELECT " TASK_COLUMNS " FROM mitigation_tasks WHERE task_id = ?1");
    if (st == NULL) {
        return sql_fail(m);
    }
    bind_text(st, 1, task_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && fn != NULL) {
        dd_mitigation_task_t t;
        task_from_row(st, &t);
        (void)fn(ctx, &t);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return DD_MITIGATION_NOT_FOUND;
    }
    return rc == SQLITE_ROW ? DD_MITIGATION_OK : sql_fail(m);
}

dd_mitigation_status_t dd_mitigation_task_finish(dd_mitigation_t *m, const char *task_id,
                                                 const char *status, int64_t end_ms,
                                                 int64_t executed, int64_t skipped, int64_t failed)
{
    sqlite3_stmt *st;
    int rc;

    if (m == NULL || task_id == NULL || status == NULL) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    st = prep(m, "UPDATE mitigation_tasks SET status = ?2, end_ms = ?3, executed = ?4,"
                 " skipped = ?5, failed = ?6 WHERE task_id = ?1");
    if (st == NULL) {
        return sql_fail(m);
    }
    bind_text(st, 1, task_id);
    bind_text(st, 2, status);
    (void)sqlite3_bind_int64(st, 3, end_ms);
    (void)sqlite3_bind_int64(st, 4, executed);
    (void)sqlite3_bind_int64(st, 5, skipped);
    (void)sqlite3_bind_int64(st, 6, failed);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return sql_fail(m);
    }
    return sqlite3_changes(m->db) == 1 ? DD_MITIGATION_OK : DD_MITIGATION_NOT_FOUND;
}

static int64_t key_seq(const char *after)
{
    return (after != NULL && after[0] != '\0') ? strtoll(after, NULL, 10) : 0;
}

dd_mitigation_status_t dd_mitigation_task_list(dd_mitigation_t *m, int64_t start_ms, int64_t end_ms,
                                               const char *after, int limit,
                                               dd_mitigation_task_fn fn, void *ctx, char *next)
{
    sqlite3_stmt *st;
    int count = 0;
    int rc;
    int64_t last = 0;
    int64_t from = key_seq(after);

    if (m == NULL || next == NULL || limit <= 0) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    next[0] = '\0';
    st = prep(m, "SELECT " TASK_COLUMNS " FROM mitigation_tasks WHERE seq > ?1"
                 " AND start_ms >= ?2 AND start_ms <= ?3 ORDER BY seq LIMIT ?4");
    if (st == NULL) {
        return sql_fail(m);
    }
    (void)sqlite3_bind_int64(st, 1, from);
    (void)sqlite3_bind_int64(st, 2, start_ms);
    (void)sqlite3_bind_int64(st, 3, end_ms);
    (void)sqlite3_bind_int(st, 4, limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_mitigation_task_t t;
        if (count == limit) {
            (void)snprintf(next, DD_MITIGATION_KEY_MAX, "%" PRId64, last);
            break;
        }
        task_from_row(st, &t);
        last = sqlite3_column_int64(st, 15);
        count++;
        if (fn != NULL && fn(ctx, &t) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_MITIGATION_OK : sql_fail(m);
}

/* ---- executions -------------------------------------------------------------------- */

dd_mitigation_status_t dd_mitigation_execution_add(dd_mitigation_t *m,
                                                   const dd_mitigation_execution_t *e)
{
    sqlite3_stmt *st;
    int rc;

    if (m == NULL || e == NULL || e->task_id == NULL || e->violation_id == NULL ||
        e->action_name == NULL || e->thing == NULL || e->status == NULL) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    st = prep(m, "INSERT INTO mitigation_executions(task_id, violation_id, action_name, thing,"
                 " start_ms, end_ms, status, error_code, message)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (st == NULL) {
        return sql_fail(m);
    }
    bind_text(st, 1, e->task_id);
    bind_text(st, 2, e->violation_id);
    bind_text(st, 3, e->action_name);
    bind_text(st, 4, e->thing);
    (void)sqlite3_bind_int64(st, 5, e->start_ms);
    (void)sqlite3_bind_int64(st, 6, e->end_ms);
    bind_text(st, 7, e->status);
    bind_text(st, 8, e->error_code);
    bind_text(st, 9, e->message);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_MITIGATION_OK : sql_fail(m);
}

dd_mitigation_status_t dd_mitigation_execution_list(dd_mitigation_t *m,
                                                    const dd_mitigation_exec_filter_t *f,
                                                    const char *after, int limit,
                                                    dd_mitigation_exec_fn fn, void *ctx, char *next)
{
    sqlite3_stmt *st;
    int count = 0;
    int rc;
    int64_t last = 0;
    int64_t from = key_seq(after);

    if (m == NULL || next == NULL || limit <= 0) {
        return DD_MITIGATION_BAD_PARAMETER;
    }
    next[0] = '\0';
    st = prep(m, "SELECT task_id, violation_id, action_name, thing, start_ms, end_ms, status,"
                 " error_code, message, seq FROM mitigation_executions WHERE seq > ?1"
                 " AND (?2 IS NULL OR task_id = ?2) AND (?3 IS NULL OR violation_id = ?3)"
                 " AND (?4 IS NULL OR thing = ?4) AND (?5 = 0 OR start_ms >= ?5)"
                 " AND (?6 = 0 OR start_ms <= ?6) ORDER BY seq LIMIT ?7");
    if (st == NULL) {
        return sql_fail(m);
    }
    (void)sqlite3_bind_int64(st, 1, from);
    bind_text(st, 2, f != NULL ? f->task_id : NULL);
    bind_text(st, 3, f != NULL ? f->violation_id : NULL);
    bind_text(st, 4, f != NULL ? f->thing : NULL);
    (void)sqlite3_bind_int64(st, 5, f != NULL ? f->start_ms : 0);
    (void)sqlite3_bind_int64(st, 6, f != NULL ? f->end_ms : 0);
    (void)sqlite3_bind_int(st, 7, limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_mitigation_execution_t e;
        if (count == limit) {
            (void)snprintf(next, DD_MITIGATION_KEY_MAX, "%" PRId64, last);
            break;
        }
        e.task_id = col_text(st, 0);
        e.violation_id = col_text(st, 1);
        e.action_name = col_text(st, 2);
        e.thing = col_text(st, 3);
        e.start_ms = sqlite3_column_int64(st, 4);
        e.end_ms = sqlite3_column_int64(st, 5);
        e.status = col_text(st, 6);
        e.error_code = col_text_or_null(st, 7);
        e.message = col_text_or_null(st, 8);
        last = sqlite3_column_int64(st, 9);
        count++;
        if (fn != NULL && fn(ctx, &e) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_MITIGATION_OK : sql_fail(m);
}

const char *dd_mitigation_strerror(dd_mitigation_status_t status)
{
    switch (status) {
    case DD_MITIGATION_OK: return "ok";
    case DD_MITIGATION_BAD_PARAMETER: return "bad parameter";
    case DD_MITIGATION_INVALID: return "invalid action parameters";
    case DD_MITIGATION_NOT_FOUND: return "not found";
    case DD_MITIGATION_EXISTS: return "already exists";
    case DD_MITIGATION_NO_MEMORY: return "out of memory";
    case DD_MITIGATION_SQL_ERROR: return "database error";
    }
    return "unknown status";
}
