/* afftokctl ingest [--once]: loads the click journal into PostgreSQL.
 *
 * Each pass reads what is new in every segment (open ones up to their last
 * complete record) and decides the batch's rules here, once:
 *   duplicate  an earlier click with the same fingerprint within 60 s: the
 *              batch's own clicks (sorted by fingerprint) and the stored ones
 *              (the in-memory window of src/dupwin.c, loaded from `clicks`
 *              for the times it must cover, then kept up by this process);
 *   replay     a signed link (code, ts, nonce) counts once: the earliest
 *              click holding it claims its nonce in the set of its link and
 *              ts (link_nonce_sets, locked FOR UPDATE, so the database
 *              decides between batches, runs and hosts); records written
 *              before the journal carried ts claim in link_nonces by key.
 * Then, in ONE transaction, it stores the clicks, final flags included
 * (COPY into a staging table, one INSERT ... SELECT into `clicks`), and
 * advances each segment's `committed` offset (journal_segments). A batch
 * meeting a stored click (a segment replayed after its offsets were lost or
 * reset) is inserted again with ON CONFLICT DO NOTHING, so nothing is
 * stored twice. Then it
 * publishes the new clicks to the Redis stream afftok:clicks and advances
 * `published`. A closed segment read to its end, committed and published is
 * deleted. Killed at any point, the next run resumes from the committed
 * offsets: nothing is lost and nothing is inserted twice (events whose
 * publication was cut short are sent again: the stream is at-least-once,
 * each event carries its click id).
 *
 * The window holds the clicks this ingest stored plus those stored before it
 * loaded a range: exact while one ingest writes a visitor's clicks, which is
 * why several web hosts are balanced by client address (docs/DEPLOY.md).
 *
 * Runs for [cron] ingest_loop_s seconds (polling), or with --once until a
 * pass finds nothing new. An flock on <journal dir>/.ingest.lock keeps runs
 * from overlapping even when started by hand. */
#include <dirent.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "arena.h"
#include "buf.h"
#include "click.h"
#include "clicksum.h"
#include "crashpoint.h"
#include "db.h"
#include "dupwin.h"
#include "journal.h"
#include "jobs.h"
#include "kv.h"
#include "log.h"
#include "nonceset.h"
#include "util.h"

#define STREAM_KEY "afftok:clicks"
#define STREAM_MAXLEN "2000" /* entries: ~500,000 clicks */
#define EVENTS_PER_ENTRY 256
#define BATCH_BYTES (48L << 20)  /* journal bytes read per pass */
#define POLL_MS 200
#define RETRY_NOW (-2) /* run_pass: a batch was refused for its data; split it and go on */
/* The window keeps this much before the newest click it saw (a batch
 * reaching further back loads that part from the database again), and is
 * trimmed when its entries have doubled since the last trim. 64 bytes an
 * entry (plus 8 in its table), one per fingerprint and minute: with every
 * click from another visitor, 130 MB at 10,000 clicks/s; one visitor's
 * thousands of clicks a minute take one entry. */
#define WINDOW_KEEP_MS (180 * 1000)
#define WINDOW_MIN_TRIM 262144

#define WINDOW_FILE_MAX_AGE_S 300 /* an older window file is not trusted */

static struct dupwin *win;
static size_t win_trimmed;            /* its entries after the last trim */
static int64_t win_newest = INT64_MIN; /* the newest click it holds */

/* Records per batch: [cron] ingest_batch, halved while batches are refused
 * for their data (a record PostgreSQL will not take), down to the one
 * record that is quarantined; then back to full batches. */
static long batch_limit;
#define FOREIGN_DEAD_S 600 /* a segment of another instance untouched this long is closed */

struct segment {
	char name[256]; /* without suffix */
	char path[4096];
	bool closed;
	long long size;
	long long committed, published;
	bool known;            /* has a journal_segments row */
	bool scanned;          /* read this pass: size and new_committed are meaningful */
	/* this pass */
	unsigned char *data;   /* bytes [published, size) */
	long long new_committed;
	long records, corrupt, torn, bad;
};

/* A new record of the batch, with what the batch rules compare (the
 * fields' COPY text, which is the same for the same value). */
struct rec {
	const unsigned char *p;       /* the record (one COPY line, no newline) */
	size_t n;
	const unsigned char *f[CLICK_RECORD_FIELDS + 1]; /* field starts; f[i + 1] - 1 ends field i */
	int64_t ms;                   /* created_at; TIMELESS when not in the writer's format */
	unsigned char fp[16];         /* the fingerprint's bytes */
	bool fp_ok;                   /* it is 32 hex digits (the writer's format) */
	uint64_t id_hash;
	bool dup_batch;               /* an earlier click of the batch has its fingerprint within 60 s */
	bool v1;                      /* a version 1 record: no ts, its nonce is claimed in link_nonces */
	int64_t ts;                   /* the signed token's ts (version 2; 0 when absent) */
	int64_t link_id;
	bool nonce_first;             /* the batch's earliest click holding its token */
	bool dup, replay;             /* the rules' answers */
	bool stored;                  /* stored by this pass (not found stored already) */
	bool prior;                   /* found stored already (its events go out again) */
};

struct pass {
	struct segment *seg;
	size_t nseg, cap;
	struct rec *recs; /* the new records, in journal order */
	long nrecords, rcap;
	/* click ids and times of already committed, unpublished records */
	struct buf ids, times;
	long nrepub;
	char days[16][11]; /* UTC days of the new records */
	int ndays;
	bool loader;       /* their partitions take COPY as afftok_loader */
	long limit;        /* batch_limit when it was read */
	bool full;         /* stopped by its limits: more is waiting */
	bool ahead;        /* read and decided while the pass before was stored */
	int64_t ms_read, ms_rules;
	struct dupwin *far; /* stored clicks around records far older than win covers */
};

/* The columns of a stored click as the journal has them. */
#define CLICK_COLUMNS \
	"click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, ip, user_agent, referer, " \
	"sub1, sub2, sub3, sub4, sub5, params, country, asn, device, os, browser, fingerprint, signed, " \
	"nonce, billable, reason, bot_score, route_dest, destination, is_unique"
/* ... and as build_copy writes them: the batch's ingested_at last */
#define COPY_COLUMNS CLICK_COLUMNS ", ingested_at"

static const char *event_columns =
	"click_id, (extract(epoch FROM created_at) * 1000)::bigint, tenant_id, link_id, offer_id, "
	"affiliate_id, billable, is_unique, coalesce(reason, ''), coalesce(country, ''), coalesce(device, '')";

/* ---- segments on disk ---- */

/* Whether worker pid of this host still runs (a reused pid running
 * something else does not count). */
static bool writer_alive(long pid)
{
	char path[64], cmd[256];
	snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, cmd, sizeof cmd - 1);
	close(fd);
	if (n <= 0)
		return false;
	for (ssize_t i = 0; i < n; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	cmd[n] = '\0';
	return strstr(cmd, "afftok-fcgi") != NULL;
}

/* Name "<instance>-<pid>-<ms>-<seq>": its instance and pid. */
static bool parse_name(const char *name, char *inst, size_t cap, long *pid)
{
	const char *d[3] = {NULL, NULL, NULL};
	int k = 0;
	for (const char *p = name + strlen(name); p > name && k < 3; p--)
		if (p[-1] == '-')
			d[k++] = p - 1;
	if (k < 3)
		return false;
	/* d[2] is the dash before the pid */
	size_t il = (size_t)(d[2] - name);
	if (il == 0 || il >= cap)
		return false;
	memcpy(inst, name, il);
	inst[il] = '\0';
	*pid = strtol(d[2] + 1, NULL, 10);
	return *pid > 0;
}

static void journal_instance(const char *instance, char *out, size_t cap)
{
	snprintf(out, cap, "%s", instance);
	for (char *c = out; *c; c++)
		if (*c == '-' || *c == '/' || *c == '.')
			*c = '_';
}

/* The creation time in a segment's name ("<instance>-<pid>-<ms>-<seq>"). */
static long long segment_ms(const char *name)
{
	const char *seq = strrchr(name, '-');
	if (seq == NULL || seq == name)
		return 0;
	const char *ms = seq - 1;
	while (ms > name && ms[-1] != '-')
		ms--;
	return atoll(ms);
}

/* Oldest segments first: a batch then holds the earliest clicks waiting,
 * and the duplicate window moves forward instead of loading older times
 * again for the next batch. */
static int cmp_segment(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;
	long long p = segment_ms(x->name), q = segment_ms(y->name);
	return p != q ? (p > q) - (p < q) : strcmp(x->name, y->name);
}

static int list_segments(struct app *app, struct pass *ps)
{
	DIR *dir = opendir(app->cfg.journal_dir);
	if (dir == NULL) {
		log_err("journal directory %s: %s", app->cfg.journal_dir, strerror(errno));
		return -1;
	}
	char me[32];
	journal_instance(app->instance, me, sizeof me);
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 5 || len >= 250)
			continue;
		bool rdy = !strcmp(e->d_name + len - 4, ".rdy"), jnl = !strcmp(e->d_name + len - 4, ".jnl");
		if (!rdy && !jnl)
			continue;
		if (ps->nseg == ps->cap) {
			size_t ncap = ps->cap ? ps->cap * 2 : 64;
			struct segment *n = realloc(ps->seg, ncap * sizeof *n);
			if (n == NULL)
				break;
			ps->seg = n;
			ps->cap = ncap;
		}
		struct segment *s = &ps->seg[ps->nseg];
		memset(s, 0, sizeof *s);
		memcpy(s->name, e->d_name, len - 4);
		snprintf(s->path, sizeof s->path, "%s/%s", app->cfg.journal_dir, e->d_name);
		struct stat st;
		if (stat(s->path, &st) != 0)
			continue; /* renamed from .jnl to .rdy meanwhile: next pass */
		s->closed = rdy;
		if (jnl) {
			char inst[64];
			long pid;
			if (!parse_name(s->name, inst, sizeof inst, &pid))
				s->closed = time(NULL) - st.st_mtime > FOREIGN_DEAD_S;
			else if (!strcmp(inst, me))
				s->closed = !writer_alive(pid);
			else
				s->closed = time(NULL) - st.st_mtime > FOREIGN_DEAD_S;
		}
		ps->nseg++;
	}
	closedir(dir);
	if (ps->nseg > 1) /* seg is NULL while there are none */
		qsort(ps->seg, ps->nseg, sizeof *ps->seg, cmp_segment);
	return 0;
}

static int load_progress(struct app *app, struct arena *a, struct pass *ps)
{
	PGresult *res = db_exec(app->db, a, "SELECT name, committed, published FROM journal_segments", 0, NULL);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		for (size_t k = 0; k < ps->nseg; k++) {
			struct segment *s = &ps->seg[k];
			if (!strcmp(s->name, db_val(res, i, 0))) {
				s->known = true;
				s->committed = atoll(db_val(res, i, 1));
				s->published = atoll(db_val(res, i, 2));
			}
		}
	}
	return 0;
}

/* Reads bytes [published, end) of s. A segment that stays open is read to
 * its current size only. */
