# Stats: a scripted day of clicks and conversions (with invalid clicks and a
# reversal) rolled up by `afftokctl aggregate` gives exactly the expected
# figures through GET /api/stats in JSON and CSV, for several group-bys and
# in UTC, New York and Kolkata (+05:30); scoping by tenant and role; raw
# lookups; rebuild after raw retention; a real streaming replica serves the
# reports and the primary takes over when it lags or stops.
#
# The day is yesterday (UTC), so its click partition exists; the day before
# gets one click (Kolkata's day starts at 18:30 UTC the day before). Clicks
# are inserted with SQL under authentic click ids; conversions with SQL at
# chosen times, and one real postback for today's numbers.
. "$(dirname "$0")/lib.sh"

D=$(date -u -d yesterday +%F)
P=$(date -u -d "$D -1 day" +%F)
TODAY=$(date -u +%F)
sqlv() { sql "$1" | head -n 1; }
T0=$(sqlv "SELECT now()") # before anything this test writes

# Authentic click ids for chosen times (the layout of src/clickid.h).
mint() {
	python3 - "$RUN/secret.key" "$1" <<'EOF'
import hmac, hashlib, os, sys
raw = bytes.fromhex(open(sys.argv[1]).read().strip())
key = hmac.new(raw, b"afftok click id", hashlib.sha256).digest()
b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
t = int(sys.argv[2]); head = ""
for _ in range(8):
    head = b62[t % 62] + head; t //= 62
head += "".join(b62[b % 62] for b in os.urandom(64) if b < 248)[:14]
v = int.from_bytes(hmac.new(key, head.encode(), hashlib.sha256).digest()[:6], "big")
tail = ""
for _ in range(6):
    tail += b62[v % 62]; v //= 62
print(head + tail)
EOF
}

# Two tenants of our own, so other tests' traffic never mixes in.
eval "$(ctl create-tenant stats-a | sed 's/^/A_/')"
eval "$(ctl create-tenant stats-b | sed 's/^/B_/')"
TA=$A_AFFTOK_TENANT_ID KA=$A_AFFTOK_ADMIN_KEY TB=$B_AFFTOK_TENANT_ID KB=$B_AFFTOK_ADMIN_KEY
check "two tenants created" test -n "$TA" -a -n "$TB"

A1=$(sqlv "INSERT INTO advertisers (tenant_id, name) VALUES ($TA, 'adv1') RETURNING id")
A2=$(sqlv "INSERT INTO advertisers (tenant_id, name) VALUES ($TA, 'adv2') RETURNING id")
F1=$(sqlv "INSERT INTO affiliates (tenant_id, name) VALUES ($TA, 'aff1') RETURNING id")
F2=$(sqlv "INSERT INTO affiliates (tenant_id, name) VALUES ($TA, 'aff2') RETURNING id")
O1=$(sqlv "INSERT INTO offers (tenant_id, advertiser_id, name, url, revenue_value, payout_value) VALUES ($TA, $A1, 'o1', 'https://example.com/?c={click_id}', 4, 2.5) RETURNING id")
O2=$(sqlv "INSERT INTO offers (tenant_id, advertiser_id, name, url) VALUES ($TA, $A2, 'o2', 'https://example.com/?c={click_id}') RETURNING id")
newlink() { sqlv "INSERT INTO links (tenant_id, offer_id, affiliate_id, code) VALUES ($1, $2, $3, 's$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')') RETURNING id"; }
L11=$(newlink "$TA" "$O1" "$F1")
L12=$(newlink "$TA" "$O1" "$F2")
L21=$(newlink "$TA" "$O2" "$F1")
BA=$(sqlv "INSERT INTO advertisers (tenant_id, name) VALUES ($TB, 'badv') RETURNING id")
BF=$(sqlv "INSERT INTO affiliates (tenant_id, name) VALUES ($TB, 'baff') RETURNING id")
BO=$(sqlv "INSERT INTO offers (tenant_id, advertiser_id, name, url) VALUES ($TB, $BA, 'bo', 'https://example.com/') RETURNING id")
LB=$(newlink "$TB" "$BO" "$BF")

# The day before D has no click partition yet; make it like the partitions job does.
sql "CREATE TABLE IF NOT EXISTS clicks_$(date -u -d "$P" +%Y%m%d) PARTITION OF clicks
     FOR VALUES FROM ('$P 00:00:00+00') TO ('$D 00:00:00+00')" >/dev/null 2>&1

