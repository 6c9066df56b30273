#include "dd_registry_internal.h"

#include <string.h>

/* ---- SNS subscriptions ---------------------------------------------------------- */

dd_registry_status_t dd_registry_subscription_add(dd_registry_t *reg, const char *topic,
                                                  const char *protocol, const char *endpoint,
                                                  int64_t *id, dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL || topic == NULL || protocol == NULL || endpoint == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    if (!dd_name_valid(DD_NAME_SNS_TOPIC, topic)) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Invalid SNS topic name '%.128s': must be %s", topic,
                                dd_name_pattern(DD_NAME_SNS_TOPIC));
    }
    if (strcmp(protocol, "lambda") == 0) {
        /* Made by dd_lambda_add() only: the endpoint is the function's ARN, as in AWS. */
        if (strncmp(endpoint, "arn:aws:lambda:", 15) != 0 ||
            strstr(endpoint, ":function:") == NULL || strlen(endpoint) > DD_ARN_MAX - 1) {
            return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                    "Endpoint '%.200s' must be a Lambda function ARN", endpoint);
        }
    } else if (strcmp(protocol, "http") != 0 && strcmp(protocol, "https") != 0) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID,
                                "Unsupported protocol '%.32s': use http or https", protocol);
    } else if (strncmp(endpoint, protocol, strlen(protocol)) != 0 ||
               strncmp(endpoint + strlen(protocol), "://", 3) != 0 || strlen(endpoint) > 2048) {
        return dd_registry_fail(err, DD_REGISTRY_INVALID, "Endpoint '%.200s' must be a %s:// URL",
                                endpoint, protocol);
    }
    st = dd_registry_prep(
        reg, "INSERT INTO sns_subscriptions(topic, protocol, endpoint, created_ms) "
             "VALUES(?1, ?2, ?3, ?4)"
             " ON CONFLICT(topic, protocol, endpoint) DO UPDATE SET topic = excluded.topic "
             "RETURNING id");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)dd_db_bind_text(st, 1, topic);
    (void)dd_db_bind_text(st, 2, protocol);
    (void)dd_db_bind_text(st, 3, endpoint);
    (void)sqlite3_bind_int64(st, 4, dd_registry_now_ms(reg));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && id != NULL) {
        *id = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? DD_REGISTRY_OK : dd_registry_sql_fail(reg, err);
}

dd_registry_status_t dd_registry_subscription_remove(dd_registry_t *reg, int64_t id,
                                                     dd_registry_error_t *err)
{
    sqlite3_stmt *st;
    int rc;

    dd_registry_clear_error(err);
    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_prep(reg, "DELETE FROM sns_subscriptions WHERE id = ?1");
    if (st == NULL) {
        return dd_registry_sql_fail(reg, err);
    }
    (void)sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return dd_registry_sql_fail(reg, err);
    }
    return sqlite3_changes(reg->db) > 0
               ? DD_REGISTRY_OK
               : dd_registry_fail(err, DD_REGISTRY_NOT_FOUND, "Subscription %lld does not exist",
                                  (long long)id);
}

dd_registry_status_t dd_registry_subscription_list(dd_registry_t *reg, const char *topic,
                                                   dd_registry_subscription_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc;

    if (reg == NULL) {
        return DD_REGISTRY_BAD_PARAMETER;
    }
    st = dd_registry_prep(reg,
                          "SELECT id, topic, protocol, endpoint, created_ms FROM sns_subscriptions"
                          " WHERE ?1 IS NULL OR topic = ?1 ORDER BY id");
    if (st == NULL) {
        return DD_REGISTRY_STORE_ERROR;
    }
    (void)dd_db_bind_text(st, 1, topic);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dd_registry_subscription_t s = {sqlite3_column_int64(st, 0), dd_db_column_text(st, 1),
                                        dd_db_column_text(st, 2), dd_db_column_text(st, 3),
                                        sqlite3_column_int64(st, 4)};
        if (fn != NULL && fn(ctx, &s) != 0) {
            break;
        }
    }
    sqlite3_finalize(st);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? DD_REGISTRY_OK : DD_REGISTRY_STORE_ERROR;
}
