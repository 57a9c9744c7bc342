-- Conversions (SPEC §3-4): advertiser postbacks matched to clicks, their
-- status history, the event outbox, postbacks waiting for their click, and
-- outgoing affiliate postbacks with every attempt.
--
-- conversions is a plain table, not partitioned like clicks: the idempotency
-- key UNIQUE (tenant_id, offer_id, transaction_id) must hold across all time
-- (a retried postback a month later must still be a duplicate), and on a
-- partitioned table a unique key has to contain the partition column, which
-- would make it unique per day only. Conversions are a few per cent of
-- clicks, so one table with the indexes below stays small; retention deletes
-- old rows in batches.
--
-- No foreign keys to offers/affiliates/advertisers on purpose: every insert
-- would take a KEY SHARE lock on the same offer row, and a burst of
-- postbacks for one offer would queue on it (multixacts). The values come
-- from the click row and the offer that the same statement read.

CREATE TABLE conversions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL,
    offer_id        bigint NOT NULL,
    affiliate_id    bigint NOT NULL,
    advertiser_id   bigint NOT NULL,
    link_id         bigint NOT NULL,
    click_id        text NOT NULL,
    click_created_at timestamptz NOT NULL,
    transaction_id  text NOT NULL CHECK (length(transaction_id) BETWEEN 1 AND 128),
    txid_derived    boolean NOT NULL DEFAULT false, -- no transaction_id was sent: hash of click + event
    status          text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason          text,                    -- why AffTok itself rejected it (cap_reached, ...)
    event           text NOT NULL DEFAULT 'conversion' CHECK (length(event) BETWEEN 1 AND 64),
    amount          numeric(18,6) CHECK (amount >= 0),
    currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),  -- of amount
    payout_currency char(3) NOT NULL CHECK (payout_currency ~ '^[A-Z]{3}$'), -- the offer's, of payout and revenue
    payout          numeric(18,6) NOT NULL CHECK (payout >= 0),
    revenue         numeric(18,6) NOT NULL CHECK (revenue >= 0),
    adv_sub1 text, adv_sub2 text, adv_sub3 text, adv_sub4 text, adv_sub5 text,
    source          text NOT NULL CHECK (source IN ('postback', 'pixel', 'manual')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, offer_id, transaction_id)
);
CREATE INDEX conversions_tenant_time ON conversions (tenant_id, created_at);
CREATE INDEX conversions_click ON conversions (click_id);
-- Conversion caps count an offer's live conversions per day and in total.
CREATE INDEX conversions_offer_time ON conversions (offer_id, created_at) WHERE status <> 'rejected';

-- Every status a conversion has had, with who changed it and why.
CREATE TABLE conversion_status_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL,
    conversion_id   bigint NOT NULL REFERENCES conversions (id) ON DELETE CASCADE,
    old_status      text,                    -- NULL when created
    new_status      text NOT NULL,
    source          text NOT NULL,           -- postback, pixel, manual, match
    actor           text,                    -- "key:<id>" or "job:match"
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversion_status_log_conv ON conversion_status_log (conversion_id, id);

-- Events written in the same transaction as the change they describe, then
-- drained to the Redis Stream afftok:events by `afftokctl events` (see
-- src/outbox.h for the stream format). published_at NULL = not yet sent.
CREATE TABLE event_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        text NOT NULL UNIQUE,    -- evt_<hex>, stable for consumers' dedup
    tenant_id       bigint NOT NULL,
    type            text NOT NULL,
    data            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz
);
CREATE INDEX event_outbox_unpublished ON event_outbox (id) WHERE published_at IS NULL;

-- Postbacks (and pixels) whose click is well-formed and recent but not in
-- clicks yet (still in a journal or the ingest pipeline). `afftokctl match`
-- retries them until the click appears or the click id is too old to be
-- still on its way. tenant_id is NULL for a pixel (no key: its tenant is the
-- click's).
CREATE TABLE pending_postbacks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint,
    click_id        text NOT NULL,
    click_created_at timestamptz NOT NULL,
    source          text NOT NULL CHECK (source IN ('postback', 'pixel')),
    key_id          bigint,
    key_scope       text,                    -- admin or advertiser (postbacks)
    advertiser_id   bigint,                  -- of an advertiser key
    params          jsonb NOT NULL,          -- the validated input
    received_at     timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_try_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    result          text,                    -- recorded, duplicate, updated, click_not_found, ...
    conversion_id   bigint
);
CREATE INDEX pending_postbacks_due ON pending_postbacks (next_try_at) WHERE resolved_at IS NULL;

-- Outgoing affiliate postbacks: one per conversion and status (SPEC §4),
-- created in the conversion's transaction when the affiliate has a
-- postback_url, sent by `afftokctl postbacks` with backoff for up to 72 h.
CREATE TABLE affiliate_postbacks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL,
    conversion_id   bigint NOT NULL REFERENCES conversions (id) ON DELETE CASCADE,
    affiliate_id    bigint NOT NULL,
    status          text NOT NULL,           -- the conversion status this one announces
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'failed', 'refused')),
    url             text,                    -- the template with macros filled, set on the first attempt
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_http_status integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversion_id, status)
);
CREATE INDEX affiliate_postbacks_due ON affiliate_postbacks (next_attempt_at) WHERE state = 'queued';
CREATE INDEX affiliate_postbacks_tenant ON affiliate_postbacks (tenant_id, id);

CREATE TABLE affiliate_postback_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL,
    postback_id     bigint NOT NULL REFERENCES affiliate_postbacks (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    url             text NOT NULL,
    http_status     integer,                 -- NULL when no answer (timeout, refused, ...)
    error           text,
    latency_ms      integer,
    response        text,                    -- the first bytes of the answer
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX affiliate_postback_attempts_pb ON affiliate_postback_attempts (postback_id, attempt);

SELECT afftok_enable_rls('conversions');
SELECT afftok_enable_rls('conversion_status_log');
SELECT afftok_enable_rls('event_outbox');
SELECT afftok_enable_rls('affiliate_postbacks');
SELECT afftok_enable_rls('affiliate_postback_attempts');
-- pending_postbacks: a pixel's row has no tenant until it is matched; only
-- jobs (tenant '*') and the request that stores it touch this table.
SELECT afftok_enable_rls('pending_postbacks');
