#!/bin/bash
# mongo_indexes.sh - indexes come back as they were, and the test restore
# checks them.  A collection with a default collation (en, strength 2)
# holds a unique index made with the simple collation over "bob" and "Bob",
# one inheriting the collection's and one with a collation of its own; a
# second collection holds an index of every other option.  Backed up by
# cairn and written by the tests' mongodump-style writer, each restored:
# listIndexes must equal what it was before (issue 15, item 5).  Then
# verify --restore-test: one line per collection and collectionsVerified
# at -v, nothing at the default level, and a server that loses an index
# option (the fixture's createIndexesIgnoreOption) fails it.
. "$top_srcdir/tests/integration/lib.sh"
need_plugin mongo local
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
plan 33

PY=/usr/bin/python3
ARC="$PY $MONGO_ARCHIVE_PY"
mongo_start || exit 99
URI=$MONGO_URI
cd "$T" || exit 99

tcairn() { timeout 120 "$CAIRN" -c "$T/cairn.ini" "$@"; }
# write_mongo_ini [KEY = VALUE]...: source db, sink here in store, job m
write_mongo_ini() {
	{
		printf '[cairn]\nstate_dir = state\n\n'
		printf '[source db]\nplugin = mongo\nuri = %s/?serverSelectionTimeoutMS=5000\n' "$URI"
		printf 'databases = cairn_i\n'
		for kv in "$@"; do
			printf '%s\n' "$kv"
		done
		printf '\n[sink here]\nplugin = local\npath = store\nfsync = no\n'
		printf '\n[job m]\nsources = db\nsinks = here\n'
	} >"$T/cairn.ini"
}
# replace_object ID FILE: FILE (a raw archive) becomes set ID's object,
# with the manifest's sizes and SHA-256 to match
replace_object() {
	local dir=store/m/$1 sha size raw
	zstd -q -3 -f -o "$dir/db.archive.zst" "$2" || return 1
	sha=$(sha256sum "$dir/db.archive.zst" | cut -d' ' -f1)
	size=$(stat -c %s "$dir/db.archive.zst")
	raw=$(stat -c %s "$2")
	jq --arg sha "$sha" --argjson size "$size" --argjson raw "$raw" \
		'.sources[0].sha256 = $sha | .sources[0].stored_bytes = $size | .sources[0].raw_bytes = $raw' \
		"$dir/manifest.json" >"$dir/manifest.new" && mv "$dir/manifest.new" "$dir/manifest.json"
}
# indexes: every collection's options and indexes in cairn_i, one line
# each, as canonical Extended JSON in the server's field order
indexes() {
	timeout 30 $PY -c '
import sys
from bson import json_util
from bson.json_util import JSONOptions, JSONMode
import pymongo
J = JSONOptions(json_mode=JSONMode.CANONICAL)
d = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000).cairn_i
for info in sorted(d.list_collections(), key=lambda i: i["name"]):
    print("collection", info["name"], json_util.dumps(info.get("options"), json_options=J))
    if info.get("type") == "view":
        continue
    for i in sorted(d[info["name"]].list_indexes(), key=lambda i: i["name"]):
        print("index", info["name"], json_util.dumps(i, json_options=J))
' "$URI"
}
count() { mongo_cmd "$URI" cairn_i "{\"count\": \"$1\"}" | jq .n; }
dropdb() { mongo_cmd "$URI" cairn_i '{"dropDatabase": 1}' >/dev/null; }
failpoint() {
	mongo_cmd "$URI" admin "{\"configureFailPoint\": \"createIndexesIgnoreOption\", $1}" >/dev/null
}

