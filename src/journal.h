/* The click journal: every recorded click is appended to a per-worker
 * segment file with ONE write(2) before its answer is sent, so nothing is
 * lost when PostgreSQL or Redis are down. The ingest job loads segments into
 * PostgreSQL and deletes them when done.
 *
 * Files in the journal directory:
 *   <instance>-<pid>-<ms>-<seq>.jnl   being written by worker <pid>
 *   <instance>-<pid>-<ms>-<seq>.rdy   closed (rotated by size or age, or the
 *                                     worker exited): no more bytes will come
 * Ingest reads both (an open segment up to its last complete record), so a
 * click reaches PostgreSQL within seconds without waiting for rotation; a
 * .jnl file whose worker is dead counts as closed.
 *
 * A record is framed: magic (4 bytes), payload length (u32 LE), CRC32C of the
 * payload (u32 LE), CRC32C of the 12 bytes before (u32 LE), payload. The
 * reader skips damaged records (re-synchronising on the next valid header)
 * and an incomplete tail, and counts both; it never invents a record. */
#ifndef AFFTOK_JOURNAL_H
#define AFFTOK_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_HDR 16
#define JOURNAL_REC_MAX 65536
/* A segment with data is closed at the next append once it is this old. */
#define JOURNAL_MAX_AGE_MS 60000

enum journal_fsync { JOURNAL_FSYNC_OFF, JOURNAL_FSYNC_INTERVAL, JOURNAL_FSYNC_ALWAYS };

struct journal;

struct journal_stats {
	uint64_t records;  /* appended */
	uint64_t lost;     /* could not be written nor kept (disk full, I/O error): the only loss path */
	uint64_t fsyncs;
	uint64_t segments; /* opened */
	uint64_t spilled;  /* kept in memory since a write failed (ever) */
	uint64_t spill_records, spill_bytes; /* in memory now, waiting for the disk */
};

/* No file is created until the first append. fsync_mode: "interval",
 * "always" or "off". NULL on allocation failure or a bad mode. */
struct journal *journal_open(const char *dir, const char *instance, const char *fsync_mode,
			     long fsync_interval_ms, long segment_max_bytes);
/* The spill: with max_bytes > 0, a record that cannot be written (disk
 * full, I/O error) is kept in memory, framed, up to max_bytes in all, and
 * written before anything newer as soon as the disk takes it again: at the
 * next append (retried at most every JOURNAL_SPILL_RETRY_MS), at
 * journal_flush() and at journal_close(). Order is kept: while the spill
 * holds anything, new records join it. 0 (the default) = no spill. */
#define JOURNAL_SPILL_RETRY_MS 100
void journal_set_spill(struct journal *j, size_t max_bytes);
/* Appends one record (1..JOURNAL_REC_MAX bytes) with a single write(2).
 * Returns 0 when written, 1 when kept in the spill (it will be written),
 * -1 when it was lost (no spill, or the spill is full; counted and logged). */
int journal_append(struct journal *j, const void *rec, size_t len);
/* Tries to write the spill now; 0 when it is empty afterwards. */
int journal_flush(struct journal *j);
/* The stats of the last journal opened in this process and not closed yet
 * (the worker's click journal), for /admin/health; false when none. */
bool journal_process_stats(struct journal_stats *st);
/* Closes the current segment (it becomes .rdy) and frees j; accepts NULL. */
void journal_close(struct journal *j);
/* Closes the current segment if it has data, so the next append starts a
 * new one (used by tests and at shutdown). */
void journal_rotate(struct journal *j);
void journal_get_stats(const struct journal *j, struct journal_stats *st);

/* CRC32C (Castagnoli). */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);
/* Writes the frame of payload into out (JOURNAL_HDR + len bytes); returns
 * the frame length. */
size_t journal_frame(unsigned char *out, const void *payload, size_t len);

/* Reading a segment's bytes (from some offset on) held in memory. */
struct journal_scan {
	const unsigned char *buf;
	size_t len;
	bool closed;     /* no more bytes will come: an incomplete tail is torn */
	size_t pos;
	size_t consumed; /* bytes dealt with: records returned and damage skipped */
	long corrupt;    /* damaged regions skipped */
	long torn;       /* incomplete tails skipped (closed segments only) */
};

void journal_scan_init(struct journal_scan *s, const void *buf, size_t len, bool closed);
/* The next intact record, or false at the end. Afterwards s->consumed is
 * where the next scan of the same segment should start; for an open segment
 * it stops before a record that may still be being written. */
bool journal_scan_next(struct journal_scan *s, const unsigned char **rec, size_t *len);

#endif
