/* The traffic-quality steps of the click pipeline (see traffic.h). */
#include "traffic.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "bot.h"
#include "botua.h"
#include "caps.h"
#include "click.h"
#include "db.h"
#include "geo.h"
#include "georule.h"
#include "linkcache.h"
#include "log.h"
#include "routing.h"
#include "shm.h"
#include "uaparse.h"
#include "util.h"

#define CACHE_SLOTS 4096
#define MAX_AGE_MS 60000

enum bot_action { BOT_REDIRECT, BOT_FALLBACK, BOT_REJECT };

struct tq_entry {
	long long link_id; /* 0 = empty slot */
	long long epoch;
	int64_t loaded_ms;
	struct arena *mem; /* everything below lives here */
	enum bot_action bot_action;
	struct geo_rule *rules;
	size_t nrules;
	struct route_plan *route; /* NULL = none */
};

static struct tq_entry cache[CACHE_SLOTS];

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return json_object_get_string(v);
}

/* A JSON array of strings as a NULL-terminated list (NULL = any). */
static const char *const *jlist(struct arena *a, struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) == 0)
		return NULL;
	size_t n = json_object_array_length(v);
	const char **l = arena_alloc(a, (n + 1) * sizeof *l);
	if (l == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		l[i] = arena_strdup(a, json_object_get_string(json_object_array_get_idx(v, i)));
	return l;
}

/* ["US","DE"] -> "USDE" (NULL = any). */
static const char *jcountries(struct arena *a, struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) == 0)
		return NULL;
	size_t n = json_object_array_length(v);
	char *s = arena_alloc(a, 2 * n + 1);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *cc = json_object_get_string(json_object_array_get_idx(v, i));
		if (geo_country_code_valid(cc))
			memcpy(s + strlen(s), cc, 2);
	}
	return s;
}

static void parse_rules(struct tq_entry *e, const char *text)
{
	struct json_object *arr = json_tokener_parse(text ? text : "[]");
	if (arr && json_object_is_type(arr, json_type_array)) {
		size_t n = json_object_array_length(arr);
		e->rules = arena_alloc(e->mem, (n ? n : 1) * sizeof *e->rules);
		for (size_t i = 0; e->rules && i < n; i++) {
			struct json_object *o = json_object_array_get_idx(arr, i);
			const char *mode = jstr(o, "m"), *cs = jstr(o, "c");
			e->rules[e->nrules++] =
			    (struct geo_rule){geo_scope_from(jstr(o, "s")), mode && !strcmp(mode, "block"),
			                      true, arena_strdup(e->mem, cs ? cs : "")};
		}
	}
	json_object_put(arr);
}

static void parse_route(struct tq_entry *e, const char *text)
{
	if (text == NULL)
		return;
	struct json_object *o = json_tokener_parse(text), *dests, *v;
	if (o == NULL)
		return;
	struct route_plan *r = arena_alloc(e->mem, sizeof *r);
	if (r && json_object_object_get_ex(o, "dests", &dests) &&
	    json_object_is_type(dests, json_type_array)) {
		size_t n = json_object_array_length(dests);
		if (n > ROUTE_DEST_MAX)
			n = ROUTE_DEST_MAX;
		r->id = json_object_object_get_ex(o, "id", &v) ? json_object_get_int64(v) : 0;
		r->sticky = json_object_object_get_ex(o, "sticky", &v) && json_object_get_boolean(v);
		const char *fb = jstr(o, "fallback_url");
		r->fallback_url = fb ? arena_strdup(e->mem, fb) : NULL;
		r->dests = arena_alloc(e->mem, (n ? n : 1) * sizeof *r->dests);
		for (size_t i = 0; r->dests && i < n; i++) {
			struct json_object *d = json_object_array_get_idx(dests, i);
			struct route_dest *rd = &r->dests[r->ndests++];
			const char *name = jstr(d, "name"), *url = jstr(d, "url"),
			           *ourl = jstr(d, "offer_url");
			rd->name = name ? arena_strdup(e->mem, name) : arena_sprintf(e->mem, "d%zu", i + 1);
			rd->offer_id =
			    json_object_object_get_ex(d, "offer_id", &v) ? json_object_get_int64(v) : 0;
			rd->url = arena_strdup(e->mem, url ? url : ourl ? ourl : "");
			/* An offer destination whose offer is gone or paused is never picked. */
			rd->weight = json_object_object_get_ex(d, "weight", &v) && rd->url[0]
			                 ? (unsigned)json_object_get_int(v)
			                 : 0;
			rd->countries = jcountries(e->mem, d, "countries");
			rd->devices = jlist(e->mem, d, "devices");
			rd->os = jlist(e->mem, d, "os");
		}
		if (r->dests)
			e->route = r;
	}
	json_object_put(o);
}

