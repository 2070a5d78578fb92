#!/bin/bash
# redis_backup.sh - the redis source's backups against real redis-servers
# the test starts itself (redis_lib.sh): both modes over data of every type
# in several databases; the stored RDB passes redis-check-rdb and loads
# into a fresh server with the same DEBUG DIGEST, the stored dump replays
# with redis-cli --pipe to the same digest; ACL users and requirepass, a
# wrong password, a user without SYNC, a snapshot cut short (fake server,
# both reply forms); and cairn's peak RSS flat while 1 M keys and a 100 MB
# value go through, in each mode.
#
# Run by `make check` with $CAIRN and $CAIRN_PLUGIN_PATH set; emits TAP.

. "$(dirname "$0")/lib.sh"
need_plugin redis local
. "$(dirname "$0")/redis_lib.sh"
redis_need

plan 63
cd "$T" || exit 99

# json FILE FILTER
json() { jq -r "$2" <"$1"; }
# the newest set's manifest and object of a job in $T/store
manifest() { echo "$T/store/$1/$(newest_id "$T/store" "$1")/manifest.json"; }
object() { ls "$T/store/$1/$(newest_id "$T/store" "$1")/"*.rdb "$T/store/$1/$(newest_id "$T/store" "$1")/"*.resp 2>/dev/null; }
no_set() { test -z "$(newest_id "$T/store" "$1")"; }
# cairn with a time limit: a hang fails the test
C() { timeout 120 "$CAIRN" -c "$T/cairn.ini" "$@"; }

redis_start a || exit 99
redis_fill "$a_port" || exit 99
want=$(redis_keyspace "$a_port")
digest_a=$(redis_digest "$a_port")

# source SECTION PORT KEY=VALUE...: a [source] of the redis plugin
source_ini() {
	local name=$1 port=$2 kv
	shift 2
	printf '\n[source %s]\nplugin = redis\nport = %s\n' "$name" "$port"
	case " $* " in *" timeout="*) ;; *) printf 'timeout = 20s\n' ;; esac
	for kv in "$@"; do
		printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
	done
}
job_ini() { printf '\n[job %s]\nsources = %s\nsinks = here\ncompression = none\n' "$1" "$2"; }

write_base() {
	printf '[cairn]\nstate_dir = state\n\n[sink here]\nplugin = local\npath = store\nfsync = no\n' \
		>"$T/cairn.ini"
}
write_base
{
	source_ini cache "$a_port"
	source_ini cachedump "$a_port" mode=dump
	job_ini rdb cache
	job_ini dump cachedump
} >>"$T/cairn.ini"

# check_rdb FILE: redis-check-rdb accepts it
check_rdb() {
	if [ -n "$1" ] && redis-check-rdb "$1" >"$T/check-rdb.out" 2>&1; then
		ok "redis-check-rdb passes ${1##*/store/}"
	else
		not_ok "redis-check-rdb passes ${1##*/store/}"
		diag "$T/check-rdb.out"
	fi
}
# stats JOB: "db0=N db3=M ..." from the manifest's keys.dbN
stats() {
	jq -r '.sources[0].stats | to_entries[] | select(.key | startswith("keys.db")) |
		"\(.key | sub("keys.";""))=\(.value)"' <"$(manifest "$1")" |
		sort -t b -k2 -n | tr '\n' ' ' | sed 's/ $//'
}

# --- mode = rdb ---------------------------------------------------------------
check_exit "rdb: backup succeeds" 0 C backup rdb
rdbfile=$(object rdb)
check "rdb: the stored object is an .rdb" test -n "$rdbfile" -a "${rdbfile%.rdb}" != "$rdbfile"
check_rdb "$rdbfile"
got=$(stats rdb)
check "rdb: the manifest counts keys per database as the server ($got / $want)" \
	test "$got" = "$want"
m=$(manifest rdb)
check "rdb: manifest has rdb_version, redis_version, used_memory" \
	test "$(json "$m" '.sources[0].stats.rdb_version')" -ge 9 -a \
	"$(json "$m" '.sources[0].stats.redis_version')" -ge 50000 -a \
	"$(json "$m" '.sources[0].stats.used_memory')" -gt 0
