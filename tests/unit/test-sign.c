/* sign: HMAC-SHA256 against published vectors, token parsing, the
 * verification table, 10^5 random mutations of a valid token (none
 * accepted), and sign_link round trips. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "hmac.h"
#include "secret.h"
#include "sign.h"
#include "unit.h"

static const char *secret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char *old_secret = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
#define NOW 1764000000LL

static char *make(const char *key, const char *code, long long ts, const char *nonce, char *out)
{
	char sig[SIGN_SIG_LEN + 1];
	sign_compute((const unsigned char *)key, strlen(key), code, ts, nonce, sig);
	sprintf(out, "%s.%lld.%s.%s", code, ts, nonce, sig);
	return out;
}

static enum sign_result check(const char *token, long ttl, long long now, bool with_prev, long long prev_until)
{
	struct token t;
	if (!sign_parse(token, &t))
		return (enum sign_result)99;
	struct sign_key cur = {(const unsigned char *)secret, 64, 0};
	struct sign_key prev = {(const unsigned char *)old_secret, 64, prev_until};
	return sign_verify(&t, &cur, with_prev ? &prev : NULL, ttl, now);
}

static void t_known_vector(void)
{
	/* HMAC-SHA256(key, "abcd.1764000000.nonce123") computed independently
	 * with: printf %s abcd.1764000000.nonce123 | openssl dgst -sha256 -hmac <secret> */
	char sig[SIGN_SIG_LEN + 1];
	sign_compute((const unsigned char *)secret, 64, "abcd", NOW, "nonce123", sig);
	CU_ASSERT_EQUAL(strlen(sig), 32);
	CU_ASSERT_STRING_EQUAL(sig, "af0f7372f380ce213de0676ec8da70e6");
}

