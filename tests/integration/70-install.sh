# Installation as a sysadmin does it: `make install DESTDIR=<temp root>`, the
# installed files with their paths moved into that root, the pool started by
# the installed init script (PostgreSQL through a pg_service entry), served
# through the installed nginx site and then the installed Apache config, a
# graceful reload under wrk load with no failed request, two pools behind one
# nginx upstream, the cron.d lines run as cron would, logrotate, systemd units
# verified, and a clean stop.
. "$(dirname "$0")/lib.sh"

ROOT=$RUN/i # short: unix socket paths are limited to 107 bytes
NGINX_PORT=$((PORT + 1))
TLS_PORT=$((PORT + 2))
APACHE_PORT=$((PORT + 3))
rm -rf "$ROOT"
mkdir -p "$ROOT"

# ---- make install ----
make -s -C "$BUILD" install DESTDIR="$ROOT" >"$LOG/install.log" 2>&1
check "make install DESTDIR=<root>" test $? = 0
# The configured directories, as make knows them.
eval "$(printf 'dirs:\n\t@echo bindir=$(bindir) sysconfdir=$(sysconfdir) localstatedir=$(localstatedir) runstatedir=$(runstatedir) pkgdatadir=$(pkgdatadir) docdir=$(docdir)\n' |
	make -s -C "$BUILD" -f Makefile -f - dirs)"
ETC=$ROOT$sysconfdir
INITD=$ETC/init.d/afftok
for f in "$bindir/afftok-fcgi" "$bindir/afftokctl" "$sysconfdir/afftok/afftok.conf.sample" \
	"$sysconfdir/afftok/nginx-afftok.conf" "$sysconfdir/afftok/apache-afftok.conf" \
	"$sysconfdir/afftok/afftok.cron" "$sysconfdir/afftok/pg_service.conf.sample" \
	"$sysconfdir/logrotate.d/afftok" "$pkgdatadir/sql/001_foundation.sql"; do
	check "installed $f" test -s "$ROOT$f"
done
check "init script installed executable" test -x "$INITD"
check "systemd units installed" test -s "$(ls "$ROOT"/*/lib/systemd/system/afftok-fcgi.socket "$ROOT"/*/*/lib/systemd/system/afftok-fcgi.socket 2>/dev/null | head -n 1)"
check "journal directory created" test -d "$ROOT$localstatedir/lib/afftok/journal"
check "no @...@ left in installed files" sh -c "! grep -rl '@[a-z]*dir@' '$ETC' '$ROOT$pkgdatadir'"

# Move every path of ours into the root (longest first, one pass).
alts=$(printf '%s\n' "$bindir/afftok" "$sysconfdir/afftok" "$sysconfdir/default/" \
	"$localstatedir/lib/afftok" "$localstatedir/log/afftok" "$runstatedir/" "$pkgdatadir" "$docdir" |
	awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- | sed 's/[.]/\\./g' | paste -sd'|' | sed 's/|/\\|/g')
