#include "dd_export.h"

#include "dd_fs.h"
#include "dd_kmerge.h"
#include "dd_names.h"
#include "dd_profile.h"
#include "dd_report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One source of the merge: a time-ordered cursor and its current row. */
typedef struct source {
    dd_store_history_t *cursor;
    dd_store_history_row_t row;
    bool failed;
} source_t;

/* The sources in the order that breaks ties of equal time: reports, then metering (both data,
 * as stored), then ticks (a tick goes after the data of its time). The same order as the sort of
 * the whole range that this merge replaced, so the lines are the same. */
enum { SRC_REPORTS, SRC_METERING, SRC_TICKS, SRC_COUNT };

struct dd_export_reader {
    dd_store_t *store;
    bool snapshot; /* a read transaction of ours is open */
    source_t src[SRC_COUNT];
    dd_kmerge_source_t msrc[SRC_COUNT];
    dd_kmerge_t merge;
    char *line; /* the current line (cJSON_free) */
    dd_export_counts_t counts;
    bool failed;
};

static const char *const EVENT_TYPES[] = {"message-sent", "message-received",
                                          "authorization-failure", "connect", "disconnect"};

static bool source_advance(void *ctx, int64_t *time_ms, bool *has_item)
{
    source_t *src = ctx;

    if (dd_store_history_next(src->cursor, &src->row, has_item) != DD_STORE_OK) {
        src->failed = true;
        return false;
    }
    *time_ms = src->row.time_ms;
    return true;
}

static cJSON *report_line(const dd_store_history_row_t *r)
{
    cJSON *obj = cJSON_CreateObject();
    bool cbor = r->format == (int)DD_REPORT_FORMAT_CBOR;
    char *text = malloc(cbor ? 2 * r->len + 1 : r->len + 1);
    size_t i;

    if (obj == NULL || text == NULL) {
        cJSON_Delete(obj);
        free(text);
        return NULL;
    }
    /* The bytes as received: replay decodes and validates them as ddlocald did. */
    if (cbor) {
        for (i = 0; i < r->len; i++) {
            (void)snprintf(text + 2 * i, 3, "%02x", r->payload[i]);
        }
        text[2 * r->len] = '\0';
    } else {
        if (r->len > 0) {
            memcpy(text, r->payload, r->len);
        }
        text[r->len] = '\0';
    }
    (void)cJSON_AddStringToObject(obj, "thing", r->thing);
    (void)cJSON_AddNumberToObject(obj, "time", (double)r->time_ms);
    (void)cJSON_AddStringToObject(obj, cbor ? "cbor" : "json", text);
    free(text);
    return obj;
}

static cJSON *metering_line(const dd_store_metering_t *m)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *ev = cJSON_CreateObject();
    bool has_subject = m->subject != NULL && m->subject[0] != '\0';

    if (obj == NULL || ev == NULL) {
        cJSON_Delete(obj);
        cJSON_Delete(ev);
        return NULL;
    }
    (void)cJSON_AddStringToObject(obj, "thing", m->thing);
    (void)cJSON_AddNumberToObject(obj, "time", (double)m->time_ms);
    (void)cJSON_AddItemToObject(obj, "event", ev);
    (void)cJSON_AddStringToObject(ev, "type", EVENT_TYPES[m->kind]);
    switch (m->kind) {
    case DD_CLOUD_MESSAGE_SENT:
        (void)cJSON_AddStringToObject(ev, "topic", m->subject);
        (void)cJSON_AddNumberToObject(ev, "size", (double)m->size);
        break;
    case DD_CLOUD_MESSAGE_RECEIVED: (void)cJSON_AddStringToObject(ev, "topic", m->subject); break;
    case DD_CLOUD_AUTH_FAILURE:
        if (has_subject) {
            (void)cJSON_AddStringToObject(ev, "topic", m->subject);
        }
        break;
    case DD_CLOUD_CONNECT:
        if (has_subject) {
            (void)cJSON_AddStringToObject(ev, "sourceIp", m->subject);
        }
        if (!m->success) {
            (void)cJSON_AddBoolToObject(ev, "success", false);
        }
        break;
    case DD_CLOUD_DISCONNECT: break;
    }
    if (!m->registered) {
        (void)cJSON_AddBoolToObject(ev, "registered", false);
    }
    if (m->count > 1) {
        (void)cJSON_AddNumberToObject(ev, "repeat", (double)m->count);
    }
    return obj;
}

