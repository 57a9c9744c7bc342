/* Fuzz target: API key parsing (apikey_well_formed, apikey_scope). A key
 * that passes the checksum has exactly the documented shape, and every
 * generated key passes. */
#include "fuzz.h"

#include "apikey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	enum auth_scope sc = apikey_scope(s);
	FUZZ_CHECK(sc >= SCOPE_NONE && sc <= SCOPE_AFFILIATE);
	if (apikey_well_formed(s)) {
		FUZZ_CHECK(strlen(s) == APIKEY_LEN && !strncmp(s, "aft_", 4) && s[5] == '_');
		FUZZ_CHECK(sc != SCOPE_NONE);
		FUZZ_CHECK(strcmp(scope_name(sc), "none") != 0);
		FUZZ_CHECK(scope_from_name(scope_name(sc)) == sc);
	}
	scope_from_name(s);
	/* The generator's keys always pass (one per input keeps it cheap). */
	enum auth_scope want = (enum auth_scope)(size % 5);
	char key[APIKEY_LEN + 1];
	if (apikey_generate(want, key) == 0) {
		FUZZ_CHECK(apikey_well_formed(key) && apikey_scope(key) == want);
		/* One changed character breaks the checksum or the shape. */
		if (size > 0) {
			size_t at = data[0] % APIKEY_LEN;
			char was = key[at];
			key[at] = (char)(size > 1 ? data[1] : 'x');
			if (key[at] != was && key[at] != '\0')
				FUZZ_CHECK(!apikey_well_formed(key));
		}
	} else {
		FUZZ_CHECK(want == SCOPE_NONE);
	}
	free(s);
	return 0;
}
