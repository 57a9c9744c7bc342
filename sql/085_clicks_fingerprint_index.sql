-- The ingest decides the duplicate rule (the same fingerprint within 60 s)
-- from an in-memory window of recent clicks (src/dupwin.c), loaded from
-- `clicks` by time through the BRIN index on created_at. The b-tree on
-- (fingerprint, created_at) has no reader left, and maintaining it was the
-- costliest index insert of every stored click (random keys: a cold leaf
-- per click on a large table). See bench/README, "Clicks: ingest alone".
DROP INDEX IF EXISTS clicks_fingerprint;
