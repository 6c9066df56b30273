#include "dd_store_mitigation.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_db.h"
#include "dd_log.h"

/* The schema is unchanged from when api/dd_mitigation.c owned it: data dirs
 * that recorded version 1 of component "mitigation" keep their rows. */
static const dd_db_migration_t MIGRATIONS[] = {
    {1, "CREATE TABLE mitigation_actions("
        "  name TEXT PRIMARY KEY,"
        "  action_id TEXT NOT NULL,"
        "  action_type TEXT NOT NULL,"
        "  role_arn TEXT NOT NULL,"
        "  params TEXT NOT NULL,"
        "  created_ms INTEGER NOT NULL,"
        "  modified_ms INTEGER NOT NULL);"
        "CREATE TABLE mitigation_tasks("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  task_id TEXT NOT NULL UNIQUE,"
        "  client_token TEXT NOT NULL,"
        "  status TEXT NOT NULL,"
        "  start_ms INTEGER NOT NULL,"
        "  end_ms INTEGER NOT NULL DEFAULT 0,"
        "  target TEXT NOT NULL,"
        "  has_range INTEGER NOT NULL,"
        "  range_start_ms INTEGER NOT NULL,"
        "  range_end_ms INTEGER NOT NULL,"
        "  only_active INTEGER NOT NULL,"
        "  include_suppressed INTEGER NOT NULL,"
        "  actions TEXT NOT NULL,"
        "  executed INTEGER NOT NULL DEFAULT 0,"
        "  skipped INTEGER NOT NULL DEFAULT 0,"
        "  failed INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX mitigation_tasks_start ON mitigation_tasks(start_ms);"
        "CREATE TABLE mitigation_executions("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  task_id TEXT NOT NULL,"
        "  violation_id TEXT NOT NULL,"
        "  action_name TEXT NOT NULL,"
        "  thing TEXT NOT NULL,"
        "  start_ms INTEGER NOT NULL,"
        "  end_ms INTEGER NOT NULL DEFAULT 0,"
        "  status TEXT NOT NULL,"
        "  error_code TEXT,"
        "  message TEXT);"
        "CREATE INDEX mitigation_executions_task ON mitigation_executions(task_id);"
        "CREATE INDEX mitigation_executions_violation ON mitigation_executions(violation_id);"
        "CREATE INDEX mitigation_executions_thing ON mitigation_executions(thing);"},
};

/* ---- helpers ------------------------------------------------------------------ */

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;

    (void)dd_db_prepare(db, sql, &st);
    return st;
}

static void bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    (void)dd_db_bind_text(st, idx, text);
}

static dd_store_status_t sql_fail(sqlite3 *db, const char *what)
{
    (void)dd_db_fail(db, "mitigation store", what);
    return DD_STORE_SQL_ERROR;
}

/* One text column copied into a row's storage. */
typedef struct text_col {
    int col;
    const char **dst;
    bool nullable; /* SQL NULL stays NULL (else it reads as "") */
} text_col_t;

/*
 * Copies the text columns of the current row into one allocation, so that a
 * row is freed with one free() and its struct keeps const char * members
 * that callers can also fill with their own strings for inserts.
 */
static dd_store_status_t copy_texts(sqlite3_stmt *st, const text_col_t *cols, size_t n,
                                    char **storage)
{
    size_t total = 0;
    size_t off = 0;
    size_t i;
    char *buf;

    for (i = 0; i < n; i++) {
        (void)sqlite3_column_text(st, cols[i].col);
        total += (size_t)sqlite3_column_bytes(st, cols[i].col) + 1;
    }
    buf = malloc(total > 0 ? total : 1);
    if (buf == NULL) {
        return DD_STORE_NO_MEMORY;
    }
    for (i = 0; i < n; i++) {
        const unsigned char *t = sqlite3_column_text(st, cols[i].col);
        size_t len = (size_t)sqlite3_column_bytes(st, cols[i].col);
        if (t == NULL && cols[i].nullable) {
            *cols[i].dst = NULL;
            continue;
        }
        if (t != NULL) {
            memcpy(buf + off, t, len);
        }
        buf[off + len] = '\0';
        *cols[i].dst = buf + off;
        off += len + 1;
    }
    *storage = buf;
    return DD_STORE_OK;
}

