# Helpers for the integration tests: sourced by each tests/integration/*.sh.
# Results are lines "PASS: name" / "FAIL: name" on stdout; scripts/test counts them.
if [ "${AFFTOK_TEST:-}" != 1 ] || [ ! -f "${AFFTOK_RUN_DIR:-}/stack.env" ]; then
	echo "skipped: run through scripts/test" >&2
	exit 77
fi
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/scripts/lib.sh"
. "$RUN/stack.env"
export PGURI AFFTOK_URL
ANY_FAIL=0

# side_port N (0..19): a port for a server a test starts beside the stack
# (71-failover uses 0-6, 15-faults 10-12), derived from the stack's port
# and kept below the kernel's ephemeral range, where the local port of any
# outgoing connection could have taken it first (bind: address in use).
side_port() {
	local lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	echo $((lo - 3800 + PORT % 170 * 20 + $1))
}

# side_nginx DIR PORT [sed args]: an nginx of a test's own on 127.0.0.1:PORT
# in DIR/nginx, serving the shipped site with its pool on DIR/fcgi.sock and
# the click rate limits lifted; extra sed arguments edit the site further.
side_nginx() {
	local d=$1 port=$2
	shift 2
	mkdir -p "$d/nginx/tmp"
	sed -e "s|listen 80;|listen 127.0.0.1:$port;|" \
		-e "s|unix:[^;]*afftok/fcgi.sock|unix:$d/fcgi.sock|" \
		-e "s|rate=50r/s|rate=100000r/s|" -e "s|rate=100r/s|rate=100000r/s|" \
		-e "s|include fastcgi_params;|include /etc/nginx/fastcgi_params;|" \
		"$@" "$top/etc/nginx-afftok.conf.in" >"$d/nginx/site.conf"
	cat >"$d/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $d/nginx/nginx.pid;
error_log $d/nginx/error.log warn;
$([ "$(id -u)" = 0 ] && echo "user root root;")
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $d/nginx/tmp/body;
    fastcgi_temp_path $d/nginx/tmp/fastcgi;
    proxy_temp_path $d/nginx/tmp/proxy;
    uwsgi_temp_path $d/nginx/tmp/uwsgi;
    scgi_temp_path $d/nginx/tmp/scgi;
    include $d/nginx/site.conf;
}
EOF
	nginx -c "$d/nginx/nginx.conf"
}

# healthy N SECONDS [URL]: N answers 200 in a row from /admin/health
# (any worker) within SECONDS.
healthy() {
	local streak=0 end=$(($(date +%s) + $2))
	while [ "$(date +%s)" -lt "$end" ]; do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $AFFTOK_ADMIN_KEY" \
			"${3:-$AFFTOK_URL}/admin/health")" = 200 ]; then
			streak=$((streak + 1))
		else
			streak=0
		fi
		[ "$streak" -ge "$1" ] && return 0
		sleep 0.2
	done
	return 1
}

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; ANY_FAIL=1; }
# check NAME COMMAND...: passes when the command succeeds.
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
# eq NAME EXPECTED ACTUAL
eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (expected '$2', got '$3')"; fi; }
# contains NAME NEEDLE HAYSTACK
contains() { case "$3" in *"$2"*) pass "$1" ;; *) fail "$1 ('$2' not in '${3:0:300}')" ;; esac; }

# req METHOD PATH [curl args...]: sets STATUS, BODY and HDRS.
# Requests look like a browser's (user agent, Accept-Language), so clicks
# are not taken for bots (src/bot.h); pass -A/-H to present something else.
BROWSER_UA='Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
req() {
	local m=$1 p=$2; shift 2
	local hf
	hf=$(mktemp)
	BODY=$(curl -sS -o - -D "$hf" -X "$m" --max-time 20 -A "$BROWSER_UA" -H "Accept-Language: en-US,en;q=0.9" \
		"$@" "$AFFTOK_URL$p" 2>/dev/null)
	STATUS=$(head -n 1 "$hf" | awk '{print $2}')
	HDRS=$(tr -d '\r' <"$hf")
	rm -f "$hf"
	[ -n "$STATUS" ] || STATUS=000
}
hdr() { printf '%s\n' "$HDRS" | sed -n "s/^$1: //Ip" | head -n 1; }
# json EXPR: reads BODY with python3 and prints the expression's value.
json() { printf '%s' "$BODY" | python3 -c "import json,sys; d=json.load(sys.stdin); v=$1; print(v if not isinstance(v,(dict,list)) else json.dumps(v))" 2>/dev/null; }
sql() { psql -X -q -tA "$PGURI" -c "$1"; }
ctl() { "$BUILD/afftokctl" -c "$CONF" "$@"; }
admin() { local m=$1 p=$2; shift 2; req "$m" "$p" -H "X-API-Key: $AFFTOK_ADMIN_KEY" "$@"; }
done_testing() { exit $ANY_FAIL; }
