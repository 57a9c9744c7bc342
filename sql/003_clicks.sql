-- Clicks: range-partitioned by day on created_at. created_at is read from
-- the click id (millisecond precision), so (click_id, created_at) finds the
-- partition directly; the primary key contains the partition column.
-- Partitions are created ahead and dropped after retention by the
-- `partitions` job (afftok_ensure_partitions below).

CREATE TABLE clicks (
    click_id        text NOT NULL,
    created_at      timestamptz NOT NULL,
    tenant_id       bigint NOT NULL,
    link_id         bigint NOT NULL,
    offer_id        bigint NOT NULL,
    affiliate_id    bigint NOT NULL,
    ip              inet,
    user_agent      text,
    referer         text,
    sub1 text, sub2 text, sub3 text, sub4 text, sub5 text,
    params          jsonb,                   -- other query parameters
    country         char(2),
    asn             integer,
    device          text,                    -- desktop, mobile, tablet, bot
    os              text,
    browser         text,
    fingerprint     text NOT NULL,           -- hex of a hash of IP, user agent and link
    signed          boolean NOT NULL DEFAULT false,
    nonce           text,
    billable        boolean NOT NULL,
    reason          text,                    -- why not billable: invalid_signature, expired, replay, ...
    bot_score       smallint,
    is_unique       boolean NOT NULL DEFAULT true,
    route_dest      text,                    -- chosen route destination, for A/B stats
    destination     text,                    -- the URL the visitor was sent to
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (click_id, created_at)
) PARTITION BY RANGE (created_at);

CREATE INDEX clicks_tenant_time ON clicks (tenant_id, created_at);
CREATE INDEX clicks_fingerprint ON clicks (fingerprint, created_at);

-- A signed link's nonce counts once: the first click with it is billable.
CREATE TABLE link_nonces (
    tenant_id       bigint NOT NULL,
    nonce           text NOT NULL,
    link_id         bigint NOT NULL,
    click_id        text NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, link_id, nonce)
);
CREATE INDEX link_nonces_time ON link_nonces (created_at);

-- Creates the daily partitions of a partitioned table from today - 1 to
-- today + days_ahead; returns how many it created.
CREATE FUNCTION afftok_ensure_partitions(parent regclass, days_ahead int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    n int := 0;
    name text;
BEGIN
    FOR d IN SELECT generate_series((now() AT TIME ZONE 'UTC')::date - 1,
                                    (now() AT TIME ZONE 'UTC')::date + days_ahead, '1 day')::date LOOP
        name := format('%s_%s', parent::text, to_char(d, 'YYYYMMDD'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           name, parent, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;

SELECT afftok_ensure_partitions('clicks', 7);
