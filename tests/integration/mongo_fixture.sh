#!/bin/bash
# mongo_fixture.sh - the MongoDB test server (tests/fixtures/mongod) and
# the archive tools behave as the mongo tests rely on: checked with
# pymongo and raw wire messages against a fresh server.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_plugin mongo
need_mongo_fixture

checks="hello-limits legacy-op-query op-query-other scram-sha-256 scram-sha-1
wrong-password unauthenticated dup-id-ordered dup-id-unordered dup-unique-index
unique-index-on-existing find-batches getmore-killed raw-roundtrip kind1-and-too-large
list-collections error-codes count-helpers close-after-docs crc64-known archive-corrupt"
nchecks=$(echo $checks | wc -w)
plan $((nchecks + 6))

check "the server starts and reports its port" mongo_start --auth 'cairn:pa:ss w@rd' || exit 1
AUTH=$MONGO_AUTH_URI
PLAIN=$MONGO_URI
mongo_start || exit 1
OPEN=$MONGO_URI
OPEN_PORT=$MONGO_PORT

# One python run for the protocol checks (pymongo's import is slow): it
# prints "PASS name" or "FAIL name: why" for each of $checks, in order.
timeout 120 "$MONGO_PYTHON" - "$AUTH" "$PLAIN" "$MONGO_PORT" "$MONGO_ARCHIVE_PY" "$OPEN_PORT" \
	>"$T/py.out" 2>"$T/py.err" <<'EOF'
import socket, struct, sys, traceback, importlib.util, uuid, datetime
import bson
from bson.son import SON
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument
from bson.codec_options import CodecOptions
from bson.binary import Binary, UuidRepresentation
from bson.decimal128 import Decimal128
from bson.min_key import MinKey
from bson.max_key import MaxKey
from bson.regex import Regex
from bson.timestamp import Timestamp
from bson.objectid import ObjectId
import pymongo, pymongo.errors

auth, plain, port, archive_py = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
open_port = int(sys.argv[5])  # a second server, without authentication
RAW = CodecOptions(document_class=RawBSONDocument, uuid_representation=UuidRepresentation.STANDARD)
c = pymongo.MongoClient(auth, serverSelectionTimeoutMS=10000)
db = c.fixture

def result(name, fn):
    try:
        why = fn()
    except Exception as e:
        why = "%s: %s" % (type(e).__name__, e)
        traceback.print_exc()
    print(("PASS %s" % name) if not why else ("FAIL %s: %s" % (name, why)), flush=True)

def raw_msg(sock, op, body, req=1):
    sock.sendall(struct.pack("<iiii", 16 + len(body), req, 0, op) + body)
    h = b""
    while len(h) < 16:
        h += sock.recv(16 - len(h))
    n, _, resp_to, rop = struct.unpack("<iiii", h)
    b = b""
    while len(b) < n - 16:
        b += sock.recv(n - 16 - len(b))
    return rop, resp_to, b

def hello_limits():
    r = c.admin.command("hello")
    want = {"isWritablePrimary": True, "maxWireVersion": 17, "maxBsonObjectSize": 16777216,
            "maxMessageSizeBytes": 48000000, "maxWriteBatchSize": 100000,
            "logicalSessionTimeoutMinutes": 30}
    bad = {k: r.get(k) for k, v in want.items() if r.get(k) != v}
    return bad and "hello says %r" % bad

def op_query(cmd):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    body = struct.pack("<i", 0) + b"admin.$cmd\0" + struct.pack("<ii", 0, -1) + bson.encode(cmd)
    rop, resp_to, b = raw_msg(s, 2004, body, 77)
    s.close()
    if rop != 1 or resp_to != 77:
        return None, "reply opcode %d to %d, want OP_REPLY to 77" % (rop, resp_to)
    flags, cid, start, nret = struct.unpack_from("<iqii", b)
    return bson.decode(b[20:]), None

def legacy_op_query():
    r, err = op_query(SON([("isMaster", 1), ("helloOk", True)]))
    if err:
        return err
    if r.get("ismaster") is not True or r.get("maxWireVersion") != 17 or not r.get("helloOk"):
        return "isMaster over OP_QUERY: %r" % r

