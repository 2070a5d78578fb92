#!/bin/bash
# mongo_follow.sh - the mongo source's change log against the MongoDB test
# server in replica-set mode (tests/fixtures/mongod --replset), driven
# without the core by tests/mongo_follow_drive (follow() and backup()):
# a standalone is refused naming the URI and never the password; the
# tail pushes exactly the source's oplog entries, byte for byte, with
# their positions, and the rest as idle positions; a resume from a
# record's position goes on after it (nothing twice); a position the
# oplog no longer holds, or one that falls off under the tail, is
# CAIRN_E_LOGLOST; each record's host->stat counts ("ops.insert", ...)
# come before it and add up to the entries of the segment; a server stopped under the
# follower is CAIRN_E_RETRYABLE and, restarted, the tail resumes; a
# backup records its start position, and with oplog = yes captures the
# oplog written during the dump into the archive's oplog namespace (read
# by python's bson and the tests' archive reader) and its end position;
# oplog = yes on a standalone fails clearly.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
DRIVE="$top_builddir/tests/mongo_follow_drive"
if [ ! -x "$DRIVE" ]; then
	echo "1..0 # SKIP the mongo plugin is not built"
	exit 0
fi
plan 39

PY=$MONGO_PYTHON
PW='Tr0ub4dor&3'
cd "$T" || exit 99

# drive ARGS...: the driver with a timeout; stdout in $T/out, stderr $T/err
drive() { timeout 60 "$DRIVE" "$@" >"$T/out" 2>"$T/err"; }
rc_is() { check "$1" grep -qx "rc $2 .*\|rc $2" "$T/out" || diag "$T/out" "$T/err"; }
# has FILE PATTERN: FILE has a line matching PATTERN (for wait_for)
has() { grep -q "$2" "$1"; }
# seg_ops SEGMENT: its entries per op type as host->stat names them (an
# applyOps: its inner entries), "KEY COUNT" sorted
seg_ops() {
	"$PY" - "$1" <<'EOF' | sort
import sys, bson, collections
names = {"i": "ops.insert", "u": "ops.update", "d": "ops.delete", "c": "ops.command", "n": "ops.noop"}
n = collections.Counter()
for e in bson.decode_all(open(sys.argv[1], "rb").read()):
    inner = e.get("o", {}).get("applyOps") if e.get("op") == "c" else None
    for x in (inner if isinstance(inner, list) else [e]):
        n[names.get(x.get("op"), "ops.other")] += 1
for k, v in n.items():
    print(k, v)
EOF
}
# stat_ops OUT: the driver's stat lines summed per key, "KEY COUNT" sorted
stat_ops() { awk '$1 == "stat" { s[$2] += $3 } END { for (k in s) print k, s[k] }' "$1" | sort; }
# newest URI: the newest oplog entry's ts as T:I
newest() {
	"$PY" - "$1" <<'EOF'
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
e = next(iter(c.local["oplog.rs"].find({}, sort=[("$natural", -1)], limit=1)))
print("%d:%d" % (e["ts"].time, e["ts"].inc))
EOF
}
# writes URI TAG: one of every kind, in shop (the source's) and other
writes() {
	timeout 60 "$PY" - "$1" "$2" <<'EOF'
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
tag = sys.argv[2]
shop, other = c.shop, c.other
shop.orders.insert_many([{"_id": tag + str(k), "n": k} for k in range(5)])
other.x.insert_one({"_id": tag, "v": 1})
shop.orders.update_one({"_id": tag + "1"}, {"$set": {"n": 10, "s": "x"}})
shop.orders.replace_one({"_id": tag + "2"}, {"whole": True})
shop.orders.delete_one({"_id": tag + "3"})
shop.create_collection("c" + tag)
shop["c" + tag].create_index("k", name="k_1")
shop["c" + tag].insert_one({"k": 1})
c.admin.command("renameCollection", "shop.c" + tag, to="shop.r" + tag)
shop.drop_collection("r" + tag)
other.x.update_one({"_id": tag}, {"$set": {"v": 2}})
other.drop_collection("x")
EOF
}
# segment_ok URI FROM SEGMENT: SEGMENT holds exactly the server's oplog
# entries after FROM that are shop's, byte for byte, in order
segment_ok() {
	"$PY" - "$@" >"$T/seg.err" 2>&1 <<'EOF'
import sys, pymongo
from bson.raw_bson import RawBSONDocument
from bson.codec_options import CodecOptions
from bson.timestamp import Timestamp
import bson
uri, frm, path = sys.argv[1:4]
t, i = map(int, frm.split(":"))
c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
raw = c.get_database("local", codec_options=CodecOptions(document_class=RawBSONDocument))
def mine(e):
    ns, op = e["ns"], e["op"]
    if op in "iud":
        return ns.startswith("shop.")
    if op == "c":
        o = e["o"]
        if "renameCollection" in o:
            return o["renameCollection"].startswith("shop.") or o["to"].startswith("shop.")
        return ns == "shop.$cmd"
    return False
data = open(path, "rb").read()
got = bson.decode_all(data, CodecOptions(document_class=RawBSONDocument))
if not got:
    sys.exit("the segment is empty")
last = got[-1]["ts"]
want = [e for e in raw["oplog.rs"].find({"ts": {"$gt": Timestamp(t, i), "$lte": last}})
        if mine(e)]
if [e.raw for e in got] != [e.raw for e in want]:
    sys.exit("%d entries, want %d: %s" % (len(got), len(want), [e["ns"] for e in got]))
print(len(got))
EOF
}

