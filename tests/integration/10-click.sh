# Click path through nginx: 302 with macros and X-Click-Id, the row after
# ingest, HEAD, 404, every failure reason under both link policies, the
# fallback URL, key rotation, cache invalidation and 429.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/click-lib.sh"

o_main=$(mkoffer main)
o_reject=$(mkoffer reject "link_policy='reject'")
o_fallback=$(mkoffer fallback "fallback_url='http://fallback.test/?c={click_id}&s={sub1}'")
o_paused=$(mkoffer paused "status='paused'")
o_short=$(mkoffer short "link_ttl_s=60")
l_main=$(mklink "$o_main"); l_reject=$(mklink "$o_reject"); l_fallback=$(mklink "$o_fallback")
l_paused=$(mklink "$o_paused"); l_short=$(mklink "$o_short"); l_rot=$(mklink "$o_reject")

# ---- a good click ----
ip=$(nextip)
t0=$(date +%s%N)
click "/c/$l_main?sub1=hello%20world&sub2=a%26b&foo=bar" "$ip"
eq "good click: 302" 302 "$STATUS"
cid=$(hdr X-Click-Id)
check "X-Click-Id is 28 characters of [0-9A-Za-z]" bash -c "[[ '$cid' =~ ^[0-9A-Za-z]{28}$ ]]"
eq "Cache-Control: no-store" no-store "$(hdr Cache-Control)"
loc=$(hdr Location)
ts=$(sed -n 's/.*&t=\([0-9]*\).*/\1/p' <<<"$loc")
eq "Location with every macro URL-encoded, unknown macro kept" \
	"http://land.test/lp?cid=$cid&s1=hello%20world&s2=a%26b&o=$o_main&a=$AFF&l=$l_main&t=$ts&u={unknown}" "$loc"
check "{ts} is the click time" test $((ts - t0 / 1000000000)) -le 1
ingest
got=$(row "$cid" "offer_id, affiliate_id, tenant_id, host(ip), user_agent = '$BROWSER_UA', sub1, sub2, params->>'foo', billable, is_unique, coalesce(reason, '-'), signed, length(fingerprint), destination = '$loc'")
eq "row in clicks after ingest" "$o_main|$AFF|$T|$ip|t|hello world|a&b|bar|t|t|-|f|32|t" "$got"
el=$(( ($(date +%s%N) - t0) / 1000000 ))
check "click to row within 5 s (${el} ms)" test "$el" -lt 5000
eq "created_at is the click id's time" 1 "$(sql "SELECT count(*) FROM clicks WHERE click_id = '$cid' AND abs(extract(epoch FROM created_at) - $ts) < 1.5")"
eq "link_id stored" "$(sql "SELECT id FROM links WHERE code = '$l_main'")" "$(row "$cid" link_id)"
ctl ingest --once >/dev/null
eq "a second ingest stores nothing twice" 1 "$(sql "SELECT count(*) FROM clicks WHERE click_id = '$cid'")"
check "ingested segments are gone or pending only open ones" test -z "$(ls "$RUN/journal" | grep '\.rdy$')"

# ---- HEAD, 404 ----
req HEAD "/c/$l_main" -H "X-Forwarded-For: $(nextip)"
eq "HEAD: 302" 302 "$STATUS"
check "HEAD: X-Click-Id" test -n "$(hdr X-Click-Id)"
check "HEAD: Location" test -n "$(hdr Location)"
eq "HEAD: no body" "" "$BODY"
click "/c/zz${RUNID}nope" "$(nextip)"
eq "unknown code: 404" 404 "$STATUS"
eq "404 code NOT_FOUND" NOT_FOUND "$(json 'd["error"]["code"]')"
check "404 carries no click id" test -z "$(hdr X-Click-Id)"
click "/c/a%2Fb" "$(nextip)"
eq "malformed code: 404" 404 "$STATUS"
req POST "/c/$l_main" -H "X-Forwarded-For: $(nextip)"
eq "POST: 405" 405 "$STATUS"