/* Makes room for one more row in a growing list; NULL (the list unchanged) when out of memory. */
static void *grow(void *rows, size_t *cap, size_t count, size_t size)
{
    size_t n;
    void *p;

    if (count < *cap) {
        return rows;
    }
    n = *cap == 0 ? 16 : *cap * 2;
    p = realloc(rows, n * size);
    if (p == NULL) {
        return NULL;
    }
    memset((char *)p + *cap * size, 0, (n - *cap) * size);
    *cap = n;
    return p;
}

static int64_t key_seq(const char *after)
{
    return (after != NULL && after[0] != '\0') ? strtoll(after, NULL, 10) : 0;
}

dd_store_status_t dd_store_mitigation_migrate(sqlite3 *db)
{
    if (db == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    if (dd_db_migrate(db, DD_STORE_MITIGATION_COMPONENT, MIGRATIONS,
                      sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0])) != DD_DB_OK) {
        return DD_STORE_SQL_ERROR;
    }
    return DD_STORE_OK;
}

/* ---- actions ------------------------------------------------------------------------ */

#define ACTION_COLUMNS "name, action_id, action_type, role_arn, params, created_ms, modified_ms"

static dd_store_status_t action_from_row(sqlite3_stmt *st, dd_store_mitigation_action_t *a)
{
    const text_col_t cols[] = {
        {0, &a->name, false},     {1, &a->id, false},          {2, &a->type, false},
        {3, &a->role_arn, false}, {4, &a->params_json, false},
    };

    memset(a, 0, sizeof(*a));
    a->created_ms = sqlite3_column_int64(st, 5);
    a->modified_ms = sqlite3_column_int64(st, 6);
    return copy_texts(st, cols, sizeof(cols) / sizeof(cols[0]), &a->storage_);
}

