/**
 * @file fuzz_certfacts.c
 * @brief libFuzzer harness: a PEM certificate as RegisterCertificate,
 *        RegisterCACertificate or `ddlocal cert` hands it to the registry, read
 *        by dd_certfacts_from_pem() (the facts the audit stores and reads).
 */
#include <stddef.h>
#include <stdint.h>

#include "dd_certfacts.h"
#include "dd_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dd_certfacts_t facts;

    (void)dd_certfacts_from_pem((const char *)data, size, &facts);
    return 0;
}
