#!/bin/bash
# pins.sh - sets kept on purpose (issue 15): keep_daily keeps the newest
# set of each day and prune runs after every backup, so a 14:00 "before
# the deploy" backup used to remove 02:00's.  backup --pin, cairn pin and
# cairn unpin; prune says "pinned"; list and status show pins; a pin
# planted in the sink only ever keeps more.  libfaketime freezes the clock
# of each backup at its hour.
. "$(dirname "$0")/lib.sh"
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
command -v jq >/dev/null || {
	echo "1..0 # SKIP needs jq"
	exit 0
}
plan 44

mkdir -p "$T/data" "$T/store"
echo one >"$T/data/a"
write_ini j here=store
printf '[retention r]\nkeep_daily = 7\ntimezone = UTC\n' >"$T/r.ini"
# the job's retention and prune after every backup (the default)
sed -i 's/^\[job j\]$/[job j]\nretention = r/' "$T/cairn.ini"
cat "$T/r.ini" >>"$T/cairn.ini"

# at UTC-TIME CMD...: CMD with the clock frozen then
at() {
	local when=$1
	shift
	TZ=UTC LD_PRELOAD=$FAKETIME_LIB FAKETIME="$when" "$@"
}
sets() { ls "$T/store/j" | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | tr '\n' ' '; }
# why ID: prune's reason for the set in the dry run's JSON
why() { cairn prune j --dry-run --json | jq -r --arg id "$1" '.sinks[0].sets[] | select(.id == $id) | .why'; }

# --- the defect: without a pin the day's second backup removes the first ---
check_exit "02:00 backup" 0 at "2021-01-04 02:00:00" "$CAIRN" -c "$T/cairn.ini" backup j
check_exit "14:00 backup" 0 at "2021-01-04 14:00:00" "$CAIRN" -c "$T/cairn.ini" backup j
check "the 14:00 backup's prune removed 02:00's" test "$(sets)" = "20210104T140000Z "

# --- backup --pin at 14:00 keeps the night's set in its daily place ---------
check_exit "02:00 backup" 0 at "2021-01-05 02:00:00" "$CAIRN" -c "$T/cairn.ini" backup j
check_exit "14:00 backup --pin" 0 at "2021-01-05 14:00:00" "$CAIRN" -c "$T/cairn.ini" backup j --pin
check "both sets of the day are kept" \
	test "$(sets)" = "20210104T140000Z 20210105T020000Z 20210105T140000Z "
check "the pin is an object of the set" test -f "$T/store/j/20210105T140000Z/pin"
check "it says when, where and by whom" test \
	"$(jq -r '(.id | length) > 0 and (.pinned_at | length) > 0 and (.host | length) > 0' \
		"$T/store/j/20210105T140000Z/pin")" = true
check "prune says pinned" test "$(why 20210105T140000Z)" = pinned
check "the 02:00 set keeps its daily place" test "$(why 20210105T020000Z)" = "daily 1/7"
check_exit "prune --dry-run" 0 cairn prune j --dry-run
out_has "20210105T140000Z  2021-01-05 14:00:00  complete    keep    pinned"
check_exit "prune --json marks it" 0 cairn prune j --dry-run --json
check "pinned: true in the JSON" test \
	"$(jq -r '.sinks[0].sets[] | select(.id == "20210105T140000Z") | .pinned' "$T/out")" = true
check_exit "list" 0 cairn list j
check "list marks the pinned set" grep -q '^j  *20210105T140000Z .*\[pinned\]$' "$T/out"
check "and only it" test "$(grep -c pinned "$T/out")" = 1
check_exit "list --json" 0 cairn list j --json
check "pinned in list's JSON" test "$(jq -r '[.sets[] | select(.pinned)] | map(.id) | join(" ")' "$T/out")" = 20210105T140000Z
check_exit "status --json" 0 cairn status j --json
check "status lists the pin" test "$(jq -r '.jobs[0].sinks[0].pinned | join(" ")' "$T/out")" = 20210105T140000Z
check_exit "status" 0 cairn status j
out_has "j in here: pinned (kept by prune until cairn unpin): 20210105T140000Z"

# --- cairn pin on the night's set, then a 14:00 backup -----------------------
check_exit "02:00 backup" 0 at "2021-01-06 02:00:00" "$CAIRN" -c "$T/cairn.ini" backup j
check_exit "cairn pin" 0 cairn pin j 20210106T020000Z --note "before the deploy"
out_has "pinned j/20210106T020000Z in here"
check "the note is kept" test "$(jq -r .note "$T/store/j/20210106T020000Z/pin")" = "before the deploy"
check_exit "pinning again renews the note" 0 cairn pin j 20210106T020000Z --note "the deploy of the 6th"
out_has "it was already; the note is renewed"
check "the new note" test "$(jq -r .note "$T/store/j/20210106T020000Z/pin")" = "the deploy of the 6th"
check_exit "14:00 backup" 0 at "2021-01-06 14:00:00" "$CAIRN" -c "$T/cairn.ini" backup j
check "the pinned 02:00 set stayed" test -f "$T/store/j/20210106T020000Z/manifest.json"

# --- unpin lets prune remove it ------------------------------------------------
check_exit "cairn unpin" 0 cairn unpin j 20210106T020000Z
out_has "unpinned j/20210106T020000Z in here"
check_exit "prune" 0 cairn prune j
check "prune removed the unpinned set" test ! -e "$T/store/j/20210106T020000Z"
check_exit "unpin of a set that is not pinned says so" 0 cairn unpin j 20210106T140000Z
out_has "was not pinned"

# --- errors ------------------------------------------------------------------
check_exit "pin of a set that is not there: exit 7" 7 cairn pin j 20010101T000000Z
check_exit "a bad id: exit 2" 2 cairn pin j yesterday
exec 9>"$T/state/j.lock"
flock 9
check_exit "pin waits for no running backup: exit 5 while the job's lock is held" 5 \
	cairn pin j 20210106T140000Z
exec 9>&-

# --- a pin planted in the sink only keeps more ----------------------------------
# garbage for a pin: the set is kept, nothing reads it
printf '\x01garbage {' >"$T/store/j/20210104T140000Z/pin"
check "a garbage pin still pins (prune keeps, reads nothing)" test "$(why 20210104T140000Z)" = pinned
# a pin in a set without a manifest keeps no leftover past its grace
mkdir -p "$T/store/j/20200101T000000Z"
echo '{}' >"$T/store/j/20200101T000000Z/pin"
touch -d '2020-01-01 00:00:00' "$T/store/j/20200101T000000Z/pin"
check "an incomplete set with a pin is still a leftover" \
	test "$(why 20200101T000000Z)" = "incomplete (no manifest) for more than 1d"
check_exit "pin refuses an incomplete set" 7 cairn pin j 20200101T000000Z
