/* The ingest's duplicate window: the 60 s rule, coverage and eviction,
 * and a randomized comparison with a brute-force search. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dupwin.h"
#include "unit.h"

static void fp_of(unsigned v, unsigned char fp[16])
{
	memset(fp, 0, 16);
	for (int i = 0; i < 16; i++)
		fp[i] = (unsigned char)((v * 2654435761u) >> (i % 4 * 8)) ^ (unsigned char)i;
}

static void test_rule(void)
{
	struct dupwin *w = dupwin_new();
	unsigned char a[16], b[16];
	fp_of(1, a);
	fp_of(2, b);
	CU_ASSERT_EQUAL(dupwin_add(w, a, 1000000, 11), 0);
	CU_ASSERT_TRUE(dupwin_seen(w, a, 1000000 + 60000, 12));   /* exactly 60 s later */
	CU_ASSERT_FALSE(dupwin_seen(w, a, 1000000 + 60001, 12));  /* just past */
	CU_ASSERT_TRUE(dupwin_seen(w, a, 1000000, 12));           /* same millisecond */
	CU_ASSERT_FALSE(dupwin_seen(w, a, 999999, 12));           /* a later click does not count */
	CU_ASSERT_FALSE(dupwin_seen(w, a, 1000500, 11));          /* the click itself */
	CU_ASSERT_FALSE(dupwin_seen(w, b, 1000500, 12));          /* another visitor */
	CU_ASSERT_EQUAL(dupwin_count(w), 1);
	dupwin_free(w);
}

static void test_coverage(void)
{
	struct dupwin *w = dupwin_new();
	int64_t to;
	CU_ASSERT_TRUE(dupwin_need(w, 5000, &to));
	CU_ASSERT_EQUAL(to, INT64_MAX);
	dupwin_loaded(w, 5000);
	CU_ASSERT_FALSE(dupwin_need(w, 5000, &to));
	CU_ASSERT_FALSE(dupwin_need(w, 90000, &to));
	CU_ASSERT_TRUE(dupwin_need(w, 4000, &to));
	CU_ASSERT_EQUAL(to, 5000);
	dupwin_loaded(w, 4000);
	CU_ASSERT_FALSE(dupwin_need(w, 4000, &to));
	dupwin_evict(w, 7000);
	CU_ASSERT_TRUE(dupwin_need(w, 6999, &to));
	CU_ASSERT_EQUAL(to, 7000);
	CU_ASSERT_FALSE(dupwin_need(w, 7000, &to));
	dupwin_free(w);
}

static void test_evict(void)
{
	struct dupwin *w = dupwin_new();
	unsigned char fp[16];
	for (unsigned i = 0; i < 50000; i++) {
		fp_of(i % 1000, fp);
		CU_ASSERT_EQUAL_FATAL(dupwin_add(w, fp, (int64_t)i * 10, i), 0);
	}
	dupwin_loaded(w, 0);
	size_t entries = dupwin_entries(w);
	dupwin_evict(w, 250000); /* keeps i >= 25000, and may keep the minute before */
	CU_ASSERT_TRUE(dupwin_count(w) >= 25000 && dupwin_count(w) <= 25000 + 6000);
	CU_ASSERT_TRUE(dupwin_entries(w) < entries);
	int64_t to;
	CU_ASSERT_TRUE(dupwin_need(w, 249999, &to));
	fp_of(7, fp);
	/* i = 25007 (ms 250070) is kept: seen from a click 10 s later. */
	CU_ASSERT_TRUE(dupwin_seen(w, fp, 260070, 1u << 30));
	/* i = 19007 (ms 190070) is gone: its minute ended before 250000. */
	CU_ASSERT_FALSE(dupwin_seen(w, fp, 190080, 1u << 30));
	/* Eviction keeps the answers exact for every time it still covers. */
	int wrong = 0;
	for (unsigned q = 0; q < 5000; q++) {
		unsigned f = q % 1000;
		int64_t ms = 250000 + (int64_t)q * 53;
		bool want = false;
		for (unsigned i = 25000; i < 50000 && !want; i++)
			want = i % 1000 == f && (int64_t)i * 10 <= ms && (int64_t)i * 10 >= ms - DUPWIN_SPAN_MS;
		fp_of(f, fp);
		wrong += dupwin_seen(w, fp, ms, 1u << 30) != want;
	}
	CU_ASSERT_EQUAL(wrong, 0);
	dupwin_free(w);
}