# click WHEN LINK BILLABLE UNIQUE REASON COUNTRY DEVICE SUB1 -> prints the id
click() {
	local ms id
	ms=$(($(date -u -d "$1" +%s) * 1000))
	id=$(mint "$ms")
	local reason=NULL
	[ "$5" != - ] && reason="'$5'"
	sql "INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint,
	       ip, billable, is_unique, reason, country, device, sub1)
	     SELECT '$id', to_timestamp($ms / 1000.0), tenant_id, id, offer_id, affiliate_id, md5('$id'), '203.0.113.7',
	       $3, $4, $reason, '$6', '$7', \$s\$$8\$s\$ FROM links WHERE id = $2" >/dev/null
	echo "$id"
}
k1=$(click "$D 00:10:00Z" "$L11" true true - US desktop a)
k2=$(click "$D 00:20:00Z" "$L11" true false - US desktop a)
k3=$(click "$D 05:15:00Z" "$L12" true true - DE mobile "x,y")
k4=$(click "$D 18:40:00Z" "$L11" true true - US mobile b)
k5=$(click "$D 18:20:00Z" "$L21" true true - IN mobile a)
k6=$(click "$D 10:00:00Z" "$L11" false true bot US desktop a)
k7=$(click "$D 10:05:00Z" "$L12" false false replay DE mobile "x,y")
k8=$(click "$P 23:00:00Z" "$L11" true true - US desktop a)
kb=$(click "$D 12:00:00Z" "$LB" true true - FR desktop z)
eq "scripted clicks stored" 9 "$(sqlv "SELECT count(*) FROM clicks WHERE tenant_id IN ($TA, $TB)")"

# conv CLICK WHEN STATUS REVENUE PAYOUT -> prints the conversion id
conv() {
	sqlv "INSERT INTO conversions (tenant_id, offer_id, affiliate_id, advertiser_id, link_id, click_id,
	        click_created_at, transaction_id, status, currency, payout_currency, payout, revenue, source,
	        created_at, updated_at)
	      SELECT c.tenant_id, c.offer_id, c.affiliate_id, o.advertiser_id, c.link_id, c.click_id, c.created_at,
	        'tx-' || c.click_id, '$3', 'USD', 'USD', $5, $4, 'postback', '$2', now()
	      FROM clicks c JOIN offers o ON o.id = c.offer_id WHERE c.click_id = '$1' RETURNING id"
}
c1=$(conv "$k1" "$D 00:30:00Z" approved 10.00 7.50)
c2=$(conv "$k3" "$D 06:00:00Z" pending 5.00 2.50)
c3=$(conv "$k4" "$D 18:45:00Z" approved 3.333333 1.111111)
c4=$(conv "$k5" "$D 18:35:00Z" approved 20.00 15.00)
cb=$(conv "$kb" "$D 12:30:00Z" approved 100.00 50.00)
check "scripted conversions stored" test -n "$c1" -a -n "$c2" -a -n "$c3" -a -n "$c4" -a -n "$cb"

ctl aggregate >/dev/null 2>&1
eq "aggregate exits 0" 0 "$?"

# stats KEY QUERY: GET /api/stats?QUERY
stats() { req GET "/api/stats?$2" -H "X-API-Key: $1"; }
# The metrics of one JSON object as one line, to compare at once.
M='clicks unique_clicks invalid_clicks conversions approved pending rejected revenue payout profit cr epc'
metrics() { json "' '.join(str($1[k]) for k in '$M'.split())"; }

stats "$KA" "from=$D&to=$D&group_by=day"
eq "UTC day: 200" 200 "$STATUS"
eq "UTC day: one row for the day" "$D" "$(json 'd["rows"][0]["day"]')"
eq "UTC day: figures before the reversal" "7 5 2 4 3 1 0 33.333333 23.611111 9.722222 60.00 4.7222" "$(metrics 'd["rows"][0]')"
eq "UTC day: totals" "7 5 2 4 3 1 0 33.333333 23.611111 9.722222 60.00 4.7222" "$(metrics 'd["totals"]')"
eq "UTC day: invalid clicks by reason" '{"bot": 1, "replay": 1}' "$(json 'd["totals"]["invalid_by_reason"]')"

# Aggregating again changes nothing (idempotent).
before=$(sql "SELECT count(*), sum(clicks) FROM stats_clicks_q WHERE tenant_id = $TA")
ctl aggregate >/dev/null 2>&1
ctl aggregate --rebuild "$D" >/dev/null 2>&1
eq "aggregate and rebuild again: same rollup rows" "$before" "$(sql "SELECT count(*), sum(clicks) FROM stats_clicks_q WHERE tenant_id = $TA")"

# The reversal: approved -> rejected, seen by the next incremental run.
sql "UPDATE conversions SET status = 'rejected', updated_at = now() WHERE id = $c3" >/dev/null
ctl aggregate >/dev/null 2>&1
stats "$KA" "from=$D&to=$D&group_by=day"
eq "UTC day after the reversal" "7 5 2 4 2 1 1 30.00 22.50 7.50 40.00 4.5000" "$(metrics 'd["rows"][0]')"

