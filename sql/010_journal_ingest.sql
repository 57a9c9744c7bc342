-- Click journal ingest bookkeeping (cron/job-ingest.c). One row per journal
-- segment file being ingested, keyed by the file's name without its suffix
-- (.jnl while written, .rdy once closed). `committed` advances in the same
-- transaction as the clicks it covers, so a killed ingest resumes exactly
-- there; `published` trails it until the click events are in the Redis
-- stream. The row and the file go when both reached the end of a closed file.
CREATE TABLE journal_segments (
    name            text PRIMARY KEY,
    committed       bigint NOT NULL DEFAULT 0,   -- bytes whose clicks are in PostgreSQL
    published       bigint NOT NULL DEFAULT 0,   -- bytes whose events are in afftok:clicks
    records         bigint NOT NULL DEFAULT 0,
    corrupt         bigint NOT NULL DEFAULT 0,   -- damaged regions and bad records skipped
    torn            bigint NOT NULL DEFAULT 0,   -- incomplete tails skipped
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Creates the daily partition of parent holding day d when it is missing
-- (a journal replayed days later, or a clock that ran ahead); true when it
-- created one.
CREATE FUNCTION afftok_ensure_partition_day(parent regclass, d date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    name text := format('%s_%s', parent::text, to_char(d, 'YYYYMMDD'));
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                   name, parent, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
    RETURN true;
END $$;
