# Admin API: CRUD of tenants, advertisers, affiliates, offers and links,
# pagination, soft delete, signed links, and a validation table (wrong
# types, missing/unknown fields, huge strings, bad currency) for every body.
. "$(dirname "$0")/lib.sh"
J='Content-Type: application/json'
OP="X-API-Key: $AFFTOK_OPERATOR_KEY"

# A fresh tenant of our own, so nothing here depends on other tests.
req POST /admin/tenants -H "$OP" -H "$J" -d '{"name":"Admin test net"}'
eq "operator creates a tenant: 201" 201 "$STATUS"
TID=$(json 'd["id"]')
KEY=$(json 'd["admin_key"]')
check "tenant create returns admin_key" test -n "$KEY"
contains "admin key has the admin prefix" "aft_a_" "$KEY"
eq "tenant object has its name" "Admin test net" "$(json 'd["name"]')"
eq "tenant object is active" active "$(json 'd["status"]')"
K="X-API-Key: $KEY"
a() { local m=$1 p=$2; shift 2; req "$m" "$p" -H "$K" -H "$J" "$@"; }

req GET "/admin/tenants/$TID" -H "$OP"
eq "operator reads the tenant" 200 "$STATUS"
check "tenant read does not show the admin key" test -z "$(json 'd.get("admin_key","")')"
check "tenant read shows no link secret" test -z "$(json '[k for k in d if "secret" in k] and "x" or ""')"
req GET "/admin/tenants?limit=1" -H "$OP"
eq "operator lists tenants" 200 "$STATUS"
eq "tenant list honours limit" 1 "$(json 'len(d["data"])')"
check "tenant list has a next cursor" test -n "$(json 'd["next_cursor"] or ""')"
a GET /admin/tenants
eq "a tenant admin key may not list tenants: 403" 403 "$STATUS"
req PATCH "/admin/tenants/$TID" -H "$OP" -H "$J" -d '{"name":"Admin test network"}'
eq "operator renames the tenant" "Admin test network" "$(json 'd["name"]')"

# ---- advertisers ----
a POST /admin/advertisers -d '{"name":"Acme Ads"}'
eq "advertiser create: 201" 201 "$STATUS"
ADV=$(json 'd["id"]')
eq "advertiser is active by default" active "$(json 'd["status"]')"
check "advertiser has created_at in UTC ISO 8601" python3 -c "import re,sys; sys.exit(not re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$', '$(json 'd["created_at"]')'))"
a GET "/admin/advertisers/$ADV"
eq "advertiser read" "Acme Ads" "$(json 'd["name"]')"
a PATCH "/admin/advertisers/$ADV" -d '{"name":"Acme","require_signature":true}'
eq "advertiser patch: 200" 200 "$STATUS"
eq "advertiser patch changed name" Acme "$(json 'd["name"]')"
eq "advertiser patch changed flag" True "$(json 'd["require_signature"]')"
a PATCH "/admin/advertisers/$ADV" -d '{"require_signature":false}'
eq "advertiser patch keeps other fields" Acme "$(json 'd["name"]')"

# ---- affiliates ----
a POST /admin/affiliates -d '{"name":"Pub One","postback_url":"https://pub.example/pb?cid={click_id}&p={payout}"}'
eq "affiliate create: 201" 201 "$STATUS"
AFF=$(json 'd["id"]')
eq "affiliate keeps its postback URL" "https://pub.example/pb?cid={click_id}&p={payout}" "$(json 'd["postback_url"]')"
a PATCH "/admin/affiliates/$AFF" -d '{"postback_url":null}'
eq "affiliate postback URL cleared with null" None "$(json 'd["postback_url"]')"
a PATCH "/admin/affiliates/$AFF" -d '{"postback_url":"http://127.0.0.1:9/pb?c={click_id}"}'
eq "affiliate postback URL set again" 200 "$STATUS"

# ---- offers ----
OFFER='{"advertiser_id":'$ADV',"name":"Summer","url":"https://adv.example/land?cid={click_id}&s={sub1}","currency":"EUR",
 "payout":{"type":"fixed","value":"2.50"},"revenue":{"type":"percent","value":"12.125"},"link_policy":"reject",
 "fallback_url":"https://adv.example/sorry","link_ttl_s":3600,"attribution_days":7,
 "caps":{"daily_clicks":1000,"daily_conversions":50,"total_conversions":900}}'
