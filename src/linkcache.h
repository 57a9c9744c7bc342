/* Per-worker cache of what the click path reads about a link code: the link,
 * its offer (destination, policy, TTL, caps), its tenant (status, link
 * secrets decrypted once). Filled from PostgreSQL on a miss; a hit touches
 * no SQL and no network.
 *
 * Invalidation: admin code that changes links, offers or tenant secrets calls
 * linkcache_bump() after its commit; it increments cache_epoch in PostgreSQL
 * and publishes the value in Redis (afftok:cache_epoch). A thread in each
 * worker reads both about once a second (own connections, so a dead
 * dependency never blocks a click) and the click path drops everything when
 * the epoch moved. Unknown codes are cached for [click] cache_ttl_s. */
#ifndef AFFTOK_LINKCACHE_H
#define AFFTOK_LINKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;
struct arena;

#define LINKCACHE_SECRET_MAX 128
#define LINKCACHE_EPOCH_KEY "afftok:cache_epoch"

struct link_entry {
	char code[33];
	bool found;        /* false: the code is unknown (a cached 404) */
	long long link_id, tenant_id, offer_id, affiliate_id, advertiser_id;
	char link_status[12], offer_status[12], tenant_status[12]; /* active, paused, ... */
	char *url;          /* offer URL template */
	char *fallback_url; /* NULL when none */
	bool policy_reject; /* link_policy = 'reject' */
	long ttl_s;         /* signed link TTL */
	long attribution_days;
	/* caps; 0 = none */
	long long cap_daily_clicks, cap_total_clicks, cap_daily_conversions, cap_total_conversions;
	unsigned char secret[LINKCACHE_SECRET_MAX];
	size_t secret_len;  /* 0: the secret could not be decrypted (every signature fails) */
	unsigned char prev_secret[LINKCACHE_SECRET_MAX];
	size_t prev_len;    /* 0 = no previous secret */
	int64_t prev_until_s;
	long long epoch;    /* cache epoch it was loaded under */
	int64_t loaded_ms;  /* monotonic */
};

struct linkcache;

/* Starts the epoch watcher thread. NULL on failure. */
struct linkcache *linkcache_new(struct app *app);
void linkcache_free(struct linkcache *lc);
/* The entry for a valid code (found or not), or NULL when it is not cached
 * and PostgreSQL cannot answer (the caller answers 503). The pointer is
 * valid until the next call. */
const struct link_entry *linkcache_get(struct linkcache *lc, struct arena *a, const char *code);
/* Entries and hits since start (for tests and metrics). */
void linkcache_counts(const struct linkcache *lc, uint64_t *hits, uint64_t *misses, long long *epoch);

/* After an admin change that the click path caches (links, offers, tenants'
 * secrets or status, and anything traffic-quality caches per link): bumps
 * the epoch in PostgreSQL (outside any open transaction: call it after the
 * commit) and publishes it in Redis. Returns the new epoch, or -1 when
 * PostgreSQL failed (Redis failing is fine: workers also read PostgreSQL). */
long long linkcache_bump(struct app *app, struct arena *a);

#endif
