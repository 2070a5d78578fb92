/*
 * local.c - the "local" sink: backup objects as files under one directory.
 *
 * An object with key "JOB/ID/NAME" lives at ROOT/JOB/ID/NAME.  Writes go to
 * a hidden temporary file beside the final name (".NAME.XXXXXX.part") and
 * commit publishes it with a rename that never replaces an existing file,
 * so a reader or a listing sees either the whole object or nothing, and a
 * backup is never overwritten.
 *
 * Names starting with '.' are reserved for those temporary files: keys may
 * not contain such components, and list() and usage() skip them.  A crash
 * between open_write and commit leaves a ".part" file behind; the first
 * open_write of each instance sweeps the store for ones untouched for a day
 * (see local_sweep) so an interrupted run does not hold disk space forever.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* renameat2, mkostemps, GNU strerror_r */
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
	char *name;    /* final name, relative to dirfd */
	char *tmpname; /* temporary name, relative to dirfd */
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

static void local_error(cairn_ctx *ctx, const char *fmt, ...) CAIRN_PRINTF(2, 3);

static void
local_error(cairn_ctx *ctx, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	local_host->set_error(ctx, "%s", line);
}

/* Map errno to a status.  ENOENT is only "not found" where the caller
 * says so: on the write side a vanished directory is an I/O failure. */
static int
local_status(int err)
{
	switch (err) {
	case ENOMEM:
		return CAIRN_E_NOMEM;
	case EEXIST:
		return CAIRN_E_EXISTS;
	default:
		return CAIRN_E_IO;
	}
}

/* Set "WHAT PATH: REASON" and return the status for err.  The reason says
 * what to do when that is obvious; `fix` names the directory whose
 * permissions matter (NULL: path itself). */
static int
local_fail(cairn_ctx *ctx, int err, const char *what, const char *path,
           const char *fix)
{
	char buf[256];

	if (!fix)
		fix = path;
	switch (err) {
	case EACCES:
	case EPERM:
		local_error(ctx, "%s %s: permission denied: run cairn as the "
		            "user owning %s or fix its permissions",
		            what, path, fix);
		break;
	case ENOSPC:
	case EDQUOT:
		local_error(ctx, "%s %s: disk full (or quota exceeded): free "
		            "space on the file system holding it",
		            what, path);
		break;
	case EROFS:
		local_error(ctx, "%s %s: read-only file system: remount it "
		            "read-write or point the sink elsewhere",
		            what, path);
		break;
	case EIO:
		local_error(ctx, "%s %s: input/output error: the disk may be "
		            "failing, check the kernel log", what, path);
		break;
	default:
		local_error(ctx, "%s %s: %s", what, path,
		            strerror_r(err, buf, sizeof(buf)));
		break;
	}
	return local_status(err);
}

static int
local_nomem(cairn_ctx *ctx, const char *what)
{
	local_error(ctx, "out of memory while %s", what);
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
		local_error(ctx, "invalid object key \"\": it is empty");
		return CAIRN_E_CONFIG;
	}
	if (key[0] == '/') {
		local_error(ctx, "invalid object key \"%s\": it must be "
		            "relative, not start with '/'", key);
		return CAIRN_E_CONFIG;
	}
	for (c = key; *c; c += len + (c[len] == '/')) {
		len = strcspn(c, "/");
		if (len == 0)
			why = "it has an empty component (\"//\" or a "
			      "trailing '/')";
		else if (c[0] == '.')
			why = "a component starts with '.' (\".\", \"..\" "
			      "and hidden names are reserved)";
		else if (len > NAME_MAX)
			why = "a component is longer than a file name may be";
		if (why) {
			local_error(ctx, "invalid object key \"%s\": %s; "
			            "rename the job or source it comes from",
			            key, why);
			return CAIRN_E_CONFIG;
		}
		if (c[len] == '/' && c[len + 1] == '\0') {
			local_error(ctx, "invalid object key \"%s\": it ends "
			            "with '/'", key);
			return CAIRN_E_CONFIG;
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
	{ .name = "path", .type = CAIRN_KEY_PATH, .flags = CAIRN_KEY_REQUIRED,
	  .help = "directory that holds the backups (created with mode 0700 "
	          "if missing)" },
	{ .name = "fsync", .type = CAIRN_KEY_BOOL, .default_value = "yes",
	  .help = "fsync files and directories on commit; \"no\" is faster but "
	          "a power failure may lose the newest backup" },
	{ .name = NULL }
};

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
		local_error(ctx, "sink %s: \"path\" is not set; give the "
		            "directory that should hold the backups",
		            cfg->instance ? cfg->instance : "local");
		return CAIRN_E_CONFIG;
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

/* mkdir -p dir with mode 0700 for every directory created.  New
 * directories are made durable too (when fsync is on), or a power failure
 * could drop a committed object together with its freshly made parent. */
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
				rc = local_fail(lc->ctx, errno, "cannot set mode 0700 on",
				                p, NULL);
				goto out;
			}
			if (lc->fsync && local_fsync_dir(parent) < 0) {
				rc = local_fail(lc->ctx, errno, "cannot fsync directory",
				                parent, NULL);
				goto out;
			}
		} else if (errno != EEXIST) {
			/* Permission trouble is the parent's: name it. */
			rc = local_fail(lc->ctx, errno, "cannot create directory", p,
			                parent);
			goto out;
		}
		if (!slash)
			break;
		*slash = '/';
	}
	if (stat(dir, &st) < 0) {
		rc = local_fail(lc->ctx, errno, "cannot use directory", dir, NULL);
	} else if (!S_ISDIR(st.st_mode)) {
		local_error(lc->ctx, "cannot use directory %s: it exists but is "
		            "not a directory; move it away", dir);
		rc = CAIRN_E_IO;
	}