static int read_segment(struct segment *s, long long budget)
{
	int fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1; /* rotated meanwhile */
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	s->size = st.st_size;
	long long want = s->size - s->published;
	if (want > budget) {
		want = budget;
		s->closed = false; /* not read to its end this pass */
	}
	if (want <= 0) {
		close(fd);
		s->new_committed = s->committed;
		s->scanned = true;
		return 0;
	}
	s->data = malloc((size_t)want);
	long long got = 0;
	while (s->data && got < want) {
		ssize_t n = pread(fd, s->data + got, (size_t)(want - got), s->published + got);
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	if (s->data == NULL || got < want) {
		free(s->data);
		s->data = NULL;
		return -1;
	}
	s->size = s->published + want; /* what this pass knows of the file */
	s->scanned = true;
	return 0;
}

/* ---- records ---- */

/* A record is one COPY line starting with its version: CLICK_RECORD_FIELDS
 * fields in version 2, CLICK_RECORD_FIELDS_V1 in version 1 (written before
 * the token's ts was added; both versions are one digit, so the id starts
 * at the same place). Anything else (a record of a newer version, or damage
 * that a checksum missed) is skipped and counted. */
#define VERSION_LEN 2 /* "2\t" */

/* Field starts of record p into f (f[i + 1] - 1 ends field i); its number
 * of fields, or 0 when it is not a record. One pass over the bytes: the
 * job reads ~50 MB a batch. */
static int split_record(const unsigned char *p, size_t n, const unsigned char *f[CLICK_RECORD_FIELDS + 1])
{
	if (n < VERSION_LEN || (memcmp(p, "2\t", 2) != 0 && memcmp(p, "1\t", 2) != 0))
		return 0;
	int want = p[0] == '2' ? CLICK_RECORD_FIELDS : CLICK_RECORD_FIELDS_V1, k = 0;
	f[k++] = p;
	size_t i = 0;
#ifdef __SSE2__
	/* 16 bytes at a time: the positions of the bytes up to '\r' ('\t',
	 * '\n', '\r' and NUL are all among them), mostly none */
	const __m128i cr = _mm_set1_epi8('\r');
	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(x, cr), x));
		for (; m; m &= m - 1) {
			size_t j = i + (size_t)__builtin_ctz(m);
			if (p[j] != '\t' || k == want)
				return 0;
			f[k++] = p + j + 1;
		}
	}
#endif
	for (; i < n; i++) {
		if (p[i] > '\r')
			continue;
		if (p[i] != '\t' || k == want)
			return 0;
		f[k++] = p + i + 1;
	}
	if (k != want)
		return 0;
	f[k] = p + n + 1;
	const unsigned char *id = p + VERSION_LEN;
	for (int d = 0; d < CLICKID_LEN; d++) {
		unsigned char c = id[d];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return 0;
	}
	return id[CLICKID_LEN] == '\t' ? k : 0;
}

static bool record_ok(const unsigned char *r, size_t n)
{
	const unsigned char *f[CLICK_RECORD_FIELDS + 1];
	return split_record(r, n, f) != 0;
}

/* Appends the record's click id and created_at to the id/time lists. */
static void note_id(struct pass *ps, const unsigned char *r)
{
	const char *id = (const char *)r + VERSION_LEN;
	const char *t = id + CLICKID_LEN + 1;
	size_t tl = strcspn(t, "\t");
	buf_putc(&ps->ids, ps->nrepub ? ',' : '{');
	buf_append(&ps->ids, id, CLICKID_LEN);
	buf_putc(&ps->times, ps->nrepub ? ',' : '{');
	buf_putc(&ps->times, '"');
	buf_append(&ps->times, t, tl);
	buf_putc(&ps->times, '"');
	ps->nrepub++;
}

/* The UTC day of the record's created_at ("YYYY-MM-DD ..." after the id). */
static void note_day(struct pass *ps, const unsigned char *r)
{
	const char *t = (const char *)r + VERSION_LEN + CLICKID_LEN + 1;
	for (int i = 0; i < ps->ndays; i++)
		if (!memcmp(ps->days[i], t, 10))
			return;
	if (ps->ndays < 16) {
		memcpy(ps->days[ps->ndays], t, 10);
		ps->days[ps->ndays++][10] = '\0';
	}
}

#define TIMELESS INT64_MIN

/* Fields of a record (0-based, CLICK_RECORD_FIELDS of them). */
enum {
	F_ID = 1, F_TIME = 2, F_TENANT = 3, F_LINK = 4, F_OFFER = 5, F_AFFILIATE = 6, F_COUNTRY = 16,
	F_DEVICE = 18, F_FINGERPRINT = 21, F_NONCE = 23, F_NONCE_OK = 24, F_BILLABLE = 25, F_REASON = 26,
	F_SUB1 = 10, F_BOT_SCORE = 27, F_ROUTE_DEST = 28, F_DESTINATION = 29, F_TS = 30 /* version 2 only */
};

static size_t field_len(const struct rec *r, int i)
{
	return (size_t)(r->f[i + 1] - r->f[i]) - 1;
}

static int field_cmp(const struct rec *x, const struct rec *y, int i)
{
	size_t a = field_len(x, i), b = field_len(y, i);
	int c = memcmp(x->f[i], y->f[i], a < b ? a : b);
	return c ? c : (a > b) - (a < b);
}

static int64_t num(const unsigned char *p, int w)
{
	int64_t v = 0;
	while (w-- > 0)
		v = v * 10 + (*p++ - '0');
	return v;
}

/* Days from 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* created_at as click_record writes it: "YYYY-MM-DD HH:MM:SS.mmm+00". */
static bool parse_time(const unsigned char *t, size_t n, int64_t *ms)
{
	if (!click_time_form((const char *)t, n))
		return false;
#define NUM(o, w) num(t + (o), (w))
	int64_t y = NUM(0, 4), mo = NUM(5, 2), d = NUM(8, 2), h = NUM(11, 2), mi = NUM(14, 2), sec = NUM(17, 2);
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	*ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000 + sec * 1000 + NUM(20, 3);
#undef NUM
	return true;
}

static int cmp_fingerprint(const void *a, const void *b)
{
	const struct rec *x = *(struct rec *const *)a, *y = *(struct rec *const *)b;
	int c = field_cmp(x, y, F_FINGERPRINT);
	if (c == 0)
		c = (x->ms > y->ms) - (x->ms < y->ms);
	return c ? c : memcmp(x->f[F_ID], y->f[F_ID], CLICKID_LEN);
}

/* By token: version, ts, link (a link id is unique across tenants), nonce;
 * then by time and id. Version 2 claims come out grouped by nonce set
 * (claim_sets), version 1 ones in link_nonces' key order. */
static int cmp_nonce(const void *a, const void *b)
{
	const struct rec *x = *(struct rec *const *)a, *y = *(struct rec *const *)b;
	int c = (x->v1 < y->v1) - (x->v1 > y->v1);
	if (c == 0)
		c = (x->ts > y->ts) - (x->ts < y->ts);
	if (c == 0)
		c = (x->link_id > y->link_id) - (x->link_id < y->link_id);
	if (c == 0)
		c = field_cmp(x, y, F_NONCE);
	if (c == 0)
		c = (x->ms > y->ms) - (x->ms < y->ms);
	return c ? c : memcmp(x->f[F_ID], y->f[F_ID], CLICKID_LEN);
}

static int cmp_id(const void *a, const void *b)
{
	const struct rec *x = *(struct rec *const *)a, *y = *(struct rec *const *)b;
	return memcmp(x->f[F_ID], y->f[F_ID], CLICKID_LEN);
}

/* qsort on the records' pointers, comparing with cmp_fingerprint or
 * cmp_nonce, spent most of the batch rules' time in cache misses and
 * memcmp (the records lie ~300 bytes apart). So each record's leading key
 * bytes are packed into an entry first, and the records are read only when
 * two entries tie. The entries order as the comparison does: numbers
 * unsigned, text as its first bytes zero-padded (a field holds no NUL). */
struct sortkey {
	uint64_t k[3];
	struct rec *r;
};

static uint64_t prefix8(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	if (n >= 8) { /* the bytes as a big-endian number: byte order is number order */
		memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		v = __builtin_bswap64(v);
#endif
		return v;
	}
	for (size_t i = 0; i < 8; i++)
		v = v << 8 | (i < n ? p[i] : 0);
	return v;
}

static int cmp_keys(const struct sortkey *x, const struct sortkey *y)
{
	for (int i = 0; i < 3; i++)
		if (x->k[i] != y->k[i])
			return x->k[i] < y->k[i] ? -1 : 1;
	return 0;
}

enum sort_by { BY_FINGERPRINT, BY_NONCE, BY_ID };

typedef int tie_fn(const void *, const void *);

static int entry_cmp(const struct sortkey *x, const struct sortkey *y, tie_fn *tie)
{
	int c = cmp_keys(x, y);
	return c ? c : tie(&x->r, &y->r);
}

static void swap_entries(struct sortkey *x, struct sortkey *y)
{
	struct sortkey t = *x;
	*x = *y;
	*y = t;
}

/* Quicksort (median of three; insertion sort for short runs) on the
 * entries: qsort's merge sort copied each entry through a generic move
 * and compared through a pointer call, most of its time. */
static void sort_entries(struct sortkey *e, long n, tie_fn *tie)
{
	while (n > 16) {
		long m = n / 2;
		if (entry_cmp(&e[m], &e[0], tie) < 0)
			swap_entries(&e[m], &e[0]);
		if (entry_cmp(&e[n - 1], &e[0], tie) < 0)
			swap_entries(&e[n - 1], &e[0]);
		if (entry_cmp(&e[n - 1], &e[m], tie) < 0)
			swap_entries(&e[n - 1], &e[m]);
		struct sortkey p = e[m];
		long i = 0, j = n - 1;
		for (;;) { /* Hoare: [0, j] <= p <= [j + 1, n), 0 <= j < n - 1 */
			while (entry_cmp(&e[i], &p, tie) < 0)
				i++;
			while (entry_cmp(&p, &e[j], tie) < 0)
				j--;
			if (i >= j)
				break;
			swap_entries(&e[i++], &e[j--]);
		}
		long left = j + 1; /* the shorter side recursively, the longer in the loop */
		if (left < n - left) {
			sort_entries(e, left, tie);
			e += left;
			n -= left;
		} else {
			sort_entries(e + left, n - left, tie);
			n = left;
		}
	}
	for (long i = 1; i < n; i++)
		for (long j = i; j > 0 && entry_cmp(&e[j], &e[j - 1], tie) < 0; j--)
			swap_entries(&e[j], &e[j - 1]);
}

/* Sorts v (k records) by cmp_fingerprint, cmp_nonce or cmp_id; -1 when
 * out of memory. */
static int sort_records(struct rec **v, long k, enum sort_by by)
{
	struct sortkey *e = malloc((size_t)(k > 0 ? k : 1) * sizeof *e);
	if (e == NULL)
		return -1;
	for (long i = 0; i < k; i++) {
		const struct rec *r = v[i];
		e[i].r = v[i];
		if (by == BY_NONCE) { /* ts and link ids are 0 .. 10^18 (field_i64) */
			e[i].k[0] = (r->v1 ? 0 : 1ULL << 63) | (uint64_t)r->ts;
			e[i].k[1] = (uint64_t)r->link_id;
			e[i].k[2] = prefix8(r->f[F_NONCE], field_len(r, F_NONCE));
		} else {
			int f = by == BY_ID ? F_ID : F_FINGERPRINT;
			size_t n = by == BY_ID ? CLICKID_LEN : field_len(r, f);
			for (int j = 0; j < 3; j++)
				e[i].k[j] = n > 8 * (size_t)j ? prefix8(r->f[f] + 8 * j, n - 8 * (size_t)j) : 0;
		}
	}
	sort_entries(e, k, by == BY_NONCE ? cmp_nonce : by == BY_ID ? cmp_id : cmp_fingerprint);
	for (long i = 0; i < k; i++)
		v[i] = e[i].r;
	free(e);
	return 0;
}

static bool same_nonce(const struct rec *x, const struct rec *y)
{
	return x->v1 == y->v1 && x->ts == y->ts && x->link_id == y->link_id && !field_cmp(x, y, F_NONCE);
}

/* A field of decimal digits (an id, a ts); 0 for anything else (\N): the
 * same text gives the same number, so a claim's key stays exact. */