def op_query_other():
    r, err = op_query(SON([("listDatabases", 1)]))
    if err:
        return err
    if r.get("ok") != 0 or r.get("code") != 352:
        return "listDatabases over OP_QUERY: %r, want code 352" % r

def scram(mech):
    def f():
        cc = pymongo.MongoClient(auth + "&authMechanism=" + mech, serverSelectionTimeoutMS=10000)
        r = cc.admin.command("connectionStatus")
        users = r["authInfo"]["authenticatedUsers"]
        cc.close()
        if users != [{"user": "cairn", "db": "admin"}]:
            return "authenticated as %r" % users
    return f

def wrong_password():
    cc = pymongo.MongoClient("127.0.0.1", port, username="cairn", password="pa:ss w@rD",
                             serverSelectionTimeoutMS=10000)
    try:
        cc.admin.command("ping")
    except pymongo.errors.OperationFailure as e:
        if e.code == 18 and e.details.get("codeName") == "AuthenticationFailed":
            return None
        return "code %r %r" % (e.code, e.details)
    return "a wrong password was accepted"

def unauthenticated():
    cc = pymongo.MongoClient(plain, serverSelectionTimeoutMS=10000)
    try:
        cc.fixture.command("listCollections")
    except pymongo.errors.OperationFailure as e:
        if e.code == 13:
            return None
        return "code %r" % e.code
    return "listCollections without authentication succeeded"

def dup_id_ordered():
    db.dup.drop()
    r = db.command(SON([("insert", "dup"), ("documents", [{"_id": 1}, {"_id": 1}, {"_id": 2}])]))
    we = r.get("writeErrors", [])
    if r["n"] != 1 or len(we) != 1 or we[0]["index"] != 1 or we[0]["code"] != 11000:
        return "ordered insert: %r" % r
    if we[0].get("keyPattern") != {"_id": 1} or we[0].get("keyValue") != {"_id": 1} or \
            "E11000 duplicate key error collection: fixture.dup index: _id_" not in we[0]["errmsg"]:
        return "write error shape: %r" % we[0]
    if db.dup.count_documents({}) != 1:
        return "an ordered insert went on after the error"

def dup_id_unordered():
    try:
        db.dup.insert_many([{"_id": 1}, {"_id": 3}, {"_id": 3}, {"_id": 4}], ordered=False)
    except pymongo.errors.BulkWriteError as e:
        d = e.details
        if d["nInserted"] == 2 and [w["index"] for w in d["writeErrors"]] == [0, 2]:
            return None
        return "unordered: %r" % d
    return "no duplicate-key error"

def dup_unique_index():
    db.uq.drop()
    db.uq.create_index("email", unique=True)
    db.uq.insert_one({"_id": 1, "email": "a@b"})
    try:
        db.uq.insert_one({"_id": 2, "email": "a@b"})
    except pymongo.errors.DuplicateKeyError as e:
        if e.code == 11000 and e.details.get("keyPattern") == {"email": 1} and \
                "index: email_1 dup key: { email: \"a@b\" }" in e.details["errmsg"]:
            return None
        return "details %r" % e.details
    return "a duplicate email was accepted"

def unique_index_on_existing():
    db.uq2.drop()
    db.uq2.insert_many([{"_id": 1, "k": 5}, {"_id": 2, "k": 5.0}])
    try:
        db.uq2.create_index("k", unique=True)
    except pymongo.errors.OperationFailure as e:
        return None if e.code == 11000 else "code %r" % e.code
    return "a unique index over 5 and 5.0 was built"

