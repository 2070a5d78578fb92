#!/bin/bash
# pitr_mongo.sh - point-in-time recovery of MongoDB, end to end (issue 18),
# against the test server in replica-set mode (tests/fixtures/mongod).
#
# A reference client (tests/fixtures/mongo_pitr.py, pymongo) writes for a
# few seconds (inserts, updates by operators and by replacement, deletes,
# a collection dropped and created again, an index built and one dropped,
# a rename, a collection with options) and takes a snapshot (documents'
# raw BSON, indexes, options) after each phase, recording its time, while
# `cairn follow` cuts the oplog into 1 s segments.  Then `restore --at T`
# into a fresh server must give each snapshot exactly, and `--at latest`
# the final state.  Then the follower SIGKILLed and started again, the
# server restarted under it, its connection cut mid-segment (a TCP proxy):
# each time no oplog entry is lost or stored twice (the segments, parsed
# by python bson, against the server's oplog) and --at latest equals the
# server.  A damaged segment fails verify and restore --at before any
# write; verify --deep and --restore-test pass on the good log; SIGTERM
# commits the open segment; pitr_window retention; and an oplog that
# rolled over while the follower was down: a gap recorded, a new base
# taken, restore --at inside the gap refused naming it, check critical.
. "$top_srcdir/tests/integration/lib.sh"
need_plugin mongo local
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
plan 91

PITR="$MONGO_PYTHON $top_srcdir/tests/fixtures/mongo_pitr.py"
cd "$T" || exit 99
# cairn with a time limit (lib.sh's cairn is a function timeout cannot run)
tcairn() { timeout 240 "$CAIRN" -c "$T/cairn.ini" "$@"; }

# ------------------------------------------------------------------ servers
mongo_start --replset rs0 --state-file "$T/src.state" --noop-interval 1 || exit 99
SRC=$MONGO_URI SRC_PID=$MONGO_PID SRC_PORT=$MONGO_PORT
# the follower reaches the server through a proxy whose connections the
# test can cut (a single host without replicaSet=: no discovery around it)
$PITR proxy "$T/proxy.port" "$SRC_PORT" >"$T/proxy.out" 2>&1 &
PROXY_PID=$!
for _ in $(seq 100); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
[ -s "$T/proxy.port" ] || exit 99
VIA="mongodb://127.0.0.1:$(cat "$T/proxy.port")/?serverSelectionTimeoutMS=5000&connectTimeoutMS=3000"
mongo_start --replset small --oplog-size 65536 --noop-interval 600 || exit 99
SMALL=$MONGO_URI

write_ini() { # [PITR_WINDOW]
	cat >"$T/cairn.ini" <<EOF
[cairn]
state_dir = state

[source db]
plugin = mongo
uri = $VIA
databases = pitr
oplog = yes

[source db2]
plugin = mongo
uri = $SMALL/?serverSelectionTimeoutMS=5000
databases = pitr
oplog = yes

[sink here]
plugin = local
path = store
fsync = no

[retention all]
keep_last = all

[job j]
sources = db
sinks = here
retention = all
segment_span = 1s
${1:+pitr_window = $1}

[job g]
sources = db2
sinks = here
segment_span = 1s
EOF
}
write_ini

