# The release tarball: `make distcheck` (tarball, a read-only source tree,
# a VPATH build, make check, install, uninstall leaving nothing, distclean)
# passes, and the tarball carries what its tests and scripts need. Takes a
# couple of minutes: it runs once per scripts/test.
. "$(dirname "$0")/lib.sh"

make -C "$BUILD" -j2 distcheck >"$LOG/distcheck.log" 2>&1
rc=$?
check "make distcheck passes (log: $LOG/distcheck.log)" test $rc = 0
[ $rc = 0 ] || tail -n 30 "$LOG/distcheck.log" >&2

tarball=$(ls -t "$BUILD"/afftok-*.tar.gz 2>/dev/null | head -n 1)
check "tarball made" test -s "$tarball"
list=$(tar tzf "$tarball" 2>/dev/null | sed 's|^[^/]*/||')
for f in configure Makefile.in README docs/DEPLOY.md etc/init.d-afftok.in etc/apache-afftok.conf.in \
	etc/nginx-afftok.conf.in etc/afftok.cron.in etc/afftok-fcgi.service.in etc/pg_service.conf.sample \
	scripts/local scripts/test scripts/lib.sh tests/integration/lib.sh tests/integration/70-install.sh \
	sql/001_foundation.sql; do
	check "tarball carries $f" grep -qx "$f" <<<"$list"
done
if [ -f "$top/node_modules/crawler-user-agents/crawler-user-agents.json" ]; then
	check "tarball carries the crawler patterns the tests read" \
		grep -qx node_modules/crawler-user-agents/crawler-user-agents.json <<<"$list"
fi
eq "no build output in the tarball" "" "$(grep -E '\.o$|\.a$|^config\.status$|^afftok-fcgi$' <<<"$list" | head -n 3 | tr '\n' ' ')"
done_testing