stats "$KA" "from=$D&to=$D&group_by=offer"
eq "by offer: two rows" 2 "$(json 'len(d["rows"])')"
eq "by offer: O1" "$O1 6 4 2 3 1 1 1 10.00 7.50 2.50 25.00 1.8750" "$(json 'd["rows"][0]["offer_id"]') $(metrics 'd["rows"][0]')"
eq "by offer: O2" "$O2 1 1 0 1 1 0 0 20.00 15.00 5.00 100.00 15.0000" "$(json 'd["rows"][1]["offer_id"]') $(metrics 'd["rows"][1]')"

stats "$KA" "from=$D&to=$D&group_by=country,device"
eq "by country,device: keys" '[["DE", "mobile"], ["IN", "mobile"], ["US", "desktop"], ["US", "mobile"]]' "$(json '[[r["country"], r["device"]] for r in d["rows"]]')"
eq "by country,device: DE mobile" "2 1 1 1 0 1 0 0.00 0.00 0.00 0.00 0.0000" "$(metrics 'd["rows"][0]')"
eq "by country,device: US desktop" "3 2 1 1 1 0 0 10.00 7.50 2.50 50.00 3.7500" "$(metrics 'd["rows"][2]')"
eq "by country,device: US mobile (reversed)" "1 1 0 1 0 0 1 0.00 0.00 0.00 0.00 0.0000" "$(metrics 'd["rows"][3]')"

stats "$KA" "from=$D&to=$D&group_by=affiliate,offer"
eq "by affiliate,offer: rows" "[[$F1, $O1], [$F1, $O2], [$F2, $O1]]" "$(json '[[r["affiliate_id"], r["offer_id"]] for r in d["rows"]]')"
eq "by affiliate,offer: F2 O1" "2 1 1 1 0 1 0 0.00 0.00 0.00 0.00 0.0000" "$(metrics 'd["rows"][2]')"

# CSV: header, RFC 4180 quoting of "x,y", CRLF line ends.
stats "$KA" "from=$D&to=$D&group_by=sub1&format=csv"
eq "CSV: 200" 200 "$STATUS"
contains "CSV: content type" "text/csv" "$(hdr Content-Type)"
expected=$(printf '%s\r\n' \
	"sub1,clicks,unique_clicks,invalid_clicks,conversions,approved,pending,rejected,revenue,payout,profit,cr,epc" \
	"a,4,3,1,2,2,0,0,30.00,22.50,7.50,66.67,7.5000" \
	"b,1,1,0,1,0,0,1,0.00,0.00,0.00,0.00,0.0000" \
	"\"x,y\",2,1,1,1,0,1,0,0.00,0.00,0.00,0.00,0.0000")
eq "CSV by sub1: exact body" "$(printf '%s' "$expected" | od -c)" "$(printf '%s' "$BODY" | od -c)"
stats "$KA" "from=$D&to=$D&group_by=day,offer&format=csv"
eq "CSV by day,offer: header and two rows" \
	"day,offer_id,clicks,unique_clicks,invalid_clicks,conversions,approved,pending,rejected,revenue,payout,profit,cr,epc|$D,$O1,6,4,2,3,1,1,1,10.00,7.50,2.50,25.00,1.8750|$D,$O2,1,1,0,1,1,0,0,20.00,15.00,5.00,100.00,15.0000" \
	"$(printf '%s' "$BODY" | tr -d '\r' | paste -sd '|')"

# Kolkata (+05:30): the day runs from 18:30 UTC the day before, mid-hour.
stats "$KA" "from=$D&to=$D&group_by=day&tz=Asia/Kolkata"
eq "Kolkata day: figures" "7 5 2 2 1 1 0 10.00 7.50 2.50 20.00 1.5000" "$(metrics 'd["rows"][0]')"
eq "Kolkata day: key is the local date" "$D" "$(json 'd["rows"][0]["day"]')"
stats "$KA" "from=$D&to=$D&group_by=hour&tz=Asia/Kolkata"
eq "Kolkata hours: local hour keys" "[\"${D}T04:00:00+05:30\", \"${D}T05:00:00+05:30\", \"${D}T06:00:00+05:30\", \"${D}T10:00:00+05:30\", \"${D}T11:00:00+05:30\", \"${D}T15:00:00+05:30\", \"${D}T23:00:00+05:30\"]" "$(json '[r["hour"] for r in d["rows"]]')"
eq "Kolkata hour 05: two clicks (00:10 and 00:20 UTC)" "2 1 0 0 0 0 0 0.00 0.00 0.00 0.00 0.0000" "$(metrics 'd["rows"][1]')"
eq "Kolkata hour 06: the 00:30 UTC conversion" "0 0 0 1 1 0 0 10.00 7.50 2.50 0.00 0.0000" "$(metrics 'd["rows"][2]')"
stats "$KA" "from=$D&to=$D&group_by=day&tz=Asia/Kolkata&format=csv"
eq "Kolkata day: CSV row" "$D,7,5,2,2,1,1,0,10.00,7.50,2.50,20.00,1.5000" "$(printf '%s' "$BODY" | tr -d '\r' | sed -n 2p)"
# New York (whole hours: the hourly cube answers).
stats "$KA" "from=$D&to=$D&group_by=day&tz=America/New_York"
eq "New York day: figures" "5 4 2 3 1 1 1 20.00 15.00 5.00 33.33 5.0000" "$(metrics 'd["rows"][0]')"