# ---------------------------------------------------------------- standalone
mongo_start --auth "bob:$PW" || exit 99
SOLO_URI="mongodb://bob@127.0.0.1:$MONGO_PORT/?authSource=admin"
drive follow seg0 stop - "uri=$SOLO_URI" "password=$PW"
rc_is "follow on a standalone fails (unsupported)" -9
out_has "follow needs a replica set member"
out_has "mongodb://127.0.0.1:$MONGO_PORT"
check "the password shows nowhere" bash -c "! grep -qF -- '$PW' '$T/out' '$T/err'"
drive backup arc0 "uri=$SOLO_URI" "password=$PW" oplog=yes
rc_is "backup with oplog = yes on a standalone fails" -1
out_has "key oplog: server 127.0.0.1:$MONGO_PORT is not a replica set member"
drive backup arc0 "uri=$SOLO_URI" "password=$PW"
check "backup of a standalone: no log position, success" \
	bash -c "grep -qx 'rc 0 ' '$T/out' && ! grep -q '^position' '$T/out'" || diag "$T/out"

# -------------------------------------------------------------- the tail
mongo_start --replset rs0 --noop-interval 1 --state-file "$T/rs0.state" || exit 99
RS=$MONGO_URI
RS_PORT=$MONGO_PORT
writes "$RS" a >/dev/null
"$DRIVE" follow seg1 stop1 - "uri=$RS/" databases=shop >"$T/f1" 2>"$T/f1.err" &
F1=$!
check "follow from now starts at the newest entry" wait_for 30 has "$T/f1" '^idle [0-9]*:[0-9]*$'
START=$(sed -n 's/^idle \([0-9]*:[0-9]*\)$/\1/p' "$T/f1" | head -n 1)
writes "$RS" b >/dev/null
LAST=$(newest "$RS")
check "the tail reaches the last write" wait_for 30 has "$T/f1" "^\(record\|idle\) $LAST\b"
check "an empty getMore is an idle without position" wait_for 30 has "$T/f1" '^idle -$'
touch stop1
wait "$F1"
check "out's CAIRN_E_CANCELLED stops it" grep -qx 'rc -7 ' "$T/f1" || diag "$T/f1" "$T/f1.err"
check "the segment is the source's entries after the start, byte for byte" \
	segment_ok "$RS" "$START" seg1 || diag "$T/seg.err"
check "other databases' entries and no-ops are idle positions" \
	bash -c "[ \$(grep -c '^idle [0-9]' '$T/f1') -ge 3 ]"
