-- Traffic quality at the click: geo rules, routes (smart routing), and the
-- per-offer bot action. Cap counters live in Redis (see src/caps.c); the
-- caps themselves are the offers' cap_* columns.

-- Allow or block lists of countries at tenant, advertiser or offer scope;
-- the most specific scope with an active rule decides (src/georule.h).
CREATE TABLE geo_rules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    scope           text NOT NULL CHECK (scope IN ('tenant', 'advertiser', 'offer')),
    scope_id        bigint,                  -- advertiser or offer id; NULL for tenant scope
    mode            text NOT NULL CHECK (mode IN ('allow', 'block')),
    countries       text[] NOT NULL CHECK (cardinality(countries) BETWEEN 1 AND 300),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((scope = 'tenant') = (scope_id IS NULL)),
    UNIQUE (tenant_id, id)
);
CREATE INDEX geo_rules_scope ON geo_rules (tenant_id, scope, scope_id) WHERE active;

-- A route picks the destination of a click on an offer (every link of it)
-- or on one link (which then wins over the offer's route). destinations is
-- a JSON array, each item {"name", "url" | "offer_id", "weight",
-- "countries", "devices", "os"}, validated by the admin API; the click
-- records the chosen item's name in clicks.route_dest.
CREATE TABLE routes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    offer_id        bigint,
    link_id         bigint,
    name            text CHECK (name IS NULL OR length(name) <= 200),
    destinations    jsonb NOT NULL CHECK (jsonb_typeof(destinations) = 'array'),
    sticky          boolean NOT NULL DEFAULT true,   -- same visitor fingerprint, same destination
    fallback_url    text CHECK (fallback_url IS NULL OR length(fallback_url) <= 2048),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((offer_id IS NULL) <> (link_id IS NULL)),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, offer_id) REFERENCES offers (tenant_id, id),
    FOREIGN KEY (tenant_id, link_id) REFERENCES links (tenant_id, id)
);
-- One active route per offer and per link.
CREATE UNIQUE INDEX routes_offer ON routes (tenant_id, offer_id) WHERE active AND offer_id IS NOT NULL;
CREATE UNIQUE INDEX routes_link ON routes (tenant_id, link_id) WHERE active AND link_id IS NOT NULL;

-- What a bot click does: redirect to the offer as usual but not billable
-- (default), go to the offer's fallback URL, or get 403.
ALTER TABLE offers ADD COLUMN bot_action text NOT NULL DEFAULT 'redirect'
    CHECK (bot_action IN ('redirect', 'fallback', 'reject'));

SELECT afftok_enable_rls('geo_rules');
SELECT afftok_enable_rls('routes');
