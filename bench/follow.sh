#!/bin/bash
# bench/follow.sh - `cairn follow` and `restore --at` of MongoDB against
# the test server in replica-set mode (tests/fixtures/mongod/mongod.py
# --replset), issue 18's benchmark.
#
#  1. The server under a steady write load, as fast as it takes it
#     (tests/fixtures/mongo_pitr.py bench-load: bulk writes of 100
#     inserts, 50 updates, 100 deletes, one pymongo client), while `cairn follow`
#     runs with the default segment span (60 s; BENCH_SPAN to change it).
#     Sampled every second: the follower's lag (now minus the newest
#     committed segment's TO time), its RSS; at the end its CPU time
#     (/proc), peak RSS (VmHWM), the delay from the last write until a
#     committed segment held it, and the bytes stored per million oplog
#     entries (the segments' manifests).
#  2. The replay: `cairn restore --at latest` (the follower's first full
#     backup, taken before the load, holds nothing: every entry comes from
#     the log) into a fresh server, against a reference client applying
#     the same entries with applyOps batches of 1,000 (pymongo, raw BSON:
#     mongo_pitr.py bench-apply), taking turns, one untimed warm-up round.
#     Both results are checked against the source.
#
# Aims (issue 18): lag within one segment span, replay at least 1.0x the
# reference, RSS under 32 MiB.
#
# Then the redis half, bench/follow_redis.sh (issue 19: redis-benchmark
# against `cairn follow`, restore --at latest against redis-cli --pipe; its
# own knobs are at its top), in BENCH_DIR/redis.
#
# Environment:
#   BENCH_SOURCES      which halves run (default "mongo redis")
#   CAIRN              the cairn binary (default ./cairn)
#   CAIRN_PLUGIN_PATH  where its plugins are (default ./plugins/.libs)
#   BENCH_DIR          work directory (default /tmp/cairn-bench-follow)
#   BENCH_RUNS         timed replay rounds (default 3)
#   BENCH_SECONDS      seconds of write load (default 150: two and a half spans)
#   BENCH_SPAN         segment_span of the job (default: cairn's, 60s)
set -euo pipefail

die() { echo "follow.sh: $*" >&2; exit 1; }
. "$(dirname "$0")/lib.sh" # q, bench, mean, sd, rss, pids, follow_trap, cpu_of, sampler
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

here=$(cd "$(dirname "$0")" && pwd)
FIX=$here/../tests/fixtures
PY=/usr/bin/python3
PITR="$PY $(q "$FIX/mongo_pitr.py")"
CAIRN=$(abspath "${CAIRN:-./cairn}")
CAIRN_PLUGIN_PATH=$(abspath "${CAIRN_PLUGIN_PATH:-./plugins/.libs}")
export CAIRN_PLUGIN_PATH
BENCH_DIR=$(abspath "${BENCH_DIR:-/tmp/cairn-bench-follow}")
RUNS=${BENCH_RUNS:-3}
LOAD_SECONDS=${BENCH_SECONDS:-150}
SPAN=${BENCH_SPAN:-}
export LC_NUMERIC=C
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree

[ $# = 0 ] || die "no arguments; see the environment variables at the top of $0"
SOURCES=" ${BENCH_SOURCES:-mongo redis} "
redis_half() { CAIRN=$CAIRN BENCH_DIR=$BENCH_DIR/redis bash "$here/follow_redis.sh"; }
case $SOURCES in *" mongo "*) ;; *" redis "*) redis_half; exit ;; *) die "BENCH_SOURCES: mongo, redis or both" ;; esac
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or newer is needed (\$EPOCHREALTIME)"
"$PY" -c 'import bson, pymongo; assert bson.has_c() and pymongo.has_c()' 2>/dev/null ||
	die "$PY needs python3-bson, python3-pymongo and their C extensions (tools/install-deps)"
[ -x "$CAIRN" ] || die "$CAIRN is not an executable; build cairn or set CAIRN"
[ -f "$CAIRN_PLUGIN_PATH/mongo.so" ] || die "no mongo.so in $CAIRN_PLUGIN_PATH; set CAIRN_PLUGIN_PATH"
TIME=/usr/bin/time
if ! [ -x "$TIME" ] || ! "$TIME" -f %M true >/dev/null 2>&1; then
	echo "follow.sh: GNU time (/usr/bin/time) is missing; the restore's peak RSS is not measured" >&2
	TIME=
