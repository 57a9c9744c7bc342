# The fault matrix, on real processes: a FastCGI pool and nginx of its own
# beside the stack, reaching Redis and PostgreSQL through a TCP proxy that
# can delay, hang (blackhole) and reset (tests/integration/faultproxy.py).
#  a. Redis hangs under click load: clicks keep answering 302 with p99 <
#     50 ms; after it, every answered click is ingested exactly once.
#  b. Redis connections reset, then delayed 200 ms: the same.
#  c. PostgreSQL delayed, reset, then hung during postbacks and ingest:
#     every acknowledged postback is stored exactly once, no worker stays
#     stuck, everything recovers by itself.
#  d. The journal's disk fills up (a small tmpfs) while clicks arrive:
#     clicks are kept in the workers' memory (/admin/health says so) and
#     written when space returns; every answered click is stored once. With
#     the memory spill exhausted too, clicks get 503, never a redirect
#     without a record.
#  e. Every cron job SIGKILLed at each of its crash points (src/crashpoint.h),
#     then run again: clicks and conversions exactly once, affiliate
#     postbacks and webhooks at least once and never fanned out twice,
#     aggregates equal to a rebuild from raw data.
#  f. A slowloris (hundreds of connections sending headers a byte at a
#     time) against nginx: clicks still answered quickly, and nginx drops
#     the slow connections after client_header_timeout.
# FAULTS_ONLY="a c" runs some of the cases (development).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/click-lib.sh"
. "$(dirname "$0")/conv-lib.sh"

FT=$RUN/faults
RPROXY=$(side_port 10) PGPROXY=$(side_port 11) FRONT_PORT=$(side_port 12)
FURL=http://127.0.0.1:$FRONT_PORT
FCONF=$FT/afftok.conf
PROXY="python3 $top/tests/integration/faultproxy.py"
LOAD="python3 $top/tests/integration/faultload.py"
only() { [ -z "${FAULTS_ONLY:-}" ] || [[ " $FAULTS_ONLY " == *" $1 "* ]]; }
cleanup() {
	[ -f "$FT/nginx/nginx.pid" ] && nginx -c "$FT/nginx/nginx.conf" -s stop 2>/dev/null
	kill_pidfile "$FT/fcgi.pid"
	for p in "$FT"/proxy-*.pid; do kill_pidfile "$p"; done
	mountpoint -q "$FT/journal" && umount -l "$FT/journal"
}
trap cleanup EXIT
cleanup
rm -rf "$FT"
mkdir -p "$FT/journal" "$FT/nginx/tmp"
chmod 755 "$RUN" "$FT"

# ---- the proxies, the pool's configuration, the pool and its nginx ----
proxy_up() { # NAME PORT TARGET
	$PROXY serve "$2" "$3" "$FT/$1.ctl" 2>>"$LOG/faultproxy.log" &
	echo $! >"$FT/proxy-$1.pid"
	for _ in $(seq 50); do [ -S "$FT/$1.ctl" ] && return 0; sleep 0.1; done
	return 1
}
pset() { $PROXY set "$FT/$1.ctl" "${@:2}" >/dev/null; }
check "Redis proxy up" proxy_up redis "$RPROXY" "unix:$RUN/redis.sock"
check "PostgreSQL proxy up" proxy_up pg "$PGPROXY" "127.0.0.1:$PGPORT"

# The stack's configuration with Redis and PostgreSQL through the proxies
# and a journal of its own (later keys win).
write_fconf() { # extra lines
	{
		cat "$CONF"
		printf '[redis]\nsocket =\nhost = 127.0.0.1\nport = %s\n' "$RPROXY"
		printf '[database]\nconninfo = host=127.0.0.1 port=%s dbname=afftok user=afftok\n' "$PGPROXY"
		printf '[journal]\ndir = %s\n' "$FT/journal"
		printf '[click]\nstate_file = %s\n' "$FT/state.shm"
		printf '%s\n' "$@"
	} >"$FCONF"
}
write_fconf
side_nginx "$FT" "$FRONT_PORT" -e "s|# set_real_ip_from 10.0.0.0/8;|set_real_ip_from 127.0.0.1;|" \
	-e "s|# real_ip_header X-Forwarded-For;|real_ip_header X-Forwarded-For;|"
