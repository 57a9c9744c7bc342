# Foundation: health routes, the error paths of the dispatcher, a Redis
# outage seen by /admin/health, and a worker killed with SIGKILL.
. "$(dirname "$0")/lib.sh"

req GET /health
eq "health answers 200" 200 "$STATUS"
contains "health body" '"status":"ok"' "$BODY"
check "every answer carries X-Request-Id" test -n "$(hdr X-Request-Id)"

admin GET /admin/health
eq "admin health 200 with the admin key" 200 "$STATUS"
eq "admin health: postgresql up" True "$(json 'd["postgresql"]["up"]')"
eq "admin health: redis up" True "$(json 'd["redis"]["up"]')"

req GET /admin/health
eq "admin health without key: 401" 401 "$STATUS"
eq "401 error code" INVALID_API_KEY "$(json 'd["error"]["code"]')"
eq "error body carries the request id" "$(hdr X-Request-Id)" "$(json 'd["error"]["request_id"]')"
req GET /admin/health -H "X-API-Key: aft_a_notavalidkeyatall0000000000000000000"
eq "malformed key: 401" 401 "$STATUS"
good=$AFFTOK_ADMIN_KEY
typo=${good:0:20}$([ "${good:20:1}" = A ] && echo B || echo A)${good:21}
req GET /admin/health -H "X-API-Key: $typo"
eq "key with a typo: 401" 401 "$STATUS"
req GET /admin/health -H "Authorization: Bearer $AFFTOK_ADMIN_KEY"
eq "Bearer key accepted" 200 "$STATUS"

req GET /no/such/thing
eq "unknown path: 404" 404 "$STATUS"
eq "404 code" NOT_FOUND "$(json 'd["error"]["code"]')"
req DELETE /health
eq "wrong method: 405" 405 "$STATUS"
eq "405 names the allowed methods" "GET, HEAD" "$(hdr Allow)"
eq "405 code" METHOD_NOT_ALLOWED "$(json 'd["error"]["code"]')"
req HEAD /health
eq "HEAD on a GET route: 200" 200 "$STATUS"

big=$(head -c 70000 /dev/zero | tr '\0' a)
admin POST /admin/health -H 'Content-Type: application/json' --data "$big"
eq "wrong method with a big body still 405" 405 "$STATUS"
req GET /health -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "x=$big" -X GET
eq "oversized body: 413" 413 "$STATUS"
eq "413 code" PAYLOAD_TOO_LARGE "$(json 'd["error"]["code"]')"

# Redis down: /admin/health says so with 503; back up: healthy again with
# the same workers (no pool restart).
pids_before=$(pgrep -f "^$BUILD/afftok-fcgi -c $CONF" | sort | tr '\n' ' ')
redis-cli -s "$RUN/redis.sock" shutdown nosave >/dev/null 2>&1
sleep 0.3
admin GET /admin/health
eq "redis stopped: admin health 503" 503 "$STATUS"
eq "redis stopped: reported down" False "$(json 'd["redis"]["up"]')"
eq "503 carries the error object" UNAVAILABLE "$(json 'd["error"]["code"]')"
redis_up
# Each worker retries Redis at most once a second; within a few seconds
# every worker must answer healthy again (8 answers in a row, any worker).
check "redis back: admin health 200 from every worker within seconds" healthy 8 10
eq "same workers after the outage" "$pids_before" "$(pgrep -f "^$BUILD/afftok-fcgi -c $CONF" | sort | tr '\n' ' ')"

# SIGKILL one worker (anchored: the supervisor's command line names the
# worker too): multiwatch starts another; no request hangs.
victim=$(pgrep -f "^$BUILD/afftok-fcgi -c $CONF" | head -n 1)
kill -9 "$victim"
ok=0
for i in $(seq 40); do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$AFFTOK_URL/health")
	[ "$code" = 200 ] && ok=$((ok + 1))
done
eq "40 requests after SIGKILL all answered 200" 40 "$ok"
sleep 0.5
eq "pool back to its size" "$WORKERS" "$(pgrep -f "^$BUILD/afftok-fcgi -c $CONF" | wc -l)"
check "the supervisor (multiwatch) still runs" kill -0 "$(cat "$RUN/fcgi.pid")"
check "the killed worker is gone" test -z "$(ps -o pid= -p "$victim")"

# A connection lost inside a transaction block (src/db.c): what follows in
# that block is refused, not run on a new connection as if the block went
# on; once the caller ends the block, new work runs on a new connection.
probe=$("$BUILD/tests/tools/dbprobe" "$CONF" txn-lost 2>/dev/null)
eq "lost in a transaction: the block's next statement refused" "INSERT INTO probe VALUES (1): 08006" \
	"$(sed -n 4p <<<"$probe")"
eq "lost in a transaction: refused until the block ends" "SELECT 1: 08006" "$(sed -n 5p <<<"$probe")"
eq "lost in a transaction: ROLLBACK ends the block" "ROLLBACK: ok" "$(sed -n 6p <<<"$probe")"
eq "lost in a transaction: then new work runs" "SELECT 1: ok" "$(sed -n 7p <<<"$probe")"
done_testing