# Scoping: affiliates see their own traffic, advertisers their offers,
# admins their tenant.
keyfor() {
	req POST /admin/api-keys -H "X-API-Key: $KA" -H 'Content-Type: application/json' --data "$1"
	json 'd["key"]'
}
KF2=$(keyfor "{\"scope\":\"affiliate\",\"affiliate_id\":$F2}")
KADV2=$(keyfor "{\"scope\":\"advertiser\",\"advertiser_id\":$A2}")
check "affiliate and advertiser keys created" test -n "$KF2" -a -n "$KADV2" -a "$KF2" != None
stats "$KF2" "from=$D&to=$D&group_by=day"
eq "affiliate: own traffic only" "2 1 1 1 0 1 0 0.00 0.00 0.00 0.00 0.0000" "$(metrics 'd["rows"][0]')"
eq "affiliate: own invalid clicks only" '{"replay": 1}' "$(json 'd["totals"]["invalid_by_reason"]')"
stats "$KF2" "from=$D&to=$D&group_by=offer&offer_id=$O2"
eq "affiliate asking for another affiliate's offer: no rows" "0 0" "$(json 'len(d["rows"])') $(json 'd["totals"]["clicks"]')"
stats "$KF2" "from=$D&to=$D&group_by=affiliate&affiliate_id=$F1"
eq "affiliate asking for another affiliate: no rows" 0 "$(json 'len(d["rows"])')"
stats "$KF2" "from=$D&to=$D&group_by=offer"
eq "affiliate by offer: only O1" "[$O1]" "$(json '[r["offer_id"] for r in d["rows"]]')"
stats "$KADV2" "from=$D&to=$D&group_by=offer"
eq "advertiser: only its offer" "[$O2] 1 20.00" "$(json '[r["offer_id"] for r in d["rows"]]') $(json 'd["totals"]["clicks"]') $(json 'd["totals"]["revenue"]')"
stats "$KB" "from=$D&to=$D&group_by=offer"
eq "other tenant: only its own" "[$BO] 1 100.00" "$(json '[r["offer_id"] for r in d["rows"]]') $(json 'd["totals"]["clicks"]') $(json 'd["totals"]["revenue"]')"
stats "$KB" "from=$D&to=$D&offer_id=$O1"
eq "other tenant asking for our offer: nothing" 0 "$(json 'd["totals"]["clicks"]')"
stats "$AFFTOK_OPERATOR_KEY" "from=$D&to=$D"
eq "operator key: 403" 403 "$STATUS"
stats "" "from=$D&to=$D"
eq "no key: 401" 401 "$STATUS"

# Bad requests name the parameter.
bad() {
	stats "$KA" "$1"
	eq "400 for $1" "400 $2" "$STATUS $(json 'd["error"]["message"].split("'"'"'")[1]')"
}
bad "from=$D&to=$D&group_by=day,week" group_by
bad "from=$D&to=$D&group_by=day,day" group_by
bad "from=2026-13-01&to=$D" from
bad "from=$D&to=$P" to
bad "from=2024-01-01&to=2025-01-02" to
bad "from=$D&to=$D&tz=Mars/Olympus" tz
bad "from=$D&to=$D&tz=../../etc/passwd" tz
bad "from=$D&to=$D&format=xml" format
bad "to=$D" from
bad "from=$D&to=$D&offer_id=abc" offer_id
stats "$KA" "from=2024-01-01&to=2024-12-31&group_by=day"
eq "366 days (leap year) accepted" 200 "$STATUS"

