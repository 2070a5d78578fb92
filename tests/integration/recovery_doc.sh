#!/bin/bash
# recovery_doc.sh - doc/recovery.md and etc/cairn.ini.example stay true
# together.  The test's cairn.ini is the shipped example, rewritten only
# where a test must (sed on named lines: the paths moved below the scratch
# directory, the servers' ports, the S3 endpoint), so an example that
# drifts from the runbook fails here.  A MongoDB (the python fixture), a
# Redis and an S3 store (s3rver) of the test's own stand in for the seed's
# stack.  Then every ```sh block of the runbook runs, in order, each where
# the one before left off (as typed into one shell), with the same
# rewrites; mongorestore, aws and systemctl are stand-ins that act on the
# test's servers.  What the restores put back is compared with what was
# backed up.
. "$(dirname "$0")/lib.sh"
need_plugin files local mongo redis s3
. "$top_srcdir/tests/integration/mongo_lib.sh"
need_mongo_fixture
. "$top_srcdir/tests/integration/redis_lib.sh"
redis_need
. "$top_srcdir/tests/integration/s3_lib.sh"
need_s3
for t in jq zstd tar sha256sum; do
	command -v $t >/dev/null || {
		echo "1..0 # SKIP needs $t"
		exit 0
	}
done
_rb_cleanup() {
	local p
	for p in $_mongo_pids $_redis_pids; do
		{ kill -9 "$p" && wait "$p"; } 2>/dev/null
	done
	[ -s "$T/redis-live.pid" ] && kill -9 "$(cat "$T/redis-live.pid")" 2>/dev/null
	s3_stop
	cleanup
}
trap _rb_cleanup EXIT

doc=$top_srcdir/doc/recovery.md
example=$top_srcdir/etc/cairn.ini.example
nblocks=$(grep -c '^```sh$' "$doc")
plan $((nblocks + 21))
cd "$T" || exit 99
PY=/usr/bin/python3

# --- the runbook names what the example names ------------------------------
sed -n 's/^\[\(source\|sink\|job\) \([^]]*\)\]$/\1 \2/p' "$example" | LC_ALL=C sort -u >"$T/names.example"
{
	grep -o '\[\(source\|sink\|job\) [a-z][a-z0-9_-]*\]' "$doc" | sed 's/^\[\(.*\)\]$/\1/'
	grep -oE -- '--(source|sink|from|to) [a-z][a-z0-9_-]*' "$doc" |
		sed -e 's/^--//' -e 's/^\(from\|to\) /sink /'
	grep -oE 'cairn (backup|list|restore|verify|prune|copy|status|check) [a-z][a-z0-9_-]*' "$doc" |
		awk '{ print "job", $3 }'
} | LC_ALL=C sort -u >"$T/names.doc"
check_same "the runbook names the example's sources, sinks and job, and no others" \
	"$T/names.example" "$T/names.doc" "source shop" "source cache" "source uploads" \
	"sink local" "sink offsite" "job nightly"
check "and its bucket and prefix" \
	grep -q 'bucket `acme-backups`' "$doc" && grep -q 'prefix `cairn/web1`' "$doc" &&
	grep -qx 'bucket = acme-backups' "$example" && grep -qx 'prefix = cairn/web1' "$example"

# --- the servers --------------------------------------------------------------
PW=pw-$RANDOM$RANDOM
mongo_start --auth "cairn:$PW" || exit 99
LIVE_MONGO_PORT=$MONGO_PORT
LIVE_MONGO=$MONGO_AUTH_URI
mongo_start --auth "cairn:$PW" || exit 99
STAGING_MONGO_PORT=$MONGO_PORT
STAGING_MONGO=$MONGO_AUTH_URI
redis_start staging || exit 99
s3_start acme-backups || exit 99
LIVE_REDIS_PORT=$(redis_free_port)
mkdir -p "$T/bin" "$T/etc" "$T/tmp" "$T/var/lib/redis" "$T/srv/plato/uploads/img"

