/* Geo rules: allow or block lists of countries at tenant, advertiser and
 * offer scope. The most specific scope that has an active rule decides; at
 * that scope a country is blocked when a block rule lists it, or when there
 * are allow rules and none lists it. An unknown country is decided by
 * click.unknown_country, and only where some rule applies (with no rules at
 * all every click passes, so a missing geo database blocks nothing). */
#ifndef AFFTOK_GEORULE_H
#define AFFTOK_GEORULE_H

#include <stdbool.h>
#include <stddef.h>

enum geo_scope { GEO_SCOPE_NONE = -1, GEO_SCOPE_TENANT = 0, GEO_SCOPE_ADVERTISER = 1, GEO_SCOPE_OFFER = 2 };

struct geo_rule {
	enum geo_scope scope;
	bool block; /* false = allow list */
	bool active;
	const char *countries; /* packed codes, "USDEFR" (2 characters each) */
};

/* True when the click may pass. *decided_by (may be NULL) is set to the
 * deciding scope or GEO_SCOPE_NONE. country is "" or NULL when unknown. */
bool georule_allows(const struct geo_rule *rules, size_t n, const char *country, bool unknown_allowed,
                    enum geo_scope *decided_by);
/* "tenant", "advertiser", "offer" -> scope; GEO_SCOPE_NONE for anything else. */
enum geo_scope geo_scope_from(const char *name);
const char *geo_scope_name(enum geo_scope s);

#endif
