#!/bin/bash
# future_ids.sh - issue 16, item 2: one set whose id lies in the future (a
# host with a wrong clock, or a directory planted with a garbage manifest)
# must not poison later ids.  Backups on successive days (libfaketime
# freezes each run's clock) get their own days' ids, keep_daily = 7 keeps
# them all, list/status/check report the future set, restore's default
# choice passes over it, and two runs in one second still get two ids.
. "$top_srcdir/tests/integration/lib.sh"
need_plugin files local

FAKETIME_LIB=""
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
	/usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
	[ -f "$f" ] && FAKETIME_LIB=$f && break
done
if [ -z "$FAKETIME_LIB" ]; then
	echo "1..0 # SKIP needs libfaketime (Debian: faketime)"
	exit 0
fi
plan 36

cd "$T" || exit 99
mkdir data
FUTURE=20991231T000000Z

ini() {
	write_ini j here=store
	printf 'retention = r\nprune = yes\ncompression_threads = 0\n' >>"$T/cairn.ini"
	printf '\n[retention r]\nkeep_daily = 7\n' >>"$T/cairn.ini"
}
# at UTC-TIME CMD...: CMD with the clock frozen at that UTC time
at() {
	local when=$1
	shift
	TZ=UTC LD_PRELOAD=$FAKETIME_LIB FAKETIME="$when" "$@"
}
sets_in() {
	ls "$1/j" 2>/dev/null | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | tr '\n' ' '
	echo
}
# backups DAY...: one backup at 10:00 UTC on each day of January 2030,
# data/a saying which day
backups() {
	local d
	for d in "$@"; do
		echo "day $d" >data/a
		at "2030-01-${d} 10:00:00" "$CAIRN" -c "$T/cairn.ini" backup j >>"$T/runs" 2>&1 ||
			echo "backup on day $d failed" >>"$T/runs"
	done
}

# ------------------------------------------------ a good manifest
ini
backups 01
first=$(newest_id store j)
check "the first backup has its own day's id" test "$first" = 20300101T100000Z
# the same set copied to a far-future id, its manifest saying that id: a
# complete set as a host whose clock is 70 years ahead would write it
cp -r "store/j/$first" "store/j/$FUTURE"
sed -i "s/$first/$FUTURE/g" "store/j/$FUTURE/manifest.json"
check_exit "the planted set is believed (verify --id)" 0 at "2030-01-01 11:00:00" "$CAIRN" -c "$T/cairn.ini" verify j --id "$FUTURE"
backups 02 03 04 05
check "no backup failed" test ! -s "$T/runs" -o "$(grep -c failed "$T/runs")" = 0
check_same "each later backup has its own day's id and prune kept them all" \
	<(echo "20300101T100000Z 20300102T100000Z 20300103T100000Z 20300104T100000Z 20300105T100000Z $FUTURE ") \
	<(sets_in store)
check_exit "a dry-run prune keeps everything" 0 at "2030-01-05 11:00:00" "$CAIRN" -c "$T/cairn.ini" prune j --dry-run
check "prune says why it keeps the future set" grep -q "$FUTURE.*keep.*future" "$T/out"
check "and that day 5 is the newest complete set it counts" grep -q "20300105T100000Z.*keep.*daily 1/7" "$T/out"

check_exit "list exits 0" 0 at "2030-01-05 11:00:00" "$CAIRN" -c "$T/cairn.ini" list j
check "list marks the future set" grep -q "$FUTURE.*\[id in the future\]" "$T/out"
check "and no other" test "$(grep -c 'in the future' "$T/out")" = 1
check_exit "list --json exits 0" 0 at "2030-01-05 11:00:00" "$CAIRN" -c "$T/cairn.ini" list j --json
check "list --json says future" grep -q '"future": true' "$T/out"

check_exit "status exits 0" 0 at "2030-01-05 11:00:00" "$CAIRN" -c "$T/cairn.ini" status j
check "status warns of the future set" grep -q "j in here: set $FUTURE: its id lies in the future" "$T/out"
check "status's last backup is day 5, not the future set" grep -q "^j .*20300105T100000Z" "$T/out"
check_exit "check warns" 1 at "2030-01-05 11:00:00" "$CAIRN" -c "$T/cairn.ini" check
out_has "WARNING: j in here: set $FUTURE: id lies in the future; a host with a wrong clock, or planted"

