#!/bin/bash
# age_job.sh - issue 20 end to end: jobs with encryption = age.
#
# Keys made with Debian's age-keygen.  A job of the three sources (files,
# redis, mongo: servers of the test's own) to a local and an s3 sink
# (s3rver): objects NAME.EXT.COMP.age, restored with cairn (restore
# --identity, and age_identity_file in the INI), and without cairn (age -d
# | zstd -dc | tar -x; the RDB loaded by a fresh redis-server; the mongo
# archive through the tests' mongorestore stand-in).  Several recipients
# (inline and a recipients file); objects re-encrypted by Debian's age (to
# several recipients, and with a passphrase typed on a pty, as age reads
# it only from a terminal) read by cairn; a passphrase job
# (age_passphrase_file and _env) whose object age -d reads, and whose
# manifest has no statistics (manifest_stats = no).  Tampering at
# every layer of a stored object (tests/fixtures/agetamper.py, an
# independent reader of the format): with the manifest's SHA-256 and size
# fixed up so that only the age layer can find it, and without; each
# fails restore and verify --deep with exit 6, naming the object, the
# target unchanged.  A wrong, a missing identity and a wrong passphrase:
# one clear line, nothing written.  list, prune, copy and a shallow verify
# with no key at all; list -v shows the recipients.  Peak RSS flat for a
# 1 GiB stream.  Encrypted log segments from cairn follow (the followsrc
# test source): SEG.log.zst.age, read by age -d, restore --at with the
# identity and refused without it, a damaged segment refused before the
# target changes.  Last, no identity and no passphrase in anything the
# test saw: every stdout, stderr, log, status record, the store, and a
# hook's environment.
#
# Run by `make check` (CAIRN, CAIRN_TEST_PLUGINS, top_srcdir set); emits TAP.
. "$(dirname "$0")/lib.sh"
: "${CAIRN_TEST_PLUGINS:?run through make check}"
need_plugin files local redis mongo s3
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
. "$top_srcdir/tests/integration/redis_lib.sh"
redis_need
. "$top_srcdir/tests/integration/s3_lib.sh"
need_s3
for t in age age-keygen zstd tar jq script /usr/bin/time sha256sum; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "1..0 # SKIP needs $t (tools/install-deps: age, zstd, jq, util-linux, time)"
		exit 0
	}
done
/usr/bin/python3 -c 'import cryptography.hazmat.primitives.ciphers.aead' 2>/dev/null || {
	echo "1..0 # SKIP needs python3-cryptography (tools/install-deps)"
	exit 0
}
_age_cleanup() {
	local p
	for p in $_mongo_pids $_redis_pids $_age_pids; do
		{ kill -9 "$p" && wait "$p"; } 2>/dev/null
	done
	s3_stop
	cleanup
}
_age_pids=""
trap _age_cleanup EXIT

# the tamper cases: each gets TAMPER_CHECKS checks, fixed and unfixed
TAMPER="header stanza-b64 stanza mac nonce chunk:0 chunk:2 chunk:last final-clear final-early cut-boundary cut-inside cut-header trailing"
TAMPER_CHECKS=7
plan $((127 + $(echo $TAMPER | wc -w) * TAMPER_CHECKS))
cd "$T" || exit 99
PY=/usr/bin/python3
TAMPER_PY="$PY $top_srcdir/tests/fixtures/agetamper.py"
LOAD="$PY $MONGO_LOAD_PY"
ARC="$PY $MONGO_ARCHIVE_PY"
mkdir -p plugins logs
cp "$CAIRN_TEST_PLUGINS/followsrc.so" "$CAIRN_TEST_PLUGINS/abi10src.so" plugins/

# C [-c INI] [-t RSSFILE] ARGS...: cairn with a time limit (and its peak
# RSS in KiB into RSSFILE); its stdout and stderr also kept in logs/ (the
# secrets grep at the end reads them all)
_c=0
C() {
	local ini=$T/cairn.ini rc time=()
	if [ "$1" = -c ]; then
		ini=$2
		shift 2
	fi
	if [ "$1" = -t ]; then
		time=(/usr/bin/time -f %M -o "$2")
		shift 2
	fi
	_c=$((_c + 1))
	timeout 600 "${time[@]}" "$CAIRN" -c "$ini" "$@" >"logs/$_c.out" 2>"logs/$_c.err"
	rc=$?
	cat "logs/$_c.out"
	cat "logs/$_c.err" >&2
	return $rc
}
# one_line: the last check_exit's stderr is one line
one_line() { check "... in one line" test "$(grep -c . "$T/err")" = 1 || diag "$T/err"; }
# snapshot DIR: names, sizes, modes and contents, to compare later
snapshot() { (cd "$1" && find . -printf '%p %s %m\n' | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort); }
# age_pty PASS COMMAND: COMMAND on a pty, PASS typed at each prompt
age_pty() {
	(printf '%s\n' "$1"; sleep 1; printf '%s\n' "$1"; sleep 1) |
		timeout 60 script -qec "$2" /dev/null >/dev/null 2>&1
}

