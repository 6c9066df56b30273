/**
 * @file fuzz_policy.c
 * @brief libFuzzer harness: an IoT policy document (CreatePolicy /
 *        CreatePolicyVersion body), compiled by dd_policy_parse() and, when it
 *        compiles, evaluated for every action on a few resources.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dd_fuzz.h"
#include "dd_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const RESOURCES[] = {
        "arn:aws:iot:us-east-1:123456789012:client/Thing01",
        "arn:aws:iot:us-east-1:123456789012:topic/temperature-device-01",
        "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/Thing01/#",
        "arn:aws:iot:us-east-1:123456789012:topic/",
    };
    const dd_policy_vars_t vars = {"Thing01", "Thing01"};
    char err[DD_POLICY_ERROR_MAX];
    dd_policy_t *policy = NULL;
    size_t r;
    int a;

    if (dd_policy_parse((const char *)data, size, &policy, err, sizeof(err)) != DD_POLICY_OK) {
        return 0;
    }
    for (a = 0; a < DD_POLICY_ACTION_COUNT; a++) {
        for (r = 0; r < sizeof(RESOURCES) / sizeof(RESOURCES[0]); r++) {
            const dd_policy_t *const one[] = {policy};
            dd_policy_decision_t decision;
            dd_policy_match_t match;

            (void)dd_policy_evaluate(one, 1, (dd_policy_action_t)a, RESOURCES[r], &vars, &decision,
                                     &match);
            (void)dd_policy_evaluate(one, 1, (dd_policy_action_t)a, RESOURCES[r], NULL, &decision,
                                     NULL);
        }
    }
    dd_policy_free(policy);
    return 0;
}
