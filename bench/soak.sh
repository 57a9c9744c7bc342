#!/usr/bin/env bash
# bench/soak.sh: the soak test of bench/README (not part of scripts/test).
#
#   scripts/local up            (or AFFTOK_RUN_DIR=... of a running stack)
#   bench/soak.sh               30 minutes
#   BENCH_MINUTES=5 bench/soak.sh
#
# Mixed paced load through nginx (bench/soak.py): BENCH_CLICK_RATE clicks/s
# (default 300) on the demo link, BENCH_POSTBACK_RATE postbacks/s (40) on
# clicks received earlier, BENCH_ADMIN_RATE admin reads/s (10, under the
# per-key limit of 20/s). Every BENCH_SAMPLE_S (60) seconds it samples each
# FastCGI worker's RSS and open descriptors (/proc). Passes when:
#   - no error answer and no connection error;
#   - no worker died (same pids at the start and the end);
#   - each worker's RSS grew < 5 % from the end of the warm-up
#     (BENCH_WARMUP_MINUTES, default 5, at most a third of the run) to the end;
#   - each worker's descriptor count at the end is within 2 of the warm-up's.
# Writes $RUN/bench-soak/{samples.tsv,load.json} and prints a summary;
# exits 1 when a check fails.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
RUN=${AFFTOK_RUN_DIR:-$top/run}
. "$RUN/stack.env"
BUILD=${AFFTOK_BUILD_DIR:-$top/build}
MINUTES=${BENCH_MINUTES:-30}
SAMPLE_S=${BENCH_SAMPLE_S:-60}
WARM=${BENCH_WARMUP_MINUTES:-5}
[ $((WARM * 3)) -le "$MINUTES" ] || WARM=$((MINUTES / 3))
[ "$WARM" -ge 1 ] || WARM=1
W=$RUN/bench-soak
mkdir -p "$W"
say() { printf '%s\n' "$*" >&2; }
workers() { pgrep -f "^$BUILD/afftok-fcgi -c $AFFTOK_CONF" | sort -n; }

link=${AFFTOK_DEMO_LINK#http://*/}
[ -n "$link" ] || { say "no demo link in $RUN/stack.env"; exit 2; }
# A stack just started may still be loading Redis's append-only file
# (LOADING errors, /admin/health 503): start once it is healthy.
streak=0
for _ in $(seq 300); do
	if [ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $AFFTOK_ADMIN_KEY" "$AFFTOK_URL/admin/health")" = 200 ]; then
		streak=$((streak + 1))
	else
		streak=0
	fi
	[ "$streak" -ge 10 ] && break
	sleep 0.2
done
[ "$streak" -ge 10 ] || { say "the stack is not healthy"; exit 2; }
pids0=$(workers | tr '\n' ' ')
[ -n "$pids0" ] || { say "no FastCGI workers of $AFFTOK_CONF"; exit 2; }
say "soak: $MINUTES min, warm-up $WARM min, workers $pids0"
printf 'minute\tpid\trss_kb\tfds\n' >"$W/samples.tsv"
sample() {
	local p
	for p in $(workers); do
		printf '%s\t%s\t%s\t%s\n' "$1" "$p" "$(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null)" \
			"$(ls "/proc/$p/fd" 2>/dev/null | wc -l)"
	done >>"$W/samples.tsv"
}

python3 "$top/bench/soak.py" "$AFFTOK_URL" "$AFFTOK_ADMIN_KEY" "/$link" $((MINUTES * 60)) \
	"${BENCH_CLICK_RATE:-300}" "${BENCH_POSTBACK_RATE:-40}" "${BENCH_ADMIN_RATE:-10}" "$W/load.json" &
load=$!
trap 'kill $load 2>/dev/null' EXIT
start=$(date +%s)
sample 0
i=0
while kill -0 "$load" 2>/dev/null; do
	sleep 1
	now=$(date +%s)
	if [ $((now - start)) -ge $(((i + 1) * SAMPLE_S)) ]; then
		i=$((i + 1))
		sample "$(((now - start) / 60))"
	fi
done
wait "$load"
sample "$MINUTES"
trap - EXIT

fail=0
check() { if eval "$2"; then say "ok:   $1"; else say "FAIL: $1"; fail=1; fi; }
python3 - "$W/load.json" <<'PY' >&2
import json, sys
d = json.load(open(sys.argv[1]))
print("load: %.0f s" % d["seconds"])
for k in ("click", "postback", "admin"):
    s = d[k]
    print("  %-8s %7d requests (%5.1f/s)  p50 %s ms  p99 %s ms  p99.9 %s ms  max %s ms  statuses %s  unexpected %d  conn errors %d"
          % (k, s["requests"], s["requests"] / d["seconds"], s["p50_ms"], s["p99_ms"], s["p999_ms"], s["max_ms"],
             s["statuses"], s["unexpected_status"], s["connection_errors"]))
    for x in s["samples"][:3]:
        print("           e.g. " + x)
PY
bad=$(python3 -c "import json,sys; d=json.load(open('$W/load.json')); print(sum(d[k]['unexpected_status'] + d[k]['connection_errors'] for k in ('click','postback','admin')))")
check "no error answers or connection errors ($bad)" '[ "$bad" = 0 ]'
pids1=$(workers | tr '\n' ' ')
check "the same workers at the end ($pids1)" '[ "$pids0" = "$pids1" ]'
# Per worker: RSS and fds at the warm-up sample and at the end.
awk -F '\t' -v w="$WARM" -v last="$MINUTES" '
	NR > 1 && $1 >= w && !($2 in r0) { r0[$2] = $3; f0[$2] = $4; m0[$2] = $1 }
	NR > 1 && $1 == last { r1[$2] = $3; f1[$2] = $4 }
	NR > 1 { if (!($2 in lo) || $3 < lo[$2]) lo[$2] = $3; if ($3 > hi[$2]) hi[$2] = $3 }
	END {
		for (p in r1) {
			g = r0[p] ? (r1[p] - r0[p]) * 100.0 / r0[p] : 999
			printf "%s %d %d %.2f %d %d %d %d\n", p, r0[p], r1[p], g, f0[p], f1[p], lo[p], hi[p]
		}
	}' "$W/samples.tsv" | sort -n >"$W/growth"
while read -r p r0 r1 g f0 f1 lo hi; do
	say "  worker $p: RSS $r0 kB (minute $WARM) -> $r1 kB (end): ${g} %; range $lo-$hi kB; fds $f0 -> $f1"
	check "worker $p RSS growth ${g} % < 5 %" "awk 'BEGIN{exit !($g < 5)}'"
	check "worker $p descriptors stable ($f0 -> $f1)" "[ \$(( $f1 - $f0 )) -le 2 ] && [ \$(( $f0 - $f1 )) -le 2 ]"
done <"$W/growth"
say "samples: $W/samples.tsv"
exit $fail
