#!/bin/bash
# restore_at.sh - restore --at with a change log, and verify of logs,
# with the followsrc test source (tests/plugins/followsrc.c): its
# "database" is a text file of lines "LSN TIME_MS WORDS", its backup the
# record lines as they stand (recording where its log stood), its replay
# the base then every record after the base's position up to the time.
# The log's segments are written here as `cairn follow` stores them
# (logcat.h: JOB/log/SOURCE/SEG.log + SEG.json, SEG.gap), so that what
# restore and verify make of a store is tested by itself: several --at
# times, --at latest, past the log's end, a gap, a hole, a damaged
# segment and one whose records disagree with its manifest, each refused
# before the target changes; verify, --deep and --restore-test of good
# and damaged logs.  Run by `make check` with $CAIRN_TEST_PLUGINS set.
. "$(dirname "$0")/lib.sh"
: "${CAIRN_TEST_PLUGINS:?run through make check}"
need_plugin local
plan 65

mkdir -p "$T/plugins" "$T/store"
cp "$CAIRN_TEST_PLUGINS/followsrc.so" "$T/plugins/"
cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = state
plugin_dir = $T/plugins

[source db]
plugin = followsrc
log = log
target = target

[sink here]
plugin = local
path = store
fsync = no

[job j]
sources = db
sinks = here
INI

# Segments and gap records as the follower writes them.
cat >"$T/mkseg.py" <<'PY'
import hashlib, json, os, sys, time

def when(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)

def compact(ms):
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)

def pos(lsn, ms):
    return {"lsn": "%016x" % lsn, "time": when(ms), "pos": "lsn:%d" % lsn}

def name(f, fm, t, tm):
    return "%s-%s-%016x-%016x" % (compact(fm), compact(tm), f, t)

