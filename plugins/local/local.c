/*
 * local.c - the "local" sink: backup objects as files under one directory.
 *
 * An object with key "JOB/ID/NAME" lives at ROOT/JOB/ID/NAME.  Writes go to
 * a hidden temporary file beside the final name (".NAME.XXXXXX.part") and
 * commit publishes it with a rename that never replaces an existing file,
 * so a reader or a listing sees either the whole object or nothing, and a
 * backup is never overwritten.
 *
 * Names starting with '.' are reserved: keys may not contain such
 * components, and list() and usage() skip them.  Besides the temporary
 * files there is one: ROOT/JOB/.lock, the job's lock (see local_lock).
 * Holding it, a run removes every temporary file and empty set directory
 * a dead run of the job left.  The first open_write of each instance also
 * sweeps the store for other jobs' temporaries untouched for a day (see
 * local_sweep), so a job that never runs again does not hold disk space
 * forever.
 *
 * The store is untrusted input: anybody who can write to it may plant a
 * symlink, FIFO or device where an object or directory belongs.  Below
 * the root every path is resolved one component at a time from directory
 * descriptors with O_NOFOLLOW (local_dir_at, local_walk_dir), and only
 * regular files are opened, so nothing leads out of the store or hangs.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* renameat2, GNU strerror_r */
#endif

#include <cairn/plugin.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Temporary files untouched for this long belong to a run that died. */
#define LOCAL_STALE_SECS (24 * 60 * 60)
/* Longest part of NAME kept in a temporary file's name, so that
 * ".NAME.XXXXXX.part" still fits in NAME_MAX for long object names. */
#define LOCAL_TMP_NAME_MAX 200

static const struct cairn_host *local_host;

struct local {
	cairn_ctx *ctx;
	char *root; /* absolute, no trailing '/' (unless it is "/") */
	int fsync;
	int swept; /* local_sweep ran for this instance */
};

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

struct cairn_sink_reader {
	struct local *lc;
	int fd;
	char *path;
};

/* -------------------------------------------------------------- errors */

/* Map errno to a status.  ENOENT is only "not found" where the caller
 * says so: on the write side a vanished directory is an I/O failure. */
static int
local_status(int err)
{
	switch (err) {
	case ENOMEM: return CAIRN_E_NOMEM;
	case EEXIST: return CAIRN_E_EXISTS;
	default: return CAIRN_E_IO;
	}
}

/* Set "WHAT PATH: REASON" and return the status for err.  The reason says
 * what to do when that is obvious; `fix` names the directory whose
 * permissions matter (NULL: path itself).  Here and in local_nomem and
 * local_notfound the status is returned as such, not through cairn_error()
 * (variadic: scan-build does not follow it), so the analyzer sees that a
 * failure is negative in the callers' checks. */
static int
local_fail(cairn_ctx *ctx, int err, const char *what, const char *path, const char *fix)
{
	char buf[256];
	int rc = local_status(err);

	if (!fix)
		fix = path;
	switch (err) {
	case EACCES:
	case EPERM:
		cairn_error(
		        local_host, ctx, rc,
		        "%s %s: permission denied: run cairn as the user owning %s or fix its permissions",
		        what, path, fix);
		break;
	case ENOSPC:
	case EDQUOT:
		cairn_error(
		        local_host, ctx, rc,
		        "%s %s: disk full (or quota exceeded): free space on the file system holding it",
		        what, path);
		break;
	case EROFS:
		cairn_error(
		        local_host, ctx, rc,
		        "%s %s: read-only file system: remount it read-write or point the sink elsewhere",
		        what, path);
		break;
	case EIO:
		cairn_error(
		        local_host, ctx, rc,
		        "%s %s: input/output error: the disk may be failing, check the kernel log",
		        what, path);
		break;
	default:
		cairn_error(local_host, ctx, rc, "%s %s: %s", what, path,
		            strerror_r(err, buf, sizeof(buf)));
		break;
	}
	return rc;
}

static int
local_nomem(cairn_ctx *ctx, const char *what)
{
	cairn_error(local_host, ctx, CAIRN_E_NOMEM, "out of memory while %s", what);
	return CAIRN_E_NOMEM;
}

