/*
 * CA certificates (RegisterCACertificate ... DeleteCACertificate), the device
 * certificates registered with them, the account's registration code and the
 * issuers' certificate revocation lists. Signature checks (verification
 * certificate, device certificate signed by the CA) belong to the caller: the
 * registry stores what was accepted.
 */
#include "dd_registry_internal.h"
#include "dd_seed.h"

#include "dd_pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define CA_COLUMNS                                                                \
    "id, pem, status, auto_registration, mode, registration_config, created_ms, " \
    "modified_ms, " DD_REGISTRY_FACTS_COLUMNS

#define REGISTRATION_CODE_KEY "ca_registration_code"

static void ca_from_row(sqlite3_stmt *st, dd_registry_ca_t *c)
{
    c->id = dd_db_column_text(st, 0);
    c->pem = dd_db_column_text(st, 1);
    c->active = strcmp(dd_db_column_text(st, 2), "ACTIVE") == 0;
    c->auto_registration = sqlite3_column_int(st, 3) != 0;
    c->mode = dd_db_column_text(st, 4);
    c->registration_config = dd_db_column_text(st, 5);
    c->created_ms = sqlite3_column_int64(st, 6);
    c->modified_ms = sqlite3_column_int64(st, 7);
    dd_registry_facts_from_row(st, 8, &c->facts_known, &c->facts, &c->key_verdict);
}

static dd_registry_status_t ca_must_exist(dd_registry_t *reg, const char *ca_id,
                                          dd_registry_error_t *err)
{
    int found;

    if (!dd_name_valid(DD_NAME_CERTIFICATE, ca_id)) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Invalid CA certificate id '%.70s': must be %s",
                                ca_id != NULL ? ca_id : "", dd_name_pattern(DD_NAME_CERTIFICATE));
    }
    found = dd_registry_exists2(reg, "SELECT 1 FROM ca_certificates WHERE id = ?1", ca_id, NULL);
    if (found < 0) {
        return dd_registry_sql_fail(reg, err);
    }
    return found == 1 ? DD_REGISTRY_OK
                      : dd_registry_fail(err, DD_REGISTRY_NOT_FOUND,
                                         "CA certificate %s does not exist", ca_id);
}

