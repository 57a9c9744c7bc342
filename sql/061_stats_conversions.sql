-- Finding the conversions changed (created, status updates, reversals)
-- since the stats watermark (060_stats.sql) without scanning the table.
CREATE INDEX conversions_updated ON conversions (updated_at);
