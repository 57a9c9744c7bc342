/* Request limits counted in Redis, so every worker and host shares them:
 * per API key and minute on the admin, stats and postback routes (a route
 * opts in with R_RL_ADMIN / R_RL_STATS / R_RL_POSTBACK, see src/router.h),
 * and failed key checks per client address and minute. The dispatcher calls
 * these; handlers need not.
 *
 * Answers: 429 RATE_LIMITED with Retry-After; every counted answer carries
 * X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (seconds
 * until the window ends). When Redis cannot answer: postbacks, stats and
 * admin reads go through (a postback must never be lost), admin writes get
 * 503 UNAVAILABLE. */
#ifndef AFFTOK_RATELIMIT_H
#define AFFTOK_RATELIMIT_H

#include <stdbool.h>

#include "http.h"

struct app;

enum rl_class { RL_ADMIN, RL_STATS, RL_POSTBACK };

#define RL_WINDOW_S 60

/* Counts one request of the authenticated key (q->auth). Returns 0 when it
 * may go on (headers added), -1 after answering 429 or 503. */
int ratelimit_key(struct app *app, struct req *q, struct resp *r, enum rl_class cls);
/* Both checks of a request whose key is already known good (q->auth set,
 * see auth_cached()) in one Redis round trip: the same answers as
 * ratelimit_auth_blocked() followed by ratelimit_key(), and as there, a
 * blocked address's request does not count against the key. */
int ratelimit_request(struct app *app, struct req *q, struct resp *r, enum rl_class cls);
/* True (after answering 429) when q's address is over its failed-auth limit. */
bool ratelimit_auth_blocked(struct app *app, struct req *q, struct resp *r);
/* Counts one failed key check for q's address. */
void ratelimit_auth_failed(struct app *app, struct req *q);
/* The window's Redis key (pure; for tests): "afftok:rl:<what>:<window>". */
const char *ratelimit_redis_key(struct arena *a, const char *what, long long window);

#endif
