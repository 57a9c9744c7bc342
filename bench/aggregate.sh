#!/usr/bin/env bash
# bench/aggregate.sh: the hourly aggregation benchmark of bench/README
# ("Stats", the paragraph on sql/090): one hour of 10,000 clicks/s.
#
#   AFFTOK_NO_CRON=1 scripts/local up     (no cron loop rolling the hour up meanwhile)
#   bench/aggregate.sh                    36 M clicks into one hour
#   BENCH_HOUR_CLICKS=3600000 bench/aggregate.sh    a tenth of it
#
# 1. A tenant of its own with 100 offers, 1,000 affiliates, 5,000 links (the
#    shapes of bench/stats.sh: 10 countries, 3 devices, 20 sub1 values, 5 %
#    invalid, 10 % non-unique).
# 2. BENCH_HOUR_CLICKS clicks into the hour two hours back, in time order, in
#    statements of BENCH_BATCH (200,000: the ingest's batch), so the click
#    summaries (sql/090) get as many rows as the ingest would make.
#    BENCH_PAIRS times (spread over the load) one more batch is inserted
#    twice in rolled-back transactions, with the summary trigger disabled
#    and enabled: the trigger's cost per click. On a busy machine the
#    difference drowns in the insert's own spread (index pages of a big
#    partition), so a third rolled-back insert under EXPLAIN ANALYZE gives
#    the time spent in the trigger itself (not counting the capture of
#    the transition table, which is part of the insert).
# 3. Times `afftokctl aggregate` for the whole hour at once (a run that
#    finds the hour's 36 M clicks waiting), then one more batch (20 s of
#    traffic) and the run after it (what each minute's run costs).
# 4. BENCH_REBUILD=1: times `afftokctl aggregate --rebuild DAY` too (the
#    hour from raw clicks, as every run did before sql/090).
# The tenant's clicks and rollups are deleted at the end unless
# BENCH_KEEP=1 (36 M clicks take about 15 GB: check df first).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
RUN=${AFFTOK_RUN_DIR:-$top/run}
. "$RUN/stack.env"
BUILD=${AFFTOK_BUILD_DIR:-$top/build}
HOUR_CLICKS=${BENCH_HOUR_CLICKS:-36000000}
BATCH=${BENCH_BATCH:-200000}
PAIRS=${BENCH_PAIRS:-3}
psql_() { psql -X -q -tA -v ON_ERROR_STOP=1 "$PGURI" "$@"; }
ctl() { "$BUILD/afftokctl" -c "$AFFTOK_CONF" "$@"; }
now_ms() { date +%s%3N; }
say() { printf '%s\n' "$*" >&2; }
load() { printf '(load %s)' "$(cut -d' ' -f1 /proc/loadavg)"; }

say "free disk under $RUN: $(df -h --output=avail "$RUN" | tail -n 1 | tr -d ' ')"
eval "$(ctl create-tenant "bench-agg-$(date +%s)" | sed 's/^/B_/')"
T=$B_AFFTOK_TENANT_ID
psql_ <<EOF
INSERT INTO advertisers (tenant_id, name) SELECT $T, 'adv' || g FROM generate_series(1, 10) g;
INSERT INTO affiliates (tenant_id, name) SELECT $T, 'aff' || g FROM generate_series(1, 1000) g;
INSERT INTO offers (tenant_id, advertiser_id, name, url, revenue_value, payout_value)
  SELECT $T, a.id, 'offer' || g, 'https://example.com/?c={click_id}', 10, 7.5
  FROM generate_series(1, 100) g
  JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM advertisers WHERE tenant_id = $T) a ON a.n = 1 + g % 10;
INSERT INTO links (tenant_id, offer_id, affiliate_id, code)
  SELECT $T, o.id, f.id, 'g$T-' || f.n || '-' || k
  FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM affiliates WHERE tenant_id = $T) f
  CROSS JOIN generate_series(0, 4) k
  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM offers WHERE tenant_id = $T) o
    ON o.n = (f.n * 7 + k * 13) % 100;
DROP TABLE IF EXISTS bench_agg_links;
CREATE TABLE bench_agg_links AS
  SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, offer_id, affiliate_id FROM links WHERE tenant_id = $T;
CREATE UNIQUE INDEX ON bench_agg_links (n);
SELECT afftok_ensure_partitions('clicks', 1);
EOF
hour=$(date -u -d '-2 hour' +'%F %H:00:00+00')
day=$(date -u -d '-2 hour' +%F)
ctl aggregate >/dev/null 2>&1 # whatever was waiting, so the timed run is this hour's
say "tenant $T: $HOUR_CLICKS clicks into $hour in statements of $BATCH $(load)"

# batch FIRST COUNT: the INSERT of clicks FIRST .. FIRST+COUNT-1 of the hour.
batch() {
	cat <<EOF
INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint,
                    billable, is_unique, reason, country, device, sub1)
SELECT 'g$T-' || g, '$hour'::timestamptz + (g::float8 * 3600 / $HOUR_CLICKS) * interval '1 second',
       $T, l.id, l.offer_id, l.affiliate_id, md5(g::text), g % 20 <> 0, g % 10 <> 0,
       CASE WHEN g % 20 = 0 THEN 'bot' END,
       (ARRAY['US','DE','FR','GB','IN','BR','JP','CA','AU','ES'])[1 + (g * 31) % 10],
       (ARRAY['desktop','mobile','tablet'])[1 + (g * 17) % 3], 's' || ((g * 7) % 20)
FROM generate_series($1::bigint, $1::bigint + $2 - 1) g JOIN bench_agg_links l ON l.n = (g * 7919) % 5000;
EOF
}
# timed SQL: runs it, prints the milliseconds it took.
timed() {
	local t0
	t0=$(now_ms)
	psql_ -c "$1" >/dev/null
	echo $(($(now_ms) - t0))
}