dd_store_status_t dd_store_mitigation_action_insert(sqlite3 *db,
                                                    const dd_store_mitigation_action_t *a)
{
    sqlite3_stmt *st;
    int rc;

    if (db == NULL || a == NULL || a->name == NULL || a->id == NULL || a->type == NULL ||
        a->role_arn == NULL || a->params_json == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    st = prep(db, "INSERT INTO mitigation_actions(" ACTION_COLUMNS ")"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(name) DO NOTHING");
    if (st == NULL) {
        return sql_fail(db, "insert action");
    }
    bind_text(st, 1, a->name);
    bind_text(st, 2, a->id);
    bind_text(st, 3, a->type);
    bind_text(st, 4, a->role_arn);
    bind_text(st, 5, a->params_json);
    (void)sqlite3_bind_int64(st, 6, a->created_ms);
    (void)sqlite3_bind_int64(st, 7, a->modified_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return sql_fail(db, "insert action");
    }
    return sqlite3_changes(db) == 1 ? DD_STORE_OK : DD_STORE_EXISTS;
}

dd_store_status_t dd_store_mitigation_action_get(sqlite3 *db, const char *name,
                                                 dd_store_mitigation_action_t *out)
{
    dd_store_status_t status;
    sqlite3_stmt *st;
    int rc;

    if (db == NULL || name == NULL || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    st = prep(db, "SELECT " ACTION_COLUMNS " FROM mitigation_actions WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(db, "get action");
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        status = action_from_row(st, out);
    } else {
        status = rc == SQLITE_DONE ? DD_STORE_NOT_FOUND : sql_fail(db, "get action");
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t dd_store_mitigation_action_update(sqlite3 *db, const char *name, const char *type,
                                                    const char *role_arn, const char *params_json,
                                                    int64_t now_ms)
{
    sqlite3_stmt *st;
    int rc;

    if (db == NULL || name == NULL || (type == NULL) != (params_json == NULL)) {
        return DD_STORE_BAD_PARAMETER;
    }
    st = prep(db, "UPDATE mitigation_actions SET action_type = COALESCE(?2, action_type),"
                  " role_arn = COALESCE(?3, role_arn), params = COALESCE(?4, params),"
                  " modified_ms = ?5 WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(db, "update action");
    }
    bind_text(st, 1, name);
    bind_text(st, 2, type);
    bind_text(st, 3, role_arn);
    bind_text(st, 4, params_json);
    (void)sqlite3_bind_int64(st, 5, now_ms);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return sql_fail(db, "update action");
    }
    return sqlite3_changes(db) == 0 ? DD_STORE_NOT_FOUND : DD_STORE_OK;
}

dd_store_status_t dd_store_mitigation_action_delete(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st;
    int rc;

    if (db == NULL || name == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    st = prep(db, "DELETE FROM mitigation_actions WHERE name = ?1");
    if (st == NULL) {
        return sql_fail(db, "delete action");
    }
    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_STORE_OK : sql_fail(db, "delete action");
}

dd_store_status_t dd_store_mitigation_action_list(sqlite3 *db, const char *type, const char *after,
                                                  int limit, dd_store_mitigation_action_t **rows,
                                                  size_t *count, char *next)
{
    dd_store_mitigation_action_t *list = NULL;
    dd_store_status_t status = DD_STORE_OK;
    sqlite3_stmt *st;
    size_t n = 0;
    size_t cap = 0;
    void *grown;
    int rc;
    char from[DD_STORE_MITIGATION_KEY_MAX];

    if (db == NULL || rows == NULL || count == NULL || next == NULL || limit <= 0) {
        return DD_STORE_BAD_PARAMETER;
    }
    *rows = NULL;
    *count = 0;
    /* Callers commonly pass the previous `next` as `after`: copy it before clearing. */
    (void)snprintf(from, sizeof(from), "%s", after != NULL ? after : "");
    next[0] = '\0';
    st = prep(db, "SELECT " ACTION_COLUMNS " FROM mitigation_actions WHERE name > ?1"
                  " AND (?2 IS NULL OR action_type = ?2) ORDER BY name LIMIT ?3");
    if (st == NULL) {
        return sql_fail(db, "list actions");
    }
    bind_text(st, 1, from);
    bind_text(st, 2, type);
    (void)sqlite3_bind_int(st, 3, limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == (size_t)limit) {
            (void)snprintf(next, DD_STORE_MITIGATION_KEY_MAX, "%s", list[n - 1].name);
            break;
        }
        grown = grow(list, &cap, n, sizeof(*list));
        if (grown == NULL) {
            status = DD_STORE_NO_MEMORY;
            break;
        }
        list = grown;
        status = action_from_row(st, &list[n]);
        if (status != DD_STORE_OK) {
            break;
        }
        n++;
    }
    if (status == DD_STORE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        status = sql_fail(db, "list actions");
    }
    sqlite3_finalize(st);
    if (status != DD_STORE_OK) {
        dd_store_mitigation_actions_free(list, n);
        next[0] = '\0';
        return status;
    }
    *rows = list;
    *count = n;
    return DD_STORE_OK;
}

void dd_store_mitigation_action_clear(dd_store_mitigation_action_t *action)
{
    if (action != NULL) {
        free(action->storage_);
        memset(action, 0, sizeof(*action));
    }
}

void dd_store_mitigation_actions_free(dd_store_mitigation_action_t *rows, size_t count)
{
    size_t i;

    if (rows == NULL) {
        return;
    }
    for (i = 0; i < count; i++) {
        dd_store_mitigation_action_clear(&rows[i]);
    }
    free(rows);
}

/* ---- tasks ---------------------------------------------------------------------------- */

#define TASK_COLUMNS                                                                      \
    "task_id, client_token, status, start_ms, end_ms, target, has_range, range_start_ms," \
    " range_end_ms, only_active, include_suppressed, actions, executed, skipped, failed, seq"

static dd_store_status_t task_from_row(sqlite3_stmt *st, dd_store_mitigation_task_t *t)
{
    const text_col_t cols[] = {
        {0, &t->task_id, false},     {1, &t->client_token, false},  {2, &t->status, false},
        {5, &t->target_json, false}, {11, &t->actions_json, false},
    };

    memset(t, 0, sizeof(*t));
    t->start_ms = sqlite3_column_int64(st, 3);
    t->end_ms = sqlite3_column_int64(st, 4);
    t->has_range = sqlite3_column_int(st, 6) != 0;
    t->range_start_ms = sqlite3_column_int64(st, 7);
    t->range_end_ms = sqlite3_column_int64(st, 8);
    t->only_active = sqlite3_column_int(st, 9);
    t->include_suppressed = sqlite3_column_int(st, 10);
    t->executed = sqlite3_column_int64(st, 12);
    t->skipped = sqlite3_column_int64(st, 13);
    t->failed = sqlite3_column_int64(st, 14);
    return copy_texts(st, cols, sizeof(cols) / sizeof(cols[0]), &t->storage_);
}

dd_store_status_t dd_store_mitigation_task_insert(sqlite3 *db, const dd_store_mitigation_task_t *t)
{
    sqlite3_stmt *st;
    int rc;

    if (db == NULL || t == NULL || t->task_id == NULL || t->client_token == NULL ||
        t->status == NULL || t->target_json == NULL || t->actions_json == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    st = prep(db, "INSERT INTO mitigation_tasks(task_id, client_token, status, start_ms, end_ms,"
                  " target, has_range, range_start_ms, range_end_ms, only_active,"
                  " include_suppressed, actions, executed, skipped, failed)"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                  " ON CONFLICT(task_id) DO NOTHING");
    if (st == NULL) {
        return sql_fail(db, "insert task");
    }
    bind_text(st, 1, t->task_id);
    bind_text(st, 2, t->client_token);
    bind_text(st, 3, t->status);
    (void)sqlite3_bind_int64(st, 4, t->start_ms);
    (void)sqlite3_bind_int64(st, 5, t->end_ms);
    bind_text(st, 6, t->target_json);
    (void)sqlite3_bind_int(st, 7, t->has_range ? 1 : 0);
    (void)sqlite3_bind_int64(st, 8, t->range_start_ms);
    (void)sqlite3_bind_int64(st, 9, t->range_end_ms);
    (void)sqlite3_bind_int(st, 10, t->only_active);
    (void)sqlite3_bind_int(st, 11, t->include_suppressed);
    bind_text(st, 12, t->actions_json);
    (void)sqlite3_bind_int64(st, 13, t->executed);
    (void)sqlite3_bind_int64(st, 14, t->skipped);
    (void)sqlite3_bind_int64(st, 15, t->failed);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return sql_fail(db, "insert task");
    }
    return sqlite3_changes(db) == 1 ? DD_STORE_OK : DD_STORE_EXISTS;
}

dd_store_status_t dd_store_mitigation_task_get(sqlite3 *db, const char *task_id,
                                               dd_store_mitigation_task_t *out)
{
    dd_store_status_t status;
    sqlite3_stmt *st;
    int rc;

    if (db == NULL || task_id == NULL || out == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    memset(out, 0, sizeof(*out));
    st = prep(db, "SELECT " TASK_COLUMNS " FROM mitigation_tasks WHERE task_id = ?1");
    if (st == NULL) {
        return sql_fail(db, "get task");
    }
    bind_text(st, 1, task_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        status = task_from_row(st, out);
    } else {
        status = rc == SQLITE_DONE ? DD_STORE_NOT_FOUND : sql_fail(db, "get task");
    }
    sqlite3_finalize(st);
    return status;
}

dd_store_status_t dd_store_mitigation_task_finish(sqlite3 *db, const char *task_id,
                                                  const char *status, int64_t end_ms,
                                                  int64_t executed, int64_t skipped, int64_t failed)
{
    sqlite3_stmt *st;
    int rc;

    if (db == NULL || task_id == NULL || status == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    st = prep(db, "UPDATE mitigation_tasks SET status = ?2, end_ms = ?3, executed = ?4,"
                  " skipped = ?5, failed = ?6 WHERE task_id = ?1");
    if (st == NULL) {
        return sql_fail(db, "finish task");
    }
    bind_text(st, 1, task_id);
    bind_text(st, 2, status);
    (void)sqlite3_bind_int64(st, 3, end_ms);
    (void)sqlite3_bind_int64(st, 4, executed);
    (void)sqlite3_bind_int64(st, 5, skipped);
    (void)sqlite3_bind_int64(st, 6, failed);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return sql_fail(db, "finish task");
    }
    return sqlite3_changes(db) == 1 ? DD_STORE_OK : DD_STORE_NOT_FOUND;
}

dd_store_status_t dd_store_mitigation_task_list(sqlite3 *db, int64_t start_ms, int64_t end_ms,
                                                const char *after, int limit,
                                                dd_store_mitigation_task_t **rows, size_t *count,
                                                char *next)
{
    dd_store_mitigation_task_t *list = NULL;
    dd_store_status_t status = DD_STORE_OK;
    sqlite3_stmt *st;
    size_t n = 0;
    size_t cap = 0;
    void *grown;
    int64_t last = 0;
    int64_t from;
    int rc;

    if (db == NULL || rows == NULL || count == NULL || next == NULL || limit <= 0) {
        return DD_STORE_BAD_PARAMETER;
    }
    *rows = NULL;
    *count = 0;
    from = key_seq(after);
    next[0] = '\0';
    st = prep(db, "SELECT " TASK_COLUMNS " FROM mitigation_tasks WHERE seq > ?1"
                  " AND start_ms >= ?2 AND start_ms <= ?3 ORDER BY seq LIMIT ?4");
    if (st == NULL) {
        return sql_fail(db, "list tasks");
    }
    (void)sqlite3_bind_int64(st, 1, from);
    (void)sqlite3_bind_int64(st, 2, start_ms);
    (void)sqlite3_bind_int64(st, 3, end_ms);
    (void)sqlite3_bind_int(st, 4, limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == (size_t)limit) {
            (void)snprintf(next, DD_STORE_MITIGATION_KEY_MAX, "%" PRId64, last);
            break;
        }
        grown = grow(list, &cap, n, sizeof(*list));
        if (grown == NULL) {
            status = DD_STORE_NO_MEMORY;
            break;
        }
        list = grown;
        status = task_from_row(st, &list[n]);
        if (status != DD_STORE_OK) {
            break;
        }
        last = sqlite3_column_int64(st, 15);
        n++;
    }
    if (status == DD_STORE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        status = sql_fail(db, "list tasks");
    }
    sqlite3_finalize(st);
    if (status != DD_STORE_OK) {
        dd_store_mitigation_tasks_free(list, n);
        next[0] = '\0';
        return status;
    }
    *rows = list;
    *count = n;
    return DD_STORE_OK;
}

void dd_store_mitigation_task_clear(dd_store_mitigation_task_t *task)
{
    if (task != NULL) {
        free(task->storage_);
        memset(task, 0, sizeof(*task));
    }
}

void dd_store_mitigation_tasks_free(dd_store_mitigation_task_t *rows, size_t count)
{
    size_t i;

    if (rows == NULL) {
        return;
    }
    for (i = 0; i < count; i++) {
        dd_store_mitigation_task_clear(&rows[i]);
    }
    free(rows);
}

/* ---- executions -------------------------------------------------------------------- */

dd_store_status_t dd_store_mitigation_execution_insert(sqlite3 *db,
                                                       const dd_store_mitigation_execution_t *e)
{
    sqlite3_stmt *st;
    int rc;

    if (db == NULL || e == NULL || e->task_id == NULL || e->violation_id == NULL ||
        e->action_name == NULL || e->thing == NULL || e->status == NULL) {
        return DD_STORE_BAD_PARAMETER;
    }
    st = prep(db, "INSERT INTO mitigation_executions(task_id, violation_id, action_name, thing,"
                  " start_ms, end_ms, status, error_code, message)"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (st == NULL) {
        return sql_fail(db, "insert execution");
    }
    bind_text(st, 1, e->task_id);
    bind_text(st, 2, e->violation_id);
    bind_text(st, 3, e->action_name);
    bind_text(st, 4, e->thing);
    (void)sqlite3_bind_int64(st, 5, e->start_ms);
    (void)sqlite3_bind_int64(st, 6, e->end_ms);
    bind_text(st, 7, e->status);
    bind_text(st, 8, e->error_code);
    bind_text(st, 9, e->message);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DD_STORE_OK : sql_fail(db, "insert execution");
}

static dd_store_status_t execution_from_row(sqlite3_stmt *st, dd_store_mitigation_execution_t *e)
{
    const text_col_t cols[] = {
        {0, &e->task_id, false}, {1, &e->violation_id, false}, {2, &e->action_name, false},
        {3, &e->thing, false},   {6, &e->status, false},       {7, &e->error_code, true},
        {8, &e->message, true},
    };

    memset(e, 0, sizeof(*e));
    e->start_ms = sqlite3_column_int64(st, 4);
    e->end_ms = sqlite3_column_int64(st, 5);
    return copy_texts(st, cols, sizeof(cols) / sizeof(cols[0]), &e->storage_);
}

dd_store_status_t dd_store_mitigation_execution_list(sqlite3 *db,
                                                     const dd_store_mitigation_exec_filter_t *f,
                                                     const char *after, int limit,
                                                     dd_store_mitigation_execution_t **rows,
                                                     size_t *count, char *next)
{
    dd_store_mitigation_execution_t *list = NULL;
    dd_store_status_t status = DD_STORE_OK;
    sqlite3_stmt *st;
    size_t n = 0;
    size_t cap = 0;
    void *grown;
    int64_t last = 0;
    int64_t from;
    int rc;

    if (db == NULL || rows == NULL || count == NULL || next == NULL || limit <= 0) {
        return DD_STORE_BAD_PARAMETER;
    }
    *rows = NULL;
    *count = 0;
    from = key_seq(after);
    next[0] = '\0';
    st = prep(db, "SELECT task_id, violation_id, action_name, thing, start_ms, end_ms, status,"
                  " error_code, message, seq FROM mitigation_executions WHERE seq > ?1"
                  " AND (?2 IS NULL OR task_id = ?2) AND (?3 IS NULL OR violation_id = ?3)"
                  " AND (?4 IS NULL OR thing = ?4) AND (?5 = 0 OR start_ms >= ?5)"
                  " AND (?6 = 0 OR start_ms <= ?6) ORDER BY seq LIMIT ?7");
    if (st == NULL) {
        return sql_fail(db, "list executions");
    }
    (void)sqlite3_bind_int64(st, 1, from);
    bind_text(st, 2, f != NULL ? f->task_id : NULL);
    bind_text(st, 3, f != NULL ? f->violation_id : NULL);
    bind_text(st, 4, f != NULL ? f->thing : NULL);
    (void)sqlite3_bind_int64(st, 5, f != NULL ? f->start_ms : 0);
    (void)sqlite3_bind_int64(st, 6, f != NULL ? f->end_ms : 0);
    (void)sqlite3_bind_int(st, 7, limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == (size_t)limit) {
            (void)snprintf(next, DD_STORE_MITIGATION_KEY_MAX, "%" PRId64, last);
            break;
        }
        grown = grow(list, &cap, n, sizeof(*list));
        if (grown == NULL) {
            status = DD_STORE_NO_MEMORY;
            break;
        }
        list = grown;
        status = execution_from_row(st, &list[n]);
        if (status != DD_STORE_OK) {
            break;
        }
        last = sqlite3_column_int64(st, 9);
        n++;
    }
    if (status == DD_STORE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        status = sql_fail(db, "list executions");
    }
    sqlite3_finalize(st);
    if (status != DD_STORE_OK) {
        dd_store_mitigation_executions_free(list, n);
        next[0] = '\0';
        return status;
    }
    *rows = list;
    *count = n;
    return DD_STORE_OK;
}

void dd_store_mitigation_execution_clear(dd_store_mitigation_execution_t *execution)
{
    if (execution != NULL) {
        free(execution->storage_);
        memset(execution, 0, sizeof(*execution));
    }
}

void dd_store_mitigation_executions_free(dd_store_mitigation_execution_t *rows, size_t count)
{
    size_t i;

    if (rows == NULL) {
        return;
    }
    for (i = 0; i < count; i++) {
        dd_store_mitigation_execution_clear(&rows[i]);
    }
    free(rows);
}
