/* journal: writer round trip through real segment files, rotation, torn
 * tails at every length, random byte flips (every record before the damage
 * recovered, none invented), open-segment reading. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "unit.h"

#define NREC 200

static char recs[NREC][300];

static void make_records(void)
{
	for (int i = 0; i < NREC; i++) {
		int n = snprintf(recs[i], sizeof recs[i], "1\trecord %d\t", i);
		for (int k = 0; k < i % 97; k++)
			recs[i][n++] = (char)('a' + (i + k) % 26);
		recs[i][n] = '\0';
	}
}

static char *tmpdir(void)
{
	static char d[64];
	strcpy(d, "/tmp/test-journal.XXXXXX");
	return mkdtemp(d);
}

/* Reads every file of dir with suffix into one buffer, in name order. */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = malloc((size_t)n + 1);
	*len = fread(b, 1, (size_t)n, f);
	fclose(f);
	return b;
}

/* Scans buf and checks the records returned are recs[first..] in order;
 * returns how many, or -1 when one was not an original (invented). */
static int scan_check(const unsigned char *buf, size_t len, bool closed, int first, struct journal_scan *sc)
{
	journal_scan_init(sc, buf, len, closed);
	const unsigned char *r;
	size_t n;
	int got = 0, next = first;
	while (journal_scan_next(sc, &r, &n)) {
		/* Records come in order; damage may skip some but never makes one up. */
		int k = next;
		while (k < NREC && !(strlen(recs[k]) == n && !memcmp(recs[k], r, n)))
			k++;
		if (k == NREC)
			return -1;
		next = k + 1;
		got++;
	}
	return got;
}

static size_t build(unsigned char *out, int from, int to, size_t *ends)
{
	size_t off = 0;
	for (int i = from; i < to; i++) {
		off += journal_frame(out + off, recs[i], strlen(recs[i]));
		if (ends)
			ends[i - from] = off;
	}
	return off;
}

