#!/bin/bash
# serve.sh - cairn serve with curl: the token (none, wrong, right), 405
# for POST, a malformed and an oversized request, a token file others can
# read, a sink that is down, 200 concurrent requests all answered, and a
# clean end on SIGTERM.  The server listens on a port the OS picks.
. "$(dirname "$0")/lib.sh"
need_plugin files local
if "$CAIRN" -c /dev/null serve 2>&1 | grep -q "built without libmicrohttpd"; then
	echo "1..0 # SKIP cairn was built without libmicrohttpd"
	exit 0
fi
if ! command -v curl >/dev/null; then
	echo "1..0 # SKIP curl is missing"
	exit 0
fi
plan 38

mkdir -p "$T/data" "$T/store"
echo hello >"$T/data/a.txt"
ln -s loop "$T/loop" # a sink that can never be opened
write_ini j here=store
cat >>"$T/cairn.ini" <<'EOF'

[job k]
sources = docs
sinks = down

[sink down]
plugin = local
path = loop

[serve]
token_file = token
max_connections = 8
EOF
cd "$T" || exit 99
jqe() { jq -e "$@" >/dev/null; }
cairn backup j || exit 99
TOKEN=s3cr3t-token-$RANDOM-$RANDOM
printf '%s\nthe second line is not part of it\n' "$TOKEN" >"$T/token"
chmod 600 "$T/token"

# start_server [ARG]...: cairn serve ARGs in the background on a port the
# OS chose; sets PID and URL, or fails after 10 s
start_server() {
	: >"$T/serve.out"
	"$CAIRN" -c "$T/cairn.ini" serve "$@" >"$T/serve.out" 2>"$T/serve.err" &
	PID=$!
	for _ in $(seq 100); do
		URL=$(sed -n 's/^cairn serve: listening on //p' "$T/serve.out")
		[ -n "$URL" ] && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# get PATH [CURL ARGS...]: the status code; the body in $T/body
get() {
	local path=$1
	shift
	curl -s --max-time 10 -o "$T/body" -w '%{http_code}' "$@" "$URL$path"
}
auth=(-H "Authorization: Bearer $TOKEN")

# --- the token file
chmod 640 "$T/token"
check_exit "a token file the group can read is refused" 3 timeout 10 "$CAIRN" -c "$T/cairn.ini" serve --listen 127.0.0.1:0
err_has "can be read by others"
chmod 600 "$T/token"
mv "$T/token" "$T/token.away"
check_exit "a missing token file is refused" 3 timeout 10 "$CAIRN" -c "$T/cairn.ini" serve --listen 127.0.0.1:0
err_has "token_file"
mv "$T/token.away" "$T/token"

check "the server starts" start_server --listen 127.0.0.1:0 || diag "$T/serve.err"

# --- authentication
check "no token: 401" test "$(get /status)" = 401
check "with no detail in the body" test "$(cat "$T/body")" = unauthorized
check "a wrong token: 401" test "$(get /status -H "Authorization: Bearer wrong")" = 401
check "the right token with a suffix: 401" test "$(get /status -H "Authorization: Bearer ${TOKEN}x")" = 401
check "Basic instead of Bearer: 401" test "$(get /status -u "x:$TOKEN")" = 401
check "/metrics needs the token too" test "$(get /metrics)" = 401
check "an unknown path without the token: 401, not 404" test "$(get /nothing)" = 401
check "the token: 200" test "$(get /status "${auth[@]}")" = 200
check "and the status document" jqe '.version == 1 and (.jobs | length) == 2' "$T/body"
check "the seed's lastBackup, recentBackups and storageUsed are there" \
	jqe '(.lastBackup.job == "j") and (.recentBackups | length) == 1 and .storageUsed > 0' "$T/body"
check "the sink that is down says so, the server still answers" \
	jqe '.jobs[1].sinks[0].reachable == false and (.jobs[1].sinks[0].error | test("loop"))' "$T/body"
check "/status/j: one job" test "$(get /status/j "${auth[@]}")" = 200
check "its document" jqe '.version == 1 and .job.name == "j"' "$T/body"
check "/status/nope: 404" test "$(get /status/nope "${auth[@]}")" = 404
check "/metrics: 200" test "$(get /metrics "${auth[@]}")" = 200
if command -v promtool >/dev/null; then
	check "promtool accepts /metrics" bash -c "promtool check metrics <'$T/body' >/dev/null 2>&1"
else
	skip "promtool accepts /metrics" "promtool (Debian: prometheus) is missing"
fi
check "HEAD /status: 200" test "$(get /status -I "${auth[@]}")" = 200
# job k's sink is down: unknown, so not healthy
check "/healthz needs no token and says 503 with a sink down" test "$(get /healthz)" = 503
check "its body is the check state only" test "$(cat "$T/body")" = UNKNOWN

# --- methods, malformed and oversized requests
check "POST: 405" test "$(get /status -X POST -d x "${auth[@]}")" = 405
check "DELETE: 405" test "$(get /status -X DELETE "${auth[@]}")" = 405
port=${URL##*:}
raw() { # send bytes, print the status line
	/usr/bin/python3 - "$port" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
data = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
if data.startswith(b"BIG"):
    data = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n"
try:
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    print((s.recv(200).split(b"\r\n")[0] or b"closed").decode("latin-1"))
except OSError as e:
    print("closed", e.__class__.__name__)
PY
}
check "a malformed request line gets 400" bash -c "$(declare -f raw); port=$port; raw 'NOT HTTP AT ALL\r\n\r\n' | grep -q ' 400'"
check "an oversized request is refused" bash -c "$(declare -f raw); port=$port; raw BIG | grep -Eq ' 4[0-9][0-9]|closed'"
check "a GET with a body is refused" test "$(get /status -X GET -d "$(head -c 5000 /dev/zero | tr '\0' x)" "${auth[@]}")" = 413
check "the server is still up" test "$(get /status "${auth[@]}")" = 200

# --- 200 concurrent requests (max_connections = 8: the rest wait their turn)
seq 200 | xargs -P 200 -I{} curl -s --max-time 30 -o /dev/null -w '%{http_code}\n' \
	-H "Authorization: Bearer $TOKEN" "$URL/status" >"$T/codes"
check "200 concurrent requests: all 200 answered 200" test "$(grep -c '^200$' "$T/codes")" = 200 ||
	sort "$T/codes" | uniq -c | diag -
check "and the server is still up" test "$(get /healthz)" = 503

# --- SIGTERM ends it cleanly
kill -TERM "$PID"
for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
check "SIGTERM stops it within 5 s" bash -c "! kill -0 $PID 2>/dev/null"
wait "$PID"
check "with exit 0" test $? = 0

# --- [serve] listen = ADDR:0 as --listen ADDR:0: a port the OS picks
echo 'listen = 127.0.0.1:0' >>"$T/cairn.ini"
check_exit "config check takes [serve] listen = 127.0.0.1:0" 0 "$CAIRN" -c "$T/cairn.ini" config check
check "serve listens where [serve] listen says, on a port the OS chose" start_server || diag "$T/serve.err"
check "and answers there" test "$(get /status "${auth[@]}")" = 200
kill -TERM "$PID"
wait "$PID"
check "and ends with exit 0" test $? = 0
