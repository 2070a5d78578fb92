#!/bin/bash
# check.sh - cairn check as a Nagios/Icinga plugin: every rule (max_age,
# max_size_drop, the last verify and max_verify_age, max_usage) at its
# warning and critical level, a sink that is down, a failed run, a bad
# configuration; exit 0/1/2/3 and perfdata after '|'.  Time is moved
# with libfaketime (Debian: faketime).
. "$(dirname "$0")/lib.sh"
need_plugin files local
if ! command -v faketime >/dev/null; then
	echo "1..0 # SKIP faketime (Debian: faketime) is missing"
	exit 0
fi
plan 46

mkdir -p "$T/data" "$T/store"
for i in $(seq 20); do head -c 6000 /dev/urandom | base64 -w0 >"$T/data/f$i.txt"; done
cd "$T" || exit 99
# ini EXTRA...: the fixture with EXTRA lines appended to [job j]; lines
# after a "[check]" line go into a [check] section of their own
ini() {
	write_ini j here=store
	printf '%s\n' "$@" >>"$T/cairn.ini"
}
# at OFFSET cairn ARGS...: cairn with the clock moved by OFFSET (+26h)
at() {
	local off=$1
	shift
	faketime -f "$off" "$CAIRN" -c "$T/cairn.ini" "$@"
}

ini
check_exit "no backup at all is critical" 2 cairn check
out_has "CRITICAL: j in here: no complete backup at all"
cairn backup j || exit 99
check_exit "a fresh backup is ok" 0 cairn check
out_has "OK: cairn: 1 job in 1 sink fine | "
check "perfdata: the age in seconds against 25h (90000 s)" grep -qE "'j/here age'=[0-9]+s;;90000;0;" "$T/out"
check "perfdata: the stored size" grep -qE "'j/here size'=[0-9]+B;;;0;" "$T/out"
check "one line only when all is well" test "$(wc -l <"$T/out")" = 1

# --- max_age
check_exit "26 hours later the default max_age (25h) is critical" 2 at +26h check
out_has "CRITICAL: j in here: the last complete backup"
out_has "(max_age 25h)"
check "the first line carries the perfdata" bash -c "head -n 1 '$T/out' | grep -q \"| 'j/here age'=\""
ini "max_age = 25h,49h"
check_exit "max_age = 25h,49h: 30 hours is a warning" 1 at +30h check
out_has "WARNING: j in here: the last complete backup"
check_exit "and 50 hours critical" 2 at +50h check
ini "max_age = off"
check_exit "max_age = off: a week is fine" 0 at +7d check
ini "[check]" "max_age = 2h"
check_exit "[check] max_age = 2h: 3 hours is critical" 2 at +3h check
ini "max_age = 4h" "[check]" "max_age = 2h"
check_exit "the job's own max_age = 4h wins over [check]" 0 at +3h check

# --- max_size_drop: 9 of 20 equal files go (about 45 %), then 19 of 20
rm -f "$T"/data/f{1..9}.txt
cairn backup j || exit 99
ini
check_exit "a 45 % drop is within the default 50 %" 0 cairn check
ini "max_size_drop = 30%,60%"
check_exit "max_size_drop = 30%,60%: a 45 % drop is a warning" 1 cairn check
out_has "% less than"
out_has "(max_size_drop 30 %)"
check "perfdata: the drop in percent" grep -qE "'j/here size_drop'=4[0-9]\.[0-9]%;30;60;0;" "$T/out"
rm -f "$T"/data/f{10..19}.txt
cairn backup j || exit 99
ini
check_exit "a drop of about 90 % is critical by default" 2 cairn check
out_has "(max_size_drop 50 %)"
echo again >"$T/data/f1.txt"
for i in $(seq 2 19); do cp "$T/data/f20.txt" "$T/data/f$i.txt"; done
cairn backup j || exit 99
check_exit "growing again is fine" 0 cairn check

# --- the last verify, and max_verify_age
id=$(newest_id "$T/store" j)
obj=$T/store/j/$id/docs.tar.zst
cp "$obj" "$T/orig"
printf 'garbage' | dd of="$obj" bs=1 seek=100 conv=notrunc status=none
check_exit "verify --json of the damaged set" 6 cairn verify j --json
check "its result: not ok, with the detail" \
	bash -c "jq -e '.results[0].ok == false and .results[0].id == \"$id\" and (.results[0].detail | length) > 0' '$T/out' >/dev/null"
check_exit "a failed verify is critical" 2 cairn check
out_has "CRITICAL: j in here: the last verify (of $id) failed"
cp "$T/orig" "$obj"
cairn verify j >/dev/null 2>&1 || exit 99
check_exit "a good verify afterwards clears it" 0 cairn check
ini "max_age = off" "max_verify_age = 1d,3d"
check_exit "max_verify_age = 1d,3d: 2 days since the verify is a warning" 1 at +2d check
out_has "WARNING: j in here: the last verify was"
check_exit "and 4 days critical" 2 at +4d check
rm -f "$T/state/status/j.json"
check_exit "never verified, with max_verify_age set, is critical" 2 cairn check
out_has "never verified"

# --- max_usage: thresholds around what the file system really uses
pct=$(cairn status --json | jq -r '.jobs[0].sinks[0].usage.percent | floor')
if [ "$pct" -ge 3 ]; then
	ini "max_usage = 1%,100%"
	check_exit "max_usage = 1%,100%: $pct % used is a warning" 1 cairn check
	out_has "% full"
	check "perfdata: usage in percent, 0 to 100" grep -qE "'j/here usage'=[0-9.]+%;1;100;0;100" "$T/out"
	ini "max_usage = 1,$((pct - 1))%"
	check_exit "and critical above $((pct - 1)) %" 2 cairn check
	out_has "(max_usage $((pct - 1)) %)"
else
	for n in 1 2 3 4 5; do skip "max_usage case $n" "the file system of $T is only $pct % used"; done
fi

# --- a sink that is down, a failed run, bad input
ln -s loop "$T/loop"
write_ini j here=store down=loop
cairn backup j >/dev/null 2>&1
check_exit "a sink that cannot be read is unknown" 3 cairn check
out_has "UNKNOWN: j in down: the sink cannot be read"
check "the sink that works is still checked (no problem for it)" bash -c "! grep -q 'j in here' '$T/out'"
echo "[job broken" >"$T/cairn.ini"
check_exit "a broken configuration is unknown, not critical" 3 cairn check
out_has "UNKNOWN: cairn: the configuration"
ini
check_exit "an unknown job is unknown" 3 cairn check nope
