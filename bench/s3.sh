#!/bin/bash
# bench/s3.sh - cairn's s3 sink against the AWS CLI, to the same s3rver.
#
# One file of 1 GiB (random, so neither side gains by compressing), then
#
#   upload:    cairn backup (files source, compression none)
#              vs  aws s3 cp FILE s3://bench/aws/FILE
#   download:  cairn restore (into an empty directory)
#              vs  aws s3 cp s3://bench/aws/FILE FILE
#
# each with its defaults (cairn: part_size 16 MiB, upload_concurrency 4;
# aws: 8 MiB chunks, 10 requests at once).  The two take turns, one run each
# per round, the order reversed every other round, after one untimed warm-up
# round; the store is emptied before every upload.  Prints mean seconds,
# MiB/s, the ratio to aws and peak RSS (GNU time), and the issue's aims:
# upload at most 0.5 x aws's time, download at most 0.7 x, cairn's peak RSS
# under (upload_concurrency + 2) x part_size.
#
# Environment:
#   CAIRN              the cairn binary (default ./cairn)
#   CAIRN_PLUGIN_PATH  its plugins (default ./plugins/.libs; needs files, s3)
#   CAIRN_S3RVER_DIR   where tools/install-deps put s3rver's node_modules
#                      (default: tests/fixtures/s3rver beside this script)
#   BENCH_DIR          work directory (default /tmp/cairn-s3-bench; needs
#                      about 4 GiB free: the file, s3rver's copies, a restore)
#   BENCH_MIB          the file's size in MiB (default 1024)
#   BENCH_RUNS         timed rounds (default 3)
set -euo pipefail

die() { echo "s3.sh: $*" >&2; exit 1; }
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

here=$(cd "$(dirname "$0")" && pwd)
CAIRN=$(abspath "${CAIRN:-./cairn}")
CAIRN_PLUGIN_PATH=$(abspath "${CAIRN_PLUGIN_PATH:-./plugins/.libs}")
export CAIRN_PLUGIN_PATH
S3RVER_DIR=${CAIRN_S3RVER_DIR:-$here/../tests/fixtures/s3rver}
BENCH_DIR=$(abspath "${BENCH_DIR:-/tmp/cairn-s3-bench}")
MIB=${BENCH_MIB:-1024}
RUNS=${BENCH_RUNS:-3}
AWS=/usr/bin/aws # Debian's, not another one earlier on PATH
TIME=/usr/bin/time
export LC_NUMERIC=C

[ -x "$CAIRN" ] || die "$CAIRN is not an executable; build cairn or set CAIRN"
for p in files s3; do
	[ -f "$CAIRN_PLUGIN_PATH/$p.so" ] || die "no $p.so in $CAIRN_PLUGIN_PATH; set CAIRN_PLUGIN_PATH"
done
[ -x "$AWS" ] || die "$AWS is missing (Debian package: awscli)"
[ -x "$TIME" ] || die "$TIME is missing (Debian package: time)"
command -v node >/dev/null || die "node is missing (Debian package: nodejs)"
[ -f "$S3RVER_DIR/node_modules/@20minutes/s3rver/package.json" ] ||
	die "no s3rver in $S3RVER_DIR/node_modules: run tools/install-deps"
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or newer is needed (\$EPOCHREALTIME)"

mkdir -p "$BENCH_DIR"
cd "$BENCH_DIR"
rm -rf store state restore results aws-down
mkdir -p data results aws
results=$BENCH_DIR/results

# ------------------------------------------------------------ the server
pids=()
finish() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap finish EXIT
NODE_OPTIONS=--openssl-legacy-provider NODE_PATH="$S3RVER_DIR/node_modules" \
	node "$here/../tests/fixtures/s3rver/server.js" "$BENCH_DIR/store" bench \
	>"$results/port" 2>"$results/port.err" &
pids+=($!)
for _ in $(seq 100); do
	port=$(head -n 1 "$results/port" 2>/dev/null || true)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || die "s3rver did not start: $(cat "$results/port.err")"
endpoint=http://127.0.0.1:$port
printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' >aws/config
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >aws/credentials
export AWS_CONFIG_FILE=$BENCH_DIR/aws/config AWS_SHARED_CREDENTIALS_FILE=$BENCH_DIR/aws/credentials
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL

# --------------------------------------------------------------- the data
if [ "$(stat -c %s data/big.bin 2>/dev/null || echo 0)" != $((MIB << 20)) ]; then
	echo "s3.sh: making data/big.bin ($MIB MiB) ..." >&2
	head -c $((MIB << 20)) /dev/urandom >data/big.bin
fi
cat >cairn.ini <<EOF
[cairn]
state_dir = $BENCH_DIR/state

[source big]
plugin = files
path = $BENCH_DIR/data

[sink s3]
plugin = s3
endpoint = $endpoint
region = us-east-1
bucket = bench
prefix = cairn
addressing = path
access_key = S3RVER
secret_key = S3RVER

[job bench]
sources = big
sinks = s3
compression = none
EOF
chmod 600 cairn.ini

