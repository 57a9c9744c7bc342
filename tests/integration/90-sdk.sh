#!/usr/bin/env bash
# The Web SDK (sdk/web/afftok.js): served by nginx with caching headers, and
# end to end in headless Chromium (sdk-e2e.js): click, landing page, thank-you
# page, exactly one conversion in PostgreSQL, also after a reload and when
# the first report fails and is retried from the queue.
. "$(dirname "$0")/lib.sh"

req GET /sdk/afftok.js
eq "SDK served at /sdk/afftok.js" 200 "$STATUS"
contains "SDK is JavaScript" "javascript" "$(hdr Content-Type)"
contains "SDK is cached by browsers" "max-age=3600" "$(hdr Cache-Control)"
check "SDK has an ETag" test -n "$(hdr ETag)"
contains "SDK is the minified copy" "AffTok Web SDK" "${BODY:0:200}"
check "minified copy is smaller than the source" test "${#BODY}" -lt "$(wc -c <"$top/sdk/web/afftok.js")"
check "the SDK holds no API key" bash -c "! grep -q 'aft_[a-z]_' '$top/sdk/web/afftok.js'"
etag=$(hdr ETag)
req GET /sdk/afftok.js -H "If-None-Match: $etag"
eq "SDK revalidates with 304" 304 "$STATUS"

# The SDK's own rules without a browser (fake window, clock and network):
# the source, the minified copy served above and the sed fallback minifier.
sedmin=$(mktemp)
sed -f "$top/sdk/web/minify.sed" "$top/sdk/web/afftok.js" >"$sedmin"
node "$top/tests/integration/sdk-unit.js" "$top/sdk/web/afftok.js" "$BUILD/sdk/web/afftok.min.js" "$sedmin" ||
	ANY_FAIL=1
rm -f "$sedmin"

# The pixel takes the SDK's beacon (POST, form body) as well as its image.
req POST /pixel -d "click_id=nosuchclick&transaction_id=x"
eq "beacon POST /pixel answers the GIF" "200 image/gif" "$STATUS $(hdr Content-Type)"

if [ -z "${AFFTOK_DEMO_LINK:-}" ]; then
	fail "sdk end to end: no AFFTOK_DEMO_LINK (afftokctl demo missing)"
elif [ ! -x /usr/bin/chromium ] || [ ! -d "$top/node_modules/playwright-core" ]; then
	fail "sdk end to end: /usr/bin/chromium or node_modules/playwright-core missing"
else
	AFFTOK_URL=$AFFTOK_URL AFFTOK_DEMO_LINK=$AFFTOK_DEMO_LINK PGURI=$PGURI BROWSER_UA=$BROWSER_UA \
		AFFTOK_CTL="$BUILD/afftokctl -c $CONF" \
		timeout 300 node "$top/tests/integration/sdk-e2e.js" || ANY_FAIL=1
fi
done_testing
