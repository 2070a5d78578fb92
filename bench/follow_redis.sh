#!/bin/bash
# bench/follow_redis.sh - the redis half of bench/follow.sh (issue 19's
# benchmark); run by follow.sh (BENCH_SOURCES), or alone with the same
# environment.
#
#  1. A redis-server of the bench's own (127.0.0.1, a free port, no
#     persistence, a 512 MB backlog) written as fast as redis-benchmark
#     (Debian's, redis-tools) writes: SET, INCR, LPUSH, HSET, pipelined
#     (BENCH_PIPELINE commands a connection, 50 connections, random keys
#     of a 100,000 key space), BENCH_REQUESTS requests a test, while `cairn
#     follow` follows it (segment_span BENCH_SPAN, default 10s here).
#     Sampled every second: the follower's lag (now minus the newest
#     committed segment's TO time) and RSS; at the end its CPU time
#     (/proc), peak RSS (VmHWM), the delay from the last write until a
#     committed segment held it (the master's offset reached), and the
#     bytes stored per million commands (the segments' manifests).
#  2. The replay: `cairn restore --at latest` (the follower's first full
#     backup, taken before the load, is empty: every command comes from the
#     log) into a second server, against `redis-cli --pipe` of the same
#     segments (decompressed beforehand; cairn reads the zstd files), FLUSHALL
#     before each run, the commands taking turns after an untimed warm-up
#     round.  Both results are checked equal to the source (DEBUG DIGEST)
#     before the timing.
#
# Aims (issue 19): lag within one segment span, replay at least 1.0x
# redis-cli --pipe, RSS under 32 MiB.
#
# Environment (besides follow.sh's CAIRN, CAIRN_PLUGIN_PATH, BENCH_RUNS):
#   BENCH_DIR          work directory (default /tmp/cairn-bench-follow-redis)
#   BENCH_REQUESTS     redis-benchmark -n, requests per command (default 1000000)
#   BENCH_PIPELINE     redis-benchmark -P (default 16)
#   BENCH_SPAN         segment_span of the job (default 10s)
set -euo pipefail

die() { echo "follow_redis.sh: $*" >&2; exit 1; }
. "$(dirname "$0")/lib.sh" # q, bench, mean, sd, rss, pids, follow_trap, cpu_of, sampler
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

here=$(cd "$(dirname "$0")" && pwd)
FIX=$here/../tests/fixtures
PY=/usr/bin/python3
PITR="$PY $(q "$FIX/mongo_pitr.py")"
CAIRN=$(abspath "${CAIRN:-./cairn}")
CAIRN_PLUGIN_PATH=$(abspath "${CAIRN_PLUGIN_PATH:-./plugins/.libs}")
export CAIRN_PLUGIN_PATH
BENCH_DIR=$(abspath "${BENCH_DIR:-/tmp/cairn-bench-follow-redis}")
RUNS=${BENCH_RUNS:-3}
REQUESTS=${BENCH_REQUESTS:-1000000}
PIPELINE=${BENCH_PIPELINE:-16}
SPAN=${BENCH_SPAN:-10s}
export LC_NUMERIC=C
export PYTHONDONTWRITEBYTECODE=1

