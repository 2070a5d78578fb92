#!/bin/bash
# mongod_replset.sh - the MongoDB test server's replica-set mode
# (tests/fixtures/mongod/mongod.py --replset): hello and replSetGetStatus
# report the set, every write goes into local.oplog.rs in mongod 6.0's
# shape, tailable awaitData cursors follow it, applyOps of its entries
# rebuilds the same collections on a second server, the capped oplog
# drops old entries (a cursor past them gets CappedPositionLost), and a
# server without --replset stays a standalone.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture

checks="hello-replset replset-status standalone-unchanged oplog-listed entry-shapes
ts-increasing newest-natural ts-range-find uuid-new-on-recreate update-command periodic-noop tail-await tail-cut tail-pymongo
apply-to-second apply-old-form apply-errors apply-ops-entry capped-drops-old
capped-position-lost"
nchecks=$(echo $checks | wc -w)
plan $((nchecks + 8))

check "a replica-set server starts" mongo_start --replset rs0 --noop-interval 1 || exit 1
RS=$MONGO_URI
RS_SET_URI=$MONGO_RS_URI
check "a standalone server starts" mongo_start || exit 1
SOLO=$MONGO_URI
check "a replica-set server with a 16 KiB oplog starts" \
	mongo_start --replset small --oplog-size 16384 --noop-interval 600 || exit 1
SMALL=$MONGO_URI

timeout 240 "$MONGO_PYTHON" - "$RS" "$RS_SET_URI" "$SOLO" "$SMALL" \
	>"$T/py.out" 2>"$T/py.err" <<'EOF'
import sys, threading, time, traceback, uuid, datetime
import bson
from bson.son import SON
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from bson.codec_options import CodecOptions
from bson.binary import Binary, UuidRepresentation
from bson.timestamp import Timestamp
from bson.objectid import ObjectId
import pymongo, pymongo.errors
from pymongo.cursor import CursorType

rs_uri, rs_set_uri, solo_uri, small_uri = sys.argv[1:5]
RAW = CodecOptions(document_class=RawBSONDocument, uuid_representation=UuidRepresentation.STANDARD)
STD = CodecOptions(uuid_representation=UuidRepresentation.STANDARD)
def client(uri):
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000, uuidRepresentation="standard")
rs, solo, small = client(rs_uri), client(solo_uri), client(small_uri)
oplog = rs.get_database("local", codec_options=RAW)["oplog.rs"]
me = rs_uri.split("//")[1].rstrip("/")

def result(name, fn):
    try:
        why = fn()
    except Exception as e:
        why = "%s: %s" % (type(e).__name__, e)
        traceback.print_exc()
    print(("PASS %s" % name) if not why else ("FAIL %s: %s" % (name, why)), flush=True)

def enc(d):
    return bson.encode(d, codec_options=STD)

def newest(coll=oplog):
    return next(iter(coll.find({}, sort=[("$natural", -1)], limit=1)))

def entries_after(ts, coll=oplog):
    return list(coll.find({"ts": {"$gt": ts}}))

def cmd_error(db, cmd):
    try:
        db.command(cmd)
    except pymongo.errors.OperationFailure as e:
        return e.code, e.details
    return None, None

def hello_replset():
    h = rs.admin.command("hello")
    want = ["hosts", "setName", "setVersion", "isWritablePrimary", "secondary", "primary", "me",
            "electionId", "lastWrite"]
    keys = [k for k in h if k in want]
    if keys != want:
        return "hello's replica-set fields in the order %r" % keys
    if h["setName"] != "rs0" or h["hosts"] != [me] or h["primary"] != me or h["me"] != me or \
            h["isWritablePrimary"] is not True or h["secondary"] is not False:
        return "hello: %r" % h
    lw = h["lastWrite"]
    if not isinstance(lw["opTime"]["ts"], Timestamp) or lw["opTime"]["t"] != 1 or \
            not isinstance(lw["opTime"]["t"], Int64) or not isinstance(lw["lastWriteDate"], datetime.datetime):
        return "lastWrite: %r" % lw
    if not isinstance(h.get("electionId"), ObjectId):
        return "electionId %r" % h.get("electionId")
    if not isinstance(h.get("operationTime"), Timestamp) or \
            not isinstance(h.get("$clusterTime", {}).get("clusterTime"), Timestamp):
        return "no operationTime/$clusterTime on the reply: %r" % h
    im = rs.admin.command("isMaster")
    if im.get("ismaster") is not True or im.get("setName") != "rs0":
        return "isMaster: %r" % im
    # a driver given replicaSet=rs0 discovers the set and finds its primary
    c = pymongo.MongoClient(rs_set_uri, serverSelectionTimeoutMS=10000)
    c.admin.command("ping")
    if c.primary != ("127.0.0.1", int(me.split(":")[1])):
        return "pymongo with replicaSet= found the primary %r" % (c.primary,)
    c.close()

