#!/bin/bash
# mongo_follow_core.sh - the mongo source's change log through the core:
# a backup of a replica-set member records its oplog position in the
# manifest (start; with oplog = yes also end); `cairn follow` on a
# standalone fails naming the URI; on a replica-set member it stores the
# source's oplog entries in segments (JOB/log/SOURCE/*.bson) that python's
# bson reads as the server's entries after the base's position, byte for
# byte, nothing twice; SIGTERM stops it with exit 0.  (The whole point in
# time recovery is tests/integration/pitr_mongo.sh; the plugin's own
# refusal of a standalone is checked in mongo_follow.sh.)
. "$top_srcdir/tests/integration/lib.sh"
need_plugin mongo local
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
command -v jq >/dev/null || {
	echo "1..0 # SKIP needs jq"
	exit 0
}
plan 13

PY=$MONGO_PYTHON
cd "$T" || exit 99
write_ini() { # URI [KEY = VALUE]...
	local uri=$1
	shift
	{
		printf '[cairn]\nstate_dir = state\n\n[source db]\nplugin = mongo\nuri = %s\n' "$uri"
		printf 'databases = shop\n'
		for kv in "$@"; do
			printf '%s\n' "$kv"
		done
		printf '\n[sink here]\nplugin = local\npath = store\nfsync = no\n'
		printf '\n[job m]\nsources = db\nsinks = here\ncompression = none\nsegment_span = 1s\n'
	} >"$T/cairn.ini"
}
tcairn() { timeout 120 "$CAIRN" -c "$T/cairn.ini" "$@"; }
some_writes() { # URI TAG
	timeout 60 "$PY" - "$1" "$2" <<'EOF'
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
t = sys.argv[2]
c.shop.orders.insert_many([{"_id": t + str(k)} for k in range(4)])
c.shop.orders.update_one({"_id": t + "1"}, {"$set": {"x": 1}})
c.shop.orders.delete_one({"_id": t + "2"})
c.other.x.insert_one({"_id": t})
c.shop.create_collection("c" + t)
c.shop["c" + t].create_index("k")
EOF
}
newest() {
	"$PY" -c '
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
e = next(iter(c.local["oplog.rs"].find({}, sort=[("$natural", -1)], limit=1)))
print("%d:%d" % (e["ts"].time, e["ts"].inc))' "$1"
}
manifest() { ls store/m/*/manifest.json | sort | tail -n 1; }
# covered T:I: a segment manifest reaches the position
covered() {
	local t=${1%%:*} i=${1#*:}
	jq -s --argjson t "$t" --argjson i "$i" \
		'map(.to.pos | split(":") | map(tonumber) | select(.[0] > $t or (.[0] == $t and .[1] >= $i))) | length > 0' \
		store/m/log/db/*.json 2>/dev/null | grep -qx true
}

# ---------------------------------------------------------- a standalone
mongo_start || exit 99
write_ini "$MONGO_URI/"
# (the core stops before follow() is called: the base it takes first
# records no log position, and it says what the source needs)
check_exit "follow on a standalone fails" 1 timeout 60 "$CAIRN" -c "$T/cairn.ini" follow m
check "it says why and what to do" grep -q 'cannot be followed: .*a replica set member, not a standalone server' "$T/err"
check "no segment is stored" test ! -e store/m/log

# ------------------------------------------------ positions in the manifest
mongo_start --replset rs0 --noop-interval 1 || exit 99
RS=$MONGO_URI
some_writes "$RS" a >/dev/null
write_ini "$RS/"
check_exit "a backup of a replica-set member" 0 tcairn backup m
check "its manifest holds the start position as T:I" \
	bash -c "jq -r '.sources[0].log.start.pos' $(manifest) | grep -qE '^[0-9]+:[0-9]+$'"
check "... and no end without oplog = yes" \
	bash -c "test \"\$(jq -r '.sources[0].log.end // \"none\"' $(manifest))\" = none"
write_ini "$RS/" "oplog = yes"
check_exit "a backup with oplog = yes" 0 tcairn backup m
check "its manifest holds start and end" \
	bash -c "jq -e '.sources[0].log.start.pos and .sources[0].log.end.pos' $(manifest) >/dev/null"
BASE=$(jq -r '.sources[0].log.start.pos' "$(manifest)")

# --------------------------------------------------------------- follow
"$CAIRN" -c "$T/cairn.ini" follow m >"$T/f.out" 2>"$T/f.err" &
F=$!
some_writes "$RS" b >/dev/null
LAST=$(newest "$RS")
check "the follower stores segments up to the last write" wait_for 60 covered "$LAST" ||
	diag "$T/f.err"
kill -TERM "$F"
wait "$F"
check "SIGTERM stops it with exit 0" test $? = 0 || diag "$T/f.err"
check "segments are named .bson" bash -c "ls store/m/log/db/*.bson >/dev/null"
check "the segments hold the source's entries after the base, byte for byte, once each" \
	"$PY" - "$RS" "$BASE" store/m/log/db <<'EOF'
import sys, os, pymongo, bson
from bson.raw_bson import RawBSONDocument
from bson.codec_options import CodecOptions
from bson.timestamp import Timestamp
uri, base, d = sys.argv[1:4]
t, i = map(int, base.split(":"))
raw = CodecOptions(document_class=RawBSONDocument)
got = []
for name in sorted(f for f in os.listdir(d) if f.endswith(".bson")):
    got += bson.decode_all(open(os.path.join(d, name), "rb").read(), raw)
c = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
want = []
for e in c.get_database("local", codec_options=raw)["oplog.rs"].find(
        {"ts": {"$gt": Timestamp(t, i), "$lte": got[-1]["ts"]}}):
    if e["op"] in "iud" and e["ns"].startswith("shop."):
        want.append(e)
    elif e["op"] == "c" and e["ns"] == "shop.$cmd":
        want.append(e)
assert [e.raw for e in got] == [e.raw for e in want], (len(got), len(want))
for e in got:
    assert {"ts", "op", "ns", "o"} <= set(e.keys())
EOF
check "the follower said nothing went wrong" bash -c "! grep -qi error '$T/f.err'" || diag "$T/f.err"
