/* Tenant scope: one transaction per request with the tenant set for RLS. */
#include "tenantdb.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "log.h"

/* One primary connection per process, so one scope at a time. Scopes nest
 * (an R_TENANT route whose handler calls resource_handle()): only the
 * outermost one sends BEGIN and COMMIT; an inner one that ends without
 * committing dooms the whole transaction. */
static int depth;
static bool doomed;

int tenant_scope_begin(struct app *app, struct arena *a, const struct auth *au)
{
	char tenant[24];
	if (depth > 0) {
		depth++;
		return 0;
	}
	if (au->tenant_id > 0)
		snprintf(tenant, sizeof tenant, "%lld", au->tenant_id);
	else if (au->scope == SCOPE_OPERATOR)
		snprintf(tenant, sizeof tenant, "*");
	else
		snprintf(tenant, sizeof tenant, "%s", ""); /* no tenant: sees nothing */
	if (db_exec(app->db, a, "BEGIN", 0, NULL) == NULL)
		return -1;
	depth = 1;
	doomed = false;
	if (db_execp(app->db, a, "SELECT set_config('afftok.tenant_id', $1, true)", tenant) == NULL) {
		tenant_scope_end(app, a, false);
		return -1;
	}
	return 0;
}

int tenant_scope_end(struct app *app, struct arena *a, bool commit)
{
	if (depth == 0)
		return 0;
	if (!commit)
		doomed = true;
	if (--depth > 0)
		return 0;
	if (commit && doomed) {
		/* An inner scope gave up although the request went on. */
		db_exec(app->db, a, "ROLLBACK", 0, NULL);
		return -1;
	}
	/* COMMIT of a transaction that had failed answers "ROLLBACK". */
	PGresult *res = commit ? db_exec(app->db, a, "COMMIT", 0, NULL) : NULL;
	if (res && !strcmp(PQcmdStatus(res), "COMMIT"))
		return 0;
	if (res)
		return -1;
	if (commit)
		log_warn("tenant scope: commit failed: %s", db_error(app->db));
	/* A lost connection has no transaction left to roll back. */
	db_exec(app->db, a, "ROLLBACK", 0, NULL);
	return commit ? -1 : 0;
}

bool tenant_scope_active(void)
{
	return depth > 0;
}