def replset_status():
    s = rs.admin.command("replSetGetStatus")
    m = s["members"]
    if s["set"] != "rs0" or s["myState"] != 1 or len(m) != 1 or m[0]["stateStr"] != "PRIMARY" \
            or m[0]["name"] != me or not m[0]["self"] or not isinstance(m[0]["optime"]["ts"], Timestamp):
        return "replSetGetStatus: %r" % s

def standalone_unchanged():
    h = solo.admin.command("hello")
    for k in ("setName", "hosts", "lastWrite", "$clusterTime", "operationTime"):
        if k in h:
            return "a standalone's hello has %s" % k
    if h.get("isWritablePrimary") is not True:
        return "a standalone's hello: %r" % h
    if "oplog.rs" in solo.local.list_collection_names():
        return "a standalone has local.oplog.rs"
    r = solo.local.command(SON([("find", "oplog.rs"), ("filter", {})]))
    if r["cursor"]["firstBatch"] != [] or r["cursor"]["id"] != 0:
        return "find on a standalone's local.oplog.rs: %r" % r
    code, d = cmd_error(solo.local, SON([("find", "oplog.rs"), ("tailable", True), ("awaitData", True)]))
    if code != 2:
        return "a tailable find on a standalone: %r" % d
    code, d = cmd_error(solo.admin, SON([("replSetGetStatus", 1)]))
    if code != 76 or d.get("codeName") != "NoReplicationEnabled":
        return "replSetGetStatus on a standalone: %r" % d
    code, d = cmd_error(rs.local, SON([("find", "startup_log"), ("tailable", True)]))
    if code != 2:
        return "a tailable find on another collection: %r" % d

def oplog_listed():
    info = [i for i in rs.local.list_collections() if i["name"] == "oplog.rs"]
    if len(info) != 1:
        return "local.oplog.rs listed %d times" % len(info)
    o = info[0]["options"]
    if o.get("capped") is not True or not o.get("size") or "idIndex" in info[0]:
        return "oplog.rs listed as %r" % info[0]
    if list(rs.local["oplog.rs"].list_indexes()):
        return "the oplog has indexes"

# -- the writes, and the entries they must give ----------------------------
db = rs.get_database("w", codec_options=STD)
start = newest()["ts"]
docs = [SON([("_id", 1), ("a", 1), ("s", SON([("k", 1), ("j", 2)])), ("arr", [1, 2]), ("gone", "x")]),
        SON([("_id", 2), ("a", 2)]), SON([("_id", 3), ("a", 3)])]
db.items.insert_many(docs)
items_uuid = next(i for i in db.list_collections() if i["name"] == "items")["info"]["uuid"]
db.items.update_one({"_id": 1}, {"$set": {"b": 2, "s.k": 5}, "$push": {"arr": 3},
                                 "$unset": {"gone": ""}, "$inc": {"a": 1}})
after_update = db.get_collection("items", codec_options=RAW).find_one({"_id": 1}).raw
db.items.update_one({"_id": 1}, {"$set": {"b": 2}})  # no change: no entry
db.items.replace_one({"_id": 2}, {"x": 1})
db.items.update_many({"_id": {"$in": [1, 3]}}, {"$set": {"m": 1}})
db.items.delete_many({"_id": {"$in": [2, 3]}})
db.items.create_index([("a", 1)], name="a_1", unique=True)
db.items.drop_index("a_1")
rs.admin.command(SON([("renameCollection", "w.items"), ("to", "w.things")]))
db.things.drop()
db.items.insert_one({"_id": 9, "r": 1})
items2_uuid = next(i for i in db.list_collections() if i["name"] == "items")["info"]["uuid"]
db.create_collection("cap", capped=True, size=1000, max=5)
cap_uuid = next(i for i in db.list_collections() if i["name"] == "cap")["info"]["uuid"]
db.command(SON([("create", "v"), ("viewOn", "cap"), ("pipeline", [{"$match": {"a": 1}}])]))
views_uuid = next(i for i in db.list_collections() if i["name"] == "system.views")["info"]["uuid"]
db.t1.insert_one({"_id": 1})
db.t2.insert_one({"_id": 2})
t1_uuid, t2_uuid = (next(i for i in db.list_collections() if i["name"] == n)["info"]["uuid"]
                    for n in ("t1", "t2"))
