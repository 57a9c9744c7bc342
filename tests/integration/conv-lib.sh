# Fixtures of the conversion tests (30-3x): sourced after lib.sh.
# Advertisers, affiliates, offers and links are made with SQL, keys and
# secrets with tests/tools/fixture; clicks come from /c/ when the click path
# answers, else are inserted directly with authentic ids (tests/tools/clickids).
T=$AFFTOK_TENANT_ID
KEYFILE=$RUN/secret.key
fixture() { "$BUILD/tests/tools/fixture" "$CONF" "$@"; }
sqlv() { sql "$1" | head -n 1; }

# new_advertiser NAME -> prints the id
new_advertiser() { sqlv "INSERT INTO advertisers (tenant_id, name) VALUES ($T, '$1') RETURNING id"; }
# new_affiliate NAME [POSTBACK_URL]
new_affiliate() {
	local url=${2:-}
	if [ -n "$url" ]; then
		sqlv "INSERT INTO affiliates (tenant_id, name, postback_url) VALUES ($T, '$1', '$url') RETURNING id"
	else
		sqlv "INSERT INTO affiliates (tenant_id, name) VALUES ($T, '$1') RETURNING id"
	fi
}
# new_offer ADV_ID "col = value, ..." (extra columns as SQL assignments)
new_offer() {
	local id
	id=$(sqlv "INSERT INTO offers (tenant_id, advertiser_id, name, url) VALUES ($T, $1, 'offer', 'https://example.com/?c={click_id}') RETURNING id")
	[ -n "${2:-}" ] && sql "UPDATE offers SET $2 WHERE id = $id" >/dev/null
	echo "$id"
}
# new_link OFFER_ID AFF_ID -> prints the link id
new_link() {
	local code
	code=t$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
	sqlv "INSERT INTO links (tenant_id, offer_id, affiliate_id, code) VALUES ($T, $1, $2, '$code') RETURNING id"
}
# new_click LINK_ID [AGE_MS [BILLABLE [SUB1]]] -> prints the click id (row inserted now)
new_click() {
	local link=$1 age=${2:-0} billable=${3:-true} sub1=${4:-s1} now line id ts
	now=$(($(date +%s%3N) - age))
	line=$("$BUILD/tests/tools/clickids" "$KEYFILE" 1 "$now")
	id=${line%%$'\t'*}; ts=${line#*$'\t'}
	sql "INSERT INTO clicks (click_id, created_at, tenant_id, link_id, offer_id, affiliate_id, fingerprint, billable, sub1)
	     SELECT '$id', '$ts', tenant_id, id, offer_id, affiliate_id, md5('$id'), $billable, '$sub1' FROM links WHERE id = $link" >/dev/null
	echo "$id"
}
# A click id that is authentic and recent but has no row (yet).
future_click_id() { "$BUILD/tests/tools/clickids" "$KEYFILE" 1 | cut -f1; }
# pb KEY QUERY: GET /postback?QUERY with the key in X-API-Key
pb() { local k=$1 qs=$2; shift 2; req GET "/postback?$qs" -H "X-API-Key: $k" "$@"; }
convs() { sqlv "SELECT count(*) FROM conversions WHERE $1"; }
# ensure_partition 'YYYY-MM-DD': a clicks partition for that UTC day (tests
# of old clicks reach further back than the partitions job creates).
ensure_partition() {
	local d=$1 name
	name=clicks_$(echo "$d" | tr -d -)
	sql "DO \$\$ BEGIN IF to_regclass('$name') IS NULL THEN
	     EXECUTE format('CREATE TABLE %I PARTITION OF clicks FOR VALUES FROM (%L) TO (%L)', '$name',
	       '$d'::date::timestamp AT TIME ZONE 'UTC', ('$d'::date + 1)::timestamp AT TIME ZONE 'UTC');
	     PERFORM afftok_enable_rls('$name'); -- as the partitions job does
	     END IF; END \$\$" >/dev/null
}
# old_click LINK_ID DAYS: a click DAYS days old
old_click() {
	ensure_partition "$(date -u -d "@$(( $(date +%s) - $2 * 86400 ))" +%F)"
	new_click "$1" $(( $2 * 86400000 ))
}
# sign SECRET PAYLOAD [T]: the X-AffTok-Signature value
sign() {
	local t=${3:-$(date +%s)}
	printf 't=%s,v1=%s' "$t" "$(printf '%s' "$t.$2" | openssl dgst -sha256 -hmac "$1" | awk '{print $NF}')"
}
