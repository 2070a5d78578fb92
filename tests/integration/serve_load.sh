#!/bin/bash
# serve_load.sh - cairn serve under the lockouts of issue 16: 300 clients
# that trickle their request headers (a line a second) and a sink that
# accepts connections and never answers, while /healthz and /status must
# still answer within a second; connections past max_connections get 503,
# not a silent close; the trickling ones are cut with 408; more
# connections than select() could take; SIGTERM ends it within seconds
# even while a status thread waits on the stalled sink.
. "$(dirname "$0")/lib.sh"
need_plugin files local s3
if "$CAIRN" -c /dev/null serve 2>&1 | grep -q "built without libmicrohttpd"; then
	echo "1..0 # SKIP cairn was built without libmicrohttpd"
	exit 0
fi
for t in curl jq; do
	if ! command -v "$t" >/dev/null; then
		echo "1..0 # SKIP $t is missing (run tools/install-deps)"
		exit 0
	fi
done
plan 15

# A "store" that accepts and then says nothing, on a port the OS chose.
/usr/bin/python3 - "$T/stall.port" <<'PY' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
held = []
end = time.time() + 120
s.settimeout(1)
while time.time() < end:
    try:
        c, _ = s.accept()
        held.append(c)
    except OSError:
        pass
PY
for _ in $(seq 100); do [ -s "$T/stall.port" ] && break; sleep 0.1; done
STALL_PORT=$(cat "$T/stall.port")

mkdir -p "$T/data" "$T/store"
echo hello >"$T/data/a.txt"
write_ini j here=store
cat >>"$T/cairn.ini" <<EOF

[job slow]
sources = docs
sinks = stalled

[sink stalled]
plugin = s3
endpoint = http://127.0.0.1:$STALL_PORT
region = us-east-1
bucket = stalled-bucket
addressing = path
access_key = x
secret_key = y
timeout = 60s

[serve]
token_file = token
max_connections = 2000
EOF
cd "$T" || exit 99
cairn backup j >/dev/null 2>&1 || exit 99
TOKEN=load-test-token-$RANDOM$RANDOM$RANDOM
echo "$TOKEN" >"$T/token"
chmod 600 "$T/token"

start_server() {
	"$CAIRN" -c "$T/cairn.ini" serve --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.err" &
	PID=$!
	for _ in $(seq 100); do
		URL=$(sed -n 's/^cairn serve: listening on //p' "$T/serve.out")
		[ -n "$URL" ] && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# code PATH [CURL ARGS...]: the status code within one second (000: none)
code() {
	local path=$1
	shift
	curl -s --max-time 1 -o "$T/body" -w '%{http_code}' "$@" "$URL$path"
}
auth=(-H "Authorization: Bearer $TOKEN")

check "the server starts with max_connections = 2000 (past select()'s 1024)" start_server ||
	diag "$T/serve.err"
port=${URL##*:}

# 300 clients that send a header line a second and never finish; each
# prints the status line it finally got (or "closed").
/usr/bin/python3 - "$port" 300 >"$T/trickle.out" 2>&1 <<'PY' &
import socket, sys, time, select
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
print("opened", len(socks), flush=True)
got = {}
end = time.time() + 20
while time.time() < end and len(got) < len(socks):
    for i, s in enumerate(socks):
        if i in got:
            continue
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            got[i] = "closed"
    r, _, _ = select.select([s for i, s in enumerate(socks) if i not in got], [], [], 1)
    for s in r:
        i = socks.index(s)
        try:
            line = s.recv(200).split(b"\r\n")[0].decode("latin-1") or "closed"
        except OSError:
            line = "closed"
        got[i] = line
for i in range(len(socks)):
    print(got.get(i, "still open"))
PY
TRICKLE=$!
for _ in $(seq 100); do grep -q '^opened' "$T/trickle.out" && break; sleep 0.1; done
check "300 trickling clients are connected" grep -q '^opened 300' "$T/trickle.out" ||
	diag "$T/trickle.out"
sleep 1

ok=0
for _ in 1 2 3; do
	c=$(code /healthz)
	case $c in 200 | 503) ok=$((ok + 1)) ;; esac
	sleep 0.3
done
check "/healthz answers within a second, three times, beside them" test "$ok" = 3
check "/status answers 200 within a second" test "$(code /status "${auth[@]}")" = 200
check "with the local sink's backup" \
	jq -e '.jobs[0].sinks[0].reachable == true and .jobs[0].sinks[0].sets == 1' "$T/body"
check "and the stalled sink as not answered yet" \
	jq -e '.jobs[1].sinks[0].reachable == false and (.jobs[1].sinks[0].error | test("not answered yet"))' \
	"$T/body"
check "/metrics answers within a second" test "$(code /metrics "${auth[@]}")" = 200
check "the lowercase scheme \"bearer\" is accepted (RFC 9110)" \
	test "$(code /status -H "Authorization: bearer $TOKEN")" = 200

wait "$TRICKLE"
check "every trickling client got 408 (header too slow), none was left open" \
	test "$(grep -c '408' "$T/trickle.out")" = 300 || sort "$T/trickle.out" | uniq -c | diag -

# A chunked body on a GET is refused like a sized one.
check "a chunked GET body: 413" test "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
	-X GET -H 'Transfer-Encoding: chunked' -d x "${auth[@]}" "$URL/status")" = 413

kill -TERM "$PID"
for _ in $(seq 40); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
check "SIGTERM ends it within 4 s though a status thread waits on the stalled sink" \
	bash -c "! kill -0 $PID 2>/dev/null"
wait "$PID"
check "with exit 0" test $? = 0

# Past max_connections: 503 with Retry-After, not a silent close.
sed -i 's/^max_connections = .*/max_connections = 4/' "$T/cairn.ini"
start_server || exit 99
port=${URL##*:}
/usr/bin/python3 - "$port" >"$T/over.out" 2>&1 <<'PY'
import socket, sys, time
port = int(sys.argv[1])
hold = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
time.sleep(0.5)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
print(s.recv(400).decode("latin-1"))
PY
check "the fifth connection with max_connections = 4: 503" grep -q '^HTTP/1.1 503' "$T/over.out" ||
	diag "$T/over.out"
check "with Retry-After" grep -q '^Retry-After: 1' "$T/over.out"
kill -TERM "$PID"
wait "$PID"

# A short token is refused at start.
echo short-token >"$T/token"
check_exit "a token of 11 characters is refused" 3 timeout 10 "$CAIRN" -c "$T/cairn.ini" serve --listen 127.0.0.1:0
