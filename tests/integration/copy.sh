#!/bin/bash
# copy.sh - cairn copy (issue 15): a sink that missed sets while it was
# down is filled from another sink of the job; every object is checked on
# the way (size, SHA-256), the manifest goes last, damage in the source
# copies nothing of that set, a second run copies nothing, and the copied
# set is listed, verified, restored and pruned like one written there.
. "$(dirname "$0")/lib.sh"
need_plugin files local
command -v jq >/dev/null || {
	echo "1..0 # SKIP needs jq"
	exit 0
}
plan 53

mkdir -p "$T/data" "$T/extra" "$T/store" "$T/offsite"
printf 'alpha\n' >"$T/data/a.txt"
printf 'extra\n' >"$T/extra/e.txt"
write_ini j here=store off=offsite
cat >>"$T/cairn.ini" <<'INI'
prune = no

[source extra]
plugin = files
path = extra

[job p]
sources = docs extra
sinks = here off
prune = no

[retention one]
keep_last = 1

[job k]
sources = docs
sinks = here off
retention = one
prune = no
INI

# down / up: the offsite sink's path becomes a file, and back
down() { mv "$T/offsite" "$T/offsite.d" && echo x >"$T/offsite"; }
up() { rm -f "$T/offsite" && mv "$T/offsite.d" "$T/offsite"; }
sets() { ls "$1/$2" 2>/dev/null | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | tr '\n' ' '; }

check_exit "a backup into both sinks" 0 cairn backup j
id1=$(newest_id "$T/store" j)
down
check_exit "a backup while the offsite sink is down fails there" 1 cairn backup j
id2=$(newest_id "$T/store" j)
printf 'alpha two\n' >"$T/data/a.txt"
check_exit "and a second one" 1 cairn backup j
id3=$(newest_id "$T/store" j)
up
check "the offsite sink missed two sets" test "$(sets "$T/offsite" j)" = "$id1 "

# --- usage -------------------------------------------------------------------
check_exit "copy needs --from and --to" 2 cairn copy j --to off
check_exit "the same sink twice is refused" 2 cairn copy j --from off --to off
check_exit "a sink the job lacks is refused" 2 cairn copy j --from here --to nowhere
err_has 'job j has no sink named "nowhere"'
check_exit "--id and --missing together are refused" 2 cairn copy j --from here --to off --id "$id2" --missing

# --- copy --missing ----------------------------------------------------------
check_exit "copy --missing fills the offsite sink" 0 cairn copy j --from here --to off --missing
out_has "copied j/$id2 from here to off"
out_has "copied j/$id3 from here to off"
check "both sets are complete there now" test "$(sets "$T/offsite" j)" = "$id1 $id2 $id3 " -a \
	-f "$T/offsite/j/$id2/manifest.json" -a -f "$T/offsite/j/$id3/docs.tar.zst"
check "the objects are the same bytes" cmp "$T/store/j/$id3/docs.tar.zst" "$T/offsite/j/$id3/docs.tar.zst"
check "the copy's manifest names the sink it lies in and where it came from" \
	test "$(jq -r '.sink + " " + .copied_from.sink' "$T/offsite/j/$id3/manifest.json")" = "off here"
check "and is otherwise the source's" test \
	"$(jq -S 'del(.sink, .copied_from)' "$T/offsite/j/$id3/manifest.json")" = \
	"$(jq -S 'del(.sink)' "$T/store/j/$id3/manifest.json")"
check_exit "a second run copies nothing" 0 cairn copy j --from here --to off --missing
out_has "nothing to copy"
check "and changed nothing" test "$(sets "$T/offsite" j)" = "$id1 $id2 $id3 "
check_exit "the default (the newest set) is there already" 0 cairn copy j --from here --to off
out_has "j/$id3 is in off already"

# --- the copied sets are sets like any other ---------------------------------
check_exit "list shows them in the offsite sink" 0 cairn list j --sink off --json
check "three sets, the copies with copied_from" test \
	"$(jq -r '[.sets[] | select(.manifest.copied_from.sink == "here")] | length' "$T/out")" = 2