# ---------------------------------------------------------------- keys
for k in k1 k2 k3; do
	age-keygen -o $k.key 2>/dev/null && age-keygen -y $k.key >$k.pub || exit 99
done
chmod 600 k*.key
K1=$(cat k1.pub) K2=$(cat k2.pub) K3=$(cat k3.pub)
printf '# the vault\n\n%s\n' "$K2" >recips.txt
PASS="age job pass $RANDOM$RANDOM"
printf '%s\n' "$PASS" >pass.txt
printf '%s-not\n' "$PASS" >wrong.txt
chmod 600 pass.txt wrong.txt
SECRETS=$(cat k1.key k2.key k3.key | grep '^AGE-SECRET-KEY-1')

# ------------------------------------------------------------- servers
redis_start src || exit 99
redis_fill "$src_port" || exit 99
redis_start dst || exit 99
mongo_start || exit 99
A_URI=$MONGO_URI
mongo_start || exit 99
B_URI=$MONGO_URI
mongo_start || exit 99
D_URI=$MONGO_URI
timeout 120 $LOAD load "$A_URI" --scale 0.05 --no-big >load.out 2>&1 || {
	diag load.out
	exit 99
}
timeout 60 $LOAD dump "$A_URI" >mongo.before || exit 99
s3_start agebkt || exit 99

# ---------------------------------------------------------------- data
mkdir -p data/sub
printf 'alpha\n' >data/a.txt
printf 'beta\n' >data/sub/b.txt
head -c 400000 /dev/urandom >data/sub/random.bin # several 64 KiB chunks, compressed
ln -s a.txt data/link

# write_age_ini FILE [LINE]...: the test's INI; LINEs go into [job enc]
write_age_ini() {
	local f=$1
	shift
	{
		cat <<INI
[cairn]
state_dir = $T/state
plugin_dir = $T/plugins

[source docs]
plugin = files
path = $T/data

[source cache]
plugin = redis
port = $src_port
timeout = 20s

[source shop]
plugin = mongo
uri = $A_URI

[source big]
plugin = abi10src
input = $T/big.fifo
output = $T/big.out.fifo

[source flog]
plugin = followsrc
log = $T/db.log
target = $T/ftarget

[sink here]
plugin = local
path = $T/store
fsync = no
INI
		s3_sink_ini cloud agebkt
		cat <<INI

[retention one]
keep_last = 1

[job pass]
sources = docs
sinks = here
encryption = age
age_passphrase_file = $T/pass.txt
manifest_stats = no

[job big]
sources = big
sinks = here
compression = none
encryption = age
age_recipients = $K1

[job flw]
sources = flog
sinks = here
encryption = age
age_recipients = $K1
segment_span = 1s

[job enc]
sources = docs cache shop
sinks = here cloud
encryption = age
age_recipients = $K1
age_recipients_file = $T/recips.txt
retention = one
prune = no
after = sh -c 'env >>$T/hook.env'
INI
		printf '%s\n' "$@"
	} >"$f"
}
write_age_ini cairn.ini
write_age_ini id.ini "age_identity_file = $T/k2.key"

# ============================================== the encrypted round trip
check_exit "an encrypted backup of files, redis and mongo to local and s3" 0 C backup enc
id=$(newest_id store enc)
S=store/enc/$id
check "the objects are NAME.EXT.COMP.age" test "$(ls "$S" | LC_ALL=C sort | tr '\n' ' ')" = \
	"cache.rdb.zst.age docs.tar.zst.age manifest.json shop.archive.zst.age "
check "s3 holds the same objects" test "$(s3_keys agebkt "enc/$id/" | tr '\n' ' ')" = \
	"enc/$id/cache.rdb.zst.age enc/$id/docs.tar.zst.age enc/$id/manifest.json enc/$id/shop.archive.zst.age "
