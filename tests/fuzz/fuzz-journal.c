/* Fuzz target: the click journal's record decoder (journal_scan_next).
 * Raw mode: any bytes as a segment; whatever comes back is an intact frame
 * inside the buffer, and an open segment's records are a prefix of the
 * closed one's. Built mode: records framed with journal_frame, garbage
 * between them and a torn tail; the reader finds exactly those records in
 * order, never an invented one, also when it resumes from `consumed` after
 * reading the segment while it was still being written. */
#include "fuzz.h"

#include "journal.h"

#define MAXREC 64

struct span {
	const unsigned char *p;
	size_t n;
};

static size_t scan_all(const unsigned char *buf, size_t len, bool closed, struct span *out,
		       size_t max, size_t *consumed)
{
	struct journal_scan s;
	journal_scan_init(&s, buf, len, closed);
	const unsigned char *rec;
	size_t n, k = 0, last = 0;
	while (journal_scan_next(&s, &rec, &n)) {
		FUZZ_CHECK(n >= 1 && n <= JOURNAL_REC_MAX);
		FUZZ_CHECK(rec >= buf + JOURNAL_HDR && rec + n <= buf + len);
		FUZZ_CHECK(s.consumed >= last && s.consumed <= len);
		last = s.consumed;
		/* It is exactly a frame of its own payload. */
		unsigned char *frame = malloc(JOURNAL_HDR + n);
		FUZZ_CHECK(frame != NULL);
		FUZZ_CHECK(journal_frame(frame, rec, n) == JOURNAL_HDR + n);
		FUZZ_CHECK(!memcmp(frame, rec - JOURNAL_HDR, JOURNAL_HDR + n));
		free(frame);
		if (k < max)
			out[k] = (struct span){rec, n};
		k++;
	}
	FUZZ_CHECK(s.consumed <= len && s.consumed >= last);
	if (closed)
		FUZZ_CHECK(s.consumed == len);
	*consumed = s.consumed;
	return k;
}

static void raw(const uint8_t *data, size_t size)
{
	static struct span c[MAXREC], o[MAXREC];
	size_t cc, oc;
	size_t nc = scan_all(data, size, true, c, MAXREC, &cc);
	size_t no = scan_all(data, size, false, o, MAXREC, &oc);
	FUZZ_CHECK(no <= nc);
	for (size_t i = 0; i < no && i < MAXREC; i++)
		FUZZ_CHECK(o[i].p == c[i].p && o[i].n == c[i].n);
}

static void built(const uint8_t *data, size_t size)
{
	static unsigned char seg[16 * (JOURNAL_HDR + 256)];
	static struct span want[MAXREC], got[2 * MAXREC];
	size_t len = 0, nwant = 0;
	/* Pieces: kind byte, length byte, bytes. Even kind: a record; odd: garbage. */
	while (size >= 2 && nwant < 8) {
		unsigned kind = data[0];
		size_t n = (size_t)data[1] + 1;
		data += 2, size -= 2;
		if (n > size)
			n = size;
		/* Room for this piece, framed or not (garbage pieces count too). */
		if (n == 0 || len + JOURNAL_HDR + 256 > sizeof seg)
			break;
		if (kind % 2 == 0) {
			/* Payloads are COPY text lines, which never hold a NUL, while
			 * every header does (its length is below 2^24): so no header
			 * can hide inside a payload and surface on re-synchronisation. */
			unsigned char pay[256];
			for (size_t i = 0; i < n; i++)
				pay[i] = data[i] ? data[i] : 1;
			journal_frame(seg + len, pay, n);
			want[nwant++] = (struct span){seg + len + JOURNAL_HDR, n};
			len += JOURNAL_HDR + n;
		} else {
			/* Garbage never holds the first magic byte, so no frame can
			 * start inside it: only ours exist. */
			for (size_t i = 0; i < n && i < 256; i++)
				seg[len + i] = data[i] == 0xAF ? 0 : data[i];
			len += n < 256 ? n : 256;
		}
		data += n, size -= n;
	}
	if (len == 0)
		return;
	size_t consumed;
	size_t k = scan_all(seg, len, true, got, 2 * MAXREC, &consumed);
	FUZZ_CHECK(k == nwant);
	for (size_t i = 0; i < k; i++)
		FUZZ_CHECK(got[i].p == want[i].p && got[i].n == want[i].n);
	/* Read while being written up to `cut`, then resumed on the whole. */
	size_t cut = size ? data[0] * len / 255 : len / 2;
	size_t k1 = scan_all(seg, cut, false, got, 2 * MAXREC, &consumed);
	size_t rest;
	size_t k2 = scan_all(seg + consumed, len - consumed, true, got + k1, 2 * MAXREC - k1, &rest);
	FUZZ_CHECK(k1 + k2 == nwant);
	for (size_t i = 0; i < nwant; i++)
		FUZZ_CHECK(got[i].p == want[i].p && got[i].n == want[i].n);
	/* A torn tail (the last frame cut short) is never returned. */
	if (size > 1 && want[nwant ? nwant - 1 : 0].p + want[nwant ? nwant - 1 : 0].n == seg + len && nwant) {
		size_t drop = 1 + data[1] % (JOURNAL_HDR + want[nwant - 1].n);
		k = scan_all(seg, len - drop, true, got, 2 * MAXREC, &consumed);
		FUZZ_CHECK(k == nwant - 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		built(data + 1, size - 1);
	else
		raw(data + 1, size - 1);
	return 0;
}
