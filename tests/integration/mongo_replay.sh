#!/bin/bash
# mongo_replay.sh - the mongo source's replay of an oplog log against the
# MongoDB test server (tests/fixtures/mongod), driven without the core by
# tests/mongo_replay_drive (replay()) on a base from tests/mongo_follow_drive
# (backup()): writes of every kind (inserts, updates in the $v: 2 form and,
# rewritten in the log, the older $set/$unset form, replacements, deletes,
# a collection dropped and created again, an index built and dropped, a
# rename, a dropDatabase, an applyOps) in three phases a second apart, the
# oplog after the base cut into four segments; a replay into a fresh server
# up to the end of each phase equals the source's digest at that time;
# ns_from/ns_to and exclude move and leave out collections; an entry the
# server refuses stops the replay naming the namespace, its time and how
# many entries were applied; verify --deep's parse reads every entry and
# names a damaged one; the test replay compares counts, fails naming a
# collection whose count the log does not explain, and drops its
# databases either way.  And doc/recovery.md's procedure without cairn
# (the base, then each segment through mongorestore --oplogReplay
# --oplogLimit), run with a stand-in mongorestore on a store laid out as
# logcat.h says, reaches the source's state at the time it asks for.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
DRIVE="$top_builddir/tests/mongo_replay_drive"
BDRIVE="$top_builddir/tests/mongo_follow_drive"
if [ ! -x "$DRIVE" ] || [ ! -x "$BDRIVE" ]; then
	echo "1..0 # SKIP the mongo plugin is not built"
	exit 0
fi
plan 37

PY=$MONGO_PYTHON
LOAD="$top_srcdir/tests/fixtures/mongo_load.py"
cd "$T" || exit 99

# drive ARGS...: the replay driver with a timeout; stdout in $T/out
drive() { timeout 120 "$DRIVE" "$@" >"$T/out" 2>"$T/err"; }
rc_is() { check "$1" grep -q "^rc $2\( \|$\)" "$T/out" || diag "$T/out" "$T/err"; }
digest() { timeout 60 "$PY" "$LOAD" dump "$1" --db shop --db other; }
# fresh: a new standalone server as the target, its URI in DST
fresh() { mongo_start >/dev/null && DST=$MONGO_URI; }

check "the source server (a replica set) starts" mongo_start --replset rs0 --noop-interval 1 ||
	exit 1
SRC=$MONGO_URI

timeout 60 "$PY" - "$SRC" <<'EOF' || exit 1
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
c.shop.orders.insert_many([{"_id": k, "n": k, "s": "x"} for k in range(5)])
c.shop.items.insert_many([{"_id": k, "k": k} for k in range(3)])
c.shop.items.create_index("k", name="k_1")
c.other.x.insert_many([{"_id": k} for k in range(2)])
EOF
timeout 60 "$BDRIVE" backup "$T/base.archive" "uri=$SRC" >"$T/bout" 2>"$T/berr"
check "the base is backed up" grep -q "^rc 0" "$T/bout" || diag "$T/bout" "$T/berr"

# the workload: three phases, a digest and the newest ts after each; the
# oplog after the base into four segments, the $set/$unset update written
# in the older form
timeout 120 "$PY" - "$SRC" "$LOAD" "$T" <<'EOF' >"$T/work.out" 2>"$T/work.err"
import sys, time, subprocess, pymongo, bson
from bson.raw_bson import RawBSONDocument
from bson.codec_options import CodecOptions
from bson.son import SON
uri, load, T = sys.argv[1:4]
c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
oplog = c.local.get_collection("oplog.rs", codec_options=CodecOptions(document_class=RawBSONDocument))
def newest():
    return next(iter(oplog.find({}, sort=[("$natural", -1)], limit=1)))["ts"]
def mark(k):
    ts = newest()
    out = subprocess.run([sys.executable, load, "dump", uri, "--db", "shop", "--db", "other"],
                         check=True, capture_output=True).stdout
    open("%s/S%d" % (T, k), "wb").write(out)
    print("M%d %d %d" % (k, ts.time, ts.inc))
    time.sleep(1.2)
    return ts
base = newest()
print("AFTER %d:%d" % (base.time, base.inc))
shop = c.shop
# phase 1: CRUD
shop.orders.insert_many([{"_id": k, "n": k, "s": "y"} for k in range(10, 15)])
shop.orders.update_one({"_id": 1}, {"$set": {"n": 100}})
shop.orders.replace_one({"_id": 2}, {"whole": True})
shop.orders.delete_one({"_id": 3})
m1 = mark(1)
# phase 2: commands
shop.drop_collection("items")
shop.create_collection("items")
shop.items.insert_one({"_id": "again"})
shop.orders.create_index("n", name="n_1")
shop.orders.create_index("s", name="s_1")
shop.orders.drop_index("s_1")
shop.create_collection("tmp")
shop.tmp.insert_many([{"_id": k} for k in range(4)])
c.admin.command("renameCollection", "shop.tmp", to="shop.moved")
c.drop_database("other")
m2 = mark(2)
# phase 3: an applyOps, and an update the log gets in the older form
c.admin.command(SON([("applyOps", [
    {"op": "i", "ns": "shop.orders", "o": {"_id": 50, "n": 50}},
    {"op": "d", "ns": "shop.orders", "o": {"_id": 4}}])]))
