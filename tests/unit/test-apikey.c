/* apikey: format, checksum, scope letter, hashing. */
#include <string.h>

#include "apikey.h"
#include "unit.h"

static void t_generate(void)
{
	char k[APIKEY_LEN + 1], k2[APIKEY_LEN + 1];
	for (int s = SCOPE_OPERATOR; s <= SCOPE_AFFILIATE; s++) {
		CU_ASSERT_EQUAL_FATAL(apikey_generate((enum auth_scope)s, k), 0);
		CU_ASSERT_EQUAL(strlen(k), APIKEY_LEN);
		CU_ASSERT_EQUAL(strncmp(k, "aft_", 4), 0);
		CU_ASSERT_TRUE(apikey_well_formed(k));
		CU_ASSERT_EQUAL(apikey_scope(k), s);
	}
	apikey_generate(SCOPE_ADMIN, k2);
	CU_ASSERT_NOT_EQUAL(strcmp(k, k2), 0);
	CU_ASSERT_EQUAL(apikey_generate(SCOPE_NONE, k), -1);
}

/* Every single-character typo is caught by the checksum. */
static void t_typos(void)
{
	char k[APIKEY_LEN + 1];
	apikey_generate(SCOPE_ADVERTISER, k);
	int caught = 0, total = 0;
	for (int i = 6; i < APIKEY_LEN; i++) {
		char orig = k[i];
		k[i] = orig == 'A' ? 'B' : 'A';
		caught += !apikey_well_formed(k);
		total++;
		k[i] = orig;
	}
	CU_ASSERT_EQUAL(caught, total);
	CU_ASSERT_FALSE(apikey_well_formed(""));
	CU_ASSERT_FALSE(apikey_well_formed(NULL));
	CU_ASSERT_FALSE(apikey_well_formed("aft_x_000000000000000000000000000000000000"));
	k[10] = '!';
	CU_ASSERT_FALSE(apikey_well_formed(k));
}

static void t_hash(void)
{
	unsigned char p1[32] = {1}, p2[32] = {2};
	char h1[65], h2[65], h3[65];
	apikey_hash(p1, "aft_a_x", h1);
	apikey_hash(p1, "aft_a_x", h2);
	apikey_hash(p2, "aft_a_x", h3);
	CU_ASSERT_STRING_EQUAL(h1, h2);
	CU_ASSERT_NOT_EQUAL(strcmp(h1, h3), 0);
	CU_ASSERT_EQUAL(strlen(h1), 64);
	CU_ASSERT_EQUAL(scope_from_name("affiliate"), SCOPE_AFFILIATE);
	CU_ASSERT_EQUAL(scope_from_name("root"), SCOPE_NONE);
}

static const struct unit_case cases[] = {
	{"generate", t_generate},
	{"checksum catches typos", t_typos},
	{"hash", t_hash},
	{NULL, NULL},
};
UNIT_MAIN("apikey")