FOLLOW_PID=
start_follow() { # JOB LOG
	"$CAIRN" -c "$T/cairn.ini" follow "$1" >>"$2" 2>&1 &
	FOLLOW_PID=$!
}
# wait_gone PID SECONDS: wait for a process of ours to exit; its status in RC
wait_gone() {
	local i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		RC=timeout
		return 1
	fi
	wait "$1"
	RC=$?
}
newest() { $PITR newest "$1" --db pitr; }
# covered DESC JOB SOURCE URI: a committed segment reaches the server's
# newest entry of database pitr (90 s at most)
covered() {
	local lsn
	lsn=$(newest "$4")
	check "$1" timeout 120 $PITR wait-cover "store/$2/log/$3" "$lsn" 90 ||
		{ diag "$T/follow.$2.log"; ls "store/$2/log/$3" 2>/dev/null | tail -n 5 | diag /dev/stdin; }
}
# logcheck STAGE JOB SOURCE URI AFTER: the segments parsed by python bson
# against the server's oplog: four checks
logcheck() {
	local stage=$1 k line
	timeout 120 $PITR logcheck "$4" "store/$2/log/$3" "$5" >"$T/lc.out" 2>"$T/lc.err"
	for k in parse chain no-dup no-loss; do
		line=$(grep -E "^(PASS|FAIL) $k(:|\$)" "$T/lc.out")
		case $line in
		"PASS $k") ok "$stage: segments: $k" ;;
		*)
			not_ok "$stage: segments: $k"
			echo "# ${line:-no result}" >&2
			diag "$T/lc.err"
			;;
		esac
	done
}
# same DESC WANT GOT: two snapshots equal (and not empty); the first lines
# of the difference as diagnostics
same() {
	if cmp -s "$2" "$3" && grep -q '^doc users ' "$3"; then
		ok "$1"
	else
		not_ok "$1"
		diff "$2" "$3" | cut -c1-200 | head -n 20 | diag /dev/stdin
	fi
}
# restore_cmp DESC JOB SOURCE AT WANT: restore --at AT into a fresh server,
# compare its snapshot with WANT: two checks
restore_cmp() {
	local fresh fpid
	mongo_start || exit 99
	fresh=$MONGO_URI fpid=$MONGO_PID
	check_exit "$1: restore --at $4 into a fresh server" 0 \
		tcairn restore "$2" --at "$4" --set "$3.uri=$fresh"
	timeout 60 $PITR snap "$fresh" "$T/got" 2>"$T/snap.err" || diag "$T/snap.err"
	same "$1: the restored database equals the snapshot (documents, indexes, options)" \
		"$5" "$T/got"
	mongo_stop "$fpid"
}

# --------------------------------------------------- the base and the follower
timeout 60 $PITR prep "$SRC" || exit 99
before_base=$(newest "$SRC")
check_exit "a full backup of the job (oplog = yes)" 0 tcairn backup j
B1=$(newest_id store j)
AFTER=$(jq -r '.sources[0].log.start.lsn // empty' "store/j/$B1/manifest.json" 2>/dev/null)
check "the set's manifest records where the oplog stood (log.start, log.end)" \
	test -n "$AFTER" -a -n "$(jq -r '.sources[0].log.end.lsn // empty' "store/j/$B1/manifest.json")"
[ -n "$AFTER" ] || AFTER=$before_base
sleep 1.1 # the writes below lie in a later second than the set

start_follow j "$T/follow.j.log"
if ! check "cairn follow j commits a first segment" \
	timeout 60 $PITR wait-cover store/j/log/db "$AFTER" 50; then
	diag "$T/follow.j.log"
	echo "Bail out! cairn follow committed no segment: nothing further can pass"
	exit 1
fi
check_exit "a second follower of the job: exit 5" 5 timeout 30 "$CAIRN" -c "$T/cairn.ini" follow j

# ------------------------------------------------------ writes and snapshots
check "the reference client writes in four phases, a snapshot after each" \
	timeout 120 $PITR phases "$SRC" "$T"
covered "the log reaches the last write" j db "$SRC"
while read -r n _ iso _; do
	restore_cmp "at the end of phase $n" j db "$iso" "$T/snap.$n"
done <"$T/times"
timeout 60 $PITR snap "$SRC" "$T/final" || exit 99
restore_cmp "latest" j db latest "$T/final"
logcheck "after the writes" j db "$SRC" "$AFTER"

# ------------------------------------------------- the follower SIGKILLed
kill -9 "$FOLLOW_PID"
wait "$FOLLOW_PID" 2>/dev/null
timeout 60 $PITR load "$SRC" 1.5 k1 >/dev/null # while nobody follows
start_follow j "$T/follow.j.log"
timeout 60 $PITR load "$SRC" 1.5 k2 >/dev/null
covered "SIGKILL: the restarted follower catches up" j db "$SRC"
logcheck "SIGKILL" j db "$SRC" "$AFTER"
timeout 60 $PITR snap "$SRC" "$T/final" || exit 99
restore_cmp "SIGKILL" j db latest "$T/final"

# ------------------------------------------- the server restarted under it
timeout 60 $PITR load "$SRC" 1 r1 >/dev/null
mongo_stop "$SRC_PID" # SIGTERM: it saves its state file
sleep 2               # the follower finds it gone and retries
check "the server starts again on its port from its state file" \
	mongo_start --replset rs0 --state-file "$T/src.state" --noop-interval 1 --port "$SRC_PORT" || exit 1