# Raw lookups.
req GET "/api/clicks/$k3" -H "X-API-Key: $KA"
eq "click lookup: 200" "200 $k3 x,y 203.0.113.7" "$STATUS $(json 'd["click_id"]') $(json 'd["sub1"]') $(json 'd["ip"]')"
req GET "/api/clicks/$k7" -H "X-API-Key: $KA"
eq "click lookup: invalid click with reason" "False replay" "$(json 'd["billable"]') $(json 'd["reason"]')"
req GET "/api/clicks/$k3" -H "X-API-Key: $KF2"
eq "click lookup: the affiliate's own click, without the visitor's address" "200 None" "$STATUS $(json 'd["ip"]')"
req GET "/api/clicks/$k1" -H "X-API-Key: $KF2"
eq "click lookup: another affiliate's click is 404" 404 "$STATUS"
req GET "/api/clicks/$k3" -H "X-API-Key: $KB"
eq "click lookup: another tenant's click is 404" 404 "$STATUS"
fake=${k3:0:27}$([ "${k3:27:1}" = A ] && echo B || echo A)
req GET "/api/clicks/$fake" -H "X-API-Key: $KA"
eq "click lookup: forged id is 404" "404 CLICK_NOT_FOUND" "$STATUS $(json 'd["error"]["code"]')"
plan=$(psql -X -q -tA "$PGURI" -c "EXPLAIN SELECT 1 FROM clicks WHERE click_id = '$k3' AND created_at >= timestamptz 'epoch' + $(($(date -u -d "$D 05:15:00Z" +%s) * 1000))::bigint * interval '1 millisecond' AND created_at < timestamptz 'epoch' + $(($(date -u -d "$D 05:15:00Z" +%s) * 1000 + 1))::bigint * interval '1 millisecond'")
eq "click lookup touches one partition" 1 "$(printf '%s\n' "$plan" | grep -o 'clicks_[0-9]\{8\}' | sort -u | wc -l)"

req GET "/api/conversions?from=$D&to=$D&limit=3" -H "X-API-Key: $KA"
eq "conversions: first page of 3" 3 "$(json 'len(d["data"])')"
cur=$(json 'd["next_cursor"]')
req GET "/api/conversions?from=$D&to=$D&limit=3&cursor=$cur" -H "X-API-Key: $KA"
eq "conversions: second page of 1, no further cursor" "1 None" "$(json 'len(d["data"])') $(json 'd["next_cursor"]')"
req GET "/api/conversions?from=$D&to=$D&status=rejected" -H "X-API-Key: $KA"
eq "conversions: the reversed one" "$c3 rejected 3.333333" "$(json 'd["data"][0]["id"]') $(json 'd["data"][0]["status"]') $(json 'd["data"][0]["revenue"]')"
req GET "/api/conversions?from=$D&to=$D" -H "X-API-Key: $KF2"
eq "conversions: affiliate sees its own, without revenue" "[$c2] None" "$(json '[c["id"] for c in d["data"]]') $(json 'd["data"][0]["revenue"]')"
req GET "/api/conversions?status=maybe" -H "X-API-Key: $KA"
eq "conversions: bad status 400" 400 "$STATUS"

# Today, through the real postback path: a click now and its conversion.
kt=$(click "$(date -u +'%F %T')Z" "$L11" true true - US desktop t)
KADV1=$(keyfor "{\"scope\":\"advertiser\",\"advertiser_id\":$A1}")
req GET "/postback?click_id=$kt&transaction_id=today-1&status=approved" -H "X-API-Key: $KADV1"
eq "today's postback recorded" 200 "$STATUS"
ctl aggregate >/dev/null 2>&1
stats "$KA" "from=$TODAY&to=$TODAY&group_by=day"
eq "today: the click and its conversion after one run" "1 1 1 4.00 2.50" "$(json 'd["totals"]["clicks"]') $(json 'd["totals"]["conversions"]') $(json 'd["totals"]["approved"]') $(json 'd["totals"]["revenue"]') $(json 'd["totals"]["payout"]')"

# Beyond raw retention: the day before D loses its clicks; rollups stay and
# a rebuild of that day leaves the click rollups alone.
sql "DROP TABLE clicks_$(date -u -d "$P" +%Y%m%d)" >/dev/null
ctl aggregate --rebuild "$P" >/dev/null 2>&1
ctl aggregate >/dev/null 2>&1
stats "$KA" "from=$D&to=$D&group_by=day&tz=Asia/Kolkata"
eq "Kolkata day after the raw partition is gone" "7 5 2 2 1 1 0 10.00 7.50 2.50 20.00 1.5000" "$(metrics 'd["rows"][0]')"