out:
	free(parent);
	free(p);
	return rc;
}

/* Remove the directories of key that are now empty, deepest first, up to
 * but not including the root, so removing the last object of a backup set
 * leaves no empty JOB/ID directory behind.  Stops at the first directory
 * that is not empty; other failures only cost an empty directory, so
 * they are logged, not returned. */
static void
local_prune(struct local *lc, const char *key)
{
	char *k = strdup(key), *cut, *path;

	if (!k)
		return;
	while ((cut = strrchr(k, '/'))) {
		*cut = '\0';
		path = local_join(lc, k);
		if (!path)
			break;
		if (rmdir(path) < 0) {
			if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT &&
			    errno != EBUSY) {
				char buf[256];
				local_host->log(lc->ctx, CAIRN_LOG_WARN,
				                "could not remove empty directory %s: %s",
				                path, strerror_r(errno, buf, sizeof(buf)));
			}
			free(path);
			break;
		}
		free(path);
	}
	free(k);
}

/* ---------------------------------------------------------------- walks */

/* A recursive walk of the store for list(), usage() and the sweep. */
struct local_walk {
	struct local *lc;
	const char *prefix; /* only keys starting with this */
	size_t prefix_len;
	int hidden; /* sweep: visit hidden files, log errors and go on */
	/* Called for each matching regular file; non-zero stops the walk
	 * (set stopped) or is an error code (negative). */
	int (*visit)(struct local_walk *w, int dfd, const char *name,
	             const char *key, const struct stat *st);
	cairn_list_cb cb;
	void *userdata;
	uint64_t used;
	time_t now;
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
		unsigned char ca = a->name[i] ? (unsigned char)a->name[i]
		                              : (a->isdir ? '/' : 0);
		unsigned char cb = b->name[i] ? (unsigned char)b->name[i]
		                              : (b->isdir ? '/' : 0);
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (!a->name[i] || !b->name[i])
			return 0; /* equal only for the same name and type */
	}
}

static int
local_walk_fail(struct local_walk *w, int err, const char *what,
                const char *path)
{
	char buf[256];

	if (!w->hidden)
		return local_fail(w->lc->ctx, err, what, path, NULL);
	local_host->log(w->lc->ctx, CAIRN_LOG_WARN,
	                "looking for leftover temporary files: %s %s: %s", what,
	                path, strerror_r(err, buf, sizeof(buf)));
	return 0;
}

/* Does key (of a directory, ending in '/') lead to keys with the prefix? */
static int
local_dir_matches(const struct local_walk *w, const char *dirkey)
{
	size_t len = strlen(dirkey);

	return strncmp(dirkey, w->prefix, len < w->prefix_len ? len
	                                                     : w->prefix_len) == 0;
}

