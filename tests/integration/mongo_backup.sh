#!/bin/bash
# mongo_backup.sh - the mongo source's failures and its format against the
# MongoDB test server (tests/fixtures/mongod): a wrong password, an
# unreachable server and a connection dropped mid-dump each fail the
# backup and leave no set; the password never shows; a one-collection
# backup; the archive read by the tests' independent reader and written by
# its independent writer (mongodump's interleaved segments) both ways; a
# corrupted byte fails verify --deep; a failing test restore leaves no
# database behind.  (The big round trip is mongo_restore.sh.)
. "$top_srcdir/tests/integration/lib.sh"
need_plugin mongo local
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
plan 32

PY=/usr/bin/python3
LOAD="$PY $MONGO_LOAD_PY"
ARC="$PY $MONGO_ARCHIVE_PY"
PW='Tr0ub4dor&3'
mongo_start --auth "bob:$PW" || exit 99
A_AUTH=$MONGO_AUTH_URI
A_PORT=$MONGO_PORT
A_URI="mongodb://bob@127.0.0.1:$A_PORT/?authSource=admin&serverSelectionTimeoutMS=5000"
cd "$T" || exit 99
printf '%s\n' "$PW" >pw
chmod 600 pw

tcairn() { timeout 120 "$CAIRN" -c "$T/cairn.ini" "$@"; }
# write_mongo_ini URI [KEY = VALUE]...: source db over URI (password from
# the file pw), sink here in store, job m
write_mongo_ini() {
	local uri=$1
	shift
	{
		printf '[cairn]\nstate_dir = state\n\n'
		printf '[source db]\nplugin = mongo\nuri = %s\npassword_file = pw\n' "$uri"
		for kv in "$@"; do
			printf '%s\n' "$kv"
		done
		printf '\n[sink here]\nplugin = local\npath = store\nfsync = no\n'
		printf '\n[job m]\nsources = db\nsinks = here\n'
	} >"$T/cairn.ini"
}
nsets() { ls store/m 2>/dev/null | grep -cE '^[0-9]{8}T[0-9]{6}Z$'; }
# leftovers: anything in the store but complete sets and the lock
leftovers() { find store -mindepth 2 ! -name .lock ! -path 'store/m/2*' | grep -c .; }
# replace_object ID FILE: make FILE (a raw archive) set ID's stored object,
# compressed, with the manifest's sizes and SHA-256 to match, so that the
# core's checks pass and only the plugin can find what is wrong with it
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

timeout 60 $LOAD load "$A_AUTH" --scale 0.1 --no-big >"$T/load.out" 2>&1 || {
	diag "$T/load.out"
	exit 99
}
timeout 60 $LOAD dump "$A_AUTH" >"$T/before" || exit 99

# ----------------------------------------------------------- failures
printf 'wrong-password\n' >pw.bad
write_mongo_ini "$A_URI"
sed -i 's/^password_file = pw$/password_file = pw.bad/' cairn.ini
check_exit "a wrong password fails the backup" 1 tcairn backup m
err_has "authentication failed"
err_has "127.0.0.1:$A_PORT"
check "no set after the refused login" test "$(nsets)" = 0
check "the wrong password is not in the message" bash -c "! grep -q wrong-password '$T/err'"

free_port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_mongo_ini "mongodb://bob@127.0.0.1:$free_port/?serverSelectionTimeoutMS=2000&connectTimeoutMS=2000"
check_exit "an unreachable server fails the backup" 1 tcairn backup m
err_has "cannot connect"
err_has "127.0.0.1:$free_port"
check "no set and nothing else in the store" test "$(nsets) $(leftovers)" = "0 0"

# --------------------------------------------------------------- backup
write_mongo_ini "$A_URI"
check_exit "backup (-vv)" 0 "$CAIRN" -vv -c cairn.ini backup m
check "the password is nowhere: not in the output, the store, the state" \
	bash -c "! grep -rqF '$PW' '$T/out' '$T/err' store state"
id=$(newest_id store m)
zstd -dcq "store/m/$id/db.archive.zst" >a.archive
check "the independent reader accepts the archive (every header, every CRC)" \
	bash -c "timeout 60 $ARC check a.archive >check.out"
timeout 60 $ARC digest a.archive >adigest
check_same "and finds the server's data in it" before adigest "count" "index"
check_exit "verify --deep" 0 tcairn verify m --deep

write_mongo_ini "$A_URI" "include = cairn_b.orders"
check_exit "backup of one collection" 0 tcairn backup m
id1=$(newest_id store m)
zstd -dcq "store/m/$id1/db.archive.zst" | timeout 60 $ARC check - >one.out
check "it holds cairn_b.orders alone" \
	test "$(grep -v '^header' one.out | cut -d' ' -f1 | tr '\n' ' ')" = "cairn_b.orders "
