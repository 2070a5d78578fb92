#!/bin/bash
# bench/prune.sh - cairn prune over many sets in a local sink.
#
# Makes N sets (default 10,000: one an hour, about 14 months) of job
# "bench" in a local sink, copies of one real set with each manifest
# rewritten for its place, then times
#
#   cairn prune bench --dry-run     (list, read every manifest, decide)
#   cairn prune bench               (the same, and remove what goes)
#
# under the seed's policy (7 daily, 4 weekly, 12 monthly, yearly all), the
# dry run BENCH_RUNS times (default 3, the sink unchanged between runs).
# The aim is under a second for each.  Not a test: the numbers depend on
# the machine.
#
# Environment: CAIRN (default ./cairn), CAIRN_PLUGIN_PATH (default
# ./plugins/.libs), BENCH_DIR (default /dev/shm/cairn-bench-prune when
# /dev/shm exists, else /tmp/...), BENCH_SETS, BENCH_RUNS.
set -euo pipefail

die() { echo "prune.sh: $*" >&2; exit 1; }
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

CAIRN=$(abspath "${CAIRN:-./cairn}")
CAIRN_PLUGIN_PATH=$(abspath "${CAIRN_PLUGIN_PATH:-./plugins/.libs}")
export CAIRN_PLUGIN_PATH
N=${BENCH_SETS:-10000}
RUNS=${BENCH_RUNS:-3}
if [ -z "${BENCH_DIR:-}" ]; then
	BENCH_DIR=/tmp/cairn-bench-prune
	[ -d /dev/shm ] && BENCH_DIR=/dev/shm/cairn-bench-prune
fi
[ -x "$CAIRN" ] || die "no cairn at $CAIRN; build first or set CAIRN"
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR/data" && cd "$BENCH_DIR"
trap 'rm -rf "$BENCH_DIR"' EXIT
echo "a small tree" >data/a
cat >cairn.ini <<EOF
[cairn]
state_dir = state

[source docs]
plugin = files
path = data

[sink here]
plugin = local
path = store
fsync = no

[retention seed]
keep_daily = 7
keep_weekly = 4
keep_monthly = 12
keep_yearly = all

[job bench]
sources = docs
sinks = here
retention = seed
prune = no
EOF
"$CAIRN" -q -c cairn.ini backup bench
tmpl=$(ls store/bench | grep -E 'Z$' | head -n 1)
/usr/bin/python3 - store/bench "$tmpl" "$N" <<'PY'
import os, sys, time
root, tmpl, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
src = os.path.join(root, tmpl)
manifest = open(os.path.join(src, "manifest.json")).read()
objs = {f: open(os.path.join(src, f), "rb").read() for f in os.listdir(src) if f != "manifest.json"}
start = int(time.time()) - n * 3600
for i in range(n):
    sid = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(start + i * 3600))
    d = os.path.join(root, sid)
    os.mkdir(d, 0o700)
    for f, data in objs.items():
        with open(os.path.join(d, f), "wb") as fh:
            fh.write(data)
    with open(os.path.join(d, "manifest.json"), "w") as fh:
        fh.write(manifest.replace(tmpl, sid))
PY
rm -rf "store/bench/$tmpl"
sets=$(ls store/bench | grep -c 'Z$')
echo "prune.sh: $sets sets in $BENCH_DIR/store (seed policy)"

elapsed() { # CMD... -> seconds on stdout, the command's output discarded
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l | xargs printf '%.3f'
}
for r in $(seq 1 "$RUNS"); do
	printf 'dry run %d: %s s\n' "$r" "$(elapsed "$CAIRN" -q -c cairn.ini prune bench --dry-run)"
done
printf 'prune:     %s s\n' "$(elapsed "$CAIRN" -q -c cairn.ini prune bench)"
echo "prune.sh: $(ls store/bench | grep -c 'Z$') sets left"
