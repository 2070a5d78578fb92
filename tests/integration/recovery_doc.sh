#!/bin/bash
# recovery_doc.sh - doc/recovery.md stays true: every ```sh block marked
# <!-- tested --> runs, in order, against a job like the runbook's (the
# files source "uploads", the local sinks "local" and "offsite"), with the
# runbook's paths moved below the scratch directory.  Each block must exit
# 0; then the restored trees must equal the original.
. "$(dirname "$0")/lib.sh"
need_plugin files local
for t in jq zstd tar sha256sum; do
	command -v $t >/dev/null || {
		echo "1..0 # SKIP needs $t"
		exit 0
	}
done
doc=$top_srcdir/doc/recovery.md
nblocks=$(grep -c '^<!-- tested -->$' "$doc")
plan $((nblocks + 4))

cd "$T" || exit 99
mkdir -p uploads/img backups offsite
echo "a page" >uploads/index.html
head -c 100000 /dev/urandom >uploads/img/photo.jpg
ln -s index.html uploads/home.html
cat >"$T/cairn.ini" <<INI
[cairn]
state_dir = $T/state

[source uploads]
plugin = files
path = $T/uploads

[sink local]
plugin = local
path = $T/backups
fsync = no

[sink offsite]
plugin = local
path = $T/offsite
fsync = no

[job nightly]
sources = uploads
sinks = local offsite
INI
export CAIRN_CONFIG=$T/cairn.ini
check_exit "the job's backup" 0 "$CAIRN" backup nightly

# the blocks, the paths moved: /var/backups/cairn, /srv, /tmp, /etc/cairn
mkdir -p "$T/bin"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$CAIRN" >"$T/bin/cairn"
chmod +x "$T/bin/cairn"
awk -v dir="$T/blocks" '
	/^<!-- tested -->$/ { want = 1; next }
	want && /^```sh$/ { n++; file = sprintf("%s.%02d", dir, n); inb = 1; want = 0; next }
	inb && /^```$/ { inb = 0; close(file); next }
	inb { print > file }
	{ want = 0 }
' "$doc"
i=0
for b in "$T"/blocks.*; do
	i=$((i + 1))
	sed -e "s|/var/backups/cairn|$T/backups|g" -e "s|/srv/|$T/srv/|g" \
		-e "s|/tmp/files.want|$T/files.want|g" -e "s|/etc/cairn/|$T/|g" "$b" >"$b.sh"
	mkdir -p "$T/tmp"
	if (cd "$T" && PATH="$T/bin:$PATH" bash -e -o pipefail "$b.sh") >"$T/out.$i" 2>&1; then
		ok "runbook block $i: $(head -n 1 "$b" | cut -c1-60)"
	else
		not_ok "runbook block $i: $(head -n 1 "$b" | cut -c1-60)"
		diag "$T/out.$i"
	fi
done
check "the blocks were all found" [ "$i" = "$nblocks" ]
check "cairn's restore to another target equals the original" diff -r uploads srv/restore/uploads
check "the standard tools' restore equals the original" diff -r uploads srv/restore/by-hand
