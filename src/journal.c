/* The click journal: segment writer and frame reader (see journal.h). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const unsigned char magic[4] = {0xAF, 0x7C, 0x4A, 0x31};

struct journal {
	char *dir;
	char instance[32];
	enum journal_fsync mode;
	long interval_ms;
	long max_bytes;
	int fd;
	char path[4096]; /* current segment, .jnl */
	size_t size;
	int64_t opened_ms, synced_ms, lost_logged_ms;
	unsigned seq;
	bool dirty; /* written since the last fsync */
	struct journal_stats st;
	/* The spill (journal.h): framed records, oldest first. */
	unsigned char *spill;
	size_t spill_len, spill_cap, spill_max;
	int64_t spill_retry_ms, spill_logged_ms;
	unsigned char frame[JOURNAL_HDR + JOURNAL_REC_MAX];
};

/* ---- CRC32C: the SSE4.2 instruction where the CPU has it, else a table ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_soft(uint32_t crc, const unsigned char *b, size_t n)
{
	if (crc_table[1] == 0)
		crc_init();
	while (n--)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The table costs ~1.5 % of a click's CPU; the instruction a tenth of that. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *b, size_t n)
{
	uint64_t c = crc;
	for (; n >= 8; n -= 8, b += 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		c = __builtin_ia32_crc32di(c, w);
	}
	uint32_t c32 = (uint32_t)c;
	while (n--)
		c32 = __builtin_ia32_crc32qi(c32, *b++);
	return c32;
}

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
	static int hw = -1;
	if (hw < 0)
		hw = __builtin_cpu_supports("sse4.2");
	return ~(hw ? crc_hw(~crc, p, n) : crc_soft(~crc, p, n));
}
#else
uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
	return ~crc_soft(~crc, p, n);
}
#endif

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t journal_frame(unsigned char *out, const void *payload, size_t len)
{
	memcpy(out, magic, 4);
	put32(out + 4, (uint32_t)len);
	put32(out + 8, crc32c(0, payload, len));
	put32(out + 12, crc32c(0, out, 12));
	memcpy(out + JOURNAL_HDR, payload, len);
	return JOURNAL_HDR + len;
}

/* ---- writer ---- */

/* The worker's journal, for journal_process_stats(). */
static struct journal *current;

struct journal *journal_open(const char *dir, const char *instance, const char *fsync_mode,
			     long fsync_interval_ms, long segment_max_bytes)
{
	enum journal_fsync mode;
	if (!strcmp(fsync_mode, "interval"))
		mode = JOURNAL_FSYNC_INTERVAL;
	else if (!strcmp(fsync_mode, "always"))
		mode = JOURNAL_FSYNC_ALWAYS;
	else if (!strcmp(fsync_mode, "off"))
		mode = JOURNAL_FSYNC_OFF;
	else
		return NULL;
	struct journal *j = calloc(1, sizeof *j);
	if (j == NULL || (j->dir = strdup(dir)) == NULL) {
		free(j);
		return NULL;
	}
	snprintf(j->instance, sizeof j->instance, "%s", instance);
	/* '-' separates the name's fields; the instance must not add any. */
	for (char *c = j->instance; *c; c++)
		if (*c == '-' || *c == '/' || *c == '.')
			*c = '_';
	j->mode = mode;
	j->interval_ms = fsync_interval_ms;
	j->max_bytes = segment_max_bytes;
	j->fd = -1;
	current = j;
	return j;
}

void journal_set_spill(struct journal *j, size_t max_bytes)
{
	j->spill_max = max_bytes;
}

