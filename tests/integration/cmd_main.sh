#!/bin/bash
# cmd_main.sh - the dispatcher, before any command runs: --version, --help,
# an unknown command.  Needs no plugin, so every subset build runs it.
. "$(dirname "$0")/lib.sh"
plan 4

check_exit "--version" 0 "$CAIRN" --version
out_has "plugin ABI 1."
check_exit "--help" 0 "$CAIRN" --help
check_exit "an unknown command is a usage error" 2 "$CAIRN" frobnicate
