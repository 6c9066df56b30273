/*
 * The checks of the broker's connection history (the store's ev_connections, filled from the
 * shim's metering): DEVICE_CERTIFICATE_SHARED_CHECK and CONFLICTING_CLIENT_IDS_CHECK.
 *
 * Both look at the connections open at some time in the 31 days before the audit (AWS's
 * on-demand look-back; the store keeps closed connections that long). AWS's data reaches the
 * shared-certificate check up to 2 hours late; ddlocal's history is complete when the metering
 * batch is ingested, so the window ends at the audit's time.
 *
 * The connections are read whole first, then grouped: a sink may write to the same database
 * (the task's findings), which it must not do in the middle of the store's SELECT.
 */
#include "dd_audit_check_internal.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_log.h"

/** At most this many connections are listed as related resources of one finding (newest). */
#define CONN_RELATED_MAX 100

typedef struct conn_row {
    char *client_id;
    char *cert_id;
    char *source_ip;
    int64_t connect_ms;
    int64_t disconnect_ms; /* -1: still connected */
    bool taken_over;
} conn_row_t;

typedef struct conn_rows {
    conn_row_t *rows;
    size_t count;
    size_t cap;
    bool no_memory;
} conn_rows_t;

static void rows_free(conn_rows_t *r)
{
    size_t i;

    for (i = 0; i < r->count; i++) {
        free(r->rows[i].client_id);
        free(r->rows[i].cert_id);
        free(r->rows[i].source_ip);
    }
    free(r->rows);
    memset(r, 0, sizeof(*r));
}

static int rows_add(void *ctx, const dd_store_connection_t *c)
{
    conn_rows_t *r = ctx;
    conn_row_t *row;

    if (r->count == r->cap) {
        size_t cap = r->cap == 0 ? 64 : r->cap * 2;
        conn_row_t *bigger = realloc(r->rows, cap * sizeof(*bigger));

        if (bigger == NULL) {
            r->no_memory = true;
            return 1;
        }
        r->rows = bigger;
        r->cap = cap;
    }
    row = &r->rows[r->count];
    memset(row, 0, sizeof(*row));
    row->client_id = strdup(c->client_id);
    row->cert_id = strdup(c->cert_id);
    row->source_ip = strdup(c->source_ip);
    if (row->client_id == NULL || row->cert_id == NULL || row->source_ip == NULL) {
        free(row->client_id);
        free(row->cert_id);
        free(row->source_ip);
        r->no_memory = true;
        return 1;
    }
    row->connect_ms = c->connect_ms;
    row->disconnect_ms = c->disconnect_ms;
    row->taken_over = c->taken_over;
    r->count++;
    return 0;
}

/* The connections of the look-back window, grouped by @p order's key, newest first in a group. */
static dd_audit_status_t rows_load(const dd_audit_world_t *w, dd_store_connection_order_t order,
                                   conn_rows_t *out, int64_t *since_ms)
{
    dd_store_status_t st;

    memset(out, 0, sizeof(*out));
    if (w->store == NULL) {
        return DD_AUDIT_INVALID_ARGUMENT;
    }
    *since_ms = w->now_ms - DD_STORE_CONNECTION_RETENTION_MS;
    st = dd_store_connections_list(w->store, *since_ms, w->now_ms, order, rows_add, out);
    if (out->no_memory) {
        rows_free(out);
        return DD_AUDIT_NO_MEMORY;
    }
    if (st != DD_STORE_OK) {
        DD_LOG_ERROR("audit: the connection history could not be read: %s", dd_store_strerror(st));
        rows_free(out);
        return DD_AUDIT_STATE_ERROR;
    }
    return DD_AUDIT_OK;
}

/* End of a connection for overlaps: one still open lasts until after any time. */
static int64_t end_of(const conn_row_t *r)
{
    return r->disconnect_ms < 0 ? INT64_MAX : r->disconnect_ms;
}

static bool add_ms(cJSON *obj, const char *key, int64_t ms)
{
    char text[24];

    (void)snprintf(text, sizeof(text), "%" PRId64, ms);
    return cJSON_AddStringToObject(obj, key, text) != NULL;
}

/*
 * One RelatedResource for a connection: "CLIENT_ID" ({clientId}) or, @p by_certificate,
 * "DEVICE_CERTIFICATE" ({deviceCertificateId}, with the source IP). additionalInfo has AWS's
 * CONNECTION_TIME and DISCONNECTION_TIME (epoch ms, as in AWS's examples; no
 * DISCONNECTION_TIME while connected).
 */
static bool add_related(cJSON *arr, const conn_row_t *r, bool by_certificate)
{
    const bool cert = by_certificate && r->cert_id[0] != '\0';
    cJSON *rr = cJSON_CreateObject();
    cJSON *id = NULL;
    cJSON *info = NULL;

    if (rr == NULL) {
        return false;
    }
    cJSON_AddItemToArray(arr, rr);
    if (cJSON_AddStringToObject(rr, "resourceType", cert ? "DEVICE_CERTIFICATE" : "CLIENT_ID") ==
        NULL) {
        return false;
    }
    id = cJSON_AddObjectToObject(rr, "resourceIdentifier");
    if (id == NULL || cJSON_AddStringToObject(id, cert ? "deviceCertificateId" : "clientId",
                                              cert ? r->cert_id : r->client_id) == NULL) {
        return false;
    }
    info = cJSON_AddObjectToObject(rr, "additionalInfo");
    if (info == NULL || !add_ms(info, "CONNECTION_TIME", r->connect_ms)) {
        return false;
    }
    if (r->disconnect_ms >= 0 && !add_ms(info, "DISCONNECTION_TIME", r->disconnect_ms)) {
        return false;
    }
    return !by_certificate || r->source_ip[0] == '\0' ||
           cJSON_AddStringToObject(info, "SOURCE_IP", r->source_ip) != NULL;
}

