/* config_file.c - reading the INI file and KEY_file secrets whole, bounded
 * and without blocking; see config_read_file() in config.h. */
#include "autoconf.h"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h" /* cancel_signal */
#include "util.h"

/* Why read_bounded() failed. */
enum read_fail {
	READ_OPEN,     /* open or fstat failed: errno */
	READ_NOT_FILE, /* not a regular file: st says what it is */
	READ_TOO_BIG,  /* over max bytes: st_size says how many */
	READ_GREW,     /* grew over max bytes while being read */
	READ_IO,       /* read failed: errno */
	READ_CANCELLED /* a signal asked cairn to stop */
};

/* What kind of file st describes, for "not a regular file but ...". */
static const char *
file_kind(const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return "a directory";
	if (S_ISFIFO(st->st_mode))
		return "a FIFO";
	if (S_ISCHR(st->st_mode))
		return "a character device";
	if (S_ISBLK(st->st_mode))
		return "a block device";
	if (S_ISSOCK(st->st_mode))
		return "a socket";
	return "not a plain file";
}

/* Read all of the regular file path, at most max bytes, into *data (with a
 * NUL after its *len bytes).  Opened without blocking (a FIFO or a device
 * would hang open() or read() forever) and checked through the descriptor,
 * so what is checked is what is read.  The size is checked again while
 * reading, as the file may grow, so the loop ends after max + 1 bytes
 * whatever the file is.  Returns 0, or -1 with *why and errno set. */
static int
read_bounded(const char *path, size_t max, struct stat *st, char **data, size_t *len,
             enum read_fail *why)
{
	int fd, flags, saved;
	size_t n = 0, cap;
	char *buf = NULL;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		*why = READ_OPEN;
		return -1;
	}
	if (fstat(fd, st) != 0) {
		*why = READ_OPEN;
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		*why = READ_NOT_FILE;
		goto fail;
	}
	if ((uintmax_t)st->st_size > max) {
		*why = READ_TOO_BIG;
		goto fail;
	}
	/* a regular file: plain blocking reads from here on */
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		*why = READ_IO;
		goto fail;
	}
	cap = (size_t)st->st_size + 2; /* room to see that it grew */
	buf = xmalloc(cap);
	for (;;) {
		ssize_t got;
		if (n + 1 >= cap) {
			cap = cap * 2 < max + 2 ? cap * 2 : max + 2;
			buf = xrealloc(buf, cap);
		}
		got = read(fd, buf + n, cap - 1 - n);
		if (got < 0 && errno == EINTR && !cancel_signal)
			continue;
		if (cancel_signal) {
			*why = READ_CANCELLED;
			goto fail;
		}
		if (got < 0) {
			*why = READ_IO;
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max) {
			*why = READ_GREW;
			goto fail;
		}
	}
	close(fd);
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

/* The one line for a failed read_bounded() of file, the configuration
 * itself (secret NULL) or a KEY_file secret. */
static char *
read_fail_text(const char *file, const char *secret, enum read_fail why, const struct stat *st,
               size_t max)
{
	switch (why) {
	case READ_OPEN:
		if (secret)
			return xasprintf("cannot read %s: %s", file, strerror(errno));
		return xasprintf("%s: cannot read the configuration: %s%s", file, strerror(errno),
		                 errno == ENOENT ? "; give another with -c FILE or $CAIRN_CONFIG"
		                                 : "");
	case READ_NOT_FILE:
		if (secret)
			return xasprintf(
			        "%s is not a regular file but %s; %s_file takes a file holding the secret",
			        file, file_kind(st), secret);
		if (S_ISDIR(st->st_mode))
			return xasprintf(
			        "%s: is a directory, not a regular file; give the INI file with -c FILE",
			        file);
		return xasprintf("%s: not a regular file but %s; -c takes an INI file", file,
		                 file_kind(st));
	case READ_TOO_BIG:
	case READ_GREW: {
		char *size = why == READ_GREW ? xstrdup("grew while being read to more than")
		                              : xasprintf("is %jd bytes,", (intmax_t)st->st_size);
		char *r =
		        secret ? xasprintf(
		                         "%s %s over %zu KiB; a secret is one short line, check the path",
		                         file, size, max >> 10)
		               : xasprintf(
		                         "%s %s over %zu MiB; an INI file that large is not a cairn configuration, check the path",
		                         file, size, max >> 20);
		free(size);
		return r;
	}
	case READ_IO:
		return xasprintf("%s: cannot read %s: %s", file,
		                 secret ? "the secret" : "the configuration", strerror(errno));
	case READ_CANCELLED:
	default: return xasprintf("%s: reading was interrupted by a signal", file);
	}
}

int
config_read_file(const char *path, const char *secret, size_t max, struct stat *st, char **data,
                 size_t *len, char **err)
{
	enum read_fail why;
	if (read_bounded(path, max, st, data, len, &why) == 0)
		return 0;
	*err = read_fail_text(path, secret, why, st, max);
	return -1;
}
