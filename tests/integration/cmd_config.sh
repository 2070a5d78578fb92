#!/bin/bash
# cmd_config.sh - cairn config check and the errors a configuration can
# have: each one line naming the file, line, section and key.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 31

mkdir -p "$T/data" "$T/store" "$T/store2"
write_ini daily here=store there=store2
cp "$T/cairn.ini" "$T/good.ini"

check_exit "config check passes" 0 cairn config check
out_has "ok (1 job, 1 source, 2 sinks)"

sed -i 's/^sinks = here there/sinks = here nowhere/' "$T/cairn.ini"
check_exit "a job naming a missing sink is a config error" 3 cairn backup daily
err_has "cairn.ini:20: [job daily] sinks: no sink named \"nowhere\""
check "the config error is one line" test "$(wc -l <"$T/err")" = 1
cp "$T/good.ini" "$T/cairn.ini"
sed -i 's/^path = data/pth = data/' "$T/cairn.ini"
check_exit "an unknown plugin key is a config error" 3 cairn config check
err_has "cairn.ini:6: [source docs] pth: unknown key for plugin files; did you mean path?"
cp "$T/good.ini" "$T/cairn.ini"
sed -i 's/^plugin = files/plugin = nosuch/' "$T/cairn.ini"
check_exit "a missing plugin exits 4 and names where it looked" 4 cairn config check
err_has "no plugin named nosuch: no nosuch.so in"
cp "$T/good.ini" "$T/cairn.ini"
sed -i 's|^state_dir = state|state_dir = /proc/cairn-cannot-be-here|' "$T/cairn.ini"
check_exit "config check refuses a state_dir that cannot be created" 3 cairn config check
err_has "/proc/cairn-cannot-be-here"
cp "$T/good.ini" "$T/cairn.ini"
check_exit "-c /dev/zero is refused at once, not read forever" 3 timeout 10 "$CAIRN" -c /dev/zero config check
err_has "/dev/zero"
check_exit "-c a directory is refused" 3 timeout 10 "$CAIRN" -c "$T" config check
{ printf '\357\273\277'; cat "$T/good.ini"; } >"$T/bom.ini"
check_exit "an INI file starting with a UTF-8 BOM loads" 0 "$CAIRN" -c "$T/bom.ini" config check
sed 's/^path = data$/path = da\x00ta/' "$T/good.ini" >"$T/nul.ini"
check_exit "a NUL byte in a value is an error naming the line" 3 "$CAIRN" -c "$T/nul.ini" config check
err_has "nul.ini:6:"

# Every error in one run: three independent errors in three sections (a
# plugin key, a plugin value, a job naming a missing retention) plus a
# [check] threshold and a broken line, each reported with its file, line,
# section and key; exit 3.
cp "$T/good.ini" "$T/cairn.ini"
sed -i 's/^path = data/pth = data/; 11s/^fsync = no/fsync = maybe/' "$T/cairn.ini"
printf 'retention = nosuch\nthis line has no equals sign\n\n[check]\nmax_age = soon\n' \
	>>"$T/cairn.ini"
check_exit "config check reports every error and exits 3" 3 cairn config check
err_has "cairn.ini:6: [source docs] pth: unknown key for plugin files; did you mean path?"
err_has "cairn.ini:4: [source docs] path: required by plugin files"
err_has "cairn.ini:11: [sink here] fsync: \"maybe\" is not yes or no"
err_has "cairn.ini:21: [job daily] retention: no retention named \"nosuch\""
err_has "cairn.ini:22: not a section header, key = value line"
err_has "cairn.ini:25: [check] max_age: \"soon\" is not a threshold"
check "one line per error, in the order of the file" \
	test "$(sed -E 's/.*cairn\.ini:([0-9]+):.*/\1/' "$T/err" | tr '\n' ' ')" = "4 6 11 21 22 25 "
check "nothing on stdout when the check fails" test ! -s "$T/out"
check_exit "backup still stops at the first error" 3 cairn backup daily
check "backup's config error is one line" test "$(wc -l <"$T/err")" = 1
# an error in a section header leaves its keys out, not on the section before
cp "$T/good.ini" "$T/cairn.ini"
printf '\n[sink there]\npath = elsewhere\n[sink bad name!]\nfsync = no\n' >>"$T/cairn.ini"
check_exit "a refused section header's keys are not checked against another section" 3 \
	cairn config check
err_has "cairn.ini:22: [sink there]: defined twice (first at line 13)"
check "and only the two headers are errors" test "$(wc -l <"$T/err")" = 2
cp "$T/good.ini" "$T/cairn.ini"