reroot() { sed -i "s#\\($alts\\)#$ROOT\\1#g" "$@"; }
reroot "$INITD" "$ETC"/afftok/* "$ETC"/logrotate.d/afftok
check "init script now names the root" grep -q "^CONF=$ROOT$sysconfdir/afftok/afftok.conf" "$INITD"

# ---- configuration: the stack's databases, PostgreSQL through a service ----
cat >"$ETC/afftok/pg_service.conf" <<EOF
[afftok]
host=$PGSOCK
port=$PGPORT
dbname=afftok
user=afftok
target_session_attrs=read-write
EOF
# This host has its own journal and instance id (as a second web host would).
sed -e "s|^conninfo = .*|conninfo = service=afftok|" \
	-e "s|^instance_id = .*|instance_id = inst|" \
	-e "s|^dir = .*|dir = $ROOT$localstatedir/lib/afftok/journal|" \
	"$CONF" >"$ETC/afftok/afftok.conf"
ICONF=$ETC/afftok/afftok.conf
# setkey SECTION KEY VALUE, when this build knows the key (the sample lists them all).
setkey() {
	awk -v s="[$1]" -v k="$2" '$0 == s { on = 1; next } /^\[/ { on = 0 } on && $1 == k { f = 1 } END { exit !f }' \
		"$ETC/afftok/afftok.conf.sample" || return 0
	sed -i "/^\[$1\]/,/^\[/{/^$2 *=/d}" "$ICONF"
	if grep -qx "\[$1\]" "$ICONF"; then sed -i "/^\[$1\]\$/a $2 = $3" "$ICONF"; else printf '[%s]\n%s = %s\n' "$1" "$2" "$3" >>"$ICONF"; fi
}
# The polling jobs keep at it for a second only, so the cron runs below are quick.
setkey cron ingest_loop_s 1
setkey cron conversions_loop_s 1
setkey webhooks loop_s 1
mkdir -p "$ETC/default"
cat >"$ETC/default/afftok" <<EOF
USER=
GROUP=www-data
WORKERS=3
export PGSERVICEFILE=$ETC/afftok/pg_service.conf
EOF
IRUN=$ROOT$runstatedir/afftok
ictl() { PGSERVICEFILE="$ETC/afftok/pg_service.conf" "$ROOT$bindir/afftokctl" -c "$ICONF" "$@"; }

# ---- the pool, by the init script ----
"$INITD" start >"$LOG/init.log" 2>&1
check "init start" test $? = 0
"$INITD" status >/dev/null 2>&1
eq "init status: running" 0 "$?"
check "socket is a symlink to the pool's socket" test -L "$IRUN/fcgi.sock" -a -S "$IRUN/fcgi.sock"
pool_pid=$(cat "$IRUN/fcgi.pid" 2>/dev/null)
eq "three workers" 3 "$(pgrep -P "${pool_pid:-0}" | wc -l)"
"$INITD" start >/dev/null 2>&1
eq "second start leaves the pool alone" "$pool_pid" "$(cat "$IRUN/fcgi.pid")"

# ---- nginx with the installed site ----
NG=$RUN/nginx-inst
mkdir -p "$NG/tmp"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-keyout "$NG/tls.key" -out "$NG/tls.pem" >/dev/null 2>&1
sed -e "s|listen 80;|listen 127.0.0.1:$NGINX_PORT;|" \
	-e "s|# listen 443 ssl http2;|listen 127.0.0.1:$TLS_PORT ssl http2;|" \
	-e "s|# ssl_certificate /etc/ssl/certs/afftok.pem;|ssl_certificate $NG/tls.pem;|" \
	-e "s|# ssl_certificate_key /etc/ssl/private/afftok.key;|ssl_certificate_key $NG/tls.key;|" \
	-e "s|# \(ssl_[a-z_]* .*\)|\1|" -e "s|# add_header Strict|add_header Strict|" \
	-e "s|# set_real_ip_from 10.0.0.0/8;|set_real_ip_from 127.0.0.1;|" \
	-e "s|# real_ip_header|real_ip_header|" -e "s|# real_ip_recursive|real_ip_recursive|" \
	-e "s|include fastcgi_params;|include /etc/nginx/fastcgi_params;|" \
	"$ETC/afftok/nginx-afftok.conf" >"$NG/site.conf"
cat >"$NG/nginx.conf" <<EOF
worker_processes 2;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
user root root;
events { worker_connections 1024; }
http {
    access_log $NG/access.log;
    client_body_temp_path $NG/tmp/body;
    fastcgi_temp_path $NG/tmp/fastcgi;
    proxy_temp_path $NG/tmp/proxy;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    include $NG/site.conf;
}
EOF
nginx -t -c "$NG/nginx.conf" >"$NG/t.log" 2>&1
check "nginx -t accepts the installed site (TLS block enabled)" test $? = 0
nginx -c "$NG/nginx.conf" 2>>"$NG/error.log"
NGINX_URL=http://127.0.0.1:$NGINX_PORT

# many N URL: N GETs of URL on one connection; prints "count status" lines.
many() {
	local i
	for i in $(seq "$1"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$2"; done >"$RUN/many.curl"
	shift 2
	curl -s -K "$RUN/many.curl" -w '%{http_code}\n' "$@" | sort | uniq -c | awk '{ print $1, $2 }' | tr '\n' ' '
}

# flows SERVER URL: what every front end must get right.
flows() {
	local s=$1 AFFTOK_URL=$2 codes
	req GET /health
	eq "$s: /health 200" 200 "$STATUS"
	contains "$s: /health body" '"status":"ok"' "$BODY"
	admin GET /admin/health
	eq "$s: admin health 200" 200 "$STATUS"
	eq "$s: admin health sees PostgreSQL (service=afftok)" True "$(json 'd["postgresql"]["up"]')"
	eq "$s: admin health sees Redis" True "$(json 'd["redis"]["up"]')"
	req GET /admin/health -H "Authorization: Bearer $AFFTOK_ADMIN_KEY"
	eq "$s: Authorization header reaches the workers" 200 "$STATUS"
	req GET /admin/health
	eq "$s: no key: 401" 401 "$STATUS"
	req DELETE /health
	eq "$s: 405 with Allow" "405 GET, HEAD" "$STATUS $(hdr Allow)"
	req GET /no/such/thing
	eq "$s: 404 JSON error" "404 NOT_FOUND" "$STATUS $(json 'd["error"]["code"]')"
	big=$(head -c 70000 /dev/zero | tr '\0' a)
	req GET /health -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "x=$big" -X GET
	eq "$s: oversized body: 413 from the application" 413 "$STATUS"
	eq "$s: 20 requests on one connection" "20 200 " "$(many 20 "$AFFTOK_URL/health" -H 'X-Forwarded-For: 198.51.100.7')"

	# A click from a visitor behind a proxy: 302, journalled by this host,
	# ingested by this host's afftokctl with the visitor's address.
	local ip=203.0.113.$((RANDOM % 250 + 1)) cid
	req GET "/c/${AFFTOK_DEMO_LINK##*/c/}?sub1=$s" -H "User-Agent: $UA" -H "X-Forwarded-For: $ip"
	cid=$(hdr X-Click-Id)
	eq "$s: click answers 302 with a click id" "302 yes" "$STATUS $([ -n "$cid" ] && echo yes)"
	sleep 0.3 # the journal's fsync interval
	ictl ingest >>"$LOG/install-ingest.log" 2>&1
	eq "$s: click ingested from this host's journal, visitor's address kept" "$ip|$s" \
		"$(sql "SELECT host(ip), sub1 FROM clicks WHERE click_id = '$cid'")"
	req GET "/postback?click_id=$cid&transaction_id=$s-$RANDOM$RANDOM&amount=12.50" -H "X-API-Key: $ADV_KEY"
	eq "$s: postback recorded" "200 recorded" "$STATUS $(json 'd["status"]')"
	eq "$s: conversion stored for the click" 1 "$(sql "SELECT count(*) FROM conversions WHERE click_id = '$cid'")"
}
UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36'
check "the stack has a demo link to click" test -n "${AFFTOK_DEMO_LINK:-}"
[ -x "$BUILD/tests/tools/fixture" ] || make -s -C "$BUILD" tests/tools/fixture >/dev/null 2>&1
ADV_KEY=$("$BUILD/tests/tools/fixture" "$CONF" key "$AFFTOK_TENANT_ID" advertiser \
	"$(sql "SELECT o.advertiser_id FROM links l JOIN offers o ON o.id = l.offer_id WHERE l.code = '${AFFTOK_DEMO_LINK##*/c/}'")")
