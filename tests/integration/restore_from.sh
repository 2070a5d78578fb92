#!/bin/bash
# restore_from.sh - restore JOB --source NAME --from FILE: a file that a
# standard tool wrote (GNU tar plain, .gz, .zst, .xz; redis-cli --rdb's
# dump.rdb and cairn's RESP dump; a mongodump-format archive, plain and
# gzipped) comes back as it was; its kind is recognised from its first
# bytes or named with --format; a kind the source does not restore is
# refused naming both; a cut or damaged file leaves the target untouched
# (exit 6); the file itself is never changed.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 57

# cairn with a time limit (lib.sh's cairn is a function timeout cannot run)
tcairn() { timeout 300 "$CAIRN" -c "$T/cairn.ini" "$@"; }

mkdir -p "$T/data/sub dir" "$T/store"
printf 'alpha\n' >"$T/data/a.txt"
head -c 300000 /dev/urandom >"$T/data/sub dir/bin"
ln -s a.txt "$T/data/link"
write_ini j here=store
cd "$T" || exit 99

# ------------------------------------------------------------------ files
tar -C data -cf up.tar .
tar -C data -czf up.tar.gz .
tar -C data --zstd -cf up.tar.zst .
tar -C data -cJf up.tar.xz .
sum_before=$(sha256sum up.tar up.tar.gz up.tar.zst up.tar.xz)
for f in up.tar up.tar.gz up.tar.zst up.tar.xz; do
	check_exit "files: restore --from $f" 0 tcairn restore j --source docs --from "$f" \
		--set path="$T/r-$f"
	check "files: $f came back as it was" diff -r data "r-$f"
done
check "the files given with --from are unchanged" \
	test "$(sha256sum up.tar up.tar.gz up.tar.zst up.tar.xz)" = "$sum_before"

# a tar without the ustar magic (the old v7 format) is not recognised ...
tar --format=v7 -C data -cf v7.tar .
check_exit "a file of no kind cairn recognises is refused" 2 \
	tcairn restore j --source docs --from v7.tar --set path="$T/r-v7"
err_has "v7.tar holds data of a kind cairn does not recognise"
err_has "name it with --format"
# ... and --format names it
check_exit "--format tar overrides the recognition" 0 \
	tcairn restore j --source docs --from v7.tar --format tar --set path="$T/r-v7"
check "the v7 tar came back as it was" diff -r data r-v7
gzip -c v7.tar >v7.tgz
check_exit "--format tar.gz for a gzipped one" 0 \
	tcairn restore j --source docs --from v7.tgz --format tar.gz --set path="$T/r-v7gz"
check "the gzipped v7 tar came back as it was" diff -r data r-v7gz

# cut and damaged files leave an existing target as it was
mkdir -p keep && printf 'mine\n' >keep/a.txt
head -c 200000 up.tar >cut.tar
check_exit "a cut tar is damage" 6 tcairn restore j --source docs --from cut.tar \
	--set path="$T/keep" --force
check "the target is untouched" test "$(ls -A keep)" = a.txt -a "$(cat keep/a.txt)" = mine
head -c "$(($(stat -c %s up.tar.zst) - 100))" up.tar.zst >cut.tar.zst
check_exit "a cut tar.zst is damage" 6 tcairn restore j --source docs --from cut.tar.zst \
	--set path="$T/keep" --force
err_has "cut.tar.zst"
check "the target is untouched" test "$(ls -A keep)" = a.txt -a "$(cat keep/a.txt)" = mine

check_exit "a missing file is one clear line" 2 tcairn restore j --source docs --from nosuch.tar
check "it names the file and why" test "$(cat "$T/err")" = \
	"cairn: error: cannot open nosuch.tar: No such file or directory"
