#!/bin/bash
# s3_lock.sh - two runs of one job from two state_dirs (two hosts, as far
# as the store can tell) into one S3 prefix never mix their objects: the
# s3 sink's lock.  Started together in one second (libfaketime pins it, a
# before hook holds both until the other is there too), today's sink gave
# both runs one id and stored one host's object with the other's manifest.
# Now exactly one run holds the lock and writes, the other exits 5 naming
# the holder, and what is stored verifies (these checks failed 1 run in 3
# while the holder's refresh thread rewrote its lock in a loop under the
# frozen clock: see "clock frozen" below).  Both lock modes are tried:
# lock = conditional (If-None-Match: *, which the fault proxy in front of
# s3rver makes atomic as AWS S3 does) and lock = refresh (lock objects
# with a staleness limit, for stores without conditional writes).  A
# stale lock (its holder dead) is taken over with a warning; unlock
# removes the lock object.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3_lib.sh"
need_s3
if ! command -v faketime >/dev/null; then
	echo "1..0 # SKIP faketime (Debian: faketime) is missing"
	exit 0
fi
plan 26

s3_start bkt || exit 99
fp_start || exit 99
for h in a b; do
	mkdir -p "$T/data-$h"
	head -c 200000 /dev/urandom >"$T/data-$h/$h.bin"
	printf 'host %s\n' "$h" >"$T/data-$h/who.txt"
done

# host_ini HOST MODE PREFIX: host HOST's config, its own state_dir and data;
# both wait in their before hook (60 s at most: a loaded machine may start
# one much later) until the other got there.
host_ini() {
	local h=$1 other=b
	[ "$1" = b ] && other=a
	{
		printf '[cairn]\nstate_dir = %s\n\n' "$T/state-$h"
		printf '[source docs]\nplugin = files\npath = %s\n' "$T/data-$h"
		if [ "$2" = default ]; then
			s3_sink_ini cloud bkt "$FP_ENDPOINT" prefix="$3"
		else
			s3_sink_ini cloud bkt "$FP_ENDPOINT" prefix="$3" lock="$2"
		fi
		printf '\n[job daily]\nsources = docs\nsinks = cloud\n'
		printf "before = sh -c 'touch %s/at-%s; i=0; while [ ! -e %s/at-%s ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done'\n" \
			"$T" "$h" "$T" "$other"
	} >"$T/$h.ini"
	chmod 600 "$T/$h.ini"
}

# together MODE PREFIX: both hosts' backups at once in one frozen second;
# their exit codes in $T/rc-a and $T/rc-b, stderr in $T/err-a, $T/err-b.
together() {
	local now h pids=
	rm -f "$T"/at-a "$T"/at-b
	host_ini a "$1" "$2"
	host_ini b "$1" "$2"
	now=$(date '+%Y-%m-%d %H:%M:%S')
	for h in a b; do
		(
			DONT_FAKE_MONOTONIC=1 timeout 120 faketime -f "$now" \
				"$CAIRN" -c "$T/$h.ini" backup daily >"$T/out-$h" 2>"$T/err-$h"
			echo $? >"$T/rc-$h"
		) &
		pids="$pids $!"
	done
	wait $pids # not the servers
}

# one_won: exactly one run exited 0 and the other 5; sets WIN and LOSE
one_won() {
	local ra rb
	ra=$(cat "$T/rc-a") rb=$(cat "$T/rc-b")
	WIN= LOSE=
	[ "$ra" = 0 ] && [ "$rb" = 5 ] && WIN=a LOSE=b
	[ "$ra" = 5 ] && [ "$rb" = 0 ] && WIN=b LOSE=a
	[ -n "$WIN" ] && return 0
	echo "# exits: a $ra, b $rb" >&2
	diag "$T/err-a" "$T/err-b"
	return 1
}

# --- the holder's refresh, clock frozen -------------------------------------
# The holder rewrites its lock every lock_stale / 6 (300 s here), never in
# a loop: libfaketime ends a CLOCK_MONOTONIC condition wait at once, and
# the refresh thread that trusted that wait rewrote the lock object
# hundreds of times a second while its run went on; s3rver, rewriting the
# object in place, then failed the other run's existence check, and both
# runs took the lock (the 1-in-3 failure of the race below).
printf 'PUT ^/bkt/frozen/daily/[^/]+/docs 1 stall 5\n' >"$T/faults"
host_ini a default frozen
sed -i -e '/^before = /d' -e "s|/state-a|/state-f|" "$T/a.ini"
DONT_FAKE_MONOTONIC=1 timeout 120 faketime -f "$(date '+%Y-%m-%d %H:%M:%S')" \
	"$CAIRN" -c "$T/a.ini" backup daily >"$T/out" 2>"$T/err"
: >"$T/faults"
nput=$(grep -c '^[0-9]* PUT /bkt/frozen/daily/\.lock ' "$FP_LOG")
check "a run of 5 s writes its lock object once, not in a loop ($nput PUTs)" \
	test "$nput" = 1 || diag "$T/err"

