/* Tenant scope: the statements of one request inside a transaction with
 * SET LOCAL afftok.tenant_id, so PostgreSQL row-level security (sql/020_rls.sql)
 * is a second wall behind each query's own "tenant_id = $n" filter.
 *
 * EVERY HANDLER THAT READS OR WRITES TENANT DATA FOR A KEY SHOULD RUN INSIDE A
 * SCOPE. Two ways:
 *   - declare R_TENANT in the route's flags (src/router.h): the dispatcher
 *     opens the scope after authentication and commits it after the handler
 *     when the answer is below 400 (rolls back otherwise);
 *   - or call tenant_scope_begin()/tenant_scope_end() yourself, e.g. when
 *     something must happen after the commit (linkcache_bump, Redis writes).
 * Scopes nest: an inner begin/end pair (resource_handle() inside an R_TENANT
 * route) joins the outer transaction, and an inner end without commit makes
 * the outer end roll back.
 * Inside a scope never send BEGIN/COMMIT/ROLLBACK yourself (use SAVEPOINTs);
 * statements outside any scope run with afftok.tenant_id = '*' (all tenants),
 * which is what jobs and cross-tenant lookups (key auth, click codes) need.
 * The operator key (tenant_id 0) gets '*' too. */
#ifndef AFFTOK_TENANTDB_H
#define AFFTOK_TENANTDB_H

#include <stdbool.h>

#include "http.h"

struct app;
struct arena;

/* BEGIN + SET LOCAL afftok.tenant_id for au's tenant. Returns 0, or -1 when
 * the database failed (nothing is left open then). */
int tenant_scope_begin(struct app *app, struct arena *a, const struct auth *au)
    __attribute__((warn_unused_result));
/* COMMIT when commit is true, else ROLLBACK. Returns 0, or -1 when the
 * commit failed (the transaction is gone either way). Safe to call when no
 * scope is open (returns 0). */
int tenant_scope_end(struct app *app, struct arena *a, bool commit);
/* Whether a scope is open on this process's primary connection. */
bool tenant_scope_active(void);

#endif