rs.admin.command(SON([("renameCollection", "w.t1"), ("to", "w.t2"), ("dropTarget", True)]))
rs.w2.z.insert_one({"_id": "z"})
z_uuid = next(i for i in rs.get_database("w2", codec_options=STD).list_collections())["info"]["uuid"]
rs.drop_database("w2")
written = [e for e in entries_after(start) if e["op"] != "n"]
ID = SON([("v", 2), ("key", {"_id": 1}), ("name", "_id_")])

def expected():
    cmd = "w.$cmd"
    return [
        ("c", cmd, items_uuid, SON([("create", "items"), ("idIndex", ID)]), None),
        ("i", "w.items", items_uuid, docs[0], {"_id": 1}),
        ("i", "w.items", items_uuid, docs[1], {"_id": 2}),
        ("i", "w.items", items_uuid, docs[2], {"_id": 3}),
        ("u", "w.items", items_uuid, SON([("$v", 2), ("diff", SON([
            ("d", {"gone": False}), ("u", {"a": 2}), ("i", {"b": 2}),
            ("sarr", SON([("a", True), ("u2", 3)])), ("ss", {"u": {"k": 5}})]))]), {"_id": 1}),
        ("u", "w.items", items_uuid, SON([("_id", 2), ("x", 1)]), {"_id": 2}),
        ("u", "w.items", items_uuid, SON([("$v", 2), ("diff", {"i": {"m": 1}})]), {"_id": 1}),
        ("u", "w.items", items_uuid, SON([("$v", 2), ("diff", {"i": {"m": 1}})]), {"_id": 3}),
        ("d", "w.items", items_uuid, {"_id": 2}, None),
        ("d", "w.items", items_uuid, {"_id": 3}, None),
        ("c", cmd, items_uuid, SON([("createIndexes", "items"), ("v", 2), ("key", {"a": 1}),
                                    ("name", "a_1"), ("unique", True)]), None),
        ("c", cmd, items_uuid, SON([("dropIndexes", "items"), ("index", "a_1")]),
         SON([("v", 2), ("key", {"a": 1}), ("name", "a_1"), ("unique", True)])),
        ("c", cmd, items_uuid, SON([("renameCollection", "w.items"), ("to", "w.things"),
                                    ("stayTemp", False), ("dropTarget", False)]), None),
        ("c", cmd, items_uuid, {"drop": "things"}, {"numRecords": Int64(1)}),
        ("c", cmd, items2_uuid, SON([("create", "items"), ("idIndex", ID)]), None),
        ("i", "w.items", items2_uuid, SON([("_id", 9), ("r", 1)]), {"_id": 9}),
        ("c", cmd, cap_uuid, SON([("create", "cap"), ("capped", True), ("size", 1024), ("max", 5),
                                  ("idIndex", ID)]), None),
        ("c", cmd, views_uuid, SON([("create", "system.views"), ("idIndex", ID)]), None),
        ("c", cmd, None, SON([("create", "v"), ("viewOn", "cap"),
                              ("pipeline", [{"$match": {"a": 1}}])]), None),
        ("c", cmd, t1_uuid, SON([("create", "t1"), ("idIndex", ID)]), None),
        ("i", "w.t1", t1_uuid, {"_id": 1}, {"_id": 1}),
        ("c", cmd, t2_uuid, SON([("create", "t2"), ("idIndex", ID)]), None),
        ("i", "w.t2", t2_uuid, {"_id": 2}, {"_id": 2}),
        ("c", cmd, t1_uuid, SON([("renameCollection", "w.t1"), ("to", "w.t2"),
                                 ("stayTemp", False), ("dropTarget", t2_uuid)]),
         {"numRecords": Int64(1)}),
        ("c", "w2.$cmd", z_uuid, SON([("create", "z"), ("idIndex", ID)]), None),
        ("i", "w2.z", z_uuid, {"_id": "z"}, {"_id": "z"}),
        ("c", "w2.$cmd", z_uuid, {"drop": "z"}, {"numRecords": Int64(1)}),
        ("c", "w2.$cmd", None, {"dropDatabase": 1}, None),
    ]

