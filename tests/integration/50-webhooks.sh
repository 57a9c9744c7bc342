# Webhooks (SPEC §5): the admin API, a real conversion delivered as a
# signed conversion.created webhook checked by an independent Standard
# Webhooks verifier, retries with the same webhook-id on a compressed clock,
# 410 / refused targets / 5 days of failure disabling an endpoint, a
# receiver killed mid-delivery, a consumer killed before XACK, poison
# entries, secret rotation, replay of dead letters and tenant isolation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/conv-lib.sh"

WH=$RUN/webhooks-test
mkdir -p "$WH"
: >"$WH/recv.log"
rcli() { redis-cli -s "$RUN/redis.sock" "$@"; }

recv_start() {
	rm -f "$WH/port"
	python3 "$top/tests/webhook-receiver.py" --port "${RECV_PORT:-0}" --port-file "$WH/port" \
		--log "$WH/recv.log" --state-dir "$WH" </dev/null >/dev/null 2>&1 &
	RECV_PID=$!
	for _ in $(seq 50); do [ -s "$WH/port" ] && break; sleep 0.1; done
	RECV_PORT=$(cat "$WH/port")
	RECV=http://127.0.0.1:$RECV_PORT
}
recv_stop() { kill -9 "$RECV_PID" 2>/dev/null; wait "$RECV_PID" 2>/dev/null; }
trap 'recv_stop' EXIT
recv_start

# Requests the receiver logged for a path: one JSON object per line.
received() { grep -F "\"path\": \"$1\"" "$WH/recv.log" || true; }
nreceived() { received "$1" | grep -c . || true; }
run_job() { ctl webhooks --once "$@" >>"$WH/job.log" 2>&1; }
dsql() { sqlv "$1"; }

# An independent Standard Webhooks verifier (python hmac/base64), not the
# code under test: verify SECRET < log lines; prints one verdict per line.
verify() {
	python3 -c '
import base64, hashlib, hmac, json, sys, time
secret = sys.argv[1]
old = sys.argv[2] if len(sys.argv) > 2 else None
def key(s):
    assert s.startswith("whsec_")
    return base64.b64decode(s[len("whsec_"):])
for line in sys.stdin:
    r = json.loads(line)
    msg = ("%s.%s.%s" % (r["id"], r["timestamp"], r["body"])).encode()
    sigs = [s.split(",", 1) for s in r["signature"].split(" ")]
    def ok(sec):
        want = base64.b64encode(hmac.new(key(sec), msg, hashlib.sha256).digest()).decode()
        return any(v == "v1" and hmac.compare_digest(s, want) for v, s in sigs)
    fresh = abs(time.time() - int(r["timestamp"])) < 300
    body = json.loads(r["body"])
    verdict = "ok" if ok(secret) and fresh and body["id"] == r["id"] else "BAD"
    if old is not None:
        verdict += " old-ok" if ok(old) else " old-BAD"
    print(verdict, len(sigs))
' "$@"
}

# ---- the admin API ----
admin POST /admin/webhooks -H 'Content-Type: application/json' \
	--data "{\"url\":\"$RECV/ok/conv\",\"events\":[\"conversion.created\"],\"description\":\"orders\"}"
