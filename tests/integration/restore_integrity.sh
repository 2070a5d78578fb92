#!/bin/bash
# restore_integrity.sh - a restore changes its target only with data proven
# good, and fails loudly for anything it could not write: a full disk, a
# signal, a flipped byte, a cut object, a missing one.  Each case checks the
# exit code (also under -q), the message, and that the target is as it was.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 33

mkdir -p "$T/data/sub" "$T/store"
printf 'alpha\n' >"$T/data/a.txt"
printf 'beta\n' >"$T/data/sub/b.txt"
head -c 3M /dev/urandom >"$T/data/sub/random.bin"
write_ini daily

check_exit "backup" 0 cairn backup daily
id=$(newest_id "$T/store" daily)
obj="$T/store/daily/$id/docs.tar.zst"
check "the object is a zstd file with content checksums that zstd -t accepts" \
	zstd -q -t "$obj"
# frame header descriptor: bit 2 is the content checksum flag
fhd=$(od -An -tu1 -j4 -N1 "$obj" | tr -d ' ')
check "its frame header has the checksum flag" test $((fhd & 4)) = 4

# snapshot DIR: a listing of names, sizes and contents to compare with later
snapshot() { (cd "$1" && find . -printf '%p %s %m\n' | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort); }

# --- a damaged object: target unchanged ------------------------------------
cp "$obj" "$T/good.obj"
size=$(stat -c %s "$obj")
printf '\xff' | dd of="$obj" bs=1 seek=$((size / 2)) conv=notrunc status=none
check_exit "restore of a flipped byte fails as damage" 6 cairn -q restore daily --set path="$T/r1"
err_has "damaged"
check "and leaves no target behind" test ! -e "$T/r1"
check "nor a staging directory beside it" test -z "$(ls -A "$T" | grep cairn-restore)"
mkdir -p "$T/r2"
printf 'keep me\n' >"$T/r2/a.txt"
printf 'mine\n' >"$T/r2/other"
snapshot "$T/r2" >"$T/r2.before"
check_exit "restore --force of a flipped byte over a tree fails" 6 cairn -q restore daily --set path="$T/r2" --force
snapshot "$T/r2" >"$T/r2.after"
check_same "and leaves every file of the tree as it was" "$T/r2.before" "$T/r2.after" ./a.txt ./other
check_exit "verify says damaged" 6 cairn verify daily
check_exit "zstd -t catches it without cairn" 1 zstd -q -t "$obj"

# --- a truncated object -----------------------------------------------------
cp "$T/good.obj" "$obj"
truncate -s $((size - 100)) "$obj"
check_exit "restore of a cut object fails as damage" 6 cairn -q restore daily --set path="$T/r3"
check "and leaves no target behind" test ! -e "$T/r3"
check_exit "restore --force of a cut object fails" 6 cairn -q restore daily --set path="$T/r2" --force
snapshot "$T/r2" >"$T/r2.after"
check_same "and the tree is untouched" "$T/r2.before" "$T/r2.after" ./a.txt ./other

# --- a missing object: damage, exit 6, in restore and verify alike ---------
rm "$obj"
check_exit "restore of a set whose object is missing is damage" 6 cairn -q restore daily --set path="$T/r4"
err_has "missing"
check_exit "verify of it is damage too" 6 cairn -q verify daily
cp "$T/good.obj" "$obj"

# --- the good object restores, with --force over the tree -------------------
check_exit "the intact object restores" 0 cairn -q restore daily --set path="$T/r5"
check "with the right content" cmp "$T/data/sub/random.bin" "$T/r5/sub/random.bin"
check_exit "and restores with --force over a tree" 0 cairn -q restore daily --set path="$T/r2" --force
check "replacing the namesake" cmp "$T/data/a.txt" "$T/r2/a.txt"
check "keeping files the set does not have" test -f "$T/r2/other"

# --- a full disk ------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
	skip "restore into a full file system fails" "needs root to mount a tmpfs"
	skip "naming the file" "needs root"
	skip "and leaves no target" "needs root"
elif ! mkdir -p "$T/small" || ! mount -t tmpfs -o size=1m tmpfs "$T/small" 2>"$T/err"; then
	skip "restore into a full file system fails" "cannot mount a tmpfs: $(head -c 100 "$T/err")"
	skip "naming the file" "no tmpfs"
	skip "and leaves no target" "no tmpfs"
else
	check_exit "restore into a full file system fails, also under -q" 1 cairn -q restore daily --set path="$T/small/t"
	err_has "random.bin"
	check "and leaves no target" test -z "$(ls -A "$T/small")"
	umount "$T/small"
fi

# --- SIGINT in the middle of a large file -----------------------------------
head -c 200M /dev/urandom >"$T/data/big.bin"
check_exit "backup with a large file" 0 cairn backup daily
"$CAIRN" -c "$T/cairn.ini" restore daily --set path="$T/r6" 2>"$T/err" &
pid=$!
for _ in $(seq 100); do
	[ -n "$(find "$T" -maxdepth 2 -name 'big.bin' -path '*cairn-restore*' 2>/dev/null)" ] && break
	sleep 0.05
done
kill -INT $pid
wait $pid
rc=$?
check "SIGINT stops the restore with exit 130" test "$rc" = 130 || diag "$T/err"
check "and leaves no target behind" test ! -e "$T/r6"
check "nor a staging directory" test -z "$(ls -A "$T" | grep cairn-restore)"
rm -f "$T/data/big.bin"

# --- a non-root restore with a device node ----------------------------------
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	skip "a non-root restore skips a device node with a warning" "needs root and setpriv"
	skip "and restores the rest" "needs root"
else
	mknod "$T/data/null" c 1 3
	check_exit "backup with a device node" 0 cairn backup daily
	rm "$T/data/null"
	# uid 65534 may not reach the build (a checkout under /root is 0700):
	# it runs a copy of cairn and its plugins from the scratch directory.
	mkdir -p "$T/nrbin/plugins"
	cp "$CAIRN" "$T/nrbin/cairn" && cp "$CAIRN_PLUGIN_PATH"/*.so "$T/nrbin/plugins/"
	chmod -R a+rwX "$T" && mkdir -m 0777 "$T/nr"
	check_exit "a non-root restore skips a device node with a warning" 0 \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		env CAIRN_PLUGIN_PATH="$T/nrbin/plugins" \
		"$T/nrbin/cairn" -c "$T/cairn.ini" restore daily --set path="$T/nr/t"
	if grep -q 'null' "$T/err" && [ -f "$T/nr/t/a.txt" ] && [ ! -e "$T/nr/t/null" ]; then
		ok "and restores the rest"
	else
		not_ok "and restores the rest"
		diag "$T/err"
	fi
fi
