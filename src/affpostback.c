/* Affiliate postback macros and retry schedule. */
#include "affpostback.h"

#include "buf.h"
#include "macro.h"

void affpb_expand(struct buf *out, const char *tmpl, const struct affpb_values *v)
{
	const struct macro m[] = {
		{"click_id", v->click_id}, {"sub1", v->sub[0]}, {"sub2", v->sub[1]}, {"sub3", v->sub[2]},
		{"sub4", v->sub[3]}, {"sub5", v->sub[4]}, {"payout", v->payout}, {"currency", v->currency},
		{"status", v->status}, {"transaction_id", v->transaction_id}, {"offer_id", v->offer_id},
		{"conversion_id", v->conversion_id},
	};
	macro_expand(out, tmpl, m, sizeof m / sizeof m[0]);
}

int64_t affpb_backoff_s(int attempt, unsigned rnd)
{
	if (attempt < 1)
		attempt = 1;
	int64_t s = 60;
	for (int i = 1; i < attempt && s < 6 * 3600; i++)
		s *= 2;
	if (s > 6 * 3600)
		s = 6 * 3600;
	return s + s * (int64_t)(rnd & 0xffff) / 655360; /* + up to 10 % */
}

bool affpb_retry_allowed(int64_t event_age_s, int64_t wait_s)
{
	return event_age_s + wait_s <= AFFPB_GIVE_UP_S;
}