static int
local_walk_dir(struct local_walk *w, const char *path, const char *keybase)
{
	struct local_entry *ents = NULL, *e;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = opendir(path);
	if (!d) {
		/* A missing root or prefix directory is an empty store, and
		 * a directory may vanish under a concurrent remove(). */
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return local_walk_fail(w, errno, "cannot list directory", path);
	}
	/* Read the whole directory first: entries are sorted before any is
	 * reported, and the sweep may unlink while we iterate. */
	for (errno = 0; (de = readdir(d)); errno = 0) {
		const char *name = de->d_name;
		struct stat st;
		char *key;
		int isdir, ok;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (name[0] == '.' && !w->hidden)
			continue;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			rc = local_walk_fail(w, errno, "cannot stat a file in", path);
			if (rc)
				goto out;
			continue;
		}
		/* Symlinks are not followed: objects are regular files, and
		 * a linked directory could loop or leave the store. */
		isdir = S_ISDIR(st.st_mode);
		if (!isdir && !S_ISREG(st.st_mode))
			continue;
		if (isdir ? name[0] == '.' : (name[0] == '.') != w->hidden)
			continue;
		if (asprintf(&key, "%s%s%s", keybase, name, isdir ? "/" : "") < 0) {
			rc = local_nomem(w->lc->ctx, "listing the store");
			goto out;
		}
		ok = isdir ? local_dir_matches(w, key)
		           : strncmp(key, w->prefix, w->prefix_len) == 0;
		free(key);
		if (!ok)
			continue;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 32;
			e = realloc(ents, ncap * sizeof(*ents));
			if (!e) {
				rc = local_nomem(w->lc->ctx, "listing the store");
				goto out;
			}
			ents = e;
			cap = ncap;
		}
		ents[n].name = strdup(name);
		if (!ents[n].name) {
			rc = local_nomem(w->lc->ctx, "listing the store");
			goto out;
		}
		ents[n].isdir = isdir;
		ents[n].st = st;
		n++;
	}
	if (errno) {
		rc = local_walk_fail(w, errno, "cannot list directory", path);
		goto out;
	}
	if (n > 1)
		qsort(ents, n, sizeof(*ents), local_entry_cmp);
	for (i = 0; i < n && !rc && !w->stopped; i++) {
		char *sub = NULL, *key = NULL;

		e = &ents[i];
		if (asprintf(&key, "%s%s%s", keybase, e->name, e->isdir ? "/" : "") < 0)
			key = NULL;
		if (!key || (e->isdir && asprintf(&sub, "%s%s%s", path,
		                                 strcmp(path, "/") ? "/" : "",
		                                 e->name) < 0)) {
			free(key);
			rc = local_nomem(w->lc->ctx, "listing the store");
			break;
		}
		if (e->isdir)
			rc = local_walk_dir(w, sub, key);
		else
			rc = w->visit(w, dirfd(d), e->name, key, &e->st);
		free(sub);
		free(key);
	}
out:
	for (i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	closedir(d);
	return rc;
}

