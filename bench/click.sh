#!/usr/bin/env bash
# bench/click.sh: the click benchmark of bench/README.
#
#   scripts/local up        (or AFFTOK_RUN_DIR=... AFFTOK_BUILD_DIR=... of a running stack)
#   bench/click.sh          2 rounds x (baseline, AffTok), BENCH_DURATION (10) s each
#
# Same nginx, same socket, same pool (spawn-fcgi + multiwatch, the
# stack's pool size), same wrk load (-t2 -c64, one signed-link URL):
#   baseline  bench/baseline-fcgi.c, a FastCGI program that only answers the
#             302 (same headers as AffTok's), built here;
#   afftok    the real pool: token verified (HMAC), cache warm, click id,
#             macros, the journal record written with fsync every 100 ms.
# Then: worker RSS, and `afftokctl ingest --once` over the journal the
# AffTok rounds left (COPY, replay/duplicate rules, insert, Redis stream).
# nginx's click rate limit is lifted for the run and put back afterwards.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export AFFTOK_RUN_DIR=${AFFTOK_RUN_DIR:-$top/run}
. "$AFFTOK_RUN_DIR/stack.env"
export AFFTOK_PORT=${AFFTOK_URL##*:}
. "$top/scripts/lib.sh"
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-2}
W=$RUN/bench-click
mkdir -p "$W"
ctl() { "$BUILD/afftokctl" -c "$CONF" "$@"; }
psql_() { psql -X -q -tA -v ON_ERROR_STOP=1 "$PGURI" -c "$1"; }

cc -O2 -o "$W/baseline-fcgi" "$top/bench/baseline-fcgi.c" -lfcgi

T=$AFFTOK_TENANT_ID
ADV=$(psql_ "INSERT INTO advertisers (tenant_id, name) VALUES ($T, 'bench adv') RETURNING id" | head -n 1)
AFF=$(psql_ "INSERT INTO affiliates (tenant_id, name) VALUES ($T, 'bench aff') RETURNING id" | head -n 1)
OFF=$(psql_ "INSERT INTO offers (tenant_id, advertiser_id, name, url) VALUES ($T, $ADV, 'bench offer',
  'https://adv.example/lp?click_id={click_id}&sub1={sub1}&o={offer_id}') RETURNING id" | head -n 1)
CODE=bench$(date +%s)
psql_ "INSERT INTO links (tenant_id, offer_id, affiliate_id, code) VALUES ($T, $OFF, $AFF, '$CODE')" >/dev/null
TOKEN=$(ctl sign "$CODE" --ttl 86400)
URL="$AFFTOK_URL/c/$TOKEN?sub1=bench"

AFFTOK_CLICK_RATE=100000000r/s nginx_up
trap 'nginx_up; pool_afftok' EXIT

. "$top/bench/pool.sh"
# run NAME PATTERN: one wrk run; prints req/s, p99 and the pool's CPU time
# per request (the part of the cost that is the program's own, and the
# figure least disturbed by other load on a shared machine).
run() {
	local c0 c1 n
	c0=$(ticks "$2")
	wrk -t2 -c64 -d"${DURATION}s" --latency -H "Accept-Language: en" \
		-H "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" \
		"$URL" >"$W/$1.txt" 2>&1
	c1=$(ticks "$2")
	n=$(awk '/requests in/ {print $1}' "$W/$1.txt")
	local rps p99 non
	rps=$(awk '/^Requests\/sec/ {print $2}' "$W/$1.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$W/$1.txt")
	non=$(awk '/Non-2xx or 3xx/ {print $NF}' "$W/$1.txt")
	printf '%-12s %10s req/s   p99 %-8s  pool CPU %4s us/request %s\n' "$1" "$rps" "$p99" \
		"$(( (c1 - c0) * 1000000 / $(getconf CLK_TCK) / (n > 0 ? n : 1) ))" "${non:+non-3xx: $non}"
}

ctl ingest --once >/dev/null 2>&1 || true # start from an empty journal
# The rounds run with the journal's ingest lock held, so the stack's cron
# ingest (which would take the journal as it fills and compete for the two
# cores during the AffTok rounds only) leaves it alone; its cost is measured
# after the rounds, below, and by bench/ingest.sh.
exec 9>"$RUN/journal/.ingest.lock"
flock 9
for r in $(seq "$ROUNDS"); do
	pool_baseline
	curl -s -o /dev/null "$URL"
	run "baseline-$r" "^$W/baseline-fcgi"
	pool_afftok
	for _ in $(seq 40); do curl -s -o /dev/null "$URL"; done # every worker's cache warm
	run "afftok-$r" "^$BUILD/afftok-fcgi -c $CONF"
	rss=$(ps -o rss= -p "$(pgrep -d, -f "^$BUILD/afftok-fcgi -c $CONF")" | sort -n | tail -n 1)
	echo "afftok-$r worker RSS (largest): $((rss / 1024)) MB"
done
flock -u 9
exec 9>&-
n=$(ls "$RUN"/journal | grep -cE '\.(jnl|rdy)$' || true)
bytes=$(cat "$RUN"/journal/*.jnl "$RUN"/journal/*.rdy 2>/dev/null | wc -c || true)
echo "journal: $n segments, $((bytes / 1048576)) MB"
# Ingest: wall time, and CPU time of everything it uses (afftokctl, this
# stack's PostgreSQL processes, Redis), which says what an idle machine
# would do better than the wall time on a shared one.
pm=$(head -n 1 "$PGDATA/postmaster.pid")
# Backends exit with the job, so their CPU time is sampled while it runs
# (the last sample of each process counts).
sample() { local p; for p in "$pm" $(pgrep -P "$pm") "$(cat "$RUN/redis.pid")"; do
	awk -v p="$p" '{print p, $14 + $15}' "/proc/$p/stat" 2>/dev/null || true; done; }
sample >"$W/cpu0"
TIMEFORMAT='%3U %3S'
{ time ctl -v ingest --once >"$W/ingest.log" 2>&1; } 2>"$W/ingest.time" &
job=$!
: >"$W/cpu1"
while kill -0 "$job" 2>/dev/null; do sample >>"$W/cpu1"; sleep 0.1; done
wait "$job" || true
sample >>"$W/cpu1"
side=$(awk 'NR == FNR {t0[$1] = $2; next} {last[$1] = $2} END {for (p in last) s += last[p] - t0[p]; print s}' "$W/cpu0" "$W/cpu1")
line=$(grep -o 'ingested [0-9]* clicks in [0-9]* ms' "$W/ingest.log" || true)
rows=$(awk '{print $2}' <<<"$line"); ms=$(awk '{print $5}' <<<"$line")
read -r cu cs <"$W/ingest.time"
cpu=$(awk -v u="$cu" -v s="$cs" -v t="$side" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", u + s + t / hz}')
echo "ingest: ${rows:-0} clicks in ${ms:-0} ms wall = $(( ${rows:-0} * 1000 / (${ms:-1} > 0 ? ${ms:-1} : 1) ))/s;" \
	"CPU (afftokctl $cu + $cs s, PostgreSQL and Redis $(awk -v t="$side" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}') s) = $cpu s:" \
	"$(awk -v r="${rows:-0}" -v c="$cpu" 'BEGIN {printf "%d", (c > 0 ? r / c : 0)}') clicks per CPU-second"
