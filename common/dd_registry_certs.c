#include "dd_registry_internal.h"

#include "dd_pki.h"

#include <string.h>

/* ---- certificates ------------------------------------------------------------ */

#define CERT_COLUMNS "id, pem, status, is_service, created_ms, modified_ms, ca_cert_id, mode"

static void cert_from_row(sqlite3_stmt *st, dd_registry_cert_t *c)
{
    c->id = dd_db_column_text(st, 0);
    c->pem = dd_db_column_text(st, 1);
    if (!dd_cert_status_parse(dd_db_column_text(st, 2), &c->status)) {
        c->status = DD_CERT_INACTIVE;
    }
    c->is_service = sqlite3_column_int(st, 3) != 0;
    c->created_ms = sqlite3_column_int64(st, 4);
    c->modified_ms = sqlite3_column_int64(st, 5);
    c->ca_cert_id = dd_db_column_text(st, 6);
    c->mode = dd_db_column_text(st, 7);
}

dd_registry_status_t dd_registry_cert_must_exist(dd_registry_t *reg, const char *cert_id,
                                                 dd_registry_error_t *err)
{
    int found;

    if (!dd_name_valid(DD_NAME_CERTIFICATE, cert_id)) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Invalid certificate id '%.70s': must be %s",
                                cert_id != NULL ? cert_id : "",
                                dd_name_pattern(DD_NAME_CERTIFICATE));
    }
    found = dd_registry_exists2(reg, "SELECT 1 FROM certificates WHERE id = ?1", cert_id, NULL);
    if (found < 0) {
        return dd_registry_sql_fail(reg, err);
    }
    return found == 1 ? DD_REGISTRY_OK
                      : dd_registry_fail(err, DD_REGISTRY_NOT_FOUND,
                                         "Certificate %s does not exist", cert_id);
}

dd_registry_status_t dd_registry_cert_insert(dd_registry_t *reg, const char *pem,
                                             dd_cert_status_t status_value, bool is_service,
                                             const char *ca_cert_id, const char *mode,
                                             char *cert_id, size_t cert_id_len,
                                             dd_registry_error_t *err)
{
    dd_registry_status_t status;
    char id[DD_PKI_CERT_ID_LEN + 1];
    sqlite3_stmt *st;
    int64_t now;

    dd_registry_clear_error(err);
    if (reg == NULL || pem == NULL || ca_cert_id == NULL || mode == NULL ||
        (unsigned)status_value > DD_CERT_PENDING_ACTIVATION) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (dd_pki_cert_id_from_pem(pem, strlen(pem), id) != DD_PKI_OK) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "The certificate is not a valid PEM X.509 certificate");
    }
    if (dd_registry_exists2(reg, "SELECT 1 FROM certificates WHERE id = ?1", id, NULL) == 1) {
        if (err != NULL) {
            dd_registry_copy_out(err->resource_id, sizeof(err->resource_id), id);
            (void)dd_arn_format(&reg->arn, DD_NAME_CERTIFICATE, id, err->resource_arn,
                                sizeof(err->resource_arn));
        }
        dd_registry_copy_out(cert_id, cert_id_len, id);
        return dd_registry_fail(err, DD_REGISTRY_ALREADY_EXISTS,
                                "The certificate is already registered as %s", id);
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg, "INSERT INTO certificates(" CERT_COLUMNS
                               ") VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)");
    if (st == NULL) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        now = dd_registry_now_ms(reg);
        (void)dd_db_bind_text(st, 1, id);
        (void)dd_db_bind_text(st, 2, pem);
        (void)dd_db_bind_text(st, 3, dd_cert_status_name(status_value));
        (void)sqlite3_bind_int(st, 4, is_service ? 1 : 0);
        (void)sqlite3_bind_int64(st, 5, now);
        (void)dd_db_bind_text(st, 6, ca_cert_id);
        (void)dd_db_bind_text(st, 7, mode);
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_CERT, id, err);
    }
    status = dd_registry_savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK) {
        dd_registry_copy_out(cert_id, cert_id_len, id);
    }
    return status;
}

dd_registry_status_t dd_registry_cert_add(dd_registry_t *reg, const char *pem,
                                          dd_cert_status_t status_value, bool is_service,
                                          char *cert_id, size_t cert_id_len,
                                          dd_registry_error_t *err)
{
    return dd_registry_cert_insert(reg, pem, status_value, is_service, "", "DEFAULT", cert_id,
                                   cert_id_len, err);
}

