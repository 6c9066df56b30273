#include "dd_auditor.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd_seed.h"

#include "dd_audit_certcache.h"
#include "dd_log.h"
#include "dd_store_audit.h"

#define DAY_MS 86400000LL
#define CONFIG_ID "account"

struct dd_auditor {
    dd_auditor_config_t cfg;
    dd_auditor_notify_fn notify;
    void *notify_ctx;
    dd_audit_certcache_t *certs; /* parsed certificates, kept between tasks (swept after each) */
};

static const char *const DAYS[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};
static const char *const FREQUENCIES[] = {"DAILY", "WEEKLY", "BIWEEKLY", "MONTHLY", NULL};

/* ---- small helpers ----------------------------------------------------------------- */

static int64_t now_ms(const dd_auditor_t *a)
{
    return a->cfg.now_ms(a->cfg.clock_ctx);
}

static void say(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(char *msg, const char *fmt, ...)
{
    va_list ap;

    if (msg == NULL) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(msg, DD_AUDITOR_MESSAGE_MAX, fmt, ap);
    va_end(ap);
}

/* Ids from dd_seed: random, or reproducible under `up --seed` (each kind its own stream). */
static void random_hex(const char *stream, char *out, size_t bytes)
{
    unsigned char r[32];
    size_t i;

    if (bytes > sizeof(r) || dd_seed_bytes(stream, r, bytes) != DD_SEED_OK) {
        memset(r, 0x5a, sizeof(r));
    }
    for (i = 0; i < bytes && i < sizeof(r); i++) {
        (void)snprintf(out + 2 * i, 3, "%02x", r[i]);
    }
}

static void new_uuid(const char *stream, char out[37])
{
    if (dd_seed_uuid(stream, out) != DD_SEED_OK) {
        char h[33];
        random_hex(stream, h, 16);
        (void)snprintf(out, 37, "%.8s-%.4s-4%.3s-a%.3s-%.12s", h, h + 8, h + 13, h + 17, h + 20);
    }
}

static bool add_time(cJSON *obj, const char *name, int64_t ms)
{
    /* AWS's Timestamp: epoch seconds (the API prints them the same way). */
    return cJSON_AddNumberToObject(obj, name, (double)ms / 1000.0) != NULL;
}

static bool add_str(cJSON *obj, const char *name, const char *value)
{
    return value == NULL || cJSON_AddStringToObject(obj, name, value) != NULL;
}

static dd_auditor_status_t from_store(dd_store_status_t st)
{
    switch (st) {
    case DD_STORE_OK: return DD_AUDITOR_OK;
    case DD_STORE_NOT_FOUND: return DD_AUDITOR_NOT_FOUND;
    case DD_STORE_NO_MEMORY: return DD_AUDITOR_NO_MEMORY;
    case DD_STORE_BAD_PARAMETER: return DD_AUDITOR_INVALID; /* a resume key that is not ours */
    default: return DD_AUDITOR_STORE_ERROR;
    }
}

static dd_auditor_status_t get_doc(dd_auditor_t *a, dd_store_audit_table_t t, const char *id,
                                   cJSON **out)
{
    char *text = NULL;
    dd_store_status_t st = dd_store_audit_get(a->cfg.db, t, id, &text, NULL);

    *out = NULL;
    if (st != DD_STORE_OK) {
        return from_store(st);
    }
    *out = cJSON_Parse(text);
    free(text);
    return *out != NULL ? DD_AUDITOR_OK : DD_AUDITOR_NO_MEMORY;
}

static dd_auditor_status_t put_doc(dd_auditor_t *a, dd_store_audit_table_t t,
                                   dd_store_audit_row_t *row, const cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);
    dd_store_status_t st;

    if (text == NULL) {
        return DD_AUDITOR_NO_MEMORY;
    }
    row->doc = text;
    st = dd_store_audit_put(a->cfg.db, t, row);
    free(text);
    return from_store(st);
}

/* Members named "_..." are ddlocal's bookkeeping inside a document, never answered. */
static void strip_private(cJSON *doc)
{
    cJSON *item = doc != NULL ? doc->child : NULL;

    while (item != NULL) {
        cJSON *next = item->next;
        if (item->string != NULL && item->string[0] == '_') {
            cJSON_Delete(cJSON_DetachItemViaPointer(doc, item));
        }
        item = next;
    }
}

/* Appends each listed document (private members stripped) to an array. */
typedef struct append_ctx {
    cJSON *arr;
    const char *const *keep; /* members kept (metadata lists); NULL = all */
    bool failed;
} append_ctx_t;

static int append_row(void *ctx, const dd_store_audit_row_t *row)
{
    append_ctx_t *ac = ctx;
    cJSON *doc = cJSON_Parse(row->doc);
    cJSON *item = doc;

    if (doc != NULL && ac->keep != NULL) {
        size_t i;
        item = cJSON_CreateObject();
        for (i = 0; item != NULL && ac->keep[i] != NULL; i++) {
            cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(doc, ac->keep[i]);
            if (m != NULL) {
                cJSON_AddItemToObject(item, ac->keep[i], m);
            }
        }
        cJSON_Delete(doc);
    }
    strip_private(item);
    if (item == NULL || !cJSON_AddItemToArray(ac->arr, item)) {
        cJSON_Delete(item);
        ac->failed = true;
        return 1;
    }
    return 0;
}

static dd_auditor_status_t list_docs(dd_auditor_t *a, dd_store_audit_table_t t,
                                     const dd_store_audit_filter_t *f, const char *after, int limit,
                                     const char *const *keep, cJSON *out, char *next)
{
    append_ctx_t ac = {out, keep, false};
    dd_store_status_t st =
        dd_store_audit_list(a->cfg.db, t, f, after, limit, append_row, &ac, next);

    if (ac.failed) {
        return DD_AUDITOR_NO_MEMORY;
    }
    return from_store(st);
}

static const dd_audit_check_def_t *find_check(const dd_auditor_t *a, const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < a->cfg.catalogue_count; i++) {
        if (strcmp(a->cfg.catalogue[i].name, name) == 0) {
            return &a->cfg.catalogue[i];
        }
    }
    return NULL;
}

/* ---- pure functions ---------------------------------------------------------------- */

/* Howard Hinnant's civil calendar algorithms (proleptic Gregorian, days since 1970-01-01). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era;
    int64_t doe;
    int64_t yoe;
    int64_t doy;
    int64_t mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2 ? 1 : 0);
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era;
    int64_t yoe;
    int64_t doy;
    int64_t doe;

    y -= m <= 2 ? 1 : 0;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int month_days(int64_t y, int m)
{
    static const int DAYS_IN[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : DAYS_IN[m - 1];
}

static int64_t floor_day(int64_t ms)
{
    return ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
}

static int weekday(int64_t day)
{
    /* 1970-01-01 was a Thursday (4 with SUN = 0). */
    return (int)(((day % 7) + 7 + 4) % 7);
}

dd_auditor_status_t dd_auditor_schedule_next(const dd_auditor_schedule_t *s, int64_t anchor_ms,
                                             int64_t after_ms, int64_t *next_ms)
{
    int64_t day;

    if (s == NULL || next_ms == NULL || s->day_of_week < 0 || s->day_of_week > 6 ||
        s->day_of_month < 0 || s->day_of_month > 31) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    day = floor_day(after_ms) + 1; /* the first midnight strictly after */
    switch (s->frequency) {
    case DD_AUDITOR_DAILY: break;
    case DD_AUDITOR_WEEKLY:
        while (weekday(day) != s->day_of_week) {
            day++;
        }
        break;
    case DD_AUDITOR_BIWEEKLY: {
        int64_t first = floor_day(anchor_ms) + 1;
        while (weekday(first) != s->day_of_week) {
            first++;
        }
        if (first < day) {
            day = first + ((day - first + 13) / 14) * 14;
        } else {
            day = first;
        }
        break;
    }
    case DD_AUDITOR_MONTHLY: {
        int64_t y;
        int m;
        int d;
        int i;
        civil_from_days(day, &y, &m, &d);
        for (i = 0; i < 2; i++) {
            int last = month_days(y, m);
            int want = s->day_of_month == 0 || s->day_of_month > last ? last : s->day_of_month;
            int64_t cand = days_from_civil(y, m, want);
            if (cand >= day) {
                day = cand;
                break;
            }
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
        break;
    }
    default: return DD_AUDITOR_BAD_PARAMETER;
    }
    *next_ms = day * DAY_MS;
    return DD_AUDITOR_OK;
}

static int cmp_items(const void *x, const void *y)
{
    const cJSON *const *a = x;
    const cJSON *const *b = y;

    return strcmp((*a)->string, (*b)->string);
}

/* A copy of @p in whose objects have their members sorted (recursively). */
static cJSON *canonical(const cJSON *in)
{
    cJSON *out;
    const cJSON *c;
    cJSON **items;
    size_t n = 0;
    size_t i;

    if (!cJSON_IsObject(in)) {
        return cJSON_Duplicate(in, true);
    }
    cJSON_ArrayForEach (c, in) {
        n++;
    }
    out = cJSON_CreateObject();
    items = calloc(n > 0 ? n : 1, sizeof(*items));
    if (out == NULL || items == NULL) {
        cJSON_Delete(out);
        free(items);
        return NULL;
    }
    i = 0;
    cJSON_ArrayForEach (c, in) {
        items[i++] = (cJSON *)c;
    }
    qsort(items, n, sizeof(*items), cmp_items);
    for (i = 0; i < n; i++) {
        cJSON *v = canonical(items[i]);
        if (v == NULL || !cJSON_AddItemToObject(out, items[i]->string, v)) {
            cJSON_Delete(v);
            cJSON_Delete(out);
            free(items);
            return NULL;
        }
    }
    free(items);
    return out;
}

dd_auditor_status_t dd_auditor_resource_key(const cJSON *identifier, char **out)
{
    cJSON *c;

    if (out == NULL || !cJSON_IsObject(identifier)) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    c = canonical(identifier);
    *out = c != NULL ? cJSON_PrintUnformatted(c) : NULL;
    cJSON_Delete(c);
    return *out != NULL ? DD_AUDITOR_OK : DD_AUDITOR_NO_MEMORY;
}

bool dd_auditor_suppression_active(bool indefinitely, int64_t expiration_ms, int64_t now_ms)
{
    return indefinitely || (expiration_ms > 0 && expiration_ms > now_ms);
}

cJSON *dd_auditor_check_details(const dd_auditor_check_counts_t *c)
{
    cJSON *d;
    bool ok;

    if (c == NULL) {
        return NULL;
    }
    d = cJSON_CreateObject();
    if (d == NULL) {
        return NULL;
    }
    if (c->run_status != DD_AUDIT_OK && c->run_status != DD_AUDIT_NOT_APPLICABLE) {
        ok = cJSON_AddStringToObject(d, "checkRunStatus", "FAILED") != NULL &&
             cJSON_AddStringToObject(d, "errorCode", "INTERNAL_FAILURE") != NULL &&
             cJSON_AddStringToObject(d, "message", dd_audit_strerror(c->run_status)) != NULL;
    } else {
        bool compliant = c->non_compliant - c->suppressed <= 0;
        ok = cJSON_AddStringToObject(d, "checkRunStatus",
                                     compliant ? "COMPLETED_COMPLIANT"
                                               : "COMPLETED_NON_COMPLIANT") != NULL &&
             cJSON_AddBoolToObject(d, "checkCompliant", compliant) != NULL &&
             cJSON_AddNumberToObject(d, "totalResourcesCount", (double)c->total) != NULL &&
             cJSON_AddNumberToObject(d, "nonCompliantResourcesCount", (double)c->non_compliant) !=
                 NULL &&
             cJSON_AddNumberToObject(d, "suppressedNonCompliantResourcesCount",
                                     (double)c->suppressed) != NULL &&
             (c->run_status != DD_AUDIT_NOT_APPLICABLE || c->not_applicable == NULL ||
              cJSON_AddStringToObject(d, "message", c->not_applicable) != NULL);
    }
    if (!ok) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

dd_auditor_status_t dd_auditor_open(const dd_auditor_config_t *config, dd_auditor_t **out)
{
    dd_auditor_t *a;

    if (config == NULL || out == NULL || config->db == NULL || config->store == NULL ||
        config->registry == NULL || config->now_ms == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return DD_AUDITOR_NO_MEMORY;
    }
    a->cfg = *config;
    if (a->cfg.catalogue == NULL) {
        a->cfg.catalogue = dd_audit_check_catalogue(&a->cfg.catalogue_count);
    }
    if (dd_audit_certcache_open(&a->certs) != DD_AUDIT_CERTCACHE_OK) {
        free(a);
        return DD_AUDITOR_NO_MEMORY;
    }
    *out = a;
    return DD_AUDITOR_OK;
}

void dd_auditor_close(dd_auditor_t *a)
{
    if (a != NULL) {
        dd_audit_certcache_close(a->certs);
    }
    free(a);
}

void dd_auditor_set_notify(dd_auditor_t *a, dd_auditor_notify_fn fn, void *ctx)
{
    if (a != NULL) {
        a->notify = fn;
        a->notify_ctx = ctx;
    }
}

/* ---- configuration ---------------------------------------------------------------------- */

/* The stored configuration, or an empty object (*configured false) on a fresh account. */
static dd_auditor_status_t load_config(dd_auditor_t *a, cJSON **cfg, bool *configured)
{
    dd_auditor_status_t st = get_doc(a, DD_STORE_AUDIT_CONFIG, CONFIG_ID, cfg);

    *configured = st == DD_AUDITOR_OK;
    if (st == DD_AUDITOR_NOT_FOUND) {
        *cfg = cJSON_CreateObject();
        st = *cfg != NULL ? DD_AUDITOR_OK : DD_AUDITOR_NO_MEMORY;
    }
    return st;
}

static const cJSON *check_config(const cJSON *cfg, const char *check)
{
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(cfg, "auditCheckConfigurations");

    return cJSON_GetObjectItemCaseSensitive(checks, check);
}

static bool check_enabled(const cJSON *cfg, const char *check)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(check_config(cfg, check), "enabled"));
}

