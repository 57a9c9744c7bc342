/* Bot signals and their scores (see bot.h). */
#include "bot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "botua.h"
#include "config.h"
#include "log.h"
#include "netset.h"

struct bot_rules *bot_rules_new(const char *crawler_patterns, const char *datacenter_cidrs, int threshold,
                                char *err, size_t errlen)
{
	struct bot_rules *r = calloc(1, sizeof *r);
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->threshold = threshold;
	r->ua = botua_new(crawler_patterns, err, errlen);
	r->dc = netset_new();
	if (r->ua == NULL || r->dc == NULL) {
		if (r->dc == NULL)
			snprintf(err, errlen, "out of memory");
		bot_rules_free(r);
		return NULL;
	}
	size_t bad = 0;
	if (datacenter_cidrs && datacenter_cidrs[0] && netset_load(r->dc, datacenter_cidrs, &bad) == 0 && bad)
		log_warn("bot: %s: %zu malformed lines skipped", datacenter_cidrs, bad);
	netset_finish(r->dc);
	return r;
}

void bot_rules_free(struct bot_rules *r)
{
	if (r == NULL)
		return;
	botua_free(r->ua);
	netset_free(r->dc);
	free(r);
}

static void signal_(struct bot_verdict *v, int *best, const char *reason, int score)
{
	v->score += score;
	if (score > *best) {
		*best = score;
		v->reason = reason;
	}
}

void bot_classify(const struct bot_rules *r, const struct bot_input *in, struct bot_verdict *out)
{
	memset(out, 0, sizeof *out);
	out->pattern = -1;
	int best = 0;
	size_t len = in->ua ? strlen(in->ua) : 0;
	if (len == 0) {
		signal_(out, &best, "empty_ua", 100);
	} else {
		if (in->ua_known)
			out->pattern = in->ua_pattern;
		else if (r)
			out->pattern = botua_match(r->ua, in->ua, len);
		if (out->pattern >= 0)
			signal_(out, &best, "crawler_ua", 100);
		else if (strncmp(in->ua, "Mozilla/", 8) != 0 && strncmp(in->ua, "Opera", 5) != 0)
			signal_(out, &best, "non_browser_ua", 80);
	}
	if (in->activity_exceeded)
		signal_(out, &best, "activity", 100);
	if (r && (netset_has_asn(r->dc, in->asn) || netset_has_ip(r->dc, in->ip)))
		signal_(out, &best, "datacenter", 60);
	if (in->accept_language == NULL || in->accept_language[0] == '\0')
		signal_(out, &best, "no_accept_language", 30);
	if (out->score > 100)
		out->score = 100;
	out->bot = out->score >= (r ? r->threshold : 70);
}

static struct bot_rules *shared;
static bool shared_tried;

const struct bot_rules *bot_shared(const struct config *cfg)
{
	if (!shared_tried) {
		shared_tried = true;
		char err[512];
		shared = bot_rules_new(cfg->click_crawler_patterns, cfg->click_datacenter_cidrs,
		                       (int)cfg->click_bot_threshold, err, sizeof err);
		if (shared == NULL)
			log_err("bot: %s; crawler patterns off", err);
	}
	return shared;
}
