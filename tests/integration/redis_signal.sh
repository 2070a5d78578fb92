#!/bin/bash
# redis_signal.sh - a live redis-server cannot be staged: a restore stopped
# by SIGTERM says exactly what it wrote (keys in all and per database, as
# the target holds them).  The target is paused (CLIENT PAUSE WRITE) once
# the first keys are in, so the signal lands mid-way without a race; a
# dump replayed, and an RDB copied from a scratch server (the total known).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need_plugin redis local
redis_need
plan 7

redis_start src || exit 1
redis_start dst || exit 1
"$PY" -c '
import sys
out = sys.stdout.buffer
def cmd(*a):
    a = [str(x).encode() for x in a]
    out.write(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
for db, n in ((0, 200000), (3, 1000)):
    cmd("SELECT", db)
    for i in range(n):
        cmd("SET", "k:%d" % i, "v%d" % i)
' | rcli "$src_port" --pipe >"$T/pipe.out" 2>&1
grep -q "errors: 0" "$T/pipe.out" || exit 99

cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = state

[source dump]
plugin = redis
host = 127.0.0.1
port = $src_port
mode = dump

[source rdb]
plugin = redis
host = 127.0.0.1
port = $src_port

[sink here]
plugin = local
path = store
fsync = no

[job all]
sources = dump rdb
sinks = here
INI
cd "$T" || exit 99
check_exit "backup in both modes" 0 timeout 300 "$CAIRN" -c "$T/cairn.ini" backup all

# stopped SOURCE: restore SOURCE into dst, SIGTERM it once keys arrive
# (the target paused meanwhile); its exit status in $st
stopped() {
	rcli "$dst_port" flushall >/dev/null
	timeout 120 "$CAIRN" -c "$T/cairn.ini" restore all --source "$1" \
		--set "$1.port=$dst_port" >"$T/out" 2>"$T/err" &
	pid=$!
	for i in $(seq 4000); do
		[ "$(rcli "$dst_port" dbsize)" -gt 0 ] 2>/dev/null && break
		sleep 0.01
	done
	rcli "$dst_port" client pause 60000 write >/dev/null
	kill -TERM "$pid"
	rcli "$dst_port" client unpause >/dev/null
	wait "$pid"
	st=$?
}
stopped dump
check "SIGTERM during a restore into a live server: exit 143 (exit $st)" test "$st" = 143 ||
	diag "$T/err"
n=$(rcli "$dst_port" dbsize)
n3=$(rcli "$dst_port" -n 3 dbsize)
commas() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
check "it stopped mid-way ($n of 200,000 keys in db0, $n3 in db3)" \
	test "$n" -gt 0 -a "$n" -lt 200000 -a "$n3" = 0
check "the message says exactly what the target holds" \
	grep -qF "stopped after restoring $(commas "$n") keys: db0 $(commas "$n"); the target holds them" \
	"$T/err" || diag "$T/err"

# the RDB through a scratch server: the total is known
stopped rdb
check "RDB: SIGTERM mid-copy: exit 143 (exit $st)" test "$st" = 143 || diag "$T/err"
n=$(rcli "$dst_port" dbsize)
check "RDB: it stopped mid-way ($n keys in db0)" test "$n" -gt 0 -a "$n" -lt 200000
check "RDB: the message says what the target holds of all" \
	grep -qF "stopped after restoring $(commas "$n") of 201,000 keys: db0 $(commas "$n"); the target holds them" \
	"$T/err" || diag "$T/err"
