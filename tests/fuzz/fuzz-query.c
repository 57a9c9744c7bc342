/* Fuzz target: query strings and form bodies (query_parse, url_decode).
 * Every parsed name and value must be a NUL-free string no longer than the
 * input, and a failure must leave the caller's list as it was. */
#include "fuzz.h"

#include "arena.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A small block size makes the parser cross block boundaries often. */
	struct arena *a = arena_new(256);
	FUZZ_CHECK(a != NULL);
	/* An exact-size heap copy without a NUL, as the adapter hands over bodies. */
	char *s = malloc(size ? size : 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, data, size);

	struct param seed[1] = {{"pre", "set"}};
	struct param *p = seed;
	size_t n = 1;
	if (query_parse(a, s, size, &p, &n) == 0) {
		size_t amps = 0;
		for (size_t i = 0; i < size; i++)
			amps += s[i] == '&';
		FUZZ_CHECK(n >= 1 && n <= 1 + amps + 1);
		FUZZ_CHECK(!strcmp(p[0].name, "pre") && !strcmp(p[0].value, "set"));
		for (size_t i = 1; i < n; i++) {
			FUZZ_CHECK(p[i].name != NULL && p[i].value != NULL);
			FUZZ_CHECK(strlen(p[i].name) + strlen(p[i].value) <= size);
		}
		struct req q = {.params = p, .nparams = n};
		FUZZ_CHECK(req_param(&q, "pre") != NULL);
	} else {
		FUZZ_CHECK(p == seed && n == 1);
	}

	for (int plus = 0; plus < 2; plus++) {
		char *d = url_decode(a, s, size, plus);
		if (d != NULL) {
			FUZZ_CHECK(strlen(d) <= size);
			/* Decoding shrinks by two bytes per escape, so the length tells how many. */
			size_t pct = 0;
			for (size_t i = 0; i < size; i++)
				pct += s[i] == '%';
			FUZZ_CHECK(strlen(d) == size - 2 * pct);
		}
	}
	free(s);
	arena_free(a);
	return 0;
}