# ---- signed links ----
tok=$(ctl sign "$l_main")
ip=$(nextip)
click "/c/$tok" "$ip"; c_signed=$(hdr X-Click-Id)
eq "signed link: 302" 302 "$STATUS"
click "/c/$tok" "$(nextip)"; c_replay=$(hdr X-Click-Id)
eq "replayed nonce: still 302 (decided at ingest)" 302 "$STATUS"
bad="${tok%?}$([ "${tok: -1}" = 0 ] && echo 1 || echo 0)"
click "/c/$bad" "$(nextip)"; c_badsig=$(hdr X-Click-Id)
eq "invalid signature, redirect policy: 302" 302 "$STATUS"
contains "invalid signature: offer URL" "http://land.test/lp?cid=$c_badsig" "$(hdr Location)"
click "/c/$l_main.123.abc" "$(nextip)"; c_malformed=$(hdr X-Click-Id)
eq "malformed signature part: 302" 302 "$STATUS"
old=$(ctl sign "$l_short" --ts $(( $(date +%s) - 400 )) --nonce "old-nonce-$RUNID")
click "/c/$old" "$(nextip)"; c_expired=$(hdr X-Click-Id)
eq "expired (TTL 60 s + 300 s skew): 302" 302 "$STATUS"
fut=$(ctl sign "$l_main" --ts $(( $(date +%s) + 400 )) --nonce "fut-nonce-$RUNID")
click "/c/$fut" "$(nextip)"; c_future=$(hdr X-Click-Id)
skew=$(ctl sign "$l_short" --ts $(( $(date +%s) - 350 )) --nonce "skew-nonce-$RUNID")
click "/c/$skew" "$(nextip)"; c_skew=$(hdr X-Click-Id)
click "/c/$l_paused" "$(nextip)"; c_paused=$(hdr X-Click-Id)
eq "paused offer, redirect policy: 302" 302 "$STATUS"

# ---- fallback and reject ----
click "/c/$l_fallback.1.2.3?sub1=fb" "$(nextip)"; c_fb=$(hdr X-Click-Id)
eq "failed click with a fallback URL: 302" 302 "$STATUS"
eq "Location is the fallback with macros" "http://fallback.test/?c=$c_fb&s=fb" "$(hdr Location)"
click "/c/$l_fallback" "$(nextip)"
contains "valid click ignores the fallback" "http://land.test/" "$(hdr Location)"
click "/c/$l_reject.1.2.3" "$(nextip)"; c_rej=$(hdr X-Click-Id)
eq "reject policy: 403" 403 "$STATUS"
contains "403 is a small HTML page" "<html" "$BODY"
contains "403 names the reason" "invalid_signature" "$BODY"
check "403 still carries X-Click-Id" test -n "$c_rej"
check "403 has no Location" test -z "$(hdr Location)"
click "/c/$l_reject.1.2.3" "$(nextip)" -H "Accept: application/json"
eq "reject policy, JSON asked: 403" 403 "$STATUS"
eq "403 JSON error code" FORBIDDEN "$(json 'd["error"]["code"]')"
rtok=$(ctl sign "$l_reject")
click "/c/$rtok" "$(nextip)"
eq "reject policy, valid token: 302" 302 "$STATUS"

# ---- duplicates: same IP, UA and link within 60 s ----
ip=$(nextip)
click "/c/$l_main?sub1=d1" "$ip"; c_d1=$(hdr X-Click-Id)
click "/c/$l_main?sub1=d2" "$ip"; c_d2=$(hdr X-Click-Id)
eq "duplicate still redirected" 302 "$STATUS"
click "/c/$l_main?sub1=d3" "$ip" -A "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"; c_d3=$(hdr X-Click-Id)

ingest
r() { row "$1" "billable, is_unique, coalesce(reason, '-')"; }
eq "signed link: billable, signed" "t|t|-|t" "$(r "$c_signed")|$(row "$c_signed" signed)"
IFS=. read -r _ tok_ts tok_nonce _ <<<"$tok"
eq "nonce recorded once, in the set of its link and ts" "$tok_nonce" \
	"$(sql "SELECT nonces FROM link_nonce_sets WHERE ts = $tok_ts AND link_id = (SELECT id FROM links WHERE code = '$l_main')")"
