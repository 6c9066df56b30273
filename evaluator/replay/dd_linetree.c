/*
 * A replay line in one yajl pass into arena-held cJSON nodes (dd_linetree.h). Whatever this
 * parser would have to judge the way dd_json_parse() does, it hands back as FALLBACK instead.
 */
#include "dd_linetree.h"

#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

/* Deeper lines go to dd_json_parse() (and its 1000-level limit); replay lines are 5 deep. */
#define DEPTH_MAX 64
/* dd_json_parse() checks objects up to 16 members pair by pair and sorts bigger ones; bigger
 * objects are left to it. */
#define PAIRWISE_MAX 16
/* cJSON copies at most 63 characters of a number before strtod(); a longer one it misreads, so
 * its verdict is dd_json_parse()'s to give. */
#define NUMBER_MAX 63
#define BLOCK_SIZE ((size_t)64 * 1024)
#define ALIGN 16

typedef struct block {
    struct block *next;
    size_t cap;
    size_t used;
    /* data follows, ALIGN-aligned */
} block_t;

#define BLOCK_HEAD ((sizeof(block_t) + ALIGN - 1) / ALIGN * ALIGN)

/* A key of an open object, for the duplicate check: its length and first bytes are compared
 * before its text (most keys of a replay line differ in one of them). */
typedef struct key_seen {
    const char *text;
    size_t len;
    uint64_t head; /* up to 8 first bytes, zero-padded */
} key_seen_t;

struct dd_linetree {
    block_t *first;
    block_t *cur;
    cJSON *root;
    cJSON *stack[DEPTH_MAX];
    bool object[DEPTH_MAX];    /* stack[i] is an object (else an array) */
    size_t members[DEPTH_MAX]; /* members of each open object so far */
    key_seen_t keys[DEPTH_MAX][PAIRWISE_MAX];
    size_t depth;
    char *key; /* the key of the next member of the innermost object */
    bool fallback;
    bool oom;
    bool escapes; /* the line has a backslash: a string may hold a \u0000 */
    char point;   /* the locale's decimal point, as cJSON uses it; 0 until a number needs it */
    yajl_alloc_funcs funcs;
};

/* ------------------------------------------------------------------ arena */

/* The slow path of arena_alloc(): the current block is full (or there is none). */
static void *arena_grow(dd_linetree_t *lt, size_t n)
{
    block_t *b = lt->cur;
    void *p;

    /* The blocks after cur are unused in this line: take the next if it is big enough. */
    if (b != NULL && b->next != NULL && b->next->cap >= n) {
        b = b->next;
    } else {
        size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        block_t *nb = malloc(BLOCK_HEAD + cap);
        if (nb == NULL) {
            lt->oom = true;
            return NULL;
        }
        nb->cap = cap;
        nb->next = b != NULL ? b->next : NULL;
        if (b != NULL) {
            b->next = nb;
        } else {
            lt->first = nb;
        }
        b = nb;
    }
    lt->cur = b;
    p = (char *)b + BLOCK_HEAD;
    b->used = n;
    return p;
}

/* Bump allocation; inline because a line takes some sixty of them. */
static inline void *arena_alloc(dd_linetree_t *lt, size_t n)
{
    block_t *b = lt->cur;
    void *p;

    n = (n + ALIGN - 1) / ALIGN * ALIGN;
    if (b == NULL || b->cap - b->used < n) {
        return arena_grow(lt, n);
    }
    p = (char *)b + BLOCK_HEAD + b->used;
    b->used += n;
    return p;
}

static void arena_reset(dd_linetree_t *lt)
{
    lt->cur = lt->first;
    if (lt->cur != NULL) {
        lt->cur->used = 0;
    }
}

/* yajl's own allocations (handle, lexer buffers, stacks) come from the arena too: realloc()
 * needs the old size, kept in front of the block; free() is a no-op until the next line. */
static void *y_malloc(void *ctx, size_t n)
{
    size_t *p = arena_alloc(ctx, n + ALIGN);

    if (p == NULL) {
        return NULL;
    }
    *p = n;
    return (char *)p + ALIGN;
}

static void *y_realloc(void *ctx, void *ptr, size_t n)
{
    size_t old;
    void *q;

    if (ptr == NULL) {
        return y_malloc(ctx, n);
    }
    old = *(size_t *)(void *)((char *)ptr - ALIGN);
    if (n <= old) {
        return ptr;
    }
    q = y_malloc(ctx, n);
    if (q != NULL) {
        memcpy(q, ptr, old);
    }
    return q;
}