eq "create endpoint: 201" 201 "$STATUS"
A=$(json 'd["id"]')
SECRET_A=$(json 'd["secret"]')
check "secret is whsec_ + base64 of 32 bytes" python3 -c "import base64,sys; s=sys.argv[1]; assert s.startswith('whsec_') and len(base64.b64decode(s[6:], validate=True)) == 32" "$SECRET_A"
eq "create: events echoed" '["conversion.created"]' "$(json 'd["events"]')"
eq "create: enabled by default" True "$(json 'd["enabled"]')"
admin GET "/admin/webhooks/$A"
eq "get endpoint: 200" 200 "$STATUS"
eq "secret shown once only" None "$(json 'd.get("secret")')"
check "no secret material in the row" test "$(json '[k for k in d if "secret_enc" in k]')" = "[]"
admin GET /admin/webhooks
contains "list has the endpoint" "\"id\":$A" "$BODY"
eq "list: next_cursor" None "$(json 'd["next_cursor"]')"
admin POST /admin/webhooks -H 'Content-Type: application/json' --data '{"url":"http://169.254.169.254/latest/","events":["*"]}'
eq "metadata URL refused: 400" 400 "$STATUS"
contains "refusal names the reason" "metadata" "$(json 'd["error"]["message"]')"
admin POST /admin/webhooks -H 'Content-Type: application/json' --data '{"url":"http://0x7f.1:1/","events":["*"]}'
eq "0x7f.1 accepted where private targets are allowed (the local stack)" 201 "$STATUS"
admin DELETE "/admin/webhooks/$(json 'd["id"]')"
eq "delete: 204" 204 "$STATUS"
admin POST /admin/webhooks -H 'Content-Type: application/json' --data '{"url":"gopher://x/","events":["*"]}'
eq "gopher URL: 400" 400 "$STATUS"
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/ok/x\",\"events\":[\"nope\"]}"
eq "unknown event type: 400" 400 "$STATUS"
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/ok/x\"}"
eq "events required: 400" 400 "$STATUS"
admin PATCH "/admin/webhooks/$A" -H 'Content-Type: application/json' --data '{"url":"http://[::ffff:169.254.169.254]/"}'
eq "patch to a refused URL: 400" 400 "$STATUS"
admin PATCH "/admin/webhooks/$A" -H 'Content-Type: application/json' --data '{"description":"orders v2"}'
eq "patch: 200" 200 "$STATUS"
eq "patch applied" "orders v2" "$(json 'd["description"]')"

# Another tenant sees none of it.
req POST /admin/tenants -H "X-API-Key: $AFFTOK_OPERATOR_KEY" -H 'Content-Type: application/json' --data '{"name":"Other net"}'
OTHER=$(json 'd["admin_key"]')
req GET "/admin/webhooks/$A" -H "X-API-Key: $OTHER"
eq "foreign endpoint: 404" 404 "$STATUS"
req POST "/admin/webhooks/$A/test" -H "X-API-Key: $OTHER"
eq "foreign test: 404" 404 "$STATUS"
req GET "/admin/webhooks/$A/deliveries" -H "X-API-Key: $OTHER"
eq "foreign deliveries: 404" 404 "$STATUS"
req PATCH "/admin/webhooks/$A" -H "X-API-Key: $OTHER" -H 'Content-Type: application/json' --data '{"enabled":false}'
eq "foreign patch: 404" 404 "$STATUS"
req GET /admin/webhooks -H "X-API-Key: $OTHER"
eq "foreign list is empty" "[]" "$(json 'd["data"]')"