a POST /admin/offers -d "$OFFER"
eq "offer create: 201" 201 "$STATUS"
OID=$(json 'd["id"]')
eq "offer payout type" fixed "$(json 'd["payout"]["type"]')"
eq "offer payout value is an exact decimal string" 2.50 "$(json 'd["payout"]["value"]')"
eq "offer revenue keeps all its digits" 12.125 "$(json 'd["revenue"]["value"]')"
eq "offer currency" EUR "$(json 'd["currency"]')"
eq "offer link policy" reject "$(json 'd["link_policy"]')"
eq "offer fallback" https://adv.example/sorry "$(json 'd["fallback_url"]')"
eq "offer link TTL" 3600 "$(json 'd["link_ttl_s"]')"
eq "offer attribution" 7 "$(json 'd["attribution_days"]')"
eq "offer daily click cap" 1000 "$(json 'd["caps"]["daily_clicks"]')"
eq "offer total conversion cap" 900 "$(json 'd["caps"]["total_conversions"]')"
eq "offer unset cap is null" None "$(json 'd["caps"]["total_clicks"]')"
eq "offer status active" active "$(json 'd["status"]')"
eq "offer payout stored as numeric, not float" 2.500000 "$(sql "SELECT payout_value FROM offers WHERE id = $OID")"
a PATCH "/admin/offers/$OID" -d '{"payout":{"value":"3"},"caps":{"daily_clicks":null},"status":"paused"}'
eq "offer patch: 200" 200 "$STATUS"
eq "offer patch: payout value" 3.00 "$(json 'd["payout"]["value"]')"
eq "offer patch: payout type kept" fixed "$(json 'd["payout"]["type"]')"
eq "offer patch: cap cleared" None "$(json 'd["caps"]["daily_clicks"]')"
eq "offer patch: paused" paused "$(json 'd["status"]')"
a PATCH "/admin/offers/$OID" -d '{"advertiser_id":'$ADV'}'
eq "offer advertiser cannot be moved: 400" 400 "$STATUS"
contains "message names advertiser_id" advertiser_id "$(json 'd["error"]["message"]')"
a PATCH "/admin/offers/$OID" -d '{"status":"active"}'
a POST /admin/offers -d '{"advertiser_id":'$ADV',"name":"Minimal","url":"http://adv.example/m"}'
eq "minimal offer: 201" 201 "$STATUS"
eq "minimal offer: default currency" USD "$(json 'd["currency"]')"
eq "minimal offer: default attribution 30 days" 30 "$(json 'd["attribution_days"]')"
eq "minimal offer: default TTL 24 h" 86400 "$(json 'd["link_ttl_s"]')"
eq "minimal offer: default policy redirect" redirect "$(json 'd["link_policy"]')"
a POST /admin/offers -d '{"advertiser_id":999999999,"name":"Ghost","url":"http://adv.example/m"}'
eq "offer for a missing advertiser: 404" 404 "$STATUS"
contains "that 404 names the field" advertiser_id "$(json 'd["error"]["message"]')"

# ---- links ----
a POST /admin/links -d '{"offer_id":'$OID',"affiliate_id":'$AFF'}'
eq "link create: 201" 201 "$STATUS"
LID=$(json 'd["id"]')
CODE=$(json 'd["code"]')
check "link code has the documented shape" python3 -c "import re,sys; sys.exit(not re.match(r'^[A-Za-z0-9_-]{4,32}$', '$CODE'))"
eq "link url is public base + /c/<code>" "$AFFTOK_URL/c/$CODE" "$(json 'd["url"]')"
a GET "/admin/links?offer_id=$OID"
eq "links filtered by offer" "$LID" "$(json 'd["data"][0]["id"]')"
a GET "/admin/links?offer_id=$((OID + 100000))"
eq "links of another offer: none" 0 "$(json 'len(d["data"])')"
a POST "/admin/links/$LID/sign?ttl=600"
eq "sign a link: 200" 200 "$STATUS"
SURL=$(json 'd["url"]')
contains "signed URL starts with the link URL" "$AFFTOK_URL/c/$CODE." "$SURL"
check "signed token has code.ts.nonce.sig" python3 -c "import re,sys; sys.exit(not re.match(r'^$CODE\.\d+\.[A-Za-z0-9_-]{8,32}\.[0-9a-f]{32}$', '$(json 'd["token"]')'))"
eq "signed link lives the asked TTL" 600 "$(json 'd["ttl_s"]')"
a POST "/admin/links/$LID/sign?ttl=999999"
eq "TTL beyond the offer's is capped to the offer's" 3600 "$(json 'd["ttl_s"]')"
a POST "/admin/links/$LID/sign?ttl=5"
eq "TTL under 60 s: 400" 400 "$STATUS"
if [ -x "$BUILD/afftok-fcgi" ] && grep -q '"/c/\*"' "$top/fcgi/routes.c"; then
	req GET "${SURL#$AFFTOK_URL}"
	eq "the signed URL is accepted by the click path (302)" 302 "$STATUS"
