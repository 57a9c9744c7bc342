# Signed links count once: the earliest click on a token (code, ts, nonce)
# claims its nonce in the set of its link and ts (link_nonce_sets); later
# clicks on it, in the same batch or a later one, are replays. The same
# nonce signed at another second is another signed link. Claims made before
# the journal carried ts (version 1 records, in link_nonces) still count.
# A batch large enough for two parts keeps the rule exact.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/click-lib.sh"

o=$(mkoffer nonces); l=$(mklink "$o")
lid=$(sql "SELECT id FROM links WHERE code = '$l'")
now=$(date +%s)
r() { row "$1" "billable, coalesce(reason, '-')"; }
set_of() { sql "SELECT nonces FROM link_nonce_sets WHERE ts = $1 AND link_id = $lid"; }
# signed TS NONCE: clicks the link signed at TS with NONCE; prints the click id.
signed() {
	click "/c/$(ctl sign "$l" --ts "$1" --nonce "$2")" "$(nextip)"
	[ "$STATUS" = 302 ] && hdr X-Click-Id
}

# ---- one set per link and second ----
ts1=$((now - 30))
a=$(signed $ts1 "cc-$RUNID"); b=$(signed $ts1 "aa-$RUNID"); c=$(signed $ts1 "bb-$RUNID")
b2=$(signed $ts1 "aa-$RUNID")
ingest
eq "three tokens of one second: all billable" "t|- t|- t|-" "$(r "$a") $(r "$b") $(r "$c")"
eq "a replay in the same batch" "f|replay" "$(r "$b2")"
eq "one set, its nonces sorted, each once" "aa-$RUNID bb-$RUNID cc-$RUNID" "$(set_of $ts1)"
c2=$(signed $ts1 "bb-$RUNID"); c3=$(signed $ts1 "bb-$RUNID"); d=$(signed $ts1 "ab-$RUNID")
ingest
eq "replays of a token stored by an earlier batch" "f|replay f|replay" "$(r "$c2") $(r "$c3")"
eq "a new nonce of the same second: billable" "t|-" "$(r "$d")"
eq "merged into the set in order" "aa-$RUNID ab-$RUNID bb-$RUNID cc-$RUNID" "$(set_of $ts1)"
e=$(signed $((ts1 + 1)) "aa-$RUNID")
ingest
eq "the same nonce signed at another second: another signed link, billable" "t|-" "$(r "$e")"
eq "in the set of its own second" "aa-$RUNID" "$(set_of $((ts1 + 1)))"
f=$(signed $((ts1 + 1)) "aa-$RUNID")
ingest
eq "and that link replayed" "f|replay" "$(r "$f")"
eq "a set rewritten by hand out of order still answers" "t|- f|replay" "$(
	sql "UPDATE link_nonce_sets SET nonces = 'cc-$RUNID   aa-$RUNID bb-$RUNID' WHERE ts = $ts1 AND link_id = $lid" >/dev/null
	g=$(signed $ts1 "ba-$RUNID"); h=$(signed $ts1 "cc-$RUNID"); ingest; echo "$(r "$g") $(r "$h")")"
eq "and is written back in order" "aa-$RUNID ba-$RUNID bb-$RUNID cc-$RUNID" "$(set_of $ts1)"