# ---- a real conversion -> conversion.created, verified independently ----
adv=$(new_advertiser "Hook shop")
aff=$(new_affiliate "Hook pub")
offer=$(new_offer "$adv" "payout_value = 2.5, revenue_value = 4")
link=$(new_link "$offer" "$aff")
key=$(fixture key "$T" advertiser "$adv")
click=$(new_click "$link")
pb "$key" "click_id=$click&transaction_id=wh-order-1&amount=10.00"
eq "postback recorded" recorded "$(json 'd["status"]')"
conv=$(json 'd["conversion_id"]')
ctl events >>"$WH/job.log" 2>&1
run_job
# Earlier tests' conversions may be in the stream too: pick this one's.
line=$(received /ok/conv | python3 -c '
import json, sys
for l in sys.stdin:
    if json.loads(json.loads(l)["body"])["data"].get("conversion_id") == sys.argv[1]:
        print(l, end="")' "$conv")
eq "one conversion.created webhook for the conversion" 1 "$(printf '%s' "$line" | grep -c .)"
eq "signature verifies (independent Standard Webhooks check)" "ok 1" "$(printf '%s\n' "$line" | verify "$SECRET_A")"
body=$(printf '%s' "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["body"])')
BODY=$body
eq "body type" conversion.created "$(json 'd["type"]')"
eq "body data.conversion_id" "$conv" "$(json 'd["data"]["conversion_id"]')"
eq "body tenant_id" "$T" "$(json 'd["tenant_id"]')"
check "body id is evt_..." test "$(json 'd["id"][:4]')" = evt_
check "body has created_at" test -n "$(json 'd["created_at"]')"
eq "Content-Type is JSON" application/json "$(printf '%s' "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["content_type"])')"
eq "a wrong secret does not verify" "BAD 1" "$(printf '%s\n' "$line" | verify "whsec_$(head -c 32 /dev/urandom | base64)")"
eq "delivery done" done "$(dsql "SELECT status FROM webhook_deliveries WHERE endpoint_id = $A")"
eq "stream entry acknowledged" 0 "$(rcli XPENDING afftok:events webhooks | head -n 1)"

# ---- 500, 500, 200: same webhook-id three times, backoff on a compressed clock ----
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/flaky/2/b\",\"events\":[\"cap.reached\"]}"
B=$(json 'd["id"]'); SECRET_B=$(json 'd["secret"]')
admin POST "/admin/webhooks/$B/test"
eq "test event queued: 202" 202 "$STATUS"
evt=$(json 'd["event_id"]')
run_job
eq "first attempt answered 500" 500 "$(dsql "SELECT last_status_code FROM webhook_deliveries WHERE endpoint_id = $B")"
eq "still pending after a 500" pending "$(dsql "SELECT status FROM webhook_deliveries WHERE endpoint_id = $B")"
delay=$(dsql "SELECT round(extract(epoch FROM next_attempt_at - updated_at) * 1000) FROM webhook_deliveries WHERE endpoint_id = $B")
check "retry 1 after 5 s +-20% ($delay ms)" test "$delay" -ge 3900 -a "$delay" -le 6100
run_job
eq "not retried before it is due" 1 "$(nreceived /flaky/2/b)"
sql "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE endpoint_id = $B" >/dev/null
run_job
delay=$(dsql "SELECT round(extract(epoch FROM next_attempt_at - updated_at) * 1000) FROM webhook_deliveries WHERE endpoint_id = $B")
check "retry 2 after 20 s +-20% ($delay ms)" test "$delay" -ge 15900 -a "$delay" -le 24100
sql "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE endpoint_id = $B" >/dev/null
run_job
eq "three requests" 3 "$(nreceived /flaky/2/b)"
eq "the same webhook-id each time" "$evt" "$(received /flaky/2/b | python3 -c 'import json,sys; print(",".join(sorted(set(json.loads(l)["id"] for l in sys.stdin))))')"
eq "each attempt signed validly" "ok 1,ok 1,ok 1" "$(received /flaky/2/b | verify "$SECRET_B" | paste -sd,)"
eq "delivery done after 500, 500, 200" "done|3|200" "$(dsql "SELECT status, attempts, last_status_code FROM webhook_deliveries WHERE endpoint_id = $B" )"
admin GET "/admin/webhooks/$B/deliveries"
eq "deliveries API: attempts with their codes" "500,500,200" "$(json '",".join(str(a["status_code"]) for a in d["data"][0]["attempts_log"])')"
eq "deliveries API: start of the answer" "flaky 3" "$(json 'd["data"][0]["attempts_log"][2]["response"]')"
check "deliveries API: latency recorded" test "$(json 'd["data"][0]["attempts_log"][0]["latency_ms"] is not None')" = True
eq "endpoint no longer failing" None "$(admin GET "/admin/webhooks/$B"; json 'd["failing_since"]')"

# ---- 410 disables the endpoint and tells the tenant's other endpoints ----
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/ok/notices\",\"events\":[\"postback.failed\"]}"
D=$(json 'd["id"]')
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/gone/c\",\"events\":[\"cap.reached\"]}"
C=$(json 'd["id"]')
admin POST "/admin/webhooks/$C/test"
run_job
admin GET "/admin/webhooks/$C"
eq "410: endpoint disabled" False "$(json 'd["enabled"]')"
eq "410: reason recorded" "answered 410 Gone" "$(json 'd["disabled_reason"]')"
eq "410: delivery dead, not retried" "dead|1" "$(dsql "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $C")"
notice=$(received /ok/notices | tail -n 1)
BODY=$(printf '%s' "$notice" | python3 -c 'import json,sys; print(json.load(sys.stdin)["body"])' 2>/dev/null)
eq "other endpoint told: webhook.endpoint_disabled" webhook.endpoint_disabled "$(json 'd["type"]')"
eq "notice names the endpoint" "$C" "$(json 'd["data"]["endpoint_id"]')"
admin POST "/admin/webhooks/$C/test"
eq "test on a disabled endpoint: 409" 409 "$STATUS"
admin PATCH "/admin/webhooks/$C" -H 'Content-Type: application/json' --data '{"enabled":true}'
eq "re-enabled" True "$(json 'd["enabled"]')"
eq "re-enabling clears the reason" None "$(json 'd["disabled_reason"]')"

# A target the SSRF guard refuses at send time (0.0.0.0 is refused even
# where private targets are allowed): permanent, with the reason, no retry loop.
sql "UPDATE webhook_endpoints SET url = 'http://0.0.0.0:9/x' WHERE id = $C" >/dev/null
admin POST "/admin/webhooks/$C/test"
run_job
eq "refused target: delivery dead after one attempt" "dead|1" "$(dsql "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $C ORDER BY id DESC LIMIT 1")"
contains "refused target: reason given" "target refused" "$(dsql "SELECT last_error FROM webhook_deliveries WHERE endpoint_id = $C ORDER BY id DESC LIMIT 1")"
eq "refused target: endpoint disabled" f "$(dsql "SELECT enabled FROM webhook_endpoints WHERE id = $C")"

# Failing for 5 days disables too.
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/flaky/99/e\",\"events\":[\"cap.reached\"]}"
E=$(json 'd["id"]')
sql "UPDATE webhook_endpoints SET failing_since = now() - interval '121 hours' WHERE id = $E" >/dev/null
admin POST "/admin/webhooks/$E/test"
run_job
eq "failing 5 days: disabled" "f|failing for more than 120 hours" "$(dsql "SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $E")"
sql "UPDATE webhook_endpoints SET enabled = true WHERE id = $E" >/dev/null
sql "UPDATE webhook_endpoints SET failing_since = now() - interval '119 hours' WHERE id = $E" >/dev/null
admin POST "/admin/webhooks/$E/test"
run_job
eq "failing 4.9 days: still enabled" t "$(dsql "SELECT enabled FROM webhook_endpoints WHERE id = $E")"
admin DELETE "/admin/webhooks/$E"

# ---- the give-up time: dead letter, then replay ----
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/flaky/2/g\",\"events\":[\"cap.reached\"]}"
G=$(json 'd["id"]')
admin POST "/admin/webhooks/$G/test"
dead_evt=$(json 'd["event_id"]')
run_job
sql "UPDATE webhook_deliveries SET next_attempt_at = now(), give_up_at = now() WHERE endpoint_id = $G" >/dev/null
run_job
eq "failed past the give-up time: dead after 2 attempts" "dead|2" "$(dsql "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $G")"
eq "a dead letter does not disable the endpoint" t "$(dsql "SELECT enabled FROM webhook_endpoints WHERE id = $G")"
admin GET "/admin/webhooks/$G/deliveries?status=dead"
eq "dead letters listed" "$dead_evt" "$(json '",".join(x["event_id"] for x in d["data"])')"
admin POST "/admin/webhooks/$G/replay"
eq "replay: 200" 200 "$STATUS"
eq "replay: one re-queued" 1 "$(json 'd["replayed"]')"
run_job
eq "replayed delivery done" "done|3" "$(dsql "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $G")"
eq "replayed with the same webhook-id" 3 "$(received /flaky/2/g | grep -c "\"id\": \"$dead_evt\"")"
admin POST "/admin/webhooks/$G/replay"
eq "nothing left to replay" 0 "$(json 'd["replayed"]')"

