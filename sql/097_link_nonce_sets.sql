-- Nonce claims as one row per link and signing second instead of one row
-- per click. A signed token is (code, ts, nonce), so a replay of it meets
-- the row of its own link and ts; `nonces` holds the claimed nonces sorted
-- byte by byte, one space between them (src/nonceset.h). The ingest
-- creates, locks (FOR UPDATE, in key order), merges and rewrites the rows
-- its batch touches: a few thousand rows a batch where link_nonces took an
-- INSERT ... ON CONFLICT of a random key for every signed click (6.7-7.6 us
-- of the backend a claim, measured in psql on 7.45 M rows).
--
-- link_nonces stays for the claims of journal records written before this
-- version (they carry no ts), and the ingest looks there for tokens signed
-- before its newest claim (+ 300 s skew). The partitions job empties it
-- after 31 days as before.
CREATE TABLE link_nonce_sets (
    ts          bigint NOT NULL,        -- the token's ts (Unix seconds)
    link_id     bigint NOT NULL,
    tenant_id   bigint NOT NULL,
    nonces      text COLLATE "C" NOT NULL,
    PRIMARY KEY (ts, link_id)
);
-- Most sets are a few hundred bytes to a few kB of random text: compressing
-- it gains nothing and costs the rewrite.
ALTER TABLE link_nonce_sets ALTER COLUMN nonces SET STORAGE EXTERNAL;
SELECT afftok_enable_rls('link_nonce_sets');
