-- Webhook history is pruned by `afftokctl webhooks` after [cron]
-- retention_days: deleting an event cascades to its deliveries, which
-- needs this index to find them.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
