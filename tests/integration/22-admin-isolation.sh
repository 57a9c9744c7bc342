# Tenant isolation in depth:
# 1. an authorization matrix generated from fcgi/routes.c: every /admin and
#    /api route x every method x every key scope x own/foreign tenant. A scope
#    the route does not allow answers 403; a foreign id answers 404 exactly
#    like a missing one; nothing answers 2xx where it is not allowed; lists
#    never show a foreign row; foreign rows are unchanged afterwards;
# 2. row-level security on its own: queries as the app role with a tenant set
#    and no tenant filter see and change no foreign row, on every table that
#    has a tenant_id column;
# 3. a pg_dump of the database holds no plaintext API key or secret.
. "$(dirname "$0")/lib.sh"
J='Content-Type: application/json'
OP="X-API-Key: $AFFTOK_OPERATOR_KEY"

# Two tenants with the same shape: advertisers, affiliates, offer, link and
# one key of each scope (the advertiser/affiliate keys belong to adv1/aff1).
setup_tenant() {
	local t=$1 admin
	req POST /admin/tenants -H "$OP" -H "$J" -d '{"name":"Isolation '"$t"'"}'
	eval "${t}_TID=$(json 'd["id"]')"
	admin=$(json 'd["admin_key"]')
	eval "${t}_ADMIN=$admin"
	local K="X-API-Key: $admin"
	req POST /admin/advertisers -H "$K" -H "$J" -d '{"name":"'"$t"' adv1"}'; eval "${t}_ADV=$(json 'd["id"]')"
	req POST /admin/advertisers -H "$K" -H "$J" -d '{"name":"'"$t"' adv2"}'; eval "${t}_ADV2=$(json 'd["id"]')"
	req POST /admin/affiliates -H "$K" -H "$J" -d '{"name":"'"$t"' aff1"}'; eval "${t}_AFF=$(json 'd["id"]')"
	req POST /admin/affiliates -H "$K" -H "$J" -d '{"name":"'"$t"' aff2"}'; eval "${t}_AFF2=$(json 'd["id"]')"
	local adv aff adv2
	eval "adv=\$${t}_ADV aff=\$${t}_AFF adv2=\$${t}_ADV2"
	req POST /admin/offers -H "$K" -H "$J" -d '{"advertiser_id":'"$adv"',"name":"'"$t"' offer","url":"https://adv.example/?c={click_id}"}'
	eval "${t}_OFFER=$(json 'd["id"]')"
	req POST /admin/offers -H "$K" -H "$J" -d '{"advertiser_id":'"$adv2"',"name":"'"$t"' offer2","url":"https://adv.example/?c={click_id}"}'
	eval "${t}_OFFER2=$(json 'd["id"]')"
	local offer
	eval "offer=\$${t}_OFFER"
	req POST /admin/links -H "$K" -H "$J" -d '{"offer_id":'"$offer"',"affiliate_id":'"$aff"'}'
	eval "${t}_LINK=$(json 'd["id"]')"
	local aff2
	eval "aff2=\$${t}_AFF2"
	req POST /admin/links -H "$K" -H "$J" -d '{"offer_id":'"$offer"',"affiliate_id":'"$aff2"'}'
	eval "${t}_LINK2=$(json 'd["id"]')"
	req POST /admin/api-keys -H "$K" -H "$J" -d '{"scope":"advertiser","advertiser_id":'"$adv"'}'
	eval "${t}_ADVKEY=$(json 'd["key"]') ${t}_ADVKEYID=$(json 'd["id"]')"
	req POST /admin/api-keys -H "$K" -H "$J" -d '{"scope":"affiliate","affiliate_id":'"$aff"'}'
	eval "${t}_AFFKEY=$(json 'd["key"]') ${t}_AFFKEYID=$(json 'd["id"]')"
	req POST /admin/api-keys -H "$K" -H "$J" -d '{"scope":"admin","label":"matrix"}'
	eval "${t}_KEYID=$(json 'd["id"]')"
}
setup_tenant A
setup_tenant B
check "fixtures of tenant A created" test -n "$A_LINK2" -a -n "$A_AFFKEY" -a -n "$A_KEYID"
check "fixtures of tenant B created" test -n "$B_LINK2" -a -n "$B_AFFKEY" -a -n "$B_KEYID"
export A_TID A_ADMIN A_ADV A_ADV2 A_AFF A_AFF2 A_OFFER A_OFFER2 A_LINK A_LINK2 A_ADVKEY A_AFFKEY A_KEYID A_ADVKEYID A_AFFKEYID
export B_TID B_ADMIN B_ADV B_ADV2 B_AFF B_AFF2 B_OFFER B_OFFER2 B_LINK B_LINK2 B_ADVKEY B_AFFKEY B_KEYID B_ADVKEYID B_AFFKEYID
export AFFTOK_OPERATOR_KEY ROUTES_C="$top/fcgi/routes.c"
before=$(sql "SELECT string_agg(concat_ws(':', name, status, updated_at), ',' ORDER BY id) FROM offers WHERE tenant_id = $B_TID")
before_keys=$(sql "SELECT count(*) FROM api_keys WHERE tenant_id = $B_TID AND revoked_at IS NULL AND expires_at IS NULL")

