-- Offers (what advertisers pay for) and links (affiliate x offer, public code).

CREATE TABLE offers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    advertiser_id   bigint NOT NULL,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    url             text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),  -- template with {click_id} etc.
    currency        char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    payout_type     text NOT NULL DEFAULT 'fixed' CHECK (payout_type IN ('fixed', 'percent')),
    payout_value    numeric(18,6) NOT NULL DEFAULT 0 CHECK (payout_value >= 0),
    revenue_type    text NOT NULL DEFAULT 'fixed' CHECK (revenue_type IN ('fixed', 'percent')),
    revenue_value   numeric(18,6) NOT NULL DEFAULT 0 CHECK (revenue_value >= 0),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    link_policy     text NOT NULL DEFAULT 'redirect' CHECK (link_policy IN ('redirect', 'reject')),
    fallback_url    text CHECK (fallback_url IS NULL OR length(fallback_url) <= 2048),
    link_ttl_s      integer NOT NULL DEFAULT 86400 CHECK (link_ttl_s BETWEEN 60 AND 2592000),
    attribution_days integer NOT NULL DEFAULT 30 CHECK (attribution_days BETWEEN 1 AND 365),
    cap_daily_clicks integer CHECK (cap_daily_clicks > 0),
    cap_total_clicks bigint CHECK (cap_total_clicks > 0),
    cap_daily_conversions integer CHECK (cap_daily_conversions > 0),
    cap_total_conversions bigint CHECK (cap_total_conversions > 0),
    trust_pixel     boolean NOT NULL DEFAULT false,
    convert_invalid boolean NOT NULL DEFAULT false,  -- let non-billable clicks convert
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, advertiser_id) REFERENCES advertisers (tenant_id, id)
);

CREATE TABLE links (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    offer_id        bigint NOT NULL,
    affiliate_id    bigint NOT NULL,
    code            text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{4,32}$'),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, offer_id) REFERENCES offers (tenant_id, id),
    FOREIGN KEY (tenant_id, affiliate_id) REFERENCES affiliates (tenant_id, id)
);
CREATE INDEX links_offer ON links (tenant_id, offer_id);

-- Bumped by every admin change to what the click path caches; workers poll it
-- (through Redis, falling back to here) to drop stale entries within seconds.
CREATE TABLE cache_epoch (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    epoch           bigint NOT NULL DEFAULT 1
);
INSERT INTO cache_epoch DEFAULT VALUES;