def entry_shapes():
    want = expected()
    if len(written) != len(want):
        return "%d entries for %d writes: %r" % (len(written), len(want),
                                                 [(e["op"], e["ns"]) for e in written])
    for n, (e, (op, ns, ui, o, o2)) in enumerate(zip(written, want)):
        keys = ["op", "ns"] + (["ui"] if ui else []) + ["o"] + (["o2"] if o2 else []) + \
            ["ts", "t", "v", "wall"]
        if list(e.keys()) != keys:
            return "entry %d (%s %s): fields %r, want %r" % (n, op, ns, list(e.keys()), keys)
        if e["op"] != op or e["ns"] != ns:
            return "entry %d: op %r ns %r, want %r %r" % (n, e["op"], e["ns"], op, ns)
        if ui and e["ui"] != ui:
            return "entry %d: ui %r, want %r" % (n, e["ui"], ui)
        if e["o"].raw != enc(o):
            return "entry %d (%s %s): o %r, want %r" % (n, op, ns, bson.decode(e["o"].raw), o)
        if o2 and e["o2"].raw != enc(o2):
            return "entry %d: o2 %r, want %r" % (n, bson.decode(e["o2"].raw), o2)
        d = bson.decode(e.raw)
        if not isinstance(d["ts"], Timestamp) or type(d["t"]) is not Int64 or d["t"] != 1 or \
                type(d["v"]) is not Int64 or d["v"] != 2 or not isinstance(d["wall"], datetime.datetime):
            return "entry %d: ts/t/v/wall %r" % (n, d)
    # the documents are as the entries say
    want = enc(SON([("_id", 1), ("a", 2), ("s", SON([("k", 5), ("j", 2)])), ("arr", [1, 2, 3]),
                    ("b", 2)]))
    if after_update != want:
        return "after the update with operators: %r" % bson.decode(after_update)
    got = [d.raw for d in rs.get_database("w", codec_options=RAW).items.find()]
    if got != [enc(SON([("_id", 9), ("r", 1)]))]:
        return "w.items holds %r" % got

def ts_increasing():
    all_ts = [(e["ts"].time, e["ts"].inc) for e in oplog.find()]
    if any(b <= a for a, b in zip(all_ts, all_ts[1:])):
        return "timestamps not strictly increasing"
    walls = [e["wall"] for e in oplog.find()]
    if any(b < a for a, b in zip(walls, walls[1:])):
        return "wall times go back"

def newest_natural():
    last = list(oplog.find())[-1]
    r = rs.local.command(SON([("find", "oplog.rs"), ("sort", {"$natural": -1}), ("limit", 1)]))
    got = r["cursor"]["firstBatch"]
    if len(got) != 1 or got[0]["ts"] < last["ts"]:
        return "the newest entry by $natural: -1: %r, a forward scan ends at %r" % (got, last["ts"])

def ts_range_find():
    ents = list(oplog.find())
    lo, hi = ents[3]["ts"], ents[-3]["ts"]
    for flt, want in ((SON([("ts", SON([("$gt", lo), ("$lte", hi)]))]), ents[4:-2]),
                      ({"ts": {"$gte": lo, "$lt": hi}}, ents[3:-3]),
                      ({"ts": lo}, [ents[3]]),
                      ({"ts": {"$gte": lo}, "op": "i"}, [e for e in ents[3:] if e["op"] == "i"])):
        got = list(oplog.find(flt, batch_size=3))
        if [e.raw for e in got] != [e.raw for e in want]:
            return "find %r: %d entries, want %d" % (flt, len(got), len(want))

def uuid_new_on_recreate():
    if items_uuid == items2_uuid or not isinstance(items2_uuid, uuid.UUID):
        return "the re-created collection kept uuid %r" % items2_uuid

def update_command():
    u = rs.get_database("upd", codec_options=STD).c
    t0 = newest()["ts"]
    r = u.update_one({"k": 5}, {"$set": {"v": 1}, "$setOnInsert": {"w": 2}}, upsert=True)
    oid = r.upserted_id
    if not isinstance(oid, ObjectId) or r.matched_count != 0:
        return "upsert: %r" % r.raw_result
    got = rs.get_database("upd", codec_options=RAW).c.find_one({"_id": oid}).raw
    if got != enc(SON([("_id", oid), ("k", 5), ("v", 1), ("w", 2)])):
        return "upserted %r" % bson.decode(got)
    ins = [e for e in entries_after(t0) if e["op"] == "i"]
    if len(ins) != 1 or ins[0]["o"].raw != got:
        return "the upsert's entries: %r" % [bson.decode(e.raw) for e in entries_after(t0)]
    u.insert_one({"_id": 2, "n": Int64(1), "m": 2**31 - 1})
    u.update_one({"_id": 2}, {"$inc": {"n": 1, "m": 1}})
    d = u.find_one({"_id": 2})
    if type(d["n"]) is not Int64 or d["n"] != 2 or type(d["m"]) is not Int64 or d["m"] != 2**31:
        return "$inc kept types %r" % d
    r = u.update_one({"_id": 2}, {"$set": {"n": Int64(2)}})
    if r.matched_count != 1 or r.modified_count != 0:
        return "an update changing nothing: %r" % r.raw_result
    for what, fn, code in (
            ("a replacement changing _id", lambda: u.replace_one({"_id": 2}, {"_id": 3}), 66),
            ("$rename", lambda: u.update_one({"_id": 2}, {"$rename": {"n": "o"}}), 2),
            ("$inc of a string", lambda: u.update_one({"_id": 2}, {"$inc": {"n": "x"}}), 14),
            ("a conflict", lambda: u.update_one({"_id": 2}, {"$set": {"a": 1, "a.b": 2}}), 40)):
        try:
            fn()
        except pymongo.errors.OperationFailure as e:
            if e.code != code:
                return "%s: code %r, want %d" % (what, e.code, code)
            continue
        return "%s succeeded" % what
    u.create_index("k", unique=True)
    try:
        u.update_one({"_id": 2}, {"$set": {"k": 5}})
    except pymongo.errors.DuplicateKeyError as e:
        if e.details.get("keyPattern") != {"k": 1}:
            return "duplicate key by update: %r" % e.details
    else:
        return "an update broke a unique index"
    u.update_one({"_id": 2}, {"$set": {"k": 6}})
    u.update_one({"_id": oid}, {"$set": {"k": 7}})
    u.insert_one({"_id": 4, "k": 5})  # 5 is free again

