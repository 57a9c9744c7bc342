# Fixtures for the click tests (10-, 11-, 12-click*.sh): offers and links
# made with SQL in the demo tenant, so these tests need no admin API.
T=$AFFTOK_TENANT_ID
RUNID=$$$(date +%s%N | tail -c 5)

# mkoffer NAME [column=value ...]: prints the new offer's id.
mkoffer() {
	local name=$1; shift
	local cols="tenant_id, advertiser_id, name, url" vals="$T, $ADV, '$name-$RUNID', '$OFFER_URL'" kv
	for kv in "$@"; do cols="$cols, ${kv%%=*}"; vals="$vals, ${kv#*=}"; done
	sql "INSERT INTO offers ($cols) VALUES ($vals) RETURNING id" | head -n 1
}
# mklink OFFER_ID: prints the new link's code.
mklink() {
	local code="t${RUNID}x$RANDOM$RANDOM" # $(mklink) runs in a subshell: no counter
	sql "INSERT INTO links (tenant_id, offer_id, affiliate_id, code) VALUES ($T, $1, $AFF, '$code')" >/dev/null
	echo "$code"
}
OFFER_URL='http://land.test/lp?cid={click_id}&s1={sub1}&s2={sub2}&o={offer_id}&a={affiliate_id}&l={link_code}&t={ts}&u={unknown}'
ADV=$(sql "INSERT INTO advertisers (tenant_id, name) VALUES ($T, 'click adv $RUNID') RETURNING id" | head -n 1)
AFF=$(sql "INSERT INTO affiliates (tenant_id, name) VALUES ($T, 'click aff $RUNID') RETURNING id" | head -n 1)

# Distinct source addresses per test keep the rate limit and the duplicate
# rule of one test out of the others.
# (a file, since $(nextip) runs in a subshell)
IPN_FILE=$(mktemp)
echo $((RANDOM % 50 * 1000)) >"$IPN_FILE"
nextip() {
	local n=$(($(cat "$IPN_FILE") + 1))
	echo "$n" >"$IPN_FILE"
	echo "198.$((18 + n / 62500 % 2)).$((n / 250 % 250)).$((n % 250 + 1))"
}

# click PATH_AND_QUERY IP [curl args]: sets STATUS, BODY, HDRS (lib.sh req).
# A browser's headers (lib.sh req), so the bot rules leave these clicks alone.
click() { local p=$1 ip=$2; shift 2; req GET "$p" -H "X-Forwarded-For: $ip" "$@"; }
# burst URL IP N DIR: N requests at once from one address; every answer's
# headers in DIR/h (one block each), bodies in DIR/b.I; prints "count code".
burst() {
	local i
	for i in $(seq "$3"); do printf 'url = "%s"\noutput = "%s/b.%s"\n' "$1" "$4" "$i"; done >"$4/cfg"
	curl -s --no-progress-meter -Z --parallel-max 64 -K "$4/cfg" -D "$4/h" -w '%{http_code}\n' \
		-A "$BROWSER_UA" -H "Accept-Language: en" -H "X-Forwarded-For: $2" 2>/dev/null | sort | uniq -c
}
ingest() { ctl ingest --once >/dev/null 2>>"$LOG/integration.log"; }
# row CLICK_ID COLUMNS: the stored click's columns, |-separated.
row() { sql "SELECT $2 FROM clicks WHERE click_id = '$1'"; }
bump() { sql "UPDATE cache_epoch SET epoch = epoch + 1" >/dev/null; sleep 1.5; }
# segment_file PATH: writes the records on stdin (one a line, the record's
# tab-separated fields) as a closed journal segment, framed as
# src/journal.c does (magic, length, CRC32C of the payload and the header).
segment_file() {
	python3 -c '
import struct, sys
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF
out = b""
for rec in sys.stdin.buffer.read().split(b"\n"):
    if rec:
        head = bytes([0xAF, 0x7C, 0x4A, 0x31]) + struct.pack("<II", len(rec), crc32c(rec))
        out += head + struct.pack("<I", crc32c(head)) + rec
open(sys.argv[1], "wb").write(out)
' "$1"
}