check_exit "verify --all in the offsite sink" 0 cairn verify j --all --sink off
out_has "j/$id2 in off: ok"
rm -rf "${T:?}/store/j/$id3"
check_exit "restore from the offsite sink after the local copy is gone" 0 \
	cairn restore j --id "$id3" --sink off --set path="$T/r3"
check "the restored data is the newer data" grep -qx 'alpha two' "$T/r3/a.txt"
check_exit "--id copies one set back" 0 cairn copy j --from off --to here --id "$id3"
out_has "copied j/$id3 from off to here"
check "a copy of a copy says its last source" \
	test "$(jq -r '.sink + " " + .copied_from.sink' "$T/store/j/$id3/manifest.json")" = "here off"
check_exit "--id of a set the source lacks is exit 7" 7 cairn copy j --from here --to off --id 20010101T000000Z

# --- damage in the source ----------------------------------------------------
down
check_exit "a backup the offsite sink misses" 1 cairn backup j
id4=$(newest_id "$T/store" j)
printf 'alpha three\n' >"$T/data/a.txt"
check_exit "and another" 1 cairn backup j
id5=$(newest_id "$T/store" j)
up
# flip the first byte of the stored object, keeping its size
obj="$T/store/j/$id4/docs.tar.zst"
printf '\x00' | dd of="$obj" bs=1 seek=0 count=1 conv=notrunc 2>/dev/null
check_exit "a damaged object in the source: exit 6" 6 cairn copy j --from here --to off --missing
err_has "j/$id4/docs.tar.zst has SHA-256"
check "nothing of the damaged set is in the target" test ! -e "$T/offsite/j/$id4/manifest.json" -a \
	! -e "$T/offsite/j/$id4/docs.tar.zst"
check "the other set was still copied" test -f "$T/offsite/j/$id5/manifest.json"
check_exit "the copied set verifies" 0 cairn verify j --id "$id5" --sink off

# --- a partial set copies as partial; a pin travels with its set -------------
down
check_exit "a backup of one source of two, the offsite sink down" 1 cairn backup p --source docs
pid1=$(newest_id "$T/store" p)
up
check_exit "pin it" 0 cairn pin p "$pid1" --note "before the deploy"
check "pinned in the sink that holds it" test -f "$T/store/p/$pid1/pin"
check_exit "copy the partial set" 0 cairn copy p --from here --to off
out_has ", partial, pinned"
check "partial in the target too" test "$(jq -r .partial "$T/offsite/p/$pid1/manifest.json")" = true
check "and pinned there with its note" test \
	"$(jq -r .note "$T/offsite/p/$pid1/pin")" = "before the deploy"

# --- a leftover of a run that died in the target is replaced ----------------
down
check_exit "j: a backup the offsite sink misses" 1 cairn backup j
id6=$(newest_id "$T/store" j)
up
# what a crash half way leaves: an object of the set, no manifest
mkdir -p "$T/offsite/j/$id6"
echo partial-write >"$T/offsite/j/$id6/docs.tar.zst"
check_exit "copy replaces the leftover (the target's lock is held)" 0 cairn copy j --from here --to off --id "$id6"
check "the object is the source's now" cmp "$T/store/j/$id6/docs.tar.zst" "$T/offsite/j/$id6/docs.tar.zst"

# --- --missing skips what the target's retention would remove at once --------
down
check_exit "k: a first backup the offsite sink misses" 1 cairn backup k
k1=$(newest_id "$T/store" k)
check_exit "k: a second" 1 cairn backup k
k2=$(newest_id "$T/store" k)
up
check_exit "copy --missing with keep_last = 1 in the target" 0 cairn copy k --from here --to off --missing
out_has "skipped k/$k1: the retention of off would remove it at once"
check "only the newest was copied" test "$(sets "$T/offsite" k)" = "$k2 "
