/*
 * read.c - the "local" sink's reader: one object, opened only when it is a
 * regular file in the store.
 *
 * SPDX-License-Identifier: MIT
 */
#include "local_internal.h"

struct cairn_sink_reader {
	struct local *lc;
	int fd;
	char *path;
};

int
local_open_read(void *instance, const char *key, cairn_sink_reader **reader)
{
	struct local *lc = instance;
	cairn_sink_reader *r;
	const char *name;
	struct stat st;
	int rc, dfd = -1, fl;

	*reader = NULL;
	rc = local_key_check(lc->ctx, key);
	if (rc)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->path = local_join(lc, key))) {
		free(r);
		return local_nomem(lc->ctx, "opening an object for reading");
	}
	r->lc = lc;
	r->fd = -1;
	/* Look before opening: opening a FIFO waits for a writer, and
	 * opening a device can do things of its own (rewind a tape). */
	dfd = local_object_at(lc, key, r->path, "cannot open", &name, &st);
	if (dfd < 0) {
		rc = dfd;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = local_planted(lc, 0, r->path, st.st_mode, "a regular file");
		goto fail;
	}
	/* And still refuse to follow or block, should it be swapped
	 * between the look and the open. */
	r->fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (r->fd < 0) {
		if (errno == ENOENT)
			goto notfound;
		if (errno == ELOOP)
			rc = local_planted(lc, 0, r->path, S_IFLNK, "a regular file");
		else
			rc = local_fail(lc->ctx, errno, "cannot open", r->path, NULL);
		goto fail;
	}
	if (fstat(r->fd, &st) < 0) {
		rc = local_fail(lc->ctx, errno, "cannot stat", r->path, NULL);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			goto notfound;
		rc = local_planted(lc, 0, r->path, st.st_mode, "a regular file");
		goto fail;
	}
	/* Reads of a regular file never wait anyway; clear the flag so
	 * nothing downstream has to think about EAGAIN. */
	fl = fcntl(r->fd, F_GETFL);
	if (fl < 0 || fcntl(r->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		rc = local_fail(lc->ctx, errno, "cannot open", r->path, NULL);
		goto fail;
	}
	close(dfd);
	*reader = r;
	return 0;
notfound:
	rc = local_notfound(lc, key, r->path);
fail:
	if (dfd >= 0)
		close(dfd);
	if (r->fd >= 0)
		close(r->fd);
	free(r->path);
	free(r);
	return rc;
}

ssize_t
local_read(cairn_sink_reader *r, void *buf, size_t len)
{
	ssize_t n;

	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	do
		n = read(r->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return local_fail(r->lc->ctx, errno, "cannot read", r->path, NULL);
	return n;
}

void
local_close_read(cairn_sink_reader *r)
{
	if (!r)
		return;
	close(r->fd);
	free(r->path);
	free(r);
}
