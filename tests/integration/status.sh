#!/bin/bash
# status.sh - cairn status: the table, --json against doc/status-json.md
# (every field and its type), --prometheus through promtool, the state
# record backup writes, a sink that is down, a damaged record, and
# [cairn] metrics_file refreshed by backup.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 38

mkdir -p "$T/data" "$T/store"
for i in $(seq 20); do head -c 3000 /dev/urandom | base64 >"$T/data/f$i.txt"; done
ln -s loop "$T/loop" # a sink root that can never be opened: the sink is down
write_ini j here=store down=loop
printf 'metrics_file = metrics.prom\n' >"$T/extra"
sed -i '/^state_dir = state$/r '"$T/extra" "$T/cairn.ini"
cd "$T" || exit 99
jqe() { jq -e "$@" >/dev/null; }

check_exit "a backup with one sink down fails" 1 cairn backup j
rm -f "$T/data/f1.txt" "$T/data/f2.txt"
check_exit "a second backup" 1 cairn backup j
id2=$(newest_id "$T/store" j)

# --- the JSON document: every field of doc/status-json.md, with its type
check_exit "status --json" 0 cairn status --json
cp "$T/out" "$T/status.json"
schema='
def is($t): (type as $x | $t | split("|") | index($x)) != null;
def time: is("string") and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$");
def time_or_null: . == null or time;
def backup: is("object") and (.id | test("^[0-9]{8}T[0-9]{6}Z$")) and (.time | time)
  and (.started | time) and (.finished | time_or_null) and (.ageSeconds | is("number"))
  and (.durationSeconds | is("number|null")) and (.storedBytes | is("number"))
  and (.rawBytes | is("number|null")) and (.sources | is("number"));
def test_result: . == null or (is("object") and (.time | time) and (.id | is("string"))
  and (.ok | is("boolean")) and (.detail | is("string|null")));
def run: . == null or (is("object") and (.status | IN("ok", "partial", "failed"))
  and (.id | is("string|null")) and (.error | is("string|null")) and (.started | time)
  and (.finished | time));
def sink: is("object") and (.name | is("string")) and (.plugin | is("string"))
  and (.reachable | is("boolean")) and (.error | is("string|null")) and (.sets | is("number"))
  and (.bytesKept | is("number")) and (.pinned | is("array") and all(.[]; is("string")))
  and (.lastBackup | . == null or backup)
  and (.previousBackup | . == null or backup) and (.sizeChangePercent | is("number|null"))
  and (.recentBackups | is("array") and all(.[]; (.id | is("string")) and (.time | time)
       and (.bytes | is("number"))))
  and (.lastRun | run) and (.lastSuccess | time_or_null)
  and (.runsSinceSuccess | (.partial | is("number")) and (.failed | is("number")))
  and (.lastVerify | test_result) and (.lastRestoreTest | test_result)
  and (.usage | . == null or ((.used | is("number")) and (.avail | is("number|null"))
       and (.total | is("number|null")) and (.percent | is("number|null"))));
.version == 1 and (.generated | time) and (.lastBackup | . == null or (backup
  and (.job | is("string")) and (.sink | is("string"))))
  and (.recentBackups | is("array") and all(.[]; (.job | is("string")) and (.sink | is("string"))
       and (.id | is("string")) and (.time | time) and (.bytes | is("number"))))
  and (.storageUsed | is("number"))
  and (.jobs | is("array") and length > 0 and all(.[]; (.name | is("string"))
       and (.description | is("string|null")) and (.stateError | is("string|null"))
       and (.sinks | is("array") and all(.[]; sink))))'
check "every field has the documented type" jqe "$schema" "$T/status.json"
# the schema check itself refuses a wrong type
check "the schema check refuses a string where a number belongs" \
	test "$(jq '.storageUsed = "many"' "$T/status.json" | jq "$schema")" = false
# every field the doc lists is in the document, and the doc lists every field
fields=$(jq -r '[paths | map(select(type == "string")) | last] | unique | .[]' "$T/status.json")
missing=""
for f in $fields; do
	grep -q "\`$f\`" "$top_srcdir/doc/status-json.md" || missing="$missing $f"
done
check "doc/status-json.md documents every field (missing:$missing)" test -z "$missing"
here='.jobs[0].sinks[0]'
down='.jobs[0].sinks[1]'
check "the seed's lastBackup is the newest set" \
	test "$(jq -r '.lastBackup.id + " " + .lastBackup.sink' "$T/status.json")" = "$id2 here"
check "recentBackups lists both sets, newest first" \
	test "$(jq -r '[.recentBackups[].id] | join(" ")' "$T/status.json")" = \
	"$(ls "$T/store/j" | grep -E '^[0-9]{8}T' | sort -r | tr '\n' ' ' | sed 's/ $//')"
check "storageUsed is what the sink's sets hold" \
	test "$(jq -r .storageUsed "$T/status.json")" = \
	"$(find "$T/store/j" -path '*Z/*' -type f -printf '%s\n' | awk '{s+=$1} END {print s}')"
