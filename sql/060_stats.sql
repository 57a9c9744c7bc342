-- Stats rollups (SPEC §6): what /api/stats reads instead of raw clicks.
--
-- Two base rollups at 15-minute granularity hold every dimension:
-- stats_clicks_q (from clicks) and stats_conv_q (from conversions).
-- Fifteen minutes because every time zone in use has an offset that is a
-- multiple of 15 minutes (+05:30 Kolkata, +05:45 Kathmandu), so a local day
-- or hour is always a whole number of buckets: a report in any zone is exact
-- from rollups alone, also after raw clicks are gone.
--
-- Two coarser cubes, hourly, derived from the base rollups of the same hour:
-- stats_o_h (offer) and stats_oa_h (offer x affiliate). They answer the
-- common reports (by day, hour, offer, affiliate) over long ranges in
-- whole-hour zones with a few rows per hour instead of thousands.
--
-- `afftokctl aggregate` rewrites whole hours (DELETE + INSERT in one
-- transaction per hour) from raw data, so every run is idempotent and a run
-- killed half-way leaves each hour either old or new, never half. Rollups are
-- plain tables: dropping raw partitions after retention leaves them alone.
-- Buckets and hours are UTC instants (date_bin on timestamptz, independent
-- of the session time zone).

CREATE TABLE stats_clicks_q (
    tenant_id       bigint NOT NULL,
    bucket          timestamptz NOT NULL,   -- start of the 15-minute slice
    offer_id        bigint NOT NULL,
    affiliate_id    bigint NOT NULL,
    link_id         bigint NOT NULL,
    country         text,
    device          text,
    route_dest      text,
    sub1            text,
    clicks          bigint NOT NULL,
    unique_clicks   bigint NOT NULL,
    invalid_clicks  bigint NOT NULL          -- not billable
);
CREATE INDEX stats_clicks_q_time ON stats_clicks_q (bucket);
CREATE INDEX stats_clicks_q_tenant ON stats_clicks_q (tenant_id, bucket);
CREATE INDEX stats_clicks_q_affiliate ON stats_clicks_q (tenant_id, affiliate_id, bucket);

-- Conversions by status per bucket of the conversion's creation, with the
-- dimensions of its click (NULL when the click is past retention).
CREATE TABLE stats_conv_q (
    tenant_id       bigint NOT NULL,
    bucket          timestamptz NOT NULL,
    offer_id        bigint NOT NULL,
    affiliate_id    bigint NOT NULL,
    link_id         bigint,
    country         text,
    device          text,
    route_dest      text,
    sub1            text,
    conversions     bigint NOT NULL,
    approved        bigint NOT NULL,
    pending         bigint NOT NULL,
    rejected        bigint NOT NULL,
    revenue         numeric NOT NULL,
    payout          numeric NOT NULL
);
CREATE INDEX stats_conv_q_time ON stats_conv_q (bucket);
CREATE INDEX stats_conv_q_tenant ON stats_conv_q (tenant_id, bucket);
CREATE INDEX stats_conv_q_affiliate ON stats_conv_q (tenant_id, affiliate_id, bucket);

-- Invalid clicks by reason (invalid_signature, expired, replay, bot, ...).
CREATE TABLE stats_invalid_q (
    tenant_id       bigint NOT NULL,
    bucket          timestamptz NOT NULL,
    offer_id        bigint NOT NULL,
    affiliate_id    bigint NOT NULL,
    reason          text,
    clicks          bigint NOT NULL
);
CREATE INDEX stats_invalid_q_time ON stats_invalid_q (bucket);
CREATE INDEX stats_invalid_q_tenant ON stats_invalid_q (tenant_id, bucket);

-- The hourly cubes carry click and conversion metrics side by side.
-- revenue and payout are of approved conversions only (a reversal takes
-- them back); conversions counts every status.
CREATE TABLE stats_oa_h (
    tenant_id       bigint NOT NULL,
    hour            timestamptz NOT NULL,
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
CREATE INDEX stats_oa_h_time ON stats_oa_h (hour);
CREATE INDEX stats_oa_h_tenant ON stats_oa_h (tenant_id, hour);
CREATE INDEX stats_oa_h_affiliate ON stats_oa_h (tenant_id, affiliate_id, hour);

CREATE TABLE stats_o_h (
    tenant_id       bigint NOT NULL,
    hour            timestamptz NOT NULL,
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
CREATE INDEX stats_o_h_time ON stats_o_h (hour);
CREATE INDEX stats_o_h_tenant ON stats_o_h (tenant_id, hour, offer_id);

-- How far each raw source has been rolled up: rows changed after ts
-- (clicks.ingested_at, conversions.updated_at) mark their hours for the
-- next run. Not tenant data: no row-level security.
CREATE TABLE stats_watermark (
    source          text PRIMARY KEY,
    ts              timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Finding the changed hours and reading one hour of raw clicks without a
-- sequential scan of the day: clicks arrive roughly in time order, so BRIN
-- indexes are small and cost the ingest almost nothing.
CREATE INDEX clicks_ingested_brin ON clicks USING brin (ingested_at);
CREATE INDEX clicks_created_brin ON clicks USING brin (created_at);

SELECT afftok_enable_rls('stats_clicks_q');
SELECT afftok_enable_rls('stats_invalid_q');
SELECT afftok_enable_rls('stats_conv_q');
SELECT afftok_enable_rls('stats_oa_h');
SELECT afftok_enable_rls('stats_o_h');
