#!/bin/bash
# cli.sh - the cairn command as a sysadmin meets it: exit codes, one-line
# errors, the lock, signals, partial failure, --at, cron silence.
. "$(dirname "$0")/lib.sh"
plan 64

mkdir -p "$T/data/sub" "$T/store" "$T/store2"
printf 'alpha\n' >"$T/data/a.txt"
printf 'beta\n' >"$T/data/sub/b.txt"
cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = state

[source docs]
plugin = files
path = data

[sink here]
plugin = local
path = store
fsync = no

[sink there]
plugin = local
path = store2
fsync = no

[job daily]
sources = docs
sinks = here there
INI

# --- basics ----------------------------------------------------------------
check_exit "--version" 0 "$CAIRN" --version
out_has "plugin ABI 1."
check_exit "--help" 0 "$CAIRN" --help
check_exit "an unknown command is a usage error" 2 "$CAIRN" frobnicate
check_exit "an unknown job is a usage error naming the jobs" 2 cairn backup nosuch
err_has 'no job named "nosuch"; jobs: daily'
check_exit "config check passes" 0 cairn config check
out_has "ok (1 job, 1 source, 2 sinks)"

# --- config errors -----------------------------------------------------------
cp "$T/cairn.ini" "$T/good.ini"
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

# --- backup, list ------------------------------------------------------------
check_exit "backup succeeds" 0 cairn backup daily
check "a successful backup is silent under cron" test ! -s "$T/err" -a ! -s "$T/out"
id1=$(newest_id "$T/store" daily)
check "the set is in both sinks" test -f "$T/store/daily/$id1/manifest.json" -a \
	-f "$T/store2/daily/$id1/docs.tar.zst"
check_exit "list" 0 cairn list
out_has "$id1"
check_exit "list --json" 0 cairn list daily --json
check "list --json is JSON with both sinks' sets" \
	test "$(jq -r '[.sets[] | .sink] | sort | join(",")' "$T/out")" = "here,there"
check "list --json carries the manifest" \
	test "$(jq -r '.sets[0].manifest.sources[0].plugin' "$T/out")" = files

# --- --at and --id -----------------------------------------------------------
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

# --- lock ---------------------------------------------------------------------
exec 9>"$T/state/daily.lock"
flock 9
check_exit "a second run of the job is refused while the lock is held" 5 cairn backup daily
err_has "job daily is already running"
exec 9>&-

# --- a failing sink -----------------------------------------------------------
chmod 000 "$T/store2"
if [ "$(id -u)" = 0 ]; then
	# root ignores permissions: make the sink's path a file instead
	chmod 755 "$T/store2"; mv "$T/store2" "$T/store2.d"; echo x >"$T/store2"
fi
check_exit "a failing sink fails the run" 1 cairn backup daily
err_has "sink there (local)"
id3=$(newest_id "$T/store" daily)
check "the healthy sink has the complete set" test -f "$T/store/daily/$id3/manifest.json"
check "the failed sink kept nothing of it" test ! -e "$T/store2.d/daily/$id3" -a ! -e "$T/store2/daily/$id3"
[ -f "$T/store2" ] && { rm "$T/store2"; mv "$T/store2.d" "$T/store2"; }
chmod 755 "$T/store2"

# --- an interrupted run leaves nothing --------------------------------------
mkdir -p "$T/big"
head -c 300M /dev/urandom >"$T/big/random.bin"
cat >>"$T/cairn.ini" <<INI

[source big]
plugin = files
path = big

[job slow]
sources = big
sinks = here
compression = xz
compression_level = 9
INI
# interrupt SIG: start the slow backup, signal it once it writes, give its exit code
interrupt() {
	"$CAIRN" -c "$T/cairn.ini" backup slow 2>"$T/err" &
	local pid=$!
	for _ in $(seq 50); do
		ls "$T/store/slow"/*/.*part >/dev/null 2>&1 && break
		sleep 0.1
	done
	kill -"$1" $pid
	wait $pid
}
interrupt TERM
rc=$?
check "SIGTERM stops the backup with exit 143" test "$rc" = 143 || diag "$T/err"
check "the interrupted set left no file behind" test -z "$(find "$T/store/slow" -type f ! -name .lock 2>/dev/null)"
interrupt INT
rc=$?
check "SIGINT (Ctrl-C) stops the backup with exit 130" test "$rc" = 130 || diag "$T/err"
check "and leaves no file behind either" test -z "$(find "$T/store/slow" -type f ! -name .lock 2>/dev/null)"
rm -f "$T/big/random.bin"

# --- incomplete sets from a crash are cleaned ------------------------------
mkdir -p "$T/store/daily/20200101T000000Z"
echo junk >"$T/store/daily/20200101T000000Z/docs.tar.zst"
check_exit "list ignores a set without manifest" 0 cairn list daily
check "it is not listed" bash -c "! grep -q 20200101T000000Z '$T/out'"
check_exit "the next backup" 0 cairn backup daily --source docs
check "removed the incomplete set" test ! -e "$T/store/daily/20200101T000000Z"

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