dd_registry_status_t dd_registry_cert_register(dd_registry_t *reg, const char *pem,
                                               dd_cert_status_t status, const char *ca_cert_id,
                                               char *cert_id, size_t cert_id_len,
                                               dd_registry_error_t *err)
{
    dd_registry_status_t st;
    sqlite3_stmt *q;
    char mode[16] = "SNI_ONLY";

    dd_registry_clear_error(err);
    if (reg == NULL || pem == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (ca_cert_id == NULL || ca_cert_id[0] == '\0') {
        /* AWS: a certificate registered without a CA is in SNI_ONLY mode. */
        return dd_registry_cert_insert(reg, pem, status, false, "", mode, cert_id, cert_id_len,
                                       err);
    }
    if ((st = ca_must_exist(reg, ca_cert_id, err)) != DD_REGISTRY_OK) {
        return st;
    }
    q = dd_registry_prep(reg, "SELECT mode FROM ca_certificates WHERE id = ?1");
    if (q == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(q, 1, ca_cert_id);
    if (sqlite3_step(q) == SQLITE_ROW) {
        (void)snprintf(mode, sizeof(mode), "%s", dd_db_column_text(q, 0));
    }
    sqlite3_finalize(q);
    return dd_registry_cert_insert(reg, pem, status, false, ca_cert_id, mode, cert_id, cert_id_len,
                                   err);
}

dd_registry_status_t dd_registry_registration_code(dd_registry_t *reg, char code[65],
                                                   dd_registry_error_t *err)
{
    static const char HEX[] = "0123456789abcdef";
    unsigned char raw[32];
    char *value = NULL;
    dd_registry_status_t st;
    size_t i;

    dd_registry_clear_error(err);
    if (reg == NULL || code == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_setting_get(reg, REGISTRATION_CODE_KEY, &value);
    if (st != DD_REGISTRY_OK) {
        return dd_registry_fail(err, st, "The registration code could not be read");
    }
    if (value != NULL && strlen(value) == 64) {
        memcpy(code, value, 65);
        free(value);
        return DD_REGISTRY_OK;
    }
    free(value);
    /* From the seed when one is set (`up --seed`): byte-identical runs give the same code. */
    if (dd_seed_bytes("registration-code", raw, sizeof(raw)) != DD_SEED_OK) {
        return dd_registry_fail(err, DD_REGISTRY_STORE_ERROR, "No random bytes for the code");
    }
    for (i = 0; i < sizeof(raw); i++) {
        code[2 * i] = HEX[raw[i] >> 4];
        code[2 * i + 1] = HEX[raw[i] & 0x0f];
    }
    code[64] = '\0';
    st = dd_registry_setting_set(reg, REGISTRATION_CODE_KEY, code);
    return st == DD_REGISTRY_OK
               ? DD_REGISTRY_OK
               : dd_registry_fail(err, st, "The registration code could not be stored");
}

dd_registry_status_t dd_registry_ca_add(dd_registry_t *reg, const char *pem, bool active,
                                        bool auto_registration, const char *mode,
                                        const char *registration_config, char *ca_id,
                                        size_t ca_id_len, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    char id[DD_PKI_CERT_ID_LEN + 1];
    dd_certfacts_t facts;
    bool facts_ok;
    sqlite3_stmt *st;

    dd_registry_clear_error(err);
    if (reg == NULL || pem == NULL || mode == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (strcmp(mode, "DEFAULT") != 0 && strcmp(mode, "SNI_ONLY") != 0) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "certificateMode must be DEFAULT or SNI_ONLY");
    }
    if (dd_registry_parse_cert(pem, id, &facts, &facts_ok) != DD_REGISTRY_OK) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "The CA certificate is not a valid PEM X.509 certificate");
    }
    if (dd_registry_exists2(reg, "SELECT 1 FROM ca_certificates WHERE id = ?1", id, NULL) == 1) {
        if (err != NULL) {
            dd_registry_copy_out(err->resource_id, sizeof(err->resource_id), id);
            (void)snprintf(err->resource_arn, sizeof(err->resource_arn),
                           "arn:aws:iot:%s:%s:cacert/%s", reg->arn.region, reg->arn.account, id);
        }
        dd_registry_copy_out(ca_id, ca_id_len, id);
        return dd_registry_fail(err, DD_REGISTRY_ALREADY_EXISTS,
                                "The CA certificate is already registered as %s", id);
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg, "INSERT INTO ca_certificates(" CA_COLUMNS
                               ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7,"
                               " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
    if (st == NULL) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        (void)dd_db_bind_text(st, 1, id);
        (void)dd_db_bind_text(st, 2, pem);
        (void)dd_db_bind_text(st, 3, active ? "ACTIVE" : "INACTIVE");
        (void)sqlite3_bind_int(st, 4, auto_registration ? 1 : 0);
        (void)dd_db_bind_text(st, 5, mode);
        (void)dd_db_bind_text(st, 6,
                              registration_config != NULL && registration_config[0] != '\0'
                                  ? registration_config
                                  : "{}");
        (void)sqlite3_bind_int64(st, 7, dd_registry_now_ms(reg));
        dd_registry_facts_bind(st, 8, facts_ok ? &facts : NULL);
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    status = dd_registry_savepoint_end(reg, status);
    if (status == DD_REGISTRY_OK) {
        dd_registry_copy_out(ca_id, ca_id_len, id);
    }
    return status;
}

dd_registry_status_t dd_registry_ca_get(dd_registry_t *reg, const char *ca_id, dd_registry_ca_fn fn,
                                        void *ctx, dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || ca_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = ca_must_exist(reg, ca_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(reg, "SELECT " CA_COLUMNS " FROM ca_certificates WHERE id = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, ca_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && fn != NULL) {
        dd_registry_ca_t c;
        ca_from_row(st, &c);
        (void)fn(ctx, &c);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

/* Logs every certificate of the CA: the shim's copy of each carries the CA's status. */
static dd_registry_status_t log_ca_certs(dd_registry_t *reg, const char *ca_id,
                                         dd_registry_error_t *err)
{
    sqlite3_stmt *st =
        dd_registry_prep(reg, "INSERT INTO registry_changes(kind, name, changed_ms)"
                              " SELECT 'cert', id, ?2 FROM certificates WHERE ca_cert_id = ?1");

    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, ca_id);
    (void)sqlite3_bind_int64(st, 2, dd_registry_now_ms(reg));
    if (sqlite3_step(st) != SQLITE_DONE) {
        sqlite3_finalize(st);
        return dd_registry_sql_fail(reg, err);
    }
    sqlite3_finalize(st);
    return DD_REGISTRY_OK;
}

dd_registry_status_t dd_registry_ca_update(dd_registry_t *reg, const char *ca_id, int active,
                                           int auto_registration, const char *registration_config,
                                           dd_registry_error_t *err)
{
    dd_registry_status_t status;
    sqlite3_stmt *st;

    dd_registry_clear_error(err);
    if (reg == NULL || ca_id == NULL || active < -1 || active > 1 || auto_registration < -1 ||
        auto_registration > 1) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = ca_must_exist(reg, ca_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if ((status = dd_registry_savepoint_begin(reg, err)) != DD_REGISTRY_OK) {
        return status;
    }
    st = dd_registry_prep(
        reg, "UPDATE ca_certificates SET"
             " status = CASE ?2 WHEN 1 THEN 'ACTIVE' WHEN 0 THEN 'INACTIVE' ELSE status END,"
             " auto_registration = CASE WHEN ?3 >= 0 THEN ?3 ELSE auto_registration END,"
             " registration_config = CASE WHEN ?4 IS NULL THEN registration_config"
             "   WHEN ?4 = '' THEN '{}' ELSE ?4 END,"
             " modified_ms = ?5 WHERE id = ?1");
    if (st == NULL) {
        status = dd_registry_sql_fail(reg, err);
    } else {
        (void)dd_db_bind_text(st, 1, ca_id);
        (void)sqlite3_bind_int(st, 2, active);
        (void)sqlite3_bind_int(st, 3, auto_registration);
        if (registration_config != NULL) {
            (void)dd_db_bind_text(st, 4, registration_config);
        }
        (void)sqlite3_bind_int64(st, 5, dd_registry_now_ms(reg));
        status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
        sqlite3_finalize(st);
    }
    if (status == DD_REGISTRY_OK && active >= 0) {
        status = log_ca_certs(reg, ca_id, err);
    }
    return dd_registry_savepoint_end(reg, status);
}

dd_registry_status_t dd_registry_ca_delete(dd_registry_t *reg, const char *ca_id,
                                           dd_registry_error_t *err)
{
    dd_registry_status_t status;

    dd_registry_clear_error(err);
    if (reg == NULL || ca_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if ((status = ca_must_exist(reg, ca_id, err)) != DD_REGISTRY_OK) {
        return status;
    }
    if (dd_registry_exists2(reg,
                            "SELECT 1 FROM ca_certificates WHERE id = ?1 AND status = 'ACTIVE'",
                            ca_id, NULL) == 1) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "CA certificate %s is ACTIVE; set it INACTIVE before deleting it",
                                ca_id);
    }
    if (dd_registry_exists2(reg, "SELECT 1 FROM certificates WHERE ca_cert_id = ?1", ca_id, NULL) ==
        1) {
        return dd_registry_fail(err, DD_REGISTRY_DELETE_CONFLICT,
                                "CA certificate %s still has device certificates registered with "
                                "it; delete them first (ListCertificatesByCA)",
                                ca_id);
    }
    return dd_registry_exec3(reg, "DELETE FROM ca_certificates WHERE id = ?1", ca_id, NULL, NULL,
                             err);
}

dd_registry_status_t dd_registry_ca_list(dd_registry_t *reg, const dd_registry_page_t *page,
                                         bool ascending, dd_registry_ca_fn fn, void *ctx,
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
    st = dd_registry_prep(reg, ascending
                                   ? "SELECT " CA_COLUMNS
                                     " FROM ca_certificates WHERE ?1 = '' OR (created_ms, id) >"
                                     " (SELECT created_ms, id FROM ca_certificates WHERE id = ?1)"
                                     " ORDER BY created_ms, id LIMIT ?2"
                                   : "SELECT " CA_COLUMNS
                                     " FROM ca_certificates WHERE ?1 = '' OR (created_ms, id) <"
                                     " (SELECT created_ms, id FROM ca_certificates WHERE id = ?1)"
                                     " ORDER BY created_ms DESC, id DESC LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit + 1 : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_ca_t c;
        if (limit > 0 && count == limit) {
            dd_registry_copy_out(next, next_len, last);
            break;
        }
        ca_from_row(st, &c);
        dd_registry_copy_out(last, sizeof(last), c.id);
        count++;
        if (fn != NULL && fn(ctx, &c) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}

dd_registry_status_t dd_registry_ca_cert_list(dd_registry_t *reg, const char *ca_id,
                                              const dd_registry_page_t *page, bool ascending,
                                              dd_registry_cert_fn fn, void *ctx, char *next,
                                              size_t next_len)
{
    sqlite3_stmt *st;
    int limit = (page != NULL && page->limit > 0) ? page->limit : -1;
    int count = 0;
    int rc;
    char last[DD_NAME_MAX + 1] = "";
    char after[DD_NAME_MAX + 1];

    if (reg == NULL || ca_id == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    dd_registry_page_after(page, after, sizeof(after));
    dd_registry_copy_out(next, next_len, "");
    st = dd_registry_prep(reg, ascending
                                   ? "SELECT " DD_REGISTRY_CERT_COLUMNS
                                     " FROM certificates WHERE ca_cert_id = ?3 AND"
                                     " (?1 = '' OR (created_ms, id) >"
                                     " (SELECT created_ms, id FROM certificates WHERE id = ?1))"
                                     " ORDER BY created_ms, id LIMIT ?2"
                                   : "SELECT " DD_REGISTRY_CERT_COLUMNS
                                     " FROM certificates WHERE ca_cert_id = ?3 AND"
                                     " (?1 = '' OR (created_ms, id) <"
                                     " (SELECT created_ms, id FROM certificates WHERE id = ?1))"
                                     " ORDER BY created_ms DESC, id DESC LIMIT ?2");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, after);
    (void)sqlite3_bind_int(st, 2, limit > 0 ? limit + 1 : -1);
    (void)dd_db_bind_text(st, 3, ca_id);
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

/* ---- certificate revocation lists ------------------------------------------------ */

dd_registry_status_t dd_registry_crl_put(dd_registry_t *reg, const char *pem,
                                         dd_registry_error_t *err)
{
    BIO *bio;
    X509_CRL *crl;
    char *issuer;
    struct tm tm;
    int64_t this_update = 0;
    dd_registry_status_t status;
    sqlite3_stmt *st;

    dd_registry_clear_error(err);
    if (reg == NULL || pem == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    bio = BIO_new_mem_buf(pem, -1);
    crl = bio != NULL ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (crl == NULL) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "The text is not a PEM X.509 certificate revocation list");
    }
    issuer = X509_NAME_oneline(X509_CRL_get_issuer(crl), NULL, 0);
    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(X509_CRL_get0_lastUpdate(crl), &tm) == 1) {
        this_update = (int64_t)timegm(&tm) * 1000;
    }
    X509_CRL_free(crl);
    if (issuer == NULL) {
        return dd_registry_fail(err, DD_REGISTRY_STORE_ERROR, "out of memory");
    }
    st = dd_registry_prep(reg, "INSERT INTO crls(issuer, pem, this_update_ms) VALUES(?1, ?2, ?3)"
                               " ON CONFLICT(issuer) DO UPDATE SET pem = excluded.pem,"
                               " this_update_ms = excluded.this_update_ms"
                               " WHERE excluded.this_update_ms >= crls.this_update_ms");
    if (st == NULL) {
        OPENSSL_free(issuer);
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, issuer);
    (void)dd_db_bind_text(st, 2, pem);
    (void)sqlite3_bind_int64(st, 3, this_update);
    status = sqlite3_step(st) == SQLITE_DONE ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
    sqlite3_finalize(st);
    OPENSSL_free(issuer);
    return status;
}

dd_registry_status_t dd_registry_crl_list(dd_registry_t *reg, dd_registry_name_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL || fn == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_prep(reg, "SELECT pem FROM crls ORDER BY issuer");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn(ctx, dd_db_column_text(st, 0)) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}
