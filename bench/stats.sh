#!/usr/bin/env bash
# bench/stats.sh: the stats benchmark of bench/README.
#
#   scripts/local up            (or AFFTOK_RUN_DIR=... of a running stack)
#   bench/stats.sh              10 M clicks + 200 k conversions, 30 days
#   BENCH_CLICKS=1000000 BENCH_HOUR_CLICKS=360000 bench/stats.sh   smaller
#
# 1. Generates BENCH_CLICKS clicks over the 30 days before today across 100
#    offers (10 advertisers) and 1,000 affiliates (5,000 links), 10
#    countries, 3 devices, 20 sub1 values, 5 % invalid; one conversion per
#    50 clicks (80 % approved, 15 % pending, 5 % rejected), with SQL, into a
#    tenant of its own.
# 2. Times the first `afftokctl aggregate` over all of it.
# 3. Times GET /api/stats for 30 days grouped by day,offer (and a few other
#    shapes) BENCH_REQUESTS times each, sequentially: p50/p95/max.
# 4. Puts BENCH_HOUR_CLICKS clicks into one hour of today and times the
#    incremental run that rolls that hour up: the rate in clicks/s.
# The bench tenant's data stays (drop with BENCH_CLEAN=1), and its tenant
# and key are kept in $RUN/bench-stats.env: BENCH_REUSE=1 skips steps 1-2
# and measures again on the same data (after a code change or a migration).
# BENCH_HOUR_CLICKS=0 skips step 4. Every figure is printed with the
# machine's load average at the time (the machine is shared).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
RUN=${AFFTOK_RUN_DIR:-$top/run}
. "$RUN/stack.env"
BUILD=${AFFTOK_BUILD_DIR:-$top/build}
CLICKS=${BENCH_CLICKS:-10000000}
HOUR_CLICKS=${BENCH_HOUR_CLICKS:-3600000}
REQUESTS=${BENCH_REQUESTS:-100}
DAYS=30
psql_() { psql -X -q -tA -v ON_ERROR_STOP=1 "$PGURI" "$@"; }
ctl() { "$BUILD/afftokctl" -c "$AFFTOK_CONF" "$@"; }
now_ms() { date +%s%3N; }
say() { printf '%s\n' "$*" >&2; }
load() { printf '(load %s)' "$(cut -d' ' -f1 /proc/loadavg)"; }
saved=$RUN/bench-stats.env

if [ "${BENCH_REUSE:-}" = 1 ] && [ -f "$saved" ]; then
	. "$saved"
	say "reusing tenant $T: $(psql_ -c "SELECT count(*) FROM clicks WHERE tenant_id = $T") clicks"
else
eval "$(ctl create-tenant "bench-$(date +%s)" | sed 's/^/B_/')"
T=$B_AFFTOK_TENANT_ID KEY=$B_AFFTOK_ADMIN_KEY
printf 'T=%s\nKEY=%s\n' "$T" "$KEY" >"$saved"
say "tenant $T; $CLICKS clicks over $DAYS days"

psql_ <<EOF
INSERT INTO advertisers (tenant_id, name) SELECT $T, 'adv' || g FROM generate_series(1, 10) g;
INSERT INTO affiliates (tenant_id, name) SELECT $T, 'aff' || g FROM generate_series(1, 1000) g;
INSERT INTO offers (tenant_id, advertiser_id, name, url, revenue_value, payout_value)
  SELECT $T, a.id, 'offer' || g, 'https://example.com/?c={click_id}', 10, 7.5
  FROM generate_series(1, 100) g
  JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM advertisers WHERE tenant_id = $T) a ON a.n = 1 + g % 10;
-- Each affiliate promotes 5 offers.
INSERT INTO links (tenant_id, offer_id, affiliate_id, code)
  SELECT $T, o.id, f.id, 'b$T-' || f.n || '-' || k
  FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM affiliates WHERE tenant_id = $T) f
  CROSS JOIN generate_series(0, 4) k
  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM offers WHERE tenant_id = $T) o
    ON o.n = (f.n * 7 + k * 13) % 100;
EOF
# Links numbered 0..4999 for the generator.
psql_ -c "DROP TABLE IF EXISTS bench_links; CREATE TABLE bench_links AS
  SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, offer_id, affiliate_id FROM links WHERE tenant_id = $T;
  CREATE UNIQUE INDEX ON bench_links (n)"