static int64_t field_i64(const struct rec *r, int i)
{
	size_t n = field_len(r, i);
	if (n == 0 || n > 18)
		return 0;
	for (size_t j = 0; j < n; j++)
		if (r->f[i][j] < '0' || r->f[i][j] > '9')
			return 0;
	return num(r->f[i], (int)n);
}

static bool field_is(const struct rec *r, int i, const char *v)
{
	size_t n = strlen(v);
	return field_len(r, i) == n && !memcmp(r->f[i], v, n);
}

/* The batch's own part of the rules, on pointers to the records (sorting
 * the ~400-byte rows in PostgreSQL cost more than storing them):
 *   dup_batch    the click before it with the same fingerprint (by time,
 *                then id) is at most 60 s older;
 *   nonce_first  it is the earliest (by time, then id) of the batch's
 *                clicks with a valid signature holding its token (tenant,
 *                link, ts and nonce; a version 1 record has no ts and
 *                meets only its own kind), i.e. the one that claims it.
 * Returns -1 when out of memory. */
static int decide_batch(struct pass *ps)
{
	long n = ps->nrecords;
	struct rec **v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
	if (v == NULL)
		return -1;
	for (long i = 0; i < n; i++)
		v[i] = &ps->recs[i];
	if (sort_records(v, n, BY_FINGERPRINT) != 0) {
		free(v);
		return -1;
	}
	for (long i = 1; i < n; i++)
		v[i]->dup_batch = !field_cmp(v[i - 1], v[i], F_FINGERPRINT) && v[i - 1]->ms != TIMELESS &&
				  v[i]->ms != TIMELESS && v[i - 1]->ms >= v[i]->ms - 60000;
	long k = 0;
	for (long i = 0; i < n; i++) {
		struct rec *r = &ps->recs[i];
		if (!field_is(r, F_NONCE_OK, "t"))
			continue;
		if (r->ms == TIMELESS)
			r->nonce_first = true; /* the claim is decided by the stored claims alone */
		else
			v[k++] = r;
	}
	if (sort_records(v, k, BY_NONCE) != 0) {
		free(v);
		return -1;
	}
	for (long i = 0; i < k; i++)
		v[i]->nonce_first = i == 0 || !same_nonce(v[i - 1], v[i]);
	free(v);
	return 0;
}

