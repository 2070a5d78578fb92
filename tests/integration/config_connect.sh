#!/bin/bash
# config_connect.sh - cairn config check --connect [JOB] against real
# servers the test starts itself (redis-server, the MongoDB test server,
# s3rver): each source and sink a job uses is reached (connect,
# authenticate, list) and reported on a line of its own; a wrong password
# and a closed port each fail naming the server, exit 1; no secret is
# ever printed; a plugin built before the probe op (ABI 1.0) is "not
# checked"; config errors still come first (exit 3).
#
# Run by `make check` with $CAIRN, $CAIRN_PLUGIN_PATH and
# $CAIRN_TEST_PLUGINS set; emits TAP.
. "$(dirname "$0")/lib.sh"
: "${CAIRN_TEST_PLUGINS:?run through make check}"
need_plugin files local redis mongo s3
. "$(dirname "$0")/redis_lib.sh"
redis_need
. "$(dirname "$0")/mongo_lib.sh"
need_mongo_fixture
. "$(dirname "$0")/s3_lib.sh"
need_s3
# each lib set its own EXIT trap; stop every server, then clean up
_all_cleanup() {
	local p
	for p in $_mongo_pids; do
		kill "$p" 2>/dev/null
	done
	s3_stop
	redis_cleanup
}
trap _all_cleanup EXIT
plan 34
cd "$T" || exit 99

RPW='r3dis-PASS-word'
MPW='m0ngo-PASS-word'
redis_start r --requirepass "$RPW" || exit 99
rcli "$r_port" -a "$RPW" --no-auth-warning SET k1 v >/dev/null
rcli "$r_port" -a "$RPW" --no-auth-warning SET k2 v >/dev/null
rcli "$r_port" -a "$RPW" --no-auth-warning -n 3 SET k3 v >/dev/null
mongo_start --auth "bob:$MPW" || exit 99
m_port=$MONGO_PORT
/usr/bin/python3 - "$MONGO_AUTH_URI" <<'PY' || exit 99
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1])
c.shop.orders.insert_many([{"n": i} for i in range(5)])
c.shop.users.insert_one({"n": 1})
c.crm.people.insert_one({"n": 1})
PY
s3_start bkt || exit 99
closed=$(redis_free_port)
mkdir -p data/sub store plugins
echo hello >data/a.txt
cp "$CAIRN_TEST_PLUGINS/abi10src.so" plugins/
printf '%s\n' "$RPW" >rpw
printf '%s\n' "$MPW" >mpw
echo wrong-REDIS-secret >rbad
echo wrong-MONGO-secret >mbad
chmod 600 rpw mpw rbad mbad

muri="mongodb://bob@127.0.0.1:$m_port/?authSource=admin&serverSelectionTimeoutMS=3000"
{
	printf '[cairn]\nstate_dir = state\nplugin_dir = %s/plugins\n' "$T"
	printf '\n[source docs]\nplugin = files\npath = data\n'
	printf '\n[source cache]\nplugin = redis\nport = %s\npassword_file = rpw\ntimeout = 5s\n' "$r_port"
	printf '\n[source shop]\nplugin = mongo\nuri = %s\npassword_file = mpw\n' "$muri"
	printf '\n[source cache-badpw]\nplugin = redis\nport = %s\npassword_file = rbad\ntimeout = 5s\n' "$r_port"
	printf '\n[source cache-closed]\nplugin = redis\nport = %s\ntimeout = 5s\n' "$closed"
	printf '\n[source shop-badpw]\nplugin = mongo\nuri = %s\npassword_file = mbad\n' "$muri"
	printf '\n[source shop-closed]\nplugin = mongo\nuri = mongodb://127.0.0.1:%s/?serverSelectionTimeoutMS=2000\n' "$closed"
	printf '\n[source old]\nplugin = abi10src\ninput = data/a.txt\noutput = out.txt\n'
	printf '\n[sink here]\nplugin = local\npath = store\nfsync = no\n'
	s3_sink_ini offsite bkt
	s3_sink_ini offsite-badkey bkt "" secret_key=wrong-S3-secret-VALUE max_retries=0
	s3_sink_ini offsite-closed bkt "http://127.0.0.1:$closed" max_retries=0 timeout=5s
	printf '\n[job good]\nsources = docs cache shop\nsinks = here offsite\n'
	printf '\n[job files]\nsources = docs\nsinks = here offsite\n'
	printf '\n[job bad]\nsources = cache-badpw cache-closed shop-badpw shop-closed\nsinks = offsite-badkey offsite-closed\n'
	printf '\n[job old]\nsources = old\nsinks = here\n'
} >cairn.ini
chmod 600 cairn.ini
C() { timeout 120 "$CAIRN" -c "$T/cairn.ini" "$@"; }
no_secret() {
	check "no secret in what it printed" \
		sh -c '! grep -qF -e "$1" -e "$2" -e wrong-REDIS-secret -e wrong-MONGO-secret \
			-e wrong-S3-secret-VALUE -e S3RVER "$3" "$4"' - "$RPW" "$MPW" "$T/out" "$T/err"
}