SRC_PID=$MONGO_PID
timeout 60 $PITR load "$SRC" 1.5 r2 >/dev/null
covered "server restart: the follower resumes" j db "$SRC"
check "server restart: the follower is still running" kill -0 "$FOLLOW_PID"
logcheck "server restart" j db "$SRC" "$AFTER"
timeout 60 $PITR snap "$SRC" "$T/final" || exit 99
restore_cmp "server restart" j db latest "$T/final"

# ------------------------------------------- the connection cut mid-segment
timeout 60 $PITR load "$SRC" 3 c1 >/dev/null &
loader=$!
sleep 1.3
kill -USR1 "$PROXY_PID"
sleep 0.8
kill -USR1 "$PROXY_PID"
wait "$loader"
covered "connection cut: the follower resumes" j db "$SRC"
check "connection cut: the proxy cut the follower's connections" \
	test "$(awk '{ n += $2 } END { print n + 0 }' "$T/proxy.out")" -ge 1
check "connection cut: the follower is still running" kill -0 "$FOLLOW_PID"
logcheck "connection cut" j db "$SRC" "$AFTER"
timeout 60 $PITR snap "$SRC" "$T/final" || exit 99
restore_cmp "connection cut" j db latest "$T/final"

# ---------------------------------------------------- list, check, verify
check_exit "list j" 0 tcairn list j
check "list j shows the log" grep -qi "log" "$T/out"
check_exit "verify j (segments' sizes and SHA-256, the chain)" 0 tcairn verify j
check_exit "verify j --deep (every segment parsed)" 0 tcairn verify j --deep
timeout 60 $PITR snap "$SRC" "$T/before.rt" || exit 99
check_exit "verify j --restore-test (the base and the whole log)" 0 tcairn verify j --restore-test
timeout 60 $PITR snap "$SRC" "$T/after.rt" || exit 99
same "the restore test left the real database alone" "$T/before.rt" "$T/after.rt"

# --------------------------------------------------------- a damaged segment
dmg=""
for m in store/j/log/db/*.json; do
	if [ "$(jq -r .records "$m")" -gt 5 ] 2>/dev/null; then
		dmg=${m%.json}
		break
	fi
done
dmgdata=$(ls "$dmg".* 2>/dev/null | grep -v '\.json$' | head -n 1)
cp -p "$dmgdata" "$T/saved.seg"
$PITR flip "$dmgdata"
check_exit "a damaged segment: verify exits 6" 6 tcairn verify j
check "verify names the damaged segment" grep -qF "${dmg##*/}" "$T/out" "$T/err" || diag "$T/out" "$T/err"
mongo_start || exit 99
FRESH=$MONGO_URI FRESH_PID=$MONGO_PID
check_exit "a damaged segment: restore --at latest exits 6" 6 \
	tcairn restore j --at latest --set "db.uri=$FRESH"
err_has "${dmg##*/}"
mongo_cmd "$FRESH" admin '{"listDatabases": 1, "nameOnly": true}' >"$T/dbs"
check "a damaged segment: nothing was written to the target" bash -c "! grep -q '\"pitr\"' '$T/dbs'"
mongo_stop "$FRESH_PID"
cp -p "$T/saved.seg" "$dmgdata"
check_exit "the segment mended: verify passes again" 0 tcairn verify j
check_exit "check j while following: OK (the lag is small)" 0 tcairn check j

# ------------------------------------------- a second base; SIGTERM commits
check_exit "a second full backup beside the follower" 0 tcairn backup j
B2=$(newest_id store j)
B2POS=$(jq -r '.sources[0].log.end.lsn // .sources[0].log.start.lsn // empty' "store/j/$B2/manifest.json")
timeout 60 $PITR load "$SRC" 1.2 t1 >/dev/null
last=$(newest "$SRC")
kill -TERM "$FOLLOW_PID"
wait_gone "$FOLLOW_PID" 60
check "SIGTERM: the follower exits 0" test "$RC" = 0 || diag "$T/follow.j.log"
check "SIGTERM: the open segment was committed (the log reaches the last write)" \
	timeout 30 $PITR wait-cover store/j/log/db "$last" 0
timeout 60 $PITR snap "$SRC" "$T/final" || exit 99