# --- the same second, lock = conditional (the default) ---------------------
# The first upload of a data object stalls 5 s (then the connection drops
# and the sink retries), so the two runs overlap however the machine
# schedules them.
printf 'PUT ^/bkt/same/daily/[^/]+/docs 1 stall 5\n' >"$T/faults"
together default same
: >"$T/faults"
check "one run holds the lock and writes, the other exits 5 (conditional)" one_won
check "the loser's message names the holder's state_dir and pid" \
	grep -q "state-${WIN:-x}.*pid\|pid.*state-${WIN:-x}" "$T/err-${LOSE:-x}"
check_exit "the stored set verifies" 0 "$CAIRN" -c "$T/a.ini" verify daily --deep
check "exactly one set is stored" \
	test "$(s3_keys bkt same/ | grep -c '/manifest.json$')" = 1
s3_keys bkt same/ >"$T/keys"
check "no lock object is left behind" sh -c '! grep -q "\.lock" "$1"' sh "$T/keys"
check_exit "restore gives back the winner's tree" 0 \
	"$CAIRN" -c "$T/a.ini" restore daily --set path="$T/r1"
check "it is the winner's data, whole" diff -r "$T/data-${WIN:-x}" "$T/r1"

# --- the same second, lock = refresh ---------------------------------------
# Lock objects cannot be made atomically: each run writes its own, then
# looks for others.  Two at once may both see the other and both give up;
# never may both write.
printf 'PUT ^/bkt/fresh/daily/[^/]+/docs 1 stall 5\n' >"$T/faults"
together refresh fresh
: >"$T/faults"
ra=$(cat "$T/rc-a") rb=$(cat "$T/rc-b")
check "a run that did not write exits 5 (refresh; exits $ra $rb)" \
	sh -c 'for r; do [ "$r" = 0 ] || [ "$r" = 5 ] || exit 1; done' sh "$ra" "$rb"
nsets=$(s3_keys bkt fresh/ | grep -c '/manifest.json$')
# Both may succeed one after the other (the lock is held only while one
# writes): then each has its own set, never one shared id.
nok=0
for r in "$ra" "$rb"; do [ "$r" = 0 ] && nok=$((nok + 1)); done
check "one set for each run that wrote ($nok, $nsets sets)" test "$nsets" = "$nok"
if [ "$ra" = 0 ] || [ "$rb" = 0 ]; then
	check_exit "what is stored verifies (refresh)" 0 "$CAIRN" -c "$T/a.ini" verify daily --deep
else
	check "nothing was stored" test "$nsets" = 0
fi
s3_keys bkt fresh/ >"$T/keys"
check "no lock object is left behind (refresh)" sh -c '! grep -q "\.lock" "$1"' sh "$T/keys"

# --- a lock held elsewhere, and a stale one ---------------------------------
# plant KEY TIME: a lock object as another host's live run writes it
plant() {
	printf 'cairn lock\nhost=elsewhere.example\npid=4242\nstate_dir=/srv/other\ntime=%s\n' \
		"$2" >"$T/lockbody"
	s3aws s3 cp --quiet "$T/lockbody" "s3://bkt/$1" >/dev/null
}
single_ini() { # MODE PREFIX: one host, no before hook
	{
		printf '[cairn]\nstate_dir = %s\n\n' "$T/state-s"
		printf '[source docs]\nplugin = files\npath = %s\n' "$T/data-a"
		s3_sink_ini cloud bkt "$FP_ENDPOINT" prefix="$2" lock="$1"
		printf '\n[job daily]\nsources = docs\nsinks = cloud\n'
	} >"$T/cairn.ini"
	chmod 600 "$T/cairn.ini"
}
for mode in conditional refresh; do
	single_ini "$mode" "held-$mode"
	if [ "$mode" = conditional ]; then key=held-$mode/daily/.lock; else key=held-$mode/daily/.lock-elsewhere; fi
	plant "$key" "$(date +%s)"
	check_exit "$mode: a live lock of another host stops the backup (exit 5)" 5 \
		cairn_in 120 backup daily
	err_has "elsewhere.example"
	check "$mode: and nothing was written" \
		test "$(s3_keys bkt "held-$mode/" | grep -vc '/\.lock')" = 0
	plant "$key" "$(($(date +%s) - 7200))"
	check_exit "$mode: a stale lock (2 hours without refresh) is taken over" 0 \
		cairn_in 120 backup daily
	err_has "stale"
	s3_keys bkt "held-$mode/" >"$T/keys"
	check "$mode: the set is there and no lock is left" \
		sh -c 'grep -q "/manifest.json$" "$1" && ! grep -q "/\.lock" "$1"' sh "$T/keys" ||
		diag "$T/keys"
done

single_ini sometimes bad
check_exit "an unknown lock mode fails the sink" 1 cairn_in 60 backup daily
err_has 'lock "sometimes" is not conditional, refresh or none'
