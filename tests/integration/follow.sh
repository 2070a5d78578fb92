#!/bin/bash
# follow.sh - issue 18: cairn follow JOB archives a source's change log in
# segments in every sink of the job.  The followsrc test source follows
# the text file the test appends records to ("LSN TIME_MS WORDS", one a
# line; "retry", "lost N" steer it; see tests/plugins/followsrc.c), so
# the core is tested without a database server.  Checked: the first run
# takes a full backup to start from; segments cut by span (also empty
# ones over quiet time) and by size (never inside a record); SIGTERM
# commits the open segment and exits 0; a second follower of the job
# gets exit 5, from the same state_dir or another one sharing the
# stores; SIGKILL and a restart lose no record and store none twice; a
# retryable failure is retried; a lost log is a gap record in every
# sink, a new full backup, and following on from it; with the dump on the
# source's own link (ABI 1.5 base_begin/base_end) that dump is the new
# set, of that source alone, a dump cut short leaves nothing, and the
# job's lock held by another run takes the old way; a sink that fails
# costs only itself, and its chain shows the hole as a gap; a nightly
# backup runs beside a live follower.  Every wait has a timeout; no
# timing is asserted.
# Run by `make check` with $CAIRN_TEST_PLUGINS set.
. "$(dirname "$0")/lib.sh"
: "${CAIRN_TEST_PLUGINS:?run through make check}"
need_plugin local
command -v jq >/dev/null && command -v zstd >/dev/null || {
	echo "1..0 # SKIP needs jq and zstd"
	exit 0
}
plan 82

mkdir -p "$T/plugins"
cp "$CAIRN_TEST_PLUGINS/followsrc.so" "$T/plugins/"
cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = state
plugin_dir = $T/plugins

[source db]
plugin = followsrc
log = db.log

[source big]
plugin = followsrc
log = big.log

[sink a]
plugin = local
path = a
fsync = no

[sink b]
plugin = local
path = b
fsync = no

[job j]
sources = db
sinks = a b
compression = none
segment_span = 1s

[job k]
sources = big
sinks = a
segment_span = 1h
segment_size = 64KiB
INI
sed 's/^state_dir = state$/state_dir = state2/' "$T/cairn.ini" >"$T/other.ini"
cd "$T" || exit 99

