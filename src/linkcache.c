/* Per-worker link cache and its epoch watcher thread (see linkcache.h). */
#include "linkcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "kv.h"
#include "log.h"
#include "secret.h"
#include "util.h"

/* Open addressing; when full the whole table is dropped (a worker that sees
 * more codes than this between epochs just reloads them). */
#define SLOTS 16384
#define MAX_FILL (SLOTS / 2)

struct linkcache {
	struct app *app;
	struct link_entry *slot[SLOTS];
	size_t used;
	long long epoch;             /* epoch of the entries in the table */
	_Atomic long long seen;      /* latest epoch the watcher read; 0 = unknown */
	_Atomic bool stop;
	pthread_t thread;
	bool thread_started;
	uint64_t hits, misses;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void entry_free(struct link_entry *e)
{
	if (e == NULL)
		return;
	free(e->url);
	free(e->fallback_url);
	memset(e, 0, sizeof *e); /* secrets */
	free(e);
}

static void flush(struct linkcache *lc)
{
	for (size_t i = 0; i < SLOTS; i++) {
		entry_free(lc->slot[i]);
		lc->slot[i] = NULL;
	}
	lc->used = 0;
}

/* ---- epoch watcher ---- */

static long long read_epoch(struct db *db, struct kv *kv, struct arena *a)
{
	long long best = 0;
	redisReply *r = kv ? kv_cmd(kv, a, "GET " LINKCACHE_EPOCH_KEY) : NULL;
	if (r && r->type == REDIS_REPLY_STRING)
		best = atoll(r->str);
	PGresult *res = db ? db_exec(db, a, "SELECT epoch FROM cache_epoch", 0, NULL) : NULL;
	if (res && PQntuples(res) == 1) {
		long long e = atoll(db_val(res, 0, 0));
		if (e > best)
			best = e;
	}
	return best; /* both epochs only grow: the larger one is the truth */
}

static void *watcher(void *arg)
{
	struct linkcache *lc = arg;
	const struct config *c = &lc->app->cfg;
	struct db *db = db_new(c->db_conninfo, 1, 1000, "afftok-fcgi-epoch");
	struct kv_opts ko = {
		.host = c->redis_host, .port = (int)c->redis_port, .socket = c->redis_socket,
		.password = c->redis_password, .connect_timeout_ms = 300, .command_timeout_ms = 300,
		.sentinels = c->redis_sentinels, .sentinel_master = c->redis_sentinel_master,
	};
	struct kv *kv = kv_new(&ko);
	struct arena *a = arena_new(4096);
	while (!atomic_load(&lc->stop) && a) {
		long long e = read_epoch(db, kv, a);
		arena_reset(a);
		if (e > atomic_load(&lc->seen))
			atomic_store(&lc->seen, e);
		for (int i = 0; i < 10 && !atomic_load(&lc->stop); i++)
			usleep(100000);
	}
	arena_free(a);
	kv_free(kv);
	db_free(db);
	return NULL;
}

struct linkcache *linkcache_new(struct app *app)
{
	struct linkcache *lc = calloc(1, sizeof *lc);
	if (lc == NULL)
		return NULL;
	lc->app = app;
	if (pthread_create(&lc->thread, NULL, watcher, lc) == 0)
		lc->thread_started = true;
	else
		log_err("linkcache: cannot start the epoch watcher; cached links are kept until restart");
	return lc;
}

void linkcache_free(struct linkcache *lc)
{
	if (lc == NULL)
		return;
	atomic_store(&lc->stop, true);
	if (lc->thread_started)
		pthread_join(lc->thread, NULL);
	flush(lc);
	free(lc);
}

void linkcache_counts(const struct linkcache *lc, uint64_t *hits, uint64_t *misses, long long *epoch)
{
	*hits = lc->hits;
	*misses = lc->misses;
	*epoch = lc->epoch;
}

/* ---- loading ---- */

static void copy_str(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "");
}

static long long val_ll(PGresult *res, int c)
{
	const char *v = db_val(res, 0, c);
	return v ? atoll(v) : 0;
}

static size_t decrypt_into(struct app *app, struct arena *a, const char *enc, unsigned char *out)
{
	unsigned char *plain;
	int n = enc ? secret_decrypt(&app->mk, a, enc, &plain) : -1;
	if (n <= 0 || n > LINKCACHE_SECRET_MAX)
		return 0;
	memcpy(out, plain, (size_t)n);
	memset(plain, 0, (size_t)n);
	return (size_t)n;
}

