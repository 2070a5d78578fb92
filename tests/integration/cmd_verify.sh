#!/bin/bash
# cmd_verify.sh - cairn verify finds damage: a flipped byte, a truncated
# object, a broken manifest, a tar that decompresses but is not a tar (--deep).
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 23

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
check_exit "verify --restore-test of a source without a restore test checks deeply" 0 \
	cairn verify j --restore-test
out_has "deep only, no restore test: docs"
err_has "cannot test a restore"
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