/* The connections rows[0 .. n) (newest first) as RelatedResources, at most CONN_RELATED_MAX. */
static cJSON *related_connections(const conn_row_t *rows, size_t n, bool by_certificate)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i;

    for (i = 0; arr != NULL && i < n && i < CONN_RELATED_MAX; i++) {
        if (!add_related(arr, &rows[i], by_certificate)) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* Reports one finding built from its parts; frees them. */
static dd_audit_status_t report(dd_audit_sink_fn sink, void *ctx, const char *resource_type,
                                const char *id_key, const char *id_value, cJSON *related,
                                const char *reason_code, const char *reason)
{
    cJSON *ident = cJSON_CreateObject();
    dd_audit_finding_t f;
    int stop;

    if (ident == NULL || related == NULL ||
        cJSON_AddStringToObject(ident, id_key, id_value) == NULL) {
        cJSON_Delete(ident);
        cJSON_Delete(related);
        return DD_AUDIT_NO_MEMORY;
    }
    memset(&f, 0, sizeof(f));
    f.resource_type = resource_type;
    f.resource_identifier = ident;
    f.related_resources = related;
    f.reason_code = reason_code;
    f.reason = reason;
    stop = sink(ctx, &f);
    cJSON_Delete(ident);
    cJSON_Delete(related);
    return stop != 0 ? DD_AUDIT_STOPPED : DD_AUDIT_OK;
}

/* Two connections of different client ids were open at the same time. */
static bool any_concurrent(const conn_row_t *rows, size_t n)
{
    size_t i;
    size_t j;

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (strcmp(rows[i].client_id, rows[j].client_id) != 0 &&
                rows[i].connect_ms < end_of(&rows[j]) && rows[j].connect_ms < end_of(&rows[i])) {
                return true;
            }
        }
    }
    return false;
}

dd_audit_status_t dd_audit_check_device_certificate_shared(const dd_audit_world_t *world,
                                                           dd_audit_sink_fn sink, void *ctx,
                                                           int64_t *resources_checked)
{
    conn_rows_t all;
    dd_audit_status_t st;
    int64_t since_ms = 0;
    size_t i = 0;

    if (world == NULL || sink == NULL || resources_checked == NULL) {
        return DD_AUDIT_INVALID_ARGUMENT;
    }
    *resources_checked = 0;
    st = rows_load(world, DD_STORE_CONN_BY_CERT, &all, &since_ms);
    if (st != DD_AUDIT_OK) {
        return st;
    }
    while (i < all.count && st == DD_AUDIT_OK) {
        size_t n = 1;

        while (i + n < all.count && strcmp(all.rows[i + n].cert_id, all.rows[i].cert_id) == 0) {
            n++;
        }
        /* A connection without certificate (none in ddlocal: the listeners require one). */
        if (all.rows[i].cert_id[0] != '\0') {
            (*resources_checked)++;
            if (any_concurrent(&all.rows[i], n)) {
                st = report(sink, ctx, "DEVICE_CERTIFICATE", "deviceCertificateId",
                            all.rows[i].cert_id, related_connections(&all.rows[i], n, false),
                            "CERTIFICATE_SHARED_BY_MULTIPLE_DEVICES",
                            "Certificate shared by one or more devices.");
            }
        }
        i += n;
    }
    rows_free(&all);
    return st;
}

dd_audit_status_t dd_audit_check_conflicting_client_ids(const dd_audit_world_t *world,
                                                        dd_audit_sink_fn sink, void *ctx,
                                                        int64_t *resources_checked)
{
    conn_rows_t all;
    dd_audit_status_t st;
    int64_t since_ms = 0;
    size_t i = 0;

    if (world == NULL || sink == NULL || resources_checked == NULL) {
        return DD_AUDIT_INVALID_ARGUMENT;
    }
    *resources_checked = 0;
    st = rows_load(world, DD_STORE_CONN_BY_CLIENT, &all, &since_ms);
    if (st != DD_AUDIT_OK) {
        return st;
    }
    while (i < all.count && st == DD_AUDIT_OK) {
        size_t n = 1;
        size_t k;
        bool knocked_off = false;

        while (i + n < all.count && strcmp(all.rows[i + n].client_id, all.rows[i].client_id) == 0) {
            n++;
        }
        (*resources_checked)++;
        /* AWS: a connection made with the client id of a connected device disconnected it. */
        for (k = i; k < i + n && !knocked_off; k++) {
            knocked_off = all.rows[k].taken_over && all.rows[k].disconnect_ms >= since_ms;
        }
        if (knocked_off) {
            st = report(sink, ctx, "CLIENT_ID", "clientId", all.rows[i].client_id,
                        related_connections(&all.rows[i], n, true),
                        "DUPLICATE_CLIENT_ID_ACROSS_CONNECTIONS",
                        "Multiple connections used this client ID: a connected device was "
                        "disconnected when another one connected with it.");
        }
        i += n;
    }
    rows_free(&all);
    return st;
}
