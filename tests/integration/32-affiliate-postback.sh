# Outgoing affiliate postbacks (SPEC §4): a receiver on loopback that fails
# twice then succeeds gets exactly one successful delivery with the right
# macros; attempts are listed by GET /admin/postbacks; a reversal fires a
# second postback; an endpoint failing past 72 h is given up.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/conv-lib.sh"

dir=$(mktemp -d)
python3 "$top/tests/integration/pb-receiver.py" "$dir/port" "$dir/log" 2 &
rpid=$!
trap 'kill $rpid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")

adv=$(new_advertiser "PB shop")
aff=$(new_affiliate "PB pub" "http://127.0.0.1:$port/pb?click={click_id}&payout={payout}&cur={currency}&status={status}&tx={transaction_id}&offer={offer_id}&conv={conversion_id}&s1={sub1}&s2={sub2}")
off=$(new_offer "$adv" "payout_value = 4.2, currency = 'EUR'")
link=$(new_link "$off" "$aff")
key=$(fixture key "$T" advertiser "$adv")
click=$(new_click "$link" 0 true "hello world")
pb "$key" "click_id=$click&transaction_id=T%2F1&amount=50"
eq "conversion recorded" recorded "$(json 'd["status"]')"
conv=$(json 'd["conversion_id"]')
eq "one affiliate postback queued with the conversion" "1|queued" \
	"$(sql "SELECT count(*), min(state) FROM affiliate_postbacks WHERE conversion_id = $conv")"

run() { ctl postbacks --once >/dev/null 2>&1; }
due() { sql "UPDATE affiliate_postbacks SET next_attempt_at = now() WHERE conversion_id = $conv AND state = 'queued'" >/dev/null; }
run
eq "attempt 1: receiver said 500, still queued, retry later" "queued|1|500|t" \
	"$(sql "SELECT state, attempts, last_http_status, next_attempt_at > now() + interval '50 seconds' FROM affiliate_postbacks WHERE conversion_id = $conv")"
run
eq "not retried before its time" 1 "$(wc -l <"$dir/log")"
due; run
eq "attempt 2: 500 again" "queued|2" "$(sql "SELECT state, attempts FROM affiliate_postbacks WHERE conversion_id = $conv")"
eq "backoff doubled (about 2 min)" t \
	"$(sql "SELECT next_attempt_at > now() + interval '110 seconds' FROM affiliate_postbacks WHERE conversion_id = $conv")"
due; run
eq "attempt 3: delivered" "delivered|3|200" \
	"$(sql "SELECT state, attempts, last_http_status FROM affiliate_postbacks WHERE conversion_id = $conv")"
due; run
want="/pb?click=$click&payout=4.20&cur=EUR&status=approved&tx=T%2F1&offer=$off&conv=$conv&s1=hello%20world&s2="
eq "receiver: three requests, the same URL with every macro filled" "500 $want|500 $want|200 $want" \
	"$(tr '\n' '|' <"$dir/log" | sed 's/|$//')"
eq "receiver: exactly one success" 1 "$(grep -c '^200 ' "$dir/log")"

admin GET "/admin/postbacks?conversion_id=$conv"
eq "GET /admin/postbacks: 200" 200 "$STATUS"
eq "... the delivery with its three attempts" "delivered|3|500,500,200" \
	"$(json 'd["data"][0]["state"]')|$(json 'len(d["data"][0]["attempt_log"])')|$(json '",".join(str(a["http_status"]) for a in d["data"][0]["attempt_log"])')"
admin GET "/admin/postbacks?limit=1"
eq "... pages with a cursor" 1 "$(json 'len(d["data"])')"
check "... next_cursor given when there may be more" test "$(json 'd["next_cursor"]')" != None
req GET "/admin/postbacks" -H "X-API-Key: $key"
eq "... not for advertiser keys" 403 "$STATUS"

# The reversal is another event: one more postback, status=rejected.
pb "$key" "click_id=$click&transaction_id=T%2F1&status=rejected"
eq "reversal: updated" updated "$(json 'd["status"]')"
run
eq "reversal: delivered once with status=rejected" 1 "$(grep -c "^200 .*status=rejected" "$dir/log")"
eq "one postback row per conversion and status" 2 "$(sql "SELECT count(*) FROM affiliate_postbacks WHERE conversion_id = $conv")"

# An endpoint that never answers is given up 72 h after the event.
deadaff=$(new_affiliate "Dead pub" "http://127.0.0.1:9/never?c={click_id}")
dl=$(new_link "$off" "$deadaff")
dc=$(new_click "$dl")
pb "$key" "click_id=$dc&transaction_id=dead-1"
dconv=$(json 'd["conversion_id"]')
run
eq "unreachable receiver: queued for a retry, error recorded" "queued|t" \
	"$(sql "SELECT state, last_error IS NOT NULL FROM affiliate_postbacks WHERE conversion_id = $dconv")"
sql "UPDATE affiliate_postbacks SET created_at = now() - interval '73 hours', next_attempt_at = now() WHERE conversion_id = $dconv" >/dev/null
run
eq "unreachable past 72 h: failed, no more retries" "failed|2" \
	"$(sql "SELECT state, attempts FROM affiliate_postbacks WHERE conversion_id = $dconv")"
done_testing
