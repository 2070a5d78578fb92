# redis_lib.sh - what the redis tests share: real redis-servers of the
# test's own on 127.0.0.1, data of every type, and a fake server that
# misbehaves on purpose.  Source it after lib.sh (it needs $T).
#
#   redis_need                 skip the script (before plan) without the
#                              Debian tools (redis-server, redis-cli)
#   redis_start NAME [ARG]...  a server on a free port, its files in
#                              $T/redis-NAME; sets REDIS_PORT, REDIS_PID
#                              and NAME_port / NAME_pid; extra ARGs go to
#                              redis-server (--requirepass x, ...)
#   redis_stop NAME            SHUTDOWN NOSAVE, then SIGKILL
#   rcli PORT ARG...           redis-cli against it, with a time limit
#   redis_digest PORT          DEBUG DIGEST of the whole server
#   redis_keyspace PORT        "db0=N db1=M ..." from INFO keyspace
#   redis_fill PORT            keys of every type in databases 0, 3, 9
#   redis_fake MODE            a fake server (fake_port, fake_pid):
#                              cut-len / cut-eof send part of a snapshot
#                              and close; nosync refuses SYNC and PSYNC;
#                              old-len / old-eof know no rdb-only and go
#                              on after a whole snapshot (2 keys)
#
# Every server dies with the test: the EXIT trap stops them before
# lib.sh's own cleanup removes $T.
: "${T:?source lib.sh first}"

REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
PY=/usr/bin/python3
_redis_pids=""

redis_cleanup() {
	local p
	for p in $_redis_pids; do
		kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	cleanup
}
trap redis_cleanup EXIT

redis_need() {
	local t
	for t in "$REDIS_SERVER" "$REDIS_CLI" redis-check-rdb "$PY"; do
		if ! command -v "$t" >/dev/null 2>&1; then
			echo "1..0 # SKIP needs $t (tools/install-deps: redis-server redis-tools)"
			exit 0
		fi
	done
}

# A TCP port nobody listens on now (the OS picks it; the small window
# before the server binds it is retried by redis_start).
redis_free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

rcli() {
	local port=$1
	shift
	timeout 60 "$REDIS_CLI" -h 127.0.0.1 -p "$port" "$@"
}