bool journal_process_stats(struct journal_stats *st)
{
	if (current == NULL)
		return false;
	journal_get_stats(current, st);
	return true;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static int segment_open(struct journal *j)
{
	int64_t ms = now_ms();
	snprintf(j->path, sizeof j->path, "%s/%s-%ld-%lld-%u.jnl", j->dir, j->instance, (long)getpid(),
		 (long long)ms, j->seq++);
	j->fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
	if (j->fd < 0)
		return -1;
	if (j->mode != JOURNAL_FSYNC_OFF)
		sync_dir(j->dir);
	j->size = 0;
	j->opened_ms = mono_ms();
	j->synced_ms = j->opened_ms;
	j->dirty = false;
	j->st.segments++;
	return 0;
}

static void do_sync(struct journal *j)
{
	if (fdatasync(j->fd) != 0)
		log_err("journal: fdatasync %s: %s", j->path, strerror(errno));
	j->st.fsyncs++;
	j->synced_ms = mono_ms();
	j->dirty = false;
}

void journal_rotate(struct journal *j)
{
	if (j == NULL || j->fd < 0)
		return;
	if (j->dirty && j->mode != JOURNAL_FSYNC_OFF)
		do_sync(j);
	close(j->fd);
	j->fd = -1;
	if (j->size == 0) {
		unlink(j->path);
		return;
	}
	char done[sizeof j->path];
	size_t n = strlen(j->path);
	memcpy(done, j->path, n - 4);
	memcpy(done + n - 4, ".rdy", 5);
	if (rename(j->path, done) != 0)
		log_err("journal: rename %s: %s", j->path, strerror(errno));
	else if (j->mode != JOURNAL_FSYNC_OFF)
		sync_dir(j->dir);
}

static void count_loss(struct journal *j, const char *why)
{
	j->st.lost++;
	/* Loud, but at most once a second per worker so a full disk does not
	 * also flood the log; the count says how many went. */
	int64_t now = mono_ms();
	if (now - j->lost_logged_ms >= 1000 || j->st.lost == 1) {
		log_err("JOURNAL LOSS: a click could not be written to %s (%s); %llu lost by this worker",
			j->dir, why, (unsigned long long)j->st.lost);
		j->lost_logged_ms = now;
	}
}

/* Writes n bytes of whole frames (nrec records) at the end of the current
 * segment, opening or rotating it first; 0, or -1 with *why set and the
 * segment as it was (a partial write is cut off; the reader would skip it
 * anyway). */
static int write_frames(struct journal *j, const unsigned char *p, size_t n, uint64_t nrec,
			const char **why)
{
	if (j->fd >= 0 && ((long)(j->size + n) > j->max_bytes ||
			   (j->size > 0 && mono_ms() - j->opened_ms >= JOURNAL_MAX_AGE_MS)))
		journal_rotate(j);
	if (j->fd < 0 && segment_open(j) != 0) {
		*why = strerror(errno);
		return -1;
	}
	ssize_t w = write(j->fd, p, n);
	if (w != (ssize_t)n) {
		*why = w < 0 ? strerror(errno) : "short write";
		if (w > 0 && ftruncate(j->fd, (off_t)j->size) != 0) {
			/* The torn frame stays; close the segment so the
			 * next record starts a clean one. */
			journal_rotate(j);
		}
		return -1;
	}
	j->size += n;
	j->dirty = true;
	j->st.records += nrec;
	if (j->mode == JOURNAL_FSYNC_ALWAYS ||
	    (j->mode == JOURNAL_FSYNC_INTERVAL && mono_ms() - j->synced_ms >= j->interval_ms))
		do_sync(j);
	return 0;
}

/* Keeps the frame in j->frame (n bytes) in the spill: 1, or -1 when it is
 * full (the record is lost). */
static int spill_add(struct journal *j, size_t n, const char *why)
{
	if (j->spill_max == 0 || j->spill_len + n > j->spill_max) {
		count_loss(j, j->spill_max ? "and the memory spill is full" : why);
		return -1;
	}
	if (j->spill_len + n > j->spill_cap) {
		size_t cap = j->spill_cap ? j->spill_cap * 2 : 65536;
		while (cap < j->spill_len + n)
			cap *= 2;
		if (cap > j->spill_max)
			cap = j->spill_max;
		unsigned char *p = realloc(j->spill, cap);
		if (p == NULL) {
			count_loss(j, "out of memory for the spill");
			return -1;
		}
		j->spill = p;
		j->spill_cap = cap;
	}
	memcpy(j->spill + j->spill_len, j->frame, n);
	j->spill_len += n;
	j->st.spill_records++;
	j->st.spilled++;
	int64_t now = mono_ms();
	if (j->st.spill_records == 1 || now - j->spill_logged_ms >= 1000) {
		log_err("journal: cannot write to %s (%s); %llu click(s) kept in memory (%zu bytes of %zu), "
			"written when the disk takes them", j->dir, why,
			(unsigned long long)j->st.spill_records, j->spill_len, j->spill_max);
		j->spill_logged_ms = now;
	}
	if (j->st.spill_records == 1)
		j->spill_retry_ms = now + JOURNAL_SPILL_RETRY_MS;
	return 1;
}

int journal_flush(struct journal *j)
{
	if (j == NULL || j->spill_len == 0)
		return 0;
	const char *why = NULL;
	uint64_t nrec = j->st.spill_records;
	if (write_frames(j, j->spill, j->spill_len, nrec, &why) != 0) {
		j->spill_retry_ms = mono_ms() + JOURNAL_SPILL_RETRY_MS;
		return -1;
	}
	log_info("journal: %llu click(s) kept in memory are written to %s", (unsigned long long)nrec, j->path);
	j->spill_len = 0;
	j->st.spill_records = 0;
	/* Give the memory back: a spill is rare and can be large. */
	free(j->spill);
	j->spill = NULL;
	j->spill_cap = 0;
	return 0;
}

int journal_append(struct journal *j, const void *rec, size_t len)
{
	if (len == 0 || len > JOURNAL_REC_MAX) {
		count_loss(j, "record too large");
		return -1;
	}
	size_t n = journal_frame(j->frame, rec, len);
	const char *why = "the disk did not take the earlier ones yet";
	/* Older records first: while the spill holds any, this one waits too. */
	if (j->spill_len > 0 && (mono_ms() < j->spill_retry_ms || journal_flush(j) != 0))
		return spill_add(j, n, why);
	if (write_frames(j, j->frame, n, 1, &why) != 0)
		return spill_add(j, n, why);
	return 0;
}

void journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (journal_flush(j) != 0) {
		j->st.lost += j->st.spill_records;
		log_err("JOURNAL LOSS: %llu click(s) kept in memory could not be written to %s at exit",
			(unsigned long long)j->st.spill_records, j->dir);
	}
	journal_rotate(j);
	if (current == j)
		current = NULL;
	free(j->spill);
	free(j->dir);
	free(j);
}

