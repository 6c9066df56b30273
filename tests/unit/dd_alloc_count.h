/**
 * @file dd_alloc_count.h
 * @brief Counts heap allocations made by the code statically linked into a
 *        unit test (the test and ddlocal's own libraries, not shared
 *        libraries), for tests that assert a path allocates nothing.
 *
 * A test that includes this header is linked with
 * `-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup`
 * and dd_alloc_count.c (tests/unit/CMakeLists.txt does it for the tests
 * listed there). Counting calls, not bytes: a malloc/free pair per message
 * leaves the bytes unchanged but is still an allocation.
 */
#ifndef DD_ALLOC_COUNT_H_
#define DD_ALLOC_COUNT_H_

#include <stddef.h>

/** @return Allocation calls (malloc, calloc, realloc, strdup, strndup) so far. */
size_t dd_alloc_count(void);

#endif /* DD_ALLOC_COUNT_H_ */