# One day at a time, in time order (as clicks arrive), partitions first.
per_day=$((CLICKS / DAYS))
t0=$(now_ms)
for d in $(seq "$DAYS" -1 1); do
	day=$(date -u -d "-$d day" +%F)
	psql_ -c "CREATE TABLE IF NOT EXISTS clicks_$(date -u -d "$day" +%Y%m%d) PARTITION OF clicks
	  FOR VALUES FROM ('$day 00:00:00+00') TO ('$(date -u -d "$day +1 day" +%F) 00:00:00+00')" 2>/dev/null || true
	psql_ <<EOF
INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint,
                    billable, is_unique, reason, country, device, sub1)
SELECT 'b$T-$d-' || g, '$day 00:00:00+00'::timestamptz + (g::float8 * 86400 / $per_day) * interval '1 second',
       $T, l.id, l.offer_id, l.affiliate_id, md5(g::text),
       g % 20 <> 0, g % 10 <> 0, CASE WHEN g % 20 = 0 THEN 'bot' END,
       (ARRAY['US','DE','FR','GB','IN','BR','JP','CA','AU','ES'])[1 + (g * 31) % 10],
       (ARRAY['desktop','mobile','tablet'])[1 + (g * 17) % 3],
       's' || ((g * 7) % 20)
FROM generate_series(0, $per_day - 1) g
JOIN bench_links l ON l.n = (g::bigint * 7919) % 5000;
INSERT INTO conversions (tenant_id, offer_id, affiliate_id, advertiser_id, link_id, click_id, click_created_at,
                         transaction_id, status, currency, payout_currency, payout, revenue, source, created_at)
SELECT c.tenant_id, c.offer_id, c.affiliate_id, o.advertiser_id, c.link_id, c.click_id, c.created_at, c.click_id,
       CASE WHEN n % 20 = 0 THEN 'rejected' WHEN n % 20 < 4 THEN 'pending' ELSE 'approved' END,
       'USD', 'USD', 7.5, 10, 'postback', c.created_at + interval '10 minutes'
FROM (SELECT *, split_part(click_id, '-', 3)::bigint / 50 AS n FROM clicks
      WHERE tenant_id = $T AND created_at >= '$day 00:00:00+00' AND created_at < '$day 00:00:00+00'::timestamptz + interval '1 day'
        AND billable AND split_part(click_id, '-', 3)::bigint % 50 = 1) c
JOIN offers o ON o.id = c.offer_id;
EOF
	say "  $day done ($(( ($(now_ms) - t0) / 1000 )) s)"
done
gen_s=$(( ($(now_ms) - t0) / 1000 ))
psql_ -c "ANALYZE clicks; ANALYZE conversions"
nclicks=$(psql_ -c "SELECT count(*) FROM clicks WHERE tenant_id = $T")
nconv=$(psql_ -c "SELECT count(*) FROM conversions WHERE tenant_id = $T")
say "generated $nclicks clicks and $nconv conversions in $gen_s s $(load)"

t0=$(now_ms)
ctl aggregate
agg_ms=$(( $(now_ms) - t0 ))
say "first aggregate: $agg_ms ms $(load)"
fi
psql_ -c "ANALYZE stats_clicks_q; ANALYZE stats_conv_q; ANALYZE stats_oa_h; ANALYZE stats_o_h;
  ANALYZE stats_o_d; ANALYZE stats_oa_d; ANALYZE stats_base_d; ANALYZE stats_invalid_d; ANALYZE stats_invalid_o_d"
rows=$(psql_ -c "SELECT (SELECT count(*) FROM stats_clicks_q WHERE tenant_id = $T) || ' base click rows, ' ||
  (SELECT count(*) FROM stats_conv_q WHERE tenant_id = $T) || ' base conversion rows, ' ||
  (SELECT count(*) FROM stats_oa_h WHERE tenant_id = $T) || ' offer x affiliate hours, ' ||
  (SELECT count(*) FROM stats_o_h WHERE tenant_id = $T) || ' offer hours, ' ||
  (SELECT count(*) FROM stats_base_d WHERE tenant_id = $T) || ' daily base rows, ' ||
  (SELECT count(*) FROM stats_oa_d WHERE tenant_id = $T) || ' offer x affiliate days, ' ||
  (SELECT count(*) FROM stats_o_d WHERE tenant_id = $T) || ' offer days'")
say "rollups: $rows"

from=$(date -u -d "-$DAYS day" +%F)
to=$(date -u -d "-1 day" +%F)
# latency QUERY: REQUESTS sequential requests; prints p50 p95 max in ms.
latency() {
	local q=$1 i
	for i in $(seq "$REQUESTS"); do
		curl -s -o /dev/null -w '%{time_total}\n' -H "X-API-Key: $KEY" "$AFFTOK_URL/api/stats?$q"
	done | sort -n | awk '{ a[NR] = $1 * 1000 } END {
		printf "p50 %.1f ms  p95 %.1f ms  max %.1f ms\n", a[int(NR * 0.5 + 0.5)], a[int(NR * 0.95 + 0.5)], a[NR] }'
}
check=$(curl -s -H "X-API-Key: $KEY" "$AFFTOK_URL/api/stats?from=$from&to=$to&group_by=day,offer" |
	python3 -c "import json,sys; d=json.load(sys.stdin); print(len(d['rows']), 'rows,', d['totals']['clicks'], 'clicks,', d['totals']['conversions'], 'conversions')")