shop.orders.update_one({"_id": 10}, {"$set": {"n": 7}, "$unset": {"s": ""}})
m3 = mark(3)
entries = list(oplog.find({"ts": {"$gt": base}}))
segs = [[], [], [], []]
for e in entries:
    ts = e["ts"]
    raw = e.raw
    if ts > m2 and e["op"] == "u" and e["ns"] == "shop.orders":
        d = bson.decode(raw)
        d["o"] = SON([("$set", {"n": 7}), ("$unset", {"s": True})])
        raw = bson.encode(d)
        print("OLDFORM %d:%d" % (ts.time, ts.inc))
    if ts <= m1:
        segs[0].append(raw)
    elif ts <= m2:
        segs[1 if len(segs[1]) < 4 else 2].append(raw)
    else:
        segs[3].append(raw)
for k, s in enumerate(segs):
    open("%s/seg%d.bson" % (T, k + 1), "wb").write(b"".join(s))
print("RECORDS %d" % len(entries))
EOF
check "the workload runs and the oplog is cut into segments" grep -q "^RECORDS" "$T/work.out" ||
	diag "$T/work.out" "$T/work.err"
check "the log holds an update in the older \$set/\$unset form" grep -q "^OLDFORM" "$T/work.out"
AFTER=$(awk '$1 == "AFTER" {print $2}' "$T/work.out")
RECORDS=$(awk '$1 == "RECORDS" {print $2}' "$T/work.out")
until_of() { awk -v m="M$1" '$1 == m {printf "%.0f\n", $2 * 1000 + 999}' "$T/work.out"; }
SEGS="$T/seg1.bson $T/seg2.bson $T/seg3.bson $T/seg4.bson"

# restore --at the end of each phase, each into a fresh server
for k in 1 2 3; do
	fresh || exit 1
	# shellcheck disable=SC2086
	drive restore "$T/base.archive" "$AFTER" "$(until_of $k)" $SEGS -- "uri=$DST"
	rc_is "replay to the end of phase $k succeeds" 0
	digest "$DST" >"$T/D$k"
	check "replay to the end of phase $k equals the source then" cmp -s "$T/S$k" "$T/D$k" ||
		{ diff "$T/S$k" "$T/D$k" | diag; diag "$T/out" "$T/err"; }
	check "every entry of every segment is counted (phase $k)" \
		grep -qx "stat records $RECORDS" "$T/out"
done

# renames and exclude
fresh || exit 1
# shellcheck disable=SC2086
drive restore "$T/base.archive" "$AFTER" max $SEGS -- "uri=$DST" "ns_from=shop.*" \
	"ns_to=copy.*" "exclude=shop.items other.*"
rc_is "a replay with ns_from/ns_to and exclude succeeds" 0
timeout 60 "$PY" - "$SRC" "$DST" >"$T/ren.out" 2>&1 <<'EOF'
import sys, pymongo
s = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
d = pymongo.MongoClient(sys.argv[2], serverSelectionTimeoutMS=10000)
names = sorted(d.list_database_names())
print("dbs", " ".join(n for n in names if n not in ("admin", "local", "config")))
print("colls", " ".join(sorted(d.copy.list_collection_names())))
same = list(s.shop.orders.find(sort=[("_id", 1)])) == list(d.copy.orders.find(sort=[("_id", 1)]))
print("orders", "same" if same else "differ")
print("moved", d.copy.moved.count_documents({}))
print("indexes", " ".join(sorted(i["name"] for i in d.copy.orders.list_indexes())))
EOF
check "the renamed replay writes copy only" grep -qx "dbs copy" "$T/ren.out" || diag "$T/ren.out"
check "exclude leaves shop.items out, the rename follows ns_to" \
	grep -qx "colls moved orders" "$T/ren.out" || diag "$T/ren.out"
check "copy.orders holds what shop.orders holds" grep -qx "orders same" "$T/ren.out"
check "the renamed collection's documents came along" grep -qx "moved 4" "$T/ren.out"
check "the index built in the log is there, the dropped one is not" \
	grep -qx "indexes _id_ n_1" "$T/ren.out"