/* One visitor (or bot) sending many clicks: constant memory per minute,
 * answers as exact as for anyone else. Quadratic work here would not
 * finish: 2,000,000 clicks of one fingerprint. */
static void test_hot_fingerprint(void)
{
	struct dupwin *w = dupwin_new();
	unsigned char fp[16];
	fp_of(99, fp);
	for (unsigned i = 0; i < 2000000; i++) /* 10 minutes, every 300 us */
		CU_ASSERT_EQUAL_FATAL(dupwin_add(w, fp, 5000000 + (int64_t)i * 3 / 10, i), 0);
	CU_ASSERT_EQUAL(dupwin_count(w), 2000000);
	CU_ASSERT_TRUE(dupwin_entries(w) <= 11);
	CU_ASSERT_TRUE(dupwin_seen(w, fp, 5000000 + 30000, 2000001));
	CU_ASSERT_TRUE(dupwin_seen(w, fp, 5000000 + 600000 + 59999, 2000001)); /* the last, 60 s later */
	CU_ASSERT_FALSE(dupwin_seen(w, fp, 5000000 + 600000 + 60000, 2000001));
	CU_ASSERT_FALSE(dupwin_seen(w, fp, 4999999, 2000001));
	CU_ASSERT_TRUE(dupwin_seen(w, fp, 5000000, 0)); /* the first click: others in its millisecond */
	dupwin_free(w);
}

/* Random clicks for the brute-force comparisons: fingerprint numbers
 * below nfp, times in [base, base + span), ids below nids (repeats: one
 * click stored again) or, with nids 0, each its own. */
struct sample {
	unsigned fp;
	int64_t ms;
	uint64_t id;
};

static struct dupwin *fill(struct sample *c, int n, unsigned nfp, int64_t base, int span, int nids)
{
	struct dupwin *w = dupwin_new();
	unsigned char fp[16];
	for (int i = 0; i < n; i++) {
		c[i].fp = (unsigned)rand() % nfp;
		c[i].ms = base + rand() % span;
		c[i].id = nids ? (uint64_t)(rand() % nids) : (uint64_t)i;
		fp_of(c[i].fp, fp);
		CU_ASSERT_EQUAL_FATAL(dupwin_add(w, fp, c[i].ms, c[i].id), 0);
	}
	return w;
}

/* Whether the window's answer differs from a search of all clicks; counts
 * the "yes" answers in *hits. */
static bool wrong(const struct dupwin *w, const struct sample *c, int n, unsigned f, int64_t ms, uint64_t id,
		  int *hits)
{
	bool want = false;
	for (int i = 0; i < n && !want; i++)
		want = c[i].fp == f && c[i].ms <= ms && c[i].ms >= ms - DUPWIN_SPAN_MS && c[i].id != id;
	unsigned char fp[16];
	fp_of(f, fp);
	*hits += want;
	return dupwin_seen(w, fp, ms, id) != want;
}

/* n random clicks (fill), then q questions with fingerprints below nfp,
 * times in [qfrom, qfrom + qspan) and ids below qids, each compared with
 * a search of all clicks. Returns the "yes" answers; asserts no wrong one. */
