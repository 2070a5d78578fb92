#!/bin/bash
# external_plugin.sh - a third party can build a plugin against what
# `make install` puts on disk, and cairn loads and runs it.
#
# Installs the tree into a DESTDIR, builds doc/example-plugin (the `hello`
# source) out of cairn's tree with only the installed header and
# cairn-plugin.pc, then backs up, inspects, restores and verifies with it.
# Run by `make check` with $CAIRN, $CAIRN_PLUGIN_PATH, $top_srcdir,
# $top_builddir and $MAKE set.
: "${top_srcdir:?}" "${top_builddir:?}"
. "$(dirname "$0")/lib.sh"
need_plugin local
MAKE=${MAKE:-make}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
tmp=$T

plan 23

# --- 1: install into a DESTDIR ---------------------------------------------
root=$tmp/root
if $MAKE -C "$top_builddir" install DESTDIR="$root" >"$tmp/install.log" 2>&1; then
	ok "make install DESTDIR=..."
else
	not_ok "make install DESTDIR=..."
	diag "$tmp/install.log"
fi

# --- 2-7: the installed tree ------------------------------------------------
pc=$(find "$root" -name cairn-plugin.pc -print -quit)
check "cairn-plugin.pc is installed" test -n "$pc"
pcdir=$(dirname "${pc:-/nonexistent/x}")

# Ask the .pc itself where things go, without the sysroot: these are the
# paths as configured, which the DESTDIR then holds.
pcvar() { PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR= PKG_CONFIG_LIBDIR=$pcdir \
	"$PKG_CONFIG" --variable="$1" cairn-plugin; }
plugindir=$(pcvar plugindir)
includedir=$(pcvar includedir)

check "bin/cairn is installed" \
	test -n "$(find "$root" -path '*/bin/cairn' -type f -perm -u+x -print -quit)"
built=${CAIRN_BUILT_PLUGINS-files local}
missing=
for p in $built; do [ -f "$root$plugindir/$p.so" ] || missing="$missing $p"; done
check "the plugindir the .pc names ($plugindir) holds the built plugins ($built)" \
	test -n "$plugindir" -a -n "$built" -a -z "$missing"
check "include/cairn/plugin.h is installed under the .pc's includedir" \
	test -n "$includedir" -a -f "$root$includedir/cairn/plugin.h"
check "man1/cairn.1 is installed" \
	test -n "$(find "$root" -path '*/man1/cairn.1' -print -quit)"
check "man5/cairn.ini.5 is installed" \
	test -n "$(find "$root" -path '*/man5/cairn.ini.5' -print -quit)"
# quickstart.ini backs up the checkout's doc/ into the checkout: it runs
# from a source tree only, so it is not installed; the example is.
check "the examples hold cairn.ini.example and no quickstart.ini, which runs from a checkout only" \
	test -n "$(find "$root" -path '*/examples/cairn.ini.example' -print -quit)" -a \
	-z "$(find "$root" -name quickstart.ini -print -quit)"

# --- 8-11: build the example out of tree -----------------------------------
# A copy, because the source tree may be read-only (make distcheck).
src=$tmp/example
mkdir -p "$src"
cp "$top_srcdir/doc/example-plugin/hello.c" "$top_srcdir/doc/example-plugin/Makefile" "$src/"

# Only the DESTDIR's .pc may be found, and with the sysroot set its -I points
# into the DESTDIR, as it would for a distro building against a staged tree.
# An empty system include path keeps pkg-config from dropping -I/usr/include
# when cairn was configured with --prefix=/usr.
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_SYSTEM_INCLUDE_PATH= PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
cflags=$(echo $("$PKG_CONFIG" --cflags cairn-plugin))  # trims pkgconf's trailing blank
check "pkg-config --cflags cairn-plugin points into the DESTDIR ($cflags)" \
	test "$cflags" = "-I$root$includedir"

# -H lists every header the compiler opens; the first is cairn/plugin.h.
if $MAKE -C "$src" CPPFLAGS=-H >"$tmp/build.log" 2>&1 && [ -f "$src/hello.so" ]; then
	ok "the example plugin builds against the installed header"
else
	not_ok "the example plugin builds against the installed header"
	diag "$tmp/build.log"
fi
used=$(sed -n 's/^\. \(.*cairn\/plugin\.h\)$/\1/p' "$tmp/build.log" | head -n 1)
check "the header used is the installed one ($used)" \
	test "$used" -ef "$root$includedir/cairn/plugin.h"

exports=$(nm -D --defined-only "$src/hello.so" 2>/dev/null | awk '{ print $NF }')
check "hello.so exports only cairn_plugin_entry (got: $(echo $exports))" \
	test "$exports" = cairn_plugin_entry

