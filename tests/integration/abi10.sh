#!/bin/bash
# abi10.sh - plugins built against the ABI 1.0 header keep loading and
# working: a backup and restore round trip with the abi10src source and
# the abi10sink sink, the restore pre-checked (1.0 has no staged-restore
# flag), leftovers of a sink without lock() kept for the grace period.
# Run by `make check` with $CAIRN_TEST_PLUGINS set.
. "$(dirname "$0")/lib.sh"
: "${CAIRN_TEST_PLUGINS:?run through make check}"
plan 14

# Only these two in the plugin directory: the test directory also holds
# plugins made to fail.
mkdir -p "$T/store" "$T/plugins"
cp "$CAIRN_TEST_PLUGINS/abi10src.so" "$CAIRN_TEST_PLUGINS/abi10sink.so" "$T/plugins/"
head -c 200000 /dev/urandom >"$T/input.bin"
cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = state
plugin_dir = $T/plugins

[source blob]
plugin = abi10src
input = input.bin
output = output.bin

[sink old]
plugin = abi10sink
dir = store

[job daily]
sources = blob
sinks = old
INI

check_exit "cairn plugins lists both 1.0 plugins" 0 cairn plugins
out_has "abi10src"
out_has "abi10sink"
check_exit "config check accepts their sections" 0 cairn config check
check_exit "backup through both" 0 cairn backup daily
check "the sink holds the object and the manifest" \
	test "$(ls "$T/store" | grep -c '^daily%')" = 2
check_exit "restore" 0 cairn -v restore daily
err_has "blob.raw.zst before restoring it"
check "gives back the bytes" cmp "$T/input.bin" "$T/output.bin"
check_exit "a second restore refuses the existing file" 8 cairn restore daily
check_exit "verify" 0 cairn verify daily

# A leftover of a dead run: fresh, it may be another host's run in
# progress (no lock() in 1.0), so it stays; a day old, it goes.
left="$T/store/daily%20200101T000000Z%blob.raw.zst"
printf 'partial' >"$left"
check_exit "backup with a fresh leftover" 0 cairn -v backup daily
check "keeps the fresh leftover" test -e "$left"
touch -d '3 days ago' "$left"
cairn backup daily >/dev/null 2>&1
check "removes it once past the grace period" test ! -e "$left"
