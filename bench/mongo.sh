#!/bin/bash
# bench/mongo.sh - cairn's mongo source against a reference client, both
# talking to the MongoDB test server (tests/fixtures/mongod/mongod.py).
#
# The data: 1,000,000 small documents (72 bytes: an ObjectId, an
# int32, a 13-character string, a double and a date) in bench.docs, made
# once as a mongodump archive in $BENCH_DIR/gen.archive and loaded into a
# fresh server by the reference restore.  Then it times
#
#   cairn backup (compression none, and zstd)  vs  the reference dump
#   cairn restore                              vs  the reference restore
#
# where the reference client is pymongo (Debian's, with its C extension)
# reading and writing raw BSON batches (RawBSONDocument, no decoding):
# tests/fixtures/mongo_archive.py write (a find cursor, 10,000-document
# batches, into the archive format with its CRC-64) and restore --no-check
# (unordered insert_many of 10,000 raw documents a batch).  Both sides pay
# for the same Python server, which bounds what either can reach.  The
# commands of a group take turns, one run each per round, the order
# reversed every other round, after one untimed warm-up round.  Prints
# mean seconds, documents per second, the ratio to the reference and peak
# RSS (GNU time).
#
# Environment:
#   CAIRN              the cairn binary (default ./cairn)
#   CAIRN_PLUGIN_PATH  where its plugins are (default ./plugins/.libs)
#   BENCH_DIR          work directory (default /tmp/cairn-bench-mongo)
#   BENCH_RUNS         timed rounds per group (default 3)
#   BENCH_DOCS         documents (default 1000000)
#
# `bench/mongo.sh [--reference-only]`: --reference-only times the
# reference client (and the server) alone, without cairn.
set -euo pipefail

die() { echo "mongo.sh: $*" >&2; exit 1; }
. "$(dirname "$0")/lib.sh" # q, bench, mean, sd, rss
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

here=$(cd "$(dirname "$0")" && pwd)
FIX=$here/../tests/fixtures
PY=/usr/bin/python3
CAIRN=$(abspath "${CAIRN:-./cairn}")
CAIRN_PLUGIN_PATH=$(abspath "${CAIRN_PLUGIN_PATH:-./plugins/.libs}")
export CAIRN_PLUGIN_PATH
BENCH_DIR=$(abspath "${BENCH_DIR:-/tmp/cairn-bench-mongo}")
RUNS=${BENCH_RUNS:-3}
NDOCS=${BENCH_DOCS:-1000000}
export LC_NUMERIC=C
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree

ref_only=no
for arg; do
	case $arg in
	--reference-only) ref_only=yes ;;
	*) die "unknown argument \"$arg\"; use [--reference-only]" ;;
	esac
done
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or newer is needed (\$EPOCHREALTIME)"
"$PY" -c 'import bson, pymongo; assert bson.has_c() and pymongo.has_c()' 2>/dev/null ||
	die "$PY needs python3-bson, python3-pymongo and their C extensions (tools/install-deps)"
TIME=/usr/bin/time
if ! [ -x "$TIME" ] || ! "$TIME" -f %M true >/dev/null 2>&1; then
	echo "mongo.sh: GNU time (/usr/bin/time) is missing; peak RSS is not measured" >&2
	TIME=
fi
if [ $ref_only = no ]; then
	[ -x "$CAIRN" ] || die "$CAIRN is not an executable; build cairn or set CAIRN"
	[ -f "$CAIRN_PLUGIN_PATH/mongo.so" ] ||
		die "no mongo.so in $CAIRN_PLUGIN_PATH; set CAIRN_PLUGIN_PATH (or use --reference-only)"
fi
results=$BENCH_DIR/results
mkdir -p "$BENCH_DIR" "$results"

