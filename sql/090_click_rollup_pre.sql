-- Stats, fourth step: clicks pre-aggregated as they are stored, so that
-- `afftokctl aggregate` rolls an hour up from a few summary rows instead of
-- scanning and grouping the hour's raw clicks (36 M rows for an hour of
-- 10,000 clicks/s; bench/README, "Stats").
--
-- stats_click_pre holds click counts by exactly the keys the aggregator
-- groups raw clicks by (tenant, 15-minute bucket, offer, affiliate, link,
-- country, device, route destination, sub1, reason). Statement-level
-- triggers on `clicks` add one row per key and statement for the clicks the
-- statement inserted (and negative counts for clicks deleted, both for an
-- update), in the statement's own transaction: whatever path stores clicks
-- (the ingest's COPY or INSERT, its ON CONFLICT DO NOTHING retry, whose
-- transition table holds only the rows really inserted, SQL in tests and
-- benchmarks), its summary commits or rolls back with it, so the table is
-- exact and nothing counts twice.
--
-- fresh = true marks rows the aggregator has not consumed yet; their hours
-- are the hours whose click rollups must be rewritten. The aggregator
-- deletes an hour's rows (DELETE ... RETURNING reads exactly the rows it
-- removes; rows committed meanwhile stay fresh for the next run), groups
-- them into the hour's rollups and puts the grouped rows back with
-- fresh = false, so the next rewrite of the hour reads one row per key plus
-- what arrived since.
--
-- Only statements through the parent table fire these triggers (statement
-- triggers of a partitioned table are not cloned to its partitions):
-- nothing in AffTok writes to a partition directly. Dropping a partition
-- fires nothing either: the partitions job deletes the day's rows here in
-- the same transaction (cron/job-partitions.c).

CREATE TABLE stats_click_pre (
    tenant_id       bigint NOT NULL,
    bucket          timestamptz NOT NULL,   -- start of the 15-minute slice
    offer_id        bigint NOT NULL,
    affiliate_id    bigint NOT NULL,
    link_id         bigint NOT NULL,
    country         text,
    device          text,
    route_dest      text,
    sub1            text,
    reason          text,
    clicks          bigint NOT NULL,
    unique_clicks   bigint NOT NULL,
    invalid_clicks  bigint NOT NULL,
    fresh           boolean NOT NULL DEFAULT true
);
-- An hour's rows, for the aggregator's DELETE and the partitions job.
CREATE INDEX stats_click_pre_time ON stats_click_pre (bucket);
-- The hours with rows not rolled up yet: only fresh rows are in it.
CREATE INDEX stats_click_pre_fresh ON stats_click_pre (bucket) WHERE fresh;

-- Tenant rows like every stats table (062's init-plan form). The triggers
-- run as the session that writes the clicks, under its afftok.tenant_id:
-- a session allowed to store a tenant's clicks may store their summary.
SELECT afftok_enable_rls('stats_click_pre');
DROP POLICY IF EXISTS tenant_isolation ON stats_click_pre;
CREATE POLICY tenant_isolation ON stats_click_pre
    USING ((SELECT coalesce(current_setting('afftok.tenant_id', true) = '*', false))
           OR tenant_id = (SELECT afftok_current_tenant()))
    WITH CHECK (afftok_tenant_visible(tenant_id));

-- Grouped as job-aggregate.c grouped raw clicks (country as text, the
-- bucket a UTC date_bin). An update adds the new rows and takes back the
-- old ones; keys whose difference is zero are left out.
CREATE FUNCTION afftok_click_pre() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_click_pre (tenant_id, bucket, offer_id, affiliate_id, link_id, country, device,
                                     route_dest, sub1, reason, clicks, unique_clicks, invalid_clicks)
        SELECT tenant_id, date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00:00+00'), offer_id,
               affiliate_id, link_id, country::text, device, route_dest, sub1, reason, count(*),
               count(*) FILTER (WHERE is_unique), count(*) FILTER (WHERE NOT billable)
        FROM new_rows GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stats_click_pre (tenant_id, bucket, offer_id, affiliate_id, link_id, country, device,
                                     route_dest, sub1, reason, clicks, unique_clicks, invalid_clicks)
        SELECT tenant_id, date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00:00+00'), offer_id,
               affiliate_id, link_id, country::text, device, route_dest, sub1, reason, -count(*),
               -count(*) FILTER (WHERE is_unique), -count(*) FILTER (WHERE NOT billable)
        FROM old_rows GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
    ELSE
        INSERT INTO stats_click_pre (tenant_id, bucket, offer_id, affiliate_id, link_id, country, device,
                                     route_dest, sub1, reason, clicks, unique_clicks, invalid_clicks)
        SELECT tenant_id, date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00:00+00'), offer_id,
               affiliate_id, link_id, country::text, device, route_dest, sub1, reason, sum(n),
               sum(CASE WHEN is_unique THEN n ELSE 0 END), sum(CASE WHEN billable THEN 0 ELSE n END)
        FROM (SELECT *, 1 AS n FROM new_rows UNION ALL SELECT *, -1 FROM old_rows) r
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
        HAVING sum(n) <> 0 OR sum(CASE WHEN is_unique THEN n ELSE 0 END) <> 0
            OR sum(CASE WHEN billable THEN 0 ELSE n END) <> 0;
    END IF;
    RETURN NULL;
END $$;

-- The triggers first: they lock clicks against writers until this
-- migration commits, so the backfill below sees every click stored before
-- and the triggers see every click stored after.
CREATE TRIGGER clicks_pre_insert AFTER INSERT ON clicks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION afftok_click_pre();
CREATE TRIGGER clicks_pre_update AFTER UPDATE ON clicks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION afftok_click_pre();
CREATE TRIGGER clicks_pre_delete AFTER DELETE ON clicks REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION afftok_click_pre();

-- Backfill from the raw clicks still stored. Hours the aggregator has
-- rolled up already (no click ingested after its watermark, which it holds
-- back behind running transactions) get fresh = false: their rollups are
-- what these rows say. The others are fresh, so the next run rewrites
-- them, as it would have from raw clicks.
SET LOCAL statement_timeout = 0;
INSERT INTO stats_click_pre (tenant_id, bucket, offer_id, affiliate_id, link_id, country, device, route_dest,
                             sub1, reason, clicks, unique_clicks, invalid_clicks, fresh)
SELECT g.*, date_bin('1 hour', g.bucket, timestamptz '2000-01-01 00:00:00+00') IN (
           SELECT DISTINCT date_bin('1 hour', created_at, timestamptz '2000-01-01 00:00:00+00') FROM clicks
           WHERE ingested_at > coalesce((SELECT ts FROM stats_watermark WHERE source = 'raw'), '-infinity'))
FROM (SELECT tenant_id, date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00:00+00') AS bucket,
             offer_id, affiliate_id, link_id, country::text, device, route_dest, sub1, reason, count(*),
             count(*) FILTER (WHERE is_unique), count(*) FILTER (WHERE NOT billable)
      FROM clicks GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) g;
