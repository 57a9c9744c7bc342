/* Cap counters: per-worker pending counts, synced to Redis by a thread
 * (see caps.h). */
#include "caps.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "kv.h"
#include "log.h"
#include "shm.h"
#include "util.h"

#define SLOTS 256
#define IDLE_MS (10 * 60 * 1000)
#define CONV_EVERY_MS 2000
#define FLAG_MAX_AGE_S 10

struct slot {
	long long offer_id, tenant_id;
	struct cap_limits lim;
	int day;                /* YYYYMMDD (UTC) of daily_* below */
	long long daily, total; /* clicks of all workers as last read from Redis */
	long long pending;      /* admitted here, not yet sent */
	long long inflight;     /* sent, answer not yet applied */
	long long conv_daily, conv_total;
	int64_t last_ms; /* last click */
	int64_t conv_ms; /* last read of the conversion counts (0 = never) */
};

struct caps {
	struct app *app;
	pthread_mutex_t mu;
	struct slot slot[SLOTS];
	int n;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;
	struct shm *shm; /* host-wide "conversion cap reached" flags; NULL in tests */
};

/* Conversions are counted by the postback path, so a worker learns that a
 * conversion cap is full from its thread's reads; the first worker to learn
 * it tells the others of the host through a flag in shared memory (value:
 * the day for a daily cap, 1 for a total cap, 0 = not reached). */
static uint64_t conv_key(long long offer, int kind)
{
	return shm_hash(&offer, sizeof offer, 0x636f6e76ull + (uint64_t)kind);
}

static bool conv_flag(struct shm *s, long long offer, int kind, uint32_t want, int64_t now_ms)
{
	uint32_t v;
	/* Only a fresh flag counts: the threads of workers with traffic for the
	 * offer rewrite it every 2 s, and a stale one (an offer id reused after
	 * a database reset, a raised cap nobody re-read) must not block. */
	return s && shm_sticky_get(s, conv_key(offer, kind), (uint32_t)(now_ms / 1000), FLAG_MAX_AGE_S, &v) &&
	       v == want;
}