static void y_free(void *ctx, void *ptr)
{
    (void)ctx;
    (void)ptr;
}

/* ------------------------------------------------------------------ tree */

static char *copy_text(dd_linetree_t *lt, const unsigned char *s, size_t len)
{
    char *c;

    /* yajl refuses a raw NUL in a string, so only an escape can make one. */
    if (lt->escapes && memchr(s, '\0', len) != NULL) {
        lt->fallback = true; /* \u0000: dd_json_parse() refuses it with its message */
        return NULL;
    }
    c = arena_alloc(lt, len + 1);
    if (c != NULL) {
        memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

/* A new node of @p type, attached where the parse is; NULL stops the parse. */
static cJSON *add(dd_linetree_t *lt, int type)
{
    cJSON *n = arena_alloc(lt, sizeof(cJSON));
    cJSON *parent;

    if (n == NULL) {
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->type = type;
    if (lt->depth == 0) {
        lt->root = n;
        return n;
    }
    parent = lt->stack[lt->depth - 1];
    if (lt->object[lt->depth - 1]) {
        n->string = lt->key;
        lt->key = NULL;
    }
    if (parent->child == NULL) {
        parent->child = n;
        n->prev = n; /* cJSON keeps the last element on the first one's prev */
    } else {
        cJSON *last = parent->child->prev;
        last->next = n;
        n->prev = last;
        parent->child->prev = n;
    }
    return n;
}

static int on_null(void *ctx)
{
    return add(ctx, cJSON_NULL) != NULL;
}

static int on_boolean(void *ctx, int b)
{
    cJSON *n = add(ctx, b ? cJSON_True : cJSON_False);

    if (n != NULL && b) {
        n->valueint = 1; /* as cJSON's parser sets it */
    }
    return n != NULL;
}

/* An integer of up to 15 digits is exact in a double, so strtod() would give just this (-0
 * included); replay lines are mostly such numbers. */
static bool small_integer(const char *s, size_t len, double *d)
{
    size_t i = s[0] == '-' ? 1 : 0;
    uint64_t v = 0;

    if (len - i > 15) {
        return false;
    }
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *d = s[0] == '-' ? -(double)v : (double)v;
    return true;
}

/* As cJSON's parse_number(): the text with the locale's decimal point through strtod(), and
 * valueint saturated. yajl has checked the RFC 8259 grammar. */
static int on_number(void *ctx, const char *s, size_t len)
{
    dd_linetree_t *lt = ctx;
    char text[NUMBER_MAX + 1];
    double d;
    size_t i;
    cJSON *n;

    if (len >= NUMBER_MAX) {
        lt->fallback = true;
        return 0;
    }
    if (!small_integer(s, len, &d)) {
        if (lt->point == 0) {
            lt->point = localeconv()->decimal_point[0];
        }
        for (i = 0; i < len; i++) {
            text[i] = s[i] == '.' ? lt->point : s[i];
        }
        text[len] = '\0';
        d = strtod(text, NULL);
    }
    if ((n = add(lt, cJSON_Number)) == NULL) {
        return 0;
    }
    n->valuedouble = d;
    if (d >= INT_MAX) {
        n->valueint = INT_MAX;
    } else if (d <= (double)INT_MIN) {
        n->valueint = INT_MIN;
    } else {
        n->valueint = (int)d;
    }
    return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    dd_linetree_t *lt = ctx;
    char *text = copy_text(lt, s, len);
    cJSON *n;

    if (text == NULL || (n = add(lt, cJSON_String)) == NULL) {
        return 0;
    }
    n->valuestring = text;
    return 1;
}

/* A key; one the object already has, or a big object, is left to dd_json_parse(). */
static int on_key(void *ctx, const unsigned char *s, size_t len)
{
    dd_linetree_t *lt = ctx;
    size_t *count = &lt->members[lt->depth - 1];
    key_seen_t *seen = lt->keys[lt->depth - 1];
    uint64_t head = 0;
    size_t i;

    if (*count == PAIRWISE_MAX) {
        lt->fallback = true;
        return 0;
    }
    if ((lt->key = copy_text(lt, s, len)) == NULL) {
        return 0;
    }
    memcpy(&head, s, len < sizeof(head) ? len : sizeof(head));
    for (i = 0; i < *count; i++) {
        if (seen[i].head == head && seen[i].len == len && memcmp(seen[i].text, lt->key, len) == 0) {
            lt->fallback = true;
            return 0;
        }
    }
    seen[i].text = lt->key;
    seen[i].len = len;
    seen[i].head = head;
    ++*count;
    return 1;
}

static int open_container(dd_linetree_t *lt, int type)
{
    cJSON *n;

    if (lt->depth == DEPTH_MAX) {
        lt->fallback = true;
        return 0;
    }
    if ((n = add(lt, type)) == NULL) {
        return 0;
    }
    lt->stack[lt->depth] = n;
    lt->object[lt->depth] = type == cJSON_Object;
    lt->members[lt->depth] = 0;
    lt->depth++;
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, cJSON_Object);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, cJSON_Array);
}

static int on_end(void *ctx)
{
    ((dd_linetree_t *)ctx)->depth--;
    return 1;
}

static const yajl_callbacks CALLBACKS = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

/* A \u escape of a UTF-16 surrogate (D800-DFFF): yajl and cJSON decode lone ones differently,
 * so any line with one is left to dd_json_parse(). An escaped backslash before "ud8.." makes
 * this say yes too, which only costs that line the slow path. */
static bool has_surrogate_escape(const char *text, size_t len)
{
    const char *p = text;
    const char *end = text + len;

    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (end - p >= 4 && p[1] == 'u' && (p[2] == 'd' || p[2] == 'D') &&
            strchr("89abcdefABCDEF", p[3]) != NULL && p[3] != '\0') {
            return true;
        }
        p++;
    }
    return false;
}