dd_auditor_status_t dd_auditor_config_describe(dd_auditor_t *a, cJSON **out)
{
    cJSON *cfg = NULL;
    cJSON *obj;
    cJSON *checks;
    bool configured;
    size_t i;
    dd_auditor_status_t st;

    if (a == NULL || out == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = load_config(a, &cfg, &configured);
    if (st != DD_AUDITOR_OK) {
        return st;
    }
    obj = cJSON_CreateObject();
    if (obj != NULL) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "roleArn");
        if (v != NULL) {
            cJSON_AddItemToObject(obj, "roleArn", cJSON_Duplicate(v, true));
        }
        v = cJSON_GetObjectItemCaseSensitive(cfg, "auditNotificationTargetConfigurations");
        if (v != NULL) {
            cJSON_AddItemToObject(obj, "auditNotificationTargetConfigurations",
                                  cJSON_Duplicate(v, true));
        }
    }
    checks = cJSON_AddObjectToObject(obj, "auditCheckConfigurations");
    for (i = 0; checks != NULL && i < a->cfg.catalogue_count; i++) {
        const char *name = a->cfg.catalogue[i].name;
        const cJSON *c = check_config(cfg, name);
        cJSON *item = cJSON_CreateObject();
        const cJSON *conf = cJSON_GetObjectItemCaseSensitive(c, "configuration");
        cJSON_AddBoolToObject(item, "enabled", check_enabled(cfg, name));
        if (conf != NULL) {
            cJSON_AddItemToObject(item, "configuration", cJSON_Duplicate(conf, true));
        }
        cJSON_AddItemToObject(checks, name, item);
    }
    cJSON_Delete(cfg);
    if (checks == NULL) {
        cJSON_Delete(obj);
        return DD_AUDITOR_NO_MEMORY;
    }
    *out = obj;
    return DD_AUDITOR_OK;
}

/* Whether a scheduled audit targets @p check (its name in @p user). */
typedef struct uses_ctx {
    const char *check;
    char user[160];
} uses_ctx_t;

static int scheduled_uses(void *ctx, const dd_store_audit_row_t *row)
{
    uses_ctx_t *u = ctx;
    cJSON *doc = cJSON_Parse(row->doc);
    const cJSON *c;
    int found = 0;

    cJSON_ArrayForEach (c, cJSON_GetObjectItemCaseSensitive(doc, "targetCheckNames")) {
        if (cJSON_IsString(c) && strcmp(c->valuestring, u->check) == 0) {
            (void)snprintf(u->user, sizeof(u->user), "%s", row->id);
            found = 1;
        }
    }
    cJSON_Delete(doc);
    return found;
}

static bool is_sns_arn(const char *arn)
{
    return strncmp(arn, "arn:aws:sns:", 12) == 0 && strrchr(arn, ':') != NULL &&
           strrchr(arn, ':')[1] != '\0';
}