void journal_get_stats(const struct journal *j, struct journal_stats *st)
{
	*st = j->st;
	st->spill_bytes = j->spill_len;
}

/* ---- reader ---- */

void journal_scan_init(struct journal_scan *s, const void *buf, size_t len, bool closed)
{
	memset(s, 0, sizeof *s);
	s->buf = buf;
	s->len = len;
	s->closed = closed;
}

/* A header at p (with at least JOURNAL_HDR bytes) that checks out. */
static bool header_ok(const unsigned char *p)
{
	return !memcmp(p, magic, 4) && get32(p + 12) == crc32c(0, p, 12) && get32(p + 4) > 0 &&
	       get32(p + 4) <= JOURNAL_REC_MAX;
}

/* Offset of the next valid header after from, or 0 when none. */
static size_t next_header(const struct journal_scan *s, size_t from)
{
	for (size_t q = from + 1; q + JOURNAL_HDR <= s->len; q++) {
		const unsigned char *m = memchr(s->buf + q, magic[0], s->len - q - JOURNAL_HDR + 1);
		if (m == NULL)
			return 0;
		q = (size_t)(m - s->buf);
		if (header_ok(m))
			return q;
	}
	return 0;
}

/* Damage at s->pos: skip to the next valid header, or (closed segment) to
 * the end. False when nothing more can be read now. */
static bool skip_damage(struct journal_scan *s, bool tail)
{
	size_t q = next_header(s, s->pos);
	if (q) {
		s->corrupt++;
		s->pos = s->consumed = q;
		return true;
	}
	if (s->closed) {
		if (tail)
			s->torn++;
		else
			s->corrupt++;
		s->pos = s->consumed = s->len;
	}
	return false;
}

bool journal_scan_next(struct journal_scan *s, const unsigned char **rec, size_t *len)
{
	while (s->pos < s->len) {
		size_t rem = s->len - s->pos;
		const unsigned char *p = s->buf + s->pos;
		if (rem < JOURNAL_HDR) {
			/* A short tail: the start of a header still being written
			 * (open) or torn by a crash (closed). */
			bool prefix = !memcmp(p, magic, rem < 4 ? rem : 4);
			if (!s->closed)
				return false;
			if (prefix)
				s->torn++;
			else
				s->corrupt++;
			s->pos = s->consumed = s->len;
			return false;
		}
		if (!header_ok(p)) {
			if (!skip_damage(s, false))
				return false;
			continue;
		}
		size_t n = get32(p + 4);
		if (rem < JOURNAL_HDR + n) {
			if (!s->closed)
				return false; /* still being written */
			if (!skip_damage(s, true))
				return false;
			continue;
		}
		if (get32(p + 8) != crc32c(0, p + JOURNAL_HDR, n)) {
			if (!skip_damage(s, false))
				return false;
			continue;
		}
		*rec = p + JOURNAL_HDR;
		*len = n;
		s->pos += JOURNAL_HDR + n;
		s->consumed = s->pos;
		return true;
	}
	return false;
}
