#!/usr/bin/env bash
# bench/postback.sh: the postback benchmark of bench/README.
#
#   scripts/local up            (or AFFTOK_RUN_DIR=... of a running stack)
#   bench/postback.sh           10 M clicks, 10 s of wrk with 64 connections
#   BENCH_CLICKS=1000000 bench/postback.sh    smaller table
#
# 1. Puts BENCH_CLICKS clicks (authentic ids from tests/tools/clickids,
#    spread over the last 22 hours) into clicks with COPY, in a tenant of its
#    own, one offer with a fixed payout and 100 links.
# 2. wrk -t2 -c64 for BENCH_DURATION seconds through nginx: GET /postback,
#    every request a new conversion (own transaction_id) on one of 200,000
#    clicks picked across the whole table, advertiser key in X-API-Key.
# 3. The same wrk load, same run, against the baseline: bench/insert-fcgi.c,
#    a bare FastCGI program doing one INSERT per request, behind its own
#    nginx server with the same number of FastCGI processes.
# 4. Checks that every 200 answer left exactly one conversion.
# The bench tenant's rows stay (BENCH_REUSE=1 runs again on them without
# loading); drop the clicks with BENCH_CLEAN=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
RUN=${AFFTOK_RUN_DIR:-$top/run}
. "$RUN/stack.env"
BUILD=${AFFTOK_BUILD_DIR:-$top/build}
CLICKS=${BENCH_CLICKS:-10000000}
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNS:-64}
PICK=200000
# The baseline gets as many processes as the running AffTok pool has.
WORKERS=$(pgrep -fc "^$BUILD/afftok-fcgi -c $AFFTOK_CONF" || true)
[ "$WORKERS" -gt 0 ] || { echo "no AffTok pool running for $AFFTOK_CONF" >&2; exit 1; }
PORT=${AFFTOK_URL##*:}
BPORT=${BENCH_BASELINE_PORT:-$((PORT + 9))} # +5 and +7 are the test stacks' ports by convention
W=$RUN/bench-postback
mkdir -p "$W"
psql_() { psql -X -q -tA -v ON_ERROR_STOP=1 "$PGURI" "$@"; }
ctl() { "$BUILD/afftokctl" -c "$AFFTOK_CONF" "$@"; }
say() { printf '%s\n' "$*" >&2; }
now_ms() { date +%s%3N; }

make -C "$BUILD" -s tests/tools/clickids tests/tools/fixture >/dev/null

# 1. Fixtures and clicks.
# BENCH_REUSE=1 takes the tenant and clicks of the previous run.
if [ "${BENCH_REUSE:-}" = 1 ] && [ -s "$W/env" ]; then
	. "$W/env"
	total=$(psql_ -c "SELECT count(*) FROM clicks")
else
	eval "$(ctl create-tenant "pbbench-$(date +%s)" | sed 's/^/B_/')"
	T=$B_AFFTOK_TENANT_ID
	ADV=$(psql_ -c "INSERT INTO advertisers (tenant_id, name) VALUES ($T, 'bench adv') RETURNING id" | head -n 1)
	AFF=$(psql_ -c "INSERT INTO affiliates (tenant_id, name) VALUES ($T, 'bench aff') RETURNING id" | head -n 1)
	OFF=$(psql_ -c "INSERT INTO offers (tenant_id, advertiser_id, name, url, payout_value, revenue_value)
	  VALUES ($T, $ADV, 'bench offer', 'https://example.com/', 2.5, 4) RETURNING id" | head -n 1)
	psql_ -c "INSERT INTO links (tenant_id, offer_id, affiliate_id, code)
	  SELECT $T, $OFF, $AFF, 'pbb$T-' || g FROM generate_series(1, 100) g" >/dev/null
	LINK=$(psql_ -c "SELECT min(id) FROM links WHERE tenant_id = $T")
	KEY=$("$BUILD/tests/tools/fixture" "$AFFTOK_CONF" key "$T" advertiser "$ADV")

	step=$((80000000 / CLICKS)); [ "$step" -ge 1 ] || step=1
	every=$((CLICKS / PICK)); [ "$every" -ge 1 ] || every=1
	say "tenant $T: $CLICKS clicks, one every $step ms back from now"
	t0=$(now_ms)
	psql_ -c "DROP TABLE IF EXISTS bench_clicks_stage; CREATE UNLOGGED TABLE bench_clicks_stage (click_id text,
	  created_at timestamptz, tenant_id bigint, link_id bigint, offer_id bigint, affiliate_id bigint,
	  fingerprint text, billable boolean)"
	"$BUILD/tests/tools/clickids" "$RUN/secret.key" "$CLICKS" "$(now_ms)" "$step" |
		awk -F '\t' -v T="$T" -v L="$LINK" -v O="$OFF" -v A="$AFF" -v every="$every" -v ids="$W/ids" '
			NR % every == 0 { print $1 > ids }
			{ printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\tt\n", $1, $2, T, L + NR % 100, O, A, $1 }' |
		psql_ -c "COPY bench_clicks_stage FROM STDIN"
	# COPY straight into clicks is refused under forced row-level security.
	psql_ -c "INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint, billable)
	  SELECT * FROM bench_clicks_stage; DROP TABLE bench_clicks_stage"
	t1=$(now_ms)
	total=$(psql_ -c "SELECT count(*) FROM clicks")
	say "loaded in $(( (t1 - t0) / 1000 )) s; clicks table now holds $total rows; $(wc -l <"$W/ids") ids picked"
	psql_ -c "ANALYZE clicks" >/dev/null
	echo "T=$T ADV=$ADV KEY=$KEY" >"$W/env"
fi
# One advertiser sending thousands a second has a key limit to match
# ([limits] postback_per_min, 60,000 a minute by default, would answer 429
# after the first 25 s). The limit is still counted in Redis per request.
psql_ -c "UPDATE api_keys SET rate_limit_per_min = 100000000 WHERE tenant_id = $T AND advertiser_id = $ADV" >/dev/null

# 3 (set-up). The baseline program behind its own nginx server.
cc -O2 -o "$W/insert-fcgi" "$top/bench/insert-fcgi.c" -lfcgi -lpq -I"$(pg_config --includedir)"
psql_ -c "CREATE TABLE IF NOT EXISTS bench_insert (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  click_id text NOT NULL, amount numeric, created_at timestamptz NOT NULL DEFAULT now())" >/dev/null
conninfo=$(printf '%s' "$PGURI" | sed "s/^'//; s/'$//")
case $conninfo in *\?*) conninfo="$conninfo&application_name=bench-insert" ;; *) conninfo="$conninfo?application_name=bench-insert" ;; esac
# Set before anything starts, so a failed start leaves nothing running.
cleanup() {
	nginx -c "$W/nginx/nginx.conf" -s stop 2>/dev/null || true
	[ -f "$W/insert.pid" ] && kill "$(cat "$W/insert.pid")" 2>/dev/null || true
	rm -f "$W/insert.pid"
	if [ "${BENCH_CLEAN:-}" = 1 ]; then psql_ -c "DELETE FROM clicks WHERE tenant_id = $T" >/dev/null; fi
}
trap cleanup EXIT
rm -f "$W/insert.sock"
spawn-fcgi -s "$W/insert.sock" -M 0666 -P "$W/insert.pid" -- \
	/usr/bin/multiwatch -f "$WORKERS" -- "$W/insert-fcgi" "$conninfo" >/dev/null