seg_ops seg1 >"$T/ops.want"
stat_ops "$T/f1" >"$T/ops.got"
check_same "the stats given (host->stat) count the segment's entries per op type" \
	"$T/ops.want" "$T/ops.got" "ops.insert " "ops.update" "ops.delete" "ops.command"
check "... each record's just before it" \
	awk '$1 == "stat" { n++ } $1 == "record" { if (!n) exit 1; n = 0; r++ } END { exit (r < 10 || n) }' "$T/f1"
check "positions: T:I, time T*1000 ms" \
	awk '/^record/ { split($2, p, ":"); if ($4 != p[1] * 1000) exit 1; n++ } END { exit (n < 10) }' "$T/f1"

# --------------------------------------------------------------- resume
K=$(grep '^record' "$T/f1" | sed -n '4s/^record \([0-9:]*\) .*/\1/p')
rm -f stop2
"$DRIVE" follow seg2 stop2 "$K" "uri=$RS/" databases=shop >"$T/f2" 2>"$T/f2.err" &
F2=$!
check "a resume from a record's position reaches the last write" \
	wait_for 30 has "$T/f2" "^\(record\|idle\) $LAST\b"
touch stop2
wait "$F2"
check "it goes on after that record: nothing twice, nothing missing" \
	bash -c "diff <(grep '^record' '$T/f1' | sed -n '5,\$p' | cut -d' ' -f1-3) <(grep '^record' '$T/f2' | cut -d' ' -f1-3)" ||
	diag "$T/f2"
check "its segment holds the same entries" segment_ok "$RS" "$K" seg2 || diag "$T/seg.err"

# ----------------------------------------------- the server restarted under it
rm -f stop3
"$DRIVE" follow seg3 stop3 "$LAST" "uri=$RS/" databases=shop >"$T/f3" 2>"$T/f3.err" &
F3=$!
wait_for 30 has "$T/f3" '^idle -$'
mongo_stop
wait "$F3"
check "the server gone under the tail: CAIRN_E_RETRYABLE" grep -qx 'rc -6 .*' "$T/f3" ||
	diag "$T/f3" "$T/f3.err"
mongo_start --replset rs0 --noop-interval 1 --state-file "$T/rs0.state" --port "$RS_PORT" ||
	exit 99
RESUME=$( (grep -E '^(record|idle) [0-9]' "$T/f3" | tail -n 1 | cut -d' ' -f2) || true)
[ -n "$RESUME" ] || RESUME=$LAST
writes "$RS" c >/dev/null
LAST3=$(newest "$RS")
"$DRIVE" follow seg3 stop3 "$RESUME" "uri=$RS/" databases=shop >"$T/f3b" 2>"$T/f3b.err" &
F3=$!
check "restarted, the tail resumes after the last position" \
	wait_for 30 has "$T/f3b" "^\(record\|idle\) $LAST3\b"
touch stop3
wait "$F3"
check "nothing lost or twice across the restart" segment_ok "$RS" "$LAST" seg3 ||
	diag "$T/seg.err" "$T/f3" "$T/f3b"

# ---------------------------------------- an applyOps across databases
FROM6=$(newest "$RS")
timeout 60 "$PY" -c '
import sys, pymongo
from bson.son import SON
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
c.admin.command(SON([("applyOps", [{"op": "i", "ns": "shop.orders", "o": {"_id": "ap1"}},
                                   {"op": "i", "ns": "other.x", "o": {"_id": "ap2"}}])]))
' "$RS"
LAST6=$(newest "$RS")
rm -f stop6
"$DRIVE" follow seg6 stop6 "$FROM6" "uri=$RS/" databases=shop >"$T/f6" 2>"$T/f6.err" &
F6=$!
wait_for 30 has "$T/f6" "^\(record\|idle\) $LAST6\b"
touch stop6
wait "$F6"
check "an applyOps across databases is kept with only the source's inner entries" \
	"$PY" -c '