check_exit "rdb: verify --deep passes" 0 C verify rdb --deep
# a fresh server started on the stored file holds the same data
mkdir -p "$T/redis-fromrdb"
cp "$rdbfile" "$T/redis-fromrdb/dump.rdb"
redis_start fromrdb --dbfilename dump.rdb || exit 99
check "rdb: a server loading the stored RDB has the same DEBUG DIGEST" \
	test "$(redis_digest "$fromrdb_port")" = "$digest_a"
redis_stop fromrdb

# --- mode = dump --------------------------------------------------------------
check_exit "dump: backup succeeds" 0 C backup dump
dumpfile=$(object dump)
check "dump: the stored object is a .resp" test -n "$dumpfile" -a "${dumpfile%.resp}" != "$dumpfile"
got=$(stats dump)
check "dump: the manifest counts keys per database as the server ($got / $want)" \
	test "$got" = "$want"
check "dump: the stream ends with the end mark" \
	grep -aq "cairn-dump-end keys=$(json "$(manifest dump)" '.sources[0].stats.keys')" "$dumpfile"
redis_start replay || exit 99
rcli "$replay_port" --pipe <"$dumpfile" >"$T/pipe.out" 2>&1
check "dump: redis-cli --pipe replays it without errors" grep -q "errors: 0" "$T/pipe.out" ||
	diag "$T/pipe.out"
check "dump: the replayed server has the same DEBUG DIGEST" \
	test "$(redis_digest "$replay_port")" = "$digest_a"
ta=$(rcli "$a_port" -n 3 PTTL ttl:long)
tb=$(rcli "$replay_port" -n 3 PTTL ttl:long)
check "dump: TTLs kept within a second ($ta / $tb)" \
	test "$tb" -gt 0 -a $((ta - tb)) -lt 1000 -a $((tb - ta)) -lt 1000
# databases = and match = choose what is dumped
{
	source_ini some "$a_port" mode=dump "databases=3 9" "match=ttl:*"
	job_ini some some
} >>"$T/cairn.ini"
check_exit "dump: databases = and match = back up a part" 0 C backup some
check "dump: ... only ttl:* keys of databases 3 and 9 ($(stats some))" \
	test "$(stats some)" = "db3=3 db9=3"
redis_stop replay
# rdb mode cannot choose
{
	source_ini badsel "$a_port" "databases=1"
	job_ini badsel badsel
} >>"$T/cairn.ini"
check_exit "rdb: databases = without mode = dump is a config error" 3 C backup badsel
err_has "need mode = dump"

# --- credentials ----------------------------------------------------------------
redis_start pw --requirepass 'top secret' || exit 99
rcli "$pw_port" -a 'top secret' --no-auth-warning ACL SETUSER backup on '>b-pass' '~*' '&*' '+@all' >/dev/null
rcli "$pw_port" -a 'top secret' --no-auth-warning ACL SETUSER nosync on '>n-pass' '~*' '&*' \
	'+@all' -sync -psync >/dev/null