say "30 days by day,offer: $check"
for q in ${BENCH_SHAPES:-"group_by=day,offer" "group_by=day" "group_by=offer,affiliate" "group_by=day,country" \
	"group_by=day,offer&tz=America/New_York" "group_by=day,offer&tz=Asia/Kolkata" \
	"group_by=offer,affiliate&tz=Asia/Kolkata" "group_by=country,device&tz=America/New_York" \
	"group_by=day,offer&format=csv"}; do
	rollup=$(curl -s -o /dev/null -D - -H "X-API-Key: $KEY" "$AFFTOK_URL/api/stats?from=$from&to=$to&$q" |
		tr -d '\r' | sed -n 's/^X-Stats-Rollup: //p')
	printf '%-42s %s  [%s] %s\n' "$q" "$(latency "from=$from&to=$to&$q")" "$rollup" "$(load)"
done
[ "$HOUR_CLICKS" -gt 0 ] || exit 0

# One hour of traffic: HOUR_CLICKS clicks in the hour before the current one.
hour=$(date -u -d '-1 hour' +'%F %H:00:00+00')
psql_ -c "SELECT afftok_ensure_partitions('clicks', 1)" >/dev/null
ctl aggregate >/dev/null
t0=$(now_ms)
psql_ <<EOF
INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint,
                    billable, is_unique, reason, country, device, sub1)
SELECT 'h$T-$(date +%s)-' || g, '$hour'::timestamptz + (g::float8 * 3600 / $HOUR_CLICKS) * interval '1 second',
       $T, l.id, l.offer_id, l.affiliate_id, md5(g::text), g % 20 <> 0, g % 10 <> 0,
       CASE WHEN g % 20 = 0 THEN 'bot' END,
       (ARRAY['US','DE','FR','GB','IN','BR','JP','CA','AU','ES'])[1 + (g * 31) % 10],
       (ARRAY['desktop','mobile','tablet'])[1 + (g * 17) % 3], 's' || ((g * 7) % 20)
FROM generate_series(0, $HOUR_CLICKS - 1) g JOIN bench_links l ON l.n = (g::bigint * 7919) % 5000;
EOF
ins_ms=$(( $(now_ms) - t0 ))
t0=$(now_ms)
ctl -v aggregate
hour_ms=$(( $(now_ms) - t0 ))
say "one hour of $HOUR_CLICKS clicks: inserted in $ins_ms ms, rolled up in $hour_ms ms ($(( HOUR_CLICKS * 1000 / (hour_ms > 0 ? hour_ms : 1) )) clicks/s) $(load)"

if [ "${BENCH_CLEAN:-}" = 1 ]; then
	psql_ -c "DELETE FROM clicks WHERE tenant_id = $T; DELETE FROM conversions WHERE tenant_id = $T;
	  DELETE FROM stats_clicks_q WHERE tenant_id = $T; DELETE FROM stats_conv_q WHERE tenant_id = $T;
	  DELETE FROM stats_invalid_q WHERE tenant_id = $T; DELETE FROM stats_oa_h WHERE tenant_id = $T;
	  DELETE FROM stats_o_h WHERE tenant_id = $T; DELETE FROM stats_oa_q WHERE tenant_id = $T;
	  DELETE FROM stats_o_q WHERE tenant_id = $T; DELETE FROM stats_o_d WHERE tenant_id = $T;
	  DELETE FROM stats_oa_d WHERE tenant_id = $T; DELETE FROM stats_base_d WHERE tenant_id = $T;
	  DELETE FROM stats_invalid_d WHERE tenant_id = $T; DELETE FROM stats_invalid_o_d WHERE tenant_id = $T"
	rm -f "$saved"
fi
