#!/bin/bash
# mongo_replay_core.sh - the mongo source's replay through the core: a
# full backup, `cairn follow` with 1 s segments while the source is
# written to in two phases a second apart, then `restore --at` the end of
# the first phase and `--at latest`, each into a fresh server, equal to
# the source's digest at that time; verify --deep parses every segment
# and verify --restore-test replays the log into scratch databases.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
need_plugin local mongo
plan 9

PY=$MONGO_PYTHON
LOAD="$top_srcdir/tests/fixtures/mongo_load.py"
cd "$T" || exit 99
digest() { timeout 60 "$PY" "$LOAD" dump "$1" --db shop; }

check "the source server (a replica set) starts" mongo_start --replset rs0 --noop-interval 1 ||
	exit 1
SRC=$MONGO_URI
cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = state

[source shop]
plugin = mongo
uri = $SRC
databases = shop

[sink here]
plugin = local
path = store
fsync = no

[job j]
sources = shop
sinks = here
segment_span = 1s
INI
timeout 60 "$PY" - "$SRC" <<'EOF' || exit 1
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
c.shop.orders.insert_many([{"_id": k, "n": k} for k in range(5)])
EOF
check_exit "a full backup" 0 timeout 60 "$CAIRN" -c "$T/cairn.ini" backup j
timeout 120 "$CAIRN" -c "$T/cairn.ini" follow j >"$T/follow.out" 2>&1 &
FOLLOWER=$!
timeout 60 "$PY" - "$SRC" "$LOAD" "$T" <<'EOF' >"$T/work.out" 2>"$T/work.err"
import sys, time, subprocess, pymongo
uri, load, T = sys.argv[1:4]
c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
time.sleep(1.5)
o = c.shop.orders
o.insert_many([{"_id": k, "n": k} for k in range(10, 15)])
o.update_one({"_id": 1}, {"$set": {"n": 100}})
o.delete_one({"_id": 2})
last = next(iter(c.local["oplog.rs"].find({}, sort=[("$natural", -1)], limit=1)))["ts"]
open(T + "/S1", "wb").write(subprocess.run([sys.executable, load, "dump", uri, "--db", "shop"],
                                           check=True, capture_output=True).stdout)
print("T1", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last.time)))
time.sleep(1.5)
o.create_index("n", name="n_1")
o.replace_one({"_id": 3}, {"whole": True})
c.shop.create_collection("more")
c.shop.more.insert_one({"_id": 1})
time.sleep(3)  # the follower closes its last segment
EOF
kill -TERM "$FOLLOWER"
wait "$FOLLOWER"
check "the follower stops with 0 on SIGTERM" test $? = 0 || diag "$T/follow.out" "$T/work.err"
digest "$SRC" >"$T/S2"
T1=$(awk '$1 == "T1" {print $2}' "$T/work.out")

mongo_start >/dev/null || exit 1
check_exit "restore --at the end of the first phase" 0 \
	timeout 120 "$CAIRN" -c "$T/cairn.ini" restore j --source shop --at "$T1" --set "shop.uri=$MONGO_URI"
digest "$MONGO_URI" >"$T/D1"
check "it equals the source at that time" cmp -s "$T/S1" "$T/D1" || diff "$T/S1" "$T/D1" | diag
mongo_start >/dev/null || exit 1
check_exit "restore --at latest" 0 \
	timeout 120 "$CAIRN" -c "$T/cairn.ini" restore j --source shop --at latest --set "shop.uri=$MONGO_URI"
digest "$MONGO_URI" >"$T/D2"
check "it equals the source's final state" cmp -s "$T/S2" "$T/D2" || diff "$T/S2" "$T/D2" | diag
check_exit "verify --deep parses every segment" 0 timeout 120 "$CAIRN" -c "$T/cairn.ini" verify j --deep ||
	diag "$T/out" "$T/follow.out"
check_exit "verify --restore-test replays the log" 0 \
	timeout 120 "$CAIRN" -c "$T/cairn.ini" verify j --restore-test
