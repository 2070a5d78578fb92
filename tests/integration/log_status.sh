#!/bin/bash
# log_status.sh - what list, status, check and the metrics show of a
# job's change logs (issue 18): the span, segments, size and breaks in
# list (-v: each segment from its manifest; --json), the lag and newest
# segment in status (table, --json, --prometheus), max_log_lag at its
# warning and critical levels, a gap record or a hole critical, a sink
# without the log the other holds, and nothing new for a job that never
# followed; then a log `cairn follow` writes (the followsrc test source)
# read the same way, and the logs through cairn serve's /status and
# /metrics.  The log objects are made by hand first (log_objects.py
# below, a writer apart from cairn's), in a local sink, with times
# relative to now: no clock is moved, no timing asserted.
. "$(dirname "$0")/lib.sh"
need_plugin files local
: "${CAIRN_TEST_PLUGINS:?run through make check}"
if ! command -v python3 >/dev/null; then
	echo "1..0 # SKIP python3 is missing"
	exit 0
fi
plan 70

export CAIRN_PLUGIN_PATH="$CAIRN_TEST_PLUGINS:$CAIRN_PLUGIN_PATH"
mkdir -p "$T/data" "$T/store" "$T/store2"
echo "a file" >"$T/data/f.txt"
printf '1 %s insert a\n' "$(($(date +%s) * 1000 - 3600000))" >"$T/db.log"
cd "$T" || exit 99

# ini EXTRA...: job j follows source db into sink here (and, with
# "two", also there); job p backs files up and never follows; EXTRA
# lines go into [job j]
ini() {
	local sinks="here"
	if [ "${1:-}" = two ]; then
		sinks="here there"
		shift
	fi
	{
		printf '[cairn]\nstate_dir = state\n\n'
		printf '[source db]\nplugin = followsrc\nlog = db.log\n\n'
		printf '[source docs]\nplugin = files\npath = data\n\n'
		printf '[sink here]\nplugin = local\npath = store\nfsync = no\n\n'
		printf '[sink there]\nplugin = local\npath = store2\nfsync = no\n\n'
		printf '[job p]\nsources = docs\nsinks = here\n\n'
		printf '[job j]\nsources = db\nsinks = %s\n' "$sinks"
		printf '%s\n' "$@"
	} >"$T/cairn.ini"
}

# logobj DIR OP ARGS...: write log objects of job j, source db, into
# DIR/j/log/db/ as cairn follow would: a segment (data, then manifest)
# or a gap record; times are seconds before now (negative: ago)
cat >"$T/log_objects.py" <<'EOF'
import hashlib, json, os, sys, time
from datetime import datetime, timezone

root, op = sys.argv[1], sys.argv[2]
now_ms = int(time.time()) * 1000
job, source = "j", "db"

def iso(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)

