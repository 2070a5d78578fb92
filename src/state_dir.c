/* state_dir.c - config check's test of the state directory: can a run
 * use it?  See state_dir_check() in config.h. */
#include "autoconf.h"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int
state_dir_check(const char *dir, char **err)
{
	static const char fix[] = "set state_dir in [cairn] to a writable directory";
	struct stat st;
	char *probe;
	int fd, saved;

	/* created as lock_job() creates it, so the check sees what a run would */
	if (mkdir_p(dir, 0700) != 0) {
		*err = xasprintf("cannot create the state directory %s: %s; %s", dir,
		                 strerror(errno), fix);
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		*err = xasprintf("the state directory %s is not a directory; %s", dir, fix);
		return -1;
	}
	/* a name no job lock can have: job names do not start with '.' */
	probe = xasprintf("%s/.cairn-check.XXXXXX", dir);
	fd = mkostemp(probe, O_CLOEXEC);
	if (fd < 0) {
		*err = xasprintf("cannot create a file in the state directory %s: %s; %s", dir,
		                 strerror(errno), fix);
		free(probe);
		return -1;
	}
	unlink(probe);
	free(probe);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		saved = errno;
		close(fd);
		*err = xasprintf(
		        "cannot lock a file in the state directory %s: %s; job locks need flock(2) there, %s on a local file system",
		        dir, strerror(saved), fix);
		return -1;
	}
	close(fd);
	return 0;
}