check "each begins with age's version line" sh -c "for f in $S/*.age; do head -n 1 \"\$f\" | grep -qx 'age-encryption.org/v1' || exit 1; done"
check "the manifest says encryption age for each source" test \
	"$(jq -r '[.sources[].encryption] | join(" ")' "$S/manifest.json")" = "age age age"
check "... and the recipients, public keys only" test \
	"$(jq -r '.recipients | sort | join(" ")' "$S/manifest.json")" = "$(printf '%s\n' "$K1" "$K2" | sort | tr '\n' ' ' | sed 's/ $//')"
check "the manifest's SHA-256 is of the stored, encrypted bytes" test \
	"$(jq -r '.sources[] | select(.name == "docs") | .sha256' "$S/manifest.json")" = \
	"$(sha256sum <"$S/docs.tar.zst.age" | cut -d' ' -f1)" -a -s "$S/docs.tar.zst.age"
check "... and its stored_bytes the encrypted size" test \
	"$(jq -r '.sources[] | select(.name == "docs") | .stored_bytes' "$S/manifest.json")" = "$(stat -c %s "$S/docs.tar.zst.age")" -a -s "$S/docs.tar.zst.age"
check "... and its raw_bytes the tar's size" test \
	"$(jq -r '.sources[] | select(.name == "docs") | .raw_bytes' "$S/manifest.json")" -gt 400000
check "no object is readable as zstd" sh -c "test -s $S/docs.tar.zst.age && ! zstd -q -t $S/docs.tar.zst.age 2>/dev/null"

# --- restore with cairn: --identity, each recipient's key, each sink
check_exit "restore of the files from the local sink with --identity k1" 0 \
	C restore enc --sink here --source docs --identity k1.key --set path="$T/r-files"
check "the tree comes back" diff -r data r-files
check_exit "restore from s3 with age_identity_file = k2 (the recipients file's key)" 0 \
	C -c id.ini restore enc --sink cloud --source docs --set path="$T/r-files-s3"
check "the tree comes back from s3" diff -r data r-files-s3
check_exit "restore of redis into an empty server, from the local sink" 0 \
	C restore enc --sink here --source cache --identity k2.key --set port="$dst_port"
check "the same digest" test "$(redis_digest "$dst_port")" = "$(redis_digest "$src_port")"
rcli "$dst_port" FLUSHALL >/dev/null
check_exit "restore of redis from s3 with the INI's identity" 0 \
	C -c id.ini restore enc --sink cloud --source cache --set port="$dst_port"
check "the same digest again" test "$(redis_digest "$dst_port")" = "$(redis_digest "$src_port")"
check_exit "restore of mongo into another server, from the local sink" 0 \
	C restore enc --sink here --source shop --identity k1.key --set uri="$B_URI"
timeout 60 $LOAD dump "$B_URI" >mongo.after
check_same "the same documents" mongo.before mongo.after
check_exit "restore of mongo from s3 with the INI's identity" 0 \
	C -c id.ini restore enc --sink cloud --source shop --set uri="$D_URI"
timeout 60 $LOAD dump "$D_URI" >mongo.after2
check_same "the same documents from s3" mongo.before mongo.after2
check_exit "verify --deep with the identity" 0 C verify enc --deep --identity k1.key
check_exit "verify --restore-test with the INI's identity" 0 C -c id.ini verify enc --restore-test

# --- restore without cairn: Debian's age and the standard tools
mkdir -p by-hand
check "age -d -i k1 | zstd -dc | tar -x restores the files" \
	sh -c "age -d -i k1.key $S/docs.tar.zst.age | zstd -dc | tar -xf - -C by-hand"
check "... the same tree" diff -r data by-hand
mkdir -p by-hand-s3
s3aws s3 cp "s3://agebkt/enc/$id/docs.tar.zst.age" fetched.age >/dev/null
check "the same from s3 with any client, and the recipients file's key" \
	sh -c "age -d -i k2.key fetched.age | zstd -dc | tar -xf - -C by-hand-s3"
