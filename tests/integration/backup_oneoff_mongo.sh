#!/bin/bash
# backup_oneoff_mongo.sh - the seed's "back up one collection" without
# editing the INI: backup --set db.include=DB.COLL against the MongoDB test
# server (tests/fixtures/mongod).  The set holds that collection alone, its
# manifest records the override, a secret given with --set is recorded as
# "(secret)" and is nowhere in the store or the state, and status still
# takes the full set for the last backup.
. "$top_srcdir/tests/integration/lib.sh"
need_plugin mongo local
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
command -v jq >/dev/null || {
	echo "1..0 # SKIP needs jq"
	exit 0
}
plan 12

PY=/usr/bin/python3
LOAD="$PY $MONGO_LOAD_PY"
ARC="$PY $MONGO_ARCHIVE_PY"
PW='Tr0ub4dor&3'
mongo_start --auth "bob:$PW" || exit 99
A_AUTH=$MONGO_AUTH_URI
A_URI="mongodb://bob@127.0.0.1:$MONGO_PORT/?authSource=admin&serverSelectionTimeoutMS=5000"
cd "$T" || exit 99
timeout 60 $LOAD load "$A_AUTH" --scale 0.1 --no-big >load.out 2>&1 || {
	diag load.out
	exit 99
}
{
	printf '[cairn]\nstate_dir = state\n\n'
	printf '[source db]\nplugin = mongo\nuri = %s\npassword_file = pw\n' "$A_URI"
	printf '\n[sink here]\nplugin = local\npath = store\nfsync = no\n'
	printf '\n[job m]\nsources = db\nsinks = here\n'
} >cairn.ini
chmod 600 cairn.ini
printf '%s\n' "$PW" >pw
chmod 600 pw
tcairn() { timeout 120 "$CAIRN" -c "$T/cairn.ini" "$@"; }
# collections ID: the namespaces the set's archive holds, one line
collections() {
	zstd -dcq "store/m/$1/db.archive.zst" | timeout 60 $ARC check - >"$T/arc.out" || return 1
	grep -v '^header' "$T/arc.out" | cut -d' ' -f1 | LC_ALL=C sort | tr '\n' ' '
}

check_exit "a full backup" 0 tcairn backup m
full=$(newest_id store m)
check "it holds more than one collection" test "$(collections "$full" | wc -w)" -gt 1
sleep 1
check_exit "backup --set db.include=cairn_b.orders" 0 \
	tcairn backup m --set db.include=cairn_b.orders --set password="$PW"
one=$(newest_id store m)
m=store/m/$one/manifest.json
check "a new set" test -n "$one" -a "$one" != "$full"
check "it holds cairn_b.orders alone" test "$(collections "$one")" = "cairn_b.orders "
check "the manifest records both overrides, the password as (secret)" \
	test "$(jq -c '.sources[0].overrides' "$m")" = '["include=cairn_b.orders","password=(secret)"]'
check "the set is partial" test "$(jq -r .partial "$m")" = true
check "the password is nowhere in the store or the state" \
	bash -c "! grep -rqF '$PW' store state"
cairn status --json >status.json
check "status's lastBackup is the full set" \
	test "$(jq -r '.jobs[0].sinks[0].lastBackup.id' status.json)" = "$full"
check "the run record is the full run's" \
	test "$(jq -r '.jobs[0].sinks[0].lastRun.id' status.json)" = "$full"
cairn list m >out
out_has "db (partial: db backed up with --set include=cairn_b.orders --set password=(secret))"
check_exit "verify --deep of the one-off set" 0 tcairn verify m --id "$one" --deep