dd_registry_status_t dd_registry_cert_get(dd_registry_t *reg, const char *cert_id,
                                          dd_registry_cert_fn fn, void *ctx,
                                          dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    dd_registry_status_t status;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || cert_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_cert_must_exist(reg, cert_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg, "SELECT " CERT_COLUMNS " FROM certificates WHERE id = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, cert_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && fn != NULL) {
        dd_registry_cert_t c;
        cert_from_row(st, &c);
        (void)fn(ctx, &c);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

dd_registry_status_t dd_registry_cert_set_status(dd_registry_t *reg, const char *cert_id,
                                                 dd_cert_status_t status_value,
                                                 dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;

    dd_registry_clear_error(err);
    if (reg == NULL || cert_id == NULL || (unsigned)status_value > DD_CERT_PENDING_ACTIVATION) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_cert_must_exist(reg, cert_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (dd_registry_exists2(reg, "SELECT 1 FROM certificates WHERE id = ?1 AND status = 'REVOKED'",
                            cert_id, NULL) == 1 &&
        status_value != DD_CERT_REVOKED) {
        /* AWS: a revoked certificate cannot be reactivated. */
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Certificate %s is REVOKED and cannot change status", cert_id);
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg,
                          "UPDATE certificates SET status = ?2, modified_ms = ?3 WHERE id = ?1");
    if (st == NULL) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        (void)dd_db_bind_text(st, 1, cert_id);
        (void)dd_db_bind_text(st, 2, dd_cert_status_name(status_value));
        (void)sqlite3_bind_int64(st, 3, dd_registry_now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_CERT, cert_id, err);
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_cert_delete(dd_registry_t *reg, const char *cert_id, bool force,
                                             dd_registry_error_t *err)
{
    dd_registry_status_t status;

    dd_registry_clear_error(err);
    if (reg == NULL || cert_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_cert_must_exist(reg, cert_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (dd_registry_exists2(reg, "SELECT 1 FROM thing_principals WHERE cert_id = ?1", cert_id,
                            NULL) == 1) {
        return dd_registry_fail(err, DD_REGISTRY_DELETE_CONFLICT,
                                "Certificate %s is attached to one or more things; detach it first",
                                cert_id);
    }
    if (!force &&
        dd_registry_exists2(
            reg, "SELECT 1 FROM policy_targets WHERE target_kind = 'cert' AND target = ?1", cert_id,
            NULL) == 1) {
        return dd_registry_fail(
            err, DD_REGISTRY_DELETE_CONFLICT,
            "Certificate %s has policies attached; detach them or use forceDelete", cert_id);
    }
    if (dd_registry_exists2(reg, "SELECT 1 FROM certificates WHERE id = ?1 AND status = 'ACTIVE'",
                            cert_id, NULL) == 1) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Certificate %s is ACTIVE; set it INACTIVE before deleting it",
                                cert_id);
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status =
        dd_registry_exec3(reg,
                          "DELETE FROM policy_targets WHERE target_kind = 'cert' AND target = ?1",
                          cert_id, NULL, NULL, err);
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_exec3(reg, "DELETE FROM certificates WHERE id = ?1", cert_id, NULL,
                                   NULL, err);
    }
    if (status == DD_REGISTRY_OK) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_CERT, cert_id, err);
    }
    return dd_registry_savepoint_end(reg, status);
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
    dd_registry_page_after(page, after, sizeof(after));
    dd_registry_copy_out(next, next_len, "");
    /* Order by (creation time, id); the token is the id of the last row returned. */
    st =
        dd_registry_prep(reg, ascending ? "SELECT " CERT_COLUMNS
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
    (void)dd_db_bind_text(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_cert_t c;
        if (limit > 0 && count == limit) {
            dd_registry_copy_out(next, next_len, last);
            break;
        }
        cert_from_row(st, &c);
        dd_registry_copy_out(last, sizeof(last), c.id);
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

    dd_registry_clear_error(err);
    if (reg == NULL || thing == NULL || cert_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_thing_must_exist(reg, thing, err)) != DD_REGISTRY_OK ||
        (status = dd_registry_cert_must_exist(reg, cert_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    status = dd_registry_exec3(
        reg,
        attach ? "INSERT OR IGNORE INTO thing_principals(thing, cert_id) VALUES(?1, ?2)"
               : "DELETE FROM thing_principals WHERE thing = ?1 AND cert_id = ?2",
        thing, cert_id, NULL, err);
    if (status == DD_REGISTRY_OK && sqlite3_changes(reg->db) > 0) {
        status = dd_registry_log_change(reg, DD_REGISTRY_KIND_CERT, cert_id, err);
    }
    return dd_registry_savepoint_end(reg, status);
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

    dd_registry_clear_error(err);
    if (reg == NULL || thing == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_thing_must_exist(reg, thing, err)) != DD_REGISTRY_OK) {
        return status;
    }
    return dd_registry_list_names(
        reg,
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

    dd_registry_clear_error(err);
    if (reg == NULL || cert_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_cert_must_exist(reg, cert_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    return dd_registry_list_names(
        reg,
        "SELECT thing FROM thing_principals WHERE cert_id = ?1 AND thing > ?2"
        " ORDER BY thing LIMIT ?3",
        cert_id, page, fn, ctx, next, next_len, err);
}