static dd_auditor_status_t merge_targets(cJSON *cfg, const cJSON *targets, char *msg)
{
    const cJSON *t;
    cJSON *dst;

    if (!cJSON_IsObject(targets)) {
        say(msg, "auditNotificationTargetConfigurations must be a map");
        return DD_AUDITOR_INVALID;
    }
    dst = cJSON_GetObjectItemCaseSensitive(cfg, "auditNotificationTargetConfigurations");
    if (dst == NULL) {
        dst = cJSON_AddObjectToObject(cfg, "auditNotificationTargetConfigurations");
    }
    cJSON_ArrayForEach (t, targets) {
        const cJSON *arn = cJSON_GetObjectItemCaseSensitive(t, "targetArn");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(t, "roleArn");
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(t, "enabled");
        cJSON *copy;

        if (strcmp(t->string, "SNS") != 0) {
            say(msg, "Unknown audit notification type %.60s: the only type is SNS", t->string);
            return DD_AUDITOR_INVALID;
        }
        if (!cJSON_IsObject(t) || (arn != NULL && !cJSON_IsString(arn)) ||
            (role != NULL && !cJSON_IsString(role)) || (en != NULL && !cJSON_IsBool(en))) {
            say(msg, "The SNS notification target must be {targetArn, roleArn, enabled}");
            return DD_AUDITOR_INVALID;
        }
        if (arn != NULL && !is_sns_arn(arn->valuestring)) {
            say(msg, "targetArn %.200s is not an SNS topic ARN", arn->valuestring);
            return DD_AUDITOR_INVALID;
        }
        if (cJSON_IsTrue(en) && (arn == NULL || role == NULL)) {
            say(msg, "An enabled SNS notification target needs targetArn and roleArn");
            return DD_AUDITOR_INVALID;
        }
        copy = cJSON_Duplicate(t, true);
        if (dst == NULL || copy == NULL) {
            cJSON_Delete(copy);
            return DD_AUDITOR_NO_MEMORY;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(dst, "SNS");
        cJSON_AddItemToObject(dst, "SNS", copy);
    }
    return DD_AUDITOR_OK;
}

/* The checks AWS lets configure, their one setting and its range (AWS's check pages). */
static const struct {
    const char *check;
    const char *setting;
} SETTINGS[] = {
    {"DEVICE_CERTIFICATE_AGE_CHECK", "CERT_AGE_THRESHOLD_IN_DAYS"},
    {"DEVICE_CERTIFICATE_EXPIRING_CHECK", "CERT_EXPIRATION_THRESHOLD_IN_DAYS"},
};
#define SETTING_MIN_DAYS 30
#define SETTING_MAX_DAYS 3652

static bool check_setting(const char *check, const cJSON *conf, char *msg)
{
    const char *setting = NULL;
    const cJSON *v;
    size_t i;

    for (i = 0; i < sizeof(SETTINGS) / sizeof(SETTINGS[0]); i++) {
        if (strcmp(SETTINGS[i].check, check) == 0) {
            setting = SETTINGS[i].setting;
        }
    }
    if (setting == NULL) {
        say(msg, "%.128s takes no configuration", check);
        return false;
    }
    cJSON_ArrayForEach (v, conf) {
        char *end = NULL;
        long days = cJSON_IsString(v) ? strtol(v->valuestring, &end, 10) : 0;
        if (strcmp(v->string, setting) != 0) {
            say(msg, "The configuration of %s takes only %s, not %.64s", check, setting, v->string);
            return false;
        }
        if (!cJSON_IsString(v) || end == v->valuestring || *end != '\0' ||
            days < SETTING_MIN_DAYS || days > SETTING_MAX_DAYS) {
            say(msg, "%s must be a number of days from %d to %d, as a string", setting,
                SETTING_MIN_DAYS, SETTING_MAX_DAYS);
            return false;
        }
    }
    return true;
}

static dd_auditor_status_t merge_checks(dd_auditor_t *a, cJSON *cfg, const cJSON *checks, char *msg)
{
    const cJSON *c;
    cJSON *dst;

    if (!cJSON_IsObject(checks)) {
        say(msg, "auditCheckConfigurations must be a map");
        return DD_AUDITOR_INVALID;
    }
    dst = cJSON_GetObjectItemCaseSensitive(cfg, "auditCheckConfigurations");
    if (dst == NULL) {
        dst = cJSON_AddObjectToObject(cfg, "auditCheckConfigurations");
    }
    cJSON_ArrayForEach (c, checks) {
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(c, "enabled");
        const cJSON *conf = cJSON_GetObjectItemCaseSensitive(c, "configuration");
        cJSON *copy;

        if (find_check(a, c->string) == NULL) {
            say(msg, "%.128s is not a valid audit check name", c->string);
            return DD_AUDITOR_INVALID;
        }
        if (!cJSON_IsObject(c) || (en != NULL && !cJSON_IsBool(en)) ||
            (conf != NULL && !cJSON_IsObject(conf))) {
            say(msg, "The configuration of %.128s must be {enabled, configuration}", c->string);
            return DD_AUDITOR_INVALID;
        }
        if (conf != NULL && !check_setting(c->string, conf, msg)) {
            return DD_AUDITOR_INVALID;
        }
        if (!cJSON_IsTrue(en) && check_enabled(cfg, c->string)) {
            uses_ctx_t u = {c->string, ""};
            (void)dd_store_audit_list(a->cfg.db, DD_STORE_AUDIT_SCHEDULED, NULL, NULL, 0,
                                      scheduled_uses, &u, NULL);
            if (u.user[0] != '\0') {
                say(msg,
                    "%.128s is used by the scheduled audit %.128s: delete the check from the "
                    "scheduled audit, or the scheduled audit, before disabling it",
                    c->string, u.user);
                return DD_AUDITOR_INVALID;
            }
        }
        copy = cJSON_CreateObject();
        if (dst == NULL || copy == NULL) {
            cJSON_Delete(copy);
            return DD_AUDITOR_NO_MEMORY;
        }
        cJSON_AddBoolToObject(copy, "enabled", cJSON_IsTrue(en));
        if (conf != NULL) {
            cJSON_AddItemToObject(copy, "configuration", cJSON_Duplicate(conf, true));
        }
        cJSON_DeleteItemFromObjectCaseSensitive(dst, c->string);
        cJSON_AddItemToObject(dst, c->string, copy);
    }
    return DD_AUDITOR_OK;
}

static bool any_enabled(const dd_auditor_t *a, const cJSON *cfg)
{
    size_t i;

    for (i = 0; i < a->cfg.catalogue_count; i++) {
        if (check_enabled(cfg, a->cfg.catalogue[i].name)) {
            return true;
        }
    }
    return false;
}

dd_auditor_status_t dd_auditor_config_update(dd_auditor_t *a, const cJSON *request, char *msg)
{
    cJSON *cfg = NULL;
    bool configured;
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(request, "roleArn");
    const cJSON *targets =
        cJSON_GetObjectItemCaseSensitive(request, "auditNotificationTargetConfigurations");
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(request, "auditCheckConfigurations");
    dd_store_audit_row_t row;
    dd_auditor_status_t st;

    if (a == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = load_config(a, &cfg, &configured);
    if (st != DD_AUDITOR_OK) {
        return st;
    }
    if (!configured && (role == NULL || checks == NULL)) {
        say(msg, "The first UpdateAccountAuditConfiguration needs roleArn and "
                 "auditCheckConfigurations with at least one enabled check");
        st = DD_AUDITOR_INVALID;
    }
    if (st == DD_AUDITOR_OK && role != NULL) {
        if (!cJSON_IsString(role)) {
            say(msg, "roleArn must be a string");
            st = DD_AUDITOR_INVALID;
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(cfg, "roleArn");
            cJSON_AddStringToObject(cfg, "roleArn", role->valuestring);
        }
    }
    if (st == DD_AUDITOR_OK && targets != NULL) {
        st = merge_targets(cfg, targets, msg);
    }
    if (st == DD_AUDITOR_OK && checks != NULL) {
        st = merge_checks(a, cfg, checks, msg);
    }
    if (st == DD_AUDITOR_OK && !configured && !any_enabled(a, cfg)) {
        say(msg, "The first UpdateAccountAuditConfiguration must enable at least one check");
        st = DD_AUDITOR_INVALID;
    }
    if (st == DD_AUDITOR_OK) {
        memset(&row, 0, sizeof(row));
        row.id = CONFIG_ID;
        row.time_ms = now_ms(a);
        st = put_doc(a, DD_STORE_AUDIT_CONFIG, &row, cfg);
    }
    cJSON_Delete(cfg);
    return st;
}

static int count_row(void *ctx, const dd_store_audit_row_t *row)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

static int collect_ids(void *ctx, const dd_store_audit_row_t *row)
{
    cJSON *arr = ctx;

    return cJSON_AddItemToArray(arr, cJSON_CreateString(row->id)) ? 0 : 1;
}

dd_auditor_status_t dd_auditor_config_delete(dd_auditor_t *a, bool delete_scheduled, char *msg)
{
    char *doc = NULL;
    int scheduled = 0;
    dd_store_status_t st;

    if (a == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = dd_store_audit_get(a->cfg.db, DD_STORE_AUDIT_CONFIG, CONFIG_ID, &doc, NULL);
    free(doc);
    if (st == DD_STORE_NOT_FOUND) {
        say(msg, "The account audit configuration does not exist (it was never updated)");
        return DD_AUDITOR_NOT_FOUND;
    }
    if (st != DD_STORE_OK) {
        return from_store(st);
    }
    (void)dd_store_audit_list(a->cfg.db, DD_STORE_AUDIT_SCHEDULED, NULL, NULL, 0, count_row,
                              &scheduled, NULL);
    if (scheduled > 0 && !delete_scheduled) {
        say(msg, "%d scheduled audit(s) exist: delete them first or set deleteScheduledAudits",
            scheduled);
        return DD_AUDITOR_INVALID;
    }
    if (scheduled > 0) {
        cJSON *names = cJSON_CreateArray();
        const cJSON *n;
        if (names == NULL) {
            return DD_AUDITOR_NO_MEMORY;
        }
        (void)dd_store_audit_list(a->cfg.db, DD_STORE_AUDIT_SCHEDULED, NULL, NULL, 0, collect_ids,
                                  names, NULL);
        cJSON_ArrayForEach (n, names) {
            (void)dd_store_audit_delete(a->cfg.db, DD_STORE_AUDIT_SCHEDULED, n->valuestring, NULL);
        }
        cJSON_Delete(names);
    }
    return from_store(dd_store_audit_delete(a->cfg.db, DD_STORE_AUDIT_CONFIG, CONFIG_ID, NULL));
}

/* ---- audit tasks ------------------------------------------------------------------------- */

typedef struct suppression {
    char *check;
    char *key;
} suppression_t;

typedef struct suppressions {
    suppression_t *items;
    size_t count;
    size_t cap;
    int64_t now_ms;
    bool failed;
} suppressions_t;

static int collect_suppression(void *ctx, const dd_store_audit_row_t *row)
{
    suppressions_t *s = ctx;

    if (!dd_auditor_suppression_active(row->number != 0, row->time_ms, s->now_ms)) {
        return 0;
    }
    if (s->count == s->cap) {
        size_t cap = s->cap == 0 ? 16 : s->cap * 2;
        suppression_t *n = realloc(s->items, cap * sizeof(*n));
        if (n == NULL) {
            s->failed = true;
            return 1;
        }
        s->items = n;
        s->cap = cap;
    }
    s->items[s->count].check = strdup(row->a != NULL ? row->a : "");
    s->items[s->count].key = strdup(row->b != NULL ? row->b : "");
    if (s->items[s->count].check == NULL || s->items[s->count].key == NULL) {
        free(s->items[s->count].check);
        free(s->items[s->count].key);
        s->failed = true;
        return 1;
    }
    s->count++;
    return 0;
}

static void suppressions_free(suppressions_t *s)
{
    size_t i;

    for (i = 0; i < s->count; i++) {
        free(s->items[i].check);
        free(s->items[i].key);
    }
    free(s->items);
}

static int cmp_suppression(const void *x, const void *y)
{
    const suppression_t *a = x;
    const suppression_t *b = y;
    int c = strcmp(a->check, b->check);

    return c != 0 ? c : strcmp(a->key, b->key);
}

/* Sorted once per task, so a task of many findings and suppressions stays n log m. */
static bool is_suppressed(const suppressions_t *s, const char *check, const char *key)
{
    suppression_t want;

    want.check = (char *)check;
    want.key = (char *)key;
    return s->count > 0 &&
           bsearch(&want, s->items, s->count, sizeof(*s->items), cmp_suppression) != NULL;
}

typedef struct run_ctx {
    dd_auditor_t *a;
    const char *task_id;
    const dd_audit_check_def_t *check;
    const suppressions_t *supp;
    dd_store_audit_writer_t *writer; /* the findings' rows */
    int64_t start_ms;
    int64_t non_compliant;
    int64_t suppressed;
    dd_auditor_status_t status;
} run_ctx_t;

static cJSON *finding_json(const run_ctx_t *r, const dd_audit_finding_t *f, const char *id,
                           bool suppressed)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *res = cJSON_CreateObject();
    bool ok = doc != NULL && res != NULL;

    ok = ok && add_str(doc, "findingId", id) && add_str(doc, "taskId", r->task_id) &&
         add_str(doc, "checkName", r->check->name) && add_time(doc, "taskStartTime", r->start_ms) &&
         add_time(doc, "findingTime", r->start_ms) &&
         add_str(doc, "severity", f->severity != NULL ? f->severity : r->check->severity);
    ok = ok && add_str(res, "resourceType", f->resource_type) &&
         cJSON_AddItemToObject(res, "resourceIdentifier",
                               cJSON_Duplicate(f->resource_identifier, true)) &&
         (f->additional_info == NULL ||
          cJSON_AddItemToObject(res, "additionalInfo", cJSON_Duplicate(f->additional_info, true)));
    if (ok) {
        ok = cJSON_AddItemToObject(doc, "nonCompliantResource", res);
        res = NULL;
    }
    ok = ok &&
         (f->related_resources == NULL ||
          cJSON_AddItemToObject(doc, "relatedResources",
                                cJSON_Duplicate(f->related_resources, true))) &&
         add_str(doc, "reasonForNonCompliance", f->reason) &&
         add_str(doc, "reasonForNonComplianceCode", f->reason_code) &&
         cJSON_AddBoolToObject(doc, "isSuppressed", suppressed) != NULL;
    cJSON_Delete(res);
    if (!ok) {
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

static int take_finding(void *ctx, const dd_audit_finding_t *f)
{
    run_ctx_t *r = ctx;
    char id[37];
    char *key = NULL;
    cJSON *doc;
    bool suppressed;
    dd_store_audit_row_t row;

    if (f == NULL || !cJSON_IsObject(f->resource_identifier)) {
        return 0; /* a check's bug: nothing to key the finding by */
    }
    r->status = dd_auditor_resource_key(f->resource_identifier, &key);
    if (r->status != DD_AUDITOR_OK) {
        return 1;
    }
    suppressed = is_suppressed(r->supp, r->check->name, key);
    new_uuid("audit-finding-id", id);
    doc = finding_json(r, f, id, suppressed);
    if (doc == NULL) {
        free(key);
        r->status = DD_AUDITOR_NO_MEMORY;
        return 1;
    }
    memset(&row, 0, sizeof(row));
    row.id = id;
    row.a = r->task_id;
    row.b = r->check->name;
    row.c = key;
    row.time_ms = r->start_ms;
    row.number = suppressed ? 1 : 0;
    row.doc = cJSON_PrintUnformatted(doc);
    r->status = row.doc == NULL ? DD_AUDITOR_NO_MEMORY
                                : from_store(dd_store_audit_writer_put(r->writer, &row));
    free((char *)row.doc);
    cJSON_Delete(doc);
    free(key);
    if (r->status != DD_AUDITOR_OK) {
        return 1;
    }
    r->non_compliant++;
    r->suppressed += suppressed ? 1 : 0;
    return 0;
}

/* AWS's audit notification: counts, then one entry per check. */
static cJSON *notification(const dd_auditor_t *a, const char *task_id, const cJSON *task)
{
    cJSON *n = cJSON_CreateObject();
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(task, "taskStatistics");
    const cJSON *d;
    cJSON *arr;

    add_str(n, "accountId", a->cfg.arn.account);
    add_str(n, "taskId", task_id);
    cJSON_AddItemToObject(n, "taskStatus",
                          cJSON_Duplicate(cJSON_GetObjectItem(task, "taskStatus"), true));
    cJSON_AddItemToObject(n, "taskType",
                          cJSON_Duplicate(cJSON_GetObjectItem(task, "taskType"), true));
    if (cJSON_GetObjectItem(task, "scheduledAuditName") != NULL) {
        cJSON_AddItemToObject(n, "scheduledAuditName",
                              cJSON_Duplicate(cJSON_GetObjectItem(task, "scheduledAuditName"),
                                              true));
    }
    cJSON_AddNumberToObject(n, "failedChecksCount",
                            cJSON_GetNumberValue(cJSON_GetObjectItem(stats, "failedChecks")));
    cJSON_AddNumberToObject(n, "canceledChecksCount",
                            cJSON_GetNumberValue(cJSON_GetObjectItem(stats, "canceledChecks")));
    cJSON_AddNumberToObject(n, "nonCompliantChecksCount",
                            cJSON_GetNumberValue(cJSON_GetObjectItem(stats, "nonCompliantChecks")));
    cJSON_AddNumberToObject(n, "compliantChecksCount",
                            cJSON_GetNumberValue(cJSON_GetObjectItem(stats, "compliantChecks")));
    cJSON_AddNumberToObject(n, "totalChecksCount",
                            cJSON_GetNumberValue(cJSON_GetObjectItem(stats, "totalChecks")));
    /* The notification's taskStartTime is epoch milliseconds (AWS's sample). */
    cJSON_AddNumberToObject(n, "taskStartTime",
                            1000.0 *
                                cJSON_GetNumberValue(cJSON_GetObjectItem(task, "taskStartTime")));
    arr = cJSON_AddArrayToObject(n, "auditDetails");
    cJSON_ArrayForEach (d, cJSON_GetObjectItem(task, "auditDetails")) {
        cJSON *item = cJSON_Duplicate(d, true);
        if (item != NULL) {
            cJSON_DeleteItemFromObject(item, "checkCompliant");
            cJSON_AddStringToObject(item, "checkName", d->string);
            cJSON_AddItemToArray(arr, item);
        }
    }
    return n;
}

static void notify(dd_auditor_t *a, const char *task_id, const cJSON *task, const cJSON *cfg)
{
    const cJSON *sns = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cfg, "auditNotificationTargetConfigurations"), "SNS");
    const cJSON *arn = cJSON_GetObjectItemCaseSensitive(sns, "targetArn");
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(task, "taskStatistics");
    dd_auditor_notice_t notice;
    cJSON *msg;
    cJSON *summary;
    char *text;

    if (a->notify == NULL) {
        return;
    }
    msg = notification(a, task_id, task);
    text = msg != NULL ? cJSON_PrintUnformatted(msg) : NULL;
    summary = cJSON_CreateObject();
    add_str(summary, "taskId", task_id);
    cJSON_AddItemToObject(summary, "taskType",
                          cJSON_Duplicate(cJSON_GetObjectItem(task, "taskType"), true));
    cJSON_AddItemToObject(summary, "taskStatus",
                          cJSON_Duplicate(cJSON_GetObjectItem(task, "taskStatus"), true));
    cJSON_AddNumberToObject(summary, "nonCompliantChecks",
                            cJSON_GetNumberValue(cJSON_GetObjectItem(stats, "nonCompliantChecks")));
    cJSON_AddNumberToObject(summary, "totalChecks",
                            cJSON_GetNumberValue(cJSON_GetObjectItem(stats, "totalChecks")));
    if (text != NULL && summary != NULL) {
        memset(&notice, 0, sizeof(notice));
        notice.task_id = task_id;
        notice.message = text;
        notice.topic_arn =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sns, "enabled")) && cJSON_IsString(arn)
                ? arn->valuestring
                : NULL;
        if (notice.topic_arn != NULL) {
            cJSON_AddStringToObject(summary, "topicArn", notice.topic_arn);
        }
        notice.summary = summary;
        notice.time_ms = now_ms(a);
        a->notify(a->notify_ctx, &notice);
    } else {
        DD_LOG_ERROR("out of memory building the notification of audit task %s", task_id);
    }
    cJSON_Delete(summary);
    cJSON_Delete(msg);
    free(text);
}