check_exit "a directory is refused" 2 tcairn restore j --source docs --from data
err_has "data is no regular file"
: >empty.tar
check_exit "an empty file is refused" 2 tcairn restore j --source docs --from empty.tar
err_has "empty.tar is empty"
# memory stays flat: a 48 MiB file in a tar.zst
mkdir -p big && head -c 50331648 /dev/urandom >big/blob && tar -C big --zstd -cf big.tar.zst . && rm -rf big
rss=$(/usr/bin/python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' \
	timeout 300 "$CAIRN" -c "$T/cairn.ini" restore j --source docs --from big.tar.zst --set path="$T/r-big")
check "restore --from of a 48 MiB tar.zst peaks below 40 MiB ($rss KiB)" test "${rss:-999999}" -lt 40960
rm -rf r-big big.tar.zst
check_exit "--from needs exactly one --source" 2 tcairn restore j --from up.tar
check_exit "--from takes no --id" 2 tcairn restore j --source docs --from up.tar \
	--id 20260101T000000Z
check_exit "an unknown --format is a usage error" 2 tcairn restore j --source docs \
	--from up.tar --format zip
check_exit "a --set key the source does not have is a usage error" 2 \
	tcairn restore j --source docs --from up.tar --set nosuchkey=1
check_exit "--source not in the job" 2 tcairn restore j --source doc --from up.tar
err_has 'job j has no source named "doc"; its sources are: docs'

# ------------------------------------------------------------------ redis
if ! have_plugin redis; then
	for i in $(seq 14); do skip "redis" "needs the redis plugin"; done
	redis_ok=0
else
	redis_ok=1
	cat >>"$T/cairn.ini" <<INI

[source cache]
plugin = redis
port = 1

[job r]
sources = cache
sinks = here
INI
	check_exit "a tar given to a redis source is refused" 2 \
		tcairn restore r --source cache --from up.tar.zst
	err_has "up.tar.zst is a tar (compressed), but source cache (plugin redis) restores a dump.rdb or a RESP stream"
fi

if [ "$redis_ok" = 1 ]; then
	. "$top_srcdir/tests/integration/redis_lib.sh"
	if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
		for i in $(seq 13); do skip "redis" "needs redis-server and redis-cli"; done
		redis_ok=0
	fi
fi
if [ "$redis_ok" = 1 ]; then
	redis_start src || exit 1
	redis_fill "$src_port" || exit 1
	rcli "$src_port" --rdb "$T/dump.rdb" >/dev/null 2>&1 || exit 99
	want=$(redis_digest "$src_port")
	rdb_sum=$(sha256sum <dump.rdb)
	redis_start dst || exit 1
	check_exit "redis: restore --from redis-cli's dump.rdb" 0 \
		tcairn restore r --source cache --from dump.rdb --set port="$dst_port"
	check "redis: the server holds what the dump.rdb held" \
		test "$(redis_digest "$dst_port")" = "$want"
	check "the dump.rdb is unchanged" test "$(sha256sum <dump.rdb)" = "$rdb_sum"

	# a RESP stream: cairn's own dump mode, taken out of its sink
	printf '\n[source cdump]\nplugin = redis\nmode = dump\nport = %s\n' "$src_port" >>cairn.ini
	printf '\n[job rd]\nsources = cdump\nsinks = here\n' >>cairn.ini
	tcairn backup rd >/dev/null 2>&1 || exit 99
	zstd -dcq "store/rd/$(newest_id store rd)/cdump.resp.zst" | gzip -c >dump.resp.gz
	redis_start dst2 || exit 1
	check_exit "redis: restore --from a gzipped RESP stream" 0 \
		tcairn restore r --source cache --from dump.resp.gz --set port="$dst2_port"
	check "redis: the server holds what the RESP stream held" \
		test "$(redis_digest "$dst2_port")" = "$want"

	gzip -c dump.rdb >dump.rdb.gz
	redis_start dst3 || exit 1
	check_exit "redis: restore --from a gzipped dump.rdb" 0 \
		tcairn restore r --source cache --from dump.rdb.gz --set port="$dst3_port"
	check "redis: the server holds what the dump.rdb held" \
		test "$(redis_digest "$dst3_port")" = "$want"

	# damage in the middle and a cut end: the target stays empty
	redis_start empty || exit 1
	sz=$(stat -c %s dump.rdb)
	cp dump.rdb bad.rdb
	# flip the bits of 4 bytes in the middle: overwriting them with a fixed
	# value could leave them as they were (a fresh Debian run once did)
	/usr/bin/python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(4)
f.seek(int(sys.argv[2])); f.write(bytes(x ^ 0xFF for x in b))' bad.rdb $((sz / 2))
	check "redis: the damaged copy differs" sh -c '! cmp -s dump.rdb bad.rdb'
	check_exit "redis: a damaged dump.rdb is damage" 6 \
		tcairn restore r --source cache --from bad.rdb --set port="$empty_port"
	head -c $((sz - 20)) dump.rdb >cut.rdb
	check_exit "redis: a cut dump.rdb is damage" 6 \
		tcairn restore r --source cache --from cut.rdb --set port="$empty_port"
	check "redis: the target is still empty" test "$(rcli "$empty_port" DBSIZE)" = 0
	check_exit "an RDB given to the files source is refused" 2 \
		tcairn restore j --source docs --from dump.rdb --set path="$T/r-x"
	err_has "dump.rdb is a dump.rdb (RDB), but source docs (plugin files) restores a tar"
fi

# ------------------------------------------------------------------ mongo
mongo_ok=0
if have_plugin mongo && /usr/bin/python3 -c 'import bson, pymongo' 2>/dev/null; then
	mongo_ok=1
fi
if [ "$mongo_ok" = 0 ]; then
	for i in $(seq 8); do skip "mongo" "needs the mongo plugin and python3-pymongo"; done
	exit 0
fi
. "$top_srcdir/tests/integration/mongo_lib.sh"
PY=/usr/bin/python3
# mongo_lib.sh's EXIT trap replaced redis_lib.sh's: stop both kinds
both_cleanup() {
	local p
	for p in ${_redis_pids:-}; do kill -9 "$p" 2>/dev/null; done
	_mongo_cleanup
}
trap both_cleanup EXIT
mongo_start || exit 99
SRC=$MONGO_URI
timeout 120 $PY "$MONGO_LOAD_PY" load "$SRC" --scale 0.05 --no-big >load.out 2>&1 || {
	diag load.out
	exit 99
}
timeout 60 $PY "$MONGO_LOAD_PY" dump "$SRC" >before || exit 99
timeout 120 $PY "$MONGO_ARCHIVE_PY" write "$SRC" >m.archive || exit 99
gzip -c m.archive >m.archive.gz
arc_sum=$(sha256sum <m.archive)
mongo_start || exit 99
DST=$MONGO_URI
printf '\n[source db]\nplugin = mongo\nuri = %s\n' "$DST" >>cairn.ini
printf '\n[job m]\nsources = db\nsinks = here\n' >>cairn.ini
check_exit "mongo: restore --from a mongodump archive" 0 tcairn restore m --source db --from m.archive
timeout 60 $PY "$MONGO_LOAD_PY" dump "$DST" >after1 || exit 99
check_same "mongo: the server holds what the archive held" before after1 "count"
check "the archive is unchanged" test "$(sha256sum <m.archive)" = "$arc_sum"
check_exit "mongo: restore --from a mongodump --gzip archive (drop = yes)" 0 \
	tcairn restore m --source db --from m.archive.gz --set drop=yes --force
timeout 60 $PY "$MONGO_LOAD_PY" dump "$DST" >after2 || exit 99
check_same "mongo: the server holds what the archive held" before after2 "count"

# a cut archive into a third, empty server: nothing is created
mongo_start || exit 99
timeout 60 $PY "$MONGO_LOAD_PY" dump "$MONGO_URI" >empty3 || exit 99
head -c $(($(stat -c %s m.archive) - 30)) m.archive >cut.archive
check_exit "mongo: a cut archive is damage" 6 \
	tcairn restore m --source db --from cut.archive --set uri="$MONGO_URI"
grep -q '^collection' empty3 && exit 99 # the third server must start empty
timeout 60 $PY "$MONGO_LOAD_PY" dump "$MONGO_URI" >after3 || exit 99
check "mongo: the target is untouched" cmp -s empty3 after3
check_exit "a mongodump archive given to the files source is refused" 2 \
	tcairn restore j --source docs --from m.archive.gz --set path="$T/r-y"