check "... the same tree" diff -r data by-hand-s3
mkdir -p rdbdir
age -d -i k2.key "$S/cache.rdb.zst.age" | zstd -dc >rdbdir/dump.rdb
check "age -d | zstd -dc gives an RDB redis-check-rdb accepts" sh -c 'redis-check-rdb rdbdir/dump.rdb >rdbcheck.out 2>&1'
redis_start fresh --dbfilename dump.rdb --dir "$T/rdbdir" || true
check "a fresh redis-server loads it with the source's digest" \
	test "$(redis_digest "$fresh_port")" = "$(redis_digest "$src_port")"
mongo_start || exit 99
C_URI=$MONGO_URI
age -d -i k1.key "$S/shop.archive.zst.age" | zstd -dc >shop.archive
check "age -d | zstd -dc gives mongodump's archive, restored by the tests' mongorestore" \
	sh -c "timeout 60 $ARC restore '$C_URI' shop.archive >arcrestore.out 2>&1"
timeout 60 $LOAD dump "$C_URI" >mongo.byhand
check_same "... the same documents" mongo.before mongo.byhand

# --- objects Debian's age wrote, read by cairn
cp "$S/docs.tar.zst.age" docs.good
cp "$S/manifest.json" manifest.good
age -d -i k1.key docs.good | age -e -r "$K3" -r "$K1" -r "$K2" -o "$S/docs.tar.zst.age"
$TAMPER_PY --fix-manifest "$S/manifest.json" "$S/docs.tar.zst.age"
check_exit "an object Debian's age encrypted to three recipients is read by cairn (the first's key)" 0 \
	C restore enc --sink here --source docs --identity k3.key --set path="$T/r-age3"
check "... the same tree" diff -r data r-age3
cp docs.good "$S/docs.tar.zst.age"
cp manifest.good "$S/manifest.json"

# --- several recipients: a second set written to another recipients file
check_exit "list -v shows the set's recipients" 0 C -v list enc
out_has "$K1"
out_has "$K2"
check "... and never a secret key" sh -c "! grep -q AGE-SECRET-KEY '$T/out' '$T/err'"

# ======================================================= the passphrase job
check_exit "a backup with age_passphrase_file" 0 C backup pass
pid=$(newest_id store pass)
P=store/pass/$pid
check "its recipient is scrypt" test "$(jq -r '.recipients | join(" ")' "$P/manifest.json")" = scrypt
check "its header has one scrypt stanza" test "$(grep -ac '^-> scrypt ' "$P/docs.tar.zst.age")" = 1
st_enc=$(jq '.sources[] | select(.name == "docs") | .stats | length' "store/enc/$id/manifest.json")
check "manifest_stats = no: no statistics in its clear manifest (the other job's has $st_enc)" \
	test "$(jq '.sources[0].stats // {} | length' "$P/manifest.json")" = 0 -a "${st_enc:-0}" -gt 0
check_exit "restore with the passphrase of the INI" 0 C restore pass --set path="$T/r-pass"
check "the tree comes back" diff -r data r-pass
sed "s|^age_passphrase_file = .*|age_passphrase_env = CAIRN_AGE_TEST_PASS|" cairn.ini >env.ini
export CAIRN_AGE_TEST_PASS="$PASS"
check_exit "restore with age_passphrase_env" 0 C -c env.ini restore pass --set path="$T/r-pass-env"
unset CAIRN_AGE_TEST_PASS
check "the tree comes back" diff -r data r-pass-env
age_pty "$PASS" "age -d -o $T/pass.tar.zst $T/$P/docs.tar.zst.age"
mkdir -p by-hand-pass
check "age -d with the passphrase typed (a pty) reads cairn's object" \
	sh -c "zstd -dc pass.tar.zst | tar -xf - -C by-hand-pass && diff -r data by-hand-pass"
# age -p writes the object, cairn reads it
zstd -dc pass.tar.zst >/dev/null && cp "$P/docs.tar.zst.age" pass.good && cp "$P/manifest.json" pmanifest.good
age_pty "$PASS" "age -e -p -o $T/$P/docs.tar.zst.age $T/pass.tar.zst"
$TAMPER_PY --fix-manifest "$P/manifest.json" "$P/docs.tar.zst.age"
check "age -p wrote a passphrase object" grep -q '^-> scrypt ' "$P/docs.tar.zst.age"
check_exit "cairn reads the object age -p wrote" 0 C restore pass --set path="$T/r-agep"
check "the tree comes back" diff -r data r-agep
cp pass.good "$P/docs.tar.zst.age"
cp pmanifest.good "$P/manifest.json"
sed "s|^age_passphrase_file = .*|age_passphrase_file = $T/wrong.txt|" cairn.ini >wrong.ini
check_exit "a wrong passphrase fails the restore" 1 C -c wrong.ini restore pass --set path="$T/r-wrongpass"
err_has "passphrase"
err_has "pass/$pid/docs.tar.zst.age"
one_line
check "... and nothing is written" test ! -e r-wrongpass

