/**
 * @file dd_testkeys.h
 * @brief RSA public keys made for tests, reproducibly from a seed: random odd moduli and
 *        moduli with the ROCA fingerprint (CVE-2017-15361), built as Infineon's RSALib built
 *        its primes.
 *
 * A ROCA-form prime is p = k * M + (65537^a mod M), M the primorial of the first 39 primes
 * (2..167, about 2^219: the paper's M for 512-bit primes; every larger M of RSALib is a
 * multiple of it, and only the primes up to 167 matter to the fingerprint). k and a come from
 * a SHA-256 stream of the seed, and k is stepped until p is prime (BN_check_prime), so the
 * same seed always gives the same key and no vulnerable key has to be stored.
 *
 * A test that includes this header is linked with dd_testkeys.c (tests/unit/CMakeLists.txt
 * lists the tests). Every function returns a new object the caller frees, and fails the test
 * (cmocka assertions) rather than return NULL.
 */
#ifndef DD_TESTKEYS_H_
#define DD_TESTKEYS_H_

#include <stdint.h>

#include <openssl/bn.h>
#include <openssl/evp.h>

/** @return A prime of exactly @p bits bits (>= 256) of the ROCA form, from @p seed. */
BIGNUM *dd_testkeys_roca_prime(int bits, uint32_t seed);

/** @return p * q of two ROCA-form primes of @p bits / 2 bits each: exactly @p bits bits. */
BIGNUM *dd_testkeys_roca_modulus(int bits, uint32_t seed);

/** @return An odd number of exactly @p bits bits from @p seed (a stand-in for a modulus). */
BIGNUM *dd_testkeys_random_odd(int bits, uint32_t seed);

/** @return The RSA public key (@p n, e = 65537), built with OSSL_PARAM_BLD / EVP_PKEY_fromdata. */
EVP_PKEY *dd_testkeys_rsa_public(const BIGNUM *n);

#endif /* DD_TESTKEYS_H_ */
