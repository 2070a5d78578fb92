#!/bin/bash
# age_config.sh - a job's encryption keys from the INI file to the
# commands (issue 20): config check reports each key and key file (one
# line naming file, line, [job] and key; a key file others can read is
# warned about), a backup whose recipients cannot be loaded writes nothing
# (exit 3), restore and verify take --identity PATH, and no hook sees the
# passphrase's variable.  No secret reaches any output.  The round trips
# through encrypted jobs are age_job.sh's.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 56

# Keys made once with Debian's age-keygen (tests/unit/age_kat.h's).
KEY=AGE-SECRET-KEY-1FAZ5HZ5NP2Y8QGPJZFCTCV4RXTGE9EW2HTX06M9PKGYAPXTAUXCSKD7A7R
PUB=age1xfgzzk36cjzgw662tv28v04cu32g5e0c5fjgyxc5skjk3dr5mglqaakjy8
PUB2=age1ny7d4s9t0amag4glufa2uemz6wvjwqh9n7dgm3lrapfleu0hgpyqle3llf
PASS='cairn test passphrase 7f3a'
SECRET=${KEY#AGE-SECRET-KEY-1}
ALL="$T/all-output"
: >"$ALL"
# every output kept, for the grep for secrets at the end
keep() { cat "$T/out" "$T/err" >>"$ALL"; }

mkdir -p "$T/data" "$T/store"
echo a >"$T/data/a.txt"
write_ini daily
cp "$T/cairn.ini" "$T/base.ini"
# job keys from line 16 on (write_ini's job ends at line 15)
with() { cp "$T/base.ini" "$T/cairn.ini" && printf '%s\n' "$@" >>"$T/cairn.ini"; }
one_line() { check "$1: one line" test "$(wc -l <"$T/err")" = 1; }

printf '# offsite keys\n\n%s\n# old one\n%s\n' "$PUB" "$PUB2" >"$T/recipients.txt"
printf '# public key: %s\n%s\n' "$PUB" "$KEY" >"$T/id.txt"
chmod 600 "$T/id.txt"
printf '%s\n' "$PASS" >"$T/pass"
chmod 600 "$T/pass"

with "encryption = age" "age_recipients = $PUB2" "age_recipients_file = recipients.txt" \
	"age_identity_file = id.txt"
check_exit "config check passes with the keys" 0 cairn config check
keep
out_has "ok (1 job, 1 source, 1 sink)"
check "no warning for private key files" test ! -s "$T/err"

chmod 640 "$T/id.txt"
check_exit "a group-readable identity file: still ok" 0 cairn config check
keep
err_has "cairn.ini:19: [job daily] age_identity_file: $T/id.txt holds a secret but its group can read it (mode 0640); chmod 600 $T/id.txt"
chmod 600 "$T/id.txt"

with "encryption = age"
check_exit "encryption = age without recipients is refused" 3 cairn config check
keep
err_has "cairn.ini:13: [job daily]: encryption = age needs age_recipients or age_recipients_file"
one_line "encryption = age alone"

with "encryption = age" "age_recipients = $PUB age1typo"
check_exit "a mistyped recipient is refused at load" 3 cairn config check
keep
err_has "cairn.ini:17: [job daily] age_recipients: \"age1typo\" is not a valid age recipient"
one_line "the mistyped recipient"

with "encryption = age" "age_recipients = $KEY"
check_exit "a secret key among the recipients is refused" 3 cairn config check
keep
err_has "cairn.ini:17: [job daily] age_recipients: word 1 is a secret key"

with "encryption = age" "age_recipients = $PUB" "age_passphrase_file = pass"
check_exit "a passphrase with recipients is refused" 3 cairn config check
keep
err_has "age_passphrase_file with age_recipients: age encrypts to a passphrase alone or to recipients, never both"

with "age_recipients = $PUB"
check_exit "recipients without encryption = are refused" 3 cairn config check
keep
err_has "[job daily]: age_recipients is set but there is no encryption = key"

with "encryption = age" "age_recipients_file = nope.txt"
check_exit "config check: a missing recipients file" 3 cairn config check
keep
err_has "cairn.ini:17: [job daily] age_recipients_file: $T/nope.txt: cannot open: No such file or directory"
check_exit "backup of a job whose recipients cannot be loaded: exit 3" 3 cairn backup daily
keep
err_has "job daily was not backed up and nothing was written"
one_line "backup's key error"
check "nothing was written to the sink" test -z "$(ls -A "$T/store")"

printf '%s\nAGE-SECRET-KEY-1NOTAKEY\n' "$KEY" >"$T/bad-id.txt"
chmod 600 "$T/bad-id.txt"
with "encryption = age" "age_recipients = $PUB" "age_identity_file = bad-id.txt"
check_exit "config check: a malformed identity file" 3 cairn config check
keep
err_has "cairn.ini:18: [job daily] age_identity_file: $T/bad-id.txt line 2: not a valid age identity"

# --identity: restore and verify --deep load it before reading anything
with "encryption = age" "age_recipients = $PUB"
check_exit "restore --identity of a missing file: exit 3" 3 cairn restore daily --identity "$T/nope.key"
keep
err_has "--identity: $T/nope.key: cannot open: No such file or directory"
one_line "restore's --identity error"
check_exit "verify --identity without --deep is a usage error" 2 cairn verify daily --identity "$T/id.txt"
keep
err_has "verify --identity goes with --deep or --restore-test"
check_exit "verify --deep --identity of a missing file: exit 3" 3 cairn verify daily --deep --identity "$T/nope.key"
keep
err_has "--identity: $T/nope.key: cannot open"
check_exit "restore --from with --identity is a usage error" 2 \
	cairn restore daily --source docs --from "$T/x.tar" --identity "$T/id.txt"
keep
check_exit "completion offers --identity" 0 cairn __complete restore daily --ide
out_has "--identity"

# The passphrase's variable never reaches a hook; the backup itself runs.
with "encryption = age" "age_passphrase_env = CAIRN_TEST_AGE_PASS" \
	"before = sh -c 'env >$T/hook-env'"
CAIRN_TEST_AGE_PASS=$PASS check_exit "backup of a passphrase job" 0 cairn backup daily
keep
check "the before hook ran" test -s "$T/hook-env"
check "the hook's environment lacks the passphrase's variable" \
	sh -c "! grep -q CAIRN_TEST_AGE_PASS '$T/hook-env'"
check "nor the passphrase" sh -c "! grep -qF '$PASS' '$T/hook-env'"
check_exit "backup of a passphrase job whose variable is unset: exit 3" 3 cairn backup daily
keep
err_has "cairn.ini:17: [job daily] age_passphrase_env: environment variable CAIRN_TEST_AGE_PASS is not set"

# With the pipeline's age stage: list -v names the recipients, restore
# and verify --deep read with --identity or the INI's identity file.
rm -rf "$T/store"/* "$T/state"
with "encryption = age" "age_recipients = $PUB2" "age_recipients_file = recipients.txt"
check_exit "backup of an encrypted job" 0 cairn backup daily
keep
check_exit "list -v" 0 cairn -v list daily
keep
out_has "  encrypted to $PUB2 $PUB"
check_exit "list --json" 0 cairn list daily --json
keep
out_has "\"recipients\""
check_exit "verify needs no key" 0 cairn verify daily
keep
check_exit "verify --deep without an identity: exit 3" 3 cairn verify daily --deep
keep
out_has "no identity was given"
check_exit "verify --deep --identity" 0 cairn verify daily --deep --identity "$T/id.txt"
keep
out_has "deep"
mkdir -p "$T/back"
check_exit "restore --identity" 0 cairn restore daily --set path="$T/back" --identity "$T/id.txt"
keep
check "restore --identity brings the data back" cmp "$T/data/a.txt" "$T/back/a.txt"
printf 'age_identity_file = id.txt\n' >>"$T/cairn.ini"
check_exit "verify --restore-test with the INI's identity file" 0 cairn verify daily --restore-test
keep

check "no secret key in any output" sh -c "! grep -qF '$SECRET' '$ALL'"
check "no passphrase in any output" sh -c "! grep -qF '$PASS' '$ALL'"
