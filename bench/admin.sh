#!/usr/bin/env bash
# bench/admin.sh: the admin API benchmark of bench/README.
#
#   scripts/local up            (or AFFTOK_RUN_DIR=... of a running stack)
#   bench/admin.sh              8 s per case, wrk -t2 -c16
#
# In a tenant of its own (created through the operator key) with one offer,
# wrk GETs /admin/offers/<id> with
#   1. a key without a request limit (no Redis on the way);
#   2. a key with a limit it never reaches (one Redis EVAL per request);
# and lists 50 offers per page with key 2. Each request also checks the key
# (cached 2 s per worker), opens a tenant scope (BEGIN, SET LOCAL, the
# query, COMMIT) and writes JSON. Prints requests/s and latency per case.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
RUN=${AFFTOK_RUN_DIR:-$top/run}
. "$RUN/stack.env"
SECS=${BENCH_SECONDS:-8}
J='Content-Type: application/json'
post() { curl -sf -H "X-API-Key: $1" -H "$J" -d "$3" "$AFFTOK_URL$2"; }
val() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

ADMIN=$(post "$AFFTOK_OPERATOR_KEY" /admin/tenants '{"name":"bench admin"}' | val admin_key)
ADV=$(post "$ADMIN" /admin/advertisers '{"name":"bench"}' | val id)
for i in $(seq 60); do
	OFFER=$(post "$ADMIN" /admin/offers '{"advertiser_id":'"$ADV"',"name":"o'"$i"'","url":"https://x.example/?c={click_id}"}' | val id)
done
FREE=$(post "$ADMIN" /admin/api-keys '{"scope":"admin","rate_limit_per_min":0}' | val key)
COUNTED=$(post "$ADMIN" /admin/api-keys '{"scope":"admin","rate_limit_per_min":100000000}' | val key)

run() {
	echo "== $1"
	wrk -t2 -c16 -d"${SECS}s" --latency -H "X-API-Key: $2" "$AFFTOK_URL$3" |
		grep -E 'Requests/sec|^ +(50|99)%|Non-2xx'
}
run "GET one offer, key without limit" "$FREE" "/admin/offers/$OFFER"
run "GET one offer, key counted in Redis" "$COUNTED" "/admin/offers/$OFFER"
run "GET a page of 50 offers, counted" "$COUNTED" "/admin/offers?limit=50"