NW=3
pool_up() {
	kill_pidfile "$FT/fcgi.pid"
	rm -f "$FT/fcgi.sock"
	spawn-fcgi -s "$FT/fcgi.sock" -M 0666 -P "$FT/fcgi.pid" -- \
		/bin/sh -c "exec \"\$0\" \"\$@\" 2>>$LOG/faults-fcgi.log" \
		/usr/bin/multiwatch -f $NW -r 1000 -t 1000 -s TERM -- \
		"$BUILD/afftok-fcgi" -c "$FCONF" -L >>"$LOG/faults-fcgi.log" 2>&1
	for _ in $(seq 100); do curl -fs -o /dev/null "$FURL/health" && return 0; sleep 0.1; done
	return 1
}
check "the fault pool answers" pool_up
workers() { pgrep -f "^$BUILD/afftok-fcgi -c $FCONF" | sort -n; }
ctlf() { "$BUILD/afftokctl" -c "$FCONF" "$@"; }
fingest() { ctlf ingest --once >/dev/null 2>>"$LOG/integration.log"; }

o=$(mkoffer faults)
l=$(mklink "$o")
lid=$(sql "SELECT id FROM links WHERE code = '$l'")
W=$(mktemp -d)
# Warm every worker's link cache.
seq 60 | xargs -P 6 -I{} curl -s -o /dev/null -A "$BROWSER_UA" -H "Accept-Language: en" \
	-H "X-Forwarded-For: 10.55.0.{}" "$FURL/c/$l?sub1=warm"

# p99 FILE FROM_MS TO_MS: the 99th percentile latency (ms) of the requests
# started in [FROM, TO], and how many there were: "p99 n".
p99() {
	awk -F '\t' -v a="$2" -v b="$3" '$1 >= a && $1 <= b { print $2 }' "$1" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR == 0) { print "none 0"; exit } i = int(NR * 0.99); if (i < 1) i = 1; print v[i], NR }'
}
# stored_once FILE: of the click ids in FILE (4th column of 302 lines), how
# many are stored exactly once: "distinct stored_once".
stored_once() {
	awk -F '\t' '$3 == 302 && $4 != "" { print $4 }' "$1" | sort -u >"$1.ids"
	local n
	n=$(wc -l <"$1.ids")
	if [ "$n" = 0 ]; then echo "0 0"; return; fi
	echo "$n $(sql "SELECT count(*) FROM (SELECT click_id FROM clicks WHERE link_id = $lid
		AND click_id = ANY ('{$(paste -sd, "$1.ids")}'::text[]) GROUP BY click_id HAVING count(*) = 1) s")"
}
# idle_workers SECONDS: every worker of the pool is back in accept(2)
# (waiting for a request, not stuck in a call) within SECONDS.
idle_workers() {
	local end=$(($(date +%s) + $1)) p busy
	while [ "$(date +%s)" -lt "$end" ]; do
		busy=0
		for p in $(workers); do
			[ "$(cut -d' ' -f1 "/proc/$p/syscall" 2>/dev/null)" = 43 ] || busy=1
		done
		[ "$busy" = 0 ] && return 0
		sleep 0.5
	done
	for p in $(workers); do echo "worker $p: syscall $(cut -d' ' -f1 "/proc/$p/syscall")" >&2; done
	return 1
}

