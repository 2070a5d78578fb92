#!/bin/bash
# mongo_restore.sh - the mongo source's round trip against the MongoDB test
# server (tests/fixtures/mongod): two databases, ~50,000 documents of every
# BSON type with one near 16 MB, secondary, unique, sparse, partial and TTL
# indexes, a capped collection, a validator with a collation, a view.
# Backup, drop, restore: the same documents byte for byte in the same
# order, the same options and indexes.  Then the refusals, drop = yes, a
# renamed restore, a one-collection restore and verify --restore-test (each
# collection's line at -v).
. "$top_srcdir/tests/integration/lib.sh"
need_plugin mongo local
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
plan 34

PY=/usr/bin/python3
LOAD="$PY $MONGO_LOAD_PY"
ARC="$PY $MONGO_ARCHIVE_PY"
mongo_start --auth "bob:pa ss%word" || exit 99
AUTH=$MONGO_AUTH_URI
# the user in the uri, the password from a file
BASE_URI="mongodb://bob@127.0.0.1:$MONGO_PORT/?authSource=admin&serverSelectionTimeoutMS=5000"
printf 'pa ss%%word\n' >"$T/pw"

# cairn with a time limit (lib.sh's cairn is a function timeout cannot run)
tcairn() { timeout 180 "$CAIRN" -c "$T/cairn.ini" "$@"; }

write_mongo_ini() {
	{
		printf '[cairn]\nstate_dir = state\n\n'
		printf '[source db]\nplugin = mongo\nuri = %s\npassword_file = pw\n' "$BASE_URI"
		printf '\n[sink here]\nplugin = local\npath = store\nfsync = no\n'
		printf '\n[job m]\nsources = db\nsinks = here\n'
	} >"$T/cairn.ini"
}
write_mongo_ini
cd "$T" || exit 99

timeout 120 $LOAD load "$AUTH" >"$T/load.out" 2>&1 || {
	diag "$T/load.out"
	exit 99
}
timeout 60 $LOAD dump "$AUTH" >"$T/before" || exit 99
sed -n '/^database cairn_b$/,$p' "$T/before" >"$T/before_b"
grep -q '^collection cairn_b.orders' "$T/before_b" || exit 99

# count DB COLL: the number of documents the server says it holds
count() { mongo_cmd "$AUTH" "$1" "{\"count\": \"$2\"}" | jq .n; }

# ---------------------------------------------------------------- backup
check_exit "backup of two databases" 0 tcairn backup m
id=$(newest_id store m)
obj=store/m/$id/db.archive.zst
zstd -dcq "$obj" >"$T/a.archive"
check "the archive parses with the independent reader (CRCs checked) and holds what the server holds" \
	bash -c "timeout 60 $ARC digest '$T/a.archive' >'$T/adigest'"
check_same "archive digest equals the server's" "$T/before" "$T/adigest" "cairn_a.big" "count 15000"
man=store/m/$id/manifest.json
check "manifest: documents per collection" \
	test "$(jq '.sources[0].stats["documents.cairn_a.people"]' "$man")" = 15000
check "manifest: bytes per collection and the server version" \
	test "$(jq '.sources[0].stats["bytes.cairn_b.empty"], .sources[0].stats["server_version.major"]' "$man" | tr '\n' ' ')" = "0 6 "
check "the password is nowhere in the store or the state" bash -c "! grep -rqF 'pa ss' store state"
check_exit "verify --deep" 0 tcairn verify m --deep

# ---------------------------------------------------------------- restore
mongo_cmd "$AUTH" cairn_a '{"dropDatabase": 1}' >/dev/null &&
	mongo_cmd "$AUTH" cairn_b '{"dropDatabase": 1}' >/dev/null || exit 99
check_exit "restore into the emptied server" 0 tcairn restore m
timeout 60 $LOAD dump "$AUTH" >"$T/after"
check_same "byte-identical documents in the same order, same options and indexes" \
	"$T/before" "$T/after" "created_ttl" "capped" "collation" "viewOn" "sha256"

check_exit "a second restore is refused: the targets are not empty" 8 tcairn restore m
err_has "holds"
err_has "--force"
check "the refused restore wrote nothing" test "$(count cairn_a people)" = 15000
check_exit "--force into the full collection: every duplicate is a failure" 1 \
	tcairn restore m --force --set include=cairn_b.orders
err_has "cairn_b.orders: 12000 of 12000 documents were refused"
err_has "duplicate key"

check_exit "restore --set drop=yes replaces them" 0 tcairn restore m --set drop=yes
check "drop = yes: as many documents as before, not twice as many" \
	test "$(count cairn_a types) $(count cairn_b orders)" = "20020 12000"

# ---------------------------------------------------------- renamed restore
check_exit "renamed restore cairn_b.* -> cairn_r.*" 0 \
	tcairn restore m --set 'ns_from=cairn_b.*' --set 'ns_to=cairn_r.*' --set 'include=cairn_b.*'
timeout 60 $LOAD dump "$AUTH" --db cairn_b | sed 's/cairn_b/cairn_r/g' >"$T/want_r"
timeout 60 $LOAD dump "$AUTH" --db cairn_r >"$T/got_r"
check_same "the renamed copy equals cairn_b" "$T/want_r" "$T/got_r" "cairn_r.orders" "cairn_r.a.b"
check "the renamed restore left cairn_b as it was" \
	bash -c "timeout 60 $LOAD dump '$AUTH' --db cairn_b | cmp -s - '$T/before_b'"

# ------------------------------------------------------ one-collection restore
mongo_cmd "$AUTH" cairn_b '{"drop": "orders"}' >/dev/null || exit 99
check_exit "restore of one collection (include = cairn_b.orders)" 0 \
	tcairn restore m --set include=cairn_b.orders
timeout 60 $LOAD dump "$AUTH" --db cairn_b >"$T/after3"
check_same "only cairn_b.orders came back, as it was" "$T/before_b" "$T/after3" "cairn_b.orders"
check_exit "include that matches nothing fails" 1 tcairn restore m --set include=nope.nothing
err_has "no collection of the archive is selected"

# --------------------------------------------------------- restore test
check_exit "verify --restore-test" 0 tcairn -v verify m --restore-test
out_has "restore-tested"
err_has "cairn_a.people: 15000 documents, 6 indexes, as in the backup"
err_has "cairn_b.orders: 12000 documents, 2 indexes, as in the backup"
err_has "cairn_a.adults: a view, as in the backup"
err_has "collectionsVerified: "
mongo_cmd "$AUTH" admin '{"listDatabases": 1, "nameOnly": true}' >"$T/dbs"
check "the test restore's databases are gone" bash -c "! grep -q cairn_rt_ '$T/dbs'"
check "the real databases are still there" grep -q '"cairn_r"' "$T/dbs"
check "the test restore left the real data alone" \
	test "$(count cairn_a people) $(count cairn_r orders)" = "15000 12000"