static int compare(int n, unsigned nfp, int64_t base, int span, int nids, int64_t qfrom, int qspan, int qids)
{
	enum { Q = 20000 };
	struct sample *c = malloc((size_t)n * sizeof *c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	struct dupwin *w = fill(c, n, nfp, base, span, nids);
	int bad = 0, hits = 0;
	for (int q = 0; q < Q; q++)
		bad += wrong(w, c, n, (unsigned)rand() % nfp, qfrom + rand() % qspan, (uint64_t)(rand() % qids), &hits);
	CU_ASSERT_EQUAL(bad, 0);
	dupwin_free(w);
	free(c);
	return hits;
}

/* Few fingerprints, many clicks each, ids added twice (replays) and asked
 * about: the earliest and latest "other" clicks of each minute are what
 * the answer rests on. Then sparse: about one click a fingerprint and
 * minute; then many fingerprints, every click its own id. Each case must
 * compare both answers. */
static void test_brute_force(void)
{
	srand(7);
	int hits = compare(6000, 4, 1000000, 600000, 50, 1000000 - 70000, 740000, 60);
	CU_ASSERT_TRUE(hits > 20000 / 2 && hits < 20000);
	hits = compare(3000, 3, 1000000, 60000000, 4, 1000000, 60000000, 4);
	CU_ASSERT_TRUE(hits > 20000 / 20 && hits < 20000 - 20000 / 20);
	hits = compare(20000, 3000, 0, 3600000, 0, 0, 3600000, 40000);
	CU_ASSERT_TRUE(hits > 20000 / 20 && hits < 20000 - 20000 / 20);
}

static void test_file(void)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/test-dupwin-%ld", (long)getpid());
	struct dupwin *w = dupwin_new();
	unsigned char fp[16];
	for (unsigned i = 0; i < 3000; i++) {
		fp_of(i % 500, fp);
		CU_ASSERT_EQUAL_FATAL(dupwin_add(w, fp, 100000 + (int64_t)i * 100, i), 0);
	}
	dupwin_loaded(w, 90000);
	CU_ASSERT_EQUAL(dupwin_save(w, path), 0);
	struct dupwin *r = dupwin_load(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(dupwin_count(r), 3000);
	int64_t to;
	CU_ASSERT_FALSE(dupwin_need(r, 90000, &to));
	CU_ASSERT_TRUE(dupwin_need(r, 89999, &to));
	int same = 0;
	for (unsigned q = 0; q < 2000; q++) {
		fp_of(q % 700, fp);
		int64_t ms = 100000 + (int64_t)q * 170;
		same += dupwin_seen(w, fp, ms, 1u << 31) == dupwin_seen(r, fp, ms, 1u << 31);
	}
	CU_ASSERT_EQUAL(same, 2000);
	dupwin_free(r);
	/* One flipped byte, or a cut file: refused whole. */
	FILE *f = fopen(path, "r+b");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fseek(f, 40, SEEK_SET);
	int c = fgetc(f);
	fseek(f, 40, SEEK_SET);
	fputc(c ^ 1, f);
	fclose(f);
	CU_ASSERT_PTR_NULL(dupwin_load(path));
	CU_ASSERT_EQUAL(dupwin_save(w, path), 0);
	CU_ASSERT_EQUAL(truncate(path, 1000), 0);
	CU_ASSERT_PTR_NULL(dupwin_load(path));
	unlink(path);
	CU_ASSERT_PTR_NULL(dupwin_load(path));
	dupwin_free(w);
}

static void test_hash(void)
{
	CU_ASSERT_EQUAL(dupwin_hash("", 0), 0xcbf29ce484222325ULL);
	CU_ASSERT_EQUAL(dupwin_hash("a", 1), 0xaf63dc4c8601ec8cULL);
	CU_ASSERT_NOT_EQUAL(dupwin_hash("0Vby5pj4Sgw4CMwa93Aosy1SZd0P", 28),
			    dupwin_hash("0Vby5pj4Sgw4CMwa93Aosy1SZd0Q", 28));
}

static const struct unit_case cases[] = {
	{"60 s rule", test_rule},
	{"coverage", test_coverage},
	{"eviction", test_evict},
	{"one fingerprint, 2 M clicks", test_hot_fingerprint},
	{"dense, sparse and many visitors' clicks, replayed ids: against brute force", test_brute_force},
	{"saved and loaded, damage refused", test_file},
	{"id hash", test_hash},
	{NULL, NULL},
};

UNIT_MAIN("dupwin")
