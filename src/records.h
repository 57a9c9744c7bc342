/* Raw records behind the stats (SPEC §6): GET /api/clicks/<click_id> and
 * GET /api/conversions, scoped like the reports (stats.h). */
#ifndef AFFTOK_RECORDS_H
#define AFFTOK_RECORDS_H

#include "http.h"

struct app;
struct arena;
struct buf;

#define RECORDS_LIMIT_DEFAULT 100
#define RECORDS_LIMIT_MAX 500

/* Writes the click as a JSON object to out. Returns 1, 0 when there is no
 * such click for this key (malformed and forged ids included), -1 on a
 * database failure. The partition is found from the id's time. */
int records_click(struct app *app, struct arena *a, const struct auth *au, const char *click_id,
		  struct buf *out);

struct records_filter {
	struct auth auth;
	const char *from, *to; /* YYYY-MM-DD (UTC), NULL = open */
	const char *status;    /* NULL = any */
	long long offer_id, affiliate_id; /* 0 = any */
	long long after_id;    /* the cursor: ids below this one; 0 = first page */
	int limit;
};

/* Writes {"data":[...],"next_cursor":...} newest first. Returns 0 or -1. */
int records_conversions(struct app *app, struct arena *a, const struct records_filter *f,
			struct buf *out);

#endif
