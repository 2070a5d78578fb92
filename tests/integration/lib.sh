# lib.sh - what the integration tests share: TAP output, a scratch
# directory, and running cairn.  Source it; then call plan N.
#
# Environment (set by `make check`): CAIRN (the built binary),
# CAIRN_PLUGIN_PATH (the built plugins), top_srcdir, top_builddir.
set -u
: "${CAIRN:?run through make check, or set CAIRN}"
export CAIRN_PLUGIN_PATH

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-test.XXXXXX") || exit 99
cleanup() {
	local pids
	pids=$(jobs -p)
	[ -n "$pids" ] && kill $pids 2>/dev/null
	chmod -R u+rwx "$T" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

_n=0
plan() { echo "1..$1"; }
ok() { _n=$((_n + 1)); echo "ok $_n - $1"; }
not_ok() { _n=$((_n + 1)); echo "not ok $_n - $1"; }
skip() { _n=$((_n + 1)); echo "ok $_n - $1 # SKIP $2"; }
diag() { sed 's/^/# /' "$@" >&2; }
# check DESC COMMAND...: ok when COMMAND succeeds
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; return 1; fi
}
# check_exit DESC CODE COMMAND...: ok when COMMAND exits with CODE; its
# stdout and stderr stay in $T/out and $T/err for further checks.
check_exit() {
	local desc=$1 want=$2 got
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" = "$want" ]; then
		ok "$desc"
	else
		not_ok "$desc (exit $got, want $want)"
		diag "$T/err"
		return 1
	fi
}
# err_has TEXT / out_has TEXT: the last check_exit's stderr / stdout
err_has() { check "stderr says: $1" grep -qF -- "$1" "$T/err" || diag "$T/err"; }
out_has() { check "stdout says: $1" grep -qF -- "$1" "$T/out" || diag "$T/out"; }

# check_same DESC EXPECTED ACTUAL [TEXT]...: ok when the two files are
# equal and ACTUAL contains every TEXT (so an empty pair cannot pass);
# otherwise the diff goes out as diagnostics.
check_same() {
	local desc=$1 want=$2 got=$3 text
	shift 3
	if diff "$want" "$got" >"$T/same.diff"; then
		for text in "$@"; do
			grep -qF -- "$text" "$got" || echo "missing: $text" >>"$T/same.diff"
		done
	fi
	if [ -s "$T/same.diff" ]; then
		not_ok "$desc"
		diag "$T/same.diff"
		return 1
	fi
	ok "$desc"
}

# wait_for SECONDS COMMAND...: run COMMAND (a command, a function, or
# `eval 'SHELL CODE'`) every 0.1 s until it succeeds; 1 once SECONDS have
# passed without (counted by the clock, however long each try takes).
# Its stderr is dropped: it may fail while there is nothing yet.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@" 2>/dev/null; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# cairn ARGS...: the binary with the test's config
cairn() { "$CAIRN" -c "$T/cairn.ini" "$@"; }

# The id of the newest set of a job in a local sink directory.
newest_id() { ls "$1/$2" 2>/dev/null | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | tail -n 1; }

# have_plugin NAME: was the plugin built?  make check exports the list
# (CAIRN_BUILT_PLUGINS, from configure); run by hand, a NAME.so in
# CAIRN_PLUGIN_PATH counts.
have_plugin() {
	if [ -n "${CAIRN_BUILT_PLUGINS+set}" ]; then
		case " $CAIRN_BUILT_PLUGINS " in *" $1 "*) return 0 ;; esac
		return 1
	fi
	[ -f "${CAIRN_PLUGIN_PATH:-}/$1.so" ]
}
# need_plugin NAME...: before plan, skip the whole script with a reason
# when a packager's subset build left one of the plugins out.
need_plugin() {
	local p
	for p in "$@"; do
		if ! have_plugin "$p"; then
			echo "1..0 # SKIP needs the $p plugin"
			exit 0
		fi
	done
}

# write_ini JOB [SINK=PATH]...: the common fixture as $T/cairn.ini: a
# state_dir, the files source "docs" over $T/data, one local sink per
# SINK=PATH (default here=store, fsync off), and job JOB backing docs up
# to them all.  Line numbers are fixed (tests name them): [source docs]
# is line 4, its path line 6, each sink takes 5 lines from line 8, and the
# job's "sinks =" is the last line.  Append further sections with >>.
write_ini() {
	local job=$1 sink names=""
	shift
	[ $# = 0 ] && set -- here=store
	{
		printf '[cairn]\nstate_dir = state\n\n'
		printf '[source docs]\nplugin = files\npath = data\n'
		for sink in "$@"; do
			printf '\n[sink %s]\nplugin = local\npath = %s\nfsync = no\n' \
				"${sink%%=*}" "${sink#*=}"
			names="$names ${sink%%=*}"
		done
		printf '\n[job %s]\nsources = docs\nsinks =%s\n' "$job" "$names"
	} >"$T/cairn.ini"
}