/* 32 hex digits (not NUL-terminated) into 16 bytes. */
static bool fp_decode(const unsigned char *in, unsigned char out[16])
{
	for (int i = 0; i < 16; i++) {
		int hi = hex_digit((char)in[2 * i]), lo = hex_digit((char)in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* Room for one more record; false when out of memory (the batch ends
 * there and the rest waits for the next pass). */
static bool room(struct pass *ps)
{
	if (ps->nrecords < ps->rcap)
		return true;
	long ncap = ps->rcap ? ps->rcap * 2 : 4096;
	struct rec *nr = realloc(ps->recs, (size_t)ncap * sizeof *nr);
	if (nr == NULL)
		return false;
	ps->recs = nr;
	ps->rcap = ncap;
	return true;
}

/* Adds a new record to the batch (room() was called); false when it is not
 * a record (record_ok). A created_at not in
 * click_record's format (a writer changed without this reader) is still
 * stored, as PostgreSQL reads it: such a click takes no part in the batch's
 * own rules (it is still checked against stored clicks and its nonce claim
 * is decided by link_nonces' key), and it is logged. */
static bool add_record(struct pass *ps, const unsigned char *p, size_t n)
{
	struct rec *r = &ps->recs[ps->nrecords];
	memset(r, 0, sizeof *r);
	int k = split_record(p, n, r->f);
	if (k == 0)
		return false;
	r->p = p;
	r->n = n;
	r->v1 = k == CLICK_RECORD_FIELDS_V1;
	r->link_id = field_i64(r, F_LINK);
	r->ts = r->v1 ? 0 : field_i64(r, F_TS);
	r->id_hash = dupwin_hash(r->f[F_ID], CLICKID_LEN);
	r->fp_ok = field_len(r, F_FINGERPRINT) == 32 && fp_decode(r->f[F_FINGERPRINT], r->fp);
	if (!parse_time(r->f[F_TIME], field_len(r, F_TIME), &r->ms)) {
		r->ms = TIMELESS;
		log_warn("ingest: click %.*s: created_at '%.*s' is not in the journal's format", CLICKID_LEN,
			 (const char *)r->f[F_ID], (int)field_len(r, F_TIME), (const char *)r->f[F_TIME]);
	}
	ps->nrecords++;
	return true;
}

static void scan_segment(struct pass *ps, struct segment *s)
{
	long long len = s->size - s->published;
	struct journal_scan sc;
	journal_scan_init(&sc, s->data, (size_t)len, s->closed);
	const unsigned char *rec;
	size_t n;
	s->new_committed = s->committed;
	while (ps->nrecords < ps->limit && room(ps) && journal_scan_next(&sc, &rec, &n)) {
		long long start = s->published + (long long)sc.pos - (long long)(n + JOURNAL_HDR);
		if (start < s->committed) {
			if (record_ok(rec, n))
				note_id(ps, rec); /* stored, not yet published */
			continue;
		}
		if (!add_record(ps, rec, n)) {
			s->bad++;
			continue;
		}
		note_day(ps, rec);
		s->records++;
	}
	long long end = s->published + (long long)sc.consumed;
	if (end > s->new_committed)
		s->new_committed = end;
	s->corrupt = sc.corrupt;
	s->torn = sc.torn;
	if (s->new_committed < s->size) {
		s->closed = false; /* stopped early (batch full): not done yet */
		ps->full = true;
	}
}

/* Reads what is new in the listed segments (offsets known) and decides
 * the batch's own rules. Touches neither PostgreSQL nor anything outside
 * ps, so it can run beside the storing of the pass before (read_ahead). */
static int read_batch(struct pass *ps)
{
	int64_t t = mono_ms();
	long long budget = BATCH_BYTES;
	for (size_t i = 0; i < ps->nseg; i++) {
		struct segment *s = &ps->seg[i];
		if (budget <= 0) {
			ps->full = true;
			break;
		}
		if (read_segment(s, budget) != 0)
			continue;
		if (s->data) {
			budget -= s->size - s->published;
			scan_segment(ps, s);
		}
	}
	int64_t t_rules = mono_ms();
	ps->ms_read = t_rules - t;
	int rc = decide_batch(ps);
	ps->ms_rules = mono_ms() - t_rules;
	return rc;
}

/* ---- PostgreSQL ---- */

/* state: the SQLSTATE of a failure (6 bytes), "" otherwise. */
static int copy_in(PGconn *conn, const char *sql, const char *data, size_t len, char *state)
{
	state[0] = '\0';
	PGresult *res = PQexec(conn, sql);
	bool ok = res && PQresultStatus(res) == PGRES_COPY_IN;
	PQclear(res);
	if (!ok) {
		log_err("COPY: %s", PQerrorMessage(conn));
		return -1;
	}
	for (size_t off = 0; off < len;) {
		size_t n = len - off > (1 << 20) ? (1 << 20) : len - off;
		if (PQputCopyData(conn, data + off, (int)n) != 1)
			break;
		off += n;
	}
	ok = PQputCopyEnd(conn, NULL) == 1;
	while ((res = PQgetResult(conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			log_err("COPY: %s", PQresultErrorMessage(res));
			const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			snprintf(state, 6, "%s", st ? st : "");
			ok = false;
		}
		PQclear(res);
	}
	return ok ? 0 : -1;
}

static bool run_sql(struct db *db, struct arena *a, const char *sql)
{
	return db_exec(db, a, sql, 0, NULL) != NULL;
}

static bool exec_ok(struct app *app, struct arena *a, const char *sql)
{
	return run_sql(app->db, a, sql);
}

static int setup_session(struct db *db, struct arena *a)
{
	/* The batch statements look expensive to the planner, and JIT
	 * compiling them costs more (300 ms a statement) than running them.
	 * The request connections' statement_timeout ([database], 5 s by default)
	 * is too short for a batch of 200,000 clicks under load, or for the
	 * window's first load after a restart, when the heap is cold.
	 * temp_buffers holds a batch's staging rows (~50 MB a part) in the
	 * backend instead of writing most of them out to a file and reading
	 * them back; it can only be set before the session's first temporary
	 * table (this runs again on a session that failed a pass). */
	PGresult *fresh = db_exec(db, a, "SELECT to_regclass('pg_temp.click_stage') IS NULL", 0, NULL);
	if (fresh == NULL || (db_val(fresh, 0, 0)[0] == 't' && !run_sql(db, a, "SET temp_buffers = '128MB'")))
		return -1;
	return run_sql(db, a, "SET jit = off") && run_sql(db, a, "SET work_mem = '256MB'") &&
	       run_sql(db, a, "SET statement_timeout = '300s'") &&
	       run_sql(db, a, "CREATE TEMP TABLE IF NOT EXISTS nonce_stage (tenant_id bigint, nonce text, "
			      "link_id bigint, click_id text, created_at timestamptz) ON COMMIT DELETE ROWS") &&
	       run_sql(db, a, "CREATE TEMP TABLE IF NOT EXISTS set_stage (ts bigint, link_id bigint, tenant_id bigint) "
			      "ON COMMIT DELETE ROWS") &&
	       run_sql(db, a, "CREATE TEMP TABLE IF NOT EXISTS set_update (ts bigint, link_id bigint, nonces text) "
			      "ON COMMIT DELETE ROWS") &&
	       run_sql(db, a, "CREATE TEMP TABLE IF NOT EXISTS click_stage ON COMMIT DELETE ROWS AS SELECT "
			      COPY_COLUMNS " FROM clicks WITH NO DATA") &&
	       run_sql(db, a, "CREATE TEMP TABLE IF NOT EXISTS pre_stage ON COMMIT DELETE ROWS AS SELECT tenant_id, "
			      "bucket, offer_id, affiliate_id, link_id, country, device, route_dest, sub1, reason, clicks, "
			      "unique_clicks, invalid_clicks FROM stats_click_pre WITH NO DATA") ? 0 : -1;
}

#define FAR_GAP_MS (10 * 60 * 1000)

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Stored clicks with created_at in [from, to) (to INT64_MAX: no end) into w. */
static int load_range(struct app *app, struct arena *a, struct dupwin *w, int64_t from, int64_t to)
{
	int64_t t = mono_ms();
	char f[24], u[24];
	fmt_i64(f, from);
	fmt_i64(u, to);
	const char *sql = to == INT64_MAX
		? "SELECT fingerprint, round(date_part('epoch', created_at) * 1000)::bigint, click_id FROM clicks "
		  "WHERE created_at >= to_timestamp($1::bigint / 1000.0)"
		: "SELECT fingerprint, round(date_part('epoch', created_at) * 1000)::bigint, click_id FROM clicks "
		  "WHERE created_at >= to_timestamp($1::bigint / 1000.0) AND created_at < to_timestamp($2::bigint / 1000.0)";
	PGresult *res = to == INT64_MAX ? db_execp(app->db, a, sql, f) : db_execp(app->db, a, sql, f, u);
	if (res == NULL)
		return -1;
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		unsigned char fp[16];
		const char *id = PQgetvalue(res, i, 2);
		if (PQgetlength(res, i, 0) != 32 || !fp_decode((const unsigned char *)PQgetvalue(res, i, 0), fp))
			continue; /* not the click path's format: never equal to a journalled fingerprint */
		if (dupwin_add(w, fp, atoll(PQgetvalue(res, i, 1)), dupwin_hash(id, strlen(id))) != 0)
			return -1;
	}
	log_debug("ingest: duplicate window%s loaded %d clicks in %lld ms",
		  w == win ? "" : " (around clicks far older than it)", n, (long long)(mono_ms() - t));
	return 0;
}

/* Makes the window cover the batch: every stored click in the 60 s before
 * each of its clicks. Loading reads `clicks` through its BRIN index on
 * created_at; it happens when a run starts and when a segment lags behind
 * what the window still keeps. The window covers one range, from a time on:
 * it grows back over the batch's clicks that lie just before it (within
 * FAR_GAP_MS), and clicks far older than that (a web host's journal
 * replayed after an outage, while the other hosts went on) are answered by
 * a window of their own (ps->far) holding only the minutes around them, not
 * everything stored between them and now. */
static int load_window(struct app *app, struct arena *a, struct pass *ps)
{
	int64_t tmin = INT64_MAX, cov;
	for (long i = 0; i < ps->nrecords; i++)
		if (ps->recs[i].ms != TIMELESS && ps->recs[i].fp_ok && ps->recs[i].ms < tmin)
			tmin = ps->recs[i].ms;
	if (tmin == INT64_MAX || !dupwin_need(win, tmin - DUPWIN_SPAN_MS, &cov))
		return 0; /* covered already, as usual */
	int64_t *t = malloc((size_t)ps->nrecords * sizeof *t);
	if (t == NULL)
		return -1;
	long n = 0;
	for (long i = 0; i < ps->nrecords; i++)
		if (ps->recs[i].ms != TIMELESS && ps->recs[i].fp_ok)
			t[n++] = ps->recs[i].ms;
	qsort(t, (size_t)n, sizeof *t, cmp_i64);
	int rc = 0;
	/* The batch's times as ranges [first - 60 s, last], ranges less than
	 * FAR_GAP_MS apart joined, newest first. */
	for (long j = n - 1; rc == 0 && j >= 0;) {
		int64_t last = t[j];
		while (j > 0 && t[j - 1] >= t[j] - DUPWIN_SPAN_MS - FAR_GAP_MS)
			j--;
		int64_t from = t[j--] - DUPWIN_SPAN_MS;
		if (from >= cov)
			continue;
		if (cov == INT64_MAX || last >= cov - FAR_GAP_MS) {
			rc = load_range(app, a, win, from, cov);
			if (rc == 0)
				dupwin_loaded(win, from);
			cov = from;
			continue;
		}
		if (ps->far == NULL && (ps->far = dupwin_new()) == NULL)
			rc = -1;
		else
			rc = load_range(app, a, ps->far, from, last + 1);
	}
	free(t);
	return rc;
}

/* The duplicate rule's answer for each record of the batch. */
static void apply_window(struct pass *ps)
{
	for (long i = 0; i < ps->nrecords; i++) {
		struct rec *r = &ps->recs[i];
		r->dup = r->dup_batch ||
			 (r->ms != TIMELESS && r->fp_ok &&
			  (dupwin_seen(win, r->fp, r->ms, r->id_hash) ||
			   (ps->far && dupwin_seen(ps->far, r->fp, r->ms, r->id_hash))));
	}
}

static void trim_window(void)
{
	if (win_newest != INT64_MIN)
		dupwin_evict(win, win_newest - WINDOW_KEEP_MS);
	win_trimmed = dupwin_entries(win);
}

/* After the commit: the stored clicks join the window, which is trimmed to
 * the last WINDOW_KEEP_MS before the newest click when it has doubled. */
static void remember(struct pass *ps)
{
	int64_t newest = INT64_MIN;
	for (long i = 0; i < ps->nrecords; i++) {
		struct rec *r = &ps->recs[i];
		if (r->ms == TIMELESS || !r->fp_ok)
			continue;
		if (r->ms > newest)
			newest = r->ms;
		if (dupwin_add(win, r->fp, r->ms, r->id_hash) != 0) {
			/* Out of memory: start over from the database next pass. */
			dupwin_free(win);
			win = dupwin_new();
			win_trimmed = 0;
			return;
		}
	}
	if (newest > win_newest)
		win_newest = newest;
	size_t n = dupwin_entries(win);
	if (n > WINDOW_MIN_TRIM && n > 2 * win_trimmed)
		trim_window();
}

static int cmp_key(const void *key, const void *elem)
{
	return memcmp(key, (*(struct rec *const *)elem)->f[F_ID], CLICKID_LEN);
}

/* The record of v (sorted by cmp_id) whose click id row i of res holds
 * (a RETURNING click_id), or NULL. */
static struct rec *returned(struct rec **v, long n, const PGresult *res, int i)
{
	if (PQgetlength(res, i, 0) != CLICKID_LEN)
		return NULL;
	struct rec **hit = bsearch(PQgetvalue(res, i, 0), v, (size_t)n, sizeof *v, cmp_key);
	return hit ? *hit : NULL;
}

/* Appends field i of r, as it is in the journal (COPY text). */
static void put_field(struct buf *b, const struct rec *r, int i)
{
	buf_append(b, r->f[i], field_len(r, i));
}

/* A share of the batch, stored in a transaction of its own on a
 * connection of its own (see store_parts). */
struct part {
	struct db *db;
	struct arena *a;
	struct rec **recs;
	long n;
	struct buf copy;   /* its clicks as `clicks` rows */
	const char *ingested_at; /* the batch's, the same in every part */
	bool loader;       /* may COPY into the day partitions (store_copied) */
	char state[6];     /* SQLSTATE of a failure */
	int rc;
};

/* Version 1 records' claims (no ts) into link_nonces, keyed by tenant,
 * link and nonce as before version 2; v holds them, k of them. A claim not
 * taken is a replay. */
static int claim_legacy(struct part *p, struct rec **v, long k)
{
	/* In key order (link, and so tenant, then nonce): the b-tree inserts
	 * then walk the index's leaves in order instead of jumping. */
	if (sort_records(v, k, BY_NONCE) != 0)
		return -1;
	struct buf b;
	buf_init(&b, p->a);
	for (long i = 0; i < k; i++) {
		struct rec *r = v[i];
		put_field(&b, r, F_TENANT);
		buf_putc(&b, '\t');
		put_field(&b, r, F_NONCE);
		buf_putc(&b, '\t');
		put_field(&b, r, F_LINK);
		buf_putc(&b, '\t');
		put_field(&b, r, F_ID);
		buf_putc(&b, '\t');
		put_field(&b, r, F_TIME);
		buf_putc(&b, '\n');
	}
	PGresult *res = NULL;
	if (buf_ok(&b) && copy_in(db_conn(p->db), "COPY nonce_stage FROM STDIN", b.p, b.len, p->state) == 0)
		res = db_exec(p->db, p->a,
			"INSERT INTO link_nonces (tenant_id, nonce, link_id, click_id, created_at) "
			"SELECT tenant_id, nonce, link_id, click_id, created_at FROM nonce_stage "
			"ON CONFLICT DO NOTHING RETURNING click_id", 0, NULL);
	if (res == NULL)
		return -1;
	qsort(v, (size_t)k, sizeof *v, cmp_id);
	for (long i = 0; i < k; i++)
		v[i]->replay = true; /* until its claim is among the ones taken */
	for (int i = 0; i < PQntuples(res); i++) {
		struct rec *r = returned(v, k, res, i);
		if (r)
			r->replay = false;
	}
	return 0;
}

static bool same_set(const struct rec *x, const struct rec *y)
{
	return x->ts == y->ts && x->link_id == y->link_id;
}

/* Claims taken here whose token was signed before legacy_until may have
 * been claimed in link_nonces by a version 1 record (before an upgrade):
 * such a claim is a replay. */
static int check_legacy(struct part *p, struct rec **v, long k, int64_t legacy_until)
{
	struct buf tenants, links, nonces;
	buf_init(&tenants, p->a);
	buf_init(&links, p->a);
	buf_init(&nonces, p->a);
	long m = 0;
	for (long i = 0; i < k; i++) {
		struct rec *r = v[i];
		if (r->replay || r->ts >= legacy_until)
			continue;
		buf_putc(&tenants, m ? ',' : '{');
		put_field(&tenants, r, F_TENANT);
		buf_putc(&links, m ? ',' : '{');
		put_field(&links, r, F_LINK);
		buf_putc(&nonces, m ? ',' : '{');
		put_field(&nonces, r, F_NONCE); /* [A-Za-z0-9_-]: no quoting in an array */
		m++;
	}
	if (m == 0)
		return 0;
	buf_putc(&tenants, '}');
	buf_putc(&links, '}');
	buf_putc(&nonces, '}');
	if (!buf_ok(&tenants) || !buf_ok(&links) || !buf_ok(&nonces))
		return -1;
	PGresult *res = db_execp(p->db, p->a,
		"SELECT n.link_id, n.nonce FROM unnest($1::bigint[], $2::bigint[], $3::text[]) u(t, l, nonce) "
		"JOIN link_nonces n ON n.tenant_id = u.t AND n.link_id = u.l AND n.nonce = u.nonce COLLATE \"C\"",
		tenants.p, links.p, nonces.p);
	if (res == NULL)
		return -1;
	for (int j = 0; j < PQntuples(res); j++) {
		int64_t link = atoll(PQgetvalue(res, j, 0));
		const char *nonce = PQgetvalue(res, j, 1);
		size_t nl = (size_t)PQgetlength(res, j, 1);
		for (long i = 0; i < k; i++)
			if (v[i]->link_id == link && field_len(v[i], F_NONCE) == nl && !memcmp(v[i]->f[F_NONCE], nonce, nl) &&
			    v[i]->ts < legacy_until)
				v[i]->replay = true;
	}
	return 0;
}

/* Version 2 records' claims into link_nonce_sets, one row per link and
 * signing second holding its claimed nonces (src/nonceset.h): a row per
 * set instead of per click. The part's sets are created when missing,
 * locked in key order (FOR UPDATE: another ingest claiming in the same set
 * waits for this one's commit), merged here and written back. A claim
 * whose nonce the set held already is a replay. v holds the claims, k of
 * them; no other part of the batch holds a claim of the same set. */
static int claim_sets(struct part *p, struct rec **v, long k)
{
	if (sort_records(v, k, BY_NONCE) != 0)
		return -1;
	struct buf keys;
	buf_init(&keys, p->a);
	long nsets = 0;
	for (long i = 0; i < k; i++) {
		if (i > 0 && same_set(v[i - 1], v[i]))
			continue;
		buf_printf(&keys, "%lld\t%lld\t", (long long)v[i]->ts, (long long)v[i]->link_id);
		put_field(&keys, v[i], F_TENANT);
		buf_putc(&keys, '\n');
		nsets++;
	}
	if (!buf_ok(&keys) || copy_in(db_conn(p->db), "COPY set_stage FROM STDIN", keys.p, keys.len, p->state) != 0 ||
	    !run_sql(p->db, p->a,
		     "INSERT INTO link_nonce_sets (ts, link_id, tenant_id, nonces) "
		     "SELECT ts, link_id, tenant_id, '' FROM set_stage ORDER BY ts, link_id ON CONFLICT DO NOTHING"))
		return -1;
	/* set_stage is in key order (COPY order), and so are the locks */
	PGresult *res = db_exec(p->db, p->a,
		"SELECT n.ts, n.link_id, n.nonces FROM set_stage s CROSS JOIN LATERAL "
		"(SELECT * FROM link_nonce_sets n WHERE n.ts = s.ts AND n.link_id = s.link_id FOR UPDATE) n "
		"ORDER BY n.ts, n.link_id", 0, NULL);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != nsets) {
		log_err("ingest: %ld nonce sets claimed, %d found", nsets, PQntuples(res));
		return -1;
	}
	struct nonce_ref *refs = malloc((size_t)k * sizeof *refs);
	bool *taken = malloc((size_t)k * sizeof *taken);
	struct buf upd, merged;
	buf_init(&upd, p->a);
	buf_init(&merged, p->a);
	int rc = refs && taken ? 0 : -1;
	for (long i = 0, row = 0; rc == 0 && i < k; row++) {
		long j = i;
		while (j < k && same_set(v[i], v[j])) {
			refs[j - i] = (struct nonce_ref){(const char *)v[j]->f[F_NONCE], field_len(v[j], F_NONCE)};
			j++;
		}
		if (atoll(PQgetvalue(res, (int)row, 0)) != v[i]->ts || atoll(PQgetvalue(res, (int)row, 1)) != v[i]->link_id) {
			log_err("ingest: nonce set %lld/%lld not found", (long long)v[i]->ts, (long long)v[i]->link_id);
			rc = -1;
			break;
		}
		merged.len = 0;
		long took = nonceset_merge(p->a, PQgetvalue(res, (int)row, 2), (size_t)PQgetlength(res, (int)row, 2), refs,
					   (size_t)(j - i), taken, &merged);
		if (took < 0) {
			rc = -1;
			break;
		}
		for (long m = i; m < j; m++)
			v[m]->replay = !taken[m - i];
		if (took > 0) {
			buf_printf(&upd, "%lld\t%lld\t", (long long)v[i]->ts, (long long)v[i]->link_id);
			buf_append(&upd, merged.p, merged.len);
			buf_putc(&upd, '\n');
		}
		i = j;
	}
	free(refs);
	free(taken);
	if (rc != 0 || !buf_ok(&upd))
		return -1;
	if (upd.len == 0)
		return 0;
	/* ANALYZE: without statistics the planner guesses the temporary table
	 * at ten times its size and hash-joins all of link_nonce_sets (a
	 * sequential scan of 31 days of sets); with them, one index probe a set. */
	if (copy_in(db_conn(p->db), "COPY set_update FROM STDIN", upd.p, upd.len, p->state) != 0 ||
	    !run_sql(p->db, p->a, "ANALYZE set_update") ||
	    !run_sql(p->db, p->a,
		     "UPDATE link_nonce_sets n SET nonces = u.nonces FROM set_update u "
		     "WHERE n.ts = u.ts AND n.link_id = u.link_id"))
		return -1;
	/* Tokens signed before the last version 1 claim (+ skew) may be there. */
	res = db_exec(p->db, p->a,
		"SELECT coalesce(extract(epoch FROM max(created_at))::bigint + 300, 0) FROM link_nonces", 0, NULL);
	return res && check_legacy(p, v, k, atoll(PQgetvalue(res, 0, 0))) == 0 ? 0 : -1;
}

/* The part's nonce claims (its batch's earliest click for each valid
 * token); a click whose claim was not taken, or that was not its token's
 * first in the batch, is a replay. Version 1 claims go first, so that a
 * version 2 claim of the same nonce finds them (a batch holding any is
 * stored in one part). */
static int claim_nonces(struct part *p)
{
	struct rec **v = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *v);
	if (v == NULL)
		return -1;
	long k1 = 0, k2 = p->n;
	for (long i = 0; i < p->n; i++) {
		struct rec *r = p->recs[i];
		r->replay = field_is(r, F_NONCE_OK, "t") && !r->nonce_first;
		if (field_is(r, F_NONCE_OK, "t") && r->nonce_first) {
			if (r->v1)
				v[k1++] = r;
			else
				v[--k2] = r;
		}
	}
	int rc = 0;
	if (k1 > 0)
		rc = claim_legacy(p, v, k1);
	if (rc == 0 && k2 < p->n)
		rc = claim_sets(p, v + k2, p->n - k2);
	free(v);
	return rc;
}

/* A replay or a duplicate is not billable, and says why unless the click
 * path gave a reason already: billable and reason as stored, in COPY text. */
static void stored_billable(const struct rec *r, const char **v, size_t *n)
{
	if (field_is(r, F_BILLABLE, "t") && (r->replay || r->dup))
		*v = "f", *n = 1;
	else
		*v = (const char *)r->f[F_BILLABLE], *n = field_len(r, F_BILLABLE);
}

static void stored_reason(const struct rec *r, const char **v, size_t *n)
{
	if (field_is(r, F_REASON, "\\N") && (r->replay || r->dup))
		*v = r->replay ? "replay" : "duplicate", *n = strlen(*v);
	else
		*v = (const char *)r->f[F_REASON], *n = field_len(r, F_REASON);
}

/* The part's clicks of one UTC day ("YYYY-MM-DD"; NULL: all of them) as
 * `clicks` rows (COPY_COLUMNS): the journal's fields with the rules
 * applied to billable, reason and is_unique, and the batch's ingested_at. */
static void copy_rows(const struct part *p, struct buf *b, const char *day)
{
	for (long i = 0; i < p->n; i++) {
		const struct rec *r = p->recs[i];
		if (day && memcmp(r->f[F_TIME], day, 10) != 0)
			continue;
		/* click_id .. nonce, as journalled */
		buf_append(b, r->f[F_ID], (size_t)(r->f[F_NONCE_OK] - r->f[F_ID]));
		const char *v;
		size_t n;
		stored_billable(r, &v, &n);
		buf_append(b, v, n);
		buf_putc(b, '\t');
		stored_reason(r, &v, &n);
		buf_append(b, v, n);
		buf_putc(b, '\t');
		/* bot_score .. destination, as journalled */
		buf_append(b, r->f[F_BOT_SCORE], (size_t)(r->f[F_DESTINATION + 1] - 1 - r->f[F_BOT_SCORE]));
		buf_puts(b, r->dup ? "\tf\t" : "\tt\t");
		buf_puts(b, p->ingested_at);
		buf_putc(b, '\n');
	}
}

/* All of the part's rows into p->copy, in click id order (the ids begin
 * with their time): the primary key's b-tree then grows at its right edge.
 * In journal order, segments written side by side make it split pages in
 * the middle: in psql, 300,000 clicks as 4 such streams took 1.9-2.0 s to
 * insert, in id order 1.2-1.5 s. */
static int build_copy(struct part *p)
{
	if (sort_records(p->recs, p->n, BY_ID) != 0)
		return -1;
	/* A row is its record with at most the reason "duplicate", is_unique
	 * and ingested_at more: reserved at once, the ~25 MB are not grown
	 * doubling by doubling (twice the memory, faulted in and copied). */
	size_t size = 0, extra = 16 + strlen(p->ingested_at);
	for (long i = 0; i < p->n; i++)
		size += p->recs[i]->n + extra;
	buf_reserve(&p->copy, size);
	copy_rows(p, &p->copy, NULL);
	return buf_ok(&p->copy) ? 0 : -1;
}

/* The part's summary rows (src/clicksum.h) into pre_stage. false when a
 * click is not in the journal's form (then the trigger on `clicks` is left
 * to it). */
static bool summarize(struct part *p)
{
	/* the keys' bucket text, CLICKSUM_BUCKET_LEN + 1 bytes a click */
	char *buckets = malloc((size_t)(p->n > 0 ? p->n : 1) * (CLICKSUM_BUCKET_LEN + 1));
	struct clicksum *sum = buckets ? clicksum_new() : NULL;
	bool ok = sum != NULL;
	for (long i = 0; ok && i < p->n; i++) {
		const struct rec *r = p->recs[i];
		char *b = buckets + i * (CLICKSUM_BUCKET_LEN + 1);
		struct clicksum_key k;
		static const int fields[CLICKSUM_KEYS] = {F_TENANT, -1, F_OFFER, F_AFFILIATE, F_LINK, F_COUNTRY,
							   F_DEVICE, F_ROUTE_DEST, F_SUB1, F_REASON};
		for (int j = 0; j < CLICKSUM_KEYS; j++)
			if (fields[j] >= 0)
				k.v[j] = (const char *)r->f[fields[j]], k.n[j] = field_len(r, fields[j]);
		stored_reason(r, &k.v[CLICKSUM_KEYS - 1], &k.n[CLICKSUM_KEYS - 1]);
		k.v[1] = b, k.n[1] = CLICKSUM_BUCKET_LEN;
		const char *billable;
		size_t bn;
		stored_billable(r, &billable, &bn);
		ok = clicksum_bucket((const char *)r->f[F_TIME], field_len(r, F_TIME), b) && bn == 1 &&
		     (billable[0] == 't' || billable[0] == 'f') &&
		     clicksum_add(sum, &k, !r->dup, billable[0] == 't') == 0;
	}
	struct buf rows;
	buf_init(&rows, p->a);
	if (ok) {
		clicksum_copy(sum, &rows);
		ok = buf_ok(&rows) &&
		     copy_in(db_conn(p->db), "COPY pre_stage FROM STDIN", rows.p, rows.len, p->state) == 0;
	}
	clicksum_free(sum);
	free(buckets);
	return ok;
}

/* The UTC days ("YYYY-MM-DD") of the part's clicks: false when a click is
 * not in the journal's form or they span more than 8 days. */
static bool part_days(const struct part *p, char days[8][11], int *ndays)
{
	*ndays = 0;
	for (long i = 0; i < p->n; i++) {
		const struct rec *r = p->recs[i];
		if (r->ms == TIMELESS)
			return false;
		int d = 0;
		while (d < *ndays && memcmp(days[d], r->f[F_TIME], 10) != 0)
			d++;
		if (d == *ndays) {
			if (*ndays == 8)
				return false;
			memcpy(days[d], r->f[F_TIME], 10);
			days[d][10] = '\0';
			(*ndays)++;
		}
	}
	return true;
}

static void partition_name(const char *day, char out[32])
{
	snprintf(out, 32, "clicks_%.4s%.2s%.2s", day, day + 5, day + 8);
}

/* After the part's rows went into the partitions of days: they are
 * partitions of `clicks` (checked after the inserts, which lock them
 * against a detach), and the part's summary rows follow them. */
static bool finish_direct(struct part *p, char days[8][11], int ndays)
{
	struct buf names;
	buf_init(&names, p->a);
	buf_putc(&names, '{');
	for (int d = 0; d < ndays; d++) {
		char part[32];
		partition_name(days[d], part);
		buf_printf(&names, "%s%s", d ? "," : "", part);
	}
	buf_putc(&names, '}');
	if (!buf_ok(&names))
		return false;
	PGresult *res = db_execp(p->db, p->a,
		"SELECT count(*) FROM pg_inherits WHERE inhparent = 'clicks'::regclass "
		"AND inhrelid IN (SELECT to_regclass(x) FROM unnest($1::text[]) x)", names.p);
	if (res == NULL || atol(db_val(res, 0, 0)) != ndays)
		return false;
	return run_sql(p->db, p->a,
		       "INSERT INTO stats_click_pre (tenant_id, bucket, offer_id, affiliate_id, link_id, country, device, "
		       "route_dest, sub1, reason, clicks, unique_clicks, invalid_clicks) SELECT * FROM pre_stage");
}

/* The part into the day partitions of `clicks` themselves, with its
 * summary rows: a third less work for PostgreSQL than through the parent
 * table, which routes each row and fills the transition table of its
 * summary trigger (bench/README, "Direct partition inserts"). Only for
 * clicks in the journal's form and partitions attached to `clicks`; false
 * when anything is otherwise, and then the caller rolls back to its
 * savepoint and stores the part through `clicks`. */
static bool store_direct(struct part *p)
{
	char days[8][11];
	int ndays;
	if (!part_days(p, days, &ndays))
		return false;
	bool ok = summarize(p);
	long inserted = 0;
	for (int d = 0; ok && d < ndays; d++) {
		char part[32], from[48];
		partition_name(days[d], part);
		snprintf(from, sizeof from, "%.10s 00:00:00+00", days[d]);
		PGresult *res = db_execp(p->db, p->a, arena_sprintf(p->a,
			"INSERT INTO %s (" COPY_COLUMNS ") SELECT " COPY_COLUMNS " FROM click_stage "
			"WHERE created_at >= $1::timestamptz AND created_at < $1::timestamptz + interval '24 hours'",
			part), from);
		ok = res != NULL;
		if (ok)
			inserted += atol(PQcmdTuples(res));
	}
	return ok && inserted == p->n && finish_direct(p, days, ndays);
}

/* Faster still (sql/099_click_loader.sql): the part's rows (p->copy, or
 * one day's of them) COPYed into the day partitions as afftok_loader,
 * which row-level security lets COPY. A row outside its partition's range
 * fails the COPY. false as store_direct; the caller then rolls back to its
 * savepoint and stages. */
static bool store_copied(struct part *p)
{
	char days[8][11];
	int ndays;
	if (!part_days(p, days, &ndays))
		return false;
	bool ok = summarize(p) && run_sql(p->db, p->a, "SET LOCAL ROLE afftok_loader");
	for (int d = 0; ok && d < ndays; d++) {
		struct buf day = p->copy;
		if (ndays > 1) {
			buf_init(&day, p->a);
			copy_rows(p, &day, days[d]);
		}
		char part[32];
		partition_name(days[d], part);
		ok = buf_ok(&day) &&
		     copy_in(db_conn(p->db), arena_sprintf(p->a, "COPY %s (" COPY_COLUMNS ") FROM STDIN", part),
			     day.p, day.len, p->state) == 0;
	}
	return ok && run_sql(p->db, p->a, "RESET ROLE") && finish_direct(p, days, ndays);
}

/* The part into `clicks`: COPY into click_stage, then one INSERT ...
 * SELECT (COPY cannot write a table under row-level security). Usually
 * without ON CONFLICT: every record past a segment's committed offset is
 * new, and the plain insert skips a separate probe of the primary key per
 * row. When that meets a stored click (23505: a batch stored before its
 * offsets moved, see store_parts, or offsets reset by hand), it runs again
 * with ON CONFLICT DO NOTHING after a rollback to a savepoint; the clicks
 * not inserted were stored before (`prior`: their events go out again from
 * the stored rows). */
static int store_clicks(struct part *p)
{
	if (build_copy(p) != 0)
		return -1;
	if (p->loader) {
		if (!run_sql(p->db, p->a, "SAVEPOINT copied"))
			return -1;
		if (store_copied(p)) {
			for (long i = 0; i < p->n; i++)
				p->recs[i]->stored = true;
			log_debug("ingest: %ld clicks copied into their day partitions", p->n);
			return run_sql(p->db, p->a, "RELEASE SAVEPOINT copied") ? 0 : -1;
		}
		p->state[0] = '\0';
		if (!run_sql(p->db, p->a, "ROLLBACK TO SAVEPOINT copied"))
			return -1;
	}
	if (copy_in(db_conn(p->db), "COPY click_stage (" COPY_COLUMNS ") FROM STDIN", p->copy.p, p->copy.len,
		    p->state) != 0 || !run_sql(p->db, p->a, "SAVEPOINT fast"))
		return -1;
	if (store_direct(p)) {
		for (long i = 0; i < p->n; i++)
			p->recs[i]->stored = true;
		return run_sql(p->db, p->a, "RELEASE SAVEPOINT fast") ? 0 : -1;
	}
	p->state[0] = '\0';
	if (!run_sql(p->db, p->a, "ROLLBACK TO SAVEPOINT fast"))
		return -1;
	log_debug("ingest: %ld clicks stored through clicks, not into its partitions", p->n);
	static const char *insert = "INSERT INTO clicks (" COPY_COLUMNS ") SELECT " COPY_COLUMNS " FROM click_stage";
	if (db_exec(p->db, p->a, insert, 0, NULL) != NULL) {
		for (long i = 0; i < p->n; i++)
			p->recs[i]->stored = true;
		return run_sql(p->db, p->a, "RELEASE SAVEPOINT fast") ? 0 : -1;
	}
	snprintf(p->state, sizeof p->state, "%s", db_sqlstate(p->db));
	if (strcmp(p->state, "23505") != 0 || !run_sql(p->db, p->a, "ROLLBACK TO SAVEPOINT fast"))
		return -1;
	p->state[0] = '\0';
	log_info("ingest: the batch holds clicks stored already; storing the new ones only");
	PGresult *res = db_exec(p->db, p->a, arena_sprintf(p->a, "%s ON CONFLICT DO NOTHING RETURNING click_id", insert),
				0, NULL);
	if (res == NULL)
		return -1;
	struct rec **v = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *v);
	if (v == NULL)
		return -1;
	memcpy(v, p->recs, (size_t)p->n * sizeof *v);
	qsort(v, (size_t)p->n, sizeof *v, cmp_id);
	for (int i = 0; i < PQntuples(res); i++) {
		struct rec *r = returned(v, p->n, res, i);
		if (r)
			r->stored = true;
	}
	free(v);
	for (long i = 0; i < p->n; i++)
		p->recs[i]->prior = !p->recs[i]->stored;
	return 0;
}