# redis_case NAME MODE [ARG]: 10 s of clicks at 100/s; the fault from 2 s
# to 7 s; clicks must keep flowing and stay fast, then all be stored.
redis_case() {
	local name=$1 out=$W/redis-$1
	shift
	$LOAD click "$FURL/c/$l?sub1=redis-$name" 10 100 4 "$out" &
	local load=$!
	sleep 2
	local from
	from=$(date +%s%3N)
	pset redis "$@"
	sleep 5
	local to
	to=$(date +%s%3N)
	pset redis pass
	wait "$load"
	local total ok
	total=$(wc -l <"$out")
	ok=$(awk -F '\t' '$3 == 302' "$out" | wc -l)
	check "Redis $name: $total clicks sent, all answered 302 ($ok)" test "$total" -gt 900 -a "$ok" = "$total"
	read -r p n < <(p99 "$out" "$from" "$to")
	check "Redis $name: p99 of the $n clicks during the fault ${p} ms < 50 ms" \
		awk "BEGIN { exit !(\"$p\" != \"none\" && $p < 50) }"
	read -r p n < <(p99 "$out" 0 "$from")
	echo "# Redis $name: p99 before the fault ${p} ms ($n clicks)" >&2
	fingest
	fingest
	read -r n once < <(stored_once "$out")
	check "Redis $name: every answered click stored exactly once ($once of $n)" test "$n" -gt 0 -a "$n" = "$once"
	check "Redis $name: healthy again" healthy 5 20 "$FURL"
}

if only a; then
	redis_case hang blackhole
fi
if only b; then
	redis_case reset reset
	redis_case delay delay 200
fi

# ---- c. PostgreSQL: delay, resets, a hang, during postbacks and ingest ----
if only c; then
	[ -x "$BUILD/tests/tools/fixture" ] || make -C "$BUILD" -s tests/tools/fixture >/dev/null
	KEY=$("$BUILD/tests/tools/fixture" "$CONF" key "$T" advertiser "$ADV")
	seq 40 | xargs -P 4 -I{} curl -s -o /dev/null -A "$BROWSER_UA" -H "Accept-Language: en" \
		-H "X-Forwarded-For: 10.56.0.{}" "$FURL/c/$l?sub1=pgc-seed"
	fingest
	sql "SELECT click_id FROM clicks WHERE link_id = $lid AND sub1 = 'pgc-seed'" >"$W/pg-clicks"
	check "PostgreSQL: clicks to convert ($(wc -l <"$W/pg-clicks"))" test "$(wc -l <"$W/pg-clicks")" -ge 30
	tx="pgc$RUNID"
	# 36 s of postbacks (20/s) and clicks (40/s); ingest every second.
	$LOAD postback "$FURL/postback" 36 20 6 "$W/pg-pb" "$KEY" "$W/pg-clicks" "$tx" &
	pbl=$!
	$LOAD click "$FURL/c/$l?sub1=pgc-load" 36 40 2 "$W/pg-click" &
	cll=$!
	(for _ in $(seq 40); do fingest; sleep 1; done) &
	ing=$!
	sleep 3; pset pg delay 200
	sleep 6; pset pg pass
	sleep 4; pset pg reset
	sleep 4; pset pg pass
	sleep 3
	hang_from=$(date +%s)
	pset pg blackhole
	sleep 10
	pset pg pass
	wait "$pbl" "$cll"
	echo "# postbacks: $(cut -f3 "$W/pg-pb" | sort | uniq -c | tr '\n' ' ')" >&2
	echo "# clicks: $(cut -f3 "$W/pg-click" | sort | uniq -c | tr '\n' ' ')" >&2
	read -r p n < <(p99 "$W/pg-click" $((hang_from * 1000)) $(((hang_from + 10) * 1000)))
	echo "# clicks during the PostgreSQL hang: p99 $p ms ($n)" >&2
	echo "# postbacks: max latency $(cut -f2 "$W/pg-pb" | sort -n | tail -n 1) ms" >&2
	check "PostgreSQL: the pool is back within 30 s of the hang (healthy)" healthy 5 30 "$FURL"
	check "PostgreSQL: no worker stuck (all back in accept)" idle_workers 30
	wait "$ing"
	ctlf match --once >/dev/null 2>>"$LOG/integration.log"
	fingest
	acked=$(awk -F '\t' '$3 ~ /^20[02]$/' "$W/pg-pb" | wc -l)
	check "PostgreSQL: postbacks acknowledged during the faults ($acked of $(wc -l <"$W/pg-pb"))" test "$acked" -gt 100
	awk -F '\t' '$3 ~ /^20[02]$/ { print $4 }' "$W/pg-pb" | sort -u >"$W/pg-acked"
	once=$(sql "SELECT count(*) FROM (SELECT transaction_id FROM conversions WHERE tenant_id = $T
		AND transaction_id = ANY ('{$(paste -sd, "$W/pg-acked")}'::text[]) GROUP BY 1 HAVING count(*) = 1) s")
	eq "PostgreSQL: every acknowledged postback stored exactly once" "$(wc -l <"$W/pg-acked")" "$once"
	eq "PostgreSQL: no pending postback left unresolved" 0 \
		"$(sql "SELECT count(*) FROM pending_postbacks WHERE resolved_at IS NULL AND params->>'transaction_id' LIKE '$tx-%'")"
	read -r n once < <(stored_once "$W/pg-click")
	check "PostgreSQL: every answered click stored exactly once ($once of $n)" test "$n" -gt 0 -a "$n" = "$once"
	late=$(awk -F '\t' -v h="$hang_from" '$1 >= (h + 16) * 1000 && $3 != 302' "$W/pg-click" | wc -l)
	eq "PostgreSQL: clicks answered 302 again after the hang" 0 "$late"
	grep -q "no answer within" "$LOG/faults-fcgi.log" && echo "# the hang guard cut off $(grep -c 'no answer within' "$LOG/faults-fcgi.log") statements" >&2