static int utc_day(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

static struct slot *find(struct caps *c, long long offer_id, bool create, int64_t now)
{
	for (int i = 0; i < c->n; i++)
		if (c->slot[i].offer_id == offer_id)
			return &c->slot[i];
	if (!create)
		return NULL;
	if (c->n == SLOTS) {
		/* Reuse the longest idle slot with nothing left to send. */
		int best = -1;
		for (int i = 0; i < c->n; i++)
			if (c->slot[i].pending == 0 && c->slot[i].inflight == 0 &&
			    (best < 0 || c->slot[i].last_ms < c->slot[best].last_ms))
				best = i;
		if (best < 0)
			return NULL;
		memset(&c->slot[best], 0, sizeof c->slot[best]);
		c->slot[best].offer_id = offer_id;
		return &c->slot[best];
	}
	struct slot *s = &c->slot[c->n++];
	memset(s, 0, sizeof *s);
	s->offer_id = offer_id;
	s->last_ms = now;
	return s;
}

bool caps_admit(struct caps *c, long long tenant_id, long long offer_id, const struct cap_limits *l,
                int64_t now_ms, const char **which)
{
	*which = NULL;
	if (c == NULL || !caps_any(l))
		return true;
	bool ok = true;
	pthread_mutex_lock(&c->mu);
	struct slot *s = find(c, offer_id, true, now_ms);
	if (s == NULL) {
		pthread_mutex_unlock(&c->mu);
		return true; /* 256 capped offers busy in this worker: fail open */
	}
	s->tenant_id = tenant_id;
	s->lim = *l;
	s->last_ms = now_ms;
	int today = utc_day(now_ms);
	if (s->day != today) {
		s->day = today;
		s->daily = 0;
		s->conv_daily = 0;
	}
	long long mine = s->pending + s->inflight;
	if (l->daily_clicks > 0 && s->daily + mine >= l->daily_clicks)
		ok = false, *which = "daily_clicks";
	else if (l->total_clicks > 0 && s->total + mine >= l->total_clicks)
		ok = false, *which = "total_clicks";
	else if (l->daily_conversions > 0 &&
	         (s->conv_daily >= l->daily_conversions ||
	          (s->conv_ms == 0 && conv_flag(c->shm, offer_id, 1, (uint32_t)today, now_ms))))
		ok = false, *which = "daily_conversions";
	else if (l->total_conversions > 0 && (s->conv_total >= l->total_conversions ||
	                                      (s->conv_ms == 0 && conv_flag(c->shm, offer_id, 2, 1, now_ms))))
		ok = false, *which = "total_conversions";
	else if (l->daily_clicks > 0 || l->total_clicks > 0)
		s->pending++;
	pthread_mutex_unlock(&c->mu);
	return ok;
}

/* evt_ + 24 hex of SHA-256 over what makes the event unique. */
static void event_id(char out[29], long long offer, const char *cap, const char *period)
{
	char in[128];
	int n = snprintf(in, sizeof in, "cap.reached|%lld|%s|%s", offer, cap, period);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	memcpy(out, "evt_", 4);
	hex_encode(md, 12, out + 4);
}

static void emit(struct db *db, struct arena *a, const struct slot *s, const char *cap, long long limit,
                 long long count, bool daily)
{
	char period[16], id[29], tenant[24], data[512];
	if (daily)
		snprintf(period, sizeof period, "%04d-%02d-%02d", s->day / 10000, s->day / 100 % 100,
		         s->day % 100);
	else
		snprintf(period, sizeof period, "total");
	event_id(id, s->offer_id, cap, period);
	snprintf(tenant, sizeof tenant, "%lld", s->tenant_id);
	snprintf(data, sizeof data,
	         "{\"offer_id\":%lld,\"cap\":\"%s\",\"limit\":%lld,\"count\":%lld,\"period\":\"%s\"}",
	         s->offer_id, cap, limit, count, period);
	if (db_execp(db, a,
	             "INSERT INTO event_outbox (event_id, tenant_id, type, data) VALUES ($1, $2, "
	             "'cap.reached', $3::jsonb) "
	             "ON CONFLICT (event_id) DO NOTHING",
	             id, tenant, data) == NULL)
		log_warn("caps: offer %lld: cannot record cap.reached (%s): %s", s->offer_id, cap,
		         db_error(db));
	else
		log_info("caps: offer %lld reached its %s cap (%lld)", s->offer_id, cap, limit);
}

static bool crossed(long long before, long long after, long long limit)
{
	return limit > 0 && before < limit && after >= limit;
}

int caps_sync(struct caps *c, struct kv *kv, struct db *db, struct arena *a, int64_t now_ms,
              bool read_conversions)
{
	struct slot work[SLOTS];
	int n = 0;
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < c->n; i++) {
		struct slot *s = &c->slot[i];
		if (s->pending == 0 && now_ms - s->last_ms > IDLE_MS) {
			c->slot[i--] = c->slot[--c->n]; /* idle: forget it */
			continue;
		}
		s->inflight += s->pending;
		s->pending = 0;
		work[n++] = *s;
	}
	pthread_mutex_unlock(&c->mu);

	int rc = 0;
	for (int i = 0; i < n; i++) {
		struct slot *w = &work[i];
		long long daily = -1, total = -1;
		bool clicks = w->lim.daily_clicks > 0 || w->lim.total_clicks > 0;
		if (clicks) {
			char dkey[96], tkey[96], delta[24];
			snprintf(dkey, sizeof dkey, "afftok:cap:%lld:clicks:%d", w->offer_id, w->day);
			snprintf(tkey, sizeof tkey, "afftok:cap:%lld:clicks:total", w->offer_id);
			snprintf(delta, sizeof delta, "%lld", w->inflight);
			/* INCRBY 0 reads the others' counts when this worker had none. */
			redisReply *rd = kv_cmd(kv, a, "INCRBY %s %s", dkey, delta);
			redisReply *rt = rd ? kv_cmd(kv, a, "INCRBY %s %s", tkey, delta) : NULL;
			if (rd == NULL || rt == NULL || rd->type != REDIS_REPLY_INTEGER ||
			    rt->type != REDIS_REPLY_INTEGER) {
				/* Redis down: keep the counts for the next round. */
				pthread_mutex_lock(&c->mu);
				struct slot *s = find(c, w->offer_id, false, now_ms);
				if (s) {
					s->pending += s->inflight;
					s->inflight = 0;
				}
				pthread_mutex_unlock(&c->mu);
				rc = -1;
				continue;
			}
			if (w->inflight > 0)
				kv_cmd(kv, a, "EXPIRE %s 172800", dkey);
			daily = rd->integer;
			total = rt->integer;
			if (crossed(daily - w->inflight, daily, w->lim.daily_clicks))
				emit(db, a, w, "daily_clicks", w->lim.daily_clicks, daily, true);
			if (crossed(total - w->inflight, total, w->lim.total_clicks))
				emit(db, a, w, "total_clicks", w->lim.total_clicks, total, false);
		}
		long long cd = -1, ct = -1;
		if ((read_conversions || now_ms - w->conv_ms >= CONV_EVERY_MS) &&
		    (w->lim.daily_conversions > 0 || w->lim.total_conversions > 0)) {
			char offer[24], tenant[24];
			snprintf(offer, sizeof offer, "%lld", w->offer_id);
			snprintf(tenant, sizeof tenant, "%lld", w->tenant_id);
			PGresult *res =
			    db_execp(db, a,
			             "SELECT count(*) FILTER (WHERE created_at >= date_trunc('day', now() AT "
			             "TIME ZONE 'UTC') AT TIME ZONE 'UTC'), "
			             "count(*) FROM conversions WHERE tenant_id = $1 AND offer_id = $2 AND "
			             "status <> 'rejected'",
			             tenant, offer);
			if (res) {
				cd = atoll(db_val(res, 0, 0));
				ct = atoll(db_val(res, 0, 1));
				bool dfull = w->lim.daily_conversions > 0 && cd >= w->lim.daily_conversions;
				bool tfull = w->lim.total_conversions > 0 && ct >= w->lim.total_conversions;
				if (dfull)
					emit(db, a, w, "daily_conversions", w->lim.daily_conversions, cd,
					     true);
				if (tfull)
					emit(db, a, w, "total_conversions", w->lim.total_conversions, ct,
					     false);
				if (c->shm) {
					/* Also clears a flag when the cap was raised. */
					uint32_t now_s = (uint32_t)(now_ms / 1000);
					shm_sticky_put(c->shm, conv_key(w->offer_id, 1), now_s,
					               dfull ? (uint32_t)w->day : 0);
					shm_sticky_put(c->shm, conv_key(w->offer_id, 2), now_s,
					               tfull ? 1 : 0);
				}
			}
		}
		pthread_mutex_lock(&c->mu);
		struct slot *s = find(c, w->offer_id, false, now_ms);
		if (s) {
			if (daily >= 0) {
				if (s->day == w->day)
					s->daily = daily;
				s->total = total;
				s->inflight -= w->inflight;
			}
			if (cd >= 0) {
				s->conv_daily = cd;
				s->conv_total = ct;
				s->conv_ms = now_ms;
			}
		}
		pthread_mutex_unlock(&c->mu);
	}
	return rc;
}

