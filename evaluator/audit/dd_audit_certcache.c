#include "dd_audit_certcache.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dd_pki.h"

/* Open addressing with linear probing; the table doubles before it is 70% full. */
#define INITIAL_SLOTS 1024

typedef struct slot {
    char *id;    /* NULL: empty slot */
    X509 *x;     /* NULL: the PEM did not parse */
    bool in_use; /* asked for since the last sweep */
} slot_t;

struct dd_audit_certcache {
    slot_t *slots;
    size_t cap; /* a power of two */
    size_t count;
};

/* FNV-1a: ids are hex digests already, so any mixing function spreads them. */
static uint64_t hash(const char *id)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *id != '\0'; id++) {
        h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    }
    return h;
}

static slot_t *find(slot_t *slots, size_t cap, const char *id)
{
    size_t i = (size_t)hash(id) & (cap - 1);

    while (slots[i].id != NULL && strcmp(slots[i].id, id) != 0) {
        i = (i + 1) & (cap - 1);
    }
    return &slots[i];
}

static dd_audit_certcache_status_t grow(dd_audit_certcache_t *c)
{
    size_t cap = c->cap * 2;
    slot_t *slots = calloc(cap, sizeof(*slots));
    size_t i;

    if (slots == NULL) {
        return DD_AUDIT_CERTCACHE_NO_MEMORY;
    }
    for (i = 0; i < c->cap; i++) {
        if (c->slots[i].id != NULL) {
            *find(slots, cap, c->slots[i].id) = c->slots[i];
        }
    }
    free(c->slots);
    c->slots = slots;
    c->cap = cap;
    return DD_AUDIT_CERTCACHE_OK;
}

dd_audit_certcache_status_t dd_audit_certcache_open(dd_audit_certcache_t **out)
{
    dd_audit_certcache_t *c;

    if (out == NULL) {
        return DD_AUDIT_CERTCACHE_BAD_PARAMETER;
    }
    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return DD_AUDIT_CERTCACHE_NO_MEMORY;
    }
    c->cap = INITIAL_SLOTS;
    c->slots = calloc(c->cap, sizeof(*c->slots));
    if (c->slots == NULL) {
        free(c);
        return DD_AUDIT_CERTCACHE_NO_MEMORY;
    }
    *out = c;
    return DD_AUDIT_CERTCACHE_OK;
}

void dd_audit_certcache_close(dd_audit_certcache_t *cache)
{
    size_t i;

    if (cache == NULL) {
        return;
    }
    for (i = 0; i < cache->cap; i++) {
        free(cache->slots[i].id);
        X509_free(cache->slots[i].x);
    }
    free(cache->slots);
    free(cache);
}

dd_audit_certcache_status_t dd_audit_certcache_get(dd_audit_certcache_t *cache, const char *id,
                                                   const char *pem, X509 **out)
{
    slot_t *s;
    X509 *x = NULL;

    if (out != NULL) {
        *out = NULL;
    }
    if (cache == NULL || id == NULL || pem == NULL || out == NULL) {
        return DD_AUDIT_CERTCACHE_BAD_PARAMETER;
    }
    s = find(cache->slots, cache->cap, id);
    if (s->id == NULL) {
        if ((cache->count + 1) * 10 > cache->cap * 7) {
            if (grow(cache) != DD_AUDIT_CERTCACHE_OK) {
                return DD_AUDIT_CERTCACHE_NO_MEMORY;
            }
            s = find(cache->slots, cache->cap, id);
        }
        s->id = strdup(id);
        if (s->id == NULL) {
            return DD_AUDIT_CERTCACHE_NO_MEMORY;
        }
        cache->count++;
        if (dd_pki_cert_from_pem(pem, strlen(pem), &x) == DD_PKI_OK) {
            s->x = x;
        }
    }
    s->in_use = true;
    if (s->x == NULL) {
        return DD_AUDIT_CERTCACHE_INVALID;
    }
    if (X509_up_ref(s->x) != 1) {
        return DD_AUDIT_CERTCACHE_NO_MEMORY;
    }
    *out = s->x;
    return DD_AUDIT_CERTCACHE_OK;
}

size_t dd_audit_certcache_sweep(dd_audit_certcache_t *cache)
{
    slot_t *slots;
    size_t dropped = 0;
    size_t i;

    if (cache == NULL) {
        return 0;
    }
    /* Open addressing cannot just empty a slot (it would cut probe chains): rebuild. */
    slots = calloc(cache->cap, sizeof(*slots));
    if (slots == NULL) {
        return 0;
    }
    for (i = 0; i < cache->cap; i++) {
        slot_t *s = &cache->slots[i];
        if (s->id == NULL) {
            continue;
        }
        if (s->in_use) {
            s->in_use = false;
            *find(slots, cache->cap, s->id) = *s;
        } else {
            free(s->id);
            X509_free(s->x);
            dropped++;
        }
    }
    free(cache->slots);
    cache->slots = slots;
    cache->count -= dropped;
    return dropped;
}

size_t dd_audit_certcache_count(const dd_audit_certcache_t *cache)
{
    return cache != NULL ? cache->count : 0;
}

const char *dd_audit_certcache_strerror(dd_audit_certcache_status_t status)
{
    switch (status) {
    case DD_AUDIT_CERTCACHE_OK: return "ok";
    case DD_AUDIT_CERTCACHE_BAD_PARAMETER: return "bad parameter";
    case DD_AUDIT_CERTCACHE_NO_MEMORY: return "out of memory";
    case DD_AUDIT_CERTCACHE_INVALID: return "not a PEM certificate";
    }
    return "unknown status";
}
