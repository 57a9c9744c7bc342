#!/usr/bin/env bash
# Hostile input table (hostile.py): 250 malicious or malformed requests sent
# raw to nginx, each answered with the right status and never reflected
# unescaped; afterwards every FastCGI worker is the one that was there
# before (none crashed and was restarted) and the stack still answers.
. "$(dirname "$0")/lib.sh"

workers() { pgrep -f "^$BUILD/afftok-fcgi -c $CONF" | sort | tr '\n' ' '; }
before=$(workers)
code=${AFFTOK_DEMO_LINK##*/}
if [ -z "$code" ]; then
	fail "hostile input: no AFFTOK_DEMO_LINK (afftokctl demo missing)"
else
	timeout 600 python3 "$top/tests/integration/hostile.py" "$PORT" "$code" "$AFFTOK_ADMIN_KEY" || ANY_FAIL=1
fi
check "hostile input: workers present" test -n "$before"
eq "hostile input: no worker died or was restarted" "$before" "$(workers)"
req GET /health
eq "hostile input: the stack still answers" 200 "$STATUS"
done_testing