# ------------------------------------------------------------ the data set
gen=$BENCH_DIR/gen.archive
if ! [ -f "$gen.done" ] || [ "$(cat "$gen.done")" != "$NDOCS" ]; then
	echo "mongo.sh: writing $NDOCS documents to $gen (once) ..." >&2
	"$PY" - "$FIX" "$gen.tmp" "$NDOCS" <<'PY'
import struct, sys, random
sys.path.insert(0, sys.argv[1])
import mongo_archive as ma
from bson.son import SON
out_path, n = sys.argv[2], int(sys.argv[3])
r = random.Random(1)
# {_id: ObjectId, i: int32, s: "value-%07d", f: double, d: date}, built from
# a template: the same bytes bson.encode gives, a hundred times faster.
tmpl = struct.Struct("<i B4s12s B2si B2si14s B2sd B2sq x")
size = tmpl.size
crc = ma.CRC64()
meta = ma.metadata_json({"name": "docs", "type": "collection", "options": {},
                         "info": {}}, [SON([("v", 2), ("key", {"_id": 1}), ("name", "_id_")])])
with open(out_path, "wb") as f:
    f.write(struct.pack("<I", ma.MAGIC))
    f.write(ma.enc(SON([("concurrent_collections", 4), ("version", "0.1"),
                        ("server_version", "6.0.8"), ("tool_version", "bench/mongo.sh")])))
    f.write(ma.enc(SON([("db", "bench"), ("collection", "docs"), ("metadata", meta),
                        ("size", 0), ("type", "collection")])))
    f.write(ma.TERM)
    mux = ma.Mux(f)
    buf = []
    for i in range(n):
        oid = struct.pack(">IQ", 1700000000, i)[:12]
        d = tmpl.pack(size, 7, b"_id\0", oid, 16, b"i\0", r.randint(-2**31, 2**31 - 1),
                      2, b"s\0", 14, b"value-%07d\0" % i, 1, b"f\0", r.random() * 1e6,
                      9, b"d\0", 1700000000000 + i)
        buf.append(d)
        crc.update(d)
        if len(buf) == 100000:
            mux.body("bench", "docs", b"".join(buf))
            buf = []
    mux.body("bench", "docs", b"".join(buf))
    mux.eof("bench", "docs", crc.value())
PY
	"$PY" "$FIX/mongo_archive.py" check --quiet "$gen.tmp" || die "the generated archive does not check"
	mv "$gen.tmp" "$gen"
	echo "$NDOCS" >"$gen.done"
fi

# ------------------------------------------------------------ the server
pf=$BENCH_DIR/port
rm -f "$pf"
"$PY" "$FIX/mongod/mongod.py" --port 0 --port-file "$pf" --watch-pid $$ \
	>/dev/null 2>"$results/mongod.log" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 400); do
	[ -s "$pf" ] && break
	kill -0 $server 2>/dev/null || die "the test server exited: $(head -c 300 "$results/mongod.log")"
	sleep 0.05
done
[ -s "$pf" ] || die "the test server did not start within 20 s"
URI=mongodb://127.0.0.1:$(cat "$pf")

cat >"$BENCH_DIR/cairn.ini" <<EOF
[cairn]
state_dir = $BENCH_DIR/state

[source db]
plugin = mongo
uri = $URI
databases = bench

[sink store]
plugin = local
path = $BENCH_DIR/store
fsync = no

[job bench]
sources = db
sinks = store
compression = none

[job benchz]
sources = db
sinks = store
EOF
C="$(q "$CAIRN") -q -c $(q "$BENCH_DIR/cairn.ini")"
ref_dump="$PY $(q "$FIX/mongo_archive.py") write $(q "$URI") --db bench --out $(q "$BENCH_DIR/ref.archive")"
ref_restore="$PY $(q "$FIX/mongo_archive.py") restore --no-check --batch 10000 $(q "$URI") $(q "$gen")"
drop_db="$PY -c 'import pymongo, sys; pymongo.MongoClient(sys.argv[1]).drop_database(\"bench\")' $(q "$URI")"
digest="$PY $(q "$FIX/mongo_load.py") dump $(q "$URI") --db bench"
clean_sink="rm -rf $(q "$BENCH_DIR/store") $(q "$BENCH_DIR/state") $(q "$BENCH_DIR/ref.archive") && sync"