static void *syncer(void *arg)
{
	struct caps *c = arg;
	const struct config *cfg = &c->app->cfg;
	struct db *db = db_new(cfg->db_conninfo, 1, 2000, "afftok-fcgi-caps");
	struct kv_opts ko = {
	    .host = cfg->redis_host,
	    .port = (int)cfg->redis_port,
	    .socket = cfg->redis_socket,
	    .password = cfg->redis_password,
	    .connect_timeout_ms = 300,
	    .command_timeout_ms = 300,
	    .sentinels = cfg->redis_sentinels,
	    .sentinel_master = cfg->redis_sentinel_master,
	};
	struct kv *kv = kv_new(&ko);
	struct arena *a = arena_new(8192);
	while (!atomic_load(&c->stop) && a && db && kv) {
		caps_sync(c, kv, db, a, now_ms(), false);
		arena_reset(a);
		usleep((useconds_t)cfg->click_cap_sync_ms * 1000);
	}
	arena_free(a);
	kv_free(kv);
	db_free(db);
	return NULL;
}

struct caps *caps_new(struct app *app, bool start_thread)
{
	struct caps *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->app = app;
	c->shm = app ? shm_shared_state(&app->cfg) : NULL;
	pthread_mutex_init(&c->mu, NULL);
	if (start_thread) {
		if (pthread_create(&c->thread, NULL, syncer, c) == 0)
			c->thread_started = true;
		else
			log_err("caps: cannot start the sync thread; caps count per worker only");
	}
	return c;
}

void caps_free(struct caps *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->stop, true);
	if (c->thread_started)
		pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static struct caps *shared;

struct caps *caps_shared(struct app *app)
{
	if (shared == NULL)
		shared = caps_new(app, true);
	return shared;
}
