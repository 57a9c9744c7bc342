-- Webhooks (SPEC §5): endpoints per tenant, the events they received, one
-- delivery per (endpoint, event) and a log of every attempt.
--
-- Flow: `afftokctl webhooks` reads the Redis Stream afftok:events (consumer
-- group "webhooks"), stores each event once in webhook_events with the exact
-- body that will be signed, and one webhook_deliveries row per matching
-- enabled endpoint, in one statement, before XACK. The same job then claims
-- due deliveries (next_attempt_at <= now(); claiming pushes next_attempt_at
-- out by a lease, so a job killed mid-send leaves them due again, never
-- lost), sends them and records the outcome.

CREATE TABLE webhook_endpoints (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    url             text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    description     text CHECK (description IS NULL OR length(description) <= 200),
    -- event types this endpoint wants; '*' = all of them
    events          text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 50),
    -- the 32 key bytes behind "whsec_...", AES-256-GCM under the master key
    secret_enc      text NOT NULL,
    -- after a rotation the previous key keeps signing (a second v1
    -- signature) until prev_secret_until
    prev_secret_enc text,
    prev_secret_until timestamptz,
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    disabled_at     timestamptz,
    -- first failure of the current run of failures; NULL after a success.
    -- Failing for 5 days disables the endpoint.
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
-- Switching an endpoint on again (PATCH enabled=true) starts it afresh;
-- switching it off by hand records why. A new URL starts a new failure run.
CREATE FUNCTION afftok_webhook_endpoint_state() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.enabled AND NOT OLD.enabled THEN
        NEW.disabled_reason := NULL;
        NEW.disabled_at := NULL;
        NEW.failing_since := NULL;
    ELSIF OLD.enabled AND NOT NEW.enabled THEN
        NEW.disabled_reason := coalesce(NEW.disabled_reason, 'disabled through the admin API');
        NEW.disabled_at := coalesce(NEW.disabled_at, now());
    END IF;
    IF NEW.url IS DISTINCT FROM OLD.url THEN
        NEW.failing_since := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER webhook_endpoint_state BEFORE UPDATE ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION afftok_webhook_endpoint_state();
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, id) WHERE enabled;

CREATE TABLE webhook_events (
    event_id        text PRIMARY KEY CHECK (length(event_id) BETWEEN 1 AND 100),
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    type            text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
    -- the exact JSON body every delivery of this event sends (and signs)
    payload         text NOT NULL,
    created_at      timestamptz NOT NULL,
    stream_id       text,                    -- Redis entry it came from; NULL for webhook.test etc.
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_tenant ON webhook_events (tenant_id, received_at);

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL,
    endpoint_id     bigint NOT NULL,
    event_id        text NOT NULL REFERENCES webhook_events (event_id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- retries stop (status dead) once this has passed: first try + ~3 days
    give_up_at      timestamptz,
    last_status_code integer,
    last_latency_ms integer,
    last_response   text,                    -- the first bytes of the last answer
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (endpoint_id, event_id)           -- fan-out may run twice for one event
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (endpoint_id) WHERE status = 'dead';

CREATE TABLE webhook_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL,
    delivery_id     bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    started_at      timestamptz NOT NULL,
    result          text NOT NULL,           -- success, http_error, timeout, network, refused, bad_url
    status_code     integer,
    latency_ms      integer,
    response        text,                    -- the first bytes of the answer
    error           text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

SELECT afftok_enable_rls('webhook_endpoints');
SELECT afftok_enable_rls('webhook_events');
SELECT afftok_enable_rls('webhook_deliveries');
SELECT afftok_enable_rls('webhook_attempts');
