# Chaos: during a wrk load on a valid link, SIGKILL every FastCGI worker,
# then kill Redis, then stop PostgreSQL at once; restart; ingest. Every
# X-Click-Id a client received is a row, and the only rows no client saw are
# clicks whose answer never reached wrk: those in flight in a killed worker
# (journalled, answer cut off; at most one per worker) and those in flight
# when wrk stops (it closes its connections without reading the answers; at
# most one per connection).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/click-lib.sh"

o=$(mkoffer chaos)
l=$(mklink "$o")
tok=$(ctl sign "$l" --ttl 3600)
out=$(mktemp -d)
cat >"$out/chaos.lua" <<'LUA'
local n = 0
function setup(thread) n = n + 1; thread:set("tid", n) end
function init(args)
  f = io.open(os.getenv("CHAOS_OUT") .. "/ids." .. tid, "w")
  f:setvbuf("line")
  math.randomseed(tid * 7919 + os.time())
end
function request()
  local ip = "10." .. math.random(100, 199) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
  return wrk.format("GET", nil, {["X-Forwarded-For"] = ip, ["Accept-Language"] = "en",
    ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"})
end
function response(status, headers, body)
  local c = headers["X-Click-Id"]
  if c then f:write(c, "\n") end
end
LUA
# Warm the caches, then the load.
seq 200 | xargs -P 12 -I{} curl -s -o /dev/null -A "$BROWSER_UA" -H "Accept-Language: en" \
	-H "X-Forwarded-For: 10.90.0.{}" "$AFFTOK_URL/c/$tok"
sql "SELECT count(*) FROM clicks" >/dev/null
conns=16
CHAOS_OUT=$out wrk -t2 -c$conns -d10s -s "$out/chaos.lua" "$AFFTOK_URL/c/$tok" >"$out/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 3
# Anchored: the supervisor's own command line names the worker too.
workers=$(pgrep -f "^$BUILD/afftok-fcgi -c $CONF" | tr '\n' ' ')
nkilled=$(wc -w <<<"$workers")
kill_ms=$(date +%s%3N)
kill -9 $workers 2>/dev/null
sleep 1
kill -9 "$(cat "$RUN/redis.pid")" 2>/dev/null
as_pg "$(pgbin)/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1
wait "$wrk_pid"
end_ms=$(date +%s%3N)
restarted() { pgrep -f "^$BUILD/afftok-fcgi -c $CONF" | grep -vxF -f <(tr ' ' '\n' <<<"$workers"); }
for _ in $(seq 20); do [ -n "$(restarted)" ] && break; sleep 0.5; done
sup=$(cat "$RUN/fcgi.pid" 2>/dev/null)
check "workers were restarted by the supervisor (supervisor $sup $(kill -0 "$sup" 2>/dev/null && echo alive || echo gone))" test -n "$(restarted)"
fcgi_up >/dev/null 2>&1 # in case the pool itself did not survive
rm -f "$RUN/redis.pid"
redis_up >/dev/null
pg_up >/dev/null 2>&1
sleep 1.2
ingest; ingest
cat "$out"/ids.* | sort >"$out/received"
nrecv=$(wc -l <"$out/received")
check "clients received click ids ($nrecv; wrk: $(grep -o '[0-9]* requests' "$out/wrk.txt"))" test "$nrecv" -gt 100
eq "no click id received twice" "$nrecv" "$(sort -u "$out/received" | wc -l)"
lid=$(sql "SELECT id FROM links WHERE code = '$l'")
sql "SELECT click_id FROM clicks WHERE link_id = $lid AND created_at > now() - interval '10 minutes'" | sort >"$out/stored"
# The warm-up clicks are stored too; drop what was stored before the load.
missing=$(comm -23 "$out/received" "$out/stored" | wc -l)
eq "every received X-Click-Id is a row (none lost)" 0 "$missing"
# Unseen rows (the 200 warm-up clicks aside), by when they were made.
comm -13 "$out/received" "$out/stored" >"$out/unseen"
sql "SELECT (extract(epoch FROM created_at) * 1000)::bigint FROM clicks WHERE link_id = $lid
	AND created_at > now() - interval '10 minutes' AND sub1 IS NULL AND host(ip) NOT LIKE '10.90.0.%'
	AND click_id IN ($(sed "s/.*/'&'/" "$out/unseen" | paste -sd, | sed 's/^$/NULL/'))" >"$out/unseen_ms"
at_kill=$(awk -v k="$kill_ms" '$1 > k - 1500 && $1 < k + 1500' "$out/unseen_ms" | wc -l)
at_end=$(awk -v k="$kill_ms" -v e="$end_ms" '!($1 > k - 1500 && $1 < k + 1500) && $1 > e - 2500' "$out/unseen_ms" | wc -l)
other=$(( $(wc -l <"$out/unseen_ms") - at_kill - at_end ))
check "unseen rows at the kill: $at_kill, at most one per killed worker ($nkilled)" test "$at_kill" -le "$nkilled"
check "unseen rows when wrk stopped: $at_end, at most one per connection ($conns)" test "$at_end" -le "$conns"
eq "no other row unseen by the clients" 0 "$other"
eq "nothing left in the journal" "" "$(ls "$RUN/journal" | grep '\.rdy$')"
eq "no segment pending" 0 "$(sql "SELECT count(*) FROM journal_segments WHERE published < committed OR committed = 0")"
# Recovery without manual action: every worker (the restarted ones
# included) answers healthy again within seconds of the dependencies.
check "healthy again after the chaos (8 answers in a row within 15 s)" healthy 8 15
rm -rf "$out"
done_testing
