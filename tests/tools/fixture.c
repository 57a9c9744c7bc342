/* Test helper for what the admin API also does, so the conversion tests do
 * not depend on it: API keys for an advertiser or affiliate, and an
 * advertiser's postback signing secret stored encrypted.
 *   fixture CONF key TENANT_ID advertiser|affiliate|admin ID   -> prints the key
 *   fixture CONF postback-secret TENANT_ID ADVERTISER_ID SECRET [require]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "keystore.h"
#include "log.h"
#include "secret.h"

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: fixture CONF key TENANT SCOPE ID | postback-secret TENANT ADV SECRET [require]\n");
		return 64;
	}
	log_init("fixture", true);
	static struct app app;
	char err[256];
	if (app_init(&app, argv[1], "fixture", err, sizeof err) != 0) {
		fprintf(stderr, "fixture: %s\n", err);
		return 1;
	}
	/* Freed on every way out, so the ASan pass of the tests sees no leak. */
	struct arena *a = arena_new(8192);
	int rc = 64;
	long long tenant = atoll(argv[3]);
	if (a == NULL) {
		rc = 1;
	} else if (!strcmp(argv[2], "key")) {
		enum auth_scope scope = scope_from_name(argv[4]);
		long long id = atoll(argv[5]);
		char key[APIKEY_LEN + 1];
		rc = 1;
		if (keystore_create(&app, a, tenant, scope, scope == SCOPE_ADVERTISER ? id : 0,
				    scope == SCOPE_AFFILIATE ? id : 0, "test", key) >= 0) {
			printf("%s\n", key);
			rc = 0;
		}
	} else if (!strcmp(argv[2], "postback-secret") && argc >= 6) {
		char *enc = secret_encrypt(&app.mk, a, (const unsigned char *)argv[5], strlen(argv[5]));
		const char *req = argc > 6 && !strcmp(argv[6], "require") ? "t" : "f";
		char t[24];
		snprintf(t, sizeof t, "%lld", tenant);
		PGresult *res = db_execp(app.db, a,
			"UPDATE advertisers SET postback_secret_enc = $3, require_signature = $4 "
			"WHERE tenant_id = $1 AND id = $2::bigint", t, argv[4], enc, req);
		rc = res && atoi(PQcmdTuples(res)) == 1 ? 0 : 1;
	} else {
		fprintf(stderr, "fixture: unknown command %s\n", argv[2]);
	}
	arena_free(a);
	app_close(&app);
	return rc;
}
