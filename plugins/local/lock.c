/*
 * lock.c - a job's lock in the "local" sink's store: flock() on
 * ROOT/JOB/.lock, and the cleanup of what dead runs of the job left.
 *
 * SPDX-License-Identifier: MIT
 */
#include "local_internal.h"

/* A job's lock is flock() on ROOT/JOB/.lock, so it holds across hosts and
 * state directories that share the store, and dies with its process. */
struct cairn_sink_lock {
	int fd;
};

/* lock() waits out at most this many short holds (LOCAL_LOCK_WAIT_NS
 * each): another job's sweep holds a job's lock for the moment it takes
 * to look through that job's directory (see local_job_busy). */
#define LOCAL_LOCK_TRIES 20
#define LOCAL_LOCK_WAIT_NS 50000000L

/* Job names become a directory name: a key component. */
static int
local_job_check(cairn_ctx *ctx, const char *name)
{
	const char *why = NULL;

	if (!name || !*name)
		why = "it is empty";
	else if (strchr(name, '/'))
		why = "it contains '/'";
	else if (name[0] == '.')
		why = "it starts with '.' (hidden names are reserved)";
	else if (strlen(name) > NAME_MAX)
		why = "it is longer than a file name may be";
	if (!why)
		return 0;
	return cairn_error(local_host, ctx, CAIRN_E_CONFIG,
	                   "invalid job name \"%s\": %s; rename the job", name ? name : "", why);
}

/* "pid P on host H since T" from the holder's line "P H T" in the lock
 * file, or a plain "another run" when it has not written one (yet).  The
 * file lies in the store, so its bytes are shown only as far as they are
 * harmless: printable ASCII, within bounds. */
static void
local_holder(int fd, char *out, size_t size)
{
	char line[256], *word[3], *p, *save = NULL;
	ssize_t n;
	int k;

	do
		n = pread(fd, line, sizeof(line) - 1, 0);
	while (n < 0 && errno == EINTR);
	line[n > 0 ? n : 0] = '\0';
	line[strcspn(line, "\n")] = '\0';
	for (p = line; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	for (k = 0; k < 3; k++)
		if (!(word[k] = strtok_r(k ? NULL : line, " ", &save)))
			break;
	if (k == 3)
		snprintf(out, size, "pid %.20s on host %.64s since %.32s", word[0], word[1],
		         word[2]);
	else
		snprintf(out, size,
		         "another run (it has not written its pid into the lock file yet)");
}

/* Write "PID HOST START" into the lock file for local_holder; a courtesy
 * for the message of a second run, so failures change nothing. */
static void
local_holder_write(int fd)
{
	char host[256], when[32], line[320];
	struct tm tm;
	time_t now = time(NULL);
	int len;

	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "?");
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, " \n")] = '\0';
	if (!gmtime_r(&now, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		strcpy(when, "?");
	len = snprintf(line, sizeof(line), "%ld %s %s\n", (long)getpid(), *host ? host : "?", when);
	if (ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, line, (size_t)len, 0);
}

int
local_lock(void *instance, const char *name, cairn_sink_lock **lock)
{
	struct local *lc = instance;
	struct timespec pause = {0, LOCAL_LOCK_WAIT_NS};
	struct local_walk w = {
	        .lc = lc,
	        .prefix = "",
	        .hidden = 1,
	        .rmdirs = 1,
	        .anyage = 1,
	        .visit = local_sweep_visit,
	};
	char *dir = NULL, *path = NULL, *keybase = NULL, *spare = NULL, holder[200];
	cairn_sink_lock *lk;
	struct stat st;
	int jfd, fd = -1, rc = 0, tries;

	*lock = NULL;
	rc = local_job_check(lc->ctx, name);
	if (rc)
		return rc;
	jfd = local_dir_at(lc, name, strlen(name), LOCAL_AT_CREATE);
	if (jfd < 0)
		return jfd;
	dir = local_join(lc, name);
	if (!dir || asprintf(&path, "%s/" LOCAL_LOCK_NAME, dir) < 0 ||
	    asprintf(&keybase, "%s/", name) < 0 || asprintf(&spare, "%s/log/", name) < 0) {
		rc = local_nomem(lc->ctx, "locking the store");
		goto fail;
	}
	/* Look before opening, as for objects: only a regular file (or
	 * nothing) is opened. */
	if (fstatat(jfd, LOCAL_LOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
		rc = local_planted(lc, 0, path, st.st_mode, "a regular file");
		goto fail;
	}
	fd = openat(jfd, LOCAL_LOCK_NAME,
	            O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == ELOOP)
			rc = local_planted(lc, 0, path, S_IFLNK, "a regular file");
		else
			rc = local_fail(lc->ctx, errno, "cannot open the lock file", path, NULL);
		goto fail;
	}
	if (fstat(fd, &st) < 0) {
		rc = local_fail(lc->ctx, errno, "cannot stat the lock file", path, NULL);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = local_planted(lc, 0, path, st.st_mode, "a regular file");
		goto fail;
	}
	for (tries = 0;; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			rc = local_fail(lc->ctx, errno, "cannot lock", path, NULL);
			goto fail;
		}
		if (tries >= LOCAL_LOCK_TRIES || local_host->cancelled(lc->ctx)) {
			local_holder(fd, holder, sizeof(holder));
			rc = cairn_error(
			        local_host, lc->ctx, CAIRN_E_LOCKED,
			        "backup store %s is locked for job %s by %s; wait for that run or stop it",
			        lc->root, name, holder);
			goto fail;
		}
		nanosleep(&pause, NULL); /* EINTR: one try less, no harm */
	}
	/* The umask may have taken the owner's bits; nobody else needs any.
	 * A file another user made stays theirs: no harm either. */
	if ((st.st_mode & 07777) != 0600)
		(void)fchmod(fd, 0600);
	local_holder_write(fd);
	/* Holding the lock, no writer of this job is alive: whatever
	 * temporary file or empty set directory lies below ROOT/JOB/ was
	 * left by a dead one, however young.  The walk takes jfd over. */
	/* ...except below ROOT/JOB/log/, where `cairn follow` writes its
	 * segments under another lock (JOB@follow): there only temporaries
	 * a day old go, as in the sweep of a store nobody locked. */
	w.spare = spare;
	w.now = time(NULL);
	local_walk_dir(&w, jfd, dir, keybase);
	jfd = -1;
	lk = malloc(sizeof(*lk));
	if (!lk) {
		rc = local_nomem(lc->ctx, "locking the store");
		goto fail;
	}
	lk->fd = fd;
	*lock = lk;
	free(spare);
	free(keybase);
	free(path);
	free(dir);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (jfd >= 0)
		close(jfd);
	free(spare);
	free(keybase);
	free(path);
	free(dir);
	return rc;
}

/* Release the lock; the holder's line stays in the file, untouched (the
 * next holder replaces it, and it is only read while the lock is held). */
void
local_unlock(cairn_sink_lock *lk)
{
	if (!lk)
		return;
	(void)flock(lk->fd, LOCK_UN);
	close(lk->fd);
	free(lk);
}