# ---- claims from before the journal carried ts ----
# v1 FILE CREATED_AT_EPOCH NONCE...: a closed segment of version 1 records
# (no ts field), signed clicks on the link with a valid nonce each; prints
# their click ids.
v1() {
	local recs
	recs=$(python3 - "${@:2}" "$T" "$lid" "$o" "$AFF" <<'PY'
import random, string, sys, time
args = sys.argv[1:]
at, nonces, (t, lid, o, aff) = float(args[0]), args[1:-4], args[-4:]
N = '\\N'
for i, nonce in enumerate(nonces):
    cid = ''.join(random.choice(string.ascii_letters + string.digits) for _ in range(28))
    when = time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(at)) + '.%03d+00' % i
    print('\t'.join(['1', cid, when, t, lid, o, aff, '192.0.2.%d' % (i + 1), N, N, 'v1', N, N, N, N, N, N, N, N,
                     N, N, '%032x' % random.getrandbits(128), 't', nonce, 't', 't', N, N, N, N]))
PY
	)
	segment_file "$1" <<<"$recs"
	cut -f2 <<<"$recs"
}
# A claim of 2 hours ago: tokens signed since (+ 300 s skew) cannot be in
# link_nonces, so only older ones are looked up there.
sql "INSERT INTO link_nonces VALUES ($T, 'old-$RUNID', $lid, 'x', now() - interval '2 hours')" >/dev/null
eq "no later claim in link_nonces (this part's premise)" 0 \
	"$(sql "SELECT count(*) FROM link_nonces WHERE created_at > now() - interval '2 hours' + interval '1 s'")"
young=$(signed $((now - 60)) "old-$RUNID"); old=$(signed $((now - 3 * 3600)) "old-$RUNID")
ingest
eq "signed after the last old-style claim: billable" "t|-" "$(r "$young")"
eq "signed before it, nonce claimed in link_nonces: replay" "f|replay" "$(r "$old")"

ids=$(v1 "$RUN/journal/legacy-1-1-1.rdy" "$(($(date +%s) - 5))" "v1a-$RUNID" "v1b-$RUNID" "v1a-$RUNID")
ingest
eq "version 1 records are stored" 3 "$(sql "SELECT count(*) FROM clicks WHERE click_id IN ($(sed "s/.*/'&'/" <<<"$ids" | paste -sd,))")"
eq "their claims go to link_nonces by key; the repeat is a replay" "t|- t|- f|replay" \
	"$(for i in $ids; do r "$i"; done | paste -sd' ')"
eq "claims in link_nonces" 2 "$(sql "SELECT count(*) FROM link_nonces WHERE link_id = $lid AND nonce LIKE 'v1_-$RUNID'")"
p=$(signed $((now - 60)) "v1b-$RUNID")
ingest
eq "a version 2 click on a nonce a version 1 record claimed: replay" "f|replay" "$(r "$p")"
# Both kinds in one batch: the version 1 claim is made first, and seen.
ids=$(v1 "$RUN/journal/legacy-2-1-1.rdy" "$(($(date +%s) - 5))" "mix-$RUNID")
q=$(signed $((now - 60)) "mix-$RUNID")
ingest
eq "one batch, version 1 and 2 clicks on one nonce: the first billable, the other a replay" "t|- f|replay" \
	"$(r "$ids") $(r "$q")"
eq "segments done" "" "$(ls "$RUN/journal" | grep legacy-)"

