-- A new conversion in one round trip (src/convstore.c, "the fast path").
--
-- A postback used to be two round trips to PostgreSQL: BEGIN, the tenant
-- and the click lookup; then, after the checks in C, the insert with its
-- audit row, outbox event and affiliate postback, pipelined with COMMIT.
-- Each round trip puts the FastCGI process and its backend to sleep and
-- wakes them again, and BEGIN, set_config and COMMIT are statements of
-- their own. This function does the lookup, the same checks and the insert
-- in one call, as one statement (its own transaction), with its plans
-- cached for the session by PL/pgSQL.
--
-- It only inserts when src/convstore.c would insert exactly the same row;
-- for anything else it returns the lookup (r_kind 'lookup') and the C code
-- takes over with its own rules and answers (signature required, click not
-- stored yet -> pending_postbacks, another tenant's or advertiser's click,
-- attribution window passed, bad amount or currency, offers with caps).
-- A transaction id that is already known gives r_kind 'exists' with that
-- conversion's id, status, payout and click (duplicate, status change or
-- 409 are decided in C). A postback that carries a signature never comes
-- here: its check needs the advertiser's secret decrypted in C first.
--
-- The first 18 output columns are the lookup of convstore.c (LOOKUP_SQL),
-- in the same order. Money is exact: numeric, the percentage rounded half
-- up to 6 places like dec_percent(); a result of 10^12 or more is left to
-- C (400). The event data is EVENT_DATA of convstore.c; the two must stay
-- the same (tests/integration/30-postback.sh compares them).
CREATE FUNCTION afftok_postback(
    p_scope text,              -- the tenant for row-level security ('*' for a pixel)
    p_click text, p_clickat timestamptz,
    p_key_tenant bigint,       -- 0 for a pixel
    p_key_adv bigint,          -- the key's advertiser, 0 unless an advertiser key
    p_check_sig boolean,       -- an advertiser key whose signature rules apply
    p_txid text, p_derived boolean, p_status text, p_event text,
    p_amount numeric,          -- NULL when not sent
    p_currency text,           -- NULL = the offer's
    p_s1 text, p_s2 text, p_s3 text, p_s4 text, p_s5 text,
    p_source text, p_actor text, p_evt text,
    OUT r_secret text, OUT r_reqsig boolean, OUT r_tenant bigint, OUT r_offer bigint,
    OUT r_aff bigint, OUT r_link bigint, OUT r_billable boolean, OUT r_adv bigint,
    OUT r_cur text, OUT r_ptype text, OUT r_pval text, OUT r_rtype text, OUT r_rval text,
    OUT r_expired boolean, OUT r_capd integer, OUT r_capt bigint, OUT r_trustpx boolean,
    OUT r_convinv boolean,
    OUT r_kind text,           -- recorded, exists or lookup
    OUT r_id bigint, OUT r_status text, OUT r_payout text, OUT r_click text, OUT r_reason text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_pburl text;
    v_cur text;
    v_pay numeric;
    v_rev numeric;
    nc conversions%ROWTYPE;
BEGIN
    -- An assignment, not PERFORM: a simple expression runs without an executor.
    v_cur := set_config('afftok.tenant_id', p_scope, true);
    r_kind := 'lookup';
    SELECT ka.postback_secret_enc, ka.require_signature, x.tenant_id, x.offer_id, x.affiliate_id,
           x.link_id, x.billable, x.advertiser_id, x.currency, x.payout_type, x.payout_value,
           x.revenue_type, x.revenue_value, x.expired, x.cap_daily_conversions,
           x.cap_total_conversions, x.trust_pixel, x.convert_invalid, x.postback_url
      INTO r_secret, r_reqsig, r_tenant, r_offer, r_aff, r_link, r_billable, r_adv, r_cur,
           r_ptype, r_pval, r_rtype, r_rval, r_expired, r_capd, r_capt, r_trustpx, r_convinv,
           v_pburl
      FROM (SELECT 1) one
      LEFT JOIN advertisers ka ON ka.tenant_id = p_key_tenant AND ka.id = p_key_adv
      LEFT JOIN LATERAL (
        SELECT c.tenant_id, c.offer_id, c.affiliate_id, c.link_id, c.billable, o.advertiser_id,
               o.currency, o.payout_type, o.payout_value::text, o.revenue_type,
               o.revenue_value::text,
               c.created_at < now() - make_interval(days => o.attribution_days) AS expired,
               o.cap_daily_conversions, o.cap_total_conversions, o.trust_pixel, o.convert_invalid,
               f.postback_url
          FROM clicks c
          JOIN offers o ON o.tenant_id = c.tenant_id AND o.id = c.offer_id
          LEFT JOIN affiliates f ON f.tenant_id = c.tenant_id AND f.id = c.affiliate_id
         WHERE c.click_id = p_click AND c.created_at = p_clickat) x ON true;

    -- The checks of convstore.c record(), in its order; any of them -> C.
    IF p_check_sig AND r_reqsig IS TRUE THEN
        RETURN;
    END IF;
    IF r_tenant IS NULL OR (p_key_tenant <> 0 AND r_tenant <> p_key_tenant)
       OR (p_key_adv <> 0 AND r_adv <> p_key_adv) OR r_expired THEN
        RETURN;
    END IF;
    IF r_ptype NOT IN ('fixed', 'percent') OR r_rtype NOT IN ('fixed', 'percent') THEN
        RETURN;
    END IF;
    v_cur := coalesce(p_currency, r_cur);
    IF (r_ptype = 'percent' OR r_rtype = 'percent') AND (p_amount IS NULL OR v_cur <> r_cur) THEN
        RETURN;
    END IF;
    v_pay := CASE r_ptype WHEN 'percent' THEN round(p_amount * r_pval::numeric / 100, 6)
                          ELSE r_pval::numeric END;
    v_rev := CASE r_rtype WHEN 'percent' THEN round(p_amount * r_rval::numeric / 100, 6)
                          ELSE r_rval::numeric END;
    IF v_pay >= 1e12 OR v_rev >= 1e12 THEN
        RETURN;
    END IF;

    -- Status: untrusted pixels stay pending; invalid clicks are rejected.
    r_status := p_status;
    IF p_source = 'pixel' AND r_trustpx IS NOT TRUE THEN
        r_status := 'pending';
    END IF;
    IF r_billable IS NOT TRUE AND r_convinv IS NOT TRUE THEN
        r_status := 'rejected';
        r_reason := 'invalid_click';
    END IF;
    -- Caps take an advisory lock and count: that stays in C.
    IF (r_capd IS NOT NULL OR r_capt IS NOT NULL) AND r_status <> 'rejected' THEN
        r_status := NULL;
        r_reason := NULL;
        RETURN;
    END IF;

    INSERT INTO conversions (tenant_id, offer_id, affiliate_id, advertiser_id, link_id, click_id,
        click_created_at, transaction_id, txid_derived, status, reason, event, amount, currency,
        payout_currency, payout, revenue, adv_sub1, adv_sub2, adv_sub3, adv_sub4, adv_sub5, source)
    VALUES (r_tenant, r_offer, r_aff, r_adv, r_link, p_click, p_clickat, p_txid, p_derived,
        r_status, r_reason, p_event, p_amount, v_cur, r_cur, v_pay, v_rev, p_s1, p_s2, p_s3, p_s4,
        p_s5, p_source)
    ON CONFLICT (tenant_id, offer_id, transaction_id) DO NOTHING
    RETURNING * INTO nc;
    IF NOT FOUND THEN
        -- Known: C decides between duplicate, status change and 409. Gone
        -- again meanwhile (deleted): C runs its own insert.
        SELECT k.id, k.status, k.payout::text, k.click_id INTO r_id, r_status, r_payout, r_click
          FROM conversions k
         WHERE k.tenant_id = r_tenant AND k.offer_id = r_offer AND k.transaction_id = p_txid;
        r_kind := CASE WHEN FOUND THEN 'exists' ELSE 'lookup' END;
        r_reason := NULL;
        RETURN;
    END IF;

    INSERT INTO conversion_status_log (tenant_id, conversion_id, old_status, new_status, source,
        actor, reason)
    VALUES (nc.tenant_id, nc.id, NULL, nc.status, p_source, p_actor, nc.reason);
    INSERT INTO event_outbox (event_id, tenant_id, type, data)
    VALUES (p_evt, nc.tenant_id, 'conversion.created', jsonb_build_object(
        'conversion_id', nc.id::text, 'click_id', nc.click_id, 'transaction_id', nc.transaction_id,
        'status', nc.status, 'previous_status', NULL::text, 'reason', nc.reason, 'event', nc.event,
        'offer_id', nc.offer_id, 'affiliate_id', nc.affiliate_id, 'advertiser_id', nc.advertiser_id,
        'link_id', nc.link_id, 'amount', nc.amount::text, 'currency', nc.currency,
        'payout', nc.payout::text, 'revenue', nc.revenue::text, 'payout_currency', nc.payout_currency,
        'source', nc.source, 'adv_sub1', nc.adv_sub1, 'adv_sub2', nc.adv_sub2, 'adv_sub3', nc.adv_sub3,
        'adv_sub4', nc.adv_sub4, 'adv_sub5', nc.adv_sub5, 'click_created_at', nc.click_created_at,
        'created_at', nc.created_at, 'updated_at', nc.updated_at));
    IF coalesce(v_pburl, '') <> '' THEN
        INSERT INTO affiliate_postbacks (tenant_id, conversion_id, affiliate_id, status)
        VALUES (nc.tenant_id, nc.id, nc.affiliate_id, nc.status)
        ON CONFLICT (conversion_id, status) DO NOTHING;
    END IF;
    r_kind := 'recorded';
    r_id := nc.id;
    r_payout := nc.payout::text;
    r_click := nc.click_id;
END
$$;
