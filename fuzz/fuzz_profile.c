/**
 * @file fuzz_profile.c
 * @brief libFuzzer harness: a security profile document, as the body of
 *        CreateSecurityProfile / UpdateSecurityProfile /
 *        ValidateSecurityProfileBehaviors and as `ddlocal replay --profile`
 *        reads it: parse, validate, write back as JSON and parse that again;
 *        parse as an update and merge it into the parsed profile.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dd_fuzz.h"
#include "dd_profile.h"

static void write_back(const dd_profile_t *profile)
{
    cJSON *json =
        dd_profile_to_json(profile, NULL, DD_PROFILE_JSON_DESCRIBE | DD_PROFILE_JSON_TARGETS);
    char *text;
    dd_profile_t again;

    if (json == NULL) {
        return;
    }
    text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (text == NULL) {
        return;
    }
    if (dd_profile_parse(text, strlen(text), NULL, &again, NULL) == DD_PROFILE_OK) {
        dd_profile_free(&again);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    dd_profile_error_t err;
    dd_profile_errors_t errs;
    dd_profile_t profile;
    dd_profile_t patch;
    unsigned deletes = 0;

    if (dd_profile_parse(body, size, "fuzz", &profile, &err) == DD_PROFILE_OK) {
        if (dd_profile_validate(&profile, NULL, NULL, &err) == DD_PROFILE_OK) {
            write_back(&profile);
        }
        if (dd_profile_parse_update(body, size, "fuzz", &patch, &deletes, &err) == DD_PROFILE_OK) {
            dd_profile_t merged;

            if (dd_profile_merge_update(&profile, &patch, deletes, &merged) == DD_PROFILE_OK) {
                (void)dd_profile_validate(&merged, NULL, NULL, &err);
                dd_profile_free(&merged);
            }
            dd_profile_free(&patch);
        }
        dd_profile_free(&profile);
    }
    (void)dd_profile_validate_behaviors_json(body, size, NULL, &errs);
    return 0;
}