static const char *const load_sql =
    "SELECT o.bot_action, "
    " (SELECT coalesce(json_agg(json_build_object('s', g.scope, 'm', g.mode, 'c', "
    "array_to_string(g.countries, ''))), '[]') "
    "  FROM geo_rules g WHERE g.tenant_id = $1 AND g.active AND (g.scope = 'tenant' "
    "   OR (g.scope = 'advertiser' AND g.scope_id = $2) OR (g.scope = 'offer' AND g.scope_id = $3)))::text, "
    " (SELECT json_build_object('id', r.id, 'sticky', r.sticky, 'fallback_url', r.fallback_url, 'dests', "
    "   (SELECT coalesce(json_agg(d.value || jsonb_build_object('offer_url', o2.url) ORDER BY d.ord), '[]') "
    "    FROM jsonb_array_elements(r.destinations) WITH ORDINALITY d(value, ord) "
    "    LEFT JOIN offers o2 ON o2.tenant_id = r.tenant_id AND o2.status = 'active' "
    "     AND o2.id = CASE WHEN d.value->>'offer_id' ~ '^[0-9]{1,18}$' THEN (d.value->>'offer_id')::bigint "
    "END)) "
    "  FROM routes r WHERE r.tenant_id = $1 AND r.active AND (r.link_id = $4 OR r.offer_id = $3) "
    "  ORDER BY r.link_id IS NULL LIMIT 1)::text "
    "FROM offers o WHERE o.tenant_id = $1 AND o.id = $3";

/* The link's entry, loaded or reloaded when needed; NULL when it was never
 * loaded and PostgreSQL cannot answer (then the checks that need it pass). */
static const struct tq_entry *entry_for(struct click *c)
{
	const struct link_entry *l = c->link;
	struct tq_entry *e = &cache[(unsigned long long)l->link_id % CACHE_SLOTS];
	int64_t now = mono_ms();
	bool have = e->link_id == l->link_id;
	if (have && e->epoch == l->epoch && now - e->loaded_ms < MAX_AGE_MS)
		return e;
	if (c->app == NULL)
		return have ? e : NULL;
	char t[24], adv[24], off[24], lnk[24];
	snprintf(t, sizeof t, "%lld", l->tenant_id);
	snprintf(adv, sizeof adv, "%lld", l->advertiser_id);
	snprintf(off, sizeof off, "%lld", l->offer_id);
	snprintf(lnk, sizeof lnk, "%lld", l->link_id);
	PGresult *res = db_execp(c->app->db, c->arena, load_sql, t, adv, off, lnk);
	if (res == NULL || PQntuples(res) != 1) {
		if (have)
			e->loaded_ms = now; /* keep serving it; try again in a minute */
		return have ? e : NULL;
	}
	arena_free(e->mem);
	memset(e, 0, sizeof *e);
	e->mem = arena_new(2048);
	if (e->mem == NULL)
		return NULL;
	e->link_id = l->link_id;
	e->epoch = l->epoch;
	e->loaded_ms = now;
	const char *ba = db_val(res, 0, 0);
	e->bot_action = ba && !strcmp(ba, "reject")     ? BOT_REJECT
	                : ba && !strcmp(ba, "fallback") ? BOT_FALLBACK
	                                                : BOT_REDIRECT;
	parse_rules(e, db_val(res, 0, 1));
	parse_route(e, db_val(res, 0, 2));
	return e;
}

/* ---- the steps ---- */

void traffic_check_geo(struct click *c)
{
	struct geo_result g = {{0}, 0};
	if (c->app && c->ip)
		geo_lookup(geo_shared(&c->app->cfg), c->ip, &g);
	memcpy(c->country, g.country, sizeof c->country);
	c->asn = g.asn;
	const struct tq_entry *e = entry_for(c);
	if (e == NULL || e->nrules == 0)
		return;
	bool unknown_ok = c->app == NULL || strcmp(c->app->cfg.click_unknown_country, "block") != 0;
	if (!georule_allows(e->rules, e->nrules, c->country, unknown_ok, NULL))
		click_fail(c, "geo_blocked");
}

/* What a user agent says (crawler pattern, device, OS, browser) depends on
 * nothing else, and real traffic repeats a few thousand user agents: a
 * per-worker direct-mapped cache keyed by the whole string (compared, not
 * just hashed, so no crafted user agent can borrow another's verdict)
 * saves the matching, whose tables are cold after the rest of a request. */
#define UA_CACHE_SLOTS 1024
#define UA_CACHE_MAX 255

