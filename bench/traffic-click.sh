#!/usr/bin/env bash
# bench/traffic-click.sh: the click path with every traffic-quality check
# on, against the bare FastCGI baseline (bench/baseline-fcgi.c), under the
# same wrk load (-t2 -c64, BENCH_DURATION s) through the same nginx and pool
# size. See bench/README.
#
#   scripts/local up        (or AFFTOK_RUN_DIR=... AFFTOK_BUILD_DIR=... of a running stack)
#   bench/traffic-click.sh
#
# Rounds: baseline; afftok-plain (a link whose offer has no rules, route or
# cap: still geo lookup, device parse, bot classification, activity
# counter); afftok-all (the same with a tenant and an offer geo rule, a
# 70/30 route and a daily click cap, so the cap counters sync to Redis).
# Every request comes from a random address (bench/traffic-click.lua).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export AFFTOK_RUN_DIR=${AFFTOK_RUN_DIR:-$top/run}
. "$AFFTOK_RUN_DIR/stack.env"
export AFFTOK_PORT=${AFFTOK_URL##*:}
. "$top/scripts/lib.sh"
DURATION=${BENCH_DURATION:-10}
W=$RUN/bench-traffic
mkdir -p "$W"
ctl() { "$BUILD/afftokctl" -c "$CONF" "$@"; }
psql_() { psql -X -q -tA -v ON_ERROR_STOP=1 "$PGURI" -c "$1"; }

cc -O2 -o "$W/baseline-fcgi" "$top/bench/baseline-fcgi.c" -lfcgi

T=$(psql_ "INSERT INTO tenants (name, link_secret_enc) SELECT 'traffic bench', link_secret_enc FROM tenants
  WHERE id = $AFFTOK_TENANT_ID RETURNING id" | head -n 1)
ADV=$(psql_ "INSERT INTO advertisers (tenant_id, name) VALUES ($T, 'bench adv') RETURNING id" | head -n 1)
AFF=$(psql_ "INSERT INTO affiliates (tenant_id, name) VALUES ($T, 'bench aff') RETURNING id" | head -n 1)
offer() {
	psql_ "INSERT INTO offers (tenant_id, advertiser_id, name, url, fallback_url $2) VALUES ($T, $ADV, '$1',
	  'https://adv.example/lp?click_id={click_id}&c={country}&d={device}', 'https://adv.example/sorry' $3) RETURNING id" | head -n 1
}
link() {
	local code=tb$1$(date +%s)
	psql_ "INSERT INTO links (tenant_id, offer_id, affiliate_id, code) VALUES ($T, $2, $AFF, '$code')" >/dev/null
	echo "$code"
}
PLAIN=$(offer plain "" "")
ALL=$(offer all ", cap_daily_clicks" ", 1000000000")
CPLAIN=$(link p "$PLAIN")
CALL=$(link a "$ALL")
psql_ "INSERT INTO geo_rules (tenant_id, scope, mode, countries) VALUES ($T, 'tenant', 'block', '{KP,IR}')" >/dev/null
psql_ "INSERT INTO geo_rules (tenant_id, scope, scope_id, mode, countries) VALUES ($T, 'offer', $ALL, 'block', '{RU,CN,BY}')" >/dev/null
psql_ "INSERT INTO routes (tenant_id, offer_id, destinations) VALUES ($T, $ALL,
  '[{\"name\":\"A\",\"url\":\"https://a.example/?c={click_id}\",\"weight\":70},
    {\"name\":\"B\",\"url\":\"https://b.example/?c={click_id}\",\"weight\":30},
    {\"name\":\"M\",\"url\":\"https://m.example/?c={click_id}\",\"weight\":50,\"devices\":[\"mobile\"]}]')" >/dev/null

AFFTOK_CLICK_RATE=100000000r/s nginx_up
trap 'nginx_up; pool_afftok' EXIT

. "$top/bench/pool.sh"
# run NAME PATTERN URL
run() {
	local c0 c1 n rps p99 non
	c0=$(ticks "$2")
	wrk -t2 -c64 -d"${DURATION}s" --latency -s "$top/bench/traffic-click.lua" -H "Accept-Language: en" \
		-H "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" \
		"$3" >"$W/$1.txt" 2>&1
	c1=$(ticks "$2")
	n=$(awk '/requests in/ {print $1}' "$W/$1.txt")
	rps=$(awk '/^Requests\/sec/ {print $2}' "$W/$1.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$W/$1.txt")
	non=$(awk '/Non-2xx or 3xx/ {print $NF}' "$W/$1.txt")
	printf '%-14s %10s req/s   p99 %-8s  pool CPU %4s us/request %s\n' "$1" "$rps" "$p99" \
		"$(((c1 - c0) * 1000000 / $(getconf CLK_TCK) / (n > 0 ? n : 1)))" "${non:+non-3xx: $non}"
	echo "$rps" >"$W/$1.rps"
}

ctl ingest --once >/dev/null 2>&1 || true
pool_baseline
curl -s -o /dev/null "$AFFTOK_URL/c/$CPLAIN"
run baseline "^$W/baseline-fcgi" "$AFFTOK_URL/c/$CPLAIN"
pool_afftok
for _ in $(seq 40); do curl -s -o /dev/null "$AFFTOK_URL/c/$CPLAIN"; curl -s -o /dev/null "$AFFTOK_URL/c/$CALL"; done
run afftok-plain "^$BUILD/afftok-fcgi -c $CONF" "$AFFTOK_URL/c/$CPLAIN"
run afftok-all "^$BUILD/afftok-fcgi -c $CONF" "$AFFTOK_URL/c/$CALL"
for r in plain all; do
	echo "afftok-$r / baseline: $(awk -v a="$(cat "$W/afftok-$r.rps")" -v b="$(cat "$W/baseline.rps")" 'BEGIN {printf "%.0f %%", 100 * a / b}')"
done
ctl -v ingest --once 2>&1 | grep -o 'ingested.*' || true
psql_ "SELECT 'afftok-all clicks by outcome: ' || string_agg(k || ' ' || n, ', ' ORDER BY n DESC) FROM (
  SELECT coalesce(reason, route_dest, 'billable') k, count(*) n FROM clicks WHERE offer_id = $ALL GROUP BY 1) x"
