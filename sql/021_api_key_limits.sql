-- Per-key request limit (requests per minute on the admin, stats and
-- postback routes), overriding the [limits] defaults; NULL = the default.
ALTER TABLE api_keys ADD COLUMN rate_limit_per_min integer CHECK (rate_limit_per_min >= 0);
