/**
 * @file dd_fuzz.h
 * @brief What the libFuzzer harnesses under fuzz/ share: the report round
 *        trip (JSON and CBOR harnesses) and loading a fixture at start-up.
 *
 * Harness code only: built with DD_FUZZ=ON (clang, -fsanitize=fuzzer).
 * Returned buffers are malloc'd and the caller's.
 */
#ifndef DD_FUZZ_H_
#define DD_FUZZ_H_

#include <stddef.h>
#include <stdint.h>

#include "dd_report.h"

/** The libFuzzer entry point each harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/**
 * @brief Decodes @p data as a report in @p format (default options and the
 *        non-default ones); re-encodes what decodes, in the same format with
 *        long and short keys, and decodes that again.
 *        Aborts when a decoded report does not survive its own encoding.
 */
void dd_fuzz_report(dd_report_format_t format, const uint8_t *data, size_t size);

/**
 * @brief Reads a file of the source tree (DD_SOURCE_DIR/@p rel), NUL-terminated.
 * @param[out] len Receives its length without the NUL.
 * @return The content (malloc'd), or NULL after printing why.
 */
char *dd_fuzz_load(const char *rel, size_t *len);

#endif /* DD_FUZZ_H_ */
