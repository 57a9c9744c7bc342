/* Network and ASN sets. Every address is kept as 128 bits (IPv4 mapped to
 * ::ffff:0:0/96) so one sorted, merged range list serves both families. */
#include "netset.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128; /* a number, not a struct: the style's typedef rule is about structs */

struct range {
	u128 lo, hi;
};

struct netset {
	struct range *r;
	size_t n, cap;
	uint32_t *asn;
	size_t nasn, capasn;
};

struct netset *netset_new(void)
{
	return calloc(1, sizeof(struct netset));
}

void netset_free(struct netset *s)
{
	if (s == NULL)
		return;
	free(s->r);
	free(s->asn);
	free(s);
}

static u128 from_bytes(const unsigned char *b)
{
	u128 v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 8 | b[i];
	return v;
}

/* Parses a numeric address into 128 bits; *bits is 32 or 128. */
static bool parse_addr(const char *s, u128 *out, int *bits)
{
	unsigned char b[16] = {0};
	struct in_addr a4;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		b[10] = b[11] = 0xff;
		memcpy(b + 12, &a4, 4);
		*bits = 32;
	} else if (inet_pton(AF_INET6, s, b) == 1) {
		*bits = 128;
	} else {
		return false;
	}
	*out = from_bytes(b);
	return true;
}

int netset_add(struct netset *s, const char *entry)
{
	char buf[128];
	size_t len = strlen(entry);
	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, entry, len + 1);
	if ((buf[0] == 'A' || buf[0] == 'a') && (buf[1] == 'S' || buf[1] == 's')) {
		char *end;
		unsigned long v = strtoul(buf + 2, &end, 10);
		if (end == buf + 2 || *end || v == 0 || v > UINT32_MAX)
			return -1;
		if (s->nasn == s->capasn) {
			size_t nc = s->capasn ? 2 * s->capasn : 64;
			uint32_t *p = realloc(s->asn, nc * sizeof *p);
			if (p == NULL)
				return -1;
			s->asn = p;
			s->capasn = nc;
		}
		s->asn[s->nasn++] = (uint32_t)v;
		return 0;
	}
	char *slash = strchr(buf, '/');
	long prefix = -1;
	if (slash) {
		*slash = '\0';
		char *end;
		prefix = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end)
			return -1;
	}
	u128 a;
	int bits;
	if (!parse_addr(buf, &a, &bits))
		return -1;
	if (prefix < 0)
		prefix = bits;
	if (prefix > bits)
		return -1;
	int host = bits - (int)prefix; /* host bits within the 128 */
	u128 mask = host >= 128 ? ~(u128)0 : (((u128)1 << host) - 1);
	if (s->n == s->cap) {
		size_t nc = s->cap ? 2 * s->cap : 256;
		struct range *p = realloc(s->r, nc * sizeof *p);
		if (p == NULL)
			return -1;
		s->r = p;
		s->cap = nc;
	}
	s->r[s->n++] = (struct range){a & ~mask, a | mask};
	return 0;
}

int netset_load(struct netset *s, const char *path, size_t *bad)
{
	*bad = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		char *p = line;
		char *hash = strchr(p, '#');
		if (hash)
			*hash = '\0';
		while (isspace((unsigned char)*p))
			p++;
		char *e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*p && netset_add(s, p) != 0)
			(*bad)++;
	}
	fclose(f);
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void netset_finish(struct netset *s)
{
	if (s->n) {
		qsort(s->r, s->n, sizeof *s->r, cmp_range);
		size_t w = 0;
		for (size_t i = 1; i < s->n; i++) {
			if (s->r[i].lo <= s->r[w].hi || s->r[i].lo == s->r[w].hi + 1) {
				if (s->r[i].hi > s->r[w].hi)
					s->r[w].hi = s->r[i].hi;
			} else {
				s->r[++w] = s->r[i];
			}
		}
		s->n = w + 1;
	}
	if (s->nasn)
		qsort(s->asn, s->nasn, sizeof *s->asn, cmp_u32);
}

bool netset_has_ip(const struct netset *s, const char *ip)
{
	u128 a;
	int bits;
	if (s == NULL || s->n == 0 || ip == NULL || !parse_addr(ip, &a, &bits))
		return false;
	size_t lo = 0, hi = s->n; /* first range with lo > a */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->r[mid].lo <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && s->r[lo - 1].hi >= a;
}

bool netset_has_asn(const struct netset *s, uint32_t asn)
{
	return s && asn && s->nasn && bsearch(&asn, s->asn, s->nasn, sizeof asn, cmp_u32) != NULL;
}

size_t netset_size(const struct netset *s)
{
	return s ? s->n + s->nasn : 0;
}
