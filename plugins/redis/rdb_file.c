/*
 * rdb_file.c - a stored RDB written to a file: to rdb_path (a temporary file,
 * synced, published by rename once it is complete), or to a scratch
 * server's dump.rdb while the walker counts its keys.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy the rest of in to fd; the bytes counted into *bytes. */
static int
copy_in(struct redis *r, struct cairn_in *in, int fd, const char *path, unsigned char *buf,
        size_t size, uint64_t *bytes)
{
	for (;;) {
		ssize_t n = in->read(in, buf, size);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		if (r->host->cancelled(r->ctx))
			return CAIRN_E_CANCELLED;
		if (write_all(fd, buf, (size_t)n)) {
			redis_error(r, "%s: cannot write %s: %s", r->name, path, strerror(errno));
			return CAIRN_E_IO;
		}
		*bytes += (uint64_t)n;
	}
}

int
restore_rdb_file(struct redis *r, struct cairn_in *in, unsigned flags)
{
	const char *path = r->rdb_path;
	int force = (flags & CAIRN_RESTORE_FORCE) != 0;
	char *dir = NULL, *tmp = NULL, *d;
	unsigned char *buf = NULL;
	uint64_t bytes = 0;
	int fd = -1, dfd = -1, rc;
	struct stat st;

	if (!force && lstat(path, &st) == 0) {
		redis_error(
		        r,
		        "%s exists; restore with --force to replace it, or set rdb_path to a new file",
		        path);
		return CAIRN_E_EXISTS;
	}
	if (!(d = strdup(path)) || asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0 ||
	    !(dir = strdup(dirname(d))) || !(buf = malloc(RESP_BUFSIZE))) {
		free(d);
		if (tmp)
			free(tmp);
		free(dir);
		return CAIRN_E_NOMEM;
	}
	free(d);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		redis_error(r, "cannot open the directory of rdb_path %s: %s; create it first",
		            path, strerror(errno));
		rc = CAIRN_E_IO;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		redis_error(r, "cannot create %s: %s; check rdb_path", tmp, strerror(errno));
		rc = CAIRN_E_IO;
		goto out;
	}
	/* The data of the whole server: for its owner only, like Redis's. */
	if (fchmod(fd, 0600)) {
		redis_error(r, "cannot set the mode of %s: %s", tmp, strerror(errno));
		rc = CAIRN_E_IO;
		goto out;
	}
	rc = copy_in(r, in, fd, tmp, buf, RESP_BUFSIZE, &bytes);
	if (rc)
		goto out;
	if (fsync(fd)) {
		redis_error(r, "cannot write %s: fsync: %s", tmp, strerror(errno));
		rc = CAIRN_E_IO;
		goto out;
	}
	close(fd);
	fd = -1;
	if (force) {
		rc = rename(tmp, path);
	} else {
		rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
		if (rc && (errno == EINVAL || errno == ENOSYS)) {
			/* A file system without it: link() never replaces. */
			rc = link(tmp, path);
			if (!rc)
				unlink(tmp);
		}
	}
	if (rc) {
		int e = errno;
		if (e == EEXIST) {
			redis_error(
			        r,
			        "%s appeared while it was written; restore with --force to replace it, or set rdb_path to a new file",
			        path);
			rc = CAIRN_E_EXISTS;
		} else {
			redis_error(r, "cannot rename %s to %s: %s", tmp, path, strerror(e));
			rc = CAIRN_E_IO;
		}
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if (fsync(dfd) && errno != EINVAL) {
		redis_error(r, "cannot sync the directory of %s: %s", path, strerror(errno));
		rc = CAIRN_E_IO;
		goto out;
	}
	redis_log(r, CAIRN_LOG_INFO,
	          "wrote the RDB (%" PRIu64 " bytes) to %s; start redis-server on it", bytes, path);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dir);
	free(buf);
	return rc;
}

/* ------------------------------------------------ RDB into scratch */

struct rdb_copy {
	struct redis *r;
	struct cairn_in *in;
	int fd;
	const char *path;
	int cancelled;
};

/* The walker's fill: what it consumed goes to the scratch file. */
static int
rdb_copy_fill(struct rdb_walk *w)
{
	struct rdb_copy *cp = w->arg;
	ssize_t n;

	if (w->len && write_all(cp->fd, w->buf, w->len)) {
		redis_error(cp->r, "%s: cannot write %s: %s", cp->r->name, cp->path,
		            strerror(errno));
		return CAIRN_E_IO;
	}
	w->pos = w->len = 0;
	if (cp->r->host->cancelled(cp->r->ctx))
		return CAIRN_E_CANCELLED;
	n = cp->in->read(cp->in, w->buf, w->bufsize);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return 0;
	w->len = (size_t)n;
	return 1;
}

/* See restore.h. */
int
rdb_to_file(struct redis *r, struct cairn_in *in, const char *path, struct rdb_walk *w,
            int *counted)
{
	struct rdb_copy cp = {r, in, -1, path, 0};
	uint64_t bytes = 0;
	int rc;

	*counted = 0;
	cp.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (cp.fd < 0) {
		redis_error(r, "%s: cannot create %s: %s", r->name, path, strerror(errno));
		return CAIRN_E_IO;
	}
	memset(w, 0, sizeof(*w));
	w->bufsize = RESP_BUFSIZE;
	w->buf = malloc(w->bufsize);
	if (!w->buf) {
		close(cp.fd);
		return CAIRN_E_NOMEM;
	}
	w->fill = rdb_copy_fill;
	w->arg = &cp;
	rdb_walk_init(w);
	rc = rdb_walk(w);
	if (rc == 0) {
		unsigned char extra;
		ssize_t n;
		*counted = 1;
		if (write_all(cp.fd, w->buf, w->pos)) {
			redis_error(r, "%s: cannot write %s: %s", r->name, path, strerror(errno));
			rc = CAIRN_E_IO;
		} else if (w->pos < w->len || (n = in->read(in, &extra, 1)) > 0) {
			redis_error(r,
			            "the stored RDB has bytes after its end (at byte %" PRIu64
			            "); it is damaged",
			            rdb_walk_offset(w));
			rc = CAIRN_E_CORRUPT;
		} else if (n < 0) {
			rc = (int)n;
		}
	} else if (rc == CAIRN_E_UNSUPPORTED) {
		redis_log(
		        r, CAIRN_LOG_INFO,
		        "the RDB holds what cairn cannot count (%s); the scratch server loads it as it is",
		        w->err);
		if (write_all(cp.fd, w->buf, w->len)) {
			redis_error(r, "%s: cannot write %s: %s", r->name, path, strerror(errno));
			rc = CAIRN_E_IO;
		} else {
			rc = copy_in(r, in, cp.fd, path, w->buf, w->bufsize, &bytes);
		}
	} else if (rc == CAIRN_E_CORRUPT) {
		redis_error(r, "the stored RDB is damaged: %s", w->err);
	}
	if (rc == 0 && fsync(cp.fd) && errno != EINVAL) {
		/* The scratch server reads it back at once; a failed sync
		 * is a full or failing disk. */
		redis_error(r, "%s: cannot write %s: %s", r->name, path, strerror(errno));
		rc = CAIRN_E_IO;
	}
	close(cp.fd);
	return rc;
}
