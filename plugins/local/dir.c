/*
 * dir.c - directories of the "local" sink's store, opened one component
 * at a time without following a link: the root, a key's directory, an
 * object's lookup, and the removal of directories left empty.
 *
 * SPDX-License-Identifier: MIT
 */
#include "local_internal.h"

/* fsync a directory by path; used after creating an entry in it. */
static int
local_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -1;
	if (fsync(fd) < 0 && errno != EINVAL) /* EINVAL: fs cannot sync dirs */
		err = errno;
	close(fd);
	errno = err; /* for the caller's message, past close() */
	return err ? -1 : 0;
}

/* mkdir -p dir with mode 0700 for every directory created; only for the
 * root, whose path comes from the configuration and may lead through
 * links the user made (everything below the root is resolved by
 * local_dir_at instead).  New directories are made durable too (when
 * fsync is on), or a power failure could drop a committed object together
 * with its freshly made parent. */
static int
local_mkdirs(struct local *lc, const char *dir)
{
	struct stat st;
	char *p, *slash, *parent = NULL;
	int rc = 0;

	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	p = strdup(dir);
	if (!p)
		return local_nomem(lc->ctx, "creating directories");
	for (slash = strchr(p + 1, '/');; slash = strchr(slash + 1, '/')) {
		if (slash)
			*slash = '\0';
		free(parent);
		parent = local_dirname(p);
		if (!parent) {
			rc = local_nomem(lc->ctx, "creating directories");
			goto out;
		}
		if (mkdir(p, 0700) == 0) {
			/* The umask may take bits away; the owner needs all
			 * three and nobody else needs any. */
			if (chmod(p, 0700) < 0) {
				rc = local_fail(lc->ctx, errno, "cannot set mode 0700 on", p, NULL);
				goto out;
			}
			if (lc->fsync && local_fsync_dir(parent) < 0) {
				rc = local_fail(lc->ctx, errno, "cannot fsync directory", parent,
				                NULL);
				goto out;
			}
		} else if (errno != EEXIST) {
			/* Permission trouble is the parent's: name it. */
			rc = local_fail(lc->ctx, errno, "cannot create directory", p, parent);
			goto out;
		}
		if (!slash)
			break;
		*slash = '/';
	}
	if (stat(dir, &st) < 0) {
		rc = local_fail(lc->ctx, errno, "cannot use directory", dir, NULL);
	} else if (!S_ISDIR(st.st_mode)) {
		rc = cairn_error(
		        local_host, lc->ctx, CAIRN_E_IO,
		        "cannot use directory %s: it exists but is not a directory; move it away",
		        dir);
	}
out:
	free(parent);
	free(p);
	return rc;
}

/* Open the root.  Its own path is the user's configuration and may go
 * through links; only what lies below it is the store's content. */
