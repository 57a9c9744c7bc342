-- Fewer indexes for the click ingest to maintain (bench/README, "Clicks").
-- Every stored click updated five indexes; the b-tree on (tenant_id,
-- created_at) had no reader: a click is found by its primary key (the id
-- tells its time), the stats rollups read hours through the BRIN indexes
-- on created_at and ingested_at, and row-level security filters the rows a
-- query reaches without needing an index of its own. The b-tree on
-- (fingerprint, created_at) stays: the ingest's duplicate rule (the same
-- fingerprint within 60 s) looks each new click up in it.
DROP INDEX IF EXISTS clicks_tenant_time;
