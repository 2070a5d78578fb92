#!/bin/bash
# cmd_verify.sh - cairn verify finds damage: a flipped byte, a truncated
# object, a broken manifest, a tar that decompresses but is not a tar (--deep).
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 73

mkdir -p "$T/data" "$T/store"
for i in $(seq 50); do head -c 2000 /dev/urandom | base64 >"$T/data/f$i.txt"; done
write_ini j here=store
cairn backup j || exit 99
id1=$(newest_id "$T/store" j)
cairn backup j || exit 99
id2=$(newest_id "$T/store" j)
obj1=$T/store/j/$id1/docs.tar.zst
obj2=$T/store/j/$id2/docs.tar.zst

check "the manifest's sha256 is sha256sum of the stored object" \
	test "$(jq -r '.sources[0].sha256' "$T/store/j/$id1/manifest.json")" = \
	"$(sha256sum <"$obj1" | cut -d' ' -f1)"
check "the manifest's stored_bytes is its size" \
	test "$(jq -r '.sources[0].stored_bytes' "$T/store/j/$id1/manifest.json")" = "$(stat -c %s "$obj1")"
check_exit "verify of the newest set" 0 cairn verify j
out_has "j/$id2 in here: ok (1 object"
check_exit "verify --deep" 0 cairn verify j --deep
out_has "deep"
check_exit "verify --restore-test of a files source" 0 cairn verify j --restore-test
out_has "j/$id2 in here: ok (1 object"
out_has "restore-tested)"
check "and quiet: nothing on stderr when it is not a terminal" test ! -s "$T/err"
check "the scratch directory is gone afterwards" \
	test -z "$(ls -A "$T/state/scratch" 2>/dev/null)"
check_exit "-v shows what the restore test compared" 0 cairn -v verify j --restore-test
err_has "what it counted matches the manifest: files = 50, directories = 1"
check_exit "verify --restore-test --json lists what it compared" 0 \
	cairn verify j --restore-test --json
check "checked: the files counted in the test restore, as the manifest has them" \
	test "$(jq -r '.results[0].checked.docs.files' "$T/out")" = 50 -a \
	"$(jq -r '.sources[0].stats.files' "$T/store/j/$id2/manifest.json")" = 50
check "checked: directories and bytes too" \
	jq -e '.results[0].checked.docs | has("directories") and has("bytes") and has("symlinks") and has("hardlinks")' "$T/out"
check_exit "verify --all" 0 cairn verify j --all
check "--all checked both sets" test "$(grep -c ': ok' "$T/out")" = 2

# one flipped byte in the middle of the older set's object
cp "$obj1" "$T/orig1"
size=$(stat -c %s "$obj1")
printf '\xff' | dd of="$obj1" bs=1 seek=$((size / 2)) conv=notrunc status=none
cmp -s "$obj1" "$T/orig1" && printf '\x00' | dd of="$obj1" bs=1 seek=$((size / 2)) conv=notrunc status=none
check_exit "a flipped byte fails verify --id with exit 6" 6 cairn verify j --id "$id1"
out_has "DAMAGED"
out_has "SHA-256"
check_exit "verify --restore-test of the damaged set exits 6" 6 cairn verify j --id "$id1" --restore-test
out_has "DAMAGED"
check_exit "verify --all reports the damaged set and exits 6" 6 cairn verify j --all
out_has "j/$id2 in here: ok"
check_exit "restore of the damaged set fails" 6 cairn restore j --id "$id1" --set path="$T/r1"
cp "$T/orig1" "$obj1"

# truncated
head -c $((size - 100)) "$T/orig1" >"$obj1"
check_exit "a truncated object fails verify" 6 cairn verify j --id "$id1"
cp "$T/orig1" "$obj1"

# a well-formed zstd stream of something that is not a tar: only --deep sees it
head -c 20000 /dev/urandom | zstd -q -c >"$obj2"
jq --arg sha "$(sha256sum <"$obj2" | cut -d' ' -f1)" --argjson n "$(stat -c %s "$obj2")" \
	'.sources[0].sha256 = $sha | .sources[0].stored_bytes = $n | .sources[0].raw_bytes = 20000' \
	"$T/store/j/$id2/manifest.json" >"$T/m.json" && cp "$T/m.json" "$T/store/j/$id2/manifest.json"
check_exit "a checksum-correct non-tar passes the plain verify" 0 cairn verify j --id "$id2"
check_exit "but fails verify --deep" 6 cairn verify j --id "$id2" --deep

# a broken manifest
echo '{"format": 1, "job": ' >"$T/store/j/$id2/manifest.json"
check_exit "a broken manifest fails verify" 6 cairn verify j --id "$id2"

