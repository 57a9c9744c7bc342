/* Nonce sets: the merge of a batch's claims into a stored set, against a
 * brute-force union on random sets with repeats and hand-edited text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "nonceset.h"
#include "unit.h"

static struct arena *A;

/* Insertion sort: a handful of claims. */
static void sort_refs(struct nonce_ref *c, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && nonceset_cmp(&c[j - 1], &c[j]) > 0; j--) {
			struct nonce_ref x = c[j];
			c[j] = c[j - 1];
			c[j - 1] = x;
		}
}

/* Merges the claims (a space-separated list, sorted here) into set and
 * returns the union; taken gets '1'/'0' per claim in sorted order. */
static const char *merge(const char *set, const char *claims, char *taken_out, long *took)
{
	struct nonce_ref c[64];
	size_t n = 0;
	char *copy = arena_strdup(A, claims);
	for (char *t = strtok(copy, " "); t; t = strtok(NULL, " "))
		c[n++] = (struct nonce_ref){t, strlen(t)};
	sort_refs(c, n);
	bool taken[64];
	struct buf out;
	buf_init(&out, A);
	*took = nonceset_merge(A, set, strlen(set), c, n, taken, &out);
	for (size_t i = 0; i < n; i++)
		taken_out[i] = taken[i] ? '1' : '0';
	taken_out[n] = '\0';
	return out.p ? out.p : "";
}

static void test_cases(void)
{
	A = arena_new(1 << 16);
	static const struct {
		const char *set, *claims, *want, *taken;
		long took;
	} t[] = {
		{"", "abcdefgh", "abcdefgh", "1", 1},
		{"", "b a c", "a b c", "111", 3},
		{"a c e", "b d f", "a b c d e f", "111", 3},
		{"a c e", "a e", "a c e", "00", 0},
		{"a c e", "c d", "a c d e", "01", 1},
		{"", "x x x", "x", "100", 1},                  /* one claim taken, its repeats not */
		{"x", "x x", "x", "00", 0},
		{"ab", "a abc", "a ab abc", "11", 2},           /* a prefix sorts first */
		{"e c a", "b c", "a b c e", "10", 1},           /* hand-edited: out of order */
		{"  a   b ", "b c", "a b c", "01", 1},          /* stray spaces */
		{"a a b", "a", "a b", "0", 0},                  /* repeats in the set */
		{"a-b_9 A-b", "0aa", "0aa A-b a-b_9", "1", 1}, /* byte order */
		{"abc", "", "abc", "", 0},
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		char taken[64];
		long took;
		const char *got = merge(t[i].set, t[i].claims, taken, &took);
		CU_ASSERT_STRING_EQUAL(got, t[i].want);
		CU_ASSERT_STRING_EQUAL(taken, t[i].taken);
		CU_ASSERT_EQUAL(took, t[i].took);
		if (strcmp(got, t[i].want) || strcmp(taken, t[i].taken))
			printf("\n  case %zu: got '%s' %s\n", i, got, taken);
	}
	arena_free(A);
}

/* Random sets and claims from a small alphabet (so they meet), merged,
 * against: taken = not in the set and not an earlier claim; union = the
 * sorted distinct nonces of both. */
