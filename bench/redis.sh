#!/bin/bash
# bench/redis.sh - cairn's redis source against redis-cli --rdb.
#
# A redis-server of the bench's own (127.0.0.1, a free port, no
# persistence, repl-diskless-sync-delay 0 so every snapshot starts at once
# for both sides) is loaded with BENCH_KEYS keys (default 1,000,000: short
# strings, small hashes, lists and sets, one in ten with a TTL) through
# redis-cli --pipe.  Then, in groups whose commands take turns (one run
# each per round, the order reversed every other round, after an untimed
# warm-up round), it times
#
#   rdb:   cairn backup (mode = rdb, compression none)  vs  redis-cli --rdb FILE
#   zstd:  cairn backup (mode = rdb, zstd -3)           vs  redis-cli --rdb - | zstd -3
#   dump:  cairn backup (mode = dump, compression none) vs  cairn backup (mode = rdb)
#   restore: cairn restore of the dump and of the RDB into an empty second
#          server (FLUSHALL before each run), against redis-cli --pipe of
#          the dump
#
# and prints mean seconds, the ratio to the reference, the CPU seconds
# (user + system) of the client side (cairn, or redis-cli and zstd) and its
# peak RSS.  The server's own work (fork, serializing) is in the wall time
# of both sides alike; on a busy machine the CPU column is the steadier one.  The
# sink is a local directory in BENCH_DIR without fsync, so the server and
# the stream are what is measured.
#
# Environment:
#   CAIRN              the cairn binary (default ./cairn)
#   CAIRN_PLUGIN_PATH  its plugins (default ./plugins/.libs)
#   BENCH_DIR          work directory (default /dev/shm/cairn-bench-redis
#                      when /dev/shm is a tmpfs, else /tmp/cairn-bench-redis)
#   BENCH_RUNS         timed rounds per group (default 3)
#   BENCH_KEYS         keys to load (default 1000000)
set -euo pipefail

die() { echo "redis.sh: $*" >&2; exit 1; }
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

