/**
 * @file fuzz_report_cbor.c
 * @brief libFuzzer harness: a device report as CBOR, as it arrives on
 *        .../defender/metrics/cbor (same checks as fuzz_report_json.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dd_fuzz.h"
#include "dd_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dd_fuzz_report(DD_REPORT_FORMAT_CBOR, data, size);
    return 0;
}