mkdir -p "$W/nginx"
cat >"$W/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
$([ "$(id -u)" = 0 ] && echo "user root root;")
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $W/nginx/tmp;
    fastcgi_temp_path $W/nginx/tmp;
    server {
        listen 127.0.0.1:$BPORT;
        location = /postback { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/insert.sock; }
    }
}
EOF
nginx -c "$W/nginx/nginx.conf"
sleep 0.5

# CPU time (user + system, clock ticks) of the given processes. The
# machine is shared, so besides req/s the script reports the CPU each
# request cost in each part of the stack: that figure moves least with
# other load.
ticks() { local p t=0; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
# PostgreSQL as a whole: the postmaster, its live children and (cutime and
# cstime) the children that ended meanwhile, such as the cron jobs' sessions.
pg_ticks() {
	local pm
	pm=$(head -n 1 "$RUN/pg/data/postmaster.pid")
	echo $(($(ticks $(pgrep -P "$pm")) + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")))
}
# The backends serving the pool under test (by application_name), apart from
# the rest (cron jobs' sessions, WAL writer, checkpointer, autovacuum).
pool_backends() { psql_ -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$1'"; }
# A short warm-up, not measured: every process connected and its statements
# prepared, as in a pool that has been serving for a while.
warm() { # URL
	BENCH_IDS=$W/ids BENCH_KEY=$KEY BENCH_RUN="warm-$(date +%s%N)" \
		wrk -t2 -c"$CONNS" -d2s -s "$top/bench/postback.lua" "$1" >/dev/null 2>&1
}
bench() { # NAME URL POOL-PATTERN NGINX-PIDFILE APPLICATION-NAME
	local nginx_pids own pool0 pg0 own0 kv0 ng0
	nginx_pids=$(pgrep -P "$(cat "$4")")
	own=$(pool_backends "$5")
	pool0=$(ticks $(pgrep -f "$3")) pg0=$(pg_ticks) own0=$(ticks $own)
	kv0=$(ticks $(cat "$RUN/redis.pid")) ng0=$(ticks $nginx_pids)
	BENCH_IDS=$W/ids BENCH_KEY=$KEY BENCH_RUN="$1-$(date +%s)" \
		wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$top/bench/postback.lua" "$2" >"$W/$1.txt" 2>&1
	local pool pg kv ng ownpg
	pool=$(($(ticks $(pgrep -f "$3")) - pool0)) pg=$(($(pg_ticks) - pg0)) ownpg=$(($(ticks $own) - own0))
	kv=$(($(ticks $(cat "$RUN/redis.pid")) - kv0)) ng=$(($(ticks $nginx_pids) - ng0))
	local rps p50 p99 non2xx n
	rps=$(awk '/Requests\/sec/ {print $2}' "$W/$1.txt")
	p50=$(awk '$1 == "50%" {print $2}' "$W/$1.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$W/$1.txt")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$W/$1.txt")
	n=$(awk '/requests in/ {print $1}' "$W/$1.txt")
	printf '%-34s %10s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
	awk -v n="$n" -v hz="$(getconf CLK_TCK)" -v pool="$pool" -v pg="$pg" -v own="$ownpg" -v kv="$kv" -v ng="$ng" 'BEGIN {
		u = 1e6 / hz / (n > 0 ? n : 1)
		printf "    CPU us/request: FastCGI %d, PostgreSQL %d (the pool'"'"'s sessions %d), Redis %d, nginx %d, total %d\n",
			pool * u, pg * u, own * u, kv * u, ng * u, (pool + pg + kv + ng) * u }'
}

warm "$AFFTOK_URL"
before=$(psql_ -c "SELECT count(*) FROM conversions WHERE tenant_id = $T")
echo "== $(date -u +%FT%TZ), $(nproc) cores, $WORKERS FastCGI processes each, clicks table $total rows"
echo "   load average: $(cut -d ' ' -f 1-3 /proc/loadavg)"
bench afftok-postback "$AFFTOK_URL" "^$BUILD/afftok-fcgi -c $AFFTOK_CONF" "$RUN/nginx/nginx.pid" afftok-fcgi
after=$(psql_ -c "SELECT count(*) FROM conversions WHERE tenant_id = $T")
warm "http://127.0.0.1:$BPORT"
bench baseline-bare-insert "http://127.0.0.1:$BPORT" "^$W/insert-fcgi" "$W/nginx/nginx.pid" bench-insert
echo "   load average: $(cut -d ' ' -f 1-3 /proc/loadavg)"
sent=$(awk '/requests in/ {print $1}' "$W/afftok-postback.txt")
bad=$(awk '/Non-2xx/ {print $NF}' "$W/afftok-postback.txt")
echo "conversions created: $((after - before)) for $sent requests (${bad:-0} not 2xx; the 2 s warm-up's are not in either figure)"
