-- The CHECK constraints of conversions (and affiliate_postbacks.state) as
-- domains: the same rules, checked more cheaply on every insert.
--
-- PostgreSQL reads a table's CHECK constraints from their stored text
-- (stringToNode) and plans them (expression_planner) again at the start of
-- every statement that inserts a row, because that state lives in the
-- statement's executor. For the nine checks of conversions that was the
-- largest single cost of a postback's insert: ~50-70 us of the backend's
-- CPU per postback (bench/README, "Postbacks"), as much as nine b-tree
-- inserts. A domain's checks are parsed and planned once per session (the
-- type cache) and only compiled per statement. Values that break a rule
-- are refused exactly as before, with SQLSTATE 23514 (check_violation).
--
-- The column types change, so the table is rewritten once and its indexes
-- rebuilt (a lock on conversions while it runs). FastCGI processes and
-- jobs that prepared statements on these tables before the migration must
-- be restarted after it, as for any upgrade.
-- The rewrite takes longer than the connection's statement timeout on a
-- big table.
SET LOCAL statement_timeout = 0;

CREATE DOMAIN afftok_txid AS text CHECK (length(VALUE) BETWEEN 1 AND 128);
CREATE DOMAIN afftok_conv_status AS text CHECK (VALUE IN ('pending', 'approved', 'rejected'));
CREATE DOMAIN afftok_event_name AS text CHECK (length(VALUE) BETWEEN 1 AND 64);
CREATE DOMAIN afftok_money AS numeric(18,6) CHECK (VALUE >= 0);
CREATE DOMAIN afftok_currency AS char(3) CHECK (VALUE ~ '^[A-Z]{3}$');
CREATE DOMAIN afftok_conv_source AS text CHECK (VALUE IN ('postback', 'pixel', 'manual'));
CREATE DOMAIN afftok_pb_state AS text CHECK (VALUE IN ('queued', 'delivered', 'failed', 'refused'));

ALTER TABLE conversions
    DROP CONSTRAINT conversions_transaction_id_check,
    DROP CONSTRAINT conversions_status_check,
    DROP CONSTRAINT conversions_event_check,
    DROP CONSTRAINT conversions_amount_check,
    DROP CONSTRAINT conversions_currency_check,
    DROP CONSTRAINT conversions_payout_currency_check,
    DROP CONSTRAINT conversions_payout_check,
    DROP CONSTRAINT conversions_revenue_check,
    DROP CONSTRAINT conversions_source_check,
    ALTER transaction_id TYPE afftok_txid,
    ALTER status TYPE afftok_conv_status,
    ALTER event TYPE afftok_event_name,
    ALTER amount TYPE afftok_money,
    ALTER currency TYPE afftok_currency,
    ALTER payout_currency TYPE afftok_currency,
    ALTER payout TYPE afftok_money,
    ALTER revenue TYPE afftok_money,
    ALTER source TYPE afftok_conv_source;

ALTER TABLE affiliate_postbacks
    DROP CONSTRAINT affiliate_postbacks_state_check,
    ALTER state TYPE afftok_pb_state;