/*
 * Did the task walk the device certificates? Only then does it know which cached
 * certificates still exist: a task of policy checks alone must not empty the cache.
 */
static bool certificate_checks_ran(const dd_audit_check_def_t *const *checks, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (checks[i]->run != NULL && strstr(checks[i]->name, "DEVICE_CERTIFICATE") != NULL &&
            strcmp(checks[i]->name, "DEVICE_CERTIFICATE_SHARED_CHECK") != 0) {
            return true;
        }
    }
    return false;
}

/* Runs the checks into the open transaction and returns the task's document. */
static dd_auditor_status_t run_checks(dd_auditor_t *a, const cJSON *cfg,
                                      const dd_audit_check_def_t *const *checks, size_t count,
                                      const char *task_id, int64_t start, cJSON *details,
                                      cJSON *stats)
{
    suppressions_t supp;
    dd_store_audit_writer_t *writer = NULL;
    int64_t compliant = 0;
    int64_t non_compliant = 0;
    int64_t failed = 0;
    size_t i;
    dd_auditor_status_t st = DD_AUDITOR_OK;

    memset(&supp, 0, sizeof(supp));
    supp.now_ms = start;
    (void)dd_store_audit_list(a->cfg.db, DD_STORE_AUDIT_SUPPRESSIONS, NULL, NULL, 0,
                              collect_suppression, &supp, NULL);
    if (supp.failed) {
        suppressions_free(&supp);
        return DD_AUDITOR_NO_MEMORY;
    }
    if (supp.count > 0) {
        qsort(supp.items, supp.count, sizeof(*supp.items), cmp_suppression);
    }
    st = from_store(dd_store_audit_writer_open(a->cfg.db, DD_STORE_AUDIT_FINDINGS, &writer));
    for (i = 0; st == DD_AUDITOR_OK && i < count; i++) {
        dd_audit_world_t world;
        run_ctx_t r;
        dd_auditor_check_counts_t counts;
        cJSON *d;

        memset(&world, 0, sizeof(world));
        world.registry = a->cfg.registry;
        world.store = a->cfg.store;
        world.now_ms = start;
        /* The certificates the checks still parse (most read stored facts): once, then kept. */
        world.certs = a->certs;
        world.check_config =
            cJSON_GetObjectItemCaseSensitive(check_config(cfg, checks[i]->name), "configuration");
        memset(&r, 0, sizeof(r));
        r.a = a;
        r.task_id = task_id;
        r.check = checks[i];
        r.supp = &supp;
        r.writer = writer;
        r.start_ms = start;
        memset(&counts, 0, sizeof(counts));
        counts.run_status = dd_audit_check_run(checks[i], &world, take_finding, &r, &counts.total);
        if (r.status != DD_AUDITOR_OK) {
            st = r.status; /* our own failure (store, memory): the task fails as a whole */
            break;
        }
        counts.non_compliant = r.non_compliant;
        counts.suppressed = r.suppressed;
        counts.not_applicable = checks[i]->not_applicable;
        if (counts.run_status != DD_AUDIT_OK && counts.run_status != DD_AUDIT_NOT_APPLICABLE) {
            DD_LOG_WARN("audit %s: check %s failed: %s", task_id, checks[i]->name,
                        dd_audit_strerror(counts.run_status));
        }
        d = dd_auditor_check_details(&counts);
        if (d == NULL) {
            st = DD_AUDITOR_NO_MEMORY;
            break;
        }
        if (cJSON_IsTrue(cJSON_GetObjectItem(d, "checkCompliant"))) {
            compliant++;
        } else if (cJSON_GetObjectItem(d, "checkCompliant") != NULL) {
            non_compliant++;
        } else {
            failed++;
        }
        cJSON_AddItemToObject(details, checks[i]->name, d);
    }
    suppressions_free(&supp);
    if (st == DD_AUDITOR_OK && certificate_checks_ran(checks, count)) {
        (void)dd_audit_certcache_sweep(a->certs); /* drop the certificates deleted since */
    }
    dd_store_audit_writer_close(writer);
    cJSON_AddNumberToObject(stats, "totalChecks", (double)count);
    cJSON_AddNumberToObject(stats, "inProgressChecks", 0);
    cJSON_AddNumberToObject(stats, "waitingForDataCollectionChecks", 0);
    cJSON_AddNumberToObject(stats, "compliantChecks", (double)compliant);
    cJSON_AddNumberToObject(stats, "nonCompliantChecks", (double)non_compliant);
    cJSON_AddNumberToObject(stats, "failedChecks", (double)failed);
    cJSON_AddNumberToObject(stats, "canceledChecks", 0);
    return st;
}

dd_auditor_status_t dd_auditor_task_start(dd_auditor_t *a, const char *const *checks, size_t count,
                                          const char *scheduled_name,
                                          char task_id[DD_AUDITOR_TASK_ID_LEN], char *msg)
{
    const dd_audit_check_def_t **defs = NULL;
    size_t ndefs = 0;
    cJSON *cfg = NULL;
    cJSON *task = NULL;
    cJSON *details;
    cJSON *stats;
    bool configured;
    int64_t start;
    size_t i;
    size_t j;
    dd_store_audit_row_t row;
    dd_auditor_status_t st;

    if (a == NULL || task_id == NULL || (checks == NULL && count > 0)) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    task_id[0] = '\0';
    if (count == 0) {
        say(msg, "targetCheckNames must name at least one check");
        return DD_AUDITOR_INVALID;
    }
    st = load_config(a, &cfg, &configured);
    if (st != DD_AUDITOR_OK) {
        return st;
    }
    defs = calloc(count, sizeof(*defs));
    if (defs == NULL) {
        cJSON_Delete(cfg);
        return DD_AUDITOR_NO_MEMORY;
    }
    for (i = 0; st == DD_AUDITOR_OK && i < count; i++) {
        const dd_audit_check_def_t *def = find_check(a, checks[i]);
        bool dup = false;
        if (def == NULL) {
            say(msg, "%.128s is not a valid audit check name", checks[i] ? checks[i] : "(null)");
            st = DD_AUDITOR_INVALID;
            break;
        }
        if (!check_enabled(cfg, def->name)) {
            say(msg,
                "The check %s is not enabled for this account (UpdateAccountAuditConfiguration)",
                def->name);
            st = DD_AUDITOR_INVALID;
            break;
        }
        for (j = 0; j < ndefs; j++) {
            dup = dup || defs[j] == def;
        }
        if (!dup) {
            defs[ndefs++] = def;
        }
    }
    if (st != DD_AUDITOR_OK) {
        free(defs);
        cJSON_Delete(cfg);
        return st;
    }
    random_hex("audit-task-id", task_id, 16);
    start = now_ms(a);
    task = cJSON_CreateObject();
    add_str(task, "taskStatus", "COMPLETED");
    add_str(task, "taskType",
            scheduled_name != NULL ? "SCHEDULED_AUDIT_TASK" : "ON_DEMAND_AUDIT_TASK");
    add_time(task, "taskStartTime", start);
    stats = cJSON_AddObjectToObject(task, "taskStatistics");
    add_str(task, "scheduledAuditName", scheduled_name);
    details = cJSON_AddObjectToObject(task, "auditDetails");
    if (details == NULL || stats == NULL) {
        st = DD_AUDITOR_NO_MEMORY;
    } else if (dd_store_begin(a->cfg.store) != DD_STORE_OK) {
        st = DD_AUDITOR_STORE_ERROR;
    } else {
        st = run_checks(a, cfg, defs, ndefs, task_id, start, details, stats);
        if (st == DD_AUDITOR_OK) {
            memset(&row, 0, sizeof(row));
            row.id = task_id;
            row.a = cJSON_GetStringValue(cJSON_GetObjectItem(task, "taskType"));
            row.b = "COMPLETED";
            row.c = scheduled_name;
            row.time_ms = start;
            st = put_doc(a, DD_STORE_AUDIT_TASKS, &row, task);
        }
        if (st == DD_AUDITOR_OK && dd_store_commit(a->cfg.store) != DD_STORE_OK) {
            st = DD_AUDITOR_STORE_ERROR;
        }
        if (st != DD_AUDITOR_OK) {
            (void)dd_store_rollback(a->cfg.store);
        }
    }
    if (st == DD_AUDITOR_OK) {
        notify(a, task_id, task, cfg);
    } else {
        task_id[0] = '\0';
    }
    free(defs);
    cJSON_Delete(task);
    cJSON_Delete(cfg);
    return st;
}

