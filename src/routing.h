/* Smart routing: a route (attached to an offer or a link) lists
 * destinations with weights and conditions (countries, devices, OS). Among
 * the destinations whose conditions hold, the n-th new visitor goes to the
 * one that the golden-ratio sequence frac(n / phi) lands on in the
 * cumulative weights. That sequence has the lowest discrepancy known, so
 * the shares are exact over time (70/30 over 10,000 clicks is off by a few
 * clicks, not by a random walk), and n comes from a counter shared by all
 * workers (src/shm.h), one per route and set of eligible destinations. A
 * returning visitor (same fingerprint) gets the destination they had
 * (sticky), as long as it still applies. No destination applies: the
 * route's fallback URL, else the offer's own URL. */
#ifndef AFFTOK_ROUTING_H
#define AFFTOK_ROUTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct shm;

#define ROUTE_DEST_MAX 64
#define ROUTE_STICKY_MAX_AGE_S (30 * 86400)

struct route_dest {
	const char *name;           /* recorded with the click (clicks.route_dest) */
	const char *url;            /* URL template; for an offer destination, that offer's URL */
	long long offer_id;         /* 0 for a URL destination */
	unsigned weight;            /* 0 = never picked by weight */
	const char *countries;      /* packed "USDE"; NULL or "" = any */
	const char *const *devices; /* NULL-terminated; NULL = any */
	const char *const *os;      /* NULL-terminated; NULL = any */
};

struct route_plan {
	long long id;
	bool sticky;
	const char *fallback_url; /* NULL = the offer's URL */
	struct route_dest *dests;
	size_t ndests;
};

/* Whether d's conditions hold for the visitor (country "" = unknown, which
 * matches no country list). */
bool route_dest_applies(const struct route_dest *d, const char *country, const char *device, const char *os);
/* The destination for the seq-th visitor among those in mask (bit i =
 * destination i applies); -1 when none applies or all weights are 0. */
int route_pick_seq(const struct route_plan *r, uint64_t mask, uint64_t seq);
/* The whole decision: conditions, sticky slot, shared sequence. fp is the
 * visitor fingerprint (may be NULL: no stickiness). counted false (clicks
 * that are not billable: bots, blocked): the destination is derived from
 * the fingerprint alone and neither the sequence nor the sticky slots
 * change, so invalid traffic cannot skew the split. Returns the index of
 * the destination or -1 (then use the fallback). */
int route_choose(const struct route_plan *r, struct shm *s, const char *fp, const char *country,
                 const char *device, const char *os, uint32_t now_s, bool counted);

#endif