fi
results=$BENCH_DIR/results
rm -rf "$BENCH_DIR/store" "$BENCH_DIR/state" "$BENCH_DIR/segs"
mkdir -p "$BENCH_DIR" "$results" "$BENCH_DIR/segs"

# ------------------------------------------------------------ the servers
follow_trap TERM
start_server() { # PORTFILE LOG [mongod.py OPTION]...: sets PORT, SPID
	local pf=$1 log=$2
	shift 2
	rm -f "$pf"
	"$PY" "$FIX/mongod/mongod.py" --port 0 --port-file "$pf" --watch-pid $$ "$@" \
		>/dev/null 2>"$log" &
	SPID=$!
	pids="$pids $SPID"
	for _ in $(seq 400); do
		[ -s "$pf" ] && break
		kill -0 $SPID 2>/dev/null || die "the test server exited: $(head -c 300 "$log")"
		sleep 0.05
	done
	[ -s "$pf" ] || die "the test server did not start within 20 s"
	PORT=$(cat "$pf")
}
start_server "$BENCH_DIR/src.port" "$results/src.log" --replset bench --oplog-size $((512 << 20))
SRC=mongodb://127.0.0.1:$PORT
start_server "$BENCH_DIR/dst.port" "$results/dst.log"
DST=mongodb://127.0.0.1:$PORT
# a collection the first full backup holds; the load's bench.w comes later
"$PY" -c 'import pymongo, sys; pymongo.MongoClient(sys.argv[1]).bench.seed.insert_one({"_id": 1})' "$SRC"

cat >"$BENCH_DIR/cairn.ini" <<EOF
[cairn]
state_dir = $BENCH_DIR/state

[source db]
plugin = mongo
uri = $SRC
databases = bench

[sink store]
plugin = local
path = $BENCH_DIR/store
fsync = no

[job f]
sources = db
sinks = store
${SPAN:+segment_span = $SPAN}
EOF
C="$(q "$CAIRN") -q -c $(q "$BENCH_DIR/cairn.ini")"
LOGDIR=$BENCH_DIR/store/f/log/db
span_s=$("$PY" -c '
import re, sys
s = sys.argv[1] or "60s"
m = re.fullmatch(r"(\d+)([smh]?)", s)
print(int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)])' "$SPAN")

# ------------------------------------------------------------ follow
"$CAIRN" -c "$BENCH_DIR/cairn.ini" follow f >"$results/follow.log" 2>&1 &
fpid=$!
pids="$pids $fpid"
t_follow=$EPOCHREALTIME
# it takes the first full backup itself, then commits a first segment
$PITR wait-cover "$LOGDIR" 0 $((span_s * 2 + 120)) ||
	die "cairn follow committed no segment: $(tail -c 300 "$results/follow.log")"
cpu0=$(cpu_of $fpid)

# sample lag and RSS every second while the load runs
sampler $fpid "$LOGDIR" >"$results/samples" &
spid=$!
pids="$pids $spid"
t_load=$EPOCHREALTIME
$PITR bench-load "$SRC" "$LOAD_SECONDS" "$results/load" || die "the write load failed"
read -r ops took first_lsn last_lsn <"$results/load"
t_end=$EPOCHREALTIME
$PITR wait-cover "$LOGDIR" "$last_lsn" $((span_s * 3 + 120)) ||
	die "the log did not reach the last write: $(tail -c 300 "$results/follow.log")"
t_cover=$EPOCHREALTIME
follow_measure $fpid $spid "$results/samples" "$LOGDIR" "$t_load" "$t_cover" "$results/follow.log"

# ------------------------------------------------------------ replay
for f in $("$PY" "$FIX/mongo_pitr.py" segs "$LOGDIR" | awk '{ print $4 }'); do
	n=${f##*/}
	case $f in
	*.zst) zstd -dcq "$f" >"$BENCH_DIR/segs/${n%.zst}" ;;
	*) cp "$f" "$BENCH_DIR/segs/$n" ;;
	esac
