# Conversion postbacks (SPEC §3): GET, POST form and POST JSON with the
# right payout, duplicates, status changes and reversal, unknown clicks,
# the attribution window, keys of other advertisers and tenants, parameter
# errors, signatures, caps, invalid clicks and the pixel.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/conv-lib.sh"

adv=$(new_advertiser "Shop")
aff=$(new_affiliate "Pub")
fixed=$(new_offer "$adv" "payout_value = 2.5, revenue_value = 4")
pct=$(new_offer "$adv" "payout_type = 'percent', payout_value = 10, revenue_type = 'percent', revenue_value = 12.5, currency = 'EUR'")
lf=$(new_link "$fixed" "$aff")
lp=$(new_link "$pct" "$aff")
key=$(fixture key "$T" advertiser "$adv")

# GET: recorded with the offer's fixed payout.
c1=$(new_click "$lf")
pb "$key" "click_id=$c1&transaction_id=order-1&amount=10.00&currency=USD&adv_sub1=a1"
eq "GET postback: 200" 200 "$STATUS"
eq "GET postback: recorded" recorded "$(json 'd["status"]')"
eq "GET postback: payout of the offer" 2.50 "$(json 'd["payout"]')"
eq "GET postback: click id echoed" "$c1" "$(json 'd["click_id"]')"
cid=$(json 'd["conversion_id"]')
eq "stored exactly: amount, payout, revenue, currency, status, adv_sub1" \
	"10.000000|2.500000|4.000000|USD|approved|a1|postback" \
	"$(sql "SELECT amount, payout, revenue, currency, status, adv_sub1, source FROM conversions WHERE id = $cid")"
