#!/bin/bash
# hooks.sh - a job's before, after, on_success and on_failure: the words
# of a value (no shell unless asked for), the environment a hook gets, its
# output in cairn's log (escaped), a failing or timed-out before hook that
# stops the run before anything is written, a timed-out hook's process
# group killed, and after hooks whose failure costs no backup.
. "$(dirname "$0")/lib.sh"
need_plugin files local
plan 37

cd "$T" || exit 99
mkdir -p data
echo alpha >data/a.txt

# job LINES...: the fixture with these lines added to [job j]
job() {
	write_ini j
	printf '%s\n' "$@" >>"$T/cairn.ini"
}
sets() { ls store/j 2>/dev/null | grep -c 'Z$'; }

# ----------------------------------------------------------- words, output
job "before = printf '%s|\\n' \"a b\" c \$HOME 'd\"e'" \
	"after = sh -c 'echo to-stderr >&2; printf \"esc:\\033[31m\\n\"'"
check_exit "a run with hooks" 0 cairn -v backup j
err_has 'hook before: a b|'
err_has 'hook before: $HOME|'
err_has 'hook before: d"e|'
err_has "cairn: warning: hook after: to-stderr"
err_has 'hook after: esc:\x1b[31m'

# ------------------------------------------------------------ environment
job "on_success = sh -c 'env | grep ^CAIRN_ | sort >env.ok'" \
	"on_failure = sh -c 'env | grep ^CAIRN_ | sort >env.fail'" \
	"after = sh -c 'echo \"\$CAIRN_STATUS\" >after.ran'"
check_exit "a backup that succeeds" 0 cairn backup j
id=$(newest_id store j)
check "on_success gets job, id, status, sinks" \
	grep -qx "CAIRN_BACKUP_ID=$id" env.ok
check "CAIRN_STATUS=ok" grep -qx "CAIRN_STATUS=ok" env.ok
check "CAIRN_JOB and CAIRN_SINKS" grep -qx "CAIRN_JOB=j" env.ok && grep -qx "CAIRN_SINKS=here" env.ok
check "CAIRN_ERROR is empty" grep -qx "CAIRN_ERROR=" env.ok
check "after ran last, told ok" grep -qx ok after.ran
check "on_failure did not run" [ ! -e env.fail ]
mv data data.away
sleep 1
check_exit "a backup that fails" 1 cairn backup j
check "on_failure gets CAIRN_STATUS=failed" grep -qx "CAIRN_STATUS=failed" env.fail
check "and the error" grep -q "^CAIRN_ERROR=source docs (files): path .*data does not exist" env.fail
mv data.away data

# -------------------------------------------------- before: fail, timeout
n=$(sets)
job "before = false" "on_failure = sh -c 'echo failed >on_failure.ran'"
check_exit "a failing before hook stops the run" 1 cairn backup j
err_has "hook before (false) failed with exit status 1; job j was not backed up and nothing was written"
check "nothing was written" [ "$(sets)" = "$n" ]
check "on_failure still ran" grep -qx failed on_failure.ran

job "before = sh -c 'sleep 60 & echo \$! >sleeper.pid; wait'" "hook_timeout = 1s"
start=$(date +%s)
check_exit "a before hook that hangs is stopped" 1 cairn backup j
err_has "did not finish within hook_timeout = 1s and was killed"
check "within its timeout and the kill grace" [ $(($(date +%s) - start)) -lt 10 ]
check "nothing was written" [ "$(sets)" = "$n" ]
# dead or a zombie nobody reaped yet (ps says Z): not running
gone() { case $(ps -o stat= -p "$1" 2>/dev/null) in "" | Z*) return 0 ;; esac; return 1; }
check "its process group was killed, the sleep too" gone "$(cat sleeper.pid)"

# ------------------------------------------------ after: no backup lost
job "after = sh -c 'exit 7'" "on_success = no-such-program-cairn"
check_exit "after and on_success fail, the backup stands" 0 cairn backup j
err_has "hook after (sh -c 'exit 7') failed with exit status 7"
check "the set is there" [ "$(sets)" = $((n + 1)) ]

# ------------------------------------------- secrets stay out of hooks
# The credentials a sink takes from the environment (s3: AWS_*) and the
# variables named by KEY_env never reach a hook; other variables do.
if have_plugin s3; then
	job "before = sh -c 'env >env.before; exit 1'"
	printf '\n[sink far]\nplugin = s3\nbucket = bkt\nendpoint = http://127.0.0.1:9\nmax_retries = 0\n' >>cairn.ini
	sed -i 's/^sinks = here$/sinks = here far/' cairn.ini
	AWS_ACCESS_KEY_ID=AKIDHOOK AWS_SECRET_ACCESS_KEY=sekrit-in-env \
		AWS_SESSION_TOKEN=tok-in-env CAIRN_HOOK_VISIBLE=yes \
		check_exit "a before hook sees the environment" 1 cairn backup j
	check "the hook ran" grep -qx CAIRN_HOOK_VISIBLE=yes env.before
	check "AWS_SECRET_ACCESS_KEY is not passed to hooks" \
		sh -c '! grep -q "^AWS_SECRET_ACCESS_KEY=\|sekrit-in-env" env.before'
	check "AWS_ACCESS_KEY_ID and AWS_SESSION_TOKEN are not either" \
		sh -c '! grep -q "^AWS_ACCESS_KEY_ID=\|^AWS_SESSION_TOKEN=" env.before'
else
	for i in 1 2 3 4; do skip "hooks and sink credentials" "needs the s3 plugin"; done
fi

# A KEY_env given on the command line (backup --set SOURCE.KEY_env=VAR, or
# a plain --set KEY_env=VAR) names a secret's variable just as the INI's
# does: it never reaches a hook either.
if have_plugin redis; then
	job "before = sh -c 'env >env.before; exit 1'"
	printf '\n[source r]\nplugin = redis\nhost = 127.0.0.1\nport = 9\n' >>cairn.ini
	sed -i 's/^sources = docs$/sources = docs r/' cairn.ini
	CAIRN_HOOK_PW=hunter2-scoped CAIRN_HOOK_VISIBLE=yes \
		check_exit "a before hook with --set r.password_env" 1 \
		cairn backup j --set r.password_env=CAIRN_HOOK_PW
	check "the hook ran" grep -qx CAIRN_HOOK_VISIBLE=yes env.before
	check "the variable of --set r.password_env is not passed to hooks" \
		sh -c '! grep -q "^CAIRN_HOOK_PW=\|hunter2-scoped" env.before'
	rm -f env.before
	CAIRN_HOOK_PW2=hunter2-plain \
		check_exit "a before hook with a plain --set password_env" 1 \
		cairn backup j --set password_env=CAIRN_HOOK_PW2
	check "the variable of a plain --set password_env is not passed either" \
		sh -c 'grep -q "^CAIRN_JOB=j" env.before && ! grep -q "^CAIRN_HOOK_PW2=\|hunter2-plain" env.before'
else
	for i in 1 2 3 4 5; do skip "hooks and --set KEY_env" "needs the redis plugin"; done
fi
