#include "dd_registry.h"

#include "dd_db.h"
#include "dd_log.h"
#include "dd_pki.h"
#include "dd_policy.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const dd_db_migration_t MIGRATIONS[] = {
    {1, "CREATE TABLE settings("
        "  key TEXT PRIMARY KEY,"
        "  value TEXT NOT NULL);"
        "CREATE TABLE things("
        "  name TEXT PRIMARY KEY,"
        "  thing_id TEXT NOT NULL UNIQUE,"
        "  thing_type TEXT NOT NULL DEFAULT '',"
        "  attributes TEXT NOT NULL DEFAULT '{}',"
        "  version INTEGER NOT NULL DEFAULT 1,"
        "  created_ms INTEGER NOT NULL);"
        "CREATE TABLE certificates("
        "  id TEXT PRIMARY KEY,"
        "  pem TEXT NOT NULL,"
        "  status TEXT NOT NULL,"
        "  is_service INTEGER NOT NULL DEFAULT 0,"
        "  created_ms INTEGER NOT NULL,"
        "  modified_ms INTEGER NOT NULL);"
        "CREATE TABLE thing_principals("
        "  thing TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,"
        "  cert_id TEXT NOT NULL REFERENCES certificates(id) ON DELETE CASCADE,"
        "  PRIMARY KEY(thing, cert_id));"
        "CREATE INDEX thing_principals_cert ON thing_principals(cert_id);"
        "CREATE TABLE thing_groups("
        "  name TEXT PRIMARY KEY,"
        "  group_id TEXT NOT NULL UNIQUE,"
        "  parent TEXT REFERENCES thing_groups(name),"
        "  description TEXT NOT NULL DEFAULT '',"
        "  attributes TEXT NOT NULL DEFAULT '{}',"
        "  version INTEGER NOT NULL DEFAULT 1,"
        "  created_ms INTEGER NOT NULL);"
        "CREATE INDEX thing_groups_parent ON thing_groups(parent);"
        "CREATE TABLE thing_group_members("
        "  thing TEXT NOT NULL REFERENCES things(name) ON DELETE CASCADE,"
        "  group_name TEXT NOT NULL REFERENCES thing_groups(name) ON DELETE CASCADE,"
        "  PRIMARY KEY(thing, group_name));"
        "CREATE INDEX thing_group_members_group ON thing_group_members(group_name);"
        "CREATE TABLE policies("
        "  name TEXT PRIMARY KEY,"
        "  document TEXT NOT NULL,"
        "  version_id TEXT NOT NULL DEFAULT '1',"
        "  created_ms INTEGER NOT NULL,"
        "  modified_ms INTEGER NOT NULL);"
        "CREATE TABLE policy_targets("
        "  policy TEXT NOT NULL REFERENCES policies(name),"
        "  target_kind TEXT NOT NULL CHECK(target_kind IN ('cert','group')),"
        "  target TEXT NOT NULL,"
        "  PRIMARY KEY(policy, target_kind, target));"
        "CREATE INDEX policy_targets_target ON policy_targets(target_kind, target);"
        "CREATE TABLE sns_subscriptions("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  topic TEXT NOT NULL,"
        "  protocol TEXT NOT NULL,"
        "  endpoint TEXT NOT NULL,"
        "  created_ms INTEGER NOT NULL,"
        "  UNIQUE(topic, protocol, endpoint));"
        "CREATE TABLE registry_changes("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  kind TEXT NOT NULL,"
        "  name TEXT NOT NULL,"
        "  changed_ms INTEGER NOT NULL);"},
};

static const char *const KIND_NAMES[DD_REGISTRY_KIND_COUNT] = {"thing", "cert", "group", "policy"};
static const char *const CERT_STATUS_NAMES[] = {"ACTIVE", "INACTIVE", "REVOKED",
                                                "PENDING_ACTIVATION"};

/* ---- small helpers ------------------------------------------------------ */