# ------------------------------------------------- retention: pitr_window
# the set B2 is seconds old; everything from before the last 30 s goes
write_ini 30s
$PITR segs store/j/log/db >"$T/segs.before"
check_exit "prune --dry-run with pitr_window = 30s" 0 tcairn prune j --dry-run
out_has "remove: log older than pitr_window"
out_has "keep: log after kept set"
$PITR segs store/j/log/db >"$T/segs.dry"
check_same "prune --dry-run removes nothing" "$T/segs.before" "$T/segs.dry" "store/j/log/db/"
t_prune=$(date +%s)
check_exit "prune j with pitr_window = 30s" 0 tcairn prune j
$PITR segs store/j/log/db >"$T/segs.after"
check "prune removed the segments older than the window" \
	awk -v cut=$((t_prune - 32)) '$2 + 0 < cut { bad++ } END { exit bad > 0 }' "$T/segs.after"
check "prune removed some segments" test "$(wc -l <"$T/segs.after")" -lt "$(wc -l <"$T/segs.before")"
check "prune kept every segment after the newest set's position" \
	bash -c "awk -v p=$B2POS '(\$3 \"\") >= (p \"\")' '$T/segs.before' | cmp -s - <(awk -v p=$B2POS '(\$3 \"\") >= (p \"\")' '$T/segs.after')"
check_exit "verify j after the prune" 0 tcairn verify j
restore_cmp "after the prune" j db latest "$T/final"
check_exit "restore --at the first phase's end after the prune: the log is gone, exit 6" 6 \
	tcairn restore j --at "$(awk 'NR == 1 { print $3 }' "$T/times")" --set "db.uri=mongodb://127.0.0.1:1"

# ---------------------------------------- the oplog rolled over: a gap
timeout 60 $PITR prep "$SMALL" || exit 99
start_follow g "$T/follow.g.log"
check "follow g without a set takes a full backup first" \
	timeout 120 $PITR wait-cover store/g/log/db2 "$(newest "$SMALL")" 90 || diag "$T/follow.g.log"
G1=$(newest_id store g)
check "follow g: the first set exists" test -n "$G1"
timeout 60 $PITR load "$SMALL" 1 g1 >/dev/null
covered "follow g follows" g db2 "$SMALL"
kill -TERM "$FOLLOW_PID"
wait_gone "$FOLLOW_PID" 60
lastto=$($PITR segs store/g/log/db2 | awk '{ print $3 }' | sort | tail -n 1)
sleep 1.1
timeout 60 $PITR load "$SMALL" 0.5 g2 >/dev/null
gap_lsn=$(newest "$SMALL")
gap_at=$(date -u -d "@$((16#${gap_lsn:0:8}))" +%Y-%m-%dT%H:%M:%SZ)
sleep 1.1
for i in $(seq 20); do
	[ "$($PITR oldest "$SMALL")" \> "$lastto" ] && break
	timeout 60 $PITR load "$SMALL" 0.5 "g3$i" >/dev/null
done
check "the oplog rolled over past where the follower stopped" \
	test "$($PITR oldest "$SMALL")" \> "$lastto"
start_follow g "$T/follow.g.log"
for _ in $(seq 600); do
	ls store/g/log/db2/*.gap >/dev/null 2>&1 && [ "$(newest_id store g)" != "$G1" ] && break
	sleep 0.2
done
gapf=$(ls store/g/log/db2/*.gap 2>/dev/null | head -n 1)
check "a gap is recorded" test -n "$gapf" || diag "$T/follow.g.log"
check "the follower says so" grep -qi "gap" "$T/follow.g.log"
check "a new base was taken after the gap" test "$(newest_id store g)" != "$G1"
timeout 60 $PITR load "$SMALL" 1 g4 >/dev/null
covered "after the gap the log goes on" g db2 "$SMALL"
check_exit "restore --at inside the gap: exit 6" 6 \
	tcairn restore g --at "$gap_at" --set "db2.uri=mongodb://127.0.0.1:1"
err_has "gap"
gap_from=$(jq -r .from.time "$gapf" 2>/dev/null | cut -c1-19)
err_has "${gap_from:-(no gap record to read its from time)}"
check_exit "check g: a gap is critical" 2 tcairn check g
out_has "gap"
check_exit "list g shows the gap" 0 tcairn list g
out_has "gap"
timeout 60 $PITR snap "$SMALL" "$T/gfinal" || exit 99
restore_cmp "after the gap" g db2 latest "$T/gfinal"
kill -TERM "$FOLLOW_PID"
wait_gone "$FOLLOW_PID" 60
check "the follower of g exits 0 on SIGTERM" test "$RC" = 0
exit 0
