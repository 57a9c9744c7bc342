/* Tenants and API keys: the rows that hold secrets. */
#include "keystore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "log.h"
#include "secret.h"
#include "util.h"

static const char *id_or_null(struct arena *a, long long id)
{
	return id ? arena_sprintf(a, "%lld", id) : NULL;
}

long long keystore_create(struct app *app, struct arena *a, long long tenant_id,
			  enum auth_scope scope, long long advertiser_id, long long affiliate_id,
			  const char *label, char *key_out)
{
	char hash[APIKEY_HASH_HEX + 1], prefix[11];
	if (apikey_generate(scope, key_out) != 0)
		return -1;
	apikey_hash(app->mk.pepper, key_out, hash);
	snprintf(prefix, sizeof prefix, "%.10s", key_out);
	PGresult *res = db_execp(app->db, a,
		"INSERT INTO api_keys (tenant_id, scope, advertiser_id, affiliate_id, key_hash, key_prefix, label) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
		id_or_null(a, tenant_id), scope_name(scope), id_or_null(a, advertiser_id),
		id_or_null(a, affiliate_id), hash, prefix, label);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	return atoll(db_val(res, 0, 0));
}

long long keystore_create_tenant(struct app *app, struct arena *a, const char *name,
				 char *admin_key_out)
{
	unsigned char raw[32];
	char secret[65];
	rand_bytes(raw, sizeof raw);
	hex_encode(raw, sizeof raw, secret);
	char *enc = secret_encrypt(&app->mk, a, (unsigned char *)secret, 64);
	memset(secret, 0, sizeof secret);
	if (enc == NULL)
		return -1;
	if (db_exec(app->db, a, "BEGIN", 0, NULL) == NULL)
		return -1;
	PGresult *res = db_execp(app->db, a,
		"INSERT INTO tenants (name, link_secret_enc) VALUES ($1, $2) RETURNING id", name, enc);
	long long id = res && PQntuples(res) == 1 ? atoll(db_val(res, 0, 0)) : -1;
	if (id > 0 && keystore_create(app, a, id, SCOPE_ADMIN, 0, 0, "initial admin key", admin_key_out) > 0 &&
	    db_exec(app->db, a, "COMMIT", 0, NULL) != NULL)
		return id;
	db_exec(app->db, a, "ROLLBACK", 0, NULL);
	return -1;
}