# --- 12: the example's install target ---------------------------------------
if env PKG_CONFIG_SYSROOT_DIR= $MAKE -C "$src" install DESTDIR="$tmp/stage" \
	>"$tmp/install-hello.log" 2>&1 && [ -f "$tmp/stage$plugindir/hello.so" ]; then
	ok "make install DESTDIR= puts hello.so into the plugindir"
else
	not_ok "make install DESTDIR= puts hello.so into the plugindir"
	diag "$tmp/install-hello.log"
fi
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR \
	PKG_CONFIG_SYSTEM_INCLUDE_PATH PKG_CONFIG_ALLOW_SYSTEM_CFLAGS

# --- 13-14: cairn finds it ---------------------------------------------------
plugdir=$tmp/plugins
mkdir -p "$plugdir"
cp "$src/hello.so" "$plugdir/" 2>/dev/null
export CAIRN_PLUGIN_PATH="$plugdir${CAIRN_PLUGIN_PATH:+:$CAIRN_PLUGIN_PATH}"

"$CAIRN" plugins >"$tmp/plugins.out" 2>&1
check "cairn plugins lists hello from CAIRN_PLUGIN_PATH" \
	grep -Eq "^hello[[:space:]].*source" "$tmp/plugins.out" || diag "$tmp/plugins.out"
"$CAIRN" plugins -v >"$tmp/plugins-v.out" 2>&1
has_keys() { grep -qw message "$1" && grep -qw repeat "$1" && grep -qw target "$1"; }
check "cairn plugins -v shows hello's keys" has_keys "$tmp/plugins-v.out" \
	|| diag "$tmp/plugins-v.out"

# --- 15-22: a real run -------------------------------------------------------
mkdir -p "$tmp/state" "$tmp/store"
write_ini() {
	cat >"$tmp/cairn.ini" <<EOF
[cairn]
state_dir = $tmp/state

[source greeting]
plugin = hello
message = $1
repeat = 5
target = $tmp/restored.txt

[sink store]
plugin = local
path = $tmp/store
fsync = no

[job demo]
sources = greeting
sinks = store
compression = zstd
EOF
}
write_ini "hi there"
for i in 1 2 3 4 5; do echo "hi there"; done >"$tmp/expected.txt"

if "$CAIRN" -c "$tmp/cairn.ini" -q backup demo >"$tmp/backup.out" 2>&1; then
	ok "cairn backup with the hello source"
else
	not_ok "cairn backup with the hello source (exit $?)"
	diag "$tmp/backup.out"
fi

obj=$(find "$tmp/store/demo" -name greeting.txt.zst -print -quit 2>/dev/null)
if ! command -v zstd >/dev/null; then
	skip "the stored object decompresses to the expected lines" "no zstd"
elif [ -n "$obj" ] && zstd -dcq "$obj" | cmp -s - "$tmp/expected.txt"; then
	ok "the stored object decompresses to the expected lines"
else
	not_ok "the stored object decompresses to the expected lines (${obj:-no object})"
fi

manifest=$(find "$tmp/store/demo" -name manifest.json -print -quit 2>/dev/null)
check "the manifest holds hello's stat lines = 5" \
	grep -Eq '"lines"[[:space:]]*:[[:space:]]*5([^0-9]|$)' "${manifest:-/nonexistent}"

"$CAIRN" -c "$tmp/cairn.ini" -q restore demo >"$tmp/restore.out" 2>&1
rc=$?
check "restore writes the target with the stored lines (exit $rc)" \
	cmp -s "$tmp/restored.txt" "$tmp/expected.txt" || diag "$tmp/restore.out"

"$CAIRN" -c "$tmp/cairn.ini" -q restore demo >"$tmp/restore2.out" 2>&1
rc=$?
check "restore refuses the non-empty target with exit 8 (got $rc)" test "$rc" -eq 8

"$CAIRN" -c "$tmp/cairn.ini" -q restore demo --force \
	--set target="$tmp/other.txt" >"$tmp/restore3.out" 2>&1
rc=$?
check "restore --set target= writes elsewhere (exit $rc)" \
	cmp -s "$tmp/other.txt" "$tmp/expected.txt" || diag "$tmp/restore3.out"

"$CAIRN" -c "$tmp/cairn.ini" verify demo --deep >"$tmp/verify.out" 2>&1
rc=$?
check "verify --deep passes (exit $rc)" test "$rc" -eq 0 || diag "$tmp/verify.out"

# The stored bytes are intact (SHA-256 matches), but with another message the
# plugin's own verify() must find every line wrong: this proves --deep
# reaches it.
write_ini "bye there"
"$CAIRN" -c "$tmp/cairn.ini" verify demo --deep >"$tmp/verify2.out" 2>&1
rc=$?
if [ "$rc" -eq 6 ] && grep -q "line 1 is not the message" "$tmp/verify2.out"; then
	ok "verify --deep runs hello's verify(), which reports damage (exit 6)"
else
	not_ok "verify --deep runs hello's verify(), which reports damage (exit $rc)"
	diag "$tmp/verify2.out"
fi

