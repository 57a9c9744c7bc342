# Failovers during traffic, on private servers beside the stack:
#  1. Redis behind three Sentinels: the master is killed under a click load;
#     the Sentinels promote the replica and the pool follows by itself
#     ([redis] sentinels); no click answered is lost, none fails.
#  2. PostgreSQL with a synchronous streaming standby: the primary is killed
#     while clicks and postbacks flow; the standby is promoted; the pool and
#     afftokctl find it through a multi-host conninfo (target_session_attrs=
#     read-write); clicks flow through the journal meanwhile; every click
#     answered and every postback acknowledged is in the new primary.
. "$(dirname "$0")/lib.sh"

FO=$RUN/fo
rm -rf "$FO"
mkdir -p "$FO/journal" "$FO/nginx/tmp"
chmod 755 "$RUN" "$FO"
FRONT_PORT=$((PORT + 4))
R_MASTER=$(side_port 0) R_REPLICA=$(side_port 1) SENT1=$(side_port 2) SENT2=$(side_port 3) SENT3=$(side_port 4)
PG1=$(side_port 5) PG2=$(side_port 6)
FURL=http://127.0.0.1:$FRONT_PORT
UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'
CODE=${AFFTOK_DEMO_LINK##*/c/}

cleanup() {
	[ -f "$FO/nginx/nginx.pid" ] && nginx -c "$FO/nginx/nginx.conf" -s stop 2>/dev/null
	kill_pidfile "$FO/fcgi.pid"
	for p in $SENT1 $SENT2 $SENT3 $R_MASTER $R_REPLICA; do
		redis-cli -p "$p" shutdown nosave >/dev/null 2>&1
	done
	for d in pg1 pg2; do
		[ -f "$FO/$d/data/postmaster.pid" ] && as_pg "$(pgbin)/pg_ctl" -D "$FO/$d/data" -m immediate -w stop >/dev/null 2>&1
	done
}
trap cleanup EXIT

# ---- the front: the shipped nginx site on its own port, no click rate limit ----
side_nginx "$FO" "$FRONT_PORT"

# pool_up CONF: the FastCGI pool on $FO/fcgi.sock, 3 workers.
pool_up() {
	kill_pidfile "$FO/fcgi.pid"
	rm -f "$FO/fcgi.sock"
	# spawn-fcgi sends the child's stderr to /dev/null: sh keeps the log.
	spawn-fcgi -s "$FO/fcgi.sock" -M 0666 -P "$FO/fcgi.pid" -- \
		/bin/sh -c "exec \"\$0\" \"\$@\" 2>>$LOG/fo-fcgi.log" \
		/usr/bin/multiwatch -f 3 -r 1000 -t 1000 -s TERM -- \
		"$BUILD/afftok-fcgi" -c "$1" -L >>"$LOG/fo-fcgi.log" 2>&1
	for _ in $(seq 50); do curl -fs -o /dev/null "$FURL/health" && return 0; sleep 0.1; done
	return 1
}
# wrk_result LOG: "requests non2xx socket-errors"
wrk_result() {
	local n bad errs
	n=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$1")
	bad=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$1")
	errs=$(sed -n 's/^ *Socket errors: *\(.*\)/\1/p' "$1")
	echo "${n:-0} ${bad:-0} ${errs:-none}"
}
ctlf() { "$BUILD/afftokctl" -c "$1" "${@:2}"; }
# ingest_all CONF: runs ingest until the journal is drained.
ingest_all() { for _ in 1 2 3; do ctlf "$1" ingest >>"$LOG/fo-ingest.log" 2>&1; done; }

# =====================  1. Redis Sentinel failover  =====================
redis-server --port "$R_MASTER" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
	--dir "$FO" --dbfilename m.rdb --pidfile "$FO/rm.pid" --logfile "$FO/redis-m.log"
redis-server --port "$R_REPLICA" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
	--dir "$FO" --dbfilename r.rdb --pidfile "$FO/rr.pid" --logfile "$FO/redis-r.log" \
	--replicaof 127.0.0.1 "$R_MASTER"
for s in $SENT1 $SENT2 $SENT3; do
	cat >"$FO/sentinel-$s.conf" <<EOF
port $s
bind 127.0.0.1
daemonize yes
pidfile $FO/sentinel-$s.pid
logfile $FO/sentinel-$s.log
dir $FO
sentinel monitor afftok 127.0.0.1 $R_MASTER 2
sentinel down-after-milliseconds afftok 1000
sentinel failover-timeout afftok 5000
sentinel parallel-syncs afftok 1
EOF
	redis-server "$FO/sentinel-$s.conf" --sentinel
done
master_port() { redis-cli -p "$SENT1" sentinel get-master-addr-by-name afftok 2>/dev/null | sed -n 2p; }
for _ in $(seq 50); do
	[ "$(redis-cli -p "$R_REPLICA" info replication 2>/dev/null | tr -d '\r' | sed -n 's/^master_link_status://p')" = up ] && break
	sleep 0.1
done
eq "sentinels see the master" "$R_MASTER" "$(master_port)"

# The stack's configuration with Redis found through the Sentinels.
sed -e '/^\[redis\]/,/^\[/{/^socket *=/d;/^host *=/d;/^port *=/d;/^sentinels *=/d}' \
	-e "s|^\[redis\]|[redis]\nsentinels = 127.0.0.1:$SENT1, 127.0.0.1:$SENT2,127.0.0.1:$SENT3\nsentinel_master = afftok|" \
	-e "s|^instance_id = .*|instance_id = fo|" -e "s|^dir = .*|dir = $FO/journal|" \
	"$CONF" >"$FO/sentinel.conf"
printf '[cron]\ningest_loop_s = 1\n' >>"$FO/sentinel.conf"
grep -q '^\[redis\]' "$FO/sentinel.conf" ||
	printf '[redis]\nsentinels = 127.0.0.1:%s,127.0.0.1:%s,127.0.0.1:%s\n' $SENT1 $SENT2 $SENT3 >>"$FO/sentinel.conf"
check "pool up with [redis] sentinels" pool_up "$FO/sentinel.conf"
AFFTOK_URL=$FURL admin GET /admin/health
eq "admin health: Redis reached through the Sentinels" True "$(json 'd["redis"]["up"]')"
check "the workers are clients of the master" test "$(redis-cli -p "$R_MASTER" info clients | tr -d '\r' | sed -n 's/^connected_clients://p')" -ge 4

# Clicks for 9 s; the master dies at 2 s.
wrk -t2 -c8 -d9s --timeout 5s -H "User-Agent: $UA" "$FURL/c/$CODE?sub1=rfo-$$" >"$FO/wrk-redis.log" 2>&1 &
w=$!
sleep 2
kill -9 "$(cat "$FO/rm.pid")"
t0=$(date +%s%N)
for _ in $(seq 150); do [ "$(master_port)" = "$R_REPLICA" ] && break; sleep 0.1; done
promoted_ms=$((($(date +%s%N) - t0) / 1000000))
eq "sentinels promoted the replica (${promoted_ms} ms)" "$R_REPLICA" "$(master_port)"
wait $w
read -r n bad errs <<<"$(wrk_result "$FO/wrk-redis.log")"
echo "redis failover: $n clicks in 9 s, promotion after $promoted_ms ms" >&2
check "clicks flowed through the Redis failover ($n)" test "$n" -gt 200
eq "no click failed during the Redis failover" "0 none" "$bad $errs"
sleep 1.2 # the client's reconnect spacing
# Every worker finds its connection to the dead master closed, asks the
# Sentinels again and reaches the new master on its next command.
ok=0
for _ in $(seq 12); do
	AFFTOK_URL=$FURL admin GET /admin/health
	[ "$STATUS $(json 'd["redis"]["up"]')" = "200 True" ] && ok=$((ok + 1))
done
eq "admin health: every worker follows the new master" 12 "$ok"
check "the workers are clients of the new master" test "$(redis-cli -p "$R_REPLICA" info clients | tr -d '\r' | sed -n 's/^connected_clients://p')" -ge 4
sleep 0.3
ingest_all "$FO/sentinel.conf"
rows=$(sql "SELECT count(*) FROM clicks WHERE sub1 = 'rfo-$$'")
check "every click answered is in PostgreSQL ($rows rows, $n answers)" test "$rows" -ge "$n" -a "$rows" -le $((n + 8))
# The old master comes back as a replica; a client that reaches it anyway
# (stale address) must not stay on it.
redis-server --port "$R_MASTER" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no \
	--dir "$FO" --dbfilename m.rdb --pidfile "$FO/rm.pid" --logfile "$FO/redis-m.log"
for _ in $(seq 600); do
	[ "$(redis-cli -p "$R_MASTER" role 2>/dev/null | head -n 1)" = slave ] && break
	sleep 0.1
done
eq "the old master rejoined as a replica" slave "$(redis-cli -p "$R_MASTER" role | head -n 1)"
AFFTOK_URL=$FURL admin GET /admin/health
eq "admin health still fine" 200 "$STATUS"
for p in $SENT1 $SENT2 $SENT3 $R_MASTER $R_REPLICA; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1; done

# =====================  2. PostgreSQL standby promotion  =====================
bin=$(pgbin)
pg_init() { # pg_init NAME PORT
	mkdir -p "$FO/$1/data"
	chown -R postgres "$FO/$1"
	as_pg "$bin/initdb" -D "$FO/$1/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
	cat >>"$FO/$1/data/postgresql.conf" <<EOF
port = $2
listen_addresses = '127.0.0.1'
unix_socket_directories = '$FO/$1'
wal_level = replica
max_wal_senders = 4
hot_standby = on
logging_collector = off
EOF
	echo "host replication all 127.0.0.1/32 trust" >>"$FO/$1/data/pg_hba.conf"
}
pg_start() {
	touch "$LOG/fo-$1.log"
	chown postgres "$LOG/fo-$1.log"
	as_pg "$bin/pg_ctl" -D "$FO/$1/data" -l "$LOG/fo-$1.log" -w -t 60 start >/dev/null
}
psql1() { psql -X -q -tA -h "$FO/pg1" -p "$PG1" -U postgres "$@"; }
psql2() { psql -X -q -tA -h "$FO/pg2" -p "$PG2" -U postgres "$@"; }

pg_init pg1 "$PG1"
pg_start pg1
psql1 -c "CREATE ROLE afftok LOGIN" -c "CREATE DATABASE afftok OWNER afftok"
# The standby: a base backup of the primary, streaming and synchronous, so
# a commit the primary acknowledged is on the standby too.
mkdir -p "$FO/pg2"
chown postgres "$FO/pg2"
as_pg pg_basebackup -h 127.0.0.1 -p "$PG1" -U postgres -D "$FO/pg2/data" -X stream -c fast >/dev/null
cat >>"$FO/pg2/data/postgresql.conf" <<EOF
port = $PG2
unix_socket_directories = '$FO/pg2'
primary_conninfo = 'host=127.0.0.1 port=$PG1 user=postgres application_name=pg2'
wal_receiver_status_interval = 1
EOF
as_pg touch "$FO/pg2/data/standby.signal"
pg_start pg2
# Up to 60 s: on a busy 2-core machine the standby can take longer than 10 s to start streaming.
for _ in $(seq 600); do
	[ "$(psql1 -c "SELECT state FROM pg_stat_replication WHERE application_name = 'pg2'")" = streaming ] && break
	sleep 0.1
done
# Synchronous once the standby streams (before, every commit would wait).
psql1 -c "ALTER SYSTEM SET synchronous_standby_names = 'pg2'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 600); do
	[ "$(psql1 -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'pg2'")" = sync ] && break
	sleep 0.1
done
eq "standby streaming, synchronous" sync "$(psql1 -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'pg2'")"