# The stand-ins read their settings from here.
cat >"$T/bin/rb-env" <<EOF
T='$T'
top_srcdir='$top_srcdir'
LIVE_REDIS_PORT=$LIVE_REDIS_PORT
LIVE_MONGO='$LIVE_MONGO'
S3_ENDPOINT='$S3_ENDPOINT'
EOF
# systemctl: redis-server is the test's live Redis (its data in
# $T/var/lib/redis/dump.rdb); cairn's units must be the shipped ones (etc/).
cat >"$T/bin/systemctl" <<'EOF'
#!/bin/bash
. "$(dirname "$0")/rb-env"
live() { timeout 10 redis-cli -h 127.0.0.1 -p "$LIVE_REDIS_PORT" "$@"; }
case "$1 ${2:-}" in
"start redis-server")
	redis-server --port "$LIVE_REDIS_PORT" --bind 127.0.0.1 --dir "$T/var/lib/redis" \
		--dbfilename dump.rdb --save '' --appendonly no --enable-debug-command local \
		--daemonize yes --pidfile "$T/redis-live.pid" --logfile "$T/redis-live.log" || exit 1
	for _ in $(seq 100); do
		[ "$(live PING 2>/dev/null)" = PONG ] && exit 0
		sleep 0.1
	done
	exit 1 ;;
"stop redis-server")
	pid=$(cat "$T/redis-live.pid")
	live SHUTDOWN NOSAVE >/dev/null 2>&1
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || exit 0
		sleep 0.1
	done
	exit 1 ;;
"enable --now")
	shift 2
	for u in "$@"; do
		tmpl=$(echo "$u" | sed 's/@[^.]*\./@./')
		for f in "$tmpl" "${tmpl%.timer}.service"; do
			[ -f "$top_srcdir/etc/$f" ] || { echo "systemctl: no unit $f" >&2; exit 1; }
		done
		echo "$u" >>"$T/enabled"
	done ;;
*) echo "systemctl (test stand-in): $* is not a runbook command" >&2; exit 1 ;;
esac
EOF
# mongorestore --archive [--drop]: the fixture's restore (as mongorestore
# does it) into the live server, the archive from stdin.
cat >"$T/bin/mongorestore" <<'EOF'
#!/bin/bash
. "$(dirname "$0")/rb-env"
drop=
for a in "$@"; do
	case $a in
	--archive) ;;
	--drop) drop=--drop ;;
	*) echo "mongorestore (test stand-in): $a is not a runbook option" >&2; exit 2 ;;
	esac
done
cat >"$T/mongorestore.in" || exit 1
exec timeout 120 /usr/bin/python3 "$top_srcdir/tests/fixtures/mongo_archive.py" restore \
	"$LIVE_MONGO" "$T/mongorestore.in" $drop
EOF
# aws: the real AWS CLI, against s3rver.
cat >"$T/bin/aws" <<'EOF'
#!/bin/bash
. "$(dirname "$0")/rb-env"
AWS_CONFIG_FILE=$T/aws/config AWS_SHARED_CREDENTIALS_FILE=$T/aws/credentials AWS_PAGER= \
	exec timeout 120 /usr/bin/aws --endpoint-url "$S3_ENDPOINT" --cli-connect-timeout 10 \
	--cli-read-timeout 30 "$@"
EOF
printf '#!/bin/sh\nexec timeout 300 "%s" "$@"\n' "$CAIRN" >"$T/bin/cairn"
chmod +x "$T/bin/systemctl" "$T/bin/mongorestore" "$T/bin/aws" "$T/bin/cairn"
export PATH="$T/bin:$PATH"
check "the live Redis starts" systemctl start redis-server || diag "$T/redis-live.log"