# an entry the server refuses: a $v: 2 update without its diff
timeout 30 "$PY" - "$T" "$(awk '$1 == "M1" {print $2, $3}' "$T/work.out")" <<'EOF'
import sys, bson
from bson.son import SON
from bson.timestamp import Timestamp
T, t, i = sys.argv[1], int(sys.argv[2].split()[0]), int(sys.argv[2].split()[1])
e = SON([("op", "u"), ("ns", "shop.orders"), ("o", SON([("$v", 2), ("diff", 5)])),
         ("o2", {"_id": 1}), ("ts", Timestamp(t, i + 1))])
open(T + "/bad.bson", "wb").write(bson.encode(e))
EOF
M1T=$(awk '$1 == "M1" {print $2}' "$T/work.out")
ISO=$(date -u -d "@$M1T" +%Y-%m-%dT%H:%M:%SZ)
N1=$("$PY" -c 'import sys, bson; print(len(bson.decode_all(open(sys.argv[1], "rb").read())))' "$T/seg1.bson")
fresh || exit 1
drive restore "$T/base.archive" "$AFTER" max "$T/seg1.bson" "$T/bad.bson" -- "uri=$DST"
rc_is "a refused entry stops the replay (CAIRN_E_CORRUPT)" -5
check "the refusal names the namespace and the entry's time" \
	grep -q "refused the oplog entry (op u) for shop.orders of $ISO" "$T/out" || diag "$T/out"
APPLIED=$(awk '$1 == "stat" && $2 == "applied" {print $3}' "$T/out")
check "it says how many entries were applied before it" \
	grep -q "; $APPLIED entries were applied before it" "$T/out"
check "the first segment's entries were applied before it ($APPLIED of $N1)" \
	test "$APPLIED" -gt 0 -a "$APPLIED" -le "$N1"

# verify --deep: every entry parsed; a damaged length named
# shellcheck disable=SC2086
drive parse - - max $SEGS -- "uri=$SRC"
rc_is "parse reads every segment" 0
check "parse counts every entry" grep -qx "stat records $RECORDS" "$T/out"
cp "$T/seg2.bson" "$T/dam2.bson"
printf '\177' | dd of="$T/dam2.bson" bs=1 seek=3 conv=notrunc 2>/dev/null
drive parse - - max "$T/seg1.bson" "$T/dam2.bson" -- "uri=$SRC"
rc_is "a damaged segment fails the parse (CAIRN_E_CORRUPT)" -5
check "the parse names the segment and the entry" \
	grep -q "log segment 2 of the chain, entry 1 (at byte 0): its length passes 16 MiB" "$T/out" ||
	diag "$T/out"

# verify --restore-test: counts compared, the databases dropped
fresh || exit 1
# shellcheck disable=SC2086
drive test "$T/base.archive" "$AFTER" max $SEGS -- "uri=$DST"
rc_is "the test replay succeeds" 0
check "it compared collections" grep -q "^stat collections_compared [1-9]" "$T/out"
check "it says which it could not count (none here)" \
	grep -qx "stat collections_not_compared 0" "$T/out" || diag "$T/out"
left() { mongo_cmd "$DST" admin '{"listDatabases": 1, "nameOnly": true}' | grep -c cairn_rt_; }
check "the test databases are dropped" test "$(left)" = 0
# an insert of a document the base holds: one insert more than the count
timeout 30 "$PY" - "$T" "$(awk '$1 == "M3" {print $2}' "$T/work.out")" <<'EOF'
import sys, bson
from bson.son import SON
from bson.timestamp import Timestamp
e = SON([("op", "i"), ("ns", "shop.orders"), ("o", {"_id": 0, "n": 0, "s": "x"}),
         ("ts", Timestamp(int(sys.argv[2]) + 5, 1))])
open(sys.argv[1] + "/again.bson", "wb").write(bson.encode(e))
EOF
# shellcheck disable=SC2086
drive test "$T/base.archive" "$AFTER" max $SEGS "$T/again.bson" -- "uri=$DST"
rc_is "a count the log does not explain fails the test (CAIRN_E_CORRUPT)" -5
check "the failure names the collection and both counts" \
	grep -q "test replay: shop.orders holds [0-9]* documents after the replay, but the base's 5 plus" \
	"$T/out" || diag "$T/out"
check "the test databases are dropped after a failure too" test "$(left)" = 0

# doc/recovery.md: the standard-tool procedure, its ```bash block run as
# it is written (the time, the store, /tmp moved), mongorestore a
# stand-in: --archive through mongo_archive.py, --oplogReplay entry by
# entry through applyOps below --oplogLimit, as mongorestore does
if ! command -v zstd >/dev/null || ! command -v jq >/dev/null; then
	skip "the recovery procedure runs" "needs zstd and jq"
	skip "it reaches the source's state at the time" "needs zstd and jq"
	skip "it went through every segment that starts before the time" "needs zstd and jq"
	exit 0
