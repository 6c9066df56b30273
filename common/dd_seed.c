#include "dd_seed.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define BLOCK 32

typedef struct stream {
    char name[DD_SEED_STREAM_NAME_MAX + 1];
    uint64_t counter;
} stream_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_set;
static uint64_t g_seed;
static unsigned char g_key[SHA256_DIGEST_LENGTH];
static stream_t g_streams[DD_SEED_MAX_STREAMS];
static size_t g_nstreams;

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* One block: HMAC-SHA256(key, label || 0x00 || counter). */
static bool block(const unsigned char *key, size_t key_len, const char *label, uint64_t counter,
                  unsigned char out[BLOCK])
{
    unsigned char msg[DD_SEED_STREAM_NAME_MAX + 1 + 8];
    size_t n = label != NULL ? strlen(label) : 0;
    unsigned int out_len = 0;

    if (n > DD_SEED_STREAM_NAME_MAX) {
        return false;
    }
    memcpy(msg, label, n);
    msg[n] = 0;
    put_be64(msg + n + 1, counter);
    return HMAC(EVP_sha256(), key, (int)key_len, msg, n + 9, out, &out_len) != NULL &&
           out_len == BLOCK;
}

/* Fills buf from consecutive blocks starting at *counter; advances it. */
static bool fill(const unsigned char *key, size_t key_len, const char *label, uint64_t *counter,
                 unsigned char *buf, size_t len)
{
    unsigned char b[BLOCK];

    while (len > 0) {
        size_t n = len < BLOCK ? len : BLOCK;
        if (!block(key, key_len, label, (*counter)++, b)) {
            OPENSSL_cleanse(b, sizeof(b));
            return false;
        }
        memcpy(buf, b, n);
        buf += n;
        len -= n;
    }
    OPENSSL_cleanse(b, sizeof(b));
    return true;
}

dd_seed_status_t dd_seed_set(uint64_t seed, const char *scope)
{
    static const char tag[] = "ddlocal seed v1";
    unsigned char msg[sizeof(tag) - 1 + 8 + DD_SEED_SCOPE_MAX];
    unsigned char key[SHA256_DIGEST_LENGTH];
    size_t scope_len = scope != NULL ? strlen(scope) : 0;

    if (scope == NULL || scope_len > DD_SEED_SCOPE_MAX) {
        return DD_SEED_BAD_PARAMETER;
    }
    memcpy(msg, tag, sizeof(tag) - 1);
    put_be64(msg + sizeof(tag) - 1, seed);
    memcpy(msg + sizeof(tag) - 1 + 8, scope, scope_len);
    if (SHA256(msg, sizeof(tag) - 1 + 8 + scope_len, key) == NULL) {
        return DD_SEED_CRYPTO_ERROR;
    }
    pthread_mutex_lock(&g_lock);
    memcpy(g_key, key, sizeof(g_key));
    g_seed = seed;
    g_set = true;
    memset(g_streams, 0, sizeof(g_streams));
    g_nstreams = 0;
    pthread_mutex_unlock(&g_lock);
    OPENSSL_cleanse(key, sizeof(key));
    return DD_SEED_OK;
}

void dd_seed_unset(void)
{
    pthread_mutex_lock(&g_lock);
    OPENSSL_cleanse(g_key, sizeof(g_key));
    g_set = false;
    g_seed = 0;
    memset(g_streams, 0, sizeof(g_streams));
    g_nstreams = 0;
    pthread_mutex_unlock(&g_lock);
}

bool dd_seed_get(uint64_t *seed)
{
    bool set;

    pthread_mutex_lock(&g_lock);
    set = g_set;
    if (set && seed != NULL) {
        *seed = g_seed;
    }
    pthread_mutex_unlock(&g_lock);
    return set;
}

static bool valid_stream(const char *stream)
{
    size_t n;

    if (stream == NULL) {
        return false;
    }
    n = strlen(stream);
    return n > 0 && n <= DD_SEED_STREAM_NAME_MAX;
}

/* Called with g_lock held. */
static stream_t *find_stream(const char *name)
{
    for (size_t i = 0; i < g_nstreams; i++) {
        if (strcmp(g_streams[i].name, name) == 0) {
            return &g_streams[i];
        }
    }
    if (g_nstreams == DD_SEED_MAX_STREAMS) {
        return NULL;
    }
    (void)snprintf(g_streams[g_nstreams].name, sizeof(g_streams[0].name), "%s", name);
    g_streams[g_nstreams].counter = 0;
    return &g_streams[g_nstreams++];
}

dd_seed_status_t dd_seed_bytes(const char *stream, void *buf, size_t len)
{
    dd_seed_status_t st = DD_SEED_OK;
    stream_t *s;

    if (!valid_stream(stream) || (buf == NULL && len > 0)) {
        return DD_SEED_BAD_PARAMETER;
    }
    if (len == 0) {
        return DD_SEED_OK;
    }
    pthread_mutex_lock(&g_lock);
    if (!g_set) {
        pthread_mutex_unlock(&g_lock);
        return RAND_bytes(buf, (int)len) == 1 ? DD_SEED_OK : DD_SEED_CRYPTO_ERROR;
    }
    s = find_stream(stream);
    if (s == NULL) {
        st = DD_SEED_TOO_MANY_STREAMS;
    } else if (!fill(g_key, sizeof(g_key), stream, &s->counter, buf, len)) {
        st = DD_SEED_CRYPTO_ERROR;
    }
    pthread_mutex_unlock(&g_lock);
    return st;
}

dd_seed_status_t dd_seed_uuid(const char *stream, char buf[DD_SEED_UUID_LEN])
{
    unsigned char r[16];
    dd_seed_status_t st;

    if (buf == NULL) {
        return DD_SEED_BAD_PARAMETER;
    }
    st = dd_seed_bytes(stream, r, sizeof(r));
    if (st != DD_SEED_OK) {
        buf[0] = '\0';
        return st;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    (void)snprintf(buf, DD_SEED_UUID_LEN,
                   "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
                   r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
                   r[14], r[15]);
    return DD_SEED_OK;
}

dd_seed_status_t dd_seed_gen_init(dd_seed_gen_t *gen, const char *stream)
{
    if (gen == NULL) {
        return DD_SEED_BAD_PARAMETER;
    }
    memset(gen, 0, sizeof(*gen));
    return dd_seed_bytes(stream, gen->key, sizeof(gen->key));
}

dd_seed_status_t dd_seed_gen_bytes(dd_seed_gen_t *gen, void *buf, size_t len)
{
    if (gen == NULL || (buf == NULL && len > 0)) {
        return DD_SEED_BAD_PARAMETER;
    }
    return fill(gen->key, sizeof(gen->key), "gen", &gen->counter, buf, len) ? DD_SEED_OK
                                                                            : DD_SEED_CRYPTO_ERROR;
}

void dd_seed_gen_wipe(dd_seed_gen_t *gen)
{
    if (gen != NULL) {
        OPENSSL_cleanse(gen, sizeof(*gen));
    }
}

const char *dd_seed_strerror(dd_seed_status_t status)
{
    switch (status) {
    case DD_SEED_OK: return "ok";
    case DD_SEED_BAD_PARAMETER: return "bad parameter";
    case DD_SEED_TOO_MANY_STREAMS: return "too many random streams";
    case DD_SEED_CRYPTO_ERROR: return "random generator failed";
    }
    return "unknown status";
}