static cJSON *tick_line(int64_t time_ms)
{
    cJSON *obj = cJSON_CreateObject();

    (void)cJSON_AddNumberToObject(obj, "time", (double)time_ms);
    (void)cJSON_AddBoolToObject(obj, "tick", true);
    return obj;
}

void dd_export_reader_close(dd_export_reader_t *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < SRC_COUNT; i++) {
        dd_store_history_close(r->src[i].cursor);
    }
    dd_store_snapshot_end(r->store, r->snapshot);
    cJSON_free(r->line);
    free(r);
}

dd_export_status_t dd_export_reader_open(dd_store_t *store, int64_t from_ms, int64_t to_ms,
                                         dd_export_reader_t **reader)
{
    static const dd_store_history_kind_t KINDS[SRC_COUNT] = {DD_STORE_HISTORY_REPORTS,
                                                             DD_STORE_HISTORY_METERING,
                                                             DD_STORE_HISTORY_VIOLATIONS};
    dd_export_reader_t *r;
    size_t i;

    if (reader != NULL) {
        *reader = NULL;
    }
    if (store == NULL || reader == NULL || to_ms < from_ms) {
        return DD_EXPORT_BAD_PARAMETER;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return DD_EXPORT_NO_MEMORY;
    }
    r->store = store;
    /* One snapshot for the three cursors: ddlocald may be storing a batch meanwhile. */
    if (dd_store_snapshot_begin(store, &r->snapshot) != DD_STORE_OK) {
        free(r);
        return DD_EXPORT_STORE_ERROR;
    }
    for (i = 0; i < SRC_COUNT; i++) {
        if (dd_store_history_open(store, KINDS[i], from_ms, to_ms, &r->src[i].cursor) !=
            DD_STORE_OK) {
            dd_export_reader_close(r);
            return DD_EXPORT_STORE_ERROR;
        }
        r->msrc[i].advance = source_advance;
        r->msrc[i].ctx = &r->src[i];
    }
    (void)dd_kmerge_init(&r->merge, r->msrc, SRC_COUNT);
    *reader = r;
    return DD_EXPORT_OK;
}

dd_export_status_t dd_export_reader_next(dd_export_reader_t *r, const char **line, bool *has_line)
{
    dd_kmerge_status_t ks;
    const dd_store_history_row_t *row;
    cJSON *obj = NULL;
    size_t which = 0;
    bool has = false;

    if (has_line != NULL) {
        *has_line = false;
    }
    if (r == NULL || line == NULL || has_line == NULL || r->failed) {
        return r != NULL && r->failed ? DD_EXPORT_STORE_ERROR : DD_EXPORT_BAD_PARAMETER;
    }
    *line = NULL;
    cJSON_free(r->line);
    r->line = NULL;
    ks = dd_kmerge_next(&r->merge, &which, &has);
    if (ks != DD_KMERGE_OK) {
        r->failed = true;
        return DD_EXPORT_STORE_ERROR;
    }
    if (!has) {
        return DD_EXPORT_OK;
    }
    row = &r->src[which].row;
    switch (which) {
    case SRC_REPORTS:
        obj = report_line(row);
        r->counts.reports++;
        break;
    case SRC_METERING:
        obj = metering_line(&row->metering);
        r->counts.metering_lines++;
        r->counts.metering_events += (uint64_t)row->metering.count;
        break;
    default:
        obj = tick_line(row->time_ms);
        r->counts.ticks++;
        break;
    }
    r->line = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (r->line == NULL) {
        r->failed = true;
        return DD_EXPORT_NO_MEMORY;
    }
    r->counts.last_time_ms = row->time_ms;
    *line = r->line;
    *has_line = true;
    return DD_EXPORT_OK;
}

