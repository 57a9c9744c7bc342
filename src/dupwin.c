/* The ingest's duplicate window (dupwin.h): the entries in one array, found
 * through an open-addressing table of their indexes keyed by fingerprint
 * (linear probing; a fingerprint's entries sit in one probe run). Eviction
 * compacts the array and rebuilds the table: it runs rarely (the ingest
 * evicts when the window has doubled), so no tombstones are needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dupwin.h"
#include "journal.h"

struct entry {
	unsigned char fp[16];
	int64_t ms;
	uint64_t id;
};

struct dupwin {
	struct entry *e;
	size_t n, cap;
	uint32_t *slot; /* entry index + 1; 0 = empty */
	size_t nslot;   /* a power of two, at least twice n */
	int64_t lo;     /* every stored click from lo on is here; INT64_MAX = none */
};

static size_t slot_of(const unsigned char fp[16], size_t nslot)
{
	uint64_t h;
	memcpy(&h, fp, sizeof h); /* fingerprints are hash output already */
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (size_t)h & (nslot - 1);
}

static void place(struct dupwin *w, size_t i)
{
	size_t s = slot_of(w->e[i].fp, w->nslot);
	while (w->slot[s])
		s = (s + 1) & (w->nslot - 1);
	w->slot[s] = (uint32_t)(i + 1);
}

static int rebuild(struct dupwin *w, size_t nslot)
{
	uint32_t *t = calloc(nslot, sizeof *t);
	if (t == NULL)
		return -1;
	free(w->slot);
	w->slot = t;
	w->nslot = nslot;
	for (size_t i = 0; i < w->n; i++)
		place(w, i);
	return 0;
}

struct dupwin *dupwin_new(void)
{
	struct dupwin *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	w->lo = INT64_MAX;
	if (rebuild(w, 1024) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void dupwin_free(struct dupwin *w)
{
	if (w == NULL)
		return;
	free(w->e);
	free(w->slot);
	free(w);
}

int dupwin_add(struct dupwin *w, const unsigned char fp[16], int64_t ms, uint64_t id_hash)
{
	if (w->n >= UINT32_MAX - 1)
		return -1;
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 4096;
		struct entry *ne = realloc(w->e, ncap * sizeof *ne);
		if (ne == NULL)
			return -1;
		w->e = ne;
		w->cap = ncap;
	}
	if ((w->n + 1) * 2 > w->nslot && rebuild(w, w->nslot * 2) != 0)
		return -1;
	struct entry *e = &w->e[w->n];
	memcpy(e->fp, fp, 16);
	e->ms = ms;
	e->id = id_hash;
	place(w, w->n++);
	return 0;
}

bool dupwin_seen(const struct dupwin *w, const unsigned char fp[16], int64_t ms, uint64_t id_hash)
{
	for (size_t s = slot_of(fp, w->nslot); w->slot[s]; s = (s + 1) & (w->nslot - 1)) {
		const struct entry *e = &w->e[w->slot[s] - 1];
		if (e->ms <= ms && e->ms >= ms - DUPWIN_SPAN_MS && e->id != id_hash && !memcmp(e->fp, fp, 16))
			return true;
	}
	return false;
}

bool dupwin_need(const struct dupwin *w, int64_t from, int64_t *to)
{
	*to = w->lo;
	return from < w->lo;
}

void dupwin_loaded(struct dupwin *w, int64_t from)
{
	if (from < w->lo)
		w->lo = from;
}

void dupwin_evict(struct dupwin *w, int64_t before_ms)
{
	size_t k = 0;
	for (size_t i = 0; i < w->n; i++)
		if (w->e[i].ms >= before_ms)
			w->e[k++] = w->e[i];
	w->n = k;
	size_t nslot = 1024;
	while (nslot < w->n * 2)
		nslot *= 2;
	if (rebuild(w, nslot) != 0) {
		/* Keep the old table size: it is at least as large. */
		memset(w->slot, 0, w->nslot * sizeof *w->slot);
		for (size_t i = 0; i < w->n; i++)
			place(w, i);
	}
	if (w->lo != INT64_MAX && w->lo < before_ms)
		w->lo = before_ms;
}

/* File: magic, lo, n, the n entries, then the CRC32C of all of it. */
static const char magic[8] = "AFTKWIN1";

int dupwin_save(const struct dupwin *w, const char *path)
{
	char tmp[4200];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	FILE *f = fopen(tmp, "wb");
	if (f == NULL)
		return -1;
	uint64_t n = w->n;
	uint32_t crc = crc32c(0, magic, sizeof magic);
	crc = crc32c(crc, &w->lo, sizeof w->lo);
	crc = crc32c(crc, &n, sizeof n);
	crc = crc32c(crc, w->e, w->n * sizeof *w->e);
	bool ok = fwrite(magic, sizeof magic, 1, f) == 1 && fwrite(&w->lo, sizeof w->lo, 1, f) == 1 &&
		  fwrite(&n, sizeof n, 1, f) == 1 && (w->n == 0 || fwrite(w->e, sizeof *w->e, w->n, f) == w->n) &&
		  fwrite(&crc, sizeof crc, 1, f) == 1;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

struct dupwin *dupwin_load(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct dupwin *w = dupwin_new();
	char m[8];
	int64_t lo;
	uint64_t n;
	uint32_t crc, want;
	bool ok = w && fread(m, sizeof m, 1, f) == 1 && !memcmp(m, magic, sizeof m) &&
		  fread(&lo, sizeof lo, 1, f) == 1 && fread(&n, sizeof n, 1, f) == 1 && n < UINT32_MAX / 2;
	if (ok) {
		w->e = malloc((n ? n : 1) * sizeof *w->e);
		w->cap = n ? n : 1;
		ok = w->e && (n == 0 || fread(w->e, sizeof *w->e, n, f) == n) && fread(&want, sizeof want, 1, f) == 1 &&
		     fgetc(f) == EOF;
	}
	fclose(f);
	if (ok) {
		crc = crc32c(0, magic, sizeof magic);
		crc = crc32c(crc, &lo, sizeof lo);
		crc = crc32c(crc, &n, sizeof n);
		crc = crc32c(crc, w->e, n * sizeof *w->e);
		ok = crc == want;
	}
	if (ok) {
		w->n = n;
		w->lo = lo;
		size_t nslot = 1024;
		while (nslot < w->n * 2)
			nslot *= 2;
		ok = rebuild(w, nslot) == 0;
	}
	if (!ok) {
		dupwin_free(w);
		return NULL;
	}
	return w;
}

size_t dupwin_count(const struct dupwin *w)
{
	return w->n;
}

uint64_t dupwin_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
