/*
 * dd_store_connections: the broker's connection history - open and close, a missed
 * DISCONNECT and a broker restart closing what cannot still be open, the window and the
 * orders of the listing, pruning after the retention, and the reset of the metrics subject.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"
#include "dd_store.h"

#define MAX_ROWS 16

typedef struct row {
    char client[64];
    char cert[80];
    char ip[64];
    char thing[64];
    int64_t connect_ms;
    int64_t disconnect_ms;
    bool taken_over;
} row_t;

typedef struct rows {
    row_t r[MAX_ROWS];
    size_t n;
} rows_t;

typedef struct fixture {
    char dir[64];
    sqlite3 *db;
    dd_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[128];

    assert_non_null(f);
    dd_log_set_level(DD_LOG_LEVEL_ERROR);
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/dd_store_conn_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(path, sizeof(path), "%s/ddlocal.db", f->dir);
    assert_int_equal(dd_db_open(path, false, &f->db), DD_DB_OK);
    assert_int_equal(dd_store_open(f->db, NULL, &f->store), DD_STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];

    dd_store_close(f->store);
    dd_db_close(f->db);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    free(f);
    return system(cmd) == 0 ? 0 : -1;
}

static int collect(void *ctx, const dd_store_connection_t *c)
{
    rows_t *rows = ctx;
    row_t *r;

    assert_true(rows->n < MAX_ROWS);
    r = &rows->r[rows->n++];
    (void)snprintf(r->client, sizeof(r->client), "%s", c->client_id);
    (void)snprintf(r->cert, sizeof(r->cert), "%s", c->cert_id);
    (void)snprintf(r->ip, sizeof(r->ip), "%s", c->source_ip);
    (void)snprintf(r->thing, sizeof(r->thing), "%s", c->thing);
    r->connect_ms = c->connect_ms;
    r->disconnect_ms = c->disconnect_ms;
    r->taken_over = c->taken_over;
    return 0;
}

static void list(fixture_t *f, int64_t since, int64_t until, dd_store_connection_order_t order,
                 rows_t *rows)
{
    memset(rows, 0, sizeof(*rows));
    assert_int_equal(dd_store_connections_list(f->store, since, until, order, collect, rows),
                     DD_STORE_OK);
}

static void open_conn(fixture_t *f, const char *client, const char *cert, const char *instance,
                      int64_t t)
{
    dd_store_connection_t c;

    memset(&c, 0, sizeof(c));
    c.client_id = client;
    c.cert_id = cert;
    c.thing = client;
    c.source_ip = "127.0.0.1";
    c.instance = instance;
    c.connect_ms = t;
    assert_int_equal(dd_store_connection_open(f->store, &c), DD_STORE_OK);
}

static void test_dd_store_connections_open_close_list(void **state)
{
    fixture_t *f = *state;
    rows_t rows;

    open_conn(f, "Thing01", "cert-a", "i1", 1000);
    open_conn(f, "Thing02", "cert-a", "i1", 2000);
    open_conn(f, "Thing03", "cert-b", "i1", 3000);
    assert_int_equal(dd_store_connection_close(f->store, "Thing01", 5000, false), DD_STORE_OK);
    /* A takeover: the old one closed (taken over), the new one opened at the same time. */
    assert_int_equal(dd_store_connection_close(f->store, "Thing03", 6000, true), DD_STORE_OK);
    open_conn(f, "Thing03", "cert-c", "i1", 6000);
    /* Nothing open to close is fine. */
    assert_int_equal(dd_store_connection_close(f->store, "nobody", 6000, false), DD_STORE_OK);

    list(f, 0, 10000, DD_STORE_CONN_BY_CERT, &rows);
    assert_int_equal(rows.n, 4);
    assert_string_equal(rows.r[0].cert, "cert-a");
    assert_string_equal(rows.r[0].client, "Thing02"); /* newest first */
    assert_int_equal(rows.r[0].disconnect_ms, -1);
    assert_string_equal(rows.r[1].client, "Thing01");
    assert_int_equal(rows.r[1].connect_ms, 1000);
    assert_int_equal(rows.r[1].disconnect_ms, 5000);
    assert_false(rows.r[1].taken_over);
    assert_string_equal(rows.r[1].ip, "127.0.0.1");
    assert_string_equal(rows.r[1].thing, "Thing01");
    assert_string_equal(rows.r[2].cert, "cert-b");
    assert_true(rows.r[2].taken_over);
    assert_int_equal(rows.r[2].disconnect_ms, 6000);
    assert_string_equal(rows.r[3].cert, "cert-c");

    list(f, 0, 10000, DD_STORE_CONN_BY_CLIENT, &rows);
    assert_int_equal(rows.n, 4);
    assert_string_equal(rows.r[2].client, "Thing03");
    assert_string_equal(rows.r[2].cert, "cert-c"); /* newest first within a client id */
    assert_string_equal(rows.r[3].cert, "cert-b");

    /* The window: open at some time in it. Thing01 closed at 5000 is out of [5001, ..]. */
    list(f, 5001, 10000, DD_STORE_CONN_BY_CERT, &rows);
    assert_int_equal(rows.n, 3);
    list(f, 0, 1500, DD_STORE_CONN_BY_CERT, &rows);
    assert_int_equal(rows.n, 1);
    assert_string_equal(rows.r[0].client, "Thing01");

    assert_int_equal(dd_store_connections_list(f->store, 10, 5, DD_STORE_CONN_BY_CERT, collect,
                                               &rows),
                     DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_connections_list(f->store, 0, 5, (dd_store_connection_order_t)7,
                                               collect, &rows),
                     DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_connections_list(f->store, 0, 5, DD_STORE_CONN_BY_CERT, NULL, NULL),
                     DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_connection_open(f->store, NULL), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_connection_close(f->store, "", 1, false), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_connection_close(NULL, "x", 1, false), DD_STORE_BAD_PARAMETER);
    assert_int_equal(dd_store_connections_prune(NULL, 1, NULL), DD_STORE_BAD_PARAMETER);
}

