/* Fuzz target: merging a batch's claims into a stored nonce set
 * (nonceset_merge). Input: the set's text (what link_nonce_sets holds, or
 * anything a hand edit left there), NUL, then the claims separated by
 * spaces. The union comes out sorted, each nonce once, holding exactly the
 * set's and the claims' nonces, and a claim is taken exactly when neither
 * the set nor the claim before it held it. */
#include "fuzz.h"

#include <stdbool.h>

#include "arena.h"
#include "buf.h"
#include "nonceset.h"

#define MAXN 256

/* The space-separated, non-empty tokens of s (n bytes), at most cap. */
static size_t tokens(const char *s, size_t n, struct nonce_ref *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < cap;) {
		size_t j = i;
		while (j < n && s[j] != ' ')
			j++;
		if (j > i)
			out[k++] = (struct nonce_ref){s + i, j - i};
		i = j + 1;
	}
	return k;
}

static bool among(const struct nonce_ref *x, const struct nonce_ref *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!nonceset_cmp(x, &v[i]))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *set = fuzz_take(&data, &size);
	char *claims_text = fuzz_cstr(data, size);
	static struct nonce_ref have[MAXN], claims[MAXN], got[2 * MAXN + 1];
	size_t nhave = tokens(set, strlen(set), have, MAXN);
	if (nhave == MAXN) { /* more than the reference keeps: not this input */
		free(set);
		free(claims_text);
		return 0;
	}
	size_t nc = tokens(claims_text, strlen(claims_text), claims, MAXN);
	for (size_t i = 1; i < nc; i++) /* the caller's order */
		for (size_t j = i; j > 0 && nonceset_cmp(&claims[j - 1], &claims[j]) > 0; j--) {
			struct nonce_ref x = claims[j];
			claims[j] = claims[j - 1];
			claims[j - 1] = x;
		}
	struct arena *a = arena_new(1024);
	FUZZ_CHECK(a != NULL);
	struct buf out;
	buf_init(&out, a);
	bool taken[MAXN];
	long took = nonceset_merge(a, set, strlen(set), claims, nc, taken, &out);
	FUZZ_CHECK(took >= 0);
	size_t ngot = tokens(out.p ? out.p : "", out.len, got, 2 * MAXN + 1);
	/* one space between nonces, none around them */
	FUZZ_CHECK(out.len == 0 || (out.p[0] != ' ' && out.p[out.len - 1] != ' ' && !strstr(out.p, "  ")));
	for (size_t i = 1; i < ngot; i++)
		FUZZ_CHECK(nonceset_cmp(&got[i - 1], &got[i]) < 0);
	for (size_t i = 0; i < ngot; i++)
		FUZZ_CHECK(among(&got[i], have, nhave) || among(&got[i], claims, nc));
	for (size_t i = 0; i < nhave; i++)
		FUZZ_CHECK(among(&have[i], got, ngot));
	long want = 0;
	for (size_t i = 0; i < nc; i++) {
		FUZZ_CHECK(among(&claims[i], got, ngot));
		bool held = among(&claims[i], have, nhave) || (i > 0 && !nonceset_cmp(&claims[i - 1], &claims[i]));
		FUZZ_CHECK(taken[i] == !held);
		want += !held;
	}
	FUZZ_CHECK(took == want);
	arena_free(a);
	free(set);
	free(claims_text);
	return 0;
}
