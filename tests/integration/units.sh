#!/bin/bash
# units.sh - the shipped systemd units and the crontab example: the units
# as make builds them for this prefix are accepted by systemd-analyze
# verify (when systemd is installed), with ExecStart pointed at the built
# cairn, and they keep the settings the schedule rests on.
. "$(dirname "$0")/lib.sh"
plan 10

src=$top_srcdir/etc
check "the backup timer runs daily at 02:00, persistent, with jitter" \
	grep -qx 'OnCalendar=\*-\*-\* 02:00:00' "$src/cairn@.timer" &&
	grep -qx 'Persistent=yes' "$src/cairn@.timer" && grep -q '^RandomizedDelaySec=' "$src/cairn@.timer"
check "the verify timer is weekly and runs verify --all --deep" \
	grep -qx 'OnCalendar=Sun \*-\*-\* 04:00:00' "$src/cairn-verify@.timer" &&
	grep -q 'verify %i --all --deep$' "$src/cairn-verify@.service"
check "the restore test runs monthly" \
	grep -qx 'OnCalendar=Sat \*-\*-01..07 05:00:00' "$src/cairn-restore-test@.timer" &&
	grep -q 'verify %i --restore-test$' "$src/cairn-restore-test@.service"
check "the services are sandboxed" \
	grep -qx 'ProtectSystem=full' "$src/cairn@.service" && grep -qx 'NoNewPrivileges=yes' "$src/cairn@.service" &&
	grep -qx 'PrivateTmp=yes' "$src/cairn@.service"
check "the follower restarts always and is sandboxed like the backup" \
	grep -qx 'Restart=always' "$src/cairn-follow@.service" &&
	grep -q 'follow %i$' "$src/cairn-follow@.service" &&
	diff <(sed -n '/^PrivateTmp=/,/^CapabilityBoundingSet=/p' "$src/cairn@.service") \
		<(sed -n '/^PrivateTmp=/,/^CapabilityBoundingSet=/p' "$src/cairn-follow@.service") >/dev/null
check "the crontab example has the same three runs" \
	[ "$(grep -c '^ *[0-9].*root .*cairn -c /etc/cairn/cairn.ini' "$src/crontab.example")" = 3 ]
# make builds the units with this build's paths
check "make builds the units for this prefix" \
	$MAKE -s -C "$top_builddir" units/cairn@.service units/cairn@.timer units/cairn-verify@.service \
	units/cairn-verify@.timer units/cairn-restore-test@.service units/cairn-restore-test@.timer \
	units/cairn-follow@.service
check "the follower's ExecStart is this build's bindir" grep -q '^ExecStart=/.*/cairn -c /.*/cairn/cairn.ini follow %i$' \
	"$top_builddir/units/cairn-follow@.service"
check "their ExecStart is this build's bindir" grep -q '^ExecStart=/.*/cairn -c /.*/cairn/cairn.ini backup %i$' \
	"$top_builddir/units/cairn@.service"
if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze verify accepts them" "no systemd-analyze"
	exit 0
fi
mkdir "$T/u"
for f in "$top_builddir"/units/*; do
	name=$(basename "$f" | sed 's/@/@test/')
	sed "s|^ExecStart=[^ ]*/cairn |ExecStart=$CAIRN |" "$f" >"$T/u/$name"
done
SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$T"/u/* >"$T/out" 2>&1
check "systemd-analyze verify accepts them" [ $? = 0 ] && [ ! -s "$T/out" ] || diag "$T/out"