store, kind = sys.argv[1], sys.argv[2]
f, fm, t, tm = (int(x) for x in sys.argv[3:7])
d = os.path.join(store, "j", "log", "db")
os.makedirs(d, exist_ok=True)
seg = name(f, fm, t, tm)
common = {"format": 1, "job": "j", "source": "db", "segment": seg,
          "from": pos(f, fm), "to": pos(t, tm),
          "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
if kind == "gap":
    common.update(kind="cairn-log-gap", base="", reason=sys.argv[7])
    with open(os.path.join(d, seg + ".gap"), "w") as o:
        json.dump(common, o)
    sys.exit(0)
# kind "seg": LOGFILE BASE [garbage|records=N]
logfile, base = sys.argv[7], sys.argv[8]
extra = sys.argv[9] if len(sys.argv) > 9 else ""
lines = []
for line in open(logfile):
    w = line.split()
    if len(w) >= 2 and w[0].isdigit() and f < int(w[0]) <= t:
        lines.append((int(w[0]), int(w[1]), line))
data = "".join(l for _, _, l in lines)
if extra == "garbage":
    data += "this is no record\n"
raw = data.encode()
records = len(lines)
if extra.startswith("records="):
    records = int(extra[8:])
obj = "j/log/db/%s.log" % seg
with open(os.path.join(store, obj), "wb") as o:
    o.write(raw)
common.update(kind="cairn-log-segment", cairn_version="test", plugin="followsrc",
              plugin_version="1", host="test", object=obj, compression="none",
              raw_bytes=len(raw), stored_bytes=len(raw),
              sha256=hashlib.sha256(raw).hexdigest(), records=records, base=base,
              stats={})
if lines:
    common["first"] = pos(lines[0][0], lines[0][1])
    common["last"] = pos(lines[-1][0], lines[-1][1])
with open(os.path.join(d, seg + ".json"), "w") as o:
    json.dump(common, o)
print(obj)
PY
mkseg() { python3 "$T/mkseg.py" "$T/store" "$@"; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# --- the base: three records before the backup --------------------------
now=$(date +%s)
B=$(( (now - 60) * 1000 ))
printf '1 %d one\n2 %d two\n3 %d three\n' $B $((B + 1000)) $((B + 2000)) >"$T/log"
check_exit "a full backup of the following source" 0 cairn backup j
id=$(newest_id "$T/store" j)
check "its manifest records where the log stood (START, lsn 3)" \
	grep -q '"lsn:3"' "$T/store/j/$id/manifest.json"

# --- the log after it: six records in the future of the set's id --------
F=$(( now + 100 ))
FM=$(( F * 1000 ))
printf '4 %d four\n5 %d five\n6 %d six\n7 %d seven\n8 %d eight\n9 %d nine\n' \
	$((FM + 500)) $((FM + 1200)) $((FM + 2300)) $((FM + 3100)) $((FM + 4600)) \
	$((FM + 5200)) >>"$T/log"
seg1=$(mkseg seg 3 $((B + 2000)) 6 $((FM + 2500)) "$T/log" "$id")
seg2=$(mkseg seg 6 $((FM + 2500)) 9 $((FM + 5900)) "$T/log" "$id")
upto() { awk -v n="$1" '$1 <= n' "$T/log"; }

check_exit "restore --at inside the first segment" 0 cairn -v restore j --at "$(iso $((F + 1)))"
upto 5 >"$T/want"
check_same "the base and the records up to that second" "$T/want" "$T/target" "5 "
err_has "from base set j/$id"
err_has "replayed 1 log segment on base set"
rm -f "$T/target"
check_exit "restore --at inside the second segment" 0 cairn restore j --at "$(iso $((F + 3)))"
upto 7 >"$T/want"
check_same "up to record 7" "$T/want" "$T/target" "7 "
rm -f "$T/target"
check_exit "restore --at the base's own second" 0 cairn restore j --at "$(iso $((F - 50)))"
upto 3 >"$T/want"
check_same "the base alone (nothing of the log after it)" "$T/want" "$T/target" "3 "
rm -f "$T/target"
check_exit "restore --at latest" 0 cairn restore j --at latest
upto 9 >"$T/want"
check_same "every record" "$T/want" "$T/target" "9 "
check "the run record holds the records replay read" \
	grep -q '"records": 6' "$T/state/status/j.restore.json"
check_exit "restore --id with --at latest is a usage error" 2 cairn restore j --id "$id" --at latest

# --- past the log's end: refused, naming the latest time -----------------
echo sentinel >"$T/target"
check_exit "restore --at after the log's newest segment" 6 \
	cairn restore j --force --at "$(iso $((F + 30)))"
err_has "the log ends at"
err_has "the latest time that can be restored is"
err_has "cairn restore j --at $(iso $((F + 4))) --source db"
check "the target is untouched" grep -qx sentinel "$T/target"

# --- verify of the good log ------------------------------------------------
check_exit "verify" 0 cairn verify j
out_has "j/log/db in here: ok (2 segments"
check_exit "verify --deep" 0 cairn verify j --deep
out_has ", deep)"
check_exit "verify --restore-test" 0 cairn verify j --restore-test
out_has ", restore-tested)"
check "verify --json has the log" sh -c "'$CAIRN' -c '$T/cairn.ini' verify j --json | grep -q '\"log\": \"db\"'"

# --- a gap after the second segment ---------------------------------------
mkseg gap 9 $((FM + 5900)) 20 $((FM + 20000)) "the oplog rolled over" >/dev/null
check_exit "restore --at inside the gap" 6 cairn restore j --force --at "$(iso $((F + 10)))"
err_has "the log has a gap from"
err_has "(the oplog rolled over)"
check "the target is still untouched" grep -qx sentinel "$T/target"
check_exit "verify says the gap, which is no damage" 0 cairn verify j
err_has "has a gap from"
rm -f "$T/store/j/log/db/"*.gap

# --- a damaged segment: refused before any write --------------------------
cp "$T/store/$seg2" "$T/seg2.good"
printf 'X' | dd of="$T/store/$seg2" bs=1 seek=3 conv=notrunc 2>/dev/null
check_exit "restore --at latest with a damaged segment" 6 cairn restore j --force --at latest
err_has "$seg2"
err_has "SHA-256"
check "the target is untouched" grep -qx sentinel "$T/target"
check_exit "verify finds the damaged segment" 6 cairn verify j
out_has "DAMAGED"
out_has "$seg2"
check_exit "restore --at before the damage still works" 0 \
	cairn restore j --force --at "$(iso $((F + 1)))"
cp "$T/seg2.good" "$T/store/$seg2"

# --- a hole: the first segment gone ----------------------------------------
mv "$T/store/$seg1" "$T/seg1.data"
mv "$T/store/${seg1%.log}.json" "$T/seg1.json"
echo sentinel >"$T/target"
check_exit "restore --at with a hole after the base" 6 cairn restore j --force --at latest
err_has "the log has no segment from"
err_has "cairn restore j --id $id --source db"
check "the target is untouched" grep -qx sentinel "$T/target"
mv "$T/seg1.data" "$T/store/$seg1"
mv "$T/seg1.json" "$T/store/${seg1%.log}.json"
rm "$T/store/$seg2" "$T/store/${seg2%.log}.json"
mkseg seg 6 $((FM + 2500)) 7 $((FM + 3500)) "$T/log" "$id" >/dev/null
mkseg seg 8 $((FM + 4000)) 9 $((FM + 5900)) "$T/log" "$id" >/dev/null
check_exit "verify finds a hole between segments" 6 cairn verify j
out_has "the log has a hole from"
echo sentinel >"$T/target"
check_exit "restore --at latest with a hole before the newest segment" 6 \
	cairn restore j --force --at latest
err_has "the log has no segment from"
check "the target is untouched" grep -qx sentinel "$T/target"
rm -f "$T/store/j/log/db/"*

# --- records that disagree with the manifest; a record that does not parse
mkseg seg 3 $((B + 2000)) 6 $((FM + 2500)) "$T/log" "$id" records=4 >/dev/null
mkseg seg 6 $((FM + 2500)) 9 $((FM + 5900)) "$T/log" "$id" >/dev/null
check_exit "restore --at latest with a segment's records miscounted" 6 \
	cairn restore j --force --at latest
err_has "their manifests say 7"
check_exit "verify --deep catches it" 6 cairn verify j --deep
out_has "records from log segments"
rm -f "$T/store/j/log/db/"*
mkseg seg 3 $((B + 2000)) 6 $((FM + 2500)) "$T/log" "$id" >/dev/null
mkseg seg 6 $((FM + 2500)) 9 $((FM + 5900)) "$T/log" "$id" garbage >/dev/null
check_exit "verify (sums) of a well-formed store with a bad record" 0 cairn verify j
check_exit "verify --deep parses every record" 6 cairn verify j --deep
out_has "not a record"

# --- end to end: cairn follow stores the log, restore --at replays it ---
cat >>"$T/cairn.ini" <<INI

[source live]
plugin = followsrc
log = live.log
target = live.out

[job lj]
sources = live
sinks = here
segment_span = 1s
INI
nowms() { date +%s%3N; }
stored_up_to() { # LSN: a committed segment's last record is it
	grep -qs "\"pos\": *\"lsn:$1\"" "$T/store/lj/log/live/"*.json
}
for n in 1 2 3; do echo "$n $(nowms) base-$n" >>"$T/live.log"; done
check_exit "a full backup of the live source" 0 cairn backup lj
"$CAIRN" -c "$T/cairn.ini" follow lj >"$T/follow.out" 2>"$T/follow.err" &
fpid=$!
for n in 4 5 6; do echo "$n $(nowms) early-$n" >>"$T/live.log"; done
S=$(date +%s)
wait_for 10 sh -c 'test "$(date +%s)" -gt "$1"' sh "$S"
for n in 7 8 9; do echo "$n $(nowms) late-$n" >>"$T/live.log"; done
check "the follower stores every record" wait_for 60 stored_up_to 9
kill -TERM $fpid
check "the follower stops on SIGTERM" wait $fpid
check_exit "restore --at latest from what cairn follow stored" 0 cairn restore lj --at latest
check_same "every record" "$T/live.log" "$T/live.out" "9 "
rm -f "$T/live.out"
check_exit "restore --at the second before the late records" 0 cairn restore lj --at "$(iso "$S")"
head -n 6 "$T/live.log" >"$T/want"
check_same "the records up to then" "$T/want" "$T/live.out" "6 "
check_exit "verify --deep of the followed log" 0 cairn verify lj --deep
out_has "lj/log/live in here: ok"