eq "replay: not billable, reason replay" "f|t|replay" "$(r "$c_replay")"
eq "invalid signature recorded" "f|t|invalid_signature" "$(r "$c_badsig")"
eq "malformed signature recorded" "f|t|invalid_signature" "$(r "$c_malformed")"
eq "expired recorded" "f|t|expired" "$(r "$c_expired")"
eq "from the future beyond skew: invalid_signature" "f|t|invalid_signature" "$(r "$c_future")"
eq "within the skew allowance: billable" "t|t|-" "$(r "$c_skew")"
eq "offer_paused recorded" "f|t|offer_paused" "$(r "$c_paused")"
eq "fallback click recorded" "f|t|invalid_signature" "$(r "$c_fb")"
eq "rejected click recorded" "f|t|invalid_signature" "$(r "$c_rej")"
eq "first visit unique" "t|t|-" "$(r "$c_d1")"
eq "second within 60 s: duplicate, not unique" "f|f|duplicate" "$(r "$c_d2")"
eq "another user agent: unique" "t|t|-" "$(r "$c_d3")"
eq "rejected click has no destination" "" "$(row "$c_rej" destination)"

# ---- the rules across batches, and a segment ingested again ----
# The nonce and the first visit above are stored now: a later batch decides
# against them (not against its own clicks).
click "/c/$tok" "$(nextip)"; c_replay2=$(hdr X-Click-Id)
click "/c/$l_main?sub1=d4" "$ip"; c_d4=$(hdr X-Click-Id)
ingest
eq "nonce stored by an earlier batch: replay" "f|t|replay" "$(r "$c_replay2")"
eq "visitor stored by an earlier batch within 60 s: duplicate" "f|f|duplicate" "$(r "$c_d4")"
# One ingest process over several passes: a visitor it stored itself a pass
# ago (after it loaded its duplicate window from the database) still counts.
grep -q '^ingest_loop_s' "$CONF" && sed 's/^ingest_loop_s.*/ingest_loop_s = 4/' "$CONF" >"$RUN/ingest-loop.conf" ||
	sed 's/^\[cron\]/[cron]\ningest_loop_s = 4/' "$CONF" >"$RUN/ingest-loop.conf"
"$BUILD/afftokctl" -c "$RUN/ingest-loop.conf" ingest 2>>"$LOG/integration.log" &
loop=$!
ip5=$(nextip)
sleep 0.5
click "/c/$l_main?sub1=d5" "$ip5"; c_d5=$(hdr X-Click-Id)
for _ in $(seq 30); do [ -n "$(row "$c_d5" click_id)" ] && break; sleep 0.1; done
click "/c/$l_main?sub1=d6" "$ip5"; c_d6=$(hdr X-Click-Id)
wait "$loop"
eq "one ingest process: its own earlier pass's visitor within 60 s: duplicate" "t|t|- f|f|duplicate" \
	"$(r "$c_d5") $(r "$c_d6")"
# The window a run leaves for the next one: a damaged file is not used (the
# next run loads the window from the database), and the rule still holds.
wfile=$(sed -n 's/^dir = //p' "$CONF")/.ingest-window
check "a clean run leaves its duplicate window" test -s "$wfile"
printf 'AFTKWIN1 but not a window' >"$wfile"
click "/c/$l_main?sub1=d7" "$ip5"; c_d7=$(hdr X-Click-Id)
ingest
eq "damaged window file: the visitor still a duplicate" "f|f|duplicate" "$(r "$c_d7")"
# Offsets lost (reset by hand): the open segments are read again from the
# start, with one new click among stored ones; only the new one is stored.
before=$(sql "SELECT count(*) FROM clicks")
check "open segments to read again" test "$(sql "SELECT count(*) FROM journal_segments WHERE committed > 0")" -gt 0
sql "UPDATE journal_segments SET committed = 0, published = 0" >/dev/null
click "/c/$l_main?sub1=again" "$(nextip)"; c_again=$(hdr X-Click-Id)
ingest
eq "segments read again: only the new click added" "$((before + 1))" "$(sql "SELECT count(*) FROM clicks")"
eq "the new click is stored, billable" "t|t|-" "$(r "$c_again")"
eq "the replayed clicks keep their decisions" "f|t|replay f|f|duplicate" "$(r "$c_replay2") $(r "$c_d4")"