check_exit "a backup of job files, so the sinks have objects to list" 0 C backup files
check_exit "config check --connect good: every source and sink reached" 0 C config check --connect good
out_has "source docs (files): ok, $T/data readable, 2 entries at its top"
out_has "source cache (redis): ok, redis 127.0.0.1:$r_port reached (role master), 3 keys in 2 databases"
out_has "source shop (mongo): ok, mongodb://127.0.0.1:$m_port reached, 2 databases, 3 collections"
out_has "sink here (local): ok, listed 0 objects (0 B) under good/"
out_has "sink offsite (s3): ok, listed 0 objects (0 B) under good/"
out_has "cairn.ini: ok (4 jobs"
check "nothing of job bad is reached" sh -c '! grep -q badpw "$1"' - "$T/out"
no_secret

check_exit "config check --connect files lists the job's objects" 0 C config check --connect files
check "the local sink lists the set's objects" grep -qE '^sink here \(local\): ok, listed [1-9][0-9]* objects? \([^)]*\) under files/' "$T/out"
check "the s3 sink lists the same objects" \
	test "$(sed -n 's/^sink here (local): ok, listed \([0-9]*\) .*/\1/p' "$T/out")" = \
	"$(sed -n 's/^sink offsite (s3): ok, listed \([0-9]*\) .*/\1/p' "$T/out")"

check_exit "config check --connect bad fails, exit 1" 1 C config check --connect bad
err_has "source cache-badpw (redis): FAILED: redis 127.0.0.1:$r_port: the server refused the credentials"
err_has "source cache-closed (redis): FAILED: redis 127.0.0.1:$closed: cannot connect"
err_has "source shop-badpw (mongo): FAILED: server 127.0.0.1:$m_port: authentication failed"
err_has "source shop-closed (mongo): FAILED: server 127.0.0.1:$closed: cannot connect"
err_has "sink offsite-badkey (s3): FAILED:"
err_has "sink offsite-closed (s3): FAILED:"
check "the closed s3 endpoint is named" grep -q "offsite-closed (s3): FAILED: .*127.0.0.1 port $closed" "$T/err"
check "one line per failure" test "$(grep -c FAILED "$T/err")" = 6
check "no ok line for job bad's sections" sh -c '! grep -q ": ok" "$1"' - "$T/out"
no_secret

check_exit "config check --connect: every job's sections, exit 1 when any fails" 1 C config check --connect
out_has "source shop (mongo): ok,"
err_has "source shop-badpw (mongo): FAILED:"
out_has "source old (abi10src): not checked (the plugin has no probe)"

check_exit "a plugin without probe is no failure" 0 C config check --connect old
check_exit "an unknown job is a usage error" 2 C config check --connect nosuch
err_has "no job named \"nosuch\""
check_exit "config check takes no other argument" 2 C config check good
check_exit "without --connect no server is tried" 0 C config check

# a configuration error is said before anything is reached, exit 3
sed -i 's/^path = data$/pth = data/' cairn.ini
check_exit "a config error wins over what --connect finds" 3 C config check --connect good