fi
a POST /admin/links -d '{"offer_id":'$OID',"affiliate_id":999999999}'
eq "link to a missing affiliate: 404" 404 "$STATUS"
a PATCH "/admin/links/$LID" -d '{"code":"mine"}'
eq "link code is read-only: 400" 400 "$STATUS"

# ---- pagination: 5 advertisers, pages of 2 ----
for i in 1 2 3 4; do a POST /admin/advertisers -d '{"name":"Page '$i'"}'; done
ids="" cursor="" pages=0
while :; do
	a GET "/admin/advertisers?limit=2${cursor:+&cursor=$cursor}"
	ids="$ids $(json '" ".join(str(x["id"]) for x in d["data"])')"
	cursor=$(json 'd["next_cursor"] or ""')
	pages=$((pages + 1))
	[ -n "$cursor" ] && [ $pages -lt 10 ] || break
done
eq "pagination walks every advertiser once" 5 "$(echo $ids | wc -w)"
eq "pagination without duplicates" 5 "$(echo $ids | tr ' ' '\n' | sort -u | wc -l)"
eq "3 pages of 2" 3 "$pages"
a GET "/admin/advertisers?limit=0"
eq "limit 0: 400" 400 "$STATUS"
a GET "/admin/advertisers?limit=201"
eq "limit over 200: 400" 400 "$STATUS"
a GET "/admin/advertisers?cursor=abc"
eq "bad cursor: 400" 400 "$STATUS"
a GET "/admin/advertisers?status=paused"
eq "status filter: none paused" 0 "$(json 'len(d["data"])')"

# ---- soft delete: history keeps pointing at archived rows ----
a DELETE "/admin/offers/$OID"
eq "offer delete: 200" 200 "$STATUS"
eq "deleted offer is archived" archived "$(json 'd["status"]')"
a GET "/admin/offers/$OID"
eq "archived offer still readable" archived "$(json 'd["status"]')"
eq "archived offer row kept for its stats" 1 "$(sql "SELECT count(*) FROM offers WHERE id = $OID")"
a POST "/admin/links/$LID/sign"
eq "signing a link of an archived offer: 409" 409 "$STATUS"
a DELETE "/admin/links/$LID"
eq "link archived" archived "$(json 'd["status"]')"
a GET /admin/offers/abc
eq "non-numeric id: 404" 404 "$STATUS"
a GET /admin/offers/99999999999
eq "missing id: 404" 404 "$STATUS"
eq "404 code" NOT_FOUND "$(json 'd["error"]["code"]')"