struct ua_slot {
	uint16_t len; /* 0 = empty */
	int16_t pattern;
	struct ua_info info;
	char ua[UA_CACHE_MAX];
};

static struct ua_slot ua_cache[UA_CACHE_SLOTS];

static void ua_facts(const struct bot_rules *br, const char *ua, size_t len, struct ua_info *ui, int *pattern)
{
	struct ua_slot *s = NULL;
	if (len > 0 && len <= UA_CACHE_MAX) {
		s = &ua_cache[shm_hash(ua, len, 0x7561) % UA_CACHE_SLOTS];
		if (s->len == len && memcmp(s->ua, ua, len) == 0) {
			*ui = s->info;
			*pattern = s->pattern;
			return;
		}
	}
	ua_parse(ua, len, ui);
	*pattern = br && len ? botua_match(br->ua, ua, len) : -1;
	if (s && *pattern < INT16_MAX) {
		s->len = (uint16_t)len;
		s->pattern = (int16_t)*pattern;
		s->info = *ui;
		memcpy(s->ua, ua, len);
	}
}

void traffic_check_bot(struct click *c)
{
	size_t len = c->user_agent ? strlen(c->user_agent) : 0;
	struct ua_info ui;
	if (c->app == NULL) {
		ua_parse(c->user_agent, len, &ui);
		c->device = ui.device;
		c->os = ui.os;
		c->browser = ui.browser;
		return;
	}
	const struct bot_rules *br = bot_shared(&c->app->cfg);
	int pattern;
	ua_facts(br, c->user_agent, len, &ui, &pattern);
	c->device = ui.device;
	c->os = ui.os;
	c->browser = ui.browser;
	const struct config *cfg = &c->app->cfg;
	bool busy = false;
	if (cfg->click_activity_max > 0 && c->ip) {
		struct shm *s = shm_shared_state(cfg);
		uint32_t window = (uint32_t)(c->now_ms / 1000 / cfg->click_activity_window_s);
		busy = s && shm_hit(s, shm_hash(c->ip, strlen(c->ip), 0x6970), window) >
		                (uint32_t)cfg->click_activity_max;
	}
	struct bot_input in = {c->user_agent, c->accept_language, c->ip, (uint32_t)c->asn, busy, true,
	                       pattern};
	struct bot_verdict v;
	bot_classify(br, &in, &v);
	c->bot_score = v.score;
	if (!v.bot)
		return;
	c->device = "bot";
	c->bot_reason = v.reason;
	if (c->reason)
		return; /* already failed for another reason: that one decides */
	click_fail(c, "bot");
	const struct tq_entry *e = entry_for(c);
	enum bot_action act = e ? e->bot_action : BOT_REDIRECT;
	if (act == BOT_REJECT)
		c->force_reject = true;
	else if (act == BOT_REDIRECT)
		c->keep_destination = true;
}

void traffic_check_caps(struct click *c)
{
	const struct link_entry *l = c->link;
	struct cap_limits lim = {l->cap_daily_clicks, l->cap_total_clicks, l->cap_daily_conversions,
	                         l->cap_total_conversions};
	/* Offers without caps stop here: no lock, no Redis. Invalid clicks do
	 * not use up a cap. */
	if (!caps_any(&lim) || c->reason || c->app == NULL)
		return;
	const char *which;
	if (!caps_admit(caps_shared(c->app), l->tenant_id, l->offer_id, &lim, c->now_ms, &which))
		click_fail(c, "cap_reached");
}

void traffic_route(struct click *c)
{
	const struct tq_entry *e = entry_for(c);
	if (e == NULL || e->route == NULL || e->route->ndests == 0)
		return;
	const struct route_plan *r = e->route;
	/* The visitor: address and user agent (the click fingerprint without
	 * the link, so a visitor keeps the destination across an offer's links). */
	char fp[64];
	uint64_t h = shm_hash(c->ip ? c->ip : "", c->ip ? strlen(c->ip) : 0, 0);
	h = shm_hash(c->user_agent ? c->user_agent : "", c->user_agent ? strlen(c->user_agent) : 0, h);
	snprintf(fp, sizeof fp, "%016llx", (unsigned long long)h);
	struct shm *s = c->app ? shm_shared_state(&c->app->cfg) : NULL;
	if (s == NULL)
		return;
	int i = route_choose(r, s, fp, c->country, c->device, c->os, (uint32_t)(c->now_ms / 1000),
	                     c->reason == NULL);
	if (i < 0) {
		c->route_dest = "fallback";
		if (r->fallback_url)
			c->dest_template = r->fallback_url;
		return;
	}
	c->route_dest = r->dests[i].name;
	c->dest_template = r->dests[i].url;
}