flows nginx "$NGINX_URL"

contains "nginx: limit_req answers 429 on a burst of clicks" " 429 " " $(many 250 "$NGINX_URL/c/zz")"
eq "nginx: /health is not rate limited" "250 200 " "$(many 250 "$NGINX_URL/health")"
ok=$(curl -sk --tlsv1.3 -o /dev/null -w '%{http_code} %{ssl_verify_result}' "https://127.0.0.1:$TLS_PORT/health")
eq "nginx: HTTPS with TLS 1.3" 200 "${ok%% *}"
curl -sk --tls-max 1.2 -o /dev/null "https://127.0.0.1:$TLS_PORT/health"
check "nginx: TLS 1.2 refused" test $? != 0
hsts=$(curl -sk -D - -o /dev/null "https://127.0.0.1:$TLS_PORT/health" | tr -d '\r' | sed -n 's/^strict-transport-security: //Ip')
eq "nginx: HSTS on HTTPS" "max-age=63072000" "$hsts"

# reload_under_load NAME URL [PATH]: wrk for 6 s on PATH (/health), the init
# script's reload in the middle; every request must get 2xx/3xx and the
# pool must be new. Sets NREQ.
reload_under_load() {
	local s=$1 url=$2 path=${3:-/health} before after out nreq bad errs
	before=$(cat "$IRUN/fcgi.pid")
	wrk -t2 -c16 -d6s --timeout 5s -H "User-Agent: $UA" "$url$path" >"$RUN/wrk-$s.log" 2>&1 &
	local w=$!
	sleep 2
	"$INITD" reload >>"$LOG/init.log" 2>&1
	check "$s: reload exits 0" test $? = 0
	wait $w
	out=$(cat "$RUN/wrk-$s.log")
	nreq=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$out")
	bad=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$out")
	errs=$(sed -n 's/^ *Socket errors: *\(.*\)/\1/p' <<<"$out")
	check "$s: wrk ran ($nreq requests)" test "${nreq:-0}" -gt 500
	eq "$s: no failed request during the reload" "0" "${bad:-0}"
	eq "$s: no socket error during the reload" "" "$errs"
	after=$(cat "$IRUN/fcgi.pid")
	check "$s: a new pool took over" test -n "$after" -a "$after" != "$before"
	check "$s: the old pool is gone" sh -c "! kill -0 $before 2>/dev/null"
	eq "$s: one pool's socket left" 1 "$(ls "$IRUN"/fcgi-*.sock 2>/dev/null | wc -l)"
	NREQ=${nreq:-0}
}
reload_under_load nginx "$NGINX_URL"
grep -h 'requests in\|Requests/sec\|Non-2xx\|Socket errors' "$RUN/wrk-nginx.log" >&2

