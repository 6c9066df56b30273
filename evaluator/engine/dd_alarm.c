#include "dd_alarm.h"

#include <string.h>

#define RUN_CAP 10

static uint8_t bump(uint8_t run)
{
    return run < RUN_CAP ? (uint8_t)(run + 1) : run;
}

dd_alarm_status_t dd_alarm_step(dd_alarm_t *alarm, bool violating, int to_alarm, int to_clear,
                                int64_t now_ms, const char *new_id, dd_alarm_transition_t *out)
{
    if (alarm == NULL || out == NULL || to_alarm < 1 || to_alarm > 10 || to_clear < 1 ||
        to_clear > 10) {
        return DD_ALARM_BAD_PARAMETER;
    }
    *out = DD_ALARM_NONE;
    alarm->last_datapoint_ms = now_ms;
    if (violating) {
        alarm->violating_run = bump(alarm->violating_run);
        alarm->conforming_run = 0;
    } else {
        alarm->conforming_run = bump(alarm->conforming_run);
        alarm->violating_run = 0;
    }
    if (alarm->state == DD_ALARM_NORMAL) {
        if (violating && alarm->violating_run >= to_alarm) {
            alarm->state = DD_ALARM_IN_ALARM;
            alarm->start_ms = now_ms;
            alarm->last_violation_ms = now_ms;
            alarm->verification = DD_VERIFICATION_UNKNOWN;
            if (new_id != NULL) {
                (void)strncpy(alarm->violation_id, new_id, DD_VIOLATION_ID_LEN - 1);
                alarm->violation_id[DD_VIOLATION_ID_LEN - 1] = '\0';
            }
            *out = DD_ALARM_RAISED;
        }
        return DD_ALARM_OK;
    }
    if (violating) {
        alarm->last_violation_ms = now_ms;
        *out = DD_ALARM_STILL_VIOLATING;
    } else if (alarm->conforming_run >= to_clear) {
        alarm->state = DD_ALARM_NORMAL;
        *out = DD_ALARM_CLEARED;
    }
    return DD_ALARM_OK;
}

dd_alarm_status_t dd_alarm_invalidate(dd_alarm_t *alarm, dd_alarm_transition_t *out)
{
    if (alarm == NULL || out == NULL) {
        return DD_ALARM_BAD_PARAMETER;
    }
    *out = alarm->state == DD_ALARM_IN_ALARM ? DD_ALARM_INVALIDATED : DD_ALARM_NONE;
    alarm->state = DD_ALARM_NORMAL;
    alarm->violating_run = 0;
    alarm->conforming_run = 0;
    return DD_ALARM_OK;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

void dd_alarm_make_id(const void *key, size_t key_len, uint64_t counter,
                      char out[DD_VIOLATION_ID_LEN])
{
    static const char HEX[] = "0123456789abcdef";
    const unsigned char *p = key;
    uint64_t h1 = 0xcbf29ce484222325ULL;
    uint64_t h2 = 0x84222325cbf29ce4ULL;
    size_t i;

    for (i = 0; i < key_len; i++) {
        h1 = (h1 ^ p[i]) * 0x100000001b3ULL;
        h2 = (h2 ^ p[i]) * 0x1000193ULL + 0x9e3779b97f4a7c15ULL;
    }
    h1 = mix64(h1 ^ mix64(counter));
    h2 = mix64(h2 ^ mix64(counter + 0x632be59bd9b4e019ULL));
    for (i = 0; i < 16; i++) {
        out[i] = HEX[(h1 >> (60 - 4 * i)) & 0xf];
        out[16 + i] = HEX[(h2 >> (60 - 4 * i)) & 0xf];
    }
    out[32] = '\0';
}

static const char *const VERIFICATION_NAMES[] = {
    "UNKNOWN",
    "FALSE_POSITIVE",
    "BENIGN_POSITIVE",
    "TRUE_POSITIVE",
};

bool dd_verification_parse(const char *text, dd_verification_t *out)
{
    unsigned i;

    if (text == NULL || out == NULL) {
        return false;
    }
    for (i = 0; i < 4; i++) {
        if (strcmp(text, VERIFICATION_NAMES[i]) == 0) {
            *out = (dd_verification_t)i;
            return true;
        }
    }
    return false;
}

const char *dd_verification_name(dd_verification_t v)
{
    return (unsigned)v < 4 ? VERIFICATION_NAMES[v] : "UNKNOWN";
}

const char *dd_alarm_event_name(dd_alarm_transition_t t)
{
    switch (t) {
    case DD_ALARM_RAISED: return "in-alarm";
    case DD_ALARM_CLEARED: return "alarm-cleared";
    case DD_ALARM_INVALIDATED: return "alarm-invalidated";
    default: break;
    }
    return "";
}

const char *dd_alarm_strerror(dd_alarm_status_t status)
{
    switch (status) {
    case DD_ALARM_OK: return "ok";
    case DD_ALARM_BAD_PARAMETER: return "bad parameter";
    }
    return "unknown alarm status";
}
