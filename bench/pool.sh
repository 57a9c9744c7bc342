# Shared by the click benchmarks: swap the local stack's FastCGI pool between
# AffTok and the bare baseline on the same socket and pool size, and read
# processes' CPU time. Sourced after scripts/lib.sh; expects $W (the work
# directory holding baseline-fcgi).

pool_stop() {
	kill_pidfile "$RUN/fcgi.pid"
	for _ in $(seq 50); do
		pgrep -f "^($BUILD/afftok-fcgi -c $CONF|$W/baseline-fcgi)" >/dev/null || break
		sleep 0.1
	done
	rm -f "$RUN/fcgi.sock"
}
pool_afftok() { pool_stop; fcgi_up; wait_http; }
pool_baseline() {
	pool_stop
	spawn-fcgi -s "$RUN/fcgi.sock" -M 0666 -P "$RUN/fcgi.pid" -- \
		/usr/bin/multiwatch -f "$WORKERS" -- "$W/baseline-fcgi" >/dev/null
	sleep 0.5
}
# CPU time (user + system, clock ticks) of the processes matching $1.
ticks() { local p t=0; for p in $(pgrep -f "$1"); do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
