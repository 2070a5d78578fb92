#!/bin/bash
# progress.sh - on a terminal, backup shows percent and time left from the
# files source's announced total (ABI 1.1 progress_total); without a
# terminal nothing is printed.  A restore that checks the object before
# it restores (redis) shows two phases, checking and restoring, each with
# percent and time left from the manifest's stored_bytes.
. "$(dirname "$0")/lib.sh"
need_plugin files local
if ! command -v script >/dev/null; then
	echo "1..0 # SKIP script(1) (util-linux) is missing"
	exit 0
fi
plan 8

mkdir -p "$T/data" "$T/store"
# slow enough (gzip) that the line is drawn: it is redrawn at most 4 times a second
for i in $(seq 12); do head -c 2000000 /dev/urandom >"$T/data/f$i"; done
write_ini j here=store
printf 'compression = gzip\ncompression_level = 1\n' >>"$T/cairn.ini"
cd "$T" || exit 99
# on_tty CMD...: run it with a terminal as stdin/stdout/stderr; the lines
# drawn (carriage returns made newlines) in $T/tty
on_tty() {
	timeout 60 script -qec "$*" /dev/null | tr '\r' '\n' >"$T/tty"
}
on_tty "$CAIRN -c $T/cairn.ini backup j"
check "backup on a terminal shows bytes of the announced total, percent and time left" \
	grep -aqE 'docs: [0-9.]+ [KMG]iB of 2[0-9]\.[0-9] MiB \([0-9]+%\), .*/s, [0-9]+:[0-9]{2}:[0-9]{2} left' "$T/tty"
total=$(grep -aoE 'of [0-9.]+ MiB' "$T/tty" | head -n 1 | grep -oE '[0-9.]+')
raw=$(jq '.sources[0].raw_bytes' "$T/store/j/$(newest_id "$T/store" j)/manifest.json")
check "the announced total ($total MiB) is within 2 % of what was written" \
	awk -v t="$total" -v r="$raw" 'BEGIN { m = r / 1048576; exit !(t >= m * 0.98 && t <= m * 1.02) }'
check_exit "backup without a terminal" 0 cairn backup j
check "prints nothing at all" test ! -s "$T/err"

# ------------------------------------------- restore: checking, restoring
if ! have_plugin redis || ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
	for i in 1 2 3 4; do skip "restore phases" "needs the redis plugin, redis-server and redis-cli"; done
	exit 0
fi
. "$top_srcdir/tests/integration/redis_lib.sh"
redis_start src || exit 99
# 2 M keys, xz: slow enough to read that each phase is drawn
rcli "$src_port" DEBUG POPULATE 2000000 >/dev/null || exit 99
cat >>"$T/cairn.ini" <<INI

[source cache]
plugin = redis
port = $src_port

[job r]
sources = cache
sinks = here
compression = xz
compression_level = 0
INI
timeout 300 "$CAIRN" -c "$T/cairn.ini" backup r >"$T/out" 2>&1 || { diag "$T/out"; exit 99; }
rid=$(newest_id "$T/store" r)
on_tty "$CAIRN -c $T/cairn.ini restore r --set rdb_path=$T/out.rdb"
sed -i 's/\x1b\[K//g' "$T/tty"
check "restore on a terminal first shows the check, with percent and time left" \
	grep -aqE '^cache: checking [0-9.]+ [KMG]iB of [0-9.]+ MiB \([0-9]+%\), .*/s, [0-9]+:[0-9]{2}:[0-9]{2} left' "$T/tty"
check "then the restore, with percent and time left" \
	grep -aqE '^cache: restoring [0-9.]+ [KMG]iB of [0-9.]+ MiB \([0-9]+%\), .*/s, [0-9]+:[0-9]{2}:[0-9]{2} left' "$T/tty"
check "no phase counts past the stored object (no line without a total)" \
	bash -c "! grep -aE '^cache: .*[KMG]iB, [0-9.]+ [KMG]iB/s' '$T/tty'"
total=$(grep -aoE 'checking [0-9.]+ [KMG]iB of [0-9.]+ MiB' "$T/tty" | head -n 1 | grep -oE '[0-9.]+ MiB$' | grep -oE '[0-9.]+')
stored=$(stat -c %s "$T/store/r/$rid/cache.rdb.xz")
check "the total ($total MiB) is the stored object's size" \
	awk -v t="${total:-0}" -v r="$stored" 'BEGIN { m = r / 1048576; exit !(t >= m * 0.98 && t <= m * 1.02) }'
