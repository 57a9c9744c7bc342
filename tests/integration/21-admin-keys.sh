# API key lifecycle (create, use, rotate with overlap, revoke seen by every
# worker within 5 s, mistyped checksum), and the rate limits: per key on
# admin routes, failed authentication per address, Redis down.
. "$(dirname "$0")/lib.sh"
J='Content-Type: application/json'
OP="X-API-Key: $AFFTOK_OPERATOR_KEY"

req POST /admin/tenants -H "$OP" -H "$J" -d '{"name":"Key test net"}'
eq "tenant for the key tests: 201" 201 "$STATUS"
TID=$(json 'd["id"]')
K="X-API-Key: $(json 'd["admin_key"]')"
a() { local m=$1 p=$2; shift 2; req "$m" "$p" -H "$K" -H "$J" "$@"; }
a POST /admin/advertisers -d '{"name":"Adv"}'
ADV=$(json 'd["id"]')
a POST /admin/affiliates -d '{"name":"Aff"}'
AFF=$(json 'd["id"]')

# ---- create and use ----
a POST /admin/api-keys -d '{"scope":"admin","label":"ci"}'
eq "create an admin key: 201" 201 "$STATUS"
K2=$(json 'd["key"]')
K2ID=$(json 'd["id"]')
check "new admin key looks like aft_a_..." python3 -c "import re,sys; sys.exit(not re.match(r'^aft_a_[A-Za-z0-9]{36}$', '$K2'))"
eq "key object shows its prefix" "${K2:0:10}" "$(json 'd["key_prefix"]')"
eq "key object shows its label" ci "$(json 'd["label"]')"
a POST /admin/api-keys -d '{"scope":"advertiser","advertiser_id":'$ADV'}'
eq "create an advertiser key: 201" 201 "$STATUS"
contains "advertiser key has its scope letter" "aft_v_" "$(json 'd["key"]')"
a POST /admin/api-keys -d '{"scope":"affiliate","affiliate_id":'$AFF'}'
contains "affiliate key has its scope letter" "aft_f_" "$(json 'd["key"]')"
a POST /admin/api-keys -d '{"scope":"operator"}'
eq "a tenant admin cannot make an operator key: 400" 400 "$STATUS"
a GET "/admin/api-keys/$K2ID"
eq "read a key: 200" 200 "$STATUS"
check "a read key shows no secret" test -z "$(json 'd.get("key") or d.get("key_hash") or ""')"
a GET /admin/api-keys
eq "list keys: 200" 200 "$STATUS"
check "listed keys show no secret or hash" test -z "$(json '[1 for k in d["data"] if "key" in k or "key_hash" in k] and "leak" or ""')"
check "the plaintext key is nowhere in the list" test -z "$(printf '%s' "$BODY" | grep -F "$K2")"
eq "key stored as a hash only" 0 "$(sql "SELECT count(*) FROM api_keys WHERE key_hash = '$K2' OR key_prefix = '$K2' OR label = '$K2'")"
req GET /admin/advertisers -H "X-API-Key: $K2"
eq "the new key works" 200 "$STATUS"
check "last use is recorded" test -n "$(sql "SELECT last_used_at FROM api_keys WHERE id = $K2ID")"
a PATCH "/admin/api-keys/$K2ID" -d '{"label":"renamed"}'
eq "key label can be changed" renamed "$(json 'd["label"]')"
a PATCH "/admin/api-keys/$K2ID" -d '{"scope":"affiliate"}'
eq "key scope cannot be changed: 400" 400 "$STATUS"

# ---- a mistyped key: the checksum refuses it ----
typo=${K2:0:12}$([ "${K2:12:1}" = A ] && echo B || echo A)${K2:13}
req GET /admin/advertisers -H "X-API-Key: $typo" -H "X-Forwarded-For: 198.51.100.7"
eq "mistyped key: 401" 401 "$STATUS"
eq "mistyped key: INVALID_API_KEY" INVALID_API_KEY "$(json 'd["error"]["code"]')"

# ---- rotate with overlap ----
a POST "/admin/api-keys/$K2ID/rotate?overlap_s=8"
eq "rotate: 201" 201 "$STATUS"
K3=$(json 'd["key"]')
K3ID=$(json 'd["id"]')
check "rotation makes a different key" test "$K3" != "$K2"
eq "the successor keeps the label" renamed "$(json 'd["label"]')"
eq "the old key names its successor" "$K3ID" "$(sql "SELECT replaced_by FROM api_keys WHERE id = $K2ID")"
req GET /admin/advertisers -H "X-API-Key: $K2"
eq "old key still valid during the overlap" 200 "$STATUS"
req GET /admin/advertisers -H "X-API-Key: $K3"
eq "new key valid at once" 200 "$STATUS"
a POST "/admin/api-keys/$K2ID/rotate"
eq "a replaced key cannot be rotated again: 404" 404 "$STATUS"
a POST "/admin/api-keys/$K3ID/rotate?overlap_s=99999999"
eq "overlap beyond 30 days: 400" 400 "$STATUS"
sleep 10.5 # overlap 8 s + the workers' 2 s cache
bad=0
for _ in $(seq 12); do
	req GET /admin/advertisers -H "X-API-Key: $K2" -H "X-Forwarded-For: 198.51.100.8"
	[ "$STATUS" = 401 ] || bad=$((bad + 1))
done
eq "old key refused by every worker after the overlap" 0 "$bad"
req GET /admin/advertisers -H "X-API-Key: $K3"
eq "new key still valid" 200 "$STATUS"

