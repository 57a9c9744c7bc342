# Zero-drop: PostgreSQL stopped during 1,000 clicks (answered from the cache
# and the journal), restarted, ingested: exactly 1,000 rows, the same ids the
# clients got. Redis down during ingest: rows stored, events sent later.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/click-lib.sh"

o=$(mkoffer outage)
l=$(mklink "$o")
tag="outage-$RUNID"
out=$(mktemp -d)

# Warm every worker's cache (parallel, so each worker takes some).
seq 300 | xargs -P 12 -I{} curl -s -o /dev/null -A "$BROWSER_UA" -H "Accept-Language: en" \
	-H "X-Forwarded-For: 10.77.1.{}" "$AFFTOK_URL/c/$l?sub1=warm"
ingest

pg_stop() { as_pg "$(pgbin)/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1; }
pg_stop
check "PostgreSQL is down" bash -c "! psql -X -q -tA '$PGURI' -c 'SELECT 1' >/dev/null 2>&1"
# 1,000 clicks from 1,000 addresses, 8 at a time.
seq 1000 | xargs -P 8 -I{} sh -c 'curl -s -o /dev/null -D - -A "$4" -H "Accept-Language: en" -H "X-Forwarded-For: 10.78.$(({} / 250)).$(({} % 250 + 1))" \
	"$0/c/$1?sub1=$2&n={}" | tr -d "\r" | awk -v d="$3" "/^HTTP/{s=\$2} tolower(\$1)==\"x-click-id:\"{id=\$2} END{print s > (d \"/status.{}\"); if (id) print id > (d \"/id.{}\")}"' \
	"$AFFTOK_URL" "$l" "$tag" "$out" "$BROWSER_UA"
n302=$(cat "$out"/status.* | grep -c '^302$')
eq "all 1,000 clicks answered 302 with PostgreSQL down" 1000 "$n302"
cat "$out"/id.* | sort >"$out/received"
eq "1,000 distinct click ids received" 1000 "$(sort -u "$out/received" | wc -l)"
ctl ingest --once >/dev/null 2>&1
eq "ingest with PostgreSQL down: exit 75 (try later)" 75 "$?"
check "the journal holds them meanwhile" test -n "$(ls "$RUN/journal" | grep -E '\.(jnl|rdy)$')"

pg_up >/dev/null 2>&1
ingest
eq "exactly 1,000 rows after the restart" 1000 "$(sql "SELECT count(*) FROM clicks WHERE link_id = (SELECT id FROM links WHERE code = '$l') AND sub1 = '$tag'")"
sql "SELECT click_id FROM clicks WHERE sub1 = '$tag' ORDER BY 1" | sort >"$out/stored"
eq "stored ids are the received ids" "" "$(comm -3 "$out/received" "$out/stored" | head -3)"
ingest
eq "ingesting again adds nothing" 1000 "$(sql "SELECT count(*) FROM clicks WHERE sub1 = '$tag'")"

# ---- Redis down during ingest ----
rtag="redis-$RUNID"
redis-cli -s "$RUN/redis.sock" shutdown nosave >/dev/null 2>&1
sleep 0.3
for i in $(seq 20); do curl -s -o /dev/null -A "$BROWSER_UA" -H "Accept-Language: en" -H "X-Forwarded-For: 10.79.0.$i" "$AFFTOK_URL/c/$l?sub1=$rtag"; done
ingest
eq "Redis down: clicks still stored" 20 "$(sql "SELECT count(*) FROM clicks WHERE sub1 = '$rtag'")"
check "Redis down: events pending (published behind committed)" test "$(sql "SELECT count(*) FROM journal_segments WHERE published < committed")" -gt 0
redis_up >/dev/null
sleep 1.2
ingest
eq "Redis back: nothing pending" 0 "$(sql "SELECT count(*) FROM journal_segments WHERE published < committed")"
ids=$(sql "SELECT click_id FROM clicks WHERE sub1 = '$rtag'")
streamed=$(redis-cli -s "$RUN/redis.sock" xrevrange afftok:clicks + - COUNT 5000 | cut -f1 | grep -cFx -f <(echo "$ids"))
eq "Redis back: the 20 click events are in the stream" 20 "$streamed"
# An entry's format (README, "Click events"): n, columns, a line per click.
entry=$(redis-cli -s "$RUN/redis.sock" xrevrange afftok:clicks + - COUNT 1)
lines=$(sed -n '7,$p' <<<"$entry")
eq "stream entry: fields n, columns, clicks" "n columns clicks" "$(sed -n '2p;4p;6p' <<<"$entry" | paste -sd ' ')"
eq "stream entry: n is its number of lines" "$(sed -n 3p <<<"$entry")" "$(wc -l <<<"$lines")"
eq "stream entry: 11 columns" "click_id ts_ms tenant_id link_id offer_id affiliate_id billable unique reason country device" \
	"$(sed -n 5p <<<"$entry" | tr '\t' ' ')"
eq "stream entry: 11 values on every line" 11 "$(awk -F'\t' '{print NF}' <<<"$lines" | sort -u)"
first=$(head -n 1 <<<"$lines")
eq "stream entry: a click's values are its row's" \
	"$(sql "SELECT concat_ws(' ', click_id, round(date_part('epoch', created_at) * 1000), tenant_id, link_id, offer_id, affiliate_id,
	  CASE WHEN billable THEN 1 ELSE 0 END, CASE WHEN is_unique THEN 1 ELSE 0 END) FROM clicks WHERE click_id = '$(cut -f1 <<<"$first")'")" \
	"$(cut -f1-8 <<<"$first" | tr '\t' ' ')"

rm -rf "$out"
done_testing
