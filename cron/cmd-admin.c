/* Installation commands: migrate, bootstrap, create-tenant. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "arena.h"
#include "db.h"
#include "jobs.h"
#include "keystore.h"
#include "log.h"
#include "migrate.h"

#ifndef DATADIR
#define DATADIR "/usr/share"
#endif

int cmd_migrate(struct app *app, struct arena *a, int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : app->cfg.cron_sql_dir[0] ? app->cfg.cron_sql_dir : DATADIR "/afftok/sql";
	if (!db_ready(app->db))
		return EX_TEMPFAIL;
	int n = migrate_apply(app->db, a, dir);
	if (n < 0)
		return EX_SOFTWARE;
	printf("migrations applied: %d\n", n);
	return EX_OK;
}

/* Creates the operator key (only when none exists, unless --force) and a
 * demo tenant with its admin key; prints shell assignments. */
int cmd_bootstrap(struct app *app, struct arena *a, int argc, char **argv)
{
	bool force = argc > 1 && !strcmp(argv[1], "--force");
	const char *tenant = "demo";
	if (!db_ready(app->db))
		return EX_TEMPFAIL;
	PGresult *res = db_exec(app->db, a,
		"SELECT count(*) FROM api_keys WHERE scope = 'operator' AND revoked_at IS NULL", 0, NULL);
	if (res == NULL)
		return EX_SOFTWARE;
	if (strcmp(db_val(res, 0, 0), "0") != 0 && !force) {
		fprintf(stderr, "afftokctl: an operator key exists already (use --force for another)\n");
		return EX_CANTCREAT;
	}
	char op[APIKEY_LEN + 1], admin[APIKEY_LEN + 1];
	if (keystore_create(app, a, 0, SCOPE_OPERATOR, 0, 0, "bootstrap", op) < 0)
		return EX_SOFTWARE;
	long long tid = keystore_create_tenant(app, a, tenant, admin);
	if (tid < 0)
		return EX_SOFTWARE;
	printf("AFFTOK_OPERATOR_KEY=%s\nAFFTOK_ADMIN_KEY=%s\nAFFTOK_TENANT_ID=%lld\n", op, admin, tid);
	return EX_OK;
}

int cmd_create_tenant(struct app *app, struct arena *a, int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '\0') {
		fprintf(stderr, "usage: afftokctl create-tenant NAME\n");
		return EX_USAGE;
	}
	char admin[APIKEY_LEN + 1];
	long long tid = keystore_create_tenant(app, a, argv[1], admin);
	if (tid < 0)
		return db_ready(app->db) ? EX_SOFTWARE : EX_TEMPFAIL;
	printf("AFFTOK_TENANT_ID=%lld\nAFFTOK_ADMIN_KEY=%s\n", tid, admin);
	return EX_OK;
}
