#include "dd_registry_internal.h"

#include "dd_db.h"
#include "dd_log.h"
#include "dd_seed.h"

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
    /*
     * Policy versions (CreatePolicyVersion and friends). policies.document and
     * policies.version_id stay as a copy of the default version so that every
     * reader of the policy (the shim snapshot first) sees what is enforced
     * without a join; next_version numbers versions like AWS, never reusing an
     * ID. Existing policies become version 1.
     */
    {2, "CREATE TABLE policy_versions("
        "  policy TEXT NOT NULL REFERENCES policies(name) ON DELETE CASCADE,"
        "  version_id INTEGER NOT NULL,"
        "  document TEXT NOT NULL,"
        "  created_ms INTEGER NOT NULL,"
        "  PRIMARY KEY(policy, version_id));"
        "ALTER TABLE policies ADD COLUMN next_version INTEGER NOT NULL DEFAULT 2;"
        "INSERT INTO policy_versions(policy, version_id, document, created_ms)"
        "  SELECT name, CAST(version_id AS INTEGER), document, created_ms FROM policies;"
        "UPDATE policies SET next_version = CAST(version_id AS INTEGER) + 1;"},
    /* Thing types (CreateThingType ... DeleteThingType); deprecated_ms is 0 while in use. */
    {3, "CREATE TABLE thing_types("
        "  name TEXT PRIMARY KEY,"
        "  type_id TEXT NOT NULL UNIQUE,"
        "  description TEXT NOT NULL DEFAULT '',"
        "  searchable TEXT NOT NULL DEFAULT '[]',"
        "  deprecated INTEGER NOT NULL DEFAULT 0,"
        "  deprecated_ms INTEGER NOT NULL DEFAULT 0,"
        "  created_ms INTEGER NOT NULL);"},
    /* Tags of any taggable resource, by ARN (TagResource, the `tags` of Create calls). */
    {4, "CREATE TABLE resource_tags("
        "  arn TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  value TEXT NOT NULL,"
        "  PRIMARY KEY(arn, key));"},
    /*
     * CA certificates (RegisterCACertificate ...) and the device certificates
     * registered with one (ca_cert_id; '' = ddlocal's own CA or none); mode is
     * AWS's certificateMode. crls holds the issuers' revocation lists the audit reads.
     */
    {5, "CREATE TABLE ca_certificates("
        "  id TEXT PRIMARY KEY,"
        "  pem TEXT NOT NULL,"
        "  status TEXT NOT NULL CHECK(status IN ('ACTIVE','INACTIVE')),"
        "  auto_registration INTEGER NOT NULL DEFAULT 0,"
        "  mode TEXT NOT NULL DEFAULT 'DEFAULT',"
        "  registration_config TEXT NOT NULL DEFAULT '{}',"
        "  created_ms INTEGER NOT NULL,"
        "  modified_ms INTEGER NOT NULL);"
        "ALTER TABLE certificates ADD COLUMN ca_cert_id TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE certificates ADD COLUMN mode TEXT NOT NULL DEFAULT 'DEFAULT';"
        "CREATE INDEX certificates_ca ON certificates(ca_cert_id);"
        "CREATE TABLE crls("
        "  issuer TEXT PRIMARY KEY,"
        "  pem TEXT NOT NULL,"
        "  this_update_ms INTEGER NOT NULL);"},
    /* Provisioning templates (fleet provisioning). The template's body is the
     * body of its default version; next_version numbers versions like AWS,
     * never reusing an id. */
    {6, "CREATE TABLE provisioning_templates("
        "  name TEXT PRIMARY KEY,"
        "  template_id TEXT NOT NULL UNIQUE,"
        "  description TEXT NOT NULL DEFAULT '',"
        "  enabled INTEGER NOT NULL DEFAULT 0,"
        "  role_arn TEXT NOT NULL,"
        "  type TEXT NOT NULL,"
        "  hook TEXT NOT NULL DEFAULT '',"
        "  default_version INTEGER NOT NULL DEFAULT 1,"
        "  next_version INTEGER NOT NULL DEFAULT 2,"
        "  created_ms INTEGER NOT NULL,"
        "  modified_ms INTEGER NOT NULL);"
        "CREATE TABLE provisioning_template_versions("
        "  template TEXT NOT NULL,"
        "  version_id INTEGER NOT NULL,"
        "  body TEXT NOT NULL,"
        "  created_ms INTEGER NOT NULL,"
        "  PRIMARY KEY(template, version_id));"},
    /*
     * What the audit reads about each device and CA certificate (dd_certfacts.h), stored
     * when the certificate is registered so that an audit reads rows instead of parsing
     * every PEM; dd_registry_open() back-fills the rows written before this migration.
     * not_after_ms IS NULL: no facts (the audit parses that PEM). key_verdict is the key
     * vulnerability verdict of the audit's key checks (dd_certfacts_t.roca: "CVE-2017-15361"
     * or "" = assessed, clean), NULL = not assessed (then the audit parses an RSA key's PEM). The
     * (created_ms, id) indexes serve the listings' order: without them, every listing
     * of 10,000 certificates sorted their PEMs in a temporary file.
     */
    {7, "ALTER TABLE certificates ADD COLUMN not_before_ms INTEGER;"
        "ALTER TABLE certificates ADD COLUMN not_after_ms INTEGER;"
        "ALTER TABLE certificates ADD COLUMN key_type TEXT;"
        "ALTER TABLE certificates ADD COLUMN key_bits INTEGER;"
        "ALTER TABLE certificates ADD COLUMN subject_hash INTEGER;"
        "ALTER TABLE certificates ADD COLUMN issuer_hash INTEGER;"
        "ALTER TABLE certificates ADD COLUMN serial TEXT;"
        "ALTER TABLE certificates ADD COLUMN key_verdict TEXT;"
        "ALTER TABLE ca_certificates ADD COLUMN not_before_ms INTEGER;"
        "ALTER TABLE ca_certificates ADD COLUMN not_after_ms INTEGER;"
        "ALTER TABLE ca_certificates ADD COLUMN key_type TEXT;"
        "ALTER TABLE ca_certificates ADD COLUMN key_bits INTEGER;"
        "ALTER TABLE ca_certificates ADD COLUMN subject_hash INTEGER;"
        "ALTER TABLE ca_certificates ADD COLUMN issuer_hash INTEGER;"
        "ALTER TABLE ca_certificates ADD COLUMN serial TEXT;"
        "ALTER TABLE ca_certificates ADD COLUMN key_verdict TEXT;"
        "CREATE INDEX certificates_created ON certificates(created_ms, id);"
        "CREATE INDEX ca_certificates_created ON ca_certificates(created_ms, id);"},
};