static void t_crc(void)
{
	/* The CRC32C check value. */
	CU_ASSERT_EQUAL(crc32c(0, "123456789", 9), 0xE3069283u);
	/* RFC 3720 B.4 vectors: whole 8-byte words, as the instruction path reads them. */
	unsigned char v[32];
	memset(v, 0, sizeof v);
	CU_ASSERT_EQUAL(crc32c(0, v, 32), 0x8A9136AAu);
	memset(v, 0xFF, sizeof v);
	CU_ASSERT_EQUAL(crc32c(0, v, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		v[i] = (unsigned char)i;
	CU_ASSERT_EQUAL(crc32c(0, v, 32), 0x46DD794Eu);
	/* Chained over every split point, unaligned starts included. */
	for (size_t cut = 0; cut <= 32; cut++)
		CU_ASSERT_EQUAL(crc32c(crc32c(0, v, cut), v + cut, 32 - cut), 0x46DD794Eu);
}

static void t_writer_round_trip(void)
{
	make_records();
	char *dir = tmpdir();
	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	CU_ASSERT_PTR_NULL(journal_open(dir, "test", "sometimes", 100, 4096));
	struct journal *j = journal_open(dir, "te-st", "always", 100, 8192);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	for (int i = 0; i < NREC; i++)
		CU_ASSERT_EQUAL(journal_append(j, recs[i], strlen(recs[i])), 0);
	struct journal_stats st;
	journal_get_stats(j, &st);
	CU_ASSERT_EQUAL(st.records, NREC);
	CU_ASSERT_EQUAL(st.lost, 0);
	CU_ASSERT(st.segments > 1); /* rotated by size */
	CU_ASSERT_EQUAL(st.fsyncs >= NREC, true);
	CU_ASSERT_EQUAL(journal_append(j, "", 0), -1);
	journal_close(j);
	/* All segments are closed (.rdy) now; reading them in order gives every
	 * record once. Names: te_st-<pid>-<ms>-<seq>.rdy */
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	int total = 0, segs = 0;
	/* seq order = numeric order of the last field; sort by it */
	char *paths[256];
	int seqs[256];
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (strstr(nm, ".rdy")) {
			CU_ASSERT_EQUAL(strncmp(nm, "te_st-", 6), 0);
			const char *dash = strrchr(nm, '-');
			seqs[segs] = atoi(dash + 1);
			paths[segs] = malloc(strlen(dir) + strlen(nm) + 2);
			sprintf(paths[segs], "%s/%s", dir, nm);
			segs++;
		}
		CU_ASSERT_PTR_NULL(strstr(nm, ".jnl"));
		free(names[i]);
	}
	free(names);
	int next = 0;
	for (int s = 0; s < segs; s++) {
		int k = 0;
		for (int t = 0; t < segs; t++)
			if (seqs[t] == s)
				k = t;
		size_t len;
		unsigned char *b = slurp(paths[k], &len);
		struct journal_scan sc;
		int got = scan_check(b, len, true, next, &sc);
		CU_ASSERT(got > 0);
		CU_ASSERT_EQUAL(sc.corrupt + sc.torn, 0);
		CU_ASSERT_EQUAL(sc.consumed, len);
		next += got;
		total += got;
		free(b);
	}
	CU_ASSERT_EQUAL(total, NREC);
	for (int s = 0; s < segs; s++) {
		unlink(paths[s]);
		free(paths[s]);
	}
	rmdir(dir);
}

static void t_torn_tails(void)
{
	make_records();
	static unsigned char buf[NREC * 400];
	size_t ends[NREC];
	size_t len = build(buf, 0, 50, ends);
	/* Every truncation point: exactly the complete records come back. */
	for (size_t cut = 0; cut <= len; cut++) {
		int complete = 0;
		while (complete < 50 && ends[complete] <= cut)
			complete++;
		struct journal_scan sc;
		int got = scan_check(buf, cut, true, 0, &sc);
		CU_ASSERT_EQUAL(got, complete);
		CU_ASSERT_EQUAL(sc.consumed, cut); /* closed: the tail is dealt with */
		CU_ASSERT_EQUAL(sc.torn, cut > (complete ? ends[complete - 1] : 0) ? 1 : 0);
		CU_ASSERT_EQUAL(sc.corrupt, 0);
		/* Open segment: stops before the partial record, counts nothing. */
		got = scan_check(buf, cut, false, 0, &sc);
		CU_ASSERT_EQUAL(got, complete);
		CU_ASSERT_EQUAL(sc.consumed, complete ? ends[complete - 1] : 0);
		CU_ASSERT_EQUAL(sc.torn + sc.corrupt, 0);
	}
}

static void t_byte_flips(void)
{
	make_records();
	static unsigned char clean[NREC * 400], buf[NREC * 400];
	size_t ends[NREC];
	size_t len = build(clean, 0, NREC, ends);
	srand(777);
	long invented = 0, lost_before = 0, recovered_after = 0;
	for (int round = 0; round < 3000; round++) {
		memcpy(buf, clean, len);
		size_t first = len;
		int flips = 1 + rand() % 4;
		for (int f = 0; f < flips; f++) {
			size_t pos = (size_t)rand() % len;
			unsigned char old = buf[pos];
			buf[pos] ^= (unsigned char)(1 + rand() % 255);
			if (buf[pos] != old && pos < first)
				first = pos;
		}
		size_t cut = len;
		if (rand() % 2)
			cut = first + (size_t)rand() % (len - first + 1); /* and a torn tail */
		int before = 0;
		while (before < NREC && ends[before] <= first)
			before++;
		struct journal_scan sc;
		journal_scan_init(&sc, buf, cut, true);
		const unsigned char *r;
		size_t n;
		int got = 0, next = 0;
		while (journal_scan_next(&sc, &r, &n)) {
			int k = next;
			while (k < NREC && !(strlen(recs[k]) == n && !memcmp(recs[k], r, n)))
				k++;
			if (k == NREC) {
				invented++;
				break;
			}
			if (k >= before)
				recovered_after++;
			next = k + 1;
			got++;
		}
		/* Every record wholly before the first damaged byte comes back. */
		if (got < before || (before > 0 && next < before))
			lost_before++;
		CU_ASSERT_EQUAL(sc.consumed, cut);
		if (first < cut)
			CU_ASSERT(sc.corrupt + sc.torn > 0);
	}
	CU_ASSERT_EQUAL(invented, 0);
	CU_ASSERT_EQUAL(lost_before, 0);
	CU_ASSERT(recovered_after > 0); /* re-synchronisation finds later records */
}

static void t_open_segment_damage(void)
{
	/* Damage in an open segment is skipped only once a later record shows
	 * where to go on; until then the reader waits at the damage. */
	make_records();
	static unsigned char buf[NREC * 400];
	size_t ends[NREC];
	size_t len = build(buf, 0, 10, ends);
	buf[ends[4] + 20] ^= 0x55; /* inside record 5 */
	struct journal_scan sc;
	int got = scan_check(buf, len, false, 0, &sc);
	CU_ASSERT_EQUAL(got, 9);
	CU_ASSERT_EQUAL(sc.corrupt, 1);
	CU_ASSERT_EQUAL(sc.consumed, len);
	/* Damage in the last record of an open segment: wait before it. */
	got = scan_check(buf, ends[5], false, 0, &sc);
	CU_ASSERT_EQUAL(got, 5);
	CU_ASSERT_EQUAL(sc.consumed, ends[4]);
	CU_ASSERT_EQUAL(sc.corrupt, 0);
}

static void t_disk_full(void)
{
	/* The file size limit stands in for a full disk: writes beyond it fail
	 * (EFBIG) or come back short. Each such click is counted as lost, and the
	 * segment keeps only whole records (a partial frame is cut off). */
	make_records();
	char *dir = tmpdir();
	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 5000;
	signal(SIGXFSZ, SIG_IGN);
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct journal *j = journal_open(dir, "full", "interval", 100, 1 << 20);
	int ok = 0, lost = 0;
	for (int i = 0; i < 100; i++) {
		if (journal_append(j, recs[i], strlen(recs[i])) == 0)
			ok++;
		else
			lost++;
	}
	setrlimit(RLIMIT_FSIZE, &old);
	struct journal_stats st;
	journal_get_stats(j, &st);
	CU_ASSERT(ok > 0);
	CU_ASSERT(lost > 0);
	CU_ASSERT_EQUAL(st.lost, (uint64_t)lost);
	CU_ASSERT_EQUAL(st.records, (uint64_t)ok);
	journal_close(j);
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[512];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		size_t len;
		unsigned char *b = slurp(path, &len);
		struct journal_scan sc;
		CU_ASSERT_EQUAL(scan_check(b, len, true, 0, &sc), ok);
		CU_ASSERT_EQUAL(sc.torn + sc.corrupt, 0);
		CU_ASSERT(len <= 5000);
		free(b);
		unlink(path);
		files++;
	}
	closedir(d);
	CU_ASSERT_EQUAL(files, 1);
	rmdir(dir);
}

