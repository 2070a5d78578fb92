#!/bin/bash
# redis_follow.sh - Redis to the second, against real redis-servers
# (redis_lib.sh): a backup records the replication position, `cairn
# follow` keeps the link open as a replica and stores the stream as 1 s
# segments; writes of many types in databases 0 and 3 (SET PX, EXPIRE,
# PERSIST, hashes, lists with a blocking pop served, sets, sorted sets,
# streams with a consumer group, MULTI/EXEC, FLUSHDB, EVAL, keys expiring
# on their own); the segments' manifests count the commands they hold per
# database (a stretch of known commands adds up exactly; list -v shows
# them); restore --at several times into fresh servers equal by
# DEBUG DIGEST to the digest taken at that time, --at latest, rdb_path;
# the follower killed with SIGKILL and restarted within the backlog
# (+CONTINUE, nothing lost or doubled); verify --deep and --restore-test;
# the documented redis-cli --pipe procedure of doc/recovery.md; a user
# without +psync named; a damaged segment refused before any write; a
# backlog overrun: a gap and a new base, the RDB of the follower's own
# link (INFO stats sync_full rises by exactly one: no second connection),
# restore --at inside the gap refused naming it, cairn check critical,
# --at the second after it and --at latest equal; the server restarted
# (a new replication id, a disk-based sync with writes all along): a gap,
# a new base from the link, and the chain goes on.
#
# Run by `make check` with $CAIRN and $CAIRN_PLUGIN_PATH set; emits TAP.

. "$(dirname "$0")/lib.sh"
need_plugin redis local
. "$(dirname "$0")/redis_lib.sh"
redis_need
if ! "$CAIRN" --help 2>&1 | grep -q follow; then
	echo "1..0 # SKIP this cairn has no follow command"
	exit 0
fi

plan 54
cd "$T" || exit 99
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}

C() { timeout 120 "$CAIRN" -c "$T/cairn.ini" "$@"; }

redis_start a --repl-backlog-size 1mb || exit 99
cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = state

[sink here]
plugin = local
path = store
fsync = no

[source cache]
plugin = redis
port = $a_port
timeout = 20s

[job j]
sources = cache
sinks = here
compression = zstd
segment_span = 1s
INI

