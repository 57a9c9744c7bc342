/* Outgoing affiliate postbacks (SPEC §4): the URL template with its macros
 * and the retry schedule. Sending is cron/job-postbacks.c (libcurl multi
 * through src/httpout.h, which applies the SSRF guard). */
#ifndef AFFTOK_AFFPOSTBACK_H
#define AFFTOK_AFFPOSTBACK_H

#include <stdbool.h>
#include <stdint.h>

struct buf;

/* Give up this long after the conversion event (then state 'failed'). */
#define AFFPB_GIVE_UP_S (72 * 3600)

struct affpb_values {
	const char *click_id, *sub[5], *payout, *currency, *status, *transaction_id, *offer_id,
	    *conversion_id;
};

/* Appends tmpl with {click_id}, {sub1}..{sub5}, {payout}, {currency},
 * {status}, {transaction_id}, {offer_id}, {conversion_id} replaced by their
 * URL-encoded values (unknown macros stay as written). */
void affpb_expand(struct buf *out, const char *tmpl, const struct affpb_values *v);
/* Seconds to wait after failed attempt number `attempt` (1-based): 1 min,
 * doubling, at most 6 h; with jitter in [0, 10 %] from `rnd` (0..65535)
 * so failures of one receiver do not come back in lockstep. */
int64_t affpb_backoff_s(int attempt, unsigned rnd);
/* Whether another attempt fits: the next one would start before the event
 * is AFFPB_GIVE_UP_S old. */
bool affpb_retry_allowed(int64_t event_age_s, int64_t wait_s);

#endif