def periodic_noop():
    t0 = newest()["ts"]
    for _ in range(100):
        got = [e for e in entries_after(t0) if e["op"] == "n"]
        if got:
            e = bson.decode(got[0].raw)
            if list(e) != ["op", "ns", "o", "ts", "t", "v", "wall"] or e["ns"] != "" or \
                    e["o"] != {"msg": "periodic noop"}:
                return "no-op entry %r" % e
            return None
        time.sleep(0.2)
    return "no periodic no-op within 20 s of idleness (interval 1 s)"

def tail_await():
    t0 = newest()["ts"]
    flt = {"ts": {"$gt": t0}, "op": {"$ne": "n"}}
    r = rs.local.command(SON([("find", "oplog.rs"), ("filter", flt), ("tailable", True),
                              ("awaitData", True), ("oplogReplay", True),
                              ("$_requestResumeToken", True), ("hint", {"$natural": 1})]))
    cur = r["cursor"]
    if cur["firstBatch"] != [] or not cur["id"] or "postBatchResumeToken" not in cur:
        return "the first batch: %r" % cur
    cid = cur["id"]
    gm = SON([("getMore", cid), ("collection", "oplog.rs"), ("maxTimeMS", 300)])
    r = rs.local.command(gm)
    if r["cursor"]["nextBatch"] != [] or r["cursor"]["id"] != cid:
        return "a getMore with nothing new: %r" % r["cursor"]
    def later():
        time.sleep(0.5)
        client(rs_uri).w.tail.insert_one({"_id": "later"})
    th = threading.Thread(target=later)
    th.start()
    r = rs.local.command(SON([("getMore", cid), ("collection", "oplog.rs"), ("maxTimeMS", 30000)]))
    th.join()
    nb = r["cursor"]["nextBatch"]
    if r["cursor"]["id"] != cid or not nb or nb[-1]["o"] != {"_id": "later"}:
        return "the awaiting getMore gave %r" % r["cursor"]
    rs.local.command(SON([("killCursors", "oplog.rs"), ("cursors", [cid])]))
    code, d = cmd_error(rs.local, gm)
    if code != 43:
        return "getMore on the killed cursor: %r" % d

def tail_cut():
    t0 = newest()["ts"]
    r = rs.local.command(SON([("find", "oplog.rs"), ("filter", {"ts": {"$gt": t0}, "op": "i"}),
                              ("tailable", True), ("awaitData", True)]))
    cid = r["cursor"]["id"]
    rs.admin.command(SON([("configureFailPoint", "failCommand"), ("mode", {"times": 1}),
                          ("data", {"failCommands": ["getMore"], "closeConnection": True})]))
    gm = SON([("getMore", cid), ("collection", "oplog.rs"), ("maxTimeMS", 200)])
    try:
        rs.local.command(gm)
    except pymongo.errors.AutoReconnect:
        pass
    else:
        return "the failpoint did not cut the connection"
    rs.w.tail.insert_one({"_id": "cut"})
    r = rs.local.command(SON([("getMore", cid), ("collection", "oplog.rs"), ("maxTimeMS", 30000)]))
    if [e["o"]["_id"] for e in r["cursor"]["nextBatch"]] != ["cut"]:
        return "after the cut, the cursor gave %r" % r["cursor"]

