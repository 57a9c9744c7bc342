/* The rows of stats_click_pre (sql/090) for a set of stored clicks, grouped
 * as the statement trigger on `clicks` groups them, for a writer that
 * stores clicks into their day partitions directly (the ingest: routing
 * each row through the parent and the trigger's transition table cost a
 * third of the insert; bench/README, "Direct partition inserts").
 *
 * A click is given by its key: the values in COPY text form (\N for NULL)
 * of tenant_id, bucket, offer_id, affiliate_id, link_id, country, device,
 * route_dest, sub1 and reason, in that order, as stored. country is
 * char(2) in `clicks` and the trigger reads it as text, so its trailing
 * blanks are dropped here. Values are compared as text: two spellings of
 * one value (never written by the click path) make two rows whose counts
 * the aggregator adds up, as it does for the rows of several statements. */
#ifndef AFFTOK_CLICKSUM_H
#define AFFTOK_CLICKSUM_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

#define CLICKSUM_KEYS 10
#define CLICKSUM_COUNTRY 5 /* index of country in the key */
#define CLICKSUM_BUCKET_LEN 22 /* "YYYY-MM-DD HH:MM:00+00" */

struct clicksum_key {
	const char *v[CLICKSUM_KEYS]; /* not NUL-terminated; kept alive by the caller */
	size_t n[CLICKSUM_KEYS];
};

struct clicksum;

struct clicksum *clicksum_new(void);
void clicksum_free(struct clicksum *s);

/* Counts one click: clicks + 1, unique_clicks + 1 when unique,
 * invalid_clicks + 1 when not billable. -1 when out of memory. */
int clicksum_add(struct clicksum *s, const struct clicksum_key *k, bool unique, bool billable);

/* Rows (keys) so far. */
size_t clicksum_rows(const struct clicksum *s);

/* Appends the rows as COPY text: the ten key columns, then clicks,
 * unique_clicks and invalid_clicks, tab-separated, one line each. */
void clicksum_copy(const struct clicksum *s, struct buf *out);

/* The 15-minute bucket of a created_at in click_record's form
 * ("YYYY-MM-DD HH:MM:SS.mmm+00"), as date_bin('15 minutes', created_at,
 * '2000-01-01 00:00:00+00') gives it, into out (CLICKSUM_BUCKET_LEN + 1
 * bytes). false for any other form. */
bool clicksum_bucket(const char *created_at, size_t n, char *out);

#endif
