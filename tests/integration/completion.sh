#!/bin/bash
# completion.sh - the bash completion (etc/bash-completion/cairn), sourced
# in bash as bash-completion would: COMP_WORDS in, COMPREPLY out, every
# word from `cairn __complete` (the command table and the INI file).
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 21

. "$top_srcdir/etc/bash-completion/cairn"

# comp WORD... : complete the last WORD (split as bash splits, "=" its
# own word) of "cairn WORD..."; the replies, sorted, one line
comp() {
	COMP_WORDS=("$CAIRN" "$@")
	COMP_CWORD=$#
	COMP_LINE="cairn $*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_cairn
	printf '%s\n' "${COMPREPLY[@]}" | sort | paste -sd' '
}
# is DESC WANT WORD...: the replies to WORD... are WANT
is() {
	local desc=$1 want=$2 got
	shift 2
	got=$(comp "$@")
	if [ "$got" = "$want" ]; then ok "$desc"; else not_ok "$desc: got '$got', want '$want'"; fi
}

check "complete -F _cairn cairn is registered" \
	bash -c ". '$top_srcdir/etc/bash-completion/cairn' && complete -p cairn | grep -q _cairn"

mkdir -p "$T/data" "$T/store" "$T/store2"
echo a >"$T/data/a.txt"
write_ini daily here=store there=store2
cat >>"$T/cairn.ini" <<INI

[source db]
plugin = files
path = data

[job weekly]
sources = docs db
sinks = here
INI
export CAIRN_CONFIG="$T/cairn.ini"

is "cairn ba<TAB>: the command" "backup" ba
is "cairn <TAB>: every command --help lists" \
	"$("$CAIRN" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | sort | paste -sd' ')" ""
is "cairn backup <TAB>: the jobs of the INI file" "daily weekly" backup ""
is "cairn restore j --so<TAB>: the option" "--source" restore j --so
is "cairn restore weekly --source <TAB>: the job's sources" "db docs" restore weekly --source ""
is "cairn restore daily --sink=<TAB>: the job's sinks" "here there" restore daily --sink = ""
is "cairn restore daily --sink=th<TAB>" "there" restore daily --sink = th
is "cairn verify weekly --sink <TAB>: only its sinks" "here" verify weekly --sink ""
is "cairn restore weekly --set <TAB>: sources, and keys that shape a restore" \
	"acls= db. docs. path= xattrs=" restore weekly --set ""
is "cairn restore weekly --set db.<TAB>: that source's keys" \
	"db.acls= db.path= db.xattrs=" restore weekly --set db.
is "after --set path=/x, the next option" "--sink" restore weekly --set path = /x --si
is "cairn config <TAB>: its word" "check" config ""
is "cairn help pr<TAB>: commands" "prune" help pr
is "cairn prune --<TAB>: its options and the global ones" \
	"--config --dry-run --help --json --quiet --sink --verbose" prune --

printf '[job other]\nsources = docs\nsinks = here\n' >"$T/other.ini"
printf '[cairn]\nstate_dir = state\n[source docs]\nplugin = files\npath = data\n' >>"$T/other.ini"
printf '[sink here]\nplugin = local\npath = store\n' >>"$T/other.ini"
is "-c FILE before the command is honoured" "other" -c "$T/other.ini" backup ""
is "-c FILE after the command is honoured" "other" list -c "$T/other.ini" ""
is "a broken INI file completes nothing" "" -c "$T/no/such.ini" backup ""

cairn backup daily || exit 99
id=$(newest_id "$T/store" daily)
is "cairn restore daily --id <TAB>: the set ids" "$id" restore daily --id ""
is "cairn restore daily --id=<TAB>, only --sink there" "$id" restore daily --sink there --id = ""
cd "$T" && is "cairn -c <TAB>: a file" "cairn.ini" -c cairn.
