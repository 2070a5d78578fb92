# s3_lib.sh - what the s3 sink's tests share: an S3 server (s3rver, from
# tests/fixtures/s3rver) and the fault proxy (tests/fixtures/faultproxy.js)
# on 127.0.0.1 with ports the OS chose, the AWS CLI as an independent
# client, and cairn.ini sections for the s3 sink.  Source it after lib.sh,
# call need_s3 before plan.
#
# Environment: CAIRN_S3RVER_DIR (set by make check): the directory whose
# node_modules holds @20minutes/s3rver; tools/install-deps fills it in the
# source tree, and distcheck's build of the tarball points here at that
# tree's copy.
S3RVER_DIR=${CAIRN_S3RVER_DIR:-$top_srcdir/tests/fixtures/s3rver}
# Debian's aws, not a pyenv one earlier on PATH.
S3_AWS=/usr/bin/aws
S3_NODE=$(command -v node || command -v nodejs || true)
S3_PID=
FP_PID=

# Nothing of the caller's AWS setup reaches cairn or aws: each test says
# which credentials it means.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
	AWS_DEFAULT_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE \
	AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_CA_BUNDLE

# need_s3: before plan, skip the whole script (with the reason) when the
# s3 plugin was not built or the server or client is missing.
need_s3() {
	need_plugin files local s3
	if [ -z "$S3_NODE" ]; then
		echo "1..0 # SKIP needs node (Debian: nodejs; run tools/install-deps)"
		exit 0
	fi
	if [ ! -f "$S3RVER_DIR/node_modules/@20minutes/s3rver/package.json" ]; then
		echo "1..0 # SKIP needs @20minutes/s3rver in $S3RVER_DIR/node_modules (run tools/install-deps)"
		exit 0
	fi
	if [ ! -x "$S3_AWS" ]; then
		echo "1..0 # SKIP needs $S3_AWS (Debian: awscli; run tools/install-deps)"
		exit 0
	fi
	if ! command -v jq >/dev/null; then
		echo "1..0 # SKIP needs jq (run tools/install-deps)"
		exit 0
	fi
}

# _s3_wait_port FILE PID WHAT: the port a fixture printed as its first line
# (10 s at most); fails when the fixture died or said nothing.
_s3_wait_port() {
	local i port
	for i in $(seq 100); do
		port=$(head -n 1 "$1" 2>/dev/null)
		case $port in
		[1-9]*) echo "$port"; return 0 ;;
		esac
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "s3_lib: $3 did not start:" >&2
	cat "$1.err" >&2
	return 1
}

# s3_start [BUCKET]...: start s3rver (store in $T/s3rver) with these
# buckets; sets S3_PORT and S3_ENDPOINT, writes the AWS CLI's config.
s3_start() {
	rm -f "$T/s3rver.port"
	# --openssl-legacy-provider: s3rver's listing continuation tokens are
	# DES-encrypted (server.js says so when it is missing).
	NODE_OPTIONS=--openssl-legacy-provider NODE_PATH="$S3RVER_DIR/node_modules" \
		"$S3_NODE" "$top_srcdir/tests/fixtures/s3rver/server.js" "$T/s3rver" "$@" \
		>"$T/s3rver.port" 2>"$T/s3rver.port.err" &
	S3_PID=$!
	S3_PORT=$(_s3_wait_port "$T/s3rver.port" "$S3_PID" s3rver) || return 1
	S3_ENDPOINT=http://127.0.0.1:$S3_PORT
	mkdir -p "$T/aws"
	printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' \
		>"$T/aws/config"
	printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' \
		>"$T/aws/credentials"
}

# s3_stop: stop s3rver (and the proxy); the store stays in $T/s3rver.
s3_stop() {
	fp_stop
	_s3_kill "$S3_PID"
	S3_PID=
}

