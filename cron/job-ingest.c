/* afftokctl ingest [--once]: loads the click journal into PostgreSQL.
 *
 * Each pass reads what is new in every segment (open ones up to their last
 * complete record), and in ONE transaction: COPYs the records into a temp
 * staging table, decides replay (link_nonces) and duplicate (same
 * fingerprint within 60 s) and inserts into clicks in one statement
 * (store_batch: clicks stored already are skipped, so a replayed segment
 * stores nothing twice), and advances each segment's `committed` offset
 * (journal_segments). Then it
 * publishes the new clicks to the Redis stream afftok:clicks and advances
 * `published`. A closed segment read to its end, committed and published is
 * deleted. Killed at any point, the next run resumes from the committed
 * offsets: nothing is lost and nothing is inserted twice (events whose
 * publication was cut short are sent again: the stream is at-least-once,
 * each event carries its click id).
 *
 * Runs for [cron] ingest_loop_s seconds (polling), or with --once until a
 * pass finds nothing new. An flock on <journal dir>/.ingest.lock keeps runs
 * from overlapping even when started by hand. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "crashpoint.h"
#include "db.h"
#include "journal.h"
#include "jobs.h"
#include "kv.h"
#include "log.h"
#include "util.h"

#define STREAM_KEY "afftok:clicks"
#define STREAM_MAXLEN "500000"
#define BATCH_BYTES (48L << 20)  /* journal bytes read per pass */
#define BATCH_RECORDS 200000
#define POLL_MS 200
#define RETRY_NOW (-2) /* run_pass: a batch was refused for its data; split it and go on */

/* Records per batch: BATCH_RECORDS, halved while batches are refused for
 * their data (a record PostgreSQL will not take), down to the one record
 * that is quarantined; then back to full batches. */
static long batch_limit = BATCH_RECORDS;
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
	bool dup_batch;               /* an earlier click of the batch has its fingerprint within 60 s */
	bool nonce_first;             /* the batch's earliest click holding its nonce */
};

struct pass {
	struct segment *seg;
	size_t nseg, cap;
	struct rec *recs; /* the new records, in journal order */
	long nrecords, rcap;
	struct buf copy;  /* COPY text of the new records, with the batch rules' columns */
	/* click ids and times of already committed, unpublished records */
	struct buf ids, times;
	long nrepub;
	char days[16][11]; /* UTC days of the new records */
	int ndays;
};

static const char *stage_columns =
	"v, click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, ip, user_agent, referer, "
	"sub1, sub2, sub3, sub4, sub5, params, country, asn, device, os, browser, fingerprint, signed, "
	"nonce, nonce_ok, billable, reason, bot_score, route_dest, destination, dup_batch, nonce_first";

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

/* A record is one COPY line of CLICK_RECORD_FIELDS fields starting with the
 * version; anything else (a record of a newer version, or damage that a
 * checksum missed) is skipped and counted. */
static bool record_ok(const unsigned char *r, size_t n)
{
	size_t vl = strlen(CLICK_RECORD_VERSION);
	if (n < vl + 1 || memcmp(r, CLICK_RECORD_VERSION "\t", vl + 1) != 0)
		return false;
	int tabs = 0;
	for (size_t i = 0; i < n; i++) {
		if (r[i] == '\t')
			tabs++;
		else if (r[i] == '\n' || r[i] == '\r' || r[i] == '\0')
			return false;
	}
	if (tabs != CLICK_RECORD_FIELDS - 1)
		return false;
	const unsigned char *id = r + vl + 1;
	for (int i = 0; i < CLICKID_LEN; i++) {
		unsigned char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return false;
	}
	return id[CLICKID_LEN] == '\t';
}