void dd_export_reader_counts(const dd_export_reader_t *r, dd_export_counts_t *counts)
{
    if (r == NULL || counts == NULL) {
        return;
    }
    counts->reports += r->counts.reports;
    counts->metering_lines += r->counts.metering_lines;
    counts->metering_events += r->counts.metering_events;
    counts->ticks += r->counts.ticks;
    if (r->counts.last_time_ms != 0) {
        counts->last_time_ms = r->counts.last_time_ms;
    }
}

dd_export_status_t dd_export_stream(dd_store_t *store, int64_t from_ms, int64_t to_ms, FILE *out,
                                    dd_export_counts_t *counts)
{
    dd_export_reader_t *r = NULL;
    dd_export_status_t status;
    const char *line = NULL;
    bool has = true;

    if (store == NULL || out == NULL || to_ms < from_ms) {
        return DD_EXPORT_BAD_PARAMETER;
    }
    status = dd_export_reader_open(store, from_ms, to_ms, &r);
    while (status == DD_EXPORT_OK && has) {
        status = dd_export_reader_next(r, &line, &has);
        if (status == DD_EXPORT_OK && has && (fputs(line, out) < 0 || putc('\n', out) < 0)) {
            status = DD_EXPORT_IO_ERROR;
        }
    }
    if (status == DD_EXPORT_OK) {
        dd_export_reader_counts(r, counts);
    }
    dd_export_reader_close(r);
    return status;
}

/* ---- things ------------------------------------------------------------------------------ */

typedef struct things_ctx {
    dd_registry_t *reg;
    cJSON *list;
    bool failed;
} things_ctx_t;

static int add_name(void *ctx, const char *name)
{
    return cJSON_AddItemToArray(ctx, cJSON_CreateString(name)) ? 0 : 1;
}

static int on_thing(void *ctx, const dd_registry_thing_t *t)
{
    things_ctx_t *tc = ctx;
    cJSON *obj = cJSON_CreateObject();
    cJSON *groups = cJSON_CreateArray();
    char token[256] = "";

    (void)cJSON_AddStringToObject(obj, "thingName", t->name);
    (void)cJSON_AddItemToObject(obj, "thingGroups", groups);
    (void)cJSON_AddItemToArray(tc->list, obj);
    do {
        dd_registry_page_t page = {token, 250};
        char next[256] = "";
        if (dd_registry_thing_groups(tc->reg, t->name, &page, add_name, groups, next, sizeof(next),
                                     NULL) != DD_REGISTRY_OK) {
            tc->failed = true;
            return 1;
        }
        (void)snprintf(token, sizeof(token), "%s", next);
    } while (token[0] != '\0');
    return 0;
}

static int on_group(void *ctx, const dd_registry_group_t *g)
{
    things_ctx_t *tc = ctx;
    cJSON *obj = cJSON_CreateObject();

    (void)cJSON_AddStringToObject(obj, "thingGroupName", g->name);
    if (g->parent != NULL && g->parent[0] != '\0') {
        (void)cJSON_AddStringToObject(obj, "parentGroupName", g->parent);
    }
    return cJSON_AddItemToArray(tc->list, obj) ? 0 : 1;
}

