#!/bin/bash
# cmd_list.sh - cairn list: the sets of every sink, as text and as JSON.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 5

mkdir -p "$T/data" "$T/store" "$T/store2"
printf 'alpha\n' >"$T/data/a.txt"
write_ini daily here=store there=store2
cairn backup daily || exit 99
id1=$(newest_id "$T/store" daily)

check_exit "list" 0 cairn list
out_has "$id1"
check_exit "list --json" 0 cairn list daily --json
check "list --json is JSON with both sinks' sets" \
	test "$(jq -r '[.sets[] | .sink] | sort | join(",")' "$T/out")" = "here,there"
check "list --json carries the manifest" \
	test "$(jq -r '.sets[0].manifest.sources[0].plugin' "$T/out")" = files
