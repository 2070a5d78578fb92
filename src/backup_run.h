/* backup_run.h - one backup run of a job: its sources (all, or some)
 * into its sinks as a new set, under the job's lock and each sink's own,
 * with the job's hooks, the run record and the prune after it.  What
 * `cairn backup` does, and `cairn follow` when it needs a new full backup
 * of the source it follows (a set of that source only, as backup --source
 * makes). */
#ifndef CAIRN_BACKUP_RUN_H
#define CAIRN_BACKUP_RUN_H

#include "cmd.h"

struct backup_args {
	struct strvec only;    /* --source: these sources only (none: all) */
	struct strvec sets;    /* --set KEY=VALUE (checked here) */
	const char *only_sink; /* --sink, or NULL */
	int pin;               /* --pin */
	/* cairn follow's new base from its source's own link (follow_base.c):
	 * back up this instance (the one source in only, made and kept by
	 * the caller) with backup() instead of its backup op; NULL: none */
	struct instance *source;
	int (*backup)(void *ud, struct instance *src, struct cairn_out *out);
	void *backup_ud;
};

/* Back up job as a says.  Takes the job's lock with take_job_lock() (the
 * command's row has CMD_JOB_LOCK; c->lockfd holds it afterwards: the
 * caller releases it).  Returns the exit code (enum cairn_exit), each
 * failure said; id (may be NULL) gets the new set's id when at least one
 * sink holds it, else "". */
int backup_run(struct cli *c, const struct cfg_job *job, const struct backup_args *a,
               char id[BACKUP_ID_LEN + 1]);

#endif