now_ms() { date +%s%3N; }
# rec LSN [WORDS]: append a record to db.log
rec() { echo "$1 $(now_ms) ${2:-change-$1}" >>db.log; }
# the records stored in STORE's segments of SOURCE, in chain order
stored() { cat "$1"/j/log/db/*.log 2>/dev/null; }
has_lsn() { stored "$1" | grep -q "^$2 "; }
# every record line of db.log with an lsn above $1
records_after() { awk -v a="$1" '$1 ~ /^[0-9]+$/ && $1 > a' db.log; }
start_follower() { # NAME [JOB]
	"$CAIRN" -c "$T/cairn.ini" follow "${2:-j}" >"$T/$1.out" 2>"$T/$1.err" &
	eval "$1=\$!"
}
stop_follower() { # PID: SIGTERM, its exit code
	kill -TERM "$1"
	wait "$1"
}
manifests() { jq -r -s "$2" "$1"/j/log/db/*.json; }

# ------------------------------------------------ the first run: a base
rec 1
rec 2
start_follower f1
check "the first run takes a full backup of the source to start from" \
	wait_for 30 eval 'test -n "$(newest_id a j)"'
base=$(newest_id a j)
check "that set records the log position it began at" wait_for 10 eval 'test "$(jq -r '\''.sources[0].log.start.pos'\'' "a/j/$base/manifest.json" 2>/dev/null)" = "lsn:2"'
rec 3
rec 4
check "records reach segments in sink a" wait_for 30 has_lsn a 4
check "... and in sink b" wait_for 30 has_lsn b 4
check "the run record shows the position stored, while it runs" wait_for 10 eval \
	'test "$(jq -r "[.running, .sources.db.state, .sources.db.position.pos] | join(\" \")" state/status/j@follow.json)" = "true following lsn:4"'
check "each segment has its manifest, which names the base" test \
	"$(manifests a "map(.base) | unique | join(\" \")")" = "$base"
check "segment names are FROMTIME-TOTIME-FROMLSN-TOLSN" test -z \
	"$(ls a/j/log/db | grep -vE '^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{16}-[0-9a-f]{16}\.(log|json)$')"
check "quiet time is proven by empty segments" wait_for 30 eval 'test "$(manifests a '\''map(select(.records == 0)) | length'\'')" -ge 1'
check "each segment starts where the one before ended" test \
	"$(manifests a 'sort_by(.segment) | [range(1; length) as $i | select(.[$i].from.pos != .[$i-1].to.pos)] | length')" = 0

# ------------------------------------------------ a second follower
check_exit "a second follower of the job: exit 5" 5 timeout 30 "$CAIRN" -c "$T/cairn.ini" follow j
err_has "already being followed"
check_exit "... also from another state_dir sharing the stores" 5 \
	timeout 30 "$CAIRN" -c "$T/other.ini" follow j
err_has "already being followed from another host or state_dir"

# ------------------------------------------------ a nightly backup beside it
rec 5
check_exit "a backup of the job runs beside the follower" 0 timeout 60 "$CAIRN" -c "$T/cairn.ini" backup j
nightly=$(newest_id a j)
rec 6
check "the follower goes on after it" wait_for 30 has_lsn a 6

# ------------------------------------------------ SIGKILL and a restart
kill -KILL "$f1"
wait "$f1" 2>/dev/null
for n in 7 8 9 10; do rec $n; done
start_follower f2
check "after SIGKILL a restart takes up the log" wait_for 30 has_lsn a 10
records_after 2 >want
stored a >got.a
stored b >got.b
check_same "no record lost, none stored twice (sink a)" want got.a "10 "
check_same "... nor in sink b" want got.b "10 "
check "it took no new base: the log was there" test "$(grep -c 'taking a full backup' f2.err)" = 0

# ------------------------------------------------ a retryable failure
echo "retry 11" >>db.log
rec 11
check "a retryable failure is retried" wait_for 30 has_lsn a 11
check "... and said" grep -q "the test said retry; following again after" f2.err
records_after 2 >want
stored a >got.a
check_same "... nothing lost or doubled across it" want got.a "11 "

# ------------------------------------------------ a failing sink
mv b/j/log b/j/log.away
echo "not a directory" >b/j/log
rec 12
check "a failing sink does not stop the other" wait_for 30 has_lsn a 12
rec 13
check "... which goes on" wait_for 30 has_lsn a 13
check "the failure is said once, naming the sink" test \
	"$(grep -c 'misses the log from here on' f2.err)" = 1
rm b/j/log
mv b/j/log.away b/j/log
rec 14
check "the sink that came back gets new segments" wait_for 30 has_lsn b 14
check "... after a gap record for what it missed" test "$(ls b/j/log/db/*.gap 2>/dev/null | wc -l)" = 1
gap=$(ls b/j/log/db/*.gap 2>/dev/null)
check "the gap says the sink failed and the others hold the stretch" \
	grep -q "this stretch of the log is in the job's other sinks" "$gap"
check "the gap ends where its next segment starts" test "$(jq -r .to.pos "$gap")" = \
	"$(jq -s -r --arg to "$(jq -r .to.lsn "$gap")" 'map(select(.from.lsn == $to)) | .[0].from.pos' b/j/log/db/*.json)"
check "sink a has no gap: it missed nothing" test -z "$(ls a/j/log/db/*.gap 2>/dev/null)"
records_after 2 >want
stored a >got.a
check_same "sink a holds every record once" want got.a "14 "

# ------------------------------------------------ SIGTERM
rec 15
stop_follower "$f2"
check "SIGTERM: exit 0" test $? = 0
check "... with the open segment committed" has_lsn a 15
check "the run record says it stopped, with its position" test \
	"$(jq -r '[.running, .exit_code, .sources.db.state, .sources.db.position.pos] | join(" ")' "state/status/j@follow.json")" = \
	"false 0 stopped lsn:15"

# ------------------------------------------------ a lost log
for n in 16 17; do rec $n; done
echo "lost 16" >>db.log
rec 18
start_follower f3
check "a lost log: a new full backup" wait_for 60 eval 'test "$(newest_id a j)" != "$nightly"'
nbase=$(newest_id a j)
check "the loss is said loudly, with the position" grep -q \
	"source db: its change log no longer holds what follows position lsn:15" f3.err
check "a gap record in every sink" wait_for 30 eval 'test "$(ls a/j/log/db/*.gap b/j/log/db/*.gap 2>/dev/null | wc -l)" = 3'
lgap=$(ls a/j/log/db/*.gap 2>/dev/null)
check "it runs from the last position to the new base's" test \
	"$(jq -r '[.from.pos, .to.pos, .base] | join(" ")' "$lgap")" = "lsn:15 lsn:18 $nbase"
rec 19
check "it follows on from the new base" wait_for 30 has_lsn a 19
check "the segments after it continue the new base" test \
	"$(jq -r .base "$(ls a/j/log/db/*.json | tail -n 1)")" = "$nbase"
check "16 to 18 are in the new base, not in the log" test -z "$(stored a | grep -E '^1[678] ')"
stop_follower "$f3"
check "SIGTERM again: exit 0" test $? = 0

# ------------------------------------------------ cut by size
{
	echo "1 $(now_ms) start"
} >big.log
start_follower f4 k
check "job k starts from its base" wait_for 30 eval 'test -n "$(newest_id a k)"'
check "... and follows" wait_for 30 eval 'grep -q '\''"following"'\'' state/status/k@follow.json'
pad=$(head -c 30000 /dev/zero | tr '\0' x)
for n in 2 3 4 5 6; do echo "$n $(now_ms) $pad" >>big.log; done
check "segments cut by size (span 1h): two of 2 records" wait_for 30 eval 'test "$(jq -s '\''map(select(.records == 2)) | length'\'' a/k/log/big/*.json 2>/dev/null)" = 2'
check "none is larger than segment_size" test \
	"$(jq -s 'map(select(.raw_bytes > 65536)) | length' a/k/log/big/*.json)" = 0
stop_follower "$f4"
check "SIGTERM commits the open segment of 1 record: exit 0" test $? = 0
check "... it is there" test \
	"$(jq -s 'map(.records) | add' a/k/log/big/*.json)" = 5
check "every segment holds whole records, zstd-compressed" test \
	"$(for f in a/k/log/big/*.log.zst; do zstd -dcq "$f"; done | awk '$1 ~ /^[0-9]+$/' | wc -l)" = 5
bad=0
for m in a/k/log/big/*.json; do
	o=$(jq -r .object "$m")
	[ "$(sha256sum <"a/$o" | cut -d' ' -f1) $(stat -c %s "a/$o")" = \
		"$(jq -r '"\(.sha256) \(.stored_bytes)"' "$m")" ] || bad=$((bad + 1))
done
check "each object's SHA-256 and size are its manifest's" test "$bad" = 0

# ------------------------------------------------ two sources, one thread each
cat >>cairn.ini <<INI

[source x]
plugin = followsrc
log = x.log

[source y]
plugin = followsrc
log = y.log

[job two]
sources = x y
sinks = a
compression = none
segment_span = 1s
INI
echo "1 $(now_ms) x1" >x.log
echo "1 $(now_ms) y1" >y.log
"$CAIRN" -c "$T/cairn.ini" follow two >f5.out 2>f5.err &
f5=$!
check "each source takes its own full backup to start from" wait_for 60 eval \
	'test "$(cat a/two/*/manifest.json 2>/dev/null | jq -r ".sources[].name" | sort | tr "\n" " ")" = "x y "'