/* The records of every segment in dir (name order), which must be exactly
 * recs[i] for the i with want[i] set, in order, each once; returns how
 * many, -1 on a mismatch. Deletes the files and dir. */
static int read_all(const char *dir, const bool *want, int nwant)
{
	struct dirent **names;
	int nn = scandir(dir, &names, NULL, alphasort);
	int next = 0, got = 0, bad = 0;
	for (int k = 0; k < nn; k++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s", dir, names[k]->d_name);
		if (names[k]->d_name[0] != '.') {
			size_t len;
			unsigned char *b = slurp(path, &len);
			struct journal_scan sc;
			journal_scan_init(&sc, b, len, true);
			const unsigned char *r;
			size_t n;
			while (journal_scan_next(&sc, &r, &n)) {
				while (next < nwant && !want[next])
					next++;
				if (next == nwant || strlen(recs[next]) != n || memcmp(recs[next], r, n))
					bad++;
				next++;
				got++;
			}
			bad += sc.torn + sc.corrupt;
			free(b);
			unlink(path);
		}
		free(names[k]);
	}
	free(names);
	rmdir(dir);
	while (next < nwant && !want[next])
		next++;
	return bad || next != nwant ? -1 : got;
}

/* Fills the disk (the file size limit) while appending; returns how many
 * appends answered 0, 1 and -1 in res[0..2], and which were kept. */
static struct journal *fill(const char *dir, size_t spill, int nrec, long limit, int res[3], bool *kept)
{
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)limit;
	signal(SIGXFSZ, SIG_IGN);
	struct journal *j = journal_open(dir, "spill", "interval", 100, 1 << 20);
	journal_set_spill(j, spill);
	res[0] = res[1] = res[2] = 0;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (int i = 0; i < nrec; i++) {
		int rc = journal_append(j, recs[i], strlen(recs[i]));
		res[rc + 1 == 0 ? 2 : rc]++;
		kept[i] = rc >= 0;
	}
	setrlimit(RLIMIT_FSIZE, &old);
	return j;
}