def find_batches():
    db.many.drop()
    db.many.insert_many([{"_id": i} for i in range(100)])
    r = db.command(SON([("find", "many"), ("batchSize", 7)]))
    cur = r["cursor"]
    if len(cur["firstBatch"]) != 7 or not cur["id"] or cur["ns"] != "fixture.many":
        return "first batch %d, id %r, ns %r" % (len(cur["firstBatch"]), cur["id"], cur["ns"])
    r = db.command(SON([("getMore", cur["id"]), ("collection", "many"), ("batchSize", 50)]))
    nb = r["cursor"]["nextBatch"]
    if len(nb) != 50 or nb[0]["_id"] != 7 or r["cursor"]["id"] != cur["id"]:
        return "getMore gave %d from %r" % (len(nb), nb[:1])
    r = db.command(SON([("getMore", cur["id"]), ("collection", "many")]))
    if len(r["cursor"]["nextBatch"]) != 43 or r["cursor"]["id"] != 0:
        return "the last getMore: %d, id %r" % (len(r["cursor"]["nextBatch"]), r["cursor"]["id"])
    r = db.command(SON([("find", "many"), ("limit", 3), ("sort", {"_id": -1})]))
    ids = [d["_id"] for d in r["cursor"]["firstBatch"]]
    if ids != [99, 98, 97] or r["cursor"]["id"] != 0:
        return "limit+sort: %r id %r" % (ids, r["cursor"]["id"])
    n = sum(1 for _ in db.many.find(batch_size=9))
    return None if n == 100 else "pymongo iterated %d" % n

def getmore_killed():
    r = db.command(SON([("find", "many"), ("batchSize", 2)]))
    cid = r["cursor"]["id"]
    k = db.command(SON([("killCursors", "many"), ("cursors", [cid])]))
    if k["cursorsKilled"] != [cid]:
        return "killCursors: %r" % k
    try:
        db.command(SON([("getMore", cid), ("collection", "many")]))
    except pymongo.errors.OperationFailure as e:
        return None if e.code == 43 else "code %r" % e.code
    return "getMore on a killed cursor worked"

def raw_roundtrip():
    spec = importlib.util.spec_from_file_location("mongo_load", archive_py.replace("mongo_archive", "mongo_load"))
    ml = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ml)
    import random
    r = random.Random(3)
    docs = [ml.raw(ml.types_doc(i, r)) for i in range(300)] + [ml.raw_deprecated(k) for k in range(3)]
    docs.append(RawBSONDocument(bson.encode(SON([("_id", 7), ("z", -0.0), ("n", float("nan")),
                                                  ("i", Int64(1)), ("a", 1)])), codec_options=RAW))
    rc = c.get_database("fixture", codec_options=RAW).raw
    rc.drop()
    rc.insert_many(docs)
    got = [d.raw for d in rc.find(batch_size=17)]
    want = [d.raw for d in docs]
    if got != want:
        bad = next(i for i in range(min(len(got), len(want))) if got[i] != want[i]) if got else 0
        return "%d documents back for %d; first difference at %d" % (len(got), len(want), bad)
    # _id goes first, as mongod puts it
    rc.insert_one(RawBSONDocument(bson.encode(SON([("a", 1), ("_id", 8)]))))
    d = rc.find_one({"_id": 8}).raw
    if d != bson.encode(SON([("_id", 8), ("a", 1)])):
        return "_id not moved first: %r" % d

def kind1_and_too_large():
    # An unordered insert in a kind-1 sequence, built by hand (to the
    # server without authentication), with one document over 16 MiB.
    s = socket.create_connection(("127.0.0.1", open_port), timeout=30)
    cmd = bson.encode(SON([("insert", "k1"), ("ordered", False), ("$db", "fixture")]))
    small = bson.encode({"_id": 1, "x": "y"})
    big = bson.encode({"_id": 2, "pad": Binary(b"\0" * (16 * 1024 * 1024))})
    small2 = bson.encode({"_id": 3})
    seq = b"documents\0" + small + big + small2
    body = struct.pack("<I", 0) + b"\0" + cmd + b"\1" + struct.pack("<i", 4 + len(seq)) + seq
    rop, _, b = raw_msg(s, 2013, body)
    s.close()
    r = bson.decode(b[5:])
    we = r.get("writeErrors", [])
    if rop != 2013 or r.get("n") != 2 or len(we) != 1 or we[0]["index"] != 1 or we[0]["code"] != 2:
        return "kind-1 insert with a document too large: %r" % r
    rc = c.get_database("fixture", codec_options=RAW).k1
    r = db.command(SON([("insert", "k1"), ("documents", [RawBSONDocument(small)])]))
    if r["n"] != 1:
        return "insert in the body: %r" % r
    near = bson.encode({"_id": 3, "pad": Binary(b"\1" * (16 * 1024 * 1024 - 100))})
    rc.insert_one(RawBSONDocument(near))
    got = rc.find_one({"_id": 3})
    if got is None or got.raw != near:
        return "the document near 16 MiB did not come back"