dd_export_status_t dd_export_things(dd_registry_t *reg, FILE *out)
{
    cJSON *root = cJSON_CreateObject();
    things_ctx_t tc = {reg, NULL, false};
    char token[256] = "";
    char *text;
    dd_export_status_t status = DD_EXPORT_OK;

    if (reg == NULL || out == NULL || root == NULL) {
        cJSON_Delete(root);
        return root == NULL && reg != NULL && out != NULL ? DD_EXPORT_NO_MEMORY
                                                          : DD_EXPORT_BAD_PARAMETER;
    }
    tc.list = cJSON_AddArrayToObject(root, "things");
    do {
        dd_registry_page_t page = {token, 250};
        char next[256] = "";
        if (dd_registry_thing_list(reg, &page, on_thing, &tc, next, sizeof(next)) !=
                DD_REGISTRY_OK ||
            tc.failed) {
            status = DD_EXPORT_STORE_ERROR;
            break;
        }
        (void)snprintf(token, sizeof(token), "%s", next);
    } while (token[0] != '\0');
    tc.list = cJSON_AddArrayToObject(root, "thingGroups");
    token[0] = '\0';
    while (status == DD_EXPORT_OK) {
        dd_registry_page_t page = {token, 250};
        char next[256] = "";
        if (dd_registry_group_list(reg, NULL, NULL, false, &page, on_group, &tc, next, sizeof(next),
                                   NULL) != DD_REGISTRY_OK) {
            status = DD_EXPORT_STORE_ERROR;
        }
        (void)snprintf(token, sizeof(token), "%s", next);
        if (token[0] == '\0') {
            break;
        }
    }
    text = status == DD_EXPORT_OK ? cJSON_Print(root) : NULL;
    if (status == DD_EXPORT_OK && text == NULL) {
        status = DD_EXPORT_NO_MEMORY;
    }
    if (text != NULL && fprintf(out, "%s\n", text) < 0) {
        status = DD_EXPORT_IO_ERROR;
    }
    cJSON_free(text);
    cJSON_Delete(root);
    return status;
}

/* ---- the bundle --------------------------------------------------------------------------- */

/* A growing command line. */
typedef struct cmdline {
    char *text;
    size_t len;
    size_t cap;
    bool failed;
} cmdline_t;

static void cmd_add(cmdline_t *c, const char *s)
{
    size_t n = strlen(s);

    if (c->failed) {
        return;
    }
    if (c->len + n + 1 > c->cap) {
        size_t cap = (c->len + n + 1) * 2;
        char *bigger = realloc(c->text, cap);
        if (bigger == NULL) {
            c->failed = true;
            return;
        }
        c->text = bigger;
        c->cap = cap;
    }
    memcpy(c->text + c->len, s, n + 1);
    c->len += n;
}

/* Adds " WORD", single-quoted for the shell unless it is plainly safe. */
static void cmd_word(cmdline_t *c, const char *word)
{
    const char *p;
    bool plain = word[0] != '\0';
    char one[2] = {0, 0};

    for (p = word; *p != '\0'; p++) {
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,=+@%",
                   *p) == NULL) {
            plain = false;
        }
    }
    cmd_add(c, " ");
    if (plain) {
        cmd_add(c, word);
        return;
    }
    cmd_add(c, "'");
    for (p = word; *p != '\0'; p++) {
        if (*p == '\'') {
            cmd_add(c, "'\\''");
        } else {
            one[0] = *p;
            cmd_add(c, one);
        }
    }
    cmd_add(c, "'");
}

static dd_export_status_t write_text(const char *path, const char *text)
{
    return dd_fs_write_atomic(path, text, strlen(text), 0644) == DD_FS_OK ? DD_EXPORT_OK
                                                                          : DD_EXPORT_IO_ERROR;
}

typedef struct bundle {
    dd_store_t *store;
    const dd_arn_ctx_t *arn;
    const char *dir;
    cmdline_t *cmd;
    dd_export_defs_t *defs;
    dd_export_status_t status;
} bundle_t;