dd_auditor_status_t dd_auditor_task_describe(dd_auditor_t *a, const char *task_id, cJSON **out)
{
    if (a == NULL || task_id == NULL || out == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    return get_doc(a, DD_STORE_AUDIT_TASKS, task_id, out);
}

typedef struct task_meta_ctx {
    cJSON *arr;
    bool failed;
} task_meta_ctx_t;

static int task_meta(void *ctx, const dd_store_audit_row_t *row)
{
    task_meta_ctx_t *t = ctx;
    cJSON *item = cJSON_CreateObject();

    if (item == NULL || !add_str(item, "taskId", row->id) || !add_str(item, "taskStatus", row->b) ||
        !add_str(item, "taskType", row->a) || !cJSON_AddItemToArray(t->arr, item)) {
        cJSON_Delete(item);
        t->failed = true;
        return 1;
    }
    return 0;
}

dd_auditor_status_t dd_auditor_task_list(dd_auditor_t *a, const dd_auditor_task_filter_t *filter,
                                         const char *after, int limit, cJSON *tasks, char *next)
{
    dd_store_audit_filter_t f;
    task_meta_ctx_t t = {tasks, false};
    dd_store_status_t st;

    if (a == NULL || filter == NULL || tasks == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    dd_store_audit_filter_all(&f);
    f.a = filter->type;
    f.b = filter->status;
    f.time_min = filter->start_ms;
    f.time_max = filter->end_ms;
    st =
        dd_store_audit_list(a->cfg.db, DD_STORE_AUDIT_TASKS, &f, after, limit, task_meta, &t, next);
    return t.failed ? DD_AUDITOR_NO_MEMORY : from_store(st);
}

dd_auditor_status_t dd_auditor_task_cancel(dd_auditor_t *a, const char *task_id, char *msg)
{
    cJSON *doc = NULL;
    dd_auditor_status_t st;

    if (a == NULL || task_id == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = get_doc(a, DD_STORE_AUDIT_TASKS, task_id, &doc);
    if (st == DD_AUDITOR_NOT_FOUND) {
        say(msg, "Audit task %s does not exist", task_id);
    } else if (st == DD_AUDITOR_OK) {
        say(msg, "Audit task %s is %s: only an audit in progress can be canceled", task_id,
            cJSON_GetStringValue(cJSON_GetObjectItem(doc, "taskStatus")));
        st = DD_AUDITOR_INVALID;
    }
    cJSON_Delete(doc);
    return st;
}

/* ---- findings -------------------------------------------------------------------------- */

dd_auditor_status_t dd_auditor_finding_list(dd_auditor_t *a,
                                            const dd_auditor_finding_filter_t *filter,
                                            const char *after, int limit, cJSON *findings,
                                            char *next)
{
    dd_store_audit_filter_t f;
    char *key = NULL;
    dd_auditor_status_t st;

    if (a == NULL || filter == NULL || findings == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    dd_store_audit_filter_all(&f);
    if (filter->resource_identifier != NULL) {
        st = dd_auditor_resource_key(filter->resource_identifier, &key);
        if (st != DD_AUDITOR_OK) {
            return st == DD_AUDITOR_BAD_PARAMETER ? DD_AUDITOR_INVALID : st;
        }
    }
    f.a = filter->task_id;
    f.b = filter->check_name;
    f.c = key;
    f.time_min = filter->start_ms;
    f.time_max = filter->end_ms;
    f.number_eq = filter->suppressed < 0 ? -1 : filter->suppressed;
    st = list_docs(a, DD_STORE_AUDIT_FINDINGS, &f, after, limit, NULL, findings, next);
    free(key);
    return st;
}

dd_auditor_status_t dd_auditor_finding_describe(dd_auditor_t *a, const char *finding_id,
                                                cJSON **out)
{
    if (a == NULL || finding_id == NULL || out == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    return get_doc(a, DD_STORE_AUDIT_FINDINGS, finding_id, out);
}

/* ---- suppressions ---------------------------------------------------------------------- */

static dd_auditor_status_t suppression_id(dd_auditor_t *a, const char *check, const cJSON *resource,
                                          char **key, char **id, char *msg)
{
    size_t len;

    *key = NULL;
    *id = NULL;
    if (find_check(a, check) == NULL) {
        say(msg, "%.128s is not a valid audit check name", check != NULL ? check : "(null)");
        return DD_AUDITOR_INVALID;
    }
    if (!cJSON_IsObject(resource) || resource->child == NULL) {
        say(msg, "resourceIdentifier must be an object naming the resource");
        return DD_AUDITOR_INVALID;
    }
    if (dd_auditor_resource_key(resource, key) != DD_AUDITOR_OK) {
        return DD_AUDITOR_NO_MEMORY;
    }
    len = strlen(check) + strlen(*key) + 2;
    *id = malloc(len);
    if (*id == NULL) {
        free(*key);
        *key = NULL;
        return DD_AUDITOR_NO_MEMORY;
    }
    (void)snprintf(*id, len, "%s\n%s", check, *key);
    return DD_AUDITOR_OK;
}

dd_auditor_status_t dd_auditor_suppression_put(dd_auditor_t *a, bool create, const char *check,
                                               const cJSON *resource, int64_t expiration_ms,
                                               int indefinitely, const char *description,
                                               const char *token, char *msg)
{
    char *key = NULL;
    char *id = NULL;
    cJSON *doc = NULL;
    dd_store_audit_row_t row;
    dd_auditor_status_t st;
    int64_t now;

    if (a == NULL || check == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = suppression_id(a, check, resource, &key, &id, msg);
    if (st != DD_AUDITOR_OK) {
        return st;
    }
    now = now_ms(a);
    st = get_doc(a, DD_STORE_AUDIT_SUPPRESSIONS, id, &doc);
    if (create && st == DD_AUDITOR_OK) {
        const char *old = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "_token"));
        /* The same request retried (same clientRequestToken) succeeds again. */
        st = token != NULL && old != NULL && strcmp(token, old) == 0 ? DD_AUDITOR_OK
                                                                     : DD_AUDITOR_EXISTS;
        if (st == DD_AUDITOR_EXISTS) {
            say(msg, "A suppression of %s for this resource already exists", check);
        }
        goto out;
    }
    if (!create && st == DD_AUDITOR_NOT_FOUND) {
        say(msg, "No suppression of %s exists for this resource", check);
        goto out;
    }
    if (st != DD_AUDITOR_OK && st != DD_AUDITOR_NOT_FOUND) {
        goto out;
    }
    if (create) {
        cJSON_Delete(doc);
        doc = cJSON_CreateObject();
        add_str(doc, "checkName", check);
        cJSON_AddItemToObject(doc, "resourceIdentifier", cJSON_Duplicate(resource, true));
        add_str(doc, "_token", token);
    }
    if (expiration_ms >= 0) {
        if (expiration_ms <= now) {
            say(msg, "expirationDate must be in the future");
            st = DD_AUDITOR_INVALID;
            goto out;
        }
        cJSON_DeleteItemFromObject(doc, "expirationDate");
        add_time(doc, "expirationDate", expiration_ms);
        if (indefinitely < 0) {
            indefinitely = 0;
        }
    }
    if (indefinitely >= 0) {
        cJSON_DeleteItemFromObject(doc, "suppressIndefinitely");
        cJSON_AddBoolToObject(doc, "suppressIndefinitely", indefinitely == 1);
        if (indefinitely == 1) {
            cJSON_DeleteItemFromObject(doc, "expirationDate");
        }
    }
    if (indefinitely == 1 && expiration_ms >= 0) {
        say(msg, "Give either expirationDate or suppressIndefinitely, not both");
        st = DD_AUDITOR_INVALID;
        goto out;
    }
    if (create && expiration_ms < 0 && indefinitely != 1) {
        say(msg, "A suppression needs an expirationDate or suppressIndefinitely = true");
        st = DD_AUDITOR_INVALID;
        goto out;
    }
    if (description != NULL) {
        cJSON_DeleteItemFromObject(doc, "description");
        add_str(doc, "description", description);
    }
    memset(&row, 0, sizeof(row));
    row.id = id;
    row.a = check;
    row.b = key;
    row.number = cJSON_IsTrue(cJSON_GetObjectItem(doc, "suppressIndefinitely")) ? 1 : 0;
    row.time_ms =
        (int64_t)(cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "expirationDate")) * 1000.0 + 0.5);
    if (row.number == 1 || cJSON_GetObjectItem(doc, "expirationDate") == NULL) {
        row.time_ms = 0;
    }
    st = put_doc(a, DD_STORE_AUDIT_SUPPRESSIONS, &row, doc);
out:
    cJSON_Delete(doc);
    free(key);
    free(id);
    return st;
}

dd_auditor_status_t dd_auditor_suppression_describe(dd_auditor_t *a, const char *check,
                                                    const cJSON *resource, cJSON **out, char *msg)
{
    char *key = NULL;
    char *id = NULL;
    dd_auditor_status_t st;

    if (a == NULL || check == NULL || out == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = suppression_id(a, check, resource, &key, &id, msg);
    if (st == DD_AUDITOR_OK) {
        st = get_doc(a, DD_STORE_AUDIT_SUPPRESSIONS, id, out);
        if (st == DD_AUDITOR_NOT_FOUND) {
            say(msg, "No suppression of %s exists for this resource", check);
        }
        strip_private(*out);
    }
    free(key);
    free(id);
    return st;
}

dd_auditor_status_t dd_auditor_suppression_delete(dd_auditor_t *a, const char *check,
                                                  const cJSON *resource, char *msg)
{
    char *key = NULL;
    char *id = NULL;
    dd_auditor_status_t st;

    if (a == NULL || check == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = suppression_id(a, check, resource, &key, &id, msg);
    if (st == DD_AUDITOR_OK) {
        st = from_store(dd_store_audit_delete(a->cfg.db, DD_STORE_AUDIT_SUPPRESSIONS, id, NULL));
    }
    free(key);
    free(id);
    return st;
}

typedef struct supp_row {
    int64_t expiration; /* INT64_MAX for indefinite */
    int64_t seq;
    cJSON *doc;
} supp_row_t;

typedef struct supp_list {
    supp_row_t *rows;
    size_t count;
    size_t cap;
    bool failed;
} supp_list_t;

static int collect_supp_doc(void *ctx, const dd_store_audit_row_t *row)
{
    supp_list_t *l = ctx;
    cJSON *doc = cJSON_Parse(row->doc);

    if (doc == NULL) {
        l->failed = true;
        return 1;
    }
    if (l->count == l->cap) {
        size_t cap = l->cap == 0 ? 16 : l->cap * 2;
        supp_row_t *n = realloc(l->rows, cap * sizeof(*n));
        if (n == NULL) {
            cJSON_Delete(doc);
            l->failed = true;
            return 1;
        }
        l->rows = n;
        l->cap = cap;
    }
    strip_private(doc);
    l->rows[l->count].expiration = row->number != 0 || row->time_ms == 0 ? INT64_MAX : row->time_ms;
    l->rows[l->count].seq = (int64_t)l->count;
    l->rows[l->count].doc = doc;
    l->count++;
    return 0;
}

static int cmp_supp(const void *x, const void *y)
{
    const supp_row_t *a = x;
    const supp_row_t *b = y;

    if (a->expiration != b->expiration) {
        return a->expiration < b->expiration ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : (a->seq > b->seq ? 1 : 0);
}

dd_auditor_status_t dd_auditor_suppression_list(dd_auditor_t *a, const char *check,
                                                const cJSON *resource, bool ascending,
                                                const char *after, int limit, cJSON *out,
                                                char *next)
{
    dd_store_audit_filter_t f;
    supp_list_t l;
    char *key = NULL;
    long offset = 0;
    size_t i;
    size_t n = 0;
    dd_auditor_status_t st = DD_AUDITOR_OK;

    if (a == NULL || out == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    if (next != NULL) {
        next[0] = '\0';
    }
    if (after != NULL && after[0] != '\0') {
        char *end = NULL;
        offset = strtol(after, &end, 10);
        if (end == after || *end != '\0' || offset < 0) {
            return DD_AUDITOR_INVALID;
        }
    }
    dd_store_audit_filter_all(&f);
    if (resource != NULL) {
        if (dd_auditor_resource_key(resource, &key) != DD_AUDITOR_OK) {
            return DD_AUDITOR_INVALID;
        }
    }
    f.a = check;
    f.b = key;
    memset(&l, 0, sizeof(l));
    st = from_store(dd_store_audit_list(a->cfg.db, DD_STORE_AUDIT_SUPPRESSIONS, &f, NULL, 0,
                                        collect_supp_doc, &l, NULL));
    if (l.failed) {
        st = DD_AUDITOR_NO_MEMORY;
    }
    if (l.count > 0) {
        qsort(l.rows, l.count, sizeof(*l.rows), cmp_supp);
    }
    for (i = 0; i < l.count; i++) {
        size_t k = ascending ? i : l.count - 1 - i;
        if (st == DD_AUDITOR_OK && (long)i >= offset && (limit <= 0 || n < (size_t)limit)) {
            cJSON_AddItemToArray(out, l.rows[k].doc);
            l.rows[k].doc = NULL;
            n++;
        } else if (st == DD_AUDITOR_OK && (long)i >= offset && next != NULL && next[0] == '\0') {
            (void)snprintf(next, DD_AUDITOR_KEY_MAX, "%zu", i);
        }
    }
    for (i = 0; i < l.count; i++) {
        cJSON_Delete(l.rows[i].doc);
    }
    free(l.rows);
    free(key);
    return st;
}

/* ---- scheduled audits --------------------------------------------------------------------- */

static int enum_index(const char *const *values, const char *v)
{
    int i;

    for (i = 0; v != NULL && values[i] != NULL; i++) {
        if (strcmp(values[i], v) == 0) {
            return i;
        }
    }
    return -1;
}

/* The schedule of a scheduled audit's document. */
static bool doc_schedule(const cJSON *doc, dd_auditor_schedule_t *s, char *msg)
{
    const char *freq = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "frequency"));
    const char *dow = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "dayOfWeek"));
    const char *dom = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "dayOfMonth"));
    int f = enum_index(FREQUENCIES, freq);

    memset(s, 0, sizeof(*s));
    if (f < 0) {
        say(msg, "frequency must be one of DAILY, WEEKLY, BIWEEKLY, MONTHLY");
        return false;
    }
    s->frequency = (dd_auditor_frequency_t)f;
    if (s->frequency == DD_AUDITOR_WEEKLY || s->frequency == DD_AUDITOR_BIWEEKLY) {
        s->day_of_week = enum_index(DAYS, dow);
        if (s->day_of_week < 0 || dom != NULL) {
            say(msg, "A %s scheduled audit needs dayOfWeek (SUN..SAT) and no dayOfMonth", freq);
            return false;
        }
    } else if (s->frequency == DD_AUDITOR_MONTHLY) {
        char *end = NULL;
        long d = dom != NULL ? strtol(dom, &end, 10) : 0;
        if (dom != NULL && strcmp(dom, "LAST") == 0) {
            d = 0;
        } else if (dom == NULL || end == dom || *end != '\0' || d < 1 || d > 31 || dom[0] == '0') {
            say(msg, "A MONTHLY scheduled audit needs dayOfMonth 1..31 or LAST");
            return false;
        }
        if (dow != NULL) {
            say(msg, "A MONTHLY scheduled audit takes dayOfMonth, not dayOfWeek");
            return false;
        }
        s->day_of_month = (int)d;
    } else if (dow != NULL || dom != NULL) {
        say(msg, "A DAILY scheduled audit takes neither dayOfWeek nor dayOfMonth");
        return false;
    }
    return true;
}

