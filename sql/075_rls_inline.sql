-- Row-level security without a function call per row.
--
-- afftok_current_tenant() (020_rls.sql) read the setting in a FROM clause,
-- which keeps PostgreSQL from inlining it: every statement that touched a
-- tenant table parsed and planned the function's body again (once per
-- place the policy appears in the plan) and called it through the SQL
-- function executor for each row it checked. On a postback (a click
-- lookup and four inserts under a tenant scope) that was the largest
-- single cost in the PostgreSQL backend (perf: fmgr_sql 18 % of its
-- samples, with the parser and planner under it). Written as one
-- expression, the function is inlined into the policies' quals and WITH
-- CHECK clauses; the meaning is the same: a tenant id only when the
-- setting is all digits, else NULL. The policies refer to
-- afftok_tenant_visible() by oid, so replacing the function body is enough.
CREATE OR REPLACE FUNCTION afftok_current_tenant() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN current_setting('afftok.tenant_id', true) ~ '^[0-9]{1,18}$'
                THEN current_setting('afftok.tenant_id', true)::bigint END
$$;
