#!/bin/bash
# prune.sh - retention end to end: backups "taken" on chosen dates over two
# years (libfaketime freezes the clock of each run), then prune checked
# against tables written by hand from a calendar: the seed's policy, DST
# changes in Europe/Berlin, ISO week 2020-W53, keep_within, `all`, the
# newest-complete-set and failed-backup guards, incomplete sets and their
# grace, and a prune killed half way that leaves only complete or
# incomplete sets.
. "$top_srcdir/tests/integration/lib.sh"
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
if [ ! -f /usr/share/zoneinfo/Europe/Berlin ]; then
	echo "1..0 # SKIP needs the Europe/Berlin zone (Debian: tzdata)"
	exit 0
fi
command -v jq >/dev/null || {
	echo "1..0 # SKIP needs jq"
	exit 0
}
plan 32

cd "$T" || exit 99
mkdir data && echo one >data/a
export TZ=Europe/Berlin

# ini RETENTION-LINES [JOB-LINES] [SOURCES]: the fixture, with the
# retention given
ini() {
	{
		printf '[cairn]\nstate_dir = state\n\n'
		printf '[source docs]\nplugin = files\npath = data\n\n'
		printf '[source extra]\nplugin = files\npath = extra\n\n'
		printf '[sink here]\nplugin = local\npath = store\nfsync = no\n\n'
		printf '[retention r]\n%b\n\n' "$1"
		printf '[job j]\nsources = %s\nsinks = here\nretention = r\n' "${3:-docs}"
		printf 'compression_threads = 0\n%b\n' "${2:-prune = no}"
	} >"$T/cairn.ini"
}

# at UTC-TIME CMD...: run CMD with the clock frozen at that UTC time (the
# time is read in UTC; cairn's ids are UTC whatever TZ says)
at() {
	local when=$1
	shift
	TZ=UTC LD_PRELOAD=$FAKETIME_LIB FAKETIME="$when" "$@"
}

# The ids each policy keeps, from the dry run's JSON, one line
kept() {
	cairn prune j --dry-run --json |
		jq -r '.sinks[0].sets[] | select(.action == "keep") | .id' | sort | tr '\n' ' '
}
removed() {
	cairn prune j --dry-run --json |
		jq -r '.sinks[0].sets[] | select(.action == "remove") | .id' | sort | tr '\n' ' '
}
sets_in_store() { ls store/j | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | tr '\n' ' '; }

# ------------------------------------------------------------ the dates
ini 'keep_daily = 7\nkeep_weekly = 4\nkeep_monthly = 12\nkeep_yearly = all'
dates=""
for m in 01 02 03 04 05 06 07 08 09 10 11 12; do dates="$dates 2020-$m-15T10:30:00"; done
# 2020-W53 is Monday 2020-12-28 .. Sunday 2021-01-03
dates="$dates 2020-12-28T10:30:00 2021-01-01T10:30:00 2021-01-03T10:30:00 2021-01-04T10:30:00"
# Berlin springs forward on 2021-03-28: 23:30Z is already that day
dates="$dates 2021-03-27T22:30:00 2021-03-27T23:30:00"
# Berlin falls back on 2021-10-31: both are 02:30 local, CEST then CET
dates="$dates 2021-10-31T00:30:00 2021-10-31T01:30:00"
for d in 20 21 22 23 24 25 26 27 28 29 30 31; do dates="$dates 2021-12-${d}T10:30:00"; done
fails=0
for d in $dates; do
	at "${d/T/ }" "$CAIRN" -c "$T/cairn.ini" -q backup j || fails=$((fails + 1))
done
check "32 backups taken on their dates" [ "$fails" = 0 ] && [ "$(ls store/j | grep -c Z$)" = 32 ]
check "each set's id is its faked time" [ -d store/j/20211031T003000Z ] && [ -d store/j/20201228T103000Z ]