def tail_pymongo():
    t0 = newest()["ts"]
    cur = oplog.find({"ts": {"$gt": t0}}, cursor_type=CursorType.TAILABLE_AWAIT,
                     oplog_replay=True).max_await_time_ms(200)
    def next_or_none():
        try:
            return next(cur)
        except StopIteration:
            return None
    if next_or_none() is not None or not cur.alive:
        return "a new tailable cursor is not alive and empty"
    rs.w.tail.insert_one({"_id": "py"})
    for _ in range(50):
        e = next_or_none()
        if e is not None and e["op"] == "i":
            return None if e["o"]["_id"] == "py" else "got %r" % bson.decode(e.raw)
        if not cur.alive:
            return "pymongo's tailable cursor died"
    return "pymongo's tailable cursor never saw the insert"

def copy_db_state(c, dbs):
    """Every collection: options, uuid, indexes, raw documents."""
    out = {}
    for dbn in dbs:
        d = c.get_database(dbn, codec_options=RAW)
        for info in d.list_collections():
            info = dict(info)
            coll = d[info["name"]]
            if info["type"] == "view":
                out[(dbn, info["name"])] = (info, None, None)
                continue
            out[(dbn, info["name"])] = (info, bson.decode(bson.encode({"i": list(coll.list_indexes())})),
                                         [x.raw for x in coll.find()])
    return out

def apply_to_second():
    ents = list(oplog.find())
    for i in range(0, len(ents), 7):
        r = solo.admin.command(SON([("applyOps", ents[i:i + 7])]))
        if r["applied"] != len(ents[i:i + 7]) or r["results"] != [True] * len(ents[i:i + 7]):
            return "applyOps answered %r" % r
    dbs = sorted(set(rs.list_database_names()) - {"local", "admin", "config"})
    a, b = copy_db_state(rs, dbs), copy_db_state(solo, dbs)
    if sorted(a) != sorted(b):
        return "collections %r on the primary, %r applied" % (sorted(a), sorted(b))
    for k in a:
        if a[k][0] != b[k][0]:
            return "%s: listCollections %r vs %r" % (k, a[k][0], b[k][0])
        if a[k][1] != b[k][1]:
            return "%s: indexes %r vs %r" % (k, a[k][1], b[k][1])
        if a[k][2] != b[k][2]:
            return "%s: documents differ" % (k,)
    if not a:
        return "nothing to compare"

def apply_old_form():
    sdb = solo.get_database("old", codec_options=RAW)
    ops = [{"op": "i", "ns": "old.c", "o": SON([("_id", 1), ("a", 1), ("r", 2), ("s", {"x": 1})])},
           {"op": "u", "ns": "old.c", "o2": {"_id": 1},
            "o": SON([("$set", SON([("b", 5), ("s.y", 2)])), ("$unset", {"r": True})])},
           {"op": "u", "ns": "old.c", "o2": {"_id": 1}, "o": SON([("$v", 1), ("$set", {"a": 7})])},
           {"op": "u", "ns": "old.c", "o2": {"_id": 2}, "o": SON([("$set", {"a": 1})])},
           {"op": "i", "ns": "old.c", "o": SON([("_id", 2), ("z", 1)])},
           {"op": "i", "ns": "old.c", "o": SON([("_id", 2), ("a", 1)])}]
    r = solo.admin.command(SON([("applyOps", ops)]))
    if r["applied"] != 6 or r["results"] != [True] * 6:
        return "applyOps: %r" % r
    got = [d.raw for d in sdb.c.find()]
    want = [enc(SON([("_id", 1), ("a", 7), ("s", SON([("x", 1), ("y", 2)])), ("b", 5)])),
            enc(SON([("_id", 2), ("a", 1)]))]
    if got != want:
        return "after the older-form updates: %r" % [bson.decode(x) for x in got]

def apply_errors():
    ops = [{"op": "i", "ns": "err.c", "o": {"_id": 1}}, {"op": "x", "ns": "err.c", "o": {}},
           {"op": "i", "ns": "err.c", "o": {"_id": 2}}]
    code, d = cmd_error(solo.admin, SON([("applyOps", ops)]))
    if code != 2 or d.get("applied") != 2 or d.get("results") != [True, False] or \
            d.get("codeName") != "BadValue" or d.get("ok") != 0:
        return "a bad op type: %r" % d
    code, d = cmd_error(solo.admin, SON([("applyOps", [
        {"op": "i", "ns": "err.c", "ui": Binary(uuid.uuid4().bytes, 4), "o": {"_id": 3}}])]))
    if code != 26 or d.get("results") != [False]:
        return "an unknown ui: %r" % d
    code, d = cmd_error(solo.admin, SON([("applyOps", [{"ns": "err.c", "o": {}}])]))
    if code != 40414:
        return "an entry without op: %r" % d
    code, d = cmd_error(solo.admin, SON([("applyOps", [
        {"op": "i", "ns": "err.c", "ui": Binary(uuid.uuid4().bytes, 3), "o": {"_id": 3}}])]))
    if code != 14:
        return "a ui of the legacy UUID subtype 3: %r" % d
    # command entries apply idempotently, as oplog application does
    r = solo.admin.command(SON([("applyOps", [
        {"op": "c", "ns": "err.$cmd", "o": {"create": "c"}},
        {"op": "c", "ns": "err.$cmd", "o": {"drop": "nope"}},
        {"op": "c", "ns": "err.$cmd", "o": SON([("dropIndexes", "c"), ("index", "nope_1")])}])]))
    if r["results"] != [True] * 3:
        return "idempotent commands: %r" % r
    n = solo.err.c.count_documents({})
    if n != 1:
        return "%d documents in err.c (the first insert stays, as mongod's non-atomic mode)" % n

