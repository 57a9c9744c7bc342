-- New daily partitions get the row-level security of their parent. A query
-- through the parent is filtered by the parent's policy already; this also
-- covers a query that names a partition directly (psql, a hand-written
-- report), which PostgreSQL would otherwise not filter. Same function as in
-- 003 otherwise; partitioned tables keep their tenant in tenant_id.
CREATE OR REPLACE FUNCTION afftok_ensure_partitions(parent regclass, days_ahead int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    n int := 0;
    name text;
    secured boolean;
BEGIN
    SELECT relrowsecurity INTO secured FROM pg_class WHERE oid = parent;
    FOR d IN SELECT generate_series((now() AT TIME ZONE 'UTC')::date - 1,
                                    (now() AT TIME ZONE 'UTC')::date + days_ahead, '1 day')::date LOOP
        name := format('%s_%s', parent::text, to_char(d, 'YYYYMMDD'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           name, parent, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
            IF secured THEN
                PERFORM afftok_enable_rls(name::regclass);
            END IF;
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;