# ---- 1. the matrix ----
python3 - <<'PYEOF'
import json, os, re, subprocess, sys, urllib.request, urllib.error

E = os.environ
base = E['AFFTOK_URL']
src = open(E['ROUTES_C']).read()
macros = {}
for name, body in re.findall(r'#define (\w+) (.+)', src):
    macros[name] = body.split('/*')[0].strip()
def scopes_of(expr):
    # Expands the route table's scope macros into a set of scope names.
    for _ in range(5):
        for k, v in macros.items():
            expr = re.sub(r'\b%s\b' % k, '(%s)' % v, expr)
    out = set()
    for s, n in (('OPERATOR', 'operator'), ('ADMIN', 'admin'), ('ADVERTISER', 'advertiser'), ('AFFILIATE', 'affiliate')):
        if re.search(r'SCOPE_%s\b' % s, expr):
            out.add(n)
    if 'SCOPES_ANY' in expr:
        out |= {'operator', 'admin', 'advertiser', 'affiliate'}
    return out

routes = []
table = src[src.index('const struct route routes[]'):]
for m in re.finditer(r'\{"(/(?:admin|api)/[^"]*)",\s*([^,]+),\s*([^,]+),\s*([^,]+),', table):
    pattern, methods, flags, scopes = m.groups()
    if pattern == '/admin/health':
        pass
    ms = [x for x in ('GET', 'POST', 'PATCH', 'DELETE', 'PUT') if 'HTTP_' + x in methods]
    routes.append((pattern, ms, scopes_of(scopes.strip())))

keys = {'operator': E['AFFTOK_OPERATOR_KEY'], 'admin': E['A_ADMIN'], 'advertiser': E['A_ADVKEY'], 'affiliate': E['A_AFFKEY']}
def ids(t):
    g = lambda k: E['%s_%s' % (t, k)]
    return {'tenants': g('TID'), 'advertisers': g('ADV'), 'affiliates': g('AFF'), 'offers': g('OFFER'),
            'links': g('LINK'), 'api-keys': g('KEYID')}
def sql(q):
    return subprocess.run(['psql', '-X', '-q', '-tA', E['PGURI'], '-c', q], capture_output=True, text=True).stdout.strip()
# Tables behind other collections, for a real foreign row when there is one.
other_tables = {'geo-rules': 'geo_rules', 'routes': 'routes', 'webhooks': 'webhook_endpoints',
                'conversions': 'conversions', 'postbacks': 'affiliate_postbacks', 'clicks': 'clicks',
                'audit': 'admin_audit'}
def some_id(seg, t):
    mine = ids(t).get(seg)
    if mine:
        return mine
    tbl = other_tables.get(seg)
    col = 'click_id' if seg == 'clicks' else 'id'
    if tbl:
        v = sql("SELECT %s FROM %s WHERE tenant_id = %s ORDER BY 1 LIMIT 1" % (col, tbl, E['%s_TID' % t]))
        if v:
            return v
    return '999999999' if seg != 'clicks' else 'AAAAAAAAAAAAAAAAAAAAAAAAAAAA'

