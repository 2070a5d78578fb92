#!/bin/bash
# untrusted_sink.sh - the sink's content is untrusted input: a lying or
# planted manifest, a FIFO or a symlink planted as an object, names with
# escape sequences; and the leftovers of killed runs, removed by the next
# run of the same job and only by it.  Anything that could hang runs under
# timeout, so a hang fails instead of stalling CI.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 29

mkdir -p "$T/data" "$T/store"
printf 'alpha\n' >"$T/data/a.txt"
write_ini daily
# tcairn ARGS...: cairn with a 20 s limit
tcairn() { timeout -k 5 20 "$CAIRN" -c "$T/cairn.ini" "$@"; }

check_exit "first backup" 0 cairn backup daily
a=$(newest_id "$T/store" daily)
sleep 1
check_exit "second backup" 0 cairn backup daily
b=$(newest_id "$T/store" daily)

# --- a manifest that lies about where it is --------------------------------
cp "$T/store/daily/$b/docs.tar.zst" "$T/b.obj"
head -c 4096 /dev/urandom >"$T/store/daily/$b/docs.tar.zst"
cp "$T/store/daily/$b/manifest.json" "$T/b.manifest"
cp "$T/store/daily/$a/manifest.json" "$T/store/daily/$b/manifest.json"
check_exit "verify --id of a set holding another set's manifest is damage" 6 cairn verify daily --id "$b"
out_has "describes set daily/$a, not the set daily/$b"
check_exit "restore of it is damage too" 6 cairn restore daily --id "$b" --set path="$T/r1"
check "and writes nothing" test ! -e "$T/r1"
cp "$T/b.manifest" "$T/store/daily/$b/manifest.json"
jq '.sources[0].object = "daily/../../etc/passwd"' "$T/b.manifest" >"$T/store/daily/$b/manifest.json"
check_exit "a manifest naming an object outside its set is damage" 6 cairn restore daily --id "$b" --set path="$T/r1"
err_has "not an object of this set"
jq '.sources = []' "$T/b.manifest" >"$T/store/daily/$b/manifest.json"
check_exit "a manifest without sources is damage" 6 cairn verify daily --id "$b"
cp "$T/b.manifest" "$T/store/daily/$b/manifest.json"
cp "$T/b.obj" "$T/store/daily/$b/docs.tar.zst"
check_exit "the repaired set verifies" 0 cairn verify daily --id "$b"

# --- a FIFO or a symlink planted as the object ------------------------------
obj="$T/store/daily/$b/docs.tar.zst"
mv "$obj" "$T/b.obj"
mkfifo "$obj"
check_exit "verify of a FIFO planted as the object fails at once" 6 tcairn verify daily --id "$b"
check_exit "restore of it fails at once" 6 tcairn restore daily --id "$b" --set path="$T/r2"
check "and writes nothing" test ! -e "$T/r2"
rm "$obj"
# a symlink to a real backup object outside the store: it must not be read
mkdir -p "$T/outside"
cp "$T/b.obj" "$T/outside/x.tar.zst"
ln -s "$T/outside/x.tar.zst" "$obj"
check_exit "verify of a symlink planted as the object fails" 6 tcairn verify daily --id "$b"
check_exit "restore of it fails" 6 tcairn restore daily --id "$b" --set path="$T/r3"
check "and restores nothing from outside the store" test ! -e "$T/r3"
rm "$obj"
mv "$T/b.obj" "$obj"
# a symlinked job directory: a backup must not write through it
mv "$T/store/daily" "$T/store.daily"
ln -s "$T/outside" "$T/store/daily"
tcairn backup daily >"$T/out" 2>"$T/err"
check "a backup never writes through a symlinked job directory" \
	test -z "$(find "$T/outside" -newer "$T/outside/x.tar.zst" -type f)"
rm "$T/store/daily"
mv "$T/store.daily" "$T/store/daily"

# --- names with escape sequences --------------------------------------------
jq '.sources[0].object = "daily/'"$b"'/\u001b[2J\u001b]0;owned\u0007x"' "$T/b.manifest" >"$T/store/daily/$b/manifest.json"
cairn verify daily --id "$b" >"$T/out" 2>"$T/err"
check "verify escapes control characters of a planted object name" \
	bash -c "! grep -q $'\\033' '$T/out' '$T/err' && grep -qF '\\x1b[2J' '$T/out' '$T/err'"
jq '.sources[0].name = "d\u001b[31mocs"' "$T/b.manifest" >"$T/store/daily/$b/manifest.json"
cairn list daily >"$T/out" 2>"$T/err"
check "list escapes control characters from a manifest" \
	bash -c "! grep -q $'\\033' '$T/out' '$T/err' && grep -qF '\\x1b' '$T/out'"
cp "$T/b.manifest" "$T/store/daily/$b/manifest.json"

# --- leftovers of a killed run go, at once, and only one's own ---------------
head -c 100M /dev/urandom >"$T/data/big.bin"
"$CAIRN" -c "$T/cairn.ini" backup daily 2>"$T/err" &
pid=$!
for _ in $(seq 100); do
	[ -n "$(find "$T/store/daily" -name '.*.part' 2>/dev/null)" ] && break
	sleep 0.05
done
kill -9 $pid
wait $pid 2>/dev/null
check "kill -9 left a temporary file" test -n "$(find "$T/store/daily" -name '.*.part')"
check_exit "the next backup succeeds" 0 cairn backup daily
check "and removed the temporary file of the killed run" \
	test -z "$(find "$T/store/daily" -name '.*.part')"
check "and left no empty set directory" test -z "$(find "$T/store/daily" -mindepth 1 -type d -empty)"
rm -f "$T/data/big.bin"

# --- two runs of one job with different state_dirs on one sink --------------
# xz on random data is slow enough for the second run to start in time
printf 'compression = xz\ncompression_level = 6\n' >>"$T/cairn.ini"
sed 's/^state_dir = state$/state_dir = state2/' "$T/cairn.ini" >"$T/other.ini"
head -c 40M /dev/urandom >"$T/data/big.bin"
"$CAIRN" -c "$T/cairn.ini" backup daily 2>"$T/err1" &
pid=$!
for _ in $(seq 100); do
	[ -n "$(find "$T/store/daily" -name '.*.part' 2>/dev/null)" ] && break
	sleep 0.05
done
check_exit "a second run of the job from another state_dir is refused as locked" 5 \
	timeout 20 "$CAIRN" -c "$T/other.ini" backup daily
err_has "locked"
wait $pid
rc=$?
check "the first run completes" test "$rc" = 0 || diag "$T/err1"
check_exit "and its set verifies" 0 cairn verify daily
rm -f "$T/data/big.bin"

# --- the lock file is no object ----------------------------------------------
check_exit "list still works" 0 cairn list daily --json
check "and shows no lock file" bash -c "! grep -q 'lock' '$T/out'"