[ $# = 0 ] || die "no arguments; see the environment variables at the top of $0"
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or newer is needed (\$EPOCHREALTIME)"
for tool in redis-server redis-cli redis-benchmark zstd jq "$PY"; do
	command -v "$tool" >/dev/null || die "$tool is needed (tools/install-deps)"
done
[ -x "$CAIRN" ] || die "$CAIRN is not an executable; build cairn or set CAIRN"
[ -f "$CAIRN_PLUGIN_PATH/redis.so" ] || die "no redis.so in $CAIRN_PLUGIN_PATH; set CAIRN_PLUGIN_PATH"
TIME=/usr/bin/time
if ! [ -x "$TIME" ] || ! "$TIME" -f %M true >/dev/null 2>&1; then
	echo "follow_redis.sh: GNU time (/usr/bin/time) is missing; the restore's peak RSS is not measured" >&2
	TIME=
fi
results=$BENCH_DIR/results
rm -rf "$BENCH_DIR"
mkdir -p "$results" "$BENCH_DIR/segs"

# ------------------------------------------------------------ the servers
follow_trap KILL
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start_server() { # NAME -> sets port_NAME
	local port
	port=$(free_port)
	mkdir -p "$BENCH_DIR/srv-$1"
	redis-server --port "$port" --bind 127.0.0.1 --dir "$BENCH_DIR/srv-$1" --save '' \
		--appendonly no --repl-diskless-sync-delay 0 --repl-backlog-size 512mb --enable-debug-command local \
		--daemonize no --logfile "$BENCH_DIR/srv-$1/log" >/dev/null 2>&1 &
	pids="$pids $!"
	for _ in $(seq 1 100); do
		[ "$(redis-cli -p "$port" PING 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
	[ "$(redis-cli -p "$port" PING 2>/dev/null)" = PONG ] || die "redis-server $1 did not start"
	eval "port_$1=$port"
}
start_server src
start_server dst
digest() { # PORT: DEBUG DIGEST, 40 hex digits
	local d
	d=$(redis-cli -p "$1" DEBUG DIGEST)
	[[ $d =~ ^[0-9a-f]{40}$ ]] || die "DEBUG DIGEST of 127.0.0.1:$1 gave \"$d\""
	echo "$d"
}
offset() { redis-cli -p "$port_src" INFO replication | tr -d '\r' | sed -n 's/^master_repl_offset://p'; }

cat >"$BENCH_DIR/cairn.ini" <<EOF
[cairn]
state_dir = $BENCH_DIR/state

[source db]
plugin = redis
port = $port_src
timeout = 60s

[sink store]
plugin = local
path = $BENCH_DIR/store
fsync = no

[job f]
sources = db
sinks = store
segment_span = $SPAN
EOF
C="$(q "$CAIRN") -q -c $(q "$BENCH_DIR/cairn.ini")"
LOGDIR=$BENCH_DIR/store/f/log/db
span_s=$("$PY" -c '
import re, sys
m = re.fullmatch(r"(\d+)([smh]?)", sys.argv[1])
print(int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)])' "$SPAN")

# ------------------------------------------------------------ follow
"$CAIRN" -c "$BENCH_DIR/cairn.ini" follow f >"$results/follow.log" 2>&1 &
fpid=$!
pids="$pids $fpid"
# it takes the first full backup itself (of the empty server: the
# reference replays the segments alone), then commits a first segment
for _ in $(seq 1200); do
	ls "$BENCH_DIR"/store/f/*/manifest.json >/dev/null 2>&1 && break
	kill -0 $fpid 2>/dev/null || die "cairn follow exited: $(tail -c 300 "$results/follow.log")"
	sleep 0.1
done
redis-cli -p "$port_src" SET bench:start 1 >/dev/null
$PITR wait-cover "$LOGDIR" 0 $((span_s * 2 + 120)) ||
	die "cairn follow committed no segment: $(tail -c 300 "$results/follow.log")"
cpu0=$(cpu_of $fpid)
sampler $fpid "$LOGDIR" >"$results/samples" &
spid=$!
pids="$pids $spid"
off0=$(offset)
t_load=$EPOCHREALTIME
redis-benchmark -p "$port_src" -q -c 50 -P "$PIPELINE" -r 100000 -n "$REQUESTS" \
	-t set,incr,lpush,hset >"$results/load" 2>&1 || die "redis-benchmark failed: $(tail -c 300 "$results/load")"
t_end=$EPOCHREALTIME
off1=$(offset)
$PITR wait-cover "$LOGDIR" "$(printf %x "$off1")" $((span_s * 3 + 120)) ||
	die "the log did not reach the last write: $(tail -c 300 "$results/follow.log")"
t_cover=$EPOCHREALTIME
follow_measure $fpid $spid "$results/samples" "$LOGDIR" "$t_load" "$t_cover" "$results/follow.log"
cmds=$((4 * REQUESTS))

# ------------------------------------------------------------ replay
for f in $($PITR segs "$LOGDIR" | awk '{ print $4 }'); do
	n=${f##*/}
	case $f in
	*.zst) zstd -dcq "$f" >"$BENCH_DIR/segs/${n%.zst}" ;;
	*) cp "$f" "$BENCH_DIR/segs/$n" ;;
	esac
