/* afftokctl demo TENANT_ID BASE_URL: a demo advertiser, affiliate, offer and
 * link in a tenant (created once, found again on later runs) and the link's
 * tracking URL on stdout. scripts/local puts it in AFFTOK_DEMO_LINK. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "jobs.h"
#include "linkcache.h"
#include "util.h"

/* id of the row named name in table of the tenant, creating it with the
 * given INSERT when missing; NULL on failure. */
static const char *find_or_create(struct app *app, struct arena *a, const char *select_sql,
				  const char *insert_sql, const char *tenant, const char *p2, const char *p3)
{
	PGresult *res = p3 ? db_execp(app->db, a, select_sql, tenant, p2, p3)
			   : db_execp(app->db, a, select_sql, tenant, p2);
	if (res && PQntuples(res) > 0)
		return db_val(res, 0, 0);
	res = p3 ? db_execp(app->db, a, insert_sql, tenant, p2, p3) : db_execp(app->db, a, insert_sql, tenant, p2);
	return res && PQntuples(res) == 1 ? db_val(res, 0, 0) : NULL;
}

int cmd_demo(struct app *app, struct arena *a, int argc, char **argv)
{
	int64_t tid;
	if (argc != 3 || !parse_i64(argv[1], &tid) || tid <= 0 || strncmp(argv[2], "http", 4) != 0) {
		fprintf(stderr, "usage: afftokctl demo TENANT_ID BASE_URL\n");
		return EX_USAGE;
	}
	if (!db_ready(app->db))
		return EX_TEMPFAIL;
	const char *tenant = argv[1], *base = argv[2];
	size_t blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	const char *url = arena_sprintf(a, "%.*s/www/landing.html?click_id={click_id}&sub1={sub1}", (int)blen, base);
	const char *code = arena_sprintf(a, "demo%s", tenant);
	if (db_exec(app->db, a, "BEGIN", 0, NULL) == NULL)
		return EX_TEMPFAIL;
	const char *adv = find_or_create(app, a,
		"SELECT id FROM advertisers WHERE tenant_id = $1 AND name = $2 ORDER BY id LIMIT 1",
		"INSERT INTO advertisers (tenant_id, name) VALUES ($1, $2) RETURNING id", tenant,
		"Demo advertiser", NULL);
	const char *aff = find_or_create(app, a,
		"SELECT id FROM affiliates WHERE tenant_id = $1 AND name = $2 ORDER BY id LIMIT 1",
		"INSERT INTO affiliates (tenant_id, name) VALUES ($1, $2) RETURNING id", tenant,
		"Demo affiliate", NULL);
	const char *offer = NULL;
	PGresult *res = adv ? db_execp(app->db, a,
		"SELECT id FROM offers WHERE tenant_id = $1 AND name = 'Demo offer' AND advertiser_id = $2 "
		"ORDER BY id LIMIT 1", tenant, adv) : NULL;
	if (res && PQntuples(res) == 1)
		res = db_execp(app->db, a, "UPDATE offers SET url = $2 WHERE id = $1 RETURNING id", db_val(res, 0, 0), url);
	else if (res)
		res = db_execp(app->db, a,
			"INSERT INTO offers (tenant_id, name, advertiser_id, url, payout_value, revenue_value) "
			"VALUES ($1, 'Demo offer', $2, $3, 1, 2) RETURNING id", tenant, adv, url);
	if (res && PQntuples(res) == 1)
		offer = db_val(res, 0, 0);
	const char *link = offer && aff ? find_or_create(app, a,
		"SELECT id FROM links WHERE tenant_id = $1 AND code = $2 AND $3::bigint IS NOT NULL",
		"INSERT INTO links (tenant_id, code, offer_id, affiliate_id) "
		"SELECT $1, $2, $3, a.id FROM affiliates a WHERE a.tenant_id = $1 AND a.name = 'Demo affiliate' "
		"ORDER BY a.id LIMIT 1 RETURNING id", tenant, code, offer) : NULL;
	if (link == NULL || db_exec(app->db, a, "COMMIT", 0, NULL) == NULL) {
		db_exec(app->db, a, "ROLLBACK", 0, NULL);
		fprintf(stderr, "afftokctl demo: cannot create the demo link in tenant %s\n", tenant);
		return EX_SOFTWARE;
	}
	linkcache_bump(app, a);
	printf("%.*s/c/%s\n", (int)blen, base, code);
	return EX_OK;
}