nb=$(((HOUR_CLICKS + BATCH - 1) / BATCH))
ins_ms=0 with=0 without=0 in_trigger=0 pairs_done=0
t0=$(now_ms)
for ((i = 0; i < nb; i++)); do
	first=$((i * BATCH))
	n=$((HOUR_CLICKS - first < BATCH ? HOUR_CLICKS - first : BATCH))
	# The trigger's cost: the next batch twice, rolled back, without and
	# with the trigger, at PAIRS points spread over the load.
	if [ "$PAIRS" -gt 0 ] && [ $((i % ((nb + PAIRS - 1) / PAIRS))) = $((nb / PAIRS / 2)) ] && [ "$n" = "$BATCH" ]; then
		a=$(timed "BEGIN; ALTER TABLE clicks DISABLE TRIGGER clicks_pre_insert; $(batch "$first" "$n") ROLLBACK;")
		b=$(timed "BEGIN; $(batch "$first" "$n") ROLLBACK;")
		c=$(psql_ -c "BEGIN; EXPLAIN (ANALYZE, COSTS OFF) $(batch "$first" "$n") ROLLBACK;" |
			sed -n 's/^Trigger clicks_pre_insert .*time=\([0-9]*\).*/\1/p')
		without=$((without + a)) with=$((with + b)) in_trigger=$((in_trigger + ${c:-0})) pairs_done=$((pairs_done + 1))
		say "  batch $i: $n clicks without the trigger $a ms, with it $b ms (rolled back); in the trigger $c ms $(load)"
	fi
	ms=$(timed "$(batch "$first" "$n")")
	ins_ms=$((ins_ms + ms))
	[ $((i % 20)) = 0 ] && say "  batch $i/$nb: $ms ms; $(($(now_ms) - t0)) ms so far $(load)"
done
pre=$(psql_ -c "SELECT count(*) || ' summary rows (' || count(*) FILTER (WHERE fresh) || ' fresh) for ' || sum(clicks) || ' clicks'
  FROM stats_click_pre WHERE tenant_id = $T")
say "inserted $HOUR_CLICKS clicks in $nb statements: $ins_ms ms ($((HOUR_CLICKS * 1000 / (ins_ms > 0 ? ins_ms : 1))) clicks/s) $(load)"
say "  $pre"
if [ "$pairs_done" -gt 0 ]; then
	say "trigger: $pairs_done pairs of $BATCH clicks, without $((without / pairs_done)) ms, with $((with / pairs_done)) ms:" \
		"$(awk "BEGIN { printf \"%.2f\", ($with - $without) * 1000 / $pairs_done / $BATCH }") us per click;" \
		"in the trigger (EXPLAIN ANALYZE) $((in_trigger / pairs_done)) ms:" \
		"$(awk "BEGIN { printf \"%.2f\", $in_trigger * 1000 / $pairs_done / $BATCH }") us per click"
fi

t0=$(now_ms)
ctl -v aggregate
hour_ms=$(($(now_ms) - t0))
say "aggregate, the whole hour at once: $hour_ms ms for $HOUR_CLICKS clicks ($((HOUR_CLICKS * 1000 / (hour_ms > 0 ? hour_ms : 1))) clicks/s) $(load)"
say "  $(psql_ -c "SELECT count(*) || ' summary rows left for ' || sum(clicks) || ' clicks' FROM stats_click_pre WHERE tenant_id = $T")"
eq=$(psql_ -c "SELECT (SELECT sum(clicks) FROM stats_clicks_q WHERE tenant_id = $T) = $HOUR_CLICKS")
say "  rollups hold the $HOUR_CLICKS clicks: $eq"

# A minute's run in steady state: 20 s of traffic (one batch) since the last.
ms=$(timed "$(batch "$HOUR_CLICKS" "$BATCH")")
t0=$(now_ms)
ctl -v aggregate
say "one more batch ($BATCH clicks, inserted in $ms ms) and the run after it: $(($(now_ms) - t0)) ms $(load)"

if [ "${BENCH_REBUILD:-}" = 1 ]; then
	t0=$(now_ms)
	ctl -v aggregate --rebuild "$day"
	say "aggregate --rebuild $day (the hour from raw clicks): $(($(now_ms) - t0)) ms $(load)"
fi

if [ "${BENCH_KEEP:-}" != 1 ]; then
	# The summaries go with the clicks in one transaction, without the
	# delete trigger summing 36 M deleted rows.
	t0=$(now_ms)
	psql_ <<EOF
BEGIN;
ALTER TABLE clicks DISABLE TRIGGER clicks_pre_delete;
DELETE FROM clicks WHERE tenant_id = $T;
ALTER TABLE clicks ENABLE TRIGGER clicks_pre_delete;
DELETE FROM stats_click_pre WHERE tenant_id = $T;
DELETE FROM stats_clicks_q WHERE tenant_id = $T; DELETE FROM stats_invalid_q WHERE tenant_id = $T;
DELETE FROM stats_oa_q WHERE tenant_id = $T; DELETE FROM stats_o_q WHERE tenant_id = $T;
DELETE FROM stats_oa_h WHERE tenant_id = $T; DELETE FROM stats_o_h WHERE tenant_id = $T;
DELETE FROM stats_o_d WHERE tenant_id = $T; DELETE FROM stats_oa_d WHERE tenant_id = $T;
DELETE FROM stats_base_d WHERE tenant_id = $T; DELETE FROM stats_invalid_d WHERE tenant_id = $T;
DELETE FROM stats_invalid_o_d WHERE tenant_id = $T;
COMMIT;
VACUUM clicks;
EOF
	say "bench data deleted in $(($(now_ms) - t0)) ms"
fi