# summary_diff LINK_IDS: rows where the click summaries (stats_click_pre,
# which the ingest writes itself when it stores into the day partitions)
# and the stored clicks grouped as the trigger on `clicks` groups them
# disagree; 0 when exact.
summary_diff() { sql "WITH raw AS (SELECT tenant_id, date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00:00+00'),
		offer_id, affiliate_id, link_id, country::text, device, route_dest, sub1, reason, count(*),
		count(*) FILTER (WHERE is_unique), count(*) FILTER (WHERE NOT billable)
		FROM clicks WHERE link_id IN ($1) GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
	pre AS (SELECT tenant_id, bucket, offer_id, affiliate_id, link_id, country, device, route_dest, sub1, reason,
		sum(clicks), sum(unique_clicks), sum(invalid_clicks)
		FROM stats_click_pre WHERE link_id IN ($1) GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	SELECT count(*) FROM ((TABLE raw EXCEPT TABLE pre) UNION ALL (TABLE pre EXCEPT TABLE raw)) x"; }

# gen_journal NAME N [CONF LINES]: N clicks of bench/ingest-gen (signed
# links, ~1 % replayed tokens) on 4 new links, in a journal of their own
# ($W/journal, with $W/afftok.conf, debug logging and the lines given);
# sets W, links (ingest-gen's LINK:OFFER:AFFILIATE list) and lids (the
# links' ids).
make -s -C "$BUILD" bench/ingest-gen >/dev/null
gen_journal() {
	W=$RUN/$1-$RUNID
	mkdir -p "$W/journal"
	{ sed -e "s|^dir = .*|dir = $W/journal|" -e "s|^log_level = .*|log_level = debug|" "$CONF"
	  printf '%s\n' "${@:3}"; } >"$W/afftok.conf"
	local li i
	links=
	for i in 1 2 3 4; do
		li=$(mklink "$o")
		links=${links:+$links,}$(sql "SELECT id FROM links WHERE code = '$li'"):$o:$AFF
	done
	lids=$(sed 's/:[0-9]*:[0-9]*//g' <<<"$links")
	"$BUILD/bench/ingest-gen" "$W/journal" "$2" "$(sed -n 's/^secret_key_file = //p' "$CONF")" "$T" "$links" 4 100
}
# check_replays: each token's first click (the earliest of the first batch
# holding one) on the links is the only one not a replay.
check_replays() {
	local stats
	stats=$(sql "SELECT count(*) FILTER (WHERE reason = 'replay'),
		count(*) FILTER (WHERE (reason = 'replay') <> (rn > 1))
		FROM (SELECT reason, row_number() OVER (PARTITION BY link_id, nonce ORDER BY ingested_at, created_at, click_id) rn
			FROM clicks WHERE link_id IN ($lids) AND signed) x")
	check "replays among them (${stats%%|*})" test "${stats%%|*}" -gt 100
	eq "every token's earliest click billable, every later one a replay" 0 "${stats##*|}"
}

# ---- a batch stored in two parts ----
# 30,000 clicks: a set's claims must stay in one part.
gen_journal nonces 30000
"$BUILD/afftokctl" -c "$W/afftok.conf" -v ingest --once >"$W/log" 2>&1
eq "ingest of 30,000 clicks: exit 0" 0 "$?"
eq "stored" 30000 "$(sql "SELECT count(*) FROM clicks WHERE link_id IN ($lids)")"
check_replays
check "stored in two parts" grep -q "records in two parts" "$W/log"
eq "into the day partitions" 0 "$(grep -c "stored through clicks, not into its partitions" "$W/log")"
eq "click summaries exact" 0 "$(summary_diff "$lids")"
rm -rf "$W"

# ---- batches read ahead, a run killed between them ----
# 60,000 clicks in batches of 25,000: while a full batch is stored the
# next one is read and decided beside it. The first run is killed before
# its second batch commits, when that batch's second part (its own
# connection) has committed already; the next run starts over from
# journal_segments, meets the clicks stored already (stored again through
# `clicks` with ON CONFLICT DO NOTHING, the summary trigger counting only
# the new ones). Every click is stored once, every segment is done (stored
# and published), the summaries are exact and the replay rule holds across
# batches.
gen_journal ahead 60000 '[cron]' 'ingest_batch = 25000'
AFFTOK_CRASH_POINT=ingest.before_commit:2 "$BUILD/afftokctl" -c "$W/afftok.conf" -v ingest --once >"$W/log1" 2>&1
eq "killed before the second batch commits" 137 "$?"
n=$(sql "SELECT count(*) FROM clicks WHERE link_id IN ($lids)")
check "the first batch and the second's second part stored ($n)" test "$n" -gt 25000 -a "$n" -lt 50000
check "the second batch was read beside the first" grep -q "reading the next batch beside this one's 25000 records" "$W/log1"
eq "click summaries exact" 0 "$(summary_diff "$lids")"
"$BUILD/afftokctl" -c "$W/afftok.conf" -v ingest --once >"$W/log2" 2>&1
eq "the next run: exit 0" 0 "$?"
check "it read ahead too" grep -q "(ahead, beside the pass before)" "$W/log2"
check "the part stored already went through clicks" grep -q "stored through clicks, not into its partitions" "$W/log2"
eq "every click stored once" "60000|60000" "$(sql "SELECT count(*), count(DISTINCT click_id) FROM clicks WHERE link_id IN ($lids)")"
eq "click summaries still exact" 0 "$(summary_diff "$lids")"
check_replays
eq "every segment done (stored and published) and deleted" "" "$(ls "$W/journal" | grep -E '\.(rdy|jnl)$')"
rm -rf "$W"

# ---- events and segments across passes, Redis away or a run killed ----
# Full batches of 15,000 (the next one read beside each). First a run with
# Redis unreachable: every click stored, no event sent, no segment marked
# published or deleted (a batch read ahead on offsets taken as published
# is not used). The next run sends them all. Then a run
# killed after its first pass's events went out, before that pass was
# marked: the next run sends the rest (the first pass's again: the stream
# is at-least-once) and finishes every segment.
rcli() { redis-cli -s "$RUN/redis.sock" "$@"; }
in_stream() { # FILE: how many of the click ids in FILE afftok:clicks holds (README, "Click events")
	rcli xrevrange afftok:clicks + - COUNT 2000 | cut -f1 | grep -Fx -f "$1" | sort -u | wc -l
}
gen_journal beside 40000 '[cron]' 'ingest_batch = 15000'
sed -e '$a[redis]' -e "\$asocket = $W/no-redis.sock" "$W/afftok.conf" >"$W/no-redis.conf"
"$BUILD/afftokctl" -c "$W/no-redis.conf" -v ingest --once >"$W/log0" 2>&1
eq "Redis unreachable: exit 0" 0 "$?"
check "the next batch read beside each full one" grep -q "reading the next batch beside" "$W/log0"
eq "Redis unreachable: every click stored once" "40000|40000" \
	"$(sql "SELECT count(*), count(DISTINCT click_id) FROM clicks WHERE link_id IN ($lids)")"
sql "SELECT click_id FROM clicks WHERE link_id IN ($lids)" >"$W/ids0"
eq "Redis unreachable: no event in the stream" 0 "$(in_stream "$W/ids0")"
segs=$(ls "$W/journal" | sed -n "s/^\(.*\)\.\(rdy\|jnl\)\$/'\1'/p" | paste -sd,)
check "Redis unreachable: the segments kept" test -n "$segs"
eq "Redis unreachable: none marked published" "0|0" \
	"$(sql "SELECT count(*) FILTER (WHERE committed = 0), count(*) FILTER (WHERE published > 0)
		FROM journal_segments WHERE name IN (${segs:-''})")"
"$BUILD/afftokctl" -c "$W/afftok.conf" -v ingest --once >"$W/log1" 2>&1
eq "Redis back: exit 0" 0 "$?"
eq "Redis back: every event sent" 40000 "$(in_stream "$W/ids0")"
eq "Redis back: every segment done and deleted" "" "$(ls "$W/journal" | grep -E '\.(rdy|jnl)$')"
eq "Redis back: no click stored twice" "40000|40000" \
	"$(sql "SELECT count(*), count(DISTINCT click_id) FROM clicks WHERE link_id IN ($lids)")"
rm -rf "$W"
gen_journal beside-kill 40000 '[cron]' 'ingest_batch = 15000'
AFFTOK_CRASH_POINT=ingest.after_publish:1 "$BUILD/afftokctl" -c "$W/afftok.conf" -v ingest --once >"$W/log1" 2>&1
eq "killed after the first pass's events, before its mark" 137 "$?"
eq "the first pass committed by then" 15000 "$(sql "SELECT count(*) FROM clicks WHERE link_id IN ($lids)")"
"$BUILD/afftokctl" -c "$W/afftok.conf" -v ingest --once >"$W/log2" 2>&1
eq "the next run: exit 0" 0 "$?"
eq "every click stored once" "40000|40000" \
	"$(sql "SELECT count(*), count(DISTINCT click_id) FROM clicks WHERE link_id IN ($lids)")"
sql "SELECT click_id FROM clicks WHERE link_id IN ($lids)" >"$W/ids"
eq "every event sent (at least once)" 40000 "$(in_stream "$W/ids")"
eq "every segment done and deleted" "" "$(ls "$W/journal" | grep -E '\.(rdy|jnl)$')"
eq "click summaries exact" 0 "$(summary_diff "$lids")"
rm -rf "$W"

# ---- a backlog far older than the duplicate window ----
# A web host's journal replayed after an outage, while the other hosts went
# on: its clicks are two hours old and the window of the run before covers
# the last minutes. Only the minutes around the old clicks are loaded (in a
# window of their own), not the two hours stored between them and now, and
# the duplicate rule still holds across the old batches: the second backlog
# repeats the first one's visitors (a pool of 20 addresses) within 60 s.
gen_journal far 2000
"$BUILD/afftokctl" -c "$W/afftok.conf" -v ingest --once >"$W/log0" 2>&1
eq "current clicks: exit 0" 0 "$?"
check "a window file left for the next run" test -s "$W/journal/.ingest-window"
backlog() { # LOG: 1,000 clicks of two hours ago, ingested
	INGEST_GEN_VISITORS=20 "$BUILD/bench/ingest-gen" "$W/journal" 1000 \
		"$(sed -n 's/^secret_key_file = //p' "$CONF")" "$T" "$links" 4 100 7200000 &&
		"$BUILD/afftokctl" -c "$W/afftok.conf" -v ingest --once >"$W/$1" 2>&1
}
backlog log1
eq "first backlog: exit 0" 0 "$?"
eq "first backlog: only the window around its clicks loaded" \
	"$(grep -c 'duplicate window.* loaded' "$W/log1")" "$(grep -c 'far older than it) loaded' "$W/log1")"
check "first backlog: loaded around its clicks" grep -q 'far older than it) loaded' "$W/log1"
backlog log2
eq "second backlog: exit 0" 0 "$?"
eq "second backlog: one window loaded" 1 "$(grep -c 'duplicate window.* loaded' "$W/log2")"
eq "second backlog: around its clicks, the first backlog's 1000 clicks" \
	"far older than it) loaded 1000 clicks" \
	"$(grep -o 'duplicate window.* loaded [0-9]* clicks' "$W/log2" | grep -o 'far.*')"
eq "every click stored once" "4000|4000" "$(sql "SELECT count(*), count(DISTINCT click_id) FROM clicks WHERE link_id IN ($lids)")"
# The rule recomputed from the stored rows (as bench/ingest.sh does): a
# click is a duplicate when a click of its fingerprint within the 60 s
# before it was stored by an earlier batch or comes before it in its own.
dups=$(sql "CREATE TEMP TABLE b AS SELECT click_id, created_at, ingested_at, fingerprint, is_unique
		FROM clicks WHERE link_id IN ($lids);
	CREATE INDEX ON b (fingerprint); ANALYZE b;
	SELECT count(*) FILTER (WHERE dup <> NOT is_unique), count(*) FILTER (WHERE dup AND NOT own)
	FROM (SELECT c.is_unique,
		EXISTS (SELECT 1 FROM b d WHERE d.fingerprint = c.fingerprint AND d.click_id <> c.click_id
			AND d.created_at BETWEEN c.created_at - interval '60 s' AND c.created_at
			AND (d.ingested_at < c.ingested_at OR (d.ingested_at = c.ingested_at
				AND (d.created_at, d.click_id) < (c.created_at, c.click_id)))) AS dup,
		EXISTS (SELECT 1 FROM b d WHERE d.fingerprint = c.fingerprint AND d.click_id <> c.click_id
			AND d.created_at BETWEEN c.created_at - interval '60 s' AND c.created_at
			AND d.ingested_at = c.ingested_at AND (d.created_at, d.click_id) < (c.created_at, c.click_id)) AS own
		FROM b c) x")
eq "the duplicate rule holds for every click" 0 "${dups%%|*}"
check "duplicates decided by the far window alone (${dups##*|})" test "${dups##*|}" -gt 50
rm -rf "$W"
done_testing
