#include "dd_registry_internal.h"

#include "dd_policy.h"

#include <stdio.h>
#include <string.h>

/* ---- policies ---------------------------------------------------------------- */

static dd_registry_status_t policy_must_exist(dd_registry_t *reg, const char *name,
                                              dd_registry_error_t *err)
{
    dd_registry_status_t status = dd_registry_check_name(DD_NAME_POLICY, name, err);

    if (status == DD_REGISTRY_OK &&
        dd_registry_exists2(reg, "SELECT 1 FROM policies WHERE name = ?1", name, NULL) != 1) {
        status = dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Policy %s does not exist", name);
    }
    return status;
}

dd_registry_status_t dd_registry_policy_create(dd_registry_t *reg, const char *name,
                                               const char *document, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    char why[DD_POLICY_ERROR_MAX];
    sqlite3_stmt *st;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL || document == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_check_name(DD_NAME_POLICY, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (strlen(document) > DD_REGISTRY_MAX_POLICY_DOC) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Policy document is longer than %d characters",
                                DD_REGISTRY_MAX_POLICY_DOC);
    }
    if (dd_policy_validate(document, strlen(document), why, sizeof(why)) != DD_POLICY_OK) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID, "Policy document is malformed: %s", why);
    }
    if (dd_registry_exists2(reg, "SELECT 1 FROM policies WHERE name = ?1", name, NULL) == 1) {
        if (err != NULL) {
            dd_registry_copy_out(err->resource_id, sizeof(err->resource_id), name);
            (void)dd_arn_format(&reg->arn, DD_NAME_POLICY, name, err->resource_arn,
                                sizeof(err->resource_arn));
        }
        return dd_registry_fail(err, DD_REGISTRY_ALREADY_EXISTS, "Policy %s already exists", name);
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(
        reg,
        "INSERT INTO policies(name, document, created_ms, modified_ms) VALUES(?1, ?2, ?3, ?3)");
    if (st == NULL) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        (void)dd_db_bind_text(st, 1, name);
        (void)dd_db_bind_text(st, 2, document);
        (void)sqlite3_bind_int64(st, 3, dd_registry_now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_exec3(reg,
                                   "INSERT INTO policy_versions(policy, version_id, document,"
                                   " created_ms) SELECT name, 1, document, created_ms"
                                   " FROM policies WHERE name = ?1",
                                   name, NULL, NULL, err);
    }
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_POLICY, name, err);
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_policy_get(dd_registry_t *reg, const char *name,
                                            dd_registry_policy_fn fn, void *ctx,
                                            dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    dd_registry_status_t status;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = policy_must_exist(reg, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(
        reg,
        "SELECT name, document, version_id, created_ms, modified_ms FROM policies WHERE name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && fn != NULL) {
        dd_registry_policy_t p = {dd_db_column_text(st, 0), dd_db_column_text(st, 1),
                                  dd_db_column_text(st, 2), sqlite3_column_int64(st, 3),
                                  sqlite3_column_int64(st, 4)};
        (void)fn(ctx, &p);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

dd_registry_status_t dd_registry_policy_delete(dd_registry_t *reg, const char *name,
                                               dd_registry_error_t *err)
{
    dd_registry_status_t status;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = policy_must_exist(reg, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (dd_registry_exists2(reg, "SELECT 1 FROM policy_targets WHERE policy = ?1", name, NULL) ==
        1) {
        return dd_registry_fail(err, DD_REGISTRY_DELETE_CONFLICT,
                                "Policy %s is attached to one or more targets; detach it first",
                                name);
    }
    if (dd_registry_exists2(
            reg,
            "SELECT 1 FROM policy_versions v JOIN policies p ON p.name = v.policy"
            " WHERE v.policy = ?1 AND v.version_id != CAST(p.version_id AS INTEGER)",
            name, NULL) == 1) {
        return dd_registry_fail(err, DD_REGISTRY_DELETE_CONFLICT,
                                "Policy %s has versions other than the default one; delete them"
                                " first (DeletePolicyVersion)",
                                name);
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    /* Explicit rather than left to ON DELETE CASCADE: a handle opened without
     * foreign_keys=ON must not leave versions that a re-created policy trips over. */
    status = dd_registry_exec3(reg, "DELETE FROM policy_versions WHERE policy = ?1", name, NULL,
                               NULL, err);
    if (status == DD_REGISTRY_OK) {
        status =
            dd_registry_exec3(reg, "DELETE FROM policies WHERE name = ?1", name, NULL, NULL, err);
    }
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_POLICY, name, err);
    }
    return dd_registry_savepoint_end(reg, status);
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
    dd_registry_page_after(page, after, sizeof(after));
    dd_registry_copy_out(next, next_len, "");
    st = dd_registry_prep(
        reg, ascending ? "SELECT name, document, version_id, created_ms, modified_ms FROM policies"
                         " WHERE name > ?1 ORDER BY name LIMIT ?2"
                       : "SELECT name, document, version_id, created_ms, modified_ms FROM policies"
                         " WHERE ?1 = '' OR name < ?1 ORDER BY name DESC LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_policy_t p = {dd_db_column_text(st, 0), dd_db_column_text(st, 1),
                                  dd_db_column_text(st, 2), sqlite3_column_int64(st, 3),
                                  sqlite3_column_int64(st, 4)};
        if (limit > 0 && count == limit) {
            dd_registry_copy_out(next, next_len, last);
            break;
        }
        dd_registry_copy_out(last, sizeof(last), p.name);
        count++;
        if (fn != NULL && fn(ctx, &p) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

/* ---- policy versions ------------------------------------------------------------- */

/* Version IDs are decimal integers ([0-9]+ in the AWS model). */
static dd_registry_status_t parse_version_id(const char *text, int64_t *out,
                                             dd_registry_error_t *err)
{
    int64_t v = 0;
    size_t i;
    size_t n = text != NULL ? strlen(text) : 0;

    if (n == 0 || n > 18) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Invalid policy version ID '%.40s': must be 1 to 18 digits",
                                text != NULL ? text : "");
    }
    for (i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                    "Invalid policy version ID '%.40s': must be 1 to 18 digits",
                                    text);
        }
        v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return DD_REGISTRY_OK;
}

/* One integer from a query with a text ?1 and an integer ?2; -1 when no row or on error. */
static int64_t query_int(dd_registry_t *reg, const char *sql, const char *a, int64_t b)
{
    sqlite3_stmt *st = dd_registry_prep(reg, sql);
    int64_t v = -1;

    if (st == NULL) {
        return -1;
    }
    (void)dd_db_bind_text(st, 1, a);
    (void)sqlite3_bind_int64(st, 2, b);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* Runs an UPDATE/INSERT/DELETE with a text ?1, an integer ?2 and an integer ?3. */
static dd_registry_status_t exec_text_int(dd_registry_t *reg, const char *sql, const char *a,
                                          int64_t b, int64_t c, dd_registry_error_t *err)
{
    sqlite3_stmt *st = dd_registry_prep(reg, sql);
    int rc;

    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, a);
    (void)sqlite3_bind_int64(st, 2, b);
    (void)sqlite3_bind_int64(st, 3, c);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

/*
 * Makes version @p v the default: the copy in policies is what the shim
 * snapshot and GetPolicy read, so it changes in the same savepoint.
 */
static dd_registry_status_t make_default(dd_registry_t *reg, const char *name, int64_t v,
                                         dd_registry_error_t *err)
{
    dd_registry_status_t status = exec_text_int(
        reg,
        "UPDATE policies SET version_id = CAST(?2 AS TEXT), modified_ms = ?3,"
        " document = (SELECT document FROM policy_versions WHERE policy = ?1 AND version_id = ?2)"
        " WHERE name = ?1",
        name, v, dd_registry_now_ms(reg), err);

    if (status == DD_REGISTRY_OK) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_POLICY, name, err);
    }
    return status;
}

/* Checks the policy and the version exist; *v is the parsed ID. */
static dd_registry_status_t version_must_exist(dd_registry_t *reg, const char *name,
                                               const char *version_id, int64_t *v,
                                               dd_registry_error_t *err)
{
    dd_registry_status_t status;

    if ((status = policy_must_exist(reg, name, err)) != DD_REGISTRY_OK ||
        (status = parse_version_id(version_id, v, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (query_int(reg, "SELECT 1 FROM policy_versions WHERE policy = ?1 AND version_id = ?2", name,
                  *v) != 1) {
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Policy %s has no version %s", name,
                                version_id);
    }
    return DD_REGISTRY_OK;
}

dd_registry_status_t dd_registry_policy_version_create(dd_registry_t *reg, const char *name,
                                                       const char *document, bool set_default,
                                                       char *version_id, size_t version_id_len,
                                                       dd_registry_error_t *err)
{
    dd_registry_status_t status;
    char why[DD_POLICY_ERROR_MAX];
    int64_t v;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL || document == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    dd_registry_copy_out(version_id, version_id_len, "");
    if ((status = policy_must_exist(reg, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (strlen(document) > DD_REGISTRY_MAX_POLICY_DOC) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Policy document is longer than %d characters",
                                DD_REGISTRY_MAX_POLICY_DOC);
    }
    if (dd_policy_validate(document, strlen(document), why, sizeof(why)) != DD_POLICY_OK) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID, "Policy document is malformed: %s", why);
    }
    if (query_int(reg, "SELECT count(*) FROM policy_versions WHERE policy = ?1 AND ?2 = ?2", name,
                  0) >= DD_REGISTRY_MAX_POLICY_VERSIONS) {
        return dd_registry_fail(err, DD_REGISTRY_LIMIT_EXCEEDED,
                                "Policy %s already has %d versions, the most allowed; delete one"
                                " first (DeletePolicyVersion)",
                                name, DD_REGISTRY_MAX_POLICY_VERSIONS);
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    v = query_int(reg, "SELECT next_version FROM policies WHERE name = ?1 AND ?2 = ?2", name, 0);
    if (v < 1) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        sqlite3_stmt *st =
            dd_registry_prep(reg,
                             "INSERT INTO policy_versions(policy, version_id, document, created_ms)"
                             " VALUES(?1, ?2, ?3, ?4)");
        if (st == NULL) {
            status = dd_registry_sql_fail(reg, err);
        } else {
            (void)dd_db_bind_text(st, 1, name);
            (void)sqlite3_bind_int64(st, 2, v);
            (void)dd_db_bind_text(st, 3, document);
            (void)sqlite3_bind_int64(st, 4, dd_registry_now_ms(reg));
            status =
                sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
            sqlite3_finalize(st);
        }
    }
    if (status == DD_REGISTRY_OK) {
        status = exec_text_int(reg,
                               "UPDATE policies SET next_version = ?2 + 1 WHERE name = ?1"
                               " AND ?3 = ?3",
                               name, v, 0, err);
    }
    if (status == DD_REGISTRY_OK && set_default) {
        status = make_default(reg, name, v, err);
    }
    status = dd_registry_savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK && version_id != NULL && version_id_len > 0) {
        (void)snprintf(version_id, version_id_len, "%lld", (long long)v);
    }
    return status;
}

static dd_registry_status_t emit_versions(dd_registry_t *reg, sqlite3_stmt *st,
                                          dd_registry_policy_version_fn fn, void *ctx,
                                          dd_registry_error_t *err)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_policy_version_t pv = {dd_db_column_text(st, 0),
                                           dd_db_column_text(st, 1),
                                           dd_db_column_text(st, 2),
                                           sqlite3_column_int(st, 3) != 0,
                                           sqlite3_column_int64(st, 4),
                                           sqlite3_column_int64(st, 5)};
        if (fn != NULL && fn(ctx, &pv) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK
                                                   : dd_registry_sql_fail(reg, err);
}

#define VERSION_COLUMNS                                                          \
    "SELECT v.policy, CAST(v.version_id AS TEXT), v.document,"                   \
    " v.version_id = CAST(p.version_id AS INTEGER), v.created_ms, p.modified_ms" \
    " FROM policy_versions v JOIN policies p ON p.name = v.policy"

dd_registry_status_t dd_registry_policy_version_get(dd_registry_t *reg, const char *name,
                                                    const char *version_id,
                                                    dd_registry_policy_version_fn fn, void *ctx,
                                                    dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    int64_t v;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL || version_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = version_must_exist(reg, name, version_id, &v, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg, VERSION_COLUMNS " WHERE v.policy = ?1 AND v.version_id = ?2");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    (void)sqlite3_bind_int64(st, 2, v);
    return emit_versions(reg, st, fn, ctx, err);
}

dd_registry_status_t dd_registry_policy_version_list(dd_registry_t *reg, const char *name,
                                                     dd_registry_policy_version_fn fn, void *ctx,
                                                     dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = policy_must_exist(reg, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg, VERSION_COLUMNS " WHERE v.policy = ?1 ORDER BY v.version_id DESC");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    return emit_versions(reg, st, fn, ctx, err);
}

dd_registry_status_t dd_registry_policy_version_delete(dd_registry_t *reg, const char *name,
                                                       const char *version_id,
                                                       dd_registry_error_t *err)
{
    dd_registry_status_t status;
    int64_t v;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL || version_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = version_must_exist(reg, name, version_id, &v, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (query_int(reg,
                  "SELECT 1 FROM policies WHERE name = ?1 AND CAST(version_id AS INTEGER) = ?2",
                  name, v) == 1) {
        return dd_registry_fail(err, DD_REGISTRY_DELETE_CONFLICT,
                                "Version %s is the default version of policy %s; make another"
                                " version the default first (SetDefaultPolicyVersion)",
                                version_id, name);
    }
    /* Not the default: nothing the shim enforces changes, so no change is logged. */
    return exec_text_int(reg,
                         "DELETE FROM policy_versions WHERE policy = ?1 AND version_id = ?2"
                         " AND ?3 = ?3",
                         name, v, 0, err);
}

dd_registry_status_t dd_registry_policy_version_set_default(dd_registry_t *reg, const char *name,
                                                            const char *version_id,
                                                            dd_registry_error_t *err)
{
    dd_registry_status_t status;
    int64_t v;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL || version_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = version_must_exist(reg, name, version_id, &v, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    return dd_registry_savepoint_end(reg, make_default(reg, name, v, err));
}

/* Splits a policy target ARN into ("cert"|"group", name) after checking the entity exists. */
static dd_registry_status_t parse_policy_target(dd_registry_t *reg, const char *target_arn,
                                                const char **kind, char *name, size_t len,
                                                dd_registry_error_t *err)
{
    if (dd_arn_parse(&reg->arn, DD_NAME_CERTIFICATE, target_arn, name, len) == DD_NAMES_OK) {
        *kind = "cert";
        return dd_registry_cert_must_exist(reg, name, err);
    }
    if (dd_arn_parse(&reg->arn, DD_NAME_THING_GROUP, target_arn, name, len) == DD_NAMES_OK) {
        *kind = "group";
        return dd_registry_group_must_exist(reg, name, err);
    }
    return dd_registry_fail(
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

    dd_registry_clear_error(err);
    if (reg == NULL || policy == NULL || target_arn == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = policy_must_exist(reg, policy, err)) != DD_REGISTRY_OK ||
        (status = parse_policy_target(reg, target_arn, &kind, name, sizeof(name), err)) !=
            DD_REGISTRY_OK) {
        return status;
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = dd_registry_exec3(
        reg,
        attach
            ? "INSERT OR IGNORE INTO policy_targets(policy, target_kind, target) VALUES(?1, ?2, ?3)"
            : "DELETE FROM policy_targets WHERE policy = ?1 AND target_kind = ?2 AND target = ?3",
        policy, kind, name, err);
    if (status == DD_REGISTRY_OK && sqlite3_changes(reg->db) > 0) {
        status = dd_registry_log_change(reg,
                                        strcmp(kind, "cert") == 0 ? DD_REGISTRY_KIND_CERT
                                                                  : DD_REGISTRY_KIND_GROUP,
                                        name, err);
    }
    return dd_registry_savepoint_end(reg, status);
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

    dd_registry_clear_error(err);
    if (reg == NULL || target_arn == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = parse_policy_target(reg, target_arn, &kind, name, sizeof(name), err)) !=
        DD_REGISTRY_OK) {
        return status;
    }
    (void)snprintf(filter, sizeof(filter), "%s", name);
    if (strcmp(kind, "cert") == 0) {
        return dd_registry_list_names(
            reg,
            "SELECT policy FROM policy_targets WHERE target_kind = 'cert' AND target = ?1"
            " AND policy > ?2 ORDER BY policy LIMIT ?3",
            filter, page, fn, ctx, next, next_len, err);
    }
    return dd_registry_list_names(
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

    dd_registry_clear_error(err);
    if (reg == NULL || policy == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = policy_must_exist(reg, policy, err)) != DD_REGISTRY_OK) {
        return status;
    }
    t.reg = reg;
    t.fn = fn;
    t.ctx = ctx;
    return dd_registry_list_names(
        reg,
        "SELECT target_kind || char(31) || target AS k FROM policy_targets"
        " WHERE policy = ?1 AND k > ?2 ORDER BY k LIMIT ?3",
        policy, page, emit_target_arn, &t, next, next_len, err);
}