static dd_auditor_status_t check_targets(dd_auditor_t *a, const cJSON *checks, char *msg)
{
    cJSON *cfg = NULL;
    bool configured;
    const cJSON *c;
    dd_auditor_status_t st;

    if (!cJSON_IsArray(checks) || cJSON_GetArraySize(checks) == 0) {
        say(msg, "targetCheckNames must name at least one check");
        return DD_AUDITOR_INVALID;
    }
    st = load_config(a, &cfg, &configured);
    cJSON_ArrayForEach (c, checks) {
        if (st != DD_AUDITOR_OK) {
            break;
        }
        if (!cJSON_IsString(c) || find_check(a, c->valuestring) == NULL) {
            say(msg, "%.128s is not a valid audit check name",
                cJSON_IsString(c) ? c->valuestring : "(not a string)");
            st = DD_AUDITOR_INVALID;
        } else if (!check_enabled(cfg, c->valuestring)) {
            say(msg,
                "The check %s is not enabled for this account (UpdateAccountAuditConfiguration)",
                c->valuestring);
            st = DD_AUDITOR_INVALID;
        }
    }
    cJSON_Delete(cfg);
    return st;
}

static void set_member(cJSON *doc, const char *name, const char *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(doc, name);
    if (value != NULL) {
        cJSON_AddStringToObject(doc, name, value);
    }
}

dd_auditor_status_t dd_auditor_scheduled_put(dd_auditor_t *a, bool create, const char *name,
                                             const char *frequency, const char *day_of_week,
                                             const char *day_of_month, const cJSON *checks,
                                             char *arn, char *msg)
{
    cJSON *doc = NULL;
    dd_auditor_schedule_t s;
    dd_store_audit_row_t row;
    int64_t anchor;
    int64_t next = 0;
    int existing = 0;
    dd_auditor_status_t st;

    if (a == NULL || name == NULL || arn == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    (void)snprintf(arn, DD_ARN_MAX, "arn:aws:iot:%s:%s:scheduledaudit/%s", a->cfg.arn.region,
                   a->cfg.arn.account, name);
    st = get_doc(a, DD_STORE_AUDIT_SCHEDULED, name, &doc);
    if (create && st == DD_AUDITOR_OK) {
        say(msg, "Scheduled audit %s already exists", name);
        cJSON_Delete(doc);
        return DD_AUDITOR_EXISTS;
    }
    if (!create && st == DD_AUDITOR_NOT_FOUND) {
        say(msg, "Scheduled audit %s does not exist", name);
        return st;
    }
    if (st != DD_AUDITOR_OK && st != DD_AUDITOR_NOT_FOUND) {
        return st;
    }
    if (create) {
        (void)dd_store_audit_list(a->cfg.db, DD_STORE_AUDIT_SCHEDULED, NULL, NULL, 0, count_row,
                                  &existing, NULL);
        if (existing >= DD_AUDITOR_SCHEDULED_MAX) {
            say(msg, "An account has at most %d scheduled audits", DD_AUDITOR_SCHEDULED_MAX);
            return DD_AUDITOR_LIMIT;
        }
        doc = cJSON_CreateObject();
        if (doc == NULL) {
            return DD_AUDITOR_NO_MEMORY;
        }
        anchor = now_ms(a);
        cJSON_AddNumberToObject(doc, "_anchorMs", (double)anchor);
    } else {
        anchor = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(doc, "_anchorMs"));
    }
    if (frequency != NULL) {
        set_member(doc, "frequency", frequency);
        /* A new frequency takes only the days it is given with. */
        if (day_of_week == NULL) {
            set_member(doc, "dayOfWeek", NULL);
        }
        if (day_of_month == NULL) {
            set_member(doc, "dayOfMonth", NULL);
        }
    }
    if (day_of_week != NULL) {
        set_member(doc, "dayOfWeek", day_of_week);
    }
    if (day_of_month != NULL) {
        set_member(doc, "dayOfMonth", day_of_month);
    }
    if (checks != NULL) {
        st = check_targets(a, checks, msg);
        if (st != DD_AUDITOR_OK) {
            cJSON_Delete(doc);
            return st;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(doc, "targetCheckNames");
        cJSON_AddItemToObject(doc, "targetCheckNames", cJSON_Duplicate(checks, true));
    }
    set_member(doc, "scheduledAuditName", name);
    set_member(doc, "scheduledAuditArn", arn);
    if (!doc_schedule(doc, &s, msg)) {
        cJSON_Delete(doc);
        return DD_AUDITOR_INVALID;
    }
    (void)dd_auditor_schedule_next(&s, anchor, now_ms(a), &next);
    memset(&row, 0, sizeof(row));
    row.id = name;
    row.a = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "frequency"));
    row.time_ms = next;
    st = put_doc(a, DD_STORE_AUDIT_SCHEDULED, &row, doc);
    cJSON_Delete(doc);
    return st;
}

