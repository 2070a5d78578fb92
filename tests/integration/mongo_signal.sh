#!/bin/bash
# mongo_signal.sh - a mongo restore stopped by SIGTERM, or failing, part-way
# leaves every target as it was and no temporary collection behind: the
# collections are loaded into cairn_tmp_* collections and renamed into
# place only when all are loaded and checked.  A killed run's leftovers go
# with the next restore.  The test restore warns "drop it by hand" only for
# databases it created.  The fixture's failCommand failpoint blocks or
# fails createIndexes (at each collection's end) of the Nth collection;
# waitForFailPoint says when it is reached: no sleeps.
. "$top_srcdir/tests/integration/lib.sh"
need_plugin mongo local
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
plan 15

PY=/usr/bin/python3
LOAD="$PY $MONGO_LOAD_PY"
mongo_start || exit 99
URI=$MONGO_URI
tcairn() { timeout 120 "$CAIRN" -c "$T/cairn.ini" "$@"; }
{
	printf '[cairn]\nstate_dir = state\n\n'
	printf '[source db]\nplugin = mongo\nuri = %s/?serverSelectionTimeoutMS=5000\n' "$URI"
	printf '\n[sink here]\nplugin = local\npath = store\nfsync = no\n'
	printf '\n[job m]\nsources = db\nsinks = here\n'
} >"$T/cairn.ini"
cd "$T" || exit 99

# py CODE: run CODE with c, a pymongo client
py() {
	timeout 60 "$PY" -c "import pymongo, sys
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
$1" "$URI"
}
digest() { timeout 60 $LOAD dump "$URI" >"$1"; }
fp() { mongo_cmd "$URI" admin "$1" >/dev/null; }

# three collections in two databases, each with an index, and a view
py '
for db, name in (("sig_a", "one"), ("sig_a", "two"), ("sig_b", "three")):
    c[db][name].insert_many([{"i": i, "s": "x" * 50} for i in range(3000)])
    c[db][name].create_index("i")
c.sig_a.command("create", "v", viewOn="one", pipeline=[{"$match": {"i": 1}}])
' || exit 99
digest "$T/backed" || exit 99
check_exit "backup" 0 tcairn backup m

# change the targets: this is what a stopped or failed restore must leave
py '
c.sig_a.one.delete_many({"i": {"$lt": 1000}})
c.sig_a.two.drop()
c.sig_b.three.insert_many([{"new": i} for i in range(5)])
' || exit 99
digest "$T/before" || exit 99

# ------------------------------------------------------------ SIGTERM
fp '{"configureFailPoint": "failCommand", "mode": {"skip": 1}, "data": {"failCommands": ["createIndexes"], "blockConnection": true, "blockTimeMS": 60000}}'
# not through tcairn: $! must be timeout's pid (it passes the signal on)
timeout 120 "$CAIRN" -c "$T/cairn.ini" restore m --set drop=yes >"$T/out" 2>"$T/err" &
pid=$!
check "the restore reaches the second collection's indexes" \
	fp '{"waitForFailPoint": "failCommand", "timesEntered": 1, "maxTimeMS": 60000}'
kill -TERM "$pid"
fp '{"configureFailPoint": "failCommand", "mode": "off"}'
wait "$pid"
rc=$?
check "SIGTERM: exit 143" test "$rc" = 143 || diag "$T/err"
check "the message names the collection it was on" \
	grep -q 'stopped while restoring sig_a\.two' "$T/err" || diag "$T/err"
digest "$T/after"
check_same "SIGTERM: the targets are as they were, no cairn_tmp_* left" \
	"$T/before" "$T/after" "collection sig_a.one" "count 2000"

# ------------------------------------------------- failure on the last one
fp '{"configureFailPoint": "failCommand", "mode": {"skip": 2}, "data": {"failCommands": ["createIndexes"], "errorCode": 2}}'
check_exit "a restore failing on the last collection fails" 1 tcairn restore m --set drop=yes
err_has "sig_b.three"
fp '{"configureFailPoint": "failCommand", "mode": "off"}'
digest "$T/after"
check_same "the failure left nothing of the earlier collections" \
	"$T/before" "$T/after" "collection sig_a.one" "count 2000"

# ------------------------------------ a killed run's leftovers, then success
py 'c.sig_a["cairn_tmp_0123456789ab_one"].insert_one({"left": 1})' || exit 99
check_exit "restore --set drop=yes" 0 tcairn restore m --set drop=yes
err_has "removed sig_a.cairn_tmp_0123456789ab_one"
digest "$T/after"
check_same "the restore put back what was backed up, views too, nothing else" \
	"$T/backed" "$T/after" "collection sig_a.two" "collection sig_a.v type view"

# a non-empty target without drop is refused before anything is written
check_exit "a non-empty target is refused" 8 tcairn restore m
digest "$T/after2"
check_same "the refused restore wrote nothing" "$T/backed" "$T/after2" "collection sig_a.one"

# ------------------------------------------ test restore: drop it by hand
fp '{"configureFailPoint": "failCommand", "mode": "alwaysOn", "data": {"failCommands": ["create", "dropDatabase"], "errorCode": 2}}'
check_exit "verify --restore-test with create failing" 1 tcairn verify m --restore-test
fp '{"configureFailPoint": "failCommand", "mode": "off"}'
check "\"drop it by hand\" only for the database the test restore created" \
	test "$(grep -c 'drop it by hand' "$T/err")" = 1 || diag "$T/err"
