/* Fuzz target: tracking tokens (sign_parse, sign_verify). Any text parses
 * without overreading and only a well-shaped token is called well-formed;
 * a token signed with sign_compute verifies, and fails with another key,
 * after its TTL, from the future, and with the previous key after the
 * rotation overlap. */
#include "fuzz.h"

#include "sign.h"

static const unsigned char k1[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const unsigned char k2[] = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

static bool codechar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '_';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct token t;
	struct sign_key cur = {k1, 64, 0}, other = {k2, 64, 0};
	if (sign_parse(s, &t)) {
		size_t cl = strlen(t.code);
		FUZZ_CHECK(cl >= 4 && cl <= SIGN_CODE_MAX && !strncmp(s, t.code, cl));
		FUZZ_CHECK(t.signed_link == (s[cl] != '\0'));
		if (t.well_formed) {
			size_t nl = strlen(t.nonce);
			FUZZ_CHECK(nl >= SIGN_NONCE_MIN && nl <= SIGN_NONCE_MAX);
			for (size_t i = 0; i < nl; i++)
				FUZZ_CHECK(codechar(t.nonce[i]));
			FUZZ_CHECK(strlen(t.sig) == SIGN_SIG_LEN && strspn(t.sig, "0123456789abcdef") == SIGN_SIG_LEN);
			FUZZ_CHECK(t.ts >= 0 && t.ts <= 99999999999LL);
			FUZZ_CHECK(strlen(s) <= SIGN_TOKEN_MAX);
		}
		/* A forged signature is refused (by chance it matches once in 2^128). */
		char want[SIGN_SIG_LEN + 1];
		sign_compute(k1, 64, t.code, t.ts, t.nonce, want);
		enum sign_result r = sign_verify(&t, &cur, NULL, 86400, t.ts);
		FUZZ_CHECK(r != SIGN_OK || (t.well_formed && !strcmp(want, t.sig)));

		/* Sign this code with a nonce and time from the input, and check. */
		if (!t.well_formed) {
			memcpy(t.nonce, "n0nceN0nce", 11);
			t.ts = 1700000000;
		}
		char tok[SIGN_TOKEN_MAX + 1];
		sign_compute(k1, 64, t.code, t.ts, t.nonce, want);
		snprintf(tok, sizeof tok, "%s.%lld.%s.%s", t.code, (long long)t.ts, t.nonce, want);
		struct token u;
		FUZZ_CHECK(sign_parse(tok, &u) && u.signed_link && u.well_formed);
		int64_t ttl = 3600;
		FUZZ_CHECK(sign_verify(&u, &cur, NULL, ttl, u.ts) == SIGN_OK);
		FUZZ_CHECK(sign_verify(&u, &cur, NULL, ttl, u.ts + ttl + SIGN_SKEW_S) == SIGN_OK);
		FUZZ_CHECK(sign_verify(&u, &cur, NULL, ttl, u.ts + ttl + SIGN_SKEW_S + 1) == SIGN_EXPIRED);
		FUZZ_CHECK(sign_verify(&u, &cur, NULL, ttl, u.ts - SIGN_SKEW_S - 1) == SIGN_BAD);
		FUZZ_CHECK(sign_verify(&u, &other, NULL, ttl, u.ts) == SIGN_BAD);
		/* Rotation: the old key (now prev) counts only until its deadline. */
		struct sign_key prev = {k1, 64, u.ts + 10};
		FUZZ_CHECK(sign_verify(&u, &other, &prev, ttl, u.ts + 9) == SIGN_OK);
		FUZZ_CHECK(sign_verify(&u, &other, &prev, ttl, u.ts + 10) == SIGN_BAD);
		/* One changed signature character is refused. */
		u.sig[size % SIGN_SIG_LEN] = u.sig[size % SIGN_SIG_LEN] == 'a' ? 'b' : 'a';
		FUZZ_CHECK(sign_verify(&u, &cur, NULL, ttl, u.ts) == SIGN_BAD);
	} else {
		FUZZ_CHECK(!sign_code_valid(s, strcspn(s, ".")));
	}
	free(s);
	return 0;
}