/* One part, in one transaction: its nonce claims and its clicks. */
static void *store_part(void *arg)
{
	struct part *p = arg;
	p->rc = -1;
	if (!run_sql(p->db, p->a, "BEGIN"))
		goto out;
	db_guard(p->db, true);
	bool ok = claim_nonces(p) == 0 && store_clicks(p) == 0;
	db_guard(p->db, false);
	if (ok && run_sql(p->db, p->a, "COMMIT")) {
		p->rc = 0;
		goto out;
	}
	if (p->state[0] == '\0')
		snprintf(p->state, sizeof p->state, "%s", db_sqlstate(p->db));
	run_sql(p->db, p->a, "ROLLBACK");
out:
	return NULL;
}

/* Second connection of the ingest: a large batch is stored in two parts
 * at once, one per connection (PostgreSQL runs each on its own core).
 * NULL when it cannot be used; then one part does it all. */
static struct db *db2;
static struct arena *a2;
static bool db2_ready;
#define SPLIT_MIN 20000 /* records: below this one part is enough */

/* Stores the batch's records and, in the same transaction as the first
 * part (left open on app->db for the offsets), leaves the rest to the
 * second part, which commits on its own connection first: offsets never
 * commit ahead of clicks. A second part committed before a failure of the
 * first is found stored on the next pass (store_clicks' ON CONFLICT path),
 * so nothing is stored twice and its events go out from the stored rows. */
