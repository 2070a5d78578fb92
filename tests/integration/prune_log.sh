#!/bin/bash
# prune_log.sh - retention of change logs (issue 18): a log of source docs
# laid by hand in a local sink (segments, gap records, a data object left
# without its manifest, a manifest without its data) beside three sets
# whose manifests record where the log stood; prune keeps the segments
# from the oldest kept set's position on and says why for each, removes
# the rest manifest first, leaves the log alone while a kept set's
# manifest cannot be read, and honours pitr_window.
. "$(dirname "$0")/lib.sh"
need_plugin files local

FAKETIME_LIB=""
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
	/usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
	[ -f "$f" ] && FAKETIME_LIB=$f && break
done
if [ -z "$FAKETIME_LIB" ]; then
	echo "1..0 # SKIP needs libfaketime (Debian: faketime)"
	exit 0
fi
command -v jq >/dev/null || {
	echo "1..0 # SKIP needs jq"
	exit 0
}
plan 32

mkdir -p "$T/data" "$T/store"
echo one >"$T/data/a"
write_ini j here=store
sed -i 's/^\[job j\]$/[job j]\nretention = r\nprune = no/' "$T/cairn.ini"
printf '\n[retention r]\nkeep_last = 2\n' >>"$T/cairn.ini"

at() {
	local when=$1
	shift
	TZ=UTC LD_PRELOAD=$FAKETIME_LIB FAKETIME="$when" "$@"
}
D1=20210301T020000Z D2=20210302T020000Z D3=20210303T020000Z
for d in 2021-03-01 2021-03-02 2021-03-03; do
	check_exit "backup on $d" 0 at "$d 02:00:00" "$CAIRN" -c "$T/cairn.ini" backup j
done

LOG=$T/store/j/log/docs
mkdir -p "$LOG"
ep() { date -u -d "$1" +%s; }
# pos EPOCH: a position at that second (lsn = seconds << 32 | 1)
pos() {
	printf '{"lsn": "%016x", "time": "%s.000Z", "pos": "%s:1"}' \
		$(($1 << 32 | 1)) "$(date -u -d "@$1" +%Y-%m-%dT%H:%M:%S)" "$1"
}
name() {
	printf '%s.000Z-%s.000Z-%016x-%016x' "$(date -u -d "@$1" +%Y%m%dT%H%M%S)" \
		"$(date -u -d "@$2" +%Y%m%dT%H%M%S)" $(($1 << 32 | 1)) $(($2 << 32 | 1))
}
# seg FROM TO [nodata]: a committed segment (its data, then its manifest)
seg() {
	local n
	n=$(name "$1" "$2")
	[ "${3:-}" = nodata ] || printf x >"$LOG/$n.bson"
	printf '{"format": 1, "kind": "cairn-log-segment", "cairn_version": "0", "job": "j", "source": "docs", "plugin": "files", "segment": "%s", "object": "j/log/docs/%s.bson", "compression": "none", "raw_bytes": 1, "stored_bytes": 1, "sha256": "%s", "records": 0, "base": "", "from": %s, "to": %s, "created": "2021-03-01T00:00:00Z"}\n' \
		"$n" "$n" "$(printf x | sha256sum | cut -c1-64)" "$(pos "$1")" "$(pos "$2")" \
		>"$LOG/$n.json"
}
gap() {
	local n
	n=$(name "$1" "$2")
	printf '{"format": 1, "kind": "cairn-log-gap", "job": "j", "source": "docs", "segment": "%s", "from": %s, "to": %s, "base": "", "reason": "lost", "created": "2021-03-01T00:00:00Z"}\n' \
		"$n" "$(pos "$1")" "$(pos "$2")" >"$LOG/$n.gap"
}

# the sets' manifests say where the log stood: D1 and D3 at their start,
# D2 also at its end (30 s later)
setlog() { # ID LOG-JSON
	local m=$T/store/j/$1/manifest.json
	jq --argjson l "$2" '.sources[0].log = $l' "$m" >"$m.new" && mv "$m.new" "$m"
}
setlog $D1 "{\"start\": $(pos "$(ep '2021-03-01 02:00:00')")}"
setlog $D2 "{\"start\": $(pos "$(ep '2021-03-02 02:00:00')"), \"end\": $(pos "$(ep '2021-03-02 02:00:30')")}"
setlog $D3 "{\"start\": $(pos "$(ep '2021-03-03 02:00:00')")}"

# ten segments of six hours, 2021-03-01 00:00 .. 2021-03-03 12:00
t0=$(ep '2021-03-01 00:00:00')
for k in 0 1 2 3 4 5 6 7 8 9; do
	seg $((t0 + k * 21600)) $((t0 + (k + 1) * 21600))