def call(method, path, key, body):
    data = json.dumps(body).encode() if body is not None else None
    rq = urllib.request.Request(base + path, data=data, method=method)
    rq.add_header('X-API-Key', key)
    if data is not None:
        rq.add_header('Content-Type', 'application/json')
    try:
        with urllib.request.urlopen(rq, timeout=20) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except Exception as e:
        return 0, str(e)

# Bodies that would succeed if authorization let them through.
def body_for(pattern, method, t):
    i = ids(t)
    if method not in ('POST', 'PATCH', 'PUT'):
        return None
    if pattern.endswith('/sign') or pattern.endswith('/rotate') or pattern.endswith('/test') or pattern.endswith('/replay'):
        return None
    coll = pattern.split('/')[2]
    if method == 'PATCH':
        if coll == 'conversions':
            return {'status': 'rejected', 'reason': 'authorization matrix'}
        return {'name': 'changed by the matrix'} if coll in ('advertisers', 'affiliates', 'offers', 'tenants') else \
               {'status': 'archived'} if coll == 'links' else {'label': 'changed'} if coll == 'api-keys' else {}
    return {'advertisers': {'name': 'm'}, 'affiliates': {'name': 'm'}, 'tenants': {'name': 'm'},
            'offers': {'advertiser_id': int(i['advertisers']), 'name': 'm', 'url': 'https://x.example/'},
            'links': {'offer_id': int(i['offers']), 'affiliate_id': int(i['affiliates'])},
            'api-keys': {'scope': 'advertiser', 'advertiser_id': int(i['advertisers'])},
            'geo-rules': {'scope': 'offer', 'scope_id': int(i['offers']), 'mode': 'block', 'countries': ['US']},
            'routes': {'offer_id': int(i['offers']), 'destinations': [{'url': 'https://x.example/', 'weight': 1}]},
            'webhooks': {'url': 'https://hooks.example/x', 'events': ['conversion.created']}}.get(coll, {})

results = []
def result(ok, name):
    results.append(ok)
    print(('PASS: ' if ok else 'FAIL: ') + ' '.join(name.split()))

mine = {'tenants', 'advertisers', 'affiliates', 'offers', 'links', 'api-keys'}
# Routes that refuse a request without these parameters (400 before the key).
today = __import__('datetime').date.today().isoformat()
required_query = {'/api/stats': '?from=%s&to=%s' % (today, today)}
with_refs = {'offers', 'links', 'api-keys', 'geo-rules', 'routes'}
tables = {'tenants': 'tenants', 'advertisers': 'advertisers', 'affiliates': 'affiliates', 'offers': 'offers',
          'links': 'links', 'api-keys': 'api_keys'}
count = 0
for pattern, methods, allowed in routes:
    seg = pattern.split('/')[2]
    for method in methods:
        for scope, key in keys.items():
            targets = ['foreign', 'own'] if '*' in pattern else ['collection']
            if method == 'POST' and '*' not in pattern:
                # foreign references only where a body names other rows
                targets = ['collection-own-refs'] + (['collection-foreign-refs'] if seg in with_refs else [])
            for target in targets:
                t = 'B' if 'foreign' in target else 'A'
                path = pattern.replace('*', str(some_id(seg, t)), 1) + required_query.get(pattern, '')
                body = body_for(pattern, method, t)
                # Writes to own rows are CRUD tests' business; here they would
                # only disturb the fixtures (unless refused by scope first).
                if target == 'own' and method != 'GET' and scope in allowed:
                    continue
                # The operator may change any tenant: its writes would only
                # disturb tenant B's fixtures.
                if scope == 'operator' and method != 'GET' and scope in allowed:
                    continue
                if target == 'collection-own-refs' and scope in allowed:
                    continue
                status, text = call(method, path, key, body)
                count += 1
                name = '%s %s as %s (%s)' % (method, path, scope, target)
                if scope not in allowed:
                    result(status == 403, '%s: scope not allowed -> 403 (got %s)' % (name, status))
                    continue
                if scope == 'operator':
                    # The operator spans tenants by design; it must just not crash.
                    result(status < 500 or status == 503, '%s: no server error (got %s)' % (name, status))
                    continue
                if 'foreign' in target:
                    if target == 'collection-foreign-refs' and seg not in mine and status == 400:
                        # another collection validating before it resolves ids: still no 2xx
                        result(True, '%s: refused (400)' % name)
                        continue
                    result(status == 404, '%s: foreign -> 404 (got %s %s)' % (name, status, text[:120]))
                    continue
                if target == 'collection' and method == 'GET':
                    result(200 <= status < 300, '%s: allowed list -> 2xx (got %s %s)' % (name, status, text[:100]))
                    if 200 <= status < 300 and seg in mine:
                        rows = json.loads(text).get('data', [])
                        got = {str(r.get('id')) for r in rows}
                        foreign = sql("SELECT count(*) FROM %s WHERE id IN (%s) AND tenant_id <> %s"
                                      % (tables[seg], ','.join(got) or '0', E['A_TID'])) if seg != 'tenants' else '0'
                        result(foreign == '0', '%s: no foreign row listed (%s foreign)' % (name, foreign))
                        if scope == 'advertiser' and seg == 'offers':
                            result(got == {E['A_OFFER']}, '%s: an advertiser sees only its own offers (%s)' % (name, sorted(got)))
                        if scope == 'affiliate' and seg == 'links':
                            result(got == {E['A_LINK']}, '%s: an affiliate sees only its own links (%s)' % (name, sorted(got)))
                    continue
                if target == 'own' and method == 'GET' and seg in mine:
                    # an advertiser/affiliate key sees its own row of a shared collection
                    result(status == 200, '%s: own row -> 200 (got %s)' % (name, status))