# A killed run: a transaction per hour (its day's rollups moving with it),
# so each hour is old or new, and the next run finishes. Simulated by moving
# the watermark back, as if the run died after some hours, before its end:
# the rerun rewrites them and nothing counts twice.
sql "UPDATE stats_watermark SET ts = '$T0'" >/dev/null
ctl aggregate >/dev/null 2>&1
stats "$KA" "from=$D&to=$D&group_by=day"
eq "after an interrupted run and a rerun" "7 5 2 4 2 1 1 30.00 22.50 7.50 40.00 4.5000" "$(metrics 'd["rows"][0]')"
# Rollups damaged by hand (an hour's base rows gone): a rebuild of the day
# puts the hour and the day's daily rollups right.
sql "DELETE FROM stats_clicks_q WHERE tenant_id = $TA AND bucket >= '$D 10:00:00+00' AND bucket < '$D 11:00:00+00'" >/dev/null
ctl aggregate --rebuild "$D" >/dev/null 2>&1
stats "$KA" "from=$D&to=$D&group_by=day"
eq "after damaged rollups and a rebuild" "7 5 2 4 2 1 1 30.00 22.50 7.50 40.00 4.5000" "$(metrics 'd["rows"][0]')"
stats "$KA" "from=$D&to=$D&group_by=country,device"
eq "after damaged rollups and a rebuild: by country,device (daily base)" "2 1 1 1 0 1 0 0.00 0.00 0.00 0.00 0.0000" "$(metrics 'd["rows"][0]')"

# ---- daily rollups (sql/070) ----
# After all the runs above (reversal, rebuilds, an interrupted run), every
# daily rollup equals the same figures recomputed from the finer tables.
dayeq() { # NAME DAILY-QUERY FINE-QUERY: both sides, each minus the other, is empty
	eq "daily rollups: $1 equal the finer tables" "0 0" \
		"$(sqlv "SELECT count(*) FROM (($2) EXCEPT ALL ($3)) a") $(sqlv "SELECT count(*) FROM (($3) EXCEPT ALL ($2)) b")" 2>/dev/null
}
DAYB="date_bin('1 day', bucket, timestamptz '2000-01-01 00:00+00')"
DAYH="date_bin('1 day', hour, timestamptz '2000-01-01 00:00+00')"
MS='sum(clicks), sum(unique_clicks), sum(invalid_clicks), sum(conversions), sum(approved), sum(pending), sum(rejected), sum(revenue), sum(payout)'
MD='clicks, unique_clicks, invalid_clicks, conversions, approved, pending, rejected, revenue, payout'
fine_base="SELECT tenant_id, $DAYB AS day, offer_id, affiliate_id, country, device, sub1, clicks, unique_clicks, invalid_clicks,
  0 AS conversions, 0 AS approved, 0 AS pending, 0 AS rejected, 0 AS revenue, 0 AS payout FROM stats_clicks_q WHERE tenant_id = $TA
  UNION ALL SELECT tenant_id, $DAYB, offer_id, affiliate_id, country, device, sub1, 0, 0, 0, conversions, approved, pending,
  rejected, revenue, payout FROM stats_conv_q WHERE tenant_id = $TA"
dayeq "base" "SELECT tenant_id, day, offer_id, affiliate_id, country, device, sub1, $MD FROM stats_base_d WHERE tenant_id = $TA" \
	"SELECT tenant_id, day, offer_id, affiliate_id, country, device, sub1, $MS FROM ($fine_base) f GROUP BY 1, 2, 3, 4, 5, 6, 7"
dayeq "offer x affiliate" "SELECT tenant_id, day, offer_id, affiliate_id, $MD FROM stats_oa_d WHERE tenant_id = $TA" \
	"SELECT tenant_id, $DAYH, offer_id, affiliate_id, $MS FROM stats_oa_h WHERE tenant_id = $TA GROUP BY 1, 2, 3, 4"
dayeq "offer" "SELECT tenant_id, day, offer_id, $MD FROM stats_o_d WHERE tenant_id = $TA" \
	"SELECT tenant_id, $DAYH, offer_id, $MS FROM stats_o_h WHERE tenant_id = $TA GROUP BY 1, 2, 3"
dayeq "invalid clicks" "SELECT tenant_id, day, offer_id, affiliate_id, reason, clicks FROM stats_invalid_d WHERE tenant_id = $TA" \
	"SELECT tenant_id, $DAYB, offer_id, affiliate_id, reason, sum(clicks) FROM stats_invalid_q WHERE tenant_id = $TA GROUP BY 1, 2, 3, 4, 5"
dayeq "invalid clicks per offer" "SELECT tenant_id, day, offer_id, reason, clicks FROM stats_invalid_o_d WHERE tenant_id = $TA" \
	"SELECT tenant_id, $DAYB, offer_id, reason, sum(clicks) FROM stats_invalid_q WHERE tenant_id = $TA GROUP BY 1, 2, 3, 4"
eq "daily rollups: no row left at zero" 0 "$(sqlv "SELECT count(*) FROM stats_base_d WHERE clicks = 0 AND conversions = 0")"

