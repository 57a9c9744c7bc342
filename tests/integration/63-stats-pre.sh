# Stats from the click summaries (sql/090_click_rollup_pre.sql): clicks
# stored by several statements (an ON CONFLICT DO NOTHING one meeting stored
# clicks, a rolled-back one, a DELETE and an UPDATE of single clicks), a
# conversion reversal, a late click for an hour already rolled up, a click
# committed while a run is going, and --rebuild of the day: after every run
# the rollups equal a GROUP BY over the raw clicks and conversions.
. "$(dirname "$0")/lib.sh"

D=$(date -u -d yesterday +%F)
sqlv() { sql "$1" | head -n 1 | tr '|' ' '; }

eval "$(ctl create-tenant stats-pre | sed 's/^/A_/')"
T=$A_AFFTOK_TENANT_ID
check "tenant created" test -n "$T"
ADV=$(sqlv "INSERT INTO advertisers (tenant_id, name) VALUES ($T, 'adv') RETURNING id")
F1=$(sqlv "INSERT INTO affiliates (tenant_id, name) VALUES ($T, 'f1') RETURNING id")
F2=$(sqlv "INSERT INTO affiliates (tenant_id, name) VALUES ($T, 'f2') RETURNING id")
O1=$(sqlv "INSERT INTO offers (tenant_id, advertiser_id, name, url) VALUES ($T, $ADV, 'o1', 'https://example.com/') RETURNING id")
O2=$(sqlv "INSERT INTO offers (tenant_id, advertiser_id, name, url) VALUES ($T, $ADV, 'o2', 'https://example.com/') RETURNING id")
newlink() { sqlv "INSERT INTO links (tenant_id, offer_id, affiliate_id, code) VALUES ($T, $1, $2, 'p$T-$1-$2') RETURNING id"; }
L1=$(newlink "$O1" "$F1")
L2=$(newlink "$O1" "$F2")
L3=$(newlink "$O2" "$F1")

# rows N FIRST TIME LINK SPACING_S: N click rows for a VALUES list, ids
# pre-T-FIRST.., one every SPACING_S seconds from TIME; every 4th invalid
# (bot), every 3rd not unique, countries and sub1 in turn, one in 7
# without a country.
rows() {
	python3 - "$T" "$@" <<'EOF'
import sys, datetime
t, n, first, when, link, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
base = datetime.datetime.fromisoformat(when.replace("Z", "+00:00"))
out = []
for i in range(first, first + n):
    ts = (base + datetime.timedelta(seconds=step * (i - first))).isoformat()
    bad = i % 4 == 0
    country = "NULL" if i % 7 == 0 else "'%s'" % ["US", "DE", "FR"][i % 3]
    out.append("('pre-%s-%d', '%s', %s, %s, %s, %s, %s, '%s', %s)" % (
        t, i, ts, link, "'bot'" if bad else "NULL", str(not bad).lower(), str(i % 3 != 0).lower(),
        country, ["desktop", "mobile"][i % 2], "NULL" if i % 5 == 0 else "'s%d'" % (i % 2)))
print(",\n".join(out))
EOF
}
# ins VALUES [SUFFIX]: one INSERT statement of those rows.
ins() {
	sql "INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint, reason,
	       billable, is_unique, country, device, sub1)
	     SELECT v.id, v.ts::timestamptz, $T, l.id, l.offer_id, l.affiliate_id, md5(v.id), v.reason, v.billable,
	       v.uniq, v.country, v.device, v.sub1
	     FROM (VALUES $1) v (id, ts, link, reason, billable, uniq, country, device, sub1)
	     JOIN links l ON l.id = v.link ${2:-}"
}

# The figures from raw data and from the rollups, as sorted lines.
ORIGIN="timestamptz '2000-01-01 00:00:00+00'"
raw_q="SELECT date_bin('15 minutes', created_at, $ORIGIN), offer_id, affiliate_id, link_id, country::text, device,
  route_dest, sub1, count(*), count(*) FILTER (WHERE is_unique), count(*) FILTER (WHERE NOT billable)
  FROM clicks WHERE tenant_id = $T GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"