# Same tenant, another advertiser's / affiliate's rows: invisible like foreign ones.
for method, path, key, what in (
        ('GET', '/admin/offers/' + E['A_OFFER2'], keys['advertiser'], 'another advertiser\'s offer'),
        ('GET', '/admin/advertisers/' + E['A_ADV2'], keys['advertiser'], 'another advertiser'),
        ('GET', '/admin/links/' + E['A_LINK2'], keys['affiliate'], 'another affiliate\'s link'),
        ('POST', '/admin/links/' + E['A_LINK2'] + '/sign', keys['affiliate'], 'signing another affiliate\'s link'),
        ('GET', '/admin/affiliates/' + E['A_AFF2'], keys['affiliate'], 'another affiliate')):
    status, _ = call(method, path, key, None)
    result(status == 404, '%s %s: %s -> 404 (got %s)' % (method, path, what, status))
status, _ = call('POST', '/admin/links/' + E['A_LINK'] + '/sign', keys['affiliate'], None)
result(status == 200, 'an affiliate signs its own link (got %s)' % status)
result(count > 200, 'the matrix made %d requests over %d routes' % (count, len(routes)))
sys.exit(0 if all(results) else 1)
PYEOF
after=$(sql "SELECT string_agg(concat_ws(':', name, status, updated_at), ',' ORDER BY id) FROM offers WHERE tenant_id = $B_TID")
eq "tenant B's offers unchanged by the matrix" "$before" "$after"
eq "tenant B's keys unchanged by the matrix" "$before_keys" "$(sql "SELECT count(*) FROM api_keys WHERE tenant_id = $B_TID AND revoked_at IS NULL AND expires_at IS NULL")"
eq "no advertiser named by the matrix in tenant B" 0 "$(sql "SELECT count(*) FROM advertisers WHERE tenant_id = $B_TID AND name IN ('m', 'changed by the matrix')")"