/* ---------------------------------------------------------------- keys */

/* Keys are relative '/'-separated paths whose components are non-empty,
 * do not start with '.' (that covers "." and "..", and keeps the hidden
 * namespace for temporary files) and fit in a file name.  A bad key comes
 * from a job or source name in the configuration, so it is a CONFIG
 * error: the user fixes it by renaming, not by looking at the disk. */
static int
local_key_check(cairn_ctx *ctx, const char *key)
{
	const char *c, *why = NULL;
	size_t len;

	if (!key || !*key) {
		return cairn_error(local_host, ctx, CAIRN_E_CONFIG,
		                   "invalid object key \"\": it is empty");
	}
	if (key[0] == '/') {
		return cairn_error(
		        local_host, ctx, CAIRN_E_CONFIG,
		        "invalid object key \"%s\": it must be relative, not start with '/'", key);
	}
	for (c = key; *c; c += len + (c[len] == '/')) {
		len = strcspn(c, "/");
		if (len == 0)
			why = "it has an empty component (\"//\" or a trailing '/')";
		else if (c[0] == '.')
			why = "a component starts with '.' (\".\", \"..\" and hidden names are reserved)";
		else if (len > NAME_MAX)
			why = "a component is longer than a file name may be";
		if (why) {
			return cairn_error(
			        local_host, ctx, CAIRN_E_CONFIG,
			        "invalid object key \"%s\": %s; rename the job or source it comes from",
			        key, why);
		}
		if (c[len] == '/' && c[len + 1] == '\0') {
			return cairn_error(local_host, ctx, CAIRN_E_CONFIG,
			                   "invalid object key \"%s\": it ends with '/'", key);
		}
	}
	return 0;
}

/* ROOT/KEY, or NULL when out of memory. */
static char *
local_join(const struct local *lc, const char *key)
{
	char *p;
	int slash = strcmp(lc->root, "/") != 0;

	if (asprintf(&p, "%s%s%s", lc->root, slash ? "/" : "", key) < 0)
		return NULL;
	return p;
}

/* ------------------------------------------------------ create, destroy */

static const struct cairn_key local_keys[] = {
        {.name = "path",
         .type = CAIRN_KEY_PATH,
         .flags = CAIRN_KEY_REQUIRED,
         .help = "directory that holds the backups (created with mode 0700 if missing)"},
        {.name = "fsync",
         .type = CAIRN_KEY_BOOL,
         .default_value = "yes",
         .help = "fsync files and directories on commit; \"no\" is faster but a power failure may lose the newest backup"},
        {.name = NULL}};

static void
local_destroy(void *instance)
{
	struct local *lc = instance;

	if (!lc)
		return;
	free(lc->root);
	free(lc);
}

static int
local_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance)
{
	const struct cairn_value *path = cairn_config_get(cfg, "path");
	const struct cairn_value *fs = cairn_config_get(cfg, "fsync");
	struct local *lc;
	size_t len;

	*instance = NULL;
	if (!path || !path->set || !path->text || !*path->text) {
		return cairn_error(
		        local_host, ctx, CAIRN_E_CONFIG,
		        "sink %s: \"path\" is not set; give the directory that should hold the backups",
		        cfg->instance ? cfg->instance : "local");
	}
	lc = calloc(1, sizeof(*lc));
	if (!lc || !(lc->root = strdup(path->text))) {
		free(lc);
		return local_nomem(ctx, "creating the local sink");
	}
	/* "/a/b/" and "/a/b" are the same store; keep one spelling so joined
	 * paths in messages have no "//". */
	len = strlen(lc->root);
	while (len > 1 && lc->root[len - 1] == '/')
		lc->root[--len] = '\0';
	lc->ctx = ctx;
	lc->fsync = fs && fs->set ? fs->i != 0 : 1;
	*instance = lc;
	return 0;
}

/* ---------------------------------------------------------- directories */

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