/* Walk the part of the store that can hold keys starting with prefix. */
static int
local_walk(struct local_walk *w, const char *prefix)
{
	const char *slash = strrchr(prefix, '/');
	char *dirkey = NULL, *start = NULL, *keybase = NULL;
	int rc;

	w->prefix = prefix;
	w->prefix_len = strlen(prefix);
	if (!slash)
		return local_walk_dir(w, w->lc->root, "");
	/* Start in the prefix's directory; it must be a valid key itself,
	 * which also keeps the walk inside the root. */
	dirkey = strndup(prefix, (size_t)(slash - prefix));
	keybase = strndup(prefix, (size_t)(slash - prefix) + 1);
	if (!dirkey || !keybase) {
		rc = local_nomem(w->lc->ctx, "listing the store");
		goto out;
	}
	rc = local_key_check(w->lc->ctx, dirkey);
	if (rc)
		goto out;
	start = local_join(w->lc, dirkey);
	if (!start) {
		rc = local_nomem(w->lc->ctx, "listing the store");
		goto out;
	}
	rc = local_walk_dir(w, start, keybase);
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

	if (len < 14 || name[0] != '.' || strcmp(name + len - 5, ".part") ||
	    name[len - 12] != '.')
		return 0;
	for (i = len - 11; i < len - 5; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			return 0;
	return 1;
}

static int
local_sweep_visit(struct local_walk *w, int dfd, const char *name,
                  const char *key, const struct stat *st)
{
	char buf[256], *path;

	/* A live writer touches its file with every write; a day of
	 * silence means the run that made it is gone. */
	if (!local_is_tmpname(name) || st->st_mtime > w->now - LOCAL_STALE_SECS)
		return 0;
	path = local_join(w->lc, key);
	if (unlinkat(dfd, name, 0) < 0) {
		if (errno != ENOENT)
			local_host->log(w->lc->ctx, CAIRN_LOG_WARN,
			                "could not remove %s, a temporary file left "
			                "by an interrupted backup: %s; delete it by hand",
			                path ? path : key,
			                strerror_r(errno, buf, sizeof(buf)));
	} else {
		local_host->log(w->lc->ctx, CAIRN_LOG_INFO,
		                "removed %s, a temporary file left by an "
		                "interrupted backup (%lld bytes)",
		                path ? path : key, (long long)st->st_size);
		local_prune(w->lc, key);
	}
	free(path);
	return 0;
}

/* Remove temporary files that interrupted runs left anywhere in the store.
 * They are invisible to list(), so nothing else would ever reclaim their
 * space.  Runs once per instance, on the first open_write: one walk of the
 * store per backup run.  Never fails: problems are logged. */
static void
local_sweep(struct local *lc)
{
	struct local_walk w = {
		.lc = lc,
		.hidden = 1,
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
	free(w->path);
	free(w->tmppath);
	free(w);
}

static int
local_open_write(void *instance, const char *key, cairn_sink_writer **writer)
{
	struct local *lc = instance;
	cairn_sink_writer *w;
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
	w->path = local_join(lc, key);
	dir = w->path ? local_dirname(w->path) : NULL;
	if (!dir) {
		rc = local_nomem(lc->ctx, "opening an object for writing");
		goto fail;
	}
	w->name = strrchr(w->path, '/') + 1;

	if (!lc->swept) {
		lc->swept = 1;
		local_sweep(lc);
	}

	rc = local_mkdirs(lc, dir);
	if (rc)
		goto fail;
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		rc = local_fail(lc->ctx, errno, "cannot open directory", dir, NULL);
		goto fail;
	}
	/* Backups are never overwritten; say so now rather than after the
	 * whole stream has been written.  commit() checks again, atomically. */
	if (fstatat(w->dirfd, w->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		local_error(lc->ctx, "backup object %s already exists; cairn "
		            "never overwrites a backup: remove it by hand or make "
		            "sure no two jobs or hosts write to the same place",
		            w->path);
		rc = CAIRN_E_EXISTS;
		goto fail;
	} else if (errno != ENOENT) {
		rc = local_fail(lc->ctx, errno, "cannot check for", w->path, dir);
		goto fail;
	}
	if (asprintf(&w->tmppath, "%s%s.%.*s.XXXXXX.part", dir,
	             strcmp(dir, "/") ? "/" : "", LOCAL_TMP_NAME_MAX,
	             w->name) < 0) {
		w->tmppath = NULL;
		rc = local_nomem(lc->ctx, "opening an object for writing");
		goto fail;
	}
	w->fd = mkostemps(w->tmppath, 5, O_CLOEXEC);
	if (w->fd < 0) {
		rc = local_fail(lc->ctx, errno, "cannot create a temporary file in",
		                dir, NULL);
		goto fail;
	}
	w->tmpname = strrchr(w->tmppath, '/') + 1;
	/* mkstemp's 0600 is already right, but only if the umask allowed it;
	 * a backup may hold secrets, so nobody else reads it. */
	if (fchmod(w->fd, 0600) < 0) {
		rc = local_fail(lc->ctx, errno, "cannot set mode 0600 on",
		                w->tmppath, NULL);
		goto fail;
	}
	free(dir);
	*writer = w;
	return 0;
fail:
	if (w->fd >= 0)
		unlinkat(w->dirfd, w->tmpname, 0);
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
		local_error(w->lc->ctx, "not writing to %s: an earlier write "
		            "to it failed", w->path);
		return CAIRN_E_IO;
	}
	while (len > 0) {
		n = write(w->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			w->failed = 1;
			return local_fail(w->lc->ctx, errno, "cannot write", w->path,
			                  NULL);
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
		if (renameat2(w->dirfd, w->tmpname, w->dirfd, w->name,
		              RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST)
			goto exists;
		if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return local_fail(ctx, errno, "cannot publish", w->path,
			                  NULL);
	}
	/* The file system cannot rename without replacing (NFS, some FUSE):
	 * a hard link refuses an existing name just as well. */
	if (how <= LOCAL_PUBLISH_LINK) {
		if (linkat(w->dirfd, w->tmpname, w->dirfd, w->name, 0) == 0) {
			if (unlinkat(w->dirfd, w->tmpname, 0) < 0)
				local_host->log(ctx, CAIRN_LOG_WARN,
				                "published %s but could not remove "
				                "its temporary name %s: %s; the next "
				                "backup run removes it after a day",
				                w->path, w->tmppath,
				                strerror_r(errno, buf, sizeof(buf)));
			return 0;
		}
		if (errno == EEXIST)
			goto exists;
		if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS)
			return local_fail(ctx, errno, "cannot publish", w->path,
			                  NULL);
	}
	/* No hard links either (FAT, exFAT): look, then rename.  Only a
	 * writer racing us for the very same key could slip in between. */
	if (fstatat(w->dirfd, w->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		goto exists;
	if (renameat(w->dirfd, w->tmpname, w->dirfd, w->name) == 0)
		return 0;
	return local_fail(ctx, errno, "cannot publish", w->path, NULL);
exists:
	local_error(ctx, "backup object %s appeared while it was being "
	            "written; cairn never overwrites a backup, so this copy was "
	            "discarded: make sure no two jobs or hosts write to the "
	            "same place", w->path);
	return CAIRN_E_EXISTS;
}

static int
local_commit(cairn_sink_writer *w)
{
	struct local *lc = w->lc;
	int rc, fd;

	if (w->failed) {
		local_error(lc->ctx, "not publishing %s: an earlier write to it "
		            "failed", w->path);
		rc = CAIRN_E_IO;
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
		rc = local_fail(lc->ctx, err, "cannot fsync directory",
		                dir ? dir : w->path, NULL);
		free(dir);
		unlinkat(w->dirfd, w->name, 0);
		local_writer_free(w);
		return rc;
	}
	local_writer_free(w);
	return 0;
fail:
	unlinkat(w->dirfd, w->tmpname, 0);
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
		local_host->log(w->lc->ctx, CAIRN_LOG_WARN,
		                "could not remove temporary file %s: %s; delete "
		                "it by hand (the next backup run removes it after "
		                "a day)", w->tmppath,
		                strerror_r(errno, buf, sizeof(buf)));
	local_writer_free(w);
}

/* --------------------------------------------------------------- reader */

static int
local_open_read(void *instance, const char *key, cairn_sink_reader **reader)
{
	struct local *lc = instance;
	cairn_sink_reader *r;
	struct stat st;
	int rc;

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
	r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			local_error(lc->ctx, "backup object %s not found: there is "
			            "no file %s", key, r->path);
			rc = CAIRN_E_NOTFOUND;
		} else {
			rc = local_fail(lc->ctx, errno, "cannot open", r->path, NULL);
		}
		goto fail;
	}
	if (fstat(r->fd, &st) < 0) {
		rc = local_fail(lc->ctx, errno, "cannot stat", r->path, NULL);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		local_error(lc->ctx, "backup object %s not found: %s is not a "
		            "regular file", key, r->path);
		rc = CAIRN_E_NOTFOUND;
		goto fail;
	}
	*reader = r;
	return 0;
fail:
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
local_list_visit(struct local_walk *w, int dfd, const char *name,
                 const char *key, const struct stat *st)
{
	(void)dfd;
	(void)name;
	if (w->cb(w->userdata, key, (uint64_t)st->st_size,
	          (int64_t)st->st_mtime) != 0)
		w->stopped = 1;
	return 0;
}

static int
local_list(void *instance, const char *prefix, cairn_list_cb cb,
           void *userdata)
{
	struct local_walk w = {
		.lc = instance,
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
	struct stat st;
	char *path;
	int rc;

	rc = local_key_check(lc->ctx, key);
	if (rc)
		return rc;
	path = local_join(lc, key);
	if (!path)
		return local_nomem(lc->ctx, "removing an object");
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			local_error(lc->ctx, "backup object %s not found: there is "
			            "no file %s", key, path);
			rc = CAIRN_E_NOTFOUND;
		} else {
			rc = local_fail(lc->ctx, errno, "cannot remove", path, NULL);
		}
		goto out;
	}
	/* Only what list() reports is an object; never rmdir a set. */
	if (!S_ISREG(st.st_mode)) {
		local_error(lc->ctx, "backup object %s not found: %s is not a "
		            "regular file", key, path);
		rc = CAIRN_E_NOTFOUND;
		goto out;
	}
	if (unlink(path) < 0) {
		int err = errno;
		char *dir;
		if (err == ENOENT) { /* removed since the lstat */
			local_error(lc->ctx, "backup object %s not found: there is "
			            "no file %s", key, path);
			rc = CAIRN_E_NOTFOUND;
			goto out;
		}
		/* Unlinking needs write permission on the directory. */
		dir = local_dirname(path);
		rc = local_fail(lc->ctx, err, "cannot remove", path, dir);
		free(dir);
		goto out;
	}
	local_prune(lc, key);
out:
	free(path);
	return rc;
}

static int
local_usage_visit(struct local_walk *w, int dfd, const char *name,
                  const char *key, const struct stat *st)
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
		if ((errno != ENOENT && errno != ENOTDIR) || !strcmp(p, "/") ||
		    !strcmp(p, ".")) {
			rc = local_fail(lc->ctx, errno, "cannot measure the file "
			                "system holding", p, NULL);
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