# ---- 2. row-level security on its own ----
# Every table with a tenant_id column has forced RLS (partitions included).
unprotected=$(sql "SELECT string_agg(c.relname, ' ') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
	WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT (c.relrowsecurity AND c.relforcerowsecurity)")
eq "every table with tenant_id has forced row-level security" "" "$unprotected"
eq "the tenants table too" t "$(sql "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = 'tenants'")"
eq "the app role is no superuser and does not bypass RLS" f "$(sql "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")"
# Some rows to see in the tables other modules fill, if their schema is there.
as_tenant() { psql -X -q -tA "$PGURI" -c "SET afftok.tenant_id = '$1'" -c "$2" 2>&1; }
for t in $(sql "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
	WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1") tenants; do
	col=tenant_id; [ "$t" = tenants ] && col=id
	all_a=$(sql "SELECT count(*) FROM $t WHERE $col = $A_TID")
	# No tenant filter in the query: RLS alone decides.
	eq "RLS: $t as tenant A without a filter sees exactly A's rows" "$all_a" "$(as_tenant "$A_TID" "SELECT count(*) FROM $t")"
	eq "RLS: $t as tenant A sees no foreign row" 0 "$(as_tenant "$A_TID" "SELECT count(*) FROM $t WHERE $col <> $A_TID")"
	eq "RLS: $t with no tenant set sees nothing" 0 "$(as_tenant "" "SELECT count(*) FROM $t")"
done
eq "RLS: tenant B's advertisers are there for the wildcard" 2 "$(sql "SELECT count(*) FROM advertisers WHERE tenant_id = $B_TID AND name LIKE 'B adv%'")"
eq "RLS: an UPDATE without a tenant filter changes no foreign row" 0 \
	"$(as_tenant "$A_TID" "WITH u AS (UPDATE offers SET name = 'rls' WHERE id = $B_OFFER RETURNING 1) SELECT count(*) FROM u")"
eq "RLS: B's offer keeps its name" "B offer" "$(sql "SELECT name FROM offers WHERE id = $B_OFFER")"
contains "RLS: inserting a row for tenant B as tenant A is refused" "row-level security" \
	"$(as_tenant "$A_TID" "INSERT INTO advertisers (tenant_id, name) VALUES ($B_TID, 'smuggled')")"
eq "RLS: a DELETE without a tenant filter removes no foreign row" 0 \
	"$(as_tenant "$A_TID" "WITH d AS (DELETE FROM api_keys WHERE id = $B_KEYID RETURNING 1) SELECT count(*) FROM d")"
eq "RLS: B's key is still there" 1 "$(sql "SELECT count(*) FROM api_keys WHERE id = $B_KEYID")"
contains "RLS: a tenant cannot move its row to another tenant" "row-level security" \
	"$(as_tenant "$A_TID" "UPDATE affiliates SET tenant_id = $B_TID WHERE id = $A_AFF")"

# ---- 3. a database dump holds no plaintext key or secret ----
req POST "/admin/advertisers/$A_ADV/postback-secret" -H "X-API-Key: $A_ADMIN"
PBS=$(json 'd["postback_secret"]')
check "an advertiser postback secret to look for" test -n "$PBS"
dump=$(mktemp)
"$(pgbin)/pg_dump" -h "$PGSOCK" -p "$PGPORT" -U postgres --no-owner afftok >"$dump" 2>/dev/null
check "pg_dump (as a superuser, which RLS does not filter) worked" test -s "$dump"
check "the dump holds tenant B's rows" grep -q "B adv1" "$dump"
leaks=""
for k in "$AFFTOK_OPERATOR_KEY" "$AFFTOK_ADMIN_KEY" "$A_ADMIN" "$B_ADMIN" "$A_ADVKEY" "$A_AFFKEY" "$B_ADVKEY" "$B_AFFKEY"; do
	[ -n "$k" ] && grep -qF "$k" "$dump" && leaks="$leaks ${k:0:10}"
done
eq "no API key in the dump" "" "$leaks"
check "no advertiser postback secret in the dump" test "$(grep -c "$PBS" "$dump")" = 0
# Every API key the service ever printed looks like aft_<letter>_<36>; only
# the 10-character prefixes may appear.
eq "no full-length API key shape in the dump" 0 "$(grep -cE 'aft_[oavf]_[A-Za-z0-9]{36}' "$dump")"
check "no Standard Webhooks secret in clear (whsec_)" test "$(grep -c 'whsec_' "$dump")" = 0
mk=$(tr -d ' \n' <"$RUN/secret.key")
check "the master key is not in the dump" test "$(grep -c "$mk" "$dump")" = 0
eq "link secrets are stored encrypted (not 64 hex characters)" 0 \
	"$(sql "SELECT count(*) FROM tenants WHERE link_secret_enc ~ '^[0-9a-f]{64}$' OR link_secret_prev_enc ~ '^[0-9a-f]{64}$'")"
rm -f "$dump"
done_testing