roll_q="SELECT bucket, offer_id, affiliate_id, link_id, country, device, route_dest, sub1, clicks, unique_clicks,
  invalid_clicks FROM stats_clicks_q WHERE tenant_id = $T"
raw_inv="SELECT date_bin('15 minutes', created_at, $ORIGIN), offer_id, affiliate_id, reason, count(*)
  FROM clicks WHERE tenant_id = $T AND NOT billable GROUP BY 1, 2, 3, 4"
roll_inv="SELECT bucket, offer_id, affiliate_id, reason, clicks FROM stats_invalid_q WHERE tenant_id = $T"
raw_day="SELECT date_bin('1 day', created_at, $ORIGIN), offer_id, affiliate_id, country::text, device, sub1, count(*),
  count(*) FILTER (WHERE is_unique), count(*) FILTER (WHERE NOT billable) FROM clicks WHERE tenant_id = $T
  GROUP BY 1, 2, 3, 4, 5, 6"
roll_day="SELECT day, offer_id, affiliate_id, country, device, sub1, clicks, unique_clicks, invalid_clicks
  FROM stats_base_d WHERE tenant_id = $T AND (clicks <> 0 OR unique_clicks <> 0 OR invalid_clicks <> 0)"
raw_hour="SELECT h, offer_id, sum(c), sum(u), sum(i), sum(v), sum(a), sum(r), sum(rev) FROM (
  SELECT date_bin('1 hour', created_at, $ORIGIN) AS h, offer_id, 1 AS c, is_unique::int AS u, (NOT billable)::int AS i,
    0 AS v, 0 AS a, 0 AS r, 0 AS rev FROM clicks WHERE tenant_id = $T
  UNION ALL SELECT date_bin('1 hour', created_at, $ORIGIN), offer_id, 0, 0, 0, 1, (status = 'approved')::int,
    (status = 'rejected')::int, CASE WHEN status = 'approved' THEN revenue ELSE 0 END
  FROM conversions WHERE tenant_id = $T) s GROUP BY 1, 2"
roll_hour="SELECT hour, offer_id, clicks, unique_clicks, invalid_clicks, conversions, approved, rejected, revenue
  FROM stats_o_h WHERE tenant_id = $T"
# same WHEN: every rollup equals its GROUP BY over raw rows (both
# differences empty, and not both empty sets).
names=("base rollups" "invalid by reason" "daily base rollups" "offer hours with conversions")
raws=("$raw_q" "$raw_inv" "$raw_day" "$raw_hour")
rolls=("$roll_q" "$roll_inv" "$roll_day" "$roll_hour")
same() {
	local i a b
	for i in 0 1 2 3; do
		a=${raws[$i]} b=${rolls[$i]}
		eq "$1: ${names[$i]} equal the raw rows" "0 0 t" \
			"$(sqlv "SELECT (SELECT count(*) FROM (($a) EXCEPT ALL ($b)) x), (SELECT count(*) FROM (($b) EXCEPT ALL ($a)) y),
			   (SELECT count(*) > 0 FROM ($a) z)")"
	done
	eq "$1: summary rows all rolled up, one per key" "0 $(sqlv "SELECT count(*) FROM (SELECT DISTINCT
	     date_bin('15 minutes', created_at, $ORIGIN), link_id, country, device, route_dest, sub1, reason
	     FROM clicks WHERE tenant_id = $T) k") $(sqlv "SELECT count(*) FROM clicks WHERE tenant_id = $T")" \
		"$(sqlv "SELECT count(*) FILTER (WHERE fresh), count(*), sum(clicks) FROM stats_click_pre WHERE tenant_id = $T")"
}

# Several statements, some into the same 15-minute buckets.
ins "$(rows 30 0 "${D}T01:00:00Z" "$L1" 55)"
ins "$(rows 20 30 "${D}T01:10:00Z" "$L2" 101)"
ins "$(rows 25 50 "${D}T13:05:00Z" "$L3" 7)"
eq "the triggers summed each statement" "75 2" \
	"$(sqlv "SELECT sum(clicks), count(DISTINCT date_bin('1 hour', bucket, $ORIGIN)) FROM stats_click_pre WHERE tenant_id = $T AND fresh")"
