#!/bin/bash
# s3_faults.sh - the s3 sink through a fault-injecting proxy
# (tests/fixtures/faultproxy.js) in front of s3rver: 500, 503 SlowDown and
# 429 answers, a stalled request, and connections cut in the middle of an
# upload's and of a download's body, on every kind of request (initiate,
# parts, complete, single PUT, listing, GET).  Within the retry budget the
# backup and the restore succeed with identical content and every fault was
# met; past it the backup fails, the multipart upload is aborted and no new
# set is listed.
#
# Tolerated, as s3rver gets it wrong: it answers AbortMultipartUpload with
# 405 (AWS: 204), so the test asserts the DELETE was sent, not its answer,
# and cannot list leftover parts (s3rver lacks ListMultipartUploads).
# s3rver does not check Content-MD5 either, so no test corrupts a part.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/s3_lib.sh"
need_s3
: "${CAIRN_TEST_PLUGINS:?run through make check}"
plan 26

s3_start bkt || exit 99
fp_start "$T/faults" || exit 99
MiB=1048576

mkdir -p "$T/plugins" "$T/data"
cp "$CAIRN_TEST_PLUGINS/abi10src.so" "$T/plugins/"
# 12 MiB: parts of 5, 5 and 2 MiB
head -c $((12 * MiB)) /dev/urandom >"$T/blob.in"
head -c 200000 /dev/urandom >"$T/data/r.bin"
printf 'text\n' >"$T/data/t.txt"
{
	printf '[cairn]\nstate_dir = state\nplugin_dir = plugins\n'
	printf '\n[source blob]\nplugin = abi10src\ninput = blob.in\noutput = blob.out\n'
	printf '\n[source docs]\nplugin = files\npath = data\n'
	# A stall is a request without a byte moving for `timeout`.
	s3_sink_ini cloud bkt "$FP_ENDPOINT" prefix=f part_size=5MiB upload_concurrency=2 \
		max_retries=3 timeout=2s
	printf '\n[job up]\nsources = blob docs\nsinks = cloud\ncompression = none\n'
} >"$T/cairn.ini"
chmod 600 "$T/cairn.ini"

# faults RULE...: the proxy's rules (its counts start again)
faults() { printf '%s\n' "$@" >"$T/faults"; }
# hits: how many requests the proxy did not simply pass on
hits() { grep -cv ' pass [0-9]*\( range=.*\)\{0,1\}$' "$FP_LOG"; }
fresh_log() { : >"$FP_LOG"; }

# --- uploads: every fault once, within the budget ------------------------
fresh_log
faults 'POST /blob\.raw\?uploads= 1 503' \
	'PUT partNumber=1& 1 500' \
	'PUT partNumber=2& 1 429' \
	'PUT partNumber=2& 2 stall 30' \
	'PUT partNumber=3& 1 cutreq 100000' \
	'POST /blob\.raw\?uploadId= 1 503' \
	'PUT /docs\.tar 1 cutreq 50000' \
	'PUT /manifest\.json 1 500'
check_exit "a backup through 8 faults on uploads" 0 cairn_in 120 backup up
check "met every one of them" test "$(hits)" = 8 || diag "$FP_LOG"
cairn list up --json >"$T/list.json"
id=$(jq -r '.sets[0].id' "$T/list.json")
check "part 2 took three attempts, the others alone" \
	test "$(grep -c "PUT /bkt/f/up/$id/blob.raw?partNumber=2&" "$FP_LOG")" = 3 -a \
	"$(grep -c "PUT /bkt/f/up/$id/blob.raw?partNumber=1&" "$FP_LOG")" = 2 || diag "$FP_LOG"
check "only one upload was started" \
	test "$(grep -c "POST /bkt/f/up/$id/blob.raw?uploads= pass" "$FP_LOG")" = 1 || diag "$FP_LOG"
check "the manifest has the data's SHA-256" test \
	"$(jq -r '.sets[0].manifest.sources[] | select(.name == "blob") | .sha256' "$T/list.json")" = \
	"$(sha256sum <"$T/blob.in" | cut -d' ' -f1)"
s3aws s3 cp --quiet "s3://bkt/f/up/$id/blob.raw" "$T/blob.aws" 2>"$T/err" || diag "$T/err"
check "aws downloads the same bytes" cmp "$T/blob.in" "$T/blob.aws"

# --- downloads ---------------------------------------------------------------
# abi10src's restore is pre-checked: the core reads the object twice.
fresh_log
faults 'GET list-type=2 1 503' \
	'GET /manifest\.json 1 cutresp 10' \
	'GET /blob\.raw 1 cutresp 3000000' \
	'GET /blob\.raw 2 503' \
	'GET /blob\.raw 3 stallresp 1000000 30' \
	'GET /blob\.raw 4 429' \
	'GET /blob\.raw 5 drop' \
	'GET /docs\.tar 1 500' \
	'GET /docs\.tar 2 cutresp 100000'
check_exit "a restore through 9 faults on downloads" 0 cairn_in 120 restore up --set path="$T/r"
check "met every one of them" test "$(hits)" = 9 || diag "$FP_LOG"
check "the blob is the same" cmp "$T/blob.in" "$T/blob.out"
check "the tree is the same" diff -r "$T/data" "$T/r"
check "a cut download went on from where it was (Range)" \
	grep -qE "GET /bkt/f/up/$id/blob.raw .*range=bytes=[1-9][0-9]*-$" "$FP_LOG" || diag "$FP_LOG"
fresh_log
faults 'GET /blob\.raw 1 cutresp 4000000' 'GET list-type=2 1 500'
check_exit "verify through faults" 0 cairn_in 60 verify up
check "met both" test "$(hits)" = 2 || diag "$FP_LOG"

# --- past the budget ---------------------------------------------------------
sleep 1 # ids are seconds
fresh_log
faults 'PUT partNumber=2& * 500'
check_exit "part 2 failing every time fails the backup" 1 cairn_in 120 backup up
err_has "InternalError"
err_has "blob.raw"
check "it was tried 1 + max_retries times" \
	test "$(grep -c 'PUT /bkt/f/up/[^/]*/blob.raw?partNumber=2&' "$FP_LOG")" = 4 || diag "$FP_LOG"
check "the upload was aborted" \
	grep -qE 'DELETE /bkt/f/up/[^/]*/blob.raw\?uploadId=[^ ]+ pass' "$FP_LOG" || diag "$FP_LOG"
# s3rver refuses the abort (405): a refusal is no success
err_has "may stay in the bucket"
fresh_log
faults
check_exit "list" 0 cairn list up --json
check "lists no new set" test "$(jq -r '[.sets[].id] | join(" ")' "$T/out")" = "$id"
s3_keys bkt f/ | grep manifest.json >"$T/manifests"
check "and s3 holds no other manifest" test "$(cat "$T/manifests")" = "f/up/$id/manifest.json"

# --- a store that cuts every download after 1,000 bytes -----------------------
# Each attempt brings data, so the retries never run out: min_speed ends it.
sed -i 's/^timeout = 2s$/timeout = 2s\nmin_speed = 1MiB/' "$T/cairn.ini"
fresh_log
faults 'GET /blob\.raw * cutresp 1000'
start=$(date +%s)
check_exit "a download cut every 1,000 bytes fails" 1 cairn_in 120 verify up --id "$id"
out_has "download too slow"
out_has "below min_speed (1048576 bytes/s)"
check "within timeout + 12 MiB at min_speed, not for ever ($(($(date +%s) - start)) s)" \
	test $(($(date +%s) - start)) -lt 60
