#include "dd_map.h"

#include <stdlib.h>
#include <string.h>

#define TOMBSTONE ((char *)1)

/* FNV-1a: short keys (names), no need for anything stronger. */
static uint64_t hash_bytes(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void dd_map_init(dd_map_t *map)
{
    if (map != NULL) {
        memset(map, 0, sizeof(*map));
    }
}

void dd_map_destroy(dd_map_t *map)
{
    size_t i;

    if (map == NULL) {
        return;
    }
    for (i = 0; i < map->capacity; i++) {
        if (map->slots[i].key != NULL && map->slots[i].key != TOMBSTONE) {
            free(map->slots[i].key);
        }
    }
    free(map->slots);
    memset(map, 0, sizeof(*map));
}

static bool slot_matches(const dd_map_slot_t *s, uint64_t h, const char *key, size_t len)
{
    return s->key != TOMBSTONE && s->hash == h && strncmp(s->key, key, len) == 0 &&
           s->key[len] == '\0';
}

/* Index of the live slot holding key, or SIZE_MAX. */
static size_t find(const dd_map_t *map, const char *key, size_t len, uint64_t h)
{
    size_t mask;
    size_t i;

    if (map->capacity == 0) {
        return SIZE_MAX;
    }
    mask = map->capacity - 1;
    for (i = (size_t)h & mask; map->slots[i].key != NULL; i = (i + 1) & mask) {
        if (slot_matches(&map->slots[i], h, key, len)) {
            return i;
        }
    }
    return SIZE_MAX;
}

static dd_map_status_t grow(dd_map_t *map)
{
    size_t cap = map->capacity == 0 ? 16 : map->capacity * 2;
    dd_map_slot_t *slots;
    size_t i;

    /* Many tombstones: rehash at the same size instead of growing. */
    if (map->capacity != 0 && map->count * 2 < map->capacity) {
        cap = map->capacity;
    }
    slots = calloc(cap, sizeof(*slots));
    if (slots == NULL) {
        return DD_MAP_NO_MEMORY;
    }
    for (i = 0; i < map->capacity; i++) {
        dd_map_slot_t *s = &map->slots[i];
        if (s->key != NULL && s->key != TOMBSTONE) {
            size_t j = (size_t)s->hash & (cap - 1);
            while (slots[j].key != NULL) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = *s;
        }
    }
    free(map->slots);
    map->slots = slots;
    map->capacity = cap;
    map->used = map->count;
    return DD_MAP_OK;
}

dd_map_status_t dd_map_put(dd_map_t *map, const char *key, void *value, void **old)
{
    size_t len;
    uint64_t h;
    size_t i;
    size_t mask;
    size_t free_slot = SIZE_MAX;

    if (old != NULL) {
        *old = NULL;
    }
    if (map == NULL || key == NULL) {
        return DD_MAP_BAD_PARAMETER;
    }
    len = strlen(key);
    h = hash_bytes(key, len);
    i = find(map, key, len, h);
    if (i != SIZE_MAX) {
        if (old != NULL) {
            *old = map->slots[i].value;
        }
        map->slots[i].value = value;
        return DD_MAP_OK;
    }
    /* Keep the load (including tombstones) under 3/4. */
    if ((map->used + 1) * 4 > map->capacity * 3 && grow(map) != DD_MAP_OK) {
        return DD_MAP_NO_MEMORY;
    }
    mask = map->capacity - 1;
    for (i = (size_t)h & mask; map->slots[i].key != NULL; i = (i + 1) & mask) {
        if (map->slots[i].key == TOMBSTONE && free_slot == SIZE_MAX) {
            free_slot = i;
        }
    }
    if (free_slot == SIZE_MAX) {
        free_slot = i;
        map->used++;
    }
    map->slots[free_slot].key = malloc(len + 1);
    if (map->slots[free_slot].key == NULL) {
        if (free_slot == i) {
            map->used--;
        }
        map->slots[free_slot].key = free_slot == i ? NULL : TOMBSTONE;
        return DD_MAP_NO_MEMORY;
    }
    memcpy(map->slots[free_slot].key, key, len + 1);
    map->slots[free_slot].hash = h;
    map->slots[free_slot].value = value;
    map->count++;
    return DD_MAP_OK;
}

void *dd_map_get_n(const dd_map_t *map, const char *key, size_t len)
{
    size_t i;

    if (map == NULL || key == NULL) {
        return NULL;
    }
    i = find(map, key, len, hash_bytes(key, len));
    return i == SIZE_MAX ? NULL : map->slots[i].value;
}

void *dd_map_get(const dd_map_t *map, const char *key)
{
    return key == NULL ? NULL : dd_map_get_n(map, key, strlen(key));
}

dd_map_status_t dd_map_remove(dd_map_t *map, const char *key, void **old)
{
    size_t len;
    size_t i;

    if (old != NULL) {
        *old = NULL;
    }
    if (map == NULL || key == NULL) {
        return DD_MAP_BAD_PARAMETER;
    }
    len = strlen(key);
    i = find(map, key, len, hash_bytes(key, len));
    if (i == SIZE_MAX) {
        return DD_MAP_NOT_FOUND;
    }
    if (old != NULL) {
        *old = map->slots[i].value;
    }
    free(map->slots[i].key);
    map->slots[i].key = TOMBSTONE;
    map->slots[i].value = NULL;
    map->count--;
    return DD_MAP_OK;
}

size_t dd_map_count(const dd_map_t *map)
{
    return map != NULL ? map->count : 0;
}

bool dd_map_next(const dd_map_t *map, size_t *cursor, const char **key, void **value)
{
    if (map == NULL || cursor == NULL) {
        return false;
    }
    while (*cursor < map->capacity) {
        const dd_map_slot_t *s = &map->slots[(*cursor)++];
        if (s->key != NULL && s->key != TOMBSTONE) {
            if (key != NULL) {
                *key = s->key;
            }
            if (value != NULL) {
                *value = s->value;
            }
            return true;
        }
    }
    return false;
}

const char *dd_map_strerror(dd_map_status_t status)
{
    switch (status) {
    case DD_MAP_OK: return "ok";
    case DD_MAP_BAD_PARAMETER: return "bad parameter";
    case DD_MAP_NO_MEMORY: return "out of memory";
    case DD_MAP_NOT_FOUND: return "key not found";
    }
    return "unknown map status";
}