# The seed's policy, by hand: daily 12-25..12-31; weekly 2021-W52 (12-31),
# W51 (12-26), W43 (10-31 01:30Z), W12 (03-27 23:30Z = Sunday 03-28 in
# Berlin); monthly Dec, Oct, Mar, Jan 2021 and Dec (12-28) .. May 2020;
# yearly 2021 and 2020 (12-28).
seed="20200515T103000Z 20200615T103000Z 20200715T103000Z 20200815T103000Z 20200915T103000Z \
20201015T103000Z 20201115T103000Z 20201228T103000Z 20210104T103000Z 20210327T233000Z \
20211031T013000Z 20211225T103000Z 20211226T103000Z 20211227T103000Z 20211228T103000Z \
20211229T103000Z 20211230T103000Z 20211231T103000Z "
got=$(kept)
check "seed policy keeps the hand-made table" [ "$got" = "$seed" ] || echo "# got: $got"
cairn prune j --dry-run >"$T/out" 2>"$T/err"
out_has "20211231T103000Z  2021-12-31 11:30:00  complete    keep    daily 1/7, weekly 1/4, monthly 1/12, yearly 1/all"
out_has "20201228T103000Z  2020-12-28 11:30:00  complete    keep    monthly 5/12, yearly 2/all"
out_has "20200415T103000Z  2020-04-15 12:30:00  complete    remove  no rule keeps it"
out_has "would remove 14 (dry run)"
check "a dry run removes nothing" [ "$(ls store/j | grep -c Z$)" = 32 ]

# keep_daily = all counts Berlin days: 03-27 22:30Z (Saturday 23:30 CET)
# and 23:30Z (Sunday 00:30 CET) are two days; the two 02:30s of 10-31 one
ini 'keep_daily = all'
check "daily = all in Berlin: only the first 02:30 of 2021-10-31 goes" \
	[ "$(removed)" = "20211031T003000Z " ]
ini 'keep_daily = all\ntimezone = UTC'
check "daily = all in UTC: 03-27 22:30Z and 10-31 00:30Z go" \
	[ "$(removed)" = "20210327T223000Z 20211031T003000Z " ]
# keep_hourly = all: 02:30 CEST and 02:30 CET are one local hour
ini 'keep_hourly = all'
check "hourly = all in Berlin: the repeated hour counts once" [ "$(removed)" = "20211031T003000Z " ]
ini 'keep_hourly = all\ntimezone = UTC'
check "hourly = all in UTC keeps both" [ -z "$(removed)" ]
ini 'keep_weekly = all'
got=$(removed)
check "2020-W53 keeps only its Sunday, 2021-01-03" \
	[ "${got#*20201228T103000Z 20210101T103000Z }" != "$got" ] && [ "${got#*20210103}" = "$got" ]
ini 'keep_within = 10d'
# 12-21 10:30 is exactly 10 days before the newest: outside, as in restic
check "keep_within = 10d keeps 12-22 .. 12-31 (from the newest set, not now)" \
	[ "$(kept)" = "$(printf '202112%02dT103000Z ' 22 23 24 25 26 27 28 29 30 31)" ]
ini 'keep_yearly = 1'
check "yearly 1 keeps the newest set alone" [ "$(kept)" = "20211231T103000Z " ]

# The real prune leaves exactly the table
ini 'keep_daily = 7\nkeep_weekly = 4\nkeep_monthly = 12\nkeep_yearly = all'
check_exit "prune exits 0" 0 cairn prune j
check "the store holds the seed table" [ "$(sets_in_store)" = "$seed" ]
cairn list j >"$T/out"
check "list shows the 18 sets" [ "$(grep -c '^j ' "$T/out")" = 18 ]

# ----------------------------------------------------------- the guards
# A failed backup never prunes: the source is gone, the set is discarded
ini 'keep_last = 1' 'prune = yes\non_source_failure = discard'
mv data data.away
at "2022-01-02 10:30:00" "$CAIRN" -c "$T/cairn.ini" -q backup j 2>/dev/null
rc=$?
mv data.away data
check "a failed backup exits 1 and prunes nothing" [ $rc = 1 ] && [ "$(sets_in_store)" = "$seed" ]
# A partial set is no reason to prune either, and is not counted
ini 'keep_last = 1' 'prune = yes' 'docs extra'
at "2022-01-03 10:30:00" "$CAIRN" -c "$T/cairn.ini" -q backup j 2>/dev/null
rc=$?
check "a partial backup exits 9 and prunes nothing" [ $rc = 9 ] && [ "$(ls store/j | grep -c Z$)" = 19 ]
cairn prune j --dry-run >"$T/out" 2>"$T/err"
out_has "20220103T103000Z  2022-01-03 11:30:00  partial     keep    partial, kept until a newer complete set exists"
out_has "20211231T103000Z  2021-12-31 11:30:00  complete    keep    last 1/1"
# A complete backup prunes: the partial set has a newer complete one now
mkdir extra && echo two >extra/b
check_exit "a complete backup exits 0" 0 at "2022-01-04 10:30:00" "$CAIRN" -c "$T/cairn.ini" backup j
check "and prunes to keep_last = 1" [ "$(sets_in_store)" = "20220104T103000Z " ]