fi

# ---- d. the journal's disk fills up ----
if only d; then
	loss0=$(grep -c 'JOURNAL LOSS' "$LOG/faults-fcgi.log")
	mount -t tmpfs -o size=512k afftok-faults "$FT/journal"
	check "a 512 KiB tmpfs under the journal" mountpoint -q "$FT/journal"
	pool_up >/dev/null # the workers open their segments on the new file system
	seq 30 | xargs -P 3 -I{} curl -s -o /dev/null -A "$BROWSER_UA" -H "Accept-Language: en" \
		-H "X-Forwarded-For: 10.57.0.{}" "$FURL/c/$l?sub1=disk-warm"
	dd if=/dev/zero of="$FT/journal/filler" bs=4k 2>/dev/null
	check "the disk is full" test "$(df --output=avail -B1 "$FT/journal" | tail -n 1)" -lt 4096
	$LOAD click "$FURL/c/$l?sub1=disk-full" 5 100 4 "$W/disk"
	total=$(wc -l <"$W/disk")
	eq "disk full: every click answered 302 ($total)" "$total" "$(awk -F '\t' '$3 == 302' "$W/disk" | wc -l)"
	sp=0
	for _ in $(seq 12); do
		BODY=$(curl -s -H "X-API-Key: $AFFTOK_ADMIN_KEY" "$FURL/admin/health")
		[ "$(json 'd["journal"]["status"]')" = spilling ] && sp=$((sp + 1))
	done
	check "disk full: /admin/health says the journal is spilling ($sp of 12 answers)" test "$sp" -gt 0
	echo "# health: $(json 'd["journal"]')" >&2
	fingest
	rm -f "$FT/journal/filler"
	sleep 0.2
	# Later clicks write what each worker kept, before themselves.
	$LOAD click "$FURL/c/$l?sub1=disk-after" 2 50 4 "$W/disk-after"
	fingest
	fingest
	cat "$W/disk-after" >>"$W/disk"
	read -r n once < <(stored_once "$W/disk")
	check "disk full: every answered click stored exactly once ($once of $n)" test "$n" -gt 400 -a "$n" = "$once"
	sp=0
	for _ in $(seq 6); do
		BODY=$(curl -s -H "X-API-Key: $AFFTOK_ADMIN_KEY" "$FURL/admin/health")
		[ "$(json 'd["journal"]["spill_records"]')" = 0 ] || sp=$((sp + 1))
	done
	eq "disk free again: nothing left in memory" 0 "$sp"
	eq "no click lost (JOURNAL LOSS in the log)" "$loss0" "$(grep -c 'JOURNAL LOSS' "$LOG/faults-fcgi.log")"

	# The memory spill exhausted too: 503 and Retry-After, no redirect
	# without a record ([journal] refuse_unrecorded, the default).
	write_fconf '[journal]' 'spill_max_bytes = 8192'
	pool_up >/dev/null
	dd if=/dev/zero of="$FT/journal/filler" bs=4k 2>/dev/null
	$LOAD click "$FURL/c/$l?sub1=disk-refused" 3 100 4 "$W/refused"
	n302=$(awk -F '\t' '$3 == 302' "$W/refused" | wc -l)
	n503=$(awk -F '\t' '$3 == 503' "$W/refused" | wc -l)
	check "spill full: some clicks kept ($n302 answered 302), the rest refused with 503 ($n503)" \
		test "$n302" -gt 0 -a "$n503" -gt 0 -a $((n302 + n503)) = "$(wc -l <"$W/refused")"
	rm -f "$FT/journal/filler"
	$LOAD click "$FURL/c/$l?sub1=disk-after" 2 50 4 "$W/refused-after"
	fingest
	fingest
	read -r n once < <(stored_once "$W/refused")
	check "spill full: every click answered 302 is stored exactly once ($once of $n)" test "$n" -gt 0 -a "$n" = "$once"
	eq "spill full: none of the refused clicks is stored" 0 "$(sql "SELECT count(*) FROM clicks WHERE link_id = $lid AND sub1 = 'disk-refused'" | awk -v k="$n" '{ print $1 - k }')"
	write_fconf
	pool_up >/dev/null
	umount -l "$FT/journal"
