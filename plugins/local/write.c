/*
 * write.c - what changes the "local" sink's store: the writer (a temporary
 * file published by a rename that never replaces, on commit) and remove().
 *
 * SPDX-License-Identifier: MIT
 */
#include "local_internal.h"

/* Longest part of NAME kept in a temporary file's name, so that
 * ".NAME.XXXXXX.part" still fits in NAME_MAX for long object names. */
#define LOCAL_TMP_NAME_MAX 200

struct cairn_sink_writer {
	struct local *lc;
	int fd;        /* the temporary file */
	int dirfd;     /* the object's directory */
	char *key;     /* the object's key, for local_prune */
	char *name;    /* final name, relative to dirfd (in path) */
	char *tmpname; /* temporary name, relative to dirfd (in tmppath) */
	char *path;    /* full final path, for messages */
	char *tmppath; /* full temporary path, for messages */
	int failed;    /* a write failed: commit must not publish */
};

static void
local_writer_free(cairn_sink_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->key);
	free(w->path);
	free(w->tmppath);
	free(w);
}

/* Random bytes for temporary names.  They need not be secret: O_EXCL
 * makes a clash a retry, never a shared file. */
static void
local_random(unsigned char *buf, size_t len)
{
	static unsigned long counter;
	struct timespec ts;
	uint64_t x;
	size_t i;

	if (getrandom(buf, len, GRND_NONBLOCK) == (ssize_t)len)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
	    ++counter * 0x9e3779b97f4a7c15ull;
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
}

/* Create the temporary file ".NAME.XXXXXX.part" in the object's directory,
 * relative to its descriptor (mkstemp would go by path, through whatever
 * links the path holds). */
static int
local_tmp_create(cairn_sink_writer *w, const char *dir)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz"
	                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[6];
	char suffix[7];
	int tries, err = EEXIST;
	size_t i;

	for (tries = 0; tries < 100 && err == EEXIST; tries++) {
		local_random(rnd, sizeof(rnd));
		for (i = 0; i < sizeof(rnd); i++)
			suffix[i] = chars[rnd[i] % (sizeof(chars) - 1)];
		suffix[sizeof(rnd)] = '\0';
		free(w->tmppath);
		if (asprintf(&w->tmppath, "%s%s.%.*s.%s.part", dir, strcmp(dir, "/") ? "/" : "",
		             LOCAL_TMP_NAME_MAX, w->name, suffix) < 0) {
			w->tmppath = NULL;
			return local_nomem(w->lc->ctx, "opening an object for writing");
		}
		w->tmpname = strrchr(w->tmppath, '/') + 1;
		w->fd = openat(w->dirfd, w->tmpname,
		               O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (w->fd >= 0)
			return 0;
		err = errno;
	}
	w->tmpname = NULL;
	return local_fail(w->lc->ctx, err, "cannot create a temporary file in", dir, NULL);
}