rows=$results/rows
: >"$rows"
row() { # LABEL GROUP N BASE-N RSS
	local m b
	m=$(mean "$2" "$3") b=$(mean "$2" "$4")
	printf '| %-40s | %7.2f | %10.0f | %6s | %12s |\n' "$1" "$m" \
		"$(awk -v m="$m" -v n="$NDOCS" 'BEGIN { print n / m }')" \
		"$(awk -v a="$m" -v b="$b" 'BEGIN { printf "%.2fx", b / a }')" "$5" >>"$rows"
}

# Load the data, and keep its digest to check every restore against.
sh -c "$ref_restore" >/dev/null || die "loading $gen failed"
sh -c "$digest" >"$results/want" || die "the digest of the loaded data failed"
grep -q "count $NDOCS" "$results/want" || die "the server holds other than $NDOCS documents"

# ------------------------------------------------------------- dump
if [ $ref_only = yes ]; then
	bench dump "$clean_sink" "reference dump" "$ref_dump"
else
	bench dump "$clean_sink" \
		"cairn backup" "$C backup bench" \
		"cairn backup (zstd)" "$C backup benchz" \
		"reference dump" "$ref_dump"
fi
rss_ref_dump=$(rss "$clean_sink; $ref_dump")
"$PY" "$FIX/mongo_archive.py" digest "$BENCH_DIR/ref.archive" >"$results/got" &&
	cmp -s "$results/want" "$results/got" || die "the reference dump does not hold the data"
if [ $ref_only = no ]; then
	rss_cairn_dump=$(rss "$clean_sink; $C backup benchz")
	rss_cairn_dump_none=$(rss "$clean_sink; $C backup bench")
fi

# ------------------------------------------------------------- restore
if [ $ref_only = yes ]; then
	bench restore "$drop_db" "reference restore" "$ref_restore"
else
	bench restore "$drop_db" \
		"cairn restore" "$C restore bench" \
		"reference restore" "$ref_restore"
	sh -c "$drop_db; $C restore bench" >/dev/null 2>"$results/err" ||
		die "cairn restore failed: $(head -c 300 "$results/err")"
	sh -c "$digest" >"$results/got"
	cmp -s "$results/want" "$results/got" ||
		die "cairn's restore does not give the data back (diff $results/want $results/got)"
	rss_cairn_restore=$(rss "$drop_db; $C restore bench")
fi
rss_ref_restore=$(rss "$drop_db; $ref_restore")

if [ $ref_only = yes ]; then
	row "reference dump (pymongo, raw batches)" dump 1 1 "$rss_ref_dump"
	row "reference restore (pymongo, raw batches)" restore 1 1 "$rss_ref_restore"
else
	row "reference dump (pymongo, raw batches)" dump 3 3 "$rss_ref_dump"
	row "cairn backup (compression = none)" dump 1 3 "$rss_cairn_dump_none"
	row "cairn backup (zstd)" dump 2 3 "$rss_cairn_dump"
	row "reference restore (pymongo, raw batches)" restore 2 2 "$rss_ref_restore"
	row "cairn restore" restore 1 2 "$rss_cairn_restore"
fi

echo
echo "$(nproc) CPUs; $NDOCS documents of 72 bytes in bench.docs on the Python test server;" \
     "$RUNS rounds after 1 warm-up, the commands taking turns"
echo
printf '| %-40s | %7s | %10s | %6s | %12s |\n' command "mean s" "docs/s" "vs ref" "peak RSS MiB"
printf '| %-40s | %7s | %10s | %6s | %12s |\n' ---------------------------------------- \
	------- ---------- ------ ------------
cat "$rows"
echo
echo "the times of every run: $results/*.times"