# ======================================== wrong and missing identities
check_exit "an identity that opens nothing" 1 \
	C restore enc --sink here --source docs --identity k3.key --set path="$T/r-wrong"
err_has "none of the identities in"
err_has "k3.key opens enc/$id/docs.tar.zst.age"
err_has "it was encrypted to"
one_line
check "... nothing is written" test ! -e r-wrong
check_exit "no identity at all: a config error naming what to give" 3 \
	C restore enc --sink here --source docs --set path="$T/r-none"
err_has "age_identity_file"
err_has "--identity"
one_line
check "... nothing is written" test ! -e r-none
mkdir -p r-keep && printf 'mine\n' >r-keep/a.txt && snapshot r-keep >keep.before
check_exit "a wrong identity with --force over a tree" 1 \
	C restore enc --sink here --source docs --identity k3.key --set path="$T/r-keep" --force
snapshot r-keep >keep.after
check_same "... leaves the tree as it was" keep.before keep.after ./a.txt
check_exit "verify --deep with no identity says what to give" 3 C verify enc --sink here --deep
check "... naming --identity" grep -qF -- "--identity" "$T/out" "$T/err" || diag "$T/out" "$T/err"
printf 'AGE-SECRET-KEY-1NOTAKEY\n' >bad.key
chmod 600 bad.key
check_exit "a malformed identity file is a config error" 3 \
	C restore enc --sink here --source docs --identity bad.key --set path="$T/r-bad"
err_has "bad.key"
check "... and the file's content is not echoed" sh -c "! grep -q NOTAKEY '$T/err'"
cp k1.key open.key
chmod 644 open.key
check_exit "an identity file others can read still works" 0 \
	C restore enc --sink here --source docs --identity open.key --set path="$T/r-open"
err_has "warning"
err_has "open.key"

# ================================================= no key at all
check_exit "list without any key" 0 C list enc
out_has "$id"
check_exit "a shallow verify without any key" 0 C verify enc
s3aws s3 rm --recursive "s3://agebkt/enc/$id/" >/dev/null
check "the set is gone from s3" test -z "$(s3_keys agebkt "enc/$id/")"
check_exit "copy from the local sink to s3 without any key" 0 C copy enc --from here --to cloud --id "$id"
s3aws s3 cp "s3://agebkt/enc/$id/docs.tar.zst.age" copied.age >/dev/null
check "the copy holds the same encrypted bytes" cmp "$S/docs.tar.zst.age" copied.age
check_exit "the copied set verifies shallowly" 0 C verify enc --sink cloud
sleep 1
check_exit "a second encrypted backup" 0 C backup enc
id2=$(newest_id store enc)
check_exit "prune without any key keeps the newest (keep_last = 1)" 0 C prune enc --sink here
check "the older set is gone, the newer stays" test "$(ls store/enc | grep -c 'Z$')-$(newest_id store enc)" = "1-$id2"
id=$id2
S=store/enc/$id

# ================================================ tampering at every layer
# Each case: the docs object damaged (agetamper.py) with the manifest's
# SHA-256 and size fixed up (only the age layer can find it), then left as
# they were (the SHA-256 finds it first): restore --force over a tree and
# verify --deep fail with exit 6 naming the object; the tree is unchanged.
OBJ=$S/docs.tar.zst.age
cp "$OBJ" docs.good
cp "$S/manifest.json" manifest.good
read -r _hdr nchunks < <($TAMPER_PY "$OBJ" info)
check "the docs object has several 64 KiB chunks ($nchunks)" test "$nchunks" -ge 4
mkdir -p tgt/sub
printf 'keep me\n' >tgt/a.txt
printf 'mine\n' >tgt/sub/other
snapshot tgt >tgt.before
for mode in $TAMPER; do
	for fix in fixed unfixed; do
		cp docs.good "$OBJ"
		cp manifest.good "$S/manifest.json"
		$TAMPER_PY "$OBJ" "$mode" k1.key || exit 99
		[ $fix = fixed ] && { $TAMPER_PY --fix-manifest "$S/manifest.json" "$OBJ" || exit 99; }
		if [ $fix = fixed ]; then
			check_exit "$mode: restore fails as damage (manifest fixed up)" 6 \
				C -q restore enc --sink here --source docs --identity k1.key --set path="$T/tgt" --force
			err_has "enc/$id/docs.tar.zst.age"
			snapshot tgt >tgt.after
			check_same "$mode: the target is unchanged" tgt.before tgt.after ./a.txt ./sub/other
			check_exit "$mode: verify --deep says damaged" 6 \
				C verify enc --sink here --deep --identity k1.key
			out_has "docs.tar.zst.age"
		else
			check_exit "$mode: restore fails as damage (manifest as written)" 6 \
				C -q restore enc --sink here --source docs --identity k1.key --set path="$T/tgt" --force
			snapshot tgt >tgt.after
			check_same "$mode: the target is unchanged" tgt.before tgt.after ./a.txt ./sub/other
		fi
	done
