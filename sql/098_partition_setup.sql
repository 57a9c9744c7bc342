-- New daily partitions, whoever creates them (the partitions job ahead of
-- time, the ingest for a day it meets first), get the same setup:
--   row-level security of the parent (022; the ingest's function skipped
--   it, so a partition it created was unfiltered when named directly);
--   autosummarize on their BRIN indexes. A BRIN index answers "every page"
--   for page ranges not summarized yet, and only VACUUM summarizes them
--   otherwise: on an insert-only day partition autovacuum comes after a
--   fifth of its rows, so reading the last minutes by created_at (the
--   ingest's duplicate window after a restart) or ingested_at (the stats
--   aggregator) scanned millions of rows (5.26 M unsummarized, 1.5 s warm,
--   past the 5 s statement timeout cold). With autosummarize each range is
--   summarized by autovacuum soon after it fills.
-- Partitioned indexes take no storage parameters, so each partition's
-- index gets it.
CREATE FUNCTION afftok_partition_setup(part regclass, parent regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    idx regclass;
BEGIN
    IF (SELECT relrowsecurity FROM pg_class WHERE oid = parent) THEN
        PERFORM afftok_enable_rls(part);
    END IF;
    FOR idx IN SELECT i.indexrelid::regclass FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = part AND am.amname = 'brin' LOOP
        EXECUTE format('ALTER INDEX %s SET (autosummarize = on)', idx);
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION afftok_ensure_partitions(parent regclass, days_ahead int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    n int := 0;
BEGIN
    FOR d IN SELECT generate_series((now() AT TIME ZONE 'UTC')::date - 1,
                                    (now() AT TIME ZONE 'UTC')::date + days_ahead, '1 day')::date LOOP
        IF afftok_ensure_partition_day(parent, d) THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION afftok_ensure_partition_day(parent regclass, d date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    name text := format('%s_%s', parent::text, to_char(d, 'YYYYMMDD'));
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                   name, parent, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
    PERFORM afftok_partition_setup(name::regclass, parent);
    RETURN true;
END $$;

-- The partitions there are now.
SELECT afftok_partition_setup(i.inhrelid::regclass, i.inhparent::regclass)
FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relkind = 'p';