# ON CONFLICT DO NOTHING meeting 10 stored clicks: only the 5 new ones count.
ins "$(rows 15 65 "${D}T13:06:45Z" "$L3" 7)" "ON CONFLICT DO NOTHING"
# A statement rolled back leaves no summary either.
psql -X -q "$PGURI" >/dev/null 2>&1 <<EOF
BEGIN;
INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint, billable)
  SELECT 'pre-$T-rb', '${D}T01:05:00Z', $T, id, offer_id, affiliate_id, 'x', true FROM links WHERE id = $L1;
ROLLBACK;
EOF
eq "raw clicks stored" 80 "$(sqlv "SELECT count(*) FROM clicks WHERE tenant_id = $T")"
eq "summaries: the same 80" 80 "$(sqlv "SELECT sum(clicks) FROM stats_click_pre WHERE tenant_id = $T")"
# Single clicks deleted and changed (nothing in AffTok does; a hand repair might).
sql "DELETE FROM clicks WHERE click_id = 'pre-$T-1'" >/dev/null
sql "UPDATE clicks SET billable = false, reason = 'fraud' WHERE click_id IN ('pre-$T-2', 'pre-$T-33')" >/dev/null

# conv CLICK STATUS REVENUE: a conversion 5 minutes after its click.
conv() {
	sqlv "INSERT INTO conversions (tenant_id, offer_id, affiliate_id, advertiser_id, link_id, click_id,
	        click_created_at, transaction_id, status, currency, payout_currency, payout, revenue, source, created_at)
	      SELECT c.tenant_id, c.offer_id, c.affiliate_id, $ADV, c.link_id, c.click_id, c.created_at, 'tx-' || c.click_id,
	        '$2', 'USD', 'USD', 1, $3, 'postback', c.created_at + interval '5 minutes'
	      FROM clicks c WHERE c.click_id = 'pre-$T-$1' RETURNING id"
}
v1=$(conv 3 approved 10.00)
v2=$(conv 31 approved 5.50)
v3=$(conv 51 pending 2.00)
check "conversions stored" test -n "$v1" -a -n "$v2" -a -n "$v3"

ctl aggregate >/dev/null 2>&1
eq "aggregate exits 0" 0 "$?"
same "first run"
eq "the deleted click is gone from the rollups" 79 "$(sqlv "SELECT sum(clicks) FROM stats_clicks_q WHERE tenant_id = $T")"
eq "the changed clicks are invalid by their new reason" 2 \
	"$(sqlv "SELECT sum(clicks) FROM stats_invalid_q WHERE tenant_id = $T AND reason = 'fraud'")"

# A reversal (approved -> rejected), seen through the conversions' watermark.
sql "UPDATE conversions SET status = 'rejected', updated_at = now() WHERE id = $v2" >/dev/null
ctl aggregate >/dev/null 2>&1
same "after the reversal"

# A late click for 01:00, an hour rolled up already: only that hour has
# fresh summary rows, and the rerun adds the click to what was there.
ins "$(rows 1 200 "${D}T01:50:00Z" "$L1" 1)"
eq "the late click marks its hour only" "${D} 01:00:00+00" \
	"$(sqlv "SELECT DISTINCT to_char(date_bin('1 hour', bucket, $ORIGIN) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS+00')
	   FROM stats_click_pre WHERE fresh")"
ctl aggregate >/dev/null 2>&1
same "after a late click"

# A click committed while a run is going: that run does not see it (its
# DELETE ... RETURNING takes only committed rows), the next one counts it.
psql -X -q "$PGURI" >/dev/null 2>&1 <<EOF &
BEGIN;
INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint, billable, country)
  SELECT 'pre-$T-slow', '${D}T01:20:00Z', $T, id, offer_id, affiliate_id, 'slow', true, 'US' FROM links WHERE id = $L1;
