#!/bin/bash
# doc_example.sh - the example plugin pasted in doc/plugin-authoring.md
# ("The example in full") is doc/example-plugin/, byte for byte: a reader
# copies the guide, a builder the directory, and both must get the same.
. "$(dirname "$0")/lib.sh"
guide=$top_srcdir/doc/plugin-authoring.md
dir=$top_srcdir/doc/example-plugin
files=$(cd "$dir" && ls)
plan $(($(echo $files | wc -w) + 1))

# Each "`doc/example-plugin/NAME`:" line is followed by a fenced block;
# write every block to $T/guide/NAME.
mkdir -p "$T/guide"
awk -v out="$T/guide" '
	/^## / { infull = ($0 == "## The example in full") }
	!infull { next }
	inblock && /^```$/ { inblock = 0; close(file); file = ""; next }
	inblock { print > file; next }
	/^`doc\/example-plugin\/[^`\/]+`:$/ {
		name = $0; sub(/^`doc\/example-plugin\//, "", name); sub(/`:$/, "", name)
		file = out "/" name; next
	}
	file != "" && /^```[a-z]*$/ { inblock = 1; printf "" > file; next }
' "$guide"

check "the guide pastes every file of doc/example-plugin and nothing else" \
	test "$(cd "$T/guide" && ls | tr '\n' ' ')" = "$(echo $files | tr ' ' '\n' | sort | tr '\n' ' ')"
for f in $files; do
	check_same "the guide's $f is doc/example-plugin/$f" "$dir/$f" "$T/guide/$f" \
		cairn_plugin
done