done
flush="redis-cli -p $port_dst FLUSHALL"
sed "s/^port = .*/port = $port_dst/" "$BENCH_DIR/cairn.ini" >"$BENCH_DIR/restore.ini"
cairn_replay="$(q "$CAIRN") -q -c $(q "$BENCH_DIR/restore.ini") restore f --at latest"
ref_replay="cat $(q "$BENCH_DIR/segs")/* | redis-cli -p $port_dst --pipe"
want=$(digest "$port_src")
sh -c "$flush; $cairn_replay" >/dev/null 2>"$results/err" ||
	die "cairn restore --at latest failed: $(head -c 300 "$results/err")"
got=$(digest "$port_dst")
[ "$got" = "$want" ] || die "cairn's replay does not give the source's data (DEBUG DIGEST)"
sh -c "$flush; $ref_replay" >"$results/pipe" 2>"$results/err" ||
	die "redis-cli --pipe failed: $(head -c 300 "$results/err")"
grep -q "errors: 0" "$results/pipe" || die "redis-cli --pipe had errors: $(tail -c 300 "$results/pipe")"
got=$(digest "$port_dst")
[ "$got" = "$want" ] || die "redis-cli --pipe does not give the source's data (DEBUG DIGEST)"

bench replay "$flush" "cairn restore --at latest" "$cairn_replay" "redis-cli --pipe" "$ref_replay"
rss_replay=$(rss "$flush; $cairn_replay")
m_c=$(mean replay 1) m_r=$(mean replay 2)

# ------------------------------------------------------------ figures
echo
echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); redis-server $(redis-server --version |
	sed -n 's/.*v=\([^ ]*\).*/\1/p'); segment_span $SPAN; redis-benchmark -P $PIPELINE -n $REQUESTS x 4 commands"
echo
printf '| %-45s | %14s |\n' "redis follow" "" "---------------------------------------------" "--------------"
printf '| %-45s | %14s |\n' \
	"write load the server took (commands/s)" "$(awk -v o="$cmds" -v a="$t_load" -v b="$t_end" 'BEGIN { printf "%.0f", o / (b - a) }')" \
	"replication stream (MB/s)" "$(awk -v o=$((off1 - off0)) -v a="$t_load" -v b="$t_end" 'BEGIN { printf "%.1f", o / (b - a) / 1e6 }')" \
	"records stored / segments" "$records / $nsegs" \
	"lag, max / mean of $lag_n samples (s)" "$lag_max / $lag_mean" \
	"last write to committed segment (s)" "$(awk -v a="$t_end" -v b="$t_cover" 'BEGIN { printf "%.1f", b - a }')" \
	"follower CPU during the load (% of one CPU)" "$(awk -v a="$cpu0" -v b="$cpu1" -v s="$t_load" -v e="$t_cover" 'BEGIN { printf "%.1f", 100 * (b - a) / (e - s) }')" \
	"follower CPU per million commands (s)" "$(awk -v a="$cpu0" -v b="$cpu1" -v n="$records" 'BEGIN { printf "%.2f", (b - a) * 1e6 / n }')" \
	"follower RSS, first / max sampled (MiB)" "$rss_first / $rss_max" \
	"follower peak RSS, VmHWM (MiB)" "$hwm" \
	"raw bytes per million commands (MiB)" "$(awk -v b="$raw" -v n="$records" 'BEGIN { printf "%.1f", b / n * 1e6 / 1048576 }')" \
	"stored bytes per million commands (MiB, zstd)" "$(awk -v b="$stored" -v n="$records" 'BEGIN { printf "%.1f", b / n * 1e6 / 1048576 }')"
echo
printf '| %-32s | %7s | %6s | %10s | %6s | %12s |\n' "redis replay" "mean s" "sd s" "commands/s" "vs ref" "peak RSS MiB" \
	-------------------------------- ------- ------ ---------- ------ ------------
printf '| %-32s | %7.2f | %6.2f | %10.0f | %6s | %12s |\n' \
	"redis-cli --pipe" "$m_r" "$(sd replay 2)" "$(awk -v n="$records" -v m="$m_r" 'BEGIN { print n / m }')" 1.00x - \
	"cairn restore --at latest" "$m_c" "$(sd replay 1)" "$(awk -v n="$records" -v m="$m_c" 'BEGIN { print n / m }')" \
	"$(awk -v a="$m_c" -v b="$m_r" 'BEGIN { printf "%.2fx", b / a }')" "$rss_replay"
echo
echo "$RUNS replay rounds after 1 warm-up, the commands taking turns; samples: $results/samples"
exit 0
