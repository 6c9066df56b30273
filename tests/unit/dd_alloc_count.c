#include "dd_alloc_count.h"

#include <stdlib.h>
#include <string.h>

/* The linker's --wrap sends our callers here and names the originals __real_*. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static size_t g_calls;

size_t dd_alloc_count(void)
{
    return g_calls;
}

void *__wrap_malloc(size_t size)
{
    g_calls++;
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    g_calls++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    g_calls++;
    return __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
    g_calls++;
    return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    g_calls++;
    return __real_strndup(s, n);
}