int
local_open_write(void *instance, const char *key, cairn_sink_writer **writer)
{
	struct local *lc = instance;
	cairn_sink_writer *w;
	const char *cut;
	struct stat st;
	char *dir = NULL;
	int rc;

	*writer = NULL;
	rc = local_key_check(lc->ctx, key);
	if (rc)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w)
		return local_nomem(lc->ctx, "opening an object for writing");
	w->lc = lc;
	w->fd = -1;
	w->dirfd = -1;
	w->key = strdup(key);
	w->path = local_join(lc, key);
	dir = w->path ? local_dirname(w->path) : NULL;
	if (!dir || !w->key) {
		rc = local_nomem(lc->ctx, "opening an object for writing");
		goto fail;
	}
	w->name = strrchr(w->path, '/') + 1;

	if (!lc->swept) {
		lc->swept = 1;
		local_sweep(lc);
	}

	cut = strrchr(key, '/');
	rc = local_dir_at(lc, key, cut ? (size_t)(cut - key) : 0, LOCAL_AT_CREATE);
	if (rc < 0)
		goto fail;
	w->dirfd = rc;
	/* Backups are never overwritten; say so now rather than after the
	 * whole stream has been written.  commit() checks again, atomically. */
	if (fstatat(w->dirfd, w->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = cairn_error(
		        local_host, lc->ctx, CAIRN_E_EXISTS,
		        "backup object %s already exists; cairn never overwrites a backup: remove it by hand or make sure no two jobs or hosts write to the same place",
		        w->path);
		goto fail;
	} else if (errno != ENOENT) {
		rc = local_fail(lc->ctx, errno, "cannot check for", w->path, dir);
		goto fail;
	}
	rc = local_tmp_create(w, dir);
	if (rc)
		goto fail;
	/* The 0600 given to openat is already right, but only if the umask
	 * allowed it; a backup may hold secrets, so nobody else reads it. */
	if (fchmod(w->fd, 0600) < 0) {
		rc = local_fail(lc->ctx, errno, "cannot set mode 0600 on", w->tmppath, NULL);
		goto fail;
	}
	free(dir);
	*writer = w;
	return 0;
fail:
	if (w->fd >= 0)
		unlinkat(w->dirfd, w->tmpname, 0);
	if (w->dirfd >= 0)
		local_prune(lc, key); /* the directories we may have made */
	free(dir);
	local_writer_free(w);
	return rc;
}

