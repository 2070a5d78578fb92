#!/bin/bash
# cmd_main.sh - the dispatcher, before any command runs: --version, --help,
# an unknown command, each command's --help, and the global options after
# the command.  Needs no plugin, so every subset build runs it.
. "$(dirname "$0")/lib.sh"

# the commands --help lists (the table in src/cli.c): each gets its --help
mapfile -t cmds < <("$CAIRN" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
plan $((26 + 3 * ${#cmds[@]}))

check_exit "--version" 0 "$CAIRN" --version
out_has "plugin ABI 1."
check_exit "--help" 0 "$CAIRN" --help
check_exit "an unknown command is a usage error" 2 "$CAIRN" frobnicate
check "--help lists the commands" test "${#cmds[@]}" -ge 10

# --- COMMAND --help: its usage from the table, without reading the INI ---
export CAIRN_CONFIG="$T/no/such.ini"
for c in "${cmds[@]}"; do
	check_exit "$c --help" 0 "$CAIRN" "$c" --help
	check "$c --help prints its usage" grep -q "^Usage: cairn $c" "$T/out"
	check "$c --help names the global options" grep -qF -- "-c, --config FILE" "$T/out"
done
check_exit "backup -h" 0 "$CAIRN" backup -h
out_has "Usage: cairn backup JOB"
out_has "back up a job's sources into its sinks"
check_exit "restore JOB --help, with other options" 0 "$CAIRN" restore j --id x --help
out_has "[--set [SOURCE.]KEY=VALUE]"
check_exit "config check --help" 0 "$CAIRN" config check --help
out_has "Usage: cairn config check"
check_exit "help COMMAND" 0 "$CAIRN" help prune
out_has "Usage: cairn prune JOB"
check_exit "help of an unknown command" 2 "$CAIRN" help frobnicate

# --- global options after the command ----------------------------------
printf '[cairn]\nstate_dir = state\n' >"$T/empty.ini"
check_exit "list -c FILE" 0 "$CAIRN" list -c "$T/empty.ini"
out_has "no jobs have backup sets"
check_exit "list --config=FILE -q" 0 "$CAIRN" list --config="$T/empty.ini" -q
check_exit "backup JOB -v -c FILE reads that file" 2 "$CAIRN" backup j -v -c "$T/empty.ini"
err_has "no job named \"j\""
check_exit "a command's option keeps its argument: --sink -q" 0 \
	"$CAIRN" list --sink -q -c "$T/empty.ini"
out_has "no jobs have backup sets in sink -q"
check_exit "-vc FILE: bundled" 0 "$CAIRN" list -vc "$T/empty.ini"
check_exit "-c without a FILE after the command" 2 "$CAIRN" list -c
check_exit "an unknown option after the command is still refused" 2 \
	"$CAIRN" list --frobnicate -c "$T/empty.ini"
check_exit "after --, nothing is taken" 2 "$CAIRN" list -c "$T/empty.ini" -- -v
