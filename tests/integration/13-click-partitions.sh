# Partition upkeep: `afftokctl partitions` creates the daily click
# partitions ahead and detaches and drops those past retention; link nonces
# nobody can replay any more are forgotten. Ingest creates the partition of
# a day it has none for (a journal replayed late).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/click-lib.sh"

parts() { sql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'clicks'::regclass AND inhrelid::regclass::text = 'clicks_' || to_char((now() AT TIME ZONE 'UTC')::date + $1, 'YYYYMMDD')"; }
ctl partitions
eq "partitions: exit 0" 0 "$?"
eq "today's partition" 1 "$(parts 0)"
eq "partition 7 days ahead (default partition_days_ahead)" 1 "$(parts 7)"
# setup NAME: "row security enabled and forced|vacuumed after every
# 100,000 new rows|BRIN indexes|of them with autosummarize" of a partition
# (sql/098, sql/100).
setup() { sql "SELECT c.relrowsecurity AND c.relforcerowsecurity,
	c.reloptions @> '{autovacuum_vacuum_insert_threshold=100000,autovacuum_vacuum_insert_scale_factor=0}',
	(SELECT count(*) FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am am ON am.oid = x.relam
	WHERE i.indrelid = c.oid AND am.amname = 'brin'),
	(SELECT count(*) FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
	WHERE i.indrelid = c.oid AND array_to_string(x.reloptions, ',') LIKE '%autosummarize%')
	FROM pg_class c WHERE c.relname = '$1'"; }
eq "a new partition: tenant rows, vacuumed every 100,000 rows, BRIN on created_at (none on ingested_at, sql/101) without autosummarize" "t|t|1|0" \
	"$(setup "clicks_$(sql "SELECT to_char((now() AT TIME ZONE 'UTC')::date + 7, 'YYYYMMDD')")")"
sql "SELECT afftok_ensure_partition_day('clicks', '2020-01-01')" >/dev/null
sql "INSERT INTO link_nonces VALUES ($T, 'old-nonce-$RUNID', 1, 'x', now() - interval '40 days')" >/dev/null
old_ts=$(( $(date +%s) - 40 * 86400 )) young_ts=$(( $(date +%s) - 29 * 86400 ))
sql "INSERT INTO link_nonce_sets VALUES ($old_ts, 1, $T, 'old-nonce-$RUNID'), ($young_ts, 1, $T, 'young-nonce-$RUNID')" >/dev/null
eq "an old partition exists" 1 "$(sql "SELECT count(*) FROM pg_class WHERE relname = 'clicks_20200101'")"
ctl partitions
eq "past retention (90 days): dropped" 0 "$(sql "SELECT count(*) FROM pg_class WHERE relname = 'clicks_20200101'")"
eq "old nonces forgotten" 0 "$(sql "SELECT count(*) FROM link_nonces WHERE nonce = 'old-nonce-$RUNID'")"
eq "nonce sets of tokens signed 40 days ago forgotten, 29 days ago kept" "$young_ts" \
	"$(sql "SELECT string_agg(ts::text, ',') FROM link_nonce_sets WHERE ts IN ($old_ts, $young_ts) AND link_id = 1")"
eq "today's partition kept" 1 "$(parts 0)"
eq "job run recorded for /admin/health" ok "$(sql "SELECT status FROM job_runs WHERE name = 'partitions'")"

# A journal record from a day without a partition (a segment replayed late):
# ingest creates the partition instead of failing the batch.
day=$(sql "SELECT to_char((now() AT TIME ZONE 'UTC')::date + 20, 'YYYYMMDD')")
eq "no partition 20 days ahead yet" 0 "$(sql "SELECT count(*) FROM pg_class WHERE relname = 'clicks_$day'")"
o=$(mkoffer part); l=$(mklink "$o")
lid=$(sql "SELECT id FROM links WHERE code = '$l'")
# segment FILE DAY IP...: writes a closed journal segment with one record
# per IP (\N = none) dated DAY at noon; prints their click ids.
segment() {
	local recs
	recs=$(python3 - "${@:2}" "$T" "$lid" "$o" "$AFF" <<'PY'
import random, string, sys
args = sys.argv[1:]
day, ips, (t, lid, o, aff) = args[0], args[1:-4], args[-4:]
N = '\\N'
for ip in ips:
    cid = ''.join(random.choice(string.ascii_letters + string.digits) for _ in range(28))
    ts = '%s-%s-%s 12:00:00.000+00' % (day[:4], day[4:6], day[6:])
    print('\t'.join(['1', cid, ts, t, lid, o, aff, ip, N, N, 'late', N, N, N, N, N, N, N, N, N, N,
                     'f' * 32, 'f', N, 'f', 't', N, N, N, N]))
PY
	)
	segment_file "$1" <<<"$recs"
	cut -f2 <<<"$recs"
}
fid=$(segment "$RUN/journal/late-1-1-1.rdy" "$day" '\N')
ingest
eq "a record dated 20 days ahead is stored" 1 "$(sql "SELECT count(*) FROM clicks WHERE click_id = '$fid' AND sub1 = 'late'")"
eq "in the partition ingest created for it" 1 "$(sql "SELECT count(*) FROM clicks_$day WHERE click_id = '$fid'")"
eq "set up as the partitions job's are" "t|t|1|0" "$(setup "clicks_$day")"
eq "the segment is gone" "" "$(ls "$RUN/journal" | grep late-)"
sql "DELETE FROM clicks WHERE click_id = '$fid'" >/dev/null
sql "DROP TABLE IF EXISTS clicks_$day" >/dev/null

# The ingest COPYs into the day partitions as afftok_loader, which the
# stack's set-up created (sql/099_click_loader.sql): a batch of two days
# goes into both partitions, and afftok_loader was granted INSERT on the
# one ingest created. Without the role (a cluster where the superuser step
# was skipped), it stages the rows as before and stores the same.
su_sql() { psql -X -q -tA -h "$PGSOCK" -p "$PGPORT" -U postgres afftok -c "$1"; }
today=$(sql "SELECT to_char((now() AT TIME ZONE 'UTC')::date, 'YYYYMMDD')")
day=$(sql "SELECT to_char((now() AT TIME ZONE 'UTC')::date + 21, 'YYYYMMDD')")
in_sql() { sed "s/.*/'&'/" <<<"$1" | paste -sd,; }
late() { sql "SELECT coalesce(sum(clicks), 0) FROM stats_click_pre WHERE link_id = $lid AND sub1 = 'late'"; }
sed 's/^log_level = .*/log_level = debug/' "$CONF" >"$RUN/debug.conf"
before=$(late)
ahead=$(segment "$RUN/journal/twodays-1-1-2.rdy" "$day" 192.0.2.13)
ids=$(segment "$RUN/journal/twodays-1-1-1.rdy" "$today" 192.0.2.11 192.0.2.12; echo "$ahead")
"$BUILD/afftokctl" -c "$RUN/debug.conf" -v ingest --once 2>"$LOG/loader.log" >/dev/null
eq "copied as afftok_loader: three clicks of two days, in one part" "1|3" \
	"$(grep -c ': 3 clicks copied into their day partitions' "$LOG/loader.log")|$(sql "SELECT count(*) FROM clicks WHERE click_id IN ($(in_sql "$ids"))")"
eq "each in its day's partition, one ingested_at" "2|1|1" "$(sql "SELECT (SELECT count(*) FROM clicks_$today WHERE click_id IN ($(in_sql "$ids"))),
	(SELECT count(*) FROM clicks_$day WHERE click_id IN ($(in_sql "$ids"))),
	(SELECT count(DISTINCT ingested_at) FROM clicks WHERE click_id IN ($(in_sql "$ids")))")"
eq "the summary rows count them" $((before + 3)) "$(late)"
eq "afftok_loader may insert into the partition ingest created" t "$(sql "SELECT has_table_privilege('afftok_loader', 'clicks_$day', 'INSERT')")"
eq "afftok itself is still under row-level security there" t "$(sql "SELECT relforcerowsecurity AND NOT (SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user) FROM pg_class WHERE relname = 'clicks_$day'")"
su_sql "REVOKE afftok_loader FROM afftok" >/dev/null
ids=$(segment "$RUN/journal/staged-1-1-1.rdy" "$today" 192.0.2.14 192.0.2.15)
"$BUILD/afftokctl" -c "$RUN/debug.conf" -v ingest --once 2>"$LOG/loader.log" >/dev/null
eq "without the role: staged, not copied, and stored" "0|2" \
	"$(grep -c 'copied into their day partitions' "$LOG/loader.log")|$(sql "SELECT count(*) FROM clicks WHERE click_id IN ($(in_sql "$ids"))")"
su_sql "GRANT afftok_loader TO afftok" >/dev/null
# through `clicks`, so its summary rows go too (later tests sum from today on)
sql "DELETE FROM clicks WHERE click_id = '$ahead'" >/dev/null
sql "DROP TABLE IF EXISTS clicks_$day" >/dev/null

# A record PostgreSQL refuses (here an address that is no address) between
# good ones: the batch is split until it is alone, then it is set aside in
# the quarantine directory, loudly; the others are stored.
ids=$(segment "$RUN/journal/poison-1-1-1.rdy" "$today" 192.0.2.1 192.0.2.2 999.1.2.3 192.0.2.4 192.0.2.5)
bad=$(sed -n 3p <<<"$ids")
ingest
eq "the four good records of the segment are stored" 4 "$(sql "SELECT count(*) FROM clicks WHERE click_id IN ($(grep -v "$bad" <<<"$ids" | sed "s/.*/'&'/" | paste -sd,))")"
eq "the refused one is not" 0 "$(sql "SELECT count(*) FROM clicks WHERE click_id = '$bad'")"
check "it is kept in the quarantine directory" grep -q "$bad" "$RUN"/journal/quarantine/poison-1-1-1-*.rec
eq "the segment is done" "" "$(ls "$RUN/journal" | grep poison-)"
done_testing
