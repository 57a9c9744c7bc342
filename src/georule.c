/* Geo rule precedence (see georule.h). */
#include "georule.h"

#include <string.h>

static bool listed(const char *packed, const char *cc)
{
	for (const char *p = packed; p && p[0] && p[1]; p += 2)
		if (p[0] == cc[0] && p[1] == cc[1])
			return true;
	return false;
}

bool georule_allows(const struct geo_rule *rules, size_t n, const char *country, bool unknown_allowed,
                    enum geo_scope *decided_by)
{
	enum geo_scope deciding = GEO_SCOPE_NONE;
	for (size_t i = 0; i < n; i++)
		if (rules[i].active && rules[i].scope > deciding)
			deciding = rules[i].scope;
	if (decided_by)
		*decided_by = deciding;
	if (deciding == GEO_SCOPE_NONE)
		return true;
	if (country == NULL || country[0] == '\0')
		return unknown_allowed;
	bool have_allow = false, allowed = false;
	for (size_t i = 0; i < n; i++) {
		if (!rules[i].active || rules[i].scope != deciding)
			continue;
		bool hit = listed(rules[i].countries, country);
		if (rules[i].block && hit)
			return false;
		if (!rules[i].block) {
			have_allow = true;
			allowed = allowed || hit;
		}
	}
	return !have_allow || allowed;
}

enum geo_scope geo_scope_from(const char *name)
{
	if (name == NULL)
		return GEO_SCOPE_NONE;
	if (!strcmp(name, "tenant"))
		return GEO_SCOPE_TENANT;
	if (!strcmp(name, "advertiser"))
		return GEO_SCOPE_ADVERTISER;
	if (!strcmp(name, "offer"))
		return GEO_SCOPE_OFFER;
	return GEO_SCOPE_NONE;
}

const char *geo_scope_name(enum geo_scope s)
{
	switch (s) {
	case GEO_SCOPE_TENANT: return "tenant";
	case GEO_SCOPE_ADVERTISER: return "advertiser";
	case GEO_SCOPE_OFFER: return "offer";
	default: return "none";
	}
}