# ---- revoke: refused within 5 s on every worker ----
# Warm every worker's cache with the key first, so the test sees the cache.
for _ in $(seq 16); do req GET /admin/advertisers -H "X-API-Key: $K3"; done
a DELETE "/admin/api-keys/$K3ID"
eq "revoke: 200" 200 "$STATUS"
check "revoked key shows revoked_at" test -n "$(json 'd["revoked_at"] or ""')"
t0=$(date +%s%N)
refused_at=""
n=0
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 6000 ]; do
	ok=0
	for _ in $(seq 12); do
		# A fresh address each time: the per-address limit on failed key
		# checks (30 a minute) would otherwise answer 429 before the key check.
		n=$((n + 1))
		req GET /admin/advertisers -H "X-API-Key: $K3" -H "X-Forwarded-For: 198.51.$((101 + n / 250)).$((1 + n % 250))"
		[ "$STATUS" = 401 ] && ok=$((ok + 1))
	done
	if [ $ok = 12 ]; then refused_at=$(( ($(date +%s%N) - t0) / 1000000 )); break; fi
	sleep 0.2
done
check "revoked key refused by every worker within 5 s (after ${refused_at:-never} ms)" test -n "$refused_at" -a "${refused_at:-99999}" -le 5000
a GET "/admin/audit?resource=api_keys&resource_id=$K2ID"
eq "key create, update, rotate audited" "create update rotate" "$(json '" ".join(x["action"] for x in d["data"])')"
a GET "/admin/audit?resource=api_keys&action=revoke&resource_id=$K3ID"
eq "revocation audited" 1 "$(json 'len(d["data"])')"
a DELETE "/admin/api-keys/999999999"
eq "revoke a missing key: 404" 404 "$STATUS"

# ---- per-key rate limit on admin routes ----
a POST /admin/api-keys -d '{"scope":"admin","rate_limit_per_min":5}'
LK=$(json 'd["key"]')
# Stay inside one minute window.
s=$(date +%S); s=${s#0}; [ "$s" -gt 50 ] && sleep $((61 - s))
codes=""
for i in 1 2 3 4 5 6 7; do
	req GET /admin/advertisers -H "X-API-Key: $LK"
	codes="$codes $STATUS"
	[ $i = 1 ] && { eq "limit header" 5 "$(hdr X-RateLimit-Limit)"; eq "remaining header" 4 "$(hdr X-RateLimit-Remaining)"; }
	[ $i = 5 ] && eq "remaining reaches 0" 0 "$(hdr X-RateLimit-Remaining)"
done
eq "five requests pass, then 429" " 200 200 200 200 200 429 429" "$codes"
eq "429 code" RATE_LIMITED "$(json 'd["error"]["code"]')"
check "429 has Retry-After within the minute" test "$(hdr Retry-After)" -ge 1 -a "$(hdr Retry-After)" -le 60
check "429 has X-RateLimit-Reset" test -n "$(hdr X-RateLimit-Reset)"
req GET /admin/advertisers -H "$K"
eq "another key is not limited by it" 200 "$STATUS"
check "default admin limit is announced" test "$(hdr X-RateLimit-Limit)" -gt 5

# ---- failed authentication per address ----
addr="192.0.2.$((RANDOM % 250 + 1))"
limit=$(sed -n 's/^auth_failures_per_min *= *//p' "$CONF"); limit=${limit:-30}
s=$(date +%S); s=${s#0}; [ "$s" -gt 45 ] && sleep $((61 - s))
n401=0
for _ in $(seq "$limit"); do
	req GET /admin/advertisers -H "X-API-Key: aft_a_wrongwrongwrongwrongwrongwrong000000" -H "X-Forwarded-For: $addr"
	[ "$STATUS" = 401 ] && n401=$((n401 + 1))
done
eq "the first $limit failures answer 401" "$limit" "$n401"
req GET /admin/advertisers -H "X-API-Key: aft_a_wrongwrongwrongwrongwrongwrong000000" -H "X-Forwarded-For: $addr"
eq "one failure too many: 429" 429 "$STATUS"
check "with Retry-After" test -n "$(hdr Retry-After)"
req GET /admin/advertisers -H "$K" -H "X-Forwarded-For: $addr"
eq "that address is blocked even with a good key" 429 "$STATUS"
req GET /admin/advertisers -H "$K" -H "X-Forwarded-For: 192.0.2.251"
eq "another address is not" 200 "$STATUS"

# ---- Redis down: admin reads go through, admin writes get 503 ----
redis-cli -s "$RUN/redis.sock" shutdown nosave >/dev/null 2>&1
sleep 0.3
a GET /admin/advertisers
eq "redis down: admin read fails open" 200 "$STATUS"
a POST /admin/advertisers -d '{"name":"while redis is down"}'
eq "redis down: admin write fails closed (503)" 503 "$STATUS"
eq "503 code" UNAVAILABLE "$(json 'd["error"]["code"]')"
eq "nothing was written" 0 "$(sql "SELECT count(*) FROM advertisers WHERE name = 'while redis is down'")"
redis_up
# Each worker notices its old connection is gone on its next Redis command,
# then reconnects no sooner than a second later (src/kv.c).
for _ in $(seq 12); do a GET /admin/advertisers; done
sleep 1.2
a POST /admin/advertisers -d '{"name":"redis back"}'
eq "redis back: admin write 201" 201 "$STATUS"
done_testing
