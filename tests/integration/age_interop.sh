#!/bin/bash
# age_interop.sh - the age module (src/age*.c) against Debian's age 1.1,
# through tests/age_tool (stdin to stdout): files age writes to one and
# several recipients, and with a passphrase (typed through a pty, as age
# reads it only from a terminal), are read back byte-equal; what age_tool
# writes is read by age -d; a wrong identity or passphrase, tampering,
# truncation and a non-age input fail with their own exit code and a clear
# line that holds no secret; peak RSS stays flat for a 256 MiB stream.
#
# Run by `make check` with top_builddir set; emits TAP.

. "$(dirname "$0")/lib.sh"
for t in age age-keygen script /usr/bin/time sha256sum; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "1..0 # SKIP needs $t (tools/install-deps: age, util-linux, time)"
		exit 0
	fi
done
AT="$top_builddir/tests/age_tool"

plan 32
cd "$T" || exit 99

# the age module's exit codes (src/age.h)
E_NOMATCH=5 E_PASSPHRASE=6 E_AUTH=8 E_TRUNCATED=9 E_NOTAGE=3
A() { timeout 120 "$AT" "$@"; }
# age_pty PASS COMMAND: runs COMMAND on a pty, typing PASS at each prompt
age_pty() {
	(printf '%s\n' "$1"; sleep 1; printf '%s\n' "$1"; sleep 1) |
		timeout 60 script -qec "$2" /dev/null >/dev/null 2>&1
}

for k in k1 k2 k3 k4; do age-keygen -o $k.key 2>/dev/null; done
for k in k1 k2 k3 k4; do age-keygen -y $k.key >$k.pub; done
cat k3.key k4.key >both.key
{ echo "# the offsite copy"; echo; cat k1.pub; echo "# the vault"; cat k4.pub; } >recips.txt
head -c $((1024 * 1024 + 12345)) /dev/urandom >data
: >empty
printf 'correct horse battery staple\n' >pass.txt

# --- age writes, age_tool reads
age -e -r "$(cat k1.pub)" -o one.age data
check_exit "age_tool reads age's file to one recipient" 0 A decrypt -i k1.key <one.age
check "... byte-equal" cmp -s data "$T/out"
age -e -r "$(cat k1.pub)" -r "$(cat k2.pub)" -r "$(cat k3.pub)" -o three.age data
check_exit "age_tool reads age's file to three recipients with the second key" 0 A decrypt -i k2.key <three.age
check "... byte-equal" cmp -s data "$T/out"
age -e -R recips.txt -o rfile.age data
check_exit "age -R FILE read with an identity file of two keys (the second opens it)" 0 A decrypt -i both.key -b 1000 <rfile.age
check "... byte-equal" cmp -s data "$T/out"
age -e -r "$(cat k1.pub)" -o empty.age empty
check_exit "age's encryption of nothing" 0 A decrypt -i k1.key <empty.age
check "... is empty" test ! -s "$T/out"
age_pty "correct horse battery staple" "age -e -p -o $T/pass.age $T/data"
check "age -p wrote a passphrase file" grep -q '^-> scrypt ' pass.age
check_exit "age_tool reads age's passphrase file" 0 A decrypt -p pass.txt <pass.age
check "... byte-equal" cmp -s data "$T/out"
printf 'correct horse battery stapler\n' >wrong.txt
check_exit "a wrong passphrase: its own exit code" $E_PASSPHRASE A decrypt -p wrong.txt <pass.age
err_has "wrong passphrase"
check "... and no passphrase in the message" sh -c '! grep -q "stapler" "$1"' _ "$T/err"

# --- age_tool writes, age reads
check_exit "age_tool encrypts to two recipients" 0 A encrypt -r "$(cat k1.pub)" -r "$(cat k2.pub)" -b 777 <data
mv "$T/out" tool2.age
check "age -d reads it with the second key, byte-equal" sh -c 'age -d -i k2.key tool2.age | cmp -s data -'
check_exit "age_tool encrypts to a recipients file" 0 A encrypt -R recips.txt <data
mv "$T/out" toolr.age
check "age -d reads it with the file's second recipient's key" sh -c 'age -d -i k4.key toolr.age | cmp -s data -'
check_exit "age_tool encrypts nothing" 0 A encrypt -r "$(cat k1.pub)" <empty
mv "$T/out" toolempty.age
check "age -d reads that as nothing" sh -c 'age -d -i k1.key toolempty.age >e.out && test ! -s e.out'
check_exit "age_tool encrypts with a passphrase (work factor 18)" 0 A encrypt -p pass.txt <data
mv "$T/out" toolpass.age
check "... the header says 18" grep -q '^-> scrypt [A-Za-z0-9+/]* 18$' toolpass.age
age_pty "correct horse battery staple" "age -d -o $T/toolpass.out $T/toolpass.age"
check "age -d reads it with the passphrase, byte-equal" cmp -s data toolpass.out

# --- errors a person can act on
check_exit "an identity that opens nothing" $E_NOMATCH A decrypt -i k4.key <three.age
err_has "none of the identities in k4.key opens stdin; it was encrypted to 3 X25519 recipient(s)"
check "... and no secret key in the message" sh -c '! grep -q "AGE-SECRET-KEY" "$1"' _ "$T/err"
cp one.age bad.age
printf '\x55' | dd of=bad.age bs=1 seek=$((300 * 1024)) conv=notrunc 2>/dev/null
check_exit "a byte changed in a payload chunk of age's file" $E_AUTH A decrypt -i k1.key <bad.age
head -c $(($(stat -c %s one.age) - 12345 - 16)) one.age >cut.age
check_exit "age's file cut on a chunk boundary" $E_TRUNCATED A decrypt -i k1.key <cut.age
check_exit "a file that is not age's" $E_NOTAGE A decrypt -i k1.key <data

# --- flat memory for a large stream
rss() { sed -n 's/^rss=//p' "$1"; }
if head -c 256M /dev/zero |
	timeout 300 /usr/bin/time -f rss=%M -o enc.rss "$AT" encrypt -r "$(cat k1.pub)" |
	timeout 300 /usr/bin/time -f rss=%M -o dec.rss "$AT" decrypt -i k1.key | sha256sum >big.sum &&
	test "${PIPESTATUS[*]}" = "0 0 0 0"; then
	head -c 256M /dev/zero | sha256sum >want.sum
	check "256 MiB round trip through age_tool" cmp -s want.sum big.sum
	echo "# peak RSS: encrypt $(rss enc.rss) KiB, decrypt $(rss dec.rss) KiB"
	check "encrypt's peak RSS under 16 MiB" test "$(rss enc.rss)" -lt 16384
	check "decrypt's peak RSS under 16 MiB" test "$(rss dec.rss)" -lt 16384
else
	not_ok "256 MiB round trip through age_tool"
	not_ok "encrypt's peak RSS"
	not_ok "decrypt's peak RSS"
fi