# A reload is how new configuration (or code) goes live: a smaller body
# limit applies to the new workers.
body=$(head -c 3000 /dev/zero | tr '\0' a)
AFFTOK_URL=$NGINX_URL req GET /health -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "x=$body" -X GET
eq "3000-byte body accepted with the default limit" 200 "$STATUS"
sed -i 's/^\[general\]$/[general]\nbody_max_bytes = 2048/' "$ICONF"
"$INITD" reload >>"$LOG/init.log" 2>&1
AFFTOK_URL=$NGINX_URL req GET /health -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "x=$body" -X GET
eq "after body_max_bytes = 2048 and a reload: 413" 413 "$STATUS"
sed -i '/^body_max_bytes = 2048$/d' "$ICONF"
"$INITD" reload >>"$LOG/init.log" 2>&1
# A configuration the workers refuse: the reload fails, the old pool serves on.
pid_ok=$(cat "$IRUN/fcgi.pid")
sed -i 's/^\[general\]$/[general]\nbody_max_bytes = 5/' "$ICONF"
"$INITD" reload >>"$LOG/init.log" 2>&1
check "reload with a bad configuration fails" test $? != 0
eq "the old pool keeps serving" "$pid_ok 200" "$(cat "$IRUN/fcgi.pid") $(curl -s -o /dev/null -w '%{http_code}' "$NGINX_URL/health")"
eq "no stray pool left by the failed reload" 1 "$(ls "$IRUN"/fcgi-*.sock 2>/dev/null | wc -l)"
sed -i '/^body_max_bytes = 5$/d' "$ICONF"

# ---- Apache with the installed config ----
AP=$RUN/apache-inst
mkdir -p "$AP"
chmod 755 "$RUN" "$ROOT"
sed -e "s|<VirtualHost \*:80>|<VirtualHost *:$APACHE_PORT>|" \
	-e "s|# RemoteIPTrustedProxy 10.0.0.0/8|RemoteIPTrustedProxy 127.0.0.1|" \
	"$ETC/afftok/apache-afftok.conf" >"$AP/site.conf"
M=/usr/lib/apache2/modules
cat >"$AP/httpd.conf" <<EOF
ServerRoot $AP
Listen 127.0.0.1:$APACHE_PORT
PidFile $AP/httpd.pid
ErrorLog $AP/error.log
LogLevel warn
User www-data
Group www-data
Mutex file:$AP default
ServerName localhost
DocumentRoot $AP
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule proxy_module $M/mod_proxy.so
LoadModule proxy_fcgi_module $M/mod_proxy_fcgi.so
LoadModule remoteip_module $M/mod_remoteip.so
LoadModule headers_module $M/mod_headers.so
LoadModule reqtimeout_module $M/mod_reqtimeout.so
Include $AP/site.conf
EOF
apache2 -f "$AP/httpd.conf" -t >"$AP/t.log" 2>&1
check "apache2 -t accepts the installed config" test $? = 0
apache2 -f "$AP/httpd.conf" -k start 2>>"$AP/error.log"
APACHE_URL=http://127.0.0.1:$APACHE_PORT
for _ in $(seq 50); do curl -fs -o /dev/null "$APACHE_URL/health" && break; sleep 0.1; done
flows apache "$APACHE_URL"
# Through Apache (no rate limit) the load is clicks: every one answered
# during the reload must be in the journal and then in PostgreSQL.
reload_under_load apache "$APACHE_URL" "/c/${AFFTOK_DEMO_LINK##*/c/}?sub1=reload-$$"
sleep 0.3
for _ in 1 2 3; do ictl ingest >>"$LOG/install-ingest.log" 2>&1; done
rows=$(sql "SELECT count(*) FROM clicks WHERE sub1 = 'reload-$$'")
check "apache: every click answered during the reload was ingested ($rows rows, $NREQ answers)" \
	test "$rows" -ge "$NREQ" -a "$rows" -le $((NREQ + 16))