/* Target ARNs in replay's default account and region (the data dir's may differ). */
static void retarget(const dd_arn_ctx_t *arn, dd_profile_t *p)
{
    dd_arn_ctx_t def;
    size_t i;

    dd_arn_ctx_default(&def);
    for (i = 0; i < p->target_count; i++) {
        dd_arn_target_t kind;
        char group[DD_ARN_MAX];
        char text[DD_ARN_MAX];
        char *copy;

        if (dd_arn_parse_target(arn, p->targets[i], &kind, group, sizeof(group)) != DD_NAMES_OK ||
            dd_arn_format_target(&def, kind, group, text, sizeof(text)) != DD_NAMES_OK ||
            (copy = strdup(text)) == NULL) {
            continue;
        }
        free(p->targets[i]);
        p->targets[i] = copy;
    }
}

dd_export_status_t dd_export_profile_json(dd_store_t *store, const dd_arn_ctx_t *arn,
                                          const char *name, char **text)
{
    dd_profile_t p;
    cJSON *obj;
    char *printed;

    if (store == NULL || arn == NULL || name == NULL || text == NULL) {
        return DD_EXPORT_BAD_PARAMETER;
    }
    *text = NULL;
    if (dd_store_profile_get(store, name, &p) != DD_STORE_OK) {
        return DD_EXPORT_STORE_ERROR;
    }
    retarget(arn, &p);
    obj = dd_profile_to_json(&p, NULL, DD_PROFILE_JSON_TARGETS);
    dd_profile_free(&p);
    printed = obj != NULL ? cJSON_Print(obj) : NULL;
    cJSON_Delete(obj);
    *text = printed != NULL ? strdup(printed) : NULL;
    cJSON_free(printed);
    return *text != NULL ? DD_EXPORT_OK : DD_EXPORT_NO_MEMORY;
}

static int on_profile(void *ctx, const char *name)
{
    bundle_t *b = ctx;
    char *text = NULL;
    char path[4096];
    char rel[600];

    b->status = dd_export_profile_json(b->store, b->arn, name, &text);
    if (b->status != DD_EXPORT_OK) {
        return 1;
    }
    (void)snprintf(path, sizeof(path), "%s/profiles/%s.json", b->dir, name);
    (void)snprintf(rel, sizeof(rel), "%s/profiles/%s.json", b->dir, name);
    b->status = write_text(path, text);
    free(text);
    cmd_word(b->cmd, "--profile");
    cmd_word(b->cmd, rel);
    return b->status == DD_EXPORT_OK ? 0 : 1;
}

/* Collects a definition's replay option into b->defs. */
static int add_def(bundle_t *b, char ***list, size_t *count, cmdline_t *opt)
{
    char **bigger;

    if (opt->failed || opt->text == NULL) {
        free(opt->text);
        b->status = DD_EXPORT_NO_MEMORY;
        return 1;
    }
    bigger = realloc(*list, (*count + 1) * sizeof(char *));
    if (bigger == NULL) {
        free(opt->text);
        b->status = DD_EXPORT_NO_MEMORY;
        return 1;
    }
    *list = bigger;
    (*list)[(*count)++] = opt->text;
    return 0;
}

static int on_custom(void *ctx, const char *name)
{
    bundle_t *b = ctx;
    dd_custom_metric_def_t def;
    cmdline_t opt = {NULL, 0, 0, false};

    if (dd_store_custom_metric_get(b->store, name, &def) != DD_STORE_OK) {
        b->status = DD_EXPORT_STORE_ERROR;
        return 1;
    }
    cmd_add(&opt, def.name);
    cmd_add(&opt, ":");
    cmd_add(&opt, dd_metric_custom_type_name(def.type));
    return add_def(b, &b->defs->customs, &b->defs->custom_count, &opt);
}

static int on_dimension(void *ctx, const char *name)
{
    bundle_t *b = ctx;
    dd_dimension_def_t *def = calloc(1, sizeof(*def));
    cmdline_t opt = {NULL, 0, 0, false};
    size_t i;

    if (def == NULL || dd_store_dimension_get(b->store, name, def) != DD_STORE_OK) {
        b->status = def == NULL ? DD_EXPORT_NO_MEMORY : DD_EXPORT_STORE_ERROR;
        free(def);
        return 1;
    }
    cmd_add(&opt, def->name);
    for (i = 0; i < def->value_count; i++) {
        cmd_add(&opt, i == 0 ? ":" : ",");
        cmd_add(&opt, def->values[i]);
    }
    free(def);
    return add_def(b, &b->defs->dimensions, &b->defs->dimension_count, &opt);
}

