/**
 * @file dd_map.h
 * @brief A string-keyed hash map (open addressing, linear probing).
 *
 * Used wherever ddlocal indexes things, clients, certificates or alarm state
 * by name. The map copies each key into its own storage and stores the value
 * pointer as given: it never frees values (the caller owns them; iterate with
 * dd_map_next() to free them before dd_map_destroy()). Lookups do not
 * allocate. Not thread-safe.
 */
#ifndef DD_MAP_H_
#define DD_MAP_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Status codes of this module. */
typedef enum dd_map_status {
    DD_MAP_OK = 0,
    DD_MAP_BAD_PARAMETER,
    DD_MAP_NO_MEMORY,
    DD_MAP_NOT_FOUND
} dd_map_status_t;

/** One slot; internal, exposed only so the map can be caller-allocated. */
typedef struct dd_map_slot {
    char *key; /**< NULL = empty; (char *)1 = deleted */
    uint64_t hash;
    void *value;
} dd_map_slot_t;

/** A map. Zero-initialise or call dd_map_init(). */
typedef struct dd_map {
    dd_map_slot_t *slots;
    size_t capacity; /**< Power of two, or 0. */
    size_t count;    /**< Live entries. */
    size_t used;     /**< Live + deleted slots. */
} dd_map_t;

/** @brief Initialises an empty map (no allocation until the first put). */
void dd_map_init(dd_map_t *map);

/** @brief Frees the map's storage and keys (not the values). */
void dd_map_destroy(dd_map_t *map);

/**
 * @brief Inserts or replaces.
 * @param[out] old Optional: the replaced value, NULL if the key was new.
 * @return DD_MAP_OK, DD_MAP_BAD_PARAMETER or DD_MAP_NO_MEMORY.
 */
dd_map_status_t dd_map_put(dd_map_t *map, const char *key, void *value, void **old);

/** @return The value for @p key, or NULL when absent. */
void *dd_map_get(const dd_map_t *map, const char *key);

/** @brief Same as dd_map_get() for a key given by pointer and length. */
void *dd_map_get_n(const dd_map_t *map, const char *key, size_t len);

/**
 * @brief Removes a key.
 * @param[out] old Optional: the removed value.
 * @return DD_MAP_OK or DD_MAP_NOT_FOUND.
 */
dd_map_status_t dd_map_remove(dd_map_t *map, const char *key, void **old);

/** @return Number of entries. */
size_t dd_map_count(const dd_map_t *map);

/**
 * @brief Iterates: start with *cursor = 0; returns false at the end. Do not
 *        put or remove while iterating (except removing the current key).
 */
bool dd_map_next(const dd_map_t *map, size_t *cursor, const char **key, void **value);

/** @return Static text for @p status. */
const char *dd_map_strerror(dd_map_status_t status);

#endif /* DD_MAP_H_ */
