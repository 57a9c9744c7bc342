-- The BRIN index on clicks.ingested_at has no reader left: the aggregator
-- finds the hours to rewrite in stats_click_pre (sql/090, fresh rows), no
-- longer by reading `clicks` from its watermark on, and every other reader
-- of `clicks` goes by click id or created_at. Every stored click still
-- updated it and every VACUUM summarized it. (Its cost to the ingest is
-- within the noise of bench/ingest.sh: bench/README.)
DROP INDEX IF EXISTS clicks_ingested_brin;