# ---- receiver killed mid-delivery: retried, not lost ----
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/hangonce/f\",\"events\":[\"cap.reached\"]}"
F=$(json 'd["id"]')
admin POST "/admin/webhooks/$F/test"
fevt=$(json 'd["event_id"]')
ctl webhooks --once >>"$WH/job.log" 2>&1 &
job=$!
for _ in $(seq 100); do [ "$(nreceived /hangonce/f)" -ge 1 ] && break; sleep 0.1; done
eq "request reached the receiver" 1 "$(nreceived /hangonce/f)"
recv_stop
wait "$job"
eq "connection lost: still pending" "pending|1" "$(dsql "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $F")"
check "connection lost: error recorded" test -n "$(dsql "SELECT last_error FROM webhook_deliveries WHERE endpoint_id = $F")"
recv_start # same port
sql "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE endpoint_id = $F" >/dev/null
run_job
eq "retried after the receiver came back: done" "done|2" "$(dsql "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $F")"
eq "retry carried the same webhook-id" 2 "$(received /hangonce/f | grep -c "\"id\": \"$fevt\"")"

# ---- the job killed while sending: the lease brings the delivery back ----
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/hang/k\",\"events\":[\"cap.reached\"]}"
K=$(json 'd["id"]')
admin POST "/admin/webhooks/$K/test"
kevt=$(json 'd["event_id"]')
"$BUILD/afftokctl" -c "$CONF" webhooks --once >>"$WH/job.log" 2>&1 &
job=$!
for _ in $(seq 100); do [ "$(nreceived /hang/k)" -ge 1 ] && break; sleep 0.1; done
kill -9 "$job"
wait "$job" 2>/dev/null
eq "job killed mid-send: delivery still pending" "pending|1" "$(dsql "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $K")"
check "job killed mid-send: leased past the request timeout" \
	test "$(dsql "SELECT next_attempt_at > now() + interval '30 seconds' FROM webhook_deliveries WHERE endpoint_id = $K")" = t
