#!/bin/bash
# redis_restore.sh - the redis source's restore against real redis-servers:
# data of every type (a 100 MB string, streams with consumer groups, TTLs)
# in several databases comes back identical (DEBUG DIGEST, TTLs within a
# second) from both kinds of backup; an RDB also as a file that a fresh
# redis-server loads; a non-empty target is refused without --force; a
# target that refuses writes fails naming the key and what was written;
# and no scratch redis-server or scratch directory outlives a run, also
# when it fails or is interrupted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"
need_plugin redis local
redis_need
plan 67

# ---------------------------------------------------------------- servers
# Servers come from redis_lib.sh (redis_start NAME: NAME_port); here they
# are called by NAME.
rc() {
	local port
	eval "port=\${$1_port}"
	shift
	rcli "$port" "$@"
}
digest() { rc "$1" debug digest; }
# cairn with a time limit (the restores here take seconds)
tcairn() { timeout 300 "$CAIRN" -c "$T/cairn.ini" "$@"; }
# every key's absolute expiry in ms, all databases: "db key time"
expiries() {
	local db
	for db in 0 1 5 15; do
		for k in ttl:0 ttl:19 list; do
			printf '%s %s %s\n' "$db" "$k" "$(rc "$1" -n "$db" pexpiretime "$k")"
		done
	done
}
# ttls_close A B: the same keys expire within a second of each other
ttls_close() {
	paste -d' ' "$1" "$2" | awk '{ d = $3 - $6; if (d < 0) d = -d;
		if ($1 != $4 || $2 != $5 || $3 <= 0 || d > 1000) { print "far: " $0; bad = 1 } }
		END { exit bad }'
}
no_scratch() {
	if pgrep -af "$T/state/scratch" >&2 || [ -n "$(ls -A "$T/state/scratch" 2>/dev/null)" ]; then
		ls -lAR "$T/state/scratch" >&2
		return 1
	fi
}

redis_start src || exit 1

# Every type in four databases, and a 100 MB string, through redis-cli --pipe.
cat >"$T/gen.py" <<'PY'
import sys
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))
for db in (0, 1, 5, 15):
    cmd("SELECT", db)
    cmd("SET", "str", "hello %d" % db)
    cmd("SET", b"bin\x00\xff\r\nkey", bytes(range(256)) * 4)
    cmd("SET", "int", 12345)
    cmd("RPUSH", "list", *["item%d" % i for i in range(200)])
    cmd("RPUSH", "biglist", *["x" * 100 for i in range(2000)])
    cmd("HSET", "hash", *sum([["f%d" % i, "v%d" % i] for i in range(1000)], []))
    cmd("HSET", "smallhash", "a", "1")
    cmd("SADD", "set", *["m%d" % i for i in range(150)])
    cmd("SADD", "intset", *range(50))
    cmd("ZADD", "zset", *sum([[i * 1.5, "z%d" % i] for i in range(300)], []))
    cmd("ZADD", "smallzset", 1, "a", 2, "b")
    for i in range(300):
        cmd("XADD", "stream", "*", "n", i, "db", db)
    cmd("XGROUP", "CREATE", "stream", "g1", "0")
    cmd("XGROUP", "CREATE", "stream", "g2", "$")
    cmd("XREADGROUP", "GROUP", "g1", "alice", "COUNT", 10, "STREAMS", "stream", ">")
    cmd("XREADGROUP", "GROUP", "g1", "bob", "COUNT", 5, "STREAMS", "stream", ">")
    cmd("XACK", "stream", "g1", "0-1")
    for i in range(20):
        cmd("SET", "ttl:%d" % i, "v", "EX", 3600 + i)
    cmd("PEXPIRE", "list", 7200000)
    for i in range(2000):
        cmd("SET", "k:%d:%d" % (db, i), "x" * (i % 50))
cmd("SELECT", 1)
n = 100 << 20
out.write(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % n)
chunk = bytes(range(256)) * 4096
while n:
    k = min(n, len(chunk))
    out.write(chunk[:k])
    n -= k
out.write(b"\r\n")
PY
/usr/bin/python3 "$T/gen.py" | rc src --pipe >"$T/pipe.out" 2>&1
check "the test data loads (redis-cli --pipe)" grep -q "errors: 0" "$T/pipe.out" || diag "$T/pipe.out"
want=$(digest src)
expiries src >"$T/ttl.want"
check "the source has 4 databases and the 100 MB string" \
	test "$(rc src -n 1 strlen big)" = 104857600 -a "$(rc src info keyspace | grep -c '^db')" = 4

cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = state

[source dump]
plugin = redis
host = 127.0.0.1
port = $src_port
mode = dump

[source rdb]
plugin = redis
host = 127.0.0.1
port = $src_port

[sink here]
plugin = local
path = store
fsync = no

[job all]
sources = dump rdb
sinks = here
INI
check_exit "backup in both modes" 0 tcairn backup all

# ------------------------------------------------- into the same server
check_exit "restore into the full server is refused" 8 tcairn restore all --source dump
err_has "is not empty: db0 holds"
err_has "add --force"
check "and changes nothing" test "$(digest src)" = "$want"

rc src flushall >/dev/null
check_exit "restore of the dump into the emptied server" 0 tcairn restore all --source dump
check "DEBUG DIGEST is the one before the backup" test "$(digest src)" = "$want"
expiries src >"$T/ttl.got"
check "the TTLs are within a second" ttls_close "$T/ttl.want" "$T/ttl.got"

rc src flushall >/dev/null
check_exit "restore of the RDB through a scratch server" 0 tcairn -v restore all --source rdb
err_has "restored"
check "DEBUG DIGEST is the one before the backup" test "$(digest src)" = "$want"
expiries src >"$T/ttl.got"
check "the TTLs are within a second" ttls_close "$T/ttl.want" "$T/ttl.got"
check "no scratch server or directory is left" no_scratch

