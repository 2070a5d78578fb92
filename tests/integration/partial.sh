#!/bin/bash
# partial.sh - a job of two sources whose second fails: with
# on_source_failure = keep (the default) the first is kept as a partial set
# (exit 9), the manifest names the failed source and its error, list shows
# it, restore takes each source from the newest set that has it (also
# --at), and prune removes the partial set once a newer complete one
# exists; with discard the run loses everything (exit 1).
. "$(dirname "$0")/lib.sh"
need_plugin files local
command -v jq >/dev/null || {
	echo "1..0 # SKIP needs jq"
	exit 0
}
plan 30

cd "$T" || exit 99
mkdir -p data web
echo alpha >data/a.txt
echo upload-1 >web/u.txt
write_ini two
cat >>"$T/cairn.ini" <<'INI'

[source web]
plugin = files
path = web

[retention r]
keep_last = 5
INI
sed -i 's/^sources = docs$/sources = docs web\nretention = r/' "$T/cairn.ini"

check_exit "a complete backup of both" 0 cairn backup two
id1=$(newest_id store two)
sleep 1
echo beta >data/a.txt
mv web web.away
check_exit "the second source fails: a partial set, exit 9" 9 cairn backup two
err_has "source web (files): path $T/web does not exist"
err_has "backup two/"
err_has "is partial: written without source web"
id2=$(newest_id store two)
check "the partial set has its own id" [ "$id2" \> "$id1" ]
m=store/two/$id2/manifest.json
check "the manifest says partial" [ "$(jq -r .partial "$m")" = true ]
check "it lists the failed source with its error" \
	[ "$(jq -r '.failed_sources[0].name + " " + .failed_sources[0].plugin' "$m")" = "web files" ]
check "the error is the source's own" \
	[ "$(jq -r '.failed_sources[0].error | contains("does not exist")' "$m")" = true ]
check "and it holds the source that worked" [ "$(jq -r '.sources | map(.name) | join(" ")' "$m")" = docs ]
check "only that source's object is stored" [ "$(ls store/two/$id2 | tr '\n' ' ')" = "docs.tar.zst manifest.json " ]
check "the format is not bumped" [ "$(jq -r .format "$m")" = 1 ]

cairn list two >"$T/out"
out_has "docs (partial: web failed)"
cairn list two --json >"$T/out"
check "list --json marks it" [ "$(jq -r --arg id "$id2" '.sets[] | select(.id == $id) | .partial' "$T/out")" = true ]

# restore: each source from the newest set that has it
mv web.away web.orig
check_exit "restore of the job takes web from the older set" 0 \
	cairn restore two --set docs.path="$T/r/docs" --set web.path="$T/r/web"
check "docs came from the partial set" grep -qx beta "$T/r/docs/a.txt"
check "web came from the complete one" grep -qx upload-1 "$T/r/web/u.txt"
check_exit "--id of the partial set with --source web is refused" 7 \
	cairn restore two --id "$id2" --source web --set path="$T/r2"
err_has "set two/$id2 holds no source named web (it failed in that run:"
err_has "the newest set that has it is $id1: cairn restore two --id $id1 --source web"
check_exit "--id of the partial set restores what it holds" 0 \
	cairn restore two --id "$id2" --set path="$T/r3"
err_has "set two/$id2 is partial and holds no source web"
at1=$(echo "$id1" | sed -E 's/^(....)(..)(..)T(..)(..)(..)Z$/\1-\2-\3T\4:\5:\6Z/')
check_exit "--at before the partial set takes both from the first" 0 \
	cairn restore two --at "$at1" --set docs.path="$T/r4/docs" --set web.path="$T/r4/web"
check "--at picked the older docs" grep -qx alpha "$T/r4/docs/a.txt"
check_exit "verify checks what the partial set holds" 0 cairn verify two --id "$id2" --deep

# prune: kept while no newer complete set exists, then removed
cairn prune two --dry-run >"$T/out"
check "the dry run keeps it and says why" \
	grep -q "^  $id2  .*  partial     keep    partial, kept until a newer complete set exists$" "$T/out"
mv web.orig web
sleep 1
check_exit "a complete backup again" 0 cairn backup two
check "and its prune removed the partial set" [ ! -e "store/two/$id2" ] && [ -d "store/two/$id1" ]

# on_source_failure = discard: today's behaviour, the whole set is lost
sed -i 's/^retention = r$/retention = r\non_source_failure = discard/' "$T/cairn.ini"
mv web web.away
n=$(ls store/two | grep -c Z$)
sleep 1
check_exit "discard: one failing source fails the run, exit 1" 1 cairn backup two
check "and nothing of it was kept" [ "$(ls store/two | grep -c Z$)" = "$n" ]
