#!/bin/bash
# manifest_limits.sh - bounded work for planted manifests (issue 16, 3): a
# manifest beyond 16 MiB, 1,024 sources or 1,024 failed sources is damage
# named with its limit, found at once by list, status, check and prune,
# which still show the good sets; duplicates are still found; a job with
# more sources than a set may hold is a configuration error; and SIGTERM
# ends a command that is reading many big (allowed) manifests with 143.
# Everything that could hang runs under timeout; no timing is asserted.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 31

mkdir -p "$T/data" "$T/store"
printf 'alpha\n' >"$T/data/a.txt"
write_ini j
printf 'retention = r\n\n[retention r]\nkeep_last = 10\n' >>"$T/cairn.ini"
cd "$T" || exit 99
# tcairn ARGS...: cairn with a 30 s limit, so a hang fails the test
tcairn() { timeout -k 5 30 "$CAIRN" -c "$T/cairn.ini" "$@"; }
# gen FILE JOB ID NSOURCES NFAILED [PAD [DUP]]: a manifest of NSOURCES
# sources (objects JOB/ID/sN.tar.zst) and NFAILED failed ones, PAD bytes
# of padding in the first source's stats; DUP: "name" repeats the first
# source's name last, "object" its object, "failed" lists it as failed.
gen() {
	python3 - "$@" <<'EOF'
import sys
f, job, sid, n, nf = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
pad = int(sys.argv[6]) if len(sys.argv) > 6 else 0
dup = sys.argv[7] if len(sys.argv) > 7 else ""
with open(f, "w") as o:
    o.write('{"format": 1, "cairn_version": "0", "job": "%s", "id": "%s", "host": "h", '
            '"sink": "here", "started": "2020-01-01T00:00:00Z", '
            '"finished": "2020-01-01T00:00:01Z", "sources": [' % (job, sid))
    for i in range(n):
        name, obj = "s%d" % i, "s%d" % i
        if i == n - 1 and dup == "name":
            name = "s0"
        if i == n - 1 and dup == "object":
            obj = "s0"
        stats = '{"pad": "%s"}' % ("x" * pad) if i == 0 and pad else "{}"
        o.write('%s{"name": "%s", "plugin": "files", "object": "%s/%s/%s.tar.zst", '
                '"compression": "zstd", "raw_bytes": 1, "stored_bytes": 1, '
                '"sha256": "%s", "stats": %s}'
                % ("," if i else "", name, job, sid, obj, "0" * 64, stats))
    o.write('], "partial": %s, "failed_sources": [' % ("true" if nf or dup == "failed" else "false"))
    fails = ["f%d" % i for i in range(nf)] + (["s0"] if dup == "failed" else [])
    o.write(",".join('{"name": "%s", "plugin": "files", "error": "x"}' % x for x in fails))
    o.write("]}\n")
EOF
}
# later ID SECONDS: the id SECONDS after ID
later() {
	python3 -c 'import datetime, sys
t = datetime.datetime.strptime(sys.argv[1], "%Y%m%dT%H%M%SZ")
print((t + datetime.timedelta(seconds=int(sys.argv[2]))).strftime("%Y%m%dT%H%M%SZ"))' "$@"
}

check_exit "first backup" 0 cairn backup j
a=$(newest_id "$T/store" j)
sleep 1
check_exit "second backup" 0 cairn backup j
b=$(newest_id "$T/store" j)

# --- a 50 MB manifest of 200,000 sources, the newest set (in the past) ------
p=$(later "$b" 1)
mkdir "$T/store/j/$p"
gen "$T/store/j/$p/manifest.json" j "$p" 200000 0
sleep 2
limit="j/$p/manifest.json is larger than the limit of 16777216 bytes"
check_exit "list finishes" 0 tcairn list
err_has "$limit"
check "list still shows both good sets" grep -q "$a.*$b\|$b.*$a" <(tr '\n' ' ' <"$T/out")
check_exit "status finishes" 0 tcairn status
out_has "$limit"
out_has "$b"
# the planted set is damage among the newest: a warning (future_ids.sh),
# reached quickly, naming the limit
check_exit "check finishes, warning of the planted set" 1 tcairn check
out_has "$limit"
check_exit "prune --dry-run finishes" 0 tcairn prune j --dry-run
err_has "$limit"
check "prune keeps the planted set as damaged" grep -q "$p .*damaged *keep" "$T/out"
check "and keeps the good sets" grep -q "$b .*keep" "$T/out"

