#!/bin/bash
# s3_backup.sh - the s3 sink against a real S3 server (s3rver, SigV4
# checked) beside a local sink, checked by an independent client (Debian's
# AWS CLI): every object cairn wrote is listed and has the manifest's
# SHA-256; list, verify, restore and --at work on the s3 sink as on local;
# a set restores from s3 once the local copy is gone; a replaced object is
# damage; a wrong secret and a missing bucket fail clearly and write nothing.
#
# s3rver's listing XML has another namespace than AWS's: cairn's list,
# verify and restore below only work if the sink's parser does not insist
# on AWS's (the tests tolerate nothing here, the sink does).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3_lib.sh"
need_s3
plan 39

s3_start bkt-main bkt-empty || exit 99
mkdir -p "$T/data/sub" "$T/data/empty"
printf 'alpha\n' >"$T/data/a.txt"
printf 'beta\n' >"$T/data/sub/b.txt"
head -c 300000 /dev/urandom >"$T/data/sub/random.bin"

{
	printf '[cairn]\nstate_dir = state\n\n'
	printf '[source docs]\nplugin = files\npath = data\n\n'
	printf '[sink here]\nplugin = local\npath = store\nfsync = no\n'
	s3_sink_ini cloud bkt-main "" prefix=site/a
	s3_sink_ini bad bkt-empty "" secret_key=wrong-secret-VALUE
	s3_sink_ini nob no-such-bucket
	printf '\n[job daily]\nsources = docs\nsinks = here cloud\n'
	printf '\n[job denied]\nsources = docs\nsinks = bad\n'
	printf '\n[job nobucket]\nsources = docs\nsinks = nob\n'
} >"$T/cairn.ini"
# The secrets are inline: a file others can read would draw warnings.
chmod 600 "$T/cairn.ini"

# --- one backup into both sinks ------------------------------------------
check_exit "backup to a local and an s3 sink" 0 cairn backup daily
id1=$(newest_id "$T/store" daily)
m="$T/store/daily/$id1/manifest.json"
# What cairn should have written: each object of the manifest, and the
# manifest itself, below the prefix (which gained its '/').
{
	jq -r '.sources[].object | "site/a/" + .' "$m"
	echo "site/a/daily/$id1/manifest.json"
} | LC_ALL=C sort >"$T/want.keys"
s3_keys bkt-main site/ >"$T/got.keys"
check_same "aws lists exactly the set's objects and manifest" "$T/want.keys" "$T/got.keys" \
	"site/a/daily/$id1/docs.tar.zst" "site/a/daily/$id1/manifest.json"

s3aws s3 cp --recursive --quiet "s3://bkt-main/site/a/" "$T/dl/" >"$T/out" 2>"$T/err" ||
	diag "$T/err"
sm="$T/dl/daily/$id1/manifest.json"
check "the manifest in s3 names its set and sink" \
	test "$(jq -r '"\(.job) \(.id) \(.sink)"' "$sm" 2>/dev/null)" = "daily $id1 cloud"
jq -r '.sources[] | "\(.sha256)  \(.object)"' "$sm" >"$T/sums"
check "every object downloaded by aws has the manifest's SHA-256" \
	sh -c 'test -s "$1" && cd "$2" && sha256sum --quiet -c "$1"' sh "$T/sums" "$T/dl"
check "and the local sink's object is the same" \
	cmp "$T/dl/daily/$id1/docs.tar.zst" "$T/store/daily/$id1/docs.tar.zst"

# --- list, verify, restore, --at -----------------------------------------
check_exit "list --sink cloud" 0 cairn list daily --sink cloud
out_has "$id1"
check_exit "list --json shows the set in both sinks" 0 cairn list daily --json
check "in both" test "$(jq -r '[.sets[] | select(.id == "'"$id1"'") | .sink] | sort | join(" ")' \
	"$T/out")" = "cloud here"
check_exit "verify --deep --sink cloud" 0 cairn verify daily --sink cloud --deep
check_exit "restore --sink cloud" 0 cairn restore daily --sink cloud --set path="$T/r1"
check "gives the tree back" diff -r "$T/data" "$T/r1"

sleep 1 # ids are seconds
printf 'alpha v2\n' >"$T/data/a.txt"
check_exit "a second backup" 0 cairn backup daily
id2=$(newest_id "$T/store" daily)
at1=$(echo "$id1" | sed -E 's/^(....)(..)(..)T(..)(..)(..)Z$/\1-\2-\3T\4:\5:\6Z/')
check_exit "restore --at the first set's time from cloud" 0 \
	cairn restore daily --sink cloud --at "$at1" --set path="$T/r2"
check "--at picked the older set" grep -qx alpha "$T/r2/a.txt"
check_exit "restore --id from cloud" 0 cairn restore daily --sink cloud --id "$id2" --set path="$T/r3"
check "--id picked the newer set" grep -qx 'alpha v2' "$T/r3/a.txt"

# --- the local copy gone: s3 is all there is -----------------------------
rm -rf "$T/store/daily"
check_exit "list without the local copy" 0 cairn list daily --json
check "lists both sets, in cloud" test "$(jq -r '[.sets[] | "\(.sink)/\(.id)"] | sort | join(" ")' \
	"$T/out")" = "cloud/$id1 cloud/$id2"
check_exit "restore finds the newest set in cloud" 0 cairn restore daily --set path="$T/r4"
check "and gives the tree back" diff -r "$T/data" "$T/r4"
check_exit "verify --all --sink cloud" 0 cairn verify daily --all --sink cloud

# --- the store's content is untrusted ------------------------------------
printf 'not what was stored\n' >"$T/garbage"
s3aws s3 cp --quiet "$T/garbage" "s3://bkt-main/site/a/daily/$id1/docs.tar.zst" 2>"$T/err" ||
	diag "$T/err"
check_exit "verify finds the replaced object" 6 cairn verify daily --sink cloud --id "$id1"
out_has "daily/$id1/docs.tar.zst has 20 bytes, the manifest says"
check_exit "verify without --sink checks the s3 copy too, and finds it" 6 cairn verify daily --id "$id1"
out_has "daily/$id1 in cloud: DAMAGED"
err_has "in sink here"
check_exit "so does the restore test" 6 cairn verify daily --id "$id1" --restore-test
out_has "daily/$id1 in cloud: DAMAGED"
check_exit "restore refuses it" 6 cairn restore daily --sink cloud --id "$id1" --set path="$T/r5"
check "and leaves no target" test ! -e "$T/r5/a.txt"

# --- authentication and a missing bucket ---------------------------------
check_exit "a wrong secret fails the backup" 1 cairn backup denied
check "with the server's reason" grep -qE 'SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied' "$T/err" ||
	diag "$T/err"
err_has "bkt-empty"
check "the secret is not shown" sh -c '! grep -qF wrong-secret-VALUE "$1"' sh "$T/err"
check_exit "a missing bucket fails the backup" 1 cairn backup nobucket
err_has "no-such-bucket"
err_has "NoSuchBucket"
# Nothing written: the bucket the wrong secret aimed at is still empty.
s3_keys bkt-empty >"$T/empty.keys"
check "the wrong secret wrote nothing" test $? = 0 -a ! -s "$T/empty.keys"