typedef dd_store_status_t (*name_list_fn)(dd_store_t *store, const dd_store_page_t *page,
                                          int (*fn)(void *ctx, const char *name), void *ctx,
                                          char next_token[DD_STORE_TOKEN_MAX]);

static dd_store_status_t list_profiles(dd_store_t *store, const dd_store_page_t *page,
                                       int (*fn)(void *ctx, const char *name), void *ctx,
                                       char next_token[DD_STORE_TOKEN_MAX])
{
    return dd_store_profile_list(store, NULL, NULL, page, fn, ctx, next_token);
}

static void each_name(bundle_t *b, name_list_fn list, int (*fn)(void *ctx, const char *name))
{
    char token[DD_STORE_TOKEN_MAX] = "";

    do {
        dd_store_page_t page = {token, 250};
        char next[DD_STORE_TOKEN_MAX] = "";
        if (list(b->store, &page, fn, b, next) != DD_STORE_OK && b->status == DD_EXPORT_OK) {
            b->status = DD_EXPORT_STORE_ERROR;
        }
        (void)snprintf(token, sizeof(token), "%s", next);
    } while (token[0] != '\0' && b->status == DD_EXPORT_OK);
}

/* Writes @p path through @p write (a stream or things export). */
static dd_export_status_t write_file(const char *path,
                                     dd_export_status_t (*write)(void *ctx, FILE *out), void *ctx)
{
    FILE *f = fopen(path, "w");
    dd_export_status_t status;

    if (f == NULL) {
        return DD_EXPORT_IO_ERROR;
    }
    status = write(ctx, f);
    if (fclose(f) != 0 && status == DD_EXPORT_OK) {
        status = DD_EXPORT_IO_ERROR;
    }
    return status;
}

typedef struct stream_args {
    dd_store_t *store;
    int64_t from_ms;
    int64_t to_ms;
    dd_export_counts_t *counts;
} stream_args_t;

static dd_export_status_t write_stream(void *ctx, FILE *out)
{
    stream_args_t *a = ctx;

    return dd_export_stream(a->store, a->from_ms, a->to_ms, out, a->counts);
}

static dd_export_status_t write_things(void *ctx, FILE *out)
{
    return dd_export_things(ctx, out);
}

