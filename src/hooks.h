/* hooks.h - a job's before, after, on_success and on_failure commands.
 *
 * A hook's value is split into words by rules of its own, not a shell's:
 * words are separated by spaces or tabs; '...' keeps everything inside as
 * it is; "..." keeps everything inside except that \" and \\ stand for "
 * and \; outside quotes a backslash takes the next character as it is.
 * Nothing else is special: no $VARIABLES, no globs, no ; | > or &.  The
 * first word is the program, found on PATH.  For a shell, ask for one:
 *     after = sh -c 'mail -s "cairn $CAIRN_JOB: $CAIRN_STATUS" root </dev/null'
 *
 * A hook runs in its own process group with stdin from /dev/null; each
 * line it writes goes to cairn's log (stdout as info, stderr as warning,
 * escaped like every message).  After the timeout the group gets SIGTERM
 * and, 2 seconds later, SIGKILL.  Its environment is cairn's, without the
 * variables that hold secrets (hidden: secret_env.h gathers them), plus
 * CAIRN_JOB, CAIRN_BACKUP_ID, CAIRN_STATUS, CAIRN_ERROR and CAIRN_SINKS;
 * it is built for execve() alone, cairn's own environment never changes. */
#ifndef CAIRN_HOOKS_H
#define CAIRN_HOOKS_H

#include <stdint.h>

#include "util.h"

/* Split value into words as above.  0, or -1 with *why (one line). */
int hook_split(const char *value, struct strvec *words, char **why);

/* What a hook is told about the run; NULL reads as "". */
struct hook_env {
	const char *job;
	const char *backup_id; /* empty for before: no id is chosen yet */
	const char *status;    /* ok, partial or failed; empty for before */
	const char *error;     /* the first error of the run, one line */
	const char *sinks;     /* the sinks that hold the set, space-separated */
};

/* Run hook name (before, after, ...) with command and wait for it, at most
 * timeout seconds.  0 when it exited with status 0, else -1 with *err one
 * line naming the hook and what happened (exit status, signal, timeout,
 * not found). */
int hook_run(const char *name, const char *command, int64_t timeout, const struct hook_env *env,
             const struct strvec *hidden, char **err);

#endif