done
gap "$(ep '2021-03-01 03:00:00')" "$(ep '2021-03-01 04:00:00')"
gap "$(ep '2021-03-03 12:00:00')" "$(ep '2021-03-03 13:00:00')"
# a manifest without its data, before the cut
seg "$(ep '2021-02-28 00:00:00')" "$(ep '2021-02-28 06:00:00')" nodata
# data without manifests: one long left over, one just written
old=$(name "$(ep '2021-02-27 00:00:00')" "$(ep '2021-02-27 06:00:00')")
printf x >"$LOG/$old.bson"
touch -d '3 days ago' "$LOG/$old.bson"
fresh=$(name "$(ep '2021-03-03 13:00:00')" "$(ep '2021-03-03 13:01:00')")
printf x >"$LOG/$fresh.bson"
# not ours: left alone
printf x >"$LOG/README"
before=$(find "$LOG" -type f | wc -l)

# --- the dry run says why, and removes nothing ---------------------------
check_exit "prune --dry-run" 0 cairn prune j --dry-run
out_has "  log docs  4 segments 2021-03-01T00:00:00.000Z .. 2021-03-02T00:00:00.000Z  remove: log before oldest kept set $D2"
out_has "  log docs  6 segments 2021-03-02T00:00:00.000Z .. 2021-03-03T12:00:00.000Z  keep: log after kept set $D2"
out_has "  log docs  1 gap 2021-03-01T03:00:00.000Z .. 2021-03-01T04:00:00.000Z  remove: no kept segment lies before it"
out_has "  log docs  1 gap 2021-03-03T12:00:00.000Z .. 2021-03-03T13:00:00.000Z  keep: a kept segment lies before it"
out_has "remove: no manifest, left over for more than 1d"
out_has "keep: no manifest yet, changed within 1d"
check "the dry run removed nothing" test "$(find "$LOG" -type f | wc -l)" = "$before"
check_exit "prune --dry-run --json" 0 cairn prune j --dry-run --json
check "the JSON has the logs, each with action and why" test "$(jq -r \
	'[.sinks[0].logs[] | select(.kind == "segment") | "\(.action) \(.count)"] | join(",")' "$T/out")" \
	= "remove 4,keep 6"

# --- a kept set whose manifest cannot be read: the log is left alone ------
cp "$T/store/j/$D3/manifest.json" "$T/m3"
echo '{' >"$T/store/j/$D3/manifest.json"
check_exit "prune with a damaged kept set" 0 cairn prune j
err_has "the log of job j is left alone: the manifest of kept set $D3 cannot be read"
check "no log object was removed" test "$(find "$LOG" -type f | wc -l)" = "$before"
cp "$T/m3" "$T/store/j/$D3/manifest.json"

# --- the prune ---------------------------------------------------------------
check_exit "prune" 0 cairn prune j
check "set D1 is gone" test ! -e "$T/store/j/$D1"
n_json=$(find "$LOG" -name '*.json' | wc -l)
n_bson=$(find "$LOG" -name '*.bson' | wc -l)
check "six segments' manifests stay" test "$n_json" = 6
check "their data and the fresh orphan stay" test "$n_bson" = 7
check "the segments before D2's end position are gone" \
	test ! -e "$LOG/$(name "$t0" $((t0 + 21600))).json" -a ! -e "$LOG/$(name "$t0" $((t0 + 21600))).bson"
check "the first kept segment ends after the cut" \
	test -e "$LOG/$(name $((t0 + 4 * 21600)) $((t0 + 5 * 21600))).json"
check "the gap before the kept segments is gone" test "$(find "$LOG" -name '*.gap' | wc -l)" = 1
check "the left-over data is gone" test ! -e "$LOG/$old.bson"
check "the fresh one stays" test -e "$LOG/$fresh.bson"
check "the manifest without data is gone" \
	test ! -e "$LOG/$(name "$(ep '2021-02-28 00:00:00')" "$(ep '2021-02-28 06:00:00')").json"
check "what is not ours stays" test -e "$LOG/README"
check_exit "a second prune" 0 cairn prune j --dry-run
out_has "keep: log after kept set $D2"

# --- pitr_window: only that much log, counted back from now -----------------
sed -i 's/^prune = no$/prune = no\npitr_window = 1d/' "$T/cairn.ini"
if cairn config check >/dev/null 2>&1; then
	check_exit "prune with pitr_window = 1d" 0 at "2021-03-04 06:00:00" "$CAIRN" -c "$T/cairn.ini" prune j --dry-run
	out_has "remove: log older than pitr_window 1d"
	check "the window reaches back to 2021-03-03 06:00" grep -qF \
		"keep: log after kept set $D2" "$T/out"
else
	skip "prune with pitr_window = 1d" "this branch's config has no pitr_window yet"
	skip "remove: log older than pitr_window 1d" "no pitr_window"
	skip "the window" "no pitr_window"
fi
