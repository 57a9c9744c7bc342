-- Foundation: tenants, advertisers, affiliates, API keys, cron job runs.
-- Every row belongs to one tenant; ids are bigint identities, and child rows
-- reference (tenant_id, id) so a row can never point into another tenant.

CREATE TABLE tenants (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'archived')),
    link_secret_enc text NOT NULL,           -- AES-256-GCM under the master key
    link_secret_prev_enc text,               -- accepted until link_secret_prev_until
    link_secret_prev_until timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE advertisers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    postback_secret_enc text,                -- for X-AffTok-Signature
    require_signature boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

CREATE TABLE affiliates (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    postback_url    text CHECK (postback_url IS NULL OR length(postback_url) <= 2048),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

CREATE TABLE api_keys (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint REFERENCES tenants (id),
    scope           text NOT NULL CHECK (scope IN ('operator', 'admin', 'advertiser', 'affiliate')),
    advertiser_id   bigint,
    affiliate_id    bigint,
    key_hash        text NOT NULL UNIQUE,    -- HMAC-SHA256(pepper, key); the key itself is never stored
    key_prefix      text NOT NULL,           -- "aft_a_Xy12" to recognise a key in listings
    label           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    revoked_at      timestamptz,
    last_used_at    timestamptz,
    replaced_by     bigint REFERENCES api_keys (id),
    CHECK ((scope = 'operator') = (tenant_id IS NULL)),
    CHECK ((scope = 'advertiser') = (advertiser_id IS NOT NULL)),
    CHECK ((scope = 'affiliate') = (affiliate_id IS NOT NULL)),
    FOREIGN KEY (tenant_id, advertiser_id) REFERENCES advertisers (tenant_id, id),
    FOREIGN KEY (tenant_id, affiliate_id) REFERENCES affiliates (tenant_id, id)
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE job_runs (
    name            text PRIMARY KEY,
    status          text NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    detail          text
);