/* ------------------------------------------------------------------ API */

dd_linetree_status_t dd_linetree_create(dd_linetree_t **out)
{
    dd_linetree_t *lt;

    if (out == NULL) {
        return DD_LINETREE_BAD_PARAMETER;
    }
    *out = NULL;
    lt = calloc(1, sizeof(*lt));
    if (lt == NULL) {
        return DD_LINETREE_NO_MEMORY;
    }
    lt->funcs.malloc = y_malloc;
    lt->funcs.realloc = y_realloc;
    lt->funcs.free = y_free;
    lt->funcs.ctx = lt;
    *out = lt;
    return DD_LINETREE_OK;
}

void dd_linetree_destroy(dd_linetree_t *lt)
{
    block_t *b;
    block_t *next;

    if (lt == NULL) {
        return;
    }
    for (b = lt->first; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(lt);
}

dd_linetree_status_t dd_linetree_parse(dd_linetree_t *lt, const char *text, size_t len,
                                       const cJSON **root)
{
    yajl_handle h;
    yajl_status st;

    if (root != NULL) {
        *root = NULL;
    }
    if (lt == NULL || root == NULL || (text == NULL && len != 0)) {
        return DD_LINETREE_BAD_PARAMETER;
    }
    arena_reset(lt);
    lt->root = NULL;
    lt->depth = 0;
    lt->key = NULL;
    lt->fallback = false;
    lt->oom = false;
    lt->point = 0;
    lt->escapes = len > 0 && memchr(text, '\\', len) != NULL;
    /* A byte order mark (skipped by dd_json_parse()) or a surrogate escape: its call. */
    if (len == 0 || (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) ||
        (lt->escapes && has_surrogate_escape(text, len))) {
        return DD_LINETREE_FALLBACK;
    }
    h = yajl_alloc(&CALLBACKS, &lt->funcs, lt);
    if (h == NULL) {
        return DD_LINETREE_NO_MEMORY;
    }
    st = yajl_parse(h, (const unsigned char *)text, len);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }
    yajl_free(h);
    if (lt->oom) {
        return DD_LINETREE_NO_MEMORY;
    }
    if (st != yajl_status_ok || lt->root == NULL) {
        return DD_LINETREE_FALLBACK;
    }
    *root = lt->root;
    return DD_LINETREE_OK;
}

const char *dd_linetree_strerror(dd_linetree_status_t status)
{
    switch (status) {
    case DD_LINETREE_OK: return "ok";
    case DD_LINETREE_BAD_PARAMETER: return "bad parameter";
    case DD_LINETREE_NO_MEMORY: return "out of memory";
    case DD_LINETREE_FALLBACK: return "left to the strict parser";
    }
    return "unknown linetree status";
}