dd_auditor_status_t dd_auditor_scheduled_describe(dd_auditor_t *a, const char *name, cJSON **out)
{
    dd_auditor_status_t st;

    if (a == NULL || name == NULL || out == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = get_doc(a, DD_STORE_AUDIT_SCHEDULED, name, out);
    strip_private(*out);
    return st;
}

dd_auditor_status_t dd_auditor_scheduled_delete(dd_auditor_t *a, const char *name)
{
    bool deleted = false;
    dd_store_status_t st;

    if (a == NULL || name == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = dd_store_audit_delete(a->cfg.db, DD_STORE_AUDIT_SCHEDULED, name, &deleted);
    if (st != DD_STORE_OK) {
        return from_store(st);
    }
    return deleted ? DD_AUDITOR_OK : DD_AUDITOR_NOT_FOUND;
}

dd_auditor_status_t dd_auditor_scheduled_list(dd_auditor_t *a, const char *after, int limit,
                                              cJSON *out, char *next)
{
    static const char *const KEEP[] = {"scheduledAuditName", "scheduledAuditArn", "frequency",
                                       "dayOfMonth",         "dayOfWeek",         NULL};

    if (a == NULL || out == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    return list_docs(a, DD_STORE_AUDIT_SCHEDULED, NULL, after, limit, KEEP, out, next);
}

dd_auditor_status_t dd_auditor_scheduled_run_due(dd_auditor_t *a, int64_t now, int *ran)
{
    dd_store_audit_filter_t f;
    cJSON *names;
    const cJSON *n;
    int count = 0;
    dd_auditor_status_t st = DD_AUDITOR_OK;

    if (a == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    if (ran != NULL) {
        *ran = 0;
    }
    dd_store_audit_filter_all(&f);
    f.time_max = now;
    names = cJSON_CreateArray();
    if (names == NULL) {
        return DD_AUDITOR_NO_MEMORY;
    }
    (void)dd_store_audit_list(a->cfg.db, DD_STORE_AUDIT_SCHEDULED, &f, NULL, 0, collect_ids, names,
                              NULL);
    cJSON_ArrayForEach (n, names) {
        cJSON *doc = NULL;
        const cJSON *checks;
        const char **list = NULL;
        size_t k = 0;
        const cJSON *c;
        dd_auditor_schedule_t s;
        dd_store_audit_row_t row;
        char id[DD_AUDITOR_TASK_ID_LEN];
        char msg[DD_AUDITOR_MESSAGE_MAX] = "";
        int64_t next = 0;

        if (get_doc(a, DD_STORE_AUDIT_SCHEDULED, n->valuestring, &doc) != DD_AUDITOR_OK) {
            continue;
        }
        checks = cJSON_GetObjectItem(doc, "targetCheckNames");
        list = calloc((size_t)cJSON_GetArraySize(checks) + 1, sizeof(*list));
        cJSON_ArrayForEach (c, checks) {
            if (list != NULL && cJSON_IsString(c)) {
                list[k++] = c->valuestring;
            }
        }
        st = list != NULL ? dd_auditor_task_start(a, list, k, n->valuestring, id, msg)
                          : DD_AUDITOR_NO_MEMORY;
        if (st == DD_AUDITOR_OK) {
            count++;
        } else {
            DD_LOG_WARN("scheduled audit %s did not run: %s%s%s", n->valuestring,
                        dd_auditor_strerror(st), msg[0] != '\0' ? ": " : "", msg);
        }
        free(list);
        /* Runs the clock jumped over collapse into the one just run. */
        if (doc_schedule(doc, &s, NULL)) {
            (void)dd_auditor_schedule_next(&s,
                                           (int64_t)cJSON_GetNumberValue(
                                               cJSON_GetObjectItem(doc, "_anchorMs")),
                                           now, &next);
            memset(&row, 0, sizeof(row));
            row.id = n->valuestring;
            row.a = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "frequency"));
            row.time_ms = next;
            st = put_doc(a, DD_STORE_AUDIT_SCHEDULED, &row, doc);
        }
        cJSON_Delete(doc);
    }
    cJSON_Delete(names);
    if (ran != NULL) {
        *ran = count;
    }
    return st == DD_AUDITOR_INVALID ? DD_AUDITOR_OK : st;
}

/* ---- audit mitigation actions tasks ------------------------------------------------------- */

typedef struct loaded_action {
    dd_store_mitigation_action_t row;
    cJSON *params;
} loaded_action_t;

typedef struct mit_run {
    dd_auditor_t *a;
    dd_mitigate_t *m;
    const char *task_id;
    const cJSON *mapping;
    const cJSON *reason_filter; /* auditCheckToReasonCodeFilter or NULL */
    loaded_action_t *actions;
    size_t action_count;
    cJSON *stats;
    cJSON *finding_ids;
    bool registry_changed;
    dd_auditor_status_t status;
} mit_run_t;

static const loaded_action_t *find_action(const mit_run_t *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->action_count; i++) {
        if (strcmp(r->actions[i].row.name, name) == 0) {
            return &r->actions[i];
        }
    }
    return NULL;
}

static void bump(cJSON *stats, const char *check, const char *member)
{
    cJSON *s = cJSON_GetObjectItemCaseSensitive(stats, check);
    cJSON *v;

    if (s == NULL) {
        s = cJSON_AddObjectToObject(stats, check);
        cJSON_AddNumberToObject(s, "totalFindingsCount", 0);
        cJSON_AddNumberToObject(s, "failedFindingsCount", 0);
        cJSON_AddNumberToObject(s, "succeededFindingsCount", 0);
        cJSON_AddNumberToObject(s, "skippedFindingsCount", 0);
        cJSON_AddNumberToObject(s, "canceledFindingsCount", 0);
    }
    v = cJSON_GetObjectItemCaseSensitive(s, member);
    if (v != NULL) {
        cJSON_SetNumberValue(v, v->valuedouble + 1);
    }
}

static bool reason_selected(const cJSON *filter, const char *check, const char *code)
{
    const cJSON *codes;
    const cJSON *c;

    if (filter == NULL) {
        return true;
    }
    codes = cJSON_GetObjectItemCaseSensitive(filter, check);
    if (codes == NULL) {
        return false;
    }
    cJSON_ArrayForEach (c, codes) {
        if (cJSON_IsString(c) && code != NULL &&
            (strcmp(c->valuestring, code) == 0 || strcmp(c->valuestring, "*") == 0)) {
            return true;
        }
    }
    return false;
}

/* Runs the mapped actions on one finding, recording each execution. */
static void mitigate_finding(mit_run_t *r, const cJSON *finding)
{
    const char *check = cJSON_GetStringValue(cJSON_GetObjectItem(finding, "checkName"));
    const char *fid = cJSON_GetStringValue(cJSON_GetObjectItem(finding, "findingId"));
    const char *code =
        cJSON_GetStringValue(cJSON_GetObjectItem(finding, "reasonForNonComplianceCode"));
    const cJSON *names;
    const cJSON *n;
    bool failed = false;

    if (check == NULL || fid == NULL || r->status != DD_AUDITOR_OK) {
        return;
    }
    names = cJSON_GetObjectItemCaseSensitive(r->mapping, check);
    if (names == NULL || !reason_selected(r->reason_filter, check, code)) {
        return;
    }
    cJSON_AddItemToArray(r->finding_ids, cJSON_CreateString(fid));
    bump(r->stats, check, "totalFindingsCount");
    cJSON_ArrayForEach (n, names) {
        const loaded_action_t *act = find_action(r, n->valuestring);
        dd_mitigate_target_t target = {NULL, finding};
        dd_mitigate_outcome_t outcome;
        dd_mitigate_status_t ms = DD_MITIGATE_OK;
        dd_store_audit_row_t row;
        cJSON *exec = cJSON_CreateObject();
        char id[512];
        int64_t t0 = now_ms(r->a);

        memset(&outcome, 0, sizeof(outcome));
        if (act == NULL || exec == NULL) {
            cJSON_Delete(exec);
            continue;
        }
        if (!failed) {
            ms = dd_mitigate_execute(r->m, act->row.type, act->params, &target, &outcome);
            r->registry_changed = r->registry_changed || outcome.registry_changed;
        }
        add_str(exec, "taskId", r->task_id);
        add_str(exec, "findingId", fid);
        add_str(exec, "actionName", act->row.name);
        add_str(exec, "actionId", act->row.id);
        add_str(exec, "status",
                failed ? "SKIPPED" : (ms == DD_MITIGATE_OK ? "COMPLETED" : "FAILED"));
        add_time(exec, "startTime", t0);
        add_time(exec, "endTime", now_ms(r->a));
        if (!failed && ms != DD_MITIGATE_OK) {
            add_str(exec, "errorCode", outcome.code[0] != '\0' ? outcome.code : "InternalError");
            add_str(exec, "message",
                    outcome.message[0] != '\0' ? outcome.message : dd_mitigate_strerror(ms));
            failed = true;
        }
        (void)snprintf(id, sizeof(id), "%s/%s/%s", r->task_id, fid, act->row.name);
        memset(&row, 0, sizeof(row));
        row.id = id;
        row.a = r->task_id;
        row.b = fid;
        row.c = cJSON_GetStringValue(cJSON_GetObjectItem(exec, "status"));
        row.time_ms = t0;
        r->status = put_doc(r->a, DD_STORE_AUDIT_MIT_EXECS, &row, exec);
        cJSON_Delete(exec);
        if (r->status != DD_AUDITOR_OK) {
            return;
        }
    }
    bump(r->stats, check, failed ? "failedFindingsCount" : "succeededFindingsCount");
}

static int mitigate_row(void *ctx, const dd_store_audit_row_t *row)
{
    mit_run_t *r = ctx;
    cJSON *finding = cJSON_Parse(row->doc);

    if (finding == NULL) {
        r->status = DD_AUDITOR_NO_MEMORY;
        return 1;
    }
    mitigate_finding(r, finding);
    cJSON_Delete(finding);
    return r->status != DD_AUDITOR_OK;
}

static dd_auditor_status_t load_actions(mit_run_t *r, const cJSON *mapping, char *msg)
{
    const cJSON *check;
    size_t cap = 0;

    if (!cJSON_IsObject(mapping) || mapping->child == NULL) {
        say(msg, "auditCheckToActionsMapping must map at least one check to action names");
        return DD_AUDITOR_INVALID;
    }
    cJSON_ArrayForEach (check, mapping) {
        const cJSON *n;
        if (find_check(r->a, check->string) == NULL) {
            say(msg, "%.128s is not a valid audit check name", check->string);
            return DD_AUDITOR_INVALID;
        }
        if (!cJSON_IsArray(check) || cJSON_GetArraySize(check) < 1 ||
            cJSON_GetArraySize(check) > DD_MITIGATE_TASK_ACTIONS_MAX) {
            say(msg, "The actions of %.128s must be a list of 1 to %d action names", check->string,
                DD_MITIGATE_TASK_ACTIONS_MAX);
            return DD_AUDITOR_INVALID;
        }
        cJSON_ArrayForEach (n, check) {
            loaded_action_t *la;
            dd_mitigate_status_t ms;
            if (!cJSON_IsString(n)) {
                say(msg, "Action names must be strings");
                return DD_AUDITOR_INVALID;
            }
            if (find_action(r, n->valuestring) != NULL) {
                continue;
            }
            if (r->action_count == cap) {
                size_t nc = cap == 0 ? 8 : cap * 2;
                loaded_action_t *grown = realloc(r->actions, nc * sizeof(*grown));
                if (grown == NULL) {
                    return DD_AUDITOR_NO_MEMORY;
                }
                r->actions = grown;
                cap = nc;
            }
            la = &r->actions[r->action_count];
            memset(la, 0, sizeof(*la));
            ms = dd_mitigate_action_describe(r->m, n->valuestring, &la->row);
            if (ms == DD_MITIGATE_NOT_FOUND) {
                say(msg, "Mitigation action %.128s does not exist", n->valuestring);
                return DD_AUDITOR_INVALID;
            }
            if (ms != DD_MITIGATE_OK) {
                return ms == DD_MITIGATE_NO_MEMORY ? DD_AUDITOR_NO_MEMORY : DD_AUDITOR_STORE_ERROR;
            }
            r->action_count++;
            la->params = cJSON_Parse(la->row.params_json);
        }
    }
    return DD_AUDITOR_OK;
}

static void free_actions(mit_run_t *r)
{
    size_t i;

    for (i = 0; i < r->action_count; i++) {
        dd_store_mitigation_action_clear(&r->actions[i].row);
        cJSON_Delete(r->actions[i].params);
    }
    free(r->actions);
}

static cJSON *actions_definition(const mit_run_t *r)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i;

    for (i = 0; arr != NULL && i < r->action_count; i++) {
        cJSON *item = cJSON_CreateObject();
        add_str(item, "name", r->actions[i].row.name);
        add_str(item, "id", r->actions[i].row.id);
        add_str(item, "roleArn", r->actions[i].row.role_arn);
        cJSON_AddItemToObject(item, "actionParams", cJSON_Duplicate(r->actions[i].params, true));
        cJSON_AddItemToArray(arr, item);
    }
    return arr;
}