static void t_spill(void)
{
	/* Disk full with a spill: nothing is lost; the records the disk refused
	 * are written, in order and once, as soon as it takes them again. */
	make_records();
	bool kept[NREC];
	int res[3];
	char *dir = tmpdir();
	struct journal *j = fill(dir, 1 << 20, 150, 5000, res, kept);
	struct journal_stats st;
	journal_get_stats(j, &st);
	CU_ASSERT(res[0] > 0);
	CU_ASSERT(res[1] > 0);
	CU_ASSERT_EQUAL(res[2], 0);
	CU_ASSERT_EQUAL(st.lost, 0);
	CU_ASSERT_EQUAL(st.spill_records, (uint64_t)res[1]);
	CU_ASSERT(st.spill_bytes > 0);
	struct journal_stats pst;
	CU_ASSERT_TRUE(journal_process_stats(&pst));
	CU_ASSERT_EQUAL(pst.spill_records, st.spill_records);
	/* Space again: the next append waits for the retry pause, then writes
	 * the spill before itself. */
	CU_ASSERT_EQUAL(journal_append(j, recs[150], strlen(recs[150])), 1);
	usleep((JOURNAL_SPILL_RETRY_MS + 20) * 1000);
	CU_ASSERT_EQUAL(journal_append(j, recs[151], strlen(recs[151])), 0);
	journal_get_stats(j, &st);
	CU_ASSERT_EQUAL(st.spill_records, 0);
	CU_ASSERT_EQUAL(st.spill_bytes, 0);
	CU_ASSERT_EQUAL(st.records, 152);
	CU_ASSERT_EQUAL(st.spilled, (uint64_t)res[1] + 1);
	journal_close(j);
	CU_ASSERT_FALSE(journal_process_stats(&pst));
	kept[150] = kept[151] = true;
	CU_ASSERT_EQUAL(read_all(dir, kept, 152), 152);

	/* journal_flush writes the spill at once; journal_close too. */
	dir = tmpdir();
	j = fill(dir, 1 << 20, 100, 5000, res, kept);
	CU_ASSERT(res[1] > 0);
	CU_ASSERT_EQUAL(journal_flush(j), 0);
	journal_get_stats(j, &st);
	CU_ASSERT_EQUAL(st.records, 100);
	journal_close(j);
	CU_ASSERT_EQUAL(read_all(dir, kept, 100), 100);
	dir = tmpdir();
	j = fill(dir, 1 << 20, 100, 5000, res, kept);
	journal_close(j);
	CU_ASSERT_EQUAL(read_all(dir, kept, 100), 100);
}

static void t_spill_full(void)
{
	/* A small spill: once it is full records are lost (counted), and the
	 * ones kept are still written in order; closing while the disk is still
	 * full counts what the spill held as lost. */
	make_records();
	bool kept[NREC];
	int res[3];
	char *dir = tmpdir();
	struct journal *j = fill(dir, 3000, 150, 5000, res, kept);
	struct journal_stats st;
	journal_get_stats(j, &st);
	CU_ASSERT(res[1] > 0);
	CU_ASSERT(res[2] > 0);
	CU_ASSERT_EQUAL(st.lost, (uint64_t)res[2]);
	CU_ASSERT(st.spill_bytes <= 3000);
	CU_ASSERT_EQUAL(journal_flush(j), 0);
	journal_close(j);
	CU_ASSERT_EQUAL(read_all(dir, kept, 150), res[0] + res[1]);

	dir = tmpdir();
	j = fill(dir, 1 << 20, 100, 5000, res, kept);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 5000;
	setrlimit(RLIMIT_FSIZE, &lim);
	journal_close(j); /* still full: the spill is lost, and said so */
	setrlimit(RLIMIT_FSIZE, &old);
	for (int i = 0; i < 100; i++)
		kept[i] = kept[i] && i < res[0];
	CU_ASSERT_EQUAL(read_all(dir, kept, 100), res[0]);
}

static const struct unit_case cases[] = {
	{"crc32c check value", t_crc},
	{"writer round trip with rotation", t_writer_round_trip},
	{"torn tails at every length", t_torn_tails},
	{"random byte flips: nothing invented, nothing before the damage lost", t_byte_flips},
	{"damage in an open segment", t_open_segment_damage},
	{"disk full: counted, segment stays clean", t_disk_full},
	{"disk full with a spill: nothing lost, written in order when space returns", t_spill},
	{"spill full: counted lost, the kept ones still in order", t_spill_full},
	{NULL, NULL},
};

UNIT_MAIN("journal")