check "... and follows from it" wait_for 30 eval \
	'test "$(jq -r "[.sources.x.state, .sources.y.state] | join(\" \")" state/status/two@follow.json)" = "following following"'
echo "2 $(now_ms) x2" >>x.log
echo "2 $(now_ms) y2" >>y.log
check "two sources are followed at once" wait_for 60 eval \
	'cat a/two/log/x/*.log | grep -q "x2$" && cat a/two/log/y/*.log | grep -q "y2$"'
stop_follower "$f5"
check "SIGTERM stops both: exit 0" test $? = 0

# ------------------------------------------------ a lost log, the new base over the link
# (ABI 1.5 base_begin/base_end: the source's own link carries the dump, as
# Redis's +FULLRESYNC does; no backup() call, no second connection)
cat >>cairn.ini <<INI

[source ldb]
plugin = followsrc
log = l.log
target = l.target
consistent = yes
link_base = yes
calls = l.calls

[source lx]
plugin = followsrc
log = lx.log

[job l]
sources = ldb lx
sinks = a b
compression = none
segment_span = 1s
INI
lrec() { echo "$1 $(now_ms) l-$1" >>l.log; }
nsets() { ls "$1/l" 2>/dev/null | grep -cE '^[0-9]{8}T[0-9]{6}Z$'; }
lrec 1
lrec 2
echo "1 $(now_ms) lx1" >lx.log
start_follower f6 l
check "job l: each source starts from a full backup its backup() took" wait_for 60 eval \
	'test "$(jq -r "[.sources.ldb.state, .sources.lx.state] | join(\" \")" state/status/l@follow.json 2>/dev/null)" = "following following"'
