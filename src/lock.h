/* lock.h - one run of a job at a time.  flock(2) on STATE_DIR/JOB.lock: the
 * kernel drops the lock when the process dies, so it never goes stale. */
#ifndef CAIRN_LOCK_H
#define CAIRN_LOCK_H

/* Take the job's lock.  Returns the lock's fd (>= 0), or -1 with *err set
 * and *busy = 1 when another process holds it. */
int lock_job(const char *state_dir, const char *job, int *busy, char **err);
void unlock_job(int fd);

#endif