static int
local_root_open(struct local *lc, unsigned flags)
{
	int fd, rc;

	if (flags & LOCAL_AT_CREATE) {
		rc = local_mkdirs(lc, lc->root);
		if (rc)
			return rc;
	}
	fd = open(lc->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (!(flags & LOCAL_AT_CREATE) && (errno == ENOENT || errno == ENOTDIR))
		return CAIRN_E_NOTFOUND;
	if (flags & LOCAL_AT_QUIET)
		return local_status(errno);
	return local_fail(lc->ctx, errno, "cannot open directory", lc->root, NULL);
}

/* Where local_dir_at stands: the key's directory part, copied into comp,
 * and the component c of comp being opened ('\0'-terminated there). */
struct local_at {
	struct local *lc;
	const char *key;
	unsigned flags;
	char *comp;
	char *c;
};

/* ROOT/KEY up to the end of the component being opened, or up to its
 * parent; NULL when out of memory. */
static char *
local_at_path(const struct local_at *a, int parent)
{
	size_t start = (size_t)(a->c - a->comp);

	return local_joinn(a->lc, a->key, parent ? start - (start != 0) : start + strlen(a->c));
}

/* Set "WHAT PATH: REASON" (unless LOCAL_AT_QUIET) for the component, or
 * for its parent, and return the status for err.  fix_parent: permission
 * trouble is the parent's, so the message names it. */
static int
local_at_fail(const struct local_at *a, int err, const char *what, int of_parent, int fix_parent)
{
	char *path, *parent = NULL;
	int rc;

	if (a->flags & LOCAL_AT_QUIET)
		return local_status(err);
	path = local_at_path(a, of_parent);
	if (fix_parent)
		parent = local_at_path(a, 1);
	rc = local_fail(a->lc->ctx, err, what,
	                path        ? path
	                : of_parent ? a->lc->root
	                            : a->c,
	                parent);
	free(parent);
	free(path);
	return rc;
}

/* Something that is not a directory (st says what) stands where the
 * component belongs. */
static int
local_at_wrong_type(const struct local_at *a, const struct stat *st)
{
	char *path;
	int rc;

	/* A file where a directory belongs: a key through an object
	 * ("JOB/ID/NAME/x"), simply not there for a reader. */
	if (S_ISREG(st->st_mode) && !(a->flags & LOCAL_AT_CREATE))
		return CAIRN_E_NOTFOUND;
	path = local_at_path(a, 0);
	if (!S_ISREG(st->st_mode)) {
		rc = local_planted(a->lc, a->flags, path, st->st_mode, "a directory");
	} else {
		rc = CAIRN_E_IO;
		if (!(a->flags & LOCAL_AT_QUIET))
			cairn_error(
			        local_host, a->lc->ctx, rc,
			        "cannot use directory %s: it exists but is not a directory; move it away",
			        path ? path : a->c);
	}
	free(path);
	return rc;
}

/* Open the component below fd, never through a symlink; with
 * LOCAL_AT_CREATE make it when it is missing (*made set).  Returns its
 * descriptor or a negative status. */
static int
local_at_open(const struct local_at *a, int fd, int *made)
{
	struct stat st;
	int nfd, err, tries;

	*made = 0;
	for (tries = 0;; tries++) {
		nfd = openat(fd, a->c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd >= 0)
			return nfd;
		err = errno;
		if (tries >= 3) /* it keeps changing under us */
			break;
		if (err == ENOENT && (a->flags & LOCAL_AT_CREATE)) {
			if (mkdirat(fd, a->c, 0700) == 0)
				*made = 1;
			else if (errno != EEXIST)
				/* Permission trouble is the parent's: name it. */
				return local_at_fail(a, errno, "cannot create directory", 0, 1);
			continue;
		}
		if (err != ENOTDIR && err != ELOOP)
			break;
		/* Something else is there: what? */
		if (fstatat(fd, a->c, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* gone meanwhile */
			err = errno;
			break;
		}
		if (S_ISDIR(st.st_mode))
			continue; /* made a directory meanwhile */
		return local_at_wrong_type(a, &st);
	}
	if (err == ENOENT && !(a->flags & LOCAL_AT_CREATE))
		return CAIRN_E_NOTFOUND;
	return local_at_fail(a, err, "cannot open directory", 0, 0);
}

/* The component was made as nfd in fd: the umask may take bits away (the
 * owner needs all three and nobody else needs any), and with fsync on the
 * new entry is made durable in its parent. */
static int
local_at_made(const struct local_at *a, int fd, int nfd)
{
	if (fchmod(nfd, 0700) < 0)
		return local_at_fail(a, errno, "cannot set mode 0700 on", 0, 0);
	if (a->lc->fsync && fsync(fd) < 0 && errno != EINVAL)
		return local_at_fail(a, errno, "cannot fsync directory", 1, 0);
	return 0;
}

/* Open the directory ROOT/KEY[0..len) (the key's directory part) one
 * component at a time from the root, never following a symlink: a link
 * planted as ROOT/JOB -> /etc must not make a backup write into /etc nor
 * a restore read from it.  With LOCAL_AT_CREATE missing directories are
 * made (mode 0700, durable when fsync is on).
 *
 * Returns the descriptor or a negative status.  Without LOCAL_AT_CREATE a
 * missing directory, or a regular file where one belongs, is
 * CAIRN_E_NOTFOUND without a message (the caller names the object); a
 * symlink, FIFO, socket or device in the way is CAIRN_E_CORRUPT. */
int
local_dir_at(struct local *lc, const char *key, size_t len, unsigned flags)
{
	struct local_at a = {.lc = lc, .key = key, .flags = flags};
	char *end;
	int fd, nfd, made, rc;

	fd = local_root_open(lc, flags);
	if (fd < 0 || len == 0)
		return fd;
	a.comp = strndup(key, len);
	if (!a.comp) {
		close(fd);
		return (flags & LOCAL_AT_QUIET) ? CAIRN_E_NOMEM
		                                : local_nomem(lc->ctx, "opening a directory");
	}
	for (a.c = a.comp; a.c; a.c = end ? end + 1 : NULL) {
		end = strchr(a.c, '/');
		if (end)
			*end = '\0';
		nfd = local_at_open(&a, fd, &made);
		if (nfd >= 0 && made && (rc = local_at_made(&a, fd, nfd)) != 0) {
			close(nfd);
			nfd = rc;
		}
		close(fd);
		fd = nfd;
		if (fd < 0)
			break;
	}
	free(a.comp);
	return fd;
}

/* Remove the directories of key that are now empty, deepest first, up to
 * but not including the job's directory ROOT/JOB (it holds the job's lock
 * file), so an aborted write or the removal of a set's last object
 * leaves no empty JOB/ID directory behind.  rmdir only ever removes an
 * empty directory, and unlinkat(AT_REMOVEDIR) does not follow a symlink,
 * so this cannot take anything else with it.  Stops at the first
 * directory that stays; failures only cost an empty directory, so they
 * are logged, not returned. */
void
local_prune(struct local *lc, const char *key)
{
	char *k = strdup(key), *cut, *pcut, *path, buf[256];
	int pfd, r, err;

	if (!k)
		return;
	while ((cut = strrchr(k, '/'))) {
		*cut = '\0';
		pcut = strrchr(k, '/');
		if (!pcut)
			break; /* k is the job's directory */
		pfd = local_dir_at(lc, k, (size_t)(pcut - k), LOCAL_AT_QUIET);
		if (pfd < 0)
			break;
		r = unlinkat(pfd, pcut + 1, AT_REMOVEDIR);
		err = errno;
		close(pfd);
		if (r == 0)
			continue;
		/* EACCES and friends come before ENOTEMPTY in the kernel's
		 * checks, so they do not say the directory was empty. */
		if (err != ENOTEMPTY && err != EEXIST && err != ENOENT && err != EBUSY &&
		    err != ENOTDIR && err != EACCES && err != EPERM && err != EROFS) {
			path = local_join(lc, k);
			cairn_log(local_host, lc->ctx, CAIRN_LOG_WARN,
			          "could not remove empty directory %s: %s", path ? path : k,
			          strerror_r(err, buf, sizeof(buf)));
			free(path);
		}
		break;
	}
	free(k);
}

/* "backup object KEY not found" naming the file it would be; returns
 * CAIRN_E_NOTFOUND. */
int
local_notfound(struct local *lc, const char *key, const char *path)
{
	cairn_error(local_host, lc->ctx, CAIRN_E_NOTFOUND,
	            "backup object %s not found: there is no file %s", key, path);
	return CAIRN_E_NOTFOUND;
}

/* Find the object of a checked key for open_read and remove: open its
 * directory (never through a link, see local_dir_at) and lstat the object
 * in there.  Returns the directory's descriptor, with *name the object's
 * name in it and *st what it is, or a negative status with the error set:
 * CAIRN_E_NOTFOUND when there is no such file or it is a directory (a set,
 * or a directory of names, is not an object).  path (ROOT/KEY) and what
 * ("cannot open") are for the messages. */
int
local_object_at(struct local *lc, const char *key, const char *path, const char *what,
                const char **name, struct stat *st)
{
	const char *cut = strrchr(key, '/');
	int dfd, rc;

	*name = cut ? cut + 1 : key;
	dfd = local_dir_at(lc, key, cut ? (size_t)(cut - key) : 0, 0);
	if (dfd < 0)
		return dfd == CAIRN_E_NOTFOUND ? local_notfound(lc, key, path) : dfd;
	if (fstatat(dfd, *name, st, AT_SYMLINK_NOFOLLOW) < 0)
		rc = errno == ENOENT ? local_notfound(lc, key, path)
		                     : local_fail(lc->ctx, errno, what, path, NULL);
	else if (S_ISDIR(st->st_mode))
		rc = local_notfound(lc, key, path);
	else
		return dfd;
	close(dfd);
	return rc;
}