CAIRN=$(abspath "${CAIRN:-./cairn}")
CAIRN_PLUGIN_PATH=$(abspath "${CAIRN_PLUGIN_PATH:-./plugins/.libs}")
export CAIRN_PLUGIN_PATH
if [ -z "${BENCH_DIR:-}" ]; then
	BENCH_DIR=/tmp/cairn-bench-redis
	[ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && BENCH_DIR=/dev/shm/cairn-bench-redis
fi
BENCH_DIR=$(abspath "$BENCH_DIR")
RUNS=${BENCH_RUNS:-3}
KEYS=${BENCH_KEYS:-1000000}
export LC_NUMERIC=C
PY=/usr/bin/python3

for tool in redis-server redis-cli zstd "$PY"; do
	command -v "$tool" >/dev/null || die "$tool is needed (tools/install-deps)"
done
[ -x "$CAIRN" ] || die "no cairn binary at $CAIRN; set CAIRN"
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or newer is needed (\$EPOCHREALTIME)"
TIME=/usr/bin/time
if ! [ -x "$TIME" ] || ! "$TIME" -f %M true >/dev/null 2>&1; then
	echo "redis.sh: GNU time (Debian package: time) is missing; peak RSS is not measured" >&2
	TIME=
fi

rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR"
cd "$BENCH_DIR"
pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done' EXIT

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start_server() { # NAME -> sets port_NAME
	local port
	port=$(free_port)
	mkdir -p "srv-$1"
	redis-server --port "$port" --bind 127.0.0.1 --dir "$BENCH_DIR/srv-$1" --save '' \
		--appendonly no --repl-diskless-sync-delay 0 --daemonize no \
		--logfile "$BENCH_DIR/srv-$1/log" >/dev/null 2>&1 &
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
echo "redis.sh: loading $KEYS keys into 127.0.0.1:$port_src ..." >&2
"$PY" - "$KEYS" <<'EOF' | redis-cli -p "$port_src" --pipe >/dev/null
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
def c(*a):
    a = [x if isinstance(x, bytes) else str(x).encode() for x in a]
    return b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
buf = []
for i in range(n):
    k = i % 10
    if k < 6:
        buf.append(c("SET", "user:%d:name" % i, "name-%d-%s" % (i, "x" * (i % 40))))
    elif k == 6:
        buf.append(c("HSET", "h:%d" % i, "a", i, "b", "text %d" % i, "c", "more"))
    elif k == 7:
        buf.append(c("RPUSH", "l:%d" % i, "one", "two", i))
    elif k == 8:
        buf.append(c("SADD", "s:%d" % i, "x", "y", i))
    else:
        buf.append(c("SET", "session:%d" % i, "t" * 30, "EX", 86400))
    if len(buf) == 10000:
        out.write(b"".join(buf))
        buf = []
out.write(b"".join(buf))
EOF
echo "redis.sh: $(redis-cli -p "$port_src" DBSIZE) keys, $(redis-cli -p "$port_src" INFO memory |
	tr -d '\r' | sed -n 's/^used_memory_human://p') used" >&2

cat >cairn.ini <<EOF
[cairn]
state_dir = state

[source rdb]
plugin = redis
port = $port_src

[source dump]
plugin = redis
port = $port_src
mode = dump

[sink here]
plugin = local
path = store
fsync = no

[job rdb]
sources = rdb
sinks = here
compression = none

[job rdbz]
sources = rdb
sinks = here
compression = zstd
compression_level = 3

[job dump]
sources = dump
sinks = here
compression = none
EOF
C() { "$CAIRN" -q -c "$BENCH_DIR/cairn.ini" "$@"; }
clean_store() { rm -rf "$BENCH_DIR/store/$1"; }

# The commands, by name.
cmd_cairn_rdb() { clean_store rdb; C backup rdb; }
cmd_cli_rdb() { rm -f out.rdb; redis-cli -p "$port_src" --rdb out.rdb >/dev/null 2>&1; }
cmd_cairn_rdbz() { clean_store rdbz; C backup rdbz; }
cmd_cli_rdbz() { redis-cli -p "$port_src" --rdb - 2>/dev/null | zstd -3 -q -f -o out.rdb.zst; }
cmd_cairn_dump() { clean_store dump; C backup dump; }
cmd_restore_dump() {
	redis-cli -p "$port_dst" FLUSHALL >/dev/null
	C restore dump --set dump.port="$port_dst"
}
cmd_restore_rdb() {
	redis-cli -p "$port_dst" FLUSHALL >/dev/null
	C restore rdb --set rdb.port="$port_dst"
}
cmd_pipe_dump() {
	redis-cli -p "$port_dst" FLUSHALL >/dev/null
	redis-cli -p "$port_dst" --pipe <"$(ls store/dump/*/dump.resp)" >/dev/null
}

declare -A sum rss cpu
run_one() { # NAME: time it, keep the peak RSS of the process tree's largest
	local name=$1 t0 t1 m=0 u s
	sync
	if [ -n "$TIME" ]; then
		t0=$EPOCHREALTIME
		"$TIME" -f '%M %U %S' -o "$BENCH_DIR/rss" bash -c "$(declare -f C clean_store "cmd_$name");
			port_src=$port_src port_dst=$port_dst BENCH_DIR=$BENCH_DIR CAIRN=$CAIRN cmd_$name" ||
			die "$name failed"
		t1=$EPOCHREALTIME
		read -r m u s <<<"$(tail -n 1 "$BENCH_DIR/rss")"
		cpu[$name]=$(echo "${cpu[$name]:-0} + $u + $s" | bc -l)
	else
		t0=$EPOCHREALTIME
		"cmd_$name" || die "$name failed"
		t1=$EPOCHREALTIME
	fi
	sum[$name]=$(echo "${sum[$name]:-0} + $t1 - $t0" | bc -l)
	[ "$m" -gt "${rss[$name]:-0}" ] && rss[$name]=$m
	return 0
}

group() { # TITLE REF NAME...: the first is the reference
	local title=$1 round names=("${@:2}") n
	echo "redis.sh: $title ..." >&2
	for n in "${names[@]}"; do "cmd_$n" >/dev/null 2>&1 || die "$n failed"; done # warm-up
	for round in $(seq 1 "$RUNS"); do
		if [ $((round % 2)) = 1 ]; then
			for n in "${names[@]}"; do run_one "$n"; done
		else
			for ((i = ${#names[@]} - 1; i >= 0; i--)); do run_one "${names[$i]}"; done
		fi
	done
	printf '%-10s %-14s %9s %8s %9s %10s\n' "$title" command "mean s" ratio "cpu s" "peak RSS"
	local ref
	ref=$(echo "${sum[${names[0]}]} / $RUNS" | bc -l)
	for n in "${names[@]}"; do
		local mean
		mean=$(echo "${sum[$n]} / $RUNS" | bc -l)
		printf '%-10s %-14s %9.2f %8.2f %9.2f %8s MB\n' "" "$n" "$mean" \
			"$(echo "$mean / $ref" | bc -l)" "$(echo "${cpu[$n]:-0} / $RUNS" | bc -l)" \
			"$(((${rss[$n]:-0} + 512) / 1024))"
	done
}

command -v bc >/dev/null || die "bc is needed (Debian package: bc)"
group rdb cli_rdb cairn_rdb
group zstd cli_rdbz cairn_rdbz
group dump cairn_rdb cairn_dump
cmd_cairn_dump >/dev/null 2>&1
cmd_cairn_rdb >/dev/null 2>&1
group restore pipe_dump restore_dump restore_rdb
echo "redis.sh: objects: rdb $(du -h store/rdb/*/rdb.rdb | cut -f1)," \
	"dump $(du -h store/dump/*/dump.resp | cut -f1)" >&2