import sys, bson
e = bson.decode_all(open(sys.argv[1], "rb").read())
assert len(e) == 1 and [(x["ns"], x["o"]["_id"]) for x in e[0]["o"]["applyOps"]] == [("shop.orders", "ap1")], e
' seg6 || diag "$T/f6"

# ------------------------------------------------------------ rollover
mongo_start --replset small --oplog-size 16384 --noop-interval 600 || exit 99
SMALL=$MONGO_URI
writes "$SMALL" x >/dev/null
OLD=$(newest "$SMALL")
timeout 60 "$PY" -c '
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
for k in range(40):
    c.shop.big.insert_many([{"pad": "x" * 200} for _ in range(10)])
' "$SMALL"
drive follow seg4 stop4 "$OLD" "uri=$SMALL/" databases=shop
rc_is "a position the oplog rolled past: CAIRN_E_LOGLOST" -12
out_has "the oplog no longer holds position $OLD"
# a position past the oplog's end: the server lost writes, or is another
drive follow seg7 stop7 4000000000:1 "uri=$RS/" databases=shop
rc_is "a position past the oplog's end: CAIRN_E_LOGLOST" -12
out_has "before position 4000000000:1"
# rolled over under a live tail: the cursor's place is gone (136)
"$DRIVE" follow seg5 stop5 - "uri=$SMALL/" databases=shop >"$T/f5" 2>"$T/f5.err" &
F5=$!
wait_for 30 has "$T/f5" '^idle -$'
timeout 60 "$PY" -c '
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
c.other.big.insert_many([{"pad": "y" * 200} for _ in range(400)])
' "$SMALL"
timeout 60 tail --pid="$F5" -f /dev/null
touch stop5
wait "$F5"
check "the oplog rolled over under the tail: CAIRN_E_LOGLOST" grep -q '^rc -12 .*rolled over under the follower' "$T/f5" ||
	diag "$T/f5" "$T/f5.err"

# ------------------------------------------------------------ backups
drive backup arc1 "uri=$RS/" databases=shop
check "a backup of a replica-set member records its start position only" \
	bash -c "grep -q '^position start [0-9]*:[0-9]* ' '$T/out' && ! grep -q '^position end' '$T/out'" ||
	diag "$T/out"
# oplog = yes: the dump's find of shop.orders is held until writes are made
mongo_cmd "$RS" admin '{"configureFailPoint": "failCommand", "mode": {"times": 1},
  "data": {"failCommands": ["find"], "namespace": "shop.orders", "blockConnection": true,
  "blockTimeMS": 30000}}' >/dev/null
timeout 90 "$DRIVE" backup arc2 "uri=$RS/" databases=shop oplog=yes >"$T/b2" 2>"$T/b2.err" &
B2=$!
mongo_cmd "$RS" admin '{"waitForFailPoint": "failCommand", "timesEntered": 1, "maxTimeMS": 30000}' \
	>/dev/null
writes "$RS" d >/dev/null
mongo_cmd "$RS" admin '{"configureFailPoint": "failCommand", "mode": "off"}' >/dev/null
wait "$B2"
check "a backup with oplog = yes succeeds" grep -qx 'rc 0 ' "$T/b2" || diag "$T/b2" "$T/b2.err"
check "it records its start and end positions" \
	bash -c "grep -q '^position start ' '$T/b2' && grep -q '^position end ' '$T/b2'"
check "the archive is well-formed, with mongodump's oplog namespace last" \
	bash -c "'$PY' '$MONGO_ARCHIVE_PY' check arc2 | tail -n 1 | grep -q '^\\.oplog - '" ||
	"$PY" "$MONGO_ARCHIVE_PY" check arc2 | diag
check "its oplog holds the writes made during the dump, shop's only, within the positions" \
	"$PY" - arc2 "$T/b2" "$top_srcdir/tests/fixtures" <<'EOF'
