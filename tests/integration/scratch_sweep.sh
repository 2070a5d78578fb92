#!/bin/bash
# scratch_sweep.sh - scratch directories that a killed run left in
# state_dir/scratch are removed by the next run; one that a live run holds
# (flock), one made a moment ago, and anything outside are left alone.
. "$(dirname "$0")/lib.sh"
need_plugin files local
command -v faketime >/dev/null || { echo "1..0 # SKIP needs faketime (Debian faketime)"; exit 0; }
command -v flock >/dev/null || { echo "1..0 # SKIP needs flock (util-linux)"; exit 0; }
plan 12

mkdir -p "$T/data" "$T/outside"
echo keep >"$T/outside/precious"
write_ini j
S=$T/state/scratch
mkdir -p "$S/source-docs.dead01/sub" "$S/source-docs.held01" "$S/source-docs.young1"
echo x >"$S/source-docs.dead01/sub/file"
ln -s "$T/outside" "$S/source-docs.dead01/link"
chmod 500 "$S/source-docs.dead01/sub" # a plugin may leave a directory read-only
ln -s "$T/outside" "$S/planted"
# a live run's directory: its lock is held until the sleep ends
flock "$S/source-docs.held01" sleep 60 &
holder=$!
for _ in $(seq 50); do
	# flock(1) holds the lock once it has started sleep
	pgrep -P $holder sleep >/dev/null && break
	sleep 0.1
done

# a process a killed run left running there, its pid in NAME.pid, its
# command line naming the directory (as the redis plugin's scratch server
# does); and a pid file naming a process that does not: never killed
mkdir -p "$S/source-r.dead02"
bash -c "exec -a 'redis-server --dir $S/source-r.dead02' sleep 300" &
orphan=$!
echo "$orphan" >"$S/source-r.dead02/redis-server.pid"
sleep 300 &
bystander=$!
echo "$bystander" >"$S/source-docs.dead01/other.pid"

# time runs two minutes ahead for cairn, not for the files' ages
later() { NO_FAKE_STAT=1 faketime '+2 minutes' "$CAIRN" -c "$T/cairn.ini" "$@"; }
check_exit "a run with a young abandoned directory" 0 cairn -v list
check "a directory made a moment ago is left alone" test -d "$S/source-docs.young1"

check_exit "a later run" 0 later -v list
check "the abandoned directory is gone, read-only subdirectory and all" \
	test ! -e "$S/source-docs.dead01"
err_has "removed the scratch directory $S/source-docs.dead01 that an earlier run left"
check "the directory a live run holds is kept" test -d "$S/source-docs.held01"
for _ in $(seq 50); do kill -0 $orphan 2>/dev/null || break; sleep 0.1; done
check "the process a killed run left in its scratch directory is stopped" bash -c "! kill -0 $orphan 2>/dev/null"
err_has "stopped process $orphan that an earlier run left running in the scratch directory $S/source-r.dead02"
check "a process whose command line does not name the directory is left alone" kill -0 $bystander
kill $bystander
check "a planted symlink is not followed" test -f "$T/outside/precious"
check "nor a symlink inside an abandoned directory" test "$(cat "$T/outside/precious")" = keep
kill $(pgrep -P $holder) $holder 2>/dev/null # sleep holds the lock too
wait $holder 2>/dev/null
later list >/dev/null 2>&1
check "once its run ended, the held directory goes too" test ! -e "$S/source-docs.held01"
