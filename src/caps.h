/* Offer caps at the click: daily and total clicks (counted here) and daily
 * and total conversions (counted by the conversions path; read here).
 *
 * No network on the click path. Each worker counts the clicks it admits to
 * a capped offer in memory; a thread of the worker adds them to Redis
 * (INCRBY afftok:cap:<offer>:clicks:<YYYYMMDD> and ...:total) every
 * click.cap_sync_ms (100 ms) and reads back the totals of all workers and
 * hosts, and reads the offer's conversion counts from PostgreSQL every 2 s
 * (at once for an offer new to the worker); a full conversion cap is also
 * flagged in the host's shared memory (src/shm.h) for the other workers.
 * A click is admitted while (last total seen + not yet synced clicks) is
 * under the cap. So the overshoot is what other workers admit between two
 * syncs: at most about cap_sync_ms of the offer's traffic (measured in
 * tests/integration/40-traffic.sh). Offers without caps never touch this
 * module's lock or Redis. With Redis down, clicks are admitted and counted
 * locally, and synced when it is back (caps fail open, never the click).
 * The worker that crosses a cap writes a cap.reached event to the outbox
 * (event id derived from offer, cap and period, so it exists once), which
 * `afftokctl events` publishes on the stream afftok:events. */
#ifndef AFFTOK_CAPS_H
#define AFFTOK_CAPS_H

#include <stdbool.h>
#include <stdint.h>

struct app;
struct arena;
struct caps;
struct db;
struct kv;

struct cap_limits {
	long long daily_clicks, total_clicks, daily_conversions, total_conversions; /* 0 = none */
};

/* start_thread false: no sync thread (tests call caps_sync themselves). */
struct caps *caps_new(struct app *app, bool start_thread);
void caps_free(struct caps *c);
static inline bool caps_any(const struct cap_limits *l)
{
	return l->daily_clicks > 0 || l->total_clicks > 0 || l->daily_conversions > 0 ||
	       l->total_conversions > 0;
}
/* Counts the click and returns true when the offer is under its caps;
 * false (and *which = "daily_clicks" ...) when one is reached. */
bool caps_admit(struct caps *c, long long tenant_id, long long offer_id, const struct cap_limits *l,
                int64_t now_ms, const char **which);
/* One sync round (what the thread does every cap_sync_ms); conversion
 * counts are read when due, or always with read_conversions. Returns 0, or
 * -1 when Redis failed (the counts are kept for the next round). */
int caps_sync(struct caps *c, struct kv *kv, struct db *db, struct arena *a, int64_t now_ms,
              bool read_conversions);
/* The worker's instance, started on first use. NULL on allocation failure. */
struct caps *caps_shared(struct app *app);

#endif