grep -h 'requests in\|Requests/sec\|Non-2xx\|Socket errors' "$RUN/wrk-apache.log" >&2

# ---- two pools behind one nginx upstream ----
cp "$INITD" "$ETC/init.d/afftok-b"
cp "$ETC/default/afftok" "$ETC/default/afftok-b"
"$ETC/init.d/afftok-b" start >>"$LOG/init.log" 2>&1
check "second pool (afftok-b) starts" test -S "$ROOT$runstatedir/afftok-b/fcgi.sock"
sed -i "s|# server unix:.*afftok-b/fcgi.sock;.*|server unix:$ROOT$runstatedir/afftok-b/fcgi.sock;|" "$NG/site.conf"
check "upstream names both pools" test "$(grep -c '^ *server unix:' "$NG/site.conf")" = 2
nginx -c "$NG/nginx.conf" -s reload
sleep 0.5
# Bytes read by a pool's workers: grows when the pool serves requests.
pool_reads() { local p s=0; for p in $(pgrep -P "$(cat "$1")"); do s=$((s + $(sed -n 's/^rchar: //p' /proc/$p/io))); done; echo $s; }
a0=$(pool_reads "$IRUN/fcgi.pid") b0=$(pool_reads "$ROOT$runstatedir/afftok-b/fcgi.pid")
wrk -t2 -c16 -d5s --timeout 5s "$NGINX_URL/health" >"$RUN/wrk-2pools.log" 2>&1 &
w=$!
sleep 2
a1=$(pool_reads "$IRUN/fcgi.pid") b1=$(pool_reads "$ROOT$runstatedir/afftok-b/fcgi.pid")
"$ETC/init.d/afftok-b" stop >>"$LOG/init.log" 2>&1 # pool b leaves: nginx sends all to a
wait $w
check "two pools: both served requests ($((a1 - a0)) and $((b1 - b0)) bytes read)" test $((a1 - a0)) -gt 10000 -a $((b1 - b0)) -gt 10000
bad=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$RUN/wrk-2pools.log")
errs=$(sed -n 's/^ *Socket errors: *\(.*\)/\1/p' "$RUN/wrk-2pools.log")
eq "two pools: one pool stopped under load, no failed request" "0" "${bad:-0}${errs:+ $errs}"
AFFTOK_URL=$NGINX_URL req GET /health
eq "two pools: the remaining pool answers" 200 "$STATUS"

# ---- cron.d lines, run as cron runs them ----
CRON=$ETC/afftok/afftok.cron
jobs_known=$(ictl 2>&1 | awk '/^commands:/ { on = 1; next } on && NF { print $1 }')
nlines=0 badfmt=""
while IFS= read -r line; do
	case "$line" in '' | '#'* | [A-Z]*=*) continue ;; esac
	nlines=$((nlines + 1))
	job=$(sed -n 's/.*afftokctl \([a-z-]*\).*/\1/p' <<<"$line")
	re="^([^[:space:]]+[[:space:]]+){5}afftok[[:space:]]+\\{ flock -n -E 0 $ROOT$localstatedir/lib/afftok/$job\\.lock timeout -k 10 [0-9]+ $ROOT$bindir/afftokctl $job( [^|]*)? \\|\\| echo \"$job: exit \\\$\\?\"; \\} 2>&1 \\| logger -t afftok-cron -p cron\\.err\$"
	[[ "$line" =~ $re ]] || badfmt="$badfmt [$line]"
	grep -qx "$job" <<<"$jobs_known" || badfmt="$badfmt [unknown job $job]"