# ------------------------------------------------------------- the data
load() {
	timeout 60 $PY - "$URI" <<'EOF'
import sys
from bson.son import SON
import pymongo
d = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000).cairn_i
d.command(SON([("create", "users"), ("collation", {"locale": "en", "strength": 2})]))
d.command(SON([("createIndexes", "users"), ("indexes", [
    SON([("key", {"name": 1}), ("name", "name_simple"), ("unique", True),
         ("collation", {"locale": "simple"})]),
    SON([("key", {"email": 1}), ("name", "email_1"), ("unique", True)]),
    SON([("key", {"nick": 1}), ("name", "nick_fr"),
         ("collation", SON([("locale", "fr"), ("strength", 1)]))]),
])]))
d.users.insert_many([{"_id": 1, "name": "bob", "email": "a@x", "nick": "b"},
                     {"_id": 2, "name": "Bob", "email": "b@x", "nick": "B"}])
d.command(SON([("create", "opts")]))
d.command(SON([("createIndexes", "opts"), ("indexes", [
    SON([("key", {"a": 1}), ("name", "a_unique_sparse"), ("unique", True), ("sparse", True)]),
    SON([("key", {"b": 1}), ("name", "b_partial"),
         ("partialFilterExpression", {"b": {"$gt": 5}})]),
    SON([("key", {"t": 1}), ("name", "t_ttl"), ("expireAfterSeconds", 3600)]),
    SON([("key", {"h": 1}), ("name", "h_hidden"), ("hidden", True)]),
    SON([("key", SON([("title", "text"), ("body", "text")])), ("name", "text"),
         ("weights", {"title": 10}), ("default_language", "german"),
         ("language_override", "lang")]),
    SON([("key", {"loc": "2dsphere"}), ("name", "loc_2dsphere")]),
    SON([("key", {"p": "2d"}), ("name", "p_2d"), ("bits", 20), ("min", -90), ("max", 90)]),
    SON([("key", {"$**": 1}), ("name", "wild"), ("wildcardProjection", {"w": 1})]),
    SON([("key", {"hh": "hashed"}), ("name", "hh_hashed")]),
    SON([("key", SON([("c", 1), ("d", -1)])), ("name", "my_compound")]),
    SON([("key", {"f": 1}), ("name", "f_fr"), ("collation", {"locale": "fr"})]),
])]))
d.command(SON([("create", "people"), ("collation", {"locale": "en", "strength": 2})]))
d.command(SON([("createIndexes", "people"), ("indexes", [
    SON([("key", {"nm": 1}), ("name", "nm_simple"), ("collation", {"locale": "simple"})]),
])]))
d.people.insert_many([{"_id": 1, "nm": "ann"}, {"_id": 2, "nm": "Ann"}])
d.command(SON([("create", "bobs"), ("viewOn", "users"),
              ("pipeline", [{"$match": {"name": "bob"}}])]))
d.opts.insert_many([{"_id": i, "a": i, "b": i, "t": i, "title": "x", "c": i, "d": -i, "f": "é"}
                    for i in range(10)])
EOF
}
load >load.out 2>&1 || {
	diag load.out
	exit 99
}
indexes >before || exit 99
check "fixture: the simple unique index lists no collation, the inherited one the collection's" \
	bash -c "grep name_simple before | grep -qv collation &&
		grep email_1 before | grep -q '\"locale\": \"en\"'"
mongo_cmd "$URI" cairn_i '{"insert": "users", "documents": [{"_id": 3, "name": "carol", "email": "A@X"}]}' >ins.out
check "fixture: the simple index told bob from Bob; the inherited one refuses A@X next to a@x" \
	grep -q 'E11000.*email_1' ins.out
check_exit "fixture: an index created without a collation on that collection inherits it" 0 \
	mongo_cmd "$URI" cairn_i '{"createIndexes": "users", "indexes": [{"key": {"z": 1}, "name": "z_1"}]}'
indexes >with_z
check "  and lists it" bash -c "grep '\"z_1\"' with_z | grep -q '\"strength\": {\"\$numberInt\": \"2\"}'"
mongo_cmd "$URI" cairn_i '{"dropIndexes": "users", "index": "z_1"}' >/dev/null || exit 99

# ------------------------------------------------- cairn's own archive
write_mongo_ini
check_exit "backup" 0 tcairn backup m
id=$(newest_id store m)
dropdb || exit 99
check_exit "restore into the emptied server" 0 tcairn restore m
indexes >after
check_same "every index as it was: the simple collation stays simple, every option kept" \
	before after "name_simple" "wildcardProjection" "partialFilterExpression" "2dsphereIndexVersion"