lrec 3
check "... and follows" wait_for 30 eval 'cat a/l/log/ldb/*.log 2>/dev/null | grep -q "^3 "'
stop_follower "$f6"
check "SIGTERM: exit 0" test $? = 0
sets0=$(nsets a)
lrec 4
lrec 5
echo "lost 5" >>l.log
echo linkcut >>l.log
lrec 6
start_follower f7 l
check "a lost log, the link carrying a dump: a new set from it" wait_for 60 eval \
	'test "$(nsets a)" -gt "$sets0" && test -n "$(ls a/l/log/ldb/*.gap 2>/dev/null)"'
check "... from the link, not from backup(); a dump cut short was not kept" \
	test "$(tr '\n' ' ' <l.calls)" = "backup link-cut link "
check "... exactly one new set in each sink, nothing left of the cut one" \
	test "$(nsets a) $(nsets b) $(ls a/l | wc -l) $(ls b/l | wc -l)" = \
	"$((sets0 + 1)) $((sets0 + 1)) $((sets0 + 2)) $((sets0 + 2))"
lid=$(newest_id a l)
check "the set holds only that source, the other named as left out" test \
	"$(jq -r '[([.sources[].name] | join(",")), ([.failed_sources[]? | select(.skipped) | .name] | join(","))] | join(" ")' "a/l/$lid/manifest.json")" = "ldb lx"
check "... with the dump's position as its log START and END, and its stats" test \
	"$(jq -r '.sources[0] | [.log.start.pos, .log.end.pos, .stats.records] | join(" ")' "a/l/$lid/manifest.json")" = "lsn:6 lsn:6 6"
awk '$1 ~ /^[0-9]+$/' l.log >want
check_same "... and the dump's bytes" want "a/l/$lid/ldb.txt" "6 "
check "a gap record in every sink, from the last position to the dump's, the new set its base" \
	test "$(cat a/l/log/ldb/*.gap b/l/log/ldb/*.gap | jq -r '[.from.pos, .to.pos, .base] | join(" ")' | sort -u)" = "lsn:3 lsn:6 $lid"
check "... one in each: the cut dump recorded none" test "$(ls a/l/log/ldb/*.gap b/l/log/ldb/*.gap | wc -l)" = 2
check "the loss and the gap are said" grep -q "its own link sends a full copy of its data instead" f7.err
check "... and the cut dump" grep -q "the test cut the link inside the dump" f7.err
lrec 7
check "following goes on after the dump" wait_for 30 eval 'cat a/l/log/ldb/*.log 2>/dev/null | grep -q "^7 "'
check "... the segments after it continue the new set" test \
	"$(jq -r .base "$(ls a/l/log/ldb/*.json | tail -n 1)")" = "$lid"
check "4 to 6 are in the new set, not in the log" test -z "$(cat a/l/log/ldb/*.log | grep -E '^[456] ')"
stop_follower "$f7"
check "SIGTERM: exit 0" test $? = 0
check_exit "restore --at latest of the source from the new set and its log" 0 \
	timeout 60 "$CAIRN" -c "$T/cairn.ini" restore l --source ldb --at latest
awk '$1 ~ /^[0-9]+$/' l.log >want
check_same "... gives every record" want l.target "7 "
# the job's lock held by another run: the dump over the link cannot be a
# set now, so the new base is taken the old way once the lock is free
lrec 8
echo "lost 8" >>l.log
lrec 9
flock -o state/l.lock sleep 120 &
holder=$!
wait_for 10 eval '! flock -n state/l.lock true'
start_follower f8 l
check "the job's lock held: no set from the link, which is said" wait_for 60 eval \
	'grep -q "another run holds the lock of job l" f8.err'
kill "$holder"
check "... the new base is taken by backup() once the lock is free" wait_for 60 eval \
	'test "$(tail -n 1 l.calls)" = backup'
check "... with its gap, and the chain goes on" wait_for 30 eval \
	'test "$(cat a/l/log/ldb/*.gap | jq -r .to.pos | sort | tail -n 1)" = lsn:9'
stop_follower "$f8"
check "SIGTERM: exit 0" test $? = 0

# ------------------------------------------------ a failure retrying cannot mend
echo "fail 99" >>big.log
check_exit "a failure retrying cannot mend ends it with its code" 1 timeout 60 "$CAIRN" -c "$T/cairn.ini" follow k
err_has "source big: the test said fail; cairn follow stops"
check "the run record keeps the error" test \
	"$(jq -r '[.running, .exit_code, .sources.big.state, .sources.big.error] | join(" ")' state/status/k@follow.json)" = \
	"false 1 failed the test said fail"

# ------------------------------------------------ a source that is not the job's
check_exit "follow --source of another job's source: exit 2" 2 timeout 30 "$CAIRN" -c "$T/cairn.ini" follow j --source big
err_has 'job j has no source named "big"'