/* Appends the record's click id and created_at to the id/time lists. */
static void note_id(struct pass *ps, const unsigned char *r)
{
	const char *id = (const char *)r + strlen(CLICK_RECORD_VERSION) + 1;
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
	const char *t = (const char *)r + strlen(CLICK_RECORD_VERSION) + 1 + CLICKID_LEN + 1;
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
enum { F_ID = 1, F_TIME = 2, F_TENANT = 3, F_LINK = 4, F_FINGERPRINT = 21, F_NONCE = 23, F_NONCE_OK = 24 };

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
	static const char shape[] = "dddd-dd-dd dd:dd:dd.ddd+00";
	if (n != sizeof shape - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (shape[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != (unsigned char)shape[i])
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

static int cmp_nonce(const void *a, const void *b)
{
	const struct rec *x = *(struct rec *const *)a, *y = *(struct rec *const *)b;
	int c = field_cmp(x, y, F_TENANT);
	if (c == 0)
		c = field_cmp(x, y, F_LINK);
	if (c == 0)
		c = field_cmp(x, y, F_NONCE);
	if (c == 0)
		c = (x->ms > y->ms) - (x->ms < y->ms);
	return c ? c : memcmp(x->f[F_ID], y->f[F_ID], CLICKID_LEN);
}

static bool same_nonce(const struct rec *x, const struct rec *y)
{
	return !field_cmp(x, y, F_TENANT) && !field_cmp(x, y, F_LINK) && !field_cmp(x, y, F_NONCE);
}

/* The batch's part of the rules, decided here rather than by sorting the
 * whole staging rows in PostgreSQL (two sorts of ~400-byte rows were the
 * largest cost after the index inserts):
 *   dup_batch    the click before it with the same fingerprint (by time,
 *                then id) is at most 60 s older;
 *   nonce_first  it is the earliest (by time, then id) of the batch's
 *                clicks with a valid signature holding its tenant, link and
 *                nonce, i.e. the one that claims the nonce.
 * What was stored by earlier batches is looked up by the INSERT. Then the
 * COPY text: each record with the two columns appended. Returns -1 when
 * out of memory. */
static int decide_batch(struct pass *ps)
{
	long n = ps->nrecords;
	struct rec **v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
	if (v == NULL)
		return -1;
	for (long i = 0; i < n; i++)
		v[i] = &ps->recs[i];
	qsort(v, (size_t)n, sizeof *v, cmp_fingerprint);
	for (long i = 1; i < n; i++)
		v[i]->dup_batch = !field_cmp(v[i - 1], v[i], F_FINGERPRINT) && v[i - 1]->ms != TIMELESS &&
				  v[i]->ms != TIMELESS && v[i - 1]->ms >= v[i]->ms - 60000;
	long k = 0;
	for (long i = 0; i < n; i++) {
		struct rec *r = &ps->recs[i];
		if (field_len(r, F_NONCE_OK) != 1 || r->f[F_NONCE_OK][0] != 't')
			continue;
		if (r->ms == TIMELESS)
			r->nonce_first = true; /* the claim is decided by link_nonces' key alone */
		else
			v[k++] = r;
	}
	qsort(v, (size_t)k, sizeof *v, cmp_nonce);
	for (long i = 0; i < k; i++)
		v[i]->nonce_first = i == 0 || !same_nonce(v[i - 1], v[i]);
	free(v);
	for (long i = 0; i < n; i++) {
		const struct rec *r = &ps->recs[i];
		buf_append(&ps->copy, r->p, r->n);
		buf_puts(&ps->copy, r->dup_batch ? "\tt" : "\tf");
		buf_puts(&ps->copy, r->nonce_first ? "\tt\n" : "\tf\n");
	}
	return buf_ok(&ps->copy) ? 0 : -1;
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

/* Adds a new record to the batch (room() was called). A created_at not in
 * click_record's format (a writer changed without this reader) is still
 * stored, as PostgreSQL reads it: such a click takes no part in the batch's
 * own rules (it is still checked against stored clicks and its nonce claim
 * is decided by link_nonces' key), and it is logged. */
static void add_record(struct pass *ps, const unsigned char *p, size_t n)
{
	struct rec *r = &ps->recs[ps->nrecords];
	memset(r, 0, sizeof *r);
	r->p = p;
	r->n = n;
	int k = 0;
	r->f[k++] = p;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\t')
			r->f[k++] = p + i + 1;
	r->f[k] = p + n + 1; /* record_ok checked there are CLICK_RECORD_FIELDS */
	if (!parse_time(r->f[F_TIME], field_len(r, F_TIME), &r->ms)) {
		r->ms = TIMELESS;
		log_warn("ingest: click %.*s: created_at '%.*s' is not in the journal's format", CLICKID_LEN,
			 (const char *)r->f[F_ID], (int)field_len(r, F_TIME), (const char *)r->f[F_TIME]);
	}
	ps->nrecords++;
}

static void scan_segment(struct pass *ps, struct segment *s)
{
	long long len = s->size - s->published;
	struct journal_scan sc;
	journal_scan_init(&sc, s->data, (size_t)len, s->closed);
	const unsigned char *rec;
	size_t n;
	s->new_committed = s->committed;
	while (ps->nrecords < batch_limit && room(ps) && journal_scan_next(&sc, &rec, &n)) {
		long long start = s->published + (long long)sc.pos - (long long)(n + JOURNAL_HDR);
		if (!record_ok(rec, n)) {
			if (start >= s->committed)
				s->bad++;
			continue;
		}
		if (start < s->committed) {
			note_id(ps, rec); /* stored, not yet published */
			continue;
		}
		add_record(ps, rec, n);
		note_day(ps, rec);
		s->records++;
	}
	long long end = s->published + (long long)sc.consumed;
	if (end > s->new_committed)
		s->new_committed = end;
	s->corrupt = sc.corrupt;
	s->torn = sc.torn;
	if (s->new_committed < s->size)
		s->closed = false; /* stopped early (batch full): not done yet */
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

static bool exec_ok(struct app *app, struct arena *a, const char *sql)
{
	return db_exec(app->db, a, sql, 0, NULL) != NULL;
}

static int setup_session(struct app *app, struct arena *a)
{
	/* The batch statements look expensive to the planner, and JIT
	 * compiling them costs more (300 ms a statement) than running them;
	 * the window's sort of a whole batch fits in memory. */
	return exec_ok(app, a, "SET jit = off") && exec_ok(app, a, "SET work_mem = '256MB'") && exec_ok(app, a,
		"CREATE TEMP TABLE IF NOT EXISTS click_stage ("
		"v smallint, click_id text, created_at timestamptz, tenant_id bigint, link_id bigint, "
		"offer_id bigint, affiliate_id bigint, ip inet, user_agent text, referer text, sub1 text, "
		"sub2 text, sub3 text, sub4 text, sub5 text, params jsonb, country char(2), asn integer, "
		"device text, os text, browser text, fingerprint text, signed boolean, nonce text, "
		"nonce_ok boolean, billable boolean, reason text, bot_score smallint, route_dest text, "
		"destination text, dup_batch boolean, nonce_first boolean, "
		"is_unique boolean NOT NULL DEFAULT true) ON COMMIT DELETE ROWS") ? 0 : -1;
}

/* The rules decided once, here, in ONE statement that stores the clicks
 * of the staging table (with the batch's part decided by decide_batch):
 *   nonces     a nonce counts once: the earliest click holding it (by time,
 *              then id) claims it in link_nonces; a click whose nonce went to
 *              another click (in this batch or an earlier one) is a replay.
 *              Which clicks won comes from the claim's RETURNING, so
 *              link_nonces (a day of nonces) is never read as a whole.
 *   duplicate  an earlier click with the same fingerprint within 60 s: the
 *              previous one in the batch (dup_batch), else one already
 *              stored, by index. OFFSET 0 keeps the subquery from being
 *              flattened, so the lookup runs once a click and not once for
 *              each of the three places that use it.
 *
 * on_conflict: whether rows stored already are skipped (ON CONFLICT DO
 * NOTHING). Without it the insert costs less (no speculative insertion, no
 * separate probe of the primary key per row); a batch holding a stored click
 * then fails with 23505 and is run again with it (see store_batch). */
static PGresult *insert_clicks(struct app *app, struct arena *a, bool on_conflict)
{
	const char *sql = arena_sprintf(a,
		"WITH won AS ("
		"  INSERT INTO link_nonces (tenant_id, nonce, link_id, click_id, created_at) "
		"  SELECT tenant_id, nonce, link_id, click_id, created_at FROM click_stage "
		"  WHERE nonce_ok AND nonce_first ON CONFLICT DO NOTHING RETURNING click_id) "
		"INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, ip, "
		"user_agent, referer, sub1, sub2, sub3, sub4, sub5, params, country, asn, device, os, browser, "
		"fingerprint, signed, nonce, billable, reason, bot_score, is_unique, route_dest, destination) "
		"SELECT click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, ip, user_agent, "
		"referer, sub1, sub2, sub3, sub4, sub5, params, country, asn, device, os, browser, "
		"fingerprint, signed, nonce, billable AND NOT replay AND NOT dup, "
		"coalesce(reason, CASE WHEN replay THEN 'replay' WHEN dup THEN 'duplicate' END), "
		"bot_score, NOT dup, route_dest, destination FROM ("
		"  SELECT d.*, CASE WHEN dup_batch THEN true "
		"  ELSE EXISTS (SELECT 1 FROM clicks c WHERE c.fingerprint = d.fingerprint "
		"    AND c.created_at BETWEEN d.created_at - interval '60 seconds' AND d.created_at "
		"    AND c.click_id <> d.click_id) END AS dup "
		"  FROM (SELECT s.*, (s.nonce_ok AND w.click_id IS NULL) AS replay "
		"    FROM click_stage s LEFT JOIN won w ON s.nonce_ok AND w.click_id = s.click_id) d "
		"  OFFSET 0"
		") x %s RETURNING %s", on_conflict ? "ON CONFLICT DO NOTHING" : "", event_columns);
	return db_exec(app->db, a, sql, 0, NULL);
}

/* The batch's clicks into `clicks`: first without ON CONFLICT (the usual
 * case: every record past a segment's committed offset is new, because the
 * offset moves in the same transaction as its clicks); when that meets a
 * stored click (23505: a segment replayed after its offsets were lost or
 * reset by hand), the same statement again with ON CONFLICT DO NOTHING,
 * after a rollback to a savepoint so the nonce claims are made once. */
static PGresult *store_batch(struct app *app, struct arena *a)
{
	if (!exec_ok(app, a, "SAVEPOINT fast"))
		return NULL;
	PGresult *res = insert_clicks(app, a, false);
	if (res)
		return exec_ok(app, a, "RELEASE SAVEPOINT fast") ? res : NULL;
	if (strcmp(db_sqlstate(app->db), "23505") != 0 || !exec_ok(app, a, "ROLLBACK TO SAVEPOINT fast"))
		return NULL;
	log_info("ingest: the batch holds clicks stored already; storing the new ones only");
	return insert_clicks(app, a, true);
}

/* Partitions for the days a batch holds; each day checked once per run. */
static int ensure_days(struct app *app, struct arena *a, struct pass *ps)
{
	static char done[64][11];
	static int ndone;
	for (int i = 0; i < ps->ndays; i++) {
		bool known = false;
		for (int k = 0; k < ndone && !known; k++)
			known = !strcmp(done[k], ps->days[i]);
		if (known)
			continue;
		if (!db_execp(app->db, a, "SELECT afftok_ensure_partition_day('clicks', $1::date)", ps->days[i]))
			return -1;
		if (ndone < 64)
			strcpy(done[ndone++], ps->days[i]);
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

/* XADDs one event per row (event_columns), pipelined. */
static int publish(struct app *app, struct arena *a, PGresult *res)
{
	int n = res ? PQntuples(res) : 0;
	if (n == 0)
		return 0;
	if (!kv_ready(app->kv))
		return -1;
	redisContext *ctx = kv_ctx(app->kv);
	static const char *names[] = {"click_id", "ts_ms", "tenant_id", "link_id", "offer_id",
				      "affiliate_id", "billable", "unique", "reason", "country", "device"};
	int rc = 0, sent = 0;
	for (int i = 0; i < n; i++) {
		const char *argv[6 + 2 * 11];
		int ac = 0;
		argv[ac++] = "XADD";
		argv[ac++] = STREAM_KEY;
		argv[ac++] = "MAXLEN";
		argv[ac++] = "~";
		argv[ac++] = STREAM_MAXLEN;
		argv[ac++] = "*";
		for (int f = 0; f < 11; f++) {
			const char *v = PQgetvalue(res, i, f);
			if (f == 6 || f == 7)
				v = v[0] == 't' ? "1" : "0";
			argv[ac++] = names[f];
			argv[ac++] = v;
		}
		if (redisAppendCommandArgv(ctx, ac, argv, NULL) != REDIS_OK) {
			rc = -1;
			break;
		}
		sent++;
		/* Read replies in chunks so neither side's buffers grow unbounded. */
		if (sent % 1000 == 0 || i == n - 1) {
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
			if (rc != 0)
				break;
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

/* Returns the number of new clicks stored, RETRY_NOW, or -1 when
 * PostgreSQL failed. */
static long run_pass(struct app *app, struct arena *a, long *published_out)
{
	struct pass ps;
	memset(&ps, 0, sizeof ps);
	buf_init(&ps.copy, a);
	buf_init(&ps.ids, a);
	buf_init(&ps.times, a);
	long result = -1;
	if (list_segments(app, &ps) != 0 || load_progress(app, a, &ps) != 0)
		goto out;
	long long budget = BATCH_BYTES;
	for (size_t i = 0; i < ps.nseg && budget > 0; i++) {
		struct segment *s = &ps.seg[i];
		if (read_segment(s, budget) != 0)
			continue;
		if (s->data) {
			budget -= s->size - s->published;
			scan_segment(&ps, s);
		}
	}
	if (decide_batch(&ps) != 0 || !buf_ok(&ps.ids) || !buf_ok(&ps.times))
		goto out;

	bool any = false;
	for (size_t i = 0; i < ps.nseg; i++)
		if (ps.seg[i].data && ps.seg[i].new_committed > ps.seg[i].committed)
			any = true;
	PGresult *fresh = NULL;
	if (any) {
		if (!exec_ok(app, a, "BEGIN") || !exec_ok(app, a, "SET LOCAL statement_timeout = '300s'"))
			goto out;
		bool ok = true;
		char state[6] = "";
		if (ps.nrecords > 0) {
			char *sql = arena_sprintf(a, "COPY click_stage (%s) FROM STDIN", stage_columns);
			int64_t t = mono_ms();
			db_guard(app->db, true);
			ok = copy_in(db_conn(app->db), sql, ps.copy.p, ps.copy.len, state) == 0;
			db_guard(app->db, false);
			log_debug("ingest: COPY %ld records: %lld ms", ps.nrecords, (long long)(mono_ms() - t));
			t = mono_ms();
			ok = ok && ensure_days(app, a, &ps) == 0 && (fresh = store_batch(app, a)) != NULL;
			log_debug("ingest: insert: %lld ms", (long long)(mono_ms() - t));
			if (!ok && state[0] == '\0')
				snprintf(state, sizeof state, "%s", db_sqlstate(app->db));
		}
		for (size_t i = 0; ok && i < ps.nseg; i++)
			if (ps.seg[i].data && ps.seg[i].new_committed > ps.seg[i].committed)
				ok = save_progress(app, a, &ps.seg[i]) == 0;
		if (ok)
			crash_point("ingest.before_commit"); /* rows and offsets written, not committed */
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
					batch_limit = BATCH_RECORDS;
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
	/* Events: the clicks just stored, and any stored earlier whose events
	 * did not make it (a run killed in between, or Redis down). */
	PGresult *old = NULL;
	if (ps.nrepub > 0) {
		buf_putc(&ps.ids, '}');
		buf_putc(&ps.times, '}');
		char *sql = arena_sprintf(a,
			"SELECT %s FROM clicks c JOIN unnest($1::text[], $2::timestamptz[]) u(id, t) "
			"ON c.click_id = u.id AND c.created_at = u.t", event_columns);
		old = db_execp(app->db, a, sql, ps.ids.p, ps.times.p);
	}
	bool pending = ps.nrepub > 0 && old == NULL;
	if (fresh)
		crash_point("ingest.after_commit"); /* stored, events not sent */
	if (publish(app, a, old) == 0 && publish(app, a, fresh) == 0 && !pending) {
		if (fresh)
			crash_point("ingest.after_publish"); /* events sent, not marked */
		if (mark_published(app, a, &ps) != 0)
			goto out;
		*published_out += (fresh ? PQntuples(fresh) : 0) + (old ? PQntuples(old) : 0);
	}
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
	result = fresh ? PQntuples(fresh) : 0;
	if (fresh && ps.nrecords > PQntuples(fresh))
		log_info("ingest: %ld records were stored already (replayed segment)",
			 ps.nrecords - PQntuples(fresh));
out:
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
	int rc = EX_OK;
	long total = 0, published = 0;
	int64_t t0 = mono_ms(), deadline = t0 + app->cfg.cron_ingest_loop_s * 1000;
	bool ready = false;
	for (;;) {
		long n = -1;
		if (db_ready(app->db) && (ready || setup_session(app, a) == 0)) {
			ready = true;
			n = run_pass(app, a, &published);
		}
		arena_reset(a);
		if (n == RETRY_NOW)
			continue;
		if (n < 0) {
			ready = false; /* a new connection needs its temp table again */
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
	close(lfd);
	return rc;
}
