/* Bot detection (general invalid traffic) at the click. Each signal has a
 * score; the click is a bot when the sum reaches click.bot_threshold, and
 * the strongest signal is the recorded reason:
 *   empty_ua 100, crawler_ua 100 (crawler-user-agents list), activity 100
 *   (too many clicks from one address, counted by the caller through
 *   src/shm.c), non_browser_ua 80 (no "Mozilla/" or "Opera" prefix),
 *   datacenter 60 (address in the CIDR list or ASN in it), no_accept_language
 *   30 (every browser sends one).
 * With the default threshold 70 a datacenter address alone is not a bot
 * (VPN users), a datacenter address without Accept-Language is. */
#ifndef AFFTOK_BOT_H
#define AFFTOK_BOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct botua;
struct netset;

struct bot_rules {
	struct botua *ua;
	struct netset *dc;
	int threshold;
};

struct bot_input {
	const char *ua;
	const char *accept_language;
	const char *ip;
	uint32_t asn;
	bool activity_exceeded;
	bool ua_known;  /* ua_pattern already computed (the caller's cache) */
	int ua_pattern; /* with ua_known: botua_match()'s answer */
};

struct bot_verdict {
	bool bot;
	int score;          /* sum of the signals, capped at 100 */
	const char *reason; /* strongest signal, or NULL when none fired */
	int pattern;        /* crawler pattern index, -1 when none */
};

/* Compiles the rules from the [click] keys. NULL with err on failure (a
 * missing datacenter file is not one: the set is then empty). */
struct bot_rules *bot_rules_new(const char *crawler_patterns, const char *datacenter_cidrs, int threshold,
                                char *err, size_t errlen);
void bot_rules_free(struct bot_rules *r);
void bot_classify(const struct bot_rules *r, const struct bot_input *in, struct bot_verdict *out);
/* The process-wide rules, built on first use; NULL when they could not be
 * built (then bot detection is off and the reason is logged once). */
const struct bot_rules *bot_shared(const struct config *cfg);

#endif