fi
fresh || exit 1
mkdir -p "$T/bin" "$T/tmp" "$T/store/nightly/20261124T020000Z" "$T/store/nightly/log/shop"
cat >"$T/bin/mongorestore" <<EOF
#!/bin/bash
exec "$PY" "$T/mongorestore.py" "$DST" "$top_srcdir/tests/fixtures/mongo_archive.py" "\$@"
EOF
chmod +x "$T/bin/mongorestore"
cat >"$T/mongorestore.py" <<'PYEOF'
import sys, subprocess, tempfile, pymongo, bson
from bson.son import SON
from bson.timestamp import Timestamp
uri, archive_py, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if "--archive" in args:
    with tempfile.NamedTemporaryFile() as f:
        f.write(sys.stdin.buffer.read())
        f.flush()
        drop = ["--drop"] if "--drop" in args else []
        sys.exit(subprocess.run([sys.executable, archive_py, "restore", uri, f.name] + drop).returncode)
if "--oplogReplay" not in args:
    sys.exit("mongorestore (stand-in): not a runbook use: %s" % args)
path = args[args.index("--oplogFile") + 1]
t, i = map(int, args[args.index("--oplogLimit") + 1].split(":"))
limit = Timestamp(t, i)
c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
n = 0
opts = bson.CodecOptions(document_class=SON)
for e in bson.decode_file_iter(open(path, "rb"), codec_options=opts):
    if e["ts"] >= limit:
        break
    if e["op"] == "n":
        continue
    e.pop("ui", None)
    c.admin.command(SON([("applyOps", [e])]))
    n += 1
open(sys.argv[0] + ".log", "a").write("%s %d\n" % (path, n))
PYEOF
timeout 60 "$PY" - "$T" "$AFTER" <<'PYEOF' >"$T/store.err" 2>&1
import sys, json, time, hashlib, subprocess, bson
T, after = sys.argv[1], sys.argv[2]
t0, i0 = map(int, after.split(":"))
def lsn(t, i): return "%016x" % (t << 32 | i)
def stamp(t): return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + ".000Z"
store = T + "/store/nightly"
base = store + "/20261124T020000Z"
z = subprocess.run(["zstd", "-q", "-c", T + "/base.archive"], capture_output=True,
                   check=True).stdout
open(base + "/shop.archive.zst", "wb").write(z)
json.dump({"sources": [{"name": "shop", "log": {"start": {"lsn": lsn(t0, i0)}}}]},
          open(base + "/manifest.json", "w"))
frm = (t0, i0)
for k in range(1, 5):
    raw = open("%s/seg%d.bson" % (T, k), "rb").read()
    ents = bson.decode_all(raw)
    to = (ents[-1]["ts"].time, ents[-1]["ts"].inc) if ents else frm
    seg = "%s-%s-%s-%s" % (stamp(frm[0]), stamp(to[0]), lsn(*frm), lsn(*to))
    z = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
    open("%s/log/shop/%s.bson.zst" % (store, seg), "wb").write(z)
    json.dump({"sha256": hashlib.sha256(z).hexdigest(),
               "object": "nightly/log/shop/%s.bson.zst" % seg},
              open("%s/log/shop/%s.json" % (store, seg), "w"))
    frm = to
PYEOF
AT=$(date -u -d "@$(awk '$1 == "M2" {print $2}' "$T/work.out")" +%Y-%m-%dT%H:%M:%SZ)
awk '/^### MongoDB to a point in time/ { on = 1; next } on && /^### / { on = 0 }
	on && /^```bash$/ { inb = 1; next } inb && /^```$/ { inb = 0; on = 0; next } inb' \
	"$top_srcdir/doc/recovery.md" |
	sed -e "s|/tmp/|$T/tmp/|g" -e "s|^at=.*|at=$AT|" \
		-e "s|^cd /var/backups/cairn/nightly|cd '$T/store/nightly'|" >"$T/procedure.sh"
(PATH="$T/bin:$PATH" timeout 120 bash -e "$T/procedure.sh") >"$T/proc.out" 2>&1
check "the recovery procedure runs" test $? = 0 || diag "$T/proc.out" "$T/store.err"
digest "$DST" >"$T/Dproc"
check "it reaches the source's state at the time" cmp -s "$T/S2" "$T/Dproc" ||
	{ diff "$T/S2" "$T/Dproc" | diag; diag "$T/proc.out"; }
check "it went through every segment that starts before the time, the last cut" \
	test "$(wc -l <"$T/mongorestore.py.log") $(tail -n 1 "$T/mongorestore.py.log" | cut -d' ' -f2)" = "4 0" ||
	diag "$T/mongorestore.py.log"