write_mongo_ini "$A_URI" "databases = cairn_b nosuchdb"
check_exit "a database that gives nothing is a warning" 0 tcairn backup m
err_has "database nosuchdb has no collection to back up"

# -------------------------------------------- connection dropped mid-dump
write_mongo_ini "$A_URI"
before_sets=$(nsets)
mongo_close_after "$A_AUTH" 700
check_exit "a connection dropped mid-dump fails the backup" 1 tcairn backup m
err_has "failed after"
mongo_close_after "$A_AUTH" off
check "no new set and no leftovers" test "$(nsets) $(leftovers)" = "$before_sets 0"

# ---------------------------------------------------- a corrupted byte
cp a.archive bad.archive
# flip the first value byte of the first document of the first block:
# still well-formed BSON, so only the CRC can tell
$PY - bad.archive <<'EOF' || exit 99
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
p = 4
p += struct.unpack_from("<i", b, p)[0]                   # header
while struct.unpack_from("<I", b, p)[0] != 0xFFFFFFFF:  # prelude
    p += struct.unpack_from("<i", b, p)[0]
p += 4
p += struct.unpack_from("<i", b, p)[0]                   # block header
t = b[p + 4]                                            # first element
k = b.index(0, p + 5) + 1                               # its value
if t == 2:
    k += 4                                              # a string's first byte
elif t not in (1, 7, 0x10, 0x12):
    raise SystemExit("unexpected first element type %d" % t)
b[k] ^= 0x01
open(sys.argv[1], "wb").write(b)
EOF
replace_object "$id" bad.archive || exit 99
check_exit "verify of the corrupted set passes the core's checks" 0 tcairn verify m --id "$id"
check_exit "verify --deep finds the corrupted byte" 6 tcairn verify m --id "$id" --deep
out_has "CRC mismatch"

# ---------------------------------- the independent writer, both ways
timeout 60 $ARC write "$A_AUTH" --interleave 7 --out py.archive || exit 99
replace_object "$id" py.archive || exit 99
check_exit "verify --deep of an archive with interleaved segments" 0 tcairn verify m --id "$id" --deep
mongo_start --auth "bob:$PW" || exit 99
B_AUTH=$MONGO_AUTH_URI
check_exit "cairn restores the independent writer's archive" 0 \
	tcairn restore m --id "$id" --set "uri=mongodb://bob@127.0.0.1:$MONGO_PORT/?authSource=admin"
timeout 60 $LOAD dump "$B_AUTH" >b.dump
check_same "and the server holds what the archive's source held" before b.dump "count"
mongo_start || exit 99
C_URI=$MONGO_URI
check "the independent restorer restores cairn's archive" \
	bash -c "timeout 60 $ARC restore '$C_URI' a.archive >restore.out 2>&1"
timeout 60 $LOAD dump "$C_URI" >c.dump
check_same "and gets the server's data" before c.dump "count"

# ------------------------------------------- a failing test restore
$PY - dup.archive <<'EOF' || exit 99
import os, sys
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests", "fixtures"))
import struct
from bson.son import SON
import mongo_archive as ma
out = open(sys.argv[1], "wb")
out.write(struct.pack("<I", ma.MAGIC))
out.write(ma.enc(SON([("concurrent_collections", 1), ("version", "0.1"),
                      ("server_version", "6.0.8"), ("tool_version", "test")])))
for c in ("fine", "dups"):
    out.write(ma.enc(SON([("db", "cairn_t"), ("collection", c),
                          ("metadata", '{"indexes":[],"collectionName":"%s"}' % c),
                          ("size", 0), ("type", "collection")])))
out.write(ma.TERM)
for c, ids in (("fine", range(100)), ("dups", [1, 2, 2, 3])):
    crc = ma.CRC64()
    out.write(ma.ns_header("cairn_t", c))
    for i in ids:
        d = ma.enc(SON([("_id", i), ("x", "y")]))
        crc.update(d)
        out.write(d)
    out.write(ma.TERM)
    out.write(ma.ns_header("cairn_t", c, True, crc.value()))
    out.write(ma.TERM)
EOF
write_mongo_ini "$A_URI"
replace_object "$id" dup.archive || exit 99
check_exit "a test restore that meets a duplicate key fails" 1 tcairn verify m --id "$id" --restore-test
out_has "duplicate key"
mongo_cmd "$A_AUTH" admin '{"listDatabases": 1, "nameOnly": true}' >dbs
check "and leaves no test database behind" bash -c "! grep -q cairn_rt_ dbs && grep -q cairn_a dbs"
