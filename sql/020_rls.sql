-- Row-level security: the database's own wall between tenants, behind the
-- tenant filters the application writes into every query.
--
-- How it is keyed. Every policy reads the session setting afftok.tenant_id:
--   '<n>'  (a tenant id)  only rows of tenant n are visible and writable;
--   '*'                   every tenant (cron jobs, the click path resolving a
--                         public code, API key lookup, the operator);
--   unset or ''           nothing at all: a session that forgot to say who
--                         it works for sees an empty database (fails closed).
-- Tables are FORCEd, so the table owner (the app role `afftok` in the local
-- stack, which is not a superuser) is bound too. Only superusers and roles
-- with BYPASSRLS skip the policies; pg_dump must therefore run as such a role
-- or with --enable-row-security (then under afftok.tenant_id = '*').
--
-- Who sets it. The application's connections start with afftok.tenant_id = '*'
-- (src/db.c passes it as a connection option; for psql sessions of the app
-- role a superuser sets the role default, see the end), because work that spans
-- tenants (jobs, key lookup, click ingest) is the normal case outside a
-- request. A request that acts for one tenant runs its statements inside
-- tenant_scope_begin()/tenant_scope_end() (src/tenantdb.h), a transaction
-- with SET LOCAL afftok.tenant_id = '<its tenant>', so a query that forgot
-- its own "tenant_id = $n" still cannot see or write another tenant's rows.
-- We chose the '*' setting over a separate BYPASSRLS role for jobs because
-- creating roles needs privileges the app role does not have, and one role
-- keeps deployment simple; the price is that code able to run arbitrary SQL
-- could SET the wildcard itself: RLS here guards against query mistakes, not
-- against SQL injection (every statement is parameterised for that).
--
-- For later migrations: call afftok_enable_rls('my_table') after creating a
-- table that has a tenant_id column (or afftok_enable_rls('t', 'col') when the
-- tenant column has another name). It is idempotent. On a partitioned table,
-- the policy applies to queries through the parent (which is how the
-- application reads them); partitions existing at the time are covered too.

-- The tenant this session is confined to, or NULL for none/any.
CREATE FUNCTION afftok_current_tenant() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN s ~ '^[0-9]{1,18}$' THEN s::bigint END
    FROM (SELECT current_setting('afftok.tenant_id', true) AS s) v
$$;

-- true when rows of tenant t are visible to this session.
CREATE FUNCTION afftok_tenant_visible(t bigint) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(current_setting('afftok.tenant_id', true) = '*', false)
        OR t = afftok_current_tenant()
$$;

CREATE FUNCTION afftok_enable_rls(tbl regclass, col name DEFAULT 'tenant_id') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    part regclass;
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (afftok_tenant_visible(%I)) '
                   'WITH CHECK (afftok_tenant_visible(%I))', tbl, col, col);
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = tbl LOOP
        PERFORM afftok_enable_rls(part, col);
    END LOOP;
END $$;

SELECT afftok_enable_rls('tenants', 'id');
SELECT afftok_enable_rls('advertisers');
SELECT afftok_enable_rls('affiliates');
SELECT afftok_enable_rls('api_keys');
SELECT afftok_enable_rls('offers');
SELECT afftok_enable_rls('links');
SELECT afftok_enable_rls('clicks');
SELECT afftok_enable_rls('link_nonces');

-- The rest of this migration run works across tenants too (later files in
-- the same `afftokctl migrate` share its connection). Defaults for other
-- sessions of the app role (psql) are a superuser's to set:
--   ALTER ROLE afftok SET afftok.tenant_id = '*'   (scripts/lib.sh does it)
-- Workers connected before src/db.c passed the setting see nothing after
-- this migration: restart them (scripts/local down && scripts/local up).
SELECT set_config('afftok.tenant_id', '*', false);
