#include "dd_registry_internal.h"

#include "dd_log.h"
#include "dd_pki.h"

#include <stdio.h>
#include <string.h>

/* ---- certificate facts ---------------------------------------------------------- */

void dd_registry_facts_from_row(sqlite3_stmt *st, int col, bool *known, dd_certfacts_t *facts,
                                const char **key_verdict)
{
    memset(facts, 0, sizeof(*facts));
    *key_verdict = dd_db_column_text_or_null(st, col + 7);
    *known = sqlite3_column_type(st, col + 1) != SQLITE_NULL;
    if (!*known) {
        return;
    }
    facts->not_before_ms = sqlite3_column_int64(st, col);
    facts->not_after_ms = sqlite3_column_int64(st, col + 1);
    (void)snprintf(facts->key_type, sizeof(facts->key_type), "%s", dd_db_column_text(st, col + 2));
    facts->key_bits = sqlite3_column_int(st, col + 3);
    facts->subject_hash = (uint32_t)sqlite3_column_int64(st, col + 4);
    facts->issuer_hash = (uint32_t)sqlite3_column_int64(st, col + 5);
    (void)snprintf(facts->serial, sizeof(facts->serial), "%s", dd_db_column_text(st, col + 6));
    facts->key_assessed = *key_verdict != NULL;
    facts->roca = *key_verdict != NULL && strcmp(*key_verdict, DD_CERTFACTS_VERDICT_ROCA) == 0;
}

void dd_registry_facts_bind(sqlite3_stmt *st, int param, const dd_certfacts_t *facts)
{
    if (facts == NULL) {
        return; /* unbound parameters are NULL */
    }
    (void)sqlite3_bind_int64(st, param, facts->not_before_ms);
    (void)sqlite3_bind_int64(st, param + 1, facts->not_after_ms);
    (void)dd_db_bind_text(st, param + 2, facts->key_type);
    (void)sqlite3_bind_int(st, param + 3, facts->key_bits);
    (void)sqlite3_bind_int64(st, param + 4, (sqlite3_int64)facts->subject_hash);
    (void)sqlite3_bind_int64(st, param + 5, (sqlite3_int64)facts->issuer_hash);
    (void)dd_db_bind_text(st, param + 6, facts->serial);
    if (facts->key_assessed) {
        (void)dd_db_bind_text(st, param + 7, facts->roca ? DD_CERTFACTS_VERDICT_ROCA : "");
    }
}

/* Back-fills one table; *filled counts the rows given facts. */
static dd_registry_status_t backfill_table(dd_registry_t *reg, const char *select,
                                           const char *update, int *filled, int *failed)
{
    sqlite3_stmt *sel = dd_registry_prep(reg, select);
    sqlite3_stmt *upd = dd_registry_prep(reg, update);
    dd_registry_status_t status = DD_REGISTRY_OK;
    int rc = SQLITE_DONE;

    while (sel != NULL && upd != NULL && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
        const char *pem = dd_db_column_text(sel, 1);
        dd_certfacts_t facts;
        if (dd_certfacts_from_pem(pem, strlen(pem), &facts) != DD_CERTFACTS_OK) {
            (*failed)++;
            continue;
        }
        (void)sqlite3_reset(upd);
        (void)sqlite3_clear_bindings(upd);
        (void)dd_db_bind_text(upd, 1, dd_db_column_text(sel, 0));
        dd_registry_facts_bind(upd, 2, &facts);
        if (sqlite3_step(upd) != SQLITE_DONE) {
            status = dd_registry_sql_fail(reg, NULL);
            break;
        }
        (*filled)++;
    }
    if (sel == NULL || upd == NULL || (status == DD_REGISTRY_OK && rc != SQLITE_DONE)) {
        status = dd_registry_sql_fail(reg, NULL);
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return status;
}

dd_registry_status_t dd_registry_facts_backfill(dd_registry_t *reg)
{
    static const char *const TABLES[2] = {"certificates", "ca_certificates"};
    dd_registry_status_t status;
    int filled = 0;
    int failed = 0;
    size_t i;

    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = dd_registry_savepoint_begin(reg, NULL)) != DD_REGISTRY_OK) {
        return status;
    }
    for (i = 0; status == DD_REGISTRY_OK && i < 2; i++) {
        char select[192];
        char update[256];
        /* Also the RSA rows stored with facts but before the ROCA verdict was (key_verdict
         * NULL): the audit would parse their PEMs at every run otherwise. */
        (void)snprintf(select, sizeof(select),
                       "SELECT id, pem FROM %s WHERE not_after_ms IS NULL OR"
                       " (key_verdict IS NULL AND key_type IN ('RSA', 'RSA-PSS'))",
                       TABLES[i]);
        (void)snprintf(update, sizeof(update),
                       "UPDATE %s SET not_before_ms = ?2, not_after_ms = ?3, key_type = ?4,"
                       " key_bits = ?5, subject_hash = ?6, issuer_hash = ?7, serial = ?8,"
                       " key_verdict = ?9 WHERE id = ?1",
                       TABLES[i]);
        status = backfill_table(reg, select, update, &filled, &failed);
    }
    status = dd_registry_savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK && filled + failed > 0) {
        DD_LOG_INFO("registry: stored the facts of %d certificates%s", filled,
                    failed > 0 ? " (some PEMs gave none: the audit parses those)" : "");
    }
    return status;
}