rm -rf restored
check_exit "restore without --id" 0 at "2030-01-05 11:00:00" "$CAIRN" -c "$T/cairn.ini" restore j --set path="$T/restored"
check "restore took the newest set of the clock's past (day 5)" grep -qx "day 05" restored/a
err_has "set j/$FUTURE: its id lies in the future"
rm -rf restored
check_exit "restore --id of the future set still works" 0 at "2030-01-05 11:00:00" "$CAIRN" -c "$T/cairn.ini" restore j --id "$FUTURE" --set path="$T/restored"
check "and gives its data (day 1)" grep -qx "day 01" restored/a

# two runs in one second: the second takes the next free second (no
# prune here: keep_daily would keep only one of them)
rm -rf store "$T/runs"
sed -i 's/^prune = yes/prune = no/' "$T/cairn.ini"
echo same >data/a
at "2030-02-01 10:00:00" "$CAIRN" -c "$T/cairn.ini" backup j 2>>"$T/runs"
at "2030-02-01 10:00:00" "$CAIRN" -c "$T/cairn.ini" backup j 2>>"$T/runs"
check_same "two runs in one second get two ids" \
	<(echo "20300201T100000Z 20300201T100001Z ") <(sets_in store)
# a set planted 30 s ahead (inside the 60 s tolerance) is stepped over
mkdir -p store/j/20300201T100100Z store/j/20300201T100101Z
echo garbage >store/j/20300201T100100Z/manifest.json
echo garbage >store/j/20300201T100101Z/manifest.json
at "2030-02-01 10:01:00" "$CAIRN" -c "$T/cairn.ini" backup j 2>>"$T/runs"
check "an occupied second is stepped over to the next free one" test -d store/j/20300201T100102Z

# ------------------------------------------------ a garbage manifest
rm -rf store "$T/runs"
ini
backups 01
mkdir -p "store/j/$FUTURE"
echo 'this is no manifest' >"store/j/$FUTURE/manifest.json"
backups 02 03 04
check "no backup failed (garbage)" test ! -s "$T/runs" -o "$(grep -c failed "$T/runs")" = 0
check_same "a planted garbage manifest poisons no id, prune keeps every day" \
	<(echo "20300101T100000Z 20300102T100000Z 20300103T100000Z 20300104T100000Z $FUTURE ") \
	<(sets_in store)
check_exit "a dry-run prune keeps the garbage set and counts it for nothing" 0 at "2030-01-04 11:00:00" "$CAIRN" -c "$T/cairn.ini" prune j --dry-run
check "the garbage set is kept, not counted" grep -q "$FUTURE.*keep.*not counted" "$T/out"
check_exit "check warns of the garbage set" 1 at "2030-01-04 11:00:00" "$CAIRN" -c "$T/cairn.ini" check
out_has "WARNING: j in here: set $FUTURE: id lies in the future"

# a planted directory in the clock's past with a garbage manifest is
# damage: check names it, prune keeps it without counting it, and it
# takes no day of keep_daily from the real sets
PAST=20300103T120000Z
mkdir -p "store/j/$PAST"
echo 'no manifest either' >"store/j/$PAST/manifest.json"
check_exit "check warns of the damaged set" 1 at "2030-01-04 11:00:00" "$CAIRN" -c "$T/cairn.ini" check
out_has "WARNING: j in here: a damaged set, not counted: "
check "naming it" grep -q "$PAST" "$T/out"
check_exit "prune keeps it, counts it for nothing, and keeps day 3's set" 0 at "2030-01-04 11:00:00" "$CAIRN" -c "$T/cairn.ini" prune j --dry-run
check "the damaged set is kept, not counted" grep -q "$PAST.*keep.*not counted" "$T/out"
check "and day 3's set keeps its day" grep -q "20300103T100000Z.*keep.*daily" "$T/out"