# Both servers named; libpq keeps the one that accepts writes.
sed -e "s|^conninfo = .*|conninfo = host=$FO/pg1,$FO/pg2 port=$PG1,$PG2 dbname=afftok user=afftok target_session_attrs=read-write connect_timeout=2|" \
	-e "s|^instance_id = .*|instance_id = fp|" -e "s|^dir = .*|dir = $FO/journal-pg|" \
	"$CONF" >"$FO/pg.conf"
printf '[cron]\ningest_loop_s = 1\n' >>"$FO/pg.conf"
mkdir -p "$FO/journal-pg"
ctlf "$FO/pg.conf" migrate "$top/sql" >"$FO/migrate.log" 2>&1
check "migrations applied to the new primary" test $? = 0
ctlf "$FO/pg.conf" bootstrap >"$FO/keys.env" 2>/dev/null
. "$FO/keys.env"
link=$(ctlf "$FO/pg.conf" demo "$AFFTOK_TENANT_ID" "$FURL" 2>/dev/null)
code=${link##*/c/}
check "demo link on the new cluster" test -n "$code"
adv=$(psql1 -d afftok -c "SELECT o.advertiser_id FROM links l JOIN offers o ON o.id = l.offer_id WHERE l.code = '$code'")
key=$("$BUILD/tests/tools/fixture" "$FO/pg.conf" key "$AFFTOK_TENANT_ID" advertiser "$adv")
check "advertiser key" test -n "$key"
check "pool up on the two-host conninfo" pool_up "$FO/pg.conf"

# 40 clicks to convert, ingested before the failover.
: >"$FO/cids"
for i in $(seq 40); do
	curl -s -o /dev/null -D - -H "User-Agent: $UA" -H "X-Forwarded-For: 198.51.100.$i" "$FURL/c/$code?sub1=pre" |
		tr -d '\r' | sed -n 's/^X-Click-Id: //p' >>"$FO/cids"
done
sleep 0.3
ingest_all "$FO/pg.conf"
eq "40 clicks ingested" 40 "$(psql1 -d afftok -c "SELECT count(*) FROM clicks WHERE sub1 = 'pre'")"

# Load: clicks for 10 s, and the 40 postbacks sent as an advertiser does:
# each retried until acknowledged (200, recorded or duplicate).
wrk -t2 -c8 -d10s --timeout 5s -H "User-Agent: $UA" "$FURL/c/$code?sub1=pgfo-$$" >"$FO/wrk-pg.log" 2>&1 &
w=$!
(
	i=0
	while read -r cid; do
		i=$((i + 1))
		for _ in $(seq 200); do
			st=$(curl -s --max-time 5 -H "X-API-Key: $key" "$FURL/postback?click_id=$cid&transaction_id=fo-$i&amount=3" |
				sed -n 's/^{"status":"\([a-z_]*\)".*/\1/p')
			case "$st" in recorded | duplicate) echo "ack $i $st" && break ;; *) echo "retry $i ${st:-error}" ;; esac
			sleep 0.05
		done
		sleep 0.1
	done <"$FO/cids"
) >"$FO/postbacks.log" 2>&1 &
pbw=$!
sleep 3
as_pg "$bin/pg_ctl" -D "$FO/pg1/data" -m immediate -w stop >/dev/null # the primary crashes
sleep 1
as_pg "$bin/pg_ctl" -D "$FO/pg2/data" -w promote >/dev/null
check "standby promoted" test "$(psql2 -c "SELECT pg_is_in_recovery()")" = f
wait $w
wait $pbw
read -r n bad errs <<<"$(wrk_result "$FO/wrk-pg.log")"
echo "pg failover: $n clicks in 10 s; postbacks retried $(grep -c '^retry' "$FO/postbacks.log") times" >&2
check "clicks flowed through the promotion ($n)" test "$n" -gt 200
eq "no click failed while PostgreSQL failed over" "0 none" "$bad $errs"
eq "every postback acknowledged" 40 "$(grep -c '^ack' "$FO/postbacks.log")"
check "postbacks saw the outage and were retried" grep -q '^retry' "$FO/postbacks.log"
sleep 0.3
ingest_all "$FO/pg.conf"
rows=$(psql2 -d afftok -c "SELECT count(*) FROM clicks WHERE sub1 = 'pgfo-$$'")
check "every click answered is in the new primary ($rows rows, $n answers)" test "$rows" -ge "$n" -a "$rows" -le $((n + 8))
eq "every acknowledged conversion is in the new primary" 40 \
	"$(psql2 -d afftok -c "SELECT count(DISTINCT transaction_id) FROM conversions WHERE transaction_id LIKE 'fo-%'")"
AFFTOK_URL=$FURL admin GET /admin/health
eq "admin health on the promoted primary" "200 True" "$STATUS $(json 'd["postgresql"]["up"]')"
done_testing