done
# a non-age object where the manifest promises age
zstd -dc <(age -d -i k1.key docs.good) | zstd -q -c >"$OBJ"
$TAMPER_PY --fix-manifest "$S/manifest.json" "$OBJ"
check_exit "a clear object where the manifest says age is damage" 6 \
	C -q restore enc --sink here --source docs --identity k1.key --set path="$T/tgt" --force
err_has "enc/$id/docs.tar.zst.age"
snapshot tgt >tgt.after
check_same "... the target is unchanged" tgt.before tgt.after ./a.txt ./sub/other
cp docs.good "$OBJ"
cp manifest.good "$S/manifest.json"
check_exit "the good object restores again" 0 \
	C restore enc --sink here --source docs --identity k1.key --set path="$T/r-again"
check "... the same tree" diff -r data r-again

# ============================================ flat memory for a 1 GiB stream
# abi10src reads its input and writes its restore through FIFOs: the stream
# never touches the disk on cairn's side; compression = none, so the age
# stage sees every byte.  The baseline: the same job with an empty input.
: >empty.in
check_exit "baseline: an encrypted backup of nothing" 0 \
	C -t rss.empty backup big --set big.input="$T/empty.in"
base_kib=$(tail -n 1 rss.empty)
rm -rf store/big
mkfifo big.fifo big.out.fifo
(timeout 600 sh -c 'head -c 1073741824 /dev/zero | tee big.fifo | sha256sum | cut -d" " -f1 >big.in.sum') &
feeder=$!
_age_pids="$_age_pids $feeder"
# (a failed run must not leave the feeder or the reader waiting for
# their FIFO: drain it or close it for them)
check_exit "an encrypted backup of a 1 GiB stream" 0 \
	C -t rss.up backup big || timeout 120 cat big.fifo >/dev/null
wait $feeder
up_kib=$(tail -n 1 rss.up)
bid=$(newest_id store big)
check "the object is 1 GiB plus age's 16 bytes a chunk, nonce and header" test \
	"$(stat -c %s "store/big/$bid/big.raw.age")" -gt $((1073741824 + 16384 * 16 + 16))
check "backup peak RSS $((up_kib / 1024)) MiB within 32 MiB of the baseline's $((base_kib / 1024)) MiB" \
	test "${up_kib:-999999999}" -lt $((base_kib + 32768))
(timeout 600 sh -c 'sha256sum <big.out.fifo | cut -d" " -f1 >big.out.sum') &
reader=$!
_age_pids="$_age_pids $reader"
check_exit "its restore with the identity" 0 \
	C -t rss.down restore big --identity k1.key --force || timeout 10 sh -c ': >big.out.fifo'
wait $reader
down_kib=$(tail -n 1 rss.down)
check "the same 1 GiB comes back" test "$(cat big.out.sum)" = "$(cat big.in.sum)"
check "restore peak RSS $((down_kib / 1024)) MiB within 32 MiB of the baseline's" \
	test "${down_kib:-999999999}" -lt $((base_kib + 32768))
echo "# 1 GiB encrypted: backup peak RSS $((up_kib / 1024)) MiB, restore $((down_kib / 1024)) MiB, baseline $((base_kib / 1024)) MiB"
rm -rf store/big

