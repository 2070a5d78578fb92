#!/bin/bash
# restore_record.sh - issue 16, item 5: a restore leaves its run record,
# STATE_DIR/status/JOB.restore.json, saying when, which job, sink and set,
# the result with the exit code, and per source the statistics its plugin
# recorded in restore().  A restore stopped by SIGTERM records exit 143,
# "interrupted", and the counts the plugin had recorded by then (the
# slowsrc test source counts the chunks it took in, as a server target
# counts what it wrote, creates its `ready` file and waits to be stopped:
# no sleeps).  A failed restore records its error.
# Run by `make check` with $CAIRN_TEST_PLUGINS set.
. "$(dirname "$0")/lib.sh"
: "${CAIRN_TEST_PLUGINS:?run through make check}"
need_plugin files local
command -v jq >/dev/null || {
	echo "1..0 # SKIP needs jq"
	exit 0
}
plan 20

mkdir -p "$T/plugins" "$T/data"
cp "$CAIRN_TEST_PLUGINS/slowsrc.so" "$T/plugins/"
echo one >"$T/data/a"
cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = state
plugin_dir = $T/plugins

[source docs]
plugin = files
path = data

[source slow]
plugin = slowsrc
ready = ready
chunks = 5

[sink here]
plugin = local
path = store
fsync = no

[job j]
sources = docs
sinks = here

[job s]
sources = slow
sinks = here
INI
cd "$T" || exit 99
rec() { jq -r "$1" "$T/state/status/$2.restore.json"; }

# ---------------------------------------------------------- a good one
check_exit "backup j" 0 cairn backup j
id=$(newest_id store j)
check_exit "restore j" 0 cairn restore j --set path="$T/r1"
check "the record is there, mode 0600" test "$(stat -c %a state/status/j.restore.json)" = 600
check "it names the job, sink and set, ok, exit 0" test \
	"$(rec '[.job, .sink, .set, .result, .exit] | join(" ")' j)" = "j here $id ok 0"
check "the source's result and the set it came from" test \
	"$(rec '.sources[0] | [.name, .set, .result] | join(" ")' j)" = "docs $id ok"
check "with the plugin's statistics of the restore" test "$(rec '.sources[0].stats.files' j)" = 1
check "when it started and finished" test "$(rec '.started | test("^[0-9]{4}-")' j)" = true
check "the backup record beside it is untouched" test -s state/status/j.json

# -------------------------------------------------------- a failed one
printf '\x00' | dd of="store/j/$id/docs.tar.zst" bs=1 seek=20 count=1 conv=notrunc 2>/dev/null
check_exit "restore of a damaged object fails" 6 cairn restore j --set path="$T/r2"
check "the record says failed, exit 6" test "$(rec '[.result, .exit] | join(" ")' j)" = "failed 6"
check "and the source's error" test "$(rec '.sources[0].result' j)" = failed -a \
	-n "$(rec '.sources[0].error | select(. != null)' j)"

# ------------------------------------------------------------ SIGTERM
check_exit "backup s" 0 cairn backup s
timeout 120 "$CAIRN" -c "$T/cairn.ini" restore s >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 1200); do
	[ -e "$T/ready" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.05
done
check "the restore took in its chunks" test -e "$T/ready"
kill -TERM "$pid"
wait "$pid"
rc=$?
check "SIGTERM: exit 143" test "$rc" = 143 || diag "$T/err"
check "the record says interrupted, exit 143" test \
	"$(rec '[.result, .exit] | join(" ")' s)" = "interrupted 143"
check "the source was interrupted" test "$(rec '.sources[0].result' s)" = interrupted
check "with the count the plugin recorded before the signal" test \
	"$(rec '.sources[0].stats.chunks' s)" = 5
check "the set it came from" test "$(rec '.sources[0].set' s)" = "$(newest_id store s)"

# ------------------------------------------ a restore that never started
check_exit "restore --id of no set: exit 7" 7 cairn restore s --id 20000101T000000Z
check "leaves the record of the interrupted one as it was" test \
	"$(rec '[.result, .exit, .sources[0].stats.chunks] | join(" ")' s)" = "interrupted 143 5"