static void test_dd_store_connections_stale_rows_closed(void **state)
{
    fixture_t *f = *state;
    rows_t rows;

    /* A CONNECT for a client id still open: its DISCONNECT was lost. */
    open_conn(f, "Thing01", "cert-a", "i1", 1000);
    open_conn(f, "Thing01", "cert-a", "i1", 2000);
    list(f, 0, 10000, DD_STORE_CONN_BY_CLIENT, &rows);
    assert_int_equal(rows.n, 2);
    assert_int_equal(rows.r[1].disconnect_ms, 2000);
    assert_false(rows.r[1].taken_over);
    assert_int_equal(rows.r[0].disconnect_ms, -1);

    /* A new broker instance: every connection of the old one ended. */
    open_conn(f, "Thing02", "cert-a", "i1", 2500);
    open_conn(f, "Thing03", "cert-b", "i2", 3000);
    list(f, 0, 10000, DD_STORE_CONN_BY_CLIENT, &rows);
    assert_int_equal(rows.n, 4);
    assert_int_equal(rows.r[0].disconnect_ms, 3000); /* Thing01 */
    assert_int_equal(rows.r[2].disconnect_ms, 3000); /* Thing02 */
    assert_int_equal(rows.r[3].disconnect_ms, -1);   /* Thing03 */

    /* A late DISCONNECT never ends a connection before it started. */
    open_conn(f, "Thing04", "cert-b", "i2", 4000);
    assert_int_equal(dd_store_connection_close(f->store, "Thing04", 3990, false), DD_STORE_OK);
    list(f, 0, 10000, DD_STORE_CONN_BY_CLIENT, &rows);
    assert_int_equal(rows.r[4].disconnect_ms, 4000);
}

static void test_dd_store_connections_prune_and_reset(void **state)
{
    fixture_t *f = *state;
    const int64_t day = 24LL * 3600 * 1000;
    int64_t deleted = -1;
    rows_t rows;

    open_conn(f, "old", "cert-a", "i1", 1 * day);
    assert_int_equal(dd_store_connection_close(f->store, "old", 2 * day, false), DD_STORE_OK);
    open_conn(f, "still-open", "cert-a", "i1", 1 * day);
    open_conn(f, "recent", "cert-b", "i1", 30 * day);
    assert_int_equal(dd_store_connection_close(f->store, "recent", 31 * day, false), DD_STORE_OK);

    /* At day 34, a retention of 31 days drops what ended before day 3; open ones stay. */
    assert_int_equal(dd_store_connections_prune(f->store,
                                                34 * day - DD_STORE_CONNECTION_RETENTION_MS,
                                                &deleted),
                     DD_STORE_OK);
    assert_int_equal(deleted, 1);
    list(f, 0, 40 * day, DD_STORE_CONN_BY_CLIENT, &rows);
    assert_int_equal(rows.n, 2);
    assert_string_equal(rows.r[0].client, "recent");
    assert_string_equal(rows.r[1].client, "still-open");

    /* Other subjects keep it; the metrics subject empties it. */
    assert_int_equal(dd_store_reset(f->store, DD_STORE_RESET_PROFILES | DD_STORE_RESET_VIOLATIONS),
                     DD_STORE_OK);
    list(f, 0, 40 * day, DD_STORE_CONN_BY_CLIENT, &rows);
    assert_int_equal(rows.n, 2);
    assert_int_equal(dd_store_reset(f->store, DD_STORE_RESET_METRICS), DD_STORE_OK);
    list(f, 0, 40 * day, DD_STORE_CONN_BY_CLIENT, &rows);
    assert_int_equal(rows.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dd_store_connections_open_close_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_connections_stale_rows_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dd_store_connections_prune_and_reset, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