# --- the example, rewritten only where a test must ------------------------------
printf '%s\n' "$PW" >"$T/etc/mongo.password"
printf 'S3RVER\n' >"$T/etc/s3.access"
printf 'S3RVER\n' >"$T/etc/s3.secret"
printf 'token-%s\n' "$RANDOM$RANDOM" >"$T/etc/serve.token"
chmod 600 "$T"/etc/*
sed -e "s|/var/lib/cairn|$T/state|" -e "s|/var/backups/cairn|$T/backups|" \
	-e "s|/srv/|$T/srv/|" -e "s|/etc/cairn/|$T/etc/|" \
	-e "/^uri = /s|@127\.0\.0\.1:27017/|@127.0.0.1:$LIVE_MONGO_PORT/|" \
	-e "/^port = 6379\$/s|6379|$LIVE_REDIS_PORT|" \
	-e "/^region = /a endpoint = $S3_ENDPOINT" \
	-e "/^listen = /s|:9135\$|:0|" \
	"$example" >"$T/cairn.ini"
n=0
for want in "state_dir = $T/state" "path = $T/backups" "path = $T/srv/plato/uploads" \
	"uri = mongodb://cairn@127.0.0.1:$LIVE_MONGO_PORT/?authSource=admin" \
	"password_file = $T/etc/mongo.password" "port = $LIVE_REDIS_PORT" "endpoint = $S3_ENDPOINT" \
	"access_key_file = $T/etc/s3.access" "secret_key_file = $T/etc/s3.secret" \
	"listen = 127.0.0.1:0" "token_file = $T/etc/serve.token"; do
	grep -qxF -- "$want" "$T/cairn.ini" && n=$((n + 1)) || echo "# not in the test's INI: $want" >&2
done
check "the example's named lines were all found and rewritten" test "$n" = 11
check "nothing of the test's INI points outside the scratch directory" \
	test -z "$(grep -E '^[a-z_]+ = .*(/var/|/srv/|/etc/)' "$T/cairn.ini" | grep -vF "$T/")"
export CAIRN_CONFIG=$T/cairn.ini
check_exit "config check accepts the example" 0 cairn config check

# --- the stack's data, and its backup -------------------------------------------
timeout 120 $PY "$MONGO_LOAD_PY" load "$LIVE_MONGO" --db1 shop --db2 other --scale 0.02 --no-big \
	>"$T/load.out" 2>&1 || {
	diag "$T/load.out"
	exit 99
}
timeout 60 $PY "$MONGO_LOAD_PY" dump "$LIVE_MONGO" --db shop >"$T/mongo.want" || exit 99
redis_fill "$LIVE_REDIS_PORT" || exit 99
redis_digest "$LIVE_REDIS_PORT" >"$T/redis.want"
redis_keyspace "$LIVE_REDIS_PORT" >"$T/keyspace.want"
up=$T/srv/plato/uploads
echo "a page" >"$up/index.html"
head -c 100000 /dev/urandom >"$up/img/photo.jpg"
ln -s index.html "$up/home.html"
cp -a "$up" "$T/uploads.want"
check_exit "the example's job backs the stack up into both sinks" 0 cairn backup nightly
offsite_id=$(s3_keys acme-backups cairn/web1/nightly/ | sed -n 's|^cairn/web1/nightly/\([0-9TZ]*\)/manifest.json$|\1|p' | tail -n 1)
check "the offsite set is in the bucket below the prefix" test -n "$offsite_id"

# The live data changes after the backup: the restores must undo that.
mutate() {
	mongo_cmd "$LIVE_MONGO" shop '{"insert": "people", "documents": [{"_id": "after-the-backup"}]}' >/dev/null &&
		rcli "$LIVE_REDIS_PORT" SET after-the-backup 1 >/dev/null &&
		rcli "$LIVE_REDIS_PORT" SET str changed >/dev/null
}
mutate || exit 99
echo "changed" >"$up/index.html"
cmp -s "$T/mongo.want" <(timeout 60 $PY "$MONGO_LOAD_PY" dump "$LIVE_MONGO" --db shop) && exit 99

# --- every block, in order -----------------------------------------------------
awk -v dir="$T/block" '
	/^```sh$/ { n++; file = sprintf("%s.%02d", dir, n); inb = 1; next }
	inb && /^```$/ { inb = 0; close(file); next }
	inb { print > file }
' "$doc"
at=$(date -d '+1 minute' +%Y-%m-%dT%H:%M)
echo "$T" >"$T/cwd"
i=0
for b in "$T"/block.[0-9][0-9]; do
	i=$((i + 1))
	grep -q mongorestore "$b" && mutate # the standard tools must undo it too
	# the offsite store "missed" the set: cairn copy must bring it back
	grep -q 'cairn copy' "$b" && s3aws s3 rm --quiet --recursive "s3://acme-backups/cairn/web1/nightly/$offsite_id/"
	{
		sed -e "s|/var/backups/cairn|$T/backups|g" -e "s|/var/lib/redis/|$T/var/lib/redis/|g" \
			-e "s|/srv/|$T/srv/|g" -e "s|/tmp/files.want|$T/files.want|g" \
			-e "s|/etc/cairn/|$T/etc/|g" \
			-e "s|staging\.example:27017|127.0.0.1:$STAGING_MONGO_PORT|g" \
			-e "s|port=6380|port=$staging_port|g" \
			-e "s|--at 2026-11-24T03:00|--at $at|g" -e "s|20261124T020000Z|$offsite_id|g" "$b"
		echo 'pwd >"$RB_CWD"'
	} >"$b.sh"
	if (cd "$(cat "$T/cwd")" && RB_CWD=$T/cwd timeout 600 bash -e -o pipefail "$b.sh") >"$T/out.$i" 2>&1; then
		ok "runbook block $i: $(grep -v '^#' "$b" | head -n 1 | cut -c1-60)"
	else
		not_ok "runbook block $i: $(grep -v '^#' "$b" | head -n 1 | cut -c1-60)"
		diag "$T/out.$i"
	fi
	if grep -q 'flush=yes' "$b"; then
		timeout 60 $PY "$MONGO_LOAD_PY" dump "$LIVE_MONGO" --db shop >"$T/mongo.inplace"
		redis_digest "$LIVE_REDIS_PORT" >"$T/redis.inplace"
		cp -a "$up" "$T/uploads.inplace"
	fi
done
check "the blocks were all found" [ "$i" = "$nblocks" ]

# --- what they put back -------------------------------------------------------
check_same "cairn's in-place restore put MongoDB back as it was backed up" "$T/mongo.want" \
	"$T/mongo.inplace" "collection shop.people"
check_same "and Redis (flush=yes --force)" "$T/redis.want" "$T/redis.inplace"
check "and the uploads tree" diff -r "$T/uploads.want" "$T/uploads.inplace"
timeout 60 $PY "$MONGO_LOAD_PY" dump "$STAGING_MONGO" --db shop_restore | sed 's/shop_restore/shop/g' >"$T/mongo.staging"
check_same "the restore to another server under another name holds the same" "$T/mongo.want" \
	"$T/mongo.staging" "collection shop.people"
check "and Redis on another port" test "$(redis_keyspace "$staging_port")" = "$(cat "$T/keyspace.want")"
check "cairn's restore to another target equals the original" diff -r "$T/uploads.want" "srv/restore/uploads"
check "the set aws fetched from the bucket is whole" bash -c "cd '$T/$offsite_id' &&
	jq -r '.sources[] | \"\(.sha256)  \(.object | split(\"/\") | last)\"' manifest.json | sha256sum --quiet -c -"
check "the standard tools' restore of the uploads equals the original" diff -r "$T/uploads.want" srv/restore/by-hand
timeout 60 $PY "$MONGO_LOAD_PY" dump "$LIVE_MONGO" --db shop >"$T/mongo.byhand"
check_same "and of MongoDB (mongorestore --archive --drop)" "$T/mongo.want" "$T/mongo.byhand" \
	"collection shop.people"
redis_digest "$LIVE_REDIS_PORT" >"$T/redis.byhand"
check_same "and of Redis (its dump.rdb)" "$T/redis.want" "$T/redis.byhand"
cairn list nightly --sink local --json | jq -r '.sets[].id' >"$T/ids.local"
cairn list nightly --sink offsite --json | jq -r '.sets[].id' >"$T/ids.offsite"
check_same "after the outage, cairn copy put back every set the offsite store missed" \
	"$T/ids.local" "$T/ids.offsite" "$offsite_id"
check "the schedule's timers are the shipped units" test "$(cat "$T/enabled" 2>/dev/null | tr '\n' ' ')" = \
	"cairn@nightly.timer cairn-verify@nightly.timer cairn-restore-test@nightly.timer "
