#!/bin/bash
# set_ids.sh - issue 16, item 1, without any lock: a set is bound to its
# manifest and ids never collide.  A set whose object does not have the
# size its manifest stored (another run's object under the same id, or
# damage) is reported by list, not counted by prune, and refused by
# restore.  An id this state_dir gave before is never given again, even
# when its set was removed from the only sink the run reaches while
# another sink still holds it: cairn copy would otherwise find "the same"
# set there and copy nothing.  libfaketime freezes each run's clock in
# one second, so the ids are known.
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
plan 17

cd "$T" || exit 99
mkdir data
echo one >data/a
# at UTC-TIME CMD...: CMD with the clock frozen at that UTC time
at() {
	local when=$1
	shift
	TZ=UTC LD_PRELOAD=$FAKETIME_LIB FAKETIME="$when" "$@"
}
T0="2030-01-01 10:00:00"
tc() { at "$T0" timeout 60 "$CAIRN" -c "$T/cairn.ini" "$@"; }

# ------------------------------------------------------ ids, across sinks
write_ini j a=sa b=sb
check_exit "a backup into both sinks" 0 tc backup j
write_ini j a=sa
check_exit "a backup into a only, in the same second" 0 tc backup j
check_exit "and another" 0 tc backup j
id3=$(newest_id sa j)
check "three ids in a row" test "$(ls sa/j | tr '\n' ' ')" = \
	"20300101T100000Z 20300101T100001Z 20300101T100002Z "
write_ini j a=sa b=sb
check_exit "copy --missing fills b" 0 tc copy j --from a --to b --missing
rm -rf "sa/j/$id3"
write_ini j a=sa
echo two >data/a
check_exit "a backup into a, the clock still in that second" 0 tc backup j
id4=$(newest_id sa j)
check "it does not take the id b still holds" test "$id4" = 20300101T100003Z
write_ini j a=sa b=sb
check_exit "copy --missing" 0 tc copy j --from a --to b --missing
out_has "copied j/$id4 from a to b"
check_exit "restore --id from b" 0 tc restore j --sink b --id "$id4" --set path="$T/r"
check "b holds the new data" grep -qx two "$T/r/a"

# ------------------------------------------- a set bound to its objects
write_ini k a=sa
printf 'retention = r\nprune = no\n\n[retention r]\nkeep_last = 1\n' >>"$T/cairn.ini"
T0="2030-01-02 11:00:00"
for s in 10 20 30; do
	at "2030-01-02 10:00:$s" "$CAIRN" -c "$T/cairn.ini" backup k >>"$T/runs" 2>&1
done
new=20300102T100030Z
printf 'x' >>"sa/k/$new/docs.tar.zst" # another run's object: another size
check_exit "list reports the set" 0 tc list k
err_has "set k/$new: object k/$new/docs.tar.zst is"
check_exit "prune keeps it, not counted, and keeps the set before it" 0 tc prune k
check "both are there" test -d "sa/k/$new" -a -d sa/k/20300102T100020Z || { ls sa/k; cat "$T/runs" "$T/out" "$T/err"; } >&2
check "the oldest went: the set before the damaged one was counted" test ! -d sa/k/20300102T100010Z
check_exit "restore of the damaged set is refused as damage" 6 tc restore k --id "$new" --set path="$T/rk"
