/* Grouping clicks into stats_click_pre rows: an open-addressing table of
 * keys, each with its counts. */
#include "clicksum.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "click.h"

struct row {
	struct clicksum_key k;
	uint64_t hash;
	long clicks, unique, invalid;
};

struct clicksum {
	struct row *rows;   /* in the order first seen */
	size_t nrows, rcap;
	uint32_t *slot;     /* index + 1 into rows; 0 = empty */
	size_t nslot;       /* a power of two, at least twice nrows */
};

struct clicksum *clicksum_new(void)
{
	struct clicksum *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->nslot = 1024;
	s->slot = calloc(s->nslot, sizeof *s->slot);
	if (s->slot == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void clicksum_free(struct clicksum *s)
{
	if (s == NULL)
		return;
	free(s->rows);
	free(s->slot);
	free(s);
}

size_t clicksum_rows(const struct clicksum *s)
{
	return s->nrows;
}

static uint64_t key_hash(const struct clicksum_key *k)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a, with a separator per value */
	for (int i = 0; i < CLICKSUM_KEYS; i++) {
		for (size_t j = 0; j < k->n[i]; j++)
			h = (h ^ (unsigned char)k->v[i][j]) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL;
	}
	return h;
}

static bool key_eq(const struct clicksum_key *x, const struct clicksum_key *y)
{
	for (int i = 0; i < CLICKSUM_KEYS; i++)
		if (x->n[i] != y->n[i] || memcmp(x->v[i], y->v[i], x->n[i]) != 0)
			return false;
	return true;
}

static int grow(struct clicksum *s)
{
	size_t n = s->nslot * 2;
	uint32_t *slot = calloc(n, sizeof *slot);
	if (slot == NULL)
		return -1;
	for (size_t r = 0; r < s->nrows; r++) {
		size_t i = s->rows[r].hash & (n - 1);
		while (slot[i])
			i = (i + 1) & (n - 1);
		slot[i] = (uint32_t)(r + 1);
	}
	free(s->slot);
	s->slot = slot;
	s->nslot = n;
	return 0;
}

int clicksum_add(struct clicksum *s, const struct clicksum_key *key, bool unique, bool billable)
{
	struct clicksum_key k = *key;
	while (k.n[CLICKSUM_COUNTRY] > 0 && k.v[CLICKSUM_COUNTRY][k.n[CLICKSUM_COUNTRY] - 1] == ' ')
		k.n[CLICKSUM_COUNTRY]--;
	uint64_t h = key_hash(&k);
	size_t i = h & (s->nslot - 1);
	for (; s->slot[i]; i = (i + 1) & (s->nslot - 1)) {
		struct row *r = &s->rows[s->slot[i] - 1];
		if (r->hash == h && key_eq(&r->k, &k)) {
			r->clicks++;
			r->unique += unique;
			r->invalid += !billable;
			return 0;
		}
	}
	if (s->nrows == s->rcap) {
		size_t cap = s->rcap ? s->rcap * 2 : 256;
		if (cap >= UINT32_MAX)
			return -1;
		struct row *rows = realloc(s->rows, cap * sizeof *rows);
		if (rows == NULL)
			return -1;
		s->rows = rows;
		s->rcap = cap;
	}
	s->rows[s->nrows] = (struct row){k, h, 1, unique, !billable};
	s->slot[i] = (uint32_t)++s->nrows;
	return s->nrows * 2 > s->nslot ? grow(s) : 0;
}

void clicksum_copy(const struct clicksum *s, struct buf *out)
{
	for (size_t r = 0; r < s->nrows; r++) {
		const struct row *w = &s->rows[r];
		for (int i = 0; i < CLICKSUM_KEYS; i++) {
			buf_append(out, w->k.v[i], w->k.n[i]);
			buf_putc(out, '\t');
		}
		buf_printf(out, "%ld\t%ld\t%ld\n", w->clicks, w->unique, w->invalid);
	}
}

bool clicksum_bucket(const char *t, size_t n, char *out)
{
	if (!click_time_form(t, n))
		return false;
	int minute = (t[14] - '0') * 10 + (t[15] - '0');
	if (minute > 59)
		return false;
	memcpy(out, t, 14); /* "YYYY-MM-DD HH:" */
	minute -= minute % 15;
	out[14] = (char)('0' + minute / 10);
	out[15] = (char)('0' + minute % 10);
	memcpy(out + 16, ":00+00", 7);
	return true;
}