q() { printf '%q' "$1"; }
C="$(q "$CAIRN") -q -c $(q "$BENCH_DIR/cairn.ini")"
A="$(q "$AWS") --endpoint-url $endpoint --only-show-errors"
up_cairn="$C backup bench"
up_aws="$A s3 cp data/big.bin s3://bench/aws/big.bin"
down_cairn="$C restore bench --set path=$(q "$BENCH_DIR/restore")"
down_aws="$A s3 cp s3://bench/aws/big.bin aws-down/big.bin"
# Emptied out of s3rver's own directory: outside the timing, and quicker
# than asking the server.
clean_up="rm -rf store/bench/cairn store/bench/aws && sync"
clean_down="rm -rf restore aws-down && mkdir aws-down && sync"

# bench GROUP PREPARE LABEL COMMAND LABEL COMMAND: the two take turns;
# round 0 is the warm-up.  Lines "INDEX START END" in $results/GROUP.times.
bench() {
	local group=$1 prepare=$2 r k i t0 t1
	local -a labels=("$3" "$5") cmds=("$4" "$6")
	: >"$results/$group.times"
	for ((r = 0; r <= RUNS; r++)); do
		echo "s3.sh: $group: round $r of $RUNS$( ((r)) || echo ' (warm-up)')" >&2
		for ((k = 0; k < 2; k++)); do
			i=$k
			((r % 2 == 0)) || i=$((1 - k))
			sh -c "$prepare" >/dev/null 2>&1 || die "$group: preparing a run failed"
			t0=$EPOCHREALTIME
			sh -c "${cmds[$i]}" >/dev/null 2>"$results/err" ||
				die "$group: ${labels[$i]} failed: $(head -c 300 "$results/err")"
			t1=$EPOCHREALTIME
			((r == 0)) || echo "$i $t0 $t1" >>"$results/$group.times"
		done
	done
}
mean() { awk -v i="$2" '$1 == i { s += $3 - $2; n++ } END { printf "%.2f", s / n }' "$results/$1.times"; }
sd() {
	awk -v i="$2" '$1 == i { t = $3 - $2; s += t; ss += t * t; n++ }
		END { m = s / n; v = n > 1 ? (ss - n * m * m) / (n - 1) : 0
		      printf "%.2f", (v > 0 ? sqrt(v) : 0) }' "$results/$1.times"
}
rss() { # PREPARE COMMAND: peak RSS in MiB
	sh -c "$1" >/dev/null 2>&1
	"$TIME" -f %M -o "$results/rss" sh -c "$2" >/dev/null 2>&1 || { echo failed; return; }
	awk '{ printf "%.0f", $1 / 1024 }' "$results/rss"
}

bench upload "$clean_up" "cairn backup" "$up_cairn" "aws s3 cp (up)" "$up_aws"
rss_up_cairn=$(rss "$clean_up" "$up_cairn")
rss_up_aws=$(rss "true" "$up_aws")
bench download "$clean_down" "cairn restore" "$down_cairn" "aws s3 cp (down)" "$down_aws"
# Timings of a restore that does not give the file back are worthless.
rss_down_cairn=$(rss "$clean_down" "$down_cairn")
cmp data/big.bin restore/big.bin || die "cairn's restore differs from data/big.bin"
rss_down_aws=$(rss "$clean_down" "$down_aws")
cmp data/big.bin aws-down/big.bin || die "aws's download differs from data/big.bin"

row() { # LABEL GROUP INDEX RSS
	local m b
	m=$(mean "$2" "$3") b=$(mean "$2" 1)
	printf '| %-22s | %8.2f | %6.2f | %7.1f | %8s | %13s |\n' "$1" "$m" "$(sd "$2" "$3")" \
		"$(awk -v m="$m" -v s="$MIB" 'BEGIN { printf "%.1f", s / m }')" \
		"$(awk -v a="$m" -v b="$b" 'BEGIN { printf "%.2fx", a / b }')" "$4"
}
echo
echo "$(nproc) CPUs; $MIB MiB of random data; s3rver $(node -p "require('$S3RVER_DIR/node_modules/@20minutes/s3rver/package.json').version") on 127.0.0.1;" \
     "$RUNS rounds after 1 warm-up, the commands taking turns"
echo
printf '| %-22s | %8s | %6s | %7s | %8s | %13s |\n' command "mean s" "sd s" "MiB/s" "vs aws" "peak RSS MiB"
printf '| %-22s | %8s | %6s | %7s | %8s | %13s |\n' ---------------------- -------- ------ ------- -------- -------------
row "cairn backup" upload 0 "$rss_up_cairn"
row "aws s3 cp (upload)" upload 1 "$rss_up_aws"
row "cairn restore" download 0 "$rss_down_cairn"
row "aws s3 cp (download)" download 1 "$rss_down_aws"
echo
awk -v u="$(mean upload 0)" -v ua="$(mean upload 1)" -v d="$(mean download 0)" \
	-v da="$(mean download 1)" -v r="$rss_up_cairn" 'BEGIN {
	printf "aims: upload %.2fx aws (at most 0.50x: %s), download %.2fx (at most 0.70x: %s), peak RSS %s MiB (under 96: %s)\n",
		u / ua, u / ua <= 0.5 ? "met" : "missed", d / da, d / da <= 0.7 ? "met" : "missed",
		r, r + 0 < 96 ? "met" : "missed" }'
echo "the times of every run: $results/*.times"
