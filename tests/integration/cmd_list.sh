#!/bin/bash
# cmd_list.sh - cairn list: the sets of every sink, as text and as JSON.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 14

mkdir -p "$T/data" "$T/store" "$T/store2"
printf 'alpha\n' >"$T/data/a.txt"
write_ini daily here=store there=store2

# --- nothing yet: one line says so, --json is an empty array --------------
check_exit "list with no sets" 0 cairn list
check "it says there is nothing" grep -qx "no jobs have backup sets" "$T/out"
check_exit "list JOB with no sets" 0 cairn list daily
check "it names the job and its sinks" \
	grep -qx "no backup sets of job daily in sinks here, there" "$T/out"
check_exit "list JOB --sink with no sets" 0 cairn list daily --sink there
check "it names the job and that sink" \
	grep -qx "no backup sets of job daily in sink there" "$T/out"
check_exit "list --json with no sets" 0 cairn list --json
check "list --json with no sets is an empty array" \
	test "$(jq -c '.sets' "$T/out")" = "[]"
check "list --json with no sets prints only JSON" test "$(jq -r '.sets | length' "$T/out")" = 0

cairn backup daily || exit 99
id1=$(newest_id "$T/store" daily)

check_exit "list" 0 cairn list
out_has "$id1"
check_exit "list --json" 0 cairn list daily --json
check "list --json is JSON with both sinks' sets" \
	test "$(jq -r '[.sets[] | .sink] | sort | join(",")' "$T/out")" = "here,there"
check "list --json carries the manifest" \
	test "$(jq -r '.sets[0].manifest.sources[0].plugin' "$T/out")" = files
