-- Stats, third step (see 060_stats.sql and 062_stats_quarter_cubes.sql):
-- daily rollups by UTC day, so that a 30-day report reads 30 rows per key
-- instead of 720 hourly or 2,880 quarter-hour ones.
--
-- stats_o_d, stats_oa_d   the offer and offer x affiliate cubes per UTC day
-- stats_base_d            every report dimension (offer, affiliate, country,
--                         device, sub1) per UTC day, clicks and conversions in
--                         one row; link and route destination are left out
--                         (no report groups by them), so a day holds far
--                         fewer rows than its 96 quarter-hours of base rollups
-- stats_invalid_d         invalid clicks by reason per UTC day, offer and
--                         affiliate; stats_invalid_o_d the same per offer
--                         (every report's totals carry them)
--
-- A report serves the whole UTC days of its range from these and the edges
-- (a zone's day starting at 05:00 or 18:30 UTC) from the hourly or 15-minute
-- tables (src/stats.c), so it stays exact in every zone.
--
-- `afftokctl aggregate` keeps them in step with the hours it rewrites: in the
-- same transaction as an hour's rewrite, it adds the difference between the
-- hour's new and old rows to its day (a row whose figures all fall to zero is
-- removed), so a run stays idempotent and a killed run leaves the day as
-- consistent as the hour. `--rebuild DAY` also recomputes the day's rows from
-- the finer tables. `day` is the UTC instant the day starts.

CREATE TABLE stats_o_d (
    tenant_id       bigint NOT NULL,
    day             timestamptz NOT NULL,
    offer_id        bigint NOT NULL,
    clicks          bigint NOT NULL DEFAULT 0,
    unique_clicks   bigint NOT NULL DEFAULT 0,
    invalid_clicks  bigint NOT NULL DEFAULT 0,
    conversions     bigint NOT NULL DEFAULT 0,
    approved        bigint NOT NULL DEFAULT 0,
    pending         bigint NOT NULL DEFAULT 0,
    rejected        bigint NOT NULL DEFAULT 0,
    revenue         numeric NOT NULL DEFAULT 0,
    payout          numeric NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX stats_o_d_key ON stats_o_d (tenant_id, day, offer_id);

CREATE TABLE stats_oa_d (
    tenant_id       bigint NOT NULL,
    day             timestamptz NOT NULL,
    offer_id        bigint NOT NULL,
    affiliate_id    bigint NOT NULL,
    clicks          bigint NOT NULL DEFAULT 0,
    unique_clicks   bigint NOT NULL DEFAULT 0,
    invalid_clicks  bigint NOT NULL DEFAULT 0,
    conversions     bigint NOT NULL DEFAULT 0,
    approved        bigint NOT NULL DEFAULT 0,
    pending         bigint NOT NULL DEFAULT 0,
    rejected        bigint NOT NULL DEFAULT 0,
    revenue         numeric NOT NULL DEFAULT 0,
    payout          numeric NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX stats_oa_d_key ON stats_oa_d (tenant_id, day, offer_id, affiliate_id);
CREATE INDEX stats_oa_d_affiliate ON stats_oa_d (tenant_id, affiliate_id, day);

-- NULLS NOT DISTINCT: unknown country/device/sub1 is one key, as in GROUP BY.
CREATE TABLE stats_base_d (
    tenant_id       bigint NOT NULL,
    day             timestamptz NOT NULL,
    offer_id        bigint NOT NULL,
    affiliate_id    bigint NOT NULL,
    country         text,
    device          text,
    sub1            text,
    clicks          bigint NOT NULL DEFAULT 0,
    unique_clicks   bigint NOT NULL DEFAULT 0,
    invalid_clicks  bigint NOT NULL DEFAULT 0,
    conversions     bigint NOT NULL DEFAULT 0,
    approved        bigint NOT NULL DEFAULT 0,
    pending         bigint NOT NULL DEFAULT 0,
    rejected        bigint NOT NULL DEFAULT 0,
    revenue         numeric NOT NULL DEFAULT 0,
    payout          numeric NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX stats_base_d_key ON stats_base_d
    (tenant_id, day, offer_id, affiliate_id, country, device, sub1) NULLS NOT DISTINCT;

CREATE TABLE stats_invalid_d (
    tenant_id       bigint NOT NULL,
    day             timestamptz NOT NULL,
    offer_id        bigint NOT NULL,
    affiliate_id    bigint NOT NULL,
    reason          text,
    clicks          bigint NOT NULL
);
CREATE UNIQUE INDEX stats_invalid_d_key ON stats_invalid_d
    (tenant_id, day, offer_id, affiliate_id, reason) NULLS NOT DISTINCT;

CREATE TABLE stats_invalid_o_d (
    tenant_id       bigint NOT NULL,
    day             timestamptz NOT NULL,
    offer_id        bigint NOT NULL,
    reason          text,
    clicks          bigint NOT NULL
);
CREATE UNIQUE INDEX stats_invalid_o_d_key ON stats_invalid_o_d
    (tenant_id, day, offer_id, reason) NULLS NOT DISTINCT;

-- Rows whose figures fell to zero (an hour rewritten with fewer keys) are
-- found through these, normally empty.
CREATE INDEX stats_o_d_zero ON stats_o_d (day) WHERE clicks = 0 AND conversions = 0;
CREATE INDEX stats_oa_d_zero ON stats_oa_d (day) WHERE clicks = 0 AND conversions = 0;
CREATE INDEX stats_base_d_zero ON stats_base_d (day) WHERE clicks = 0 AND conversions = 0;
CREATE INDEX stats_invalid_d_zero ON stats_invalid_d (day) WHERE clicks = 0;
CREATE INDEX stats_invalid_o_d_zero ON stats_invalid_o_d (day) WHERE clicks = 0;

-- Fill them for the days aggregated before this migration.
SET LOCAL statement_timeout = 0;
INSERT INTO stats_oa_d (tenant_id, day, offer_id, affiliate_id, clicks, unique_clicks, invalid_clicks,
                        conversions, approved, pending, rejected, revenue, payout)
SELECT tenant_id, date_bin('1 day', hour, timestamptz '2000-01-01 00:00:00+00'), offer_id, affiliate_id,
       sum(clicks), sum(unique_clicks), sum(invalid_clicks), sum(conversions), sum(approved), sum(pending),
       sum(rejected), sum(revenue), sum(payout)
FROM stats_oa_h GROUP BY 1, 2, 3, 4;
INSERT INTO stats_o_d (tenant_id, day, offer_id, clicks, unique_clicks, invalid_clicks, conversions,
                       approved, pending, rejected, revenue, payout)
SELECT tenant_id, day, offer_id, sum(clicks), sum(unique_clicks), sum(invalid_clicks), sum(conversions),
       sum(approved), sum(pending), sum(rejected), sum(revenue), sum(payout)
FROM stats_oa_d GROUP BY 1, 2, 3;
INSERT INTO stats_base_d (tenant_id, day, offer_id, affiliate_id, country, device, sub1, clicks,
                          unique_clicks, invalid_clicks, conversions, approved, pending, rejected, revenue, payout)
SELECT tenant_id, day, offer_id, affiliate_id, country, device, sub1, sum(clicks), sum(unique_clicks),
       sum(invalid_clicks), sum(conversions), sum(approved), sum(pending), sum(rejected), sum(revenue), sum(payout)
FROM (SELECT tenant_id, date_bin('1 day', bucket, timestamptz '2000-01-01 00:00:00+00') AS day, offer_id,
             affiliate_id, country, device, sub1, clicks, unique_clicks, invalid_clicks, 0 AS conversions,
             0 AS approved, 0 AS pending, 0 AS rejected, 0 AS revenue, 0 AS payout
      FROM stats_clicks_q
      UNION ALL
      SELECT tenant_id, date_bin('1 day', bucket, timestamptz '2000-01-01 00:00:00+00'), offer_id, affiliate_id,
             country, device, sub1, 0, 0, 0, conversions, approved, pending, rejected, revenue, payout
      FROM stats_conv_q) s
GROUP BY 1, 2, 3, 4, 5, 6, 7;
INSERT INTO stats_invalid_d (tenant_id, day, offer_id, affiliate_id, reason, clicks)
SELECT tenant_id, date_bin('1 day', bucket, timestamptz '2000-01-01 00:00:00+00'), offer_id, affiliate_id,
       reason, sum(clicks)
FROM stats_invalid_q GROUP BY 1, 2, 3, 4, 5;
INSERT INTO stats_invalid_o_d (tenant_id, day, offer_id, reason, clicks)
SELECT tenant_id, day, offer_id, reason, sum(clicks) FROM stats_invalid_d GROUP BY 1, 2, 3, 4;

-- Row-level security in the init-plan form of 062_stats_quarter_cubes.sql.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['stats_o_d', 'stats_oa_d', 'stats_base_d', 'stats_invalid_d', 'stats_invalid_o_d'] LOOP
        PERFORM afftok_enable_rls(t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I '
                       'USING ((SELECT coalesce(current_setting(''afftok.tenant_id'', true) = ''*'', false)) '
                       'OR tenant_id = (SELECT afftok_current_tenant())) '
                       'WITH CHECK (afftok_tenant_visible(tenant_id))', t);
    END LOOP;
END $$;
