/* Fuzz target: click ids (clickid_parse). Arbitrary text is refused unless
 * its MAC verifies; a generated id round-trips its time; one changed
 * character is refused. */
#include "fuzz.h"

#include "clickid.h"

static const unsigned char key[32] = "fuzzing key, not a secret......";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	int64_t ms = -1;
	if (clickid_parse(key, s, &ms)) {
		FUZZ_CHECK(strlen(s) == CLICKID_LEN && ms >= 0);
		FUZZ_CHECK(strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == CLICKID_LEN);
	}
	/* The first 8 bytes choose a time below 62^8 ms (the id's range). */
	uint64_t t = 0;
	for (size_t i = 0; i < 8 && i < size; i++)
		t = t << 8 | data[i];
	t %= 218340105584896ULL;
	char id[CLICKID_LEN + 1];
	clickid_new(key, (int64_t)t, id);
	FUZZ_CHECK(strlen(id) == CLICKID_LEN);
	int64_t back = -1;
	FUZZ_CHECK(clickid_parse(key, id, &back) && back == (int64_t)t);
	if (size > 9) {
		size_t at = data[8] % CLICKID_LEN;
		char c = (char)data[9];
		if (c != id[at] && c != '\0') {
			id[at] = c;
			FUZZ_CHECK(!clickid_parse(key, id, &back));
		}
	}
	free(s);
	return 0;
}