done
drop_db="$PY -c 'import pymongo, sys; pymongo.MongoClient(sys.argv[1]).drop_database(\"bench\")' $(q "$DST")"
cairn_replay="$C restore f --at latest --set db.uri=$(q "$DST")"
ref_replay="$PITR bench-apply $(q "$DST") $(q "$BENCH_DIR/segs")/*"
digest="$PY $(q "$FIX/mongo_load.py") dump"
sh -c "$digest $(q "$SRC") --db bench" >"$results/want"
sh -c "$drop_db; $cairn_replay" >/dev/null 2>"$results/err" ||
	die "cairn restore --at latest failed: $(head -c 300 "$results/err")"
sh -c "$digest $(q "$DST") --db bench" >"$results/got"
cmp -s "$results/want" "$results/got" ||
	die "cairn's replay does not give the source's data (diff $results/want $results/got)"
sh -c "$drop_db; $ref_replay" >/dev/null 2>"$results/err" ||
	die "the reference replay failed: $(head -c 300 "$results/err")"
noseed() { awk '/^collection / { skip = ($2 == "bench.seed") } !skip'; }
sh -c "$digest $(q "$DST") --db bench" | noseed >"$results/got"
noseed <"$results/want" | cmp -s - "$results/got" ||
	die "the reference replay does not give the source's data (diff $results/want $results/got)"

bench replay "$drop_db" "cairn restore --at latest" "$cairn_replay" "reference applyOps" "$ref_replay"
rss_replay=$(rss "$drop_db; $cairn_replay")
m_c=$(mean replay 1) m_r=$(mean replay 2)

# ------------------------------------------------------------ figures
span_txt=${SPAN:-60s (default)}
echo
echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); the Python test server" \
	"(tests/fixtures/mongod, --replset); segment_span $span_txt; $LOAD_SECONDS s of load"
echo
printf '| %-44s | %14s |\n' "follow" "" "--------------------------------------------" "--------------"
printf '| %-44s | %14s |\n' \
	"write load the server took (ops/s)" "$(awk -v o="$ops" -v t="$took" 'BEGIN { printf "%.0f", o / t }')" \
	"oplog entries stored / segments" "$records / $nsegs" \
	"lag, max / mean of $lag_n samples (s)" "$lag_max / $lag_mean" \
	"last write to committed segment (s)" "$(awk -v a="$t_end" -v b="$t_cover" 'BEGIN { printf "%.1f", b - a }')" \
	"follower CPU during the load (% of one CPU)" "$(awk -v a="$cpu0" -v b="$cpu1" -v s="$t_load" -v e="$t_cover" 'BEGIN { printf "%.1f", 100 * (b - a) / (e - s) }')" \
	"follower CPU per million entries (s)" "$(awk -v a="$cpu0" -v b="$cpu1" -v n="$records" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')" \
	"follower RSS, first / max sampled (MiB)" "$rss_first / $rss_max" \
	"follower peak RSS, VmHWM (MiB)" "$hwm" \
	"raw bytes per million entries (MiB)" "$(awk -v b="$raw" -v n="$records" 'BEGIN { printf "%.1f", b / n * 1e6 / 1048576 }')" \
	"stored bytes per million entries (MiB, zstd)" "$(awk -v b="$stored" -v n="$records" 'BEGIN { printf "%.1f", b / n * 1e6 / 1048576 }')"
echo
printf '| %-32s | %7s | %6s | %10s | %6s | %12s |\n' replay "mean s" "sd s" "entries/s" "vs ref" "peak RSS MiB" \
	-------------------------------- ------- ------ ---------- ------ ------------
printf '| %-32s | %7.2f | %6.2f | %10.0f | %6s | %12s |\n' \
	"reference applyOps (pymongo)" "$m_r" "$(sd replay 2)" "$(awk -v n="$records" -v m="$m_r" 'BEGIN { print n / m }')" 1.00x - \
	"cairn restore --at latest" "$m_c" "$(sd replay 1)" "$(awk -v n="$records" -v m="$m_c" 'BEGIN { print n / m }')" \
	"$(awk -v a="$m_c" -v b="$m_r" 'BEGIN { printf "%.2fx", b / a }')" "$rss_replay"
echo
echo "$RUNS replay rounds after 1 warm-up, the commands taking turns; samples: $results/samples"
case $SOURCES in *" redis "*)
	echo
	stop_pids
	redis_half
	;;
esac