fi

# ---- e. every cron job SIGKILLed at each of its crash points ----
if only e; then
	[ -x "$BUILD/tests/tools/fixture" ] || make -C "$BUILD" -s tests/tools/fixture tests/tools/clickids >/dev/null
	KEY=$(fixture key "$T" advertiser "$ADV")
	rcli() { redis-cli -s "$RUN/redis.sock" "$@"; }
	# crash JOB POINT [ARGS]: the job must die by SIGKILL at POINT.
	crash() {
		local job=$1 point=$2
		shift 2
		env AFFTOK_CRASH_POINT="$point" "$BUILD/afftokctl" -c "$CONF" "$job" "$@" >/dev/null 2>>"$LOG/integration.log"
		eq "crash point $point: $job killed there" 137 "$?"
	}
	run() { ctl "$@" >/dev/null 2>>"$LOG/integration.log"; }
	# mclicks N SUB1 LINK: N clicks through the stack; their ids on stdout.
	mclicks() {
		seq "$1" | xargs -P 4 -I{} curl -s -o /dev/null -w '%header{x-click-id}\n' -A "$BROWSER_UA" \
			-H "Accept-Language: en" -H "X-Forwarded-For: 10.58.$((RANDOM % 250)).{}" \
			"$AFFTOK_URL/c/$3?sub1=$2" | grep .
	}
	once_ids() { # FILE: how many of its click ids are stored exactly once
		sql "SELECT count(*) FROM (SELECT click_id FROM clicks WHERE click_id = ANY ('{$(paste -sd, "$1")}'::text[])
			GROUP BY 1 HAVING count(*) = 1) s"
	}
	in_stream() { # STREAM FILE: how many of the ids in FILE the stream holds
		# afftok:clicks packs clicks into entries, a line each (README, "Click events")
		rcli xrevrange "$1" + - COUNT 20000 | cut -f1 | grep -Fx -f "$2" | sort -u | wc -l
	}
	ml=$(mklink "$o")
	mlid=$(sql "SELECT id FROM links WHERE code = '$ml'")

	# Ingest: killed with rows written but not committed, committed but
	# the events not sent, sent but not marked; then a normal run.
	for p in before_commit after_commit after_publish; do
		mclicks 20 "crash-$p" "$ml" >"$W/e-$p"
		crash ingest "ingest.$p" --once
		run ingest --once
		run ingest --once
		eq "ingest.$p: every click stored exactly once" 20 "$(once_ids "$W/e-$p")"
		eq "ingest.$p: every click event in the stream (at least once)" 20 "$(in_stream afftok:clicks "$W/e-$p")"
	done
	# Killed before deleting a finished segment: segments of dead workers
	# count as closed, so kill the pool's workers first.
	mclicks 20 crash-unlink "$ml" >"$W/e-unlink"
	kill -9 $(pgrep -f "^$BUILD/afftok-fcgi -c $CONF") 2>/dev/null
	sleep 1
	crash ingest ingest.before_unlink --once
	run ingest --once
	eq "ingest.before_unlink: every click stored exactly once" 20 "$(once_ids "$W/e-unlink")"
	eq "ingest.before_unlink: no segment left pending" 0 \
		"$(sql "SELECT count(*) FROM journal_segments WHERE published < committed")"
	check "ingest.before_unlink: the stack answers again" wait_http

	# Match: postbacks that arrived before their click (202), matched by a
	# run killed before its commit, then by a normal run.
	mclicks 10 crash-match "$ml" >"$W/e-match"
	tx="cm$RUNID"
	n202=0
	while read -r cid; do
		pb "$KEY" "click_id=$cid&transaction_id=$tx-$cid&amount=5.00"
		[ "$STATUS" = 202 ] && n202=$((n202 + 1))
	done <"$W/e-match"
	eq "match: 10 postbacks pending their click (202)" 10 "$n202"
	run ingest --once
	sql "UPDATE pending_postbacks SET next_try_at = now() WHERE resolved_at IS NULL
		AND params->>'transaction_id' LIKE '$tx-%'" >/dev/null # skip the backoff
	crash match match.before_commit --once
	run match --once
	eq "match.before_commit: each pending postback one conversion" 10 \
		"$(sql "SELECT count(DISTINCT transaction_id) FILTER (WHERE n = 1) FROM (SELECT transaction_id, count(*) n FROM conversions
			WHERE tenant_id = $T AND transaction_id LIKE '$tx-%' GROUP BY 1) s")"
	eq "match.before_commit: none left unresolved" 0 \
		"$(sql "SELECT count(*) FROM pending_postbacks WHERE resolved_at IS NULL AND params->>'transaction_id' LIKE '$tx-%'")"

	# Events: killed with the events in the stream but not marked.
	crash events events.after_xadd --once
	run events --once
	eq "events.after_xadd: nothing left to publish" 0 "$(sql "SELECT count(*) FROM event_outbox WHERE published_at IS NULL")"
	sql "SELECT event_id FROM event_outbox o JOIN conversions c ON o.data->>'conversion_id' = c.id::text
		WHERE c.transaction_id LIKE '$tx-%'" | sort -u >"$W/e-events"
	check "events.after_xadd: the conversions' events ($(wc -l <"$W/e-events")) are all in the stream" \
		test "$(wc -l <"$W/e-events")" -ge 10 -a "$(in_stream afftok:events "$W/e-events")" -ge "$(wc -l <"$W/e-events")"

	# Affiliate postbacks: killed after the lease (nothing sent) and after
	# sending (nothing recorded). A lease lasts 10 minutes: the test moves
	# it, as if the time had passed.
	python3 "$top/tests/integration/pb-receiver.py" "$W/pbport" "$W/pblog" 0 &
	pbr=$!
	for _ in $(seq 50); do [ -s "$W/pbport" ] && break; sleep 0.1; done
	paff=$(new_affiliate "faults pub" "http://127.0.0.1:$(cat "$W/pbport")/pb?tx={transaction_id}&st={status}")
	plink=$(new_link "$o" "$paff")
	expire() { sql "UPDATE affiliate_postbacks SET next_attempt_at = now() WHERE affiliate_id = $paff AND state = 'queued'" >/dev/null; }
	for p in after_lease after_send; do
		for i in $(seq 5); do
			c=$(new_click "$plink")
			pb "$KEY" "click_id=$c&transaction_id=ap-$p-$RUNID-$i&amount=5.00"
		done
		crash postbacks "postbacks.$p" --once
		expire
		run postbacks --once
		eq "postbacks.$p: all delivered" "5|delivered" "$(sql "SELECT count(*), min(state) FROM affiliate_postbacks p JOIN conversions c ON c.id = p.conversion_id
			WHERE c.transaction_id LIKE 'ap-$p-$RUNID-%' GROUP BY p.state")"
		got=$(grep -c "tx=ap-$p-$RUNID-" "$W/pblog")
		dist=$(grep -o "tx=ap-$p-$RUNID-[0-9]*" "$W/pblog" | sort -u | wc -l)
		if [ "$p" = after_lease ]; then
			eq "postbacks.after_lease: each sent exactly once" "5 5" "$got $dist"
		else
			check "postbacks.after_send: each sent at least once, at most twice ($got requests, $dist distinct)" \
				test "$dist" = 5 -a "$got" -le 10
		fi
	done
	kill "$pbr" 2>/dev/null

	# Webhooks: killed before the stream entries are acknowledged (the
	# deliveries stored), after claiming deliveries (none sent), after
	# sending (none recorded).
	python3 "$top/tests/webhook-receiver.py" --port 0 --port-file "$W/whport" --log "$W/whlog" \
		--state-dir "$W" </dev/null >/dev/null 2>&1 &
	whr=$!
	for _ in $(seq 50); do [ -s "$W/whport" ] && break; sleep 0.1; done
	run events --once
	run webhooks --once # events so far go to the endpoints there are: none of ours
	admin POST /admin/webhooks -H 'Content-Type: application/json' \
		--data "{\"url\":\"http://127.0.0.1:$(cat "$W/whport")/ok/faults\",\"events\":[\"conversion.created\"]}"
	ep=$(json 'd["id"]')
	check "webhook endpoint made ($STATUS)" test -n "$ep"
	wexpire() { sql "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE endpoint_id = $ep AND status = 'pending'" >/dev/null; }
	for p in before_ack after_claim before_record; do
		for i in $(seq 5); do
			c=$(new_click "$mlid")
			pb "$KEY" "click_id=$c&transaction_id=wh-$p-$RUNID-$i&amount=5.00"
		done
		run events --once
		sql "SELECT o.event_id FROM event_outbox o JOIN conversions c ON o.data->>'conversion_id' = c.id::text
			WHERE c.transaction_id LIKE 'wh-$p-$RUNID-%' AND o.type = 'conversion.created'" | sort -u >"$W/e-wh-$p"
		crash webhooks "webhooks.$p" --once --claim-idle-ms 0
		wexpire
		run webhooks --once --claim-idle-ms 0
		eq "webhooks.$p: one delivery per event, all done" "5|5" "$(sql "SELECT count(*), count(*) FILTER (WHERE status = 'done')
			FROM webhook_deliveries WHERE endpoint_id = $ep AND event_id = ANY ('{$(paste -sd, "$W/e-wh-$p")}'::text[])")"
		got=$(grep -cF -f "$W/e-wh-$p" "$W/whlog")
		dist=$(grep -oF -f "$W/e-wh-$p" "$W/whlog" | sort -u | wc -l)
		if [ "$p" = before_record ]; then
			check "webhooks.$p: each event received at least once, at most twice ($got, $dist distinct)" \
				test "$dist" = 5 -a "$got" -le 20
		else
			check "webhooks.$p: each event received once ($got, $dist distinct)" test "$dist" = 5 -a "$got" -le 10
		fi
	done
	kill "$whr" 2>/dev/null
	admin DELETE "/admin/webhooks/$ep" >/dev/null

	# Aggregate: killed in the middle of an hour (base rollups rewritten,
	# cubes not) and before the watermark moves; the totals must equal the
	# raw rows and a rebuild from them.
	totals() {
		sql "SELECT (SELECT coalesce(sum(clicks), 0) FROM stats_o_h WHERE tenant_id = $T AND hour >= date_trunc('day', now())),
			(SELECT coalesce(sum(conversions), 0) FROM stats_o_h WHERE tenant_id = $T AND hour >= date_trunc('day', now())),
			(SELECT coalesce(sum(clicks), 0) FROM stats_clicks_q WHERE tenant_id = $T AND bucket >= date_trunc('day', now()))"
	}
	raw() {
		sql "SELECT (SELECT count(*) FROM clicks WHERE tenant_id = $T AND created_at >= date_trunc('day', now())),
			(SELECT count(*) FROM conversions WHERE tenant_id = $T AND created_at >= date_trunc('day', now())),
			(SELECT count(*) FROM clicks WHERE tenant_id = $T AND created_at >= date_trunc('day', now()))"
	}
	for p in mid_hour before_watermark; do
		mclicks 10 "crash-agg" "$ml" >/dev/null
		run ingest --once
		crash aggregate "aggregate.$p"
		run aggregate
		eq "aggregate.$p: today's totals equal the raw rows" "$(raw)" "$(totals)"
	done
	before=$(totals)
	check "aggregate --rebuild today" run aggregate --rebuild "$(date -u +%F)"
	eq "aggregate: a rebuild from raw data changes nothing" "$before" "$(totals)"

	# Partitions: killed between detaching an expired partition and
	# dropping it; the partition must not be left detached and forgotten.
	keep=$(sed -n 's/^retention_days *= *//p' "$CONF" | tail -n 1)
	old=$(date -u -d "${keep:-90} days ago - 3 days" +%F)
	ensure_partition "$old"
	pname=clicks_$(echo "$old" | tr -d -)
	crash partitions partitions.after_detach
	eq "partitions.after_detach: still a partition of clicks (rolled back)" 1 \
		"$(sql "SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass('$pname')")"
	run partitions
	eq "partitions: dropped by the next run" "" "$(sql "SELECT to_regclass('$pname')")"