rcli "$pw_port" -a 'top secret' --no-auth-warning SET k v >/dev/null
printf 'b-pass\n' >"$T/pwfile"
chmod 600 "$T/pwfile"
{
	source_ini legacy "$pw_port" password_env=CAIRN_TEST_REDIS_PW
	source_ini acl "$pw_port" username=backup password_file=pwfile
	source_ini wrong "$pw_port" username=backup "password=wrong-pass-1234"
	source_ini nopw "$pw_port"
	source_ini nosync "$pw_port" username=nosync password=n-pass
	source_ini nosyncdump "$pw_port" username=nosync password=n-pass mode=dump
	job_ini legacy legacy
	job_ini acl acl
	job_ini wrong wrong
	job_ini nopw nopw
	job_ini nosync nosync
	job_ini nosyncdump nosyncdump
} >>"$T/cairn.ini"
CAIRN_TEST_REDIS_PW='top secret' check_exit "auth: requirepass with password_env" 0 C backup legacy
check_exit "auth: an ACL user with password_file" 0 C backup acl
check_exit "auth: a wrong password fails" 1 C backup wrong
err_has "redis 127.0.0.1:$pw_port: the server refused the credentials"
check "auth: ... the password appears nowhere" sh -c "! grep -rq 'wrong-pass-1234' '$T/err' '$T/out' '$T/state'"
check "auth: ... and no set is left in the sink" no_set wrong
check_exit "auth: no password where one is needed fails" 1 C backup nopw
err_has "NOAUTH"
check "auth: ... saying to set a password, not to grant +sync" sh -c "grep -q 'set password' '$T/err' && ! grep -q '+sync' '$T/err'" || diag "$T/err"
check_exit "nosync: a user without +sync/+psync fails in rdb mode" 1 C backup nosync
err_has "set mode = dump"
check "nosync: ... and no set is left in the sink" no_set nosync
check_exit "nosync: the same user backs up in dump mode" 0 C backup nosyncdump
redis_stop pw

# --- a replica that never synced: no data, link down ---------------------------
dead=$(redis_free_port)
redis_start lonely --replicaof 127.0.0.1 "$dead" || exit 99
write_base
{
	source_ini lonelydump "$lonely_port" mode=dump
	source_ini lonelyrdb "$lonely_port"
	job_ini lonelydump lonelydump
	job_ini lonelyrdb lonelyrdb
} >>"$T/cairn.ini"
check_exit "replica: dump mode of a replica that never synced fails" 1 C backup lonelydump
err_has "is a replica that holds no keys and whose link to its master 127.0.0.1:$dead is down"
check "replica: ... and no set is left in the sink" no_set lonelydump
check_exit "replica: rdb mode fails too" 1 C backup lonelyrdb
err_has "it is a replica whose link to its master is down"
check "replica: ... not with the ACL hint, which would mislead" sh -c "! grep -q '+sync' '$T/err'"
redis_stop lonely

# --- snapshots cut short ----------------------------------------------------------
for mode in cut-len cut-eof; do
	redis_fake "$mode"
	write_base
	{
		source_ini fake "$fake_port"
		job_ini "fake$mode" fake
	} >>"$T/cairn.ini"
	check_exit "$mode: a server closing the link half-way fails the backup" 1 C backup "fake$mode"
	err_has "redis 127.0.0.1:$fake_port closed the connection while receiving the snapshot"
	check "$mode: ... and no set is left in the sink" no_set "fake$mode"
	kill "$fake_pid" 2>/dev/null
done

# --- a real server killed half-way through its snapshot --------------------------
# rdb-key-save-delay (µs per key, Redis's own test knob) stretches the
# snapshot of 3000 keys to 6 s, so the kill lands inside the transfer.
redis_start dies --rdb-key-save-delay 2000 || exit 99
"$PY" -c 'import sys
for i in range(3000):
    sys.stdout.write("SET k%d %s\r\n" % (i, "v" * 10000))' | rcli "$dies_port" --pipe >/dev/null
write_base
{
	source_ini dies "$dies_port"
	job_ini dies dies
} >>"$T/cairn.ini"
C backup dies >"$T/out" 2>"$T/err" &
bpid=$!
# kill it once the snapshot is under way (a fixed sleep lost the race on
# a busy machine), and some of it has been sent
for _ in $(seq 200); do
	rcli "$dies_port" INFO persistence 2>/dev/null | grep -q '^rdb_bgsave_in_progress:1' && break
	sleep 0.05
done
sleep 0.5
{ kill -9 "$dies_pid" && wait "$dies_pid"; } 2>/dev/null
wait "$bpid"
got=$?
check "killed server: the backup fails (exit $got)" test "$got" = 1 || diag "$T/err"
err_has "redis 127.0.0.1:$dies_port closed the connection while receiving the snapshot"
check "killed server: ... and no set is left in the sink" no_set dies

