#!/bin/bash
# layout.sh - the floor plan of doc/design.md and doc/plugin-authoring.md
# holds: tools/layout finds no .c file over 1,000 lines, no function over
# 120 lines, no loop of calls among the files of the core or of one plugin,
# and no command calling another command; and it does find each of these
# when one is planted, so this test cannot pass by finding nothing.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || {
	echo "1..0 # SKIP needs python3"
	exit 0
}
layout=$top_srcdir/tools/layout
plan 6

dirs=("$top_srcdir/src")
for d in "$top_srcdir"/plugins/*/; do
	ls "$d"*.c >/dev/null 2>&1 && dirs+=("${d%/}")
done
check_exit "the tree keeps its floor plan" 0 python3 "$layout" --quiet "${dirs[@]}" || diag "$T/out"

# Planted breaches: each must be found.
p=$T/plant
mkdir -p "$p/src" "$p/big" "$p/loop"
{
	echo 'int'
	echo 'long_one(void)'
	echo '{'
	for i in $(seq 1 130); do echo "	int x$i = $i;"; done
	echo '	return 0;'
	echo '}'
} >"$p/big/long.c"
for i in $(seq 1 1001); do echo "/* $i */"; done >"$p/big/huge.c"
printf 'int\nup(void)\n{\n\treturn down();\n}\n' >"$p/loop/a.c"
printf 'int\ndown(void)\n{\n\treturn up();\n}\n' >"$p/loop/b.c"
printf 'int\ncmd_a(void)\n{\n\treturn 0;\n}\n' >"$p/src/cmd_a.c"
printf 'int\ncmd_b(void)\n{\n\treturn cmd_a();\n}\n' >"$p/src/cmd_b.c"
check_exit "planted breaches fail it" 1 python3 "$layout" --quiet "$p/big" "$p/loop" "$p/src"
check "a function over 120 lines is found" grep -q 'long_one() is 134 lines' "$T/out"
check "a file over 1,000 lines is found" grep -q 'huge.c: 1001 lines' "$T/out"
check "a loop of calls is found" grep -q 'loop: a.c b.c' "$T/out"
check "a command calling a command is found" grep -q 'cmd_b.c: a command calls another command (cmd_a.c)' "$T/out"
