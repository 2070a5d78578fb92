#!/bin/bash
# sink_independence.sh - a sink that cannot be made, listed or locked as
# the backup starts costs only itself: the other sinks get their complete
# set, backup exits 1 naming the sink, and the failed run is recorded for
# it, so status (table and --json), check and the metrics show it.  The
# dead sink is an s3 sink pointing at a closed port on 127.0.0.1 (no
# server needed) or one whose create fails.
. "$(dirname "$0")/lib.sh"
need_plugin files local s3
command -v jq >/dev/null || {
	echo "1..0 # SKIP needs jq"
	exit 0
}
command -v python3 >/dev/null || {
	echo "1..0 # SKIP needs python3"
	exit 0
}
plan 30

cd "$T" || exit 99
mkdir -p data store
echo alpha >data/a.txt
# a port the OS handed out and nobody listens on any more
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
# s3 SINK-NAME [KEY=VALUE]...: an s3 sink section on that closed port
s3() {
	local name=$1 kv
	shift
	printf '\n[sink %s]\nplugin = s3\nendpoint = http://127.0.0.1:%s\nregion = us-east-1\n' \
		"$name" "$port"
	printf 'bucket = bkt\naddressing = path\naccess_key = A\nsecret_key = S\nmax_retries = 0\ntimeout = 5\n'
	for kv in "$@"; do printf '%s\n' "$kv"; done
}
write_ini j here=store
s3 off >>cairn.ini
s3 bad "upload_concurrency = 100" >>cairn.ini
sed -i 's/^sinks = here$/sinks = here off/' cairn.ini
printf '\n[job k]\nsources = docs\nsinks = off\n\n[job m]\nsources = docs\nsinks = bad here\n' >>cairn.ini
chmod 600 cairn.ini
jqs() { jq -r --arg s "$2" ".jobs[] | select(.name == \"$1\") | .sinks[] | select(.name == \$s) | $3" status.json; }

# --- a sink that cannot be listed -------------------------------------------
check_exit "a dead S3 endpoint fails the run: exit 1" 1 timeout 120 "$CAIRN" -c cairn.ini backup j
err_has "sink off (s3)"
err_has "failed: off"
id=$(newest_id store j)
check "the local sink still got a set" test -n "$id" -a -f "store/j/$id/manifest.json"
check "a complete one" test "$(jq -r '.partial // false' "store/j/$id/manifest.json")" = false
cairn list j --sink here >out 2>err
check "list shows it" grep -q "$id" out
cairn status --json >status.json 2>err
check "status --json: the dead sink's lastRun is a failure" test "$(jqs j off .lastRun.status)" = failed
check "with the listing error" jqs j off .lastRun.error | grep -q "127.0.0.1"
check "and counted" test "$(jqs j off .runsSinceSuccess.failed)" = 1
check "the local sink's run is ok" test "$(jqs j here .lastRun.status)" = ok
check "its lastBackup is the new set" test "$(jqs j here .lastBackup.id)" = "$id"
check_exit "check alerts" 3 cairn check j
out_has "j in off: the last backup run $id failed"
cairn status --prometheus metrics.prom >out 2>err
check "the metrics count the failed run" \
	grep -q '^cairn_backup_failed_runs_since_success{job="j",sink="off"} 1$' metrics.prom
cairn status j >out 2>err
out_has "j in off: 0 partial and 1 failed run since the last success"
sleep 1
check_exit "a second run" 1 timeout 120 "$CAIRN" -c cairn.ini backup j
cairn status --json >status.json 2>err
check "counts two failed runs" test "$(jqs j off .runsSinceSuccess.failed)" = 2

# --- a sink that cannot be made ---------------------------------------------
sleep 1
check_exit "a sink whose create fails: exit 1" 1 cairn backup m
err_has "upload_concurrency 100 is outside 1 to 64"
err_has "failed: bad"
idm=$(newest_id store m)
check "the other sink got a complete set" test -n "$idm" -a -f "store/m/$idm/manifest.json"
cairn status --json >status.json 2>err
check "the failed run is recorded for the sink" test "$(jqs m bad .lastRun.status)" = failed
check "with its error" jqs m bad .lastRun.error | grep -q "upload_concurrency"

# --- no sink left -------------------------------------------------------------
check_exit "no sink that answers: exit 1" 1 timeout 120 "$CAIRN" -c cairn.ini backup k
err_has "sink off (s3)"
err_has "backup k failed: no sink could store it"
check "nothing was written" test ! -e store/k
cairn status --json >status.json 2>err
check "the failed run is recorded" test "$(jqs k off .lastRun.status)" = failed
check "counted" test "$(jqs k off .runsSinceSuccess.failed)" = 1

# --- a sink that cannot be locked --------------------------------------------
mkdir -p store2
write_ini l here=store there=store2
ln -s loop loop
sed -i 's|^path = store2$|path = loop|' cairn.ini
sleep 1
check_exit "a sink that cannot be locked: exit 1" 1 cairn backup l
err_has "failed: there"
idl=$(newest_id store l)
check "the other sink got its set" test -n "$idl" -a -f "store/l/$idl/manifest.json"
cairn status --json >status.json 2>err
check "the failed run is recorded with the sink's error" \
	jqs l there .lastRun.error | grep -q "loop"