# redis_wait PORT PID: until PING answers (10 s at most)
redis_wait() {
	local i
	for i in $(seq 1 100); do
		if [ "$(rcli "$1" PING 2>/dev/null)" = PONG ]; then
			return 0
		fi
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

redis_start() {
	local name=$1 dir=$T/redis-$1 try port pid
	shift
	mkdir -p "$dir"
	for try in 1 2 3 4 5; do
		port=$(redis_free_port)
		"$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --dir "$dir" \
			--save '' --appendonly no --repl-diskless-sync-delay 0 \
			--enable-debug-command local --daemonize no \
			--logfile "$dir/log" "$@" >"$dir/stdout" 2>&1 &
		pid=$!
		_redis_pids="$_redis_pids $pid"
		if redis_wait_auth "$port" "$pid"; then
			REDIS_PORT=$port
			REDIS_PID=$pid
			eval "${name}_port=$port ${name}_pid=$pid"
			return 0
		fi
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	echo "redis_start $name: the server did not come up" >&2
	cat "$dir/log" "$dir/stdout" >&2
	return 1
}

# As redis_wait, but a server with a password answers NOAUTH: also up.
redis_wait_auth() {
	local i out
	for i in $(seq 1 100); do
		out=$(rcli "$1" PING 2>&1)
		case $out in PONG | *NOAUTH*) return 0 ;; esac
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

redis_stop() {
	local port pid
	eval "port=\${$1_port} pid=\${$1_pid}"
	rcli "$port" SHUTDOWN NOSAVE >/dev/null 2>&1
	sleep 0.1
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

redis_digest() { rcli "$1" DEBUG DIGEST; }

redis_keyspace() {
	rcli "$1" INFO keyspace | tr -d '\r' | sed -n 's/^db\([0-9]*\):keys=\([0-9]*\),.*/db\1=\2/p' |
		tr '\n' ' ' | sed 's/ $//'
}

# Keys of every type, in databases 0, 3 and 9: strings (text, binary with
# NUL and CR LF, integers, a 300 kB one), lists (small and long), hashes,
# sets (integers and text), sorted sets, a stream with two consumer
# groups and pending entries, and keys with TTLs.
redis_fill() {
	local port=$1
	"$PY" - <<'EOF' | rcli "$port" --pipe >/dev/null || return 1
import sys
out = sys.stdout.buffer
def cmd(*args):
    a = [x if isinstance(x, bytes) else str(x).encode() for x in args]
    out.write(b"*%d\r\n" % len(a))
    for x in a:
        out.write(b"$%d\r\n%s\r\n" % (len(x), x))
for db in (0, 3, 9):
    cmd("SELECT", db)
    cmd("SET", "str", "hello %d" % db)
    cmd("SET", b"bin\x00key\r\n", bytes(range(256)) * 3)
    cmd("SET", "int", 12345)
    cmd("SET", "big", b"x" * 1000 + bytes(range(256)) * 1200)
    cmd("RPUSH", "list", *["item%d" % i for i in range(10)])
    cmd("RPUSH", "longlist", *["element-%d" % i for i in range(3000)])
    cmd("HSET", "hash", *sum([["f%d" % i, "v%d" % i] for i in range(20)], []))
    cmd("HSET", "bighash", *sum([["field%d" % i, "value" * 20] for i in range(1000)], []))
    cmd("SADD", "intset", *range(100))
    cmd("SADD", "set", *["m%d" % i for i in range(300)])
    cmd("ZADD", "zset", *sum([[i * 1.5, "z%d" % i] for i in range(50)], []))
    cmd("ZADD", "bigzset", *sum([[i, "member%d" % i] for i in range(500)], []))
    for i in range(30):
        cmd("XADD", "stream", "*", "n", i, "db", db)
    cmd("XGROUP", "CREATE", "stream", "g1", "0")
    cmd("XGROUP", "CREATE", "stream", "g2", "$")
    cmd("XREADGROUP", "GROUP", "g1", "alice", "COUNT", 5, "STREAMS", "stream", ">")
    cmd("XREADGROUP", "GROUP", "g1", "bob", "COUNT", 3, "STREAMS", "stream", ">")
    cmd("SET", "ttl:short", "v", "PX", 3600000)
    cmd("SET", "ttl:long", "v", "EX", 86400 * 30)
    cmd("HSET", "ttl:hash", "a", "1")
    cmd("EXPIRE", "ttl:hash", 7200)
EOF
}

# The fake server: answers what a client sends before SYNC, then does
# what MODE says.  fake_port / fake_pid; it serves one client and exits.
redis_fake() {
	local mode=$1
	fake_port=$(redis_free_port)
	"$PY" - "$mode" "$fake_port" >"$T/fake-$mode.log" 2>&1 <<'EOF' &
import socket, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1)
srv.settimeout(30)
rdb = b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfe\x00\xfb\x02\x00" + b"\x00\x03key" + b"\x40\xc8" + b"v" * 200
def crc64(data):
    # Redis's crc64.c: Jones polynomial, reflected, init 0
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x95AC9329AC4BC9B5 if crc & 1 else 0)
    return crc
whole = rdb + b"\x00\x04key2\x02v2\xff"
whole += crc64(whole).to_bytes(8, "little")
def serve(c):
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            return
        buf += d
        while b"\r\n" in buf:
            # one RESP or inline command; only its name matters here
            if buf.startswith(b"*"):
                n = int(buf[1:buf.index(b"\r\n")])
                parts = buf.split(b"\r\n")
                if len(parts) < 1 + 2 * n + 1:
                    break
                name = parts[2].upper()
                buf = b"\r\n".join(parts[1 + 2 * n:])
            else:
                line, buf = buf.split(b"\r\n", 1)
                name = line.split(b" ")[0].upper()
            if name == b"REPLCONF" and mode.startswith("old") and b"rdb-only" in d:
                c.sendall(b"-ERR Unrecognized REPLCONF option: rdb-only\r\n")
                continue
            if name in (b"SYNC", b"PSYNC") and mode.startswith("old"):
                # a whole snapshot, then the replication stream, and the
                # link stays open as an old master's would
                if mode == "old-len":
                    c.sendall(b"$%d\r\n" % len(whole) + whole + b"*1\r\n$4\r\nPING\r\n")
                else:
                    c.sendall(b"$EOF:" + b"k" * 40 + b"\r\n" + whole + b"k" * 40 +
                              b"*1\r\n$4\r\nPING\r\n")
                time.sleep(60)
                sys.exit(0)
            if name in (b"SYNC", b"PSYNC"):
                if mode == "nosync":
                    c.sendall(b"-NOPERM this user has no permissions to run the '%s' command\r\n" % name.lower())
                    continue
                if mode == "cut-len":
                    c.sendall(b"\n\n$100000\r\n" + rdb)
                else:
                    c.sendall(b"$EOF:" + b"m" * 40 + b"\r\n" + rdb)
                c.close()
                sys.exit(0)
            elif name == b"INFO":
                s = b"# Server\r\nredis_version:7.0.15\r\n"
                c.sendall(b"$%d\r\n%s\r\n" % (len(s), s))
            else:
                c.sendall(b"+OK\r\n")
while True:
    c, _ = srv.accept()
    c.settimeout(30)
    serve(c)
    c.close()
EOF
	fake_pid=$!
	_redis_pids="$_redis_pids $fake_pid"
	# until it listens
	local i
	for i in $(seq 1 50); do
		"$PY" -c "import socket; socket.create_connection(('127.0.0.1', $fake_port), 1).close()" \
			2>/dev/null && break
		sleep 0.1
	done
}