# the master's offset now, and whether the stored log reaches it
offset() { rcli "$a_port" INFO replication | tr -d '\r' | sed -n 's/^master_repl_offset://p'; }
# the full resynchronizations the master made (INFO stats)
sync_full() { rcli "$a_port" INFO stats | tr -d '\r' | sed -n 's/^sync_full://p'; }
log_to() { ls store/j/log/cache/ 2>/dev/null | sed -n 's/.*-\([0-9a-f]\{16\}\)\.json$/\1/p' | sort | tail -n 1; }
caught_up() { local t; t=$(log_to); [ -n "$t" ] && [ $((16#$t)) -ge "$1" ]; }
start_follower() { # NAME
	"$CAIRN" -c "$T/cairn.ini" -v follow j >"$T/$1.out" 2>"$T/$1.err" &
	eval "$1=\$!"
	_redis_pids="$_redis_pids $!"
}
# a point in time: every write received and stored, the digest, and the
# second it stands for (nothing is written again before that second ends)
mark() { # NAME
	local off
	off=$(offset)
	wait_for 30 caught_up "$off" || echo "# the log did not reach offset $off" >&2
	eval "digest_$1=$(redis_digest "$a_port")"
	eval "at_$1=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	sleep 1.1
}
# writes of many types, in db 0 and 3 (PHASE varies the values)
writes() { # PHASE
	"$PY" - "$1" <<'EOF' | rcli "$a_port" --pipe >/dev/null || return 1
import sys
p = sys.argv[1]
out = sys.stdout.buffer
def cmd(*a):
    a = [x if isinstance(x, bytes) else str(x).encode() for x in a]
    out.write(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
for db in (0, 3):
    cmd("SELECT", db)
    cmd("SET", "s:" + p, "v" * 50, "PX", 3600000)
    cmd("SET", b"bin\x00" + p.encode(), bytes(range(256)))
    cmd("INCR", "counter")
    cmd("INCRBYFLOAT", "float", "1.5")
    cmd("SET", "tmp:" + p, "x")
    cmd("EXPIRE", "tmp:" + p, 7200)
    cmd("SET", "per:" + p, "y", "EX", 100)
    cmd("PERSIST", "per:" + p)
    cmd("SET", "gone:" + p, "z", "PX", 200)
    cmd("HSET", "hash", "f" + p, p, "n", db)
    cmd("HINCRBY", "hash", "count", 3)
    cmd("RPUSH", "list", *["e%s-%d" % (p, i) for i in range(20)])
    cmd("LPOP", "list")
    cmd("SADD", "set", *["m%s-%d" % (p, i) for i in range(30)])
    cmd("SREM", "set", "m%s-3" % p)
    cmd("ZADD", "zset", *sum([[i * 0.5, "z%s-%d" % (p, i)] for i in range(25)], []))
    cmd("ZINCRBY", "zset", 7, "z%s-1" % p)
    cmd("XADD", "stream", "*", "phase", p, "db", db)
    cmd("XADD", "stream", "*", "phase", p, "n", 2)
    cmd("XGROUP", "CREATE", "stream", "g" + p, "0")
    cmd("XREADGROUP", "GROUP", "g" + p, "alice", "COUNT", 1, "STREAMS", "stream", ">")
    cmd("MULTI")
    cmd("INCR", "txn")
    cmd("SET", "txn:" + p, p)
    cmd("EXEC")
    cmd("EVAL", "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])",
        2, "lua:" + p, "luacount", p)
cmd("SELECT", 3)
cmd("SET", "doomed", 1)
cmd("FLUSHDB")
cmd("SET", "after-flush:" + p, 1)
EOF
	# a blocking pop, served by a push from another client
	rcli "$a_port" -n 3 BLPOP "q:$1" 20 >/dev/null &
	local bp=$!
	sleep 0.3
	rcli "$a_port" -n 3 LPUSH "q:$1" a b >/dev/null
	wait "$bp"
	rcli "$a_port" XACK stream "g$1" "$(rcli "$a_port" XRANGE stream - + COUNT 1 | head -n 1)" >/dev/null
	# keys expiring on their own: gone (and DEL sent) before the mark
	sleep 0.3
	rcli "$a_port" EXISTS "gone:$1" >/dev/null
	rcli "$a_port" -n 3 EXISTS "gone:$1" >/dev/null
}

# --- a base, and the follower ------------------------------------------------
writes 0
check_exit "backup of the source before following" 0 C backup j
base=$(newest_id store j)
check "the backup records the replication id and offset its RDB stands at" \
	grep -qE '^[0-9a-f]{40}:[0-9]+$' <<<"$(jq -r '.sources[0].log.end.pos' "store/j/$base/manifest.json")"
start_follower f1
writes 1
check "the follower acknowledges what it got: WAIT counts it as a replica (REPLCONF GETACK, ACK)" \
	test "$(rcli "$a_port" WAIT 1 10000)" = 1
mark one
writes 2
mark two

# --- SIGKILL within the backlog ---------------------------------------------
kill -9 "$f1"
wait "$f1" 2>/dev/null
writes 3
start_follower f2
check "restarted, the follower goes on as the server's backlog allows (+CONTINUE)" \
	wait_for 30 grep -q "following on from .*(+CONTINUE)" "$T/f2.err"
check "... which the server saw as a partial resynchronization" \
	grep -q "Partial resynchronization request .* accepted" "$T/redis-a/log"
writes 4
mark three

# --- the segments' statistics: commands and databases -------------------------
# every count over the segments stored so far, as one object
stats_sum() {
	jq -s '[.[].stats // {} | to_entries[]] | group_by(.key)
		| map({key: .[0].key, value: (map(.value) | add)}) | from_entries' \
		store/j/log/cache/*.json
}
# KEY: how much KEY's sum grew from $before to $after
grew() { jq -n --argjson a "$after" --argjson b "$before" --arg k "$1" '($a[$k] // 0) - ($b[$k] // 0)'; }
before=$(stats_sum)
"$PY" - <<'EOF' | rcli "$a_port" --pipe >/dev/null
import sys
out = sys.stdout.buffer
def cmd(*a):
    a = [str(x).encode() for x in a]
    out.write(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
cmd("SELECT", 0)
for i in range(5):
    cmd("SET", "counted:%d" % i, i)
cmd("SELECT", 3)
for i in range(7):
    cmd("INCR", "counted")
cmd("MULTI")
cmd("INCR", "counted")
cmd("SET", "counted:txn", 1)
cmd("EXEC")
EOF
mark counted
after=$(stats_sum)
check "the segments count the commands written since: 5 + 7 + 2 in a MULTI (without MULTI, EXEC, SELECT)" \
	test "$(grew commands)" = 14
check "... per database: 5 in db 0, 9 in db 3" test "$(grew db.0):$(grew db.3)" = "5:9"
check "over the whole log, the db.N counts add up to the commands, and no count was dropped" \
	test "$(jq '[to_entries[] | select(.key | startswith("db.")) | .value] | add' <<<"$after"):$(jq '.stats_dropped // 0' <<<"$after")" = "$(jq .commands <<<"$after"):0"
check "no segment counts more records than commands" \
	test "$(jq -s 'map(select(.records > (.stats.commands // 0))) | length' store/j/log/cache/*.json)" = 0
check_exit "list -v runs" 0 C list j -v
out_has ", db.3 "
check "list --json -v has each segment's stats, as the manifests" test \
	"$(C list j -v --json | jq '[.logs[].segmentList[].stats.commands // 0] | add')" = "$(jq .commands <<<"$after")"
kill -TERM "$f2"
wait "$f2"
check "SIGTERM stops the follower with exit 0" test $? = 0
check "the segments are .aof (zstd)" test -n "$(ls store/j/log/cache/*.aof.zst 2>/dev/null)"
check "no gap while the backlog held" test -z "$(ls store/j/log/cache/*.gap 2>/dev/null)"
check "the segments hold a record per command written (at least 49 in each of 4 phases)" \
	test "$(jq -s 'map(.records) | add' store/j/log/cache/*.json)" -ge 196

# --- restore --at into fresh servers ----------------------------------------
at_check() { # NAME AT DIGEST
	redis_start "$1" || return 1
	sed -i "s/^port = .*/port = $(eval echo "\$${1}_port")/" cairn.ini
	C restore j --at "$2" >"$T/$1.out" 2>"$T/$1.err" || { diag "$T/$1.err"; return 1; }
	sed -i "s/^port = .*/port = $a_port/" cairn.ini
	test "$(redis_digest "$(eval echo "\$${1}_port")")" = "$3"
}
check "restore --at the first mark equals the digest taken then" at_check b "$at_one" "$digest_one"
check "restore --at the second mark equals the digest taken then" at_check c "$at_two" "$digest_two"
check "restore --at after the restart equals the final digest (nothing lost or doubled)" \
	at_check d "$at_three" "$digest_three"
check "restore --at latest equals the final digest" at_check e latest "$digest_counted"
ttl_a=$(rcli "$a_port" TTL "tmp:2") ttl_e=$(rcli "$e_port" TTL "tmp:2")
check "TTLs come back within a second" test $((ttl_a - ttl_e)) -le 1 -a $((ttl_e - ttl_a)) -le 1

# rdb_path: base and log into a scratch server, saved
check_exit "restore --at with rdb_path writes the file" 0 \
	C restore j --at "$at_two" --set "cache.rdb_path=$T/two.rdb"
redis_start rdbp --dbfilename two.rdb --dir "$T" || exit 99
check "... and a server started on it equals the digest of that time" \
	test "$(redis_digest "$rdbp_port")" = "$digest_two"

# --- verify -------------------------------------------------------------------
check_exit "verify --deep parses every record" 0 C verify j --deep
check_exit "verify --restore-test replays base and log into a scratch server" 0 \
	C verify j --restore-test

# --- the standard tools: doc/recovery.md's bash blocks --------------------------
awk '/^### Redis to a point in time/ { on = 1 } on && /^```bash$/ { n++; f = sprintf("'"$T"'/doc.%d", n); inb = 1; next }
	inb && /^```$/ { inb = 0; next } inb { print > f }' "$top/doc/recovery.md"
check "doc/recovery.md has the two blocks of the Redis procedure" test -s "$T/doc.1" -a -s "$T/doc.2"
mkdir -p "$T/byhand"
STORE=$T/store JOB=j SRC=cache UNTIL=$at_three RDB=$T/byhand/dump.rdb \
	bash -e "$T/doc.1" >"$T/doc1.out" 2>&1
check "the procedure's first block writes the base's RDB" test -s "$T/byhand/dump.rdb" ||
	diag "$T/doc1.out"
redis_start byhand --dir "$T/byhand" --dbfilename dump.rdb || exit 99
after=$((16#$(jq -r '.sources[0].log.end.lsn' "store/j/$(newest_id store j)/manifest.json")))
(
	export STORE=$T/store JOB=j SRC=cache CLI="-h 127.0.0.1 -p $byhand_port" after
	export until_ms=$((($(date -u -d "$at_three" +%s) + 1) * 1000 - 1))
	bash -e "$T/doc.2"
) >"$T/doc2.out" 2>&1
check "redis-cli --pipe of the segments takes every command" grep -q "errors: 0" "$T/doc2.out" ||
	diag "$T/doc2.out"
check "... and the server equals cairn's own restore --at" \
	test "$(redis_digest "$byhand_port")" = "$digest_three"

# --- a user without +psync ------------------------------------------------------
# its backup (made while it could) records a position; then +psync goes
rcli "$a_port" ACL SETUSER nopsync on '>np-pass' '~*' '&*' '+@all' >/dev/null
cat >>cairn.ini <<INI

[source nopsync]
plugin = redis
port = $a_port
username = nopsync
password = np-pass
timeout = 20s

[job k]
sources = nopsync
sinks = here
segment_span = 1s
INI
chmod 600 cairn.ini
C backup k >/dev/null 2>&1
rcli "$a_port" ACL SETUSER nopsync -psync >/dev/null
timeout 60 "$CAIRN" -c "$T/cairn.ini" follow k >"$T/k.out" 2>"$T/err"
check "follow as a user without +psync fails" test $? -ne 0
err_has "lacks the +psync permission"
check "... and the password is in no message" sh -c "! grep -q np-pass '$T/err' '$T/k.out'"

# --- damage -------------------------------------------------------------------
seg=$(jq -r 'select(.records > 20) | .object' store/j/log/cache/*.json | head -n 1)
cp "store/$seg" "$T/seg.keep"
"$PY" -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=0x55; open(p,'wb').write(b)" "store/$seg"
check_exit "a damaged segment fails verify" 6 C verify j
redis_start f || exit 99
sed -i "s/^port = $a_port/port = $f_port/" cairn.ini
check_exit "... and restore --at latest (exit 6)" 6 C restore j --at latest
sed -i "s/^port = $f_port/port = $a_port/" cairn.ini
check "... before anything was written" test "$(rcli "$f_port" DBSIZE)" = 0
cp "$T/seg.keep" "store/$seg"

# --- a backlog overrun while the follower is down -------------------------------
rcli "$a_port" CONFIG SET repl-backlog-size 16384 >/dev/null
"$PY" -c '
import sys
for i in range(2000):
    v = b"x" * 100
    sys.stdout.buffer.write(b"*3\r\n$3\r\nSET\r\n$%d\r\nbig%d\r\n$100\r\n%s\r\n" % (len(str(i)) + 3, i, v))
' | rcli "$a_port" --pipe >/dev/null
sets_before=$(ls store/j | grep -c 'Z$')
full_before=$(sync_full)
start_follower f3
check "past the backlog, the follower records a gap" wait_for 60 sh -c "ls store/j/log/cache/*.gap"
check "... and takes a new base" wait_for 60 sh -c 'test "$(ls store/j | grep -c "Z\$")" -gt "$1"' sh "$sets_before"
check "... the RDB of its own link: the server made one full resync, no second connection" \
	test "$(sync_full)" = $((full_before + 1))
gap=$(ls store/j/log/cache/*.gap | head -n 1)
check "the new base is a set of the redis source at the resync's position, the gap's end" \
	test "$(jq -r '[.sources[].name, .sources[0].log.start.pos, .sources[0].log.end.pos] | join(" ")' \
		"store/j/$(jq -r .base "$gap")/manifest.json")" = "cache $(jq -r '[.to.pos, .to.pos] | join(" ")' "$gap")"
check "... which the follower said" grep -q "its own link sends a full copy of its data instead" "$T/f3.err"
check "... with the counts of an RDB backup (the 2000 keys written past the backlog and more)" \
	test "$(jq -r '.sources[0].stats.keys' "store/j/$(jq -r .base "$gap")/manifest.json")" -gt 2000
# following goes on after the new base: the final state by --at latest
rcli "$a_port" SET after-gap yes >/dev/null
rcli "$a_port" -n 3 INCRBY after-gap 7 >/dev/null
mark four
kill -TERM "$f3"
wait "$f3"
check "restore --at latest after the gap equals the final digest" at_check g latest "$digest_four"
check "restore --at the second after the resync equals the digest taken then" \
	at_check g2 "$at_four" "$digest_four"
# a second inside the gap: the chain of the base before it breaks there
gap=$(ls store/j/log/cache/*.gap | head -n 1)
gap_from=$(date -u -d "$(jq -r .from.time "$gap")" +%s)
gap_to=$(date -u -d "$(jq -r .to.time "$gap")" +%s)
check "the gap spans whole seconds ($gap_from to $gap_to)" test $((gap_to - gap_from)) -ge 2
sed -i "s/^port = $a_port/port = $f_port/" cairn.ini
check_exit "restore --at a second inside the gap is refused (exit 6)" 6 \
	C restore j --at "$(date -u -d "@$((gap_from + 1))" +%Y-%m-%dT%H:%M:%SZ)"
sed -i "s/^port = $f_port/port = $a_port/" cairn.ini
err_has "the log has a gap from"
check "... before anything was written" test "$(rcli "$f_port" DBSIZE)" = 0
check_exit "cairn check is critical about the gap" 2 C check
out_has "has a gap"

# --- the server restarted (a new replication id) --------------------------------
start_follower f4
off=$(offset)
wait_for 30 caught_up "$off" || echo "# the log did not reach offset $off" >&2
gaps_before=$(ls store/j/log/cache/*.gap | wc -l)
sets_before=$(ls store/j | grep -c 'Z$')
old_replid=$(rcli "$a_port" INFO replication | tr -d '\r' | sed -n 's/^master_replid://p')
redis_stop a
"$REDIS_SERVER" --port "$a_port" --bind 127.0.0.1 --dir "$T/redis-a" --save '' \
	--appendonly no --repl-diskless-sync no --enable-debug-command local \
	--daemonize no --logfile "$T/redis-a/log2" >/dev/null 2>&1 &
a_pid=$!
_redis_pids="$_redis_pids $a_pid"
redis_wait "$a_port" "$a_pid" || echo "# the restarted server did not come up" >&2
check "the restarted server has a new replication id" test "$(rcli "$a_port" INFO replication |
	tr -d '\r' | sed -n 's/^master_replid://p')" != "$old_replid"
rcli "$a_port" SET after-restart 1 >/dev/null
rcli "$a_port" -n 3 RPUSH after-restart-list a b c >/dev/null
# writes all along: the stream follows the RDB at once on the link (a
# disk-based sync, the $LENGTH form), in the same reads
( while :; do rcli "$a_port" INCR during-resync >/dev/null; sleep 0.01; done ) &
writer=$!
check "after the restart, the follower records a gap" wait_for 60 sh -c \
	'test "$(ls store/j/log/cache/*.gap | wc -l)" -gt "$1"' sh "$gaps_before"
check "... and takes a new base" wait_for 60 sh -c \
	'test "$(ls store/j | grep -c "Z\$")" -gt "$1"' sh "$sets_before"
check "... the RDB of its own link: the restarted server made one full resync" \
	test "$(sync_full)" = 1
sleep 1
kill "$writer"
wait "$writer" 2>/dev/null
rcli "$a_port" INCR after-restart >/dev/null
mark five
kill -TERM "$f4"
wait "$f4"
check "the chain goes on: restore --at latest equals the restarted server's digest" \
	at_check h latest "$digest_five"