dd_registry_status_t dd_registry_parse_cert(const char *pem, char id[DD_PKI_CERT_ID_LEN + 1],
                                            dd_certfacts_t *facts, bool *facts_ok)
{
    X509 *x = NULL;
    dd_pki_status_t st;

    *facts_ok = false;
    memset(facts, 0, sizeof(*facts));
    /* One parse for both: the id and the facts. */
    if (dd_pki_cert_from_pem(pem, strlen(pem), &x) != DD_PKI_OK) {
        return DD_REGISTRY_INVALID;
    }
    st = dd_pki_cert_id_from_x509(x, id);
    *facts_ok = st == DD_PKI_OK && dd_certfacts_from_x509(x, facts) == DD_CERTFACTS_OK;
    X509_free(x);
    return st == DD_PKI_OK ? DD_REGISTRY_OK : DD_REGISTRY_INVALID;
}

/* ---- certificates ------------------------------------------------------------ */

void dd_registry_cert_from_row(sqlite3_stmt *st, dd_registry_cert_t *c)
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
    dd_registry_facts_from_row(st, 8, &c->facts_known, &c->facts, &c->key_verdict);
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
    dd_certfacts_t facts;
    bool facts_ok;
    sqlite3_stmt *st;
    int64_t now;

    dd_registry_clear_error(err);
    if (reg == NULL || pem == NULL || ca_cert_id == NULL || mode == NULL ||
        (unsigned)status_value > DD_CERT_PENDING_ACTIVATION) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (dd_registry_parse_cert(pem, id, &facts, &facts_ok) != DD_REGISTRY_OK) {
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
    st = dd_registry_prep(reg, "INSERT INTO certificates(" DD_REGISTRY_CERT_COLUMNS
                               ") VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7,"
                               " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
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
        dd_registry_facts_bind(st, 8, facts_ok ? &facts : NULL);
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
    st = dd_registry_prep(reg,
                          "SELECT " DD_REGISTRY_CERT_COLUMNS " FROM certificates WHERE id = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, cert_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && fn != NULL) {
        dd_registry_cert_t c;
        dd_registry_cert_from_row(st, &c);
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
        dd_registry_prep(reg, ascending ? "SELECT " DD_REGISTRY_CERT_COLUMNS
                                          " FROM certificates WHERE ?1 = '' OR (created_ms, id) >"
                                          " (SELECT created_ms, id FROM certificates WHERE id = ?1)"
                                          " ORDER BY created_ms, id LIMIT ?2"
                                        : "SELECT " DD_REGISTRY_CERT_COLUMNS
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
        dd_registry_cert_from_row(st, &c);
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
