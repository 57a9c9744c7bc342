-- Stats, second step (see 060_stats.sql).
--
-- 1. The offer and offer x affiliate cubes at 15 minutes too, so reports in
--    zones whose hours start mid-UTC-hour (+05:30, +05:45, +09:30) read a
--    few rows per bucket instead of the base rollups. Derived from the base
--    rollups by `afftokctl aggregate` like the hourly cubes (which are now
--    derived from these).
-- 2. Row-level security on the stats tables in a form PostgreSQL evaluates
--    once per query instead of once per row: the checks inside scalar
--    subqueries become init plans. Same meaning as afftok_tenant_visible()
--    (020_rls.sql); a report over 72,000 cube rows spent most of its time
--    calling afftok_current_tenant() for each of them.

CREATE TABLE stats_oa_q (
    tenant_id       bigint NOT NULL,
    bucket          timestamptz NOT NULL,
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
CREATE INDEX stats_oa_q_time ON stats_oa_q (bucket);
CREATE INDEX stats_oa_q_tenant ON stats_oa_q (tenant_id, bucket);
CREATE INDEX stats_oa_q_affiliate ON stats_oa_q (tenant_id, affiliate_id, bucket);

CREATE TABLE stats_o_q (
    tenant_id       bigint NOT NULL,
    bucket          timestamptz NOT NULL,
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
CREATE INDEX stats_o_q_time ON stats_o_q (bucket);
CREATE INDEX stats_o_q_tenant ON stats_o_q (tenant_id, bucket, offer_id);

-- Fill them for the hours aggregated before this migration (this may take
-- longer than the connection's statement timeout, meant for requests).
SET LOCAL statement_timeout = 0;
INSERT INTO stats_oa_q (tenant_id, bucket, offer_id, affiliate_id, clicks, unique_clicks, invalid_clicks,
                        conversions, approved, pending, rejected, revenue, payout)
SELECT tenant_id, bucket, offer_id, affiliate_id, sum(clicks), sum(unique_clicks), sum(invalid_clicks),
       sum(conversions), sum(approved), sum(pending), sum(rejected), sum(revenue), sum(payout)
FROM (SELECT tenant_id, bucket, offer_id, affiliate_id, clicks, unique_clicks, invalid_clicks,
             0 AS conversions, 0 AS approved, 0 AS pending, 0 AS rejected, 0 AS revenue, 0 AS payout
      FROM stats_clicks_q
      UNION ALL
      SELECT tenant_id, bucket, offer_id, affiliate_id, 0, 0, 0, conversions, approved, pending, rejected,
             revenue, payout
      FROM stats_conv_q) s
GROUP BY 1, 2, 3, 4;
INSERT INTO stats_o_q (tenant_id, bucket, offer_id, clicks, unique_clicks, invalid_clicks, conversions,
                       approved, pending, rejected, revenue, payout)
SELECT tenant_id, bucket, offer_id, sum(clicks), sum(unique_clicks), sum(invalid_clicks), sum(conversions),
       sum(approved), sum(pending), sum(rejected), sum(revenue), sum(payout)
FROM stats_oa_q GROUP BY 1, 2, 3;

SELECT afftok_enable_rls('stats_oa_q');
SELECT afftok_enable_rls('stats_o_q');

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['stats_clicks_q', 'stats_conv_q', 'stats_invalid_q', 'stats_oa_q',
                             'stats_o_q', 'stats_oa_h', 'stats_o_h'] LOOP
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I '
                       'USING ((SELECT coalesce(current_setting(''afftok.tenant_id'', true) = ''*'', false)) '
                       'OR tenant_id = (SELECT afftok_current_tenant())) '
                       'WITH CHECK (afftok_tenant_visible(tenant_id))', t);
    END LOOP;
END $$;
