-- Click partitions are vacuumed after every 100,000 new rows instead of
-- after a fifth of the partition, and their BRIN ranges are summarized by
-- that VACUUM instead of by autosummarize (098).
--
-- A day partition only grows, and autovacuum comes for inserts after
-- autovacuum_vacuum_insert_scale_factor (0.2) of its rows: on a partition
-- of tens of millions, millions of pages at once, read back cold, while the
-- ingest shares the machine (it halved the ingest's speed for as long).
-- Every page is vacuumed once either way; a fixed threshold does it in
-- small pieces while the pages are still cached.
--
-- autosummarize asked autovacuum for each BRIN range as it filled, but
-- autovacuum keeps at most 256 such requests between its visits to the
-- database, a minute apart: above ~5,000 clicks a second requests were
-- dropped, each with a LOG line carrying the whole COPY statement, and
-- the ranges waited for the next VACUUM, so the ingest's duplicate window,
-- loaded after a restart, read every page since (0 clicks in 424 ms).
-- VACUUM summarizes the ranges it finds full, so with the threshold the
-- ranges not summarized are at most ~100,000 rows plus a minute's.
CREATE OR REPLACE FUNCTION afftok_partition_setup(part regclass, parent regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT relrowsecurity FROM pg_class WHERE oid = parent) THEN
        PERFORM afftok_enable_rls(part);
    END IF;
    IF parent = 'clicks'::regclass THEN
        EXECUTE format('ALTER TABLE %s SET (autovacuum_vacuum_insert_threshold = 100000, '
                       'autovacuum_vacuum_insert_scale_factor = 0)', part);
    END IF;
END $$;

-- The click partitions there are now: the same vacuum settings, and
-- autosummarize off on their BRIN indexes.
DO $$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'clicks'::regclass LOOP
        PERFORM afftok_partition_setup(rel, 'clicks');
    END LOOP;
    FOR rel IN SELECT i.indexrelid::regclass FROM pg_inherits h JOIN pg_index i ON i.indrelid = h.inhrelid
               JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
               WHERE h.inhparent = 'clicks'::regclass AND am.amname = 'brin' LOOP
        EXECUTE format('ALTER INDEX %s RESET (autosummarize)', rel);
    END LOOP;
END $$;