static void hex(const unsigned char *md, char *out)
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* RFC 4231 cases 1, 2 and 6 (a key longer than a block), a block-sized
 * and an empty key (computed with Python's hmac module), and SHA-256 of
 * "abc" (FIPS 180-2). The keys take turns over more rounds than hmac.c
 * keeps key states, so every answer is checked from a fresh state, a kept
 * one and one prepared again after it was dropped. */
static void t_hmac_vectors(void)
{
	unsigned char k1[20], k6[131], k64[64];
	memset(k1, 0x0b, sizeof k1);
	memset(k6, 0xaa, sizeof k6);
	memset(k64, 0xaa, sizeof k64);
	static const char *msg6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	const struct {
		const void *key;
		size_t klen;
		const char *msg, *want;
	} v[] = {
		{k1, sizeof k1, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"Jefe", 4, "what do ya want for nothing?",
		 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{k6, sizeof k6, msg6, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
		{k64, sizeof k64, "abc", "2f8cff867f2668ca93d3c5b03ba9f816746742eda349b3bc4bb35aa27816754c"},
		{"", 0, "abc", "fd7adb152c05ef80dccf50a1fa4c05d5a3ec6da95575fc312ae7c5d091836351"},
		{secret, 64, "abcd.1764000000.nonce123", NULL}, /* a sixth key, pushing the others out */
	};
	const int n = (int)(sizeof v / sizeof *v);
	unsigned char md[32];
	char got[65];
	hmac_release();
	for (int round = 0; round < 3 * n; round++) {
		int i = round % n;
		CU_ASSERT_TRUE_FATAL(hmac_sha256(v[i].key, v[i].klen, v[i].msg, strlen(v[i].msg), md));
		hex(md, got);
		/* the sixth: t_known_vector's signature is its first 16 bytes */
		const char *want = v[i].want ? v[i].want : "af0f7372f380ce213de0676ec8da70e6";
		CU_ASSERT_NSTRING_EQUAL(got, want, strlen(want));
	}
	CU_ASSERT_TRUE(sha256("abc", 3, md));
	hex(md, got);
	CU_ASSERT_STRING_EQUAL(got, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hmac_release();
}

static void t_parse(void)
{
	struct token t;
	CU_ASSERT_TRUE(sign_parse("abcd", &t));
	CU_ASSERT_FALSE(t.signed_link);
	CU_ASSERT_STRING_EQUAL(t.code, "abcd");
	CU_ASSERT_TRUE(sign_parse("A_b-1234567890123456789012345678", &t)); /* 32 chars */
	static const char *no_link[] = {"", "abc", "ab.cd", "a/bc", "abcd efg", "abc%20d",
					"A_b-12345678901234567890123456789", ".abcd", NULL};
	for (int i = 0; no_link[i]; i++)
		CU_ASSERT_FALSE(sign_parse(no_link[i], &t));
	char tok[256];
	CU_ASSERT_TRUE(sign_parse(make(secret, "abcd", NOW, "nonce123", tok), &t));
	CU_ASSERT_TRUE(t.signed_link && t.well_formed);
	CU_ASSERT_EQUAL(t.ts, NOW);
	CU_ASSERT_STRING_EQUAL(t.nonce, "nonce123");
	/* Signed but malformed: still a link (recorded as invalid_signature). */
	static const char *bad[] = {
		"abcd.", "abcd.1764000000", "abcd.1764000000.nonce123", "abcd.x.nonce123.0123456789abcdef0123456789abcdef",
		"abcd.01764000000.nonce123.0123456789abcdef0123456789abcdef",
		"abcd.1764000000.short.0123456789abcdef0123456789abcdef",
		"abcd.1764000000.nonce_that_is_far_too_long_0123456789.0123456789abcdef0123456789abcdef",
		"abcd.1764000000.non+ce12.0123456789abcdef0123456789abcdef",
		"abcd.1764000000.nonce123.0123456789ABCDEF0123456789abcdef",
		"abcd.1764000000.nonce123.0123456789abcdef0123456789abcde",
		"abcd.1764000000.nonce123.0123456789abcdef0123456789abcdef0",
		"abcd.1764000000.nonce123.0123456789abcdef0123456789abcdef.x", NULL};
	for (int i = 0; bad[i]; i++) {
		CU_ASSERT_TRUE(sign_parse(bad[i], &t));
		CU_ASSERT_TRUE(t.signed_link);
		CU_ASSERT_FALSE(t.well_formed);
	}
}

static void t_table(void)
{
	char tok[256];
	struct {
		const char *key;
		long long ts;
		long ttl;
		long long now;
		bool prev;
		long long prev_until;
		enum sign_result want;
	} cases[] = {
		{secret, NOW, 86400, NOW, false, 0, SIGN_OK},
		{secret, NOW, 86400, NOW + 86400, false, 0, SIGN_OK},
		{secret, NOW, 86400, NOW + 86400 + 300, false, 0, SIGN_OK},       /* skew */
		{secret, NOW, 86400, NOW + 86400 + 301, false, 0, SIGN_EXPIRED},
		{secret, NOW, 60, NOW + 361, false, 0, SIGN_EXPIRED},
		{secret, NOW + 300, 60, NOW, false, 0, SIGN_OK},                  /* signer clock ahead */
		{secret, NOW + 301, 60, NOW, false, 0, SIGN_BAD},                 /* from the future */
		{old_secret, NOW, 86400, NOW, false, 0, SIGN_BAD},                /* rotated away */
		{old_secret, NOW, 86400, NOW, true, NOW + 10, SIGN_OK},           /* during rotation */
		{old_secret, NOW, 86400, NOW + 10, true, NOW + 10, SIGN_BAD},     /* after the overlap */
		{secret, NOW, 86400, NOW, true, NOW - 10, SIGN_OK},               /* current key always */
		{"another key entirely", NOW, 86400, NOW, true, NOW + 10, SIGN_BAD},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		make(cases[i].key, "link1", cases[i].ts, "nonce-_AZaz09", tok);
		enum sign_result got = check(tok, cases[i].ttl, cases[i].now, cases[i].prev, cases[i].prev_until);
		if (got != cases[i].want)
			fprintf(stderr, "case %zu: got %d want %d\n", i, got, cases[i].want);
		CU_ASSERT_EQUAL(got, cases[i].want);
	}
	/* An expired token with a wrong MAC is invalid, not expired. */
	make(secret, "link1", NOW, "nonce123", tok);
	tok[strlen(tok) - 1] = tok[strlen(tok) - 1] == '0' ? '1' : '0';
	CU_ASSERT_EQUAL(check(tok, 60, NOW + 100000, false, 0), SIGN_BAD);
	/* Bare codes never pass sign_verify (they are not signed links). */
	CU_ASSERT_EQUAL(check("link1", 60, NOW, false, 0), SIGN_BAD);
}

static void t_mutations(void)
{
	char good[256], tok[512];
	make(secret, "Lk_9-code", NOW, "n0nce-ABC_xyz", good);
	CU_ASSERT_EQUAL(check(good, 86400, NOW, true, NOW + 100), SIGN_OK);
	static const char alphabet[] = "0123456789abcdefABCDEFxyzXYZ_-.+/%";
	srand(12345);
	long accepted = 0, tried = 0;
	size_t glen = strlen(good);
	/* 10^5 tokens that differ from the valid one (edits that cancel out
	 * are not counted). */
	while (tried < 100000) {
		strcpy(tok, good);
		size_t len = glen;
		int edits = 1 + rand() % 3;
		for (int e = 0; e < edits; e++) {
			size_t pos = len ? (size_t)rand() % len : 0;
			switch (rand() % 5) {
			case 0: /* replace */
				if (len)
					tok[pos] = alphabet[rand() % (sizeof alphabet - 1)];
				break;
			case 1: /* delete */
				if (len) {
					memmove(tok + pos, tok + pos + 1, len - pos);
					len--;
				}
				break;
			case 2: /* insert */
				if (len < 400) {
					memmove(tok + pos + 1, tok + pos, len - pos + 1);
					tok[pos] = alphabet[rand() % (sizeof alphabet - 1)];
					len++;
				}
				break;
			case 3: /* swap neighbours */
				if (pos + 1 < len) {
					char c = tok[pos];
					tok[pos] = tok[pos + 1];
					tok[pos + 1] = c;
				}
				break;
			default: /* flip one bit */
				if (len)
					tok[pos] = (char)(tok[pos] ^ (1 << (rand() % 7)));
				if (tok[pos] == '\0')
					tok[pos] = 'x';
			}
		}
		if (!strcmp(tok, good))
			continue; /* the edits cancelled out */
		tried++;
		if (check(tok, 86400, NOW, true, NOW + 100) == SIGN_OK)
			accepted++;
	}
	CU_ASSERT_EQUAL(tried, 100000);
	CU_ASSERT_EQUAL(accepted, 0);
}

static void t_sign_link(void)
{
	struct app app;
	memset(&app, 0, sizeof app);
	unsigned char raw[32] = {9, 8, 7};
	master_key_from(&app.mk, raw);
	struct arena *a = arena_new(4096);
	char *enc = secret_encrypt(&app.mk, a, (const unsigned char *)secret, 64);
	CU_ASSERT_PTR_NOT_NULL_FATAL(enc);
	char *tok = sign_link(&app, a, enc, "link1", 86400, 0, NOW);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tok);
	CU_ASSERT_EQUAL(check(tok, 86400, NOW, false, 0), SIGN_OK);
	CU_ASSERT_EQUAL(check(tok, 86400, NOW + 86400 + 301, false, 0), SIGN_EXPIRED);
	/* A shorter ttl: expires after 600 s (+ skew) under the offer's TTL. */
	tok = sign_link(&app, a, enc, "link1", 86400, 600, NOW);
	CU_ASSERT_EQUAL(check(tok, 86400, NOW + 600 + 300, false, 0), SIGN_OK);
	CU_ASSERT_EQUAL(check(tok, 86400, NOW + 600 + 301, false, 0), SIGN_EXPIRED);
	/* Two tokens differ in their nonce. */
	char *other = sign_link(&app, a, enc, "link1", 86400, 0, NOW);
	CU_ASSERT_STRING_NOT_EQUAL(tok, other);
	CU_ASSERT_PTR_NULL(sign_link(&app, a, "v1:garbage", "link1", 86400, 0, NOW));
	CU_ASSERT_PTR_NULL(sign_link(&app, a, enc, "bad code", 86400, 0, NOW));
	arena_free(a);
}

static const struct unit_case cases[] = {
	{"known HMAC vector", t_known_vector},
	{"HMAC-SHA256 vectors, keys in turn", t_hmac_vectors},
	{"parse", t_parse},
	{"verification table", t_table},
	{"10^5 mutations, none accepted", t_mutations},
	{"sign_link round trip", t_sign_link},
	{NULL, NULL},
};

UNIT_MAIN("sign")