# ------------------------------------------------------ incomplete sets
mkdir -p store/j/20220101T000000Z store/j/20220102T000000Z
echo x >store/j/20220101T000000Z/docs.tar.zst
echo x >store/j/20220102T000000Z/docs.tar.zst
touch -d '3 days ago' store/j/20220101T000000Z/docs.tar.zst
touch -d '2 hours ago' store/j/20220102T000000Z/docs.tar.zst
ini 'keep_last = 1' 'prune = yes' 'docs extra'
cairn prune j >"$T/out" 2>"$T/err"
check "an incomplete set older than incomplete_grace goes, a fresh one stays" \
	[ "$(sets_in_store)" = "20220102T000000Z 20220104T103000Z " ]
out_has "incomplete, changed within 1d: a run may still be writing it"

# -------------------------------------------- a prune killed half way
# NSETS sets copied from the one there (each manifest rewritten for its
# place), then a prune to keep_last = 1 gets SIGKILL while it removes.
rm -rf store/j/20220102T000000Z
NSETS=1500
/usr/bin/python3 - "$T/store/j" $NSETS <<'EOF'
import os, sys
root, N = sys.argv[1], int(sys.argv[2])
src = os.path.join(root, "20220104T103000Z")
manifest = open(os.path.join(src, "manifest.json")).read()
objs = {n: open(os.path.join(src, n), "rb").read() for n in os.listdir(src) if n != "manifest.json"}
for i in range(N):
    day, sec = divmod(i, 86400)
    sid = "2019%02d%02dT%02d%02d%02dZ" % (1 + day // 28, 1 + day % 28, sec // 3600, sec // 60 % 60, sec % 60)
    d = os.path.join(root, sid)
    os.mkdir(d, 0o700)
    for n, data in objs.items():
        with open(os.path.join(d, n), "wb") as f:
            f.write(data)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        f.write(manifest.replace("20220104T103000Z", sid))
EOF
check "$((NSETS + 1)) sets to prune" [ "$(ls store/j | grep -c Z$)" = $((NSETS + 1)) ]
"$CAIRN" -c "$T/cairn.ini" -q prune j >/dev/null 2>&1 &
pid=$!
# kill it once it has removed some, well before the end
for _ in $(seq 1 2000); do
	n=$(ls store/j | grep -c Z$)
	[ "$n" -lt $((NSETS - 100)) ] && break
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
left=$(ls store/j | grep -c Z$)
check "the prune was killed half way ($left sets left)" [ "$left" -gt 1 ] && [ "$left" -le "$NSETS" ]
/usr/bin/python3 - "$T/store/j" >"$T/halfway" <<'EOF'
import json, os, sys
root = sys.argv[1]
for sid in sorted(os.listdir(root)):
    d = os.path.join(root, sid)
    if not os.path.isdir(d):
        continue
    names = set(os.listdir(d))
    if "manifest.json" not in names:
        continue  # incomplete: fine
    m = json.load(open(os.path.join(d, "manifest.json")))
    for s in m["sources"]:
        if os.path.basename(s["object"]) not in names:
            print("complete set %s lacks %s" % (sid, s["object"]))
EOF
check "every set left is complete or incomplete, none a manifest without its objects" \
	[ ! -s "$T/halfway" ] || head -n 5 "$T/halfway" | diag
check_exit "list reads every manifest left" 0 cairn list j
check_exit "the next backup clears the leftovers and prunes the rest" 0 \
	at "2022-01-05 10:30:00" "$CAIRN" -c "$T/cairn.ini" -q backup j
check "only the newest set is left" [ "$(sets_in_store)" = "20220105T103000Z " ]