/* The directory part of path, malloc'd; "/" for "/x". */
static char *
local_dirname(const char *path)
{
	const char *cut = strrchr(path, '/');

	if (!cut)
		return strdup(".");
	if (cut == path)
		return strdup("/");
	return strndup(path, (size_t)(cut - path));
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

/* What a file is, for messages. */
static const char *
local_kind(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "a file of unknown type";
}

/* How local_dir_at reports trouble. */
#define LOCAL_AT_CREATE 0x1u /* make missing directories, mode 0700 */
#define LOCAL_AT_WARN 0x2u   /* a planted entry is a warning, not the error */
#define LOCAL_AT_QUIET 0x4u  /* no message at all: only the result counts */

/* Report an entry of the wrong type where the store should have `want`.
 * Only cairn writes below the root, and it writes directories and
 * regular files only, so somebody planted this one, maybe to make a
 * restore read what a link points at or hang in open() on a FIFO: it is
 * damage, and it is never followed or opened. */
static int
local_planted(struct local *lc, unsigned flags, const char *path, mode_t mode, const char *want)
{
	if (flags & LOCAL_AT_QUIET)
		return CAIRN_E_CORRUPT;
	if (flags & LOCAL_AT_WARN) {
		cairn_log(
		        local_host, lc->ctx, CAIRN_LOG_WARN,
		        "skipping %s: it is %s, not %s (planted in the store?); cairn does not follow or open it: remove it",
		        path ? path : "an entry", local_kind(mode), want);
		return CAIRN_E_CORRUPT;
	}
	return cairn_error(
	        local_host, lc->ctx, CAIRN_E_CORRUPT,
	        "%s is %s, not %s (planted in the store?); cairn does not follow or open it: remove it",
	        path ? path : "an entry", local_kind(mode), want);
}

/* ROOT/KEY[0..len), or NULL when out of memory. */
static char *
local_joinn(const struct local *lc, const char *key, size_t len)
{
	char *p;
	int slash = strcmp(lc->root, "/") != 0;

	if (len == 0)
		return strdup(lc->root);
	if (asprintf(&p, "%s%s%.*s", lc->root, slash ? "/" : "", (int)len, key) < 0)
		return NULL;
	return p;
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
static int
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
static void
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
static int
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
static int
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

/* ---------------------------------------------------------------- walks */

/* A recursive walk of the store for list(), usage() and the sweeps.  It
 * goes from directory descriptor to directory descriptor with O_NOFOLLOW,
 * so it never leaves the store through a link, whatever the store holds. */
struct local_walk {
	struct local *lc;
	const char *prefix; /* only keys starting with this */
	size_t prefix_len;
	int hidden;   /* sweeps: visit hidden files, log errors and go on */
	int warn;     /* list: warn about every planted entry it skips */
	int rmdirs;   /* lock: remove every empty directory below the start */
	int joblocks; /* sweep: keep out of jobs another run holds locked */
	int anyage;   /* lock: temporaries go whatever their age */
	/* Called for each matching regular file; non-zero stops the walk
	 * (set stopped) or is an error code (negative). */
	int (*visit)(struct local_walk *w, int dfd, const char *name, const char *key,
	             const struct stat *st);
	cairn_list_cb cb;
	void *userdata;
	uint64_t used;
	time_t now;
	unsigned long removed; /* temporaries removed so far */
	int stopped;
};

struct local_entry {
	char *name;
	int isdir;
	struct stat st;
};

/* Order entries as their keys sort: a directory compares as "name/", so
 * keys come out in plain strcmp order across directory levels too. */
static int
local_entry_cmp(const void *pa, const void *pb)
{
	const struct local_entry *a = pa, *b = pb;
	size_t i;

	for (i = 0;; i++) {
		unsigned char ca = a->name[i] ? (unsigned char)a->name[i] : (a->isdir ? '/' : 0);
		unsigned char cb = b->name[i] ? (unsigned char)b->name[i] : (b->isdir ? '/' : 0);
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (!a->name[i] || !b->name[i])
			return 0; /* equal only for the same name and type */
	}
}

static int
local_walk_fail(struct local_walk *w, int err, const char *what, const char *path)
{
	char buf[256];

	if (!w->hidden)
		return local_fail(w->lc->ctx, err, what, path, NULL);
	cairn_log(local_host, w->lc->ctx, CAIRN_LOG_WARN,
	          "looking for leftover temporary files: %s %s: %s", what, path,
	          strerror_r(err, buf, sizeof(buf)));
	return 0;
}

/* Does key (of a directory, ending in '/') lead to keys with the prefix? */
static int
local_dir_matches(const struct local_walk *w, const char *dirkey)
{
	size_t len = strlen(dirkey);

	return strncmp(dirkey, w->prefix, len < w->prefix_len ? len : w->prefix_len) == 0;
}

#define LOCAL_LOCK_NAME ".lock"

/* The age-based sweep keeps out of a job whose lock another run holds:
 * that run is alive and writing, and its own lock() cleans up after its
 * dead writers anyway.  Otherwise it holds the lock itself while it is in
 * there, so that no run of the job starts meanwhile (lock() waits out such
 * a short hold).  A lock file of the wrong type, or one we may not open,
 * also keeps the sweep out: lock() reports it.  Returns non-zero to keep
 * out; *lockfd is the lock to drop afterwards, or -1. */
static int
local_job_busy(int jobfd, int *lockfd)
{
	struct stat st;
	int fd;

	*lockfd = -1;
	if (fstatat(jobfd, LOCAL_LOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno != ENOENT; /* none: a job that never locked */
	if (!S_ISREG(st.st_mode))
		return 1;
	fd = openat(jobfd, LOCAL_LOCK_NAME,
	            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return 1;
	}
	*lockfd = fd;
	return 0;
}

/* Remove directory name in dfd if it is empty (rmdir refuses otherwise). */
static void
local_walk_rmdir(struct local_walk *w, int dfd, const char *name, const char *path)
{
	char buf[256];

	if (unlinkat(dfd, name, AT_REMOVEDIR) == 0) {
		if (w->rmdirs)
			cairn_log(
			        local_host, w->lc->ctx, CAIRN_LOG_INFO,
			        "removed %s, an empty directory left by a failed or interrupted backup",
			        path);
	} else if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT && errno != EBUSY &&
	           errno != ENOTDIR) {
		cairn_log(local_host, w->lc->ctx, CAIRN_LOG_WARN,
		          "could not remove empty directory %s: %s", path,
		          strerror_r(errno, buf, sizeof(buf)));
	}
}

/* The entries of one directory that a walk visits, in key order. */
struct local_entries {
	struct local_entry *v;
	size_t n, cap;
};

static int
local_entries_add(struct local_walk *w, struct local_entries *l, const char *name,
                  const struct stat *st)
{
	struct local_entry *e;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 32;
		e = realloc(l->v, ncap * sizeof(*l->v));
		if (!e)
			return local_nomem(w->lc->ctx, "listing the store");
		l->v = e;
		l->cap = ncap;
	}
	e = &l->v[l->n];
	e->name = strdup(name);
	if (!e->name)
		return local_nomem(w->lc->ctx, "listing the store");
	e->isdir = S_ISDIR(st->st_mode);
	e->st = *st;
	l->n++;
	return 0;
}

static void
local_entries_free(struct local_entries *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

/* Does the walk visit entry name (st: its lstat) of the directory whose
 * key is keybase?  1 yes, 0 no, or a negative status. */
static int
local_walk_wants(struct local_walk *w, const char *name, const char *keybase, const struct stat *st)
{
	int isdir = S_ISDIR(st->st_mode), ok;
	char *key;

	if (isdir ? name[0] == '.' : S_ISREG(st->st_mode) && (name[0] == '.') != w->hidden)
		return 0;
	if (asprintf(&key, "%s%s%s", keybase, name, isdir ? "/" : "") < 0)
		return local_nomem(w->lc->ctx, "listing the store");
	ok = isdir ? local_dir_matches(w, key) : strncmp(key, w->prefix, w->prefix_len) == 0;
	if (ok && !isdir && !S_ISREG(st->st_mode)) {
		/* Objects are regular files; a symlink could lead out
		 * of the store, a FIFO or device hang a reader. */
		if (w->warn && name[0] != '.') {
			char *p = local_join(w->lc, key);
			local_planted(w->lc, LOCAL_AT_WARN, p ? p : key, st->st_mode,
			              "a backup object or set directory");
			free(p);
		}
		ok = 0;
	}
	free(key);
	return ok;
}

/* Read the whole directory d into l before any entry is reported: the
 * entries are sorted first, and the sweep may unlink while we iterate. */
static int
local_walk_read(struct local_walk *w, DIR *d, const char *path, const char *keybase,
                struct local_entries *l)
{
	struct dirent *de;
	struct stat st;
	int rc;

	for (errno = 0; (de = readdir(d)); errno = 0) {
		const char *name = de->d_name;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (name[0] == '.' && !w->hidden)
			continue;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			rc = local_walk_fail(w, errno, "cannot stat a file in", path);
			if (rc)
				return rc;
			continue;
		}
		rc = local_walk_wants(w, name, keybase, &st);
		if (rc > 0)
			rc = local_entries_add(w, l, name, &st);
		if (rc)
			return rc;
	}
	if (errno)
		return local_walk_fail(w, errno, "cannot list directory", path);
	return 0;
}

static int local_walk_dir(struct local_walk *w, int fd, const char *path, const char *keybase);

/* Walk the subdirectory name of d, whose path and key are sub and key;
 * keybase is d's key. */
static int
local_walk_sub(struct local_walk *w, DIR *d, const char *name, const char *sub, const char *key,
               const char *keybase)
{
	int subfd, lockfd = -1, rc = 0;
	unsigned long before;

	subfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (subfd < 0) {
		/* Gone under a concurrent remove(), or swapped for a
		 * link since the fstatat: either way not a directory
		 * of the store any more. */
		if (errno == ELOOP || errno == ENOTDIR) {
			if (w->warn)
				local_planted(w->lc, LOCAL_AT_WARN, sub, S_IFLNK,
				              "a set directory");
		} else if (errno != ENOENT) {
			rc = local_walk_fail(w, errno, "cannot list directory", sub);
		}
		return rc;
	}
	if (w->joblocks && !*keybase && local_job_busy(subfd, &lockfd)) {
		close(subfd);
		return 0;
	}
	before = w->removed;
	rc = local_walk_dir(w, subfd, sub, key);
	/* Set directories a dead writer left, or that are
	 * empty now; never a job's own directory. */
	if (*keybase && (w->rmdirs || w->removed > before))
		local_walk_rmdir(w, dirfd(d), name, sub);
	if (lockfd >= 0)
		close(lockfd); /* releases the flock */
	return rc;
}

/* Visit the entry e of d: a file is handed to the visitor, a directory
 * walked.  path and keybase are d's. */
static int
local_walk_entry(struct local_walk *w, DIR *d, const struct local_entry *e, const char *path,
                 const char *keybase)
{
	char *sub = NULL, *key = NULL;
	int rc;

	if (asprintf(&key, "%s%s%s", keybase, e->name, e->isdir ? "/" : "") < 0)
		key = NULL;
	if (!key || (e->isdir &&
	             asprintf(&sub, "%s%s%s", path, strcmp(path, "/") ? "/" : "", e->name) < 0)) {
		free(key);
		return local_nomem(w->lc->ctx, "listing the store");
	}
	if (e->isdir)
		rc = local_walk_sub(w, d, e->name, sub, key, keybase);
	else
		rc = w->visit(w, dirfd(d), e->name, key, &e->st);
	free(sub);
	free(key);
	return rc;
}

/* Walk the directory open as fd (taken over: closed here); path names it
 * in messages, keybase is its key with a trailing '/' ("" for the root). */
static int
local_walk_dir(struct local_walk *w, int fd, const char *path, const char *keybase)
{
	struct local_entries l = {0};
	size_t i;
	DIR *d;
	int rc;

	d = fdopendir(fd);
	if (!d) {
		rc = local_walk_fail(w, errno, "cannot list directory", path);
		close(fd);
		return rc;
	}
	rc = local_walk_read(w, d, path, keybase, &l);
	if (!rc && l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), local_entry_cmp);
	for (i = 0; i < l.n && !rc && !w->stopped; i++)
		rc = local_walk_entry(w, d, &l.v[i], path, keybase);
	local_entries_free(&l);
	closedir(d);
	return rc;
}

/* Walk the part of the store that can hold keys starting with prefix. */
static int
local_walk(struct local_walk *w, const char *prefix)
{
	const char *slash = strrchr(prefix, '/');
	char *dirkey = NULL, *start = NULL, *keybase = NULL;
	int rc, fd;

	w->prefix = prefix;
	w->prefix_len = strlen(prefix);
	/* Start in the prefix's directory; it must be a valid key itself,
	 * which also keeps the walk inside the root. */
	dirkey = strndup(prefix, slash ? (size_t)(slash - prefix) : 0);
	keybase = strndup(prefix, slash ? (size_t)(slash - prefix) + 1 : 0);
	if (!dirkey || !keybase) {
		rc = local_nomem(w->lc->ctx, "listing the store");
		goto out;
	}
	if (*dirkey) {
		rc = local_key_check(w->lc->ctx, dirkey);
		if (rc)
			goto out;
	}
	start = local_joinn(w->lc, dirkey, strlen(dirkey));
	if (!start) {
		rc = local_nomem(w->lc->ctx, "listing the store");
		goto out;
	}
	fd = local_dir_at(w->lc, dirkey, strlen(dirkey),
	                  w->hidden ? LOCAL_AT_QUIET : LOCAL_AT_WARN);
	if (fd < 0) {
		/* A missing root or prefix directory is an empty store; a
		 * planted one was warned about and holds nothing of ours. */
		rc = fd == CAIRN_E_NOTFOUND || fd == CAIRN_E_CORRUPT ? 0 : fd;
		if (rc && w->hidden) {
			cairn_log(local_host, w->lc->ctx, CAIRN_LOG_WARN,
			          "looking for leftover temporary files: cannot open directory %s",
			          start);
			rc = 0;
		}
		goto out;
	}
	rc = local_walk_dir(w, fd, start, keybase);
out:
	free(start);
	free(keybase);
	free(dirkey);
	return rc;
}

/* ---------------------------------------------------------------- sweep */

/* Is name one of our temporary names, ".NAME.XXXXXX.part"? */
static int
local_is_tmpname(const char *name)
{
	size_t len = strlen(name), i;

	if (len < 14 || name[0] != '.' || strcmp(name + len - 5, ".part") || name[len - 12] != '.')
		return 0;
	for (i = len - 11; i < len - 5; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			return 0;
	return 1;
}

static int
local_sweep_visit(struct local_walk *w, int dfd, const char *name, const char *key,
                  const struct stat *st)
{
	char buf[256], *path;

	/* A live writer touches its file with every write; a day of
	 * silence means the run that made it is gone.  Holding the job's
	 * lock (anyage) we know that without waiting. */
	if (!local_is_tmpname(name) || (!w->anyage && st->st_mtime > w->now - LOCAL_STALE_SECS))
		return 0;
	path = local_join(w->lc, key);
	if (unlinkat(dfd, name, 0) < 0) {
		if (errno != ENOENT)
			cairn_log(
			        local_host, w->lc->ctx, CAIRN_LOG_WARN,
			        "could not remove %s, a temporary file left by an interrupted backup: %s; delete it by hand",
			        path ? path : key, strerror_r(errno, buf, sizeof(buf)));
	} else {
		cairn_log(local_host, w->lc->ctx, CAIRN_LOG_INFO,
		          "removed %s, a temporary file left by an interrupted backup (%lld bytes)",
		          path ? path : key, (long long)st->st_size);
		w->removed++;
	}
	free(path);
	return 0;
}

/* Remove temporary files that interrupted runs left anywhere in the store,
 * once they are a day old, except in jobs another run holds locked (see
 * local_job_busy).  They are invisible to list(), so nothing else would
 * reclaim their space when their job never runs again.  Runs once per
 * instance, on the first open_write: one walk of the store per backup
 * run.  Never fails: problems are logged. */
static void
local_sweep(struct local *lc)
{
	struct local_walk w = {
	        .lc = lc,
	        .hidden = 1,
	        .joblocks = 1,
	        .visit = local_sweep_visit,
	        .now = time(NULL),
	};

	local_walk(&w, "");
}

/* --------------------------------------------------------------- writer */

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

static int
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

static int
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

static int
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

static void
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

/* --------------------------------------------------------------- reader */

static int
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

static ssize_t
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

static void
local_close_read(cairn_sink_reader *r)
{
	if (!r)
		return;
	close(r->fd);
	free(r->path);
	free(r);
}

/* ----------------------------------------------- list, remove, usage */

static int
local_list_visit(struct local_walk *w, int dfd, const char *name, const char *key,
                 const struct stat *st)
{
	(void)dfd;
	(void)name;
	if (w->cb(w->userdata, key, (uint64_t)st->st_size, (int64_t)st->st_mtime) != 0)
		w->stopped = 1;
	return 0;
}

static int
local_list(void *instance, const char *prefix, cairn_list_cb cb, void *userdata)
{
	struct local_walk w = {
	        .lc = instance,
	        .warn = 1,
	        .visit = local_list_visit,
	        .cb = cb,
	        .userdata = userdata,
	};

	return local_walk(&w, prefix ? prefix : "");
}

static int
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

static int
local_usage_visit(struct local_walk *w, int dfd, const char *name, const char *key,
                  const struct stat *st)
{
	(void)dfd;
	(void)name;
	(void)key;
	w->used += (uint64_t)st->st_size;
	return 0;
}

static int
local_usage(void *instance, struct cairn_usage *usage)
{
	struct local *lc = instance;
	struct local_walk w = {
	        .lc = lc,
	        .visit = local_usage_visit,
	};
	struct statvfs vfs;
	char *p, *up;
	int rc;

	rc = local_walk(&w, "");
	if (rc)
		return rc;
	/* Before the first backup the root may not exist yet; the space that
	 * matters is that of the file system it will be created on. */
	p = strdup(lc->root);
	if (!p)
		return local_nomem(lc->ctx, "measuring the store");
	while (statvfs(p, &vfs) < 0) {
		if ((errno != ENOENT && errno != ENOTDIR) || !strcmp(p, "/") || !strcmp(p, ".")) {
			rc = local_fail(lc->ctx, errno, "cannot measure the file system holding", p,
			                NULL);
			free(p);
			return rc;
		}
		up = local_dirname(p);
		free(p);
		if (!up)
			return local_nomem(lc->ctx, "measuring the store");
		p = up;
	}
	free(p);
	usage->used = w.used;
	usage->avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	usage->total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	return 0;
}

/* ----------------------------------------------------------------- lock */

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

static int
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
	char *dir = NULL, *path = NULL, *keybase = NULL, holder[200];
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
	    asprintf(&keybase, "%s/", name) < 0) {
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
	local_walk_dir(&w, jfd, dir, keybase);
	jfd = -1;
	lk = malloc(sizeof(*lk));
	if (!lk) {
		rc = local_nomem(lc->ctx, "locking the store");
		goto fail;
	}
	lk->fd = fd;
	*lock = lk;
	free(keybase);
	free(path);
	free(dir);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (jfd >= 0)
		close(jfd);
	free(keybase);
	free(path);
	free(dir);
	return rc;
}

/* Release the lock; the holder's line stays in the file, untouched (the
 * next holder replaces it, and it is only read while the lock is held). */
static void
local_unlock(cairn_sink_lock *lk)
{
	if (!lk)
		return;
	(void)flock(lk->fd, LOCK_UN);
	close(lk->fd);
	free(lk);
}

/* ----------------------------------------------------------- descriptor */

static const struct cairn_sink_ops local_ops = {
        .struct_size = sizeof(struct cairn_sink_ops),
        .create = local_create,
        .destroy = local_destroy,
        .open_write = local_open_write,
        .write = local_write,
        .commit = local_commit,
        .abort = local_abort,
        .open_read = local_open_read,
        .read = local_read,
        .close_read = local_close_read,
        .list = local_list,
        .remove = local_remove,
        .usage = local_usage,
        .lock = local_lock,
        .unlock = local_unlock,
};

static const struct cairn_plugin local_plugin = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "local",
        .version = "0.1.0",
        .kind = CAIRN_KIND_SINK,
        .description = "a local directory as backup store, written atomically",
        .keys = local_keys,
        .sink = &local_ops,
};

CAIRN_EXPORT const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	local_host = host;
	return &local_plugin;
}
