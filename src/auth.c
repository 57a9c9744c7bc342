/* API key lookup: checksum, hash, cache, database. */
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "app.h"
#include "db.h"
#include "util.h"

#define CACHE_SLOTS 64

struct cached {
	char hash[APIKEY_HASH_HEX + 1];
	struct auth auth;
	int64_t expires;
};

static struct cached cache[CACHE_SLOTS];

void auth_cache_clear(void)
{
	memset(cache, 0, sizeof cache);
}

static long long ll_or_zero(const char *s)
{
	return s ? atoll(s) : 0;
}

/* The cache slot of hash, or NULL when the key is not (or no longer) there. */
static const struct cached *lookup(const char *hash, unsigned *slot_out)
{
	unsigned slot = (unsigned)(hex_digit(hash[0]) << 4 | hex_digit(hash[1])) % CACHE_SLOTS;
	*slot_out = slot;
	if (cache[slot].expires > mono_ms() && !strcmp(cache[slot].hash, hash))
		return &cache[slot];
	return NULL;
}

bool auth_cached(struct app *app, const char *key, struct auth *out)
{
	if (!apikey_well_formed(key))
		return false;
	char hash[APIKEY_HASH_HEX + 1];
	apikey_hash(app->mk.pepper, key, hash);
	unsigned slot;
	const struct cached *c = lookup(hash, &slot);
	if (c == NULL)
		return false;
	*out = c->auth;
	return true;
}

enum auth_result auth_check(struct app *app, struct arena *a, const char *key, struct auth *out)
{
	if (!apikey_well_formed(key))
		return AUTH_INVALID;
	char hash[APIKEY_HASH_HEX + 1];
	apikey_hash(app->mk.pepper, key, hash);
	unsigned slot;
	const struct cached *c = lookup(hash, &slot);
	if (c != NULL) {
		*out = c->auth;
		return AUTH_OK;
	}
	int64_t now = mono_ms();
	PGresult *res = db_execp(app->db, a,
		"UPDATE api_keys SET last_used_at = now() "
		"WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) "
		/* a suspended or archived tenant's keys stop working */
		"AND (tenant_id IS NULL OR tenant_id IN (SELECT id FROM tenants WHERE status = 'active')) "
		"RETURNING id, scope, tenant_id, advertiser_id, affiliate_id, rate_limit_per_min", hash);
	if (res == NULL)
		return AUTH_UNAVAILABLE;
	if (PQntuples(res) != 1)
		return AUTH_INVALID;
	struct auth au = {
		.key_id = ll_or_zero(db_val(res, 0, 0)),
		.scope = scope_from_name(db_val(res, 0, 1)),
		.tenant_id = ll_or_zero(db_val(res, 0, 2)),
		.advertiser_id = ll_or_zero(db_val(res, 0, 3)),
		.affiliate_id = ll_or_zero(db_val(res, 0, 4)),
		/* A stored 0 means no limit; NULL the configured default. */
		.rate_limit = db_val(res, 0, 5) == NULL ? 0 : atol(db_val(res, 0, 5)) == 0 ? -1 : atol(db_val(res, 0, 5)),
	};
	if (au.scope == SCOPE_NONE || au.scope != apikey_scope(key))
		return AUTH_INVALID;
	memcpy(cache[slot].hash, hash, sizeof hash);
	cache[slot].auth = au;
	cache[slot].expires = now + AUTH_CACHE_MS;
	*out = au;
	return AUTH_OK;
}