int
local_write(cairn_sink_writer *w, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	if (w->failed) {
		return cairn_error(local_host, w->lc->ctx, CAIRN_E_IO,
		                   "not writing to %s: an earlier write to it failed", w->path);
	}
	while (len > 0) {
		n = write(w->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			w->failed = 1;
			return local_fail(w->lc->ctx, errno, "cannot write", w->path, NULL);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* How local_publish gives an object its name, best first.  Each later
 * method is only tried when the file system refuses the one before. */
enum local_publish_how {
	LOCAL_PUBLISH_RENAME2, /* renameat2(RENAME_NOREPLACE) */
	LOCAL_PUBLISH_LINK,    /* link, then unlink the temporary name */
	LOCAL_PUBLISH_CHECK    /* look, then rename: racy, last resort */
};

/* Give the temporary file its final name, never replacing a file that is
 * already there, even one that appeared after open_write's check.
 * Starts with method `how` (the tests start later to reach the rest). */
static int
local_publish(cairn_sink_writer *w, enum local_publish_how how)
{
	cairn_ctx *ctx = w->lc->ctx;
	char buf[256];
	struct stat st;

	if (how <= LOCAL_PUBLISH_RENAME2) {
		if (renameat2(w->dirfd, w->tmpname, w->dirfd, w->name, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST)
			goto exists;
		if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return local_fail(ctx, errno, "cannot publish", w->path, NULL);
	}
	/* The file system cannot rename without replacing (NFS, some FUSE):
	 * a hard link refuses an existing name just as well. */
	if (how <= LOCAL_PUBLISH_LINK) {
		if (linkat(w->dirfd, w->tmpname, w->dirfd, w->name, 0) == 0) {
			if (unlinkat(w->dirfd, w->tmpname, 0) < 0)
				cairn_log(
				        local_host, ctx, CAIRN_LOG_WARN,
				        "published %s but could not remove its temporary name %s: %s; the next backup of the job removes it",
				        w->path, w->tmppath, strerror_r(errno, buf, sizeof(buf)));
			return 0;
		}
		if (errno == EEXIST)
			goto exists;
		if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS)
			return local_fail(ctx, errno, "cannot publish", w->path, NULL);
	}
	/* No hard links either (FAT, exFAT): look, then rename.  Only a
	 * writer racing us for the very same key could slip in between. */
	if (fstatat(w->dirfd, w->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		goto exists;
	if (renameat(w->dirfd, w->tmpname, w->dirfd, w->name) == 0)
		return 0;
	return local_fail(ctx, errno, "cannot publish", w->path, NULL);
exists:
	return cairn_error(
	        local_host, ctx, CAIRN_E_EXISTS,
	        "backup object %s appeared while it was being written; cairn never overwrites a backup, so this copy was discarded: make sure no two jobs or hosts write to the same place",
	        w->path);
}

int
local_commit(cairn_sink_writer *w)
{
	struct local *lc = w->lc;
	int rc, fd;

	if (w->failed) {
		rc = cairn_error(local_host, lc->ctx, CAIRN_E_IO,
		                 "not publishing %s: an earlier write to it failed", w->path);
		goto fail;
	}
	if (lc->fsync && fsync(w->fd) < 0) {
		rc = local_fail(lc->ctx, errno, "cannot fsync", w->path, NULL);
		goto fail;
	}
	/* close() can report a deferred write error (NFS); EINTR still
	 * closes the descriptor on Linux and loses nothing we can see. */
	fd = w->fd;
	w->fd = -1;
	if (close(fd) < 0 && errno != EINTR) {
		rc = local_fail(lc->ctx, errno, "cannot write", w->path, NULL);
		goto fail;
	}
	rc = local_publish(w, LOCAL_PUBLISH_RENAME2);
	if (rc)
		goto fail;
	/* Without this a power failure can undo the rename.  If it fails,
	 * withdraw the object: the caller is told the commit failed, and a
	 * failed commit must leave nothing behind. */
	if (lc->fsync && fsync(w->dirfd) < 0 && errno != EINVAL) {
		int err = errno;
		char *dir = local_dirname(w->path);
		rc = local_fail(lc->ctx, err, "cannot fsync directory", dir ? dir : w->path, NULL);
		free(dir);
		unlinkat(w->dirfd, w->name, 0);
		local_prune(lc, w->key);
		local_writer_free(w);
		return rc;
	}
	local_writer_free(w);
	return 0;
fail:
	unlinkat(w->dirfd, w->tmpname, 0);
	local_prune(lc, w->key);
	local_writer_free(w);
	return rc;
}

void
local_abort(cairn_sink_writer *w)
{
	char buf[256];

	if (!w)
		return;
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	if (unlinkat(w->dirfd, w->tmpname, 0) < 0 && errno != ENOENT)
		cairn_log(
		        local_host, w->lc->ctx, CAIRN_LOG_WARN,
		        "could not remove temporary file %s: %s; delete it by hand (the next backup of the job removes it)",
		        w->tmppath, strerror_r(errno, buf, sizeof(buf)));
	/* A failed run must not leave its empty set directory behind. */
	local_prune(w->lc, w->key);
	local_writer_free(w);
}

/* -------------------------------------------------------------- remove */

int
local_remove(void *instance, const char *key)
{
	struct local *lc = instance;
	const char *name;
	struct stat st;
	char *path, *dir;
	int rc, dfd, err;

	rc = local_key_check(lc->ctx, key);
	if (rc)
		return rc;
	path = local_join(lc, key);
	if (!path)
		return local_nomem(lc->ctx, "removing an object");
	/* Only what list() reports is an object; never rmdir a set. */
	dfd = local_object_at(lc, key, path, "cannot remove", &name, &st);
	if (dfd < 0) {
		free(path);
		return dfd;
	}
	/* Anything else planted where an object belongs goes too: unlinkat
	 * removes the name itself and never opens it, so a symlink goes as
	 * a link (its target is left alone) and a FIFO or device without
	 * being touched. */
	if (unlinkat(dfd, name, 0) < 0) {
		err = errno;
		if (err == ENOENT) { /* removed since the fstatat */
			rc = local_notfound(lc, key, path);
		} else {
			/* Unlinking needs write permission on the directory. */
			dir = local_dirname(path);
			rc = local_fail(lc->ctx, err, "cannot remove", path, dir);
			free(dir);
		}
	} else {
		if (!S_ISREG(st.st_mode))
			cairn_log(
			        local_host, lc->ctx, CAIRN_LOG_WARN,
			        "removed %s, %s planted in the store where a backup object belongs (only the entry itself, nothing it points at)",
			        path, local_kind(st.st_mode));
		local_prune(lc, key);
	}
	close(dfd);
	free(path);
	return rc;
}
