/* follow_base.h - what `cairn follow` gives a source's follow(): the
 * logwriter's record() and idle(), and (ABI 1.5) base_begin() and
 * base_end(), with which a source whose own link carries a new full backup
 * after its log was lost (Redis's +FULLRESYNC RDB) stores it as a new set
 * of that source alone: no second connection, no second dump.
 *
 * base_begin() starts backup_run() for the job with only this source, in a
 * thread of its own, whose pipeline takes the source's stream from the
 * follower instead of calling its backup op: the thread hands the
 * pipeline's struct cairn_out to the follower and waits.  The follower's
 * plugin writes the dump into it (on its own thread, as follow() runs),
 * then base_end(rc, pos) records pos as the set's log START and END, lets
 * the thread commit (rc 0) or abort the set, joins it, and with a set
 * stored records the gap from the last committed position to pos, the new
 * set its base, and the chain goes on after pos.  So the set is a backup
 * of the job like any other: the job's lock and every sink's, the
 * before/after hooks, the run record, the prune after it.
 *
 * The job's lock held by another run (a nightly backup), or another source
 * of the job taking its own new base: base_begin() says so and returns
 * CAIRN_E_LOGLOST, so the core takes the base as for a source without
 * base_begin, once the lock is free (cmd_follow.c, log_lost). */
#ifndef CAIRN_FOLLOW_BASE_H
#define CAIRN_FOLLOW_BASE_H

#include <pthread.h>

#include "cmd.h"
#include "logwriter.h"

struct follow_base;

struct follow_base_conf {
	struct cli *c;
	const struct cfg_job *job;
	struct instance *source; /* the one following */
	struct logwriter *lw;    /* its writer */
	/* held while a new base of the job is taken (one at a time: they
	 * share c->lockfd); NULL: none */
	pthread_mutex_t *backup_mutex;
	/* the follower's state for its run record ("backing up",
	 * "following"); may be NULL */
	void (*on_state)(void *userdata, const char *state);
	void *userdata;
};

struct follow_base *follow_base_new(const struct follow_base_conf *conf);
void follow_base_free(struct follow_base *fb);

/* What follow() is given. */
struct cairn_log_out *follow_base_out(struct follow_base *fb);

/* After follow() returned: a base it began and never ended is aborted
 * (a plugin bug, said). */
void follow_base_close(struct follow_base *fb);

#endif