static int store_parts(struct app *app, struct arena *a, struct pass *ps, char *state)
{
	if (ps->nrecords == 0) /* offsets only (records skipped as damaged) */
		return run_sql(app->db, a, "BEGIN") ? 0 : -1;
	struct part p[2];
	memset(p, 0, sizeof p);
	struct rec **v = malloc((size_t)(ps->nrecords > 0 ? ps->nrecords : 1) * sizeof *v);
	if (v == NULL)
		return -1;
	/* A version 1 claim must be seen by the version 2 claims of the same
	 * nonce (claim_nonces): such a batch (only just after an upgrade) is
	 * stored in one part. */
	bool legacy = false;
	for (long i = 0; i < ps->nrecords && !legacy; i++)
		legacy = ps->recs[i].v1 && field_is(&ps->recs[i], F_NONCE_OK, "t");
	int np = 1;
	if (ps->nrecords >= SPLIT_MIN && !legacy && db2 &&
	    (db2_ready || (db_ready(db2) && setup_session(db2, a2) == 0)))
		np = 2;
	db2_ready = np == 2;
	/* Every claim of a nonce set in the same part (claim_sets), chosen by
	 * a hash of the set; the other records alternate. The first part fills
	 * v from the front, the second from the back. */
	long k0 = 0, k1 = ps->nrecords;
	for (long i = 0; i < ps->nrecords; i++) {
		struct rec *r = &ps->recs[i];
		bool second = i % 2;
		if (field_is(r, F_NONCE_OK, "t"))
			second = ((uint64_t)r->ts * 0x9E3779B97F4A7C15ULL ^ (uint64_t)r->link_id * 0xC2B2AE3D27D4EB4FULL) >> 63;
		if (np == 2 && second)
			v[--k1] = r;
		else
			v[k0++] = r;
	}
	for (int k = 0; k < np; k++) {
		p[k].db = k ? db2 : app->db;
		p[k].a = k ? a2 : a;
		p[k].recs = v + (k ? k1 : 0);
		p[k].n = k ? ps->nrecords - k1 : k0;
		p[k].loader = ps->loader;
		buf_init(&p[k].copy, p[k].a);
	}
	if (np == 2)
		log_debug("ingest: %ld records in two parts (%ld and %ld)", ps->nrecords, p[0].n, p[1].n);
	/* The first part's transaction, left open; its start is every part's
	 * ingested_at (the aggregation's watermark waits for it). */
	int rc = -1;
	PGresult *now = NULL;
	if (run_sql(app->db, a, "BEGIN"))
		now = db_exec(app->db, a, "SELECT now()", 0, NULL);
	pthread_t t;
	bool second = false;
	if (now) {
		for (int k = 0; k < np; k++)
			p[k].ingested_at = PQgetvalue(now, 0, 0);
		second = np == 2 && pthread_create(&t, NULL, store_part, &p[1]) == 0;
		if (np == 2 && !second)
			store_part(&p[1]);
		db_guard(app->db, true);
		rc = claim_nonces(&p[0]) == 0 && store_clicks(&p[0]) == 0 ? 0 : -1;
		db_guard(app->db, false);
	} else if (np == 2) {
		p[1].rc = -1;
	}
	if (rc != 0 && p[0].state[0] == '\0')
		snprintf(p[0].state, sizeof p[0].state, "%s", db_sqlstate(app->db));
	if (second)
		pthread_join(t, NULL);
	if (np == 2 && p[1].rc != 0) {
		rc = -1;
		db2_ready = false; /* its session is set up again next time */
		if (p[0].state[0] == '\0' || !strncmp(p[1].state, "2", 1))
			memcpy(p[0].state, p[1].state, sizeof p[0].state);
	}
	memcpy(state, p[0].state, sizeof p[0].state);
	state[sizeof p[0].state - 1] = '\0';
	free(v);
	return rc;
}

/* Partitions for the days a batch holds, and whether afftok_loader may
 * COPY into them; each day checked once per run. */
static int ensure_days(struct app *app, struct arena *a, struct pass *ps)
{
	static char done[64][11];
	static bool ready[64];
	static int ndone;
	ps->loader = true;
	for (int i = 0; i < ps->ndays; i++) {
		int k = 0;
		while (k < ndone && strcmp(done[k], ps->days[i]) != 0)
			k++;
		if (k < ndone) {
			ps->loader = ps->loader && ready[k];
			continue;
		}
		char part[32];
		partition_name(ps->days[i], part);
		PGresult *res = db_execp(app->db, a, "SELECT afftok_ensure_partition_day('clicks', $1::date), "
				       "afftok_loader_ready($2)", ps->days[i], part);
		if (res == NULL)
			return -1;
		bool ok = db_val(res, 0, 1)[0] == 't';
		ps->loader = ps->loader && ok;
		if (ndone < 64) {
			ready[ndone] = ok;
			strcpy(done[ndone++], ps->days[i]);
		}
	}
	return 0;
}

static int save_progress(struct app *app, struct arena *a, const struct segment *s)
{
	char c[24], r[24], k[24], t[24];
	snprintf(c, sizeof c, "%lld", s->new_committed);
	snprintf(r, sizeof r, "%ld", s->records);
	snprintf(k, sizeof k, "%ld", s->corrupt + s->bad);
	snprintf(t, sizeof t, "%ld", s->torn);
	return db_execp(app->db, a,
		"INSERT INTO journal_segments (name, committed, records, corrupt, torn) "
		"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET committed = $2, "
		"records = journal_segments.records + $3, corrupt = journal_segments.corrupt + $4, "
		"torn = journal_segments.torn + $5, updated_at = now()",
		s->name, c, r, k, t) ? 0 : -1;
}