check "two sets in the sink that works" test "$(jq -r "$here.sets" "$T/status.json")" = 2
check "the last backup's stored size is the manifest's" \
	test "$(jq -r "$here.lastBackup.storedBytes" "$T/status.json")" = \
	"$(jq -r '[.sources[].stored_bytes] | add' "$T/store/j/$id2/manifest.json")"
check "the size change is against the previous set, and negative (files went)" \
	jqe "$here.sizeChangePercent < 0" "$T/status.json"
check "the working sink's last run is ok" \
	test "$(jq -r "$here.lastRun.status + \" \" + $here.lastRun.id" "$T/status.json")" = "ok $id2"
check "the sink that is down is reported unreachable with its error" \
	jqe "($down.reachable == false) and ($down.error | test(\"loop\"))" "$T/status.json"
check "its runs are recorded as failed, two since no success" \
	jqe "($down.lastRun.status == \"failed\") and ($down.runsSinceSuccess.failed == 2) and ($down.lastSuccess == null)" \
	"$T/status.json"
check "the local sink reports usage" jqe "$here.usage.percent >= 0 and $here.usage.total > 0" \
	"$T/status.json"

# --- the state record
check "the state record is mode 0600" test "$(stat -c %a "$T/state/status/j.json")" = 600

# --- the table
check_exit "status prints a table" 0 cairn status
out_has "$id2"
out_has "UNREACHABLE"
# the UTF-8 bytes of U+2581 and U+2588: bash's \u escapes need a UTF-8
# locale, and CI has none
lo=$'\xe2\x96\x81' hi=$'\xe2\x96\x88'
check "no sparkline when stdout is not a terminal" bash -c "! grep -q -e '$lo' -e '$hi' '$T/out'"
if command -v script >/dev/null; then
	LC_ALL=C.UTF-8 script -qec "$CAIRN -c $T/cairn.ini status j" /dev/null >"$T/tty.out" 2>&1
	check "a sparkline of the sizes on a terminal" grep -q -e "$hi" "$T/tty.out"
	env -u LC_ALL -u LC_CTYPE LANG=C script -qec "$CAIRN -c $T/cairn.ini status j" /dev/null \
		>"$T/tty.out" 2>&1
	check "in ASCII when the locale is not UTF-8" \
		bash -c "grep -q '[_.,=+*#-]\{2\}' '$T/tty.out' && ! grep -q -e '$lo' -e '$hi' '$T/tty.out'"
else
	skip "a sparkline on a terminal" "script(1) from util-linux is missing"
	skip "in ASCII when the locale is not UTF-8" "script(1) from util-linux is missing"
fi
check_exit "status of a job that does not exist" 2 cairn status nope
err_has 'no job named "nope"'

# --- Prometheus
check_exit "status --prometheus FILE" 0 cairn status --prometheus "$T/m.prom"
if command -v promtool >/dev/null; then
	check "promtool check metrics accepts it" bash -c "promtool check metrics <'$T/m.prom' >'$T/prom.err' 2>&1" ||
		diag "$T/prom.err"
else
	skip "promtool check metrics accepts it" "promtool (Debian: prometheus) is missing"
fi
check "with HELP and TYPE lines" grep -q '^# TYPE cairn_backup_last_success_timestamp_seconds gauge$' "$T/m.prom"
check "the sets per job and sink" grep -qx 'cairn_backup_sets{job="j",sink="here"} 2' "$T/m.prom"
check "the sink that is down is 0 up" grep -qx 'cairn_sink_up{job="j",sink="down"} 0' "$T/m.prom"
check "metrics_file was refreshed by backup" grep -qx 'cairn_backup_sets{job="j",sink="here"} 2' "$T/metrics.prom"
check "the metrics file is readable by a collector (0644)" test "$(stat -c %a "$T/metrics.prom")" = 644
check "no temporary file left beside it" test "$(ls -A "$T" | grep -c '^\.cairn-metrics')" = 0

# --- a partial run: a set without the source that failed is no complete backup
mkdir -p "$T/web" && echo page >"$T/web/index.html"
printf '\n[source web]\nplugin = files\npath = web\n' >>"$T/cairn.ini"
sed -i 's/^sources = docs$/sources = docs web/' "$T/cairn.ini"
mv "$T/web" "$T/web.away"
check_exit "a backup whose second source fails" 9 cairn backup j
cairn status --json >"$T/partial.json"
check "the partial run is recorded, naming the source" \
	jqe "$here.lastRun.status == \"partial\" and ($here.lastRun.error | test(\"web\")) and $here.runsSinceSuccess.partial == 1" \
	"$T/partial.json"
check "the last complete backup is still the one before" \
	test "$(jq -r "$here.lastBackup.id" "$T/partial.json")" = "$id2"

# --- a damaged state record: reported, and status still answers
echo '{"format": 1, "job": ' >"$T/state/status/j.json"
check_exit "status with a damaged state record" 0 cairn status --json
check "stateError names the file" jqe '.jobs[0].stateError | test("j.json is damaged")' "$T/out"
