#include "dd_rest.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dd_route.h"
#include "dd_seed.h"

/* ---- character sets ------------------------------------------------------ */

static const char *const PATTERNS[DD_REST_CHARSET_COUNT_] = {
    [DD_REST_ANY] = "",
    [DD_REST_NAME] = "[a-zA-Z0-9:_-]+",
    [DD_REST_NAME_NOCOLON] = "[a-zA-Z0-9_-]+",
    [DD_REST_TOKEN] = "^[a-zA-Z0-9-_]+$",
    [DD_REST_VIOLATION_ID] = "[a-zA-Z0-9\\-]+",
    [DD_REST_GRAPH_SPACE] = "[\\p{Graph}\\x20]*",
    [DD_REST_NO_CONTROL] = "[^\\p{Cntrl}]*",
    [DD_REST_POLICY_NAME] = "[\\w+=,.@-]+",
    [DD_REST_ATTR_NAME] = "[a-zA-Z0-9_.,@/:#-]+",
    [DD_REST_ATTR_VALUE] = "[a-zA-Z0-9_.,@/:#=\\[\\]-]*",
    [DD_REST_CERT_ID] = "(0x)?[a-fA-F0-9]+",
};

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool char_ok(dd_rest_charset_t cs, unsigned char c)
{
    switch (cs) {
    case DD_REST_ANY: return true;
    case DD_REST_NAME: return is_alnum(c) || c == ':' || c == '_' || c == '-';
    case DD_REST_NAME_NOCOLON:
    case DD_REST_TOKEN: return is_alnum(c) || c == '_' || c == '-';
    case DD_REST_VIOLATION_ID: return is_alnum(c) || c == '-';
    case DD_REST_GRAPH_SPACE:
        /* Java's \p{Graph} is ASCII-only: printable characters and the space. */
        return c >= 0x20 && c <= 0x7e;
    case DD_REST_NO_CONTROL: return c >= 0x20 && c != 0x7f;
    case DD_REST_POLICY_NAME: return is_alnum(c) || strchr("_+=,.@-", c) != NULL;
    case DD_REST_ATTR_NAME: return is_alnum(c) || strchr("_.,@/:#-", c) != NULL;
    case DD_REST_ATTR_VALUE: return is_alnum(c) || strchr("_.,@/:#=[]-", c) != NULL;
    case DD_REST_CERT_ID: return isxdigit(c) != 0;
    case DD_REST_CHARSET_COUNT_: break;
    }
    return false;
}

bool dd_rest_charset_ok(dd_rest_charset_t cs, const char *value)
{
    const unsigned char *p = (const unsigned char *)value;

    if (value == NULL || (unsigned)cs >= DD_REST_CHARSET_COUNT_) {
        return false;
    }
    if (cs == DD_REST_CERT_ID && p[0] == '0' && p[1] == 'x') {
        p += 2;
    }
    for (; *p != '\0'; p++) {
        if (!char_ok(cs, *p)) {
            return false;
        }
    }
    return true;
}

const char *dd_rest_charset_pattern(dd_rest_charset_t cs)
{
    return (unsigned)cs < DD_REST_CHARSET_COUNT_ ? PATTERNS[cs] : "";
}

