/* Fixed one-minute windows in Redis: INCR + EXPIRE in one script call. */
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "arena.h"
#include "kv.h"
#include "log.h"

/* One round trip; the expiry outlives the window so a late INCR of the
 * previous window cannot recreate a key that never expires. */
static const char incr_script[] = "local n = redis.call('INCR', KEYS[1]) "
                                  "if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
                                  "return n";

const char *ratelimit_redis_key(struct arena *a, const char *what, long long window)
{
	return arena_sprintf(a, "afftok:rl:%s:%lld", what, window);
}

/* The count after this request, or -1 when Redis did not answer. */
static long long incr(struct app *app, struct arena *a, const char *key)
{
	redisReply *rep = kv_cmd(app->kv, a, "EVAL %s 1 %s %d", incr_script, key, 2 * RL_WINDOW_S);
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER)
		return -1;
	return rep->integer;
}

static void headers(struct resp *r, long limit, long long used, long reset)
{
	resp_header(r, "X-RateLimit-Limit", "%ld", limit);
	resp_header(r, "X-RateLimit-Remaining", "%lld", used >= limit ? 0 : limit - used);
	resp_header(r, "X-RateLimit-Reset", "%ld", reset);
}

static void limited(struct req *q, struct resp *r, long reset)
{
	resp_header(r, "Retry-After", "%ld", reset > 0 ? reset : 1);
	resp_error(q, r, 429, "RATE_LIMITED", "too many requests; retry in %ld s", reset > 0 ? reset : 1);
}

static long key_limit(struct app *app, const struct req *q, enum rl_class cls)
{
	long def = cls == RL_ADMIN   ? app->cfg.limit_admin_per_min
	           : cls == RL_STATS ? app->cfg.limit_stats_per_min
	                             : app->cfg.limit_postback_per_min;
	return q->auth.rate_limit == 0 ? def : q->auth.rate_limit;
}

static const char *key_key(struct req *q, enum rl_class cls, long long window)
{
	static const char *names[] = {"admin", "stats", "postback"};
	return ratelimit_redis_key(q->arena, arena_sprintf(q->arena, "%s:%lld", names[cls], q->auth.key_id),
	                           window);
}

/* The key's count n (< 0: Redis did not answer) against its limit. */
static int key_verdict(struct req *q, struct resp *r, enum rl_class cls, long limit, long long n, long reset)
{
	if (n < 0) {
		bool write = q->method != HTTP_GET && q->method != HTTP_HEAD;
		if (cls == RL_ADMIN && write) {
			/* Fail closed: an admin change we cannot count could be abuse. */
			resp_error(q, r, 503, "UNAVAILABLE", "the rate limiter is unavailable");
			return -1;
		}
		return 0; /* fail open: postbacks must never be lost */
	}
	headers(r, limit, n, reset);
	if (n > limit) {
		limited(q, r, reset);
		return -1;
	}
	return 0;
}

int ratelimit_key(struct app *app, struct req *q, struct resp *r, enum rl_class cls)
{
	long limit = key_limit(app, q, cls);
	if (limit <= 0)
		return 0;
	time_t now = time(NULL);
	long long window = now / RL_WINDOW_S;
	long reset = (long)((window + 1) * RL_WINDOW_S - now);
	const char *key = key_key(q, cls, window);
	long long n = key ? incr(app, q->arena, key) : -1;
	return key_verdict(q, r, cls, limit, n, reset);
}

static const char *addr_key(struct app *app, struct req *q, long long window)
{
	(void)app;
	const char *addr = q->remote_addr && q->remote_addr[0] ? q->remote_addr : "unknown";
	return ratelimit_redis_key(q->arena, arena_sprintf(q->arena, "authfail:%.64s", addr), window);
}

bool ratelimit_auth_blocked(struct app *app, struct req *q, struct resp *r)
{
	long limit = app->cfg.limit_auth_failures;
	if (limit <= 0)
		return false;
	time_t now = time(NULL);
	long long window = now / RL_WINDOW_S;
	const char *key = addr_key(app, q, window);
	redisReply *rep = key ? kv_cmd(app->kv, q->arena, "GET %s", key) : NULL;
	if (rep == NULL || rep->type != REDIS_REPLY_STRING)
		return false; /* no failures yet, or Redis down: fail open */
	if (atoll(rep->str) < limit)
		return false;
	long reset = (long)((window + 1) * RL_WINDOW_S - now);
	headers(r, limit, atoll(rep->str), reset);
	limited(q, r, reset);
	return true;
}

void ratelimit_auth_failed(struct app *app, struct req *q)
{
	if (app->cfg.limit_auth_failures <= 0)
		return;
	const char *key = addr_key(app, q, time(NULL) / RL_WINDOW_S);
	if (key && incr(app, q->arena, key) == app->cfg.limit_auth_failures)
		log_warn("auth: %s reached %ld failed key checks this minute",
		         q->remote_addr ? q->remote_addr : "?", app->cfg.limit_auth_failures);
}

/* The address's failed-auth count, then (unless that blocks) the key's
 * INCR + EXPIRE: {failures, count}, count 0 when blocked. A failure count
 * that is not a number reads as 0, as GET + atoll() did. */
static const char both_script[] = "local f = tonumber(redis.call('GET', KEYS[1])) or 0 "
                                  "if f >= tonumber(ARGV[1]) then return {f, 0} end "
                                  "local n = redis.call('INCR', KEYS[2]) "
                                  "if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end "
                                  "return {f, n}";

int ratelimit_request(struct app *app, struct req *q, struct resp *r, enum rl_class cls)
{
	long auth_limit = app->cfg.limit_auth_failures, limit = key_limit(app, q, cls);
	if (auth_limit <= 0 || limit <= 0) /* one check or none: one round trip anyway */
		return ratelimit_auth_blocked(app, q, r) ? -1 : ratelimit_key(app, q, r, cls);
	time_t now = time(NULL);
	long long window = now / RL_WINDOW_S;
	long reset = (long)((window + 1) * RL_WINDOW_S - now);
	const char *fails = addr_key(app, q, window), *key = key_key(q, cls, window);
	redisReply *rep = fails && key ? kv_cmd(app->kv, q->arena, "EVAL %s 2 %s %s %ld %d", both_script, fails,
	                                        key, auth_limit, 2 * RL_WINDOW_S)
	                               : NULL;
	long long n = -1;
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[1]->type == REDIS_REPLY_INTEGER) {
		long long failures = rep->element[0]->integer;
		if (failures >= auth_limit) {
			headers(r, auth_limit, failures, reset);
			limited(q, r, reset);
			return -1;
		}
		n = rep->element[1]->integer;
	}
	return key_verdict(q, r, cls, limit, n, reset);
}