static dd_auditor_status_t mitigation_targets(mit_run_t *r, const cJSON *target, char *msg)
{
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(target, "auditTaskId");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(target, "findingIds");
    const cJSON *filter = cJSON_GetObjectItemCaseSensitive(target, "auditCheckToReasonCodeFilter");
    const cJSON *id;

    if ((task != NULL) == (ids != NULL) || (filter != NULL && task == NULL)) {
        say(msg, "target takes auditTaskId (with an optional auditCheckToReasonCodeFilter) or "
                 "findingIds");
        return DD_AUDITOR_INVALID;
    }
    if (ids != NULL) {
        cJSON_ArrayForEach (id, ids) {
            cJSON *finding = NULL;
            dd_auditor_status_t st = cJSON_IsString(id) ? get_doc(r->a, DD_STORE_AUDIT_FINDINGS,
                                                                  id->valuestring, &finding)
                                                        : DD_AUDITOR_NOT_FOUND;
            if (st == DD_AUDITOR_NOT_FOUND) {
                say(msg, "Finding %.128s does not exist",
                    cJSON_IsString(id) ? id->valuestring : "(not a string)");
                return DD_AUDITOR_INVALID;
            }
            if (st != DD_AUDITOR_OK) {
                return st;
            }
            mitigate_finding(r, finding);
            cJSON_Delete(finding);
            if (r->status != DD_AUDITOR_OK) {
                return r->status;
            }
        }
        return DD_AUDITOR_OK;
    } else {
        dd_store_audit_filter_t f;
        char *doc = NULL;
        dd_store_status_t ss;

        if (!cJSON_IsString(task) ||
            dd_store_audit_get(r->a->cfg.db, DD_STORE_AUDIT_TASKS, task->valuestring, &doc, NULL) !=
                DD_STORE_OK) {
            say(msg, "Audit task %.64s does not exist",
                cJSON_IsString(task) ? task->valuestring : "(not a string)");
            return DD_AUDITOR_INVALID;
        }
        free(doc);
        r->reason_filter = filter;
        dd_store_audit_filter_all(&f);
        f.a = task->valuestring;
        ss = dd_store_audit_list(r->a->cfg.db, DD_STORE_AUDIT_FINDINGS, &f, NULL, 0, mitigate_row,
                                 r, NULL);
        if (r->status != DD_AUDITOR_OK) {
            return r->status;
        }
        return from_store(ss);
    }
}

dd_auditor_status_t dd_auditor_mitigation_start(dd_auditor_t *a, dd_mitigate_t *m,
                                                const char *task_id, const cJSON *target,
                                                const cJSON *mapping, const char *token, char *msg)
{
    mit_run_t r;
    cJSON *doc = NULL;
    dd_store_audit_row_t row;
    dd_auditor_status_t st;
    int64_t start;

    if (a == NULL || m == NULL || task_id == NULL || token == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = get_doc(a, DD_STORE_AUDIT_MIT_TASKS, task_id, &doc);
    if (st == DD_AUDITOR_OK) {
        const char *old = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "_token"));
        bool retry = old != NULL && strcmp(old, token) == 0;
        cJSON_Delete(doc);
        if (retry) {
            return DD_AUDITOR_OK; /* a retry of the same request */
        }
        say(msg, "Audit mitigation actions task %s already exists", task_id);
        return DD_AUDITOR_TASK_EXISTS;
    }
    if (st != DD_AUDITOR_NOT_FOUND) {
        return st;
    }
    memset(&r, 0, sizeof(r));
    r.a = a;
    r.m = m;
    r.task_id = task_id;
    r.mapping = mapping;
    st = load_actions(&r, mapping, msg);
    if (st != DD_AUDITOR_OK) {
        free_actions(&r);
        return st;
    }
    if (!cJSON_IsObject(target)) {
        say(msg, "target must be an object");
        free_actions(&r);
        return DD_AUDITOR_INVALID;
    }
    start = now_ms(a);
    doc = cJSON_CreateObject();
    r.stats = cJSON_CreateObject();
    r.finding_ids = cJSON_CreateArray();
    if (doc == NULL || r.stats == NULL || r.finding_ids == NULL) {
        st = DD_AUDITOR_NO_MEMORY;
    } else if (dd_store_begin(a->cfg.store) != DD_STORE_OK) {
        st = DD_AUDITOR_STORE_ERROR;
    } else {
        st = mitigation_targets(&r, target, msg);
        if (st == DD_AUDITOR_OK) {
            add_str(doc, "taskStatus", "COMPLETED");
            add_time(doc, "startTime", start);
            add_time(doc, "endTime", now_ms(a));
            cJSON_AddItemToObject(doc, "taskStatistics", r.stats);
            r.stats = NULL;
            cJSON_AddItemToObject(doc, "target", cJSON_Duplicate(target, true));
            cJSON_AddItemToObject(doc, "auditCheckToActionsMapping",
                                  cJSON_Duplicate(mapping, true));
            cJSON_AddItemToObject(doc, "actionsDefinition", actions_definition(&r));
            cJSON_AddItemToObject(doc, "_findingIds", r.finding_ids);
            r.finding_ids = NULL;
            add_str(doc, "_token", token);
            memset(&row, 0, sizeof(row));
            row.id = task_id;
            row.a = "COMPLETED";
            row.b = cJSON_GetStringValue(cJSON_GetObjectItem(target, "auditTaskId"));
            row.c = token;
            row.time_ms = start;
            st = put_doc(a, DD_STORE_AUDIT_MIT_TASKS, &row, doc);
        }
        if (st == DD_AUDITOR_OK && dd_store_commit(a->cfg.store) != DD_STORE_OK) {
            st = DD_AUDITOR_STORE_ERROR;
        }
        if (st != DD_AUDITOR_OK) {
            (void)dd_store_rollback(a->cfg.store);
        }
    }
    if (r.registry_changed) {
        /* Even after a rollback: the registry may have pushed what it changed. */
        dd_mitigate_registry_changed(m);
    }
    cJSON_Delete(r.stats);
    cJSON_Delete(r.finding_ids);
    cJSON_Delete(doc);
    free_actions(&r);
    return st;
}

dd_auditor_status_t dd_auditor_mitigation_describe(dd_auditor_t *a, const char *task_id,
                                                   cJSON **out)
{
    dd_auditor_status_t st;

    if (a == NULL || task_id == NULL || out == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = get_doc(a, DD_STORE_AUDIT_MIT_TASKS, task_id, out);
    strip_private(*out);
    return st;
}

dd_auditor_status_t dd_auditor_mitigation_cancel(dd_auditor_t *a, const char *task_id, char *msg)
{
    cJSON *doc = NULL;
    dd_auditor_status_t st;

    if (a == NULL || task_id == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    st = get_doc(a, DD_STORE_AUDIT_MIT_TASKS, task_id, &doc);
    if (st == DD_AUDITOR_NOT_FOUND) {
        say(msg, "Audit mitigation actions task %s does not exist", task_id);
    } else if (st == DD_AUDITOR_OK) {
        say(msg, "Audit mitigation actions task %s is %s: only a task in progress can be canceled",
            task_id, cJSON_GetStringValue(cJSON_GetObjectItem(doc, "taskStatus")));
        st = DD_AUDITOR_INVALID;
    }
    cJSON_Delete(doc);
    return st;
}

typedef struct mit_list_ctx {
    cJSON *arr;
    const char *finding_id;
    int limit;
    int taken;
    char last[DD_AUDITOR_KEY_MAX];
    bool failed;
} mit_list_ctx_t;

static int mit_meta(void *ctx, const dd_store_audit_row_t *row)
{
    mit_list_ctx_t *l = ctx;
    cJSON *doc;
    cJSON *item;

    if (l->finding_id != NULL) {
        const cJSON *id;
        bool found = false;
        doc = cJSON_Parse(row->doc);
        cJSON_ArrayForEach (id, cJSON_GetObjectItem(doc, "_findingIds")) {
            found = found || (cJSON_IsString(id) && strcmp(id->valuestring, l->finding_id) == 0);
        }
        cJSON_Delete(doc);
        if (!found) {
            return 0;
        }
    }
    item = cJSON_CreateObject();
    if (item == NULL || !add_str(item, "taskId", row->id) ||
        !add_time(item, "startTime", row->time_ms) || !add_str(item, "taskStatus", row->a) ||
        !cJSON_AddItemToArray(l->arr, item)) {
        cJSON_Delete(item);
        l->failed = true;
        return 1;
    }
    return 0;
}

dd_auditor_status_t dd_auditor_mitigation_list(dd_auditor_t *a,
                                               const dd_auditor_mitigation_filter_t *filter,
                                               const char *after, int limit, cJSON *out, char *next)
{
    dd_store_audit_filter_t f;
    mit_list_ctx_t l;
    dd_store_status_t st;

    if (a == NULL || filter == NULL || out == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    dd_store_audit_filter_all(&f);
    f.a = filter->status;
    f.b = filter->audit_task_id;
    f.time_min = filter->start_ms;
    f.time_max = filter->end_ms;
    memset(&l, 0, sizeof(l));
    l.arr = out;
    l.finding_id = filter->finding_id;
    /* Filtering by finding happens after the page is read: a page may be short, never wrong. */
    st = dd_store_audit_list(a->cfg.db, DD_STORE_AUDIT_MIT_TASKS, &f, after, limit, mit_meta, &l,
                             next);
    return l.failed ? DD_AUDITOR_NO_MEMORY : from_store(st);
}

dd_auditor_status_t dd_auditor_execution_list(dd_auditor_t *a, const char *task_id,
                                              const char *finding_id, const char *status,
                                              const char *after, int limit, cJSON *out, char *next)
{
    dd_store_audit_filter_t f;

    if (a == NULL || task_id == NULL || out == NULL) {
        return DD_AUDITOR_BAD_PARAMETER;
    }
    dd_store_audit_filter_all(&f);
    f.a = task_id;
    f.b = finding_id;
    f.c = status;
    return list_docs(a, DD_STORE_AUDIT_MIT_EXECS, &f, after, limit, NULL, out, next);
}

const char *dd_auditor_strerror(dd_auditor_status_t status)
{
    switch (status) {
    case DD_AUDITOR_OK: return "ok";
    case DD_AUDITOR_BAD_PARAMETER: return "bad parameter";
    case DD_AUDITOR_INVALID: return "invalid request";
    case DD_AUDITOR_NOT_FOUND: return "not found";
    case DD_AUDITOR_EXISTS: return "already exists";
    case DD_AUDITOR_TASK_EXISTS: return "task already exists";
    case DD_AUDITOR_LIMIT: return "limit exceeded";
    case DD_AUDITOR_NO_MEMORY: return "out of memory";
    case DD_AUDITOR_STORE_ERROR: return "store error";
    }
    return "unknown auditor status";
}