# ---- validation table: METHOD PATH BODY FIELD-IN-MESSAGE ----
huge=$(head -c 300 /dev/zero | tr '\0' x)
hugeurl="https://x.example/$(head -c 2100 /dev/zero | tr '\0' y)"
while IFS='|' read -r m p body field; do
	[ -n "$m" ] || continue
	p=${p//@ADV/$ADV}
	body=${body//@ADV/$ADV}
	body=${body//@AFF/$AFF}
	body=${body//@HUGEURL/$hugeurl}
	body=${body//@HUGE/$huge}
	a "$m" "$p" -d "$body"
	eq "validation $m $p ${body:0:90}: 400" 400 "$STATUS"
	eq "validation $m $p: INVALID_PARAMETER" INVALID_PARAMETER "$(json 'd["error"]["code"]')"
	contains "validation $m $p: message names '$field'" "'$field'" "$(json 'd["error"]["message"]')"
done <<'EOF'
POST|/admin/advertisers|{}|name
POST|/admin/advertisers|{"name":""}|name
POST|/admin/advertisers|{"name":42}|name
POST|/admin/advertisers|{"name":"@HUGE"}|name
POST|/admin/advertisers|{"name":"x","bogus":1}|bogus
POST|/admin/advertisers|{"name":"x","id":5}|id
POST|/admin/advertisers|{"name":"x","status":"gone"}|status
POST|/admin/advertisers|{"name":"x","require_signature":"yes"}|require_signature
POST|/admin/advertisers|{"name":"tab\there"}|name
POST|/admin/advertisers|{"name":null}|name
PATCH|/admin/advertisers/@ADV|{"name":["a"]}|name
PATCH|/admin/advertisers/@ADV|{"created_at":"2020-01-01T00:00:00Z"}|created_at
POST|/admin/affiliates|{"name":"p","postback_url":"ftp://x.example/"}|postback_url
POST|/admin/affiliates|{"name":"p","postback_url":"@HUGEURL"}|postback_url
POST|/admin/affiliates|{"name":"p","postback_url":"not a url"}|postback_url
POST|/admin/affiliates|{"postback_url":"https://x.example/"}|name
POST|/admin/offers|{"name":"o","url":"https://x.example/"}|advertiser_id
POST|/admin/offers|{"advertiser_id":@ADV,"url":"https://x.example/"}|name
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o"}|url
POST|/admin/offers|{"advertiser_id":"1","name":"o","url":"https://x.example/"}|advertiser_id
POST|/admin/offers|{"advertiser_id":-1,"name":"o","url":"https://x.example/"}|advertiser_id
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","currency":"usd"}|currency
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","currency":"EURO"}|currency
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","currency":7}|currency
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","payout":{"type":"fixed","value":2.5}}|payout.value
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","payout":{"type":"fixed","value":"-1"}}|payout.value
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","payout":{"type":"fixed","value":"1e3"}}|payout.value
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","payout":{"type":"fixed","value":"1.1234567"}}|payout.value
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","payout":{"type":"share","value":"1"}}|payout.type
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","payout":{"kind":"fixed"}}|payout.kind
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","payout":"2.50"}|payout
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","revenue":{"value":"abc"}}|revenue.value
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","link_policy":"drop"}|link_policy
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","link_ttl_s":59}|link_ttl_s
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","link_ttl_s":2592001}|link_ttl_s
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","link_ttl_s":"3600"}|link_ttl_s
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","attribution_days":0}|attribution_days
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","attribution_days":1.5}|attribution_days
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","caps":{"daily_clicks":0}}|caps.daily_clicks
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","caps":{"hourly":5}}|caps.hourly
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","fallback_url":"javascript:alert(1)"}|fallback_url
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"@HUGEURL"}|url
POST|/admin/offers|{"advertiser_id":@ADV,"name":"o","url":"https://x.example/","trust_pixel":1}|trust_pixel
POST|/admin/links|{"offer_id":1}|affiliate_id
POST|/admin/links|{"affiliate_id":@AFF}|offer_id
POST|/admin/links|{"offer_id":"x","affiliate_id":@AFF}|offer_id
POST|/admin/links|{"offer_id":1,"affiliate_id":@AFF,"code":"abcd"}|code
POST|/admin/api-keys|{"scope":"root"}|scope
POST|/admin/api-keys|{"scope":"advertiser"}|advertiser_id
POST|/admin/api-keys|{"scope":"affiliate","affiliate_id":@AFF,"advertiser_id":@ADV}|advertiser_id
POST|/admin/api-keys|{"scope":"admin","label":"@HUGE"}|label
POST|/admin/api-keys|{"scope":"admin","key":"aft_a_x"}|key
POST|/admin/api-keys|{"scope":"admin","rate_limit_per_min":-5}|rate_limit_per_min
EOF
req POST /admin/tenants -H "$OP" -H "$J" -d '{"name":"x","link_secret":"abc"}'
eq "tenant create with an unknown field: 400" 400 "$STATUS"
req POST /admin/tenants -H "$OP" -H "$J" -d '{}'
eq "tenant create without name: 400" 400 "$STATUS"
a POST /admin/advertisers -d '{"name":"x"'
eq "malformed JSON: 400" 400 "$STATUS"
a POST /admin/advertisers -d '["name"]'
eq "JSON array body: 400" 400 "$STATUS"
req POST /admin/advertisers -H "$K" -H 'Content-Type: text/plain' -d '{"name":"x"}'
eq "body that is not JSON: 400" 400 "$STATUS"
a POST /admin/advertisers -d '{"name":"Ünïcødé ✓"}'
eq "unicode names are fine" "Ünïcødé ✓" "$(json 'd["name"]')"
a POST /admin/advertisers -d '{"name":"'"$(head -c 200 /dev/zero | tr '\0' z)"'"}'
eq "a 200-character name is accepted" 201 "$STATUS"

# ---- audit log: every change, with field names and never values ----
a GET "/admin/audit?resource=offers&resource_id=$OID"
eq "audit of the offer: 200" 200 "$STATUS"
eq "audit: create, updates, delete in order (a refused PATCH leaves none)" "create update update delete" "$(json '" ".join(x["action"] for x in d["data"])')"
contains "audit names the fields a PATCH set" '"payout.value"' "$(json 'd["data"][1]["fields"]')"
check "audit holds no values" test -z "$(printf '%s' "$BODY" | grep -F '"3"')"
eq "audit names the key that acted" "$(sql "SELECT id FROM api_keys WHERE tenant_id = $TID AND label = 'initial admin key'")" "$(json 'd["data"][0]["key_id"]')"
# Ordering is numeric (a text sort would put id 10 before 9 and make the
# cursor skip rows): the whole log in one page and in pages of 3 agree.
req GET "/admin/audit?limit=200" -H "$OP"
all=$(json '" ".join(str(x["id"]) for x in d["data"])')
check "audit ids ascend numerically" python3 -c "import sys; v=[int(x) for x in '$all'.split()]; sys.exit(not (len(v) > 10 and v == sorted(v)))"
first=$(echo $all | cut -d' ' -f1-12)
walked="" cursor=""
for _ in 1 2 3 4; do
	req GET "/admin/audit?limit=3${cursor:+&cursor=$cursor}" -H "$OP"
	walked="$walked $(json '" ".join(str(x["id"]) for x in d["data"])')"
	cursor=$(json 'd["next_cursor"] or ""')
done
eq "paging by 3 walks the same ids in the same order" "$first" "$(echo $walked)"
a GET "/admin/audit?action=create&resource=tenants"
eq "the operator's creation of this tenant is in its audit" "$TID" "$(json 'd["data"][0]["resource_id"]')"

# ---- advertiser postback secret: shown once, stored encrypted ----
a POST "/admin/advertisers/$ADV/postback-secret"
eq "postback secret issued: 201" 201 "$STATUS"
PBS=$(json 'd["postback_secret"]')
check "postback secret is 64 hex characters" python3 -c "import re,sys; sys.exit(not re.match(r'^[0-9a-f]{64}$', '$PBS'))"
check "stored encrypted, not in clear" test "$(sql "SELECT postback_secret_enc LIKE '%$PBS%' FROM advertisers WHERE id = $ADV")" = f
a GET "/admin/advertisers/$ADV"
check "the advertiser never shows its secret" test -z "$(printf '%s' "$BODY" | grep -F "$PBS")"
a GET "/admin/audit?resource=advertisers&action=secret&resource_id=$ADV"
eq "issuing a secret is audited" '["postback_secret"]' "$(json 'd["data"][0]["fields"]')"
a POST "/admin/advertisers/99999999/postback-secret"
eq "postback secret of a missing advertiser: 404" 404 "$STATUS"

# ---- a suspended tenant's keys stop working; back active, they work ----
req PATCH "/admin/tenants/$TID" -H "$OP" -H "$J" -d '{"status":"suspended"}'
eq "operator suspends the tenant" suspended "$(json 'd["status"]')"
sleep 2.2 # the workers' key cache
a GET /admin/advertisers
eq "a suspended tenant's admin key: 401" 401 "$STATUS"
req PATCH "/admin/tenants/$TID" -H "$OP" -H "$J" -d '{"status":"active"}'
a GET /admin/advertisers
eq "reactivated tenant's key works again" 200 "$STATUS"
done_testing