import sys, io
sys.path.insert(0, sys.argv[3])
import mongo_archive, bson
pos = dict(l.split()[1:3] for l in open(sys.argv[2]) if l.startswith("position "))
start, end = [tuple(map(int, pos[k].split(":"))) for k in ("start", "end")]
entries = []
def on_doc(ns, b):
    if ns.db == "" and ns.coll == "oplog":
        entries.append(bson.decode(b))
mongo_archive.Reader(io.BufferedReader(open(sys.argv[1], "rb")), on_doc=on_doc).run()
ids = [e["o"].get("_id") for e in entries if e["op"] == "i" and e["ns"] == "shop.orders"]
assert ids == ["d%d" % k for k in range(5)], ids
for e in entries:
    assert start <= (e["ts"].time, e["ts"].inc) <= end, e
    assert e["ns"].startswith("shop.") or "renameCollection" in e["o"], e
    assert {"op", "ns", "o", "ts"} <= set(e), e
assert any(e["op"] == "u" for e in entries) and any(e["op"] == "d" for e in entries)
assert any(e["op"] == "c" and "createIndexes" in e["o"] for e in entries)
EOF
out_has_b2() { check "stats: $1" grep -q "^stat $1 [1-9]" "$T/b2"; }
out_has_b2 oplog_entries

# ---------------------------------------------- the archive's oplog restored
# The dump's find of shop's last collection is held while its first one,
# dumped already, changes (and a collection is made): the archive's
# collections miss those changes, its oplog has them, and the restore
# applies it, so the restored shop is the server's at the backup's end.
LOAD="$PY $MONGO_LOAD_PY"
read -r FIRSTC LASTC < <("$PY" -c '
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
n = [x["name"] for x in c.shop.list_collections() if not x["name"].startswith("system.")]
print(n[0], n[-1])' "$RS")
mongo_cmd "$RS" admin "{\"configureFailPoint\": \"failCommand\", \"mode\": {\"times\": 1},
  \"data\": {\"failCommands\": [\"find\"], \"namespace\": \"shop.$LASTC\", \"blockConnection\": true,
  \"blockTimeMS\": 30000}}" >/dev/null
timeout 90 "$DRIVE" backup arc3 "uri=$RS/" databases=shop oplog=yes >"$T/b3" 2>"$T/b3.err" &
B3=$!
mongo_cmd "$RS" admin '{"waitForFailPoint": "failCommand", "timesEntered": 1, "maxTimeMS": 30000}' \
	>/dev/null
timeout 60 "$PY" - "$RS" "$FIRSTC" <<'PYEOF'
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
first = c.shop[sys.argv[2]]
first.insert_many([{"_id": "late%d" % k, "k": k} for k in range(3)])
one = first.find_one({"_id": {"$nin": ["late0", "late1", "late2"]}})
first.update_one({"_id": one["_id"]}, {"$set": {"late": True}})
first.delete_one({"_id": "late2"})
c.shop.create_collection("made_late")
c.shop.made_late.insert_one({"_id": 1})
c.other.y.insert_one({"_id": 1})
PYEOF
mongo_cmd "$RS" admin '{"configureFailPoint": "failCommand", "mode": "off"}' >/dev/null
wait "$B3"
check "a backup with writes during its dump succeeds" grep -qx 'rc 0 ' "$T/b3" ||
	diag "$T/b3" "$T/b3.err"
$LOAD dump "$RS" --db shop >"$T/want" 2>&1
mongo_start || exit 99
TARGET=$MONGO_URI
drive restore arc3 "uri=$TARGET/"
check "the archive restores, its oplog applied" grep -qx 'rc 0 ' "$T/out" ||
	diag "$T/out" "$T/err"
check "the stat counts the entries applied" grep -q '^stat oplog_applied [1-9]' "$T/out"
$LOAD dump "$TARGET" --db shop >"$T/got" 2>&1
check "the restored shop is the server's at the backup's end" cmp -s "$T/want" "$T/got" ||
	diff "$T/want" "$T/got" | diag
check "nothing of another database came with it" \
	bash -c "! $LOAD dump '$TARGET' | grep -q '^other'"