def list_collections():
    db.drop_collection("lc_c")
    db.create_collection("lc_c", capped=True, size=1000, max=10)
    db.command(SON([("create", "lc_v"), ("viewOn", "lc_c"), ("pipeline", [])]))
    infos = {i["name"]: i for i in db.list_collections()}
    cap = infos.get("lc_c")
    if not cap or cap["options"] != {"capped": True, "size": 1024, "max": 10}:
        return "capped options %r" % (cap and cap["options"])
    if not isinstance(cap["info"]["uuid"], uuid.UUID) or cap["idIndex"]["name"] != "_id_":
        return "info %r" % cap
    if infos.get("lc_v", {}).get("type") != "view":
        return "view listed as %r" % infos.get("lc_v")
    names = [i["name"] for i in db.list_collections(filter={"type": "view"})]
    if names != ["lc_v"]:
        return "filter type view: %r" % names
    r = db.command(SON([("listCollections", 1), ("nameOnly", True), ("filter", {"name": "lc_c"})]))
    if r["cursor"]["firstBatch"] != [{"name": "lc_c", "type": "collection"}]:
        return "nameOnly: %r" % r["cursor"]["firstBatch"]

def error_codes():
    for cmd, code in ((SON([("nosuchcommand", 1)]), 59), (SON([("listIndexes", "nope")]), 26),
                      (SON([("drop", "nope")]), 26), (SON([("create", "lc_c")]), 48),
                      (SON([("listIndexes", "lc_v")]), 166),
                      (SON([("find", "many"), ("hint", "nope_1")]), 2),
                      (SON([("createIndexes", "many"), ("indexes", [{"key": {"a": 1},
                                                                      "name": "a_1", "bogus": 1}])]), 197)):
        try:
            db.command(cmd)
        except pymongo.errors.OperationFailure as e:
            if e.code != code or "codeName" not in e.details or "errmsg" not in e.details:
                return "%r: %r" % (cmd, e.details)
            continue
        return "%r succeeded" % cmd
    # as mongorestore sends them: unknown index fields dropped, "ns" and no "v"
    db.command(SON([("createIndexes", "many"), ("ignoreUnknownIndexOptions", True),
                    ("indexes", [{"key": {"a": 1}, "name": "a_1", "bogus": 1,
                                  "ns": "fixture.many"}])]))
    spec = [i for i in db.many.list_indexes() if i["name"] == "a_1"]
    if spec != [{"v": 2, "key": {"a": 1}, "name": "a_1"}]:
        return "the index mongorestore-style: %r" % spec
    if [d["_id"] for d in db.many.find(hint="_id_", limit=2)] != [0, 1]:
        return "hint _id_"

def count_helpers():
    if db.many.count_documents({}) != 100 or db.many.count_documents({"_id": {"$gte": 90}}) != 10:
        return "count_documents"
    if db.many.estimated_document_count() != 100:
        return "estimated_document_count"
    if db.command("count", "many", query={"_id": {"$lt": 5}})["n"] != 5:
        return "count"

def close_after_docs():
    c.admin.command(SON([("configureFailPoint", "closeConnectionAfterDocs"), ("mode", "alwaysOn"),
                         ("data", {"docs": 30})]))
    n = 0
    try:
        for _ in db.many.find(batch_size=20):
            n += 1
    except pymongo.errors.AutoReconnect:
        pass
    else:
        return "the cursor ran to its end (%d documents)" % n
    if n != 30:
        return "the connection dropped after %d documents, not 30" % n
    c.admin.command(SON([("configureFailPoint", "closeConnectionAfterDocs"), ("mode", "off")]))
    n = sum(1 for _ in db.many.find(batch_size=20))
    return None if n == 100 else "after off: %d documents" % n

def crc64_known():
    spec = importlib.util.spec_from_file_location("mongo_archive", archive_py)
    ma = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ma)
    a = ma.CRC64()
    a.update(b"1234")
    a.update(b"56789")
    ma.CRC64._fast, ma.CRC64._tab = None, ma._table()
    b = ma.CRC64()
    b.update(b"123456789")
    if a.value() != 0x995DC9BBDF1939FA or b.value() != 0x995DC9BBDF1939FA:
        return "crc64 gave 0x%x / 0x%x" % (a.value(), b.value())