# Peak memory of cairn restoring the 100 MB value: flat, not its size.
rc src flushall >/dev/null
rss=$(/usr/bin/python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' \
	timeout 300 "$CAIRN" -c "$T/cairn.ini" restore all --source dump)
check "a dump restore with a 100 MB value peaks below 64 MB ($rss KiB)" test "${rss:-999999}" -lt 65536

# ------------------------------------------------------- --force, flush
rc src -n 0 set intruder 1 >/dev/null
rc src -n 7 set bystander 1 >/dev/null
rc src -n 0 set str changed >/dev/null
check_exit "restore --force over keys replaces them" 0 tcairn restore all --source dump --force
check "a key of the same name is replaced" test "$(rc src -n 0 get str)" = "hello 0"
check "and other keys are kept" test "$(rc src -n 0 get intruder)" = 1
check_exit "restore --force with flush = yes" 0 tcairn restore all --source rdb --force --set rdb.flush=yes
check "empties the databases the backup writes into" test "$(rc src -n 0 exists intruder)" = 0
check "but no other" test "$(rc src -n 7 get bystander)" = 1
rc src -n 7 flushdb >/dev/null
check "and the data is the backup's" test "$(digest src)" = "$want"

# ------------------------------------------------------------- rdb_path
check_exit "rdb_path in a missing directory fails" 1 tcairn restore all --source rdb --set rdb.rdb_path="$T/rdbout/dump.rdb"
err_has "cannot open the directory of rdb_path $T/rdbout/dump.rdb"
mkdir -p "$T/rdbout"
check_exit "restore of the RDB to a file" 0 tcairn restore all --source rdb --set rdb.rdb_path="$T/rdbout/dump.rdb"
check "the file is the owner's only" test "$(stat -c %a "$T/rdbout/dump.rdb")" = 600
check "no temporary file is left beside it" test "$(ls -A "$T/rdbout")" = dump.rdb
check_rdb() { redis-check-rdb "$1" >"$T/check-rdb.out" 2>&1 || { diag "$T/check-rdb.out"; return 1; }; }
check "redis-check-rdb accepts it" check_rdb "$T/rdbout/dump.rdb"
redis_start fresh --dbfilename dump.rdb --dir "$T/rdbout" || true
check "a fresh redis-server loads it with the same digest" test "$(digest fresh)" = "$want"
redis_stop fresh
sum_before=$(sha256sum <"$T/rdbout/dump.rdb")
check_exit "a second restore to it is refused" 8 tcairn restore all --source rdb --set rdb.rdb_path="$T/rdbout/dump.rdb"
err_has "exists; restore with --force"
check "and the file is as it was" test "$(sha256sum <"$T/rdbout/dump.rdb")" = "$sum_before"
printf 'old' >"$T/rdbout/dump.rdb"
check_exit "with --force it is replaced" 0 tcairn restore all --source rdb --set rdb.rdb_path="$T/rdbout/dump.rdb" --force
check "by the backup's RDB" test "$(sha256sum <"$T/rdbout/dump.rdb")" = "$sum_before"
check_exit "a dump refuses rdb_path" 3 tcairn restore all --source dump --set dump.rdb_path="$T/rdbout/x.rdb"
err_has "the backup is a dump"

# ------------------------------------------------ targets that refuse
redis_start ro || true
rc ro config set min-replicas-to-write 1 >/dev/null
check_exit "a dump into a server that refuses writes fails" 1 tcairn restore all --source dump --set dump.port="$ro_port"
err_has "RESTORE of key \""
err_has "NOREPLICAS"
err_has "0 keys were written before the restore stopped"
check_exit "an RDB into it fails too" 1 tcairn restore all --source rdb --set rdb.port="$ro_port"
err_has "NOREPLICAS"
check "and its scratch server and directory are gone" no_scratch

redis_start acl || true
rc acl acl setuser half on '>pw' '~k:*' '+@all' >/dev/null
check_exit "an ACL user that may write only some keys fails" 1 tcairn restore all --source dump --set dump.port="$acl_port" --set dump.username=half --set dump.password=pw
err_has "NOPERM"
n=$(rc acl dbsize)
err_has "$n keys were written before the restore stopped"
check "after writing some ($n)" test "$n" -gt 0

redis_start noinfo || true
rc noinfo acl setuser noinfo on '>pw' '~*' '+@all' '-info' >/dev/null
rc noinfo -n 5 set bystander 1 >/dev/null
check_exit "a user without INFO: each database is checked as it is entered" 8 tcairn restore all --source dump --set dump.port="$noinfo_port" --set dump.username=noinfo --set dump.password=pw
err_has "db5 holds 1 keys ("
err_has "keys were written into other databases before it was checked"
check "and that database is left as it was" test "$(rc noinfo -n 5 dbsize)" = 1

check_exit "a redis_server that does not start fails the RDB restore" 1 tcairn restore all --source rdb --set rdb.port="$ro_port" --set rdb.redis_server=/bin/false
err_has "the scratch redis-server (/bin/false) exited with status 1"
check "leaving nothing behind" no_scratch

# A run stopped while its scratch server runs stops that server too.
rc src flushall >/dev/null
"$CAIRN" -c "$T/cairn.ini" restore all --source rdb >/dev/null 2>"$T/err" &
pid=$!
for i in $(seq 400); do
	ls "$T"/state/scratch/*/redis.sock >/dev/null 2>&1 && break
	sleep 0.01
done
kill -TERM $pid
wait $pid
st=$?
check "SIGTERM during the RDB restore: exit 143 (exit $st)" test $st = 143
check "no scratch server or directory is left after it" no_scratch

# Not even SIGKILL of cairn leaves the scratch server running, and the next
# run removes the directory it left.
"$CAIRN" -c "$T/cairn.ini" restore all --source rdb >/dev/null 2>"$T/err" &
pid=$!
spid=""
for i in $(seq 400); do
	spid=$(pgrep -f "$T/state/scratch/.*/redis.sock")
	[ -n "$spid" ] && break
	sleep 0.01
done
kill -KILL $pid
wait $pid 2>/dev/null
for i in $(seq 50); do kill -0 $spid 2>/dev/null || break; sleep 0.1; done
check "SIGKILL of cairn during the RDB restore takes its scratch server along" \
	bash -c "[ -n '$spid' ] && ! kill -0 $spid 2>/dev/null"
[ -n "$spid" ] && kill -KILL $spid 2>/dev/null
NO_FAKE_STAT=1 faketime '+2 minutes' "$CAIRN" -c "$T/cairn.ini" list >/dev/null 2>&1
check "and the next run removes what it left" no_scratch

# A scratch server that dies while it loads fails the restore, naming it.
"$CAIRN" -c "$T/cairn.ini" restore all --source rdb >/dev/null 2>"$T/err" &
pid=$!
spid=""
for i in $(seq 400); do
	spid=$(pgrep -f "$T/state/scratch/.*/redis.sock")
	[ -n "$spid" ] && break
	sleep 0.01
done
[ -n "$spid" ] && kill -KILL $spid
wait $pid
st=$?
check "a scratch server killed while it loads fails the restore (exit $st)" test $st = 1
check "naming it" grep -q "the scratch redis-server was killed by signal 9" "$T/err" || diag "$T/err"
check "and nothing is left" no_scratch
check "nor written to the target" test "$(rc src dbsize)" = 0

# ------------------------------------------------------------- verify
check_exit "verify --restore-test loads both objects into scratch servers" 0 tcairn verify all --restore-test
out_has "restore-tested"
check "and leaves nothing behind" no_scratch
check_exit "verify --deep walks both" 0 tcairn verify all --deep
