#!/bin/bash
# cmd_plugins.sh - cairn plugins lists what the plugin path holds: each
# plugin configure built, its kind and ABI, and -v its keys.
. "$(dirname "$0")/lib.sh"
plan 9

# no config file: the environment's plugin path alone
check_exit "plugins without a config file" 0 "$CAIRN" -c "$T/none.ini" plugins
n=0
for p in ${CAIRN_BUILT_PLUGINS-files local}; do
	grep -q "^$p " "$T/out" && n=$((n + 1))
done
check "it lists every plugin that was built" \
	test "$n" = "$(echo ${CAIRN_BUILT_PLUGINS-files local} | wc -w)" -a "$(wc -l <"$T/out")" -ge "$n"
check "each line names the ABI and the file" \
	test "$(grep -c ' ABI 1\.[0-9]*  /.*\.so$' "$T/out")" = "$(wc -l <"$T/out")"
check_exit "plugins --bogus is a usage error" 2 "$CAIRN" -c "$T/none.ini" plugins --bogus
if have_plugin local; then
	check_exit "plugins -v" 0 "$CAIRN" -c "$T/none.ini" plugins -v
	out_has "fsync (bool, default yes)"
else
	skip "plugins -v" "needs the local plugin"
	skip "plugins -v shows a key" "needs the local plugin"
fi
if have_plugin files; then
	check_exit "plugins -v, after the command" 0 "$CAIRN" plugins -v -c "$T/none.ini"
	out_has "exclude (list, backup only)"
	out_has "path (path, required)"
else
	skip "plugins -v" "needs the files plugin"
	skip "plugins -v marks a backup-only key" "needs the files plugin"
	skip "plugins -v leaves other keys unmarked" "needs the files plugin"
fi