# A report over P..D takes whole UTC days from the daily rollups and the
# zone's edges from the finer tables (by day in New York and Kolkata, also
# the hours of each UTC day that belong to the local day before or after);
# it equals the same report computed from the 15-minute base rollups alone,
# in UTC, New York and Kolkata.
# report_fine TZ KEYS: "keys|metrics" lines from stats_clicks_q/stats_conv_q.
report_fine() {
	local keys=$2 sel dayx="to_char((bucket AT TIME ZONE '$1')::date, 'YYYY-MM-DD')"
	sel=$(printf '%s' "$keys" | sed "s/\([a-z0-9_]*\)/coalesce(\1::text, '')/g; s|coalesce(day::text, '')|$dayx|")
	keys=$(printf '%s' "$keys" | sed "s|^day\b|$dayx|")
	sql "SELECT concat_ws('|', $sel, $MS) FROM (SELECT *, 0 AS conversions, 0 AS approved, 0 AS pending,
	       0 AS rejected, 0 AS revenue, 0 AS payout FROM (SELECT tenant_id, bucket, offer_id, affiliate_id, country,
	       device, sub1, clicks, unique_clicks, invalid_clicks FROM stats_clicks_q) c
	     UNION ALL SELECT tenant_id, bucket, offer_id, affiliate_id, country, device, sub1, 0, 0, 0, conversions,
	       approved, pending, rejected, revenue, payout FROM stats_conv_q) s
	     WHERE tenant_id = $TA AND bucket >= '$P'::timestamp AT TIME ZONE '$1'
	       AND bucket < ('$D'::date + 1)::timestamp AT TIME ZONE '$1'
	     GROUP BY $keys ORDER BY $keys" | python3 -c '
import sys, decimal
for l in sys.stdin.read().splitlines():
    f = l.split("|")
    f[-2:] = [format(decimal.Decimal(x).normalize(), "f") for x in f[-2:]]
    print("|".join(f))'
}
# report_api KEYS: the same lines from the answer of GET /api/stats.
report_api() {
	printf '%s' "$BODY" | python3 -c '
import sys, json, decimal
keys = sys.argv[1].split(",")
for r in json.load(sys.stdin)["rows"]:
    f = ["" if r[k] is None else str(r[k]) for k in keys]
    f += [str(r[m]) for m in "clicks unique_clicks invalid_clicks conversions approved pending rejected".split()]
    f += [format(decimal.Decimal(r[m]).normalize(), "f") for m in ("revenue", "payout")]
    print("|".join(f))' "$1"
}
for tz in UTC America/New_York Asia/Kolkata; do
	for g in "offer,affiliate:offer_id,affiliate_id" "country,device:country,device" "offer,sub1:offer_id,sub1" \
		"affiliate:affiliate_id" "day,offer:day,offer_id" "day,country:day,country"; do
		stats "$KA" "from=$P&to=$D&group_by=${g%%:*}&tz=$tz"
		ROLLUP=$(hdr X-Stats-Rollup)
		api=$(report_api "${g#*:}")
		fine=$(report_fine "$tz" "${g#*:}")
		eq "$tz, P..D by ${g%%:*}: daily + edges = 15-minute rollups" "$fine" "$api"
		contains "$tz, P..D by ${g%%:*}: whole days from the daily rollups" "+daily" "$ROLLUP"
		check "$tz, P..D by ${g%%:*}: not empty" test -n "$api"
	done
done
stats "$KA" "from=$P&to=$D&group_by=day&tz=America/New_York"
eq "New York by day: UTC days from the daily rollups, moved to local days" "offer-hourly+daily" "$(hdr X-Stats-Rollup)"
stats "$KA" "from=$P&to=$D&group_by=day&tz=Africa/Abidjan"
eq "Abidjan (UTC+0) by day: days from the daily rollups" "offer-hourly+daily" "$(hdr X-Stats-Rollup)"
eq "Abidjan (UTC+0) by day: P and D as in UTC" "[\"$P\", \"$D\"] 8" "$(json '[r["day"] for r in d["rows"]]') $(json 'd["totals"]["clicks"]')"
stats "$KA" "from=$P&to=$D&group_by=hour"
eq "by hour: never the daily rollups" "offer-hourly" "$(hdr X-Stats-Rollup)"
for tz in UTC America/New_York Asia/Kolkata; do
	stats "$KA" "from=$P&to=$D&group_by=offer&tz=$tz"
	eq "$tz, P..D: invalid clicks by reason equal the 15-minute rollups" \
		"$(sql "SELECT coalesce(reason, 'unknown') || '=' || sum(clicks) FROM stats_invalid_q WHERE tenant_id = $TA
		  AND bucket >= '$P'::timestamp AT TIME ZONE '$tz' AND bucket < ('$D'::date + 1)::timestamp AT TIME ZONE '$tz'
		  GROUP BY reason ORDER BY 1" | paste -sd ' ')" \
		"$(json '" ".join(k + "=" + str(v) for k, v in sorted(d["totals"]["invalid_by_reason"].items()))')"