check "both bob and Bob are back" test "$(count users) $(count opts) $(count people)" = "2 10 2"

# ----------------------------------------------- mongodump's archive
timeout 60 $ARC write "$URI" --db cairn_i --out dump.archive || exit 99
check "mongodump's metadata has no collation for the simple index" \
	bash -c "timeout 60 $ARC check dump.archive >/dev/null &&
		grep -ao '\"name\":\"name_simple\"[^}]*}' dump.archive | grep -qv collation"
replace_object "$id" dump.archive || exit 99
dropdb || exit 99
check_exit "restore of the mongodump-format archive" 0 tcairn restore m --id "$id"
indexes >after_dump
check_same "every index as it was, from mongodump's metadata" before after_dump "name_simple" "f_fr"
check "both bob and Bob are back from it" test "$(count users)" = 2

# ------------------------------------------------------ the test restore
check_exit "verify --restore-test -v" 0 tcairn -v verify m --restore-test
err_has "cairn_i.users: 2 documents, 4 indexes, as in the backup"
err_has "cairn_i.opts: 10 documents, 12 indexes, as in the backup"
err_has "cairn_i.people: 2 documents, 2 indexes, as in the backup"
err_has "cairn_i.bobs: a view, as in the backup"
err_has "collectionsVerified: 3"
check_exit "verify --restore-test, not on a terminal" 0 tcairn verify m --restore-test
check "  is quiet when all is well" bash -c "! grep -q 'as in the backup\|collectionsVerified' '$T/err'"

failpoint '"mode": "alwaysOn", "data": {"option": "expireAfterSeconds"}' || exit 99
check_exit "a server that loses an index's expireAfterSeconds fails the test restore" 6 \
	tcairn verify m --restore-test
out_has "test restore: cairn_i.opts: index t_ttl: expireAfterSeconds is missing after the restore"
failpoint '"mode": "off"' || exit 99

failpoint '"mode": "alwaysOn", "data": {"option": "collation"}' || exit 99
write_mongo_ini "include = cairn_i.opts"
check_exit "backup of cairn_i.opts" 0 tcairn backup m
check_exit "a server that loses an index's own collation fails the test restore" 6 \
	tcairn verify m --restore-test
out_has "test restore: cairn_i.opts: index f_fr: collation is missing after the restore"
write_mongo_ini "include = cairn_i.people"
check_exit "backup of cairn_i.people" 0 tcairn backup m
check_exit "one that lets a simple index inherit the collection's collation fails it" 6 \
	tcairn verify m --restore-test
out_has "test restore: cairn_i.people: index nm_simple: the backup has the simple collation, the restored index { \"collation\" : { \"locale\" : \"en\""
failpoint '"mode": "off"' || exit 99
mongo_cmd "$URI" admin '{"configureFailPoint": "createIgnoreOption", "mode": "alwaysOn", "data": {"option": "pipeline"}}' >/dev/null || exit 99
write_mongo_ini "include = cairn_i.bobs"
check_exit "backup of the view cairn_i.bobs" 0 tcairn backup m
check_exit "a server that loses a view's pipeline fails the test restore" 6 \
	tcairn verify m --restore-test
out_has "test restore: cairn_i.bobs: its option pipeline differs: the backup has { \"pipeline\" : [ { \"\$match\" : { \"name\" : \"bob\" } } ] }, the restored one { \"pipeline\" : [  ] }"
mongo_cmd "$URI" admin '{"configureFailPoint": "createIgnoreOption", "mode": "off"}' >/dev/null || exit 99
mongo_cmd "$URI" admin '{"listDatabases": 1, "nameOnly": true}' >dbs
check "the failed test restores left no database behind" bash -c "! grep -q cairn_rt_ dbs && grep -q cairn_i dbs"
check_exit "and with the server well again, it passes" 0 tcairn verify m --restore-test
