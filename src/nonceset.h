/* A signed link's claimed nonces, kept one set per link and signing second
 * (link_nonce_sets): a token is (code, ts, nonce), so a replay of it meets
 * the set of its own link and ts. The set is text: the nonces sorted byte
 * by byte, one space between them (a nonce is [A-Za-z0-9_-]). */
#ifndef AFFTOK_NONCESET_H
#define AFFTOK_NONCESET_H

#include <stdbool.h>
#include <stddef.h>

struct arena;
struct buf;

struct nonce_ref {
	const char *p;
	size_t n;
};

/* Byte order, a prefix first: the order of the set. */
int nonceset_cmp(const struct nonce_ref *x, const struct nonce_ref *y);

/* Adds claims (n of them, in nonceset_cmp order, repeats allowed) to the
 * set text `set` (len bytes): the union is appended to out as set text, and taken[i]
 * is true for each claim that was neither in the set nor the same as the
 * claim before it. A set not in order (edited by hand) is sorted first.
 * Returns how many were taken, or -1 when out of memory. */
long nonceset_merge(struct arena *a, const char *set, size_t len, const struct nonce_ref *claims, size_t n,
		    bool *taken, struct buf *out);

#endif
