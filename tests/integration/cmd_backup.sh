#!/bin/bash
# cmd_backup.sh - cairn backup as a sysadmin meets it: exit codes, cron
# silence, the lock, signals, partial failure, cleaning after a crash.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 19

mkdir -p "$T/data/sub" "$T/store" "$T/store2"
printf 'alpha\n' >"$T/data/a.txt"
printf 'beta\n' >"$T/data/sub/b.txt"
write_ini daily here=store there=store2

check_exit "an unknown job is a usage error naming the jobs" 2 cairn backup nosuch
err_has 'no job named "nosuch"; jobs: daily'

check_exit "backup succeeds" 0 cairn backup daily
check "a successful backup is silent under cron" test ! -s "$T/err" -a ! -s "$T/out"
id1=$(newest_id "$T/store" daily)
check "the set is in both sinks" test -f "$T/store/daily/$id1/manifest.json" -a \
	-f "$T/store2/daily/$id1/docs.tar.zst"

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