/* NULL when the database cannot answer. */
static struct link_entry *load(struct linkcache *lc, struct arena *a, const char *code)
{
	struct app *app = lc->app;
	if (!db_ready(app->db))
		return NULL;
	PGresult *res = db_execp(app->db, a,
		"SELECT l.id, l.tenant_id, l.offer_id, l.affiliate_id, o.advertiser_id, l.status, o.status, "
		"t.status, o.url, o.fallback_url, o.link_policy, o.link_ttl_s, o.attribution_days, "
		"o.cap_daily_clicks, o.cap_total_clicks, o.cap_daily_conversions, o.cap_total_conversions, "
		"t.link_secret_enc, t.link_secret_prev_enc, "
		"floor(extract(epoch FROM t.link_secret_prev_until))::bigint "
		"FROM links l JOIN offers o ON o.tenant_id = l.tenant_id AND o.id = l.offer_id "
		"JOIN tenants t ON t.id = l.tenant_id WHERE l.code = $1", code);
	if (res == NULL)
		return NULL;
	struct link_entry *e = calloc(1, sizeof *e);
	if (e == NULL)
		return NULL;
	copy_str(e->code, sizeof e->code, code);
	e->loaded_ms = mono_ms();
	if (PQntuples(res) != 1)
		return e; /* unknown code */
	e->found = true;
	e->link_id = val_ll(res, 0);
	e->tenant_id = val_ll(res, 1);
	e->offer_id = val_ll(res, 2);
	e->affiliate_id = val_ll(res, 3);
	e->advertiser_id = val_ll(res, 4);
	copy_str(e->link_status, sizeof e->link_status, db_val(res, 0, 5));
	copy_str(e->offer_status, sizeof e->offer_status, db_val(res, 0, 6));
	copy_str(e->tenant_status, sizeof e->tenant_status, db_val(res, 0, 7));
	e->url = strdup(db_val(res, 0, 8));
	e->fallback_url = db_val(res, 0, 9) && db_val(res, 0, 9)[0] ? strdup(db_val(res, 0, 9)) : NULL;
	e->policy_reject = !strcmp(db_val(res, 0, 10), "reject");
	e->ttl_s = (long)val_ll(res, 11);
	e->attribution_days = (long)val_ll(res, 12);
	e->cap_daily_clicks = val_ll(res, 13);
	e->cap_total_clicks = val_ll(res, 14);
	e->cap_daily_conversions = val_ll(res, 15);
	e->cap_total_conversions = val_ll(res, 16);
	e->secret_len = decrypt_into(app, a, db_val(res, 0, 17), e->secret);
	if (e->secret_len == 0)
		log_err("linkcache: tenant %lld: the link secret cannot be decrypted (wrong master key?)",
			e->tenant_id);
	e->prev_len = decrypt_into(app, a, db_val(res, 0, 18), e->prev_secret);
	e->prev_until_s = val_ll(res, 19);
	if (e->url == NULL) {
		entry_free(e);
		return NULL;
	}
	return e;
}

const struct link_entry *linkcache_get(struct linkcache *lc, struct arena *a, const char *code)
{
	long long seen = atomic_load(&lc->seen);
	if (seen != lc->epoch) {
		if (lc->used)
			log_info("linkcache: epoch %lld -> %lld, cache dropped", lc->epoch, seen);
		flush(lc);
		lc->epoch = seen;
	}
	uint32_t h = hash(code) & (SLOTS - 1);
	for (;; h = (h + 1) & (SLOTS - 1)) {
		struct link_entry *e = lc->slot[h];
		if (e == NULL)
			break;
		if (!strcmp(e->code, code)) {
			/* Unknown codes are re-checked after cache_ttl_s: a link just
			 * created is found even if its epoch bump was missed. */
			if (e->found || mono_ms() - e->loaded_ms < lc->app->cfg.click_cache_ttl_s * 1000) {
				lc->hits++;
				return e;
			}
			struct link_entry *fresh = load(lc, a, code);
			if (fresh == NULL)
				return e; /* keep answering 404 while the database is away */
			fresh->epoch = lc->epoch;
			entry_free(e);
			lc->slot[h] = fresh;
			lc->misses++;
			return fresh;
		}
	}
	lc->misses++;
	struct link_entry *e = load(lc, a, code);
	if (e == NULL)
		return NULL;
	e->epoch = lc->epoch;
	if (lc->used >= MAX_FILL) {
		flush(lc);
		h = hash(code) & (SLOTS - 1);
	}
	lc->slot[h] = e;
	lc->used++;
	return e;
}

long long linkcache_bump(struct app *app, struct arena *a)
{
	PGresult *res = db_exec(app->db, a, "UPDATE cache_epoch SET epoch = epoch + 1 RETURNING epoch", 0, NULL);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	long long e = atoll(db_val(res, 0, 0));
	char v[24];
	snprintf(v, sizeof v, "%lld", e);
	/* Only raise the published value: two bumps racing must not lower it. */
	kv_cmd(app->kv, a,
	       "EVAL %s 1 " LINKCACHE_EPOCH_KEY " %s",
	       "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then "
	       "redis.call('SET', KEYS[1], ARGV[1]) end return 1",
	       v);
	return e;
}
