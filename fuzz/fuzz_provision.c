/**
 * @file fuzz_provision.c
 * @brief libFuzzer harness: a provisioning template body
 *        (CreateProvisioningTemplate's templateBody), checked by
 *        dd_provision_check_template() against the supported language.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dd_fuzz.h"
#include "dd_provision.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    char *body = malloc(size + 1);

    if (body == NULL) {
        return 0;
    }
    memcpy(body, data, size);
    body[size] = '\0';
    (void)dd_provision_check_template(body, why, sizeof(why));
    free(body);
    return 0;
}
