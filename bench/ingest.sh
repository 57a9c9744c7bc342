#!/usr/bin/env bash
# bench/ingest.sh: `afftokctl ingest` alone, from journal to PostgreSQL.
#
#   scripts/local up        (or AFFTOK_RUN_DIR=... AFFTOK_BUILD_DIR=... of a running stack)
#   bench/ingest.sh         BENCH_CLICKS (200000) clicks, BENCH_LINKS (20) links,
#                           BENCH_SIGNED (100): percent of clicks through signed links
#                           BENCH_CTL: another afftokctl to time (A/B against an older build)
#                           BENCH_WARM=1: steady state, as under cron (below)
#                           BENCH_BEFORE_MS: the clicks that much further back
#                           (say into yesterday's partition, to compare a small
#                           day partition with today's in the same hour), or
#                           when negative, after now: past every click stored,
#                           as a live ingest meets them, where runs a minute
#                           apart would otherwise overlap (bench/README)
#                           BENCH_PERF=FILE: `perf record -a -g` of the timed run into FILE
#
# bench/ingest-gen (built here, linked to libafftok) writes the clicks with
# the click path's own code (click_process, click_record, journal_append)
# into a journal directory of the benchmark's own (so the stack's cron
# ingest leaves it alone), as 4 workers would: signed links, ~1 % replayed
# nonces, ~2 % repeated visitors. Then `afftokctl ingest --once` loads it
# with a copy of the stack's configuration pointing there. Reported: wall
# time and clicks/s, and CPU time of afftokctl plus everything PostgreSQL
# and Redis spent meanwhile (backends that were already connected before
# the run, i.e. the stack's workers and jobs, are left out), the load
# average, and a check that every click is in `clicks` exactly once.
# A run starts by loading the duplicate window from `clicks` (the stored
# clicks from 60 s before its first one on), unless the run before left its
# window file, as the cron job's runs do one after another: BENCH_WARM=1
# first ingests 20,000 clicks of the 10 s before the timed ones, untimed,
# so the timed run starts from that file like the next minute's cron run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export AFFTOK_RUN_DIR=${AFFTOK_RUN_DIR:-$top/run}
. "$AFFTOK_RUN_DIR/stack.env"
export AFFTOK_PORT=${AFFTOK_URL##*:}
. "$top/scripts/lib.sh"
N=${BENCH_CLICKS:-200000}
NLINKS=${BENCH_LINKS:-20}
BEFORE=${BENCH_BEFORE_MS:-0}
W=$RUN/bench-ingest
rm -rf "$W"
mkdir -p "$W/journal"
psql_() { psql -X -q -tA -v ON_ERROR_STOP=1 "$PGURI" -c "$1"; }

make -s -C "$BUILD" bench/ingest-gen >/dev/null

T=$AFFTOK_TENANT_ID
ADV=$(psql_ "INSERT INTO advertisers (tenant_id, name) VALUES ($T, 'bench adv') RETURNING id" | head -n 1)
AFF=$(psql_ "INSERT INTO affiliates (tenant_id, name) VALUES ($T, 'bench aff') RETURNING id" | head -n 1)
OFF=$(psql_ "INSERT INTO offers (tenant_id, advertiser_id, name, url) VALUES ($T, $ADV, 'bench offer',
  'https://adv.example/lp?click_id={click_id}') RETURNING id" | head -n 1)
links=
for i in $(seq "$NLINKS"); do
	id=$(psql_ "INSERT INTO links (tenant_id, offer_id, affiliate_id, code)
		VALUES ($T, $OFF, $AFF, 'bi$(date +%s%N | tail -c 9)$i') RETURNING id" | head -n 1)
	links=${links:+$links,}$id:$OFF:$AFF
done
# The run's clicks lie in [start - BEFORE - (N + WARM) / 2 ms, end - BEFORE]
# (ingest-gen writes 2,000 a second up to now - BEFORE): the checks below
# read only that time range (a minute more each side), i.e. its partition's
# last pages through the BRIN index on created_at. Filtering all of
# `clicks` by link_id alone read every partition, GBs a run, and pushed
# the next run's pages out of the page cache.
t0_ms=$(date +%s%3N)
# debug: the job logs how long loading its duplicate window and storing took
sed -e "s|^dir = .*|dir = $W/journal|" -e "s|^log_level = .*|log_level = debug|" "$CONF" >"$W/afftok.conf"
key=$(sed -n 's/^secret_key_file = //p' "$CONF")
WARM=0
if [ "${BENCH_WARM:-}" = 1 ]; then
	WARM=20000
	# the clicks just before the timed run's (2,000 a second up to now)
	"$BUILD/bench/ingest-gen" "$W/journal" "$WARM" "$key" "$T" "$links" 4 "${BENCH_SIGNED:-100}" $((BEFORE + N / 2))
	"${BENCH_CTL:-$BUILD/afftokctl}" -c "$W/afftok.conf" ingest --once >/dev/null 2>&1
	test -s "$W/journal/.ingest-window" || { echo "FAIL: no window file after the warm-up run"; exit 1; }
fi
t=$(date +%s.%N)
"$BUILD/bench/ingest-gen" "$W/journal" "$N" "$key" "$T" "$links" 4 "${BENCH_SIGNED:-100}" "$BEFORE"
echo "journal: $N clicks, $(ls "$W/journal" | grep -c '\.rdy$') segments," \
	"$(($(cat "$W"/journal/*.rdy | wc -c) / 1048576)) MB, written in $(awk -v t="$t" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - t}') s"

run_clicks="link_id IN ($(sed 's/:[0-9]*:[0-9]*//g' <<<"$links"))
	AND created_at >= to_timestamp($((t0_ms - BEFORE - (N + WARM) / 2 - 60000)) / 1000.0)
	AND created_at < to_timestamp($(($(date +%s%3N) - BEFORE + 60000)) / 1000.0)"
pm=$(head -n 1 "$PGDATA/postmaster.pid")
old=" $(psql_ "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE pid <> pg_backend_pid()") "
# CPU ticks of the postmaster, its children and Redis, ten times a second
# (a backend's count is gone once it exits): one cat and one awk a sample,
# not a process per backend, which took ~6 % of the two cores (perf). A
# process may exit between the glob and the read: cat fails, the rest counts.
rpid=$(cat "$RUN/redis.pid")
sample() { { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm" -v r="$rpid" -v old="$old" '{
	pid = $1; sub(/.*\) /, ""); # after the command name, which may hold spaces
	if ((pid == pm || $2 == pm || pid == r) && index(old, " " pid " ") == 0) print pid, $12 + $13 }'; }
sample >"$W/cpu0"
load=$(cut -d' ' -f1-3 /proc/loadavg)
# stall time (PSI "some": ms in which a task waited) for I/O and memory
psi() { for f in io memory; do awk '/^some/ {sub("total=", "", $5); printf "%d ", $5 / 1000}' "/proc/pressure/$f" 2>/dev/null || printf '0 '; done; }
psi0=$(psi)
TIMEFORMAT='%3R %3U %3S'
if [ -n "${BENCH_PERF:-}" ]; then
	perf record -a -g -F 1999 -o "$BENCH_PERF" >/dev/null 2>&1 &
	perf=$!
	sleep 0.5
fi
{ time "${BENCH_CTL:-$BUILD/afftokctl}" -c "$W/afftok.conf" -v ingest --once >"$W/ingest.log" 2>&1; } 2>"$W/ingest.time" &
job=$!
: >"$W/cpu1"
while kill -0 "$job" 2>/dev/null; do sample >>"$W/cpu1"; sleep 0.1; done
wait "$job" || { echo "ingest failed:"; tail -n 5 "$W/ingest.log"; exit 1; }
sample >>"$W/cpu1"
[ -z "${BENCH_PERF:-}" ] || { kill -INT "$perf"; wait "$perf" || true; }
load1=$(cut -d' ' -f1-3 /proc/loadavg)
read -r io0 mem0 <<<"$psi0"
read -r io1 mem1 <<<"$(psi)"
hz=$(getconf CLK_TCK)
spent() { awk -v hz="$hz" -v only="${1:-}" 'NR == FNR {t0[$1] = $2; next} {last[$1] = $2}
	END {for (p in last) if (only == "" || p == only) s += last[p] - (p in t0 ? t0[p] : 0); printf "%.2f", s / hz}' \
	"$W/cpu0" "$W/cpu1"; }
side=$(spent)
redis=$(spent "$(cat "$RUN/redis.pid")")
read -r wall cu cs <"$W/ingest.time"
cpu=$(awk -v u="$cu" -v s="$cs" -v t="$side" 'BEGIN {printf "%.2f", u + s + t}')
rows=$(psql_ "SELECT count(*), count(DISTINCT click_id), count(*) FILTER (WHERE reason = 'replay'),
	count(*) FILTER (WHERE NOT is_unique) FROM clicks WHERE $run_clicks" | tr '|' ' ')
read -r total distinct replays dups <<<"$rows"
echo "rows: $total ($distinct distinct ids), $replays replays, $dups duplicates"
[ "$total" = $((N + WARM)) ] && [ "$distinct" = "$total" ] ||
	{ echo "FAIL: expected $((N + WARM)) rows, one per click"; exit 1; }
# The duplicate rule recomputed from the stored rows: a click is a duplicate
# when a click of its fingerprint within the 60 s before it was stored by an
# earlier batch (ingested_at: its transaction's start) or comes before it in
# its own batch (by time, then id).
wrong=$(psql_ "CREATE TEMP TABLE b AS SELECT click_id, created_at, ingested_at, fingerprint, is_unique
	FROM clicks WHERE $run_clicks;
	CREATE INDEX ON b (fingerprint); ANALYZE b;
	SELECT count(*) FROM (SELECT c.is_unique, EXISTS (SELECT 1 FROM b d WHERE d.fingerprint = c.fingerprint
		AND d.click_id <> c.click_id AND d.created_at BETWEEN c.created_at - interval '60 s' AND c.created_at
		AND (d.ingested_at < c.ingested_at OR (d.ingested_at = c.ingested_at
			AND (d.created_at, d.click_id) < (c.created_at, c.click_id)))) AS dup FROM b c) x
	WHERE dup = is_unique" | tail -n 1)
[ "$wrong" = 0 ] || { echo "FAIL: $wrong clicks where is_unique disagrees with the duplicate rule"; exit 1; }
# The replay rule: a token's first click is the one not a replay: the
# earliest (by time, then id) of the first batch that held one
# (ingest-gen's nonces are unique to a token).
wrong=$(psql_ "SELECT count(*) FROM (SELECT reason, row_number() OVER (PARTITION BY link_id, nonce
		ORDER BY ingested_at, created_at, click_id) rn FROM clicks WHERE $run_clicks
		AND signed) x WHERE (reason = 'replay') <> (rn > 1)")
[ "$wrong" = 0 ] || { echo "FAIL: $wrong clicks where the replay rule disagrees"; exit 1; }
echo "ingest: $N clicks in $wall s wall = $(awk -v n="$N" -v w="$wall" 'BEGIN {printf "%d", n / w}')/s;" \
	"CPU $cpu s (afftokctl $cu + $cs, PostgreSQL and Redis $side of which Redis $redis) =" \
	"$(awk -v n="$N" -v c="$cpu" 'BEGIN {printf "%d", (c > 0 ? n / c : 0)}') clicks per CPU-second;" \
	"load average $load -> $load1; stalled on I/O $((io1 - io0)) ms, on memory $((mem1 - mem0)) ms"
# Where the wall time went: the window loaded from `clicks` (only when a run
# starts without the window file of the run before, as here) and the batches.
awk '/duplicate window.* loaded/ {w += $(NF - 1); n += $(NF - 4)}
	/records stored:/ {s += $(NF - 1); r += $(NF - 4)}
	END {printf "  of which: duplicate window loaded (%d clicks) %d ms; %d records stored in %d ms (%d/s)\n",
		n, w, r, s, (s > 0 ? r * 1000 / s : 0)}' "$W/ingest.log"
