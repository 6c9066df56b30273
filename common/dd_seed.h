/**
 * @file dd_seed.h
 * @brief The one source of ids and anything random in ddlocal: OpenSSL's
 *        CSPRNG by default, a deterministic generator once a seed is set
 *        (`ddlocal up --seed N`, `ddlocald --id-seed N`).
 *
 * With a seed, every draw comes from a named *stream* ("thing-id",
 * "pki.key.device", ...): block i of a stream is
 * HMAC-SHA256(K, stream || 0x00 || i as 8 big-endian bytes) with
 * K = SHA-256("ddlocal seed v1" || seed as 8 big-endian bytes || scope).
 * The scope keeps apart processes that share a data dir and a seed: `ddlocal
 * up` ("up") and each start of ddlocald on that data dir ("ddlocald.N"), so
 * that a resumed run does not make the ids of the first one again. Each stream
 * counts its own blocks, so two runs that make the same calls of one kind in
 * the same order get the same bytes, whatever the other kinds did in between
 * or in which thread. A stream's blocks are never reused within a process.
 *
 * dd_seed_gen_t is a private generator drawn from a stream (32 bytes of key):
 * for consumers of an unknown number of bytes (key generation's prime
 * search), so that one key's consumption does not shift the next key's bytes.
 *
 * The seed is process-wide state (one per process, as the CSPRNG it stands in
 * for): dd_seed_set() is called once at start, before threads that draw.
 * Draws are thread-safe (one mutex around the stream table). Nothing is
 * allocated; a dd_seed_gen_t belongs to its caller and is wiped by
 * dd_seed_gen_wipe().
 */
#ifndef DD_SEED_H_
#define DD_SEED_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_seed_status {
    DD_SEED_OK = 0,
    DD_SEED_BAD_PARAMETER,    /**< NULL pointer, empty or too long stream name. */
    DD_SEED_TOO_MANY_STREAMS, /**< More than DD_SEED_MAX_STREAMS stream names. */
    DD_SEED_CRYPTO_ERROR      /**< OpenSSL's RAND_bytes or HMAC failed. */
} dd_seed_status_t;

/**
 * Registry setting: the seed of the last start of ddlocald on a data dir ("" = it started
 * without one). The CLI's commands that write the registry themselves follow it.
 */
#define DD_SEED_SETTING "seed"

/** Most distinct stream names one process may use. */
#define DD_SEED_MAX_STREAMS 32
/** Longest stream name, without the NUL. */
#define DD_SEED_STREAM_NAME_MAX 31
/** Size of a UUID text buffer, with the NUL. */
#define DD_SEED_UUID_LEN 37

/** A private deterministic generator (see the file comment). */
typedef struct dd_seed_gen {
    unsigned char key[32]; /**< HMAC key, drawn from a stream */
    uint64_t counter;      /**< next block */
} dd_seed_gen_t;

/** Longest scope, without the NUL. */
#define DD_SEED_SCOPE_MAX 63

/**
 * @brief Sets the process's seed: from now on every draw is deterministic.
 *        Restarts every stream at block 0.
 * @param[in] seed Any value (0 included).
 * @param[in] scope Who draws (file comment), 0..DD_SEED_SCOPE_MAX characters.
 * @return DD_SEED_OK, DD_SEED_BAD_PARAMETER or DD_SEED_CRYPTO_ERROR.
 */
dd_seed_status_t dd_seed_set(uint64_t seed, const char *scope);

/** @brief Back to OpenSSL's CSPRNG (tests); forgets the streams. */
void dd_seed_unset(void);

/**
 * @brief Whether a seed is set.
 * @param[out] seed Optional: receives the seed when one is set.
 * @return true when draws are deterministic.
 */
bool dd_seed_get(uint64_t *seed);

/**
 * @brief Fills @p buf with @p len bytes: the stream's next bytes with a seed,
 *        RAND_bytes() without. A draw starts on a fresh block, so the bytes of
 *        one call do not depend on the length of the calls before it.
 * @param[in] stream Stream name, 1..DD_SEED_STREAM_NAME_MAX characters.
 * @param[out] buf Output.
 * @param[in] len Bytes wanted (0 is fine).
 * @return DD_SEED_OK, DD_SEED_BAD_PARAMETER, DD_SEED_TOO_MANY_STREAMS or
 *         DD_SEED_CRYPTO_ERROR.
 */
dd_seed_status_t dd_seed_bytes(const char *stream, void *buf, size_t len);

/**
 * @brief A version 4 UUID (lowercase, 36 characters) from dd_seed_bytes().
 * @param[in] stream Stream name.
 * @param[out] buf Receives the UUID and a NUL.
 * @return As dd_seed_bytes().
 */
dd_seed_status_t dd_seed_uuid(const char *stream, char buf[DD_SEED_UUID_LEN]);

/**
 * @brief Starts a private generator: its key is 32 bytes of @p stream (so
 *        random without a seed, deterministic with one).
 * @param[out] gen The generator.
 * @param[in] stream Stream name.
 * @return As dd_seed_bytes().
 */
dd_seed_status_t dd_seed_gen_init(dd_seed_gen_t *gen, const char *stream);

/**
 * @brief The generator's next @p len bytes (HMAC-SHA256 blocks of its key).
 * @param[in,out] gen A generator from dd_seed_gen_init().
 * @param[out] buf Output.
 * @param[in] len Bytes wanted.
 * @return DD_SEED_OK, DD_SEED_BAD_PARAMETER or DD_SEED_CRYPTO_ERROR.
 */
dd_seed_status_t dd_seed_gen_bytes(dd_seed_gen_t *gen, void *buf, size_t len);

/** @brief Wipes a generator's key. NULL is ignored. */
void dd_seed_gen_wipe(dd_seed_gen_t *gen);

/** @return Static text for @p status. */
const char *dd_seed_strerror(dd_seed_status_t status);

#endif /* DD_SEED_H_ */