SELECT pg_sleep(6);
COMMIT;
EOF
slow=$!
sleep 1
ins "$(rows 3 300 "${D}T01:20:00Z" "$L1" 1)"
ctl aggregate >/dev/null 2>&1
eq "a run during an open insert counts only committed clicks" \
	"$(sqlv "SELECT count(*) FROM clicks WHERE tenant_id = $T") f" \
	"$(sqlv "SELECT sum(clicks) FROM stats_clicks_q WHERE tenant_id = $T") $(sqlv "SELECT count(*) > 0 FROM clicks WHERE click_id = 'pre-$T-slow'")"
wait "$slow"
eq "the slow click is stored" 1 "$(sqlv "SELECT count(*) FROM clicks WHERE click_id = 'pre-$T-slow'")"
ctl aggregate >/dev/null 2>&1
same "after a click committed during a run"

# --rebuild of the day from raw clicks: the same figures, and the hours'
# summary rows reset to what it read (damaged here by hand to show it).
sql "UPDATE stats_click_pre SET clicks = clicks + 100 WHERE tenant_id = $T AND bucket >= '${D}T13:00:00Z'" >/dev/null
ctl aggregate --rebuild "$D" >/dev/null 2>&1
eq "rebuild exits 0" 0 "$?"
same "after --rebuild $D"
ctl aggregate >/dev/null 2>&1
same "after a run following the rebuild"

# A rebuild while a click is being inserted: the click's summary stays for
# the next incremental run (one snapshot for the raw read and the DELETE).
psql -X -q "$PGURI" >/dev/null 2>&1 <<EOF &
BEGIN;
INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint, billable, device)
  SELECT 'pre-$T-slow2', '${D}T13:40:00Z', $T, id, offer_id, affiliate_id, 'slow2', true, 'tablet' FROM links WHERE id = $L3;
SELECT pg_sleep(6);
COMMIT;
EOF
slow=$!
sleep 1
ctl aggregate --rebuild "$D" >/dev/null 2>&1
eq "the rebuild ran while the click was not committed" f "$(sqlv "SELECT count(*) > 0 FROM clicks WHERE click_id = 'pre-$T-slow2'")"
wait "$slow"
eq "a click committed during a rebuild is fresh afterwards" 1 \
	"$(sqlv "SELECT sum(clicks) FROM stats_click_pre WHERE tenant_id = $T AND fresh")"
ctl aggregate >/dev/null 2>&1
same "after a click committed during a rebuild"

# Past retention the partitions job drops a day's clicks and, in the same
# transaction, its summary rows (nothing else could roll them up again).
keep=$(sed -n 's/^retention_days *= *//p' "$CONF" | tail -n 1)
old=$(date -u -d "${keep:-90} days ago - 2 days" +%F)
oldp=clicks_$(echo "$old" | tr -d -)
sql "CREATE TABLE IF NOT EXISTS $oldp PARTITION OF clicks FOR VALUES FROM ('$old 00:00:00+00') TO ('$(date -u -d "$old + 1 day" +%F) 00:00:00+00')" >/dev/null 2>&1
ins "$(rows 2 400 "${old}T10:00:00Z" "$L1" 60)"
eq "summary rows for the old day" 2 "$(sqlv "SELECT sum(clicks) FROM stats_click_pre WHERE tenant_id = $T AND bucket < '$old'::date + 1")"
ctl partitions >/dev/null 2>&1
eq "partitions: the old day's clicks and summary rows dropped" " 0" \
	"$(sqlv "SELECT to_regclass('$oldp')") $(sqlv "SELECT count(*) FROM stats_click_pre WHERE tenant_id = $T AND bucket < '$old'::date + 1")"
eq "partitions: later summary rows kept" "$(sqlv "SELECT count(*) FROM clicks WHERE tenant_id = $T")" \
	"$(sqlv "SELECT sum(clicks) FROM stats_click_pre WHERE tenant_id = $T")"
done_testing