def apply_ops_entry():
    t0 = newest()["ts"]
    ops = [{"op": "i", "ns": "w.ao", "o": {"_id": 1}}, {"op": "i", "ns": "w.ao", "o": {"_id": 2}},
           {"op": "u", "ns": "w.ao", "o2": {"_id": 1}, "o": {"$v": 2, "diff": {"i": {"v": 1}}}},
           {"op": "d", "ns": "w.ao", "o": {"_id": 2}}]
    rs.w.ao.insert_one({"_id": 0})
    r = rs.admin.command(SON([("applyOps", ops)]))
    if r["applied"] != 4:
        return "applyOps: %r" % r
    got = [e for e in entries_after(t0) if e["op"] != "n"]
    ent = got[-1]
    if len(got) != 3 or ent["op"] != "c" or ent["ns"] != "admin.$cmd":
        return "entries after a CRUD applyOps: %r" % [bson.decode(e.raw) for e in got]
    inner = bson.decode(ent["o"].raw, codec_options=STD)["applyOps"]
    if [(x["op"], x["ns"]) for x in inner] != [("i", "w.ao"), ("i", "w.ao"), ("u", "w.ao"), ("d", "w.ao")] or \
            list(inner[2]) != ["op", "ns", "ui", "o", "o2"]:
        return "the applyOps entry holds %r" % inner
    # and that entry (a nested applyOps) applies on another server
    solo.admin.command(SON([("applyOps", got)]))
    a = [d.raw for d in rs.get_database("w", codec_options=RAW).ao.find()]
    b = [d.raw for d in solo.get_database("w", codec_options=RAW).ao.find()]
    if a != b or len(a) != 2:
        return "w.ao: %r on the primary, %r applied" % (a, b)

small_oplog = small.get_database("local", codec_options=RAW)["oplog.rs"]
first_small = next(iter(small_oplog.find(limit=1)))
lost_cur = small.local.command(SON([("find", "oplog.rs"), ("tailable", True), ("batchSize", 1)]))
small.s.c.insert_many([{"_id": i, "pad": "x" * 200} for i in range(200)])

def capped_drops_old():
    first = next(iter(small_oplog.find(limit=1)))
    if first["ts"] <= first_small["ts"] or first["o"].get("msg") == "initiating set":
        return "the oldest entry is still there"
    size = small.local.command("collStats", "oplog.rs")["size"]
    if size > 16384:
        return "the oplog holds %d bytes, more than its 16384" % size
    n = small_oplog.count_documents({})
    if n < 10 or n > 100:
        return "%d entries left in a 16 KiB oplog of ~300-byte entries" % n
    last = newest(small_oplog)
    if last["op"] != "i" or last["o"]["_id"] != 199:
        return "the newest entry went: %r" % bson.decode(last.raw)

def capped_position_lost():
    cid = lost_cur["cursor"]["id"]
    if len(lost_cur["cursor"]["firstBatch"]) != 1 or not cid:
        return "first batch %r" % lost_cur["cursor"]
    gm = SON([("getMore", cid), ("collection", "oplog.rs")])
    code, d = cmd_error(small.local, gm)
    if code != 136 or d.get("codeName") != "CappedPositionLost":
        return "getMore past the trimmed entries: %r" % d
    code, d = cmd_error(small.local, gm)
    if code != 43:
        return "the lost cursor is still there: %r" % d
    # a cursor at the newest entry goes on
    r = small.local.command(SON([("find", "oplog.rs"), ("filter", {"ts": {"$gte": newest(small_oplog)["ts"]}}),
                                 ("tailable", True)]))
    small.s.c.insert_one({"_id": "after"})
    r = small.local.command(SON([("getMore", r["cursor"]["id"]), ("collection", "oplog.rs")]))
    if [e["o"]["_id"] for e in r["cursor"]["nextBatch"]] != ["after"]:
        return "a cursor at the newest entry: %r" % r