def compact(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y%m%dT%H%M%S.") + "%03dZ" % (ms % 1000)

def pos(ms, lsn):
    return {"lsn": "%016x" % lsn, "time": iso(ms), "pos": "lsn:%d" % lsn}

def name(fms, flsn, tms, tlsn):
    return "%s-%s-%016x-%016x" % (compact(fms), compact(tms), flsn, tlsn)

d = os.path.join(root, job, "log", source)
os.makedirs(d, exist_ok=True)
a = [int(x) for x in sys.argv[3:7]]
fms, flsn, tms, tlsn = now_ms + a[0] * 1000, a[1], now_ms + a[2] * 1000, a[3]
seg = name(fms, flsn, tms, tlsn)
created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
if op == "seg":
    data = b"".join(b"%d %d change\n" % (l, tms) for l in range(flsn + 1, tlsn + 1))
    obj = "%s/log/%s/%s.log" % (job, source, seg)
    with open(os.path.join(root, obj), "wb") as f:
        f.write(data)
    m = {"format": 1, "kind": "cairn-log-segment", "cairn_version": "0.5", "job": job,
         "source": source, "plugin": "followsrc", "plugin_version": "1", "host": "h",
         "segment": seg, "object": obj, "compression": "none", "raw_bytes": len(data),
         "stored_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
         "records": tlsn - flsn, "base": sys.argv[7] if len(sys.argv) > 7 else "",
         "from": pos(fms, flsn)}
    if tlsn > flsn:
        m["first"] = pos(tms, flsn + 1)
        m["last"] = pos(tms, tlsn)
    m.update({"to": pos(tms, tlsn), "created": created, "stats": {}})
    with open(os.path.join(d, seg + ".json"), "w") as f:
        json.dump(m, f)
elif op == "gap":
    g = {"format": 1, "kind": "cairn-log-gap", "job": job, "source": source, "segment": seg,
         "from": pos(fms, flsn), "to": pos(tms, tlsn), "base": sys.argv[7],
         "reason": "the oplog rolled over while nobody followed", "created": created}
    with open(os.path.join(d, seg + ".gap"), "w") as f:
        json.dump(g, f)
print(seg)
EOF
logobj() { python3 "$T/log_objects.py" "$@"; }
# nseg: the segment manifests of db in sink here
nseg() {
	local f n=0
	for f in "$T"/store/j/log/db/*.json; do [ -e "$f" ] && n=$((n + 1)); done
	echo "$n"
}
# json FILE EXPR: a python expression over the document d
json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

ini
cairn backup j >/dev/null 2>&1 || exit 99
cairn backup p >/dev/null 2>&1 || exit 99
base=$(newest_id "$T/store" j)

# --- no log yet: nothing new anywhere
check_exit "a job that follows but has no log: check ok" 0 cairn check
check_exit "list without logs" 0 cairn list j
check "no log table in list" bash -c "! grep -q 'LOG OF JOB' '$T/out'"
check_exit "status --prometheus without logs" 0 cairn status --prometheus "$T/m0.prom"
check "no cairn_log_ metric without logs" bash -c "! grep -q cairn_log_ '$T/m0.prom'"

# --- a whole log of three segments, the newest ending 20 s ago
logobj store seg -200 1 -140 5 "$base" >/dev/null
logobj store seg -140 5 -80 9 "$base" >/dev/null
newest=$(logobj store seg -80 9 -20 12 "$base")
check_exit "a fresh log: check ok" 0 cairn check
check "perfdata: the log's lag" grep -qE "'j/here db log_lag'=[0-9]+s;;300;0;" "$T/out"
check_exit "list j" 0 cairn list j
out_has "LOG OF JOB"
check "list: the log's row, 3 segments, no gap" \
	grep -qE "^j +db +here +[0-9T:.-]+Z +[0-9T:.-]+Z +3 +[0-9.]+ ?[KMG]?i?B +0$" "$T/out"
check_exit "list j --json" 0 cairn list j --json
cp "$T/out" "$T/list.json"
check "list --json: logs[0] holds 3 segments of db in here" \
	test "$(json "$T/list.json" "d['logs'][0]['segments'], d['logs'][0]['source'], d['logs'][0]['sink'], d['logs'][0]['gaps']")" = "3 db here 0"
check "list --json: the sets are still there" test "$(json "$T/list.json" "len(d['sets']) >= 1")" = True
check_exit "list -v j: the segments from their manifests" 0 cairn list -v j
check "list -v: each segment with its records" grep -qF "segment $newest: " "$T/out"
out_has "3 records"
out_has "base $base"
check_exit "status --json" 0 cairn status --json
cp "$T/out" "$T/status.json"
check "status --json: the log's lag, about 20 s" \
	test "$(json "$T/status.json" "15 <= [s for s in d['jobs'] if s['name']=='j'][0]['sinks'][0]['logs'][0]['lagSeconds'] < 120")" = True
check "status --json: newest segment and no gaps" \
	test "$(json "$T/status.json" "[(l['newestSegment'], l['gaps'], l['holes'], l['segments']) for l in [s for s in d['jobs'] if s['name']=='j'][0]['sinks'][0]['logs']][0]")" = "('$newest', 0, 0, 3)"
check "status --json: the version is still 1" test "$(json "$T/status.json" "d['version']")" = 1
check "status --json: job p has no logs" \
	test "$(json "$T/status.json" "[s for s in d['jobs'] if s['name']=='p'][0]['sinks'][0]['logs']")" = "[]"
check_exit "status table" 0 cairn status
check "status: the log row" grep -qE "^j +here +db +[0-9]+s +[0-9T:.-]+Z +3 +0$" "$T/out"
check_exit "status --prometheus" 0 cairn status --prometheus "$T/m.prom"
check "metrics: cairn_log_lag_seconds" grep -qE '^cairn_log_lag_seconds\{job="j",source="db",sink="here"\} [0-9]+$' "$T/m.prom"
check "metrics: cairn_log_segments" grep -qx 'cairn_log_segments{job="j",source="db",sink="here"} 3' "$T/m.prom"
check "metrics: cairn_log_gaps" grep -qx 'cairn_log_gaps{job="j",source="db",sink="here"} 0' "$T/m.prom"
check "metrics: cairn_log_newest_timestamp_seconds" grep -qE '^cairn_log_newest_timestamp_seconds\{job="j",source="db",sink="here"\} [0-9]{10}$' "$T/m.prom"

# --- max_log_lag: the newest segment 90 s old, then 10 minutes
rm -rf "$T/store/j/log"
logobj store seg -300 1 -90 5 "$base" >/dev/null
ini "max_log_lag = 1m,5m"
check_exit "max_log_lag = 1m,5m: 90 s behind is a warning" 1 cairn check
out_has "WARNING: j in here: the log of db is 1m behind: its newest segment ends at "
out_has "(max_log_lag 1m); is cairn follow j running?"
ini
check_exit "the default 5m: 90 s is fine" 0 cairn check
rm -rf "$T/store/j/log"
logobj store seg -900 1 -600 5 "$base" >/dev/null
check_exit "the default 5m: 10 minutes behind is critical" 2 cairn check
out_has "CRITICAL: j in here: the log of db is 10m behind"
ini "[check]" "max_log_lag = off"
check_exit "[check] max_log_lag = off (and the job's own over it: none)" 0 cairn check

# --- a hole: the middle segment is missing
ini
rm -rf "$T/store/j/log"
logobj store seg -200 1 -140 5 "$base" >/dev/null
logobj store seg -80 9 -20 12 "$base" >/dev/null
check_exit "a hole between segments is critical" 2 cairn check
out_has "j in here: the log of db has a hole "
out_has "no segment covers it and no gap record explains it"
check_exit "list shows the hole" 0 cairn list j
check "list: the hole's line" grep -qE "^  j db in here: hole [0-9T:.-]+Z \.\. [0-9T:.-]+Z: no segment covers it" "$T/out"

# --- a gap record, and the log going on from the new base after it
rm -rf "$T/store/j/log"
logobj store seg -300 1 -240 5 "$base" >/dev/null
logobj store gap -240 5 -100 50 "$base" >/dev/null
logobj store seg -100 50 -10 55 "$base" >/dev/null
check_exit "a gap record is critical" 2 cairn check
out_has "j in here: the log of db has a gap "
out_has ": the oplog rolled over while nobody followed; restore --at cannot reach a time inside it"
check "only the gap, no hole beside it" bash -c "! grep -q 'has a hole' '$T/out'"
check_exit "list shows the gap" 0 cairn list j
out_has "(new base $base)"
check "list: gaps 1" grep -qE "^j +db +here .* 2 +[0-9.]+ ?[KMG]?i?B +1$" "$T/out"
check_exit "status --json with the gap" 0 cairn status --json
check "status --json: gaps 1, its break with reason" \
	test "$(python3 -c "import json,sys; d=json.load(open('$T/out')); l=[s for s in d['jobs'] if s['name']=='j'][0]['sinks'][0]['logs'][0]; print(l['gaps'], l['breaks'][0]['kind'], l['breaks'][0]['base'])")" = "1 gap $base"
check "doc/status-json.md documents every field of a log" python3 -c "
import json, re
d = json.load(open('$T/out'))
doc = open('$top_srcdir/doc/status-json.md').read()
def keys(o):
    if isinstance(o, dict):
        for k, v in o.items():
            yield k
            yield from keys(v)
    elif isinstance(o, list):
        for v in o:
            yield from keys(v)
missing = [k for k in set(keys(d)) if chr(96) + k + chr(96) not in doc]
assert not missing, missing
"
check_exit "status table with the gap" 0 cairn status
check "status: the gap's line below the table" grep -qE "^  j in here: the log of db has a gap [0-9T:.-]+Z \.\. [0-9T:.-]+Z: the oplog rolled over while nobody followed$" "$T/out"
check_exit "status --prometheus with the gap" 0 cairn status --prometheus "$T/m2.prom"
check "metrics: cairn_log_gaps 1" grep -qx 'cairn_log_gaps{job="j",source="db",sink="here"} 1' "$T/m2.prom"

# --- a damaged gap record
rm -rf "$T/store/j/log"
logobj store seg -100 1 -10 5 "$base" >/dev/null
g=$(logobj store gap -300 0 -250 1 "$base")
echo '{"format":1,"kind":"cairn-log-gap"}' >"$T/store/j/log/db/$g.gap"
check_exit "a damaged gap record is critical" 2 cairn check
out_has "j in here: the log of db is damaged: "

# --- two sinks: the second lacks the log the first holds
rm -rf "$T/store/j/log"
logobj store seg -100 1 -10 5 "$base" >/dev/null
ini two
cairn backup j >/dev/null 2>&1 || exit 99
check_exit "a sink without the log another holds is critical" 2 cairn check
out_has "j in there: no segment of the log of db, which here holds"
check "the sink that holds it is not blamed" bash -c "! grep -q 'j in here: no segment' '$T/out'"
logobj store2 seg -100 1 -10 5 "$base" >/dev/null
check_exit "both sinks with the log: ok" 0 cairn check

# --- a job that never follows: a planted log directory is not its log
ini
mkdir -p "$T/store/p/log/docs"
cp "$T"/store/j/log/db/*.json "$T/store/p/log/docs/"
check_exit "a job whose source does not follow: no log noise" 0 cairn check

# --- a log written by cairn follow itself: list, status and check read it
rm -rf "$T/store/p/log" "$T/store/j/log"
ini "segment_span = 1s" "compression = none"
echo "2 $(date +%s%3N) live" >>"$T/db.log"
timeout 120 "$CAIRN" -c "$T/cairn.ini" follow j >"$T/follow.out" 2>"$T/follow.err" &
FPID=$!
for _ in $(seq 150); do
	[ "$(nseg)" -ge 2 ] && break
	sleep 0.1
done
echo "3 $(date +%s%3N) live" >>"$T/db.log"
sleep 1.5
kill -TERM "$FPID"
wait "$FPID"
check "cairn follow wrote segments and ended with 0" test "$?" = 0 -a "$(nseg)" -ge 2
check_exit "check: a log cairn follow wrote just now is fine" 0 cairn check
check_exit "list -v of it" 0 cairn list -v j
check "list: its row, no gap" grep -qE "^j +db +here +[0-9T:.-]+Z +[0-9T:.-]+Z +[0-9]+ +[0-9.]+ ?[KMG]?i?B +0$" "$T/out"
check "list -v: its segments' manifests read, records counted" grep -qE "^    segment .*, [0-9]+ records?, " "$T/out"

# --- cairn serve: the same logs in /status and /metrics (the source's
# plugin loaded before the sink threads start)
if "$CAIRN" -c /dev/null serve 2>&1 | grep -q "built without libmicrohttpd" ||
	! command -v curl >/dev/null; then
	for _ in 1 2 3; do skip "serve: the logs in /status and /metrics" "no libmicrohttpd or curl"; done
	exit 0
fi
TOKEN=s3cr3t-token-$RANDOM-$RANDOM
echo "$TOKEN" >"$T/token"
chmod 600 "$T/token"
ini
printf '[serve]\ntoken_file = token\n' >>"$T/cairn.ini"
timeout 120 "$CAIRN" -c "$T/cairn.ini" serve --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.err" &
PID=$!
URL=""
for _ in $(seq 100); do
	URL=$(sed -n 's/^cairn serve: listening on //p' "$T/serve.out")
	[ -n "$URL" ] && break
	sleep 0.1
done
curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" "$URL/status" >"$T/serve.json"
curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" "$URL/metrics" >"$T/serve.prom"
kill -TERM "$PID"
wait "$PID"
n=$(nseg)
check "serve /status: the log of db in here" \
	test "$(json "$T/serve.json" "[(l['source'], l['segments']) for l in [s for s in d['jobs'] if s['name']=='j'][0]['sinks'][0]['logs']]")" = "[('db', $n)]"
check "serve /metrics: cairn_log_segments" grep -qx "cairn_log_segments{job=\"j\",source=\"db\",sink=\"here\"} $n" "$T/serve.prom"
check "serve ended cleanly, nothing on stderr about plugins" bash -c "! grep -qi plugin '$T/serve.err'"