# ========================================== encrypted log segments: follow
now_ms() { date +%s%3N; }
rec() { echo "$1 $(now_ms) change-$1" >>db.log; }
wait_for() {
	local n=$(($1 * 10))
	shift
	while ! eval "$*" 2>/dev/null; do
		n=$((n - 1))
		[ $n -le 0 ] && return 1
		sleep 0.1
	done
}
segs() { ls store/flw/log/flog 2>/dev/null; }
rec 1
rec 2
timeout 120 "$CAIRN" -c cairn.ini follow flw >logs/follow.out 2>logs/follow.err &
follower=$!
_age_pids="$_age_pids $follower"
check "the follower's first full backup is encrypted" \
	wait_for 30 'ls store/flw/2*/flog.txt.zst.age >/dev/null'
rec 3
rec 4
rec 5
check "records reach segments" wait_for 30 \
	'for f in store/flw/log/flog/*.age; do age -d -i k1.key "$f" | zstd -dc; done | grep -q "^5 "'
kill -TERM $follower
wait $follower
frc=$?
check "the follower stops with exit 0 on SIGTERM" test "$frc" = 0
check "every segment is SEG.log.zst.age beside its SEG.json" test -z \
	"$(segs | grep -vE '^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{16}-[0-9a-f]{16}\.(log\.zst\.age|json)$')"
check "each segment's manifest says encryption age" test \
	"$(jq -r -s 'map(.encryption) | unique | join(" ")' store/flw/log/flog/*.json)" = age
check "each object's SHA-256 in its manifest is of the encrypted bytes" sh -c \
	'for m in store/flw/log/flog/*.json; do test "$(jq -r .sha256 "$m")" = "$(sha256sum <"store/$(jq -r .object "$m")" | cut -d" " -f1)" || exit 1; done'
for f in store/flw/log/flog/*.age; do age -d -i k1.key "$f" | zstd -dc; done >segs.plain
awk '$1 > 2' db.log >want.log
check_same "age -d | zstd -dc of the segments gives the records after the base" want.log segs.plain "5 "
check_exit "restore --at latest needs the identity: without it, what to give" 3 C restore flw --at latest
err_has "--identity"
check "... and nothing is written" test ! -e ftarget
check_exit "restore --at latest with the identity" 0 C restore flw --at latest --identity k1.key
check_same "the base and every record" db.log ftarget "1 " "5 "
rm -f ftarget
check_exit "restore --at latest with a wrong identity" 1 C restore flw --at latest --identity k3.key
err_has "k3.key opens flw/"
check "... and nothing is written" test ! -e ftarget
check_exit "verify --deep of the log with the identity" 0 C verify flw --deep --identity k1.key
check_exit "a shallow verify of the log without a key" 0 C verify flw
# a damaged segment (its SEG.json fixed up): refused before the target changes
seg=$(grep -l '"records": [1-9]' store/flw/log/flog/*.json | sort | tail -n 1)
segobj=store/$(jq -r .object "$seg")
cp "$segobj" seg.good
cp "$seg" segjson.good
for mode in stanza chunk:0; do
	cp seg.good "$segobj"
	cp segjson.good "$seg"
	$TAMPER_PY "$segobj" "$mode" && $TAMPER_PY --fix-manifest "$seg" "$segobj" || exit 99
	echo sentinel >ftarget
	check_exit "segment $mode: restore --at latest fails as damage" 6 \
		C restore flw --at latest --identity k1.key --force
	err_has "$(basename "$segobj")"
	check "segment $mode: the target is unchanged" grep -qx sentinel ftarget
	check_exit "segment $mode: verify --deep says damaged" 6 C verify flw --deep --identity k1.key
done
cp seg.good "$segobj"
cp segjson.good "$seg"

# ============================================ no secret in any output
# Every stdout and stderr of every run (logs/), the follower's, the
# redis and mongo servers' logs, the run records (state/), the stores and
# the hook's environment; the key files and the passphrase files are the
# only places they may be.
check "the after hook ran (its environment is searched too)" test -s hook.env
found=$(
	printf '%s\n' "$SECRETS" "$PASS" | while read -r s; do
		[ -n "$s" ] && grep -rlaF --exclude='k[123].key' --exclude=open.key \
			--exclude=pass.txt --exclude=wrong.txt -- "$s" .
	done | sort -u
)
check "no identity and no passphrase in any output, log, record or store${found:+: $found}" \
	test -z "$found"
check "the passphrase is in no environment a hook saw" sh -c "! grep -qF -- '$PASS' hook.env"