size_t dd_rest_utf8_length(const char *s)
{
    size_t n = 0;

    if (s == NULL) {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}

void dd_rest_validation_message(char *msg, const char *member, const char *value,
                                const char *constraint)
{
    char shown[104];
    size_t i;

    if (msg == NULL) {
        return;
    }
    /* Control characters would make the message unreadable: show them as '?'. */
    (void)snprintf(shown, sizeof(shown), "%.100s", value != NULL ? value : "null");
    for (i = 0; shown[i] != '\0'; i++) {
        if ((unsigned char)shown[i] < 0x20 || shown[i] == 0x7f) {
            shown[i] = '?';
        }
    }
    (void)
        snprintf(msg, DD_REST_MESSAGE_MAX,
                 "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s",
                 shown, member != NULL ? member : "", constraint);
}

static void set_msg(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_msg(char *msg, const char *fmt, ...)
{
    va_list ap;

    if (msg != NULL) {
        va_start(ap, fmt);
        (void)vsnprintf(msg, DD_REST_MESSAGE_MAX, fmt, ap);
        va_end(ap);
    }
}

dd_rest_status_t dd_rest_check_string(const char *member, const char *value, size_t min, size_t max,
                                      dd_rest_charset_t cs, char *msg)
{
    char constraint[256];
    size_t len;

    if (value == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    len = dd_rest_utf8_length(value);
    if (strlen(value) < min || len < min) {
        (void)snprintf(constraint, sizeof(constraint),
                       "Member must have length greater than or equal to %zu", min);
        dd_rest_validation_message(msg, member, value, constraint);
        return DD_REST_INVALID;
    }
    if (max > 0 && len > max) {
        (void)snprintf(constraint, sizeof(constraint),
                       "Member must have length less than or equal to %zu", max);
        dd_rest_validation_message(msg, member, value, constraint);
        return DD_REST_INVALID;
    }
    if (!dd_rest_charset_ok(cs, value)) {
        (void)snprintf(constraint, sizeof(constraint),
                       "Member must satisfy regular expression pattern: %s", PATTERNS[cs]);
        dd_rest_validation_message(msg, member, value, constraint);
        return DD_REST_INVALID;
    }
    return DD_REST_OK;
}

/* ---- query strings ------------------------------------------------------- */

dd_rest_status_t dd_rest_query_parse(const char *raw, dd_rest_query_t *q, char *msg)
{
    size_t len;
    size_t pairs = 1;
    size_t i;
    char *w;
    const char *p;

    if (q == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    memset(q, 0, sizeof(*q));
    if (raw == NULL || raw[0] == '\0') {
        return DD_REST_OK;
    }
    len = strlen(raw);
    for (i = 0; i < len; i++) {
        if (raw[i] == '&') {
            pairs++;
        }
    }
    q->buf = malloc(len + 2 * pairs + 1);
    q->names = calloc(pairs, sizeof(char *));
    q->values = calloc(pairs, sizeof(char *));
    if (q->buf == NULL || q->names == NULL || q->values == NULL) {
        dd_rest_query_free(q);
        return DD_REST_NO_MEMORY;
    }
    w = q->buf;
    p = raw;
    while (*p != '\0' || p == raw) {
        const char *end = strchr(p, '&');
        const char *eq;
        size_t plen = end != NULL ? (size_t)(end - p) : strlen(p);
        size_t nlen;
        size_t room = len + 2 * pairs + 1 - (size_t)(w - q->buf);

        if (plen > 0) {
            eq = memchr(p, '=', plen);
            nlen = eq != NULL ? (size_t)(eq - p) : plen;
            if (dd_route_percent_decode(p, nlen, w, room) != DD_ROUTE_OK) {
                set_msg(msg, "Malformed percent-encoding in the query string");
                dd_rest_query_free(q);
                return DD_REST_INVALID;
            }
            q->names[q->count] = w;
            w += strlen(w) + 1;
            room = len + 2 * pairs + 1 - (size_t)(w - q->buf);
            if (eq != NULL) {
                if (dd_route_percent_decode(eq + 1, plen - nlen - 1, w, room) != DD_ROUTE_OK) {
                    set_msg(msg, "Malformed percent-encoding in the query string");
                    dd_rest_query_free(q);
                    return DD_REST_INVALID;
                }
            } else {
                *w = '\0';
            }
            q->values[q->count] = w;
            w += strlen(w) + 1;
            q->count++;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return DD_REST_OK;
}

void dd_rest_query_free(dd_rest_query_t *q)
{
    if (q != NULL) {
        free(q->buf);
        free(q->names);
        free(q->values);
        memset(q, 0, sizeof(*q));
    }
}

const char *dd_rest_query_get(const dd_rest_query_t *q, const char *name)
{
    size_t i;

    if (q == NULL || name == NULL) {
        return NULL;
    }
    for (i = 0; i < q->count; i++) {
        if (strcmp(q->names[i], name) == 0) {
            return q->values[i];
        }
    }
    return NULL;
}

static dd_rest_status_t absent(const char *name, bool required, char *msg)
{
    if (required) {
        dd_rest_validation_message(msg, name, NULL, "Member must not be null");
        return DD_REST_INVALID;
    }
    return DD_REST_ABSENT;
}

dd_rest_status_t dd_rest_query_string(const dd_rest_query_t *q, const char *name, bool required,
                                      size_t min, size_t max, dd_rest_charset_t cs,
                                      const char **out, char *msg)
{
    const char *v;

    if (q == NULL || name == NULL || out == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    *out = NULL;
    v = dd_rest_query_get(q, name);
    if (v == NULL) {
        return absent(name, required, msg);
    }
    if (dd_rest_check_string(name, v, min, max, cs, msg) != DD_REST_OK) {
        return DD_REST_INVALID;
    }
    *out = v;
    return DD_REST_OK;
}

static bool parse_int64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) {
        return false;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static dd_rest_status_t check_range(const char *name, const char *text, int64_t v, int64_t min,
                                    int64_t max, char *msg)
{
    char constraint[128];

    if (v < min) {
        (void)snprintf(constraint, sizeof(constraint),
                       "Member must have value greater than or equal to %" PRId64, min);
        dd_rest_validation_message(msg, name, text, constraint);
        return DD_REST_INVALID;
    }
    if (v > max) {
        (void)snprintf(constraint, sizeof(constraint),
                       "Member must have value less than or equal to %" PRId64, max);
        dd_rest_validation_message(msg, name, text, constraint);
        return DD_REST_INVALID;
    }
    return DD_REST_OK;
}

dd_rest_status_t dd_rest_query_int(const dd_rest_query_t *q, const char *name, bool required,
                                   int64_t min, int64_t max, int64_t *out, char *msg)
{
    const char *v;
    int64_t n;

    if (q == NULL || name == NULL || out == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    v = dd_rest_query_get(q, name);
    if (v == NULL) {
        return absent(name, required, msg);
    }
    if (!parse_int64(v, &n)) {
        dd_rest_validation_message(msg, name, v, "Member must be an integer");
        return DD_REST_INVALID;
    }
    if (check_range(name, v, n, min, max, msg) != DD_REST_OK) {
        return DD_REST_INVALID;
    }
    *out = n;
    return DD_REST_OK;
}

dd_rest_status_t dd_rest_query_bool(const dd_rest_query_t *q, const char *name, bool required,
                                    bool *out, char *msg)
{
    const char *v;

    if (q == NULL || name == NULL || out == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    v = dd_rest_query_get(q, name);
    if (v == NULL) {
        return absent(name, required, msg);
    }
    if (strcasecmp(v, "true") == 0) {
        *out = true;
    } else if (strcasecmp(v, "false") == 0) {
        *out = false;
    } else {
        dd_rest_validation_message(msg, name, v, "Member must be true or false");
        return DD_REST_INVALID;
    }
    return DD_REST_OK;
}

static dd_rest_status_t enum_check(const char *name, const char *v, const char *const *values,
                                   int *index, char *msg)
{
    char constraint[DD_REST_MESSAGE_MAX];
    size_t used;
    int i;

    for (i = 0; values[i] != NULL; i++) {
        if (strcmp(values[i], v) == 0) {
            *index = i;
            return DD_REST_OK;
        }
    }
    used =
        (size_t)snprintf(constraint, sizeof(constraint), "Member must satisfy enum value set: [");
    for (i = 0; values[i] != NULL && used < sizeof(constraint); i++) {
        used += (size_t)snprintf(constraint + used, sizeof(constraint) - used, "%s%s",
                                 i > 0 ? ", " : "", values[i]);
    }
    if (used < sizeof(constraint)) {
        (void)snprintf(constraint + used, sizeof(constraint) - used, "]");
    }
    dd_rest_validation_message(msg, name, v, constraint);
    return DD_REST_INVALID;
}

dd_rest_status_t dd_rest_query_enum(const dd_rest_query_t *q, const char *name, bool required,
                                    const char *const *values, int *index, char *msg)
{
    const char *v;

    if (q == NULL || name == NULL || values == NULL || index == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    v = dd_rest_query_get(q, name);
    if (v == NULL) {
        return absent(name, required, msg);
    }
    return enum_check(name, v, values, index, msg);
}

static dd_rest_status_t time_check(const char *name, const char *v, int64_t *out_ms, char *msg)
{
    if (dd_rest_time_parse(v, out_ms) != DD_REST_OK) {
        dd_rest_validation_message(msg, name, v,
                                   "Member must be a timestamp: ISO-8601 (2019-06-05T15:05:25Z)"
                                   " or epoch seconds");
        return DD_REST_INVALID;
    }
    return DD_REST_OK;
}

dd_rest_status_t dd_rest_query_time(const dd_rest_query_t *q, const char *name, bool required,
                                    int64_t *out_ms, char *msg)
{
    const char *v;

    if (q == NULL || name == NULL || out_ms == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    v = dd_rest_query_get(q, name);
    if (v == NULL) {
        return absent(name, required, msg);
    }
    return time_check(name, v, out_ms, msg);
}

/* ---- JSON bodies --------------------------------------------------------- */

static const cJSON *member(const cJSON *obj, const char *name)
{
    const cJSON *item;

    if (!cJSON_IsObject(obj)) {
        return NULL;
    }
    item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNull(item) ? NULL : item;
}

dd_rest_status_t dd_rest_json_string(const cJSON *obj, const char *name, const char *path,
                                     bool required, size_t min, size_t max, dd_rest_charset_t cs,
                                     const char **out, char *msg)
{
    const cJSON *item;
    const char *shown = path != NULL ? path : name;

    if (name == NULL || out == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    *out = NULL;
    item = member(obj, name);
    if (item == NULL) {
        return absent(shown, required, msg);
    }
    if (!cJSON_IsString(item)) {
        set_msg(msg,
                "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                "Member must be a string",
                shown);
        return DD_REST_INVALID;
    }
    if (dd_rest_check_string(shown, item->valuestring, min, max, cs, msg) != DD_REST_OK) {
        return DD_REST_INVALID;
    }
    *out = item->valuestring;
    return DD_REST_OK;
}

dd_rest_status_t dd_rest_json_bool(const cJSON *obj, const char *name, bool required, bool *out,
                                   char *msg)
{
    const cJSON *item;

    if (name == NULL || out == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    item = member(obj, name);
    if (item == NULL) {
        return absent(name, required, msg);
    }
    if (!cJSON_IsBool(item)) {
        set_msg(msg,
                "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                "Member must be a boolean",
                name);
        return DD_REST_INVALID;
    }
    *out = cJSON_IsTrue(item);
    return DD_REST_OK;
}

dd_rest_status_t dd_rest_json_int(const cJSON *obj, const char *name, bool required, int64_t min,
                                  int64_t max, int64_t *out, char *msg)
{
    const cJSON *item;
    char text[32];
    double d;

    if (name == NULL || out == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    item = member(obj, name);
    if (item == NULL) {
        return absent(name, required, msg);
    }
    d = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    if (!cJSON_IsNumber(item) || d != floor(d) || d < -9.2e18 || d > 9.2e18) {
        set_msg(msg,
                "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                "Member must be an integer",
                name);
        return DD_REST_INVALID;
    }
    (void)snprintf(text, sizeof(text), "%.0f", d);
    if (check_range(name, text, (int64_t)d, min, max, msg) != DD_REST_OK) {
        return DD_REST_INVALID;
    }
    *out = (int64_t)d;
    return DD_REST_OK;
}

dd_rest_status_t dd_rest_json_enum(const cJSON *obj, const char *name, bool required,
                                   const char *const *values, int *index, char *msg)
{
    const cJSON *item;

    if (name == NULL || values == NULL || index == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    item = member(obj, name);
    if (item == NULL) {
        return absent(name, required, msg);
    }
    if (!cJSON_IsString(item)) {
        set_msg(msg,
                "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                "Member must be a string",
                name);
        return DD_REST_INVALID;
    }
    return enum_check(name, item->valuestring, values, index, msg);
}

dd_rest_status_t dd_rest_json_time(const cJSON *obj, const char *name, bool required,
                                   int64_t *out_ms, char *msg)
{
    const cJSON *item;

    if (name == NULL || out_ms == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    item = member(obj, name);
    if (item == NULL) {
        return absent(name, required, msg);
    }
    if (cJSON_IsNumber(item)) {
        if (!(item->valuedouble >= 0 && item->valuedouble < 1e11)) {
            set_msg(msg,
                    "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                    "Member must be a timestamp in epoch seconds",
                    name);
            return DD_REST_INVALID;
        }
        *out_ms = (int64_t)llround(item->valuedouble * 1000.0);
        return DD_REST_OK;
    }
    if (cJSON_IsString(item)) {
        return time_check(name, item->valuestring, out_ms, msg);
    }
    set_msg(msg,
            "1 validation error detected: Value at '%s' failed to satisfy constraint: "
            "Member must be a timestamp",
            name);
    return DD_REST_INVALID;
}

dd_rest_status_t dd_rest_json_array(const cJSON *obj, const char *name, bool required, size_t min,
                                    size_t max, const cJSON **out, char *msg)
{
    const cJSON *item;
    size_t n;

    if (name == NULL || out == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    *out = NULL;
    item = member(obj, name);
    if (item == NULL) {
        return absent(name, required, msg);
    }
    if (!cJSON_IsArray(item)) {
        set_msg(msg,
                "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                "Member must be a list",
                name);
        return DD_REST_INVALID;
    }
    n = (size_t)cJSON_GetArraySize(item);
    if (n < min || (max > 0 && n > max)) {
        set_msg(msg,
                "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                "Member must have length %s %zu",
                name, n < min ? "greater than or equal to" : "less than or equal to",
                n < min ? min : max);
        return DD_REST_INVALID;
    }
    *out = item;
    return DD_REST_OK;
}

/* ---- timestamps ---------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era;
    int64_t yoe;
    int64_t doy;
    int64_t doe;

    y -= m <= 2 ? 1 : 0;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    int i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static dd_rest_status_t parse_iso(const char *s, int64_t *out_ms)
{
    static const int MDAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    int64_t ms = 0;
    int64_t offset_min = 0;
    const char *p;

    if (strlen(s) < 19 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec)) {
        return DD_REST_INVALID;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > MDAYS[mo - 1] + (mo == 2 && leap(y) ? 1 : 0) || h > 23 ||
        mi > 59 || sec > 60) {
        return DD_REST_INVALID;
    }
    p = s + 19;
    if (*p == '.' || *p == ',') {
        int scale = 100;
        p++;
        if (*p < '0' || *p > '9') {
            return DD_REST_INVALID;
        }
        for (; *p >= '0' && *p <= '9'; p++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh;
        int om;
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (!digits(p, 2, &oh)) {
            return DD_REST_INVALID;
        }
        p += 2;
        if (*p == ':') {
            p++;
        }
        if (!digits(p, 2, &om) || oh > 23 || om > 59) {
            return DD_REST_INVALID;
        }
        p += 2;
        offset_min = sign * (oh * 60 + om);
    }
    if (*p != '\0') {
        return DD_REST_INVALID;
    }
    *out_ms =
        ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 +
        ms;
    return DD_REST_OK;
}

dd_rest_status_t dd_rest_time_parse(const char *text, int64_t *out_ms)
{
    const char *p;
    bool dot = false;
    bool digit = false;

    if (text == NULL || out_ms == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    for (p = text; *p != '\0'; p++) {
        if (*p == '.' && !dot) {
            dot = true;
        } else if (*p >= '0' && *p <= '9') {
            digit = true;
        } else {
            break;
        }
    }
    if (*p == '\0' && digit) {
        double v = strtod(text, NULL);
        if (!(v >= 0 && v < 1e11)) {
            return DD_REST_INVALID; /* epoch seconds only; ms would be year 51413 */
        }
        *out_ms = (int64_t)llround(v * 1000.0);
        return DD_REST_OK;
    }
    return parse_iso(text, out_ms);
}

cJSON *dd_rest_time_json(int64_t ms)
{
    /* Division by 1000 is correctly rounded, so cJSON prints 1560278102.528 back. */
    return cJSON_CreateNumber((double)ms / 1000.0);
}

bool dd_rest_add_time(cJSON *obj, const char *name, int64_t ms)
{
    cJSON *n = dd_rest_time_json(ms);

    if (n == NULL || !cJSON_AddItemToObject(obj, name, n)) {
        cJSON_Delete(n);
        return false;
    }
    return true;
}

/* ---- errors -------------------------------------------------------------- */

typedef struct error_code {
    const char *code;
    int status;
} error_code_t;

/* From the exception shapes of botocore's iot service model. */
static const error_code_t ERROR_CODES[] = {
    {"CertificateConflictException", 409},
    {"CertificateStateException", 406},
    {"CertificateValidationException", 400},
    {"ConflictException", 409},
    {"ConflictingResourceUpdateException", 409},
    {"DeleteConflictException", 409},
    {"IndexNotReadyException", 400},
    {"InternalException", 500},
    {"InternalFailureException", 500},
    {"InternalServerException", 500},
    {"InvalidAggregationException", 400},
    {"InvalidQueryException", 400},
    {"InvalidRequestException", 400},
    {"InvalidResponseException", 400},
    {"InvalidStateTransitionException", 409},
    {"LimitExceededException", 410},
    {"MalformedPolicyException", 400},
    {"NotConfiguredException", 404},
    {"RegistrationCodeValidationException", 400},
    {"ResourceAlreadyExistsException", 409},
    {"ResourceNotFoundException", 404},
    {"ResourceRegistrationFailureException", 400},
    {"ServiceUnavailableException", 503},
    {"SqlParseException", 400},
    {"TaskAlreadyExistsException", 400},
    {"ThrottlingException", 400},
    {"TransferAlreadyCompletedException", 410},
    {"TransferConflictException", 409},
    {"UnauthorizedException", 401},
    {"VersionConflictException", 409},
    {"VersionsLimitExceededException", 409},
};

int dd_rest_error_status(const char *code)
{
    size_t i;

    if (code != NULL) {
        for (i = 0; i < sizeof(ERROR_CODES) / sizeof(ERROR_CODES[0]); i++) {
            if (strcmp(ERROR_CODES[i].code, code) == 0) {
                return ERROR_CODES[i].status;
            }
        }
    }
    return 400;
}

char *dd_rest_error_body(const char *message, const char *resource_id, const char *resource_arn)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;

    if (o == NULL) {
        return NULL;
    }
    if (cJSON_AddStringToObject(o, "message", message != NULL ? message : "") != NULL &&
        (resource_id == NULL || resource_id[0] == '\0' ||
         cJSON_AddStringToObject(o, "resourceId", resource_id) != NULL) &&
        (resource_arn == NULL || resource_arn[0] == '\0' ||
         cJSON_AddStringToObject(o, "resourceArn", resource_arn) != NULL)) {
        text = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    return text;
}

/* ---- pagination ---------------------------------------------------------- */

#define TOKEN_TAG "ddl1|"

dd_rest_status_t dd_rest_token_encode(const char *key, char *out, size_t len)
{
    unsigned char raw[DD_REST_TOKEN_KEY_MAX + sizeof(TOKEN_TAG)];
    size_t n;

    if (key == NULL || out == NULL || key[0] == '\0') {
        return DD_REST_BAD_PARAMETER;
    }
    n = strlen(key);
    if (n >= DD_REST_TOKEN_KEY_MAX) {
        return DD_REST_TOO_LONG;
    }
    memcpy(raw, TOKEN_TAG, sizeof(TOKEN_TAG) - 1);
    memcpy(raw + sizeof(TOKEN_TAG) - 1, key, n);
    n += sizeof(TOKEN_TAG) - 1;
    if (len < 4 * ((n + 2) / 3) + 1) {
        return DD_REST_TOO_LONG;
    }
    (void)EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
    return DD_REST_OK;
}

dd_rest_status_t dd_rest_token_decode(const char *token, char *key, size_t len)
{
    unsigned char raw[DD_REST_TOKEN_MAX];
    size_t n;
    size_t pad = 0;
    int got;
    size_t i;

    if (token == NULL || key == NULL || len == 0) {
        return DD_REST_BAD_PARAMETER;
    }
    n = strlen(token);
    if (n == 0 || n % 4 != 0 || n >= DD_REST_TOKEN_MAX) {
        return DD_REST_INVALID;
    }
    for (i = 0; i < n; i++) {
        char c = token[i];
        if (c == '=') {
            if (i < n - 2) {
                return DD_REST_INVALID;
            }
            pad++;
        } else if (pad > 0 || !(is_alnum((unsigned char)c) || c == '+' || c == '/')) {
            return DD_REST_INVALID;
        }
    }
    got = EVP_DecodeBlock(raw, (const unsigned char *)token, (int)n);
    if (got < 0 || (size_t)got < pad) {
        return DD_REST_INVALID;
    }
    got -= (int)pad;
    if ((size_t)got <= sizeof(TOKEN_TAG) - 1 ||
        memcmp(raw, TOKEN_TAG, sizeof(TOKEN_TAG) - 1) != 0) {
        return DD_REST_INVALID;
    }
    n = (size_t)got - (sizeof(TOKEN_TAG) - 1);
    if (n >= len || memchr(raw + sizeof(TOKEN_TAG) - 1, '\0', n) != NULL) {
        return DD_REST_INVALID;
    }
    memcpy(key, raw + sizeof(TOKEN_TAG) - 1, n);
    key[n] = '\0';
    return DD_REST_OK;
}

dd_rest_status_t dd_rest_query_page_size(const dd_rest_query_t *q, const char *name, int max,
                                         int dflt, int *out, char *msg)
{
    int64_t v = dflt;
    dd_rest_status_t status;

    if (q == NULL || name == NULL || out == NULL) {
        return DD_REST_BAD_PARAMETER;
    }
    status = dd_rest_query_int(q, name, false, 1, max, &v, msg);
    if (status == DD_REST_INVALID) {
        return status;
    }
    *out = (int)v;
    return DD_REST_OK;
}

dd_rest_status_t dd_rest_query_token(const dd_rest_query_t *q, const char *name, char *key,
                                     size_t len, char *msg)
{
    const char *v;

    if (q == NULL || name == NULL || key == NULL || len == 0) {
        return DD_REST_BAD_PARAMETER;
    }
    key[0] = '\0';
    v = dd_rest_query_get(q, name);
    if (v == NULL || v[0] == '\0') {
        return DD_REST_OK;
    }
    if (dd_rest_token_decode(v, key, len) != DD_REST_OK) {
        set_msg(msg, "Invalid %s: '%.64s' is not a token returned by a previous call", name, v);
        return DD_REST_INVALID;
    }
    return DD_REST_OK;
}

/* ---- misc ---------------------------------------------------------------- */

void dd_rest_request_id(char out[DD_REST_REQUEST_ID_LEN])
{
    char id[DD_SEED_UUID_LEN];

    /* A failed draw still gives a well-formed id: the response matters more than its id. */
    if (dd_seed_uuid("request-id", id) != DD_SEED_OK) {
        (void)snprintf(id, sizeof(id), "00000000-0000-4000-8000-000000000000");
    }
    (void)snprintf(out, DD_REST_REQUEST_ID_LEN, "%s", id);
}

const char *dd_rest_strerror(dd_rest_status_t status)
{
    switch (status) {
    case DD_REST_OK: return "ok";
    case DD_REST_BAD_PARAMETER: return "bad parameter";
    case DD_REST_INVALID: return "invalid value";
    case DD_REST_ABSENT: return "absent";
    case DD_REST_NO_MEMORY: return "out of memory";
    case DD_REST_TOO_LONG: return "buffer too small";
    }
    return "unknown status";
}
