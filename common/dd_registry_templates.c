#include "dd_registry_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- provisioning templates ------------------------------------------------------ */

/* The body is the default version's: one join, so that Describe needs one statement. */
#define TEMPLATE_SELECT                                                                     \
    "SELECT t.name, t.template_id, t.description, t.enabled, t.role_arn, t.type, t.hook,"   \
    " v.body, t.default_version, t.created_ms, t.modified_ms FROM provisioning_templates t" \
    " JOIN provisioning_template_versions v ON v.template = t.name"                         \
    " AND v.version_id = t.default_version"

static void template_from_row(sqlite3_stmt *st, dd_registry_template_t *t)
{
    t->name = dd_db_column_text(st, 0);
    t->template_id = dd_db_column_text(st, 1);
    t->description = dd_db_column_text(st, 2);
    t->enabled = sqlite3_column_int(st, 3) != 0;
    t->role_arn = dd_db_column_text(st, 4);
    t->type = dd_db_column_text(st, 5);
    t->hook_json = dd_db_column_text(st, 6);
    t->body = dd_db_column_text(st, 7);
    t->default_version = sqlite3_column_int64(st, 8);
    t->created_ms = sqlite3_column_int64(st, 9);
    t->modified_ms = sqlite3_column_int64(st, 10);
}

static dd_registry_status_t template_must_exist(dd_registry_t *reg, const char *name,
                                                dd_registry_error_t *err)
{
    int found = dd_registry_exists2(reg, "SELECT 1 FROM provisioning_templates WHERE name = ?1",
                                    name, NULL);

    if (found < 0) {
        return dd_registry_sql_fail(reg, err);
    }
    if (found == 0) {
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND,
                                "The provisioning template %.64s does not exist", name);
    }
    return DD_REGISTRY_OK;
}

static dd_registry_status_t insert_version(dd_registry_t *reg, const char *name, int64_t version,
                                           const char *body, dd_registry_error_t *err)
{
    sqlite3_stmt *st =
        dd_registry_prep(reg, "INSERT INTO provisioning_template_versions(template,"
                              " version_id, body, created_ms) VALUES(?1, ?2, ?3, ?4)");
    dd_registry_status_t status;

    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    (void)sqlite3_bind_int64(st, 2, version);
    (void)dd_db_bind_text(st, 3, body);
    (void)sqlite3_bind_int64(st, 4, dd_registry_now_ms(reg));
    status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
    sqlite3_finalize(st);
    return status;
}

