#!/bin/bash
# bench/status.sh [SETS] - how fast cairn status answers over many sets:
# SETS (default 10,000) fake complete sets of one job in a local sink
# (a small object and a real manifest each), then status, status --json,
# check and status --prometheus, each timed over 5 runs.  The issue asks
# for under a second at 10,000 sets.
#
# Run from a build directory (or set CAIRN and CAIRN_PLUGIN_PATH).
set -eu
n=${1:-10000}
: "${CAIRN:=$PWD/cairn}"
: "${CAIRN_PLUGIN_PATH:=$PWD/plugins/.libs}"
export CAIRN_PLUGIN_PATH
[ -x "$CAIRN" ] || { echo "bench/status.sh: no cairn at $CAIRN; run it from the build directory" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-status.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/data" "$T/store/j"
echo data >"$T/data/f"
cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = state

[source docs]
plugin = files
path = data

[sink here]
plugin = local
path = store
fsync = no

[job j]
sources = docs
sinks = here
INI
# one set per hour back from now
/usr/bin/python3 - "$T/store/j" "$n" <<'PY'
import os, sys, time, json
root, n = sys.argv[1], int(sys.argv[2])
now = int(time.time()) - 60
for i in range(n):
    t = now - (n - 1 - i) * 3600
    sid = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
    d = os.path.join(root, sid)
    os.mkdir(d)
    size = 1000 + (i * 37) % 500
    with open(os.path.join(d, "docs.tar.zst"), "wb") as f:
        f.write(b"\0" * size)
    iso = lambda x: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(x))
    m = {"format": 1, "cairn_version": "bench", "job": "j", "id": sid, "host": "bench",
         "sink": "here", "started": iso(t), "finished": iso(t + 30),
         "sources": [{"name": "docs", "plugin": "files", "plugin_version": "1",
                      "object": "j/%s/docs.tar.zst" % sid, "compression": "zstd",
                      "raw_bytes": size * 3, "stored_bytes": size,
                      "sha256": "0" * 64, "stats": {}}]}
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(m, f)
PY
cd "$T"
sync
echo "status over $n sets in one local sink (best and mean of 5 runs, warm cache)"
for cmd in "status" "status --json" "check" "status --prometheus $T/m.prom"; do
	ts=()
	for r in 1 2 3 4 5; do
		s=$(date +%s.%N)
		# shellcheck disable=SC2086
		"$CAIRN" -c cairn.ini $cmd >/dev/null || [ "$cmd" = check ]
		e=$(date +%s.%N)
		ts+=("$(echo "$e - $s" | bc)")
	done
	printf '%-28s %s\n' "cairn $cmd" "$(printf '%s\n' "${ts[@]}" |
		awk '{s+=$1; if (NR==1||$1<m) m=$1} END {printf "best %.3f s, mean %.3f s", m, s/NR}')"
done
"$CAIRN" -c cairn.ini status --json | jq -e ".jobs[0].sinks[0].sets == $n" >/dev/null ||
	{ echo "bench/status.sh: status did not count $n sets" >&2; exit 1; }