done <"$CRON"
eq "cron.d: every job line has the documented shape and a known job" "" "$badfmt"
echo "cron.d: $nlines job lines" >&2
# A fake logger records what would reach syslog.
mkdir -p "$RUN/fakebin"
printf '#!/bin/sh\nout=$(cat)\n[ -z "$out" ] || printf "%%s %%s\\n" "$*" "$out" >>%s\n' "$RUN/syslog" >"$RUN/fakebin/logger"
chmod +x "$RUN/fakebin/logger"
run_cron() { # run_cron CONF: every job line's command under /bin/sh, as cron would
	local line cmd
	while IFS= read -r line; do
		case "$line" in '' | '#'* | [A-Z]*=*) continue ;; esac
		cmd=$(awk '{ $1 = $2 = $3 = $4 = $5 = $6 = ""; print }' <<<"$line")
		env PATH="$RUN/fakebin:/usr/sbin:/usr/bin:/sbin:/bin" AFFTOK_CONF="$1" \
			PGSERVICEFILE="$ETC/afftok/pg_service.conf" sh -c "$cmd"
	done <"$CRON"
}
if [ "$nlines" -gt 0 ]; then
	: >"$RUN/syslog"
	run_cron "$ICONF"
	eq "cron.d: every job silent on success" "" "$(cat "$RUN/syslog")"
	# PostgreSQL unreachable: each job says so with exit 75 in syslog.
	sed 's|^conninfo = .*|conninfo = host=127.0.0.1 port=1 dbname=afftok connect_timeout=1|' "$ICONF" >"$RUN/down.conf"
	: >"$RUN/syslog"
	run_cron "$RUN/down.conf"
	eq "cron.d: with PostgreSQL down every job logs exit 75" "$nlines" "$(grep -c -- '-t afftok-cron -p cron.err .*: exit 75$' "$RUN/syslog")"
	# A run still going (lock held): the next one is a silent no-op.
	job=$(sed -n '/^[^#]/s/.*afftokctl \([a-z-]*\).*/\1/p' "$CRON" | head -n 1)
	: >"$RUN/syslog"
	flock "$ROOT$localstatedir/lib/afftok/$job.lock" sh -c "$(grep -m1 "afftokctl $job" "$CRON" |
		awk '{ $1 = $2 = $3 = $4 = $5 = $6 = ""; print }' | sed "s|logger|$RUN/fakebin/logger|")"
	eq "cron.d: overlapping run is silent" "" "$(cat "$RUN/syslog")"
else
	echo "cron.d lists no job yet" >&2
fi

# ---- logrotate ----
LR=$ETC/logrotate.d/afftok
logrotate -d -s "$RUN/lr.state" "$LR" >"$RUN/lr-debug.log" 2>&1
check "logrotate parses the installed file" sh -c "[ $? = 0 ] && ! grep -qi 'error' '$RUN/lr-debug.log'"
flog=$ROOT$localstatedir/log/afftok/afftok.log
echo "a line the pool wrote" >>"$flog"
ino=$(stat -c %i "$flog")
logrotate -f -s "$RUN/lr.state" "$LR" >>"$RUN/lr-debug.log" 2>&1
check "logrotate rotated the pool's log" grep -q "a line the pool wrote" "$flog.1"
eq "logrotate kept the open file (copytruncate)" "$ino 0" "$(stat -c '%i %s' "$flog")"

# ---- systemd units ----
UD=$(dirname "$(ls "$ROOT"/*/lib/systemd/system/afftok-fcgi.socket "$ROOT"/*/*/lib/systemd/system/afftok-fcgi.socket 2>/dev/null | head -n 1)")
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$RUN/units"
	cp "$UD"/afftok-fcgi.* "$RUN/units/"
	v=$(cd "$RUN/units" && systemd-analyze verify ./afftok-fcgi.socket ./afftok-fcgi.service 2>&1)
	eq "systemd-analyze verify: units clean" "" "$v"
fi

# ---- stop ----
apache2 -f "$AP/httpd.conf" -k stop 2>/dev/null
nginx -c "$NG/nginx.conf" -s stop 2>/dev/null
"$INITD" stop >>"$LOG/init.log" 2>&1
check "init stop" test $? = 0
"$INITD" status >/dev/null 2>&1
eq "init status after stop: 3 (not running)" 3 "$?"
sleep 0.5
eq "no worker left" "" "$(pgrep -f "$ROOT$bindir/afftok-fcgi" | tr '\n' ' ')"
eq "no socket or pid file left" "" "$(find "$IRUN" "$ROOT$runstatedir/afftok-b" -mindepth 1 | tr '\n' ' ')"
for _ in $(seq 30); do [ -f "$AP/httpd.pid" ] || [ -f "$NG/nginx.pid" ] || break; sleep 0.1; done
check "nginx and Apache stopped" sh -c "[ ! -f '$AP/httpd.pid' ] && [ ! -f '$NG/nginx.pid' ]"
done_testing
