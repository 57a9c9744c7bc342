/* Shared main() for the CUnit programs: each test file defines
 * `static const struct unit_case cases[]` and calls UNIT_MAIN("name").
 * The closing line "RESULT <passed> <failed>" is summed by scripts/test. */
#ifndef AFFTOK_UNIT_H
#define AFFTOK_UNIT_H

#include <CUnit/Basic.h>
#include <stdio.h>

struct unit_case {
	const char *name;
	void (*fn)(void);
};

static inline int unit_run(const char *suite, const struct unit_case *cases)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	CU_pSuite s = CU_add_suite(suite, NULL, NULL);
	for (const struct unit_case *c = cases; c->name; c++)
		CU_add_test(s, c->name, c->fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned run = CU_get_number_of_tests_run(), failed = CU_get_number_of_tests_failed();
	printf("RESULT %u %u\n", run - failed, failed);
	CU_cleanup_registry();
	return failed ? 1 : 0;
}

#define UNIT_MAIN(suite) \
	int main(void) { return unit_run(suite, cases); }

#endif