/* ---- Redis stream ---- */

/* One click event: the values of its 11 fields (not NUL-terminated). */
struct event {
	const char *v[11];
	size_t n[11];
};

/* Event i of a source: of the stored clicks re-read from PostgreSQL
 * (event_columns), or of this pass's stored records. */
typedef void event_fn(const void *src, long i, struct event *e, char *ts);

static void event_of_row(const void *src, long i, struct event *e, char *ts)
{
	const PGresult *res = src;
	(void)ts;
	for (int f = 0; f < 11; f++) {
		e->v[f] = PQgetvalue(res, (int)i, f);
		e->n[f] = (size_t)PQgetlength(res, (int)i, f);
		if (f == 6 || f == 7)
			e->v[f] = e->v[f][0] == 't' ? "1" : "0", e->n[f] = 1;
	}
}

/* The time a click id carries (8 base62 digits of Unix ms). */
static int64_t id_ms(const unsigned char *id)
{
	static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	int64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v * 62 + (strchr(digits, id[i]) - digits);
	return v;
}

static void event_field(struct event *e, int f, const struct rec *r, int i)
{
	if (field_is(r, i, "\\N"))
		e->v[f] = "", e->n[f] = 0;
	else
		e->v[f] = (const char *)r->f[i], e->n[f] = field_len(r, i);
}

static void event_of_rec(const void *src, long i, struct event *e, char *ts)
{
	const struct rec *r = ((struct rec *const *)src)[i];
	bool cut = r->replay || r->dup;
	e->v[0] = (const char *)r->f[F_ID], e->n[0] = CLICKID_LEN;
	e->v[1] = ts, e->n[1] = fmt_i64(ts, r->ms != TIMELESS ? r->ms : id_ms(r->f[F_ID]));
	event_field(e, 2, r, F_TENANT);
	event_field(e, 3, r, F_LINK);
	event_field(e, 4, r, F_OFFER);
	event_field(e, 5, r, F_AFFILIATE);
	e->v[6] = field_is(r, F_BILLABLE, "t") && !cut ? "1" : "0", e->n[6] = 1;
	e->v[7] = r->dup ? "0" : "1", e->n[7] = 1;
	if (field_is(r, F_REASON, "\\N") && cut)
		e->v[8] = r->replay ? "replay" : "duplicate", e->n[8] = strlen(e->v[8]);
	else
		event_field(e, 8, r, F_REASON);
	event_field(e, 9, r, F_COUNTRY);
	event_field(e, 10, r, F_DEVICE);
}

/* Appends a value to a packed entry; a tab, newline or backslash (never
 * in the click path's values, possible in a row written by hand) becomes
 * a space so the entry's lines and columns stay intact. */
static void put_value(struct buf *b, const char *v, size_t n)
{
	size_t at = b->len;
	buf_append(b, v, n);
	for (size_t k = at; k < b->len; k++)
		if (b->p[k] == '\t' || b->p[k] == '\n' || b->p[k] == '\\')
			b->p[k] = ' ';
}

/* XADDs the events, EVENTS_PER_ENTRY clicks to a stream entry, pipelined.
 * One entry per click cost Redis ~5 us a click, the most of any step after
 * PostgreSQL's; packed, the cost per click is a copy. An entry's fields:
 * n (its clicks), columns (the names below, tab-separated) and clicks (one
 * line per click, values tab-separated in that order). */
static int publish(struct app *app, struct arena *a, long n, event_fn *get, const void *src)
{
	if (n == 0)
		return 0;
	if (!kv_ready(app->kv))
		return -1;
	redisContext *ctx = kv_ctx(app->kv);
	static const char columns[] =
		"click_id\tts_ms\ttenant_id\tlink_id\toffer_id\taffiliate_id\tbillable\tunique\treason\tcountry\tdevice";
	struct buf blob;
	buf_init(&blob, a);
	int rc = 0, sent = 0;
	for (long i = 0; rc == 0 && i < n; i += EVENTS_PER_ENTRY) {
		long m = n - i < EVENTS_PER_ENTRY ? n - i : EVENTS_PER_ENTRY;
		blob.len = 0; /* the same memory for every entry */
		for (long k = 0; k < m; k++) {
			char ts[24];
			struct event e;
			get(src, i + k, &e, ts);
			for (int f = 0; f < 11; f++) {
				put_value(&blob, e.v[f], e.n[f]);
				if (k < m - 1 || f < 10)
					buf_putc(&blob, f < 10 ? '\t' : '\n');
			}
		}
		if (!buf_ok(&blob)) {
			rc = -1;
			break;
		}
		char count[24];
		const char *argv[] = {"XADD", STREAM_KEY, "MAXLEN", "~", STREAM_MAXLEN, "*",
				      "n", count, "columns", columns, "clicks", blob.p};
		size_t lens[12];
		fmt_i64(count, m);
		for (int k = 0; k < 11; k++)
			lens[k] = strlen(argv[k]);
		lens[11] = blob.len;
		if (redisAppendCommandArgv(ctx, 12, argv, lens) != REDIS_OK) {
			rc = -1;
			break;
		}
		sent++;
		/* Read replies in chunks so neither side's buffers grow unbounded. */
		if (sent % 16 == 0 || i + m >= n) {
			while (sent > 0) {
				void *reply = NULL;
				if (redisGetReply(ctx, &reply) != REDIS_OK) {
					rc = -1;
					break;
				}
				if (((redisReply *)reply)->type == REDIS_REPLY_ERROR)
					rc = -1;
				freeReplyObject(reply);
				sent--;
			}
		}
	}
	if (rc != 0) {
		log_warn("redis stream: publishing failed (%s); the events are sent again later",
			 ctx->errstr[0] ? ctx->errstr : "error reply");
		/* A broken connection is noticed (and dropped) by the next
		 * ordinary command; an intact one has no reply left unread. */
		if (ctx->err)
			kv_cmd(app->kv, a, "PING");
	}
	return rc;
}

static int mark_published(struct app *app, struct arena *a, struct pass *ps)
{
	for (size_t i = 0; i < ps->nseg; i++) {
		struct segment *s = &ps->seg[i];
		if (s->new_committed <= s->published)
			continue;
		char c[24];
		snprintf(c, sizeof c, "%lld", s->new_committed);
		if (!db_execp(app->db, a, "UPDATE journal_segments SET published = $2 WHERE name = $1", s->name, c))
			return -1;
		s->published = s->new_committed;
	}
	return 0;
}

/* ---- one pass ---- */

static void pass_free(struct pass *ps)
{
	for (size_t i = 0; i < ps->nseg; i++)
		free(ps->seg[i].data);
	free(ps->seg);
	free(ps->recs);
	dupwin_free(ps->far);
}

/* The one record of a refused one-record batch: kept in
 * <journal dir>/quarantine/<segment>-<offset>.rec (fsynced) and logged,
 * then its segment moves past it. Nothing is dropped silently: an operator
 * can repair and re-journal the file. */
static int quarantine(struct app *app, struct arena *a, struct pass *ps)
{
	struct segment *s = NULL;
	for (size_t i = 0; i < ps->nseg; i++)
		if (ps->seg[i].data && ps->seg[i].records == 1)
			s = &ps->seg[i];
	if (s == NULL)
		return -1;
	char dir[4096], path[4400];
	snprintf(dir, sizeof dir, "%s/quarantine", app->cfg.journal_dir);
	snprintf(path, sizeof path, "%s/%s-%lld.rec", dir, s->name, s->committed);
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	const struct rec *r = &ps->recs[0]; /* the record as journalled, without the batch columns */
	bool ok = write(fd, r->p, r->n) == (ssize_t)r->n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	close(fd);
	if (!ok)
		return -1;
	s->records = 0;
	s->bad++;
	ok = exec_ok(app, a, "BEGIN");
	for (size_t i = 0; ok && i < ps->nseg; i++)
		if (ps->seg[i].data && ps->seg[i].new_committed > ps->seg[i].committed)
			ok = save_progress(app, a, &ps->seg[i]) == 0;
	if (!ok || !exec_ok(app, a, "COMMIT")) {
		exec_ok(app, a, "ROLLBACK");
		return -1;
	}
	log_err("INGEST QUARANTINE: a journal record PostgreSQL refuses was set aside in %s", path);
	return 0;
}

/* ---- start-up ---- */

/* Loading the window file the run before left (~60 ms for 50 MB) and
 * opening and setting up the second connection (~40 ms) run beside the
 * first batch's reading instead of before it. Nothing else touches win,
 * db2 or a2 until boot_wait(). */
static struct {
	pthread_t t;
	bool running;
	const char *wpath;
	struct dupwin *loaded;
} boot;

static void *boot_run(void *arg)
{
	(void)arg;
	/* The window the previous run left, when it ended cleanly and lately;
	 * taken once (a run that dies leaves none, and the next loads from
	 * the database). */
	struct stat st;
	if (stat(boot.wpath, &st) == 0 && time(NULL) - st.st_mtime < WINDOW_FILE_MAX_AGE_S)
		boot.loaded = dupwin_load(boot.wpath);
	unlink(boot.wpath);
	if (db2 && db_ready(db2) && setup_session(db2, a2) == 0)
		db2_ready = true;
	return NULL;
}

static void boot_start(const char *wpath)
{
	boot.wpath = wpath;
	boot.loaded = NULL;
	boot.running = pthread_create(&boot.t, NULL, boot_run, NULL) == 0;
	if (!boot.running)
		boot_run(NULL);
}

/* Waits for boot_run; the window is the file's, else empty. */
static void boot_wait(void)
{
	if (boot.running) {
		pthread_join(boot.t, NULL);
		boot.running = false;
	}
	if (boot.loaded) {
		dupwin_free(win);
		win = boot.loaded;
		win_trimmed = dupwin_entries(win);
		boot.loaded = NULL;
	}
}

/* ---- reading ahead ---- */

/* While a full pass is stored (PostgreSQL's work, three quarters of a
 * pass's time), a thread lists the segments and reads and decides the next
 * batch from where this one ends, instead of PostgreSQL waiting meanwhile.
 * That batch is used only when the pass before it was stored, published
 * and marked in full, i.e. when the offsets it started from are the ones
 * journal_segments now holds; after anything else it is dropped and the
 * next pass starts from journal_segments, as without it. */
struct carried {
	char name[256];
	long long committed, published;
	bool known;
};

static struct {
	struct app *app;
	struct arena *a;        /* the thread's (its pass's empty id lists) */
	struct pass ps;
	struct carried *carry;  /* sorted by name */
	size_t ncarry;
	int rc;
	pthread_t t;
	bool running, ready;
} next;

/* Also finds a segment's name as the key (name is the first member). */
static int cmp_carried(const void *a, const void *b)
{
	return strcmp(((const struct carried *)a)->name, ((const struct carried *)b)->name);
}

static void *read_ahead(void *arg)
{
	(void)arg;
	struct pass *ps = &next.ps;
	next.rc = -1;
	if (list_segments(next.app, ps) != 0)
		return NULL;
	for (size_t i = 0; i < ps->nseg; i++) {
		struct segment *s = &ps->seg[i];
		const struct carried *c = bsearch(s->name, next.carry, next.ncarry, sizeof *next.carry, cmp_carried);
		if (c) { /* else new since: no row in journal_segments yet */
			s->known = c->known;
			s->committed = c->committed;
			s->published = c->published;
		}
	}
	/* Stored clicks still to publish mean the pass before did not end
	 * cleanly: such a batch is never used. */
	if (read_batch(ps) == 0 && ps->nrepub == 0)
		next.rc = 0;
	return NULL;
}

/* Starts reading the batch after ps, with the offsets ps leaves when it
 * succeeds. */