static dd_registry_status_t fail(dd_registry_error_t *err, dd_registry_status_t status,
                                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static dd_registry_status_t fail(dd_registry_error_t *err, dd_registry_status_t status,
                                 const char *fmt, ...)
{
    va_list ap;

    if (err != NULL) {
        va_start(ap, fmt);
        (void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return status;
}

static void clear_error(dd_registry_error_t *err)
{
    if (err != NULL) {
        err->message[0] = '\0';
        err->resource_id[0] = '\0';
        err->resource_arn[0] = '\0';
    }
}

static dd_registry_status_t sql_fail(dd_registry_t *reg, dd_registry_error_t *err)
{
    DD_LOG_ERROR("registry: sqlite: %s", sqlite3_errmsg(reg->db));
    return fail(err, DD_REGISTRY_STORE_ERROR, "Internal store error: %s", sqlite3_errmsg(reg->db));
}

static int64_t now_ms(const dd_registry_t *reg)
{
    return reg->clock != NULL ? dd_clock_now_ms(reg->clock) : dd_clock_wall_ms();
}

static sqlite3_stmt *prep(dd_registry_t *reg, const char *sql)
{
    sqlite3_stmt *st = NULL;

    (void)dd_db_prepare(reg->db, sql, &st);
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

static const char *col_text(sqlite3_stmt *st, int idx)
{
    const unsigned char *t = sqlite3_column_text(st, idx);
    return t != NULL ? (const char *)t : "";
}

/* Runs a statement without result rows; binds up to three text parameters. */
static dd_registry_status_t exec3(dd_registry_t *reg, const char *sql, const char *a, const char *b,
                                  const char *c, dd_registry_error_t *err)
{
    sqlite3_stmt *st = prep(reg, sql);
    int rc;

    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, a);
    if (b != NULL) {
        bind_text(st, 2, b);
    }
    if (c != NULL) {
        bind_text(st, 3, c);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_REGISTRY_OK : sql_fail(reg, err);
}

/* Returns 1 when the query yields a row, 0 when not, -1 on error. */
static int exists2(dd_registry_t *reg, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = prep(reg, sql);
    int rc;

    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, a);
    if (b != NULL) {
        bind_text(st, 2, b);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : (rc == SQLITE_DONE ? 0 : -1);
}

static dd_registry_status_t savepoint_begin(dd_registry_t *reg, dd_registry_error_t *err)
{
    return dd_db_exec(reg->db, "SAVEPOINT dd_registry") == DD_DB_OK ? DD_REGISTRY_OK
                                                                    : sql_fail(reg, err);
}

static dd_registry_status_t savepoint_end(dd_registry_t *reg, dd_registry_status_t status)
{
    if (status == DD_REGISTRY_OK) {
        if (dd_db_exec(reg->db, "RELEASE dd_registry") != DD_DB_OK) {
            (void)dd_db_exec(reg->db, "ROLLBACK TO dd_registry; RELEASE dd_registry");
            return DD_REGISTRY_STORE_ERROR;
        }
        return status;
    }
    (void)dd_db_exec(reg->db, "ROLLBACK TO dd_registry; RELEASE dd_registry");
    return status;
}

static dd_registry_status_t log_change(dd_registry_t *reg, dd_registry_kind_t kind,
                                       const char *name, dd_registry_error_t *err)
{
    sqlite3_stmt *st =
        prep(reg, "INSERT INTO registry_changes(kind, name, changed_ms) VALUES(?1, ?2, ?3)");
    int rc;

    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, KIND_NAMES[kind]);
    bind_text(st, 2, name);
    (void)sqlite3_bind_int64(st, 3, now_ms(reg));
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_REGISTRY_OK : sql_fail(reg, err);
}

static dd_registry_status_t new_uuid(char *buf, size_t len)
{
    unsigned char r[16];

    if (buf == NULL || len < 37 || RAND_bytes(r, sizeof(r)) != 1) {
        return DD_REGISTRY_STORE_ERROR;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    (void)snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                   r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
                   r[13], r[14], r[15]);
    return DD_REGISTRY_OK;
}

static void copy_out(char *dst, size_t len, const char *src)
{
    if (dst != NULL && len > 0) {
        (void)snprintf(dst, len, "%s", src);
    }
}

static dd_registry_status_t check_name(dd_name_kind_t kind, const char *name,
                                       dd_registry_error_t *err)
{
    if (!dd_name_valid(kind, name)) {
        return fail(err, DD_REGISTRY_INVALID, "Invalid %s name '%.140s': must be %s",
                    dd_name_noun(kind), name != NULL ? name : "", dd_name_pattern(kind));
    }
    return DD_REGISTRY_OK;
}

/* Attributes are a JSON object of string values (AWS AttributePayload). */
static dd_registry_status_t check_attributes(const char *json, dd_registry_error_t *err)
{
    cJSON *root;
    const cJSON *item;
    dd_registry_status_t status = DD_REGISTRY_OK;

    if (json == NULL) {
        return DD_REGISTRY_OK;
    }
    root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, DD_REGISTRY_INVALID, "Attributes must be a JSON object of strings");
    }
    cJSON_ArrayForEach (item, root) {
        if (!cJSON_IsString(item) || strlen(item->string) == 0 || strlen(item->string) > 128 ||
            strlen(item->valuestring) > 800) {
            status = fail(err, DD_REGISTRY_INVALID,
                          "Attribute '%.128s' is invalid: names are 1..128 characters, values "
                          "strings of at most 800",
                          item->string != NULL ? item->string : "");
            break;
        }
    }
    cJSON_Delete(root);
    return status;
}

/*
 * Copies the paging token before the caller's `next` buffer is cleared: callers
 * commonly pass the previous `next` as `page->after`.
 */
static void page_after(const dd_registry_page_t *page, char *buf, size_t len)
{
    copy_out(buf, len, (page != NULL && page->after != NULL) ? page->after : "");
}

/*
 * Generic paged list of names: @p sql must use ?1 for the filter (may be
 * unused), ?2 for the exclusive lower bound and ?3 for the row limit, and
 * return the name in column 0 ordered ascending.
 */
static dd_registry_status_t list_names(dd_registry_t *reg, const char *sql, const char *filter,
                                       const dd_registry_page_t *page, dd_registry_name_fn fn,
                                       void *ctx, char *next, size_t next_len,
                                       dd_registry_error_t *err)
{
    sqlite3_stmt *st = prep(reg, sql);
    int limit = (page != NULL && page->limit > 0) ? page->limit : -1;
    int count = 0;
    int rc;
    char last[DD_ARN_MAX] = "";
    char after[DD_ARN_MAX];

    page_after(page, after, sizeof(after));
    if (next != NULL && next_len > 0) {
        next[0] = '\0';
    }
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, filter != NULL ? filter : "");
    bind_text(st, 2, after);
    (void)sqlite3_bind_int(st, 3, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = col_text(st, 0);
        if (limit > 0 && count == limit) {
            copy_out(next, next_len, last);
            break;
        }
        copy_out(last, sizeof(last), name);
        count++;
        if (fn != NULL && fn(ctx, name) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : sql_fail(reg, err);
}

/* ---- lifecycle and settings ------------------------------------------------ */

dd_registry_status_t dd_registry_open(dd_registry_t *reg, sqlite3 *db, const dd_arn_ctx_t *arn,
                                      const dd_clock_t *clock)
{
    if (reg == NULL || db == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    memset(reg, 0, sizeof(*reg));
    reg->db = db;
    reg->clock = clock;
    if (arn != NULL) {
        reg->arn = *arn;
    } else {
        dd_arn_ctx_default(&reg->arn);
    }
    if (dd_db_migrate(db, "registry", MIGRATIONS, sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])) !=
        DD_DB_OK) {
        return DD_REGISTRY_STORE_ERROR;
    }
    return DD_REGISTRY_OK;
}

dd_registry_status_t dd_registry_setting_get(dd_registry_t *reg, const char *key, char **value)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || key == NULL || value == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    *value = NULL;
    st = prep(reg, "SELECT value FROM settings WHERE key = ?1");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    bind_text(st, 1, key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *value = strdup(col_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW && *value == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

dd_registry_status_t dd_registry_setting_set(dd_registry_t *reg, const char *key, const char *value)
{
    if (reg == NULL || key == NULL || value == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    return exec3(reg,
                 "INSERT INTO settings(key, value) VALUES(?1, ?2)"
                 " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                 key, value, NULL, NULL);
}

/* ---- things ----------------------------------------------------------------- */

static void thing_from_row(sqlite3_stmt *st, dd_registry_thing_t *t)
{
    t->name = col_text(st, 0);
    t->thing_id = col_text(st, 1);
    t->thing_type = col_text(st, 2);
    t->attributes_json = col_text(st, 3);
    t->version = sqlite3_column_int64(st, 4);
    t->created_ms = sqlite3_column_int64(st, 5);
}

#define THING_COLUMNS "name, thing_id, thing_type, attributes, version, created_ms"

bool dd_registry_thing_exists(dd_registry_t *reg, const char *name)
{
    return reg != NULL && name != NULL &&
           exists2(reg, "SELECT 1 FROM things WHERE name = ?1", name, NULL) == 1;
}

dd_registry_status_t dd_registry_thing_create(dd_registry_t *reg, const char *name,
                                              const char *thing_type, const char *attributes_json,
                                              char *thing_id, size_t thing_id_len,
                                              dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    char id[40];
    int rc;

    clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = check_name(DD_NAME_THING, name, err)) != DD_REGISTRY_OK ||
        (status = check_attributes(attributes_json, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (thing_type != NULL && thing_type[0] != '\0' && !dd_name_valid(DD_NAME_THING, thing_type)) {
        return fail(err, DD_REGISTRY_INVALID, "Invalid thing type name '%.128s'", thing_type);
    }
    st = prep(reg, "SELECT thing_id, thing_type, attributes FROM things WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        /* AWS: creating an identical thing again returns it; a different one conflicts. */
        cJSON *have = cJSON_Parse(col_text(st, 2));
        cJSON *want = cJSON_Parse(attributes_json != NULL ? attributes_json : "{}");
        bool same = strcmp(col_text(st, 1), thing_type != NULL ? thing_type : "") == 0 &&
                    cJSON_Compare(have, want, true);
        copy_out(id, sizeof(id), col_text(st, 0));
        cJSON_Delete(have);
        cJSON_Delete(want);
        sqlite3_finalize(st);
        copy_out(thing_id, thing_id_len, id);
        if (same) {
            return DD_REGISTRY_OK;
        }
        if (err != NULL) {
            copy_out(err->resource_id, sizeof(err->resource_id), id);
            (void)dd_arn_format(&reg->arn, DD_NAME_THING, name, err->resource_arn,
                                sizeof(err->resource_arn));
        }
        return fail(err, DD_REGISTRY_ALREADY_EXISTS,
                    "Thing %s already exists with different tags or attributes", name);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return sql_fail(reg, err);
    }
    if (new_uuid(id, sizeof(id)) != DD_REGISTRY_OK) {
        return fail(err, DD_REGISTRY_STORE_ERROR, "Could not generate a thing id");
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = prep(reg, "INSERT INTO things(name, thing_id, thing_type, attributes, created_ms)"
                   " VALUES(?1, ?2, ?3, ?4, ?5)");
    if (st == NULL) {
        status = sql_fail(reg, err);
    } else {
        bind_text(st, 1, name);
        bind_text(st, 2, id);
        bind_text(st, 3, thing_type != NULL ? thing_type : "");
        bind_text(st, 4, attributes_json != NULL ? attributes_json : "{}");
        (void)sqlite3_bind_int64(st, 5, now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = log_change(reg, DD_REGISTRY_KIND_THING, name, err);
    }
    status = savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK) {
        copy_out(thing_id, thing_id_len, id);
    }
    return status;
}

dd_registry_status_t dd_registry_thing_get(dd_registry_t *reg, const char *name,
                                           dd_registry_thing_fn fn, void *ctx,
                                           dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    dd_registry_thing_t t;
    int rc;

    clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = prep(reg, "SELECT " THING_COLUMNS " FROM things WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        thing_from_row(st, &t);
        if (fn != NULL) {
            (void)fn(ctx, &t);
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return fail(err, DD_REGISTRY_NOT_FOUND, "Thing %.128s does not exist", name);
    }
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : sql_fail(reg, err);
}

static dd_registry_status_t check_version(dd_registry_t *reg, const char *sql, const char *name,
                                          int64_t expected, const char *noun,
                                          dd_registry_error_t *err, bool *found)
{
    sqlite3_stmt *st = prep(reg, sql);
    int rc;
    int64_t have = 0;

    *found = false;
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = true;
        have = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return sql_fail(reg, err);
    }
    if (*found && expected >= 0 && have != expected) {
        return fail(err, DD_REGISTRY_VERSION_CONFLICT,
                    "The version of %s %.128s is %lld, not the expected %lld", noun, name,
                    (long long)have, (long long)expected);
    }
    return DD_REGISTRY_OK;
}

dd_registry_status_t dd_registry_thing_delete(dd_registry_t *reg, const char *name,
                                              int64_t expected_version, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    bool found = false;

    clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = check_name(DD_NAME_THING, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = check_version(reg, "SELECT version FROM things WHERE name = ?1", name,
                           expected_version, "thing", err, &found);
    if (status == DD_REGISTRY_OK && found &&
        exists2(reg, "SELECT 1 FROM thing_principals WHERE thing = ?1", name, NULL) == 1) {
        status =
            fail(err, DD_REGISTRY_INVALID,
                 "Cannot delete thing %.128s: it has attached principals; detach them first", name);
    }
    if (status == DD_REGISTRY_OK && found) {
        status = exec3(reg, "DELETE FROM things WHERE name = ?1", name, NULL, NULL, err);
        if (status == DD_REGISTRY_OK) {
            status = log_change(reg, DD_REGISTRY_KIND_THING, name, err);
        }
    }
    return savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_thing_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                            dd_registry_thing_fn fn, void *ctx, char *next,
                                            size_t next_len)
{
    sqlite3_stmt *st;
    int limit = (page != NULL && page->limit > 0) ? page->limit : -1;
    int count = 0;
    int rc;
    char last[DD_NAME_MAX + 1] = "";
    char after[DD_NAME_MAX + 1];

    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    page_after(page, after, sizeof(after));
    copy_out(next, next_len, "");
    st = prep(reg, "SELECT " THING_COLUMNS " FROM things WHERE name > ?1 ORDER BY name LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    bind_text(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_thing_t t;
        if (limit > 0 && count == limit) {
            copy_out(next, next_len, last);
            break;
        }
        thing_from_row(st, &t);
        copy_out(last, sizeof(last), t.name);
        count++;
        if (fn != NULL && fn(ctx, &t) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

/* ---- certificates ------------------------------------------------------------ */

#define CERT_COLUMNS "id, pem, status, is_service, created_ms, modified_ms"

static void cert_from_row(sqlite3_stmt *st, dd_registry_cert_t *c)
{
    c->id = col_text(st, 0);
    c->pem = col_text(st, 1);
    if (!dd_cert_status_parse(col_text(st, 2), &c->status)) {
        c->status = DD_CERT_INACTIVE;
    }
    c->is_service = sqlite3_column_int(st, 3) != 0;
    c->created_ms = sqlite3_column_int64(st, 4);
    c->modified_ms = sqlite3_column_int64(st, 5);
}

static dd_registry_status_t cert_must_exist(dd_registry_t *reg, const char *cert_id,
                                            dd_registry_error_t *err)
{
    int found;

    if (!dd_name_valid(DD_NAME_CERTIFICATE, cert_id)) {
        return fail(err, DD_REGISTRY_INVALID, "Invalid certificate id '%.70s': must be %s",
                    cert_id != NULL ? cert_id : "", dd_name_pattern(DD_NAME_CERTIFICATE));
    }
    found = exists2(reg, "SELECT 1 FROM certificates WHERE id = ?1", cert_id, NULL);
    if (found < 0) {
        return sql_fail(reg, err);
    }
    return found == 1 ? DD_REGISTRY_OK
                      : fail(err, DD_REGISTRY_NOT_FOUND, "Certificate %s does not exist", cert_id);
}

static dd_registry_status_t thing_must_exist(dd_registry_t *reg, const char *thing,
                                             dd_registry_error_t *err)
{
    dd_registry_status_t status = check_name(DD_NAME_THING, thing, err);

    if (status == DD_REGISTRY_OK && !dd_registry_thing_exists(reg, thing)) {
        status = fail(err, DD_REGISTRY_NOT_FOUND, "Thing %s does not exist", thing);
    }
    return status;
}

static dd_registry_status_t group_must_exist(dd_registry_t *reg, const char *group,
                                             dd_registry_error_t *err)
{
    dd_registry_status_t status = check_name(DD_NAME_THING_GROUP, group, err);

    if (status == DD_REGISTRY_OK &&
        exists2(reg, "SELECT 1 FROM thing_groups WHERE name = ?1", group, NULL) != 1) {
        status = fail(err, DD_REGISTRY_NOT_FOUND, "Thing group %s does not exist", group);
    }
    return status;
}

dd_registry_status_t dd_registry_cert_add(dd_registry_t *reg, const char *pem,
                                          dd_cert_status_t status_value, bool is_service,
                                          char *cert_id, size_t cert_id_len,
                                          dd_registry_error_t *err)
{
    dd_registry_status_t status;
    char id[DD_PKI_CERT_ID_LEN + 1];
    sqlite3_stmt *st;
    int64_t now;

    clear_error(err);
    if (reg == NULL || pem == NULL || (unsigned)status_value > DD_CERT_PENDING_ACTIVATION) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (dd_pki_cert_id_from_pem(pem, strlen(pem), id) != DD_PKI_OK) {
        return fail(err, DD_REGISTRY_INVALID,
                    "The certificate is not a valid PEM X.509 certificate");
    }
    if (exists2(reg, "SELECT 1 FROM certificates WHERE id = ?1", id, NULL) == 1) {
        if (err != NULL) {
            copy_out(err->resource_id, sizeof(err->resource_id), id);
            (void)dd_arn_format(&reg->arn, DD_NAME_CERTIFICATE, id, err->resource_arn,
                                sizeof(err->resource_arn));
        }
        copy_out(cert_id, cert_id_len, id);
        return fail(err, DD_REGISTRY_ALREADY_EXISTS, "The certificate is already registered as %s",
                    id);
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = prep(reg, "INSERT INTO certificates(" CERT_COLUMNS ") VALUES(?1, ?2, ?3, ?4, ?5, ?5)");
    if (st == NULL) {
        status = sql_fail(reg, err);
    } else {
        now = now_ms(reg);
        bind_text(st, 1, id);
        bind_text(st, 2, pem);
        bind_text(st, 3, dd_cert_status_name(status_value));
        (void)sqlite3_bind_int(st, 4, is_service ? 1 : 0);
        (void)sqlite3_bind_int64(st, 5, now);
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = log_change(reg, DD_REGISTRY_KIND_CERT, id, err);
    }
    status = savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK) {
        copy_out(cert_id, cert_id_len, id);
    }
    return status;
}

dd_registry_status_t dd_registry_cert_get(dd_registry_t *reg, const char *cert_id,
                                          dd_registry_cert_fn fn, void *ctx,
                                          dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    dd_registry_status_t status;
    int rc;

    clear_error(err);
    if (reg == NULL || cert_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = cert_must_exist(reg, cert_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = prep(reg, "SELECT " CERT_COLUMNS " FROM certificates WHERE id = ?1");
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, cert_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && fn != NULL) {
        dd_registry_cert_t c;
        cert_from_row(st, &c);
        (void)fn(ctx, &c);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : sql_fail(reg, err);
}

dd_registry_status_t dd_registry_cert_set_status(dd_registry_t *reg, const char *cert_id,
                                                 dd_cert_status_t status_value,
                                                 dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;

    clear_error(err);
    if (reg == NULL || cert_id == NULL || (unsigned)status_value > DD_CERT_PENDING_ACTIVATION) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = cert_must_exist(reg, cert_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (exists2(reg, "SELECT 1 FROM certificates WHERE id = ?1 AND status = 'REVOKED'", cert_id,
                NULL) == 1 &&
        status_value != DD_CERT_REVOKED) {
        /* AWS: a revoked certificate cannot be reactivated. */
        return fail(err, DD_REGISTRY_INVALID, "Certificate %s is REVOKED and cannot change status",
                    cert_id);
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = prep(reg, "UPDATE certificates SET status = ?2, modified_ms = ?3 WHERE id = ?1");
    if (st == NULL) {
        status = sql_fail(reg, err);
    } else {
        bind_text(st, 1, cert_id);
        bind_text(st, 2, dd_cert_status_name(status_value));
        (void)sqlite3_bind_int64(st, 3, now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = log_change(reg, DD_REGISTRY_KIND_CERT, cert_id, err);
    }
    return savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_cert_delete(dd_registry_t *reg, const char *cert_id, bool force,
                                             dd_registry_error_t *err)
{
    dd_registry_status_t status;

    clear_error(err);
    if (reg == NULL || cert_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = cert_must_exist(reg, cert_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (exists2(reg, "SELECT 1 FROM thing_principals WHERE cert_id = ?1", cert_id, NULL) == 1) {
        return fail(err, DD_REGISTRY_DELETE_CONFLICT,
                    "Certificate %s is attached to one or more things; detach it first", cert_id);
    }
    if (!force &&
        exists2(reg, "SELECT 1 FROM policy_targets WHERE target_kind = 'cert' AND target = ?1",
                cert_id, NULL) == 1) {
        return fail(err, DD_REGISTRY_DELETE_CONFLICT,
                    "Certificate %s has policies attached; detach them or use forceDelete",
                    cert_id);
    }
    if (exists2(reg, "SELECT 1 FROM certificates WHERE id = ?1 AND status = 'ACTIVE'", cert_id,
                NULL) == 1) {
        return fail(err, DD_REGISTRY_INVALID,
                    "Certificate %s is ACTIVE; set it INACTIVE before deleting it", cert_id);
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = exec3(reg, "DELETE FROM policy_targets WHERE target_kind = 'cert' AND target = ?1",
                   cert_id, NULL, NULL, err);
    if (status == DD_REGISTRY_OK) {
        status = exec3(reg, "DELETE FROM certificates WHERE id = ?1", cert_id, NULL, NULL, err);
    }
    if (status == DD_REGISTRY_OK) {
        status = log_change(reg, DD_REGISTRY_KIND_CERT, cert_id, err);
    }
    return savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_cert_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                           bool ascending, dd_registry_cert_fn fn, void *ctx,
                                           char *next, size_t next_len)
{
    sqlite3_stmt *st;
    int limit = (page != NULL && page->limit > 0) ? page->limit : -1;
    int count = 0;
    int rc;
    char last[DD_NAME_MAX + 1] = "";
    char after[DD_NAME_MAX + 1];

    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    page_after(page, after, sizeof(after));
    copy_out(next, next_len, "");
    /* Order by (creation time, id); the token is the id of the last row returned. */
    st = prep(reg, ascending ? "SELECT " CERT_COLUMNS
                               " FROM certificates WHERE ?1 = '' OR (created_ms, id) >"
                               " (SELECT created_ms, id FROM certificates WHERE id = ?1)"
                               " ORDER BY created_ms, id LIMIT ?2"
                             : "SELECT " CERT_COLUMNS
                               " FROM certificates WHERE ?1 = '' OR (created_ms, id) <"
                               " (SELECT created_ms, id FROM certificates WHERE id = ?1)"
                               " ORDER BY created_ms DESC, id DESC LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    bind_text(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_cert_t c;
        if (limit > 0 && count == limit) {
            copy_out(next, next_len, last);
            break;
        }
        cert_from_row(st, &c);
        copy_out(last, sizeof(last), c.id);
        count++;
        if (fn != NULL && fn(ctx, &c) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

static dd_registry_status_t principal_change(dd_registry_t *reg, const char *thing,
                                             const char *cert_id, bool attach,
                                             dd_registry_error_t *err)
{
    dd_registry_status_t status;

    clear_error(err);
    if (reg == NULL || thing == NULL || cert_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = thing_must_exist(reg, thing, err)) != DD_REGISTRY_OK ||
        (status = cert_must_exist(reg, cert_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = exec3(reg,
                   attach ? "INSERT OR IGNORE INTO thing_principals(thing, cert_id) VALUES(?1, ?2)"
                          : "DELETE FROM thing_principals WHERE thing = ?1 AND cert_id = ?2",
                   thing, cert_id, NULL, err);
    if (status == DD_REGISTRY_OK && sqlite3_changes(reg->db) > 0) {
        status = log_change(reg, DD_REGISTRY_KIND_CERT, cert_id, err);
    }
    return savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_principal_attach(dd_registry_t *reg, const char *thing,
                                                  const char *cert_id, dd_registry_error_t *err)
{
    return principal_change(reg, thing, cert_id, true, err);
}

dd_registry_status_t dd_registry_principal_detach(dd_registry_t *reg, const char *thing,
                                                  const char *cert_id, dd_registry_error_t *err)
{
    return principal_change(reg, thing, cert_id, false, err);
}

dd_registry_status_t dd_registry_thing_principals(dd_registry_t *reg, const char *thing,
                                                  const dd_registry_page_t *page,
                                                  dd_registry_name_fn fn, void *ctx, char *next,
                                                  size_t next_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;

    clear_error(err);
    if (reg == NULL || thing == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = thing_must_exist(reg, thing, err)) != DD_REGISTRY_OK) {
        return status;
    }
    return list_names(reg,
                      "SELECT cert_id FROM thing_principals WHERE thing = ?1 AND cert_id > ?2"
                      " ORDER BY cert_id LIMIT ?3",
                      thing, page, fn, ctx, next, next_len, err);
}

dd_registry_status_t dd_registry_principal_things(dd_registry_t *reg, const char *cert_id,
                                                  const dd_registry_page_t *page,
                                                  dd_registry_name_fn fn, void *ctx, char *next,
                                                  size_t next_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;

    clear_error(err);
    if (reg == NULL || cert_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = cert_must_exist(reg, cert_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    return list_names(reg,
                      "SELECT thing FROM thing_principals WHERE cert_id = ?1 AND thing > ?2"
                      " ORDER BY thing LIMIT ?3",
                      cert_id, page, fn, ctx, next, next_len, err);
}

/* ---- thing groups -------------------------------------------------------------- */

#define GROUP_COLUMNS \
    "name, group_id, COALESCE(parent, ''), description, attributes, version, created_ms"

static void group_from_row(sqlite3_stmt *st, dd_registry_group_t *g)
{
    g->name = col_text(st, 0);
    g->group_id = col_text(st, 1);
    g->parent = col_text(st, 2);
    g->description = col_text(st, 3);
    g->attributes_json = col_text(st, 4);
    g->version = sqlite3_column_int64(st, 5);
    g->created_ms = sqlite3_column_int64(st, 6);
}

/* Depth of a group: 1 for a root group. */
static int group_depth(dd_registry_t *reg, const char *group)
{
    sqlite3_stmt *st =
        prep(reg, "WITH RECURSIVE up(name, parent, depth) AS ("
                  " SELECT name, parent, 1 FROM thing_groups WHERE name = ?1"
                  " UNION ALL SELECT g.name, g.parent, up.depth + 1 FROM thing_groups g"
                  " JOIN up ON g.name = up.parent)"
                  " SELECT max(depth) FROM up");
    int depth = -1;

    if (st == NULL) {
        return -1;
    }
    bind_text(st, 1, group);
    if (sqlite3_step(st) == SQLITE_ROW) {
        depth = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return depth;
}

dd_registry_status_t dd_registry_group_create(dd_registry_t *reg, const char *name,
                                              const char *parent, const char *description,
                                              const char *attributes_json, char *group_id,
                                              size_t group_id_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    char id[40];
    int rc;

    clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (parent != NULL && parent[0] == '\0') {
        parent = NULL;
    }
    if ((status = check_name(DD_NAME_THING_GROUP, name, err)) != DD_REGISTRY_OK ||
        (status = check_attributes(attributes_json, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (description != NULL && strlen(description) > 2028) {
        return fail(err, DD_REGISTRY_INVALID,
                    "Thing group description is longer than 2028 characters");
    }
    st = prep(reg, "SELECT group_id, COALESCE(parent, '') FROM thing_groups WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        bool same_parent = strcmp(col_text(st, 1), parent != NULL ? parent : "") == 0;
        copy_out(id, sizeof(id), col_text(st, 0));
        sqlite3_finalize(st);
        copy_out(group_id, group_id_len, id);
        if (same_parent) {
            return DD_REGISTRY_OK; /* AWS: idempotent for an identical group */
        }
        if (err != NULL) {
            copy_out(err->resource_id, sizeof(err->resource_id), id);
            (void)dd_arn_format(&reg->arn, DD_NAME_THING_GROUP, name, err->resource_arn,
                                sizeof(err->resource_arn));
        }
        return fail(err, DD_REGISTRY_ALREADY_EXISTS,
                    "Thing group %s already exists with a different parent", name);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return sql_fail(reg, err);
    }
    if (parent != NULL) {
        if ((status = group_must_exist(reg, parent, err)) != DD_REGISTRY_OK) {
            return status;
        }
        if (group_depth(reg, parent) >= DD_REGISTRY_MAX_GROUP_DEPTH) {
            return fail(err, DD_REGISTRY_LIMIT_EXCEEDED,
                        "Thing group hierarchies are at most %d levels deep",
                        DD_REGISTRY_MAX_GROUP_DEPTH);
        }
    }
    if (new_uuid(id, sizeof(id)) != DD_REGISTRY_OK) {
        return fail(err, DD_REGISTRY_STORE_ERROR, "Could not generate a group id");
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st =
        prep(reg,
             "INSERT INTO thing_groups(name, group_id, parent, description, attributes, created_ms)"
             " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    if (st == NULL) {
        status = sql_fail(reg, err);
    } else {
        bind_text(st, 1, name);
        bind_text(st, 2, id);
        bind_text(st, 3, parent);
        bind_text(st, 4, description != NULL ? description : "");
        bind_text(st, 5, attributes_json != NULL ? attributes_json : "{}");
        (void)sqlite3_bind_int64(st, 6, now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = log_change(reg, DD_REGISTRY_KIND_GROUP, name, err);
    }
    status = savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK) {
        copy_out(group_id, group_id_len, id);
    }
    return status;
}

dd_registry_status_t dd_registry_group_get(dd_registry_t *reg, const char *name,
                                           dd_registry_group_fn fn, void *ctx,
                                           dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    int rc;

    clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = prep(reg, "SELECT " GROUP_COLUMNS " FROM thing_groups WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && fn != NULL) {
        dd_registry_group_t g;
        group_from_row(st, &g);
        (void)fn(ctx, &g);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return fail(err, DD_REGISTRY_NOT_FOUND, "Thing group %.128s does not exist", name);
    }
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : sql_fail(reg, err);
}

dd_registry_status_t dd_registry_group_update(dd_registry_t *reg, const char *name,
                                              const char *description, const char *attributes_json,
                                              int64_t expected_version, int64_t *new_version,
                                              dd_registry_error_t *err)
{
    dd_registry_status_t status;
    bool found = false;
    sqlite3_stmt *st;

    clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = check_attributes(attributes_json, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (description != NULL && strlen(description) > 2028) {
        return fail(err, DD_REGISTRY_INVALID,
                    "Thing group description is longer than 2028 characters");
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = check_version(reg, "SELECT version FROM thing_groups WHERE name = ?1", name,
                           expected_version, "thing group", err, &found);
    if (status == DD_REGISTRY_OK && !found) {
        status = fail(err, DD_REGISTRY_NOT_FOUND, "Thing group %.128s does not exist", name);
    }
    if (status == DD_REGISTRY_OK) {
        st = prep(reg, "UPDATE thing_groups SET description = COALESCE(?2, description),"
                       " attributes = COALESCE(?3, attributes), version = version + 1"
                       " WHERE name = ?1 RETURNING version");
        if (st == NULL) {
            status = sql_fail(reg, err);
        } else {
            bind_text(st, 1, name);
            bind_text(st, 2, description);
            bind_text(st, 3, attributes_json);
            if (sqlite3_step(st) == SQLITE_ROW) {
                if (new_version != NULL) {
                    *new_version = sqlite3_column_int64(st, 0);
                }
            } else {
                status = sql_fail(reg, err);
            }
            sqlite3_finalize(st);
        }
    }
    return savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_group_delete(dd_registry_t *reg, const char *name,
                                              int64_t expected_version, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    bool found = false;
    sqlite3_stmt *st;

    clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = check_name(DD_NAME_THING_GROUP, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = check_version(reg, "SELECT version FROM thing_groups WHERE name = ?1", name,
                           expected_version, "thing group", err, &found);
    if (status == DD_REGISTRY_OK && found &&
        exists2(reg, "SELECT 1 FROM thing_groups WHERE parent = ?1", name, NULL) == 1) {
        status = fail(err, DD_REGISTRY_INVALID,
                      "Cannot delete thing group %.128s: it has child groups", name);
    }
    if (status == DD_REGISTRY_OK && found) {
        /* Members lose the group: their thing state changes. */
        st = prep(reg, "SELECT thing FROM thing_group_members WHERE group_name = ?1");
        if (st == NULL) {
            status = sql_fail(reg, err);
        } else {
            bind_text(st, 1, name);
            while (status == DD_REGISTRY_OK && sqlite3_step(st) == SQLITE_ROW) {
                status = log_change(reg, DD_REGISTRY_KIND_THING, col_text(st, 0), err);
            }
            sqlite3_finalize(st);
        }
        if (status == DD_REGISTRY_OK) {
            status =
                exec3(reg, "DELETE FROM policy_targets WHERE target_kind = 'group' AND target = ?1",
                      name, NULL, NULL, err);
        }
        if (status == DD_REGISTRY_OK) {
            status = exec3(reg, "DELETE FROM thing_groups WHERE name = ?1", name, NULL, NULL, err);
        }
        if (status == DD_REGISTRY_OK) {
            status = log_change(reg, DD_REGISTRY_KIND_GROUP, name, err);
        }
    }
    return savepoint_end(reg, status);
}

typedef struct group_list_ctx {
    dd_registry_t *reg;
    dd_registry_group_fn fn;
    void *ctx;
} group_list_ctx_t;

static int group_row_by_name(void *ctx, const char *name)
{
    group_list_ctx_t *g = ctx;
    int stop = 0;
    sqlite3_stmt *st = prep(g->reg, "SELECT " GROUP_COLUMNS " FROM thing_groups WHERE name = ?1");

    if (st == NULL) {
        return 1;
    }
    bind_text(st, 1, name);
    if (sqlite3_step(st) == SQLITE_ROW && g->fn != NULL) {
        dd_registry_group_t row;
        group_from_row(st, &row);
        stop = g->fn(g->ctx, &row);
    }
    sqlite3_finalize(st);
    return stop;
}

dd_registry_status_t dd_registry_group_list(dd_registry_t *reg, const char *parent,
                                            const char *name_prefix, bool recursive,
                                            const dd_registry_page_t *page, dd_registry_group_fn fn,
                                            void *ctx, char *next, size_t next_len,
                                            dd_registry_error_t *err)
{
    group_list_ctx_t g;
    dd_registry_status_t status;
    char filter[2 * (DD_NAME_MAX + 1) + 2];
    const char *sql;

    clear_error(err);
    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (parent != NULL && parent[0] != '\0' &&
        (status = group_must_exist(reg, parent, err)) != DD_REGISTRY_OK) {
        return status;
    }
    /* ?1 packs "parent\x1fprefix" so that list_names() keeps one filter parameter. */
    (void)snprintf(filter, sizeof(filter), "%s\x1f%s", parent != NULL ? parent : "",
                   name_prefix != NULL ? name_prefix : "");
    if (parent == NULL || parent[0] == '\0') {
        /* No parent: every group of the account, at any depth. */
        sql = "SELECT name FROM thing_groups WHERE name > ?2"
              " AND substr(name, 1, length(substr(?1, instr(?1, char(31)) + 1))) ="
              " substr(?1, instr(?1, char(31)) + 1)"
              " ORDER BY name LIMIT ?3";
    } else if (recursive) {
        sql = "WITH RECURSIVE down(name) AS ("
              " SELECT name FROM thing_groups WHERE parent = substr(?1, 1, instr(?1, char(31)) - 1)"
              " UNION SELECT g.name FROM thing_groups g JOIN down ON g.parent = down.name)"
              " SELECT name FROM down WHERE name > ?2"
              " AND substr(name, 1, length(substr(?1, instr(?1, char(31)) + 1))) ="
              " substr(?1, instr(?1, char(31)) + 1)"
              " ORDER BY name LIMIT ?3";
    } else {
        sql = "SELECT name FROM thing_groups WHERE parent = substr(?1, 1, instr(?1, char(31)) - 1)"
              " AND name > ?2"
              " AND substr(name, 1, length(substr(?1, instr(?1, char(31)) + 1))) ="
              " substr(?1, instr(?1, char(31)) + 1)"
              " ORDER BY name LIMIT ?3";
    }
    g.reg = reg;
    g.fn = fn;
    g.ctx = ctx;
    return list_names(reg, sql, filter, page, group_row_by_name, &g, next, next_len, err);
}

/* Root group of a hierarchy a group belongs to. */
static dd_registry_status_t group_root(dd_registry_t *reg, const char *group, char *root,
                                       size_t len)
{
    sqlite3_stmt *st = prep(reg, "WITH RECURSIVE up(name, parent) AS ("
                                 " SELECT name, parent FROM thing_groups WHERE name = ?1"
                                 " UNION ALL SELECT g.name, g.parent FROM thing_groups g"
                                 " JOIN up ON g.name = up.parent)"
                                 " SELECT name FROM up WHERE parent IS NULL");
    int rc;

    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    bind_text(st, 1, group);
    rc = sqlite3_step(st);
    copy_out(root, len, rc == SQLITE_ROW ? col_text(st, 0) : group);
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

dd_registry_status_t dd_registry_group_add_thing(dd_registry_t *reg, const char *group,
                                                 const char *thing, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    char root[DD_NAME_MAX + 1];
    int groups = 0;

    clear_error(err);
    if (reg == NULL || group == NULL || thing == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = thing_must_exist(reg, thing, err)) != DD_REGISTRY_OK ||
        (status = group_must_exist(reg, group, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (exists2(reg, "SELECT 1 FROM thing_group_members WHERE thing = ?1 AND group_name = ?2",
                thing, group) == 1) {
        return DD_REGISTRY_OK; /* already a member: idempotent */
    }
    if (group_root(reg, group, root, sizeof(root)) != DD_REGISTRY_OK) {
        return sql_fail(reg, err);
    }
    st = prep(reg, "SELECT group_name FROM thing_group_members WHERE thing = ?1");
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, thing);
    while (status == DD_REGISTRY_OK && sqlite3_step(st) == SQLITE_ROW) {
        char other_root[DD_NAME_MAX + 1];
        groups++;
        if (group_root(reg, col_text(st, 0), other_root, sizeof(other_root)) == DD_REGISTRY_OK &&
            strcmp(root, other_root) == 0) {
            status = fail(err, DD_REGISTRY_INVALID,
                          "Thing %s is already in group %s of the same hierarchy as %s", thing,
                          col_text(st, 0), group);
        }
    }
    sqlite3_finalize(st);
    if (status == DD_REGISTRY_OK && groups >= DD_REGISTRY_MAX_GROUPS_PER_THING) {
        status = fail(err, DD_REGISTRY_LIMIT_EXCEEDED, "Thing %s is already in %d thing groups",
                      thing, DD_REGISTRY_MAX_GROUPS_PER_THING);
    }
    if (status != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = exec3(reg, "INSERT INTO thing_group_members(thing, group_name) VALUES(?1, ?2)", thing,
                   group, NULL, err);
    if (status == DD_REGISTRY_OK) {
        status = log_change(reg, DD_REGISTRY_KIND_THING, thing, err);
    }
    return savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_group_remove_thing(dd_registry_t *reg, const char *group,
                                                    const char *thing, dd_registry_error_t *err)
{
    dd_registry_status_t status;

    clear_error(err);
    if (reg == NULL || group == NULL || thing == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = thing_must_exist(reg, thing, err)) != DD_REGISTRY_OK ||
        (status = group_must_exist(reg, group, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = exec3(reg, "DELETE FROM thing_group_members WHERE thing = ?1 AND group_name = ?2",
                   thing, group, NULL, err);
    if (status == DD_REGISTRY_OK && sqlite3_changes(reg->db) > 0) {
        status = log_change(reg, DD_REGISTRY_KIND_THING, thing, err);
    }
    return savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_group_things(dd_registry_t *reg, const char *group, bool recursive,
                                              const dd_registry_page_t *page,
                                              dd_registry_name_fn fn, void *ctx, char *next,
                                              size_t next_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;

    clear_error(err);
    if (reg == NULL || group == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = group_must_exist(reg, group, err)) != DD_REGISTRY_OK) {
        return status;
    }
    return list_names(
        reg,
        recursive ? "WITH RECURSIVE down(name) AS (SELECT ?1"
                    " UNION SELECT g.name FROM thing_groups g JOIN down ON g.parent = down.name)"
                    " SELECT DISTINCT m.thing FROM thing_group_members m JOIN down ON m.group_name "
                    "= down.name"
                    " WHERE m.thing > ?2 ORDER BY m.thing LIMIT ?3"
                  : "SELECT thing FROM thing_group_members WHERE group_name = ?1 AND thing > ?2"
                    " ORDER BY thing LIMIT ?3",
        group, page, fn, ctx, next, next_len, err);
}

dd_registry_status_t dd_registry_thing_groups(dd_registry_t *reg, const char *thing,
                                              const dd_registry_page_t *page,
                                              dd_registry_name_fn fn, void *ctx, char *next,
                                              size_t next_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;

    clear_error(err);
    if (reg == NULL || thing == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = thing_must_exist(reg, thing, err)) != DD_REGISTRY_OK) {
        return status;
    }
    return list_names(
        reg,
        "SELECT group_name FROM thing_group_members WHERE thing = ?1 AND group_name > ?2"
        " ORDER BY group_name LIMIT ?3",
        thing, page, fn, ctx, next, next_len, err);
}

dd_registry_status_t dd_registry_thing_groups_closure(dd_registry_t *reg, const char *thing,
                                                      dd_registry_name_fn fn, void *ctx)
{
    if (reg == NULL || thing == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    return list_names(reg,
                      "WITH RECURSIVE up(name) AS ("
                      " SELECT group_name FROM thing_group_members WHERE thing = ?1"
                      " UNION SELECT g.parent FROM thing_groups g JOIN up ON g.name = up.name"
                      " WHERE g.parent IS NOT NULL)"
                      " SELECT name FROM up WHERE name > ?2 ORDER BY name LIMIT ?3",
                      thing, NULL, fn, ctx, NULL, 0, NULL);
}

dd_registry_status_t dd_registry_group_ancestors(dd_registry_t *reg, const char *group,
                                                 dd_registry_name_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || group == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = prep(
        reg,
        "WITH RECURSIVE up(name, depth) AS ("
        " SELECT parent, 1 FROM thing_groups WHERE name = ?1 AND parent IS NOT NULL"
        " UNION ALL SELECT g.parent, up.depth + 1 FROM thing_groups g JOIN up ON g.name = up.name"
        " WHERE g.parent IS NOT NULL)"
        " SELECT name FROM up ORDER BY depth DESC");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    bind_text(st, 1, group);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn != NULL && fn(ctx, col_text(st, 0)) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

/* ---- policies ---------------------------------------------------------------- */

static dd_registry_status_t policy_must_exist(dd_registry_t *reg, const char *name,
                                              dd_registry_error_t *err)
{
    dd_registry_status_t status = check_name(DD_NAME_POLICY, name, err);

    if (status == DD_REGISTRY_OK &&
        exists2(reg, "SELECT 1 FROM policies WHERE name = ?1", name, NULL) != 1) {
        status = fail(err, DD_REGISTRY_NOT_FOUND, "Policy %s does not exist", name);
    }
    return status;
}

dd_registry_status_t dd_registry_policy_create(dd_registry_t *reg, const char *name,
                                               const char *document, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    char why[DD_POLICY_ERROR_MAX];
    sqlite3_stmt *st;

    clear_error(err);
    if (reg == NULL || name == NULL || document == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = check_name(DD_NAME_POLICY, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (strlen(document) > DD_REGISTRY_MAX_POLICY_DOC) {
        return fail(err, DD_REGISTRY_INVALID, "Policy document is longer than %d characters",
                    DD_REGISTRY_MAX_POLICY_DOC);
    }
    if (dd_policy_validate(document, strlen(document), why, sizeof(why)) != DD_POLICY_OK) {
        return fail(err, DD_REGISTRY_INVALID, "Policy document is malformed: %s", why);
    }
    if (exists2(reg, "SELECT 1 FROM policies WHERE name = ?1", name, NULL) == 1) {
        if (err != NULL) {
            copy_out(err->resource_id, sizeof(err->resource_id), name);
            (void)dd_arn_format(&reg->arn, DD_NAME_POLICY, name, err->resource_arn,
                                sizeof(err->resource_arn));
        }
        return fail(err, DD_REGISTRY_ALREADY_EXISTS, "Policy %s already exists", name);
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = prep(
        reg,
        "INSERT INTO policies(name, document, created_ms, modified_ms) VALUES(?1, ?2, ?3, ?3)");
    if (st == NULL) {
        status = sql_fail(reg, err);
    } else {
        bind_text(st, 1, name);
        bind_text(st, 2, document);
        (void)sqlite3_bind_int64(st, 3, now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = log_change(reg, DD_REGISTRY_KIND_POLICY, name, err);
    }
    return savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_policy_get(dd_registry_t *reg, const char *name,
                                            dd_registry_policy_fn fn, void *ctx,
                                            dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    dd_registry_status_t status;
    int rc;

    clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = policy_must_exist(reg, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = prep(
        reg,
        "SELECT name, document, version_id, created_ms, modified_ms FROM policies WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && fn != NULL) {
        dd_registry_policy_t p = {col_text(st, 0), col_text(st, 1), col_text(st, 2),
                                  sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4)};
        (void)fn(ctx, &p);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : sql_fail(reg, err);
}

dd_registry_status_t dd_registry_policy_delete(dd_registry_t *reg, const char *name,
                                               dd_registry_error_t *err)
{
    dd_registry_status_t status;

    clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = policy_must_exist(reg, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (exists2(reg, "SELECT 1 FROM policy_targets WHERE policy = ?1", name, NULL) == 1) {
        return fail(err, DD_REGISTRY_DELETE_CONFLICT,
                    "Policy %s is attached to one or more targets; detach it first", name);
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = exec3(reg, "DELETE FROM policies WHERE name = ?1", name, NULL, NULL, err);
    if (status == DD_REGISTRY_OK) {
        status = log_change(reg, DD_REGISTRY_KIND_POLICY, name, err);
    }
    return savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_policy_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                             bool ascending, dd_registry_policy_fn fn, void *ctx,
                                             char *next, size_t next_len)
{
    sqlite3_stmt *st;
    int limit = (page != NULL && page->limit > 0) ? page->limit : -1;
    int count = 0;
    int rc;
    char last[DD_NAME_MAX + 1] = "";
    char after[DD_NAME_MAX + 1];

    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    page_after(page, after, sizeof(after));
    copy_out(next, next_len, "");
    st = prep(reg, ascending
                       ? "SELECT name, document, version_id, created_ms, modified_ms FROM policies"
                         " WHERE name > ?1 ORDER BY name LIMIT ?2"
                       : "SELECT name, document, version_id, created_ms, modified_ms FROM policies"
                         " WHERE ?1 = '' OR name < ?1 ORDER BY name DESC LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    bind_text(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_policy_t p = {col_text(st, 0), col_text(st, 1), col_text(st, 2),
                                  sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4)};
        if (limit > 0 && count == limit) {
            copy_out(next, next_len, last);
            break;
        }
        copy_out(last, sizeof(last), p.name);
        count++;
        if (fn != NULL && fn(ctx, &p) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

/* Splits a policy target ARN into ("cert"|"group", name) after checking the entity exists. */
static dd_registry_status_t parse_policy_target(dd_registry_t *reg, const char *target_arn,
                                                const char **kind, char *name, size_t len,
                                                dd_registry_error_t *err)
{
    if (dd_arn_parse(&reg->arn, DD_NAME_CERTIFICATE, target_arn, name, len) == DD_NAMES_OK) {
        *kind = "cert";
        return cert_must_exist(reg, name, err);
    }
    if (dd_arn_parse(&reg->arn, DD_NAME_THING_GROUP, target_arn, name, len) == DD_NAMES_OK) {
        *kind = "group";
        return group_must_exist(reg, name, err);
    }
    return fail(
        err, DD_REGISTRY_INVALID,
        "Invalid policy target '%.200s': expected a certificate ARN (arn:aws:iot:%s:%s:cert/ID)"
        " or a thing group ARN (arn:aws:iot:%s:%s:thinggroup/NAME)",
        target_arn, reg->arn.region, reg->arn.account, reg->arn.region, reg->arn.account);
}

static dd_registry_status_t policy_target_change(dd_registry_t *reg, const char *policy,
                                                 const char *target_arn, bool attach,
                                                 dd_registry_error_t *err)
{
    dd_registry_status_t status;
    const char *kind = NULL;
    char name[DD_NAME_MAX + 1];

    clear_error(err);
    if (reg == NULL || policy == NULL || target_arn == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = policy_must_exist(reg, policy, err)) != DD_REGISTRY_OK ||
        (status = parse_policy_target(reg, target_arn, &kind, name, sizeof(name), err)) !=
            DD_REGISTRY_OK) {
        return status;
    }
    if ((status = savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = exec3(
        reg,
        attach
            ? "INSERT OR IGNORE INTO policy_targets(policy, target_kind, target) VALUES(?1, ?2, ?3)"
            : "DELETE FROM policy_targets WHERE policy = ?1 AND target_kind = ?2 AND target = ?3",
        policy, kind, name, err);
    if (status == DD_REGISTRY_OK && sqlite3_changes(reg->db) > 0) {
        status =
            log_change(reg,
                       strcmp(kind, "cert") == 0 ? DD_REGISTRY_KIND_CERT : DD_REGISTRY_KIND_GROUP,
                       name, err);
    }
    return savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_policy_attach(dd_registry_t *reg, const char *policy,
                                               const char *target_arn, dd_registry_error_t *err)
{
    return policy_target_change(reg, policy, target_arn, true, err);
}

dd_registry_status_t dd_registry_policy_detach(dd_registry_t *reg, const char *policy,
                                               const char *target_arn, dd_registry_error_t *err)
{
    return policy_target_change(reg, policy, target_arn, false, err);
}

dd_registry_status_t dd_registry_policies_for_target(dd_registry_t *reg, const char *target_arn,
                                                     bool recursive, const dd_registry_page_t *page,
                                                     dd_registry_name_fn fn, void *ctx, char *next,
                                                     size_t next_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    const char *kind = NULL;
    char name[DD_NAME_MAX + 1];
    char filter[DD_NAME_MAX + 8];

    clear_error(err);
    if (reg == NULL || target_arn == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = parse_policy_target(reg, target_arn, &kind, name, sizeof(name), err)) !=
        DD_REGISTRY_OK) {
        return status;
    }
    (void)snprintf(filter, sizeof(filter), "%s", name);
    if (strcmp(kind, "cert") == 0) {
        return list_names(
            reg,
            "SELECT policy FROM policy_targets WHERE target_kind = 'cert' AND target = ?1"
            " AND policy > ?2 ORDER BY policy LIMIT ?3",
            filter, page, fn, ctx, next, next_len, err);
    }
    return list_names(
        reg,
        recursive ? "WITH RECURSIVE up(name) AS (SELECT ?1"
                    " UNION SELECT g.parent FROM thing_groups g JOIN up ON g.name = up.name"
                    " WHERE g.parent IS NOT NULL)"
                    " SELECT DISTINCT p.policy FROM policy_targets p JOIN up ON p.target = up.name"
                    " WHERE p.target_kind = 'group' AND p.policy > ?2 ORDER BY p.policy LIMIT ?3"
                  : "SELECT policy FROM policy_targets WHERE target_kind = 'group' AND target = ?1"
                    " AND policy > ?2 ORDER BY policy LIMIT ?3",
        filter, page, fn, ctx, next, next_len, err);
}

typedef struct target_arn_ctx {
    dd_registry_t *reg;
    dd_registry_name_fn fn;
    void *ctx;
} target_arn_ctx_t;

/* Rows come as "kind\x1fname"; turn them into ARNs. */
static int emit_target_arn(void *ctx, const char *row)
{
    target_arn_ctx_t *t = ctx;
    char arn[DD_ARN_MAX];
    const char *sep = strchr(row, '\x1f');

    if (sep == NULL) {
        return 0;
    }
    if (dd_arn_format(&t->reg->arn,
                      strncmp(row, "cert", 4) == 0 ? DD_NAME_CERTIFICATE : DD_NAME_THING_GROUP,
                      sep + 1, arn, sizeof(arn)) != DD_NAMES_OK) {
        return 0;
    }
    return t->fn != NULL ? t->fn(t->ctx, arn) : 0;
}

dd_registry_status_t dd_registry_policy_targets(dd_registry_t *reg, const char *policy,
                                                const dd_registry_page_t *page,
                                                dd_registry_name_fn fn, void *ctx, char *next,
                                                size_t next_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    target_arn_ctx_t t;

    clear_error(err);
    if (reg == NULL || policy == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = policy_must_exist(reg, policy, err)) != DD_REGISTRY_OK) {
        return status;
    }
    t.reg = reg;
    t.fn = fn;
    t.ctx = ctx;
    return list_names(reg,
                      "SELECT target_kind || char(31) || target AS k FROM policy_targets"
                      " WHERE policy = ?1 AND k > ?2 ORDER BY k LIMIT ?3",
                      policy, page, emit_target_arn, &t, next, next_len, err);
}

/* ---- SNS subscriptions ---------------------------------------------------------- */

dd_registry_status_t dd_registry_subscription_add(dd_registry_t *reg, const char *topic,
                                                  const char *protocol, const char *endpoint,
                                                  int64_t *id, dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    int rc;

    clear_error(err);
    if (reg == NULL || topic == NULL || protocol == NULL || endpoint == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (!dd_name_valid(DD_NAME_SNS_TOPIC, topic)) {
        return fail(err, DD_REGISTRY_INVALID, "Invalid SNS topic name '%.128s': must be %s", topic,
                    dd_name_pattern(DD_NAME_SNS_TOPIC));
    }
    if (strcmp(protocol, "lambda") == 0) {
        /* Made by dd_lambda_add() only: the endpoint is the function's ARN, as in AWS. */
        if (strncmp(endpoint, "arn:aws:lambda:", 15) != 0 ||
            strstr(endpoint, ":function:") == NULL || strlen(endpoint) > DD_ARN_MAX - 1) {
            return fail(err, DD_REGISTRY_INVALID, "Endpoint '%.200s' must be a Lambda function ARN",
                        endpoint);
        }
    } else if (strcmp(protocol, "http") != 0 && strcmp(protocol, "https") != 0) {
        return fail(err, DD_REGISTRY_INVALID, "Unsupported protocol '%.32s': use http or https",
                    protocol);
    } else if (strncmp(endpoint, protocol, strlen(protocol)) != 0 ||
               strncmp(endpoint + strlen(protocol), "://", 3) != 0 || strlen(endpoint) > 2048) {
        return fail(err, DD_REGISTRY_INVALID, "Endpoint '%.200s' must be a %s:// URL", endpoint,
                    protocol);
    }
    st = prep(reg, "INSERT INTO sns_subscriptions(topic, protocol, endpoint, created_ms) "
                   "VALUES(?1, ?2, ?3, ?4)"
                   " ON CONFLICT(topic, protocol, endpoint) DO UPDATE SET topic = excluded.topic "
                   "RETURNING id");
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    bind_text(st, 1, topic);
    bind_text(st, 2, protocol);
    bind_text(st, 3, endpoint);
    (void)sqlite3_bind_int64(st, 4, now_ms(reg));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && id != NULL) {
        *id = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : sql_fail(reg, err);
}

dd_registry_status_t dd_registry_subscription_remove(dd_registry_t *reg, int64_t id,
                                                     dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    int rc;

    clear_error(err);
    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = prep(reg, "DELETE FROM sns_subscriptions WHERE id = ?1");
    if (st == NULL) {
        return sql_fail(reg, err);
    }
    (void)sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return sql_fail(reg, err);
    }
    return sqlite3_changes(reg->db) > 0 ? DD_REGISTRY_OK
                                        : fail(err, DD_REGISTRY_NOT_FOUND,
                                               "Subscription %lld does not exist", (long long)id);
}

dd_registry_status_t dd_registry_subscription_list(dd_registry_t *reg, const char *topic,
                                                   dd_registry_subscription_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = prep(reg, "SELECT id, topic, protocol, endpoint, created_ms FROM sns_subscriptions"
                   " WHERE ?1 IS NULL OR topic = ?1 ORDER BY id");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    bind_text(st, 1, topic);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_subscription_t s = {sqlite3_column_int64(st, 0), col_text(st, 1),
                                        col_text(st, 2), col_text(st, 3),
                                        sqlite3_column_int64(st, 4)};
        if (fn != NULL && fn(ctx, &s) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

/* ---- change log and entity state ------------------------------------------------------- */

dd_registry_status_t dd_registry_change_head(dd_registry_t *reg, int64_t *seq)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || seq == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    *seq = 0;
    st = prep(reg, "SELECT COALESCE(max(seq), 0) FROM registry_changes");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

dd_registry_status_t dd_registry_changes_since(dd_registry_t *reg, int64_t after, int limit,
                                               dd_registry_change_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = prep(reg,
              "SELECT seq, kind, name FROM registry_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_change_t c;
        c.seq = sqlite3_column_int64(st, 0);
        c.name = col_text(st, 2);
        if (!dd_registry_kind_parse(col_text(st, 1), &c.kind)) {
            continue;
        }
        if (fn != NULL && fn(ctx, &c) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

/* Adds the names a one-parameter query returns as a JSON array member. */
static bool add_name_array(dd_registry_t *reg, cJSON *obj, const char *member, const char *sql,
                           const char *arg)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, member);
    sqlite3_stmt *st = prep(reg, sql);
    int rc;

    if (arr == NULL || st == NULL) {
        sqlite3_finalize(st);
        return false;
    }
    bind_text(st, 1, arg);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *s = cJSON_CreateString(col_text(st, 0));
        if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            rc = SQLITE_ERROR;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
}

dd_registry_status_t dd_registry_entity_json(dd_registry_t *reg, dd_registry_kind_t kind,
                                             const char *name, cJSON **out)
{
    cJSON *obj;
    sqlite3_stmt *st = NULL;
    bool ok = true;
    int rc;

    if (reg == NULL || name == NULL || out == NULL || (unsigned)kind >= DD_REGISTRY_KIND_COUNT) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    *out = NULL;
    obj = cJSON_CreateObject();
    if (obj == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    switch (kind) {
    case DD_REGISTRY_KIND_THING: st = prep(reg, "SELECT 1 FROM things WHERE name = ?1"); break;
    case DD_REGISTRY_KIND_CERT:
        st = prep(reg, "SELECT status, is_service FROM certificates WHERE id = ?1");
        break;
    case DD_REGISTRY_KIND_GROUP:
        st = prep(reg, "SELECT parent FROM thing_groups WHERE name = ?1");
        break;
    case DD_REGISTRY_KIND_POLICY:
        st = prep(reg, "SELECT document FROM policies WHERE name = ?1");
        break;
    default: break;
    }
    if (st == NULL) {
        cJSON_Delete(obj);
        return DD_REGISTRY_STORE_ERROR;
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ok = cJSON_AddBoolToObject(obj, "exists", 1) != NULL;
        if (kind == DD_REGISTRY_KIND_CERT) {
            ok = ok && cJSON_AddStringToObject(obj, "status", col_text(st, 0)) != NULL &&
                 cJSON_AddBoolToObject(obj, "service", sqlite3_column_int(st, 1)) != NULL;
        } else if (kind == DD_REGISTRY_KIND_GROUP) {
            ok = ok && (sqlite3_column_type(st, 0) == SQLITE_NULL
                            ? cJSON_AddNullToObject(obj, "parent") != NULL
                            : cJSON_AddStringToObject(obj, "parent", col_text(st, 0)) != NULL);
        } else if (kind == DD_REGISTRY_KIND_POLICY) {
            ok = ok && cJSON_AddStringToObject(obj, "document", col_text(st, 0)) != NULL;
        }
    } else if (rc == SQLITE_DONE) {
        ok = cJSON_AddBoolToObject(obj, "exists", 0) != NULL;
    } else {
        ok = false;
    }
    sqlite3_finalize(st);
    if (ok && rc == SQLITE_ROW) {
        switch (kind) {
        case DD_REGISTRY_KIND_THING:
            ok = add_name_array(
                reg, obj, "groups",
                "SELECT group_name FROM thing_group_members WHERE thing = ?1 ORDER BY group_name",
                name);
            break;
        case DD_REGISTRY_KIND_CERT:
            ok =
                add_name_array(
                    reg, obj, "things",
                    "SELECT thing FROM thing_principals WHERE cert_id = ?1 ORDER BY thing", name) &&
                add_name_array(
                    reg, obj, "policies",
                    "SELECT policy FROM policy_targets WHERE target_kind = 'cert' AND target = ?1"
                    " ORDER BY policy",
                    name);
            break;
        case DD_REGISTRY_KIND_GROUP:
            ok = add_name_array(
                reg, obj, "policies",
                "SELECT policy FROM policy_targets WHERE target_kind = 'group' AND target = ?1"
                " ORDER BY policy",
                name);
            break;
        default: break;
        }
    }
    if (!ok) {
        cJSON_Delete(obj);
        return DD_REGISTRY_STORE_ERROR;
    }
    *out = obj;
    return DD_REGISTRY_OK;
}

dd_registry_status_t dd_registry_entity_names(dd_registry_t *reg, dd_registry_kind_t kind,
                                              dd_registry_name_fn fn, void *ctx)
{
    static const char *const SQL[DD_REGISTRY_KIND_COUNT] = {
        "SELECT name FROM things WHERE name > ?2 AND ?1 = ?1 ORDER BY name LIMIT ?3",
        "SELECT id FROM certificates WHERE id > ?2 AND ?1 = ?1 ORDER BY id LIMIT ?3",
        "SELECT name FROM thing_groups WHERE name > ?2 AND ?1 = ?1 ORDER BY name LIMIT ?3",
        "SELECT name FROM policies WHERE name > ?2 AND ?1 = ?1 ORDER BY name LIMIT ?3",
    };

    if (reg == NULL || (unsigned)kind >= DD_REGISTRY_KIND_COUNT) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    return list_names(reg, SQL[kind], NULL, NULL, fn, ctx, NULL, 0, NULL);
}

/* ---- names ------------------------------------------------------------------------------ */

const char *dd_cert_status_name(dd_cert_status_t status)
{
    return (unsigned)status <= DD_CERT_PENDING_ACTIVATION ? CERT_STATUS_NAMES[status] : "UNKNOWN";
}

bool dd_cert_status_parse(const char *text, dd_cert_status_t *status)
{
    size_t i;

    if (text == NULL || status == NULL) {
        return false;
    }
    for (i = 0; i < sizeof(CERT_STATUS_NAMES) / sizeof(CERT_STATUS_NAMES[0]); i++) {
        if (strcmp(text, CERT_STATUS_NAMES[i]) == 0) {
            *status = (dd_cert_status_t)i;
            return true;
        }
    }
    return false;
}

const char *dd_registry_kind_name(dd_registry_kind_t kind)
{
    return (unsigned)kind < DD_REGISTRY_KIND_COUNT ? KIND_NAMES[kind] : "?";
}

bool dd_registry_kind_parse(const char *text, dd_registry_kind_t *kind)
{
    int i;

    if (text == NULL || kind == NULL) {
        return false;
    }
    for (i = 0; i < DD_REGISTRY_KIND_COUNT; i++) {
        if (strcmp(text, KIND_NAMES[i]) == 0) {
            *kind = (dd_registry_kind_t)i;
            return true;
        }
    }
    return false;
}

const char *dd_registry_strerror(dd_registry_status_t status)
{
    switch (status) {
    case DD_REGISTRY_OK: return "ok";
    case DD_REGISTRY_BAD_PARAMETER: return "bad parameter";
    case DD_REGISTRY_INVALID: return "invalid request";
    case DD_REGISTRY_NOT_FOUND: return "resource not found";
    case DD_REGISTRY_ALREADY_EXISTS: return "resource already exists";
    case DD_REGISTRY_VERSION_CONFLICT: return "version conflict";
    case DD_REGISTRY_DELETE_CONFLICT: return "resource is still in use";
    case DD_REGISTRY_LIMIT_EXCEEDED: return "limit exceeded";
    case DD_REGISTRY_STORE_ERROR: return "store error";
    }
    return "unknown registry status";
}
