# Traffic quality at the click, through nginx with X-Forwarded-For (the
# local stack trusts it from loopback): geo rules at each scope and their
# precedence, crawler vs browser user agents and the offer's bot action, a
# burst from one address tripping the activity rule, a 70/30 route over many
# clicks, and a click cap reached under concurrent load with the overshoot
# counted.
. "$(dirname "$0")/lib.sh"
J='Content-Type: application/json'
OP="X-API-Key: $AFFTOK_OPERATOR_KEY"
US=8.8.8.8       # United States in the packaged country database
DE=84.150.1.1    # Germany (Deutsche Telekom)
CLICKS="python3 $top/tests/integration/clicks.py"

req POST /admin/tenants -H "$OP" -H "$J" -d '{"name":"Traffic test net"}'
eq "setup: tenant" 201 "$STATUS"
K="X-API-Key: $(json 'd["admin_key"]')"
a() { local m=$1 p=$2; shift 2; req "$m" "$p" -H "$K" -H "$J" "$@"; }
a POST /admin/advertisers -d '{"name":"Geo Adv"}'
ADV=$(json 'd["id"]')
a POST /admin/advertisers -d '{"name":"Other Adv"}'
ADV2=$(json 'd["id"]')
a POST /admin/affiliates -d '{"name":"Pub"}'
AFF=$(json 'd["id"]')
# offer_new NAME ADV [extra JSON members]: sets OFFER, CODE (a link of it).
offer_new() {
	a POST /admin/offers -d "{\"advertiser_id\":$2,\"name\":\"$1\",\"url\":\"http://127.0.0.1/offer/$1?c={click_id}\",\"fallback_url\":\"http://127.0.0.1/fallback/$1\"${3:+,$3}}"
	OFFER=$(json 'd["id"]')
	a POST /admin/links -d "{\"offer_id\":$OFFER,\"affiliate_id\":$AFF}"
	CODE=$(json 'd["code"]')
}
offer_new geo "$ADV"
O1=$OFFER C1=$CODE
offer_new sibling "$ADV"
C1B=$CODE
offer_new other "$ADV2"
C2=$CODE
check "setup: offers and links" test -n "$C1" -a -n "$C1B" -a -n "$C2"

