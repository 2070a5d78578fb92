#!/bin/bash
# backup_oneoff.sh - one-off runs: backup --set [SOURCE.]KEY=VALUE (the
# seed's "back up one collection" without editing the INI) and --sink NAME
# (a local-only run while the offsite store is down), checked as restore's
# --set is, and recorded as what they were: the manifest names the
# overrides and the sinks of the run, and neither restore's default
# choice, nor prune, nor status's lastBackup nor the run record takes such
# a set for a full backup of the job.
. "$(dirname "$0")/lib.sh"
need_plugin files local
command -v jq >/dev/null || {
	echo "1..0 # SKIP needs jq"
	exit 0
}
plan 57

cd "$T" || exit 99
mkdir -p data/sub data/menus web store store2
echo alpha >data/a.txt
echo beta >data/sub/b.txt
echo menu >data/menus/m.txt
echo upload >web/u.txt
write_ini j here=store there=store2
cat >>cairn.ini <<'INI'

[source web]
plugin = files
path = web

[retention one]
keep_last = 1
INI
sed -i 's/^sources = docs$/sources = docs web\nretention = one/' cairn.ini
jqs() { jq -r --arg s "$1" ".jobs[0].sinks[] | select(.name == \$s) | $2" status.json; }

check_exit "a full backup" 0 cairn backup j
full=$(newest_id store j)
sleep 1

# --- checked as restore's --set ------------------------------------------------
check_exit "--set without = is a usage error" 2 cairn backup j --set exclude
err_has "--set exclude: use --set KEY=VALUE"
check_exit "--set of a key no source has is a usage error" 2 cairn backup j --set nosuchkey=1
err_has "--set nosuchkey: none of the sources being backed up has a key nosuchkey"
check_exit "--set scoped to a source not in the job is a usage error" 2 \
	cairn backup j --set other.exclude=x
err_has "--set other.exclude: this backup backs up no source named other"
check_exit "--set of a secret no source has" 2 cairn backup j --set other.password=hunter2
check "the value is not repeated" sh -c '! grep -q hunter2 "$1"' sh "$T/err"
check_exit "--set scoped to a source left out by --source is a usage error" 2 \
	cairn backup j --source web --set docs.exclude=x
err_has "this backup backs up no source named docs"
restore_code() { cairn restore j --set "$1" --set path="$T/rx" >/dev/null 2>&1; echo $?; }
check_exit "an unknown key of a named source fails as restore's does" \
	"$(restore_code docs.nosuchkey=1)" cairn backup j --set docs.nosuchkey=1
err_has "nosuchkey"
check_exit "a bad value fails as restore's does" "$(restore_code docs.xattrs=maybe)" \
	cairn backup j --set docs.xattrs=maybe
err_has "xattrs"
check "none of these wrote a set" test "$(newest_id store j)" = "$full"
check_exit "--sink of a sink the job lacks is a usage error" 2 cairn backup j --sink nosuch
err_has 'job j has no sink named "nosuch"'

# --- the seed's "back up one collection": one source, narrowed ---------------
check_exit "backup --set docs.exclude=sub" 0 cairn backup j --set docs.exclude='sub menus'
one=$(newest_id store j)
m=store/j/$one/manifest.json
check "a new set in both sinks" test "$one" \> "$full" -a -f "store2/j/$one/manifest.json"
check "the manifest records the override on its source" \
	test "$(jq -c '.sources[] | select(.name == "docs") | .overrides' "$m")" = '["exclude=sub menus"]'
check "and none on the source it did not reach" \
	test "$(jq -c '.sources[] | select(.name == "web") | .overrides' "$m")" = null
check "the set is marked partial: it is no full backup of the job" test "$(jq -r .partial "$m")" = true
check "it ran to every sink: no run_sinks" test "$(jq -c .run_sinks "$m")" = null
check_exit "restore --id of it restores what it holds" 0 \
	cairn restore j --id "$one" --source docs --set path="$T/r1"
check "without the excluded directories" test -f r1/a.txt -a ! -e r1/sub -a ! -e r1/menus
err_has "backed up with --set exclude=sub menus"
check_exit "restore without --id takes docs from the full set" 0 \
	cairn restore j --set docs.path="$T/r2" --set web.path="$T/r2w"
check "so nothing is missing" test -f r2/sub/b.txt -a -f r2/menus/m.txt -a -f r2w/u.txt
check "prune (keep_last = 1) did not let the full set go" test -f "store/j/$full/manifest.json"
cairn status --json >status.json
check "status's lastBackup is still the full set" test "$(jqs here .lastBackup.id)" = "$full"
check "the run record still names the full run" test "$(jqs here .lastRun.id)" = "$full"
cairn list j >out
out_has "docs web (partial: docs backed up with --set exclude=sub menus)"

# --- a scoped --set reaches only its source ----------------------------------
sleep 1
check_exit "--set exclude (plain) reaches every files source" 0 \
	cairn backup j --set exclude=menus --source docs
two=$(newest_id store j)
check "recorded with the source left out" \
	test "$(jq -r '.failed_sources[0].name + " " + (.failed_sources[0].skipped | tostring)' \
		"store/j/$two/manifest.json")" = "web true"
check "and the override" test "$(jq -c '.sources[0].overrides' "store/j/$two/manifest.json")" = \
	'["exclude=menus"]'

# --- a failed nightly, then a one-off: the failure is not wiped --------------
sleep 1
mv store2 store2.away
ln -s loop store2
check_exit "a run with one sink down" 1 cairn backup j
rm store2
mv store2.away store2
sleep 1
check_exit "a one-off --set run into both" 0 cairn backup j --set docs.exclude=sub
cairn status --json >status.json
check "the down sink's failure still shows" test "$(jqs there .lastRun.status)" = failed
check "still counted" test "$(jqs there .runsSinceSuccess.failed)" = 1

# --- a local-only run: --sink --------------------------------------------------
sleep 1
mv store2 store2.away
ln -s loop store2
check_exit "backup --sink here while there is down" 0 cairn backup j --sink here
loc=$(newest_id store j)
m=store/j/$loc/manifest.json
check "a new set in here" test -f "$m"
check "none in there" test ! -e "store2.away/j/$loc"
cairn list j --sink here >out
out_has "docs web (backup --sink: only to here)"
check "the manifest names the run's sinks" test "$(jq -c .run_sinks "$m")" = '["here"]'
check "the set is complete: every source, no override" \
	test "$(jq -r '(.partial // false | tostring) + " " + ([.sources[].name] | join(","))' "$m")" = \
	"false docs,web"
cairn status --json >status.json
check "here's run is ok" test "$(jqs here '.lastRun.status + " " + .lastRun.id')" = "ok $loc"
check "here's lastBackup is the new set" test "$(jqs here .lastBackup.id)" = "$loc"
check "there's record claims no success" test "$(jqs there .lastRun.status)" = failed
check "and is not touched by a run that did not go there" test "$(jqs there .runsSinceSuccess.failed)" = 1
check_exit "restore takes the local-only set by default" 0 cairn restore j --sink here --set docs.path="$T/r3" --source docs
check "all of docs" test -f r3/sub/b.txt -a -f r3/menus/m.txt
check_exit "--sink of a sink that is down: exit 1" 1 cairn backup j --sink there
err_has "failed: there"
check "nothing new in here" test "$(newest_id store j)" = "$loc"
cairn status --json >status.json
check "and the failure is recorded for there" test "$(jqs there .runsSinceSuccess.failed)" = 2
check "here's record is untouched" test "$(jqs here .lastRun.id)" = "$loc"
rm store2
mv store2.away store2
