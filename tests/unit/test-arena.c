/* Arena: allocation, alignment, growth, deferred cleanups in reverse order. */
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "unit.h"

static int order[8], norder;
static void rec(void *p) { order[norder++] = *(int *)p; }

static void t_alloc_and_align(void)
{
	struct arena *a = arena_new(64);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	for (int i = 1; i < 200; i++) {
		char *p = arena_alloc(a, (size_t)i);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		CU_ASSERT_EQUAL((uintptr_t)p % _Alignof(max_align_t), 0);
		CU_ASSERT_EQUAL(p[i - 1], 0);
		memset(p, 'x', (size_t)i);
	}
	char *big = arena_alloc(a, 100000);
	CU_ASSERT_PTR_NOT_NULL(big);
	arena_reset(a);
	CU_ASSERT_EQUAL(arena_used(a), 0);
	arena_free(a);
}

static void t_strings(void)
{
	struct arena *a = arena_new(0);
	CU_ASSERT_STRING_EQUAL(arena_strdup(a, "abc"), "abc");
	CU_ASSERT_STRING_EQUAL(arena_strndup(a, "abcdef", 2), "ab");
	CU_ASSERT_STRING_EQUAL(arena_sprintf(a, "%d-%s", 42, "x"), "42-x");
	CU_ASSERT_PTR_NULL(arena_strdup(a, NULL));
	arena_free(a);
}

static void t_defer_order(void)
{
	static int v[3] = {1, 2, 3};
	struct arena *a = arena_new(0);
	norder = 0;
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(arena_defer(a, rec, &v[i]), 0);
	CU_ASSERT_EQUAL(norder, 0);
	arena_reset(a);
	CU_ASSERT_EQUAL(norder, 3);
	CU_ASSERT_EQUAL(order[0], 3);
	CU_ASSERT_EQUAL(order[2], 1);
	arena_reset(a); /* nothing runs twice */
	CU_ASSERT_EQUAL(norder, 3);
	arena_free(a);
	arena_free(NULL);
}

static const struct unit_case cases[] = {
	{"alloc and align", t_alloc_and_align},
	{"strings", t_strings},
	{"deferred cleanups", t_defer_order},
	{NULL, NULL},
};
UNIT_MAIN("arena")