run_job
eq "not sent again while leased" 1 "$(nreceived /hang/k)"
sql "UPDATE webhook_endpoints SET url = '$RECV/ok/k' WHERE id = $K" >/dev/null
sql "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE endpoint_id = $K" >/dev/null
run_job
eq "after the lease: delivered" "done|2" "$(dsql "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $K")"
eq "after the lease: same webhook-id" 1 "$(received /ok/k | grep -c "\"id\": \"$kevt\"")"
admin DELETE "/admin/webhooks/$K"

# ---- one slow endpoint never holds the others ----
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/hang/slow\",\"events\":[\"cap.reached\"]}"
S=$(json 'd["id"]')
admin POST /admin/webhooks -H 'Content-Type: application/json' --data "{\"url\":\"$RECV/ok/fast\",\"events\":[\"cap.reached\"]}"
FAST=$(json 'd["id"]')
for i in $(seq 40); do
	rcli XADD afftok:events '*' type cap.reached id "evt_fair_$i" tenant_id "$T" data '{}' >/dev/null
done
t0=$(date +%s%3N)
"$BUILD/afftokctl" -c "$CONF" webhooks --once >>"$WH/job.log" 2>&1 &
job=$!
for _ in $(seq 100); do [ "$(nreceived /ok/fast)" -ge 40 ] && break; sleep 0.1; done
took=$(($(date +%s%3N) - t0))
eq "the fast endpoint got all 40 while the slow one hangs" 40 "$(nreceived /ok/fast)"
check "... within 5 s ($took ms; the slow one times out after 15 s)" test "$took" -lt 5000
eq "the slow endpoint has at most per_endpoint (16) in flight" 16 "$(nreceived /hang/slow)"
for _ in $(seq 100); do
	[ "$(dsql "SELECT count(*) FROM webhook_deliveries WHERE event_id LIKE 'evt_fair_%' AND endpoint_id <> $S AND status = 'pending'")" = 0 ] && break
	sleep 0.1
done
kill -9 "$job"
wait "$job" 2>/dev/null
admin DELETE "/admin/webhooks/$S"
admin DELETE "/admin/webhooks/$FAST"

# ---- a consumer killed before XACK loses no event ----
rcli XADD afftok:events '*' type cap.reached id evt_crash_1 tenant_id "$T" created_at "$(date -u +%FT%TZ)" \
	data '{"offer_id":1,"cap":"daily_conversions"}' >/dev/null
# A consumer reads the entry, then dies before storing or acknowledging it.
rcli XREADGROUP GROUP webhooks crashed-consumer COUNT 100 STREAMS afftok:events '>' >/dev/null
eq "entry left pending by the dead consumer" 1 "$(rcli XPENDING afftok:events webhooks | head -n 1)"
run_job --claim-idle-ms 0
eq "taken over and delivered (to B, subscribed to cap.reached)" 1 "$(received /flaky/2/b | grep -c '"id": "evt_crash_1"')"
eq "acknowledged after storing" 0 "$(rcli XPENDING afftok:events webhooks | head -n 1)"
# The same with this host's own consumer: its leftovers are read first.
rcli XADD afftok:events '*' type cap.reached id evt_crash_2 tenant_id "$T" data '{}' >/dev/null
rcli XREADGROUP GROUP webhooks own-consumer COUNT 100 STREAMS afftok:events '>' >/dev/null
run_job --consumer own-consumer
eq "own leftovers delivered" 1 "$(received /flaky/2/b | grep -c '"id": "evt_crash_2"')"
# Stored twice (a crash between storing and XACK): delivered once.
rcli XADD afftok:events '*' type cap.reached id evt_crash_2 tenant_id "$T" data '{}' >/dev/null
run_job
eq "an event stored twice is delivered once" 1 "$(received /flaky/2/b | grep -c '"id": "evt_crash_2"')"