fi

# ---- f. a slowloris against nginx ----
if only f; then
	python3 "$top/tests/integration/slowloris.py" 127.0.0.1 "$FRONT_PORT" 400 18 1 >"$W/loris" &
	lp=$!
	sleep 3
	$LOAD click "$FURL/c/$l?sub1=loris" 5 50 2 "$W/loris-clicks"
	total=$(wc -l <"$W/loris-clicks")
	eq "slowloris: every click answered 302 ($total)" "$total" "$(awk -F '\t' '$3 == 302' "$W/loris-clicks" | wc -l)"
	read -r p n < <(p99 "$W/loris-clicks" 0 99999999999999)
	check "slowloris: click p99 ${p} ms < 50 ms" awk "BEGIN { exit !(\"$p\" != \"none\" && $p < 50) }"
	wait "$lp"
	BODY=$(cat "$W/loris")
	echo "# slowloris: $BODY" >&2
	eq "slowloris: 400 slow connections opened" 400 "$(json 'd["opened"]')"
	eq "slowloris: nginx closed every one (client_header_timeout)" 400 "$(json 'd["closed_by_server"]')"
	check "slowloris: none kept longer than 13 s ($(json 'd["max_kept_s"]') s)" \
		awk "BEGIN { exit !($(json 'd["max_kept_s"]') <= 13) }"
	fingest
	read -r n once < <(stored_once "$W/loris-clicks")
	check "slowloris: every answered click stored exactly once ($once of $n)" test "$n" -gt 0 -a "$n" = "$once"
fi

echo "# 15-faults: $SECONDS s" >&2
done_testing