static void test_brute_force(void)
{
	A = arena_new(1 << 16);
	srand(4242);
	char words[40][4];
	for (int i = 0; i < 40; i++)
		snprintf(words[i], sizeof words[i], "%c%c", "ab-_Z9"[rand() % 6], "xyz0"[rand() % 4]);
	for (int round = 0; round < 2000; round++) {
		bool in_set[40] = {false}, in_union[40];
		struct buf set;
		buf_init(&set, A);
		for (int i = 0; i < 40; i++) /* stored in order, as the ingest writes it */
			if (rand() % 3 == 0)
				in_set[i] = true;
		/* the words sorted by nonceset_cmp */
		int order[40];
		for (int i = 0; i < 40; i++)
			order[i] = i;
		for (int i = 1; i < 40; i++)
			for (int j = i; j > 0; j--) {
				struct nonce_ref x = {words[order[j - 1]], strlen(words[order[j - 1]])};
				struct nonce_ref y = {words[order[j]], strlen(words[order[j]])};
				if (nonceset_cmp(&x, &y) <= 0)
					break;
				int s = order[j];
				order[j] = order[j - 1];
				order[j - 1] = s;
			}
		bool put[40] = {false};
		for (int k = 0; k < 40; k++) {
			int i = order[k];
			bool dup = false; /* words may repeat: the set holds each once */
			for (int m = 0; m < k; m++)
				if (!strcmp(words[order[m]], words[i]) && put[order[m]])
					dup = true;
			if (in_set[i] && !dup) {
				if (set.len)
					buf_putc(&set, ' ');
				buf_puts(&set, words[i]);
				put[i] = true;
			}
		}
		struct nonce_ref c[20];
		int nc = rand() % 20;
		for (int k = 0; k < nc; k++) {
			int w = rand() % 40;
			c[k] = (struct nonce_ref){words[w], strlen(words[w])};
		}
		sort_refs(c, (size_t)nc);
		bool taken[20];
		struct buf out;
		buf_init(&out, A);
		long took = nonceset_merge(A, set.p ? set.p : "", set.len, c, (size_t)nc, taken, &out);
		/* brute force */
		long want_took = 0;
		bool ok = true;
		for (int k = 0; k < nc; k++) {
			bool held = false;
			for (int i = 0; i < 40; i++)
				if (put[i] && strlen(words[i]) == c[k].n && !memcmp(words[i], c[k].p, c[k].n))
					held = true;
			for (int m = 0; m < k; m++)
				if (!nonceset_cmp(&c[m], &c[k]))
					held = true;
			ok = ok && taken[k] == !held;
			want_took += !held;
		}
		struct buf want;
		buf_init(&want, A);
		bool out_done[40] = {false};
		for (int k = 0; k < 40; k++) {
			int i = order[k];
			in_union[i] = put[i];
			for (int m = 0; m < nc; m++)
				if (strlen(words[i]) == c[m].n && !memcmp(words[i], c[m].p, c[m].n))
					in_union[i] = true;
			bool dup = false;
			for (int m = 0; m < k; m++)
				if (!strcmp(words[order[m]], words[i]) && out_done[order[m]])
					dup = true;
			for (int m = 0; m < 40; m++) /* a repeat of a word in the set */
				if (put[m] && !strcmp(words[m], words[i]))
					in_union[i] = true;
			out_done[i] = in_union[i] && !dup;
			if (out_done[i]) {
				if (want.len)
					buf_putc(&want, ' ');
				buf_puts(&want, words[i]);
			}
		}
		ok = ok && took == want_took && !strcmp(out.p ? out.p : "", want.p ? want.p : "");
		CU_ASSERT_TRUE(ok);
		if (!ok) {
			printf("\n  round %d: set '%s' -> '%s', want '%s'\n", round, set.p ? set.p : "", out.p ? out.p : "",
			       want.p ? want.p : "");
			break;
		}
		arena_reset(A);
	}
	arena_free(A);
}

static void test_appends(void)
{
	A = arena_new(1 << 16);
	struct buf out;
	buf_init(&out, A);
	buf_puts(&out, "prefix:");
	struct nonce_ref c[] = {{"b", 1}};
	bool taken[1];
	CU_ASSERT_EQUAL(nonceset_merge(A, "a", 1, c, 1, taken, &out), 1);
	CU_ASSERT_STRING_EQUAL(out.p, "prefix:a b");
	arena_free(A);
}

static const struct unit_case cases[] = {
	{"table of sets and claims", test_cases},
	{"random sets and claims against brute force", test_brute_force},
	{"appends to what the buffer holds", test_appends},
	{NULL, NULL},
};

UNIT_MAIN("nonceset")
