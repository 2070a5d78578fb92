/* lock.c - see lock.h */
#include "autoconf.h"

#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int
lock_job(const char *state_dir, const char *job, int *busy, char **err)
{
	char *path = xasprintf("%s/%s.lock", state_dir, job);
	int fd = -1;
	*busy = 0;
	if (mkdir_p(state_dir, 0700) != 0) {
		*err = xasprintf(
		        "cannot create the state directory %s: %s; set state_dir in [cairn] to a writable directory",
		        state_dir, strerror(errno));
		goto out;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*err = xasprintf("cannot open the lock file %s: %s", path, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno; /* before pread can change it */
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		*busy = e == EWOULDBLOCK;
		*err = *busy ? xasprintf(
		                       "job %s is already running (pid %s, lock %s); wait for it to finish",
		                       job, *pid ? pid : "?", path)
		             : xasprintf("cannot lock %s: %s", path, strerror(e));
		close(fd);
		fd = -1;
		goto out;
	}
	{
		char pid[32];
		int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		/* the pid is a courtesy for the message above; failing to write it
		 * changes nothing */
		if (ftruncate(fd, 0) == 0)
			(void)!pwrite(fd, pid, (size_t)len, 0);
	}
out:
	free(path);
	return fd;
}

void
unlock_job(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}