done
stats "$KF2" "from=$P&to=$D&group_by=offer&tz=Asia/Kolkata"
eq "affiliate key, Kolkata, P..D: own traffic and invalid clicks (daily per affiliate)" \
	'2 {"replay": 1}' "$(json 'd["totals"]["clicks"]') $(json 'd["totals"]["invalid_by_reason"]')"

# ---- a real streaming replica ----
REP=$RUN/replica
RPORT=$((PGPORT + 3))
while ss -ltn | grep -q ":$RPORT "; do RPORT=$((RPORT + 100)); done
bin=$(pgbin)
rm -rf "$REP"
mkdir -p "$REP"
[ "$(id -u)" = 0 ] && chown postgres "$REP" && chmod 700 "$REP"
touch "$LOG/replica.log"
[ "$(id -u)" = 0 ] && chown postgres "$LOG/replica.log"
if as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$PGPORT" -U postgres -D "$REP" -R -X stream -c fast >>"$LOG/replica.log" 2>&1; then
	pass "pg_basebackup on loopback"
else
	fail "pg_basebackup on loopback (see $LOG/replica.log)"
fi
printf 'port = %s\nhot_standby = on\n' "$RPORT" | as_pg tee -a "$REP/postgresql.conf" >/dev/null
as_pg "$bin/pg_ctl" -D "$REP" -l "$LOG/replica.log" -w -t 60 start >/dev/null 2>&1
RPSQL="psql -X -q -tA -h $PGSOCK -p $RPORT -U postgres afftok"
eq "replica in recovery" t "$($RPSQL -c 'SELECT pg_is_in_recovery()' 2>/dev/null)"

cp "$CONF" "$CONF.orig"
printf '[database]\nreplica_conninfo = host=%s port=%s dbname=afftok user=afftok\nreplica_max_lag_s = 2\n' "$PGSOCK" "$RPORT" >>"$CONF"
restart_pool() { kill_pidfile "$RUN/fcgi.pid"; pkill -f "$BUILD/afftok-fcgi -c $CONF" 2>/dev/null; fcgi_up; wait_http; }
restart_pool
# Wait for the replica to have replayed everything written so far.
lsn=$(sqlv "SELECT pg_current_wal_lsn()")
for _ in $(seq 50); do
	[ "$($RPSQL -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'" 2>/dev/null)" = t ] && break
	sleep 0.2
done
stats "$KA" "from=$D&to=$D&group_by=day"
eq "replica serves stats" "replica 7 5 2 4 2 1 1 30.00 22.50 7.50 40.00 4.5000" "$(hdr X-Stats-Source) $(metrics 'd["rows"][0]')"
req GET "/api/clicks/$k3" -H "X-API-Key: $KA"
eq "replica serves click lookups" 200 "$STATUS"
admin GET /admin/health
eq "admin health shows the replica up with its lag" "True True" "$(json 'd["replica"]["up"]') $(json 'str("lag_s" in d["replica"])')"

# Lagging beyond replica_max_lag_s: replay paused while the primary writes.
$RPSQL -c "SELECT pg_wal_replay_pause()" >/dev/null
sql "UPDATE stats_watermark SET updated_at = now()" >/dev/null
sleep 3.2
sql "UPDATE stats_watermark SET updated_at = now()" >/dev/null
sleep 1.2
stats "$KA" "from=$D&to=$D&group_by=day"
eq "lagging replica: the primary answers" "primary 7" "$(hdr X-Stats-Source) $(json 'd["totals"]["clicks"]')"
admin GET /admin/health
check "admin health reports the lag" python3 -c "import sys; sys.exit(0 if float('$(json 'd["replica"].get("lag_s", 0)')') >= 2 else 1)"
$RPSQL -c "SELECT pg_wal_replay_resume()" >/dev/null
# Each worker looks at the replica at most once a second; on a busy machine
# replaying and those looks take a few seconds.
for _ in $(seq 20); do
	sleep 0.5
	stats "$KA" "from=$D&to=$D&group_by=day"
	[ "$(hdr X-Stats-Source)" = replica ] && break
done
eq "replica caught up: serves again" replica "$(hdr X-Stats-Source)"

# Stopped: every request still answered, by the primary.
as_pg "$bin/pg_ctl" -D "$REP" -m fast -w stop >/dev/null 2>&1
ok=0
for i in 1 2 3 4 5 6; do
	stats "$KA" "from=$D&to=$D&group_by=day"
	[ "$STATUS" = 200 ] && [ "$(hdr X-Stats-Source)" = primary ] && [ "$(json 'd["totals"]["clicks"]')" = 7 ] && ok=$((ok + 1))
done
eq "replica stopped: the primary answers every request" 6 "$ok"
admin GET /admin/health
eq "admin health: replica down, status still 200" "200 False" "$STATUS $(json 'd["replica"]["up"]')"

mv "$CONF.orig" "$CONF"
restart_pool
rm -rf "$REP"
done_testing