dd_export_status_t dd_export_bundle(dd_store_t *store, dd_registry_t *reg, int64_t from_ms,
                                    int64_t to_ms, const char *dir, dd_export_counts_t *counts,
                                    char **command)
{
    cmdline_t cmd = {NULL, 0, 0, false};
    dd_export_defs_t defs;
    bundle_t b;
    stream_args_t args = {store, from_ms, to_ms, counts};
    size_t i;
    char path[4096];
    dd_export_status_t status;

    if (store == NULL || reg == NULL || dir == NULL || dir[0] == '\0' || command == NULL ||
        to_ms < from_ms || strlen(dir) > 2048) {
        return DD_EXPORT_BAD_PARAMETER;
    }
    *command = NULL;
    memset(&defs, 0, sizeof(defs));
    (void)snprintf(path, sizeof(path), "%s/profiles", dir);
    if (dd_fs_mkdirs(path, 0755) != DD_FS_OK) {
        return DD_EXPORT_IO_ERROR;
    }
    (void)snprintf(path, sizeof(path), "%s/stream.jsonl", dir);
    status = write_file(path, write_stream, &args);
    if (status == DD_EXPORT_OK) {
        (void)snprintf(path, sizeof(path), "%s/things.json", dir);
        status = write_file(path, write_things, reg);
    }
    if (status != DD_EXPORT_OK) {
        return status;
    }
    cmd_add(&cmd, "ddlocal replay");
    memset(&b, 0, sizeof(b));
    b.store = store;
    b.arn = &reg->arn;
    b.dir = dir;
    b.cmd = &cmd;
    b.defs = &defs;
    each_name(&b, list_profiles, on_profile);
    if (b.status == DD_EXPORT_OK) {
        b.status = dd_export_defs(store, &defs);
    }
    for (i = 0; b.status == DD_EXPORT_OK && i < defs.custom_count; i++) {
        cmd_word(&cmd, "--custom-metric");
        cmd_word(&cmd, defs.customs[i]);
    }
    for (i = 0; b.status == DD_EXPORT_OK && i < defs.dimension_count; i++) {
        cmd_word(&cmd, "--dimension");
        cmd_word(&cmd, defs.dimensions[i]);
    }
    dd_export_defs_free(&defs);
    (void)snprintf(path, sizeof(path), "%s/things.json", dir);
    cmd_word(&cmd, "--things");
    cmd_word(&cmd, path);
    (void)snprintf(path, sizeof(path), "%s/stream.jsonl", dir);
    cmd_word(&cmd, "--reports");
    cmd_word(&cmd, path);
    if (b.status == DD_EXPORT_OK && cmd.failed) {
        b.status = DD_EXPORT_NO_MEMORY;
    }
    if (b.status == DD_EXPORT_OK) {
        cmdline_t script = {NULL, 0, 0, false};
        cmd_add(&script, "#!/bin/sh\n# Replays this bundle (written by `ddlocal export`).\n");
        cmd_add(&script, "exec ");
        cmd_add(&script, cmd.text);
        cmd_add(&script, " \"$@\"\n");
        (void)snprintf(path, sizeof(path), "%s/replay.sh", dir);
        b.status = script.failed
                       ? DD_EXPORT_NO_MEMORY
                       : (dd_fs_write_atomic(path, script.text, script.len, 0755) == DD_FS_OK
                              ? DD_EXPORT_OK
                              : DD_EXPORT_IO_ERROR);
        free(script.text);
    }
    if (b.status != DD_EXPORT_OK) {
        free(cmd.text);
        return b.status;
    }
    *command = cmd.text;
    return DD_EXPORT_OK;
}

dd_export_status_t dd_export_defs(dd_store_t *store, dd_export_defs_t *defs)
{
    bundle_t b;

    if (store == NULL || defs == NULL) {
        return DD_EXPORT_BAD_PARAMETER;
    }
    memset(defs, 0, sizeof(*defs));
    memset(&b, 0, sizeof(b));
    b.store = store;
    b.defs = defs;
    each_name(&b, dd_store_custom_metric_list, on_custom);
    if (b.status == DD_EXPORT_OK) {
        each_name(&b, dd_store_dimension_list, on_dimension);
    }
    if (b.status != DD_EXPORT_OK) {
        dd_export_defs_free(defs);
    }
    return b.status;
}

void dd_export_defs_free(dd_export_defs_t *defs)
{
    size_t i;

    if (defs == NULL) {
        return;
    }
    for (i = 0; i < defs->custom_count; i++) {
        free(defs->customs[i]);
    }
    for (i = 0; i < defs->dimension_count; i++) {
        free(defs->dimensions[i]);
    }
    free(defs->customs);
    free(defs->dimensions);
    memset(defs, 0, sizeof(*defs));
}

const char *dd_export_strerror(dd_export_status_t status)
{
    switch (status) {
    case DD_EXPORT_OK: return "ok";
    case DD_EXPORT_BAD_PARAMETER: return "bad parameter";
    case DD_EXPORT_NO_MEMORY: return "out of memory";
    case DD_EXPORT_STORE_ERROR: return "reading the data dir's database failed";
    case DD_EXPORT_IO_ERROR: return "writing a file failed";
    }
    return "unknown export status";
}
