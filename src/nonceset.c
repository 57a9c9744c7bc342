#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "nonceset.h"

int nonceset_cmp(const struct nonce_ref *x, const struct nonce_ref *y)
{
	int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

static int cmp_ref(const void *a, const void *b)
{
	return nonceset_cmp(a, b);
}

/* The set's nonces in order, without repeats; *count gets how many. */
static struct nonce_ref *parse_set(struct arena *a, const char *set, size_t len, size_t *count)
{
	size_t cap = 1;
	for (size_t i = 0; i < len; i++)
		cap += set[i] == ' ';
	struct nonce_ref *v = arena_alloc(a, cap * sizeof *v);
	if (v == NULL)
		return NULL;
	size_t k = 0;
	bool sorted = true;
	for (size_t i = 0; i < len;) {
		const char *sp = memchr(set + i, ' ', len - i);
		size_t end = sp ? (size_t)(sp - set) : len;
		if (end > i) {
			v[k] = (struct nonce_ref){set + i, end - i};
			if (k > 0 && nonceset_cmp(&v[k - 1], &v[k]) >= 0)
				sorted = false;
			k++;
		}
		i = end + 1;
	}
	if (!sorted) {
		qsort(v, k, sizeof *v, cmp_ref);
		size_t u = 0;
		for (size_t i = 0; i < k; i++)
			if (u == 0 || nonceset_cmp(&v[u - 1], &v[i]) != 0)
				v[u++] = v[i];
		k = u;
	}
	*count = k;
	return v;
}

static void put(struct buf *out, size_t start, const struct nonce_ref *r)
{
	if (out->len > start)
		buf_putc(out, ' ');
	buf_append(out, r->p, r->n);
}

long nonceset_merge(struct arena *a, const char *set, size_t len, const struct nonce_ref *claims, size_t n,
		    bool *taken, struct buf *out)
{
	size_t nh = 0, i = 0;
	struct nonce_ref *have = parse_set(a, set, len, &nh);
	if (have == NULL)
		return -1;
	long took = 0;
	size_t start = out->len;
	for (size_t j = 0; j < n; j++) {
		while (i < nh && nonceset_cmp(&have[i], &claims[j]) < 0)
			put(out, start, &have[i++]);
		bool held = (i < nh && nonceset_cmp(&have[i], &claims[j]) == 0) ||
			    (j > 0 && nonceset_cmp(&claims[j - 1], &claims[j]) == 0);
		taken[j] = !held;
		if (!held) {
			put(out, start, &claims[j]);
			took++;
		}
	}
	while (i < nh)
		put(out, start, &have[i++]);
	return buf_ok(out) ? took : -1;
}