# ---- rotation: the previous secret counts until link_secret_prev_until ----
otherenc=$(sql "SELECT link_secret_enc FROM tenants WHERE id <> $T ORDER BY id LIMIT 1")
if [ -z "$otherenc" ]; then
	ctl create-tenant "rot-$RUNID" >/dev/null
	otherenc=$(sql "SELECT link_secret_enc FROM tenants WHERE id <> $T ORDER BY id DESC LIMIT 1")
fi
saved=$(sql "SELECT link_secret_enc FROM tenants WHERE id = $T")
rtok=$(ctl sign "$l_rot")
sql "UPDATE tenants SET link_secret_prev_enc = link_secret_enc, link_secret_enc = '$otherenc',
	link_secret_prev_until = now() + interval '1 hour' WHERE id = $T" >/dev/null
bump
click "/c/$rtok" "$(nextip)"
eq "rotation: token of the previous secret accepted during the overlap" 302 "$STATUS"
sql "UPDATE tenants SET link_secret_prev_until = now() - interval '1 second' WHERE id = $T" >/dev/null
bump
click "/c/$rtok" "$(nextip)"
eq "rotation: refused after the overlap (reject policy)" 403 "$STATUS"
sql "UPDATE tenants SET link_secret_enc = '$saved', link_secret_prev_enc = NULL, link_secret_prev_until = NULL WHERE id = $T" >/dev/null

# ---- cache invalidation: an admin change is seen within seconds ----
bump
click "/c/$l_rot" "$(nextip)"
eq "before the change: 302" 302 "$STATUS"
sql "UPDATE offers SET status = 'paused' WHERE id = $o_reject" >/dev/null
sql "UPDATE cache_epoch SET epoch = epoch + 1" >/dev/null
seen=000
for _ in $(seq 30); do
	sleep 0.2
	click "/c/$l_rot" "$(nextip)"
	[ "$STATUS" = 403 ] && { seen=403; break; }
done
eq "paused offer with reject policy seen within 6 s of the epoch bump" 403 "$seen"
# All workers see it (several requests, not one lucky worker).
n403=0
for _ in $(seq 12); do click "/c/$l_rot" "$(nextip)"; [ "$STATUS" = 403 ] && n403=$((n403 + 1)); done
sleep 1.2
for _ in $(seq 12); do click "/c/$l_rot" "$(nextip)"; [ "$STATUS" = 403 ] && n403=$((n403 + 1)); done
check "every worker dropped its cache ($n403 of 24 answered 403)" test "$n403" -ge 12
ctl demo "$T" "$AFFTOK_URL" >/dev/null # calls linkcache_bump
eq "linkcache_bump publishes the epoch in Redis" "$(sql "SELECT epoch FROM cache_epoch")" \
	"$(redis-cli -s "$RUN/redis.sock" get afftok:cache_epoch)"

# ---- 429 from one source ----
ip=$(nextip)
bdir=$(mktemp -d)
codes=$(burst "$AFFTOK_URL/c/$l_main" "$ip" 400 "$bdir")
contains "a burst from one address gets 429s" " 429" "$codes"
contains "and the first ones 302" " 302" "$codes"
BODY=$(grep -l RATE_LIMITED "$bdir"/b.* | head -n 1 | xargs cat)
eq "429 code" RATE_LIMITED "$(json 'd["error"]["code"]')"
# Header blocks of the 429 answers: each has Retry-After, none a click id.
blocks=$(tr -d '\r' <"$bdir/h" | awk -v RS= '/^HTTP\/1.1 429/')
eq "every 429 carries Retry-After" "$(grep -c '^HTTP/1.1 429' <<<"$blocks")" "$(grep -c '^Retry-After: 1' <<<"$blocks")"
eq "429 carries no click id" 0 "$(grep -ci '^X-Click-Id' <<<"$blocks")"
rm -rf "$bdir"
click "/c/$l_main" "$(nextip)"
eq "another address is not limited" 302 "$STATUS"

done_testing