for name, fn in [("hello-replset", hello_replset), ("replset-status", replset_status),
                 ("standalone-unchanged", standalone_unchanged), ("oplog-listed", oplog_listed),
                 ("entry-shapes", entry_shapes), ("ts-increasing", ts_increasing),
                 ("newest-natural", newest_natural), ("ts-range-find", ts_range_find),
                 ("uuid-new-on-recreate", uuid_new_on_recreate),
                 ("update-command", update_command),
                 ("periodic-noop", periodic_noop), ("tail-await", tail_await),
                 ("tail-cut", tail_cut), ("tail-pymongo", tail_pymongo), ("apply-to-second", apply_to_second),
                 ("apply-old-form", apply_old_form), ("apply-errors", apply_errors),
                 ("apply-ops-entry", apply_ops_entry), ("capped-drops-old", capped_drops_old),
                 ("capped-position-lost", capped_position_lost)]:
    result(name, fn)
EOF
for name in $checks; do
	line=$(grep -E "^(PASS|FAIL) $name(:|\$)" "$T/py.out")
	case $line in
	"PASS $name") ok "$name" ;;
	"FAIL $name"*)
		not_ok "$name"
		echo "# $line" >&2
		;;
	*)
		not_ok "$name (no result)"
		diag "$T/py.err"
		;;
	esac
done
grep -q FAIL "$T/py.out" && diag "$T/py.err"

# --state-file: a server stopped (SIGTERM) and started again on its port
# keeps its databases and its oplog, which goes on from where it was.
cat >"$T/state.py" <<'EOF'
import sys, bson, pymongo
from bson.raw_bson import RawBSONDocument
from bson.codec_options import CodecOptions
from bson.binary import UuidRepresentation
RAW = CodecOptions(document_class=RawBSONDocument, uuid_representation=UuidRepresentation.STANDARD)
mode, uri, out = sys.argv[1:4]
c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
if mode == "write":
    c.k.c.insert_many([{"_id": i, "v": "x" * i} for i in range(5)])
    c.k.c.update_one({"_id": 1}, {"$set": {"w": 1}})
    c.k.c.create_index("v")
    c.k.d.insert_one({"_id": "d"})
def state():
    k = c.get_database("k", codec_options=RAW)
    lines = []
    for info in sorted(k.list_collections(), key=lambda i: i["name"]):
        lines.append("coll %s %r" % (info["name"], dict(info)))
        lines.append("indexes %r" % [dict(i) for i in k[info["name"]].list_indexes()])
        lines += ["doc " + d.raw.hex() for d in k[info["name"]].find()]
    ol = c.get_database("local", codec_options=RAW)["oplog.rs"]
    lines += ["entry " + e.raw.hex() for e in ol.find() if e["op"] != "n"]
    return lines
if mode in ("write", "compare"):
    open(out, "w").write("\n".join(state()) + "\n")
if mode == "go-on":
    before = [bytes.fromhex(l.split()[1]) for l in open(out) if l.startswith("entry ")]
    last = bson.decode(before[-1])["ts"]
    ol = c.get_database("local", codec_options=RAW)["oplog.rs"]
    c.k.c.insert_one({"_id": "new"})
    after = [e for e in ol.find({"ts": {"$gt": last}}) if e["op"] != "n"]
    ok = len(after) == 1 and after[0]["o"]["_id"] == "new"
    print("go-on ok" if ok else "go-on: %r" % [bson.decode(e.raw) for e in after])
EOF
check "a replica-set server with a state file starts" \
	mongo_start --replset rs9 --state-file "$T/state" --noop-interval 600 || exit 1
P9=$MONGO_PORT
timeout 60 "$MONGO_PYTHON" "$T/state.py" write "$MONGO_URI" "$T/before" 2>"$T/state.err" ||
	diag "$T/state.err"
mongo_stop
check "SIGTERM saves the state file" test -s "$T/state"
check "it starts again on its port from the state file" \
	mongo_start --replset rs9 --state-file "$T/state" --noop-interval 600 --port "$P9" || exit 1
timeout 60 "$MONGO_PYTHON" "$T/state.py" compare "$MONGO_URI" "$T/after" 2>>"$T/state.err" ||
	diag "$T/state.err"
check_same "the databases and the oplog are as they were" "$T/before" "$T/after" "coll c" "doc " "entry "
timeout 60 "$MONGO_PYTHON" "$T/state.py" go-on "$MONGO_URI" "$T/before" >"$T/go-on" 2>>"$T/state.err" ||
	diag "$T/state.err"
check "the oplog goes on after the last entry it had" grep -qx "go-on ok" "$T/go-on" || diag "$T/go-on"
exit 0