# --- a SHA-consistent set whose manifest stats disagree with its tar: the
# restore test counts what it extracted and the core compares
cp "$T/store/j/$id1/manifest.json" "$T/m1.orig"
jq '.sources[0].stats.files = 51' "$T/m1.orig" >"$T/store/j/$id1/manifest.json"
check_exit "the plain verify cannot see a wrong file count" 0 cairn verify j --id "$id1"
check_exit "the restore test finds it: exit 6" 6 cairn verify j --id "$id1" --restore-test
out_has "DAMAGED"
out_has "files"
out_has "51"
check "one line names source, key, expected and found" \
	grep -qE "docs: .*files.* 51.* 50|docs: .*files.* 50.* 51" "$T/out"
check_exit "so does verify --deep" 6 cairn verify j --id "$id1" --deep
jq '.sources[0].stats.bytes += 1' "$T/m1.orig" >"$T/store/j/$id1/manifest.json"
check_exit "a byte count one off is damage too" 6 cairn verify j --id "$id1" --restore-test
out_has "bytes"
jq '.sources[0].stats.somethingelse = 7' "$T/m1.orig" >"$T/store/j/$id1/manifest.json"
check_exit "a key only in the manifest is not compared" 0 cairn verify j --id "$id1" --restore-test
cp "$T/m1.orig" "$T/store/j/$id1/manifest.json"

# --- every sink of the job is verified: two local sinks, damage only in
# the second one's copy
mkdir -p "$T/sa" "$T/sb"
write_ini m first=sa second=sb
echo "max_verify_age = 1d" >>"$T/cairn.ini"
cairn backup m || exit 99
idm=$(newest_id "$T/sa" m)
check_exit "a clean verify checks both sinks" 0 cairn verify m
out_has "m/$idm in first: ok"
out_has "m/$idm in second: ok"
check_exit "so check finds both sinks verified" 0 cairn check
check_exit "a clean restore test of both sinks" 0 cairn verify m --restore-test
check "quiet" test ! -s "$T/err"
check "both sinks restore-tested" test "$(grep -c 'restore-tested)' "$T/out")" = 2
objb=$T/sb/m/$idm/docs.tar.zst
cp "$objb" "$T/origb"
sizeb=$(stat -c %s "$objb")
printf '\xff' | dd of="$objb" bs=1 seek=$((sizeb / 2)) conv=notrunc status=none
cmp -s "$objb" "$T/origb" && printf '\x00' | dd of="$objb" bs=1 seek=$((sizeb / 2)) conv=notrunc status=none
check_exit "damage in the second sink's copy: exit 6" 6 cairn verify m
out_has "m/$idm in second: DAMAGED"
out_has "m/$idm in first: ok"
check_exit "check names the second sink's failed verify" 2 cairn check
out_has "m in second: the last verify (of $idm) failed"
check_exit "--restore-test finds it too" 6 cairn verify m --restore-test
out_has "m/$idm in second: DAMAGED"
check_exit "--all finds it" 6 cairn verify m --all
check_exit "--json names the sink of each result" 6 cairn verify m --json
check "first ok, second not" jq -e '[.results[] | {(.sink): .ok}] | add == {"first": true, "second": false}' "$T/out"
check_exit "--sink first narrows to the good copy" 0 cairn verify m --sink first
check "and checks only that one" test "$(grep -c ': ok' "$T/out")" = 1 -a "$(grep -c 'in second' "$T/out")" = 0
check_exit "--sink second --id: the damage" 6 cairn verify m --sink second --id "$idm"
cp "$T/origb" "$objb"

# a sink that cannot be listed is a failure naming it (exit 1), never
# "no backup set" (exit 7); the other sink is still verified
mv "$T/sb" "$T/sb.real"
ln -s sb "$T/sb" # a root that can never be opened (ELOOP): the sink is down
check_exit "an unlistable second sink: exit 1" 1 cairn verify m
err_has "second"
out_has "m/$idm in first: ok"
check "not called 'no backup set'" bash -c "! grep -q 'no complete backup set' '$T/err'"
check_exit "--all too: exit 1" 1 cairn verify m --all
err_has "second"
check_exit "--sink second alone: exit 1, not 7" 1 cairn verify m --sink second
err_has "second"
check "recorded for that sink, the first sink's verify stays good" \
	jq -e '.jobs[0].sinks[0].lastVerify.ok == true and .jobs[0].sinks[1].lastVerify.ok == false' \
	<(cairn status --json)
rm "$T/sb"
mv "$T/sb.real" "$T/sb"
check_exit "back up, check names the failed verify of that sink" 2 cairn check
out_has "m in second: the last verify"
check_exit "no set with that id in a sink that answers: exit 7" 7 \
	cairn verify m --id 20000101T000000Z
err_has "no complete backup set"