# where CODE IP [curl args]: one click; W = "offer", "fallback" or the HTTP status.
where() {
	req GET "/c/$1" -H "X-Forwarded-For: $2" "${@:3}"
	case "$(hdr Location)" in
	*/offer/*) W=offer ;;
	*/fallback/*) W=fallback ;;
	*) W=$STATUS ;;
	esac
}
# noal CODE IP [curl args]: a click without Accept-Language; sets ID.
noal() {
	ID=$(curl -s -o /dev/null -D - -A "$BROWSER_UA" -H "X-Forwarded-For: $2" "${@:3}" "$AFFTOK_URL/c/$1" |
		tr -d '\r' | sed -n 's/^X-Click-Id: //Ip')
}
settle() { sleep 1.3; } # admin changes reach every worker within a second (cache epoch)
ingest() { ctl ingest --once >/dev/null 2>&1; }

# ---- geo rules: precedence tenant < advertiser < offer ----
where "$C1" $US
eq "no rules: US passes" offer "$W"
where "$C1" $DE
eq "no rules: DE passes" offer "$W"

a POST /admin/geo-rules -d '{"scope":"tenant","mode":"block","countries":["DE"]}'
eq "tenant block rule: 201" 201 "$STATUS"
R_T=$(json 'd["id"]')
settle
where "$C1" $DE
eq "tenant blocks DE: DE goes to the fallback" fallback "$W"
where "$C1" $US
eq "tenant blocks DE: US passes" offer "$W"
where "$C2" $DE
eq "tenant blocks DE: other advertiser's offer too" fallback "$W"
ID=$(hdr X-Click-Id)

a POST /admin/geo-rules -d "{\"scope\":\"advertiser\",\"scope_id\":$ADV,\"mode\":\"allow\",\"countries\":[\"DE\"]}"
eq "advertiser allow rule: 201" 201 "$STATUS"
R_A=$(json 'd["id"]')
settle
where "$C1" $DE
eq "advertiser allows only DE: DE passes (beats the tenant block)" offer "$W"
where "$C1" $US
eq "advertiser allows only DE: US blocked" fallback "$W"
where "$C1B" $US
eq "advertiser rule covers the advertiser's other offers" fallback "$W"
where "$C2" $DE
eq "other advertiser: still the tenant rule (DE blocked)" fallback "$W"
where "$C2" $US
eq "other advertiser: US passes" offer "$W"

a POST /admin/geo-rules -d "{\"scope\":\"offer\",\"scope_id\":$O1,\"mode\":\"block\",\"countries\":[\"DE\"]}"
R_O=$(json 'd["id"]')
settle
where "$C1" $DE
eq "offer blocks DE: DE blocked (beats the advertiser allow)" fallback "$W"
where "$C1" $US
eq "offer blocks only DE: US passes (advertiser allow list no longer decides)" offer "$W"
where "$C1B" $DE
eq "offer rule does not touch the sibling offer (advertiser decides)" offer "$W"

a PATCH "/admin/geo-rules/$R_O" -d '{"active":false}'
eq "deactivate the offer rule" False "$(json 'd["active"]')"
settle
where "$C1" $US
eq "inactive offer rule: the advertiser rule decides again (US blocked)" fallback "$W"
a DELETE "/admin/geo-rules/$R_A"
eq "delete the advertiser rule: 204" 204 "$STATUS"
settle
where "$C1" $US
eq "after delete: the tenant rule decides (US passes)" offer "$W"
where "$C1" $DE
eq "after delete: the tenant rule decides (DE blocked)" fallback "$W"
req GET "/c/$C1" -H "X-Forwarded-For: 2001:db8::1"
eq "unknown country (not in the database): allowed by default" offer "$(case "$(hdr Location)" in */offer/*) echo offer;; *) echo "$STATUS";; esac)"

# Reject policy: 403, HTML or JSON.
a PATCH "/admin/offers/$O1" -d '{"link_policy":"reject"}'
settle
req GET "/c/$C1" -H "X-Forwarded-For: $DE"
eq "reject policy: 403 for a blocked country" 403 "$STATUS"
contains "reject policy: HTML names the reason" geo_blocked "$BODY"
req GET "/c/$C1" -H "X-Forwarded-For: $DE" -H 'Accept: application/json'
eq "reject policy: JSON error on request" FORBIDDEN "$(json 'd["error"]["code"]')"
a PATCH "/admin/offers/$O1" -d '{"link_policy":"redirect"}'
a DELETE "/admin/geo-rules/$R_T"

# Validation of the admin API.
a POST /admin/geo-rules -d '{"scope":"tenant","mode":"block","countries":["XX"]}'
eq "unknown country code: 400" "400 INVALID_PARAMETER" "$STATUS $(json 'd["error"]["code"]')"
contains "400 names the field" countries "$(json 'd["error"]["message"]')"
a POST /admin/geo-rules -d '{"scope":"tenant","mode":"block","countries":["de"]}'
eq "lower-case code: 400" 400 "$STATUS"
a POST /admin/geo-rules -d '{"scope":"offer","mode":"block","countries":["DE"]}'
eq "offer rule without scope_id: 400" 400 "$STATUS"
a POST /admin/geo-rules -d '{"scope":"offer","scope_id":999999999,"mode":"block","countries":["DE"]}'
eq "offer rule naming no offer of the tenant: 400" 400 "$STATUS"
a POST /admin/geo-rules -d '{"scope":"planet","mode":"block","countries":["DE"]}'
eq "unknown scope: 400" 400 "$STATUS"
a POST /admin/geo-rules -d '{"scope":"tenant","mode":"maybe","countries":["DE"]}'
eq "unknown mode: 400" 400 "$STATUS"
req GET /admin/geo-rules -H "X-API-Key: $AFFTOK_ADMIN_KEY"
eq "another tenant sees none of these rules" 0 "$(json 'len([r for r in d["data"] if r["id"] in ('"$R_T,$R_A,$R_O"')])')"
req GET "/admin/geo-rules/$R_O" -H "X-API-Key: $AFFTOK_ADMIN_KEY"
eq "another tenant's rule: 404" 404 "$STATUS"

ingest
eq "geo-blocked click recorded: not billable, reason, country" "f|geo_blocked|DE" \
	"$(sql "SELECT billable, reason, country FROM clicks WHERE click_id = '$ID'")"

# ---- bots ----
offer_new bots "$ADV"
OB=$OFFER CB=$CODE
GOOGLEBOT='Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'
where "$CB" 73.1.1.1
eq "browser: to the offer" offer "$W"
IDB=$(hdr X-Click-Id)
where "$CB" 73.1.1.2 -A "$GOOGLEBOT"
eq "Googlebot: redirected to the offer (default bot action)" offer "$W"
IDG=$(hdr X-Click-Id)
where "$CB" 73.1.1.3 -A 'curl/8.1.2'
eq "curl user agent: to the offer" offer "$W"
IDC=$(hdr X-Click-Id)
where "$CB" 73.1.1.4 -A ''
eq "empty user agent: to the offer" offer "$W"
IDE=$(hdr X-Click-Id)
noal "$CB" 73.1.1.5
IDN=$ID
noal "$CB" 5.9.1.1
IDD=$ID
ingest
row() { sql "SELECT billable, coalesce(reason, '-'), device, bot_score FROM clicks WHERE click_id = '$1'"; }
eq "browser click: billable, desktop, score 0" "t|-|desktop|0" "$(row "$IDB")"
eq "Googlebot: not billable, reason bot, device bot" "f|bot|bot|100" "$(row "$IDG")"
eq "curl: bot" "f|bot|bot|100" "$(row "$IDC")"
eq "empty user agent: bot" "f|bot|bot|100" "$(row "$IDE")"
eq "missing Accept-Language alone: billable, scored 30" "t|-|desktop|30" "$(row "$IDN")"
eq "datacenter + missing Accept-Language: bot (60 + 30)" "f|bot|bot|90" "$(row "$IDD")"
a PATCH "/admin/offers/$OB" -d '{"bot_action":"fallback"}'
eq "offer bot_action can be set" fallback "$(json 'd["bot_action"]')"
settle
where "$CB" 73.1.1.6 -A "$GOOGLEBOT"
eq "bot_action fallback: Googlebot to the fallback" fallback "$W"
where "$CB" 73.1.1.7
eq "bot_action fallback: browser still to the offer" offer "$W"
a PATCH "/admin/offers/$OB" -d '{"bot_action":"reject"}'
settle
where "$CB" 73.1.1.8 -A "$GOOGLEBOT"
eq "bot_action reject: Googlebot gets 403" 403 "$W"
where "$CB" 73.1.1.9
eq "bot_action reject: browser still to the offer" offer "$W"
a PATCH "/admin/offers/$OB" -d '{"bot_action":"sometimes"}'
eq "bad bot_action: 400" 400 "$STATUS"
# Crawler and browser user agents from the packaged lists, through the stack.
crawlers=$(python3 -c "
import json; c = json.load(open('$top/node_modules/crawler-user-agents/crawler-user-agents.json'))
print('\n'.join([e['instances'][0] for e in c if e.get('instances')][:40]))")
browsers=$(python3 -c "
import json; d = json.load(open('$top/node_modules/user-agents/dist/user-agents.json'))
print('\n'.join(sorted({x['userAgent'] for x in d})[:40]))")
nc=0 nb=0 k=0
while IFS= read -r ua; do
	k=$((k + 1))
	where "$CB" "73.2.0.$k" -A "$ua"
	[ "$W" = 403 ] && nc=$((nc + 1)) || echo "crawler not rejected ($W): $ua" >&2
done <<<"$crawlers"
eq "40 packaged crawler user agents: all rejected" 40 "$nc"
k=0
while IFS= read -r ua; do
	k=$((k + 1))
	where "$CB" "73.3.0.$k" -A "$ua"
	[ "$W" = offer ] && nb=$((nb + 1)) || echo "browser not let through ($W): $ua" >&2
done <<<"$browsers"
eq "40 packaged browser user agents: all to the offer" 40 "$nb"

# ---- 70/30 route over many clicks ----
offer_new routed "$ADV"
OR=$OFFER CR=$CODE
LR=$(json 'd["id"]')
a POST /admin/routes -d "{\"offer_id\":$OR,\"destinations\":[{\"name\":\"A\",\"url\":\"http://127.0.0.1/offer/A?c={click_id}\",\"weight\":70},{\"name\":\"B\",\"url\":\"http://127.0.0.1/offer/B?c={click_id}\",\"weight\":30}]}"
eq "route create: 201" 201 "$STATUS"
RT=$(json 'd["id"]')
eq "route object has its destinations" '["A", "B"]' "$(json '[x["name"] for x in d["destinations"]]')"
a POST /admin/routes -d "{\"offer_id\":$OR,\"destinations\":[{\"url\":\"http://x/\",\"weight\":1}]}"
eq "second active route on the same offer: 409" 409 "$STATUS"
a POST /admin/routes -d "{\"offer_id\":$OR,\"link_id\":$LR,\"destinations\":[{\"url\":\"http://x/\",\"weight\":1}]}"
eq "route on both offer and link: 400" 400 "$STATUS"
for bad in '[]' '[{"url":"ftp://x/","weight":1}]' '[{"url":"http://x/"}]' '[{"url":"http://x/","offer_id":5,"weight":1}]' \
	'[{"url":"http://x/","weight":1,"countries":["XX"]}]' '[{"url":"http://x/","weight":1,"devices":["fridge"]}]' \
	'[{"url":"http://x/","weight":-1}]' '[{"url":"http://x/","weight":1,"colour":"red"}]'; do
	a POST /admin/routes -d "{\"offer_id\":$OR,\"destinations\":$bad}"
	eq "route destinations $bad: 400" 400 "$STATUS"
done
settle
out=$($CLICKS "$AFFTOK_URL/c/$CR" 1000 8 --base 100000)
nA=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get("302 http://127.0.0.1/offer/A", 0))')
nB=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get("302 http://127.0.0.1/offer/B", 0))')
echo "route 70/30 over 1000 clicks: A=$nA B=$nB ($out)" >&2
eq "route: every click went to A or B" 1000 "$((nA + nB))"
check "route: 70/30 within 1 % over 1000 clicks (A=$nA)" test "$nA" -ge 690 -a "$nA" -le 710
ingest
eq "route: the destination is stored with the click" "A:$nA B:$nB" \
	"$(sql "SELECT string_agg(route_dest || ':' || n, ' ' ORDER BY route_dest) FROM (SELECT route_dest, count(*) n FROM clicks WHERE offer_id = $OR GROUP BY 1) x")"
# Sticky: the same visitor keeps their destination.
where "$CR" 73.9.9.9
d1=$(hdr Location)
same=0
for _ in 1 2 3 4 5 6; do where "$CR" 73.9.9.9; [ "$(hdr Location | cut -d'?' -f1)" = "${d1%%\?*}" ] && same=$((same + 1)); done
eq "route: sticky per visitor (6 of 6 repeats)" 6 "$same"
# Conditions: a DE-only destination, others fall back.
a PATCH "/admin/routes/$RT" -d '{"destinations":[{"name":"de","url":"http://127.0.0.1/offer/de","weight":1,"countries":["DE"]},{"name":"mob","url":"http://127.0.0.1/offer/mob","weight":1,"devices":["mobile"]}],"fallback_url":"http://127.0.0.1/fallback/route"}'
eq "route PATCH" 200 "$STATUS"
settle
req GET "/c/$CR" -H "X-Forwarded-For: $DE"
contains "route condition: DE visitor to the DE destination" /offer/de "$(hdr Location)"
req GET "/c/$CR" -H "X-Forwarded-For: 73.8.8.8" -A 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1'
contains "route condition: mobile visitor to the mobile destination" /offer/mob "$(hdr Location)"
req GET "/c/$CR" -H "X-Forwarded-For: 73.8.8.9"
contains "route: no destination applies: the route's fallback" /fallback/route "$(hdr Location)"

# ---- a click cap under concurrent load ----
CAP=300
offer_new capped "$ADV" "\"caps\":{\"daily_clicks\":$CAP}"
OC=$OFFER CC=$CODE
settle
out=$($CLICKS "$AFFTOK_URL/c/$CC" 1500 16 --base 200000)
admitted=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get("302 http://127.0.0.1/offer/capped", 0))')
fell=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get("302 http://127.0.0.1/fallback/capped", 0))')
rate=$(printf '%s' "$out" | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["rate"]))')
over=$((admitted - CAP))
echo "cap $CAP under load: admitted $admitted, overshoot $over, fallback $fell, $rate clicks/s ($out)" >&2
eq "cap: every click answered (offer or fallback)" 1500 "$((admitted + fell))"
check "cap: at least the cap admitted ($admitted >= $CAP)" test "$admitted" -ge "$CAP"
check "cap: overshoot $over <= 2 s of traffic ($((2 * rate)) clicks)" test "$over" -le $((2 * rate))
check "cap: the rest went to the fallback URL ($fell)" test "$fell" -ge $((1500 - CAP - 2 * rate))
ingest
eq "cap: clicks past the cap recorded as cap_reached" "$fell" \
	"$(sql "SELECT count(*) FROM clicks WHERE offer_id = $OC AND reason = 'cap_reached'")"
eq "cap: billable clicks = admitted" "$admitted" "$(sql "SELECT count(*) FROM clicks WHERE offer_id = $OC AND billable")"
sleep 0.5
eq "cap: one cap.reached event in the outbox" 1 \
	"$(sql "SELECT count(*) FROM event_outbox WHERE type = 'cap.reached' AND data->>'offer_id' = '$OC'")"
ctl events --once >/dev/null 2>&1
eq "cap: cap.reached published on afftok:events" "daily_clicks $CAP" \
	"$(redis-cli -s "$RUN/redis.sock" --json XREVRANGE afftok:events + - COUNT 500 2>/dev/null | python3 -c "
import json, sys
for _id, f in json.load(sys.stdin):
    e = dict(zip(f[::2], f[1::2]))
    d = json.loads(e['data'])
    if e['type'] == 'cap.reached' and d['offer_id'] == $OC:
        print(d['cap'], d['limit'])")"
echo "overshoot: $over clicks over a cap of $CAP at $rate clicks/s" >"$RUN/cap-overshoot.txt"

# ---- a daily conversion cap: reached, the next clicks go to the fallback ----
offer_new convcap "$ADV" '"caps":{"daily_conversions":1}'
OCC=$OFFER CCC=$CODE
settle
where "$CCC" 73.7.7.1
eq "conversion cap: before any conversion, to the offer" offer "$W"
CID=$(hdr X-Click-Id)
ingest
ADMINKEY=${K#X-API-Key: }
req GET "/postback?click_id=$CID&transaction_id=cc1&api_key=$ADMINKEY"
eq "conversion cap: the conversion is recorded" recorded "$(json 'd["status"]')"
sleep 3 # workers read conversion counts every 2 s
where "$CCC" 73.7.7.2
eq "conversion cap reached: the next click goes to the fallback" fallback "$W"
CID2=$(hdr X-Click-Id)
ingest
eq "conversion cap: that click is recorded as cap_reached" "f|cap_reached" \
	"$(sql "SELECT billable, reason FROM clicks WHERE click_id = '$CID2'")"
eq "conversion cap: one cap.reached event (daily_conversions)" "daily_conversions 1" \
	"$(sql "SELECT data->>'cap', count(*) FROM event_outbox WHERE type = 'cap.reached' AND data->>'offer_id' = '$OCC' GROUP BY 1" | tr '|' ' ')"

# ---- a route on one link wins over the offer's route ----
a POST /admin/links -d "{\"offer_id\":$OR,\"affiliate_id\":$AFF}"
LR2=$(json 'd["id"]') CR2=$(json 'd["code"]')
a POST /admin/routes -d "{\"link_id\":$LR2,\"destinations\":[{\"name\":\"L\",\"url\":\"http://127.0.0.1/offer/linkroute\",\"weight\":1}]}"
eq "link route: 201" 201 "$STATUS"
settle
req GET "/c/$CR2" -H "X-Forwarded-For: $DE"
contains "link route: the link's own route decides" /offer/linkroute "$(hdr Location)"
req GET "/c/$CR" -H "X-Forwarded-For: $DE"
contains "link route: the offer's other link keeps the offer route" /offer/de "$(hdr Location)"

# ---- activity rule: a burst from one address ----
# The test stack runs with the rule off (most tests click from 127.0.0.1);
# restart the pool with it on, then as it was.
AFFTOK_ACTIVITY_MAX=20 write_config
kill_pidfile "$RUN/fcgi.pid"
fcgi_up
sleep 1
offer_new burst "$ADV"
OBU=$OFFER
$CLICKS "$AFFTOK_URL/c/$CODE" 30 1 --ip 73.44.44.44 >/dev/null
where "$CODE" 73.44.44.45
eq "after the burst, another address still passes" offer "$W"
ingest
# (Repeats of one visitor within 60 s are also duplicates; the bot score
# tells the activity rule's verdict apart.)
eq "burst of 30 from one address: the first 20 score 0, the last 10 are bots" "0:20 100:10" \
	"$(sql "SELECT string_agg(bot_score || ':' || n, ' ' ORDER BY bot_score) FROM (SELECT bot_score, count(*) n FROM clicks WHERE offer_id = $OBU AND ip = '73.44.44.44' GROUP BY 1) x")"
eq "burst: the 10 bots carry reason bot" "bot:10" \
	"$(sql "SELECT reason || ':' || count(*) FROM clicks WHERE offer_id = $OBU AND ip = '73.44.44.44' AND bot_score = 100 GROUP BY reason")"
write_config
kill_pidfile "$RUN/fcgi.pid"
fcgi_up
sleep 1

# ---- health ----
req GET /admin/health -H "X-API-Key: $AFFTOK_ADMIN_KEY"
eq "admin health: geo on with the packaged database" True "$(json 'd["geo"]["enabled"]')"
contains "admin health names the database" geo-whois-asn-country "$(json 'd["geo"]["database"]')"
check "admin health: crawler patterns loaded ($(json 'd["traffic"]["crawler_patterns"]'))" \
	test "$(json 'd["traffic"]["crawler_patterns"]')" -gt 1000
check "admin health: datacenter list loaded" test "$(json 'd["traffic"]["datacenter_entries"]')" -gt 10
eq "admin health: counters shared by the host's workers" True "$(json 'd["traffic"]["shared_counters"]')"

done_testing
