/*
 * The key-quality verdict (common/dd_keyq.h) per key, in CPU time of this
 * process (CLOCK_PROCESS_CPUTIME_ID: the machine is shared, wall time would measure the
 * others). Three cases, CALLS calls each, repeated ROUNDS times, the median reported:
 *
 *  - dd_keyq_assess() on an RSA-2048 EVP_PKEY (what an audit check does per
 *    certificate: the modulus read out of the key, the length rule, the ROCA test);
 *  - dd_keyq_roca() on random odd 2048-bit moduli (a typical key fails the fingerprint
 *    at one of the first primes);
 *  - dd_keyq_roca() on a 2048-bit modulus that passes all 38 primes (N = 1 mod every
 *    prime up to 167: the worst case, as costly as a ROCA key).
 *
 * bench_keyq [calls] [rounds]   (defaults 20000 5)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "dd_keyq.h"

#define MAX_ROUNDS 64
#define RANDOM_MODULI 64

static double cpu_us(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return x < y ? -1 : (x > y ? 1 : 0);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* 1 + k * (3 * 5 * ... * 167) with k random: 2048 bits, 1 mod every prime of the test. */
static BIGNUM *worst_case_modulus(void)
{
    static const unsigned PRIMES[] = {3,   5,   7,   11,  13,  17,  19,  23,  29,  31,
                                      37,  41,  43,  47,  53,  59,  61,  67,  71,  73,
                                      79,  83,  89,  97,  101, 103, 107, 109, 113, 127,
                                      131, 137, 139, 149, 151, 157, 163, 167};
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *m = BN_new();
    BIGNUM *k = BN_new();
    BIGNUM *n = BN_new();
    size_t i;

    if (ctx == NULL || m == NULL || k == NULL || n == NULL || BN_one(m) != 1) {
        return NULL;
    }
    for (i = 0; i < sizeof(PRIMES) / sizeof(PRIMES[0]); i++) {
        (void)BN_mul_word(m, PRIMES[i]);
    }
    do {
        if (BN_rand(k, 2048 - BN_num_bits(m), BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
            BN_mul(n, k, m, ctx) != 1 || BN_add_word(n, 1) != 1) {
            return NULL;
        }
    } while (BN_num_bits(n) != 2048);
    BN_free(m);
    BN_free(k);
    BN_CTX_free(ctx);
    return n;
}

int main(int argc, char **argv)
{
    int calls = argc > 1 ? atoi(argv[1]) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    EVP_PKEY *key = EVP_RSA_gen(2048);
    BIGNUM *random_n[RANDOM_MODULI];
    BIGNUM *worst = worst_case_modulus();
    double t_assess[MAX_ROUNDS], t_random[MAX_ROUNDS], t_worst[MAX_ROUNDS];
    int r, i;
    bool v = false;

    if (calls < 1 || rounds < 1 || rounds > MAX_ROUNDS || key == NULL || worst == NULL) {
        fprintf(stderr, "usage: bench_keyq [calls >= 1] [rounds 1..%d]\n", MAX_ROUNDS);
        return 2;
    }
    for (i = 0; i < RANDOM_MODULI; i++) {
        random_n[i] = BN_new();
        if (random_n[i] == NULL ||
            BN_rand(random_n[i], 2048, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD) != 1) {
            return 1;
        }
    }
    if (dd_keyq_roca(worst, &v) != DD_KEYQ_OK || !v) {
        fprintf(stderr, "bench_keyq: the worst-case modulus is not flagged\n");
        return 1;
    }
    for (r = 0; r < rounds; r++) {
        double t0 = cpu_us();
        for (i = 0; i < calls; i++) {
            dd_keyq_result_t q;
            if (dd_keyq_assess(key, &q) != DD_KEYQ_OK || q.roca) {
                return 1;
            }
        }
        t_assess[r] = (cpu_us() - t0) / calls;
        t0 = cpu_us();
        for (i = 0; i < calls; i++) {
            if (dd_keyq_roca(random_n[i % RANDOM_MODULI], &v) != DD_KEYQ_OK) {
                return 1;
            }
        }
        t_random[r] = (cpu_us() - t0) / calls;
        t0 = cpu_us();
        for (i = 0; i < calls; i++) {
            if (dd_keyq_roca(worst, &v) != DD_KEYQ_OK || !v) {
                return 1;
            }
        }
        t_worst[r] = (cpu_us() - t0) / calls;
        printf("round %d: assess RSA-2048 %.2f us, roca random %.2f us, roca worst %.2f us\n",
               r + 1, t_assess[r], t_random[r], t_worst[r]);
    }
    printf("median of %d rounds of %d calls (CPU time per call): assess RSA-2048 %.2f us, "
           "roca random %.2f us, roca worst case %.2f us\n",
           rounds, calls, median(t_assess, rounds), median(t_random, rounds),
           median(t_worst, rounds));
    for (i = 0; i < RANDOM_MODULI; i++) {
        BN_free(random_n[i]);
    }
    BN_free(worst);
    EVP_PKEY_free(key);
    return 0;
}