dd_registry_status_t dd_registry_template_create(dd_registry_t *reg,
                                                 const dd_registry_template_t *tpl,
                                                 dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    char id[40];
    int found;

    dd_registry_clear_error(err);
    if (reg == NULL || tpl == NULL || tpl->name == NULL || tpl->body == NULL ||
        tpl->role_arn == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_check_name(DD_NAME_PROVISIONING_TEMPLATE, tpl->name, err)) !=
        DD_REGISTRY_OK) {
        return status;
    }
    found = dd_registry_exists2(reg, "SELECT 1 FROM provisioning_templates WHERE name = ?1",
                                tpl->name, NULL);
    if (found < 0) {
        return dd_registry_sql_fail(reg, err);
    }
    if (found > 0) {
        if (err != NULL) {
            dd_registry_copy_out(err->resource_id, sizeof(err->resource_id), tpl->name);
            (void)dd_arn_format(&reg->arn, DD_NAME_PROVISIONING_TEMPLATE, tpl->name,
                                err->resource_arn, sizeof(err->resource_arn));
        }
        return dd_registry_fail(err, DD_REGISTRY_ALREADY_EXISTS,
                                "The provisioning template %s already exists", tpl->name);
    }
    if (dd_registry_new_uuid("provisioning-template-id", id, sizeof(id)) != DD_REGISTRY_OK) {
        return dd_registry_fail(err, DD_REGISTRY_STORE_ERROR, "Could not generate a template id");
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg, "INSERT INTO provisioning_templates(name, template_id, description,"
                               " enabled, role_arn, type, hook, created_ms, modified_ms)"
                               " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)");
    if (st == NULL) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        (void)dd_db_bind_text(st, 1, tpl->name);
        (void)dd_db_bind_text(st, 2, id);
        (void)dd_db_bind_text(st, 3, tpl->description != NULL ? tpl->description : "");
        (void)sqlite3_bind_int(st, 4, tpl->enabled ? 1 : 0);
        (void)dd_db_bind_text(st, 5, tpl->role_arn);
        (void)dd_db_bind_text(st, 6, tpl->type != NULL ? tpl->type : "FLEET_PROVISIONING");
        (void)dd_db_bind_text(st, 7, tpl->hook_json != NULL ? tpl->hook_json : "");
        (void)sqlite3_bind_int64(st, 8, dd_registry_now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = insert_version(reg, tpl->name, 1, tpl->body, err);
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_template_get(dd_registry_t *reg, const char *name,
                                              dd_registry_template_fn fn, void *ctx,
                                              dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    dd_registry_template_t t;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_prep(reg, TEMPLATE_SELECT " WHERE t.name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        template_from_row(st, &t);
        if (fn != NULL) {
            (void)fn(ctx, &t);
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND,
                                "The provisioning template %.64s does not exist", name);
    }
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

dd_registry_status_t dd_registry_template_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                               dd_registry_template_fn fn, void *ctx, char *next,
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
    dd_registry_page_after(page, after, sizeof(after));
    dd_registry_copy_out(next, next_len, "");
    st = dd_registry_prep(reg, TEMPLATE_SELECT " WHERE t.name > ?1 ORDER BY t.name LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_template_t t;

        if (limit > 0 && count == limit) {
            dd_registry_copy_out(next, next_len, last);
            break;
        }
        template_from_row(st, &t);
        dd_registry_copy_out(last, sizeof(last), t.name);
        count++;
        if (fn != NULL && fn(ctx, &t) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

static int version_exists(dd_registry_t *reg, const char *name, int64_t version)
{
    char text[24];

    (void)snprintf(text, sizeof(text), "%lld", (long long)version);
    return dd_registry_exists2(reg,
                               "SELECT 1 FROM provisioning_template_versions WHERE template = ?1"
                               " AND version_id = CAST(?2 AS INTEGER)",
                               name, text);
}

dd_registry_status_t dd_registry_template_update(dd_registry_t *reg, const char *name,
                                                 const dd_registry_template_update_t *u,
                                                 dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL || u == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = template_must_exist(reg, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (u->default_version > 0) {
        int found = version_exists(reg, name, u->default_version);

        if (found < 0) {
            return dd_registry_sql_fail(reg, err);
        }
        if (found == 0) {
            return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND,
                                    "The provisioning template %.64s has no version %lld", name,
                                    (long long)u->default_version);
        }
    }
    st = dd_registry_prep(reg,
                          "UPDATE provisioning_templates SET"
                          " description = COALESCE(?2, description),"
                          " enabled = CASE WHEN ?3 < 0 THEN enabled ELSE ?3 END,"
                          " role_arn = COALESCE(?4, role_arn),"
                          " hook = COALESCE(?5, hook),"
                          " default_version = CASE WHEN ?6 > 0 THEN ?6 ELSE default_version END,"
                          " modified_ms = ?7 WHERE name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    (void)dd_db_bind_text(st, 2, u->description);
    (void)sqlite3_bind_int(st, 3, u->enabled);
    (void)dd_db_bind_text(st, 4, u->role_arn);
    (void)dd_db_bind_text(st, 5, u->hook_json);
    (void)sqlite3_bind_int64(st, 6, u->default_version);
    (void)sqlite3_bind_int64(st, 7, dd_registry_now_ms(reg));
    status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
    sqlite3_finalize(st);
    return status;
}

dd_registry_status_t dd_registry_template_delete(dd_registry_t *reg, const char *name,
                                                 dd_registry_error_t *err)
{
    dd_registry_status_t status;
    char arn[DD_ARN_MAX];

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = template_must_exist(reg, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    (void)dd_arn_format(&reg->arn, DD_NAME_PROVISIONING_TEMPLATE, name, arn, sizeof(arn));
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status =
        dd_registry_exec3(reg, "DELETE FROM provisioning_template_versions WHERE template = ?1",
                          name, NULL, NULL, err);
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_exec3(reg, "DELETE FROM provisioning_templates WHERE name = ?1", name,
                                   NULL, NULL, err);
    }
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_exec3(reg, "DELETE FROM resource_tags WHERE arn = ?1", arn, NULL, NULL,
                                   err);
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_template_version_create(dd_registry_t *reg, const char *name,
                                                         const char *body, bool set_default,
                                                         int64_t *version_id,
                                                         dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    int64_t next = 0;
    int64_t count = 0;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL || body == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_prep(reg, "SELECT next_version, (SELECT COUNT(*) FROM"
                               " provisioning_template_versions WHERE template = ?1)"
                               " FROM provisioning_templates WHERE name = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        next = sqlite3_column_int64(st, 0);
        count = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND,
                                "The provisioning template %.64s does not exist", name);
    }
    if (rc != SQLITE_ROW) {
        return dd_registry_sql_fail(reg, err);
    }
    if (count >= DD_REGISTRY_MAX_TEMPLATE_VERSIONS) {
        return dd_registry_fail(err, DD_REGISTRY_LIMIT_EXCEEDED,
                                "The provisioning template %.64s already has %d versions: delete "
                                "one first",
                                name, DD_REGISTRY_MAX_TEMPLATE_VERSIONS);
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = insert_version(reg, name, next, body, err);
    if (status == DD_REGISTRY_OK) {
        st = dd_registry_prep(reg, "UPDATE provisioning_templates SET next_version = ?2 + 1,"
                                   " default_version = CASE WHEN ?3 THEN ?2 ELSE default_version"
                                   " END, modified_ms = ?4 WHERE name = ?1");
        if (st == NULL) {
            status = dd_registry_sql_fail(reg, err);
        } else {
            (void)dd_db_bind_text(st, 1, name);
            (void)sqlite3_bind_int64(st, 2, next);
            (void)sqlite3_bind_int(st, 3, set_default ? 1 : 0);
            (void)sqlite3_bind_int64(st, 4, dd_registry_now_ms(reg));
            status =
                sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
            sqlite3_finalize(st);
        }
    }
    status = dd_registry_savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK && version_id != NULL) {
        *version_id = next;
    }
    return status;
}

static dd_registry_status_t versions(dd_registry_t *reg, const char *name, int64_t only,
                                     dd_registry_template_version_fn fn, void *ctx,
                                     dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    int rc;
    int n = 0;

    dd_registry_clear_error(err);
    if (reg == NULL || name == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = template_must_exist(reg, name, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg, "SELECT v.version_id, v.body, v.version_id = t.default_version,"
                               " v.created_ms FROM provisioning_template_versions v"
                               " JOIN provisioning_templates t ON t.name = v.template"
                               " WHERE v.template = ?1 AND (?2 = 0 OR v.version_id = ?2)"
                               " ORDER BY v.version_id DESC");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, name);
    (void)sqlite3_bind_int64(st, 2, only);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_template_version_t v;

        v.template_name = name;
        v.version_id = sqlite3_column_int64(st, 0);
        v.body = dd_db_column_text(st, 1);
        v.is_default = sqlite3_column_int(st, 2) != 0;
        v.created_ms = sqlite3_column_int64(st, 3);
        n++;
        if (fn != NULL && fn(ctx, &v) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return dd_registry_sql_fail(reg, err);
    }
    if (only > 0 && n == 0) {
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND,
                                "The provisioning template %.64s has no version %lld", name,
                                (long long)only);
    }
    return DD_REGISTRY_OK;
}

dd_registry_status_t dd_registry_template_version_get(dd_registry_t *reg, const char *name,
                                                      int64_t version_id,
                                                      dd_registry_template_version_fn fn, void *ctx,
                                                      dd_registry_error_t *err)
{
    if (version_id <= 0) {
        dd_registry_clear_error(err);
        return dd_registry_fail(err, DD_REGISTRY_NOT_FOUND,
                                "The provisioning template %.64s has no version %lld",
                                name != NULL ? name : "", (long long)version_id);
    }
    return versions(reg, name, version_id, fn, ctx, err);
}

dd_registry_status_t dd_registry_template_version_list(dd_registry_t *reg, const char *name,
                                                       dd_registry_template_version_fn fn,
                                                       void *ctx, dd_registry_error_t *err)
{
    return versions(reg, name, 0, fn, ctx, err);
}

dd_registry_status_t dd_registry_template_version_delete(dd_registry_t *reg, const char *name,
                                                         int64_t version_id,
                                                         dd_registry_error_t *err)
{
    dd_registry_status_t status;
    char text[24];
    int is_default;

    status = dd_registry_template_version_get(reg, name, version_id, NULL, NULL, err);
    if (status != DD_REGISTRY_OK) {
        return status;
    }
    (void)snprintf(text, sizeof(text), "%lld", (long long)version_id);
    is_default = dd_registry_exists2(reg,
                                     "SELECT 1 FROM provisioning_templates WHERE name = ?1"
                                     " AND default_version = CAST(?2 AS INTEGER)",
                                     name, text);
    if (is_default < 0) {
        return dd_registry_sql_fail(reg, err);
    }
    if (is_default > 0) {
        return dd_registry_fail(err, DD_REGISTRY_DELETE_CONFLICT,
                                "Version %s is the default version of the provisioning template "
                                "%.64s: make another version the default first",
                                text, name);
    }
    return dd_registry_exec3(reg,
                             "DELETE FROM provisioning_template_versions WHERE template = ?1"
                             " AND version_id = CAST(?2 AS INTEGER)",
                             name, text, NULL, err);
}