# An unsigned postback takes the fast path (sql/095_postback_function.sql),
# which builds its event data in SQL: it must be the object convstore.c's
# EVENT_DATA builds (GET /admin/conversions/<id> is that one), apart from
# previous_status (events only) and id (the admin object only).
ev=$(sql "SELECT data::text FROM event_outbox WHERE type = 'conversion.created' AND data->>'conversion_id' = '$cid'")
admin GET "/admin/conversions/$cid"
canon() { python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop(sys.argv[1]); print(json.dumps(d, sort_keys=True))' "$1"; }
eq "fast path: event data = the C statements' conversion object" \
	"$(printf '%s' "$BODY" | canon id)" "$(printf '%s' "$ev" | canon previous_status)"
eq "fast path: audit row with the key as actor" "|approved|postback|key:" \
	"$(sql "SELECT coalesce(old_status, '') || '|' || new_status || '|' || source || '|' || regexp_replace(actor, '[0-9]+$', '') FROM conversion_status_log WHERE conversion_id = $cid")"

# Duplicate: same transaction, same status -> nothing changes.
pb "$key" "click_id=$c1&transaction_id=order-1&amount=10.00"
eq "repeat: 200" 200 "$STATUS"
eq "repeat: duplicate" duplicate "$(json 'd["status"]')"
eq "repeat: same conversion id" "$cid" "$(json 'd["conversion_id"]')"
eq "repeat: still one conversion" 1 "$(convs "transaction_id = 'order-1' AND offer_id = $fixed")"

# POST form, percentage payout: 10 % of 19.99 = 1.999 exactly (no float).
c2=$(new_click "$lp")
req POST /postback -H "X-API-Key: $key" --data "click_id=$c2&transaction_id=order-2&amount=19.99"
eq "POST form: 200" 200 "$STATUS"
eq "POST form: recorded" recorded "$(json 'd["status"]')"
eq "POST form: 10 % of 19.99" 1.999 "$(json 'd["payout"]')"
eq "POST form: revenue 12.5 % of 19.99 stored exactly" "1.999000|2.498750|EUR" \
	"$(sql "SELECT payout, revenue, currency FROM conversions WHERE transaction_id = 'order-2' AND offer_id = $pct")"

# POST JSON with the amount as a JSON number.
req POST /postback -H "X-API-Key: $key" -H 'Content-Type: application/json' \
	--data "{\"click_id\":\"$c2\",\"transaction_id\":\"order-3\",\"amount\":80.00,\"status\":\"pending\",\"event\":\"sale\"}"
eq "POST JSON: 200" 200 "$STATUS"
eq "POST JSON: recorded" recorded "$(json 'd["status"]')"
eq "POST JSON: 10 % of 80.00" 8.00 "$(json 'd["payout"]')"
eq "POST JSON: status and event kept" "pending|sale" "$(sql "SELECT status, event FROM conversions WHERE transaction_id = 'order-3' AND offer_id = $pct")"
req POST /postback -H "X-API-Key: $key" -H 'Content-Type: application/json' --data "{\"click_id\":\"$c2\",\"amount\":{}}"
eq "POST JSON: object as amount -> 400" 400 "$STATUS"
contains "POST JSON: names amount" "'amount'" "$(json 'd["error"]["message"]')"
req POST /postback -H "X-API-Key: $key" -H 'Content-Type: application/json' --data '{"click_id":'
eq "POST JSON: malformed body -> 400" 400 "$STATUS"
pb "$key" "click_id=$c2&transaction_id=order-4"
eq "percent offer without amount -> 400" 400 "$STATUS"
contains "... names amount" "'amount'" "$(json 'd["error"]["message"]')"
pb "$key" "click_id=$c2&transaction_id=order-4&amount=5&currency=USD"
eq "percent offer in another currency -> 400" 400 "$STATUS"
contains "... names currency" "'currency'" "$(json 'd["error"]["message"]')"

# Status changes: pending -> approved -> rejected (reversal); then 409.
c3=$(new_click "$lf")
pb "$key" "click_id=$c3&transaction_id=order-5&status=pending"
eq "pending: recorded" recorded "$(json 'd["status"]')"
c3id=$(json 'd["conversion_id"]')
pb "$key" "click_id=$c3&transaction_id=order-5&status=approved"
eq "pending -> approved: updated" "updated|approved|pending" "$(json 'd["status"]')|$(json 'd["conversion_status"]')|$(json 'd["previous_status"]')"
eq "... same conversion" "$c3id" "$(json 'd["conversion_id"]')"
pb "$key" "click_id=$c3&transaction_id=order-5&status=rejected"
eq "approved -> rejected (reversal): updated" "updated|rejected" "$(json 'd["status"]')|$(json 'd["conversion_status"]')"
pb "$key" "click_id=$c3&transaction_id=order-5&status=approved"
eq "rejected -> approved: 409" 409 "$STATUS"
eq "409 code" CONFLICT "$(json 'd["error"]["code"]')"
eq "audit trail: created, approved, reversed" ",pending|pending,approved|approved,rejected" \
	"$(sql "SELECT coalesce(old_status, '') || ',' || new_status FROM conversion_status_log WHERE conversion_id = $c3id ORDER BY id" | tr '\n' '|' | sed 's/|$//')"
eq "one event per change in the outbox" "conversion.created conversion.updated conversion.updated" \
	"$(sql "SELECT type FROM event_outbox WHERE data->>'conversion_id' = '$c3id' ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"
c4=$(new_click "$lf")
pb "$key" "click_id=$c4&transaction_id=order-6&status=approved"
pb "$key" "click_id=$c4&transaction_id=order-6&status=pending"
eq "approved -> pending: 409" 409 "$STATUS"

# No transaction_id: a derived one, so a double-fired URL counts once.
c5=$(new_click "$lf")
pb "$key" "click_id=$c5&amount=3"
eq "no transaction_id: recorded" recorded "$(json 'd["status"]')"
pb "$key" "click_id=$c5&amount=3"
eq "no transaction_id, fired again: duplicate" duplicate "$(json 'd["status"]')"
pb "$key" "click_id=$c5&amount=3&event=upsell"
eq "no transaction_id, another event: a second conversion" recorded "$(json 'd["status"]')"
eq "two conversions on that click" 2 "$(convs "click_id = '$c5'")"

# Unknown clicks.
forged="${c1:0:27}$([ "${c1:27:1}" = A ] && echo B || echo A)"
pb "$key" "click_id=$forged&transaction_id=x1"
eq "forged click id: 404" 404 "$STATUS"
eq "404 code" CLICK_NOT_FOUND "$(json 'd["error"]["code"]')"
old=$("$BUILD/tests/tools/clickids" "$KEYFILE" 1 $(( $(date +%s%3N) - 7 * 3600 * 1000 )) | cut -f1)
pb "$key" "click_id=$old&transaction_id=x2"
eq "authentic click id, 7 h old, never stored: 404" 404 "$STATUS"
fut=$("$BUILD/tests/tools/clickids" "$KEYFILE" 1 $(( $(date +%s%3N) + 3600 * 1000 )) | cut -f1)
pb "$key" "click_id=$fut&transaction_id=x3"
eq "click id from the future: 404" 404 "$STATUS"
pb "$key" "click_id=not-a-click-id&transaction_id=x4"
eq "malformed click id: 400" 400 "$STATUS"
contains "... names click_id" "'click_id'" "$(json 'd["error"]["message"]')"
pb "$key" "transaction_id=x5"
eq "missing click_id: 400" 400 "$STATUS"
contains "... names click_id" "'click_id'" "$(json 'd["error"]["message"]')"

# Attribution window: 1 day on this offer, click 2 days old -> 410.
short=$(new_offer "$adv" "payout_value = 1, attribution_days = 1")
ls_=$(new_link "$short" "$aff")
cold=$(old_click "$ls_" 2)
pb "$key" "click_id=$cold&transaction_id=late-1"
eq "outside the attribution window: 410" 410 "$STATUS"
eq "410 code" ATTRIBUTION_EXPIRED "$(json 'd["error"]["code"]')"
cin=$(new_click "$ls_" 3600000)
pb "$key" "click_id=$cin&transaction_id=late-2"
eq "inside the window (1 h old): recorded" recorded "$(json 'd["status"]')"

# Bad parameters: 400 naming the parameter.
for p in "amount=12.5.0:amount" "amount=-3:amount" "amount=1e3:amount" "currency=EURO:currency" \
	"currency=QQQ:currency" "status=paid:status" "event=a%20b:event"; do
	pb "$key" "click_id=$c1&transaction_id=bad&${p%%:*}"
	eq "bad ${p%%:*}: 400" "400|INVALID_PARAMETER" "$STATUS|$(json 'd["error"]["code"]')"
	contains "bad ${p%%:*}: message names '${p##*:}'" "'${p##*:}'" "$(json 'd["error"]["message"]')"
done
eq "no conversion from bad requests" 0 "$(convs "transaction_id = 'bad' AND offer_id = $fixed")"

# Keys: none, another advertiser of the tenant, another tenant, the admin key.
pb "" "click_id=$c1&transaction_id=k1"
eq "no key: 401" 401 "$STATUS"
req GET "/postback?click_id=$c1&transaction_id=k2&api_key=$key"
eq "key as api_key= parameter: recorded" recorded "$(json 'd["status"]')"
adv2=$(new_advertiser "Other shop")
key2=$(fixture key "$T" advertiser "$adv2")
pb "$key2" "click_id=$c1&transaction_id=k3"
eq "another advertiser's key: 403" 403 "$STATUS"
eq "403 code" FORBIDDEN "$(json 'd["error"]["code"]')"
affkey=$(fixture key "$T" affiliate "$aff")
pb "$affkey" "click_id=$c1&transaction_id=k4"
eq "affiliate key: 403" 403 "$STATUS"
other=$(ctl create-tenant "Other network" 2>/dev/null | sed -n 's/.*\(aft_a_[A-Za-z0-9]*\).*/\1/p' | head -n 1)
check "second tenant created" test -n "$other"
pb "$other" "click_id=$cold&transaction_id=k5"
foreign_old="$STATUS|$(json 'd["error"]["code"]')"
pb "$other" "click_id=$old&transaction_id=k5"
eq "other tenant's key, old click of ours: same answer as a click that never existed" "$(echo "$STATUS|$(json 'd["error"]["code"]')")" "$foreign_old"
pb "$other" "click_id=$c1&transaction_id=k6"
foreign_new=$STATUS$BODY
pb "$other" "click_id=$(future_click_id)&transaction_id=k6"
eq "other tenant's key, recent click of ours: same answer as an unknown recent id" "$STATUS$BODY" "$foreign_new"
eq "other tenant's key: no conversion anywhere" 0 "$(convs "transaction_id IN ('k5', 'k6')")"
pb "$AFFTOK_ADMIN_KEY" "click_id=$c1&transaction_id=k7&amount=1"
eq "the tenant's admin key: recorded" recorded "$(json 'd["status"]')"

# Signatures: required by the advertiser -> unsigned, wrong, stale: 401.
sadv=$(new_advertiser "Signed shop")
soff=$(new_offer "$sadv" "payout_value = 7")
sl=$(new_link "$soff" "$aff")
skey=$(fixture key "$T" advertiser "$sadv")
fixture postback-secret "$T" "$sadv" "pbsecret-123" require
cs=$(new_click "$sl")
qs="click_id=$cs&transaction_id=sig-1&amount=5"
pb "$skey" "$qs"
eq "signature required, none: 401" "401|INVALID_SIGNATURE" "$STATUS|$(json 'd["error"]["code"]')"
pb "$skey" "$qs" -H "X-AffTok-Signature: $(sign wrong-secret "$qs")"
eq "wrong secret: 401" 401 "$STATUS"
pb "$skey" "$qs" -H "X-AffTok-Signature: $(sign pbsecret-123 "$qs" $(( $(date +%s) - 400 )))"
eq "stale (400 s): 401" 401 "$STATUS"
pb "$skey" "$qs" -H "X-AffTok-Signature: $(sign pbsecret-123 "click_id=$cs&transaction_id=sig-1&amount=6")"
eq "signature of other parameters: 401" 401 "$STATUS"
eq "nothing stored for refused signatures" 0 "$(convs "transaction_id = 'sig-1' AND offer_id = $soff")"
pb "$skey" "$qs" -H "X-AffTok-Signature: $(sign pbsecret-123 "$qs")"
eq "good signature: recorded" "200|recorded|7.00" "$STATUS|$(json 'd["status"]')|$(json 'd["payout"]')"
body="{\"click_id\":\"$cs\",\"transaction_id\":\"sig-2\"}"
req POST /postback -H "X-API-Key: $skey" -H 'Content-Type: application/json' \
	-H "X-AffTok-Signature: $(sign pbsecret-123 "$body")" --data "$body"
eq "signed JSON body: recorded" recorded "$(json 'd["status"]')"

# Caps: 2 conversions in total; the third is recorded as rejected, saying so.
cap=$(new_offer "$adv" "payout_value = 1, cap_total_conversions = 2")
lc=$(new_link "$cap" "$aff")
for i in 1 2 3; do
	cc=$(new_click "$lc")
	pb "$key" "click_id=$cc&transaction_id=cap-$i"
done
eq "over the cap: recorded as rejected with the reason" "recorded|rejected|cap_reached" \
	"$(json 'd["status"]')|$(json 'd["conversion_status"]')|$(json 'd["reason"]')"
eq "cap: exactly 2 approved" 2 "$(convs "offer_id = $cap AND status = 'approved'")"

# Invalid (not billable) clicks convert only when the offer says so.
ci=$(new_click "$lf" 0 false)
pb "$key" "click_id=$ci&transaction_id=inv-1"
eq "invalid click: rejected, reason invalid_click" "recorded|rejected|invalid_click" \
	"$(json 'd["status"]')|$(json 'd["conversion_status"]')|$(json 'd["reason"]')"
sql "UPDATE offers SET convert_invalid = true WHERE id = $fixed" >/dev/null
ci2=$(new_click "$lf" 0 false)
pb "$key" "click_id=$ci2&transaction_id=inv-2"
eq "invalid click, offer converts invalid: approved" "recorded|approved" "$(json 'd["status"]')|$(json 'd["conversion_status"]')"

# Pixel: always a GIF; pending unless the offer trusts pixels.
cp=$(new_click "$lf")
req GET "/pixel?click_id=$cp&transaction_id=px-1&amount=5"
eq "pixel: 200 GIF" "200|image/gif" "$STATUS|$(hdr Content-Type)"
eq "pixel: counted as pending" pending "$(sql "SELECT status FROM conversions WHERE transaction_id = 'px-1' AND offer_id = $fixed")"
req GET "/pixel?click_id=nonsense"
eq "pixel with a bad click id: still a GIF" "200|image/gif" "$STATUS|$(hdr Content-Type)"
req GET "/pixel"
eq "pixel without parameters: still a GIF" "200|image/gif" "$STATUS|$(hdr Content-Type)"
sql "UPDATE offers SET trust_pixel = true WHERE id = $fixed" >/dev/null
cp2=$(new_click "$lf")
req GET "/pixel?click_id=$cp2&transaction_id=px-2"
eq "pixel on a trusting offer: approved" approved "$(sql "SELECT status FROM conversions WHERE transaction_id = 'px-2' AND offer_id = $fixed")"

# Manual status change by the tenant's admin (PATCH /admin/conversions/<id>).
admin GET "/admin/conversions/$cid"
eq "GET /admin/conversions/<id>" "200|$cid|approved|2.500000" "$STATUS|$(json 'd["id"]')|$(json 'd["status"]')|$(json 'd["payout"]')"
admin PATCH "/admin/conversions/$cid" -H 'Content-Type: application/json' --data '{"status":"rejected"}'
eq "manual change without a reason: 400" 400 "$STATUS"
contains "... names reason" "'reason'" "$(json 'd["error"]["message"]')"
admin PATCH "/admin/conversions/$cid" -H 'Content-Type: application/json' --data '{"status":"rejected","reason":"x","color":"red"}'
eq "manual change with an unknown field: 400" 400 "$STATUS"
admin PATCH "/admin/conversions/$cid" -H 'Content-Type: application/json' --data '{"status":"refunded","reason":"x"}'
eq "manual change to an unknown status: 400" 400 "$STATUS"
admin PATCH "/admin/conversions/$cid" -H 'Content-Type: application/json' --data '{"status":"rejected","reason":"chargeback #77"}'
eq "manual change: 200, rejected, was approved" "200|rejected|approved" "$STATUS|$(json 'd["status"]')|$(json 'd["previous_status"]')"
eq "manual change audited with the admin key and the reason" "approved|rejected|manual|chargeback #77" \
	"$(sql "SELECT old_status || '|' || new_status || '|' || source || '|' || reason FROM conversion_status_log WHERE conversion_id = $cid ORDER BY id DESC LIMIT 1")"
check "... and the actor is a key" test -n "$(sql "SELECT 1 FROM conversion_status_log WHERE conversion_id = $cid AND actor LIKE 'key:%' AND source = 'manual'")"
eq "manual change announced (conversion.updated)" 1 \
	"$(sql "SELECT count(*) FROM event_outbox WHERE type = 'conversion.updated' AND data->>'conversion_id' = '$cid' AND data->>'status' = 'rejected'")"
admin PATCH "/admin/conversions/$cid" -H 'Content-Type: application/json' --data '{"status":"approved","reason":"chargeback lost"}'
eq "an admin may also undo a rejection" "200|approved" "$STATUS|$(json 'd["status"]')"
req GET "/admin/conversions/$cid" -H "X-API-Key: $other"
eq "another tenant's admin: 404" 404 "$STATUS"
req PATCH "/admin/conversions/$cid" -H "X-API-Key: $other" -H 'Content-Type: application/json' --data '{"status":"rejected","reason":"x"}'
eq "another tenant's admin cannot change it: 404" 404 "$STATUS"
eq "... and did not" approved "$(sql "SELECT status FROM conversions WHERE id = $cid")"
req GET "/admin/conversions/$cid" -H "X-API-Key: $key"
eq "advertiser key: 403" 403 "$STATUS"
admin GET "/admin/conversions/999999999"
eq "unknown conversion: 404" 404 "$STATUS"
done_testing