# ---- poison entries go to the dead-letter stream ----
before=$(rcli XLEN afftok:events:dead)
rcli XADD afftok:events '*' type cap.reached id evt_poison_1 tenant_id "$T" data 'not json' >/dev/null
rcli XADD afftok:events '*' type cap.reached tenant_id "$T" data '{}' >/dev/null
rcli XADD afftok:events '*' type cap.reached id evt_poison_3 tenant_id 12x data '{}' >/dev/null
rcli XADD afftok:events '*' type cap.reached id evt_nobody tenant_id 999999999 data '{}' >/dev/null
run_job
eq "three poison entries dead-lettered" $((before + 3)) "$(rcli XLEN afftok:events:dead)"
contains "dead letter says why" "JSON object" "$(rcli XRANGE afftok:events:dead - + | tr '\n' ' ')"
eq "poison entries acknowledged" 0 "$(rcli XPENDING afftok:events webhooks | head -n 1)"
eq "an event nobody subscribes to is not stored" 0 "$(dsql "SELECT count(*) FROM webhook_events WHERE event_id = 'evt_nobody'")"

# An entry that every consumer dies on (handed out 5 times, never acked)
# is dead-lettered rather than taking the next consumer down.
killer=$(rcli XADD afftok:events '*' type cap.reached id evt_killer tenant_id "$T" data '{}')
rcli XREADGROUP GROUP webhooks victim-1 COUNT 100 STREAMS afftok:events '>' >/dev/null
for i in 2 3 4 5; do rcli XCLAIM afftok:events webhooks "victim-$i" 0 "$killer" >/dev/null; done
before=$(rcli XLEN afftok:events:dead)
run_job --claim-idle-ms 0
eq "an entry handed out 5 times is dead-lettered" $((before + 1)) "$(rcli XLEN afftok:events:dead)"
contains "... with the reason" "handed out 5 times" "$(rcli XREVRANGE afftok:events:dead + - COUNT 1 | tr '\n' ' ')"
eq "... and not delivered" 0 "$(received /flaky/2/b | grep -c '"id": "evt_killer"')"
eq "... and acknowledged" 0 "$(rcli XPENDING afftok:events webhooks | head -n 1)"

# ---- rotation: both secrets sign during the overlap ----
admin POST "/admin/webhooks/$B/rotate?overlap_s=3600"
eq "rotate: 200" 200 "$STATUS"
NEW_B=$(json 'd["secret"]')
check "rotate: a new secret" test "$NEW_B" != "$SECRET_B" -a "${NEW_B:0:6}" = whsec_
check "rotate: overlap end shown" test "$(json 'd["previous_secret_until"]')" != None
admin POST "/admin/webhooks/$B/test"
run_job
eq "during the overlap: two signatures, new and old both verify" "ok old-ok 2" "$(received /flaky/2/b | tail -n 1 | verify "$NEW_B" "$SECRET_B")"
admin POST "/admin/webhooks/$B/rotate?overlap_s=0"
NEWER_B=$(json 'd["secret"]')
admin POST "/admin/webhooks/$B/test"
run_job
eq "overlap 0: one signature, the old secret no longer signs" "ok old-BAD 1" "$(received /flaky/2/b | tail -n 1 | verify "$NEWER_B" "$NEW_B")"
admin POST "/admin/webhooks/$B/rotate?overlap_s=99999999"
eq "rotate: overlap too long: 400" 400 "$STATUS"

# Secrets are stored encrypted, never in clear.
raw=${NEWER_B#whsec_}
eq "no secret in clear in the database" 0 "$(dsql "SELECT count(*) FROM webhook_endpoints WHERE secret_enc LIKE '%$raw%' OR secret_enc NOT LIKE 'v1:%'")"

# History older than [cron] retention_days (90) is pruned by the job.
old_evt=$(dsql "SELECT event_id FROM webhook_deliveries WHERE endpoint_id = $B AND status = 'done' ORDER BY id LIMIT 1")
sql "UPDATE webhook_events SET received_at = now() - interval '200 days' WHERE event_id = '$old_evt'" >/dev/null
run_job
eq "old history pruned with its deliveries" 0 "$(dsql "SELECT count(*) FROM webhook_deliveries WHERE event_id = '$old_evt'")"
check "recent history kept" test "$(dsql "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $B")" -gt 3

admin DELETE "/admin/webhooks/$A"
eq "delete: 204" 204 "$STATUS"
admin GET "/admin/webhooks/$A"
eq "deleted endpoint: 404" 404 "$STATUS"
done_testing
