/**
 * @file fuzz_report_json.c
 * @brief libFuzzer harness: a device report as JSON text, as it arrives on
 *        .../defender/metrics/json. Decodes with the default and the
 *        non-default options; a decoded report is re-encoded in both formats.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dd_fuzz.h"
#include "dd_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dd_fuzz_report(DD_REPORT_FORMAT_JSON, data, size);
    return 0;
}
