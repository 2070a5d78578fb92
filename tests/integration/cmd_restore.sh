#!/bin/bash
# cmd_restore.sh - cairn restore: choosing a set (--at, --id), refusing a
# non-empty target, --set reaching the right source.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 38

mkdir -p "$T/data/sub" "$T/store" "$T/store2"
printf 'alpha\n' >"$T/data/a.txt"
printf 'beta\n' >"$T/data/sub/b.txt"
write_ini daily here=store there=store2
cairn backup daily || exit 99
id1=$(newest_id "$T/store" daily)

# --- --at and --id -----------------------------------------------------------
sleep 1 # ids are seconds: the next set must get a later one
printf 'alpha v2\n' >"$T/data/a.txt"
check_exit "a second backup" 0 cairn backup daily
id2=$(newest_id "$T/store" daily)
check "the second set has a later id" test "$id2" \> "$id1"
at1=$(echo "$id1" | sed -E 's/^(....)(..)(..)T(..)(..)(..)Z$/\1-\2-\3T\4:\5:\6Z/')
check_exit "restore --at the first set's time" 0 cairn restore daily --at "$at1" --set path="$T/r1"
check "--at picked the older set" grep -qx alpha "$T/r1/a.txt"
check_exit "restore --id" 0 cairn restore daily --id "$id2" --set path="$T/r2"
check "--id picked that set" grep -qx 'alpha v2' "$T/r2/a.txt"
check_exit "restore --at before any set finds nothing" 7 cairn restore daily --at 2001-01-01 --set path="$T/r3"
err_has "no complete backup set of job daily taken at or before"
check_exit "a bad --at is a usage error" 2 cairn restore daily --at yesterday
check_exit "restore into a non-empty target is refused" 8 cairn restore daily --set path="$T/r2"
err_has "--force"
check_exit "restore --force into it" 0 cairn restore daily --set path="$T/r2" --force

# --- --set reaches the right source --------------------------------------
mkdir -p "$T/web"
echo upload >"$T/web/u.txt"
cat >>"$T/cairn.ini" <<INI

[source web.up]
plugin = files
path = web

[job two]
sources = docs web.up
sinks = here
INI
check_exit "a job with two sources" 0 cairn backup two
check_exit "--set SOURCE.KEY for a source whose name has dots" 0 \
	cairn restore two --set web.up.path="$T/r-web" --set docs.path="$T/r-docs"
check "each source went to its own target" test -f "$T/r-web/u.txt" -a -f "$T/r-docs/a.txt"
check_exit "a --set key no restored source has is a usage error" 2 \
	cairn restore two --set nosuchkey=1 --set path="$T/r-x"
err_has "none of the sources being restored has a key nosuchkey"
check_exit "a --set scoped to a source not in the set is a usage error" 2 \
	cairn restore two --set other.path="$T/r-y"
err_has "restores no source named other"
# a --set value may be a secret: errors name the key and the source, never the value
check_exit "a --set secret for a source not in the set" 2 \
	cairn restore two --set other.password=hunter2 --set path="$T/r-y"
err_has "--set other.password: this restore restores no source named other"
check "its value is not repeated" sh -c '! grep -q hunter2 "$1"' sh "$T/err"
check_exit "a --set secret no restored source has" 2 \
	cairn restore two --set password=hunter2 --set path="$T/r-y"
err_has "--set password: none of the sources being restored has a key password"
check "its value is not repeated either" sh -c '! grep -q hunter2 "$1"' sh "$T/err"

# --- a --source the job lacks is a usage error, not a missing set ----------
check_exit "restore --source that the job does not have" 2 cairn restore two --source web.upp
err_has 'job two has no source named "web.upp"; its sources are: docs, web.up'

# --- a sink that cannot be listed is a failure naming it, never exit 7 -----
if have_plugin s3; then
	port=$(/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')
	cat >>"$T/cairn.ini" <<INI

[sink off]
plugin = s3
endpoint = http://127.0.0.1:$port
bucket = nobody-listens
region = us-east-1
access_key_env = CAIRN_TEST_AK
secret_key_env = CAIRN_TEST_SK
max_retries = 0
timeout = 5

[job far]
sources = docs
sinks = off here
INI
	export CAIRN_TEST_AK=AKIAEXAMPLE CAIRN_TEST_SK=secret-example
	check_exit "restore with the only sink that may hold a set unreachable" 1 \
		cairn restore far --set path="$T/r-far"
	err_has "cannot list the backups of job far in sink off"
	check_exit "the same with --sink" 1 cairn restore far --sink off --set path="$T/r-far"
	check_exit "a sink that answers and holds nothing is still exit 7" 7 \
		cairn restore far --sink here --set path="$T/r-far"
else
	for i in 1 2 3 4; do skip "unreachable sink" "needs the s3 plugin"; done
fi
# --- a key that only shapes backups is refused at restore ----------------
check_exit "--set SOURCE.KEY of a backup-only key is a usage error" 2 \
	cairn restore two --set web.up.exclude=menus --set path="$T/r-z"
err_has "restore --set: key exclude of source web.up (files) has no effect on restore; it only shapes backups"
check "nothing was restored" test ! -e "$T/r-z"
check_exit "a plain backup-only KEY is a usage error too" 2 \
	cairn restore two --set one_file_system=yes --set path="$T/r-z"
err_has "key one_file_system of source docs (files) has no effect on restore"
check_exit "a key that shapes restores still works" 0 \
	cairn restore two --source web.up --set web.up.xattrs=no --set path="$T/r-xa"
check "and restored" test -f "$T/r-xa/u.txt"