static void start_ahead(struct app *app, const struct pass *ps)
{
	if (next.a == NULL && (next.a = arena_new(65536)) == NULL)
		return;
	arena_reset(next.a);
	memset(&next.ps, 0, sizeof next.ps);
	buf_init(&next.ps.ids, next.a);
	buf_init(&next.ps.times, next.a);
	next.ps.limit = batch_limit;
	next.ps.ahead = true;
	next.app = app;
	next.carry = malloc((ps->nseg ? ps->nseg : 1) * sizeof *next.carry);
	if (next.carry == NULL)
		return;
	next.ncarry = ps->nseg;
	for (size_t i = 0; i < ps->nseg; i++) {
		const struct segment *s = &ps->seg[i];
		struct carried *c = &next.carry[i];
		memcpy(c->name, s->name, sizeof c->name);
		c->known = s->known || (s->scanned && s->new_committed > s->committed);
		c->committed = s->scanned ? s->new_committed : s->committed;
		c->published = s->scanned ? s->new_committed : s->published;
	}
	qsort(next.carry, next.ncarry, sizeof *next.carry, cmp_carried);
	next.running = pthread_create(&next.t, NULL, read_ahead, NULL) == 0;
	if (next.running) {
		log_debug("ingest: reading the next batch beside this one's %ld records", ps->nrecords);
	} else {
		free(next.carry);
		next.carry = NULL;
	}
}

/* Waits for the thread; keeps its batch for the next pass when use. */
static void finish_ahead(bool use)
{
	if (next.running) {
		pthread_join(next.t, NULL);
		next.running = false;
		free(next.carry);
		next.carry = NULL;
		next.ready = use && next.rc == 0;
		if (!next.ready)
			pass_free(&next.ps);
	} else if (!use && next.ready) {
		next.ready = false;
		pass_free(&next.ps);
	}
}

/* Returns the number of new clicks stored, RETRY_NOW, or -1 when
 * PostgreSQL failed. */
static long run_pass(struct app *app, struct arena *a, long *published_out)
{
	struct pass ps;
	long result = -1, nstored = 0;
	bool clean = false; /* stored, published and marked */
	struct rec **fresh = NULL; /* the clicks this pass stored, once committed */
	if (next.ready) {
		ps = next.ps; /* its id lists are empty (read_ahead) */
		next.ready = false;
		buf_init(&ps.ids, a);
		buf_init(&ps.times, a);
	} else {
		memset(&ps, 0, sizeof ps);
		buf_init(&ps.ids, a);
		buf_init(&ps.times, a);
		ps.limit = batch_limit;
		if (list_segments(app, &ps) != 0 || load_progress(app, a, &ps) != 0 || read_batch(&ps) != 0)
			goto out;
	}
	if (!buf_ok(&ps.ids) || !buf_ok(&ps.times))
		goto out;
	int64_t t_store = mono_ms();
	boot_wait();
	if (load_window(app, a, &ps) != 0)
		goto out;
	apply_window(&ps);
	if (ps.full)
		start_ahead(app, &ps);

	bool any = false;
	for (size_t i = 0; i < ps.nseg; i++)
		if (ps.seg[i].data && ps.seg[i].new_committed > ps.seg[i].committed)
			any = true;
	if (any) {
		char state[6] = "";
		int64_t t = mono_ms();
		bool ok = ensure_days(app, a, &ps) == 0 && store_parts(app, a, &ps, state) == 0;
		log_debug("ingest: %ld records stored: %lld ms", ps.nrecords, (long long)(mono_ms() - t));
		for (size_t i = 0; ok && i < ps.nseg; i++)
			if (ps.seg[i].data && ps.seg[i].new_committed > ps.seg[i].committed)
				ok = save_progress(app, a, &ps.seg[i]) == 0;
		if (ok)
			crash_point("ingest.before_commit"); /* offsets (and the first part's rows) not committed */
		if (!ok || !exec_ok(app, a, "COMMIT")) {
			exec_ok(app, a, "ROLLBACK");
			log_err("ingest: batch of %ld clicks not stored: %s", ps.nrecords, db_error(app->db));
			/* Refused for its data (class 22/23), not for a dependency:
			 * split the batch until the record at fault is alone. */
			if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2)) {
				if (ps.nrecords > 1) {
					batch_limit = ps.nrecords / 2;
					result = RETRY_NOW;
				} else if (quarantine(app, a, &ps) == 0) {
					batch_limit = app->cfg.cron_ingest_batch;
					result = RETRY_NOW;
				}
			}
			goto out;
		}
		for (size_t i = 0; i < ps.nseg; i++) {
			struct segment *s = &ps.seg[i];
			if (s->corrupt || s->bad || s->torn)
				log_warn("journal %s: skipped %ld damaged region(s), %ld bad record(s), %ld torn tail(s)",
					 s->name, s->corrupt, s->bad, s->torn);
		}
	}
	/* The stored clicks, for the events and the window. */
	if (any) {
		fresh = malloc((size_t)(ps.nrecords > 0 ? ps.nrecords : 1) * sizeof *fresh);
		if (fresh == NULL)
			goto out;
		for (long i = 0; i < ps.nrecords; i++) {
			if (ps.recs[i].stored)
				fresh[nstored++] = &ps.recs[i];
			else if (ps.recs[i].prior)
				note_id(&ps, ps.recs[i].p); /* stored before: its event again */
		}
		remember(&ps);
	}
	/* Events: the clicks just stored, and any stored earlier whose events
	 * did not make it (a run killed in between, or Redis down). */
	PGresult *old = NULL;
	if (ps.nrepub > 0 && buf_ok(&ps.ids) && buf_ok(&ps.times)) {
		buf_putc(&ps.ids, '}');
		buf_putc(&ps.times, '}');
		char *sql = arena_sprintf(a,
			"SELECT %s FROM clicks c JOIN unnest($1::text[], $2::timestamptz[]) u(id, t) "
			"ON c.click_id = u.id AND c.created_at = u.t", event_columns);
		old = db_execp(app->db, a, sql, ps.ids.p, ps.times.p);
	}
	bool pending = ps.nrepub > 0 && old == NULL;
	int64_t t_publish = mono_ms();
	if (fresh)
		crash_point("ingest.after_commit"); /* stored, events not sent */
	if (publish(app, a, old ? PQntuples(old) : 0, event_of_row, old) == 0 &&
	    publish(app, a, nstored, event_of_rec, fresh) == 0 && !pending) {
		if (fresh)
			crash_point("ingest.after_publish"); /* events sent, not marked */
		if (mark_published(app, a, &ps) != 0)
			goto out;
		*published_out += nstored + (old ? PQntuples(old) : 0);
		clean = true;
	}
	if (ps.nrecords > 0)
		log_debug("ingest: pass of %ld records: read %lld ms, batch rules %lld ms%s, stored (window, claims, "
			  "clicks, commit) %lld ms, published %lld ms",
			  ps.nrecords, (long long)ps.ms_read, (long long)ps.ms_rules,
			  ps.ahead ? " (ahead, beside the pass before)" : "", (long long)(t_publish - t_store),
			  (long long)(mono_ms() - t_publish));
	/* Closed, read to the end, stored and published: done. */
	for (size_t i = 0; i < ps.nseg; i++) {
		struct segment *s = &ps.seg[i];
		if (!s->scanned || !s->closed || s->new_committed < s->size || s->published < s->size)
			continue;
		crash_point("ingest.before_unlink");
		if (unlink(s->path) != 0 && errno != ENOENT) {
			log_err("journal %s: cannot delete: %s", s->path, strerror(errno));
			continue;
		}
		db_execp(app->db, a, "DELETE FROM journal_segments WHERE name = $1", s->name);
	}
	result = nstored;
	if (fresh && ps.nrecords > nstored)
		log_info("ingest: %ld records were stored already (replayed segment)", ps.nrecords - nstored);
out:
	finish_ahead(clean);
	free(fresh);
	pass_free(&ps);
	return result;
}

int job_ingest(struct app *app, struct arena *a, int argc, char **argv)
{
	bool once = argc > 1 && !strcmp(argv[1], "--once");
	char lock[4096];
	snprintf(lock, sizeof lock, "%s/.ingest.lock", app->cfg.journal_dir);
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (lfd < 0) {
		log_err("%s: %s", lock, strerror(errno));
		return EX_CANTCREAT;
	}
	/* By hand (--once) wait for a running ingest; from cron just leave. */
	if (flock(lfd, once ? LOCK_EX : LOCK_EX | LOCK_NB) != 0) {
		close(lfd);
		return EX_OK;
	}
	/* A pass allocates and frees ~100 MB (segments read, records, rows):
	 * kept in the heap between passes instead of mapped and unmapped each
	 * time, they are not faulted in and zeroed again (perf: page faults and
	 * clear_page were a tenth of the job's CPU). */
	mallopt(M_MMAP_THRESHOLD, 512 << 20);
	mallopt(M_TRIM_THRESHOLD, 1024 << 20);
	/* One heap for the threads too: the batch read ahead (read_ahead) is
	 * freed by the main thread, and a thread's own arena would give its
	 * pages back (and fault them in again) pass after pass. */
	mallopt(M_ARENA_MAX, 1);
	char wpath[4200];
	snprintf(wpath, sizeof wpath, "%s/.ingest-window", app->cfg.journal_dir);
	win = dupwin_new();
	win_trimmed = 0;
	if (win == NULL) {
		close(lfd);
		return EX_OSERR;
	}
	const struct config *c = &app->cfg;
	db2 = db_new(c->db_conninfo, (int)c->db_connect_timeout_s, (int)c->db_statement_timeout_ms, "afftok-ingest");
	a2 = arena_new(1 << 20);
	db2_ready = false;
	if (db2 == NULL || a2 == NULL) {
		db_free(db2);
		arena_free(a2);
		db2 = NULL;
		a2 = NULL;
	} else {
		db_set_deadline(db2, 15 * 60 * 1000); /* as app->db's (cron/main.c) */
	}
	batch_limit = c->cron_ingest_batch;
	boot_start(wpath);
	int rc = EX_OK;
	long total = 0, published = 0;
	int64_t t0 = mono_ms(), deadline = t0 + app->cfg.cron_ingest_loop_s * 1000;
	bool ready = false;
	for (;;) {
		long n = -1;
		if (db_ready(app->db) && (ready || setup_session(app->db, a) == 0)) {
			ready = true;
			n = run_pass(app, a, &published);
		}
		boot_wait(); /* before a2 is reset, or win replaced below */
		arena_reset(a);
		if (a2)
			arena_reset(a2);
		if (n == RETRY_NOW)
			continue;
		if (n < 0) {
			ready = false; /* a new connection needs its temp table again */
			/* A commit whose answer was lost may have stored clicks the
			 * window does not hold: it loads again from the database. */
			struct dupwin *fresh_win = dupwin_new();
			if (fresh_win) {
				dupwin_free(win);
				win = fresh_win;
				win_trimmed = 0;
			}
			rc = EX_TEMPFAIL;
			if (once)
				break;
		} else {
			rc = EX_OK;
			total += n;
		}
		if (once ? n <= 0 : mono_ms() >= deadline)
			break;
		if (n <= 0)
			usleep(POLL_MS * 1000);
	}
	int64_t ms = mono_ms() - t0;
	if (total > 0)
		log_info("ingested %ld clicks in %lld ms (%.0f/s), %ld events published", total, (long long)ms,
			 ms ? total * 1000.0 / ms : 0.0, published);
	trim_window();
	if (dupwin_save(win, wpath) != 0)
		log_warn("ingest: cannot keep the duplicate window in %s (the next run loads it from the database)",
			 wpath);
	dupwin_free(win);
	win = NULL;
	finish_ahead(false);
	arena_free(next.a);
	next.a = NULL;
	db_free(db2);
	arena_free(a2);
	db2 = NULL;
	a2 = NULL;
	close(lfd);
	return rc;
}