# --- the number of sources and of failed sources --------------------------
gen "$T/store/j/$p/manifest.json" j "$p" 2000 0
check_exit "2,000 sources: list finishes" 0 tcairn list
err_has "j/$p/manifest.json: it lists 2000 sources, more than the limit of 1024"
gen "$T/store/j/$p/manifest.json" j "$p" 1 2000
check_exit "2,000 failed sources: list finishes" 0 tcairn list
err_has "it lists 2000 failed sources, more than the limit of 1024"
gen "$T/store/j/$p/manifest.json" j "$p" 1024 1024
check_exit "1,024 of each is allowed (verify finds the objects missing)" 6 tcairn verify j --id "$p"
check "not for a limit" bash -c "! grep -q 'limit' '$T/err' '$T/out'"

# --- still found: duplicates, among as many sources as allowed ---------------
gen "$T/store/j/$p/manifest.json" j "$p" 1024 0 0 name
check_exit "a source listed twice is damage" 6 tcairn verify j --id "$p"
out_has "source s0 is listed twice"
gen "$T/store/j/$p/manifest.json" j "$p" 1024 0 0 object
check_exit "an object listed twice is damage" 6 tcairn verify j --id "$p"
out_has "object j/$p/s0.tar.zst is listed twice"
gen "$T/store/j/$p/manifest.json" j "$p" 1024 0 0 failed
check_exit "a source both stored and failed is damage" 6 tcairn verify j --id "$p"
out_has "source s0 is listed both as stored and as failed"
rm -r "$T/store/j/$p"

# --- a job with more sources than a set may hold ----------------------------
python3 - "$T/big.ini" <<'EOF'
import sys
with open(sys.argv[1], "w") as o:
    o.write("[cairn]\nstate_dir = state\n\n[sink here]\nplugin = local\npath = store\n\n")
    for i in range(1025):
        o.write("[source d%d]\nplugin = files\npath = data\n\n" % i)
    o.write("[job big]\nsinks = here\nsources = d0\n")
    for i in range(1, 1025):
        o.write("  d%d\n" % i)
EOF
check_exit "config check refuses a job of 1,025 sources" 3 timeout -k 5 30 "$CAIRN" -c "$T/big.ini" config check
err_has "1025 sources, more than the 1024 a backup set may hold"

# --- SIGTERM while reading many big, allowed manifests ---------------------
# One 15 MB manifest (within the limit) hard-linked into 150 planted sets
# older than the good ones: list and prune read and parse every one (the
# others then refused as lying about their place) for far longer than
# the signal takes to come.
gen "$T/big.json" j 20200101T000000Z 1 0 $((15 << 20))
python3 - "$T" <<'EOF'
import datetime, os, sys
t0 = datetime.datetime(2020, 1, 1)
for i in range(150):
    d = "%s/store/j/%s" % (sys.argv[1], (t0 + datetime.timedelta(seconds=i)).strftime("%Y%m%dT%H%M%SZ"))
    os.mkdir(d)
    os.link(sys.argv[1] + "/big.json", d + "/manifest.json")
EOF
# term ARGS...: run cairn ARGS, SIGTERM it after a second; its exit code
# in $T/rc (137 when timeout had to kill it 10 s after the signal, which
# timeout passes on)
term() {
	timeout -k 10 120 "$CAIRN" -c "$T/cairn.ini" "$@" >"$T/out" 2>"$T/err" &
	local pid=$!
	sleep 1
	kill -TERM "$pid"
	wait "$pid"
	echo $? >"$T/rc"
}
term list
check "SIGTERM ends list with 143" test "$(cat "$T/rc")" = 143 || diag "$T/rc"
term prune j --dry-run
check "SIGTERM ends prune --dry-run with 143" test "$(cat "$T/rc")" = 143 || diag "$T/rc"
check_exit "the good sets are untouched" 0 tcairn verify j --id "$b"
