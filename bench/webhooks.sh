#!/usr/bin/env bash
# bench/webhooks.sh: the webhooks benchmark of bench/README.
#
#   scripts/local up            (or AFFTOK_RUN_DIR=... of a running stack)
#   bench/webhooks.sh           200 endpoints x 40 events = 8,000 deliveries
#   BENCH_ENDPOINTS=500 BENCH_EVENTS=20 BENCH_DELAY_MS=100 bench/webhooks.sh
#
# 1. A tenant of its own with BENCH_ENDPOINTS endpoints, all on one local
#    receiver (tests/webhook-receiver.py) that answers 200 after
#    BENCH_DELAY_MS (100 ms), each endpoint its own path.
# 2. BENCH_EVENTS cap.reached events XADDed to afftok:events; every endpoint
#    subscribes to them, so EVENTS x ENDPOINTS deliveries.
# 3. `afftokctl webhooks --once` fans them out and sends them: the fan-out
#    time, then deliveries/s = deliveries / (last finished - first attempt),
#    from the attempts recorded in PostgreSQL, and the receiver's own count.
# 4. Checks every delivery is done with one attempt and a 200.
# The local stack's cron loop runs `afftokctl webhooks` too and may take a
# share of the work (the numbers come from the database, so they count it);
# for the numbers of one job, start the stack with AFFTOK_NO_CRON=1.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
RUN=${AFFTOK_RUN_DIR:-$top/run}
. "$RUN/stack.env"
BUILD=${AFFTOK_BUILD_DIR:-$top/build}
ENDPOINTS=${BENCH_ENDPOINTS:-200}
EVENTS=${BENCH_EVENTS:-40}
DELAY=${BENCH_DELAY_MS:-100}
psql_() { psql -X -q -tA -v ON_ERROR_STOP=1 "$PGURI" "$@"; }
ctl() { "$BUILD/afftokctl" -c "$AFFTOK_CONF" "$@"; }
now_ms() { date +%s%3N; }
W=$(mktemp -d "$RUN/bench-webhooks.XXXXXX")

python3 "$top/tests/webhook-receiver.py" --port-file "$W/port" --count-only --stats "$W/count" </dev/null >/dev/null 2>&1 &
recv=$!
trap 'kill $recv 2>/dev/null; wait $recv 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 50); do [ -s "$W/port" ] && break; sleep 0.1; done
port=$(cat "$W/port")

[ -x "$BUILD/afftokctl" ] || { echo "no $BUILD/afftokctl: set AFFTOK_BUILD_DIR" >&2; exit 1; }
tenant_env=$(ctl create-tenant "bench webhooks $(date +%s)")
eval "$tenant_env"
T=$AFFTOK_TENANT_ID
first=$(curl -sS -X POST "$AFFTOK_URL/admin/webhooks" -H "X-API-Key: $AFFTOK_ADMIN_KEY" \
	-H 'Content-Type: application/json' \
	--data "{\"url\":\"http://127.0.0.1:$port/slow/$DELAY/0\",\"events\":[\"cap.reached\"]}" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
# The other endpoints share the first one's (encrypted) secret: made with SQL.
psql_ -c "INSERT INTO webhook_endpoints (tenant_id, url, events, secret_enc)
	SELECT $T, 'http://127.0.0.1:$port/slow/$DELAY/' || g, '{cap.reached}', secret_enc
	FROM webhook_endpoints, generate_series(1, $ENDPOINTS - 1) g WHERE id = $first"
echo "tenant $T: $ENDPOINTS endpoints on 127.0.0.1:$port answering after $DELAY ms"

for i in $(seq "$EVENTS"); do
	printf 'XADD afftok:events * type cap.reached id evt_bench_%s_%s tenant_id %s data \x27{"offer_id":%s,"cap":"daily_conversions"}\x27\n' \
		"$T" "$i" "$T" "$i"
done | redis-cli -s "$REDIS_SOCKET" >/dev/null

t0=$(now_ms)
/usr/bin/time -f "job: %e s elapsed, %U s user, %S s system" "$BUILD/afftokctl" -c "$AFFTOK_CONF" -v webhooks --once --loop 600 2>&1 | grep -v "^\S* afftokctl\S* info" || true
t1=$(now_ms)
# Another `afftokctl webhooks` (the stack's cron loop) may still hold some.
for _ in $(seq 600); do
	[ "$(psql_ -c "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = $T AND status = 'pending'")" = 0 ] && break
	sleep 0.2
done
read -r total done ok attempts first_ms last_ms fan_ms < <(psql_ -F ' ' -c "
	SELECT count(*), count(*) FILTER (WHERE d.status = 'done'), count(*) FILTER (WHERE d.last_status_code = 200),
	       sum(d.attempts),
	       (extract(epoch FROM min(a.started_at)) * 1000)::bigint, (extract(epoch FROM max(d.finished_at)) * 1000)::bigint,
	       (extract(epoch FROM max(d.created_at) - min(d.created_at)) * 1000)::bigint
	FROM webhook_deliveries d LEFT JOIN webhook_attempts a ON a.delivery_id = d.id AND a.attempt = 1
	WHERE d.tenant_id = $T")
span=$((last_ms - first_ms))
rate=$(python3 -c "print(round($total / ($span / 1000.0)))")
echo "deliveries: $total ($done done, $ok answered 200, $attempts attempts); receiver counted $(cat "$W/count")"
echo "fan-out: $EVENTS events -> $total deliveries stored in $fan_ms ms"
echo "sending: first attempt to last finished $span ms = $rate deliveries/s (whole run $((t1 - t0)) ms)"
[ "$total" = $((ENDPOINTS * EVENTS)) ] && [ "$done" = "$total" ] && [ "$attempts" = "$total" ] ||
	{ echo "CHECK FAILED: expected $((ENDPOINTS * EVENTS)) deliveries done in one attempt each" >&2; exit 1; }
