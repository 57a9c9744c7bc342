/* The ingest's duplicate window (dupwin.h).
 *
 * The rule asks: is there a click of this fingerprint, other than this one,
 * in [ms - 60 s, ms]? Cut time into minutes (buckets of DUPWIN_SPAN_MS).
 * For a click in minute b that interval is the start of minute b up to ms,
 * plus the end of minute b - 1 from ms - 60 s on; no other minute reaches
 * it. So per (fingerprint, minute) it is enough to keep the earliest click
 * and the earliest with another id (is one of them at or before ms?), and
 * the latest and the latest with another id (is one of them at or after
 * ms - 60 s?): four clicks, whatever the number added. Keeping only one
 * click per side would lose the answer when that click is the one asked
 * about (a segment replayed over stored clicks).
 *
 * Entries sit in one array, found through an open-addressing table of
 * their indexes keyed by (fingerprint, minute), linear probing. Eviction
 * compacts the array and rebuilds the table: it runs rarely (the ingest
 * evicts when the window has doubled), so no tombstones are needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dupwin.h"
#include "journal.h"

enum { MIN1, MIN2, MAX1, MAX2 };
#define NONE UINT16_MAX /* an empty side; offsets are below DUPWIN_SPAN_MS */

struct entry {
	uint64_t id[4];     /* MIN1, MIN2, MAX1, MAX2: the clicks' id hashes */
	unsigned char fp[16];
	int32_t minute;     /* ms / DUPWIN_SPAN_MS */
	uint32_t clicks;    /* added to this entry */
	uint16_t off[4];    /* their ms - minute * DUPWIN_SPAN_MS, or NONE */
};

struct dupwin {
	struct entry *e;
	size_t n, cap;
	uint32_t *slot; /* entry index + 1; 0 = empty */
	size_t nslot;   /* a power of two, at least twice n */
	size_t clicks;
	int64_t lo;     /* every stored click from lo on is here; INT64_MAX = none */
};

/* Times the window can hold: minutes in an int32 (beyond year 6000). */
static bool in_range(int64_t ms)
{
	return ms >= 0 && ms / DUPWIN_SPAN_MS < INT32_MAX;
}

static size_t slot_of(const unsigned char fp[16], int32_t minute, size_t nslot)
{
	uint64_t h;
	memcpy(&h, fp, sizeof h); /* fingerprints are hash output already */
	h ^= (uint64_t)(uint32_t)minute * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return (size_t)h & (nslot - 1);
}

