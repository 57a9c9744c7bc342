# Postbacks that race their click (SPEC §3 202 pending_click), and bursts of
# identical postbacks: exactly one conversion each time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/conv-lib.sh"

adv=$(new_advertiser "Race shop")
aff=$(new_affiliate "Race pub")
off=$(new_offer "$adv" "payout_value = 3.25")
link=$(new_link "$off" "$aff")
code=$(sqlv "SELECT code FROM links WHERE id = $link")
key=$(fixture key "$T" advertiser "$adv")
sleep 1.2 # the workers' link cache sees new links within a second or so

# A real click through nginx, the postback right after it (before ingest).
req GET "/c/$code?sub1=race"
eq "click: 302" 302 "$STATUS"
click=$(hdr X-Click-Id)
check "click: X-Click-Id" test -n "$click"
pb "$key" "click_id=$click&transaction_id=race-1&amount=9.90"
eq "postback before ingest: 202" 202 "$STATUS"
eq "postback before ingest: pending_click" pending_click "$(json 'd["status"]')"
pb "$key" "click_id=$click&transaction_id=race-1&amount=9.90"
eq "fired again before ingest: 202" 202 "$STATUS"
eq "no conversion yet" 0 "$(convs "click_id = '$click'")"
eq "both kept in pending_postbacks" 2 "$(sqlv "SELECT count(*) FROM pending_postbacks WHERE click_id = '$click'")"
ctl match --once >/dev/null 2>&1
eq "match before ingest: still pending, nothing lost" "0|2" \
	"$(convs "click_id = '$click'")|$(sqlv "SELECT count(*) FROM pending_postbacks WHERE click_id = '$click' AND resolved_at IS NULL")"
ctl ingest --once >/dev/null 2>&1
eq "ingest stored the click" 1 "$(sqlv "SELECT count(*) FROM clicks WHERE click_id = '$click'")"
sql "UPDATE pending_postbacks SET next_try_at = now() WHERE click_id = '$click'" >/dev/null # skip the backoff
ctl match --once >/dev/null 2>&1
eq "after ingest + match: exactly one conversion" 1 "$(convs "click_id = '$click'")"
eq "... with the offer's payout, approved" "3.250000|approved|9.900000" \
	"$(sql "SELECT payout, status, amount FROM conversions WHERE click_id = '$click'")"
eq "pending rows resolved: one recorded, one duplicate" "duplicate recorded" \
	"$(sql "SELECT result FROM pending_postbacks WHERE click_id = '$click' ORDER BY result" | tr '\n' ' ' | sed 's/ $//')"
pb "$key" "click_id=$click&transaction_id=race-1&amount=9.90"
eq "the same postback now: duplicate" "200|duplicate" "$STATUS|$(json 'd["status"]')"
eq "the event was written for the matched conversion" 1 \
	"$(sqlv "SELECT count(*) FROM event_outbox WHERE type = 'conversion.created' AND data->>'click_id' = '$click'")"

# A burst of 1,000 identical postbacks, 200 at a time: exactly one conversion.
c2=$(new_click "$link")
out=$(python3 "$top/tests/integration/burst.py" "$AFFTOK_URL/postback?click_id=$c2&transaction_id=burst-1&amount=1" 1000 200 "X-API-Key: $key")
eq "burst: one answer recorded" "200/recorded 1" "$(echo "$out" | grep recorded)"
eq "burst: 999 answers duplicate" "200/duplicate 999" "$(echo "$out" | grep duplicate)"
eq "burst: exactly one conversion" 1 "$(convs "transaction_id = 'burst-1' AND offer_id = $off")"
eq "burst: exactly one event" 1 "$(sqlv "SELECT count(*) FROM event_outbox WHERE data->>'transaction_id' = 'burst-1' AND (data->>'offer_id')::bigint = $off")"

# The same burst before the click is stored: all kept, one conversion after match.
line=$("$BUILD/tests/tools/clickids" "$KEYFILE" 1)
c3=${line%%$'\t'*}; ts=${line#*$'\t'}
out=$(python3 "$top/tests/integration/burst.py" "$AFFTOK_URL/postback?click_id=$c3&transaction_id=burst-2" 200 100 "X-API-Key: $key")
eq "burst before the click: all 202" "202/pending_click 200" "$out"
sql "INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint, billable)
     SELECT '$c3', '$ts', tenant_id, id, offer_id, affiliate_id, 'f', true FROM links WHERE id = $link" >/dev/null
sql "UPDATE pending_postbacks SET next_try_at = now() WHERE click_id = '$c3'" >/dev/null
ctl match --once >/dev/null 2>&1
eq "burst before the click: exactly one conversion after match" 1 "$(convs "transaction_id = 'burst-2' AND offer_id = $off")"
eq "burst before the click: every pending row resolved" "0" \
	"$(sqlv "SELECT count(*) FROM pending_postbacks WHERE click_id = '$c3' AND resolved_at IS NULL")"
done_testing