# --- older servers: no rdb-only, the replication stream after the RDB -------------
for mode in old-len old-eof; do
	redis_fake "$mode"
	write_base
	{
		source_ini fake "$fake_port"
		job_ini "fake$mode" fake
	} >>"$T/cairn.ini"
	check_exit "$mode: a server without rdb-only: the snapshot alone is kept" 0 C backup "fake$mode"
	keys=$(json "$(manifest "fake$mode")" '.sources[0].stats.keys' 2>/dev/null)
	check "$mode: ... with its 2 keys ($keys)" \
		test "$keys" = 2 -a -n "$(object "fake$mode")"
	check_rdb "$(object "fake$mode")"
	kill "$fake_pid" 2>/dev/null
done
# a master that writes the snapshot to disk first sends it as $<length>
redis_start disk --repl-diskless-sync no || exit 99
redis_fill "$disk_port" || exit 99
write_base
{
	source_ini disk "$disk_port"
	job_ini disk disk
} >>"$T/cairn.ini"
check_exit "disk-based snapshot (\$<length> reply): backup succeeds" 0 C backup disk
got=$(stats disk)
want_disk=$(redis_keyspace "$disk_port")
check "disk-based snapshot: keys per database as on the server ($got)" test "$got" = "$want_disk"
check_rdb "$(object disk)"
redis_stop disk
# SYNC renamed away: PSYNC ? -1 takes over (the reply starts +FULLRESYNC)
redis_start psync --rename-command SYNC sync-renamed-away || exit 99
rcli "$psync_port" SET only psync >/dev/null
write_base
{
	source_ini psync "$psync_port"
	job_ini psync psync
} >>"$T/cairn.ini"
check_exit "SYNC renamed away: the backup goes through PSYNC" 0 C backup psync
check "PSYNC: ... with the server's one key" \
	test "$(json "$(manifest psync)" '.sources[0].stats.keys' 2>/dev/null)" = 1
redis_stop psync

# --- flat memory: 1 M keys and a 100 MB value --------------------------------------
redis_start big || exit 99
"$PY" - <<'EOF' | rcli "$big_port" --pipe >"$T/bigload.out" 2>&1
import sys, os
out = sys.stdout.buffer
val = os.urandom(100 * 1024 * 1024)
out.write(b"*3\r\n$3\r\nSET\r\n$4\r\nhuge\r\n$%d\r\n%s\r\n" % (len(val), val))
del val
chunk = []
for i in range(1000000):
    k = b"key:%07d" % i
    v = b"value-%d" % (i * 7919)
    chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
    if len(chunk) == 10000:
        out.write(b"".join(chunk))
        chunk = []
out.write(b"".join(chunk))
EOF
check "big: 1 M keys and a 100 MB value loaded" test "$(redis_keyspace "$big_port")" = "db0=1000001" ||
	diag "$T/bigload.out"
write_base
{
	source_ini bigrdb "$big_port" timeout=60s
	source_ini bigdump "$big_port" timeout=60s mode=dump
	job_ini bigrdb bigrdb
	job_ini bigdump bigdump
} >>"$T/cairn.ini"
# peak RSS of cairn alone (KiB), from the kernel's count for the child
peak() {
	"$PY" -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' timeout 300 "$CAIRN" -c "$T/cairn.ini" "$@"
}
for mode in rdb dump; do
	if kb=$(peak backup "big$mode" 2>"$T/big.err"); then
		ok "big $mode: backup succeeds"
	else
		not_ok "big $mode: backup succeeds"
		diag "$T/big.err"
	fi
	size=$(stat -c %s "$(object "big$mode")" 2>/dev/null || echo 0)
	# the data is > 130 MB; cairn's own buffers are a few MB
	check "big $mode: peak RSS ${kb} KiB stays under 64 MiB for a $((size / 1048576)) MiB object" \
		test "${kb:-999999}" -lt 65536 -a "$size" -gt 120000000
done
check "big: the manifest counts 1000001 keys" \
	test "$(json "$(manifest bigrdb)" '.sources[0].stats.keys')" = 1000001
