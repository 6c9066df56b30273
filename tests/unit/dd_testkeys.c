#include "dd_testkeys.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>

/* The first 39 primes: their product is RSALib's M for 512-bit primes. */
static const unsigned M_PRIMES[] = {2,   3,   5,   7,   11,  13,  17,  19,  23,  29,
                                    31,  37,  41,  43,  47,  53,  59,  61,  67,  71,
                                    73,  79,  83,  89,  97,  101, 103, 107, 109, 113,
                                    127, 131, 137, 139, 149, 151, 157, 163, 167};

/* @p len bytes of SHA-256(seed | label | block counter), so each (seed, label) is a stream. */
static void stream(uint32_t seed, char label, unsigned char *out, size_t len)
{
    uint32_t block = 0;

    while (len > 0) {
        unsigned char in[9];
        unsigned char md[32];
        size_t take = len < sizeof(md) ? len : sizeof(md);

        in[0] = (unsigned char)(seed >> 24);
        in[1] = (unsigned char)(seed >> 16);
        in[2] = (unsigned char)(seed >> 8);
        in[3] = (unsigned char)seed;
        in[4] = (unsigned char)label;
        in[5] = (unsigned char)(block >> 24);
        in[6] = (unsigned char)(block >> 16);
        in[7] = (unsigned char)(block >> 8);
        in[8] = (unsigned char)block;
        assert_int_equal(EVP_Digest(in, sizeof(in), md, NULL, EVP_sha256(), NULL), 1);
        memcpy(out, md, take);
        out += take;
        len -= take;
        block++;
    }
}

/* A number of exactly @p bits bits whose top two bits are set, from the stream. */
static BIGNUM *stream_number(int bits, uint32_t seed, char label)
{
    unsigned char buf[1024];
    size_t len = ((size_t)bits + 7) / 8;
    BIGNUM *bn;

    assert_true(bits >= 16 && len <= sizeof(buf));
    stream(seed, label, buf, len);
    bn = BN_bin2bn(buf, (int)len, NULL);
    assert_non_null(bn);
    /* Cut to @p bits bits, then force the top two. */
    if (BN_num_bits(bn) > bits) {
        assert_int_equal(BN_mask_bits(bn, bits), 1);
    }
    assert_int_equal(BN_set_bit(bn, bits - 1), 1);
    assert_int_equal(BN_set_bit(bn, bits - 2), 1);
    return bn;
}

static BIGNUM *roca_prime(int bits, uint32_t seed, char label)
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *m = BN_new();
    BIGNUM *g = BN_new();
    BIGNUM *a = BN_new();
    BIGNUM *c = BN_new();
    BIGNUM *k = BN_new();
    BIGNUM *p = BN_new();
    BIGNUM *t = stream_number(bits, seed, label);
    unsigned char ab[2];
    size_t i;
    int tries;

    assert_true(bits >= 256);
    assert_non_null(ctx);
    assert_non_null(p);
    assert_int_equal(BN_one(m), 1);
    for (i = 0; i < sizeof(M_PRIMES) / sizeof(M_PRIMES[0]); i++) {
        assert_int_equal(BN_mul_word(m, M_PRIMES[i]), 1);
    }
    /* c = 65537^a mod M, a from the stream. */
    stream(seed, (char)(label + 1), ab, sizeof(ab));
    assert_int_equal(BN_set_word(a, ((BN_ULONG)ab[0] << 8) | ab[1]), 1);
    assert_int_equal(BN_set_word(g, 65537), 1);
    assert_int_equal(BN_mod_exp(c, g, a, m, ctx), 1);
    /* p = k * M + c with k = t / M, so p is close to t; then the next k until p is prime. */
    assert_int_equal(BN_div(k, NULL, t, m, ctx), 1);
    assert_int_equal(BN_mul(p, k, m, ctx), 1);
    assert_int_equal(BN_add(p, p, c), 1);
    for (tries = 0; tries < 100000; tries++) {
        int prime = BN_check_prime(p, ctx, NULL);
        assert_true(prime >= 0);
        if (prime == 1) {
            break;
        }
        assert_int_equal(BN_add(p, p, m), 1);
    }
    assert_true(tries < 100000);
    assert_int_equal(BN_num_bits(p), bits);
    BN_free(m);
    BN_free(g);
    BN_free(a);
    BN_free(c);
    BN_free(k);
    BN_free(t);
    BN_CTX_free(ctx);
    return p;
}

BIGNUM *dd_testkeys_roca_prime(int bits, uint32_t seed)
{
    return roca_prime(bits, seed, 'p');
}

BIGNUM *dd_testkeys_roca_modulus(int bits, uint32_t seed)
{
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *p = roca_prime(bits / 2, seed, 'p');
    BIGNUM *q = roca_prime(bits - bits / 2, seed, 'q');
    BIGNUM *n = BN_new();

    assert_non_null(ctx);
    assert_non_null(n);
    assert_int_not_equal(BN_cmp(p, q), 0);
    assert_int_equal(BN_mul(n, p, q, ctx), 1);
    /* Both primes are at least 1.5 * 2^(b-1) - M, so the product has all its bits. */
    assert_int_equal(BN_num_bits(n), bits);
    BN_free(p);
    BN_free(q);
    BN_CTX_free(ctx);
    return n;
}

BIGNUM *dd_testkeys_random_odd(int bits, uint32_t seed)
{
    BIGNUM *n = stream_number(bits, seed, 'r');

    assert_int_equal(BN_set_bit(n, 0), 1);
    return n;
}

EVP_PKEY *dd_testkeys_rsa_public(const BIGNUM *n)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *e = BN_new();
    OSSL_PARAM *params;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *key = NULL;

    assert_non_null(bld);
    assert_non_null(ctx);
    assert_int_equal(BN_set_word(e, 65537), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e), 1);
    params = OSSL_PARAM_BLD_to_param(bld);
    assert_non_null(params);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);
    assert_non_null(key);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(e);
    return key;
}
