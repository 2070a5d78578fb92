# mongo_lib.sh - the MongoDB test server (tests/fixtures/mongod/mongod.py)
# for the integration tests.  Source it after lib.sh:
#
#	. "$top_srcdir/tests/integration/lib.sh"
#	. "$top_srcdir/tests/integration/mongo_lib.sh"
#	need_mongo_fixture
#	mongo_start --auth bob:s3cret || exit 99
#	... $MONGO_URI / $MONGO_AUTH_URI ...
#
# Servers listen on 127.0.0.1 on a port the OS picks; every server started
# here is killed when the test exits (the EXIT trap), exits by itself when
# the test's shell is gone (--watch-pid) and after MONGO_LIFETIME seconds
# (default 900) whatever happens.
MONGO_PYTHON=/usr/bin/python3
# no __pycache__ in the source tree (it may be read-only, as in distcheck)
export PYTHONDONTWRITEBYTECODE=1
MONGOD_PY="$top_srcdir/tests/fixtures/mongod/mongod.py"
MONGO_LOAD_PY="$top_srcdir/tests/fixtures/mongo_load.py"
MONGO_ARCHIVE_PY="$top_srcdir/tests/fixtures/mongo_archive.py"
_mongo_pids=""
_mongo_n=0

# need_mongo_fixture: before plan, skip the whole script when Debian's
# python3 with python3-bson and python3-pymongo is missing.
need_mongo_fixture() {
	if ! "$MONGO_PYTHON" -c 'import bson, pymongo' 2>/dev/null; then
		echo "1..0 # SKIP needs /usr/bin/python3 with python3-bson and python3-pymongo (tools/install-deps)"
		exit 0
	fi
}

_mongo_cleanup() {
	local p
	for p in $_mongo_pids; do
		kill "$p" 2>/dev/null
	done
	cleanup
}
trap _mongo_cleanup EXIT

# mongo_start [--auth USER:PASSWORD] [--replset NAME] [mongod.py OPTION]...:
# start a server and wait (20 s at most) until it listens.  Sets MONGO_PORT,
# MONGO_PID, MONGO_URI (no credentials), MONGO_AUTH_URI (with them,
# authSource=admin; equal to MONGO_URI without --auth) and MONGO_LOG (its
# stderr).  --replset NAME starts it as the primary of replica set NAME
# (with an oplog) and sets MONGO_RS_URI (MONGO_AUTH_URI with
# replicaSet=NAME); MONGO_RS_URI is empty otherwise.  Other options go to
# mongod.py: --close-after-docs N drops the connection of every
# find/getMore once N documents have gone out; --oplog-size BYTES and
# --noop-interval SECONDS shape the oplog; --verbose logs each command.  A
# second call starts a second server (save the variables).
mongo_start() {
	local auth="" rs="" user pw i
	while [ "${1:-}" = --auth ] || [ "${1:-}" = --replset ]; do
		if [ "$1" = --auth ]; then
			auth=$2
		else
			rs=$2
		fi
		shift 2
	done
	if [ -n "$auth" ]; then
		set -- --user "$auth" "$@"
	fi
	if [ -n "$rs" ]; then
		set -- --replset "$rs" "$@"
	fi
	_mongo_n=$((_mongo_n + 1))
	local pf="$T/mongod$_mongo_n.port"
	MONGO_LOG="$T/mongod$_mongo_n.log"
	rm -f "$pf"
	"$MONGO_PYTHON" "$MONGOD_PY" --host 127.0.0.1 --port 0 --port-file "$pf" \
		--watch-pid $$ --lifetime "${MONGO_LIFETIME:-900}" "$@" \
		>/dev/null 2>"$MONGO_LOG" &
	MONGO_PID=$!
	_mongo_pids="$_mongo_pids $MONGO_PID"
	i=0
	while [ ! -s "$pf" ]; do
		if ! kill -0 "$MONGO_PID" 2>/dev/null; then
			echo "# mongo_start: the test server exited:" >&2
			diag "$MONGO_LOG"
			return 1
		fi
		i=$((i + 1))
		if [ "$i" -gt 400 ]; then
			echo "# mongo_start: the test server did not listen within 20 s" >&2
			diag "$MONGO_LOG"
			return 1
		fi
		sleep 0.05
	done
	MONGO_PORT=$(cat "$pf")
	MONGO_URI="mongodb://127.0.0.1:$MONGO_PORT"
	MONGO_AUTH_URI=$MONGO_URI
	if [ -n "$auth" ]; then
		user=${auth%%:*}
		pw=${auth#*:}
		MONGO_AUTH_URI="mongodb://$(_mongo_esc "$user"):$(_mongo_esc "$pw")@127.0.0.1:$MONGO_PORT/?authSource=admin"
	fi
	MONGO_RS_URI=""
	if [ -n "$rs" ]; then
		case $MONGO_AUTH_URI in
		*\?*) MONGO_RS_URI="$MONGO_AUTH_URI&replicaSet=$rs" ;;
		*) MONGO_RS_URI="$MONGO_AUTH_URI/?replicaSet=$rs" ;;
		esac
	fi
}

# URI-escape a user name or password.
_mongo_esc() {
	"$MONGO_PYTHON" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

# mongo_stop [PID]: stop a server (default: the last one started) and
# wait for it to go.
mongo_stop() {
	local p=${1:-$MONGO_PID}
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

# mongo_cmd URI DB JSON: run one command (Extended JSON) through pymongo;
# prints the reply as relaxed Extended JSON on one line; exit status 1
# (the reply on stderr) when the server answered ok: 0.  30 s timeout.
mongo_cmd() {
	timeout 30 "$MONGO_PYTHON" -c '
import sys
from bson import json_util
from bson.son import SON
import pymongo, pymongo.errors
uri, db, js = sys.argv[1:4]
cmd = json_util.loads(js, object_pairs_hook=SON)
c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
try:
    r = c[db].command(cmd)
except pymongo.errors.OperationFailure as e:
    print(json_util.dumps(e.details), file=sys.stderr)
    sys.exit(1)
print(json_util.dumps(r))
' "$@"
}

# mongo_close_after URI N [TIMES]: from now on, drop the connection of
# every find/aggregate/getMore once N more documents have gone out (only
# the next TIMES such replies when given).  mongo_close_after URI off
# disarms it.
mongo_close_after() {
	local uri=$1 n=$2 mode='"alwaysOn"'
	if [ "$n" = off ]; then
		mongo_cmd "$uri" admin '{"configureFailPoint": "closeConnectionAfterDocs", "mode": "off"}' >/dev/null
		return
	fi
	[ -n "${3:-}" ] && mode="{\"times\": $3}"
	mongo_cmd "$uri" admin "{\"configureFailPoint\": \"closeConnectionAfterDocs\", \"mode\": $mode, \"data\": {\"docs\": $n}}" >/dev/null
}