/* The migration that added the certificate facts, back-filled by dd_registry_open(). */
#define FACTS_MIGRATION 7

static const char *const KIND_NAMES[DD_REGISTRY_KIND_COUNT] = {"thing", "cert", "group", "policy"};
static const char *const CERT_STATUS_NAMES[] = {"ACTIVE", "INACTIVE", "REVOKED",
                                                "PENDING_ACTIVATION"};
/* ---- small helpers ------------------------------------------------------ */

dd_registry_status_t dd_registry_fail(dd_registry_error_t *err, dd_registry_status_t status,
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

void dd_registry_clear_error(dd_registry_error_t *err)
{
    if (err != NULL) {
        err->message[0] = '\0';
        err->resource_id[0] = '\0';
        err->resource_arn[0] = '\0';
    }
}

dd_registry_status_t dd_registry_sql_fail(dd_registry_t *reg, dd_registry_error_t *err)
{
    (void)dd_db_fail(reg->db, "registry", "sqlite");
    return dd_registry_fail(err, DD_REGISTRY_STORE_ERROR, "Internal store error: %s",
                            sqlite3_errmsg(reg->db));
}

int64_t dd_registry_now_ms(const dd_registry_t *reg)
{
    return reg->clock != NULL ? dd_clock_now_ms(reg->clock) : dd_clock_wall_ms();
}

sqlite3_stmt *dd_registry_prep(dd_registry_t *reg, const char *sql)
{
    sqlite3_stmt *st = NULL;

    (void)dd_db_prepare(reg->db, sql, &st);
    return st;
}

/* Runs a statement without result rows; binds up to three text parameters. */
dd_registry_status_t dd_registry_exec3(dd_registry_t *reg, const char *sql, const char *a,
                                       const char *b, const char *c, dd_registry_error_t *err)
{
    sqlite3_stmt *st = dd_registry_prep(reg, sql);
    int rc;

    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, a);
    if (b != NULL) {
        (void)dd_db_bind_text(st, 2, b);
    }
    if (c != NULL) {
        (void)dd_db_bind_text(st, 3, c);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

/* Returns 1 when the query yields a row, 0 when not, -1 on error. */
int dd_registry_exists2(dd_registry_t *reg, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = dd_registry_prep(reg, sql);
    int rc;

    if (st == NULL) {
        return -1;
    }
    (void)dd_db_bind_text(st, 1, a);
    if (b != NULL) {
        (void)dd_db_bind_text(st, 2, b);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : (rc == SQLITE_DONE ? 0 : -1);
}

dd_registry_status_t dd_registry_savepoint_begin(dd_registry_t *reg, dd_registry_error_t *err)
{
    return dd_db_exec(reg->db, "SAVEPOINT dd_registry") == DD_DB_OK
               ? DD_REGISTRY_OK
               : dd_registry_sql_fail(reg, err);
}

dd_registry_status_t dd_registry_savepoint_end(dd_registry_t *reg, dd_registry_status_t status)
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

dd_registry_status_t dd_registry_log_change(dd_registry_t *reg, dd_registry_kind_t kind,
                                            const char *name, dd_registry_error_t *err)
{
    sqlite3_stmt *st =
        dd_registry_prep(reg,
                         "INSERT INTO registry_changes(kind, name, changed_ms) VALUES(?1, ?2, ?3)");
    int rc;

    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, KIND_NAMES[kind]);
    (void)dd_db_bind_text(st, 2, name);
    (void)sqlite3_bind_int64(st, 3, dd_registry_now_ms(reg));
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

dd_registry_status_t dd_registry_new_uuid(const char *stream, char *buf, size_t len)
{
    if (buf == NULL || len < DD_SEED_UUID_LEN || dd_seed_uuid(stream, buf) != DD_SEED_OK) {
        return DD_REGISTRY_STORE_ERROR;
    }
    return DD_REGISTRY_OK;
}

void dd_registry_copy_out(char *dst, size_t len, const char *src)
{
    if (dst != NULL && len > 0) {
        (void)snprintf(dst, len, "%s", src);
    }
}

dd_registry_status_t dd_registry_check_name(dd_name_kind_t kind, const char *name,
                                            dd_registry_error_t *err)
{
    if (!dd_name_valid(kind, name)) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID, "Invalid %s name '%.140s': must be %s",
                                dd_name_noun(kind), name != NULL ? name : "",
                                dd_name_pattern(kind));
    }
    return DD_REGISTRY_OK;
}

/* Attributes are a JSON object of string values (AWS AttributePayload). */
dd_registry_status_t dd_registry_check_attributes(const char *json, dd_registry_error_t *err)
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
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Attributes must be a JSON object of strings");
    }
    cJSON_ArrayForEach (item, root) {
        if (!cJSON_IsString(item) || strlen(item->string) == 0 || strlen(item->string) > 128 ||
            strlen(item->valuestring) > 800) {
            status = dd_registry_fail(
                err, DD_REGISTRY_INVALID,
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
void dd_registry_page_after(const dd_registry_page_t *page, char *buf, size_t len)
{
    dd_registry_copy_out(buf, len, (page != NULL && page->after != NULL) ? page->after : "");
}

/*
 * Generic paged list of names: @p sql must use ?1 for the filter (may be
 * unused), ?2 for the exclusive lower bound and ?3 for the row limit, and
 * return the name in column 0 ordered ascending.
 */
dd_registry_status_t dd_registry_list_names(dd_registry_t *reg, const char *sql, const char *filter,
                                            const dd_registry_page_t *page, dd_registry_name_fn fn,
                                            void *ctx, char *next, size_t next_len,
                                            dd_registry_error_t *err)
{
    sqlite3_stmt *st = dd_registry_prep(reg, sql);
    int limit = (page != NULL && page->limit > 0) ? page->limit : -1;
    int count = 0;
    int rc;
    char last[DD_ARN_MAX] = "";
    char after[DD_ARN_MAX];

    dd_registry_page_after(page, after, sizeof(after));
    if (next != NULL && next_len > 0) {
        next[0] = '\0';
    }
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, filter != NULL ? filter : "");
    (void)dd_db_bind_text(st, 2, after);
    (void)sqlite3_bind_int(st, 3, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = dd_db_column_text(st, 0);
        if (limit > 0 && count == limit) {
            dd_registry_copy_out(next, next_len, last);
            break;
        }
        dd_registry_copy_out(last, sizeof(last), name);
        count++;
        if (fn != NULL && fn(ctx, name) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK
                                                   : dd_registry_sql_fail(reg, err);
}

/* ---- lifecycle and settings ------------------------------------------------ */

dd_registry_status_t dd_registry_open(dd_registry_t *reg, sqlite3 *db, const dd_arn_ctx_t *arn,
                                      const dd_clock_t *clock)
{
    int before = 0;

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
    if (dd_db_schema_version(db, "registry", &before) != DD_DB_OK ||
        dd_db_migrate(db, "registry", MIGRATIONS, sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])) !=
            DD_DB_OK) {
        return DD_REGISTRY_STORE_ERROR;
    }
    /*
     * The facts need OpenSSL, not SQL: stored here, once, right after the migration that
     * made room for them. Should this be interrupted, the rows stay without facts and the
     * audit parses their PEMs, as before: slower, never wrong.
     */
    if (before > 0 && before < FACTS_MIGRATION) {
        return dd_registry_facts_backfill(reg);
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
    st = dd_registry_prep(reg, "SELECT value FROM settings WHERE key = ?1");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *value = strdup(dd_db_column_text(st, 0));
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
    return dd_registry_exec3(reg,
                             "INSERT INTO settings(key, value) VALUES(?1, ?2)"
                             " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                             key, value, NULL, NULL);
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
    st = dd_registry_prep(reg, "SELECT COALESCE(max(seq), 0) FROM registry_changes");
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
    st = dd_registry_prep(
        reg, "SELECT seq, kind, name FROM registry_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)sqlite3_bind_int64(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_change_t c;
        c.seq = sqlite3_column_int64(st, 0);
        c.name = dd_db_column_text(st, 2);
        if (!dd_registry_kind_parse(dd_db_column_text(st, 1), &c.kind)) {
            continue;
        }
        if (fn != NULL && fn(ctx, &c) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
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