_s3_kill() { # PID: TERM, 5 s to go, then KILL
	local i
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# fp_start [RULES]: start the fault proxy in front of s3rver, rules from
# the file RULES (default $T/faults, re-read on every request; see
# faultproxy.js for the format); sets FP_PORT, FP_ENDPOINT and FP_LOG, the
# proxy's log of every request and what it did.
fp_start() {
	local rules=${1:-$T/faults}
	[ -f "$rules" ] || : >"$rules"
	FP_LOG=$T/faultproxy.log
	: >"$FP_LOG"
	rm -f "$T/faultproxy.port"
	"$S3_NODE" "$top_srcdir/tests/fixtures/faultproxy.js" "127.0.0.1:$S3_PORT" \
		"$rules" "$FP_LOG" >"$T/faultproxy.port" 2>"$T/faultproxy.port.err" &
	FP_PID=$!
	FP_PORT=$(_s3_wait_port "$T/faultproxy.port" "$FP_PID" faultproxy) || return 1
	FP_ENDPOINT=http://127.0.0.1:$FP_PORT
}

fp_stop() {
	_s3_kill "$FP_PID"
	FP_PID=
}

# Stop the servers before lib.sh's cleanup removes their directories.
_s3_cleanup() {
	s3_stop
	cleanup
}
trap _s3_cleanup EXIT

# cairn_in SECONDS ARGS...: cairn with the test's config, killed (exit 124)
# when it takes longer: a retry loop must not hang the suite.
cairn_in() {
	local secs=$1
	shift
	timeout "$secs" "$CAIRN" -c "$T/cairn.ini" "$@"
}

# s3aws ARGS...: /usr/bin/aws against s3rver (path style, S3RVER/S3RVER),
# a minute at most.
s3aws() {
	AWS_CONFIG_FILE=$T/aws/config AWS_SHARED_CREDENTIALS_FILE=$T/aws/credentials \
		AWS_PAGER= timeout 60 "$S3_AWS" --endpoint-url "$S3_ENDPOINT" \
		--cli-connect-timeout 10 --cli-read-timeout 30 "$@"
}

# s3_keys BUCKET [PREFIX]: every key below PREFIX, sorted, one a line
# (the CLI follows the continuation tokens itself).
# Fails when aws does, so an empty answer is a real one.
s3_keys() {
	s3aws s3api list-objects-v2 --bucket "$1" ${2:+--prefix "$2"} --output json \
		>"$T/s3_list.json" || return 1
	jq -r '.Contents // [] | .[].Key' "$T/s3_list.json" | LC_ALL=C sort
}

# s3_ls BUCKET [PREFIX]: "KEY SIZE" for every object below PREFIX, sorted
s3_ls() {
	s3aws s3api list-objects-v2 --bucket "$1" ${2:+--prefix "$2"} --output json \
		>"$T/s3_list.json" || return 1
	jq -r '.Contents // [] | .[] | "\(.Key) \(.Size)"' "$T/s3_list.json" | LC_ALL=C sort
}

# s3_sink_ini NAME BUCKET [ENDPOINT] [KEY=VALUE]...: an s3 sink section
# for $T/cairn.ini (append it with >>): s3rver's credentials and path
# addressing unless a KEY=VALUE says otherwise (ENDPOINT "": s3rver's).
s3_sink_ini() {
	local name=$1 bucket=$2 endpoint=${3:-$S3_ENDPOINT} kv k
	local -A set=()
	shift 2
	[ $# -gt 0 ] && shift
	for kv in "$@"; do
		set[${kv%%=*}]=${kv#*=}
	done
	printf '\n[sink %s]\nplugin = s3\n' "$name"
	for kv in endpoint="$endpoint" region=us-east-1 bucket="$bucket" addressing=path \
		access_key=S3RVER secret_key=S3RVER; do
		k=${kv%%=*}
		[ -n "${set[$k]+set}" ] || printf '%s = %s\n' "$k" "${kv#*=}"
	done
	for kv in "$@"; do
		printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
	done
}