static void place(struct dupwin *w, size_t i)
{
	size_t s = slot_of(w->e[i].fp, w->e[i].minute, w->nslot);
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

/* The table for n entries: a power of two, at least 1024 and twice n. */
static size_t table_size(size_t n)
{
	size_t nslot = 1024;
	while (nslot < n * 2)
		nslot *= 2;
	return nslot;
}

static struct entry *find(const struct dupwin *w, const unsigned char fp[16], int32_t minute)
{
	for (size_t s = slot_of(fp, minute, w->nslot); w->slot[s]; s = (s + 1) & (w->nslot - 1)) {
		struct entry *e = &w->e[w->slot[s] - 1];
		if (e->minute == minute && !memcmp(e->fp, fp, 16))
			return e;
	}
	return NULL;
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

static struct entry *new_entry(struct dupwin *w, const unsigned char fp[16], int32_t minute)
{
	if (w->n >= UINT32_MAX - 1)
		return NULL;
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 4096;
		struct entry *ne = realloc(w->e, ncap * sizeof *ne);
		if (ne == NULL)
			return NULL;
		w->e = ne;
		w->cap = ncap;
	}
	if ((w->n + 1) * 2 > w->nslot && rebuild(w, w->nslot * 2) != 0)
		return NULL;
	struct entry *e = &w->e[w->n];
	memset(e, 0, sizeof *e);
	memcpy(e->fp, fp, 16);
	e->minute = minute;
	for (int k = 0; k < 4; k++)
		e->off[k] = NONE;
	place(w, w->n++);
	return e;
}

static bool beats(bool latest, uint16_t a, uint16_t b)
{
	return latest ? a > b : a < b;
}

/* One side, the earliest clicks or (latest) the latest: `first` and the
 * best with another id than first's. */
static void keep(struct entry *e, int first, uint16_t off, uint64_t id, bool latest)
{
	int second = first + 1;
	if (e->off[first] == NONE || beats(latest, off, e->off[first])) {
		if (e->off[first] != NONE && e->id[first] != id) {
			e->off[second] = e->off[first];
			e->id[second] = e->id[first];
		}
		e->off[first] = off;
		e->id[first] = id;
	} else if (e->id[first] != id && (e->off[second] == NONE || beats(latest, off, e->off[second]))) {
		e->off[second] = off;
		e->id[second] = id;
	}
}

int dupwin_add(struct dupwin *w, const unsigned char fp[16], int64_t ms, uint64_t id_hash)
{
	if (!in_range(ms))
		return 0; /* no click of the rule's times: nothing to compare with */
	int32_t minute = (int32_t)(ms / DUPWIN_SPAN_MS);
	struct entry *e = find(w, fp, minute);
	if (e == NULL && (e = new_entry(w, fp, minute)) == NULL)
		return -1;
	uint16_t off = (uint16_t)(ms - (int64_t)minute * DUPWIN_SPAN_MS);
	keep(e, MIN1, off, id_hash, false);
	keep(e, MAX1, off, id_hash, true);
	e->clicks++;
	w->clicks++;
	return 0;
}

/* The side's best click with an id other than `id`; NONE if there is none. */
static uint16_t other(const struct entry *e, int first, uint64_t id)
{
	return e->id[first] != id ? e->off[first] : e->off[first + 1];
}

bool dupwin_seen(const struct dupwin *w, const unsigned char fp[16], int64_t ms, uint64_t id_hash)
{
	if (!in_range(ms))
		return false;
	int32_t minute = (int32_t)(ms / DUPWIN_SPAN_MS);
	int64_t off = ms - (int64_t)minute * DUPWIN_SPAN_MS;
	const struct entry *e = find(w, fp, minute);
	uint16_t o;
	if (e && (o = other(e, MIN1, id_hash)) != NONE && o <= off)
		return true;
	/* The previous minute: its clicks are all before ms; the latest other
	 * one counts when it is within the span, i.e. at or after off. */
	e = minute > 0 ? find(w, fp, minute - 1) : NULL;
	return e && (o = other(e, MAX1, id_hash)) != NONE && o >= off;
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
	w->clicks = 0;
	for (size_t i = 0; i < w->n; i++)
		if (((int64_t)w->e[i].minute + 1) * DUPWIN_SPAN_MS > before_ms) {
			w->clicks += w->e[i].clicks;
			w->e[k++] = w->e[i];
		}
	w->n = k;
	if (rebuild(w, table_size(w->n)) != 0) {
		/* Keep the old table size: it is at least as large. */
		memset(w->slot, 0, w->nslot * sizeof *w->slot);
		for (size_t i = 0; i < w->n; i++)
			place(w, i);
	}
	if (w->lo != INT64_MAX && w->lo < before_ms)
		w->lo = before_ms;
}

/* File: magic, lo, n, the n entries, then the CRC32C of all of it. */
static const char magic[8] = "AFTKWIN2";

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
		for (size_t i = 0; i < w->n; i++)
			w->clicks += w->e[i].clicks;
		ok = rebuild(w, table_size(w->n)) == 0;
	}
	if (!ok) {
		dupwin_free(w);
		return NULL;
	}
	return w;
}

size_t dupwin_count(const struct dupwin *w)
{
	return w->clicks;
}

size_t dupwin_entries(const struct dupwin *w)
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