def archive_corrupt():
    import subprocess, os, tempfile
    d = tempfile.mkdtemp()
    f = os.path.join(d, "a")
    subprocess.check_call([sys.executable, archive_py, "write", auth, "--db", "fixture",
                           "--out", f])
    subprocess.check_call([sys.executable, archive_py, "check", "--quiet", f])
    data = bytearray(open(f, "rb").read())
    # flip one byte of an _id in the many collection (still valid BSON, so
    # only the CRC can tell)
    i = data.index(bson.encode({"_id": 42})[4:-1])
    data[i + 6] ^= 0x01
    open(f, "wb").write(data)
    p = subprocess.run([sys.executable, archive_py, "check", "--quiet", f], capture_output=True,
                       text=True)
    if p.returncode != 1 or "CRC mismatch for fixture.many" not in p.stderr:
        return "check of a damaged archive: exit %d, %r" % (p.returncode, p.stderr)

for name, fn in [("hello-limits", hello_limits), ("legacy-op-query", legacy_op_query),
                 ("op-query-other", op_query_other), ("scram-sha-256", scram("SCRAM-SHA-256")),
                 ("scram-sha-1", scram("SCRAM-SHA-1")), ("wrong-password", wrong_password),
                 ("unauthenticated", unauthenticated), ("dup-id-ordered", dup_id_ordered),
                 ("dup-id-unordered", dup_id_unordered), ("dup-unique-index", dup_unique_index),
                 ("unique-index-on-existing", unique_index_on_existing),
                 ("find-batches", find_batches), ("getmore-killed", getmore_killed),
                 ("raw-roundtrip", raw_roundtrip), ("kind1-and-too-large", kind1_and_too_large),
                 ("list-collections", list_collections), ("error-codes", error_codes),
                 ("count-helpers", count_helpers), ("close-after-docs", close_after_docs),
                 ("crc64-known", crc64_known), ("archive-corrupt", archive_corrupt)]:
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

# The loader, the digest and the archive tools end to end: load, dump
# twice (stable), write archives (plain and interleaved), digest them, and
# restore one into a second server.
P=$MONGO_PYTHON
timeout 300 "$P" "$MONGO_LOAD_PY" load "$AUTH" --scale 0.05 >"$T/load.out" 2>"$T/load.err"
check "mongo_load.py loads the test data" grep -q '^total ' "$T/load.out" || diag "$T/load.err"
timeout 120 "$P" "$MONGO_LOAD_PY" dump "$AUTH" --db cairn_a --db cairn_b >"$T/d1" 2>&1
timeout 120 "$P" "$MONGO_LOAD_PY" dump "$AUTH" --db cairn_a --db cairn_b >"$T/d2" 2>&1
check_same "two dumps agree" "$T/d1" "$T/d2" "collection cairn_a.types" "type view" "count 1020"
timeout 120 "$P" "$MONGO_ARCHIVE_PY" write "$AUTH" --db cairn_a --db cairn_b --out "$T/a1" 2>"$T/w.err" &&
	timeout 120 "$P" "$MONGO_ARCHIVE_PY" write "$AUTH" --db cairn_a --db cairn_b --interleave 77 --out "$T/a2" 2>>"$T/w.err"
timeout 120 "$P" "$MONGO_ARCHIVE_PY" digest "$T/a1" >"$T/d3" 2>&1
check_same "an archive's digest equals the server's" "$T/d1" "$T/d3" "index"
timeout 120 "$P" "$MONGO_ARCHIVE_PY" digest "$T/a2" >"$T/d4" 2>&1
check_same "an interleaved archive's too" "$T/d1" "$T/d4" "sha256"
timeout 300 "$P" "$MONGO_ARCHIVE_PY" restore "$OPEN" "$T/a2" >"$T/r.out" 2>&1 || diag "$T/r.out"
timeout 120 "$P" "$MONGO_LOAD_PY" dump "$OPEN" --db cairn_a --db cairn_b >"$T/d5" 2>&1
check_same "a restored archive gives the same digest" "$T/d1" "$T/d5" "count"
